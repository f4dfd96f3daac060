/* mitogen-modules.c — function modules: the child's half
 *
 * A call of MODULE.FUNC that is not registered makes the agent ask its
 * parent for MODULE (LOAD_MODULE, docs/protocol.md) on the thread running
 * the call, which blocks meanwhile (the broker thread keeps routing). The
 * request lists the shared objects this process has loaded, so the parent
 * sends only the libraries we lack. Each file's SHA-256 is checked, the
 * files are written into a fresh directory that allows exec, the
 * libraries are loaded (RTLD_GLOBAL, dependencies first), then the module
 * (RTLD_LOCAL); its table (MITOGEN_DEFINE_FUNCTION_MODULE ()) is
 * registered as MODULE.NAME, and the files and their directory are
 * removed: what is mapped stays mapped. A module is loaded once per
 * process and never unloaded.
 *
 * One load runs at a time (load_lock, held while the files travel): calls
 * run one at a time on the main thread, but a detached call's thread may
 * also serve one.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-modules"

#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "mitogen-modules-private.h"
#include "mitogen-broker-private.h"
#include "mitogen-message-private.h"
#include "mitogen-protocol-private.h"
#include "mitogen-router-private.h"
#include "mitogen-sha256-private.h"

/* Weak: the static stock agent links none of the loader (it cannot
 * dlopen () anyway, and says so: mitogen_modules_set_static_agent ()). */
#pragma weak dlopen
#pragma weak dlsym
#pragma weak dlerror

/* Long enough for the largest reply over a slow link. */
#define LOAD_TIMEOUT_SECONDS 300.0
#define MAX_FUNCTIONS        1024
#define FUNCTION_NAME_MAX    64

/* A module this process loaded (or tried to: @error). */
typedef struct
{
  char      *name;
  GError    *error;       /* (owned) (nullable) loaded, but unusable: said again to every caller */
  GPtrArray *functions;   /* (owned) (element-type utf8) registered, without the module prefix */
  GPtrArray *files;       /* (owned) (element-type utf8) what came: libraries, then the module */
  guint64    bytes;       /* how many bytes came */
  guint32    origin;      /* the context whose module path had it */
  gboolean   cached;
  guint32    cached_by;   /* the intermediate that answered from its cache */
  gint64     load_usec;
} LoadedModule;

static gint static_agent;         /* (atomic) */
static GMutex load_lock;          /* held for a whole load; guards what follows */
static GHashTable *loaded;        /* (owned) (nullable) name -> LoadedModule */
static char *exec_base;           /* (owned) (nullable) a directory where we may write and exec */

void
mitogen_modules_set_static_agent (void)
{
  g_atomic_int_set (&static_agent, TRUE);
}

static void
loaded_module_free (gpointer data)
{
  LoadedModule *module = data;

  g_free (module->name);
  g_clear_error (&module->error);
  g_ptr_array_unref (module->functions);
  g_ptr_array_unref (module->files);
  g_free (module);
}

/* SHA-256 ------------------------------------------------------------- */

gboolean
mitogen_modules_check_sha256 (GBytes     *data,
                              const char *sha256)
{
  g_autofree char *actual = mitogen_sha256_hex_of_bytes (data);

  return strcmp (actual, sha256) == 0;
}

/* What we have loaded ------------------------------------------------- */

/* The loader's name for an object: its DT_SONAME, read from its dynamic
 * section in memory. The loader relocates the section's addresses in
 * place on most CPUs, not on all: an address below the load base is
 * still the file's. Everything is checked against the object's segments. */
