/* test-bootstrap.c — the zero-install bootstrap, driven through the local
 * transport with bootstrap=true: real dash, bash and busybox shells, a
 * /dev/shm mounted noexec, a busybox-only root with no /proc and no
 * /dev/null, the target-side cache, and every failure naming its step.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mitogen-test.h"

static GMutex log_lock;
static GString *connect_log;

static GLogWriterOutput
capture_writer (GLogLevelFlags   level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
      {
        g_mutex_lock (&log_lock);
        g_string_append_printf (connect_log, "%s\n", (const char *) fields[i].value);
        g_mutex_unlock (&log_lock);
      }
  if (level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO))
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (level, fields, n_fields, user_data);
}

static MitogenContext *
connect_bootstrap (MitogenRouter  *router,
                   const char     *shell,
                   const char     *const *wrapper,
                   gboolean        cache,
                   double          timeout,
                   GError        **error)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "bootstrap", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&b, "{sv}", "remote_name", g_variant_new_string ("booted"));
  if (shell != NULL)
    g_variant_builder_add (&b, "{sv}", "bootstrap_shell", g_variant_new_string (shell));
  if (wrapper != NULL)
    g_variant_builder_add (&b, "{sv}", "wrapper", g_variant_new_strv (wrapper, -1));
  if (cache)
    g_variant_builder_add (&b, "{sv}", "agent_cache", g_variant_new_boolean (TRUE));
  if (timeout > 0)
    g_variant_builder_add (&b, "{sv}", "connect_timeout", g_variant_new_double (timeout));
  return mitogen_router_local (router, g_variant_builder_end (&b), NULL, error);
}

/* The agent runs from a file it removed: nothing is left on disk. */
static void
assert_booted (MitogenContext *context)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) pid = mitogen_context_call (context, "os.getpid", NULL, NULL, &error);
  g_autofree char *exe_link = NULL;
  g_autofree char *exe = NULL;

  g_assert_no_error (error);
  exe_link = g_strdup_printf ("/proc/%" G_GINT64_FORMAT "/exe", g_variant_get_int64 (pid));
  exe = g_file_read_link (exe_link, NULL);
  g_assert_nonnull (exe);
  g_assert_true (g_str_has_suffix (exe, "(deleted)"));
}

typedef struct
{
  const char *path;
  const char *shell;   /* NULL: /bin/sh */
} ShellCase;

static char *busybox_sh;  /* (owned) a directory with sh -> busybox */

static void
test_shell (gconstpointer data)
{
  const ShellCase *tc = data;
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  const char *shell = tc->shell;

  g_test_summary ("The bootstrap works under dash, bash and busybox sh and leaves no file behind.");

  if (g_strcmp0 (shell, "busybox") == 0)
    {
      if (busybox_sh == NULL)
        {
          g_test_skip ("busybox is not installed (apt-get install busybox-static)");
          return;
        }
      shell = busybox_sh;
    }
  else if (shell != NULL && !g_file_test (shell, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("shell not installed");
      return;
    }

  context = connect_bootstrap (router, shell, NULL, FALSE, 0, &error);
  g_assert_no_error (error);
  assert_booted (context);
  g_assert_cmpstr (mitogen_context_get_name (context), ==, "booted");
}

static void
test_cache (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *home = g_dir_make_tmp ("mitogen-home.XXXXXX", NULL);
  g_autofree char *home_env = g_strdup_printf ("HOME=%s", home);
  const char *wrapper[] = { "env", home_env, NULL };
  g_autofree char *cache_dir = g_build_filename (home, ".cache", "mitogen", NULL);

  g_test_summary ("With agent_cache the first connect ships the agent and caches it on the "
                  "target; the second ships no agent bytes.");

  for (int round = 0; round < 2; round++)
    {
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(GVariant) unit = NULL;

      g_mutex_lock (&log_lock);
      g_string_truncate (connect_log, 0);
      g_mutex_unlock (&log_lock);

      context = connect_bootstrap (router, NULL, wrapper, TRUE, 0, &error);
      g_assert_no_error (error);
      unit = mitogen_context_call (context, "mitogen.noop", NULL, NULL, NULL);
      g_assert_nonnull (unit);

      g_mutex_lock (&log_lock);
      if (round == 0)
        g_assert_nonnull (strstr (connect_log->str, "(MITOGEN0 need-"));
      else
        g_assert_nonnull (strstr (connect_log->str, "bootstrap shipped 0 agent bytes (MITOGEN0 cached"));
      g_mutex_unlock (&log_lock);
    }
  g_assert_true (g_file_test (cache_dir, G_FILE_TEST_IS_DIR));

  {
    g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", home);
    g_assert_cmpint (system (cmd), ==, 0);
  }
}

static gboolean
can_unshare (void)
{
  g_autofree char *unshare = g_find_program_in_path ("unshare");

  return getuid () == 0 && unshare != NULL;
}

static void
test_noexec_shm (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) exe = NULL;
  const char *wrapper[] = { "unshare", "-m", "sh", "-c",
                            "mount -t tmpfs -o noexec tmpfs /dev/shm && exec \"$@\"", "wrap", NULL };

  g_test_summary ("With /dev/shm mounted noexec the agent is run from the next candidate directory.");

  if (!can_unshare ())
    {
      g_test_skip ("needs root and unshare for a private mount namespace");
      return;
    }
  context = connect_bootstrap (router, NULL, wrapper, FALSE, 0, &error);
  g_assert_no_error (error);
  assert_booted (context);
}

