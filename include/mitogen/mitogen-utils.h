/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>

G_BEGIN_DECLS

/**
 * MitogenRouterFunc:
 * @router: (transfer none): a router made for this run; it is shut down
 *   when the function returns
 * @user_data: the data given with the function
 * @error: return location for a #GError
 *
 * The function [func@Mitogen.run_with_router] runs: the seed's
 * `func(router, *args)`.
 *
 * Returns: %TRUE on success; %FALSE with @error set on failure
 */
typedef gboolean (*MitogenRouterFunc) (MitogenRouter  *router,
                                       gpointer        user_data,
                                       GError        **error);

/**
 * MitogenMainFunc:
 * @router: (transfer none): a router made for the program; it is shut down
 *   when the function returns
 * @user_data: the data given to [func@Mitogen.main]
 * @error: return location for a #GError
 *
 * The body of a program run by [func@Mitogen.main].
 *
 * Returns: %TRUE on success; %FALSE with @error set on failure
 */
typedef gboolean (*MitogenMainFunc) (MitogenRouter  *router,
                                     gpointer        user_data,
                                     GError        **error);

MITOGEN_AVAILABLE_IN_ALL
int       mitogen_main             (MitogenMainFunc     func,
                                    gpointer            user_data);
MITOGEN_AVAILABLE_IN_ALL
gboolean  mitogen_run_with_router  (MitogenRouterFunc   func,
                                    gpointer            user_data,
                                    GError            **error);
MITOGEN_AVAILABLE_IN_ALL
gboolean  mitogen_log_to_file      (const char         *path,
                                    gboolean            io,
                                    gboolean            usec,
                                    const char         *level,
                                    GError            **error);

G_END_DECLS
