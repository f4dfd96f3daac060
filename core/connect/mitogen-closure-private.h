/* mitogen-closure-private.h — the files a dynamically linked program needs
 *
 * A program that links libmitogen-1.0 can ship itself to a target that
 * has only /bin/sh: it sends its closure (its ELF interpreter, the
 * program, every shared object it has mapped) into one directory DIR and
 * runs `DIR/INTERP --library-path DIR DIR/PROGRAM --mitogen-agent ...`.
 * Files travel content-addressed by SHA-256.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

typedef enum
{
  MITOGEN_CLOSURE_INTERP,   /* the ELF interpreter (ld.so) */
  MITOGEN_CLOSURE_EXE,      /* the program */
  MITOGEN_CLOSURE_LIB,      /* a shared object the program has mapped */
  MITOGEN_CLOSURE_PLUGIN,   /* a transport plugin module: libmitogen-WORD.so */
} MitogenClosureRole;

typedef struct
{
  MitogenClosureRole role;
  /* The file name on the target: for a library, the basename of the name
   * the loader used (the soname path, libglib-2.0.so.0); for the program
   * and the interpreter, the basename of their path, as
   * mitogen_closure_name_is_valid () allows (never "." or "..": no
   * leading dot). */
  char    *name;
  char    *path;       /* the local file to read (as the loader gave it) */
  guint64  size;
  char     sha256[65]; /* lowercase hex */
} MitogenClosureFile;

/* Any thread. Whether @name may name a file of a closure on the target:
 * letters, digits and ._+- only, not starting with '.', not
 * "transports" (stage 1's own entries), at most 200 characters. Stage 1
 * uses such names unquoted. */
gboolean mitogen_closure_name_is_valid (const char *name);

typedef struct
{
  /* (element-type MitogenClosureFile): the interpreter first (if any),
   * then the program, then libraries and plugins in load order. Names
   * are unique. */
  GPtrArray *files;
  char      *arch;       /* the program's ELF machine as `uname -m` spells it */
  gboolean   is_static;  /* the program has no PT_INTERP: files is just it */
  guint64    total_size;
} MitogenClosure;

/* Any thread but the broker's (it reads and hashes every file; the result
 * is cached per program path, and recomputed when a module was loaded or
 * unloaded or a file changed on disk since).
 * @exe_path: (nullable): the program file; NULL: this process's own
 *   program: /proc/self/exe, else the path it was started by (AT_EXECFN,
 *   which glibc's loader sets to PROG when the process was started as
 *   `ld.so --library-path DIR PROG`; /proc/self/exe is then the loader).
 *   Either must have the program headers the loader holds for the
 *   program, else it is an error: a relative AT_EXECFN after a chdir ()
 *   needs PROG passed here.
 * Returns: (transfer full): the closure, or NULL with @error set. */
MitogenClosure *mitogen_closure_new_for_self (const char      *exe_path,
                                              GError         **error);
void            mitogen_closure_free         (MitogenClosure  *closure);
/* Frees one MitogenClosureFile (a GDestroyNotify for closure->files). */
void            mitogen_closure_file_free    (gpointer         file);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MitogenClosure, mitogen_closure_free)

/* Any thread. Reads an ELF file's header and program headers, trusting
 * nothing in it: a non-ELF, truncated or absurd file is a
 * G_IO_ERROR_INVALID_DATA error naming @path (a file that cannot be read
 * is the G_IO_ERROR of its errno).
 * @arch: (out) (optional): the machine as `uname -m` spells it
 * @interp: (out) (optional) (nullable): the PT_INTERP string, or NULL */
gboolean        mitogen_elf_inspect          (const char      *path,
                                              char           **arch,
                                              char           **interp,
                                              GError         **error);

/* Any thread. TRUE if @uname_m (a `uname -m` output) names the same CPU as
 * @elf_arch (from mitogen_elf_inspect ()): i386/i486/i586/i686,
 * armv7l/armv6l/armhf/arm, arm64/aarch64, amd64/x86_64 and so on. A
 * 32-bit program on a 64-bit kernel is not a match. */
gboolean        mitogen_arch_matches         (const char      *elf_arch,
                                              const char      *uname_m);

G_END_DECLS
