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
 * The images' bytes (raw, and the .gz/.xz the build writes next to each)
 * are read on the first connect that needs that CPU; their hashes, which
 * stage 1 needs before it reports (to find a cached agent), come from the
 * `.sha256` files the build writes, or are computed once.
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

/* With @lock held: reads @image's bytes and its compressed forms. */
static gboolean
load (MitogenStockImage  *image,
      GError            **error)
{
  const char *path = image->path != NULL ? image->path : "(self)";
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
      g_autofree char *digest = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, image->raw);

      image->hash = g_strndup (digest, 16);
    }

  /* The build compresses the agent next to it (mitogen-agent.gz); use
   * that only if it is whole and of this very image: gzip's trailer ends
   * with the uncompressed size. xz is optional (smaller: targets with XZ
   * Utils), used only if whole (an xz stream ends in "YZ"). */
  if (image->path != NULL)
    {
      g_autofree char *gz_path = g_strconcat (image->path, ".gz", NULL);
      g_autofree char *xz_path = g_strconcat (image->path, ".xz", NULL);
      char *gz_data = NULL, *xz_data = NULL;
      gsize gz_len = 0, xz_len = 0;

      if (sibling_is_fresh (image->path, gz_path) && g_file_get_contents (gz_path, &gz_data, &gz_len, NULL) &&
          gzip_matches ((const guint8 *) gz_data, gz_len, len))
        image->gz = g_bytes_new_take (g_steal_pointer (&gz_data), gz_len);
      g_free (gz_data);
      if (image->gz != NULL && sibling_is_fresh (image->path, xz_path) &&
          g_file_get_contents (xz_path, &xz_data, &xz_len, NULL) &&
          xz_len > 12 && xz_data[xz_len - 2] == 'Y' && xz_data[xz_len - 1] == 'Z')
        image->xz = g_bytes_new_take (g_steal_pointer (&xz_data), xz_len);
      g_free (xz_data);
    }
  if (image->gz == NULL)
    {
      image->gz = mitogen_bootstrap_gzip (image->raw, error);
      if (image->gz == NULL)
        {
          g_clear_pointer (&image->raw, g_bytes_unref);
          return FALSE;
        }
    }
  g_debug ("agent image %s (%s): %" G_GSIZE_FORMAT " bytes, %" G_GSIZE_FORMAT " gz, hash %s",
           path, image->arch != NULL ? image->arch : "?", len, g_bytes_get_size (image->gz), image->hash);
  return TRUE;
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

      if (image->hash == NULL && !load (image, error))
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

gboolean
mitogen_stock_image_get (const char  *machine,
                         GBytes     **raw,
                         GBytes     **gz,
                         GBytes     **xz,
                         GError     **error)
{
  MitogenStockImage *image;
  gboolean ok;

  if (!mitogen_stock_image_check (machine, error))
    return FALSE;
  g_mutex_lock (&lock);
  image = image_for (machine);
  ok = load (image, error);
  if (ok)
    {
      if (raw != NULL)
        *raw = g_bytes_ref (image->raw);
      if (gz != NULL)
        *gz = g_bytes_ref (image->gz);
      if (xz != NULL)
        *xz = image->xz != NULL ? g_bytes_ref (image->xz) : NULL;
    }
  g_mutex_unlock (&lock);
  return ok;
}
