/* test-fleet.c — one master and many ssh hosts (suite 'reliability')
 *
 * A fleet of MITOGEN_TEST_FLEET_HOSTS (default 100, 20 to 250) network namespaces,
 * each with its own sshd (tests/hosts/fleet-fixture.h), is started once.
 *
 * /fleet/healthy: one router connects to every host through the API
 * (asynchronous connects, 16 at a time) and calls a built-in on each,
 * checking every answer names that host; then the `mitogen` tool's
 * fan-out (call, run and cp over all hosts, --parallel 16), every host's
 * output and file checked.
 *
 * /fleet/faults: every host connected (keepalives 1 s x 3: the stream's,
 * which names itself in the error, and libssh's), each
 * runs call (3 s) -> copy (1 MiB) -> stat; one second in, faults are
 * injected: on 10% of the hosts our end of the link goes down (silent:
 * no FIN, no RST), on 5% sshd is killed with everything under it, on 5%
 * the remote agent is SIGSTOPped, and 5% had a 256 KiB tmpfs as the
 * destination all along. Every faulty host must end with an error naming
 * the cause within its deadline, every healthy one must complete with the
 * right bytes, and afterwards the master's fds and RSS must be back near
 * the baseline and no process be left on any host but its sshd. Then the
 * same fleet (faults left in place) through `mitogen cp --timeout`.
 *
 * /fleet/teardown: everything is removed; nothing of ours is left running.
 *
 * Figures are printed as TAP comments (docs/reliability.md quotes them).
 * Needs root, sshd, ssh-keygen, ip, unshare and mount; skips otherwise.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "mitogen-test.h"
#include "fleet-fixture.h"

#define PARALLEL         16
#define SMALL_DISK_BYTES (256 * 1024)
#define SMALL_FILE_BYTES (64 * 1024)
#define BIG_FILE_BYTES   (1024 * 1024)
#define SLEEP            6.0    /* s: the call every host is in when the faults come */
#define CALL_DEADLINE    12.0   /* s: a call that has not answered by then failed */
#define COPY_DEADLINE    20.0   /* s: the same for a copy */
#define KEEPALIVE        1.0    /* s, x KEEPALIVE_COUNT */
#define KEEPALIVE_COUNT  3

static Fleet *fleet;
static const char *skip_reason;
static char *scratch;          /* (owned) files to copy */

typedef enum
{
  FAULT_NONE,
  FAULT_LINK,         /* our end of the veth down */
  FAULT_SSHD,         /* sshd and everything under it killed */
  FAULT_STOP,         /* the agent SIGSTOPped */
  FAULT_DISK,         /* FLEET_DEST a small tmpfs */
} Fault;

static const char *fault_names[] = { "healthy", "link down", "sshd killed", "agent stopped", "disk full" };

static Fault
fault_of (guint i)
{
  if (i % 10 == 1)
    return FAULT_LINK;
  if (i % 20 == 3)
    return FAULT_SSHD;
  if (i % 20 == 5)
    return FAULT_STOP;
  if (i % 20 == 7)
    return FAULT_DISK;
  return FAULT_NONE;
}

static guint
n_hosts_wanted (void)
{
  const char *env = g_getenv ("MITOGEN_TEST_FLEET_HOSTS");

  /* At least 20: every kind of fault on at least one host. */
  return env != NULL ? (guint) CLAMP (g_ascii_strtoull (env, NULL, 10), 20, 250) : 100;
}

/* --- what the ssh plugin logs ------------------------------------------------ */

/* A failed stream's reason (keepalives unanswered, the socket's timeout,
 * a disconnect) is logged by the ssh plugin; a call pending on it gets a
 * generic CHANNEL error that does not say why (docs/reliability.md). The
 * test keeps the plugin's lines to check each host's cause. */
static GMutex log_lock;
static GPtrArray *ssh_lines;  /* (owned) */

static GLogWriterOutput
log_writer (GLogLevelFlags   log_level,
            const GLogField *fields,
            gsize            n_fields,
            gpointer         user_data)
{
  const char *domain = NULL, *message = NULL;

  for (gsize k = 0; k < n_fields; k++)
    if (g_str_equal (fields[k].key, "GLIB_DOMAIN"))
      domain = fields[k].value;
    else if (g_str_equal (fields[k].key, "MESSAGE"))
      message = fields[k].value;
  if (domain != NULL && message != NULL && g_str_equal (domain, "mitogen-ssh") && strstr (message, " lost") != NULL)
    {
      g_mutex_lock (&log_lock);
      g_ptr_array_add (ssh_lines, g_strdup (message));
      g_mutex_unlock (&log_lock);
    }
  if (log_level & G_LOG_LEVEL_DEBUG)
    return G_LOG_WRITER_HANDLED;  /* 100 hosts' worth of debug: not in the test log */
  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

/* The ssh plugin's "lost" line about host @i, or NULL. */
static char *
ssh_lost_line (guint i)
{
  g_autofree char *needle = g_strdup_printf (" %s:22", fleet->hosts[i].address);
  char *found = NULL;

  g_mutex_lock (&log_lock);
  for (guint k = 0; k < ssh_lines->len && found == NULL; k++)
    {
      const char *line = g_ptr_array_index (ssh_lines, k);
      const char *at = strstr (line, needle);

      /* The space and ":22" make it exact: " 10.251.X.1:22" is not in " 10.251.X.11:22". */
      if (at != NULL)
        found = g_strdup (line);
    }
  g_mutex_unlock (&log_lock);
  return found;
}

/* --- the master's own resources ------------------------------------------- */

static guint64
self_rss_kb (void)
{
  return fleet_pid_rss_kb (getpid ());
}

/* What the master's allocator has handed out and not had back, in KiB
 * (every arena, and blocks of their own mapping). Unlike RSS, it does not
 * count the free memory the arenas of 100 threads keep in pages that
 * also hold a live block (malloc_trim () hands back only whole free
 * pages): a leak shows here, fragmentation does not. */
static guint64
self_heap_kb (void)
{
  struct mallinfo2 info = mallinfo2 ();

  return (guint64) (info.uordblks + info.hblkhd) / 1024;
}

/* --- connecting everything ------------------------------------------------- */

typedef struct
{
  MitogenRouter   *router;
  GVariant       **options;    /* (owned) one per host, floating refs sunk */
  MitogenContext **contexts;   /* (owned) one per host, NULL if failed */
  GError         **errors;     /* (owned) one per host */
  guint            n;
  guint            next;
  guint            running;
  guint            done;
} Connects;

static void connect_next (Connects *c);

typedef struct
{
  Connects *c;
  guint     index;
} ConnectOne;

static void
one_connected_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  ConnectOne *one = user_data;
  Connects *c = one->c;

  c->contexts[one->index] = mitogen_router_connect_finish (c->router, result, &c->errors[one->index]);
  c->running--;
  c->done++;
  g_free (one);
  connect_next (c);
}

