/* mitogen-process.c — MitogenProcess: a program running in a context, streamed
 *
 * The master side of the `subprocess.stream` built-in
 * (mitogen-process-serve.c). Output arrives while the program runs, as
 * chunks read with mitogen_process_read (); stdin is written with
 * mitogen_process_write (). Both directions are flow-controlled by credit
 * (docs/streaming.md): output is acknowledged as the reader takes it, so
 * the child stops reading the program's pipes while the reader lags by
 * more than the window; a writer blocks while its window of stdin is not
 * yet written to the program.
 *
 * Threads: one thread reads (read/wait), and one thread (it may be another)
 * writes (write/close_stdin/send_signal). Neither may be a broker thread.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-process"

#include "config.h"

#include <signal.h>
#include <string.h>

#include "mitogen-context-private.h"
#include "mitogen-process-private.h"
#include "mitogen-streaming-private.h"

#define FUNCTION "subprocess.stream"

struct _MitogenProcess
{
  GObject          parent_instance;

  MitogenContext  *context;         /* (owned) construct-only */
  char           **argv;            /* (owned) */
  char            *cwd;             /* (owned) (nullable) */
  char           **env;             /* (owned) (nullable) KEY=VALUE */
  char           **setenv;          /* (owned) (nullable) KEY=VALUE added to the context's */
  MitogenProcessStartFunc start_func; /* (nullable) sends the request instead of a call */
  gpointer         start_data;
  guint64          window;

  MitogenReceiver *events;          /* (owned) (nullable) output events and the call's reply */
  MitogenReceiver *acks;            /* (owned) (nullable) acknowledgements of stdin */
  guint32          control_handle;  /* the child's; 0 until started */
  gint64           pid;
  gsize            chunk;
  gint             started;         /* (atomic) */
  gint             finished;        /* (atomic) the reply arrived */
  int              returncode;      /* written before `finished` is set */

  /* Reader side. */
  guint64          out_consumed;    /* cost of output handed to the reader and done with */
  guint64          out_acked;       /* ... acknowledged to the child */
  guint64          out_pending;     /* cost of the chunk the reader holds now */

  /* Writer side. */
  guint64          in_sent;
  guint64          in_acked;
  gboolean         stdin_closed;
};

G_DEFINE_FINAL_TYPE (MitogenProcess, mitogen_process, G_TYPE_OBJECT)

/**
 * MitogenProcess:
 *
 * A program running in a context, with its output streamed back while it
 * runs and its stdin streamed to it: the master side of the
 * `subprocess.stream` built-in, and what `mitogen run` uses.
 *
 * ```c
 * const char *argv[] = { "sh", "-c", "echo first; sleep 2; echo second", NULL };
 * g_autoptr(MitogenProcess) process = mitogen_process_new (context, argv);
 * g_autoptr(GBytes) chunk = NULL;
 * int fd;
 *
 * if (!mitogen_process_start (process, NULL, &error))
 *   return FALSE;
 * mitogen_process_close_stdin (process, NULL);
 * while ((chunk = mitogen_process_read (process, &fd, NULL, &error)) != NULL)
 *   {
 *     write (fd, g_bytes_get_data (chunk, NULL), g_bytes_get_size (chunk));
 *     g_clear_pointer (&chunk, g_bytes_unref);
 *   }
 * if (error == NULL)
 *   g_print ("exit status %d\n", mitogen_process_get_exit_status (process));
 * ```
 *
 * Memory stays bounded on both sides whatever the program writes: the
 * context stops reading the program's output while more than the window
 * (1 MiB by default, [method@Mitogen.Process.set_window]) is not yet taken
 * by [method@Mitogen.Process.read], and [method@Mitogen.Process.write]
 * blocks while a window of stdin is not yet written to the program.
 *
 * One thread reads ([method@Mitogen.Process.read], [method@Mitogen.Process.wait])
 * and one thread, which may be another, writes
 * ([method@Mitogen.Process.write], [method@Mitogen.Process.close_stdin],
 * [method@Mitogen.Process.send_signal]); neither may be a broker thread.
 * Dropping the last reference to a running process closes its streams:
 * the context sends the program SIGTERM, and SIGKILL 5 s later.
 */

