/* test-interaction.c — MitogenInteraction against real sudo and sshd
 *
 * sudo: the password comes only from the router's interaction and is
 * typed through the PTY. As in test-sudo.c the master side runs as an
 * unprivileged user in a g_test_trap_subprocess () child; the fixture
 * (made as root) is two users of its own, IA_SUDOER with a random
 * password and IA_TARGET, and a sudoers drop-in, all removed at the end
 * and by a guardian process if the test dies.
 *
 * ssh: an sshd on loopback (tests/hosts/host-fixture.c) whose host key is
 * not in the known_hosts file the connect uses: the interaction is asked,
 * with the key's real fingerprint; and password authentication with the
 * password only from the interaction.
 *
 * Each test checks that the interaction ran on the thread that started the
 * connect, in the main context that thread iterates.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <pwd.h>
#include <grp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "mitogen-test.h"
#include "host-fixture.h"

#define IA_SUDOER "mitogen-iasudoer"
#define IA_TARGET "mitogen-iatarget"
#define IA_DROPIN "/etc/sudoers.d/mitogen-test-interaction"
#define IA_STAMP  "/run/sudo/ts/" IA_SUDOER

/* --- an interaction for tests ------------------------------------------------ */

typedef enum
{
  MODE_ANSWER,      /* answer with @answer / @host_key_answer */
  MODE_UNHANDLED,   /* UNHANDLED */
  MODE_NEVER,       /* never answer (until cancelled) */
  MODE_CANCEL,      /* never answer; cancel @cancel_this 0.3 s after being asked */
} Mode;

#define TEST_TYPE_INTERACTION (test_interaction_get_type ())
G_DECLARE_FINAL_TYPE (TestInteraction, test_interaction, TEST, INTERACTION, MitogenInteraction)

struct _TestInteraction
{
  MitogenInteraction    parent_instance;
  Mode                  mode;
  char                 *answer;           /* the password */
  MitogenHostKeyAnswer  host_key_answer;
  GThread              *expected_thread;  /* where the requests must run */
  GMainContext         *expected_context; /* (nullable) ... and in which context */
  GCancellable         *cancel_this;      /* (nullable) MODE_CANCEL */
  guint                 passwords;        /* requests seen */
  guint                 host_keys;
  gboolean              wrong_thread;
  gint                  saw_cancel;       /* (atomic) the cancellable it was given was cancelled */
  MitogenSecretRequest  *last_secret;     /* (owned) (nullable) */
  MitogenHostKeyRequest *last_host_key;   /* (owned) (nullable) */
};

G_DEFINE_FINAL_TYPE (TestInteraction, test_interaction, MITOGEN_TYPE_INTERACTION)

static void
check_thread (TestInteraction *self)
{
  if (g_thread_self () != self->expected_thread)
    self->wrong_thread = TRUE;
  if (self->expected_context != NULL && !g_main_context_is_owner (self->expected_context))
    self->wrong_thread = TRUE;
}

/* As an async operation must: a cancelled request still completes, with
 * G_IO_ERROR_CANCELLED (any thread: the core cancels on its broker). */
static void
never_cancelled_cb (GCancellable *cancellable,
                    gpointer      data)
{
  GTask *task = data;
  TestInteraction *self = g_task_get_source_object (task);

  g_atomic_int_set (&self->saw_cancel, TRUE);
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the request was cancelled");
}

/* The core cancels what it gave the interaction when it stops waiting (on
 * the broker thread, maybe just after the connect has failed). */
static gboolean
saw_cancel (TestInteraction *self)
{
  for (int i = 0; i < 200 && !g_atomic_int_get (&self->saw_cancel); i++)
    g_usleep (10 * 1000);
  return g_atomic_int_get (&self->saw_cancel);
}

static gboolean
cancel_later_cb (gpointer data)
{
  g_cancellable_cancel (G_CANCELLABLE (data));
  return G_SOURCE_REMOVE;
}

static void
ask_password_async (MitogenInteraction   *interaction,
                    MitogenSecretRequest *request,
                    GCancellable         *cancellable,
                    GAsyncReadyCallback   callback,
                    gpointer              user_data)
{
  TestInteraction *self = TEST_INTERACTION (interaction);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  check_thread (self);
  self->passwords++;
  g_set_object (&self->last_secret, request);
  switch (self->mode)
    {
    case MODE_ANSWER:
      {
        int delay_ms = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (self), "delay"));

        /* A person taking their time (blocking this thread is allowed). */
        if (delay_ms > 0)
          g_usleep ((gulong) delay_ms * 1000);
      }
      mitogen_secret_request_set_answer (request, self->answer);
      g_task_return_int (task, MITOGEN_INTERACTION_HANDLED);
      break;
    case MODE_UNHANDLED:
      g_task_return_int (task, MITOGEN_INTERACTION_UNHANDLED);
      break;
    case MODE_CANCEL:
      {
        GSource *later = g_timeout_source_new (300);

        g_source_set_callback (later, cancel_later_cb, g_object_ref (self->cancel_this), g_object_unref);
        g_source_attach (later, g_main_context_get_thread_default ());
        g_source_unref (later);
      }
      G_GNUC_FALLTHROUGH;
    case MODE_NEVER:
      /* The core cancels what it gave us once it stops waiting; the task
       * then ends cancelled (otherwise the core's wait for it would leak). */
      g_assert_nonnull (cancellable);
      g_cancellable_connect (cancellable, G_CALLBACK (never_cancelled_cb), g_object_ref (task), g_object_unref);
      break;
    }
}

