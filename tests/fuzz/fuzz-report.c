/* fuzz-report.c — what stage 1 prints: the report line, and the
 * bootstrap's answer to it
 *
 * mitogen_bootstrap_start () reads the report from a pipe and writes the
 * agent (or a closure's files) to another, on this thread's main context.
 * The input is everything the target's shell prints; the pipe is closed
 * after it, so the bootstrap always ends: done () is called once, with or
 * without an error, and the test checks exactly that.
 *
 * Input: byte 0: bit 0 clear: the stock agent, a small ELF file made at
 * init (MITOGEN_AGENT_PATH, an x86_64 program in a memfd, so `need-*`
 * reports build and send their payload); set: a closure (agent=self) of
 * FUZZ_FILES such files, x86_64, so a report naming files has them
 * compressed and written by the bootstrap's shipping thread. Bits 1-2: the preferred format:
 * none, gz, xz, raw. The rest: the shell's output, at most 60000 bytes.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <elf.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <unistd.h>

#include <fcntl.h>

#include <glib-unix.h>

#include "fuzz-common.h"
#include "mitogen-agent-image-private.h"
#include "mitogen-bootstrap-private.h"
#include "mitogen-sha256-private.h"

#define FUZZ_FILES 8
#define FUZZ_OUTPUT_MAX 60000

static GMainContext *context;   /* (owned) this thread's default */
static char *agent_path;        /* (owned) /proc/self/fd/N of a memfd: no file to clean up */
static char *agent_sha256;      /* (owned) */
static gsize agent_size;

typedef struct
{
  guint    calls;
  gboolean failed;
} ReportState;

/* A minimal x86_64 ELF program: the header and one PT_LOAD. */
static GBytes *
fake_elf (void)
{
  Elf64_Ehdr ehdr = { 0, };
  Elf64_Phdr phdr = { 0, };
  guint8 *buf = g_malloc0 (sizeof ehdr + sizeof phdr);

  memcpy (ehdr.e_ident, ELFMAG, SELFMAG);
  ehdr.e_ident[EI_CLASS] = ELFCLASS64;
  ehdr.e_ident[EI_DATA] = ELFDATA2LSB;
  ehdr.e_ident[EI_VERSION] = EV_CURRENT;
  ehdr.e_type = ET_EXEC;
  ehdr.e_machine = EM_X86_64;
  ehdr.e_version = EV_CURRENT;
  ehdr.e_phoff = sizeof ehdr;
  ehdr.e_ehsize = sizeof ehdr;
  ehdr.e_phentsize = sizeof phdr;
  ehdr.e_phnum = 1;
  phdr.p_type = PT_LOAD;
  memcpy (buf, &ehdr, sizeof ehdr);
  memcpy (buf + sizeof ehdr, &phdr, sizeof phdr);
  return g_bytes_new_take (buf, sizeof ehdr + sizeof phdr);
}

void
fuzz_report_init (void)
{
  g_autoptr(GBytes) elf = fake_elf ();

  int fd = memfd_create ("mitogen-agent", 0);

  FUZZ_CHECK (fd >= 0);
  agent_size = g_bytes_get_size (elf);
  FUZZ_CHECK (write (fd, g_bytes_get_data (elf, NULL), agent_size) == (gssize) agent_size);
  agent_path = g_strdup_printf ("/proc/self/fd/%d", fd);
  agent_sha256 = mitogen_sha256_hex_of_bytes (elf);
  g_setenv ("MITOGEN_AGENT_PATH", agent_path, TRUE);

  /* The shipping thread's GTask calls back on the thread-default context. */
  context = g_main_context_new ();
  g_main_context_push_thread_default (context);
}

static MitogenAgentImage *
closure_image (void)
{
  MitogenAgentImage *image = g_new0 (MitogenAgentImage, 1);
  MitogenClosure *closure = g_new0 (MitogenClosure, 1);

  closure->files = g_ptr_array_new_with_free_func (mitogen_closure_file_free);
  closure->arch = g_strdup ("x86_64");
  closure->is_static = TRUE;
  for (guint i = 0; i < FUZZ_FILES; i++)
    {
      MitogenClosureFile *file = g_new0 (MitogenClosureFile, 1);

      file->role = i == 0 ? MITOGEN_CLOSURE_EXE : MITOGEN_CLOSURE_LIB;
      file->name = g_strdup_printf ("file%u", i);
      file->path = g_strdup (agent_path);
      file->size = agent_size;
      g_strlcpy (file->sha256, agent_sha256, sizeof file->sha256);
      closure->total_size += agent_size;
      g_ptr_array_add (closure->files, file);
    }
  image->ref_count = 1;
  image->kind = MITOGEN_AGENT_SELF;
  image->closure = closure;
  image->interp = -1;
  image->exe = 0;
  return image;
}

static void
report_done (gpointer      user_data,
             guint64       bytes_sent,
             const char   *report,
             const GError *error)
{
  ReportState *state = user_data;

  FUZZ_CHECK (report != NULL);
  FUZZ_CHECK (error == NULL || error->message != NULL);
  state->calls++;
  state->failed = error != NULL;
  g_debug ("bootstrap done, %" G_GUINT64_FORMAT " bytes sent: %s", bytes_sent,
           error != NULL ? error->message : "ok");
}

int
fuzz_report_one (const guint8 *data,
                 gsize         size)
{
  static const char * const formats[] = { NULL, "gz", "xz", "raw" };
  g_autoptr(MitogenAgentImage) image = NULL;
  ReportState state = { 0, };
  MitogenBootstrap *bootstrap;
  int from_target[2], to_target[2];
  gsize len;

  if (size < 1)
    return 0;
  if (data[0] & 1)
    image = closure_image ();

  FUZZ_CHECK (g_unix_open_pipe (from_target, FD_CLOEXEC, NULL));
  FUZZ_CHECK (g_unix_open_pipe (to_target, FD_CLOEXEC, NULL));
  /* The pipe holds it all: the bootstrap reads on its own time. */
  len = MIN (size - 1, FUZZ_OUTPUT_MAX);
  FUZZ_CHECK (len == 0 || write (from_target[1], data + 1, len) == (gssize) len);
  close (from_target[1]);

  bootstrap = mitogen_bootstrap_start (from_target[0], to_target[1], formats[(data[0] >> 1) & 3], image,
                                       context, report_done, &state);
  /* The shipping thread, if any, is waited for here: no timeout. */
  while (state.calls == 0)
    g_main_context_iteration (context, TRUE);
  mitogen_bootstrap_free (bootstrap);
  /* Nothing may call back after done () or after freeing. */
  while (g_main_context_iteration (context, FALSE))
    ;
  FUZZ_CHECK (state.calls == 1);

  close (from_target[0]);
  close (to_target[0]);
  close (to_target[1]);
  return 0;
}

FUZZ_TARGET (report)
