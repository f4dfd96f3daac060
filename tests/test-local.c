/* test-local.c — local contexts end to end: calls (blocking, GIO async,
 * receivers), every built-in, errors, concurrency, bulk data, lifecycle
 * (kill -9, shutdown, broker shutdown, master death), options, identity
 * and log forwarding.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mitogen-test.h"

#include <glib/gstdio.h>

typedef struct
{
  MitogenRouter  *router;   /* (owned) */
  MitogenContext *context;  /* (owned) */
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  f->router = mitogen_router_new ();
  f->context = mitogen_test_local (f->router);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  GPid pid = mitogen_context_get_pid (f->context);

  g_clear_object (&f->context);
  /* Stop the broker first: it may still hold a passing reference. */
  mitogen_router_shutdown (f->router);
  g_assert_finalize_object (f->router);
  /* Router gone: its child is gone and reaped. */
  g_assert_false (mitogen_test_pid_alive (pid));
}

static GVariant *
call_ok (MitogenContext *context,
         const char     *function,
         GVariant       *args)
{
  g_autoptr(GError) error = NULL;
  GVariant *value = mitogen_context_call (context, function, args, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (value);
  return value;
}

/* --- calls ---------------------------------------------------------------- */

static void
test_getpid (Fixture *f, gconstpointer data)
{
  g_autoptr(GVariant) pid = call_ok (f->context, "os.getpid", NULL);

  g_test_summary ("A call runs in the child: os.getpid is the child's pid, not ours.");
  g_assert_cmpint (g_variant_get_int64 (pid), ==, mitogen_context_get_pid (f->context));
  g_assert_cmpint (g_variant_get_int64 (pid), !=, getpid ());
  g_assert_true (mitogen_context_is_connected (f->context));
  g_assert_cmpuint (mitogen_context_get_id (f->context), >, 0);
}

static void
test_builtins (Fixture *f, gconstpointer data)
{
  g_autoptr(GVariant) uid = call_ok (f->context, "os.getuid", NULL);
  g_autoptr(GVariant) uname = call_ok (f->context, "os.uname", NULL);
  g_autoptr(GVariant) cwd = call_ok (f->context, "os.getcwd", NULL);
  g_autoptr(GVariant) env = call_ok (f->context, "os.environ", NULL);
  g_autoptr(GVariant) list = call_ok (f->context, "os.listdir", g_variant_new ("(s)", "/"));
  g_autoptr(GVariant) st = call_ok (f->context, "os.stat", g_variant_new ("(s)", "/"));
  g_autoptr(GVariant) host = call_ok (f->context, "socket.gethostname", NULL);
  g_autoptr(GVariant) run = NULL, out = NULL, echo = NULL, echo2 = NULL, written = NULL, read = NULL;
  g_autoptr(GVariant) noop = call_ok (f->context, "mitogen.noop", NULL);
  g_autoptr(GVariant) slept = call_ok (f->context, "mitogen.sleep", g_variant_new ("(d)", 0.01));
  g_autofree char *cur = g_get_current_dir ();
  g_autofree char *path = g_build_filename (g_get_tmp_dir (), "mitogen-test-file.XXXXXX", NULL);
  g_autoptr(GVariant) stdout_v = NULL, rc = NULL;
  const char *sysname, *value;
  char hostname[256] = { 0 };
  guint32 mode;
  int fd;

  g_test_summary ("Every built-in function answers with its documented type and value.");

  g_assert_cmpuint (g_variant_get_uint32 (uid), ==, getuid ());
  g_variant_get_child (uname, 0, "&s", &sysname);
  g_assert_cmpstr (sysname, ==, "Linux");
  g_assert_cmpstr (g_variant_get_string (cwd, NULL), ==, cur);
  g_assert_true (g_variant_lookup (env, "PATH", "&s", &value));
  {
    g_autofree const char **names = g_variant_get_strv (list, NULL);
    g_assert_true (g_strv_contains (names, "tmp"));
  }
  g_assert_true (g_variant_lookup (st, "st_mode", "u", &mode));
  g_assert_true (S_ISDIR (mode));
  gethostname (hostname, sizeof hostname - 1);
  g_assert_cmpstr (g_variant_get_string (host, NULL), ==, hostname);
  g_assert_true (g_variant_is_of_type (noop, G_VARIANT_TYPE_UNIT));
  g_assert_true (g_variant_is_of_type (slept, G_VARIANT_TYPE_UNIT));

  {
    const char *argv[] = { "cat", NULL };
    GVariantBuilder opts;
    g_variant_builder_init (&opts, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&opts, "{sv}", "input", g_variant_new_bytestring ("piped"));
    run = call_ok (f->context, "subprocess.run", g_variant_new ("(^as@a{sv})", argv, g_variant_builder_end (&opts)));
  }
  stdout_v = g_variant_lookup_value (run, "stdout", G_VARIANT_TYPE_BYTESTRING);
  g_assert_cmpstr (g_variant_get_bytestring (stdout_v), ==, "piped");
  rc = g_variant_lookup_value (run, "returncode", G_VARIANT_TYPE_INT32);
  g_assert_cmpint (g_variant_get_int32 (rc), ==, 0);

  {
    /* Input for a command that never reads it: no broken pipe. */
    const char *argv[] = { "sh", "-c", "echo hi", NULL };
    g_autoptr(GVariant) r2 = NULL, o2 = NULL;
    GVariantBuilder opts;

    g_variant_builder_init (&opts, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&opts, "{sv}", "input", g_variant_new_bytestring ("ignored"));
    r2 = call_ok (f->context, "subprocess.run", g_variant_new ("(^as@a{sv})", argv, g_variant_builder_end (&opts)));
    o2 = g_variant_lookup_value (r2, "stdout", G_VARIANT_TYPE_BYTESTRING);
    {
      gsize len;
      const char *text = g_variant_get_fixed_array (o2, &len, 1);
      g_assert_cmpmem (text, len, "hi\n", 3);
    }
  }
  {
    const char *argv[] = { "env", NULL };
    g_autoptr(GVariant) r3 = NULL, o3 = NULL;
    GVariantBuilder opts, env_b;

    g_variant_builder_init (&env_b, G_VARIANT_TYPE ("a{ss}"));
    g_variant_builder_add (&env_b, "{ss}", "ONLY_THIS", "1");
    g_variant_builder_init (&opts, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&opts, "{sv}", "env", g_variant_builder_end (&env_b));
    g_variant_builder_add (&opts, "{sv}", "cwd", g_variant_new_string ("/"));
    r3 = call_ok (f->context, "subprocess.run", g_variant_new ("(^as@a{sv})", argv, g_variant_builder_end (&opts)));
    o3 = g_variant_lookup_value (r3, "stdout", G_VARIANT_TYPE_BYTESTRING);
    {
      gsize len;
      const char *text = g_variant_get_fixed_array (o3, &len, 1);
      g_assert_cmpmem (text, len, "ONLY_THIS=1\n", 12);
    }
  }
  {
    const char *argv[] = { "sh", "-c", "echo out; exit 0", NULL };
    gsize len;
    const char *text;
    out = call_ok (f->context, "subprocess.check_output", g_variant_new ("(^as)", argv));
    text = g_variant_get_fixed_array (out, &len, 1);
    g_assert_cmpmem (text, len, "out\n", 4);
  }

  echo = call_ok (f->context, "mitogen.echo", g_variant_new ("(s)", "hi"));
  g_assert_cmpstr (g_variant_get_string (echo, NULL), ==, "hi");
  echo2 = call_ok (f->context, "mitogen.echo", g_variant_new ("(iu)", -1, 2u));
  {
    g_autoptr(GVariant) expect = g_variant_ref_sink (g_variant_new ("(iu)", -1, 2u));
    g_assert_true (g_variant_equal (echo2, expect));
  }

  fd = g_mkstemp (path);
  g_assert_cmpint (fd, >=, 0);
  close (fd);
  written = call_ok (f->context, "file.write",
                     g_variant_new ("(s@ay)", path, g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "\0\1\2", 3, 1)));
  g_assert_cmpuint (g_variant_get_uint64 (written), ==, 3);
  read = call_ok (f->context, "file.read", g_variant_new ("(s)", path));
  {
    gsize len;
    const guint8 *bytes = g_variant_get_fixed_array (read, &len, 1);
    g_assert_cmpmem (bytes, len, "\0\1\2", 3);
  }
  unlink (path);
}

