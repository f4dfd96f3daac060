/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#include <mitogen/mitogen.h>

G_BEGIN_DECLS

#define MITOGEN_TYPE_LOCAL_TRANSPORT (mitogen_local_transport_get_type ())
G_DECLARE_FINAL_TYPE (MitogenLocalTransport, mitogen_local_transport, MITOGEN, LOCAL_TRANSPORT, MitogenTransport)

void mitogen_local_transport_register (GTypeModule *module);

G_END_DECLS
