/* mitogen-agent-image.c — what a connect starts: this program
 * (agent=self) or the dynamic agent (agent=dynamic)
 *
 * The stock agent is one static file (mitogen-bootstrap.c ships it). The
 * two others are dynamically linked programs, started on a target that
 * has none of their libraries through their own ELF interpreter, as
 * `DIR/INTERP --library-path DIR DIR/PROGRAM --mitogen-agent NAME`; what
 * travels is their closure (mitogen-closure.c): the interpreter, the
 * program, every shared object and transport plugin it has mapped, each
 * named by its SHA-256.
 *
 *  - self: this process's program, which called mitogen_init (). In a
 *    program that was itself started that way (a replicated context), the
 *    closure is the manifest its stage 1 wrote next to the files, so it
 *    ships onwards exactly what it received, from its own copy.
 *  - dynamic: mitogen-agent-dynamic, which prints its own closure when
 *    run as `mitogen-agent-dynamic --closure` (once per process).
 *
 * Shipped files are gzip-compressed once per process (cached by hash) and
 * checked against their hash as they are read: a file that changed on
 * disk since its closure was taken is an error, never shipped.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-connect"

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mitogen-agent-image-private.h"
#include "mitogen-bootstrap-private.h"
#include "mitogen-plugins-private.h"
#include "mitogen-sha256-private.h"

/* More than any real program maps; keeps stage 1's argv and report small. */
#define MAX_FILES 512

static gint self_capable;  /* (atomic) mitogen_init () was called */

void
mitogen_agent_image_set_self_capable (void)
{
  g_atomic_int_set (&self_capable, TRUE);
}

gboolean
mitogen_agent_kind_parse (const char       *value,
                          MitogenAgentKind *kind)
{
  if (g_strcmp0 (value, "stock") == 0)
    *kind = MITOGEN_AGENT_STOCK;
  else if (g_strcmp0 (value, "self") == 0)
    *kind = MITOGEN_AGENT_SELF;
  else if (g_strcmp0 (value, "dynamic") == 0)
    *kind = MITOGEN_AGENT_DYNAMIC;
  else
    return FALSE;
  return TRUE;
}

MitogenAgentKind
mitogen_agent_kind_effective (MitogenAgentKind kind)
{
  gboolean capable = g_atomic_int_get (&self_capable);

  /* The static stock agent cannot ship itself file by file: its `self`
   * is the stock image it ships anyway. */
  if (kind == MITOGEN_AGENT_SELF && !capable && mitogen_plugins_are_builtin ())
    return MITOGEN_AGENT_STOCK;
  /* The dynamic agent (transports compiled in, mitogen_init () called). */
  if (kind == MITOGEN_AGENT_DYNAMIC && capable && mitogen_plugins_are_builtin ())
    return MITOGEN_AGENT_SELF;
  return kind;
}

const char *
mitogen_closure_role_name (MitogenClosureRole role)
{
  switch (role)
    {
    case MITOGEN_CLOSURE_INTERP: return "interp";
    case MITOGEN_CLOSURE_EXE:    return "exe";
    case MITOGEN_CLOSURE_LIB:    return "lib";
    case MITOGEN_CLOSURE_PLUGIN: return "plugin";
    default:                     return "?";
    }
}

static gboolean
role_from_name (const char         *name,
                MitogenClosureRole *role)
{
  static const MitogenClosureRole roles[] = {
    MITOGEN_CLOSURE_INTERP, MITOGEN_CLOSURE_EXE, MITOGEN_CLOSURE_LIB, MITOGEN_CLOSURE_PLUGIN,
  };

  for (gsize i = 0; i < G_N_ELEMENTS (roles); i++)
    if (strcmp (name, mitogen_closure_role_name (roles[i])) == 0)
      {
        *role = roles[i];
        return TRUE;
      }
  return FALSE;
}

