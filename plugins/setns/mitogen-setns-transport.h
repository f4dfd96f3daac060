/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#include <mitogen/mitogen.h>

G_BEGIN_DECLS

#define MITOGEN_TYPE_SETNS_TRANSPORT (mitogen_setns_transport_get_type ())
G_DECLARE_FINAL_TYPE (MitogenSetnsTransport, mitogen_setns_transport, MITOGEN, SETNS_TRANSPORT, MitogenTransport)

/* Registers the transport's type with @module (a GIOModule, or the static
 * agent's own module). Call once, before using the type. */
void mitogen_setns_transport_register (GTypeModule *module);

G_END_DECLS
