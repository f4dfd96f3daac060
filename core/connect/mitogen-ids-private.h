/* mitogen-ids-private.h — context ids for new children
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

/* The one way to get an id for a new context. The master hands them out;
 * a child asks the master for a block (ALLOCATE_ID) when it has none left
 * and blocks for the answer, so in a child this must not run on the broker
 * thread. FALSE with @error set if no id could be had. */
gboolean mitogen_ids_allocate (MitogenRouter  *router,
                               guint32        *id,
                               GError        **error);

/* Any thread. A master answers its children's ALLOCATE_ID from the first
 * connect on; calling it again does nothing. */
void     mitogen_ids_serve    (MitogenRouter  *router);

G_END_DECLS
