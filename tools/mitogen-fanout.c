/* mitogen-fanout.c — one command over many targets in parallel
 *
 * Worker threads (at most --parallel) take targets in order, start each
 * one's context over a single router (so the whole tree shares one broker
 * and one set of connections), and run the command's job there. Outcomes
 * come back to the main thread through a queue and are printed as they
 * complete; then a summary line. With one target, the output is what the
 * command prints on its own (no prefix, no summary).
 *
 * --timeout S: each worker's slot holds its target's deadline and a
 * cancellable; a watchdog thread cancels the cancellable once the
 * deadline passed. The connect and the job (which passes
 * outcome->cancellable on) then fail, and the target ends with status 124,
 * "timed out after S s" (the work left in its context goes with the
 * router's shutdown at the end: an agent that does not answer is cut off
 * after the broker's shutdown timeout).
 *
 * Output, one target:  the result (call: pretty JSON), or `mitogen: ERROR`
 * on stderr. Several: `TARGET: RESULT` lines on stdout, `mitogen: TARGET:
 * ERROR` on stderr, then `mitogen: N targets: X succeeded, Y failed`.
 * --json: one object per target per line on stdout:
 *   {"target": T, "ok": B, "status": N, "result": ..., "error": "...", ...}
 *
 * Signals: a command that catches SIGINT, SIGTERM and SIGHUP
 * (tool_catch_signals (), `run` and `cp`) handles them on a thread of its
 * own; once one arrived, no more targets are started (those left end with
 * 128+N, "interrupted"), while the jobs running decide what to do (run
 * passes the signal on, cp cancels its copies).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-tool"

#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <glib-unix.h>

#include "mitogen-tool.h"

typedef struct
{
  gint64         deadline;     /* monotonic; 0: idle */
  GCancellable  *cancellable;  /* (owned) (nullable) */
} Slot;

typedef struct
{
  GPtrArray     *targets;    /* (unowned) ToolTarget */
  ToolJobFunc    job;
  gpointer       user_data;
  MitogenRouter *router;     /* (unowned) */
  GAsyncQueue   *done;       /* (owned) ToolOutcome */
  gint           next;       /* (atomic) the next target to start */
  double         timeout;    /* seconds, 0: none */
  GMutex         lock;       /* slots, stop */
  GCond          cond;       /* stop */
  Slot          *slots;      /* (owned) one per worker */
  gboolean       stop;       /* the watchdog's end */
} Fanout;

typedef struct
{
  Fanout *fanout;
  Slot   *slot;
} Worker;

static void
outcome_free (ToolOutcome *outcome)
{
  g_free (outcome->error);
  g_clear_pointer (&outcome->json, json_node_unref);
  g_clear_pointer (&outcome->result, json_node_unref);
  g_free (outcome);
}

/* ---------------------------------------------------------------------- */
/* Signals */

typedef struct
{
  int             signum;
  ToolSignalFunc  func;
  gpointer        user_data;
} Catch;

static gint interrupted;   /* (atomic) the first signal caught, 0: none */
static gint n_caught;      /* (atomic) */

/* The signal thread. */
static gboolean
on_signal (gpointer data)
{
  Catch *catch = data;
  int count = g_atomic_int_add (&n_caught, 1) + 1;

  (void) g_atomic_int_compare_and_exchange (&interrupted, 0, catch->signum);
  catch->func (catch->signum, count, catch->user_data);
  return G_SOURCE_CONTINUE;
}

static gpointer
signal_thread (gpointer data)
{
  GMainContext *context = data;

  g_main_context_push_thread_default (context);
  for (;;)
    g_main_context_iteration (context, TRUE);
  return NULL;
}

void
tool_catch_signals (ToolSignalFunc func,
                    gpointer       user_data)
{
  static const int signals[] = { SIGINT, SIGTERM, SIGHUP };
  GMainContext *context = g_main_context_new ();

  for (gsize i = 0; i < G_N_ELEMENTS (signals); i++)
    {
      GSource *source = g_unix_signal_source_new (signals[i]);
      Catch *catch = g_new0 (Catch, 1);

      catch->signum = signals[i];
      catch->func = func;
      catch->user_data = user_data;
      g_source_set_callback (source, on_signal, catch, g_free);
      g_source_attach (source, context);
      g_source_unref (source);
    }
  g_thread_unref (g_thread_new ("mitogen-signals", signal_thread, context));
}

int
tool_get_interrupted (void)
{
  return g_atomic_int_get (&interrupted);
}

const char *
tool_signal_text (int signum)
{
  switch (signum)
    {
    case SIGTERM:
      return "terminated";
    case SIGHUP:
      return "hung up";
    default:
      return "interrupted";
    }
}

/* ---------------------------------------------------------------------- */

