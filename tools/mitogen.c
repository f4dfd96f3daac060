/* mitogen.c — the `mitogen` command-line tool: main, usage, reporting
 *
 *   mitogen call -t CHAIN... FUNCTION [JSON-ARGS]
 *   mitogen run -t CHAIN... [--] PROGRAM [ARG...]
 *   mitogen cp [-r] [-t CHAIN...] SOURCE... DESTINATION
 *   mitogen functions [--json]
 *   mitogen methods [--describe] [--json]
 *
 * Every failure is one line on stderr and a documented exit status (see
 * tool_exit_status_text and data/mitogen.1). The commands live in
 * mitogen-call.c, mitogen-run.c, mitogen-cp.c and mitogen-list.c; see
 * mitogen-tool.h for the map.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-tool"

#include "config.h"

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mitogen-tool.h"

const char tool_exit_status_text[] =
  "Exit status:\n"
  "  0    success\n"
  "  1    the remote function failed (includes an unknown function), or a copy\n"
  "       failed (no such file, permission denied, integrity check)\n"
  "  2    usage error: bad command line, malformed CHAIN, invalid JSON-ARGS,\n"
  "       arguments that do not match the function's argument type, bad cp\n"
  "       paths, a password in a CHAIN\n"
  "  3    connection failed: unknown method, unknown or invalid option,\n"
  "       target unreachable or failed to start, wrong password, timeout\n"
  "  4    the context was lost\n"
  "  124  --timeout: a target was not done in time\n"
  "  run: the program's own exit status, or 128+N if signal N killed it;\n"
  "       126 if it could not be started, 127 if it was not found\n"
  "  With several targets: the largest status of any target.\n";

const char tool_chain_text[] =
  "CHAIN is METHOD[:MAIN][?OPTION=VALUE&OPTION=VALUE...], for example\n"
  "'local', 'ssh:web1?port=2222' or 'local?remote_name=web&debug=true'.\n"
  "Option names may use '_' or '-'; values are converted to the option's\n"
  "type (booleans: true/false/yes/no/1/0; an option without '=' means\n"
  "true); '%XX' escapes are decoded in MAIN and values (write a '/' there\n"
  "as %2F). MAIN sets the method's main option (hostname, container or\n"
  "username, whichever it has). Hops are separated by '/', each started\n"
  "through the one before: 'ssh:bastion/ssh:db/sudo'. A password is never\n"
  "taken from a CHAIN: use --ask-pass or --password-file FILE (or\n"
  "MITOGEN_PASSWORD_FILE). See 'mitogen methods --describe' for the options.\n";

const char tool_target_text[] =
  "Targets: repeat -t to run on several targets in parallel over one\n"
  "connection tree, or give -t @FILE (one CHAIN per line; blank lines and\n"
  "'#' comments are skipped). Each target's result is printed as it\n"
  "arrives, prefixed with the target (its CHAIN), then a summary line on\n"
  "stderr.\n";

static const char usage_text[] =
  "Usage:\n"
  "  mitogen [-v] COMMAND [OPTION...] [ARG...]\n"
  "\n"
  "Run functions and programs in Mitogen contexts, and copy files to and from them.\n"
  "\n"
  "Commands:\n"
  "  call -t CHAIN... FUNCTION [JSON-ARGS]   Call FUNCTION in a new context, print the result\n"
  "  run -t CHAIN... [--] PROGRAM [ARG...]   Run a program there, streaming its output and stdin\n"
  "  cp [-r] [-t CHAIN...] SOURCE... DEST    Copy files and trees to and from contexts\n"
  "  fakessh -t CHAIN [--] PROGRAM [ARG...]  Run a program here whose ssh runs in the context\n"
  "  functions [--json]                      List the functions every context serves\n"
  "  methods [--describe] [--json]           List the connection methods (and their options)\n"
  "\n"
  "Options:\n"
  "  -v, --debug                             Show debug logs, the contexts' too\n"
  "  -h, --help                              Show this help\n"
  "  --version                               Show the version\n"
  "\n"
  "Common options of call, run, cp and fakessh:\n"
  "  -t, --target CHAIN                      Where to run (repeat, or @FILE, for several)\n"
  "  --json                                  Print JSON (one object per line per target)\n"
  "  --ask-pass                              Prompt for the password on the terminal\n"
  "  --password-file FILE                    Read the password from FILE's first line\n"
  "  --parallel N                            Targets started at once (default 32)\n"
  "  --timeout SECONDS                       Deadline of each target, connect included\n"
  "\n"
  "Run 'mitogen COMMAND --help' for the options of a command.\n"
  "\n";

gboolean tool_opt_debug;

/* ---------------------------------------------------------------------- */
/* Reporting */