static MitogenInteractionResult
ask_password_finish (MitogenInteraction  *interaction,
                     GAsyncResult        *result,
                     GError             **error)
{
  GError *local = NULL;
  gssize r = g_task_propagate_int (G_TASK (result), &local);

  if (local != NULL)
    {
      g_propagate_error (error, local);
      return MITOGEN_INTERACTION_FAILED;
    }
  return (MitogenInteractionResult) r;
}

/* The host key is answered by the synchronous function (the base class's
 * async one runs it). */
static MitogenInteractionResult
ask_host_key (MitogenInteraction     *interaction,
              MitogenHostKeyRequest  *request,
              GCancellable           *cancellable,
              GError                **error)
{
  TestInteraction *self = TEST_INTERACTION (interaction);

  check_thread (self);
  self->host_keys++;
  g_set_object (&self->last_host_key, request);
  if (self->mode == MODE_UNHANDLED)
    return MITOGEN_INTERACTION_UNHANDLED;
  mitogen_host_key_request_set_answer (request, self->host_key_answer);
  return MITOGEN_INTERACTION_HANDLED;
}

static void
test_interaction_finalize (GObject *object)
{
  TestInteraction *self = TEST_INTERACTION (object);

  g_free (self->answer);
  g_clear_object (&self->cancel_this);
  g_clear_object (&self->last_secret);
  g_clear_object (&self->last_host_key);
  G_OBJECT_CLASS (test_interaction_parent_class)->finalize (object);
}

static void
test_interaction_class_init (TestInteractionClass *klass)
{
  MitogenInteractionClass *interaction_class = MITOGEN_INTERACTION_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = test_interaction_finalize;
  interaction_class->ask_password_async = ask_password_async;
  interaction_class->ask_password_finish = ask_password_finish;
  interaction_class->ask_host_key = ask_host_key;
}

static void
test_interaction_init (TestInteraction *self)
{
  self->expected_thread = g_thread_self ();
}

static TestInteraction *
test_interaction_new (Mode        mode,
                      const char *answer)
{
  TestInteraction *self = g_object_new (TEST_TYPE_INTERACTION, NULL);

  self->mode = mode;
  self->answer = g_strdup (answer);
  return self;
}

/* --- the sudo fixture (parent, as root) ------------------------------------------- */

static const char *sudo_skip;    /* NULL: the fixture is up */
static char *fixture_dir;
static GPid guardian_pid;
static int guardian_pipe = -1;

static gboolean
run_quiet (const char * const *argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL, *err = NULL;
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
  g_autofree char *script = g_strdup_printf ("exec >/dev/null 2>&1; cat; rm -f " IA_DROPIN " " IA_STAMP "; "
                                             "for u in " IA_SUDOER " " IA_TARGET "; do "
                                             "  for i in 1 2 3 4 5; do userdel -f \"$u\" && break; "
                                             "    getent passwd \"$u\" >/dev/null || break; sleep 1; done; "
                                             "done; rm -rf '%s'", fixture_dir);
  const char *argv[] = { "/bin/sh", "-c", script, "mitogen-test-interaction-guardian", NULL };
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

static const char *
set_up_sudo_fixture (void)
{
  g_autofree char *sudo = g_find_program_in_path ("sudo");
  g_autofree char *visudo = g_find_program_in_path ("visudo");
  g_autofree char *chpasswd = NULL, *password = NULL, *check = NULL;

  if (getuid () != 0)
    return "needs root (test users, sudoers)";
  if (sudo == NULL || visudo == NULL || !g_file_test ("/etc/sudoers.d", G_FILE_TEST_IS_DIR))
    return "sudo is not installed (apt-get install sudo)";

  fixture_dir = g_dir_make_tmp ("mitogen-interaction-XXXXXX", NULL);
  g_assert_nonnull (fixture_dir);
  chmod (fixture_dir, 0755);
  start_guardian ();

  password = g_strdup_printf ("Ia-%08x-%08x", g_random_int (), g_random_int ());
  g_setenv ("MITOGEN_TEST_SUDO_PW", password, TRUE);
  if (getpwnam (IA_SUDOER) != NULL)
    RUN ("userdel", "-f", IA_SUDOER);
  if (getpwnam (IA_TARGET) != NULL)
    RUN ("userdel", "-f", IA_TARGET);
  if (!RUN ("useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", "-c", "Mitogen interaction test", IA_SUDOER) ||
      !RUN ("useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", "-c", "Mitogen interaction target", IA_TARGET))
    return "useradd failed";
  chpasswd = g_strdup_printf ("%s:%s", IA_SUDOER, password);
  if (!RUN ("sh", "-c", "printf '%s\\n' \"$1\" | chpasswd", "sh", chpasswd))
    return "chpasswd failed";
  check = g_build_filename (fixture_dir, "sudoers.check", NULL);
  /* No credential caching: every connect asks. */
  g_assert_true (g_file_set_contents (check, "Defaults:" IA_SUDOER " timestamp_timeout=0\n"
                                      IA_SUDOER " ALL=(" IA_TARGET ") ALL\n", -1, NULL));
  chmod (check, 0440);
  if (!RUN ("visudo", "-cf", check) ||
      !RUN ("install", "-m", "0440", "-o", "root", "-g", "root", check, IA_DROPIN))
    return "cannot install the sudoers drop-in";
  return NULL;
}

/* --- the child's side ------------------------------------------------------------ */

static void
become_sudoer (void)
{
  struct passwd *pw = getpwnam (IA_SUDOER);
  g_auto(GStrv) methods = NULL;

  g_assert_nonnull (pw);
  methods = mitogen_transport_list_methods ();
  g_assert_true (g_strv_contains ((const char * const *) methods, "sudo"));
  g_assert_cmpint (setgroups (0, NULL), ==, 0);
  g_assert_cmpint (setresgid (pw->pw_gid, pw->pw_gid, pw->pw_gid), ==, 0);
  g_assert_cmpint (setresuid (pw->pw_uid, pw->pw_uid, pw->pw_uid), ==, 0);
  g_assert_cmpint (chdir ("/"), ==, 0);
}

/* @dict initialised from the floating @options (which g_variant_dict_init ()
 * would not sink). */
static void
dict_init_from (GVariantDict *dict,
                GVariant     *options)
{
  g_autoptr(GVariant) sunk = g_variant_ref_sink (options);

  g_variant_dict_init (dict, sunk);
}

static GVariant *
sudo_options (double timeout)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "username", g_variant_new_string (IA_TARGET));
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

