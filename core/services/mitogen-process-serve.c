/* mitogen-process-serve.c — the `subprocess.stream` built-in (child side)
 *
 * Runs a program in the context and streams it while it runs: its stdout
 * and stderr go to the caller as events as soon as they are read, and the
 * caller's stdin events are written to the program. The master side is
 * MitogenProcess (mitogen-process.c); the protocol is in docs/streaming.md.
 *
 * In an agent the call is detached (mitogen_call_detach ()): once the
 * program runs, a thread of its own runs a private main loop for it (the
 * program's pipes, its exit, and a control receiver for what the caller
 * sends: stdin chunks, EOF, signals, and acknowledgements of output) and
 * sends the call's reply when the program is done. The main thread goes
 * on serving calls, so several programs stream side by side (fakessh runs
 * one per ssh invocation).
 *
 * Flow control, both directions bounded (credit, mitogen-streaming-private.h):
 *  - output: the pipes are not read while more than `window` bytes of
 *    output are unacknowledged, so a slow reader stops the program (it
 *    blocks writing to a full pipe) instead of filling memory;
 *  - input: chunks are acknowledged once written to the program, so the
 *    caller never has more than its window queued here.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-process"

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mitogen-call-private.h"
#include "mitogen-context-private.h"
#include "mitogen-services-private.h"
#include "mitogen-streaming-private.h"

/* Seconds between SIGTERM and SIGKILL when the caller went away. */
#define KILL_GRACE_SECONDS 5

typedef struct
{
  MitogenCall     *call;          /* (owned) (nullable) detached: the call to reply to */
  GMainContext    *context;       /* (owned) iterated by the thread the program's loop runs on */
  MitogenContext  *caller;        /* (owned) */
  guint32          events_handle; /* caller's: output events and our reply */
  guint32          acks_handle;   /* caller's: acknowledgements of its stdin */
  MitogenReceiver *control;       /* (owned) stdin, eof, ack, signal from the caller */
  gulong           control_handler;

  GPid             pid;
  gboolean         exited;
  int              wait_status;

  int              fds[3];        /* program's stdin (we write), stdout, stderr; -1: closed */
  GSource         *sources[3];    /* (owned) (nullable) */
  GSource         *child_source;  /* (owned) */
  GSource         *kill_source;   /* (owned) (nullable) */

  GQueue           input;         /* GBytes (owned): stdin not yet written */
  gsize            input_offset;  /* into the head */
  gboolean         input_eof;     /* no more stdin will come */

  gsize            chunk;
  guint64          window;
  guint64          out_sent;      /* output cost sent */
  guint64          out_acked;     /* ... acknowledged by the caller */
  guint64          in_consumed;   /* stdin cost written (or dropped) */
  guint64          in_acked;      /* ... acknowledged to the caller */

  gboolean         caller_gone;   /* a send failed or the caller closed: output is dropped */
} Run;

static void update_sources (Run *run);

static void
child_setup (gpointer data)
{
  sigset_t none;

  /* Our own process group, so signals reach the whole pipeline; dies
   * with this thread's process; default signal handling (the agent
   * ignores SIGPIPE, which exec would keep). */
  setpgid (0, 0);
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  signal (SIGPIPE, SIG_DFL);
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
}

static void
send_value (Run      *run,
            guint32   handle,
            GVariant *value)
{
  g_autoptr(GError) error = NULL;

  g_variant_ref_sink (value);
  if (!run->caller_gone && !mitogen_context_send (run->caller, handle, value, &error))
    {
      g_debug ("subprocess.stream: caller unreachable (%s); dropping output", error->message);
      run->caller_gone = TRUE;
    }
  g_variant_unref (value);
}

static void
send_event (Run        *run,
            guint32     handle,
            const char *kind,
            GVariant   *payload)
{
  send_value (run, handle, mitogen_event_new (kind, payload));
}

