/* mitogen-run.c — `mitogen run`: a program in one or many contexts, streamed
 *
 * One target: the program's stdout and stderr are copied to ours as they
 * arrive, our stdin is passed to it (its end-of-file too), and we exit
 * with its status (128+N if signal N killed it). SIGINT, SIGTERM and
 * SIGHUP are passed on to it, whatever the transport (a local context runs
 * in a session of its own, so a Ctrl-C on our terminal reaches only us);
 * the program decides what they mean, and we exit with whatever status it
 * ends with. A signal that comes while no program runs yet (connecting),
 * or a second SIGINT, exits at once with 128+N.
 *
 * Several targets: the program runs in all of them in parallel (stdin is
 * not passed: each reads end-of-file); each line of output is printed as
 * `TARGET: LINE` on the stream it came from, then each target's status.
 *
 * --json: output as lines {"target": T, "stream": "stdout"|"stderr",
 * "data": TEXT or {"base64": ...}}, then one line per target
 * {"target": T, "ok": B, "status": N, "exit_status": N | "signal": N}.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-tool"

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mitogen-tool.h"

typedef struct
{
  char       **argv;
  const char  *cwd;
  gboolean     json;
  gboolean     many;
  gboolean     pass_stdin;
} RunJob;

/* Processes running now, for the signal thread. */
static GMutex running_lock;
static GPtrArray *running;      /* (owned) MitogenProcess, guarded by running_lock */
static int forwarded;           /* the signal passed on, 0: none; guarded by running_lock */

/* A process started: it gets the signal already passed on to the others,
 * if there was one (exactly once: the signal thread holds the lock while
 * it passes it on). */
static void
running_add (MitogenProcess *process)
{
  int signum;

  g_mutex_lock (&running_lock);
  if (running == NULL)
    running = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (running, g_object_ref (process));
  signum = forwarded;
  g_mutex_unlock (&running_lock);
  if (signum != 0)
    mitogen_process_send_signal (process, signum, NULL);
}

static void
running_remove (MitogenProcess *process)
{
  g_mutex_lock (&running_lock);
  if (running != NULL)
    g_ptr_array_remove (running, process);
  g_mutex_unlock (&running_lock);
}

/* The signal thread. */
static void
on_signal (int      signum,
           int      count,
           gpointer user_data)
{
  gboolean any;

  g_mutex_lock (&running_lock);
  any = running != NULL && running->len > 0;
  if (any && !(signum == SIGINT && forwarded == SIGINT && count > 1))
    {
      forwarded = signum;
      for (guint i = 0; i < running->len; i++)
        mitogen_process_send_signal (g_ptr_array_index (running, i), signum, NULL);
      g_mutex_unlock (&running_lock);
      return;
    }
  g_mutex_unlock (&running_lock);

  /* Nothing to pass it on to (still connecting), or Ctrl-C again: the
   * contexts go with us (end-of-file, PR_SET_PDEATHSIG) and take their
   * programs with them. */
  tool_fail (128 + signum, "%s", tool_signal_text (signum));
  _exit (128 + signum);
}

/* ---------------------------------------------------------------------- */
/* Output */

/* Partial lines of one target's stream, printed whole with a prefix. */
typedef struct
{
  GString *pending[3];
} Lines;

static void
print_prefixed (const char *name,
                int         fd,
                const char *data,
                gsize       len)
{
  g_autofree char *prefix = g_strdup_printf ("%s: ", name);

  tool_output_lock ();
  fflush (stdout);
  tool_write_all (fd, prefix, strlen (prefix));
  tool_write_all (fd, data, len);
  tool_output_unlock ();
}

static void
lines_add (Lines      *lines,
           const char *name,
           int         fd,
           GBytes     *chunk)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (chunk, &len);
  GString *pending = lines->pending[fd];

  g_string_append_len (pending, data, (gssize) len);
  for (;;)
    {
      const char *newline = memchr (pending->str, '\n', pending->len);
      gsize line_len;

      if (newline == NULL)
        break;
      line_len = (gsize) (newline - pending->str) + 1;
      print_prefixed (name, fd, pending->str, line_len);
      g_string_erase (pending, 0, (gssize) line_len);
    }
}

static void
lines_flush (Lines      *lines,
             const char *name)
{
  for (int fd = 1; fd <= 2; fd++)
    if (lines->pending[fd]->len > 0)
      {
        g_string_append_c (lines->pending[fd], '\n');
        print_prefixed (name, fd, lines->pending[fd]->str, lines->pending[fd]->len);
        g_string_truncate (lines->pending[fd], 0);
      }
}

