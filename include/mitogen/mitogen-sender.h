/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>

G_BEGIN_DECLS

#define MITOGEN_TYPE_SENDER (mitogen_sender_get_type ())

MITOGEN_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MitogenSender, mitogen_sender, MITOGEN, SENDER, GObject)

MITOGEN_AVAILABLE_IN_ALL
MitogenSender  *mitogen_sender_new            (MitogenContext  *context,
                                               guint32          dst_handle);
MITOGEN_AVAILABLE_IN_ALL
MitogenContext *mitogen_sender_get_context    (MitogenSender   *self);
MITOGEN_AVAILABLE_IN_ALL
guint32         mitogen_sender_get_dst_handle (MitogenSender   *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_sender_put            (MitogenSender   *self,
                                               GVariant        *value,
                                               GError         **error);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_sender_close          (MitogenSender   *self,
                                               GError         **error);

G_END_DECLS