static void
connect_next (Connects *c)
{
  while (c->running < PARALLEL && c->next < c->n)
    {
      ConnectOne *one = g_new0 (ConnectOne, 1);

      one->c = c;
      one->index = c->next++;
      c->running++;
      mitogen_router_connect_async (c->router, "ssh", c->options[one->index], NULL, NULL,
                                    one_connected_cb, one);
    }
}

/* Connects every host (PARALLEL at a time) on this thread's own main
 * context; returns the seconds it took. */
static double
connect_all (Connects *c)
{
  g_autoptr(GMainContext) main_context = g_main_context_new ();
  gint64 start = g_get_monotonic_time ();

  g_main_context_push_thread_default (main_context);
  connect_next (c);
  while (c->done < c->n)
    g_main_context_iteration (main_context, TRUE);
  g_main_context_pop_thread_default (main_context);
  return (g_get_monotonic_time () - start) / 1e6;
}

static Connects *
connects_new (MitogenRouter *router)
{
  Connects *c = g_new0 (Connects, 1);

  c->router = router;
  c->n = fleet->n_hosts;
  c->options = g_new0 (GVariant *, c->n);
  c->contexts = g_new0 (MitogenContext *, c->n);
  c->errors = g_new0 (GError *, c->n);
  for (guint i = 0; i < c->n; i++)
    c->options[i] = g_variant_ref_sink (fleet_ssh_options (fleet, i,
                                                           "keepalive_interval", g_variant_new_double (KEEPALIVE),
                                                           "keepalive_count", g_variant_new_int32 (KEEPALIVE_COUNT),
                                                           "connect_timeout", g_variant_new_double (30.0),
                                                           NULL));
  return c;
}

static void
connects_free (Connects *c)
{
  for (guint i = 0; i < c->n; i++)
    {
      g_variant_unref (c->options[i]);
      g_clear_object (&c->contexts[i]);
      g_clear_error (&c->errors[i]);
    }
  g_free (c->options);
  g_free (c->contexts);
  g_free (c->errors);
  g_free (c);
}

static void
assert_all_connected (Connects *c)
{
  guint failed = 0;

  for (guint i = 0; i < c->n; i++)
    if (c->contexts[i] == NULL)
      {
        g_test_message ("host %u (%s): %s", i, fleet->hosts[i].address, c->errors[i]->message);
        failed++;
      }
  g_assert_cmpuint (failed, ==, 0);
}

/* Waits until no process but its sshd (none where sshd was killed) is
 * left on any host; returns how many hosts still have more. */
static guint
wait_hosts_idle (const gboolean *sshd_gone,
                 double          seconds)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) (seconds * G_USEC_PER_SEC);
  guint busy;

  do
    {
      busy = 0;
      for (guint i = 0; i < fleet->n_hosts; i++)
        {
          g_autoptr(GArray) pids = fleet_host_pids (fleet, i);
          guint allowed = sshd_gone != NULL && sshd_gone[i] ? 0 : 1;

          if (pids->len > allowed)
            busy++;
        }
      if (busy == 0)
        return 0;
      g_usleep (100000);
    }
  while (g_get_monotonic_time () < deadline);

  for (guint i = 0; i < fleet->n_hosts; i++)
    {
      g_autoptr(GArray) pids = fleet_host_pids (fleet, i);
      guint allowed = sshd_gone != NULL && sshd_gone[i] ? 0 : 1;

      if (pids->len > allowed)
        for (guint p = 0; p < pids->len; p++)
          {
            g_autofree char *path = g_strdup_printf ("/proc/%d/cmdline", g_array_index (pids, GPid, p));
            g_autofree char *cmdline = NULL;
            gsize len = 0;

            if (g_file_get_contents (path, &cmdline, &len, NULL))
              for (gsize k = 0; k + 1 < len; k++)
                if (cmdline[k] == '\0')
                  cmdline[k] = ' ';
            g_test_message ("host %u still runs pid %d: %s", i, g_array_index (pids, GPid, p),
                            cmdline != NULL ? cmdline : "?");
          }
    }
  return busy;
}

/* What FLEET_DEST/@name holds on host @i, seen through its sshd's mount
 * namespace; NULL if it cannot be read. */
static GBytes *
host_file (guint       i,
           const char *name)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/root%s/%s", (int) fleet->hosts[i].pid, fleet->dest, name);
  char *data = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &data, &len, NULL))
    return NULL;
  return g_bytes_new_take (data, len);
}

static GBytes *
make_file (const char *name,
           gsize       size)
{
  g_autofree char *path = g_build_filename (scratch, name, NULL);
  guint8 *data = g_malloc (size);
  GBytes *bytes;

  for (gsize k = 0; k < size; k++)
    data[k] = (guint8) g_random_int ();
  bytes = g_bytes_new_take (data, size);
  g_assert_true (g_file_set_contents (path, g_bytes_get_data (bytes, NULL), (gssize) size, NULL));
  return bytes;
}

/* SSH_CONNECTION's server address, from os.environ's result. */
static char *
server_address_of (GVariant *environ)
{
  const char *value = NULL;
  g_auto(GStrv) parts = NULL;

  if (!g_variant_lookup (environ, "SSH_CONNECTION", "&s", &value))
    return NULL;
  parts = g_strsplit (value, " ", -1);
  return g_strv_length (parts) == 4 ? g_strdup (parts[2]) : NULL;
}