static void
test_remote_errors (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autofree char *name = g_strdup (mitogen_context_get_name (f->context));
  const char *argv[] = { "sh", "-c", "echo nope >&2; exit 3", NULL };

  g_test_summary ("Remote failures are CALL errors carrying the remote domain, code, "
                  "message and context name; unknown functions and wrong argument "
                  "types are named.");

  value = mitogen_context_call (f->context, "mitogen.fail", g_variant_new ("(s)", "boom"), NULL, &error);
  g_assert_null (value);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_cmpstr (mitogen_error_get_remote_domain (error), ==, "g-io-error-quark");
  g_assert_cmpint (mitogen_error_get_remote_code (error), ==, G_IO_ERROR_FAILED);
  g_assert_cmpstr (mitogen_error_get_remote_message (error), ==, "boom");
  g_assert_cmpstr (mitogen_error_get_context_name (error), ==, name);
  g_assert_nonnull (strstr (error->message, "mitogen.fail"));
  g_assert_nonnull (strstr (error->message, name));
  g_clear_error (&error);

  value = mitogen_context_call (f->context, "no.such_function", NULL, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_nonnull (strstr (error->message, "no.such_function"));
  g_assert_cmpint (mitogen_error_get_remote_code (error), ==, MITOGEN_ERROR_NOT_FOUND);
  g_clear_error (&error);

  value = mitogen_context_call (f->context, "os.listdir", g_variant_new ("(i)", 5), NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_nonnull (strstr (error->message, "expects arguments of type (s)"));
  g_assert_nonnull (strstr (error->message, "got (i)"));
  g_clear_error (&error);

  value = mitogen_context_call (f->context, "os.listdir", g_variant_new ("(s)", "/nonexistent/dir"), NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_cmpstr (mitogen_error_get_remote_domain (error), ==, "g-file-error-quark");
  g_assert_cmpint (mitogen_error_get_remote_code (error), ==, G_FILE_ERROR_NOENT);
  g_clear_error (&error);

  value = mitogen_context_call (f->context, "subprocess.check_output", g_variant_new ("(^as)", argv), NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_cmpint (mitogen_error_get_remote_code (error), ==, 3);
  g_assert_nonnull (strstr (error->message, "nope"));
  g_clear_error (&error);

  {
    const char *true_argv[] = { "true", NULL };
    GVariantBuilder opts;

    g_variant_builder_init (&opts, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&opts, "{sv}", "env", g_variant_new_string ("FOO=bar"));
    value = mitogen_context_call (f->context, "subprocess.run",
                                  g_variant_new ("(^as@a{sv})", true_argv, g_variant_builder_end (&opts)), NULL, &error);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
    g_assert_cmpstr (mitogen_error_get_remote_domain (error), ==, "mitogen-error-quark");
    g_assert_cmpint (mitogen_error_get_remote_code (error), ==, MITOGEN_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, "'env' must be of type a{ss}"));
    g_clear_error (&error);
  }

  value = mitogen_context_call (f->context, "mitogen.sleep", g_variant_new ("(d)", -1.0), NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_clear_error (&error);

  /* The context survives all of that. */
  g_clear_pointer (&value, g_variant_unref);
  value = call_ok (f->context, "mitogen.noop", NULL);
}

typedef struct
{
  MitogenContext *context;
  guint           thread_no;
  gint           *failures;
} Worker;

static gpointer
worker_thread (gpointer data)
{
  Worker *w = data;

  for (guint i = 0; i < 8; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *token = g_strdup_printf ("thread %u call %u", w->thread_no, i);
      g_autoptr(GVariant) value = mitogen_context_call (w->context, "mitogen.echo",
                                                        g_variant_new ("(s)", token), NULL, &error);
      if (value == NULL || g_strcmp0 (g_variant_get_string (value, NULL), token) != 0)
        g_atomic_int_inc (w->failures);
    }
  return NULL;
}

static void
test_concurrent (Fixture *f, gconstpointer data)
{
  GThread *threads[8];
  Worker workers[8];
  gint failures = 0;

  g_test_summary ("64 concurrent calls from 8 threads to one context all get their own answer.");

  for (guint i = 0; i < 8; i++)
    {
      workers[i] = (Worker) { f->context, i, &failures };
      threads[i] = g_thread_new ("worker", worker_thread, &workers[i]);
    }
  for (guint i = 0; i < 8; i++)
    g_thread_join (threads[i]);
  g_assert_cmpint (failures, ==, 0);
}

static void
test_bulk (Fixture *f, gconstpointer data)
{
  const guint64 n = 64 * 1024 * 1024;
  g_autoptr(GVariant) value = call_ok (f->context, "mitogen.bytes", g_variant_new ("(ty)", n, (guint8) 7));
  gsize len = 0;
  const guint8 *bytes = g_variant_get_fixed_array (value, &len, 1);

  g_test_summary ("A 64 MiB reply arrives intact.");
  g_assert_cmpuint (len, ==, n);
  for (gsize i = 0; i < len; i++)
    if (bytes[i] != (guint8) (7 + i))
      g_assert_cmpuint (bytes[i], ==, (guint8) (7 + i));
}

static void
test_zeros (Fixture *f, gconstpointer data)
{
  /* Growing, shrinking, past the shared block's 4 MiB, and many at once
   * (each reply a slice of the same block). */
  static const guint64 sizes[] = { 0, 1, 65535, 65537, 3 * 1024 * 1024, 1024 * 1024, 4 * 1024 * 1024,
                                   4 * 1024 * 1024 + 1, 100, 2 * 1024 * 1024 + 3 };
  g_autoptr(GPtrArray) receivers = g_ptr_array_new_with_free_func (g_object_unref);

  g_test_summary ("mitogen.bytes with pattern 0 gives exactly n zero bytes for every size, "
                  "in turn and with the replies in flight together.");

  for (guint round = 0; round < 2; round++)
    {
      for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
        g_ptr_array_add (receivers, mitogen_context_begin_call (f->context, "mitogen.bytes",
                                                                g_variant_new ("(ty)", sizes[i], (guint8) 0)));
      for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
        {
          g_autoptr(GError) error = NULL;
          g_autoptr(MitogenMessage) message = mitogen_receiver_get (g_ptr_array_index (receivers, i), 30, &error);
          g_autoptr(GVariant) value = NULL;
          gsize len = 0;
          const guint8 *bytes;

          g_assert_no_error (error);
          value = mitogen_message_get_value (message, &error);
          g_assert_no_error (error);
          bytes = g_variant_get_fixed_array (value, &len, 1);
          g_assert_cmpuint (len, ==, sizes[i]);
          for (gsize j = 0; j < len; j++)
            if (bytes[j] != 0)
              g_assert_cmpuint (bytes[j], ==, 0);
        }
      g_ptr_array_set_size (receivers, 0);
      if (round == 0)
        /* And one at a time. */
        for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
          {
            g_autoptr(GVariant) value = call_ok (f->context, "mitogen.bytes",
                                                 g_variant_new ("(ty)", sizes[i], (guint8) 0));
            g_assert_cmpuint (g_variant_get_size (value), ==, sizes[i]);
          }
    }
}

static void
test_burst_without_wait (Fixture *f, gconstpointer data)
{
  MitogenReceiver *receivers[16];
  gint64 deadline;
  guint arrived = 0;

  g_test_summary ("Calls sent back to back by a thread that then waits for nothing (no get, no "
                  "select) still go out: their replies arrive while the thread sleeps.");

  for (guint i = 0; i < G_N_ELEMENTS (receivers); i++)
    receivers[i] = mitogen_context_begin_call (f->context, "mitogen.echo", g_variant_new ("(u)", i));
  /* Only watch: mitogen_receiver_empty () writes nothing queued. */
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (arrived < G_N_ELEMENTS (receivers) && g_get_monotonic_time () < deadline)
    {
      g_usleep (2000);
      arrived = 0;
      for (guint i = 0; i < G_N_ELEMENTS (receivers); i++)
        arrived += !mitogen_receiver_empty (receivers[i]);
    }
  g_assert_cmpuint (arrived, ==, G_N_ELEMENTS (receivers));
  for (guint i = 0; i < G_N_ELEMENTS (receivers); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(MitogenMessage) message = mitogen_receiver_get (receivers[i], 10, &error);
      g_autoptr(GVariant) value = NULL;

      g_assert_no_error (error);
      value = mitogen_message_get_value (message, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (g_variant_get_uint32 (value), ==, i);
      g_object_unref (receivers[i]);
    }
}

static void
test_pipelined (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) receivers = g_ptr_array_new_with_free_func (g_object_unref);

  g_test_summary ("begin_call returns receivers at once; replies are collected later, each on its own receiver.");

  for (guint i = 0; i < 1000; i++)
    g_ptr_array_add (receivers, mitogen_context_begin_call (f->context, "mitogen.echo",
                                                            g_variant_new ("(u)", i)));
  for (guint i = 0; i < 1000; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(MitogenMessage) message = mitogen_receiver_get (g_ptr_array_index (receivers, i), 10, &error);
      g_autoptr(GVariant) value = NULL;

      g_assert_no_error (error);
      value = mitogen_message_get_value (message, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (g_variant_get_uint32 (value), ==, i);
      g_assert_cmpuint (mitogen_message_get_src_id (message), ==, mitogen_context_get_id (f->context));
    }
}

static void
test_call_order (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) receivers = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) order = g_ptr_array_new ();

  g_test_summary ("Calls to one context run in the order they were made: a quick built-in "
                  "(run on the agent's broker thread when nothing else is queued) never "
                  "overtakes a slow call made before it, and pipelined quick and slow calls "
                  "reply in order.");

  for (guint i = 0; i < 200; i++)
    {
      if (i % 50 == 0)
        g_ptr_array_add (receivers, mitogen_context_begin_call (f->context, "mitogen.sleep",
                                                                g_variant_new ("(d)", 0.05)));
      else if (i % 2 == 0)
        g_ptr_array_add (receivers, mitogen_context_begin_call (f->context, "os.getpid", NULL));
      else
        g_ptr_array_add (receivers, mitogen_context_begin_call (f->context, "mitogen.noop", NULL));
    }

  /* Whichever reply arrives, every earlier call has replied already. */
  for (guint done = 0; done < receivers->len; )
    {
      for (guint i = 0; i < receivers->len; i++)
        {
          MitogenReceiver *receiver = g_ptr_array_index (receivers, i);
          g_autoptr(GError) error = NULL;
          g_autoptr(MitogenMessage) message = NULL;

          if (g_ptr_array_find (order, receiver, NULL) || mitogen_receiver_empty (receiver))
            continue;
          for (guint j = 0; j < i; j++)
            if (!g_ptr_array_find (order, g_ptr_array_index (receivers, j), NULL) &&
                mitogen_receiver_empty (g_ptr_array_index (receivers, j)))
              g_error ("call %u replied before call %u", i, j);
          message = mitogen_receiver_get (receiver, 10, &error);
          g_assert_no_error (error);
          g_ptr_array_add (order, receiver);
          done++;
        }
      g_usleep (200);
    }
  g_assert_cmpuint (order->len, ==, receivers->len);
}

static void
test_receiver_timeout (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenReceiver) receiver = mitogen_context_begin_call (f->context, "mitogen.sleep",
                                                                    g_variant_new ("(d)", 0.3));
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  gint64 start = g_get_monotonic_time ();

  g_test_summary ("Receiver.get(timeout) gives TIMEOUT when nothing arrives in time, and the reply later.");

  message = mitogen_receiver_get (receiver, 0.05, &error);
  g_assert_null (message);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 250000);
  g_assert_true (mitogen_receiver_empty (receiver));
  g_clear_error (&error);

  message = mitogen_receiver_get (receiver, 10, &error);
  g_assert_no_error (error);
  g_assert_false (mitogen_message_is_dead (message));
}

typedef struct
{
  GThread   *thread;
  GVariant  *value;
  GError    *error;
  gboolean   done;
} AsyncResult;

static void
call_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  AsyncResult *r = user_data;

  r->thread = g_thread_self ();
  r->value = mitogen_context_call_finish (MITOGEN_CONTEXT (source), result, &r->error);
  r->done = TRUE;
}

