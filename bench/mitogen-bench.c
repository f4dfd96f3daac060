/* mitogen-bench.c — micro-benchmarks of libmitogen against its own agent
 *
 * Prints one line per figure on stdout, `name<TAB>value<TAB>unit`; progress
 * and diagnostics go to stderr. See bench/README.md for what each figure
 * means; bench/peers.py measures the same scenarios with Python Mitogen and
 * execnet, and bench/run puts them side by side.
 *
 * Any failure of a scenario is fatal (exit status 1): these figures are
 * only worth something if every call succeeded. A watchdog (SIGALRM)
 * ends the program if one scenario hangs.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mitogen/mitogen.h>

#define BULK_SIZE       (1024u * 1024u)  /* bytes per mitogen.bytes reply */
#define WATCHDOG_S      600              /* per scenario */

#ifndef BENCH_AGENT_PATH
# error "BENCH_AGENT_PATH must name the build's mitogen-agent (bench/meson.build)"
#endif

typedef struct
{
  gboolean quick;
  guint    calls;          /* call_rtt_us / raw_pingpong_us: calls per batch */
  guint    batches;        /* call_rtt_us / raw_pingpong_us: batches */
  guint    start_runs;     /* local_start_ms */
  guint    pipelined;      /* pipelined_calls_per_s: calls per run */
  guint    bulk_count;     /* bulk_MBps: replies per run */
  guint    bulk_window;    /* bulk_MBps: replies in flight */
  guint    start_n;        /* start32_*: contexts per run */
  guint    runs;           /* runs of the pipelined, bulk and start32 scenarios */
  guint    ssh_runs;       /* ssh_start_*: connects of each kind */
  guint    ssh_bulk_count; /* ssh_bulk_MBps: replies per run (and MiB per openssh_cat_MBps run) */
  guint    ssh_bulk_runs;  /* ssh_bulk_MBps, openssh_cat_*: runs, alternating */
  char   **only;           /* scenario names to run, or NULL for all */
} Options;

/* ------------------------------------------------------------------ */
/* helpers                                                            */

static G_GNUC_NORETURN void
die (const char *what,
     GError     *error)
{
  fprintf (stderr, "mitogen-bench: %s: %s\n", what, error != NULL ? error->message : "failed");
  exit (1);
}

static void
note (const char *format,
      ...) G_GNUC_PRINTF (1, 2);

static void
note (const char *format,
      ...)
{
  va_list ap;

  va_start (ap, format);
  fputs ("mitogen-bench: ", stderr);
  vfprintf (stderr, format, ap);
  fputc ('\n', stderr);
  va_end (ap);
}

static void
emit (const char *name,
      double      value,
      const char *unit)
{
  if (value >= 1000)
    printf ("%s\t%.0f\t%s\n", name, value, unit);
  else if (value >= 10)
    printf ("%s\t%.1f\t%s\n", name, value, unit);
  else
    printf ("%s\t%.3f\t%s\n", name, value, unit);
  fflush (stdout);
}

static int
compare_doubles (const void *a,
                 const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y ? 1 : 0;
}

static double
median (double *values,
        guint   n)
{
  g_assert (n > 0);
  qsort (values, n, sizeof *values, compare_doubles);
  if (n % 2 == 1)
    return values[n / 2];
  return (values[n / 2 - 1] + values[n / 2]) / 2;
}

static gboolean
wanted (const Options *opts,
        const char    *name)
{
  return opts->only == NULL || g_strv_contains ((const char * const *) opts->only, name);
}

static void
watchdog_arm (void)
{
  alarm (WATCHDOG_S);
}

/* A "VmXXX:" field of /proc/PID/status, in kB; -1 if unreadable. */
static gint64
proc_status_kb (GPid        pid,
                const char *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  gsize len = strlen (field);

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return -1;
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (strncmp (lines[i], field, len) == 0 && lines[i][len] == ':')
      return g_ascii_strtoll (lines[i] + len + 1, NULL, 10);
  return -1;
}

static glong
self_maxrss_kb (void)
{
  struct rusage ru;

  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* Resets the peak RSS (VmHWM) of @pid to its current RSS (Linux >= 4.0). */
static gboolean
reset_peak_rss (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/clear_refs", (int) pid);
  FILE *f = fopen (path, "w");
  gboolean ok;

  if (f == NULL)
    return FALSE;
  ok = fputs ("5", f) >= 0;
  return fclose (f) == 0 && ok;
}

static MitogenContext *
start_context (MitogenRouter *router)
{
  g_autoptr(GError) error = NULL;
  MitogenContext *ctx = mitogen_router_local (router, NULL, NULL, &error);

  if (ctx == NULL)
    die ("mitogen_router_local", error);
  return ctx;
}

static gint64
call_getpid (MitogenContext *ctx)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) v = mitogen_context_call (ctx, "os.getpid", NULL, NULL, &error);

  if (v == NULL)
    die ("os.getpid", error);
  if (!g_variant_is_of_type (v, G_VARIANT_TYPE_INT64))
    die ("os.getpid returned the wrong type", NULL);
  return g_variant_get_int64 (v);
}

static void
call_noop (MitogenContext *ctx)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) v = mitogen_context_call (ctx, "mitogen.noop", NULL, NULL, &error);

  if (v == NULL && error != NULL)
    die ("mitogen.noop", error);
}

static void
stop_context (MitogenContext *ctx)
{
  g_autoptr(GError) error = NULL;

  if (!mitogen_context_shutdown (ctx, 5, &error))
    die ("mitogen_context_shutdown", error);
  g_object_unref (ctx);
}

/* The reply on @receiver: its value, checked; dies on any error. */
static GVariant *
collect (MitogenReceiver *receiver,
         const char      *what)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) message = mitogen_receiver_get (receiver, 60, &error);
  GVariant *value;

  if (message == NULL)
    die (what, error);
  value = mitogen_message_get_value (message, &error);
  if (value == NULL)
    die (what, error);
  return value;
}

/* ------------------------------------------------------------------ */
/* raw_pingpong_us: the machine's floor for one process round trip     */

/* A socketpair and a forked child holding the other end: returns the
 * child's pid (0 in the child) and sets *fd to this side's end. Before
 * any thread exists. */
static pid_t
fork_with_socket (int *fd)
{
  int sv[2];
  pid_t pid;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    {
      fprintf (stderr, "mitogen-bench: socketpair: %s\n", g_strerror (errno));
      exit (1);
    }
  pid = fork ();
  if (pid < 0)
    {
      fprintf (stderr, "mitogen-bench: fork: %s\n", g_strerror (errno));
      exit (1);
    }
  close (sv[pid == 0 ? 0 : 1]);
  *fd = sv[pid == 0 ? 1 : 0];
  return pid;
}

static void
bench_raw_pingpong (const Options *opts)
{
  int fd;
  pid_t pid;
  g_autofree double *means = g_new (double, opts->batches);
  char byte = 'x';

  pid = fork_with_socket (&fd);
  if (pid == 0)
    {
      /* Echo one byte at a time until EOF. */
      for (;;)
        {
          char c;
          ssize_t n = read (fd, &c, 1);
          if (n == 1 && write (fd, &c, 1) == 1)
            continue;
          if (n < 0 && errno == EINTR)
            continue;
          _exit (0);
        }
    }

  for (guint b = 0; b < opts->batches; b++)
    {
      gint64 t0 = g_get_monotonic_time ();

      for (guint i = 0; i < opts->calls; i++)
        {
          char c;

          if (write (fd, &byte, 1) != 1 || read (fd, &c, 1) != 1)
            {
              fprintf (stderr, "mitogen-bench: raw ping-pong: %s\n", g_strerror (errno));
              exit (1);
            }
        }
      means[b] = (double) (g_get_monotonic_time () - t0) / opts->calls;
    }
  close (fd);
  waitpid (pid, NULL, 0);
  emit ("raw_pingpong_us", median (means, opts->batches), "us");
}

