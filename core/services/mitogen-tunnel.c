/* mitogen-tunnel.c — a byte stream between a local socket and a peer context
 *
 * See mitogen-tunnel-private.h and docs/dbus.md.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-tunnel"

#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mitogen-context-private.h"
#include "mitogen-error-private.h"
#include "mitogen-streaming-private.h"
#include "mitogen-tunnel-private.h"

/* Socket reads are at most this big (capped by the stream's message size). */
#define TUNNEL_CHUNK_SIZE (64u * 1024u)

typedef struct
{
  GBytes  *bytes;   /* (owned) */
  guint64  cost;    /* what writing it all acknowledges */
} Pending;

struct _MitogenTunnel
{
  GMainContext        *context;      /* (owned) iterated by mitogen_tunnel_run () */
  MitogenContext      *peer;         /* (owned) */
  MitogenReceiver     *inbox;        /* (owned) */
  gulong               inbox_handler;
  guint32              peer_handle;  /* 0: not known yet */
  int                  fd;           /* -1: closed */
  GSource             *read_source;  /* (owned) (nullable) */
  GSource             *write_source; /* (owned) (nullable) */

  MitogenTunnelFilter  filter;
  gpointer             filter_data;
  MitogenTunnelOther   other;
  gpointer             other_data;
  gboolean             send_dead;

  gsize                chunk;
  guint64              window;
  guint64              out_sent;     /* cost sent to the peer */
  guint64              out_acked;    /* ... acknowledged by it */
  guint64              in_consumed;  /* cost written to the socket */
  guint64              in_acked;     /* ... acknowledged to the peer */
  guint64              bytes_in;
  guint64              bytes_out;

  GQueue               queue;        /* Pending (owned): to write to the socket */
  gsize                offset;       /* into the head */

  gint                 stopping;     /* (atomic) mitogen_tunnel_stop () */
  GMutex               lock;         /* guards finished */
  gboolean             finished;     /* mitogen_tunnel_run () returned: nothing runs the context */
  gboolean             peer_done;    /* the peer's final reply came */
  gboolean             ended;
  gboolean             peer_gone;    /* dead or lost: nothing more is sent to it */
  GError              *end_error;    /* (owned) (nullable) */
};

static void update_sources (MitogenTunnel *self);

static void
pending_free (gpointer data)
{
  Pending *pending = data;

  g_bytes_unref (pending->bytes);
  g_free (pending);
}

static void
tunnel_clear (gpointer data)
{
  MitogenTunnel *self = data;

  if (self->inbox != NULL)
    {
      if (self->inbox_handler != 0)
        g_signal_handler_disconnect (self->inbox, self->inbox_handler);
      mitogen_receiver_close (self->inbox);
      g_clear_object (&self->inbox);
    }
  if (self->fd >= 0)
    close (self->fd);
  g_queue_clear_full (&self->queue, pending_free);
  g_clear_object (&self->peer);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_error (&self->end_error);
  g_mutex_clear (&self->lock);
}

MitogenTunnel *
mitogen_tunnel_ref (MitogenTunnel *self)
{
  return g_atomic_rc_box_acquire (self);
}

void
mitogen_tunnel_unref (MitogenTunnel *self)
{
  g_atomic_rc_box_release_full (self, tunnel_clear);
}

/* Ends the tunnel (the first reason wins). */
static void
end_tunnel (MitogenTunnel *self,
            GError        *error)
{
  if (self->ended)
    {
      g_clear_error (&error);
      return;
    }
  self->ended = TRUE;
  self->end_error = error;
  g_main_context_wakeup (self->context);
}

static gboolean
send_to_peer (MitogenTunnel *self,
              GVariant      *value)
{
  g_autoptr(GError) error = NULL;

  g_variant_ref_sink (value);
  if (!self->peer_gone && self->peer_handle != 0 &&
      !mitogen_context_send (self->peer, self->peer_handle, value, &error))
    {
      self->peer_gone = TRUE;
      end_tunnel (self, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL, "Context '%s' is unreachable: %s",
                                     mitogen_context_get_name (self->peer), error->message));
    }
  g_variant_unref (value);
  return !self->peer_gone;
}

