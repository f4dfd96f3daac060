/* mitogen-cp.c — `mitogen cp`: files and trees to and from contexts
 *
 *   mitogen cp [-r] [-t CHAIN] SOURCE... DESTINATION
 *
 * A path is local, or CHAIN:PATH in a context (`local:/etc/hostname`,
 * `ssh:web1:/tmp/x`, `ssh:bastion/sudo:/etc/shadow`), or :PATH in the
 * context of -t. Either all sources are remote and the destination local
 * (a get), or the sources local and the destination remote (a put). Each
 * source is one MitogenTransfer: chunks with flow control (bounded memory
 * on both sides), SHA-256 checked on both sides, mode and mtime kept.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-tool"

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mitogen-tool.h"

typedef struct
{
  char *arg;    /* (owned) as given */
  char *chain;  /* (owned) (nullable) NULL: local */
  char *path;   /* (owned) */
} CpPath;

static void
cp_path_free (gpointer data)
{
  CpPath *path = data;

  g_free (path->arg);
  g_free (path->chain);
  g_free (path->path);
  g_free (path);
}

static gsize
span_method (const char *text)
{
  gsize n = 0;

  while (g_ascii_isalnum (text[n]) || text[n] == '_' || text[n] == '-')
    n++;
  return n;
}

/* Where CHAIN ends in CHAIN:PATH: the index of the ':' before PATH, or -1
 * if @arg does not read as one (then it is a local path). Hops are
 * METHOD[:MAIN][?QUERY] separated by '/'; after METHOD, a ':' followed by
 * '/', '~' or '.' starts PATH (`local:/x`, `sudo:~/x`), any other ':'
 * starts MAIN; after MAIN or QUERY a ':' always starts PATH. */
static gssize
find_path_colon (const char *arg)
{
  gsize pos = 0;

  for (;;)
    {
      gsize n = span_method (arg + pos);

      if (n == 0)
        return -1;
      pos += n;
      if (arg[pos] == ':')
        {
          char next = arg[pos + 1];

          if (next == '/' || next == '~' || next == '.' || next == '\0')
            return (gssize) pos;
          pos++;
          pos += strcspn (arg + pos, ":?/");
        }
      if (arg[pos] == '?')
        pos += strcspn (arg + pos, ":/");
      if (arg[pos] == ':')
        return (gssize) pos;
      if (arg[pos] != '/')
        return -1;
      pos++;
    }
}

static CpPath *
parse_path (const char  *arg,
            const char  *default_chain,
            GError     **error)
{
  CpPath *path;
  gssize colon;

  if (arg[0] == '\0')
    {
      g_set_error_literal (error, TOOL_ERROR, TOOL_EXIT_USAGE, "cp: empty path");
      return NULL;
    }
  path = g_new0 (CpPath, 1);
  path->arg = g_strdup (arg);

  if (arg[0] == ':')
    {
      if (default_chain == NULL)
        {
          g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE,
                       "cp: '%s' names the -t target, but no -t CHAIN was given", arg);
          cp_path_free (path);
          return NULL;
        }
      path->chain = g_strdup (default_chain);
      path->path = g_strdup (arg + 1);
    }
  else if (arg[0] == '/' || arg[0] == '.' || arg[0] == '~' || (colon = find_path_colon (arg)) < 0)
    path->path = g_strdup (arg);
  else
    {
      path->chain = g_strndup (arg, (gsize) colon);
      path->path = g_strdup (arg + colon + 1);
    }

  if (path->path[0] == '\0')
    {
      g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE, "cp: '%s' has no PATH after the CHAIN", arg);
      cp_path_free (path);
      return NULL;
    }
  return path;
}

typedef struct
{
  ToolProgress *bar;
} Progress;

static void
on_progress (MitogenTransfer *transfer,
             guint64          done,
             guint64          total,
             gpointer         user_data)
{
  Progress *progress = user_data;

  tool_progress_update (progress->bar, done, total);
}

