/* mitogen-bootstrap.c — shipping the agent to a target that has only /bin/sh
 *
 * The transport runs `sh -c STAGE1 …` on the target (data/stage1.sh, a
 * GResource). Stage 1 prints one report line:
 *
 *     MITOGEN0 <cached|need-gz|need-raw> <uname -s> <uname -m>
 *
 * and, unless the agent is cached there, reads one line with a byte count
 * and exactly that many bytes: the agent, gzip-compressed when the target
 * has gzip. Then it execs the agent, whose stdin/stdout are the same stream;
 * the greeting/configuration handshake follows (mitogen-connect.c).
 *
 * All I/O here is non-blocking, from sources on the thread-default main
 * context (the broker's); the connect's timeout and cancellable bound it.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-bootstrap"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <zlib.h>

#include "mitogen-bootstrap-private.h"
#include "mitogen-plugins-private.h"
#include "mitogen-transport-private.h"

#define REPORT_MAX 256


struct _MitogenBootstrap
{
  int                   read_fd;     /* (unowned) */
  int                   write_fd;    /* (unowned) */
  GMainContext         *context;     /* (owned) */
  GSource              *source;      /* (owned) (nullable) */
  GString              *report;      /* (owned) */
  GBytes               *payload;     /* (owned) (nullable) length line + agent bytes */
  gsize                 written;
  guint64               agent_bytes;
  char                 *preferred;   /* (owned) (nullable) image format to send if offered */
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

static int self_image_fd = -1;

void
mitogen_bootstrap_set_self_image_fd (int fd)
{
  self_image_fd = fd;
}

static gboolean
read_self_image (char   **data,
                 gsize   *len,
                 GError **error)
{
  GByteArray *buf = g_byte_array_new ();
  guint8 chunk[65536];
  off_t offset = 0;

  for (;;)
    {
      gssize n = pread (self_image_fd, chunk, sizeof chunk, offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          g_byte_array_unref (buf);
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                       "reading our own image: %s", g_strerror (saved));
          return FALSE;
        }
      if (n == 0)
        break;
      g_byte_array_append (buf, chunk, (guint) n);
      offset += n;
    }
  *len = buf->len;
  *data = (char *) g_byte_array_free (buf, FALSE);
  return TRUE;
}

/* Whether @gz is a whole gzip stream of @raw_len bytes (the trailer's
 * ISIZE: the uncompressed length mod 2^32, little-endian). */
static gboolean
gzip_matches (const guint8 *gz,
              gsize         gz_len,
              gsize         raw_len)
{
  guint32 isize;

  if (gz_len < 18 || gz[0] != 0x1f || gz[1] != 0x8b)
    return FALSE;
  isize = (guint32) gz[gz_len - 4] | ((guint32) gz[gz_len - 3] << 8) |
          ((guint32) gz[gz_len - 2] << 16) | ((guint32) gz[gz_len - 1] << 24);
  return isize == (guint32) raw_len;
}

/* gzip-compresses @raw with zlib directly (GIO's converter streams would
 * drag GIO's file system stack into the static agent). Level 6: level 9
 * costs ~0.4 s on the agent for a few per cent. */
static GBytes *
gzip_bytes (GBytes  *raw,
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
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "bootstrap: cannot compress the agent (zlib %d)", rc);
      return NULL;
    }
  return g_bytes_new_take (g_realloc (out, z.total_out), z.total_out);
}

