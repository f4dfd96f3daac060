/* mitogen-frame.c — the wire frame header codec
 *
 * Layout (big-endian, 28 bytes), see docs/protocol.md:
 *   u16 magic "MG" | u8 version | u8 flags | u32 dst_id | u32 src_id |
 *   u32 auth_id | u32 handle | u32 reply_to | u32 length
 * then `length` bytes: a GVariant of type "v" in normal form.
 *
 * Every function here is pure and may run on any thread.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-frame"

#include "config.h"

#include <string.h>

#include "mitogen-frame-private.h"
#include "mitogen-protocol-private.h"
#include "mitogen-private.h"

/* The trailers that make a call's and an empty tuple's bytes a "v": most
 * frames carry one of these two. */
static const char call_trailer[] = "\0(sva{sv})";
static const char unit_trailer[] = "\0()";
#define TRAILER_LEN(t) (sizeof (t) - 1)

static inline void
put_u32 (guint8 *p, guint32 v)
{
  v = GUINT32_TO_BE (v);
  memcpy (p, &v, 4);
}

static inline guint32
get_u32 (const guint8 *p)
{
  guint32 v;
  memcpy (&v, p, 4);
  return GUINT32_FROM_BE (v);
}

void
mitogen_frame_header_encode (const MitogenFrameHeader *header,
                             guint8                    out[MITOGEN_FRAME_HEADER_SIZE])
{
  out[0] = (MITOGEN_FRAME_MAGIC >> 8) & 0xff;
  out[1] = MITOGEN_FRAME_MAGIC & 0xff;
  out[2] = MITOGEN_FRAME_VERSION;
  out[3] = header->flags;
  put_u32 (out + 4, header->dst_id);
  put_u32 (out + 8, header->src_id);
  put_u32 (out + 12, header->auth_id);
  put_u32 (out + 16, header->handle);
  put_u32 (out + 20, header->reply_to);
  put_u32 (out + 24, header->length);
}

/* Never trusts the wire: bad magic, an unknown version or flag, or a length
 * over @max_size fail with MITOGEN_ERROR_STREAM. */
gboolean
mitogen_frame_header_decode (const guint8        *buf,
                             gsize                len,
                             guint64              max_size,
                             MitogenFrameHeader  *header,
                             GError             **error)
{
  guint16 magic;

  if (len < MITOGEN_FRAME_HEADER_SIZE)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "Frame header truncated: %" G_GSIZE_FORMAT " of %u bytes",
                   len, MITOGEN_FRAME_HEADER_SIZE);
      return FALSE;
    }

  magic = (guint16) ((buf[0] << 8) | buf[1]);
  if (magic != MITOGEN_FRAME_MAGIC)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "Bad frame magic 0x%04x (expected 0x%04x): peer is not speaking the mitogen protocol",
                   magic, MITOGEN_FRAME_MAGIC);
      return FALSE;
    }
  if (buf[2] != MITOGEN_FRAME_VERSION)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "Unsupported protocol version %u (this side speaks %u)",
                   buf[2], MITOGEN_FRAME_VERSION);
      return FALSE;
    }
  if ((buf[3] & ~MITOGEN_FRAME_FLAGS_KNOWN) != 0)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "Unknown frame flags 0x%02x", buf[3]);
      return FALSE;
    }

  header->flags = buf[3];
  header->dst_id = get_u32 (buf + 4);
  header->src_id = get_u32 (buf + 8);
  header->auth_id = get_u32 (buf + 12);
  header->handle = get_u32 (buf + 16);
  header->reply_to = get_u32 (buf + 20);
  header->length = get_u32 (buf + 24);

  if ((guint64) header->length > max_size)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "Frame of %u bytes exceeds max_message_size (%" G_GUINT64_FORMAT " bytes)",
                   header->length, max_size);
      return FALSE;
    }

  return TRUE;
}

/* A "v" is the value's bytes, a zero byte, then the type string. GLib's
 * normal-form check walks an array of bytes one element at a time (in
 * g_variant_is_normal_form (), and again when the child of an untrusted
 * "v" is taken), so a bulk `ay` (the common large payload) is recognised
 * here: any bytes are a bytestring in normal form, so only the type
 * string needs checking. Returns the length of the value's bytes, or
 * -1 if the payload is not an `ay` in a "v". */
static gssize
payload_bytestring_length (GBytes *payload)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (payload, &len);

  if (len >= 3 && data[len - 3] == '\0' && data[len - 2] == 'a' && data[len - 1] == 'y')
    return (gssize) (len - 3);
  return -1;
}

/* Returns: (transfer full): the inner value of a serialized "v". The bytes
 * come from a peer: anything but a normal-form variant is refused. */
