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

#include "mitogen-command-transport-private.h"
#include "mitogen-transport-private.h"
#include "mitogen-plugins-private.h"
#include "mitogen-utils-private.h"

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

gboolean
mitogen_plugins_are_builtin (void)
{
  return builtins != NULL;
}

static char *closure_dir;  /* (owned) (nullable) set once, before any plugin is looked up */

void
mitogen_plugins_set_closure_dir (const char *dir)
{
  g_free (closure_dir);
  closure_dir = g_strdup (dir);
}

const char *
mitogen_plugins_get_closure_dir (void)
{
  return closure_dir;
}

static const MitogenPluginLoader *loader;  /* (unowned) set by mitogen-plugin-modules.c */

void
mitogen_plugins_set_loader (const MitogenPluginLoader *plugin_loader)
{
  loader = plugin_loader;
}

static void
register_builtins (void)
{
  GTypeModule *module = g_object_new (MITOGEN_TYPE_BUILTIN_MODULE, NULL);

  g_type_module_set_name (module, "mitogen-builtin-transports");
  g_type_module_use (module);  /* held for the life of the process */
  for (const MitogenBuiltinTransport *b = builtins; b->method != NULL; b++)
    b->register_types (module);
}

/* Transports come from the built-in list (the agent) or from plugin
 * modules (the library: mitogen-plugin-modules.c installs the loader). The
 * agent never links the module loader, and with it GIO's whole extension
 * point machinery. */
void
mitogen_plugins_ensure (void)
{
  static gsize once;

  if (!g_once_init_enter (&once))
    return;

  if (builtins != NULL)
    register_builtins ();
  else if (loader != NULL)
    loader->ensure ();

  g_once_init_leave (&once, 1);
}

GType
mitogen_plugins_lookup (const char *method)
{
  /* Every program has `command` (how a declarative plugin it lacks is
   * started through it, see mitogen-command-transport.c). */
  if (g_strcmp0 (method, MITOGEN_COMMAND_METHOD) == 0)
    return MITOGEN_TYPE_COMMAND_TRANSPORT;
  mitogen_plugins_ensure ();

  if (builtins != NULL)
    {
      for (const MitogenBuiltinTransport *b = builtins; b->method != NULL; b++)
        if (g_strcmp0 (b->method, method) == 0)
          return b->get_type ();
      return G_TYPE_INVALID;
    }
  return loader != NULL ? loader->lookup (method) : G_TYPE_INVALID;
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
  GPtrArray *names;

  mitogen_plugins_ensure ();
  if (builtins == NULL && loader != NULL)
    {
      g_auto(GStrv) loaded = loader->list ();

      names = g_ptr_array_new ();
      for (guint i = 0; loaded[i] != NULL; i++)
        if (!g_str_equal (loaded[i], MITOGEN_COMMAND_METHOD))
          g_ptr_array_add (names, g_strdup (loaded[i]));
      g_ptr_array_add (names, g_strdup (MITOGEN_COMMAND_METHOD));
      return mitogen_strv_take_sorted (names);
    }

  names = g_ptr_array_new ();
  g_ptr_array_add (names, g_strdup (MITOGEN_COMMAND_METHOD));
  if (builtins != NULL)
    for (const MitogenBuiltinTransport *b = builtins; b->method != NULL; b++)
      g_ptr_array_add (names, g_strdup (b->method));
  return mitogen_strv_take_sorted (names);
}

static char *self_agent_path;      /* set by the agent: its own program */
static gboolean self_agent_path_set;
static gboolean self_agent_path_from_proc;

void
mitogen_plugins_set_agent_path (const char *path)
{
  self_agent_path = g_strdup (path);
  self_agent_path_set = TRUE;
}

void
mitogen_plugins_set_agent_path_self (void)
{
  self_agent_path_from_proc = TRUE;
  self_agent_path_set = TRUE;
}

/* Our program's path, read when a child is first started rather than at
 * every agent's start (a system call that costs ~1.5 % of a local start
 * on a virtual machine). A program replaced since it started reads as
 * "PATH (deleted)": PATH is still where it is installed. */
static char *
read_self_path (void)
{
  char *link = g_file_read_link ("/proc/self/exe", NULL);

  if (link != NULL && g_str_has_suffix (link, " (deleted)"))
    link[strlen (link) - strlen (" (deleted)")] = '\0';
  return link;
}

/* MITOGEN_AGENT_DYNAMIC_PATH, the build tree's, or libexecdir's. */
const char *
mitogen_agent_dynamic_path (void)
{
  static char *path;
  static gsize once;

  if (g_once_init_enter (&once))
    {
      const char *env = g_getenv ("MITOGEN_AGENT_DYNAMIC_PATH");

      if (env != NULL && env[0] != '\0')
        path = g_strdup (env);
      else if (mitogen_running_uninstalled ())
        path = g_build_filename (MITOGEN_BUILD_ROOT, "agent", "mitogen-agent-dynamic", NULL);
      else
        path = g_build_filename (MITOGEN_LIBEXECDIR, "mitogen-agent-dynamic", NULL);
      g_once_init_leave (&once, 1);
    }
  return path;
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

      if (self_agent_path_from_proc)
        found = read_self_path ();
      else if (self_agent_path_set)
        found = g_strdup (self_agent_path);  /* NULL: bootstrap children from our image */
      else if (env != NULL && env[0] != '\0')
        found = g_strdup (env);
      else if (mitogen_running_uninstalled ())
        found = g_build_filename (MITOGEN_BUILD_ROOT, "agent", "mitogen-agent", NULL);
      else
        found = g_build_filename (MITOGEN_LIBEXECDIR, "mitogen-agent", NULL);
      path = found;
      g_once_init_leave (&once, 1);
    }
  return path;
}
