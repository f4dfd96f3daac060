/* mitogen-cp.c — `mitogen cp`: files and trees to and from contexts
 *
 *   mitogen cp [-r] [-t CHAIN...] SOURCE... DESTINATION
 *
 * A path is local, or CHAIN:PATH in a context (`local:/etc/hostname`,
 * `ssh:web1:/tmp/x`, `ssh:bastion/sudo:/etc/shadow`), or :PATH in the
 * context of -t. Either all sources are remote and the destination local
 * (a get), or the sources local and the destination remote (a put). Each
 * source is one MitogenTransfer: chunks with flow control (bounded memory
 * on both sides), SHA-256 checked on both sides, mode and mtime kept.
 *
 * Several targets (-t repeated, -t @FILE): the copy is made with each of
 * them in parallel through tool_fanout () (--parallel), remote paths
 * being :PATH. A put copies the SOURCEs to :DESTINATION in every target;
 * a get copies each target's :SOURCEs into DESTINATION/NAME/, NAME being
 * the target's name with '/' written %2F. One line per target, then the
 * summary; with --json one object per target holding its copies.
 *
 * Signals: SIGINT, SIGTERM or SIGHUP cancels the copies running; their
 * receiving ends remove the partial files (mitogen-tree.c), the progress
 * line is ended, one line says "cp: interrupted", and we exit 128+N.
 * While connecting, or at a second signal, we exit at once.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-tool"

#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "mitogen-tool.h"

typedef struct
{
  char     *arg;        /* (owned) as given */
  char     *chain;      /* (owned) (nullable) NULL: local */
  char     *path;       /* (owned) */
  gboolean  of_target;  /* :PATH, in the -t target */
} CpPath;

/* ---------------------------------------------------------------------- */
/* Signals */

static GCancellable *cancellable;  /* (owned) cancelled by the first signal */
static gint copying;               /* (atomic) transfers running */

/* The signal thread. Copies running are cancelled (their receiving ends
 * remove the partial files); otherwise (connecting, between copies), or
 * at a second signal, we exit at once: a file being received here has no
 * name until it is complete (mitogen-tree.c), the contexts go with us. */
static void
on_signal (int      signum,
           int      count,
           gpointer user_data)
{
  if (count == 1 && g_atomic_int_get (&copying) > 0)
    {
      g_cancellable_cancel (cancellable);
      return;
    }
  tool_progress_break_line ();
  tool_fail (128 + signum, "cp: %s", tool_signal_text (signum));
  _exit (128 + signum);
}

/* Whether a copy failed because a signal cancelled it. */
static gboolean
was_interrupted (const GError *error)
{
  return tool_get_interrupted () != 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

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
      path->of_target = TRUE;
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

/* One copy as --json gives it (@transfer: only if it succeeded). */
static JsonNode *
json_result (CpPath          *source,
             const char      *destination,
             MitogenTransfer *transfer,
             int              status,
             const char      *error_text,
             double           seconds)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "source");
  json_builder_add_string_value (builder, source->arg);
  json_builder_set_member_name (builder, "destination");
  json_builder_add_string_value (builder, destination);
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
  return json_builder_get_root (builder);
}

static void
print_json_line (JsonNode *node)
{
  g_autofree char *line = tool_json_line (node);

  tool_output_lock ();
  printf ("%s\n", line);
  fflush (stdout);
  tool_output_unlock ();
}

/* One source's copy: what became of it. */
typedef struct
{
  int       status;
  char     *message;  /* (owned) (nullable) the failure, one line: "SOURCE: why" or "interrupted" */
  JsonNode *json;     /* (owned) its --json object */
  guint64   bytes;
  guint64   files;
} CpResult;

static void
cp_result_clear (CpResult *result)
{
  g_clear_pointer (&result->message, g_free);
  g_clear_pointer (&result->json, json_node_unref);
}

/* One source, to or from @context: fills @result. @bar: draw a progress
 * bar (when stderr is a terminal). @cancel: cancelled by a signal (or a
 * target's --timeout). Any thread. */
