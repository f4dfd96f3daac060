/* test-api.c — the rest of the seed's API: Sender, Channel, get_data,
 * send_async/send_await, add_handler (respondent death), stream_by_id,
 * allocate_id, register, keep_alive, pausing streams, log_to_file, main,
 * run_with_router, profiling, enable_debug and the exit watcher.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-api-test"

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mitogen-context-private.h"
#include "mitogen-frame-private.h"
#include "mitogen-stream-private.h"
#include "mitogen-test.h"

typedef struct
{
  MitogenRouter  *router;   /* (owned) */
  MitogenContext *context;  /* (owned) */
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  f->router = mitogen_router_new ();
  f->context = mitogen_test_local (f->router);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  GPid pid = mitogen_context_get_pid (f->context);

  g_clear_object (&f->context);
  mitogen_router_shutdown (f->router);
  g_assert_finalize_object (f->router);
  g_assert_false (mitogen_test_pid_alive (pid));
}

static GVariant *
call_ok (MitogenContext *context,
         const char     *function,
         GVariant       *args)
{
  g_autoptr(GError) error = NULL;
  GVariant *value = mitogen_context_call (context, function, args, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (value);
  return value;
}

static void
post_local (MitogenRouter *router,
            guint32        handle,
            GVariant      *value)
{
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  if (value != NULL)
    message = mitogen_message_new (mitogen_router_get_context_id (router), handle, value);
  else
    message = mitogen_message_new_dead (mitogen_router_get_context_id (router), handle);
  g_assert_true (mitogen_router_route (router, message, &error));
  g_assert_no_error (error);
}

static GVariant *
call_request (const char *function,
              GVariant   *args)
{
  return g_variant_new ("(sv@a{sv})", function, args,
                        g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));
}

/* --- call arguments ------------------------------------------------------- */

static void
got_result_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static void
assert_not_a_tuple_message (const char *message)
{
  g_assert_nonnull (message);
  g_assert_true (g_str_has_prefix (message, "os.listdir: arguments must be a tuple (GVariant type '(...)'), not 's'"));
  g_assert_nonnull (strstr (message, "'(s)'"));
}

static void
test_args_not_a_tuple (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(MitogenReceiver) receiver = NULL;
  g_autoptr(MitogenSelect) select = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GVariant) kept = g_variant_ref_sink (g_variant_new_string ("/"));

  g_test_summary ("Arguments that are not a tuple are MITOGEN_ERROR_INVALID_ARGUMENT naming the "
                  "expected type, from call, call_async and begin_call (through its receiver "
                  "and a select), without a critical (criticals are fatal here) and without a "
                  "false 'router is gone'; nothing is sent and the context serves on.");

  /* Blocking: a floating value (sunk and dropped), and one the caller keeps. */
  value = mitogen_context_call (f->context, "os.listdir", g_variant_new_string ("/"), NULL, &error);
  g_assert_null (value);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  assert_not_a_tuple_message (error->message);
  g_clear_error (&error);
  value = mitogen_context_call (f->context, "os.listdir", kept, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_cmpstr (g_variant_get_string (kept, NULL), ==, "/");

  /* Asynchronous: the error comes in the callback. */
  mitogen_context_call_async (f->context, "os.listdir", g_variant_new_string ("/"), NULL, got_result_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  value = mitogen_context_call_finish (f->context, result, &error);
  g_assert_null (value);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  assert_not_a_tuple_message (error->message);
  g_clear_error (&error);

  /* begin_call: the receiver's one reply is that error, as a context
   * reports arguments of the wrong type. */
  receiver = mitogen_context_begin_call (f->context, "os.listdir", g_variant_new_string ("/"));
  g_assert_nonnull (receiver);
  value = mitogen_receiver_get_data (receiver, 10, &error);
  g_assert_null (value);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_cmpstr (mitogen_error_get_remote_domain (error), ==, "mitogen-error-quark");
  g_assert_cmpint (mitogen_error_get_remote_code (error), ==, MITOGEN_ERROR_INVALID_ARGUMENT);
  assert_not_a_tuple_message (mitogen_error_get_remote_message (error));
  g_clear_error (&error);
  g_clear_object (&receiver);

  /* ... and through a select. */
  receiver = mitogen_context_begin_call (f->context, "os.listdir", g_variant_new_int32 (7));
  select = mitogen_select_new (TRUE);
  g_assert_true (mitogen_select_add (select, G_OBJECT (receiver), &error));
  g_assert_no_error (error);
  message = mitogen_select_get (select, 10, &error);
  g_assert_no_error (error);
  g_assert_true (mitogen_message_is_error (message));
  g_assert_null (mitogen_message_get_value (message, &error));
  g_assert_cmpint (mitogen_error_get_remote_code (error), ==, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (mitogen_error_get_remote_message (error), "not 'i'; a single argument goes in a 1-tuple, of type '(i)'"));
  g_clear_error (&error);

  /* Nothing reached the context: it serves on. */
  value = call_ok (f->context, "os.listdir", g_variant_new ("(s)", "/"));
  g_assert_true (g_variant_is_of_type (value, G_VARIANT_TYPE ("as")));
}

/* --- receivers, senders, channels ----------------------------------------- */

static void
test_get_data (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenReceiver) reply = mitogen_context_begin_call (f->context, "mitogen.echo",
                                                                 g_variant_new ("(s)", "data"));
  g_autoptr(MitogenReceiver) failing = mitogen_context_begin_call (f->context, "mitogen.fail",
                                                                   g_variant_new ("(s)", "nope"));
  g_autoptr(MitogenReceiver) stream = mitogen_receiver_new (f->router, 0, TRUE, NULL);
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  gint32 sum = 0, n = 0;

  g_test_summary ("get_data returns the value, a remote error as CALL, a timeout as TIMEOUT; "
                  "the iteration loop ends on CHANNEL when the sender closes.");

  value = mitogen_receiver_get_data (reply, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "data");
  g_clear_pointer (&value, g_variant_unref);

  value = mitogen_receiver_get_data (failing, 10, &error);
  g_assert_null (value);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_cmpstr (mitogen_error_get_remote_message (error), ==, "nope");
  g_clear_error (&error);

  value = mitogen_receiver_get_data (stream, 0.05, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_clear_error (&error);

  for (gint32 i = 1; i <= 4; i++)
    post_local (f->router, mitogen_receiver_get_handle (stream), g_variant_new_int32 (i));
  post_local (f->router, mitogen_receiver_get_handle (stream), NULL);
  for (;;)
    {
      g_autoptr(GError) loop_error = NULL;
      g_autoptr(GVariant) item = mitogen_receiver_get_data (stream, 10, &loop_error);

      if (item == NULL)
        {
          g_assert_error (loop_error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
          break;
        }
      sum += g_variant_get_int32 (item);
      n++;
    }
  g_assert_cmpint (n, ==, 4);
  g_assert_cmpint (sum, ==, 10);
}

static void
test_sender_remote (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenSender) sender = mitogen_sender_new (f->context, MITOGEN_HANDLE_CALL_FUNCTION);
  g_autofree char *path = g_build_filename (g_get_tmp_dir (), "mitogen-sender-test.XXXXXX", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) after = NULL;
  g_autofree char *contents = NULL;
  gint64 deadline;
  int fd;

  g_test_summary ("Sender.put delivers a value to a handle in another context (here a call "
                  "with no reply that writes a file); close sends the dead marker.");

  g_assert_true (mitogen_sender_get_context (sender) == f->context);
  g_assert_cmpuint (mitogen_sender_get_dst_handle (sender), ==, MITOGEN_HANDLE_CALL_FUNCTION);

  fd = g_mkstemp (path);
  g_assert_cmpint (fd, >=, 0);
  close (fd);
  g_assert_true (mitogen_sender_put (sender,
                                     call_request ("file.write",
                                                   g_variant_new ("(s@ay)", path,
                                                                  g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE,
                                                                                             "sent", 4, 1))),
                                     &error));
  g_assert_no_error (error);
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      g_clear_pointer (&contents, g_free);
      if (g_file_get_contents (path, &contents, NULL, NULL) && strcmp (contents, "sent") == 0)
        break;
      g_usleep (10000);
    }
  g_assert_cmpstr (contents, ==, "sent");
  unlink (path);

  /* The agent ignores a dead CALL_FUNCTION and keeps serving. */
  g_assert_true (mitogen_sender_close (sender, &error));
  g_assert_no_error (error);
  after = call_ok (f->context, "mitogen.echo", g_variant_new ("(s)", "still here"));
  g_assert_cmpstr (g_variant_get_string (after, NULL), ==, "still here");
}

