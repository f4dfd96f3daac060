/* self-replicate.c — a program whose own functions run in every context
 *
 *     self-replicate [--agent self|dynamic|stock] [-t TARGET]...
 *
 * The program registers three functions of its own (demo.add,
 * demo.whoami, demo.digest), calls mitogen_init () first in main (), and
 * then, as the master, starts each TARGET with agent=self: the program
 * ships itself there (its closure: the executable, its shared objects and
 * its ELF loader, content-addressed, cached on the target) and the calls
 * run its own code, also in a busybox container with no libc at all.
 *
 * A TARGET is a chain of hops separated by "::", each hop METHOD or
 * METHOD:KEY=VALUE,KEY=VALUE (values that are all digits are integers,
 * true/false booleans, anything else strings). Without -t: `local`.
 *
 *     self-replicate -t local -t sudo:username=nobody
 *     self-replicate -t 'ssh:hostname=10.250.1.2,username=me::sudo:username=root'
 *     self-replicate -t docker:container=box,docker_path=/usr/bin/podman
 *
 * Prints one line per target (with the bytes the last hop's bootstrap
 * shipped: 0 when the target's cache had the program) and exits 0 if
 * every call worked, else 1 with the reason on stderr.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <mitogen/mitogen.h>

/* --- the program's own functions -------------------------------------- */

static GVariant *
demo_add (MitogenCall  *call,
          GVariant     *args,
          GError      **error)
{
  gint32 a, b;

  g_variant_get (args, "(ii)", &a, &b);
  return g_variant_new_int32 (a + b);
}

static GVariant *
demo_whoami (MitogenCall  *call,
             GVariant     *args,
             GError      **error)
{
  /* The name the program was started by: a shipped copy runs from a
   * `.mitogen-run.PID` directory on the target, through its own loader. */
  const char *exe = (const char *) getauxval (AT_EXECFN);

  return g_variant_new_take_string (g_strdup_printf ("pid %d uid %u, context %u, running %s",
                                                     (int) getpid (), (unsigned) getuid (),
                                                     mitogen_context_id (),
                                                     exe != NULL ? exe : "?"));
}

static GVariant *
demo_digest (MitogenCall  *call,
             GVariant     *args,
             GError      **error)
{
  g_autoptr(GVariant) data = NULL;
  gsize len;
  const guint8 *bytes;

  g_variant_get (args, "(@ay)", &data);
  bytes = g_variant_get_fixed_array (data, &len, 1);
  return g_variant_new_take_string (g_compute_checksum_for_data (G_CHECKSUM_SHA256, bytes, len));
}

static void
register_demo (void)
{
  mitogen_register_function ("demo.add", "(ii)", "i", "a + b", demo_add, NULL);
  mitogen_register_function ("demo.whoami", "()", "s", "Where this runs", demo_whoami, NULL);
  mitogen_register_function ("demo.digest", "(ay)", "s", "SHA-256 of the bytes, in hex", demo_digest, NULL);
}

/* --- the master --------------------------------------------------------- */

static GVariant *
parse_hop_options (const char  *text,
                   const char  *agent,
                   GError     **error)
{
  g_auto(GVariantDict) dict;
  g_auto(GStrv) pairs = text != NULL ? g_strsplit (text, ",", -1) : NULL;

  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "agent", "s", agent);
  for (guint i = 0; pairs != NULL && pairs[i] != NULL; i++)
    {
      const char *eq = strchr (pairs[i], '=');
      g_autofree char *key = NULL;
      const char *value;
      gboolean digits;

      if (pairs[i][0] == '\0')
        continue;
      if (eq == NULL || eq == pairs[i])
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "option '%s' is not KEY=VALUE", pairs[i]);
          return NULL;
        }
      key = g_strndup (pairs[i], eq - pairs[i]);
      value = eq + 1;
      digits = value[0] != '\0' && strspn (value, "0123456789") == strlen (value);
      if (digits && strlen (value) < 10)
        g_variant_dict_insert (&dict, key, "i", (gint32) atoi (value));
      else if (g_str_equal (value, "true") || g_str_equal (value, "false"))
        g_variant_dict_insert (&dict, key, "b", g_str_equal (value, "true"));
      else
        g_variant_dict_insert (&dict, key, "s", value);
    }
  return g_variant_dict_end (&dict);
}

