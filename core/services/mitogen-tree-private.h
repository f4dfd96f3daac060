/* mitogen-tree-private.h — sending and receiving files and directory trees
 *
 * The two ends of a file transfer, independent of which side runs where:
 * the master runs the sender for a put and the receiver for a get, a
 * child context the other end (mitogen-transfer.c, mitogen-transfer-serve.c).
 * Each end talks to its peer through a small table of functions (io).
 * The events and the flow control are in docs/streaming.md.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

typedef struct
{
  /* Sends one `(sv)` event to the receiving end (a floating reference is
   * sunk). */
  gboolean (*send)     (gpointer   io,
                        GVariant  *event,
                        GError   **error);
  /* Blocks until the receiving end acknowledges more; sets @acked to the
   * total cost it has consumed. */
  gboolean (*wait_ack) (gpointer   io,
                        guint64   *acked,
                        GError   **error);
  /* Optional: file bytes sent so far, of @total. */
  void     (*progress) (gpointer   io,
                        guint64    done,
                        guint64    total);
} MitogenTreeSenderIO;

typedef struct
{
  /* Blocks for the next event from the sending end: (transfer full) the
   * `(sv)` event, or %NULL with @error set. */
  GVariant *(*next)    (gpointer   io,
                        GError   **error);
  /* Whether next () would block now. */
  gboolean  (*idle)    (gpointer   io);
  /* Acknowledges: @consumed is the total cost consumed so far. */
  gboolean  (*ack)     (gpointer   io,
                        guint64    consumed,
                        GError   **error);
  /* Optional: file bytes written so far, of @total. */
  void      (*progress) (gpointer  io,
                         guint64   done,
                         guint64   total);
} MitogenTreeReceiverIO;

typedef struct
{
  guint64  bytes_total;   /* announced by the sender */
  guint64  files_total;
  guint64  bytes;         /* file data moved */
  guint64  files;         /* regular files */
  guint64  dirs;
  guint64  links;
  guint64  skipped;       /* sockets, fifos, devices: not copied */
  gboolean is_dir;        /* the source is a directory */
  char    *path;          /* (owned) (nullable) receiver: where the copy is */
  char    *sha256;        /* (owned) (nullable) hex digest, when the source is one file */
} MitogenTreeSummary;

void      mitogen_tree_summary_clear (MitogenTreeSummary          *summary);
GVariant *mitogen_tree_summary_to_variant (const MitogenTreeSummary *summary);
void      mitogen_tree_summary_from_variant (MitogenTreeSummary    *summary,
                                             GVariant              *value);

/* Sends @source (a file, or with @recursive a directory tree). */
gboolean  mitogen_tree_send          (const char                  *source,
                                      gboolean                     recursive,
                                      gsize                        chunk,
                                      guint64                      window,
                                      const MitogenTreeSenderIO   *io,
                                      gpointer                     io_data,
                                      MitogenTreeSummary          *summary,
                                      GError                     **error);

/* Receives a tree into @destination (an existing directory gets the
 * source's name inside it; with @target_directory it must be one). */
gboolean  mitogen_tree_receive       (const char                  *destination,
                                      gboolean                     target_directory,
                                      guint64                      window,
                                      const MitogenTreeReceiverIO *io,
                                      gpointer                     io_data,
                                      MitogenTreeSummary          *summary,
                                      GError                     **error);

G_END_DECLS
