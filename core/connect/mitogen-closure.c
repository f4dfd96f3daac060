/* mitogen-closure.c — the files a dynamically linked program needs
 *
 * The closure of this process's program is what the loader mapped: the
 * program (checked against the program headers the loader holds, so a
 * wrong path is an error, not a wrong closure), every shared object
 * dl_iterate_phdr () lists, and the ELF interpreter. The interpreter is
 * found by its load address (AT_BASE), or, when the process was started
 * as `ld.so PROG` (no AT_BASE), by its soname; PT_INTERP names it on the
 * target. Without /proc the program is found by AT_EXECFN, which glibc's
 * loader also sets to PROG when started as `ld.so PROG`.
 *
 * ELF files are read with every offset and size checked against the
 * file: the headers of a file we are about to ship are not trusted.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-closure"

#include "config.h"

#include "mitogen-closure-private.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stddef.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>

#include "mitogen-sha256-private.h"

#ifndef EM_RISCV
# define EM_RISCV 243
#endif
#ifndef EM_LOONGARCH
# define EM_LOONGARCH 258
#endif

#define CHUNK_SIZE        (1024 * 1024)
#define MAX_NAME_LEN      200
#define MAX_PHDRS_SIZE    65536   /* the kernel's limit on the table */
#define MAX_INTERP_LEN    4096    /* PATH_MAX, as the kernel checks */

/* ELF reading ---------------------------------------------------------- */

typedef struct
{
  gboolean  is_64;
  gboolean  is_msb;
  guint16   machine;
  guint16   phentsize;
  guint16   phnum;
  guint8   *phdrs;      /* (owned) phnum * phentsize bytes, as in the file */
  char     *interp;     /* (owned) (nullable) */
} ElfInfo;

static void
elf_info_clear (ElfInfo *info)
{
  g_clear_pointer (&info->phdrs, g_free);
  g_clear_pointer (&info->interp, g_free);
}

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

static gboolean G_GNUC_PRINTF (3, 4)
set_invalid (GError    **error,
             const char *path,
             const char *format,
             ...)
{
  g_autofree char *detail = NULL;
  va_list args;

  va_start (args, format);
  detail = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s", path, detail);
  return FALSE;
}

static guint16
get_u16 (const guint8 *p,
         gboolean      msb)
{
  return msb ? (guint16) (p[0] << 8 | p[1]) : (guint16) (p[1] << 8 | p[0]);
}

static guint32
get_u32 (const guint8 *p,
         gboolean      msb)
{
  return msb ? ((guint32) get_u16 (p, TRUE) << 16 | get_u16 (p + 2, TRUE))
             : ((guint32) get_u16 (p + 2, FALSE) << 16 | get_u16 (p, FALSE));
}

static guint64
get_u64 (const guint8 *p,
         gboolean      msb)
{
  return msb ? ((guint64) get_u32 (p, TRUE) << 32 | get_u32 (p + 4, TRUE))
             : ((guint64) get_u32 (p + 4, FALSE) << 32 | get_u32 (p, FALSE));
}

/* Reads up to @len bytes at @offset; returns how many (fewer at the end
 * of the file), or -1 with errno. */
static gssize
read_at (int     fd,
         void   *buf,
         gsize   len,
         guint64 offset)
{
  gsize done = 0;

  if (offset > G_MAXINT64)
    return 0;
  while (done < len)
    {
      ssize_t n = pread (fd, (guint8 *) buf + done, len - done, (off_t) (offset + done));

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      if (n == 0)
        break;
      done += (gsize) n;
    }
  return (gssize) done;
}

/* Opens @path, a regular file; fills @st. */
static int
open_regular (const char  *path,
              struct stat *st,
              GError     **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

  if (fd < 0)
    {
      set_errno_error (error, errno, "Cannot open", path);
      return -1;
    }
  if (fstat (fd, st) < 0)
    {
      int saved_errno = errno;

      close (fd);
      set_errno_error (error, saved_errno, "Cannot stat", path);
      return -1;
    }
  if (!S_ISREG (st->st_mode))
    {
      close (fd);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                   "%s is not a regular file", path);
      return -1;
    }
  return fd;
}