/* Connects every hop of @target in turn, each through the previous one. */
static MitogenContext *
connect_chain (MitogenRouter  *router,
               const char     *target,
               const char     *agent,
               GError        **error)
{
  g_auto(GStrv) hops = g_strsplit (target, "::", -1);
  g_autoptr(MitogenContext) via = NULL;

  for (guint i = 0; hops[i] != NULL; i++)
    {
      const char *colon = strchr (hops[i], ':');
      g_autofree char *method = colon != NULL ? g_strndup (hops[i], colon - hops[i]) : g_strdup (hops[i]);
      GVariant *options = parse_hop_options (colon != NULL ? colon + 1 : NULL, agent, error);
      MitogenContext *next;

      if (options == NULL)
        return NULL;
      next = mitogen_router_connect (router, method, options, via, NULL, error);
      if (next == NULL)
        return NULL;
      g_clear_object (&via);
      via = next;
    }
  return g_steal_pointer (&via);
}

static gboolean
call_demo (MitogenRouter  *router,
           const char     *target,
           const char     *agent,
           GError        **error)
{
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GVariant) sum = NULL, who = NULL, digest = NULL;
  static const char hello[] = "hello";

  context = connect_chain (router, target, agent, error);
  if (context == NULL)
    return FALSE;
  sum = mitogen_context_call (context, "demo.add", g_variant_new ("(ii)", 2, 3), NULL, error);
  if (sum == NULL)
    return FALSE;
  who = mitogen_context_call (context, "demo.whoami", NULL, NULL, error);
  if (who == NULL)
    return FALSE;
  digest = mitogen_context_call (context, "demo.digest",
                                 g_variant_new ("(@ay)", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, hello,
                                                                                   strlen (hello), 1)),
                                 NULL, error);
  if (digest == NULL)
    return FALSE;
  printf ("%s: demo.add(2, 3) = %d; demo.whoami() = %s; demo.digest(\"hello\") = %.16s...; "
          "%" G_GUINT64_FORMAT " bytes shipped\n",
          target, g_variant_get_int32 (sum), g_variant_get_string (who, NULL),
          g_variant_get_string (digest, NULL), mitogen_context_get_bootstrap_bytes (context));
  fflush (stdout);
  return TRUE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) options = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenRouter) router = NULL;
  g_auto(GStrv) targets = NULL;
  g_autofree char *agent = NULL;
  const GOptionEntry entries[] = {
    { "agent", 0, 0, G_OPTION_ARG_STRING, &agent, "What to run in each context: self (default), dynamic, stock", "AGENT" },
    { "target", 't', 0, G_OPTION_ARG_STRING_ARRAY, &targets, "A chain of hops (default: local)", "TARGET" },
    { NULL },
  };
  int status = 0;

  /* The functions first: when started as an agent, mitogen_init () serves
   * them and never returns. */
  register_demo ();
  mitogen_init (&argc, &argv);

  options = g_option_context_new ("- run this program's own functions in other contexts");
  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      fprintf (stderr, "self-replicate: %s\n", error->message);
      return 2;
    }

  if (targets == NULL)
    targets = g_strdupv ((char *[]) { (char *) "local", NULL });

  router = mitogen_router_new ();
  for (guint i = 0; targets[i] != NULL; i++)
    {
      const char *target = targets[i];

      if (!call_demo (router, target, agent != NULL ? agent : "self", &error))
        {
          fprintf (stderr, "self-replicate: %s: %s\n", target, error->message);
          g_clear_error (&error);
          status = 1;
        }
    }
  mitogen_router_shutdown (router);
  return status;
}
