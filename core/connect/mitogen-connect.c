/* mitogen-connect.c — starting a context: the router's factories
 *
 * A connect runs on the broker thread: the transport starts the target and
 * hands over descriptors; the stream then accepts exactly one small frame,
 * the agent's greeting; we answer with its configuration (id, parents,
 * name, limits) and the context is up. Any failure — the transport, the
 * agent dying, a wrong first frame, connect-timeout, cancellation — ends
 * the attempt with an error naming the step, and kills what was started.
 *
 * The program started is the `agent` option's (else the router's default):
 * the stock agent, or a closure (agent=self, dynamic) whose files are
 * found and hashed in a worker thread before the broker starts the
 * target (mitogen-agent-image.c).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-connect"

#include "config.h"

#include "mitogen-agent-image-private.h"
#include "mitogen-bootstrap-private.h"
#include "mitogen-command-transport-private.h"
#include "mitogen-connect-private.h"
#include "mitogen-interaction-forward-private.h"
#include "mitogen-plugins-private.h"
#include "mitogen-broker-private.h"
#include "mitogen-context-private.h"
#include "mitogen-ids-private.h"
#include "mitogen-message-private.h"
#include "mitogen-protocol-private.h"
#include "mitogen-router-private.h"
#include "mitogen-stream-private.h"
#include "mitogen-transport-private.h"


typedef struct
{
  MitogenRouter    *router;       /* (owned) */
  MitogenTransport *transport;    /* (owned) */
  MitogenContext   *via;          /* (owned) (nullable) */
  MitogenStream    *stream;       /* (owned) (nullable) broker thread */
  GSource          *timeout;      /* (owned) (nullable) broker thread */
  GCancellable     *cancellable;  /* (owned) (nullable) */
  GMainContext     *user_context; /* (owned) the caller's; the context's signals are emitted there */
  gulong            cancel_id;
  char             *method;       /* (owned) */
  char             *name;         /* (owned) (nullable) */
  guint32           context_id;
  GPid              pid;          /* what the transport started (sudo, ssh, the agent itself) */
  GPid              agent_pid;    /* the agent's, from its greeting */
  gint64            agent_uid;    /* from its greeting; -1: not told */
  char             *agent_user;   /* (owned) (nullable) from its greeting */
  gboolean          done;         /* broker thread: the task has been completed */
  gboolean          hooked;       /* broker thread: the stream's hooks hold a task reference */
  MitogenBootstrap *bootstrap;    /* (owned) (nullable) broker thread */
  guint64           bootstrap_bytes;
  MitogenAgentKind  agent;        /* what to start (effective: see mitogen_agent_kind_effective ()) */
  MitogenAgentImage *image;       /* (owned) (nullable) agent=self/dynamic, set before the broker starts */
  GError           *image_error;  /* (owned) (nullable) finding the image failed */
  MitogenInteraction *interaction; /* (owned) (nullable) this connect's own (an agent's forwarding one) */
  guint32           serve_handle; /* via: where the intermediate's interaction requests come, or 0 */
} ConnectOp;

static void
connect_op_free (gpointer data)
{
  ConnectOp *op = data;

  g_assert (op->timeout == NULL);
  g_clear_pointer (&op->bootstrap, mitogen_bootstrap_free);
  g_clear_pointer (&op->image, mitogen_agent_image_unref);
  g_clear_error (&op->image_error);
  if (op->serve_handle != 0)
    mitogen_router_del_handler (op->router, op->serve_handle);
  g_clear_object (&op->interaction);
  if (op->cancel_id != 0)
    g_cancellable_disconnect (op->cancellable, op->cancel_id);
  g_clear_object (&op->cancellable);
  g_clear_pointer (&op->user_context, g_main_context_unref);
  g_clear_object (&op->stream);
  g_clear_object (&op->via);
  g_clear_object (&op->transport);
  g_clear_object (&op->router);
  g_free (op->method);
  g_free (op->name);
  g_free (op->agent_user);
  g_free (op);
}

