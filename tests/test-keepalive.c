/* test-keepalive.c — silent links and peers that stop reading (issue #16
 * item 2): the stream keepalive in both directions and through `via`, the
 * KEEPALIVE frame's strictness, backpressure on what the broker forwards,
 * and frames whose announced length is not allocated up front.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mitogen-test.h"
#include "mitogen-context-private.h"
#include "mitogen-buffer-pool-private.h"
#include "mitogen-frame-private.h"
#include "mitogen-message-private.h"
#include "mitogen-stream-private.h"

#define MiB (1024u * 1024u)

/* --- helpers ------------------------------------------------------------- */

static MitogenRouter *
router_with_keepalive (double interval,
                       guint  count)
{
  MitogenRouter *router = mitogen_router_new ();

  g_object_set (router, "keepalive-interval", interval, "keepalive-count", count, NULL);
  return router;
}

/* A field of /proc/PID/status (VmHWM, VmRSS), in KiB. */
static guint64
proc_status_kib (GPid        pid,
                 const char *field)
{
  g_autofree char *path = pid != 0 ? g_strdup_printf ("/proc/%d/status", (int) pid)
                                   : g_strdup ("/proc/self/status");
  g_autofree char *text = NULL;
  const char *at;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  at = strstr (text, field);
  g_assert_nonnull (at);
  return g_ascii_strtoull (at + strlen (field) + 1, NULL, 10);
}

/* Context switches of every thread of PID: how often it woke up. */
static guint64
proc_wakeups (GPid pid)
{
  g_autofree char *dir_path = g_strdup_printf ("/proc/%d/task", (int) pid);
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
  const char *tid;
  guint64 total = 0;

  /* Every time one of its threads was switched out: a thread that sends
   * (or does anything else) must have woken up first. The write counters
   * of /proc/PID/io miss sendmsg (). */
  g_assert_nonnull (dir);
  while ((tid = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_strdup_printf ("%s/%s/status", dir_path, tid);
      g_autofree char *text = NULL;

      if (!g_file_get_contents (path, &text, NULL, NULL))
        continue;  /* the thread ended meanwhile */
      for (const char *key = "voluntary_ctxt_switches:"; key != NULL;
           key = g_str_equal (key, "voluntary_ctxt_switches:") ? "nonvoluntary_ctxt_switches:" : NULL)
        {
          const char *at = strstr (text, key);

          g_assert_nonnull (at);
          total += g_ascii_strtoull (at + strlen (key), NULL, 10);
        }
    }
  return total;
}

typedef struct
{
  MitogenContext *context;
  char           *function;
  GVariant       *args;
  GError         *error;
  GVariant       *result;
  gint64          finished;
} PendingCall;

static gpointer
pending_call_thread (gpointer data)
{
  PendingCall *call = data;

  call->result = mitogen_context_call (call->context, call->function, call->args, NULL, &call->error);
  call->finished = g_get_monotonic_time ();
  return NULL;
}

/* Starts @function in @context on a thread of its own; join it with
 * g_thread_join (). */
static GThread *
pending_call_start (PendingCall    *call,
                    MitogenContext *context,
                    const char     *function,
                    GVariant       *args)
{
  memset (call, 0, sizeof *call);
  call->context = context;
  call->function = g_strdup (function);
  call->args = args != NULL ? g_variant_ref_sink (args) : NULL;
  return g_thread_new ("pending-call", pending_call_thread, call);
}

static void
pending_call_clear (PendingCall *call)
{
  g_free (call->function);
  g_clear_pointer (&call->args, g_variant_unref);
  g_clear_pointer (&call->result, g_variant_unref);
  g_clear_error (&call->error);
}

static gboolean
wait_disconnected (MitogenContext *context,
                   guint           seconds)
{
  gint64 deadline = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;

  while (mitogen_context_is_connected (context) && g_get_monotonic_time () < deadline)
    g_usleep (2000);
  return !mitogen_context_is_connected (context);
}

static GPid
remote_pid (MitogenContext *context)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) pid = mitogen_context_call (context, "os.getpid", NULL, NULL, &error);

  g_assert_no_error (error);
  return (GPid) g_variant_get_int64 (pid);
}

/* --- detection ------------------------------------------------------------ */

