/* mitogen-transport.c — MitogenTransport: the abstract base of transports
 *
 * A transport knows how to start a target and hand the core a pair of
 * descriptors; bootstrapping, framing and routing stay in core. The seed's
 * shared connection options are properties of this base class; a plugin
 * adds its own as properties of its subclass, so options given as an a{sv}
 * are checked against GParamSpecs: an unknown name or a wrong type is a
 * clear error.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-transport"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mitogen-frame-private.h"
#include "mitogen-interaction-private.h"
#include "mitogen-plugins-private.h"
#include "mitogen-transport-private.h"

typedef struct
{
  char    *method;            /* (owned) (nullable) */
  char    *remote_name;       /* (owned) (nullable) */
  gboolean debug;
  gboolean profiling;
  double   connect_timeout;
  guint64  max_message_size;
  gboolean bootstrap;
  gboolean agent_cache;
  gboolean agent_cache_set;   /* agent-cache was given (closures cache by default) */
  char    *bootstrap_shell;   /* (owned) (nullable) */
  char    *bootstrap_format;  /* (owned) */
  char    *agent;             /* (owned) (nullable) NULL: the router's default */
  double   keepalive_interval; /* < 0: the router's default */
  int      keepalive_count;    /* 0: the router's default */
  /* Broker thread: set by the connect before spawn_async. */
  MitogenInteraction *interaction;   /* (owned) (nullable) */
  GMainContext       *ask_context;   /* (owned) (nullable) where it is asked */
  MitogenTransportAskingFunc asking; /* (nullable) the connect pauses its timeout */
  gpointer            asking_data;
  guint               asks;          /* requests in flight */
} MitogenTransportPrivate;

typedef enum
{
  PROP_REMOTE_NAME = 1,
  PROP_DEBUG,
  PROP_CONNECT_TIMEOUT,
  PROP_PROFILING,
  PROP_MAX_MESSAGE_SIZE,
  PROP_BOOTSTRAP,
  PROP_AGENT_CACHE,
  PROP_BOOTSTRAP_SHELL,
  PROP_BOOTSTRAP_FORMAT,
  PROP_AGENT,
  PROP_KEEPALIVE_INTERVAL,
  PROP_KEEPALIVE_COUNT,
} MitogenTransportProperty;

static GParamSpec *props[PROP_KEEPALIVE_COUNT + 1];

/**
 * MitogenTransport:
 *
 * The abstract base of connection methods: each transport plugin registers a
 * subclass on the `mitogen-transport` GIO extension point under its method
 * name.
 *
 * A transport starts the target and hands the core the descriptors that will
 * carry frames; bootstrapping, framing and routing stay in the core. Options
 * are properties: the seed's shared connection options (`remote_name`,
 * `debug`, `connect_timeout`, `profiling`) are this class's, and a plugin
 * adds its own, so an `a{sv}` of options is checked against the class's
 * [class@GObject.ParamSpec]s.
 */
G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (MitogenTransport, mitogen_transport, G_TYPE_OBJECT)

static void mitogen_transport_constructed (GObject *object);

static void
mitogen_transport_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (MITOGEN_TRANSPORT (object));

  switch ((MitogenTransportProperty) prop_id)
    {
    case PROP_REMOTE_NAME:
      g_value_set_string (value, priv->remote_name);
      break;
    case PROP_DEBUG:
      g_value_set_boolean (value, priv->debug);
      break;
    case PROP_CONNECT_TIMEOUT:
      g_value_set_double (value, priv->connect_timeout);
      break;
    case PROP_PROFILING:
      g_value_set_boolean (value, priv->profiling);
      break;
    case PROP_MAX_MESSAGE_SIZE:
      g_value_set_uint64 (value, priv->max_message_size);
      break;
    case PROP_BOOTSTRAP:
      g_value_set_boolean (value, priv->bootstrap);
      break;
    case PROP_AGENT_CACHE:
      g_value_set_boolean (value, priv->agent_cache);
      break;
    case PROP_BOOTSTRAP_SHELL:
      g_value_set_string (value, priv->bootstrap_shell);
      break;
    case PROP_BOOTSTRAP_FORMAT:
      g_value_set_string (value, priv->bootstrap_format);
      break;
    case PROP_AGENT:
      g_value_set_string (value, priv->agent);
      break;
    case PROP_KEEPALIVE_INTERVAL:
      g_value_set_double (value, priv->keepalive_interval);
      break;
    case PROP_KEEPALIVE_COUNT:
      g_value_set_int (value, priv->keepalive_count);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_transport_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (MITOGEN_TRANSPORT (object));

  switch ((MitogenTransportProperty) prop_id)
    {
    case PROP_REMOTE_NAME:
      g_free (priv->remote_name);
      priv->remote_name = g_value_dup_string (value);
      break;
    case PROP_DEBUG:
      priv->debug = g_value_get_boolean (value);
      break;
    case PROP_CONNECT_TIMEOUT:
      priv->connect_timeout = g_value_get_double (value);
      break;
    case PROP_PROFILING:
      priv->profiling = g_value_get_boolean (value);
      break;
    case PROP_MAX_MESSAGE_SIZE:
      priv->max_message_size = g_value_get_uint64 (value);
      break;
    case PROP_BOOTSTRAP:
      priv->bootstrap = g_value_get_boolean (value);
      break;
    case PROP_AGENT_CACHE:
      priv->agent_cache = g_value_get_boolean (value);
      priv->agent_cache_set = TRUE;
      break;
    case PROP_BOOTSTRAP_SHELL:
      g_free (priv->bootstrap_shell);
      priv->bootstrap_shell = g_value_dup_string (value);
      break;
    case PROP_BOOTSTRAP_FORMAT:
      g_free (priv->bootstrap_format);
      priv->bootstrap_format = g_value_dup_string (value);
      break;
    case PROP_AGENT:
      g_free (priv->agent);
      priv->agent = g_value_dup_string (value);
      break;
    case PROP_KEEPALIVE_INTERVAL:
      priv->keepalive_interval = g_value_get_double (value);
      break;
    case PROP_KEEPALIVE_COUNT:
      priv->keepalive_count = g_value_get_int (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_transport_finalize (GObject *object)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (MITOGEN_TRANSPORT (object));

  g_clear_pointer (&priv->method, g_free);
  g_clear_pointer (&priv->remote_name, g_free);
  g_clear_pointer (&priv->bootstrap_shell, g_free);
  g_clear_pointer (&priv->bootstrap_format, g_free);
  g_clear_pointer (&priv->agent, g_free);
  g_clear_object (&priv->interaction);
  g_clear_pointer (&priv->ask_context, g_main_context_unref);

  G_OBJECT_CLASS (mitogen_transport_parent_class)->finalize (object);
}

/* --- asking the application ---------------------------------------------- */

/* Broker thread (the connect, before spawn_async; again with NULLs when it
 * ends). */
void
mitogen_transport_set_interaction (MitogenTransport           *self,
                                   MitogenInteraction         *interaction,
                                   GMainContext               *ask_context,
                                   MitogenTransportAskingFunc  asking,
                                   gpointer                    asking_data)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);

  g_set_object (&priv->interaction, interaction);
  g_clear_pointer (&priv->ask_context, g_main_context_unref);
  if (ask_context != NULL)
    priv->ask_context = g_main_context_ref (ask_context);
  priv->asking = asking;
  priv->asking_data = asking_data;
}