static void
mitogen_process_dispose (GObject *object)
{
  MitogenProcess *self = MITOGEN_PROCESS (object);

  if (g_atomic_int_get (&self->started) && !g_atomic_int_get (&self->finished) && self->control_handle != 0)
    {
      mitogen_streaming_send_dead (self->context, self->control_handle);
      self->control_handle = 0;
    }
  if (self->events != NULL)
    mitogen_receiver_close (self->events);
  if (self->acks != NULL)
    mitogen_receiver_close (self->acks);
  g_clear_object (&self->events);
  g_clear_object (&self->acks);

  G_OBJECT_CLASS (mitogen_process_parent_class)->dispose (object);
}

static void
mitogen_process_finalize (GObject *object)
{
  MitogenProcess *self = MITOGEN_PROCESS (object);

  g_clear_object (&self->context);
  g_strfreev (self->argv);
  g_strfreev (self->env);
  g_strfreev (self->setenv);
  g_free (self->cwd);

  G_OBJECT_CLASS (mitogen_process_parent_class)->finalize (object);
}

static void
mitogen_process_class_init (MitogenProcessClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mitogen_process_dispose;
  object_class->finalize = mitogen_process_finalize;
}

static void
mitogen_process_init (MitogenProcess *self)
{
  self->window = MITOGEN_PROCESS_DEFAULT_WINDOW;
  self->chunk = MITOGEN_PROCESS_CHUNK_SIZE;
  self->pid = -1;
}

/**
 * mitogen_process_new:
 * @context: the context to run the program in
 * @argv: (array zero-terminated=1): the command line; `argv[0]` is looked
 *   up in the context's `PATH`
 *
 * Prepares to run @argv in @context; [method@Mitogen.Process.start] runs
 * it. Any thread.
 *
 * Returns: (transfer full): a new process
 */
MitogenProcess *
mitogen_process_new (MitogenContext     *context,
                     const char * const *argv)
{
  MitogenProcess *self;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (context), NULL);
  g_return_val_if_fail (argv != NULL && argv[0] != NULL, NULL);

  self = g_object_new (MITOGEN_TYPE_PROCESS, NULL);
  self->context = g_object_ref (context);
  self->argv = g_strdupv ((char **) argv);
  return self;
}

/**
 * mitogen_process_get_context:
 * @self: a process
 *
 * The context the program runs in. Any thread.
 *
 * Returns: (transfer none): the context
 */
MitogenContext *
mitogen_process_get_context (MitogenProcess *self)
{
  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), NULL);
  return self->context;
}

/**
 * mitogen_process_set_cwd:
 * @self: a process, not yet started
 * @cwd: (nullable) (type filename): the directory to run the program in;
 *   %NULL: the context's current directory
 *
 * Sets the program's working directory. Any thread, before
 * [method@Mitogen.Process.start].
 */
void
mitogen_process_set_cwd (MitogenProcess *self,
                         const char     *cwd)
{
  g_return_if_fail (MITOGEN_IS_PROCESS (self));
  g_return_if_fail (!g_atomic_int_get (&self->started));

  g_free (self->cwd);
  self->cwd = g_strdup (cwd);
}

/**
 * mitogen_process_set_environ:
 * @self: a process, not yet started
 * @env: (nullable) (array zero-terminated=1): the whole environment, as
 *   `KEY=VALUE` strings; %NULL: the context's own environment
 *
 * Sets the program's environment. Any thread, before
 * [method@Mitogen.Process.start].
 */
void
mitogen_process_set_environ (MitogenProcess     *self,
                             const char * const *env)
{
  g_return_if_fail (MITOGEN_IS_PROCESS (self));
  g_return_if_fail (!g_atomic_int_get (&self->started));

  g_strfreev (self->env);
  self->env = g_strdupv ((char **) env);
}

/**
 * mitogen_process_set_window:
 * @self: a process, not yet started
 * @window: bytes of output (and of stdin) that may be in flight
 *   unacknowledged; 64 KiB to 1 GiB, default 1 MiB
 *
 * Sets the flow-control window of both directions: the memory either side
 * may spend on the stream. Any thread, before [method@Mitogen.Process.start].
 */