static void
test_local_stopped (void)
{
  g_autoptr(MitogenRouter) router = router_with_keepalive (0.5, 3);
  g_autoptr(MitogenContext) context = mitogen_test_local (router);
  GPid pid = remote_pid (context);
  PendingCall call;
  GThread *thread;
  gint64 start, elapsed;

  g_test_summary ("A local context whose agent is SIGSTOPped fails a pending call within "
                  "interval x count (0.5 s x 3) plus slack, with CHANNEL naming the keepalive; "
                  "the context is disconnected and the stopped agent killed.");

  thread = pending_call_start (&call, context, "mitogen.sleep", g_variant_new ("(d)", 60.0));
  g_usleep (200000);
  start = g_get_monotonic_time ();
  g_assert_cmpint (kill (pid, SIGSTOP), ==, 0);
  g_thread_join (thread);
  elapsed = call.finished - start;

  g_assert_null (call.result);
  g_assert_error (call.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_test_message ("stopped agent noticed after %.3f s: %s", elapsed / 1e6, call.error->message);
  g_assert_nonnull (strstr (call.error->message, "keepalive"));
  /* Silent for 1.5 s, the last word at most an interval before the stop. */
  g_assert_cmpint (elapsed, >=, 900 * 1000);
  g_assert_cmpint (elapsed, <, 5 * G_USEC_PER_SEC);
  g_assert_false (mitogen_context_is_connected (context));
  /* Killed by the keepalive timeout: nothing left, even stopped. */
  g_assert_true (mitogen_test_wait_pid_gone (pid, 5000));
  kill (pid, SIGCONT);
  pending_call_clear (&call);
}

static void
test_via_stopped (void)
{
  g_autoptr(MitogenRouter) router = router_with_keepalive (0.5, 3);
  g_autoptr(MitogenContext) middle = mitogen_test_local (router);
  g_autoptr(MitogenContext) leaf = NULL;
  g_autoptr(GError) error = NULL;
  PendingCall call;
  GThread *thread;
  gint64 start, elapsed;
  GPid pid;

  g_test_summary ("Through via: the intermediate notices its stopped child by the keepalive "
                  "it inherited, and the master's pending call fails naming the keepalive; the "
                  "intermediate carries on.");

  leaf = mitogen_router_connect (router, "local", NULL, middle, NULL, &error);
  g_assert_no_error (error);
  pid = remote_pid (leaf);

  thread = pending_call_start (&call, leaf, "mitogen.sleep", g_variant_new ("(d)", 60.0));
  g_usleep (200000);
  start = g_get_monotonic_time ();
  g_assert_cmpint (kill (pid, SIGSTOP), ==, 0);
  g_thread_join (thread);
  elapsed = call.finished - start;

  g_assert_error (call.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_test_message ("stopped leaf noticed after %.3f s: %s", elapsed / 1e6, call.error->message);
  g_assert_nonnull (strstr (call.error->message, "keepalive"));
  g_assert_cmpint (elapsed, <, 5 * G_USEC_PER_SEC);
  g_assert_false (mitogen_context_is_connected (leaf));
  g_assert_true (mitogen_context_is_connected (middle));
  g_assert_cmpint (remote_pid (middle), >, 0);
  g_assert_true (mitogen_test_wait_pid_gone (pid, 5000));
  kill (pid, SIGCONT);
  pending_call_clear (&call);
}

static void
test_master_stopped (void)
{
  const char *argv[] = { MASTER_HELPER, "2", "0.5", NULL };
  g_autoptr(GSubprocess) helper = NULL;
  g_autoptr(GDataInputStream) input = NULL;
  g_autoptr(GError) error = NULL;
  GPid agents[2];
  GPid helper_pid;
  gint64 start;

  g_test_summary ("An agent whose master goes silent (SIGSTOPped; keepalive 0.5 s x 3) exits "
                  "by itself, even the one serving a long call.");

  helper = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  helper_pid = atoi (g_subprocess_get_identifier (helper));
  input = g_data_input_stream_new (g_subprocess_get_stdout_pipe (helper));
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *line = g_data_input_stream_read_line (input, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (line);
      agents[i] = atoi (line);
      g_assert_true (mitogen_test_pid_alive (agents[i]));
    }
  {
    g_autofree char *ready = g_data_input_stream_read_line (input, NULL, NULL, &error);
    g_assert_cmpstr (ready, ==, "ready");
  }
  g_usleep (200000);

  start = g_get_monotonic_time ();
  g_assert_cmpint (kill (helper_pid, SIGSTOP), ==, 0);
  for (guint i = 0; i < 2; i++)
    g_assert_true (mitogen_test_wait_pid_gone (agents[i], 5000));
  g_test_message ("agents gone %.3f s after their master stopped", (g_get_monotonic_time () - start) / 1e6);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 900 * 1000);

  g_subprocess_force_exit (helper);
  kill (helper_pid, SIGCONT);
  g_subprocess_wait (helper, NULL, &error);
  g_assert_no_error (error);
}

static void
test_busy_peer (void)
{
  g_autoptr(MitogenRouter) router = router_with_keepalive (0.5, 2);
  g_autoptr(MitogenContext) context = mitogen_test_local (router);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) slept = NULL;
  g_autoptr(GVariant) down = NULL;
  g_autoptr(GBytes) chunk = NULL;
  guint8 *data = g_malloc (MiB);
  gint64 start;

  g_test_summary ("A busy but alive peer is not disconnected with a short keepalive (0.5 s x "
                  "2): a 3 s call, 100 MiB down in one frame, 100 MiB up in 1 MiB calls.");

  slept = mitogen_context_call (context, "mitogen.sleep", g_variant_new ("(d)", 3.0), NULL, &error);
  g_assert_no_error (error);

  start = g_get_monotonic_time ();
  down = mitogen_context_call (context, "mitogen.bytes", g_variant_new ("(ty)", (guint64) 100 * MiB, 7),
                               NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_get_size (down), ==, 100 * MiB);
  g_test_message ("100 MiB down in %.2f s", (g_get_monotonic_time () - start) / 1e6);

  for (gsize i = 0; i < MiB; i++)
    data[i] = (guint8) (i * 7);
  chunk = g_bytes_new_take (data, MiB);
  start = g_get_monotonic_time ();
  for (guint i = 0; i < 100; i++)
    {
      g_autoptr(GVariant) echoed =
        mitogen_context_call (context, "mitogen.echo",
                              g_variant_new ("(@ay)", g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, chunk, TRUE)),
                              NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (g_variant_get_size (echoed), ==, MiB);
    }
  g_test_message ("100 x 1 MiB up and back in %.2f s", (g_get_monotonic_time () - start) / 1e6);
  g_assert_true (mitogen_context_is_connected (context));
}

