/* test-stress.c — 16 threads at once against local contexts for a bounded
 * time: blocking and GIO-async calls, selects over several receivers,
 * receivers closed by another thread while their owner waits, contexts
 * shut down and routers dropped while other threads still use them. The
 * only errors allowed are the ones those races promise (CHANNEL: the peer
 * or the receiver went; CLOSED: the router or select was closed), and
 * nothing may be left afterwards: fds, threads, child processes.
 *
 * Built for the ThreadSanitizer run (.ci/run, docs/reliability.md); it
 * runs in the default suite too, shorter. MITOGEN_TEST_STRESS_SECONDS
 * sets the time (default 20; the default suite uses 5).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mitogen-test.h"

#define N_THREADS   16
#define N_SHARED     4   /* contexts on the long-lived router */
#define N_PRIVATE    3   /* routers of their own, one context each */
#define N_PARKED     8   /* receivers left for another thread to close */
#define WAIT_SECONDS 120 /* a reply that takes this long is a hang */

typedef enum
{
  OP_CALL,
  OP_CALL_ASYNC,
  OP_SELECT,
  OP_CLOSE_RECEIVER,
  OP_SHUTDOWN_CONTEXT,
  OP_DROP_ROUTER,
  N_OPS
} Op;

static const char *const op_names[N_OPS] = {
  "call", "call-async", "select", "close-receiver", "shutdown-context", "drop-router",
};

typedef struct
{
  MitogenRouter  *router;   /* (owned) */
  MitogenContext *context;  /* (owned) */
} Private;

typedef struct
{
  GMutex           lock;
  MitogenRouter   *router;               /* (owned) long-lived */
  MitogenContext  *shared[N_SHARED];     /* (owned) under lock */
  Private          private[N_PRIVATE];   /* (owned) under lock */
  MitogenReceiver *parked[N_PARKED];     /* (owned) (nullable) under lock */
  gint64           deadline;
  guint32          seed;

  gint             ok[N_OPS];            /* atomic: operations that completed */
  gint             expected[N_OPS];      /* atomic: ones that met an allowed error */
  GPtrArray       *failures;             /* (element-type utf8) under lock */
} Stress;

/* Records @error unless it is one the races allow. */
static void
check_error (Stress       *s,
             Op            op,
             const GError *error)
{
  if (g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL) ||
      g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED))
    {
      g_atomic_int_inc (&s->expected[op]);
      return;
    }
  g_mutex_lock (&s->lock);
  g_ptr_array_add (s->failures, g_strdup_printf ("%s: %s (%s %d)", op_names[op], error->message,
                                                 g_quark_to_string (error->domain), error->code));
  g_mutex_unlock (&s->lock);
}

static void
fail (Stress     *s,
      Op          op,
      const char *what)
{
  g_mutex_lock (&s->lock);
  g_ptr_array_add (s->failures, g_strdup_printf ("%s: %s", op_names[op], what));
  g_mutex_unlock (&s->lock);
}

/* A reference to one of the contexts, shared or private: the slot may be
 * replaced (and the context shut down) while the caller uses it. */
static MitogenContext *
pick_context (Stress *s,
              GRand  *rand)
{
  gint32 i = g_rand_int_range (rand, 0, N_SHARED + N_PRIVATE);
  MitogenContext *context;

  g_mutex_lock (&s->lock);
  if (i < N_SHARED)
    context = g_object_ref (s->shared[i]);
  else
    context = g_object_ref (s->private[i - N_SHARED].context);
  g_mutex_unlock (&s->lock);
  return context;
}

/* Checks a reply to mitogen.echo (u @expect). */
static void
check_echo (Stress   *s,
            Op        op,
            GVariant *value,
            guint32   expect)
{
  if (!g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32) || g_variant_get_uint32 (value) != expect)
    {
      g_autofree char *text = g_variant_print (value, TRUE);
      g_autofree char *what = g_strdup_printf ("echo of %u returned %s", expect, text);

      fail (s, op, what);
      return;
    }
  g_atomic_int_inc (&s->ok[op]);
}

/* mitogen_context_begin_call () of mitogen.echo (u @value); NULL, counted
 * as an allowed error, when another thread has dropped the context's
 * router. */
