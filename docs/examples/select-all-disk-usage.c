/* select-all-disk-usage.c — Select.all (the seed's example):
 *
 *     print('Total disk usage: %.02fMiB' % (sum(
 *         mitogen.master.Select.all(
 *             context.call_async(get_disk_usage)
 *             for context in contexts
 *         ) / 1048576.0
 *     ),))
 *
 * Each context stats some files (os.stat, st_size); Select.all gathers the
 * results as they arrive, which beats waiting on each call in turn. The
 * program checks the sum against stat () here.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <stdio.h>

#include <glib/gstdio.h>
#include <mitogen/mitogen.h>

typedef struct
{
  const char *const *paths;
  guint              n_paths;
} Job;

static gboolean
disk_usage (MitogenRouter  *router,
            gpointer        user_data,
            GError        **error)
{
  const Job *job = user_data;
  g_autoptr(GPtrArray) contexts = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) receivers = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) stats = NULL;
  gint64 total = 0, expected = 0;

  for (guint i = 0; i < job->n_paths; i++)
    {
      MitogenContext *context = mitogen_router_local (router, NULL, NULL, error);
      GStatBuf st;

      if (context == NULL)
        return FALSE;
      g_ptr_array_add (contexts, context);
      /* get_disk_usage (): one path per context here. */
      g_ptr_array_add (receivers, mitogen_context_begin_call (context, "os.stat",
                                                              g_variant_new ("(s)", job->paths[i])));
      if (g_stat (job->paths[i], &st) == 0)
        expected += st.st_size;
    }

  stats = mitogen_select_all ((MitogenReceiver **) receivers->pdata, receivers->len, error);
  if (stats == NULL)
    return FALSE;

  for (guint i = 0; i < stats->len; i++)
    {
      gint64 size = 0;

      g_variant_lookup (stats->pdata[i], "st_size", "x", &size);
      total += size;
    }

  printf ("Total disk usage: %.02fMiB (%" G_GINT64_FORMAT " bytes in %u files)\n",
          total / 1048576.0, total, stats->len);
  if (total != expected)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "the contexts saw %" G_GINT64_FORMAT " bytes, stat () here %" G_GINT64_FORMAT,
                   total, expected);
      return FALSE;
    }
  return TRUE;
}

int
main (int   argc,
      char *argv[])
{
  static const char *const defaults[] = { "/bin/sh", "/etc/passwd", "/etc/hostname" };
  Job job = { defaults, G_N_ELEMENTS (defaults) };

  if (argc > 1)
    {
      job.paths = (const char *const *) argv + 1;
      job.n_paths = (guint) argc - 1;
    }
  g_set_prgname ("select-all-disk-usage");
  return mitogen_main (disk_usage, &job);
}