/* Broker thread: ends the attempt (once), killing what was started. */
static void
connect_fail (GTask  *task,
              GError *error)
{
  /* Destroying our sources drops their references to @task. */
  g_autoptr(GTask) hold = g_object_ref (task);
  ConnectOp *op = g_task_get_task_data (task);

  if (op->done)
    {
      g_error_free (error);
      return;
    }
  op->done = TRUE;

  if (op->timeout != NULL)
    {
      g_source_destroy (op->timeout);
      g_clear_pointer (&op->timeout, g_source_unref);
    }

  /* Stop talking to stage 1 before its descriptors close. */
  g_clear_pointer (&op->bootstrap, mitogen_bootstrap_free);

  if (op->stream != NULL && error->domain == MITOGEN_ERROR &&
      (error->code == MITOGEN_ERROR_STREAM || error->code == MITOGEN_ERROR_TIMEOUT))
    {
      g_autofree char *tail = g_strstrip (mitogen_stream_dup_stderr_tail (op->stream));

      if (tail[0] != '\0')
        {
          GError *with_tail = g_error_new (error->domain, error->code, "%s; target stderr: %s",
                                           error->message, tail);
          g_error_free (error);
          error = with_tail;
        }
    }

  g_debug ("connect %s failed: %s", op->method, error->message);
  g_task_return_error (task, error);

  if (op->stream != NULL)
    {
      static const MitogenStreamHooks no_hooks = { 0 };
      gboolean hooked = op->hooked;

      op->hooked = FALSE;
      mitogen_stream_set_hooks (op->stream, &no_hooks, NULL);
      mitogen_stream_force_close (op->stream, "connect failed");
      if (hooked)
        g_object_unref (task);
    }
}

static void
handshake_message (MitogenStream  *stream,
                   MitogenMessage *message,
                   gpointer        user_data)
{
  GTask *task = user_data;
  g_autoptr(GTask) hold = g_object_ref (task);
  ConnectOp *op = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) config = NULL;
  g_autoptr(MitogenContext) context = NULL;
  MitogenGreeting greeting = { 0, };
  MitogenConfig settings = { 0, };
  guint32 parent = mitogen_router_get_context_id (op->router);
  g_autoptr(GArray) parents = g_array_new (FALSE, FALSE, sizeof (guint32));

  if (op->done)
    return;

  if (message->header.handle != MITOGEN_HANDLE_GREETING || mitogen_message_is_dead (message))
    {
      connect_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                       "%s: expected the agent's greeting, got a frame for handle %u",
                                       op->method, message->header.handle));
      return;
    }
  if (!mitogen_message_decode (message, &error) ||
      !mitogen_protocol_greeting_parse (message->value, &greeting, &error))
    {
      connect_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                       "%s: %s", op->method, error->message));
      return;
    }

  if (op->name == NULL)
    op->name = g_strdup_printf ("%s.%" G_GINT64_FORMAT, op->method, greeting.pid);
  op->agent_pid = (GPid) greeting.pid;
  op->agent_uid = greeting.uid;
  op->agent_user = g_steal_pointer (&greeting.user);
  mitogen_protocol_greeting_clear (&greeting);

  /* The new context's ancestry: us, then ours. */
  g_array_append_val (parents, parent);
  if (!mitogen_router_get_is_master (op->router))
    {
      gsize n = 0;
      const guint32 *ours = mitogen_parent_ids (&n);
      g_array_append_vals (parents, ours, (guint) n);
    }
  settings.context_id = op->context_id;
  settings.parent_ids = (const guint32 *) parents->data;
  settings.n_parent_ids = parents->len;
  settings.name = op->name;
  /* The router's defaults (enable_debug (), set_profiling ()) apply to
   * every context it starts, whatever the options say. */
  settings.debug = mitogen_transport_get_debug (op->transport) ||
                   mitogen_router_get_debug_default (op->router);
  settings.profiling = mitogen_transport_get_profiling (op->transport) ||
                       mitogen_router_get_profiling (op->router);
  settings.max_message_size = mitogen_transport_get_max_message_size (op->transport);
  /* The stream keepalive: the connect's options, else the router's. */
  mitogen_router_get_keepalive (op->router, &settings.keepalive_interval, &settings.keepalive_count);
  if (mitogen_transport_get_keepalive_interval (op->transport) >= 0)
    settings.keepalive_interval = mitogen_transport_get_keepalive_interval (op->transport);
  if (settings.keepalive_interval > 0 && settings.keepalive_interval < MITOGEN_KEEPALIVE_MIN_INTERVAL)
    settings.keepalive_interval = MITOGEN_KEEPALIVE_MIN_INTERVAL;
  if (mitogen_transport_get_keepalive_count (op->transport) > 0)
    settings.keepalive_count = (guint32) mitogen_transport_get_keepalive_count (op->transport);
  settings.keepalive_count = CLAMP (settings.keepalive_count, MITOGEN_KEEPALIVE_MIN_COUNT, MITOGEN_KEEPALIVE_MAX_COUNT);
  config = mitogen_message_new (op->context_id, MITOGEN_HANDLE_CONFIG, mitogen_protocol_config_new (&settings));
  config->header.src_id = parent;
  config->header.auth_id = parent;

  if (!mitogen_stream_send (stream, config))
    {
      connect_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                       "%s: stream closed while sending the configuration", op->method));
      return;
    }

  op->done = TRUE;
  if (op->timeout != NULL)
    {
      g_source_destroy (op->timeout);
      g_clear_pointer (&op->timeout, g_source_unref);
    }

  mitogen_stream_set_handshaken (stream, TRUE);
  mitogen_stream_set_max_message_size (stream, mitogen_transport_get_max_message_size (op->transport));
  /* The agent's pid, not that of what the transport started (sudo). */
  context = mitogen_context_new (op->router, op->context_id, op->name, op->via, op->agent_pid,
                                 op->user_context);
  mitogen_context_set_user (context, op->agent_uid, op->agent_user);
  mitogen_context_set_bootstrap_bytes (context, op->bootstrap_bytes);
  mitogen_router_register_context (op->router, context);
  mitogen_router_attach_stream (op->router, stream, op->context_id);
  mitogen_stream_set_keepalive (stream, settings.keepalive_interval, settings.keepalive_count);
  op->hooked = FALSE;
  /* In a child: our parents learn where the new context is. */
  mitogen_router_announce_route (op->router, op->context_id, op->name);

  g_debug ("connected %s (id %u, agent pid %d, started pid %d, uid %" G_GINT64_FORMAT ")",
           op->name, op->context_id, (int) op->agent_pid, (int) op->pid, op->agent_uid);
  g_task_return_pointer (task, g_steal_pointer (&context), g_object_unref);
  g_object_unref (task);  /* the stream hooks' reference */
}