/**
 * mitogen_transport_get_interaction:
 * @self: a transport
 *
 * The [class@Mitogen.Interaction] this connect may ask (the router's), so
 * that a transport can tell whether asking is worth trying. Broker thread.
 *
 * Returns: (transfer none) (nullable): the interaction, or %NULL
 */
MitogenInteraction *
mitogen_transport_get_interaction (MitogenTransport *self)
{
  MitogenTransportPrivate *priv;

  g_return_val_if_fail (MITOGEN_IS_TRANSPORT (self), NULL);
  priv = mitogen_transport_get_instance_private (self);
  return priv->ask_context != NULL ? priv->interaction : NULL;
}

/* Broker thread. */
static void
ask_done_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MitogenTransport *self = g_task_get_source_object (task);
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);
  GError *error = NULL;
  MitogenInteractionResult r = mitogen_interaction_invoke_finish (result, &error);

  if (--priv->asks == 0 && priv->asking != NULL)
    priv->asking (priv->asking_data, FALSE);
  if (r == MITOGEN_INTERACTION_FAILED)
    g_task_return_error (task, error);
  else
    g_task_return_int (task, r);
}

/**
 * mitogen_transport_ask_async:
 * @self: a transport
 * @request: (type GObject): a [class@Mitogen.SecretRequest],
 *   [class@Mitogen.HostKeyRequest] or [class@Mitogen.QuestionsRequest]
 * @cancellable: (nullable): the connect's #GCancellable (spawn_async's)
 * @callback: (scope async): called in the thread-default main context of
 *   the caller (the broker's)
 * @user_data: data for @callback
 *
 * Asks the application's [class@Mitogen.Interaction] (the router's) what
 * the transport's options do not say. Broker thread, from `spawn_async`
 * or what it started; it does not block. The request is asked in the main
 * context of whoever started the connect. While it waits, the core's
 * `connect_timeout` is stopped (and restarted from zero with the answer),
 * so a transport with a deadline of its own stops it likewise.
 *
 * When the connect has no interaction, the request completes with
 * %MITOGEN_INTERACTION_UNHANDLED.
 */
void
mitogen_transport_ask_async (MitogenTransport    *self,
                             gpointer             request,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  MitogenTransportPrivate *priv;
  g_autoptr(GTask) task = NULL;
  MitogenInteraction *interaction;

  g_return_if_fail (MITOGEN_IS_TRANSPORT (self));
  g_return_if_fail (G_IS_OBJECT (request));

  priv = mitogen_transport_get_instance_private (self);
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_transport_ask_async);

  interaction = mitogen_transport_get_interaction (self);
  if (interaction == NULL)
    {
      g_task_return_int (task, MITOGEN_INTERACTION_UNHANDLED);
      return;
    }
  if (priv->asks++ == 0 && priv->asking != NULL)
    priv->asking (priv->asking_data, TRUE);
  mitogen_interaction_invoke_async (interaction, request, priv->ask_context, cancellable,
                                    ask_done_cb, g_steal_pointer (&task));
}

/**
 * mitogen_transport_ask_finish:
 * @self: a transport
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Completes [method@Mitogen.Transport.ask_async].
 *
 * Returns: %MITOGEN_INTERACTION_HANDLED (the answer is in the request),
 *   %MITOGEN_INTERACTION_UNHANDLED, or %MITOGEN_INTERACTION_FAILED with
 *   @error set: the interaction's error, %MITOGEN_ERROR_TIMEOUT (no answer
 *   within its timeout) or %G_IO_ERROR_CANCELLED. The transport turns
 *   anything but HANDLED into its own error naming the target
 *   (%MITOGEN_ERROR_PASSWORD for a password).
 */
MitogenInteractionResult
mitogen_transport_ask_finish (MitogenTransport  *self,
                              GAsyncResult      *result,
                              GError           **error)
{
  GError *local = NULL;
  gssize value;

  g_return_val_if_fail (g_task_is_valid (result, self), MITOGEN_INTERACTION_FAILED);

  value = g_task_propagate_int (G_TASK (result), &local);
  if (local != NULL)
    {
      g_propagate_error (error, local);
      return MITOGEN_INTERACTION_FAILED;
    }
  return (MitogenInteractionResult) value;
}

/* What mitogen_transport_return_spawned () hands the default spawn_finish. */
typedef struct
{
  int  read_fd;
  int  write_fd;
  int  stderr_fd;
  GPid pid;
} Spawned;

/* A result nobody took: its descriptors are closed and its process killed. */
static void
spawned_free (gpointer data)
{
  Spawned *spawned = data;

  if (spawned->read_fd >= 0)
    close (spawned->read_fd);
  if (spawned->write_fd >= 0 && spawned->write_fd != spawned->read_fd)
    close (spawned->write_fd);
  if (spawned->stderr_fd >= 0)
    close (spawned->stderr_fd);
  if (spawned->pid > 0)
    {
      /* Never blocking: the kill may not be ours to make (sudo). */
      kill (spawned->pid, SIGKILL);
      waitpid (spawned->pid, NULL, WNOHANG);
    }
  g_free (spawned);
}

/**
 * mitogen_transport_return_spawned:
 * @task: the #GTask of a transport's `spawn_async`
 * @read_fd: the descriptor the agent's frames are read from
 * @write_fd: the descriptor frames are written to (may equal @read_fd)
 * @stderr_fd: a descriptor carrying the target's stderr, or -1
 * @pid: the local child to reap, or 0
 *
 * Completes a transport's `spawn_async` with what it started; the base
 * class's `spawn_finish` hands it to the core, so a transport that returns
 * this way needs no `spawn_finish` of its own. Takes ownership of the
 * descriptors (and of @pid: if the result is never taken, they are closed
 * and the process killed).
 */
void
mitogen_transport_return_spawned (GTask *task,
                                  int    read_fd,
                                  int    write_fd,
                                  int    stderr_fd,
                                  GPid   pid)
{
  Spawned *spawned = g_new (Spawned, 1);

  g_return_if_fail (G_IS_TASK (task));

  spawned->read_fd = read_fd;
  spawned->write_fd = write_fd;
  spawned->stderr_fd = stderr_fd;
  spawned->pid = pid;
  g_task_return_pointer (task, spawned, spawned_free);
}

static gboolean
mitogen_transport_real_spawn_finish (MitogenTransport  *self,
                                     GAsyncResult      *result,
                                     int               *read_fd,
                                     int               *write_fd,
                                     int               *stderr_fd,
                                     GPid              *pid,
                                     GError           **error)
{
  Spawned *spawned;

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  spawned = g_task_propagate_pointer (G_TASK (result), error);
  if (spawned == NULL)
    return FALSE;
  *read_fd = spawned->read_fd;
  *write_fd = spawned->write_fd;
  if (stderr_fd != NULL)
    *stderr_fd = spawned->stderr_fd;
  else if (spawned->stderr_fd >= 0)
    close (spawned->stderr_fd);
  *pid = spawned->pid;
  g_free (spawned);
  return TRUE;
}

