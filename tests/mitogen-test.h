/* mitogen-test.h — small helpers shared by the test programs
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <mitogen/mitogen.h>

/* Entries in a /proc directory of ours: open fds, threads. */
static inline guint
mitogen_test_count_dir (const char *path)
{
  DIR *dir = opendir (path);
  struct dirent *entry;
  guint n = 0;

  g_assert_nonnull (dir);
  while ((entry = readdir (dir)) != NULL)
    if (entry->d_name[0] != '.')
      n++;
  closedir (dir);
  return n;
}

static inline guint
mitogen_test_count_fds (void)
{
  return mitogen_test_count_dir ("/proc/self/fd");
}

static inline guint
mitogen_test_count_threads (void)
{
  return mitogen_test_count_dir ("/proc/self/task");
}

/* The number in field @field ("VmRSS", "SigIgn") of /proc/PID/status,
 * read in @base (10 for sizes in KiB, 16 for signal masks). */
static inline guint64
mitogen_test_proc_status (GPid        pid,
                          const char *field,
                          guint       base)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *text = NULL;
  g_autofree char *key = g_strdup_printf ("\n%s:", field);
  const char *line;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  line = strstr (text, key);
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen (key), NULL, base);
}

/* Children of ours, zombies included, from /proc. */
static inline guint
mitogen_test_count_children (void)
{
  g_autofree char *path = g_strdup_printf ("/proc/self/task/%d/children", (int) getpid ());
  g_autofree char *text = NULL;
  g_auto(GStrv) parts = NULL;
  guint n = 0;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  parts = g_strsplit (g_strstrip (text), " ", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (parts[i][0] != '\0')
      n++;
  return n;
}

/* Whether @pid is alive and not a zombie. */
static inline gboolean
mitogen_test_pid_alive (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *text = NULL;
  const char *paren;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  paren = strrchr (text, ')');
  return paren != NULL && paren[1] == ' ' && paren[2] != 'Z';
}

/* Waits up to @timeout_ms for @pid to be gone (or a zombie). */
static inline gboolean
mitogen_test_wait_pid_gone (GPid pid,
                            guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (g_get_monotonic_time () < deadline)
    {
      if (!mitogen_test_pid_alive (pid))
        return TRUE;
      g_usleep (5000);
    }
  return !mitogen_test_pid_alive (pid);
}

static inline MitogenContext *
mitogen_test_local (MitogenRouter *router)
{
  g_autoptr(GError) error = NULL;
  MitogenContext *context = mitogen_router_local (router, NULL, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (context);
  return context;
}
