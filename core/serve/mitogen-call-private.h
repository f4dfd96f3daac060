/* mitogen-call-private.h — the function registry and MitogenCall (serve layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

MitogenCall *mitogen_call_new (MitogenRouter  *router,
                               GObject        *agent,
                               const char     *function,
                               guint32         caller_id);

/* Where the reply goes, and the largest the caller takes (0: no limit;
 * a bigger result is replaced by an error saying so). The agent sets both
 * before the function runs. */
void     mitogen_call_set_reply_to (MitogenCall  *call,
                                    guint32       reply_to,
                                    guint64       max_size);
/* A function that finishes on another thread calls this and returns NULL
 * without an error: no reply is sent when it returns, and it must later
 * call mitogen_call_send_reply () exactly once (any thread), keeping a
 * reference to @call until then. The context's main thread is free for
 * the next call meanwhile. */
void     mitogen_call_detach       (MitogenCall  *call);
gboolean mitogen_call_is_detached  (MitogenCall  *call);
/* The call's reply: @result (transfer full or floating; NULL: `()`) or @error.
 * The agent sends every reply so; a detached call sends its own. Any
 * thread. */
void     mitogen_call_send_reply   (MitogenCall  *call,
                                    GVariant     *result,
                                    const GError *error);

/* Asked by mitogen_invoke_function () when @function is not registered,
 * before the call fails: it may register it (the agent loads function
 * modules so, mitogen-modules.c). FALSE with @error set: the call fails
 * with that. @max_size is the caller's max_message_size. On the calling
 * thread, never the broker's. */
typedef gboolean (*MitogenMissingFunc) (MitogenRouter  *router,
                                        const char     *function,
                                        guint64         max_size,
                                        GError        **error);
/* Set once, before calls are served. */
void mitogen_call_set_missing_func (MitogenMissingFunc func);

/* Registers every row of @table (MitogenFunctionInfo; NULL-name
 * terminated): the built-in tables. The rows' strings are kept, not
 * copied (~100 of them at every agent's start): they must live for ever.
 * Function modules register through mitogen_register_function (). Any
 * thread. */
void mitogen_register_function_table (const MitogenFunctionInfo *table);

/* Quick functions: built-ins that return at once, never block and touch
 * no state of the main thread (os.getpid, mitogen.noop, ...). The agent
 * runs a call to one on the broker thread when no other call is queued
 * or running, saving the hand-off to its main thread (and back). Names
 * registered again by anyone are no longer quick. Any thread. */
void     mitogen_mark_functions_quick (const char * const *names);
gboolean mitogen_function_is_quick    (const char         *name);


G_END_DECLS
