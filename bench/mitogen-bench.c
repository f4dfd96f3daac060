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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mitogen/mitogen.h>

#define BULK_SIZE       (1024u * 1024u)  /* bytes per mitogen.bytes reply */
#define WATCHDOG_S      600              /* per scenario */

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

static void
bench_raw_pingpong (const Options *opts)
{
  int sv[2];
  pid_t pid;
  g_autofree double *means = g_new (double, opts->batches);
  char byte = 'x';

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
  if (pid == 0)
    {
      /* Echo one byte at a time until EOF. */
      close (sv[0]);
      for (;;)
        {
          char c;
          ssize_t n = read (sv[1], &c, 1);
          if (n == 1 && write (sv[1], &c, 1) == 1)
            continue;
          if (n < 0 && errno == EINTR)
            continue;
          _exit (0);
        }
    }
  close (sv[1]);

  for (guint b = 0; b < opts->batches; b++)
    {
      gint64 t0 = g_get_monotonic_time ();

      for (guint i = 0; i < opts->calls; i++)
        {
          char c;

          if (write (sv[0], &byte, 1) != 1 || read (sv[0], &c, 1) != 1)
            {
              fprintf (stderr, "mitogen-bench: raw ping-pong: %s\n", g_strerror (errno));
              exit (1);
            }
        }
      means[b] = (double) (g_get_monotonic_time () - t0) / opts->calls;
    }
  close (sv[0]);
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
                const Options  *opts)
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
  emit ("call_rtt_us", median (means, opts->batches), "us");
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

static void
bench_bulk (MitogenContext *ctx,
            const Options  *opts)
{
  g_autofree double *rates = g_new (double, opts->runs);
  g_autoptr(GQueue) window = g_queue_new ();
  GPid self_pid = getpid ();
  GPid agent_pid = (GPid) call_getpid (ctx);
  gboolean peak_reset = reset_peak_rss (self_pid);
  gboolean agent_peak_reset = reset_peak_rss (agent_pid);
  gint64 rss_before = peak_reset ? proc_status_kb (self_pid, "VmRSS") : self_maxrss_kb ();
  gint64 rss_after, agent_hwm;

  for (guint r = 0; r < opts->runs; r++)
    {
      gint64 t0 = g_get_monotonic_time ();
      guint issued = 0, done = 0;
      double secs;

      while (issued < opts->bulk_count && issued < opts->bulk_window)
        {
          g_queue_push_tail (window, begin_bytes (ctx));
          issued++;
        }
      while (done < opts->bulk_count)
        {
          MitogenReceiver *receiver = g_queue_pop_head (window);
          g_autoptr(GVariant) value = collect (receiver, "mitogen.bytes");
          gsize n = 0;
          const guint8 *data = g_variant_get_fixed_array (value, &n, 1);

          if (n != BULK_SIZE || data[0] != 0 || data[n - 1] != 0)
            die ("mitogen.bytes returned the wrong bytes", NULL);
          g_object_unref (receiver);
          done++;
          if (issued < opts->bulk_count)
            {
              g_queue_push_tail (window, begin_bytes (ctx));
              issued++;
            }
        }
      secs = (g_get_monotonic_time () - t0) / 1e6;
      rates[r] = (double) opts->bulk_count * BULK_SIZE / 1e6 / secs;
    }
  emit ("bulk_MBps", median (rates, opts->runs), "MB/s");
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

static void
bench_start_par (MitogenRouter *router,
                 const Options *opts)
{
  g_autofree double *ms = g_new (double, opts->runs);
  g_autoptr(GPtrArray) contexts = g_ptr_array_new ();
  g_autoptr(GMainContext) main_context = g_main_context_new ();

  g_main_context_push_thread_default (main_context);
  for (guint r = 0; r < opts->runs; r++)
    {
      gint64 t0 = g_get_monotonic_time ();
      ParallelStart ps = { contexts, opts->start_n, NULL };

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

int
main (int    argc,
      char **argv)
{
  Options opts = { 0 };
  gboolean quick = FALSE;
  int calls = 0;
  g_auto(GStrv) only = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GOptionContext) option_context = NULL;
  MitogenRouter *router;
  MitogenContext *ctx;
  GOptionEntry entries[] = {
    { "quick", 'q', 0, G_OPTION_ARG_NONE, &quick, "Few iterations: a smoke run", NULL },
    { "calls", 'n', 0, G_OPTION_ARG_INT, &calls, "Calls per call_rtt_us batch (default 20000, 2000 with --quick)", "N" },
    { "only", 0, 0, G_OPTION_ARG_STRING_ARRAY, &only, "Run only this scenario (repeatable)", "NAME" },
    { NULL }
  };

  option_context = g_option_context_new ("- benchmarks of libmitogen");
  g_option_context_set_summary (option_context,
                                "Prints name<TAB>value<TAB>unit lines. Scenarios: raw_pingpong_us, local_start_ms,\n"
                                "call_rtt_us, pipelined_calls_per_s, bulk_MBps, start32_seq_ms, start32_par_ms,\n"
                                "idle_agent_rss_kB.");
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
    }
  else
    {
      opts.calls = 20000;
      opts.batches = 5;
      opts.start_runs = 30;
      opts.pipelined = 10000;
      opts.bulk_count = 256;
      opts.runs = 3;
    }
  if (calls > 0)
    opts.calls = calls;

  /* Before any thread exists: a plain fork. */
  if (wanted (&opts, "raw_pingpong_us"))
    {
      watchdog_arm ();
      bench_raw_pingpong (&opts);
    }

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
        bench_call_rtt (ctx, &opts);
      watchdog_arm ();
      if (wanted (&opts, "pipelined_calls_per_s"))
        bench_pipelined (ctx, &opts);
      watchdog_arm ();
      if (wanted (&opts, "bulk_MBps"))
        bench_bulk (ctx, &opts);
      stop_context (ctx);
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

  watchdog_arm ();
  g_object_unref (router);
  alarm (0);
  return 0;
}