static void
test_call_local (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenContext) myself = mitogen_context_new (f->router, mitogen_router_get_context_id (f->router),
                                                          "myself", NULL, 0, NULL);
  g_autoptr(MitogenReceiver) calls = mitogen_receiver_new (f->router, MITOGEN_HANDLE_CALL_FUNCTION, TRUE, NULL);
  g_autoptr(MitogenReceiver) reply = NULL;
  g_autoptr(GVariant) call = NULL;
  g_autoptr(GVariant) boxed = NULL;
  g_autoptr(GError) error = NULL;
  const char *function = NULL;

  g_test_summary ("A call to our own context is delivered here with its value: a call is "
                  "built as bytes only (mitogen_message_new_call ()) and decoded where it is "
                  "delivered, as one from a stream is.");

  reply = mitogen_context_begin_call (myself, "mitogen.echo", g_variant_new ("(su)", "hi", 7));
  g_assert_nonnull (reply);
  call = mitogen_receiver_get_data (calls, 10, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_is_of_type (call, G_VARIANT_TYPE ("(sva{sv})")));
  g_assert_true (g_variant_is_normal_form (call));
  g_variant_get (call, "(&sv@a{sv})", &function, &boxed, NULL);
  g_assert_cmpstr (function, ==, "mitogen.echo");
  {
    /* "v" gives the boxed value itself. */
    g_autofree char *text = g_variant_print (boxed, TRUE);

    g_assert_cmpstr (text, ==, "('hi', uint32 7)");
  }
}

static void
test_sender_local (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenContext) myself = mitogen_context_new (f->router, mitogen_router_get_context_id (f->router),
                                                          "myself", NULL, 0, NULL);
  g_autoptr(MitogenReceiver) receiver = mitogen_receiver_new (f->router, 0, TRUE, NULL);
  g_autoptr(MitogenSender) sender = mitogen_sender_new (myself, mitogen_receiver_get_handle (receiver));
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  g_test_summary ("Values a sender puts arrive in order; its close ends the receiver's "
                  "iteration with CHANNEL.");

  for (guint i = 0; i < 3; i++)
    g_assert_true (mitogen_sender_put (sender, g_variant_new_uint32 (i), NULL));
  g_assert_true (mitogen_sender_put (sender, NULL, NULL));
  g_assert_true (mitogen_sender_close (sender, &error));
  g_assert_no_error (error);

  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(GVariant) item = mitogen_receiver_get_data (receiver, 10, &error);

      g_assert_no_error (error);
      g_assert_cmpuint (g_variant_get_uint32 (item), ==, i);
    }
  value = mitogen_receiver_get_data (receiver, 10, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_is_of_type (value, G_VARIANT_TYPE_UNIT));
  g_clear_pointer (&value, g_variant_unref);
  value = mitogen_receiver_get_data (receiver, 10, &error);
  g_assert_null (value);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
}

