/* mitogen-services-private.h — the functions every context serves (services layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-call-private.h"

G_BEGIN_DECLS

/* The tables, one per source file (NULL-name terminated). */
extern const MitogenFunctionInfo mitogen_builtin_functions[];        /* mitogen-builtins.c */
extern const char * const mitogen_builtin_quick_functions[];        /* mitogen-builtins.c */
extern const MitogenFunctionInfo mitogen_process_serve_functions[];  /* mitogen-process-serve.c */
extern const MitogenFunctionInfo mitogen_transfer_serve_functions[]; /* mitogen-transfer-serve.c */
extern const MitogenFunctionInfo mitogen_dbus_serve_functions[];     /* mitogen-dbus-serve.c */

/* Registers every built-in, once. Any thread. The registry calls it on
 * first use (mitogen-call-private.h); programs may call it first. */
void mitogen_services_register (void);

G_END_DECLS