/* Any thread; computed once. */
gboolean
mitogen_bootstrap_get_image (GBytes     **raw,
                             GBytes     **compressed,
                             GBytes     **xz,
                             const char **hash,
                             GError     **error)
{
  static GMutex lock;
  static GBytes *image_raw, *image_gz, *image_xz;
  static char *image_hash;
  gboolean ok = TRUE;

  g_mutex_lock (&lock);
  if (image_raw == NULL)
    {
      const char *path = self_image_fd >= 0 ? "(self)" : mitogen_agent_path ();
      char *data = NULL;
      gsize len = 0;

      if (self_image_fd >= 0 ? !read_self_image (&data, &len, error)
                             : !g_file_get_contents (path, &data, &len, error))
        {
          g_prefix_error (error, "bootstrap: cannot read the agent image: ");
          ok = FALSE;
        }
      else
        {
          g_autofree char *gz_path = g_strconcat (path, ".gz", NULL);
          char *gz_data = NULL;
          gsize gz_len = 0;
          g_autofree char *digest = NULL;
          g_autofree char *hash_path = g_strconcat (path, ".sha256", NULL);
          struct stat st_raw, st_gz, st_hash;

          /* The build writes the image's SHA-256 next to it: hashing 3 MB
           * here would stall the broker thread on a first connect. */
          if (self_image_fd < 0 && stat (path, &st_raw) == 0 && stat (hash_path, &st_hash) == 0 &&
              st_hash.st_mtime >= st_raw.st_mtime && g_file_get_contents (hash_path, &digest, NULL, NULL))
            {
              g_strstrip (digest);
              if (strlen (digest) != 64)
                g_clear_pointer (&digest, g_free);
            }
          if (digest == NULL)
            digest = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) data, len);

          /* The build compresses the agent next to it (mitogen-agent.gz);
           * use that only if it is whole and of this very image: gzip's
           * trailer ends with the uncompressed size. */
          if (self_image_fd < 0 && stat (path, &st_raw) == 0 && stat (gz_path, &st_gz) == 0 &&
              st_gz.st_mtime >= st_raw.st_mtime &&
              g_file_get_contents (gz_path, &gz_data, &gz_len, NULL) &&
              !gzip_matches ((const guint8 *) gz_data, gz_len, len))
            g_clear_pointer (&gz_data, g_free);
          if (gz_data != NULL)
            {
              g_autofree char *xz_path = g_strconcat (path, ".xz", NULL);
              char *xz_data = NULL;
              gsize xz_len = 0;

              image_raw = g_bytes_new_take (data, len);
              image_gz = g_bytes_new_take (gz_data, gz_len);
              image_hash = g_strndup (digest, 16);
              /* Smaller still, for targets with XZ Utils (x86 filter):
               * optional, and only if whole (an xz stream ends in "YZ"). */
              if (g_file_get_contents (xz_path, &xz_data, &xz_len, NULL))
                {
                  if (xz_len > 12 && xz_data[xz_len - 2] == 'Y' && xz_data[xz_len - 1] == 'Z')
                    image_xz = g_bytes_new_take (xz_data, xz_len);
                  else
                    g_free (xz_data);
                }
            }
        }
      if (ok && image_raw == NULL)
        {
          g_autofree char *digest = NULL;

          image_raw = g_bytes_new_take (data, len);
          image_gz = gzip_bytes (image_raw, error);
          if (image_gz == NULL)
            {
              g_clear_pointer (&image_raw, g_bytes_unref);
              ok = FALSE;
            }
          else
            {
              digest = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, image_raw);
              image_hash = g_strndup (digest, 16);
              g_debug ("agent image %s: %" G_GSIZE_FORMAT " bytes, %" G_GSIZE_FORMAT " compressed, hash %s",
                       path, len, g_bytes_get_size (image_gz), image_hash);
            }
        }
    }
  g_mutex_unlock (&lock);

  if (!ok)
    return FALSE;
  if (raw != NULL)
    *raw = g_bytes_ref (image_raw);
  if (compressed != NULL)
    *compressed = g_bytes_ref (image_gz);
  if (xz != NULL)
    *xz = image_xz != NULL ? g_bytes_ref (image_xz) : NULL;
  if (hash != NULL)
    *hash = image_hash;
  return TRUE;
}

