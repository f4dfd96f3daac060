/* test-streaming.c — MitogenProcess, MitogenTransfer and their parts
 *
 * The library API the `mitogen run` and `mitogen cp` commands are built
 * on, against real local contexts. The receiving end of a transfer fed
 * with crafted events, and SHA-256, are in test-receive.c.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "mitogen-test.h"

typedef struct
{
  MitogenRouter  *router;   /* (owned) */
  MitogenContext *context;  /* (owned) */
  char           *tmp;      /* (owned) a scratch directory */
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  f->router = mitogen_router_new ();
  f->context = mitogen_test_local (f->router);
  f->tmp = g_dir_make_tmp ("mitogen-streaming-XXXXXX", &error);
  g_assert_no_error (error);
}

/* Only the scratch directory: the test makes its contexts itself (after
 * setting MITOGEN_NO_O_TMPFILE, which they inherit, while no router runs). */
static void
fixture_set_up_tmp (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  f->tmp = g_dir_make_tmp ("mitogen-streaming-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
remove_tree (const char *path)
{
  const char *argv[] = { "sh", "-c", "chmod -R u+rwx \"$1\" 2>/dev/null; rm -rf \"$1\"", "sh", path, NULL };

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL));
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  g_clear_object (&f->context);
  g_clear_object (&f->router);
  remove_tree (f->tmp);
  g_free (f->tmp);
}

static GBytes *
random_bytes (gsize len)
{
  guint8 *data = g_malloc (len);

  for (gsize i = 0; i < len; i++)
    data[i] = (guint8) g_random_int ();
  return g_bytes_new_take (data, len);
}

static char *
file_sha256 (const char *path)
{
  g_autofree char *data = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) data, len);
}

/* ---------------------------------------------------------------------- */
/* MitogenProcess */

