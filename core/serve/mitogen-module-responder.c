/* mitogen-module-responder.c — function modules: the parent's half
 *
 * LOAD_MODULE requests from children (docs/protocol.md) arrive on the
 * broker thread, which only hands them to a worker thread: files are read,
 * hashed and waited for there, never on the broker. A context answers
 *
 *  - from its module path (mitogen_router_add_module_path (); the
 *    master's, usually): NAME.so from the first directory holding it, and
 *    the shared libraries it needs (DT_NEEDED, resolved here as the
 *    dynamic loader would, recursively) that the child did not say it
 *    has, dependencies first;
 *  - else, in a child with children of its own (an intermediate), from
 *    its cache: what its parent sent for an earlier child (the seed's
 *    FORWARD_MODULE idea), when that answer fits this child; else it asks
 *    its own parent with the child's list, keeps the answer, and passes
 *    it on.
 *
 * The state is per router (attached as object data); one worker at a
 * time answers for a router (work_lock), so a second child asking while
 * the first one's answer travels finds it in the cache.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-modules"

#include "config.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mitogen-modules-private.h"
#include "mitogen-broker-private.h"
#include "mitogen-message-private.h"
#include "mitogen-protocol-private.h"
#include "mitogen-router-private.h"
#include "mitogen-sha256-private.h"

/* Weak, as in mitogen-modules.c: the static agent links no loader. */
#pragma weak dladdr

#define FORWARD_TIMEOUT_SECONDS 300.0
#define CACHE_MAX_BYTES         ((guint64) 256 << 20)
#define NEEDED_MAX              256     /* DT_NEEDED entries of one object */
#define DEPTH_MAX               32      /* of the library tree */
#define STATE_KEY               "mitogen-module-state"

typedef struct
{
  MitogenModuleReply *reply;     /* (owned) as our parent sent it, hashes checked */
  GHashTable         *present;   /* (owned) libraries it did not send: set of names */
  guint64             bytes;
} CacheEntry;

typedef struct
{
  gatomicrefcount ref_count;
  GMutex          lock;          /* guards dirs, handler_added and own_max */
  GPtrArray      *dirs;          /* (owned) (element-type filename) the module path, in order */
  gboolean        handler_added;
  guint64         own_max;       /* agent: the largest frame our parent may send us; 0 in the master */

  GMutex          work_lock;     /* held by the worker answering a request; guards what follows */
  GHashTable     *cache;         /* (owned) module name -> CacheEntry (owned) */
  GQueue          cache_order;   /* (element-type utf8) (unowned: the cache's keys) oldest first */
  guint64         cache_bytes;
} ModuleState;

typedef struct
{
  ModuleState    *state;    /* (owned) */
  MitogenMessage *message;  /* (owned) the request */
} Job;

static void
cache_entry_free (gpointer data)
{
  CacheEntry *entry = data;

  mitogen_module_reply_free (entry->reply);
  g_hash_table_unref (entry->present);
  g_free (entry);
}

static ModuleState *
state_ref (ModuleState *state)
{
  g_atomic_ref_count_inc (&state->ref_count);
  return state;
}

static void
state_unref (gpointer data)
{
  ModuleState *state = data;

  if (!g_atomic_ref_count_dec (&state->ref_count))
    return;
  g_ptr_array_unref (state->dirs);
  g_queue_clear (&state->cache_order);
  g_hash_table_unref (state->cache);
  g_mutex_clear (&state->lock);
  g_mutex_clear (&state->work_lock);
  g_free (state);
}

/* Any thread: the router's state, made on first use. (transfer full) */
static ModuleState *
state_get (MitogenRouter *router)
{
  static GMutex attach_lock;
  ModuleState *state;

  g_mutex_lock (&attach_lock);
  state = g_object_get_data (G_OBJECT (router), STATE_KEY);
  if (state == NULL)
    {
      state = g_new0 (ModuleState, 1);
      g_atomic_ref_count_init (&state->ref_count);
      g_mutex_init (&state->lock);
      g_mutex_init (&state->work_lock);
      state->dirs = g_ptr_array_new_with_free_func (g_free);
      state->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, cache_entry_free);
      g_queue_init (&state->cache_order);
      g_object_set_data_full (G_OBJECT (router), STATE_KEY, state, state_unref);
    }
  state_ref (state);
  g_mutex_unlock (&attach_lock);
  return state;
}

/* Replying --------------------------------------------------------------- */

/* Any thread. @context_name: (nullable) where the error happened; ours by
 * default. */
static void
reply_error (MitogenMessage *request,
             const GError   *error,
             const char     *context_name)
{
  MitogenRouter *router = mitogen_message_get_router (request);
  g_autoptr(MitogenMessage) reply = NULL;

  if (request->header.reply_to == 0)
    return;
  reply = mitogen_message_new_error (request->header.src_id, request->header.reply_to, error,
                                     context_name != NULL ? context_name : mitogen_router_get_name (router));
  mitogen_router_route (router, reply, NULL);
}