void
mitogen_process_set_window (MitogenProcess *self,
                            guint64         window)
{
  g_return_if_fail (MITOGEN_IS_PROCESS (self));
  g_return_if_fail (!g_atomic_int_get (&self->started));

  self->window = CLAMP (window, 64 * 1024, G_GUINT64_CONSTANT (1) << 30);
}

/* KEY=VALUE strings as an a{ss} (entries without '=' are skipped). */
static GVariant *
env_dict (char **pairs)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{ss}"));
  for (guint i = 0; pairs[i] != NULL; i++)
    {
      const char *eq = strchr (pairs[i], '=');
      g_autofree char *key = NULL;

      if (eq == NULL || eq == pairs[i])
        continue;
      key = g_strndup (pairs[i], eq - pairs[i]);
      g_variant_builder_add (&builder, "{ss}", key, eq + 1);
    }
  return g_variant_builder_end (&builder);
}

void
mitogen_process_set_start_func (MitogenProcess          *self,
                                MitogenProcessStartFunc  func,
                                gpointer                 user_data)
{
  g_return_if_fail (MITOGEN_IS_PROCESS (self));
  self->start_func = func;
  self->start_data = user_data;
}

void
mitogen_process_set_setenv (MitogenProcess     *self,
                            const char * const *pairs)
{
  g_return_if_fail (MITOGEN_IS_PROCESS (self));
  g_strfreev (self->setenv);
  self->setenv = g_strdupv ((char **) pairs);
}

static void
prefix_error (MitogenProcess  *self,
              GError         **error)
{
  if (error != NULL && *error != NULL && g_error_matches (*error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL))
    g_prefix_error (error, "%s in context '%s': ", FUNCTION, mitogen_context_get_name (self->context));
}

/**
 * mitogen_process_start:
 * @self: a process
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Starts the program and waits until it runs. Any thread but a broker's.
 *
 * Returns: %TRUE once the program runs; %FALSE with %MITOGEN_ERROR_CALL if
 *   it could not be started (the remote error is a `g-exec-error-quark`
 *   one, e.g. `G_SPAWN_ERROR_NOENT`), %MITOGEN_ERROR_CHANNEL if the
 *   context went away, or %G_IO_ERROR_CANCELLED
 */
gboolean
mitogen_process_start (MitogenProcess  *self,
                       GCancellable    *cancellable,
                       GError         **error)
{
  MitogenRouter *router;
  g_autoptr(MitogenMessage) message = NULL;
  GVariantBuilder options;
  GVariant *args;
  const char *kind;
  g_autoptr(GVariant) payload = NULL;
  guint32 control;

  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), FALSE);
  g_return_val_if_fail (!g_atomic_int_get (&self->started), FALSE);

  router = mitogen_context_get_router (self->context);
  if (router == NULL)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                   "Context '%s': its router is gone", mitogen_context_get_name (self->context));
      return FALSE;
    }
  g_atomic_int_set (&self->started, TRUE);

  self->events = mitogen_receiver_new (router, 0, TRUE, self->context);
  self->acks = mitogen_receiver_new (router, 0, TRUE, self->context);
  self->chunk = mitogen_streaming_chunk_limit (router, mitogen_context_get_id (self->context),
                                               MITOGEN_PROCESS_CHUNK_SIZE);

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  if (self->cwd != NULL)
    g_variant_builder_add (&options, "{sv}", "cwd", g_variant_new_string (self->cwd));
  if (self->env != NULL)
    g_variant_builder_add (&options, "{sv}", "env", env_dict (self->env));
  if (self->setenv != NULL)
    g_variant_builder_add (&options, "{sv}", "setenv", env_dict (self->setenv));
  g_variant_builder_add (&options, "{sv}", "window", g_variant_new_uint64 (self->window));
  args = g_variant_new ("(^as@a{sv}uu)", self->argv, g_variant_builder_end (&options),
                        mitogen_receiver_get_handle (self->events),
                        mitogen_receiver_get_handle (self->acks));

  if (self->start_func != NULL
      ? !self->start_func (self, args, mitogen_receiver_get_handle (self->events), self->start_data, error)
      : !mitogen_streaming_begin_call (self->context, FUNCTION, args,
                                       mitogen_receiver_get_handle (self->events), error))
    {
      g_atomic_int_set (&self->finished, TRUE);
      prefix_error (self, error);
      return FALSE;
    }

  message = mitogen_receiver_get_full (self->events, -1, cancellable, error);
  if (message == NULL)
    {
      g_atomic_int_set (&self->finished, TRUE);
      prefix_error (self, error);
      return FALSE;
    }
  if (mitogen_message_is_error (message))
    {
      g_atomic_int_set (&self->finished, TRUE);
      g_propagate_error (error, mitogen_streaming_reply_error (message, FUNCTION));
      return FALSE;
    }
  if (!mitogen_event_parse (mitogen_message_peek_value (message), &kind, &payload) ||
      !g_str_equal (kind, "started") || !g_variant_is_of_type (payload, G_VARIANT_TYPE ("(ux)")))
    {
      g_atomic_int_set (&self->finished, TRUE);
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "%s in context '%s': unexpected first reply", FUNCTION,
                   mitogen_context_get_name (self->context));
      return FALSE;
    }
  g_variant_get (payload, "(ux)", &control, &self->pid);
  self->control_handle = control;
  return TRUE;
}

