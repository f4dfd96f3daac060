/* mitogen-agent-glibstub.c — GLib stand-ins for the static agent
 *
 * A static link takes whole objects out of libglib-2.0.a, and a few of
 * them hold much more than the symbol that pulled them in:
 *
 * - GObject's gboxed.c registers a boxed type for every GLib structure,
 *   so its copy/free functions drag in GKeyFile, GMarkup, GDate, GRegex,
 *   GTree, GMappedFile, GOptionGroup, GDateTime and GTimeZone's objects,
 *   and from them libc's locale and date formatting (~250 kB in all). Nothing in the agent can create
 *   any of these (their constructors are not linked), so their ref,
 *   unref, copy and free functions are never called with an object: the
 *   stand-ins below abort if they ever are.
 * - g_strcmp0 () and the assertion reporters live in gtestutils.c, the
 *   test framework (~35 kB with the GIOChannel code it uses): they are
 *   written out here, same output, same abort.
 * - GSubprocess's flags type is registered by gioenumtypes.c, with the
 *   names of every GIO enumeration (~45 kB): it is registered here alone.
 * - GObject's gsourceclosure.c asks whether a GSource is a GIOChannel
 *   watch: none can be (g_io_create_watch () is not linked).
 *
 * If a later GLib, or new code in the agent, needs one of these objects
 * for another symbol, the link fails with "multiple definition": then
 * drop the matching stand-in here. Only the static agent links this file
 * (agent/meson.build).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOT_BUILT_IN(what) \
  g_error ("%s is not built into the static mitogen agent", what)

/* Copy and free functions of GLib's boxed types (gobject/gboxed.c). */
GDate *
g_date_copy (const GDate *date)
{
  if (date != NULL)
    NOT_BUILT_IN ("GDate");
  return NULL;
}

void
g_date_free (GDate *date)
{
  if (date != NULL)
    NOT_BUILT_IN ("GDate");
}

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