/* A root with nothing but a static busybox: no /proc, no /dev/null, no /etc. */
static char *
make_busybox_root (void)
{
  static const char *applets[] = { "sh", "dd", "gzip", "cp", "chmod", "mkdir", "mv", "rm", "uname", "cat", "ls", NULL };
  g_autofree char *root = g_dir_make_tmp ("mitogen-bbroot.XXXXXX", NULL);
  g_autofree char *bin = g_build_filename (root, "bin", NULL);
  g_autofree char *tmp = g_build_filename (root, "tmp", NULL);
  g_autofree char *cmd = NULL;

  g_assert_cmpint (g_mkdir_with_parents (bin, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (tmp, 01777), ==, 0);
  cmd = g_strdup_printf ("cp /bin/busybox '%s/busybox'", bin);
  g_assert_cmpint (system (cmd), ==, 0);
  for (guint i = 0; applets[i] != NULL; i++)
    {
      g_autofree char *link = g_build_filename (bin, applets[i], NULL);
      g_assert_cmpint (symlink ("busybox", link), ==, 0);
    }
  return g_steal_pointer (&root);
}

static void
test_busybox_root (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) listing = NULL;
  g_autofree char *root = NULL;
  const char *wrapper[] = { "chroot", NULL, "/bin/busybox", "env", "-i", "PATH=/bin", NULL };

  g_test_summary ("The agent boots through the full bootstrap in a root that holds only a "
                  "static busybox as /bin/sh: no /proc, no /dev/null, no /etc/passwd.");

  if (getuid () != 0 || !g_file_test ("/bin/busybox", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("needs root (chroot) and busybox-static");
      return;
    }
  if (!MITOGEN_TEST_AGENT_STATIC)
    {
      g_test_skip ("the stock agent is dynamically linked in this build (-Dstatic_agent=disabled, "
                   "as in sanitizer builds): it cannot run in a root without libraries");
      return;
    }
  root = make_busybox_root ();
  wrapper[1] = root;

  context = connect_bootstrap (router, NULL, wrapper, FALSE, 0, &error);
  g_assert_no_error (error);
  listing = mitogen_context_call (context, "os.listdir", g_variant_new ("(s)", "/"), NULL, &error);
  g_assert_no_error (error);
  {
    g_autofree const char **names = g_variant_get_strv (listing, NULL);
    g_assert_true (g_strv_contains (names, "bin"));
    g_assert_false (g_strv_contains (names, "proc"));
    g_assert_false (g_strv_contains (names, "etc"));
  }
  /* The shipped file is gone from the root's /tmp. */
  {
    g_autoptr(GVariant) tmp = mitogen_context_call (context, "os.listdir", g_variant_new ("(s)", "/tmp"), NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (g_variant_n_children (tmp), ==, 0);
  }

  g_clear_object (&context);
  mitogen_router_shutdown (router);
  {
    g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", root);
    g_assert_cmpint (system (cmd), ==, 0);
  }
}

static void
test_failures (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  const char *junk[] = { "sh", "-c", "echo 'Welcome to the machine'; echo oops >&2; exit 3", "wrap", NULL };
  const char *dies[] = { "sh", "-c", "echo 'MITOGEN0 need-raw Linux x86_64'; echo 'disk on fire' >&2; exit 7", "wrap", NULL };
  const char *hangs[] = { "sh", "-c", "sleep 30", "wrap", NULL };
  gint64 start;

  g_test_summary ("Every bootstrap failure is a clear error naming the step, with the tail of "
                  "the target's stderr; a connect never outlives connect_timeout.");

  context = connect_bootstrap (router, "/nonexistent/sh", NULL, FALSE, 0, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_clear_error (&error);

  context = connect_bootstrap (router, NULL, junk, FALSE, 0, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_assert_nonnull (strstr (error->message, "unexpected output"));
  g_assert_nonnull (strstr (error->message, "Welcome to the machine"));
  g_clear_error (&error);

  context = connect_bootstrap (router, NULL, dies, FALSE, 0, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_assert_nonnull (strstr (error->message, "disk on fire"));
  g_clear_error (&error);

  start = g_get_monotonic_time ();
  context = connect_bootstrap (router, NULL, hangs, FALSE, 0.3, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
  g_clear_error (&error);

  g_assert_cmpuint (mitogen_test_count_children (), ==, 0);
}

static void
test_via_bootstrapped (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) first = NULL;
  g_autoptr(MitogenContext) second = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A bootstrapped context, whose own file is gone, starts a child through via: "
                  "it ships its own image.");

  first = connect_bootstrap (router, NULL, NULL, FALSE, 0, &error);
  g_assert_no_error (error);
  second = mitogen_router_connect (router, "local", NULL, first, NULL, &error);
  g_assert_no_error (error);
  assert_booted (second);
}

/* The size of the image shipped as @format: the build's compressed copy
 * when there is one and this machine can decode it, else gzip's. */
static goffset
shipped_size (const char *format)
{
  g_autofree char *agent = g_test_build_filename (G_TEST_BUILT, "..", "agent", "mitogen-agent", NULL);
  g_autofree char *path = NULL;
  g_autofree char *decoder = NULL;
  struct stat st;

  if (strcmp (format, "raw") == 0)
    path = g_strdup (agent);
  else
    {
      path = g_strconcat (agent, ".", format, NULL);
      decoder = g_find_program_in_path (strcmp (format, "zst") == 0 ? "zstd" : strcmp (format, "xz") == 0 ? "xz" : "gzip");
      if (decoder == NULL || stat (path, &st) != 0)
        {
          g_free (path);
          path = g_strconcat (agent, ".gz", NULL);
        }
    }
  g_assert_cmpint (stat (path, &st), ==, 0);
  return st.st_size;
}

static void
test_formats (void)
{
  static const char *formats[] = { "raw", "gz", "xz", "zst" };
  g_autoptr(MitogenRouter) router = mitogen_router_new ();

  g_test_summary ("The agent is shipped raw, gzip-, xz- or zstd-compressed as bootstrap_format asks "
                  "(gzip when the target cannot decode the format or the build made no such copy), "
                  "and each boots; transports default to their class's need for a bootstrap.");

  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autofree char *shipped = g_strdup_printf ("bootstrap shipped %" G_GOFFSET_FORMAT " agent bytes",
                                                  shipped_size (formats[i]));
      GVariantBuilder b;

      g_mutex_lock (&log_lock);
      g_string_truncate (connect_log, 0);
      g_mutex_unlock (&log_lock);
      g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&b, "{sv}", "bootstrap", g_variant_new_boolean (TRUE));
      g_variant_builder_add (&b, "{sv}", "bootstrap_format", g_variant_new_string (formats[i]));
      context = mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error);
      g_assert_no_error (error);
      assert_booted (context);
      g_mutex_lock (&log_lock);
      if (strstr (connect_log->str, shipped) == NULL)
        g_error ("%s: expected \"%s\" in the log:\n%s", formats[i], shipped, connect_log->str);
      g_mutex_unlock (&log_lock);
    }

  {
    g_autoptr(GError) error = NULL;
    g_autoptr(MitogenTransport) local = mitogen_transport_new_for_method ("local", NULL, &error);
    g_autoptr(MitogenTransport) ssh = mitogen_transport_new_for_method ("ssh", NULL, &error);

    g_assert_no_error (error);
    g_assert_false (mitogen_transport_get_bootstrap (local));
    g_assert_true (mitogen_transport_get_bootstrap (ssh));
  }
}

static const ShellCase shells[] = {
  { "/bootstrap/shell/sh", NULL },
  { "/bootstrap/shell/dash", "/bin/dash" },
  { "/bootstrap/shell/bash", "/bin/bash" },
  { "/bootstrap/shell/busybox", "busybox" },
};

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  connect_log = g_string_new (NULL);
  g_log_set_writer_func (capture_writer, NULL, NULL);
  g_log_set_debug_enabled (TRUE);

  if (g_file_test ("/bin/busybox", G_FILE_TEST_IS_EXECUTABLE))
    {
      busybox_sh = g_dir_make_tmp ("mitogen-bbsh.XXXXXX", NULL);
      g_autofree char *link = g_build_filename (busybox_sh, "sh", NULL);
      g_assert_cmpint (symlink ("/bin/busybox", link), ==, 0);
      g_free (busybox_sh);
      busybox_sh = g_steal_pointer (&link);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (shells); i++)
    g_test_add_data_func (shells[i].path, &shells[i], test_shell);
  g_test_add_func ("/bootstrap/cache", test_cache);
  g_test_add_func ("/bootstrap/formats", test_formats);
  g_test_add_func ("/bootstrap/noexec-shm", test_noexec_shm);
  g_test_add_func ("/bootstrap/busybox-root", test_busybox_root);
  g_test_add_func ("/bootstrap/failures", test_failures);
  g_test_add_func ("/bootstrap/via", test_via_bootstrapped);

  status = g_test_run ();
  if (busybox_sh != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (busybox_sh);
      unlink (busybox_sh);
      rmdir (dir);
    }
  return status;
}
