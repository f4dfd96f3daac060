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

#include "mitogen-error-private.h"

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
 * The error domain of this library, `MITOGEN_ERROR`. Its codes are
 * [error@Mitogen.Error]; remote errors travel under its name, and
 * language bindings see it as the domain string `mitogen-error-quark`.
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

/* A language binding (PyGObject) keeps only a GError's domain, code and
 * message, and makes a new GError from them when it passes one back: the
 * private data is empty then. The message of a CALL error made by
 * mitogen_error_new_remote () holds every detail but the backtrace:
 *   "FUNCTION failed in context 'NAME': MESSAGE (DOMAIN CODE)"
 *   "Remote error in context 'NAME': MESSAGE (DOMAIN CODE)"
 * so read them back from it, once, into the private data. The GError is
 * the caller's; like any GError it is not shared between threads. */
static void
parse_remote_detail (const GError        *error,
                     MitogenErrorPrivate *priv)
{
  static const char marker[] = " in context '";
  const char *message = error->message;
  const char *name, *name_end, *remote, *tail, *domain, *domain_end, *last;
  char *code_end = NULL;
  gint64 code;
  gsize length;

  if (message == NULL || (length = strlen (message)) < 2 || message[length - 1] != ')')
    return;
  last = message + length - 1;

  name = strstr (message, marker);
  if (name == NULL)
    return;
  name += strlen (marker);
  name_end = strstr (name, "': ");
  if (name_end == NULL)
    return;
  remote = name_end + 3;

  tail = g_strrstr (remote, " (");
  if (tail == NULL)
    return;
  domain = tail + 2;
  domain_end = g_strrstr_len (domain, last - domain, " ");
  if (domain_end == NULL || domain_end == domain)
    return;
  code = g_ascii_strtoll (domain_end + 1, &code_end, 10);
  if (code_end != last || code_end == domain_end + 1 || code < G_MININT || code > G_MAXINT)
    return;

  priv->remote_domain = g_strndup (domain, domain_end - domain);
  priv->remote_code = (int) code;
  priv->remote_message = g_strndup (remote, tail - remote);
  priv->context_name = g_strndup (name, name_end - name);
}

static MitogenErrorPrivate *
get_private (const GError *error)
{
  MitogenErrorPrivate *priv;

  if (error == NULL || error->domain != MITOGEN_ERROR)
    return NULL;
  priv = mitogen_error_get_private (error);
  if (priv->remote_domain == NULL && error->code == MITOGEN_ERROR_CALL)
    parse_remote_detail (error, priv);
  return priv;
}

/**
 * mitogen_error_get_remote_domain:
 * @error: a #GError
 *
 * The domain of the error a remote function failed with, the seed's
 * `CallError.type_name`. Any thread.
 *
 * An error that went through a language binding which keeps only a
 * GError's domain, code and message (PyGObject) still answers this, and
 * the other `mitogen_error_get_*()` functions but
 * [func@Mitogen.Error.get_remote_backtrace], from its message.
 *
 * Returns: (nullable): the name of the remote error's domain (a quark
 *   string such as `g-io-error-quark`) of a %MITOGEN_ERROR_CALL error;
 *   %NULL for any other error
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
 * The code of the error a remote function failed with, in the domain
 * [func@Mitogen.Error.get_remote_domain] names. Any thread.
 *
 * Returns: the remote error's code of a %MITOGEN_ERROR_CALL error, or 0
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
 * The message of the error a remote function failed with, without the
 * function and context names that @error's own message adds. Any thread.
 *
 * Returns: (nullable): the remote error's own message of a
 *   %MITOGEN_ERROR_CALL error, or %NULL
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
 * The name of the context a remote function failed in (its
 * [method@Mitogen.Context.get_name]), the seed's `CallError` context
 * name. Any thread.
 *
 * Returns: (nullable): the name of the context the error happened in, of
 *   a %MITOGEN_ERROR_CALL error, or %NULL
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
 * Detail text the remote side attached to the error, the seed's remote
 * traceback. Any thread. It is not kept when @error went through a
 * language binding that copies a GError by its domain, code and message
 * only (PyGObject); gjs keeps it.
 *
 * Returns: (nullable): the remote backtrace or detail text (possibly
 *   empty) of a %MITOGEN_ERROR_CALL error, or %NULL
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
