/* mitogen-stream.c — MitogenStream: frames over one descriptor pair
 *
 * Reading happens on the broker thread only: one read into a buffer per
 * wake-up, then every whole frame is cut out of it; a frame too large for
 * the buffer is read straight into its own allocation. Writing may happen
 * on any thread: a writer finding the queue empty writes its frame itself
 * (no thread hand-off), and whatever the descriptor does not take is queued
 * for the broker to finish when the descriptor is writable. Writers other
 * than the broker block while more than MITOGEN_STREAM_HIGH_WATER bytes
 * are queued, which bounds memory on both sides of a bulk transfer.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-stream"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mitogen-broker-private.h"
#include "mitogen-buffer-pool-private.h"
#include "mitogen-message-private.h"
#include "mitogen-protocol-private.h"
#include "mitogen-stream-private.h"
#include "mitogen-utils-private.h"

#define READ_BUFFER_SIZE (256u * 1024u)
#define STDERR_TAIL      2048u
#define MAX_IOV          512
#define BIG_GROW_LIMIT   (8u * 1024u * 1024u)
/* Write coalescing: see send_frame (). */
#define COALESCE_USEC    20
/* A burst's frames wait at most this long for the broker... */
#define COALESCE_FLUSH_MS 1
/* ... and the sending thread writes them itself once this many are
 * queued (see send_frame ()). */
#define COALESCE_FRAMES  128
#define COALESCE_BYTES   (64u * 1024u)

typedef struct
{
  guint8  header[MITOGEN_FRAME_HEADER_SIZE];
  GBytes *parts[2];   /* (owned) (nullable) */
  gsize   total;      /* header + parts */
  gsize   offset;     /* bytes already written */
} OutFrame;

struct _MitogenStream
{
  GObject             parent_instance;

  MitogenBroker      *broker;        /* (owned) */
  char               *name;          /* (owned) */
  GPid                pid;           /* local child to reap, or 0 */
  gboolean            is_socket;
  guint32             remote_id;     /* (atomic) set once the peer is known */
  guint64             max_message_size;
  gboolean            handshaken;    /* broker thread: peer greeted / configured us */

  MitogenStreamHooks  hooks;
  gpointer            hooks_data;    /* (unowned) the router, which outlives our I/O */

  /* Broker thread only: the read side. */
  int                 read_fd;       /* (owned) -1 once closed */
  GSource            *read_source;   /* (owned) (nullable) */
  guint8             *rbuf;          /* (owned) READ_BUFFER_SIZE bytes */
  gsize               rlen;
  MitogenFrameHeader  big_header;    /* frame being read into big_buf */
  guint8             *big_buf;       /* (owned) (nullable) grows as the frame arrives */
  gsize               big_len;
  gsize               big_cap;       /* bytes allocated at big_buf */
  gboolean            header_first;  /* the last frame was big: read the next header alone */
  gint64              last_rx;       /* monotonic time the last bytes were read */
  double              ka_interval;   /* keepalive: seconds; 0 off */
  guint               ka_count;
  gint64              ka_last_sent;  /* monotonic time of the last keepalive sent */
  guint               ka_sent;       /* keepalives sent since last_rx */
  GSource            *ka_source;     /* (owned) (nullable) the keepalive tick */
  gint                flow_pauses;   /* destinations over high water that this stream feeds */
  gint                big_cap_seen;  /* (atomic) big_cap, for mitogen_stream_get_read_allocation () */
  GPtrArray          *fed_by;        /* (owned) guarded by wlock: streams paused until we drain */
  GSource            *child_watch;   /* (owned) (nullable) */
  gboolean            reaped;
  gboolean            finished;      /* closed and reaped: left the broker */
  gboolean            close_when_drained;
  gint                started;       /* (atomic) mitogen_stream_start () ran */
  gint                read_paused;   /* (atomic) stop_receive: the read source detaches itself */
  int                 stderr_fd;     /* (owned) -1 if none: the target's stderr */
  GSource            *stderr_source; /* (owned) (nullable) */
  GString            *stderr_tail;   /* (owned) the last STDERR_TAIL bytes, for error messages */
  GString            *stderr_line;   /* (owned) partial line */

  /* The write side: everything below is guarded by wlock. */
  GMutex              wlock;
  GCond               wcond;         /* queue drained below low water, or closed */
  guint               wwaiters;      /* threads waiting on wcond (a broadcast is a system call) */
  int                 write_fd;      /* (owned unless == read_fd) -1 once closed */
  GQueue              out;           /* OutFrame */
  gsize               out_bytes;
  gboolean            closed;
  gboolean            want_write_watch;  /* a writable watch is attached or requested */
  gboolean            write_paused;  /* stop_transmit: queue, do not write */
  GSource            *write_source;  /* (owned) (nullable) broker thread attaches */
  gint64              last_tx;       /* monotonic time bytes were last written */
  gboolean            corked;        /* guarded by wlock: in the broker thread's corked list */
  GSource            *coalesce_timer; /* (owned) (nullable) guarded by wlock: a burst's flush timer,
                                       * set exactly while in coalesced_streams (send_frame ()) */
};

/**
 * MitogenStream:
 *
 * Frames over one pair of descriptors, the link to a parent or a child.
 *
 * Reading happens on the broker thread only; any thread may write, and a
 * writer that finds the queue empty writes its frame itself. Streams are
 * internal to the router: this type is public so that they can be named in
 * logs and by tools.
 */
G_DEFINE_FINAL_TYPE (MitogenStream, mitogen_stream, G_TYPE_OBJECT)

static void
out_frame_free (OutFrame *frame)
{
  g_clear_pointer (&frame->parts[0], g_bytes_unref);
  g_clear_pointer (&frame->parts[1], g_bytes_unref);
  g_free (frame);
}

static void
mitogen_stream_finalize (GObject *object)
{
  MitogenStream *self = MITOGEN_STREAM (object);

  g_assert (self->read_source == NULL);
  g_assert (self->write_source == NULL);
  g_assert (self->coalesce_timer == NULL);  /* it holds a reference */
  g_queue_clear_full (&self->out, (GDestroyNotify) out_frame_free);
  if (self->read_fd >= 0)
    close (self->read_fd);
  if (self->write_fd >= 0 && self->write_fd != self->read_fd)
    close (self->write_fd);
  g_clear_pointer (&self->rbuf, g_free);
  g_clear_pointer (&self->big_buf, mitogen_buffer_pool_give);
  g_assert (self->ka_source == NULL);
  g_clear_pointer (&self->fed_by, g_ptr_array_unref);
  if (self->stderr_source != NULL)
    {
      g_source_destroy (self->stderr_source);
      g_clear_pointer (&self->stderr_source, g_source_unref);
    }
  if (self->stderr_fd >= 0)
    close (self->stderr_fd);
  g_string_free (self->stderr_tail, TRUE);
  g_string_free (self->stderr_line, TRUE);
  g_clear_pointer (&self->name, g_free);
  g_clear_object (&self->broker);
  g_mutex_clear (&self->wlock);
  g_cond_clear (&self->wcond);

  G_OBJECT_CLASS (mitogen_stream_parent_class)->finalize (object);
}