static void
mitogen_transport_class_init (MitogenTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  klass->spawn_finish = mitogen_transport_real_spawn_finish;

  object_class->get_property = mitogen_transport_get_property;
  object_class->set_property = mitogen_transport_set_property;
  object_class->finalize = mitogen_transport_finalize;
  object_class->constructed = mitogen_transport_constructed;

  /**
   * MitogenTransport:remote-name:
   *
   * Name of the new context: its argv[0] shows `mitogen:NAME`, and logs
   * and errors name it. Default: `USER@HOST:PID` of the master.
   */
  props[PROP_REMOTE_NAME] =
    g_param_spec_string ("remote-name", NULL,
                         "Name the new context shows as argv[0] (mitogen:NAME) and in logs",
                         NULL,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  /**
   * MitogenTransport:debug:
   *
   * Forward the context's debug-level log messages too.
   */
  props[PROP_DEBUG] =
    g_param_spec_boolean ("debug", NULL,
                          "Forward the context's debug messages to the master",
                          FALSE,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  /**
   * MitogenTransport:connect-timeout:
   *
   * Seconds the whole connect (start, bootstrap, greeting) may take.
   */
  props[PROP_CONNECT_TIMEOUT] =
    g_param_spec_double ("connect-timeout", NULL,
                         "Seconds a connection attempt may take",
                         0.001, 24 * 3600, 30.0,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  /**
   * MitogenTransport:profiling:
   *
   * Ask the context to record timing of the calls it serves.
   */
  props[PROP_PROFILING] =
    g_param_spec_boolean ("profiling", NULL,
                          "Record per-call timing in the context",
                          FALSE,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  /**
   * MitogenTransport:max-message-size:
   *
   * Largest frame payload either side accepts, in bytes; a larger frame
   * closes the stream.
   */
  props[PROP_MAX_MESSAGE_SIZE] =
    g_param_spec_uint64 ("max-message-size", NULL,
                         "Largest message payload accepted, in bytes",
                         4096, G_MAXUINT32, MITOGEN_DEFAULT_MAX_MESSAGE_SIZE,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  /**
   * MitogenTransport:bootstrap:
   *
   * Ship the agent over the stream and start it with a POSIX sh script
   * (the zero-install bootstrap) instead of running an installed agent.
   * Defaults to what the method needs (on for ssh, off for local).
   */
  props[PROP_BOOTSTRAP] =
    g_param_spec_boolean ("bootstrap", NULL,
                          "Ship the agent through the zero-install bootstrap (default: per method)",
                          FALSE,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  /**
   * MitogenTransport:agent-cache:
   *
   * Keep the shipped agent in the target's ~/.cache/mitogen, keyed by its
   * hash, so a later connect ships no agent bytes. Off by default for the
   * stock agent; a shipped closure (`agent` `self` or `dynamic`) is cached
   * file by file unless this is set to false, which keeps its files in a
   * private directory removed when the context exits.
   */
  props[PROP_AGENT_CACHE] =
    g_param_spec_boolean ("agent-cache", NULL,
                          "Cache the agent on the target (~/.cache/mitogen) so repeat connects ship nothing",
                          FALSE,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  /**
   * MitogenTransport:bootstrap-shell:
   *
   * The POSIX shell that runs the bootstrap on the target.
   */
  props[PROP_BOOTSTRAP_SHELL] =
    g_param_spec_string ("bootstrap-shell", NULL,
                         "Shell that runs the bootstrap on the target (default /bin/sh)",
                         NULL,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  /**
   * MitogenTransport:bootstrap-format:
   *
   * How the shipped agent is compressed when the target can decode it
   * (and the build made that copy): `zst` (the default: ~10 % smaller
   * than gz and decoded as fast, where the target has zstd), `gz`, `xz`
   * (smallest on the wire, slow to decode: for slow links), or `raw`.
   * Otherwise gz, zst, xz, raw, the first the target decodes.
   */
  props[PROP_BOOTSTRAP_FORMAT] =
    g_param_spec_string ("bootstrap-format", NULL,
                         "Compression of the shipped agent: zst, gz, xz (smallest), raw",
                         "zst",
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  /**
   * MitogenTransport:agent:
   *
   * The program the new context runs: `stock` (the installed, static
   * `mitogen-agent`), `self` (this program, which must call
   * [func@Mitogen.init] first in `main ()`; it serves the functions it
   * registered), or `dynamic` (the dynamically linked stock agent).
   * `self` and `dynamic` are shipped as their closure (program, shared
   * objects, ELF interpreter) when the target needs the bootstrap, and
   * kept in the target's cache by hash unless `agent_cache` is false.
   * %NULL: the router's default ([method@Mitogen.Router.set_default_agent]).
   */
  props[PROP_AGENT] =
    g_param_spec_string ("agent", NULL,
                         "Program the context runs: stock, self (this program) or dynamic (default: the router's)",
                         NULL,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  /**
   * MitogenTransport:keepalive-interval:
   *
   * Seconds of silence after which each end of the new context's stream
   * sends the other a keepalive; nothing heard for interval x
   * [property@Mitogen.Transport:keepalive-count] disconnects the context
   * (docs/protocol.md, "Keepalive"). 0 turns the stream keepalive off;
   * -1 (the default) takes the router's
   * [property@Mitogen.Router:keepalive-interval]. The ssh transport's link
   * keepalives follow the same option when it is given.
   */
  props[PROP_KEEPALIVE_INTERVAL] =
    g_param_spec_double ("keepalive-interval", NULL,
                         "Seconds of silence before a keepalive; nothing heard for interval x count "
                         "disconnects (0: off; -1: the router's default, 30)",
                         -1, 86400, -1,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  /**
   * MitogenTransport:keepalive-count:
   *
   * Keepalive intervals of silence that disconnect the context (see
   * [property@Mitogen.Transport:keepalive-interval]); the stream keepalive
   * uses at least 2. 0 (the default) takes the router's
   * [property@Mitogen.Router:keepalive-count].
   */
  props[PROP_KEEPALIVE_COUNT] =
    g_param_spec_int ("keepalive-count", NULL,
                      "Keepalive intervals of silence that disconnect (0: the router's default, 3)",
                      0, 1000, 0,
                      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  g_object_class_install_properties (object_class, G_N_ELEMENTS (props), props);
}

static void
mitogen_transport_init (MitogenTransport *self)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);

  priv->connect_timeout = 30.0;
  priv->max_message_size = MITOGEN_DEFAULT_MAX_MESSAGE_SIZE;
  priv->keepalive_interval = -1;
  priv->bootstrap_format = g_strdup ("zst");
  priv->bootstrap = -1;  /* not set yet: the method's default, see constructed () */
}

static void
mitogen_transport_constructed (GObject *object)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (MITOGEN_TRANSPORT (object));

  G_OBJECT_CLASS (mitogen_transport_parent_class)->constructed (object);

  /* Only now is the instance's class the final one (during instance init
   * GObject sets each ancestor's class in turn): take the method's default
   * unless a construct property chose already. */
  if (priv->bootstrap == -1)
    priv->bootstrap = MITOGEN_TRANSPORT_GET_CLASS (object)->needs_bootstrap;
}

/**
 * mitogen_transport_get_bootstrap_format:
 * @self: a transport
 *
 * The `bootstrap_format` option: how the agent is compressed when it is
 * shipped down the stream.
 *
 * Returns: the preferred compression of the shipped agent
 */
const char *
mitogen_transport_get_bootstrap_format (MitogenTransport *self)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);
  return priv->bootstrap_format;
}

/**
 * mitogen_transport_get_bootstrap:
 * @self: a transport
 *
 * The `bootstrap` option: whether the connection ships the agent down the
 * stream (zero-install) rather than running an agent already on the target.
 *
 * Returns: whether this connection ships the agent through the bootstrap
 */
gboolean
mitogen_transport_get_bootstrap (MitogenTransport *self)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);
  return priv->bootstrap;
}

/**
 * mitogen_transport_get_agent_cache:
 * @self: a transport
 *
 * The `agent_cache` option: whether the target may keep a copy of the
 * shipped agent for later connections.
 *
 * Returns: the agent-cache option
 */
gboolean
mitogen_transport_get_agent_cache (MitogenTransport *self)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);
  return priv->agent_cache;
}

/* The agent-cache option for a shipped closure: on unless it was set. */
gboolean
mitogen_transport_get_closure_cache (MitogenTransport *self)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);
  return priv->agent_cache_set ? priv->agent_cache : TRUE;
}

/**
 * mitogen_transport_get_agent:
 * @self: a transport
 *
 * The `agent` option: which program the new context runs.
 *
 * Returns: (nullable): `stock`, `self`, `dynamic`, or %NULL for the
 *   router's default
 */
const char *
mitogen_transport_get_agent (MitogenTransport *self)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);
  return priv->agent;
}

