/* mitogen-bootstrap.c — shipping the agent to a target that has only /bin/sh
 *
 * The transport runs `sh -c STAGE1 …` on the target (data/stage1.sh, a
 * GResource). Stage 1 prints one report line:
 *
 *     MITOGEN0 local | MITOGEN0 cached
 *     MITOGEN0 need-<zst,xz,gz,raw: what it decodes> <uname -s> <uname -m>
 *
 * and, unless the agent is cached there, reads one line with a byte count
 * and format and exactly that many bytes: the agent, compressed as the
 * transport's bootstrap-format asks if the target can decode it (stage 1
 * looks for that decompressor only), else gzip-compressed when the target
 * has gzip. Then it execs the agent, whose stdin/stdout are the same stream;
 * the greeting/configuration handshake follows (mitogen-connect.c).
 *
 * In closure mode (agent=self or dynamic: mitogen-agent-image.c) stage 1
 * gets a manifest of files in its argv and reports the ones its cache
 * lacks, `MITOGEN0 closure-gz,raw <uname -s> <uname -m> <1,4,7|->`; the
 * master sends each as `INDEX LENGTH FORMAT` and its bytes, then `end`.
 * A worker thread reads, compresses and writes them (a cold closure is
 * megabytes), never the broker thread.
 *
 * Before anything is sent, the target's `uname -m` must name the image's
 * CPU (mitogen_arch_matches ()); the stock agent is picked by it among
 * the CPUs the build made one for (mitogen-stock-image.c).
 *
 * All I/O here is non-blocking, from sources on the thread-default main
 * context (the broker's); the connect's timeout and cancellable bound it.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-bootstrap"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <glib-unix.h>
#include <zlib.h>

#include "mitogen-agent-image-private.h"
#include "mitogen-bootstrap-private.h"
#include "mitogen-closure-private.h"
#include "mitogen-plugins-private.h"
#include "mitogen-stock-image-private.h"
#include "mitogen-transport-private.h"

/* A closure's report lists the files it needs (up to 512 indices). */
#define REPORT_MAX 4096


struct _MitogenBootstrap
{
  int                   read_fd;     /* (unowned) */
  int                   write_fd;    /* (unowned) */
  GMainContext         *context;     /* (owned) */
  GSource              *source;      /* (owned) (nullable) */
  GString              *report;      /* (owned) */
  char                  header[32];  /* the length line */
  gsize                 header_len;
  GBytes               *payload;     /* (owned) (nullable) the agent's bytes, after header */
  gsize                 written;     /* of header and payload */
  guint64               agent_bytes;
  char                 *preferred;   /* (owned) (nullable) image format to send if offered */
  MitogenAgentImage    *image;       /* (owned) (nullable) a closure to ship; NULL: the stock agent */
  GCancellable         *shipping;    /* (owned) (nullable) the closure's files being shipped by a thread */
  MitogenBootstrapDone  done;        /* NULL once called */
  gpointer              user_data;
};

void
mitogen_bootstrap_free (MitogenBootstrap *self)
{
  if (self->source != NULL)
    {
      g_source_destroy (self->source);
      g_source_unref (self->source);
    }
  /* The thread's callback sees the cancellation and leaves us alone. */
  if (self->shipping != NULL)
    {
      g_cancellable_cancel (self->shipping);
      g_object_unref (self->shipping);
    }
  g_clear_pointer (&self->image, mitogen_agent_image_unref);
  g_main_context_unref (self->context);
  g_free (self->preferred);
  g_string_free (self->report, TRUE);
  g_clear_pointer (&self->payload, g_bytes_unref);
  g_free (self);
}

static void
finish (MitogenBootstrap *self,
        GError           *error)
{
  MitogenBootstrapDone done = self->done;

  self->done = NULL;
  if (done != NULL)
    done (self->user_data, self->agent_bytes, self->report->str, error);
  g_clear_error (&error);
}