static void
print_json_result (CpPath          *source,
                   CpPath          *destination,
                   MitogenTransfer *transfer,
                   int              status,
                   const char      *error_text,
                   double           seconds)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *line = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "source");
  json_builder_add_string_value (builder, source->arg);
  json_builder_set_member_name (builder, "destination");
  json_builder_add_string_value (builder, destination->arg);
  json_builder_set_member_name (builder, "ok");
  json_builder_add_boolean_value (builder, status == TOOL_EXIT_OK);
  json_builder_set_member_name (builder, "status");
  json_builder_add_int_value (builder, status);
  if (status == TOOL_EXIT_OK)
    {
      g_autofree char *path = mitogen_transfer_dup_destination_path (transfer);
      g_autofree char *sha256 = mitogen_transfer_dup_sha256 (transfer);

      json_builder_set_member_name (builder, "path");
      json_builder_add_string_value (builder, path != NULL ? path : "");
      json_builder_set_member_name (builder, "bytes");
      json_builder_add_int_value (builder, (gint64) mitogen_transfer_get_bytes_done (transfer));
      json_builder_set_member_name (builder, "files");
      json_builder_add_int_value (builder, (gint64) mitogen_transfer_get_files_done (transfer));
      if (sha256 != NULL)
        {
          json_builder_set_member_name (builder, "sha256");
          json_builder_add_string_value (builder, sha256);
        }
    }
  else
    {
      json_builder_set_member_name (builder, "error");
      json_builder_add_string_value (builder, error_text);
    }
  json_builder_set_member_name (builder, "seconds");
  json_builder_add_double_value (builder, round (seconds * 1000) / 1000);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  line = tool_json_line (root);
  printf ("%s\n", line);
  fflush (stdout);
}

/* One source: returns its exit status. */
static int
copy_one (MitogenContext       *context,
          CpPath               *source,
          CpPath               *destination,
          MitogenTransferFlags  flags,
          gboolean              json)
{
  gboolean get = source->chain != NULL;
  g_autoptr(MitogenTransfer) transfer =
    mitogen_transfer_new (context, get ? MITOGEN_TRANSFER_DIRECTION_GET : MITOGEN_TRANSFER_DIRECTION_PUT,
                          source->path, destination->path, flags);
  g_autoptr(GError) error = NULL;
  Progress progress = { json ? NULL : tool_progress_new (source->path) };
  gint64 start = g_get_monotonic_time ();
  g_autofree char *message = NULL;
  int status;
  gboolean ok;

  mitogen_transfer_set_progress_func (transfer, on_progress, &progress, NULL);
  g_debug ("cp: %s %s -> %s", get ? "get" : "put", source->arg, destination->arg);
  ok = mitogen_transfer_run (transfer, NULL, &error);
  tool_progress_finish (progress.bar, ok);
  if (ok)
    {
      if (json)
        print_json_result (source, destination, transfer, TOOL_EXIT_OK, NULL,
                           (g_get_monotonic_time () - start) / 1e6);
      return TOOL_EXIT_OK;
    }

  status = tool_status_for_error (error);
  if (g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL) && mitogen_error_get_remote_message (error) != NULL)
    message = g_strdup_printf ("%s: %s (in '%s')", source->arg, mitogen_error_get_remote_message (error),
                               mitogen_error_get_context_name (error));
  else
    message = g_strdup_printf ("%s: %s", source->arg, error->message);
  if (json)
    {
      g_autofree char *line = tool_one_line (message);
      print_json_result (source, destination, transfer, status, line, (g_get_monotonic_time () - start) / 1e6);
      return status;
    }
  return tool_fail (status, "%s", message);
}