static gboolean
elf_read_fd (int          fd,
             const char  *path,
             guint64      file_size,
             ElfInfo     *info,
             GError     **error)
{
  guint8 ehdr[64];
  gssize n;
  guint16 type;
  guint64 phoff;
  gsize table_size, ehdr_size;

  n = read_at (fd, ehdr, sizeof ehdr, 0);
  if (n < 0)
    return set_errno_error (error, errno, "Cannot read", path);
  if (n < EI_NIDENT || memcmp (ehdr, ELFMAG, SELFMAG) != 0)
    return set_invalid (error, path, "not an ELF file");
  if (ehdr[EI_CLASS] != ELFCLASS32 && ehdr[EI_CLASS] != ELFCLASS64)
    return set_invalid (error, path, "unknown ELF class %u", ehdr[EI_CLASS]);
  if (ehdr[EI_DATA] != ELFDATA2LSB && ehdr[EI_DATA] != ELFDATA2MSB)
    return set_invalid (error, path, "unknown ELF byte order %u", ehdr[EI_DATA]);
  if (ehdr[EI_VERSION] != EV_CURRENT)
    return set_invalid (error, path, "unknown ELF version %u", ehdr[EI_VERSION]);
  info->is_64 = ehdr[EI_CLASS] == ELFCLASS64;
  info->is_msb = ehdr[EI_DATA] == ELFDATA2MSB;
  ehdr_size = info->is_64 ? sizeof (Elf64_Ehdr) : sizeof (Elf32_Ehdr);
  if ((gsize) n < ehdr_size)
    return set_invalid (error, path, "truncated ELF header");

  type = get_u16 (ehdr + offsetof (Elf64_Ehdr, e_type), info->is_msb);
  info->machine = get_u16 (ehdr + offsetof (Elf64_Ehdr, e_machine), info->is_msb);
  if (info->is_64)
    {
      phoff = get_u64 (ehdr + offsetof (Elf64_Ehdr, e_phoff), info->is_msb);
      info->phentsize = get_u16 (ehdr + offsetof (Elf64_Ehdr, e_phentsize), info->is_msb);
      info->phnum = get_u16 (ehdr + offsetof (Elf64_Ehdr, e_phnum), info->is_msb);
    }
  else
    {
      phoff = get_u32 (ehdr + offsetof (Elf32_Ehdr, e_phoff), info->is_msb);
      info->phentsize = get_u16 (ehdr + offsetof (Elf32_Ehdr, e_phentsize), info->is_msb);
      info->phnum = get_u16 (ehdr + offsetof (Elf32_Ehdr, e_phnum), info->is_msb);
    }
  if (type != ET_EXEC && type != ET_DYN)
    return set_invalid (error, path, "ELF type %u is not a program or shared object", type);
  /* As the kernel's loader: the entry size is exact, the table small. */
  if (info->phentsize != (info->is_64 ? sizeof (Elf64_Phdr) : sizeof (Elf32_Phdr)))
    return set_invalid (error, path, "bad program header size %u", info->phentsize);
  table_size = (gsize) info->phentsize * info->phnum;
  if (info->phnum == 0 || table_size > MAX_PHDRS_SIZE)
    return set_invalid (error, path, "bad program header count %u", info->phnum);
  if (phoff < ehdr_size || phoff > file_size || table_size > file_size - phoff)
    return set_invalid (error, path, "program headers (offset %" G_GUINT64_FORMAT
                        ", %" G_GSIZE_FORMAT " bytes) outside the file (%" G_GUINT64_FORMAT " bytes)",
                        phoff, table_size, file_size);

  info->phdrs = g_malloc (table_size);
  n = read_at (fd, info->phdrs, table_size, phoff);
  if (n < 0)
    return set_errno_error (error, errno, "Cannot read", path);
  if ((gsize) n != table_size)
    return set_invalid (error, path, "truncated program headers");

  for (guint i = 0; i < info->phnum; i++)
    {
      const guint8 *ph = info->phdrs + (gsize) i * info->phentsize;
      guint64 offset, filesz;
      g_autofree char *interp = NULL;

      if (get_u32 (ph, info->is_msb) != PT_INTERP)
        continue;
      if (info->interp != NULL)
        return set_invalid (error, path, "more than one PT_INTERP");
      if (info->is_64)
        {
          offset = get_u64 (ph + offsetof (Elf64_Phdr, p_offset), info->is_msb);
          filesz = get_u64 (ph + offsetof (Elf64_Phdr, p_filesz), info->is_msb);
        }
      else
        {
          offset = get_u32 (ph + offsetof (Elf32_Phdr, p_offset), info->is_msb);
          filesz = get_u32 (ph + offsetof (Elf32_Phdr, p_filesz), info->is_msb);
        }
      if (filesz < 2 || filesz > MAX_INTERP_LEN)
        return set_invalid (error, path, "bad PT_INTERP size %" G_GUINT64_FORMAT, filesz);
      if (offset > file_size || filesz > file_size - offset)
        return set_invalid (error, path, "PT_INTERP outside the file");
      interp = g_malloc (filesz);
      n = read_at (fd, interp, filesz, offset);
      if (n < 0)
        return set_errno_error (error, errno, "Cannot read", path);
      if ((guint64) n != filesz)
        return set_invalid (error, path, "truncated PT_INTERP");
      if (interp[filesz - 1] != '\0' || interp[0] == '\0')
        return set_invalid (error, path, "PT_INTERP is not a path");
      info->interp = g_steal_pointer (&interp);
    }
  return TRUE;
}

