/* test-sudo.c — the sudo transport against the real sudo, with a password
 * that must be typed through the PTY.
 *
 * sudo never prompts root, so the master side of these tests runs as an
 * unprivileged user: each test runs in a g_test_trap_subprocess () child
 * that drops to SUDOER (setresuid) before it makes a router. The fixture
 * (made as root, once) is two users, SUDOER with a random password and
 * TARGET, and a sudoers drop-in letting SUDOER become TARGET or nobody
 * with SUDOER's password, with a lecture that says "Password:" before
 * every prompt. Tests that need more sudoers settings (requiretty,
 * use_pty, log_output, a cached-credential policy, a prompt that is not
 * ours) add a second drop-in, checked with visudo -cf, and remove it.
 *
 * Everything made here (users, drop-ins, timestamps, a temp dir) is
 * removed at the end, and by a guardian process if the test dies.
 *
 * Needs root and sudo (.ci/run installs it); skips otherwise.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "mitogen-test.h"
#include "host-fixture.h"

#define SUDOER        "mitogen-sudoer"
#define TARGET        "mitogen-sudotgt"
#define DROPIN        "/etc/sudoers.d/mitogen-test-sudo"
#define DROPIN_EXTRA  "/etc/sudoers.d/mitogen-test-sudo-extra"
#define TIMESTAMP     "/run/sudo/ts/" SUDOER

static const char *skip_reason;  /* NULL: the fixture is up */
static char *fixture_dir;        /* (owned) root's temp dir: lecture, I/O logs */
static char *password;           /* SUDOER's, random; children read MITOGEN_TEST_SUDO_PW */
static GPid guardian_pid;
static int guardian_pipe = -1;

/* --- fixture (parent, as root) ---------------------------------------------- */

static gboolean
run_quiet (const char * const *argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error))
    {
      g_test_message ("%s: %s", argv[0], error->message);
      return FALSE;
    }
  if (!g_spawn_check_wait_status (status, NULL))
    {
      g_test_message ("%s failed: %s%s", argv[0], out, err);
      return FALSE;
    }
  return TRUE;
}
#define RUN(...) run_quiet ((const char * const[]) { __VA_ARGS__, NULL })

static void
guardian_setup (gpointer data)
{
  /* Out of the test's session: a signal to the test's group spares it. */
  setsid ();
}

/* What undoes the fixture; run by the guardian when our end of its pipe
 * closes (normal exit, a failed assertion, a timeout kill). */
static char *
cleanup_script (void)
{
  return g_strdup_printf ("exec >/dev/null 2>&1; cat; "
                          "rm -f " DROPIN " " DROPIN_EXTRA " " TIMESTAMP "; "
                          "for u in " SUDOER " " TARGET "; do "
                          "  for i in 1 2 3 4 5; do userdel -f \"$u\" && break; "
                          "    getent passwd \"$u\" >/dev/null || break; sleep 1; done; "
                          "done; rm -rf '%s'", fixture_dir);
}

