/* select-nested.c — selects inside selects (the seed's third Select
 * example):
 *
 *     subselects = [
 *         mitogen.master.Select(get_some_work()),
 *         mitogen.master.Select(get_some_work()),
 *         mitogen.master.Select([
 *             mitogen.master.Select(get_some_work()),
 *             mitogen.master.Select(get_some_work())
 *         ])
 *     ]
 *     for msg in mitogen.master.Select(selects):
 *         print msg.unpickle()
 *
 * In a oneshot select an inner select is dropped once it is exhausted, so
 * the outer loop sees every result and then ends.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <stdio.h>

#include <mitogen/mitogen.h>

#define WORK_PER_SELECT 3

typedef struct
{
  GPtrArray *contexts;  /* (owned) MitogenContext */
  guint      issued;
} Work;

/* get_some_work (): a oneshot select over a few calls. */
static MitogenSelect *
get_some_work (Work     *work,
               GError  **error)
{
  g_autoptr(MitogenSelect) select = mitogen_select_new (TRUE);

  for (guint i = 0; i < WORK_PER_SELECT; i++)
    {
      MitogenContext *context = work->contexts->pdata[work->issued % work->contexts->len];
      g_autofree char *label = g_strdup_printf ("result %u", work->issued++);
      g_autoptr(MitogenReceiver) receiver =
        mitogen_context_begin_call (context, "mitogen.echo", g_variant_new ("(s)", label));

      if (!mitogen_select_add (select, G_OBJECT (receiver), error))
        return NULL;
    }
  return g_steal_pointer (&select);
}

static gboolean
nested (MitogenRouter  *router,
        gpointer        user_data,
        GError        **error)
{
  Work work = { g_ptr_array_new_with_free_func (g_object_unref), 0 };
  g_autoptr(MitogenSelect) outer = mitogen_select_new (TRUE);
  g_autoptr(MitogenSelect) inner = mitogen_select_new (TRUE);
  gboolean ok = FALSE;
  guint seen = 0;

  for (guint i = 0; i < 3; i++)
    {
      MitogenContext *context = mitogen_router_local (router, NULL, NULL, error);

      if (context == NULL)
        goto out;
      g_ptr_array_add (work.contexts, context);
    }

  for (guint i = 0; i < 4; i++)
    {
      g_autoptr(MitogenSelect) sub = get_some_work (&work, error);

      /* The first two go straight in; the other two inside `inner`. */
      if (sub == NULL || !mitogen_select_add (i < 2 ? outer : inner, G_OBJECT (sub), error))
        goto out;
    }
  if (!mitogen_select_add (outer, G_OBJECT (inner), error))
    goto out;

  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      g_autoptr(MitogenMessage) message = mitogen_select_get (outer, 30, &local_error);
      g_autoptr(GVariant) value = NULL;

      if (message == NULL)
        {
          if (g_error_matches (local_error, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED))
            break;  /* every select below is exhausted */
          g_propagate_error (error, g_steal_pointer (&local_error));
          goto out;
        }
      value = mitogen_message_get_value (message, error);
      if (value == NULL)
        goto out;
      printf ("%s\n", g_variant_get_string (value, NULL));
      seen++;
    }

  printf ("%u results from %u nested selects\n", seen, 5u);
  ok = seen == work.issued;
  if (!ok)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "saw %u of %u results", seen, work.issued);

out:
  g_ptr_array_unref (work.contexts);
  return ok;
}

int
main (int   argc,
      char *argv[])
{
  g_set_prgname ("select-nested");
  return mitogen_main (nested, NULL);
}