static gboolean
sudo_skipped (void)
{
  if (sudo_skip != NULL)
    {
      g_test_skip (sudo_skip);
      return TRUE;
    }
  return FALSE;
}

static void
run_as_sudoer (void)
{
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* --- sudo tests ------------------------------------------------------------------ */

static void
test_sudo_password (void)
{
  g_test_summary ("With no password option, sudo's prompt is answered from the router's "
                  "interaction, asked on the thread that called connect (in the context it "
                  "iterates), with a request naming sudo, the user and the target.");
  if (sudo_skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(TestInteraction) ia = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) uid = NULL;

      become_sudoer ();
      router = mitogen_router_new ();
      ia = test_interaction_new (MODE_ANSWER, the_password ());
      mitogen_router_set_interaction (router, MITOGEN_INTERACTION (ia));
      g_assert_true (mitogen_router_get_interaction (router) == MITOGEN_INTERACTION (ia));
      context = mitogen_router_connect (router, "sudo", sudo_options (30), NULL, NULL, &error);
      g_assert_no_error (error);
      uid = mitogen_context_call (context, "os.getuid", NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (g_variant_get_uint32 (uid), ==, getpwnam (IA_TARGET)->pw_uid);
      g_assert_cmpuint (ia->passwords, ==, 1);
      g_assert_false (ia->wrong_thread);
      g_assert_cmpstr (mitogen_secret_request_get_method (ia->last_secret), ==, "sudo");
      g_assert_cmpint (mitogen_secret_request_get_kind (ia->last_secret), ==, MITOGEN_SECRET_KIND_PASSWORD);
      g_assert_cmpstr (mitogen_secret_request_get_user (ia->last_secret), ==, IA_SUDOER);
      g_assert_cmpstr (mitogen_secret_request_get_target (ia->last_secret), ==, "sudo -u " IA_TARGET);
      g_assert_nonnull (strstr (mitogen_secret_request_get_prompt (ia->last_secret), IA_SUDOER));
      g_clear_object (&context);
      mitogen_router_shutdown (router);
      return;
    }
  run_as_sudoer ();
}

static void
test_sudo_option_first (void)
{
  g_test_summary ("The password option answers sudo's prompt: the interaction is not asked.");
  if (sudo_skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(TestInteraction) ia = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) base = g_variant_ref_sink (sudo_options (30));
      GVariantDict dict;

      become_sudoer ();
      router = mitogen_router_new ();
      ia = test_interaction_new (MODE_ANSWER, "not this one");
      mitogen_router_set_interaction (router, MITOGEN_INTERACTION (ia));
      g_variant_dict_init (&dict, base);
      g_variant_dict_insert (&dict, "password", "s", the_password ());
      context = mitogen_router_connect (router, "sudo", g_variant_dict_end (&dict), NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (ia->passwords, ==, 0);
      g_clear_object (&context);
      mitogen_router_shutdown (router);
      return;
    }
  run_as_sudoer ();
}

static void
test_sudo_wrong (void)
{
  g_test_summary ("A wrong answer from the interaction fails with MITOGEN_ERROR_PASSWORD.");
  if (sudo_skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(TestInteraction) ia = NULL;
      g_autoptr(GError) error = NULL;

      become_sudoer ();
      router = mitogen_router_new ();
      ia = test_interaction_new (MODE_ANSWER, "wrong-password");
      mitogen_router_set_interaction (router, MITOGEN_INTERACTION (ia));
      context = mitogen_router_connect (router, "sudo", sudo_options (30), NULL, NULL, &error);
      g_assert_null (context);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, "incorrect"));
      g_assert_cmpuint (ia->passwords, ==, 1);
      mitogen_router_shutdown (router);
      return;
    }
  run_as_sudoer ();
}

