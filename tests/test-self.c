/* test-self.c — self-replicating programs: mitogen_init (), agent=self
 * and agent=dynamic, the closure bootstrap (content-addressed cache, cold
 * and warm, a busybox-only root with no libc, a corrupted cache file),
 * via, the architecture check, and what is left behind (nothing).
 *
 * Most cases run tests/helpers/self-program (SELF_PROGRAM), a program
 * that calls mitogen_init (): this test program does not, which is the
 * "cannot replicate" case. HOME and XDG_RUNTIME_DIR point into a private
 * directory, so the target-side cache and run directories are ours to
 * inspect.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "mitogen-test.h"
#include "mitogen-test-self.h"

static char *base;      /* (owned) private directory for everything below */
static char *home;      /* (owned) HOME of every context started here */
static char *run_dir;   /* (owned) XDG_RUNTIME_DIR: stage 1's first choice */

/* --- helpers ------------------------------------------------------------ */

static MitogenSelfRun *
self_run (const char *first,
          ...)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  MitogenSelfRun *run;
  va_list ap;

  va_start (ap, first);
  for (const char *arg = first; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (args, (gpointer) arg);
  va_end (ap);
  g_ptr_array_add (args, NULL);

  run = mitogen_self_run (SELF_PROGRAM, (const char * const *) args->pdata, NULL);
  g_test_message ("self-program exit %d\n%s%s", run->status, run->out, run->err);
  return run;
}

static void
assert_ok (MitogenSelfRun *run,
           guint           lines)
{
  if (run->status != 0)
    g_error ("self-program failed (%d): %s", run->status, run->err);
  g_assert_cmpuint (run->hops->len, ==, lines);
  for (guint i = 0; i < lines; i++)
    {
      g_assert_cmpint (mitogen_self_run_get_int (run, i, "add"), ==, 5);
      g_assert_nonnull (strstr (mitogen_self_run_get (run, i, "whoami"), ":agent=1:"));
    }
}

/* Processes whose command line holds @needle (a remote_name). */
static guint
count_processes (const char *needle)
{
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;
  guint n = 0;

  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *text = NULL;
      gsize len = 0;

      if (!g_ascii_isdigit (name[0]) || atoi (name) == getpid ())
        continue;
      path = g_strdup_printf ("/proc/%s/cmdline", name);
      if (!g_file_get_contents (path, &text, &len, NULL))
        continue;
      for (gsize i = 0; i < len; i++)
        if (text[i] == '\0')
          text[i] = ' ';
      if (strstr (text, needle) != NULL)
        n++;
    }
  return n;
}

/* Stage 1's run directories left in @dir. */
static guint
count_run_dirs (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint n = 0;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, ".mitogen-run."))
      n++;
  return n;
}

static guint
count_files (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  while (d != NULL && g_dir_read_name (d) != NULL)
    n++;
  return n;
}

/* Nothing of a run is left: no process named @needle, no run directory
 * in @dir. */
static void
assert_nothing_left (const char *needle,
                     const char *dir)
{
  for (int i = 0; i < 200 && count_processes (needle) > 0; i++)
    g_usleep (10000);
  g_assert_cmpuint (count_processes (needle), ==, 0);
  g_assert_cmpuint (count_run_dirs (dir), ==, 0);
}

static char *
sha256_of_file (const char *path)
{
  g_autofree char *contents = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, len);
}

/* The ELF interpreter this test runs under, as self-program does (the
 * closures' loader): the file mapped at AT_BASE. */
static char *
our_interp (void)
{
  unsigned long base_address = getauxval (AT_BASE);
  g_autofree char *maps = NULL;
  g_auto(GStrv) lines = NULL;

  g_assert_cmpuint (base_address, !=, 0);
  g_assert_true (g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL));
  lines = g_strsplit (maps, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *end = NULL;
      unsigned long start = strtoul (lines[i], &end, 16);
      unsigned long stop = end != NULL && *end == '-' ? strtoul (end + 1, NULL, 16) : 0;
      const char *path = strchr (lines[i], '/');

      if (start <= base_address && base_address < stop && path != NULL)
        return g_strdup (path);
    }
  g_assert_not_reached ();
}

