/* mitogen-protocol-private.h — the shapes of the protocol's own messages
 *
 * The protocol version and the payloads of GREETING, CONFIG,
 * CALL_FUNCTION and LOAD_MODULE are built and parsed here and nowhere else
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

/* GREETING, child -> parent, the agent's first frame: `(uusxa{sv})`:
 * version, flags, agent version, pid, then who the agent runs as (`uid u`,
 * `user s`; see mitogen_protocol_identity_new ()). The shorter `(uusx)` of
 * earlier agents is accepted (no identity: uid -1, user NULL). Fields are
 * only ever appended; unknown keys of the dictionary are ignored. */
typedef struct
{
  guint32     version;
  guint32     flags;           /* none defined: 0 */
  const char *agent_version;   /* (unowned) points into the parsed value */
  gint64      pid;             /* 1 .. G_MAXINT32 */
  gint64      uid;             /* the effective uid, -1 if not told */
  char       *user;            /* (owned) (nullable) its user name, NULL if not told */
} MitogenGreeting;

GVariant *mitogen_protocol_greeting_new   (const char            *agent_version,
                                           gint64                 pid,
                                           gint64                 uid,
                                           const char            *user);
/* Also refuses a version other than ours, and values out of range.
 * @agent_version points into @value; free the rest with
 * mitogen_protocol_greeting_clear (). */
gboolean  mitogen_protocol_greeting_parse (GVariant              *value,
                                           MitogenGreeting       *greeting,
                                           GError               **error);
void      mitogen_protocol_greeting_clear (MitogenGreeting       *greeting);

/* Who a process runs as, as an `a{sv}`: `uid u` (omitted when @uid is
 * negative: not known), `user s` (omitted when @user is NULL or empty: no
 * passwd entry). The greeting carries it, and so does the reply of
 * `mitogen.connect` (via). Returns a floating reference. */
#define MITOGEN_PROTOCOL_USER_MAX 256   /* bytes of a user name (LOGIN_NAME_MAX) */
GVariant *mitogen_protocol_identity_new   (gint64                 uid,
                                           const char            *user);
/* Reads what mitogen_protocol_identity_new () made, from a peer: @uid is
 * -1 and @user NULL when absent; a wrong type, the uid (uid_t) -1, or a
 * user name that is too long or holds control characters, slashes or
 * colons is an error. @user is (transfer full). */
gboolean  mitogen_protocol_identity_parse (GVariant              *value,
                                           gint64                *uid,
                                           char                 **user,
                                           GError               **error);

/* Stream keepalive (docs/protocol.md "Keepalive"): the defaults, and the
 * bounds a configuration or an option may set. */
#define MITOGEN_KEEPALIVE_DEFAULT_INTERVAL 30.0
#define MITOGEN_KEEPALIVE_DEFAULT_COUNT    3u
#define MITOGEN_KEEPALIVE_MIN_INTERVAL     0.01
#define MITOGEN_KEEPALIVE_MAX_INTERVAL     86400.0
#define MITOGEN_KEEPALIVE_MIN_COUNT        2u
#define MITOGEN_KEEPALIVE_MAX_COUNT        1000u

/* KEEPALIVE, between neighbours: `(bx)`: whether this is the answer, and a
 * value the answer echoes (the sender's monotonic time, microseconds). */
GVariant *mitogen_protocol_keepalive_new   (gboolean               answer,
                                            gint64                 stamp);