/* --- the tool --------------------------------------------------------------- */

static char *
targets_file (const char *extra)
{
  g_autofree char *path = g_build_filename (scratch, "targets", NULL);
  g_autoptr(GString) text = g_string_new ("# the fleet\n");

  for (guint i = 0; i < fleet->n_hosts; i++)
    {
      g_autofree char *chain = fleet_ssh_chain (fleet, i, extra);
      g_string_append_printf (text, "%s\n", chain);
    }
  g_assert_true (g_file_set_contents (path, text->str, -1, NULL));
  return g_steal_pointer (&path);
}

/* Host index of a target named by its chain (ssh:ADDRESS?...). */
static int
host_of_target (const char *target)
{
  for (guint i = 0; i < fleet->n_hosts; i++)
    {
      g_autofree char *prefix = g_strdup_printf ("ssh:%s?", fleet->hosts[i].address);

      if (g_str_has_prefix (target, prefix))
        return (int) i;
    }
  return -1;
}

static int
run_tool (const char * const *argv,
          char              **out,
          char              **err,
          double             *seconds)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  int status = -1;

  g_ptr_array_add (args, (char *) MITOGEN_TOOL_PATH);
  for (guint i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (args, (char *) argv[i]);
  g_ptr_array_add (args, NULL);
  g_assert_true (g_spawn_sync (NULL, (char **) args->pdata, NULL, G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL,
                               out, err, &status, &error));
  g_assert_no_error (error);
  *seconds = (g_get_monotonic_time () - start) / 1e6;
  return g_spawn_check_wait_status (status, NULL) ? 0 : WIFEXITED (status) ? WEXITSTATUS (status) : 128;
}

static JsonNode *
parse_json (const char *line)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, line, -1, &error);
  g_assert_no_error (error);
  return json_node_copy (json_parser_get_root (parser));
}

static const char *
last_line (const char *text)
{
  const char *end = text + strlen (text);
  const char *p;

  while (end > text && end[-1] == '\n')
    end--;
  for (p = end; p > text && p[-1] != '\n'; p--)
    ;
  return p;
}

/* --- /fleet/healthy ---------------------------------------------------------- */

typedef struct
{
  guint     pending;
  GVariant **results;
  GError  **errors;
  MitogenContext **contexts;
} Calls;

typedef struct
{
  Calls *calls;
  guint  index;
} CallOne;

static void
called_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  CallOne *one = user_data;

  one->calls->results[one->index] = mitogen_context_call_finish (MITOGEN_CONTEXT (source), result,
                                                                 &one->calls->errors[one->index]);
  one->calls->pending--;
  g_free (one);
}