static gboolean
is_sha256 (const char *text)
{
  gsize i;

  for (i = 0; text[i] != '\0'; i++)
    if (!g_ascii_isdigit (text[i]) && !(text[i] >= 'a' && text[i] <= 'f'))
      return FALSE;
  return i == 64;
}

/* One record of a manifest or of `--closure`: role, hash, size, name;
 * @path is where the file is here. Trusts nothing. */
static MitogenClosureFile *
file_from_fields (const char  *role,
                  const char  *sha256,
                  const char  *size,
                  const char  *name,
                  const char  *path,
                  GError     **error)
{
  MitogenClosureFile *file;
  MitogenClosureRole parsed;
  guint64 bytes = 0;

  if (!role_from_name (role, &parsed) || !is_sha256 (sha256) || !mitogen_closure_name_is_valid (name) ||
      !g_ascii_string_to_unsigned (size, 10, 0, G_MAXINT64, &bytes, NULL) || !g_path_is_absolute (path))
    {
      g_autofree char *shown = g_strescape (name, NULL);

      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "malformed closure record for \"%s\"", shown);
      return NULL;
    }
  file = g_new0 (MitogenClosureFile, 1);
  file->role = parsed;
  file->name = g_strdup (name);
  file->path = g_strdup (path);
  file->size = bytes;
  memcpy (file->sha256, sha256, 65);
  return file;
}

void
mitogen_agent_image_unref (MitogenAgentImage *image)
{
  if (image == NULL || !g_atomic_int_dec_and_test (&image->ref_count))
    return;
  mitogen_closure_free (image->closure);
  g_free (image->closure_dir);
  g_free (image->program);
  g_free (image);
}

MitogenAgentImage *
mitogen_agent_image_ref (MitogenAgentImage *image)
{
  g_atomic_int_inc (&image->ref_count);
  return image;
}

/* Takes @closure. Checks what stage 1 relies on: one program, at most one
 * interpreter (none: a static program), unique plain names, few files. */
static MitogenAgentImage *
image_new (MitogenAgentKind  kind,
           MitogenClosure   *closure,
           const char       *what,
           GError          **error)
{
  g_autoptr(MitogenAgentImage) image = g_new0 (MitogenAgentImage, 1);
  g_autoptr(GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);

  image->ref_count = 1;
  image->kind = kind;
  image->closure = closure;
  image->interp = -1;
  image->exe = -1;
  if (closure->files->len > MAX_FILES)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                   "%s: its closure has %u files; at most %d can be shipped", what,
                   closure->files->len, MAX_FILES);
      return NULL;
    }
  for (guint i = 0; i < closure->files->len; i++)
    {
      const MitogenClosureFile *file = g_ptr_array_index (closure->files, i);
      gint *slot = file->role == MITOGEN_CLOSURE_INTERP ? &image->interp
                   : file->role == MITOGEN_CLOSURE_EXE ? &image->exe : NULL;

      if (!mitogen_closure_name_is_valid (file->name) || !g_hash_table_add (names, file->name) ||
          (slot != NULL && *slot >= 0))
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                       "%s: cannot ship %s as \"%s\" (a duplicate or unusable file name, or a second %s)",
                       what, file->path, file->name, mitogen_closure_role_name (file->role));
          return NULL;
        }
      if (slot != NULL)
        *slot = (gint) i;
    }
  if (image->exe < 0 || (image->interp < 0) != closure->is_static)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                   "%s: its closure has no program, or an ELF interpreter that does not fit it", what);
      return NULL;
    }
  return g_steal_pointer (&image);
}

/* A replicated program: the manifest stage 1 wrote next to its files
 * (lines `ROLE SHA256 SIZE NAME`), plugins under transports/. */