/* ------------------------------------------------------------------ */
/* local_start_ms                                                     */

static void
bench_local_start (MitogenRouter *router,
                   const Options *opts)
{
  g_autofree double *ms = g_new (double, opts->start_runs);

  for (guint i = 0; i < opts->start_runs; i++)
    {
      gint64 t0 = g_get_monotonic_time ();
      MitogenContext *ctx = start_context (router);

      call_getpid (ctx);
      ms[i] = (g_get_monotonic_time () - t0) / 1000.0;
      stop_context (ctx);
    }
  emit ("local_start_ms", median (ms, opts->start_runs), "ms");
}

/* ------------------------------------------------------------------ */
/* call_rtt_us                                                        */

static void
bench_call_rtt (MitogenContext *ctx,
                const Options  *opts,
                const char     *name)
{
  g_autofree double *means = g_new (double, opts->batches);

  for (guint i = 0; i < MIN (opts->calls, 1000u); i++)
    call_noop (ctx);  /* warm up */

  for (guint b = 0; b < opts->batches; b++)
    {
      gint64 t0 = g_get_monotonic_time ();

      for (guint i = 0; i < opts->calls; i++)
        call_noop (ctx);
      means[b] = (double) (g_get_monotonic_time () - t0) / opts->calls;
    }
  emit (name, median (means, opts->batches), "us");
}

/* ------------------------------------------------------------------ */
/* pipelined_calls_per_s                                              */

static void
bench_pipelined (MitogenContext *ctx,
                 const Options  *opts)
{
  g_autofree double *rates = g_new (double, opts->runs);
  g_autofree MitogenReceiver **receivers = g_new (MitogenReceiver *, opts->pipelined);

  for (guint r = 0; r < opts->runs; r++)
    {
      gint64 t0 = g_get_monotonic_time ();
      double secs;

      for (guint i = 0; i < opts->pipelined; i++)
        {
          receivers[i] = mitogen_context_begin_call (ctx, "mitogen.noop", NULL);
          if (receivers[i] == NULL)
            die ("mitogen_context_begin_call returned NULL", NULL);
        }
      for (guint i = 0; i < opts->pipelined; i++)
        {
          g_variant_unref (collect (receivers[i], "pipelined mitogen.noop"));
          g_object_unref (receivers[i]);
        }
      secs = (g_get_monotonic_time () - t0) / 1e6;
      rates[r] = opts->pipelined / secs;
    }
  emit ("pipelined_calls_per_s", median (rates, opts->runs), "calls/s");
}

/* ------------------------------------------------------------------ */
/* bulk_MBps                                                          */

static MitogenReceiver *
begin_bytes (MitogenContext *ctx)
{
  MitogenReceiver *receiver = mitogen_context_begin_call (ctx, "mitogen.bytes",
                                                          g_variant_new ("(ty)", (guint64) BULK_SIZE, (guchar) 0));
  if (receiver == NULL)
    die ("mitogen_context_begin_call returned NULL", NULL);
  return receiver;
}

/* @runs runs of @count mitogen.bytes replies of BULK_SIZE, at most
 * opts->bulk_window in flight; the median MB/s. */
static double
bulk_rate (MitogenContext *ctx,
           const Options  *opts,
           guint           count,
           guint           runs)
{
  g_autofree double *rates = g_new (double, runs);
  g_autoptr(GQueue) window = g_queue_new ();

  for (guint r = 0; r < runs; r++)
    {
      gint64 t0 = g_get_monotonic_time ();
      guint issued = 0, done = 0;
      double secs;

      while (issued < count && issued < opts->bulk_window)
        {
          g_queue_push_tail (window, begin_bytes (ctx));
          issued++;
        }
      while (done < count)
        {
          MitogenReceiver *receiver = g_queue_pop_head (window);
          g_autoptr(GVariant) value = collect (receiver, "mitogen.bytes");
          gsize n = 0;
          const guint8 *data = g_variant_get_fixed_array (value, &n, 1);

          if (n != BULK_SIZE || data[0] != 0 || data[n - 1] != 0)
            die ("mitogen.bytes returned the wrong bytes", NULL);
          g_object_unref (receiver);
          done++;
          if (issued < count)
            {
              g_queue_push_tail (window, begin_bytes (ctx));
              issued++;
            }
        }
      secs = (g_get_monotonic_time () - t0) / 1e6;
      rates[r] = (double) count * BULK_SIZE / 1e6 / secs;
    }
  return median (rates, runs);
}

/* raw_stream_MBps: a forked child that streams zeros into a socketpair,
 * BULK_SIZE bytes per write, each time the parent asks with one byte;
 * the parent reads them BULK_SIZE at a time. Forked before any thread
 * exists; it exits when the parent closes its end. */
typedef struct
{
  int    fd;
  pid_t  pid;
  guint8 *buffer;  /* (owned) BULK_SIZE bytes the parent reads into */
} RawStream;

static void
raw_stream_start (RawStream *raw)
{
  int fd;

  raw->pid = fork_with_socket (&fd);
  if (raw->pid == 0)
    {
      guint8 *zeros = calloc (1, BULK_SIZE);
      guint64 total;

      while (zeros != NULL && read (fd, &total, sizeof total) == sizeof total)
        while (total > 0)
          {
            ssize_t n = write (fd, zeros, MIN (total, (guint64) BULK_SIZE));
            if (n < 0 && errno == EINTR)
              continue;
            if (n <= 0)
              _exit (1);
            total -= (guint64) n;
          }
      _exit (0);
    }
  raw->fd = fd;
  raw->buffer = g_malloc (BULK_SIZE);
}

/* MB/s of one run of @count x BULK_SIZE bytes. */
static double
raw_stream_run (RawStream *raw,
                guint      count)
{
  guint64 total = (guint64) count * BULK_SIZE, left = total;
  gint64 t0 = g_get_monotonic_time ();

  if (write (raw->fd, &total, sizeof total) != sizeof total)
    {
      fprintf (stderr, "mitogen-bench: raw stream: %s\n", g_strerror (errno));
      exit (1);
    }
  while (left > 0)
    {
      ssize_t n = read (raw->fd, raw->buffer, MIN (left, (guint64) BULK_SIZE));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          fprintf (stderr, "mitogen-bench: raw stream: %s\n", n == 0 ? "EOF" : g_strerror (errno));
          exit (1);
        }
      left -= (guint64) n;
    }
  return (double) total / 1e6 / ((g_get_monotonic_time () - t0) / 1e6);
}

static void
raw_stream_stop (RawStream *raw)
{
  if (raw->fd < 0)
    return;
  close (raw->fd);
  waitpid (raw->pid, NULL, 0);
  g_free (raw->buffer);
  raw->fd = -1;
}

/* bulk_MBps, with raw_stream_MBps (the same bytes through a bare
 * socketpair) in alternating runs, and their ratio per run. */
