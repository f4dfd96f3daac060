/* mitogen-fakessh-module.c — GIO module entry points of the `fakessh` method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-fakessh-transport.h"

G_MODULE_EXPORT void g_io_mitogen_fakessh_load   (GIOModule *module);
G_MODULE_EXPORT void g_io_mitogen_fakessh_unload (GIOModule *module);
G_MODULE_EXPORT char **g_io_mitogen_fakessh_query (void);

void
g_io_mitogen_fakessh_load (GIOModule *module)
{
  mitogen_fakessh_transport_register (G_TYPE_MODULE (module));
  g_io_extension_point_implement (MITOGEN_TRANSPORT_EXTENSION_POINT_NAME,
                                  MITOGEN_TYPE_FAKESSH_TRANSPORT, "fakessh", 0);
  /* Types of a GTypeModule cannot be unloaded safely: stay loaded. */
  g_type_module_use (G_TYPE_MODULE (module));
}

void
g_io_mitogen_fakessh_unload (GIOModule *module)
{
}

char **
g_io_mitogen_fakessh_query (void)
{
  char *names[] = { (char *) MITOGEN_TRANSPORT_EXTENSION_POINT_NAME, NULL };
  return g_strdupv (names);
}
