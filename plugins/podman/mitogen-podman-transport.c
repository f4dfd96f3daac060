/* mitogen-podman-transport.c — the `podman` method: a context in a container
 *
 * The seed's `Router.podman()`, through podman's own command line (not
 * the docker one):
 *
 *   podman exec -i [--user USER] [--workdir DIR] CONTAINER sh -c STAGE1 ...
 *
 * A command line and nothing more (the declarative build_command: an
 * intermediate agent without this plugin can still run it, `via`). The
 * client's stdin and stdout are two pipes (it needs pipes, as docker's
 * does), its stderr a third; when podman cannot start the command (no
 * such container, a user it does not have) it exits saying why, and the
 * core quotes that. It gets SIGTERM if we die, to stop the exec session.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-podman"

#include "config.h"

#include <string.h>

#include "mitogen-podman-transport.h"

struct _MitogenPodmanTransport
{
  MitogenTransport parent_instance;

  char *container;    /* (owned) (nullable) */
  char *username;     /* (owned) (nullable) */
  char *workdir;      /* (owned) (nullable) */
  char *podman_path;  /* (owned) (nullable) NULL: podman from PATH */
};

typedef enum
{
  PROP_CONTAINER = 1,
  PROP_USERNAME,
  PROP_WORKDIR,
  PROP_PODMAN_PATH,
} MitogenPodmanTransportProperty;

static GParamSpec *props[PROP_PODMAN_PATH + 1];

G_DEFINE_DYNAMIC_TYPE (MitogenPodmanTransport, mitogen_podman_transport, MITOGEN_TYPE_TRANSPORT)

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
mitogen_podman_transport_build_command (MitogenTransport    *transport,
                                        const char * const  *argv,
                                        GError             **error)
{
  MitogenPodmanTransport *self = MITOGEN_PODMAN_TRANSPORT (transport);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  if (self->container == NULL || self->container[0] == '\0')
    {
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                           "podman needs a container (its name or id)");
      return NULL;
    }
  if (self->container[0] == '-')
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "invalid container name '%s'", self->container);
      return NULL;
    }
  g_strv_builder_add_many (builder, self->podman_path != NULL ? self->podman_path : "podman",
                           "exec", "-i", NULL);
  if (self->username != NULL)
    add_owned (builder, g_strconcat ("--user=", self->username, NULL));
  if (self->workdir != NULL)
    add_owned (builder, g_strconcat ("--workdir=", self->workdir, NULL));
  g_strv_builder_add (builder, self->container);
  g_strv_builder_addv (builder, (const char **) argv);
  return g_strv_builder_end (builder);
}

/* --- properties ----------------------------------------------------------- */

static char **
field (MitogenPodmanTransport *self,
       guint                   prop_id)
{
  switch ((MitogenPodmanTransportProperty) prop_id)
    {
    case PROP_CONTAINER:
      return &self->container;
    case PROP_USERNAME:
      return &self->username;
    case PROP_WORKDIR:
      return &self->workdir;
    case PROP_PODMAN_PATH:
      return &self->podman_path;
    default:
      return NULL;
    }
}

static void
mitogen_podman_transport_get_property (GObject    *object,
                                       guint       prop_id,
                                       GValue     *value,
                                       GParamSpec *pspec)
{
  MitogenPodmanTransport *self = MITOGEN_PODMAN_TRANSPORT (object);
  char **slot = field (self, prop_id);

  if (slot == NULL)
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  else if (prop_id == PROP_PODMAN_PATH && *slot == NULL)
    g_value_set_string (value, "podman");
  else
    g_value_set_string (value, *slot);
}

static void
mitogen_podman_transport_set_property (GObject      *object,
                                       guint         prop_id,
                                       const GValue *value,
                                       GParamSpec   *pspec)
{
  MitogenPodmanTransport *self = MITOGEN_PODMAN_TRANSPORT (object);
  char **slot = field (self, prop_id);

  if (slot == NULL)
    {
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      return;
    }
  g_free (*slot);
  *slot = g_value_dup_string (value);
}

static void
mitogen_podman_transport_finalize (GObject *object)
{
  MitogenPodmanTransport *self = MITOGEN_PODMAN_TRANSPORT (object);

  g_clear_pointer (&self->container, g_free);
  g_clear_pointer (&self->username, g_free);
  g_clear_pointer (&self->workdir, g_free);
  g_clear_pointer (&self->podman_path, g_free);
  G_OBJECT_CLASS (mitogen_podman_transport_parent_class)->finalize (object);
}

static void
mitogen_podman_transport_class_init (MitogenPodmanTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MitogenTransportClass *transport_class = MITOGEN_TRANSPORT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->get_property = mitogen_podman_transport_get_property;
  object_class->set_property = mitogen_podman_transport_set_property;
  object_class->finalize = mitogen_podman_transport_finalize;
  transport_class->build_command = mitogen_podman_transport_build_command;
  transport_class->spawn_flags = MITOGEN_SPAWN_PIPES | MITOGEN_SPAWN_TERM_WITH_PARENT;
  transport_class->short_option = "container";
  /* A container has its own files: the agent is shipped (zero-install). */
  transport_class->needs_bootstrap = TRUE;

  props[PROP_CONTAINER] =
    g_param_spec_string ("container", NULL,
                         "The running container to start the context in (podman exec), by name or id",
                         NULL, rw);
  props[PROP_USERNAME] =
    g_param_spec_string ("username", NULL,
                         "User in the container (podman exec --user): a name or UID[:GID]",
                         NULL, rw);
  props[PROP_WORKDIR] =
    g_param_spec_string ("workdir", NULL,
                         "Working directory of the context in the container (podman exec --workdir)",
                         NULL, rw);
  props[PROP_PODMAN_PATH] =
    g_param_spec_string ("podman-path", NULL,
                         "The podman program to run (a path, or a name looked up in PATH)",
                         "podman", rw);
  g_object_class_install_properties (object_class, G_N_ELEMENTS (props), props);
}

static void
mitogen_podman_transport_class_finalize (MitogenPodmanTransportClass *klass)
{
}

static void
mitogen_podman_transport_init (MitogenPodmanTransport *self)
{
  g_object_set (self, "bootstrap", TRUE, NULL);
}

void
mitogen_podman_transport_register (GTypeModule *module)
{
  mitogen_podman_transport_register_type (module);
}