/* Whether @destination is an existing directory (in @context, or here). */
static gboolean
destination_is_directory (MitogenContext  *context,
                          CpPath          *destination,
                          GError         **error)
{
  g_autoptr(GVariant) st = NULL;
  guint32 mode = 0;

  if (context == NULL)
    {
      if (g_file_test (destination->path, G_FILE_TEST_IS_DIR))
        return TRUE;
      g_set_error (error, TOOL_ERROR, TOOL_EXIT_CALL, "target '%s' is not a directory", destination->arg);
      return FALSE;
    }
  if (destination->path[0] == '~')
    return TRUE;  /* the context expands it: let the copy say */
  st = mitogen_context_call (context, "os.stat", g_variant_new ("(s)", destination->path), NULL, error);
  if (st == NULL && g_error_matches (*error, MITOGEN_ERROR, MITOGEN_ERROR_CALL))
    {
      g_clear_error (error);
      g_set_error (error, TOOL_ERROR, TOOL_EXIT_CALL, "target '%s' is not a directory", destination->arg);
      return FALSE;
    }
  if (st == NULL)
    return FALSE;
  g_variant_lookup (st, "st_mode", "u", &mode);
  if ((mode & 0170000) == 0040000)
    return TRUE;
  g_set_error (error, TOOL_ERROR, TOOL_EXIT_CALL, "target '%s' is not a directory", destination->arg);
  return FALSE;
}

