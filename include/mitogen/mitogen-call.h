/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>

G_BEGIN_DECLS

#define MITOGEN_TYPE_CALL (mitogen_call_get_type ())

/**
 * MitogenFunc:
 * @call: (transfer none): the call being served: router, agent, caller
 * @args: (transfer none): the arguments, a tuple already checked against
 *   the function's registered argument type
 * @error: return location for an error, sent back as a remote error
 *
 * A function callable by name from other contexts. Runs on the context's
 * main thread, one call at a time.
 *
 * Returns: (transfer full) (nullable): the result (floating references are
 *   sunk); %NULL with @error set on failure, or %NULL without an error for
 *   the unit value `()`.
 */
typedef GVariant *(*MitogenFunc) (MitogenCall  *call,
                                  GVariant     *args,
                                  GError      **error);

MITOGEN_AVAILABLE_IN_ALL
GType           mitogen_call_get_type          (void) G_GNUC_CONST;
MITOGEN_AVAILABLE_IN_ALL
MitogenCall    *mitogen_call_ref               (MitogenCall  *self);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_call_unref             (MitogenCall  *self);
MITOGEN_AVAILABLE_IN_ALL
MitogenRouter  *mitogen_call_get_router        (MitogenCall  *self);
MITOGEN_AVAILABLE_IN_ALL
const char     *mitogen_call_get_function      (MitogenCall  *self);
MITOGEN_AVAILABLE_IN_ALL
guint32         mitogen_call_get_caller_id     (MitogenCall  *self);
MITOGEN_AVAILABLE_IN_ALL
gpointer        mitogen_call_get_user_data     (MitogenCall  *self);
MITOGEN_AVAILABLE_IN_ALL
GObject        *mitogen_call_get_agent         (MitogenCall  *self);

MITOGEN_AVAILABLE_IN_ALL
void            mitogen_register_function      (const char     *name,
                                                const char     *args_type,
                                                const char     *return_type,
                                                const char     *description,
                                                MitogenFunc     func,
                                                gpointer        user_data);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_register_function_full (const char     *name,
                                                const char     *args_type,
                                                const char     *return_type,
                                                const char     *description,
                                                MitogenFunc     func,
                                                gpointer        user_data,
                                                GDestroyNotify  destroy);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_lookup_function        (const char     *name,
                                                const char    **args_type,
                                                const char    **return_type,
                                                const char    **description);
MITOGEN_AVAILABLE_IN_ALL
char          **mitogen_list_functions         (void);
MITOGEN_AVAILABLE_IN_ALL
GVariant       *mitogen_invoke_function        (MitogenCall    *call,
                                                GVariant       *args,
                                                GError        **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MitogenCall, mitogen_call_unref)

G_END_DECLS