/* Any thread: @reply to @request, unless it is larger than the requester
 * takes. */
static gboolean
reply_files (MitogenMessage             *request,
             const MitogenModuleReply   *reply,
             const char                 *module,
             guint64                     max_size,
             GError                    **error)
{
  g_autoptr(GVariant) value = g_variant_ref_sink (mitogen_protocol_module_reply_new (reply));
  g_autoptr(MitogenMessage) message = NULL;
  guint64 size = g_variant_get_size (value) + 1 + strlen (g_variant_get_type_string (value));

  if (max_size != 0 && size > max_size)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "module '%s': its files (%u, %" G_GUINT64_FORMAT " bytes with the reply's framing) "
                   "exceed the context's max_message_size (%" G_GUINT64_FORMAT "): connect it with a "
                   "larger max_message_size", module, reply->files->len, size, max_size);
      return FALSE;
    }
  if (request->header.reply_to == 0)
    return TRUE;
  /* A reference of its own: mitogen_message_new () sinks, and ours is not floating. */
  message = mitogen_message_new (request->header.src_id, request->header.reply_to, value);
  return mitogen_router_route (mitogen_message_get_router (request), message, error);
}

/* Reading ELF dynamic sections -------------------------------------------- */

/* What the loader reads from a shared object's dynamic section. Only this
 * machine's class and byte order are read: the child dlopen ()s what it is
 * sent and says what is wrong with anything else. */
typedef struct
{
  GPtrArray *needed;    /* (owned) (element-type utf8) DT_NEEDED, in order */
  GPtrArray *rpath;     /* (owned) (element-type utf8) DT_RPATH, split */
  GPtrArray *runpath;   /* (owned) (element-type utf8) DT_RUNPATH, split */
} DynamicInfo;

static void
dynamic_info_init (DynamicInfo *info)
{
  info->needed = g_ptr_array_new_with_free_func (g_free);
  info->rpath = g_ptr_array_new_with_free_func (g_free);
  info->runpath = g_ptr_array_new_with_free_func (g_free);
}

static void
dynamic_info_clear (DynamicInfo *info)
{
  g_clear_pointer (&info->needed, g_ptr_array_unref);
  g_clear_pointer (&info->rpath, g_ptr_array_unref);
  g_clear_pointer (&info->runpath, g_ptr_array_unref);
}

static gboolean
elf_is_native (const guint8 *data,
               gsize         size)
{
  return size >= EI_NIDENT && memcmp (data, ELFMAG, SELFMAG) == 0 &&
         data[EI_CLASS] == (sizeof (void *) == 8 ? ELFCLASS64 : ELFCLASS32) &&
         data[EI_DATA] == (G_BYTE_ORDER == G_LITTLE_ENDIAN ? ELFDATA2LSB : ELFDATA2MSB);
}

/* The string at @offset of the string table at @table (@table_size
 * bytes), or NULL when it does not end inside it. */
static const char *
elf_string (const guint8 *table,
            guint64       table_size,
            guint64       offset)
{
  if (offset >= table_size)
    return NULL;
  if (memchr (table + offset, '\0', table_size - offset) == NULL)
    return NULL;
  return (const char *) table + offset;
}

/* Every offset and size from the file is checked against it. FALSE if
 * @data is not a native ELF object with a readable dynamic section. */