static void
test_healthy (void)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(GMainContext) main_context = NULL;
  g_autoptr(GBytes) small = NULL;
  g_autofree char *targets = NULL;
  g_autofree char *targets_arg = NULL;
  g_autofree char *small_path = NULL;
  g_autofree char *dest_arg = NULL;
  Connects *c;
  Calls calls = { 0 };
  double connect_seconds, call_seconds, seconds;
  guint64 rss_sum = 0, pss_sum = 0, hosts_measured = 0;
  gint64 start;
  guint n = 0;

  g_test_summary ("One master connects to every host (async, 16 at a time) and calls os.environ on "
                  "each: every answer comes from the right host. Then `mitogen call`, `run` and `cp` "
                  "over the whole fleet with --parallel 16: all succeed, every host's output and file checked.");
  if (skip_reason != NULL)
    {
      g_test_skip (skip_reason);
      return;
    }
  n = fleet->n_hosts;

  router = mitogen_router_new ();
  c = connects_new (router);
  connect_seconds = connect_all (c);
  assert_all_connected (c);
  g_test_message ("connect-all: %u hosts in %.2f s (%u at a time)", n, connect_seconds, PARALLEL);

  /* Remote memory per connected host: sshd's session processes and the agent. */
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GArray) pids = fleet_host_pids (fleet, i);

      for (guint p = 0; p < pids->len; p++)
        if (g_array_index (pids, GPid, p) != fleet->hosts[i].pid)
          {
            rss_sum += fleet_pid_rss_kb (g_array_index (pids, GPid, p));
            pss_sum += fleet_pid_pss_kb (g_array_index (pids, GPid, p));
          }
      hosts_measured++;
    }
  g_test_message ("per connected host: sshd session processes and agent: %.1f MiB VmRSS, %.1f MiB Pss",
                  rss_sum / 1024.0 / hosts_measured, pss_sum / 1024.0 / hosts_measured);

  /* Every host at once. */
  main_context = g_main_context_new ();
  g_main_context_push_thread_default (main_context);
  calls.results = g_new0 (GVariant *, n);
  calls.errors = g_new0 (GError *, n);
  calls.pending = n;
  start = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++)
    {
      CallOne *one = g_new0 (CallOne, 1);

      one->calls = &calls;
      one->index = i;
      mitogen_context_call_async (c->contexts[i], "os.environ", NULL, NULL, called_cb, one);
    }
  while (calls.pending > 0)
    g_main_context_iteration (main_context, TRUE);
  call_seconds = (g_get_monotonic_time () - start) / 1e6;
  g_main_context_pop_thread_default (main_context);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *address = NULL;

      g_assert_no_error (calls.errors[i]);
      address = server_address_of (calls.results[i]);
      g_assert_cmpstr (address, ==, fleet->hosts[i].address);
      g_variant_unref (calls.results[i]);
    }
  g_free (calls.results);
  g_free (calls.errors);
  g_test_message ("call-all: os.environ on %u hosts at once in %.3f s, every answer from its host", n, call_seconds);

  start = g_get_monotonic_time ();
  mitogen_router_shutdown (router);
  connects_free (c);
  g_clear_object (&router);
  g_test_message ("disconnect-all: %.2f s", (g_get_monotonic_time () - start) / 1e6);
  g_assert_cmpuint (wait_hosts_idle (NULL, 15), ==, 0);

  /* The tool's fan-out. */
  targets = targets_file ("connect_timeout=30");
  targets_arg = g_strconcat ("@", targets, NULL);
  {
    g_autofree char *out = NULL, *err = NULL;
    g_auto(GStrv) lines = NULL;
    g_autofree gboolean *seen = g_new0 (gboolean, n);
    int status = run_tool ((const char *[]) { "call", "--parallel", "16", "--json", "-t", targets_arg,
                                              "os.environ", NULL }, &out, &err, &seconds);

    g_test_message ("mitogen call: %u hosts in %.2f s", n, seconds);
    if (status != 0)
      g_test_message ("%s", err);
    g_assert_cmpint (status, ==, 0);
    lines = g_strsplit (g_strstrip (out), "\n", -1);
    g_assert_cmpuint (g_strv_length (lines), ==, n);
    for (guint l = 0; lines[l] != NULL; l++)
      {
        g_autoptr(JsonNode) node = parse_json (lines[l]);
        JsonObject *object = json_node_get_object (node);
        int i = host_of_target (json_object_get_string_member (object, "target"));
        JsonObject *result = json_object_get_object_member (object, "result");
        g_auto(GStrv) parts = g_strsplit (json_object_get_string_member (result, "SSH_CONNECTION"), " ", -1);

        g_assert_cmpint (i, >=, 0);
        g_assert_false (seen[i]);
        seen[i] = TRUE;
        g_assert_true (json_object_get_boolean_member (object, "ok"));
        g_assert_cmpstr (parts[2], ==, fleet->hosts[i].address);
      }
    {
      g_autofree char *expected = g_strdup_printf ("mitogen: %u targets: %u succeeded, 0 failed", n, n);
      g_assert_cmpstr (g_strstrip (err), ==, expected);
    }
  }
  {
    g_autofree char *out = NULL, *err = NULL;
    g_autofree char *expected = NULL;
    g_autofree guint *got = g_new0 (guint, n);
    g_auto(GStrv) lines = NULL;
    int status = run_tool ((const char *[]) { "run", "--parallel", "16", "-t", targets_arg, "--",
                                              "sh", "-c", "echo \"on $(echo $SSH_CONNECTION | cut -d' ' -f3)\"",
                                              NULL }, &out, &err, &seconds);

    g_test_message ("mitogen run: %u hosts in %.2f s", n, seconds);
    if (status != 0)
      g_test_message ("%s", err);
    g_assert_cmpint (status, ==, 0);
    lines = g_strsplit (g_strstrip (out), "\n", -1);
    g_assert_cmpuint (g_strv_length (lines), ==, n);
    for (guint l = 0; lines[l] != NULL; l++)
      {
        const char *sep = strstr (lines[l], ": on ");
        g_autofree char *target = NULL;
        int i;

        g_assert_nonnull (sep);
        target = g_strndup (lines[l], sep - lines[l]);
        i = host_of_target (target);
        g_assert_cmpint (i, >=, 0);
        g_assert_cmpstr (sep + strlen (": on "), ==, fleet->hosts[i].address);
        got[i]++;
      }
    for (guint i = 0; i < n; i++)
      g_assert_cmpuint (got[i], ==, 1);
    expected = g_strdup_printf ("mitogen: %u targets: %u succeeded, 0 failed", n, n);
    g_assert_cmpstr (g_strstrip (err), ==, expected);
  }
  {
    g_autofree char *out = NULL, *err = NULL;
    g_autofree char *expected = NULL;
    int status;

    small = make_file ("small.bin", SMALL_FILE_BYTES);
    small_path = g_build_filename (scratch, "small.bin", NULL);
    dest_arg = g_strconcat (":", fleet->dest, "/", NULL);
    status = run_tool ((const char *[]) { "cp", "--parallel", "16", "-t", targets_arg, small_path, dest_arg, NULL },
                       &out, &err, &seconds);
    g_test_message ("mitogen cp: %u KiB to %u hosts in %.2f s", SMALL_FILE_BYTES / 1024, n, seconds);
    if (status != 0)
      g_test_message ("%s", err);
    g_assert_cmpint (status, ==, 0);
    expected = g_strdup_printf ("mitogen: %u targets: %u succeeded, 0 failed", n, n);
    g_assert_cmpstr (g_strstrip (err), ==, expected);
    for (guint i = 0; i < n; i++)
      {
        g_autoptr(GBytes) copy = host_file (i, "small.bin");

        g_assert_nonnull (copy);
        g_assert_true (g_bytes_equal (copy, small));
      }
  }
  g_assert_cmpuint (wait_hosts_idle (NULL, 15), ==, 0);
}

/* --- /fleet/faults ------------------------------------------------------------ */

typedef struct
{
  guint           index;
  MitogenContext *context;     /* (unowned) */
  GBytes         *big;         /* (unowned) */
  gboolean        ok;
  char           *error;       /* (owned) (nullable) */
  GQuark          domain;
  int             code;
  const char     *stage;       /* where it failed */
  gint64          failed_at;   /* monotonic */
  gint64          stage_start; /* monotonic: when the failing step began */
} HostRun;

static gboolean
cancel_cb (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_REMOVE;
}

static GMainContext *deadlines;  /* (owned) run by the deadline thread */
static gint deadlines_stop;

static gpointer
deadline_thread (gpointer data)
{
  g_main_context_push_thread_default (deadlines);
  while (!g_atomic_int_get (&deadlines_stop))
    g_main_context_iteration (deadlines, TRUE);
  g_main_context_pop_thread_default (deadlines);
  return NULL;
}

static void
fail_run (HostRun    *run,
          const char *stage,
          GError     *error)
{
  run->stage = stage;
  run->error = g_strdup (error->message);
  run->domain = error->domain;
  run->code = error->code;
  run->failed_at = g_get_monotonic_time ();
}

/* A call with the call deadline: begin_call, then the receiver's timeout. */
static GVariant *
call_with_deadline (MitogenContext  *context,
                    const char      *function,
                    GVariant        *args,
                    GError         **error)
{
  g_autoptr(MitogenReceiver) receiver = mitogen_context_begin_call (context, function, args);
  g_autoptr(MitogenMessage) message = NULL;

  if (receiver == NULL)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL, "%s: the context is gone", function);
      return NULL;
    }
  message = mitogen_receiver_get (receiver, CALL_DEADLINE, error);
  if (message == NULL)
    return NULL;
  return mitogen_message_get_value (message, error);
}

