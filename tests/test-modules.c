/* test-modules.c — function modules, shipped on first use: a context
 * running the dynamic agent asks for MODULE when MODULE.FUNC is first
 * called (LOAD_MODULE), gets it with the libraries it lacks, loads it and
 * runs the call; intermediates cache what they passed on; every refusal
 * names the module and the reason.
 *
 * The modules are built in tests/modules/ (MODULE_DIR). The master's
 * answers are counted through its debug log (domain mitogen-modules),
 * the contexts' through the built-in mitogen.modules.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <elf.h>
#include <string.h>
#include <unistd.h>

#include "mitogen-test.h"

#define DYNAMIC_AGENT MITOGEN_BUILD_ROOT "/agent/mitogen-agent-dynamic"
#define STOCK_AGENT   MITOGEN_BUILD_ROOT "/agent/mitogen-agent"

/* A function of this program, registered before main () runs. */
static GVariant *
test_twice (MitogenCall *call, GVariant *args, GError **error)
{
  gint32 value;

  g_variant_get (args, "(i)", &value);
  return g_variant_new_int32 (2 * value);
}

MITOGEN_FUNCTION (test_twice, "testprog.twice", "(i)", "i", "Twice its argument")

/* The dynamic agent, or what the slow suite runs instead
 * (tests/valgrind-run.sh: the dynamic agent under valgrind). */
static const char *
dynamic_agent (void)
{
  const char *wrapped = g_getenv ("MITOGEN_AGENT_PATH");

  return wrapped != NULL ? wrapped : DYNAMIC_AGENT;
}

static gint served;   /* (atomic) LOAD_MODULE answers the master took from its module path */

static void
count_served (const gchar    *domain,
              GLogLevelFlags  level,
              const gchar    *message,
              gpointer        user_data)
{
  if (strstr (message, "served from the module path") != NULL)
    g_atomic_int_inc (&served);
}

/* A master serving MODULE_DIR. @stock: its default agent is set to
 * `stock` first, so add_module_path () keeps it. */
static MitogenRouter *
new_router (gboolean stock)
{
  MitogenRouter *router = mitogen_router_new ();

  if (stock)
    mitogen_router_set_default_agent (router, "stock");
  mitogen_router_add_module_path (router, MODULE_DIR);
  return router;
}

/* A local context running the dynamic agent by path, through @via. */
static MitogenContext *
connect_dynamic (MitogenRouter  *router,
                 MitogenContext *via,
                 guint64         max_message_size)
{
  g_autoptr(GError) error = NULL;
  MitogenContext *context;
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "agent_path", g_variant_new_string (dynamic_agent ()));
  if (max_message_size != 0)
    g_variant_builder_add (&b, "{sv}", "max_message_size", g_variant_new_uint64 (max_message_size));
  context = mitogen_router_connect (router, "local", g_variant_builder_end (&b), via, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (context);
  return context;
}

static MitogenContext *
connect_plain (MitogenRouter  *router,
               MitogenContext *via)
{
  g_autoptr(GError) error = NULL;
  MitogenContext *context = mitogen_router_connect (router, "local", NULL, via, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (context);
  return context;
}

static gint32
call_add (MitogenContext *context,
          gint32          a,
          gint32          b)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) sum = mitogen_context_call (context, "demo.add", g_variant_new ("(ii)", a, b),
                                                  NULL, &error);

  g_assert_no_error (error);
  g_assert_true (g_variant_is_of_type (sum, G_VARIANT_TYPE_INT32));
  return g_variant_get_int32 (sum);
}

/* A call that must fail with a CALL error whose remote code is @code and
 * whose message holds every one of @parts (NULL-terminated). */
static void
assert_refused (MitogenContext *context,
                const char     *function,
                GVariant       *args,
                int             code,
                ...)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = mitogen_context_call (context, function, args, NULL, &error);
  va_list ap;

  g_assert_null (value);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_test_message ("%s: %s", function, error->message);
  g_assert_cmpstr (mitogen_error_get_remote_domain (error), ==, "mitogen-error-quark");
  g_assert_cmpint (mitogen_error_get_remote_code (error), ==, code);
  va_start (ap, code);
  for (const char *part = va_arg (ap, const char *); part != NULL; part = va_arg (ap, const char *))
    g_assert_nonnull (strstr (error->message, part));
  va_end (ap);
}