/* The watchdog thread (with --timeout): cancels what is past its deadline. */
static gpointer
watchdog (gpointer data)
{
  Fanout *fanout = data;
  guint n_slots = (guint) CLAMP ((int) fanout->targets->len, 1, G_MAXINT);

  g_mutex_lock (&fanout->lock);
  while (!fanout->stop)
    {
      gint64 now = g_get_monotonic_time ();
      gint64 next = now + G_USEC_PER_SEC;

      for (guint i = 0; i < n_slots; i++)
        {
          Slot *slot = &fanout->slots[i];

          if (slot->cancellable == NULL || slot->deadline == 0)
            continue;
          if (slot->deadline <= now)
            {
              g_cancellable_cancel (slot->cancellable);
              slot->deadline = 0;
            }
          else
            next = MIN (next, slot->deadline);
        }
      g_cond_wait_until (&fanout->cond, &fanout->lock, next);
    }
  g_mutex_unlock (&fanout->lock);
  return NULL;
}

/* A worker thread. */
static gpointer
worker (gpointer data)
{
  Worker *self = data;
  Fanout *fanout = self->fanout;

  for (;;)
    {
      guint index = (guint) g_atomic_int_add (&fanout->next, 1);
      ToolOutcome *outcome;
      g_autoptr(GError) error = NULL;
      g_autoptr(MitogenContext) context = NULL;
      gint64 start;

      if (index >= fanout->targets->len)
        break;
      outcome = g_new0 (ToolOutcome, 1);
      outcome->target = g_ptr_array_index (fanout->targets, index);
      start = g_get_monotonic_time ();
      outcome->cancellable = g_cancellable_new ();
      g_mutex_lock (&fanout->lock);
      self->slot->cancellable = g_object_ref (outcome->cancellable);
      self->slot->deadline = fanout->timeout > 0 ? start + (gint64) (fanout->timeout * G_USEC_PER_SEC) : 0;
      g_cond_signal (&fanout->cond);
      g_mutex_unlock (&fanout->lock);

      if (tool_get_interrupted () == 0)
        context = tool_target_connect (outcome->target, fanout->router, outcome->cancellable, &error);
      if (tool_get_interrupted () != 0)
        {
          /* Not started, or connected only now: left alone. */
          outcome->status = 128 + tool_get_interrupted ();
          outcome->error = g_strdup (tool_signal_text (tool_get_interrupted ()));
        }
      else if (context == NULL)
        {
          outcome->status = TOOL_EXIT_CONNECT;
          outcome->error = tool_one_line (error->message);
        }
      else
        fanout->job (outcome->target, context, outcome, fanout->user_data);

      g_mutex_lock (&fanout->lock);
      self->slot->deadline = 0;
      g_clear_object (&self->slot->cancellable);
      g_mutex_unlock (&fanout->lock);
      if (g_cancellable_is_cancelled (outcome->cancellable) && outcome->status != TOOL_EXIT_OK &&
          tool_get_interrupted () == 0)
        {
          /* What the job saw was the cancellation: say why. */
          outcome->status = TOOL_EXIT_TIMEOUT;
          g_free (outcome->error);
          outcome->error = g_strdup_printf ("timed out after %g s (--timeout)", fanout->timeout);
        }
      g_clear_object (&outcome->cancellable);
      outcome->seconds = (g_get_monotonic_time () - start) / 1e6;
      g_async_queue_push (fanout->done, outcome);
    }
  return NULL;
}