static void
test_channel_echo (Fixture *f, gconstpointer data)
{
  const guint32 child_handle = 5000;
  g_autoptr(MitogenChannel) channel = mitogen_channel_new (f->router, f->context, child_handle, 0);
  g_autoptr(MitogenReceiver) call = NULL;
  g_autoptr(GVariant) first = NULL, echoed = NULL, count = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) message = NULL;

  g_test_summary ("A channel talks both ways with a channel in another context "
                  "(mitogen.channel_echo); each side's close reaches the other as CHANNEL.");

  g_assert_nonnull (mitogen_channel_get_receiver (channel));
  g_assert_nonnull (mitogen_channel_get_sender (channel));
  g_assert_cmpuint (mitogen_channel_get_handle (channel), ==,
                    mitogen_receiver_get_handle (mitogen_channel_get_receiver (channel)));
  g_assert_true (mitogen_receiver_get_respondent (mitogen_channel_get_receiver (channel)) == f->context);

  call = mitogen_context_begin_call (f->context, "mitogen.channel_echo",
                                     g_variant_new ("(uu)", mitogen_channel_get_handle (channel), child_handle));
  /* The peer's first message says it listens. */
  first = mitogen_channel_get_data (channel, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_get_uint32 (first), ==, child_handle);

  g_assert_true (mitogen_channel_put (channel, g_variant_new_string ("ping"), &error));
  echoed = mitogen_channel_get_data (channel, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (echoed, NULL), ==, "ping");
  g_clear_pointer (&echoed, g_variant_unref);

  g_assert_true (mitogen_channel_put (channel, g_variant_new ("(ix)", 7, G_GINT64_CONSTANT (1) << 40), &error));
  message = mitogen_channel_get (channel, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mitogen_message_get_src_id (message), ==, mitogen_context_get_id (f->context));
  echoed = mitogen_message_get_value (message, &error);
  {
    g_autoptr(GVariant) expect = g_variant_ref_sink (g_variant_new ("(ix)", 7, G_GINT64_CONSTANT (1) << 40));
    g_assert_true (g_variant_equal (echoed, expect));
  }

  /* Our close (the sender half) ends the peer's loop; it closes its end. */
  g_assert_true (mitogen_sender_close (mitogen_channel_get_sender (channel), &error));
  g_assert_no_error (error);
  g_assert_null (mitogen_channel_get_data (channel, 10, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_clear_error (&error);

  count = mitogen_receiver_get_data (call, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_get_uint32 (count), ==, 2);

  g_assert_true (mitogen_channel_close (channel, &error));
  g_assert_no_error (error);
}

static void
test_channel_peer_dies (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenChannel) channel = mitogen_channel_new (f->router, f->context, 5001, 0);
  g_autoptr(MitogenReceiver) call = mitogen_context_begin_call (f->context, "mitogen.channel_echo",
                                                                g_variant_new ("(uu)", mitogen_channel_get_handle (channel), 5001u));
  g_autoptr(GVariant) first = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start;

  g_test_summary ("A channel's get fails with CHANNEL as soon as the peer context dies.");

  first = mitogen_channel_get_data (channel, 10, &error);
  g_assert_no_error (error);
  start = g_get_monotonic_time ();
  g_assert_cmpint (kill (mitogen_context_get_pid (f->context), SIGKILL), ==, 0);
  value = mitogen_channel_get_data (channel, 10, &error);
  g_assert_null (value);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
  g_clear_error (&error);

  g_assert_false (mitogen_channel_put (channel, g_variant_new_int32 (1), &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
}

/* --- send_async / send_await ------------------------------------------------ */

static void
test_send_async (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenReceiver) once = NULL, kept = NULL, gone = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("send_async sends with reply_to set to a new receiver whose respondent is the "
                  "context; persist decides whether it outlives the first reply; an unreachable "
                  "context gives CHANNEL at once.");

  once = mitogen_context_send_async (f->context, MITOGEN_HANDLE_CALL_FUNCTION,
                                     call_request ("mitogen.echo", g_variant_new ("(s)", "once")), FALSE);
  g_assert_true (mitogen_receiver_get_respondent (once) == f->context);
  value = mitogen_receiver_get_data (once, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "once");
  g_clear_pointer (&value, g_variant_unref);
  /* Not persistent: the handle is gone after the reply. */
  post_local (f->router, mitogen_receiver_get_handle (once), g_variant_new_string ("late"));
  value = mitogen_receiver_get_data (once, 0.2, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_clear_error (&error);

  kept = mitogen_context_send_async (f->context, MITOGEN_HANDLE_CALL_FUNCTION,
                                     call_request ("mitogen.echo", g_variant_new ("(s)", "kept")), TRUE);
  value = mitogen_receiver_get_data (kept, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "kept");
  g_clear_pointer (&value, g_variant_unref);
  post_local (f->router, mitogen_receiver_get_handle (kept), g_variant_new_string ("more"));
  value = mitogen_receiver_get_data (kept, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "more");
  g_clear_pointer (&value, g_variant_unref);

  g_assert_true (mitogen_context_shutdown (f->context, 10, NULL));
  gone = mitogen_context_send_async (f->context, MITOGEN_HANDLE_CALL_FUNCTION,
                                     call_request ("mitogen.noop", g_variant_new ("()")), FALSE);
  value = mitogen_receiver_get_data (gone, 0, &error);
  g_assert_null (value);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
}

static void
test_send_await (Fixture *f, gconstpointer data)
{
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start;

  g_test_summary ("send_await returns the reply's value; TIMEOUT when none comes in time; "
                  "a remote error as CALL.");

  value = mitogen_context_send_await (f->context, MITOGEN_HANDLE_CALL_FUNCTION,
                                      call_request ("mitogen.echo", g_variant_new ("(u)", 99u)), 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_get_uint32 (value), ==, 99);
  g_clear_pointer (&value, g_variant_unref);

  start = g_get_monotonic_time ();
  value = mitogen_context_send_await (f->context, MITOGEN_HANDLE_CALL_FUNCTION,
                                      call_request ("mitogen.sleep", g_variant_new ("(d)", 0.5)), 0.1, &error);
  g_assert_null (value);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 400000);
  g_clear_error (&error);

  value = mitogen_context_send_await (f->context, MITOGEN_HANDLE_CALL_FUNCTION,
                                      call_request ("mitogen.fail", g_variant_new ("(s)", "awaited")), 10, &error);
  g_assert_null (value);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_cmpstr (mitogen_error_get_remote_message (error), ==, "awaited");
}

/* --- router ----------------------------------------------------------------- */

typedef struct
{
  GMutex    lock;
  GCond     cond;
  GPtrArray *values;       /* (owned) GVariant, or NULL entries for dead markers */
  gboolean  off_broker;    /* a call ran off the broker thread */
  gint      destroyed;
} HandlerLog;

static void
handler_log_init (HandlerLog *log)
{
  *log = (HandlerLog) { 0 };
  g_mutex_init (&log->lock);
  g_cond_init (&log->cond);
  log->values = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
}

static void
handler_log_clear (HandlerLog *log)
{
  g_ptr_array_unref (log->values);
  g_mutex_clear (&log->lock);
  g_cond_clear (&log->cond);
}

static void
on_handler_message (MitogenRouter  *router,
                    MitogenMessage *message,
                    gpointer        user_data)
{
  HandlerLog *log = user_data;
  GVariant *value = mitogen_message_peek_value (message);

  g_mutex_lock (&log->lock);
  if (!mitogen_broker_is_broker_thread (mitogen_router_get_broker (router)))
    log->off_broker = TRUE;
  g_ptr_array_add (log->values, value != NULL ? g_variant_ref (value) : g_variant_ref_sink (g_variant_new ("s", "DEAD")));
  g_cond_broadcast (&log->cond);
  g_mutex_unlock (&log->lock);
}

static void
on_handler_destroy (gpointer user_data)
{
  HandlerLog *log = user_data;

  g_mutex_lock (&log->lock);
  log->destroyed++;
  g_cond_broadcast (&log->cond);
  g_mutex_unlock (&log->lock);
}

static gboolean
handler_log_wait (HandlerLog *log,
                  guint       n)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  gboolean ok = TRUE;

  g_mutex_lock (&log->lock);
  while (log->values->len < n && ok)
    ok = g_cond_wait_until (&log->cond, &log->lock, deadline);
  ok = log->values->len >= n;
  g_mutex_unlock (&log->lock);
  return ok;
}

