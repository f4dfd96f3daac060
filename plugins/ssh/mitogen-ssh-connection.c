/* mitogen-ssh-connection.c — a libssh session driven from a GMainContext
 *
 * One SshConnection is one GSource attached to the broker's main context
 * (the thread-default one when the transport's spawn_async ran). It walks
 * the steps of a connect without ever blocking:
 *
 *   TCP (GSocketClient, so name resolution runs off the broker thread)
 *   → HANDSHAKE (ssh_connect, SSH_AGAIN until done) → HOST_KEY
 *   → AUTH_NONE → AUTH_PUBKEY (agent, identity_file, default keys)
 *   → AUTH_PASSWORD → AUTH_KBDINT → CHANNEL_OPEN → EXEC → BRIDGE
 *
 * Where the options do not answer, the router's MitogenInteraction is
 * asked (mitogen_transport_ask_async): an unknown host key under
 * check_host_keys=enforce or a changed one (refuse / accept once / accept
 * and record as accept-new does), the password for password
 * authentication, keyboard-interactive prompts as they are (with the
 * password option, hidden prompts get it as before). While it is asked no
 * step runs, nothing is read, and connect_timeout stops (it restarts with
 * the answer). libssh asks for a key's passphrase through a synchronous
 * callback, which would block the broker thread, so publickey_auto skips
 * protected keys; when identity_file is one, the interaction is asked for
 * its passphrase afterwards (STEP_AUTH_KEYFILE) and the key decrypted with
 * it is offered.
 *
 * The spawn task completes when the exec request succeeded. From then on
 * the source bridges the channel to one end of a socketpair (the core
 * holds the other) and the channel's stderr to a second socketpair, with
 * bounded buffers both ways: a side is not read while the buffer towards
 * the other holds more than BRIDGE_HIGH_WATER, and nothing more is handed
 * to libssh while its socket has output pending (Cockpit's libssh GSource
 * shape: G_IO_OUT is wanted only while SSH_WRITE_PENDING or a queue of
 * ours is non-empty). EOF crosses in both directions; the channel closing
 * closes our end of the socketpair; a dead link (TCP_USER_TIMEOUT, or no
 * byte from the server across keepalive_count keepalive intervals) closes
 * it too, so the core's stream fails within that deadline.
 *
 * libssh 0.10 facts this relies on (read in its source):
 * - ssh_blocking_flush (session, 0) polls the socket once: it reads at most
 *   4 KiB, processes every whole packet, and writes what is queued.
 * - ssh_channel_read_nonblocking () processes packets itself only while the
 *   channel's buffer is empty; it grows the receive window (1.28 MB) only
 *   as we read, so a paused reader bounds what the server may send.
 * - ssh_channel_write () on a non-blocking session queues at most the
 *   remote window and returns what it took (0 if the window is shut).
 * - A session given its socket with SSH_OPTIONS_FD never closes it.
 * - ssh_send_keepalive () sends only when the previous keepalive's answer
 *   was consumed: call it twice per tick.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-ssh"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <libssh/server.h>   /* ssh_send_keepalive () */

#include "mitogen-ssh-connection.h"

#define BRIDGE_HIGH_WATER  (1024 * 1024)  /* per direction, our side */
#define BRIDGE_CHUNK       (64 * 1024)
#define CHANNEL_WRITE_MAX  (256 * 1024)   /* handed to libssh at once */
#define STDERR_KEEP        (64 * 1024)    /* unread stderr kept; older is dropped */
#define PUMP_ROUNDS        16             /* per wake-up */
#define SOCKET_READS_MAX   64             /* of 4 KiB, per round */
#define KBDINT_ROUNDS_MAX  8

typedef enum
{
  STEP_TCP,
  STEP_HANDSHAKE,
  STEP_HOST_KEY,
  STEP_AUTH_NONE,
  STEP_AUTH_PUBKEY,
  STEP_AUTH_KEYFILE,
  STEP_AUTH_PASSWORD,
  STEP_AUTH_KBDINT,
  STEP_CHANNEL_OPEN,
  STEP_EXEC,
  STEP_BRIDGE,
  STEP_CLOSED,
} Step;

static const char * const step_names[] = {
  "connecting", "ssh handshake", "host key verification", "authentication",
  "authentication (publickey)", "authentication (identity_file with a passphrase)",
  "authentication (password)",
  "authentication (keyboard-interactive)", "opening the session channel",
  "running the command", "bridging", "closed",
};

typedef enum
{
  TRIED_NONE     = 1 << 0,
  TRIED_PUBKEY   = 1 << 1,
  TRIED_PASSWORD = 1 << 2,
  TRIED_KEYFILE  = 1 << 4,
  TRIED_KBDINT   = 1 << 3,
} Tried;

/* A byte queue: data lives in [start, end) of a buffer of @alloc bytes. */
typedef struct
{
  guint8 *data;
  gsize   start;
  gsize   end;
  gsize   alloc;
} Buf;

static inline gsize
buf_len (const Buf *b)
{
  return b->end - b->start;
}

/* Room for @n more bytes at data + end. */
static guint8 *
buf_reserve (Buf   *b,
             gsize  n)
{
  if (b->alloc - b->end < n && b->start > 0)
    {
      memmove (b->data, b->data + b->start, buf_len (b));
      b->end -= b->start;
      b->start = 0;
    }
  if (b->alloc - b->end < n)
    {
      b->alloc = MAX (b->end + n, b->alloc * 2);
      b->data = g_realloc (b->data, b->alloc);
    }
  return b->data + b->end;
}

static void
buf_consume (Buf   *b,
             gsize  n)
{
  b->start += n;
  if (b->start == b->end)
    b->start = b->end = 0;
}

static void
buf_clear (Buf *b)
{
  g_clear_pointer (&b->data, g_free);
  b->start = b->end = b->alloc = 0;
}

typedef struct
{
  GSource           source;          /* the fds below; dispatch runs the step or the pump */

  MitogenSshParams  params;          /* (owned) */
  char             *command;         /* (owned) the remote command line */
  char             *target;          /* (owned) "host:port" for messages */
  Step              step;
  GTask            *task;            /* (owned) (nullable) until the spawn completes */

  GMainContext     *context;         /* (unowned) where the source is attached */
  GCancellable     *cancellable;     /* (owned) (nullable) the spawn's, until the bridge starts */
  gulong            cancel_id;
  GSource          *timeout_source;  /* (owned) (nullable) connect_timeout */
  GSource          *keepalive_source;/* (owned) (nullable) bridge heartbeat */
  GCancellable     *tcp_cancellable; /* (owned) (nullable) the TCP connect */

  ssh_session       session;         /* (owned) (nullable) */
  ssh_channel       channel;         /* (unowned) freed with the session */
  struct ssh_counter_struct counter; /* bytes on the socket; libssh updates it */
  int               tcp_fd;          /* ours (SSH_OPTIONS_FD), or -1 with ProxyCommand */
  gpointer          ssh_tag;         /* (nullable) */
  int               methods;         /* SSH_AUTH_METHOD_* the server offers */
  guint             tried;           /* Tried */
  guint             kbdint_rounds;
  gboolean          waiting;         /* the application's interaction is asked: no step runs */
  gboolean          asked_password;  /* it was asked for the password (answered or not) */
  ssh_key           keyfile_key;     /* (owned) (nullable) identity_file, decrypted with the asked passphrase */
  GError           *host_key_error;  /* (owned) (nullable) what refusing the host key fails with */
  GObject          *request;         /* (owned) (nullable) what the interaction is asked */

  int               local_fd;        /* our end of the data socketpair, or -1 */
  int               err_fd;          /* our end of the stderr socketpair, or -1 */
  gpointer          local_tag;       /* (nullable) */
  gpointer          err_tag;         /* (nullable) */
  GIOCondition      ssh_events;      /* as last set: changing them wakes the context */
  GIOCondition      local_events;
  GIOCondition      err_events;
  Buf               up;              /* core → channel */
  Buf               down;            /* channel → core */
  Buf               err;             /* channel stderr → core */
  gboolean          local_eof;       /* the core shut its writing side */
  gboolean          eof_sent;        /* we sent the channel EOF */
  gboolean          remote_eof;      /* channel stdout ended */
  gboolean          err_eof;         /* channel stderr ended */
  gboolean          local_shut;      /* we shut our writing side */

  guint64           keepalive_in;    /* counter.in_bytes at the last tick */
  guint             missed;          /* ticks without a byte from the server */
} SshConnection;

