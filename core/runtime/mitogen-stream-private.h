/* mitogen-stream-private.h — internals of MitogenStream (runtime layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"
#include "mitogen-frame-private.h"

G_BEGIN_DECLS

/* Hooks a stream's owner (the router) installs. All run on the broker thread. */
typedef struct
{
  /* A whole frame arrived. The stream may be closed from inside. */
  void (*message)  (MitogenStream *stream, MitogenMessage *message, gpointer user_data);
  /* The stream closed; @error says why (NULL: orderly EOF). Called once. */
  void (*closed)   (MitogenStream *stream, const GError *error, gpointer user_data);
  /* The broker is shutting down: ask the peer to go away. */
  void (*shutdown) (MitogenStream *stream, gpointer user_data);
  /* The peer has been silent for the keepalive interval: send it a
   * KEEPALIVE (with mitogen_stream_send_urgent ()). */
  void (*keepalive) (MitogenStream *stream, gpointer user_data);
} MitogenStreamHooks;

MITOGEN_INTERNAL
MitogenStream *mitogen_stream_new              (MitogenBroker            *broker,
                                                const char               *name,
                                                int                       read_fd,
                                                int                       write_fd,
                                                GPid                      pid,
                                                guint64                   max_message_size);
MITOGEN_INTERNAL
void           mitogen_stream_set_hooks        (MitogenStream            *self,
                                                const MitogenStreamHooks *hooks,
                                                gpointer                  user_data);
void           mitogen_stream_set_remote_id    (MitogenStream            *self,
                                                guint32                   remote_id);
/* The calling thread took a message: its next send is an answer and is
 * written at once, not coalesced (send_frame ()). Any thread. */
void           mitogen_stream_note_message_taken (void);
/* Writes the queued frames of bursts (send_frame ()) now: for a thread
 * about to wait for a reply. Any thread but the broker's. */
void           mitogen_stream_flush_coalesced  (void);
MITOGEN_INTERNAL
void           mitogen_stream_set_handshaken   (MitogenStream            *self,
                                                gboolean                  handshaken);
gboolean       mitogen_stream_get_handshaken   (MitogenStream            *self);
MITOGEN_INTERNAL
void           mitogen_stream_set_max_message_size (MitogenStream        *self,
                                                guint64                   max_message_size);
guint64        mitogen_stream_get_max_message_size (MitogenStream        *self);
void           mitogen_stream_start            (MitogenStream            *self);
gboolean       mitogen_stream_send             (MitogenStream            *self,
                                                MitogenMessage           *message);
gboolean       mitogen_stream_send_urgent      (MitogenStream            *self,
                                                MitogenMessage           *message);
gboolean       mitogen_stream_forward          (MitogenStream            *self,
                                                MitogenMessage           *message,
                                                MitogenStream            *from);
void           mitogen_stream_set_keepalive    (MitogenStream            *self,
                                                double                    interval,
                                                guint                     count);
MITOGEN_INTERNAL
gsize          mitogen_stream_get_read_allocation (MitogenStream         *self);
void           mitogen_stream_close            (MitogenStream            *self,
                                                const GError             *error);
void           mitogen_stream_close_when_drained (MitogenStream          *self);
void           mitogen_stream_shutdown         (MitogenStream            *self);
void           mitogen_stream_force_close      (MitogenStream            *self,
                                                const char               *reason);
gsize          mitogen_stream_get_queued_bytes (MitogenStream            *self);
void           mitogen_stream_watch_stderr     (MitogenStream            *self,
                                                int                       fd);
char          *mitogen_stream_dup_stderr_tail  (MitogenStream            *self);
int            mitogen_stream_get_read_fd      (MitogenStream            *self);
int            mitogen_stream_get_write_fd     (MitogenStream            *self);

/* Pausing (the seed's Broker.start/stop_receive/_transmit). Any thread. */
gboolean       mitogen_stream_is_started       (MitogenStream            *self);
void           mitogen_stream_set_read_paused  (MitogenStream            *self,
                                                gboolean                  paused);
void           mitogen_stream_set_write_paused (MitogenStream            *self,
                                                gboolean                  paused);
gboolean       mitogen_stream_get_read_paused  (MitogenStream            *self);
gboolean       mitogen_stream_get_write_paused (MitogenStream            *self);

/* Writers other than the broker block while more than this is queued. */
#define MITOGEN_STREAM_HIGH_WATER (8u * 1024u * 1024u)
#define MITOGEN_STREAM_LOW_WATER  (2u * 1024u * 1024u)

G_END_DECLS
