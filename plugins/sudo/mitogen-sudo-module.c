/* mitogen-sudo-module.c — GIO module entry points of the `sudo` method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-sudo-transport.h"

MITOGEN_DEFINE_TRANSPORT_MODULE (g_io_mitogen_sudo, "sudo",
                                 mitogen_sudo_transport_register,
                                 MITOGEN_TYPE_SUDO_TRANSPORT)