static void conn_run   (SshConnection *conn);
static void err_append (SshConnection *conn,
                        const guint8  *data,
                        gsize          len);

void
mitogen_ssh_params_clear (MitogenSshParams *params)
{
  g_clear_pointer (&params->hostname, g_free);
  g_clear_pointer (&params->username, g_free);
  if (params->password != NULL)
    {
      memset (params->password, 0, strlen (params->password));
      g_clear_pointer (&params->password, g_free);
    }
  g_clear_pointer (&params->identity_file, g_free);
  g_clear_pointer (&params->known_hosts_file, g_free);
}

static void
destroy_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    {
      close (*fd);
      *fd = -1;
    }
}

/* Broker thread. Once this returns, on_cancelled () is not running and
 * will not run. */
static void
stop_watching_cancellable (SshConnection *conn)
{
  if (conn->cancel_id != 0)
    g_cancellable_disconnect (conn->cancellable, conn->cancel_id);
  conn->cancel_id = 0;
  g_clear_object (&conn->cancellable);
}

/* Broker thread: releases the network and the descriptors at once (the
 * memory goes in finalize). Safe to call more than once. */
static void
conn_close (SshConnection *conn)
{
  GSource *source = &conn->source;

  if (conn->step == STEP_CLOSED)
    return;
  conn->step = STEP_CLOSED;

  stop_watching_cancellable (conn);
  destroy_source (&conn->timeout_source);
  destroy_source (&conn->keepalive_source);
  if (conn->tcp_cancellable != NULL)
    g_cancellable_cancel (conn->tcp_cancellable);
  g_clear_object (&conn->tcp_cancellable);

  if (!g_source_is_destroyed (source))
    {
      if (conn->ssh_tag != NULL)
        g_source_remove_unix_fd (source, conn->ssh_tag);
      if (conn->local_tag != NULL)
        g_source_remove_unix_fd (source, conn->local_tag);
      if (conn->err_tag != NULL)
        g_source_remove_unix_fd (source, conn->err_tag);
    }
  conn->ssh_tag = conn->local_tag = conn->err_tag = NULL;

  /* A last try at delivering stderr; it is diagnostics, never waited for. */
  if (conn->err_fd >= 0 && buf_len (&conn->err) > 0)
    (void) send (conn->err_fd, conn->err.data + conn->err.start, buf_len (&conn->err),
                 MSG_NOSIGNAL | MSG_DONTWAIT);
  close_fd (&conn->local_fd);
  close_fd (&conn->err_fd);

  if (conn->session != NULL)
    {
      /* Sends DISCONNECT without waiting; frees the channel. The server
       * then ends the session, and the agent sees its stdin close. */
      ssh_disconnect (conn->session);
      ssh_free (conn->session);
      conn->session = NULL;
      conn->channel = NULL;
    }
  close_fd (&conn->tcp_fd);

  if (!g_source_is_destroyed (source))
    g_source_destroy (source);
}