static void
start_guardian (void)
{
  g_autofree char *script = cleanup_script ();
  const char *argv[] = { "/bin/sh", "-c", script, "mitogen-test-sudo-guardian", NULL };
  g_autoptr(GError) error = NULL;
  int fds[2];

  g_assert_true (g_unix_open_pipe (fds, FD_CLOEXEC, &error));
  g_assert_true (g_spawn_async_with_pipes_and_fds (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                                   guardian_setup, NULL, fds[0], -1, -1,
                                                   NULL, NULL, 0, &guardian_pid, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  close (fds[0]);
  guardian_pipe = fds[1];
}

static void
stop_guardian (void)
{
  int status;

  if (guardian_pipe < 0)
    return;
  close (guardian_pipe);
  guardian_pipe = -1;
  while (waitpid (guardian_pid, &status, 0) < 0 && errno == EINTR)
    ;
}

static gboolean
write_dropin (const char *path,
              const char *text)
{
  g_autofree char *tmp = g_build_filename (fixture_dir, "sudoers.check", NULL);
  g_autoptr(GError) error = NULL;

  if (!g_file_set_contents (tmp, text, -1, &error))
    {
      g_test_message ("%s", error->message);
      return FALSE;
    }
  chmod (tmp, 0440);
  if (!RUN ("visudo", "-cf", tmp))
    return FALSE;
  return RUN ("install", "-m", "0440", "-o", "root", "-g", "root", tmp, path);
}

/* NULL if the fixture is up, else why not. */
static const char *
set_up_fixture (void)
{
  g_autofree char *lecture = NULL;
  g_autofree char *sudoers = NULL;
  g_autofree char *chpasswd = NULL;
  g_autofree char *sudo = g_find_program_in_path ("sudo");

  if (getuid () != 0)
    return "needs root (test users, sudoers)";
  if (sudo == NULL || !g_file_test ("/etc/sudoers.d", G_FILE_TEST_IS_DIR))
    return "sudo is not installed (apt-get install sudo)";
  {
    g_autofree char *visudo = g_find_program_in_path ("visudo");
    g_autofree char *useradd = g_find_program_in_path ("useradd");

    if (visudo == NULL || useradd == NULL)
      return "visudo or useradd is missing";
  }

  fixture_dir = g_dir_make_tmp ("mitogen-sudo-XXXXXX", NULL);
  g_assert_nonnull (fixture_dir);
  chmod (fixture_dir, 0755);
  start_guardian ();

  password = g_strdup_printf ("Pw-%08x-%08x", g_random_int (), g_random_int ());
  g_setenv ("MITOGEN_TEST_SUDO_PW", password, TRUE);

  /* Leftovers of a run that could not clean up. */
  if (getpwnam (SUDOER) != NULL)
    RUN ("userdel", "-f", SUDOER);
  if (getpwnam (TARGET) != NULL)
    RUN ("userdel", "-f", TARGET);
  if (!RUN ("useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", "-c", "Mitogen sudo test (master)", SUDOER) ||
      !RUN ("useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", "-c", "Mitogen sudo test (target)", TARGET))
    return "useradd failed";
  chpasswd = g_strdup_printf ("%s:%s", SUDOER, password);
  if (!RUN ("sh", "-c", "printf '%s\\n' \"$1\" | chpasswd", "sh", chpasswd))
    return "chpasswd failed";

  /* The lecture comes before every prompt and says "Password:": text
   * before the prompt must not be taken for it. */
  lecture = g_build_filename (fixture_dir, "lecture", NULL);
  g_assert_true (g_file_set_contents (lecture, "Mitogen test lecture. Password: (not the prompt)\n", -1, NULL));
  chmod (lecture, 0644);
  sudoers = g_strdup_printf ("Defaults:" SUDOER " lecture=always, lecture_file=\"%s\"\n"
                             SUDOER " ALL=(" TARGET ",nobody) ALL\n", lecture);
  if (!write_dropin (DROPIN, sudoers))
    return "cannot install the sudoers drop-in";
  return NULL;
}

static void
tear_down_fixture (void)
{
  /* The guardian does it all, now. */
  stop_guardian ();
}

/* Processes running as @user, from /proc. */
static guint
count_processes_of (const char *user)
{
  struct passwd *pw = getpwnam (user);
  g_autoptr(GDir) dir = g_dir_open ("/proc", 0, NULL);
  const char *name;
  guint n = 0;

  g_assert_nonnull (pw);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *text = NULL;
      const char *uid;

      if (!g_ascii_isdigit (name[0]))
        continue;
      path = g_strdup_printf ("/proc/%s/status", name);
      if (!g_file_get_contents (path, &text, NULL, NULL) || (uid = strstr (text, "\nUid:")) == NULL)
        continue;
      if ((uid_t) atoi (uid + 5) == pw->pw_uid && strstr (text, "\nState:\tZ") == NULL)
        n++;
    }
  return n;
}

/* Nothing is left running as @user (waits a little: exits are async). */
static void
assert_nothing_left (const char *user)
{
  for (int i = 0; i < 100 && count_processes_of (user) > 0; i++)
    g_usleep (50 * 1000);
  g_assert_cmpuint (count_processes_of (user), ==, 0);
}

/* Runs the current test's body in a child that has become SUDOER. */
static void
run_as_sudoer (void)
{
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  assert_nothing_left (TARGET);
}

/* --- the child's side ----------------------------------------------------------- */

static void
become_sudoer (void)
{
  struct passwd *pw = getpwnam (SUDOER);
  g_auto(GStrv) methods = NULL;

  g_assert_nonnull (pw);
  /* Plugins are found and loaded while we can still read the build tree
   * (a CI checkout may sit where SUDOER cannot). */
  methods = mitogen_transport_list_methods ();
  g_assert_true (g_strv_contains ((const char * const *) methods, "sudo"));
  g_assert_cmpint (setgroups (0, NULL), ==, 0);
  g_assert_cmpint (setresgid (pw->pw_gid, pw->pw_gid, pw->pw_gid), ==, 0);
  g_assert_cmpint (setresuid (pw->pw_uid, pw->pw_uid, pw->pw_uid), ==, 0);
  g_assert_cmpint (chdir ("/"), ==, 0);
}

static GVariant *
sudo_options (const char *user,
              const char *pw,
              double      timeout)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (user != NULL)
    g_variant_builder_add (&b, "{sv}", "username", g_variant_new_string (user));
  if (pw != NULL)
    g_variant_builder_add (&b, "{sv}", "password", g_variant_new_string (pw));
  g_variant_builder_add (&b, "{sv}", "connect_timeout", g_variant_new_double (timeout));
  return g_variant_builder_end (&b);
}