static gboolean
elf_read_dynamic (GBytes      *bytes,
                  DynamicInfo *info)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  g_autofree ElfW(Phdr) *phdrs = NULL;
  ElfW(Ehdr) eh;
  guint64 dyn_off = 0, dyn_size = 0, strtab_vaddr = 0, strsz = 0, strtab_off = G_MAXUINT64;
  gboolean have_dynamic = FALSE, have_strtab = FALSE;
  g_autoptr(GArray) needed = g_array_new (FALSE, FALSE, sizeof (guint64));
  guint64 rpath = G_MAXUINT64, runpath = G_MAXUINT64;

  if (size < sizeof eh || !elf_is_native (data, size))
    return FALSE;
  memcpy (&eh, data, sizeof eh);
  if (eh.e_phentsize != sizeof (ElfW(Phdr)) || eh.e_phnum == 0 ||
      eh.e_phoff > size || (guint64) eh.e_phnum * sizeof (ElfW(Phdr)) > size - eh.e_phoff)
    return FALSE;
  phdrs = g_new (ElfW(Phdr), eh.e_phnum);
  memcpy (phdrs, data + eh.e_phoff, (gsize) eh.e_phnum * sizeof (ElfW(Phdr)));

  for (guint i = 0; i < eh.e_phnum; i++)
    if (phdrs[i].p_type == PT_DYNAMIC)
      {
        dyn_off = phdrs[i].p_offset;
        dyn_size = phdrs[i].p_filesz;
        have_dynamic = TRUE;
      }
  if (!have_dynamic || dyn_off > size || dyn_size > size - dyn_off)
    return FALSE;

  for (guint64 at = 0; at + sizeof (ElfW(Dyn)) <= dyn_size; at += sizeof (ElfW(Dyn)))
    {
      ElfW(Dyn) dyn;

      memcpy (&dyn, data + dyn_off + at, sizeof dyn);
      if (dyn.d_tag == DT_NULL)
        break;
      switch (dyn.d_tag)
        {
        case DT_NEEDED:
          if (needed->len >= NEEDED_MAX)
            return FALSE;
          g_array_append_val (needed, (guint64) { dyn.d_un.d_val });
          break;
        case DT_RPATH:
          rpath = dyn.d_un.d_val;
          break;
        case DT_RUNPATH:
          runpath = dyn.d_un.d_val;
          break;
        case DT_STRTAB:
          strtab_vaddr = dyn.d_un.d_ptr;
          have_strtab = TRUE;
          break;
        case DT_STRSZ:
          strsz = dyn.d_un.d_val;
          break;
        default:
          break;
        }
    }
  if (!have_strtab)
    return needed->len == 0;
  /* The table's address, mapped to its place in the file. */
  for (guint i = 0; i < eh.e_phnum; i++)
    if (phdrs[i].p_type == PT_LOAD && strtab_vaddr >= phdrs[i].p_vaddr &&
        strtab_vaddr - phdrs[i].p_vaddr < phdrs[i].p_filesz)
      strtab_off = phdrs[i].p_offset + (strtab_vaddr - phdrs[i].p_vaddr);
  if (strtab_off > size || strsz > size - strtab_off)
    return FALSE;

  for (guint i = 0; i < needed->len; i++)
    {
      const char *name = elf_string (data + strtab_off, strsz, g_array_index (needed, guint64, i));

      if (name == NULL)
        return FALSE;
      g_ptr_array_add (info->needed, g_strdup (name));
    }
  for (int which = 0; which < 2; which++)
    {
      guint64 offset = which == 0 ? rpath : runpath;
      const char *list = offset != G_MAXUINT64 ? elf_string (data + strtab_off, strsz, offset) : NULL;
      g_auto(GStrv) parts = NULL;

      if (list == NULL)
        continue;
      parts = g_strsplit (list, ":", -1);
      for (guint j = 0; parts[j] != NULL; j++)
        if (parts[j][0] != '\0')
          g_ptr_array_add (which == 0 ? info->rpath : info->runpath, g_strdup (parts[j]));
    }
  return TRUE;
}

/* Finding libraries -------------------------------------------------- */

/* @entry of a DT_RPATH/DT_RUNPATH with $ORIGIN (or ${ORIGIN}) replaced by
 * @origin; NULL for entries with other substitutions or not absolute. */
static char *
expand_origin (const char *entry,
               const char *origin)
{
  g_autoptr(GString) path = g_string_new (entry);

  g_string_replace (path, "${ORIGIN}", origin, 0);
  g_string_replace (path, "$ORIGIN", origin, 0);
  if (strchr (path->str, '$') != NULL || !g_path_is_absolute (path->str))
    return NULL;
  return g_string_free (g_steal_pointer (&path), FALSE);
}

/* TRUE if @path is a regular file that starts as a native ELF object. */
static gboolean
is_native_object (const char *path)
{
  guint8 ident[EI_NIDENT];
  struct stat st;
  gssize n;
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

  if (fd < 0)
    return FALSE;
  n = fstat (fd, &st) == 0 && S_ISREG (st.st_mode) ? read (fd, ident, sizeof ident) : -1;
  close (fd);
  return n == (gssize) sizeof ident && elf_is_native (ident, sizeof ident);
}

/* Runs under the loader's lock: copies only. */
static int
on_master_object (struct dl_phdr_info *info,
                  size_t               size,
                  void                *user_data)
{
  GHashTable *paths = user_data;
  const char *slash = info->dlpi_name != NULL ? strrchr (info->dlpi_name, '/') : NULL;

  if (slash != NULL && slash[1] != '\0' && !g_hash_table_contains (paths, slash + 1))
    g_hash_table_insert (paths, g_strdup (slash + 1), g_strdup (info->dlpi_name));
  return 0;
}

/* Where the loader looks last: the directory our libc came from
 * (/lib/x86_64-linux-gnu), its /usr twin, then the usual ones. */
static void
add_system_dirs (GPtrArray *dirs)
{
  Dl_info dl;

  if (dladdr != NULL && dladdr ((void *) getpid, &dl) != 0 && dl.dli_fname != NULL && g_path_is_absolute (dl.dli_fname))
    {
      g_autofree char *dir = g_path_get_dirname (dl.dli_fname);

      g_ptr_array_add (dirs, g_strdup (dir));
      if (g_str_has_prefix (dir, "/lib/"))
        g_ptr_array_add (dirs, g_strconcat ("/usr", dir, NULL));
    }
  for (const char * const *d = (const char * const[]) { "/lib64", "/usr/lib64", "/lib", "/usr/lib",
                                                        "/usr/local/lib", NULL }; *d != NULL; d++)
    g_ptr_array_add (dirs, g_strdup (*d));
}

