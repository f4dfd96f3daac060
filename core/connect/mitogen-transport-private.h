/* mitogen-transport-private.h — internals of MitogenTransport (connect layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

void        mitogen_transport_set_method (MitogenTransport *self,
                                          const char       *method);
/* agent-cache for a shipped closure: on unless the option was given. */
gboolean    mitogen_transport_get_closure_cache (MitogenTransport *self);

/* Broker thread: the spawn of a transport that has build_command and no
 * spawn_async of its own. */
void        mitogen_transport_command_spawn_async (MitogenTransport    *self,
                                                   const char * const  *argv,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);

/* Called with TRUE when a request to the interaction starts waiting (none
 * was), FALSE when the last one ended. Broker thread. */
typedef void (*MitogenTransportAskingFunc) (gpointer data,
                                            gboolean asking);

/* Broker thread: what the transport's requests ask, and where. */
void        mitogen_transport_set_interaction (MitogenTransport           *self,
                                               MitogenInteraction         *interaction,
                                               GMainContext               *ask_context,
                                               MitogenTransportAskingFunc  asking,
                                               gpointer                    asking_data);

G_END_DECLS
