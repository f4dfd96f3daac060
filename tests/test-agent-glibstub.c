/* test-agent-glibstub.c — the static agent's GLib stand-ins against GLib
 *
 * agent/mitogen-agent-glibstub.c replaces a few GLib functions in the
 * static agent. This program links that file against the shared GLib,
 * so its definitions take the place of GLib's for the calls made here,
 * while dlsym (RTLD_NEXT) still finds GLib's own: the two are compared
 * where the stand-ins claim to agree (ASCII, the escaping of URIs, the
 * code points the file names) and the rest is checked for the promised
 * fallback.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>

#include <gio/gio.h>

void _uri_encoder (GString      *out,
                   const guchar *start,
                   gsize         length,
                   const char   *reserved_chars_allowed,
                   gboolean      allow_utf8);

static gpointer
real (const char *name)
{
  gpointer fn = dlsym (RTLD_NEXT, name);

  g_assert_nonnull (fn);
  return fn;
}

static void
test_strcmp0 (void)
{
  int (*glib) (const char *, const char *) = real ("g_strcmp0");
  const char *values[] = { NULL, "", "a", "b", "ab", "\xc3\xbc" };

  for (gsize i = 0; i < G_N_ELEMENTS (values); i++)
    for (gsize j = 0; j < G_N_ELEMENTS (values); j++)
      {
        int ours = g_strcmp0 (values[i], values[j]), theirs = glib (values[i], values[j]);

        g_assert_cmpint ((ours > 0) - (ours < 0), ==, (theirs > 0) - (theirs < 0));
      }
}

/* g_uri_escape_string () runs GLib's own _uri_encoder () (internal to
 * libglib, so not replaced here): same bytes in, same text out. */
static void
test_uri_encoder (void)
{
  const char *inputs[] = { "", "plain", "a b/c?d#e", "caf\xc3\xa9 \xe2\x82\xac", "bad \xff\xfe utf8",
                           "cut \xe2\x82", "~-._!$&'()*+,;=:@%", "\x01\x7f" };
  const char *reserved[] = { NULL, "", "/", G_URI_RESERVED_CHARS_ALLOWED_IN_PATH };

  for (gsize i = 0; i < G_N_ELEMENTS (inputs); i++)
    for (gsize r = 0; r < G_N_ELEMENTS (reserved); r++)
      for (int utf8 = 0; utf8 <= 1; utf8++)
        {
          g_autoptr(GString) ours = g_string_new (NULL);
          g_autofree char *theirs = g_uri_escape_string (inputs[i], reserved[r], utf8);

          _uri_encoder (ours, (const guchar *) inputs[i], strlen (inputs[i]), reserved[r], utf8);
          g_assert_cmpstr (ours->str, ==, theirs);
        }
}

static void
test_unichar (void)
{
  gboolean (*isprint_glib) (gunichar) = real ("g_unichar_isprint");
  gboolean (*isalnum_glib) (gunichar) = real ("g_unichar_isalnum");
  gboolean (*ismark_glib) (gunichar) = real ("g_unichar_ismark");
  GUnicodeType (*type_glib) (gunichar) = real ("g_unichar_type");
  /* The format characters and ranges the stand-in names, Latin-1, a few
   * letters, marks and symbols elsewhere. */
  const gunichar named[] = { 0xa0, 0xa9, 0xad, 0xc0, 0xd7, 0xe9, 0xf7, 0xff, 0x300, 0x36f, 0x600,
                             0x605, 0x61c, 0x6dd, 0x70f, 0x180e, 0x200b, 0x200f, 0x2010, 0x202a,
                             0x202e, 0x2060, 0x2064, 0x20ac, 0x3000, 0x3042, 0x4e2d, 0xd800, 0xdfff,
                             0xfdd0, 0xfeff, 0xfff9, 0xfffb, 0xfffe, 0xffff, 0x13430, 0x1d17a, 0x1f600, 0xe0001,
                             0xe0020, 0xe007f, 0x10ffff, 0x110000 };
  guint differ = 0;

  for (gunichar c = 0; c < 0x80; c++)
    {
      g_assert_cmpint (g_unichar_isprint (c), ==, isprint_glib (c));
      g_assert_cmpint (g_unichar_isalnum (c), ==, isalnum_glib (c));
      g_assert_cmpint (g_unichar_ismark (c), ==, ismark_glib (c));
    }
  for (gsize i = 0; i < G_N_ELEMENTS (named); i++)
    g_assert_cmpint (g_unichar_isprint (named[i]), ==, isprint_glib (named[i]));
  /* Elsewhere only unassigned code points may differ (the stand-in has
   * no table: it calls them printable). */
  for (gunichar c = 0x80; c < 0x110000; c++)
    if (g_unichar_isprint (c) != isprint_glib (c))
      {
        g_assert_cmpint (type_glib (c), ==, G_UNICODE_UNASSIGNED);
        differ++;
      }
  g_test_message ("g_unichar_isprint: %u unassigned code points differ from GLib's", differ);
}