/**
 * mitogen_process_get_pid:
 * @self: a process
 *
 * The program's process id in its context, once started. Any thread.
 *
 * Returns: the remote process id, or -1 before the program started
 */
gint64
mitogen_process_get_pid (MitogenProcess *self)
{
  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), -1);
  return self->pid;
}

static gboolean
send_control (MitogenProcess  *self,
              const char      *kind,
              GVariant        *payload,
              GError         **error)
{
  if (self->control_handle == 0)
    {
      if (payload != NULL)
        g_variant_unref (g_variant_ref_sink (payload));
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "The program is not running");
      return FALSE;
    }
  return mitogen_context_send (self->context, self->control_handle, mitogen_event_new (kind, payload), error);
}

/* Reader thread: the chunk handed out last is done with; acknowledge when
 * a quarter of the window is, or when about to wait with anything
 * unacknowledged (so the child is never left waiting for us). */
static void
reader_ack (MitogenProcess *self)
{
  guint64 unacked;

  self->out_consumed += self->out_pending;
  self->out_pending = 0;
  unacked = self->out_consumed - self->out_acked;
  if (unacked == 0 || g_atomic_int_get (&self->finished))
    return;
  if (unacked >= self->window / 4 || mitogen_receiver_empty (self->events))
    {
      self->out_acked = self->out_consumed;
      send_control (self, "ack", g_variant_new_uint64 (self->out_consumed), NULL);
    }
}

typedef enum
{
  HANDLED_CHUNK,
  HANDLED_END,
  HANDLED_SKIP,
  HANDLED_ERROR,
} Handled;

/* Reader thread: one message from the events receiver. */
static Handled
handle_message (MitogenProcess  *self,
                MitogenMessage  *message,
                GBytes         **chunk,
                int             *fd,
                GError         **error)
{
  GVariant *value = mitogen_message_peek_value (message);
  const char *kind;
  g_autoptr(GVariant) payload = NULL;

  if (mitogen_message_is_error (message))
    {
      g_atomic_int_set (&self->finished, TRUE);
      g_propagate_error (error, mitogen_streaming_reply_error (message, FUNCTION));
      return HANDLED_ERROR;
    }
  /* Output: a bare `ay`, the descriptor's number then the data. */
  if (value != NULL && g_variant_is_of_type (value, G_VARIANT_TYPE_BYTESTRING))
    {
      g_autoptr(GBytes) bytes = g_variant_get_data_as_bytes (value);
      gsize len = g_bytes_get_size (bytes);
      const guint8 *data = g_bytes_get_data (bytes, NULL);

      if (len < 2 || (data[0] != 1 && data[0] != 2))
        return HANDLED_SKIP;
      self->out_pending = mitogen_flow_cost (len);
      *fd = data[0];
      *chunk = g_bytes_new_from_bytes (bytes, 1, len - 1);
      return HANDLED_CHUNK;
    }
  if (mitogen_event_parse (value, &kind, &payload))
    return HANDLED_SKIP;
  if (value != NULL && g_variant_is_of_type (value, G_VARIANT_TYPE_VARDICT))
    {
      gint32 returncode = 0;

      g_variant_lookup (value, "returncode", "i", &returncode);
      self->returncode = returncode;
      g_atomic_int_set (&self->finished, TRUE);
      return HANDLED_END;
    }
  return HANDLED_SKIP;
}

