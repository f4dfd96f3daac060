/* mitogen-stock-image.c — the stock agents a master can ship, one per CPU
 *
 * The build makes the static stock agent for the build machine
 * (`mitogen-agent`) and, with -Dagent_archs, for other CPUs
 * (`mitogen-agent-arm64`, `mitogen-agent-s390x`, ...: agent/meson.build),
 * all in one directory. On first use a master looks there, reads each
 * file's ELF header for its CPU, and keeps one image per CPU family. The
 * target's `uname -m` (stage 1's report) picks the one shipped; a CPU
 * with no image is an error naming the ones there are.
 *
 * An agent that starts children (via) ships itself: its one image is its
 * own file, read through the descriptor it kept open when it unlinked it.
 *
 * The images' bytes (raw, or the .gz/.zst/.xz the build writes next to
 * each) are read on the first connect that ships that CPU's agent in that
 * format, only that format (reading megabytes on the broker thread stalls
 * it); their hashes, which stage 1 needs before it reports (to find a
 * cached agent), come from the `.sha256` files the build writes, or are
 * computed once.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-bootstrap"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mitogen-bootstrap-private.h"
#include "mitogen-closure-private.h"
#include "mitogen-plugins-private.h"
#include "mitogen-sha256-private.h"
#include "mitogen-stock-image-private.h"
#include "mitogen-utils-private.h"

typedef struct
{
  char   *path;   /* (owned) (nullable) NULL: our own image (self_image_fd) */
  char   *arch;   /* (owned) (nullable) as mitogen_elf_inspect () names it; NULL: unknown */
  char   *hash;   /* (owned) (nullable) 16 hex digits, once known */
  GBytes *raw;    /* (owned) (nullable) loaded on first need */
  GBytes *gz;     /* (owned) (nullable) */
  GBytes *xz;     /* (owned) (nullable) */
  GBytes *zst;    /* (owned) (nullable) */
  gboolean xz_tried, zst_tried;  /* the build's file was looked for */
} MitogenStockImage;

static GMutex lock;              /* guards everything below */
static GPtrArray *images;        /* (element-type MitogenStockImage) first: the primary image */
static int self_image_fd = -1;
static char *self_image_arch;    /* (owned) (nullable) */

void
mitogen_bootstrap_set_self_image (int         fd,
                                  const char *path)
{
  g_autoptr(GError) error = NULL;

  g_mutex_lock (&lock);
  self_image_fd = fd;
  g_clear_pointer (&self_image_arch, g_free);
  if (!mitogen_elf_inspect (path, &self_image_arch, NULL, &error))
    g_debug ("our own image's architecture is unknown: %s", error->message);
  g_mutex_unlock (&lock);
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

/* Whether @zst is a zstd frame of @raw_len bytes (its header's
 * Frame_Content_Size, which the zstd program writes for a file). */
static gboolean
zstd_matches (const guint8 *zst,
              gsize         zst_len,
              gsize         raw_len)
{
  static const guint8 magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };
  static const guint8 dict_id_bytes[4] = { 0, 1, 2, 4 };
  guint8 fhd;
  guint fcs_bytes;
  gsize at;
  guint64 size = 0;

  if (zst_len < 12 || memcmp (zst, magic, 4) != 0)
    return FALSE;
  fhd = zst[4];
  /* Frame_Content_Size_Flag, Single_Segment_Flag, Dictionary_ID_Flag. */
  fcs_bytes = (fhd >> 6) == 0 ? ((fhd >> 5) & 1) : (1u << (fhd >> 6));
  at = 5 + (((fhd >> 5) & 1) ? 0 : 1) + dict_id_bytes[fhd & 3];
  if (fcs_bytes == 0 || at + fcs_bytes > zst_len)
    return FALSE;
  for (guint i = 0; i < fcs_bytes; i++)
    size |= (guint64) zst[at + i] << (8 * i);
  if (fcs_bytes == 2)
    size += 256;
  return size == (guint64) raw_len;
}

/* Whether @sibling (a file next to @path, e.g. its .gz) was written after
 * @path: a stale sibling of an older build is never used. */
static gboolean
sibling_is_fresh (const char *path,
                  const char *sibling)
{
  struct stat st_path, st_sibling;

  return stat (path, &st_path) == 0 && stat (sibling, &st_sibling) == 0 &&
         st_sibling.st_mtime >= st_path.st_mtime;
}

/* The build writes each image's SHA-256 next to it: hashing megabytes on
 * a first connect would stall the broker thread. (transfer full) */
