/* mitogen-protocol-private.h — the shapes of the protocol's own messages
 *
 * The protocol version and the payloads of GREETING, CONFIG and
 * CALL_FUNCTION are built and parsed here and nowhere else
 * (docs/protocol.md describes them). Parsers never trust the payload: a
 * wrong type, a missing key or a value out of range is a
 * MITOGEN_ERROR_STREAM error saying which. Any thread.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "mitogen-private.h"
#include "mitogen-frame-private.h"

G_BEGIN_DECLS

#define MITOGEN_PROTOCOL_VERSION 1u

/* The smallest max_message_size a configuration may set. */
#define MITOGEN_PROTOCOL_MIN_MESSAGE_SIZE 4096u

/* GREETING, child -> parent, the agent's first frame: `(uusx)`. */
typedef struct
{
  guint32     version;
  guint32     flags;           /* none defined: 0 */
  const char *agent_version;   /* (unowned) points into the parsed value */
  gint64      pid;
} MitogenGreeting;

GVariant *mitogen_protocol_greeting_new   (const char            *agent_version,
                                           gint64                 pid);
/* Also refuses a version other than ours. */
gboolean  mitogen_protocol_greeting_parse (GVariant              *value,
                                           MitogenGreeting       *greeting,
                                           GError               **error);

/* CONFIG, parent -> child, the answer to the greeting: `a{sv}`. */
typedef struct
{
  guint32        context_id;
  const guint32 *parent_ids;        /* (unowned) our parent first, then its ancestors */
  gsize          n_parent_ids;
  const char    *name;              /* (unowned) */
  gboolean       debug;
  gboolean       profiling;
  guint64        max_message_size;
  GVariant      *parent_ids_value;  /* (owned) (nullable) parsed only: holds parent_ids */
} MitogenConfig;

GVariant *mitogen_protocol_config_new     (const MitogenConfig   *config);
/* The strings in @config point into @value, which must outlive them;
 * free what parsing took with mitogen_protocol_config_clear (). */
gboolean  mitogen_protocol_config_parse   (GVariant              *value,
                                           MitogenConfig         *config,
                                           GError               **error);
void      mitogen_protocol_config_clear   (MitogenConfig         *config);

/* CALL_FUNCTION, parent -> child: `(sva{sv})`, the function's name, its
 * arguments (a tuple, boxed) and keyword options (none defined yet). */
GVariant *mitogen_protocol_call_new       (const char            *function,
                                           GVariant              *args);
/* @function points into @value; @args is (transfer full). */
gboolean  mitogen_protocol_call_parse     (GVariant              *value,
                                           const char           **function,
                                           GVariant             **args,
                                           GError               **error);

G_END_DECLS