static void
bench_bulk (MitogenContext *ctx,
            const Options  *opts,
            RawStream      *raw)
{
  GPid self_pid = getpid ();
  GPid agent_pid = (GPid) call_getpid (ctx);
  gboolean peak_reset = reset_peak_rss (self_pid);
  gboolean agent_peak_reset = reset_peak_rss (agent_pid);
  gint64 rss_before = peak_reset ? proc_status_kb (self_pid, "VmRSS") : self_maxrss_kb ();
  gint64 rss_after, agent_hwm;
  g_autofree double *ours = g_new (double, opts->runs);
  g_autofree double *bare = g_new (double, opts->runs);
  g_autofree double *pct = g_new (double, opts->runs);

  for (guint r = 0; r < opts->runs; r++)
    {
      bare[r] = raw_stream_run (raw, opts->bulk_count);
      ours[r] = bulk_rate (ctx, opts, opts->bulk_count, 1);
      pct[r] = 100.0 * ours[r] / bare[r];
    }
  emit ("bulk_MBps", median (ours, opts->runs), "MB/s");
  emit ("raw_stream_MBps", median (bare, opts->runs), "MB/s");
  emit ("bulk_vs_raw_pct", median (pct, opts->runs), "%");
  /* Peak RSS during the runs minus RSS before them. Without clear_refs
   * this is the growth of the process's all-time peak, which earlier
   * scenarios may already have raised. */
  rss_after = peak_reset ? proc_status_kb (self_pid, "VmHWM") : self_maxrss_kb ();
  if (!peak_reset)
    note ("cannot reset VmHWM: bulk_master_maxrss_growth_kB uses getrusage");
  emit ("bulk_master_maxrss_growth_kB", (double) (rss_after - rss_before), "kB");
  agent_hwm = proc_status_kb (agent_pid, "VmHWM");
  if (!agent_peak_reset)
    note ("cannot reset the agent's VmHWM: bulk_agent_vmhwm_kB is its all-time peak");
  if (agent_hwm >= 0)
    emit ("bulk_agent_vmhwm_kB", (double) agent_hwm, "kB");
}

/* ------------------------------------------------------------------ */
/* start32_seq_ms / start32_par_ms                                    */

static void
stop_all (GPtrArray *contexts)
{
  /* Ask them all first, then wait for each. */
  for (guint i = 0; i < contexts->len; i++)
    mitogen_context_shutdown (g_ptr_array_index (contexts, i), 0, NULL);
  for (guint i = 0; i < contexts->len; i++)
    stop_context (g_ptr_array_index (contexts, i));
  g_ptr_array_set_size (contexts, 0);
}

static void
getpid_all (GPtrArray *contexts)
{
  g_autoptr(GPtrArray) receivers = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint i = 0; i < contexts->len; i++)
    g_ptr_array_add (receivers, mitogen_context_begin_call (g_ptr_array_index (contexts, i), "os.getpid", NULL));
  for (guint i = 0; i < receivers->len; i++)
    g_variant_unref (collect (g_ptr_array_index (receivers, i), "os.getpid"));
}

static void
bench_start_seq (MitogenRouter *router,
                 const Options *opts)
{
  g_autofree double *ms = g_new (double, opts->runs);
  g_autoptr(GPtrArray) contexts = g_ptr_array_new ();

  for (guint r = 0; r < opts->runs; r++)
    {
      gint64 t0 = g_get_monotonic_time ();

      for (guint i = 0; i < opts->start_n; i++)
        {
          MitogenContext *ctx = start_context (router);
          call_getpid (ctx);
          g_ptr_array_add (contexts, ctx);
        }
      ms[r] = (g_get_monotonic_time () - t0) / 1000.0;
      stop_all (contexts);
    }
  emit (opts->start_n == 32 ? "start32_seq_ms" : "startN_seq_ms", median (ms, opts->runs), "ms");
}

typedef struct
{
  GPtrArray *contexts;
  guint      pending;
  GError    *error;
} ParallelStart;

static void
connected_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  ParallelStart *ps = user_data;
  GError *error = NULL;
  MitogenContext *ctx = mitogen_router_connect_finish (MITOGEN_ROUTER (source), result, &error);

  if (ctx != NULL)
    g_ptr_array_add (ps->contexts, ctx);
  else if (ps->error == NULL)
    ps->error = error;
  else
    g_error_free (error);
  ps->pending--;
}

/* The machine's floor for start32_par_ms: @n processes of /bin/true
 * spawned at once (posix_spawn, which vforks) and reaped, in ms. No
 * agent, no socket, no GLib: only the kernel's process creation, exec
 * and exit, which on a small VM is most of a local start. */
static double
spawn_true_par (guint n)
{
  static char *argv[] = { (char *) "true", NULL };
  extern char **environ;
  g_autofree pid_t *pids = g_new (pid_t, n);
  gint64 t0 = g_get_monotonic_time ();

  for (guint i = 0; i < n; i++)
    if (posix_spawn (&pids[i], "/bin/true", NULL, NULL, argv, environ) != 0)
      pids[i] = -1;
  for (guint i = 0; i < n; i++)
    if (pids[i] > 0)
      while (waitpid (pids[i], NULL, 0) < 0 && errno == EINTR)
        ;
  return (g_get_monotonic_time () - t0) / 1000.0;
}

static void
bench_start_par (MitogenRouter *router,
                 const Options *opts)
{
  g_autofree double *floor_ms = g_new (double, opts->runs);
  g_autofree double *ms = g_new (double, opts->runs);
  g_autoptr(GPtrArray) contexts = g_ptr_array_new ();
  g_autoptr(GMainContext) main_context = g_main_context_new ();

  g_main_context_push_thread_default (main_context);
  for (guint r = 0; r < opts->runs; r++)
    {
      gint64 t0 = g_get_monotonic_time ();
      ParallelStart ps = { contexts, opts->start_n, NULL };

      floor_ms[r] = spawn_true_par (opts->start_n);
      t0 = g_get_monotonic_time ();

      for (guint i = 0; i < opts->start_n; i++)
        mitogen_router_connect_async (router, "local", NULL, NULL, NULL, connected_cb, &ps);
      while (ps.pending > 0)
        g_main_context_iteration (main_context, TRUE);
      if (ps.error != NULL)
        die ("mitogen_router_connect_async", ps.error);
      getpid_all (contexts);
      ms[r] = (g_get_monotonic_time () - t0) / 1000.0;
      stop_all (contexts);
    }
  g_main_context_pop_thread_default (main_context);
  emit (opts->start_n == 32 ? "start32_par_ms" : "startN_par_ms", median (ms, opts->runs), "ms");
  emit (opts->start_n == 32 ? "true32_par_ms" : "trueN_par_ms", median (floor_ms, opts->runs), "ms");
}

/* ------------------------------------------------------------------ */
/* idle_agent_rss_kB                                                  */

static void
bench_idle_rss (MitogenRouter *router)
{
  MitogenContext *ctx = start_context (router);
  gint64 pid = 0, rss;

  for (guint i = 0; i < 10; i++)
    {
      call_noop (ctx);
      pid = call_getpid (ctx);
    }
  if (pid != mitogen_context_get_pid (ctx))
    note ("os.getpid says %" G_GINT64_FORMAT ", mitogen_context_get_pid says %d; using the former",
          pid, (int) mitogen_context_get_pid (ctx));
  g_usleep (200 * 1000);
  rss = proc_status_kb ((GPid) pid, "VmRSS");
  if (rss < 0)
    die ("cannot read VmRSS of the agent", NULL);
  emit ("idle_agent_rss_kB", (double) rss, "kB");
  stop_context (ctx);
}

/* ------------------------------------------------------------------ */
/* Log capture: bootstrap_bytes_* and --trace                          */

/* The library logs "METHOD: bootstrap shipped N agent bytes (REPORT)" at
 * debug level in the domain mitogen-connect once the agent image (or
 * nothing, when the target had it cached) has been handed to the
 * transport. Our writer takes N from it; with --trace it also prints
 * every message, of every level and domain, with the time since the last
 * trace_reset (). Other messages go to GLib's default writer (which
 * drops debug messages unless G_MESSAGES_DEBUG asks for them). */
