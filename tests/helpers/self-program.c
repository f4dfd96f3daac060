/* self-program.c — a program that is its own agent (tests/test-self.c)
 *
 * It registers demo.* functions and calls mitogen_init () first: started
 * by a connect with agent=self it serves them; otherwise it is a master
 * that starts a chain of contexts and reports one line per hop and round:
 *
 *     self-program [--default-agent AGENT] [--repeat N] [--call FUNCTION] HOP...
 *
 * A HOP is METHOD or METHOD:KEY=VALUE,KEY=VALUE...; each hop is started
 * through the one before it (`via`). A VALUE is GVariant text when it
 * parses as such (true, 5, 2.5, ['a','b']), else a string. Each round
 * starts the whole chain again with the same router (round 1 is warm).
 * For each hop it prints
 *
 *     round=R hop=H bytes=B ms=M wchar=W add=5 whoami=WHO
 *
 * B: what the bootstrap shipped to start it (mitogen_context_get_bootstrap_bytes ());
 * M: the connect's time; W: bytes this process's threads wrote
 * (wchar in each /proc/self/task/TID/io) during the connect, -1 without /proc; WHO: demo.whoami's answer,
 * or --call FUNCTION's result (called with no arguments) in its place.
 * On an error it prints `error hop=H: MESSAGE` on stderr and exits 2.
 *
 * The host tests (docker, ssh) run the same program: keep the output
 * stable.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <mitogen/mitogen.h>

static gboolean started_as_agent;

/* (ii) -> i */
static GVariant *
demo_add (MitogenCall  *call,
          GVariant     *args,
          GError      **error)
{
  gint32 a, b;

  g_variant_get (args, "(ii)", &a, &b);
  return g_variant_new_int32 (a + b);
}

/* () -> s: who runs this function: the program, its pid, whether it is
 * an agent, and the file it runs from (AT_EXECFN: under the shipped
 * loader, the program in its run directory). */
static GVariant *
demo_whoami (MitogenCall  *call,
             GVariant     *args,
             GError      **error)
{
  const char *execfn = (const char *) getauxval (AT_EXECFN);

  return g_variant_new_take_string (g_strdup_printf ("self-program:pid=%d:agent=%d:exe=%s", (int) getpid (),
                                                     started_as_agent ? 1 : 0, execfn != NULL ? execfn : "?"));
}

/* Bytes this process's threads wrote (wchar of each live thread: the
 * process-wide count also takes in the children it reaps). -1 without
 * /proc. */
static gint64
written_bytes (void)
{
  g_autoptr(GDir) tasks = g_dir_open ("/proc/self/task", 0, NULL);
  const char *tid;
  gint64 total = 0;

  if (tasks == NULL)
    return -1;
  while ((tid = g_dir_read_name (tasks)) != NULL)
    {
      g_autofree char *path = g_strdup_printf ("/proc/self/task/%s/io", tid);
      g_autofree char *text = NULL;
      const char *line;

      if (!g_file_get_contents (path, &text, NULL, NULL))
        continue;
      line = strstr (text, "wchar:");
      if (line != NULL)
        total += g_ascii_strtoll (line + strlen ("wchar:"), NULL, 10);
    }
  return total;
}

/* METHOD[:KEY=VALUE,...] */
static gboolean
parse_hop (const char  *hop,
           char       **method,
           GVariant   **options,
           GError     **error)
{
  const char *colon = strchr (hop, ':');
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  *method = colon != NULL ? g_strndup (hop, (gsize) (colon - hop)) : g_strdup (hop);
  if (colon != NULL && colon[1] != '\0')
    {
      g_auto(GStrv) pairs = g_strsplit (colon + 1, ",", -1);

      for (guint i = 0; pairs[i] != NULL; i++)
        {
          const char *eq = strchr (pairs[i], '=');
          g_autofree char *key = NULL;
          g_autoptr(GVariant) value = NULL;

          if (eq == NULL)
            {
              g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "option '%s' has no value", pairs[i]);
              g_variant_builder_clear (&builder);
              return FALSE;
            }
          key = g_strndup (pairs[i], (gsize) (eq - pairs[i]));
          value = g_variant_parse (NULL, eq + 1, NULL, NULL, NULL);
          if (value == NULL)
            value = g_variant_ref_sink (g_variant_new_string (eq + 1));
          g_variant_builder_add (&builder, "{sv}", key, value);
        }
    }
  *options = g_variant_builder_end (&builder);
  return TRUE;
}

