/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

MitogenCall *mitogen_call_new (MitogenRouter  *router,
                               GObject        *agent,
                               const char     *function,
                               guint32         caller_id);

void mitogen_register_function_internal (const char  *name,
                                         const char  *args_type,
                                         const char  *return_type,
                                         const char  *description,
                                         MitogenFunc  func,
                                         gpointer     user_data);

/* mitogen-builtins.c */
void mitogen_builtins_register (void);

G_END_DECLS