/* The file the loader would open for DT_NEEDED @name of the object at
 * @object_path (@info its dynamic section): DT_RPATH (without
 * DT_RUNPATH), LD_LIBRARY_PATH, DT_RUNPATH, then our module path, then
 * the file of that name this process has loaded, then the system
 * directories. (transfer full) (nullable) */
static char *
find_library (const char        *name,
              const char        *object_path,
              const DynamicInfo *info,
              GPtrArray         *module_dirs,
              GHashTable        *master_objects)
{
  g_autofree char *origin = g_path_get_dirname (object_path);
  g_autoptr(GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
  const char *ld_library_path = g_getenv ("LD_LIBRARY_PATH");
  const char *loaded;

  if (info->runpath->len == 0)
    for (guint i = 0; i < info->rpath->len; i++)
      g_ptr_array_add (dirs, expand_origin (g_ptr_array_index (info->rpath, i), origin));
  if (ld_library_path != NULL)
    {
      g_auto(GStrv) parts = g_strsplit (ld_library_path, ":", -1);

      for (guint i = 0; parts[i] != NULL; i++)
        if (g_path_is_absolute (parts[i]))
          g_ptr_array_add (dirs, g_strdup (parts[i]));
    }
  for (guint i = 0; i < info->runpath->len; i++)
    g_ptr_array_add (dirs, expand_origin (g_ptr_array_index (info->runpath, i), origin));
  for (guint i = 0; i < module_dirs->len; i++)
    g_ptr_array_add (dirs, g_strdup (g_ptr_array_index (module_dirs, i)));

  for (guint i = 0; i < dirs->len; i++)
    {
      g_autofree char *path = NULL;

      if (g_ptr_array_index (dirs, i) == NULL)
        continue;
      path = g_build_filename (g_ptr_array_index (dirs, i), name, NULL);
      if (is_native_object (path))
        return g_steal_pointer (&path);
    }
  loaded = g_hash_table_lookup (master_objects, name);
  if (loaded != NULL && is_native_object (loaded))
    return g_strdup (loaded);

  g_ptr_array_set_size (dirs, 0);
  add_system_dirs (dirs);
  for (guint i = 0; i < dirs->len; i++)
    {
      g_autofree char *path = g_build_filename (g_ptr_array_index (dirs, i), name, NULL);

      if (is_native_object (path))
        return g_steal_pointer (&path);
    }
  return NULL;
}

/* Serving from our module path ----------------------------------------- */

typedef struct
{
  const char         *module;
  GPtrArray          *module_dirs;    /* (unowned) */
  GHashTable         *have;           /* (owned) the requester's libraries */
  GHashTable         *master_objects; /* (owned) name -> path of what we loaded */
  GHashTable         *visited;        /* (owned) library names handled */
  MitogenModuleReply *reply;          /* (unowned) libraries are appended as found */
  guint64             budget;         /* bytes the files may still take */
  guint64             max_size;
} Collect;

/* Reads @path whole, into the reply's budget. */
static GBytes *
read_bounded (Collect     *collect,
              const char  *path,
              GError     **error)
{
  g_autofree char *contents = NULL;
  struct stat st;
  gsize len;

  if (stat (path, &st) < 0)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND, "module '%s': cannot read %s: %s",
                   collect->module, path, g_strerror (errno));
      return NULL;
    }
  if ((guint64) st.st_size > collect->budget)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "module '%s': its files exceed the context's max_message_size (%" G_GUINT64_FORMAT
                   "): %s alone is %" G_GUINT64_FORMAT " bytes; connect it with a larger max_message_size",
                   collect->module, collect->max_size, path, (guint64) st.st_size);
      return NULL;
    }
  if (!g_file_get_contents (path, &contents, &len, error))
    {
      g_prefix_error (error, "module '%s': ", collect->module);
      return NULL;
    }
  if (len > collect->budget)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "module '%s': its files exceed the context's max_message_size (%" G_GUINT64_FORMAT
                   "): connect it with a larger max_message_size", collect->module, collect->max_size);
      return NULL;
    }
  collect->budget -= len;
  return g_bytes_new_take (g_steal_pointer (&contents), len);
}

/* The libraries @path (its bytes @bytes) needs that the requester lacks,
 * each after its own (a post-order walk), into collect->reply. */