static void
test_call_async (Fixture *f, gconstpointer data)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  AsyncResult r = { 0 };

  g_test_summary ("call_async completes in the caller's thread-default main context.");

  g_main_context_push_thread_default (context);
  mitogen_context_call_async (f->context, "mitogen.echo", g_variant_new ("(s)", "async"), NULL, call_done_cb, &r);
  while (!r.done)
    g_main_context_iteration (context, TRUE);
  g_main_context_pop_thread_default (context);

  g_assert_no_error (r.error);
  g_assert_true (r.thread == g_thread_self ());
  g_assert_cmpstr (g_variant_get_string (r.value, NULL), ==, "async");
  g_variant_unref (r.value);
}

static gboolean
cancel_cb (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_REMOVE;
}

static void
test_call_async_cancel (Fixture *f, gconstpointer data)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GSource) timer = g_timeout_source_new (50);
  g_autoptr(GVariant) after = NULL;
  AsyncResult r = { 0 };
  gint64 start = g_get_monotonic_time ();

  g_test_summary ("Cancelling call_async completes it at once with G_IO_ERROR_CANCELLED; "
                  "the late reply is dropped and the context keeps working.");

  g_main_context_push_thread_default (context);
  g_source_set_callback (timer, cancel_cb, cancellable, NULL);
  g_source_attach (timer, context);
  mitogen_context_call_async (f->context, "mitogen.sleep", g_variant_new ("(d)", 0.5), cancellable, call_done_cb, &r);
  while (!r.done)
    g_main_context_iteration (context, TRUE);
  g_main_context_pop_thread_default (context);

  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 400000);
  g_clear_error (&r.error);

  /* The next call waits behind the sleep, then the late reply is dropped. */
  after = call_ok (f->context, "mitogen.echo", g_variant_new ("(s)", "after"));
  g_assert_cmpstr (g_variant_get_string (after, NULL), ==, "after");
}

