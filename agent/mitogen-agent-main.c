/* mitogen-agent — the program every child context runs
 *
 * The transports it can start children with (for `via`) are compiled in:
 * a fully static program cannot load plugin modules.
 *
 * mitogen-agent-dynamic, its dynamically linked twin (agent=dynamic), is
 * also started as `--mitogen-agent NAME` (mitogen_init ()), shipped as
 * its closure, which `mitogen-agent-dynamic --closure` prints.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-agent-private.h"
#include "mitogen-agent-image-private.h"
#include "mitogen-modules-private.h"
#include "mitogen-plugins-private.h"
#include "mitogen-services-private.h"
#include "mitogen-transport-private.h"
#include "mitogen-local-transport.h"
#include "mitogen-ssh-transport.h"
#include "mitogen-sudo-transport.h"
#include "mitogen-docker-transport.h"
#include "mitogen-su-transport.h"
#include "mitogen-doas-transport.h"
#include "mitogen-pkexec-transport.h"
#include "mitogen-setns-transport.h"
#include "mitogen-podman-transport.h"
#include "mitogen-fakessh-client.h"
#include "mitogen-agent-prefault-private.h"

#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const MitogenBuiltinTransport builtin_transports[] = {
  { "local", mitogen_local_transport_register, mitogen_local_transport_get_type },
  { "ssh", mitogen_ssh_transport_register, mitogen_ssh_transport_get_type },
  { "sudo", mitogen_sudo_transport_register, mitogen_sudo_transport_get_type },
  { "docker", mitogen_docker_transport_register, mitogen_docker_transport_get_type },
  { "su", mitogen_su_transport_register, mitogen_su_transport_get_type },
  { "doas", mitogen_doas_transport_register, mitogen_doas_transport_get_type },
  { "pkexec", mitogen_pkexec_transport_register, mitogen_pkexec_transport_get_type },
  { "setns", mitogen_setns_transport_register, mitogen_setns_transport_get_type },
  { "podman", mitogen_podman_transport_register, mitogen_podman_transport_get_type },
  { NULL, NULL, NULL },
};

/* The heap a start uses (~30 pages here), populated at once. */
#define PREFAULT_HEAP_BYTES (128 * 1024)

static void
populate (uintptr_t start,
          uintptr_t end,
          int       advice)
{
  uintptr_t page = (uintptr_t) sysconf (_SC_PAGESIZE);

  start &= ~(page - 1);
  end = (end + page - 1) & ~(page - 1);
  if (end > start)
    (void) madvise ((void *) start, end - start, advice);
}

#ifndef MITOGEN_AGENT_PREFAULT_AT_ENTRY
static int
prefault_program_cb (struct dl_phdr_info *info,
                     size_t               size,
                     void                *user_data)
{
  uintptr_t relro_start = 0, relro_end = 0;

  (void) size;
  (void) user_data;
  for (int i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO)
      {
        relro_start = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
        relro_end = relro_start + info->dlpi_phdr[i].p_memsz;
      }
  for (int i = 0; i < info->dlpi_phnum; i++)
    {
      const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
      uintptr_t start = info->dlpi_addr + ph->p_vaddr;
      uintptr_t end = start + ph->p_memsz;

      if (ph->p_type != PT_LOAD)
        continue;
      if (!(ph->p_flags & PF_W))
        populate (start, end, MADV_POPULATE_READ);
      else if (relro_end > start && relro_start < end)
        {
          /* Read-only again by now: writing would fail the whole call. */
          populate (start, relro_end, MADV_POPULATE_READ);
          populate (relro_end, end, MADV_POPULATE_WRITE);
        }
      else
        populate (start, end, MADV_POPULATE_WRITE);
    }
  return 1;  /* the program only, not the objects it loaded */
}
#endif

/* Before any other constructor (GObject's type system is one): maps the
 * first pages of the heap, and the program's pages where no entry point
 * did (mitogen-agent-entry.c), in one system call each, instead of a
 * page fault for each page. A fault is dear where the
 * kernel runs under a hypervisor's shadow page tables (~10 us each on
 * the machine of bench/README.md, against ~1 us a page populated); a
 * kernel before Linux 5.14 refuses the advice and the faults happen as
 * before. Costs an idle agent's resident size the program's untouched
 * pages (they are the page cache's, shared). */
__attribute__ ((constructor (101)))
static void
prefault_start (void)
{
  void *probe;

#ifndef MITOGEN_AGENT_PREFAULT_AT_ENTRY
  /* (Done already, before glibc's start-up, where mitogen-agent-entry.c
   * is the entry point.) */
  dl_iterate_phdr (prefault_program_cb, NULL);
#endif
  /* The heap exists after its first block: populate its first pages.
   * The allocator is tuned first, so that its first growth is large
   * enough. */
  mitogen_agent_tune_allocator ();
  probe = malloc (1);
  if (probe != NULL)
    {
      uintptr_t start = (uintptr_t) probe;
      uintptr_t end = (uintptr_t) sbrk (0);

      if (end > start && end - start > PREFAULT_HEAP_BYTES)
        end = start + PREFAULT_HEAP_BYTES;
      if (end > start)
        populate (start, end, MADV_POPULATE_WRITE);
      free (probe);
    }
}

int
main (int    argc,
      char **argv)
{
  const char *slash = argc > 0 ? strrchr (argv[0], '/') : NULL;
  const char *name = argc > 0 ? (slash != NULL ? slash + 1 : argv[0]) : NULL;

  /* Run as `ssh` by a program under mitogen_fakessh_run () (the client
   * says so if MITOGEN_FAKESSH is missing). */
  if ((name != NULL && strcmp (name, "ssh") == 0) || (argc > 1 && strcmp (argv[1], "--fakessh-client") == 0))
    {
      int status;

      /* The explicit form is for wrappers that lose our name (valgrind). */
      if (argc > 1 && strcmp (argv[1], "--fakessh-client") == 0)
        {
          argv[1] = argv[0];
          argv++;
          argc--;
        }
      status = mitogen_fakessh_client_main (argc, argv);

      fflush (stdout);
      fflush (stderr);
      /* Other threads (broker, stdin) may still run: no exit handlers. */
      _exit (status);
    }

#ifdef MITOGEN_AGENT_STATIC
  /* No dlopen () here: calls of modules' functions say so. */
  mitogen_modules_set_static_agent ();
#endif
  mitogen_plugins_use_builtin (builtin_transports);
  /* A strong reference: the static link then takes the services layer. */
  mitogen_services_register ();
#ifdef MITOGEN_BUILDING_DYNAMIC_AGENT
  /* The master running us to learn what to ship (agent=dynamic). */
  if (argc == 2 && strcmp (argv[1], "--closure") == 0)
    return mitogen_agent_image_print_closure ();
  /* Started as `--mitogen-agent NAME ...`: serves, never returns. */
  mitogen_init (&argc, &argv);
#endif
  return mitogen_agent_main (argc, argv);
}
