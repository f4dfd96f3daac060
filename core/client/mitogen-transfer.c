/* mitogen-transfer.c — MitogenTransfer: files and trees to and from a context
 *
 * The master's end of a transfer: for a get it runs the receiving end of
 * mitogen-tree.c here against `file.send_tree` in the context; for a put
 * it runs the sending end against `file.receive_tree`. Flow control,
 * events and integrity checks are in docs/streaming.md.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-transfer"

#include "config.h"

#include "mitogen-context-private.h"
#include "mitogen-streaming-private.h"
#include "mitogen-tree-private.h"

G_DEFINE_ENUM_TYPE (MitogenTransferDirection, mitogen_transfer_direction,
  G_DEFINE_ENUM_VALUE (MITOGEN_TRANSFER_DIRECTION_GET, "get"),
  G_DEFINE_ENUM_VALUE (MITOGEN_TRANSFER_DIRECTION_PUT, "put"))

G_DEFINE_FLAGS_TYPE (MitogenTransferFlags, mitogen_transfer_flags,
  G_DEFINE_ENUM_VALUE (MITOGEN_TRANSFER_FLAGS_NONE, "none"),
  G_DEFINE_ENUM_VALUE (MITOGEN_TRANSFER_FLAGS_RECURSIVE, "recursive"),
  G_DEFINE_ENUM_VALUE (MITOGEN_TRANSFER_FLAGS_TARGET_DIRECTORY, "target-directory"))

struct _MitogenTransfer
{
  GObject                      parent_instance;

  MitogenContext              *context;        /* (owned) */
  MitogenTransferDirection     direction;
  char                        *source;         /* (owned) */
  char                        *destination;    /* (owned) */
  MitogenTransferFlags         flags;
  gsize                        chunk;
  guint64                      window;
  gint                         started;        /* (atomic) runs once */

  MitogenTransferProgressFunc  progress;
  gpointer                     progress_data;
  GDestroyNotify               progress_destroy;
  GMainContext                *progress_context; /* (owned) (nullable) async runs report here */

  GMutex                       lock;           /* guards the fields below */
  guint64                      bytes_done;
  guint64                      bytes_total;
  guint64                      files_done;
  guint64                      files_total;
  char                        *path;           /* (owned) (nullable) where the copy is */
  char                        *sha256;         /* (owned) (nullable) */
  gboolean                     report_pending; /* an async progress report is queued */
};

G_DEFINE_FINAL_TYPE (MitogenTransfer, mitogen_transfer, G_TYPE_OBJECT)

/**
 * MitogenTransfer:
 *
 * Copies a file or a directory tree between this process and a context,
 * whatever its size, in chunks (1 MiB by default) with flow control: at
 * most a window (4 MiB by default) is in flight, so both sides use
 * bounded memory. Each file's SHA-256 is computed by both sides and
 * compared before the copy is renamed into place; mode and modification
 * time are preserved (ownership is not). Symbolic links inside a tree are
 * copied as links; sockets, FIFOs and devices are skipped.
 *
 * The destination is resolved like cp(1): an existing directory receives
 * the source under its own name; otherwise the destination is the new
 * name. A file is written beside its destination, without a name where
 * the filesystem allows (O_TMPFILE) and otherwise under a hidden temporary
 * one, and renamed over it only once complete and verified: a transfer
 * that fails, is cancelled, or loses its context midway leaves no partial
 * file on either side (see "Stopping midway" in docs/streaming.md).
 *
 * ```c
 * g_autoptr(MitogenTransfer) transfer =
 *   mitogen_transfer_new (context, MITOGEN_TRANSFER_DIRECTION_PUT,
 *                         "./tree", "/tmp/copy", MITOGEN_TRANSFER_FLAGS_RECURSIVE);
 * mitogen_transfer_set_progress_func (transfer, on_progress, bar, NULL);
 * if (!mitogen_transfer_run (transfer, NULL, &error))
 *   ...
 * ```
 *
 * [method@Mitogen.Context.get_file] and [method@Mitogen.Context.put_file]
 * are shorthands. A transfer runs once.
 */