static MitogenReceiver *
begin_echo (Stress         *s,
            Op              op,
            MitogenContext *context,
            guint32         value)
{
  MitogenReceiver *receiver = mitogen_context_begin_call (context, "mitogen.echo", g_variant_new ("(u)", value));

  if (receiver == NULL)
    g_atomic_int_inc (&s->expected[op]);
  return receiver;
}

static void
op_call (Stress *s,
         GRand  *rand)
{
  g_autoptr(MitogenContext) context = pick_context (s, rand);
  g_autoptr(GError) error = NULL;
  guint32 n = g_rand_int (rand);
  g_autoptr(GVariant) value = mitogen_context_call (context, "mitogen.echo", g_variant_new ("(u)", n),
                                                    NULL, &error);

  if (value == NULL)
    check_error (s, OP_CALL, error);
  else
    check_echo (s, OP_CALL, value, n);
}

static void
call_async_done (GObject      *source,
                 GAsyncResult *result,
                 gpointer      data)
{
  GAsyncResult **out = data;

  *out = g_object_ref (result);
}

/* The GIO form, completing in this thread's own main context. */
static void
op_call_async (Stress *s,
               GRand  *rand)
{
  g_autoptr(MitogenContext) context = pick_context (s, rand);
  g_autoptr(GMainContext) main_context = g_main_context_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  guint32 n = g_rand_int (rand);

  g_main_context_push_thread_default (main_context);
  mitogen_context_call_async (context, "mitogen.echo", g_variant_new ("(u)", n), NULL,
                              call_async_done, &result);
  while (result == NULL)
    g_main_context_iteration (main_context, TRUE);
  g_main_context_pop_thread_default (main_context);

  value = mitogen_context_call_finish (context, result, &error);
  if (value == NULL)
    check_error (s, OP_CALL_ASYNC, error);
  else
    check_echo (s, OP_CALL_ASYNC, value, n);
}

/* Up to four calls gathered by one select; sometimes the select is closed
 * half-way, and the rest must fail with CLOSED. */
static void
op_select (Stress *s,
           GRand  *rand)
{
  g_autoptr(MitogenSelect) select = mitogen_select_new (TRUE);
  MitogenReceiver *receivers[4];
  guint32 values[4];
  guint n = (guint) g_rand_int_range (rand, 1, 5);
  guint close_after = g_rand_int_range (rand, 0, 4) == 0 ? (guint) g_rand_int_range (rand, 0, (gint32) n) : n;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MitogenContext) context = pick_context (s, rand);
      g_autoptr(GError) error = NULL;

      values[i] = g_rand_int (rand);
      receivers[i] = begin_echo (s, OP_SELECT, context, values[i]);
      if (receivers[i] == NULL)
        {
          n = i;
          break;
        }
      if (!mitogen_select_add (select, G_OBJECT (receivers[i]), &error))
        fail (s, OP_SELECT, error->message);
    }
  if (close_after > n)
    close_after = n;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MitogenMessage) message = NULL;
      g_autoptr(GVariant) value = NULL;
      g_autoptr(GError) error = NULL;
      guint which = n;

      if (i == close_after)
        mitogen_select_close (select);
      message = mitogen_select_get (select, WAIT_SECONDS, &error);
      if (message == NULL)
        {
          check_error (s, OP_SELECT, error);
          if (i < close_after)
            {
              /* Only a closed select stops early. */
              g_autofree char *what = g_strdup_printf ("select ended after %u of %u replies: %s",
                                                       i, n, error->message);
              if (!g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED))
                fail (s, OP_SELECT, what);
            }
          break;
        }
      for (guint j = 0; j < n; j++)
        if (mitogen_message_get_receiver (message) == receivers[j])
          which = j;
      if (which == n)
        {
          fail (s, OP_SELECT, "a message from a receiver that is not in the select");
          continue;
        }
      value = mitogen_message_get_value (message, &error);
      if (value == NULL)
        check_error (s, OP_SELECT, error);
      else
        check_echo (s, OP_SELECT, value, values[which]);
    }

  for (guint i = 0; i < n; i++)
    g_object_unref (receivers[i]);
}

/* Parks a call's receiver in a slot where any thread may close it, and
 * waits on it meanwhile; closes the receiver it displaced. */