/**
 * mitogen_transport_get_bootstrap_shell:
 * @self: a transport
 *
 * The `bootstrap_shell` option: the POSIX shell that runs the bootstrap
 * script on the target.
 *
 * Returns: the shell that runs the bootstrap
 */
const char *
mitogen_transport_get_bootstrap_shell (MitogenTransport *self)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);
  return priv->bootstrap_shell != NULL ? priv->bootstrap_shell : "/bin/sh";
}

/* Sets @value from @variant for @pspec, or explains why it cannot. */
static gboolean
variant_to_value (const char  *method,
                  const char  *key,
                  GParamSpec  *pspec,
                  GVariant    *variant,
                  GValue      *value,
                  GError     **error)
{
  GType type = G_PARAM_SPEC_VALUE_TYPE (pspec);
  const char *expected = NULL;
  gboolean is_int = g_variant_is_of_type (variant, G_VARIANT_TYPE_BYTE) ||
                    g_variant_is_of_type (variant, G_VARIANT_TYPE_INT16) ||
                    g_variant_is_of_type (variant, G_VARIANT_TYPE_UINT16) ||
                    g_variant_is_of_type (variant, G_VARIANT_TYPE_INT32) ||
                    g_variant_is_of_type (variant, G_VARIANT_TYPE_UINT32) ||
                    g_variant_is_of_type (variant, G_VARIANT_TYPE_INT64) ||
                    g_variant_is_of_type (variant, G_VARIANT_TYPE_UINT64);
  gint64 as_signed = 0;
  guint64 as_unsigned = 0;
  gboolean negative = FALSE;

  if (is_int)
    {
      if (g_variant_is_of_type (variant, G_VARIANT_TYPE_BYTE))
        as_signed = g_variant_get_byte (variant);
      else if (g_variant_is_of_type (variant, G_VARIANT_TYPE_INT16))
        as_signed = g_variant_get_int16 (variant);
      else if (g_variant_is_of_type (variant, G_VARIANT_TYPE_UINT16))
        as_signed = g_variant_get_uint16 (variant);
      else if (g_variant_is_of_type (variant, G_VARIANT_TYPE_INT32))
        as_signed = g_variant_get_int32 (variant);
      else if (g_variant_is_of_type (variant, G_VARIANT_TYPE_UINT32))
        as_signed = g_variant_get_uint32 (variant);
      else if (g_variant_is_of_type (variant, G_VARIANT_TYPE_INT64))
        as_signed = g_variant_get_int64 (variant);
      if (g_variant_is_of_type (variant, G_VARIANT_TYPE_UINT64))
        as_unsigned = g_variant_get_uint64 (variant);
      else
        {
          negative = as_signed < 0;
          as_unsigned = (guint64) as_signed;
        }
    }

  g_value_init (value, type);

  if (type == G_TYPE_STRING)
    {
      if (g_variant_is_of_type (variant, G_VARIANT_TYPE_STRING))
        g_value_set_string (value, g_variant_get_string (variant, NULL));
      else
        expected = "a string (s)";
    }
  else if (type == G_TYPE_BOOLEAN)
    {
      if (g_variant_is_of_type (variant, G_VARIANT_TYPE_BOOLEAN))
        g_value_set_boolean (value, g_variant_get_boolean (variant));
      else
        expected = "a boolean (b)";
    }
  else if (type == G_TYPE_DOUBLE)
    {
      if (g_variant_is_of_type (variant, G_VARIANT_TYPE_DOUBLE))
        g_value_set_double (value, g_variant_get_double (variant));
      else if (is_int)
        g_value_set_double (value, negative ? (double) as_signed : (double) as_unsigned);
      else
        expected = "a number (d)";
    }
  else if (type == G_TYPE_INT || type == G_TYPE_INT64 || type == G_TYPE_UINT || type == G_TYPE_UINT64)
    {
      if (!is_int)
        expected = "an integer";
      else if (negative && (type == G_TYPE_UINT || type == G_TYPE_UINT64))
        expected = "a non-negative integer";
      else if (type == G_TYPE_INT)
        {
          if (negative ? as_signed < G_MININT : as_unsigned > G_MAXINT)
            expected = "an integer in range";
          else
            g_value_set_int (value, (int) as_signed);
        }
      else if (type == G_TYPE_INT64)
        {
          if (!negative && as_unsigned > G_MAXINT64)
            expected = "an integer in range";
          else
            g_value_set_int64 (value, negative ? as_signed : (gint64) as_unsigned);
        }
      else if (type == G_TYPE_UINT)
        {
          if (as_unsigned > G_MAXUINT)
            expected = "an integer in range";
          else
            g_value_set_uint (value, (guint) as_unsigned);
        }
      else
        g_value_set_uint64 (value, as_unsigned);
    }
  else if (type == G_TYPE_STRV)
    {
      if (g_variant_is_of_type (variant, G_VARIANT_TYPE_STRING_ARRAY))
        g_value_take_boxed (value, g_variant_dup_strv (variant, NULL));
      else
        expected = "a string array (as)";
    }
  else if (G_TYPE_IS_ENUM (type))
    {
      GEnumClass *klass = g_type_class_ref (type);
      GEnumValue *ev = NULL;

      if (g_variant_is_of_type (variant, G_VARIANT_TYPE_STRING))
        ev = g_enum_get_value_by_nick (klass, g_variant_get_string (variant, NULL));
      else if (g_variant_is_of_type (variant, G_VARIANT_TYPE_BOOLEAN))
        {
          /* The seed's booleans (check_host_keys=True/False): true is the
           * option's default, false its "ignore"/"off"/"no" value. */
          if (g_variant_get_boolean (variant))
            ev = g_enum_get_value (klass, G_PARAM_SPEC_ENUM (pspec)->default_value);
          else
            {
              ev = g_enum_get_value_by_nick (klass, "ignore");
              if (ev == NULL)
                ev = g_enum_get_value_by_nick (klass, "off");
              if (ev == NULL)
                ev = g_enum_get_value_by_nick (klass, "no");
            }
        }
      if (ev != NULL)
        g_value_set_enum (value, ev->value);
      else
        {
          g_autoptr(GString) names = g_string_new (NULL);
          for (guint i = 0; i < klass->n_values; i++)
            g_string_append_printf (names, "%s%s", i ? ", " : "", klass->values[i].value_nick);
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                       "Option '%s' of method '%s' must be one of: %s", key, method, names->str);
          g_type_class_unref (klass);
          return FALSE;
        }
      g_type_class_unref (klass);
    }
  else
    expected = g_type_name (type);

  if (expected != NULL)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "Option '%s' of method '%s' expects %s, got a value of type %s",
                   key, method, expected, g_variant_get_type_string (variant));
      return FALSE;
    }

  if (g_param_value_validate (pspec, value))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "Option '%s' of method '%s' is out of range", key, method);
      return FALSE;
    }
  return TRUE;
}