/* gzip-compresses @raw with zlib directly (GIO's converter streams would
 * drag GIO's file system stack into the static agent). Level 6: level 9
 * costs ~0.4 s on the agent for a few per cent. */
GBytes *
mitogen_bootstrap_gzip (GBytes  *raw,
                        GError **error)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (raw, &len);
  z_stream z = { 0 };
  uLong bound;
  guint8 *out;
  int rc;

  if (deflateInit2 (&z, 6, Z_DEFLATED, 15 + 16 /* gzip */, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    {
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "bootstrap: zlib init failed");
      return NULL;
    }
  bound = deflateBound (&z, (uLong) len) + 64;
  out = g_malloc (bound);
  z.next_in = (Bytef *) data;
  z.avail_in = (uInt) len;
  z.next_out = out;
  z.avail_out = (uInt) bound;
  rc = deflate (&z, Z_FINISH);
  deflateEnd (&z);
  if (rc != Z_STREAM_END)
    {
      g_free (out);
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "bootstrap: cannot compress the agent's files (zlib %d)", rc);
      return NULL;
    }
  return g_bytes_new_take (g_realloc (out, z.total_out), z.total_out);
}

/* Any thread. */
char **
mitogen_bootstrap_argv (const char  *shell,
                        const char  *name,
                        gboolean     cache,
                        const char  *local_agent,
                        const char  *format,
                        GError     **error)
{
  g_autoptr(GBytes) script = NULL;
  g_autofree char *hash = NULL;
  GPtrArray *argv;

  hash = mitogen_stock_image_hash_argument (error);
  if (hash == NULL)
    return NULL;
  script = mitogen_bootstrap_stage1 (error);
  if (script == NULL)
    return NULL;

  argv = g_ptr_array_new ();
  g_ptr_array_add (argv, g_strdup (shell != NULL ? shell : "/bin/sh"));
  g_ptr_array_add (argv, g_strdup ("-c"));
  g_ptr_array_add (argv, g_strndup (g_bytes_get_data (script, NULL), g_bytes_get_size (script)));
  g_ptr_array_add (argv, g_strdup ("mitogen-stage1"));
  g_ptr_array_add (argv, g_strdup (name));
  g_ptr_array_add (argv, g_strdup (cache ? "1" : "0"));
  g_ptr_array_add (argv, g_steal_pointer (&hash));
  /* LOCAL (may be empty), then the format we prefer: stage 1 looks for
   * a decompressor other than gzip only if we would pick it. */
  g_ptr_array_add (argv, g_strdup (local_agent != NULL ? local_agent : ""));
  g_ptr_array_add (argv, g_strdup (format != NULL ? format : ""));
  g_ptr_array_add (argv, NULL);
  return (char **) g_ptr_array_free (argv, FALSE);
}

/* Any thread. */
char **
mitogen_bootstrap_closure_argv (const char               *shell,
                                const char               *name,
                                gboolean                  cache,
                                const char               *local_program,
                                const MitogenAgentImage  *image,
                                GError                  **error)
{
  g_autoptr(GBytes) script = mitogen_bootstrap_stage1 (error);
  GPtrArray *argv;

  if (script == NULL)
    return NULL;
  argv = g_ptr_array_new ();
  g_ptr_array_add (argv, g_strdup (shell != NULL ? shell : "/bin/sh"));
  g_ptr_array_add (argv, g_strdup ("-c"));
  g_ptr_array_add (argv, g_strndup (g_bytes_get_data (script, NULL), g_bytes_get_size (script)));
  g_ptr_array_add (argv, g_strdup ("mitogen-stage1"));
  g_ptr_array_add (argv, g_strdup (name));
  g_ptr_array_add (argv, g_strdup (cache ? "1" : "0"));
  g_ptr_array_add (argv, g_strdup ("closure"));
  g_ptr_array_add (argv, g_strdup (local_program != NULL ? local_program : ""));
  /* The manifest: INDEX ROLE SHA256 SIZE NAME per file. */
  for (guint i = 0; i < image->closure->files->len; i++)
    {
      const MitogenClosureFile *file = g_ptr_array_index (image->closure->files, i);

      g_ptr_array_add (argv, g_strdup_printf ("%u", i));
      g_ptr_array_add (argv, g_strdup (mitogen_closure_role_name (file->role)));
      g_ptr_array_add (argv, g_strdup (file->sha256));
      g_ptr_array_add (argv, g_strdup_printf ("%" G_GUINT64_FORMAT, file->size));
      g_ptr_array_add (argv, g_strdup (file->name));
    }
  g_ptr_array_add (argv, NULL);
  return (char **) g_ptr_array_free (argv, FALSE);
}