static void
test_off_sends_nothing (void)
{
  g_autoptr(MitogenRouter) off = router_with_keepalive (0, 3);
  g_autoptr(MitogenRouter) on = router_with_keepalive (0.05, 3);
  g_autoptr(MitogenContext) quiet = mitogen_test_local (off);
  g_autoptr(MitogenContext) chatty = mitogen_test_local (on);
  GPid quiet_pid = remote_pid (quiet), chatty_pid = remote_pid (chatty);
  guint64 quiet_before, chatty_before, quiet_after, chatty_after;

  g_test_summary ("keepalive-interval 0 sends nothing: an idle agent does not even wake up "
                  "for 1 s (one with 0.05 s keepalives wakes many times meanwhile); stopping it "
                  "for 1 s goes unnoticed.");

  /* Past the agent's one idle wake-up (its heap trim, 1 s after the last call). */
  g_usleep (1500000);
  quiet_before = proc_wakeups (quiet_pid);
  chatty_before = proc_wakeups (chatty_pid);
  g_usleep (G_USEC_PER_SEC);
  quiet_after = proc_wakeups (quiet_pid);
  chatty_after = proc_wakeups (chatty_pid);
  g_test_message ("wake-ups in 1 s idle: keepalive off %" G_GUINT64_FORMAT ", 0.05 s %" G_GUINT64_FORMAT,
                  quiet_after - quiet_before, chatty_after - chatty_before);
  g_assert_cmpuint (quiet_after, ==, quiet_before);
  g_assert_cmpuint (chatty_after - chatty_before, >=, 5);

  g_assert_cmpint (kill (quiet_pid, SIGSTOP), ==, 0);
  g_usleep (G_USEC_PER_SEC);
  g_assert_cmpint (kill (quiet_pid, SIGCONT), ==, 0);
  g_assert_true (mitogen_context_is_connected (quiet));
  g_assert_cmpint (remote_pid (quiet), ==, quiet_pid);
}