static void
test_sudo_unhandled (void)
{
  g_test_summary ("An interaction that does not answer (the base class) fails the connect with "
                  "MITOGEN_ERROR_PASSWORD naming the target.");
  if (sudo_skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(MitogenInteraction) ia = NULL;
      g_autoptr(GError) error = NULL;

      become_sudoer ();
      router = mitogen_router_new ();
      ia = mitogen_interaction_new ();
      mitogen_router_set_interaction (router, ia);
      context = mitogen_router_connect (router, "sudo", sudo_options (30), NULL, NULL, &error);
      g_assert_null (context);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, "sudo -u " IA_TARGET));
      g_assert_nonnull (strstr (error->message, "did not answer"));
      mitogen_router_shutdown (router);
      return;
    }
  run_as_sudoer ();
}

static void
test_sudo_timeout (void)
{
  g_test_summary ("An interaction that never answers fails the connect once its timeout (1 s) "
                  "passes, though connect_timeout is longer; the interaction's cancellable is "
                  "cancelled then.");
  if (sudo_skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(TestInteraction) ia = NULL;
      g_autoptr(GError) error = NULL;
      gint64 start;
      double elapsed;

      become_sudoer ();
      router = mitogen_router_new ();
      ia = test_interaction_new (MODE_NEVER, NULL);
      mitogen_interaction_set_timeout (MITOGEN_INTERACTION (ia), 1.0);
      g_assert_cmpfloat (mitogen_interaction_get_timeout (MITOGEN_INTERACTION (ia)), ==, 1.0);
      mitogen_router_set_interaction (router, MITOGEN_INTERACTION (ia));
      start = g_get_monotonic_time ();
      context = mitogen_router_connect (router, "sudo", sudo_options (30), NULL, NULL, &error);
      elapsed = (g_get_monotonic_time () - start) / 1e6;
      g_assert_null (context);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_test_message ("after %.2f s: %s", elapsed, error->message);
      g_assert_nonnull (strstr (error->message, "timeout"));
      g_assert_cmpfloat (elapsed, >=, 0.9);
      g_assert_cmpfloat (elapsed, <, 10.0);
      g_assert_true (saw_cancel (ia));
      mitogen_router_shutdown (router);
      return;
    }
  run_as_sudoer ();
}

static void
test_sudo_connect_timeout_paused (void)
{
  g_test_summary ("connect_timeout does not run while the interaction is asked: an answer after "
                  "2.5 s still connects with connect_timeout 2 s.");
  if (sudo_skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(TestInteraction) ia = NULL;
      g_autoptr(GError) error = NULL;

      become_sudoer ();
      router = mitogen_router_new ();
      /* Answers with a blocking sleep: the sync-in-async path. */
      ia = test_interaction_new (MODE_ANSWER, the_password ());
      mitogen_router_set_interaction (router, MITOGEN_INTERACTION (ia));
      g_object_set_data (G_OBJECT (ia), "delay", GINT_TO_POINTER (2500));
      context = mitogen_router_connect (router, "sudo", sudo_options (2.0), NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (ia->passwords, ==, 1);
      g_clear_object (&context);
      mitogen_router_shutdown (router);
      return;
    }
  run_as_sudoer ();
}

static void
test_sudo_cancel (void)
{
  g_test_summary ("Cancelling the connect while the interaction is asked fails it with "
                  "G_IO_ERROR_CANCELLED at once, and cancels the interaction's cancellable.");
  if (sudo_skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(TestInteraction) ia = NULL;
      g_autoptr(GCancellable) cancellable = g_cancellable_new ();
      g_autoptr(GError) error = NULL;
      gint64 start;

      become_sudoer ();
      router = mitogen_router_new ();
      ia = test_interaction_new (MODE_CANCEL, NULL);
      ia->cancel_this = g_object_ref (cancellable);
      mitogen_router_set_interaction (router, MITOGEN_INTERACTION (ia));
      start = g_get_monotonic_time ();
      context = mitogen_router_connect (router, "sudo", sudo_options (30), NULL, cancellable, &error);
      g_assert_null (context);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * G_USEC_PER_SEC);
      g_assert_cmpuint (ia->passwords, ==, 1);
      g_assert_true (saw_cancel (ia));
      g_assert_false (ia->wrong_thread);
      mitogen_router_shutdown (router);
      return;
    }
  run_as_sudoer ();
}