static gboolean on_writable (int fd, GIOCondition condition, gpointer user_data);

/* Broker thread: sends self->payload. */
static void
start_writing (MitogenBootstrap *self)
{
  self->source = g_unix_fd_source_new (self->write_fd, G_IO_OUT);
  g_source_set_callback (self->source, G_SOURCE_FUNC (on_writable), self, NULL);
  g_source_set_static_name (self->source, "[mitogen] bootstrap write");
  g_source_attach (self->source, self->context);
}

/* Broker thread: the machine the target reported (`uname -m`, untrusted)
 * must be the image's; checked before anything is sent. */
static gboolean
check_arch (MitogenBootstrap  *self,
            const char        *machine,
            GError           **error)
{
  const char *arch;
  g_autofree char *shown = NULL;

  if (self->image == NULL)
    return mitogen_stock_image_check (machine, error);
  arch = self->image->closure->arch;
  /* Unknown on either side: the target's exec will tell. */
  if (machine == NULL || arch == NULL || strcmp (machine, "?") == 0 || mitogen_arch_matches (arch, machine))
    return TRUE;
  shown = g_strescape (machine, NULL);
  g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
               "bootstrap: target is %s, agent is %s: a program of another architecture cannot run there",
               shown, arch);
  return FALSE;
}

/* Closure mode: what the shipping thread sends. */
typedef struct
{
  MitogenAgentImage *image;   /* (owned) */
  GArray            *needed;  /* (owned) guint: file indices, ascending */
  gboolean           gzip;
  int                fd;      /* (owned) a duplicate of the stream's write end */
} Ship;

static void
ship_free (gpointer data)
{
  Ship *ship = data;

  mitogen_agent_image_unref (ship->image);
  g_array_unref (ship->needed);
  if (ship->fd >= 0)
    close (ship->fd);
  g_free (ship);
}

/* The shipping thread: writes all of @data (the descriptor is
 * non-blocking), waking every 100 ms to notice a cancelled connect. */
static gboolean
write_all (int            fd,
           const guint8  *data,
           gsize          len,
           GCancellable  *cancellable,
           GError       **error)
{
  gsize done = 0;

  while (done < len)
    {
      gssize n;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      n = write (fd, data + done, len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
          struct pollfd pfd = { fd, POLLOUT, 0 };

          poll (&pfd, 1, 100);
          continue;
        }
      if (n < 0)
        {
          int saved = errno;

          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                       "bootstrap: sending the agent's files failed: %s", g_strerror (saved));
          return FALSE;
        }
      done += (gsize) n;
    }
  return TRUE;
}

/* A worker thread: compresses (or reads) each file stage 1 asked for and
 * writes its record at once, so the target unpacks one file while the
 * next is compressed; then `end`. The broker thread writes nothing to
 * the stream meanwhile: the stream starts only once this is done. */