/* The first event: the control handle and the pid. Its reply_to is the
 * control handle too: if the caller gave up before it arrived (a start
 * cancelled, its receiver closed), the caller's router answers it with
 * the dead marker there, and the program is stopped as when the caller
 * closes the stream. */
static void
send_started (Run *run)
{
  guint32 control = mitogen_receiver_get_handle (run->control);
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = mitogen_message_new (mitogen_context_get_id (run->caller), run->events_handle,
                                 mitogen_event_new ("started", g_variant_new ("(ux)", control, (gint64) run->pid)));
  mitogen_message_set_reply_to (message, control);
  if (!mitogen_context_route_message (run->caller, message, &error))
    {
      g_debug ("subprocess.stream: caller unreachable (%s); dropping output", error->message);
      run->caller_gone = TRUE;
    }
}

/* Acknowledges stdin written: when @force and anything is unacknowledged,
 * or once a quarter of the window is. */
static void
maybe_ack_input (Run      *run,
                 gboolean  force)
{
  guint64 pending = run->in_consumed - run->in_acked;

  if (pending == 0 || (!force && pending < run->window / 4))
    return;
  run->in_acked = run->in_consumed;
  send_event (run, run->acks_handle, "ack", g_variant_new_uint64 (run->in_consumed));
}

static void
close_fd (Run *run,
          int  index)
{
  if (run->sources[index] != NULL)
    {
      g_source_destroy (run->sources[index]);
      g_clear_pointer (&run->sources[index], g_source_unref);
    }
  if (run->fds[index] >= 0)
    {
      close (run->fds[index]);
      run->fds[index] = -1;
    }
}

/* Drops what is left of stdin (the program closed it, or exited). */
static void
drop_input (Run *run)
{
  GBytes *bytes;

  while ((bytes = g_queue_pop_head (&run->input)) != NULL)
    {
      run->in_consumed += mitogen_flow_cost (g_bytes_get_size (bytes));
      g_bytes_unref (bytes);
    }
  run->input_offset = 0;
  maybe_ack_input (run, TRUE);
}

/* Writes queued stdin until the pipe is full. */
static void
write_input (Run *run)
{
  while (run->fds[0] >= 0 && run->input.length > 0)
    {
      GBytes *head = g_queue_peek_head (&run->input);
      gsize len = 0;
      const guint8 *data = g_bytes_get_data (head, &len);
      gssize n;

      if (run->input_offset < len)
        {
          n = write (run->fds[0], data + run->input_offset, len - run->input_offset);
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0 && errno == EAGAIN)
            break;
          if (n < 0)
            {
              /* EPIPE: the program closed its stdin. */
              g_debug ("subprocess.stream: stdin: %s", g_strerror (errno));
              close_fd (run, 0);
              drop_input (run);
              break;
            }
          run->input_offset += (gsize) n;
        }
      if (run->input_offset >= len)
        {
          g_bytes_unref (g_queue_pop_head (&run->input));
          run->input_offset = 0;
          run->in_consumed += mitogen_flow_cost (len);
          maybe_ack_input (run, run->input.length == 0);
        }
    }
  if (run->fds[0] >= 0 && run->input.length == 0 && run->input_eof)
    close_fd (run, 0);
  update_sources (run);
}

static gboolean
on_stdin_writable (int          fd,
                   GIOCondition condition,
                   gpointer     data)
{
  Run *run = data;

  g_clear_pointer (&run->sources[0], g_source_unref);
  write_input (run);
  return G_SOURCE_REMOVE;
}

/* Output goes as a bare `ay` (the fast path of the frame reader): its first
 * byte is the descriptor (1 or 2), the rest the data. */