static GMutex output_lock;

void
tool_output_lock (void)
{
  g_mutex_lock (&output_lock);
}

void
tool_output_unlock (void)
{
  g_mutex_unlock (&output_lock);
}

gboolean
tool_write_all (int         fd,
                const void *data,
                gsize       len)
{
  const char *p = data;

  while (len > 0)
    {
      gssize n = write (fd, p, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return FALSE;
      p += n;
      len -= (gsize) n;
    }
  return TRUE;
}

char *
tool_one_line (const char *message)
{
  char *text = g_strdup (message);

  g_strstrip (text);
  for (char *p = text; *p != '\0'; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  return text;
}

int
tool_fail (int         status,
           const char *format,
           ...)
{
  g_autofree char *message = NULL;
  g_autofree char *line = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  line = tool_one_line (message);

  tool_output_lock ();
  fflush (stdout);
  fprintf (stderr, "mitogen: %s\n", line);
  fflush (stderr);
  tool_output_unlock ();
  return status;
}

int
tool_fail_error (int           status,
                 const GError *error)
{
  return tool_fail (status, "%s", error->message);
}

int
tool_status_for_error (const GError *error)
{
  if (error->domain == TOOL_ERROR)
    return error->code;
  if (error->domain == MITOGEN_ERROR)
    {
      switch ((MitogenError) error->code)
        {
        case MITOGEN_ERROR_CHANNEL:
        case MITOGEN_ERROR_CLOSED:
        case MITOGEN_ERROR_STREAM:
          return TOOL_EXIT_CHANNEL;
        case MITOGEN_ERROR_CALL:
        case MITOGEN_ERROR_TIMEOUT:
        case MITOGEN_ERROR_PASSWORD:
        case MITOGEN_ERROR_INVALID_ARGUMENT:
        case MITOGEN_ERROR_NOT_FOUND:
        case MITOGEN_ERROR_NOT_SUPPORTED:
        default:
          return TOOL_EXIT_CALL;
        }
    }
  return TOOL_EXIT_CALL;
}

GQuark
tool_error_quark (void)
{
  return g_quark_from_static_string ("mitogen-tool-error-quark");
}

/* ---------------------------------------------------------------------- */
/* Options */

void
tool_common_clear (ToolCommon *common)
{
  g_clear_pointer (&common->targets, g_strfreev);
  g_clear_pointer (&common->password_file, g_free);
}

GOptionContext *
tool_option_context_new (const char         *command,
                         const char         *parameters,
                         const char         *summary,
                         const GOptionEntry *entries,
                         ToolCommon         *common,
                         gboolean            with_chain_help)
{
  const GOptionEntry debug_entries[] = {
    { "debug", 'v', 0, G_OPTION_ARG_NONE, &tool_opt_debug, "Show debug logs, the contexts' too", NULL },
    G_OPTION_ENTRY_NULL
  };
  GOptionContext *context = g_option_context_new (parameters);
  g_autofree char *description = g_strconcat (with_chain_help ? tool_chain_text : "",
                                              with_chain_help ? "\n" : "",
                                              common != NULL ? tool_target_text : "",
                                              common != NULL ? "\n" : "",
                                              tool_exit_status_text, NULL);

  g_set_prgname (command);
  g_option_context_set_summary (context, summary);
  g_option_context_set_description (context, description);
  g_option_context_add_main_entries (context, debug_entries, NULL);
  if (common != NULL)
    {
      GOptionEntry common_entries[] = {
        { "target", 't', 0, G_OPTION_ARG_STRING_ARRAY, &common->targets,
          "Where to run: METHOD[:MAIN][?OPTION=VALUE&...]; repeat it, or give @FILE, for several", "CHAIN" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &common->json, "Print JSON: one object per line", NULL },
        { "ask-pass", 0, 0, G_OPTION_ARG_NONE, &common->ask_pass,
          "Prompt for the password (ssh, sudo, su, doas, pkexec) on the terminal", NULL },
        { "password-file", 0, 0, G_OPTION_ARG_FILENAME, &common->password_file,
          "Read the password from the first line of FILE (default: $MITOGEN_PASSWORD_FILE)", "FILE" },
        { "parallel", 0, 0, G_OPTION_ARG_INT, &common->parallel,
          "Start at most N targets at once (default 32)", "N" },
        { "timeout", 0, 0, G_OPTION_ARG_DOUBLE, &common->timeout,
          "Give each target at most SECONDS, connect included (status 124 past it)", "SECONDS" },
        G_OPTION_ENTRY_NULL
      };
      gboolean own_timeout = FALSE;

      /* fakessh's --timeout is its program's (one target, no fan-out). */
      for (gsize i = 0; entries != NULL && entries[i].long_name != NULL; i++)
        if (g_str_equal (entries[i].long_name, "timeout"))
          own_timeout = TRUE;
      if (own_timeout)
        common_entries[G_N_ELEMENTS (common_entries) - 2] = (GOptionEntry) G_OPTION_ENTRY_NULL;

      common->parallel = 32;
      g_option_context_add_main_entries (context, common_entries, NULL);
    }
  if (entries != NULL)
    g_option_context_add_main_entries (context, entries, NULL);
  return context;
}

int
tool_parse_options (GOptionContext   *context,
                    char           ***args)
{
  g_autoptr(GError) error = NULL;

  if (!g_option_context_parse_strv (context, args, &error))
    return tool_fail (TOOL_EXIT_USAGE, "%s (try '%s --help')", error->message, g_get_prgname ());
  if (tool_opt_debug)
    g_log_set_debug_enabled (TRUE);
  return TOOL_EXIT_OK;
}

int
tool_program_args (const char   *command,
                   ToolCommon   *common,
                   char        **args,
                   char       ***program)
{
  guint first = 1;

  if (common->targets == NULL)
    return tool_fail (TOOL_EXIT_USAGE, "%s: -t CHAIN is required (try 'mitogen %s --help')", command, command);
  /* args[0] is the command name; a leading "--" is left by strict POSIX
   * parsing only when given after the options. */
  if (args[first] != NULL && g_str_equal (args[first], "--"))
    first++;
  if (args[first] == NULL)
    return tool_fail (TOOL_EXIT_USAGE, "%s: no PROGRAM given (try 'mitogen %s --help')", command, command);
  *program = args + first;
  return TOOL_EXIT_OK;
}

/* ---------------------------------------------------------------------- */

typedef int (*CommandFunc) (char **args);

static const struct
{
  const char  *name;
  CommandFunc  func;
} commands[] = {
  { "call", tool_cmd_call },
  { "run", tool_cmd_run },
  { "fakessh", tool_cmd_fakessh },
  { "cp", tool_cmd_cp },
  { "functions", tool_cmd_functions },
  { "methods", tool_cmd_methods },
};

static void
print_usage (void)
{
  printf ("%s%s\n%s\n%s", usage_text, tool_chain_text, tool_target_text, tool_exit_status_text);
}

int
main (int    argc,
      char **argv)
{
  g_auto(GStrv) args = NULL;
  const char *command;
  int i = 1;

  setlocale (LC_ALL, "");
  /* Logs (debug ones included) go to stderr: stdout carries results. */
  g_log_writer_default_set_use_stderr (TRUE);

  for (; i < argc && argv[i][0] == '-'; i++)
    {
      if (g_str_equal (argv[i], "-v") || g_str_equal (argv[i], "--debug"))
        tool_opt_debug = TRUE;
      else if (g_str_equal (argv[i], "-h") || g_str_equal (argv[i], "--help"))
        {
          print_usage ();
          return TOOL_EXIT_OK;
        }
      else if (g_str_equal (argv[i], "--version"))
        {
          printf ("mitogen %s\n", PACKAGE_VERSION);
          return TOOL_EXIT_OK;
        }
      else
        return tool_fail (TOOL_EXIT_USAGE, "Unknown option '%s' (try 'mitogen --help')", argv[i]);
    }
  if (tool_opt_debug)
    g_log_set_debug_enabled (TRUE);

  if (i >= argc)
    return tool_fail (TOOL_EXIT_USAGE, "No command given (try 'mitogen --help')");
  command = argv[i];

  if (g_str_equal (command, "help"))
    {
      if (i + 1 >= argc)
        {
          print_usage ();
          return TOOL_EXIT_OK;
        }
      /* `mitogen help COMMAND` is `mitogen COMMAND --help`. */
      command = argv[i + 1];
      args = g_new0 (char *, 3);
      args[0] = g_strdup (command);
      args[1] = g_strdup ("--help");
    }
  else
    args = g_strdupv (argv + i);

  for (gsize c = 0; c < G_N_ELEMENTS (commands); c++)
    if (g_str_equal (command, commands[c].name))
      return commands[c].func (args);

  return tool_fail (TOOL_EXIT_USAGE,
                    "Unknown command '%s' (commands: call, run, cp, fakessh, functions, methods; try 'mitogen --help')",
                    command);
}
