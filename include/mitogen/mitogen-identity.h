/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>

G_BEGIN_DECLS

MITOGEN_AVAILABLE_IN_ALL
gboolean       mitogen_is_master   (void);
MITOGEN_AVAILABLE_IN_ALL
guint32        mitogen_context_id  (void);
MITOGEN_AVAILABLE_IN_ALL
gint64         mitogen_parent_id   (void);
MITOGEN_AVAILABLE_IN_ALL
const guint32 *mitogen_parent_ids  (gsize *n_ids);

G_END_DECLS