static void
read_output (Run *run,
             int  index)
{
  guint8 *buffer = g_malloc (run->chunk + 1);
  gssize n;

  do
    n = read (run->fds[index], buffer + 1, run->chunk);
  while (n < 0 && errno == EINTR);

  if (n < 0 && errno == EAGAIN)
    {
      g_free (buffer);
      return;
    }
  if (n <= 0)
    {
      g_free (buffer);
      close_fd (run, index);
      return;
    }
  if (run->caller_gone)
    {
      g_free (buffer);
      return;
    }
  buffer[0] = (guint8) index;
  run->out_sent += mitogen_flow_cost ((gsize) n + 1);
  send_value (run, run->events_handle,
              g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING, buffer, (gsize) n + 1, TRUE, g_free, buffer));
}

static gboolean
on_output_readable (int          fd,
                    GIOCondition condition,
                    gpointer     data)
{
  Run *run = data;
  int index = fd == run->fds[1] ? 1 : 2;

  read_output (run, index);
  update_sources (run);
  return G_SOURCE_CONTINUE;
}

/* Watches the pipes that need it now: output while the window has room
 * (or the caller is gone and output is drained to nowhere), stdin while
 * something is queued for it. */
static void
update_sources (Run *run)
{
  gboolean room = run->caller_gone || run->out_sent - run->out_acked < run->window;

  for (int i = 1; i <= 2; i++)
    {
      gboolean want = run->fds[i] >= 0 && room;

      if (want && run->sources[i] == NULL)
        {
          run->sources[i] = g_unix_fd_source_new (run->fds[i], G_IO_IN | G_IO_HUP | G_IO_ERR);
          g_source_set_callback (run->sources[i], G_SOURCE_FUNC (on_output_readable), run, NULL);
          g_source_set_static_name (run->sources[i], "[mitogen] subprocess output");
          g_source_attach (run->sources[i], run->context);
        }
      else if (!want && run->sources[i] != NULL)
        {
          g_source_destroy (run->sources[i]);
          g_clear_pointer (&run->sources[i], g_source_unref);
        }
    }

  if (run->fds[0] >= 0 && run->input.length > 0 && run->sources[0] == NULL)
    {
      run->sources[0] = g_unix_fd_source_new (run->fds[0], G_IO_OUT | G_IO_HUP | G_IO_ERR);
      g_source_set_callback (run->sources[0], G_SOURCE_FUNC (on_stdin_writable), run, NULL);
      g_source_set_static_name (run->sources[0], "[mitogen] subprocess input");
      g_source_attach (run->sources[0], run->context);
    }
}

static void
signal_program (Run *run,
                int  signum)
{
  if (run->exited)
    return;
  /* The group first (pipelines), the program if it left it. */
  if (kill (-run->pid, signum) < 0)
    kill (run->pid, signum);
}

static gboolean
on_kill_timeout (gpointer data)
{
  Run *run = data;

  g_clear_pointer (&run->kill_source, g_source_unref);
  signal_program (run, SIGKILL);
  return G_SOURCE_REMOVE;
}

/* The caller closed its end or went away: stop the program. */
static void
caller_went_away (Run *run)
{
  if (run->caller_gone && run->input_eof)
    return;
  run->caller_gone = TRUE;
  run->input_eof = TRUE;
  close_fd (run, 0);
  drop_input (run);
  signal_program (run, SIGTERM);
  if (run->kill_source == NULL && !run->exited)
    {
      run->kill_source = g_timeout_source_new_seconds (KILL_GRACE_SECONDS);
      g_source_set_callback (run->kill_source, on_kill_timeout, run, NULL);
      g_source_set_static_name (run->kill_source, "[mitogen] subprocess kill");
      g_source_attach (run->kill_source, run->context);
    }
  update_sources (run);
}