static void
copy_one (MitogenContext       *context,
          CpPath               *source,
          const char           *destination_path,
          const char           *destination_arg,
          MitogenTransferFlags  flags,
          gboolean              bar,
          GCancellable         *cancel,
          CpResult             *result)
{
  gboolean get = source->chain != NULL;
  g_autoptr(MitogenTransfer) transfer =
    mitogen_transfer_new (context, get ? MITOGEN_TRANSFER_DIRECTION_GET : MITOGEN_TRANSFER_DIRECTION_PUT,
                          source->path, destination_path, flags);
  g_autoptr(GError) error = NULL;
  Progress progress = { bar ? tool_progress_new (source->path) : NULL };
  gint64 start = g_get_monotonic_time ();
  g_autofree char *line = NULL;
  gboolean ok;

  mitogen_transfer_set_progress_func (transfer, on_progress, &progress, NULL);
  g_debug ("cp: %s %s -> %s", get ? "get" : "put", source->arg, destination_arg);
  g_atomic_int_inc (&copying);
  ok = mitogen_transfer_run (transfer, cancel, &error);
  g_atomic_int_add (&copying, -1);
  tool_progress_finish (progress.bar, ok);
  result->bytes = mitogen_transfer_get_bytes_done (transfer);
  if (ok)
    {
      result->status = TOOL_EXIT_OK;
      result->files = mitogen_transfer_get_files_done (transfer);
      result->json = json_result (source, destination_arg, transfer, TOOL_EXIT_OK, NULL,
                                  (g_get_monotonic_time () - start) / 1e6);
      return;
    }

  if (was_interrupted (error))
    {
      result->status = 128 + tool_get_interrupted ();
      result->message = g_strdup (tool_signal_text (tool_get_interrupted ()));
    }
  else
    {
      result->status = tool_status_for_error (error);
      if (g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL) &&
          mitogen_error_get_remote_message (error) != NULL)
        line = g_strdup_printf ("%s: %s (in '%s')", source->arg, mitogen_error_get_remote_message (error),
                                mitogen_error_get_context_name (error));
      else
        line = g_strdup_printf ("%s: %s", source->arg, error->message);
      result->message = tool_one_line (line);
    }
  result->json = json_result (source, destination_arg, transfer, result->status, result->message,
                              (g_get_monotonic_time () - start) / 1e6);
}

