/* mitogen-context.c — MitogenContext: a peer process, and calls into it
 *
 * A context is a handle on a process in the tree. The router keeps the
 * contexts it knows; a context only holds a weak reference back, so
 * dropping the router ends everything even while contexts are referenced.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-context"

#include "config.h"

#include "mitogen-broker-private.h"
#include "mitogen-error-private.h"
#include "mitogen-context-private.h"
#include "mitogen-message-private.h"
#include "mitogen-protocol-private.h"
#include "mitogen-receiver-private.h"
#include "mitogen-router-private.h"

struct _MitogenContext
{
  GObject         parent_instance;

  GWeakRef        router;        /* MitogenRouter */
  GMainContext   *main_context;  /* (owned) ::disconnect is emitted here */
  MitogenContext *via;           /* (owned) (nullable) */
  char           *name;          /* (owned) */
  guint32         id;
  GPid            pid;           /* the agent's own, as it told us; 0: not known */
  gint64          uid;           /* set once, before the context is handed out; -1: not known */
  char           *user_name;     /* (owned) (nullable) likewise */
  gint            connected;     /* (atomic) */
  guint64         bootstrap_bytes; /* set once, before the context is handed out */
};

enum
{
  SIGNAL_DISCONNECT,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/**
 * MitogenContext:
 *
 * A process in the tree: the seed's `Context`.
 *
 * Contexts come from [method@Mitogen.Router.connect] and its wrappers, or
 * from [method@Mitogen.Router.context_by_id]. Calls run a function
 * registered by name in the context: [method@Mitogen.Context.call] blocks,
 * [method@Mitogen.Context.call_async] completes in the caller's main
 * context, and [method@Mitogen.Context.begin_call] returns the
 * [class@Mitogen.Receiver] the reply will arrive on.
 *
 * The router owns its contexts; a context holds only a weak reference back,
 * so dropping the router ends everything even while contexts are still
 * referenced.
 */
G_DEFINE_FINAL_TYPE (MitogenContext, mitogen_context, G_TYPE_OBJECT)

static void
mitogen_context_finalize (GObject *object)
{
  MitogenContext *self = MITOGEN_CONTEXT (object);

  g_weak_ref_clear (&self->router);
  g_clear_object (&self->via);
  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->user_name, g_free);
  g_clear_pointer (&self->main_context, g_main_context_unref);

  G_OBJECT_CLASS (mitogen_context_parent_class)->finalize (object);
}

static void
mitogen_context_class_init (MitogenContextClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mitogen_context_finalize;

  /**
   * MitogenContext::disconnect:
   * @self: the context
   *
   * The context went away (exit, kill, broken stream, shutdown). Emitted in
   * the main context that was thread-default when the context was made.
   */
  signals[SIGNAL_DISCONNECT] =
    g_signal_new ("disconnect", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
mitogen_context_init (MitogenContext *self)
{
  g_weak_ref_init (&self->router, NULL);
  self->uid = -1;
  self->connected = TRUE;
}

MitogenContext *
mitogen_context_new (MitogenRouter  *router,
                     guint32         context_id,
                     const char     *name,
                     MitogenContext *via,
                     GPid            pid,
                     GMainContext   *main_context)
{
  MitogenContext *self = g_object_new (MITOGEN_TYPE_CONTEXT, NULL);

  g_weak_ref_set (&self->router, router);
  self->id = context_id;
  self->name = g_strdup (name);
  self->via = via != NULL ? g_object_ref (via) : NULL;
  self->pid = pid;
  self->main_context = main_context != NULL ? g_main_context_ref (main_context)
                                            : g_main_context_ref_thread_default ();
  return self;
}

static gboolean
emit_disconnect_cb (gpointer data)
{
  g_signal_emit (data, signals[SIGNAL_DISCONNECT], 0);
  return G_SOURCE_REMOVE;
}

void
mitogen_context_mark_disconnected (MitogenContext *self)
{
  if (!g_atomic_int_compare_and_exchange (&self->connected, TRUE, FALSE))
    return;

  g_debug ("context %u (%s) disconnected", self->id, self->name);
  if (g_signal_has_handler_pending (self, signals[SIGNAL_DISCONNECT], 0, TRUE))
    {
      g_autoptr(GSource) source = g_idle_source_new ();

      g_source_set_callback (source, emit_disconnect_cb, g_object_ref (self), g_object_unref);
      g_source_set_static_name (source, "[mitogen] context disconnect");
      g_source_attach (source, self->main_context);
    }
}

/**
 * mitogen_context_get_id:
 * @self: a context
 *
 * The context's id, unique in the tree; it addresses messages to the
 * context. Any thread.
 *
 * Returns: the context's id (0 is the master)
 */
guint32
mitogen_context_get_id (MitogenContext *self)
{
  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), 0);
  return self->id;
}

