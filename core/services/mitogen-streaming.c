/* mitogen-streaming.c — helpers shared by process streams and file transfers
 *
 * See mitogen-streaming-private.h and docs/streaming.md.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-streaming"

#include "config.h"

#include <string.h>

#include "mitogen-call-private.h"
#include "mitogen-error-private.h"
#include "mitogen-context-private.h"
#include "mitogen-message-private.h"
#include "mitogen-stream-private.h"
#include "mitogen-streaming-private.h"

guint64
mitogen_flow_event_cost (GVariant *event)
{
  g_autoptr(GVariant) boxed = NULL;
  g_autoptr(GVariant) payload = NULL;

  /* Bulk data travels as a bare `ay`: the frame reader checks those in
   * constant time, where GLib's normal-form check of an `ay` nested in a
   * `(sv)` walks it byte by byte. */
  if (g_variant_is_of_type (event, G_VARIANT_TYPE_BYTESTRING))
    return mitogen_flow_cost (g_variant_get_size (event));
  if (!g_variant_is_of_type (event, G_VARIANT_TYPE ("(sv)")))
    return MITOGEN_FLOW_EVENT_COST;
  boxed = g_variant_get_child_value (event, 1);
  payload = g_variant_get_variant (boxed);
  if (g_variant_is_of_type (payload, G_VARIANT_TYPE_BYTESTRING))
    return mitogen_flow_cost (g_variant_get_size (payload));
  return MITOGEN_FLOW_EVENT_COST;
}

GVariant *
mitogen_event_new (const char *kind,
                   GVariant   *payload)
{
  if (payload == NULL)
    payload = g_variant_new ("()");
  return g_variant_new ("(sv)", kind, payload);
}

gboolean
mitogen_event_parse (GVariant    *value,
                     const char **kind,
                     GVariant   **payload)
{
  if (value == NULL || !g_variant_is_of_type (value, G_VARIANT_TYPE ("(sv)")))
    return FALSE;
  g_variant_get (value, "(&sv)", kind, payload);
  return TRUE;
}

gboolean
mitogen_streaming_begin_call (MitogenContext  *context,
                              const char      *function,
                              GVariant        *args,
                              guint32          reply_to,
                              GError         **error)
{
  g_autoptr(MitogenMessage) message = NULL;
  GVariant *request;

  request = g_variant_new ("(sv@a{sv})", function, args,
                           g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));
  message = mitogen_message_new (mitogen_context_get_id (context), MITOGEN_HANDLE_CALL_FUNCTION, request);
  mitogen_message_set_reply_to (message, reply_to);
  return mitogen_context_route_message (context, message, error);
}

void
mitogen_streaming_send_dead (MitogenContext *context,
                             guint32         handle)
{
  g_autoptr(MitogenMessage) dead = NULL;

  if (context == NULL || handle == 0)
    return;
  dead = mitogen_message_new_dead (mitogen_context_get_id (context), handle);
  mitogen_context_route_message (context, dead, NULL);
}

gsize
mitogen_streaming_chunk_limit (MitogenRouter *router,
                               guint32        peer_id,
                               gsize          wanted)
{
  g_autoptr(MitogenStream) stream = NULL;
  guint64 max;

  if (router == NULL)
    return wanted;
  stream = mitogen_router_stream_by_id (router, peer_id);
  if (stream == NULL)
    return wanted;
  max = mitogen_stream_get_max_message_size (stream) / 2;
  if (max < 4096)
    max = 4096;
  return (gsize) MIN ((guint64) wanted, max);
}

MitogenContext *
mitogen_streaming_caller (MitogenCall  *call,
                          GError      **error)
{
  MitogenRouter *router = mitogen_call_get_router (call);
  MitogenContext *caller;

  if (router == NULL)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                   "%s runs only in a context served by a router", mitogen_call_get_function (call));
      return NULL;
    }
  caller = mitogen_router_context_by_id (router, mitogen_call_get_caller_id (call));
  if (caller == NULL)
    caller = mitogen_context_new (router, mitogen_call_get_caller_id (call), "caller", NULL, 0, NULL);
  return caller;
}

GError *
mitogen_streaming_reply_error (MitogenMessage *message,
                               const char     *function)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = mitogen_message_get_value (message, &error);

  if (value != NULL)
    return g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "%s: unexpected reply of type %s",
                        function, g_variant_get_type_string (value));
  if (g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL))
    return mitogen_error_new_remote (function,
                                     mitogen_error_get_remote_domain (error),
                                     mitogen_error_get_remote_code (error),
                                     mitogen_error_get_remote_message (error),
                                     mitogen_error_get_context_name (error),
                                     mitogen_error_get_remote_backtrace (error));
  return g_steal_pointer (&error);
}

char *
mitogen_streaming_expand_home (const char *path)
{
  if (path[0] == '~' && (path[1] == '\0' || path[1] == '/'))
    return g_strconcat (g_get_home_dir (), path + 1, NULL);
  return g_strdup (path);
}