/* Main thread (our loop): a message from the caller. */
static void
on_control (MitogenReceiver *receiver,
            MitogenMessage  *message,
            gpointer         data)
{
  Run *run = data;
  GVariant *value;
  const char *kind;
  g_autoptr(GVariant) payload = NULL;

  if (mitogen_message_is_dead (message))
    {
      g_debug ("subprocess.stream: the caller closed the stream");
      caller_went_away (run);
      return;
    }
  value = mitogen_message_peek_value (message);

  /* stdin: a bare `ay`; empty means end-of-file. */
  if (value != NULL && g_variant_is_of_type (value, G_VARIANT_TYPE_BYTESTRING))
    {
      g_autoptr(GBytes) bytes = g_variant_get_data_as_bytes (value);

      if (run->fds[0] < 0 || run->input_eof)
        {
          run->in_consumed += mitogen_flow_cost (g_bytes_get_size (bytes));
          maybe_ack_input (run, TRUE);
          return;
        }
      if (g_bytes_get_size (bytes) == 0)
        run->input_eof = TRUE;
      else
        g_queue_push_tail (&run->input, g_steal_pointer (&bytes));
      write_input (run);
      return;
    }
  if (!mitogen_event_parse (value, &kind, &payload))
    return;

  if (g_str_equal (kind, "eof"))
    {
      run->input_eof = TRUE;
      write_input (run);
    }
  else if (g_str_equal (kind, "ack") && g_variant_is_of_type (payload, G_VARIANT_TYPE_UINT64))
    {
      guint64 acked = g_variant_get_uint64 (payload);

      if (acked > run->out_acked && acked <= run->out_sent)
        run->out_acked = acked;
      update_sources (run);
    }
  else if (g_str_equal (kind, "signal") && g_variant_is_of_type (payload, G_VARIANT_TYPE_INT32))
    {
      gint32 signum = g_variant_get_int32 (payload);

      if (signum > 0 && signum < NSIG)
        signal_program (run, signum);
    }
  else
    g_debug ("subprocess.stream: ignoring control event '%s'", kind);
}

static void
on_child_exit (GPid     pid,
               int      status,
               gpointer data)
{
  Run *run = data;

  run->exited = TRUE;
  run->wait_status = status;
  g_spawn_close_pid (pid);
  /* Anything still queued for stdin has nowhere to go. */
  close_fd (run, 0);
  drop_input (run);
}

static char **
environ_from_options (GVariant *env)
{
  GVariantIter iter;
  const char *key, *value;
  GPtrArray *array = g_ptr_array_new ();

  g_variant_iter_init (&iter, env);
  while (g_variant_iter_next (&iter, "{&s&s}", &key, &value))
    g_ptr_array_add (array, g_strconcat (key, "=", value, NULL));
  g_ptr_array_add (array, NULL);
  return (char **) g_ptr_array_free (array, FALSE);
}

static gboolean
check_options (GVariant  *options,
               GError   **error)
{
  static const struct { const char *name, *type; } known[] = {
    { "cwd", "s" }, { "env", "a{ss}" }, { "setenv", "a{ss}" }, { "window", "t" },
  };
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr(GVariant) owned = value;
      gsize i;

      for (i = 0; i < G_N_ELEMENTS (known); i++)
        if (strcmp (key, known[i].name) == 0)
          break;
      if (i == G_N_ELEMENTS (known))
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                       "subprocess.stream: unknown option '%s' (known: cwd s, env a{ss}, setenv a{ss}, window t)", key);
          return FALSE;
        }
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (known[i].type)))
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                       "subprocess.stream: option '%s' must be of type %s, got %s",
                       key, known[i].type, g_variant_get_type_string (value));
          return FALSE;
        }
    }
  return TRUE;
}

/* The program's loop, until it exited and its output is drained; then
 * frees everything but @run itself. Returns the call's result. Runs on
 * the thread that iterates run->context. */
