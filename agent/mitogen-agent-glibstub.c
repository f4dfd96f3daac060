/* mitogen-agent-glibstub.c — GLib stand-ins for the static agent
 *
 * A static link takes whole objects out of libglib-2.0.a, and a few of
 * them hold much more than the symbol that pulled them in:
 *
 * - GObject's gboxed.c registers a boxed type for every GLib structure,
 *   so its copy/free functions drag in GKeyFile, GMarkup, GDate, GRegex,
 *   GTree, GMappedFile, GOptionGroup, GDateTime and GTimeZone's objects,
 *   and from them libc's locale and date formatting (~250 kB in all),
 *   and GChecksum's hashes (the agent has its own SHA-256). Nothing in
 *   the agent can create any of these (their constructors are not
 *   linked), so their ref,
 *   unref, copy and free functions are never called with an object: the
 *   stand-ins below abort if they ever are.
 * - g_strcmp0 () and the assertion reporters live in gtestutils.c, the
 *   test framework (~35 kB with the GIOChannel code it uses): they are
 *   written out here, same output, same abort.
 * - GSubprocess's flags type is registered by gioenumtypes.c, with the
 *   names of every GIO enumeration (~45 kB): it is registered here alone.
 * - GLib's Unicode tables (guniprop.c, gunidecomp.c, gtranslit.c: ~300 kB,
 *   ~95 kB of the gzip-compressed image) are linked for callers the agent
 *   never reaches: g_str_match_string () and g_str_tokenize_and_fold ()
 *   (which nothing in the link calls), g_variant_print () (only
 *   g_variant_equal () on untrusted values and g_log_variant (); the
 *   agent prints no GVariant), and GUri's host name code, linked for
 *   _uri_encoder () of g_string_append_uri_escaped (), which nothing
 *   calls either. The stand-ins below are exact for ASCII; beyond it they
 *   leave text as it is (normalize, casefold), give '?' (to_ascii) or
 *   classify by code point ranges (isprint, isalnum, ismark).
 *   _uri_encoder () is written out in full.
 * - GObject's gsourceclosure.c asks whether a GSource is a GIOChannel
 *   watch: none can be (g_io_create_watch () is not linked).
 *
 * The definitions are weak (see below), so a GLib that needs one of these
 * objects for another symbol links it and uses its own code. Only the
 * static agent links this file (agent/meson.build).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define _GNU_SOURCE 1  /* program_invocation_short_name */
#include <errno.h>
#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every stand-in is a weak definition: it keeps the GLib object that
 * holds the real one out of the link, but if that object is linked all
 * the same (another GLib version, a new call in the agent), its
 * definitions take over, with no error and GLib's own behaviour. Only
 * the image grows then (bench/agent-sizes.sh shows by how much). */
#pragma weak g_date_copy
#pragma weak g_date_free
#pragma weak g_checksum_copy
#pragma weak g_checksum_free
#pragma weak g_key_file_ref
#pragma weak g_key_file_unref
#pragma weak g_mapped_file_ref
#pragma weak g_mapped_file_unref
#pragma weak g_markup_parse_context_ref
#pragma weak g_markup_parse_context_unref
#pragma weak g_regex_ref
#pragma weak g_regex_unref
#pragma weak g_match_info_ref
#pragma weak g_match_info_unref
#pragma weak g_tree_ref
#pragma weak g_tree_unref
#pragma weak g_option_group_ref
#pragma weak g_option_group_unref
#pragma weak g_io_channel_ref
#pragma weak g_io_channel_unref
#pragma weak g_date_time_ref
#pragma weak g_date_time_unref
#pragma weak g_time_zone_ref
#pragma weak g_time_zone_unref
#pragma weak g_uri_ref
#pragma weak g_uri_unref
#pragma weak g_option_error_quark
#pragma weak g_subprocess_flags_get_type
#pragma weak g_io_watch_funcs
#pragma weak g_strcmp0
#pragma weak g_test_subprocess
#pragma weak g_assertion_message
#pragma weak g_assertion_message_expr
#pragma weak g_assertion_message_cmpnum
#pragma weak g_unichar_isprint
#pragma weak g_unichar_ismark
#pragma weak g_unichar_isalnum
#pragma weak g_utf8_casefold
#pragma weak g_utf8_normalize
#pragma weak g_str_to_ascii
#pragma weak _uri_encoder

