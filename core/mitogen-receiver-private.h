/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

/* Broker thread, no lock held; must not block. Used by Select and calls. */
typedef void (*MitogenReceiverNotify) (MitogenReceiver *receiver,
                                       gpointer         user_data);

void mitogen_receiver_deliver     (MitogenReceiver       *self,
                                   MitogenMessage        *message);
void mitogen_receiver_set_notify  (MitogenReceiver       *self,
                                   MitogenReceiverNotify  notify,
                                   gpointer               user_data);

G_END_DECLS