static char *
list_options (GObjectClass *klass)
{
  guint n = 0;
  g_autofree GParamSpec **specs = g_object_class_list_properties (klass, &n);
  GString *names = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    if (specs[i]->flags & G_PARAM_WRITABLE)
      {
        g_autofree char *name = g_strdup (specs[i]->name);
        g_strdelimit (name, "-", '_');
        g_string_append_printf (names, "%s%s", names->len ? ", " : "", name);
      }
  return g_string_free (names, FALSE);
}

/**
 * mitogen_transport_apply_options:
 * @self: a transport
 * @options: (nullable): an `a{sv}` of options; names may use `_` or `-`
 * @error: return location for a #GError
 *
 * Sets each option as the property of the same name. All are checked
 * before any is set.
 *
 * Returns: %TRUE on success; %FALSE with %MITOGEN_ERROR_INVALID_ARGUMENT
 *   naming the unknown option or the mistyped value
 */
gboolean
mitogen_transport_apply_options (MitogenTransport  *self,
                                 GVariant          *options,
                                 GError           **error)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);
  GObjectClass *klass = G_OBJECT_GET_CLASS (self);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GArray) values = g_array_new (FALSE, TRUE, sizeof (GValue));
  const char *method = priv->method != NULL ? priv->method : G_OBJECT_TYPE_NAME (self);
  g_autoptr(GVariant) sunk = NULL;
  GVariantIter iter;
  const char *key;
  GVariant *variant;

  g_return_val_if_fail (MITOGEN_IS_TRANSPORT (self), FALSE);

  if (options == NULL)
    return TRUE;
  sunk = g_variant_ref_sink (options);

  g_array_set_clear_func (values, (GDestroyNotify) g_value_unset);

  if (!g_variant_is_of_type (options, G_VARIANT_TYPE_VARDICT))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "Options for method '%s' must be of type a{sv}, not %s",
                   method, g_variant_get_type_string (options));
      return FALSE;
    }

  g_variant_iter_init (&iter, options);
  while (g_variant_iter_loop (&iter, "{&sv}", &key, &variant))
    {
      g_autofree char *name = g_strdelimit (g_strdup (key), "_", '-');
      GParamSpec *pspec = g_object_class_find_property (klass, name);
      GValue value = G_VALUE_INIT;

      if (pspec == NULL || !(pspec->flags & G_PARAM_WRITABLE))
        {
          g_autofree char *known = list_options (klass);
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                       "Unknown option '%s' for method '%s' (known: %s)", key, method, known);
          g_variant_unref (variant);
          return FALSE;
        }
      if (!variant_to_value (method, key, pspec, variant, &value, error))
        {
          g_value_unset (&value);
          g_variant_unref (variant);
          return FALSE;
        }
      g_ptr_array_add (names, g_steal_pointer (&name));
      g_array_append_val (values, value);
    }

  for (guint i = 0; i < names->len; i++)
    g_object_set_property (G_OBJECT (self), g_ptr_array_index (names, i),
                           &g_array_index (values, GValue, i));
  return TRUE;
}

/**
 * mitogen_transport_new_for_method:
 * @method: a method name: `local`, `ssh`, ...
 * @options: (nullable): an `a{sv}` of options
 * @error: return location for a #GError
 *
 * Creates the transport registered for @method (loading plugins on first
 * use) and applies @options.
 *
 * Returns: (transfer full): a transport, or %NULL with
 *   %MITOGEN_ERROR_NOT_FOUND (unknown method) or
 *   %MITOGEN_ERROR_INVALID_ARGUMENT (bad option)
 */
MitogenTransport *
mitogen_transport_new_for_method (const char  *method,
                                  GVariant    *options,
                                  GError     **error)
{
  g_autoptr(MitogenTransport) self = NULL;
  GType type;

  g_return_val_if_fail (method != NULL, NULL);

  type = mitogen_plugins_lookup (method);
  if (type == G_TYPE_INVALID)
    {
      g_auto(GStrv) known = mitogen_transport_list_methods ();
      g_autofree char *list = g_strjoinv (", ", known);

      if (options != NULL)
        g_variant_unref (g_variant_ref_sink (options));
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                   "Unknown connection method '%s' (installed: %s)%s", method,
                   list[0] != '\0' ? list : "none; set MITOGEN_PLUGIN_PATH",
                   mitogen_plugins_get_closure_dir () != NULL
                   ? "; a replicated program has the transports its master had loaded when it shipped it" : "");
      return NULL;
    }

  self = g_object_new (type, NULL);
  mitogen_transport_set_method (self, method);
  if (!mitogen_transport_apply_options (self, options, error))
    return NULL;
  return g_steal_pointer (&self);
}

void
mitogen_transport_set_method (MitogenTransport *self,
                              const char       *method)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);

  g_free (priv->method);
  priv->method = g_strdup (method);
}

/**
 * mitogen_transport_get_method:
 * @self: a transport
 *
 * The connection method the transport was made for (`local`, `ssh`, ...), as
 * given to [ctor@Mitogen.Transport.new_for_method].
 *
 * Returns: (nullable): the method name the transport was made for
 */
const char *
mitogen_transport_get_method (MitogenTransport *self)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);
  return priv->method;
}

/**
 * mitogen_transport_get_short_option:
 * @self: a transport
 *
 * The option the short form `METHOD:VALUE` of a target sets
 * (`ssh:web1` sets `hostname`), as the class declares it in
 * #MitogenTransportClass.short_option; for a class that declares none,
 * the first of `hostname`, `container`, `username` it has. The command
 * line tool's CHAIN syntax uses it, so a plugin from outside the tree gets
 * a short form too.
 *
 * Returns: (nullable): the property name the short form sets (`-`
 *   separated, as GObject spells it), or %NULL if the method has no short
 *   form
 */
const char *
mitogen_transport_get_short_option (MitogenTransport *self)
{
  static const char * const fallback[] = { "hostname", "container", "username" };
  MitogenTransportClass *klass;
  GParamSpec *pspec;

  g_return_val_if_fail (MITOGEN_IS_TRANSPORT (self), NULL);

  klass = MITOGEN_TRANSPORT_GET_CLASS (self);
  if (klass->short_option != NULL)
    {
      pspec = g_object_class_find_property (G_OBJECT_CLASS (klass), klass->short_option);
      if (pspec == NULL || !(pspec->flags & G_PARAM_WRITABLE))
        {
          g_critical ("%s: short_option '%s' is not a writable property",
                      G_OBJECT_TYPE_NAME (self), klass->short_option);
          return NULL;
        }
      return pspec->name;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (fallback); i++)
    {
      pspec = g_object_class_find_property (G_OBJECT_CLASS (klass), fallback[i]);
      if (pspec != NULL && (pspec->flags & G_PARAM_WRITABLE))
        return pspec->name;
    }
  return NULL;
}

/**
 * mitogen_transport_get_remote_name:
 * @self: a transport
 *
 * The `remote_name` option (the seed's `remote_name=`): the name the new
 * context gets in its argv[0] and in logs.
 *
 * Returns: (nullable): the remote-name option
 */
const char *
mitogen_transport_get_remote_name (MitogenTransport *self)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);
  return priv->remote_name;
}