/* Broker thread: ends the attempt, or the bridge, with @error. */
static void
conn_fail (SshConnection *conn,
           GError        *error)
{
  if (conn->step == STEP_CLOSED)
    {
      g_error_free (error);
      return;
    }
  if (conn->task != NULL)
    {
      GTask *task = g_steal_pointer (&conn->task);

      g_debug ("%s", error->message);
      conn_close (conn);
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  /* The bridge: the core learns of it as end-of-file on its stream; the
   * reason goes where the target's stderr goes. */
  g_info ("%s", error->message);
  if (conn->err_fd >= 0)
    {
      g_autofree char *line = g_strdup_printf ("%s\n", error->message);
      err_append (conn, (const guint8 *) line, strlen (line));
    }
  g_error_free (error);
  conn_close (conn);
}

static char *
session_error (SshConnection *conn)
{
  const char *text = conn->session != NULL ? ssh_get_error (conn->session) : NULL;

  if (text == NULL || text[0] == '\0')
    return g_strdup ("unknown libssh error");
  return g_strdup (text);
}

/* "ssh: STEP: TARGET: libssh's explanation" */
static void
fail_step (SshConnection *conn,
           int            code,
           const char    *step)
{
  g_autofree char *detail = session_error (conn);

  conn_fail (conn, g_error_new (MITOGEN_ERROR, code, "ssh: %s: %s: %s", step, conn->target, detail));
}

static char *
dup_user (SshConnection *conn)
{
  char *value = NULL;
  char *user;

  if (ssh_options_get (conn->session, SSH_OPTIONS_USER, &value) != SSH_OK || value == NULL)
    return g_strdup (g_get_user_name ());
  user = g_strdup (value);
  ssh_string_free_char (value);
  return user;
}

/* --- host key ---------------------------------------------------------- */

static char *
dup_known_hosts_path (SshConnection *conn)
{
  char *value = NULL;
  char *path;

  if (conn->params.known_hosts_file != NULL)
    return g_strdup (conn->params.known_hosts_file);
  if (ssh_options_get (conn->session, SSH_OPTIONS_KNOWNHOSTS, &value) == SSH_OK && value != NULL)
    {
      path = g_strdup (value);
      ssh_string_free_char (value);
      return path;
    }
  return g_build_filename (g_get_home_dir (), ".ssh", "known_hosts", NULL);
}

/* The transport whose connect this is (the spawn task's source), while
 * the connect runs. */
static MitogenTransport *
conn_transport (SshConnection *conn)
{
  return conn->task != NULL ? g_task_get_source_object (conn->task) : NULL;
}

static gboolean
can_ask (SshConnection *conn)
{
  MitogenTransport *transport = conn_transport (conn);

  return transport != NULL && mitogen_transport_get_interaction (transport) != NULL;
}

static gboolean connect_timeout_cb (gpointer data);

/* connect_timeout, from now: a quarter of it (at most 0.5 s) before the
 * core's own deadline, so that the error names the step that hung; with
 * 50 ms the core's timer often won on a loaded machine. */
static void
arm_connect_timeout (SshConnection *conn)
{
  destroy_source (&conn->timeout_source);
  conn->timeout_source = g_timeout_source_new ((guint) ((conn->params.connect_timeout -
                                                         MIN (0.5, conn->params.connect_timeout * 0.25)) * 1000));
  g_source_set_static_name (conn->timeout_source, "mitogen-ssh connect-timeout");
  g_source_set_callback (conn->timeout_source, connect_timeout_cb, conn, NULL);
  g_source_attach (conn->timeout_source, conn->context);
}

/* Broker thread: asks the application's interaction; no step runs and
 * connect_timeout stops until @callback (which gets a reference on the
 * source as its data). */
static void
conn_ask (SshConnection       *conn,
          gpointer             request,
          GAsyncReadyCallback  callback)
{
  conn->waiting = TRUE;
  g_set_object (&conn->request, request);
  destroy_source (&conn->timeout_source);
  mitogen_transport_ask_async (conn_transport (conn), request, conn->cancellable, callback,
                               g_source_ref (&conn->source));
}

/* Broker thread: the interaction answered; FALSE if the connection is gone
 * meanwhile (then nothing is to be done). */
static gboolean
conn_answered (SshConnection *conn)
{
  conn->waiting = FALSE;
  if (conn->step == STEP_CLOSED || conn->task == NULL)
    return FALSE;
  arm_connect_timeout (conn);
  return TRUE;
}

/* An interaction's failure as the connect's error: cancelled stays so,
 * anything else is @code naming the target. Takes @error. */
static GError *
asked_error (SshConnection *conn,
             GError        *error,
             int            code,
             const char    *what)
{
  GError *result;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return error;
  result = g_error_new (MITOGEN_ERROR, code, "ssh: %s: %s: the interaction gave no answer: %s",
                        what, conn->target, error->message);
  g_error_free (error);
  return result;
}

static void host_key_answered_cb (GObject *source, GAsyncResult *result, gpointer user_data);

/* FALSE with @error: refused. FALSE without: the interaction is asked
 * (@conn->host_key_error is the refusal's error). */
static gboolean
verify_host_key (SshConnection  *conn,
                 GError        **error)
{
  ssh_key key = NULL;
  unsigned char *hash = NULL;
  size_t hash_len = 0;
  char *fingerprint = NULL;
  g_autofree char *fp = NULL;
  g_autofree char *file = NULL;
  const char *type;
  enum ssh_known_hosts_e state;
  gboolean ok = FALSE;

  if (conn->params.check_host_keys == MITOGEN_SSH_HOST_KEY_IGNORE)
    return TRUE;

  if (ssh_get_server_publickey (conn->session, &key) != SSH_OK)
    {
      g_autofree char *detail = session_error (conn);
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "ssh: host key verification: %s sent no usable host key: %s", conn->target, detail);
      return FALSE;
    }
  type = ssh_key_type_to_char (ssh_key_type (key));
  if (ssh_get_publickey_hash (key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hash_len) == 0)
    {
      fingerprint = ssh_get_fingerprint_hash (SSH_PUBLICKEY_HASH_SHA256, hash, hash_len);
      fp = g_strdup (fingerprint != NULL ? fingerprint : "?");
      ssh_string_free_char (fingerprint);
      ssh_clean_pubkey_hash (&hash);
    }
  else
    fp = g_strdup ("?");
  if (type == NULL)
    type = "unknown";
  file = dup_known_hosts_path (conn);

  state = ssh_session_is_known_server (conn->session);
  switch (state)
    {
    case SSH_KNOWN_HOSTS_OK:
      ok = TRUE;
      break;

    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "ssh: host key verification: the host key of %s has CHANGED: it is now %s %s, "
                   "but %s records %s for it. Someone may be intercepting the connection; "
                   "refusing to connect. If the change is expected, remove the old entry from %s",
                   conn->target, type, fp, file,
                   state == SSH_KNOWN_HOSTS_OTHER ? "a key of another type" : "a different key",
                   file);
      break;

    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
      if (conn->params.check_host_keys == MITOGEN_SSH_HOST_KEY_ACCEPT_NEW)
        {
          if (ssh_session_update_known_hosts (conn->session) == SSH_OK)
            {
              g_info ("ssh: %s is a new host: recorded its %s key %s in %s", conn->target, type, fp, file);
              ok = TRUE;
            }
          else
            {
              g_autofree char *detail = session_error (conn);
              g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                           "ssh: host key verification: could not record the %s key %s of %s in %s: %s",
                           type, fp, conn->target, file, detail);
            }
        }
      else
        g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                     "ssh: host key verification: %s is not a known host: its %s key %s is not in %s "
                     "(check_host_keys is enforce; add the key to that file, or use "
                     "check_host_keys=accept-new to trust it on first use)",
                     conn->target, type, fp, file);
      break;

    case SSH_KNOWN_HOSTS_ERROR:
    default:
      {
        g_autofree char *detail = session_error (conn);
        g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                     "ssh: host key verification: cannot check the %s key %s of %s against %s: %s",
                     type, fp, conn->target, file, detail);
      }
      break;
    }

  if (!ok && error != NULL && *error != NULL && can_ask (conn) &&
      (state == SSH_KNOWN_HOSTS_CHANGED || state == SSH_KNOWN_HOSTS_OTHER ||
       ((state == SSH_KNOWN_HOSTS_UNKNOWN || state == SSH_KNOWN_HOSTS_NOT_FOUND) &&
        conn->params.check_host_keys != MITOGEN_SSH_HOST_KEY_ACCEPT_NEW)))
    {
      /* The policy refuses; the application may know better. */
      char *value = NULL;
      unsigned int port = 22;
      g_autofree char *host = NULL;
      g_autoptr(MitogenHostKeyRequest) request = NULL;

      if (ssh_options_get (conn->session, SSH_OPTIONS_HOST, &value) == SSH_OK && value != NULL)
        {
          host = g_strdup (value);
          ssh_string_free_char (value);
        }
      else
        host = g_strdup (conn->params.hostname);
      if (ssh_options_get_port (conn->session, &port) != SSH_OK || port == 0)
        port = 22;
      request = mitogen_host_key_request_new (host, port, type, fp,
                                              state == SSH_KNOWN_HOSTS_CHANGED || state == SSH_KNOWN_HOSTS_OTHER,
                                              file);
      g_clear_error (&conn->host_key_error);
      conn->host_key_error = g_steal_pointer (error);
      g_debug ("ssh: %s: asking the interaction about its %s key %s", conn->target, type, fp);
      conn_ask (conn, request, host_key_answered_cb);
    }

  ssh_key_free (key);
  return ok;
}

/* Broker thread. */
static void
host_key_answered_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  SshConnection *conn = user_data;
  g_autoptr(GError) error = NULL;
  MitogenInteractionResult r = mitogen_transport_ask_finish (MITOGEN_TRANSPORT (source), result, &error);
  MitogenHostKeyAnswer answer = MITOGEN_HOST_KEY_ANSWER_REFUSE;

  if (!conn_answered (conn))
    goto out;
  if (r == MITOGEN_INTERACTION_FAILED && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      conn_fail (conn, g_steal_pointer (&error));
      goto out;
    }
  if (r == MITOGEN_INTERACTION_HANDLED)
    answer = mitogen_host_key_request_get_answer (MITOGEN_HOST_KEY_REQUEST (conn->request));
  switch (answer)
    {
    case MITOGEN_HOST_KEY_ANSWER_ACCEPT_ALWAYS:
      if (ssh_session_update_known_hosts (conn->session) != SSH_OK)
        {
          g_autofree char *detail = session_error (conn);
          conn_fail (conn, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                        "ssh: host key verification: %s: the interaction accepted the key, "
                                        "but it could not be recorded: %s", conn->target, detail));
          goto out;
        }
      g_info ("ssh: %s: the interaction accepted its host key; recorded", conn->target);
      G_GNUC_FALLTHROUGH;
    case MITOGEN_HOST_KEY_ANSWER_ACCEPT_ONCE:
      g_clear_error (&conn->host_key_error);
      conn->step = STEP_AUTH_NONE;
      conn_run (conn);
      break;
    case MITOGEN_HOST_KEY_ANSWER_REFUSE:
    default:
      {
        g_autoptr(GError) refusal = g_steal_pointer (&conn->host_key_error);

        conn_fail (conn, g_error_new (refusal->domain, refusal->code, "%s (the interaction %s%s)",
                                      refusal->message,
                                      r == MITOGEN_INTERACTION_HANDLED ? "refused the key"
                                      : r == MITOGEN_INTERACTION_UNHANDLED ? "did not answer"
                                      : "failed: ",
                                      r == MITOGEN_INTERACTION_FAILED ? error->message : ""));
      }
      break;
    }
out:
  g_source_unref (&conn->source);
}

/* --- authentication ---------------------------------------------------- */

/* Whether identity_file is a key that could not be used for want of its
 * passphrase, and the interaction may give it (libssh asks for
 * passphrases through a synchronous callback, so publickey_auto skipped
 * it). */
static gboolean
keyfile_needs_passphrase (SshConnection *conn)
{
  ssh_key key = NULL;
  int rc;

  if (conn->params.identity_file == NULL || !can_ask (conn) ||
      !g_file_test (conn->params.identity_file, G_FILE_TEST_IS_REGULAR))
    return FALSE;
  rc = ssh_pki_import_privkey_file (conn->params.identity_file, NULL, NULL, NULL, &key);
  ssh_key_free (key);
  return rc != SSH_OK;
}