/* mitogen.modules of @context: MODULE's entry. (transfer full) (nullable) */
static GVariant *
module_info (MitogenContext *context,
             const char     *module)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) modules = mitogen_context_call (context, "mitogen.modules", NULL, NULL, &error);

  g_assert_no_error (error);
  return g_variant_lookup_value (modules, module, G_VARIANT_TYPE_VARDICT);
}

static void
test_load (void)
{
  g_autoptr(MitogenRouter) router = new_router (TRUE);
  g_autoptr(MitogenContext) context = connect_dynamic (router, NULL, 0);
  g_autoptr(GVariant) info = NULL;
  g_autoptr(GVariant) hello = NULL;
  g_autoptr(GVariant) whoami = NULL;
  g_autoptr(GVariant) constructed = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree const char **files = NULL;
  gint before = g_atomic_int_get (&served);
  guint32 origin = 42;
  guint64 bytes = 0;

  g_test_summary ("The first call of demo.add in a dynamic-agent context loads demo.so "
                  "from the master (one LOAD_MODULE); later calls of any demo function "
                  "ask for nothing; the module may call the library (demo.whoami) and "
                  "register functions from a constructor (demo.constructed).");

  g_assert_null (module_info (context, "demo"));
  g_assert_cmpint (call_add (context, 2, 3), ==, 5);
  g_assert_cmpint (g_atomic_int_get (&served), ==, before + 1);
  g_assert_cmpint (call_add (context, 40, 2), ==, 42);

  hello = mitogen_context_call (context, "demo.hello", g_variant_new ("(s)", "modules"), NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (hello, NULL), ==, "hello, modules");
  whoami = mitogen_context_call (context, "demo.whoami", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (whoami, NULL), ==, "demo.whoami");
  constructed = mitogen_context_call (context, "demo.constructed", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (constructed, NULL), ==, "registered by a constructor");
  g_assert_cmpint (g_atomic_int_get (&served), ==, before + 1);

  info = module_info (context, "demo");
  g_assert_nonnull (info);
  g_assert_true (g_variant_lookup (info, "files", "^a&s", &files));
  g_assert_cmpuint (g_strv_length ((char **) files), ==, 1);
  g_assert_cmpstr (files[0], ==, "demo.so");
  g_assert_true (g_variant_lookup (info, "origin", "u", &origin));
  g_assert_cmpuint (origin, ==, 0);
  g_assert_false (g_variant_lookup (info, "cached_by", "u", &origin));
  g_assert_true (g_variant_lookup (info, "bytes", "t", &bytes));
  g_assert_cmpuint (bytes, >, 0);
}

