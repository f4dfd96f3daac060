/* mitogen-stage1.c — the bootstrap's stage-one script, from the GResource
 *
 * The static agent defines mitogen_bootstrap_stage1 () itself (see
 * agent/meson.build), so this file and GIO's resource code stay out
 * of it.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-bootstrap-private.h"

GResource *mitogen_get_resource (void);

GBytes *
mitogen_bootstrap_stage1 (GError **error)
{
  return g_resource_lookup_data (mitogen_get_resource (), "/org/mitogen/stage1.sh",
                                 G_RESOURCE_LOOKUP_FLAGS_NONE, error);
}