/* Picks the next method the server offers and we have not tried, or
 * fails. Returns FALSE if the connection failed. */
static gboolean
auth_choose (SshConnection *conn)
{
  const char *password = conn->params.password;
  /* Without the option the application's interaction may answer. */
  gboolean may_ask = password == NULL && can_ask (conn);
  g_autofree char *user = NULL;

  if ((conn->methods & SSH_AUTH_METHOD_PUBLICKEY) && !(conn->tried & TRIED_PUBKEY))
    conn->step = STEP_AUTH_PUBKEY;
  else if ((conn->methods & SSH_AUTH_METHOD_PUBLICKEY) && !(conn->tried & TRIED_KEYFILE) &&
           keyfile_needs_passphrase (conn))
    conn->step = STEP_AUTH_KEYFILE;
  else if ((conn->methods & SSH_AUTH_METHOD_PASSWORD) && !(conn->tried & TRIED_PASSWORD) &&
           (password != NULL || (may_ask && !conn->asked_password)))
    conn->step = STEP_AUTH_PASSWORD;
  else if ((conn->methods & SSH_AUTH_METHOD_INTERACTIVE) && !(conn->tried & TRIED_KBDINT) &&
           (password != NULL || may_ask))
    conn->step = STEP_AUTH_KBDINT;
  else
    {
      user = dup_user (conn);
      if (conn->tried & (TRIED_PASSWORD | TRIED_KBDINT))
        conn_fail (conn, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD,
                                      "ssh: authentication: ssh password is incorrect (%s@%s)",
                                      user, conn->target));
      else if (conn->methods & (SSH_AUTH_METHOD_PASSWORD | SSH_AUTH_METHOD_INTERACTIVE))
        conn_fail (conn, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD,
                                      "ssh: authentication: ssh requires a password (%s@%s): "
                                      "no key was accepted and no password was given%s",
                                      user, conn->target,
                                      conn->asked_password ? " (the interaction did not answer)" : ""));
      else
        conn_fail (conn, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                      "ssh: authentication: %s@%s accepted none of our keys "
                                      "(ssh-agent, identity_file, default keys), and it offers "
                                      "no password authentication",
                                      user, conn->target));
      return FALSE;
    }
  return TRUE;
}

/* Broker thread. */
static void
password_answered_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  SshConnection *conn = user_data;
  g_autoptr(GError) error = NULL;
  MitogenInteractionResult r = mitogen_transport_ask_finish (MITOGEN_TRANSPORT (source), result, &error);
  const char *answer;

  if (!conn_answered (conn))
    goto out;
  conn->asked_password = TRUE;
  if (r == MITOGEN_INTERACTION_FAILED)
    {
      conn_fail (conn, asked_error (conn, g_steal_pointer (&error), MITOGEN_ERROR_PASSWORD, "authentication"));
      goto out;
    }
  answer = mitogen_secret_request_get_answer (MITOGEN_SECRET_REQUEST (conn->request));
  if (r == MITOGEN_INTERACTION_HANDLED && answer != NULL)
    conn->params.password = g_strdup (answer);
  else
    {
      /* Unhandled: on to the next method, or the "requires a password"
       * error (asked_password keeps the password method from asking
       * again). */
      if (!auth_choose (conn))
        goto out;
    }
  conn_run (conn);
out:
  g_source_unref (&conn->source);
}

/* Broker thread. */
static void
passphrase_answered_cb (GObject      *source,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  SshConnection *conn = user_data;
  g_autoptr(GError) error = NULL;
  MitogenInteractionResult r = mitogen_transport_ask_finish (MITOGEN_TRANSPORT (source), result, &error);
  const char *answer;

  if (!conn_answered (conn))
    goto out;
  if (r == MITOGEN_INTERACTION_FAILED)
    {
      conn_fail (conn, asked_error (conn, g_steal_pointer (&error), MITOGEN_ERROR_PASSWORD, "authentication"));
      goto out;
    }
  answer = mitogen_secret_request_get_answer (MITOGEN_SECRET_REQUEST (conn->request));
  if (r != MITOGEN_INTERACTION_HANDLED || answer == NULL)
    {
      /* On to the next method. */
      conn->tried |= TRIED_KEYFILE;
      if (!auth_choose (conn))
        goto out;
    }
  else if (ssh_pki_import_privkey_file (conn->params.identity_file, answer, NULL, NULL,
                                        &conn->keyfile_key) != SSH_OK)
    {
      g_clear_pointer (&conn->keyfile_key, ssh_key_free);
      conn_fail (conn, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD,
                                    "ssh: authentication: %s: the passphrase of %s is incorrect",
                                    conn->target, conn->params.identity_file));
      goto out;
    }
  conn_run (conn);
out:
  g_source_unref (&conn->source);
}

/* Broker thread: the passphrase of identity_file. */
static void
ask_passphrase (SshConnection *conn)
{
  g_autofree char *user = dup_user (conn);
  g_autofree char *target = g_strdup_printf ("%s@%s", user, conn->target);
  g_autofree char *prompt = g_strdup_printf ("Enter passphrase for key '%s': ", conn->params.identity_file);
  g_autoptr(MitogenSecretRequest) request = mitogen_secret_request_new ("ssh", MITOGEN_SECRET_KIND_PASSPHRASE,
                                                                        target, g_get_user_name (), prompt);

  conn_ask (conn, request, passphrase_answered_cb);
}

/* Broker thread: the password for password authentication. */
static void
ask_password (SshConnection *conn)
{
  g_autofree char *user = dup_user (conn);
  g_autofree char *target = g_strdup_printf ("%s@%s", user, conn->target);
  g_autofree char *prompt = g_strdup_printf ("%s's password: ", target);
  g_autoptr(MitogenSecretRequest) request = mitogen_secret_request_new ("ssh", MITOGEN_SECRET_KIND_PASSWORD,
                                                                        target, user, prompt);

  conn_ask (conn, request, password_answered_cb);
}

/* Broker thread. */
static void
questions_answered_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  SshConnection *conn = user_data;
  g_autoptr(GError) error = NULL;
  MitogenInteractionResult r = mitogen_transport_ask_finish (MITOGEN_TRANSPORT (source), result, &error);
  const char * const *answers;

  if (!conn_answered (conn))
    goto out;
  if (r == MITOGEN_INTERACTION_FAILED)
    {
      conn_fail (conn, asked_error (conn, g_steal_pointer (&error), MITOGEN_ERROR_PASSWORD, "authentication"));
      goto out;
    }
  answers = mitogen_questions_request_get_answers (MITOGEN_QUESTIONS_REQUEST (conn->request));
  if (r != MITOGEN_INTERACTION_HANDLED || answers == NULL)
    {
      g_autofree char *user = dup_user (conn);
      conn_fail (conn, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD,
                                    "ssh: authentication: %s@%s asks keyboard-interactive questions, "
                                    "and the interaction did not answer them", user, conn->target));
      goto out;
    }
  for (guint i = 0; answers[i] != NULL; i++)
    ssh_userauth_kbdint_setanswer (conn->session, i, answers[i]);
  conn_run (conn);
out:
  g_source_unref (&conn->source);
}

/* Broker thread: a keyboard-interactive round of @n prompts, put to the
 * interaction as they are. */
