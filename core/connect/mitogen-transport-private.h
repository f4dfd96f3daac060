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

G_END_DECLS