static gpointer
host_run_thread (gpointer data)
{
  HostRun *run = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) slept = NULL;
  g_autoptr(GVariant) st = NULL;
  g_autofree char *dest = g_strdup_printf ("%s/big.bin", fleet->dest);

  run->stage_start = g_get_monotonic_time ();
  slept = call_with_deadline (run->context, "mitogen.sleep", g_variant_new ("(d)", SLEEP), &error);
  if (slept == NULL)
    {
      fail_run (run, "call", error);
      return NULL;
    }

  {
    g_autoptr(MitogenTransfer) transfer = NULL;
    g_autoptr(GCancellable) cancellable = g_cancellable_new ();
    g_autofree char *source = g_build_filename (scratch, "big.bin", NULL);
    GSource *timer = g_timeout_source_new ((guint) (COPY_DEADLINE * 1000));

    g_source_set_callback (timer, cancel_cb, g_object_ref (cancellable), g_object_unref);
    g_source_attach (timer, deadlines);
    transfer = mitogen_transfer_new (run->context, MITOGEN_TRANSFER_DIRECTION_PUT, source, dest,
                                     MITOGEN_TRANSFER_FLAGS_NONE);
    run->stage_start = g_get_monotonic_time ();
    if (!mitogen_transfer_run (transfer, cancellable, &error))
      {
        g_source_destroy (timer);
        g_source_unref (timer);
        fail_run (run, "copy", error);
        return NULL;
      }
    g_source_destroy (timer);
    g_source_unref (timer);
  }

  run->stage_start = g_get_monotonic_time ();
  st = call_with_deadline (run->context, "os.stat", g_variant_new ("(s)", dest), &error);
  if (st == NULL)
    {
      fail_run (run, "stat", error);
      return NULL;
    }
  {
    gint64 size = -1;

    g_variant_lookup (st, "st_size", "x", &size);
    if (size != (gint64) g_bytes_get_size (run->big))
      {
        g_autoptr(GError) wrong = g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "size %" G_GINT64_FORMAT, size);
        fail_run (run, "stat", wrong);
        return NULL;
      }
  }
  run->ok = TRUE;
  return NULL;
}

/* Every host through call -> copy -> stat once, no fault: the master's
 * allocator and thread-stack cache reach the high-water mark a round of
 * N threads leaves, so that the baseline after it is a fair one. */
static void
warm_up_round (GBytes *big)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(GPtrArray) threads = g_ptr_array_new ();
  g_autofree HostRun *runs = g_new0 (HostRun, fleet->n_hosts);
  Connects *c = connects_new (router);
  double seconds = connect_all (c);
  gint64 start = g_get_monotonic_time ();

  assert_all_connected (c);
  for (guint i = 0; i < fleet->n_hosts; i++)
    {
      runs[i].index = i;
      runs[i].context = c->contexts[i];
      runs[i].big = big;
      g_ptr_array_add (threads, g_thread_new ("fleet-host", host_run_thread, &runs[i]));
    }
  for (guint i = 0; i < threads->len; i++)
    g_thread_join (g_ptr_array_index (threads, i));
  for (guint i = 0; i < fleet->n_hosts; i++)
    {
      if (!runs[i].ok && fault_of (i) != FAULT_DISK)
        g_test_message ("host %u failed in %s: %s", i, runs[i].stage, runs[i].error);
      g_assert_true (runs[i].ok || fault_of (i) == FAULT_DISK);  /* the small disk is small */
      g_free (runs[i].error);
    }
  g_test_message ("warm-up round (no faults): connect-all %.2f s, call + copy + stat on every host %.2f s",
                  seconds, (g_get_monotonic_time () - start) / 1e6);
  mitogen_router_shutdown (router);
  connects_free (c);
  g_assert_cmpuint (wait_hosts_idle (NULL, 15), ==, 0);
  /* The round with faults must write its own copies. */
  for (guint i = 0; i < fleet->n_hosts; i++)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%d/root%s/big.bin", (int) fleet->hosts[i].pid, fleet->dest);

      g_assert_true (g_unlink (path) == 0 || errno == ENOENT);
    }
}