static void
test_options (void)
{
  g_autoptr(MitogenRouter) router = router_with_keepalive (0, 3);
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  PendingCall call;
  GThread *thread;
  GVariantBuilder b;
  double interval = -2;
  guint count = 0;
  GPid pid;

  g_test_summary ("The keepalive_interval and keepalive_count connect options override the "
                  "router's properties (here off): the stopped agent is noticed.");

  g_object_get (router, "keepalive-interval", &interval, "keepalive-count", &count, NULL);
  g_assert_cmpfloat (interval, ==, 0);
  g_assert_cmpuint (count, ==, 3);

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "keepalive_interval", g_variant_new_double (0.2));
  g_variant_builder_add (&b, "{sv}", "keepalive_count", g_variant_new_int32 (2));
  context = mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error);
  g_assert_no_error (error);
  pid = remote_pid (context);

  thread = pending_call_start (&call, context, "mitogen.sleep", g_variant_new ("(d)", 60.0));
  g_usleep (100000);
  g_assert_cmpint (kill (pid, SIGSTOP), ==, 0);
  g_thread_join (thread);
  g_assert_error (call.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_nonnull (strstr (call.error->message, "keepalive"));
  g_assert_cmpint (call.finished - g_get_monotonic_time (), <, 0);
  g_assert_true (mitogen_test_wait_pid_gone (pid, 5000));
  kill (pid, SIGCONT);
  pending_call_clear (&call);

  /* Out of range: a clear error, nothing started. */
  g_clear_error (&error);
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "keepalive_interval", g_variant_new_double (-5));
  g_assert_null (mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
}

/* --- a fake child on a socketpair: the wire, frame by frame --------------- */

typedef struct
{
  MitogenRouter  *router;
  MitogenContext *context;
  MitogenStream  *stream;
  int             fd;       /* our end: we are the child */
} FakeChild;

#define FAKE_ID 77u

