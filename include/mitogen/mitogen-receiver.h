/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>

G_BEGIN_DECLS

#define MITOGEN_TYPE_RECEIVER (mitogen_receiver_get_type ())

MITOGEN_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MitogenReceiver, mitogen_receiver, MITOGEN, RECEIVER, GObject)

MITOGEN_AVAILABLE_IN_ALL
MitogenReceiver *mitogen_receiver_new         (MitogenRouter        *router,
                                               guint32               handle,
                                               gboolean              persist,
                                               MitogenContext       *respondent);
MITOGEN_AVAILABLE_IN_ALL
guint32          mitogen_receiver_get_handle  (MitogenReceiver      *self);
MITOGEN_AVAILABLE_IN_ALL
MitogenRouter   *mitogen_receiver_get_router  (MitogenReceiver      *self);
MITOGEN_AVAILABLE_IN_ALL
MitogenContext  *mitogen_receiver_get_respondent (MitogenReceiver   *self);
MITOGEN_AVAILABLE_IN_ALL
MitogenMessage  *mitogen_receiver_get         (MitogenReceiver      *self,
                                               double                timeout_seconds,
                                               GError              **error);
MITOGEN_AVAILABLE_IN_ALL
MitogenMessage  *mitogen_receiver_get_full    (MitogenReceiver      *self,
                                               double                timeout_seconds,
                                               GCancellable         *cancellable,
                                               GError              **error);
MITOGEN_AVAILABLE_IN_ALL
void             mitogen_receiver_get_async   (MitogenReceiver      *self,
                                               GCancellable         *cancellable,
                                               GAsyncReadyCallback   callback,
                                               gpointer              user_data);
MITOGEN_AVAILABLE_IN_ALL
MitogenMessage  *mitogen_receiver_get_finish  (MitogenReceiver      *self,
                                               GAsyncResult         *result,
                                               GError              **error);
MITOGEN_AVAILABLE_IN_ALL
GVariant        *mitogen_receiver_get_data    (MitogenReceiver      *self,
                                               double                timeout_seconds,
                                               GError              **error);
MITOGEN_AVAILABLE_IN_ALL
gboolean         mitogen_receiver_empty       (MitogenReceiver      *self);
MITOGEN_AVAILABLE_IN_ALL
void             mitogen_receiver_close       (MitogenReceiver      *self);

G_END_DECLS
