/* mitogen-private.h — what every internal header includes first
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include <mitogen/mitogen.h>

G_BEGIN_DECLS

/* Internal functions the test suite reaches through the shared library.
 * Declared only in -private.h files; not part of the API. */
#define MITOGEN_INTERNAL __attribute__((visibility ("default")))


/* What each file offers the others is declared in its own -private.h:
 * mitogen-error-private.h for mitogen-error.c, and so on. */

G_END_DECLS
