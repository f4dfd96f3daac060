/* test-become.c — the su, doas, pkexec and setns methods against the real
 * programs: util-linux su and opendoas with passwords typed through the
 * PTY (or stdin, su), polkit's pkexec with a private system bus and
 * polkitd, nsenter into a netns and into a process's namespaces.
 *
 * su and doas never ask root, so those tests run in a
 * g_test_trap_subprocess () child that drops to BECOMER (setresuid)
 * before it makes a router. The fixture (made as root, once): two users
 * with random passwords, BECOMER and TARGET, and an /etc/doas.conf
 * (BECOMER may become TARGET with its password, nobody without one). The
 * setns tests run as root: a named netns (`ip netns add`) and a process
 * in namespaces of its own (`unshare`) made by the test.
 *
 * Everything made here (users, doas.conf, the netns, processes, temp
 * dirs) is removed at the end, and by a guardian process if the test
 * dies; a doas.conf that was there before is put back.
 *
 * Needs root, su, doas (opendoas), nsenter, ip (.ci/run installs them);
 * the parts whose program is missing skip, saying which.
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
#include <gio/gio.h>

#include "mitogen-test.h"
#include "host-fixture.h"

#define BECOMER   "mitogen-becomer"
#define TARGET    "mitogen-becometgt"
#define DOAS_CONF "/etc/doas.conf"
#define DOAS_KEEP "/etc/doas.conf.mitogen-test-saved"
#define POLKIT_RULES "/etc/polkit-1/rules.d/00-mitogen-test-become.rules"
#define SYSTEM_BUS_SOCKET "/run/dbus/system_bus_socket"
#define POLKITD "/usr/lib/polkit-1/polkitd"

static const char *skip_reason;  /* NULL: the users are there */
static char *fixture_dir;        /* (owned) */
static char *netns_name;         /* (owned) */
static GPid guardian_pid;
static int guardian_pipe = -1;
static char *polkit_skip;        /* (owned) NULL: pkexec can be tested */
static GPid bus_pid;             /* the system bus we started, or 0 */
static GPid polkitd_pid;         /* the polkitd we started, or 0 */

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
  setsid ();
}

