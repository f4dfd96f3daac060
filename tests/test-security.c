/* test-security.c — a child can never make its parent or a sibling run
 * anything, cannot spoof another context's identity, and a peer speaking
 * garbage is cut off without harm.
 *
 * A fake child is attached to a real master router through a socketpair;
 * the test writes crafted frames from the child's end and reads what the
 * master sends back. A real local context plays the sibling.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mitogen-message-private.h"
#include "mitogen-router-private.h"
#include "mitogen-stream-private.h"
#include "mitogen-test.h"
#include "mitogen-plugins-private.h"
#include "mitogen-local-transport.h"

#define FAKE_ID 77u

typedef struct
{
  MitogenRouter  *router;   /* (owned) */
  MitogenContext *sibling;  /* (owned) */
  MitogenStream  *stream;   /* (owned) the master's end */
  int             fd;       /* the fake child's end */
} Fixture;

typedef struct
{
  Fixture *f;
  int      fd;
  gboolean done;
  GMutex   lock;
  GCond    cond;
} Attach;

static gboolean
attach_cb (gpointer data)
{
  Attach *a = data;
  MitogenBroker *broker = mitogen_router_get_broker (a->f->router);

  a->f->stream = mitogen_stream_new (broker, "fake-child", a->fd, a->fd, 0, 1024 * 1024);
  mitogen_stream_set_handshaken (a->f->stream, TRUE);
  mitogen_router_attach_stream (a->f->router, a->f->stream, FAKE_ID);
  mitogen_stream_start (a->f->stream);

  g_mutex_lock (&a->lock);
  a->done = TRUE;
  g_cond_signal (&a->cond);
  g_mutex_unlock (&a->lock);
  return G_SOURCE_REMOVE;
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  int pair[2];
  Attach a = { f, -1, FALSE };

  f->router = mitogen_router_new ();
  f->sibling = mitogen_test_local (f->router);
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
  f->fd = pair[1];
  a.fd = pair[0];
  g_mutex_init (&a.lock);
  g_cond_init (&a.cond);
  mitogen_broker_defer (mitogen_router_get_broker (f->router), attach_cb, &a, NULL);
  g_mutex_lock (&a.lock);
  while (!a.done)
    g_cond_wait (&a.cond, &a.lock);
  g_mutex_unlock (&a.lock);
  g_mutex_clear (&a.lock);
  g_cond_clear (&a.cond);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  close (f->fd);
  g_clear_object (&f->stream);
  g_clear_object (&f->sibling);
  /* Stop the broker first: it may still hold a passing reference. */
  mitogen_router_shutdown (f->router);
  g_assert_finalize_object (f->router);
}

static void
write_all (int fd, const void *data, gsize len)
{
  const guint8 *p = data;

  while (len > 0)
    {
      gssize n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
        return;  /* the master already cut us off */
      g_assert_cmpint (n, >, 0);
      p += n;
      len -= (gsize) n;
    }
}

/* Writes one frame carrying @value (or raw @payload) from the fake child. */
static void
send_frame (Fixture        *f,
            guint32         dst,
            guint32         src,
            guint32         auth,
            guint32         handle,
            guint32         reply_to,
            GVariant       *value)
{
  g_autoptr(GVariant) boxed = g_variant_ref_sink (g_variant_new_variant (value));
  MitogenFrameHeader h = { 0, dst, src, auth, handle, reply_to, (guint32) g_variant_get_size (boxed) };
  guint8 header[MITOGEN_FRAME_HEADER_SIZE];

  mitogen_frame_header_encode (&h, header);
  write_all (f->fd, header, sizeof header);
  write_all (f->fd, g_variant_get_data (boxed), g_variant_get_size (boxed));
}

/* Reads one frame sent to the fake child within @timeout_ms; NULL if none. */
static MitogenMessage *
read_frame (Fixture *f,
            int      timeout_ms)
{
  guint8 header[MITOGEN_FRAME_HEADER_SIZE];
  MitogenFrameHeader h;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) payload = NULL;
  MitogenMessage *message;
  gsize got = 0;
  guint8 *buf;

  while (got < sizeof header)
    {
      struct pollfd pfd = { f->fd, POLLIN, 0 };
      gssize n;

      if (poll (&pfd, 1, timeout_ms) <= 0)
        return NULL;
      n = read (f->fd, header + got, sizeof header - got);
      if (n <= 0)
        return NULL;
      got += (gsize) n;
    }
  g_assert_true (mitogen_frame_header_decode (header, sizeof header, 1 << 20, &h, &error));
  buf = g_malloc (MAX (h.length, 1));
  got = 0;
  while (got < h.length)
    {
      gssize n = read (f->fd, buf + got, h.length - got);
      g_assert_cmpint (n, >, 0);
      got += (gsize) n;
    }
  payload = g_bytes_new_take (buf, h.length);
  message = mitogen_message_new_received (&h, payload);
  g_assert_true (mitogen_message_decode (message, &error));
  return message;
}

