/* mitogen-identity-private.h — this process's place in the tree (runtime layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

/* Set once by the agent, on its broker thread, when configured. */
void    mitogen_identity_set          (guint32        context_id,
                                       const guint32 *parent_ids,
                                       gsize          n_parent_ids);

G_END_DECLS
