/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>

G_BEGIN_DECLS

#define MITOGEN_TYPE_PROCESS (mitogen_process_get_type ())

MITOGEN_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MitogenProcess, mitogen_process, MITOGEN, PROCESS, GObject)

MITOGEN_AVAILABLE_IN_ALL
MitogenProcess *mitogen_process_new             (MitogenContext       *context,
                                                 const char * const   *argv);
MITOGEN_AVAILABLE_IN_ALL
MitogenContext *mitogen_process_get_context     (MitogenProcess       *self);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_process_set_cwd         (MitogenProcess       *self,
                                                 const char           *cwd);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_process_set_environ     (MitogenProcess       *self,
                                                 const char * const   *env);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_process_set_window      (MitogenProcess       *self,
                                                 guint64               window);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_process_start           (MitogenProcess       *self,
                                                 GCancellable         *cancellable,
                                                 GError              **error);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_process_start_async     (MitogenProcess       *self,
                                                 GCancellable         *cancellable,
                                                 GAsyncReadyCallback   callback,
                                                 gpointer              user_data);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_process_start_finish    (MitogenProcess       *self,
                                                 GAsyncResult         *result,
                                                 GError              **error);
MITOGEN_AVAILABLE_IN_ALL
gint64          mitogen_process_get_pid         (MitogenProcess       *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_process_set_cancel_signal (MitogenProcess     *self,
                                                 int                   signum,
                                                 GError              **error);
MITOGEN_AVAILABLE_IN_ALL
int             mitogen_process_get_cancel_signal (MitogenProcess     *self);
MITOGEN_AVAILABLE_IN_ALL
GBytes         *mitogen_process_read            (MitogenProcess       *self,
                                                 int                  *fd,
                                                 GCancellable         *cancellable,
                                                 GError              **error);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_process_read_async      (MitogenProcess       *self,
                                                 GCancellable         *cancellable,
                                                 GAsyncReadyCallback   callback,
                                                 gpointer              user_data);
MITOGEN_AVAILABLE_IN_ALL
GBytes         *mitogen_process_read_finish     (MitogenProcess       *self,
                                                 GAsyncResult         *result,
                                                 int                  *fd,
                                                 GError              **error);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_process_write           (MitogenProcess       *self,
                                                 GBytes               *data,
                                                 GCancellable         *cancellable,
                                                 GError              **error);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_process_write_async     (MitogenProcess       *self,
                                                 GBytes               *data,
                                                 GCancellable         *cancellable,
                                                 GAsyncReadyCallback   callback,
                                                 gpointer              user_data);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_process_write_finish    (MitogenProcess       *self,
                                                 GAsyncResult         *result,
                                                 GError              **error);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_process_close_stdin     (MitogenProcess       *self,
                                                 GError              **error);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_process_close_stdin_async (MitogenProcess     *self,
                                                 GCancellable         *cancellable,
                                                 GAsyncReadyCallback   callback,
                                                 gpointer              user_data);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_process_close_stdin_finish (MitogenProcess    *self,
                                                 GAsyncResult         *result,
                                                 GError              **error);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_process_send_signal     (MitogenProcess       *self,
                                                 int                   signum,
                                                 GError              **error);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_process_wait            (MitogenProcess       *self,
                                                 GCancellable         *cancellable,
                                                 GError              **error);
MITOGEN_AVAILABLE_IN_ALL
void            mitogen_process_wait_async      (MitogenProcess       *self,
                                                 GCancellable         *cancellable,
                                                 GAsyncReadyCallback   callback,
                                                 gpointer              user_data);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_process_wait_finish     (MitogenProcess       *self,
                                                 GAsyncResult         *result,
                                                 GError              **error);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_process_get_finished    (MitogenProcess       *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_process_get_if_exited   (MitogenProcess       *self);
MITOGEN_AVAILABLE_IN_ALL
int             mitogen_process_get_exit_status (MitogenProcess       *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean        mitogen_process_get_if_signaled (MitogenProcess       *self);
MITOGEN_AVAILABLE_IN_ALL
int             mitogen_process_get_term_sig    (MitogenProcess       *self);

G_END_DECLS