/**
 * mitogen_context_get_name:
 * @self: a context
 *
 * The context's name: the method and a distinguishing part (`local.1234`),
 * or the `remote_name` option. Any thread.
 *
 * Returns: the context's name, as used in logs and errors
 */
const char *
mitogen_context_get_name (MitogenContext *self)
{
  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), NULL);
  return self->name;
}

/**
 * mitogen_context_get_router:
 * @self: a context
 *
 * The router that knows this context. A context holds only a weak reference
 * to it: dropping the last router reference shuts everything down. Any
 * thread.
 *
 * Returns: (transfer none) (nullable): the router, or %NULL once it is gone
 */
MitogenRouter *
mitogen_context_get_router (MitogenContext *self)
{
  MitogenRouter *router = g_weak_ref_get (&self->router);

  /* The router keeps its contexts, so it outlives this borrowed pointer
   * for as long as the caller's router reference does. */
  if (router != NULL)
    g_object_unref (router);
  return router;
}

/**
 * mitogen_context_get_via:
 * @self: a context
 *
 * The context this one was started through (the seed's `via=`), or %NULL for
 * a child of this process. Any thread.
 *
 * Returns: (transfer none) (nullable): the context this one was started through
 */
MitogenContext *
mitogen_context_get_via (MitogenContext *self)
{
  return self->via;
}

/**
 * mitogen_context_get_pid:
 * @self: a context
 *
 * The process id of the context's agent, as the agent told it when it
 * started (in its greeting; for a context started through another, as
 * that one relayed it): what `os.getpid` returns in the context. Under
 * sudo this is the agent's pid, not sudo's. It is a pid on the context's
 * host and in its pid namespace: signal it only for a context on this
 * machine (the `local` and `sudo` methods), never for one over ssh or in a
 * container. Any thread.
 *
 * Returns: the agent's process id, or 0 for a context this process did
 *   not start or see started (one it learned of through a route, or its
 *   own parent)
 */
GPid
mitogen_context_get_pid (MitogenContext *self)
{
  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), 0);
  return self->pid;
}

/**
 * mitogen_context_get_uid:
 * @self: a context
 *
 * The effective user id the context's agent runs as, as the agent told it
 * when it started (like [method@Mitogen.Context.get_pid]): under sudo,
 * the target user's. Any thread.
 *
 * Returns: the agent's effective uid, or -1 if not known
 */
gint64
mitogen_context_get_uid (MitogenContext *self)
{
  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), -1);
  return self->uid;
}

/**
 * mitogen_context_get_user_name:
 * @self: a context
 *
 * The name of the user the context's agent runs as (of its effective
 * uid, from the context's own user database), as the agent told it when
 * it started. Any thread.
 *
 * Returns: (nullable): the user name, or %NULL if not known (the uid has
 *   no passwd entry there, or the context was not started by or through
 *   this process)
 */
const char *
mitogen_context_get_user_name (MitogenContext *self)
{
  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), NULL);
  return self->user_name;
}

/* Before the context is handed out (connect): who the agent runs as. */
void
mitogen_context_set_user (MitogenContext *self,
                          gint64          uid,
                          const char     *user_name)
{
  self->uid = uid;
  g_free (self->user_name);
  self->user_name = g_strdup (user_name);
}

