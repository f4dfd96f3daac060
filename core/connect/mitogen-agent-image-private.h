/* mitogen-agent-image-private.h — what a connect starts: the stock agent,
 * this program (agent=self) or the dynamic agent (agent=dynamic)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"
#include "mitogen-closure-private.h"

G_BEGIN_DECLS

typedef enum
{
  MITOGEN_AGENT_STOCK,    /* the installed static mitogen-agent (bootstrap.c ships its image) */
  MITOGEN_AGENT_SELF,     /* this program: it called mitogen_init () */
  MITOGEN_AGENT_DYNAMIC,  /* mitogen-agent-dynamic */
} MitogenAgentKind;

/* "stock, self, dynamic", for error messages. */
#define MITOGEN_AGENT_KINDS "stock, self, dynamic"

/* Any thread. FALSE if @value is not one of MITOGEN_AGENT_KINDS. */
gboolean          mitogen_agent_kind_parse (const char       *value,
                                            MitogenAgentKind *kind);

/* A program to start on a target: its closure, and how to run it here.
 * Immutable once made; shared by reference. */
typedef struct
{
  gint              ref_count;    /* (atomic) */
  MitogenAgentKind  kind;         /* SELF or DYNAMIC */
  MitogenClosure   *closure;      /* (owned) the files; paths are this machine's */
  gint              interp;       /* index of the ELF interpreter in closure->files; -1: a static program */
  gint              exe;          /* index of the program */
  /* (owned) (nullable) a replicated program: the directory its files run
   * from here (through the loader); local children reuse it. */
  char             *closure_dir;
  /* (owned) (nullable) the program's own path, run directly (no loader)
   * by the local fast path, or by stage 1 when the target shares our
   * files (sudo); NULL for a replicated program. */
  char             *program;
} MitogenAgentImage;

/* mitogen_init () was called: agent=self can run this program. Any thread. */
void               mitogen_agent_image_set_self_capable (void);

/* @kind as this process understands it: the static stock agent's `self`
 * is `stock`, the dynamic agent's `dynamic` is `self`. */
MitogenAgentKind   mitogen_agent_kind_effective (MitogenAgentKind  kind);

/* Not on the broker thread: reads the closure (hashing its files the
 * first time, or running mitogen-agent-dynamic --closure once per
 * process). @kind is SELF or DYNAMIC. (transfer full) */
MitogenAgentImage *mitogen_agent_image_get      (MitogenAgentKind  kind,
                                                 GError          **error);
MitogenAgentImage *mitogen_agent_image_ref      (MitogenAgentImage *image);
void               mitogen_agent_image_unref    (MitogenAgentImage *image);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MitogenAgentImage, mitogen_agent_image_unref)

/* Any thread. The local fast path's command: { FILE, ARGV0, args... }, as
 * MitogenTransportClass.spawn_async takes it. (transfer full) */
char             **mitogen_agent_image_direct_argv (const MitogenAgentImage *image,
                                                    const char              *argv0);

/* Not on the broker thread: the bytes of file @index, gzip-compressed
 * (once per process and file: cached by hash) or raw, after checking the
 * file still has the size and SHA-256 of the closure. (transfer full) */
GBytes            *mitogen_agent_image_read_file (const MitogenAgentImage *image,
                                                  guint                    index,
                                                  gboolean                 gzip,
                                                  GError                 **error);

/* The manifest word of a role: interp, exe, lib, plugin. */
const char        *mitogen_closure_role_name    (MitogenClosureRole role);

/* mitogen-agent-dynamic --closure: prints this program's closure on
 * stdout (read by mitogen_agent_image_get (DYNAMIC)); returns the exit
 * status. */
int                mitogen_agent_image_print_closure (void);

G_END_DECLS
