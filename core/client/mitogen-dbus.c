/* mitogen-dbus.c — a context's D-Bus bus as a GDBusConnection in the master
 *
 * The master side of the `dbus.open` built-in (mitogen-dbus-serve.c): a
 * socketpair, one end wrapped in a GSocketConnection that GDBus speaks
 * through, the other relayed to the context's end of the tunnel by a
 * MitogenTunnel on a thread of its own. See docs/dbus.md.
 *
 * Opening has two steps, both in the caller's thread-default main
 * context: the call is made and its `started` event awaited (the tunnel
 * thread hands it over), then g_dbus_connection_new () authenticates
 * through the tunnel and says Hello.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-dbus"

#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mitogen-context-private.h"
#include "mitogen-streaming-private.h"
#include "mitogen-tunnel-private.h"

#define FUNCTION "dbus.open"

#define DBUS_WINDOW (1024u * 1024u)

/* Where the tunnel thread hands the start's outcome over, once; the
 * caller takes the task back when it is cancelled first. */
typedef struct
{
  GMutex  lock;
  GTask  *task;   /* (owned) (nullable) guarded by lock */
} Handoff;

static void
handoff_clear (gpointer data)
{
  Handoff *handoff = data;

  g_clear_object (&handoff->task);
  g_mutex_clear (&handoff->lock);
}

static GTask *
handoff_take (Handoff *handoff)
{
  GTask *task;

  g_mutex_lock (&handoff->lock);
  task = g_steal_pointer (&handoff->task);
  g_mutex_unlock (&handoff->lock);
  return task;
}

/* Nothing is handed over any more (the task's reference is dropped). */
static void
handoff_cancel (Handoff *handoff)
{
  GTask *task = handoff_take (handoff);

  g_clear_object (&task);
}

typedef struct
{
  MitogenContext *context;      /* (owned) */
  Handoff        *handoff;      /* (owned) */
  gboolean        sync;         /* mitogen_context_open_dbus (): return the stream, not a connection */
  MitogenTunnel  *tunnel;       /* (owned) */
  int             client_fd;    /* GDBus's end until it is wrapped; -1 after */
  GSource        *cancel_source;/* (owned) (nullable) while the call is awaited */
  gboolean        done;         /* the task returned, or went on to GDBus */
  char           *address;      /* (owned) (nullable) what the context connected to */
} OpenData;

static void
open_data_free (gpointer data)
{
  OpenData *open = data;

  if (open->cancel_source != NULL)
    {
      g_source_destroy (open->cancel_source);
      g_source_unref (open->cancel_source);
    }
  if (open->client_fd >= 0)
    close (open->client_fd);
  g_clear_pointer (&open->tunnel, mitogen_tunnel_unref);
  if (open->handoff != NULL)
    g_atomic_rc_box_release_full (open->handoff, handoff_clear);
  g_clear_object (&open->context);
  g_free (open->address);
  g_free (open);
}

/* What the tunnel thread hands over once: the call started (@error NULL)
 * or failed. */
typedef struct
{
  GTask   *task;     /* (owned) */
  GError  *error;    /* (owned) (nullable) */
  char    *address;  /* (owned) (nullable) */
} Started;

static void
started_free (gpointer data)
{
  Started *started = data;

  g_clear_object (&started->task);
  g_clear_error (&started->error);
  g_free (started->address);
  g_free (started);
}

/* The tunnel thread's state. */
typedef struct
{
  MitogenTunnel *tunnel;      /* (owned) */
  Handoff       *handoff;     /* (owned) */
  gboolean       started;
} Relay;

static void new_connection_cb (GObject *source, GAsyncResult *result, gpointer user_data);

static void
connection_closed_cb (GDBusConnection *connection,
                      gboolean         remote_peer_vanished,
                      GError          *error,
                      gpointer         user_data)
{
  mitogen_tunnel_stop (user_data);
}

static void
unref_tunnel_closure (gpointer  data,
                      GClosure *closure)
{
  mitogen_tunnel_unref (data);
}

static void
connection_finalized_cb (gpointer  data,
                         GObject  *where_the_object_was)
{
  mitogen_tunnel_stop (data);
  mitogen_tunnel_unref (data);
}

