/* mitogen-private.h — common internal include
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include <mitogen/mitogen.h>

G_BEGIN_DECLS

/* Internal functions the test suite reaches through the shared library.
 * Declared only in -private.h files; not part of the API. */
#define MITOGEN_INTERNAL __attribute__((visibility ("default")))


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

/* Process identity (mitogen-identity.c). Set once by the agent. */
void    mitogen_identity_set          (guint32        context_id,
                                       const guint32 *parent_ids,
                                       gsize          n_parent_ids);

/* Sorting names (mitogen-utils.c): a GCompareFunc for a GPtrArray of
 * strings, and "sort, NULL-terminate, hand over as a strv" (takes @names). */
int     mitogen_compare_strings       (gconstpointer  a,
                                       gconstpointer  b);
char  **mitogen_strv_take_sorted      (GPtrArray     *names);

G_END_DECLS