static gboolean
handler_log_wait_destroyed (HandlerLog *log)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  gboolean ok = TRUE;

  g_mutex_lock (&log->lock);
  while (log->destroyed == 0 && ok)
    ok = g_cond_wait_until (&log->cond, &log->lock, deadline);
  ok = log->destroyed > 0;
  g_mutex_unlock (&log->lock);
  return ok;
}

/* Waits until everything routed locally before now has been handled. */
static void
sync_broker (MitogenRouter *router)
{
  g_autoptr(MitogenReceiver) barrier = mitogen_receiver_new (router, 0, FALSE, NULL);
  g_autoptr(MitogenMessage) message = NULL;

  post_local (router, mitogen_receiver_get_handle (barrier), g_variant_new_boolean (TRUE));
  message = mitogen_receiver_get (barrier, 10, NULL);
  g_assert_nonnull (message);
}

static void
test_add_handler (Fixture *f, gconstpointer data)
{
  HandlerLog log, once, fixed;
  guint32 handle, once_handle, fixed_handle;

  g_test_summary ("add_handler runs its function on the broker thread for each message; "
                  "del_handler stops it and frees its data; persist=FALSE runs it once; "
                  "an explicit handle is used as given.");

  handler_log_init (&log);
  handler_log_init (&once);
  handler_log_init (&fixed);

  handle = mitogen_router_add_handler (f->router, on_handler_message, &log, on_handler_destroy, 0, TRUE, NULL);
  g_assert_cmpuint (handle, >=, MITOGEN_HANDLE_FIRST_USER);
  post_local (f->router, handle, g_variant_new_int32 (1));
  post_local (f->router, handle, g_variant_new_int32 (2));
  g_assert_true (handler_log_wait (&log, 2));
  g_assert_false (log.off_broker);
  g_assert_cmpint (g_variant_get_int32 (log.values->pdata[0]), ==, 1);
  g_assert_cmpint (g_variant_get_int32 (log.values->pdata[1]), ==, 2);
  g_assert_cmpint (log.destroyed, ==, 0);

  mitogen_router_del_handler (f->router, handle);
  g_assert_true (handler_log_wait_destroyed (&log));
  post_local (f->router, handle, g_variant_new_int32 (3));
  sync_broker (f->router);
  g_assert_cmpuint (log.values->len, ==, 2);
  mitogen_router_del_handler (f->router, handle);  /* unknown now: ignored */

  once_handle = mitogen_router_add_handler (f->router, on_handler_message, &once, on_handler_destroy, 0, FALSE, NULL);
  post_local (f->router, once_handle, g_variant_new_int32 (1));
  post_local (f->router, once_handle, g_variant_new_int32 (2));
  sync_broker (f->router);
  g_assert_true (handler_log_wait_destroyed (&once));
  g_assert_cmpuint (once.values->len, ==, 1);

  fixed_handle = mitogen_router_add_handler (f->router, on_handler_message, &fixed, on_handler_destroy,
                                             4242, TRUE, NULL);
  g_assert_cmpuint (fixed_handle, ==, 4242);
  post_local (f->router, 4242, g_variant_new_string ("fixed"));
  g_assert_true (handler_log_wait (&fixed, 1));
  mitogen_router_del_handler (f->router, 4242);
  g_assert_true (handler_log_wait_destroyed (&fixed));

  handler_log_clear (&log);
  handler_log_clear (&once);
  handler_log_clear (&fixed);
}

