/* mitogen-interaction-private.h — asking a MitogenInteraction from the
 * broker thread (runtime layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

/* Any thread (the broker's, from a transport): asks @self about @request
 * (a MitogenSecretRequest, MitogenHostKeyRequest or
 * MitogenQuestionsRequest) in @ask_context — the main context of whoever
 * started the connect — and waits without blocking: @callback runs in the
 * calling thread's thread-default main context. The request is bounded by
 * the interaction's timeout (MITOGEN_ERROR_TIMEOUT) and by @cancellable
 * (G_IO_ERROR_CANCELLED), both without waiting for the interaction; the
 * interaction's own GCancellable is cancelled then. */
void                     mitogen_interaction_invoke_async  (MitogenInteraction   *self,
                                                            gpointer              request,
                                                            GMainContext         *ask_context,
                                                            GCancellable         *cancellable,
                                                            GAsyncReadyCallback   callback,
                                                            gpointer              user_data);
MitogenInteractionResult mitogen_interaction_invoke_finish (GAsyncResult         *result,
                                                            GError              **error);

G_END_DECLS