static gpointer
cancel_later_thread (gpointer data)
{
  g_usleep (50000);
  g_cancellable_cancel (data);
  return NULL;
}

static void
test_call_cancel (Fixture *f, gconstpointer data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  GThread *thread = g_thread_new ("canceller", cancel_later_thread, cancellable);

  g_test_summary ("A blocking call is cancelled from another thread.");

  value = mitogen_context_call (f->context, "mitogen.sleep", g_variant_new ("(d)", 0.5), cancellable, &error);
  g_assert_null (value);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_thread_join (thread);
}

static void
on_received (MitogenReceiver *receiver,
             MitogenMessage  *message,
             gpointer         user_data)
{
  AsyncResult *r = user_data;

  r->thread = g_thread_self ();
  r->value = mitogen_message_get_value (message, &r->error);
  r->done = TRUE;
}

static void
test_received_signal (Fixture *f, gconstpointer data)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  AsyncResult r = { 0 };

  g_test_summary ("::received is emitted in the main context that was thread-default at construction.");

  g_main_context_push_thread_default (context);
  {
    g_autoptr(MitogenReceiver) reply = mitogen_receiver_new (f->router, 0, FALSE, f->context);
    g_autoptr(MitogenMessage) request = NULL;
    g_autoptr(GError) error = NULL;

    g_signal_connect (reply, "received", G_CALLBACK (on_received), &r);
    request = mitogen_message_new (mitogen_context_get_id (f->context), MITOGEN_HANDLE_CALL_FUNCTION,
                                   g_variant_new ("(sv@a{sv})", "mitogen.echo", g_variant_new ("(s)", "sig"),
                                                  g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0)));
    mitogen_message_set_reply_to (request, mitogen_receiver_get_handle (reply));
    g_assert_true (mitogen_router_route (f->router, request, &error));
    g_assert_no_error (error);
    while (!r.done)
      g_main_context_iteration (context, TRUE);
    g_assert_true (mitogen_receiver_empty (reply));
  }
  g_main_context_pop_thread_default (context);

  g_assert_no_error (r.error);
  g_assert_true (r.thread == g_thread_self ());
  g_assert_cmpstr (g_variant_get_string (r.value, NULL), ==, "sig");
  g_variant_unref (r.value);
}

/* --- lifecycle ------------------------------------------------------------ */

static void
on_disconnect (MitogenContext *context,
               gpointer        user_data)
{
  *(gboolean *) user_data = TRUE;
}