static void
test_add_handler_respondent (Fixture *f, gconstpointer data)
{
  HandlerLog log, late;
  guint32 handle;

  g_test_summary ("A handler with a respondent gets the dead marker once, on the broker thread, "
                  "when that context disconnects, and is unregistered; one added after the "
                  "context is gone gets it at once.");

  handler_log_init (&log);
  handler_log_init (&late);
  handle = mitogen_router_add_handler (f->router, on_handler_message, &log, on_handler_destroy,
                                       0, TRUE, f->context);
  g_assert_cmpint (kill (mitogen_context_get_pid (f->context), SIGKILL), ==, 0);
  g_assert_true (handler_log_wait (&log, 1));
  g_assert_false (log.off_broker);
  g_assert_cmpstr (g_variant_get_string (log.values->pdata[0], NULL), ==, "DEAD");
  g_assert_true (handler_log_wait_destroyed (&log));
  post_local (f->router, handle, g_variant_new_int32 (1));
  sync_broker (f->router);
  g_assert_cmpuint (log.values->len, ==, 1);

  while (mitogen_context_is_connected (f->context))
    g_usleep (1000);
  mitogen_router_add_handler (f->router, on_handler_message, &late, on_handler_destroy, 0, TRUE, f->context);
  g_assert_true (handler_log_wait (&late, 1));
  g_assert_cmpstr (g_variant_get_string (late.values->pdata[0], NULL), ==, "DEAD");
  g_assert_true (handler_log_wait_destroyed (&late));

  handler_log_clear (&log);
  handler_log_clear (&late);
}

static void
test_stream_by_id (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenStream) stream = mitogen_router_stream_by_id (f->router, mitogen_context_get_id (f->context));
  g_autoptr(MitogenStream) none = mitogen_router_stream_by_id (f->router, 999999);
  g_autoptr(MitogenStream) after = NULL;

  g_test_summary ("stream_by_id gives the stream to a context, none for an unknown id or a "
                  "context that went away.");

  g_assert_nonnull (stream);
  g_assert_null (none);
  g_assert_cmpuint (mitogen_stream_get_remote_id (stream), ==, mitogen_context_get_id (f->context));
  g_assert_cmpint (mitogen_stream_get_pid (stream), ==, mitogen_context_get_pid (f->context));
  g_assert_false (mitogen_stream_is_closed (stream));

  g_assert_true (mitogen_context_shutdown (f->context, 10, NULL));
  g_assert_true (mitogen_stream_is_closed (stream));
  after = mitogen_router_stream_by_id (f->router, mitogen_context_get_id (f->context));
  g_assert_null (after);
}

static void
test_allocate_id (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  guint32 a = mitogen_router_allocate_id (f->router, &error);
  guint32 b = mitogen_router_allocate_id (f->router, &error);
  g_autoptr(MitogenContext) next = mitogen_test_local (f->router);

  g_test_summary ("allocate_id hands out distinct ids that contexts started later do not reuse.");

  g_assert_no_error (error);
  g_assert_cmpuint (a, >, mitogen_context_get_id (f->context));
  g_assert_cmpuint (b, >, a);
  g_assert_cmpuint (mitogen_context_get_id (next), >, b);
}

static void
write_all (int fd, const void *data, gsize len)
{
  const guint8 *p = data;

  while (len > 0)
    {
      gssize n = write (fd, p, len);

      if (n < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (n, >, 0);
      p += n;
      len -= (gsize) n;
    }
}

static void
test_register (Fixture *f, gconstpointer data)
{
  MitogenBroker *broker = mitogen_router_get_broker (f->router);
  g_autoptr(GError) error = NULL;
  guint32 id = mitogen_router_allocate_id (f->router, &error);
  g_autoptr(MitogenContext) fake = mitogen_context_new (f->router, id, "fake", NULL, 0, NULL);
  g_autoptr(MitogenStream) stream = NULL;
  g_autoptr(MitogenStream) found = NULL;
  g_autoptr(MitogenContext) found_context = NULL;
  g_autoptr(MitogenReceiver) receiver = mitogen_receiver_new (f->router, 0, TRUE, NULL);
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GVariant) boxed = g_variant_ref_sink (g_variant_new_variant (g_variant_new_string ("hello")));
  guint8 header[MITOGEN_FRAME_HEADER_SIZE];
  MitogenFrameHeader h = { 0 };
  int pair[2];

  g_test_summary ("register(context, stream) makes the context known, routes to it through the "
                  "stream and starts reading the stream; its closing disconnects the context.");

  g_assert_no_error (error);
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
  stream = mitogen_stream_new (broker, "fake", pair[0], pair[0], 0, 1024 * 1024);
  mitogen_router_register (f->router, fake, stream);

  found_context = mitogen_router_context_by_id (f->router, id);
  g_assert_true (found_context == fake);
  found = mitogen_router_stream_by_id (f->router, id);
  g_assert_true (found == stream);

  /* A frame from the fake context reaches our receiver: the stream is read. */
  h.dst_id = mitogen_router_get_context_id (f->router);
  h.src_id = h.auth_id = id;
  h.handle = mitogen_receiver_get_handle (receiver);
  h.length = (guint32) g_variant_get_size (boxed);
  mitogen_frame_header_encode (&h, header);
  write_all (pair[1], header, sizeof header);
  write_all (pair[1], g_variant_get_data (boxed), g_variant_get_size (boxed));
  value = mitogen_receiver_get_data (receiver, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "hello");

  close (pair[1]);
  while (mitogen_context_is_connected (fake))
    g_usleep (1000);
  g_assert_true (mitogen_stream_is_closed (stream));
}

/* --- broker ----------------------------------------------------------------- */

static void
test_keep_alive (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  MitogenBroker *broker = mitogen_router_get_broker (router);
  g_autoptr(MitogenContext) context = NULL;
  gint64 deadline;

  g_test_summary ("keep_alive is TRUE while a stream is open on the broker, FALSE once the "
                  "last child has gone and been reaped, and FALSE after shutdown.");

  g_assert_false (mitogen_broker_keep_alive (broker));
  context = mitogen_test_local (router);
  g_assert_true (mitogen_broker_keep_alive (broker));
  g_assert_true (mitogen_context_shutdown (context, 10, NULL));
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (mitogen_broker_keep_alive (broker) && g_get_monotonic_time () < deadline)
    g_usleep (5000);
  g_assert_false (mitogen_broker_keep_alive (broker));

  g_clear_object (&context);
  context = mitogen_test_local (router);
  mitogen_router_shutdown (router);
  g_assert_false (mitogen_broker_keep_alive (broker));
}