static void
mitogen_transfer_finalize (GObject *object)
{
  MitogenTransfer *self = MITOGEN_TRANSFER (object);

  if (self->progress_destroy != NULL)
    self->progress_destroy (self->progress_data);
  g_clear_pointer (&self->progress_context, g_main_context_unref);
  g_clear_object (&self->context);
  g_free (self->source);
  g_free (self->destination);
  g_free (self->path);
  g_free (self->sha256);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (mitogen_transfer_parent_class)->finalize (object);
}

static void
mitogen_transfer_class_init (MitogenTransferClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mitogen_transfer_finalize;
}

static void
mitogen_transfer_init (MitogenTransfer *self)
{
  g_mutex_init (&self->lock);
  self->chunk = MITOGEN_TRANSFER_DEFAULT_CHUNK;
  self->window = MITOGEN_TRANSFER_DEFAULT_WINDOW;
}

/**
 * mitogen_transfer_new:
 * @context: the context at the other end
 * @direction: which way to copy
 * @source: (type filename): what to copy: a path in @context for a get,
 *   here for a put; `~` is the home directory of the side it is on
 * @destination: (type filename): where to copy it, on the other side
 * @flags: how to copy
 *
 * Prepares a copy; [method@Mitogen.Transfer.run] makes it. Any thread.
 *
 * Returns: (transfer full): a new transfer
 */
MitogenTransfer *
mitogen_transfer_new (MitogenContext           *context,
                      MitogenTransferDirection  direction,
                      const char               *source,
                      const char               *destination,
                      MitogenTransferFlags      flags)
{
  MitogenTransfer *self;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (context), NULL);
  g_return_val_if_fail (direction == MITOGEN_TRANSFER_DIRECTION_GET || direction == MITOGEN_TRANSFER_DIRECTION_PUT, NULL);
  g_return_val_if_fail (source != NULL && source[0] != '\0', NULL);
  g_return_val_if_fail (destination != NULL && destination[0] != '\0', NULL);

  self = g_object_new (MITOGEN_TYPE_TRANSFER, NULL);
  self->context = g_object_ref (context);
  self->direction = direction;
  self->source = g_strdup (source);
  self->destination = g_strdup (destination);
  self->flags = flags;
  return self;
}

/**
 * mitogen_transfer_get_context:
 * @self: a transfer
 *
 * The context at the other end. Any thread.
 *
 * Returns: (transfer none): the context
 */
MitogenContext *
mitogen_transfer_get_context (MitogenTransfer *self)
{
  g_return_val_if_fail (MITOGEN_IS_TRANSFER (self), NULL);
  return self->context;
}

/**
 * mitogen_transfer_set_chunk_size:
 * @self: a transfer, not yet run
 * @chunk_size: bytes read and sent at a time; 4 KiB to 64 MiB, default
 *   1 MiB (capped at half the connection's `max_message_size`)
 *
 * Sets the chunk size. Any thread, before the transfer runs.
 */
void
mitogen_transfer_set_chunk_size (MitogenTransfer *self,
                                 gsize            chunk_size)
{
  g_return_if_fail (MITOGEN_IS_TRANSFER (self));
  g_return_if_fail (!g_atomic_int_get (&self->started));

  self->chunk = CLAMP (chunk_size, 4096, 64 * 1024 * 1024);
}

/**
 * mitogen_transfer_set_window:
 * @self: a transfer, not yet run
 * @window: bytes that may be in flight unacknowledged (at least two
 *   chunks; default 4 MiB): the memory each side may spend on the transfer
 *
 * Sets the flow-control window. Any thread, before the transfer runs.
 */
void
mitogen_transfer_set_window (MitogenTransfer *self,
                             guint64          window)
{
  g_return_if_fail (MITOGEN_IS_TRANSFER (self));
  g_return_if_fail (!g_atomic_int_get (&self->started));

  self->window = CLAMP (window, 8192, G_GUINT64_CONSTANT (1) << 32);
}

