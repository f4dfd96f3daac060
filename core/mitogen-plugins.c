/* mitogen-plugins.c — finding transport plugins and the agent program
 *
 * Plugins are GIO modules implementing the "mitogen-transport" extension
 * point. They are loaded once, from (in this order, first one wins for a
 * given module name): each directory in MITOGEN_PLUGIN_PATH, the build
 * tree's plugins/<name>/ when this library runs uninstalled, and the
 * install directory.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-plugins"

#include "config.h"

#include <dlfcn.h>

#include "mitogen-transport-private.h"

gboolean
mitogen_running_uninstalled (void)
{
  static gsize once;
  static gboolean uninstalled;

  if (g_once_init_enter (&once))
    {
      Dl_info info;

      if (dladdr ((void *) mitogen_running_uninstalled, &info) != 0 && info.dli_fname != NULL)
        {
          g_autofree char *real = g_canonicalize_filename (info.dli_fname, NULL);
          g_autofree char *root = g_strconcat (MITOGEN_BUILD_ROOT, "/", NULL);
          uninstalled = g_str_has_prefix (real, root);
        }
      g_once_init_leave (&once, 1);
    }
  return uninstalled;
}

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

/* A GTypeModule for transports compiled into the program (the static
 * agent cannot load modules): registration works as for a plugin, and the
 * module is never unloaded. */
#define MITOGEN_TYPE_BUILTIN_MODULE (mitogen_builtin_module_get_type ())
G_DECLARE_FINAL_TYPE (MitogenBuiltinModule, mitogen_builtin_module, MITOGEN, BUILTIN_MODULE, GTypeModule)

struct _MitogenBuiltinModule
{
  GTypeModule parent_instance;
};

G_DEFINE_FINAL_TYPE (MitogenBuiltinModule, mitogen_builtin_module, G_TYPE_TYPE_MODULE)

static gboolean
builtin_module_load (GTypeModule *module)
{
  return TRUE;
}

static void
builtin_module_unload (GTypeModule *module)
{
}

static void
mitogen_builtin_module_class_init (MitogenBuiltinModuleClass *klass)
{
  GTypeModuleClass *module_class = G_TYPE_MODULE_CLASS (klass);

  module_class->load = builtin_module_load;
  module_class->unload = builtin_module_unload;
}

static void
mitogen_builtin_module_init (MitogenBuiltinModule *self)
{
}

static const MitogenBuiltinTransport *builtins;  /* (unowned) NULL-terminated, set before use */

void
mitogen_plugins_use_builtin (const MitogenBuiltinTransport *list)
{
  builtins = list;
}

static void
register_builtins (void)
{
  GTypeModule *module = g_object_new (MITOGEN_TYPE_BUILTIN_MODULE, NULL);

  g_type_module_set_name (module, "mitogen-builtin-transports");
  g_type_module_use (module);  /* held for the life of the process */
  for (const MitogenBuiltinTransport *b = builtins; b->method != NULL; b++)
    {
      b->register_types (module);
      g_io_extension_point_implement (MITOGEN_TRANSPORT_EXTENSION_POINT_NAME, b->get_type (), b->method, 0);
    }
}

void
mitogen_plugins_ensure (void)
{
  static gsize once;

  if (!g_once_init_enter (&once))
    return;

  if (builtins != NULL)
    {
      GIOExtensionPoint *point = g_io_extension_point_register (MITOGEN_TRANSPORT_EXTENSION_POINT_NAME);

      g_io_extension_point_set_required_type (point, MITOGEN_TYPE_TRANSPORT);
      register_builtins ();
    }
  else
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

  g_once_init_leave (&once, 1);
}

GType
mitogen_plugins_lookup (const char *method)
{
  GIOExtensionPoint *point;
  GIOExtension *extension;

  mitogen_plugins_ensure ();
  point = g_io_extension_point_lookup (MITOGEN_TRANSPORT_EXTENSION_POINT_NAME);
  extension = g_io_extension_point_get_extension_by_name (point, method);
  return extension != NULL ? g_io_extension_get_type (extension) : G_TYPE_INVALID;
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

/**
 * mitogen_transport_list_methods:
 *
 * The connection methods that plugins (and the built-in transports) provide,
 * loading the plugins on first use. Any thread.
 *
 * Returns: (transfer full): the names of the installed connection methods,
 *   sorted
 */
char **
mitogen_transport_list_methods (void)
{
  GIOExtensionPoint *point;
  GPtrArray *names = g_ptr_array_new ();

  mitogen_plugins_ensure ();
  point = g_io_extension_point_lookup (MITOGEN_TRANSPORT_EXTENSION_POINT_NAME);
  for (GList *l = g_io_extension_point_get_extensions (point); l != NULL; l = l->next)
    g_ptr_array_add (names, g_strdup (g_io_extension_get_name (l->data)));
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return (char **) g_ptr_array_free (names, FALSE);
}

static char *self_agent_path;      /* set by the agent: its own program */
static gboolean self_agent_path_set;

void
mitogen_plugins_set_agent_path (const char *path)
{
  self_agent_path = g_strdup (path);
  self_agent_path_set = TRUE;
}

const char *
mitogen_agent_path (void)
{
  static char *path;

  static gsize once;

  if (g_once_init_enter (&once))
    {
      const char *env = g_getenv ("MITOGEN_AGENT_PATH");
      char *found;

      if (self_agent_path_set)
        found = g_strdup (self_agent_path);  /* NULL: bootstrap children from our image */
      else if (env != NULL && env[0] != '\0')
        found = g_strdup (env);
      else if (mitogen_running_uninstalled ())
        found = g_build_filename (MITOGEN_BUILD_ROOT, "core", "agent", "mitogen-agent", NULL);
      else
        found = g_build_filename (MITOGEN_LIBEXECDIR, "mitogen-agent", NULL);
      path = found;
      g_once_init_leave (&once, 1);
    }
  return path;
}