static GVariant *
run_loop (Run *run)
{
  GVariantBuilder result;

  g_main_context_push_thread_default (run->context);
  update_sources (run);

  while (!run->exited || run->fds[1] >= 0 || run->fds[2] >= 0)
    g_main_context_iteration (run->context, TRUE);

  /* Wake a caller blocked on its stdin window: nothing more is read. */
  mitogen_streaming_send_dead (run->caller, run->acks_handle);

  g_signal_handler_disconnect (run->control, run->control_handler);
  mitogen_receiver_close (run->control);
  g_clear_object (&run->control);
  for (int i = 0; i < 3; i++)
    close_fd (run, i);
  drop_input (run);
  g_source_destroy (run->child_source);
  g_clear_pointer (&run->child_source, g_source_unref);
  if (run->kill_source != NULL)
    {
      g_source_destroy (run->kill_source);
      g_clear_pointer (&run->kill_source, g_source_unref);
    }
  /* Deliveries still queued for the receiver reference nothing of ours. */
  while (g_main_context_iteration (run->context, FALSE))
    ;
  g_main_context_pop_thread_default (run->context);
  g_clear_pointer (&run->context, g_main_context_unref);
  g_clear_object (&run->caller);

  g_debug ("subprocess.stream: pid %d exited, status 0x%x", (int) run->pid, run->wait_status);
  g_variant_builder_init (&result, G_VARIANT_TYPE_VARDICT);
  if (WIFEXITED (run->wait_status))
    g_variant_builder_add (&result, "{sv}", "returncode", g_variant_new_int32 (WEXITSTATUS (run->wait_status)));
  else
    g_variant_builder_add (&result, "{sv}", "returncode", g_variant_new_int32 (-WTERMSIG (run->wait_status)));
  g_variant_builder_add (&result, "{sv}", "pid", g_variant_new_int64 (run->pid));
  return g_variant_builder_end (&result);
}

/* A thread of its own per program (detached call): streams in one context
 * run side by side, and the main thread stays free for other calls. */
static gpointer
run_thread (gpointer data)
{
  Run *run = data;
  GVariant *result = run_loop (run);

  mitogen_call_send_reply (run->call, result, NULL);
  mitogen_call_unref (run->call);
  g_free (run);
  return NULL;
}

/* The environment for the program: @env (a{ss}) or ours, plus @setenv. */
static char **
program_environ (GVariant *env,
                 GVariant *setenv)
{
  char **envp = env != NULL ? environ_from_options (env) : NULL;
  GVariantIter iter;
  const char *key, *value;

  if (setenv == NULL)
    return envp;
  if (envp == NULL)
    envp = g_get_environ ();
  g_variant_iter_init (&iter, setenv);
  while (g_variant_iter_next (&iter, "{&s&s}", &key, &value))
    if (key[0] != '\0' && strchr (key, '=') == NULL)
      envp = g_environ_setenv (envp, key, value, TRUE);
  return envp;
}

/* (as argv, a{sv} options: cwd s, env a{ss}, setenv a{ss}, window t;
 * u events_handle, u acks_handle) -> a{sv}: returncode i (negative:
 * killed by that signal), pid x. Sends ("started", (ux) control handle,
 * pid) then output (a bare ay: descriptor byte + data) to events_handle;
 * acknowledges stdin on acks_handle. In an agent the call is detached:
 * the program runs on a thread of its own and the reply follows when it
 * exits. */