/* The tunnel ends with the connection even when GDBus leaves the socket
 * open: GLib 2.74 marks a connection closed after a failed write (such
 * as a message carrying a descriptor, which it refuses without fd
 * passing) without closing its stream, and keeps the stream until
 * finalization or longer. */
static void
watch_connection (GDBusConnection *connection,
                  MitogenTunnel   *tunnel)
{
  g_signal_connect_data (connection, "closed", G_CALLBACK (connection_closed_cb),
                         mitogen_tunnel_ref (tunnel), unref_tunnel_closure, 0);
  g_object_weak_ref (G_OBJECT (connection), connection_finalized_cb, mitogen_tunnel_ref (tunnel));
}

static GError *
prefixed (OpenData *open,
          GError   *error)
{
  g_prefix_error (&error, "D-Bus through context '%s': ", mitogen_context_get_name (open->context));
  return error;
}

/* The caller's main context: the call started or failed. */
static gboolean
started_cb (gpointer data)
{
  Started *started = data;
  GTask *task = started->task;
  OpenData *open = g_task_get_task_data (task);
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketConnection) stream = NULL;
  GError *error = NULL;

  if (open->done)
    return G_SOURCE_REMOVE;   /* cancelled meanwhile */
  open->done = TRUE;
  if (open->cancel_source != NULL)
    {
      g_source_destroy (open->cancel_source);
      g_clear_pointer (&open->cancel_source, g_source_unref);
    }
  if (started->error != NULL)
    {
      g_task_return_error (task, g_steal_pointer (&started->error));
      return G_SOURCE_REMOVE;
    }
  open->address = g_steal_pointer (&started->address);
  g_debug ("%s: context '%s' connected to %s", FUNCTION, mitogen_context_get_name (open->context), open->address);

  socket = g_socket_new_from_fd (open->client_fd, &error);
  if (socket == NULL)
    {
      mitogen_tunnel_stop (open->tunnel);
      g_task_return_error (task, error);
      return G_SOURCE_REMOVE;
    }
  open->client_fd = -1;
  stream = g_socket_connection_factory_create_connection (socket);
  if (open->sync)
    {
      g_task_return_pointer (task, g_steal_pointer (&stream), g_object_unref);
      return G_SOURCE_REMOVE;
    }
  g_dbus_connection_new (G_IO_STREAM (stream), NULL,
                         G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                         G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                         NULL, g_task_get_cancellable (task), new_connection_cb, g_object_ref (task));
  return G_SOURCE_REMOVE;
}

static void
new_connection_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  OpenData *open = g_task_get_task_data (task);
  GError *error = NULL;
  GDBusConnection *connection = g_dbus_connection_new_finish (result, &error);

  if (connection == NULL)
    {
      /* The stream GDBus had is unreferenced with its failed initialization:
       * our end of the tunnel reads end-of-file and tells the context. */
      mitogen_tunnel_stop (open->tunnel);
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_task_return_error (task, error);
      else
        g_task_return_error (task, prefixed (open, error));
      return;
    }
  watch_connection (connection, open->tunnel);
  g_task_return_pointer (task, connection, g_object_unref);
}

/* The caller's main context: the cancellable fired while the call was
 * awaited. The tunnel stops (the context's end too, once it is known). */
static gboolean
cancelled_cb (GCancellable *cancellable,
              gpointer      data)
{
  GTask *task = data;
  OpenData *open = g_task_get_task_data (task);

  g_clear_pointer (&open->cancel_source, g_source_unref);
  if (open->done)
    return G_SOURCE_REMOVE;
  open->done = TRUE;
  mitogen_tunnel_stop (open->tunnel);
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
  /* No outcome is handed over after this (its reference is ours to drop;
   * the source's keeps the task alive until we return). */
  handoff_cancel (open->handoff);
  return G_SOURCE_REMOVE;
}

/* Tunnel thread: hands the start's outcome to the caller's main context,
 * once. */