static char *
object_soname (const struct dl_phdr_info *info)
{
  const ElfW(Dyn) *dyn = NULL;
  gsize n_dyn = 0;
  ElfW(Addr) strtab = 0;
  guint64 soname = G_MAXUINT64;

  for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
      {
        dyn = (const ElfW(Dyn) *) (info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        n_dyn = info->dlpi_phdr[i].p_memsz / sizeof (ElfW(Dyn));
      }
  for (gsize i = 0; dyn != NULL && i < n_dyn && i < 4096 && dyn[i].d_tag != DT_NULL; i++)
    {
      if (dyn[i].d_tag == DT_STRTAB)
        strtab = dyn[i].d_un.d_ptr;
      else if (dyn[i].d_tag == DT_SONAME)
        soname = dyn[i].d_un.d_val;
    }
  if (strtab == 0 || soname == G_MAXUINT64)
    return NULL;
  if (strtab < info->dlpi_addr)
    strtab += info->dlpi_addr;
  if (soname > (guint64) (UINTPTR_MAX - strtab))
    return NULL;
  /* The name must lie in a loaded segment; it ends there at the latest. */
  for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++)
    {
      const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
      ElfW(Addr) start = info->dlpi_addr + ph->p_vaddr;
      ElfW(Addr) at = strtab + soname;

      if (ph->p_type == PT_LOAD && at >= start && at < start + ph->p_filesz)
        {
          gsize len = strnlen ((const char *) at, MIN ((gsize) (start + ph->p_filesz - at),
                                                        (gsize) MITOGEN_MODULE_FILE_NAME_MAX + 1));

          if (len == 0 || len > MITOGEN_MODULE_FILE_NAME_MAX)
            return NULL;
          return g_strndup ((const char *) at, len);
        }
    }
  return NULL;
}

/* Runs under the loader's lock: copies, no calls back into it. Only
 * objects the loader opened from a file (their name has a slash): not
 * the program, not the vDSO. */
static int
on_loaded_object (struct dl_phdr_info *info,
                  size_t               size,
                  void                *user_data)
{
  GPtrArray *names = user_data;
  const char *slash = info->dlpi_name != NULL ? strrchr (info->dlpi_name, '/') : NULL;
  char *soname;

  if (slash == NULL || slash[1] == '\0' || strlen (slash + 1) > MITOGEN_MODULE_FILE_NAME_MAX)
    return 0;
  g_ptr_array_add (names, g_strdup (slash + 1));
  soname = object_soname (info);
  if (soname != NULL)
    g_ptr_array_add (names, soname);
  return 0;
}

char **
mitogen_modules_loaded_sonames (void)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  GPtrArray *unique = g_ptr_array_new ();

  dl_iterate_phdr (on_loaded_object, names);
  for (guint i = 0; i < names->len && unique->len < MITOGEN_MODULE_HAVE_MAX; i++)
    {
      char *name = g_ptr_array_index (names, i);
      gboolean plain = TRUE;

      /* Only what the request may carry. */
      for (const char *c = name; *c != '\0' && plain; c++)
        plain = g_ascii_isalnum (*c) || *c == '.' || *c == '_' || *c == '+' || *c == '-';
      if (plain && strcmp (name, ".") != 0 && strcmp (name, "..") != 0 && g_hash_table_add (seen, name))
        g_ptr_array_add (unique, g_strdup (name));
    }
  g_ptr_array_add (unique, NULL);
  return (char **) g_ptr_array_free (unique, FALSE);
}

/* Where the files go ------------------------------------------------- */

/* TRUE if files written in @dir may be mapped executable: a mount flag
 * (noexec) or a security module may forbid it; mmap () of a written file
 * with PROT_EXEC asks what dlopen () will. */