/* Whether @destination is an existing directory (in @context, or here). */
static gboolean
destination_is_directory (MitogenContext  *context,
                          CpPath          *destination,
                          GCancellable    *cancel,
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
  st = mitogen_context_call (context, "os.stat", g_variant_new ("(s)", destination->path), cancel, error);
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

/* ---------------------------------------------------------------------- */
/* Several targets */

typedef struct
{
  GPtrArray            *sources;      /* (unowned) CpPath */
  CpPath               *destination;  /* (unowned) */
  gboolean              get;
  MitogenTransferFlags  flags;
  gboolean              json;
  GHashTable           *dirs;         /* (unowned) get: target name -> local directory */
} CpJob;

/* A signal's cancellation reaches the target's own cancellable. */
static void
cancel_also (GCancellable *source,
             gpointer      other)
{
  g_cancellable_cancel (other);
}

/* A worker thread: every source to or from one target. */
static void
cp_job (ToolTarget     *target,
        MitogenContext *context,
        ToolOutcome    *outcome,
        gpointer        user_data)
{
  CpJob *job = user_data;
  gulong signal_handler = g_cancellable_connect (cancellable, G_CALLBACK (cancel_also), outcome->cancellable, NULL);
  g_autoptr(GError) error = NULL;
  JsonObject *extra = json_object_new ();
  JsonArray *copies = json_array_new ();
  const char *destination = job->get ? g_hash_table_lookup (job->dirs, target->name) : job->destination->path;
  guint64 bytes = 0, files = 0;
  guint failed = 0;

  if (job->get && g_mkdir (destination, 0777) < 0 && errno != EEXIST)
    {
      int saved = errno;

      outcome->status = TOOL_EXIT_CALL;
      outcome->error = g_strdup_printf ("cannot create directory '%s': %s", destination, g_strerror (saved));
    }
  else if (!job->get && job->sources->len > 1 && !destination_is_directory (context, job->destination, outcome->cancellable, &error))
    {
      outcome->status = tool_status_for_error (error);
      outcome->error = tool_one_line (error->message);
    }
  else
    for (guint i = 0; i < job->sources->len; i++)
      {
        CpPath *source = g_ptr_array_index (job->sources, i);
        CpResult result = { 0 };

        if (g_cancellable_is_cancelled (cancellable))
          {
            outcome->status = 128 + tool_get_interrupted ();
            break;
          }
        if (g_cancellable_is_cancelled (outcome->cancellable))
          {
            outcome->status = TOOL_EXIT_TIMEOUT;  /* tool_fanout () says it */
            break;
          }
        copy_one (context, source, destination, job->get ? destination : job->destination->arg,
                  job->flags, FALSE, outcome->cancellable, &result);
        json_array_add_element (copies, g_steal_pointer (&result.json));
        if (result.status == TOOL_EXIT_OK)
          {
            files += result.files;
            bytes += result.bytes;
          }
        else
          {
            /* The first failure is the one told; the count says the rest. */
            failed++;
            outcome->status = MAX (outcome->status, result.status);
            if (outcome->error == NULL)
              outcome->error = g_steal_pointer (&result.message);
          }
        cp_result_clear (&result);
        if (outcome->status == TOOL_EXIT_CHANNEL || outcome->status > 128)
          break;
      }
  if (outcome->status > 128)
    {
      /* Interrupted: that is what this target's line says. */
      g_free (outcome->error);
      outcome->error = g_strdup (tool_signal_text (outcome->status - 128));
    }
  else if (failed > 1)
    {
      char *more = g_strdup_printf ("%s (and %u more failed)", outcome->error, failed - 1);

      g_free (outcome->error);
      outcome->error = more;
    }

  g_cancellable_disconnect (cancellable, signal_handler);
  json_object_set_int_member (extra, "files", (gint64) files);
  json_object_set_int_member (extra, "bytes", (gint64) bytes);
  json_object_set_array_member (extra, "copies", copies);
  if (outcome->status == TOOL_EXIT_OK && !job->json)
    {
      /* The line cp_report () prints. */
      char size[32];
      g_autofree char *text = NULL;

      tool_format_size (size, sizeof size, bytes);
      text = g_strdup_printf ("copied %" G_GUINT64_FORMAT " file%s, %s%s%s", files, files == 1 ? "" : "s",
                              size, job->get ? " into " : "", job->get ? destination : "");
      outcome->result = json_node_init_string (json_node_alloc (), text);
    }
  outcome->json = json_node_init_object (json_node_alloc (), extra);
  json_object_unref (extra);
}

/* Main thread. */
static void
cp_report (ToolOutcome *outcome,
           gpointer     user_data)
{
  CpJob *job = user_data;

  if (outcome->status == TOOL_EXIT_OK && !job->json)
    {
      /* TARGET: copied N files, SIZE */
      tool_output_lock ();
      printf ("%s: %s\n", outcome->target->name, json_node_get_string (outcome->result));
      fflush (stdout);
      tool_output_unlock ();
      return;
    }
  tool_report_outcome (outcome, job->json, TRUE);
}

/* get from several targets: DESTINATION/NAME for each, NAME the target's
 * name with '/' written %2F (two names that would still meet are refused). */
static int
plan_target_dirs (GPtrArray   *targets,
                  CpPath      *destination,
                  GHashTable  *dirs)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GError) error = NULL;

  if (!destination_is_directory (NULL, destination, NULL, &error))
    return tool_fail (tool_status_for_error (error), "cp: %s (several targets: each gets its own "
                      "directory in it)", error->message);
  for (guint i = 0; i < targets->len; i++)
    {
      ToolTarget *target = g_ptr_array_index (targets, i);
      g_autoptr(GString) name = g_string_new (target->name);
      char *dir;

      g_string_replace (name, "/", "%2F", 0);
      if (g_str_equal (name->str, ".") || g_str_equal (name->str, ".."))
        g_string_prepend (name, "%2E");
      dir = g_build_filename (destination->path, name->str, NULL);
      if (g_hash_table_contains (seen, dir))
        {
          g_free (dir);
          return tool_fail (TOOL_EXIT_USAGE, "cp: two targets would share the directory '%s'", name->str);
        }
      g_hash_table_add (seen, dir);
      g_hash_table_insert (dirs, g_strdup (target->name), dir);
    }
  return TOOL_EXIT_OK;
}