static gboolean
elf_read (const char *path,
          ElfInfo    *info,
          GError    **error)
{
  struct stat st;
  gboolean ok;
  int fd;

  memset (info, 0, sizeof *info);
  fd = open_regular (path, &st, error);
  if (fd < 0)
    return FALSE;
  ok = elf_read_fd (fd, path, (guint64) st.st_size, info, error);
  close (fd);
  if (!ok)
    elf_info_clear (info);
  return ok;
}

/* The machine as `uname -m` spells it. (transfer full) */
static char *
elf_arch (const ElfInfo *info)
{
  switch (info->machine)
    {
    case EM_X86_64:    return g_strdup ("x86_64");
    case EM_386:       return g_strdup ("i686");
    case EM_AARCH64:   return g_strdup (info->is_msb ? "aarch64_be" : "aarch64");
    case EM_ARM:       return g_strdup (info->is_msb ? "armv7b" : "armv7l");
    case EM_PPC64:     return g_strdup (info->is_msb ? "ppc64" : "ppc64le");
    case EM_PPC:       return g_strdup ("ppc");
    case EM_S390:      return g_strdup (info->is_64 ? "s390x" : "s390");
    case EM_RISCV:     return g_strdup (info->is_64 ? "riscv64" : "riscv32");
    case EM_MIPS:      return g_strdup (info->is_64 ? "mips64" : "mips");
    case EM_LOONGARCH: return g_strdup ("loongarch64");
    case EM_SPARCV9:   return g_strdup ("sparc64");
    case EM_SPARC:     return g_strdup ("sparc");
    case EM_IA_64:     return g_strdup ("ia64");
    case EM_ALPHA:     return g_strdup ("alpha");
    case EM_PARISC:    return g_strdup (info->is_64 ? "parisc64" : "parisc");
    case EM_SH:        return g_strdup ("sh4");
    case EM_68K:       return g_strdup ("m68k");
    default:           return g_strdup_printf ("elf-machine-%u", info->machine);
    }
}

gboolean
mitogen_elf_inspect (const char  *path,
                     char       **arch,
                     char       **interp,
                     GError     **error)
{
  ElfInfo info;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!elf_read (path, &info, error))
    return FALSE;
  if (arch != NULL)
    *arch = elf_arch (&info);
  if (interp != NULL)
    *interp = g_steal_pointer (&info.interp);
  elf_info_clear (&info);
  return TRUE;
}