/**
 * mitogen_context_get_bootstrap_bytes:
 * @self: a context
 *
 * How many bytes of agent files the zero-install bootstrap shipped to
 * start this context (compressed, as they crossed the stream): 0 when
 * nothing was shipped (an installed agent, the local fast path, or a
 * target whose cache had every file). For a context started through
 * another, what that context shipped. Any thread.
 *
 * Returns: the bytes of agent files shipped to start the context
 */
guint64
mitogen_context_get_bootstrap_bytes (MitogenContext *self)
{
  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), 0);

  return self->bootstrap_bytes;
}

/* Before the context is handed out (connect). */
void
mitogen_context_set_bootstrap_bytes (MitogenContext *self,
                                     guint64         bytes)
{
  self->bootstrap_bytes = bytes;
}

/**
 * mitogen_context_is_connected:
 * @self: a context
 *
 * Tells whether the context is still reachable; it becomes %FALSE, once and
 * for all, when its stream closes or the router shuts down, and
 * [signal@Mitogen.Context::disconnect] is emitted. Any thread.
 *
 * Returns: %FALSE once the context has gone away
 */
gboolean
mitogen_context_is_connected (MitogenContext *self)
{
  return g_atomic_int_get (&self->connected);
}

/**
 * mitogen_context_send:
 * @self: a context
 * @handle: the destination handle
 * @value: (nullable): the value; a floating reference is sunk
 * @error: return location for a #GError
 *
 * The seed's `Context.send()`: fire and forget. Any thread.
 *
 * Returns: %TRUE if queued
 */
gboolean
mitogen_context_send (MitogenContext  *self,
                      guint32          handle,
                      GVariant        *value,
                      GError         **error)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenMessage) message = NULL;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), FALSE);

  message = mitogen_message_new (self->id, handle, value);
  router = g_weak_ref_get (&self->router);
  if (router == NULL)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                   "Context '%s': its router is gone", self->name);
      return FALSE;
    }
  return mitogen_router_route (router, message, error);
}

static MitogenMessage *
build_call (MitogenContext *self,
            const char     *function,
            GVariant       *args)
{
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
  return mitogen_message_new_call (self->id, MITOGEN_HANDLE_CALL_FUNCTION,
                                   mitogen_protocol_call_bytes_new (function, args));
#else
  return mitogen_message_new (self->id, MITOGEN_HANDLE_CALL_FUNCTION,
                              mitogen_protocol_call_new (function, args));
#endif
}

/* Any thread: %TRUE if @args may be a call's arguments (%NULL or a tuple);
 * otherwise sinks and drops @args and says what is expected. A check here,
 * before anything is sent, rather than a critical: bindings (a Python
 * `GLib.Variant('s', '/')`) easily pass a bare value. */
static gboolean
check_args (const char  *function,
            GVariant    *args,
            GError     **error)
{
  const char *type;

  if (args == NULL || g_variant_is_of_type (args, G_VARIANT_TYPE_TUPLE))
    return TRUE;

  g_variant_ref_sink (args);
  type = g_variant_get_type_string (args);
  g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
               "%s: arguments must be a tuple (GVariant type '(...)'), not '%s'; "
               "a single argument goes in a 1-tuple, of type '(%s)'",
               function, type, type);
  g_variant_unref (args);
  return FALSE;
}

/* Any thread: sends @message with its reply_to set to a new receiver
 * (respondent @self); when it cannot be routed, the receiver gets the
 * dead marker at once. Returns: (transfer full) the receiver. */
static MitogenReceiver *
route_with_receiver (MitogenContext *self,
                     MitogenRouter  *router,
                     MitogenMessage *message,
                     gboolean        persist)
{
  MitogenReceiver *receiver = mitogen_receiver_new (router, 0, persist, self);

  message->header.reply_to = mitogen_receiver_get_handle (receiver);
  if (!mitogen_router_route (router, message, NULL))
    {
      g_autoptr(MitogenMessage) dead = mitogen_message_new_dead (mitogen_router_get_context_id (router),
                                                                 message->header.reply_to);
      dead->header.src_id = self->id;
      mitogen_router_del_handler (router, message->header.reply_to);
      mitogen_receiver_deliver (receiver, dead);
    }
  return receiver;
}