static void
handshake_closed (MitogenStream *stream,
                  const GError  *error,
                  gpointer       user_data)
{
  GTask *task = user_data;
  ConnectOp *op = g_task_get_task_data (task);

  /* Releases the hooks' reference: @task is not used after this. */
  connect_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                   "%s: the agent exited or closed its stream before greeting%s%s",
                                   op->method, error != NULL ? ": " : "",
                                   error != NULL ? error->message : ""));
}

static const MitogenStreamHooks handshake_hooks = {
  .message = handshake_message,
  .closed = handshake_closed,
  .shutdown = NULL,
};

/* Broker thread. */
static gboolean
connect_timeout_cb (gpointer data)
{
  GTask *task = data;
  ConnectOp *op = g_task_get_task_data (task);

  mitogen_assert_broker_thread (mitogen_router_get_broker (op->router));
  g_clear_pointer (&op->timeout, g_source_unref);
  connect_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT,
                                   "%s: no greeting from the agent within connect_timeout (%.3g s)",
                                   op->method, mitogen_transport_get_connect_timeout (op->transport)));
  return G_SOURCE_REMOVE;
}

/* Broker thread. */
static gboolean
connect_cancelled_cb (gpointer data)
{
  GTask *task = data;
  ConnectOp *op = g_task_get_task_data (task);
  GError *error = NULL;

  mitogen_assert_broker_thread (mitogen_router_get_broker (op->router));
  g_cancellable_set_error_if_cancelled (g_task_get_cancellable (task), &error);
  if (error != NULL)
    connect_fail (task, error);
  return G_SOURCE_REMOVE;
}

/* Canceller's thread. */
static void
on_connect_cancelled (GCancellable *cancellable,
                      gpointer      user_data)
{
  GTask *task = user_data;
  ConnectOp *op = g_task_get_task_data (task);

  mitogen_broker_defer (mitogen_router_get_broker (op->router), connect_cancelled_cb,
                        g_object_ref (task), g_object_unref);
}

/* A transport's start failure as a MITOGEN_ERROR naming the step: errors
 * of other domains (spawning, sockets) become STREAM errors. Takes @error. */
static GError *
start_error (ConnectOp *op,
             GError    *error)
{
  GError *result;

  if (error->domain == MITOGEN_ERROR &&
      (error->code == MITOGEN_ERROR_PASSWORD || error->code == MITOGEN_ERROR_TIMEOUT ||
       error->code == MITOGEN_ERROR_STREAM))
    {
      if (error->code != MITOGEN_ERROR_PASSWORD)
        g_prefix_error (&error, "%s: could not start: ", op->method);
      return error;
    }
  result = g_error_new (MITOGEN_ERROR, error->domain == MITOGEN_ERROR ? error->code : MITOGEN_ERROR_STREAM,
                        "%s: could not start: %s", op->method, error->message);
  g_error_free (error);
  return result;
}