static gboolean
dir_allows_exec (const char *dir)
{
  g_autofree char *probe = g_build_filename (dir, "probe", NULL);
  static const guint8 page[4096];
  gboolean ok = FALSE;
  void *map;
  int fd;

  fd = open (probe, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
  if (fd < 0)
    return FALSE;
  if (write (fd, page, sizeof page) == (ssize_t) sizeof page)
    {
      map = mmap (NULL, sizeof page, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
      if (map != MAP_FAILED)
        {
          munmap (map, sizeof page);
          ok = TRUE;
        }
    }
  close (fd);
  unlink (probe);
  return ok;
}

/* load_lock held. A fresh directory of ours, 0700, in the first
 * candidate where we may write and exec: $XDG_RUNTIME_DIR, /dev/shm,
 * $TMPDIR, /tmp, /var/tmp, $HOME (the bootstrap's order). The base found
 * is kept for the next load. */
static char *
make_load_dir (GError **error)
{
  const char *candidates[] = {
    g_getenv ("XDG_RUNTIME_DIR"), "/dev/shm", g_getenv ("TMPDIR"), "/tmp", "/var/tmp", g_getenv ("HOME"),
  };
  g_autoptr(GString) tried = g_string_new (NULL);

  for (int pass = 0; pass < 2; pass++)
    for (gsize i = 0; i < G_N_ELEMENTS (candidates); i++)
      {
        const char *base = pass == 0 ? exec_base : candidates[i];
        g_autofree char *template = NULL;
        struct statvfs vfs;

        if (pass == 0 && i > 0)
          break;
        if (base == NULL || !g_path_is_absolute (base))
          continue;
        if (statvfs (base, &vfs) == 0 && (vfs.f_flag & (ST_NOEXEC | ST_RDONLY)) != 0)
          {
            g_string_append_printf (tried, "%s%s (%s)", tried->len > 0 ? ", " : "", base,
                                    (vfs.f_flag & ST_RDONLY) ? "read-only" : "noexec");
            continue;
          }
        template = g_build_filename (base, ".mitogen-module.XXXXXX", NULL);
        if (mkdtemp (template) == NULL)
          {
            if (pass == 1)
              g_string_append_printf (tried, "%s%s (%s)", tried->len > 0 ? ", " : "", base, g_strerror (errno));
            continue;
          }
        if (!dir_allows_exec (template))
          {
            rmdir (template);
            g_string_append_printf (tried, "%s%s (cannot map files executable)", tried->len > 0 ? ", " : "", base);
            continue;
          }
        if (exec_base == NULL || strcmp (exec_base, base) != 0)
          {
            g_free (exec_base);
            exec_base = g_strdup (base);
          }
        return g_steal_pointer (&template);
      }
  g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
               "no directory where this context may write and run files (tried: %s)",
               tried->len > 0 ? tried->str : "none");
  return NULL;
}

static gboolean
write_file (const char  *path,
            GBytes      *data,
            GError     **error)
{
  gsize len, done = 0;
  const guint8 *bytes = g_bytes_get_data (data, &len);
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);

  if (fd < 0)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED, "cannot create %s: %s",
                   path, g_strerror (errno));
      return FALSE;
    }
  while (done < len)
    {
      ssize_t n = write (fd, bytes + done, len - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved_errno = n < 0 ? errno : ENOSPC;

          close (fd);
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED, "cannot write %s: %s",
                       path, g_strerror (saved_errno));
          return FALSE;
        }
      done += (gsize) n;
    }
  close (fd);
  return TRUE;
}

/* Asking the parent ------------------------------------------------- */

/* The parent's refusal as our own error: its code when it is ours, its
 * message as it is (it names the module and the reason). */
static GError *
error_from_reply (GError     *remote,
                  const char *module)
{
  const char *domain = mitogen_error_get_remote_domain (remote);
  const char *message = mitogen_error_get_remote_message (remote);
  int code = mitogen_error_get_remote_code (remote);

  if (g_error_matches (remote, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL))
    return g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                        "module '%s' is not on the master's module path (the master serves no "
                        "function modules: it has no mitogen_router_add_module_path ())", module);
  if (domain != NULL && message != NULL && g_strcmp0 (domain, g_quark_to_string (MITOGEN_ERROR)) == 0)
    return g_error_new_literal (MITOGEN_ERROR, code, message);
  if (message != NULL)
    return g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND, "module '%s': %s", module, message);
  return g_error_new (MITOGEN_ERROR, remote->code == MITOGEN_ERROR_TIMEOUT ? MITOGEN_ERROR_TIMEOUT : MITOGEN_ERROR_NOT_FOUND,
                      "module '%s': %s", module, remote->message);
}

/* Not the broker thread: LOAD_MODULE to our parent, and its answer. */
static MitogenModuleReply *
ask_parent (MitogenRouter  *router,
            const char     *module,
            guint64         max_message_size,
            GError        **error)
{
  g_autoptr(MitogenReceiver) receiver = NULL;
  g_autoptr(MitogenMessage) request = NULL;
  g_autoptr(MitogenMessage) reply = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) local_error = NULL;
  g_auto(GStrv) have = mitogen_modules_loaded_sonames ();
  gint64 parent = mitogen_parent_id ();

  if (parent < 0)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                   "module '%s': the master loads no modules itself", module);
      return NULL;
    }
  receiver = mitogen_receiver_new (router, 0, FALSE, NULL);
  request = mitogen_message_new ((guint32) parent, MITOGEN_HANDLE_LOAD_MODULE,
                                 mitogen_protocol_module_request_new (module, (const char * const *) have,
                                                                      max_message_size));
  mitogen_message_set_reply_to (request, mitogen_receiver_get_handle (receiver));
  if (!mitogen_router_route (router, request, error))
    return NULL;
  reply = mitogen_receiver_get (receiver, LOAD_TIMEOUT_SECONDS, &local_error);
  if (reply != NULL)
    value = mitogen_message_get_value (reply, &local_error);
  if (value == NULL)
    {
      g_propagate_error (error, error_from_reply (local_error, module));
      return NULL;
    }
  return mitogen_protocol_module_reply_parse (value, module, error);
}

