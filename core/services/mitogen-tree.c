/* mitogen-tree.c — the two ends of a file or directory-tree transfer
 *
 * Sender: stats the source, announces totals, then walks it depth first
 * (names sorted) sending a "dir" event before a directory's entries,
 * "file", data chunks (bare `ay`) and "end" (SHA-256 of what was read) per
 * regular file,
 * "link" per symbolic link, and "done". It reads one chunk at a time and
 * never has more than `window` cost units unacknowledged.
 *
 * Receiver: resolves the destination like cp(1), creates directories
 * (0700 until the end, then their own mode and mtime, deepest first),
 * writes each file to a temporary name beside its final one while
 * computing its SHA-256, and only if the digest matches the sender's gives
 * it its mode and mtime and renames it into place. Where the filesystem
 * allows (O_TMPFILE), the file is written without a name at all and gets
 * its temporary name only once complete and verified, just before the
 * rename: a receiver killed outright (SIGKILL, its parent gone) leaves no
 * partial file behind; elsewhere a failure removes the temporary file it
 * named, and only a receiver killed outright leaves it. Paths from the sender
 * are untrusted: each must be relative, without "." or ".." components,
 * and every directory on the way is opened with O_NOFOLLOW, so a link the
 * transfer itself made (or found) is never followed.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-transfer"

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mitogen-sha256-private.h"
#include "mitogen-utils-private.h"
#include "mitogen-streaming-private.h"
#include "mitogen-tree-private.h"

#define SHA256_LEN MITOGEN_SHA256_LEN

/* "WHAT PATH: strerror" */
static gboolean
set_errno_error (GError    **error,
                 int         saved_errno,
                 const char *what,
                 const char *path)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
               "%s %s: %s", what, path, g_strerror (saved_errno));
  return FALSE;
}

void
mitogen_tree_summary_clear (MitogenTreeSummary *summary)
{
  g_clear_pointer (&summary->path, g_free);
  g_clear_pointer (&summary->sha256, g_free);
  memset (summary, 0, sizeof *summary);
}

GVariant *
mitogen_tree_summary_to_variant (const MitogenTreeSummary *summary)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "bytes", g_variant_new_uint64 (summary->bytes));
  g_variant_builder_add (&builder, "{sv}", "files", g_variant_new_uint64 (summary->files));
  g_variant_builder_add (&builder, "{sv}", "dirs", g_variant_new_uint64 (summary->dirs));
  g_variant_builder_add (&builder, "{sv}", "links", g_variant_new_uint64 (summary->links));
  g_variant_builder_add (&builder, "{sv}", "skipped", g_variant_new_uint64 (summary->skipped));
  g_variant_builder_add (&builder, "{sv}", "is_dir", g_variant_new_boolean (summary->is_dir));
  if (summary->path != NULL)
    g_variant_builder_add (&builder, "{sv}", "path", g_variant_new_bytestring (summary->path));
  if (summary->sha256 != NULL)
    g_variant_builder_add (&builder, "{sv}", "sha256", g_variant_new_string (summary->sha256));
  return g_variant_builder_end (&builder);
}

void
mitogen_tree_summary_from_variant (MitogenTreeSummary *summary,
                                   GVariant           *value)
{
  const char *text;

  g_variant_lookup (value, "bytes", "t", &summary->bytes);
  g_variant_lookup (value, "files", "t", &summary->files);
  g_variant_lookup (value, "dirs", "t", &summary->dirs);
  g_variant_lookup (value, "links", "t", &summary->links);
  g_variant_lookup (value, "skipped", "t", &summary->skipped);
  g_variant_lookup (value, "is_dir", "b", &summary->is_dir);
  if (g_variant_lookup (value, "path", "^&ay", &text))
    {
      g_free (summary->path);
      summary->path = g_strdup (text);
    }
  if (g_variant_lookup (value, "sha256", "&s", &text))
    {
      g_free (summary->sha256);
      summary->sha256 = g_strdup (text);
    }
}

static char *
hex_digest (const guint8 *digest)
{
  char *text = g_malloc (SHA256_LEN * 2 + 1);

  mitogen_sha256_to_hex (digest, text);
  return text;
}

static GVariant *
bytestring (const char *text)
{
  return g_variant_new_bytestring (text);
}

/* ---------------------------------------------------------------------- */
/* Sender */

typedef struct
{
  const MitogenTreeSenderIO *io;
  gpointer                   io_data;
  MitogenTreeSummary        *summary;
  gsize                      chunk;
  guint64                    window;
  guint64                    sent;
  guint64                    acked;
} Sender;

