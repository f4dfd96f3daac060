/* mitogen-ssh-module.c — GIO module entry points of the `ssh` method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-ssh-transport.h"

G_MODULE_EXPORT void g_io_mitogen_ssh_load   (GIOModule *module);
G_MODULE_EXPORT void g_io_mitogen_ssh_unload (GIOModule *module);
G_MODULE_EXPORT char **g_io_mitogen_ssh_query (void);

void
g_io_mitogen_ssh_load (GIOModule *module)
{
  mitogen_ssh_transport_register (G_TYPE_MODULE (module));
  g_io_extension_point_implement (MITOGEN_TRANSPORT_EXTENSION_POINT_NAME,
                                  MITOGEN_TYPE_SSH_TRANSPORT, "ssh", 0);
  /* Types of a GTypeModule cannot be unloaded safely, and libssh is
   * initialised: stay loaded. */
  g_type_module_use (G_TYPE_MODULE (module));
}

void
g_io_mitogen_ssh_unload (GIOModule *module)
{
}

char **
g_io_mitogen_ssh_query (void)
{
  char *names[] = { (char *) MITOGEN_TRANSPORT_EXTENSION_POINT_NAME, NULL };
  return g_strdupv (names);
}
