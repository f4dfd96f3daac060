/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>

G_BEGIN_DECLS

/**
 * MitogenTransferDirection:
 * @MITOGEN_TRANSFER_DIRECTION_GET: from the context to this process
 * @MITOGEN_TRANSFER_DIRECTION_PUT: from this process to the context
 *
 * Which way a [class@Mitogen.Transfer] copies.
 */
typedef enum
{
  MITOGEN_TRANSFER_DIRECTION_GET,
  MITOGEN_TRANSFER_DIRECTION_PUT,
} MitogenTransferDirection;

/**
 * MitogenTransferFlags:
 * @MITOGEN_TRANSFER_FLAGS_NONE: copy one regular file
 * @MITOGEN_TRANSFER_FLAGS_RECURSIVE: copy a directory and everything in it
 *   (symbolic links inside it are copied as links); without this flag a
 *   directory source is an error
 * @MITOGEN_TRANSFER_FLAGS_TARGET_DIRECTORY: the destination must be an
 *   existing directory (the copy is made inside it, as when copying
 *   several sources)
 *
 * How a [class@Mitogen.Transfer] copies.
 */
typedef enum /*< flags >*/
{
  MITOGEN_TRANSFER_FLAGS_NONE             = 0,
  MITOGEN_TRANSFER_FLAGS_RECURSIVE        = 1 << 0,
  MITOGEN_TRANSFER_FLAGS_TARGET_DIRECTORY = 1 << 1,
} MitogenTransferFlags;

#define MITOGEN_TYPE_TRANSFER_DIRECTION (mitogen_transfer_direction_get_type ())
#define MITOGEN_TYPE_TRANSFER_FLAGS     (mitogen_transfer_flags_get_type ())
#define MITOGEN_TYPE_TRANSFER           (mitogen_transfer_get_type ())

MITOGEN_AVAILABLE_IN_ALL
GType mitogen_transfer_direction_get_type (void) G_GNUC_CONST;
MITOGEN_AVAILABLE_IN_ALL
GType mitogen_transfer_flags_get_type     (void) G_GNUC_CONST;

MITOGEN_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MitogenTransfer, mitogen_transfer, MITOGEN, TRANSFER, GObject)

/**
 * MitogenTransferProgressFunc:
 * @transfer: the transfer
 * @bytes_done: file bytes copied so far
 * @bytes_total: file bytes to copy in all (0 until known)
 * @user_data: the data given with the function
 *
 * Reports the progress of a [class@Mitogen.Transfer]. See
 * [method@Mitogen.Transfer.set_progress_func] for where it runs.
 */
typedef void (*MitogenTransferProgressFunc) (MitogenTransfer *transfer,
                                             guint64          bytes_done,
                                             guint64          bytes_total,
                                             gpointer         user_data);

MITOGEN_AVAILABLE_IN_ALL
MitogenTransfer *mitogen_transfer_new               (MitogenContext               *context,
                                                     MitogenTransferDirection      direction,
                                                     const char                   *source,
                                                     const char                   *destination,
                                                     MitogenTransferFlags          flags);
MITOGEN_AVAILABLE_IN_ALL
MitogenContext  *mitogen_transfer_get_context       (MitogenTransfer              *self);
MITOGEN_AVAILABLE_IN_ALL
void             mitogen_transfer_set_chunk_size    (MitogenTransfer              *self,
                                                     gsize                         chunk_size);
MITOGEN_AVAILABLE_IN_ALL
void             mitogen_transfer_set_window        (MitogenTransfer              *self,
                                                     guint64                       window);
MITOGEN_AVAILABLE_IN_ALL
void             mitogen_transfer_set_progress_func (MitogenTransfer              *self,
                                                     MitogenTransferProgressFunc   func,
                                                     gpointer                      user_data,
                                                     GDestroyNotify                destroy);
MITOGEN_AVAILABLE_IN_ALL
gboolean         mitogen_transfer_run               (MitogenTransfer              *self,
                                                     GCancellable                 *cancellable,
                                                     GError                      **error);
MITOGEN_AVAILABLE_IN_ALL
void             mitogen_transfer_run_async         (MitogenTransfer              *self,
                                                     GCancellable                 *cancellable,
                                                     GAsyncReadyCallback           callback,
                                                     gpointer                      user_data);
MITOGEN_AVAILABLE_IN_ALL
gboolean         mitogen_transfer_run_finish        (MitogenTransfer              *self,
                                                     GAsyncResult                 *result,
                                                     GError                      **error);
MITOGEN_AVAILABLE_IN_ALL
guint64          mitogen_transfer_get_bytes_done    (MitogenTransfer              *self);
MITOGEN_AVAILABLE_IN_ALL
guint64          mitogen_transfer_get_bytes_total   (MitogenTransfer              *self);
MITOGEN_AVAILABLE_IN_ALL
guint64          mitogen_transfer_get_files_done    (MitogenTransfer              *self);
MITOGEN_AVAILABLE_IN_ALL
guint64          mitogen_transfer_get_files_total   (MitogenTransfer              *self);
MITOGEN_AVAILABLE_IN_ALL
char            *mitogen_transfer_dup_destination_path (MitogenTransfer           *self);
MITOGEN_AVAILABLE_IN_ALL
char            *mitogen_transfer_dup_sha256        (MitogenTransfer              *self);

MITOGEN_AVAILABLE_IN_ALL
gboolean         mitogen_context_get_file           (MitogenContext               *self,
                                                     const char                   *remote_path,
                                                     const char                   *local_path,
                                                     MitogenTransferFlags          flags,
                                                     GCancellable                 *cancellable,
                                                     GError                      **error);
MITOGEN_AVAILABLE_IN_ALL
gboolean         mitogen_context_put_file           (MitogenContext               *self,
                                                     const char                   *local_path,
                                                     const char                   *remote_path,
                                                     MitogenTransferFlags          flags,
                                                     GCancellable                 *cancellable,
                                                     GError                      **error);

G_END_DECLS