static gboolean
sender_send (Sender    *s,
             GVariant  *event,
             GError   **error)
{
  guint64 cost;

  g_variant_ref_sink (event);
  cost = mitogen_flow_event_cost (event);
  while (s->sent > s->acked && s->sent - s->acked + cost > s->window)
    {
      guint64 acked = 0;

      if (!s->io->wait_ack (s->io_data, &acked, error))
        {
          g_variant_unref (event);
          return FALSE;
        }
      if (acked > s->acked && acked <= s->sent)
        s->acked = acked;
    }
  s->sent += cost;
  if (!s->io->send (s->io_data, event, error))
    {
      g_variant_unref (event);
      return FALSE;
    }
  g_variant_unref (event);
  return TRUE;
}

static GVariant *
mtime_of (const struct stat *st)
{
  return g_variant_new ("(xu)", (gint64) st->st_mtim.tv_sec, (guint32) st->st_mtim.tv_nsec);
}

/* Counts the regular files and their bytes under the open directory @fd. */
static void
prewalk (int                 fd,
         MitogenTreeSummary *summary)
{
  DIR *dir;
  struct dirent *entry;
  int copy = dup (fd);

  if (copy < 0)
    return;
  dir = fdopendir (copy);
  if (dir == NULL)
    {
      close (copy);
      return;
    }
  /* The copy shares the offset of @fd: start from the beginning. */
  rewinddir (dir);
  while ((entry = readdir (dir)) != NULL)
    {
      struct stat st;

      if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
        continue;
      if (fstatat (fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      if (S_ISREG (st.st_mode))
        {
          summary->files_total++;
          summary->bytes_total += (guint64) st.st_size;
        }
      else if (S_ISDIR (st.st_mode))
        {
          int child = openat (fd, entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

          if (child >= 0)
            {
              prewalk (child, summary);
              close (child);
            }
        }
    }
  closedir (dir);
}

static gboolean
send_file (Sender      *s,
           int          dirfd,
           const char  *name,
           const char  *display,
           const char  *relpath,
           gboolean     nofollow,
           GError     **error)
{
  MitogenSha256 checksum;
  guint8 digest[SHA256_LEN];
  struct stat st;
  int fd;

  fd = openat (dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0));
  if (fd < 0)
    return set_errno_error (error, errno, "Cannot open", display);
  if (fstat (fd, &st) < 0)
    {
      int saved = errno;
      close (fd);
      return set_errno_error (error, saved, "Cannot stat", display);
    }
#ifdef POSIX_FADV_SEQUENTIAL
  posix_fadvise (fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  mitogen_sha256_init (&checksum);

  if (!sender_send (s, mitogen_event_new ("file", g_variant_new ("(@ayu@(xu)t)", bytestring (relpath),
                                                                   (guint32) (st.st_mode & 07777),
                                                                   mtime_of (&st), (guint64) st.st_size)),
                    error))
    {
      mitogen_sha256_clear (&checksum);
      close (fd);
      return FALSE;
    }

  for (;;)
    {
      guint8 *buffer = g_malloc (s->chunk);
      gssize n;

      do
        n = read (fd, buffer, s->chunk);
      while (n < 0 && errno == EINTR);
      if (n < 0)
        {
          int saved = errno;
          g_free (buffer);
          mitogen_sha256_clear (&checksum);
          close (fd);
          return set_errno_error (error, saved, "Cannot read", display);
        }
      if (n == 0)
        {
          g_free (buffer);
          break;
        }
      mitogen_sha256_update (&checksum, buffer, (gsize) n);
      s->summary->bytes += (guint64) n;
      /* Data is a bare `ay` (see mitogen-streaming-private.h). */
      if (!sender_send (s, g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING, buffer, (gsize) n, TRUE, g_free, buffer),
                        error))
        {
          mitogen_sha256_clear (&checksum);
          close (fd);
          return FALSE;
        }
      if (s->io->progress != NULL)
        s->io->progress (s->io_data, s->summary->bytes, s->summary->bytes_total);
    }
  close (fd);

  mitogen_sha256_finish (&checksum, digest);
  if (relpath[0] == '\0')
    s->summary->sha256 = hex_digest (digest);
  s->summary->files++;
  return sender_send (s, mitogen_event_new ("end", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, digest,
                                                                             SHA256_LEN, 1)),
                      error);
}

/* Sends the directory open as @fd (its own "dir" event first), then its
 * entries. Takes @fd. */
static gboolean
send_dir (Sender      *s,
          int          fd,
          const char  *display,
          const char  *relpath,
          GError     **error)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  struct stat st;
  DIR *dir;
  struct dirent *entry;
  int copy;

  if (fstat (fd, &st) < 0)
    {
      int saved = errno;
      close (fd);
      return set_errno_error (error, saved, "Cannot stat", display);
    }
  if (!sender_send (s, mitogen_event_new ("dir", g_variant_new ("(@ayu@(xu))", bytestring (relpath),
                                                                  (guint32) (st.st_mode & 07777), mtime_of (&st))),
                    error))
    {
      close (fd);
      return FALSE;
    }
  s->summary->dirs++;

  copy = dup (fd);
  dir = copy >= 0 ? fdopendir (copy) : NULL;
  if (dir == NULL)
    {
      int saved = errno;
      if (copy >= 0)
        close (copy);
      close (fd);
      return set_errno_error (error, saved, "Cannot read directory", display);
    }
  rewinddir (dir);  /* the copy shares the offset of @fd (prewalk read it) */
  while ((entry = readdir (dir)) != NULL)
    if (strcmp (entry->d_name, ".") != 0 && strcmp (entry->d_name, "..") != 0)
      g_ptr_array_add (names, g_strdup (entry->d_name));
  closedir (dir);
  g_ptr_array_sort (names, mitogen_compare_strings);

  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      g_autofree char *child_rel = relpath[0] != '\0' ? g_strconcat (relpath, "/", name, NULL) : g_strdup (name);
      g_autofree char *child_display = g_strconcat (display, "/", name, NULL);
      gboolean ok = TRUE;

      if (fstatat (fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        {
          if (errno == ENOENT)
            continue;  /* gone meanwhile */
          ok = set_errno_error (error, errno, "Cannot stat", child_display);
        }
      else if (S_ISDIR (st.st_mode))
        {
          int child = openat (fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

          if (child < 0)
            ok = set_errno_error (error, errno, "Cannot open directory", child_display);
          else
            ok = send_dir (s, child, child_display, child_rel, error);
        }
      else if (S_ISREG (st.st_mode))
        ok = send_file (s, fd, name, child_display, child_rel, TRUE, error);
      else if (S_ISLNK (st.st_mode))
        {
          char target[PATH_MAX + 1];
          gssize n = readlinkat (fd, name, target, sizeof target - 1);

          if (n < 0)
            ok = set_errno_error (error, errno, "Cannot read link", child_display);
          else
            {
              target[n] = '\0';
              ok = sender_send (s, mitogen_event_new ("link", g_variant_new ("(@ay@ay@(xu))", bytestring (child_rel),
                                                                              bytestring (target), mtime_of (&st))),
                                error);
              s->summary->links++;
            }
        }
      else
        {
          g_debug ("not copying %s: not a file, directory or link", child_display);
          s->summary->skipped++;
        }
      if (!ok)
        {
          close (fd);
          return FALSE;
        }
    }
  close (fd);
  return TRUE;
}

/* The name a source is copied under: its last component. */
static char *
source_name (const char  *path,
             GError     **error)
{
  g_autofree char *base = g_path_get_basename (path);

  if (g_str_equal (base, ".") || g_str_equal (base, ".."))
    {
      g_autofree char *real = realpath (path, NULL);

      g_free (base);
      base = real != NULL ? g_path_get_basename (real) : g_strdup ("/");
    }
  if (g_str_equal (base, "/") || g_str_equal (base, ".") || g_str_equal (base, ".."))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "Cannot copy %s as a whole: name a directory below it", path);
      return NULL;
    }
  return g_steal_pointer (&base);
}

