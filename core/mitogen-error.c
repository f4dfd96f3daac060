/* mitogen-error.c — the MITOGEN_ERROR domain and remote error details
 *
 * A CALL error keeps what the remote side said: its domain, code, message,
 * the name of the context it happened in and a backtrace if there was one.
 * They live in the GError's private data (an extended error domain).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-error"

#include "config.h"

#include "mitogen-private.h"

typedef struct
{
  char *remote_domain;
  int   remote_code;
  char *remote_message;
  char *context_name;
  char *backtrace;
} MitogenErrorPrivate;

static void
mitogen_error_private_init (MitogenErrorPrivate *priv)
{
  priv->remote_code = 0;
}

static void
mitogen_error_private_copy (const MitogenErrorPrivate *src,
                            MitogenErrorPrivate       *dest)
{
  dest->remote_domain = g_strdup (src->remote_domain);
  dest->remote_code = src->remote_code;
  dest->remote_message = g_strdup (src->remote_message);
  dest->context_name = g_strdup (src->context_name);
  dest->backtrace = g_strdup (src->backtrace);
}

static void
mitogen_error_private_clear (MitogenErrorPrivate *priv)
{
  g_clear_pointer (&priv->remote_domain, g_free);
  g_clear_pointer (&priv->remote_message, g_free);
  g_clear_pointer (&priv->context_name, g_free);
  g_clear_pointer (&priv->backtrace, g_free);
}

/* G_DEFINE_EXTENDED_ERROR () spelled out, to give the domain the
 * conventional quark name "mitogen-error-quark" (the macro would use
 * "MitogenError"). Remote errors carry this string on the wire. */
static inline MitogenErrorPrivate *
mitogen_error_get_private (const GError *error)
{
  const gsize sa = 2 * sizeof (gsize);
  const gsize as = (sizeof (MitogenErrorPrivate) + (sa - 1)) & -sa;

  return (MitogenErrorPrivate *) (((guint8 *) error) - as);
}

static void
error_private_init (GError *error)
{
  mitogen_error_private_init (mitogen_error_get_private (error));
}

static void
error_private_copy (const GError *src,
                    GError       *dest)
{
  mitogen_error_private_copy (mitogen_error_get_private (src), mitogen_error_get_private (dest));
}

static void
error_private_clear (GError *error)
{
  mitogen_error_private_clear (mitogen_error_get_private (error));
}

/**
 * mitogen_error_quark:
 *
 * Returns: the `MITOGEN_ERROR` domain, "mitogen-error-quark"
 */
GQuark
mitogen_error_quark (void)
{
  static gsize once;
  static GQuark quark;

  if (g_once_init_enter (&once))
    {
      quark = g_error_domain_register_static ("mitogen-error-quark", sizeof (MitogenErrorPrivate),
                                              error_private_init, error_private_copy,
                                              error_private_clear);
      g_once_init_leave (&once, 1);
    }
  return quark;
}

G_DEFINE_ENUM_TYPE (MitogenError, mitogen_error,
  G_DEFINE_ENUM_VALUE (MITOGEN_ERROR_CALL, "call"),
  G_DEFINE_ENUM_VALUE (MITOGEN_ERROR_CHANNEL, "channel"),
  G_DEFINE_ENUM_VALUE (MITOGEN_ERROR_STREAM, "stream"),
  G_DEFINE_ENUM_VALUE (MITOGEN_ERROR_TIMEOUT, "timeout"),
  G_DEFINE_ENUM_VALUE (MITOGEN_ERROR_PASSWORD, "password"),
  G_DEFINE_ENUM_VALUE (MITOGEN_ERROR_INVALID_ARGUMENT, "invalid-argument"),
  G_DEFINE_ENUM_VALUE (MITOGEN_ERROR_NOT_FOUND, "not-found"),
  G_DEFINE_ENUM_VALUE (MITOGEN_ERROR_NOT_SUPPORTED, "not-supported"),
  G_DEFINE_ENUM_VALUE (MITOGEN_ERROR_CLOSED, "closed"))

