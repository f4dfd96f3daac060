/* mitogen-connect-private.h — starting children with a given id (connect layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

/* The agent side of `via`, and fakessh: a child with an id the caller
 * chose. Not on the broker thread. */
void           mitogen_router_connect_with_id_async (MitogenRouter   *self,
                                                  const char         *method,
                                                  GVariant           *options,
                                                  guint32             context_id,
                                                  GCancellable       *cancellable,
                                                  GAsyncReadyCallback callback,
                                                  gpointer            user_data);
/* @interaction (nullable): asked instead of the router's (the agent's
 * forwarding interaction, mitogen-interaction-forward.c). */
MitogenContext *mitogen_router_connect_with_id   (MitogenRouter      *self,
                                                  const char         *method,
                                                  GVariant           *options,
                                                  guint32             context_id,
                                                  MitogenInteraction *interaction,
                                                  GError            **error);

G_END_DECLS
