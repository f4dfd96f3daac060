/* fuzz-stream.c — the stream's reader: a peer's bytes cut into frames
 *
 * No broker thread: a MitogenBroker made without one, whose main context
 * this thread owns, so the stream's read source runs here when the
 * context is iterated. The stream reads one end of a socket pair; the
 * input goes into the other end in pieces, the context running after
 * each, then the end is closed.
 *
 * Input: byte 0: bit 0 set: the peer has already greeted (frames up to
 * 1 MiB, else the handshake's 64 KiB); bits 1-7: 0 sends the rest in one
 * write, N in pieces of 1 to 2N bytes (a fixed sequence from N; pieces
 * grow so that there are at most about 64). The rest: the bytes the peer
 * sends.
 *
 * Like the router, a frame whose payload does not decode closes the
 * stream; like the connect, a GREETING that parses lifts the handshake
 * limit (to 1 MiB). Checks: once the peer's end is closed the stream
 * has closed, and told its owner once.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "fuzz-common.h"
#include "mitogen-broker-private.h"
#include "mitogen-message-private.h"
#include "mitogen-protocol-private.h"
#include "mitogen-stream-private.h"

#define FUZZ_MAX_MESSAGE_SIZE (1024u * 1024u)
#define FUZZ_MAX_PIECES 64

static MitogenBroker *broker;   /* (owned) never freed: one per process */
static GMainContext *context;   /* (unowned) the broker's, owned by this thread */

typedef struct
{
  gboolean closed;
  guint    frames;
} StreamState;

static void
on_message (MitogenStream  *stream,
            MitogenMessage *message,
            gpointer        user_data)
{
  StreamState *state = user_data;
  g_autoptr(GError) error = NULL;
  MitogenGreeting greeting;

  state->frames++;
  if (!mitogen_message_decode (message, &error))
    {
      mitogen_stream_close (stream, error);
      return;
    }
  if (!mitogen_stream_get_handshaken (stream) && message->header.handle == MITOGEN_HANDLE_GREETING &&
      !mitogen_message_is_dead (message) &&
      mitogen_protocol_greeting_parse (message->value, &greeting, NULL))
    {
      mitogen_stream_set_handshaken (stream, TRUE);
      mitogen_stream_set_max_message_size (stream, FUZZ_MAX_MESSAGE_SIZE);
    }
}

static void
on_closed (MitogenStream *stream,
           const GError  *error,
           gpointer       user_data)
{
  StreamState *state = user_data;

  FUZZ_CHECK (!state->closed);
  state->closed = TRUE;
}

static void
on_shutdown (MitogenStream *stream,
             gpointer       user_data)
{
}

static const MitogenStreamHooks hooks = { on_message, on_closed, on_shutdown };

void
fuzz_stream_init (void)
{
  broker = g_object_new (MITOGEN_TYPE_BROKER, NULL);
  context = mitogen_broker_get_main_context (broker);
  FUZZ_CHECK (g_main_context_acquire (context));
}

static void
run_pending (void)
{
  while (g_main_context_iteration (context, FALSE))
    ;
}

int
fuzz_stream_one (const guint8 *data,
                 gsize         size)
{
  StreamState state = { 0, };
  MitogenStream *stream;
  guint32 seed;
  guint step;
  gsize pos = 1;
  int sv[2];

  if (size < 1)
    return 0;
  FUZZ_CHECK (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  FUZZ_CHECK (g_unix_set_fd_nonblocking (sv[1], TRUE, NULL));

  stream = mitogen_stream_new (broker, "fuzz", sv[0], sv[0], 0, FUZZ_MAX_MESSAGE_SIZE);
  mitogen_stream_set_hooks (stream, &hooks, &state);
  mitogen_stream_set_handshaken (stream, (data[0] & 1) != 0);
  mitogen_stream_start (stream);

  step = data[0] >> 1;
  seed = data[0];
  while (pos < size && !state.closed)
    {
      gsize want = size - pos;
      gssize n;

      if (step != 0)
        {
          seed = seed * 1103515245u + 12345u;
          /* At most about FUZZ_MAX_PIECES pieces: each costs a context iteration. */
          want = MIN (want, MAX (1 + (seed >> 16) % (2 * step), size / FUZZ_MAX_PIECES));
        }
      n = send (sv[1], data + pos, want, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        {
          /* The socket is full: let the stream read. */
          run_pending ();
          continue;
        }
      if (n <= 0)
        break;   /* the stream closed its end */
      pos += (gsize) n;
      run_pending ();
    }
  close (sv[1]);
  run_pending ();

  FUZZ_CHECK (state.closed);
  g_object_unref (stream);
  return 0;
}

FUZZ_TARGET (stream)
