/* mitogen-fakessh.c — `mitogen fakessh`: a local program whose ssh runs in a context
 *
 *   mitogen fakessh -t CHAIN [--timeout S] [--] PROGRAM [ARG...]
 *
 * Connects CHAIN, then runs PROGRAM here with mitogen_fakessh_run (): every
 * `ssh` it runs executes its command line in that context, whatever host
 * it names. We exit with PROGRAM's status (128+N if signal N killed it).
 * SIGINT, SIGTERM and SIGHUP stop PROGRAM (and its ssh invocations).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-tool"

#include "config.h"

#include <signal.h>

#include <glib-unix.h>

#include "mitogen-tool.h"

static void
result_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static int stop_signal;   /* the signal that stopped PROGRAM */

typedef struct
{
  GCancellable *cancellable;
  int           signum;
} StopSignal;

static gboolean
on_stop_signal (gpointer data)
{
  StopSignal *stop = data;

  if (stop_signal == 0)
    stop_signal = stop->signum;
  g_cancellable_cancel (stop->cancellable);
  return G_SOURCE_CONTINUE;
}

int
tool_cmd_fakessh (char **args)
{
  ToolCommon common = { 0 };
  double timeout = 0;
  const GOptionEntry entries[] = {
    { "timeout", 0, 0, G_OPTION_ARG_DOUBLE, &timeout, "Stop PROGRAM after SECONDS (SIGTERM, then SIGKILL) and exit 124", "SECONDS" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) options = NULL;
  g_autoptr(GPtrArray) targets = NULL;
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  char **argv = NULL;
  guint sources[3] = { 0 };
  StopSignal stops[3] = { { NULL, SIGINT }, { NULL, SIGTERM }, { NULL, SIGHUP } };
  int status;

  options = tool_option_context_new ("mitogen fakessh", "[--] PROGRAM [ARG...]",
                                     "Run PROGRAM here so that every ssh it runs executes its command in\n"
                                     "the context CHAIN names instead, whatever host it gives, over the\n"
                                     "connection mitogen already has (fakessh). rsync, scp (SFTP and -O\n"
                                     "modes), sftp and git work, any number of ssh at once. Exits with\n"
                                     "PROGRAM's status (128+N if signal N killed it). Put '--' before\n"
                                     "PROGRAM when its arguments start with '-'.\n"
                                     "\n"
                                     "  mitogen fakessh -t sudo:www-data -- rsync -a site/ x:/srv/www/\n"
                                     "  mitogen fakessh -t ssh:build -- git clone x:/srv/repo.git",
                                     entries, &common, TRUE);
  g_option_context_set_strict_posix (options, TRUE);
  status = tool_parse_options (options, &args);
  if (status != TOOL_EXIT_OK)
    goto out;

  status = tool_program_args ("fakessh", &common, args, &argv);
  if (status != TOOL_EXIT_OK)
    goto out;
  if (timeout < 0)
    {
      status = tool_fail (TOOL_EXIT_USAGE, "fakessh: --timeout must not be negative");
      goto out;
    }

  status = tool_prepare_targets (&common, FALSE, &targets);
  if (status != TOOL_EXIT_OK)
    goto out;

  router = mitogen_router_new ();
  context = tool_target_connect (g_ptr_array_index (targets, 0), router, NULL, &error);
  if (context == NULL)
    {
      status = tool_fail (TOOL_EXIT_CONNECT, "%s", error->message);
      goto out;
    }

  /* Signals stop the program (the run's cancellable); handled in the
   * run's own loop, which mitogen_fakessh_run () iterates. */
  for (guint i = 0; i < G_N_ELEMENTS (stops); i++)
    {
      GSource *source = g_unix_signal_source_new (stops[i].signum);

      stops[i].cancellable = cancellable;
      g_source_set_callback (source, on_stop_signal, &stops[i], NULL);
      sources[i] = g_source_attach (source, NULL);
      g_source_unref (source);
    }
  {
    /* The signal sources live in the default context; iterate it too. */
    g_autoptr(GMainContext) main_context = g_main_context_ref (g_main_context_default ());
    g_autoptr(GAsyncResult) result = NULL;

    g_main_context_push_thread_default (main_context);
    mitogen_fakessh_run_async (router, context, (const char * const *) argv, NULL, timeout,
                               cancellable, result_cb, &result);
    while (result == NULL)
      g_main_context_iteration (main_context, TRUE);
    g_main_context_pop_thread_default (main_context);
    status = mitogen_fakessh_run_finish (router, result, &error);
  }
  if (status < 0)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        status = tool_fail (128 + (stop_signal != 0 ? stop_signal : SIGINT), "fakessh: %s stopped by signal %d",
                            argv[0], stop_signal != 0 ? stop_signal : SIGINT);
      else if (g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT))
        status = tool_fail (124, "fakessh: %s did not finish within %g s", argv[0], timeout);
      else if (g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND))
        status = tool_fail (TOOL_EXIT_NOT_FOUND, "fakessh: %s", error->message);
      else
        status = tool_fail (tool_status_for_error (error), "fakessh: %s", error->message);
    }

out:
  for (guint i = 0; i < G_N_ELEMENTS (sources); i++)
    if (sources[i] != 0)
      g_source_remove (sources[i]);
  g_clear_object (&context);
  if (router != NULL)
    mitogen_router_shutdown (router);
  tool_common_clear (&common);
  return status;
}
