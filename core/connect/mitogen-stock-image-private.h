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

/* Any thread: the image for @machine, raw and compressed (@xz: NULL when
 * the build wrote none). Read on first use, then kept. */
gboolean mitogen_stock_image_get           (const char  *machine,
                                            GBytes     **raw,
                                            GBytes     **gz,
                                            GBytes     **xz,
                                            GError     **error);

G_END_DECLS
