/* test-fakessh.c — mitogen_fakessh_run () against a local context
 *
 * The program run is a shell script that uses `ssh` the way tools do;
 * the real tools (rsync, scp, sftp, git, into a sudo context) are in
 * tests/tool/test-fakessh.py. Here: exit statuses, stdin/stdout/stderr,
 * options, several ssh at once and in a pipeline, a destination killed
 * mid-transfer, a client killed mid-command, timeout, cancel, bad input,
 * and no leaked descriptors, threads or processes.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <glib/gstdio.h>
#include <unistd.h>

#include "mitogen-test.h"

/* Under valgrind (the slow suite sets MITOGEN_TEST_CYCLES) every agent and
 * fake ssh is ten times slower: fewer rounds, longer limits. */
static gboolean slow;
#define SLOW(fast, valgrind) (slow ? (valgrind) : (fast))

typedef struct
{
  MitogenRouter  *router;
  MitogenContext *context;
  char           *dir;
} Fixture;

static void
fixture_setup (Fixture       *fx,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fx->router = mitogen_router_new ();
  fx->context = mitogen_test_local (fx->router);
  fx->dir = g_dir_make_tmp ("test-fakessh-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture       *fx,
                  gconstpointer  data)
{
  g_autofree char *command = g_strdup_printf ("rm -rf '%s'", fx->dir);

  g_assert_cmpint (system (command), ==, 0);
  g_free (fx->dir);
  g_clear_object (&fx->context);
  mitogen_router_shutdown (fx->router);
  g_clear_object (&fx->router);
}

/* Runs `sh -c SCRIPT` in fx->dir under fakessh; returns its status. */
static int
run_script (Fixture     *fx,
            const char  *script,
            double       timeout,
            GError     **error)
{
  g_autofree char *full = g_strdup_printf ("cd '%s' && { %s\n}", fx->dir, script);
  const char *argv[] = { "sh", "-c", full, NULL };

  return mitogen_fakessh_run (fx->router, fx->context, argv, NULL, timeout, NULL, error);
}

static char *
read_file (Fixture    *fx,
           const char *name)
{
  g_autofree char *path = g_build_filename (fx->dir, name, NULL);
  g_autoptr(GError) error = NULL;
  char *text = NULL;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  return text;
}

static void
test_status_and_streams (Fixture       *fx,
                         gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL, *err = NULL;
  int status;

  g_test_summary ("The remote command's exit status, stdout and stderr come back apart; "
                  "the host name and ssh's harmless options are ignored");

  status = run_script (fx, "ssh -p 2222 -o BatchMode=yes -i /nonexistent user@anyhost "
                           "'echo out; echo err >&2; exit 7' >out 2>err; echo $? >status", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  out = read_file (fx, "out");
  err = read_file (fx, "err");
  g_assert_cmpstr (out, ==, "out\n");
  g_assert_cmpstr (err, ==, "err\n");
  g_clear_pointer (&out, g_free);
  out = read_file (fx, "status");
  g_assert_cmpstr (out, ==, "7\n");

  /* Commands run in the home directory, as with sshd. */
  status = run_script (fx, "ssh h pwd > pwd", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  {
    g_autofree char *pwd = read_file (fx, "pwd");
    g_autofree char *expected = g_strconcat (g_get_home_dir (), "\n", NULL);

    g_assert_cmpstr (pwd, ==, expected);
  }

  /* The program's own status is ours. */
  status = run_script (fx, "exit 3", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 3);
  /* 128 + N when a signal killed it. */
  status = run_script (fx, "kill -TERM $$", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 128 + SIGTERM);
}

static void
test_stdin (Fixture       *fx,
            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  int status;

  g_test_summary ("stdin reaches the remote command, end-of-file too; -n gives it none; "
                  "the words of the command are joined as ssh does");

  status = run_script (fx, "head -c 3000000 /dev/urandom > in && ssh h cat < in > out && cmp in out && "
                           "printf 'a\\nb\\n' | ssh h 'cat; echo end' > eof && "
                           "echo ignored | ssh -n h wc -c > none && "
                           "ssh h echo one '  two' > words",
                       0, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  out = read_file (fx, "eof");
  g_assert_cmpstr (out, ==, "a\nb\nend\n");
  g_clear_pointer (&out, g_free);
  out = read_file (fx, "none");
  g_assert_cmpstr (g_strstrip (out), ==, "0");
  g_clear_pointer (&out, g_free);
  out = read_file (fx, "words");
  /* ssh joins the words with spaces and the remote shell splits again. */
  g_assert_cmpstr (out, ==, "one two\n");
}

static void
test_scp_in_script (Fixture       *fx,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  int status;

  g_test_summary ("scp and sftp run by a script (not the program itself) go through fakessh too, "
                  "in both scp modes; an unresolvable host proves no real ssh ran");

  status = run_script (fx, "head -c 100000 /dev/urandom > data && "
                           "scp -q -o ConnectTimeout=2 data nowhere.invalid:\"$PWD/copy1\" && cmp data copy1 && "
                           "scp -q -O -o ConnectTimeout=2 nowhere.invalid:\"$PWD/data\" copy2 && cmp data copy2 && "
                           "echo \"get $PWD/data copy3\" | sftp -q -b - nowhere.invalid > /dev/null && cmp data copy3",
                       SLOW (60, 600), &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
}

static void
test_environment (Fixture       *fx,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  int status;

  g_test_summary ("SendEnv and SetEnv reach the remote command; other variables do not");

  status = run_script (fx, "FAKE_ONE=1 FAKE_TWO=2 NOT_SENT=x ssh -o SendEnv=FAKE_* -o 'SetEnv LANGUAGE=xx' h "
                           "'echo \"$FAKE_ONE $FAKE_TWO $LANGUAGE [$NOT_SENT]\"' > out",
                       0, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  out = read_file (fx, "out");
  g_assert_cmpstr (out, ==, "1 2 xx []\n");
}

static void
test_refused_options (Fixture       *fx,
                      gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  int status;

  g_test_summary ("Options fakessh cannot honour fail that ssh with status 255 and one line naming them");

  status = run_script (fx, "ssh -L 8080:localhost:80 h true 2> err; echo $? > status", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  err = read_file (fx, "status");
  g_assert_cmpstr (err, ==, "255\n");
  g_clear_pointer (&err, g_free);
  err = read_file (fx, "err");
  g_assert_nonnull (strstr (err, "-L"));
  g_assert_cmpint (strchr (err, '\n') - err, ==, (int) strlen (err) - 1);

  /* An interactive session is refused as clearly. */
  status = run_script (fx, "ssh h < /dev/null 2> err; echo $? > status", 0, &error);
  g_assert_no_error (error);
  g_clear_pointer (&err, g_free);
  err = read_file (fx, "status");
  g_assert_cmpstr (err, ==, "255\n");
}

static void
test_concurrent (Fixture       *fx,
                 gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL, *script = NULL;
  g_autoptr(GString) expected = g_string_new (NULL);
  int bytes = SLOW (20000000, 3000000), parallel = SLOW (8, 3);
  int status;

  g_test_summary ("Several ssh at once (a pipeline between two, eight in parallel) and many one after "
                  "another: each is a context of its own, and the destination runs them side by side");

  /* Far more than the flow-control windows and pipe buffers: with one
   * program at a time in the destination this would never finish. */
  script = g_strdup_printf ("ssh h 'head -c %d /dev/zero' | ssh h 'wc -c' > pipe && "
                            "for i in $(seq %d); do ssh h \"sleep 0.3; echo $i\" > par.$i & done; wait && "
                            "for i in $(seq %d); do cat par.$i; done > par && "
                            "for i in $(seq %d); do ssh h true || exit 9; done",
                            bytes, parallel, parallel, SLOW (30, 3));
  status = run_script (fx, script, SLOW (60, 600), &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  out = read_file (fx, "pipe");
  g_assert_cmpint (atoi (out), ==, bytes);
  g_clear_pointer (&out, g_free);
  out = read_file (fx, "par");
  for (int i = 1; i <= parallel; i++)
    g_string_append_printf (expected, "%d\n", i);
  g_assert_cmpstr (out, ==, expected->str);
}

static void
test_dest_killed (Fixture       *fx,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *script = NULL, *out = NULL;
  GPid pid = mitogen_context_get_pid (fx->context);
  gint64 start;
  int status;

  g_test_summary ("Killing the destination mid-transfer makes every ssh fail at once with 255; "
                  "the program sees it and nothing is left behind");

  script = g_strdup_printf ("(sleep 1; kill -9 %d) & ssh h 'cat /dev/zero' > /dev/null 2> err; echo $? > status",
                            (int) pid);
  start = g_get_monotonic_time ();
  status = run_script (fx, script, SLOW (30, 300), &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  g_assert_cmpint (g_get_monotonic_time () - start, <, SLOW (6, 60) * G_USEC_PER_SEC);
  out = read_file (fx, "status");
  g_assert_cmpstr (out, ==, "255\n");
  g_assert_true (mitogen_test_wait_pid_gone (pid, 2000));

  /* Later runs fail at once with a clear error. */
  g_clear_pointer (&out, g_free);
  {
    const char *argv[] = { "true", NULL };

    for (int i = 0; i < 500 && mitogen_context_is_connected (fx->context); i++)
      g_usleep (10000);
    g_assert_false (mitogen_context_is_connected (fx->context));
    status = mitogen_fakessh_run (fx->router, fx->context, argv, NULL, 0, NULL, &error);
    g_assert_cmpint (status, ==, -1);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  }
}

static void
test_via (Fixture       *fx,
          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenContext) leaf = NULL;
  g_autofree char *script = NULL, *out = NULL;
  const char *argv[] = { "sh", "-c", NULL, NULL };
  GPid middle = mitogen_context_get_pid (fx->context);
  int status;

  g_test_summary ("A destination behind another context: ssh works through the chain, and when the "
                  "context in the middle dies mid-transfer every ssh fails at once with 255");

  leaf = mitogen_router_local (fx->router, NULL, fx->context, &error);
  g_assert_no_error (error);

  script = g_strdup_printf ("cd '%s' && ssh h 'head -c 5000000 /dev/zero' | wc -c > count && "
                            "{ (until [ -e started ]; do sleep 0.05; done; kill -9 %d) & "
                            "ssh h 'touch %s/started; cat /dev/zero' > /dev/null 2> err; echo $? > status; }",
                            fx->dir, (int) middle, fx->dir);
  argv[2] = script;
  status = mitogen_fakessh_run (fx->router, leaf, argv, NULL, SLOW (30, 300), NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  out = read_file (fx, "count");
  g_assert_cmpstr (g_strstrip (out), ==, "5000000");
  g_clear_pointer (&out, g_free);
  out = read_file (fx, "status");
  g_assert_cmpstr (out, ==, "255\n");
  g_assert_true (mitogen_test_wait_pid_gone (middle, 2000));
}

/* Whether a process whose command line contains @marker runs. */
static gboolean
marker_running (const char *marker)
{
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;

  while ((name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%s/cmdline", name);
      g_autofree char *text = NULL;
      gsize len = 0;

      if (!g_ascii_isdigit (name[0]) || !g_file_get_contents (path, &text, &len, NULL))
        continue;
      for (gsize i = 0; i + 1 < len; i++)
        if (text[i] == '\0')
          text[i] = ' ';
      if (strstr (text, marker) != NULL && strstr (text, "sh -c") != NULL && strstr (text, "ssh") == NULL)
        return TRUE;
    }
  return FALSE;
}

static void
test_client_killed (Fixture       *fx,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *marker = g_strdup_printf ("sleep 300 # fakessh-%08x", g_random_int ());
  g_autofree char *script = NULL;
  gint64 deadline;
  int status;

  g_test_summary ("When a tool kills its ssh, the command it ran in the destination is stopped");

  /* Killed once the command runs in the destination. */
  script = g_strdup_printf ("ssh h 'touch %s/started; %s' & pid=$!; "
                            "until [ -e started ]; do sleep 0.05; done; kill -9 $pid; wait $pid",
                            fx->dir, marker);
  status = run_script (fx, script, SLOW (30, 300), &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 128 + SIGKILL);

  deadline = g_get_monotonic_time () + SLOW (3, 30) * G_USEC_PER_SEC;
  while (marker_running (marker) && g_get_monotonic_time () < deadline)
    g_usleep (20000);
  g_assert_false (marker_running (marker));
}

static gboolean
cancel_cb (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_REMOVE;
}

static gpointer
iterate_once (gpointer data)
{
  g_main_context_iteration (data, TRUE);
  return NULL;
}

static void
test_timeout_and_cancel (Fixture       *fx,
                         gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  const char *argv[] = { "sh", "-c", "ssh h 'sleep 30'", NULL };
  gint64 start = g_get_monotonic_time ();
  int status;

  g_test_summary ("A timeout or a cancellation stops the program and its ssh promptly");

  status = mitogen_fakessh_run (fx->router, fx->context, argv, NULL, 0.5, NULL, &error);
  g_assert_cmpint (status, ==, -1);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_assert_cmpint (g_get_monotonic_time () - start, <, SLOW (5, 30) * G_USEC_PER_SEC);
  g_clear_error (&error);

  start = g_get_monotonic_time ();
  {
    /* The cancel comes from another thread's main loop. */
    g_autoptr(GMainContext) other = g_main_context_new ();
    GSource *timer = g_timeout_source_new (300);
    GThread *thread;

    g_source_set_callback (timer, cancel_cb, cancellable, NULL);
    g_source_attach (timer, other);
    g_source_unref (timer);
    thread = g_thread_new ("canceller", iterate_once, other);
    status = mitogen_fakessh_run (fx->router, fx->context, argv, NULL, 0, cancellable, &error);
    g_thread_join (thread);
  }
  g_assert_cmpint (status, ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, SLOW (5, 30) * G_USEC_PER_SEC);
}

static void
test_bad_input (Fixture       *fx,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  const char *missing[] = { "/nonexistent/program", NULL };
  const char *empty[] = { NULL };
  g_autoptr(MitogenRouter) other = mitogen_router_new ();
  g_autoptr(MitogenContext) foreign = mitogen_test_local (other);
  const char *argv[] = { "true", NULL };
  int status;

  g_test_summary ("Bad input is a GError with a useful message, never a crash");

  status = mitogen_fakessh_run (fx->router, fx->context, missing, NULL, 0, NULL, &error);
  g_assert_cmpint (status, ==, -1);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "/nonexistent/program"));
  g_clear_error (&error);

  status = mitogen_fakessh_run (fx->router, fx->context, empty, NULL, 0, NULL, &error);
  g_assert_cmpint (status, ==, -1);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  status = mitogen_fakessh_run (fx->router, foreign, argv, NULL, 0, NULL, &error);
  g_assert_cmpint (status, ==, -1);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  mitogen_router_shutdown (other);

  /* Our ssh outside a fakessh run says so. */
  {
    g_autofree char *out = NULL;

    status = run_script (fx, "env -u MITOGEN_FAKESSH ssh h true 2> err; echo $? > status", 0, &error);
    g_assert_no_error (error);
    out = read_file (fx, "status");
    g_assert_cmpstr (out, ==, "255\n");
    g_clear_pointer (&out, g_free);
    out = read_file (fx, "err");
    g_assert_nonnull (strstr (out, "MITOGEN_FAKESSH"));
  }
}

/* Our private directories in the temporary directory. */
static guint
count_tmpdirs (void)
{
  g_autoptr(GDir) dir = g_dir_open (g_get_tmp_dir (), 0, NULL);
  const char *name;
  guint n = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    n += g_str_has_prefix (name, "mitogen-fakessh-");
  return n;
}

static void
test_control_garbage (Fixture       *fx,
                      gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  int status;

  g_test_summary ("Never trust the wire: junk on the inherited control socket (no descriptor, two, "
                  "a wrong tag, an empty datagram, a pipe instead of a socket, a socket that closes at "
                  "once) is ignored, and ssh keeps working");

  status = run_script (fx,
                       "python3 - <<'PY' && ssh h echo still-working > out\n"
                       "import os, socket\n"
                       "s = socket.socket(fileno=int(os.environ['MITOGEN_FAKESSH'].split(':')[0]))\n"
                       "r, w = os.pipe()\n"
                       "a, b = socket.socketpair()\n"
                       "s.send(b'MGFS')\n"
                       "s.send(b'')\n"
                       "s.sendmsg([b'XXXX'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, bytes(memoryview(__import__('array').array('i', [a.fileno()]))))])\n"
                       "s.sendmsg([b'MGFS'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, bytes(memoryview(__import__('array').array('i', [a.fileno(), b.fileno()]))))])\n"
                       "s.sendmsg([b'MGFS'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, bytes(memoryview(__import__('array').array('i', [r]))))])\n"
                       "c, d = socket.socketpair()\n"
                       "s.sendmsg([b'MGFS'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, bytes(memoryview(__import__('array').array('i', [d.fileno()]))))])\n"
                       "c.send(b'garbage that is not a greeting' * 100)\n"
                       "c.close()\n"
                       "s.send(b'MGFS-and-more')\n"
                       "PY",
                       SLOW (30, 300), &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  out = read_file (fx, "out");
  g_assert_cmpstr (out, ==, "still-working\n");
}

static void
test_stale_tmpdirs (Fixture       *fx,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dead = NULL, *alive = NULL, *link = NULL;
  const char *argv[] = { "true", NULL };
  GPid pid;
  int status;

  g_test_summary ("A run removes the private directories that SIGKILLed masters left behind, and "
                  "only those");

  /* A pid that was alive and is gone now. */
  g_spawn_async (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                 NULL, NULL, &pid, &error);
  g_assert_no_error (error);
  waitpid (pid, NULL, 0);
  g_spawn_close_pid (pid);
  dead = g_strdup_printf ("%s/mitogen-fakessh-%d-TeSt01", g_get_tmp_dir (), (int) pid);
  alive = g_strdup_printf ("%s/mitogen-fakessh-1-TeSt02", g_get_tmp_dir ());
  g_assert_cmpint (g_mkdir (dead, 0700), ==, 0);
  g_assert_cmpint (g_mkdir (alive, 0700), ==, 0);
  link = g_build_filename (dead, "ssh", NULL);
  g_assert_cmpint (symlink ("/nonexistent", link), ==, 0);

  status = run_script (fx, "ssh h true", SLOW (30, 300), &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  g_assert_false (g_file_test (dead, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (alive, G_FILE_TEST_IS_DIR));
  g_rmdir (alive);
}

static void
test_no_leaks (Fixture       *fx,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  guint fds, threads, children, tmpdirs;
  int status;

  g_test_summary ("Runs leave no descriptors, threads, child processes or temporary directories behind");

  status = run_script (fx, "ssh h true", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  fds = mitogen_test_count_fds ();
  threads = mitogen_test_count_threads ();
  children = mitogen_test_count_children ();
  tmpdirs = count_tmpdirs ();

  for (int i = 0; i < SLOW (10, 2); i++)
    {
      status = run_script (fx, "ssh h true && ssh h 'echo x' > /dev/null & ssh h true; wait", 0, &error);
      g_assert_no_error (error);
      g_assert_cmpint (status, ==, 0);
    }
  /* Client contexts go as their streams close: give the broker a moment. */
  for (int i = 0; i < 100 && mitogen_test_count_fds () > fds; i++)
    g_usleep (10000);
  g_assert_cmpuint (mitogen_test_count_fds (), <=, fds);
  g_assert_cmpuint (mitogen_test_count_threads (), <=, threads);
  g_assert_cmpuint (mitogen_test_count_children (), ==, children);
  g_assert_cmpuint (count_tmpdirs (), ==, tmpdirs);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  slow = g_getenv ("MITOGEN_TEST_CYCLES") != NULL;

#define ADD(path, func) g_test_add ("/fakessh/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("status-and-streams", test_status_and_streams);
  ADD ("stdin", test_stdin);
  ADD ("environment", test_environment);
  ADD ("scp-in-script", test_scp_in_script);
  ADD ("refused-options", test_refused_options);
  ADD ("concurrent", test_concurrent);
  ADD ("client-killed", test_client_killed);
  ADD ("timeout-and-cancel", test_timeout_and_cancel);
  ADD ("bad-input", test_bad_input);
  ADD ("control-garbage", test_control_garbage);
  ADD ("stale-tmpdirs", test_stale_tmpdirs);
  ADD ("no-leaks", test_no_leaks);
  ADD ("dest-killed", test_dest_killed);
  ADD ("via", test_via);
#undef ADD

  return g_test_run ();
}