static int
copy_with_targets (ToolCommon           *common,
                   GPtrArray            *sources,
                   CpPath               *destination,
                   gboolean              get,
                   MitogenTransferFlags  flags)
{
  g_autoptr(GPtrArray) targets = NULL;
  g_autoptr(GHashTable) dirs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  CpJob job = { sources, destination, get, flags, common->json, dirs };
  int status;

  status = tool_prepare_targets (common, TRUE, &targets);
  if (status != TOOL_EXIT_OK)
    return status;
  if (get)
    {
      status = plan_target_dirs (targets, destination, dirs);
      if (status != TOOL_EXIT_OK)
        return status;
      job.flags |= MITOGEN_TRANSFER_FLAGS_TARGET_DIRECTORY;
    }
  else if (sources->len > 1)
    job.flags |= MITOGEN_TRANSFER_FLAGS_TARGET_DIRECTORY;
  return tool_fanout (targets, common->parallel, common->timeout, cp_job, cp_report, &job);
}

/* ---------------------------------------------------------------------- */

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
  gboolean many = FALSE;
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
                                     "\"status\", \"path\", \"bytes\", \"files\", \"sha256\" or \"error\", \"seconds\"}.\n"
                                     "\n"
                                     "Ctrl-C (SIGINT), SIGTERM or SIGHUP stops the copy: the partial file\n"
                                     "is removed on the side that was writing it, one line says so, and\n"
                                     "the exit status is 128+N (130 for Ctrl-C). A file being received is\n"
                                     "not visible under any name until it is complete and verified (where\n"
                                     "the filesystem has O_TMPFILE; elsewhere under .NAME.mitogen-XXXXXXXX).\n"
                                     "\n"
                                     "With several targets (-t repeated, or -t @FILE) remote paths are\n"
                                     ":PATH and the copy is made with every target in parallel\n"
                                     "(--parallel): the SOURCEs go to :DESTINATION in each, or each\n"
                                     "target's :SOURCEs come into DESTINATION/TARGET/ (a directory per\n"
                                     "target, '/' in its name written %2F). One line per target, 'TARGET:\n"
                                     "copied N files, SIZE' or 'mitogen: TARGET: ERROR', then a summary;\n"
                                     "with --json one line per target {\"target\", \"ok\", \"status\",\n"
                                     "\"files\", \"bytes\", \"copies\": [one object per SOURCE], \"error\"}.",
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
      many = g_strv_length (common.targets) > 1 || common.targets[0][0] == '@';
      default_chain = many ? "" : common.targets[0];
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
      if (many && path->chain != NULL && !path->of_target)
        {
          status = tool_fail (TOOL_EXIT_USAGE, "cp: with several targets (-t), a remote path is :PATH, "
                              "not '%s'", path->arg);
          goto out;
        }
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

  flags = recursive ? MITOGEN_TRANSFER_FLAGS_RECURSIVE : MITOGEN_TRANSFER_FLAGS_NONE;
  cancellable = g_cancellable_new ();
  tool_catch_signals (on_signal, NULL);

  if (many)
    {
      status = copy_with_targets (&common, sources, destination, get, flags);
      goto out;
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
      MitogenContext *context = tool_target_connect (target, router, NULL, &error);

      if (context == NULL)
        {
          status = tool_fail (TOOL_EXIT_CONNECT, "%s", error->message);
          goto out;
        }
      g_hash_table_insert (contexts, g_strdup (target->chain), context);
    }

  if (sources->len > 1)
    {
      flags |= MITOGEN_TRANSFER_FLAGS_TARGET_DIRECTORY;
      /* Like cp(1): several sources need a directory; say so once. */
      if (!destination_is_directory (get ? NULL : g_hash_table_lookup (contexts, destination->chain),
                                     destination, NULL, &error))
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
      CpResult result = { 0 };

      if (g_cancellable_is_cancelled (cancellable))
        {
          /* Between two copies: the next is not started. */
          result.status = 128 + tool_get_interrupted ();
          result.message = g_strdup (tool_signal_text (tool_get_interrupted ()));
          result.json = json_result (source, destination->arg, NULL, result.status, result.message, 0);
        }
      else
        copy_one (context, source, destination->path, destination->arg, flags, !common.json, cancellable, &result);
      status = MAX (status, result.status);
      if (common.json && result.json != NULL)
        print_json_line (result.json);
      else if (result.status > 128)
        tool_fail (result.status, "cp: %s", result.message);
      else if (result.status != TOOL_EXIT_OK)
        tool_fail (result.status, "%s", result.message);
      cp_result_clear (&result);
      if (status == TOOL_EXIT_CHANNEL || status > 128)
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