/* Any thread: sends the call and returns the receiver of its reply; %NULL
 * with %MITOGEN_ERROR_INVALID_ARGUMENT (@args is not a tuple) or
 * %MITOGEN_ERROR_CHANNEL (the router is gone). */
static MitogenReceiver *
start_call (MitogenContext  *self,
            const char      *function,
            GVariant        *args,
            GError         **error)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenMessage) message = NULL;

  if (!check_args (function, args, error))
    return NULL;

  message = build_call (self, function, args);
  router = g_weak_ref_get (&self->router);
  if (router == NULL)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL, "Context '%s': its router is gone", self->name);
      return NULL;
    }

  return route_with_receiver (self, router, message, FALSE);
}

/**
 * mitogen_context_begin_call:
 * @self: a context
 * @function: the registered name of the function, e.g. `os.getpid`
 * @args: (nullable): the arguments, a tuple; a floating reference is sunk
 *
 * The seed's `Context.call_async()`: starts the call and returns the
 * receiver its reply will arrive on, for gathering many calls with
 * [method@Mitogen.Receiver.get] or a select. If the context is gone the
 * receiver yields %MITOGEN_ERROR_CHANNEL. If @args is not a tuple nothing
 * is sent, and the receiver's one reply is the error a context gives for
 * arguments of the wrong type: a %MITOGEN_ERROR_CALL whose remote domain
 * and code are `mitogen-error-quark` and %MITOGEN_ERROR_INVALID_ARGUMENT
 * (what [method@Mitogen.Context.call] reports directly). Any thread.
 *
 * Returns: (transfer full) (nullable): the receiver of the reply; %NULL if
 *   the context's router is gone (its last reference dropped, perhaps by
 *   another thread)
 */
MitogenReceiver *
mitogen_context_begin_call (MitogenContext *self,
                            const char     *function,
                            GVariant       *args)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) reply = NULL;
  MitogenReceiver *receiver;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (function != NULL, NULL);

  receiver = start_call (self, function, args, &error);
  if (receiver != NULL)
    return receiver;

  router = g_weak_ref_get (&self->router);
  if (router == NULL)
    return NULL;

  /* Bad arguments: the receiver's one reply is the error. */
  receiver = mitogen_receiver_new (router, 0, FALSE, self);
  reply = mitogen_message_new_error (mitogen_router_get_context_id (router),
                                     mitogen_receiver_get_handle (receiver), error,
                                     mitogen_router_get_name (router));
  reply->header.src_id = self->id;
  mitogen_router_del_handler (router, mitogen_receiver_get_handle (receiver));
  mitogen_receiver_deliver (receiver, reply);
  return receiver;
}

/* A reply message's value, with CALL errors naming @function. */
static GVariant *
reply_value (MitogenContext  *self,
             MitogenMessage  *message,
             const char      *function,
             GError         **error)
{
  g_autoptr(GError) local_error = NULL;
  GVariant *value = mitogen_message_get_value (message, &local_error);

  if (value != NULL)
    return value;

  if (g_error_matches (local_error, MITOGEN_ERROR, MITOGEN_ERROR_CALL))
    g_propagate_error (error, mitogen_error_new_remote (function,
                                                        mitogen_error_get_remote_domain (local_error),
                                                        mitogen_error_get_remote_code (local_error),
                                                        mitogen_error_get_remote_message (local_error),
                                                        mitogen_error_get_context_name (local_error),
                                                        mitogen_error_get_remote_backtrace (local_error)));
  else
    g_propagate_error (error, g_steal_pointer (&local_error));
  return NULL;
}

static void
prefix_channel_error (MitogenContext *self,
                      const char     *function,
                      GError        **error)
{
  if (error != NULL && *error != NULL && g_error_matches (*error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL))
    g_prefix_error (error, "%s in context '%s': ", function, self->name);
}

