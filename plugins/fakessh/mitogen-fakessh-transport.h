/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#include <mitogen/mitogen.h>

G_BEGIN_DECLS

#define MITOGEN_TYPE_FAKESSH_TRANSPORT (mitogen_fakessh_transport_get_type ())
G_DECLARE_FINAL_TYPE (MitogenFakesshTransport, mitogen_fakessh_transport, MITOGEN, FAKESSH_TRANSPORT, MitogenTransport)

void mitogen_fakessh_transport_register (GTypeModule *module);

G_END_DECLS