static void
start_guardian (void)
{
  g_autofree char *script =
    g_strdup_printf ("exec >/dev/null 2>&1; cat; "
                     "for f in polkitd.pid bus.pid; do [ -f '%s'/$f ] && kill \"$(cat '%s'/$f)\"; done; "
                     "[ -f '%s'/own-socket ] && rm -f " SYSTEM_BUS_SOCKET "; rm -f " POLKIT_RULES "; "
                     "if [ -e " DOAS_KEEP " ]; then mv -f " DOAS_KEEP " " DOAS_CONF "; else rm -f " DOAS_CONF "; fi; "
                     "ip netns del '%s'; "
                     "for u in " BECOMER " " TARGET "; do "
                     "  for i in 1 2 3 4 5; do userdel -f \"$u\" && break; "
                     "    getent passwd \"$u\" >/dev/null || break; sleep 1; done; "
                     "done; rm -rf '%s'", fixture_dir, fixture_dir, fixture_dir, netns_name, fixture_dir);
  const char *argv[] = { "/bin/sh", "-c", script, "mitogen-test-become-guardian", NULL };
  g_autoptr(GError) error = NULL;
  int fds[2];

  g_assert_true (g_unix_open_pipe (fds, FD_CLOEXEC, &error));
  g_assert_true (g_spawn_async_with_pipes_and_fds (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
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
set_password (const char *user,
              const char *pw)
{
  g_autofree char *line = g_strdup_printf ("%s:%s", user, pw);

  return RUN ("sh", "-c", "printf '%s\\n' \"$1\" | chpasswd", "sh", line);
}

static const char *
set_up_fixture (void)
{
  g_autofree char *useradd = g_find_program_in_path ("useradd");
  g_autofree char *becomer_pw = g_strdup_printf ("Pa-%08x%08x", g_random_int (), g_random_int ());
  g_autofree char *target_pw = g_strdup_printf ("Pb-%08x%08x", g_random_int (), g_random_int ());
  g_autofree char *doas = g_find_program_in_path ("doas");

  if (getuid () != 0)
    return "needs root (test users, doas.conf, namespaces)";
  if (useradd == NULL)
    return "useradd is missing";

  fixture_dir = g_dir_make_tmp ("mitogen-become-XXXXXX", NULL);
  g_assert_nonnull (fixture_dir);
  chmod (fixture_dir, 0755);
  netns_name = g_strdup_printf ("mitogen-become-%d", (int) getpid ());
  start_guardian ();

  g_setenv ("MITOGEN_TEST_BECOMER_PW", becomer_pw, TRUE);
  g_setenv ("MITOGEN_TEST_TARGET_PW", target_pw, TRUE);
  if (getpwnam (BECOMER) != NULL)
    RUN ("userdel", "-f", BECOMER);
  if (getpwnam (TARGET) != NULL)
    RUN ("userdel", "-f", TARGET);
  if (!RUN ("useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", "-c", "Mitogen become test (master)", BECOMER) ||
      !RUN ("useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", "-c", "Mitogen become test (target)", TARGET))
    return "useradd failed";
  if (!set_password (BECOMER, becomer_pw) || !set_password (TARGET, target_pw))
    return "chpasswd failed";

  if (doas != NULL)
    {
      if (g_file_test (DOAS_CONF, G_FILE_TEST_EXISTS) && !RUN ("cp", "-p", DOAS_CONF, DOAS_KEEP))
        return "cannot save " DOAS_CONF;
      if (!g_file_set_contents (DOAS_CONF,
                                "permit " BECOMER " as " TARGET "\n"
                                "permit nopass " BECOMER " as nobody\n", -1, NULL))
        return "cannot write " DOAS_CONF;
      chmod (DOAS_CONF, 0600);
    }
  return NULL;
}


/* --- polkit (parent, as root) ----------------------------------------------- */

static const char bus_conf[] =
  "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
  " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
  "<busconfig>\n"
  "  <type>system</type>\n"
  "  <listen>unix:path=" SYSTEM_BUS_SOCKET "</listen>\n"
  "  <auth>EXTERNAL</auth>\n"
  "  <policy context=\"default\">\n"
  "    <allow user=\"*\"/>\n"
  "    <allow own=\"*\"/>\n"
  "    <allow send_type=\"method_call\"/>\n"
  "    <allow send_type=\"signal\"/>\n"
  "    <allow send_type=\"method_return\"/>\n"
  "    <allow send_type=\"error\"/>\n"
  "    <allow receive_type=\"method_call\"/>\n"
  "    <allow receive_type=\"signal\"/>\n"
  "    <allow receive_type=\"method_return\"/>\n"
  "    <allow receive_type=\"error\"/>\n"
  "  </policy>\n"
  "</busconfig>\n";

/* BECOMER may run anything as nobody without authenticating, as TARGET
 * after authenticating as itself, and never as daemon. */
static const char polkit_rules[] =
  "polkit.addRule(function(action, subject) {\n"
  "  if (action.id == \"org.freedesktop.policykit.exec\" && subject.user == \"" BECOMER "\") {\n"
  "    if (action.lookup(\"user\") == \"nobody\") return polkit.Result.YES;\n"
  "    if (action.lookup(\"user\") == \"" TARGET "\") return polkit.Result.AUTH_SELF;\n"
  "    if (action.lookup(\"user\") == \"daemon\") return polkit.Result.NO;\n"
  "  }\n"
  "});\n";

static GDBusConnection *
system_bus (void)
{
  g_autoptr(GError) error = NULL;

  if (!g_file_test (SYSTEM_BUS_SOCKET, G_FILE_TEST_EXISTS))
    return NULL;
  return g_dbus_connection_new_for_address_sync ("unix:path=" SYSTEM_BUS_SOCKET,
                                                 G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                 G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                 NULL, NULL, &error);
}

static gboolean
polkit_owned (GDBusConnection *bus)
{
  g_autoptr(GVariant) reply =
    g_dbus_connection_call_sync (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                 "NameHasOwner", g_variant_new ("(s)", "org.freedesktop.PolicyKit1"),
                                 G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE, 2000, NULL, NULL);
  gboolean owned = FALSE;

  if (reply != NULL)
    g_variant_get (reply, "(b)", &owned);
  return owned;
}

static GPid
spawn_daemon (const char * const *argv,
              const char         *pidfile)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (fixture_dir, pidfile, NULL);
  g_autofree char *text = NULL;
  GPid pid = 0;

  if (!g_spawn_async_with_pipes_and_fds (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                         -1, -1, -1, NULL, NULL, 0, &pid, NULL, NULL, NULL, &error))
    {
      g_test_message ("%s: %s", argv[0], error->message);
      return 0;
    }
  text = g_strdup_printf ("%d", (int) pid);
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  return pid;
}

/* A system bus (ours if there is none) with polkitd on it (ours if there
 * is none), and our rules. NULL if up, else why not (owned). */
static char *
set_up_polkit (void)
{
  g_autofree char *pkexec = g_find_program_in_path ("pkexec");
  g_autofree char *dbus_daemon = g_find_program_in_path ("dbus-daemon");
  g_autoptr(GDBusConnection) bus = NULL;

  if (skip_reason != NULL)
    return g_strdup (skip_reason);
  if (pkexec == NULL || !g_file_test (POLKITD, G_FILE_TEST_IS_EXECUTABLE))
    return g_strdup ("pkexec or polkitd is not installed (apt-get install pkexec polkitd)");
  if (!g_file_set_contents (POLKIT_RULES, polkit_rules, -1, NULL))
    return g_strdup ("cannot write " POLKIT_RULES);

  bus = system_bus ();
  if (bus == NULL && g_file_test (SYSTEM_BUS_SOCKET, G_FILE_TEST_EXISTS))
    return g_strdup (SYSTEM_BUS_SOCKET " exists but does not answer (a stale system bus)");
  if (bus == NULL)
    {
      g_autofree char *conf = g_build_filename (fixture_dir, "bus.conf", NULL);
      g_autofree char *arg = g_strconcat ("--config-file=", conf, NULL);
      g_autofree char *mark = g_build_filename (fixture_dir, "own-socket", NULL);

      if (dbus_daemon == NULL)
        return g_strdup ("no system bus, and dbus-daemon is not installed");
      g_assert_true (g_file_set_contents (conf, bus_conf, -1, NULL));
      g_mkdir_with_parents ("/run/dbus", 0755);
      g_assert_true (g_file_set_contents (mark, "", -1, NULL));
      bus_pid = spawn_daemon ((const char * const[]) { dbus_daemon, "--nofork", "--nopidfile", arg, NULL }, "bus.pid");
      for (int i = 0; i < 500 && bus == NULL && bus_pid != 0; i++)
        {
          g_usleep (10 * 1000);
          bus = system_bus ();
        }
      if (bus == NULL)
        return g_strdup ("dbus-daemon --system did not start");
    }
  if (!polkit_owned (bus))
    {
      polkitd_pid = spawn_daemon ((const char * const[]) { POLKITD, "--no-debug", NULL }, "polkitd.pid");
      for (int i = 0; i < 500 && polkitd_pid != 0 && !polkit_owned (bus); i++)
        g_usleep (10 * 1000);
      if (!polkit_owned (bus))
        return g_strdup ("polkitd did not take its name on the system bus");
    }
  else
    /* A running polkitd picks the rules file up by itself; give it time. */
    g_usleep (500 * 1000);
  return NULL;
}

static void
stop_daemon (GPid       *pid,
             const char *pidfile)
{
  g_autofree char *path = NULL;

  if (*pid == 0)
    return;
  /* The guardian must not kill whoever gets the pid next. */
  path = g_build_filename (fixture_dir, pidfile, NULL);
  g_unlink (path);
  kill (*pid, SIGTERM);
  waitpid (*pid, NULL, 0);
  g_spawn_close_pid (*pid);
  *pid = 0;
}

/* Observed with polkitd 122 here (before the pkexec transport waited a
 * little before typing, which may have been the cause): after one
 * authentication through pkexec's internal agent had ended, the next one
 * never completed. Each authenticating test gets a fresh polkitd when it
 * is ours: cheap, and one test cannot leave polkitd's state to another. */
static void
restart_polkitd (void)
{
  g_autoptr(GDBusConnection) bus = NULL;

  if (polkitd_pid == 0)
    return;
  stop_daemon (&polkitd_pid, "polkitd.pid");
  bus = system_bus ();
  g_assert_nonnull (bus);
  for (int i = 0; i < 500 && polkit_owned (bus); i++)
    g_usleep (10 * 1000);
  polkitd_pid = spawn_daemon ((const char * const[]) { POLKITD, "--no-debug", NULL }, "polkitd.pid");
  for (int i = 0; i < 500 && polkitd_pid != 0 && !polkit_owned (bus); i++)
    g_usleep (10 * 1000);
  g_assert_true (polkit_owned (bus));
}

/* --- the child's side ----------------------------------------------------------- */

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

static void
assert_nothing_left (const char *user)
{
  for (int i = 0; i < 100 && count_processes_of (user) > 0; i++)
    g_usleep (50 * 1000);
  g_assert_cmpuint (count_processes_of (user), ==, 0);
}

static void
run_as_becomer (void)
{
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  assert_nothing_left (TARGET);
}

static void
become_becomer (void)
{
  struct passwd *pw = getpwnam (BECOMER);
  g_auto(GStrv) methods = NULL;

  g_assert_nonnull (pw);
  methods = mitogen_transport_list_methods ();
  g_assert_true (g_strv_contains ((const char * const *) methods, "su"));
  g_assert_true (g_strv_contains ((const char * const *) methods, "doas"));
  g_assert_cmpint (setgroups (0, NULL), ==, 0);
  g_assert_cmpint (setresgid (pw->pw_gid, pw->pw_gid, pw->pw_gid), ==, 0);
  g_assert_cmpint (setresuid (pw->pw_uid, pw->pw_uid, pw->pw_uid), ==, 0);
  g_assert_cmpint (chdir ("/"), ==, 0);
}

static GVariant *
options (const char *user,
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
env_password (const char *name)
{
  const char *pw = g_getenv (name);

  g_assert_nonnull (pw);
  return pw;
}
#define BECOMER_PW env_password ("MITOGEN_TEST_BECOMER_PW")
#define TARGET_PW  env_password ("MITOGEN_TEST_TARGET_PW")

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

/* Connects, says how long it took, checks the uid. */
static MitogenContext *
connect_timed (MitogenRouter  *router,
               const char     *method,
               GVariant       *opts,
               MitogenContext *via,
               const char     *user,
               const char     *what)
{
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  MitogenContext *context = mitogen_router_connect (router, method, opts, via, NULL, &error);

  g_assert_no_error (error);
  g_printerr ("# %s: started in %.1f ms\n", what, (g_get_monotonic_time () - start) / 1000.0);
  assert_uid (context, user);
  return context;
}

static gboolean
skipped (const char *program)
{
  g_autofree char *path = program != NULL ? g_find_program_in_path (program) : NULL;

  if (skip_reason != NULL)
    {
      g_test_skip (skip_reason);
      return TRUE;
    }
  if (program != NULL && path == NULL)
    {
      g_autofree char *why = g_strdup_printf ("%s is not installed", program);
      g_test_skip (why);
      return TRUE;
    }
  return FALSE;
}

/* An interaction that answers every password request with its answer and
 * counts them. */
#define TEST_TYPE_ANSWERER (test_answerer_get_type ())
G_DECLARE_FINAL_TYPE (TestAnswerer, test_answerer, TEST, ANSWERER, MitogenInteraction)

struct _TestAnswerer
{
  MitogenInteraction parent_instance;
  char              *answer;  /* (owned) (nullable) NULL: unhandled */
  char              *method;  /* (owned) (nullable) of the last request */
  char              *user;    /* (owned) (nullable) of the last request */
  guint              asked;
};

G_DEFINE_FINAL_TYPE (TestAnswerer, test_answerer, MITOGEN_TYPE_INTERACTION)

static MitogenInteractionResult
answerer_ask_password (MitogenInteraction   *interaction,
                       MitogenSecretRequest *request,
                       GCancellable         *cancellable,
                       GError              **error)
{
  TestAnswerer *self = TEST_ANSWERER (interaction);

  self->asked++;
  g_free (self->method);
  self->method = g_strdup (mitogen_secret_request_get_method (request));
  g_free (self->user);
  self->user = g_strdup (mitogen_secret_request_get_user (request));
  if (self->answer == NULL)
    return MITOGEN_INTERACTION_UNHANDLED;
  mitogen_secret_request_set_answer (request, self->answer);
  return MITOGEN_INTERACTION_HANDLED;
}

static void
test_answerer_finalize (GObject *object)
{
  TestAnswerer *self = TEST_ANSWERER (object);

  g_free (self->answer);
  g_free (self->method);
  g_free (self->user);
  G_OBJECT_CLASS (test_answerer_parent_class)->finalize (object);
}

static void
test_answerer_class_init (TestAnswererClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_answerer_finalize;
  MITOGEN_INTERACTION_CLASS (klass)->ask_password = answerer_ask_password;
}

static void
test_answerer_init (TestAnswerer *self)
{
}

static TestAnswerer *
test_answerer_new (const char *answer)
{
  TestAnswerer *self = g_object_new (TEST_TYPE_ANSWERER, NULL);

  self->answer = g_strdup (answer);
  return self;
}

/* --- su --------------------------------------------------------------------- */

static void
test_su_password (void)
{
  g_test_summary ("su from an unprivileged user to another: the target's password is typed where "
                  "PAM reads it (su prints the prompt on its terminal, reads stdin), and the "
                  "context runs as the target user; su:USER in a chain through a local context "
                  "(via) too.");
  if (skipped ("su"))
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(MitogenContext) local = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) pid = NULL;

      become_becomer ();
      router = mitogen_router_new ();
      context = connect_timed (router, "su", options (TARGET, TARGET_PW, 30), NULL, TARGET, "su");
      pid = mitogen_context_call (context, "os.getpid", NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (g_variant_get_int64 (pid), !=, getpid ());
      g_clear_object (&context);

      local = mitogen_test_local (router);
      context = connect_timed (router, "su", options (TARGET, TARGET_PW, 30), local, TARGET, "su via local");
      g_clear_object (&context);
      g_clear_object (&local);
      mitogen_router_shutdown (router);
      return;
    }
  run_as_becomer ();
}

static void
test_su_incorrect (void)
{
  g_test_summary ("A wrong su password is MITOGEN_ERROR_PASSWORD saying so (not quoting the "
                  "password) as soon as su says 'Authentication failure', well before "
                  "connect_timeout; through a local context too.");
  if (skipped ("su"))
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(MitogenContext) local = NULL;
      g_autoptr(GError) error = NULL;
      gint64 start;

      become_becomer ();
      router = mitogen_router_new ();
      start = g_get_monotonic_time ();
      context = mitogen_router_connect (router, "su", options (TARGET, "not-the-password", 30), NULL, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_assert_nonnull (strstr (error->message, "su password is incorrect"));
      g_assert_null (strstr (error->message, "not-the-password"));
      g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * G_USEC_PER_SEC);
      g_assert_null (context);
      g_clear_error (&error);

      local = mitogen_test_local (router);
      context = mitogen_router_connect (router, "su", options (TARGET, "wrong", 30), local, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_clear_object (&local);
      mitogen_router_shutdown (router);
      return;
    }
  run_as_becomer ();
}

static void
test_su_interaction (void)
{
  g_test_summary ("Without a password option su's password comes from the router's interaction "
                  "(asked once, for the target user, method su); with no interaction, or one "
                  "that does not answer, it is MITOGEN_ERROR_PASSWORD 'required' at once.");
  if (skipped ("su"))
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(TestAnswerer) answerer = NULL;
      g_autoptr(TestAnswerer) silent = NULL;
      g_autoptr(GError) error = NULL;
      gint64 start;

      become_becomer ();
      router = mitogen_router_new ();
      start = g_get_monotonic_time ();
      context = mitogen_router_connect (router, "su", options (TARGET, NULL, 30), NULL, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_assert_nonnull (strstr (error->message, "required"));
      g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
      g_clear_error (&error);

      silent = test_answerer_new (NULL);
      mitogen_router_set_interaction (router, MITOGEN_INTERACTION (silent));
      context = mitogen_router_connect (router, "su", options (TARGET, NULL, 30), NULL, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_assert_cmpuint (silent->asked, ==, 1);
      g_clear_error (&error);

      answerer = test_answerer_new (TARGET_PW);
      mitogen_router_set_interaction (router, MITOGEN_INTERACTION (answerer));
      context = connect_timed (router, "su", options (TARGET, NULL, 30), NULL, TARGET, "su, password from the interaction");
      g_assert_cmpuint (answerer->asked, ==, 1);
      g_assert_cmpstr (answerer->method, ==, "su");
      g_assert_cmpstr (answerer->user, ==, TARGET);
      g_clear_object (&context);

      /* A wrong answer is a wrong password. */
      g_free (answerer->answer);
      answerer->answer = g_strdup ("wrong");
      context = mitogen_router_connect (router, "su", options (TARGET, NULL, 30), NULL, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_assert_nonnull (strstr (error->message, "interaction"));
      mitogen_router_shutdown (router);
      return;
    }
  run_as_becomer ();
}

static void
test_su_root (void)
{
  g_test_summary ("root's su asks nothing: a chain local/su:USER (with shell, for a user whose "
                  "shell is nologin) and an invalid username refused before anything runs.");
  if (skipped ("su"))
    return;
  {
    g_autoptr(MitogenRouter) router = mitogen_router_new ();
    g_autoptr(MitogenContext) local = mitogen_test_local (router);
    g_autoptr(MitogenContext) context = NULL;
    g_autoptr(GError) error = NULL;
    GVariantDict d;

    context = connect_timed (router, "su", options (TARGET, NULL, 30), local, TARGET, "root: local/su");
    g_clear_object (&context);

    g_variant_dict_init (&d, NULL);
    g_variant_dict_insert (&d, "username", "s", "nobody");
    g_variant_dict_insert (&d, "shell", "s", "/bin/sh");
    context = connect_timed (router, "su", g_variant_dict_end (&d), NULL, "nobody", "root: su nobody -s /bin/sh");
    g_clear_object (&context);

    context = mitogen_router_connect (router, "su", options ("-x", NULL, 30), NULL, NULL, &error);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
    g_clear_object (&local);
    mitogen_router_shutdown (router);
  }
}

/* --- doas ------------------------------------------------------------------- */

static void
test_doas_password (void)
{
  g_test_summary ("doas asks for our own password on its terminal (a PTY of ours): typed from the "
                  "option, then from the interaction; a wrong one is MITOGEN_ERROR_PASSWORD at once; "
                  "through a local context too.");
  if (skipped ("doas"))
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(MitogenContext) local = NULL;
      g_autoptr(TestAnswerer) answerer = NULL;
      g_autoptr(GError) error = NULL;
      gint64 start;

      become_becomer ();
      router = mitogen_router_new ();
      context = connect_timed (router, "doas", options (TARGET, BECOMER_PW, 30), NULL, TARGET, "doas");
      g_clear_object (&context);

      start = g_get_monotonic_time ();
      context = mitogen_router_connect (router, "doas", options (TARGET, "not-the-password", 30), NULL, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_assert_nonnull (strstr (error->message, "doas password is incorrect"));
      g_assert_null (strstr (error->message, "not-the-password"));
      g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * G_USEC_PER_SEC);
      g_clear_error (&error);

      context = mitogen_router_connect (router, "doas", options (TARGET, NULL, 30), NULL, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_assert_nonnull (strstr (error->message, "required"));
      g_clear_error (&error);

      answerer = test_answerer_new (BECOMER_PW);
      mitogen_router_set_interaction (router, MITOGEN_INTERACTION (answerer));
      context = connect_timed (router, "doas", options (TARGET, NULL, 30), NULL, TARGET, "doas, password from the interaction");
      g_assert_cmpuint (answerer->asked, ==, 1);
      g_assert_cmpstr (answerer->method, ==, "doas");
      g_assert_cmpstr (answerer->user, ==, BECOMER);
      g_clear_object (&context);

      local = mitogen_test_local (router);
      context = connect_timed (router, "doas", options (TARGET, BECOMER_PW, 30), local, TARGET, "doas via local");
      g_clear_object (&context);
      context = mitogen_router_connect (router, "doas", options (TARGET, "wrong", 30), local, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_clear_object (&local);
      mitogen_router_shutdown (router);
      return;
    }
  run_as_becomer ();
}

static void
test_doas_nopass (void)
{
  g_test_summary ("A nopass rule: no prompt, no password option needed, non_interactive works; a "
                  "user no rule permits is MITOGEN_ERROR_STREAM quoting doas.");
  if (skipped ("doas"))
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(TestAnswerer) answerer = NULL;
      g_autoptr(GError) error = NULL;
      GVariantDict d;

      become_becomer ();
      router = mitogen_router_new ();
      answerer = test_answerer_new ("never-needed");
      mitogen_router_set_interaction (router, MITOGEN_INTERACTION (answerer));
      context = connect_timed (router, "doas", options ("nobody", NULL, 30), NULL, "nobody", "doas nopass");
      g_clear_object (&context);
      g_variant_dict_init (&d, NULL);
      g_variant_dict_insert (&d, "username", "s", "nobody");
      g_variant_dict_insert (&d, "non_interactive", "b", TRUE);
      context = connect_timed (router, "doas", g_variant_dict_end (&d), NULL, "nobody", "doas -n nopass");
      g_clear_object (&context);
      g_assert_cmpuint (answerer->asked, ==, 0);

      context = mitogen_router_connect (router, "doas", options ("root", BECOMER_PW, 30), NULL, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
      g_assert_nonnull (strstr (error->message, "not permitted"));
      mitogen_router_shutdown (router);
      return;
    }
  run_as_becomer ();
}

/* --- setns ------------------------------------------------------------------ */

/* The context's namespace @kind ("net", "uts"...) as its /proc/self/ns
 * link says: stat's inode of /proc/self/ns/KIND. */
static guint64
context_ns_inode (MitogenContext *context,
                  const char     *kind)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_strdup_printf ("/proc/self/ns/%s", kind);
  g_autoptr(GVariant) st = mitogen_context_call (context, "os.stat", g_variant_new ("(s)", path), NULL, &error);
  guint64 ino = 0;

  g_assert_no_error (error);
  g_assert_true (g_variant_lookup (st, "st_ino", "t", &ino));
  return ino;
}

static guint64
ns_inode_of (const char *path)
{
  struct stat st;

  g_assert_cmpint (stat (path, &st), ==, 0);
  return st.st_ino;
}

static void
test_setns_netns (void)
{
  g_test_summary ("setns into a named netns the test makes (ip netns add): the context's network "
                  "namespace is that one (its inode), it sees only the netns's loopback address; "
                  "a chain local/setns:NAME too; a missing netns is MITOGEN_ERROR_STREAM quoting "
                  "nsenter.");
  if (skipped ("nsenter") || skipped ("ip"))
    return;
  {
    g_autoptr(MitogenRouter) router = mitogen_router_new ();
    g_autoptr(MitogenContext) context = NULL;
    g_autoptr(MitogenContext) local = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) out = NULL;
    g_autofree char *nspath = NULL;
    const char *text;
    GVariantDict d;

    g_assert_true (RUN ("ip", "netns", "add", netns_name));
    g_assert_true (RUN ("ip", "-n", netns_name, "addr", "add", "10.213.7.1/24", "dev", "lo"));
    g_assert_true (RUN ("ip", "-n", netns_name, "link", "set", "lo", "up"));
    nspath = g_strdup_printf ("/run/netns/%s", netns_name);

    g_variant_dict_init (&d, NULL);
    g_variant_dict_insert (&d, "target", "s", netns_name);
    context = connect_timed (router, "setns", g_variant_dict_end (&d), NULL, "root", "setns netns");
    g_assert_cmpuint (context_ns_inode (context, "net"), ==, ns_inode_of (nspath));
    g_assert_cmpuint (context_ns_inode (context, "net"), !=, ns_inode_of ("/proc/self/ns/net"));
    g_assert_cmpuint (context_ns_inode (context, "mnt"), ==, ns_inode_of ("/proc/self/ns/mnt"));
    out = mitogen_context_call (context, "subprocess.check_output",
                                g_variant_new ("(^as)", (const char *[]) { "ip", "-o", "addr", NULL }),
                                NULL, &error);
    g_assert_no_error (error);
    text = g_variant_get_data (out);
    g_assert_nonnull (g_strstr_len (text, (gssize) g_variant_get_size (out), "10.213.7.1"));
    g_clear_object (&context);

    local = mitogen_test_local (router);
    g_variant_dict_init (&d, NULL);
    g_variant_dict_insert (&d, "netns", "s", netns_name);
    context = connect_timed (router, "setns", g_variant_dict_end (&d), local, "root", "setns netns via local");
    g_assert_cmpuint (context_ns_inode (context, "net"), ==, ns_inode_of (nspath));
    g_clear_object (&context);

    g_variant_dict_init (&d, NULL);
    g_variant_dict_insert (&d, "netns", "s", "mitogen-no-such-netns");
    context = mitogen_router_connect (router, "setns", g_variant_dict_end (&d), NULL, NULL, &error);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
    g_assert_nonnull (strstr (error->message, "nsenter"));
    g_clear_error (&error);

    g_variant_dict_init (&d, NULL);
    g_variant_dict_insert (&d, "netns", "s", "../etc");
    context = mitogen_router_connect (router, "setns", g_variant_dict_end (&d), NULL, NULL, &error);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
    g_clear_object (&local);
    mitogen_router_shutdown (router);
    g_assert_true (RUN ("ip", "netns", "del", netns_name));
  }
}

static void
test_setns_pid (void)
{
  g_test_summary ("setns into a process's namespaces (unshare --net --uts --mount): its host name "
                  "and network namespace are the context's; namespaces limits what is entered.");
  if (skipped ("nsenter") || skipped ("unshare"))
    return;
  {
    g_autoptr(MitogenRouter) router = mitogen_router_new ();
    g_autoptr(MitogenContext) context = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) uname = NULL;
    const char *argv[] = { "unshare", "--net", "--uts", "--mount", "sh", "-c",
                           "hostname mitogen-ns-test && exec sleep 120", NULL };
    g_autofree char *nspath = NULL;
    g_autofree char *target = NULL;
    const char *nodename = NULL;
    GPid pid;
    GVariantDict d;

    g_assert_true (g_spawn_async (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                                  NULL, NULL, &pid, &error));
    g_assert_no_error (error);
    nspath = g_strdup_printf ("/proc/%d/ns/uts", (int) pid);
    /* Until it has its own host name (exec sleep done). */
    for (int i = 0; i < 200; i++)
      {
        g_autofree char *exe = g_strdup_printf ("/proc/%d/exe", (int) pid);
        g_autofree char *link = g_file_read_link (exe, NULL);

        if (link != NULL && g_str_has_suffix (link, "/sleep"))
          break;
        g_usleep (10 * 1000);
      }
    target = g_strdup_printf ("%d", (int) pid);

    g_variant_dict_init (&d, NULL);
    g_variant_dict_insert (&d, "target", "s", target);
    g_variant_dict_insert (&d, "namespaces", "^as", (const char *[]) { "net", "uts", "mount", NULL });
    context = connect_timed (router, "setns", g_variant_dict_end (&d), NULL, "root", "setns pid (net, uts, mount)");
    uname = mitogen_context_call (context, "os.uname", NULL, NULL, &error);
    g_assert_no_error (error);
    g_variant_get_child (uname, 1, "&s", &nodename);
    g_assert_cmpstr (nodename, ==, "mitogen-ns-test");
    g_assert_cmpuint (context_ns_inode (context, "uts"), ==, ns_inode_of (nspath));
    g_clear_pointer (&nspath, g_free);
    nspath = g_strdup_printf ("/proc/%d/ns/net", (int) pid);
    g_assert_cmpuint (context_ns_inode (context, "net"), ==, ns_inode_of (nspath));
    g_clear_object (&context);
    g_clear_pointer (&uname, g_variant_unref);

    /* Only the network namespace: the host name stays ours. */
    g_variant_dict_init (&d, NULL);
    g_variant_dict_insert (&d, "pid", "i", (int) pid);
    g_variant_dict_insert (&d, "namespaces", "^as", (const char *[]) { "net", NULL });
    context = connect_timed (router, "setns", g_variant_dict_end (&d), NULL, "root", "setns pid (net)");
    g_assert_cmpuint (context_ns_inode (context, "net"), ==, ns_inode_of (nspath));
    g_assert_cmpuint (context_ns_inode (context, "uts"), ==, ns_inode_of ("/proc/self/ns/uts"));
    g_clear_object (&context);

    g_variant_dict_init (&d, NULL);
    g_variant_dict_insert (&d, "pid", "i", (int) pid);
    g_variant_dict_insert (&d, "namespaces", "^as", (const char *[]) { "net", "bogus", NULL });
    context = mitogen_router_connect (router, "setns", g_variant_dict_end (&d), NULL, NULL, &error);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);
    context = mitogen_router_connect (router, "setns", NULL, NULL, NULL, &error);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
    mitogen_router_shutdown (router);

    kill (pid, SIGKILL);
    waitpid (pid, NULL, 0);
    g_spawn_close_pid (pid);
  }
}

/* --- pkexec ----------------------------------------------------------------- */

static gboolean
pkexec_skipped (void)
{
  if (polkit_skip != NULL)
    {
      g_test_skip (polkit_skip);
      return TRUE;
    }
  return FALSE;
}

static void
test_pkexec_allowed (void)
{
  g_test_summary ("pkexec where polkit's rules say yes: no prompt, no password; the context runs "
                  "as the target user; through a local context too; a rule that says no is "
                  "MITOGEN_ERROR_STREAM quoting pkexec ('Not authorized').");
  if (pkexec_skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(MitogenContext) local = NULL;
      g_autoptr(TestAnswerer) answerer = NULL;
      g_autoptr(GError) error = NULL;

      become_becomer ();
      router = mitogen_router_new ();
      answerer = test_answerer_new ("never-needed");
      mitogen_router_set_interaction (router, MITOGEN_INTERACTION (answerer));
      context = connect_timed (router, "pkexec", options ("nobody", NULL, 30), NULL, "nobody", "pkexec (rule: yes)");
      g_clear_object (&context);
      local = mitogen_test_local (router);
      context = connect_timed (router, "pkexec", options ("nobody", NULL, 30), local, "nobody", "pkexec via local");
      g_clear_object (&context);
      g_assert_cmpuint (answerer->asked, ==, 0);

      context = mitogen_router_connect (router, "pkexec", options ("daemon", NULL, 30), NULL, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
      g_assert_nonnull (strstr (error->message, "Not authorized"));
      g_assert_cmpuint (answerer->asked, ==, 0);
      g_clear_object (&local);
      mitogen_router_shutdown (router);
      return;
    }
  run_as_becomer ();
}

static void
test_pkexec_auth (void)
{
  g_test_summary ("pkexec where polkit's rules want us to authenticate: pkexec's text agent asks "
                  "on its terminal; the interaction is asked for our password. The right password "
                  "starts the context, except with polkit < 124, whose internal agent cannot "
                  "answer for a setuid pkexec (polkit-org/polkit#423: 'No session for cookie'), "
                  "which must then be the error.");
  if (pkexec_skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(TestAnswerer) answerer = NULL;
      g_autoptr(GError) error = NULL;
      gint64 start;

      become_becomer ();
      router = mitogen_router_new ();
      answerer = test_answerer_new (BECOMER_PW);
      mitogen_router_set_interaction (router, MITOGEN_INTERACTION (answerer));
      start = g_get_monotonic_time ();
      context = mitogen_router_connect (router, "pkexec", options (TARGET, NULL, 20), NULL, NULL, &error);
      g_assert_cmpuint (answerer->asked, ==, 1);
      g_assert_cmpstr (answerer->method, ==, "pkexec");
      g_assert_cmpstr (answerer->user, ==, BECOMER);
      if (context != NULL)
        {
          g_printerr ("# pkexec, authenticated: started in %.1f ms\n", (g_get_monotonic_time () - start) / 1000.0);
          assert_uid (context, TARGET);
          g_clear_object (&context);
        }
      else
        {
          g_printerr ("# pkexec, authenticated: %s\n", error->message);
          g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
          g_assert_nonnull (strstr (error->message, "No session for cookie"));
          g_clear_error (&error);
        }
      mitogen_router_shutdown (router);
      return;
    }
  restart_polkitd ();
  run_as_becomer ();
}

static void
test_pkexec_wrong (void)
{
  g_test_summary ("pkexec where polkit's rules want us to authenticate, with a wrong password: "
                  "MITOGEN_ERROR_PASSWORD as soon as PAM refuses it; no password and no "
                  "interaction: 'required' at once.");
  if (pkexec_skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(GError) error = NULL;
      gint64 start;

      become_becomer ();
      router = mitogen_router_new ();
      start = g_get_monotonic_time ();
      context = mitogen_router_connect (router, "pkexec", options (TARGET, "not-the-password", 30), NULL, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_assert_nonnull (strstr (error->message, "pkexec password is incorrect"));
      g_assert_null (strstr (error->message, "not-the-password"));
      g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * G_USEC_PER_SEC);
      g_clear_error (&error);

      context = mitogen_router_connect (router, "pkexec", options (TARGET, NULL, 30), NULL, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_assert_nonnull (strstr (error->message, "required"));
      mitogen_router_shutdown (router);
      return;
    }
  restart_polkitd ();
  run_as_becomer ();
}

static void
test_pkexec_no_polkit (void)
{
  g_test_summary ("pkexec with no polkitd on the system bus: MITOGEN_ERROR_STREAM quoting pkexec, "
                  "well before connect_timeout (run last: it stops the polkitd the test started).");
  if (pkexec_skipped ())
    return;
  if (polkitd_pid == 0)
    {
      g_test_skip ("polkitd was running before the test: it is not ours to stop");
      return;
    }
  stop_daemon (&polkitd_pid, "polkitd.pid");
  {
    g_autoptr(MitogenRouter) router = mitogen_router_new ();
    g_autoptr(MitogenContext) context = NULL;
    g_autoptr(GError) error = NULL;
    gint64 start = g_get_monotonic_time ();

    context = mitogen_router_connect (router, "pkexec", options ("nobody", NULL, 20), NULL, NULL, &error);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "pkexec exited before running the command"));
    g_assert_cmpint (g_get_monotonic_time () - start, <, 15 * G_USEC_PER_SEC);
    mitogen_router_shutdown (router);
  }
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
      if (skip_reason != NULL)
        g_printerr ("# become tests skip: %s\n", skip_reason);
      polkit_skip = set_up_polkit ();
      if (polkit_skip != NULL)
        g_printerr ("# pkexec tests skip: %s\n", polkit_skip);
      /* The master side of su and doas runs as BECOMER, who may not reach
       * the build tree: give it a copy of the agent. */
      if (skip_reason == NULL && g_getenv ("MITOGEN_AGENT_PATH") == NULL)
        {
          g_autoptr(GError) error = NULL;
          g_autofree char *agent = g_build_filename (MITOGEN_BUILD_ROOT, "agent", "mitogen-agent", NULL);
          g_autofree char *copy = host_fixture_public_agent (agent, &agent_holder, &error);

          g_assert_no_error (error);
          g_setenv ("MITOGEN_AGENT_PATH", copy, TRUE);
        }
    }

  g_test_add_func ("/become/su/password", test_su_password);
  g_test_add_func ("/become/su/incorrect", test_su_incorrect);
  g_test_add_func ("/become/su/interaction", test_su_interaction);
  g_test_add_func ("/become/su/as-root", test_su_root);
  g_test_add_func ("/become/doas/password", test_doas_password);
  g_test_add_func ("/become/doas/nopass", test_doas_nopass);
  g_test_add_func ("/become/setns/netns", test_setns_netns);
  g_test_add_func ("/become/setns/pid", test_setns_pid);
  g_test_add_func ("/become/pkexec/allowed", test_pkexec_allowed);
  g_test_add_func ("/become/pkexec/wrong", test_pkexec_wrong);
  g_test_add_func ("/become/pkexec/auth", test_pkexec_auth);
  g_test_add_func ("/become/pkexec/no-polkit", test_pkexec_no_polkit);

  status = g_test_run ();
  if (!g_test_subprocess ())
    {
      host_sshd_stop (agent_holder);
      stop_daemon (&polkitd_pid, "polkitd.pid");
      stop_daemon (&bus_pid, "bus.pid");
      stop_guardian ();
    }
  return status;
}