static void
ship_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  Ship *ship = task_data;
  guint64 file_bytes = 0;
  GError *error = NULL;

  for (guint i = 0; i < ship->needed->len; i++)
    {
      guint index = g_array_index (ship->needed, guint, i);
      g_autoptr(GBytes) bytes = NULL;
      char line[64];

      if (g_task_return_error_if_cancelled (task))
        return;
      bytes = mitogen_agent_image_read_file (ship->image, index, ship->gzip, &error);
      if (bytes == NULL)
        {
          g_task_return_error (task, error);
          return;
        }
      g_snprintf (line, sizeof line, "%u %" G_GSIZE_FORMAT " %s\n", index, g_bytes_get_size (bytes),
                  ship->gzip ? "gz" : "raw");
      if (!write_all (ship->fd, (const guint8 *) line, strlen (line), cancellable, &error) ||
          !write_all (ship->fd, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), cancellable, &error))
        {
          g_task_return_error (task, error);
          return;
        }
      file_bytes += g_bytes_get_size (bytes);
    }
  if (!write_all (ship->fd, (const guint8 *) "end\n", 4, cancellable, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_return_int (task, (gssize) MIN (file_bytes, (guint64) G_MAXSSIZE));
}

/* Broker thread. */
static void
shipped_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  MitogenBootstrap *self = user_data;
  GError *error = NULL;
  gssize file_bytes;

  /* mitogen_bootstrap_free () cancels: then @self is gone. */
  if (g_cancellable_is_cancelled (g_task_get_cancellable (G_TASK (result))))
    return;
  g_clear_object (&self->shipping);
  file_bytes = g_task_propagate_int (G_TASK (result), &error);
  if (error != NULL)
    {
      finish (self, error);
      return;
    }
  self->agent_bytes = (guint64) file_bytes;
  finish (self, NULL);
}

/* The report's list of files stage 1 needs: `-`, or indices in strictly
 * ascending order, each in the manifest. (transfer full) */
static GArray *
parse_needed (const char  *list,
              guint        n_files,
              GError     **error)
{
  g_autoptr(GArray) needed = g_array_new (FALSE, FALSE, sizeof (guint));
  g_auto(GStrv) parts = NULL;

  if (strcmp (list, "-") == 0)
    return g_steal_pointer (&needed);
  parts = g_strsplit (list, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      const char *part = parts[i];
      guint64 value = 0;
      gsize len = strlen (part);
      gboolean ok = len > 0 && len <= 6 && (part[0] != '0' || len == 1);

      for (gsize j = 0; ok && j < len; j++)
        ok = g_ascii_isdigit (part[j]);
      if (ok)
        value = g_ascii_strtoull (part, NULL, 10);
      if (!ok || value >= n_files ||
          (needed->len > 0 && value <= g_array_index (needed, guint, needed->len - 1)))
        {
          g_autofree char *shown = g_strescape (part, NULL);

          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                       "bootstrap: stage 1 asked for file \"%s\", not an index of the %u-file manifest "
                       "in ascending order", shown, n_files);
          return NULL;
        }
      {
        guint index = (guint) value;
        g_array_append_val (needed, index);
      }
    }
  return g_steal_pointer (&needed);
}

