/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <gio/gio.h>
#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>

G_BEGIN_DECLS

MITOGEN_AVAILABLE_IN_ALL
int      mitogen_fakessh_run        (MitogenRouter        *router,
                                     MitogenContext       *dest,
                                     const char * const   *argv,
                                     const char * const   *envp,
                                     double                timeout_seconds,
                                     GCancellable         *cancellable,
                                     GError              **error);
MITOGEN_AVAILABLE_IN_ALL
void     mitogen_fakessh_run_async  (MitogenRouter        *router,
                                     MitogenContext       *dest,
                                     const char * const   *argv,
                                     const char * const   *envp,
                                     double                timeout_seconds,
                                     GCancellable         *cancellable,
                                     GAsyncReadyCallback   callback,
                                     gpointer              user_data);
MITOGEN_AVAILABLE_IN_ALL
int      mitogen_fakessh_run_finish (MitogenRouter        *router,
                                     GAsyncResult         *result,
                                     GError              **error);

G_END_DECLS
