/* mitogen-ids.c — handing out context ids across the tree
 *
 * Every context has an id unique in its tree. The master counts them out;
 * a child that starts children (via) asks the master for a block of
 * MITOGEN_ID_BLOCK ids with ALLOCATE_ID and uses it up before asking
 * again. The counters live in the router (MitogenIdState); only this file
 * touches them.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-ids"

#include "config.h"

#include "mitogen-ids-private.h"
#include "mitogen-broker-private.h"
#include "mitogen-message-private.h"
#include "mitogen-router-private.h"

/* Broker thread, master: a block of ids for a child that starts children. */
static void
on_allocate_id (MitogenRouter  *router,
                MitogenMessage *message,
                gpointer        user_data)
{
  MitogenIdState *ids = mitogen_router_get_id_state (router);
  guint32 first;

  if (mitogen_message_is_dead (message))
    return;
  mitogen_assert_broker_thread (mitogen_router_get_broker (router));
  g_mutex_lock (&ids->lock);
  first = ids->next;
  if (first > G_MAXUINT32 - MITOGEN_ID_BLOCK)
    first = 0;   /* exhausted: the child is told "no ids" */
  else
    ids->next += MITOGEN_ID_BLOCK;
  g_mutex_unlock (&ids->lock);
  mitogen_message_reply (message, g_variant_new ("(uu)", first, first != 0 ? (guint32) MITOGEN_ID_BLOCK : 0u),
                         NULL);
}

void
mitogen_ids_serve (MitogenRouter *router)
{
  MitogenIdState *ids = mitogen_router_get_id_state (router);
  gboolean first_time;

  if (!mitogen_router_get_is_master (router))
    return;
  g_mutex_lock (&ids->lock);
  first_time = !ids->serving;
  ids->serving = TRUE;
  g_mutex_unlock (&ids->lock);
  if (first_time)
    mitogen_router_add_handler_full (router, MITOGEN_HANDLE_ALLOCATE_ID, TRUE, MITOGEN_NO_RESPONDENT,
                                     on_allocate_id, NULL, NULL);
}

gboolean
mitogen_ids_allocate (MitogenRouter  *router,
                      guint32        *id,
                      GError        **error)
{
  MitogenIdState *ids = mitogen_router_get_id_state (router);
  g_autoptr(MitogenReceiver) receiver = NULL;
  g_autoptr(MitogenMessage) request = NULL;
  g_autoptr(MitogenMessage) reply = NULL;
  g_autoptr(GVariant) value = NULL;
  gboolean master = mitogen_router_get_is_master (router);
  guint32 first, count;

  g_mutex_lock (&ids->lock);
  if (master && ids->next == G_MAXUINT32)
    {
      g_mutex_unlock (&ids->lock);
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                           "No context ids are left in this tree");
      return FALSE;
    }
  if (master || ids->block_next < ids->block_end)
    {
      *id = master ? ids->next++ : ids->block_next++;
      g_mutex_unlock (&ids->lock);
      return TRUE;
    }
  g_mutex_unlock (&ids->lock);

  if (mitogen_broker_is_broker_thread (mitogen_router_get_broker (router)))
    {
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                           "A child cannot wait for context ids on its broker thread");
      return FALSE;
    }
  receiver = mitogen_receiver_new (router, 0, FALSE, NULL);
  request = mitogen_message_new (0, MITOGEN_HANDLE_ALLOCATE_ID, NULL);
  mitogen_message_set_reply_to (request, mitogen_receiver_get_handle (receiver));
  if (!mitogen_router_route (router, request, error))
    return FALSE;
  reply = mitogen_receiver_get (receiver, 30, error);
  if (reply == NULL)
    return FALSE;
  value = mitogen_message_get_value (reply, error);
  if (value == NULL)
    return FALSE;
  if (!g_variant_is_of_type (value, G_VARIANT_TYPE ("(uu)")))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "ALLOCATE_ID reply of type %s",
                   g_variant_get_type_string (value));
      return FALSE;
    }
  g_variant_get (value, "(uu)", &first, &count);
  if (count == 0 || first == 0 || first > G_MAXUINT32 - count)
    {
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                           "The master gave no context ids (ALLOCATE_ID)");
      return FALSE;
    }

  g_mutex_lock (&ids->lock);
  ids->block_next = first + 1;
  ids->block_end = first + count;
  g_mutex_unlock (&ids->lock);
  *id = first;
  return TRUE;
}

/**
 * mitogen_router_allocate_id:
 * @self: a router
 * @error: return location for a #GError
 *
 * The seed's `Router.allocate_id()`: a context id unique in the tree. The
 * master hands them out; a child asks the master for a block of them
 * (`ALLOCATE_ID`) when it has none left, and then blocks, so in a child
 * this must not run on the broker thread.
 *
 * Returns: the new id (never 0, the master's); 0 with @error set if a
 *   child could not get one
 */
guint32
mitogen_router_allocate_id (MitogenRouter  *self,
                            GError        **error)
{
  guint32 id = 0;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), 0);

  if (!mitogen_ids_allocate (self, &id, error))
    return 0;
  return id;
}
