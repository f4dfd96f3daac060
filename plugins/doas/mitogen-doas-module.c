/* mitogen-doas-module.c — GIO module entry points of the `su` method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-doas-transport.h"

MITOGEN_DEFINE_TRANSPORT_MODULE (g_io_mitogen_doas, "doas",
                                 mitogen_doas_transport_register,
                                 MITOGEN_TYPE_DOAS_TRANSPORT)