static char *
hash_from_sibling (const char *path)
{
  g_autofree char *hash_path = g_strconcat (path, ".sha256", NULL);
  g_autofree char *digest = NULL;

  if (!sibling_is_fresh (path, hash_path) || !g_file_get_contents (hash_path, &digest, NULL, NULL))
    return NULL;
  g_strstrip (digest);
  if (strlen (digest) != 64 || strspn (digest, "0123456789abcdef") != 64)
    return NULL;
  return g_strndup (digest, 16);
}

static MitogenStockImage *
image_new (const char *path,
           const char *arch)
{
  MitogenStockImage *image = g_new0 (MitogenStockImage, 1);

  image->path = g_strdup (path);
  image->arch = g_strdup (arch);
  if (path != NULL)
    image->hash = hash_from_sibling (path);
  return image;
}

static gboolean
has_family (const char *arch)
{
  for (guint i = 0; i < images->len; i++)
    {
      const MitogenStockImage *image = g_ptr_array_index (images, i);

      if (image->arch != NULL && mitogen_arch_matches (image->arch, arch))
        return TRUE;
    }
  return FALSE;
}

/* With @lock held: the primary image, then the other CPUs' next to it,
 * named `mitogen-agent-SUFFIX` (not .gz/.xz/.sha256, not the dynamic
 * agent), each a static ELF program of a CPU not seen yet. */
static void
discover (void)
{
  const char *primary;
  g_autofree char *primary_arch = NULL;
  g_autofree char *dir_name = NULL, *base = NULL, *prefix = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) names = NULL;
  GDir *dir;

  images = g_ptr_array_new ();
  if (self_image_fd >= 0)
    {
      g_ptr_array_add (images, image_new (NULL, self_image_arch));
      return;
    }
  primary = mitogen_agent_path ();
  if (primary == NULL)
    return;
  if (!mitogen_elf_inspect (primary, &primary_arch, NULL, &error))
    g_debug ("the agent's architecture is unknown: %s", error->message);
  g_ptr_array_add (images, image_new (primary, primary_arch));

  dir_name = g_path_get_dirname (primary);
  base = g_path_get_basename (primary);
  prefix = g_strconcat (base, "-", NULL);
  dir = g_dir_open (dir_name, 0, NULL);
  if (dir == NULL)
    return;
  names = g_ptr_array_new_with_free_func (g_free);
  for (const char *name; (name = g_dir_read_name (dir)) != NULL;)
    if (g_str_has_prefix (name, prefix) && !g_str_has_suffix (name, ".gz") && !g_str_has_suffix (name, ".xz") &&
        !g_str_has_suffix (name, ".sha256") && strcmp (name + strlen (prefix), "dynamic") != 0 &&
        strchr (name + strlen (prefix), '.') == NULL)
      g_ptr_array_add (names, g_strdup (name));
  g_dir_close (dir);
  /* Sorted: which file wins a CPU does not depend on the directory. */
  g_ptr_array_sort (names, mitogen_compare_strings);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_build_filename (dir_name, g_ptr_array_index (names, i), NULL);
      g_autofree char *arch = NULL, *interp = NULL;
      g_autoptr(GError) local_error = NULL;

      if (!g_file_test (path, G_FILE_TEST_IS_REGULAR) ||
          !mitogen_elf_inspect (path, &arch, &interp, &local_error))
        {
          g_debug ("%s is not an agent: %s", path, local_error != NULL ? local_error->message : "not a file");
          continue;
        }
      /* A dynamic program needs libraries the target lacks. */
      if (interp != NULL || arch == NULL || has_family (arch))
        continue;
      g_ptr_array_add (images, image_new (path, arch));
    }
}

/* With @lock held. */
static GPtrArray *
get_images (void)
{
  if (images == NULL)
    discover ();
  return images;
}

/* With @lock held: @image's size in bytes (for the compressed files'
 * checks), or 0 when unknown. */
static gsize
image_size (const MitogenStockImage *image)
{
  struct stat st;

  if (image->raw != NULL)
    return g_bytes_get_size (image->raw);
  if (image->path != NULL ? stat (image->path, &st) != 0 : fstat (self_image_fd, &st) != 0)
    return 0;
  return (gsize) st.st_size;
}

/* With @lock held: reads @image's bytes (and its hash, if the build wrote
 * none). */
static gboolean
load_raw (MitogenStockImage  *image,
          GError            **error)
{
  char *data = NULL;
  gsize len = 0;

  if (image->raw != NULL)
    return TRUE;
  if (image->path == NULL ? !read_self_image (&data, &len, error)
                          : !g_file_get_contents (image->path, &data, &len, error))
    {
      g_prefix_error (error, "bootstrap: cannot read the agent image: ");
      return FALSE;
    }
  image->raw = g_bytes_new_take (data, len);
  if (image->hash == NULL)
    {
      g_autofree char *digest = mitogen_sha256_hex_of_bytes (image->raw);

      image->hash = g_strndup (digest, 16);
    }
  g_debug ("agent image %s (%s): %" G_GSIZE_FORMAT " bytes, hash %s",
           image->path != NULL ? image->path : "(self)", image->arch != NULL ? image->arch : "?",
           len, image->hash);
  return TRUE;
}

