/* mitogen-agent — the program every child context runs
 *
 * The transports it can start children with (for `via`) are compiled in:
 * a fully static program cannot load plugin modules.
 *
 * mitogen-agent-dynamic, its dynamically linked twin (agent=dynamic), is
 * also started as `--mitogen-agent NAME` (mitogen_init ()), shipped as
 * its closure, which `mitogen-agent-dynamic --closure` prints.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-agent-private.h"
#include "mitogen-agent-image-private.h"
#include "mitogen-modules-private.h"
#include "mitogen-plugins-private.h"
#include "mitogen-services-private.h"
#include "mitogen-transport-private.h"
#include "mitogen-local-transport.h"
#include "mitogen-ssh-transport.h"
#include "mitogen-sudo-transport.h"
#include "mitogen-docker-transport.h"
#include "mitogen-su-transport.h"
#include "mitogen-doas-transport.h"
#include "mitogen-pkexec-transport.h"
#include "mitogen-setns-transport.h"
#include "mitogen-podman-transport.h"
#include "mitogen-fakessh-client.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const MitogenBuiltinTransport builtin_transports[] = {
  { "local", mitogen_local_transport_register, mitogen_local_transport_get_type },
  { "ssh", mitogen_ssh_transport_register, mitogen_ssh_transport_get_type },
  { "sudo", mitogen_sudo_transport_register, mitogen_sudo_transport_get_type },
  { "docker", mitogen_docker_transport_register, mitogen_docker_transport_get_type },
  { "su", mitogen_su_transport_register, mitogen_su_transport_get_type },
  { "doas", mitogen_doas_transport_register, mitogen_doas_transport_get_type },
  { "pkexec", mitogen_pkexec_transport_register, mitogen_pkexec_transport_get_type },
  { "setns", mitogen_setns_transport_register, mitogen_setns_transport_get_type },
  { "podman", mitogen_podman_transport_register, mitogen_podman_transport_get_type },
  { NULL, NULL, NULL },
};

int
main (int    argc,
      char **argv)
{
  const char *slash = argc > 0 ? strrchr (argv[0], '/') : NULL;
  const char *name = argc > 0 ? (slash != NULL ? slash + 1 : argv[0]) : NULL;

  /* Run as `ssh` by a program under mitogen_fakessh_run () (the client
   * says so if MITOGEN_FAKESSH is missing). */
  if ((name != NULL && strcmp (name, "ssh") == 0) || (argc > 1 && strcmp (argv[1], "--fakessh-client") == 0))
    {
      int status;

      /* The explicit form is for wrappers that lose our name (valgrind). */
      if (argc > 1 && strcmp (argv[1], "--fakessh-client") == 0)
        {
          argv[1] = argv[0];
          argv++;
          argc--;
        }
      status = mitogen_fakessh_client_main (argc, argv);

      fflush (stdout);
      fflush (stderr);
      /* Other threads (broker, stdin) may still run: no exit handlers. */
      _exit (status);
    }

#ifdef MITOGEN_AGENT_STATIC
  /* No dlopen () here: calls of modules' functions say so. */
  mitogen_modules_set_static_agent ();
#endif
  mitogen_plugins_use_builtin (builtin_transports);
  /* A strong reference: the static link then takes the services layer. */
  mitogen_services_register ();
#ifdef MITOGEN_BUILDING_DYNAMIC_AGENT
  /* The master running us to learn what to ship (agent=dynamic). */
  if (argc == 2 && strcmp (argv[1], "--closure") == 0)
    return mitogen_agent_image_print_closure ();
  /* Started as `--mitogen-agent NAME ...`: serves, never returns. */
  mitogen_init (&argc, &argv);
#endif
  return mitogen_agent_main (argc, argv);
}
