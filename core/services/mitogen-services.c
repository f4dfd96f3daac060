/* mitogen-services.c — the one list of what every context serves
 *
 * Built-ins (os.*, socket.*, subprocess.run/check_output, file.read/write,
 * mitogen.*), process streams (subprocess.stream) and file transfers
 * (file.send_tree/receive_tree), D-Bus tunnels (dbus.open): each file keeps its table next to its
 * functions; this file registers them all, once.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-services"

#include "config.h"

#include "mitogen-services-private.h"

static const MitogenFunctionInfo *const tables[] = {
  mitogen_builtin_functions,
  mitogen_process_serve_functions,
  mitogen_transfer_serve_functions,
  mitogen_dbus_serve_functions,
};

void
mitogen_services_register (void)
{
  static gsize once;

  if (g_once_init_enter (&once))
    {
      for (gsize i = 0; i < G_N_ELEMENTS (tables); i++)
        mitogen_register_function_table (tables[i]);
      mitogen_mark_functions_quick (mitogen_builtin_quick_functions);
      g_once_init_leave (&once, 1);
    }
}