static void
mitogen_stream_class_init (MitogenStreamClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mitogen_stream_finalize;
}

static void
mitogen_stream_init (MitogenStream *self)
{
  g_mutex_init (&self->wlock);
  g_cond_init (&self->wcond);
  g_queue_init (&self->out);
  self->read_fd = -1;
  self->write_fd = -1;
  self->stderr_fd = -1;
  self->stderr_tail = g_string_new (NULL);
  self->stderr_line = g_string_new (NULL);
  self->fed_by = g_ptr_array_new_with_free_func (g_object_unref);
}

/* Any thread. Takes ownership of both descriptors. */
MitogenStream *
mitogen_stream_new (MitogenBroker *broker,
                    const char    *name,
                    int            read_fd,
                    int            write_fd,
                    GPid           pid,
                    guint64        max_message_size)
{
  MitogenStream *self = g_object_new (MITOGEN_TYPE_STREAM, NULL);
  struct stat st;

  self->broker = g_object_ref (broker);
  self->name = g_strdup (name);
  self->read_fd = read_fd;
  self->write_fd = write_fd;
  self->pid = pid;
  self->max_message_size = max_message_size;
  self->is_socket = fstat (write_fd, &st) == 0 && S_ISSOCK (st.st_mode);
  self->rbuf = g_malloc (READ_BUFFER_SIZE);

  g_unix_set_fd_nonblocking (read_fd, TRUE, NULL);
  if (write_fd != read_fd)
    g_unix_set_fd_nonblocking (write_fd, TRUE, NULL);
  fcntl (read_fd, F_SETFD, FD_CLOEXEC);
  fcntl (write_fd, F_SETFD, FD_CLOEXEC);

  return self;
}

void
mitogen_stream_set_hooks (MitogenStream            *self,
                          const MitogenStreamHooks *hooks,
                          gpointer                  user_data)
{
  self->hooks = *hooks;
  self->hooks_data = user_data;
}

/**
 * mitogen_stream_get_name:
 * @self: a stream
 *
 * The stream's name, as used in log messages and errors. Any thread.
 *
 * Returns: the stream's name, for logs
 */
const char *
mitogen_stream_get_name (MitogenStream *self)
{
  return self->name;
}

/**
 * mitogen_stream_get_remote_id:
 * @self: a stream
 *
 * The id of the context at the other end of the stream. Any thread.
 *
 * Returns: the id of the context at the other end
 */
guint32
mitogen_stream_get_remote_id (MitogenStream *self)
{
  return (guint32) g_atomic_int_get (&self->remote_id);
}

void
mitogen_stream_set_remote_id (MitogenStream *self,
                              guint32        remote_id)
{
  g_atomic_int_set (&self->remote_id, remote_id);
}

/**
 * mitogen_stream_get_pid:
 * @self: a stream
 *
 * The local child process whose descriptors the stream uses, or 0 when there
 * is none (a stream to the parent, or a transport without a local child).
 * Any thread.
 *
 * Returns: the local child process behind the stream, or 0
 */
GPid
mitogen_stream_get_pid (MitogenStream *self)
{
  return self->pid;
}

/**
 * mitogen_stream_is_closed:
 * @self: a stream
 *
 * Tells whether the stream has closed: end of file, an error, or a protocol
 * violation by the peer. Any thread.
 *
 * Returns: whether the stream has closed
 */
gboolean
mitogen_stream_is_closed (MitogenStream *self)
{
  gboolean closed;

  g_mutex_lock (&self->wlock);
  closed = self->closed;
  g_mutex_unlock (&self->wlock);
  return closed;
}

void
mitogen_stream_set_handshaken (MitogenStream *self,
                               gboolean       handshaken)
{
  self->handshaken = handshaken;
}

gboolean
mitogen_stream_get_handshaken (MitogenStream *self)
{
  return self->handshaken;
}

void
mitogen_stream_set_max_message_size (MitogenStream *self,
                                     guint64        max_message_size)
{
  self->max_message_size = max_message_size;
}

guint64
mitogen_stream_get_max_message_size (MitogenStream *self)
{
  return self->max_message_size;
}

gsize
mitogen_stream_get_queued_bytes (MitogenStream *self)
{
  gsize n;

  g_mutex_lock (&self->wlock);
  n = self->out_bytes;
  g_mutex_unlock (&self->wlock);
  return n;
}

static gboolean on_stderr_cb (int fd, GIOCondition condition, gpointer user_data);

/* Broker thread: leaves the broker once closed and reaped. The stderr
 * watch goes too, after a last read: its callback holds no reference, and
 * once the broker lets go, the last reference may go on another thread (a
 * failed connect's caller) while the watch could still fire here (a race
 * ThreadSanitizer showed in test-bootstrap's /bootstrap/failures). */
static void
maybe_finish (MitogenStream *self)
{
  if (self->finished || self->read_fd >= 0 || (self->pid != 0 && !self->reaped))
    return;
  self->finished = TRUE;
  if (self->stderr_source != NULL)
    on_stderr_cb (self->stderr_fd, G_IO_IN, self);
  if (self->stderr_source != NULL)
    {
      g_source_destroy (self->stderr_source);
      g_clear_pointer (&self->stderr_source, g_source_unref);
      close (self->stderr_fd);
      self->stderr_fd = -1;
    }
  mitogen_broker_remove_stream (self->broker, self);
}

/* Broker thread. */
static void
child_exited_cb (GPid     pid,
                 gint     wait_status,
                 gpointer user_data)
{
  MitogenStream *self = user_data;

  g_debug ("%s: child %d exited (status 0x%x)", self->name, (int) pid, wait_status);
  self->reaped = TRUE;
  g_spawn_close_pid (pid);
  g_clear_pointer (&self->child_watch, g_source_unref);
  maybe_finish (self);
}

/* --- the target's stderr ------------------------------------------------- */

/* Broker thread: logs each line and keeps a tail for error messages. */
static gboolean
on_stderr_cb (int          fd,
              GIOCondition condition,
              gpointer     user_data)
{
  MitogenStream *self = user_data;
  char buf[4096];
  gssize n;

  do
    n = read (fd, buf, sizeof buf);
  while (n < 0 && errno == EINTR);

  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return G_SOURCE_CONTINUE;
  if (n <= 0)
    {
      if (self->stderr_line->len > 0)
        g_debug ("%s: stderr: %s", self->name, self->stderr_line->str);
      g_source_destroy (self->stderr_source);
      g_clear_pointer (&self->stderr_source, g_source_unref);
      close (self->stderr_fd);
      self->stderr_fd = -1;
      return G_SOURCE_REMOVE;
    }

  g_string_append_len (self->stderr_tail, buf, n);
  if (self->stderr_tail->len > STDERR_TAIL)
    g_string_erase (self->stderr_tail, 0, (gssize) (self->stderr_tail->len - STDERR_TAIL));

  for (gssize i = 0; i < n; i++)
    {
      if (buf[i] == '\n' || self->stderr_line->len >= 1024)
        {
          g_autofree char *valid = g_utf8_make_valid (self->stderr_line->str, (gssize) self->stderr_line->len);
          g_debug ("%s: stderr: %s", self->name, valid);
          g_string_truncate (self->stderr_line, 0);
          if (buf[i] == '\n')
            continue;
        }
      g_string_append_c (self->stderr_line, buf[i]);
    }
  return G_SOURCE_CONTINUE;
}