static GMutex   log_lock;
static gint64   shipped_bytes = -1;     /* under log_lock; -1: not seen */
static gboolean trace_on;
static gint64   trace_t0;

static void
trace_reset (const char *what)
{
  trace_t0 = g_get_monotonic_time ();
  if (trace_on)
    fprintf (stderr, "trace %9.3f ms  -- %s\n", 0.0, what);
}

static void
trace_mark (const char *what)
{
  if (trace_on)
    fprintf (stderr, "trace %9.3f ms  -- %s\n", (g_get_monotonic_time () - trace_t0) / 1000.0, what);
}

static GLogWriterOutput
bench_log_writer (GLogLevelFlags   level,
                  const GLogField *fields,
                  gsize            n_fields,
                  gpointer         user_data)
{
  gint64 now = g_get_monotonic_time ();
  g_autofree char *domain = NULL;
  g_autofree char *message = NULL;

  for (gsize i = 0; i < n_fields; i++)
    {
      char **slot = g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0 ? &domain
                  : g_strcmp0 (fields[i].key, "MESSAGE") == 0 ? &message : NULL;

      if (slot != NULL && *slot == NULL && fields[i].value != NULL)
        *slot = fields[i].length < 0 ? g_strdup (fields[i].value)
                                     : g_strndup (fields[i].value, (gsize) fields[i].length);
    }

  if (message != NULL && g_strcmp0 (domain, "mitogen-connect") == 0)
    {
      const char *p = strstr (message, "bootstrap shipped ");

      if (p != NULL)
        {
          char *end = NULL;
          guint64 n = g_ascii_strtoull (p + strlen ("bootstrap shipped "), &end, 10);

          if (end != NULL && g_str_has_prefix (end, " agent bytes"))
            {
              g_mutex_lock (&log_lock);
              shipped_bytes = (gint64) n;
              g_mutex_unlock (&log_lock);
            }
        }
    }

  if (trace_on)
    {
      fprintf (stderr, "trace %9.3f ms  [%s] %s\n", (now - trace_t0) / 1000.0,
               domain != NULL ? domain : "-", message != NULL ? message : "");
      return G_LOG_WRITER_HANDLED;
    }
  return g_log_writer_default (level, fields, n_fields, user_data);
}

static void
shipped_reset (void)
{
  g_mutex_lock (&log_lock);
  shipped_bytes = -1;
  g_mutex_unlock (&log_lock);
}

static gint64
shipped_get (void)
{
  gint64 n;

  g_mutex_lock (&log_lock);
  n = shipped_bytes;
  g_mutex_unlock (&log_lock);
  return n;
}

/* ------------------------------------------------------------------ */
/* ssh: ssh_start_*, openssh_true_ms, ssh_call_rtt_us, ssh_bulk_MBps,  */
/* openssh_cat_MBps, bootstrap_bytes_*, agent_image_*_bytes            */

/* The sshd to measure against: bench/ssh-host start (which bench/run
 * runs) exports MITOGEN_BENCH_SSH_*. */
typedef struct
{
  const char *na;        /* why the ssh figures cannot be measured, or NULL */
  const char *host;
  int         port;
  const char *user;
  const char *key;
  const char *cipher;
  char       *ssh;       /* (owned) the OpenSSH client */
} SshHost;

static const char * const ssh_start_names[] = {
  "ssh_start_first_ms", "ssh_start_ms", "ssh_start_gz_ms", "ssh_start_xz_ms", "ssh_start_cached_ms",
  "openssh_true_ms", "bootstrap_bytes_cold", "bootstrap_bytes_gz", "bootstrap_bytes_xz", "bootstrap_bytes_cached",
  "agent_image_raw_bytes", "agent_image_gz_bytes", "agent_image_zst_bytes", "agent_image_xz_bytes", NULL
};
static const char * const ssh_self_names[] = {
  "ssh_start_stock_nocache_ms", "ssh_start_self_cold_ms", "ssh_start_self_warm_ms",
  "bootstrap_bytes_self_cold", "bootstrap_bytes_self_warm", NULL
};
static const char * const ssh_link_names[] = {
  "ssh_call_rtt_us", "ssh_bulk_MBps", "openssh_cat_MBps", "ssh_bulk_vs_openssh_pct", "openssh_cat_pipe_MBps", NULL
};

static void
emit_na (const char *name,
         const char *reason)
{
  g_autofree char *flat = g_strdup (reason);

  g_strdelimit (flat, "\t\n", ' ');
  printf ("%s\tNA\t%s\n", name, flat);
  fflush (stdout);
}

static void
ssh_host_init (SshHost *h)
{
  const char *port = g_getenv ("MITOGEN_BENCH_SSH_PORT");

  memset (h, 0, sizeof *h);
  h->na = g_getenv ("MITOGEN_BENCH_SSH_NA");
  if (h->na != NULL && h->na[0] != '\0')
    return;
  h->na = NULL;
  h->host = g_getenv ("MITOGEN_BENCH_SSH_HOST");
  h->user = g_getenv ("MITOGEN_BENCH_SSH_USER");
  h->key = g_getenv ("MITOGEN_BENCH_SSH_KEY");
  h->cipher = g_getenv ("MITOGEN_BENCH_SSH_CIPHER");
  h->port = port != NULL ? atoi (port) : 0;
  if (h->host == NULL || h->user == NULL || h->key == NULL || h->cipher == NULL || h->port <= 0)
    {
      h->na = "no sshd given: run through bench/run, or eval \"$(bench/ssh-host start)\" first";
      return;
    }
  h->ssh = g_find_program_in_path ("ssh");
  if (h->ssh == NULL)
    h->na = "no OpenSSH client (ssh) in PATH";
}

/* Options of an ssh connect to @h. Host keys are not checked (a
 * throwaway sshd), the ssh configuration files are not read (the OpenSSH
 * client runs with -F none), no compression; the agent is shipped, in
 * @format (NULL: the default). */
static GVariant *
ssh_options (const SshHost *h,
             const char    *format,
             gboolean       cache)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "hostname", g_variant_new_string (h->host));
  g_variant_builder_add (&b, "{sv}", "port", g_variant_new_int32 (h->port));
  g_variant_builder_add (&b, "{sv}", "username", g_variant_new_string (h->user));
  g_variant_builder_add (&b, "{sv}", "identity_file", g_variant_new_string (h->key));
  g_variant_builder_add (&b, "{sv}", "check_host_keys", g_variant_new_string ("ignore"));
  g_variant_builder_add (&b, "{sv}", "ssh_config", g_variant_new_boolean (FALSE));
  g_variant_builder_add (&b, "{sv}", "compression_level", g_variant_new_int32 (0));
  g_variant_builder_add (&b, "{sv}", "bootstrap", g_variant_new_boolean (TRUE));
  if (format != NULL)
    g_variant_builder_add (&b, "{sv}", "bootstrap_format", g_variant_new_string (format));
  g_variant_builder_add (&b, "{sv}", "agent_cache", g_variant_new_boolean (cache));
  return g_variant_builder_end (&b);
}

/* agent=self (this benchmark's own closure), with or without the cache. */
static GVariant *
ssh_self_options (const SshHost *h,
                  gboolean       cache)
{
  g_autoptr(GVariant) base = g_variant_ref_sink (ssh_options (h, NULL, cache));
  GVariantDict dict;

  g_variant_dict_init (&dict, base);
  g_variant_dict_insert (&dict, "agent", "s", "self");
  return g_variant_dict_end (&dict);
}