static gboolean
collect_needed (Collect     *collect,
                const char  *path,
                GBytes      *bytes,
                guint        depth,
                GError     **error)
{
  DynamicInfo info;
  gboolean ok = TRUE;

  dynamic_info_init (&info);
  /* Not an ELF object we can read: sent as it is, the child's dlopen ()
   * says what is wrong with it. */
  if (!elf_read_dynamic (bytes, &info))
    {
      g_debug ("module '%s': %s has no readable dynamic section; sent without libraries", collect->module, path);
      dynamic_info_clear (&info);
      return TRUE;
    }
  for (guint i = 0; ok && i < info.needed->len; i++)
    {
      const char *name = g_ptr_array_index (info.needed, i);
      g_autofree char *found = NULL;
      g_autoptr(GBytes) lib = NULL;
      g_autofree char *sha256 = NULL;

      if (g_hash_table_contains (collect->visited, name))
        continue;
      g_hash_table_add (collect->visited, g_strdup (name));
      if (g_hash_table_contains (collect->have, name))
        {
          g_ptr_array_add (collect->reply->present, g_strdup (name));
          continue;
        }
      if (strchr (name, '/') != NULL || strlen (name) > MITOGEN_MODULE_FILE_NAME_MAX)
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                       "module '%s': %s needs the library \"%s\" by path; only libraries named "
                       "by a plain soname can be sent", collect->module, path, name);
          ok = FALSE;
          break;
        }
      if (depth >= DEPTH_MAX || collect->reply->files->len + 1 >= MITOGEN_MODULE_FILES_MAX)
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                       "module '%s' needs more than %d libraries the context lacks, or a tree deeper than %d",
                       collect->module, MITOGEN_MODULE_FILES_MAX - 1, DEPTH_MAX);
          ok = FALSE;
          break;
        }
      found = find_library (name, path, &info, collect->module_dirs, collect->master_objects);
      if (found == NULL)
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                       "module '%s' needs %s (for %s), which the context lacks and the master cannot find",
                       collect->module, name, path);
          ok = FALSE;
          break;
        }
      lib = read_bounded (collect, found, error);
      if (lib == NULL || !collect_needed (collect, found, lib, depth + 1, error))
        {
          ok = FALSE;
          break;
        }
      sha256 = mitogen_sha256_hex_of_bytes (lib);
      g_ptr_array_add (collect->reply->files, mitogen_module_file_new (name, sha256, lib));
    }
  dynamic_info_clear (&info);
  return ok;
}

/* Worker thread: the module and its libraries from @dirs. NULL without
 * an error when no directory holds it. */
static MitogenModuleReply *
serve_from_dirs (GPtrArray                  *dirs,
                 const MitogenModuleRequest *request,
                 MitogenRouter              *router,
                 GError                    **error)
{
  g_autofree char *file = g_strconcat (request->name, ".so", NULL);
  g_autofree char *path = NULL;
  g_autoptr(MitogenModuleReply) reply = mitogen_module_reply_new ();
  g_autoptr(GBytes) bytes = NULL;
  g_autofree char *sha256 = NULL;
  Collect collect = { 0 };
  gboolean ok;

  for (guint i = 0; i < dirs->len && path == NULL; i++)
    {
      g_autofree char *candidate = g_build_filename (g_ptr_array_index (dirs, i), file, NULL);

      if (g_file_test (candidate, G_FILE_TEST_IS_REGULAR))
        path = g_steal_pointer (&candidate);
    }
  if (path == NULL)
    return NULL;

  collect.module = request->name;
  collect.module_dirs = dirs;
  collect.max_size = request->max_size != 0 ? request->max_size : MITOGEN_DEFAULT_MAX_MESSAGE_SIZE;
  collect.budget = collect.max_size;
  collect.reply = reply;
  collect.have = g_hash_table_new (g_str_hash, g_str_equal);
  for (gsize i = 0; i < request->n_have; i++)
    g_hash_table_add (collect.have, (gpointer) request->have[i]);
  collect.visited = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  collect.master_objects = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  dl_iterate_phdr (on_master_object, collect.master_objects);

  bytes = read_bounded (&collect, path, error);
  ok = bytes != NULL && collect_needed (&collect, path, bytes, 0, error);
  g_hash_table_unref (collect.have);
  g_hash_table_unref (collect.visited);
  g_hash_table_unref (collect.master_objects);
  if (!ok)
    return NULL;
  sha256 = mitogen_sha256_hex_of_bytes (bytes);
  g_ptr_array_add (reply->files, mitogen_module_file_new (file, sha256, bytes));
  reply->origin = mitogen_router_get_context_id (router);
  return g_steal_pointer (&reply);
}

/* Forwarding and the cache ---------------------------------------------- */

/* work_lock held. @request answered from the cache, or NULL when the
 * cached answer does not fit it: it did not send a library this child
 * lacks. */