GVariant *
mitogen_frame_decode_payload (GBytes  *payload,
                              GError **error)
{
  g_autoptr(GVariant) boxed = NULL;

  if (g_bytes_get_size (payload) == 0)
    {
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                           "Empty payload where a value was expected");
      return NULL;
    }

  {
    gssize n = payload_bytestring_length (payload);

    if (n >= 0)
      {
        /* No walk over the bytes: the child of the "v" is made directly
         * (a bytestring has no byte order to swap). */
        g_autoptr(GBytes) value = g_bytes_new_from_bytes (payload, 0, (gsize) n);

        return g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, value, TRUE));
      }
  }

  /* "()", the reply of every call that returns nothing: its one zero
   * byte, then the trailer. No byte order to mind. */
  {
    gsize len = 0;
    const guint8 *data = g_bytes_get_data (payload, &len);

    if (len == 1 + TRAILER_LEN (unit_trailer) && data[0] == 0 &&
        memcmp (data + 1, unit_trailer, TRAILER_LEN (unit_trailer)) == 0)
      return mitogen_protocol_unit ();
  }

#if G_BYTE_ORDER == G_LITTLE_ENDIAN
  {
    /* A call: its own check (mitogen_protocol_call_is_normal ()), which
     * costs a fraction of GLib's generic one; anything it does not accept
     * takes the generic path below. */
    gsize len = 0;
    const guint8 *data = g_bytes_get_data (payload, &len);
    gsize trailer = TRAILER_LEN (call_trailer);

    if (len > trailer && memcmp (data + len - trailer, call_trailer, trailer) == 0 &&
        mitogen_protocol_call_is_normal (data, len - trailer))
      {
        g_autoptr(GBytes) value = g_bytes_new_from_bytes (payload, 0, len - trailer);

        return g_variant_ref_sink (g_variant_new_from_bytes (MITOGEN_PROTOCOL_CALL_TYPE, value, TRUE));
      }
  }
#endif

  boxed = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_VARIANT, payload, FALSE));
  if (!g_variant_is_normal_form (boxed))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "Malformed payload: %" G_GSIZE_FORMAT " bytes are not a GVariant in normal form",
                   g_bytes_get_size (payload));
      return NULL;
    }

#if G_BYTE_ORDER == G_BIG_ENDIAN
  {
    g_autoptr(GVariant) wire = g_variant_get_variant (boxed);

    /* The wire's numbers are little-endian (docs/protocol.md, "Byte
     * order"); the framing offsets already are, so only the inner
     * value's own numbers turn round. */
    return g_variant_byteswap (wire);
  }
#else
  return g_variant_get_variant (boxed);
#endif
}

/* Any thread. Returns: (transfer full): @value's serialized form as it
 * travels: GVariant's normal form with every number little-endian, so
 * peers of either byte order agree (a big-endian host swaps; values of
 * byte-sized types only, like "ay" and "s", are never copied). */
GBytes *
mitogen_frame_encode_payload (GVariant *value)
{
#if G_BYTE_ORDER == G_BIG_ENDIAN
  g_autoptr(GVariant) wire = g_variant_byteswap (value);

  return g_variant_get_data_as_bytes (wire);
#else
  return g_variant_get_data_as_bytes (value);
#endif
}

/* The two common trailers as bytes, made once. (owned) never freed. */
static GBytes *call_trailer_bytes, *unit_trailer_bytes;

static void
make_static_trailers (void)
{
  static gsize once;

  if (g_once_init_enter (&once))
    {
      call_trailer_bytes = g_bytes_new_static (call_trailer, TRAILER_LEN (call_trailer));
      unit_trailer_bytes = g_bytes_new_static (unit_trailer, TRAILER_LEN (unit_trailer));
      g_once_init_leave (&once, 1);
    }
}

/* The trailer of a call's "(sva{sv})". Returns: (transfer full). */
GBytes *
mitogen_frame_call_trailer (void)
{
  make_static_trailers ();
  return g_bytes_ref (call_trailer_bytes);
}

/* The bytes that follow a value's own serialization to make it a "v":
 * a zero byte, then the type string. Returns: (transfer full). */
GBytes *
mitogen_frame_variant_trailer (GVariant *value)
{
  const char *type = g_variant_get_type_string (value);
  gsize len;
  guint8 *buf;

  make_static_trailers ();
  if (strcmp (type, call_trailer + 1) == 0)
    return g_bytes_ref (call_trailer_bytes);
  if (strcmp (type, unit_trailer + 1) == 0)
    return g_bytes_ref (unit_trailer_bytes);
  len = strlen (type);
  buf = g_malloc (len + 1);

  buf[0] = '\0';
  memcpy (buf + 1, type, len);
  return g_bytes_new_take (buf, len + 1);
}
