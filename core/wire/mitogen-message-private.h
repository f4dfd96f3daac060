/* mitogen-message-private.h — internals of MitogenMessage (wire layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"
#include "mitogen-frame-private.h"

G_BEGIN_DECLS

struct _MitogenMessage
{
  gatomicrefcount     ref_count;
  MitogenFrameHeader  header;     /* src/auth are set by the router before sending */
  GBytes             *payload;    /* (owned) (nullable): received: the whole "v"; built: the value's bytes */
  GBytes             *trailer;    /* (owned) (nullable): built only: "\0" + type string */
  GVariant           *value;      /* (owned) (nullable): inner value; NULL when dead */
  MitogenRouter      *router;     /* (owned) (nullable) */
  MitogenReceiver    *receiver;   /* (owned) (nullable): set by Select.get */
  MitogenStream      *in_stream;  /* (unowned) (nullable): the stream it arrived on, during dispatch only */
  char               *dead_reason; /* (owned) (nullable): made locally, dead: why (e.g. a keepalive timeout) */
};

MitogenMessage *mitogen_message_new_call       (guint32                   dst_id,
                                                guint32                   handle,
                                                GBytes                   *payload);
MitogenMessage *mitogen_message_new_received   (const MitogenFrameHeader *header,
                                                GBytes                   *payload);
gboolean        mitogen_message_decode         (MitogenMessage           *self,
                                                GError                  **error);
MitogenMessage *mitogen_message_new_error      (guint32                   dst_id,
                                                guint32                   handle,
                                                const GError             *error,
                                                const char               *context_name);
void            mitogen_message_set_router     (MitogenMessage           *self,
                                                MitogenRouter            *router);
void            mitogen_message_set_receiver   (MitogenMessage           *self,
                                                MitogenReceiver          *receiver);
GError         *mitogen_message_dead_error     (MitogenMessage           *self);

G_END_DECLS
