/* mitogen-sender.c — MitogenSender: values to a handle in another context
 *
 * The seed's Sender: the sending half of a channel. put () routes a value
 * to (context, dst_handle); close () sends the dead marker, which fails the
 * receiving end's waiters with MITOGEN_ERROR_CHANNEL. A sender keeps its
 * context alive; the context holds its router only weakly, so a sender
 * outliving its router fails with MITOGEN_ERROR_CHANNEL.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-sender"

#include "config.h"

#include "mitogen-context-private.h"
#include "mitogen-message-private.h"

struct _MitogenSender
{
  GObject         parent_instance;

  MitogenContext *context;     /* (owned) read-only after construction */
  guint32         dst_handle;  /* read-only after construction */
};

G_DEFINE_FINAL_TYPE (MitogenSender, mitogen_sender, G_TYPE_OBJECT)

static void
mitogen_sender_finalize (GObject *object)
{
  MitogenSender *self = MITOGEN_SENDER (object);

  g_clear_object (&self->context);

  G_OBJECT_CLASS (mitogen_sender_parent_class)->finalize (object);
}

static void
mitogen_sender_class_init (MitogenSenderClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mitogen_sender_finalize;
}

static void
mitogen_sender_init (MitogenSender *self)
{
}

/**
 * MitogenSender:
 *
 * Sends values to one handle of one context: the seed's `Sender`. The
 * other end is usually a [class@Mitogen.Receiver] (or a
 * [class@Mitogen.Channel]) on that handle. All methods may be called from
 * any thread.
 */

/**
 * mitogen_sender_new:
 * @context: the context to send to
 * @dst_handle: the handle in @context to send to
 *
 * The seed's `Sender(context, dst_handle)`. Any thread.
 *
 * Returns: (transfer full): a new sender
 */
MitogenSender *
mitogen_sender_new (MitogenContext *context,
                    guint32         dst_handle)
{
  MitogenSender *self;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (context), NULL);

  self = g_object_new (MITOGEN_TYPE_SENDER, NULL);
  self->context = g_object_ref (context);
  self->dst_handle = dst_handle;
  return self;
}

/**
 * mitogen_sender_get_context:
 * @self: a sender
 *
 * The context the sender's values go to. Any thread.
 *
 * Returns: (transfer none): the context values are sent to
 */
MitogenContext *
mitogen_sender_get_context (MitogenSender *self)
{
  g_return_val_if_fail (MITOGEN_IS_SENDER (self), NULL);
  return self->context;
}

/**
 * mitogen_sender_get_dst_handle:
 * @self: a sender
 *
 * The handle, in the sender's context, the values go to. Any thread.
 *
 * Returns: the handle values are sent to
 */
guint32
mitogen_sender_get_dst_handle (MitogenSender *self)
{
  g_return_val_if_fail (MITOGEN_IS_SENDER (self), 0);
  return self->dst_handle;
}

/**
 * mitogen_sender_put:
 * @self: a sender
 * @value: (nullable): the value; a floating reference is sunk; %NULL
 *   sends the unit value `()`
 * @error: return location for a #GError
 *
 * The seed's `Sender.put()`: sends @value, asking for no reply. Any
 * thread; from a thread other than the broker's it may block while the
 * stream is over its high-water mark.
 *
 * Returns: %TRUE if queued; %FALSE with %MITOGEN_ERROR_CHANNEL if the
 *   context is unreachable
 */
gboolean
mitogen_sender_put (MitogenSender  *self,
                    GVariant       *value,
                    GError        **error)
{
  g_return_val_if_fail (MITOGEN_IS_SENDER (self), FALSE);

  return mitogen_context_send (self->context, self->dst_handle, value, error);
}

/**
 * mitogen_sender_close:
 * @self: a sender
 * @error: return location for a #GError
 *
 * The seed's `Sender.close()`: sends the dead marker, so the receiving end
 * fails its waiters (and ends its iteration) with
 * %MITOGEN_ERROR_CHANNEL. The sender itself stays usable. Any thread.
 *
 * Returns: %TRUE if the marker was queued; %FALSE with
 *   %MITOGEN_ERROR_CHANNEL if the context is unreachable
 */
gboolean
mitogen_sender_close (MitogenSender  *self,
                      GError        **error)
{
  g_autoptr(MitogenMessage) dead = NULL;

  g_return_val_if_fail (MITOGEN_IS_SENDER (self), FALSE);

  dead = mitogen_message_new_dead (mitogen_context_get_id (self->context), self->dst_handle);
  return mitogen_context_route_message (self->context, dead, error);
}
