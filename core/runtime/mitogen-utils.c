/* mitogen-utils.c — the seed's mitogen.utils and mitogen.main
 *
 * run_with_router () gives a function a fresh router and shuts it down
 * afterwards, whatever happened; main () does the same for a program and
 * turns an error into one line on stderr and a non-zero exit status.
 * log_to_file () installs a GLib log writer printing "time level domain:
 * message" lines to a file or stderr; its `io` switch turns on the
 * frame-level traces of the "mitogen-io" domain (mitogen_io_debug ()).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-utils"

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mitogen-utils-private.h"

gint mitogen_io_debug_enabled;

/**
 * mitogen_run_with_router:
 * @func: (scope call) (closure user_data): the function to run
 * @user_data: data for @func
 * @error: return location for a #GError
 *
 * The seed's `run_with_router(func, *args)` and `@with_router`: runs
 * @func with a new router ([ctor@Mitogen.Router.new]) and shuts the
 * router down when @func returns, successfully or not: its children are
 * told to exit, killed after the shutdown timeout, and reaped. Any thread
 * but a broker's.
 *
 * Returns: what @func returned; %FALSE with @error set by @func (or
 *   %G_IO_ERROR_FAILED if @func failed without saying why)
 */
gboolean
mitogen_run_with_router (MitogenRouterFunc   func,
                         gpointer            user_data,
                         GError            **error)
{
  MitogenRouter *router;
  GError *local_error = NULL;
  gboolean ok;

  g_return_val_if_fail (func != NULL, FALSE);

  router = mitogen_router_new ();
  ok = func (router, user_data, &local_error);
  mitogen_router_shutdown (router);
  g_object_unref (router);

  if (ok)
    {
      /* A function that succeeds must not set an error; drop it. */
      g_clear_error (&local_error);
      return TRUE;
    }
  if (local_error == NULL)
    local_error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED,
                                       "The function failed without reporting an error");
  g_propagate_error (error, local_error);
  return FALSE;
}

/**
 * mitogen_main:
 * @func: (scope call) (closure user_data): the program's body
 * @user_data: data for @func
 *
 * The seed's `mitogen.main()`: runs @func with a new router (as
 * [func@Mitogen.run_with_router] does) and returns the program's exit
 * status. On failure the error is printed to stderr as one line,
 * `program: message`. Typical use:
 *
 * ```c
 * static gboolean
 * run (MitogenRouter *router, gpointer data, GError **error)
 * {
 *   g_autoptr(MitogenContext) child = mitogen_router_local (router, NULL, NULL, error);
 *   return child != NULL;
 * }
 *
 * int
 * main (int argc, char *argv[])
 * {
 *   return mitogen_main (run, NULL);
 * }
 * ```
 *
 * Any thread but a broker's (normally the main thread).
 *
 * Returns: 0 if @func succeeded, 1 if it failed
 */
int
mitogen_main (MitogenMainFunc func,
              gpointer        user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  const char *program;

  g_return_val_if_fail (func != NULL, 1);

  if (mitogen_run_with_router (func, user_data, &error))
    return 0;

  line = g_strdup (error->message);
  g_strdelimit (line, "\r\n", ' ');
  program = g_get_prgname ();
  fprintf (stderr, "%s: %s\n", program != NULL ? program : "mitogen", line);
  fflush (stderr);
  return 1;
}

/* --- log_to_file ----------------------------------------------------------- */

typedef struct
{
  GMutex          lock;    /* guards everything below */
  FILE           *fp;      /* (owned unless stderr) */
  gboolean        usec;
  GLogLevelFlags  levels;  /* levels written (the mitogen-io domain aside) */
} LogConfig;

static LogConfig log_config;

static const struct
{
  const char     *name;
  GLogLevelFlags  levels;   /* that level and everything more severe */
} log_levels[] = {
  { "DEBUG",    G_LOG_LEVEL_MASK },
  { "IO",       G_LOG_LEVEL_MASK },  /* the seed's MITOGEN_LOG_LEVEL=IO: DEBUG, io on */
  { "INFO",     G_LOG_LEVEL_MASK & ~G_LOG_LEVEL_DEBUG },
  { "MESSAGE",  G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE },
  { "WARNING",  G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING },
  { "WARN",     G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING },
  { "ERROR",    G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL },
  { "CRITICAL", G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL },
};

static const char *
level_name (GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return "ERROR";
  if (level & G_LOG_LEVEL_CRITICAL)
    return "CRITICAL";
  if (level & G_LOG_LEVEL_WARNING)
    return "WARNING";
  if (level & G_LOG_LEVEL_MESSAGE)
    return "MESSAGE";
  if (level & G_LOG_LEVEL_INFO)
    return "INFO";
  return "DEBUG";
}

