/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>

G_BEGIN_DECLS

#define MITOGEN_TYPE_STREAM (mitogen_stream_get_type ())

MITOGEN_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MitogenStream, mitogen_stream, MITOGEN, STREAM, GObject)

MITOGEN_AVAILABLE_IN_ALL
const char *mitogen_stream_get_name      (MitogenStream *self);
MITOGEN_AVAILABLE_IN_ALL
guint32     mitogen_stream_get_remote_id (MitogenStream *self);
MITOGEN_AVAILABLE_IN_ALL
GPid        mitogen_stream_get_pid       (MitogenStream *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean    mitogen_stream_is_closed     (MitogenStream *self);

G_END_DECLS