/**
 * mitogen_process_read:
 * @self: a started process
 * @fd: (out) (optional): 1 if the chunk is from the program's stdout, 2 if
 *   from its stderr; -1 at the end
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Waits for the program's next chunk of output, in the order the context
 * read it. Taking a chunk lets the context read more (flow control): a
 * reader that stops reading stops the program once the window is full.
 * Reader thread (not a broker thread).
 *
 * Returns: (transfer full) (nullable): the next chunk (never empty); %NULL
 *   without an error once the program has exited and all its output was
 *   read (see [method@Mitogen.Process.get_exit_status]); %NULL with
 *   %MITOGEN_ERROR_CHANNEL if the context went away, %MITOGEN_ERROR_CALL
 *   if the context failed, or %G_IO_ERROR_CANCELLED
 */
GBytes *
mitogen_process_read (MitogenProcess  *self,
                      int             *fd,
                      GCancellable    *cancellable,
                      GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), NULL);
  g_return_val_if_fail (g_atomic_int_get (&self->started), NULL);

  if (fd != NULL)
    *fd = -1;

  for (;;)
    {
      g_autoptr(MitogenMessage) message = NULL;
      GBytes *chunk = NULL;
      int chunk_fd = -1;

      if (g_atomic_int_get (&self->finished))
        return NULL;
      reader_ack (self);
      message = mitogen_receiver_get_full (self->events, -1, cancellable, error);
      if (message == NULL)
        {
          prefix_error (self, error);
          return NULL;
        }
      switch (handle_message (self, message, &chunk, &chunk_fd, error))
        {
        case HANDLED_CHUNK:
          if (fd != NULL)
            *fd = chunk_fd;
          return chunk;
        case HANDLED_END:
        case HANDLED_ERROR:
          return NULL;
        case HANDLED_SKIP:
        default:
          break;
        }
    }
}

typedef struct
{
  GBytes *chunk;  /* (owned) (nullable) */
  int     fd;
} ReadResult;

static void
read_result_free (gpointer data)
{
  ReadResult *result = data;

  g_clear_pointer (&result->chunk, g_bytes_unref);
  g_free (result);
}

static void read_next (GTask *task);

static void
read_got_message_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MitogenProcess *self = g_task_get_source_object (task);
  ReadResult *state = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) message = NULL;

  message = mitogen_receiver_get_finish (MITOGEN_RECEIVER (source), result, &error);
  if (message == NULL)
    {
      prefix_error (self, &error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (mitogen_message_is_dead (message))
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                               "%s in context '%s': the context went away", FUNCTION,
                               mitogen_context_get_name (self->context));
      return;
    }
  switch (handle_message (self, message, &state->chunk, &state->fd, &error))
    {
    case HANDLED_CHUNK:
    case HANDLED_END:
      g_task_return_boolean (task, TRUE);
      return;
    case HANDLED_ERROR:
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    case HANDLED_SKIP:
    default:
      read_next (g_steal_pointer (&task));
      return;
    }
}

static void
read_next (GTask *task)
{
  MitogenProcess *self = g_task_get_source_object (task);
  GCancellable *cancellable = g_task_get_cancellable (task);

  if (g_atomic_int_get (&self->finished))
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }
  reader_ack (self);
  mitogen_receiver_get_async (self->events, cancellable, read_got_message_cb, task);
}

/**
 * mitogen_process_read_async:
 * @self: a started process
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called in the thread-default main context of
 *   the calling thread when a chunk (or the end) is there
 * @user_data: data for @callback
 *
 * Like [method@Mitogen.Process.read] without blocking. Start the next
 * read only once this one finished.
 */
void
mitogen_process_read_async (MitogenProcess      *self,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  GTask *task;
  ReadResult *state;

  g_return_if_fail (MITOGEN_IS_PROCESS (self));
  g_return_if_fail (g_atomic_int_get (&self->started));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_process_read_async);
  state = g_new0 (ReadResult, 1);
  state->fd = -1;
  g_task_set_task_data (task, state, read_result_free);
  read_next (task);
}