/* The CPU a `uname -m` spelling names; unknown spellings name themselves. */
static const char *
arch_family (const char *arch)
{
  static const struct
  {
    const char *name;
    const char *family;
  } families[] = {
    { "x86_64", "x86_64" }, { "amd64", "x86_64" },
    { "i386", "i386" }, { "i486", "i386" }, { "i586", "i386" }, { "i686", "i386" }, { "x86", "i386" },
    { "aarch64", "aarch64" }, { "arm64", "aarch64" },
    { "arm", "arm" }, { "armhf", "arm" }, { "armel", "arm" },
    { "ppc64le", "ppc64le" }, { "ppc64el", "ppc64le" }, { "powerpc64le", "ppc64le" },
    { "ppc64", "ppc64" }, { "powerpc64", "ppc64" },
    { "ppc", "ppc" }, { "powerpc", "ppc" },
    { "mips64", "mips64" }, { "mips64el", "mips64" },
    { "mips", "mips" }, { "mipsel", "mips" },
    { "loongarch64", "loongarch64" }, { "loong64", "loongarch64" },
    { "sparc64", "sparc64" }, { "sparc", "sparc" },
    { "parisc64", "parisc64" }, { "parisc", "parisc" },
    { "s390x", "s390x" }, { "riscv64", "riscv64" }, { "riscv32", "riscv32" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (families); i++)
    if (strcmp (arch, families[i].name) == 0)
      return families[i].family;
  /* armv5tel, armv6l, armv7l, armv8l (32-bit on an arm64 kernel's
   * compat personality); armv7b and the like are big-endian. */
  if (g_str_has_prefix (arch, "armv") && g_ascii_isdigit (arch[4]))
    return g_str_has_suffix (arch, "b") ? "armeb" : "arm";
  if (g_str_has_prefix (arch, "sh") && g_ascii_isdigit (arch[2]))
    return "sh";
  return arch;
}

gboolean
mitogen_arch_matches (const char *elf_arch,
                      const char *uname_m)
{
  if (elf_arch == NULL || uname_m == NULL || elf_arch[0] == '\0' || uname_m[0] == '\0')
    return FALSE;
  return strcmp (arch_family (elf_arch), arch_family (uname_m)) == 0;
}

/* The closure ----------------------------------------------------------- */

typedef struct
{
  char             *name;      /* (owned) dlpi_name, "" for none */
  ElfW(Addr)        addr;
  const ElfW(Phdr) *phdr;      /* (unowned) the loader's copy */
  ElfW(Half)        phnum;
} LoadedObject;

/* What changes when modules are loaded or unloaded. */
typedef struct
{
  guint   count;
  guint64 adds;
  guint64 subs;
} LoadGeneration;

typedef struct
{
  LoadGeneration generation;
  GArray        *objects;      /* (nullable) (element-type LoadedObject) */
} Iteration;

typedef struct
{
  dev_t   dev;
  ino_t   ino;
  gint64  mtime_ns;
  guint64 size;
} FileStamp;

typedef struct
{
  MitogenClosure *closure;
  GArray         *stamps;      /* (element-type FileStamp) one per file */
  LoadGeneration  generation;
} CacheEntry;

static GMutex cache_lock;
static GHashTable *cache;      /* (element-type utf8 CacheEntry) under cache_lock */

static void
loaded_object_clear (gpointer data)
{
  LoadedObject *object = data;

  g_free (object->name);
}

void
mitogen_closure_file_free (gpointer data)
{
  MitogenClosureFile *file = data;

  g_free (file->name);
  g_free (file->path);
  g_free (file);
}

void
mitogen_closure_free (MitogenClosure *closure)
{
  if (closure == NULL)
    return;
  g_ptr_array_unref (closure->files);
  g_free (closure->arch);
  g_free (closure);
}

static MitogenClosure *
closure_copy (const MitogenClosure *closure)
{
  MitogenClosure *copy = g_new0 (MitogenClosure, 1);

  copy->files = g_ptr_array_new_full (closure->files->len, mitogen_closure_file_free);
  for (guint i = 0; i < closure->files->len; i++)
    {
      const MitogenClosureFile *file = g_ptr_array_index (closure->files, i);
      MitogenClosureFile *file_copy = g_memdup2 (file, sizeof *file);

      file_copy->name = g_strdup (file->name);
      file_copy->path = g_strdup (file->path);
      g_ptr_array_add (copy->files, file_copy);
    }
  copy->arch = g_strdup (closure->arch);
  copy->is_static = closure->is_static;
  copy->total_size = closure->total_size;
  return copy;
}

static void
cache_entry_free (gpointer data)
{
  CacheEntry *entry = data;

  mitogen_closure_free (entry->closure);
  g_array_unref (entry->stamps);
  g_free (entry);
}

/* Runs under the loader's lock: copies, no calls back into it. */
static int
on_loaded_object (struct dl_phdr_info *info,
                  size_t               size,
                  void                *user_data)
{
  Iteration *it = user_data;

  if (it->generation.count == 0
      && size >= offsetof (struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs)
    {
      it->generation.adds = info->dlpi_adds;
      it->generation.subs = info->dlpi_subs;
    }
  it->generation.count++;
  if (it->objects != NULL)
    {
      LoadedObject object = {
        g_strdup (info->dlpi_name != NULL ? info->dlpi_name : ""),
        info->dlpi_addr, info->dlpi_phdr, info->dlpi_phnum,
      };

      g_array_append_val (it->objects, object);
    }
  return 0;
}

static void
iterate_loaded (Iteration *it,
                gboolean   with_objects)
{
  memset (it, 0, sizeof *it);
  if (with_objects)
    {
      it->objects = g_array_new (FALSE, TRUE, sizeof (LoadedObject));
      g_array_set_clear_func (it->objects, loaded_object_clear);
    }
  dl_iterate_phdr (on_loaded_object, it);
}

static gboolean
generation_equal (const LoadGeneration *a,
                  const LoadGeneration *b)
{
  return a->count == b->count && a->adds == b->adds && a->subs == b->subs;
}

static void
stamp_from_stat (FileStamp         *stamp,
                 const struct stat *st)
{
  stamp->dev = st->st_dev;
  stamp->ino = st->st_ino;
  stamp->mtime_ns = (gint64) st->st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) + st->st_mtim.tv_nsec;
  stamp->size = (guint64) st->st_size;
}

static gboolean
stamp_equal (const FileStamp *a,
             const FileStamp *b)
{
  return a->dev == b->dev && a->ino == b->ino && a->mtime_ns == b->mtime_ns && a->size == b->size;
}

/* TRUE if @name can be a file name on the target, quoted or not. */
gboolean
mitogen_closure_name_is_valid (const char *name)
{
  gsize len = strlen (name);

  if (len == 0 || len > MAX_NAME_LEN || name[0] == '.' || strcmp (name, "transports") == 0)
    return FALSE;
  for (const char *c = name; *c != '\0'; c++)
    if (!g_ascii_isalnum (*c) && *c != '.' && *c != '_' && *c != '+' && *c != '-')
      return FALSE;
  return TRUE;
}

static gboolean
check_name (const char  *name,
            const char  *path,
            GError     **error)
{
  if (!mitogen_closure_name_is_valid (name))
    {
      g_autofree char *escaped = g_strescape (name, NULL);

      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                   "Cannot ship %s: its name \"%s\" is not a plain file name "
                   "(letters, digits and ._+- only, not starting with '.', at most %d characters)",
                   path, escaped, MAX_NAME_LEN);
      return FALSE;
    }
  return TRUE;
}

