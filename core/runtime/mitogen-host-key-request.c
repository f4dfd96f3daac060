/* mitogen-host-key-request.c — MitogenHostKeyRequest: an unknown or
 * changed ssh host key, put to a MitogenInteraction
 *
 * Made on the broker thread, answered on the thread of whoever started
 * the connect, read back on the broker thread (see
 * mitogen-secret-request.c).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-interaction"

#include "config.h"

#include "mitogen-private.h"

struct _MitogenHostKeyRequest
{
  GObject               parent_instance;
  char                 *host;              /* (owned) */
  guint                 port;
  char                 *key_type;          /* (owned) */
  char                 *fingerprint;       /* (owned) */
  gboolean              changed;
  char                 *known_hosts_file;  /* (owned) (nullable) */
  MitogenHostKeyAnswer  answer;
};

/**
 * MitogenHostKeyRequest:
 *
 * The question "do you trust this host key?", put to a
 * [class@Mitogen.Interaction] when ssh meets a host whose key is not in
 * the known hosts file (or differs from the one recorded there) and the
 * `check_host_keys` policy does not decide.
 *
 * The interaction answers with [method@Mitogen.HostKeyRequest.set_answer]:
 * refuse (the default), accept once, or accept and record the key.
 */
G_DEFINE_FINAL_TYPE (MitogenHostKeyRequest, mitogen_host_key_request, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (MitogenHostKeyAnswer, mitogen_host_key_answer,
                    G_DEFINE_ENUM_VALUE (MITOGEN_HOST_KEY_ANSWER_REFUSE, "refuse"),
                    G_DEFINE_ENUM_VALUE (MITOGEN_HOST_KEY_ANSWER_ACCEPT_ONCE, "accept-once"),
                    G_DEFINE_ENUM_VALUE (MITOGEN_HOST_KEY_ANSWER_ACCEPT_ALWAYS, "accept-always"))

static void
mitogen_host_key_request_finalize (GObject *object)
{
  MitogenHostKeyRequest *self = MITOGEN_HOST_KEY_REQUEST (object);

  g_free (self->host);
  g_free (self->key_type);
  g_free (self->fingerprint);
  g_free (self->known_hosts_file);
  G_OBJECT_CLASS (mitogen_host_key_request_parent_class)->finalize (object);
}

static void
mitogen_host_key_request_class_init (MitogenHostKeyRequestClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mitogen_host_key_request_finalize;
}

static void
mitogen_host_key_request_init (MitogenHostKeyRequest *self)
{
  self->answer = MITOGEN_HOST_KEY_ANSWER_REFUSE;
}

/**
 * mitogen_host_key_request_new:
 * @host: the host name as given to the connect
 * @port: the port
 * @key_type: the key's type (`ssh-ed25519`, `ecdsa-sha2-nistp256`, ...)
 * @fingerprint: the key's SHA-256 fingerprint, `SHA256:` and base64
 * @changed: %TRUE if the known hosts file records another key for @host
 * @known_hosts_file: (nullable): the file an accepted key is recorded in
 *
 * Makes a request; the ssh transport calls it, applications only in tests.
 *
 * Returns: (transfer full): a new request, answered
 *   %MITOGEN_HOST_KEY_ANSWER_REFUSE until set otherwise
 */
MitogenHostKeyRequest *
mitogen_host_key_request_new (const char *host,
                              guint       port,
                              const char *key_type,
                              const char *fingerprint,
                              gboolean    changed,
                              const char *known_hosts_file)
{
  MitogenHostKeyRequest *self;

  g_return_val_if_fail (host != NULL, NULL);
  g_return_val_if_fail (key_type != NULL, NULL);
  g_return_val_if_fail (fingerprint != NULL, NULL);

  self = g_object_new (MITOGEN_TYPE_HOST_KEY_REQUEST, NULL);
  self->host = g_strdup (host);
  self->port = port;
  self->key_type = g_strdup (key_type);
  self->fingerprint = g_strdup (fingerprint);
  self->changed = changed;
  self->known_hosts_file = g_strdup (known_hosts_file);
  return self;
}

/**
 * mitogen_host_key_request_get_host:
 * @self: a request
 *
 * Returns: the host name as given to the connect
 */
const char *
mitogen_host_key_request_get_host (MitogenHostKeyRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_HOST_KEY_REQUEST (self), NULL);
  return self->host;
}

/**
 * mitogen_host_key_request_get_port:
 * @self: a request
 *
 * Returns: the port
 */
guint
mitogen_host_key_request_get_port (MitogenHostKeyRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_HOST_KEY_REQUEST (self), 0);
  return self->port;
}

/**
 * mitogen_host_key_request_get_key_type:
 * @self: a request
 *
 * Returns: the key's type, such as `ssh-ed25519`
 */
const char *
mitogen_host_key_request_get_key_type (MitogenHostKeyRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_HOST_KEY_REQUEST (self), NULL);
  return self->key_type;
}

/**
 * mitogen_host_key_request_get_fingerprint:
 * @self: a request
 *
 * Returns: the key's fingerprint as OpenSSH prints it: `SHA256:` and the
 *   unpadded base64 of its SHA-256 hash
 */
const char *
mitogen_host_key_request_get_fingerprint (MitogenHostKeyRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_HOST_KEY_REQUEST (self), NULL);
  return self->fingerprint;
}

/**
 * mitogen_host_key_request_get_changed:
 * @self: a request
 *
 * Returns: %TRUE if another key is recorded for the host (someone may be
 *   intercepting the connection), %FALSE if the host is simply unknown
 */
gboolean
mitogen_host_key_request_get_changed (MitogenHostKeyRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_HOST_KEY_REQUEST (self), FALSE);
  return self->changed;
}

/**
 * mitogen_host_key_request_get_known_hosts_file:
 * @self: a request
 *
 * Returns: (nullable): the known hosts file that
 *   %MITOGEN_HOST_KEY_ANSWER_ACCEPT_ALWAYS writes to
 */
const char *
mitogen_host_key_request_get_known_hosts_file (MitogenHostKeyRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_HOST_KEY_REQUEST (self), NULL);
  return self->known_hosts_file;
}

/**
 * mitogen_host_key_request_get_answer:
 * @self: a request
 *
 * Returns: the answer set, %MITOGEN_HOST_KEY_ANSWER_REFUSE if none was
 */
MitogenHostKeyAnswer
mitogen_host_key_request_get_answer (MitogenHostKeyRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_HOST_KEY_REQUEST (self), MITOGEN_HOST_KEY_ANSWER_REFUSE);
  return self->answer;
}

/**
 * mitogen_host_key_request_set_answer:
 * @self: a request
 * @answer: whether to trust the key
 *
 * Sets the answer. An interaction that sets it (refusing too) returns
 * %MITOGEN_INTERACTION_HANDLED.
 */
void
mitogen_host_key_request_set_answer (MitogenHostKeyRequest *self,
                                     MitogenHostKeyAnswer   answer)
{
  g_return_if_fail (MITOGEN_IS_HOST_KEY_REQUEST (self));
  g_return_if_fail (answer <= MITOGEN_HOST_KEY_ANSWER_ACCEPT_ALWAYS);
  self->answer = answer;
}