static void
hand_over (Relay      *relay,
           GError     *error,
           const char *address)
{
  GTask *task = handoff_take (relay->handoff);
  Started *started;

  if (task == NULL)
    {
      g_clear_error (&error);
      return;
    }
  started = g_new0 (Started, 1);
  started->task = task;
  started->error = error;
  started->address = g_strdup (address);
  g_main_context_invoke_full (g_task_get_context (started->task), G_PRIORITY_DEFAULT,
                              started_cb, started, started_free);
}

/* Tunnel thread: the `started` event, or the call's reply. */
static gboolean
relay_other (MitogenTunnel  *tunnel,
             MitogenMessage *message,
             gpointer        user_data)
{
  Relay *relay = user_data;
  GVariant *value = mitogen_message_is_error (message) ? NULL : mitogen_message_peek_value (message);
  const char *kind;
  g_autoptr(GVariant) payload = NULL;

  if (!relay->started)
    {
      if (mitogen_message_is_error (message))
        {
          hand_over (relay, mitogen_streaming_reply_error (message, FUNCTION), NULL);
          return FALSE;
        }
      if (!mitogen_event_parse (value, &kind, &payload) || !g_str_equal (kind, "started") ||
          !g_variant_is_of_type (payload, G_VARIANT_TYPE ("(us)")))
        {
          hand_over (relay, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                         "%s in context '%s': unexpected first reply", FUNCTION,
                                         mitogen_context_get_name (mitogen_tunnel_get_peer (tunnel))),
                     NULL);
          return FALSE;
        }
      else
        {
          guint32 inbox;
          const char *address;

          g_variant_get (payload, "(u&s)", &inbox, &address);
          relay->started = TRUE;
          hand_over (relay, NULL, address);
          mitogen_tunnel_set_peer_handle (tunnel, inbox);
          return TRUE;
        }
    }
  /* The call's reply: the context's end is over (the bus closed its
   * socket, or it failed); what it sent before is written out first. */
  if (mitogen_message_is_error (message))
    {
      g_autoptr(GError) error = mitogen_streaming_reply_error (message, FUNCTION);

      g_debug ("%s: the context's end failed: %s", FUNCTION, error->message);
    }
  mitogen_tunnel_peer_finished (tunnel);
  return TRUE;
}

static gpointer
relay_thread (gpointer data)
{
  Relay *relay = data;
  g_autoptr(GError) error = NULL;
  guint64 bytes_in = 0, bytes_out = 0;

  mitogen_tunnel_run (relay->tunnel, &bytes_in, &bytes_out, &error);
  g_debug ("%s: tunnel to context '%s' ended (%" G_GUINT64_FORMAT " bytes to the bus, %" G_GUINT64_FORMAT
           " from it)%s%s", FUNCTION, mitogen_context_get_name (mitogen_tunnel_get_peer (relay->tunnel)),
           bytes_out, bytes_in, error != NULL ? ": " : "", error != NULL ? error->message : "");
  if (!relay->started)
    hand_over (relay, error != NULL ? g_steal_pointer (&error)
                                    : g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                                                   "%s in context '%s': the tunnel ended before it started",
                                                   FUNCTION, mitogen_context_get_name (mitogen_tunnel_get_peer (relay->tunnel))),
               NULL);
  mitogen_tunnel_unref (relay->tunnel);
  g_atomic_rc_box_release_full (relay->handoff, handoff_clear);
  g_free (relay);
  return NULL;
}