/**
 * mitogen_transport_get_debug:
 * @self: a transport
 *
 * The `debug` option (the seed's `debug=`): the context forwards its debug
 * messages to the master.
 *
 * Returns: the debug option
 */
gboolean
mitogen_transport_get_debug (MitogenTransport *self)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);
  return priv->debug;
}

/**
 * mitogen_transport_get_profiling:
 * @self: a transport
 *
 * The `profiling` option (the seed's `profiling=`), passed on to the agent.
 *
 * Returns: the profiling option
 */
gboolean
mitogen_transport_get_profiling (MitogenTransport *self)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);
  return priv->profiling;
}

/**
 * mitogen_transport_get_connect_timeout:
 * @self: a transport
 *
 * The `connect_timeout` option (the seed's `connect_timeout=`): how long
 * starting the context may take before it fails with %MITOGEN_ERROR_TIMEOUT.
 *
 * Returns: the connect-timeout option, in seconds
 */
double
mitogen_transport_get_connect_timeout (MitogenTransport *self)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);
  return priv->connect_timeout;
}

/**
 * mitogen_transport_get_max_message_size:
 * @self: a transport
 *
 * The `max_message_size` option: a frame larger than this closes the stream
 * with %MITOGEN_ERROR_STREAM, on both sides.
 *
 * Returns: the max-message-size option, in bytes
 */
guint64
mitogen_transport_get_max_message_size (MitogenTransport *self)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);
  return priv->max_message_size;
}

/**
 * mitogen_transport_get_keepalive_interval:
 * @self: a transport
 *
 * The `keepalive_interval` option, as given: seconds, 0 for off, or -1
 * when it was not given (the router's default applies to the stream; a
 * transport with keepalives of its own, like ssh, uses its own default).
 *
 * Returns: the keepalive-interval option, in seconds, or -1
 */
double
mitogen_transport_get_keepalive_interval (MitogenTransport *self)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);
  return priv->keepalive_interval;
}

/**
 * mitogen_transport_get_keepalive_count:
 * @self: a transport
 *
 * The `keepalive_count` option, as given, or 0 when it was not given.
 *
 * Returns: the keepalive-count option, or 0
 */
int
mitogen_transport_get_keepalive_count (MitogenTransport *self)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);
  return priv->keepalive_count;
}

/**
 * mitogen_transport_dup_argv0:
 * @self: a transport
 *
 * The argv[0] a new context shows in `ps`, made from the `remote_name`
 * option or the method name.
 *
 * Returns: (transfer full): the argv[0] a new context shows: `mitogen:NAME`
 */
char *
mitogen_transport_dup_argv0 (MitogenTransport *self)
{
  MitogenTransportPrivate *priv = mitogen_transport_get_instance_private (self);

  const char *user = g_getenv ("USER");

  if (priv->remote_name != NULL)
    return g_strdup_printf ("mitogen:%s", priv->remote_name);
  /* Not g_get_user_name (): in a container without /etc/passwd it warns. */
  if (user == NULL || user[0] == '\0')
    user = g_getenv ("LOGNAME");
  if (user != NULL && user[0] != '\0')
    return g_strdup_printf ("mitogen:%s@%s:%d", user, g_get_host_name (), (int) getpid ());
  return g_strdup_printf ("mitogen:%u@%s:%d", (guint) getuid (), g_get_host_name (), (int) getpid ());
}

/* --- spawning a local child ------------------------------------------------ */

/* What child_setup needs: read only in the child, between fork and exec. */
typedef struct
{
  gboolean new_session;
  gboolean controlling_tty;  /* fd 2 is a PTY slave to make ours */
  int      death_signal;     /* 0: none */
} ChildSetup;

/* Between fork and exec, after the descriptors are in place:
 * async-signal-safe calls only. */
static void
spawn_child_setup (gpointer data)
{
  const ChildSetup *setup = data;

  if (setup->new_session)
    setsid ();
  if (setup->controlling_tty)
    ioctl (2, TIOCSCTTY, 0);
  if (setup->death_signal != 0)
    prctl (PR_SET_PDEATHSIG, setup->death_signal);
}

/* --- vfork + exec ----------------------------------------------------------
 *
 * g_spawn_async_with_pipes_and_fds () with a child_setup forks: the kernel
 * copies the caller's page tables (and the broker's process may be large),
 * the parent takes copy-on-write faults afterwards, and the exec tears the
 * copy down again. A parallel start of 32 local contexts spent about a
 * fifth of its CPU time there. vfork () shares our memory until the exec,
 * so everything the child needs is prepared here first and the child makes
 * system calls only. */

extern char **environ;

/* Prepared by the parent; the child only reads it. An exec that fails is
 * reported through a close-on-exec pipe (err_fd), not through the shared
 * memory: sanitizers and valgrind turn vfork () into fork (). */
typedef struct
{
  const char   *path;            /* the program, resolved */
  char * const *argv;
  char * const *sh_argv;         /* /bin/sh PATH ARGS..., for ENOEXEC */
  char * const *envp;
  int           source_fds[3];
  int           n_fds;
  int           close_limit;     /* fallback when close_range () is missing */
  ChildSetup    setup;
  sigset_t      mask;            /* the caller's, restored before the exec */
  int           err_fd;          /* write end of the pipe, >= 3, close-on-exec */
} VforkSpawn;

/* The vfork ()ed child: async-signal-safe system calls only, on its own
 * part of the stack; never returns. */
G_GNUC_NORETURN static void
vfork_child (VforkSpawn *d)
{
  int tmp[3];
  int sig;

  /* Handlers are ours (and would run on our memory): defaults, as an exec
   * leaves them anyway, and as GLib's spawn resets those five even when
   * ignored. */
  for (sig = 1; sig < NSIG; sig++)
    {
      struct sigaction sa;
      gboolean reset = sig == SIGCHLD || sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGPIPE;

      if (sigaction (sig, NULL, &sa) != 0)
        continue;
      if (reset || (sa.sa_flags & SA_SIGINFO) != 0 || (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN))
        {
          sa.sa_handler = SIG_DFL;
          sa.sa_flags = 0;
          sigemptyset (&sa.sa_mask);
          sigaction (sig, &sa, NULL);
        }
    }

  /* Above the targets first, so a source that is 0, 1 or 2 survives. */
  for (int i = 0; i < d->n_fds; i++)
    if ((tmp[i] = fcntl (d->source_fds[i], F_DUPFD_CLOEXEC, 3)) < 0)
      goto fail;
  for (int i = 0; i < d->n_fds; i++)
    if (dup2 (tmp[i], i) < 0)
      goto fail;
  /* Everything else goes, but the error pipe (close-on-exec). */
#ifdef SYS_close_range
  if ((d->err_fd > 3 && syscall (SYS_close_range, 3U, (unsigned) d->err_fd - 1, 0U) != 0) ||
      syscall (SYS_close_range, (unsigned) d->err_fd + 1, ~0U, 0U) != 0)
#endif
    for (int fd = 3; fd < d->close_limit; fd++)
      if (fd != d->err_fd)
        close (fd);

  spawn_child_setup (&d->setup);
  sigprocmask (SIG_SETMASK, &d->mask, NULL);
  execve (d->path, d->argv, d->envp);
  if (errno == ENOEXEC)
    execve ("/bin/sh", d->sh_argv, d->envp);
fail:
  {
    int saved = errno != 0 ? errno : EINVAL;
    ssize_t n;

    do
      n = write (d->err_fd, &saved, sizeof saved);
    while (n < 0 && errno == EINTR);
  }
  _exit (127);
}

