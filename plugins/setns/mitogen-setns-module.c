/* mitogen-setns-module.c — GIO module entry points of the `su` method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-setns-transport.h"

MITOGEN_DEFINE_TRANSPORT_MODULE (g_io_mitogen_setns, "setns",
                                 mitogen_setns_transport_register,
                                 MITOGEN_TYPE_SETNS_TRANSPORT)