static void
open_start (MitogenContext      *self,
            GBusType             bus_type,
            const char          *address,
            gboolean             sync,
            GCancellable        *cancellable,
            GAsyncReadyCallback  callback,
            gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  OpenData *open;
  Relay *relay;
  const char *bus;
  GVariant *args;
  GVariantBuilder options;
  int fds[2];

  g_return_if_fail (MITOGEN_IS_CONTEXT (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, sync ? (gpointer) mitogen_context_open_dbus : (gpointer) mitogen_context_open_dbus_async);
  g_task_set_check_cancellable (task, FALSE);
  open = g_new0 (OpenData, 1);
  open->context = g_object_ref (self);
  open->client_fd = -1;
  open->sync = sync;
  g_task_set_task_data (task, open, open_data_free);

  if (address != NULL && address[0] != '\0')
    bus = "address";
  else if (bus_type == G_BUS_TYPE_SYSTEM)
    bus = "system";
  else if (bus_type == G_BUS_TYPE_SESSION)
    bus = "session";
  else
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "D-Bus through context '%s': bus type %d is neither G_BUS_TYPE_SYSTEM nor "
                               "G_BUS_TYPE_SESSION, and no address was given",
                               mitogen_context_get_name (self), (int) bus_type);
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    return;
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
    {
      int saved = errno;

      g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved),
                               "socketpair: %s", g_strerror (saved));
      return;
    }
  open->client_fd = fds[1];
  open->tunnel = mitogen_tunnel_new (self, fds[0], 0, DBUS_WINDOW, &error);
  if (open->tunnel == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  mitogen_tunnel_set_send_dead (open->tunnel, TRUE);

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "window", g_variant_new_uint64 (DBUS_WINDOW));
  args = g_variant_new ("(ssu@a{sv})", g_str_equal (bus, "address") ? "session" : bus,
                        g_str_equal (bus, "address") ? address : "",
                        mitogen_tunnel_get_inbox_handle (open->tunnel), g_variant_builder_end (&options));

  /* A reference cycle (task, its data, the handoff) until the outcome is
   * handed over or the open is cancelled. */
  open->handoff = g_atomic_rc_box_new0 (Handoff);
  g_mutex_init (&open->handoff->lock);
  open->handoff->task = g_object_ref (task);
  relay = g_new0 (Relay, 1);
  relay->tunnel = mitogen_tunnel_ref (open->tunnel);
  relay->handoff = g_atomic_rc_box_acquire (open->handoff);
  mitogen_tunnel_set_other (open->tunnel, relay_other, relay);

  if (!mitogen_streaming_begin_call (self, FUNCTION, args, mitogen_tunnel_get_inbox_handle (open->tunnel), &error))
    {
      handoff_cancel (relay->handoff);
      g_atomic_rc_box_release_full (relay->handoff, handoff_clear);
      mitogen_tunnel_unref (relay->tunnel);
      g_free (relay);
      g_task_return_error (task, prefixed (open, g_steal_pointer (&error)));
      return;
    }

  if (cancellable != NULL)
    {
      open->cancel_source = g_cancellable_source_new (cancellable);
      /* Holds the task until it is destroyed (a cycle: the task's data
       * holds the source), when the call started or the open is cancelled. */
      g_source_set_callback (open->cancel_source, G_SOURCE_FUNC (cancelled_cb), g_object_ref (task), g_object_unref);
      g_source_set_static_name (open->cancel_source, "[mitogen] dbus open cancelled");
      g_source_attach (open->cancel_source, g_task_get_context (task));
    }
  g_thread_unref (g_thread_new ("mitogen-dbus", relay_thread, relay));
}

/**
 * mitogen_context_open_dbus_async:
 * @self: a context
 * @bus_type: %G_BUS_TYPE_SYSTEM or %G_BUS_TYPE_SESSION: which bus of the
 *   context's machine (ignored when @address is given)
 * @address: (nullable): a D-Bus address on the context's machine
 *   (`unix:path=...` or `unix:abstract=...`; alternatives separated by
 *   `;` are tried in turn), instead of @bus_type's
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called in the thread-default main context of
 *   the calling thread once the connection is ready, or failed
 * @user_data: data for @callback
 *
 * Connects to a D-Bus bus on @self's machine, as @self's user, through
 * the connection the master already has to it: @self's agent connects to
 * the bus socket and relays bytes between it and a #GDBusConnection
 * here. The system bus is `DBUS_SYSTEM_BUS_ADDRESS` in the context's
 * environment, else `/run/dbus/system_bus_socket`; the session bus is
 * `DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`.
 *
 * The bus authenticates the agent's process (its uid, not the master's):
 * the agent rewrites the identity GDBus sends. Unix file descriptors
 * cannot pass through the tunnel: the connection's capabilities never
 * include %G_DBUS_CAPABILITY_FLAGS_UNIX_FD_PASSING. Data is flow
 * controlled both ways (1 MiB in flight each way).
 *
 * Closing the connection ([method@Gio.DBusConnection.close] or dropping
 * the last reference) closes the tunnel and the agent's bus socket; the
 * context going away closes the connection
 * ([signal@Gio.DBusConnection::closed] with `remote-peer-vanished`).
 *
 * Cancelling completes the operation with %G_IO_ERROR_CANCELLED at once;
 * the agent's connection to the bus, if it was made meanwhile, is closed.
 * Any thread.
 */