static void
test_sudo_via (void)
{
  g_test_summary ("sudo started through a local context (via): the intermediate's sudo prompt is "
                  "answered by the master's interaction, on the master's calling thread; a wrong "
                  "answer is MITOGEN_ERROR_PASSWORD.");
  if (sudo_skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) local = NULL, context = NULL;
      g_autoptr(TestInteraction) ia = NULL, wrong = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) uid = NULL;

      become_sudoer ();
      router = mitogen_router_new ();
      local = mitogen_router_local (router, NULL, NULL, &error);
      g_assert_no_error (error);
      ia = test_interaction_new (MODE_ANSWER, the_password ());
      mitogen_router_set_interaction (router, MITOGEN_INTERACTION (ia));
      context = mitogen_router_connect (router, "sudo", sudo_options (30), local, NULL, &error);
      g_assert_no_error (error);
      uid = mitogen_context_call (context, "os.getuid", NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (g_variant_get_uint32 (uid), ==, getpwnam (IA_TARGET)->pw_uid);
      g_assert_cmpuint (ia->passwords, ==, 1);
      g_assert_false (ia->wrong_thread);
      g_assert_cmpstr (mitogen_secret_request_get_target (ia->last_secret), ==, "sudo -u " IA_TARGET);
      g_clear_object (&context);

      wrong = test_interaction_new (MODE_ANSWER, "wrong-password");
      mitogen_router_set_interaction (router, MITOGEN_INTERACTION (wrong));
      context = mitogen_router_connect (router, "sudo", sudo_options (30), local, NULL, &error);
      g_assert_null (context);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      g_test_message ("%s", error->message);
      g_assert_cmpuint (wrong->passwords, ==, 1);
      g_clear_error (&error);

      /* Never answered: the master's timeout (1 s) ends it, through the chain. */
      {
        g_autoptr(TestInteraction) never = test_interaction_new (MODE_NEVER, NULL);
        gint64 start = g_get_monotonic_time ();

        mitogen_interaction_set_timeout (MITOGEN_INTERACTION (never), 1.0);
        mitogen_router_set_interaction (router, MITOGEN_INTERACTION (never));
        context = mitogen_router_connect (router, "sudo", sudo_options (30), local, NULL, &error);
        g_assert_null (context);
        g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
        g_test_message ("after %.2f s: %s", (g_get_monotonic_time () - start) / 1e6, error->message);
        g_assert_nonnull (strstr (error->message, "timeout"));
        g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * G_USEC_PER_SEC);
        g_assert_true (saw_cancel (never));
        g_clear_error (&error);
      }

      /* No interaction on the master: the intermediate's connect fails as before. */
      mitogen_router_set_interaction (router, NULL);
      context = mitogen_router_connect (router, "sudo", sudo_options (30), local, NULL, &error);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
      mitogen_router_shutdown (router);
      return;
    }
  run_as_sudoer ();
}

typedef struct
{
  MitogenRouter   *router;
  TestInteraction *ia;
  GError          *error;
  gboolean         ok;
} ThreadData;

static void
async_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  ThreadData *td = user_data;
  g_autoptr(MitogenContext) context = mitogen_router_connect_finish (MITOGEN_ROUTER (source), result,
                                                                     &td->error);

  td->ok = context != NULL;
}

static gpointer
async_thread (gpointer data)
{
  ThreadData *td = data;
  g_autoptr(GMainContext) context = g_main_context_new ();

  g_main_context_push_thread_default (context);
  /* This thread, iterating this context, is where the interaction runs. */
  td->ia->expected_thread = g_thread_self ();
  td->ia->expected_context = context;
  mitogen_router_connect_async (td->router, "sudo", sudo_options (30), NULL, NULL, async_done_cb, td);
  while (!td->ok && td->error == NULL)
    g_main_context_iteration (context, TRUE);
  g_main_context_pop_thread_default (context);
  return NULL;
}

static void
test_sudo_async_thread (void)
{
  g_test_summary ("connect_async from a thread with its own main context: the interaction runs "
                  "on that thread, in that context.");
  if (sudo_skipped ())
    return;
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(TestInteraction) ia = NULL;
      ThreadData td = { 0, };
      GThread *thread;

      become_sudoer ();
      router = mitogen_router_new ();
      ia = test_interaction_new (MODE_ANSWER, the_password ());
      mitogen_router_set_interaction (router, MITOGEN_INTERACTION (ia));
      td.router = router;
      td.ia = ia;
      thread = g_thread_new ("connector", async_thread, &td);
      g_thread_join (thread);
      g_assert_no_error (td.error);
      g_assert_true (td.ok);
      g_assert_cmpuint (ia->passwords, ==, 1);
      g_assert_false (ia->wrong_thread);
      mitogen_router_shutdown (router);
      return;
    }
  run_as_sudoer ();
}

/* --- ssh tests ------------------------------------------------------------------- */

typedef struct
{
  HostSshd      *sshd;
  MitogenRouter *router;
} Fixture;

static void
set_up (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  const char *why = host_fixture_unavailable (FALSE);

  if (why != NULL)
    {
      g_test_skip (why);
      return;
    }
  host_fixture_ensure_users (&error);
  g_assert_no_error (error);
  f->sshd = host_sshd_start (FALSE, &error);
  g_assert_no_error (error);
  f->router = mitogen_router_new ();
}

static void
tear_down (Fixture *f, gconstpointer data)
{
  if (f->router != NULL)
    {
      mitogen_router_shutdown (f->router);
      g_assert_finalize_object (g_steal_pointer (&f->router));
    }
  host_sshd_stop (g_steal_pointer (&f->sshd));
}

