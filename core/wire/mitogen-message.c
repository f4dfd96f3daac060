/* mitogen-message.c — MitogenMessage, an immutable refcounted frame
 *
 * A message is built by a sender (header + value) or cut from a stream
 * (header + payload bytes). Once routed it is not changed, so it may be
 * shared between threads freely. Built messages keep the value's own
 * serialization and a short trailer apart, so a large `ay` goes to the
 * socket without being copied.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-message"

#include "config.h"

#include "mitogen-message-private.h"
#include "mitogen-error-private.h"
#include "mitogen-protocol-private.h"

/**
 * MitogenMessage:
 *
 * One frame: a header (destination and source context ids, authority,
 * handle, reply handle) and a [struct@GLib.Variant] payload. The seed's
 * `Message`.
 *
 * A refcounted boxed type. A message does not change once routed, so it may
 * be shared between threads freely.
 */
G_DEFINE_BOXED_TYPE (MitogenMessage, mitogen_message, mitogen_message_ref, mitogen_message_unref)

G_DEFINE_ENUM_TYPE (MitogenHandle, mitogen_handle,
  G_DEFINE_ENUM_VALUE (MITOGEN_HANDLE_NONE, "none"),
  G_DEFINE_ENUM_VALUE (MITOGEN_HANDLE_CALL_FUNCTION, "call-function"),
  G_DEFINE_ENUM_VALUE (MITOGEN_HANDLE_FORWARD_LOG, "forward-log"),
  G_DEFINE_ENUM_VALUE (MITOGEN_HANDLE_ADD_ROUTE, "add-route"),
  G_DEFINE_ENUM_VALUE (MITOGEN_HANDLE_DEL_ROUTE, "del-route"),
  G_DEFINE_ENUM_VALUE (MITOGEN_HANDLE_ALLOCATE_ID, "allocate-id"),
  G_DEFINE_ENUM_VALUE (MITOGEN_HANDLE_SHUTDOWN, "shutdown"),
  G_DEFINE_ENUM_VALUE (MITOGEN_HANDLE_LOAD_MODULE, "load-module"),
  G_DEFINE_ENUM_VALUE (MITOGEN_HANDLE_FORWARD_MODULE, "forward-module"),
  G_DEFINE_ENUM_VALUE (MITOGEN_HANDLE_DETACHING, "detaching"),
  G_DEFINE_ENUM_VALUE (MITOGEN_HANDLE_GREETING, "greeting"),
  G_DEFINE_ENUM_VALUE (MITOGEN_HANDLE_CONFIG, "config"),
  G_DEFINE_ENUM_VALUE (MITOGEN_HANDLE_KEEPALIVE, "keepalive"),
  G_DEFINE_ENUM_VALUE (MITOGEN_HANDLE_FIRST_USER, "first-user"))

