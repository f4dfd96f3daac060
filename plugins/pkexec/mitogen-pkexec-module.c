/* mitogen-pkexec-module.c — GIO module entry points of the `su` method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-pkexec-transport.h"

MITOGEN_DEFINE_TRANSPORT_MODULE (g_io_mitogen_pkexec, "pkexec",
                                 mitogen_pkexec_transport_register,
                                 MITOGEN_TYPE_PKEXEC_TRANSPORT)