/* Broker thread. Takes ownership of @fd. */
void
mitogen_stream_watch_stderr (MitogenStream *self,
                             int            fd)
{
  if (fd < 0)
    return;
  self->stderr_fd = fd;
  g_unix_set_fd_nonblocking (fd, TRUE, NULL);
  fcntl (fd, F_SETFD, FD_CLOEXEC);
  self->stderr_source = g_unix_fd_source_new (fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_callback (self->stderr_source, G_SOURCE_FUNC (on_stderr_cb), self, NULL);
  g_source_set_static_name (self->stderr_source, "[mitogen] stream stderr");
  g_source_attach (self->stderr_source, mitogen_broker_get_main_context (self->broker));
}

/* Broker thread. Drains what is readable now, then returns the tail as
 * valid UTF-8 (empty if none). (transfer full) */
char *
mitogen_stream_dup_stderr_tail (MitogenStream *self)
{
  if (self->stderr_source != NULL)
    on_stderr_cb (self->stderr_fd, G_IO_IN, self);
  return g_utf8_make_valid (self->stderr_tail->str, (gssize) self->stderr_tail->len);
}

int
mitogen_stream_get_read_fd (MitogenStream *self)
{
  return self->read_fd;
}

int
mitogen_stream_get_write_fd (MitogenStream *self)
{
  return self->write_fd;
}

/* --- writing ------------------------------------------------------------ */

/* Any thread, wlock held. Returns bytes written, or -1 with errno. */
static gssize
write_iov (MitogenStream *self,
           struct iovec  *iov,
           int            n_iov)
{
  gssize n;

  do
    {
      if (self->is_socket)
        {
          struct msghdr msg = { 0 };
          msg.msg_iov = iov;
          msg.msg_iovlen = (size_t) n_iov;
          n = sendmsg (self->write_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
      else
        n = writev (self->write_fd, iov, n_iov);
    }
  while (n < 0 && errno == EINTR);
  return n;
}

/* wlock held: fills @iov from the queue, starting at each frame's offset. */
static int
gather_iov (MitogenStream *self,
            struct iovec  *iov,
            int            max_iov)
{
  int n = 0;

  for (GList *l = self->out.head; l != NULL && n + 3 <= max_iov; l = l->next)
    {
      OutFrame *frame = l->data;
      gsize skip = frame->offset;
      const guint8 *bases[3];
      gsize lens[3];

      bases[0] = frame->header;
      lens[0] = MITOGEN_FRAME_HEADER_SIZE;
      for (int i = 0; i < 2; i++)
        {
          gsize len = 0;
          bases[i + 1] = frame->parts[i] != NULL ? g_bytes_get_data (frame->parts[i], &len) : NULL;
          lens[i + 1] = len;
        }
      for (int i = 0; i < 3; i++)
        {
          if (skip >= lens[i])
            {
              skip -= lens[i];
              continue;
            }
          iov[n].iov_base = (guint8 *) bases[i] + skip;
          iov[n].iov_len = lens[i] - skip;
          skip = 0;
          n++;
        }
    }
  return n;
}

/* wlock held: drops @written bytes from the head of the queue. */
static void
consume_queue (MitogenStream *self,
               gsize          written)
{
  self->out_bytes -= written;
  while (written > 0)
    {
      OutFrame *frame = g_queue_peek_head (&self->out);
      gsize left = frame->total - frame->offset;

      if (written < left)
        {
          frame->offset += written;
          return;
        }
      written -= left;
      out_frame_free (g_queue_pop_head (&self->out));
    }
}

static gboolean on_writable_cb (int fd, GIOCondition condition, gpointer user_data);
static void resume_fed_by (GPtrArray *fed_by);
static GPtrArray *steal_fed_by_locked (MitogenStream *self);
static gboolean attach_write_watch_cb (gpointer data);

/* Per thread, for write coalescing (send_frame ()): whether the thread
 * has taken a message (a receiver's get or its callback, a select's)
 * since it last sent one. */
static __thread gboolean   thread_took_message = TRUE;

/* Any thread: the calling thread took a message (see send_frame ()). */
void
mitogen_stream_note_message_taken (void)
{
  thread_took_message = TRUE;
}

/* Streams holding a burst's frames that no write is scheduled for yet
 * (send_frame ()): written by the next thread that waits for a message
 * (mitogen_stream_flush_coalesced ()), by the sender itself once
 * COALESCE_FRAMES are queued, or by the broker COALESCE_FLUSH_MS after
 * the burst began, whichever comes first. Lock order: a stream's wlock,
 * then coalesce_lock. */
static GMutex     coalesce_lock;
static GPtrArray *coalesced_streams;  /* (owned) (nullable) MitogenStream, each a reference */
static gint       n_coalesced;        /* (atomic) coalesced_streams->len */

static gboolean coalesce_timeout_cb (gpointer data);
static void attach_write_watch_locked (MitogenStream *self);
static void write_queue_locked (MitogenStream *self);

/* Any thread, wlock held. */
static void
coalesce_begin_locked (MitogenStream *self)
{
  g_mutex_lock (&coalesce_lock);
  if (coalesced_streams == NULL)
    coalesced_streams = g_ptr_array_new ();
  g_ptr_array_add (coalesced_streams, g_object_ref (self));
  g_atomic_int_inc (&n_coalesced);
  g_mutex_unlock (&coalesce_lock);
  /* The timer holds a reference to us: it goes when the burst ends
   * (coalesce_timer_stop_locked ()), not merely when it fires, for a
   * broker that stops first never runs it, and the timer left behind
   * would keep us, our broker and its main context alive. */
  g_assert (self->coalesce_timer == NULL);
  self->coalesce_timer = mitogen_broker_attach_timeout (self->broker, COALESCE_FLUSH_MS, coalesce_timeout_cb,
                                                        g_object_ref (self), g_object_unref);
}

/* Any thread, wlock held, a burst queued: it ended; its flush timer
 * goes. Its reference to @self is dropped here, or after its callback if
 * that runs now: the caller holds another. */
static void
coalesce_timer_stop_locked (MitogenStream *self)
{
  g_source_destroy (self->coalesce_timer);
  g_clear_pointer (&self->coalesce_timer, g_source_unref);
}

/* Any thread, wlock held: @self leaves the list; returns the list's
 * reference, to drop once wlock is released. */
static MitogenStream *
coalesce_end_locked (MitogenStream *self)
{
  gboolean found;

  if (self->coalesce_timer == NULL)
    return NULL;
  coalesce_timer_stop_locked (self);
  g_mutex_lock (&coalesce_lock);
  found = coalesced_streams != NULL && g_ptr_array_remove_fast (coalesced_streams, self);
  if (found)
    g_atomic_int_add (&n_coalesced, -1);
  g_mutex_unlock (&coalesce_lock);
  return found ? self : NULL;
}

/* Any thread, wlock held: if frames are left and no write of them is
 * scheduled, the broker writes them (watching for writability): at once
 * on the broker thread, from another thread through a deferred call. */
static void
request_write_locked (MitogenStream *self,
                      gboolean       on_broker)
{
  if (self->out.length == 0 || self->want_write_watch || self->write_paused || self->closed)
    return;
  self->want_write_watch = TRUE;
  if (on_broker)
    attach_write_watch_locked (self);
  else
    mitogen_broker_defer (self->broker, attach_write_watch_cb, g_object_ref (self), g_object_unref);
}

/* Any thread, wlock held: a burst's frames go out now; the broker
 * watches for writability if the descriptor does not take them all. */
static void
flush_coalesced_locked (MitogenStream *self)
{
  if (!self->write_paused && !self->closed && self->write_source == NULL)
    write_queue_locked (self);
  if (self->out_bytes < MITOGEN_STREAM_LOW_WATER && self->wwaiters > 0)
    g_cond_broadcast (&self->wcond);
  request_write_locked (self, FALSE);
}

/* Broker thread: a burst's frames have waited long enough. */
static gboolean
coalesce_timeout_cb (gpointer data)
{
  MitogenStream *self = data;
  MitogenStream *ref;

  g_mutex_lock (&self->wlock);
  ref = coalesce_end_locked (self);
  if (ref != NULL)
    flush_coalesced_locked (self);
  g_mutex_unlock (&self->wlock);
  g_clear_object (&ref);
  return G_SOURCE_REMOVE;
}

/* Any thread: writes the frames of every burst not written yet. Called
 * by a thread about to wait for a message (a reply to what it just sent
 * may be among them). Costs one atomic read when there are none. */
void
mitogen_stream_flush_coalesced (void)
{
  g_autoptr(GPtrArray) streams = NULL;

  if (g_atomic_int_get (&n_coalesced) == 0)
    return;
  g_mutex_lock (&coalesce_lock);
  streams = g_steal_pointer (&coalesced_streams);
  g_atomic_int_set (&n_coalesced, 0);
  g_mutex_unlock (&coalesce_lock);
  if (streams == NULL)
    return;
  for (guint i = 0; i < streams->len; i++)
    {
      MitogenStream *self = g_ptr_array_index (streams, i);

      g_mutex_lock (&self->wlock);
      if (self->coalesce_timer != NULL)
        {
          coalesce_timer_stop_locked (self);
          flush_coalesced_locked (self);
        }
      g_mutex_unlock (&self->wlock);
      g_object_unref (self);
    }
}

/* Corking, broker thread only: while the broker dispatches the frames of
 * one read, what it sends is queued, not written; when the last frame is
 * dispatched, every stream written to is flushed in one writev each. A
 * burst of calls (pipelined, or many in one read) is then answered with
 * one system call and one wake-up of the peer instead of one per reply.
 * A lone frame's reply leaves just as early as before. Per thread: each
 * router has its own broker thread. */
static __thread guint      cork_depth;
static __thread GPtrArray *corked_streams;   /* (owned) (nullable) MitogenStream, while corked */

static void
cork (void)
{
  cork_depth++;
}

static void
uncork (void)
{
  g_autoptr(GPtrArray) streams = NULL;

  g_assert (cork_depth > 0);
  if (--cork_depth > 0 || corked_streams == NULL)
    return;
  /* Nothing stays behind in the thread's variable. */
  streams = g_steal_pointer (&corked_streams);
  for (guint i = 0; i < streams->len; i++)
    attach_write_watch_cb (g_ptr_array_index (streams, i));
}

/* Broker thread, wlock held. */
static void
attach_write_watch_locked (MitogenStream *self)
{
  if (self->write_source != NULL || self->closed)
    return;
  self->write_source = g_unix_fd_source_new (self->write_fd, G_IO_OUT);
  g_source_set_callback (self->write_source, G_SOURCE_FUNC (on_writable_cb), self, NULL);
  g_source_set_static_name (self->write_source, "[mitogen] stream write");
  g_source_set_can_recurse (self->write_source, TRUE);  /* see attach_read_source () */
  g_source_attach (self->write_source, mitogen_broker_get_main_context (self->broker));
}

/* Broker thread: another thread queued frames for us to write, or the
 * broker uncorks. Writes them now unless a writability watch is already
 * there to do it (the descriptor can usually take them: write before
 * polling), and watches for writability if something is left. Never runs
 * while the broker is corked, so the stream is no longer. */
static gboolean
attach_write_watch_cb (gpointer data)
{
  MitogenStream *self = data;
  gboolean write_now;

  g_mutex_lock (&self->wlock);
  self->corked = FALSE;
  write_now = !self->write_paused && !self->closed && self->write_source == NULL && self->out.length > 0;
  if (self->write_paused || (self->out.length == 0 && self->write_source == NULL))
    self->want_write_watch = FALSE;
  g_mutex_unlock (&self->wlock);

  if (write_now && on_writable_cb (self->write_fd, G_IO_OUT, self) == G_SOURCE_CONTINUE)
    {
      g_mutex_lock (&self->wlock);
      if (!self->write_paused && !self->closed)
        {
          self->want_write_watch = TRUE;
          attach_write_watch_locked (self);
        }
      g_mutex_unlock (&self->wlock);
    }
  return G_SOURCE_REMOVE;
}

typedef struct
{
  MitogenStream *stream;  /* (owned) */
  GError        *error;   /* (owned) */
} CloseLater;

static void
close_later_free (gpointer data)
{
  CloseLater *later = data;
  g_object_unref (later->stream);
  g_error_free (later->error);
  g_free (later);
}

static gboolean
close_later_cb (gpointer data)
{
  CloseLater *later = data;
  mitogen_stream_close (later->stream, later->error);
  return G_SOURCE_REMOVE;
}

/* Any thread, wlock held: a write failed; the broker closes the stream. */
static void
fail_write_locked (MitogenStream *self,
                   int            saved_errno)
{
  CloseLater *later = g_new0 (CloseLater, 1);

  later->stream = g_object_ref (self);
  later->error = g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "%s: write failed: %s",
                              self->name, g_strerror (saved_errno));
  self->closed = TRUE;
  g_queue_clear_full (&self->out, (GDestroyNotify) out_frame_free);
  self->out_bytes = 0;
  g_cond_broadcast (&self->wcond);
  mitogen_broker_defer (self->broker, close_later_cb, later, close_later_free);
}

/* Any thread, wlock held: writes what is queued, as much as the descriptor
 * takes now. */
static void
write_queue_locked (MitogenStream *self)
{
  while (self->out.length > 0)
    {
      struct iovec iov[MAX_IOV];
      int n_iov = gather_iov (self, iov, MAX_IOV);
      gssize n = write_iov (self, iov, n_iov);

      if (n < 0)
        {
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            fail_write_locked (self, errno);
          break;
        }
      consume_queue (self, (gsize) n);
      if (n > 0)
        self->last_tx = g_get_monotonic_time ();
      mitogen_io_debug ("%s: wrote %" G_GSSIZE_FORMAT " queued bytes", self->name, n);
    }
}

/* Broker thread: the descriptor can take more. */
static gboolean
on_writable_cb (int          fd,
                GIOCondition condition,
                gpointer     user_data)
{
  MitogenStream *self = user_data;
  g_autoptr(GPtrArray) fed_by = NULL;
  gboolean drained = FALSE;
  gboolean keep = TRUE;

  g_mutex_lock (&self->wlock);
  if (self->write_paused)
    {
      /* stop_transmit (): start_transmit () attaches a new watch. */
      self->want_write_watch = FALSE;
      g_clear_pointer (&self->write_source, g_source_unref);
      g_mutex_unlock (&self->wlock);
      return G_SOURCE_REMOVE;
    }
  write_queue_locked (self);

  if (self->out_bytes < MITOGEN_STREAM_LOW_WATER)
    {
      if (self->wwaiters > 0)
        g_cond_broadcast (&self->wcond);
      fed_by = steal_fed_by_locked (self);
    }

  if (self->out.length == 0 || self->closed)
    {
      drained = self->out.length == 0;
      self->want_write_watch = FALSE;
      g_clear_pointer (&self->write_source, g_source_unref);
      keep = FALSE;
    }
  g_mutex_unlock (&self->wlock);

  resume_fed_by (fed_by);
  if (drained && self->close_when_drained)
    mitogen_stream_close (self, NULL);

  return keep ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

typedef enum
{
  SEND_NORMAL,
  SEND_URGENT,     /* ahead of everything not yet begun (keepalives) */
  SEND_FORWARD,    /* the broker routes it: pause its source over high water */
} SendKind;

static gboolean send_frame (MitogenStream  *self,
                            MitogenMessage *message,
                            SendKind        kind,
                            MitogenStream  *from);

/* Any thread. Queues @message (writing it at once if nothing is queued).
 * Returns FALSE if the stream is closed. A thread other than the broker's
 * blocks while the queue is over the high-water mark. */
gboolean
mitogen_stream_send (MitogenStream  *self,
                     MitogenMessage *message)
{
  return send_frame (self, message, SEND_NORMAL, NULL);
}

/* Broker thread. Queues @message ahead of every frame not begun yet: a
 * keepalive must not wait behind megabytes of bulk data. */
gboolean
mitogen_stream_send_urgent (MitogenStream  *self,
                            MitogenMessage *message)
{
  return send_frame (self, message, SEND_URGENT, NULL);
}

/* Broker thread: @message came in on @from and leaves by @self. The broker
 * never blocks, so while @self holds more than the high-water mark @from
 * is not read (its peer is not heard, and cannot fill us up); once @self
 * drains below the low-water mark (or closes) @from is read again. In a
 * tree no stream can wait on itself this way: the streams a destination
 * waits for lead away from the source. */
gboolean
mitogen_stream_forward (MitogenStream  *self,
                        MitogenMessage *message,
                        MitogenStream  *from)
{
  return send_frame (self, message, SEND_FORWARD, from);
}

static gboolean
send_frame (MitogenStream  *self,
            MitogenMessage *message,
            SendKind        kind,
            MitogenStream  *from)
{
  OutFrame *frame = g_new0 (OutFrame, 1);
  g_autoptr(MitogenStream) coalesced_ref = NULL;  /* dropped after wlock */
  gboolean on_broker;
  gboolean answers = FALSE;

  mitogen_frame_header_encode (&message->header, frame->header);
  frame->total = MITOGEN_FRAME_HEADER_SIZE + message->header.length;
  if (message->payload != NULL)
    frame->parts[0] = g_bytes_ref (message->payload);
  if (message->trailer != NULL)
    frame->parts[1] = g_bytes_ref (message->trailer);

  g_mutex_lock (&self->wlock);
  if (self->closed)
    {
      g_mutex_unlock (&self->wlock);
      out_frame_free (frame);
      return FALSE;
    }

  if (kind == SEND_URGENT && self->out.length > 0)
    {
      OutFrame *head = g_queue_peek_head (&self->out);

      /* A frame partly written must finish first. */
      if (head->offset > 0)
        g_queue_insert_after (&self->out, self->out.head, frame);
      else
        g_queue_push_head (&self->out, frame);
    }
  else
    g_queue_push_tail (&self->out, frame);
  self->out_bytes += frame->total;
  mitogen_io_debug ("%s: send dst %u src %u auth %u handle %u reply_to %u length %u%s",
                    self->name, message->header.dst_id, message->header.src_id,
                    message->header.auth_id, message->header.handle, message->header.reply_to,
                    message->header.length, self->write_paused ? " (paused)" : "");

  on_broker = mitogen_broker_is_broker_thread (self->broker);
  if (!on_broker)
    {
      answers = thread_took_message;
      thread_took_message = FALSE;
    }
  if (on_broker && cork_depth > 0 && !self->write_paused)
    {
      /* Written when the broker is done with the frames of this read. */
      if (!self->corked)
        {
          if (corked_streams == NULL)
            corked_streams = g_ptr_array_new_with_free_func (g_object_unref);
          self->corked = TRUE;
          g_ptr_array_add (corked_streams, g_object_ref (self));
        }
    }
  else if (!on_broker && self->coalesce_timer != NULL && !self->write_paused)
    {
      /* More of a burst: the sender writes once enough is queued. */
      if ((self->out.length >= COALESCE_FRAMES || self->out_bytes >= COALESCE_BYTES) &&
          self->write_source == NULL)
        {
          write_queue_locked (self);
          /* The descriptor is full: the broker's watch takes over (below). */
          if (self->out.length > 0)
            coalesced_ref = coalesce_end_locked (self);
        }
    }
  else if (self->out.length == 1 && !self->write_paused)
    {
      gint64 now = g_get_monotonic_time ();

      /* Fast path: nothing ahead of us, write straight away; unless a
       * thread other than the broker sends again within COALESCE_USEC
       * of the last write without having taken a message since: a burst
       * (pipelined calls, a run of replies). Its frames are then queued
       * and written together, in one writev (one system call and one
       * wake-up of the peer for many frames): by the sender once
       * COALESCE_FRAMES are queued, by whichever thread next waits for a
       * message (mitogen_stream_flush_coalesced ()), at the latest by
       * the broker after COALESCE_FLUSH_MS. A lone frame, or one sent
       * after its thread took a reply (a round trip), never waits.
       * Replies merely arriving while a thread sends do not count: with
       * a quick peer they came between every two calls of a burst, and
       * the burst went out one frame, one system call and one wake-up at
       * a time. (Handing each burst to the broker at once did no better:
       * the broker, woken for the first frame, wrote it alone.) */
      if (on_broker || answers || now - self->last_tx >= COALESCE_USEC)
        {
          struct iovec iov[3];
          int n_iov = gather_iov (self, iov, 3);
          gssize n = write_iov (self, iov, n_iov);

          if (n >= 0)
            {
              consume_queue (self, (gsize) n);
              if (n > 0)
                self->last_tx = now;
            }
          else if (errno != EAGAIN && errno != EWOULDBLOCK)
            {
              fail_write_locked (self, errno);
              g_mutex_unlock (&self->wlock);
              return FALSE;
            }
        }
      else if (!on_broker)
        coalesce_begin_locked (self);
    }

  if (!self->corked && self->coalesce_timer == NULL)
    request_write_locked (self, on_broker);

  if (!on_broker)
    while (self->out_bytes > MITOGEN_STREAM_HIGH_WATER && !self->closed)
      {
        self->wwaiters++;
        g_cond_wait (&self->wcond, &self->wlock);
        self->wwaiters--;
      }

  if (kind == SEND_FORWARD && from != NULL && from != self && !self->closed &&
      self->out_bytes > MITOGEN_STREAM_HIGH_WATER && !g_ptr_array_find (self->fed_by, from, NULL))
    {
      g_ptr_array_add (self->fed_by, g_object_ref (from));
      from->flow_pauses++;
      mitogen_io_debug ("%s: over high water (%" G_GSIZE_FORMAT " bytes queued): not reading %s",
                        self->name, self->out_bytes, from->name);
    }

  g_mutex_unlock (&self->wlock);
  return TRUE;
}

static void attach_read_source (MitogenStream *self);

/* Broker thread: whether the read side takes nothing now. */
static gboolean
reads_paused (MitogenStream *self)
{
  return g_atomic_int_get (&self->read_paused) || self->flow_pauses > 0;
}

/* Broker thread: the streams paused until we drained read again (no lock
 * held: they are other streams). */
static void
resume_fed_by (GPtrArray *fed_by)
{
  for (guint i = 0; fed_by != NULL && i < fed_by->len; i++)
    {
      MitogenStream *from = g_ptr_array_index (fed_by, i);

      if (from->flow_pauses > 0 && --from->flow_pauses == 0 && !reads_paused (from) &&
          g_atomic_int_get (&from->started) && from->read_source == NULL && from->read_fd >= 0)
        attach_read_source (from);
    }
}

/* wlock held: takes the streams waiting for us to drain. */
static GPtrArray *
steal_fed_by_locked (MitogenStream *self)
{
  GPtrArray *fed_by;

  if (self->fed_by->len == 0)
    return NULL;
  fed_by = self->fed_by;
  self->fed_by = g_ptr_array_new_with_free_func (g_object_unref);
  return fed_by;
}

/* --- reading ------------------------------------------------------------ */

/* Broker thread. Returns FALSE if the stream closed meanwhile. */
static gboolean
dispatch (MitogenStream            *self,
          const MitogenFrameHeader *header,
          GBytes                   *payload)
{
  g_autoptr(MitogenMessage) message = mitogen_message_new_received (header, payload);

  mitogen_io_debug ("%s: received dst %u src %u auth %u handle %u reply_to %u length %u",
                    self->name, header->dst_id, header->src_id, header->auth_id,
                    header->handle, header->reply_to, header->length);
  self->hooks.message (self, message, self->hooks_data);
  return self->read_fd >= 0;
}

/* Broker thread: cuts every whole frame out of rbuf. */
static gboolean
parse_buffer (MitogenStream *self)
{
  gsize pos = 0;
  gboolean alive = TRUE;

  cork ();
  while (alive && self->rlen - pos >= MITOGEN_FRAME_HEADER_SIZE)
    {
      g_autoptr(GError) error = NULL;
      MitogenFrameHeader header;
      guint64 limit = self->handshaken ? self->max_message_size : MITOGEN_FRAME_HANDSHAKE_MAX;
      gsize need, have;

      if (!mitogen_frame_header_decode (self->rbuf + pos, MITOGEN_FRAME_HEADER_SIZE, limit, &header, &error))
        {
          mitogen_stream_close (self, error);
          alive = FALSE;
          break;
        }

      need = MITOGEN_FRAME_HEADER_SIZE + (gsize) header.length;
      have = self->rlen - pos;
      if (have >= need)
        {
          g_autoptr(GBytes) payload = header.length > 0
            ? g_bytes_new (self->rbuf + pos + MITOGEN_FRAME_HEADER_SIZE, header.length)
            : NULL;
          pos += need;
          self->header_first = FALSE;
          alive = dispatch (self, &header, payload);
        }
      else if (need > READ_BUFFER_SIZE)
        {
          /* Too large for the buffer: read the rest straight into its own
           * allocation, which becomes the payload. The length was checked
           * against the limit above. A recycled buffer of about the size
           * is taken if the pool has one (its pages are mapped already:
           * fresh ones fault on every first touch, which made bulk
           * transfers slower than the copies); else the allocation grows
           * as the bytes arrive (a peer announcing big frames and sending
           * nothing costs little). */
          self->big_header = header;
          self->big_len = have - MITOGEN_FRAME_HEADER_SIZE;
          self->big_buf = mitogen_buffer_pool_try_take (MIN ((gsize) header.length, BIG_GROW_LIMIT));
          if (self->big_buf != NULL)
            self->big_cap = MIN ((gsize) header.length, mitogen_buffer_pool_capacity (self->big_buf));
          else
            {
              self->big_cap = MIN ((gsize) header.length, MAX (self->big_len, READ_BUFFER_SIZE));
              self->big_buf = mitogen_buffer_pool_alloc (self->big_cap);
            }
          g_atomic_int_set (&self->big_cap_seen, (gint) self->big_cap);
          memcpy (self->big_buf, self->rbuf + pos + MITOGEN_FRAME_HEADER_SIZE, self->big_len);
          pos = self->rlen;
          break;
        }
      else
        break;
    }
  uncork ();

  if (!alive)
    return FALSE;

  if (pos > 0)
    {
      memmove (self->rbuf, self->rbuf + pos, self->rlen - pos);
      self->rlen -= pos;
    }
  return TRUE;
}

/* Broker thread. */
static gboolean
on_readable_cb (int          fd,
                GIOCondition condition,
                gpointer     user_data)
{
  MitogenStream *self = user_data;
  g_autoptr(MitogenStream) hold = g_object_ref (self);
  gssize n;

  if (reads_paused (self))
    {
      /* stop_receive () or a destination over high water: leave the data
       * where it is; resuming attaches a new source. */
      g_clear_pointer (&self->read_source, g_source_unref);
      return G_SOURCE_REMOVE;
    }

  if (self->big_buf != NULL)
    {
      gsize want;

      if (self->big_len == self->big_cap)
        {
          /* Doubling up to BIG_GROW_LIMIT, then the whole frame: a peer
           * must send a sixteenth of what it announces to make us
           * allocate it all, and at most 2 x BIG_GROW_LIMIT bytes are
           * ever copied (big copies would stall the broker thread). */
          self->big_cap = self->big_cap * 2 > BIG_GROW_LIMIT ? (gsize) self->big_header.length
                                                              : MIN ((gsize) self->big_header.length, self->big_cap * 2);
          self->big_buf = mitogen_buffer_pool_grow (self->big_buf, self->big_cap);
          g_atomic_int_set (&self->big_cap_seen, (gint) self->big_cap);
        }
      want = self->big_cap - self->big_len;

      do
        n = read (self->read_fd, self->big_buf + self->big_len, want);
      while (n < 0 && errno == EINTR);

      if (n > 0)
        {
          self->last_rx = g_get_monotonic_time ();
          self->ka_sent = 0;
          self->big_len += (gsize) n;
          if (self->big_len == self->big_header.length)
            {
              g_autoptr(GBytes) payload = mitogen_buffer_pool_to_bytes (g_steal_pointer (&self->big_buf),
                                                                        self->big_header.length);
              self->big_len = 0;
              self->big_cap = 0;
              /* Bulk data tends to come in a row of big frames: reading
               * the next header alone saves copying the first 256 KiB of
               * the next one out of rbuf (a small frame costs one more
               * read, once). */
              self->header_first = TRUE;
              g_atomic_int_set (&self->big_cap_seen, 0);
              if (!dispatch (self, &self->big_header, payload))
                return G_SOURCE_REMOVE;
            }
          return G_SOURCE_CONTINUE;
        }
    }
  else
    {
      gsize want = READ_BUFFER_SIZE - self->rlen;

      if (self->header_first && self->rlen < MITOGEN_FRAME_HEADER_SIZE)
        want = MITOGEN_FRAME_HEADER_SIZE - self->rlen;
      do
        n = read (self->read_fd, self->rbuf + self->rlen, want);
      while (n < 0 && errno == EINTR);

      if (n > 0)
        {
          self->last_rx = g_get_monotonic_time ();
          self->ka_sent = 0;
          self->rlen += (gsize) n;
          return parse_buffer (self) ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
        }
    }

  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return G_SOURCE_CONTINUE;

  if (n == 0)
    {
      g_autoptr(GError) error = NULL;

      if (self->big_buf != NULL || self->rlen > 0)
        error = g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                             "%s: stream ended inside a frame", self->name);
      mitogen_stream_close (self, error);
    }
  else
    {
      g_autoptr(GError) error = g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                             "%s: read failed: %s", self->name, g_strerror (errno));
      mitogen_stream_close (self, error);
    }
  return G_SOURCE_REMOVE;
}

/* Broker thread. */
static void
attach_read_source (MitogenStream *self)
{
  self->read_source = g_unix_fd_source_new (self->read_fd, G_IO_IN);
  g_source_set_callback (self->read_source, G_SOURCE_FUNC (on_readable_cb), self, NULL);
  g_source_set_static_name (self->read_source, "[mitogen] stream read");
  /* GLib blocks a source that cannot recurse while it dispatches: takes
   * its descriptor out of the poll set and back in, each time waking the
   * broker's own context through its eventfd (a write, then one more
   * poll and read on the next pass): three system calls per wake-up. The
   * broker never iterates its context from inside a callback, so there
   * is no recursion to guard against. */
  g_source_set_can_recurse (self->read_source, TRUE);
  g_source_attach (self->read_source, mitogen_broker_get_main_context (self->broker));
}

/* Broker thread: starts reading and joins the broker. */
void
mitogen_stream_start (MitogenStream *self)
{
  GMainContext *context = mitogen_broker_get_main_context (self->broker);

  mitogen_assert_broker_thread (self->broker);

  mitogen_broker_add_stream (self->broker, self);
  g_atomic_int_set (&self->started, TRUE);

  attach_read_source (self);

  if (self->pid != 0)
    {
      self->child_watch = g_child_watch_source_new (self->pid);
      g_source_set_callback (self->child_watch, G_SOURCE_FUNC (child_exited_cb),
                             g_object_ref (self), g_object_unref);
      g_source_set_static_name (self->child_watch, "[mitogen] stream child");
      g_source_attach (self->child_watch, context);
    }
}

/* Broker thread: closes both directions once; the hooks' closed runs once. */
void
mitogen_stream_close (MitogenStream *self,
                      const GError  *error)
{
  g_autoptr(MitogenStream) hold = g_object_ref (self);
  g_autoptr(MitogenStream) coalesced_ref = NULL;
  g_autoptr(GPtrArray) fed_by = NULL;

  mitogen_assert_broker_thread (self->broker);

  if (self->read_fd < 0)
    return;

  if (error != NULL)
    g_debug ("%s: closing: %s", self->name, error->message);
  else
    g_debug ("%s: closing", self->name);

  g_mutex_lock (&self->wlock);
  self->closed = TRUE;
  coalesced_ref = coalesce_end_locked (self);
  g_queue_clear_full (&self->out, (GDestroyNotify) out_frame_free);
  self->out_bytes = 0;
  self->want_write_watch = FALSE;
  if (self->write_source != NULL)
    {
      g_source_destroy (self->write_source);
      g_clear_pointer (&self->write_source, g_source_unref);
    }
  if (self->write_fd != self->read_fd)
    close (self->write_fd);
  self->write_fd = -1;
  g_cond_broadcast (&self->wcond);
  fed_by = steal_fed_by_locked (self);
  g_mutex_unlock (&self->wlock);

  resume_fed_by (fed_by);
  if (self->ka_source != NULL)
    {
      g_source_destroy (self->ka_source);
      g_clear_pointer (&self->ka_source, g_source_unref);
    }

  if (self->read_source != NULL)
    {
      g_source_destroy (self->read_source);
      g_clear_pointer (&self->read_source, g_source_unref);
    }
  close (self->read_fd);
  self->read_fd = -1;
  g_clear_pointer (&self->big_buf, mitogen_buffer_pool_give);
  self->big_cap = 0;
  g_atomic_int_set (&self->big_cap_seen, 0);

  if (self->hooks.closed != NULL)
    self->hooks.closed (self, error, self->hooks_data);

  maybe_finish (self);
}

/* Broker thread: closes once everything queued has been written. */
void
mitogen_stream_close_when_drained (MitogenStream *self)
{
  gboolean empty;

  g_mutex_lock (&self->wlock);
  empty = self->out.length == 0;
  self->close_when_drained = TRUE;
  g_mutex_unlock (&self->wlock);

  if (empty)
    mitogen_stream_close (self, NULL);
}

/* Broker thread: the broker is shutting down. */
void
mitogen_stream_shutdown (MitogenStream *self)
{
  if (self->read_fd < 0)
    return;
  /* A paused stream could neither say goodbye nor hear the peer leave. */
  self->flow_pauses = 0;
  mitogen_stream_set_read_paused (self, FALSE);
  mitogen_stream_set_write_paused (self, FALSE);
  if (self->hooks.shutdown != NULL)
    self->hooks.shutdown (self, self->hooks_data);
  else
    mitogen_stream_close_when_drained (self);
}

/* Broker thread: no more grace. Closes, kills the child and reaps it. */
void
mitogen_stream_force_close (MitogenStream *self,
                            const char    *reason)
{
  g_autoptr(MitogenStream) hold = g_object_ref (self);

  if (self->read_fd >= 0)
    {
      g_autoptr(GError) error = g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                                             "%s: %s", self->name, reason);
      mitogen_stream_close (self, error);
    }

  if (self->pid != 0 && !self->reaped)
    {
      int status;

      if (self->child_watch != NULL)
        {
          g_source_destroy (self->child_watch);
          g_clear_pointer (&self->child_watch, g_source_unref);
        }
      kill (self->pid, SIGKILL);
      while (waitpid (self->pid, &status, 0) < 0 && errno == EINTR)
        ;
      self->reaped = TRUE;
      g_debug ("%s: killed child %d", self->name, (int) self->pid);
    }

  maybe_finish (self);
}

