/* mitogen-agent — the program every child context runs
 *
 * The transports it can start children with (for `via`) are compiled in:
 * a fully static program cannot load plugin modules.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-agent-private.h"
#include "mitogen-transport-private.h"
#include "mitogen-local-transport.h"
#include "mitogen-ssh-transport.h"
#include "mitogen-sudo-transport.h"
#include "mitogen-docker-transport.h"

static const MitogenBuiltinTransport builtin_transports[] = {
  { "local", mitogen_local_transport_register, mitogen_local_transport_get_type },
  { "ssh", mitogen_ssh_transport_register, mitogen_ssh_transport_get_type },
  { "sudo", mitogen_sudo_transport_register, mitogen_sudo_transport_get_type },
  { "docker", mitogen_docker_transport_register, mitogen_docker_transport_get_type },
  { NULL, NULL, NULL },
};

int
main (int    argc,
      char **argv)
{
  mitogen_plugins_use_builtin (builtin_transports);
  return mitogen_agent_main (argc, argv);
}