static const char *
the_password (void)
{
  const char *pw = g_getenv ("MITOGEN_TEST_SUDO_PW");

  g_assert_nonnull (pw);
  return pw;
}

static void
assert_uid (MitogenContext *context,
            const char     *user)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) uid = mitogen_context_call (context, "os.getuid", NULL, NULL, &error);
  struct passwd *pw = getpwnam (user);

  g_assert_no_error (error);
  g_assert_nonnull (pw);
  g_assert_cmpuint (g_variant_get_uint32 (uid), ==, pw->pw_uid);
}

/* Connects as SUDOER to @user with the right password, calls, shuts down. */
static void
connect_and_call (const char *user)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;

  context = mitogen_router_connect (router, "sudo", sudo_options (user, the_password (), 30), NULL, NULL, &error);
  g_assert_no_error (error);
  assert_uid (context, user);
  g_clear_object (&context);
  mitogen_router_shutdown (router);
}

/* --- tests ---------------------------------------------------------------------- */

static gboolean
skipped (void)
{
  if (skip_reason != NULL)
    {
      g_test_skip (skip_reason);
      return TRUE;
    }
  return FALSE;
}

static void
test_password_correct (void)
{
  g_test_summary ("The password is typed at sudo's prompt through the PTY (after a lecture "
                  "that says 'Password:'), and the context runs as the target user.");
  if (skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) pid = NULL;

      become_sudoer ();
      router = mitogen_router_new ();
      context = mitogen_router_connect (router, "sudo", sudo_options (TARGET, the_password (), 30),
                                        NULL, NULL, &error);
      g_assert_no_error (error);
      assert_uid (context, TARGET);
      /* The shipped agent runs from a file it removed. */
      pid = mitogen_context_call (context, "os.getpid", NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (g_variant_get_int64 (pid), !=, getpid ());
      g_clear_object (&context);
      mitogen_router_shutdown (router);
      return;
    }
  run_as_sudoer ();
}

static void
test_password_incorrect (void)
{
  g_test_summary ("A wrong password is MITOGEN_ERROR_PASSWORD as soon as sudo rejects it, "
                  "well before connect_timeout, and sudo is gone.");
  if (skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(GError) error = NULL;
      gint64 start;

      become_sudoer ();
      router = mitogen_router_new ();
      start = g_get_monotonic_time ();
      context = mitogen_router_connect (router, "sudo", sudo_options (TARGET, "not-the-password", 30),
                                        NULL, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_assert_nonnull (strstr (error->message, "incorrect"));
      g_assert_null (strstr (error->message, "not-the-password"));
      /* pam_unix waits ~2 s before it says no; the limit is 30 s. */
      g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * G_USEC_PER_SEC);
      g_assert_null (context);
      mitogen_router_shutdown (router);
      return;
    }
  run_as_sudoer ();
}

