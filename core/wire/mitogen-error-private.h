/* mitogen-error-private.h — remote errors and deadlines (wire layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

/* Remote error detail carried by MITOGEN_ERROR errors (extended GError). */
GError *mitogen_error_new_remote     (const char *function,
                                      const char *remote_domain,
                                      int         remote_code,
                                      const char *remote_message,
                                      const char *context_name,
                                      const char *backtrace);
GVariant *mitogen_error_to_variant   (const GError *error,
                                      const char   *context_name);

/* Monotonic seconds -> GLib monotonic microsecond deadline; < 0: forever (-1). */
gint64  mitogen_deadline_from_timeout (double timeout_seconds);

G_END_DECLS
