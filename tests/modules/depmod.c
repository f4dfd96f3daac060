/* depmod.so — a function module that needs a library of the tree's own
 * (libmtdep.so, found through the module's RUNPATH on the master):
 * depmod.triple, and depmod.where, the file libmtdep was loaded from.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define _GNU_SOURCE  /* dladdr () */
#include <dlfcn.h>

#include <mitogen/mitogen.h>

#include "mtdep.h"

/* (i) -> i */
static GVariant *
depmod_triple (MitogenCall *call, GVariant *args, GError **error)
{
  gint32 value;

  g_variant_get (args, "(i)", &value);
  return g_variant_new_int32 (mtdep_triple (value));
}

/* () -> s */
static GVariant *
depmod_where (MitogenCall *call, GVariant *args, GError **error)
{
  Dl_info info;

  if (dladdr ((void *) mtdep_triple, &info) == 0 || info.dli_fname == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "dladdr () failed");
      return NULL;
    }
  return g_variant_new_string (info.dli_fname);
}

static const MitogenFunctionInfo depmod_functions[] = {
  { "triple", "(i)", "i", "Three times its argument, by libmtdep", depmod_triple },
  { "where", "()", "s", "The file libmtdep.so was loaded from", depmod_where },
  { NULL },
};

MITOGEN_DEFINE_FUNCTION_MODULE (depmod, depmod_functions)