/* A busybox-only root, or NULL when chroot is not ours to use. (transfer full) */
static char *
make_root (void)
{
  g_autofree char *chroot_path = g_find_program_in_path ("chroot");

  if (getuid () != 0 || chroot_path == NULL)
    return NULL;
  return mitogen_test_make_busybox_root (base);
}

/* A bootstrap_shell running stage 1 in @root. (transfer full) */
static char *
chroot_shell (const char *root)
{
  g_autofree char *name = g_path_get_basename (root);
  char *shell = g_strdup_printf ("%s/%s.sh", base, name);

  mitogen_test_write_chroot_shell (shell, root);
  return shell;
}

static const char *
machine (void)
{
  static struct utsname u;

  g_assert_cmpint (uname (&u), ==, 0);
  return u.machine;
}

/* --- agent=self, local ---------------------------------------------------- */

static void
test_local_fast_path (void)
{
  g_autoptr(MitogenSelfRun) run = NULL;
  const char *who;

  g_test_summary ("agent=self with the local method runs the program itself, directly: "
                  "nothing is shipped, and the demo functions answer from the child.");

  run = self_run ("local:agent=self,remote_name=selftest-fast", NULL);
  assert_ok (run, 1);
  g_assert_cmpint (mitogen_self_run_get_int (run, 0, "bytes"), ==, 0);
  who = mitogen_self_run_get (run, 0, "whoami");
  g_assert_nonnull (strstr (who, "self-program"));
  g_assert_null (strstr (who, ".mitogen-run."));
  assert_nothing_left ("selftest-fast", run_dir);
}

static void
test_local_bootstrap (void)
{
  g_autofree char *files = g_build_filename (home, ".cache", "mitogen", "files", NULL);
  /* Above any pid_max: an agent that is gone. */
  g_autofree char *stale = g_build_filename (run_dir, ".mitogen-run.4194304", NULL);
  g_autofree char *stale_file = g_build_filename (stale, "libc.so.6", NULL);
  g_autoptr(MitogenSelfRun) run = NULL;

  g_test_summary ("With bootstrap=true the program is shipped as its closure and run through "
                  "its own ELF loader; the second connect finds every file in the cache and "
                  "ships 0 bytes; run directories of dead agents are removed, ours at exit.");

  mitogen_test_rm_rf (files);
  g_assert_cmpint (g_mkdir (stale, 0700), ==, 0);
  g_assert_true (g_file_set_contents (stale_file, "left over", -1, NULL));

  run = self_run ("--repeat", "2", "local:agent=self,bootstrap=true,remote_name=selftest-boot", NULL);
  assert_ok (run, 2);
  g_assert_cmpint (mitogen_self_run_get_int (run, 0, "bytes"), >, 1000000);
  g_assert_cmpint (mitogen_self_run_get_int (run, 1, "bytes"), ==, 0);
  g_assert_nonnull (strstr (mitogen_self_run_get (run, 0, "whoami"), "/.mitogen-run."));
  g_assert_nonnull (strstr (mitogen_self_run_get (run, 1, "whoami"), "/.mitogen-run."));
  g_test_message ("local bootstrap: cold %s bytes in %s ms, warm %s bytes in %s ms",
                  mitogen_self_run_get (run, 0, "bytes"), mitogen_self_run_get (run, 0, "ms"),
                  mitogen_self_run_get (run, 1, "bytes"), mitogen_self_run_get (run, 1, "ms"));
  g_assert_cmpuint (count_files (files), >, 5);
  assert_nothing_left ("selftest-boot", run_dir);
}

static void
test_noexec_cache (void)
{
  g_autofree char *shell = g_build_filename (base, "noexec-home.sh", NULL);
  g_autofree char *unshare = g_find_program_in_path ("unshare");
  g_autofree char *hop = NULL;
  g_autoptr(MitogenSelfRun) run = NULL;

  g_test_summary ("When the cache's mount is noexec (HOME here), the files are copied next to the "
                  "run directory's links and run from there.");

  if (getuid () != 0 || unshare == NULL)
    {
      g_test_skip ("needs root and unshare for a private mount namespace");
      return;
    }
  mitogen_test_write_script (shell, "#!/bin/sh\n"
                             "exec unshare -m sh -c 'mount -t tmpfs -o noexec tmpfs \"$HOME\" && exec /bin/sh \"$@\"' "
                             "wrap \"$@\"\n");
  hop = g_strdup_printf ("local:agent=self,bootstrap=true,bootstrap_shell=%s,remote_name=selftest-noexec", shell);
  run = self_run (hop, NULL);
  assert_ok (run, 1);
  g_assert_nonnull (strstr (mitogen_self_run_get (run, 0, "whoami"), "/.c/self-program"));
  assert_nothing_left ("selftest-noexec", run_dir);
}

