/* mitogen-su-module.c — GIO module entry points of the `su` method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-su-transport.h"

MITOGEN_DEFINE_TRANSPORT_MODULE (g_io_mitogen_su, "su",
                                 mitogen_su_transport_register,
                                 MITOGEN_TYPE_SU_TRANSPORT)