/**
 * mitogen_context_call:
 * @self: a context
 * @function: the registered name of the function, e.g. `os.getpid`
 * @args: (nullable): the arguments, a tuple; a floating reference is sunk
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * The seed's `Context.call()`: runs @function in the context and waits
 * for its result. Any thread but the broker's.
 *
 * Returns: (transfer full): the result; %NULL with
 *   %MITOGEN_ERROR_INVALID_ARGUMENT (@args is not a tuple: nothing was
 *   sent), %MITOGEN_ERROR_CALL (the function failed, or is unknown, or got
 *   arguments of the wrong type), %MITOGEN_ERROR_CHANNEL (the context went
 *   away), or %G_IO_ERROR_CANCELLED
 */
GVariant *
mitogen_context_call (MitogenContext  *self,
                      const char      *function,
                      GVariant        *args,
                      GCancellable    *cancellable,
                      GError         **error)
{
  g_autoptr(MitogenReceiver) receiver = NULL;
  g_autoptr(MitogenMessage) message = NULL;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (function != NULL, NULL);

  receiver = start_call (self, function, args, error);
  if (receiver == NULL)
    return NULL;

  message = mitogen_receiver_get_full (receiver, -1, cancellable, error);
  if (message == NULL)
    {
      prefix_channel_error (self, function, error);
      return NULL;
    }
  return reply_value (self, message, function, error);
}

typedef struct
{
  char            *function;  /* (owned) */
  MitogenReceiver *receiver;  /* (owned) */
} CallAsync;

static void
call_async_free (gpointer data)
{
  CallAsync *call = data;

  g_free (call->function);
  g_clear_object (&call->receiver);
  g_free (call);
}

static void
call_got_reply_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MitogenContext *self = g_task_get_source_object (task);
  CallAsync *call = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  GVariant *value;

  message = mitogen_receiver_get_finish (MITOGEN_RECEIVER (source), result, &error);
  /* The reply is in, or will never be wanted: stop listening now, so a
   * late reply after cancellation is dropped by the router. */
  mitogen_receiver_close (call->receiver);

  if (message == NULL)
    {
      prefix_channel_error (self, call->function, &error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  value = reply_value (self, message, call->function, &error);
  if (value == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, value, (GDestroyNotify) g_variant_unref);
}

/**
 * mitogen_context_call_async:
 * @self: a context
 * @function: the registered name of the function
 * @args: (nullable): the arguments, a tuple; a floating reference is sunk
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called in the calling thread's thread-default
 *   main context with the result
 * @user_data: data for @callback
 *
 * Starts a call without blocking. Cancelling completes the call with
 * %G_IO_ERROR_CANCELLED at once; a reply arriving later is dropped.
 * Arguments that are not a tuple complete it with
 * %MITOGEN_ERROR_INVALID_ARGUMENT, and nothing is sent. Any thread.
 */
void
mitogen_context_call_async (MitogenContext      *self,
                            const char          *function,
                            GVariant            *args,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  CallAsync *call;

  g_return_if_fail (MITOGEN_IS_CONTEXT (self));
  g_return_if_fail (function != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_context_call_async);

  call = g_new0 (CallAsync, 1);
  call->function = g_strdup (function);
  call->receiver = start_call (self, function, args, &error);
  g_task_set_task_data (task, call, call_async_free);

  if (call->receiver == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  mitogen_receiver_get_async (call->receiver, cancellable, call_got_reply_cb, g_steal_pointer (&task));
}

/**
 * mitogen_context_call_finish:
 * @self: a context
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Context.call_async]. Errors are those of
 * [method@Mitogen.Context.call]. Call it in the callback, in the thread that
 * started the call.
 *
 * Returns: (transfer full): the result, or %NULL with @error set
 */
GVariant *
mitogen_context_call_finish (MitogenContext  *self,
                             GAsyncResult    *result,
                             GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mitogen_context_call_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * mitogen_context_shutdown:
 * @self: a context
 * @timeout_seconds: how long to wait for it to go; 0 does not wait, < 0
 *   waits forever
 * @error: return location for a #GError
 *
 * Asks the context to exit (the seed's `Context.shutdown()`). Its children
 * go with it. Any thread but the broker's when waiting.
 *
 * Returns: %TRUE if the context is gone (or, with a zero timeout, if the
 *   request was sent); %FALSE with %MITOGEN_ERROR_TIMEOUT
 */
gboolean
mitogen_context_shutdown (MitogenContext  *self,
                          double           timeout_seconds,
                          GError         **error)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenMessage) message = NULL;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), FALSE);

  router = g_weak_ref_get (&self->router);
  if (router == NULL || !mitogen_context_is_connected (self))
    return TRUE;

  message = mitogen_message_new (self->id, MITOGEN_HANDLE_SHUTDOWN, NULL);
  if (!mitogen_router_route (router, message, NULL))
    return TRUE;

  if (timeout_seconds == 0)
    return TRUE;

  if (!mitogen_router_wait_disconnect (router, self, mitogen_deadline_from_timeout (timeout_seconds)))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT,
                   "Context '%s' did not exit within %.3g s", self->name, timeout_seconds);
      return FALSE;
    }
  return TRUE;
}