static MitogenModuleReply *
from_cache (ModuleState                *state,
            const MitogenModuleRequest *request,
            MitogenRouter              *router)
{
  CacheEntry *entry = g_hash_table_lookup (state->cache, request->name);
  g_autoptr(GHashTable) have = NULL;
  MitogenModuleReply *reply;
  GHashTableIter iter;
  gpointer name;

  if (entry == NULL)
    return NULL;
  have = g_hash_table_new (g_str_hash, g_str_equal);
  for (gsize i = 0; i < request->n_have; i++)
    g_hash_table_add (have, (gpointer) request->have[i]);
  g_hash_table_iter_init (&iter, entry->present);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    if (!g_hash_table_contains (have, name))
      return NULL;

  reply = mitogen_module_reply_new ();
  for (guint i = 0; i < entry->reply->files->len; i++)
    {
      const MitogenModuleFile *file = g_ptr_array_index (entry->reply->files, i);

      if (i + 1 < entry->reply->files->len && g_hash_table_contains (have, file->name))
        g_ptr_array_add (reply->present, g_strdup (file->name));
      else
        g_ptr_array_add (reply->files, mitogen_module_file_new (file->name, file->sha256, file->data));
    }
  for (guint i = 0; i < entry->reply->present->len; i++)
    g_ptr_array_add (reply->present, g_strdup (g_ptr_array_index (entry->reply->present, i)));
  reply->origin = entry->reply->origin;
  reply->cached = TRUE;
  reply->cached_by = mitogen_router_get_context_id (router);
  return reply;
}

/* work_lock held: keeps @reply (whose hashes were checked) for the next
 * child, forgetting the oldest entries beyond CACHE_MAX_BYTES. */
static void
cache_insert (ModuleState        *state,
              const char         *module,
              MitogenModuleReply *reply)
{
  CacheEntry *entry = g_new0 (CacheEntry, 1);
  char *key = g_strdup (module);
  gpointer old_key;
  CacheEntry *old;

  entry->reply = reply;
  entry->present = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < reply->present->len; i++)
    g_hash_table_add (entry->present, g_strdup (g_ptr_array_index (reply->present, i)));
  for (guint i = 0; i < reply->files->len; i++)
    entry->bytes += g_bytes_get_size (((MitogenModuleFile *) g_ptr_array_index (reply->files, i))->data);

  if (g_hash_table_lookup_extended (state->cache, module, &old_key, (gpointer *) &old))
    {
      state->cache_bytes -= old->bytes;
      g_queue_remove (&state->cache_order, old_key);
      g_hash_table_remove (state->cache, module);
    }
  if (entry->bytes > CACHE_MAX_BYTES)
    {
      cache_entry_free (entry);
      g_free (key);
      return;
    }
  while (state->cache_bytes + entry->bytes > CACHE_MAX_BYTES && !g_queue_is_empty (&state->cache_order))
    {
      const char *oldest = g_queue_pop_head (&state->cache_order);
      CacheEntry *evicted = g_hash_table_lookup (state->cache, oldest);

      state->cache_bytes -= evicted->bytes;
      g_hash_table_remove (state->cache, oldest);
    }
  g_hash_table_insert (state->cache, key, entry);
  g_queue_push_tail (&state->cache_order, key);
  state->cache_bytes += entry->bytes;
}

/* Worker thread, work_lock held: asks our parent for @request's module
 * on the child's behalf (with its list, within both our limits). The
 * answer is checked, kept, and returned; a refusal from above is passed
 * down as it is, with the name of the context that refused
 * (@refused_by). */
static MitogenModuleReply *
forward (ModuleState                *state,
         const MitogenModuleRequest *request,
         MitogenRouter              *router,
         char                      **refused_by,
         GError                    **error)
{
  g_autoptr(MitogenReceiver) receiver = NULL;
  g_autoptr(MitogenMessage) upward = NULL;
  g_autoptr(MitogenMessage) answer = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) local_error = NULL;
  MitogenModuleReply *reply;
  guint64 own_max, max_size = request->max_size;
  gint64 parent = mitogen_parent_id ();

  g_mutex_lock (&state->lock);
  own_max = state->own_max;
  g_mutex_unlock (&state->lock);

  if (own_max != 0 && (max_size == 0 || own_max < max_size))
    max_size = own_max;
  receiver = mitogen_receiver_new (router, 0, FALSE, NULL);
  upward = mitogen_message_new ((guint32) parent, MITOGEN_HANDLE_LOAD_MODULE,
                                mitogen_protocol_module_request_new (request->name, request->have, max_size));
  mitogen_message_set_reply_to (upward, mitogen_receiver_get_handle (receiver));
  if (!mitogen_router_route (router, upward, error))
    return NULL;
  answer = mitogen_receiver_get (receiver, FORWARD_TIMEOUT_SECONDS, &local_error);
  if (answer != NULL)
    value = mitogen_message_get_value (answer, &local_error);
  if (value == NULL)
    {
      const char *domain = mitogen_error_get_remote_domain (local_error);

      if (g_error_matches (local_error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL))
        g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                     "module '%s' is not on the master's module path (the master serves no function "
                     "modules: it has no mitogen_router_add_module_path ())", request->name);
      else if (domain != NULL)
        {
          g_set_error_literal (error, g_quark_from_string (domain), mitogen_error_get_remote_code (local_error),
                               mitogen_error_get_remote_message (local_error));
          *refused_by = g_strdup (mitogen_error_get_context_name (local_error));
        }
      else
        g_propagate_prefixed_error (error, g_steal_pointer (&local_error), "module '%s': ", request->name);
      return NULL;
    }
  reply = mitogen_protocol_module_reply_parse (value, request->name, error);
  if (reply == NULL)
    return NULL;
  for (guint i = 0; i < reply->files->len; i++)
    {
      const MitogenModuleFile *file = g_ptr_array_index (reply->files, i);

      if (!mitogen_modules_check_sha256 (file->data, file->sha256))
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                       "module '%s': %s arrived damaged in context '%s' (its SHA-256 is not %s)",
                       request->name, file->name, mitogen_router_get_name (router), file->sha256);
          mitogen_module_reply_free (reply);
          return NULL;
        }
    }
  return reply;
}

