/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

#define MITOGEN_TYPE_AGENT (mitogen_agent_get_type ())
G_DECLARE_FINAL_TYPE (MitogenAgent, mitogen_agent, MITOGEN, AGENT, GObject)

/* The whole life of a child context; returns the exit status. Main thread. */
int mitogen_agent_main (int    argc,
                        char **argv);

G_END_DECLS