gboolean  mitogen_protocol_keepalive_parse (GVariant              *value,
                                            gboolean              *answer,
                                            gint64                *stamp,
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
  double         keepalive_interval; /* seconds; 0: off (also when absent) */
  guint32        keepalive_count;
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
GVariant *mitogen_protocol_call_new_slow  (const char            *function,
                                           GVariant              *args);
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
/* The same value's serialized bytes (little-endian hosts only). */
GBytes   *mitogen_protocol_call_bytes_new (const char            *function,
                                           GVariant              *args);
#endif
/* One value of each type a call needs, kept for the life of the process. */
extern GVariant *mitogen_protocol_types_kept[2];
/* A call's type. G_VARIANT_TYPE () checks its string at every use (about
 * 500 instructions); this literal is known good. */
#define MITOGEN_PROTOCOL_CALL_TYPE ((const GVariantType *) "(sva{sv})")
/* The empty tuple, "()": (transfer full) a reference to one kept value,
 * not a new one (which costs a type lookup under GLib's global lock). Any
 * thread. */
GVariant *mitogen_protocol_unit       (void);
/* Whether @size bytes are a call's (sva{sv}) in normal form with no
 * keywords, checked without GLib's generic walk; FALSE also for shapes it
 * leaves to GLib (keywords, deep argument types). Any thread. */
gboolean  mitogen_protocol_call_is_normal (const guint8          *data,
                                           gsize                  size);
/* The name of the function a call value names, pointing into @value;
 * %NULL if @value is not a (sva{sv}). Any thread. */
const char *mitogen_protocol_call_peek_function (GVariant        *value);
/* @function points into @value; @args is (transfer full). */
gboolean  mitogen_protocol_call_parse     (GVariant              *value,
                                           const char           **function,
                                           GVariant             **args,
                                           GError               **error);

/* LOAD_MODULE, child -> parent: `(sasa{sv})`: the module's name (a plain
 * word), the sonames the requester has loaded (the parent sends none of
 * them), options: `max_size t`, the largest reply frame it takes. */
#define MITOGEN_MODULE_NAME_MAX      64     /* bytes of a module name */
#define MITOGEN_MODULE_HAVE_MAX      4096   /* sonames in a request */
#define MITOGEN_MODULE_FILE_NAME_MAX 200    /* bytes of a file name in a reply */
#define MITOGEN_MODULE_FILES_MAX     256    /* files in a reply */

typedef struct
{
  const char   *name;       /* (unowned) points into the parsed value */
  const char  **have;       /* (owned container) (unowned elements) NULL-terminated */
  gsize         n_have;
  guint64       max_size;   /* 0: not given */
} MitogenModuleRequest;

GVariant *mitogen_protocol_module_request_new   (const char            *name,
                                                 const char * const    *have,
                                                 guint64                max_size);
gboolean  mitogen_protocol_module_request_parse (GVariant              *value,
                                                 MitogenModuleRequest  *request,
                                                 GError               **error);
void      mitogen_protocol_module_request_clear (MitogenModuleRequest  *request);

/* TRUE if @name is a module name: 1 to MITOGEN_MODULE_NAME_MAX of
 * [a-z0-9_]. Never a path. */
gboolean  mitogen_protocol_module_name_is_valid (const char            *name);

/* The LOAD_MODULE reply, parent -> child: `(a(ssay)asa{sv})`: the files,
 * shared libraries in load order (dependencies first) then the module
 * itself, last, named NAME.so; each (file name, SHA-256 in lowercase hex,
 * bytes); the libraries the module needs that were not sent because the
 * requester has them; information: `origin u` (the context whose module
 * path held the module), `cached_by u` (present when an intermediate
 * answered from its cache). A refusal is an ordinary error reply. */
typedef struct
{
  char   *name;      /* (owned) */
  char   *sha256;    /* (owned) 64 lowercase hex digits */
  GBytes *data;      /* (owned) */
} MitogenModuleFile;

typedef struct
{
  GPtrArray *files;      /* (owned) (element-type MitogenModuleFile) the module last */
  GPtrArray *present;    /* (owned) (element-type utf8) */
  guint32    origin;
  gboolean   cached;     /* cached_by was given */
  guint32    cached_by;
} MitogenModuleReply;

MitogenModuleFile *mitogen_module_file_new    (const char           *name,
                                               const char           *sha256,
                                               GBytes               *data);
void      mitogen_module_file_free              (gpointer               file);
/* Files and present names are added by the caller. (transfer full) */
MitogenModuleReply *mitogen_module_reply_new    (void);
void      mitogen_module_reply_free             (MitogenModuleReply    *reply);
GVariant *mitogen_protocol_module_reply_new     (const MitogenModuleReply *reply);
/* Checks the shape, never the hashes (the serve layer does): at least one
 * file, at most MITOGEN_MODULE_FILES_MAX, the last one @module.so, names
 * plain file names ([A-Za-z0-9._+-], not . or ..) and unique, hashes 64
 * lowercase hex digits. The bytes are shared with @value. */
MitogenModuleReply *mitogen_protocol_module_reply_parse (GVariant      *value,
                                                         const char    *module,
                                                         GError       **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MitogenModuleReply, mitogen_module_reply_free)

G_END_DECLS
