/* mitogen-interaction-forward-private.h — interaction requests up a `via`
 * chain (connect layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

/* The option a master adds to mitogen.connect's a{sv} when it has an
 * interaction: the handle (u) that serves its requests. The agent takes
 * it out before the transport sees the options. */
#define MITOGEN_INTERACTION_HANDLE_OPTION "mitogen-interaction-handle"
/* ... and its interaction's timeout (d), which the agent's side uses. */
#define MITOGEN_INTERACTION_TIMEOUT_OPTION "mitogen-interaction-timeout"

/* Master (or any asker), broker thread or any: serves requests that
 * context @via_id sends to the returned handle by asking @interaction in
 * @ask_context. Stop with mitogen_router_del_handler (). */
guint32             mitogen_interaction_serve   (MitogenRouter      *router,
                                                 MitogenInteraction *interaction,
                                                 GMainContext       *ask_context,
                                                 MitogenContext     *via);

/* Agent: an interaction that sends each request to (@asker_id, @handle)
 * and answers with the reply. */
MitogenInteraction *mitogen_interaction_forward_new (MitogenRouter *router,
                                                     guint32        asker_id,
                                                     guint32        handle);

G_END_DECLS