static MitogenErrorPrivate *
get_private (const GError *error)
{
  if (error == NULL || error->domain != MITOGEN_ERROR)
    return NULL;
  return mitogen_error_get_private (error);
}

/**
 * mitogen_error_get_remote_domain:
 * @error: a #GError
 *
 * Returns: (nullable): the name of the remote error's domain (a quark
 *   string such as `g-io-error-quark`) of a %MITOGEN_ERROR_CALL error.
 */
const char *
mitogen_error_get_remote_domain (const GError *error)
{
  MitogenErrorPrivate *priv = get_private (error);
  return priv != NULL ? priv->remote_domain : NULL;
}

/**
 * mitogen_error_get_remote_code:
 * @error: a #GError
 *
 * Returns: the remote error's code, or 0.
 */
int
mitogen_error_get_remote_code (const GError *error)
{
  MitogenErrorPrivate *priv = get_private (error);
  return priv != NULL ? priv->remote_code : 0;
}

/**
 * mitogen_error_get_remote_message:
 * @error: a #GError
 *
 * Returns: (nullable): the remote error's own message.
 */
const char *
mitogen_error_get_remote_message (const GError *error)
{
  MitogenErrorPrivate *priv = get_private (error);
  return priv != NULL ? priv->remote_message : NULL;
}

/**
 * mitogen_error_get_context_name:
 * @error: a #GError
 *
 * Returns: (nullable): the name of the context the error happened in.
 */
const char *
mitogen_error_get_context_name (const GError *error)
{
  MitogenErrorPrivate *priv = get_private (error);
  return priv != NULL ? priv->context_name : NULL;
}

/**
 * mitogen_error_get_remote_backtrace:
 * @error: a #GError
 *
 * Returns: (nullable): the remote backtrace or detail text, if any.
 */
const char *
mitogen_error_get_remote_backtrace (const GError *error)
{
  MitogenErrorPrivate *priv = get_private (error);
  return priv != NULL ? priv->backtrace : NULL;
}

GError *
mitogen_error_new_remote (const char *function,
                          const char *remote_domain,
                          int         remote_code,
                          const char *remote_message,
                          const char *context_name,
                          const char *backtrace)
{
  GError *error;
  MitogenErrorPrivate *priv;

  if (function != NULL && function[0] != '\0')
    error = g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CALL,
                         "%s failed in context '%s': %s (%s %d)",
                         function, context_name, remote_message, remote_domain, remote_code);
  else
    error = g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CALL,
                         "Remote error in context '%s': %s (%s %d)",
                         context_name, remote_message, remote_domain, remote_code);

  priv = mitogen_error_get_private (error);
  priv->remote_domain = g_strdup (remote_domain);
  priv->remote_code = remote_code;
  priv->remote_message = g_strdup (remote_message);
  priv->context_name = g_strdup (context_name);
  priv->backtrace = g_strdup (backtrace != NULL ? backtrace : "");
  return error;
}

/* The wire form of an error: (sisss) domain, code, message, context, backtrace.
 * A CALL error passing through keeps its original remote detail. */
GVariant *
mitogen_error_to_variant (const GError *error,
                          const char   *context_name)
{
  MitogenErrorPrivate *priv = get_private (error);

  if (priv != NULL && error->code == MITOGEN_ERROR_CALL && priv->remote_domain != NULL)
    return g_variant_new ("(sisss)", priv->remote_domain, priv->remote_code,
                          priv->remote_message, priv->context_name,
                          priv->backtrace != NULL ? priv->backtrace : "");

  return g_variant_new ("(sisss)", g_quark_to_string (error->domain), error->code,
                        error->message, context_name != NULL ? context_name : "", "");
}

gint64
mitogen_deadline_from_timeout (double timeout_seconds)
{
  if (timeout_seconds < 0)
    return -1;
  if (timeout_seconds > 1e9)
    timeout_seconds = 1e9;
  return g_get_monotonic_time () + (gint64) (timeout_seconds * G_USEC_PER_SEC);
}