/* --- pausing (the seed's Broker.start/stop_receive/_transmit) -------------- */

/* Any thread: TRUE once the stream has joined its broker and reads. */
gboolean
mitogen_stream_is_started (MitogenStream *self)
{
  return g_atomic_int_get (&self->started);
}

/* Broker thread. */
static gboolean
resume_read_cb (gpointer data)
{
  MitogenStream *self = data;

  mitogen_assert_broker_thread (self->broker);
  if (!reads_paused (self) && g_atomic_int_get (&self->started) &&
      self->read_source == NULL && self->read_fd >= 0)
    attach_read_source (self);
  return G_SOURCE_REMOVE;
}

/* Any thread. Paused, the read side takes nothing more from the descriptor
 * (its source detaches itself the next time it fires, so the effect is
 * immediate); frames already read are still dispatched, and end-of-file is
 * not noticed until reading resumes. Resuming attaches a new source on the
 * broker thread. */
void
mitogen_stream_set_read_paused (MitogenStream *self,
                                gboolean       paused)
{
  g_atomic_int_set (&self->read_paused, paused != FALSE);
  if (paused)
    return;
  if (mitogen_broker_is_broker_thread (self->broker))
    resume_read_cb (self);
  else
    mitogen_broker_defer (self->broker, resume_read_cb, g_object_ref (self), g_object_unref);
}

