/* fakessh-rsync.c — rsync into a context over mitogen's connection (fakessh)
 *
 *     fakessh-rsync [CHAIN-METHOD [USERNAME]]
 *
 * Makes a small tree in a temporary directory, starts a context (`local`
 * by default; `fakessh-rsync sudo www-data` for a sudo context, as root),
 * and runs rsync here with mitogen_fakessh_run (): rsync's ssh runs its
 * remote half in that context — the host name "anywhere" is ignored.
 * Then counts what arrived.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <stdio.h>
#include <stdlib.h>

#include <glib/gstdio.h>
#include <mitogen/mitogen.h>

#define N_FILES 20

typedef struct
{
  const char *method;
  const char *username;   /* (nullable) */
} Where;

static gboolean
deploy (MitogenRouter  *router,
        gpointer        user_data,
        GError        **error)
{
  Where *where = user_data;
  g_autoptr(GVariantDict) options = g_variant_dict_new (NULL);
  g_autoptr(MitogenContext) context = NULL;
  g_autofree char *dir = NULL, *src = NULL, *dst = NULL, *target = NULL;
  g_autoptr(GDir) copied = NULL;
  guint count = 0;
  int status;

  dir = g_dir_make_tmp ("fakessh-rsync-XXXXXX", error);
  if (dir == NULL)
    return FALSE;
  g_chmod (dir, 0755);
  src = g_build_filename (dir, "src", NULL);
  dst = g_build_filename (dir, "dst", NULL);
  g_mkdir (src, 0755);
  g_mkdir (dst, 0777);
  g_chmod (dst, 0777);
  for (int i = 0; i < N_FILES; i++)
    {
      g_autofree char *name = g_strdup_printf ("%s/file-%02d.txt", src, i);
      g_autofree char *text = g_strdup_printf ("file %d\n", i);

      if (!g_file_set_contents (name, text, -1, error))
        return FALSE;
    }

  if (where->username != NULL)
    g_variant_dict_insert (options, "username", "s", where->username);
  context = mitogen_router_connect (router, where->method, g_variant_dict_end (options), NULL, NULL, error);
  if (context == NULL)
    return FALSE;

  {
    /* "anywhere:" is ssh's host: whatever it says, the context runs it. */
    g_autofree char *from = g_strconcat (src, "/", NULL);
    g_autofree char *to = g_strconcat ("anywhere:", dst, "/", NULL);
    const char *argv[] = { "rsync", "-r", from, to, NULL };

    status = mitogen_fakessh_run (router, context, argv, NULL, 120, NULL, error);
    if (status < 0)
      return FALSE;
  }

  copied = g_dir_open (dst, 0, error);
  if (copied == NULL)
    return FALSE;
  while (g_dir_read_name (copied) != NULL)
    count++;
  printf ("Copied %u files with rsync through fakessh into context %s (exit status %d)\n",
          count, mitogen_context_get_name (context), status);

  target = g_strdup_printf ("rm -rf '%s'", dir);
  if (system (target) != 0)
    g_warning ("could not remove %s", dir);
  return status == 0 && count == N_FILES;
}

int
main (int    argc,
      char **argv)
{
  Where where = { argc > 1 ? argv[1] : "local", argc > 2 ? argv[2] : NULL };

  return mitogen_main (deploy, &where);
}