static MitogenClosure *
closure_from_manifest (const char  *dir,
                       GError     **error)
{
  g_autofree char *path = g_build_filename (dir, ".manifest", NULL);
  g_autofree char *text = NULL;
  g_autoptr(MitogenClosure) closure = NULL;
  g_auto(GStrv) lines = NULL;
  gboolean has_interp = FALSE;
  const MitogenClosureFile *exe = NULL;

  if (!g_file_get_contents (path, &text, NULL, error))
    return NULL;
  closure = g_new0 (MitogenClosure, 1);
  closure->files = g_ptr_array_new_with_free_func (mitogen_closure_file_free);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) fields = NULL;
      g_autofree char *file_path = NULL;
      MitogenClosureFile *file;

      if (lines[i][0] == '\0' && lines[i + 1] == NULL)
        break;
      fields = g_strsplit (lines[i], " ", -1);
      if (g_strv_length (fields) != 4 || closure->files->len >= MAX_FILES)
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                       "%s: malformed line %u", path, i + 1);
          return NULL;
        }
      file_path = strcmp (fields[0], "plugin") == 0 ? g_build_filename (dir, "transports", fields[3], NULL)
                                                   : g_build_filename (dir, fields[3], NULL);
      file = file_from_fields (fields[0], fields[1], fields[2], fields[3], file_path, error);
      if (file == NULL)
        {
          g_prefix_error (error, "%s: ", path);
          return NULL;
        }
      has_interp |= file->role == MITOGEN_CLOSURE_INTERP;
      if (file->role == MITOGEN_CLOSURE_EXE)
        exe = file;
      closure->total_size += file->size;
      g_ptr_array_add (closure->files, file);
    }
  if (exe == NULL)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT, "%s: no program", path);
      return NULL;
    }
  closure->is_static = !has_interp;
  if (!mitogen_elf_inspect (exe->path, &closure->arch, NULL, error))
    return NULL;
  return g_steal_pointer (&closure);
}

static char *
program_name (void)
{
  g_autofree char *link = g_file_read_link ("/proc/self/exe", NULL);

  if (link != NULL)
    return g_path_get_basename (link);
  return g_strdup (g_get_prgname () != NULL ? g_get_prgname () : "this program");
}

static MitogenAgentImage *
self_image (GError **error)
{
  const char *dir = mitogen_plugins_get_closure_dir ();
  g_autoptr(MitogenClosure) closure = NULL;
  g_autoptr(GError) local_error = NULL;
  MitogenAgentImage *image;

  if (!g_atomic_int_get (&self_capable))
    {
      g_autofree char *name = program_name ();

      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                   "agent=self: this program (%s) cannot run as an agent: it never called "
                   "mitogen_init () first in main () (a program using Mitogen through a language "
                   "binding, such as python3 or gjs, never can); use agent=dynamic to run the "
                   "stock agent, which can load function modules", name);
      return NULL;
    }

  if (dir != NULL)
    closure = closure_from_manifest (dir, &local_error);
  else
    {
      /* Every transport goes along, so that a replicated context can
       * start any next hop of a via chain (a plugin not loaded here would
       * not be in the closure). Loading them is once per process; their
       * files cost the first connect to each target only. */
      g_strfreev (mitogen_transport_list_methods ());
      closure = mitogen_closure_new_for_self (NULL, &local_error);
    }
  if (closure == NULL)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                   "agent=self: cannot find this program's files: %s", local_error->message);
      return NULL;
    }
  image = image_new (MITOGEN_AGENT_SELF, g_steal_pointer (&closure), "agent=self", error);
  if (image == NULL)
    return NULL;
  if (dir != NULL)
    image->closure_dir = g_strdup (dir);
  else
    image->program = g_strdup (((MitogenClosureFile *) g_ptr_array_index (image->closure->files,
                                                                           image->exe))->path);
  return image;
}