/* Broker thread: the agent is (about to be) running; await its greeting. */
static void
await_greeting (GTask *task)
{
  ConnectOp *op = g_task_get_task_data (task);

  mitogen_assert_broker_thread (mitogen_router_get_broker (op->router));
  mitogen_stream_set_hooks (op->stream, &handshake_hooks, g_object_ref (task));
  op->hooked = TRUE;
  mitogen_stream_start (op->stream);
}

/* Broker thread. */
static void
bootstrap_done (gpointer      user_data,
                guint64       bytes_sent,
                const char   *report,
                const GError *error)
{
  GTask *task = user_data;
  ConnectOp *op = g_task_get_task_data (task);

  mitogen_assert_broker_thread (mitogen_router_get_broker (op->router));
  if (error != NULL)
    {
      connect_fail (task, g_error_copy (error));
      return;
    }
  op->bootstrap_bytes = bytes_sent;
  g_debug ("%s: bootstrap shipped %" G_GUINT64_FORMAT " agent bytes (%s)", op->method, bytes_sent, report);
  await_greeting (task);
}

/* Broker thread: the transport has the target running. */
static void
spawned (GTask *task,
         int    read_fd,
         int    write_fd,
         int    stderr_fd)
{
  ConnectOp *op = g_task_get_task_data (task);
  MitogenBroker *broker = mitogen_router_get_broker (op->router);
  g_autofree char *stream_name = g_strdup_printf ("%s[%u]", op->method, op->context_id);

  mitogen_assert_broker_thread (mitogen_router_get_broker (op->router));
  op->stream = mitogen_stream_new (broker, stream_name, read_fd, write_fd, op->pid,
                                   mitogen_transport_get_max_message_size (op->transport));
  mitogen_stream_watch_stderr (op->stream, stderr_fd);

  if (op->done)
    {
      /* Timed out or cancelled meanwhile: undo the start. */
      mitogen_stream_force_close (op->stream, "connect abandoned");
      return;
    }

  if (mitogen_transport_get_bootstrap (op->transport))
    op->bootstrap = mitogen_bootstrap_start (read_fd, write_fd,
                                             mitogen_transport_get_bootstrap_format (op->transport),
                                             op->image,
                                             mitogen_broker_get_main_context (broker),
                                             bootstrap_done, task);
  else
    await_greeting (task);
}

/* Broker thread: the transport waits for the application's interaction
 * (or no longer does): connect_timeout stops meanwhile, and starts afresh
 * with the answer. */
static void
connect_asking (gpointer data,
                gboolean asking)
{
  GTask *task = data;
  ConnectOp *op = g_task_get_task_data (task);

  if (op->done)
    return;
  if (op->timeout != NULL)
    {
      g_source_destroy (op->timeout);
      g_clear_pointer (&op->timeout, g_source_unref);
    }
  if (!asking)
    op->timeout = mitogen_broker_attach_timeout (mitogen_router_get_broker (op->router),
                                                 (guint) (mitogen_transport_get_connect_timeout (op->transport) * 1000),
                                                 connect_timeout_cb, g_object_ref (task), g_object_unref);
}

/* Broker thread. */
static void
spawn_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  ConnectOp *op = g_task_get_task_data (task);
  MitogenTransportClass *klass = MITOGEN_TRANSPORT_GET_CLASS (op->transport);
  GError *error = NULL;
  int read_fd = -1, write_fd = -1, stderr_fd = -1;

  mitogen_assert_broker_thread (mitogen_router_get_broker (op->router));
  mitogen_transport_set_interaction (op->transport, NULL, NULL, NULL, NULL);
  if (!klass->spawn_finish (op->transport, result, &read_fd, &write_fd, &stderr_fd, &op->pid, &error))
    {
      connect_fail (task, start_error (op, error));
      return;
    }
  spawned (task, read_fd, write_fd, stderr_fd);
}