static char *
describe (MitogenContext  *context,
          const char      *function,
          GError         **error)
{
  g_autoptr(GVariant) value = mitogen_context_call (context, function != NULL ? function : "demo.whoami",
                                                    NULL, NULL, error);

  if (value == NULL)
    return NULL;
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    return g_variant_dup_string (value, NULL);
  return g_variant_print (value, FALSE);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) parser = NULL;
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *default_agent = NULL;
  g_autofree char *function = NULL;
  int repeat = 1;
  GOptionEntry entries[] = {
    { "default-agent", 0, 0, G_OPTION_ARG_STRING, &default_agent, "The router's default agent", "AGENT" },
    { "repeat", 0, 0, G_OPTION_ARG_INT, &repeat, "Start the chain N times", "N" },
    { "call", 0, 0, G_OPTION_ARG_STRING, &function, "Call FUNCTION instead of demo.whoami", "FUNCTION" },
    { NULL },
  };

  /* Registered before mitogen_init (): an agent serves them. */
  started_as_agent = argc > 1 && strcmp (argv[1], "--mitogen-agent") == 0;
  mitogen_register_function ("demo.add", "(ii)", "i", "Adds two numbers", demo_add, NULL);
  mitogen_register_function ("demo.whoami", "()", "s", "Who runs this function", demo_whoami, NULL);
  mitogen_init (&argc, &argv);

  parser = g_option_context_new ("HOP... — start a chain of contexts running this program");
  g_option_context_add_main_entries (parser, entries, NULL);
  if (!g_option_context_parse (parser, &argc, &argv, &error) || argc < 2)
    {
      fprintf (stderr, "self-program: %s\n", error != NULL ? error->message : "no HOP");
      return 1;
    }

  /* A replicated context starts its own children with the transport
   * plugins it was shipped with: those this process has loaded when it
   * ships itself. Load every method the chain uses first. */
  for (int hop = 1; hop < argc; hop++)
    {
      g_autofree char *method = NULL;
      g_autoptr(GVariant) options = NULL;
      g_autoptr(MitogenTransport) transport = NULL;

      if (parse_hop (argv[hop], &method, &options, NULL))
        {
          g_variant_ref_sink (options);
          transport = mitogen_transport_new_for_method (method, NULL, NULL);
        }
    }

  router = mitogen_router_new ();
  if (default_agent != NULL)
    mitogen_router_set_default_agent (router, default_agent);

  for (int round = 0; round < repeat; round++)
    {
      g_autoptr(GPtrArray) chain = g_ptr_array_new_with_free_func (g_object_unref);

      for (int hop = 1; hop < argc; hop++)
        {
          g_autofree char *method = NULL;
          g_autofree char *who = NULL;
          g_autoptr(GVariant) sum = NULL;
          MitogenContext *via = chain->len > 0 ? g_ptr_array_index (chain, chain->len - 1) : NULL;
          MitogenContext *context;
          GVariant *options = NULL;
          gint64 start, wrote;

          if (!parse_hop (argv[hop], &method, &options, &error))
            {
              fprintf (stderr, "error hop=%d: %s\n", hop, error->message);
              return 2;
            }
          fflush (stdout);
          wrote = written_bytes ();
          start = g_get_monotonic_time ();
          context = mitogen_router_connect (router, method, options, via, NULL, &error);
          if (context == NULL)
            {
              fprintf (stderr, "error hop=%d: %s\n", hop, error->message);
              return 2;
            }
          if (wrote >= 0)
            wrote = written_bytes () - wrote;
          g_ptr_array_add (chain, context);
          printf ("round=%d hop=%d bytes=%" G_GUINT64_FORMAT " ms=%.1f wchar=%" G_GINT64_FORMAT,
                  round, hop, mitogen_context_get_bootstrap_bytes (context),
                  (double) (g_get_monotonic_time () - start) / 1000.0, wrote);
          sum = mitogen_context_call (context, "demo.add", g_variant_new ("(ii)", 2, 3), NULL, &error);
          who = sum != NULL ? describe (context, function, &error) : NULL;
          if (who == NULL)
            {
              printf ("\n");
              fprintf (stderr, "error hop=%d: %s\n", hop, error->message);
              return 2;
            }
          printf (" add=%d whoami=%s\n", g_variant_get_int32 (sum), who);
        }
      /* Leaf first, so each parent sees its child go. */
      for (guint i = chain->len; i > 0; i--)
        mitogen_context_shutdown (g_ptr_array_index (chain, i - 1), 5, NULL);
    }
  fflush (stdout);
  mitogen_router_shutdown (router);
  return 0;
}