static void
op_close_receiver (Stress *s,
                   GRand  *rand)
{
  g_autoptr(MitogenContext) context = pick_context (s, rand);
  guint32 n = g_rand_int (rand);
  g_autoptr(MitogenReceiver) receiver = begin_echo (s, OP_CLOSE_RECEIVER, context, n);
  g_autoptr(MitogenReceiver) displaced = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  guint slot = (guint) g_rand_int_range (rand, 0, N_PARKED);

  if (receiver == NULL)
    return;
  g_mutex_lock (&s->lock);
  displaced = s->parked[slot];
  s->parked[slot] = g_object_ref (receiver);
  g_mutex_unlock (&s->lock);
  if (displaced != NULL)
    mitogen_receiver_close (displaced);

  value = mitogen_receiver_get_data (receiver, WAIT_SECONDS, &error);
  if (value == NULL)
    check_error (s, OP_CLOSE_RECEIVER, error);
  else
    check_echo (s, OP_CLOSE_RECEIVER, value, n);
  /* Sometimes closed here, after the reply: twice is harmless. */
  if (g_rand_boolean (rand))
    mitogen_receiver_close (receiver);
}

/* Replaces a shared context and shuts the old one down while other
 * threads may be calling it. */
static void
op_shutdown_context (Stress *s,
                     GRand  *rand)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenContext) fresh = mitogen_router_local (s->router, NULL, NULL, &error);
  g_autoptr(MitogenContext) old = NULL;
  guint slot = (guint) g_rand_int_range (rand, 0, N_SHARED);

  if (fresh == NULL)
    {
      fail (s, OP_SHUTDOWN_CONTEXT, error->message);
      return;
    }
  g_mutex_lock (&s->lock);
  old = s->shared[slot];
  s->shared[slot] = g_steal_pointer (&fresh);
  g_mutex_unlock (&s->lock);

  if (mitogen_context_shutdown (old, WAIT_SECONDS, &error))
    g_atomic_int_inc (&s->ok[OP_SHUTDOWN_CONTEXT]);
  else
    check_error (s, OP_SHUTDOWN_CONTEXT, error);
}

static gboolean
private_new (Stress  *s,
             Private *out)
{
  g_autoptr(GError) error = NULL;

  out->router = mitogen_router_new ();
  out->context = mitogen_router_local (out->router, NULL, NULL, &error);
  if (out->context == NULL)
    {
      fail (s, OP_DROP_ROUTER, error->message);
      g_clear_object (&out->router);
      return FALSE;
    }
  return TRUE;
}

/* Replaces a private router: the old one is shut down, or its last
 * reference simply dropped (by whichever thread lets go of it last),
 * while other threads may still be calling its context. */
static void
op_drop_router (Stress *s,
                GRand  *rand)
{
  Private fresh, old;
  guint slot = (guint) g_rand_int_range (rand, 0, N_PRIVATE);

  if (!private_new (s, &fresh))
    return;
  g_mutex_lock (&s->lock);
  old = s->private[slot];
  s->private[slot] = fresh;
  g_mutex_unlock (&s->lock);

  if (g_rand_boolean (rand))
    mitogen_router_shutdown (old.router);
  g_object_unref (old.context);
  g_object_unref (old.router);
  g_atomic_int_inc (&s->ok[OP_DROP_ROUTER]);
}

static gpointer
worker (gpointer data)
{
  Stress *s = data;
  static gint next_index;
  guint index = (guint) g_atomic_int_add (&next_index, 1);
  g_autoptr(GRand) rand = g_rand_new_with_seed (s->seed + index);

  while (g_get_monotonic_time () < s->deadline)
    {
      /* Replacing contexts and routers spawns agents: rarer. */
      gint32 r = g_rand_int_range (rand, 0, 100);

      if (r < 30)
        op_call (s, rand);
      else if (r < 45)
        op_call_async (s, rand);
      else if (r < 70)
        op_select (s, rand);
      else if (r < 95)
        op_close_receiver (s, rand);
      else if (r < 98)
        op_shutdown_context (s, rand);
      else
        op_drop_router (s, rand);
    }
  return NULL;
}

/* The targets of our open fds, for the log when some are left. */
static char *
describe_fds (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  GString *text = g_string_new (NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc/self/fd", name, NULL);
      g_autofree char *target = g_file_read_link (path, NULL);

      g_string_append_printf (text, " %s=%s", name, target != NULL ? target : "?");
    }
  return g_string_free (text, FALSE);
}