/* Any thread. Paused, the write side queues frames instead of writing
 * them (writers other than the broker still block over the high-water
 * mark); resuming has the broker write the queue when the descriptor is
 * writable. */
void
mitogen_stream_set_write_paused (MitogenStream *self,
                                 gboolean       paused)
{
  gboolean on_broker = mitogen_broker_is_broker_thread (self->broker);

  g_mutex_lock (&self->wlock);
  self->write_paused = paused != FALSE;
  if (!paused && self->out.length > 0 && !self->closed)
    {
      self->want_write_watch = TRUE;
      if (on_broker)
        attach_write_watch_locked (self);
      else
        mitogen_broker_defer (self->broker, attach_write_watch_cb, g_object_ref (self), g_object_unref);
    }
  g_mutex_unlock (&self->wlock);
}

/* Any thread. */
gboolean
mitogen_stream_get_read_paused (MitogenStream *self)
{
  return g_atomic_int_get (&self->read_paused);
}

/* Any thread. */
gboolean
mitogen_stream_get_write_paused (MitogenStream *self)
{
  gboolean paused;

  g_mutex_lock (&self->wlock);
  paused = self->write_paused;
  g_mutex_unlock (&self->wlock);
  return paused;
}

/* --- keepalive (docs/protocol.md, "Keepalive") --------------------------- */