static void
test_stop_receive (Fixture *f, gconstpointer data)
{
  MitogenBroker *broker = mitogen_router_get_broker (f->router);
  g_autoptr(MitogenStream) stream = mitogen_router_stream_by_id (f->router, mitogen_context_get_id (f->context));
  g_autoptr(MitogenReceiver) r = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("stop_receive holds a stream's incoming frames back until start_receive.");

  mitogen_broker_stop_receive (broker, stream);
  r = mitogen_context_begin_call (f->context, "mitogen.echo", g_variant_new ("(s)", "held"));
  value = mitogen_receiver_get_data (r, 0.3, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_clear_error (&error);

  mitogen_broker_start_receive (broker, stream);
  value = mitogen_receiver_get_data (r, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "held");
}

static void
test_stop_transmit (Fixture *f, gconstpointer data)
{
  MitogenBroker *broker = mitogen_router_get_broker (f->router);
  g_autoptr(MitogenStream) stream = mitogen_router_stream_by_id (f->router, mitogen_context_get_id (f->context));
  g_autoptr(MitogenReceiver) r1 = NULL, r2 = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("stop_transmit queues outgoing frames until start_transmit, which sends them "
                  "in order.");

  mitogen_broker_stop_transmit (broker, stream);
  r1 = mitogen_context_begin_call (f->context, "mitogen.echo", g_variant_new ("(s)", "first"));
  r2 = mitogen_context_begin_call (f->context, "mitogen.echo", g_variant_new ("(s)", "second"));
  value = mitogen_receiver_get_data (r1, 0.3, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_clear_error (&error);

  mitogen_broker_start_transmit (broker, stream);
  value = mitogen_receiver_get_data (r1, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "first");
  g_clear_pointer (&value, g_variant_unref);
  value = mitogen_receiver_get_data (r2, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "second");
}

static void
test_paused_shutdown (void)
{
  MitogenRouter *router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = mitogen_test_local (router);
  g_autoptr(MitogenStream) stream = mitogen_router_stream_by_id (router, mitogen_context_get_id (context));
  GPid pid = mitogen_context_get_pid (context);
  gint64 start;

  g_test_summary ("A router shutting down resumes paused streams: the child is told to exit "
                  "and goes before the shutdown timeout.");

  mitogen_broker_set_shutdown_timeout (mitogen_router_get_broker (router), 20);
  mitogen_broker_stop_receive (mitogen_router_get_broker (router), stream);
  mitogen_broker_stop_transmit (mitogen_router_get_broker (router), stream);
  start = g_get_monotonic_time ();
  mitogen_router_shutdown (router);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 15 * G_USEC_PER_SEC);
  g_assert_false (mitogen_test_pid_alive (pid));
  g_clear_object (&context);
  g_assert_finalize_object (router);
}

/* --- profiling and debug -------------------------------------------------- */

static char *
stats_path (GPid pid)
{
  return g_strdup_printf ("/tmp/mitogen.stats.%d.log", (int) pid);
}

static void
test_profiling (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) plain = mitogen_test_local (router);
  g_autoptr(MitogenContext) profiled = NULL;
  g_autofree char *plain_path = stats_path (mitogen_context_get_pid (plain));
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  GPid pid;

  g_test_summary ("With Router.profiling set, contexts started afterwards count and time the "
                  "calls they serve and write /tmp/mitogen.stats.<pid>.log on a graceful exit; "
                  "earlier contexts do not.");

  g_assert_false (mitogen_router_get_profiling (router));
  mitogen_router_set_profiling (router, TRUE);
  g_assert_true (mitogen_router_get_profiling (router));
  profiled = mitogen_test_local (router);
  pid = mitogen_context_get_pid (profiled);
  path = stats_path (pid);
  unlink (path);

  for (guint i = 0; i < 3; i++)
    g_variant_unref (call_ok (profiled, "mitogen.noop", NULL));
  g_variant_unref (call_ok (profiled, "mitogen.echo", g_variant_new ("(s)", "x")));
  g_variant_unref (call_ok (plain, "mitogen.noop", NULL));

  g_assert_true (mitogen_context_shutdown (profiled, 20, NULL));
  g_assert_true (mitogen_test_wait_pid_gone (pid, 20000));
  g_assert_true (g_file_get_contents (path, &text, NULL, &error));
  g_assert_no_error (error);
  g_test_message ("%s", text);
  g_assert_nonnull (strstr (text, "# mitogen profile: context"));
  g_assert_nonnull (strstr (text, "\nmitogen.noop\t3\t"));
  g_assert_nonnull (strstr (text, "\nmitogen.echo\t1\t"));
  unlink (path);

  g_assert_true (mitogen_context_shutdown (plain, 20, NULL));
  g_assert_true (mitogen_test_wait_pid_gone (mitogen_context_get_pid (plain), 20000));
  g_assert_false (g_file_test (plain_path, G_FILE_TEST_EXISTS));
}

static void
test_enable_debug (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenContext) before = NULL;
      g_autoptr(MitogenContext) after = NULL;

      /* Before any thread exists; everything then goes to stderr. */
      g_log_writer_default_set_use_stderr (TRUE);
      router = mitogen_router_new ();
      before = mitogen_test_local (router);
      mitogen_router_enable_debug (router);
      after = mitogen_test_local (router);
      g_variant_unref (call_ok (before, "mitogen.log", g_variant_new ("(is)", G_LOG_LEVEL_DEBUG, "debug-before")));
      g_variant_unref (call_ok (after, "mitogen.log", g_variant_new ("(is)", G_LOG_LEVEL_DEBUG, "debug-after")));
      g_debug ("master-debug-line");
      return;
    }

  g_test_summary ("enable_debug turns on debug output here and the debug option of contexts "
                  "started afterwards.");
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*master-debug-line*");
  g_test_trap_assert_stderr ("*debug-after*");
  g_test_trap_assert_stderr_unmatched ("*debug-before*");
}

