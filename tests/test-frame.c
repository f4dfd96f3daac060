/* test-frame.c — the frame header codec and payload decoder, with a
 * randomized decoder test (fuzz) that must never crash or accept garbage.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <string.h>

#include "mitogen-frame-private.h"
#include "mitogen-message-private.h"
#include "mitogen-protocol-private.h"

static void
test_roundtrip (void)
{
  MitogenFrameHeader in, out;
  guint8 buf[MITOGEN_FRAME_HEADER_SIZE];
  g_autoptr(GError) error = NULL;

  memset (&in, 0, sizeof in);
  memset (&out, 0, sizeof out);
  in = (MitogenFrameHeader) { MITOGEN_FRAME_FLAG_ERROR, 1, 2, 3, 4, 5, 6 };

  g_test_summary ("A header encodes to 28 big-endian bytes and decodes back unchanged.");

  mitogen_frame_header_encode (&in, buf);
  g_assert_cmpuint (buf[0], ==, 'M');
  g_assert_cmpuint (buf[1], ==, 'G');
  g_assert_cmpuint (buf[2], ==, MITOGEN_FRAME_VERSION);
  g_assert_cmpuint (buf[27], ==, 6);
  g_assert_true (mitogen_frame_header_decode (buf, sizeof buf, 100, &out, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (out.flags, ==, in.flags);
  g_assert_cmpuint (out.dst_id, ==, 1);
  g_assert_cmpuint (out.src_id, ==, 2);
  g_assert_cmpuint (out.auth_id, ==, 3);
  g_assert_cmpuint (out.handle, ==, 4);
  g_assert_cmpuint (out.reply_to, ==, 5);
  g_assert_cmpuint (out.length, ==, 6);
}

typedef struct
{
  const char *path;
  gsize       offset;     /* byte to overwrite, or G_MAXSIZE */
  guint8      value;
  gsize       len;        /* bytes offered to the decoder */
  guint64     max_size;
  const char *expect;     /* substring of the error */
} BadHeader;

static const BadHeader bad_headers[] = {
  { "/frame/bad/magic",     0, 'X', 28, 1000, "magic" },
  { "/frame/bad/version",   2, 9,   28, 1000, "version" },
  { "/frame/bad/flags",     3, 0x80, 28, 1000, "flags" },
  { "/frame/bad/too-large", 24, 0xff, 28, 1000, "max_message_size" },
  { "/frame/bad/truncated", G_MAXSIZE, 0, 27, 1000, "truncated" },
};