static void
fake_child_init (FakeChild     *f,
                 MitogenRouter *router)
{
  int sv[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
  f->router = g_object_ref (router);
  f->fd = sv[1];
  f->stream = mitogen_stream_new (mitogen_router_get_broker (router), "fake[77]", sv[0], sv[0], 0,
                                  MITOGEN_DEFAULT_MAX_MESSAGE_SIZE);
  mitogen_stream_set_handshaken (f->stream, TRUE);
  f->context = mitogen_context_new (router, FAKE_ID, "fake", NULL, 0, NULL);
  mitogen_router_register (router, f->context, f->stream);
}

static void
fake_child_clear (FakeChild *f)
{
  close (f->fd);
  g_assert_true (wait_disconnected (f->context, 5));
  g_clear_object (&f->context);
  g_clear_object (&f->stream);
  g_clear_object (&f->router);
}

/* Sends one frame from the fake child to the master (id 0). */
static void
fake_send (FakeChild  *f,
           guint32     dst_id,
           guint32     handle,
           GVariant   *value)
{
  g_autoptr(GVariant) boxed = g_variant_ref_sink (g_variant_new_variant (value));
  MitogenFrameHeader header = { 0 };
  guint8 buf[MITOGEN_FRAME_HEADER_SIZE];

  header.dst_id = dst_id;
  header.src_id = FAKE_ID;
  header.auth_id = FAKE_ID;
  header.handle = handle;
  header.length = (guint32) g_variant_get_size (boxed);
  mitogen_frame_header_encode (&header, buf);
  g_assert_cmpint (write (f->fd, buf, sizeof buf), ==, sizeof buf);
  g_assert_cmpint (write (f->fd, g_variant_get_data (boxed), header.length), ==, (gssize) header.length);
}

static guint32
be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static void
test_wire (void)
{
  g_autoptr(MitogenRouter) router = router_with_keepalive (0, 3);
  guint8 header[MITOGEN_FRAME_HEADER_SIZE];
  guint8 payload[256];
  FakeChild f;
  guint32 length;

  g_test_summary ("A KEEPALIVE request is answered at once by the broker with (bx) echoing the "
                  "stamp; a malformed one, or one addressed beyond this hop, closes the stream.");

  /* A well-formed request. */
  fake_child_init (&f, router);
  fake_send (&f, 0, MITOGEN_HANDLE_KEEPALIVE, g_variant_new ("(bx)", FALSE, (gint64) 4242));
  g_assert_cmpint (read (f.fd, header, sizeof header), ==, sizeof header);
  g_assert_cmpuint (be32 (header + 4), ==, FAKE_ID);      /* dst */
  g_assert_cmpuint (be32 (header + 16), ==, MITOGEN_HANDLE_KEEPALIVE);
  length = be32 (header + 24);
  g_assert_cmpuint (length, <=, sizeof payload);
  g_assert_cmpint (read (f.fd, payload, length), ==, (gssize) length);
  {
    g_autoptr(GVariant) boxed = g_variant_ref_sink (g_variant_new_from_data (G_VARIANT_TYPE_VARIANT, payload, length,
                                                                             FALSE, NULL, NULL));
    g_autoptr(GVariant) inner = g_variant_get_variant (boxed);
    gboolean answer;
    gint64 stamp;

    g_assert_cmpstr (g_variant_get_type_string (inner), ==, "(bx)");
    g_variant_get (inner, "(bx)", &answer, &stamp);
    g_assert_true (answer);
    g_assert_cmpint (stamp, ==, 4242);
  }
  g_assert_true (mitogen_context_is_connected (f.context));

  /* Malformed: the stream closes (we read end-of-file). */
  fake_send (&f, 0, MITOGEN_HANDLE_KEEPALIVE, g_variant_new ("(s)", "hello"));
  g_assert_cmpint (read (f.fd, header, sizeof header), ==, 0);
  fake_child_clear (&f);

  /* Addressed to another context: keepalives travel one hop. */
  fake_child_init (&f, router);
  fake_send (&f, 5, MITOGEN_HANDLE_KEEPALIVE, g_variant_new ("(bx)", FALSE, (gint64) 1));
  g_assert_cmpint (read (f.fd, header, sizeof header), ==, 0);
  fake_child_clear (&f);
}

static void
test_big_frame_lazy (void)
{
  g_autoptr(MitogenRouter) router = router_with_keepalive (0, 3);
  MitogenFrameHeader header = { 0 };
  guint8 buf[MITOGEN_FRAME_HEADER_SIZE];
  g_autofree guint8 *chunk = g_malloc0 (MiB);
  guint64 rss_before, rss_after;
  gint64 deadline;
  FakeChild f;

  g_test_summary ("A peer announcing a 100 MiB frame and sending nothing more costs at most the "
                  "read buffer; the allocation grows with what arrives.");

  fake_child_init (&f, router);
  rss_before = proc_status_kib (0, "VmRSS:");
  header.dst_id = 0;
  header.src_id = FAKE_ID;
  header.auth_id = FAKE_ID;
  header.handle = 5000;
  header.length = 100 * MiB;
  mitogen_frame_header_encode (&header, buf);
  g_assert_cmpint (write (f.fd, buf, sizeof buf), ==, sizeof buf);
  g_assert_cmpint (write (f.fd, chunk, 16), ==, 16);

  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (mitogen_stream_get_read_allocation (f.stream) == 0 && g_get_monotonic_time () < deadline)
    g_usleep (1000);
  rss_after = proc_status_kib (0, "VmRSS:");
  g_test_message ("header of a 100 MiB frame: %" G_GSIZE_FORMAT " bytes allocated, RSS %+" G_GINT64_FORMAT " KiB",
                  mitogen_stream_get_read_allocation (f.stream), (gint64) (rss_after - rss_before));
  g_assert_cmpuint (mitogen_stream_get_read_allocation (f.stream), >, 0);
  g_assert_cmpuint (mitogen_stream_get_read_allocation (f.stream), <=, MiB);
  g_assert_cmpint ((gint64) (rss_after - rss_before), <, 8 * 1024);

  /* 3 MiB more: the buffer follows. */
  for (guint i = 0; i < 3; i++)
    g_assert_cmpint (write (f.fd, chunk, MiB), ==, MiB);
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (mitogen_stream_get_read_allocation (f.stream) < 3 * MiB && g_get_monotonic_time () < deadline)
    g_usleep (1000);
  g_test_message ("after 3 MiB of it: %" G_GSIZE_FORMAT " bytes allocated",
                  mitogen_stream_get_read_allocation (f.stream));
  g_assert_cmpuint (mitogen_stream_get_read_allocation (f.stream), >=, 3 * MiB);
  g_assert_cmpuint (mitogen_stream_get_read_allocation (f.stream), <=, 8 * MiB);

  /* Past 8 MiB the rest is allocated at once (no more copies). */
  for (guint i = 0; i < 6; i++)
    g_assert_cmpint (write (f.fd, chunk, MiB), ==, MiB);
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (mitogen_stream_get_read_allocation (f.stream) < 100 * MiB && g_get_monotonic_time () < deadline)
    g_usleep (1000);
  g_assert_cmpuint (mitogen_stream_get_read_allocation (f.stream), ==, 100 * MiB);
  fake_child_clear (&f);
}

static void
test_big_frame_recycled (void)
{
  g_autoptr(MitogenRouter) router = router_with_keepalive (0, 3);
  g_autoptr(MitogenReceiver) receiver = mitogen_receiver_new (router, 0, TRUE, NULL);
  g_autofree guint8 *zeros = g_malloc0 (MiB);
  const guint8 *seen[3];
  FakeChild f;

  g_test_summary ("The buffer a big frame was read into goes back to the buffer pool when its "
                  "message is freed, and the next big frame of that size is read into it.");

  fake_child_init (&f, router);
  mitogen_buffer_pool_clear ();
  for (guint i = 0; i < G_N_ELEMENTS (seen); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(MitogenMessage) message = NULL;
      gsize size = 0;

      fake_send (&f, 0, mitogen_receiver_get_handle (receiver),
                 g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, zeros, MiB, 1));
      message = mitogen_receiver_get (receiver, 10, &error);
      g_assert_no_error (error);
      seen[i] = g_bytes_get_data (message->payload, &size);
      g_assert_cmpuint (size, >, MiB);
      /* 16-byte aligned: GVariant copies misaligned data. */
      g_assert_cmpuint (GPOINTER_TO_SIZE (seen[i]) % 16, ==, 0);
      if (i > 0)
        g_assert_true (seen[i] == seen[0]);
      g_clear_pointer (&message, mitogen_message_unref);
      /* The broker may still hold the message for a moment after it
       * delivered it. */
      for (gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
           mitogen_buffer_pool_get_bytes () < MiB && g_get_monotonic_time () < deadline; )
        g_usleep (1000);
      g_assert_cmpuint (mitogen_buffer_pool_get_bytes (), >=, MiB);
    }
  fake_child_clear (&f);
  /* A router shut down leaves nothing pooled. */
  g_assert_cmpuint (mitogen_buffer_pool_get_bytes (), >=, MiB);
  mitogen_router_shutdown (router);
  g_assert_cmpuint (mitogen_buffer_pool_get_bytes (), ==, 0);
}

