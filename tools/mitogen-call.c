/* mitogen-call.c — `mitogen call`: one function, one or many targets
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-tool"

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "mitogen-tool.h"

typedef struct
{
  const char *function;
  GVariant   *arguments;   /* (unowned) */
  gboolean    as_variant;
  gboolean    json;
  gboolean    many;
} CallJob;

/* A worker thread. */
static void
call_job (ToolTarget     *target,
          MitogenContext *context,
          ToolOutcome    *outcome,
          gpointer        user_data)
{
  CallJob *job = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) result = NULL;

  g_debug ("%s: calling %s%s in %s", target->name, job->function, g_variant_get_type_string (job->arguments),
           mitogen_context_get_name (context));
  result = mitogen_context_call (context, job->function, job->arguments, outcome->cancellable, &error);
  if (result == NULL)
    {
      outcome->status = g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL) ? TOOL_EXIT_CALL
                                                                                  : TOOL_EXIT_CHANNEL;
      outcome->error = tool_one_line (error->message);
      return;
    }
  if (job->as_variant)
    {
      g_autofree char *text = g_variant_print (result, TRUE);
      JsonObject *object = json_object_new ();

      json_object_set_string_member (object, "variant", text);
      outcome->json = json_node_init_object (json_node_alloc (), object);
      json_object_unref (object);
      if (!job->json)
        return;
    }
  outcome->result = tool_variant_to_json (result);
}

static void
call_report (ToolOutcome *outcome,
             gpointer     user_data)
{
  CallJob *job = user_data;

  if (job->as_variant && !job->json && outcome->status == TOOL_EXIT_OK && outcome->json != NULL)
    {
      const char *text = json_object_get_string_member (json_node_get_object (outcome->json), "variant");

      tool_output_lock ();
      if (job->many)
        printf ("%s: %s\n", outcome->target->name, text);
      else
        printf ("%s\n", text);
      fflush (stdout);
      tool_output_unlock ();
      return;
    }
  tool_report_outcome (outcome, job->json, job->many);
}

int
tool_cmd_call (char **args)
{
  ToolCommon common = { 0 };
  gboolean as_variant = FALSE;
  const GOptionEntry entries[] = {
    { "variant", 0, 0, G_OPTION_ARG_NONE, &as_variant, "Print the result as GVariant text, not JSON", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) options = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GVariant) arguments = NULL;
  g_autoptr(GPtrArray) targets = NULL;
  CallJob job = { 0 };
  int status;

  options = tool_option_context_new ("mitogen call", "FUNCTION [JSON-ARGS]",
                                     "Start a context as CHAIN says, call FUNCTION there and print its\n"
                                     "result as JSON. JSON-ARGS is a JSON array of the arguments (none\n"
                                     "if absent), converted to the function's argument type (see\n"
                                     "'mitogen functions'); bytes (ay) may be given as a string or as\n"
                                     "{\"base64\": \"...\"}. Where the type is open (r, v), it is inferred:\n"
                                     "integers x, other numbers d, strings s, booleans b, null mv,\n"
                                     "arrays of one type as that array (as, ax, ...) else av, objects\n"
                                     "a{sv}, {\"base64\": \"...\"} ay, and {\"gvariant\": \"TEXT\"} the GVariant\n"
                                     "TEXT (e.g. \"{'K': 'V'}\" for an a{ss}). Arguments that do not match a\n"
                                     "known function's type are a usage error (status 2), found before\n"
                                     "connecting. Bytes in the result print as a string when they are\n"
                                     "valid UTF-8, otherwise as {\"base64\": \"...\"}.\n"
                                     "\n"
                                     "With several targets (-t repeated, or -t @FILE) the call runs in all\n"
                                     "of them in parallel: each result is printed as 'TARGET: JSON' as it\n"
                                     "arrives. With --json each target gives one line\n"
                                     "{\"target\": ..., \"ok\": ..., \"status\": ..., \"result\": ... or \"error\": ...}.",
                                     entries, &common, TRUE);
  status = tool_parse_options (options, &args);
  if (status != TOOL_EXIT_OK)
    goto out;

  if (common.targets == NULL)
    {
      status = tool_fail (TOOL_EXIT_USAGE, "call: -t CHAIN is required (try 'mitogen call --help')");
      goto out;
    }
  if (g_strv_length (args) < 2)
    {
      status = tool_fail (TOOL_EXIT_USAGE, "call: no FUNCTION given (try 'mitogen call --help')");
      goto out;
    }
  if (g_strv_length (args) > 3)
    {
      status = tool_fail (TOOL_EXIT_USAGE, "call: unexpected argument '%s' after JSON-ARGS "
                          "(the arguments are one JSON array: quote it)", args[3]);
      goto out;
    }
  job.function = args[1];

  /* Syntax first (usage errors), then arguments (usage errors, before any
   * method or option is looked at), then methods and options. */
  {
    g_autoptr(GPtrArray) syntax = tool_targets_parse (common.targets, &error);

    if (syntax == NULL)
      {
        status = tool_fail_error (TOOL_EXIT_USAGE, error);
        goto out;
      }
  }
  if (args[2] != NULL)
    {
      parser = json_parser_new ();
      if (!json_parser_load_from_data (parser, args[2], -1, &error))
        {
          status = tool_fail (TOOL_EXIT_USAGE, "Invalid JSON-ARGS: %s", error->message);
          goto out;
        }
      if (json_parser_get_root (parser) == NULL)
        {
          status = tool_fail (TOOL_EXIT_USAGE, "Invalid JSON-ARGS: empty (give a JSON array such as '[]')");
          goto out;
        }
    }
  arguments = tool_build_arguments (job.function, parser != NULL ? json_parser_get_root (parser) : NULL, &error);
  if (arguments == NULL)
    {
      status = tool_fail_error (TOOL_EXIT_USAGE, error);
      goto out;
    }

  status = tool_prepare_targets (&common, TRUE, &targets);
  if (status != TOOL_EXIT_OK)
    goto out;

  job.arguments = arguments;
  job.as_variant = as_variant;
  job.json = common.json;
  job.many = targets->len > 1;
  status = tool_fanout (targets, common.parallel, common.timeout, call_job, call_report, &job);

out:
  tool_common_clear (&common);
  return status;
}
