/* demo.so — a function module for the tests (tests/test-modules.c,
 * tests/gi/test-modules.py): demo.add, demo.hello, demo.whoami,
 * demo.crash in its table, demo.constructed by MITOGEN_FUNCTION (). It
 * links no libmitogen: the library calls (demo.whoami's, the
 * constructor's) are resolved in the program that loads it.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <signal.h>
#include <sys/resource.h>

#include <mitogen/mitogen.h>

/* (ii) -> i */
static GVariant *
demo_add (MitogenCall *call, GVariant *args, GError **error)
{
  gint32 a, b;

  g_variant_get (args, "(ii)", &a, &b);
  return g_variant_new_int32 (a + b);
}

/* (s) -> s */
static GVariant *
demo_hello (MitogenCall *call, GVariant *args, GError **error)
{
  const char *name;

  g_variant_get (args, "(&s)", &name);
  return g_variant_new_take_string (g_strdup_printf ("hello, %s", name));
}

/* () -> s: the name the caller used, asked of the library (exported by
 * the program that loaded us). */
static GVariant *
demo_whoami (MitogenCall *call, GVariant *args, GError **error)
{
  return g_variant_new_string (mitogen_call_get_function (call));
}

/* () -> (): dies of SIGSEGV, without a core file. */
static GVariant *
demo_crash (MitogenCall *call, GVariant *args, GError **error)
{
  struct rlimit none = { 0, 0 };

  setrlimit (RLIMIT_CORE, &none);
  /* Under AddressSanitizer its handler would report this as a crash of
   * its own and exit (1): die of the signal, as without it. */
  signal (SIGSEGV, SIG_DFL);
  raise (SIGSEGV);
  return NULL;
}

/* () -> s. Not in the table: registered by a constructor while the
 * module loads (MITOGEN_FUNCTION), through the loading program's
 * mitogen_register_function (). */
static GVariant *
demo_constructed (MitogenCall *call, GVariant *args, GError **error)
{
  return g_variant_new_string ("registered by a constructor");
}

MITOGEN_FUNCTION (demo_constructed, "demo.constructed", "()", "s", "Registered by MITOGEN_FUNCTION")

static const MitogenFunctionInfo demo_functions[] = {
  { "add", "(ii)", "i", "Adds two integers", demo_add },
  { "hello", "(s)", "s", "Greets", demo_hello },
  { "whoami", "()", "s", "The function name, from mitogen_call_get_function ()", demo_whoami },
  { "crash", "()", "()", "Dies of SIGSEGV", demo_crash },
  { NULL },
};

MITOGEN_DEFINE_FUNCTION_MODULE (demo, demo_functions)
