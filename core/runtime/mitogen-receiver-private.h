/* mitogen-receiver-private.h — internals of MitogenReceiver (runtime layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

/* Broker thread, no lock held; must not block. Used by Select and calls. */
typedef void (*MitogenReceiverNotify) (MitogenReceiver *receiver,
                                       gpointer         user_data);

/* Any thread (the broker's for arriving messages), no lock held; must not
 * block. @owner is a strong reference for the duration of the call. */
typedef void (*MitogenReceiverOwnerNotify) (MitogenReceiver *receiver,
                                            GObject         *owner);

void            mitogen_receiver_deliver      (MitogenReceiver            *self,
                                               MitogenMessage             *message);
void            mitogen_receiver_set_notify   (MitogenReceiver            *self,
                                               MitogenReceiverNotify       notify,
                                               gpointer                    user_data);

/* Ownership by a select (weakly held). Any thread. */
gboolean        mitogen_receiver_claim        (MitogenReceiver            *self,
                                               GObject                    *owner,
                                               MitogenReceiverOwnerNotify  notify);
void            mitogen_receiver_release      (MitogenReceiver            *self,
                                               GObject                    *owner);
MitogenMessage *mitogen_receiver_poll         (MitogenReceiver            *self,
                                               gboolean                   *closed);
gboolean        mitogen_receiver_is_ready     (MitogenReceiver            *self);
gboolean        mitogen_receiver_has_received_handlers (MitogenReceiver   *self);

G_END_DECLS