void
mitogen_context_open_dbus_async (MitogenContext      *self,
                                 GBusType             bus_type,
                                 const char          *address,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  open_start (self, bus_type, address, FALSE, cancellable, callback, user_data);
}

/**
 * mitogen_context_open_dbus_finish:
 * @self: a context
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Context.open_dbus_async].
 *
 * Returns: (transfer full): the connection to the context's bus, or
 *   %NULL with @error: %MITOGEN_ERROR_CALL if the context could not
 *   connect (its remote error says why: no such socket, an unsupported
 *   address, no session bus), a #GIOError from GDBus if the bus refused
 *   the connection, %MITOGEN_ERROR_CHANNEL if the context went away,
 *   %G_IO_ERROR_CANCELLED
 */
GDBusConnection *
mitogen_context_open_dbus_finish (MitogenContext  *self,
                                  GAsyncResult    *result,
                                  GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mitogen_context_open_dbus_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
sync_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

/**
 * mitogen_context_open_dbus:
 * @self: a context
 * @bus_type: %G_BUS_TYPE_SYSTEM or %G_BUS_TYPE_SESSION (ignored when
 *   @address is given)
 * @address: (nullable): a D-Bus address on the context's machine, instead
 *   of @bus_type's
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * A connection to a D-Bus bus on @self's machine, tunnelled through the
 * master's connection to @self: the blocking form of
 * [method@Mitogen.Context.open_dbus_async], which says more. Any thread
 * but a broker's.
 *
 * ```c
 * g_autoptr(GDBusConnection) bus = mitogen_context_open_dbus (context, G_BUS_TYPE_SYSTEM,
 *                                                             NULL, NULL, &error);
 * g_autoptr(GVariant) names = bus == NULL ? NULL
 *   : g_dbus_connection_call_sync (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
 *                                  "org.freedesktop.DBus", "ListNames", NULL,
 *                                  G_VARIANT_TYPE ("(as)"), G_DBUS_CALL_FLAGS_NONE,
 *                                  -1, NULL, &error);
 * ```
 *
 * Returns: (transfer full): the connection, or %NULL with @error (see
 *   [method@Mitogen.Context.open_dbus_finish])
 */
GDBusConnection *
mitogen_context_open_dbus (MitogenContext  *self,
                           GBusType         bus_type,
                           const char      *address,
                           GCancellable    *cancellable,
                           GError         **error)
{
  g_autoptr(GMainContext) main_context = g_main_context_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GIOStream) stream = NULL;
  GDBusConnection *connection;
  OpenData *open;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), NULL);

  /* The call in a private main context; the connection is made in the
   * caller's own, where GDBus emits ::closed. */
  g_main_context_push_thread_default (main_context);
  open_start (self, bus_type, address, TRUE, cancellable, sync_cb, &result);
  while (result == NULL)
    g_main_context_iteration (main_context, TRUE);
  while (g_main_context_pending (main_context))
    g_main_context_iteration (main_context, FALSE);
  g_main_context_pop_thread_default (main_context);

  stream = g_task_propagate_pointer (G_TASK (result), error);
  if (stream == NULL)
    return NULL;
  open = g_task_get_task_data (G_TASK (result));
  connection = g_dbus_connection_new_sync (stream, NULL,
                                           G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                           G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                           NULL, cancellable, error);
  if (connection == NULL)
    {
      mitogen_tunnel_stop (open->tunnel);
      if (error != NULL && !g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_prefix_error (error, "D-Bus through context '%s': ", mitogen_context_get_name (self));
      return NULL;
    }
  watch_connection (connection, open->tunnel);
  return connection;
}