static MitogenContext *
ssh_connect (MitogenRouter *router,
             const SshHost *h,
             const char    *format,
             gboolean       cache)
{
  g_autoptr(GError) error = NULL;
  MitogenContext *ctx = mitogen_router_connect (router, "ssh", ssh_options (h, format, cache), NULL, NULL, &error);

  if (ctx == NULL)
    die ("mitogen_router_connect (ssh)", error);
  return ctx;
}

/* One ssh start: connect, first reply of os.getpid; ms. The agent bytes
 * the library says it shipped go to @shipped (-1 if it said nothing). */
static double
ssh_start_once (MitogenRouter *router,
                const SshHost *h,
                const char    *format,
                gboolean       cache,
                gint64        *shipped)
{
  gint64 t0;
  double ms;
  MitogenContext *ctx;

  shipped_reset ();
  trace_reset (cache ? "ssh connect (agent_cache)" : format != NULL ? format : "default format");
  t0 = g_get_monotonic_time ();
  ctx = ssh_connect (router, h, format, cache);
  trace_mark ("connect returned");
  call_getpid (ctx);
  ms = (g_get_monotonic_time () - t0) / 1000.0;
  trace_mark ("first reply (os.getpid)");
  *shipped = shipped_get ();
  stop_context (ctx);
  return ms;
}

/* The OpenSSH client's argv for running @command on @h: the same key,
 * cipher and (by the server's choice) key exchange as ours; no config
 * files, no host key check, no stdin. */
static GPtrArray *
openssh_argv (const SshHost *h,
              const char    *command)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  const char *fixed[] = {
    "-F", "none", "-T", "-n",
    "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
    "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-o", "Compression=no",
  };

  g_ptr_array_add (argv, g_strdup (h->ssh));
  for (gsize i = 0; i < G_N_ELEMENTS (fixed); i++)
    g_ptr_array_add (argv, g_strdup (fixed[i]));
  g_ptr_array_add (argv, g_strdup ("-o"));
  g_ptr_array_add (argv, g_strdup_printf ("Ciphers=%s", h->cipher));
  g_ptr_array_add (argv, g_strdup ("-i"));
  g_ptr_array_add (argv, g_strdup (h->key));
  g_ptr_array_add (argv, g_strdup ("-p"));
  g_ptr_array_add (argv, g_strdup_printf ("%d", h->port));
  g_ptr_array_add (argv, g_strdup ("-l"));
  g_ptr_array_add (argv, g_strdup (h->user));
  g_ptr_array_add (argv, g_strdup (h->host));
  g_ptr_array_add (argv, g_strdup (command));
  g_ptr_array_add (argv, NULL);
  return argv;
}

/* `ssh ... true`: from spawning the client to its exit; ms. */
static double
openssh_true_once (const SshHost *h)
{
  g_autoptr(GPtrArray) argv = openssh_argv (h, "true");
  g_autoptr(GError) error = NULL;
  int status = 0;
  gint64 t0;
  double ms;

  trace_reset ("openssh true");
  t0 = g_get_monotonic_time ();
  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
                     NULL, NULL, NULL, NULL, &status, &error) ||
      !g_spawn_check_wait_status (status, &error))
    die ("ssh ... true", error);
  ms = (g_get_monotonic_time () - t0) / 1000.0;
  trace_mark ("ssh exited");
  return ms;
}

/* `ssh ... 'head -c BYTES /dev/zero' > /dev/null`: from spawning the
 * client to its exit; ms. */
static double
openssh_cat_devnull_once (const SshHost *h,
                          guint64        bytes)
{
  g_autofree char *command = g_strdup_printf ("head -c %" G_GUINT64_FORMAT " /dev/zero", bytes);
  g_autoptr(GPtrArray) argv = openssh_argv (h, command);
  g_autoptr(GError) error = NULL;
  int status = 0;
  gint64 t0 = g_get_monotonic_time ();

  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
                     NULL, NULL, NULL, NULL, &status, &error) ||
      !g_spawn_check_wait_status (status, &error))
    die ("ssh ... head -c > /dev/null", error);
  return (g_get_monotonic_time () - t0) / 1000.0;
}

/* `ssh ... 'head -c BYTES /dev/zero'`, its output read by us through a
 * pipe (1 MiB reads, first and last byte of each checked, then dropped):
 * MB/s from the first byte received to the last, so the connect is not
 * counted (as it is not in ssh_bulk_MBps). */
static double
openssh_cat_pipe_rate (const SshHost *h,
                       guint64        bytes)
{
  g_autofree char *command = g_strdup_printf ("head -c %" G_GUINT64_FORMAT " /dev/zero", bytes);
  g_autoptr(GPtrArray) argv = openssh_argv (h, command);
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *buf = g_malloc (BULK_SIZE);
  guint64 total = 0, first = 0;
  gint64 t_first = 0, t_end;
  GPid pid;
  int out = -1, status = 0;

  if (!g_spawn_async_with_pipes_and_fds (NULL, (const char * const *) argv->pdata, NULL,
                                         G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, -1, -1, -1, NULL, NULL, 0,
                                         &pid, NULL, &out, NULL, &error))
    die ("ssh ... head -c", error);
  for (;;)
    {
      ssize_t n = read (out, buf, BULK_SIZE);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          fprintf (stderr, "mitogen-bench: reading from ssh: %s\n", g_strerror (errno));
          exit (1);
        }
      if (n == 0)
        break;
      if (total == 0)
        {
          t_first = g_get_monotonic_time ();
          first = (guint64) n;
        }
      if (buf[0] != 0 || buf[n - 1] != 0)
        die ("ssh ... head -c /dev/zero sent non-zero bytes", NULL);
      total += (guint64) n;
    }
  t_end = g_get_monotonic_time ();
  close (out);
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  g_spawn_close_pid (pid);
  if (!g_spawn_check_wait_status (status, &error))
    die ("ssh ... head -c", error);
  if (total != bytes || t_end <= t_first)
    die ("ssh ... head -c /dev/zero sent the wrong number of bytes", NULL);
  return (double) (total - first) / 1e6 / ((t_end - t_first) / 1e6);
}

/* Size of the agent image file @suffix ("", ".gz", ".zst", ".xz") next to the
 * agent this library ships; -1 if absent. */
static gint64
agent_image_size (const char *suffix)
{
  const char *env = g_getenv ("MITOGEN_AGENT_PATH");
  g_autofree char *path = g_strconcat (env != NULL && env[0] != '\0' ? env : BENCH_AGENT_PATH, suffix, NULL);
  struct stat st;

  return stat (path, &st) == 0 ? (gint64) st.st_size : -1;
}

static void
emit_bytes (const char *name,
            gint64      value,
            const char *na_reason)
{
  if (value < 0)
    emit_na (name, na_reason);
  else
    {
      printf ("%s\t%" G_GINT64_FORMAT "\tB\n", name, value);
      fflush (stdout);
    }
}

/* The agent image files: sizes only, no sshd needed. */
static void
emit_agent_images (const Options *opts)
{
  const char *image_na = "no such file next to the agent (BENCH_AGENT_PATH / MITOGEN_AGENT_PATH)";

  if (wanted (opts, "agent_image_raw_bytes"))
    emit_bytes ("agent_image_raw_bytes", agent_image_size (""), image_na);
  if (wanted (opts, "agent_image_gz_bytes"))
    emit_bytes ("agent_image_gz_bytes", agent_image_size (".gz"), image_na);
  if (wanted (opts, "agent_image_zst_bytes"))
    emit_bytes ("agent_image_zst_bytes", agent_image_size (".zst"), image_na);
  if (wanted (opts, "agent_image_xz_bytes"))
    emit_bytes ("agent_image_xz_bytes", agent_image_size (".xz"), image_na);
}

