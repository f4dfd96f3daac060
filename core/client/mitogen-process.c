/* mitogen-process.c — MitogenProcess: a program running in a context, streamed
 *
 * The master side of the `subprocess.stream` built-in
 * (mitogen-process-serve.c). Output arrives while the program runs, as
 * chunks read with mitogen_process_read (); stdin is written with
 * mitogen_process_write (). Both directions are flow-controlled by credit
 * (docs/streaming.md): output is acknowledged as the reader takes it, so
 * the child stops reading the program's pipes while the reader lags by
 * more than the window; a writer waits while its window of stdin is not
 * yet written to the program.
 *
 * Every operation comes blocking and GIO-style asynchronous. Threads: one
 * thread reads (read/wait, or their _async forms), and one thread (it may
 * be another) writes (write/close_stdin/send_signal, or write_async and
 * close_stdin_async, which queue in that thread's main context). Blocking
 * ones never run on a broker thread.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-process"

#include "config.h"

#include <signal.h>
#include <string.h>

#include "mitogen-context-private.h"
#include "mitogen-process-private.h"
#include "mitogen-receiver-private.h"
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
  gint             cancel_signal;   /* (atomic) sent to the program when an operation is cancelled; 0: none */

  MitogenReceiver *events;          /* (owned) (nullable) output events and the call's reply */
  MitogenReceiver *acks;            /* (owned) (nullable) acknowledgements of stdin */
  guint32          control_handle;  /* the child's; 0 until started */
  gint64           pid;
  gsize            chunk;
  gint             started;         /* (atomic) start was called */
  gint             ready;           /* (atomic) the program runs: control_handle and pid are set */
  gint             finished;        /* (atomic) the reply arrived, or the start failed */
  int              returncode;      /* written before `finished` is set */

  /* Reader side. */
  guint64          out_consumed;    /* cost of output handed to the reader and done with */
  guint64          out_acked;       /* ... acknowledged to the child */
  guint64          out_pending;     /* cost of the chunk the reader holds now */

  /* Writer side. */
  guint64          in_sent;
  guint64          in_acked;
  gboolean         stdin_closed;    /* close_stdin (or _async) was called */
  gboolean         stdin_broken;    /* the program takes no more input (it exited) */
  char            *broken_why;      /* (owned) (nullable) why stdin_broken */
  gboolean         eof_sent;
  GQueue           writes;          /* (owned) GTask: write_async and close_stdin_async, in order */
  gboolean         pumping;         /* pump_writes () runs */
  gboolean         ack_waiting;     /* an asynchronous get on `acks` is outstanding */
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
 * Each blocking operation has a GIO-style asynchronous form for a program
 * built around a main loop (a GTK application):
 * [method@Mitogen.Process.start_async], [method@Mitogen.Process.read_async],
 * [method@Mitogen.Process.write_async] (completes once the data is within
 * the window; several queue in order),
 * [method@Mitogen.Process.close_stdin_async] (after the queued writes) and
 * [method@Mitogen.Process.wait_async]. Their callbacks run in the
 * thread-default main context of the thread that started them.
 *
 * One thread reads ([method@Mitogen.Process.read],
 * [method@Mitogen.Process.wait] or their asynchronous forms) and one
 * thread, which may be another, writes ([method@Mitogen.Process.write],
 * [method@Mitogen.Process.close_stdin], [method@Mitogen.Process.send_signal]
 * or the asynchronous forms; a blocking write waits for nothing else, so
 * do not mix it with queued asynchronous ones). Blocking calls never run
 * on a broker thread.
 *
 * Cancelling an operation ends that operation only, with
 * %G_IO_ERROR_CANCELLED: the program runs on, and its output waits (up to
 * the window) for the next read. To stop the program as well, set a
 * signal with [method@Mitogen.Process.set_cancel_signal]. Cancelling
 * [method@Mitogen.Process.start] or [method@Mitogen.Process.start_async]
 * always stops a program that started meanwhile, as dropping the last
 * reference to a running process does: the context sends the program
 * SIGTERM, and SIGKILL 5 s later.
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
  /* Queued writes hold references to us: none is left by now. An
   * outstanding get on `acks` ends with the receiver closed above. */

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
  g_free (self->broken_why);

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
  g_queue_init (&self->writes);
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