/* With @lock held: the build's compressed copy of @image, @suffix next to
 * it (written after it), if @whole says it is one of this very image.
 * (transfer full) (nullable) */
static GBytes *
read_sibling (const MitogenStockImage *image,
              const char              *suffix,
              gboolean               (*whole) (const guint8 *data, gsize len, gsize raw_len))
{
  g_autofree char *path = NULL;
  char *data = NULL;
  gsize len = 0, raw_len;

  if (image->path == NULL)
    return NULL;
  path = g_strconcat (image->path, suffix, NULL);
  raw_len = image_size (image);
  if (raw_len == 0 || !sibling_is_fresh (image->path, path) || !g_file_get_contents (path, &data, &len, NULL))
    return NULL;
  if (!whole ((const guint8 *) data, len, raw_len))
    {
      g_debug ("%s is not a whole compressed copy of %s: not used", path, image->path);
      g_free (data);
      return NULL;
    }
  g_debug ("agent image %s: %" G_GSIZE_FORMAT " bytes", path, len);
  return g_bytes_new_take (data, len);
}

/* An xz stream ends in "YZ" (its size is not in it). */
static gboolean
xz_whole (const guint8 *xz,
          gsize         xz_len,
          gsize         raw_len)
{
  return xz_len > 12 && xz[xz_len - 2] == 'Y' && xz[xz_len - 1] == 'Z';
}

/* With @lock held: @image in @format, or NULL if it has no such copy
 * (xz, zst: the build made none) or reading it failed (@error set).
 * (transfer none) */
static GBytes *
load_format (MitogenStockImage  *image,
             const char         *format,
             GError            **error)
{
  if (strcmp (format, "raw") == 0)
    return load_raw (image, error) ? image->raw : NULL;
  if (strcmp (format, "gz") == 0)
    {
      /* The build's .gz (gzip's trailer ends with the uncompressed size),
       * or zlib here. */
      if (image->gz == NULL)
        image->gz = read_sibling (image, ".gz", gzip_matches);
      if (image->gz == NULL && load_raw (image, error))
        image->gz = mitogen_bootstrap_gzip (image->raw, error);
      return image->gz;
    }
  if (strcmp (format, "xz") == 0)
    {
      if (!image->xz_tried)
        image->xz = read_sibling (image, ".xz", xz_whole);
      image->xz_tried = TRUE;
      return image->xz;
    }
  if (strcmp (format, "zst") == 0)
    {
      if (!image->zst_tried)
        image->zst = read_sibling (image, ".zst", zstd_matches);
      image->zst_tried = TRUE;
      return image->zst;
    }
  return NULL;
}

/* With @lock held: every image's hash, computing the ones the build did
 * not write. */
static gboolean
ensure_hashes (GError **error)
{
  GPtrArray *all = get_images ();

  if (all->len == 0)
    {
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                           "bootstrap: cannot read the agent image: no agent program is known");
      return FALSE;
    }
  for (guint i = 0; i < all->len; i++)
    {
      MitogenStockImage *image = g_ptr_array_index (all, i);

      if (image->hash == NULL && !load_raw (image, error))
        return FALSE;
    }
  return TRUE;
}

/* The CPUs the build makes agents for: the name mitogen_elf_inspect ()
 * gives, Debian's (-Dagent_archs, for the hint in an error), and the
 * `uname -m` spellings as shell patterns for stage 1's `case`: a subset
 * of what mitogen_arch_matches () accepts, so a cached agent stage 1
 * picks is one the master accepts. */
static const struct
{
  const char *elf;
  const char *debian;
  const char *patterns;
} known_cpus[] = {
  { "x86_64",  "amd64",   "x86_64 amd64" },
  { "i686",    "i386",    "i[3-6]86 x86" },
  { "aarch64", "arm64",   "aarch64 arm64" },
  { "armv7l",  "armhf",   "armv[5-9]*l arm armhf" },
  { "ppc64le", "ppc64el", "ppc64le" },
  { "s390x",   "s390x",   "s390x" },
};

static const char *
uname_patterns (const char *arch)
{
  for (gsize i = 0; i < G_N_ELEMENTS (known_cpus); i++)
    if (strcmp (arch, known_cpus[i].elf) == 0)
      return known_cpus[i].patterns;
  return NULL;
}