/**
 * mitogen_transfer_set_progress_func:
 * @self: a transfer, not yet run
 * @func: (nullable) (scope notified) (closure user_data) (destroy destroy):
 *   called as the copy progresses
 * @user_data: data for @func
 * @destroy: (nullable): frees @user_data when the transfer is finalized
 *
 * Sets a function called with the bytes copied so far and the total:
 * first once the total is known, then after each chunk. For
 * [method@Mitogen.Transfer.run] it runs in the calling thread; for
 * [method@Mitogen.Transfer.run_async], in the thread-default main context
 * of the thread that started it (reports are coalesced while it is busy).
 */
void
mitogen_transfer_set_progress_func (MitogenTransfer             *self,
                                    MitogenTransferProgressFunc  func,
                                    gpointer                     user_data,
                                    GDestroyNotify               destroy)
{
  g_return_if_fail (MITOGEN_IS_TRANSFER (self));
  g_return_if_fail (!g_atomic_int_get (&self->started));

  if (self->progress_destroy != NULL)
    self->progress_destroy (self->progress_data);
  self->progress = func;
  self->progress_data = user_data;
  self->progress_destroy = destroy;
}

/* In self->progress_context. */
static gboolean
report_progress_cb (gpointer data)
{
  MitogenTransfer *self = data;
  guint64 done, total;

  g_mutex_lock (&self->lock);
  done = self->bytes_done;
  total = self->bytes_total;
  self->report_pending = FALSE;
  g_mutex_unlock (&self->lock);
  self->progress (self, done, total, self->progress_data);
  return G_SOURCE_REMOVE;
}

/* The thread running the transfer. */
static void
update_progress (MitogenTransfer *self,
                 guint64          done,
                 guint64          total)
{
  gboolean schedule = FALSE;

  g_mutex_lock (&self->lock);
  self->bytes_done = done;
  self->bytes_total = total;
  if (self->progress != NULL && self->progress_context != NULL && !self->report_pending)
    schedule = self->report_pending = TRUE;
  g_mutex_unlock (&self->lock);

  if (self->progress == NULL)
    return;
  if (self->progress_context == NULL)
    self->progress (self, done, total, self->progress_data);
  else if (schedule)
    {
      g_autoptr(GSource) source = g_idle_source_new ();

      /* The priority of the GTask completion, attached later: the last
       * report comes before the result. */
      g_source_set_priority (source, G_PRIORITY_DEFAULT);
      g_source_set_callback (source, report_progress_cb, g_object_ref (self), g_object_unref);
      g_source_set_static_name (source, "[mitogen] transfer progress");
      g_source_attach (source, self->progress_context);
    }
}

/* ---------------------------------------------------------------------- */
/* The master's side of the stream */

typedef struct
{
  MitogenTransfer *transfer;     /* (unowned) */
  MitogenReceiver *events;       /* (owned) the context's events, acks and reply */
  GCancellable    *cancellable;  /* (unowned) (nullable) */
  const char      *function;
  guint32          peer_handle;  /* the context's: acks (get) or data (put) */
  GVariant        *reply;        /* (owned) (nullable) the call's reply, once arrived */
} MasterIO;

/* The next message on the events receiver: an event, or the call's reply
 * (kept in io->reply; returns NULL with no error then). */
static GVariant *
next_event (MasterIO  *io,
            GError   **error)
{
  g_autoptr(MitogenMessage) message = NULL;
  GVariant *value;

  if (io->reply != NULL)
    return NULL;
  message = mitogen_receiver_get_full (io->events, -1, io->cancellable, error);
  if (message == NULL)
    return NULL;
  if (mitogen_message_is_error (message))
    {
      g_propagate_error (error, mitogen_streaming_reply_error (message, io->function));
      return NULL;
    }
  value = mitogen_message_get_value (message, error);
  if (value == NULL)
    return NULL;
  if (g_variant_is_of_type (value, G_VARIANT_TYPE ("(sv)")) ||
      g_variant_is_of_type (value, G_VARIANT_TYPE_BYTESTRING))
    return value;
  io->reply = value;
  return NULL;
}

static gboolean
ended_early (MasterIO  *io,
             GError   **error)
{
  g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "%s in context '%s' ended before the transfer did",
               io->function, mitogen_context_get_name (io->transfer->context));
  return FALSE;
}