/* libmitogen-WORD.so, WORD as plugin methods are named (not 1.0). */
static gboolean
is_plugin_name (const char *name)
{
  const char *word = name + strlen ("libmitogen-");
  gsize len;

  if (!g_str_has_prefix (name, "libmitogen-") || !g_str_has_suffix (name, ".so"))
    return FALSE;
  len = strlen (word) - strlen (".so");
  if (len == 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (word[i]) && word[i] != '-' && word[i] != '_')
      return FALSE;
  return TRUE;
}

/* Hashes @path in CHUNK_SIZE reads into @file (size, sha256) and @stamp. */
static gboolean
hash_file (const char         *path,
           guint8             *buffer,
           MitogenClosureFile *file,
           FileStamp          *stamp,
           GError            **error)
{
  MitogenSha256 sha;
  guint8 digest[MITOGEN_SHA256_LEN];
  struct stat st;
  guint64 total = 0;
  int fd;

  fd = open_regular (path, &st, error);
  if (fd < 0)
    return FALSE;
  mitogen_sha256_init (&sha);
  for (;;)
    {
      ssize_t n = read (fd, buffer, CHUNK_SIZE);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved_errno = errno;

          mitogen_sha256_clear (&sha);
          close (fd);
          return set_errno_error (error, saved_errno, "Cannot read", path);
        }
      if (n == 0)
        break;
      mitogen_sha256_update (&sha, buffer, (gsize) n);
      total += (guint64) n;
    }
  close (fd);
  mitogen_sha256_finish (&sha, digest);
  if (total != (guint64) st.st_size)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "%s changed while it was being read", path);
      return FALSE;
    }
  mitogen_sha256_to_hex (digest, file->sha256);
  file->size = total;
  stamp_from_stat (stamp, &st);
  return TRUE;
}