char *
mitogen_stock_image_hash_argument (GError **error)
{
  GString *out;
  GPtrArray *all;

  g_mutex_lock (&lock);
  if (!ensure_hashes (error))
    {
      g_mutex_unlock (&lock);
      return NULL;
    }
  all = get_images ();
  out = g_string_new (NULL);
  /* One image: its hash alone, whatever the target (stage 1 then needs
   * no uname; the report's check still refuses a foreign CPU). */
  if (all->len == 1)
    g_string_append (out, ((MitogenStockImage *) g_ptr_array_index (all, 0))->hash);
  else
    for (guint i = 0; i < all->len; i++)
      {
        const MitogenStockImage *image = g_ptr_array_index (all, i);
        const char *patterns = image->arch != NULL ? uname_patterns (image->arch) : NULL;
        g_auto(GStrv) each = g_strsplit (patterns != NULL ? patterns : (image->arch != NULL ? image->arch : ""), " ", -1);

        for (guint j = 0; each[j] != NULL; j++)
          if (each[j][0] != '\0')
            g_string_append_printf (out, "%s%s=%s", out->len > 0 ? " " : "", each[j], image->hash);
      }
  g_mutex_unlock (&lock);
  return g_string_free (out, FALSE);
}

/* With @lock held. (transfer none) (nullable) */
static MitogenStockImage *
image_for (const char *machine)
{
  GPtrArray *all = get_images ();

  if (all->len == 0)
    return NULL;
  /* Unknown on either side: the primary, and the target's exec tells. */
  if (machine == NULL || strcmp (machine, "?") == 0)
    return g_ptr_array_index (all, 0);
  for (guint i = 0; i < all->len; i++)
    {
      MitogenStockImage *image = g_ptr_array_index (all, i);

      if (image->arch == NULL || mitogen_arch_matches (image->arch, machine))
        return image;
    }
  return NULL;
}

/* Debian's name for @machine's CPU family, for the hint in the error. */
static const char *
debian_arch (const char *machine)
{
  for (gsize i = 0; i < G_N_ELEMENTS (known_cpus); i++)
    if (mitogen_arch_matches (known_cpus[i].elf, machine))
      return known_cpus[i].debian;
  return NULL;
}

gboolean
mitogen_stock_image_check (const char  *machine,
                           GError     **error)
{
  g_autoptr(GString) available = NULL;
  g_autofree char *shown = NULL;
  const char *hint;
  GPtrArray *all;

  g_mutex_lock (&lock);
  if (image_for (machine) != NULL)
    {
      g_mutex_unlock (&lock);
      return TRUE;
    }
  all = get_images ();
  available = g_string_new (NULL);
  for (guint i = 0; i < all->len; i++)
    {
      const MitogenStockImage *image = g_ptr_array_index (all, i);

      g_string_append_printf (available, "%s%s", i > 0 ? ", " : "", image->arch != NULL ? image->arch : "?");
    }
  g_mutex_unlock (&lock);

  shown = g_strescape (machine, NULL);
  hint = debian_arch (machine);
  if (all->len == 1)
    g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                 "bootstrap: target is %s, agent is %s: a program of another architecture cannot run there%s%s%s",
                 shown, available->str, hint != NULL ? " (build with -Dagent_archs=" : "",
                 hint != NULL ? hint : "", hint != NULL ? ")" : "");
  else
    g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                 "bootstrap: target is %s and there is no agent for it (agents: %s)%s%s",
                 shown, available->str, hint != NULL ? "; build with -Dagent_archs=" : "",
                 hint != NULL ? hint : "");
  return FALSE;
}

GBytes *
mitogen_stock_image_get (const char          *machine,
                         const char * const  *formats,
                         gsize                n_formats,
                         const char         **format,
                         GError             **error)
{
  static const char * const names[] = { "zst", "xz", "gz", "raw" };
  MitogenStockImage *image;
  GBytes *bytes = NULL;

  if (!mitogen_stock_image_check (machine, error))
    return NULL;
  g_mutex_lock (&lock);
  image = image_for (machine);
  for (gsize i = 0; i < n_formats && bytes == NULL; i++)
    for (gsize j = 0; j < G_N_ELEMENTS (names) && bytes == NULL; j++)
      if (formats[i] != NULL && strcmp (formats[i], names[j]) == 0)
        {
          GError *local_error = NULL;

          bytes = load_format (image, names[j], &local_error);
          if (local_error != NULL)
            {
              g_mutex_unlock (&lock);
              g_propagate_error (error, local_error);
              return NULL;
            }
          if (bytes != NULL)
            {
              *format = names[j];
              g_bytes_ref (bytes);
            }
        }
  g_mutex_unlock (&lock);
  if (bytes == NULL)
    g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                         "bootstrap: the target decodes none of the formats the agent is available in");
  return bytes;
}
