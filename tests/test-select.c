/* test-select.c — MitogenSelect: gathering replies from many receivers
 * (arrival order, oneshot removal, timeouts, nesting, ownership and
 * cycles, dead receivers, closing, async gets, Select.all).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <string.h>

#include "mitogen-test.h"

#define N_CONTEXTS 3

typedef struct
{
  MitogenRouter  *router;                /* (owned) */
  MitogenContext *contexts[N_CONTEXTS];  /* (owned) */
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  f->router = mitogen_router_new ();
  for (guint i = 0; i < N_CONTEXTS; i++)
    f->contexts[i] = mitogen_test_local (f->router);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  for (guint i = 0; i < N_CONTEXTS; i++)
    g_clear_object (&f->contexts[i]);
  mitogen_router_shutdown (f->router);
  g_assert_finalize_object (f->router);
}

static MitogenReceiver *
begin_sleep (MitogenContext *context,
             double          seconds)
{
  return mitogen_context_begin_call (context, "mitogen.sleep", g_variant_new ("(d)", seconds));
}

static MitogenReceiver *
begin_echo_u (MitogenContext *context,
              guint32         value)
{
  return mitogen_context_begin_call (context, "mitogen.echo", g_variant_new ("(u)", value));
}

/* Routes @value to @handle of this process (local delivery). */
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

static void
test_gather_order (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenSelect) select = mitogen_select_new (TRUE);
  g_autoptr(MitogenSelect) other = mitogen_select_new (TRUE);
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) none = NULL;
  MitogenReceiver *r[N_CONTEXTS];
  const double delays[N_CONTEXTS] = { 0.8, 0.0, 0.4 };
  const guint expect[N_CONTEXTS] = { 1, 2, 0 };

  g_test_summary ("A oneshot select yields replies in arrival order, each with its receiver set, "
                  "removes each receiver once it has yielded, and then reports no receivers left.");

  for (guint i = 0; i < N_CONTEXTS; i++)
    {
      r[i] = begin_sleep (f->contexts[i], delays[i]);
      g_assert_true (mitogen_select_add (select, G_OBJECT (r[i]), &error));
      g_assert_no_error (error);
    }
  g_assert_cmpuint (mitogen_select_get_size (select), ==, N_CONTEXTS);
  g_assert_false (mitogen_select_is_empty (select));
  g_assert_true (mitogen_select_get_oneshot (select));

  for (guint i = 0; i < N_CONTEXTS; i++)
    {
      g_autoptr(MitogenMessage) message = mitogen_select_get (select, 30, &error);
      g_autoptr(GVariant) value = NULL;

      g_assert_no_error (error);
      g_assert_nonnull (message);
      g_assert_true (mitogen_message_get_receiver (message) == r[expect[i]]);
      g_assert_cmpuint (mitogen_message_get_src_id (message), ==,
                        mitogen_context_get_id (f->contexts[expect[i]]));
      value = mitogen_message_get_value (message, &error);
      g_assert_no_error (error);
      g_assert_true (g_variant_is_of_type (value, G_VARIANT_TYPE_UNIT));
      g_assert_cmpuint (mitogen_select_get_size (select), ==, N_CONTEXTS - 1 - i);
    }

  g_assert_true (mitogen_select_is_empty (select));
  none = mitogen_select_get (select, 5, &error);
  g_assert_null (none);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED);
  g_assert_nonnull (strstr (error->message, "no receivers left"));
  g_clear_error (&error);

  /* Removed receivers belong to no select any more. */
  g_assert_true (mitogen_select_add (other, G_OBJECT (r[0]), &error));
  g_assert_no_error (error);

  for (guint i = 0; i < N_CONTEXTS; i++)
    g_object_unref (r[i]);
}