static void
test_faults (void)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(GBytes) big = NULL;
  g_autoptr(GPtrArray) threads = g_ptr_array_new ();
  g_autofree HostRun *runs = NULL;
  g_autofree GPid *agents = NULL;
  g_autofree gboolean *sshd_gone = NULL;
  g_autofree gint64 *fault_times = NULL;
  GThread *deadline_runner;
  Connects *c;
  guint n, fds_before, fds_connected, fds_after;
  guint64 rss_before, rss_connected, rss_after, rss_untrimmed;
  guint64 heap_before, heap_connected, heap_after;
  guint counts[5] = { 0 };
  double worst[5] = { 0 }, best[5] = { 0 };
  gint64 fault_at, start;
  double connect_seconds;

  g_test_summary ("Faults injected while every host works (call -> 1 MiB copy -> stat): link down, "
                  "sshd killed, agent stopped, disk full. Each faulty host ends with an error naming "
                  "the cause within its deadline, each healthy one completes with the right bytes, the "
                  "master's fds and RSS return to about the baseline, no process is left on any host. "
                  "Then `mitogen cp --timeout` over the same broken fleet.");
  if (skip_reason != NULL)
    {
      g_test_skip (skip_reason);
      return;
    }
  n = fleet->n_hosts;
  runs = g_new0 (HostRun, n);
  agents = g_new0 (GPid, n);
  sshd_gone = g_new0 (gboolean, n);
  fault_times = g_new0 (gint64, n);
  big = make_file ("big.bin", BIG_FILE_BYTES);

  deadlines = g_main_context_new ();
  g_atomic_int_set (&deadlines_stop, 0);
  deadline_runner = g_thread_new ("deadlines", deadline_thread, NULL);
  warm_up_round (big);

  fds_before = mitogen_test_count_fds ();
  malloc_trim (0);
  rss_before = self_rss_kb ();
  heap_before = self_heap_kb ();

  router = mitogen_router_new ();
  mitogen_broker_set_shutdown_timeout (mitogen_router_get_broker (router), 2.0);
  c = connects_new (router);
  connect_seconds = connect_all (c);
  assert_all_connected (c);
  g_test_message ("connect-all (keepalive %g s x %d): %u hosts in %.2f s", KEEPALIVE, KEEPALIVE_COUNT, n,
                  connect_seconds);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) pid = mitogen_context_call (c->contexts[i], "os.getpid", NULL, NULL, &error);

      g_assert_no_error (error);
      agents[i] = (GPid) g_variant_get_int64 (pid);
    }
  fds_connected = mitogen_test_count_fds ();
  rss_connected = self_rss_kb ();
  heap_connected = self_heap_kb ();
  g_test_message ("master with %u contexts: %u fds (%u before), VmRSS %.1f MiB (%.1f MiB before), "
                  "heap in use %.1f MiB (%.1f MiB before)",
                  n, fds_connected, fds_before, rss_connected / 1024.0, rss_before / 1024.0,
                  heap_connected / 1024.0, heap_before / 1024.0);

  for (guint i = 0; i < n; i++)
    {
      runs[i].index = i;
      runs[i].context = c->contexts[i];
      runs[i].big = big;
      g_ptr_array_add (threads, g_thread_new ("fleet-host", host_run_thread, &runs[i]));
    }

  /* One second in: everyone is inside its SLEEP s call. Each host's
   * fault time is taken right after its fault. */
  g_usleep (G_USEC_PER_SEC);
  fault_at = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++)
    if (fault_of (i) == FAULT_STOP)
      {
        g_assert_cmpint (kill (agents[i], SIGSTOP), ==, 0);
        fault_times[i] = g_get_monotonic_time ();
      }
  {
    g_autoptr(GArray) links = g_array_new (FALSE, FALSE, sizeof (guint));
    g_autoptr(GError) error = NULL;

    for (guint i = 0; i < n; i++)
      if (fault_of (i) == FAULT_LINK)
        g_array_append_val (links, i);
    fleet_set_links (fleet, (guint *) (gpointer) links->data, links->len, FALSE, &error);
    g_assert_no_error (error);
    for (guint k = 0; k < links->len; k++)
      fault_times[g_array_index (links, guint, k)] = g_get_monotonic_time ();
  }
  for (guint i = 0; i < n; i++)
    if (fault_of (i) == FAULT_SSHD)
      {
        fleet_kill_sshd (fleet, i);
        fault_times[i] = g_get_monotonic_time ();
        sshd_gone[i] = TRUE;
      }
  g_test_message ("faults injected in %.3f s", (g_get_monotonic_time () - fault_at) / 1e6);

  for (guint i = 0; i < threads->len; i++)
    g_thread_join (g_ptr_array_index (threads, i));
  g_test_message ("every host done %.2f s after the faults", (g_get_monotonic_time () - fault_at) / 1e6);

  /* Each host's outcome. */
  for (guint i = 0; i < n; i++)
    {
      HostRun *run = &runs[i];
      Fault fault = fault_of (i);
      g_autofree char *lost = NULL;
      /* From the fault (or, for the disk, the copy's start) to the error. */
      double detect = run->ok ? 0 : (run->failed_at - (fault == FAULT_DISK ? run->stage_start : fault_times[i])) / 1e6;

      if (fault == FAULT_NONE)
        {
          g_autoptr(GBytes) copy = host_file (i, "big.bin");

          if (!run->ok)
            g_test_message ("healthy host %u failed in %s: %s", i, run->stage, run->error);
          g_assert_true (run->ok);
          g_assert_nonnull (copy);
          g_assert_true (g_bytes_equal (copy, big));
          counts[fault]++;
          continue;
        }
      if (run->ok)
        g_test_message ("host %u (%s) did not fail", i, fault_names[fault]);
      g_assert_false (run->ok);
      lost = ssh_lost_line (i);
      g_test_message ("host %u (%s): %s after %.2f s: %s%s%s", i, fault_names[fault], run->stage, detect, run->error,
                      lost != NULL ? "; ssh plugin: " : "", lost != NULL ? lost : "");
      switch (fault)
        {
        case FAULT_LINK:
          /* The stream keepalive (the same interval x count: the error
           * names it), or libssh's keepalives or the socket's
           * TCP_USER_TIMEOUT (the plugin's line says which), whichever
           * fires first; plus up to one interval of phase. */
          g_assert_cmpuint (run->domain, ==, MITOGEN_ERROR);
          g_assert_cmpint (run->code, ==, MITOGEN_ERROR_CHANNEL);
          g_assert_true (strstr (run->error, "no answer to keepalives") != NULL ||
                         (lost != NULL && (strstr (lost, "keepalive") != NULL || strstr (lost, "timed out") != NULL)));
          g_assert_cmpfloat (detect, <, KEEPALIVE * (KEEPALIVE_COUNT + 2) + 2);
          break;
        case FAULT_SSHD:
          g_assert_cmpuint (run->domain, ==, MITOGEN_ERROR);
          g_assert_cmpint (run->code, ==, MITOGEN_ERROR_CHANNEL);
          /* libssh's words vary with the moment: "disconnected", or
           * the errno of the last read ("Resource temporarily unavailable"). */
          g_assert_nonnull (lost);
          g_assert_nonnull (strstr (lost, "connection lost"));
          g_assert_cmpfloat (detect, <, 3);
          break;
        case FAULT_STOP:
          /* sshd still answers libssh's keepalives, the agent nothing:
           * the stream keepalive notices, well before the call deadline. */
          g_assert_cmpuint (run->domain, ==, MITOGEN_ERROR);
          g_assert_cmpint (run->code, ==, MITOGEN_ERROR_CHANNEL);
          g_assert_nonnull (strstr (run->error, "no answer to keepalives"));
          g_assert_cmpstr (run->stage, ==, "call");
          g_assert_cmpfloat (detect, <, KEEPALIVE * (KEEPALIVE_COUNT + 2) + 2);
          break;
        case FAULT_DISK:
          g_assert_cmpstr (run->stage, ==, "copy");
          g_assert_nonnull (strstr (run->error, g_strerror (ENOSPC)));
          g_assert_cmpfloat (detect, <, COPY_DEADLINE);
          break;
        case FAULT_NONE:
          g_assert_not_reached ();
        }
      if (counts[fault] == 0 || detect > worst[fault])
        worst[fault] = detect;
      if (counts[fault] == 0 || detect < best[fault])
        best[fault] = detect;
      counts[fault]++;
    }
  for (guint i = 0; i < n; i++)
    g_free (runs[i].error);
  for (guint k = FAULT_LINK; k <= FAULT_DISK; k++)
    if (counts[k] > 0)
      g_test_message ("%s: %u hosts, detected in %.2f to %.2f s", fault_names[k], counts[k], best[k], worst[k]);
  g_test_message ("healthy: %u hosts, all completed with the right bytes", counts[FAULT_NONE]);

  g_atomic_int_set (&deadlines_stop, 1);
  g_main_context_wakeup (deadlines);
  g_thread_join (deadline_runner);
  g_clear_pointer (&deadlines, g_main_context_unref);

  /* Everything gone: the master back to its baseline. */
  start = g_get_monotonic_time ();
  mitogen_router_shutdown (router);
  connects_free (c);
  g_clear_object (&router);
  g_test_message ("disconnect-all: %.2f s", (g_get_monotonic_time () - start) / 1e6);
  for (guint i = 0; i < n; i++)
    if (fault_of (i) == FAULT_STOP)
      kill (agents[i], SIGCONT);
  fds_after = mitogen_test_count_fds ();
  rss_untrimmed = self_rss_kb ();
  /* Free memory glibc keeps in the arenas of the per-host threads is not
   * a leak: handed back first, then measured. */
  malloc_trim (0);
  rss_after = self_rss_kb ();
  heap_after = self_heap_kb ();
  g_test_message ("master after: %u fds (%u before, %u with every context), VmRSS %.1f MiB "
                  "(%.1f MiB before, %.1f MiB with every context, %.1f MiB before malloc_trim), "
                  "heap in use %.1f MiB (%.1f MiB before, %.1f MiB with every context)",
                  fds_after, fds_before, fds_connected, rss_after / 1024.0, rss_before / 1024.0,
                  rss_connected / 1024.0, rss_untrimmed / 1024.0, heap_after / 1024.0,
                  heap_before / 1024.0, heap_connected / 1024.0);
  g_assert_cmpuint (fds_after, <=, fds_before);
  /* A per-context leak would grow with the fleet: what the allocator has
   * out is back near the baseline. RSS, which also counts what the
   * threads' arenas keep in part-used pages (+5 to +7 MiB in most runs,
   * once +42 MiB: docs/reliability.md), only within a wider bound. */
  g_assert_cmpuint (heap_after, <, heap_before + 16 * 1024);
  g_assert_cmpuint (rss_after, <, rss_before + 64 * 1024);
  /* Silent links: sshd's ClientAlive (1 s x 2) ends those sessions. */
  g_assert_cmpuint (wait_hosts_idle (sshd_gone, 20), ==, 0);

  /* The tool over the same fleet: links still down, sshds still dead,
   * the small disks still small. */
  {
    /* connect_timeout: what finds the silent links here (generous: a
     * healthy host may take seconds on a loaded 2-core machine). */
    g_autofree char *targets = targets_file ("connect_timeout=20&keepalive_interval=1&keepalive_count=3");
    g_autofree char *targets_arg = g_strconcat ("@", targets, NULL);
    g_autofree char *big_path = g_build_filename (scratch, "big.bin", NULL);
    g_autofree char *dest_arg = g_strconcat (":", fleet->dest, "/tool-big.bin", NULL);
    g_autofree char *out = NULL, *err = NULL;
    g_autofree char *summary = NULL;
    g_auto(GStrv) lines = NULL;
    guint n_link = 0, n_sshd = 0, n_disk = 0, n_ok = 0;
    double seconds;
    int status;

    status = run_tool ((const char *[]) { "cp", "--parallel", "16", "--timeout", "60", "-t", targets_arg,
                                          big_path, dest_arg, NULL }, &out, &err, &seconds);
    g_test_message ("mitogen cp --timeout 60 over the broken fleet: exit %d in %.2f s", status, seconds);
    lines = g_strsplit (g_strstrip (err), "\n", -1);
    for (guint l = 0; lines[l] != NULL; l++)
      {
        const char *rest;
        int i;

        if (!g_str_has_prefix (lines[l], "mitogen: ssh:"))
          continue;
        rest = strstr (lines[l], ": ");
        rest = strstr (rest + 2, ": ");
        g_assert_nonnull (rest);
        {
          g_autofree char *target = g_strndup (lines[l] + strlen ("mitogen: "), rest - lines[l] - strlen ("mitogen: "));
          i = host_of_target (target);
        }
        g_assert_cmpint (i, >=, 0);
        g_test_message ("host %u (%s): %s", i, fault_names[fault_of (i)], rest + 2);
        switch (fault_of (i))
          {
          case FAULT_LINK:
            /* Silent: ARP gets no answer (the kernel says "No route to
             * host" after a few seconds), or connect_timeout first. */
            g_assert_true (strstr (rest, "connect_timeout") != NULL || strstr (rest, g_strerror (EHOSTUNREACH)) != NULL);
            n_link++;
            break;
          case FAULT_SSHD:
            g_assert_nonnull (strstr (rest, "ssh: connect to"));
            n_sshd++;
            break;
          case FAULT_DISK:
            g_assert_nonnull (strstr (rest, g_strerror (ENOSPC)));
            n_disk++;
            break;
          case FAULT_NONE:
          case FAULT_STOP:  /* resumed, gone: a new agent starts */
            g_test_message ("unexpected: %s", lines[l]);
            g_assert_not_reached ();
          }
      }
    for (guint i = 0; i < n; i++)
      {
        g_autoptr(GBytes) copy = host_file (i, "tool-big.bin");

        if (fault_of (i) == FAULT_NONE || fault_of (i) == FAULT_STOP)
          {
            g_assert_nonnull (copy);
            g_assert_true (g_bytes_equal (copy, big));
            n_ok++;
          }
      }
    g_assert_cmpuint (n_link, ==, counts[FAULT_LINK]);
    g_assert_cmpuint (n_sshd, ==, counts[FAULT_SSHD]);
    g_assert_cmpuint (n_disk, ==, counts[FAULT_DISK]);
    summary = g_strdup_printf ("mitogen: %u targets: %u succeeded, %u failed (%u could not connect)",
                               n, n_ok, n - n_ok, n_link + n_sshd);
    g_assert_cmpstr (last_line (err), ==, summary);
    g_assert_cmpint (status, ==, 3);  /* the largest: could not connect */
    g_assert_cmpfloat (seconds, <, 120);
  }
  g_assert_cmpuint (wait_hosts_idle (sshd_gone, 20), ==, 0);
}