/* vfork () in a frame of its own: nothing of the caller's is live across
 * it (the child runs on this stack until it execs). */
G_GNUC_NO_INLINE static pid_t
vfork_run (VforkSpawn *d)
{
  pid_t pid = vfork ();

  if (pid == 0)
    vfork_child (d);
  return pid;
}

/* Broker thread: vfork and exec @argv (argv[0] looked up in PATH, or
 * @file if given) with @source_fds as its descriptors 0..@n_fds-1. */
static gboolean
vfork_spawn (const char          *file,
             const char * const  *argv,
             const char * const  *envp,
             const ChildSetup    *setup,
             const int           *source_fds,
             int                  n_fds,
             GPid                *pid_out,
             GError             **error)
{
  VforkSpawn d = { 0 };
  g_autofree char *path = NULL;
  g_autofree char **sh_argv = NULL;
  struct rlimit rl;
  sigset_t all;
  guint argc = g_strv_length ((char **) argv);
  int err_pipe[2] = { -1, -1 };
  int child_errno = 0;
  gssize n;
  pid_t pid;

  path = strchr (file, '/') != NULL ? g_strdup (file) : g_find_program_in_path (file);
  if (path == NULL)
    {
      g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_NOENT,
                   "Failed to execute child process \u201c%s\u201d (%s)", file, g_strerror (ENOENT));
      return FALSE;
    }
  sh_argv = g_new0 (char *, argc + 2);
  sh_argv[0] = (char *) "/bin/sh";
  sh_argv[1] = path;
  for (guint i = 1; i < argc; i++)
    sh_argv[i + 1] = (char *) argv[i];

  d.path = path;
  d.argv = (char * const *) argv;
  d.sh_argv = sh_argv;
  d.envp = envp != NULL ? (char * const *) envp : environ;
  memcpy (d.source_fds, source_fds, sizeof (int) * (gsize) n_fds);
  d.n_fds = n_fds;
  d.close_limit = getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                  ? (int) MIN (rl.rlim_cur, 65536) : 65536;
  d.setup = *setup;

  /* The child's exec error, if any, comes back through this pipe; its
   * write end is above 2, so that the child's descriptors 0..2 never
   * replace it. */
  if (!g_unix_open_pipe (err_pipe, FD_CLOEXEC, error))
    return FALSE;
  if (err_pipe[1] < 3)
    {
      int high = fcntl (err_pipe[1], F_DUPFD_CLOEXEC, 3);

      if (high < 0)
        {
          int saved = errno;

          close (err_pipe[0]);
          close (err_pipe[1]);
          g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED, "Failed to fork (%s)", g_strerror (saved));
          return FALSE;
        }
      close (err_pipe[1]);
      err_pipe[1] = high;
    }
  d.err_fd = err_pipe[1];

  /* No handler of ours may run in the child before it resets them. */
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &d.mask);
  pid = vfork_run (&d);
  {
    int saved = errno;

    pthread_sigmask (SIG_SETMASK, &d.mask, NULL);
    close (err_pipe[1]);
    if (pid < 0)
      {
        close (err_pipe[0]);
        g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FORK, "Failed to fork (%s)", g_strerror (saved));
        return FALSE;
      }
  }
  /* End of file: the exec succeeded (with a real vfork () the child has
   * already exec'd or exited by now; with fork () this waits for it). */
  do
    n = read (err_pipe[0], &child_errno, sizeof child_errno);
  while (n < 0 && errno == EINTR);
  close (err_pipe[0]);
  if (n == sizeof child_errno)
    {
      int status;

      while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
      g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED,
                   "Failed to execute child process \u201c%s\u201d (%s)", file, g_strerror (child_errno));
      return FALSE;
    }
  *pid_out = pid;
  return TRUE;
}

static void
close_pair (int fds[2])
{
  for (int i = 0; i < 2; i++)
    if (fds[i] >= 0)
      {
        close (fds[i]);
        fds[i] = -1;
      }
}

static gboolean
set_errno_error (GError     **error,
                 int          saved,
                 const char  *what)
{
  g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "%s: %s", what, g_strerror (saved));
  return FALSE;
}

/* A PTY pair (both close-on-exec), the terminal side set not to echo. */
static gboolean
open_pty (int     fds[2],
          GError **error)
{
  char name[128];
  struct termios tio;
  int master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);

  if (master < 0 || grantpt (master) < 0 || unlockpt (master) < 0 ||
      ptsname_r (master, name, sizeof name) != 0)
    {
      int saved = errno;

      if (master >= 0)
        close (master);
      return set_errno_error (error, saved, "cannot allocate a PTY");
    }
  fds[1] = open (name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fds[1] < 0)
    {
      int saved = errno;

      close (master);
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "cannot open %s: %s", name, g_strerror (saved));
      return FALSE;
    }
  /* A program turns echo off for a password itself; off from the start, a
   * password typed early never shows either. */
  if (tcgetattr (fds[1], &tio) == 0)
    {
      tio.c_lflag &= ~(tcflag_t) (ECHO | ECHOE | ECHOK | ECHONL);
      tcsetattr (fds[1], TCSANOW, &tio);
    }
  g_unix_set_fd_nonblocking (master, TRUE, NULL);
  fds[0] = master;
  return TRUE;
}

/**
 * mitogen_transport_spawn_command:
 * @self: the transport spawning (its method names the child in debug logs)
 * @argv: (array zero-terminated=1): the program and its arguments; the
 *   program is looked up in `PATH` unless it contains a slash
 * @envp: (array zero-terminated=1) (nullable): the child's whole
 *   environment, or %NULL for ours
 * @flags: how to connect the child
 * @read_fd: (out): where the child's stdout is read (the stream's read side)
 * @write_fd: (out): where the child's stdin is written (may equal @read_fd)
 * @stderr_fd: (out): the child's stderr (a pipe, or a PTY master with
 *   %MITOGEN_SPAWN_STDERR_PTY), or -1 with %MITOGEN_SPAWN_STDERR_INHERIT
 * @pid: (out): the child, to be reaped by the caller (or by the core once
 *   passed to mitogen_transport_return_spawned())
 * @error: return location for a #GError
 *
 * Starts a local child the way every transport that runs a program does:
 * its stdin and stdout on one socketpair with 1 MiB buffers (or two 1 MiB
 * pipes with %MITOGEN_SPAWN_PIPES), its stderr on a pipe (or a new PTY
 * that becomes its controlling terminal, for programs that ask for a
 * password on `/dev/tty`), in a session of its own (a Ctrl-C on our
 * terminal is ours to handle, and never kills the context under us), and
 * killed with `SIGKILL` when this thread's process dies
 * (`PR_SET_PDEATHSIG`; `SIGTERM` with %MITOGEN_SPAWN_TERM_WITH_PARENT).
 * Every descriptor we keep is close-on-exec; the child's ends are closed
 * here. Does not block beyond vfork () and exec: the child shares our
 * memory until it execs, so a large master starts children as fast as a
 * small one.
 *
 * The four descriptors returned are the caller's: hand them to
 * mitogen_transport_return_spawned(), or close them and kill and reap
 * @pid on failure. The stderr descriptor must be read (the core does it
 * once it has it, and puts its tail into connect errors), or the child
 * blocks on a full pipe.
 *
 * Returns: %TRUE if the child runs; %FALSE with a %MITOGEN_ERROR_STREAM
 *   "running PROGRAM: ..." (or naming the descriptor that could not be
 *   made), nothing left open
 */