static void
test_bad_header (gconstpointer data)
{
  const BadHeader *tc = data;
  MitogenFrameHeader in = { 0, 1, 2, 3, 4, 5, 10 }, out;
  guint8 buf[MITOGEN_FRAME_HEADER_SIZE];
  g_autoptr(GError) error = NULL;

  mitogen_frame_header_encode (&in, buf);
  if (tc->offset != G_MAXSIZE)
    buf[tc->offset] = tc->value;
  g_assert_false (mitogen_frame_header_decode (buf, tc->len, tc->max_size, &out, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_assert_nonnull (strstr (error->message, tc->expect));
}

static void
test_payload (void)
{
  g_autoptr(GVariant) value = g_variant_ref_sink (g_variant_new ("(sx)", "hello", (gint64) 42));
  g_autoptr(GVariant) boxed = g_variant_ref_sink (g_variant_new_variant (value));
  g_autoptr(GBytes) bytes = g_variant_get_data_as_bytes (boxed);
  g_autoptr(GVariant) decoded = NULL;
  g_autoptr(GError) error = NULL;
  guint8 junk[] = { 1, 2, 3, 0, '(', 's' };
  g_autoptr(GBytes) bad = g_bytes_new (junk, sizeof junk);
  g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);

  g_test_summary ("Payloads must be a normal-form serialized v; anything else is refused.");

  decoded = mitogen_frame_decode_payload (bytes, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_equal (decoded, value));

  g_assert_null (mitogen_frame_decode_payload (bad, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_clear_error (&error);

  g_assert_null (mitogen_frame_decode_payload (empty, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
}

static void
test_message_encoding (void)
{
  g_autoptr(MitogenMessage) message = mitogen_message_new (7, 1234, g_variant_new ("(su)", "x", 9u));
  g_autoptr(GBytes) joined = NULL;
  g_autoptr(GVariant) back = NULL;
  g_autoptr(GError) error = NULL;
  GByteArray *wire = g_byte_array_new ();

  g_test_summary ("A built message's two payload parts join into the serialized v of its value.");

  g_byte_array_append (wire, g_bytes_get_data (message->payload, NULL), (guint) g_bytes_get_size (message->payload));
  g_byte_array_append (wire, g_bytes_get_data (message->trailer, NULL), (guint) g_bytes_get_size (message->trailer));
  g_assert_cmpuint (wire->len, ==, message->header.length);
  joined = g_byte_array_free_to_bytes (wire);
  back = mitogen_frame_decode_payload (joined, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_equal (back, message->value));
}

static void
test_error_flag_shape (void)
{
  MitogenFrameHeader header = { MITOGEN_FRAME_FLAG_ERROR, 0, 1, 1, 1000, 0, 0 };
  g_autoptr(GVariant) boxed = g_variant_ref_sink (g_variant_new_variant (g_variant_new_string ("not an error")));
  g_autoptr(GBytes) bytes = g_variant_get_data_as_bytes (boxed);
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A frame flagged as an error must carry the (sisss) error shape.");

  header.length = (guint32) g_bytes_get_size (bytes);
  message = mitogen_message_new_received (&header, bytes);
  g_assert_false (mitogen_message_decode (message, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
}

static void
test_fuzz (void)
{
  GRand *rand = g_rand_new_with_seed (g_test_rand_int ());
  guint accepted = 0;

  g_test_summary ("Random and mutated headers and payloads never crash the decoders; "
                  "whatever is accepted respects the size limit.");

  for (guint i = 0; i < 200000; i++)
    {
      guint8 buf[64];
      gsize len = (gsize) g_rand_int_range (rand, 0, sizeof buf);
      MitogenFrameHeader header;
      g_autoptr(GError) error = NULL;

      for (gsize j = 0; j < len; j++)
        buf[j] = (guint8) g_rand_int (rand);
      if (len >= 3 && g_rand_boolean (rand))
        {
          buf[0] = 'M';
          buf[1] = 'G';
          buf[2] = MITOGEN_FRAME_VERSION;
        }

      if (mitogen_frame_header_decode (buf, len, 4096, &header, &error))
        {
          g_assert_cmpuint (header.length, <=, 4096);
          accepted++;
        }
      else
        g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);

      /* The same bytes as a payload. */
      {
        g_autoptr(GBytes) bytes = g_bytes_new (buf, len);
        g_autoptr(GError) perror = NULL;
        g_autoptr(GVariant) value = mitogen_frame_decode_payload (bytes, &perror);

        if (value != NULL)
          g_assert_true (g_variant_is_normal_form (value));
        else
          g_assert_error (perror, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
      }
    }

  /* Mutations of a valid payload: every single-byte change is either
   * refused or still a normal-form value. */
  {
    g_autoptr(GVariant) boxed = g_variant_ref_sink (g_variant_new_variant (
      g_variant_new_parsed ("({'a': <[1, 2, 3]>, 'b': <('x', @ay [1, 2])>}, @as ['p', 'q'])")));
    gsize size = g_variant_get_size (boxed);
    const guint8 *orig = g_variant_get_data (boxed);

    for (guint i = 0; i < 20000; i++)
      {
        guint8 *copy = g_memdup2 (orig, size);
        g_autoptr(GBytes) bytes = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) value = NULL;

        copy[g_rand_int_range (rand, 0, (gint32) size)] = (guint8) g_rand_int (rand);
        bytes = g_bytes_new_take (copy, size);
        value = mitogen_frame_decode_payload (bytes, &error);
        if (value == NULL)
          g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
        else
          {
            g_autofree char *text = g_variant_print (value, TRUE);
            g_assert_nonnull (text);
          }
      }
  }

  g_test_message ("fuzz: %u random headers accepted", accepted);
  g_rand_free (rand);
}

/* The call's bytes as built directly must be exactly GLib's normal form,
 * byte for byte, whatever the sizes: names and arguments chosen so that
 * the whole value crosses the 1-, 2- and 4-byte framing offset widths
 * (255 and 65535 bytes), with arguments of fixed and variable size,
 * serialized or not, and none. */
static void
test_call_encoding (void)
{
  static const gsize name_lens[] = { 0, 1, 7, 8, 9, 200, 230, 240, 250, 251, 252, 253, 254, 255, 256, 300, 65500, 65520, 65530, 65540, 70000 };
  static const gsize blob_lens[] = { 0, 1, 3, 8, 200, 240, 250, 65500, 65530 };
  guint checked = 0;

  g_test_summary ("mitogen_protocol_call_new () serializes a CALL_FUNCTION value directly; "
                  "its bytes equal GLib's own serialization of the same (sva{sv}) for names "
                  "and arguments around every framing-offset width.");

  for (gsize n = 0; n < G_N_ELEMENTS (name_lens); n++)
    for (gsize b = 0; b < G_N_ELEMENTS (blob_lens) + 4; b++)
      {
        g_autofree char *name = g_strnfill (name_lens[n], 'f');
        g_autoptr(GVariant) fast = NULL;
        g_autoptr(GVariant) slow = NULL;
        GVariant *args = NULL, *args2 = NULL;

        if (b < G_N_ELEMENTS (blob_lens))
          {
            g_autofree guint8 *blob = g_malloc (blob_lens[b]);

            for (gsize i = 0; i < blob_lens[b]; i++)
              blob[i] = (guint8) (i * 13 + b);
            args = g_variant_new ("(@ays)", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, blob, blob_lens[b], 1), name);
            args2 = g_variant_new ("(@ays)", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, blob, blob_lens[b], 1), name);
          }
        else if (b == G_N_ELEMENTS (blob_lens))
          {
            args = g_variant_new ("(tu)", (guint64) 1 << 40, 7u);
            args2 = g_variant_new ("(tu)", (guint64) 1 << 40, 7u);
          }
        else if (b == G_N_ELEMENTS (blob_lens) + 1)
          {
            /* Already serialized, as a binding or a received value is. */
            g_autoptr(GVariant) tree = g_variant_ref_sink (g_variant_new ("(sa{sv}d)", name, NULL, 2.5));
            g_autoptr(GBytes) data = g_variant_get_data_as_bytes (tree);

            args = g_variant_new_from_bytes (G_VARIANT_TYPE ("(sa{sv}d)"), data, TRUE);
            args2 = g_variant_new_from_bytes (G_VARIANT_TYPE ("(sa{sv}d)"), data, TRUE);
          }
        else if (b == G_N_ELEMENTS (blob_lens) + 2)
          {
            args = g_variant_new ("()");
            args2 = g_variant_new ("()");
          }
        /* else: NULL, no arguments */

        fast = g_variant_ref_sink (mitogen_protocol_call_new (name, args));
        slow = g_variant_ref_sink (mitogen_protocol_call_new_slow (name, args2));
        g_assert_cmpstr (g_variant_get_type_string (fast), ==, "(sva{sv})");
        g_assert_cmpuint (g_variant_get_size (fast), ==, g_variant_get_size (slow));
        g_assert_cmpmem (g_variant_get_data (fast), g_variant_get_size (fast),
                         g_variant_get_data (slow), g_variant_get_size (slow));
        /* Same bytes and type: the same value (g_variant_equal () would
         * print both, a value per byte of the big arrays: minutes under
         * ASan's slow unwinding). */
        g_assert_true (g_variant_is_normal_form (fast));
        checked++;
      }
  g_test_message ("%u calls compared", checked);
}

/* One payload (a call's "v" as it travels, mutated or not) through the
 * decoder: its own check of calls may refuse what GLib accepts (the
 * generic path then decodes it) but must never accept what GLib refuses,
 * and what it accepts must read as GLib reads it. */
typedef struct
{
  guint fast;      /* accepted by mitogen_protocol_call_is_normal () */
  guint generic;   /* refused by it, accepted by GLib */
  guint refused;   /* refused by both */
} CallDecodeCounts;

static void
check_call_payload (GBytes           *payload,
                    CallDecodeCounts *counts)
{
  static const char trailer[] = "\0(sva{sv})";
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (payload, &len);
  gsize tlen = sizeof trailer - 1;
  gboolean fast_ok = len > tlen && memcmp (data + len - tlen, trailer, tlen) == 0 &&
                     mitogen_protocol_call_is_normal (data, len - tlen);
  g_autoptr(GVariant) boxed = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_VARIANT, payload, FALSE));
  gboolean glib_ok = g_variant_is_normal_form (boxed);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) decoded = mitogen_frame_decode_payload (payload, &error);

  /* Whoever checks it, the decoder accepts exactly GLib's normal form. */
  g_assert_true ((decoded != NULL) == glib_ok);
  if (!fast_ok)
    {
      if (glib_ok)
        counts->generic++;
      else
        counts->refused++;
      return;
    }
  counts->fast++;
  g_assert_true (glib_ok);
  {
    g_autoptr(GVariant) inner = g_variant_get_variant (boxed);
    g_autoptr(GVariant) expected_args = NULL;
    g_autoptr(GVariant) args = NULL;
    g_autoptr(GVariant) kwargs = NULL;
    g_autoptr(GError) parse_error = NULL;
    const char *expected_name = NULL, *name = NULL;

    g_assert_cmpstr (g_variant_get_type_string (inner), ==, "(sva{sv})");
    g_assert_true (g_variant_equal (decoded, inner));
    g_variant_get (inner, "(&sv@a{sv})", &expected_name, &expected_args, &kwargs);
    g_assert_cmpuint (g_variant_n_children (kwargs), ==, 0);
    g_assert_cmpstr (mitogen_protocol_call_peek_function (decoded), ==, expected_name);
    if (mitogen_protocol_call_parse (decoded, &name, &args, &parse_error))
      {
        g_assert_true (g_variant_is_of_type (expected_args, G_VARIANT_TYPE_TUPLE));
        g_assert_cmpstr (name, ==, expected_name);
        g_assert_true (g_variant_equal (args, expected_args));
        g_assert_true (g_variant_is_normal_form (args));
      }
    else
      g_assert_false (g_variant_is_of_type (expected_args, G_VARIANT_TYPE_TUPLE));
  }
}

static GBytes *
call_payload (GVariant *call)
{
  g_autoptr(GVariant) sunk = g_variant_ref_sink (call);
  g_autoptr(GVariant) boxed = g_variant_ref_sink (g_variant_new_variant (sunk));

  return g_variant_get_data_as_bytes (boxed);
}

/* Calls as peers send them, then each mutated: every bit flipped, bytes
 * set to chosen values, cut short, lengthened. */
static void
test_call_decode (void)
{
  g_autoptr(GPtrArray) bases = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autofree char *long_name = g_strnfill (240, 'n');
  guint8 blob[20];
  CallDecodeCounts counts = { 0, 0, 0 };

  g_test_summary ("Calls (and the empty reply) are decoded by their own check where it applies and by "
                  "GLib's otherwise; over every single-bit flip, chosen byte values and lengths of several "
                  "calls, the decoder accepts exactly what GLib accepts and reads it as GLib does.");

  for (gsize i = 0; i < sizeof blob; i++)
    blob[i] = (guint8) (i * 37);
  g_ptr_array_add (bases, call_payload (mitogen_protocol_call_new ("mitogen.noop", NULL)));
  g_ptr_array_add (bases, call_payload (mitogen_protocol_call_new ("os.getpid", g_variant_new ("(u)", 7u))));
  g_ptr_array_add (bases, call_payload (mitogen_protocol_call_new ("f\xc3\xbcnf",
                                                                   g_variant_new ("(@ays)",
                                                                                  g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, blob, sizeof blob, 1),
                                                                                  "x"))));
  g_ptr_array_add (bases, call_payload (mitogen_protocol_call_new ("", g_variant_new ("()"))));
  g_ptr_array_add (bases, call_payload (mitogen_protocol_call_new (long_name, g_variant_new ("(s)", "abc"))));
  g_ptr_array_add (bases, call_payload (mitogen_protocol_call_new ("a.b", g_variant_new ("((())v)", g_variant_new_int16 (-2)))));
  /* Shapes the own check leaves to GLib: keywords, arguments not a tuple. */
  {
    GVariantBuilder kw;

    g_variant_builder_init (&kw, G_VARIANT_TYPE ("a{sv}"));
    g_variant_builder_add (&kw, "{sv}", "k", g_variant_new_boolean (TRUE));
    g_ptr_array_add (bases, call_payload (g_variant_new ("(sv@a{sv})", "kw", g_variant_new ("()"), g_variant_builder_end (&kw))));
  }
  g_ptr_array_add (bases, call_payload (g_variant_new ("(sv@a{sv})", "scalar", g_variant_new_uint32 (5),
                                                       g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0))));

  for (guint b = 0; b < bases->len; b++)
    {
      gsize len = 0;
      const guint8 *base = g_bytes_get_data (g_ptr_array_index (bases, b), &len);
      g_autofree guint8 *copy = g_memdup2 (base, len);
      static const guint8 values[] = { 0, 1, 7, 8, '(', ')', 'v', 's', 0x80, 0xff };

      check_call_payload (g_ptr_array_index (bases, b), &counts);
      for (gsize i = 0; i < len; i++)
        {
          guint8 saved = copy[i];

          for (guint bit = 0; bit < 8; bit++)
            {
              g_autoptr(GBytes) mutated = NULL;

              copy[i] = saved ^ (guint8) (1u << bit);
              mutated = g_bytes_new (copy, len);
              check_call_payload (mutated, &counts);
            }
          for (gsize v = 0; v < G_N_ELEMENTS (values); v++)
            {
              g_autoptr(GBytes) mutated = NULL;

              copy[i] = values[v];
              mutated = g_bytes_new (copy, len);
              check_call_payload (mutated, &counts);
            }
          copy[i] = saved;
        }
      /* Cut short at every length, and a zero byte inserted at every
       * place (the trailer kept, so the offsets point wrong). */
      for (gsize cut = 0; cut < len; cut++)
        {
          g_autoptr(GBytes) shorter = g_bytes_new (copy, cut);

          check_call_payload (shorter, &counts);
        }
      for (gsize at = 0; at + 10 < len; at++)
        {
          g_autofree guint8 *longer = g_malloc (len + 1);
          g_autoptr(GBytes) bytes = NULL;

          memcpy (longer, copy, at);
          longer[at] = 0;
          memcpy (longer + at + 1, copy + at, len - at);
          bytes = g_bytes_new_take (g_steal_pointer (&longer), len + 1);
          check_call_payload (bytes, &counts);
        }
    }
  /* The empty tuple of a reply has a path of its own: every value of
   * every byte of it decodes as GLib decodes it. */
  for (gsize i = 0; i < 4; i++)
    for (guint v = 0; v < 256; v++)
      {
        guint8 unit[4] = { 0, 0, '(', ')' };
        g_autoptr(GBytes) bytes = NULL;
        g_autoptr(GVariant) boxed = NULL;
        g_autoptr(GVariant) decoded = NULL;
        g_autoptr(GError) error = NULL;

        unit[i] = (guint8) v;
        bytes = g_bytes_new (unit, sizeof unit);
        boxed = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_VARIANT, bytes, FALSE));
        decoded = mitogen_frame_decode_payload (bytes, &error);
        g_assert_true ((decoded != NULL) == g_variant_is_normal_form (boxed));
        if (decoded != NULL)
          {
            g_autoptr(GVariant) inner = g_variant_get_variant (boxed);

            g_assert_cmpstr (g_variant_get_type_string (decoded), ==, g_variant_get_type_string (inner));
            g_assert_true (g_variant_equal (decoded, inner));
          }
      }
  g_test_message ("own check: %u accepted; GLib only: %u; refused: %u", counts.fast, counts.generic, counts.refused);
  /* The test means something only if all three happen, often. */
  g_assert_cmpuint (counts.fast, >=, 6);
  g_assert_cmpuint (counts.generic, >=, 2);
  g_assert_cmpuint (counts.refused, >=, 1000);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/frame/roundtrip", test_roundtrip);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_headers); i++)
    g_test_add_data_func (bad_headers[i].path, &bad_headers[i], test_bad_header);
  g_test_add_func ("/frame/payload", test_payload);
  g_test_add_func ("/frame/message-encoding", test_message_encoding);
  g_test_add_func ("/frame/error-flag-shape", test_error_flag_shape);
  g_test_add_func ("/frame/fuzz", test_fuzz);
  g_test_add_func ("/frame/call-encoding", test_call_encoding);
  g_test_add_func ("/frame/call-decode", test_call_decode);

  return g_test_run ();
}