static GVariant *
ssh_options (Fixture    *f,
             const char *known_hosts,
             gboolean    key_user)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "hostname", g_variant_new_string (f->sshd->address));
  g_variant_builder_add (&b, "{sv}", "port", g_variant_new_int32 (f->sshd->port));
  g_variant_builder_add (&b, "{sv}", "known_hosts_file", g_variant_new_string (known_hosts));
  g_variant_builder_add (&b, "{sv}", "ssh_config", g_variant_new_boolean (FALSE));
  g_variant_builder_add (&b, "{sv}", "check_host_keys", g_variant_new_string ("enforce"));
  g_variant_builder_add (&b, "{sv}", "connect_timeout", g_variant_new_double (30));
  if (key_user)
    {
      g_variant_builder_add (&b, "{sv}", "username", g_variant_new_string (HOST_KEY_USER));
      g_variant_builder_add (&b, "{sv}", "identity_file", g_variant_new_string (f->sshd->client_key));
    }
  else
    g_variant_builder_add (&b, "{sv}", "username", g_variant_new_string (HOST_PASSWORD_USER));
  return g_variant_builder_end (&b);
}

static char *
host_fingerprint (Fixture *f)
{
  g_autofree char *pub = g_build_filename (f->sshd->dir, "host_key.pub", NULL);
  g_autofree char *out = NULL;
  g_auto(GStrv) parts = NULL;
  int status = 0;

  g_assert_true (g_spawn_sync (NULL, (char *[]) { "ssh-keygen", "-l", "-E", "sha256", "-f", pub, NULL }, NULL,
                               G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL, &status, NULL));
  g_assert_cmpint (status, ==, 0);
  parts = g_strsplit (out, " ", 3);
  g_assert_nonnull (parts[1]);
  return g_strdup (parts[1]);
}

static void
test_ssh_host_key_refuse (Fixture *f, gconstpointer data)
{
  g_autoptr(TestInteraction) ia = test_interaction_new (MODE_ANSWER, NULL);
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *file = NULL, *fingerprint = NULL;

  g_test_summary ("An unknown host under enforce: the interaction is asked with the host, port, "
                  "key type and real SHA256 fingerprint; refusing fails with the host-key error.");
  if (f->sshd == NULL)
    return;

  file = g_build_filename (f->sshd->dir, "ia_known_hosts", NULL);
  ia->host_key_answer = MITOGEN_HOST_KEY_ANSWER_REFUSE;
  mitogen_router_set_interaction (f->router, MITOGEN_INTERACTION (ia));
  context = mitogen_router_connect (f->router, "ssh", ssh_options (f, file, TRUE), NULL, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "not a known host"));
  g_assert_nonnull (strstr (error->message, "refused"));
  g_assert_cmpuint (ia->host_keys, ==, 1);
  g_assert_false (ia->wrong_thread);
  fingerprint = host_fingerprint (f);
  g_assert_cmpstr (mitogen_host_key_request_get_fingerprint (ia->last_host_key), ==, fingerprint);
  g_assert_cmpstr (mitogen_host_key_request_get_host (ia->last_host_key), ==, f->sshd->address);
  g_assert_cmpuint (mitogen_host_key_request_get_port (ia->last_host_key), ==, (guint) f->sshd->port);
  g_assert_cmpstr (mitogen_host_key_request_get_key_type (ia->last_host_key), ==, "ssh-ed25519");
  g_assert_false (mitogen_host_key_request_get_changed (ia->last_host_key));
  g_assert_cmpstr (mitogen_host_key_request_get_known_hosts_file (ia->last_host_key), ==, file);
  g_assert_false (g_file_test (file, G_FILE_TEST_EXISTS));
}

