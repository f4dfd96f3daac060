/* test-process.c — MitogenProcess's asynchronous API and its edges: start,
 * write (flow-controlled, queued in order), close_stdin and wait without
 * blocking; cancelling each (and the cancel signal that stops the program
 * too); operations before the start or after closing stdin; a large write
 * against a program that does not read, with memory bounded on both sides.
 *
 * Every test runs a real local context and real programs in it; the
 * callbacks run in a main context of the test's own, iterated here.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "mitogen-test.h"

#define TIMEOUT_USEC (30 * G_USEC_PER_SEC)

typedef struct
{
  MitogenRouter  *router;   /* (owned) */
  MitogenContext *context;  /* (owned) */
  GMainContext   *main;     /* (owned) thread-default during the test */
  char           *tmp;      /* (owned) a scratch directory */
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  f->main = g_main_context_new ();
  g_main_context_push_thread_default (f->main);
  f->router = mitogen_router_new ();
  f->context = mitogen_test_local (f->router);
  f->tmp = g_dir_make_tmp ("mitogen-process-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  GPid pid = mitogen_context_get_pid (f->context);
  g_autoptr(GDir) dir = g_dir_open (f->tmp, 0, NULL);
  const char *name;

  g_clear_object (&f->context);
  mitogen_router_shutdown (f->router);
  g_assert_finalize_object (f->router);
  g_assert_true (mitogen_test_wait_pid_gone (pid, 10000));
  /* Callbacks still queued (none should be) run now, not never. */
  while (g_main_context_iteration (f->main, FALSE))
    ;
  g_main_context_pop_thread_default (f->main);
  g_main_context_unref (f->main);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (f->tmp, name, NULL);
      g_unlink (path);
    }
  g_rmdir (f->tmp);
  g_free (f->tmp);
}

static gboolean
tick_cb (gpointer data)
{
  return G_SOURCE_REMOVE;
}

/* One iteration of the test's main context, blocking at most 20 ms. */
static void
iterate (Fixture *f)
{
  g_autoptr(GSource) tick = g_timeout_source_new (20);

  g_source_set_callback (tick, tick_cb, NULL, NULL);
  g_source_attach (tick, f->main);
  g_main_context_iteration (f->main, TRUE);
  g_source_destroy (tick);
}

/* Iterates the test's main context until *@flag, or fails after 30 s. */
static void
run_until (Fixture        *f,
           const gboolean *flag)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT_USEC;

  while (!*flag && g_get_monotonic_time () < deadline)
    iterate (f);
  g_assert_true (*flag);
}

/* Iterates the test's main context for @msec. */
static void
run_for (Fixture *f,
         guint    msec)
{
  gint64 until = g_get_monotonic_time () + (gint64) msec * 1000;

  while (g_get_monotonic_time () < until)
    iterate (f);
}

/* --- an asynchronous operation's outcome ----------------------------------- */

typedef struct
{
  gboolean  done;
  gboolean  ok;
  GError   *error;    /* (owned) (nullable) */
  gint64    at;       /* monotonic time of completion */
  int       order;    /* completion rank, from *counter */
  int      *counter;  /* (nullable) */
} Outcome;

static void
outcome_clear (Outcome *outcome)
{
  g_clear_error (&outcome->error);
  outcome->done = FALSE;
}

static void
outcome_set (Outcome  *outcome,
             gboolean  ok,
             GError   *error)
{
  g_assert_false (outcome->done);
  outcome->done = TRUE;
  outcome->ok = ok;
  outcome->error = error;
  outcome->at = g_get_monotonic_time ();
  if (outcome->counter != NULL)
    outcome->order = (*outcome->counter)++;
}

static void
started_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  GError *error = NULL;
  gboolean ok = mitogen_process_start_finish (MITOGEN_PROCESS (source), result, &error);

  outcome_set (data, ok, error);
}

static void
written_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  GError *error = NULL;
  gboolean ok = mitogen_process_write_finish (MITOGEN_PROCESS (source), result, &error);

  outcome_set (data, ok, error);
}

static void
closed_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  GError *error = NULL;
  gboolean ok = mitogen_process_close_stdin_finish (MITOGEN_PROCESS (source), result, &error);

  outcome_set (data, ok, error);
}