static void
test_password_missing (void)
{
  g_test_summary ("A prompt without a password option is MITOGEN_ERROR_PASSWORD at once.");
  if (skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(GError) error = NULL;
      gint64 start;

      become_sudoer ();
      router = mitogen_router_new ();
      start = g_get_monotonic_time ();
      context = mitogen_router_connect (router, "sudo", sudo_options (TARGET, NULL, 30), NULL, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_assert_nonnull (strstr (error->message, "required"));
      g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
      mitogen_router_shutdown (router);
      return;
    }
  run_as_sudoer ();
}

static void
test_cached (void)
{
  g_test_summary ("With cached credentials a second sudo within the timestamp timeout needs "
                  "no password: no prompt, no error.");
  if (skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) first = NULL;
      g_autoptr(MitogenContext) second = NULL;
      g_autoptr(GError) error = NULL;

      become_sudoer ();
      router = mitogen_router_new ();
      /* Not cached yet: a prompt, and we have no password. */
      first = mitogen_router_connect (router, "sudo", sudo_options (TARGET, NULL, 30), NULL, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_clear_error (&error);

      first = mitogen_router_connect (router, "sudo", sudo_options (TARGET, the_password (), 30), NULL, NULL, &error);
      g_assert_no_error (error);
      second = mitogen_router_connect (router, "sudo", sudo_options (TARGET, NULL, 30), NULL, NULL, &error);
      g_assert_no_error (error);
      assert_uid (second, TARGET);
      assert_uid (first, TARGET);
      g_clear_object (&first);
      g_clear_object (&second);
      mitogen_router_shutdown (router);
      return;
    }
  /* Each context gets a terminal and a session of its own, so sudo's
   * default per-terminal records (and per-parent ones, which sudo also
   * ties to the session) never match a later connect: cached credentials
   * need timestamp_type=global. */
  g_unlink (TIMESTAMP);
  g_assert_true (write_dropin (DROPIN_EXTRA, "Defaults:" SUDOER " timestamp_type=global\n"));
  run_as_sudoer ();
  g_assert_cmpint (g_unlink (DROPIN_EXTRA), ==, 0);
  g_unlink (TIMESTAMP);
}

typedef struct
{
  const char *path;
  const char *defaults;  /* one Defaults line, without its newline */
  gboolean    iolog;     /* ... to which an iolog_dir in the fixture dir is added */
  const char *summary;
} DefaultsCase;

static const DefaultsCase defaults_cases[] = {
  { "/sudo/defaults/requiretty", "Defaults:" SUDOER " requiretty", FALSE,
    "Defaults requiretty: the PTY is the controlling terminal, so sudo finds one." },
  { "/sudo/defaults/use-pty", "Defaults:" SUDOER " use_pty", FALSE,
    "Defaults use_pty: sudo runs the context on a PTY of its own and relays our pipes." },
  { "/sudo/defaults/log-output", "Defaults:" SUDOER " log_output, log_input", TRUE,
    "Defaults log_output (and log_input): sudo relays and records the stream; two plain pipes "
    "survive that." },
};

static void
test_defaults (gconstpointer data)
{
  const DefaultsCase *tc = data;
  g_autofree char *text = NULL;

  g_test_summary (tc->summary);
  if (skipped ())
    return;
  if (g_test_subprocess ())
    {
      become_sudoer ();
      connect_and_call (TARGET);
      return;
    }
  if (tc->iolog)
    text = g_strdup_printf ("%s, iolog_dir=\"%s/iolog\"\n", tc->defaults, fixture_dir);
  else
    text = g_strdup_printf ("%s\n", tc->defaults);
  g_assert_true (write_dropin (DROPIN_EXTRA, text));
  run_as_sudoer ();
  g_assert_cmpint (g_unlink (DROPIN_EXTRA), ==, 0);
  if (tc->iolog)
    {
      /* sudo did record the session. */
      g_autofree char *iolog = g_build_filename (fixture_dir, "iolog", NULL);
      g_autoptr(GDir) dir = g_dir_open (iolog, 0, NULL);

      g_assert_nonnull (dir);
      g_assert_nonnull (g_dir_read_name (dir));
    }
}

static void
test_nobody (void)
{
  g_test_summary ("sudo to nobody (no home, nologin shell): the context runs as nobody.");
  if (skipped ())
    return;
  if (g_test_subprocess ())
    {
      become_sudoer ();
      connect_and_call ("nobody");
      return;
    }
  run_as_sudoer ();
}

static void
test_via (void)
{
  g_test_summary ("sudo through a local context: the intermediate's agent runs sudo with its "
                  "compiled-in transport, types the password, and a wrong one is still a "
                  "PASSWORD error here.");
  if (skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) local = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(GError) error = NULL;

      become_sudoer ();
      router = mitogen_router_new ();
      local = mitogen_router_local (router, NULL, NULL, &error);
      g_assert_no_error (error);
      assert_uid (local, SUDOER);

      context = mitogen_router_connect (router, "sudo", sudo_options (TARGET, the_password (), 30),
                                        local, NULL, &error);
      g_assert_no_error (error);
      assert_uid (context, TARGET);
      g_clear_object (&context);

      context = mitogen_router_connect (router, "sudo", sudo_options (TARGET, "wrong", 30), local, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_clear_error (&error);
      context = mitogen_router_connect (router, "sudo", sudo_options (TARGET, NULL, 30), local, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_clear_object (&local);
      mitogen_router_shutdown (router);
      return;
    }
  run_as_sudoer ();
}

/* The context's pid, uid and user name are its agent's, as the agent
 * reports itself through calls; and that pid is a process of @user here. */
static void
assert_identity (MitogenContext *context,
                 const char     *user)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) pid = mitogen_context_call (context, "os.getpid", NULL, NULL, &error);
  g_autoptr(GVariant) uid = NULL;
  g_autofree char *status_path = NULL;
  g_autofree char *status = NULL;
  g_autofree char *uid_line = NULL;

  g_assert_no_error (error);
  uid = mitogen_context_call (context, "os.getuid", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (mitogen_context_get_pid (context), >, 0);
  g_assert_cmpint (mitogen_context_get_pid (context), ==, g_variant_get_int64 (pid));
  g_assert_cmpint (mitogen_context_get_uid (context), ==, g_variant_get_uint32 (uid));
  g_assert_cmpint (mitogen_context_get_uid (context), ==, getpwnam (user)->pw_uid);
  g_assert_cmpstr (mitogen_context_get_user_name (context), ==, user);

  status_path = g_strdup_printf ("/proc/%d/status", (int) mitogen_context_get_pid (context));
  g_assert_true (g_file_get_contents (status_path, &status, NULL, NULL));
  uid_line = g_strdup_printf ("\nUid:\t%u\t", (guint) getpwnam (user)->pw_uid);
  g_assert_nonnull (strstr (status, uid_line));
}

/* The name of process @pid (its comm). */
static char *
process_name (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/comm", (int) pid);
  char *text = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  return g_strstrip (text);
}

static void
test_identity (void)
{
  g_test_summary ("A sudo context's pid is its agent's (what os.getpid says there), not sudo's; "
                  "its uid and user name are the target user's; the same for a local context, "
                  "for sudo through a local context, and for a local context through sudo.");
  if (skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) local = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(MitogenContext) inner = NULL;
      g_autoptr(MitogenStream) stream = NULL;
      g_autofree char *started = NULL;
      g_autoptr(GError) error = NULL;

      become_sudoer ();
      router = mitogen_router_new ();

      context = mitogen_router_connect (router, "sudo", sudo_options (TARGET, the_password (), 30),
                                        NULL, NULL, &error);
      g_assert_no_error (error);
      assert_identity (context, TARGET);
      /* What the transport started is sudo, another process. */
      stream = mitogen_router_stream_by_id (router, mitogen_context_get_id (context));
      g_assert_nonnull (stream);
      g_assert_cmpint (mitogen_stream_get_pid (stream), >, 0);
      g_assert_cmpint (mitogen_stream_get_pid (stream), !=, mitogen_context_get_pid (context));
      started = process_name (mitogen_stream_get_pid (stream));
      g_assert_cmpstr (started, ==, "sudo");

      /* A local context through sudo: relayed by the sudo context. */
      inner = mitogen_router_connect (router, "local", NULL, context, NULL, &error);
      g_assert_no_error (error);
      assert_identity (inner, TARGET);
      g_clear_object (&inner);
      g_clear_object (&context);

      local = mitogen_router_local (router, NULL, NULL, &error);
      g_assert_no_error (error);
      assert_identity (local, SUDOER);
      /* sudo through a local context: its agent ran sudo. */
      context = mitogen_router_connect (router, "sudo", sudo_options (TARGET, the_password (), 30),
                                        local, NULL, &error);
      g_assert_no_error (error);
      assert_identity (context, TARGET);
      g_clear_object (&context);
      g_clear_object (&local);
      mitogen_router_shutdown (router);
      return;
    }
  run_as_sudoer ();
}