static gboolean
master_send (gpointer   data,
             GVariant  *event,
             GError   **error)
{
  MasterIO *io = data;

  if (g_cancellable_set_error_if_cancelled (io->cancellable, error))
    {
      g_variant_unref (g_variant_ref_sink (event));
      return FALSE;
    }
  return mitogen_context_send (io->transfer->context, io->peer_handle, event, error);
}

static gboolean
master_wait_ack (gpointer   data,
                 guint64   *acked,
                 GError   **error)
{
  MasterIO *io = data;

  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      g_autoptr(GVariant) event = next_event (io, &local_error);
      const char *kind;
      g_autoptr(GVariant) payload = NULL;

      if (event == NULL)
        {
          if (local_error != NULL)
            {
              g_propagate_error (error, g_steal_pointer (&local_error));
              return FALSE;
            }
          return ended_early (io, error);
        }
      if (mitogen_event_parse (event, &kind, &payload) && g_str_equal (kind, "ack") &&
          g_variant_is_of_type (payload, G_VARIANT_TYPE_UINT64))
        {
          *acked = g_variant_get_uint64 (payload);
          return TRUE;
        }
    }
}

static GVariant *
master_next (gpointer   data,
             GError   **error)
{
  MasterIO *io = data;
  g_autoptr(GError) local_error = NULL;
  GVariant *event = next_event (io, &local_error);

  if (event == NULL)
    {
      if (local_error != NULL)
        g_propagate_error (error, g_steal_pointer (&local_error));
      else
        ended_early (io, error);
    }
  return event;
}

static gboolean
master_idle (gpointer data)
{
  MasterIO *io = data;

  return mitogen_receiver_empty (io->events);
}

static gboolean
master_ack (gpointer   data,
            guint64    consumed,
            GError   **error)
{
  MasterIO *io = data;

  return mitogen_context_send (io->transfer->context, io->peer_handle,
                               mitogen_event_new ("ack", g_variant_new_uint64 (consumed)), error);
}

static void
master_progress (gpointer data,
                 guint64  done,
                 guint64  total)
{
  MasterIO *io = data;

  update_progress (io->transfer, done, total);
}

static const MitogenTreeSenderIO master_sender_io = { master_send, master_wait_ack, master_progress };
static const MitogenTreeReceiverIO master_receiver_io = { master_next, master_idle, master_ack, master_progress };

/* The first event of the call: @kind with the peer's handle. */
static gboolean
expect_handle (MasterIO    *io,
               const char  *expected,
               GError     **error)
{
  g_autoptr(GVariant) event = master_next (io, error);
  const char *kind;
  g_autoptr(GVariant) payload = NULL;

  if (event == NULL)
    return FALSE;
  if (!mitogen_event_parse (event, &kind, &payload) || !g_str_equal (kind, expected) ||
      !g_variant_is_of_type (payload, G_VARIANT_TYPE_UINT32))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "%s in context '%s': unexpected first event",
                   io->function, mitogen_context_get_name (io->transfer->context));
      return FALSE;
    }
  io->peer_handle = g_variant_get_uint32 (payload);
  return TRUE;
}

/* Waits for the call's reply (skipping late acknowledgements). */
static gboolean
wait_reply (MasterIO  *io,
            GError   **error)
{
  while (io->reply == NULL)
    {
      g_autoptr(GError) local_error = NULL;
      g_autoptr(GVariant) event = next_event (io, &local_error);

      if (event == NULL && local_error != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
    }
  if (!g_variant_is_of_type (io->reply, G_VARIANT_TYPE_VARDICT))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "%s in context '%s': unexpected reply of type %s",
                   io->function, mitogen_context_get_name (io->transfer->context),
                   g_variant_get_type_string (io->reply));
      return FALSE;
    }
  return TRUE;
}

static void
record_summary (MitogenTransfer          *self,
                const MitogenTreeSummary *summary)
{
  g_mutex_lock (&self->lock);
  self->bytes_done = summary->bytes;
  self->bytes_total = MAX (summary->bytes_total, summary->bytes);
  self->files_done = summary->files;
  self->files_total = MAX (summary->files_total, summary->files);
  g_free (self->path);
  self->path = g_strdup (summary->path);
  g_free (self->sha256);
  self->sha256 = g_strdup (summary->sha256);
  g_mutex_unlock (&self->lock);
}