static void
bench_ssh_start (MitogenRouter *router,
                 const Options *opts,
                 const SshHost *h)
{
  enum { KIND_DEFAULT, KIND_GZ, KIND_XZ, KIND_CACHED, KIND_OPENSSH, N_KINDS };
  static const char * const formats[N_KINDS] = { NULL, "gz", "xz", NULL, NULL };
  static const char * const kind_names[N_KINDS] = { "default", "gz", "xz", "cached", "openssh" };
  double *ms[N_KINDS] = { NULL };  /* (owned): g_autofree would free only ms[0] */
  gint64 shipped[N_KINDS] = { -1, -1, -1, -1, -1 };
  gint64 n, first_shipped;
  double first_ms;

  for (int k = 0; k < N_KINDS; k++)
    ms[k] = g_new (double, opts->ssh_runs);

  /* The first connect of this process: also loads the ssh plugin and
   * libssh, reads the agent image. */
  first_ms = ssh_start_once (router, h, NULL, FALSE, &first_shipped);
  /* Warm-ups, not counted: the agent goes into the target's cache (the
   * first connect with agent_cache ships it), the OpenSSH client's
   * pages into the page cache. */
  ssh_start_once (router, h, NULL, TRUE, &n);
  note ("ssh: first connect %.1f ms (shipped %" G_GINT64_FORMAT " agent bytes); "
        "cache-priming connect shipped %" G_GINT64_FORMAT, first_ms, first_shipped, n);
  openssh_true_once (h);

  /* Interleaved, the order rotating each round, so that the machine's
   * slow phases spread over all four. */
  for (guint r = 0; r < opts->ssh_runs; r++)
    for (int j = 0; j < N_KINDS; j++)
      {
        int k = (int) ((r + (guint) j) % N_KINDS);

        if (k == KIND_OPENSSH)
          {
            ms[k][r] = openssh_true_once (h);
            continue;
          }
        ms[k][r] = ssh_start_once (router, h, formats[k], k == KIND_CACHED, &n);
        if (shipped[k] != -1 && n != shipped[k])
          note ("ssh: %s connects shipped different agent byte counts: %" G_GINT64_FORMAT
                " and %" G_GINT64_FORMAT, kind_names[k], shipped[k], n);
        shipped[k] = n;
      }

  emit ("ssh_start_first_ms", first_ms, "ms");
  emit ("ssh_start_ms", median (ms[KIND_DEFAULT], opts->ssh_runs), "ms");
  emit ("ssh_start_gz_ms", median (ms[KIND_GZ], opts->ssh_runs), "ms");
  emit ("ssh_start_xz_ms", median (ms[KIND_XZ], opts->ssh_runs), "ms");
  emit ("ssh_start_cached_ms", median (ms[KIND_CACHED], opts->ssh_runs), "ms");
  emit ("openssh_true_ms", median (ms[KIND_OPENSSH], opts->ssh_runs), "ms");
  emit_bytes ("bootstrap_bytes_cold", shipped[KIND_DEFAULT], "no 'bootstrap shipped' debug message from mitogen-connect");
  emit_bytes ("bootstrap_bytes_gz", shipped[KIND_GZ], "no 'bootstrap shipped' debug message from mitogen-connect");
  emit_bytes ("bootstrap_bytes_xz", shipped[KIND_XZ], "no 'bootstrap shipped' debug message from mitogen-connect");
  emit_bytes ("bootstrap_bytes_cached", shipped[KIND_CACHED], "no 'bootstrap shipped' debug message from mitogen-connect");
  emit_agent_images (opts);
  for (int k = 0; k < N_KINDS; k++)
    g_free (ms[k]);
}

/* agent=self over ssh, next to the stock agent in the same rounds: the
 * stock agent without cache (default format shipped), this program's closure
 * shipped (agent_cache off: a private directory, every file sent), and
 * from the target's cache (after one priming connect: nothing sent). */
static void
bench_ssh_self (MitogenRouter *router,
                const Options *opts,
                const SshHost *h)
{
  enum { KIND_STOCK, KIND_COLD, KIND_WARM, N_KINDS };
  double *ms[N_KINDS] = { NULL };
  guint64 shipped[N_KINDS] = { 0, 0, 0 };
  g_autoptr(MitogenContext) prime = NULL;
  g_autoptr(GError) error = NULL;

  for (int k = 0; k < N_KINDS; k++)
    ms[k] = g_new (double, opts->ssh_runs);
  prime = mitogen_router_connect (router, "ssh", ssh_self_options (h, TRUE), NULL, NULL, &error);
  if (prime == NULL)
    die ("mitogen_router_connect (ssh, agent=self)", error);
  note ("ssh agent=self: priming connect shipped %" G_GUINT64_FORMAT " bytes",
        mitogen_context_get_bootstrap_bytes (prime));
  stop_context (g_steal_pointer (&prime));

  for (guint r = 0; r < opts->ssh_runs; r++)
    for (int j = 0; j < N_KINDS; j++)
      {
        int k = (int) ((r + (guint) j) % N_KINDS);
        GVariant *options = k == KIND_STOCK ? ssh_options (h, NULL, FALSE) : ssh_self_options (h, k == KIND_WARM);
        MitogenContext *ctx;
        gint64 t0 = g_get_monotonic_time ();

        ctx = mitogen_router_connect (router, "ssh", options, NULL, NULL, &error);
        if (ctx == NULL)
          die ("mitogen_router_connect (ssh)", error);
        call_getpid (ctx);
        ms[k][r] = (g_get_monotonic_time () - t0) / 1000.0;
        shipped[k] = mitogen_context_get_bootstrap_bytes (ctx);
        stop_context (ctx);
      }

  emit ("ssh_start_stock_nocache_ms", median (ms[KIND_STOCK], opts->ssh_runs), "ms");
  emit ("ssh_start_self_cold_ms", median (ms[KIND_COLD], opts->ssh_runs), "ms");
  emit ("ssh_start_self_warm_ms", median (ms[KIND_WARM], opts->ssh_runs), "ms");
  emit_bytes ("bootstrap_bytes_self_cold", (gint64) shipped[KIND_COLD], NULL);
  emit_bytes ("bootstrap_bytes_self_warm", (gint64) shipped[KIND_WARM], NULL);
  for (int k = 0; k < N_KINDS; k++)
    g_free (ms[k]);
}

