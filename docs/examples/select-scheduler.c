/* select-scheduler.c — a long-running scheduler on a persistent select
 * (the seed's second Select example):
 *
 *     with mitogen.master.Select(oneshot=False) as select:
 *         while running():
 *             for msg in select:
 *                 process_result(msg.receiver.context, msg.unpickle())
 *             for context, workfunc in get_new_work():
 *                 select.add(context.call_async(workfunc))
 *
 * Keeps one job in flight per worker context and hands a worker its next
 * job as soon as it finishes one, until all jobs are done. The select is
 * not oneshot: receivers stay until removed, so the scheduler removes each
 * finished one itself.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <stdio.h>

#include <mitogen/mitogen.h>

#define N_WORKERS 3
#define N_JOBS    12

typedef struct
{
  guint next_job;   /* the next job to hand out */
  guint done;
  guint per_worker[N_WORKERS];
} Scheduler;

/* get_new_work (): job i echoes its number. */
static gboolean
submit (Scheduler       *scheduler,
        MitogenSelect   *select,
        MitogenContext  *context,
        GError         **error)
{
  g_autoptr(MitogenReceiver) receiver = NULL;
  guint job = scheduler->next_job++;

  receiver = mitogen_context_begin_call (context, "mitogen.echo",
                                         g_variant_new ("(u)", job));
  return mitogen_select_add (select, G_OBJECT (receiver), error);
}

static gboolean
schedule (MitogenRouter  *router,
          gpointer        user_data,
          GError        **error)
{
  Scheduler scheduler = { 0 };
  MitogenContext *workers[N_WORKERS] = { NULL };
  g_autoptr(MitogenSelect) select = mitogen_select_new (FALSE);
  gboolean ok = FALSE;

  for (guint i = 0; i < N_WORKERS; i++)
    {
      workers[i] = mitogen_router_local (router, NULL, NULL, error);
      if (workers[i] == NULL)
        goto out;
      if (!submit (&scheduler, select, workers[i], error))
        goto out;
    }

  /* while running (): */
  while (scheduler.done < N_JOBS)
    {
      g_autoptr(MitogenMessage) message = mitogen_select_get (select, 30, error);
      g_autoptr(GVariant) value = NULL;
      MitogenReceiver *receiver;
      MitogenContext *context;
      guint worker = 0;

      if (message == NULL)
        goto out;
      receiver = mitogen_message_get_receiver (message);
      context = mitogen_receiver_get_respondent (receiver);
      value = mitogen_message_get_value (message, error);
      if (value == NULL)
        goto out;

      /* process_result (msg.receiver.context, msg.unpickle ()) */
      for (guint i = 0; i < N_WORKERS; i++)
        if (workers[i] == context)
          worker = i;
      scheduler.per_worker[worker]++;
      scheduler.done++;
      printf ("job %u done by %s\n", g_variant_get_uint32 (value), mitogen_context_get_name (context));

      /* A persistent select keeps a receiver until it is removed. */
      if (!mitogen_select_remove (select, G_OBJECT (receiver), error))
        goto out;

      /* get_new_work (): the worker that is free takes the next job. */
      if (scheduler.next_job < N_JOBS && !submit (&scheduler, select, context, error))
        goto out;
    }

  printf ("Processed %u jobs on %u contexts (", scheduler.done, N_WORKERS);
  for (guint i = 0; i < N_WORKERS; i++)
    printf ("%s%u", i > 0 ? ", " : "", scheduler.per_worker[i]);
  printf (" each); %u receivers left in the select\n", mitogen_select_get_size (select));
  ok = mitogen_select_is_empty (select);
  if (!ok)
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "receivers left behind");

out:
  mitogen_select_close (select);
  for (guint i = 0; i < N_WORKERS; i++)
    g_clear_object (&workers[i]);
  return ok;
}

int
main (int   argc,
      char *argv[])
{
  g_set_prgname ("select-scheduler");
  return mitogen_main (schedule, NULL);
}
