/* mitogen-modules-private.h — function modules, shipped on first use (serve layer)
 *
 * Two halves (docs/how-it-works.md, "Function modules"):
 *
 *  - mitogen-modules.c, the child: before a call of MODULE.FUNC that is
 *    not registered, asks its parent for MODULE (LOAD_MODULE), writes what
 *    comes back into a private directory that allows exec, loads it and
 *    registers its functions;
 *  - mitogen-module-responder.c, the parent: answers LOAD_MODULE from its
 *    children, from its own module path (the master) or by asking its own
 *    parent and keeping the answer in memory for the next child (an
 *    intermediate).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

/* The static stock agent's main (), first thing: this process cannot
 * dlopen (), so calls of unknown functions say so instead of trying. */
void     mitogen_modules_set_static_agent  (void);

/* Agent, broker thread (configuration): answers LOAD_MODULE from our
 * children (forwarding to our parent and caching), and registers
 * `mitogen.modules`. @max_message_size is our own frame limit: what our
 * parent may send us. */
void     mitogen_modules_serve             (MitogenRouter  *router,
                                            guint64         max_message_size);

/* Agent main thread (or a detached call's thread; never the broker's),
 * before a call: TRUE if @function is registered, or is not a module's
 * (no dot: the registry then refuses it as usual), or was made so by
 * loading its module from the parent. Otherwise FALSE with a
 * MITOGEN_ERROR naming the function, the module and the reason:
 * NOT_FOUND (no such module or function, a static agent), NOT_SUPPORTED
 * (the module cannot be loaded here: dlerror ()), STREAM (a file arrived
 * damaged), INVALID_ARGUMENT (the reply is larger than @max_message_size),
 * TIMEOUT. Blocks while the files travel. */
gboolean mitogen_modules_ensure_function   (MitogenRouter  *router,
                                            const char     *function,
                                            guint64         max_message_size,
                                            GError        **error);

/* Registers `mitogen.modules` (() -> a{sa{sv}}): what this process
 * loaded. Any thread. */
void     mitogen_modules_register_builtin  (void);

/* Any thread: the names the loader gives this process's shared objects
 * (their DT_SONAME, and the base name of their path), for a LOAD_MODULE
 * request. (transfer full) NULL-terminated. */
char   **mitogen_modules_loaded_sonames    (void);

/* Any thread: checks @data against @sha256 (64 lowercase hex digits). */
gboolean mitogen_modules_check_sha256      (GBytes         *data,
                                            const char     *sha256);

G_END_DECLS
