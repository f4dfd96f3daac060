/* mitogen-agent-private.h — the child runtime (serve layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

#define MITOGEN_TYPE_AGENT (mitogen_agent_get_type ())
G_DECLARE_FINAL_TYPE (MitogenAgent, mitogen_agent, MITOGEN, AGENT, GObject)

/* The whole life of a child context; returns the exit status. Main thread. */
int mitogen_agent_main (int    argc,
                        char **argv);

/* Tunes the process's allocator for an agent (mitogen_agent_main () does
 * it too). Before any thread exists: the stock agent's first constructor
 * calls it, before it populates the heap's first pages. */
void mitogen_agent_tune_allocator (void);

/* mitogen_init (), before mitogen_agent_main (): @hook runs once when the
 * agent exits, on any of its paths (parent gone, SHUTDOWN, bad
 * configuration), on whichever thread exits. */
void mitogen_agent_set_exit_hook   (void (*hook) (void));
/* mitogen_init (): this program is not the stock agent, so the agent
 * path for local children stays the installed one. */
void mitogen_agent_keep_agent_path (void);

/* A context that serves no calls, for a program of its own (fakessh's
 * client): connects to the parent over the socket @fd, leaving stdio
 * alone, and returns once configured. When the parent goes or asks it to
 * stop it writes @message (nullable) to stderr and exits with @status.
 * Main thread. */
MitogenRouter *mitogen_agent_start_client (int         fd,
                                           int         status,
                                           const char *message);

G_END_DECLS
