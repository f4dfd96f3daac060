/* mitogen-plugin-modules.c — loading transport plugins as GIO modules
 *
 * Plugins are GIO modules implementing the "mitogen-transport" extension
 * point, found in (in this order, first one wins for a given module name):
 * a replicated program's transports/ (mitogen_init ()), each directory in
 * MITOGEN_PLUGIN_PATH, the build tree's plugins/<name>/
 * when this library runs uninstalled, and the install directory. A method
 * loads its own module, libmitogen-METHOD.so, when first asked for; every
 * module is loaded only to list the methods or to find one whose module
 * is named otherwise.
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
#include "mitogen-plugins-private.h"
#include "mitogen-utils-private.h"

/* One scope for the whole process: a module name loaded once (on its
 * own, or by a directory scan) is never loaded again from another
 * directory. Under `lock`, like everything that loads. */
static GMutex lock;
static GIOModuleScope *scope;
static gboolean scanned;    /* every directory was loaded */

/* The directories, in order of precedence. */
static GPtrArray *
plugin_dirs (void)
{
  GPtrArray *dirs = g_ptr_array_new_with_free_func (g_free);
  const char *env = g_getenv ("MITOGEN_PLUGIN_PATH");
  const char *closure = mitogen_plugins_get_closure_dir ();

  /* A replicated program: the plugins that were shipped with it. */
  if (closure != NULL)
    g_ptr_array_add (dirs, g_build_filename (closure, "transports", NULL));

  if (env != NULL)
    {
      g_auto(GStrv) parts = g_strsplit (env, G_SEARCHPATH_SEPARATOR_S, -1);

      for (guint i = 0; parts[i] != NULL; i++)
        if (parts[i][0] != '\0')
          g_ptr_array_add (dirs, g_strdup (parts[i]));
    }
  if (mitogen_running_uninstalled ())
    {
      g_autofree char *top = g_build_filename (MITOGEN_BUILD_ROOT, "plugins", NULL);
      g_autoptr(GDir) d = g_dir_open (top, 0, NULL);
      const char *name;

      while (d != NULL && (name = g_dir_read_name (d)) != NULL)
        g_ptr_array_add (dirs, g_build_filename (top, name, NULL));
    }
  g_ptr_array_add (dirs, g_strdup (MITOGEN_PLUGINDIR));
  return dirs;
}

/* Under `lock`: loads every module of every directory (once). */
static void
scan_all_locked (void)
{
  g_autoptr(GPtrArray) dirs = NULL;

  if (scanned)
    return;
  scanned = TRUE;
  dirs = plugin_dirs ();
  for (guint i = 0; i < dirs->len; i++)
    {
      const char *dir = g_ptr_array_index (dirs, i);

      if (g_file_test (dir, G_FILE_TEST_IS_DIR))
        /* Modules stay loaded for the life of the process. */
        g_list_free (g_io_modules_load_all_in_directory_with_scope (dir, scope));
    }
}

/* Under `lock`: loads libmitogen-METHOD.so, the module our own plugins
 * and the guide's naming give a method, from the first directory that has
 * it. A connect then loads only what it needs (libssh and its Kerberos
 * libraries cost ~5 ms to load for nothing in a local connect). */
static void
load_named_locked (const char *method)
{
  g_autoptr(GPtrArray) dirs = NULL;
  g_autofree char *basename = NULL;

  /* Never a path from a user's CHAIN: method names are plain words. */
  for (const char *c = method; *c != '\0'; c++)
    if (!g_ascii_isalnum (*c) && *c != '-' && *c != '_')
      return;
  if (method[0] == '\0' || scanned)
    return;

  basename = g_strdup_printf ("libmitogen-%s.so", method);
  dirs = plugin_dirs ();
  for (guint i = 0; i < dirs->len; i++)
    {
      g_autofree char *path = g_build_filename (g_ptr_array_index (dirs, i), basename, NULL);
      GIOModule *module;

      if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
        continue;
      g_io_module_scope_block (scope, basename);
      module = g_io_module_new (path);
      /* Loading registers the types and the extension; the module keeps
       * itself loaded (MITOGEN_DEFINE_TRANSPORT_MODULE). */
      if (g_type_module_use (G_TYPE_MODULE (module)))
        g_type_module_unuse (G_TYPE_MODULE (module));
      else
        g_warning ("could not load the transport plugin %s", path);
      return;
    }
}

static void
modules_ensure (void)
{
  GIOExtensionPoint *point = g_io_extension_point_register (MITOGEN_TRANSPORT_EXTENSION_POINT_NAME);

  g_io_extension_point_set_required_type (point, MITOGEN_TYPE_TRANSPORT);
  scope = g_io_module_scope_new (G_IO_MODULE_SCOPE_BLOCK_DUPLICATES);
}

static GType
lookup_locked (const char *method)
{
  GIOExtensionPoint *point = g_io_extension_point_lookup (MITOGEN_TRANSPORT_EXTENSION_POINT_NAME);
  GIOExtension *extension = g_io_extension_point_get_extension_by_name (point, method);

  return extension != NULL ? g_io_extension_get_type (extension) : G_TYPE_INVALID;
}

/* The method's type: its own module first, every module if that is not
 * enough (a third-party plugin named otherwise). */
static GType
modules_lookup (const char *method)
{
  GType type;

  g_mutex_lock (&lock);
  type = lookup_locked (method);
  if (type == G_TYPE_INVALID)
    {
      load_named_locked (method);
      type = lookup_locked (method);
    }
  if (type == G_TYPE_INVALID)
    {
      scan_all_locked ();
      type = lookup_locked (method);
    }
  g_mutex_unlock (&lock);
  return type;
}

static char **
modules_list (void)
{
  GIOExtensionPoint *point = g_io_extension_point_lookup (MITOGEN_TRANSPORT_EXTENSION_POINT_NAME);
  GPtrArray *names = g_ptr_array_new ();

  g_mutex_lock (&lock);
  scan_all_locked ();
  for (GList *l = g_io_extension_point_get_extensions (point); l != NULL; l = l->next)
    g_ptr_array_add (names, g_strdup (g_io_extension_get_name (l->data)));
  g_mutex_unlock (&lock);
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
