/* mitogen-sha256-private.h — SHA-256 for transfer integrity checks
 *
 * GLib's GChecksum computes SHA-256 at about 110 MB/s here, slower than a
 * local disk or link, and both ends of a transfer compute it. On CPUs
 * with the SHA extensions (x86 SHA-NI) this uses them (well over 1 GB/s);
 * elsewhere a portable block function in C.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

#define MITOGEN_SHA256_LEN 32

typedef struct
{
  guint32    state[8];
  guint8     block[64];
  gsize      block_len;
  guint64    total;
} MitogenSha256;

void     mitogen_sha256_init   (MitogenSha256 *self);
void     mitogen_sha256_update (MitogenSha256 *self,
                                const void    *data,
                                gsize          len);
/* Writes the digest. */
void     mitogen_sha256_finish (MitogenSha256 *self,
                                guint8         digest[MITOGEN_SHA256_LEN]);
/* Forgets the state without a digest (an abandoned transfer). */
void     mitogen_sha256_clear  (MitogenSha256 *self);
gboolean mitogen_sha256_is_accelerated (void);

/* @digest in lowercase hex, NUL-terminated, into @hex. */
void     mitogen_sha256_to_hex (const guint8   digest[MITOGEN_SHA256_LEN],
                                char           hex[2 * MITOGEN_SHA256_LEN + 1]);
/* The SHA-256 of @data in lowercase hex. (transfer full) Any thread. */
char    *mitogen_sha256_hex_of_bytes (GBytes *data);

G_END_DECLS