int
tool_cmd_cp (char **args)
{
  ToolCommon common = { 0 };
  gboolean recursive = FALSE;
  const GOptionEntry entries[] = {
    { "recursive", 'r', 0, G_OPTION_ARG_NONE, &recursive, "Copy directories and everything in them", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) options = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) sources = g_ptr_array_new_with_free_func (cp_path_free);
  g_autoptr(GPtrArray) targets = NULL;
  g_autoptr(GHashTable) contexts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  g_autoptr(MitogenRouter) router = NULL;
  CpPath *destination = NULL;
  const char *default_chain = NULL;
  MitogenTransferFlags flags;
  guint n_args;
  gboolean get;
  int status;

  options = tool_option_context_new ("mitogen cp", "SOURCE... DESTINATION",
                                     "Copy files, and with -r directory trees, between this machine and\n"
                                     "contexts. A remote path is CHAIN:PATH (local:/etc/hostname,\n"
                                     "ssh:web1:/tmp/x, ssh:bastion/sudo:/etc/shadow) or :PATH for the\n"
                                     "-t target; a path starting with '/', '.' or '~', or that does not\n"
                                     "read as CHAIN:PATH, is local (write ./a:b for a local file 'a:b').\n"
                                     "After METHOD, ':' followed by '/', '~' or '.' starts PATH; any other\n"
                                     "':' starts MAIN. Either all SOURCEs are remote and DESTINATION local,\n"
                                     "or the SOURCEs local and DESTINATION remote. As with cp(1), an\n"
                                     "existing directory DESTINATION gets each SOURCE under its own name;\n"
                                     "with several SOURCEs it must be one.\n"
                                     "\n"
                                     "Files move in 1 MiB chunks with flow control, so memory stays\n"
                                     "bounded on both sides whatever the size; each file's SHA-256 is\n"
                                     "computed on both sides and compared before it is renamed into place;\n"
                                     "mode and modification time are kept (ownership is not); links in a\n"
                                     "tree are copied as links. On a terminal, a progress bar with rate\n"
                                     "and ETA is drawn on stderr (MITOGEN_PROGRESS=0 turns it off). With\n"
                                     "--json each SOURCE gives one line {\"source\", \"destination\", \"ok\",\n"
                                     "\"status\", \"path\", \"bytes\", \"files\", \"sha256\" or \"error\", \"seconds\"}.",
                                     entries, &common, TRUE);
  status = tool_parse_options (options, &args);
  if (status != TOOL_EXIT_OK)
    goto out;

  n_args = g_strv_length (args);
  if (n_args < 3)
    {
      status = tool_fail (TOOL_EXIT_USAGE, "cp: need SOURCE and DESTINATION (try 'mitogen cp --help')");
      goto out;
    }
  if (common.targets != NULL)
    {
      if (g_strv_length (common.targets) > 1 || common.targets[0][0] == '@')
        {
          status = tool_fail (TOOL_EXIT_USAGE, "cp takes one -t CHAIN");
          goto out;
        }
      default_chain = common.targets[0];
    }

  for (guint i = 1; i < n_args; i++)
    {
      CpPath *path = parse_path (args[i], default_chain, &error);

      if (path == NULL)
        {
          status = tool_fail_error (TOOL_EXIT_USAGE, error);
          goto out;
        }
      if (i == n_args - 1)
        destination = path;
      else
        g_ptr_array_add (sources, path);
    }

  get = destination->chain == NULL;
  for (guint i = 0; i < sources->len; i++)
    {
      CpPath *source = g_ptr_array_index (sources, i);

      if (get && source->chain == NULL)
        {
          status = tool_fail (TOOL_EXIT_USAGE, "cp: '%s' and '%s' are both local (give CHAIN:PATH on one side; "
                              "for a local copy use cp(1))", source->arg, destination->arg);
          goto out;
        }
      if (!get && source->chain != NULL)
        {
          status = tool_fail (TOOL_EXIT_USAGE, "cp: '%s' and '%s' are both remote: copying between two contexts "
                              "is not supported (copy through a local directory)", source->arg, destination->arg);
          goto out;
        }
    }

  /* One target per distinct CHAIN, connected once over one router. */
  {
    g_autoptr(GPtrArray) chains = g_ptr_array_new ();
    ToolCommon prepared = { 0 };

    if (get)
      {
        for (guint i = 0; i < sources->len; i++)
          {
            CpPath *source = g_ptr_array_index (sources, i);

            if (!g_ptr_array_find_with_equal_func (chains, source->chain, g_str_equal, NULL))
              g_ptr_array_add (chains, source->chain);
          }
      }
    else
      g_ptr_array_add (chains, destination->chain);
    g_ptr_array_add (chains, NULL);

    prepared.targets = (char **) chains->pdata;
    prepared.ask_pass = common.ask_pass;
    prepared.password_file = common.password_file;
    status = tool_prepare_targets (&prepared, TRUE, &targets);
    if (status != TOOL_EXIT_OK)
      goto out;
  }

  router = mitogen_router_new ();
  for (guint i = 0; i < targets->len; i++)
    {
      ToolTarget *target = g_ptr_array_index (targets, i);
      MitogenContext *context = tool_target_connect (target, router, &error);

      if (context == NULL)
        {
          status = tool_fail (TOOL_EXIT_CONNECT, "%s", error->message);
          goto out;
        }
      g_hash_table_insert (contexts, g_strdup (target->chain), context);
    }

  flags = recursive ? MITOGEN_TRANSFER_FLAGS_RECURSIVE : MITOGEN_TRANSFER_FLAGS_NONE;
  if (sources->len > 1)
    {
      flags |= MITOGEN_TRANSFER_FLAGS_TARGET_DIRECTORY;
      /* Like cp(1): several sources need a directory; say so once. */
      if (!destination_is_directory (get ? NULL : g_hash_table_lookup (contexts, destination->chain),
                                     destination, &error))
        {
          status = tool_fail (tool_status_for_error (error), "cp: %s", error->message);
          goto out;
        }
    }

  status = TOOL_EXIT_OK;
  for (guint i = 0; i < sources->len; i++)
    {
      CpPath *source = g_ptr_array_index (sources, i);
      MitogenContext *context = g_hash_table_lookup (contexts, get ? source->chain : destination->chain);
      int one = copy_one (context, source, destination, flags, common.json);

      status = MAX (status, one);
      if (one == TOOL_EXIT_CHANNEL)
        break;
    }

out:
  /* Shut down and joined here, not whenever the last reference goes (see
   * tool_fanout ()). */
  if (router != NULL)
    mitogen_router_shutdown (router);
  g_hash_table_remove_all (contexts);
  g_clear_object (&router);
  if (destination != NULL)
    cp_path_free (destination);
  tool_common_clear (&common);
  return status;
}