static void
test_buffer_pool_bounds (void)
{
  guint8 *buffers[MITOGEN_BUFFER_POOL_COUNT + 2];

  g_test_summary ("The buffer pool keeps at most MITOGEN_BUFFER_POOL_COUNT buffers and "
                  "MITOGEN_BUFFER_POOL_BYTES bytes, nothing small, and hands out only "
                  "buffers of about the size asked for.");

  mitogen_buffer_pool_clear ();
  g_assert_null (mitogen_buffer_pool_try_take (MiB));

  /* Too small to keep. */
  mitogen_buffer_pool_give (mitogen_buffer_pool_alloc (1024));
  g_assert_cmpuint (mitogen_buffer_pool_get_bytes (), ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (buffers); i++)
    buffers[i] = mitogen_buffer_pool_alloc (MITOGEN_BUFFER_POOL_MIN);
  for (guint i = 0; i < G_N_ELEMENTS (buffers); i++)
    mitogen_buffer_pool_give (buffers[i]);
  g_assert_cmpuint (mitogen_buffer_pool_get_bytes (), ==, MITOGEN_BUFFER_POOL_COUNT * MITOGEN_BUFFER_POOL_MIN);

  /* A buffer more than twice the size asked for is not handed out. */
  g_assert_null (mitogen_buffer_pool_try_take (MITOGEN_BUFFER_POOL_MIN * 3));
  buffers[0] = mitogen_buffer_pool_try_take (MITOGEN_BUFFER_POOL_MIN);
  g_assert_nonnull (buffers[0]);
  g_assert_cmpuint (mitogen_buffer_pool_get_bytes (), ==, (MITOGEN_BUFFER_POOL_COUNT - 1) * MITOGEN_BUFFER_POOL_MIN);
  mitogen_buffer_pool_give (buffers[0]);
  mitogen_buffer_pool_clear ();

  /* Bytes: two 5 MiB buffers do not fit in 8 MiB. */
  buffers[0] = mitogen_buffer_pool_alloc (5 * MiB);
  buffers[1] = mitogen_buffer_pool_alloc (5 * MiB);
  mitogen_buffer_pool_give (buffers[0]);
  mitogen_buffer_pool_give (buffers[1]);
  g_assert_cmpuint (mitogen_buffer_pool_get_bytes (), ==, 5 * MiB);
  buffers[0] = mitogen_buffer_pool_try_take (4 * MiB);
  g_assert_nonnull (buffers[0]);
  g_assert_cmpuint (mitogen_buffer_pool_capacity (buffers[0]), ==, 5 * MiB);
  /* Growing keeps the contents. */
  memset (buffers[0], 0xab, 5 * MiB);
  buffers[0] = mitogen_buffer_pool_grow (buffers[0], 6 * MiB);
  g_assert_cmpuint (mitogen_buffer_pool_capacity (buffers[0]), ==, 6 * MiB);
  g_assert_cmpuint (buffers[0][5 * MiB - 1], ==, 0xab);
  mitogen_buffer_pool_give (buffers[0]);
  g_assert_cmpuint (mitogen_buffer_pool_get_bytes (), ==, 6 * MiB);

  /* Not taken again for MITOGEN_BUFFER_POOL_IDLE_USEC: freed at the next
   * use of the pool. */
  g_usleep (MITOGEN_BUFFER_POOL_IDLE_USEC + G_USEC_PER_SEC / 10);
  g_assert_null (mitogen_buffer_pool_try_take (MiB));
  g_assert_cmpuint (mitogen_buffer_pool_get_bytes (), ==, 0);
  mitogen_buffer_pool_clear ();
}

