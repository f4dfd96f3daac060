/* mitogen-command-transport-private.h — the `command` method (connect layer)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"

G_BEGIN_DECLS

#define MITOGEN_TYPE_COMMAND_TRANSPORT (mitogen_command_transport_get_type ())
G_DECLARE_FINAL_TYPE (MitogenCommandTransport, mitogen_command_transport, MITOGEN, COMMAND_TRANSPORT, MitogenTransport)

/* The method name of the generic transport every program has built in. */
#define MITOGEN_COMMAND_METHOD "command"
/* The element of its `command` option that stands for the target's argv. */
#define MITOGEN_COMMAND_ARGV_MARK "@ARGV@"

/* The method name messages give (the `label` option, or "command"). */
const char *mitogen_command_transport_get_label        (MitogenCommandTransport *self);
gboolean    mitogen_command_transport_get_shares_files (MitogenCommandTransport *self);

/* Any thread. For a connect of @method through an intermediate: when
 * @method's class is declarative (build_command, no spawn_async), the
 * options of a `command` connect that runs the same command line there;
 * the transport is made (and @options checked) here. Returns NULL without
 * @error when @method is not declarative or not known here (the
 * intermediate then runs it itself), NULL with @error when it cannot
 * work. @options: an a{sv}, not consumed. */
GVariant   *mitogen_command_transport_options_for (const char  *method,
                                                   GVariant    *options,
                                                   GError     **error);

G_END_DECLS
