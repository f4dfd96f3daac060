/* mitogen-stock-image-private.h — the stock agents, one per CPU
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Any thread. Stage 1's HASH argument: the one image's hash, or with
 * several CPUs "PATTERN=HASH ..." (a `uname -m` shell pattern each); stage
 * 1 looks for a cached agent under the hash its machine matches. */
char    *mitogen_stock_image_hash_argument (GError **error);

/* Any thread. Whether there is an image for the target's `uname -m`
 * (@machine, untrusted; NULL or "?" when unknown: the primary image); the
 * error names the CPUs there are images for. */
gboolean mitogen_stock_image_check         (const char  *machine,
                                            GError     **error);

/* Any thread: the image for @machine in the first of @formats (a
 * NULL-terminated list of "zst", "xz", "gz", "raw"; NULL entries are
 * skipped up to @n_formats) it has: the build's .zst and .xz exist or not,
 * gz and raw always. Only the format picked is read, on first use, then
 * kept. *@format: the one picked (static). (transfer full) */
GBytes  *mitogen_stock_image_get           (const char          *machine,
                                            const char * const  *formats,
                                            gsize                n_formats,
                                            const char         **format,
                                            GError             **error);

G_END_DECLS