/* --- peers that stop reading ------------------------------------------------ */

typedef struct
{
  MitogenRouter *router;
  guint32        dst_id;
  gint           sent_mib;    /* (atomic) */
  gint           stop;        /* (atomic) */
  GError        *error;
} Pusher;

/* Sends 1 MiB messages, each freshly allocated, to a handle nobody has. */
static gpointer
pusher_thread (gpointer data)
{
  Pusher *p = data;

  while (!g_atomic_int_get (&p->stop) && g_atomic_int_get (&p->sent_mib) < 512)
    {
      g_autoptr(MitogenMessage) message = NULL;
      guint8 *bytes = g_malloc (MiB);

      memset (bytes, 0x5a, MiB);
      message = mitogen_message_new (p->dst_id, 5000,
                                     g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING, bytes, MiB,
                                                              TRUE, g_free, bytes));
      if (!mitogen_router_route (p->router, message, &p->error))
        break;
      g_atomic_int_inc (&p->sent_mib);
    }
  return NULL;
}

/* Lets @p push for @seconds, then checks it is stuck (blocked), not done. */
static int
push_until_stuck (Pusher *p,
                  double  seconds)
{
  int before;

  g_usleep ((gulong) (seconds * G_USEC_PER_SEC));
  before = g_atomic_int_get (&p->sent_mib);
  g_usleep (G_USEC_PER_SEC / 2);
  g_assert_cmpint (g_atomic_int_get (&p->sent_mib), ==, before);
  return before;
}

