/* mitogen-router-private.h — internals of MitogenRouter (runtime layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"
#include "mitogen-stream-private.h"

G_BEGIN_DECLS

/* Runs on the broker thread with no router lock held; must not block. */
typedef void (*MitogenHandlerFunc) (MitogenRouter  *router,
                                    MitogenMessage *message,
                                    gpointer        user_data);

#define MITOGEN_NO_RESPONDENT G_MAXUINT32
#define MITOGEN_ID_BLOCK      1000u

/* Context-id state, kept by the router for connect/mitogen-ids.c, which
 * alone reads and changes it (under @lock). */
typedef struct
{
  GMutex   lock;
  gboolean serving;      /* master: the ALLOCATE_ID handler is registered */
  guint32  next;         /* master: the next id to hand out */
  guint32  block_next;   /* child: the rest of a block from the master's ALLOCATE_ID */
  guint32  block_end;
} MitogenIdState;

MitogenIdState *mitogen_router_get_id_state (MitogenRouter *self);

MitogenRouter *mitogen_router_new_agent          (MitogenBroker      *broker);
guint32        mitogen_router_add_handler_full   (MitogenRouter      *self,
                                                  guint32             handle,
                                                  gboolean            persist,
                                                  guint32             respondent_id,
                                                  MitogenHandlerFunc  func,
                                                  gpointer            data,
                                                  GDestroyNotify      destroy);
void           mitogen_router_del_handler        (MitogenRouter      *self,
                                                  guint32             handle);
gboolean       mitogen_router_route_as           (MitogenRouter      *self,
                                                  MitogenMessage     *message,
                                                  guint32             src_id,
                                                  GError            **error);
gboolean       mitogen_router_is_privileged      (MitogenRouter      *self,
                                                  MitogenMessage     *message);

/* Broker thread: a handshaken stream now carries frames for @context_id. */
void           mitogen_router_attach_stream      (MitogenRouter      *self,
                                                  MitogenStream      *stream,
                                                  guint32             context_id);
void           mitogen_router_register_context   (MitogenRouter      *self,
                                                  MitogenContext     *context);
void           mitogen_router_announce_route     (MitogenRouter      *self,
                                                  guint32             id,
                                                  const char         *name);
gboolean       mitogen_router_get_is_master      (MitogenRouter      *self);
/* Any thread: the keepalive-interval and keepalive-count properties. */
void           mitogen_router_get_keepalive      (MitogenRouter      *self,
                                                  double             *interval,
                                                  guint              *count);
/* Agent side. Broker thread. */
void           mitogen_router_configure          (MitogenRouter      *self,
                                                  guint32             context_id,
                                                  const char         *name,
                                                  const guint32      *parent_ids,
                                                  gsize               n_parent_ids);
void           mitogen_router_set_parent_stream  (MitogenRouter      *self,
                                                  MitogenStream      *stream);
void           mitogen_router_set_parent_lost_func (MitogenRouter    *self,
                                                  GCallback           func,
                                                  gpointer            data);
const char    *mitogen_router_get_name           (MitogenRouter      *self);

/* Waits (not on the broker thread) until @context disconnects or the deadline passes. */
gboolean       mitogen_router_wait_disconnect    (MitogenRouter      *self,
                                                  MitogenContext     *context,
                                                  gint64              deadline);

extern const MitogenStreamHooks mitogen_router_stream_hooks;

/* Any thread: whether mitogen_router_enable_debug () was called. */
gboolean       mitogen_router_get_debug_default  (MitogenRouter      *self);
void           mitogen_router_route_dead_locally (MitogenRouter      *self,
                                                  MitogenMessage     *dead);
/* Any thread: the default agent becomes @agent unless it was set. */
gboolean       mitogen_router_set_default_agent_if_unset (MitogenRouter *self,
                                                  const char         *agent);

G_END_DECLS
