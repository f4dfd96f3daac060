/* mitogen-broker-private.h — internals of MitogenBroker (runtime layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

/* Broker thread: streams register so shutdown can close them. */
void     mitogen_broker_add_stream      (MitogenBroker *self,
                                         MitogenStream *stream);
void     mitogen_broker_remove_stream   (MitogenBroker *self,
                                         MitogenStream *stream);
void     mitogen_broker_hold_until_stopped (MitogenBroker *self,
                                           GObject       *object);
GSource *mitogen_broker_attach_timeout  (MitogenBroker *self,
                                         guint          ms,
                                         GSourceFunc    func,
                                         gpointer       data,
                                         GDestroyNotify destroy);

/* Any thread: shut @self down from an atexit handler if it still runs
 * when the program exits (mitogen_broker_new () calls this). */
void     mitogen_broker_watch           (MitogenBroker *self);

#define mitogen_assert_broker_thread(b) \
  g_assert (g_main_context_is_owner (mitogen_broker_get_main_context (b)))

G_END_DECLS