/* Loading ------------------------------------------------------------- */

/* TRUE if @name is a function name in a module: a plain word. */
static gboolean
function_name_is_valid (const char *name)
{
  gsize len = name != NULL ? strlen (name) : 0;

  if (len == 0 || len > FUNCTION_NAME_MAX)
    return FALSE;
  for (const char *c = name; *c != '\0'; c++)
    if (!g_ascii_isalnum (*c) && *c != '_')
      return FALSE;
  return TRUE;
}

/* Registers the module's table as MODULE.NAME; a name this process
 * has registered already keeps its function. */
static gboolean
register_table (LoadedModule                 *module,
                const char                   *file,
                const MitogenFunctionModule  *info,
                GError                      **error)
{
  if (info == NULL || info->abi_version != MITOGEN_FUNCTION_MODULE_ABI)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                   "module '%s' (%s) was built for function module ABI %u, this context loads ABI %u",
                   module->name, file, info != NULL ? info->abi_version : 0, MITOGEN_FUNCTION_MODULE_ABI);
      return FALSE;
    }
  if (info->name == NULL || strcmp (info->name, module->name) != 0)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                   "module '%s' (%s) calls itself '%s' in MITOGEN_DEFINE_FUNCTION_MODULE ()",
                   module->name, file, info->name != NULL ? info->name : "(null)");
      return FALSE;
    }
  /* Check every row before registering any. */
  for (guint i = 0; info->functions != NULL && info->functions[i].name != NULL; i++)
    {
      const MitogenFunctionInfo *row = &info->functions[i];

      if (i >= MAX_FUNCTIONS || !function_name_is_valid (row->name) || row->func == NULL ||
          row->args_type == NULL || !g_variant_type_string_is_valid (row->args_type) ||
          row->return_type == NULL || !g_variant_type_string_is_valid (row->return_type))
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                       "module '%s' (%s): function %u of its table is invalid (a plain word, valid "
                       "GVariant types and a function are needed; at most %d functions)",
                       module->name, file, i, MAX_FUNCTIONS);
          return FALSE;
        }
    }
  for (guint i = 0; info->functions != NULL && info->functions[i].name != NULL; i++)
    {
      const MitogenFunctionInfo *row = &info->functions[i];
      g_autofree char *full = g_strconcat (module->name, ".", row->name, NULL);

      /* Never in place of a function this process has (a built-in in
       * the same namespace, or one registered by the program). */
      if (mitogen_lookup_function (full, NULL, NULL, NULL))
        {
          g_debug ("module '%s': %s is registered already: the module's is not used", module->name, full);
          continue;
        }
      mitogen_register_function (full, row->args_type, row->return_type, row->description, row->func, NULL);
      g_ptr_array_add (module->functions, g_strdup (row->name));
    }
  return TRUE;
}

/* load_lock held. Writes @reply's files into a fresh directory, loads
 * them, registers the module's functions, removes the files. FALSE with
 * @error when nothing usable was loaded; a module that was loaded but is
 * unusable gets its error recorded in @module instead. */