static void
test_not_allowed (void)
{
  g_test_summary ("sudo refusing the command after a good password is MITOGEN_ERROR_STREAM "
                  "quoting sudo.");
  if (skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(GError) error = NULL;

      become_sudoer ();
      router = mitogen_router_new ();
      context = mitogen_router_connect (router, "sudo", sudo_options ("root", the_password (), 30),
                                        NULL, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
      g_assert_nonnull (strstr (error->message, "not allowed"));
      mitogen_router_shutdown (router);
      return;
    }
  run_as_sudoer ();
}

static void
test_foreign_prompt (void)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *fake = NULL;
  GVariantBuilder b;
  gint64 start;

  g_test_summary ("A prompt that is not ours (a PAM module's own, say) is never answered: "
                  "the connect ends with MITOGEN_ERROR_TIMEOUT quoting it, before the "
                  "core's connect_timeout.");
  if (skipped ())
    return;
  /* A stand-in for sudo that asks on its terminal and waits. */
  fake = g_build_filename (fixture_dir, "fake-sudo", NULL);
  g_assert_true (g_file_set_contents (fake, "#!/bin/sh\nprintf 'Secret word: ' >&2\nexec sleep 60\n", -1, NULL));
  chmod (fake, 0755);

  router = mitogen_router_new ();
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "sudo_path", g_variant_new_string (fake));
  g_variant_builder_add (&b, "{sv}", "password", g_variant_new_string ("secret"));
  g_variant_builder_add (&b, "{sv}", "connect_timeout", g_variant_new_double (1.0));
  start = g_get_monotonic_time ();
  context = mitogen_router_connect (router, "sudo", g_variant_builder_end (&b), NULL, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "Secret word"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
  mitogen_router_shutdown (router);
}

/* A stand-in for sudo: takes -p PROMPT ... -- COMMAND, prints a lecture
 * that says "Password:", then the prompt in two writes 0.2 s apart, and
 * reads the answer from /dev/tty (so it needs the controlling terminal);
 * "secret" runs COMMAND, anything else is answered as sudo does. */