static GVariant *
call_request (const char *function,
              GVariant   *args)
{
  return g_variant_new ("(sv@a{sv})", function, args, g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));
}

static void
test_sibling_call_refused (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenMessage) reply = NULL;
  g_autoptr(GError) error = NULL;
  guint32 sibling = mitogen_context_get_id (f->sibling);

  g_test_summary ("A child's CALL_FUNCTION to its sibling is routed but refused by the sibling.");

  send_frame (f, sibling, FAKE_ID, FAKE_ID, MITOGEN_HANDLE_CALL_FUNCTION, 5000,
              call_request ("subprocess.check_output", g_variant_new ("(^as)", (const char *[]) { "touch", "/tmp/pwned-by-sibling", NULL })));
  reply = read_frame (f, 5000);
  g_assert_nonnull (reply);
  g_assert_cmpuint (mitogen_message_get_handle (reply), ==, 5000);
  g_assert_true (mitogen_message_is_error (reply));
  g_assert_null (mitogen_message_get_value (reply, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_nonnull (strstr (error->message, "Refused CALL_FUNCTION"));
  g_assert_false (g_file_test ("/tmp/pwned-by-sibling", G_FILE_TEST_EXISTS));
}

static void
test_forged_authority_dropped (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenMessage) reply = NULL;
  g_autoptr(GVariant) alive = NULL;
  guint32 sibling = mitogen_context_get_id (f->sibling);

  g_test_summary ("A child claiming the master's authority, or another context's source id, is dropped.");

  /* Claims to act for the master. */
  send_frame (f, sibling, FAKE_ID, 0, MITOGEN_HANDLE_CALL_FUNCTION, 5001,
              call_request ("mitogen.echo", g_variant_new ("(s)", "forged-auth")));
  /* Claims to be the sibling itself. */
  send_frame (f, sibling, sibling, sibling, MITOGEN_HANDLE_CALL_FUNCTION, 5002,
              call_request ("mitogen.echo", g_variant_new ("(s)", "forged-src")));
  /* Claims a source behind the master's own id. */
  send_frame (f, sibling, 0, FAKE_ID, MITOGEN_HANDLE_CALL_FUNCTION, 5003,
              call_request ("mitogen.echo", g_variant_new ("(s)", "forged-src-0")));

  reply = read_frame (f, 500);
  g_assert_null (reply);

  /* The stream and the sibling are still fine. */
  alive = mitogen_context_call (f->sibling, "mitogen.noop", NULL, NULL, NULL);
  g_assert_nonnull (alive);
  g_assert_false (mitogen_stream_is_closed (f->stream));
}

static void
test_call_master_refused (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenMessage) reply = NULL;

  g_test_summary ("A child cannot call a function in the master: it gets a dead reply.");

  send_frame (f, 0, FAKE_ID, FAKE_ID, MITOGEN_HANDLE_CALL_FUNCTION, 5004,
              call_request ("subprocess.check_output", g_variant_new ("(^as)", (const char *[]) { "true", NULL })));
  reply = read_frame (f, 5000);
  g_assert_nonnull (reply);
  g_assert_cmpuint (mitogen_message_get_handle (reply), ==, 5004);
  g_assert_true (mitogen_message_is_dead (reply));
}

static void
test_shutdown_sibling_refused (Fixture *f, gconstpointer data)
{
  g_autoptr(GVariant) alive = NULL;

  g_test_summary ("A child cannot shut its sibling down.");

  send_frame (f, mitogen_context_get_id (f->sibling), FAKE_ID, FAKE_ID, MITOGEN_HANDLE_SHUTDOWN, 0,
              g_variant_new ("()"));
  g_usleep (200000);
  alive = mitogen_context_call (f->sibling, "mitogen.noop", NULL, NULL, NULL);
  g_assert_nonnull (alive);
  g_assert_true (mitogen_context_is_connected (f->sibling));
}

typedef struct
{
  const char *path;
  int         kind;
} Garbage;

enum { BAD_MAGIC, TOO_LARGE, TRUNCATED, MALFORMED, BAD_ERROR_SHAPE, RANDOM };

static const Garbage garbage[] = {
  { "/security/garbage/bad-magic", BAD_MAGIC },
  { "/security/garbage/too-large", TOO_LARGE },
  { "/security/garbage/truncated", TRUNCATED },
  { "/security/garbage/malformed-variant", MALFORMED },
  { "/security/garbage/bad-error-shape", BAD_ERROR_SHAPE },
  { "/security/garbage/random", RANDOM },
};

static GMutex log_lock;
static GString *stream_log;

static GLogWriterOutput
capture_writer (GLogLevelFlags   level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
      {
        g_mutex_lock (&log_lock);
        g_string_append_printf (stream_log, "%s\n", (const char *) fields[i].value);
        g_mutex_unlock (&log_lock);
      }
  if (level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO))
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (level, fields, n_fields, user_data);
}