/* Waits up to 30 s for @count () to come down to @limit (threads of
 * brokers and GLib's pools end a little after their last job). */
static guint
wait_down_to (guint  (*count) (void),
              guint    limit)
{
  for (int i = 0; i < 3000 && count () > limit; i++)
    g_usleep (10000);
  return count ();
}

static void
test_stress (void)
{
  const char *env = g_getenv ("MITOGEN_TEST_STRESS_SECONDS");
  double seconds = env != NULL ? g_ascii_strtod (env, NULL) : 20;
  Stress s = { 0 };
  GThread *threads[N_THREADS];
  guint fds, n_threads, children;
  g_autofree char *fds_before = NULL;

  g_test_summary ("16 threads for a bounded time: calls (blocking and async), selects, receivers closed "
                  "by other threads, shared contexts shut down and routers dropped while in use. Only "
                  "CHANNEL and CLOSED errors happen, every kind of operation completes, and no fd, "
                  "thread or child process is left afterwards.");

  /* Warm up: plugins loaded, GLib's own threads started. */
  {
    g_autoptr(MitogenRouter) router = mitogen_router_new ();
    g_autoptr(MitogenContext) context = mitogen_test_local (router);
    g_autoptr(GVariant) value = mitogen_context_call (context, "mitogen.noop", NULL, NULL, NULL);

    g_assert_nonnull (value);
    mitogen_router_shutdown (router);
  }
  fds = mitogen_test_count_fds ();
  n_threads = mitogen_test_count_threads ();
  children = mitogen_test_count_children ();
  fds_before = describe_fds ();

  g_mutex_init (&s.lock);
  s.failures = g_ptr_array_new_with_free_func (g_free);
  s.seed = g_test_rand_int ();
  s.router = mitogen_router_new ();
  for (guint i = 0; i < N_SHARED; i++)
    s.shared[i] = mitogen_test_local (s.router);
  for (guint i = 0; i < N_PRIVATE; i++)
    g_assert_true (private_new (&s, &s.private[i]));

  s.deadline = g_get_monotonic_time () + (gint64) (seconds * G_USEC_PER_SEC);
  for (guint i = 0; i < N_THREADS; i++)
    threads[i] = g_thread_new ("stress", worker, &s);
  for (guint i = 0; i < N_THREADS; i++)
    g_thread_join (threads[i]);

  for (guint i = 0; i < N_OPS; i++)
    g_test_message ("%-16s %6d completed, %5d with an allowed error", op_names[i], s.ok[i], s.expected[i]);
  for (guint i = 0; i < s.failures->len; i++)
    g_test_message ("unexpected: %s", (const char *) s.failures->pdata[i]);
  g_assert_cmpuint (s.failures->len, ==, 0);
  /* Every kind of operation ran to completion at least once. */
  for (guint i = 0; i < N_OPS; i++)
    g_assert_cmpint (s.ok[i], >, 0);

  for (guint i = 0; i < N_PARKED; i++)
    g_clear_object (&s.parked[i]);
  for (guint i = 0; i < N_PRIVATE; i++)
    {
      g_clear_object (&s.private[i].context);
      mitogen_router_shutdown (s.private[i].router);
      g_assert_finalize_object (s.private[i].router);
    }
  for (guint i = 0; i < N_SHARED; i++)
    g_clear_object (&s.shared[i]);
  mitogen_router_shutdown (s.router);
  g_assert_finalize_object (s.router);
  g_ptr_array_unref (s.failures);
  g_mutex_clear (&s.lock);

  g_test_message ("after: %u fds (was %u), %u threads (was %u), %u children (was %u)",
                  wait_down_to (mitogen_test_count_fds, fds), fds,
                  wait_down_to (mitogen_test_count_threads, n_threads), n_threads,
                  wait_down_to (mitogen_test_count_children, children), children);
  if (mitogen_test_count_fds () > fds)
    {
      g_autofree char *fds_after = describe_fds ();

      g_test_message ("fds before:%s", fds_before);
      g_test_message ("fds after: %s", fds_after);
    }
  g_assert_cmpuint (mitogen_test_count_fds (), <=, fds);
  g_assert_cmpuint (mitogen_test_count_threads (), <=, n_threads);
  g_assert_cmpuint (mitogen_test_count_children (), <=, children);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/stress/threads", test_stress);
  return g_test_run ();
}