gboolean
mitogen_tree_send (const char                 *source,
                   gboolean                    recursive,
                   gsize                       chunk,
                   guint64                     window,
                   const MitogenTreeSenderIO  *io,
                   gpointer                    io_data,
                   MitogenTreeSummary         *summary,
                   GError                    **error)
{
  g_autofree char *path = mitogen_streaming_expand_home (source);
  g_autofree char *name = NULL;
  Sender s = { io, io_data, summary, MAX (chunk, 4096), MAX (window, 2 * (guint64) chunk), 0, 0 };
  struct stat st;

  if (stat (path, &st) < 0)
    return set_errno_error (error, errno, "Cannot stat", path);
  summary->is_dir = S_ISDIR (st.st_mode);
  if (summary->is_dir && !recursive)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY,
                   "%s is a directory (copy directories recursively)", path);
      return FALSE;
    }
  if (!summary->is_dir && !S_ISREG (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                   "%s is not a regular file or directory", path);
      return FALSE;
    }
  name = source_name (path, error);
  if (name == NULL)
    return FALSE;

  if (summary->is_dir)
    {
      int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

      if (fd < 0)
        return set_errno_error (error, errno, "Cannot open directory", path);
      prewalk (fd, summary);
      if (!sender_send (&s, mitogen_event_new ("begin", g_variant_new ("(@aybtt)", bytestring (name), TRUE,
                                                                         summary->bytes_total, summary->files_total)),
                        error))
        {
          close (fd);
          return FALSE;
        }
      if (!send_dir (&s, fd, path, "", error))
        return FALSE;
    }
  else
    {
      summary->files_total = 1;
      summary->bytes_total = (guint64) st.st_size;
      if (!sender_send (&s, mitogen_event_new ("begin", g_variant_new ("(@aybtt)", bytestring (name), FALSE,
                                                                         summary->bytes_total, (guint64) 1)),
                        error))
        return FALSE;
      if (io->progress != NULL)
        io->progress (io_data, 0, summary->bytes_total);
      if (!send_file (&s, AT_FDCWD, path, path, "", FALSE, error))
        return FALSE;
    }
  return sender_send (&s, mitogen_event_new ("done", g_variant_new ("(tt)", summary->files, summary->bytes)), error);
}

