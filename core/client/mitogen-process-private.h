/* mitogen-process-private.h — internals of MitogenProcess (client layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

/* Sends the `subprocess.stream` request for @process: @args (floating) are
 * the function's arguments, and its events and reply go to @reply_to.
 * fakessh's client has its master make the call on its behalf. */
typedef gboolean (*MitogenProcessStartFunc) (MitogenProcess  *process,
                                             GVariant        *args,
                                             guint32          reply_to,
                                             gpointer         user_data,
                                             GError         **error);

/* Before mitogen_process_start (). */
void mitogen_process_set_start_func (MitogenProcess          *self,
                                     MitogenProcessStartFunc  func,
                                     gpointer                 user_data);
/* KEY=VALUE pairs added to the context's own environment (the `setenv`
 * option), unlike mitogen_process_set_environ () which replaces it. */
void mitogen_process_set_setenv     (MitogenProcess          *self,
                                     const char * const      *pairs);

G_END_DECLS