static gboolean
run_get (MitogenTransfer  *self,
         MasterIO         *io,
         GError          **error)
{
  MitogenTreeSummary summary = { 0 };
  GVariantBuilder options;
  gboolean ok;

  io->function = "file.send_tree";
  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "recursive",
                         g_variant_new_boolean ((self->flags & MITOGEN_TRANSFER_FLAGS_RECURSIVE) != 0));
  g_variant_builder_add (&options, "{sv}", "chunk_size", g_variant_new_uint64 (self->chunk));
  g_variant_builder_add (&options, "{sv}", "window", g_variant_new_uint64 (self->window));
  if (!mitogen_streaming_begin_call (self->context, io->function,
                                     g_variant_new ("(^ayu@a{sv})", self->source,
                                                    mitogen_receiver_get_handle (io->events),
                                                    g_variant_builder_end (&options)),
                                     mitogen_receiver_get_handle (io->events), error))
    return FALSE;
  if (!expect_handle (io, "start", error))
    return FALSE;

  ok = mitogen_tree_receive (self->destination, (self->flags & MITOGEN_TRANSFER_FLAGS_TARGET_DIRECTORY) != 0,
                             self->window, &master_receiver_io, io, &summary, error);
  if (ok)
    {
      record_summary (self, &summary);
      ok = wait_reply (io, error);
    }
  else
    mitogen_streaming_send_dead (self->context, io->peer_handle);
  mitogen_tree_summary_clear (&summary);
  return ok;
}

static gboolean
run_put (MitogenTransfer  *self,
         MasterIO         *io,
         GError          **error)
{
  MitogenTreeSummary summary = { 0 };
  GVariantBuilder options;
  gsize chunk;

  io->function = "file.receive_tree";
  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "target_directory",
                         g_variant_new_boolean ((self->flags & MITOGEN_TRANSFER_FLAGS_TARGET_DIRECTORY) != 0));
  g_variant_builder_add (&options, "{sv}", "window", g_variant_new_uint64 (self->window));
  if (!mitogen_streaming_begin_call (self->context, io->function,
                                     g_variant_new ("(^ayu@a{sv})", self->destination,
                                                    mitogen_receiver_get_handle (io->events),
                                                    g_variant_builder_end (&options)),
                                     mitogen_receiver_get_handle (io->events), error))
    return FALSE;
  if (!expect_handle (io, "ready", error))
    return FALSE;

  chunk = mitogen_streaming_chunk_limit (mitogen_context_get_router (self->context),
                                         mitogen_context_get_id (self->context), self->chunk);
  if (!mitogen_tree_send (self->source, (self->flags & MITOGEN_TRANSFER_FLAGS_RECURSIVE) != 0, chunk,
                          MAX (self->window, 2 * (guint64) chunk), &master_sender_io, io, &summary, error))
    {
      if (io->reply == NULL)
        mitogen_streaming_send_dead (self->context, io->peer_handle);
      mitogen_tree_summary_clear (&summary);
      return FALSE;
    }
  if (!wait_reply (io, error))
    {
      mitogen_tree_summary_clear (&summary);
      return FALSE;
    }
  /* The receiving side's account: where the copy is, what it verified. */
  mitogen_tree_summary_from_variant (&summary, io->reply);
  record_summary (self, &summary);
  update_progress (self, summary.bytes, MAX (summary.bytes_total, summary.bytes));
  mitogen_tree_summary_clear (&summary);
  return TRUE;
}

/**
 * mitogen_transfer_run:
 * @self: a transfer
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Makes the copy. Any thread but a broker's; a transfer runs once.
 *
 * Returns: %TRUE once everything is copied and verified; %FALSE with a
 *   `G_IO_ERROR` for a local failure (no such file, a directory without
 *   %MITOGEN_TRANSFER_FLAGS_RECURSIVE, permission denied, an integrity
 *   check that failed), %MITOGEN_ERROR_CALL wrapping the same from the
 *   context, %MITOGEN_ERROR_CHANNEL if the context went away midway
 *   ("Context 'NAME' was lost during ..."), or %G_IO_ERROR_CANCELLED once
 *   @cancellable is cancelled (the context lives on). A failed transfer
 *   leaves no partial file behind on either side (files already complete
 *   in a tree stay).
 */
