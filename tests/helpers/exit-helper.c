/* exit-helper — a master that leaves without dropping its router.
 *
 * Starts one local context with profiling on (so the agent writes its
 * stats file only if it is shut down gracefully), prints the agent's pid,
 * makes a call, then calls exit (0) (argv[1] "exit") or returns from main
 * (argv[1] "return") with the router still referenced. The broker watcher
 * must then shut the broker down: the agent is told to exit, and reaped.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mitogen/mitogen.h>

/* LeakSanitizer's hook (sanitizer builds, docs/reliability.md): leaving
 * the router and its context referenced is this program's point, so a
 * leak check at exit would only report that. */
int __lsan_is_turned_off (void);

int
__lsan_is_turned_off (void)
{
  return 1;
}

int
main (int   argc,
      char *argv[])
{
  MitogenRouter *router = mitogen_router_new ();  /* deliberately never unreferenced */
  MitogenContext *context;
  GVariant *value;
  GError *error = NULL;

  mitogen_router_set_profiling (router, TRUE);
  /* An agent under valgrind takes its time to exit gracefully. */
  mitogen_broker_set_shutdown_timeout (mitogen_router_get_broker (router), 30);

  context = mitogen_router_local (router, NULL, NULL, &error);
  if (context == NULL)
    {
      fprintf (stderr, "exit-helper: %s\n", error->message);
      return 2;
    }
  printf ("%d\n", (int) mitogen_context_get_pid (context));
  fflush (stdout);

  value = mitogen_context_call (context, "mitogen.noop", NULL, NULL, &error);
  if (value == NULL)
    {
      fprintf (stderr, "exit-helper: %s\n", error->message);
      return 2;
    }
  g_variant_unref (value);

  if (argc > 1 && strcmp (argv[1], "exit") == 0)
    exit (0);
  return 0;
}