/* TRUE if @info's program headers are the ones the loader holds for the
 * main program: @info is this process's program file. */
static gboolean
is_running_program (const ElfInfo      *info,
                    const LoadedObject *main_object)
{
  const gboolean native_msb = G_BYTE_ORDER == G_BIG_ENDIAN;

  return info->is_64 == (sizeof (ElfW(Phdr)) == sizeof (Elf64_Phdr))
         && info->is_msb == native_msb
         && info->phentsize == sizeof (ElfW(Phdr))
         && info->phnum == main_object->phnum
         && main_object->phdr != NULL
         && memcmp (info->phdrs, main_object->phdr, (gsize) info->phnum * info->phentsize) == 0;
}

/* The index in @objects of the dynamic loader, whose PT_INTERP path in
 * the program is @interp, or -1. */
static gint
find_loader (GArray     *objects,
             const char *interp)
{
  unsigned long base = getauxval (AT_BASE);

  if (base == 0)
    {
      /* Started as `ld.so PROG`: the kernel ran the loader as the program
       * and gave no AT_BASE. The loader answers to its soname. */
      g_autofree char *soname = g_path_get_basename (interp);
      struct link_map *map = NULL;
      void *handle = dlopen (soname, RTLD_LAZY | RTLD_NOLOAD);

      if (handle != NULL && dlinfo (handle, RTLD_DI_LINKMAP, &map) == 0 && map != NULL)
        base = map->l_addr;
      if (handle != NULL)
        dlclose (handle);
    }
  for (guint i = 1; base != 0 && i < objects->len; i++)
    if (g_array_index (objects, LoadedObject, i).addr == base)
      return (gint) i;
  return -1;
}

/* TRUE if the process was started as `ld.so PROG`: PROG has a PT_INTERP,
 * yet the kernel started no interpreter (it gives AT_BASE when it does). */
static gboolean
started_through_loader (const LoadedObject *main_object)
{
  if (getauxval (AT_BASE) != 0 || main_object->phdr == NULL)
    return FALSE;
  for (guint i = 0; i < main_object->phnum; i++)
    if (main_object->phdr[i].p_type == PT_INTERP)
      return TRUE;
  return FALSE;
}

/* The program's file, read into @info: @exe_path, or this process's.
 * @name: (out) its name on the target. (transfer full) */
static char *
find_program (const char  *exe_path,
              GArray      *objects,
              ElfInfo     *info,
              char       **name,
              GError     **error)
{
  const LoadedObject *main_object = &g_array_index (objects, LoadedObject, 0);
  g_autoptr(GError) link_error = NULL;
  g_autofree char *link = NULL;
  g_autofree char *link_name = NULL;
  const char *candidates[2] = { NULL, NULL };
  const char *execfn;

  if (exe_path != NULL)
    {
      if (!elf_read (exe_path, info, error))
        return NULL;
      if (!is_running_program (info, main_object))
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                       "%s is not this process's program: its program headers differ from the running program's",
                       exe_path);
          return NULL;
        }
      *name = g_path_get_basename (exe_path);
      return g_strdup (exe_path);
    }

  /* /proc/self/exe, else (no /proc: a chroot, a container) the path the
   * program was started by, relative to the directory it was started in.
   * Started as `ld.so PROG`, /proc/self/exe is the loader, and glibc's
   * loader sets AT_EXECFN to PROG. Each is checked against the loader's
   * program headers. */
  link = g_file_read_link ("/proc/self/exe", &link_error);
  if (link != NULL && g_str_has_suffix (link, " (deleted)"))
    {
      /* Replaced on disk since it started: /proc still has the file. */
      link[strlen (link) - strlen (" (deleted)")] = '\0';
      link_name = g_path_get_basename (link);
      candidates[0] = "/proc/self/exe";
    }
  else if (link != NULL)
    {
      link_name = g_path_get_basename (link);
      candidates[0] = link;
    }
  execfn = (const char *) getauxval (AT_EXECFN);
  if (execfn != NULL && execfn[0] != '\0')
    candidates[1] = execfn;

  for (gsize i = 0; i < G_N_ELEMENTS (candidates); i++)
    {
      g_autoptr(GError) local_error = NULL;

      if (candidates[i] == NULL)
        continue;
      if (elf_read (candidates[i], info, &local_error))
        {
          if (is_running_program (info, main_object))
            {
              *name = i == 0 ? g_steal_pointer (&link_name) : g_path_get_basename (candidates[i]);
              return g_strdup (candidates[i]);
            }
          elf_info_clear (info);
        }
      g_debug ("%s is not this program: %s", candidates[i],
               local_error != NULL ? local_error->message : "other program headers");
    }

  if (started_through_loader (main_object))
    g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                 "This process was started through its ELF interpreter (as `ld.so PROG`), and its "
                 "program (started as %s) is not found: pass the program's path",
                 execfn != NULL ? execfn : "?");
  else
    g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                 "Cannot find this process's program (/proc/self/exe: %s; started as %s): pass its path",
                 link != NULL ? link : link_error->message, execfn != NULL ? execfn : "?");
  return NULL;
}