gboolean
mitogen_transport_spawn_command (MitogenTransport    *self,
                                 const char * const  *argv,
                                 const char * const  *envp,
                                 MitogenSpawnFlags    flags,
                                 int                 *read_fd,
                                 int                 *write_fd,
                                 int                 *stderr_fd,
                                 GPid                *pid,
                                 GError             **error)
{
  g_autoptr(GError) local_error = NULL;
  int in_pair[2] = { -1, -1 }, out_pair[2] = { -1, -1 }, err_pair[2] = { -1, -1 };
  int source_fds[3];
  int size = 1024 * 1024;
  ChildSetup setup;
  gboolean inherit_stderr = (flags & MITOGEN_SPAWN_STDERR_INHERIT) != 0;

  g_return_val_if_fail (MITOGEN_IS_TRANSPORT (self), FALSE);
  g_return_val_if_fail (argv != NULL && argv[0] != NULL, FALSE);
  g_return_val_if_fail (read_fd != NULL && write_fd != NULL && stderr_fd != NULL && pid != NULL, FALSE);
  g_return_val_if_fail (!inherit_stderr || !(flags & MITOGEN_SPAWN_STDERR_PTY), FALSE);

  *read_fd = *write_fd = *stderr_fd = -1;
  *pid = 0;

  if (flags & MITOGEN_SPAWN_PIPES)
    {
      if (!g_unix_open_pipe (in_pair, FD_CLOEXEC, &local_error) ||
          !g_unix_open_pipe (out_pair, FD_CLOEXEC, &local_error))
        {
          close_pair (in_pair);
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "pipe: %s", local_error->message);
          return FALSE;
        }
      /* Roomier pipes move the agent image with fewer wake-ups. */
      fcntl (in_pair[1], F_SETPIPE_SZ, size);
      fcntl (out_pair[0], F_SETPIPE_SZ, size);
      /* [0] read, [1] write: the child reads in_pair[0], writes out_pair[1]. */
    }
  else
    {
      int pair[2];

      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        return set_errno_error (error, errno, "socketpair");
      /* Roomier buffers keep bulk transfers moving with fewer wake-ups. */
      for (int i = 0; i < 2; i++)
        {
          setsockopt (pair[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
          setsockopt (pair[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        }
      /* One socket each side: ours is pair[0], the child's pair[1]. */
      in_pair[0] = pair[1];
      in_pair[1] = pair[0];
      out_pair[0] = -1;
      out_pair[1] = -1;
    }

  if (!inherit_stderr)
    {
      gboolean ok;

      if (flags & MITOGEN_SPAWN_STDERR_PTY)
        ok = open_pty (err_pair, error);
      else
        {
          ok = g_unix_open_pipe (err_pair, FD_CLOEXEC, &local_error);
          if (!ok)
            g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "pipe: %s", local_error->message);
        }
      if (!ok)
        {
          close_pair (in_pair);
          close_pair (out_pair);
          return FALSE;
        }
    }

  source_fds[0] = in_pair[0];
  source_fds[1] = (flags & MITOGEN_SPAWN_PIPES) ? out_pair[1] : in_pair[0];
  source_fds[2] = err_pair[1];

  setup.new_session = !(flags & MITOGEN_SPAWN_SAME_SESSION);
  setup.controlling_tty = (flags & MITOGEN_SPAWN_STDERR_PTY) != 0 && setup.new_session;
  if (flags & MITOGEN_SPAWN_KEEP_WITH_PARENT)
    setup.death_signal = 0;
  else if (flags & MITOGEN_SPAWN_TERM_WITH_PARENT)
    setup.death_signal = SIGTERM;
  else
    setup.death_signal = SIGKILL;
  if (!vfork_spawn (argv[0], (flags & MITOGEN_SPAWN_FILE_AND_ARGV_ZERO) ? argv + 1 : argv, envp,
                    &setup, source_fds, inherit_stderr ? 2 : 3, pid, &local_error))
    {
      close_pair (in_pair);
      close_pair (out_pair);
      close_pair (err_pair);
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "running %s: %s", argv[0], local_error->message);
      return FALSE;
    }

  /* The child's ends: a held write end would hide its end of file, a held
   * PTY slave its hangup. */
  close (in_pair[0]);
  if (flags & MITOGEN_SPAWN_PIPES)
    {
      close (out_pair[1]);
      *read_fd = out_pair[0];
      *write_fd = in_pair[1];
    }
  else
    *read_fd = *write_fd = in_pair[1];
  if (err_pair[1] >= 0)
    close (err_pair[1]);
  *stderr_fd = err_pair[0];
  g_debug ("%s: started %s (pid %d)", mitogen_transport_get_method (self) != NULL
           ? mitogen_transport_get_method (self) : G_OBJECT_TYPE_NAME (self), argv[0], (int) *pid);
  return TRUE;
}

/* Broker thread: spawn_async of a transport that has build_command and no
 * spawn_async of its own: runs its command line and completes at once
 * (the core then watches the stream, its stderr and the timeout). */
void
mitogen_transport_command_spawn_async (MitogenTransport    *self,
                                       const char * const  *argv,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  MitogenTransportClass *klass = MITOGEN_TRANSPORT_GET_CLASS (self);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) command = NULL;
  int read_fd = -1, write_fd = -1, stderr_fd = -1;
  GPid pid = 0;

  g_task_set_source_tag (task, mitogen_transport_command_spawn_async);
  command = klass->build_command (self, argv, &error);
  if (command == NULL || command[0] == NULL)
    {
      if (error == NULL)
        error = g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                             "%s: its build_command returned no command", G_OBJECT_TYPE_NAME (self));
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (!mitogen_transport_spawn_command (self, (const char * const *) command, NULL, klass->spawn_flags,
                                        &read_fd, &write_fd, &stderr_fd, &pid, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  mitogen_transport_return_spawned (task, read_fd, write_fd, stderr_fd, pid);
}

static void
reap_cb (GPid     pid,
         int      status,
         gpointer data)
{
  g_spawn_close_pid (pid);
}

/**
 * mitogen_transport_reap_later: (skip)
 * @pid: a child of this process that was not handed to the core
 * @context: (nullable): where to wait for it, or %NULL for the global
 *   default main context
 *
 * Reaps @pid once it exits, without waiting: for a plugin that gives up a
 * child it spawned (after a failed start, usually once it has sent it
 * SIGKILL), so that no zombie is left.
 */
void
mitogen_transport_reap_later (GPid          pid,
                              GMainContext *context)
{
  GSource *watch;

  g_return_if_fail (pid > 0);

  watch = g_child_watch_source_new (pid);
  g_source_set_callback (watch, G_SOURCE_FUNC (reap_cb), NULL, NULL);
  g_source_set_static_name (watch, "[mitogen] transport reaper");
  g_source_attach (watch, context);
  g_source_unref (watch);
}

/**
 * mitogen_transport_wipe_secret: (skip)
 * @secret: (nullable) (transfer full): a password or passphrase
 *
 * Overwrites @secret with zeros, then frees it: for the copies of
 * passwords a plugin keeps while a start types them.
 */
void
mitogen_transport_wipe_secret (char *secret)
{
  if (secret != NULL)
    {
      volatile char *p = secret;

      while (*p != '\0')
        *p++ = '\0';
      g_free (secret);
    }
}