static void
send_data (MitogenTunnel *self,
           guint8        *data,
           gsize          len)
{
  self->out_sent += mitogen_flow_cost (len);
  self->bytes_out += len;
  send_to_peer (self, g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING, data, len, TRUE, g_free, data));
}

static void
maybe_ack (MitogenTunnel *self,
           gboolean       force)
{
  guint64 pending = self->in_consumed - self->in_acked;

  if (pending == 0 || (!force && pending < self->window / 4))
    return;
  self->in_acked = self->in_consumed;
  send_to_peer (self, mitogen_event_new ("ack", g_variant_new_uint64 (self->in_consumed)));
}

/* Writes what is queued until the socket is full. */
static void
write_queue (MitogenTunnel *self)
{
  while (self->fd >= 0 && self->queue.length > 0)
    {
      Pending *head = g_queue_peek_head (&self->queue);
      gsize len = 0;
      const guint8 *data = g_bytes_get_data (head->bytes, &len);

      if (self->offset < len)
        {
          gssize n = send (self->fd, data + self->offset, len - self->offset, MSG_NOSIGNAL);

          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
          if (n < 0)
            {
              int saved = errno;

              /* The socket's other end went away: it said nothing more. */
              g_debug ("tunnel: write: %s", g_strerror (saved));
              end_tunnel (self, NULL);
              return;
            }
          self->offset += (gsize) n;
          self->bytes_in += (gsize) n;
        }
      if (self->offset >= len)
        {
          self->in_consumed += head->cost;
          pending_free (g_queue_pop_head (&self->queue));
          self->offset = 0;
          maybe_ack (self, self->queue.length == 0);
        }
    }
  if (self->queue.length == 0 && self->peer_done)
    end_tunnel (self, NULL);
}

