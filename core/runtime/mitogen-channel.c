/* mitogen-channel.c — MitogenChannel: a receiver and a sender as a pair
 *
 * The seed's Channel inherits from both Sender and Receiver. C has no
 * multiple inheritance, and both halves are final types, so a channel is
 * a final type holding one of each: a receiver on its own handle (whose
 * respondent is the peer context, so the peer going away ends it) and a
 * sender to the peer's handle. get_receiver () and get_sender () expose
 * them for anything that wants the halves (a select takes a channel and
 * waits on its receiver).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-channel"

#include "config.h"

#include "mitogen-private.h"

struct _MitogenChannel
{
  GObject          parent_instance;

  MitogenReceiver *receiver;  /* (owned) read-only after construction */
  MitogenSender   *sender;    /* (owned) read-only after construction */
};

G_DEFINE_FINAL_TYPE (MitogenChannel, mitogen_channel, G_TYPE_OBJECT)

static void
mitogen_channel_dispose (GObject *object)
{
  MitogenChannel *self = MITOGEN_CHANNEL (object);

  g_clear_object (&self->receiver);
  g_clear_object (&self->sender);

  G_OBJECT_CLASS (mitogen_channel_parent_class)->dispose (object);
}

static void
mitogen_channel_class_init (MitogenChannelClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = mitogen_channel_dispose;
}

static void
mitogen_channel_init (MitogenChannel *self)
{
}

/**
 * MitogenChannel:
 *
 * A two-way channel with one peer context: the seed's `Channel`, which
 * inherits from both `Sender` and `Receiver`. Here it is a final type that
 * holds a [class@Mitogen.Receiver] and a [class@Mitogen.Sender] (see
 * [method@Mitogen.Channel.get_receiver], [method@Mitogen.Channel.get_sender]).
 *
 * As in the seed, each end must learn the other's handle: typically one
 * side picks both handles, or one side's first message carries its own
 * handle (see the `mitogen.channel_echo` built-in). A channel can be added
 * to a [class@Mitogen.Select], which then waits on its receiver. All
 * methods may be called from any thread; the blocking ones not from a
 * broker thread.
 */

/**
 * mitogen_channel_new:
 * @router: the router to receive with
 * @context: the peer context
 * @dst_handle: the peer's handle that [method@Mitogen.Channel.put] sends to
 * @handle: the handle to receive on, or 0 to allocate one
 *
 * The seed's `Channel(router, context, dst_handle, handle)`. The receiving
 * half persists (it takes any number of messages) and has @context as
 * respondent: if @context goes away, [method@Mitogen.Channel.get] fails
 * with %MITOGEN_ERROR_CHANNEL. Any thread.
 *
 * Returns: (transfer full): a new channel
 */
MitogenChannel *
mitogen_channel_new (MitogenRouter  *router,
                     MitogenContext *context,
                     guint32         dst_handle,
                     guint32         handle)
{
  MitogenChannel *self;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (router), NULL);
  g_return_val_if_fail (MITOGEN_IS_CONTEXT (context), NULL);

  self = g_object_new (MITOGEN_TYPE_CHANNEL, NULL);
  self->receiver = mitogen_receiver_new (router, handle, TRUE, context);
  self->sender = mitogen_sender_new (context, dst_handle);
  return self;
}

/**
 * mitogen_channel_get_receiver:
 * @self: a channel
 *
 * The channel's receiving half, for [method@Mitogen.Receiver.get_async],
 * [signal@Mitogen.Receiver::received] or a [class@Mitogen.Select]. Any
 * thread.
 *
 * Returns: (transfer none): the receiving half
 */
MitogenReceiver *
mitogen_channel_get_receiver (MitogenChannel *self)
{
  g_return_val_if_fail (MITOGEN_IS_CHANNEL (self), NULL);
  return self->receiver;
}

/**
 * mitogen_channel_get_sender:
 * @self: a channel
 *
 * The channel's sending half. Any thread.
 *
 * Returns: (transfer none): the sending half
 */
MitogenSender *
mitogen_channel_get_sender (MitogenChannel *self)
{
  g_return_val_if_fail (MITOGEN_IS_CHANNEL (self), NULL);
  return self->sender;
}

/**
 * mitogen_channel_get_handle:
 * @self: a channel
 *
 * The handle the channel's receiving half listens on: the peer's channel
 * sends to it. Any thread.
 *
 * Returns: the handle this channel receives on, for the peer to send to
 */
guint32
mitogen_channel_get_handle (MitogenChannel *self)
{
  g_return_val_if_fail (MITOGEN_IS_CHANNEL (self), 0);
  return mitogen_receiver_get_handle (self->receiver);
}

/**
 * mitogen_channel_put:
 * @self: a channel
 * @value: (nullable): the value; a floating reference is sunk
 * @error: return location for a #GError
 *
 * Sends @value to the peer: [method@Mitogen.Sender.put]. Any thread.
 *
 * Returns: %TRUE if queued
 */
gboolean
mitogen_channel_put (MitogenChannel  *self,
                     GVariant        *value,
                     GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_CHANNEL (self), FALSE);
  return mitogen_sender_put (self->sender, value, error);
}

/**
 * mitogen_channel_get:
 * @self: a channel
 * @timeout_seconds: how long to wait; < 0 waits forever
 * @error: return location for a #GError
 *
 * Waits for the peer's next message: [method@Mitogen.Receiver.get]. Any
 * thread but a broker's.
 *
 * Returns: (transfer full): the message; %NULL with
 *   %MITOGEN_ERROR_TIMEOUT, or %MITOGEN_ERROR_CHANNEL once the peer closed
 *   its end or went away
 */
MitogenMessage *
mitogen_channel_get (MitogenChannel  *self,
                     double           timeout_seconds,
                     GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_CHANNEL (self), NULL);
  return mitogen_receiver_get (self->receiver, timeout_seconds, error);
}

/**
 * mitogen_channel_get_data:
 * @self: a channel
 * @timeout_seconds: how long to wait; < 0 waits forever
 * @error: return location for a #GError
 *
 * Waits for the peer's next value: [method@Mitogen.Receiver.get_data].
 * Any thread but a broker's.
 *
 * Returns: (transfer full): the value, or %NULL with @error set
 */
GVariant *
mitogen_channel_get_data (MitogenChannel  *self,
                          double           timeout_seconds,
                          GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_CHANNEL (self), NULL);
  return mitogen_receiver_get_data (self->receiver, timeout_seconds, error);
}

/**
 * mitogen_channel_close:
 * @self: a channel
 * @error: return location for a #GError
 *
 * Closes both halves: sends the dead marker to the peer
 * ([method@Mitogen.Sender.close], the seed's `Channel.close()`) and closes
 * the receiving half ([method@Mitogen.Receiver.close]), so local waiters
 * fail with %MITOGEN_ERROR_CHANNEL too. Any thread.
 *
 * Returns: %TRUE if the dead marker was queued; the receiving half is
 *   closed either way
 */
gboolean
mitogen_channel_close (MitogenChannel  *self,
                       GError         **error)
{
  gboolean sent;

  g_return_val_if_fail (MITOGEN_IS_CHANNEL (self), FALSE);

  sent = mitogen_sender_close (self->sender, error);
  mitogen_receiver_close (self->receiver);
  return sent;
}
