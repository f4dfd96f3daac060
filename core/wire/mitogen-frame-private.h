/* mitogen-frame-private.h — the wire frame header codec (see docs/protocol.md)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

#define MITOGEN_FRAME_MAGIC        0x4d47u   /* "MG" */
#define MITOGEN_FRAME_VERSION      1u
#define MITOGEN_FRAME_HEADER_SIZE  28u
#define MITOGEN_FRAME_FLAG_ERROR   0x01u     /* payload is a remote error (sisss) */
#define MITOGEN_FRAME_FLAGS_KNOWN  MITOGEN_FRAME_FLAG_ERROR

/* Before a peer has greeted (or configured us) its frames must be small. */
#define MITOGEN_FRAME_HANDSHAKE_MAX (64u * 1024u)

#define MITOGEN_DEFAULT_MAX_MESSAGE_SIZE (128u * 1024u * 1024u)

typedef struct
{
  guint8  flags;
  guint32 dst_id;
  guint32 src_id;
  guint32 auth_id;
  guint32 handle;
  guint32 reply_to;
  guint32 length;     /* payload bytes that follow the header; 0: dead */
} MitogenFrameHeader;

MITOGEN_INTERNAL
void      mitogen_frame_header_encode    (const MitogenFrameHeader *header,
                                          guint8                    out[MITOGEN_FRAME_HEADER_SIZE]);
gboolean  mitogen_frame_header_decode    (const guint8             *buf,
                                          gsize                     len,
                                          guint64                   max_size,
                                          MitogenFrameHeader       *header,
                                          GError                  **error);
GVariant *mitogen_frame_decode_payload   (GBytes                   *payload,
                                          GError                  **error);
GBytes   *mitogen_frame_encode_payload   (GVariant                 *value);
GBytes   *mitogen_frame_variant_trailer  (GVariant                 *value);
GBytes   *mitogen_frame_call_trailer     (void);

G_END_DECLS