static void
test_kill9 (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenReceiver) receiver = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GVariant) value = NULL;
  GPid pid = mitogen_context_get_pid (f->context);
  gboolean disconnected = FALSE;
  gint64 start;

  g_test_summary ("kill -9 of a child during a call fails that call with CHANNEL within 1 s, "
                  "and later calls fail at once.");

  g_signal_connect (f->context, "disconnect", G_CALLBACK (on_disconnect), &disconnected);
  receiver = mitogen_context_begin_call (f->context, "mitogen.sleep", g_variant_new ("(d)", 30.0));
  g_usleep (50000);
  start = g_get_monotonic_time ();
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);

  message = mitogen_receiver_get (receiver, 5, &error);
  g_assert_null (message);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  g_clear_error (&error);

  g_assert_false (mitogen_context_is_connected (f->context));
  value = mitogen_context_call (f->context, "mitogen.noop", NULL, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);

  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_true (disconnected);
  g_assert_true (mitogen_test_wait_pid_gone (pid, 2000));
}

static void
test_context_shutdown (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  GPid pid = mitogen_context_get_pid (f->context);

  g_test_summary ("Context.shutdown() makes the child exit; it is reaped and further calls fail.");

  g_assert_true (mitogen_context_shutdown (f->context, 5, &error));
  g_assert_no_error (error);
  g_assert_false (mitogen_context_is_connected (f->context));
  g_assert_true (mitogen_test_wait_pid_gone (pid, 2000));

  value = mitogen_context_call (f->context, "mitogen.noop", NULL, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
}

static void
test_broker_shutdown_timeout (void)
{
  MitogenRouter *router = mitogen_router_new ();
  MitogenContext *context = mitogen_test_local (router);
  g_autoptr(MitogenReceiver) receiver = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  GPid pid = mitogen_context_get_pid (context);
  gint64 start;

  g_test_summary ("Shutting down the broker honours shutdown_timeout even when a child is busy; "
                  "pending calls fail with CHANNEL and the child is reaped.");

  mitogen_broker_set_shutdown_timeout (mitogen_router_get_broker (router), 0.3);
  receiver = mitogen_context_begin_call (context, "mitogen.sleep", g_variant_new ("(d)", 30.0));
  g_usleep (20000);

  start = g_get_monotonic_time ();
  mitogen_router_shutdown (router);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
  g_assert_false (mitogen_test_pid_alive (pid));

  message = mitogen_receiver_get (receiver, 1, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_clear_error (&error);

  {
    g_autoptr(MitogenContext) late = mitogen_router_local (router, NULL, NULL, &error);
    g_assert_null (late);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED);
  }

  g_object_unref (context);
  g_clear_object (&receiver);
  g_assert_finalize_object (router);
}

static void
test_signal_dispositions (void)
{
  struct sigaction ignore = { .sa_handler = SIG_IGN };
  struct sigaction old_hup, old_usr2;
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  guint64 ignored;

  g_test_summary ("A child starts with the signal dispositions GLib's spawn gives: what we ignore "
                  "stays ignored, but SIGHUP (and SIGCHLD, SIGINT, SIGTERM, SIGPIPE) is reset "
                  "by the vfork ()ed child before its exec.");

  sigemptyset (&ignore.sa_mask);
  g_assert_no_errno (sigaction (SIGHUP, &ignore, &old_hup));
  g_assert_no_errno (sigaction (SIGUSR2, &ignore, &old_usr2));

  router = mitogen_router_new ();
  context = mitogen_test_local (router);
  ignored = mitogen_test_proc_status (mitogen_context_get_pid (context), "SigIgn", 16);
  g_assert_cmpuint (ignored & (G_GUINT64_CONSTANT (1) << (SIGUSR2 - 1)), !=, 0);
  g_assert_cmpuint (ignored & (G_GUINT64_CONSTANT (1) << (SIGHUP - 1)), ==, 0);
  mitogen_router_shutdown (router);

  g_assert_no_errno (sigaction (SIGHUP, &old_hup, NULL));
  g_assert_no_errno (sigaction (SIGUSR2, &old_usr2, NULL));
}

/* A burst's frames wait up to a millisecond for their flush timer, which
 * holds the stream. A broker that stops within that millisecond never
 * runs the timer: the timer must still go, or it keeps the stream, the
 * broker and its main context (an eventfd) alive for ever. */
static void
test_shutdown_mid_burst (void)
{
  guint fds = 0;

  g_test_summary ("A router shut down at once after a burst of calls (whose frames wait for a "
                  "flush) lets its broker and every descriptor go (test-stress met the leak).");

  for (guint round = 0; round < 8; round++)
    {
      MitogenRouter *router = mitogen_router_new ();
      MitogenContext *context = mitogen_test_local (router);
      MitogenBroker *broker = g_object_ref (mitogen_router_get_broker (router));
      MitogenReceiver *receivers[4];

      g_object_add_weak_pointer (G_OBJECT (broker), (gpointer *) &broker);
      mitogen_broker_set_shutdown_timeout (broker, 0);
      /* Sent back to back by a thread that takes no reply between them:
       * all but the first wait to be written together. */
      for (guint i = 0; i < G_N_ELEMENTS (receivers); i++)
        receivers[i] = mitogen_context_begin_call (context, "mitogen.noop", NULL);
      mitogen_router_shutdown (router);

      for (guint i = 0; i < G_N_ELEMENTS (receivers); i++)
        g_object_unref (receivers[i]);
      g_object_unref (context);
      g_assert_finalize_object (router);
      g_object_unref (broker);
      g_assert_null (broker);
      /* Counted after the first round: GLib opens some for good. */
      if (round == 0)
        fds = mitogen_test_count_fds ();
    }
  g_assert_cmpuint (mitogen_test_count_fds (), <=, fds);
}

static void
test_router_gone (void)
{
  MitogenRouter *router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = mitogen_test_local (router);
  g_autoptr(MitogenReceiver) receiver = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A context kept after its router is gone (dropped, perhaps by another thread): "
                  "begin_call returns NULL and call fails with CHANNEL, with no critical "
                  "(test-stress met it).");

  mitogen_router_shutdown (router);
  g_assert_finalize_object (router);

  receiver = mitogen_context_begin_call (context, "mitogen.noop", NULL);
  g_assert_null (receiver);
  value = mitogen_context_call (context, "mitogen.noop", NULL, NULL, &error);
  g_assert_null (value);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_nonnull (strstr (error->message, "its router is gone"));
}