#define NOT_BUILT_IN(what) \
  g_error ("%s is not built into the static mitogen agent", what)

/* Copy and free functions of GLib's boxed types (gobject/gboxed.c). */
#define COPY_FREE(Type, prefix, name) \
  Type *prefix##_copy (const Type *self) \
  { \
    if (self != NULL) \
      NOT_BUILT_IN (name); \
    return NULL; \
  } \
  void prefix##_free (Type *self) \
  { \
    if (self != NULL) \
      NOT_BUILT_IN (name); \
  }

COPY_FREE (GDate, g_date, "GDate")
/* The agent hashes with core/runtime/mitogen-sha256.c: GChecksum's object
 * (MD5, SHA-1, SHA-256, SHA-512: ~29 kB) stays out. */
COPY_FREE (GChecksum, g_checksum, "GChecksum")

#define REF_UNREF(Type, prefix, name) \
  Type *prefix##_ref (Type *self) \
  { \
    if (self != NULL) \
      NOT_BUILT_IN (name); \
    return NULL; \
  } \
  void prefix##_unref (Type *self) \
  { \
    if (self != NULL) \
      NOT_BUILT_IN (name); \
  }

REF_UNREF (GKeyFile, g_key_file, "GKeyFile")
REF_UNREF (GMappedFile, g_mapped_file, "GMappedFile")
REF_UNREF (GMarkupParseContext, g_markup_parse_context, "GMarkupParseContext")
REF_UNREF (GRegex, g_regex, "GRegex")
REF_UNREF (GMatchInfo, g_match_info, "GMatchInfo")
REF_UNREF (GTree, g_tree, "GTree")
REF_UNREF (GOptionGroup, g_option_group, "GOptionGroup")
REF_UNREF (GIOChannel, g_io_channel, "GIOChannel")
REF_UNREF (GDateTime, g_date_time, "GDateTime")
REF_UNREF (GTimeZone, g_time_zone, "GTimeZone")
REF_UNREF (GUri, g_uri, "GUri")

/* agent/mitogen-fakessh-args.c reports its errors in this domain. The
 * same quark as GLib's (goption.c). */
GQuark
g_option_error_quark (void)
{
  return g_quark_from_static_string ("g-option-context-error-quark");
}

/* The one GIO enumeration type the agent's GIO objects ask for. */
G_DEFINE_FLAGS_TYPE (GSubprocessFlags, g_subprocess_flags,
  G_DEFINE_ENUM_VALUE (G_SUBPROCESS_FLAGS_NONE, "none"),
  G_DEFINE_ENUM_VALUE (G_SUBPROCESS_FLAGS_STDIN_PIPE, "stdin-pipe"),
  G_DEFINE_ENUM_VALUE (G_SUBPROCESS_FLAGS_STDIN_INHERIT, "stdin-inherit"),
  G_DEFINE_ENUM_VALUE (G_SUBPROCESS_FLAGS_STDOUT_PIPE, "stdout-pipe"),
  G_DEFINE_ENUM_VALUE (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, "stdout-silence"),
  G_DEFINE_ENUM_VALUE (G_SUBPROCESS_FLAGS_STDERR_PIPE, "stderr-pipe"),
  G_DEFINE_ENUM_VALUE (G_SUBPROCESS_FLAGS_STDERR_SILENCE, "stderr-silence"),
  G_DEFINE_ENUM_VALUE (G_SUBPROCESS_FLAGS_STDERR_MERGE, "stderr-merge"),
  G_DEFINE_ENUM_VALUE (G_SUBPROCESS_FLAGS_INHERIT_FDS, "inherit-fds"),
  G_DEFINE_ENUM_VALUE (G_SUBPROCESS_FLAGS_SEARCH_PATH_FROM_ENVP, "search-path-from-envp"))

/* No GIOChannel watch exists in the agent: nothing has these functions. */
GSourceFuncs g_io_watch_funcs = { NULL, NULL, NULL, NULL, NULL, NULL };

/* From here on gtestutils.c's few functions that the rest of GLib calls. */
int
g_strcmp0 (const char *str1, const char *str2)
{
  if (str1 == NULL || str2 == NULL)
    return str1 == str2 ? 0 : str1 == NULL ? -1 : 1;
  return strcmp (str1, str2);
}