static gboolean
on_writable (int          fd,
             GIOCondition condition,
             gpointer     data)
{
  MitogenTunnel *self = data;

  write_queue (self);
  update_sources (self);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_readable (int          fd,
             GIOCondition condition,
             gpointer     data)
{
  MitogenTunnel *self = data;
  guint8 *buffer = g_malloc (self->chunk);
  gssize n;

  do
    n = recv (self->fd, buffer, self->chunk, 0);
  while (n < 0 && errno == EINTR);

  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    {
      g_free (buffer);
      return G_SOURCE_CONTINUE;
    }
  if (n <= 0)
    {
      if (n < 0)
        g_debug ("tunnel: read: %s", g_strerror (errno));
      g_free (buffer);
      end_tunnel (self, NULL);
      return G_SOURCE_CONTINUE;
    }
  send_data (self, g_realloc (buffer, (gsize) n), (gsize) n);
  update_sources (self);
  return G_SOURCE_CONTINUE;
}

/* Watches the socket for what is wanted now: reading while the peer is
 * known and the window has room, writing while something is queued. */
static void
update_sources (MitogenTunnel *self)
{
  gboolean want_read = !self->ended && self->fd >= 0 && self->peer_handle != 0 &&
                       !g_atomic_int_get (&self->stopping) &&
                       self->out_sent - self->out_acked < self->window;
  gboolean want_write = !self->ended && self->fd >= 0 && self->queue.length > 0;

  if (want_read && self->read_source == NULL)
    {
      self->read_source = g_unix_fd_source_new (self->fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
      g_source_set_callback (self->read_source, G_SOURCE_FUNC (on_readable), self, NULL);
      g_source_set_static_name (self->read_source, "[mitogen] tunnel read");
      g_source_attach (self->read_source, self->context);
    }
  else if (!want_read && self->read_source != NULL)
    {
      g_source_destroy (self->read_source);
      g_clear_pointer (&self->read_source, g_source_unref);
    }
  if (want_write && self->write_source == NULL)
    {
      self->write_source = g_unix_fd_source_new (self->fd, G_IO_OUT | G_IO_HUP | G_IO_ERR);
      g_source_set_callback (self->write_source, G_SOURCE_FUNC (on_writable), self, NULL);
      g_source_set_static_name (self->write_source, "[mitogen] tunnel write");
      g_source_attach (self->write_source, self->context);
    }
  else if (!want_write && self->write_source != NULL)
    {
      g_source_destroy (self->write_source);
      g_clear_pointer (&self->write_source, g_source_unref);
    }
}

static void
take_data (MitogenTunnel *self,
           GVariant      *value)
{
  g_autoptr(GBytes) bytes = g_variant_get_data_as_bytes (value);
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  guint64 cost = mitogen_flow_cost (len);
  Pending *pending;

  if (len == 0)
    return;
  if (self->filter != NULL)
    {
      g_autoptr(GByteArray) to_socket = g_byte_array_new ();
      g_autoptr(GByteArray) to_peer = g_byte_array_new ();
      GError *error = NULL;

      if (!self->filter (self->filter_data, data, len, to_socket, to_peer, &error))
        {
          end_tunnel (self, error);
          return;
        }
      if (to_peer->len > 0)
        {
          gsize n = to_peer->len;

          send_data (self, g_byte_array_steal (to_peer, NULL), n);
        }
      g_clear_pointer (&bytes, g_bytes_unref);
      bytes = g_byte_array_free_to_bytes (g_steal_pointer (&to_socket));
    }
  pending = g_new0 (Pending, 1);
  pending->bytes = g_steal_pointer (&bytes);
  pending->cost = cost;
  g_queue_push_tail (&self->queue, pending);
  write_queue (self);
}

/* Tunnel thread: what the peer sends. */
static void
on_inbox (MitogenReceiver *receiver,
          MitogenMessage  *message,
          gpointer         data)
{
  MitogenTunnel *self = data;
  GVariant *value;
  const char *kind;
  g_autoptr(GVariant) payload = NULL;

  if (self->ended)
    return;
  if (mitogen_message_is_dead (message))
    {
      /* The peer closed its end, or went away (its stream ended). */
      self->peer_gone = TRUE;
      if (mitogen_context_is_connected (self->peer))
        end_tunnel (self, NULL);
      else
        end_tunnel (self, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL, "Context '%s' went away",
                                       mitogen_context_get_name (self->peer)));
      return;
    }
  value = mitogen_message_is_error (message) ? NULL : mitogen_message_peek_value (message);
  if (value != NULL && g_variant_is_of_type (value, G_VARIANT_TYPE_BYTESTRING))
    take_data (self, value);
  else if (mitogen_event_parse (value, &kind, &payload) && g_str_equal (kind, "ack") &&
           g_variant_is_of_type (payload, G_VARIANT_TYPE_UINT64))
    {
      guint64 acked = g_variant_get_uint64 (payload);

      if (acked > self->out_acked && acked <= self->out_sent)
        self->out_acked = acked;
    }
  else if (self->other == NULL || !self->other (self, message, self->other_data))
    end_tunnel (self, NULL);
  update_sources (self);
}

MitogenTunnel *
mitogen_tunnel_new (MitogenContext  *peer,
                    int              fd,
                    guint32          peer_handle,
                    guint64          window,
                    GError         **error)
{
  MitogenRouter *router = mitogen_context_get_router (peer);
  MitogenTunnel *self;

  if (router == NULL)
    {
      close (fd);
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                   "Context '%s': its router is gone", mitogen_context_get_name (peer));
      return NULL;
    }
  self = g_atomic_rc_box_new0 (MitogenTunnel);
  g_mutex_init (&self->lock);
  self->context = g_main_context_new ();
  self->peer = g_object_ref (peer);
  self->peer_handle = peer_handle;
  self->fd = fd;
  self->send_dead = FALSE;
  self->window = CLAMP (window, 64 * 1024, G_GUINT64_CONSTANT (1) << 30);
  self->chunk = mitogen_streaming_chunk_limit (router, mitogen_context_get_id (peer), TUNNEL_CHUNK_SIZE);
  g_queue_init (&self->queue);
  g_unix_set_fd_nonblocking (fd, TRUE, NULL);

  /* Made with our context thread-default: ::received runs in our loop. */
  g_main_context_push_thread_default (self->context);
  self->inbox = mitogen_receiver_new (router, 0, TRUE, peer);
  self->inbox_handler = g_signal_connect (self->inbox, "received", G_CALLBACK (on_inbox), self);
  g_main_context_pop_thread_default (self->context);
  return self;
}

