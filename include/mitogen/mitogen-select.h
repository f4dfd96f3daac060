/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>

G_BEGIN_DECLS

#define MITOGEN_TYPE_SELECT (mitogen_select_get_type ())

MITOGEN_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MitogenSelect, mitogen_select, MITOGEN, SELECT, GObject)

MITOGEN_AVAILABLE_IN_ALL
MitogenSelect  *mitogen_select_new                 (gboolean              oneshot);
MITOGEN_AVAILABLE_IN_ALL
MitogenSelect  *mitogen_select_new_with_receivers  (GObject             **receivers,
                                                    guint                 n_receivers,
                                                    gboolean              oneshot,
                                                    GError              **error);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_select_get_oneshot         (MitogenSelect        *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_select_add                 (MitogenSelect        *self,
                                                    GObject              *receiver,
                                                    GError              **error);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_select_remove              (MitogenSelect        *self,
                                                    GObject              *receiver,
                                                    GError              **error);
MITOGEN_AVAILABLE_IN_ALL
MitogenMessage *mitogen_select_get                 (MitogenSelect        *self,
                                                    double                timeout_seconds,
                                                    GError              **error);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_select_get_async           (MitogenSelect        *self,
                                                    GCancellable         *cancellable,
                                                    GAsyncReadyCallback   callback,
                                                    gpointer              user_data);
MITOGEN_AVAILABLE_IN_ALL
MitogenMessage *mitogen_select_get_finish          (MitogenSelect        *self,
                                                    GAsyncResult         *result,
                                                    GError              **error);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_select_empty               (MitogenSelect        *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_select_is_empty            (MitogenSelect        *self);
MITOGEN_AVAILABLE_IN_ALL
guint           mitogen_select_get_size            (MitogenSelect        *self);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_select_close               (MitogenSelect        *self);
MITOGEN_AVAILABLE_IN_ALL
GPtrArray      *mitogen_select_all                 (MitogenReceiver     **receivers,
                                                    guint                 n_receivers,
                                                    GError              **error);

G_END_DECLS
