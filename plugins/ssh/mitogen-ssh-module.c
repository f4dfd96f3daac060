/* mitogen-ssh-module.c — GIO module entry points of the `ssh` method (libssh is initialised once, too)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-ssh-transport.h"

MITOGEN_DEFINE_TRANSPORT_MODULE (g_io_mitogen_ssh, "ssh",
                                 mitogen_ssh_transport_register,
                                 MITOGEN_TYPE_SSH_TRANSPORT)