static void
waited_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  GError *error = NULL;
  gboolean ok = mitogen_process_wait_finish (MITOGEN_PROCESS (source), result, &error);

  outcome_set (data, ok, error);
}

typedef struct
{
  Outcome  outcome;
  GBytes  *chunk;  /* (owned) (nullable) */
  int      fd;
} ReadOutcome;

static void
read_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  ReadOutcome *read = data;
  GError *error = NULL;

  read->chunk = mitogen_process_read_finish (MITOGEN_PROCESS (source), result, &read->fd, &error);
  outcome_set (&read->outcome, read->chunk != NULL, error);
}

static MitogenProcess *
start_async_ok (Fixture            *f,
                const char * const *argv,
                guint64             window)
{
  MitogenProcess *process = mitogen_process_new (f->context, argv);
  Outcome started = { 0, };

  if (window != 0)
    mitogen_process_set_window (process, window);
  mitogen_process_start_async (process, NULL, started_cb, &started);
  run_until (f, &started.done);
  g_assert_no_error (started.error);
  g_assert_true (started.ok);
  g_assert_cmpint (mitogen_process_get_pid (process), >, 0);
  return process;
}

/* Reads asynchronously to the end: stdout appended to @out. */
static void
read_all_async (Fixture        *f,
                MitogenProcess *process,
                GByteArray     *out)
{
  for (;;)
    {
      ReadOutcome read = { { 0, }, NULL, 0 };

      mitogen_process_read_async (process, NULL, read_cb, &read);
      run_until (f, &read.outcome.done);
      g_assert_no_error (read.outcome.error);
      if (read.chunk == NULL)
        return;
      g_assert_cmpint (read.fd, ==, 1);
      g_byte_array_append (out, g_bytes_get_data (read.chunk, NULL), (guint) g_bytes_get_size (read.chunk));
      g_bytes_unref (read.chunk);
    }
}

static GBytes *
pattern_bytes (gsize  len,
               guint8 seed)
{
  guint8 *data = g_malloc (len);

  for (gsize i = 0; i < len; i++)
    data[i] = (guint8) (seed + i * 7 + i / 251);
  return g_bytes_new_take (data, len);
}

/* --- tests ------------------------------------------------------------------ */

static void
test_async_round_trip (Fixture *f, gconstpointer data)
{
  const char *argv[] = { "cat", NULL };
  g_autoptr(MitogenProcess) process = start_async_ok (f, argv, 64 * 1024);
  g_autoptr(GByteArray) expected = g_byte_array_new ();
  g_autoptr(GByteArray) out = g_byte_array_new ();
  Outcome writes[6] = { { 0, }, };
  Outcome closed = { 0, };
  Outcome waited = { 0, };
  int counter = 0;

  g_test_summary ("start_async, then six write_async of different sizes queued at once and "
                  "close_stdin_async after them, while read_async takes cat's output: the "
                  "writes complete in order, the output is every byte in order, wait_async "
                  "gives the exit status.");

  for (guint i = 0; i < G_N_ELEMENTS (writes); i++)
    {
      g_autoptr(GBytes) piece = pattern_bytes (i % 2 == 0 ? 300 * 1024 + i : 17 + i, (guint8) i);

      writes[i].counter = &counter;
      g_byte_array_append (expected, g_bytes_get_data (piece, NULL), (guint) g_bytes_get_size (piece));
      mitogen_process_write_async (process, piece, NULL, written_cb, &writes[i]);
    }
  closed.counter = &counter;
  mitogen_process_close_stdin_async (process, NULL, closed_cb, &closed);
  /* The window (64 KiB) holds back the first write: nothing is done yet. */
  g_assert_false (writes[0].done);

  read_all_async (f, process, out);
  g_assert_cmpmem (out->data, out->len, expected->data, expected->len);
  for (guint i = 0; i < G_N_ELEMENTS (writes); i++)
    {
      g_assert_true (writes[i].done);
      g_assert_no_error (writes[i].error);
      g_assert_cmpint (writes[i].order, ==, (int) i);
    }
  g_assert_true (closed.done);
  g_assert_no_error (closed.error);
  g_assert_cmpint (closed.order, ==, G_N_ELEMENTS (writes));

  mitogen_process_wait_async (process, NULL, waited_cb, &waited);
  run_until (f, &waited.done);
  g_assert_no_error (waited.error);
  g_assert_true (mitogen_process_get_if_exited (process));
  g_assert_cmpint (mitogen_process_get_exit_status (process), ==, 0);
}