/**
 * mitogen_process_read_finish:
 * @self: a process
 * @result: the #GAsyncResult
 * @fd: (out) (optional): 1 (stdout) or 2 (stderr); -1 at the end
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Process.read_async].
 *
 * Returns: (transfer full) (nullable): the chunk; %NULL without an error
 *   at the end of the output (the program exited), %NULL with @error set
 *   on failure
 */
GBytes *
mitogen_process_read_finish (MitogenProcess  *self,
                             GAsyncResult    *result,
                             int             *fd,
                             GError         **error)
{
  ReadResult *state;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mitogen_process_read_async, NULL);

  if (fd != NULL)
    *fd = -1;
  if (!g_task_propagate_boolean (G_TASK (result), error))
    return NULL;
  state = g_task_get_task_data (G_TASK (result));
  if (fd != NULL)
    *fd = state->fd;
  return g_steal_pointer (&state->chunk);
}

/**
 * mitogen_process_write:
 * @self: a started process
 * @data: bytes for the program's stdin (empty: nothing is sent)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Sends @data to the program's stdin. Blocks while the window is full,
 * i.e. while the context has not yet written earlier data to the program
 * (flow control). Writer thread (not a broker thread).
 *
 * Returns: %TRUE once @data is on its way; %FALSE with
 *   %G_IO_ERROR_BROKEN_PIPE if the program no longer takes input (it
 *   exited), %G_IO_ERROR_CLOSED after [method@Mitogen.Process.close_stdin],
 *   %MITOGEN_ERROR_CHANNEL if the context went away, or
 *   %G_IO_ERROR_CANCELLED
 */
gboolean
mitogen_process_write (MitogenProcess  *self,
                       GBytes          *data,
                       GCancellable    *cancellable,
                       GError         **error)
{
  gsize size, offset = 0;

  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), FALSE);
  g_return_val_if_fail (data != NULL, FALSE);
  g_return_val_if_fail (g_atomic_int_get (&self->started), FALSE);

  if (self->stdin_closed)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "stdin is closed");
      return FALSE;
    }

  size = g_bytes_get_size (data);
  while (offset < size)
    {
      gsize len = MIN (size - offset, self->chunk);
      guint64 cost = mitogen_flow_cost (len);
      g_autoptr(GBytes) piece = NULL;

      while (self->in_sent > self->in_acked && self->in_sent - self->in_acked + cost > self->window)
        {
          g_autoptr(GError) local_error = NULL;
          g_autoptr(MitogenMessage) message = mitogen_receiver_get_full (self->acks, -1, cancellable, &local_error);
          const char *kind;
          g_autoptr(GVariant) payload = NULL;

          if (message == NULL)
            {
              if (g_error_matches (local_error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL))
                {
                  self->stdin_closed = TRUE;
                  g_set_error (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE,
                               "The program no longer takes input (%s)", local_error->message);
                  return FALSE;
                }
              g_propagate_error (error, g_steal_pointer (&local_error));
              return FALSE;
            }
          if (mitogen_event_parse (mitogen_message_peek_value (message), &kind, &payload) &&
              g_str_equal (kind, "ack") && g_variant_is_of_type (payload, G_VARIANT_TYPE_UINT64))
            {
              guint64 acked = g_variant_get_uint64 (payload);

              if (acked > self->in_acked && acked <= self->in_sent)
                self->in_acked = acked;
            }
        }

      piece = g_bytes_new_from_bytes (data, offset, len);
      /* A bare `ay` (see mitogen-streaming-private.h). */
      if (!mitogen_context_send (self->context, self->control_handle,
                                 g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, piece, TRUE), error))
        {
          prefix_error (self, error);
          return FALSE;
        }
      self->in_sent += cost;
      offset += len;
    }
  return TRUE;
}

/**
 * mitogen_process_close_stdin:
 * @self: a started process
 * @error: return location for a #GError
 *
 * Ends the program's stdin once everything written so far reached it (it
 * reads end-of-file). Writer thread; does not block for long.
 *
 * Returns: %TRUE if sent (or already closed); %FALSE with
 *   %MITOGEN_ERROR_CHANNEL if the context is unreachable
 */