/* ---------------------------------------------------------------------- */
/* Receiver */

typedef struct
{
  char    *relpath;  /* (owned) */
  guint32  mode;
  gint64   sec;
  guint32  nsec;
} DirAttr;

static void
dir_attr_clear (gpointer data)
{
  DirAttr *attr = data;
  g_free (attr->relpath);
}

typedef struct
{
  const MitogenTreeReceiverIO *io;
  gpointer                     io_data;
  MitogenTreeSummary          *summary;
  guint64                      threshold;
  guint64                      consumed;
  guint64                      acked;

  int                          base_fd;      /* the directory the root is made in */
  char                        *base_path;    /* (owned) */
  char                        *root_name;    /* (owned) */
  GArray                      *dirs;         /* (owned) DirAttr, in creation order */

  char                        *parent_rel;   /* (owned) (nullable) of the cached parent_fd */
  int                          parent_fd;

  /* The file being written. */
  int                          file_fd;
  char                        *file_rel;     /* (owned) its path from the sender */
  char                        *file_temp;    /* (owned) (nullable) its name until renamed; NULL while unnamed */
  char                        *file_display; /* (owned) */
  guint32                      file_mode;
  gint64                       file_sec;
  guint32                      file_nsec;
  MitogenSha256                file_sum;
  gboolean                     file_summing; /* file_sum holds resources */
} Receiver;

static char *
display_path (Receiver   *r,
              const char *relpath)
{
  if (relpath[0] == '\0')
    return g_build_filename (r->base_path, r->root_name, NULL);
  return g_build_filename (r->base_path, r->root_name, relpath, NULL);
}

/* A path from the sender: an `ay` bytestring (its last byte the only
 * NUL). */
static gboolean
get_bytestring (GVariant    *value,
                const char **text,
                GError     **error)
{
  gsize len = 0;
  const char *data = g_variant_get_fixed_array (value, &len, 1);

  if (len == 0 || data[len - 1] != '\0' || memchr (data, '\0', len - 1) != NULL || len > 4097)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "Transfer refused: malformed path from the sender");
      return FALSE;
    }
  *text = data;
  return TRUE;
}

/* A relative path from the sender: components that are not empty, "."
 * or "..". The empty path is the root itself. */
static gboolean
check_relpath (const char  *relpath,
               GError     **error)
{
  g_auto(GStrv) parts = NULL;

  if (relpath[0] == '\0')
    return TRUE;
  if (relpath[0] == '/')
    goto bad;
  parts = g_strsplit (relpath, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (parts[i][0] == '\0' || g_str_equal (parts[i], ".") || g_str_equal (parts[i], ".."))
      goto bad;
  return TRUE;

bad:
  g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "Transfer refused: unsafe path '%.200s' from the sender",
               relpath);
  return FALSE;
}

/* Opens the parent directory of @relpath (never following links) and
 * returns it (owned by @r, valid until the next call), with @leaf its last
 * component. */