/* Appends a file to @closure unless it is one already there: the same
 * file (device and inode) is skipped, the same name with other contents
 * is an error. */
static gboolean
add_file (MitogenClosure     *closure,
          GArray             *stamps,
          MitogenClosureRole  role,
          const char         *name,
          const char         *path,
          guint8             *buffer,
          GError            **error)
{
  g_autoptr(GError) local_error = NULL;
  MitogenClosureFile *file;
  FileStamp stamp;
  struct stat st;

  if (!check_name (name, path, error))
    return FALSE;
  if (stat (path, &st) < 0)
    return set_errno_error (error, errno, "Cannot stat", path);
  for (guint i = 0; i < stamps->len; i++)
    {
      const FileStamp *other = &g_array_index (stamps, FileStamp, i);

      if (other->dev == st.st_dev && other->ino == st.st_ino)
        return TRUE;
    }

  file = g_new0 (MitogenClosureFile, 1);
  file->role = role;
  file->name = g_strdup (name);
  file->path = g_strdup (path);
  if (!hash_file (path, buffer, file, &stamp, error))
    {
      mitogen_closure_file_free (file);
      return FALSE;
    }
  for (guint i = 0; i < closure->files->len; i++)
    {
      const MitogenClosureFile *other = g_ptr_array_index (closure->files, i);

      if (strcmp (other->name, name) != 0)
        continue;
      if (strcmp (other->sha256, file->sha256) != 0)
        g_set_error (&local_error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                     "Cannot ship both %s and %s: they differ and have the same name %s",
                     other->path, path, name);
      mitogen_closure_file_free (file);
      if (local_error != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      return TRUE;
    }
  g_ptr_array_add (closure->files, file);
  g_array_append_val (stamps, stamp);
  closure->total_size += file->size;
  return TRUE;
}

/* Under cache_lock. */
static CacheEntry *
closure_compute (const char  *exe_path,
                 GError     **error)
{
  g_autoptr(MitogenClosure) closure = NULL;
  g_autoptr(GArray) stamps = NULL;
  g_autofree guint8 *buffer = NULL;
  g_autofree char *program = NULL;
  g_autofree char *program_name = NULL;
  g_autofree char *interp_name = NULL;
  const char *interp_path = NULL;
  struct stat st, interp_st;
  CacheEntry *entry;
  Iteration it;
  ElfInfo info;
  gint loader;

  memset (&info, 0, sizeof info);
  iterate_loaded (&it, TRUE);
  g_assert (it.objects->len > 0);  /* the program is always listed */

  program = find_program (exe_path, it.objects, &info, &program_name, error);
  if (program == NULL)
    goto fail;
  loader = info.interp != NULL ? find_loader (it.objects, info.interp) : -1;

  closure = g_new0 (MitogenClosure, 1);
  closure->files = g_ptr_array_new_with_free_func (mitogen_closure_file_free);
  closure->arch = elf_arch (&info);
  closure->is_static = info.interp == NULL;
  interp_name = info.interp != NULL ? g_path_get_basename (info.interp) : NULL;
  stamps = g_array_new (FALSE, FALSE, sizeof (FileStamp));
  buffer = g_malloc (CHUNK_SIZE);

  if (!closure->is_static)
    {
      /* The running loader's own file (libc and the loader go together),
       * else, when it cannot be told apart, what PT_INTERP names here. */
      interp_path = loader >= 0 ? g_array_index (it.objects, LoadedObject, loader).name : info.interp;
      if (interp_path[0] == '\0')
        interp_path = info.interp;
      if (stat (interp_path, &interp_st) < 0 || !S_ISREG (interp_st.st_mode))
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                       "Cannot find the ELF interpreter %s of %s%s", interp_path, program,
                       g_path_is_absolute (interp_path) ? "" : " (loaded by a relative path; the working directory changed since)");
          goto fail;
        }
      if (!add_file (closure, stamps, MITOGEN_CLOSURE_INTERP, interp_name, interp_path, buffer, error))
        goto fail;
    }
  elf_info_clear (&info);

  if (!add_file (closure, stamps, MITOGEN_CLOSURE_EXE, program_name, program, buffer, error))
    goto fail;
  if (closure->files->len != (closure->is_static ? 1u : 2u))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "%s is its own ELF interpreter", program);
      goto fail;
    }

  /* A static program maps nothing else (the vDSO is the kernel's). */
  for (guint i = 1; !closure->is_static && i < it.objects->len; i++)
    {
      const LoadedObject *object = &g_array_index (it.objects, LoadedObject, i);
      g_autofree char *name = NULL;

      if ((gint) i == loader)
        continue;
      /* The vDSO (linux-vdso.so.1, linux-gate.so.1) has no file; the
       * loader names every file it mapped by a path. */
      if (object->name[0] == '\0' || strchr (object->name, '/') == NULL
          || g_str_has_prefix (object->name, "linux-vdso") || g_str_has_prefix (object->name, "linux-gate"))
        continue;
      if (stat (object->name, &st) < 0 || !S_ISREG (st.st_mode))
        {
          /* Loaded from a directory that is no longer the working one:
           * leaving it out would ship a program that cannot start. */
          if (!g_path_is_absolute (object->name))
            {
              g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                           "Cannot find %s: it was loaded by a relative path, and the working directory "
                           "changed since", object->name);
              goto fail;
            }
          g_debug ("skipping %s: not a regular file", object->name);
          continue;
        }
      name = g_path_get_basename (object->name);
      if (!add_file (closure, stamps, is_plugin_name (name) ? MITOGEN_CLOSURE_PLUGIN : MITOGEN_CLOSURE_LIB,
                     name, object->name, buffer, error))
        goto fail;
    }

  entry = g_new0 (CacheEntry, 1);
  entry->closure = g_steal_pointer (&closure);
  entry->stamps = g_steal_pointer (&stamps);
  entry->generation = it.generation;
  g_array_unref (it.objects);
  return entry;