/* Any thread. */
char **
mitogen_bootstrap_argv (const char  *shell,
                        const char  *name,
                        gboolean     cache,
                        const char  *local_agent,
                        GError     **error)
{
  g_autoptr(GBytes) script = NULL;
  const char *hash = NULL;
  GPtrArray *argv;

  if (!mitogen_bootstrap_get_image (NULL, NULL, NULL, &hash, error))
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
  g_ptr_array_add (argv, g_strdup (hash));
  if (local_agent != NULL)
    g_ptr_array_add (argv, g_strdup (local_agent));
  g_ptr_array_add (argv, NULL);
  return (char **) g_ptr_array_free (argv, FALSE);
}

static gboolean on_writable (int fd, GIOCondition condition, gpointer user_data);

/* Broker thread: the report line is in; decide what to send. */
static void
handle_report (MitogenBootstrap *self)
{
  g_auto(GStrv) words = g_strsplit (self->report->str, " ", 4);
  g_autoptr(GBytes) raw = NULL, gz = NULL, xz = NULL;
  GError *error = NULL;
  GBytes *image;
  const char *format;
  GByteArray *payload;
  char line[32];

  if (g_strv_length (words) < 2 || g_strcmp0 (words[0], "MITOGEN0") != 0)
    {
      g_autofree char *shown = g_strescape (self->report->str, NULL);
      finish (self, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                 "bootstrap: unexpected output from the target's shell: \"%s\"", shown));
      return;
    }
  if (g_strcmp0 (words[1], "cached") == 0 || g_strcmp0 (words[1], "local") == 0)
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
  if (!mitogen_bootstrap_get_image (&raw, &gz, &xz, NULL, &error))
    {
      finish (self, error);
      return;
    }

  /* Stage 1 lists what it can decode. gzip decodes fastest (a cold start
   * over a fast link); xz is ~25 % smaller (slow links): the transport's
   * bootstrap-format chooses, falling back to what the target has. */
  {
    g_auto(GStrv) offered = g_strsplit (words[1] + strlen ("need-"), ",", -1);
    const char *order[] = { self->preferred, "gz", "xz", "raw" };

    image = raw;
    format = "raw";
    for (guint i = 0; i < G_N_ELEMENTS (order); i++)
      {
        if (order[i] == NULL || !g_strv_contains ((const char * const *) offered, order[i]))
          continue;
        if (g_strcmp0 (order[i], "xz") == 0 && xz != NULL)
          image = xz, format = "xz";
        else if (g_strcmp0 (order[i], "gz") == 0)
          image = gz, format = "gz";
        else if (g_strcmp0 (order[i], "raw") == 0)
          image = raw, format = "raw";
        else
          continue;
        break;
      }
  }
  self->agent_bytes = g_bytes_get_size (image);
  g_snprintf (line, sizeof line, "%" G_GSIZE_FORMAT " %s\n", g_bytes_get_size (image), format);
  payload = g_byte_array_sized_new ((guint) (strlen (line) + g_bytes_get_size (image)));
  g_byte_array_append (payload, (const guint8 *) line, (guint) strlen (line));
  g_byte_array_append (payload, g_bytes_get_data (image, NULL), (guint) g_bytes_get_size (image));
  self->payload = g_byte_array_free_to_bytes (payload);

  self->source = g_unix_fd_source_new (self->write_fd, G_IO_OUT);
  g_source_set_callback (self->source, G_SOURCE_FUNC (on_writable), self, NULL);
  g_source_set_static_name (self->source, "[mitogen] bootstrap write");
  g_source_attach (self->source, self->context);
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
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (self->payload, &len);

  while (self->written < len)
    {
      gssize n = write (fd, data + self->written, len - self->written);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return G_SOURCE_CONTINUE;
      if (n < 0)
        {
          int saved = errno;

          g_clear_pointer (&self->source, g_source_unref);
          finish (self, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                     "bootstrap: sending the agent failed after %" G_GSIZE_FORMAT
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
                         GMainContext         *context,
                         MitogenBootstrapDone  done,
                         gpointer              user_data)
{
  MitogenBootstrap *self = g_new0 (MitogenBootstrap, 1);

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