/* Runs `mitogen-agent-dynamic --closure` and reads what it prints. */
static MitogenAgentImage *
dynamic_image_compute (GError **error)
{
  const char *path = mitogen_agent_dynamic_path ();
  const char *argv[] = { path, "--closure", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(MitogenClosure) closure = NULL;
  g_auto(GStrv) lines = NULL;
  g_auto(GStrv) header = NULL;
  MitogenAgentImage *image;
  int status = 0;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &local_error) ||
      !g_spawn_check_wait_status (status, &local_error))
    {
      if (err != NULL)
        g_strstrip (err);
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                   "agent=dynamic: cannot run %s --closure: %s%s%s", path, local_error->message,
                   err != NULL && err[0] != '\0' ? ": " : "", err != NULL ? err : "");
      return NULL;
    }

  lines = g_strsplit (out, "\n", -1);
  header = g_strsplit (lines[0], " ", -1);
  if (g_strv_length (header) != 4 || strcmp (header[0], "mitogen-closure") != 0 || strcmp (header[1], "1") != 0 ||
      (strcmp (header[3], "0") != 0 && strcmp (header[3], "1") != 0) || header[2][0] == '\0')
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "agent=dynamic: %s --closure printed no closure header", path);
      return NULL;
    }
  closure = g_new0 (MitogenClosure, 1);
  closure->files = g_ptr_array_new_with_free_func (mitogen_closure_file_free);
  closure->arch = g_strdup (header[2]);
  closure->is_static = strcmp (header[3], "1") == 0;
  for (guint i = 1; lines[i] != NULL; i++)
    {
      g_auto(GStrv) fields = NULL;
      MitogenClosureFile *file;

      if (lines[i][0] == '\0' && lines[i + 1] == NULL)
        break;
      fields = g_strsplit (lines[i], "\t", -1);
      file = g_strv_length (fields) == 5 && closure->files->len < MAX_FILES
             ? file_from_fields (fields[0], fields[1], fields[2], fields[3], fields[4], error)
             : NULL;
      if (file == NULL)
        {
          if (error == NULL || *error == NULL)
            g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                         "malformed line %u", i + 1);
          g_prefix_error (error, "agent=dynamic: %s --closure: ", path);
          return NULL;
        }
      closure->total_size += file->size;
      g_ptr_array_add (closure->files, file);
    }
  image = image_new (MITOGEN_AGENT_DYNAMIC, g_steal_pointer (&closure), "agent=dynamic", error);
  if (image != NULL)
    image->program = g_strdup (path);
  return image;
}

MitogenAgentImage *
mitogen_agent_image_get (MitogenAgentKind   kind,
                         GError           **error)
{
  static GMutex lock;
  static MitogenAgentImage *dynamic;  /* (owned) (nullable) under lock: once per process */
  MitogenAgentImage *image = NULL;

  g_return_val_if_fail (kind != MITOGEN_AGENT_STOCK, NULL);

  if (kind == MITOGEN_AGENT_SELF)
    return self_image (error);

  g_mutex_lock (&lock);
  if (dynamic == NULL)
    dynamic = dynamic_image_compute (error);
  if (dynamic != NULL)
    image = mitogen_agent_image_ref (dynamic);
  g_mutex_unlock (&lock);
  return image;
}

char **
mitogen_agent_image_direct_argv (const MitogenAgentImage *image,
                                 const char              *argv0)
{
  GPtrArray *argv = g_ptr_array_new ();
  const MitogenClosureFile *exe = g_ptr_array_index (image->closure->files, image->exe);

  if (image->program != NULL)
    {
      g_ptr_array_add (argv, g_strdup (image->program));
      g_ptr_array_add (argv, g_strdup (argv0));
    }
  else if (image->interp >= 0)
    {
      const MitogenClosureFile *interp = g_ptr_array_index (image->closure->files, image->interp);

      g_ptr_array_add (argv, g_build_filename (image->closure_dir, interp->name, NULL));
      g_ptr_array_add (argv, g_strdup (argv0));
      g_ptr_array_add (argv, g_strdup ("--library-path"));
      g_ptr_array_add (argv, g_strdup (image->closure_dir));
      g_ptr_array_add (argv, g_build_filename (image->closure_dir, exe->name, NULL));
    }
  else
    {
      g_ptr_array_add (argv, g_build_filename (image->closure_dir, exe->name, NULL));
      g_ptr_array_add (argv, g_strdup (argv0));
    }
  g_ptr_array_add (argv, g_strdup ("--mitogen-agent"));
  g_ptr_array_add (argv, g_strdup (argv0));
  /* A replicated program's child runs from its parent's files: they are
   * the parent's to remove, and the child dies with it (PDEATHSIG). */
  if (image->program == NULL)
    {
      g_ptr_array_add (argv, g_strdup ("--mitogen-closure-dir"));
      g_ptr_array_add (argv, g_strdup (image->closure_dir));
    }
  g_ptr_array_add (argv, NULL);
  return (char **) g_ptr_array_free (argv, FALSE);
}

