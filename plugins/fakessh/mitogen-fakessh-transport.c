/* mitogen-fakessh-transport.c — the `fakessh` method: adopting a fake ssh client
 *
 * The master side of fakessh (docs/fakessh.md). A program run by
 * mitogen_fakessh_run () finds our fake `ssh` first in its PATH; each time
 * it runs it, that client (the agent, started as `ssh`) hands the master
 * one end of a fresh socketpair over the descriptor it inherited. This
 * transport turns that socket into a context: nothing is spawned and
 * nothing bootstrapped, the client greets and is configured like any
 * child, and becomes a context of its own for the one ssh invocation.
 *
 * Not a method to name in a chain: it needs the `fd` option, a connected
 * socket in this process, which only mitogen_fakessh_run () has.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-fakessh"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mitogen-fakessh-transport.h"

struct _MitogenFakesshTransport
{
  MitogenTransport parent_instance;

  int fd;   /* (owned) the client's socket until start () hands it over; -1: none */
};

typedef enum
{
  PROP_FD = 1,
} MitogenFakesshTransportProperty;

static GParamSpec *props[PROP_FD + 1];

G_DEFINE_DYNAMIC_TYPE (MitogenFakesshTransport, mitogen_fakessh_transport, MITOGEN_TYPE_TRANSPORT)

/* Broker thread. */
static gboolean
mitogen_fakessh_transport_start (MitogenTransport  *transport,
                                 const char        *agent_path,
                                 int               *read_fd,
                                 int               *write_fd,
                                 GPid              *pid,
                                 GError           **error)
{
  MitogenFakesshTransport *self = MITOGEN_FAKESSH_TRANSPORT (transport);
  struct stat st;

  if (self->fd < 0 || fstat (self->fd, &st) < 0 || !S_ISSOCK (st.st_mode))
    {
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                           "fakessh: the `fd` option must be a connected socket of this process "
                           "(the method is used by mitogen_fakessh_run () only)");
      return FALSE;
    }

  *read_fd = self->fd;
  *write_fd = self->fd;
  /* Not our child: the tool run by mitogen_fakessh_run () started it. */
  *pid = 0;
  self->fd = -1;
  return TRUE;
}

static void
mitogen_fakessh_transport_set_property (GObject      *object,
                                        guint         prop_id,
                                        const GValue *value,
                                        GParamSpec   *pspec)
{
  MitogenFakesshTransport *self = MITOGEN_FAKESSH_TRANSPORT (object);

  switch ((MitogenFakesshTransportProperty) prop_id)
    {
    case PROP_FD:
      if (self->fd >= 0)
        close (self->fd);
      self->fd = g_value_get_int (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_fakessh_transport_get_property (GObject    *object,
                                        guint       prop_id,
                                        GValue     *value,
                                        GParamSpec *pspec)
{
  MitogenFakesshTransport *self = MITOGEN_FAKESSH_TRANSPORT (object);

  switch ((MitogenFakesshTransportProperty) prop_id)
    {
    case PROP_FD:
      g_value_set_int (value, self->fd);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_fakessh_transport_finalize (GObject *object)
{
  MitogenFakesshTransport *self = MITOGEN_FAKESSH_TRANSPORT (object);

  if (self->fd >= 0)
    close (self->fd);

  G_OBJECT_CLASS (mitogen_fakessh_transport_parent_class)->finalize (object);
}

static void
mitogen_fakessh_transport_class_init (MitogenFakesshTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MitogenTransportClass *transport_class = MITOGEN_TRANSPORT_CLASS (klass);

  object_class->set_property = mitogen_fakessh_transport_set_property;
  object_class->get_property = mitogen_fakessh_transport_get_property;
  object_class->finalize = mitogen_fakessh_transport_finalize;
  transport_class->start = mitogen_fakessh_transport_start;
  transport_class->needs_bootstrap = FALSE;

  /**
   * MitogenFakesshTransport:fd:
   *
   * A connected socket to a fake ssh client, which the transport takes
   * over (it is closed with the transport if never used).
   */
  props[PROP_FD] =
    g_param_spec_int ("fd", NULL,
                      "A connected socket to a fake ssh client, taken over by the transport "
                      "(set by fakessh itself, not by users)",
                      -1, G_MAXINT, -1,
                      G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, G_N_ELEMENTS (props), props);
}

static void
mitogen_fakessh_transport_class_finalize (MitogenFakesshTransportClass *klass)
{
}

static void
mitogen_fakessh_transport_init (MitogenFakesshTransport *self)
{
  self->fd = -1;
}

void
mitogen_fakessh_transport_register (GTypeModule *module)
{
  mitogen_fakessh_transport_register_type (module);
}