/* A copy of @reply for another requester (the cache keeps its own). */
static MitogenModuleReply *
reply_copy (const MitogenModuleReply *reply)
{
  MitogenModuleReply *copy = mitogen_module_reply_new ();

  for (guint i = 0; i < reply->files->len; i++)
    {
      const MitogenModuleFile *file = g_ptr_array_index (reply->files, i);

      g_ptr_array_add (copy->files, mitogen_module_file_new (file->name, file->sha256, file->data));
    }
  for (guint i = 0; i < reply->present->len; i++)
    g_ptr_array_add (copy->present, g_strdup (g_ptr_array_index (reply->present, i)));
  copy->origin = reply->origin;
  copy->cached = reply->cached;
  copy->cached_by = reply->cached_by;
  return copy;
}

/* The worker ----------------------------------------------------------- */

/* A worker thread: one request, start to finish. */
static void
answer_request (gpointer data,
                gpointer unused)
{
  Job *job = data;
  ModuleState *state = job->state;
  MitogenMessage *message = job->message;
  MitogenRouter *router = mitogen_message_get_router (message);
  g_autoptr(MitogenModuleReply) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *refused_by = NULL;
  MitogenModuleRequest request;
  const char *how = NULL;
  guint64 bytes = 0;

  g_mutex_lock (&state->lock);
  for (guint i = 0; i < state->dirs->len; i++)
    g_ptr_array_add (dirs, g_strdup (g_ptr_array_index (state->dirs, i)));
  g_mutex_unlock (&state->lock);

  g_mutex_lock (&state->work_lock);
  if (!mitogen_protocol_module_request_parse (mitogen_message_peek_value (message), &request, &error))
    {
      g_info ("LOAD_MODULE from context %u refused: %s", message->header.src_id, error->message);
      reply_error (message, error, NULL);
      goto out;
    }

  /* Our own module path first; an intermediate without the module asks
   * further up. */
  if (dirs->len > 0)
    {
      reply = serve_from_dirs (dirs, &request, router, &error);
      how = "served from the module path";
    }
  if (reply == NULL && error == NULL && mitogen_router_get_is_master (router))
    {
      g_autoptr(GString) list = g_string_new (NULL);

      for (guint i = 0; i < dirs->len; i++)
        g_string_append_printf (list, "%s%s", i > 0 ? ", " : "", (const char *) g_ptr_array_index (dirs, i));
      g_set_error (&error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                   "module '%s' is not on the master's module path (dirs: %s)", request.name,
                   list->len > 0 ? list->str : "none");
    }
  if (reply == NULL && error == NULL)
    {
      reply = from_cache (state, &request, router);
      how = "answered from the cache";
    }
  if (reply == NULL && error == NULL)
    {
      MitogenModuleReply *fresh = forward (state, &request, router, &refused_by, &error);

      if (fresh != NULL)
        {
          reply = reply_copy (fresh);
          cache_insert (state, request.name, fresh);
          how = "fetched from our parent";
        }
    }
  if (reply != NULL)
    {
      for (guint i = 0; i < reply->files->len; i++)
        bytes += g_bytes_get_size (((MitogenModuleFile *) g_ptr_array_index (reply->files, i))->data);
      /* Said before it is sent: whoever reads the log (test-modules
       * counts these) sees it before the child can have the answer. */
      g_debug ("LOAD_MODULE '%s' for context %u: %s: %u files, %" G_GUINT64_FORMAT " bytes",
               request.name, message->header.src_id, how, reply->files->len, bytes);
      reply_files (message, reply, request.name, request.max_size, &error);
    }
  if (error != NULL)
    {
      g_debug ("LOAD_MODULE '%s' for context %u refused: %s", request.name, message->header.src_id, error->message);
      reply_error (message, error, refused_by);
    }
  mitogen_protocol_module_request_clear (&request);

out:
  g_mutex_unlock (&state->work_lock);
  state_unref (job->state);
  /* Last: the message holds the router, which holds the state. */
  mitogen_message_unref (job->message);
  g_free (job);
}

/* Any thread: the pool every router's requests run on. */
static GThreadPool *
worker_pool (void)
{
  static GThreadPool *pool;

  if (g_once_init_enter (&pool))
    g_once_init_leave (&pool, g_thread_pool_new (answer_request, NULL, 4, FALSE, NULL));
  return pool;
}