static void
test_deps (void)
{
  g_autoptr(MitogenRouter) router = new_router (TRUE);
  g_autoptr(MitogenContext) context = connect_dynamic (router, NULL, 0);
  g_autoptr(GVariant) triple = NULL;
  g_autoptr(GVariant) where = NULL;
  g_autoptr(GVariant) info = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree const char **files = NULL;
  g_autofree char *build_copy = g_build_filename (MODULE_DIR, "libmtdep.so", NULL);

  g_test_summary ("depmod.so needs libmtdep.so, a library of the tree's own that the "
                  "context lacks: both are sent (the library first), the library is "
                  "loaded from the context's private copy, not the build tree; the "
                  "libraries the agent already has (GLib, libc) are not sent.");

  triple = mitogen_context_call (context, "depmod.triple", g_variant_new ("(i)", 7), NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int32 (triple), ==, 21);

  where = mitogen_context_call (context, "depmod.where", NULL, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("libmtdep.so loaded from %s", g_variant_get_string (where, NULL));
  g_assert_cmpstr (g_variant_get_string (where, NULL), !=, build_copy);
  g_assert_false (g_str_has_prefix (g_variant_get_string (where, NULL), MODULE_DIR));
  g_assert_nonnull (strstr (g_variant_get_string (where, NULL), "/.mitogen-module."));
  g_assert_true (g_str_has_suffix (g_variant_get_string (where, NULL), "/libmtdep.so"));

  info = module_info (context, "depmod");
  g_assert_nonnull (info);
  g_assert_true (g_variant_lookup (info, "files", "^a&s", &files));
  g_assert_cmpuint (g_strv_length ((char **) files), ==, 2);
  g_assert_cmpstr (files[0], ==, "libmtdep.so");
  g_assert_cmpstr (files[1], ==, "depmod.so");
}

static void
test_refusals (void)
{
  g_autoptr(MitogenRouter) router = new_router (TRUE);
  g_autoptr(MitogenContext) context = connect_dynamic (router, NULL, 0);
  g_autofree char *not_on_path = g_strdup_printf ("module 'nosuch' is not on the master's module path (dirs: %s)",
                                                  MODULE_DIR);
  gint before;

  g_test_summary ("Clear refusals, each a CALL error naming the module and the reason: a "
                  "module not on the path (with the dirs), names that are not plain words "
                  "(never asked for), a file dlopen () refuses (with its text), a missing "
                  "function (with the ones there are), a shared object without the entry "
                  "point. The context keeps working.");

  assert_refused (context, "nosuch.add", NULL, MITOGEN_ERROR_NOT_FOUND, "nosuch.add", not_on_path, NULL);

  before = g_atomic_int_get (&served);
  assert_refused (context, "../x.add", NULL, MITOGEN_ERROR_NOT_FOUND, "'../x.add'", "never paths", NULL);
  assert_refused (context, "a/b.add", NULL, MITOGEN_ERROR_NOT_FOUND, "'a/b.add'", "never paths", NULL);
  assert_refused (context, "Demo.add", NULL, MITOGEN_ERROR_NOT_FOUND, "'Demo.add'", "plain words", NULL);
  assert_refused (context, "demo.a-b", NULL, MITOGEN_ERROR_NOT_FOUND, "'demo.a-b'", "plain words", NULL);
  g_assert_cmpint (g_atomic_int_get (&served), ==, before);

  /* bad.so is a text file: the loader's own words. */
  assert_refused (context, "bad.run", NULL, MITOGEN_ERROR_NOT_SUPPORTED,
                  "module 'bad' cannot be loaded here", "bad.so", NULL);

  assert_refused (context, "demo.nothere", NULL, MITOGEN_ERROR_NOT_FOUND,
                  "module 'demo' has no function 'nothere'", "add, hello, whoami, crash", NULL);
  /* Asked once: the module is loaded now. */
  before = g_atomic_int_get (&served);
  assert_refused (context, "demo.nothere2", NULL, MITOGEN_ERROR_NOT_FOUND,
                  "module 'demo' has no function 'nothere2'", NULL);
  g_assert_cmpint (g_atomic_int_get (&served), ==, before);

  assert_refused (context, "noentry.value", NULL, MITOGEN_ERROR_NOT_FOUND,
                  "module 'noentry'", "has no entry point mitogen_function_module_get_info",
                  "MITOGEN_DEFINE_FUNCTION_MODULE", NULL);
  /* The same answer again, without loading it twice. */
  before = g_atomic_int_get (&served);
  assert_refused (context, "noentry.other", NULL, MITOGEN_ERROR_NOT_FOUND,
                  "has no entry point", NULL);
  g_assert_cmpint (g_atomic_int_get (&served), ==, before);

  /* Arguments are checked as for any function. */
  assert_refused (context, "demo.add", g_variant_new ("(s)", "x"), MITOGEN_ERROR_INVALID_ARGUMENT,
                  "demo.add expects arguments of type (ii)", NULL);
  g_assert_cmpint (call_add (context, 1, 1), ==, 2);
}

static void
test_crash (void)
{
  g_autoptr(MitogenRouter) router = new_router (TRUE);
  g_autoptr(MitogenContext) victim = connect_dynamic (router, NULL, 0);
  g_autoptr(MitogenContext) other = connect_dynamic (router, NULL, 0);
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A module function that crashes (SIGSEGV) kills only its context: the "
                  "caller gets CHANNEL, other contexts keep serving the module.");

  g_assert_cmpint (call_add (victim, 1, 2), ==, 3);
  g_assert_cmpint (call_add (other, 3, 4), ==, 7);
  value = mitogen_context_call (victim, "demo.crash", NULL, NULL, &error);
  g_assert_null (value);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_true (mitogen_test_wait_pid_gone (mitogen_context_get_pid (victim), 5000));
  g_assert_false (mitogen_context_is_connected (victim));
  g_assert_cmpint (call_add (other, 5, 6), ==, 11);
}