/* --- the busybox root ------------------------------------------------------- */

/* In -Db_sanitize builds (docs/reliability.md) the program and its
 * closure carry the sanitizer's runtime, which needs /proc (memory map,
 * executable, the leak check's thread list): the busybox root has none. */
static gboolean
skipped_sanitized (void)
{
  if (!MITOGEN_TEST_SANITIZED)
    return FALSE;
  g_test_skip ("sanitizer build: its runtime needs /proc, which the busybox root lacks");
  return TRUE;
}

static void
test_chroot (void)
{
  g_autofree char *root = make_root ();
  g_autofree char *shell = NULL;
  g_autofree char *hop = NULL;
  g_autofree char *tmp = NULL;
  g_autoptr(MitogenSelfRun) run = NULL;

  g_test_summary ("The program, shipped as its closure, runs in a root that has nothing but a "
                  "static busybox (no libc, no /proc, no /dev): cold, then warm with 0 bytes.");

  if (root == NULL)
    {
      g_test_skip ("needs root (chroot) and busybox-static");
      return;
    }
  if (skipped_sanitized ())
    return;
  shell = chroot_shell (root);
  hop = g_strdup_printf ("local:agent=self,bootstrap=true,bootstrap_shell=%s,remote_name=selftest-root", shell);
  run = self_run ("--repeat", "2", hop, NULL);
  assert_ok (run, 2);
  g_assert_cmpint (mitogen_self_run_get_int (run, 0, "bytes"), >, 1000000);
  g_assert_cmpint (mitogen_self_run_get_int (run, 1, "bytes"), ==, 0);
  g_assert_nonnull (strstr (mitogen_self_run_get (run, 0, "whoami"), "exe=/tmp/.mitogen-run."));
  g_test_message ("busybox root, agent=self: cold %s bytes in %s ms, warm %s bytes in %s ms",
                  mitogen_self_run_get (run, 0, "bytes"), mitogen_self_run_get (run, 0, "ms"),
                  mitogen_self_run_get (run, 1, "bytes"), mitogen_self_run_get (run, 1, "ms"));
  tmp = g_build_filename (root, "tmp", NULL);
  assert_nothing_left ("selftest-root", tmp);
  mitogen_test_rm_rf (root);
}

static void
test_chroot_corrupt (void)
{
  g_autofree char *root = make_root ();
  g_autofree char *shell = NULL;
  g_autofree char *hop = NULL;
  g_autofree char *interp = NULL;
  g_autofree char *sha = NULL;
  g_autofree char *cached = NULL;
  g_autofree char *marker = NULL;
  g_autofree char *restored = NULL;
  g_autoptr(MitogenSelfRun) cold = NULL;
  g_autoptr(MitogenSelfRun) again = NULL;
  gint64 cold_bytes, again_bytes;

  g_test_summary ("A cached file whose contents no longer match its hash is asked for again and "
                  "replaced, never executed.");

  if (root == NULL)
    {
      g_test_skip ("needs root (chroot) and busybox-static");
      return;
    }
  if (skipped_sanitized ())
    return;
  shell = chroot_shell (root);
  hop = g_strdup_printf ("local:agent=self,bootstrap=true,bootstrap_shell=%s,remote_name=selftest-corrupt", shell);
  cold = self_run (hop, NULL);
  assert_ok (cold, 1);
  cold_bytes = mitogen_self_run_get_int (cold, 0, "bytes");

  /* The loader is the first thing stage 1 runs: make it a script that
   * leaves a mark if it is ever executed. */
  interp = our_interp ();
  sha = sha256_of_file (interp);
  cached = g_build_filename (root, "home", ".cache", "mitogen", "files", sha, NULL);
  g_assert_true (g_file_test (cached, G_FILE_TEST_IS_REGULAR));
  mitogen_test_write_script (cached, "#!/bin/sh\necho executed > /tmp/corrupt-was-run\nexit 1\n");

  again = self_run (hop, NULL);
  assert_ok (again, 1);
  again_bytes = mitogen_self_run_get_int (again, 0, "bytes");
  g_test_message ("corrupted loader: %" G_GINT64_FORMAT " bytes re-sent (cold: %" G_GINT64_FORMAT ")",
                  again_bytes, cold_bytes);
  g_assert_cmpint (again_bytes, >, 0);
  g_assert_cmpint (again_bytes, <, cold_bytes / 2);
  marker = g_build_filename (root, "tmp", "corrupt-was-run", NULL);
  g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
  restored = sha256_of_file (cached);
  g_assert_cmpstr (restored, ==, sha);
  mitogen_test_rm_rf (root);
}

