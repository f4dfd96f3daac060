/* mitogen-context-private.h — internals of MitogenContext (runtime layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

/* @pid: the agent's own (0: not known). */
MITOGEN_INTERNAL
MitogenContext *mitogen_context_new               (MitogenRouter  *router,
                                                   guint32         context_id,
                                                   const char     *name,
                                                   MitogenContext *via,
                                                   GPid            pid,
                                                   GMainContext   *main_context);
/* Before the context is handed out: who the agent runs as (uid -1 and
 * NULL: not known). */
void            mitogen_context_set_user          (MitogenContext *self,
                                                   gint64          uid,
                                                   const char     *user_name);
/* Before the context is handed out: what the bootstrap shipped to start it. */
void            mitogen_context_set_bootstrap_bytes (MitogenContext *self,
                                                     guint64         bytes);
/* Broker thread (or after the broker stopped). Idempotent. */
void            mitogen_context_mark_disconnected (MitogenContext *self);
/* Any thread: routes @message to this context (sets its dst_id). */
gboolean        mitogen_context_route_message     (MitogenContext *self,
                                                   MitogenMessage *message,
                                                   GError        **error);

G_END_DECLS