static void
print_json_chunk (const char *name,
                  int         fd,
                  GBytes     *chunk)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *line = NULL;
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (chunk, &len);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "target");
  json_builder_add_string_value (builder, name);
  json_builder_set_member_name (builder, "stream");
  json_builder_add_string_value (builder, fd == 1 ? "stdout" : "stderr");
  json_builder_set_member_name (builder, "data");
  json_builder_add_value (builder, tool_bytes_to_json (data, len));
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  line = tool_json_line (root);

  tool_output_lock ();
  printf ("%s\n", line);
  fflush (stdout);
  tool_output_unlock ();
}

/* ---------------------------------------------------------------------- */
/* Stdin */

/* The process our stdin goes to. The stdin thread holds it only while it
 * writes (under stdin_lock), so once the job lets go of it nothing keeps
 * the process, and through it the router, alive: the stdin thread may stay
 * blocked reading a terminal until we exit. */
static GMutex stdin_lock;
static MitogenProcess *stdin_process;  /* (owned) (nullable) guarded by stdin_lock */

/* Its own thread: our stdin to the program, end-of-file included. */
static gpointer
stdin_thread (gpointer data)
{
  gsize size = 64 * 1024;
  guint8 *buffer = g_malloc (size);
  gboolean more = TRUE;

  while (more)
    {
      g_autoptr(GError) error = NULL;
      gssize n = read (0, buffer, size);

      if (n < 0 && errno == EINTR)
        continue;
      g_mutex_lock (&stdin_lock);
      if (stdin_process == NULL)
        more = FALSE;
      else if (n <= 0)
        {
          mitogen_process_close_stdin (stdin_process, NULL);
          more = FALSE;
        }
      else
        {
          g_autoptr(GBytes) bytes = g_bytes_new (buffer, (gsize) n);

          if (!mitogen_process_write (stdin_process, bytes, NULL, &error))
            {
              g_debug ("stdin: %s", error->message);
              more = FALSE;
            }
        }
      g_mutex_unlock (&stdin_lock);
    }
  g_free (buffer);
  return NULL;
}

/* ---------------------------------------------------------------------- */

static int
start_failure_status (const GError *error)
{
  const char *domain;

  if (!g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL))
    return tool_status_for_error (error);
  domain = mitogen_error_get_remote_domain (error);
  if (g_strcmp0 (domain, g_quark_to_string (G_SPAWN_ERROR)) != 0)
    return TOOL_EXIT_CALL;
  return mitogen_error_get_remote_code (error) == G_SPAWN_ERROR_NOENT ? TOOL_EXIT_NOT_FOUND
                                                                      : TOOL_EXIT_CANNOT_RUN;
}

/* A worker thread. */
static void
run_job (ToolTarget     *target,
         MitogenContext *context,
         ToolOutcome    *outcome,
         gpointer        user_data)
{
  RunJob *job = user_data;
  g_autoptr(MitogenProcess) process = mitogen_process_new (context, (const char * const *) job->argv);
  g_autoptr(GError) error = NULL;
  Lines lines = { { NULL, g_string_new (NULL), g_string_new (NULL) } };
  gboolean stdout_broken = FALSE;
  JsonObject *extra;

  mitogen_process_set_cwd (process, job->cwd);
  if (!mitogen_process_start (process, outcome->cancellable, &error))
    {
      outcome->status = start_failure_status (error);
      if (outcome->status == TOOL_EXIT_NOT_FOUND || outcome->status == TOOL_EXIT_CANNOT_RUN)
        outcome->error = g_strdup_printf ("cannot run %s in '%s': %s", job->argv[0], target->name,
                                          mitogen_error_get_remote_message (error));
      else
        outcome->error = tool_one_line (error->message);
      goto out;
    }
  running_add (process);
  g_debug ("%s: %s runs as pid %" G_GINT64_FORMAT, target->name, job->argv[0], mitogen_process_get_pid (process));

  if (job->pass_stdin)
    {
      g_mutex_lock (&stdin_lock);
      stdin_process = g_object_ref (process);
      g_mutex_unlock (&stdin_lock);
      g_thread_unref (g_thread_new ("mitogen-stdin", stdin_thread, NULL));
    }
  else
    mitogen_process_close_stdin (process, NULL);

  for (;;)
    {
      int fd = -1;
      g_autoptr(GBytes) chunk = mitogen_process_read (process, &fd, outcome->cancellable, &error);

      if (chunk == NULL)
        break;
      if (job->json)
        print_json_chunk (target->name, fd, chunk);
      else if (job->many)
        lines_add (&lines, target->name, fd, chunk);
      else if (!(fd == 1 && stdout_broken))
        {
          gsize len = 0;
          const char *data = g_bytes_get_data (chunk, &len);

          if (!tool_write_all (fd, data, len) && fd == 1)
            {
              /* Our reader went away: as if the program's pipe broke. */
              stdout_broken = TRUE;
              mitogen_process_send_signal (process, SIGPIPE, NULL);
            }
        }
    }
  running_remove (process);
  /* Waits for a write in flight: it fails at once, the program is gone. */
  g_mutex_lock (&stdin_lock);
  g_clear_object (&stdin_process);
  g_mutex_unlock (&stdin_lock);
  if (job->many && !job->json)
    lines_flush (&lines, target->name);

  if (error != NULL)
    {
      outcome->status = tool_status_for_error (error);
      outcome->error = tool_one_line (error->message);
      goto out;
    }

  extra = json_object_new ();
  if (mitogen_process_get_if_exited (process))
    {
      outcome->status = mitogen_process_get_exit_status (process);
      json_object_set_int_member (extra, "exit_status", outcome->status);
      if (outcome->status != 0 && job->many)
        outcome->error = g_strdup_printf ("exit status %d", outcome->status);
    }
  else
    {
      int signum = mitogen_process_get_term_sig (process);

      outcome->status = 128 + signum;
      json_object_set_int_member (extra, "signal", signum);
      if (job->many)
        outcome->error = g_strdup_printf ("killed by signal %d (%s)", signum, g_strsignal (signum));
    }
  outcome->json = json_node_init_object (json_node_alloc (), extra);
  json_object_unref (extra);

out:
  g_string_free (lines.pending[1], TRUE);
  g_string_free (lines.pending[2], TRUE);
}