gboolean
g_test_subprocess (void)
{
  return FALSE;
}

G_NORETURN static void
report_and_abort (const char *domain,
                  const char *file,
                  int         line,
                  const char *func,
                  const char *message)
{
  fprintf (stderr, "**\n%s%sERROR:%s:%d:%s: %s\n", domain != NULL ? domain : "",
           domain != NULL && domain[0] != '\0' ? ":" : "", file, line, func,
           message != NULL ? message : "code should not be reached");
  fflush (stderr);
  abort ();
}

void
g_assertion_message (const char *domain,
                     const char *file,
                     int         line,
                     const char *func,
                     const char *message)
{
  report_and_abort (domain, file, line, func, message);
}

void
g_assertion_message_expr (const char *domain,
                          const char *file,
                          int         line,
                          const char *func,
                          const char *expr)
{
  char *message = NULL;

  if (expr != NULL)
    message = g_strconcat ("assertion failed: (", expr, ")", NULL);
  report_and_abort (domain, file, line, func, message);
}

void
g_assertion_message_cmpnum (const char *domain,
                            const char *file,
                            int         line,
                            const char *func,
                            const char *expr,
                            long double arg1,
                            const char *cmp,
                            long double arg2,
                            char        numtype)
{
  char *message;

  switch (numtype)
    {
    case 'i':
      message = g_strdup_printf ("assertion failed (%s): (%" G_GINT64_FORMAT " %s %" G_GINT64_FORMAT ")",
                                 expr, (gint64) arg1, cmp, (gint64) arg2);
      break;
    case 'x':
      message = g_strdup_printf ("assertion failed (%s): (0x%08" G_GINT64_MODIFIER "x %s 0x%08" G_GINT64_MODIFIER "x)",
                                 expr, (guint64) arg1, cmp, (guint64) arg2);
      break;
    default:
      message = g_strdup_printf ("assertion failed (%s): (%.9g %s %.9g)", expr, (double) arg1, cmp, (double) arg2);
      break;
    }
  report_and_abort (domain, file, line, func, message);
}

/* --- Unicode -------------------------------------------------------------- */

gboolean
g_unichar_isprint (gunichar c)
{
  if (c < 0x20 || (c >= 0x7f && c < 0xa0))
    return FALSE;                                        /* controls */
  if ((c >= 0xd800 && c < 0xe000) || c > 0x10ffff)
    return FALSE;                                        /* surrogates, out of range */
  if ((c >= 0xfdd0 && c < 0xfdf0) || (c & 0xfffe) == 0xfffe)
    return FALSE;                                        /* noncharacters */
  /* Format characters (Unicode 15, GLib 2.74's tables): soft hyphen,
   * Arabic, Syriac and Mongolian marks, zero-width and directional
   * marks, invisible operators, byte order mark, interlinear annotation,
   * Kaithi, Egyptian hieroglyph, shorthand and musical format controls,
   * tags. */
  static const gunichar format[][2] = {
    { 0xad, 0xad }, { 0x600, 0x605 }, { 0x61c, 0x61c }, { 0x6dd, 0x6dd }, { 0x70f, 0x70f },
    { 0x890, 0x891 }, { 0x8e2, 0x8e2 }, { 0x180e, 0x180e }, { 0x200b, 0x200f }, { 0x202a, 0x202e },
    { 0x2060, 0x2064 }, { 0x2066, 0x206f }, { 0xfeff, 0xfeff }, { 0xfff9, 0xfffb },
    { 0x110bd, 0x110bd }, { 0x110cd, 0x110cd }, { 0x13430, 0x1343f }, { 0x1bca0, 0x1bca3 },
    { 0x1d173, 0x1d17a }, { 0xe0001, 0xe0001 }, { 0xe0020, 0xe007f },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (format); i++)
    if (c >= format[i][0] && c <= format[i][1])
      return FALSE;
  return TRUE;
}

gboolean
g_unichar_ismark (gunichar c)
{
  /* The combining diacritical mark blocks. */
  return (c >= 0x300 && c < 0x370) || (c >= 0x1ab0 && c < 0x1b00) || (c >= 0x1dc0 && c < 0x1e00) ||
         (c >= 0x20d0 && c < 0x2100) || (c >= 0xfe20 && c < 0xfe30);
}