static void
test_timeout (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenReceiver) r = begin_sleep (f->contexts[0], 0.5);
  g_autoptr(MitogenSelect) select = mitogen_select_new_with_receivers ((GObject **) &r, 1, TRUE, NULL);
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();

  g_test_summary ("Select.get(timeout) fails with TIMEOUT when nothing arrives in time, "
                  "and later returns the message; empty() says whether get would block.");

  g_assert_nonnull (select);
  g_assert_true (mitogen_select_empty (select));
  message = mitogen_select_get (select, 0.05, &error);
  g_assert_null (message);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 400000);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 50000);
  g_clear_error (&error);

  message = mitogen_select_get (select, 0, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_clear_error (&error);

  /* The reply arrives: empty() turns FALSE before anyone takes it. */
  while (mitogen_select_empty (select))
    g_usleep (10000);
  message = mitogen_select_get (select, 0, &error);
  g_assert_no_error (error);
  g_assert_true (mitogen_message_get_receiver (message) == r);
  g_assert_true (mitogen_select_empty (select));
}

static void
test_iteration_idiom (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenSelect) select = mitogen_select_new (TRUE);
  guint32 sum = 0, count = 0;

  g_test_summary ("The documented C loop (get until CLOSED) sees every reply exactly once.");

  for (guint i = 0; i < 30; i++)
    {
      g_autoptr(MitogenReceiver) r = begin_echo_u (f->contexts[i % N_CONTEXTS], i);
      g_assert_true (mitogen_select_add (select, G_OBJECT (r), NULL));
    }

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(MitogenMessage) message = mitogen_select_get (select, 30, &error);
      g_autoptr(GVariant) value = NULL;

      if (message == NULL)
        {
          g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED);
          break;
        }
      value = mitogen_message_get_value (message, &error);
      g_assert_no_error (error);
      sum += g_variant_get_uint32 (value);
      count++;
    }
  g_assert_cmpuint (count, ==, 30);
  g_assert_cmpuint (sum, ==, 29 * 30 / 2);
}

static void
on_received_ignore (MitogenReceiver *receiver,
                    MitogenMessage  *message,
                    gpointer         user_data)
{
}