static void
test_no_sha256sum (void)
{
  static const char *tools[] = { "dd", "gzip", "cp", "chmod", "mkdir", "mv", "rm", "ln", "uname", "cat", NULL };
  g_autofree char *bin = g_build_filename (base, "no-sha256sum", NULL);
  g_autofree char *shell = g_build_filename (base, "no-sha256sum.sh", NULL);
  g_autofree char *shell_text = NULL;
  g_autofree char *dash = g_find_program_in_path ("dash");
  g_autofree char *hop = NULL;
  g_autoptr(MitogenSelfRun) run = NULL;

  g_test_summary ("Without sha256sum on the target no cached file can be checked: every file "
                  "is sent again (dash, with a PATH that has the other tools).");

  if (dash == NULL)
    {
      /* busybox sh always finds its own sha256sum applet. */
      g_test_skip ("needs dash");
      return;
    }
  g_assert_cmpint (g_mkdir_with_parents (bin, 0755), ==, 0);
  for (guint i = 0; tools[i] != NULL; i++)
    {
      g_autofree char *found = g_find_program_in_path (tools[i]);
      g_autofree char *link = g_build_filename (bin, tools[i], NULL);

      g_assert_nonnull (found);
      g_assert_cmpint (symlink (found, link), ==, 0);
    }
  shell_text = g_strdup_printf ("#!/bin/sh\nPATH=%s exec %s \"$@\"\n", bin, dash);
  mitogen_test_write_script (shell, shell_text);
  hop = g_strdup_printf ("local:agent=self,bootstrap=true,bootstrap_shell=%s,remote_name=selftest-nosha", shell);
  run = self_run ("--repeat", "2", hop, NULL);
  assert_ok (run, 2);
  g_assert_cmpint (mitogen_self_run_get_int (run, 0, "bytes"), >, 1000000);
  g_assert_cmpint (mitogen_self_run_get_int (run, 1, "bytes"), ==, mitogen_self_run_get_int (run, 0, "bytes"));
  assert_nothing_left ("selftest-nosha", run_dir);
}

/* --- refusals ------------------------------------------------------------- */

static void
test_arch_mismatch (void)
{
  /* A CPU no build makes an agent for (-Dagent_archs has no riscv64). */
  const char *fake = strcmp (machine (), "riscv64") == 0 ? "x86_64" : "riscv64";
  g_autofree char *bin = g_build_filename (base, "fake-uname", NULL);
  g_autofree char *uname_path = g_build_filename (bin, "uname", NULL);
  g_autofree char *uname_text = g_strdup_printf ("#!/bin/sh\necho \"Linux %s\"\n", fake);
  g_autofree char *shell = g_build_filename (base, "fake-uname.sh", NULL);
  g_autofree char *shell_text = g_strdup_printf ("#!/bin/sh\nPATH=%s:$PATH\nexport PATH\nexec /bin/sh \"$@\"\n", bin);
  g_autofree char *hop = g_strdup_printf ("local:agent=self,bootstrap=true,bootstrap_shell=%s,remote_name=selftest-arch",
                                          shell);
  g_autofree char *expected = g_strdup_printf ("target is %s, agent is %s", fake, machine ());
  g_autofree char *stock_expected = g_strdup_printf ("target is %s", fake);
  g_autofree char *files = g_build_filename (home, ".cache", "mitogen", "files", NULL);
  g_autoptr(MitogenSelfRun) run = NULL;

  g_test_summary ("A target of another architecture (a faked `uname -m`) gets one clear error "
                  "naming both, before anything is sent: for agent=self and the stock agent.");

  g_assert_cmpint (g_mkdir_with_parents (bin, 0755), ==, 0);
  mitogen_test_write_script (uname_path, uname_text);
  mitogen_test_write_script (shell, shell_text);
  mitogen_test_rm_rf (files);

  run = self_run (hop, NULL);
  g_assert_cmpint (run->status, ==, 2);
  g_assert_nonnull (strstr (run->err, expected));
  /* Nothing arrived in the cache. */
  g_assert_cmpuint (count_files (files), ==, 0);
  assert_nothing_left ("selftest-arch", run_dir);

  /* The stock agent, from this process. */
  {
    g_autoptr(MitogenRouter) router = mitogen_router_new ();
    g_autoptr(MitogenContext) context = NULL;
    g_autoptr(GError) error = NULL;
    GVariantBuilder b;

    g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&b, "{sv}", "bootstrap", g_variant_new_boolean (TRUE));
    g_variant_builder_add (&b, "{sv}", "bootstrap_shell", g_variant_new_string (shell));
    context = mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error);
    g_assert_null (context);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
    /* With agents for several CPUs the message lists them all. */
    g_assert_nonnull (strstr (error->message, stock_expected));
    g_assert_nonnull (strstr (error->message, machine ()));
  }
}

