/* mitogen-bootstrap-private.h — the zero-install bootstrap (DESIGN §6)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"
#include "mitogen-agent-image-private.h"

G_BEGIN_DECLS

/* The command a transport runs on the target: SHELL -c STAGE1 stage1 NAME
 * CACHE HASH LOCAL FORMAT. (transfer full)
 * @local_agent (nullable): a path to try first (a target that shares our
 * files: stage 1 runs it when it may, reporting "local"). @format
 * (nullable): the bootstrap-format we prefer. */
char   **mitogen_bootstrap_argv   (const char    *shell,
                                   const char    *name,
                                   gboolean       cache,
                                   const char    *local_agent,
                                   const char    *format,
                                   GError       **error);

/* Closure mode (agent=self, dynamic): SHELL -c STAGE1 stage1 NAME CACHE
 * closure LOCAL then INDEX ROLE SHA256 SIZE NAME per file of @image.
 * @local_program (nullable): a target that shares our files (sudo) runs it
 * as `PROGRAM --mitogen-agent NAME` when it may. (transfer full) */
char   **mitogen_bootstrap_closure_argv (const char               *shell,
                                         const char               *name,
                                         gboolean                  cache,
                                         const char               *local_program,
                                         const MitogenAgentImage  *image,
                                         GError                  **error);

typedef struct _MitogenBootstrap MitogenBootstrap;

/* @error is NULL on success; @bytes_sent counts agent bytes shipped (0
 * when the target had the agent cached). Called at most once. */
typedef void (*MitogenBootstrapDone) (gpointer      user_data,
                                      guint64       bytes_sent,
                                      const char   *report,
                                      const GError *error);

/* Broker thread. Talks to stage 1 over the raw descriptors (not owned):
 * reads its report, checks the target's architecture, ships the agent (or
 * nothing when cached): the stock image, or the files of @image (nullable)
 * that the target's cache lacks. */
MitogenBootstrap *mitogen_bootstrap_start (int                   read_fd,
                                           int                   write_fd,
                                           const char           *preferred,
                                           MitogenAgentImage    *image,
                                           GMainContext         *context,
                                           MitogenBootstrapDone  done,
                                           gpointer              user_data);
/* Broker thread. Stops at once (no callback afterwards) and frees. */
void              mitogen_bootstrap_free  (MitogenBootstrap     *self);

/* The stage-one script (data/stage1.sh). The library has it as a
 * GResource (mitogen-stage1.c); the static agent links its own copy as a
 * plain string instead, which keeps GIO's resource and file system code
 * out of it. (transfer full) */
GBytes  *mitogen_bootstrap_stage1 (GError **error);

/* The agent: read the image to ship from this descriptor (its own file
 * @path, opened before it was unlinked, whose ELF header is read now)
 * instead of the agent path. */
void     mitogen_bootstrap_set_self_image (int         fd,
                                           const char *path);

/* Any thread: gzip-compresses @raw with zlib. (transfer full) */
GBytes  *mitogen_bootstrap_gzip (GBytes  *raw,
                                 GError **error);

G_END_DECLS
