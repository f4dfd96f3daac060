/* master-helper — a master process for tests that kill masters.
 *
 * Starts N local contexts (argv[1], default 1), prints each agent's pid on
 * a line of stdout, then "ready", and blocks in a call to the first one
 * until killed. argv[2], if given, is the router's keepalive-interval in
 * seconds (test-keepalive stops this master and watches its agents go).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <mitogen/mitogen.h>

int
main (int   argc,
      char *argv[])
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(GPtrArray) contexts = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  int n = argc > 1 ? atoi (argv[1]) : 1;

  if (argc > 2)
    g_object_set (router, "keepalive-interval", g_ascii_strtod (argv[2], NULL), NULL);

  for (int i = 0; i < n; i++)
    {
      MitogenContext *context = mitogen_router_local (router, NULL, NULL, &error);
      if (context == NULL)
        {
          fprintf (stderr, "master-helper: %s\n", error->message);
          return 1;
        }
      g_ptr_array_add (contexts, context);
      printf ("%d\n", (int) mitogen_context_get_pid (context));
    }
  printf ("ready\n");
  fflush (stdout);

  mitogen_context_call (g_ptr_array_index (contexts, 0), "mitogen.sleep",
                        g_variant_new ("(d)", 3600.0), NULL, NULL);
  return 0;
}