static void
test_cycles (void)
{
  guint fds, threads, children;
  const char *env = g_getenv ("MITOGEN_TEST_CYCLES");
  guint cycles = env != NULL ? (guint) atoi (env) : 100;

  g_test_summary ("100 create/call/shutdown cycles leak no fds, threads or processes "
                  "(MITOGEN_TEST_CYCLES changes the count: the valgrind run uses fewer).");

  /* Warm up: plugins loaded, GLib's own threads started. */
  {
    g_autoptr(MitogenRouter) router = mitogen_router_new ();
    g_autoptr(MitogenContext) context = mitogen_test_local (router);
    g_autoptr(GVariant) value = call_ok (context, "mitogen.noop", NULL);
  }
  fds = mitogen_test_count_fds ();
  threads = mitogen_test_count_threads ();
  children = mitogen_test_count_children ();

  for (guint i = 0; i < cycles; i++)
    {
      MitogenRouter *router = mitogen_router_new ();
      MitogenContext *a = mitogen_test_local (router);
      MitogenContext *b = mitogen_test_local (router);
      g_autoptr(GVariant) va = call_ok (a, "mitogen.noop", NULL);
      g_autoptr(GVariant) vb = call_ok (b, "os.getpid", NULL);

      if (i % 2 == 0)
        g_assert_true (mitogen_context_shutdown (a, 5, NULL));
      g_object_unref (a);
      g_object_unref (b);
      mitogen_router_shutdown (router);
      g_assert_finalize_object (router);
    }

  /* No growth (things left over from earlier tests may have gone meanwhile). */
  g_assert_cmpuint (mitogen_test_count_fds (), <=, fds);
  g_assert_cmpuint (mitogen_test_count_threads (), <=, threads);
  g_assert_cmpuint (mitogen_test_count_children (), <=, children);
  g_test_message ("after %u cycles: %u fds (was %u), %u threads (was %u), %u children (was %u)",
                  cycles, mitogen_test_count_fds (), fds, mitogen_test_count_threads (), threads,
                  mitogen_test_count_children (), children);
}

static void
test_master_kill9 (void)
{
  const char *argv[] = { MASTER_HELPER, "3", NULL };
  g_autoptr(GSubprocess) helper = NULL;
  g_autoptr(GDataInputStream) input = NULL;
  g_autoptr(GError) error = NULL;
  GPid agents[3];
  gint64 start;

  g_test_summary ("After kill -9 of a master, none of its agents is left after 2 s.");

  helper = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  input = g_data_input_stream_new (g_subprocess_get_stdout_pipe (helper));
  for (guint i = 0; i < 3; i++)
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

  start = g_get_monotonic_time ();
  g_subprocess_force_exit (helper);
  g_subprocess_wait (helper, NULL, &error);
  g_assert_no_error (error);

  for (guint i = 0; i < 3; i++)
    g_assert_true (mitogen_test_wait_pid_gone (agents[i], 2000));
  g_test_message ("agents gone %.1f ms after the master was killed",
                  (g_get_monotonic_time () - start) / 1000.0);
}

/* --- options, identity, logs ---------------------------------------------- */

static void
test_options (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autofree char *cmdline = NULL;
  g_autofree char *path = NULL;
  gsize len = 0;
  GVariantBuilder b;

  g_test_summary ("Options map to transport properties: unknown names and wrong types are "
                  "clear errors; remote_name shows as the child's argv[0].");

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "no_such_option", g_variant_new_boolean (TRUE));
  context = mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "no_such_option"));
  g_assert_nonnull (strstr (error->message, "remote_name"));
  g_clear_error (&error);

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "connect_timeout", g_variant_new_string ("soon"));
  context = mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "connect_timeout"));
  g_assert_nonnull (strstr (error->message, "number"));
  g_clear_error (&error);

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "max_message_size", g_variant_new_int32 (-5));
  context = mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "max_message_size"));
  g_clear_error (&error);

  /* A result larger than the context may send is an error naming the
   * limit, and the context goes on serving. */
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "max_message_size", g_variant_new_uint64 (65536));
  context = mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error);
  g_assert_no_error (error);
  {
    g_autoptr(GVariant) big = mitogen_context_call (context, "mitogen.bytes",
                                                    g_variant_new ("(ty)", (guint64) 100000, (guint8) 0),
                                                    NULL, &error);
    g_autoptr(GVariant) pid = NULL;

    g_assert_null (big);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
    g_assert_nonnull (strstr (error->message, "exceeds max_message_size"));
    g_clear_error (&error);
    pid = mitogen_context_call (context, "os.getpid", NULL, NULL, &error);
    g_assert_no_error (error);
  }
  g_clear_object (&context);

  context = mitogen_router_connect (router, "carrier-pigeon", NULL, NULL, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "carrier-pigeon"));
  g_assert_nonnull (strstr (error->message, "local"));
  g_clear_error (&error);

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "agent_path", g_variant_new_string ("/nonexistent/agent"));
  context = mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_assert_nonnull (strstr (error->message, "/nonexistent/agent"));
  g_clear_error (&error);

  /* An agent that exits at once: the connect fails with the step named. */
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "agent_path", g_variant_new_string ("/bin/true"));
  context = mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_assert_nonnull (strstr (error->message, "greeting"));
  g_clear_error (&error);

  /* An agent that never greets: connect_timeout. */
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "agent_path", g_variant_new_string ("/bin/cat"));
  g_variant_builder_add (&b, "{sv}", "connect_timeout", g_variant_new_double (0.2));
  context = mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_clear_error (&error);

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "remote_name", g_variant_new_string ("web1"));
  g_variant_builder_add (&b, "{sv}", "connect-timeout", g_variant_new_int32 (10));
  context = mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mitogen_context_get_name (context), ==, "web1");
  path = g_strdup_printf ("/proc/%d/cmdline", (int) mitogen_context_get_pid (context));
  g_assert_true (g_file_get_contents (path, &cmdline, &len, NULL));
  /* Under a wrapper (valgrind) argv[0] is the wrapper's business. */
  if (g_getenv ("MITOGEN_AGENT_PATH") == NULL)
    g_assert_cmpstr (cmdline, ==, "mitogen:web1");
}

/* The user name of a context started through a shell script in @dir
 * that execs the agent with the arguments @extra. */
