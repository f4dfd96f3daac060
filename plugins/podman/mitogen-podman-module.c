/* mitogen-podman-module.c — GIO module entry points of the `su` method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-podman-transport.h"

MITOGEN_DEFINE_TRANSPORT_MODULE (g_io_mitogen_podman, "podman",
                                 mitogen_podman_transport_register,
                                 MITOGEN_TYPE_PODMAN_TRANSPORT)
