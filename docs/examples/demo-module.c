/* demo-module.c — a function module: compiled code of your own that
 * contexts get on first use, callable from C or from any language with
 * GObject introspection (demo-module.py is the Python side).
 *
 * Built as demo.so (the module `demo` is the file demo.so):
 *
 *     shared_module('demo', 'demo-module.c', name_prefix: '',
 *                   dependencies: glib)
 *
 *     cc -shared -fPIC -o demo.so demo-module.c \
 *        $(pkg-config --cflags mitogen-1.0) $(pkg-config --libs glib-2.0)
 *
 * It needs no link with libmitogen: the table below is data the loader
 * reads, and demo.sysinfo's call of mitogen_context_id () is resolved in
 * the program that loads the module (the dynamic agent exports the
 * library's functions).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <unistd.h>

#include <mitogen/mitogen.h>

/* (ii) -> i */
static GVariant *
demo_add (MitogenCall  *call,
          GVariant     *args,
          GError      **error)
{
  gint32 a, b;

  g_variant_get (args, "(ii)", &a, &b);
  return g_variant_new_int32 (a + b);
}

/* (s) -> u: words separated by white space. */
static GVariant *
demo_word_count (MitogenCall  *call,
                 GVariant     *args,
                 GError      **error)
{
  const char *text;
  g_auto(GStrv) words = NULL;
  guint32 n = 0;

  g_variant_get (args, "(&s)", &text);
  words = g_strsplit_set (text, " \t\n", -1);
  for (guint i = 0; words[i] != NULL; i++)
    if (words[i][0] != '\0')
      n++;
  return g_variant_new_uint32 (n);
}

/* () -> a{sv}: where it runs. */
static GVariant *
demo_sysinfo (MitogenCall  *call,
              GVariant     *args,
              GError      **error)
{
  GVariantBuilder info;

  g_variant_builder_init (&info, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&info, "{sv}", "pid", g_variant_new_int64 (getpid ()));
  g_variant_builder_add (&info, "{sv}", "uid", g_variant_new_uint32 (getuid ()));
  g_variant_builder_add (&info, "{sv}", "context_id", g_variant_new_uint32 (mitogen_context_id ()));
  return g_variant_builder_end (&info);
}

static const MitogenFunctionInfo demo_functions[] = {
  { "add", "(ii)", "i", "Adds two integers", demo_add },
  { "word_count", "(s)", "u", "Counts the words of a text", demo_word_count },
  { "sysinfo", "()", "a{sv}", "pid, uid and context id of the context it runs in", demo_sysinfo },
  { NULL },
};

MITOGEN_DEFINE_FUNCTION_MODULE (demo, demo_functions)
