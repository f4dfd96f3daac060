/* mitogen-test-self.h — helpers for tests of self-replicating programs:
 * running tests/helpers/self-program and reading its report, a root
 * holding nothing but a static busybox, shell wrappers for
 * bootstrap_shell. Shared by test-self.c and the host tests (docker, ssh).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

/* One run of self-program. */
typedef struct
{
  int        status;   /* exit status (0 ok, 2 connect or call error) */
  char      *out;      /* (owned) stdout */
  char      *err;      /* (owned) stderr */
  GPtrArray *hops;     /* (owned) (element-type GHashTable) one per report line: key -> value */
} MitogenSelfRun;

static inline void
mitogen_self_run_free (MitogenSelfRun *run)
{
  g_free (run->out);
  g_free (run->err);
  g_ptr_array_unref (run->hops);
  g_free (run);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MitogenSelfRun, mitogen_self_run_free)

/* Runs @program with @args (NULL-terminated) and the environment @envp
 * (NULL: ours); waits for it. Report lines (`round=R hop=H ... whoami=W`)
 * are parsed into hops, in order. */
static inline MitogenSelfRun *
mitogen_self_run (const char         *program,
                  const char * const *args,
                  char              **envp)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  MitogenSelfRun *run = g_new0 (MitogenSelfRun, 1);
  g_auto(GStrv) lines = NULL;
  int wait_status = 0;

  g_ptr_array_add (argv, (gpointer) program);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, envp, G_SPAWN_DEFAULT, NULL, NULL,
                               &run->out, &run->err, &wait_status, &error));
  g_assert_no_error (error);
  run->status = WIFEXITED (wait_status) ? WEXITSTATUS (wait_status) : 128 + WTERMSIG (wait_status);
  run->hops = g_ptr_array_new_with_free_func ((GDestroyNotify) g_hash_table_unref);
  lines = g_strsplit (run->out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) words = NULL;
      GHashTable *hop;

      if (!g_str_has_prefix (lines[i], "round="))
        continue;
      hop = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      words = g_strsplit (lines[i], " ", -1);
      for (guint j = 0; words[j] != NULL; j++)
        {
          const char *eq = strchr (words[j], '=');

          if (eq != NULL)
            g_hash_table_insert (hop, g_strndup (words[j], (gsize) (eq - words[j])), g_strdup (eq + 1));
        }
      g_ptr_array_add (run->hops, hop);
    }
  return run;
}

/* Report line @index's @key, or NULL. */
static inline const char *
mitogen_self_run_get (MitogenSelfRun *run,
                      guint           index,
                      const char     *key)
{
  if (index >= run->hops->len)
    return NULL;
  return g_hash_table_lookup (g_ptr_array_index (run->hops, index), key);
}

/* Report line @index's @key as a number (the test fails without it). */
static inline gint64
mitogen_self_run_get_int (MitogenSelfRun *run,
                          guint           index,
                          const char     *key)
{
  const char *value = mitogen_self_run_get (run, index, key);

  if (value == NULL)
    g_error ("self-program reported no %s for line %u; stdout:\n%s\nstderr:\n%s", key, index, run->out, run->err);
  return g_ascii_strtoll (value, NULL, 10);
}

/* Writes an executable script @path with @text. */
static inline void
mitogen_test_write_script (const char *path,
                           const char *text)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_set_contents (path, text, -1, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, 0755), ==, 0);
}

/* A root with nothing but a static busybox (and the applets stage 1
 * uses): no libc, no /proc, no /dev, no /etc. /tmp is world-writable,
 * /home is HOME there. Returns its path; NULL without /bin/busybox.
 * (transfer full) */
static inline char *
mitogen_test_make_busybox_root (const char *parent)
{
  static const char *applets[] = { "sh", "dd", "gzip", "cp", "chmod", "mkdir", "mv", "rm", "ln", "uname",
                                   "cat", "ls", "env", "sha256sum", "wc", NULL };
  g_autofree char *root = NULL;
  g_autofree char *bin = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *busybox = NULL;
  gsize len = 0;

  if (!g_file_test ("/bin/busybox", G_FILE_TEST_IS_EXECUTABLE))
    return NULL;
  root = g_build_filename (parent, "bbroot.XXXXXX", NULL);
  g_assert_nonnull (g_mkdtemp (root));
  bin = g_build_filename (root, "bin", NULL);
  g_assert_cmpint (g_mkdir_with_parents (bin, 0755), ==, 0);
  {
    g_autofree char *tmp = g_build_filename (root, "tmp", NULL);
    g_autofree char *home = g_build_filename (root, "home", NULL);

    g_assert_cmpint (g_mkdir (tmp, 0777), ==, 0);
    g_assert_cmpint (g_chmod (tmp, 01777), ==, 0);
    g_assert_cmpint (g_mkdir (home, 0700), ==, 0);
  }
  g_assert_true (g_file_get_contents ("/bin/busybox", &contents, &len, NULL));
  busybox = g_build_filename (bin, "busybox", NULL);
  g_assert_true (g_file_set_contents (busybox, contents, (gssize) len, NULL));
  g_assert_cmpint (g_chmod (busybox, 0755), ==, 0);
  for (guint i = 0; applets[i] != NULL; i++)
    {
      g_autofree char *link = g_build_filename (bin, applets[i], NULL);
      g_assert_cmpint (symlink ("busybox", link), ==, 0);
    }
  return g_steal_pointer (&root);
}

/* A bootstrap_shell that runs stage 1 in @root: `chroot ROOT busybox sh`,
 * with an empty environment but HOME=/home and PATH=/bin. Written to
 * @path. */
static inline void
mitogen_test_write_chroot_shell (const char *path,
                                 const char *root)
{
  g_autofree char *quoted = g_shell_quote (root);
  g_autofree char *text = g_strdup_printf ("#!/bin/sh\n"
                                           "exec chroot %s /bin/busybox env -i HOME=/home PATH=/bin /bin/sh \"$@\"\n",
                                           quoted);

  mitogen_test_write_script (path, text);
}

/* Removes @path and everything below it. */
static inline void
mitogen_test_rm_rf (const char *path)
{
  g_autofree char *quoted = g_shell_quote (path);
  g_autofree char *cmd = g_strdup_printf ("rm -rf %s", quoted);

  g_assert_cmpint (system (cmd), ==, 0);
}