void
mitogen_tunnel_set_filter (MitogenTunnel       *self,
                           MitogenTunnelFilter  filter,
                           gpointer             user_data)
{
  self->filter = filter;
  self->filter_data = user_data;
}

void
mitogen_tunnel_set_other (MitogenTunnel      *self,
                          MitogenTunnelOther  other,
                          gpointer            user_data)
{
  self->other = other;
  self->other_data = user_data;
}

void
mitogen_tunnel_set_send_dead (MitogenTunnel *self,
                              gboolean       send_dead)
{
  self->send_dead = send_dead;
}

guint32
mitogen_tunnel_get_inbox_handle (MitogenTunnel *self)
{
  return mitogen_receiver_get_handle (self->inbox);
}

MitogenContext *
mitogen_tunnel_get_peer (MitogenTunnel *self)
{
  return self->peer;
}

void
mitogen_tunnel_set_peer_handle (MitogenTunnel *self,
                                guint32        peer_handle)
{
  self->peer_handle = peer_handle;
  if (g_atomic_int_get (&self->stopping))
    end_tunnel (self, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "The tunnel was stopped"));
  update_sources (self);
}

void
mitogen_tunnel_peer_finished (MitogenTunnel *self)
{
  self->peer_done = TRUE;
  self->peer_gone = TRUE;
  write_queue (self);
}

static gboolean
stop_cb (gpointer data)
{
  MitogenTunnel *self = data;

  if (self->peer_handle != 0 || self->peer_done)
    end_tunnel (self, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "The tunnel was stopped"));
  else
    update_sources (self);
  return G_SOURCE_REMOVE;
}

void
mitogen_tunnel_stop (MitogenTunnel *self)
{
  GSource *source;

  if (g_atomic_int_exchange (&self->stopping, TRUE))
    return;
  g_mutex_lock (&self->lock);
  /* Once the loop is over, a source would never run (nor be freed). */
  if (!self->finished)
    {
      source = g_idle_source_new ();
      g_source_set_callback (source, stop_cb, mitogen_tunnel_ref (self), (GDestroyNotify) mitogen_tunnel_unref);
      g_source_set_static_name (source, "[mitogen] tunnel stop");
      g_source_attach (source, self->context);
      g_source_unref (source);
    }
  g_mutex_unlock (&self->lock);
}

void
mitogen_tunnel_run (MitogenTunnel *self,
                    guint64       *bytes_in,
                    guint64       *bytes_out,
                    GError       **error)
{
  g_main_context_push_thread_default (self->context);
  update_sources (self);
  while (!self->ended)
    g_main_context_iteration (self->context, TRUE);

  if (self->send_dead && !self->peer_gone)
    mitogen_streaming_send_dead (self->peer, self->peer_handle);
  if (self->read_source != NULL)
    g_source_destroy (self->read_source);
  g_clear_pointer (&self->read_source, g_source_unref);
  if (self->write_source != NULL)
    g_source_destroy (self->write_source);
  g_clear_pointer (&self->write_source, g_source_unref);
  if (self->fd >= 0)
    {
      close (self->fd);
      self->fd = -1;
    }
  g_queue_clear_full (&self->queue, pending_free);
  g_signal_handler_disconnect (self->inbox, self->inbox_handler);
  self->inbox_handler = 0;
  mitogen_receiver_close (self->inbox);
  /* Deliveries still queued for the inbox reference nothing of ours; the
   * stop callback holds its own reference (none is attached after this). */
  g_mutex_lock (&self->lock);
  self->finished = TRUE;
  g_mutex_unlock (&self->lock);
  while (g_main_context_iteration (self->context, FALSE))
    ;
  g_main_context_pop_thread_default (self->context);
  /* What may hold the tunnel on (the master's connection watchers, until
   * GDBus lets its connection go) holds no descriptor: the inbox and the
   * main context (its wakeup eventfd) go now. */
  g_clear_object (&self->inbox);
  g_clear_pointer (&self->context, g_main_context_unref);

  if (bytes_in != NULL)
    *bytes_in = self->bytes_in;
  if (bytes_out != NULL)
    *bytes_out = self->bytes_out;
  if (self->end_error != NULL)
    g_propagate_error (error, g_steal_pointer (&self->end_error));
}
