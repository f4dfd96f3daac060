/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>

G_BEGIN_DECLS

#define MITOGEN_TYPE_CONTEXT (mitogen_context_get_type ())

MITOGEN_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MitogenContext, mitogen_context, MITOGEN, CONTEXT, GObject)

MITOGEN_AVAILABLE_IN_ALL
guint32          mitogen_context_get_id          (MitogenContext       *self);
MITOGEN_AVAILABLE_IN_ALL
const char      *mitogen_context_get_name        (MitogenContext       *self);
MITOGEN_AVAILABLE_IN_ALL
MitogenRouter   *mitogen_context_get_router      (MitogenContext       *self);
MITOGEN_AVAILABLE_IN_ALL
MitogenContext  *mitogen_context_get_via         (MitogenContext       *self);
MITOGEN_AVAILABLE_IN_ALL
GPid             mitogen_context_get_pid         (MitogenContext       *self);
MITOGEN_AVAILABLE_IN_ALL
gint64           mitogen_context_get_uid         (MitogenContext       *self);
MITOGEN_AVAILABLE_IN_ALL
const char      *mitogen_context_get_user_name   (MitogenContext       *self);
MITOGEN_AVAILABLE_IN_ALL
guint64          mitogen_context_get_bootstrap_bytes (MitogenContext   *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean         mitogen_context_is_connected    (MitogenContext       *self);

MITOGEN_AVAILABLE_IN_ALL
gboolean         mitogen_context_send            (MitogenContext       *self,
                                                  guint32               handle,
                                                  GVariant             *value,
                                                  GError              **error);
MITOGEN_AVAILABLE_IN_ALL
MitogenReceiver *mitogen_context_send_async      (MitogenContext       *self,
                                                  guint32               handle,
                                                  GVariant             *value,
                                                  gboolean              persist);
MITOGEN_AVAILABLE_IN_ALL
GVariant        *mitogen_context_send_await      (MitogenContext       *self,
                                                  guint32               handle,
                                                  GVariant             *value,
                                                  double                timeout_seconds,
                                                  GError              **error);
MITOGEN_AVAILABLE_IN_ALL
GVariant        *mitogen_context_call            (MitogenContext       *self,
                                                  const char           *function,
                                                  GVariant             *args,
                                                  GCancellable         *cancellable,
                                                  GError              **error);
MITOGEN_AVAILABLE_IN_ALL
void             mitogen_context_call_async      (MitogenContext       *self,
                                                  const char           *function,
                                                  GVariant             *args,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
MITOGEN_AVAILABLE_IN_ALL
GVariant        *mitogen_context_call_finish     (MitogenContext       *self,
                                                  GAsyncResult         *result,
                                                  GError              **error);
MITOGEN_AVAILABLE_IN_ALL
MitogenReceiver *mitogen_context_begin_call      (MitogenContext       *self,
                                                  const char           *function,
                                                  GVariant             *args);
MITOGEN_AVAILABLE_IN_ALL
gboolean         mitogen_context_shutdown        (MitogenContext       *self,
                                                  double                timeout_seconds,
                                                  GError              **error);

G_END_DECLS
