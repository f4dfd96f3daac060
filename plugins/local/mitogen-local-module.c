/* mitogen-local-module.c — GIO module entry points of the `local` method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-local-transport.h"

MITOGEN_DEFINE_TRANSPORT_MODULE (g_io_mitogen_local, "local",
                                 mitogen_local_transport_register,
                                 MITOGEN_TYPE_LOCAL_TRANSPORT)