gboolean
mitogen_process_close_stdin (MitogenProcess  *self,
                             GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), FALSE);
  g_return_val_if_fail (g_atomic_int_get (&self->started), FALSE);

  if (self->stdin_closed || g_atomic_int_get (&self->finished))
    {
      self->stdin_closed = TRUE;
      return TRUE;
    }
  self->stdin_closed = TRUE;
  return send_control (self, "eof", NULL, error);
}

/**
 * mitogen_process_send_signal:
 * @self: a started process
 * @signum: the signal number, e.g. `SIGTERM`
 * @error: return location for a #GError
 *
 * Sends @signum to the program's process group in its context (the
 * program runs in a group of its own). Any thread but a broker's.
 *
 * Returns: %TRUE if the request was sent; %FALSE with
 *   %MITOGEN_ERROR_INVALID_ARGUMENT for a bad signal number or
 *   %MITOGEN_ERROR_CHANNEL if the context is unreachable
 */
gboolean
mitogen_process_send_signal (MitogenProcess  *self,
                             int              signum,
                             GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), FALSE);
  g_return_val_if_fail (g_atomic_int_get (&self->started), FALSE);

  if (signum <= 0 || signum >= NSIG)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT, "Bad signal number %d", signum);
      return FALSE;
    }
  if (g_atomic_int_get (&self->finished))
    return TRUE;
  return send_control (self, "signal", g_variant_new_int32 (signum), error);
}

/**
 * mitogen_process_wait:
 * @self: a started process
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Waits for the program to exit, discarding output not yet read. Reader
 * thread (not a broker thread).
 *
 * Returns: %TRUE once it exited (whatever its status); %FALSE with @error
 *   set as for [method@Mitogen.Process.read]
 */
gboolean
mitogen_process_wait (MitogenProcess  *self,
                      GCancellable    *cancellable,
                      GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), FALSE);

  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      g_autoptr(GBytes) chunk = mitogen_process_read (self, NULL, cancellable, &local_error);

      if (chunk != NULL)
        continue;
      if (local_error != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      return TRUE;
    }
}

/**
 * mitogen_process_get_finished:
 * @self: a process
 *
 * Whether the program exited and all its output was read (or the call
 * failed). Any thread.
 *
 * Returns: %TRUE once finished
 */
gboolean
mitogen_process_get_finished (MitogenProcess *self)
{
  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), FALSE);
  return g_atomic_int_get (&self->finished);
}

/**
 * mitogen_process_get_if_exited:
 * @self: a finished process
 *
 * Whether the program exited normally (rather than by a signal).
 *
 * Returns: %TRUE if it called exit()
 */
gboolean
mitogen_process_get_if_exited (MitogenProcess *self)
{
  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), FALSE);
  return g_atomic_int_get (&self->finished) && self->returncode >= 0;
}

/**
 * mitogen_process_get_exit_status:
 * @self: a finished process
 *
 * The program's exit status, if it exited normally.
 *
 * Returns: the exit status, or -1 if it was killed by a signal or has not
 *   finished
 */
int
mitogen_process_get_exit_status (MitogenProcess *self)
{
  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), -1);
  if (!g_atomic_int_get (&self->finished) || self->returncode < 0)
    return -1;
  return self->returncode;
}

/**
 * mitogen_process_get_if_signaled:
 * @self: a finished process
 *
 * Whether a signal ended the program.
 *
 * Returns: %TRUE if it was killed by a signal
 */
gboolean
mitogen_process_get_if_signaled (MitogenProcess *self)
{
  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), FALSE);
  return g_atomic_int_get (&self->finished) && self->returncode < 0;
}

/**
 * mitogen_process_get_term_sig:
 * @self: a finished process
 *
 * The signal that ended the program.
 *
 * Returns: the signal number, or 0 if it exited normally or has not finished
 */
int
mitogen_process_get_term_sig (MitogenProcess *self)
{
  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), 0);
  if (!g_atomic_int_get (&self->finished) || self->returncode >= 0)
    return 0;
  return -self->returncode;
}
