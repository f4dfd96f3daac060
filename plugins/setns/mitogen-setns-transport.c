/* mitogen-setns-transport.c — the `setns` method: a context in namespaces
 *
 * The seed's `Router.setns()` enters a container's namespaces itself
 * (setns(2) in a forked child, for docker, lxc, machinectl... names). We
 * leave the system calls to util-linux nsenter, as a command line (the
 * declarative build_command, so that an intermediate agent that lacks
 * this plugin can still run it, `via`):
 *
 *   nsenter --target PID --net --mount [--uts --ipc --pid ...] -- argv...
 *   nsenter --net=/run/netns/NAME -- argv...                  (ip netns)
 *
 * Entering another process's namespaces needs CAP_SYS_ADMIN (root, or a
 * sudo hop before: `sudo/setns:blue`). In a mount namespace our agent may
 * not be at its path: stage 1 then has it shipped (shares_files).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-setns"

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mitogen-setns-transport.h"

struct _MitogenSetnsTransport
{
  MitogenTransport parent_instance;

  int    pid;            /* 0: none */
  char  *netns;          /* (owned) (nullable) */
  char **namespaces;     /* (owned) (nullable) NULL: the default */
  char  *nsenter_path;   /* (owned) (nullable) NULL: nsenter from PATH */
};

typedef enum
{
  PROP_TARGET = 1,
  PROP_PID,
  PROP_NETNS,
  PROP_NAMESPACES,
  PROP_NSENTER_PATH,
} MitogenSetnsTransportProperty;

static GParamSpec *props[PROP_NSENTER_PATH + 1];

G_DEFINE_DYNAMIC_TYPE (MitogenSetnsTransport, mitogen_setns_transport, MITOGEN_TYPE_TRANSPORT)

/* The namespaces nsenter knows, by the name its long options use. */
static const char * const known_namespaces[] = { "net", "mount", "uts", "ipc", "pid", "user", "cgroup", "time", NULL };
static const char * const default_namespaces[] = { "net", "mount", NULL };

static gboolean
valid_netns_name (const char *name)
{
  return name[0] != '\0' && strchr (name, '/') == NULL && strcmp (name, ".") != 0 && strcmp (name, "..") != 0;
}

/* g_strv_builder_take () is GLib 2.80. */
static void
add_owned (GStrvBuilder *builder,
           char         *value)
{
  g_strv_builder_add (builder, value);
  g_free (value);
}

/* Any thread. */
static char **
mitogen_setns_transport_build_command (MitogenTransport    *transport,
                                       const char * const  *argv,
                                       GError             **error)
{
  MitogenSetnsTransport *self = MITOGEN_SETNS_TRANSPORT (transport);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  const char * const *namespaces = self->namespaces != NULL ? (const char * const *) self->namespaces
                                                            : default_namespaces;

  if ((self->pid > 0) == (self->netns != NULL))
    {
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                           "setns needs either a pid or a netns (one of them)");
      return NULL;
    }
  if (self->netns != NULL && !valid_netns_name (self->netns))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "invalid netns name '%s' (a name in /run/netns, as `ip netns` shows)", self->netns);
      return NULL;
    }
  if (self->namespaces != NULL && self->namespaces[0] == NULL)
    {
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                           "namespaces: at least one namespace is needed");
      return NULL;
    }
  for (gsize i = 0; namespaces[i] != NULL; i++)
    {
      if (!g_strv_contains (known_namespaces, namespaces[i]))
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                       "namespaces: unknown namespace '%s' (known: net, mount, uts, ipc, pid, user, "
                       "cgroup, time)", namespaces[i]);
          return NULL;
        }
      if (self->netns != NULL && self->namespaces != NULL && strcmp (namespaces[i], "net") != 0)
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                       "namespaces: a named netns has only a network namespace ('%s' needs a pid)",
                       namespaces[i]);
          return NULL;
        }
    }

  g_strv_builder_add (builder, self->nsenter_path != NULL ? self->nsenter_path : "nsenter");
  if (self->netns != NULL)
    add_owned (builder, g_strdup_printf ("--net=/run/netns/%s", self->netns));
  else
    {
      g_strv_builder_add (builder, "--target");
      add_owned (builder, g_strdup_printf ("%d", self->pid));
      for (gsize i = 0; namespaces[i] != NULL; i++)
        add_owned (builder, g_strconcat ("--", namespaces[i], NULL));
    }
  g_strv_builder_add (builder, "--");
  g_strv_builder_addv (builder, (const char **) argv);
  return g_strv_builder_end (builder);
}

/* --- properties ----------------------------------------------------------- */