static void
test_garbage (Fixture *f, gconstpointer data)
{
  const Garbage *tc = data;
  guint8 header[MITOGEN_FRAME_HEADER_SIZE];
  MitogenFrameHeader h = { 0, 0, FAKE_ID, FAKE_ID, 1000, 0, 8 };
  g_autoptr(GVariant) alive = NULL;
  const char *expect = NULL;
  char buf[64];
  gint64 deadline;

  g_test_summary ("Bad magic, oversize lengths, truncated frames, malformed payloads and random "
                  "bytes close the stream with a logged reason; nothing crashes and other "
                  "contexts carry on.");

  g_mutex_lock (&log_lock);
  g_string_truncate (stream_log, 0);
  g_mutex_unlock (&log_lock);

  switch (tc->kind)
    {
    case BAD_MAGIC:
      mitogen_frame_header_encode (&h, header);
      header[0] = 'X';
      write_all (f->fd, header, sizeof header);
      expect = "magic";
      break;
    case TOO_LARGE:
      h.length = 2 * 1024 * 1024;
      mitogen_frame_header_encode (&h, header);
      write_all (f->fd, header, sizeof header);
      expect = "max_message_size";
      break;
    case TRUNCATED:
      h.length = 1000;
      mitogen_frame_header_encode (&h, header);
      write_all (f->fd, header, sizeof header);
      write_all (f->fd, "short", 5);
      shutdown (f->fd, SHUT_WR);
      expect = "inside a frame";
      break;
    case MALFORMED:
      mitogen_frame_header_encode (&h, header);
      write_all (f->fd, header, sizeof header);
      write_all (f->fd, "\1\2\3\0(s", 6);
      write_all (f->fd, "zz", 2);
      expect = "Malformed payload";
      break;
    case BAD_ERROR_SHAPE:
      {
        g_autoptr(GVariant) boxed = g_variant_ref_sink (g_variant_new_variant (g_variant_new_string ("x")));
        h.flags = 1;
        h.length = (guint32) g_variant_get_size (boxed);
        mitogen_frame_header_encode (&h, header);
        write_all (f->fd, header, sizeof header);
        write_all (f->fd, g_variant_get_data (boxed), g_variant_get_size (boxed));
        expect = "expected (sisss)";
      }
      break;
    case RANDOM:
      {
        GRand *rand = g_rand_new_with_seed (g_test_rand_int ());
        for (guint i = 0; i < 4096; i++)
          {
            guint8 byte = (guint8) g_rand_int (rand);
            write_all (f->fd, &byte, 1);
          }
        g_rand_free (rand);
        expect = "closing";
      }
      break;
    default:
      g_assert_not_reached ();
    }

  /* The master closes its end: we read EOF. */
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  for (;;)
    {
      struct pollfd pfd = { f->fd, POLLIN, 0 };
      gssize n;

      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      if (poll (&pfd, 1, 100) <= 0)
        continue;
      n = read (f->fd, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno == ECONNRESET))
        break;
    }

  g_mutex_lock (&log_lock);
  if (strstr (stream_log->str, expect) == NULL)
    g_error ("expected '%s' in the log, got:\n%s", expect, stream_log->str);
  g_mutex_unlock (&log_lock);

  alive = mitogen_context_call (f->sibling, "mitogen.noop", NULL, NULL, NULL);
  g_assert_nonnull (alive);
}

int
main (int   argc,
      char *argv[])
{
  /* Linked statically (internals): the local transport is compiled in,
   * as in the agent, instead of loaded as a plugin. */
  static const MitogenBuiltinTransport builtins[] = {
    { "local", mitogen_local_transport_register, mitogen_local_transport_get_type },
    { NULL, NULL, NULL },
  };

  g_test_init (&argc, &argv, NULL);
  mitogen_plugins_use_builtin (builtins);
  stream_log = g_string_new (NULL);
  g_log_set_writer_func (capture_writer, NULL, NULL);
  g_log_set_debug_enabled (TRUE);

  g_test_add ("/security/sibling-call-refused", Fixture, NULL, fixture_set_up, test_sibling_call_refused, fixture_tear_down);
  g_test_add ("/security/forged-authority-dropped", Fixture, NULL, fixture_set_up, test_forged_authority_dropped, fixture_tear_down);
  g_test_add ("/security/call-master-refused", Fixture, NULL, fixture_set_up, test_call_master_refused, fixture_tear_down);
  g_test_add ("/security/shutdown-sibling-refused", Fixture, NULL, fixture_set_up, test_shutdown_sibling_refused, fixture_tear_down);
  for (gsize i = 0; i < G_N_ELEMENTS (garbage); i++)
    g_test_add (garbage[i].path, Fixture, &garbage[i], fixture_set_up, test_garbage, fixture_tear_down);

  return g_test_run ();
}
