/* mitogen-plugin-modules.c — loading transport plugins as GIO modules
 *
 * Plugins are GIO modules implementing the "mitogen-transport" extension
 * point. They are loaded once, from (in this order, first one wins for a
 * given module name): each directory in MITOGEN_PLUGIN_PATH, the build
 * tree's plugins/<name>/ when this library runs uninstalled, and the
 * install directory.
 *
 * Only the shared library links this file (nothing calls into it: a
 * constructor installs it as the loader). The static agent uses its
 * compiled-in transports and so never pulls in GIO's module machinery.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-plugins"

#include "config.h"

#include "mitogen-transport-private.h"

static void
load_dir (const char      *dir,
          GIOModuleScope  *scope)
{
  GList *modules;

  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    return;
  modules = g_io_modules_load_all_in_directory_with_scope (dir, scope);
  /* Modules stay loaded for the life of the process. */
  g_list_free (modules);
}

static void
modules_ensure (void)
{
  GIOExtensionPoint *point = g_io_extension_point_register (MITOGEN_TRANSPORT_EXTENSION_POINT_NAME);
  GIOModuleScope *scope = g_io_module_scope_new (G_IO_MODULE_SCOPE_BLOCK_DUPLICATES);
  const char *env = g_getenv ("MITOGEN_PLUGIN_PATH");

  g_io_extension_point_set_required_type (point, MITOGEN_TYPE_TRANSPORT);

  if (env != NULL)
    {
      g_auto(GStrv) dirs = g_strsplit (env, G_SEARCHPATH_SEPARATOR_S, -1);
      for (guint i = 0; dirs[i] != NULL; i++)
        if (dirs[i][0] != '\0')
          load_dir (dirs[i], scope);
    }

  if (mitogen_running_uninstalled ())
    {
      g_autofree char *top = g_build_filename (MITOGEN_BUILD_ROOT, "plugins", NULL);
      g_autoptr(GDir) d = g_dir_open (top, 0, NULL);
      const char *name;

      while (d != NULL && (name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *sub = g_build_filename (top, name, NULL);
          load_dir (sub, scope);
        }
    }

  load_dir (MITOGEN_PLUGINDIR, scope);
  g_io_module_scope_free (scope);
}

static GType
modules_lookup (const char *method)
{
  GIOExtensionPoint *point = g_io_extension_point_lookup (MITOGEN_TRANSPORT_EXTENSION_POINT_NAME);
  GIOExtension *extension = g_io_extension_point_get_extension_by_name (point, method);

  return extension != NULL ? g_io_extension_get_type (extension) : G_TYPE_INVALID;
}

static char **
modules_list (void)
{
  GIOExtensionPoint *point = g_io_extension_point_lookup (MITOGEN_TRANSPORT_EXTENSION_POINT_NAME);
  GPtrArray *names = g_ptr_array_new ();

  for (GList *l = g_io_extension_point_get_extensions (point); l != NULL; l = l->next)
    g_ptr_array_add (names, g_strdup (g_io_extension_get_name (l->data)));
  return mitogen_strv_take_sorted (names);
}

static const MitogenPluginLoader module_loader = {
  .ensure = modules_ensure,
  .lookup = modules_lookup,
  .list = modules_list,
};

__attribute__((constructor))
static void
install_module_loader (void)
{
  mitogen_plugins_set_loader (&module_loader);
}