static int
open_parent (Receiver    *r,
             const char  *relpath,
             const char **leaf,
             GError     **error)
{
  const char *slash;
  g_autofree char *dir_rel = NULL;
  g_auto(GStrv) parts = NULL;
  int fd;

  if (relpath[0] == '\0')
    {
      *leaf = r->root_name;
      return r->base_fd;
    }
  slash = strrchr (relpath, '/');
  *leaf = slash != NULL ? slash + 1 : relpath;
  dir_rel = slash != NULL ? g_strndup (relpath, slash - relpath) : g_strdup ("");

  if (r->parent_rel != NULL && g_str_equal (r->parent_rel, dir_rel))
    return r->parent_fd;

  fd = openat (r->base_fd, r->root_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      g_autofree char *display = display_path (r, "");
      set_errno_error (error, errno, "Cannot open directory", display);
      return -1;
    }
  if (dir_rel[0] != '\0')
    {
      parts = g_strsplit (dir_rel, "/", -1);
      for (guint i = 0; parts[i] != NULL; i++)
        {
          int next = openat (fd, parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          int saved = errno;

          close (fd);
          if (next < 0)
            {
              g_autofree char *display = display_path (r, dir_rel);
              set_errno_error (error, saved, "Cannot open directory", display);
              return -1;
            }
          fd = next;
        }
    }

  if (r->parent_fd >= 0)
    close (r->parent_fd);
  g_free (r->parent_rel);
  r->parent_fd = fd;
  r->parent_rel = g_steal_pointer (&dir_rel);
  return fd;
}

/* How a file written without a name (O_TMPFILE) is given one:
 * linkat (AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH before Linux 6.10,
 * /proc/self/fd/N needs /proc. Found on the first file, once per process. */
typedef enum
{
  LINK_UNKNOWN,
  LINK_EMPTY_PATH,
  LINK_PROC,
  LINK_NONE,     /* neither: files are written under a temporary name */
} LinkMethod;

static gint link_method;  /* (atomic) LinkMethod */

static gboolean
link_unnamed (int         fd,
              int         dir_fd,
              const char *name,
              LinkMethod  method)
{
  char proc_path[64];

  if (method == LINK_EMPTY_PATH)
    return linkat (fd, "", dir_fd, name, AT_EMPTY_PATH) == 0;
  g_snprintf (proc_path, sizeof proc_path, "/proc/self/fd/%d", fd);
  return linkat (AT_FDCWD, proc_path, dir_fd, name, AT_SYMLINK_FOLLOW) == 0;
}

/* Which way works here, tried with a throwaway unnamed file in @dir_fd. */
static LinkMethod
probe_link_method (int dir_fd)
{
  static const LinkMethod methods[] = { LINK_EMPTY_PATH, LINK_PROC };
  LinkMethod found = LINK_NONE;
  int fd = openat (dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);

  if (fd < 0)
    return LINK_UNKNOWN;  /* this filesystem cannot say */
  for (gsize i = 0; i < G_N_ELEMENTS (methods) && found == LINK_NONE; i++)
    {
      g_autofree char *name = g_strdup_printf (".mitogen-link-probe-%08x", g_random_int ());

      if (link_unnamed (fd, dir_fd, name, methods[i]))
        {
          unlinkat (dir_fd, name, 0);
          found = methods[i];
        }
    }
  close (fd);
  g_debug ("transfer: unnamed files are named through %s",
           found == LINK_EMPTY_PATH ? "linkat (AT_EMPTY_PATH)" : found == LINK_PROC ? "/proc/self/fd" : "nothing: "
           "files are written under a temporary name");
  return found;
}

/* A file to write in @dir_fd with no name (so nothing is left if we are
 * killed), or -1 where that cannot be done (then a named temporary). */
static int
open_unnamed (int dir_fd)
{
  LinkMethod method = (LinkMethod) g_atomic_int_get (&link_method);

  /* (For tests: the named way, as on a filesystem without O_TMPFILE.) */
  if (method == LINK_NONE || g_getenv ("MITOGEN_NO_O_TMPFILE") != NULL)
    return -1;
  if (method == LINK_UNKNOWN)
    {
      method = probe_link_method (dir_fd);
      if (method == LINK_UNKNOWN)
        return -1;
      g_atomic_int_set (&link_method, (gint) method);
      if (method == LINK_NONE)
        return -1;
    }
  return openat (dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
}

static void
abandon_file (Receiver *r)
{
  if (r->file_fd >= 0)
    {
      close (r->file_fd);
      r->file_fd = -1;
    }
  if (r->file_temp != NULL && r->file_rel != NULL)
    {
      const char *leaf;
      int parent = open_parent (r, r->file_rel, &leaf, NULL);

      if (parent >= 0)
        unlinkat (parent, r->file_temp, 0);
    }
  g_clear_pointer (&r->file_temp, g_free);
  g_clear_pointer (&r->file_rel, g_free);
  g_clear_pointer (&r->file_display, g_free);
  if (r->file_summing)
    mitogen_sha256_clear (&r->file_sum);
  r->file_summing = FALSE;
}

static gboolean
resolve_destination (Receiver    *r,
                     const char  *destination,
                     gboolean     target_directory,
                     const char  *name,
                     gboolean     is_dir,
                     GError     **error)
{
  g_autofree char *dest = mitogen_streaming_expand_home (destination);
  struct stat st;
  gboolean exists = stat (dest, &st) == 0;
  gsize len = strlen (dest);

  if (exists && S_ISDIR (st.st_mode))
    {
      r->base_path = g_strdup (dest);
      r->root_name = g_strdup (name);
    }
  else
    {
      if (target_directory || (len > 0 && dest[len - 1] == '/'))
        {
          g_set_error (error, G_IO_ERROR, exists ? G_IO_ERROR_NOT_DIRECTORY : G_IO_ERROR_NOT_FOUND,
                       "%s: %s", dest, exists ? "Not a directory" : "No such directory");
          return FALSE;
        }
      if (exists && is_dir)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY,
                       "Cannot overwrite non-directory %s with a directory", dest);
          return FALSE;
        }
      r->base_path = g_path_get_dirname (dest);
      r->root_name = g_path_get_basename (dest);
      if (g_str_equal (r->root_name, "/") || g_str_equal (r->root_name, ".") || g_str_equal (r->root_name, ".."))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "Cannot copy to %s", dest);
          return FALSE;
        }
    }

  r->base_fd = open (r->base_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (r->base_fd < 0)
    return set_errno_error (error, errno, "Cannot open directory", r->base_path);
  r->summary->path = g_build_filename (r->base_path, r->root_name, NULL);
  return TRUE;
}

