/* mitogen-streaming-private.h — what process streams and file transfers share
 *
 * Both run a long call in a child context that exchanges a stream of
 * "events" with the master while it runs. An event is a value of type
 * `(sv)`: a kind ("started", "file", "ack", ...) and its payload; bulk
 * data is a bare `ay` instead (a top-level `ay` is what the frame reader
 * validates in constant time; nested in a `(sv)` GLib would check it byte
 * by byte). The
 * call's own reply (the function's result, or its error) goes to the same
 * handle as the events the child sends, so the master reads one ordered
 * stream and knows the call is over when a value that is not `(sv)`
 * arrives. See docs/streaming.md.
 *
 * Flow control is by credit: the producer may have at most `window` cost
 * units unacknowledged; the consumer acknowledges (an "ack" event carrying
 * the total it has consumed) once it has consumed `threshold` units since
 * its last acknowledgement, and always before it waits for more, so the
 * two can never wait on each other. Every event costs its data bytes plus
 * MITOGEN_FLOW_EVENT_COST, so a stream of tiny events is bounded too.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

#define MITOGEN_FLOW_EVENT_COST           256u

/* Process streams: pipe reads are at most this big; window per direction. */
#define MITOGEN_PROCESS_CHUNK_SIZE        (64u * 1024u)
#define MITOGEN_PROCESS_DEFAULT_WINDOW    (1024u * 1024u)

/* File transfers: the read size and the window (4 chunks in flight). */
#define MITOGEN_TRANSFER_DEFAULT_CHUNK    (1024u * 1024u)
#define MITOGEN_TRANSFER_DEFAULT_WINDOW   (4u * 1024u * 1024u)

/* The cost of an event carrying @data_bytes bytes of data. */
static inline guint64
mitogen_flow_cost (gsize data_bytes)
{
  return (guint64) data_bytes + MITOGEN_FLOW_EVENT_COST;
}

/* The cost of the event @value: the size of a bare `ay` (or of the `ay`
 * payload of an `(sv)`), plus MITOGEN_FLOW_EVENT_COST. */
guint64         mitogen_flow_event_cost          (GVariant        *event);

/* `(sv)` event from a kind and a payload (floating references are sunk;
 * NULL payload: `()`). Returns a floating reference. */
GVariant       *mitogen_event_new                (const char      *kind,
                                                  GVariant        *payload);
/* Splits an `(sv)` event; FALSE if @value is not one. @payload is
 * (transfer full). */
gboolean        mitogen_event_parse              (GVariant        *value,
                                                  const char     **kind,
                                                  GVariant       **payload);

/* Sends @function(@args) to @context with its reply going to @reply_to (a
 * receiver the caller made): the call's reply then arrives on the same
 * handle as the events the function sends there. Any thread. */
gboolean        mitogen_streaming_begin_call     (MitogenContext  *context,
                                                  const char      *function,
                                                  GVariant        *args,
                                                  guint32          reply_to,
                                                  GError         **error);

/* Sends the dead marker to @handle in @context (the peer stops). */
void            mitogen_streaming_send_dead      (MitogenContext  *context,
                                                  guint32          handle);

/* The largest chunk worth sending to @peer_id: @wanted, capped at half the
 * max_message_size of the stream leading there (never below 4 KiB). */
gsize           mitogen_streaming_chunk_limit    (MitogenRouter   *router,
                                                  guint32          peer_id,
                                                  gsize            wanted);

/* In a function: the context that called it (made if not yet known). */
MitogenContext *mitogen_streaming_caller         (MitogenCall     *call,
                                                  GError         **error);

/* A function's failure as the caller sees it: a CALL error of a reply
 * message keeps @function in its text, like mitogen_context_call (). */
GError         *mitogen_streaming_reply_error    (MitogenMessage  *message,
                                                  const char      *function);

/* "~" and "~/..." in @path: the home directory of this process. */
char           *mitogen_streaming_expand_home    (const char      *path);

G_END_DECLS