static void
run_report (ToolOutcome *outcome,
            gpointer     user_data)
{
  RunJob *job = user_data;

  tool_report_outcome (outcome, job->json, job->many);
}

int
tool_cmd_run (char **args)
{
  ToolCommon common = { 0 };
  gboolean no_stdin = FALSE;
  g_autofree char *cwd = NULL;
  const GOptionEntry entries[] = {
    { "no-stdin", 'n', 0, G_OPTION_ARG_NONE, &no_stdin, "Do not pass our stdin (the program reads end-of-file)", NULL },
    { "cwd", 0, 0, G_OPTION_ARG_FILENAME, &cwd, "Run the program in DIR (in the target)", "DIR" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) options = NULL;
  g_autoptr(GPtrArray) targets = NULL;
  RunJob job = { 0 };
  int status;

  options = tool_option_context_new ("mitogen run", "[--] PROGRAM [ARG...]",
                                     "Run PROGRAM in a context as CHAIN says (found in the target's PATH),\n"
                                     "streaming its stdout and stderr to ours while it runs and our stdin\n"
                                     "to it (end-of-file included), and exit with its exit status (128+N\n"
                                     "if signal N killed it). SIGINT (Ctrl-C), SIGTERM and SIGHUP are\n"
                                     "passed on to it, and it decides what they mean: a program that traps\n"
                                     "SIGINT and exits 7 makes us exit 7. Before the program runs, or at a\n"
                                     "second Ctrl-C, we exit at once (128+N). Put '--' before PROGRAM\n"
                                     "when its arguments start with '-'. Output and stdin are flow-\n"
                                     "controlled: a slow reader pauses the program rather than filling\n"
                                     "memory.\n"
                                     "\n"
                                     "With several targets the program runs in all of them in parallel\n"
                                     "(stdin is not passed): each output line is printed as 'TARGET: LINE'\n"
                                     "on the stream it came from, a failing target's status as\n"
                                     "'mitogen: TARGET: exit status N' on stderr, then a summary line.\n"
                                     "With --json, output chunks are lines {\"target\", \"stream\", \"data\"}\n"
                                     "and each target ends with {\"target\", \"ok\", \"status\",\n"
                                     "\"exit_status\" or \"signal\"}.",
                                     entries, &common, TRUE);
  g_option_context_set_strict_posix (options, TRUE);
  status = tool_parse_options (options, &args);
  if (status != TOOL_EXIT_OK)
    goto out;

  status = tool_program_args ("run", &common, args, &job.argv);
  if (status != TOOL_EXIT_OK)
    goto out;

  status = tool_prepare_targets (&common, TRUE, &targets);
  if (status != TOOL_EXIT_OK)
    goto out;

  job.cwd = cwd;
  job.json = common.json;
  job.many = targets->len > 1;
  job.pass_stdin = !no_stdin && targets->len == 1;
  tool_catch_signals (on_signal, NULL);
  status = tool_fanout (targets, common.parallel, common.timeout, run_job, run_report, &job);

out:
  tool_common_clear (&common);
  return status;
}
