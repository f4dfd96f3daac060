/* mitogen-agent-entry.c — the static agent's entry point (x86-64)
 *
 * Runs before glibc's _start: maps the program's segments in one
 * madvise (MADV_POPULATE_*) each, then jumps to _start as if the kernel
 * had. By the time a constructor runs (prefault_start () in
 * mitogen-agent-main.c), glibc's own start-up (its IFUNC resolvers, TLS,
 * tunables) has already taken some twenty page faults over code and data
 * spread through the program; on a machine whose page faults cost ~10 us
 * (a hypervisor's shadow page tables, bench/README.md) that is a tenth of
 * a local start.
 *
 * Nothing here may touch thread-local storage (not set up yet): no libc
 * call, no errno, no stack protector. The system call is issued
 * directly. Any failure (an old kernel without the advice) only leaves
 * the faults to happen as before.
 *
 * Linked with -Wl,-e,mitogen_agent_entry (agent/meson.build), for the
 * static x86-64 agent only.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <elf.h>
#include <stddef.h>
#include <link.h>
#include <stdint.h>
#include <sys/syscall.h>

#include "mitogen-agent-prefault-private.h"

void mitogen_agent_entry_prefault (long *sp);
void mitogen_agent_entry (void);

static long
raw_madvise (uintptr_t start,
             uintptr_t length,
             long      advice)
{
  long ret;

  __asm__ volatile ("syscall"
                    : "=a" (ret)
                    : "0" ((long) SYS_madvise), "D" (start), "S" (length), "d" (advice)
                    : "rcx", "r11", "memory");
  return ret;
}

/* The process's initial stack, as the kernel left it: argc, argv,
 * NULL, envp, NULL, the auxiliary vector. */
__attribute__ ((used, noinline, no_stack_protector, visibility ("hidden")))
void
mitogen_agent_entry_prefault (long *sp)
{
  char **envp = (char **) (sp + 1 + sp[0] + 1);
  const ElfW(Phdr) *phdr = NULL;
  uintptr_t phnum = 0, page = 4096, bias = 0;

  while (*envp != NULL)
    envp++;
  for (const ElfW(auxv_t) *aux = (const ElfW(auxv_t) *) (envp + 1); aux->a_type != AT_NULL; aux++)
    if (aux->a_type == AT_PHDR)
      phdr = (const ElfW(Phdr) *) aux->a_un.a_val;
    else if (aux->a_type == AT_PHNUM)
      phnum = aux->a_un.a_val;
    else if (aux->a_type == AT_PAGESZ && aux->a_un.a_val != 0)
      page = aux->a_un.a_val;
  if (phdr == NULL)
    return;
  for (uintptr_t i = 0; i < phnum; i++)
    if (phdr[i].p_type == PT_PHDR)
      bias = (uintptr_t) phdr - phdr[i].p_vaddr;
  /* RELRO is still writable here (glibc makes it read-only later): the
   * whole writable segment can be populated for writing. */
  for (uintptr_t i = 0; i < phnum; i++)
    if (phdr[i].p_type == PT_LOAD && phdr[i].p_memsz > 0)
      {
        uintptr_t start = (bias + phdr[i].p_vaddr) & ~(page - 1);
        uintptr_t end = (bias + phdr[i].p_vaddr + phdr[i].p_memsz + page - 1) & ~(page - 1);

        raw_madvise (start, end - start, (phdr[i].p_flags & PF_W) ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
      }
}

/* The kernel enters here with %rsp at argc (16-byte aligned) and %rdx
 * the loader's finalizer (0 for a static program), which _start takes. */
__attribute__ ((naked))
void
mitogen_agent_entry (void)
{
  __asm__ ("mov %rsp, %rdi\n\t"
           "push %rdx\n\t"
           "sub $8, %rsp\n\t"
           "call mitogen_agent_entry_prefault\n\t"
           "add $8, %rsp\n\t"
           "pop %rdx\n\t"
           "jmp _start\n\t");
}