static GVariant *
fn_subprocess_stream (MitogenCall  *call,
                      GVariant     *args,
                      GError      **error)
{
  g_autofree const char **argv = NULL;
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GVariant) env = NULL;
  g_autoptr(GVariant) setenv = NULL;
  g_auto(GStrv) envp = NULL;
  const char *cwd = NULL;
  g_autofree char *home_cwd = NULL;
  guint64 window = MITOGEN_PROCESS_DEFAULT_WINDOW;
  Run *run;
  guint32 events_handle, acks_handle;
  g_autoptr(MitogenContext) caller = NULL;
  GPid pid;
  int fds[3] = { -1, -1, -1 };

  g_variant_get (args, "(^a&s@a{sv}uu)", &argv, &options, &events_handle, &acks_handle);
  if (argv[0] == NULL)
    {
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                           "subprocess.stream: empty command line");
      return NULL;
    }
  if (!check_options (options, error))
    return NULL;
  g_variant_lookup (options, "cwd", "&s", &cwd);
  if (cwd != NULL && cwd[0] == '~')
    {
      /* "~": the home directory, or "/" if it is missing (as sshd does). */
      home_cwd = mitogen_streaming_expand_home (cwd);
      if (g_str_equal (cwd, "~") && !g_file_test (home_cwd, G_FILE_TEST_IS_DIR))
        g_clear_pointer (&home_cwd, g_free);
      cwd = home_cwd != NULL ? home_cwd : "/";
    }
  g_variant_lookup (options, "window", "t", &window);
  env = g_variant_lookup_value (options, "env", G_VARIANT_TYPE ("a{ss}"));
  setenv = g_variant_lookup_value (options, "setenv", G_VARIANT_TYPE ("a{ss}"));
  envp = program_environ (env, setenv);

  caller = mitogen_streaming_caller (call, error);
  if (caller == NULL)
    return NULL;

  /* Spawned here, on the main thread: PR_SET_PDEATHSIG follows the thread
   * that forked, and this one lives as long as the process. */
  if (!g_spawn_async_with_pipes_and_fds (cwd, argv, (const char * const *) envp,
                                         G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_CLOEXEC_PIPES,
                                         child_setup, NULL, -1, -1, -1, NULL, NULL, 0,
                                         &pid, &fds[0], &fds[1], &fds[2], error))
    return NULL;

  run = g_new0 (Run, 1);
  run->events_handle = events_handle;
  run->acks_handle = acks_handle;
  run->caller = g_steal_pointer (&caller);
  run->pid = pid;
  run->window = CLAMP (window, 64 * 1024, G_GUINT64_CONSTANT (1) << 30);
  run->chunk = mitogen_streaming_chunk_limit (mitogen_call_get_router (call), mitogen_call_get_caller_id (call),
                                              MITOGEN_PROCESS_CHUNK_SIZE);
  g_queue_init (&run->input);
  for (int i = 0; i < 3; i++)
    {
      run->fds[i] = fds[i];
      g_unix_set_fd_nonblocking (run->fds[i], TRUE, NULL);
    }

  run->context = g_main_context_new ();
  g_main_context_push_thread_default (run->context);
  /* Made with our context as thread-default: ::received runs in our loop. */
  run->control = mitogen_receiver_new (mitogen_call_get_router (call), 0, TRUE, run->caller);
  /* Before the caller can know the handle: a receiver with no handler
   * keeps what arrives for mitogen_receiver_get () instead. */
  run->control_handler = g_signal_connect (run->control, "received", G_CALLBACK (on_control), run);
  g_main_context_pop_thread_default (run->context);

  run->child_source = g_child_watch_source_new (run->pid);
  g_source_set_callback (run->child_source, G_SOURCE_FUNC (on_child_exit), run, NULL);
  g_source_set_static_name (run->child_source, "[mitogen] subprocess exit");
  g_source_attach (run->child_source, run->context);

  g_debug ("subprocess.stream: started %s (pid %d)", argv[0], (int) run->pid);
  send_started (run);

  if (mitogen_call_get_agent (call) != NULL)
    {
      run->call = mitogen_call_ref (call);
      mitogen_call_detach (call);
      g_thread_unref (g_thread_new ("mitogen-process", run_thread, run));
      return NULL;
    }
  else
    {
      GVariant *result = run_loop (run);

      g_free (run);
      return result;
    }
}

const MitogenFunctionInfo mitogen_process_serve_functions[] = {
  { "subprocess.stream", "(asa{sv}uu)", "a{sv}",
    "Run argv streaming stdout/stderr events to a handle while it runs, "
    "stdin from the caller (options: cwd s, env a{ss}, setenv a{ss}, window t); "
    "returncode (see MitogenProcess)", fn_subprocess_stream },
  { NULL, },
};