/* Broker thread: closure mode. @words: the report, split at spaces. */
static void
handle_closure_report (MitogenBootstrap *self,
                       char            **words)
{
  g_autoptr(GTask) task = NULL;
  g_auto(GStrv) offered = NULL;
  GError *error = NULL;
  Ship *ship;
  GArray *needed;
  gboolean gzip;

  if (g_strv_length (words) != 5 || !g_str_has_prefix (words[1], "closure-"))
    {
      g_autofree char *shown = g_strescape (self->report->str, NULL);

      finish (self, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                 "bootstrap: stage 1 reported \"%s\" instead of the files it needs", shown));
      return;
    }
  offered = g_strsplit (words[1] + strlen ("closure-"), ",", -1);
  /* zlib here; XZ Utils only at build time (the stock agent's .xz). */
  gzip = g_strv_contains ((const char * const *) offered, "gz") && g_strcmp0 (self->preferred, "raw") != 0;
  if (!gzip && !g_strv_contains ((const char * const *) offered, "raw"))
    {
      finish (self, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                 "bootstrap: the target takes neither gz nor raw files"));
      return;
    }
  needed = parse_needed (words[4], self->image->closure->files->len, &error);
  if (needed == NULL)
    {
      finish (self, error);
      return;
    }

  ship = g_new0 (Ship, 1);
  ship->image = mitogen_agent_image_ref (self->image);
  ship->needed = needed;
  ship->gzip = gzip;
  /* The thread's own descriptor: ours may be closed (and its number
   * reused) when the connect fails while the thread still writes. */
  ship->fd = fcntl (self->write_fd, F_DUPFD_CLOEXEC, 3);
  if (ship->fd < 0)
    {
      int saved = errno;

      ship_free (ship);
      finish (self, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                 "bootstrap: cannot duplicate the stream's descriptor: %s", g_strerror (saved)));
      return;
    }
  self->shipping = g_cancellable_new ();
  task = g_task_new (NULL, self->shipping, shipped_cb, self);
  g_task_set_source_tag (task, handle_closure_report);
  g_task_set_task_data (task, ship, ship_free);
  g_task_run_in_thread (task, ship_thread);
}

/* Broker thread: the report line is in; decide what to send. */
static void
handle_report (MitogenBootstrap *self)
{
  g_auto(GStrv) words = g_strsplit (self->report->str, " ", -1);
  g_autoptr(GBytes) image = NULL;
  GError *error = NULL;
  const char *format = NULL;

  if (g_strv_length (words) < 2 || g_strcmp0 (words[0], "MITOGEN0") != 0)
    {
      g_autofree char *shown = g_strescape (self->report->str, NULL);
      finish (self, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                 "bootstrap: unexpected output from the target's shell: \"%s\"", shown));
      return;
    }
  /* The same machine: stage 1 runs our own program. */
  if (g_strcmp0 (words[1], "local") == 0)
    {
      finish (self, NULL);
      return;
    }
  if (!check_arch (self, g_strv_length (words) > 3 ? words[3] : NULL, &error))
    {
      finish (self, error);
      return;
    }
  if (self->image != NULL)
    {
      handle_closure_report (self, words);
      return;
    }
  if (g_strcmp0 (words[1], "cached") == 0)
    {
      finish (self, NULL);
      return;
    }
  if (!g_str_has_prefix (words[1], "need-"))
    {
      finish (self, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                 "bootstrap: stage 1 asked for '%s'", words[1]));
      return;
    }
  /* Stage 1 lists what it can decode. The transport's bootstrap-format
   * chooses among those, else gzip (decodes fast: a cold start over a
   * fast link), zstd (smaller, decodes as fast), xz (smallest, slow to
   * decode: for slow links), raw. */
  {
    g_auto(GStrv) offered = g_strsplit (words[1] + strlen ("need-"), ",", -1);
    const char *order[] = { self->preferred, "gz", "zst", "xz", "raw", "raw" };

    /* ... and raw when it lists nothing we have. */
    for (guint i = 0; i + 1 < G_N_ELEMENTS (order); i++)
      if (order[i] != NULL && !g_strv_contains ((const char * const *) offered, order[i]))
        order[i] = NULL;
    image = mitogen_stock_image_get (g_strv_length (words) > 3 ? words[3] : NULL, order, G_N_ELEMENTS (order),
                                     &format, &error);
    if (image == NULL)
      {
        finish (self, error);
        return;
      }
  }
  self->agent_bytes = g_bytes_get_size (image);
  g_snprintf (self->header, sizeof self->header, "%" G_GSIZE_FORMAT " %s\n", g_bytes_get_size (image), format);
  self->header_len = strlen (self->header);
  self->payload = g_steal_pointer (&image);
  start_writing (self);
}