static const char fake_sudo_script[] =
  "#!/bin/sh\n"
  "prompt=\n"
  "while [ $# -gt 0 ]; do\n"
  "  case $1 in\n"
  "    -p) prompt=$2; shift 2 ;;\n"
  "    --) shift; break ;;\n"
  "    *) shift ;;\n"
  "  esac\n"
  "done\n"
  "half=$(( ${#prompt} / 2 ))\n"
  "first=$(printf '%s' \"$prompt\" | cut -c1-$half)\n"
  "rest=$(printf '%s' \"$prompt\" | cut -c$((half + 1))-)\n"
  "printf 'Lecture. Password: is not the prompt\\n' > /dev/tty\n"
  "printf '%s' \"$first\" > /dev/tty\n"
  "sleep 0.2\n"
  "printf '%s' \"$rest\" > /dev/tty\n"
  "read -r answer < /dev/tty\n"
  "if [ \"$answer\" != secret ]; then\n"
  "  printf 'Sorry, try again.\\n%s' \"$prompt\" > /dev/tty\n"
  "  sleep 10\n"
  "  exit 1\n"
  "fi\n"
  "exec \"$@\"\n";

static void
test_split_prompt (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("mitogen-fake-sudo-XXXXXX", NULL);
  g_autofree char *fake = g_build_filename (dir, "sudo", NULL);
  g_autoptr(GVariant) uid = NULL;
  gint64 start;

  g_test_summary ("The prompt is found when it arrives split across reads after text that "
                  "says 'Password:'; the password is read from the controlling terminal; a "
                  "second prompt after a wrong one is MITOGEN_ERROR_PASSWORD at once. (A "
                  "stand-in for sudo: needs neither root nor sudo.)");
  g_assert_true (g_file_set_contents (fake, fake_sudo_script, -1, NULL));
  g_assert_cmpint (chmod (fake, 0755), ==, 0);

  context = mitogen_router_connect (router, "sudo",
                                    g_variant_new_parsed ("{'sudo_path': <%s>, 'password': <'secret'>}", fake),
                                    NULL, NULL, &error);
  g_assert_no_error (error);
  uid = mitogen_context_call (context, "os.getuid", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_get_uint32 (uid), ==, getuid ());
  g_clear_object (&context);

  start = g_get_monotonic_time ();
  context = mitogen_router_connect (router, "sudo",
                                    g_variant_new_parsed ("{'sudo_path': <%s>, 'password': <'wrong'>}", fake),
                                    NULL, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
  g_assert_nonnull (strstr (error->message, "incorrect"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  g_clear_error (&error);

  context = mitogen_router_connect (router, "sudo", g_variant_new_parsed ("{'sudo_path': <%s>}", fake),
                                    NULL, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
  g_assert_nonnull (strstr (error->message, "required"));
  mitogen_router_shutdown (router);

  g_assert_cmpint (g_unlink (fake), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
test_as_root (void)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("As root sudo does not prompt: a password given is simply not used.");
  if (skipped ())
    return;
  router = mitogen_router_new ();
  context = mitogen_router_connect (router, "sudo", sudo_options (TARGET, "unused", 30), NULL, NULL, &error);
  g_assert_no_error (error);
  assert_uid (context, TARGET);
  g_clear_object (&context);
  context = mitogen_router_connect (router, "sudo", sudo_options (NULL, NULL, 30), NULL, NULL, &error);
  g_assert_no_error (error);
  assert_uid (context, "root");
  g_clear_object (&context);
  mitogen_router_shutdown (router);
  assert_nothing_left (TARGET);
}

/* @path with its links resolved. */
static char *
realpath_of (const char *path)
{
  char *resolved = realpath (path, NULL);

  g_assert_nonnull (resolved);
  return resolved;
}

/* The program the context runs, as its kernel sees it. */
static char *
context_exe (MitogenContext *context)
{
  g_autoptr(GError) error = NULL;
  const char *argv[] = { "sh", "-c", "readlink /proc/$PPID/exe", NULL };
  g_autoptr(GVariant) out = mitogen_context_call (context, "subprocess.check_output",
                                                  g_variant_new ("(^as)", argv), NULL, &error);

  g_assert_no_error (error);
  return g_strstrip (g_strndup (g_variant_get_data (out), g_variant_get_size (out)));
}

static void
test_agent_by_path (void)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *exe = NULL;

  g_test_summary ("sudo is the same machine: by default stage 1 runs our own agent by its path when "
                  "the target user may (nothing shipped), and ships it when it may not");
  if (skipped ())
    return;

  if (g_test_subprocess ())
    {
      /* Our agent behind a directory only root may enter. */
      g_autofree char *dir = g_dir_make_tmp ("mitogen-private-XXXXXX", &error);
      const char *suffixes[] = { "", ".gz", ".zst", ".xz", ".sha256" };
      const char *public = g_getenv ("MITOGEN_AGENT_PATH");
      g_autofree char *private = NULL;

      g_assert_no_error (error);
      g_assert_nonnull (public);
      g_assert_cmpint (chmod (dir, 0700), ==, 0);
      private = g_build_filename (dir, "mitogen-agent", NULL);
      for (gsize i = 0; i < G_N_ELEMENTS (suffixes); i++)
        {
          g_autofree char *from = g_strconcat (public, suffixes[i], NULL);
          g_autofree char *to = g_strconcat (private, suffixes[i], NULL);

          if (g_file_test (from, G_FILE_TEST_EXISTS))
            g_assert_cmpint (symlink (from, to), ==, 0);
        }
      g_setenv ("MITOGEN_AGENT_PATH", private, TRUE);

      router = mitogen_router_new ();
      /* root may: our own program, by the path we gave. */
      context = mitogen_router_connect (router, "sudo", sudo_options (NULL, NULL, 30), NULL, NULL, &error);
      g_assert_no_error (error);
      exe = context_exe (context);
      {
        g_autofree char *expected = realpath_of (private);

        g_assert_cmpstr (exe, ==, expected);
      }
      g_clear_object (&context);
      g_clear_pointer (&exe, g_free);

      /* TARGET may not enter the directory: shipped, run from a file of its
       * own that is deleted once running. */
      context = mitogen_router_connect (router, "sudo", sudo_options (TARGET, NULL, 30), NULL, NULL, &error);
      g_assert_no_error (error);
      assert_uid (context, TARGET);
      exe = context_exe (context);
      g_assert_true (strstr (exe, ".mitogen-agent.") != NULL && g_str_has_suffix (exe, " (deleted)"));
      g_clear_object (&context);
      mitogen_router_shutdown (router);

      for (gsize i = 0; i < G_N_ELEMENTS (suffixes); i++)
        {
          g_autofree char *link = g_strconcat (private, suffixes[i], NULL);
          g_unlink (link);
        }
      g_rmdir (dir);
      return;
    }
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  assert_nothing_left (TARGET);
}

typedef struct
{
  const char  *args[4];
  const char  *user;         /* the username option, or NULL */
  int          expected;     /* -1: connects */
  const char  *in_message;   /* (nullable) */
} ArgsCase;

static const ArgsCase args_cases[] = {
  { { "-S", NULL }, NULL, MITOGEN_ERROR_INVALID_ARGUMENT, "'-S'" },
  { { "-HS", NULL }, NULL, MITOGEN_ERROR_INVALID_ARGUMENT, "'-S'" },
  { { "--stdin", NULL }, NULL, MITOGEN_ERROR_INVALID_ARGUMENT, "'--stdin'" },
  { { "-p", "x", NULL }, NULL, MITOGEN_ERROR_INVALID_ARGUMENT, "'-p'" },
  { { "-X", NULL }, NULL, MITOGEN_ERROR_INVALID_ARGUMENT, "unsupported sudo flag '-X'" },
  { { "--bogus", NULL }, NULL, MITOGEN_ERROR_INVALID_ARGUMENT, "'--bogus'" },
  { { "id", NULL }, NULL, MITOGEN_ERROR_INVALID_ARGUMENT, "'id'" },
  { { "-u", NULL }, NULL, MITOGEN_ERROR_INVALID_ARGUMENT, "needs a value" },
  { { "-u", "nobody", NULL }, TARGET, MITOGEN_ERROR_INVALID_ARGUMENT, "disagree" },
  { { "-HE", "-u", TARGET, NULL }, NULL, -1, NULL },
  { { "--user=" TARGET, "--set-home", "--preserve-env=PATH", NULL }, NULL, -1, NULL },
  { { "-n", NULL }, TARGET, -1, NULL },
};

static void
test_sudo_args (void)
{
  g_autoptr(MitogenRouter) router = NULL;

  g_test_summary ("sudo_args is checked: only flags that make sense for a context pass; "
                  "-S, -p and unknown flags are MITOGEN_ERROR_INVALID_ARGUMENT naming them; "
                  "-u there sets the user.");
  if (skipped ())
    return;
  router = mitogen_router_new ();
  for (gsize i = 0; i < G_N_ELEMENTS (args_cases); i++)
    {
      const ArgsCase *tc = &args_cases[i];
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(GError) error = NULL;
      GVariantBuilder b;

      g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&b, "{sv}", "sudo_args", g_variant_new_strv (tc->args, -1));
      if (tc->user != NULL)
        g_variant_builder_add (&b, "{sv}", "username", g_variant_new_string (tc->user));
      context = mitogen_router_connect (router, "sudo", g_variant_builder_end (&b), NULL, NULL, &error);
      if (tc->expected < 0)
        {
          g_assert_no_error (error);
          assert_uid (context, TARGET);
          continue;
        }
      g_assert_error (error, MITOGEN_ERROR, tc->expected);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, tc->in_message));
    }
  mitogen_router_shutdown (router);
}

static void
test_options (void)
{
  g_autoptr(MitogenTransport) transport = NULL;
  g_autoptr(GError) error = NULL;
  GParamSpec *pspec;
  const char *names[] = { "username", "sudo-path", "password", "preserve-env", "set-home", "login",
                          "selinux-role", "selinux-type", "sudo-args" };
  g_autofree char *user = NULL;

  g_test_summary ("The sudo method's options are properties with descriptions; the password "
                  "cannot be read back; username defaults to root.");
  transport = mitogen_transport_new_for_method ("sudo", NULL, &error);
  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (transport), names[i]);
      g_assert_nonnull (pspec);
      g_assert_nonnull (g_param_spec_get_blurb (pspec));
    }
  pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (transport), "password");
  g_assert_false (pspec->flags & G_PARAM_READABLE);
  g_object_get (transport, "username", &user, NULL);
  g_assert_cmpstr (user, ==, "root");
  g_assert_true (mitogen_transport_get_bootstrap (transport));

  g_clear_object (&transport);
  transport = mitogen_transport_new_for_method ("sudo", g_variant_new_parsed ("{'preserve_env': <1>}"), &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
}

