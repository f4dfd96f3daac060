/* select-gather.c — scatter/gather with a select (the seed's first Select
 * example):
 *
 *     total = 0
 *     recvs = [c.call_async(long_running_operation) for c in contexts]
 *     for msg in mitogen.master.Select(recvs):
 *         print 'Got %s from %s' % (msg, msg.receiver)
 *         total += msg.unpickle()
 *
 * Starts N local contexts (argv[1], default 4), asks each for its pid,
 * and adds up the replies in the order they arrive.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <stdio.h>
#include <stdlib.h>

#include <mitogen/mitogen.h>

static gboolean
gather (MitogenRouter  *router,
        gpointer        user_data,
        GError        **error)
{
  guint n = GPOINTER_TO_UINT (user_data);
  g_autoptr(GPtrArray) contexts = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(MitogenSelect) select = mitogen_select_new (TRUE);
  gint64 total = 0, expected = 0;
  guint received = 0;

  for (guint i = 0; i < n; i++)
    {
      MitogenContext *context = mitogen_router_local (router, NULL, NULL, error);

      if (context == NULL)
        return FALSE;
      g_ptr_array_add (contexts, context);
      expected += mitogen_context_get_pid (context);
    }

  /* Scatter: every call starts at once; each reply comes to its receiver. */
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MitogenReceiver) receiver = mitogen_context_begin_call (contexts->pdata[i], "os.getpid", NULL);

      if (!mitogen_select_add (select, G_OBJECT (receiver), error))
        return FALSE;
    }

  /* Gather: a oneshot select drops each receiver once it has yielded, and
   * says "no receivers left" (MITOGEN_ERROR_CLOSED) when all have. */
  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      g_autoptr(MitogenMessage) message = mitogen_select_get (select, 30, &local_error);
      g_autoptr(GVariant) value = NULL;
      MitogenContext *from;

      if (message == NULL)
        {
          if (g_error_matches (local_error, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED))
            break;
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      value = mitogen_message_get_value (message, error);
      if (value == NULL)
        return FALSE;
      from = mitogen_receiver_get_respondent (mitogen_message_get_receiver (message));
      printf ("Got %" G_GINT64_FORMAT " from %s\n", g_variant_get_int64 (value),
              mitogen_context_get_name (from));
      total += g_variant_get_int64 (value);
      received++;
    }

  printf ("Received total %" G_GINT64_FORMAT " from %u receivers\n", total, received);
  if (total != expected || received != n)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "expected %" G_GINT64_FORMAT " from %u receivers", expected, n);
      return FALSE;
    }
  return TRUE;
}

int
main (int   argc,
      char *argv[])
{
  guint n = argc > 1 ? (guint) atoi (argv[1]) : 4;

  g_set_prgname ("select-gather");
  return mitogen_main (gather, GUINT_TO_POINTER (n));
}