/* Broker thread: whether the read descriptor has bytes we have not read. */
static gboolean
read_pending (MitogenStream *self)
{
  struct pollfd pfd = { .fd = self->read_fd, .events = POLLIN };
  int n;

  do
    n = poll (&pfd, 1, 0);
  while (n < 0 && errno == EINTR);
  return n > 0 && (pfd.revents & POLLIN) != 0;
}

/* Broker thread. */
static gboolean
keepalive_tick_cb (gpointer data)
{
  MitogenStream *self = data;
  g_autoptr(MitogenStream) hold = g_object_ref (self);  /* closing may drop the broker's */
  gint64 now = g_get_monotonic_time ();
  gint64 interval = (gint64) (self->ka_interval * G_USEC_PER_SEC);
  gint64 silent, quiet;

  if (self->read_fd < 0)
    {
      g_clear_pointer (&self->ka_source, g_source_unref);
      return G_SOURCE_REMOVE;
    }

  if (reads_paused (self))
    {
      /* We are not reading, so we cannot expect to hear the peer (it
       * keeps hearing us: see below). */
      self->last_rx = now;
      self->ka_sent = 0;
    }

  silent = now - self->last_rx;
  if (silent >= interval * (gint64) self->ka_count && read_pending (self))
    {
      /* Bytes are waiting: the peer did speak, and our own broker was too
       * busy to read them yet (a large frame to decode, a slow tick). */
      self->last_rx = now;
      self->ka_sent = 0;
      silent = 0;
    }
  if (silent >= interval * (gint64) self->ka_count)
    {
      g_autoptr(GError) error =
        g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                     "%s: no answer to keepalives: nothing received for %.3g s "
                     "(%u keepalives %.3g s apart unanswered)",
                     self->name, (double) silent / G_USEC_PER_SEC, self->ka_sent, self->ka_interval);
      g_debug ("%s", error->message);
      /* Our source goes in mitogen_stream_close (). A local child that
       * does not answer (stopped, wedged) is of no use any more, and
       * might never notice the stream is gone: it is killed (and reaped
       * by the child watch). */
      mitogen_stream_close (self, error);
      if (self->pid != 0 && !self->reaped)
        kill (self->pid, SIGKILL);
      return G_SOURCE_REMOVE;
    }

  /* A keepalive when we have heard nothing for an interval, and also when
   * we have written nothing for one: the peer must hear us even while our
   * own keepalives wait behind a large frame it is slow to take (its
   * answers may wait behind ours, but our data is the sign of life it
   * needs). */
  g_mutex_lock (&self->wlock);
  quiet = now - self->last_tx;
  g_mutex_unlock (&self->wlock);
  if ((silent >= interval || quiet >= interval) && now - self->ka_last_sent >= interval &&
      self->hooks.keepalive != NULL)
    {
      self->ka_last_sent = now;
      self->ka_sent++;
      self->hooks.keepalive (self, self->hooks_data);
    }
  return G_SOURCE_CONTINUE;
}