fail:
  elf_info_clear (&info);
  g_array_unref (it.objects);
  return NULL;
}

/* Under cache_lock: TRUE if no file changed on disk since @entry. */
static gboolean
cache_entry_is_current (const CacheEntry *entry)
{
  for (guint i = 0; i < entry->closure->files->len; i++)
    {
      const MitogenClosureFile *file = g_ptr_array_index (entry->closure->files, i);
      FileStamp now;
      struct stat st;

      if (stat (file->path, &st) < 0)
        return FALSE;
      stamp_from_stat (&now, &st);
      if (!stamp_equal (&now, &g_array_index (entry->stamps, FileStamp, i)))
        return FALSE;
    }
  return TRUE;
}

MitogenClosure *
mitogen_closure_new_for_self (const char  *exe_path,
                              GError     **error)
{
  MitogenClosure *result = NULL;
  CacheEntry *entry;
  Iteration it;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_mutex_lock (&cache_lock);
  if (cache == NULL)
    cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, cache_entry_free);
  iterate_loaded (&it, FALSE);
  entry = g_hash_table_lookup (cache, exe_path != NULL ? exe_path : "");
  if (entry == NULL || !generation_equal (&entry->generation, &it.generation)
      || !cache_entry_is_current (entry))
    {
      entry = closure_compute (exe_path, error);
      if (entry != NULL)
        g_hash_table_replace (cache, g_strdup (exe_path != NULL ? exe_path : ""), entry);
      else
        g_hash_table_remove (cache, exe_path != NULL ? exe_path : "");
    }
  if (entry != NULL)
    result = closure_copy (entry->closure);
  g_mutex_unlock (&cache_lock);
  return result;
}