/* Any thread: the writer mitogen_log_to_file () installs. */
static GLogWriterOutput
log_writer (GLogLevelFlags   level,
            const GLogField *fields,
            gsize            n_fields,
            gpointer         user_data)
{
  const char *domain = NULL, *message = NULL;
  struct timespec now;
  struct tm tm;
  char stamp[64];
  gboolean io_domain;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0 && fields[i].length < 0)
        domain = fields[i].value;
      else if (g_strcmp0 (fields[i].key, "MESSAGE") == 0 && fields[i].length < 0)
        message = fields[i].value;
    }

  /* The frame traces follow the io switch alone, whatever the level. */
  io_domain = g_strcmp0 (domain, "mitogen-io") == 0;
  if (io_domain ? !g_atomic_int_get (&mitogen_io_debug_enabled) : (level & log_config.levels) == 0)
    return G_LOG_WRITER_HANDLED;

  /* Local time as libc has it (the same TZ rules as GDateTime's), not
   * GDateTime itself: that would link GTimeZone and its date formatting
   * into the static agent for this one line. */
  clock_gettime (CLOCK_REALTIME, &now);
  localtime_r (&now.tv_sec, &tm);
  snprintf (stamp, sizeof stamp, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);

  g_mutex_lock (&log_config.lock);
  if (log_config.usec)
    fprintf (log_config.fp, "%s.%06d %s %s: %s\n", stamp, (int) (now.tv_nsec / 1000),
             level_name (level), domain != NULL ? domain : "default", message != NULL ? message : "");
  else
    fprintf (log_config.fp, "%s %s %s: %s\n", stamp,
             level_name (level), domain != NULL ? domain : "default", message != NULL ? message : "");
  fflush (log_config.fp);
  g_mutex_unlock (&log_config.lock);

  return G_LOG_WRITER_HANDLED;
}

static gboolean
env_flag (const char *name,
          gboolean    fallback)
{
  const char *value = g_getenv (name);

  if (value == NULL)
    return fallback;
  return value[0] != '\0' && g_strcmp0 (value, "0") != 0 && g_ascii_strcasecmp (value, "false") != 0;
}

/**
 * mitogen_log_to_file:
 * @path: (nullable) (type filename): the file to write (created or
 *   truncated), or %NULL for stderr
 * @io: include the frame-level traces of the `mitogen-io` log domain (every
 *   frame sent and received); useful for debugging hangs
 * @usec: include microseconds in the timestamps
 * @level: (nullable): the least severe level written: `DEBUG`, `INFO`
 *   (%NULL), `MESSAGE`, `WARNING` or `ERROR` (any case); `IO` is `DEBUG`
 *   with @io on
 * @error: return location for a #GError
 *
 * The seed's `mitogen.utils.log_to_file()`: from now on GLib log messages
 * are written as `2026-01-31 12:00:00[.123456] LEVEL domain: message`
 * lines. The environment overrides the arguments, as in the seed:
 * `MITOGEN_LOG_LEVEL` the level, `MITOGEN_LOG_USEC` and `MITOGEN_LOG_IO`
 * the switches (set and not `0`: on).
 *
 * GLib allows one log writer per process: the first call installs ours
 * with `g_log_set_writer_func()` (so a program, or a test harness, that
 * installs its own must not call this); later calls only change the file
 * and settings. Messages forwarded from child contexts arrive here too.
 * Any thread.
 *
 * Returns: %TRUE on success; %FALSE with a #G_FILE_ERROR if @path cannot
 *   be opened, or %MITOGEN_ERROR_INVALID_ARGUMENT for an unknown level
 *   name
 */
gboolean
mitogen_log_to_file (const char  *path,
                     gboolean     io,
                     gboolean     usec,
                     const char  *level,
                     GError     **error)
{
  static gsize installed;
  GLogLevelFlags levels = 0;
  const char *env_level = g_getenv ("MITOGEN_LOG_LEVEL");
  FILE *fp = stderr, *old;

  if (env_level != NULL && env_level[0] != '\0')
    level = env_level;
  if (level == NULL)
    level = "INFO";
  for (gsize i = 0; i < G_N_ELEMENTS (log_levels); i++)
    if (g_ascii_strcasecmp (level, log_levels[i].name) == 0)
      {
        levels = log_levels[i].levels;
        if (g_ascii_strcasecmp (level, "IO") == 0)
          io = TRUE;
      }
  if (levels == 0)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "Unknown log level '%s': use DEBUG, INFO, MESSAGE, WARNING or ERROR", level);
      return FALSE;
    }
  io = env_flag ("MITOGEN_LOG_IO", io);
  usec = env_flag ("MITOGEN_LOG_USEC", usec);

  if (path != NULL)
    {
      fp = fopen (path, "we");
      if (fp == NULL)
        {
          int saved_errno = errno;
          g_autofree char *display = g_filename_display_name (path);

          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                       "Cannot open log file %s: %s", display, g_strerror (saved_errno));
          return FALSE;
        }
      setvbuf (fp, NULL, _IOLBF, 0);
    }

  g_mutex_lock (&log_config.lock);
  old = log_config.fp;
  log_config.fp = fp;
  log_config.usec = usec;
  log_config.levels = levels;
  g_atomic_int_set (&mitogen_io_debug_enabled, io);
  g_mutex_unlock (&log_config.lock);

  if (old != NULL && old != stderr)
    fclose (old);

  if (g_once_init_enter (&installed))
    {
      g_log_set_writer_func (log_writer, NULL, NULL);
      g_once_init_leave (&installed, 1);
    }
  return TRUE;
}

int
mitogen_compare_strings (gconstpointer a,
                         gconstpointer b)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

char **
mitogen_strv_take_sorted (GPtrArray *names)
{
  g_ptr_array_sort (names, mitogen_compare_strings);
  g_ptr_array_add (names, NULL);
  return (char **) g_ptr_array_free (names, FALSE);
}