/* Broker thread. */
static gboolean
connect_start_cb (gpointer data)
{
  GTask *task = data;
  ConnectOp *op = g_task_get_task_data (task);
  MitogenTransportClass *klass = MITOGEN_TRANSPORT_GET_CLASS (op->transport);
  MitogenBroker *broker = mitogen_router_get_broker (op->router);
  GError *error = NULL;

  mitogen_assert_broker_thread (mitogen_router_get_broker (op->router));
  if (op->done)
    return G_SOURCE_REMOVE;
  if (op->image_error != NULL)
    {
      connect_fail (task, g_steal_pointer (&op->image_error));
      return G_SOURCE_REMOVE;
    }

  /* Everything from here on is bounded by connect_timeout. */
  op->timeout = mitogen_broker_attach_timeout (broker,
                                               (guint) (mitogen_transport_get_connect_timeout (op->transport) * 1000),
                                               connect_timeout_cb, g_object_ref (task), g_object_unref);

  if (klass->spawn_async != NULL || klass->build_command != NULL)
    {
      g_auto(GStrv) argv = NULL;
      g_autofree char *argv0 = mitogen_transport_dup_argv0 (op->transport);
      /* `command` stands for a plugin of the master: it says for it. */
      gboolean shares_files = MITOGEN_IS_COMMAND_TRANSPORT (op->transport)
                              ? mitogen_command_transport_get_shares_files (MITOGEN_COMMAND_TRANSPORT (op->transport))
                              : klass->shares_files;

      /* A closure is shipped file by file, or run here directly. */
      if (op->image != NULL && mitogen_transport_get_bootstrap (op->transport))
        argv = mitogen_bootstrap_closure_argv (mitogen_transport_get_bootstrap_shell (op->transport), argv0,
                                               mitogen_transport_get_closure_cache (op->transport),
                                               shares_files ? op->image->program : NULL,
                                               op->image, &error);
      else if (op->image != NULL)
        argv = mitogen_agent_image_direct_argv (op->image, argv0);
      else
        {
          /* An agent whose file is gone ships its own image to its children. */
          if (mitogen_agent_path () == NULL)
            g_object_set (op->transport, "bootstrap", TRUE, NULL);
          if (mitogen_transport_get_bootstrap (op->transport))
            argv = mitogen_bootstrap_argv (mitogen_transport_get_bootstrap_shell (op->transport), argv0,
                                           mitogen_transport_get_agent_cache (op->transport),
                                           shares_files ? mitogen_agent_path () : NULL,
                                           mitogen_transport_get_bootstrap_format (op->transport), &error);
          else
            {
              const char *direct[] = { mitogen_agent_path (), argv0, NULL };
              argv = g_strdupv ((char **) direct);
            }
        }
      if (argv == NULL)
        {
          connect_fail (task, error);
          return G_SOURCE_REMOVE;
        }
      {
        g_autoptr(MitogenInteraction) interaction = op->interaction != NULL ? g_object_ref (op->interaction)
                                                                            : mitogen_router_dup_interaction (op->router);

        /* Asked in the main context of whoever started the connect (a
         * sync connect's own, which its thread iterates meanwhile). */
        if (interaction != NULL)
          mitogen_transport_set_interaction (op->transport, interaction, g_task_get_context (task),
                                             connect_asking, task);
      }
      if (klass->spawn_async != NULL)
        klass->spawn_async (op->transport, (const char * const *) argv, op->cancellable,
                            spawn_done_cb, g_object_ref (task));
      else
        mitogen_transport_command_spawn_async (op->transport, (const char * const *) argv, op->cancellable,
                                               spawn_done_cb, g_object_ref (task));
      return G_SOURCE_REMOVE;
    }

  if (op->image != NULL)
    {
      connect_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                                       "%s: the transport can only start the stock agent (it has no spawn_async())",
                                       op->method));
      return G_SOURCE_REMOVE;
    }
  if (klass->start == NULL)
    {
      connect_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                                       "%s: transport implements neither start() nor spawn_async()", op->method));
      return G_SOURCE_REMOVE;
    }
  {
    int read_fd = -1, write_fd = -1;

    if (!klass->start (op->transport, mitogen_agent_path (), &read_fd, &write_fd, &op->pid, &error))
      {
        connect_fail (task, start_error (op, error));
        return G_SOURCE_REMOVE;
      }
    spawned (task, read_fd, write_fd, -1);
  }
  return G_SOURCE_REMOVE;
}

static void connect_async_internal (MitogenRouter       *self,
                                    const char          *method,
                                    GVariant            *options,
                                    MitogenContext      *via,
                                    guint32              fixed_id,
                                    MitogenInteraction  *interaction,
                                    GCancellable        *cancellable,
                                    GMainContext        *user_context,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data);

/**
 * mitogen_router_connect_async:
 * @self: a router
 * @method: a connection method: `local`, `ssh`, `sudo`, ...
 * @options: (nullable): an `a{sv}` of options for the method's transport;
 *   a floating reference is sunk
 * @via: (nullable): the context to start the new one from, or %NULL for
 *   this process
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called in the calling thread's thread-default
 *   main context
 * @user_data: data for @callback
 *
 * Starts a new context. Any thread.
 */
void
mitogen_router_connect_async (MitogenRouter       *self,
                              const char          *method,
                              GVariant            *options,
                              MitogenContext      *via,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GMainContext) user_context = g_main_context_ref_thread_default ();

  connect_async_internal (self, method, options, via, 0, NULL, cancellable, user_context, callback, user_data);
}