static void
test_ssh_host_key_unhandled (Fixture *f, gconstpointer data)
{
  g_autoptr(TestInteraction) ia = test_interaction_new (MODE_UNHANDLED, NULL);
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *file = NULL;

  g_test_summary ("An interaction that does not answer about an unknown host key: the "
                  "host-key error, saying so.");
  if (f->sshd == NULL)
    return;

  file = g_build_filename (f->sshd->dir, "ia_known_hosts", NULL);
  mitogen_router_set_interaction (f->router, MITOGEN_INTERACTION (ia));
  context = mitogen_router_connect (f->router, "ssh", ssh_options (f, file, TRUE), NULL, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_assert_nonnull (strstr (error->message, "not a known host"));
  g_assert_nonnull (strstr (error->message, "did not answer"));
  g_assert_cmpuint (ia->host_keys, ==, 1);
}

static void
test_ssh_host_key_accept_always (Fixture *f, gconstpointer data)
{
  g_autoptr(TestInteraction) ia = test_interaction_new (MODE_ANSWER, NULL);
  g_autoptr(MitogenContext) first = NULL, second = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *file = NULL, *text = NULL;
  g_auto(GStrv) key = NULL;

  g_test_summary ("Accept-always: the connect goes on, the key is written to known_hosts, and "
                  "the next connect is not asked.");
  if (f->sshd == NULL)
    return;

  file = g_build_filename (f->sshd->dir, "ia_known_hosts", NULL);
  ia->host_key_answer = MITOGEN_HOST_KEY_ANSWER_ACCEPT_ALWAYS;
  mitogen_router_set_interaction (f->router, MITOGEN_INTERACTION (ia));
  first = mitogen_router_connect (f->router, "ssh", ssh_options (f, file, TRUE), NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ia->host_keys, ==, 1);
  g_assert_true (g_file_get_contents (file, &text, NULL, NULL));
  key = g_strsplit (f->sshd->host_public, " ", 2);
  g_assert_nonnull (strstr (text, key[1]));

  second = mitogen_router_connect (f->router, "ssh", ssh_options (f, file, TRUE), NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ia->host_keys, ==, 1);
}

static void
test_ssh_host_key_accept_once (Fixture *f, gconstpointer data)
{
  g_autoptr(TestInteraction) ia = test_interaction_new (MODE_ANSWER, NULL);
  g_autoptr(MitogenContext) first = NULL, second = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *file = NULL;

  g_test_summary ("Accept-once: the connect goes on, nothing is written, the next connect asks again.");
  if (f->sshd == NULL)
    return;

  file = g_build_filename (f->sshd->dir, "ia_known_hosts", NULL);
  ia->host_key_answer = MITOGEN_HOST_KEY_ANSWER_ACCEPT_ONCE;
  mitogen_router_set_interaction (f->router, MITOGEN_INTERACTION (ia));
  first = mitogen_router_connect (f->router, "ssh", ssh_options (f, file, TRUE), NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (g_file_test (file, G_FILE_TEST_EXISTS));
  second = mitogen_router_connect (f->router, "ssh", ssh_options (f, file, TRUE), NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ia->host_keys, ==, 2);
}

static void
test_ssh_host_key_changed (Fixture *f, gconstpointer data)
{
  g_autoptr(TestInteraction) ia = test_interaction_new (MODE_ANSWER, NULL);
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *file = NULL, *line = NULL;

  g_test_summary ("A changed host key is put to the interaction marked as changed; refused, the "
                  "connect fails with the CHANGED error.");
  if (f->sshd == NULL)
    return;

  file = g_build_filename (f->sshd->dir, "ia_changed_known_hosts", NULL);
  line = host_sshd_known_hosts_line (f->sshd, f->sshd->other_public);
  g_assert_true (g_file_set_contents (file, line, -1, NULL));
  ia->host_key_answer = MITOGEN_HOST_KEY_ANSWER_REFUSE;
  mitogen_router_set_interaction (f->router, MITOGEN_INTERACTION (ia));
  context = mitogen_router_connect (f->router, "ssh", ssh_options (f, file, TRUE), NULL, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_assert_nonnull (strstr (error->message, "CHANGED"));
  g_assert_cmpuint (ia->host_keys, ==, 1);
  g_assert_true (mitogen_host_key_request_get_changed (ia->last_host_key));
}

/* A copy of the client key, protected by @passphrase. */
static char *
encrypted_key (Fixture    *f,
               const char *passphrase)
{
  g_autofree char *text = NULL;
  char *copy = g_build_filename (f->sshd->dir, "ia_encrypted_key", NULL);
  int status = -1;

  g_assert_true (g_file_get_contents (f->sshd->client_key, &text, NULL, NULL));
  g_assert_true (g_file_set_contents (copy, text, -1, NULL));
  g_assert_cmpint (chmod (copy, 0600), ==, 0);
  g_assert_true (g_spawn_sync (NULL, (char *[]) { "ssh-keygen", "-q", "-p", "-f", copy, "-P", "", "-N",
                                                  (char *) passphrase, NULL },
                               NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, NULL,
                               &status, NULL));
  g_assert_cmpint (status, ==, 0);
  return copy;
}

static void
test_ssh_passphrase (Fixture *f, gconstpointer data)
{
  g_autoptr(TestInteraction) ia = test_interaction_new (MODE_ANSWER, "Ia-passphrase-1");
  g_autoptr(TestInteraction) wrong = test_interaction_new (MODE_ANSWER, "not-it");
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *key = NULL;
  GVariantDict dict;

  g_test_summary ("identity_file protected by a passphrase: the interaction is asked for it (kind "
                  "PASSPHRASE) and the key then used; a wrong passphrase is MITOGEN_ERROR_PASSWORD.");
  if (f->sshd == NULL)
    return;

  key = encrypted_key (f, "Ia-passphrase-1");
  mitogen_router_set_interaction (f->router, MITOGEN_INTERACTION (ia));
  dict_init_from (&dict, ssh_options (f, f->sshd->known_hosts, TRUE));
  g_variant_dict_insert (&dict, "identity_file", "s", key);
  context = mitogen_router_connect (f->router, "ssh", g_variant_dict_end (&dict), NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ia->passwords, ==, 1);
  g_assert_cmpint (mitogen_secret_request_get_kind (ia->last_secret), ==, MITOGEN_SECRET_KIND_PASSPHRASE);
  g_assert_nonnull (strstr (mitogen_secret_request_get_prompt (ia->last_secret), key));
  g_assert_false (ia->wrong_thread);
  g_clear_object (&context);

  mitogen_router_set_interaction (f->router, MITOGEN_INTERACTION (wrong));
  dict_init_from (&dict, ssh_options (f, f->sshd->known_hosts, TRUE));
  g_variant_dict_insert (&dict, "identity_file", "s", key);
  context = mitogen_router_connect (f->router, "ssh", g_variant_dict_end (&dict), NULL, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
  g_assert_nonnull (strstr (error->message, "passphrase"));
  g_assert_cmpuint (wrong->passwords, ==, 1);
}

static void
test_ssh_password (Fixture *f, gconstpointer data)
{
  g_autoptr(TestInteraction) ia = test_interaction_new (MODE_ANSWER, HOST_PASSWORD);
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GVariant) uid = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *target = NULL;

  g_test_summary ("ssh password authentication with the password only from the interaction.");
  if (f->sshd == NULL)
    return;

  mitogen_router_set_interaction (f->router, MITOGEN_INTERACTION (ia));
  context = mitogen_router_connect (f->router, "ssh", ssh_options (f, f->sshd->known_hosts, FALSE),
                                    NULL, NULL, &error);
  g_assert_no_error (error);
  uid = mitogen_context_call (context, "os.getuid", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_get_uint32 (uid), ==, getpwnam (HOST_PASSWORD_USER)->pw_uid);
  g_assert_cmpuint (ia->passwords, ==, 1);
  g_assert_cmpuint (ia->host_keys, ==, 0);
  g_assert_false (ia->wrong_thread);
  g_assert_cmpstr (mitogen_secret_request_get_method (ia->last_secret), ==, "ssh");
  g_assert_cmpstr (mitogen_secret_request_get_user (ia->last_secret), ==, HOST_PASSWORD_USER);
  target = g_strdup_printf (HOST_PASSWORD_USER "@%s:%d", f->sshd->address, f->sshd->port);
  g_assert_cmpstr (mitogen_secret_request_get_target (ia->last_secret), ==, target);
}

static void
test_ssh_password_wrong (Fixture *f, gconstpointer data)
{
  g_autoptr(TestInteraction) ia = test_interaction_new (MODE_ANSWER, "not-the-password");
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A wrong ssh password from the interaction: MITOGEN_ERROR_PASSWORD.");
  if (f->sshd == NULL)
    return;

  mitogen_router_set_interaction (f->router, MITOGEN_INTERACTION (ia));
  context = mitogen_router_connect (f->router, "ssh", ssh_options (f, f->sshd->known_hosts, FALSE),
                                    NULL, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
  g_assert_nonnull (strstr (error->message, HOST_PASSWORD_USER));
  g_assert_cmpuint (ia->passwords, ==, 1);
}

static void
test_ssh_password_unhandled (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenInteraction) ia = mitogen_interaction_new ();
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("An interaction that does not answer the ssh password: MITOGEN_ERROR_PASSWORD "
                  "naming user and host.");
  if (f->sshd == NULL)
    return;

  mitogen_router_set_interaction (f->router, ia);
  context = mitogen_router_connect (f->router, "ssh", ssh_options (f, f->sshd->known_hosts, FALSE),
                                    NULL, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, HOST_PASSWORD_USER "@"));
  g_assert_nonnull (strstr (error->message, "did not answer"));
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
      sudo_skip = set_up_sudo_fixture ();
      if (host_fixture_unavailable (FALSE) == NULL && g_getenv ("MITOGEN_AGENT_PATH") == NULL)
        {
          g_autoptr(GError) error = NULL;
          g_autofree char *agent = g_build_filename (MITOGEN_BUILD_ROOT, "agent", "mitogen-agent", NULL);
          g_autofree char *copy = host_fixture_public_agent (agent, &agent_holder, &error);

          g_assert_no_error (error);
          g_setenv ("MITOGEN_AGENT_PATH", copy, TRUE);
        }
    }

  g_test_add_func ("/interaction/sudo/password", test_sudo_password);
  g_test_add_func ("/interaction/sudo/option-first", test_sudo_option_first);
  g_test_add_func ("/interaction/sudo/wrong", test_sudo_wrong);
  g_test_add_func ("/interaction/sudo/unhandled", test_sudo_unhandled);
  g_test_add_func ("/interaction/sudo/timeout", test_sudo_timeout);
  g_test_add_func ("/interaction/sudo/connect-timeout-paused", test_sudo_connect_timeout_paused);
  g_test_add_func ("/interaction/sudo/cancel", test_sudo_cancel);
  g_test_add_func ("/interaction/sudo/async-thread", test_sudo_async_thread);
  g_test_add_func ("/interaction/sudo/via", test_sudo_via);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, set_up, fn, tear_down)
  ADD ("/interaction/ssh/host-key/refuse", test_ssh_host_key_refuse);
  ADD ("/interaction/ssh/host-key/unhandled", test_ssh_host_key_unhandled);
  ADD ("/interaction/ssh/host-key/accept-always", test_ssh_host_key_accept_always);
  ADD ("/interaction/ssh/host-key/accept-once", test_ssh_host_key_accept_once);
  ADD ("/interaction/ssh/host-key/changed", test_ssh_host_key_changed);
  ADD ("/interaction/ssh/password", test_ssh_password);
  ADD ("/interaction/ssh/passphrase", test_ssh_passphrase);
  ADD ("/interaction/ssh/password-wrong", test_ssh_password_wrong);
  ADD ("/interaction/ssh/password-unhandled", test_ssh_password_unhandled);

  status = g_test_run ();
  if (!g_test_subprocess ())
    stop_guardian ();
  host_sshd_stop (agent_holder);
  return status;
}
