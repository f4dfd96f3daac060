/* mitogen-transport-private.h — internals of MitogenTransport (connect layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

void        mitogen_transport_set_method (MitogenTransport *self,
                                          const char       *method);

G_END_DECLS