gboolean
g_unichar_isalnum (gunichar c)
{
  if (c < 0x80)
    return g_ascii_isalnum ((char) c);
  /* Beyond ASCII: anything printable but Latin-1's symbols, general
   * and CJK punctuation, and marks. */
  return g_unichar_isprint (c) && !g_unichar_ismark (c) && !(c < 0xc0 || c == 0xd7 || c == 0xf7) &&
         !(c >= 0x2000 && c < 0x2070) && !(c >= 0x3000 && c < 0x3040);
}

char *
g_utf8_casefold (const char *str, gssize len)
{
  char *folded = len < 0 ? g_strdup (str) : g_strndup (str, (gsize) len);

  for (char *p = folded; *p != '\0'; p++)
    *p = g_ascii_tolower (*p);
  return folded;
}

char *
g_utf8_normalize (const char *str, gssize len, GNormalizeMode mode)
{
  (void) mode;
  if (!g_utf8_validate (str, len, NULL))
    return NULL;
  return len < 0 ? g_strdup (str) : g_strndup (str, (gsize) len);
}

char *
g_str_to_ascii (const char *str, const char *from_locale)
{
  GString *out = g_string_new (NULL);

  (void) from_locale;
  /* One '?' per lead byte: continuation bytes are skipped, so no input
   * makes this read past the terminating nul. */
  for (const guchar *p = (const guchar *) str; *p != '\0'; p++)
    if (*p < 0x80)
      g_string_append_c (out, (char) *p);
    else if (*p >= 0xc0)
      g_string_append_c (out, '?');
  return g_string_free (out, FALSE);
}

/* g_string_append_uri_escaped ()'s worker (GLib-internal, in guri.c):
 * appends @length bytes from @start to @out, percent-encoding every byte
 * that is not unreserved (RFC 3986: letters, digits, -._~) nor in
 * @reserved_chars_allowed; with @allow_utf8, valid UTF-8 sequences are
 * copied as they are. */
void _uri_encoder (GString      *out,
                   const guchar *start,
                   gsize         length,
                   const char   *reserved_chars_allowed,
                   gboolean      allow_utf8);

void
_uri_encoder (GString      *out,
              const guchar *start,
              gsize         length,
              const char   *reserved_chars_allowed,
              gboolean      allow_utf8)
{
  static const char hex[] = "0123456789ABCDEF";
  const guchar *p = start, *end = start + length;

  while (p < end)
    {
      if (allow_utf8 && *p >= 0x80)
        {
          gunichar c = g_utf8_get_char_validated ((const char *) p, end - p);

          if (c != (gunichar) -1 && c != (gunichar) -2)
            {
              const guchar *next = (const guchar *) g_utf8_next_char (p);

              g_string_append_len (out, (const char *) p, next - p);
              p = next;
              continue;
            }
        }
      if (g_ascii_isalnum (*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~' ||
          (*p != '\0' && reserved_chars_allowed != NULL && strchr (reserved_chars_allowed, *p) != NULL))
        g_string_append_c (out, (char) *p);
      else
        {
          g_string_append_c (out, '%');
          g_string_append_c (out, hex[*p >> 4]);
          g_string_append_c (out, hex[*p & 0xf]);
        }
      p++;
    }
}

/* libc's assert () reporter. libc-start.o refers to it, and glibc's own
 * (assert.o) formats through __fxprintf (), which links the whole
 * wide-character printf (~25 kB). The same message, written with one
 * write (2), then abort (). */
#pragma weak __assert_fail
void __assert_fail (const char *assertion, const char *file, unsigned int line, const char *function);
void
__assert_fail (const char   *assertion,
               const char   *file,
               unsigned int  line,
               const char   *function)
{
  char buffer[1024];
  int n = snprintf (buffer, sizeof buffer, "%s: %s:%u: %s%sAssertion `%s' failed.\n",
                    program_invocation_short_name, file, line,
                    function != NULL ? function : "", function != NULL ? ": " : "", assertion);

  if (n > 0)
    {
      ssize_t ignored = write (2, buffer, MIN ((size_t) n, sizeof buffer - 1));
      (void) ignored;
    }
  abort ();
}