/* Broker thread. */
static gboolean
on_readable (int          fd,
             GIOCondition condition,
             gpointer     user_data)
{
  MitogenBootstrap *self = user_data;
  char c;

  /* One byte at a time: nothing past the newline is ours to take. */
  for (;;)
    {
      gssize n = read (fd, &c, 1);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return G_SOURCE_CONTINUE;
      if (n <= 0)
        {
          int saved = errno;

          g_clear_pointer (&self->source, g_source_unref);
          finish (self, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                     "bootstrap: the target's shell %s before reporting%s%s",
                                     n == 0 ? "exited" : "failed", n == 0 ? "" : ": ",
                                     n == 0 ? "" : g_strerror (saved)));
          return G_SOURCE_REMOVE;
        }
      if (c == '\n')
        break;
      if (self->report->len >= REPORT_MAX)
        {
          g_clear_pointer (&self->source, g_source_unref);
          finish (self, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                     "bootstrap: the target's shell printed %u bytes without a report line",
                                     REPORT_MAX));
          return G_SOURCE_REMOVE;
        }
      g_string_append_c (self->report, c);
    }

  g_clear_pointer (&self->source, g_source_unref);
  g_debug ("stage 1 reports: %s", self->report->str);
  handle_report (self);
  return G_SOURCE_REMOVE;
}

/* Broker thread. */
static gboolean
on_writable (int          fd,
             GIOCondition condition,
             gpointer     user_data)
{
  MitogenBootstrap *self = user_data;
  gsize data_len = 0;
  const guint8 *data = g_bytes_get_data (self->payload, &data_len);
  gsize len = self->header_len + data_len;

  while (self->written < len)
    {
      struct iovec iov[2];
      int n_iov = 0;
      gssize n;

      if (self->written < self->header_len)
        {
          iov[n_iov].iov_base = self->header + self->written;
          iov[n_iov++].iov_len = self->header_len - self->written;
        }
      iov[n_iov].iov_base = (guint8 *) data + (self->written > self->header_len ? self->written - self->header_len : 0);
      iov[n_iov].iov_len = data_len - (self->written > self->header_len ? self->written - self->header_len : 0);
      n_iov++;
      n = writev (fd, iov, n_iov);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return G_SOURCE_CONTINUE;
      if (n < 0)
        {
          int saved = errno;

          g_clear_pointer (&self->source, g_source_unref);
          finish (self, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                     "bootstrap: sending the agent's files failed after %" G_GSIZE_FORMAT
                                     " of %" G_GSIZE_FORMAT " bytes: %s",
                                     self->written, len, g_strerror (saved)));
          return G_SOURCE_REMOVE;
        }
      self->written += (gsize) n;
    }

  g_clear_pointer (&self->source, g_source_unref);
  finish (self, NULL);
  return G_SOURCE_REMOVE;
}

MitogenBootstrap *
mitogen_bootstrap_start (int                   read_fd,
                         int                   write_fd,
                         const char           *preferred,
                         MitogenAgentImage    *image,
                         GMainContext         *context,
                         MitogenBootstrapDone  done,
                         gpointer              user_data)
{
  MitogenBootstrap *self = g_new0 (MitogenBootstrap, 1);

  self->image = image != NULL ? mitogen_agent_image_ref (image) : NULL;
  self->read_fd = read_fd;
  self->write_fd = write_fd;
  self->context = g_main_context_ref (context);
  self->preferred = g_strdup (preferred);
  self->report = g_string_new (NULL);
  self->done = done;
  self->user_data = user_data;
  g_unix_set_fd_nonblocking (read_fd, TRUE, NULL);
  g_unix_set_fd_nonblocking (write_fd, TRUE, NULL);

  self->source = g_unix_fd_source_new (read_fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_callback (self->source, G_SOURCE_FUNC (on_readable), self, NULL);
  g_source_set_static_name (self->source, "[mitogen] bootstrap read");
  g_source_attach (self->source, context);
  return self;
}
