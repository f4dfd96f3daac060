/* fuzz-common.h — the entry points of the fuzz targets
 *
 * Each fuzz-NAME.c is plain C with two functions: fuzz_NAME_init (), run
 * once, and fuzz_NAME_one (), which takes one input and must return
 * without crashing, leaking or hanging, whatever the bytes. Built with
 * -Dfuzzing=true (clang), FUZZ_TARGET () turns them into libFuzzer's
 * LLVMFuzzerInitialize/LLVMFuzzerTestOneInput; in the ordinary build
 * fuzz-replay.c calls them on every file of the seed corpus and of
 * tests/fuzz/regressions/ (the test-fuzz-replay unit test).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

G_BEGIN_DECLS

#define FUZZ_DECLARE(name) \
  void fuzz_##name##_init (void); \
  int  fuzz_##name##_one  (const guint8 *data, gsize size);

FUZZ_DECLARE (frame)
FUZZ_DECLARE (stream)
FUZZ_DECLARE (protocol)
FUZZ_DECLARE (report)
FUZZ_DECLARE (chain)
FUZZ_DECLARE (json)
FUZZ_DECLARE (fakessh_args)

/* A property of the code under test that must hold for every input:
 * an abort () the fuzzer reports (never compiled out, unlike g_assert ();
 * not g_error (), whose SIGTRAP libFuzzer does not catch). */
#define FUZZ_CHECK(cond) \
  G_STMT_START { \
    if (G_UNLIKELY (!(cond))) \
      { \
        fprintf (stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
        abort (); \
      } \
  } G_STMT_END

/* A NUL-terminated copy of @data (which may hold NULs). (transfer full) */
static inline char *
fuzz_strndup (const guint8 *data,
              gsize         size)
{
  char *copy = g_malloc (size + 1);

  if (size > 0)
    memcpy (copy, data, size);
  copy[size] = '\0';
  return copy;
}

/* Under LeakSanitizer, @ignore: what is allocated until the next call is
 * never reported (a library's own leak, not the code under test). */
#ifdef MITOGEN_FUZZ_LIBFUZZER
void __lsan_disable (void);
void __lsan_enable (void);
#define fuzz_ignore_leaks(ignore) ((ignore) ? __lsan_disable () : __lsan_enable ())
#else
#define fuzz_ignore_leaks(ignore) ((void) (ignore))
#endif

#ifdef MITOGEN_FUZZ_LIBFUZZER
#define FUZZ_TARGET(name) \
  int LLVMFuzzerInitialize (int *argc, char ***argv); \
  int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size); \
  int LLVMFuzzerInitialize (int *argc, char ***argv) { fuzz_##name##_init (); return 0; } \
  int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) { return fuzz_##name##_one (data, size); }
#else
#define FUZZ_TARGET(name)
#endif

G_END_DECLS