/* Broker thread: never blocks; the worker does everything. */
static void
on_load_module (MitogenRouter  *router,
                MitogenMessage *message,
                gpointer        user_data)
{
  ModuleState *state = user_data;
  Job *job;

  if (mitogen_message_is_dead (message))
    return;
  mitogen_assert_broker_thread (mitogen_router_get_broker (router));
  /* Modules travel down: our parents have them already. */
  if (!mitogen_router_get_is_master (router) && mitogen_router_is_privileged (router, message))
    {
      g_autoptr(GError) error = g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                                             "Refused LOAD_MODULE from context %u: only children ask for modules",
                                             message->header.auth_id);

      g_info ("%s", error->message);
      reply_error (message, error, NULL);
      return;
    }
  job = g_new0 (Job, 1);
  job->state = state_ref (state);
  job->message = mitogen_message_ref (message);
  g_thread_pool_push (worker_pool (), job, NULL);
}

/* Any thread: the LOAD_MODULE handler, once per router. */
static void
ensure_handler (MitogenRouter *router,
                ModuleState   *state)
{
  gboolean add;

  g_mutex_lock (&state->lock);
  add = !state->handler_added;
  state->handler_added = TRUE;
  g_mutex_unlock (&state->lock);
  if (add)
    mitogen_router_add_handler_full (router, MITOGEN_HANDLE_LOAD_MODULE, TRUE, MITOGEN_NO_RESPONDENT,
                                     on_load_module, state_ref (state), state_unref);
}

void
mitogen_modules_serve (MitogenRouter *router,
                       guint64        max_message_size)
{
  ModuleState *state = state_get (router);

  g_mutex_lock (&state->lock);
  state->own_max = max_message_size;
  g_mutex_unlock (&state->lock);
  ensure_handler (router, state);
  mitogen_modules_register_builtin ();
  state_unref (state);
}

/**
 * mitogen_router_add_module_path:
 * @self: a router
 * @dir: (type filename): a directory holding function modules
 *
 * Appends @dir to the directories this router serves function modules
 * from (the seed's module forwarding, for shared objects): a context
 * started by this router that is asked to run `NAME.FUNC` and does not
 * have it asks for the module `NAME`, which is the file `NAME.so` of the
 * first directory holding it, and is sent that file with the shared
 * libraries it needs that the context has not loaded (resolved here, as
 * the dynamic loader would: DT_RPATH, `LD_LIBRARY_PATH`, DT_RUNPATH,
 * these directories, what this process has loaded, the system
 * directories). Contexts in between keep what they passed on for their
 * next child. Module names are plain words (`[a-z0-9_]`), never paths.
 * See [struct@Mitogen.FunctionModule] for writing a module.
 *
 * A relative @dir is taken from the current directory now. Modules load
 * only in contexts that can `dlopen()`: the dynamically linked agent
 * (`agent=dynamic`) and programs that call `mitogen_init()`. A router whose
 * default agent is unset ([method@Mitogen.Router.set_default_agent] never
 * called, or called with %NULL) gets `dynamic` as its default by this
 * call, so `mitogen_router_local()` and the other connects start contexts
 * that can load modules; a default set explicitly is kept. Any thread.
 */
void
mitogen_router_add_module_path (MitogenRouter *self,
                                const char    *dir)
{
  g_autofree char *absolute = NULL;
  ModuleState *state;
  gboolean known = FALSE;

  g_return_if_fail (MITOGEN_IS_ROUTER (self));
  g_return_if_fail (dir != NULL && dir[0] != '\0');

  absolute = g_canonicalize_filename (dir, NULL);
  state = state_get (self);
  g_mutex_lock (&state->lock);
  for (guint i = 0; i < state->dirs->len && !known; i++)
    known = strcmp (g_ptr_array_index (state->dirs, i), absolute) == 0;
  if (!known)
    g_ptr_array_add (state->dirs, g_steal_pointer (&absolute));
  g_mutex_unlock (&state->lock);
  ensure_handler (self, state);
  state_unref (state);
  mitogen_router_set_default_agent_if_unset (self, "dynamic");
}

/**
 * mitogen_router_get_module_path:
 * @self: a router
 *
 * The directories function modules are served from, in the order they
 * are searched ([method@Mitogen.Router.add_module_path]). Any thread.
 *
 * Returns: (transfer full) (array zero-terminated=1) (element-type filename):
 *   the directories, absolute; empty when there are none
 */
char **
mitogen_router_get_module_path (MitogenRouter *self)
{
  ModuleState *state;
  GPtrArray *dirs;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);

  state = state_get (self);
  dirs = g_ptr_array_new ();
  g_mutex_lock (&state->lock);
  for (guint i = 0; i < state->dirs->len; i++)
    g_ptr_array_add (dirs, g_strdup (g_ptr_array_index (state->dirs, i)));
  g_mutex_unlock (&state->lock);
  g_ptr_array_add (dirs, NULL);
  state_unref (state);
  return (char **) g_ptr_array_free (dirs, FALSE);
}