static void
test_strings (void)
{
  char *(*casefold_glib) (const char *, gssize) = real ("g_utf8_casefold");
  char *(*normalize_glib) (const char *, gssize, GNormalizeMode) = real ("g_utf8_normalize");
  char *(*to_ascii_glib) (const char *, const char *) = real ("g_str_to_ascii");
  const char *ascii[] = { "", "Hello, World 123", "MiXeD-case_~" };

  for (gsize i = 0; i < G_N_ELEMENTS (ascii); i++)
    {
      g_autofree char *a = g_utf8_casefold (ascii[i], -1), *b = casefold_glib (ascii[i], -1);
      g_autofree char *c = g_utf8_normalize (ascii[i], -1, G_NORMALIZE_ALL), *d = normalize_glib (ascii[i], -1, G_NORMALIZE_ALL);
      g_autofree char *e = g_str_to_ascii (ascii[i], "C"), *f = to_ascii_glib (ascii[i], "C");

      g_assert_cmpstr (a, ==, b);
      g_assert_cmpstr (c, ==, d);
      g_assert_cmpstr (e, ==, f);
    }
  /* Beyond ASCII: left as it is, or '?' per character; invalid input
   * gives NULL as GLib's does, and a cut sequence reads no further. */
  {
    g_autofree char *a = g_utf8_casefold ("\xc3\x89t\xc3\xa9 AB", -1);
    g_autofree char *b = g_utf8_casefold ("ABCD", 2);
    g_autofree char *c = g_utf8_normalize ("caf\xc3\xa9", -1, G_NORMALIZE_DEFAULT);
    g_autofree char *d = g_utf8_normalize ("bad \xff", -1, G_NORMALIZE_DEFAULT);
    g_autofree char *e = g_str_to_ascii ("caf\xc3\xa9 \xe2\x82\xac!", NULL);
    g_autofree char *f = g_str_to_ascii ("cut \xe2", NULL);

    g_assert_cmpstr (a, ==, "\xc3\x89t\xc3\xa9 ab");
    g_assert_cmpstr (b, ==, "ab");
    g_assert_cmpstr (c, ==, "caf\xc3\xa9");
    g_assert_null (d);
    g_assert_cmpstr (e, ==, "caf? ?!");
    g_assert_cmpstr (f, ==, "cut ?");
  }
}

/* The one GIO enumeration the stand-ins register: every value GIO's
 * header names, under GIO's nicks. */
static void
test_subprocess_flags (void)
{
  const struct { guint value; const char *nick; } want[] = {
    { G_SUBPROCESS_FLAGS_NONE, "none" },
    { G_SUBPROCESS_FLAGS_STDIN_PIPE, "stdin-pipe" },
    { G_SUBPROCESS_FLAGS_STDIN_INHERIT, "stdin-inherit" },
    { G_SUBPROCESS_FLAGS_STDOUT_PIPE, "stdout-pipe" },
    { G_SUBPROCESS_FLAGS_STDOUT_SILENCE, "stdout-silence" },
    { G_SUBPROCESS_FLAGS_STDERR_PIPE, "stderr-pipe" },
    { G_SUBPROCESS_FLAGS_STDERR_SILENCE, "stderr-silence" },
    { G_SUBPROCESS_FLAGS_STDERR_MERGE, "stderr-merge" },
    { G_SUBPROCESS_FLAGS_INHERIT_FDS, "inherit-fds" },
    { G_SUBPROCESS_FLAGS_SEARCH_PATH_FROM_ENVP, "search-path-from-envp" },
  };
  g_autoptr(GFlagsClass) klass = g_type_class_ref (g_subprocess_flags_get_type ());

  g_assert_cmpstr (g_type_name (G_TYPE_FROM_CLASS (klass)), ==, "GSubprocessFlags");
  g_assert_cmpuint (klass->n_values, ==, G_N_ELEMENTS (want));
  for (gsize i = 0; i < G_N_ELEMENTS (want); i++)
    {
      GFlagsValue *v = g_flags_get_value_by_nick (klass, want[i].nick);

      g_assert_nonnull (v);
      g_assert_cmpuint (v->value, ==, want[i].value);
    }
  g_assert_cmpstr (g_quark_to_string (g_option_error_quark ()), ==, "g-option-context-error-quark");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/agent-glibstub/strcmp0", test_strcmp0);
  g_test_add_func ("/agent-glibstub/uri-encoder", test_uri_encoder);
  g_test_add_func ("/agent-glibstub/unichar", test_unichar);
  g_test_add_func ("/agent-glibstub/strings", test_strings);
  g_test_add_func ("/agent-glibstub/gio-enum", test_subprocess_flags);
  return g_test_run ();
}
