/* fuzz-frame.c — a frame off the wire: header, payload, message
 *
 * Input: the 28 header bytes, then the payload: the rest of the input,
 * whatever the header's length says (the header's length is set to it;
 * the stream target cuts frames by their lengths).
 * Exercises mitogen_frame_header_decode (), mitogen_frame_decode_payload ()
 * and mitogen_message_decode () with mitogen_message_get_value () (a
 * remote error's (sisss) becomes a GError, whose details are then read
 * back both from it and from a bare copy of its message, as a language
 * binding hands it back).
 *
 * Checks: a header that decodes re-encodes to the same 28 bytes; a value
 * that decodes re-encodes (mitogen_frame_encode_payload () and the
 * trailer) to a payload that decodes to an equal value.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <string.h>

#include "fuzz-common.h"
#include "mitogen-frame-private.h"
#include "mitogen-message-private.h"

void
fuzz_frame_init (void)
{
}

/* @value's wire form decodes to @value again. */
static void
check_payload_roundtrip (GVariant *value)
{
  g_autoptr(GBytes) body = mitogen_frame_encode_payload (value);
  g_autoptr(GBytes) trailer = mitogen_frame_variant_trailer (value);
  g_autoptr(GByteArray) joined = g_byte_array_new ();
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GVariant) again = NULL;
  g_autoptr(GError) error = NULL;
  gsize len = 0;
  const guint8 *data;

  data = g_bytes_get_data (body, &len);
  g_byte_array_append (joined, data, (guint) len);
  data = g_bytes_get_data (trailer, &len);
  g_byte_array_append (joined, data, (guint) len);
  payload = g_byte_array_free_to_bytes (g_steal_pointer (&joined));

  again = mitogen_frame_decode_payload (payload, &error);
  FUZZ_CHECK (again != NULL);
  FUZZ_CHECK (g_variant_equal (again, value));
}

/* What a caller reads from a remote error, and what it reads from a
 * GError made anew from its domain, code and message (PyGObject). */
static void
read_error (const GError *error)
{
  g_autoptr(GError) bare = g_error_new_literal (error->domain, error->code, error->message);

  (void) mitogen_error_get_remote_domain (error);
  (void) mitogen_error_get_remote_code (error);
  (void) mitogen_error_get_remote_message (error);
  (void) mitogen_error_get_context_name (error);
  (void) mitogen_error_get_remote_backtrace (error);

  (void) mitogen_error_get_remote_domain (bare);
  (void) mitogen_error_get_remote_code (bare);
  (void) mitogen_error_get_remote_message (bare);
  (void) mitogen_error_get_context_name (bare);
}

int
fuzz_frame_one (const guint8 *data,
                gsize         size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GBytes) payload = NULL;
  MitogenFrameHeader header = { 0, };

  if (mitogen_frame_header_decode (data, size, MITOGEN_DEFAULT_MAX_MESSAGE_SIZE, &header, &error))
    {
      guint8 again[MITOGEN_FRAME_HEADER_SIZE];

      FUZZ_CHECK (error == NULL);
      mitogen_frame_header_encode (&header, again);
      FUZZ_CHECK (memcmp (again, data, MITOGEN_FRAME_HEADER_SIZE) == 0);
    }
  else
    {
      FUZZ_CHECK (error != NULL && error->domain == MITOGEN_ERROR);
      if (size < MITOGEN_FRAME_HEADER_SIZE)
        return 0;
      /* Still decode the payload: as a plain or an error frame. */
      memset (&header, 0, sizeof header);
      header.flags = data[3] & MITOGEN_FRAME_FLAG_ERROR;
    }
  g_clear_error (&error);
  /* As the stream cuts it: the length is the payload's. */
  header.length = (guint32) MIN (size - MITOGEN_FRAME_HEADER_SIZE, G_MAXUINT32);

  payload = g_bytes_new (data + MITOGEN_FRAME_HEADER_SIZE, size - MITOGEN_FRAME_HEADER_SIZE);
  message = mitogen_message_new_received (&header, payload);
  if (!mitogen_message_decode (message, &error))
    {
      FUZZ_CHECK (error != NULL && error->domain == MITOGEN_ERROR);
      FUZZ_CHECK (mitogen_message_peek_value (message) == NULL);
      return 0;
    }

  if (mitogen_message_is_dead (message))
    {
      g_autoptr(GVariant) value = mitogen_message_get_value (message, &error);

      FUZZ_CHECK (value == NULL && g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL));
      return 0;
    }

  check_payload_roundtrip (mitogen_message_peek_value (message));

  {
    g_autoptr(GVariant) value = mitogen_message_get_value (message, &error);

    if (mitogen_message_is_error (message))
      {
        FUZZ_CHECK (value == NULL && g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL));
        read_error (error);
      }
    else
      FUZZ_CHECK (value != NULL && error == NULL);
  }
  return 0;
}

FUZZ_TARGET (frame)