int
tool_fanout (GPtrArray       *targets,
             int              parallel,
             double           timeout,
             ToolJobFunc      job,
             ToolOutcomeFunc  report,
             gpointer         user_data)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(GPtrArray) threads = g_ptr_array_new ();
  Fanout fanout = { targets, job, user_data, router, g_async_queue_new (), 0, timeout };
  guint n_threads = (guint) CLAMP (parallel, 1, (int) targets->len);
  g_autofree Worker *workers = g_new0 (Worker, n_threads);
  GThread *watchdog_thread = NULL;
  guint succeeded = 0, n_connect = 0, n_lost = 0, n_timeout = 0;
  int status = TOOL_EXIT_OK;

  g_mutex_init (&fanout.lock);
  g_cond_init (&fanout.cond);
  fanout.slots = g_new0 (Slot, MAX (targets->len, 1));
  if (timeout > 0)
    watchdog_thread = g_thread_new ("mitogen-timeout", watchdog, &fanout);
  for (guint i = 0; i < n_threads; i++)
    {
      workers[i].fanout = &fanout;
      workers[i].slot = &fanout.slots[i];
      g_ptr_array_add (threads, g_thread_new ("mitogen-target", worker, &workers[i]));
    }

  for (guint i = 0; i < targets->len; i++)
    {
      ToolOutcome *outcome = g_async_queue_pop (fanout.done);

      report (outcome, user_data);
      if (outcome->status == TOOL_EXIT_OK)
        succeeded++;
      else if (outcome->status == TOOL_EXIT_CONNECT)
        n_connect++;
      else if (outcome->status == TOOL_EXIT_CHANNEL)
        n_lost++;
      else if (outcome->status == TOOL_EXIT_TIMEOUT)
        n_timeout++;
      status = MAX (status, outcome->status);
      outcome_free (outcome);
    }
  for (guint i = 0; i < threads->len; i++)
    g_thread_join (g_ptr_array_index (threads, i));
  g_async_queue_unref (fanout.done);
  if (watchdog_thread != NULL)
    {
      g_mutex_lock (&fanout.lock);
      fanout.stop = TRUE;
      g_cond_signal (&fanout.cond);
      g_mutex_unlock (&fanout.lock);
      g_thread_join (watchdog_thread);
    }
  g_free (fanout.slots);
  g_mutex_clear (&fanout.lock);
  g_cond_clear (&fanout.cond);

  if (targets->len > 1)
    {
      g_autoptr(GString) kinds = g_string_new (NULL);

      /* Of the failures, the kinds a fleet's operator acts on differently. */
      if (n_connect > 0)
        g_string_append_printf (kinds, "%s%u could not connect", kinds->len > 0 ? ", " : "", n_connect);
      if (n_lost > 0)
        g_string_append_printf (kinds, "%s%u lost", kinds->len > 0 ? ", " : "", n_lost);
      if (n_timeout > 0)
        g_string_append_printf (kinds, "%s%u timed out", kinds->len > 0 ? ", " : "", n_timeout);
      tool_fail (status, "%u targets: %u succeeded, %u failed%s%s%s", targets->len, succeeded,
                 targets->len - succeeded, kinds->len > 0 ? " (" : "", kinds->str, kinds->len > 0 ? ")" : "");
    }

  /* Every context is told to exit and reaped, and the broker joined, here
   * and now: a reference some message still holds could otherwise drop
   * the router on the broker thread later, and leave the broker running
   * into exit () (where libssh's crypto is already torn down). */
  mitogen_router_shutdown (router);
  g_clear_object (&router);
  return status;
}

void
tool_report_outcome (ToolOutcome *outcome,
                     gboolean     json,
                     gboolean     many)
{
  if (json)
    {
      g_autoptr(JsonBuilder) builder = json_builder_new ();
      g_autoptr(JsonNode) root = NULL;
      g_autofree char *line = NULL;

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "target");
      json_builder_add_string_value (builder, outcome->target->name);
      json_builder_set_member_name (builder, "ok");
      json_builder_add_boolean_value (builder, outcome->status == TOOL_EXIT_OK);
      json_builder_set_member_name (builder, "status");
      json_builder_add_int_value (builder, outcome->status);
      if (outcome->result != NULL)
        {
          json_builder_set_member_name (builder, "result");
          json_builder_add_value (builder, json_node_copy (outcome->result));
        }
      if (outcome->json != NULL && JSON_NODE_HOLDS_OBJECT (outcome->json))
        {
          JsonObject *extra = json_node_get_object (outcome->json);
          g_autoptr(GList) members = json_object_get_members (extra);

          for (GList *l = members; l != NULL; l = l->next)
            {
              json_builder_set_member_name (builder, l->data);
              json_builder_add_value (builder, json_node_copy (json_object_get_member (extra, l->data)));
            }
        }
      if (outcome->error != NULL)
        {
          json_builder_set_member_name (builder, "error");
          json_builder_add_string_value (builder, outcome->error);
        }
      json_builder_set_member_name (builder, "seconds");
      json_builder_add_double_value (builder, round (outcome->seconds * 1000) / 1000);
      json_builder_end_object (builder);
      root = json_builder_get_root (builder);
      line = tool_json_line (root);

      tool_output_lock ();
      printf ("%s\n", line);
      fflush (stdout);
      tool_output_unlock ();
      return;
    }

  if (outcome->status != TOOL_EXIT_OK)
    {
      if (outcome->error == NULL)
        return;
      if (many)
        tool_fail (outcome->status, "%s: %s", outcome->target->name, outcome->error);
      else
        tool_fail (outcome->status, "%s", outcome->error);
      return;
    }

  if (outcome->result != NULL)
    {
      tool_output_lock ();
      if (many)
        {
          g_autofree char *line = tool_json_line (outcome->result);
          printf ("%s: %s\n", outcome->target->name, line);
        }
      else
        tool_print_json (outcome->result);
      fflush (stdout);
      tool_output_unlock ();
    }
}