static gboolean
receive_dir (Receiver    *r,
             GVariant    *payload,
             GError     **error)
{
  const char *relpath, *leaf;
  guint32 mode, nsec;
  gint64 sec;
  g_autoptr(GVariant) path_value = NULL;
  DirAttr attr;
  struct stat st;
  int parent;

  if (!g_variant_is_of_type (payload, G_VARIANT_TYPE ("(ayu(xu))")))
    goto bad;
  g_variant_get (payload, "(@ayu(xu))", &path_value, &mode, &sec, &nsec);
  if (!get_bytestring (path_value, &relpath, error) || !check_relpath (relpath, error))
    return FALSE;
  parent = open_parent (r, relpath, &leaf, error);
  if (parent < 0)
    return FALSE;

  if (mkdirat (parent, leaf, 0700) < 0)
    {
      int saved = errno;

      if (saved != EEXIST || fstatat (parent, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR (st.st_mode))
        {
          g_autofree char *display = display_path (r, relpath);
          return set_errno_error (error, saved == EEXIST ? ENOTDIR : saved, "Cannot create directory", display);
        }
    }
  attr.relpath = g_strdup (relpath);
  attr.mode = mode & 07777;
  attr.sec = sec;
  attr.nsec = nsec;
  g_array_append_val (r->dirs, attr);
  r->summary->dirs++;
  return TRUE;

bad:
  g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "Transfer: malformed dir event");
  return FALSE;
}

static gboolean
receive_file (Receiver  *r,
              GVariant  *payload,
              GError   **error)
{
  const char *relpath, *leaf;
  guint64 size;
  g_autoptr(GVariant) path_value = NULL;
  int parent;

  if (!g_variant_is_of_type (payload, G_VARIANT_TYPE ("(ayu(xu)t)")))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "Transfer: malformed file event");
      return FALSE;
    }
  if (r->file_fd >= 0)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "Transfer: file event inside a file");
      return FALSE;
    }
  g_variant_get (payload, "(@ayu(xu)t)", &path_value, &r->file_mode, &r->file_sec, &r->file_nsec, &size);
  r->file_mode &= 07777;
  if (!get_bytestring (path_value, &relpath, error) || !check_relpath (relpath, error))
    return FALSE;
  parent = open_parent (r, relpath, &leaf, error);
  if (parent < 0)
    return FALSE;

  r->file_fd = open_unnamed (parent);
  for (int attempt = 0; attempt < 100 && r->file_fd < 0; attempt++)
    {
      g_free (r->file_temp);
      r->file_temp = g_strdup_printf (".%.200s.mitogen-%08x", leaf, g_random_int ());
      r->file_fd = openat (parent, r->file_temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (r->file_fd < 0 && errno != EEXIST)
        break;
    }
  r->file_display = display_path (r, relpath);
  if (r->file_fd < 0)
    {
      int saved = errno;
      g_clear_pointer (&r->file_temp, g_free);
      return set_errno_error (error, saved, "Cannot create", r->file_display);
    }
  r->file_rel = g_strdup (relpath);
  mitogen_sha256_init (&r->file_sum);
  r->file_summing = TRUE;
  return TRUE;
}

static gboolean
receive_data (Receiver  *r,
              GVariant  *payload,
              GError   **error)
{
  gsize len = 0;
  const guint8 *data;

  if (r->file_fd < 0 || !g_variant_is_of_type (payload, G_VARIANT_TYPE_BYTESTRING))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "Transfer: data outside a file");
      return FALSE;
    }
  data = g_variant_get_fixed_array (payload, &len, 1);
  mitogen_sha256_update (&r->file_sum, data, len);
  while (len > 0)
    {
      gssize n = write (r->file_fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return set_errno_error (error, errno, "Cannot write", r->file_display);
      data += n;
      len -= (gsize) n;
      r->summary->bytes += (guint64) n;
    }
  if (r->io->progress != NULL)
    r->io->progress (r->io_data, r->summary->bytes, r->summary->bytes_total);
  return TRUE;
}