static void
test_not_capable (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder b;

  g_test_summary ("agent=self in a program that never called mitogen_init () (this test, like "
                  "python3 through GI) fails clearly and suggests agent=dynamic.");

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "agent", g_variant_new_string ("self"));
  context = mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "mitogen_init ()"));
  g_assert_nonnull (strstr (error->message, "agent=dynamic"));
  g_test_message ("%s", error->message);
}

static void
test_bad_agent (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(GError) error = NULL;
  MitogenContext *context;
  GVariantBuilder b;

  g_test_summary ("An unknown agent, as an option or as the router's default, is "
                  "INVALID_ARGUMENT naming the allowed values.");

  g_assert_cmpstr (mitogen_router_get_default_agent (router), ==, "stock");
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "agent", g_variant_new_string ("bogus"));
  context = mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "stock, self, dynamic"));
  g_clear_error (&error);

  mitogen_router_set_default_agent (router, "bogus");
  g_assert_cmpstr (mitogen_router_get_default_agent (router), ==, "bogus");
  context = mitogen_router_local (router, NULL, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "stock, self, dynamic"));
  mitogen_router_set_default_agent (router, NULL);
  g_assert_cmpstr (mitogen_router_get_default_agent (router), ==, "stock");
}

/* --- agent=dynamic --------------------------------------------------------- */

static MitogenContext *
connect_dynamic (MitogenRouter  *router,
                 const char     *shell,
                 GError        **error)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "agent", g_variant_new_string ("dynamic"));
  g_variant_builder_add (&b, "{sv}", "remote_name", g_variant_new_string ("selftest-dynamic"));
  if (shell != NULL)
    {
      g_variant_builder_add (&b, "{sv}", "bootstrap", g_variant_new_boolean (TRUE));
      if (shell[0] != '\0')
        g_variant_builder_add (&b, "{sv}", "bootstrap_shell", g_variant_new_string (shell));
    }
  return mitogen_router_local (router, g_variant_builder_end (&b), NULL, error);
}

static void
test_dynamic_local (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GVariant) pid = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *link = NULL;
  g_autofree char *exe = NULL;

  g_test_summary ("agent=dynamic from a master that cannot replicate itself: locally the "
                  "dynamic agent runs directly and serves the built-ins.");

  context = connect_dynamic (router, NULL, &error);
  g_assert_no_error (error);
  pid = mitogen_context_call (context, "os.getpid", NULL, NULL, &error);
  g_assert_no_error (error);
  link = g_strdup_printf ("/proc/%" G_GINT64_FORMAT "/exe", g_variant_get_int64 (pid));
  exe = g_file_read_link (link, NULL);
  g_assert_nonnull (exe);
  g_assert_true (g_str_has_suffix (exe, "/mitogen-agent-dynamic"));
  g_assert_cmpuint (mitogen_context_get_bootstrap_bytes (context), ==, 0);
}

