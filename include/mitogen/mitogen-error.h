/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-version-macros.h>
#include <glib-object.h>

G_BEGIN_DECLS

/**
 * MitogenError:
 * @MITOGEN_ERROR_CALL: a remote function failed; the remote domain, code,
 *   message and context name are in the error (see
 *   [func@Mitogen.Error.get_remote_domain]). The seed's `CallError`.
 * @MITOGEN_ERROR_CHANNEL: the peer is gone: its context disconnected, or a
 *   dead message arrived. The seed's `ChannelError`.
 * @MITOGEN_ERROR_STREAM: a stream failed: the peer broke the protocol, or
 *   the transport could not start. The seed's `StreamError`.
 * @MITOGEN_ERROR_TIMEOUT: a deadline passed. The seed's `TimeoutError`.
 * @MITOGEN_ERROR_PASSWORD: a password was wrong or missing.
 * @MITOGEN_ERROR_INVALID_ARGUMENT: an option, argument or name was invalid.
 * @MITOGEN_ERROR_NOT_FOUND: no such transport, function or context.
 * @MITOGEN_ERROR_NOT_SUPPORTED: the operation is not supported (yet).
 * @MITOGEN_ERROR_CLOSED: the object (receiver, router) was closed locally.
 *
 * Error codes of the `MITOGEN_ERROR` domain.
 */
typedef enum
{
  MITOGEN_ERROR_CALL,
  MITOGEN_ERROR_CHANNEL,
  MITOGEN_ERROR_STREAM,
  MITOGEN_ERROR_TIMEOUT,
  MITOGEN_ERROR_PASSWORD,
  MITOGEN_ERROR_INVALID_ARGUMENT,
  MITOGEN_ERROR_NOT_FOUND,
  MITOGEN_ERROR_NOT_SUPPORTED,
  MITOGEN_ERROR_CLOSED,
} MitogenError;

#define MITOGEN_ERROR (mitogen_error_quark ())

MITOGEN_AVAILABLE_IN_ALL
GQuark       mitogen_error_quark                 (void);
MITOGEN_AVAILABLE_IN_ALL
GType        mitogen_error_get_type              (void);
#define MITOGEN_TYPE_ERROR (mitogen_error_get_type ())

MITOGEN_AVAILABLE_IN_ALL
const char  *mitogen_error_get_remote_domain     (const GError *error);
MITOGEN_AVAILABLE_IN_ALL
int          mitogen_error_get_remote_code       (const GError *error);
MITOGEN_AVAILABLE_IN_ALL
const char  *mitogen_error_get_remote_message    (const GError *error);
MITOGEN_AVAILABLE_IN_ALL
const char  *mitogen_error_get_context_name      (const GError *error);
MITOGEN_AVAILABLE_IN_ALL
const char  *mitogen_error_get_remote_backtrace  (const GError *error);

G_END_DECLS