static void
test_membership (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenSelect) a = mitogen_select_new (TRUE);
  g_autoptr(MitogenSelect) b = mitogen_select_new (TRUE);
  g_autoptr(MitogenSelect) c = mitogen_select_new (TRUE);
  g_autoptr(MitogenSelect) d = mitogen_select_new (FALSE);
  g_autoptr(MitogenReceiver) r = mitogen_receiver_new (f->router, 0, TRUE, NULL);
  g_autoptr(MitogenReceiver) pushed = mitogen_receiver_new (f->router, 0, TRUE, NULL);
  g_autoptr(GError) error = NULL;
  GObject *list[2];

  g_test_summary ("A receiver or select belongs to one select at a time; a select cannot be "
                  "added to itself or to one of its descendants; push-mode receivers are refused; "
                  "removing a non-member fails.");

  g_assert_true (mitogen_select_add (a, G_OBJECT (r), &error));
  g_assert_no_error (error);
  g_assert_false (mitogen_select_add (b, G_OBJECT (r), &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "already belongs"));
  g_clear_error (&error);
  g_assert_false (mitogen_select_add (a, G_OBJECT (r), &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  g_assert_false (mitogen_select_remove (b, G_OBJECT (r), &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_true (mitogen_select_remove (a, G_OBJECT (r), &error));
  g_assert_no_error (error);
  g_assert_true (mitogen_select_add (b, G_OBJECT (r), &error));
  g_assert_no_error (error);
  g_assert_true (mitogen_select_remove (b, G_OBJECT (r), NULL));

  /* Cycles. */
  g_assert_false (mitogen_select_add (a, G_OBJECT (a), &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "cycle"));
  g_clear_error (&error);
  g_assert_true (mitogen_select_add (a, G_OBJECT (b), &error));   /* a > b */
  g_assert_true (mitogen_select_add (b, G_OBJECT (c), &error));   /* a > b > c */
  g_assert_no_error (error);
  g_assert_false (mitogen_select_add (b, G_OBJECT (a), &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (mitogen_select_add (c, G_OBJECT (a), &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (mitogen_select_add (c, G_OBJECT (b), &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  /* b already belongs to a. */
  g_assert_false (mitogen_select_add (d, G_OBJECT (b), &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_cmpuint (mitogen_select_get_size (a), ==, 1);
  g_assert_cmpuint (mitogen_select_get_size (b), ==, 1);

  /* Push mode. */
  g_signal_connect (pushed, "received", G_CALLBACK (on_received_ignore), NULL);
  g_assert_false (mitogen_select_add (d, G_OBJECT (pushed), &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "::received"));
  g_clear_error (&error);

  /* A failed constructor claims nothing. */
  list[0] = G_OBJECT (r);
  list[1] = G_OBJECT (pushed);
  g_assert_null (mitogen_select_new_with_receivers (list, 2, TRUE, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_true (mitogen_select_add (d, G_OBJECT (r), &error));
  g_assert_no_error (error);
}

static void
test_nested (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenSelect) outer = mitogen_select_new (TRUE);
  g_autoptr(MitogenSelect) sub1 = mitogen_select_new (TRUE);
  g_autoptr(MitogenSelect) sub2 = mitogen_select_new (TRUE);
  g_autoptr(MitogenSelect) sub3 = mitogen_select_new (TRUE);
  g_autoptr(GPtrArray) leaves = g_ptr_array_new_with_free_func (g_object_unref);
  guint seen = 0, sum = 0;

  g_test_summary ("Selects nest: the outer select yields every leaf's reply with the leaf "
                  "receiver set, drops inner selects once exhausted, and ends when all are done.");

  for (guint i = 0; i < 6; i++)
    g_ptr_array_add (leaves, begin_echo_u (f->contexts[i % N_CONTEXTS], 100 + i));
  /* sub1: 0, 1; sub3: 2, 3; sub2: 4 and sub3; outer: sub1, sub2, 5 */
  g_assert_true (mitogen_select_add (sub1, leaves->pdata[0], NULL));
  g_assert_true (mitogen_select_add (sub1, leaves->pdata[1], NULL));
  g_assert_true (mitogen_select_add (sub3, leaves->pdata[2], NULL));
  g_assert_true (mitogen_select_add (sub3, leaves->pdata[3], NULL));
  g_assert_true (mitogen_select_add (sub2, leaves->pdata[4], NULL));
  g_assert_true (mitogen_select_add (sub2, G_OBJECT (sub3), NULL));
  g_assert_true (mitogen_select_add (outer, G_OBJECT (sub1), NULL));
  g_assert_true (mitogen_select_add (outer, G_OBJECT (sub2), NULL));
  g_assert_true (mitogen_select_add (outer, leaves->pdata[5], NULL));

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(MitogenMessage) message = mitogen_select_get (outer, 30, &error);
      g_autoptr(GVariant) value = NULL;
      guint index;

      if (message == NULL)
        {
          g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED);
          break;
        }
      g_assert_true (g_ptr_array_find (leaves, mitogen_message_get_receiver (message), &index));
      value = mitogen_message_get_value (message, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (g_variant_get_uint32 (value), ==, 100 + index);
      g_assert_false (seen & (1u << index));
      seen |= 1u << index;
      sum += index;
    }
  g_assert_cmpuint (seen, ==, 0x3f);
  g_assert_cmpuint (sum, ==, 15);
  g_assert_true (mitogen_select_is_empty (outer));
  g_assert_true (mitogen_select_is_empty (sub1));
  g_assert_true (mitogen_select_is_empty (sub2));
  g_assert_true (mitogen_select_is_empty (sub3));
  /* Exhausted inner selects were let go: they may join another select. */
  g_assert_true (mitogen_select_add (sub1, G_OBJECT (sub3), NULL));
}

static void
test_nested_preloaded (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenSelect) outer = mitogen_select_new (TRUE);
  g_autoptr(MitogenSelect) inner = mitogen_select_new (TRUE);
  g_autoptr(GPtrArray) receivers = g_ptr_array_new_with_free_func (g_object_unref);
  guint n = 0;

  g_test_summary ("A select added to another while several of its receivers are already ready "
                  "yields all of them through the outer one.");

  for (guint i = 0; i < 4; i++)
    {
      g_ptr_array_add (receivers, begin_echo_u (f->contexts[i % N_CONTEXTS], i));
      g_assert_true (mitogen_select_add (inner, receivers->pdata[i], NULL));
    }
  /* Every reply is in before nesting. */
  for (guint i = 0; i < receivers->len; i++)
    while (mitogen_receiver_empty (receivers->pdata[i]))
      g_usleep (1000);
  g_assert_true (mitogen_select_add (outer, G_OBJECT (inner), NULL));

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(MitogenMessage) message = mitogen_select_get (outer, 10, &error);

      if (message == NULL)
        {
          g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED);
          break;
        }
      n++;
    }
  g_assert_cmpuint (n, ==, 4);
}

static void
test_persistent (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenSelect) select = mitogen_select_new (FALSE);
  g_autoptr(MitogenReceiver) r = mitogen_receiver_new (f->router, 0, TRUE, NULL);
  guint32 handle = mitogen_receiver_get_handle (r);
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) dead = NULL;
  g_autoptr(MitogenMessage) none = NULL;
  g_autoptr(GVariant) value = NULL;

  g_test_summary ("A select that is not oneshot keeps a receiver across messages; a dead "
                  "marker is returned with its receiver set and removes the receiver.");

  g_assert_false (mitogen_select_get_oneshot (select));
  /* Messages already queued count, however many. */
  post_local (f->router, handle, g_variant_new_string ("early"));
  post_local (f->router, handle, g_variant_new_string ("early2"));
  while (mitogen_receiver_empty (r))
    g_usleep (1000);
  g_usleep (50000);
  g_assert_true (mitogen_select_add (select, G_OBJECT (r), &error));
  g_assert_no_error (error);
  post_local (f->router, handle, g_variant_new_string ("one"));
  post_local (f->router, handle, g_variant_new_string ("two"));

  for (guint i = 0; i < 4; i++)
    {
      static const char *const expect[] = { "early", "early2", "one", "two" };
      g_autoptr(MitogenMessage) message = mitogen_select_get (select, 10, &error);
      g_autoptr(GVariant) v = NULL;

      g_assert_no_error (error);
      g_assert_true (mitogen_message_get_receiver (message) == r);
      v = mitogen_message_get_value (message, &error);
      g_assert_cmpstr (g_variant_get_string (v, NULL), ==, expect[i]);
      g_assert_cmpuint (mitogen_select_get_size (select), ==, 1);
    }

  post_local (f->router, handle, NULL);
  dead = mitogen_select_get (select, 10, &error);
  g_assert_no_error (error);
  g_assert_true (mitogen_message_is_dead (dead));
  g_assert_true (mitogen_message_get_receiver (dead) == r);
  value = mitogen_message_get_value (dead, &error);
  g_assert_null (value);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_clear_error (&error);
  g_assert_cmpuint (mitogen_select_get_size (select), ==, 0);

  none = mitogen_select_get (select, 1, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED);
}

static void
test_respondent_killed (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenSelect) select = mitogen_select_new (FALSE);
  g_autoptr(MitogenReceiver) slow = begin_sleep (f->contexts[0], 30);
  g_autoptr(MitogenReceiver) other = begin_sleep (f->contexts[1], 30);
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start;

  g_test_summary ("When a context dies during a call, the select yields that receiver's dead "
                  "marker at once, naming the receiver, and the other receiver stays.");

  g_assert_true (mitogen_select_add (select, G_OBJECT (slow), NULL));
  g_assert_true (mitogen_select_add (select, G_OBJECT (other), NULL));
  g_usleep (50000);
  start = g_get_monotonic_time ();
  g_assert_cmpint (kill (mitogen_context_get_pid (f->contexts[0]), SIGKILL), ==, 0);

  message = mitogen_select_get (select, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
  g_assert_true (mitogen_message_is_dead (message));
  g_assert_true (mitogen_message_get_receiver (message) == slow);
  g_assert_true (mitogen_receiver_get_respondent (mitogen_message_get_receiver (message)) == f->contexts[0]);
  value = mitogen_message_get_value (message, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_cmpuint (mitogen_select_get_size (select), ==, 1);
}

typedef struct
{
  MitogenSelect  *select;
  MitogenMessage *message;
  GError         *error;
  gint64          returned;
} GetThread;

static gpointer
get_thread (gpointer data)
{
  GetThread *t = data;

  t->message = mitogen_select_get (t->select, 20, &t->error);
  t->returned = g_get_monotonic_time ();
  return NULL;
}

static void
test_wakeups (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenSelect) select = mitogen_select_new (TRUE);
  g_autoptr(MitogenReceiver) idle = mitogen_receiver_new (f->router, 0, TRUE, NULL);
  g_autoptr(MitogenReceiver) later = NULL;
  GetThread t = { select, NULL, NULL, 0 };
  GThread *thread;
  gint64 start;

  g_test_summary ("A get blocked in another thread wakes for a receiver added after it "
                  "started waiting, and for the last receiver being closed locally.");

  g_assert_true (mitogen_select_add (select, G_OBJECT (idle), NULL));
  thread = g_thread_new ("select-get", get_thread, &t);
  g_usleep (100000);
  later = begin_echo_u (f->contexts[0], 7);
  g_assert_true (mitogen_select_add (select, G_OBJECT (later), NULL));
  g_thread_join (thread);
  g_assert_no_error (t.error);
  g_assert_true (mitogen_message_get_receiver (t.message) == later);
  g_clear_pointer (&t.message, mitogen_message_unref);

  /* Only `idle` is left: closing it ends the iteration. */
  t.returned = 0;
  thread = g_thread_new ("select-get", get_thread, &t);
  g_usleep (100000);
  start = g_get_monotonic_time ();
  mitogen_receiver_close (idle);
  g_thread_join (thread);
  g_assert_null (t.message);
  g_assert_error (t.error, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED);
  g_assert_cmpint (t.returned - start, <, G_USEC_PER_SEC);
  g_clear_error (&t.error);
  g_assert_true (mitogen_select_is_empty (select));
}

static void
test_close (Fixture *f, gconstpointer data)
{
  MitogenSelect *select = mitogen_select_new (TRUE);
  g_autoptr(MitogenSelect) other = mitogen_select_new (TRUE);
  g_autoptr(MitogenReceiver) a = mitogen_receiver_new (f->router, 0, TRUE, NULL);
  g_autoptr(MitogenReceiver) b = mitogen_receiver_new (f->router, 0, TRUE, NULL);
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("close() detaches every receiver (they may join another select) and later "
                  "gets fail; dropping a select lets go of its receivers too.");

  g_assert_true (mitogen_select_add (select, G_OBJECT (a), NULL));
  g_assert_true (mitogen_select_add (select, G_OBJECT (b), NULL));
  post_local (f->router, mitogen_receiver_get_handle (a), g_variant_new_int32 (1));
  while (mitogen_select_empty (select))
    g_usleep (1000);

  mitogen_select_close (select);
  g_assert_true (mitogen_select_is_empty (select));
  g_assert_true (mitogen_select_empty (select));
  message = mitogen_select_get (select, 1, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED);
  g_clear_error (&error);

  /* The message stayed in its receiver; a detached receiver is in no select. */
  g_assert_false (mitogen_receiver_empty (a));
  g_assert_true (mitogen_select_add (other, G_OBJECT (a), &error));
  g_assert_no_error (error);
  message = mitogen_select_get (other, 5, &error);
  g_assert_no_error (error);
  g_assert_true (mitogen_message_get_receiver (message) == a);

  /* Dropping a select releases its members. */
  g_assert_true (mitogen_select_add (select, G_OBJECT (b), NULL));
  g_assert_finalize_object (select);
  g_assert_true (mitogen_select_add (other, G_OBJECT (b), &error));
  g_assert_no_error (error);
}

typedef struct
{
  MitogenMessage *message;
  GError         *error;
  GThread        *thread;
  gboolean        done;
} AsyncResult;

static void
get_done_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  AsyncResult *r = user_data;

  r->thread = g_thread_self ();
  r->message = mitogen_select_get_finish (MITOGEN_SELECT (source), result, &r->error);
  r->done = TRUE;
}

static gboolean
cancel_cb (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_REMOVE;
}

static void
test_async (Fixture *f, gconstpointer data)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(MitogenSelect) select = mitogen_select_new (TRUE);
  g_autoptr(MitogenReceiver) r = begin_echo_u (f->contexts[1], 42);
  g_autoptr(MitogenReceiver) idle = mitogen_receiver_new (f->router, 0, TRUE, NULL);
  g_autoptr(MitogenReceiver) idle2 = mitogen_receiver_new (f->router, 0, TRUE, NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GVariant) value = NULL;
  AsyncResult a = { 0 }, c = { 0 }, e = { 0 }, x = { 0 };

  g_test_summary ("get_async completes in the caller's main context with the message; it can "
                  "be cancelled; it fails with CLOSED once no receiver is left or on close().");

  g_main_context_push_thread_default (context);
  g_assert_true (mitogen_select_add (select, G_OBJECT (r), NULL));
  g_assert_true (mitogen_select_add (select, G_OBJECT (idle), NULL));

  mitogen_select_get_async (select, NULL, get_done_cb, &a);
  while (!a.done)
    g_main_context_iteration (context, TRUE);
  g_assert_no_error (a.error);
  g_assert_true (a.thread == g_thread_self ());
  g_assert_true (mitogen_message_get_receiver (a.message) == r);
  value = mitogen_message_get_value (a.message, NULL);
  g_assert_cmpuint (g_variant_get_uint32 (value), ==, 42);
  g_clear_pointer (&a.message, mitogen_message_unref);

  /* Only `idle` is left: a cancelled get. */
  {
    g_autoptr(GSource) timer = g_timeout_source_new (50);
    g_source_set_callback (timer, cancel_cb, cancellable, NULL);
    g_source_attach (timer, context);
    mitogen_select_get_async (select, cancellable, get_done_cb, &c);
    while (!c.done)
      g_main_context_iteration (context, TRUE);
  }
  g_assert_error (c.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&c.error);

  /* A pending get ends when the last receiver goes. */
  mitogen_select_get_async (select, NULL, get_done_cb, &e);
  while (g_main_context_iteration (context, FALSE))
    ;
  g_assert_false (e.done);
  mitogen_receiver_close (idle);
  while (!e.done)
    g_main_context_iteration (context, TRUE);
  g_assert_error (e.error, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED);
  g_clear_error (&e.error);

  /* ... and on close (). */
  g_assert_true (mitogen_select_add (select, G_OBJECT (idle2), NULL));
  mitogen_select_get_async (select, NULL, get_done_cb, &x);
  while (g_main_context_iteration (context, FALSE))
    ;
  g_assert_false (x.done);
  mitogen_select_close (select);
  while (!x.done)
    g_main_context_iteration (context, TRUE);
  g_assert_error (x.error, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED);
  g_clear_error (&x.error);
  g_main_context_pop_thread_default (context);
}

static void
test_all (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) receivers = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) values = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenSelect) owner = mitogen_select_new (TRUE);

  g_test_summary ("Select.all returns one value per receiver in arrival order, and fails with "
                  "the CALL error of a remote failure or when a receiver is already owned.");

  g_ptr_array_add (receivers, begin_sleep (f->contexts[0], 0.5));
  g_ptr_array_add (receivers, mitogen_context_begin_call (f->contexts[1], "mitogen.echo",
                                                          g_variant_new ("(s)", "fast")));
  values = mitogen_select_all ((MitogenReceiver **) receivers->pdata, receivers->len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (values->len, ==, 2);
  g_assert_cmpstr (g_variant_get_string (values->pdata[0], NULL), ==, "fast");
  g_assert_true (g_variant_is_of_type (values->pdata[1], G_VARIANT_TYPE_UNIT));
  g_clear_pointer (&values, g_ptr_array_unref);
  g_ptr_array_set_size (receivers, 0);

  g_ptr_array_add (receivers, begin_echo_u (f->contexts[0], 1));
  g_ptr_array_add (receivers, mitogen_context_begin_call (f->contexts[2], "mitogen.fail",
                                                          g_variant_new ("(s)", "disk on fire")));
  values = mitogen_select_all ((MitogenReceiver **) receivers->pdata, receivers->len, &error);
  g_assert_null (values);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_cmpstr (mitogen_error_get_remote_message (error), ==, "disk on fire");
  g_clear_error (&error);
  g_ptr_array_set_size (receivers, 0);

  g_ptr_array_add (receivers, begin_echo_u (f->contexts[0], 1));
  g_assert_true (mitogen_select_add (owner, receivers->pdata[0], NULL));
  values = mitogen_select_all ((MitogenReceiver **) receivers->pdata, receivers->len, &error);
  g_assert_null (values);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  values = mitogen_select_all (NULL, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (values->len, ==, 0);
}

static void
test_channel_member (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenSelect) select = mitogen_select_new (FALSE);
  g_autoptr(MitogenChannel) channel = mitogen_channel_new (f->router, f->contexts[0], 5000, 0);
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A channel added to a select is waited on through its receiver.");

  g_assert_true (mitogen_select_add (select, G_OBJECT (channel), &error));
  g_assert_no_error (error);
  post_local (f->router, mitogen_channel_get_handle (channel), g_variant_new_boolean (TRUE));
  message = mitogen_select_get (select, 10, &error);
  g_assert_no_error (error);
  g_assert_true (mitogen_message_get_receiver (message) == mitogen_channel_get_receiver (channel));
  g_assert_true (mitogen_select_remove (select, G_OBJECT (channel), &error));
  g_assert_no_error (error);
  g_assert_true (mitogen_select_is_empty (select));
}

static void
test_remove_purges (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenSelect) select = mitogen_select_new (FALSE);
  g_autoptr(MitogenReceiver) a = mitogen_receiver_new (f->router, 0, TRUE, NULL);
  g_autoptr(MitogenReceiver) b = mitogen_receiver_new (f->router, 0, TRUE, NULL);
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A receiver removed after it notified is not returned by a later get.");

  g_assert_true (mitogen_select_add (select, G_OBJECT (a), NULL));
  g_assert_true (mitogen_select_add (select, G_OBJECT (b), NULL));
  post_local (f->router, mitogen_receiver_get_handle (a), g_variant_new_int32 (1));
  while (mitogen_select_empty (select))
    g_usleep (1000);
  g_assert_true (mitogen_select_remove (select, G_OBJECT (a), NULL));
  g_assert_true (mitogen_select_empty (select));
  message = mitogen_select_get (select, 0.1, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/select/gather-order", test_gather_order);
  ADD ("/select/timeout", test_timeout);
  ADD ("/select/iteration-idiom", test_iteration_idiom);
  ADD ("/select/membership", test_membership);
  ADD ("/select/nested", test_nested);
  ADD ("/select/nested-preloaded", test_nested_preloaded);
  ADD ("/select/persistent", test_persistent);
  ADD ("/select/respondent-killed", test_respondent_killed);
  ADD ("/select/wakeups", test_wakeups);
  ADD ("/select/close", test_close);
  ADD ("/select/async", test_async);
  ADD ("/select/all", test_all);
  ADD ("/select/channel-member", test_channel_member);
  ADD ("/select/remove-purges", test_remove_purges);
#undef ADD

  return g_test_run ();
}