static void
ask_questions (SshConnection *conn,
               int            n)
{
  g_autofree char *user = dup_user (conn);
  g_autofree char *target = g_strdup_printf ("%s@%s", user, conn->target);
  g_autoptr(GPtrArray) prompts = g_ptr_array_new_with_free_func (g_free);
  g_autofree gboolean *echo = g_new0 (gboolean, MAX (n, 0) + 1);
  g_autoptr(MitogenQuestionsRequest) request = NULL;

  for (int i = 0; i < n; i++)
    {
      char e = 0;
      const char *prompt = ssh_userauth_kbdint_getprompt (conn->session, (unsigned) i, &e);

      g_ptr_array_add (prompts, g_utf8_make_valid (prompt != NULL ? prompt : "", -1));
      echo[i] = e != 0;
    }
  g_ptr_array_add (prompts, NULL);
  {
    const char *name = ssh_userauth_kbdint_getname (conn->session);
    const char *instruction = ssh_userauth_kbdint_getinstruction (conn->session);
    g_autofree char *valid_name = g_utf8_make_valid (name != NULL ? name : "", -1);
    g_autofree char *valid_instruction = g_utf8_make_valid (instruction != NULL ? instruction : "", -1);

    request = mitogen_questions_request_new ("ssh", target, valid_name, valid_instruction,
                                             (const char * const *) prompts->pdata, echo);
  }
  conn_ask (conn, request, questions_answered_cb);
}

/* Returns FALSE if the connection failed. */
static gboolean
auth_result (SshConnection *conn,
             int            rc,
             Tried          method)
{
  switch (rc)
    {
    case SSH_AUTH_SUCCESS:
      g_debug ("ssh: %s: authenticated", conn->target);
      conn->step = STEP_CHANNEL_OPEN;
      return TRUE;
    case SSH_AUTH_PARTIAL:
    case SSH_AUTH_DENIED:
      conn->tried |= method;
      conn->methods = ssh_userauth_list (conn->session, NULL);
      return auth_choose (conn);
    case SSH_AUTH_ERROR:
    default:
      fail_step (conn, MITOGEN_ERROR_STREAM, "authentication");
      return FALSE;
    }
}

/* --- bridge ------------------------------------------------------------ */

static void
set_nonblocking (int fd)
{
  int flags = fcntl (fd, F_GETFL);

  if (flags >= 0)
    fcntl (fd, F_SETFL, flags | O_NONBLOCK);
}