/* --- /fleet/teardown ---------------------------------------------------------- */

static void
test_teardown (void)
{
  g_autofree char *dir = NULL;
  g_autofree char *bridge_path = NULL;
  g_auto(GStrv) netns = NULL;
  g_autoptr(GHashTable) inodes = NULL;
  gint64 start;
  DIR *proc;
  struct dirent *entry;
  guint left = 0;

  g_test_summary ("The fleet goes without a trace: namespaces, bridge, sshds, agents, files.");
  if (skip_reason != NULL)
    {
      g_test_skip (skip_reason);
      return;
    }
  dir = g_strdup (fleet->holder->dir);
  bridge_path = g_strdup_printf ("/sys/class/net/%s", fleet->bridge);
  netns = g_new0 (char *, fleet->n_hosts + 1);
  inodes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < fleet->n_hosts; i++)
    {
      struct stat st;

      netns[i] = g_strdup_printf ("/run/netns/%s", fleet->hosts[i].netns);
      g_assert_cmpint (stat (netns[i], &st), ==, 0);
      g_hash_table_add (inodes, g_strdup_printf ("net:[%lu]", (unsigned long) st.st_ino));
    }

  start = g_get_monotonic_time ();
  fleet_stop (g_steal_pointer (&fleet));
  g_test_message ("teardown: %.2f s", (g_get_monotonic_time () - start) / 1e6);

  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (bridge_path, G_FILE_TEST_EXISTS));
  for (guint i = 0; netns[i] != NULL; i++)
    g_assert_false (g_file_test (netns[i], G_FILE_TEST_EXISTS));
  /* No process runs in one of the hosts' network namespaces (they live
   * on while one does), and none mentions the fleet's directory (every
   * sshd's -f did). */
  proc = opendir ("/proc");
  g_assert_nonnull (proc);
  while ((entry = readdir (proc)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *cmdline = NULL;
      g_autofree char *ns_path = NULL;
      g_autofree char *ns = NULL;
      gsize len = 0;

      if (!g_ascii_isdigit (entry->d_name[0]))
        continue;
      ns_path = g_strdup_printf ("/proc/%s/ns/net", entry->d_name);
      ns = g_file_read_link (ns_path, NULL);
      if (ns != NULL && g_hash_table_contains (inodes, ns))
        {
          g_test_message ("left in a host's namespace: pid %s", entry->d_name);
          left++;
        }
      path = g_strdup_printf ("/proc/%s/cmdline", entry->d_name);
      if (!g_file_get_contents (path, &cmdline, &len, NULL) || len == 0)
        continue;
      for (gsize k = 0; k + 1 < len; k++)
        if (cmdline[k] == '\0')
          cmdline[k] = ' ';
      if (strstr (cmdline, dir) != NULL)
        {
          g_test_message ("left: %s %s", entry->d_name, cmdline);
          left++;
        }
    }
  closedir (proc);
  g_assert_cmpuint (left, ==, 0);
  g_assert_cmpuint (mitogen_test_count_children (), ==, 0);
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  ssh_lines = g_ptr_array_new_with_free_func (g_free);
  g_log_set_writer_func (log_writer, NULL, NULL);

  skip_reason = host_fixture_unavailable (TRUE);
  if (skip_reason == NULL && !g_file_test (MITOGEN_TOOL_PATH, G_FILE_TEST_IS_EXECUTABLE))
    skip_reason = "the mitogen tool is not built";
  if (skip_reason == NULL)
    {
      g_autofree char *unshare = g_find_program_in_path ("unshare");

      if (unshare == NULL)
        skip_reason = "needs unshare (Debian package util-linux)";
    }
  if (skip_reason == NULL)
    {
      static const guint small[] = { 7, 27, 47, 67, 87, 107, 127, 147, 167, 187, 207, 227, 247 };
      guint n = n_hosts_wanted ();
      guint n_small = 0;
      guint64 rss = 0, pss = 0;

      host_fixture_ensure_users (&error);
      g_assert_no_error (error);
      while (n_small < G_N_ELEMENTS (small) && small[n_small] < n)
        n_small++;
      fleet = fleet_start (n, small, n_small, SMALL_DISK_BYTES, &error);
      g_assert_no_error (error);
      for (guint i = 0; i < n; i++)
        {
          rss += fleet_pid_rss_kb (fleet->hosts[i].pid);
          pss += fleet_pid_pss_kb (fleet->hosts[i].pid);
        }
      g_test_message ("fleet: %u hosts (sshd each, own netns and mount namespace) set up in %.2f s; "
                      "per listening sshd %.1f MiB VmRSS, %.2f MiB Pss", n, fleet->setup_seconds,
                      rss / 1024.0 / n, pss / 1024.0 / n);
      scratch = g_build_filename (fleet->holder->dir, "scratch", NULL);
      g_assert_cmpint (g_mkdir (scratch, 0755), ==, 0);
    }

  g_test_add_func ("/fleet/healthy", test_healthy);
  g_test_add_func ("/fleet/faults", test_faults);
  g_test_add_func ("/fleet/teardown", test_teardown);
  status = g_test_run ();
  fleet_stop (fleet);  /* when teardown did not run */
  g_free (scratch);
  g_ptr_array_unref (ssh_lines);
  return status;
}