static gboolean
load_files (LoadedModule        *module,
            MitogenModuleReply  *reply,
            GError             **error)
{
  g_autofree char *dir = NULL;
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  gboolean ok = FALSE;
  void *handle = NULL;
  const MitogenFunctionModule *(*get_info) (void);
  void *symbol;
  const MitogenModuleFile *main_file = g_ptr_array_index (reply->files, reply->files->len - 1);

  dir = make_load_dir (error);
  if (dir == NULL)
    {
      g_prefix_error (error, "module '%s': ", module->name);
      return FALSE;
    }
  for (guint i = 0; i < reply->files->len; i++)
    {
      const MitogenModuleFile *file = g_ptr_array_index (reply->files, i);
      char *path = g_build_filename (dir, file->name, NULL);

      g_ptr_array_add (paths, path);
      if (!write_file (path, file->data, error))
        {
          g_prefix_error (error, "module '%s': ", module->name);
          goto out;
        }
    }

  /* Libraries first, in the order given (dependencies first), visible to
   * what is loaded after them; the module alone, its symbols its own. */
  for (guint i = 0; i + 1 < reply->files->len; i++)
    {
      const MitogenModuleFile *file = g_ptr_array_index (reply->files, i);

      if (dlopen (g_ptr_array_index (paths, i), RTLD_NOW | RTLD_GLOBAL) == NULL)
        {
          const char *why = dlerror ();

          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                       "module '%s' cannot be loaded here: its library %s does not load: %s",
                       module->name, file->name, why != NULL ? why : "dlopen () failed");
          goto out;
        }
    }
  handle = dlopen (g_ptr_array_index (paths, reply->files->len - 1), RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL)
    {
      const char *why = dlerror ();

      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                   "module '%s' cannot be loaded here: %s", module->name,
                   why != NULL ? why : "dlopen () failed");
      goto out;
    }
  /* Loaded (constructors ran): never again, never unloaded. */
  ok = TRUE;
  symbol = dlsym (handle, MITOGEN_FUNCTION_MODULE_ENTRY_POINT);
  get_info = (const MitogenFunctionModule *(*) (void)) symbol;
  if (symbol == NULL)
    g_set_error (&module->error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                 "module '%s' (%s) has no entry point %s (): define one with "
                 "MITOGEN_DEFINE_FUNCTION_MODULE ()", module->name, main_file->name,
                 MITOGEN_FUNCTION_MODULE_ENTRY_POINT);
  else
    register_table (module, main_file->name, get_info (), &module->error);

out:
  for (guint i = 0; i < paths->len; i++)
    unlink (g_ptr_array_index (paths, i));
  rmdir (dir);
  return ok;
}

/* The names of @module's functions, for an error message. */
static char *
list_functions (const LoadedModule *module)
{
  g_autoptr(GString) list = g_string_new (NULL);

  for (guint i = 0; i < module->functions->len; i++)
    g_string_append_printf (list, "%s%s", i > 0 ? ", " : "", (const char *) g_ptr_array_index (module->functions, i));
  return g_string_free (g_steal_pointer (&list), FALSE);
}

/* load_lock held: whether @module, loaded, serves @function. */
static gboolean
check_loaded (const LoadedModule  *module,
              const char          *function,
              GError             **error)
{
  g_autofree char *names = NULL;

  if (module->error != NULL)
    {
      g_set_error (error, module->error->domain, module->error->code, "%s (calling %s)",
                   module->error->message, function);
      return FALSE;
    }
  if (mitogen_lookup_function (function, NULL, NULL, NULL))
    return TRUE;
  names = list_functions (module);
  g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
               "No function named '%s': module '%s' has no function '%s' (it has: %s)",
               function, module->name, function + strlen (module->name) + 1,
               names[0] != '\0' ? names : "none");
  return FALSE;
}