static gboolean
receive_end (Receiver  *r,
             GVariant  *payload,
             GError   **error)
{
  guint8 digest[SHA256_LEN];
  gsize sent_len = 0;
  const guint8 *sent;
  struct timespec times[2];
  const char *leaf;
  int parent;

  if (r->file_fd < 0 || !g_variant_is_of_type (payload, G_VARIANT_TYPE_BYTESTRING))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "Transfer: end outside a file");
      return FALSE;
    }
  sent = g_variant_get_fixed_array (payload, &sent_len, 1);
  mitogen_sha256_finish (&r->file_sum, digest);
  r->file_summing = FALSE;
  if (sent_len != SHA256_LEN || memcmp (sent, digest, SHA256_LEN) != 0)
    {
      g_autofree char *ours = hex_digest (digest);
      g_autofree char *theirs = sent_len == SHA256_LEN ? hex_digest (sent) : g_strdup ("(none)");

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "Integrity check failed for %s: SHA-256 %s written, %s sent",
                   r->file_display, ours, theirs);
      return FALSE;
    }

  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;
  times[1].tv_sec = r->file_sec;
  times[1].tv_nsec = r->file_nsec < 1000000000u ? r->file_nsec : 0;
  if (fchmod (r->file_fd, r->file_mode) < 0)
    return set_errno_error (error, errno, "Cannot set the mode of", r->file_display);
  if (futimens (r->file_fd, times) < 0)
    return set_errno_error (error, errno, "Cannot set the time of", r->file_display);
  parent = open_parent (r, r->file_rel, &leaf, error);
  if (parent < 0)
    return FALSE;
  if (r->file_temp == NULL)
    {
      /* Complete and verified: a name now, for the rename. */
      LinkMethod method = (LinkMethod) g_atomic_int_get (&link_method);
      int saved = EEXIST;

      for (int attempt = 0; attempt < 100 && saved == EEXIST; attempt++)
        {
          r->file_temp = g_strdup_printf (".%.200s.mitogen-%08x", leaf, g_random_int ());
          saved = link_unnamed (r->file_fd, parent, r->file_temp, method) ? 0 : errno;
          if (saved != 0)
            g_clear_pointer (&r->file_temp, g_free);
        }
      if (saved != 0)
        return set_errno_error (error, saved, "Cannot create", r->file_display);
    }
  if (close (r->file_fd) < 0)
    {
      r->file_fd = -1;
      return set_errno_error (error, errno, "Cannot write", r->file_display);
    }
  r->file_fd = -1;

  if (renameat (parent, r->file_temp, parent, leaf) < 0)
    return set_errno_error (error, errno, "Cannot replace", r->file_display);
  if (r->file_rel[0] == '\0')
    r->summary->sha256 = hex_digest (digest);

  g_clear_pointer (&r->file_temp, g_free);
  g_clear_pointer (&r->file_rel, g_free);
  g_clear_pointer (&r->file_display, g_free);
  r->summary->files++;
  return TRUE;
}

static gboolean
receive_link (Receiver  *r,
              GVariant  *payload,
              GError   **error)
{
  g_autoptr(GVariant) path_value = NULL;
  g_autoptr(GVariant) target_value = NULL;
  const char *relpath, *target, *leaf;
  gint64 sec;
  guint32 nsec;
  struct timespec times[2];
  struct stat st;
  int parent;

  if (!g_variant_is_of_type (payload, G_VARIANT_TYPE ("(ayay(xu))")))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "Transfer: malformed link event");
      return FALSE;
    }
  g_variant_get (payload, "(@ay@ay(xu))", &path_value, &target_value, &sec, &nsec);
  if (!get_bytestring (path_value, &relpath, error) || !check_relpath (relpath, error) ||
      !get_bytestring (target_value, &target, error))
    return FALSE;
  if (relpath[0] == '\0' || target[0] == '\0')
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "Transfer: malformed link event");
      return FALSE;
    }
  parent = open_parent (r, relpath, &leaf, error);
  if (parent < 0)
    return FALSE;

  if (fstatat (parent, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      g_autofree char *display = display_path (r, relpath);

      if (S_ISDIR (st.st_mode))
        return set_errno_error (error, EISDIR, "Cannot replace with a link: directory", display);
      if (unlinkat (parent, leaf, 0) < 0)
        return set_errno_error (error, errno, "Cannot replace", display);
    }
  if (symlinkat (target, parent, leaf) < 0)
    {
      g_autofree char *display = display_path (r, relpath);
      return set_errno_error (error, errno, "Cannot create link", display);
    }
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;
  times[1].tv_sec = sec;
  times[1].tv_nsec = nsec < 1000000000u ? nsec : 0;
  utimensat (parent, leaf, times, AT_SYMLINK_NOFOLLOW);
  r->summary->links++;
  return TRUE;
}

/* Deepest first: a directory's mode may forbid writing in it, and
 * writing in it changes its mtime. */