static gboolean
make_socketpair (int      pair[2],
                 int      size,
                 GError **error)
{
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
    {
      int saved = errno;
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "ssh: socketpair: %s", g_strerror (saved));
      return FALSE;
    }
  for (int i = 0; i < 2 && size > 0; i++)
    {
      setsockopt (pair[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
      setsockopt (pair[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
  set_nonblocking (pair[0]);
  return TRUE;
}

/* g_source_modify_unix_fd () wakes the main context: only on a change. */
static void
set_events (SshConnection *conn,
            gpointer       tag,
            GIOCondition  *current,
            GIOCondition   want)
{
  if (tag != NULL && *current != want)
    {
      g_source_modify_unix_fd (&conn->source, tag, want);
      *current = want;
    }
}

static void
update_events (SshConnection *conn)
{
  GIOCondition want;

  if (conn->step == STEP_CLOSED)
    return;

  /* While the interaction is asked nothing reads: a packet the server
   * sends meanwhile waits in the socket. */
  want = conn->waiting ? 0 : G_IO_IN;
  if (conn->session != NULL && (ssh_get_status (conn->session) & SSH_WRITE_PENDING))
    want |= G_IO_OUT;
  set_events (conn, conn->ssh_tag, &conn->ssh_events, want);

  want = 0;
  if (!conn->local_eof && buf_len (&conn->up) < BRIDGE_HIGH_WATER)
    want |= G_IO_IN;
  if (buf_len (&conn->down) > 0)
    want |= G_IO_OUT;
  set_events (conn, conn->local_tag, &conn->local_events, want);

  set_events (conn, conn->err_tag, &conn->err_events, buf_len (&conn->err) > 0 ? G_IO_OUT : 0);
}

static void
conn_lost (SshConnection *conn)
{
  fail_step (conn, MITOGEN_ERROR_CHANNEL, "connection lost");
}

/* The core closed its end of the stream: nothing can be delivered. */
static void
core_gone (SshConnection *conn,
           int            saved_errno)
{
  g_debug ("ssh: %s: the local end of the stream is closed (%s); disconnecting",
           conn->target, saved_errno != 0 ? g_strerror (saved_errno) : "hung up");
  conn_close (conn);
}

static void
err_append (SshConnection *conn,
            const guint8  *data,
            gsize          len)
{
  if (conn->err_fd < 0)
    return;
  if (buf_len (&conn->err) + len > STDERR_KEEP)
    {
      /* Nobody is reading: keep the newest bytes, they explain failures. */
      gsize keep = STDERR_KEEP - MIN (len, STDERR_KEEP);
      buf_consume (&conn->err, buf_len (&conn->err) - MIN (keep, buf_len (&conn->err)));
      if (len > STDERR_KEEP)
        {
          data += len - STDERR_KEEP;
          len = STDERR_KEEP;
        }
    }
  memcpy (buf_reserve (&conn->err, len), data, len);
  conn->err.end += len;
}

static void
err_flush (SshConnection *conn)
{
  while (conn->err_fd >= 0 && buf_len (&conn->err) > 0)
    {
      ssize_t n = send (conn->err_fd, conn->err.data + conn->err.start, buf_len (&conn->err),
                        MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0)
        buf_consume (&conn->err, (gsize) n);
      else if (n < 0 && errno == EINTR)
        continue;
      else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      else
        {
          /* The core does not want stderr any more. */
          if (conn->err_tag != NULL)
            g_source_remove_unix_fd (&conn->source, conn->err_tag);
          conn->err_tag = NULL;
          close_fd (&conn->err_fd);
          buf_clear (&conn->err);
        }
    }
}

/* Broker thread: moves what can move, in every direction, without
 * blocking; closes the connection when the channel is over. */
static void
conn_pump (SshConnection *conn)
{
  guint8 scratch[16 * 1024];

  for (guint round = 0; round < PUMP_ROUNDS && conn->step == STEP_BRIDGE; round++)
    {
      guint64 in_before = conn->counter.in_bytes;
      gboolean progress = FALSE;
      int rc;

      /* Output libssh queued while the socket was full. (It reads only
       * when it has something to write; the channel reads below read.) */
      if (ssh_blocking_flush (conn->session, 0) == SSH_ERROR)
        {
          conn_lost (conn);
          return;
        }

      /* Channel stdout → down, while the core keeps up. With its buffer
       * empty, each read makes libssh read the socket once (4 KiB): a
       * 32 KiB packet takes several reads that return 0 before it
       * yields, so go on while bytes arrive. */
      for (guint reads = 0;
           reads < SOCKET_READS_MAX && !conn->remote_eof && buf_len (&conn->down) < BRIDGE_HIGH_WATER;
           reads++)
        {
          guint8 *dst = buf_reserve (&conn->down, BRIDGE_CHUNK);
          guint64 before = conn->counter.in_bytes;

          rc = ssh_channel_read_nonblocking (conn->channel, dst, BRIDGE_CHUNK, 0);
          if (rc > 0)
            {
              conn->down.end += (gsize) rc;
              progress = TRUE;
            }
          else if (rc == SSH_EOF)
            {
              conn->remote_eof = TRUE;
              progress = TRUE;
            }
          else if (rc == 0)
            {
              if (conn->counter.in_bytes == before)
                break;  /* the socket is dry */
            }
          else
            {
              conn_lost (conn);
              return;
            }
        }

      /* Channel stderr → err (bounded by dropping, never by pausing). */
      while (!conn->err_eof)
        {
          rc = ssh_channel_read_nonblocking (conn->channel, scratch, sizeof scratch, 1);
          if (rc > 0)
            {
              err_append (conn, scratch, (gsize) rc);
              progress = TRUE;
            }
          else if (rc == SSH_EOF)
            conn->err_eof = TRUE;
          else if (rc == 0)
            break;
          else
            {
              conn_lost (conn);
              return;
            }
        }
      err_flush (conn);

      /* down → core. */
      while (buf_len (&conn->down) > 0)
        {
          ssize_t n = send (conn->local_fd, conn->down.data + conn->down.start, buf_len (&conn->down),
                            MSG_NOSIGNAL | MSG_DONTWAIT);
          if (n > 0)
            {
              buf_consume (&conn->down, (gsize) n);
              progress = TRUE;
            }
          else if (n < 0 && errno == EINTR)
            continue;
          else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
          else
            {
              core_gone (conn, errno);
              return;
            }
        }
      if (conn->remote_eof && buf_len (&conn->down) == 0 && !conn->local_shut)
        {
          shutdown (conn->local_fd, SHUT_WR);
          conn->local_shut = TRUE;
        }

      /* core → up, while the channel keeps up. */
      while (!conn->local_eof && buf_len (&conn->up) < BRIDGE_HIGH_WATER)
        {
          guint8 *dst = buf_reserve (&conn->up, BRIDGE_CHUNK);
          ssize_t n = recv (conn->local_fd, dst, BRIDGE_CHUNK, MSG_DONTWAIT);

          if (n > 0)
            {
              conn->up.end += (gsize) n;
              progress = TRUE;
            }
          else if (n == 0)
            {
              conn->local_eof = TRUE;
              progress = TRUE;
            }
          else if (errno == EINTR)
            continue;
          else if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
          else
            {
              core_gone (conn, errno);
              return;
            }
        }

      /* up → channel: within the remote window, and only while libssh's
       * own socket queue is empty, so its memory stays bounded too. */
      while (buf_len (&conn->up) > 0 && !(ssh_get_status (conn->session) & SSH_WRITE_PENDING))
        {
          gsize n = MIN (buf_len (&conn->up), ssh_channel_window_size (conn->channel));

          n = MIN (n, CHANNEL_WRITE_MAX);
          if (n == 0)
            break;
          rc = ssh_channel_write (conn->channel, conn->up.data + conn->up.start, (uint32_t) n);
          if (rc < 0)
            {
              if (ssh_channel_is_closed (conn->channel))
                {
                  /* The agent is gone; what it was sent no longer matters. */
                  buf_clear (&conn->up);
                  break;
                }
              conn_lost (conn);
              return;
            }
          if (rc == 0)
            break;
          buf_consume (&conn->up, (gsize) rc);
          progress = TRUE;
        }
      if (conn->local_eof && buf_len (&conn->up) == 0 && !conn->eof_sent)
        {
          conn->eof_sent = TRUE;
          if (!ssh_channel_is_closed (conn->channel))
            ssh_channel_send_eof (conn->channel);
          progress = TRUE;
        }

      if (conn->counter.in_bytes != in_before)
        progress = TRUE;
      if (!progress)
        break;
    }

  if (conn->step != STEP_BRIDGE)
    return;

  /* The agent exited (the server closes the channel after its EOF and
   * exit status): once its output is delivered, close our end. */
  if (ssh_channel_is_closed (conn->channel) && buf_len (&conn->down) == 0)
    {
      g_debug ("ssh: %s: channel closed (exit status %d)", conn->target,
               ssh_channel_get_exit_status (conn->channel));
      conn_close (conn);
    }
}

/* Broker thread. */
static gboolean
keepalive_cb (gpointer data)
{
  SshConnection *conn = data;

  if (conn->step != STEP_BRIDGE)
    return G_SOURCE_CONTINUE;

  g_source_ref (&conn->source);
  if (conn->counter.in_bytes != conn->keepalive_in)
    {
      conn->keepalive_in = conn->counter.in_bytes;
      conn->missed = 0;
    }
  else
    conn->missed++;

  if (conn->missed >= (guint) conn->params.keepalive_count)
    conn_fail (conn, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                                  "ssh: connection to %s lost: no answer to %d keepalives %.3g s apart",
                                  conn->target, conn->params.keepalive_count,
                                  conn->params.keepalive_interval));
  else
    {
      /* The second call sends when the first only collected the answer
       * to the previous keepalive (see the top of the file). */
      ssh_send_keepalive (conn->session);
      ssh_send_keepalive (conn->session);
      conn_pump (conn);
      update_events (conn);
    }
  g_source_unref (&conn->source);
  return G_SOURCE_CONTINUE;
}

/* Broker thread: the exec request succeeded. */
static void
start_bridge (SshConnection *conn)
{
  g_autoptr(GError) error = NULL;
  int data_pair[2], err_pair[2];
  GTask *task;

  if (!make_socketpair (data_pair, 1024 * 1024, &error))
    {
      conn_fail (conn, g_steal_pointer (&error));
      return;
    }
  if (!make_socketpair (err_pair, 0, &error))
    {
      close (data_pair[0]);
      close (data_pair[1]);
      conn_fail (conn, g_steal_pointer (&error));
      return;
    }

  conn->local_fd = data_pair[0];
  conn->err_fd = err_pair[0];
  conn->local_tag = g_source_add_unix_fd (&conn->source, conn->local_fd, G_IO_IN);
  conn->local_events = G_IO_IN;
  conn->err_tag = g_source_add_unix_fd (&conn->source, conn->err_fd, 0);
  conn->err_events = 0;
  /* We never read the stderr pair; the core never writes it. */
  shutdown (err_pair[0], SHUT_RD);
  conn->step = STEP_BRIDGE;

  stop_watching_cancellable (conn);
  destroy_source (&conn->timeout_source);
  if (conn->params.keepalive_interval > 0)
    {
      conn->keepalive_in = conn->counter.in_bytes;
      conn->keepalive_source = g_timeout_source_new ((guint) (conn->params.keepalive_interval * 1000));
      g_source_set_static_name (conn->keepalive_source, "mitogen-ssh keepalive");
      g_source_set_callback (conn->keepalive_source, keepalive_cb, conn, NULL);
      g_source_attach (conn->keepalive_source, g_source_get_context (&conn->source));
    }

  g_debug ("ssh: %s: command running; bridging", conn->target);
  task = g_steal_pointer (&conn->task);
  mitogen_transport_return_spawned (task, data_pair[1], data_pair[1], err_pair[1], 0);
  g_object_unref (task);
}

/* --- the connect steps ------------------------------------------------- */

static void
watch_ssh_fd (SshConnection *conn)
{
  int fd;

  if (conn->ssh_tag != NULL)
    return;
  fd = ssh_get_fd (conn->session);
  if (fd >= 0)
    {
      conn->ssh_tag = g_source_add_unix_fd (&conn->source, fd, G_IO_IN);
      conn->ssh_events = G_IO_IN;
    }
}

/* Broker thread: runs steps until one has to wait for the network. */
static void
conn_advance (SshConnection *conn)
{
  g_autoptr(GError) error = NULL;
  int rc;

  if (conn->waiting)
    return;

  for (;;)
    {
      switch (conn->step)
        {
        case STEP_TCP:
        case STEP_BRIDGE:
        case STEP_CLOSED:
          return;

        case STEP_HANDSHAKE:
          rc = ssh_connect (conn->session);
          watch_ssh_fd (conn);
          if (rc == SSH_AGAIN)
            return;
          if (rc != SSH_OK)
            {
              g_autofree char *detail = session_error (conn);
              conn_fail (conn, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                            "ssh: connect to %s: %s", conn->target, detail));
              return;
            }
          conn->step = STEP_HOST_KEY;
          break;

        case STEP_HOST_KEY:
          if (!verify_host_key (conn, &error))
            {
              if (error != NULL)
                conn_fail (conn, g_steal_pointer (&error));
              return;
            }
          conn->step = STEP_AUTH_NONE;
          break;

        case STEP_AUTH_NONE:
          rc = ssh_userauth_none (conn->session, NULL);
          if (rc == SSH_AUTH_AGAIN)
            return;
          if (!auth_result (conn, rc, TRIED_NONE))
            return;
          break;

        case STEP_AUTH_PUBKEY:
          rc = ssh_userauth_publickey_auto (conn->session, NULL, NULL);
          if (rc == SSH_AUTH_AGAIN)
            return;
          if (!auth_result (conn, rc, TRIED_PUBKEY))
            return;
          break;

        case STEP_AUTH_KEYFILE:
          if (conn->keyfile_key == NULL)
            {
              ask_passphrase (conn);
              return;
            }
          rc = ssh_userauth_publickey (conn->session, NULL, conn->keyfile_key);
          if (rc == SSH_AUTH_AGAIN)
            return;
          if (!auth_result (conn, rc, TRIED_KEYFILE))
            return;
          break;

        case STEP_AUTH_PASSWORD:
          if (conn->params.password == NULL)
            {
              ask_password (conn);
              return;
            }
          rc = ssh_userauth_password (conn->session, NULL, conn->params.password);
          if (rc == SSH_AUTH_AGAIN)
            return;
          if (!auth_result (conn, rc, TRIED_PASSWORD))
            return;
          break;

        case STEP_AUTH_KBDINT:
          rc = ssh_userauth_kbdint (conn->session, NULL, NULL);
          if (rc == SSH_AUTH_AGAIN)
            return;
          if (rc == SSH_AUTH_INFO)
            {
              int n = ssh_userauth_kbdint_getnprompts (conn->session);

              if (++conn->kbdint_rounds > KBDINT_ROUNDS_MAX)
                {
                  conn_fail (conn, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                                "ssh: authentication: %s keeps asking keyboard-interactive "
                                                "questions (%u rounds); giving up",
                                                conn->target, KBDINT_ROUNDS_MAX));
                  return;
                }
              if (conn->params.password == NULL)
                {
                  ask_questions (conn, n);
                  return;
                }
              for (int i = 0; i < n; i++)
                {
                  char echo = 0;

                  ssh_userauth_kbdint_getprompt (conn->session, (unsigned) i, &echo);
                  /* Hidden prompts get the password; visible ones (rare: a
                   * user name) an empty answer. */
                  ssh_userauth_kbdint_setanswer (conn->session, (unsigned) i,
                                                 echo ? "" : conn->params.password);
                }
              break;
            }
          if (!auth_result (conn, rc, TRIED_KBDINT))
            return;
          break;

        case STEP_CHANNEL_OPEN:
          if (conn->channel == NULL)
            conn->channel = ssh_channel_new (conn->session);
          if (conn->channel == NULL)
            {
              fail_step (conn, MITOGEN_ERROR_STREAM, "opening the session channel");
              return;
            }
          rc = ssh_channel_open_session (conn->channel);
          if (rc == SSH_AGAIN)
            return;
          if (rc != SSH_OK)
            {
              fail_step (conn, MITOGEN_ERROR_STREAM, "opening the session channel");
              return;
            }
          conn->step = STEP_EXEC;
          break;

        case STEP_EXEC:
          rc = ssh_channel_request_exec (conn->channel, conn->command);
          if (rc == SSH_AGAIN)
            return;
          if (rc != SSH_OK)
            {
              fail_step (conn, MITOGEN_ERROR_STREAM, "running the command");
              return;
            }
          start_bridge (conn);
          return;
        }
    }
}

/* Broker thread: acknowledges at once what the server sent, and keeps
 * doing so for the next packets. During the connect we often have nothing
 * to send back: after authentication sshd writes two small packets back to
 * back (its host keys notice, then the channel confirmation), and with
 * Nagle on (a session without a pty) the second waits in its socket until
 * our kernel's delayed ACK of the first, ~40 ms later. The kernel leaves
 * quick-ack mode by itself, so this is asked again at each wake-up of the
 * connect; never in the bridge, where each ACK rides on the next reply and
 * quick ACKs would cost a packet per call. */
static void
quick_ack (SshConnection *conn)
{
#ifdef TCP_QUICKACK
  int one = 1;

  if (conn->tcp_fd >= 0)
    setsockopt (conn->tcp_fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#endif
}

/* Broker thread. */
static void
conn_run (SshConnection *conn)
{
  if (conn->step < STEP_BRIDGE)
    {
      conn_advance (conn);
      quick_ack (conn);
    }
  if (conn->step == STEP_BRIDGE)
    conn_pump (conn);
  update_events (conn);
}

static gboolean
conn_dispatch (GSource     *source,
               GSourceFunc  callback,
               gpointer     user_data)
{
  SshConnection *conn = (SshConnection *) source;

  /* The core hung up both ways: nobody will read what the agent says.
   * Act once we have read all it sent, or cannot read more anyway (our
   * buffer towards the remote is full): POLLHUP is reported whether we
   * ask for it or not, so waiting would spin. */
  if (conn->step == STEP_BRIDGE && conn->local_tag != NULL &&
      (conn->local_eof || buf_len (&conn->up) >= BRIDGE_HIGH_WATER) &&
      (g_source_query_unix_fd (source, conn->local_tag) & (G_IO_HUP | G_IO_ERR)) != 0)
    {
      core_gone (conn, 0);
      return G_SOURCE_CONTINUE;
    }
  if (conn->err_tag != NULL &&
      (g_source_query_unix_fd (source, conn->err_tag) & (G_IO_HUP | G_IO_ERR)) != 0)
    {
      g_source_remove_unix_fd (source, conn->err_tag);
      conn->err_tag = NULL;
      close_fd (&conn->err_fd);
      buf_clear (&conn->err);
    }

  conn_run (conn);
  return G_SOURCE_CONTINUE;
}

static void
conn_finalize (GSource *source)
{
  SshConnection *conn = (SshConnection *) source;

  /* Still open: the main context went away with us attached (its broker
   * shut down). Let go of everything; a connect in progress simply ends
   * (its task cannot complete in a context that is gone). */
  conn_close (conn);
  g_clear_object (&conn->task);
  g_clear_error (&conn->host_key_error);
  g_clear_object (&conn->request);
  g_clear_pointer (&conn->keyfile_key, ssh_key_free);
  mitogen_ssh_params_clear (&conn->params);
  g_free (conn->command);
  g_free (conn->target);
  buf_clear (&conn->up);
  buf_clear (&conn->down);
  buf_clear (&conn->err);
}

static GSourceFuncs conn_funcs = {
  .dispatch = conn_dispatch,
  .finalize = conn_finalize,
};

/* Broker thread. */
static gboolean
connect_timeout_cb (gpointer data)
{
  SshConnection *conn = data;

  g_source_ref (&conn->source);
  conn_fail (conn, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT,
                                "ssh: connect to %s: not done within connect_timeout (%.3g s): stuck in %s",
                                conn->target, conn->params.connect_timeout, step_names[conn->step]));
  g_source_unref (&conn->source);
  return G_SOURCE_REMOVE;
}

/* Broker thread. */
static gboolean
cancelled_cb (gpointer data)
{
  SshConnection *conn = data;
  GError *error = NULL;

  if (conn->step >= STEP_BRIDGE)
    return G_SOURCE_REMOVE;
  if (conn->cancellable == NULL || !g_cancellable_set_error_if_cancelled (conn->cancellable, &error))
    error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
  conn_fail (conn, error);
  return G_SOURCE_REMOVE;
}

/* Any thread (the canceller's). Not a GCancellableSource: in GLib 2.74
 * one disposed on this thread while cancelled on another can leak. */
static void
on_cancelled (GCancellable *cancellable,
              gpointer      data)
{
  SshConnection *conn = data;
  GSource *idle = g_idle_source_new ();

  g_source_set_static_name (idle, "mitogen-ssh cancel");
  g_source_set_priority (idle, G_PRIORITY_DEFAULT);
  g_source_set_callback (idle, cancelled_cb, g_source_ref (&conn->source), (GDestroyNotify) g_source_unref);
  g_source_attach (idle, conn->context);
  g_source_unref (idle);
}

static void
tune_tcp_socket (SshConnection *conn,
                 int            fd)
{
  int one = 1;

  /* Frames are small and latency-bound. */
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  set_nonblocking (fd);
  if (conn->params.keepalive_interval > 0)
    {
      /* libssh has no ServerAliveInterval: a link that stops acknowledging
       * our keepalives errors the socket after interval * count. */
      unsigned int ms = (unsigned int) (conn->params.keepalive_interval * conn->params.keepalive_count * 1000);
      setsockopt (fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
    }
}

/* Broker thread (completion of g_socket_client_connect_async). */
static void
tcp_connected_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  SshConnection *conn = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  int fd;

  connection = g_socket_client_connect_finish (G_SOCKET_CLIENT (object), result, &error);
  if (conn->step != STEP_TCP)
    goto out;  /* closed meanwhile */

  if (connection == NULL)
    {
      conn_fail (conn, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                    "ssh: connect to %s: %s", conn->target, error->message));
      goto out;
    }

  fd = fcntl (g_socket_get_fd (g_socket_connection_get_socket (connection)), F_DUPFD_CLOEXEC, 3);
  if (fd < 0)
    {
      int saved = errno;
      conn_fail (conn, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                    "ssh: connect to %s: dup: %s", conn->target, g_strerror (saved)));
      goto out;
    }
  conn->tcp_fd = fd;
  tune_tcp_socket (conn, fd);
  g_clear_object (&conn->tcp_cancellable);
  ssh_options_set (conn->session, SSH_OPTIONS_FD, &fd);
  conn->ssh_tag = g_source_add_unix_fd (&conn->source, fd, G_IO_IN);
  conn->ssh_events = G_IO_IN;
  conn->step = STEP_HANDSHAKE;
  conn_run (conn);

