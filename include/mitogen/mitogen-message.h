/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>

G_BEGIN_DECLS

/**
 * MitogenHandle:
 * @MITOGEN_HANDLE_NONE: no handle (a `reply_to` of 0 asks for no reply)
 * @MITOGEN_HANDLE_CALL_FUNCTION: run a function; payload `(sva{sv})`
 * @MITOGEN_HANDLE_FORWARD_LOG: a log record travelling to the master; `(sis)`
 * @MITOGEN_HANDLE_ADD_ROUTE: a context became reachable; `(us)`
 * @MITOGEN_HANDLE_DEL_ROUTE: a context went away; `(u)`
 * @MITOGEN_HANDLE_ALLOCATE_ID: ask the master for a block of context ids
 * @MITOGEN_HANDLE_SHUTDOWN: ask a context to exit
 * @MITOGEN_HANDLE_LOAD_MODULE: ask for a function module
 * @MITOGEN_HANDLE_FORWARD_MODULE: push a function module down the tree
 * @MITOGEN_HANDLE_DETACHING: a child is detaching from its parent
 * @MITOGEN_HANDLE_GREETING: the first frame an agent sends
 * @MITOGEN_HANDLE_CONFIG: the first frame an agent receives; `a{sv}`
 * @MITOGEN_HANDLE_KEEPALIVE: a stream-level keepalive between two neighbours;
 *   `(bx)`, answered by the peer's broker thread
 * @MITOGEN_HANDLE_FIRST_USER: the first handle given to receivers
 *
 * Reserved handles. See `docs/protocol.md`.
 */
typedef enum
{
  MITOGEN_HANDLE_NONE           = 0,
  MITOGEN_HANDLE_CALL_FUNCTION  = 101,
  MITOGEN_HANDLE_FORWARD_LOG    = 102,
  MITOGEN_HANDLE_ADD_ROUTE      = 103,
  MITOGEN_HANDLE_DEL_ROUTE      = 104,
  MITOGEN_HANDLE_ALLOCATE_ID    = 105,
  MITOGEN_HANDLE_SHUTDOWN       = 106,
  MITOGEN_HANDLE_LOAD_MODULE    = 107,
  MITOGEN_HANDLE_FORWARD_MODULE = 108,
  MITOGEN_HANDLE_DETACHING      = 109,
  MITOGEN_HANDLE_GREETING       = 110,
  MITOGEN_HANDLE_CONFIG         = 111,
  MITOGEN_HANDLE_KEEPALIVE      = 112,
  MITOGEN_HANDLE_FIRST_USER     = 1000,
} MitogenHandle;

#define MITOGEN_TYPE_HANDLE (mitogen_handle_get_type ())

MITOGEN_AVAILABLE_IN_ALL
GType            mitogen_handle_get_type        (void) G_GNUC_CONST;

#define MITOGEN_TYPE_MESSAGE (mitogen_message_get_type ())

MITOGEN_AVAILABLE_IN_ALL
GType            mitogen_message_get_type       (void) G_GNUC_CONST;
MITOGEN_AVAILABLE_IN_ALL
MitogenMessage  *mitogen_message_new            (guint32          dst_id,
                                                 guint32          handle,
                                                 GVariant        *value);
MITOGEN_AVAILABLE_IN_ALL
MitogenMessage  *mitogen_message_new_dead       (guint32          dst_id,
                                                 guint32          handle);
MITOGEN_AVAILABLE_IN_ALL
MitogenMessage  *mitogen_message_ref            (MitogenMessage  *self);
MITOGEN_AVAILABLE_IN_ALL
void             mitogen_message_unref          (MitogenMessage  *self);
MITOGEN_AVAILABLE_IN_ALL
guint32          mitogen_message_get_dst_id     (MitogenMessage  *self);
MITOGEN_AVAILABLE_IN_ALL
guint32          mitogen_message_get_src_id     (MitogenMessage  *self);
MITOGEN_AVAILABLE_IN_ALL
guint32          mitogen_message_get_auth_id    (MitogenMessage  *self);
MITOGEN_AVAILABLE_IN_ALL
guint32          mitogen_message_get_handle     (MitogenMessage  *self);
MITOGEN_AVAILABLE_IN_ALL
guint32          mitogen_message_get_reply_to   (MitogenMessage  *self);
MITOGEN_AVAILABLE_IN_ALL
void             mitogen_message_set_reply_to   (MitogenMessage  *self,
                                                 guint32          reply_to);
MITOGEN_AVAILABLE_IN_ALL
gboolean         mitogen_message_is_dead        (MitogenMessage  *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean         mitogen_message_is_error       (MitogenMessage  *self);
MITOGEN_AVAILABLE_IN_ALL
gsize            mitogen_message_get_size       (MitogenMessage  *self);
MITOGEN_AVAILABLE_IN_ALL
GVariant        *mitogen_message_get_value      (MitogenMessage  *self,
                                                 GError         **error);
MITOGEN_AVAILABLE_IN_ALL
GVariant        *mitogen_message_peek_value     (MitogenMessage  *self);
MITOGEN_AVAILABLE_IN_ALL
MitogenRouter   *mitogen_message_get_router     (MitogenMessage  *self);
MITOGEN_AVAILABLE_IN_ALL
MitogenReceiver *mitogen_message_get_receiver   (MitogenMessage  *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean         mitogen_message_reply          (MitogenMessage  *self,
                                                 GVariant        *value,
                                                 GError         **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MitogenMessage, mitogen_message_unref)

G_END_DECLS