/* A program's own functions in a sudo context as another user: the
 * example ships (or, where the target user may read it, runs) itself. */
static void
test_self_replicate (void)
{
  g_autofree char *target = g_strdup_printf ("sudo:username=%s", TARGET);
  g_autofree char *out = NULL, *expect_uid = NULL;
  struct passwd *pw;
  int status;

  g_test_summary ("docs/examples/self-replicate runs its own demo.* functions in a sudo "
                  "context as another user (agent=self), and leaves nothing running.");
  if (skipped ())
    return;

  out = host_run_self_example ((const char *[]) { target, NULL }, &status);
  g_test_message ("%s", out);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "demo.add(2, 3) = 5"));
  pw = getpwnam (TARGET);
  g_assert_nonnull (pw);
  expect_uid = g_strdup_printf (" uid %u,", (unsigned) pw->pw_uid);
  g_assert_nonnull (strstr (out, expect_uid));
  assert_nothing_left (TARGET);
}

int
main (int   argc,
      char *argv[])
{
  HostSshd *agent_holder = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);

  if (!g_test_subprocess ())
    {
      skip_reason = set_up_fixture ();
      /* The master side runs as SUDOER, who may not reach the build
       * tree: give it a copy of the agent (and its images). */
      if (skip_reason == NULL && g_getenv ("MITOGEN_AGENT_PATH") == NULL)
        {
          g_autoptr(GError) error = NULL;
          g_autofree char *agent = g_build_filename (MITOGEN_BUILD_ROOT, "agent", "mitogen-agent", NULL);
          g_autofree char *copy = host_fixture_public_agent (agent, &agent_holder, &error);

          g_assert_no_error (error);
          g_setenv ("MITOGEN_AGENT_PATH", copy, TRUE);
        }
    }

  g_test_add_func ("/sudo/options", test_options);
  g_test_add_func ("/sudo/sudo-args", test_sudo_args);
  g_test_add_func ("/sudo/as-root", test_as_root);
  g_test_add_func ("/sudo/agent-by-path", test_agent_by_path);
  g_test_add_func ("/sudo/password/correct", test_password_correct);
  g_test_add_func ("/sudo/password/incorrect", test_password_incorrect);
  g_test_add_func ("/sudo/password/missing", test_password_missing);
  g_test_add_func ("/sudo/password/cached", test_cached);
  for (gsize i = 0; i < G_N_ELEMENTS (defaults_cases); i++)
    g_test_add_data_func (defaults_cases[i].path, &defaults_cases[i], test_defaults);
  g_test_add_func ("/sudo/nobody", test_nobody);
  g_test_add_func ("/sudo/via-local", test_via);
  g_test_add_func ("/sudo/identity", test_identity);
  g_test_add_func ("/sudo/self-replicate", test_self_replicate);
  g_test_add_func ("/sudo/failure/not-allowed", test_not_allowed);
  g_test_add_func ("/sudo/failure/foreign-prompt", test_foreign_prompt);
  g_test_add_func ("/sudo/fake/split-prompt", test_split_prompt);

  status = g_test_run ();
  if (!g_test_subprocess ())
    {
      host_sshd_stop (agent_holder);
      tear_down_fixture ();
    }
  return status;
}