/* Compressed files by hash (element-type utf8 GBytes), under its lock. */
static GMutex compressed_lock;
static GHashTable *compressed;

GBytes *
mitogen_agent_image_read_file (const MitogenAgentImage *image,
                               guint                    index,
                               gboolean                 gzip,
                               GError                 **error)
{
  const MitogenClosureFile *file;
  g_autoptr(GBytes) raw = NULL;
  g_autofree char *digest = NULL;
  GBytes *result = NULL;
  char *data = NULL;
  gsize len = 0;

  g_return_val_if_fail (index < image->closure->files->len, NULL);
  file = g_ptr_array_index (image->closure->files, index);

  if (gzip)
    {
      g_mutex_lock (&compressed_lock);
      if (compressed != NULL)
        result = g_hash_table_lookup (compressed, file->sha256);
      if (result != NULL)
        g_bytes_ref (result);
      g_mutex_unlock (&compressed_lock);
      if (result != NULL)
        return result;
    }

  if (!g_file_get_contents (file->path, &data, &len, error))
    {
      g_prefix_error (error, "bootstrap: cannot read %s to ship it: ", file->name);
      return NULL;
    }
  raw = g_bytes_new_take (data, len);
  digest = mitogen_sha256_hex_of_bytes (raw);
  if (len != file->size || strcmp (digest, file->sha256) != 0)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "bootstrap: %s changed on disk since its closure was taken (%" G_GSIZE_FORMAT
                   " bytes, SHA-256 %.16s…; expected %" G_GUINT64_FORMAT ", %.16s…): not shipped",
                   file->path, len, digest, file->size, file->sha256);
      return NULL;
    }
  if (!gzip)
    return g_steal_pointer (&raw);

  result = mitogen_bootstrap_gzip (raw, error);
  if (result == NULL)
    return NULL;
  g_mutex_lock (&compressed_lock);
  if (compressed == NULL)
    compressed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
  g_hash_table_replace (compressed, g_strdup (file->sha256), g_bytes_ref (result));
  g_mutex_unlock (&compressed_lock);
  return result;
}

int
mitogen_agent_image_print_closure (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenClosure) closure = mitogen_closure_new_for_self (NULL, &error);
  g_autoptr(GString) out = NULL;

  if (closure == NULL)
    {
      fprintf (stderr, "cannot compute this program's closure: %s\n", error->message);
      return 1;
    }
  out = g_string_new (NULL);
  g_string_append_printf (out, "mitogen-closure 1 %s %d\n", closure->arch, closure->is_static ? 1 : 0);
  for (guint i = 0; i < closure->files->len; i++)
    {
      const MitogenClosureFile *file = g_ptr_array_index (closure->files, i);

      g_string_append_printf (out, "%s\t%s\t%" G_GUINT64_FORMAT "\t%s\t%s\n",
                              mitogen_closure_role_name (file->role), file->sha256, file->size,
                              file->name, file->path);
    }
  if (fwrite (out->str, 1, out->len, stdout) != out->len || fflush (stdout) != 0)
    return 1;
  return 0;
}
