/* mitogen-fakessh-client.h — the agent started as `ssh` under fakessh
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The environment variable a fake ssh client finds its master by:
 * "FD:HANDLE:DEST_ID:DEST_NAME" (docs/fakessh.md). */
#define MITOGEN_FAKESSH_ENV "MITOGEN_FAKESSH"

/* The agent run as `ssh` under mitogen_fakessh_run (): returns the exit
 * status, as ssh would (255 for its own failures). Main thread. */
int mitogen_fakessh_client_main (int    argc,
                                 char **argv);

G_END_DECLS