static char *
user_name_via_script (const char *dir,
                      const char *extra)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *agent = g_getenv ("MITOGEN_AGENT_PATH") != NULL
                           ? g_strdup (g_getenv ("MITOGEN_AGENT_PATH"))
                           : g_build_filename (MITOGEN_BUILD_ROOT, "agent", "mitogen-agent", NULL);
  g_autofree char *script = g_build_filename (dir, "agent.sh", NULL);
  g_autofree char *body = g_strdup_printf ("#!/bin/sh\nexec '%s' %s\n", agent, extra);
  GVariantBuilder b;
  char *name;

  g_assert_true (g_file_set_contents (script, body, -1, NULL));
  g_assert_cmpint (chmod (script, 0755), ==, 0);
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "agent_path", g_variant_new_string (script));
  context = mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (mitogen_context_get_uid (context), ==, geteuid ());
  name = g_strdup (mitogen_context_get_user_name (context));
  mitogen_context_shutdown (context, 0, NULL);
  mitogen_router_shutdown (router);
  return name;
}

static void
test_user_hint (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("mitogen-hint-XXXXXX", NULL);
  g_autofree char *path = NULL;
  g_autofree char *cmdline = NULL;
  g_autofree char *wrong = NULL;
  gsize len = 0;
  struct passwd *pw = getpwuid (geteuid ());
  g_autofree char *real_name = g_strdup (pw != NULL ? pw->pw_name : NULL);
  const char *malformed[] = { "--user-hint x:mallory", "--user-hint :mallory", "--user-hint 0", "--user-hint ''",
                              "--user-hint 00x:mallory" };

  g_test_summary ("A stock agent started directly takes its user name from the master (--user-hint), "
                  "not from NSS; an agent trusts the hint only for its own euid and ignores a "
                  "malformed one.");

  g_assert_nonnull (real_name);
  context = mitogen_router_local (router, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mitogen_context_get_user_name (context), ==, real_name);
  path = g_strdup_printf ("/proc/%d/cmdline", (int) mitogen_context_get_pid (context));
  g_assert_true (g_file_get_contents (path, &cmdline, &len, NULL));
  /* argv: mitogen:NAME, --user-hint, UID:NAME (NUL-separated). */
  if (g_getenv ("MITOGEN_AGENT_PATH") == NULL)
    {
      g_autofree char *hint = g_strdup_printf ("%u:%s", (guint) geteuid (), real_name);
      const char *arg1 = cmdline + strlen (cmdline) + 1;

      g_assert_cmpuint (len, >, strlen (cmdline) + 1);
      g_assert_cmpstr (arg1, ==, "--user-hint");
      g_assert_cmpstr (arg1 + strlen (arg1) + 1, ==, hint);
    }

  /* A hint for another uid is not ours: NSS decides. */
  {
    g_autofree char *extra = g_strdup_printf ("--user-hint %u:mallory", (guint) geteuid () + 1);

    wrong = user_name_via_script (dir, extra);
    g_assert_cmpstr (wrong, ==, real_name);
  }
  /* Our own uid: the hint is the name (what the local transport relies on). */
  {
    g_autofree char *extra = g_strdup_printf ("--user-hint %u:hinted", (guint) geteuid ());
    g_autofree char *hinted = user_name_via_script (dir, extra);

    g_assert_cmpstr (hinted, ==, "hinted");
  }
  for (guint i = 0; i < G_N_ELEMENTS (malformed); i++)
    {
      g_autofree char *name = user_name_via_script (dir, malformed[i]);

      g_assert_cmpstr (name, ==, real_name);
    }
  {
    g_autofree char *script = g_build_filename (dir, "agent.sh", NULL);

    g_unlink (script);
    g_rmdir (dir);
  }
}

static void
test_identity (Fixture *f, gconstpointer data)
{
  g_autoptr(GVariant) id = call_ok (f->context, "mitogen.identity", NULL);
  g_autoptr(GVariant) parents = NULL;
  gboolean is_master = TRUE;
  guint32 context_id = 0;
  gint64 parent_id = 0;
  gsize n = 99;

  g_test_summary ("is_master, context_id, parent_id and parent_ids in the master and in an agent.");

  g_assert_true (mitogen_is_master ());
  g_assert_cmpuint (mitogen_context_id (), ==, 0);
  g_assert_cmpint (mitogen_parent_id (), ==, -1);
  mitogen_parent_ids (&n);
  g_assert_cmpuint (n, ==, 0);

  g_assert_true (g_variant_lookup (id, "is_master", "b", &is_master));
  g_assert_false (is_master);
  g_assert_true (g_variant_lookup (id, "context_id", "u", &context_id));
  g_assert_cmpuint (context_id, ==, mitogen_context_get_id (f->context));
  g_assert_true (g_variant_lookup (id, "parent_id", "x", &parent_id));
  g_assert_cmpint (parent_id, ==, 0);
  parents = g_variant_lookup_value (id, "parent_ids", G_VARIANT_TYPE ("au"));
  g_assert_cmpuint (g_variant_n_children (parents), ==, 1);
}

static GMutex log_lock;
static GPtrArray *forwarded;  /* (owned) lines from the mitogen-user domain */

static GLogWriterOutput
capture_writer (GLogLevelFlags   level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  const char *domain = NULL, *message = NULL;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0)
        domain = fields[i].value;
      else if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
        message = fields[i].value;
    }
  if (g_strcmp0 (domain, "mitogen-user") == 0 && message != NULL)
    {
      g_mutex_lock (&log_lock);
      g_ptr_array_add (forwarded, g_strdup_printf ("%d %s", level & G_LOG_LEVEL_MASK, message));
      g_mutex_unlock (&log_lock);
      return G_LOG_WRITER_HANDLED;
    }
  if (level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO))
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (level, fields, n_fields, user_data);
}

static gboolean
forwarded_contains (const char *needle)
{
  gboolean found = FALSE;

  g_mutex_lock (&log_lock);
  for (guint i = 0; i < forwarded->len && !found; i++)
    found = strstr (g_ptr_array_index (forwarded, i), needle) != NULL;
  g_mutex_unlock (&log_lock);
  return found;
}