static void
test_dynamic_chroot (void)
{
  g_autofree char *root = make_root ();
  g_autofree char *shell = NULL;
  g_autoptr(MitogenRouter) router = mitogen_router_new ();

  g_test_summary ("agent=dynamic into the busybox root: the dynamic agent's closure (from "
                  "`mitogen-agent-dynamic --closure`) is shipped, then cached.");

  if (root == NULL)
    {
      g_test_skip ("needs root (chroot) and busybox-static");
      return;
    }
  if (skipped_sanitized ())
    return;
  shell = chroot_shell (root);
  for (int round = 0; round < 2; round++)
    {
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(GVariant) listing = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree const char **names = NULL;

      context = connect_dynamic (router, shell, &error);
      g_assert_no_error (error);
      listing = mitogen_context_call (context, "os.listdir", g_variant_new ("(s)", "/"), NULL, &error);
      g_assert_no_error (error);
      names = g_variant_get_strv (listing, NULL);
      g_assert_true (g_strv_contains (names, "bin"));
      g_assert_false (g_strv_contains (names, "proc"));
      g_test_message ("busybox root, agent=dynamic, round %d: %" G_GUINT64_FORMAT " bytes", round,
                      mitogen_context_get_bootstrap_bytes (context));
      if (round == 0)
        g_assert_cmpuint (mitogen_context_get_bootstrap_bytes (context), >, 1000000);
      else
        g_assert_cmpuint (mitogen_context_get_bootstrap_bytes (context), ==, 0);
      g_assert_true (mitogen_context_shutdown (context, 5, NULL));
    }
  mitogen_router_shutdown (router);
  {
    g_autofree char *tmp = g_build_filename (root, "tmp", NULL);
    assert_nothing_left ("selftest-dynamic", tmp);
  }
  mitogen_test_rm_rf (root);
}

/* --- via ------------------------------------------------------------------------ */

static void
check_via (MitogenSelfRun *run)
{
  gint64 wrote;

  assert_ok (run, 2);
  g_assert_nonnull (strstr (mitogen_self_run_get (run, 0, "whoami"), "/.mitogen-run."));
  g_assert_nonnull (strstr (mitogen_self_run_get (run, 1, "whoami"), "/.mitogen-run."));
  /* The second hop's files came from the first context (its cache went
   * unused: agent_cache=false), not over the master's stream. */
  g_assert_cmpint (mitogen_self_run_get_int (run, 1, "bytes"), >, 1000000);
  wrote = mitogen_self_run_get_int (run, 1, "wchar");
  if (wrote >= 0)
    g_assert_cmpint (wrote, <, 65536);
  g_test_message ("via: the first context shipped %s bytes to the second; the master wrote %s bytes "
                  "meanwhile", mitogen_self_run_get (run, 1, "bytes"), mitogen_self_run_get (run, 1, "wchar"));
}

static void
test_via (void)
{
  g_autoptr(MitogenSelfRun) run = NULL;

  g_test_summary ("local -> (agent=self) -> local: the replicated first context ships its own "
                  "closure, from its own copy, to the second.");

  run = self_run ("local:agent=self,bootstrap=true,remote_name=selftest-via-a",
                  "local:agent=self,bootstrap=true,agent_cache=false,remote_name=selftest-via-b", NULL);
  check_via (run);
  assert_nothing_left ("selftest-via", run_dir);
}

static void
test_via_fast_path (void)
{
  g_autoptr(MitogenSelfRun) run = NULL;
  const char *first, *second;

  g_test_summary ("A replicated context's local child runs from its parent's files, through the "
                  "parent's loader (nothing shipped); that child ships onwards from there.");

  run = self_run ("local:agent=self,bootstrap=true,remote_name=selftest-fast-a",
                  "local:agent=self,remote_name=selftest-fast-b",
                  "local:agent=self,bootstrap=true,agent_cache=false,remote_name=selftest-fast-c", NULL);
  assert_ok (run, 3);
  first = strstr (mitogen_self_run_get (run, 0, "whoami"), ":exe=");
  second = strstr (mitogen_self_run_get (run, 1, "whoami"), ":exe=");
  g_assert_nonnull (first);
  g_assert_nonnull (strstr (first, "/.mitogen-run."));
  g_assert_cmpstr (first, ==, second);
  g_assert_cmpint (mitogen_self_run_get_int (run, 1, "bytes"), ==, 0);
  g_assert_cmpint (mitogen_self_run_get_int (run, 2, "bytes"), >, 1000000);
  assert_nothing_left ("selftest-fast-", run_dir);
}