/* TRUE if @path is an ELF program without PT_INTERP: fully static. */
static gboolean
is_static_program (const char *path)
{
  g_autofree char *contents = NULL;
  gsize len;
  Elf64_Ehdr eh;

  if (!g_file_get_contents (path, &contents, &len, NULL) || len < sizeof eh)
    return FALSE;
  memcpy (&eh, contents, sizeof eh);
  if (memcmp (eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_phoff > len || (gsize) eh.e_phnum * sizeof (Elf64_Phdr) > len - eh.e_phoff)
    return FALSE;
  for (guint i = 0; i < eh.e_phnum; i++)
    {
      Elf64_Phdr ph;

      memcpy (&ph, contents + eh.e_phoff + i * sizeof ph, sizeof ph);
      if (ph.p_type == PT_INTERP)
        return FALSE;
    }
  return TRUE;
}

static void
test_static_agent (void)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  gint before;

  g_test_summary ("The fully static stock agent cannot dlopen (): asked for a module's "
                  "function it says so and names agent=dynamic, without asking the master.");

  if (g_getenv ("MITOGEN_AGENT_PATH") != NULL || !is_static_program (STOCK_AGENT))
    {
      g_test_skip ("the stock agent is not the static one here (or MITOGEN_AGENT_PATH replaces it)");
      return;
    }
  router = new_router (TRUE);
  context = connect_plain (router, NULL);
  before = g_atomic_int_get (&served);
  assert_refused (context, "demo.add", g_variant_new ("(ii)", 1, 2), MITOGEN_ERROR_NOT_FOUND,
                  "demo.add", "this context runs the static stock agent, which cannot load function "
                  "modules: connect with agent=dynamic", "module 'demo'", NULL);
  g_assert_cmpint (g_atomic_int_get (&served), ==, before);
}

static void
test_via_cache (void)
{
  g_autoptr(MitogenRouter) router = new_router (TRUE);
  g_autoptr(MitogenContext) middle = connect_plain (router, NULL);
  g_autoptr(MitogenContext) first = connect_dynamic (router, middle, 0);
  g_autoptr(MitogenContext) second = connect_dynamic (router, middle, 0);
  g_autoptr(GVariant) info = NULL;
  g_autoptr(GVariant) triple = NULL;
  g_autoptr(GError) error = NULL;
  gint before = g_atomic_int_get (&served);
  guint32 id = 0;

  g_test_summary ("local -> local: the intermediate (the stock agent, which loads nothing "
                  "itself) asks the master for the first leaf and keeps the answer; the "
                  "second leaf's LOAD_MODULE never reaches the master: the intermediate's "
                  "cache answers (mitogen.modules says which context did). Libraries too.");

  g_assert_cmpint (call_add (first, 1, 2), ==, 3);
  g_assert_cmpint (g_atomic_int_get (&served), ==, before + 1);
  info = module_info (first, "demo");
  g_assert_false (g_variant_lookup (info, "cached_by", "u", &id));
  g_clear_pointer (&info, g_variant_unref);

  g_assert_cmpint (call_add (second, 3, 4), ==, 7);
  g_assert_cmpint (g_atomic_int_get (&served), ==, before + 1);
  info = module_info (second, "demo");
  g_assert_true (g_variant_lookup (info, "cached_by", "u", &id));
  g_assert_cmpuint (id, ==, mitogen_context_get_id (middle));
  g_assert_true (g_variant_lookup (info, "origin", "u", &id));
  g_assert_cmpuint (id, ==, 0);
  g_clear_pointer (&info, g_variant_unref);

  /* A module with a library of its own, the same way. */
  triple = mitogen_context_call (first, "depmod.triple", g_variant_new ("(i)", 5), NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int32 (triple), ==, 15);
  g_clear_pointer (&triple, g_variant_unref);
  g_assert_cmpint (g_atomic_int_get (&served), ==, before + 2);
  triple = mitogen_context_call (second, "depmod.triple", g_variant_new ("(i)", 6), NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int32 (triple), ==, 18);
  g_assert_cmpint (g_atomic_int_get (&served), ==, before + 2);
  info = module_info (second, "depmod");
  g_assert_true (g_variant_lookup (info, "cached_by", "u", &id));
  g_assert_cmpuint (id, ==, mitogen_context_get_id (middle));
  g_clear_pointer (&info, g_variant_unref);

  /* Refusals travel down through the intermediate unchanged. */
  assert_refused (second, "nosuch.add", NULL, MITOGEN_ERROR_NOT_FOUND,
                  "module 'nosuch' is not on the master's module path", NULL);
}