static MitogenMessage *
message_alloc (guint32 dst_id,
               guint32 handle)
{
  MitogenMessage *self = g_new0 (MitogenMessage, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->header.dst_id = dst_id;
  self->header.handle = handle;
  return self;
}

/**
 * mitogen_message_new:
 * @dst_id: the destination context id
 * @handle: the destination handle
 * @value: (nullable): the value to carry; a floating reference is sunk.
 *   %NULL carries the unit value `()`.
 *
 * Builds a message (the seed's `Message.pickled()`). Any thread.
 *
 * Returns: (transfer full): a new message
 */
MitogenMessage *
mitogen_message_new (guint32   dst_id,
                     guint32   handle,
                     GVariant *value)
{
  MitogenMessage *self = message_alloc (dst_id, handle);

  self->value = value != NULL ? g_variant_ref_sink (value) : mitogen_protocol_unit ();
  self->payload = mitogen_frame_encode_payload (self->value);
  self->trailer = mitogen_frame_variant_trailer (self->value);
  self->header.length = (guint32) (g_bytes_get_size (self->payload) + g_bytes_get_size (self->trailer));
  return self;
}

/* Any thread: a CALL_FUNCTION message carrying @payload, the bytes of a
 * "(sva{sv})" in normal form (mitogen_protocol_call_bytes_new ()), without
 * the value itself: it is sent as it is, and decoded only where it is
 * delivered in this process (mitogen_message_decode (), as a received one
 * is), which saves a sender the value's construction. */
MitogenMessage *
mitogen_message_new_call (guint32  dst_id,
                          guint32  handle,
                          GBytes  *payload)
{
  MitogenMessage *self = message_alloc (dst_id, handle);

  self->payload = payload;
  self->trailer = mitogen_frame_call_trailer ();
  self->header.length = (guint32) (g_bytes_get_size (self->payload) + g_bytes_get_size (self->trailer));
  return self;
}

/**
 * mitogen_message_new_dead:
 * @dst_id: the destination context id
 * @handle: the destination handle
 *
 * Builds the dead marker: a message with no payload, telling the receiver
 * that the channel is closed (the seed's `Message.dead()`).
 *
 * Returns: (transfer full): a new message
 */
MitogenMessage *
mitogen_message_new_dead (guint32 dst_id,
                          guint32 handle)
{
  return message_alloc (dst_id, handle);
}

MitogenMessage *
mitogen_message_new_error (guint32       dst_id,
                           guint32       handle,
                           const GError *error,
                           const char   *context_name)
{
  MitogenMessage *self = mitogen_message_new (dst_id, handle,
                                              mitogen_error_to_variant (error, context_name));

  self->header.flags |= MITOGEN_FRAME_FLAG_ERROR;
  return self;
}

/* Broker thread: wraps a frame read from a stream; @payload is NULL or empty
 * for the dead marker. The value is decoded by mitogen_message_decode (). */
MitogenMessage *
mitogen_message_new_received (const MitogenFrameHeader *header,
                              GBytes                   *payload)
{
  MitogenMessage *self = g_new0 (MitogenMessage, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->header = *header;
  if (payload != NULL && g_bytes_get_size (payload) > 0)
    self->payload = g_bytes_ref (payload);
  return self;
}

/* Broker thread, before the message is shared: checks a received payload.
 * An error flag demands the (sisss) error shape. */
gboolean
mitogen_message_decode (MitogenMessage  *self,
                        GError         **error)
{
  if (self->value != NULL || self->payload == NULL)
    return TRUE;

  /* Built here as a call's bytes (mitogen_message_new_call ()): the only
   * built message without its value; its payload is the value's own bytes
   * (the trailer apart), in normal form. */
  if (self->trailer != NULL)
    {
      self->value = g_variant_ref_sink (g_variant_new_from_bytes (MITOGEN_PROTOCOL_CALL_TYPE,
                                                                  self->payload, TRUE));
      return TRUE;
    }

  self->value = mitogen_frame_decode_payload (self->payload, error);
  if (self->value == NULL)
    return FALSE;

  if ((self->header.flags & MITOGEN_FRAME_FLAG_ERROR) != 0 &&
      !g_variant_is_of_type (self->value, G_VARIANT_TYPE ("(sisss)")))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "Error reply has type %s, expected (sisss)",
                   g_variant_get_type_string (self->value));
      g_clear_pointer (&self->value, g_variant_unref);
      return FALSE;
    }
  return TRUE;
}

/**
 * mitogen_message_ref:
 * @self: a message
 *
 * Takes a reference. Any thread.
 *
 * Returns: (transfer full): @self
 */