out:
  g_source_unref (&conn->source);
}

/* Sets the session's options from @conn->params. */
static gboolean
configure_session (SshConnection  *conn,
                   GError        **error)
{
  ssh_session session = conn->session;
  MitogenSshParams *params = &conn->params;
  bool no = false;
  char *value = NULL;
  unsigned int port = 0;
  g_autofree char *host = NULL;

  if (ssh_options_set (session, SSH_OPTIONS_HOST, params->hostname) != SSH_OK)
    goto bad;
  if (params->username != NULL && ssh_options_set (session, SSH_OPTIONS_USER, params->username) != SSH_OK)
    goto bad;

  if (params->ssh_config)
    {
      if (ssh_options_parse_config (session, NULL) != 0)
        {
          g_autofree char *detail = session_error (conn);
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                       "ssh: reading the ssh configuration (~/.ssh/config, /etc/ssh/ssh_config): %s", detail);
          return FALSE;
        }
    }
  else if (ssh_options_set (session, SSH_OPTIONS_PROCESS_CONFIG, &no) != SSH_OK)
    goto bad;

  /* Explicit options win over the configuration files. */
  if (params->port > 0 && ssh_options_set (session, SSH_OPTIONS_PORT, &params->port) != SSH_OK)
    goto bad;
  if (params->known_hosts_file != NULL &&
      ssh_options_set (session, SSH_OPTIONS_KNOWNHOSTS, params->known_hosts_file) != SSH_OK)
    goto bad;
  if (params->identity_file != NULL &&
      ssh_options_set (session, SSH_OPTIONS_IDENTITY, params->identity_file) != SSH_OK)
    goto bad;
  if (params->compression_level > 0)
    {
      if (ssh_options_set (session, SSH_OPTIONS_COMPRESSION, "yes") != SSH_OK ||
          ssh_options_set (session, SSH_OPTIONS_COMPRESSION_LEVEL, &params->compression_level) != SSH_OK)
        goto bad;
    }
  else if (ssh_options_set (session, SSH_OPTIONS_COMPRESSION, "no") != SSH_OK)
    goto bad;

  if (ssh_options_get (session, SSH_OPTIONS_HOST, &value) == SSH_OK && value != NULL)
    {
      host = g_strdup (value);
      ssh_string_free_char (value);
    }
  else
    host = g_strdup (params->hostname);
  if (ssh_options_get_port (session, &port) != SSH_OK || port == 0)
    port = 22;
  g_free (conn->target);
  conn->target = strchr (host, ':') != NULL ? g_strdup_printf ("[%s]:%u", host, port)
                                            : g_strdup_printf ("%s:%u", host, port);

  ssh_set_blocking (session, 0);
  ssh_set_counters (session, &conn->counter, NULL);
  return TRUE;

