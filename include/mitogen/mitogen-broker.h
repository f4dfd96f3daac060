/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>

G_BEGIN_DECLS

#define MITOGEN_TYPE_BROKER (mitogen_broker_get_type ())

MITOGEN_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MitogenBroker, mitogen_broker, MITOGEN, BROKER, GObject)

MITOGEN_AVAILABLE_IN_ALL
MitogenBroker *mitogen_broker_new                  (void);
MITOGEN_AVAILABLE_IN_ALL
GMainContext  *mitogen_broker_get_main_context     (MitogenBroker  *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean       mitogen_broker_is_broker_thread     (MitogenBroker  *self);
MITOGEN_AVAILABLE_IN_ALL
void           mitogen_broker_defer                (MitogenBroker  *self,
                                                    GSourceFunc     func,
                                                    gpointer        data,
                                                    GDestroyNotify  destroy);
MITOGEN_AVAILABLE_IN_ALL
double         mitogen_broker_get_shutdown_timeout (MitogenBroker  *self);
MITOGEN_AVAILABLE_IN_ALL
void           mitogen_broker_set_shutdown_timeout (MitogenBroker  *self,
                                                    double          seconds);
MITOGEN_AVAILABLE_IN_ALL
void           mitogen_broker_shutdown             (MitogenBroker  *self);
MITOGEN_AVAILABLE_IN_ALL
void           mitogen_broker_join                 (MitogenBroker  *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean       mitogen_broker_is_running           (MitogenBroker  *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean       mitogen_broker_keep_alive           (MitogenBroker  *self);
MITOGEN_AVAILABLE_IN_ALL
void           mitogen_broker_start_receive        (MitogenBroker  *self,
                                                    MitogenStream  *stream);
MITOGEN_AVAILABLE_IN_ALL
void           mitogen_broker_stop_receive         (MitogenBroker  *self,
                                                    MitogenStream  *stream);
MITOGEN_AVAILABLE_IN_ALL
void           mitogen_broker_start_transmit       (MitogenBroker  *self,
                                                    MitogenStream  *stream);
MITOGEN_AVAILABLE_IN_ALL
void           mitogen_broker_stop_transmit        (MitogenBroker  *self,
                                                    MitogenStream  *stream);

G_END_DECLS