static void
test_log_forwarding (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) quiet = mitogen_test_local (router);
  g_autoptr(MitogenContext) chatty = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *expect = NULL;
  GVariantBuilder b;

  g_test_summary ("An agent's log messages reach the master tagged with the context's name; "
                  "debug messages only with the debug option.");

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "debug", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&b, "{sv}", "remote_name", g_variant_new_string ("chatty"));
  chatty = mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error);
  g_assert_no_error (error);

  g_variant_unref (call_ok (quiet, "mitogen.log", g_variant_new ("(is)", G_LOG_LEVEL_MESSAGE, "hello from quiet")));
  g_variant_unref (call_ok (quiet, "mitogen.log", g_variant_new ("(is)", G_LOG_LEVEL_DEBUG, "quiet debug")));
  g_variant_unref (call_ok (chatty, "mitogen.log", g_variant_new ("(is)", G_LOG_LEVEL_DEBUG, "chatty debug")));
  /* The log record precedes the reply on the same stream. */
  expect = g_strdup_printf ("%d [%s] hello from quiet", G_LOG_LEVEL_MESSAGE, mitogen_context_get_name (quiet));
  g_assert_true (forwarded_contains (expect));
  g_assert_true (forwarded_contains ("[chatty] chatty debug"));
  g_assert_false (forwarded_contains ("quiet debug"));
}

typedef struct
{
  MitogenContext *context;
  GError         *error;
  GThread        *thread;
  gboolean        done;
} ConnectResult;

static void
connect_done_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  ConnectResult *r = user_data;

  r->thread = g_thread_self ();
  r->context = mitogen_router_connect_finish (MITOGEN_ROUTER (source), result, &r->error);
  r->done = TRUE;
}

static void
test_connect_async (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  ConnectResult r = { 0 }, c = { 0 };
  gboolean disconnected = FALSE;
  GVariantBuilder b;

  g_test_summary ("connect_async completes in the caller's main context, where the context's "
                  "signals are emitted too; a cancelled connect fails with G_IO_ERROR_CANCELLED "
                  "and leaves no child behind.");

  g_main_context_push_thread_default (context);
  mitogen_router_connect_async (router, "local", NULL, NULL, NULL, connect_done_cb, &r);
  while (!r.done)
    g_main_context_iteration (context, TRUE);
  g_assert_no_error (r.error);
  g_assert_true (r.thread == g_thread_self ());
  g_signal_connect (r.context, "disconnect", G_CALLBACK (on_disconnect), &disconnected);
  g_assert_cmpint (kill (mitogen_context_get_pid (r.context), SIGKILL), ==, 0);
  while (!disconnected)
    g_main_context_iteration (context, TRUE);
  g_clear_object (&r.context);

  /* An agent that never greets, cancelled while we wait for it. */
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "agent_path", g_variant_new_string ("/bin/cat"));
  mitogen_router_connect_async (router, "local", g_variant_builder_end (&b), NULL, cancellable,
                                connect_done_cb, &c);
  {
    g_autoptr(GSource) timer = g_timeout_source_new (100);
    g_source_set_callback (timer, cancel_cb, cancellable, NULL);
    g_source_attach (timer, context);
    while (!c.done)
      g_main_context_iteration (context, TRUE);
  }
  g_assert_error (c.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&c.error);
  g_main_context_pop_thread_default (context);
  g_assert_cmpuint (mitogen_test_count_children (), ==, 0);
}

/* Whether a library whose file name contains @name is mapped here. */
static gboolean
library_mapped (const char *name)
{
  g_autofree char *maps = NULL;

  g_assert_true (g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL));
  return strstr (maps, name) != NULL;
}

static void
test_plugins_lazy (void)
{
  g_test_summary ("A connect loads only its method's plugin (libssh stays out of a local "
                  "connect); listing the methods loads them all; a method name that is not a "
                  "plain word never becomes a path");

  if (g_test_subprocess ())
    {
      g_autoptr(MitogenRouter) router = mitogen_router_new ();
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(MitogenTransport) transport = NULL;
      g_autoptr(GError) error = NULL;
      g_auto(GStrv) methods = NULL;

      g_assert_false (library_mapped ("libmitogen-local.so"));
      context = mitogen_test_local (router);
      g_assert_true (library_mapped ("libmitogen-local.so"));
      g_assert_false (library_mapped ("libmitogen-ssh.so"));
      g_assert_false (library_mapped ("libssh"));

      transport = mitogen_transport_new_for_method ("../local", NULL, &error);
      g_assert_null (transport);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND);
      g_clear_error (&error);

      methods = mitogen_transport_list_methods ();
      g_assert_true (g_strv_contains ((const char * const *) methods, "ssh"));
      g_assert_true (g_strv_contains ((const char * const *) methods, "local"));
      g_assert_true (library_mapped ("libmitogen-ssh.so"));

      g_clear_object (&context);
      mitogen_router_shutdown (router);
      return;
    }
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  forwarded = g_ptr_array_new_with_free_func (g_free);
  g_log_set_writer_func (capture_writer, NULL, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/local/call/getpid", test_getpid);
  ADD ("/local/call/builtins", test_builtins);
  ADD ("/local/call/remote-errors", test_remote_errors);
  ADD ("/local/call/concurrent", test_concurrent);
  ADD ("/local/call/bulk-64m", test_bulk);
  ADD ("/local/call/zeros", test_zeros);
  ADD ("/local/call/burst-without-wait", test_burst_without_wait);
  ADD ("/local/call/pipelined", test_pipelined);
  ADD ("/local/call/order", test_call_order);
  ADD ("/local/call/async", test_call_async);
  ADD ("/local/call/async-cancel", test_call_async_cancel);
  ADD ("/local/call/cancel", test_call_cancel);
  ADD ("/local/receiver/timeout", test_receiver_timeout);
  ADD ("/local/receiver/received-signal", test_received_signal);
  ADD ("/local/lifecycle/kill9", test_kill9);
  ADD ("/local/lifecycle/context-shutdown", test_context_shutdown);
  ADD ("/local/identity", test_identity);
#undef ADD
  g_test_add_func ("/local/lifecycle/broker-shutdown-timeout", test_broker_shutdown_timeout);
  g_test_add_func ("/local/lifecycle/master-kill9", test_master_kill9);
  g_test_add_func ("/local/lifecycle/router-gone", test_router_gone);
  g_test_add_func ("/local/lifecycle/shutdown-mid-burst", test_shutdown_mid_burst);
  g_test_add_func ("/local/lifecycle/signal-dispositions", test_signal_dispositions);
  g_test_add_func ("/local/lifecycle/cycles", test_cycles);
  g_test_add_func ("/local/options", test_options);
  g_test_add_func ("/local/user-hint", test_user_hint);
  g_test_add_func ("/local/plugins/lazy", test_plugins_lazy);
  g_test_add_func ("/local/connect-async", test_connect_async);
  g_test_add_func ("/local/log-forwarding", test_log_forwarding);

  return g_test_run ();
}
