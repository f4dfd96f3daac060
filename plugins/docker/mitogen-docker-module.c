/* mitogen-docker-module.c — GIO module entry points of the `docker` method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-docker-transport.h"

MITOGEN_DEFINE_TRANSPORT_MODULE (g_io_mitogen_docker, "docker",
                                 mitogen_docker_transport_register,
                                 MITOGEN_TYPE_DOCKER_TRANSPORT)
