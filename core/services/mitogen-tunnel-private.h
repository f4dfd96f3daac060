/* mitogen-tunnel-private.h — a byte stream between a local socket and a peer context
 *
 * One end of a tunnel relays between a connected stream socket of its
 * process and the other end, in another context, over the context's
 * stream: what it reads from the socket goes to the peer's inbox as bare
 * `ay` messages, what arrives in its own inbox is written to the socket.
 * Both ends run the same code; the D-Bus tunnel (docs/dbus.md) has one in
 * the master (its socket: one end of a socketpair whose other end is the
 * GDBusConnection's) and one in the context (its socket: connected to the
 * bus).
 *
 * Flow control, both directions, by credit as in docs/streaming.md: an
 * end reads its socket only while less than `window` cost units it sent
 * are unacknowledged, and acknowledges (`("ack", t)`, the total cost it
 * wrote to its socket) once a quarter of the window is unacknowledged or
 * it has nothing left to write. So each end holds at most about a window
 * of the other's data whatever the socket at either end does.
 *
 * Messages an end's inbox takes: a bare `ay` (data), `("ack", t)`, the
 * dead marker (the peer closed: the tunnel ends). Anything else goes to
 * the `other` hook (the master side's `started` event and the context's
 * final reply).
 *
 * Threads: mitogen_tunnel_run () runs the tunnel's own main context on the
 * calling thread until the tunnel ends (a thread of its own per tunnel);
 * the inbox's ::received runs there too. mitogen_tunnel_stop () and the
 * reference counting work from any thread.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

typedef struct _MitogenTunnel MitogenTunnel;

/* Data from the peer, before it is written to the socket: appends what to
 * write to @to_socket and what to answer to @to_peer (sent back as data
 * at once). FALSE with @error ends the tunnel. Tunnel thread. */
typedef gboolean (*MitogenTunnelFilter) (gpointer      user_data,
                                         const guint8 *data,
                                         gsize         len,
                                         GByteArray   *to_socket,
                                         GByteArray   *to_peer,
                                         GError      **error);

/* A message that is neither data, an acknowledgement nor the dead marker.
 * Returns FALSE to end the tunnel. Tunnel thread. */
typedef gboolean (*MitogenTunnelOther) (MitogenTunnel  *tunnel,
                                        MitogenMessage *message,
                                        gpointer        user_data);

/* A tunnel for @fd (a connected stream socket; taken over, made
 * non-blocking) with @peer. Its inbox is made here, with @peer as its
 * respondent (the peer going away ends the tunnel). @peer_handle: the
 * peer's inbox, or 0 until mitogen_tunnel_set_peer_handle (). NULL with
 * @error if @peer's router is gone. Any thread. */
MitogenTunnel  *mitogen_tunnel_new              (MitogenContext      *peer,
                                                 int                  fd,
                                                 guint32              peer_handle,
                                                 guint64              window,
                                                 GError             **error);
MitogenTunnel  *mitogen_tunnel_ref              (MitogenTunnel       *self);
void            mitogen_tunnel_unref            (MitogenTunnel       *self);

/* Before mitogen_tunnel_run (). */
void            mitogen_tunnel_set_filter       (MitogenTunnel       *self,
                                                 MitogenTunnelFilter  filter,
                                                 gpointer             user_data);
void            mitogen_tunnel_set_other        (MitogenTunnel       *self,
                                                 MitogenTunnelOther   other,
                                                 gpointer             user_data);
/* Whether the end sends the dead marker to the peer's inbox when it ends
 * for a reason of its own (the master side; the context's end sends its
 * call's reply instead). */
void            mitogen_tunnel_set_send_dead    (MitogenTunnel       *self,
                                                 gboolean             send_dead);

guint32         mitogen_tunnel_get_inbox_handle (MitogenTunnel       *self);
MitogenContext *mitogen_tunnel_get_peer         (MitogenTunnel       *self);
/* Tunnel thread: the peer's inbox is known (reading the socket begins). */
void            mitogen_tunnel_set_peer_handle  (MitogenTunnel       *self,
                                                 guint32              peer_handle);
/* Tunnel thread: the peer said it is done (its final reply): what is
 * queued for the socket is written, then the tunnel ends. */
void            mitogen_tunnel_peer_finished    (MitogenTunnel       *self);

/* Runs the tunnel until it ends; then the socket is closed, the inbox
 * closed, and *@error says why it ended (NULL: the socket or the peer
 * closed normally). Bytes moved each way in @bytes_in (peer -> socket)
 * and @bytes_out (socket -> peer). */
void            mitogen_tunnel_run              (MitogenTunnel       *self,
                                                 guint64             *bytes_in,
                                                 guint64             *bytes_out,
                                                 GError             **error);
/* Any thread: ends the tunnel soon: at once if the peer's inbox is known
 * (the peer is told), else once it is (a `started` still on its way gets
 * the dead marker) or the peer's final reply came. Nothing once the
 * tunnel has ended. */
void            mitogen_tunnel_stop             (MitogenTunnel       *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MitogenTunnel, mitogen_tunnel_unref)

G_END_DECLS