bad:
  {
    g_autofree char *detail = session_error (conn);
    g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                 "ssh: invalid option for %s: %s", params->hostname, detail);
    return FALSE;
  }
}

static gboolean
has_proxy_command (SshConnection *conn)
{
  char *value = NULL;
  gboolean has;

  if (ssh_options_get (conn->session, SSH_OPTIONS_PROXYCOMMAND, &value) != SSH_OK || value == NULL)
    return FALSE;
  has = value[0] != '\0' && g_ascii_strcasecmp (value, "none") != 0;
  ssh_string_free_char (value);
  return has;
}

void
mitogen_ssh_connection_start (MitogenSshParams *params,
                              const char       *command,
                              GTask            *task)
{
  g_autoptr(GMainContext) context = g_main_context_ref_thread_default ();
  g_autoptr(GError) error = NULL;
  SshConnection *conn;
  GCancellable *cancellable = g_task_get_cancellable (task);

  conn = (SshConnection *) g_source_new (&conn_funcs, sizeof (SshConnection));
  g_source_set_static_name (&conn->source, "mitogen-ssh");
  /* Not blocked around each dispatch: GLib would take our three
   * descriptors out of the poll set and put them back, waking its own
   * context through the eventfd each time (three more system calls per
   * wake-up of a busy bridge). Nothing we call from dispatch iterates
   * this context. */
  g_source_set_can_recurse (&conn->source, TRUE);
  conn->params = *params;
  memset (params, 0, sizeof *params);
  conn->command = g_strdup (command);
  conn->target = g_strdup (conn->params.hostname);
  conn->task = g_object_ref (task);
  conn->tcp_fd = conn->local_fd = conn->err_fd = -1;
  conn->step = STEP_TCP;
  conn->context = context;
  g_source_attach (&conn->source, context);

  conn->session = ssh_new ();
  if (conn->session == NULL)
    {
      conn_fail (conn, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "ssh: cannot create a libssh session"));
      g_source_unref (&conn->source);
      return;
    }
  if (!configure_session (conn, &error))
    {
      conn_fail (conn, g_steal_pointer (&error));
      g_source_unref (&conn->source);
      return;
    }

  arm_connect_timeout (conn);
  if (cancellable != NULL)
    {
      conn->cancellable = g_object_ref (cancellable);
      conn->cancel_id = g_cancellable_connect (cancellable, G_CALLBACK (on_cancelled), conn, NULL);
    }

  if (has_proxy_command (conn))
    {
      /* libssh runs the ProxyCommand (a child on a socketpair). */
      g_debug ("ssh: %s: via the configured ProxyCommand", conn->target);
      conn->step = STEP_HANDSHAKE;
      conn_run (conn);
    }
  else
    {
      g_autoptr(GSocketClient) client = g_socket_client_new ();
      g_autoptr(GSocketConnectable) address = NULL;
      char *value = NULL;
      unsigned int port = 22;
      g_autofree char *host = NULL;

      if (ssh_options_get (conn->session, SSH_OPTIONS_HOST, &value) == SSH_OK && value != NULL)
        {
          host = g_strdup (value);
          ssh_string_free_char (value);
        }
      else
        host = g_strdup (conn->params.hostname);
      if (ssh_options_get_port (conn->session, &port) != SSH_OK || port == 0)
        port = 22;

      /* Name resolution and connect() run off this thread; the socket is
       * then handed to libssh. No proxy: ssh has its own (ProxyCommand). */
      g_socket_client_set_enable_proxy (client, FALSE);
      address = g_network_address_new (host, (guint16) port);
      conn->tcp_cancellable = g_cancellable_new ();
      g_socket_client_connect_async (client, address, conn->tcp_cancellable,
                                     tcp_connected_cb, g_source_ref (&conn->source));
    }
  g_source_unref (&conn->source);  /* the main context owns it now */
}
