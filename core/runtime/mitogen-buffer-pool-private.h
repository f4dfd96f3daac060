/* mitogen-buffer-pool-private.h — recycled buffers for large frames
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

/* Buffers at least this large are worth keeping. */
#define MITOGEN_BUFFER_POOL_MIN   (128u * 1024u)
/* What the pool keeps at most, in bytes and in buffers. */
#define MITOGEN_BUFFER_POOL_BYTES (8u * 1024u * 1024u)
#define MITOGEN_BUFFER_POOL_COUNT 8u
/* A buffer not taken again within this long is freed. */
#define MITOGEN_BUFFER_POOL_IDLE_USEC (2 * G_USEC_PER_SEC)

MITOGEN_INTERNAL
guint8 *mitogen_buffer_pool_alloc     (gsize    size);
MITOGEN_INTERNAL
guint8 *mitogen_buffer_pool_try_take  (gsize    size);
MITOGEN_INTERNAL
guint8 *mitogen_buffer_pool_grow      (guint8  *buffer,
                                       gsize    size);
MITOGEN_INTERNAL
gsize   mitogen_buffer_pool_capacity  (const guint8 *buffer);
MITOGEN_INTERNAL
void    mitogen_buffer_pool_give      (guint8  *buffer);
MITOGEN_INTERNAL
GBytes *mitogen_buffer_pool_to_bytes  (guint8  *buffer,
                                       gsize    size);
MITOGEN_INTERNAL
void    mitogen_buffer_pool_clear     (void);
MITOGEN_INTERNAL
gsize   mitogen_buffer_pool_get_bytes (void);

G_END_DECLS
