/* mitogen-fakessh-module.c — GIO module entry points of the `fakessh` method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-fakessh-transport.h"

MITOGEN_DEFINE_TRANSPORT_MODULE (g_io_mitogen_fakessh, "fakessh",
                                 mitogen_fakessh_transport_register,
                                 MITOGEN_TYPE_FAKESSH_TRANSPORT)
