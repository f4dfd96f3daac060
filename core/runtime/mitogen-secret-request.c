/* mitogen-secret-request.c — MitogenSecretRequest: a password or another
 * secret a transport asks a MitogenInteraction for
 *
 * Made by a transport on the broker thread, answered on the thread of
 * whoever started the connect, read back on the broker thread: the hand
 * over between them goes through main-context sources, which order it.
 * The answer is wiped when replaced or freed.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-interaction"

#include "config.h"

#include <string.h>

#include "mitogen-private.h"

struct _MitogenSecretRequest
{
  GObject            parent_instance;
  char              *method;   /* (owned) */
  MitogenSecretKind  kind;
  char              *target;   /* (owned) */
  char              *user;     /* (owned) (nullable) */
  char              *prompt;   /* (owned) */
  char              *answer;   /* (owned) (nullable) wiped when freed */
};

/**
 * MitogenSecretRequest:
 *
 * A request for a secret — a password typed at sudo's prompt or for ssh
 * password authentication, a private key's passphrase, or any other
 * secret a transport needs — made to a [class@Mitogen.Interaction].
 *
 * It says which method asks ([method@Mitogen.SecretRequest.get_method]),
 * what kind of secret ([method@Mitogen.SecretRequest.get_kind]), for what
 * target ([method@Mitogen.SecretRequest.get_target]: `user@host:port` for
 * ssh, `sudo -u root` for sudo), whose it is
 * ([method@Mitogen.SecretRequest.get_user]) and a prompt to show. The
 * interaction answers with [method@Mitogen.SecretRequest.set_answer].
 */
G_DEFINE_FINAL_TYPE (MitogenSecretRequest, mitogen_secret_request, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (MitogenSecretKind, mitogen_secret_kind,
                    G_DEFINE_ENUM_VALUE (MITOGEN_SECRET_KIND_PASSWORD, "password"),
                    G_DEFINE_ENUM_VALUE (MITOGEN_SECRET_KIND_PASSPHRASE, "passphrase"),
                    G_DEFINE_ENUM_VALUE (MITOGEN_SECRET_KIND_OTHER, "other"))

static void
wipe (char **secret)
{
  if (*secret != NULL)
    {
      volatile char *p = *secret;
      while (*p != '\0')
        *p++ = '\0';
      g_clear_pointer (secret, g_free);
    }
}

static void
mitogen_secret_request_finalize (GObject *object)
{
  MitogenSecretRequest *self = MITOGEN_SECRET_REQUEST (object);

  wipe (&self->answer);
  g_free (self->method);
  g_free (self->target);
  g_free (self->user);
  g_free (self->prompt);
  G_OBJECT_CLASS (mitogen_secret_request_parent_class)->finalize (object);
}

static void
mitogen_secret_request_class_init (MitogenSecretRequestClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mitogen_secret_request_finalize;
}

static void
mitogen_secret_request_init (MitogenSecretRequest *self)
{
}

/**
 * mitogen_secret_request_new:
 * @method: the method asking (`sudo`, `ssh`, ...)
 * @kind: what is asked for
 * @target: what the secret opens, for a person: `user@host:port`, `sudo -u root`
 * @user: (nullable): whose secret it is (the account), if known
 * @prompt: the text to show
 *
 * Makes a request; transports call it, applications only in tests.
 *
 * Returns: (transfer full): a new request without an answer
 */
MitogenSecretRequest *
mitogen_secret_request_new (const char        *method,
                            MitogenSecretKind  kind,
                            const char        *target,
                            const char        *user,
                            const char        *prompt)
{
  MitogenSecretRequest *self;

  g_return_val_if_fail (method != NULL, NULL);
  g_return_val_if_fail (target != NULL, NULL);
  g_return_val_if_fail (prompt != NULL, NULL);

  self = g_object_new (MITOGEN_TYPE_SECRET_REQUEST, NULL);
  self->method = g_strdup (method);
  self->kind = kind;
  self->target = g_strdup (target);
  self->user = g_strdup (user);
  self->prompt = g_strdup (prompt);
  return self;
}

/**
 * mitogen_secret_request_get_method:
 * @self: a request
 *
 * Returns: the method asking: `sudo`, `ssh`, ...
 */
const char *
mitogen_secret_request_get_method (MitogenSecretRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_SECRET_REQUEST (self), NULL);
  return self->method;
}

/**
 * mitogen_secret_request_get_kind:
 * @self: a request
 *
 * Returns: what kind of secret is asked for
 */
MitogenSecretKind
mitogen_secret_request_get_kind (MitogenSecretRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_SECRET_REQUEST (self), MITOGEN_SECRET_KIND_OTHER);
  return self->kind;
}

/**
 * mitogen_secret_request_get_target:
 * @self: a request
 *
 * Returns: what the secret opens: `user@host:port` (ssh), `sudo -u USER`
 */
const char *
mitogen_secret_request_get_target (MitogenSecretRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_SECRET_REQUEST (self), NULL);
  return self->target;
}

/**
 * mitogen_secret_request_get_user:
 * @self: a request
 *
 * Returns: (nullable): the account whose secret is asked for: the remote
 *   user for ssh, the user running sudo for sudo
 */
const char *
mitogen_secret_request_get_user (MitogenSecretRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_SECRET_REQUEST (self), NULL);
  return self->user;
}

/**
 * mitogen_secret_request_get_prompt:
 * @self: a request
 *
 * Returns: the text to show, e.g. `[sudo] password for alice: `
 */
const char *
mitogen_secret_request_get_prompt (MitogenSecretRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_SECRET_REQUEST (self), NULL);
  return self->prompt;
}

/**
 * mitogen_secret_request_get_answer:
 * @self: a request
 *
 * Returns: (nullable): the answer, or %NULL if none was set
 */
const char *
mitogen_secret_request_get_answer (MitogenSecretRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_SECRET_REQUEST (self), NULL);
  return self->answer;
}

/**
 * mitogen_secret_request_set_answer:
 * @self: a request
 * @answer: (nullable): the secret; %NULL clears it
 *
 * Sets the answer (the previous one is wiped). An interaction that sets it
 * returns %MITOGEN_INTERACTION_HANDLED.
 */
void
mitogen_secret_request_set_answer (MitogenSecretRequest *self,
                                   const char           *answer)
{
  g_return_if_fail (MITOGEN_IS_SECRET_REQUEST (self));
  wipe (&self->answer);
  self->answer = g_strdup (answer);
}