/* --- utilities ---------------------------------------------------------------- */

static char *
log_path_for (GPid test_pid)
{
  return g_strdup_printf ("%s/mitogen-log-test.%d.log", g_get_tmp_dir (), (int) test_pid);
}

/* In a trap subprocess: some traffic and some messages. */
static void
log_some (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = mitogen_test_local (router);

  g_variant_unref (call_ok (context, "mitogen.noop", NULL));
  g_debug ("a debug line");
  g_info ("an info line");
  g_message ("a message line");
}

static char *
read_log (void)
{
  g_autofree char *path = log_path_for (getpid ());
  char *text = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  unlink (path);
  g_test_message ("%s", text);
  return text;
}

static gboolean
any_line_matches (const char *text,
                  const char *pattern)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_regex_match_simple (pattern, lines[i], 0, 0))
      return TRUE;
  return FALSE;
}

static void
test_log_to_file_debug (void)
{
  g_autofree char *text = NULL;

  if (g_test_subprocess ())
    {
      g_autofree char *path = log_path_for (getppid ());
      g_autoptr(GError) error = NULL;

      g_assert_true (mitogen_log_to_file (path, FALSE, TRUE, "debug", &error));
      g_assert_no_error (error);
      log_some ();
      return;
    }

  g_test_summary ("log_to_file writes 'time level domain: message' lines at and above the level, "
                  "with microseconds when asked, and no mitogen-io traces unless io is on.");
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  text = read_log ();
  g_assert_true (any_line_matches (text, "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6} "
                                         "DEBUG mitogen-api-test: a debug line$"));
  g_assert_true (any_line_matches (text, "\\.[0-9]{6} INFO mitogen-api-test: an info line$"));
  g_assert_true (any_line_matches (text, "\\.[0-9]{6} MESSAGE mitogen-api-test: a message line$"));
  g_assert_true (any_line_matches (text, " DEBUG mitogen-connect: "));  /* the library's own */
  g_assert_false (any_line_matches (text, "mitogen-io"));
}

static void
test_log_to_file_io (void)
{
  g_autofree char *text = NULL;

  if (g_test_subprocess ())
    {
      g_autofree char *path = log_path_for (getppid ());

      g_assert_true (mitogen_log_to_file (path, TRUE, FALSE, NULL, NULL));
      log_some ();
      return;
    }

  g_test_summary ("log_to_file with io writes a trace of every frame in the mitogen-io domain; "
                  "the default level is INFO; no microseconds unless asked.");
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  text = read_log ();
  g_assert_true (any_line_matches (text, "^[0-9-]{10} [0-9:]{8} DEBUG mitogen-io: .*: send dst [0-9]+ src 0 .*handle 101 "));
  g_assert_true (any_line_matches (text, " DEBUG mitogen-io: .*: received dst 0 "));
  g_assert_true (any_line_matches (text, "^[0-9-]{10} [0-9:]{8} INFO mitogen-api-test: an info line$"));
  g_assert_false (any_line_matches (text, "a debug line"));
}

static void
test_log_to_file_env (void)
{
  g_autofree char *text = NULL;

  if (g_test_subprocess ())
    {
      g_autofree char *path = log_path_for (getppid ());

      g_setenv ("MITOGEN_LOG_LEVEL", "message", TRUE);
      g_setenv ("MITOGEN_LOG_USEC", "1", TRUE);
      g_setenv ("MITOGEN_LOG_IO", "0", TRUE);
      g_assert_true (mitogen_log_to_file (path, TRUE, FALSE, "DEBUG", NULL));
      log_some ();
      /* Later calls reconfigure the installed writer. */
      g_unsetenv ("MITOGEN_LOG_LEVEL");
      g_unsetenv ("MITOGEN_LOG_USEC");
      g_unsetenv ("MITOGEN_LOG_IO");
      g_assert_true (mitogen_log_to_file (NULL, FALSE, FALSE, "INFO", NULL));
      g_message ("to stderr now");
      return;
    }

  g_test_summary ("MITOGEN_LOG_LEVEL, MITOGEN_LOG_USEC and MITOGEN_LOG_IO override the arguments; "
                  "a NULL path writes to stderr.");
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("* MESSAGE mitogen-api-test: to stderr now\n*");
  text = read_log ();
  g_assert_true (any_line_matches (text, "\\.[0-9]{6} MESSAGE mitogen-api-test: a message line$"));
  g_assert_false (any_line_matches (text, "an info line"));
  g_assert_false (any_line_matches (text, "a debug line"));
  g_assert_false (any_line_matches (text, "mitogen-io"));
}

