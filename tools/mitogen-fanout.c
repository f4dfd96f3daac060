/* mitogen-fanout.c — one command over many targets in parallel
 *
 * Worker threads (at most --parallel) take targets in order, start each
 * one's context over a single router (so the whole tree shares one broker
 * and one set of connections), and run the command's job there. Outcomes
 * come back to the main thread through a queue and are printed as they
 * complete; then a summary line. With one target, the output is what the
 * command prints on its own (no prefix, no summary).
 *
 * Output, one target:  the result (call: pretty JSON), or `mitogen: ERROR`
 * on stderr. Several: `TARGET: RESULT` lines on stdout, `mitogen: TARGET:
 * ERROR` on stderr, then `mitogen: N targets: X succeeded, Y failed`.
 * --json: one object per target per line on stdout:
 *   {"target": T, "ok": B, "status": N, "result": ..., "error": "...", ...}
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-tool"

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mitogen-tool.h"

typedef struct
{
  GPtrArray     *targets;    /* (unowned) ToolTarget */
  ToolJobFunc    job;
  gpointer       user_data;
  MitogenRouter *router;     /* (unowned) */
  GAsyncQueue   *done;       /* (owned) ToolOutcome */
  gint           next;       /* (atomic) the next target to start */
} Fanout;

static void
outcome_free (ToolOutcome *outcome)
{
  g_free (outcome->error);
  g_clear_pointer (&outcome->json, json_node_unref);
  g_clear_pointer (&outcome->result, json_node_unref);
  g_free (outcome);
}

/* A worker thread. */
static gpointer
worker (gpointer data)
{
  Fanout *fanout = data;

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

      context = tool_target_connect (outcome->target, fanout->router, &error);
      if (context == NULL)
        {
          outcome->status = TOOL_EXIT_CONNECT;
          outcome->error = tool_one_line (error->message);
        }
      else
        fanout->job (outcome->target, context, outcome, fanout->user_data);
      outcome->seconds = (g_get_monotonic_time () - start) / 1e6;
      g_async_queue_push (fanout->done, outcome);
    }
  return NULL;
}

int
tool_fanout (GPtrArray       *targets,
             int              parallel,
             ToolJobFunc      job,
             ToolOutcomeFunc  report,
             gpointer         user_data)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(GPtrArray) threads = g_ptr_array_new ();
  Fanout fanout = { targets, job, user_data, router, g_async_queue_new (), 0 };
  guint n_threads = (guint) CLAMP (parallel, 1, (int) targets->len);
  guint succeeded = 0;
  int status = TOOL_EXIT_OK;

  for (guint i = 0; i < n_threads; i++)
    g_ptr_array_add (threads, g_thread_new ("mitogen-target", worker, &fanout));

  for (guint i = 0; i < targets->len; i++)
    {
      ToolOutcome *outcome = g_async_queue_pop (fanout.done);

      report (outcome, user_data);
      if (outcome->status == TOOL_EXIT_OK)
        succeeded++;
      status = MAX (status, outcome->status);
      outcome_free (outcome);
    }
  for (guint i = 0; i < threads->len; i++)
    g_thread_join (g_ptr_array_index (threads, i));
  g_async_queue_unref (fanout.done);

  if (targets->len > 1)
    tool_fail (status, "%u targets: %u succeeded, %u failed", targets->len, succeeded,
               targets->len - succeeded);

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
