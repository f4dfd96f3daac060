/* mitogen-transfer-serve.c — `file.send_tree` and `file.receive_tree` (child side)
 *
 * The context's end of a MitogenTransfer (mitogen-transfer.c): it sends a
 * file or tree to the caller (get), or receives one from it (put), with
 * the ends in mitogen-tree.c. Each call first tells the caller the handle
 * of the receiver it made for the other direction ("start": where acks
 * go; "ready": where data goes), then streams; its reply is a summary.
 * See docs/streaming.md.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-transfer"

#include "config.h"

#include <string.h>

#include "mitogen-call-private.h"
#include "mitogen-services-private.h"
#include "mitogen-streaming-private.h"
#include "mitogen-tree-private.h"

typedef struct
{
  MitogenContext  *caller;   /* (owned) */
  guint32          events;   /* the caller's handle: our events, acks and reply */
  MitogenReceiver *inbound;  /* (owned) acks (send) or data (receive) from the caller */
} ChildIO;

static void
child_io_clear (ChildIO *io)
{
  if (io->inbound != NULL)
    mitogen_receiver_close (io->inbound);
  g_clear_object (&io->inbound);
  g_clear_object (&io->caller);
}

static gboolean
child_send (gpointer   data,
            GVariant  *event,
            GError   **error)
{
  ChildIO *io = data;

  return mitogen_context_send (io->caller, io->events, event, error);
}

/* The caller stopped (closed its end, or went away). */
static void
caller_stopped (GError     **error,
                GError      *cause,
                const char  *what)
{
  if (g_error_matches (cause, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL))
    g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL, "The %s side of the transfer stopped", what);
  else
    g_propagate_error (error, g_error_copy (cause));
}

static gboolean
child_wait_ack (gpointer   data,
                guint64   *acked,
                GError   **error)
{
  ChildIO *io = data;

  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      g_autoptr(GVariant) value = mitogen_receiver_get_data (io->inbound, -1, &local_error);
      const char *kind;
      g_autoptr(GVariant) payload = NULL;

      if (value == NULL)
        {
          caller_stopped (error, local_error, "receiving");
          return FALSE;
        }
      if (mitogen_event_parse (value, &kind, &payload) && g_str_equal (kind, "ack") &&
          g_variant_is_of_type (payload, G_VARIANT_TYPE_UINT64))
        {
          *acked = g_variant_get_uint64 (payload);
          return TRUE;
        }
    }
}

static GVariant *
child_next (gpointer   data,
            GError   **error)
{
  ChildIO *io = data;
  g_autoptr(GError) local_error = NULL;
  GVariant *value = mitogen_receiver_get_data (io->inbound, -1, &local_error);

  if (value == NULL)
    caller_stopped (error, local_error, "sending");
  return value;
}

static gboolean
child_idle (gpointer data)
{
  ChildIO *io = data;

  return mitogen_receiver_empty (io->inbound);
}

static gboolean
child_ack (gpointer   data,
           guint64    consumed,
           GError   **error)
{
  ChildIO *io = data;

  return mitogen_context_send (io->caller, io->events, mitogen_event_new ("ack", g_variant_new_uint64 (consumed)),
                               error);
}

static const MitogenTreeSenderIO child_sender_io = { child_send, child_wait_ack, NULL };
static const MitogenTreeReceiverIO child_receiver_io = { child_next, child_idle, child_ack, NULL };

static gboolean
check_options (const char  *function,
               GVariant    *options,
               GError     **error)
{
  static const struct { const char *name, *type; } known[] = {
    { "recursive", "b" }, { "target_directory", "b" }, { "chunk_size", "t" }, { "window", "t" },
  };
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr(GVariant) owned = value;
      gsize i;

      for (i = 0; i < G_N_ELEMENTS (known); i++)
        if (strcmp (key, known[i].name) == 0)
          break;
      if (i == G_N_ELEMENTS (known) || !g_variant_is_of_type (value, G_VARIANT_TYPE (known[i].type)))
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                       "%s: unknown or mistyped option '%s' (known: recursive b, target_directory b, "
                       "chunk_size t, window t)", function, key);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
get_path (GVariant    *value,
          const char **path,
          GError     **error)
{
  gsize len = 0;
  const char *data = g_variant_get_fixed_array (value, &len, 1);

  if (len < 2 || data[len - 1] != '\0' || memchr (data, '\0', len - 1) != NULL)
    {
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                           "The path must be a non-empty NUL-terminated bytestring");
      return FALSE;
    }
  *path = data;
  return TRUE;
}