static void
test_log_to_file_errors (void)
{
  g_autoptr(GError) error = NULL;

  g_test_summary ("log_to_file refuses an unknown level and an unwritable path (and installs "
                  "nothing then).");

  g_assert_false (mitogen_log_to_file (NULL, FALSE, FALSE, "LOUD", &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "LOUD"));
  g_clear_error (&error);
  g_assert_false (mitogen_log_to_file ("/nonexistent/dir/log", FALSE, FALSE, NULL, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
}

typedef struct
{
  GPid      pid;
  GWeakRef  router;
  gboolean  fail;
  gboolean  fail_silently;
} RunData;

static gboolean
run_body (MitogenRouter  *router,
          gpointer        user_data,
          GError        **error)
{
  RunData *run = user_data;
  g_autoptr(MitogenContext) context = mitogen_router_local (router, NULL, NULL, error);
  g_autoptr(GVariant) value = NULL;

  if (context == NULL)
    return FALSE;
  run->pid = mitogen_context_get_pid (context);
  g_weak_ref_set (&run->router, router);
  if (run->fail_silently)
    return FALSE;
  if (run->fail)
    return mitogen_context_call (context, "mitogen.fail", g_variant_new ("(s)", "boom\nsecond line"),
                                 NULL, error) != NULL;
  value = mitogen_context_call (context, "mitogen.noop", NULL, NULL, error);
  return value != NULL;
}

static void
test_run_with_router (void)
{
  RunData run = { 0 };
  g_autoptr(GError) error = NULL;
  MitogenRouter *router;

  g_test_summary ("run_with_router gives the function a router and shuts it down afterwards, "
                  "its children gone, whether the function succeeds or fails.");

  g_weak_ref_init (&run.router, NULL);
  g_assert_true (mitogen_run_with_router (run_body, &run, &error));
  g_assert_no_error (error);
  router = g_weak_ref_get (&run.router);
  g_assert_null (router);
  g_assert_false (mitogen_test_pid_alive (run.pid));

  run.fail = TRUE;
  g_assert_false (mitogen_run_with_router (run_body, &run, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_cmpstr (mitogen_error_get_remote_message (error), ==, "boom\nsecond line");
  g_clear_error (&error);
  g_assert_false (mitogen_test_pid_alive (run.pid));
  router = g_weak_ref_get (&run.router);
  g_assert_null (router);

  run.fail = FALSE;
  run.fail_silently = TRUE;
  g_assert_false (mitogen_run_with_router (run_body, &run, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_weak_ref_clear (&run.router);
}

static void
test_main (void)
{
  if (g_test_subprocess ())
    {
      RunData run = { 0 };
      int status;

      g_weak_ref_init (&run.router, NULL);
      status = mitogen_main (run_body, &run);
      g_assert_cmpint (status, ==, 0);
      g_assert_false (mitogen_test_pid_alive (run.pid));

      run.fail = TRUE;
      status = mitogen_main (run_body, &run);
      g_assert_cmpint (status, ==, 1);
      g_assert_false (mitogen_test_pid_alive (run.pid));
      g_weak_ref_clear (&run.router);
      return;
    }

  g_test_summary ("mitogen_main returns 0 when the body succeeds, and 1 with the error on one "
                  "stderr line when it fails; its children are gone either way.");
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*: mitogen.fail failed in context *: boom second line (*)\n");
  g_test_trap_assert_stderr_unmatched ("*boom\n*");
}

/* --- the exit watcher --------------------------------------------------------- */

static void
test_watcher (gconstpointer data)
{
  const char *argv[] = { EXIT_HELPER, data, NULL };
  g_autoptr(GSubprocess) helper = NULL;
  g_autoptr(GDataInputStream) input = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  g_autofree char *path = NULL;
  GPid agent;

  g_test_summary ("A master that exits (exit () or return from main) with its router still "
                  "alive shuts the broker down from an atexit handler: the agent exits "
                  "gracefully (it writes its profile) and is reaped by the master.");

  /* Orphans come to us: an agent the helper did not reap would show here. */
  g_assert_cmpint (prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), ==, 0);

  helper = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  input = g_data_input_stream_new (g_subprocess_get_stdout_pipe (helper));
  line = g_data_input_stream_read_line (input, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  agent = atoi (line);
  g_assert_cmpint (agent, >, 0);
  path = stats_path (agent);

  g_assert_true (g_subprocess_wait (helper, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (helper));
  g_assert_cmpint (g_subprocess_get_exit_status (helper), ==, 0);

  /* Neither running nor a zombie: gone, reaped by its own parent. */
  {
    int rc = kill (agent, 0);
    int saved_errno = errno;

    if (rc == 0)
      {
        kill (agent, SIGKILL);
        waitpid (agent, NULL, 0);  /* don't leave it behind */
      }
    g_assert_cmpint (rc, !=, 0);
    g_assert_cmpint (saved_errno, ==, ESRCH);
  }
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
  unlink (path);

  g_assert_cmpint (prctl (PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/api/context/args-not-a-tuple", test_args_not_a_tuple);
  ADD ("/api/receiver/get-data", test_get_data);
  ADD ("/api/sender/remote", test_sender_remote);
  ADD ("/api/sender/local", test_sender_local);
  ADD ("/api/channel/echo", test_channel_echo);
  ADD ("/api/channel/peer-dies", test_channel_peer_dies);
  ADD ("/api/context/send-async", test_send_async);
  ADD ("/api/context/send-await", test_send_await);
  ADD ("/api/router/add-handler", test_add_handler);
  ADD ("/api/router/add-handler-respondent", test_add_handler_respondent);
  ADD ("/api/router/stream-by-id", test_stream_by_id);
  ADD ("/api/router/allocate-id", test_allocate_id);
  ADD ("/api/router/register", test_register);
  ADD ("/api/context/call-local", test_call_local);
  ADD ("/api/broker/stop-receive", test_stop_receive);
  ADD ("/api/broker/stop-transmit", test_stop_transmit);
#undef ADD
  g_test_add_func ("/api/broker/keep-alive", test_keep_alive);
  g_test_add_func ("/api/broker/paused-shutdown", test_paused_shutdown);
  g_test_add_func ("/api/router/profiling", test_profiling);
  g_test_add_func ("/api/router/enable-debug", test_enable_debug);
  g_test_add_func ("/api/utils/log-to-file/debug", test_log_to_file_debug);
  g_test_add_func ("/api/utils/log-to-file/io", test_log_to_file_io);
  g_test_add_func ("/api/utils/log-to-file/env", test_log_to_file_env);
  g_test_add_func ("/api/utils/log-to-file/errors", test_log_to_file_errors);
  g_test_add_func ("/api/utils/run-with-router", test_run_with_router);
  g_test_add_func ("/api/utils/main", test_main);
  g_test_add_data_func ("/api/broker/watcher/exit", "exit", test_watcher);
  g_test_add_data_func ("/api/broker/watcher/return", "return", test_watcher);

  return g_test_run ();
}