gboolean
mitogen_transfer_run (MitogenTransfer  *self,
                      GCancellable     *cancellable,
                      GError          **error)
{
  MitogenRouter *router;
  MasterIO io = { 0 };
  gboolean ok;

  g_return_val_if_fail (MITOGEN_IS_TRANSFER (self), FALSE);
  g_return_val_if_fail (!g_atomic_int_get (&self->started), FALSE);
  g_atomic_int_set (&self->started, TRUE);

  router = mitogen_context_get_router (self->context);
  if (router == NULL)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                   "Context '%s': its router is gone", mitogen_context_get_name (self->context));
      return FALSE;
    }

  io.transfer = self;
  io.cancellable = cancellable;
  io.events = mitogen_receiver_new (router, 0, TRUE, self->context);
  if (self->direction == MITOGEN_TRANSFER_DIRECTION_GET)
    ok = run_get (self, &io, error);
  else
    ok = run_put (self, &io, error);
  /* However it was noticed (a send, a receive, the reply), say plainly
   * that the other side went away. Its partial file, if it was
   * receiving, went with it (see mitogen-tree.c); ours is removed. */
  if (!ok && error != NULL && *error != NULL && g_error_matches (*error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL))
    g_prefix_error (error, "Context '%s' was lost during %s: ", mitogen_context_get_name (self->context),
                    io.function);

  mitogen_receiver_close (io.events);
  g_clear_object (&io.events);
  g_clear_pointer (&io.reply, g_variant_unref);
  return ok;
}

static void
run_in_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  GError *error = NULL;

  if (mitogen_transfer_run (source_object, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

/**
 * mitogen_transfer_run_async:
 * @self: a transfer
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called in the thread-default main context of
 *   the calling thread when the copy is done
 * @user_data: data for @callback
 *
 * Makes the copy without blocking the caller (it runs in a worker
 * thread); progress is reported in the caller's main context.
 */
void
mitogen_transfer_run_async (MitogenTransfer     *self,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MITOGEN_IS_TRANSFER (self));
  g_return_if_fail (!g_atomic_int_get (&self->started));

  self->progress_context = g_main_context_ref_thread_default ();
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_transfer_run_async);
  g_task_run_in_thread (task, run_in_thread);
}

/**
 * mitogen_transfer_run_finish:
 * @self: a transfer
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Transfer.run_async].
 *
 * Returns: %TRUE once copied and verified; %FALSE with @error set as for
 *   [method@Mitogen.Transfer.run]
 */
