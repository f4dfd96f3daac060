/* mitogen-utils-private.h — internals of mitogen-utils.c
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

/* (atomic) Set by mitogen_log_to_file (io = TRUE, or MITOGEN_LOG_IO). */
extern gint mitogen_io_debug_enabled;

/* Frame-level traces in the "mitogen-io" log domain. When off this costs
 * one relaxed load and a predicted branch; the arguments are not evaluated. */
#define mitogen_io_debug(...)                                             \
  G_STMT_START {                                                          \
    if (G_UNLIKELY (g_atomic_int_get (&mitogen_io_debug_enabled)))        \
      g_log ("mitogen-io", G_LOG_LEVEL_DEBUG, __VA_ARGS__);               \
  } G_STMT_END

/* Sorting names: a GCompareFunc for a GPtrArray of strings, and "sort,
 * NULL-terminate, hand over as a strv" (takes @names). Any thread. */
int     mitogen_compare_strings       (gconstpointer  a,
                                       gconstpointer  b);
char  **mitogen_strv_take_sorted      (GPtrArray     *names);

G_END_DECLS