static void
test_process_live (Fixture       *f,
                   gconstpointer  data)
{
  const char *argv[] = { "sh", "-c", "echo first; sleep 1; echo second >&2; exit 7", NULL };
  g_autoptr(MitogenProcess) process = mitogen_process_new (f->context, argv);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) chunk = NULL;
  gint64 start = g_get_monotonic_time ();
  int fd = 0;

  g_test_summary ("Output arrives while the program runs, from the right stream, "
                  "and the exit status at the end.");

  g_assert_true (mitogen_process_start (process, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (mitogen_process_get_pid (process), >, 0);
  mitogen_process_close_stdin (process, NULL);

  chunk = mitogen_process_read (process, &fd, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fd, ==, 1);
  g_assert_cmpmem (g_bytes_get_data (chunk, NULL), g_bytes_get_size (chunk), "first\n", 6);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 800 * 1000);
  g_clear_pointer (&chunk, g_bytes_unref);

  chunk = mitogen_process_read (process, &fd, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fd, ==, 2);
  g_assert_cmpmem (g_bytes_get_data (chunk, NULL), g_bytes_get_size (chunk), "second\n", 7);
  g_clear_pointer (&chunk, g_bytes_unref);

  g_assert_null (mitogen_process_read (process, &fd, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (fd, ==, -1);
  g_assert_true (mitogen_process_get_finished (process));
  g_assert_true (mitogen_process_get_if_exited (process));
  g_assert_cmpint (mitogen_process_get_exit_status (process), ==, 7);
  g_assert_false (mitogen_process_get_if_signaled (process));
}

static void
test_process_signal (Fixture       *f,
                     gconstpointer  data)
{
  const char *argv[] = { "sleep", "60", NULL };
  g_autoptr(MitogenProcess) process = mitogen_process_new (f->context, argv);
  g_autoptr(GError) error = NULL;

  g_test_summary ("send_signal reaches the program; a signal death is reported as such.");

  g_assert_true (mitogen_process_start (process, NULL, &error));
  g_assert_true (mitogen_process_send_signal (process, SIGTERM, &error));
  g_assert_true (mitogen_process_wait (process, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (mitogen_process_get_if_signaled (process));
  g_assert_cmpint (mitogen_process_get_term_sig (process), ==, SIGTERM);
  g_assert_cmpint (mitogen_process_get_exit_status (process), ==, -1);
  g_assert_false (mitogen_process_send_signal (process, 0, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
}

static void
test_process_not_found (Fixture       *f,
                        gconstpointer  data)
{
  const char *argv[] = { "/nonexistent/mitogen-test-program", NULL };
  g_autoptr(MitogenProcess) process = mitogen_process_new (f->context, argv);
  g_autoptr(GError) error = NULL;

  g_test_summary ("A program that cannot start fails start() with the remote spawn error.");

  g_assert_false (mitogen_process_start (process, NULL, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_cmpstr (mitogen_error_get_remote_domain (error), ==, g_quark_to_string (G_SPAWN_ERROR));
  g_assert_cmpint (mitogen_error_get_remote_code (error), ==, G_SPAWN_ERROR_NOENT);
}

typedef struct
{
  MitogenProcess *process;
  GBytes         *input;
} Writer;

static gpointer
writer_thread (gpointer data)
{
  Writer *writer = data;
  gsize len = g_bytes_get_size (writer->input);

  /* In pieces of odd sizes, then end-of-file. */
  for (gsize offset = 0; offset < len;)
    {
      gsize piece = MIN (len - offset, 100000 + offset % 7777);
      g_autoptr(GBytes) bytes = g_bytes_new_from_bytes (writer->input, offset, piece);
      g_autoptr(GError) error = NULL;

      g_assert_true (mitogen_process_write (writer->process, bytes, NULL, &error));
      g_assert_no_error (error);
      offset += piece;
    }
  g_assert_true (mitogen_process_close_stdin (writer->process, NULL));
  return NULL;
}

static void
test_process_stdin (Fixture       *f,
                    gconstpointer  data)
{
  const char *argv[] = { "cat", NULL };
  g_autoptr(MitogenProcess) process = mitogen_process_new (f->context, argv);
  g_autoptr(GBytes) input = random_bytes (8 * 1024 * 1024 + 13);
  g_autoptr(GByteArray) output = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  Writer writer = { process, input };
  GThread *thread;

  g_test_summary ("stdin written from one thread while another reads the output: every byte "
                  "comes back in order through both flow-controlled directions, EOF ends cat.");

  mitogen_process_set_window (process, 256 * 1024);
  g_assert_true (mitogen_process_start (process, NULL, &error));
  thread = g_thread_new ("writer", writer_thread, &writer);
  for (;;)
    {
      int fd;
      g_autoptr(GBytes) chunk = mitogen_process_read (process, &fd, NULL, &error);

      g_assert_no_error (error);
      if (chunk == NULL)
        break;
      g_assert_cmpint (fd, ==, 1);
      g_byte_array_append (output, g_bytes_get_data (chunk, NULL), (guint) g_bytes_get_size (chunk));
    }
  g_thread_join (thread);
  g_assert_cmpint (mitogen_process_get_exit_status (process), ==, 0);
  g_assert_cmpmem (output->data, output->len, g_bytes_get_data (input, NULL), g_bytes_get_size (input));
}

static void
test_process_write_after_exit (Fixture       *f,
                               gconstpointer  data)
{
  const char *argv[] = { "true", NULL };
  g_autoptr(MitogenProcess) process = mitogen_process_new (f->context, argv);
  g_autoptr(GBytes) input = random_bytes (4 * 1024 * 1024);
  g_autoptr(GError) error = NULL;

  g_test_summary ("Writing to a program that is gone fails (BROKEN_PIPE) instead of blocking.");

  mitogen_process_set_window (process, 64 * 1024);
  g_assert_true (mitogen_process_start (process, NULL, &error));
  g_assert_true (mitogen_process_wait (process, NULL, &error));
  g_assert_false (mitogen_process_write (process, input, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
}

typedef struct
{
  GMainLoop *loop;
  GString   *out;
  GString   *err;
  gboolean   done;
} AsyncRead;

static void
read_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  AsyncRead *state = user_data;
  g_autoptr(GError) error = NULL;
  int fd = 0;
  g_autoptr(GBytes) chunk = mitogen_process_read_finish (MITOGEN_PROCESS (source), result, &fd, &error);

  g_assert_no_error (error);
  if (chunk == NULL)
    {
      state->done = TRUE;
      g_main_loop_quit (state->loop);
      return;
    }
  g_string_append_len (fd == 1 ? state->out : state->err, g_bytes_get_data (chunk, NULL),
                       (gssize) g_bytes_get_size (chunk));
  mitogen_process_read_async (MITOGEN_PROCESS (source), NULL, read_cb, state);
}

static void
test_process_read_async (Fixture       *f,
                         gconstpointer  data)
{
  const char *argv[] = { "sh", "-c", "echo out; echo err >&2; echo more", NULL };
  g_autoptr(MitogenProcess) process = mitogen_process_new (f->context, argv);
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainContext) context = g_main_context_new ();
  AsyncRead state = { NULL, g_string_new (NULL), g_string_new (NULL), FALSE };

  g_test_summary ("read_async completes in the caller's main context, to the end.");

  g_main_context_push_thread_default (context);
  state.loop = g_main_loop_new (context, FALSE);
  g_assert_true (mitogen_process_start (process, NULL, &error));
  mitogen_process_close_stdin (process, NULL);
  mitogen_process_read_async (process, NULL, read_cb, &state);
  g_main_loop_run (state.loop);
  g_assert_true (state.done);
  g_assert_cmpstr (state.out->str, ==, "out\nmore\n");
  g_assert_cmpstr (state.err->str, ==, "err\n");
  g_assert_cmpint (mitogen_process_get_exit_status (process), ==, 0);
  g_main_loop_unref (state.loop);
  g_string_free (state.out, TRUE);
  g_string_free (state.err, TRUE);
  g_main_context_pop_thread_default (context);
}

/* ---------------------------------------------------------------------- */
/* MitogenTransfer */

typedef struct
{
  guint64 calls;
  guint64 last_done;
  guint64 total;
} Progress;

static void
on_progress (MitogenTransfer *transfer,
             guint64          done,
             guint64          total,
             gpointer         user_data)
{
  Progress *progress = user_data;

  g_assert_cmpuint (done, >=, progress->last_done);
  progress->calls++;
  progress->last_done = done;
  progress->total = total;
}

static void
make_file (const char *path,
           gsize       size,
           mode_t      mode,
           gint64      mtime)
{
  g_autoptr(GBytes) bytes = random_bytes (size);
  struct timespec times[2] = { { 0, UTIME_OMIT }, { mtime, 123456789 } };

  g_assert_true (g_file_set_contents (path, g_bytes_get_data (bytes, NULL), (gssize) size, NULL));
  g_assert_cmpint (chmod (path, mode), ==, 0);
  g_assert_cmpint (utimensat (AT_FDCWD, path, times, 0), ==, 0);
}

static void
assert_same_file (const char *a,
                  const char *b)
{
  struct stat sa, sb;
  g_autofree char *ha = file_sha256 (a);
  g_autofree char *hb = file_sha256 (b);

  g_assert_cmpint (stat (a, &sa), ==, 0);
  g_assert_cmpint (stat (b, &sb), ==, 0);
  g_assert_cmpstr (ha, ==, hb);
  g_assert_cmpint (sa.st_mode, ==, sb.st_mode);
  g_assert_cmpint (sa.st_mtim.tv_sec, ==, sb.st_mtim.tv_sec);
  g_assert_cmpint (sa.st_mtim.tv_nsec, ==, sb.st_mtim.tv_nsec);
}

static void
test_transfer_file (Fixture       *f,
                    gconstpointer  data)
{
  g_autofree char *src = g_build_filename (f->tmp, "src", NULL);
  g_autofree char *put = g_build_filename (f->tmp, "put", NULL);
  g_autofree char *got = g_build_filename (f->tmp, "got", NULL);
  g_autoptr(MitogenTransfer) transfer = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *sha = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *path = NULL;
  Progress progress = { 0 };
  gsize size = 5 * 1024 * 1024 + 17;

  g_test_summary ("A file goes to a context and back in chunks: content (SHA-256 both sides), "
                  "mode and mtime kept, progress reported up to the total.");

  make_file (src, size, 0640, 1000000000);
  expected = file_sha256 (src);

  transfer = mitogen_transfer_new (f->context, MITOGEN_TRANSFER_DIRECTION_PUT, src, put, MITOGEN_TRANSFER_FLAGS_NONE);
  mitogen_transfer_set_chunk_size (transfer, 256 * 1024);
  mitogen_transfer_set_progress_func (transfer, on_progress, &progress, NULL);
  g_assert_true (mitogen_transfer_run (transfer, NULL, &error));
  g_assert_no_error (error);
  assert_same_file (src, put);
  sha = mitogen_transfer_dup_sha256 (transfer);
  g_assert_cmpstr (sha, ==, expected);
  path = mitogen_transfer_dup_destination_path (transfer);
  g_assert_cmpstr (path, ==, put);
  g_assert_cmpuint (progress.calls, >=, 5);
  g_assert_cmpuint (progress.last_done, ==, size);
  g_assert_cmpuint (progress.total, ==, size);
  g_assert_cmpuint (mitogen_transfer_get_bytes_done (transfer), ==, size);
  g_assert_cmpuint (mitogen_transfer_get_files_done (transfer), ==, 1);

  g_assert_true (mitogen_context_get_file (f->context, put, got, MITOGEN_TRANSFER_FLAGS_NONE, NULL, &error));
  g_assert_no_error (error);
  assert_same_file (src, got);

  /* Over an existing file; into an existing directory. */
  g_assert_true (mitogen_context_get_file (f->context, src, got, MITOGEN_TRANSFER_FLAGS_NONE, NULL, &error));
  assert_same_file (src, got);
  {
    g_autofree char *dir = g_build_filename (f->tmp, "dir", NULL);
    g_autofree char *inside = g_build_filename (dir, "src", NULL);

    g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
    g_assert_true (mitogen_context_put_file (f->context, src, dir, MITOGEN_TRANSFER_FLAGS_TARGET_DIRECTORY,
                                             NULL, &error));
    g_assert_no_error (error);
    assert_same_file (src, inside);
  }
}

static void
test_transfer_tree (Fixture       *f,
                    gconstpointer  data)
{
  g_autofree char *tree = g_build_filename (f->tmp, "tree", NULL);
  g_autofree char *put = g_build_filename (f->tmp, "put", NULL);
  g_autofree char *got = g_build_filename (f->tmp, "got", NULL);
  g_autofree char *deep = g_build_filename (tree, "sub", "deep", NULL);
  g_autofree char *link_path = g_build_filename (tree, "link", NULL);
  g_autofree char *dangling = g_build_filename (tree, "sub", "dangling", NULL);
  g_autofree char *got_link = g_build_filename (got, "link", NULL);
  g_autofree char *got_dangling = g_build_filename (got, "sub", "dangling", NULL);
  g_autofree char *got_deep = g_build_filename (got, "sub", "deep", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenTransfer) transfer = NULL;
  const char *files[] = { "a", "sub/b", "sub/deep/c", "empty", NULL };
  struct stat st;
  char target[64];
  gssize n;

  g_test_summary ("A tree with subdirectories, a read-only directory, an empty file and links "
                  "goes both ways with modes and mtimes; links stay links.");

  g_assert_cmpint (g_mkdir_with_parents (deep, 0755), ==, 0);
  for (guint i = 0; files[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (tree, files[i], NULL);
      make_file (path, g_str_equal (files[i], "empty") ? 0 : 1000 * (i + 1), 0600 + i, 1500000000 + i);
    }
  g_assert_cmpint (symlink ("sub/b", link_path), ==, 0);
  g_assert_cmpint (symlink ("/nonexistent", dangling), ==, 0);
  g_assert_cmpint (chmod (deep, 0555), ==, 0);

  transfer = mitogen_transfer_new (f->context, MITOGEN_TRANSFER_DIRECTION_PUT, tree, put,
                                   MITOGEN_TRANSFER_FLAGS_RECURSIVE);
  g_assert_true (mitogen_transfer_run (transfer, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (mitogen_transfer_get_files_done (transfer), ==, 4);
  g_assert_cmpuint (mitogen_transfer_get_files_total (transfer), ==, 4);
  g_assert_null (mitogen_transfer_dup_sha256 (transfer));

  g_assert_true (mitogen_context_get_file (f->context, put, got, MITOGEN_TRANSFER_FLAGS_RECURSIVE, NULL, &error));
  g_assert_no_error (error);

  for (guint i = 0; files[i] != NULL; i++)
    {
      g_autofree char *a = g_build_filename (tree, files[i], NULL);
      g_autofree char *b = g_build_filename (put, files[i], NULL);
      g_autofree char *c = g_build_filename (got, files[i], NULL);

      assert_same_file (a, b);
      assert_same_file (a, c);
    }
  g_assert_cmpint (lstat (got_link, &st), ==, 0);
  g_assert_true (S_ISLNK (st.st_mode));
  n = readlink (got_link, target, sizeof target - 1);
  g_assert_cmpint (n, ==, 5);
  g_assert_cmpmem (target, 5, "sub/b", 5);
  g_assert_cmpint (lstat (got_dangling, &st), ==, 0);
  g_assert_true (S_ISLNK (st.st_mode));
  g_assert_cmpint (stat (got_deep, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0555);

  /* Again into the existing copy: merged, files replaced. */
  g_assert_true (mitogen_context_put_file (f->context, tree, f->tmp, MITOGEN_TRANSFER_FLAGS_RECURSIVE, NULL, &error));
  g_assert_no_error (error);
}

static void
test_transfer_errors (Fixture       *f,
                      gconstpointer  data)
{
  g_autofree char *missing = g_build_filename (f->tmp, "missing", NULL);
  g_autofree char *file = g_build_filename (f->tmp, "file", NULL);
  g_autofree char *out = g_build_filename (f->tmp, "out", NULL);
  g_autoptr(GError) error = NULL;

  g_test_summary ("Missing sources, directories without the flag, and a destination that must "
                  "be a directory fail with the error of the side that saw it.");

  make_file (file, 10, 0644, 1);
  g_assert_false (mitogen_context_get_file (f->context, missing, out, 0, NULL, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_cmpstr (mitogen_error_get_remote_domain (error), ==, "g-io-error-quark");
  g_assert_cmpint (mitogen_error_get_remote_code (error), ==, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_false (mitogen_context_put_file (f->context, missing, out, 0, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_false (mitogen_context_get_file (f->context, f->tmp, out, 0, NULL, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_cmpint (mitogen_error_get_remote_code (error), ==, G_IO_ERROR_IS_DIRECTORY);
  g_clear_error (&error);

  g_assert_false (mitogen_context_put_file (f->context, file, missing, MITOGEN_TRANSFER_FLAGS_TARGET_DIRECTORY,
                                            NULL, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_clear_error (&error);
  g_assert_false (g_file_test (missing, G_FILE_TEST_EXISTS));

  g_assert_false (mitogen_context_get_file (f->context, file, "/nonexistent-dir/x", 0, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

static void
async_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (mitogen_transfer_run_finish (MITOGEN_TRANSFER (source), result, &error));
  g_assert_no_error (error);
  *done = TRUE;
}

static void
on_progress_in_thread (MitogenTransfer *transfer,
                       guint64          done,
                       guint64          total,
                       gpointer         user_data)
{
  GThread **thread = user_data;

  g_assert_true (*thread == g_thread_self ());
}

static void
test_transfer_async (Fixture       *f,
                     gconstpointer  data)
{
  g_autofree char *src = g_build_filename (f->tmp, "src", NULL);
  g_autofree char *dst = g_build_filename (f->tmp, "dst", NULL);
  g_autoptr(MitogenTransfer) transfer = NULL;
  g_autoptr(GMainContext) context = g_main_context_new ();
  GThread *self = g_thread_self ();
  gboolean done = FALSE;

  g_test_summary ("run_async completes, and reports progress, in the caller's main context.");

  make_file (src, 3 * 1024 * 1024, 0600, 1234567890);
  g_main_context_push_thread_default (context);
  transfer = mitogen_transfer_new (f->context, MITOGEN_TRANSFER_DIRECTION_PUT, src, dst, 0);
  mitogen_transfer_set_progress_func (transfer, on_progress_in_thread, &self, NULL);
  mitogen_transfer_run_async (transfer, NULL, async_done_cb, &done);
  while (!done)
    g_main_context_iteration (context, TRUE);
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);
  assert_same_file (src, dst);
}

/* Files the receiving end names while it writes: .NAME.mitogen-XXXXXXXX. */
static guint
count_partials (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint n = 0;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    if (name[0] == '.' && strstr (name, ".mitogen-") != NULL)
      n++;
  return n;
}

static guint
count_entries (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  g_assert_nonnull (d);
  while (g_dir_read_name (d) != NULL)
    n++;
  return n;
}

/* Waits (the other side removes its file on its own time) until @dir is
 * empty; FALSE after 10 s. */
static gboolean
wait_empty (const char *dir)
{
  for (int i = 0; i < 1000; i++)
    {
      if (count_entries (dir) == 0)
        return TRUE;
      g_usleep (10 * 1000);
    }
  return FALSE;
}

typedef struct
{
  const char     *dir;       /* where the receiving end writes */
  gboolean        named;     /* ... under a temporary name (no O_TMPFILE) */
  GCancellable   *cancel;    /* (nullable) cancelled midway */
  MitogenContext *kill;      /* (nullable) killed midway */
  gboolean        acted;
  guint           partials;  /* partial files seen when it acted */
} Midway;

/* The transfer's thread: after 2 MiB, cancel or kill the agent. */
static void
on_progress_midway (MitogenTransfer *transfer,
                    guint64          done,
                    guint64          total,
                    gpointer         user_data)
{
  Midway *m = user_data;

  if (m->acted || done < 2 * 1024 * 1024)
    return;
  m->acted = TRUE;
  m->partials = count_partials (m->dir);
  if (m->cancel != NULL)
    g_cancellable_cancel (m->cancel);
  else
    g_assert_cmpint (kill ((pid_t) mitogen_context_get_pid (m->kill), SIGKILL), ==, 0);
}

/* A fresh router and context for each case: the context inherits
 * MITOGEN_NO_O_TMPFILE (set and unset while no router runs). */
static void
transfer_midway (Fixture                  *f,
                 MitogenTransferDirection  direction,
                 gboolean                  named,
                 gboolean                  kill_agent)
{
  g_autofree char *src = g_build_filename (f->tmp, "src.bin", NULL);
  g_autofree char *out = g_build_filename (f->tmp, "out", NULL);
  g_autofree char *dst = g_build_filename (out, "dst.bin", NULL);
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GCancellable) cancel = g_cancellable_new ();
  g_autoptr(MitogenTransfer) transfer = NULL;
  g_autoptr(GError) error = NULL;
  Midway m = { out, named, kill_agent ? NULL : cancel, NULL, FALSE, 0 };

  g_test_message ("%s, %s temporary, %s", direction == MITOGEN_TRANSFER_DIRECTION_GET ? "get" : "put",
                  named ? "named" : "unnamed", kill_agent ? "agent killed" : "cancelled");
  if (!g_file_test (src, G_FILE_TEST_EXISTS))
    make_file (src, 32 * 1024 * 1024, 0644, 1);
  g_assert_cmpint (g_mkdir (out, 0755), ==, 0);
  if (named)
    g_setenv ("MITOGEN_NO_O_TMPFILE", "1", TRUE);
  router = mitogen_router_new ();
  context = mitogen_test_local (router);
  m.kill = kill_agent ? context : NULL;

  transfer = mitogen_transfer_new (context, direction, src, dst, 0);
  mitogen_transfer_set_chunk_size (transfer, 256 * 1024);
  mitogen_transfer_set_progress_func (transfer, on_progress_midway, &m, NULL);
  g_assert_false (mitogen_transfer_run (transfer, cancel, &error));
  g_assert_true (m.acted);
  /* Midway, the file was there under a name only without O_TMPFILE
   * (for a put the agent may not have made it yet: at most one). */
  if (named && direction == MITOGEN_TRANSFER_DIRECTION_GET)
    g_assert_cmpuint (m.partials, ==, 1);
  else if (!named)
    g_assert_cmpuint (m.partials, ==, 0);
  if (kill_agent)
    {
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
      g_assert_nonnull (strstr (error->message, "was lost during file."));
    }
  else
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  /* Ours goes at once; the context removes its own (cancelled), or it
   * never had a name (killed). */
  if (direction == MITOGEN_TRANSFER_DIRECTION_GET)
    g_assert_cmpuint (count_entries (out), ==, 0);
  else
    g_assert_true (wait_empty (out));
  if (!kill_agent)
    {
      /* The context lives on, and copies again. */
      g_autoptr(MitogenTransfer) again = mitogen_transfer_new (context, direction, src, dst, 0);

      g_clear_error (&error);
      g_assert_true (mitogen_transfer_run (again, NULL, &error));
      g_assert_no_error (error);
      assert_same_file (src, dst);
      g_assert_cmpint (g_unlink (dst), ==, 0);
    }
  mitogen_router_shutdown (router);
  g_clear_object (&context);
  g_clear_object (&router);
  g_unsetenv ("MITOGEN_NO_O_TMPFILE");
  g_assert_cmpint (g_rmdir (out), ==, 0);
}

static void
test_transfer_cancel (Fixture       *f,
                      gconstpointer  data)
{
  g_test_summary ("A transfer cancelled midway fails with G_IO_ERROR_CANCELLED and leaves no "
                  "partial file on either side, written unnamed (O_TMPFILE) or under a temporary "
                  "name; the context goes on working.");

  for (int named = 0; named <= 1; named++)
    {
      transfer_midway (f, MITOGEN_TRANSFER_DIRECTION_PUT, named, FALSE);
      transfer_midway (f, MITOGEN_TRANSFER_DIRECTION_GET, named, FALSE);
    }
}

static void
test_transfer_peer_killed (Fixture       *f,
                           gconstpointer  data)
{
  g_test_summary ("The context killed (SIGKILL) midway: MITOGEN_ERROR_CHANNEL saying the context "
                  "was lost; the master removes the file it was receiving, and the file the "
                  "context was receiving never had a name.");

  transfer_midway (f, MITOGEN_TRANSFER_DIRECTION_PUT, FALSE, TRUE);
  transfer_midway (f, MITOGEN_TRANSFER_DIRECTION_GET, FALSE, TRUE);
  transfer_midway (f, MITOGEN_TRANSFER_DIRECTION_GET, TRUE, TRUE);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/streaming/process/live", Fixture, NULL, fixture_set_up, test_process_live, fixture_tear_down);
  g_test_add ("/streaming/process/signal", Fixture, NULL, fixture_set_up, test_process_signal, fixture_tear_down);
  g_test_add ("/streaming/process/not-found", Fixture, NULL, fixture_set_up, test_process_not_found,
              fixture_tear_down);
  g_test_add ("/streaming/process/stdin", Fixture, NULL, fixture_set_up, test_process_stdin, fixture_tear_down);
  g_test_add ("/streaming/process/write-after-exit", Fixture, NULL, fixture_set_up, test_process_write_after_exit,
              fixture_tear_down);
  g_test_add ("/streaming/process/read-async", Fixture, NULL, fixture_set_up, test_process_read_async,
              fixture_tear_down);
  g_test_add ("/streaming/transfer/file", Fixture, NULL, fixture_set_up, test_transfer_file, fixture_tear_down);
  g_test_add ("/streaming/transfer/tree", Fixture, NULL, fixture_set_up, test_transfer_tree, fixture_tear_down);
  g_test_add ("/streaming/transfer/errors", Fixture, NULL, fixture_set_up, test_transfer_errors, fixture_tear_down);
  g_test_add ("/streaming/transfer/async", Fixture, NULL, fixture_set_up, test_transfer_async, fixture_tear_down);
  g_test_add ("/streaming/transfer/cancel", Fixture, NULL, fixture_set_up_tmp, test_transfer_cancel,
              fixture_tear_down);
  g_test_add ("/streaming/transfer/peer-killed", Fixture, NULL, fixture_set_up_tmp, test_transfer_peer_killed,
              fixture_tear_down);

  return g_test_run ();
}