/* Whether the program runs (it started: its output and stdin may be
 * used); if not, why, as an error: not started (NOT_CONNECTED), still
 * starting (PENDING), or its start failed (NOT_CONNECTED). Any thread. */
static gboolean
check_started (MitogenProcess  *self,
               GError         **error)
{
  if (g_atomic_int_get (&self->ready))
    return TRUE;
  if (!g_atomic_int_get (&self->started))
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                         "The program was not started (start it with mitogen_process_start () first)");
  else if (g_atomic_int_get (&self->finished))
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "The program did not start");
  else
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PENDING, "The program is still starting");
  return FALSE;
}

/* Any thread: @error ended an operation; if it is a cancellation and a
 * cancel signal is set, the program gets it. */
static void
signal_on_cancel (MitogenProcess *self,
                  const GError   *error)
{
  int signum = g_atomic_int_get (&self->cancel_signal);

  if (signum == 0 || error == NULL || !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (!g_atomic_int_get (&self->ready) || g_atomic_int_get (&self->finished))
    return;
  g_debug ("%s in context '%s': cancelled, sending the program signal %d", FUNCTION,
           mitogen_context_get_name (self->context), signum);
  send_control (self, "signal", g_variant_new_int32 (signum), NULL);
}

/* The request's arguments, the receivers made; sends it. Marks the
 * process started (and failed, on error). */
static gboolean
send_request (MitogenProcess  *self,
              GError         **error)
{
  MitogenRouter *router;
  GVariantBuilder options;
  GVariant *args;

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
  return TRUE;
}

/* The first reply: the program runs (its control handle and pid), or the
 * call failed. */
static gboolean
take_started (MitogenProcess  *self,
              MitogenMessage  *message,
              GError         **error)
{
  const char *kind;
  g_autoptr(GVariant) payload = NULL;
  guint32 control;

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
  g_atomic_int_set (&self->ready, TRUE);
  return TRUE;
}

typedef struct
{
  MitogenReceiver *events;   /* (owned) */
  MitogenContext  *context;  /* (owned) */
} Abandon;

static void
abandon_free (gpointer data)
{
  Abandon *abandon = data;

  g_object_unref (abandon->events);
  g_object_unref (abandon->context);
  g_free (abandon);
}

/* Broker thread, where messages are delivered, so that none slips in
 * between closing and draining: a "started" already queued gets the dead
 * marker sent to its control handle; one arriving later finds no handler,
 * and the router answers it with the dead marker itself (the context sends
 * "started" with its control handle as reply_to). Either way the context
 * stops the program. */
static gboolean
abandon_cb (gpointer data)
{
  Abandon *abandon = data;
  MitogenMessage *message;
  gboolean closed;

  mitogen_receiver_close (abandon->events);
  while ((message = mitogen_receiver_poll (abandon->events, &closed)) != NULL)
    {
      const char *kind;
      g_autoptr(GVariant) payload = NULL;

      if (mitogen_event_parse (mitogen_message_peek_value (message), &kind, &payload) &&
          g_str_equal (kind, "started") && g_variant_is_of_type (payload, G_VARIANT_TYPE ("(ux)")))
        {
          guint32 control;

          g_variant_get (payload, "(ux)", &control, NULL);
          mitogen_streaming_send_dead (abandon->context, control);
        }
      mitogen_message_unref (message);
    }
  return G_SOURCE_REMOVE;
}

/* A start was cancelled after its request went out: the program, if it
 * starts, is stopped. Any thread. */
static void
abandon_start (MitogenProcess *self)
{
  MitogenRouter *router = mitogen_context_get_router (self->context);
  Abandon *abandon;

  g_atomic_int_set (&self->finished, TRUE);
  if (router == NULL)
    return;
  abandon = g_new0 (Abandon, 1);
  abandon->events = g_object_ref (self->events);
  abandon->context = g_object_ref (self->context);
  mitogen_broker_defer (mitogen_router_get_broker (router), abandon_cb, abandon, abandon_free);
}

/**
 * mitogen_process_start:
 * @self: a process
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Starts the program and waits until it runs. Cancelling stops the
 * program if it started meanwhile (SIGTERM, SIGKILL 5 s later). Any
 * thread but a broker's.
 *
 * Returns: %TRUE once the program runs; %FALSE with %MITOGEN_ERROR_CALL if
 *   it could not be started (the remote error is a `g-exec-error-quark`
 *   one, e.g. `G_SPAWN_ERROR_NOENT`), %MITOGEN_ERROR_CHANNEL if the
 *   context went away, %G_IO_ERROR_PENDING if it was started before, or
 *   %G_IO_ERROR_CANCELLED
 */
gboolean
mitogen_process_start (MitogenProcess  *self,
                       GCancellable    *cancellable,
                       GError         **error)
{
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), FALSE);

  if (g_atomic_int_get (&self->started))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PENDING, "The program was already started");
      return FALSE;
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  if (!send_request (self, error))
    return FALSE;

  message = mitogen_receiver_get_full (self->events, -1, cancellable, &local_error);
  if (message == NULL)
    {
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        abandon_start (self);
      g_atomic_int_set (&self->finished, TRUE);
      prefix_error (self, &local_error);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  return take_started (self, message, error);
}