MitogenMessage *
mitogen_message_ref (MitogenMessage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

/**
 * mitogen_message_unref:
 * @self: (transfer full): a message
 *
 * Drops a reference; the last one frees the message. Any thread.
 */
void
mitogen_message_unref (MitogenMessage *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  g_clear_pointer (&self->payload, g_bytes_unref);
  g_clear_pointer (&self->trailer, g_bytes_unref);
  g_clear_pointer (&self->value, g_variant_unref);
  g_clear_object (&self->router);
  g_clear_object (&self->receiver);
  g_free (self->dead_reason);
  g_free (self);
}

/**
 * mitogen_message_get_dst_id:
 * @self: a message
 *
 * The header's `dst_id`: the context the message is addressed to. Any
 * thread.
 *
 * Returns: the destination context id
 */
guint32
mitogen_message_get_dst_id (MitogenMessage *self)
{
  return self->header.dst_id;
}

/**
 * mitogen_message_get_src_id:
 * @self: a message
 *
 * The header's `src_id`, set by the router that first routed the message and
 * checked by every router on the way. Any thread.
 *
 * Returns: the id of the context that sent it
 */
guint32
mitogen_message_get_src_id (MitogenMessage *self)
{
  return self->header.src_id;
}

/**
 * mitogen_message_get_auth_id:
 * @self: a message
 *
 * The header's `auth_id`: the context whose authority the message carries.
 * Only a parent's authority makes a context run a function. Any thread.
 *
 * Returns: the id of the context whose authority the message carries
 */
guint32
mitogen_message_get_auth_id (MitogenMessage *self)
{
  return self->header.auth_id;
}

/**
 * mitogen_message_get_handle:
 * @self: a message
 *
 * The header's `handle`: the receiver the message is for, in the destination
 * context. Any thread.
 *
 * Returns: the destination handle
 */
guint32
mitogen_message_get_handle (MitogenMessage *self)
{
  return self->header.handle;
}

/**
 * mitogen_message_get_reply_to:
 * @self: a message
 *
 * The header's `reply_to`: the handle, in the sending context, that replies
 * go to. Any thread.
 *
 * Returns: the handle replies go to, or 0
 */
guint32
mitogen_message_get_reply_to (MitogenMessage *self)
{
  return self->header.reply_to;
}

/**
 * mitogen_message_set_reply_to:
 * @self: a message not yet routed
 * @reply_to: the handle (of this context) replies should go to
 *
 * Messages are immutable once routed; set this before
 * [method@Mitogen.Router.route].
 */
void
mitogen_message_set_reply_to (MitogenMessage *self,
                              guint32         reply_to)
{
  self->header.reply_to = reply_to;
}

/**
 * mitogen_message_is_dead:
 * @self: a message
 *
 * Tells whether the message is the dead marker, a message without a payload:
 * the channel closed or the context went away. Any thread.
 *
 * Returns: whether this is the dead marker (channel closed, context gone)
 */
gboolean
mitogen_message_is_dead (MitogenMessage *self)
{
  return self->header.length == 0;
}

/**
 * mitogen_message_is_error:
 * @self: a message
 *
 * Tells whether the message carries a remote error rather than a value;
 * [method@Mitogen.Message.get_value] then fails with %MITOGEN_ERROR_CALL.
 * Any thread.
 *
 * Returns: whether the message carries a remote error
 */
gboolean
mitogen_message_is_error (MitogenMessage *self)
{
  return (self->header.flags & MITOGEN_FRAME_FLAG_ERROR) != 0;
}

/**
 * mitogen_message_get_size:
 * @self: a message
 *
 * The size of the payload in bytes, as it travels on the wire. Any thread.
 *
 * Returns: the payload size in bytes, as on the wire
 */
gsize
mitogen_message_get_size (MitogenMessage *self)
{
  return self->header.length;
}

GError *
mitogen_message_dead_error (MitogenMessage *self)
{
  if (self->dead_reason != NULL)
    return g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                        "Channel closed: context %u is gone: %s",
                        self->header.src_id, self->dead_reason);
  return g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                      "Channel closed by peer: context %u is gone or refused the message",
                      self->header.src_id);
}

/**
 * mitogen_message_get_value:
 * @self: a message
 * @error: return location for a #GError
 *
 * The seed's `unpickle()`: the carried value. A dead message gives
 * %MITOGEN_ERROR_CHANNEL; a remote error gives %MITOGEN_ERROR_CALL with
 * the remote domain, code, message and context name.
 *
 * Returns: (transfer full): the value, or %NULL with @error set
 */
GVariant *
mitogen_message_get_value (MitogenMessage  *self,
                           GError         **error)
{
  g_return_val_if_fail (self != NULL, NULL);

  if (self->value == NULL)
    {
      if (self->payload == NULL)
        g_propagate_error (error, mitogen_message_dead_error (self));
      else
        g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                             "Message was not decoded");
      return NULL;
    }

  if (mitogen_message_is_error (self))
    {
      const char *domain, *message, *context, *backtrace;
      gint32 code;

      g_variant_get (self->value, "(&si&s&s&s)", &domain, &code, &message, &context, &backtrace);
      g_propagate_error (error, mitogen_error_new_remote (NULL, domain, code, message, context, backtrace));
      return NULL;
    }

  return g_variant_ref (self->value);
}

/**
 * mitogen_message_peek_value:
 * @self: a message
 *
 * The value without raising (the seed's `unpickle(throw=False)`): for a
 * remote error, the `(sisss)` error tuple.
 *
 * Returns: (transfer none) (nullable): the value, %NULL when dead
 */
GVariant *
mitogen_message_peek_value (MitogenMessage *self)
{
  return self->value;
}

/**
 * mitogen_message_get_router:
 * @self: a message
 *
 * The seed's `Message.router`: the router the message arrived through. Any
 * thread.
 *
 * Returns: (transfer none) (nullable): the router that received it
 */
MitogenRouter *
mitogen_message_get_router (MitogenMessage *self)
{
  return self->router;
}

/**
 * mitogen_message_get_receiver:
 * @self: a message
 *
 * The seed's `Message.receiver`: the receiver that delivered the message,
 * which tells a caller gathering replies from many receivers which call a
 * reply answers. Any thread.
 *
 * Returns: (transfer none) (nullable): the receiver that delivered it
 */
MitogenReceiver *
mitogen_message_get_receiver (MitogenMessage *self)
{
  return self->receiver;
}

void
mitogen_message_set_router (MitogenMessage *self,
                            MitogenRouter  *router)
{
  g_set_object (&self->router, router);
}

void
mitogen_message_set_receiver (MitogenMessage  *self,
                              MitogenReceiver *receiver)
{
  g_set_object (&self->receiver, receiver);
}