gboolean
mitogen_modules_ensure_function (MitogenRouter  *router,
                                 const char     *function,
                                 guint64         max_message_size,
                                 GError        **error)
{
  g_autofree char *name = NULL;
  g_autoptr(MitogenModuleReply) reply = NULL;
  LoadedModule *module;
  const char *dot;
  gboolean ok;
  gint64 start;
  guint64 bytes = 0;

  if (mitogen_lookup_function (function, NULL, NULL, NULL))
    return TRUE;
  dot = strrchr (function, '.');
  if (dot == NULL)
    return TRUE;   /* not a module's: the registry says it is unknown */
  name = g_strndup (function, (gsize) (dot - function));

  if (g_atomic_int_get (&static_agent))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                   "No function named '%s' is registered, and this context runs the static stock agent, "
                   "which cannot load function modules: connect with agent=dynamic to load module '%s'",
                   function, name);
      return FALSE;
    }
  if (!mitogen_protocol_module_name_is_valid (name) || !function_name_is_valid (dot + 1))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                   "No function named '%s' is registered, and it names no function module: module and "
                   "function names are plain words ([a-z0-9_] for modules), never paths", function);
      return FALSE;
    }
  if (mitogen_broker_is_broker_thread (mitogen_router_get_broker (router)))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "%s: a module cannot be waited for on the broker thread", function);
      return FALSE;
    }

  g_mutex_lock (&load_lock);
  if (loaded == NULL)
    loaded = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, loaded_module_free);
  module = g_hash_table_lookup (loaded, name);
  if (module != NULL)
    {
      ok = check_loaded (module, function, error);
      g_mutex_unlock (&load_lock);
      return ok;
    }

  start = g_get_monotonic_time ();
  reply = ask_parent (router, name, max_message_size, error);
  if (reply == NULL)
    goto fail;
  for (guint i = 0; i < reply->files->len; i++)
    {
      const MitogenModuleFile *file = g_ptr_array_index (reply->files, i);

      if (!mitogen_modules_check_sha256 (file->data, file->sha256))
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                       "module '%s': %s arrived damaged (its SHA-256 is not %s); nothing was loaded",
                       name, file->name, file->sha256);
          goto fail;
        }
      bytes += g_bytes_get_size (file->data);
    }

  module = g_new0 (LoadedModule, 1);
  module->name = g_strdup (name);
  module->functions = g_ptr_array_new_with_free_func (g_free);
  module->files = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < reply->files->len; i++)
    g_ptr_array_add (module->files, g_strdup (((MitogenModuleFile *) g_ptr_array_index (reply->files, i))->name));
  module->bytes = bytes;
  module->origin = reply->origin;
  module->cached = reply->cached;
  module->cached_by = reply->cached_by;
  if (!load_files (module, reply, error))
    {
      loaded_module_free (module);
      goto fail;
    }
  module->load_usec = g_get_monotonic_time () - start;
  g_hash_table_insert (loaded, module->name, module);
  g_debug ("module '%s': %u files, %" G_GUINT64_FORMAT " bytes from context %u%s, loaded in %" G_GINT64_FORMAT " us",
           name, module->files->len, bytes, module->origin, module->cached ? " (through a cache)" : "",
           module->load_usec);
  ok = check_loaded (module, function, error);
  g_mutex_unlock (&load_lock);
  return ok;

fail:
  g_mutex_unlock (&load_lock);
  /* Every refusal names the function asked for. */
  if (error != NULL && *error != NULL && strstr ((*error)->message, function) == NULL)
    g_prefix_error (error, "No function named '%s': ", function);
  return FALSE;
}

/* () -> a{sa{sv}}. Main thread. What this process loaded. */
static GVariant *
fn_mitogen_modules (MitogenCall *call, GVariant *args, GError **error)
{
  GVariantBuilder modules;
  GHashTableIter iter;
  gpointer value;

  g_variant_builder_init (&modules, G_VARIANT_TYPE ("a{sa{sv}}"));
  g_mutex_lock (&load_lock);
  if (loaded != NULL)
    {
      g_hash_table_iter_init (&iter, loaded);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        {
          LoadedModule *module = value;
          GVariantBuilder info;

          g_variant_builder_init (&info, G_VARIANT_TYPE_VARDICT);
          g_variant_builder_add (&info, "{sv}", "functions",
                                 g_variant_new_strv ((const char * const *) module->functions->pdata,
                                                     module->functions->len));
          g_variant_builder_add (&info, "{sv}", "files",
                                 g_variant_new_strv ((const char * const *) module->files->pdata,
                                                     module->files->len));
          g_variant_builder_add (&info, "{sv}", "bytes", g_variant_new_uint64 (module->bytes));
          g_variant_builder_add (&info, "{sv}", "origin", g_variant_new_uint32 (module->origin));
          if (module->cached)
            g_variant_builder_add (&info, "{sv}", "cached_by", g_variant_new_uint32 (module->cached_by));
          g_variant_builder_add (&info, "{sv}", "load_usec", g_variant_new_int64 (module->load_usec));
          if (module->error != NULL)
            g_variant_builder_add (&info, "{sv}", "error", g_variant_new_string (module->error->message));
          g_variant_builder_add (&modules, "{s@a{sv}}", module->name, g_variant_builder_end (&info));
        }
    }
  g_mutex_unlock (&load_lock);
  return g_variant_builder_end (&modules);
}

void
mitogen_modules_register_builtin (void)
{
  mitogen_register_function ("mitogen.modules", "()", "a{sa{sv}}",
                             "The function modules this context loaded: functions, files, bytes, origin, cached_by",
                             fn_mitogen_modules, NULL);
}