static void
test_via_default_agent (void)
{
  g_autoptr(MitogenSelfRun) run = NULL;

  g_test_summary ("The router's default agent holds along a via chain.");

  run = self_run ("--default-agent", "self", "local:bootstrap=true,remote_name=selftest-dflt-a",
                  "local:bootstrap=true,agent_cache=false,remote_name=selftest-dflt-b", NULL);
  check_via (run);
  assert_nothing_left ("selftest-dflt", run_dir);
}

/* --- leaks ---------------------------------------------------------------------- */

static void
test_no_leaks (void)
{
  const char *env = g_getenv ("MITOGEN_TEST_CYCLES");
  guint cycles = env != NULL ? (guint) atoi (env) : 10;
  guint fds, threads, children;

  g_test_summary ("Closure connects (agent=dynamic, bootstrapped) leak no descriptors, threads, "
                  "processes or run directories.");

  {
    g_autoptr(MitogenRouter) router = mitogen_router_new ();
    g_autoptr(MitogenContext) context = connect_dynamic (router, "", NULL);

    g_assert_nonnull (context);
  }
  fds = mitogen_test_count_fds ();
  threads = mitogen_test_count_threads ();
  children = mitogen_test_count_children ();

  for (guint i = 0; i < cycles; i++)
    {
      MitogenRouter *router = mitogen_router_new ();
      g_autoptr(GError) error = NULL;
      MitogenContext *context = connect_dynamic (router, "", &error);
      g_autoptr(GVariant) value = NULL;

      g_assert_no_error (error);
      value = mitogen_context_call (context, "mitogen.noop", NULL, NULL, &error);
      g_assert_no_error (error);
      if (i % 2 == 0)
        g_assert_true (mitogen_context_shutdown (context, 5, NULL));
      g_object_unref (context);
      mitogen_router_shutdown (router);
      g_assert_finalize_object (router);
    }

  /* GLib's worker threads linger a little after use. */
  for (int i = 0; i < 100 && mitogen_test_count_threads () > threads; i++)
    g_usleep (10000);
  g_assert_cmpuint (mitogen_test_count_fds (), <=, fds);
  g_assert_cmpuint (mitogen_test_count_threads (), <=, threads);
  g_assert_cmpuint (mitogen_test_count_children (), <=, children);
  assert_nothing_left ("selftest-dynamic", run_dir);
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);

  base = g_dir_make_tmp ("mitogen-self.XXXXXX", NULL);
  g_assert_nonnull (base);
  home = g_build_filename (base, "home", NULL);
  run_dir = g_build_filename (base, "run", NULL);
  g_assert_cmpint (g_mkdir (home, 0700), ==, 0);
  g_assert_cmpint (g_mkdir (run_dir, 0700), ==, 0);
  /* For this process and every program it starts. */
  g_setenv ("HOME", home, TRUE);
  g_setenv ("XDG_RUNTIME_DIR", run_dir, TRUE);

  g_test_add_func ("/self/local/fast-path", test_local_fast_path);
  g_test_add_func ("/self/local/bootstrap", test_local_bootstrap);
  g_test_add_func ("/self/chroot/cold-warm", test_chroot);
  g_test_add_func ("/self/chroot/corrupt", test_chroot_corrupt);
  g_test_add_func ("/self/local/no-sha256sum", test_no_sha256sum);
  g_test_add_func ("/self/local/noexec-cache", test_noexec_cache);
  g_test_add_func ("/self/arch-mismatch", test_arch_mismatch);
  g_test_add_func ("/self/not-capable", test_not_capable);
  g_test_add_func ("/self/bad-agent", test_bad_agent);
  g_test_add_func ("/self/dynamic/local", test_dynamic_local);
  g_test_add_func ("/self/dynamic/chroot", test_dynamic_chroot);
  g_test_add_func ("/self/via", test_via);
  g_test_add_func ("/self/via/fast-path", test_via_fast_path);
  g_test_add_func ("/self/via/default-agent", test_via_default_agent);
  g_test_add_func ("/self/no-leaks", test_no_leaks);

  status = g_test_run ();
  mitogen_test_rm_rf (base);
  g_free (base);
  g_free (home);
  g_free (run_dir);
  return status;
}