/* Caller's context: the intermediate has started the new context. */
static void
via_connect_done_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  ConnectOp *op = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = mitogen_context_call_finish (MITOGEN_CONTEXT (source), result, &error);
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GVariant) identity = NULL;
  g_autofree char *user = NULL;
  const char *name;
  gint64 pid, uid = -1;
  guint64 bootstrap_bytes = 0;

  if (value == NULL)
    {
      /* Unwrap the intermediate's own connect error: it is ours. */
      if (g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL) &&
          g_strcmp0 (mitogen_error_get_remote_domain (error), "mitogen-error-quark") == 0)
        g_task_return_new_error (task, MITOGEN_ERROR, mitogen_error_get_remote_code (error),
                                 "via %s: %s", mitogen_context_get_name (op->via),
                                 mitogen_error_get_remote_message (error));
      else
        g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* (sx) and (sxt) from intermediates of earlier releases. */
  if (g_variant_is_of_type (value, G_VARIANT_TYPE ("(sxta{sv})")))
    g_variant_get (value, "(&sxt@a{sv})", &name, &pid, &bootstrap_bytes, &identity);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE ("(sxt)")))
    g_variant_get (value, "(&sxt)", &name, &pid, &bootstrap_bytes);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE ("(sx)")))
    g_variant_get (value, "(&sx)", &name, &pid);
  else
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                               "via %s: unexpected reply of type %s", mitogen_context_get_name (op->via),
                               g_variant_get_type_string (value));
      return;
    }
  if (pid < 0 || pid > G_MAXINT32 ||
      (identity != NULL && !mitogen_protocol_identity_parse (identity, &uid, &user, &error)))
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                               "via %s: bad reply: %s", mitogen_context_get_name (op->via),
                               error != NULL ? error->message : "pid out of range");
      return;
    }
  context = mitogen_context_new (op->router, op->context_id, name, op->via, (GPid) pid, op->user_context);
  mitogen_context_set_user (context, uid, user);
  /* What the intermediate shipped, from its own copy. */
  mitogen_context_set_bootstrap_bytes (context, bootstrap_bytes);
  mitogen_router_register_context (op->router, context);
  g_task_return_pointer (task, g_steal_pointer (&context), g_object_unref);
}

static void connect_sync_cb (GObject *source, GAsyncResult *result, gpointer user_data);

/* The agent's "mitogen.connect": starts a child with the id our parent
 * chose, synchronously (main thread), and announces its route. */
MitogenContext *
mitogen_router_connect_with_id (MitogenRouter      *self,
                                const char         *method,
                                GVariant           *options,
                                guint32             context_id,
                                MitogenInteraction *interaction,
                                GError            **error)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GMainContext) user_context = g_main_context_ref_thread_default ();
  g_autoptr(GAsyncResult) result = NULL;

  g_main_context_push_thread_default (context);
  connect_async_internal (self, method, options, NULL, context_id, interaction, NULL, user_context, connect_sync_cb, &result);
  while (result == NULL)
    g_main_context_iteration (context, TRUE);
  g_main_context_pop_thread_default (context);

  return mitogen_router_connect_finish (self, result, error);
}

/* Starts a child with an id the caller allocated (fakessh adopts its
 * clients so); finish with mitogen_router_connect_finish (). */
void
mitogen_router_connect_with_id_async (MitogenRouter       *self,
                                      const char          *method,
                                      GVariant            *options,
                                      guint32              context_id,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  g_autoptr(GMainContext) user_context = g_main_context_ref_thread_default ();

  connect_async_internal (self, method, options, NULL, context_id, NULL, cancellable, user_context,
                          callback, user_data);
}

/* Any thread: the program a connect starts: @option (the transport's
 * `agent`, nullable), else the router's default. */
static gboolean
resolve_agent (MitogenRouter     *router,
               const char        *method,
               const char        *option,
               MitogenAgentKind  *kind,
               GError           **error)
{
  const char *value = option != NULL ? option : mitogen_router_get_default_agent (router);

  if (mitogen_agent_kind_parse (value, kind))
    return TRUE;
  if (option != NULL)
    g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                 "Option 'agent' of method '%s' must be one of: " MITOGEN_AGENT_KINDS " (not '%s')",
                 method, value);
  else
    g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                 "The router's default agent '%s' is not one of: " MITOGEN_AGENT_KINDS, value);
  return FALSE;
}

/* A worker thread (GTask @thread_task, whose task data is the connect's
 * task): finds the closure to start, off the broker thread and the
 * caller's, then has the broker start the target. */