static void
test_async_wait (Fixture *f, gconstpointer data)
{
  const char *argv[] = { "sh", "-c", "echo discarded; echo also >&2; exit 3", NULL };
  g_autoptr(MitogenProcess) process = start_async_ok (f, argv, 0);
  Outcome closed = { 0, };
  Outcome waited = { 0, };

  g_test_summary ("wait_async discards the output and completes with the exit status; "
                  "close_stdin_async with nothing queued completes at once.");

  mitogen_process_close_stdin_async (process, NULL, closed_cb, &closed);
  mitogen_process_wait_async (process, NULL, waited_cb, &waited);
  run_until (f, &waited.done);
  g_assert_true (closed.done);
  g_assert_no_error (closed.error);
  g_assert_no_error (waited.error);
  g_assert_true (waited.ok);
  g_assert_true (mitogen_process_get_finished (process));
  g_assert_cmpint (mitogen_process_get_exit_status (process), ==, 3);
}

static void
test_not_started (Fixture *f, gconstpointer data)
{
  const char *argv[] = { "true", NULL };
  g_autoptr(MitogenProcess) process = mitogen_process_new (f->context, argv);
  g_autoptr(GBytes) bytes = g_bytes_new_static ("x", 1);
  g_autoptr(GError) error = NULL;
  Outcome waited = { 0, }, written = { 0, }, closed = { 0, }, started = { 0, }, again = { 0, };
  ReadOutcome read = { { 0, }, NULL, 0 };

  g_test_summary ("Before the start every operation is G_IO_ERROR_NOT_CONNECTED (no critical); "
                  "while it starts, PENDING; a second start is PENDING.");

  g_assert_false (mitogen_process_wait (process, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_assert_nonnull (strstr (error->message, "not started"));
  g_clear_error (&error);
  g_assert_null (mitogen_process_read (process, NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_clear_error (&error);
  g_assert_false (mitogen_process_write (process, bytes, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_clear_error (&error);
  g_assert_false (mitogen_process_close_stdin (process, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_clear_error (&error);
  g_assert_false (mitogen_process_send_signal (process, SIGTERM, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_clear_error (&error);
  g_assert_cmpint (mitogen_process_get_pid (process), ==, -1);

  mitogen_process_wait_async (process, NULL, waited_cb, &waited);
  mitogen_process_read_async (process, NULL, read_cb, &read);
  mitogen_process_write_async (process, bytes, NULL, written_cb, &written);
  mitogen_process_close_stdin_async (process, NULL, closed_cb, &closed);
  run_until (f, &waited.done);
  run_until (f, &read.outcome.done);
  run_until (f, &written.done);
  run_until (f, &closed.done);
  g_assert_error (waited.error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_assert_error (read.outcome.error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_assert_error (written.error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_assert_error (closed.error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  outcome_clear (&waited);
  outcome_clear (&read.outcome);

  /* Starting: reads and waits would take the start's reply. */
  mitogen_process_start_async (process, NULL, started_cb, &started);
  mitogen_process_read_async (process, NULL, read_cb, &read);
  g_assert_false (mitogen_process_wait (process, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PENDING);
  g_clear_error (&error);
  g_assert_false (mitogen_process_start (process, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PENDING);
  g_clear_error (&error);
  mitogen_process_start_async (process, NULL, started_cb, &again);
  run_until (f, &started.done);
  run_until (f, &again.done);
  run_until (f, &read.outcome.done);
  g_assert_error (read.outcome.error, G_IO_ERROR, G_IO_ERROR_PENDING);
  g_assert_error (again.error, G_IO_ERROR, G_IO_ERROR_PENDING);
  g_assert_no_error (started.error);
  g_assert_true (mitogen_process_wait (process, NULL, &error));
  g_assert_no_error (error);
  outcome_clear (&written);
  outcome_clear (&closed);
  outcome_clear (&started);
  outcome_clear (&again);
  outcome_clear (&read.outcome);
}

static void
test_start_failed (Fixture *f, gconstpointer data)
{
  const char *argv[] = { "/nonexistent/program", NULL };
  g_autoptr(MitogenProcess) process = mitogen_process_new (f->context, argv);
  g_autoptr(GError) error = NULL;
  Outcome started = { 0, };

  g_test_summary ("A program that cannot start: start_async fails with the remote spawn error; "
                  "waiting afterwards is NOT_CONNECTED, not a made-up exit status.");

  mitogen_process_start_async (process, NULL, started_cb, &started);
  run_until (f, &started.done);
  g_assert_error (started.error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_nonnull (strstr (started.error->message, "nonexistent"));
  g_assert_false (mitogen_process_wait (process, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_assert_nonnull (strstr (error->message, "did not start"));
  outcome_clear (&started);
}

static void
test_write_after_close (Fixture *f, gconstpointer data)
{
  const char *argv[] = { "cat", NULL };
  g_autoptr(MitogenProcess) process = start_async_ok (f, argv, 64 * 1024);
  g_autoptr(MitogenProcess) second = NULL;
  g_autoptr(GBytes) big = pattern_bytes (1024 * 1024, 9);
  g_autoptr(GBytes) bytes = g_bytes_new_static ("late\n", 5);
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) out = g_byte_array_new ();
  Outcome written = { 0, }, queued = { 0, }, closed = { 0, };

  g_test_summary ("Writing after close_stdin (or after close_stdin_async was called) is "
                  "G_IO_ERROR_CLOSED; a blocking write or close while asynchronous writes are "
                  "queued is PENDING.");

  /* Asynchronous: 1 MiB waits for room in a 64 KiB window; the close is
   * queued behind it; a write after the close fails at once. */
  mitogen_process_write_async (process, big, NULL, written_cb, &queued);
  g_assert_false (mitogen_process_close_stdin (process, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PENDING);
  g_clear_error (&error);
  g_assert_false (mitogen_process_write (process, bytes, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PENDING);
  g_clear_error (&error);
  mitogen_process_close_stdin_async (process, NULL, closed_cb, &closed);
  mitogen_process_write_async (process, bytes, NULL, written_cb, &written);
  run_until (f, &written.done);
  g_assert_error (written.error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_assert_false (queued.done);
  read_all_async (f, process, out);
  g_assert_true (queued.done && closed.done);
  g_assert_no_error (queued.error);
  g_assert_no_error (closed.error);
  g_assert_cmpmem (out->data, out->len, g_bytes_get_data (big, NULL), g_bytes_get_size (big));
  g_assert_false (mitogen_process_write (process, bytes, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_error (&error);
  outcome_clear (&written);

  /* Blocking. */
  second = start_async_ok (f, argv, 0);
  g_assert_true (mitogen_process_close_stdin (second, &error));
  g_assert_no_error (error);
  g_assert_true (mitogen_process_close_stdin (second, &error));  /* again: nothing to do */
  g_assert_false (mitogen_process_write (second, bytes, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  mitogen_process_write_async (second, bytes, NULL, written_cb, &written);
  run_until (f, &written.done);
  g_assert_error (written.error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_assert_true (mitogen_process_wait (second, NULL, NULL));
  outcome_clear (&written);
  outcome_clear (&queued);
  outcome_clear (&closed);
}

static void
test_write_after_exit (Fixture *f, gconstpointer data)
{
  const char *argv[] = { "true", NULL };
  g_autoptr(MitogenProcess) process = start_async_ok (f, argv, 64 * 1024);
  g_autoptr(GBytes) big = pattern_bytes (1024 * 1024, 1);
  Outcome waited = { 0, }, written = { 0, }, closed = { 0, };

  g_test_summary ("write_async to a program that exited fails with BROKEN_PIPE instead of "
                  "waiting for room forever; close_stdin_async then succeeds.");

  mitogen_process_wait_async (process, NULL, waited_cb, &waited);
  run_until (f, &waited.done);
  mitogen_process_write_async (process, big, NULL, written_cb, &written);
  mitogen_process_close_stdin_async (process, NULL, closed_cb, &closed);
  run_until (f, &closed.done);
  g_assert_error (written.error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
  g_assert_no_error (closed.error);
  outcome_clear (&written);
}

static void
test_large_write_bounded (Fixture *f, gconstpointer data)
{
  const gsize size = 48 * 1024 * 1024;
  const char *argv[] = { "sh", "-c", "sleep 1.5; exec wc -c", NULL };
  g_autoptr(MitogenProcess) process = NULL;
  g_autoptr(GBytes) big = pattern_bytes (size, 3);
  g_autoptr(GByteArray) out = g_byte_array_new ();
  GPid agent = mitogen_context_get_pid (f->context);
  guint64 ours_before, ours_peak = 0, agent_peak;
  Outcome written = { 0, }, closed = { 0, };
  gint64 start;

  g_test_summary ("write_async of 48 MiB to a program that reads nothing for 1.5 s: the write "
                  "completes only once the program takes the data (at most the window is in "
                  "flight), and neither this process nor the context holds more than a few "
                  "MiB beyond the caller's buffer.");

  process = start_async_ok (f, argv, 1024 * 1024);
  ours_before = mitogen_test_proc_status (getpid (), "VmRSS", 10);
  start = g_get_monotonic_time ();
  mitogen_process_write_async (process, big, NULL, written_cb, &written);
  mitogen_process_close_stdin_async (process, NULL, closed_cb, &closed);

  /* While the program sleeps the write cannot complete. */
  while (g_get_monotonic_time () - start < 1200 * 1000)
    {
      run_for (f, 50);
      ours_peak = MAX (ours_peak, mitogen_test_proc_status (getpid (), "VmRSS", 10));
      g_assert_false (written.done);
    }
  while (!closed.done && g_get_monotonic_time () - start < TIMEOUT_USEC)
    {
      run_for (f, 20);
      ours_peak = MAX (ours_peak, mitogen_test_proc_status (getpid (), "VmRSS", 10));
    }
  g_assert_true (written.done);
  g_assert_no_error (written.error);
  g_assert_no_error (closed.error);
  g_assert_cmpint (written.at - start, >=, 1200 * 1000);
  agent_peak = mitogen_test_proc_status (agent, "VmHWM", 10);
  g_test_message ("48 MiB written in %.2f s; this process +%" G_GUINT64_FORMAT " KiB at most, "
                  "the context's peak RSS %" G_GUINT64_FORMAT " KiB",
                  (written.at - start) / 1e6, ours_peak - ours_before, agent_peak);
  /* Not under a sanitizer: ASan's quarantine and shadow memory inflate
   * both figures (the agent's peak was 80 MiB there). */
  if (!MITOGEN_TEST_SANITIZED)
    {
      g_assert_cmpuint (ours_peak - ours_before, <, 16 * 1024);
      g_assert_cmpuint (agent_peak, <, 24 * 1024);
    }

  read_all_async (f, process, out);
  g_byte_array_append (out, (const guint8 *) "", 1);
  g_assert_cmpuint (g_ascii_strtoull ((const char *) out->data, NULL, 10), ==, size);
  g_assert_cmpint (mitogen_process_get_exit_status (process), ==, 0);
}

static void
test_cancel_read (Fixture *f, gconstpointer data)
{
  const char *argv[] = { "sh", "-c", "echo ready; read line; echo \"got $line\"", NULL };
  const char *sleeper[] = { "sh", "-c", "echo ready; exec sleep 60", NULL };
  g_autoptr(MitogenProcess) process = start_async_ok (f, argv, 0);
  g_autoptr(MitogenProcess) killed = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GBytes) line = g_bytes_new_static ("hello\n", 6);
  g_autoptr(GError) error = NULL;
  ReadOutcome read = { { 0, }, NULL, 0 };
  Outcome waited = { 0, };
  GPid pid;

  g_test_summary ("Cancelling read_async ends that read only: the program runs on and its "
                  "output comes with the next read. With a cancel signal set, cancelling "
                  "stops the program.");

  mitogen_process_read_async (process, NULL, read_cb, &read);
  run_until (f, &read.outcome.done);
  g_assert_cmpmem (g_bytes_get_data (read.chunk, NULL), g_bytes_get_size (read.chunk), "ready\n", 6);
  g_clear_pointer (&read.chunk, g_bytes_unref);
  outcome_clear (&read.outcome);

  mitogen_process_read_async (process, cancellable, read_cb, &read);
  run_for (f, 100);
  g_cancellable_cancel (cancellable);
  run_until (f, &read.outcome.done);
  g_assert_error (read.outcome.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  outcome_clear (&read.outcome);
  g_assert_true (mitogen_test_pid_alive ((GPid) mitogen_process_get_pid (process)));

  g_assert_true (mitogen_process_write (process, line, NULL, &error));
  g_assert_no_error (error);
  mitogen_process_read_async (process, NULL, read_cb, &read);
  run_until (f, &read.outcome.done);
  g_assert_no_error (read.outcome.error);
  g_assert_cmpmem (g_bytes_get_data (read.chunk, NULL), g_bytes_get_size (read.chunk), "got hello\n", 10);
  g_clear_pointer (&read.chunk, g_bytes_unref);
  outcome_clear (&read.outcome);
  g_assert_true (mitogen_process_wait (process, NULL, &error));
  g_assert_cmpint (mitogen_process_get_exit_status (process), ==, 0);

  /* The cancel signal. */
  killed = start_async_ok (f, sleeper, 0);
  pid = (GPid) mitogen_process_get_pid (killed);
  g_assert_false (mitogen_process_set_cancel_signal (killed, NSIG, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_true (mitogen_process_set_cancel_signal (killed, SIGKILL, &error));
  g_assert_cmpint (mitogen_process_get_cancel_signal (killed), ==, SIGKILL);
  g_cancellable_reset (cancellable);
  mitogen_process_wait_async (killed, cancellable, waited_cb, &waited);
  run_for (f, 200);
  g_assert_false (waited.done);
  g_cancellable_cancel (cancellable);
  run_until (f, &waited.done);
  g_assert_error (waited.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (mitogen_test_wait_pid_gone (pid, 5000));
  g_assert_true (mitogen_process_wait (killed, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (mitogen_process_get_if_signaled (killed));
  g_assert_cmpint (mitogen_process_get_term_sig (killed), ==, SIGKILL);
  outcome_clear (&waited);
}

static void
test_cancel_blocking (Fixture *f, gconstpointer data)
{
  const char *argv[] = { "sleep", "60", NULL };
  g_autoptr(MitogenProcess) process = start_async_ok (f, argv, 64 * 1024);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GBytes) big = pattern_bytes (1024 * 1024, 5);
  g_autoptr(GError) error = NULL;
  GPid pid = (GPid) mitogen_process_get_pid (process);

  g_test_summary ("The blocking read and write cancelled from another thread: the program "
                  "runs on; with a cancel signal, it gets the signal.");

  g_cancellable_cancel (cancellable);
  g_assert_null (mitogen_process_read (process, NULL, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  /* sleep reads no stdin: the window fills and the write waits. */
  g_assert_false (mitogen_process_write (process, big, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_usleep (100 * 1000);
  g_assert_true (mitogen_test_pid_alive (pid));

  g_assert_true (mitogen_process_set_cancel_signal (process, SIGTERM, NULL));
  g_assert_false (mitogen_process_write (process, big, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_true (mitogen_process_wait (process, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (mitogen_process_get_term_sig (process), ==, SIGTERM);
}

static void
test_cancel_write_async (Fixture *f, gconstpointer data)
{
  const char *argv[] = { "sleep", "60", NULL };
  g_autoptr(MitogenProcess) process = start_async_ok (f, argv, 64 * 1024);
  g_autoptr(GCancellable) first_cancel = g_cancellable_new ();
  g_autoptr(GCancellable) second_cancel = g_cancellable_new ();
  g_autoptr(GCancellable) close_cancel = g_cancellable_new ();
  g_autoptr(GBytes) big = pattern_bytes (1024 * 1024, 7);
  g_autoptr(GBytes) small = g_bytes_new_static ("x", 1);
  Outcome first = { 0, }, second = { 0, }, third = { 0, }, closed = { 0, }, waited = { 0, };
  GPid pid = (GPid) mitogen_process_get_pid (process);

  g_test_summary ("Cancelling queued write_async calls (the one waiting for room and one behind "
                  "it) and close_stdin_async completes each with CANCELLED at once, leaves the "
                  "others queued and the program running; with a cancel signal the program "
                  "gets it.");

  mitogen_process_write_async (process, big, first_cancel, written_cb, &first);
  mitogen_process_write_async (process, small, second_cancel, written_cb, &second);
  mitogen_process_close_stdin_async (process, close_cancel, closed_cb, &closed);
  run_for (f, 200);
  g_assert_false (first.done || second.done || closed.done);

  g_cancellable_cancel (second_cancel);
  run_until (f, &second.done);
  g_assert_error (second.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (first.done);
  g_cancellable_cancel (close_cancel);
  run_until (f, &closed.done);
  g_assert_error (closed.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_cancellable_cancel (first_cancel);
  run_until (f, &first.done);
  g_assert_error (first.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (mitogen_test_pid_alive (pid));

  /* stdin stayed open (the close was cancelled): more may be queued. */
  g_assert_true (mitogen_process_set_cancel_signal (process, SIGTERM, NULL));
  g_cancellable_reset (first_cancel);
  mitogen_process_write_async (process, big, first_cancel, written_cb, &third);
  run_for (f, 100);
  g_assert_false (third.done);
  g_cancellable_cancel (first_cancel);
  run_until (f, &third.done);
  g_assert_error (third.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  mitogen_process_wait_async (process, NULL, waited_cb, &waited);
  run_until (f, &waited.done);
  g_assert_no_error (waited.error);
  g_assert_cmpint (mitogen_process_get_term_sig (process), ==, SIGTERM);
  outcome_clear (&first);
  outcome_clear (&second);
  outcome_clear (&third);
  outcome_clear (&closed);
}

/* The pid a program wrote to @path, waiting for it up to 10 s. */
static GPid
wait_pid_file (const char *path)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (g_get_monotonic_time () < deadline)
    {
      g_autofree char *text = NULL;

      if (g_file_get_contents (path, &text, NULL, NULL) && strchr (text, '\n') != NULL)
        return (GPid) atoi (text);
      g_usleep (10 * 1000);
    }
  g_assert_not_reached ();
}

/* Live processes whose command line holds @marker (named if @verbose). */
static guint
count_marked (const char *marker,
              gboolean    verbose)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc", 0, NULL);
  const char *name;
  guint n = 0;

  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *cmdline = NULL;
      gsize len = 0;

      if (!g_ascii_isdigit (name[0]))
        continue;
      path = g_strdup_printf ("/proc/%s/cmdline", name);
      if (!g_file_get_contents (path, &cmdline, &len, NULL))
        continue;
      for (gsize i = 0; i + 1 < len; i++)
        if (cmdline[i] == '\0')
          cmdline[i] = ' ';
      if (strstr (cmdline, marker) != NULL && mitogen_test_pid_alive ((GPid) atoi (name)))
        {
          if (verbose)
            g_test_message ("still running: %s %s", name, cmdline);
          n++;
        }
    }
  return n;
}

/* A program that writes its pid to DIR/NAME.pid, then sleeps; its
 * command line holds a marker unique to it. */
typedef struct
{
  char *marker;
  char *pid_file;
  char *script;
  const char *argv[5];
} Marked;

static void
marked_init (Marked     *marked,
             Fixture    *f,
             const char *name)
{
  marked->marker = g_strdup_printf ("mitogen-test-%s-%d-%u", name, (int) getpid (), g_random_int ());
  marked->pid_file = g_strdup_printf ("%s/%s.pid", f->tmp, name);
  marked->script = g_strdup_printf ("echo $$ > '%s.tmp' && mv '%s.tmp' '%s'; sleep 60; :",
                                    marked->pid_file, marked->pid_file, marked->pid_file);
  marked->argv[0] = "sh";
  marked->argv[1] = "-c";
  marked->argv[2] = marked->script;
  marked->argv[3] = marked->marker;
  marked->argv[4] = NULL;
}

static void
marked_clear (Marked *marked)
{
  g_unlink (marked->pid_file);
  g_free (marked->marker);
  g_free (marked->pid_file);
  g_free (marked->script);
}

/* Waits up to 10 s for no process of @marked to be left. */
static void
assert_marked_gone (Marked *marked)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (count_marked (marked->marker, FALSE) > 0 && g_get_monotonic_time () < deadline)
    g_usleep (20 * 1000);
  g_assert_cmpuint (count_marked (marked->marker, TRUE), ==, 0);
}

static void
test_cancel_start (Fixture *f, gconstpointer data)
{
  Marked early_program, late_program, unstarted_program;
  g_autoptr(MitogenProcess) early = NULL;
  g_autoptr(MitogenProcess) late = NULL;
  g_autoptr(MitogenProcess) unstarted = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GVariant) barrier = NULL;
  g_autoptr(GError) error = NULL;
  Outcome started = { 0, };
  GPid pid;

  g_test_summary ("Cancelling start_async right after the request went out, or after the "
                  "program's reply came but before its callback ran, completes it with "
                  "CANCELLED and stops the program that started anyway; a start cancelled "
                  "beforehand sends nothing, and the process may be started later.");

  marked_init (&early_program, f, "early");
  marked_init (&late_program, f, "late");
  marked_init (&unstarted_program, f, "unstarted");
  early = mitogen_process_new (f->context, early_program.argv);
  late = mitogen_process_new (f->context, late_program.argv);
  unstarted = mitogen_process_new (f->context, unstarted_program.argv);

  /* Early: the reply comes to a closed receiver, and the router answers
   * it with the dead marker. A call after it returns once the context
   * has spawned the program and sent that reply (calls are served in
   * order, replies come in order). */
  mitogen_process_start_async (early, cancellable, started_cb, &started);
  g_cancellable_cancel (cancellable);
  run_until (f, &started.done);
  g_assert_error (started.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  outcome_clear (&started);
  barrier = mitogen_context_call (f->context, "os.getpid", NULL, NULL, &error);
  g_assert_no_error (error);
  assert_marked_gone (&early_program);

  /* Late: the program runs and its reply is in before the cancel. */
  g_cancellable_reset (cancellable);
  mitogen_process_start_async (late, cancellable, started_cb, &started);
  pid = wait_pid_file (late_program.pid_file);
  g_usleep (200 * 1000);
  g_assert_true (mitogen_test_pid_alive (pid));
  g_cancellable_cancel (cancellable);
  run_until (f, &started.done);
  g_assert_error (started.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  outcome_clear (&started);
  g_assert_true (mitogen_test_wait_pid_gone (pid, 10000));
  assert_marked_gone (&late_program);

  /* Cancelled beforehand: nothing is sent; it may be started later. */
  g_assert_false (mitogen_process_start (unstarted, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_clear_pointer (&barrier, g_variant_unref);
  barrier = mitogen_context_call (f->context, "os.getpid", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (g_file_test (unstarted_program.pid_file, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_marked (unstarted_program.marker, TRUE), ==, 0);
  g_assert_true (mitogen_process_start (unstarted, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (wait_pid_file (unstarted_program.pid_file), ==, mitogen_process_get_pid (unstarted));
  g_assert_true (mitogen_process_send_signal (unstarted, SIGKILL, &error));
  g_assert_true (mitogen_process_wait (unstarted, NULL, &error));
  g_assert_no_error (error);
  assert_marked_gone (&unstarted_program);

  marked_clear (&early_program);
  marked_clear (&late_program);
  marked_clear (&unstarted_program);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/process/async/round-trip", test_async_round_trip);
  ADD ("/process/async/wait", test_async_wait);
  ADD ("/process/errors/not-started", test_not_started);
  ADD ("/process/errors/start-failed", test_start_failed);
  ADD ("/process/errors/write-after-close", test_write_after_close);
  ADD ("/process/errors/write-after-exit", test_write_after_exit);
  ADD ("/process/flow-control/large-write", test_large_write_bounded);
  ADD ("/process/cancel/read", test_cancel_read);
  ADD ("/process/cancel/blocking", test_cancel_blocking);
  ADD ("/process/cancel/write-async", test_cancel_write_async);
  ADD ("/process/cancel/start", test_cancel_start);
#undef ADD

  return g_test_run ();
}
