/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>

G_BEGIN_DECLS

#define MITOGEN_TYPE_CHANNEL (mitogen_channel_get_type ())

MITOGEN_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MitogenChannel, mitogen_channel, MITOGEN, CHANNEL, GObject)

MITOGEN_AVAILABLE_IN_ALL
MitogenChannel  *mitogen_channel_new          (MitogenRouter    *router,
                                               MitogenContext   *context,
                                               guint32           dst_handle,
                                               guint32           handle);
MITOGEN_AVAILABLE_IN_ALL
MitogenReceiver *mitogen_channel_get_receiver (MitogenChannel   *self);
MITOGEN_AVAILABLE_IN_ALL
MitogenSender   *mitogen_channel_get_sender   (MitogenChannel   *self);
MITOGEN_AVAILABLE_IN_ALL
guint32          mitogen_channel_get_handle   (MitogenChannel   *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean         mitogen_channel_put          (MitogenChannel   *self,
                                               GVariant         *value,
                                               GError          **error);
MITOGEN_AVAILABLE_IN_ALL
MitogenMessage  *mitogen_channel_get          (MitogenChannel   *self,
                                               double            timeout_seconds,
                                               GError          **error);
MITOGEN_AVAILABLE_IN_ALL
GVariant        *mitogen_channel_get_data     (MitogenChannel   *self,
                                               double            timeout_seconds,
                                               GError          **error);
MITOGEN_AVAILABLE_IN_ALL
gboolean         mitogen_channel_close        (MitogenChannel   *self,
                                               GError          **error);

G_END_DECLS