static void
find_image_thread (GTask        *thread_task,
                   gpointer      source_object,
                   gpointer      task_data,
                   GCancellable *unused)
{
  GTask *task = task_data;
  ConnectOp *op = g_task_get_task_data (task);
  MitogenBroker *broker = mitogen_router_get_broker (op->router);

  op->image = mitogen_agent_image_get (op->agent, &op->image_error);
  if (op->image_error != NULL)
    g_prefix_error (&op->image_error, "%s: ", op->method);
  /* Nothing runs on the broker for this connect yet. */
  if (!mitogen_broker_is_running (broker))
    g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED,
                             "%s: the router's broker has shut down", op->method);
  else
    mitogen_broker_defer (broker, connect_start_cb, g_object_ref (task), g_object_unref);
  g_task_return_boolean (thread_task, TRUE);
}

static void
connect_async_internal (MitogenRouter       *self,
                        const char          *method,
                        GVariant            *options,
                        MitogenContext      *via,
                        guint32              fixed_id,
                        MitogenInteraction  *interaction,
                        GCancellable        *cancellable,
                        GMainContext        *user_context,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  ConnectOp *op;

  g_return_if_fail (MITOGEN_IS_ROUTER (self));
  g_return_if_fail (method != NULL);
  g_return_if_fail (via == NULL || MITOGEN_IS_CONTEXT (via));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_router_connect_async);

  op = g_new0 (ConnectOp, 1);
  op->agent_uid = -1;
  op->router = g_object_ref (self);
  op->user_context = g_main_context_ref (user_context);
  op->method = g_strdup (method);
  op->via = via != NULL ? g_object_ref (via) : NULL;
  op->interaction = interaction != NULL ? g_object_ref (interaction) : NULL;
  g_task_set_task_data (task, op, connect_op_free);

  if (via != NULL)
    {
      g_autoptr(GVariant) opts = options != NULL ? g_variant_ref_sink (options)
                                                 : g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));

      if (!g_variant_is_of_type (opts, G_VARIANT_TYPE_VARDICT))
        {
          g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                                   "Options for method '%s' must be of type a{sv}, not %s",
                                   method, g_variant_get_type_string (opts));
          return;
        }
      /* The router's default agent holds along the whole chain: the
       * intermediate gets it as the option. */
      if (!g_variant_lookup (opts, "agent", "*", NULL))
        {
          const char *agent = mitogen_router_get_default_agent (self);
          MitogenAgentKind kind;

          if (!resolve_agent (self, method, NULL, &kind, &error))
            {
              g_task_return_error (task, g_steal_pointer (&error));
              return;
            }
          if (kind != MITOGEN_AGENT_STOCK)
            {
              g_autoptr(GVariantDict) dict = g_variant_dict_new (opts);

              g_variant_dict_insert (dict, "agent", "s", agent);
              g_clear_pointer (&opts, g_variant_unref);
              opts = g_variant_ref_sink (g_variant_dict_end (dict));
            }
        }
      /* A declarative plugin the intermediate may lack: its command line,
       * made here, runs there through `command`. */
      {
        GVariant *command_opts = mitogen_command_transport_options_for (method, opts, &error);

        if (command_opts == NULL && error != NULL)
          {
            g_task_return_error (task, g_steal_pointer (&error));
            return;
          }
        if (command_opts != NULL)
          {
            g_clear_pointer (&opts, g_variant_unref);
            opts = g_variant_ref_sink (command_opts);
            method = MITOGEN_COMMAND_METHOD;
          }
      }
      /* The intermediate's transport asks our interaction: it gets the
       * handle that serves its requests (docs/protocol.md). */
      {
        g_autoptr(MitogenInteraction) ours = mitogen_router_dup_interaction (self);

        if (ours != NULL)
          {
            g_autoptr(GVariantDict) dict = g_variant_dict_new (opts);

            op->serve_handle = mitogen_interaction_serve (self, ours, g_task_get_context (task), via);
            g_variant_dict_insert (dict, MITOGEN_INTERACTION_HANDLE_OPTION, "u", op->serve_handle);
            g_variant_dict_insert (dict, MITOGEN_INTERACTION_TIMEOUT_OPTION, "d",
                                   mitogen_interaction_get_timeout (ours));
            g_clear_pointer (&opts, g_variant_unref);
            opts = g_variant_ref_sink (g_variant_dict_end (dict));
          }
      }
      /* The intermediate runs the transport; we choose the id. */
      mitogen_ids_serve (self);
      if (!mitogen_ids_allocate (self, &op->context_id, &error))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
      mitogen_context_call_async (via, "mitogen.connect",
                                  g_variant_new ("(s@a{sv}u)", method, opts, op->context_id),
                                  cancellable, via_connect_done_cb, g_steal_pointer (&task));
      return;
    }

  op->transport = mitogen_transport_new_for_method (method, options, &error);
  if (op->transport == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (!mitogen_broker_is_running (mitogen_router_get_broker (self)))
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED,
                               "%s: the router's broker has shut down", method);
      return;
    }

  if (!resolve_agent (self, method, mitogen_transport_get_agent (op->transport), &op->agent, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  op->agent = mitogen_agent_kind_effective (op->agent);

  if (MITOGEN_IS_COMMAND_TRANSPORT (op->transport))
    {
      /* Messages name the plugin it stands for. */
      g_free (op->method);
      op->method = g_strdup (mitogen_command_transport_get_label (MITOGEN_COMMAND_TRANSPORT (op->transport)));
    }
  op->name = g_strdup (mitogen_transport_get_remote_name (op->transport));
  if (fixed_id != 0)
    op->context_id = fixed_id;
  else if (mitogen_ids_serve (self), !mitogen_ids_allocate (self, &op->context_id, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (cancellable != NULL)
    {
      op->cancellable = g_object_ref (cancellable);
      op->cancel_id = g_cancellable_connect (cancellable, G_CALLBACK (on_connect_cancelled), task, NULL);
    }

  if (op->agent != MITOGEN_AGENT_STOCK)
    {
      /* Reading and hashing a closure takes milliseconds to seconds. */
      g_autoptr(GTask) thread_task = g_task_new (NULL, NULL, NULL, NULL);

      g_task_set_source_tag (thread_task, find_image_thread);
      g_task_set_task_data (thread_task, g_steal_pointer (&task), g_object_unref);
      g_task_run_in_thread (thread_task, find_image_thread);
      return;
    }
  mitogen_broker_defer (mitogen_router_get_broker (self), connect_start_cb,
                        g_steal_pointer (&task), g_object_unref);
}

/**
 * mitogen_router_connect_finish:
 * @self: a router
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Router.connect_async]. Errors are those of
 * [method@Mitogen.Router.connect]. Call it in the callback, in the thread
 * that started the connection.
 *
 * Returns: (transfer full): the new context, or %NULL with @error set
 */
MitogenContext *
mitogen_router_connect_finish (MitogenRouter  *self,
                               GAsyncResult   *result,
                               GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mitogen_router_connect_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
connect_sync_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GAsyncResult **out = user_data;
  *out = g_object_ref (result);
}

/**
 * mitogen_router_connect:
 * @self: a router
 * @method: a connection method: `local`, `ssh`, `sudo`, ...
 * @options: (nullable): an `a{sv}` of options; a floating reference is sunk
 * @via: (nullable): the context to start the new one from
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Starts a new context and waits until it is up. Any thread but the
 * broker's.
 *
 * Returns: (transfer full): the new context; %NULL with
 *   %MITOGEN_ERROR_NOT_FOUND (unknown method), %MITOGEN_ERROR_INVALID_ARGUMENT
 *   (bad option), %MITOGEN_ERROR_STREAM (the target failed to start),
 *   %MITOGEN_ERROR_TIMEOUT or %G_IO_ERROR_CANCELLED
 */
MitogenContext *
mitogen_router_connect (MitogenRouter   *self,
                        const char      *method,
                        GVariant        *options,
                        MitogenContext  *via,
                        GCancellable    *cancellable,
                        GError         **error)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GMainContext) user_context = g_main_context_ref_thread_default ();
  g_autoptr(GAsyncResult) result = NULL;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);
  g_return_val_if_fail (!mitogen_broker_is_broker_thread (mitogen_router_get_broker (self)), NULL);

  g_main_context_push_thread_default (context);
  connect_async_internal (self, method, options, via, 0, NULL, cancellable, user_context, connect_sync_cb, &result);
  while (result == NULL)
    g_main_context_iteration (context, TRUE);
  g_main_context_pop_thread_default (context);

  return mitogen_router_connect_finish (self, result, error);
}

/**
 * mitogen_router_local:
 * @self: a router
 * @options: (nullable): an `a{sv}` of options; a floating reference is sunk
 * @via: (nullable): the context to start the new one from
 * @error: return location for a #GError
 *
 * The seed's `Router.local()`: starts a child context on this machine.
 *
 * Returns: (transfer full): the new context, or %NULL with @error set
 */
MitogenContext *
mitogen_router_local (MitogenRouter   *self,
                      GVariant        *options,
                      MitogenContext  *via,
                      GError         **error)
{
  return mitogen_router_connect (self, "local", options, via, NULL, error);
}
