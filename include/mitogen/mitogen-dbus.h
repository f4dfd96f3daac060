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
GDBusConnection *mitogen_context_open_dbus        (MitogenContext       *self,
                                                   GBusType              bus_type,
                                                   const char           *address,
                                                   GCancellable         *cancellable,
                                                   GError              **error);
MITOGEN_AVAILABLE_IN_ALL
void             mitogen_context_open_dbus_async  (MitogenContext       *self,
                                                   GBusType              bus_type,
                                                   const char           *address,
                                                   GCancellable         *cancellable,
                                                   GAsyncReadyCallback   callback,
                                                   gpointer              user_data);
MITOGEN_AVAILABLE_IN_ALL
GDBusConnection *mitogen_context_open_dbus_finish (MitogenContext       *self,
                                                   GAsyncResult         *result,
                                                   GError              **error);

G_END_DECLS
