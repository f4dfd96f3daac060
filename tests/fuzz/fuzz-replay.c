/* fuzz-replay.c — every fuzz target on its seed corpus and its
 * regressions, without libFuzzer (the test-fuzz-replay unit test)
 *
 * One test case per file of tests/fuzz/corpus/TARGET/ and
 * tests/fuzz/regressions/TARGET/ (inputs that once crashed a target:
 * each stays here once its bug is fixed). Built by the ordinary compiler,
 * so the targets stay plain C; with -Dfuzzing=true and clang the same
 * functions run under libFuzzer (tests/fuzz/run-fuzzers.sh).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <string.h>

#include "fuzz-common.h"

typedef struct
{
  const char *name;     /* the folder under corpus/ and regressions/ */
  void      (*init) (void);
  int       (*one)  (const guint8 *data, gsize size);
} FuzzTarget;

static const FuzzTarget targets[] = {
  { "frame", fuzz_frame_init, fuzz_frame_one },
  { "stream", fuzz_stream_init, fuzz_stream_one },
  { "protocol", fuzz_protocol_init, fuzz_protocol_one },
  { "report", fuzz_report_init, fuzz_report_one },
  { "chain", fuzz_chain_init, fuzz_chain_one },
  { "json", fuzz_json_init, fuzz_json_one },
  { "fakessh-args", fuzz_fakessh_args_init, fuzz_fakessh_args_one },
};

typedef struct
{
  const FuzzTarget *target;
  char             *path;   /* (owned) */
} Case;

static void
case_free (gpointer data)
{
  Case *tc = data;

  g_free (tc->path);
  g_free (tc);
}

static void
test_input (gconstpointer data)
{
  const Case *tc = data;
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (tc->path, &contents, &len, &error));
  g_assert_no_error (error);
  g_assert_cmpint (tc->target->one ((const guint8 *) contents, len), ==, 0);
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* Adds a case per file of FUZZ_SRCDIR/@kind/@target; the number added. */
static guint
add_dir (const FuzzTarget *target,
         const char       *kind)
{
  g_autofree char *dir_path = g_build_filename (FUZZ_SRCDIR, kind, target->name, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GDir *dir = g_dir_open (dir_path, 0, NULL);
  const char *name;

  if (dir == NULL)
    return 0;
  while ((name = g_dir_read_name (dir)) != NULL)
    if (name[0] != '.')
      g_ptr_array_add (names, g_strdup (name));
  g_dir_close (dir);
  g_ptr_array_sort (names, compare_names);

  for (guint i = 0; i < names->len; i++)
    {
      Case *tc = g_new0 (Case, 1);
      g_autofree char *test_path = NULL;
      g_autofree char *safe = g_strdup (g_ptr_array_index (names, i));

      tc->target = target;
      tc->path = g_build_filename (dir_path, safe, NULL);
      g_strdelimit (safe, "/", '_');
      test_path = g_strdup_printf ("/fuzz/%s/%s/%s", target->name, kind, safe);
      g_test_add_data_func_full (test_path, tc, test_input, case_free);
    }
  return names->len;
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (targets); i++)
    {
      targets[i].init ();
      /* Every target has a seed corpus: an empty one is a packaging error. */
      if (add_dir (&targets[i], "corpus") == 0)
        g_error ("%s/corpus/%s: no seed inputs", FUZZ_SRCDIR, targets[i].name);
      add_dir (&targets[i], "regressions");
    }
  return g_test_run ();
}