gboolean
mitogen_transfer_run_finish (MitogenTransfer  *self,
                             GAsyncResult     *result,
                             GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mitogen_transfer_run_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * mitogen_transfer_get_bytes_done:
 * @self: a transfer
 *
 * File bytes copied so far. Any thread.
 *
 * Returns: the bytes copied
 */
guint64
mitogen_transfer_get_bytes_done (MitogenTransfer *self)
{
  guint64 value;

  g_return_val_if_fail (MITOGEN_IS_TRANSFER (self), 0);
  g_mutex_lock (&self->lock);
  value = self->bytes_done;
  g_mutex_unlock (&self->lock);
  return value;
}

/**
 * mitogen_transfer_get_bytes_total:
 * @self: a transfer
 *
 * File bytes to copy in all, as the sending side counted them before it
 * started. Any thread.
 *
 * Returns: the total, or 0 until known
 */
guint64
mitogen_transfer_get_bytes_total (MitogenTransfer *self)
{
  guint64 value;

  g_return_val_if_fail (MITOGEN_IS_TRANSFER (self), 0);
  g_mutex_lock (&self->lock);
  value = self->bytes_total;
  g_mutex_unlock (&self->lock);
  return value;
}

/**
 * mitogen_transfer_get_files_done:
 * @self: a transfer
 *
 * Regular files copied, once the transfer is done. Any thread.
 *
 * Returns: the number of files copied
 */
guint64
mitogen_transfer_get_files_done (MitogenTransfer *self)
{
  guint64 value;

  g_return_val_if_fail (MITOGEN_IS_TRANSFER (self), 0);
  g_mutex_lock (&self->lock);
  value = self->files_done;
  g_mutex_unlock (&self->lock);
  return value;
}

/**
 * mitogen_transfer_get_files_total:
 * @self: a transfer
 *
 * Regular files the sending side counted, once the transfer is done. Any
 * thread.
 *
 * Returns: the number of files to copy
 */
guint64
mitogen_transfer_get_files_total (MitogenTransfer *self)
{
  guint64 value;

  g_return_val_if_fail (MITOGEN_IS_TRANSFER (self), 0);
  g_mutex_lock (&self->lock);
  value = self->files_total;
  g_mutex_unlock (&self->lock);
  return value;
}

/**
 * mitogen_transfer_dup_destination_path:
 * @self: a transfer
 *
 * Where the copy was made (the destination, or the source's name inside
 * it when it is a directory), once the transfer is done. Any thread.
 *
 * Returns: (transfer full) (nullable) (type filename): the path, or %NULL
 *   before the transfer is done
 */
char *
mitogen_transfer_dup_destination_path (MitogenTransfer *self)
{
  char *value;

  g_return_val_if_fail (MITOGEN_IS_TRANSFER (self), NULL);
  g_mutex_lock (&self->lock);
  value = g_strdup (self->path);
  g_mutex_unlock (&self->lock);
  return value;
}

/**
 * mitogen_transfer_dup_sha256:
 * @self: a transfer
 *
 * The SHA-256 both sides computed, in hex, when the source is one file
 * (each file of a tree is verified the same way). Any thread.
 *
 * Returns: (transfer full) (nullable): the digest, or %NULL for a tree or
 *   before the transfer is done
 */
char *
mitogen_transfer_dup_sha256 (MitogenTransfer *self)
{
  char *value;

  g_return_val_if_fail (MITOGEN_IS_TRANSFER (self), NULL);
  g_mutex_lock (&self->lock);
  value = g_strdup (self->sha256);
  g_mutex_unlock (&self->lock);
  return value;
}

/**
 * mitogen_context_get_file:
 * @self: a context
 * @remote_path: (type filename): the file (or with
 *   %MITOGEN_TRANSFER_FLAGS_RECURSIVE the tree) in @self
 * @local_path: (type filename): where to copy it here
 * @flags: how to copy
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Copies a file or tree from @self: a [class@Mitogen.Transfer] run to
 * completion. Any thread but a broker's.
 *
 * Returns: %TRUE once copied and verified
 */
gboolean
mitogen_context_get_file (MitogenContext        *self,
                          const char            *remote_path,
                          const char            *local_path,
                          MitogenTransferFlags   flags,
                          GCancellable          *cancellable,
                          GError               **error)
{
  g_autoptr(MitogenTransfer) transfer = NULL;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), FALSE);

  transfer = mitogen_transfer_new (self, MITOGEN_TRANSFER_DIRECTION_GET, remote_path, local_path, flags);
  return mitogen_transfer_run (transfer, cancellable, error);
}

/**
 * mitogen_context_put_file:
 * @self: a context
 * @local_path: (type filename): the file (or with
 *   %MITOGEN_TRANSFER_FLAGS_RECURSIVE the tree) here
 * @remote_path: (type filename): where to copy it in @self
 * @flags: how to copy
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Copies a file or tree to @self: a [class@Mitogen.Transfer] run to
 * completion. Any thread but a broker's.
 *
 * Returns: %TRUE once copied and verified
 */
gboolean
mitogen_context_put_file (MitogenContext        *self,
                          const char            *local_path,
                          const char            *remote_path,
                          MitogenTransferFlags   flags,
                          GCancellable          *cancellable,
                          GError               **error)
{
  g_autoptr(MitogenTransfer) transfer = NULL;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), FALSE);

  transfer = mitogen_transfer_new (self, MITOGEN_TRANSFER_DIRECTION_PUT, local_path, remote_path, flags);
  return mitogen_transfer_run (transfer, cancellable, error);
}
