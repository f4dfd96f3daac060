/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>

G_BEGIN_DECLS

#define MITOGEN_TYPE_ROUTER (mitogen_router_get_type ())

typedef void (*MitogenHandlerCallback) (MitogenRouter  *router,
                                        MitogenMessage *message,
                                        gpointer        user_data);

MITOGEN_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MitogenRouter, mitogen_router, MITOGEN, ROUTER, GObject)

MITOGEN_AVAILABLE_IN_ALL
MitogenRouter  *mitogen_router_new               (void);
MITOGEN_AVAILABLE_IN_ALL
MitogenRouter  *mitogen_router_new_with_broker   (MitogenBroker        *broker);
MITOGEN_AVAILABLE_IN_ALL
MitogenBroker  *mitogen_router_get_broker        (MitogenRouter        *self);
MITOGEN_AVAILABLE_IN_ALL
guint32         mitogen_router_get_context_id    (MitogenRouter        *self);
MITOGEN_AVAILABLE_IN_ALL
MitogenContext *mitogen_router_context_by_id     (MitogenRouter        *self,
                                                  guint32               context_id);
MITOGEN_AVAILABLE_IN_ALL
guint32         mitogen_router_allocate_handle   (MitogenRouter        *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_router_route             (MitogenRouter        *self,
                                                  MitogenMessage       *message,
                                                  GError              **error);

MITOGEN_AVAILABLE_IN_ALL
MitogenContext *mitogen_router_connect           (MitogenRouter        *self,
                                                  const char           *method,
                                                  GVariant             *options,
                                                  MitogenContext       *via,
                                                  GCancellable         *cancellable,
                                                  GError              **error);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_router_connect_async     (MitogenRouter        *self,
                                                  const char           *method,
                                                  GVariant             *options,
                                                  MitogenContext       *via,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
MITOGEN_AVAILABLE_IN_ALL
MitogenContext *mitogen_router_connect_finish    (MitogenRouter        *self,
                                                  GAsyncResult         *result,
                                                  GError              **error);
MITOGEN_AVAILABLE_IN_ALL
MitogenContext *mitogen_router_local             (MitogenRouter        *self,
                                                  GVariant             *options,
                                                  MitogenContext       *via,
                                                  GError              **error);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_router_shutdown          (MitogenRouter        *self);

MITOGEN_AVAILABLE_IN_ALL
guint32         mitogen_router_add_handler       (MitogenRouter          *self,
                                                  MitogenHandlerCallback  callback,
                                                  gpointer                user_data,
                                                  GDestroyNotify          destroy,
                                                  guint32                 handle,
                                                  gboolean                persist,
                                                  MitogenContext         *respondent);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_router_del_handler       (MitogenRouter        *self,
                                                  guint32               handle);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_router_add_route         (MitogenRouter        *self,
                                                  guint32               target_id,
                                                  guint32               via_id,
                                                  GError              **error);
MITOGEN_AVAILABLE_IN_ALL
MitogenStream  *mitogen_router_stream_by_id      (MitogenRouter        *self,
                                                  guint32               dst_id);
MITOGEN_AVAILABLE_IN_ALL
guint32         mitogen_router_allocate_id       (MitogenRouter        *self,
                                                  GError              **error);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_router_register          (MitogenRouter        *self,
                                                  MitogenContext       *context,
                                                  MitogenStream        *stream);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_router_enable_debug      (MitogenRouter        *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_router_get_profiling     (MitogenRouter        *self);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_router_set_profiling     (MitogenRouter        *self,
                                                  gboolean              profiling);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_router_set_default_agent (MitogenRouter        *self,
                                                  const char           *agent);
MITOGEN_AVAILABLE_IN_ALL
const char     *mitogen_router_get_default_agent (MitogenRouter        *self);

MITOGEN_AVAILABLE_IN_ALL
void                mitogen_router_set_interaction   (MitogenRouter       *self,
                                                      MitogenInteraction  *interaction);
MITOGEN_AVAILABLE_IN_ALL
MitogenInteraction *mitogen_router_get_interaction   (MitogenRouter       *self);
MITOGEN_AVAILABLE_IN_ALL
MitogenInteraction *mitogen_router_dup_interaction   (MitogenRouter       *self);

G_END_DECLS
