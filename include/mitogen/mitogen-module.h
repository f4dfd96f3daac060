/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>
#include <mitogen/mitogen-call.h>

G_BEGIN_DECLS

/**
 * MITOGEN_FUNCTION_MODULE_ABI:
 *
 * The layout of [struct@Mitogen.FunctionModule] a module built against
 * this header has. The loader refuses a module of another version.
 */
#define MITOGEN_FUNCTION_MODULE_ABI 1

/**
 * MITOGEN_FUNCTION_MODULE_ENTRY_POINT:
 *
 * The symbol every function module exports (through
 * `MITOGEN_DEFINE_FUNCTION_MODULE()`), which the loader looks up with
 * `dlsym()`: a function taking nothing and returning the module's
 * `const MitogenFunctionModule *`.
 */
#define MITOGEN_FUNCTION_MODULE_ENTRY_POINT "mitogen_function_module_get_info"

/**
 * MitogenFunctionInfo:
 * @name: the function's name in its module, a plain word (`add`): callers
 *   use `MODULE.NAME` (`demo.add`)
 * @args_type: the GVariant type the argument tuple must have (`(ii)`)
 * @return_type: the GVariant type of the result (`i`)
 * @description: (nullable): one line saying what it does
 * @func: the function
 *
 * One row of a function module's table (see
 * [struct@Mitogen.FunctionModule]); a row whose @name is %NULL ends the
 * table.
 */
typedef struct
{
  const char  *name;
  const char  *args_type;
  const char  *return_type;
  const char  *description;
  MitogenFunc  func;
} MitogenFunctionInfo;

/**
 * MitogenFunctionModule:
 * @abi_version: %MITOGEN_FUNCTION_MODULE_ABI when the module was built
 * @name: the module's name, a plain word (`[a-z0-9_]`): the module
 *   `demo` is the file `demo.so`
 * @functions: (array zero-terminated=1): the functions, ended by a row
 *   whose name is %NULL
 *
 * What a function module tells the loader: its name and its functions.
 *
 * A function module is a shared object, `NAME.so`, on the master's module
 * path ([method@Mitogen.Router.add_module_path]). The first call of
 * `NAME.FUNC` in a context that lacks it makes that context ask its parent
 * for the module (`LOAD_MODULE`); the master sends the file and the shared
 * libraries it needs that the context does not already have, the context
 * loads them and registers the functions of this table as `NAME.FUNC`,
 * then runs the call. A module is loaded once per process and never
 * unloaded.
 *
 * A module defines this structure with `MITOGEN_DEFINE_FUNCTION_MODULE()`:
 *
 * |[<!-- language="C" -->
 * #include <mitogen/mitogen.h>
 *
 * static GVariant *
 * demo_add (MitogenCall *call, GVariant *args, GError **error)
 * {
 *   gint32 a, b;
 *
 *   g_variant_get (args, "(ii)", &a, &b);
 *   return g_variant_new_int32 (a + b);
 * }
 *
 * static const MitogenFunctionInfo demo_functions[] = {
 *   { "add", "(ii)", "i", "Adds two integers", demo_add },
 *   { NULL },
 * };
 *
 * MITOGEN_DEFINE_FUNCTION_MODULE (demo, demo_functions)
 * ]|
 *
 * Build it as a shared module named `demo.so` (meson:
 * `shared_module('demo', 'demo.c', name_prefix: '', dependencies: glib)`).
 * It needs no link with libmitogen: the table is data the loader reads.
 * A module that calls the library's functions (`mitogen_call_get_router()`,
 * `mitogen_register_function()`) gets them from the program that loads it
 * (the dynamic agent exports them; a program that calls `mitogen_init()`
 * has libmitogen-1.0 loaded); leave them undefined in the module.
 *
 * Functions are registered in three ways:
 *
 * - [func@Mitogen.register_function] at run time, in any process;
 * - `MITOGEN_FUNCTION()`: a constructor that registers a function when the
 *   program (before `main()`) or shared object (when it is loaded) that
 *   holds it starts, for a program that calls `mitogen_init()` (`agent=self`);
 * - this table, read by the loader right after it loaded the module.
 *
 * Only contexts that can `dlopen()` load modules: the dynamically linked
 * agent (`agent=dynamic`) and programs that call `mitogen_init()`
 * (`agent=self`). The static stock agent refuses with an error that says so.
 */
typedef struct
{
  guint32                    abi_version;
  const char                *name;
  const MitogenFunctionInfo *functions;
  /*< private >*/
  gpointer                   padding[4];
} MitogenFunctionModule;

/**
 * MITOGEN_DEFINE_FUNCTION_MODULE:
 * @module_name: the module's name, a bare word (`demo`, not `"demo"`):
 *   the file must be `module_name.so`
 * @function_table: a `MitogenFunctionInfo` array ended by a row whose
 *   name is %NULL
 *
 * Defines the entry point of a function module
 * (%MITOGEN_FUNCTION_MODULE_ENTRY_POINT), exported whatever the symbol
 * visibility the module is built with. Use it once, in one source file of
 * the module, at file scope.
 */
#define MITOGEN_DEFINE_FUNCTION_MODULE(module_name, function_table) \
  __attribute__((visibility ("default"))) const MitogenFunctionModule *mitogen_function_module_get_info (void); \
  __attribute__((visibility ("default"))) const MitogenFunctionModule * \
  mitogen_function_module_get_info (void) \
  { \
    static const MitogenFunctionModule info = { \
      MITOGEN_FUNCTION_MODULE_ABI, #module_name, function_table, { NULL, NULL, NULL, NULL } \
    }; \
    return &info; \
  }

/**
 * MITOGEN_FUNCTION:
 * @c_function: a [callback@Mitogen.Func], defined before this line
 * @full_name: the name callers use, a string: `"demo.add"`
 * @args_type: the GVariant type of the argument tuple, a string
 * @return_type: the GVariant type of the result, a string
 * @description: one line saying what it does, a string
 *
 * Registers @c_function with [func@Mitogen.register_function] from a
 * constructor, that is before `main()` in a program and while it is
 * loaded in a shared object. In a program that calls `mitogen_init()` the
 * function is then served by every context running that program
 * (`agent=self`), with nothing more to do in `main()`. Use it at file
 * scope, once per function.
 */
#define MITOGEN_FUNCTION(c_function, full_name, args_type, return_type, description) \
  __attribute__((constructor)) static void G_PASTE (mitogen_function_register_, c_function) (void); \
  __attribute__((constructor)) static void \
  G_PASTE (mitogen_function_register_, c_function) (void) \
  { \
    mitogen_register_function (full_name, args_type, return_type, description, c_function, NULL); \
  }

MITOGEN_AVAILABLE_IN_ALL
void    mitogen_router_add_module_path  (MitogenRouter  *self,
                                         const char     *dir);
MITOGEN_AVAILABLE_IN_ALL
char  **mitogen_router_get_module_path  (MitogenRouter  *self);

G_END_DECLS
