/* mitogen-plugins-private.h — finding transports and the agent program (connect layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

/* Transports compiled into a program (the static agent). */
typedef struct
{
  const char *method;
  void      (*register_types) (GTypeModule *module);
  GType     (*get_type)       (void);
} MitogenBuiltinTransport;

/* Before any transport is used: use @list (NULL-method terminated) instead
 * of loading plugin modules. */
void        mitogen_plugins_use_builtin (const MitogenBuiltinTransport *list);
/* Whether this program has its transports compiled in (the agents). */
gboolean    mitogen_plugins_are_builtin (void);
/* A replicated program (mitogen_init ()): the directory its closure runs
 * from; plugin modules are looked up in its transports/ first. Set once
 * at start, before any transport is used. */
void        mitogen_plugins_set_closure_dir (const char *dir);
const char *mitogen_plugins_get_closure_dir (void);
/* The agent: this program is the agent to start local children with
 * (NULL: its file is gone; children are then bootstrapped from its image). */
void        mitogen_plugins_set_agent_path (const char *path);
/* The same, with the path of /proc/self/exe, read when first needed. */
void        mitogen_plugins_set_agent_path_self (void);

/* How plugin modules are found (mitogen-plugin-modules.c, library only). */
typedef struct
{
  void    (*ensure) (void);
  GType   (*lookup) (const char *method);
  char  **(*list)   (void);
} MitogenPluginLoader;

void        mitogen_plugins_set_loader  (const MitogenPluginLoader *loader);

/* mitogen-plugins.c: registers the extension point and loads plugins once. */
void        mitogen_plugins_ensure     (void);
GType       mitogen_plugins_lookup     (const char *method);
/* The agent program for local children: MITOGEN_AGENT_PATH, the build tree, or libexecdir. */
const char *mitogen_agent_path         (void);
/* The dynamically linked stock agent (agent=dynamic): MITOGEN_AGENT_DYNAMIC_PATH,
 * the build tree, or libexecdir. */
const char *mitogen_agent_dynamic_path (void);
gboolean    mitogen_running_uninstalled (void);

G_END_DECLS
