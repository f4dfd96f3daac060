/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

/* mitogen-plugins.c: registers the extension point and loads plugins once. */
void        mitogen_plugins_ensure     (void);
GType       mitogen_plugins_lookup     (const char *method);
/* The agent program for local children: MITOGEN_AGENT_PATH, the build tree, or libexecdir. */
const char *mitogen_agent_path         (void);
gboolean    mitogen_running_uninstalled (void);

void        mitogen_transport_set_method (MitogenTransport *self,
                                          const char       *method);

G_END_DECLS