static void
test_agent_option (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenRouter) stock = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(MitogenContext) explicit = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) pid = NULL;
  g_autofree char *link = NULL;
  g_autofree char *exe = NULL;
  GVariantBuilder b;

  g_test_summary ("add_module_path () makes `dynamic` the default agent of a router whose "
                  "default was never set, so a plain local connect loads modules; an "
                  "explicit default is kept, and the `agent` option picks the dynamic agent "
                  "per connect.");

  g_assert_cmpstr (mitogen_router_get_default_agent (router), ==, "stock");
  mitogen_router_add_module_path (router, MODULE_DIR);
  g_assert_cmpstr (mitogen_router_get_default_agent (router), ==, "dynamic");
  context = connect_plain (router, NULL);
  /* Ours: /proc/PID/exe of a local child. */
  pid = mitogen_context_call (context, "os.getpid", NULL, NULL, &error);
  g_assert_no_error (error);
  link = g_strdup_printf ("/proc/%" G_GINT64_FORMAT "/exe", g_variant_get_int64 (pid));
  exe = g_file_read_link (link, NULL);
  g_assert_nonnull (exe);
  g_assert_true (g_str_has_suffix (exe, "/mitogen-agent-dynamic"));
  g_assert_cmpint (call_add (context, 20, 22), ==, 42);

  stock = new_router (TRUE);
  g_assert_cmpstr (mitogen_router_get_default_agent (stock), ==, "stock");
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "agent", g_variant_new_string ("dynamic"));
  explicit = mitogen_router_connect (stock, "local", g_variant_builder_end (&b), NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (call_add (explicit, 1, 41), ==, 42);
}

static void
test_too_large (void)
{
  g_autoptr(MitogenRouter) router = new_router (TRUE);
  g_autoptr(MitogenContext) context = connect_dynamic (router, NULL, 8192);
  g_autoptr(GVariant) pid = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A module larger than the context's max_message_size is refused with an "
                  "error saying so (the frame is never sent); the context goes on.");

  assert_refused (context, "demo.add", g_variant_new ("(ii)", 1, 2), MITOGEN_ERROR_INVALID_ARGUMENT,
                  "module 'demo'", "max_message_size (8192)", NULL);
  pid = mitogen_context_call (context, "os.getpid", NULL, NULL, &error);
  g_assert_no_error (error);
}

static void
test_module_path (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_auto(GStrv) dirs = NULL;
  g_autofree char *cwd = g_get_current_dir ();
  g_autofree char *relative = g_build_filename (cwd, "some-dir", NULL);

  g_test_summary ("The module path: absolute directories in the order added, duplicates "
                  "once, relative ones taken from the current directory.");

  dirs = mitogen_router_get_module_path (router);
  g_assert_cmpuint (g_strv_length (dirs), ==, 0);
  g_clear_pointer (&dirs, g_strfreev);
  mitogen_router_add_module_path (router, MODULE_DIR);
  mitogen_router_add_module_path (router, "some-dir");
  mitogen_router_add_module_path (router, MODULE_DIR "/");
  dirs = mitogen_router_get_module_path (router);
  g_assert_cmpuint (g_strv_length (dirs), ==, 2);
  g_assert_cmpstr (dirs[0], ==, MODULE_DIR);
  g_assert_cmpstr (dirs[1], ==, relative);
}

static void
test_function_macro (void)
{
  const char *args_type = NULL, *return_type = NULL, *description = NULL;

  g_test_summary ("MITOGEN_FUNCTION () in a program registers its function before main ().");

  g_assert_true (mitogen_lookup_function ("testprog.twice", &args_type, &return_type, &description));
  g_assert_cmpstr (args_type, ==, "(i)");
  g_assert_cmpstr (return_type, ==, "i");
  g_assert_cmpstr (description, ==, "Twice its argument");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_handler ("mitogen-modules", G_LOG_LEVEL_DEBUG, count_served, NULL);

  g_test_add_func ("/modules/function-macro", test_function_macro);
  g_test_add_func ("/modules/module-path", test_module_path);
  g_test_add_func ("/modules/load", test_load);
  g_test_add_func ("/modules/deps", test_deps);
  g_test_add_func ("/modules/refusals", test_refusals);
  g_test_add_func ("/modules/crash", test_crash);
  g_test_add_func ("/modules/static-agent", test_static_agent);
  g_test_add_func ("/modules/via-cache", test_via_cache);
  g_test_add_func ("/modules/agent-option", test_agent_option);
  g_test_add_func ("/modules/too-large", test_too_large);
  return g_test_run ();
}