static void
start_got_message_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MitogenProcess *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) message = NULL;

  message = mitogen_receiver_get_finish (MITOGEN_RECEIVER (source), result, &error);
  if (message == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        abandon_start (self);
      g_atomic_int_set (&self->finished, TRUE);
      prefix_error (self, &error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* Cancelled after the reply came: the program is stopped all the same. */
  if (g_cancellable_set_error_if_cancelled (g_task_get_cancellable (task), &error))
    {
      g_autoptr(GError) ignored = NULL;

      if (take_started (self, message, &ignored))
        mitogen_streaming_send_dead (self->context, self->control_handle);
      abandon_start (self);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (!take_started (self, message, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

/**
 * mitogen_process_start_async:
 * @self: a process
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called in the thread-default main context of
 *   the calling thread once the program runs, or could not be started
 * @user_data: data for @callback
 *
 * Like [method@Mitogen.Process.start] without blocking: cancelling
 * completes it with %G_IO_ERROR_CANCELLED at once, and the program is
 * stopped if it started meanwhile. Any thread.
 */
void
mitogen_process_start_async (MitogenProcess      *self,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;

  g_return_if_fail (MITOGEN_IS_PROCESS (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_process_start_async);
  /* Cancellation is decided in start_got_message_cb (). */
  g_task_set_check_cancellable (task, FALSE);
  if (g_atomic_int_get (&self->started))
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING, "The program was already started");
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    return;
  if (!send_request (self, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  mitogen_receiver_get_async (self->events, cancellable, start_got_message_cb, g_steal_pointer (&task));
}

/**
 * mitogen_process_start_finish:
 * @self: a process
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Process.start_async]. Errors are those of
 * [method@Mitogen.Process.start].
 *
 * Returns: %TRUE once the program runs, %FALSE with @error set
 */
gboolean
mitogen_process_start_finish (MitogenProcess  *self,
                              GAsyncResult    *result,
                              GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mitogen_process_start_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
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
  return g_atomic_int_get (&self->ready) ? self->pid : -1;
}

/**
 * mitogen_process_set_cancel_signal:
 * @self: a process
 * @signum: a signal number, e.g. `SIGTERM` or `SIGKILL`; 0 for none
 *
 * What cancelling an operation on the running program does to the
 * program. By default (0) cancelling [method@Mitogen.Process.read],
 * [method@Mitogen.Process.wait], [method@Mitogen.Process.write] or their
 * asynchronous forms ends that operation only: the program runs on, and
 * its output waits, up to the window, for the next read. With a signal
 * set, such a cancellation also sends the program @signum (to its process
 * group, as [method@Mitogen.Process.send_signal] does); wait for it
 * afterwards to collect its exit status. Cancelling a start always stops
 * a program that started meanwhile. Any thread, at any time.
 *
 * Returns: %TRUE if set; %FALSE with %MITOGEN_ERROR_INVALID_ARGUMENT for a
 *   bad signal number
 */
gboolean
mitogen_process_set_cancel_signal (MitogenProcess  *self,
                                   int              signum,
                                   GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), FALSE);

  if (signum < 0 || signum >= NSIG)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT, "Bad signal number %d", signum);
      return FALSE;
    }
  g_atomic_int_set (&self->cancel_signal, signum);
  return TRUE;
}

/**
 * mitogen_process_get_cancel_signal:
 * @self: a process
 *
 * The signal the program gets when an operation on it is cancelled (see
 * [method@Mitogen.Process.set_cancel_signal]). Any thread.
 *
 * Returns: the signal number, 0 for none
 */
int
mitogen_process_get_cancel_signal (MitogenProcess *self)
{
  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), 0);
  return g_atomic_int_get (&self->cancel_signal);
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
 * Cancelling ends this read only, unless a cancel signal is set
 * ([method@Mitogen.Process.set_cancel_signal]). Reader thread (not a
 * broker thread).
 *
 * Returns: (transfer full) (nullable): the next chunk (never empty); %NULL
 *   without an error once the program has exited and all its output was
 *   read (see [method@Mitogen.Process.get_exit_status]); %NULL with
 *   %MITOGEN_ERROR_CHANNEL if the context went away, %MITOGEN_ERROR_CALL
 *   if the context failed, %G_IO_ERROR_NOT_CONNECTED if the program was
 *   not started (or did not start), %G_IO_ERROR_PENDING while it is still
 *   starting, or %G_IO_ERROR_CANCELLED
 */
GBytes *
mitogen_process_read (MitogenProcess  *self,
                      int             *fd,
                      GCancellable    *cancellable,
                      GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), NULL);

  if (fd != NULL)
    *fd = -1;
  if (!check_started (self, error))
    return NULL;

  for (;;)
    {
      g_autoptr(MitogenMessage) message = NULL;
      g_autoptr(GError) local_error = NULL;
      GBytes *chunk = NULL;
      int chunk_fd = -1;

      if (g_atomic_int_get (&self->finished))
        return NULL;
      reader_ack (self);
      message = mitogen_receiver_get_full (self->events, -1, cancellable, &local_error);
      if (message == NULL)
        {
          signal_on_cancel (self, local_error);
          prefix_error (self, &local_error);
          g_propagate_error (error, g_steal_pointer (&local_error));
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
      signal_on_cancel (self, error);
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
 * read only once this one finished. Cancelling completes this read with
 * %G_IO_ERROR_CANCELLED and stops nothing else: the program runs on, and
 * no output is lost (the next read gets it), unless a cancel signal is
 * set ([method@Mitogen.Process.set_cancel_signal]).
 */
void
mitogen_process_read_async (MitogenProcess      *self,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  GTask *task;
  ReadResult *state;
  GError *error = NULL;

  g_return_if_fail (MITOGEN_IS_PROCESS (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_process_read_async);
  /* A chunk taken is handed over even if the cancellable fires meanwhile:
   * dropping it would lose output. */
  g_task_set_check_cancellable (task, FALSE);
  state = g_new0 (ReadResult, 1);
  state->fd = -1;
  g_task_set_task_data (task, state, read_result_free);
  if (!check_started (self, &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  read_next (task);
}

/**
 * mitogen_process_read_finish:
 * @self: a process
 * @result: the #GAsyncResult
 * @fd: (out) (optional): 1 (stdout) or 2 (stderr); -1 at the end
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Process.read_async]. Errors are those of
 * [method@Mitogen.Process.read].
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
 * mitogen_process_wait:
 * @self: a started process
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Waits for the program to exit, discarding output not yet read.
 * Cancelling ends the wait only, unless a cancel signal is set
 * ([method@Mitogen.Process.set_cancel_signal]). Reader thread (not a
 * broker thread).
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

  if (!check_started (self, error))
    return FALSE;
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

static void
wait_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) chunk = mitogen_process_read_finish (MITOGEN_PROCESS (source), result, NULL, &error);

  GCancellable *cancellable = g_task_get_cancellable (task);

  if (chunk != NULL)
    mitogen_process_read_async (MITOGEN_PROCESS (source), cancellable, wait_read_cb, g_steal_pointer (&task));
  else if (error != NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

/**
 * mitogen_process_wait_async:
 * @self: a started process
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called in the thread-default main context of
 *   the calling thread once the program exited
 * @user_data: data for @callback
 *
 * Like [method@Mitogen.Process.wait] without blocking: discards the
 * output not yet read (do not read at the same time) until the program
 * exits.
 */
void
mitogen_process_wait_async (MitogenProcess      *self,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  GTask *task;
  GError *error = NULL;

  g_return_if_fail (MITOGEN_IS_PROCESS (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_process_wait_async);
  g_task_set_check_cancellable (task, FALSE);
  if (!check_started (self, &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  mitogen_process_read_async (self, cancellable, wait_read_cb, task);
}

/**
 * mitogen_process_wait_finish:
 * @self: a process
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Process.wait_async]. Errors are those of
 * [method@Mitogen.Process.wait].
 *
 * Returns: %TRUE once the program exited (see
 *   [method@Mitogen.Process.get_exit_status]); %FALSE with @error set
 */
gboolean
mitogen_process_wait_finish (MitogenProcess  *self,
                             GAsyncResult    *result,
                             GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mitogen_process_wait_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Writer: takes an acknowledgement from @message; %NULL (with the
 * receiver's @error) is the end of stdin. FALSE if stdin is gone (the
 * program exited, or the context). */
static gboolean
take_ack (MitogenProcess *self,
          MitogenMessage *message,
          const GError   *error)
{
  const char *kind;
  g_autoptr(GVariant) payload = NULL;

  if (message == NULL)
    {
      self->stdin_broken = TRUE;
      if (self->broken_why == NULL)
        self->broken_why = g_strdup (error != NULL ? error->message : "it exited");
      return FALSE;
    }
  if (mitogen_event_parse (mitogen_message_peek_value (message), &kind, &payload) &&
      g_str_equal (kind, "ack") && g_variant_is_of_type (payload, G_VARIANT_TYPE_UINT64))
    {
      guint64 acked = g_variant_get_uint64 (payload);

      if (acked > self->in_acked && acked <= self->in_sent)
        self->in_acked = acked;
    }
  return TRUE;
}

/* Whether @cost more would overflow the window of stdin in flight. */
static gboolean
window_full (MitogenProcess *self,
             guint64         cost)
{
  return self->in_sent > self->in_acked && self->in_sent - self->in_acked + cost > self->window;
}

static GError *
broken_pipe_error (MitogenProcess *self)
{
  return g_error_new (G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE, "The program no longer takes input (%s)",
                      self->broken_why != NULL ? self->broken_why : "it exited");
}

/* Writer: sends @len bytes of @data from @offset, a bare `ay` (see
 * mitogen-streaming-private.h). */
static gboolean
send_piece (MitogenProcess  *self,
            GBytes          *data,
            gsize            offset,
            gsize            len,
            GError         **error)
{
  g_autoptr(GBytes) piece = g_bytes_new_from_bytes (data, offset, len);

  if (!mitogen_context_send (self->context, self->control_handle,
                             g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, piece, TRUE), error))
    {
      prefix_error (self, error);
      return FALSE;
    }
  self->in_sent += mitogen_flow_cost (len);
  return TRUE;
}

/* Whether asynchronous writes are queued or still await room; a blocking
 * write or close must not overtake them. */
static gboolean
async_writes_pending (MitogenProcess  *self,
                      GError         **error)
{
  if (self->writes.length == 0 && !self->ack_waiting)
    return FALSE;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PENDING,
                       "Asynchronous writes are still queued (use mitogen_process_close_stdin_async ())");
  return TRUE;
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
 * (flow control). Cancelling may leave a part of @data sent. Writer thread
 * (not a broker thread).
 *
 * Returns: %TRUE once @data is on its way; %FALSE with
 *   %G_IO_ERROR_BROKEN_PIPE if the program no longer takes input (it
 *   exited), %G_IO_ERROR_CLOSED after [method@Mitogen.Process.close_stdin],
 *   %MITOGEN_ERROR_CHANNEL if the context went away,
 *   %G_IO_ERROR_NOT_CONNECTED before the program started,
 *   %G_IO_ERROR_PENDING while asynchronous writes are queued, or
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

  if (!check_started (self, error) || async_writes_pending (self, error))
    return FALSE;
  if (self->stdin_closed)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "stdin is closed");
      return FALSE;
    }
  if (self->stdin_broken)
    {
      g_propagate_error (error, broken_pipe_error (self));
      return FALSE;
    }

  size = g_bytes_get_size (data);
  while (offset < size)
    {
      gsize len = MIN (size - offset, self->chunk);

      while (window_full (self, mitogen_flow_cost (len)))
        {
          g_autoptr(GError) local_error = NULL;
          g_autoptr(MitogenMessage) message = mitogen_receiver_get_full (self->acks, -1, cancellable, &local_error);

          if (message == NULL && !g_error_matches (local_error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL))
            {
              signal_on_cancel (self, local_error);
              g_propagate_error (error, g_steal_pointer (&local_error));
              return FALSE;
            }
          if (!take_ack (self, message, local_error))
            {
              g_propagate_error (error, broken_pipe_error (self));
              return FALSE;
            }
        }
      if (!send_piece (self, data, offset, len, error))
        return FALSE;
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
 * reads end-of-file). Writer thread; does not block for long. With
 * asynchronous writes queued, use [method@Mitogen.Process.close_stdin_async]
 * instead, which closes after them.
 *
 * Returns: %TRUE if sent (or already closed); %FALSE with
 *   %MITOGEN_ERROR_CHANNEL if the context is unreachable,
 *   %G_IO_ERROR_NOT_CONNECTED before the program started, or
 *   %G_IO_ERROR_PENDING while asynchronous writes are queued
 */
gboolean
mitogen_process_close_stdin (MitogenProcess  *self,
                             GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), FALSE);

  if (!check_started (self, error) || async_writes_pending (self, error))
    return FALSE;
  if (self->stdin_closed || self->stdin_broken || g_atomic_int_get (&self->finished))
    {
      self->stdin_closed = TRUE;
      return TRUE;
    }
  self->stdin_closed = TRUE;
  self->eof_sent = TRUE;
  return send_control (self, "eof", NULL, error);
}

/* --- asynchronous writes ----------------------------------------------------
 *
 * write_async and close_stdin_async queue GTasks in order, in the writer's
 * main context. The head is sent chunk by chunk while the window has room;
 * when it is full one asynchronous get on the acks receiver waits for
 * room (it holds only a weak reference: dropping the process closes the
 * receiver, which ends the get). A write completes once its last byte is
 * sent, i.e. within the window. */

typedef struct
{
  GBytes  *data;           /* (owned) (nullable) NULL: the end of stdin */
  gsize    offset;         /* of @data sent */
  GSource *cancel_source;  /* (owned) (nullable) */
} WriteOp;

static void
write_op_free (gpointer data)
{
  WriteOp *op = data;

  if (op->cancel_source != NULL)
    {
      g_source_destroy (op->cancel_source);
      g_source_unref (op->cancel_source);
    }
  g_clear_pointer (&op->data, g_bytes_unref);
  g_free (op);
}

static void pump_writes (MitogenProcess *self);

/* Completes the queued @task, taking it off the queue; takes @error. */
static void
finish_write (MitogenProcess *self,
              GTask          *task,
              GError         *error)
{
  WriteOp *op = g_task_get_task_data (task);

  g_queue_remove (&self->writes, task);
  if (op->cancel_source != NULL)
    {
      g_source_destroy (op->cancel_source);
      g_clear_pointer (&op->cancel_source, g_source_unref);
    }
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);  /* the queue's */
}

static void
got_ack_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  GWeakRef *weak = user_data;
  g_autoptr(MitogenProcess) self = g_weak_ref_get (weak);
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) message = NULL;

  message = mitogen_receiver_get_finish (MITOGEN_RECEIVER (source), result, &error);
  g_weak_ref_clear (weak);
  g_free (weak);
  if (self == NULL)
    return;
  self->ack_waiting = FALSE;
  if (!take_ack (self, message, error))
    g_debug ("%s: stdin closed by the context (%s)", FUNCTION, error->message);
  pump_writes (self);
}

/* Waits for room in the window (one wait at a time). */
static void
await_ack (MitogenProcess *self)
{
  GWeakRef *weak;

  if (self->ack_waiting)
    return;
  self->ack_waiting = TRUE;
  weak = g_new0 (GWeakRef, 1);
  g_weak_ref_init (weak, self);
  mitogen_receiver_get_async (self->acks, NULL, got_ack_cb, weak);
}

/* Writer's main context: sends what the window allows, in order, and
 * completes what is sent. Re-entrant: a callback that queues more only
 * adds to the queue this loop is draining. */
static void
pump_writes (MitogenProcess *self)
{
  g_autoptr(MitogenProcess) hold = NULL;
  GTask *task;

  if (self->pumping)
    return;
  /* Completing the last write may drop the last other reference. */
  hold = g_object_ref (self);
  self->pumping = TRUE;
  while ((task = g_queue_peek_head (&self->writes)) != NULL)
    {
      WriteOp *op = g_task_get_task_data (task);
      GError *error = NULL;
      gsize size;

      if (op->data == NULL)
        {
          /* The end of stdin, after everything before it. */
          if (!self->stdin_broken && !g_atomic_int_get (&self->finished) && !self->eof_sent)
            {
              if (send_control (self, "eof", NULL, &error))
                self->eof_sent = TRUE;
            }
          finish_write (self, task, error);
          continue;
        }
      if (self->stdin_broken)
        {
          finish_write (self, task, broken_pipe_error (self));
          continue;
        }
      size = g_bytes_get_size (op->data);
      while (op->offset < size && error == NULL)
        {
          gsize len = MIN (size - op->offset, self->chunk);

          if (window_full (self, mitogen_flow_cost (len)))
            {
              await_ack (self);
              self->pumping = FALSE;
              return;
            }
          if (send_piece (self, op->data, op->offset, len, &error))
            op->offset += len;
        }
      finish_write (self, task, error);
    }
  self->pumping = FALSE;
}

/* Writer's main context: @task's cancellable fired. */
static gboolean
write_cancelled_cb (GCancellable *cancellable,
                    gpointer      user_data)
{
  GTask *task = user_data;
  g_autoptr(MitogenProcess) self = g_object_ref (g_task_get_source_object (task));
  WriteOp *op = g_task_get_task_data (task);
  GError *error = NULL;

  /* We are this source's callback: let it end by itself. */
  g_clear_pointer (&op->cancel_source, g_source_unref);
  if (g_queue_find (&self->writes, task) == NULL)
    return G_SOURCE_REMOVE;
  g_cancellable_set_error_if_cancelled (cancellable, &error);
  signal_on_cancel (self, error);
  if (op->data == NULL)
    {
      /* The end of stdin was not sent: more may be written. */
      gboolean other_close = FALSE;

      for (GList *l = self->writes.head; l != NULL; l = l->next)
        if (l->data != task && ((WriteOp *) g_task_get_task_data (l->data))->data == NULL)
          other_close = TRUE;
      if (!other_close && !self->eof_sent)
        self->stdin_closed = FALSE;
    }
  finish_write (self, task, error);
  pump_writes (self);
  return G_SOURCE_REMOVE;
}

/* Queues @task (its data set) and sends what the window allows. */
static void
queue_write (MitogenProcess *self,
             GTask          *task)
{
  GCancellable *cancellable = g_task_get_cancellable (task);
  WriteOp *op = g_task_get_task_data (task);

  /* The result says what happened: all sent (even if cancelled at the
   * last moment), or cancelled before. */
  g_task_set_check_cancellable (task, FALSE);
  if (cancellable != NULL)
    {
      op->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (op->cancel_source, G_SOURCE_FUNC (write_cancelled_cb), task, NULL);
      g_source_set_static_name (op->cancel_source, "[mitogen] process write cancel");
      g_source_attach (op->cancel_source, g_task_get_context (task));
    }
  g_queue_push_tail (&self->writes, g_object_ref (task));
  pump_writes (self);
}

/**
 * mitogen_process_write_async:
 * @self: a started process
 * @data: bytes for the program's stdin
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called in the thread-default main context of
 *   the calling thread once @data is sent
 * @user_data: data for @callback
 *
 * Like [method@Mitogen.Process.write] without blocking. Writes queue in
 * the order they were made; each completes once its last byte is sent,
 * i.e. once the window has room for it (flow control: at most the window
 * is in flight whatever is queued, so the caller's @data is the only copy
 * of what waits). Make them all from one thread.
 *
 * Cancelling a queued write completes it with %G_IO_ERROR_CANCELLED at
 * once; if it had begun, its first part stays sent and the next write
 * follows it. Unless a cancel signal is set
 * ([method@Mitogen.Process.set_cancel_signal]), the program runs on.
 */
void
mitogen_process_write_async (MitogenProcess      *self,
                             GBytes              *data,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;
  WriteOp *op;

  g_return_if_fail (MITOGEN_IS_PROCESS (self));
  g_return_if_fail (data != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_process_write_async);
  if (!check_started (self, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (self->stdin_closed)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED, "stdin is closed");
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    return;
  op = g_new0 (WriteOp, 1);
  op->data = g_bytes_ref (data);
  g_task_set_task_data (task, op, write_op_free);
  queue_write (self, task);
}

/**
 * mitogen_process_write_finish:
 * @self: a process
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Process.write_async]. Errors are those of
 * [method@Mitogen.Process.write] (but for %G_IO_ERROR_PENDING).
 *
 * Returns: %TRUE once the data is sent; %FALSE with @error set
 */
gboolean
mitogen_process_write_finish (MitogenProcess  *self,
                              GAsyncResult    *result,
                              GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mitogen_process_write_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * mitogen_process_close_stdin_async:
 * @self: a started process
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called in the thread-default main context of
 *   the calling thread once end-of-file is sent
 * @user_data: data for @callback
 *
 * Ends the program's stdin after the writes queued before (it reads
 * end-of-file after their data); later writes fail with
 * %G_IO_ERROR_CLOSED. This is the one way to end stdin: a pipe has no
 * half-close distinct from closing, so there is no separate shutdown, and
 * stopping the program is [method@Mitogen.Process.send_signal]'s (or a
 * cancel signal's). Cancelling it before it is sent completes it with
 * %G_IO_ERROR_CANCELLED and leaves stdin open. Call it from the thread
 * that writes.
 */
void
mitogen_process_close_stdin_async (MitogenProcess      *self,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;

  g_return_if_fail (MITOGEN_IS_PROCESS (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_process_close_stdin_async);
  if (!check_started (self, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    return;
  self->stdin_closed = TRUE;
  g_task_set_task_data (task, g_new0 (WriteOp, 1), write_op_free);
  queue_write (self, task);
}

/**
 * mitogen_process_close_stdin_finish:
 * @self: a process
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Process.close_stdin_async].
 *
 * Returns: %TRUE once end-of-file is sent (or stdin was already gone:
 *   the program exited); %FALSE with %MITOGEN_ERROR_CHANNEL if the
 *   context is unreachable, %G_IO_ERROR_NOT_CONNECTED before the program
 *   started, or %G_IO_ERROR_CANCELLED
 */
gboolean
mitogen_process_close_stdin_finish (MitogenProcess  *self,
                                    GAsyncResult    *result,
                                    GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mitogen_process_close_stdin_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
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
 *   %MITOGEN_ERROR_INVALID_ARGUMENT for a bad signal number,
 *   %G_IO_ERROR_NOT_CONNECTED before the program started or
 *   %MITOGEN_ERROR_CHANNEL if the context is unreachable
 */
gboolean
mitogen_process_send_signal (MitogenProcess  *self,
                             int              signum,
                             GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_PROCESS (self), FALSE);

  if (signum <= 0 || signum >= NSIG)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT, "Bad signal number %d", signum);
      return FALSE;
    }
  if (!check_started (self, error))
    return FALSE;
  if (g_atomic_int_get (&self->finished))
    return TRUE;
  return send_control (self, "signal", g_variant_new_int32 (signum), error);
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