static void
bench_ssh_link (MitogenRouter *router,
                const Options *opts,
                const SshHost *h)
{
  MitogenContext *ctx = ssh_connect (router, h, NULL, FALSE);
  guint runs = opts->ssh_bulk_runs;
  guint64 bytes = (guint64) opts->ssh_bulk_count * BULK_SIZE;
  g_autofree double *ours = g_new (double, runs);
  g_autofree double *cat_ms = g_new (double, runs);
  g_autofree double *true_ms = g_new (double, runs);
  g_autofree double *pipe = g_new (double, runs);
  g_autofree double *pct = g_new (double, runs);
  gboolean want_ours = wanted (opts, "ssh_bulk_MBps") || wanted (opts, "ssh_bulk_vs_openssh_pct");
  gboolean want_cat = wanted (opts, "openssh_cat_MBps") || wanted (opts, "ssh_bulk_vs_openssh_pct");
  gboolean want_pipe = wanted (opts, "openssh_cat_pipe_MBps");

  watchdog_arm ();
  if (wanted (opts, "ssh_call_rtt_us"))
    bench_call_rtt (ctx, opts, "ssh_call_rtt_us");

  /* Bulk, ours and OpenSSH's, run alternately (this machine's slow
   * phases then hit both alike): per round one run of ours over the open
   * context; `ssh ... true` and `ssh ... 'head -c' > /dev/null` (its
   * transfer time: the second minus the median of the first); `ssh ...
   * 'head -c'` read through a pipe. */
  watchdog_arm ();
  if (want_cat || want_pipe)
    openssh_true_once (h);  /* warm-up */
  for (guint r = 0; r < runs && (want_ours || want_cat || want_pipe); r++)
    {
      if (want_ours)
        ours[r] = bulk_rate (ctx, opts, opts->ssh_bulk_count, 1);
      if (want_cat)
        {
          true_ms[r] = openssh_true_once (h);
          cat_ms[r] = openssh_cat_devnull_once (h, bytes);
        }
      if (want_pipe)
        pipe[r] = openssh_cat_pipe_rate (h, bytes);
    }
  stop_context (ctx);

  if (want_cat)
    {
      double connect_ms = median (true_ms, runs);
      double transfer_ms;

      for (guint r = 0; r < runs; r++)
        {
          transfer_ms = cat_ms[r] - connect_ms;
          if (transfer_ms <= 0)
            die ("openssh_cat_MBps: the transfer took no measurable time", NULL);
          cat_ms[r] = (double) bytes / 1e6 / (transfer_ms / 1000.0);  /* now MB/s */
          if (want_ours)
            pct[r] = 100.0 * ours[r] / cat_ms[r];
        }
    }
  if (wanted (opts, "ssh_bulk_MBps"))
    emit ("ssh_bulk_MBps", median (ours, runs), "MB/s");
  if (wanted (opts, "openssh_cat_MBps"))
    emit ("openssh_cat_MBps", median (cat_ms, runs), "MB/s");
  if (wanted (opts, "ssh_bulk_vs_openssh_pct"))
    emit ("ssh_bulk_vs_openssh_pct", median (pct, runs), "%");
  if (want_pipe)
    emit ("openssh_cat_pipe_MBps", median (pipe, runs), "MB/s");
}

/* ------------------------------------------------------------------ */
/* sudo: sudo_start_ms, sudo_start_nobootstrap_ms, sudo_true_ms        */

/* As root (sudo does not prompt root), to nobody. */
static const char * const sudo_names[] = {
  "sudo_start_ms", "sudo_start_nobootstrap_ms", "sudo_true_ms", NULL
};

/* One sudo start: connect, first reply of os.getpid; ms. NULL @error
 * dies on failure; otherwise returns -1 with @error set. */
static double
sudo_start_once (MitogenRouter  *router,
                 gboolean        bootstrap,
                 GError        **error)
{
  g_autoptr(MitogenContext) ctx = NULL;
  g_autoptr(GError) local_error = NULL;
  GVariantBuilder b;
  gint64 t0;
  double ms;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "username", g_variant_new_string ("nobody"));
  g_variant_builder_add (&b, "{sv}", "bootstrap", g_variant_new_boolean (bootstrap));
  trace_reset (bootstrap ? "sudo connect" : "sudo connect (no bootstrap)");
  t0 = g_get_monotonic_time ();
  ctx = mitogen_router_connect (router, "sudo", g_variant_builder_end (&b), NULL, NULL, &local_error);
  if (ctx == NULL)
    {
      if (error == NULL)
        die ("mitogen_router_connect (sudo)", local_error);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return -1;
    }
  call_getpid (ctx);
  ms = (g_get_monotonic_time () - t0) / 1000.0;
  trace_mark ("first reply");
  stop_context (g_steal_pointer (&ctx));
  return ms;
}

/* `sudo -u nobody true`: from spawning sudo to its exit; ms. */
static double
sudo_true_once (const char *sudo)
{
  const char *argv[] = { sudo, "-u", "nobody", "true", NULL };
  g_autoptr(GError) error = NULL;
  int status = 0;
  gint64 t0;
  double ms;

  trace_reset ("sudo true");
  t0 = g_get_monotonic_time ();
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, NULL,
                     &status, &error) ||
      !g_spawn_check_wait_status (status, &error))
    die ("sudo -u nobody true", error);
  ms = (g_get_monotonic_time () - t0) / 1000.0;
  trace_mark ("sudo exited");
  return ms;
}

static void
bench_sudo (const Options *opts)
{
  enum { KIND_BOOTSTRAP, KIND_DIRECT, KIND_SUDO, N_KINDS };
  guint runs = opts->quick ? 5 : 15;
  g_autofree char *sudo = g_find_program_in_path ("sudo");
  double *ms[N_KINDS] = { NULL };  /* (owned) freed at the end */
  g_autoptr(GError) direct_error = NULL;
  MitogenRouter *router;
  const char *na = NULL;

  if (getuid () != 0)
    na = "needs root: sudo would prompt anyone else for a password";
  else if (sudo == NULL)
    na = "sudo is not installed";
  if (na != NULL)
    {
      note ("sudo figures: NA (%s)", na);
      for (guint i = 0; sudo_names[i] != NULL; i++)
        if (wanted (opts, sudo_names[i]))
          emit_na (sudo_names[i], na);
      return;
    }

  for (int k = 0; k < N_KINDS; k++)
    ms[k] = g_new (double, runs);
  router = mitogen_router_new ();

  /* Warm-ups, not counted: the sudo plugin is loaded, the agent image
   * read and hashed, sudo's and the agent's pages are in the page cache.
   * The no-bootstrap start runs our agent by its path as nobody, which
   * works only where nobody can reach the build tree. */
  sudo_start_once (router, TRUE, NULL);
  if (sudo_start_once (router, FALSE, &direct_error) < 0)
    note ("sudo without bootstrap: %s", direct_error->message);
  sudo_true_once (sudo);

  /* Interleaved, the order rotating each round. */
  for (guint r = 0; r < runs; r++)
    for (int j = 0; j < N_KINDS; j++)
      {
        int k = (int) ((r + (guint) j) % N_KINDS);

        if (k == KIND_SUDO)
          ms[k][r] = sudo_true_once (sudo);
        else if (k == KIND_BOOTSTRAP)
          ms[k][r] = sudo_start_once (router, TRUE, NULL);
        else if (direct_error == NULL)
          ms[k][r] = sudo_start_once (router, FALSE, NULL);
      }

  if (wanted (opts, "sudo_start_ms"))
    emit ("sudo_start_ms", median (ms[KIND_BOOTSTRAP], runs), "ms");
  if (wanted (opts, "sudo_start_nobootstrap_ms"))
    {
      if (direct_error != NULL)
        emit_na ("sudo_start_nobootstrap_ms", direct_error->message);
      else
        emit ("sudo_start_nobootstrap_ms", median (ms[KIND_DIRECT], runs), "ms");
    }
  if (wanted (opts, "sudo_true_ms"))
    emit ("sudo_true_ms", median (ms[KIND_SUDO], runs), "ms");
  g_object_unref (router);
  for (guint k = 0; k < N_KINDS; k++)
    g_free (ms[k]);
}

static gboolean
wanted_any (const Options      *opts,
            const char * const *names)
{
  if (opts->only != NULL && g_strv_contains ((const char * const *) opts->only, "ssh"))
    return TRUE;
  for (guint i = 0; names[i] != NULL; i++)
    if (wanted (opts, names[i]))
      return TRUE;
  return FALSE;
}

/* ------------------------------------------------------------------ */