static void
test_slow_reader_direct (void)
{
  g_autoptr(MitogenRouter) router = router_with_keepalive (0, 3);
  g_autoptr(MitogenContext) context = mitogen_test_local (router);
  Pusher p = { 0 };
  GThread *thread;
  guint64 hwm_before, hwm_after;
  GPid pid = remote_pid (context);
  int sent;

  g_test_summary ("A context that stops reading (SIGSTOPped, keepalive off): the master's "
                  "sending thread blocks at the stream's high-water mark and the master's "
                  "VmHWM stays bounded.");

  p.router = router;
  p.dst_id = mitogen_context_get_id (context);
  hwm_before = proc_status_kib (0, "VmHWM:");
  g_assert_cmpint (kill (pid, SIGSTOP), ==, 0);
  thread = g_thread_new ("pusher", pusher_thread, &p);
  sent = push_until_stuck (&p, 1.5);
  hwm_after = proc_status_kib (0, "VmHWM:");
  g_test_message ("stopped reader: %d MiB sent before the sender blocked; master VmHWM %" G_GUINT64_FORMAT
                  " -> %" G_GUINT64_FORMAT " KiB", sent, hwm_before, hwm_after);
  g_assert_cmpint (sent, <, 64);
  g_assert_cmpuint (hwm_after, <, hwm_before + 48 * 1024);

  /* Killing the reader unblocks the sender with an error. */
  kill (pid, SIGKILL);
  g_assert_true (wait_disconnected (context, 10));
  g_thread_join (thread);
  g_assert_error (p.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_clear_error (&p.error);
}

static void
test_slow_reader_via (void)
{
  g_autoptr(MitogenRouter) router = router_with_keepalive (0, 3);
  g_autoptr(MitogenContext) middle = mitogen_test_local (router);
  g_autoptr(MitogenContext) leaf = NULL;
  g_autoptr(GError) error = NULL;
  Pusher p = { 0 };
  GThread *thread;
  guint64 hwm_before, hwm_after, master_before, master_after;
  GPid middle_pid, leaf_pid;
  int sent;

  g_test_summary ("Through via, the final hop stops reading: the intermediate stops reading "
                  "from the master while its queue to the leaf is over high water, so its "
                  "VmHWM stays bounded and the master's sender blocks; it all resumes when the "
                  "leaf goes.");

  leaf = mitogen_router_connect (router, "local", NULL, middle, NULL, &error);
  g_assert_no_error (error);
  middle_pid = remote_pid (middle);
  leaf_pid = remote_pid (leaf);

  p.router = router;
  p.dst_id = mitogen_context_get_id (leaf);
  hwm_before = proc_status_kib (middle_pid, "VmHWM:");
  master_before = proc_status_kib (0, "VmHWM:");
  g_assert_cmpint (kill (leaf_pid, SIGSTOP), ==, 0);
  thread = g_thread_new ("pusher", pusher_thread, &p);
  sent = push_until_stuck (&p, 2.0);
  hwm_after = proc_status_kib (middle_pid, "VmHWM:");
  master_after = proc_status_kib (0, "VmHWM:");
  g_test_message ("leaf stopped: %d MiB sent before the master's sender blocked; intermediate "
                  "VmHWM %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT " KiB; master %" G_GUINT64_FORMAT
                  " -> %" G_GUINT64_FORMAT " KiB", sent, hwm_before, hwm_after, master_before, master_after);
  g_assert_cmpint (sent, <, 96);
  g_assert_cmpuint (hwm_after, <, hwm_before + 64 * 1024);
  g_assert_cmpuint (master_after, <, master_before + 48 * 1024);

  /* The intermediate still answers (its broker reads the master again
   * once the leaf is gone). */
  kill (leaf_pid, SIGKILL);
  g_assert_true (wait_disconnected (leaf, 10));
  g_thread_join (thread);
  g_assert_error (p.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_clear_error (&p.error);
  g_assert_cmpint (remote_pid (middle), ==, middle_pid);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  /* First: they measure this process's VmHWM, which the 100 MiB
   * transfers below raise for good. */
  g_test_add_func ("/backpressure/slow-reader", test_slow_reader_direct);
  g_test_add_func ("/backpressure/slow-reader-via", test_slow_reader_via);
  g_test_add_func ("/keepalive/local-stopped", test_local_stopped);
  g_test_add_func ("/keepalive/via-stopped", test_via_stopped);
  g_test_add_func ("/keepalive/master-stopped", test_master_stopped);
  g_test_add_func ("/keepalive/busy-peer", test_busy_peer);
  g_test_add_func ("/keepalive/off-sends-nothing", test_off_sends_nothing);
  g_test_add_func ("/keepalive/options", test_options);
  g_test_add_func ("/keepalive/wire", test_wire);
  g_test_add_func ("/keepalive/big-frame-lazy", test_big_frame_lazy);
  g_test_add_func ("/keepalive/big-frame-recycled", test_big_frame_recycled);
  g_test_add_func ("/keepalive/buffer-pool-bounds", test_buffer_pool_bounds);
  return g_test_run ();
}
