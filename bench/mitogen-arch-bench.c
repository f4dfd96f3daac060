/* mitogen-arch-bench.c — starting stock agents of other CPUs under qemu-user
 *
 *   mitogen-arch-bench [--runs N] NAME=ROOT ...
 *
 * For each busybox root of a foreign CPU (tests/foreign/make-root.sh;
 * bench/arch-bench.sh prepares them and binfmt_misc), connects N times
 * with an empty agent cache (cold: the image is shipped) and N times with
 * it filled (cached), and prints the medians, one figure per line:
 * `arch_start_cold_ms_NAME<TAB>value<TAB>ms`, `arch_start_cached_ms_NAME`,
 * `arch_shipped_bytes_NAME`. Under emulation the figures say what
 * qemu costs, not what the CPU would take.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mitogen/mitogen.h>

static int
compare_doubles (gconstpointer a,
                 gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static double
median (GArray *values)
{
  g_array_sort (values, compare_doubles);
  return g_array_index (values, double, values->len / 2);
}

/* One connect; its time in ms and the bytes shipped. Exits on failure. */
static double
start_once (const char *root,
            const char *name,
            guint64    *shipped)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GVariant) pid = NULL;
  g_autoptr(GError) error = NULL;
  const char *wrapper[] = { "chroot", root, "/bin/busybox", "env", "-i", "PATH=/bin", "HOME=/home", NULL };
  GVariantBuilder b;
  gint64 start;
  double ms;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "bootstrap", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&b, "{sv}", "agent_cache", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&b, "{sv}", "remote_name", g_variant_new_string (name));
  g_variant_builder_add (&b, "{sv}", "wrapper", g_variant_new_strv (wrapper, -1));
  g_variant_builder_add (&b, "{sv}", "connect_timeout", g_variant_new_double (120));
  start = g_get_monotonic_time ();
  context = mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error);
  if (context != NULL)
    pid = mitogen_context_call (context, "os.getpid", NULL, NULL, &error);
  ms = (g_get_monotonic_time () - start) / 1000.0;
  if (pid == NULL)
    {
      fprintf (stderr, "mitogen-arch-bench: %s: %s\n", name, error->message);
      exit (1);
    }
  *shipped = mitogen_context_get_bootstrap_bytes (context);
  g_clear_object (&context);
  mitogen_router_shutdown (router);
  return ms;
}

static void
clear_cache (const char *root)
{
  g_autofree char *cache = g_build_filename (root, "home", ".cache", "mitogen", NULL);
  g_autofree char *quoted = g_shell_quote (cache);
  g_autofree char *cmd = g_strdup_printf ("rm -rf %s", quoted);

  if (system (cmd) != 0)
    {
      fprintf (stderr, "mitogen-arch-bench: cannot empty %s\n", cache);
      exit (1);
    }
}

int
main (int    argc,
      char **argv)
{
  guint runs = 5;
  int first = 1;

  if (argc > 2 && strcmp (argv[1], "--runs") == 0)
    {
      runs = (guint) g_ascii_strtoull (argv[2], NULL, 10);
      first = 3;
    }
  if (runs == 0 || runs > 1000 || first >= argc)
    {
      fprintf (stderr, "usage: mitogen-arch-bench [--runs N] NAME=ROOT ...\n");
      return 2;
    }
  for (int i = first; i < argc; i++)
    {
      g_auto(GStrv) pair = g_strsplit (argv[i], "=", 2);
      g_autoptr(GArray) cold = g_array_new (FALSE, FALSE, sizeof (double));
      g_autoptr(GArray) cached = g_array_new (FALSE, FALSE, sizeof (double));
      guint64 shipped = 0, ignored = 0;

      if (g_strv_length (pair) != 2 || pair[0][0] == '\0' || !g_file_test (pair[1], G_FILE_TEST_IS_DIR))
        {
          fprintf (stderr, "mitogen-arch-bench: '%s' is not NAME=ROOT (a directory)\n", argv[i]);
          return 2;
        }
      for (guint r = 0; r < runs; r++)
        {
          double ms;

          clear_cache (pair[1]);
          ms = start_once (pair[1], pair[0], &shipped);
          g_array_append_val (cold, ms);
          ms = start_once (pair[1], pair[0], &ignored);
          g_array_append_val (cached, ms);
        }
      clear_cache (pair[1]);
      printf ("arch_start_cold_ms_%s\t%.1f\tms\n", pair[0], median (cold));
      printf ("arch_start_cached_ms_%s\t%.1f\tms\n", pair[0], median (cached));
      printf ("arch_shipped_bytes_%s\t%" G_GUINT64_FORMAT "\tbytes\n", pair[0], shipped);
      fflush (stdout);
    }
  return 0;
}