int
main (int    argc,
      char **argv)
{
  Options opts = { 0 };
  gboolean quick = FALSE;
  gboolean no_ssh = FALSE;
  int calls = 0;
  SshHost ssh_host;
  g_auto(GStrv) only = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GOptionContext) option_context = NULL;
  MitogenRouter *router;
  MitogenContext *ctx;
  RawStream raw = { .fd = -1 };
  GOptionEntry entries[] = {
    { "quick", 'q', 0, G_OPTION_ARG_NONE, &quick, "Few iterations: a smoke run", NULL },
    { "calls", 'n', 0, G_OPTION_ARG_INT, &calls, "Calls per call_rtt_us batch (default 20000, 2000 with --quick)", "N" },
    { "only", 0, 0, G_OPTION_ARG_STRING_ARRAY, &only, "Run only this scenario (repeatable; 'ssh': all ssh figures)", "NAME" },
    { "no-ssh", 0, 0, G_OPTION_ARG_NONE, &no_ssh, "Skip the ssh figures", NULL },
    { "trace", 0, 0, G_OPTION_ARG_NONE, &trace_on, "Print every log message (all levels) with the time since the start being measured", NULL },
    { NULL }
  };

  /* ssh_start_self_*: this program ships itself (agent=self); started
   * as an agent it serves and never returns. */
  mitogen_init (&argc, &argv);

  option_context = g_option_context_new ("- benchmarks of libmitogen");
  g_option_context_set_summary (option_context,
                                "Prints name<TAB>value<TAB>unit lines. Scenarios: raw_pingpong_us, local_start_ms,\n"
                                "call_rtt_us, pipelined_calls_per_s, bulk_MBps, start32_seq_ms, start32_par_ms,\n"
                                "idle_agent_rss_kB; over ssh (an sshd from bench/ssh-host, given by the\n"
                                "MITOGEN_BENCH_SSH_* environment): ssh_start_ms (and its group: ssh_start_gz_ms, ssh_start_xz_ms,\n"
                                "ssh_start_cached_ms, openssh_true_ms, bootstrap_bytes_*, agent_image_*_bytes),\n"
                                "ssh_call_rtt_us, ssh_bulk_MBps, openssh_cat_MBps; sudo (as root, to nobody):\n"
                                "sudo_start_ms, sudo_start_nobootstrap_ms, sudo_true_ms.");
  g_option_context_add_main_entries (option_context, entries, NULL);
  if (!g_option_context_parse (option_context, &argc, &argv, &error))
    {
      fprintf (stderr, "mitogen-bench: %s\n", error->message);
      return 2;
    }
  if (calls < 0)
    {
      fprintf (stderr, "mitogen-bench: --calls must be positive\n");
      return 2;
    }

  opts.quick = quick;
  opts.only = only;
  opts.start_n = 32;
  opts.bulk_window = 8;
  if (quick)
    {
      opts.calls = 2000;
      opts.batches = 3;
      opts.start_runs = 5;
      opts.pipelined = 2000;
      opts.bulk_count = 32;
      opts.runs = 3;
      opts.ssh_runs = 3;
      opts.ssh_bulk_count = 32;
      opts.ssh_bulk_runs = 3;
    }
  else
    {
      opts.calls = 20000;
      opts.batches = 5;
      opts.start_runs = 30;
      opts.pipelined = 10000;
      opts.bulk_count = 256;
      opts.runs = 3;
      opts.ssh_runs = 15;
      opts.ssh_bulk_count = 256;
      opts.ssh_bulk_runs = 5;
    }
  if (calls > 0)
    opts.calls = calls;
  if (only != NULL && g_strv_contains ((const char * const *) only, "ssh"))
    {
      /* --only ssh: every ssh figure. */
      GStrvBuilder *b = g_strv_builder_new ();
      g_strv_builder_addv (b, (const char **) only);
      g_strv_builder_addv (b, (const char **) ssh_start_names);
      g_strv_builder_addv (b, (const char **) ssh_link_names);
      g_strv_builder_addv (b, (const char **) ssh_self_names);
      g_strfreev (only);
      only = g_strv_builder_end (b);
      g_strv_builder_unref (b);
      opts.only = only;
    }

  /* Before anything logs: bootstrap_bytes_* are read from the log. */
  g_log_set_writer_func (bench_log_writer, NULL, NULL);

  /* Before any thread exists: a plain fork. */
  if (wanted (&opts, "raw_pingpong_us"))
    {
      watchdog_arm ();
      bench_raw_pingpong (&opts);
    }
  if (wanted (&opts, "bulk_MBps"))
    raw_stream_start (&raw);

  router = mitogen_router_new ();

  if (wanted (&opts, "local_start_ms"))
    {
      watchdog_arm ();
      bench_local_start (router, &opts);
    }

  if (wanted (&opts, "call_rtt_us") || wanted (&opts, "pipelined_calls_per_s") || wanted (&opts, "bulk_MBps"))
    {
      watchdog_arm ();
      ctx = start_context (router);
      if (wanted (&opts, "call_rtt_us"))
        bench_call_rtt (ctx, &opts, "call_rtt_us");
      watchdog_arm ();
      if (wanted (&opts, "pipelined_calls_per_s"))
        bench_pipelined (ctx, &opts);
      watchdog_arm ();
      if (wanted (&opts, "bulk_MBps"))
        bench_bulk (ctx, &opts, &raw);
      stop_context (ctx);
      raw_stream_stop (&raw);
    }

  if (wanted (&opts, "start32_seq_ms"))
    {
      watchdog_arm ();
      bench_start_seq (router, &opts);
    }
  if (wanted (&opts, "start32_par_ms"))
    {
      watchdog_arm ();
      bench_start_par (router, &opts);
    }
  if (wanted (&opts, "idle_agent_rss_kB"))
    {
      watchdog_arm ();
      bench_idle_rss (router);
    }

  if (!no_ssh && (wanted_any (&opts, ssh_start_names) || wanted_any (&opts, ssh_link_names) ||
                  wanted_any (&opts, ssh_self_names)))
    {
      ssh_host_init (&ssh_host);
      if (ssh_host.na != NULL)
        {
          note ("ssh figures: NA (%s)", ssh_host.na);
          for (guint i = 0; ssh_start_names[i] != NULL; i++)
            if (wanted (&opts, ssh_start_names[i]) && !g_str_has_prefix (ssh_start_names[i], "agent_image_"))
              emit_na (ssh_start_names[i], ssh_host.na);
          emit_agent_images (&opts);
          for (guint i = 0; ssh_link_names[i] != NULL; i++)
            if (wanted (&opts, ssh_link_names[i]))
              emit_na (ssh_link_names[i], ssh_host.na);
          for (guint i = 0; ssh_self_names[i] != NULL; i++)
            if (wanted (&opts, ssh_self_names[i]))
              emit_na (ssh_self_names[i], ssh_host.na);
        }
      else
        {
          MitogenRouter *ssh_router = mitogen_router_new ();

          note ("ssh figures: %s@%s:%d, cipher %s", ssh_host.user, ssh_host.host, ssh_host.port, ssh_host.cipher);
          if (wanted_any (&opts, ssh_start_names))
            {
              watchdog_arm ();
              bench_ssh_start (ssh_router, &opts, &ssh_host);
            }
          if (wanted_any (&opts, ssh_self_names))
            {
              watchdog_arm ();
              bench_ssh_self (ssh_router, &opts, &ssh_host);
            }
          if (wanted_any (&opts, ssh_link_names))
            {
              watchdog_arm ();
              bench_ssh_link (ssh_router, &opts, &ssh_host);
            }
          watchdog_arm ();
          g_object_unref (ssh_router);
        }
      g_free (ssh_host.ssh);
    }

  if (wanted (&opts, "sudo_start_ms") || wanted (&opts, "sudo_start_nobootstrap_ms") ||
      wanted (&opts, "sudo_true_ms"))
    {
      watchdog_arm ();
      bench_sudo (&opts);
    }

  watchdog_arm ();
  g_object_unref (router);
  alarm (0);
  return 0;
}