/* (ay path, u events_handle, a{sv} options: recursive b, chunk_size t,
 * window t) -> a{sv} summary. Sends ("start", u acks_handle), then the
 * tree's events, to events_handle. */
static GVariant *
fn_file_send_tree (MitogenCall  *call,
                   GVariant     *args,
                   GError      **error)
{
  g_autoptr(GVariant) path_value = NULL;
  g_autoptr(GVariant) options = NULL;
  const char *path;
  gboolean recursive = FALSE;
  guint64 chunk = MITOGEN_TRANSFER_DEFAULT_CHUNK, window = MITOGEN_TRANSFER_DEFAULT_WINDOW;
  MitogenTreeSummary summary = { 0 };
  ChildIO io = { 0 };
  GVariant *result = NULL;

  g_variant_get (args, "(@ayu@a{sv})", &path_value, &io.events, &options);
  if (!get_path (path_value, &path, error) || !check_options ("file.send_tree", options, error))
    return NULL;
  g_variant_lookup (options, "recursive", "b", &recursive);
  g_variant_lookup (options, "chunk_size", "t", &chunk);
  g_variant_lookup (options, "window", "t", &window);
  chunk = mitogen_streaming_chunk_limit (mitogen_call_get_router (call), mitogen_call_get_caller_id (call),
                                         (gsize) CLAMP (chunk, 4096, 64 * 1024 * 1024));
  window = CLAMP (window, 2 * chunk, G_GUINT64_CONSTANT (1) << 32);

  io.caller = mitogen_streaming_caller (call, error);
  if (io.caller == NULL)
    return NULL;
  io.inbound = mitogen_receiver_new (mitogen_call_get_router (call), 0, TRUE, io.caller);
  if (mitogen_context_send (io.caller, io.events,
                            mitogen_event_new ("start", g_variant_new_uint32 (mitogen_receiver_get_handle (io.inbound))),
                            error) &&
      mitogen_tree_send (path, recursive, (gsize) chunk, window, &child_sender_io, &io, &summary, error))
    result = mitogen_tree_summary_to_variant (&summary);

  child_io_clear (&io);
  mitogen_tree_summary_clear (&summary);
  return result;
}

/* (ay destination, u events_handle, a{sv} options: target_directory b,
 * window t) -> a{sv} summary (with the path written). Sends ("ready", u
 * data_handle), then acks, to events_handle. */
static GVariant *
fn_file_receive_tree (MitogenCall  *call,
                      GVariant     *args,
                      GError      **error)
{
  g_autoptr(GVariant) path_value = NULL;
  g_autoptr(GVariant) options = NULL;
  const char *path;
  gboolean target_directory = FALSE;
  guint64 window = MITOGEN_TRANSFER_DEFAULT_WINDOW;
  MitogenTreeSummary summary = { 0 };
  ChildIO io = { 0 };
  GVariant *result = NULL;

  g_variant_get (args, "(@ayu@a{sv})", &path_value, &io.events, &options);
  if (!get_path (path_value, &path, error) || !check_options ("file.receive_tree", options, error))
    return NULL;
  g_variant_lookup (options, "target_directory", "b", &target_directory);
  g_variant_lookup (options, "window", "t", &window);

  io.caller = mitogen_streaming_caller (call, error);
  if (io.caller == NULL)
    return NULL;
  io.inbound = mitogen_receiver_new (mitogen_call_get_router (call), 0, TRUE, io.caller);
  if (mitogen_context_send (io.caller, io.events,
                            mitogen_event_new ("ready", g_variant_new_uint32 (mitogen_receiver_get_handle (io.inbound))),
                            error) &&
      mitogen_tree_receive (path, target_directory, window, &child_receiver_io, &io, &summary, error))
    result = mitogen_tree_summary_to_variant (&summary);

  child_io_clear (&io);
  mitogen_tree_summary_clear (&summary);
  return result;
}

const MitogenFunctionInfo mitogen_transfer_serve_functions[] = {
  { "file.send_tree", "(ayua{sv})", "a{sv}",
    "Stream a file or tree (option recursive b) to a handle with flow control "
    "and SHA-256; a summary (see MitogenTransfer)", fn_file_send_tree },
  { "file.receive_tree", "(ayua{sv})", "a{sv}",
    "Receive a file or tree streamed by the caller into a path, verifying "
    "SHA-256; a summary (see MitogenTransfer)", fn_file_receive_tree },
  { NULL, },
};