/* Broker thread: a keepalive every @interval seconds of silence from the
 * peer; nothing at all for @interval x @count closes the stream. @interval
 * 0 turns it off. */
void
mitogen_stream_set_keepalive (MitogenStream *self,
                              double         interval,
                              guint          count)
{
  mitogen_assert_broker_thread (self->broker);

  if (self->ka_source != NULL)
    {
      g_source_destroy (self->ka_source);
      g_clear_pointer (&self->ka_source, g_source_unref);
    }
  self->ka_interval = interval;
  self->ka_count = MAX (count, MITOGEN_KEEPALIVE_MIN_COUNT);
  if (interval <= 0 || self->read_fd < 0)
    return;

  self->last_rx = g_get_monotonic_time ();
  self->ka_sent = 0;
  /* Four ticks an interval: the stream closes within a quarter interval
   * of interval x count; a tick is a clock read, nothing more. */
  self->ka_source = g_timeout_source_new ((guint) MAX (1.0, interval * 1000.0 / 4.0));
  g_source_set_callback (self->ka_source, keepalive_tick_cb, self, NULL);
  g_source_set_static_name (self->ka_source, "[mitogen] stream keepalive");
  g_source_attach (self->ka_source, mitogen_broker_get_main_context (self->broker));
}

/* Any thread: bytes allocated for a frame being read that is larger than
 * the read buffer (0: none). For the tests. */
gsize
mitogen_stream_get_read_allocation (MitogenStream *self)
{
  return (gsize) g_atomic_int_get (&self->big_cap_seen);
}