static void
mitogen_setns_transport_get_property (GObject    *object,
                                      guint       prop_id,
                                      GValue     *value,
                                      GParamSpec *pspec)
{
  MitogenSetnsTransport *self = MITOGEN_SETNS_TRANSPORT (object);

  switch ((MitogenSetnsTransportProperty) prop_id)
    {
    case PROP_TARGET:
      if (self->netns != NULL)
        g_value_set_string (value, self->netns);
      else if (self->pid > 0)
        g_value_take_string (value, g_strdup_printf ("%d", self->pid));
      else
        g_value_set_string (value, NULL);
      break;
    case PROP_PID:
      g_value_set_int (value, self->pid);
      break;
    case PROP_NETNS:
      g_value_set_string (value, self->netns);
      break;
    case PROP_NAMESPACES:
      g_value_set_boxed (value, self->namespaces != NULL ? (const char * const *) self->namespaces
                                                         : default_namespaces);
      break;
    case PROP_NSENTER_PATH:
      g_value_set_string (value, self->nsenter_path != NULL ? self->nsenter_path : "nsenter");
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static gboolean
all_digits (const char *s)
{
  if (s == NULL || *s == '\0')
    return FALSE;
  for (; *s != '\0'; s++)
    if (!g_ascii_isdigit (*s))
      return FALSE;
  return TRUE;
}

static void
mitogen_setns_transport_set_property (GObject      *object,
                                      guint         prop_id,
                                      const GValue *value,
                                      GParamSpec   *pspec)
{
  MitogenSetnsTransport *self = MITOGEN_SETNS_TRANSPORT (object);

  switch ((MitogenSetnsTransportProperty) prop_id)
    {
    case PROP_TARGET:
      {
        const char *target = g_value_get_string (value);

        g_clear_pointer (&self->netns, g_free);
        self->pid = 0;
        if (all_digits (target) && strlen (target) <= 9)
          self->pid = atoi (target);
        else
          self->netns = g_strdup (target);
      }
      break;
    case PROP_PID:
      self->pid = g_value_get_int (value);
      break;
    case PROP_NETNS:
      g_free (self->netns);
      self->netns = g_value_dup_string (value);
      break;
    case PROP_NAMESPACES:
      g_strfreev (self->namespaces);
      self->namespaces = g_value_dup_boxed (value);
      break;
    case PROP_NSENTER_PATH:
      g_free (self->nsenter_path);
      self->nsenter_path = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_setns_transport_finalize (GObject *object)
{
  MitogenSetnsTransport *self = MITOGEN_SETNS_TRANSPORT (object);

  g_clear_pointer (&self->netns, g_free);
  g_clear_pointer (&self->namespaces, g_strfreev);
  g_clear_pointer (&self->nsenter_path, g_free);
  G_OBJECT_CLASS (mitogen_setns_transport_parent_class)->finalize (object);
}

static void
mitogen_setns_transport_class_init (MitogenSetnsTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MitogenTransportClass *transport_class = MITOGEN_TRANSPORT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->get_property = mitogen_setns_transport_get_property;
  object_class->set_property = mitogen_setns_transport_set_property;
  object_class->finalize = mitogen_setns_transport_finalize;
  transport_class->build_command = mitogen_setns_transport_build_command;
  /* One socketpair; nsenter's errors on a stderr pipe; it dies with us. */
  transport_class->spawn_flags = MITOGEN_SPAWN_DEFAULT;
  transport_class->short_option = "target";
  transport_class->needs_bootstrap = TRUE;
  transport_class->shares_files = TRUE;

  props[PROP_TARGET] =
    g_param_spec_string ("target", NULL,
                         "A process id (digits: sets pid) or the name of a network namespace "
                         "(sets netns): what setns:VALUE sets",
                         NULL, rw);
  props[PROP_PID] =
    g_param_spec_int ("pid", NULL,
                      "Enter the namespaces of this process (nsenter --target), those named by "
                      "namespaces",
                      0, G_MAXINT, 0, rw);
  props[PROP_NETNS] =
    g_param_spec_string ("netns", NULL,
                         "Enter this named network namespace (/run/netns/NAME, as made by "
                         "`ip netns add`); only the network namespace changes",
                         NULL, rw);
  props[PROP_NAMESPACES] =
    g_param_spec_boxed ("namespaces", NULL,
                        "With pid: the namespaces to enter, of net, mount, uts, ipc, pid, user, "
                        "cgroup, time (default net and mount)",
                        G_TYPE_STRV, rw);
  props[PROP_NSENTER_PATH] =
    g_param_spec_string ("nsenter-path", NULL,
                         "The nsenter program to run (a path, or a name looked up in PATH)",
                         "nsenter", rw);
  g_object_class_install_properties (object_class, G_N_ELEMENTS (props), props);
}

static void
mitogen_setns_transport_class_finalize (MitogenSetnsTransportClass *klass)
{
}

static void
mitogen_setns_transport_init (MitogenSetnsTransport *self)
{
  g_object_set (self, "bootstrap", TRUE, NULL);
}

void
mitogen_setns_transport_register (GTypeModule *module)
{
  mitogen_setns_transport_register_type (module);
}