static gboolean
finish_dirs (Receiver  *r,
             GError   **error)
{
  for (guint i = r->dirs->len; i > 0; i--)
    {
      DirAttr *attr = &g_array_index (r->dirs, DirAttr, i - 1);
      g_autofree char *display = display_path (r, attr->relpath);
      struct timespec times[2];
      const char *leaf;
      int parent = open_parent (r, attr->relpath, &leaf, error);
      int fd;

      if (parent < 0)
        return FALSE;
      fd = openat (parent, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        return set_errno_error (error, errno, "Cannot open directory", display);
      times[0].tv_sec = 0;
      times[0].tv_nsec = UTIME_OMIT;
      times[1].tv_sec = attr->sec;
      times[1].tv_nsec = attr->nsec < 1000000000u ? attr->nsec : 0;
      if (fchmod (fd, attr->mode) < 0 || futimens (fd, times) < 0)
        {
          int saved = errno;
          close (fd);
          return set_errno_error (error, saved, "Cannot set the mode and time of", display);
        }
      close (fd);
    }
  return TRUE;
}

static gboolean
receiver_ack (Receiver  *r,
              gboolean   force,
              GError   **error)
{
  guint64 pending = r->consumed - r->acked;

  if (pending == 0 || (!force && pending < r->threshold))
    return TRUE;
  r->acked = r->consumed;
  return r->io->ack (r->io_data, r->consumed, error);
}

gboolean
mitogen_tree_receive (const char                  *destination,
                      gboolean                     target_directory,
                      guint64                      window,
                      const MitogenTreeReceiverIO *io,
                      gpointer                     io_data,
                      MitogenTreeSummary          *summary,
                      GError                     **error)
{
  Receiver r = { 0 };
  gboolean begun = FALSE, ok = FALSE;

  r.io = io;
  r.io_data = io_data;
  r.summary = summary;
  r.threshold = MAX (window / 4, 1);
  r.base_fd = -1;
  r.parent_fd = -1;
  r.file_fd = -1;
  r.dirs = g_array_new (FALSE, FALSE, sizeof (DirAttr));
  g_array_set_clear_func (r.dirs, dir_attr_clear);

  for (;;)
    {
      g_autoptr(GVariant) event = NULL;
      g_autoptr(GVariant) payload = NULL;
      const char *kind;
      gboolean handled;

      /* Never wait with anything unacknowledged: the sender may be
       * waiting for exactly that. */
      if (io->idle (io_data) && !receiver_ack (&r, TRUE, error))
        break;
      event = io->next (io_data, error);
      if (event == NULL)
        break;
      if (begun && g_variant_is_of_type (event, G_VARIANT_TYPE_BYTESTRING))
        {
          if (!receive_data (&r, event, error))
            break;
          r.consumed += mitogen_flow_event_cost (event);
          if (!receiver_ack (&r, FALSE, error))
            break;
          continue;
        }
      if (!mitogen_event_parse (event, &kind, &payload))
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "Transfer: unexpected value of type %s",
                       g_variant_get_type_string (event));
          break;
        }

      if (!begun)
        {
          const char *name;
          gboolean is_dir;
          g_autoptr(GVariant) name_value = NULL;

          if (!g_str_equal (kind, "begin") || !g_variant_is_of_type (payload, G_VARIANT_TYPE ("(aybtt)")))
            {
              g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "Transfer: expected begin, got %s", kind);
              break;
            }
          g_variant_get (payload, "(@aybtt)", &name_value, &is_dir, &summary->bytes_total, &summary->files_total);
          if (!get_bytestring (name_value, &name, error))
            break;
          if (name[0] == '\0' || strchr (name, '/') != NULL || g_str_equal (name, ".") || g_str_equal (name, ".."))
            {
              g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "Transfer refused: unsafe name from the sender");
              break;
            }
          summary->is_dir = is_dir;
          if (!resolve_destination (&r, destination, target_directory, name, is_dir, error))
            break;
          begun = TRUE;
          if (io->progress != NULL)
            io->progress (io_data, 0, summary->bytes_total);
          handled = TRUE;
        }
      else if (g_str_equal (kind, "file"))
        handled = receive_file (&r, payload, error);
      else if (g_str_equal (kind, "end"))
        handled = receive_end (&r, payload, error);
      else if (g_str_equal (kind, "dir"))
        handled = receive_dir (&r, payload, error);
      else if (g_str_equal (kind, "link"))
        handled = receive_link (&r, payload, error);
      else if (g_str_equal (kind, "done"))
        {
          if (r.file_fd >= 0)
            {
              g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "Transfer: done inside a file");
              break;
            }
          ok = finish_dirs (&r, error);
          break;
        }
      else
        {
          g_debug ("transfer: ignoring event '%s'", kind);
          handled = TRUE;
        }
      if (!handled)
        break;
      r.consumed += mitogen_flow_event_cost (event);
      if (!receiver_ack (&r, FALSE, error))
        break;
    }

  /* No final acknowledgement: the sender sent "done" and waits for none. */
  if (!ok)
    abandon_file (&r);
  if (r.parent_fd >= 0)
    close (r.parent_fd);
  if (r.base_fd >= 0)
    close (r.base_fd);
  g_free (r.parent_rel);
  g_free (r.base_path);
  g_free (r.root_name);
  g_array_unref (r.dirs);
  return ok;
}