/* Any thread: routes a prebuilt @message to this context (its dst_id is
 * set here). */
gboolean
mitogen_context_route_message (MitogenContext  *self,
                               MitogenMessage  *message,
                               GError         **error)
{
  g_autoptr(MitogenRouter) router = g_weak_ref_get (&self->router);

  message->header.dst_id = self->id;
  if (router == NULL)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                   "Context '%s': its router is gone", self->name);
      return FALSE;
    }
  return mitogen_router_route (router, message, error);
}

/**
 * mitogen_context_send_async:
 * @self: a context
 * @handle: the destination handle in @self
 * @value: (nullable): the value; a floating reference is sunk
 * @persist: %FALSE to stop listening after the first reply
 *
 * The seed's `Context.send_async()`: sends @value to @handle with its
 * `reply_to` set to a new receiver, whose respondent is @self, and
 * returns that receiver. If @self is unreachable (or goes away) the
 * receiver yields %MITOGEN_ERROR_CHANNEL. Any thread.
 *
 * Returns: (transfer full): the receiver of the replies
 */
MitogenReceiver *
mitogen_context_send_async (MitogenContext *self,
                            guint32         handle,
                            GVariant       *value,
                            gboolean        persist)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenMessage) message = NULL;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), NULL);

  message = mitogen_message_new (self->id, handle, value);
  router = g_weak_ref_get (&self->router);
  g_return_val_if_fail (router != NULL, NULL);

  return route_with_receiver (self, router, message, persist);
}

/**
 * mitogen_context_send_await:
 * @self: a context
 * @handle: the destination handle in @self
 * @value: (nullable): the value; a floating reference is sunk
 * @timeout_seconds: how long to wait for the reply; < 0 waits forever
 * @error: return location for a #GError
 *
 * The seed's `Context.send_await()`: [method@Mitogen.Context.send_async]
 * expecting a single reply, and that reply's value. A reply arriving after
 * the timeout is dropped. Any thread but the broker's.
 *
 * Returns: (transfer full): the reply's value; %NULL with
 *   %MITOGEN_ERROR_TIMEOUT, %MITOGEN_ERROR_CHANNEL (no route, or @self
 *   went away) or %MITOGEN_ERROR_CALL (the reply is a remote error)
 */
GVariant *
mitogen_context_send_await (MitogenContext  *self,
                            guint32          handle,
                            GVariant        *value,
                            double           timeout_seconds,
                            GError         **error)
{
  g_autoptr(MitogenReceiver) receiver = NULL;
  g_autoptr(MitogenRouter) router = NULL;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), NULL);

  router = g_weak_ref_get (&self->router);
  if (router == NULL)
    {
      if (value != NULL)
        g_variant_unref (g_variant_ref_sink (value));
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                   "Context '%s': its router is gone", self->name);
      return NULL;
    }

  receiver = mitogen_context_send_async (self, handle, value, FALSE);
  /* Dropping the receiver unregisters its handle: a late reply is dropped. */
  return mitogen_receiver_get_data (receiver, timeout_seconds, error);
}
