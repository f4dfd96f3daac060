/* mitogen-protocol.c — GREETING, CONFIG, CALL_FUNCTION and LOAD_MODULE payloads
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-protocol"

#include "config.h"

#include <string.h>

#include "mitogen-protocol-private.h"

/* One a{sv} entry. Values here are built child by child: a format
 * string (g_variant_new (), g_variant_builder_add ()) is parsed at every
 * use, which was half the cost of the greeting and CONFIG, built at
 * every start. */
static GVariant *
vardict_entry (const char *key,
               GVariant   *value)
{
  return g_variant_new_dict_entry (g_variant_new_string (key), g_variant_new_variant (value));
}

GVariant *
mitogen_protocol_greeting_new (const char *agent_version,
                               gint64      pid,
                               gint64      uid,
                               const char *user)
{
  GVariant *fields[] = {
    g_variant_new_uint32 (MITOGEN_PROTOCOL_VERSION),
    g_variant_new_uint32 (0),
    g_variant_new_string (agent_version),
    g_variant_new_int64 (pid),
    mitogen_protocol_identity_new (uid, user),
  };

  return g_variant_new_tuple (fields, G_N_ELEMENTS (fields));
}

gboolean
mitogen_protocol_greeting_parse (GVariant         *value,
                                 MitogenGreeting  *greeting,
                                 GError          **error)
{
  g_autoptr(GVariant) identity = NULL;

  memset (greeting, 0, sizeof *greeting);
  greeting->uid = -1;
  if (value != NULL && (g_variant_is_of_type (value, (const GVariantType *) "(uusxa{sv})") ||
                        g_variant_is_of_type (value, (const GVariantType *) "(uusx)")))
    {
      /* Child by child, as the greeting is built (no format string). */
      g_autoptr(GVariant) version = g_variant_get_child_value (value, 0);
      g_autoptr(GVariant) flags = g_variant_get_child_value (value, 1);
      g_autoptr(GVariant) agent_version = g_variant_get_child_value (value, 2);
      g_autoptr(GVariant) pid = g_variant_get_child_value (value, 3);

      greeting->version = g_variant_get_uint32 (version);
      greeting->flags = g_variant_get_uint32 (flags);
      /* Points into @value's data, as "&s" would. */
      greeting->agent_version = g_variant_get_string (agent_version, NULL);
      greeting->pid = g_variant_get_int64 (pid);
      if (g_variant_n_children (value) == 5)
        identity = g_variant_get_child_value (value, 4);
    }
  else
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "malformed greeting from the agent: type %s, expected (uusxa{sv})",
                   value != NULL ? g_variant_get_type_string (value) : "none");
      return FALSE;
    }
  if (greeting->version != MITOGEN_PROTOCOL_VERSION)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "agent %s speaks protocol %u, we speak %u",
                   greeting->agent_version, greeting->version, MITOGEN_PROTOCOL_VERSION);
      mitogen_protocol_greeting_clear (greeting);
      return FALSE;
    }
  if (greeting->pid <= 0 || greeting->pid > G_MAXINT32)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "greeting from the agent gives pid %" G_GINT64_FORMAT, greeting->pid);
      mitogen_protocol_greeting_clear (greeting);
      return FALSE;
    }
  if (identity != NULL && !mitogen_protocol_identity_parse (identity, &greeting->uid, &greeting->user, error))
    {
      g_prefix_error (error, "greeting from the agent: ");
      mitogen_protocol_greeting_clear (greeting);
      return FALSE;
    }
  return TRUE;
}

void
mitogen_protocol_greeting_clear (MitogenGreeting *greeting)
{
  g_clear_pointer (&greeting->user, g_free);
}

GVariant *
mitogen_protocol_identity_new (gint64      uid,
                               const char *user)
{
  GVariant *entries[2];
  gsize n = 0;

  if (uid >= 0 && uid < G_MAXUINT32)
    entries[n++] = vardict_entry ("uid", g_variant_new_uint32 ((guint32) uid));
  if (user != NULL && user[0] != '\0')
    entries[n++] = vardict_entry ("user", g_variant_new_string (user));
  return g_variant_new_array (G_VARIANT_TYPE ("{sv}"), entries, n);
}

gboolean
mitogen_protocol_identity_parse (GVariant     *value,
                                 gint64       *uid,
                                 char        **user,
                                 GError      **error)
{
  g_autoptr(GVariant) uid_value = NULL;
  g_autoptr(GVariant) user_value = NULL;
  const char *name;

  *uid = -1;
  *user = NULL;
  if (!g_variant_is_of_type (value, G_VARIANT_TYPE_VARDICT))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "identity of type %s, expected a{sv}", g_variant_get_type_string (value));
      return FALSE;
    }
  uid_value = g_variant_lookup_value (value, "uid", NULL);
  user_value = g_variant_lookup_value (value, "user", NULL);
  if (uid_value != NULL)
    {
      if (!g_variant_is_of_type (uid_value, G_VARIANT_TYPE_UINT32) ||
          g_variant_get_uint32 (uid_value) == G_MAXUINT32)
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "bad uid (type %s)",
                       g_variant_get_type_string (uid_value));
          return FALSE;
        }
      *uid = g_variant_get_uint32 (uid_value);
    }
  if (user_value != NULL)
    {
      if (!g_variant_is_of_type (user_value, G_VARIANT_TYPE_STRING))
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "bad user name (type %s)",
                       g_variant_get_type_string (user_value));
          return FALSE;
        }
      name = g_variant_get_string (user_value, NULL);
      if (name[0] == '\0' || strlen (name) > MITOGEN_PROTOCOL_USER_MAX)
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                       "bad user name (%zu bytes)", strlen (name));
          return FALSE;
        }
      for (const char *p = name; *p != '\0'; p++)
        if ((guchar) *p < 0x20 || *p == 0x7f || *p == '/' || *p == ':')
          {
            g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                 "bad user name (a control character, '/' or ':')");
            return FALSE;
          }
      *user = g_strdup (name);
    }
  return TRUE;
}

GVariant *
mitogen_protocol_config_new (const MitogenConfig *config)
{
  GVariant *entries[] = {
    vardict_entry ("context_id", g_variant_new_uint32 (config->context_id)),
    vardict_entry ("parent_ids", g_variant_new_fixed_array (G_VARIANT_TYPE_UINT32, config->parent_ids,
                                                           config->n_parent_ids, sizeof (guint32))),
    vardict_entry ("name", g_variant_new_string (config->name)),
    vardict_entry ("debug", g_variant_new_boolean (config->debug)),
    vardict_entry ("profiling", g_variant_new_boolean (config->profiling)),
    vardict_entry ("max_message_size", g_variant_new_uint64 (config->max_message_size)),
    vardict_entry ("keepalive_interval", g_variant_new_double (config->keepalive_interval)),
    vardict_entry ("keepalive_count", g_variant_new_uint32 (config->keepalive_count)),
  };

  return g_variant_new_array (G_VARIANT_TYPE ("{sv}"), entries, G_N_ELEMENTS (entries));
}

#define config_fail(...) \
  G_STMT_START { g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, __VA_ARGS__); return FALSE; } G_STMT_END

/* The keys a configuration may carry; others are ignored (a newer parent). */
typedef enum
{
  CONFIG_CONTEXT_ID,
  CONFIG_PARENT_IDS,
  CONFIG_NAME,
  CONFIG_DEBUG,
  CONFIG_PROFILING,
  CONFIG_MAX_MESSAGE_SIZE,
  CONFIG_KEEPALIVE_INTERVAL,
  CONFIG_KEEPALIVE_COUNT,
  CONFIG_N_KEYS
} ConfigKey;

static const struct
{
  const char         *name;
  const GVariantType *type;
} config_keys[CONFIG_N_KEYS] = {
  [CONFIG_CONTEXT_ID] = { "context_id", G_VARIANT_TYPE_UINT32 },
  [CONFIG_PARENT_IDS] = { "parent_ids", (const GVariantType *) "au" },
  [CONFIG_NAME] = { "name", G_VARIANT_TYPE_STRING },
  [CONFIG_DEBUG] = { "debug", G_VARIANT_TYPE_BOOLEAN },
  [CONFIG_PROFILING] = { "profiling", G_VARIANT_TYPE_BOOLEAN },
  [CONFIG_MAX_MESSAGE_SIZE] = { "max_message_size", G_VARIANT_TYPE_UINT64 },
  [CONFIG_KEEPALIVE_INTERVAL] = { "keepalive_interval", G_VARIANT_TYPE_DOUBLE },
  [CONFIG_KEEPALIVE_COUNT] = { "keepalive_count", G_VARIANT_TYPE_UINT32 },
};

/* One pass over the entries (a g_variant_lookup () per key walked them
 * all again each time: 140,000 instructions of every agent's start).
 * As with g_variant_lookup (), a key's first entry decides, and a value
 * of another type counts as absent. */
static gboolean
config_parse (GVariant       *value,
              MitogenConfig  *config,
              GVariant      **found,
              GError        **error)
{
  guint seen = 0;
  gsize n;

  memset (config, 0, sizeof *config);
  config->name = "?";
  config->max_message_size = MITOGEN_DEFAULT_MAX_MESSAGE_SIZE;
  /* Absent: a parent from before keepalives, which would not answer. */
  config->keepalive_interval = 0;
  config->keepalive_count = MITOGEN_KEEPALIVE_DEFAULT_COUNT;
  if (value == NULL || !g_variant_is_of_type (value, G_VARIANT_TYPE_VARDICT))
    config_fail ("configuration is not an a{sv}");

  n = g_variant_n_children (value);
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) entry = g_variant_get_child_value (value, i);
      g_autoptr(GVariant) key = g_variant_get_child_value (entry, 0);
      const char *name = g_variant_get_string (key, NULL);

      for (guint k = 0; k < CONFIG_N_KEYS; k++)
        if (!(seen & (1u << k)) && strcmp (name, config_keys[k].name) == 0)
          {
            g_autoptr(GVariant) boxed = g_variant_get_child_value (entry, 1);
            GVariant *inner = g_variant_get_variant (boxed);

            seen |= 1u << k;
            if (g_variant_is_of_type (inner, config_keys[k].type))
              found[k] = inner;
            else
              g_variant_unref (inner);
            break;
          }
    }

  if (found[CONFIG_CONTEXT_ID] == NULL)
    config_fail ("configuration has no context_id (u)");
  config->context_id = g_variant_get_uint32 (found[CONFIG_CONTEXT_ID]);
  if (config->context_id == 0)
    config_fail ("configuration gives context id 0");
  if (found[CONFIG_PARENT_IDS] == NULL)
    config_fail ("configuration has no parent_ids (au)");
  config->parent_ids_value = g_steal_pointer (&found[CONFIG_PARENT_IDS]);
  config->parent_ids = g_variant_get_fixed_array (config->parent_ids_value, &config->n_parent_ids,
                                                  sizeof (guint32));
  if (config->n_parent_ids == 0)
    config_fail ("configuration has empty parent_ids");
  /* The string lives in @value's data, as g_variant_lookup ()'s "&s". */
  if (found[CONFIG_NAME] != NULL)
    config->name = g_variant_get_string (found[CONFIG_NAME], NULL);
  if (found[CONFIG_DEBUG] != NULL)
    config->debug = g_variant_get_boolean (found[CONFIG_DEBUG]);
  if (found[CONFIG_PROFILING] != NULL)
    config->profiling = g_variant_get_boolean (found[CONFIG_PROFILING]);
  if (found[CONFIG_MAX_MESSAGE_SIZE] != NULL)
    config->max_message_size = g_variant_get_uint64 (found[CONFIG_MAX_MESSAGE_SIZE]);
  if (config->max_message_size < MITOGEN_PROTOCOL_MIN_MESSAGE_SIZE ||
      config->max_message_size > G_MAXUINT32)
    config_fail ("configuration's max_message_size %" G_GUINT64_FORMAT " is out of range",
                 config->max_message_size);
  if (found[CONFIG_KEEPALIVE_INTERVAL] != NULL)
    config->keepalive_interval = g_variant_get_double (found[CONFIG_KEEPALIVE_INTERVAL]);
  if (found[CONFIG_KEEPALIVE_COUNT] != NULL)
    config->keepalive_count = g_variant_get_uint32 (found[CONFIG_KEEPALIVE_COUNT]);
  /* (NaN fails both comparisons, so it is refused too.) */
  if (!(config->keepalive_interval == 0 ||
        (config->keepalive_interval >= MITOGEN_KEEPALIVE_MIN_INTERVAL &&
         config->keepalive_interval <= MITOGEN_KEEPALIVE_MAX_INTERVAL)))
    config_fail ("configuration's keepalive_interval %g is out of range", config->keepalive_interval);
  if (config->keepalive_count < MITOGEN_KEEPALIVE_MIN_COUNT ||
      config->keepalive_count > MITOGEN_KEEPALIVE_MAX_COUNT)
    config_fail ("configuration's keepalive_count %u is out of range", config->keepalive_count);
  return TRUE;
}

gboolean
mitogen_protocol_config_parse (GVariant       *value,
                               MitogenConfig  *config,
                               GError        **error)
{
  GVariant *found[CONFIG_N_KEYS] = { NULL, };
  gboolean ok = config_parse (value, config, found, error);

  for (guint k = 0; k < CONFIG_N_KEYS; k++)
    g_clear_pointer (&found[k], g_variant_unref);
  return ok;
}

void
mitogen_protocol_config_clear (MitogenConfig *config)
{
  g_clear_pointer (&config->parent_ids_value, g_variant_unref);
  config->parent_ids = NULL;
  config->n_parent_ids = 0;
}

GVariant *
mitogen_protocol_keepalive_new (gboolean answer,
                                gint64   stamp)
{
  return g_variant_new ("(bx)", answer, stamp);
}

gboolean
mitogen_protocol_keepalive_parse (GVariant  *value,
                                  gboolean  *answer,
                                  gint64    *stamp,
                                  GError   **error)
{
  if (value == NULL || !g_variant_is_of_type (value, G_VARIANT_TYPE ("(bx)")))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "malformed KEEPALIVE of type %s, expected (bx)",
                   value != NULL ? g_variant_get_type_string (value) : "(dead)");
      return FALSE;
    }
  g_variant_get (value, "(bx)", answer, stamp);
  return TRUE;
}

/* GLib keeps the description of a container type only while some value
 * of that type exists, and builds it again (hash table, locks,
 * allocations) for the next one: a caller sending calls one by one paid
 * that for every call. One value of each type a call needs is kept for
 * the life of the process: (owned), never freed. Not static: the compiler
 * would drop the stores to a static array nothing reads, and leak
 * checkers would then see the values as lost. Set once, any thread. */
GVariant *mitogen_protocol_types_kept[2];

static void
keep_call_types (void)
{
  static gsize once;

  if (g_once_init_enter (&once))
    {
      mitogen_protocol_types_kept[0] = g_variant_ref_sink (mitogen_protocol_call_new_slow ("", NULL));
      mitogen_protocol_types_kept[1] = g_variant_ref_sink (g_variant_new_tuple (NULL, 0));
      g_once_init_leave (&once, 1);
    }
}

GVariant *
mitogen_protocol_unit (void)
{
  keep_call_types ();
  return g_variant_ref (mitogen_protocol_types_kept[1]);
}

/* Any thread: what mitogen_protocol_call_new () returns, built by
 * GLib's own serialiser from a tree of values. The reference for
 * call_new_direct () below (tests/test-frame.c compares the two). */
GVariant *
mitogen_protocol_call_new_slow (const char *function,
                                GVariant   *args)
{
  g_autoptr(GVariant) tuple = NULL;

  tuple = g_variant_ref_sink (args != NULL ? args : g_variant_new_tuple (NULL, 0));
  return g_variant_new ("(sv@a{sv})", function, tuple,
                        g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));
}

#if G_BYTE_ORDER == G_LITTLE_ENDIAN
/* Writes @value as a little-endian number of @size bytes at @at. */
static void
put_offset (guint8 *at,
            gsize   value,
            gsize   size)
{
  for (gsize i = 0; i < size; i++)
    at[i] = (guint8) (value >> (8 * i));
}

/* Any thread: the "(sva{sv})" of a call serialized directly, in GLib's
 * normal form (docs/protocol.md, "CALL_FUNCTION"): the name and its NUL;
 * zeros up to a multiple of 8; the arguments' own bytes, a NUL and their
 * type string (the "v"); zeros up to a multiple of 8 where the empty
 * a{sv} begins and ends; then the end offsets of the "v" and of the name,
 * little-endian, each as wide as the whole value's size needs. Building
 * a tree of values and having GLib serialise it cost more than the rest
 * of sending a call. */
static GBytes *
call_bytes_direct (const char *function,
                   GVariant   *args)
{
  gsize name_len = strlen (function) + 1;
  gsize args_size = g_variant_get_size (args);
  const char *args_type = g_variant_get_type_string (args);
  gsize type_len = strlen (args_type);
  gsize v_start = (name_len + 7) & ~(gsize) 7;
  gsize v_end = v_start + args_size + 1 + type_len;
  gsize body = (v_end + 7) & ~(gsize) 7;
  gsize offset_size, total;
  guint8 *buf;

  if (body + 2 <= G_MAXUINT8)
    offset_size = 1;
  else if (body + 4 <= G_MAXUINT16)
    offset_size = 2;
  else if (body + 8 <= G_MAXUINT32)
    offset_size = 4;
  else
    offset_size = 8;
  total = body + 2 * offset_size;

  buf = g_malloc0 (total);
  memcpy (buf, function, name_len);
  if (args_size > 0)
    g_variant_store (args, buf + v_start);
  memcpy (buf + v_start + args_size + 1, args_type, type_len);
  put_offset (buf + body, v_end, offset_size);
  put_offset (buf + body + offset_size, name_len, offset_size);

  return g_bytes_new_take (buf, total);
}
#endif

/* Any thread: a CALL_FUNCTION value, (sva{sv}): the name, the arguments
 * tuple (%NULL: none) whose floating reference is sunk, no keywords. */
GVariant *
mitogen_protocol_call_new (const char *function,
                           GVariant   *args)
{
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
  g_autoptr(GBytes) bytes = mitogen_protocol_call_bytes_new (function, args);

  return g_variant_new_from_bytes (MITOGEN_PROTOCOL_CALL_TYPE, bytes, TRUE);
#else
  return mitogen_protocol_call_new_slow (function, args);
#endif
}

#if G_BYTE_ORDER == G_LITTLE_ENDIAN
/* Any thread: the bytes of mitogen_protocol_call_new ()'s value, which a
 * message can carry without the value itself (mitogen_message_new_call
 * ()): making a GVariant of them costs a type lookup under GLib's global
 * lock, 1,050 instructions of a master's ~11,000 per pipelined call. */
GBytes *
mitogen_protocol_call_bytes_new (const char *function,
                                 GVariant   *args)
{
  g_autoptr(GVariant) tuple = NULL;

  keep_call_types ();
  tuple = args != NULL ? g_variant_ref_sink (args) : mitogen_protocol_unit ();
  return call_bytes_direct (function, tuple);
}
#endif

/* Reading calls without GLib's generic walk ---------------------------
 *
 * A call's "(sva{sv})" as it arrives (docs/protocol.md): the name and its
 * NUL; zeros to a multiple of 8; the "v" (the arguments' bytes, a NUL,
 * their type string); zeros to a multiple of 8; the a{sv}; the end
 * offsets of the "v" and of the name, little-endian, as wide as the whole
 * value's size needs. GLib's normal-form check and child access cost two
 * thirds of an agent's work per call (callgrind, pipelined noop calls):
 * a recursive walk, a type-table lookup under a global lock for every
 * child and every "v". The functions below check exactly this shape and
 * nothing else; whatever they do not accept goes through GLib's generic
 * check, which stays the judge. They may refuse what GLib accepts, never
 * the reverse (tests/test-frame.c, /frame/call-decode, compares them on
 * mutated frames). */

typedef struct
{
  gsize name_end;   /* the name's NUL + 1 */
  gsize v_start;
  gsize v_end;
  gsize kw_start;
  gsize kw_end;     /* where the framing offsets begin */
} CallLayout;

static gsize
read_offset (const guint8 *at,
             gsize         size)
{
  gsize value = 0;

  for (gsize i = 0; i < size; i++)
    value |= (gsize) at[i] << (8 * i);
  return value;
}

static gboolean
zeros (const guint8 *data,
       gsize         from,
       gsize         to)
{
  for (gsize i = from; i < to; i++)
    if (data[i] != 0)
      return FALSE;
  return TRUE;
}

/* The framing of @size bytes as a (sva{sv}) in normal form: offsets as
 * wide as GLib reads them for this size, members in order and in bounds,
 * padding zero. The members themselves are not looked at. */
static gboolean
call_layout (const guint8 *data,
             gsize         size,
             CallLayout   *layout)
{
  gsize offset_size = size > G_MAXUINT32 ? 8 : size > G_MAXUINT16 ? 4 : size > G_MAXUINT8 ? 2 : 1;

  if (size < 2 * offset_size)
    return FALSE;
  layout->kw_end = size - 2 * offset_size;
  layout->name_end = read_offset (data + size - offset_size, offset_size);
  layout->v_end = read_offset (data + size - 2 * offset_size, offset_size);
  if (layout->name_end == 0 || layout->name_end > layout->kw_end)
    return FALSE;
  layout->v_start = (layout->name_end + 7) & ~(gsize) 7;
  if (layout->v_start > layout->v_end || layout->v_end > layout->kw_end)
    return FALSE;
  layout->kw_start = (layout->v_end + 7) & ~(gsize) 7;
  if (layout->kw_start > layout->kw_end)
    return FALSE;
  return zeros (data, layout->name_end, layout->v_start) && zeros (data, layout->v_end, layout->kw_start);
}

/* The arguments inside the "v" of a call laid out by call_layout (): their
 * bytes end at the "v"'s last NUL (*@args_size of them), their type string
 * follows (@type, *@type_len characters, not NUL-terminated). FALSE if the
 * "v" has no NUL. */
static gboolean
call_args (const guint8      *data,
           const CallLayout  *layout,
           gsize             *args_size,
           const char       **type,
           gsize             *type_len)
{
  for (gsize i = layout->v_end; i > layout->v_start; i--)
    if (data[i - 1] == '\0')
      {
        *args_size = i - 1 - layout->v_start;
        *type = (const char *) data + i;
        *type_len = layout->v_end - i;
        return TRUE;
      }
  return FALSE;
}

/* Types this deep nest past GLib's recursion limit inside a call (whose
 * own nesting counts too): left to GLib's check. */
#define CALL_ARGS_TYPE_MAX 64

gboolean
mitogen_protocol_call_is_normal (const guint8 *data,
                                 gsize         size)
{
  CallLayout layout;
  gsize args_size, type_len;
  const char *type;
  const char *end = NULL;

  if (!call_layout (data, size, &layout))
    return FALSE;
  /* The name: NUL-terminated, no other NUL, UTF-8. */
  if (data[layout.name_end - 1] != '\0' ||
      !g_utf8_validate_len ((const char *) data, layout.name_end - 1, &end) ||
      end != (const char *) data + layout.name_end - 1)
    return FALSE;
  /* Keywords: none are defined; a call that has some takes GLib's path. */
  if (layout.kw_start != layout.kw_end)
    return FALSE;
  /* The "v": a definite, complete type string, and a value of that type
   * in normal form. */
  if (!call_args (data, &layout, &args_size, &type, &type_len))
    return FALSE;
  if (type_len == 0 || type_len > CALL_ARGS_TYPE_MAX ||
      !g_variant_type_string_scan (type, type + type_len, &end) || end != type + type_len ||
      !g_variant_type_is_definite ((const GVariantType *) type))
    return FALSE;
  if (type_len == 2 && type[0] == '(' && type[1] == ')')
    /* The unit tuple is one zero byte. */
    return args_size == 1 && data[layout.v_start] == 0;
  {
    g_autoptr(GVariant) args = g_variant_ref_sink (g_variant_new_from_data ((const GVariantType *) type,
                                                                            data + layout.v_start, args_size,
                                                                            FALSE, NULL, NULL));

    return g_variant_is_normal_form (args);
  }
}

/* The bytes of a (sva{sv}) value in normal form, laid out into @layout;
 * %NULL if it is not (GLib's path reads it then). */
static const guint8 *
call_bytes (GVariant   *value,
            CallLayout *layout)
{
  const guint8 *data;

  if (!g_variant_is_normal_form (value))
    return NULL;
  data = g_variant_get_data (value);
  if (data == NULL || !call_layout (data, g_variant_get_size (value), layout))
    return NULL;
  return data;
}

/* A normal-form (sva{sv}) value's name and arguments, read from its bytes. */
static gboolean
call_parse_fast (GVariant    *value,
                 const char **function,
                 GVariant   **args)
{
  const guint8 *data;
  gsize args_size, type_len;
  CallLayout layout;
  const char *type;

  data = call_bytes (value, &layout);
  if (data == NULL || !call_args (data, &layout, &args_size, &type, &type_len))
    return FALSE;
  if (type_len < 2 || type[0] != '(')
    return FALSE;  /* not a tuple: the slow path says so */
  *function = (const char *) data;
  if (type_len == 2 && type[1] == ')')
    *args = mitogen_protocol_unit ();
  else
    *args = g_variant_ref_sink (g_variant_new_from_data ((const GVariantType *) type, data + layout.v_start,
                                                         args_size, TRUE,
                                                         (GDestroyNotify) g_variant_unref,
                                                         g_variant_ref (value)));
  return TRUE;
}

const char *
mitogen_protocol_call_peek_function (GVariant *value)
{
  CallLayout layout;
  const guint8 *data;

  if (value == NULL || !g_variant_is_of_type (value, MITOGEN_PROTOCOL_CALL_TYPE))
    return NULL;
  data = call_bytes (value, &layout);
  if (data != NULL)
    return (const char *) data;
  {
    /* The child points into @value's bytes, which outlive it. */
    g_autoptr(GVariant) name = g_variant_get_child_value (value, 0);

    return g_variant_get_string (name, NULL);
  }
}

gboolean
mitogen_protocol_call_parse (GVariant     *value,
                             const char  **function,
                             GVariant    **args,
                             GError      **error)
{
  g_autoptr(GVariant) name = NULL;
  g_autoptr(GVariant) variant = NULL;
  g_autoptr(GVariant) boxed = NULL;

  keep_call_types ();
  if (value == NULL || !g_variant_is_of_type (value, MITOGEN_PROTOCOL_CALL_TYPE))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "Malformed call request of type %s, expected (sva{sv})",
                   value != NULL ? g_variant_get_type_string (value) : "none");
      return FALSE;
    }
  if (call_parse_fast (value, function, args))
    return TRUE;
  /* What g_variant_get (value, "(&sv@a{sv})", ...) gives, without
   * scanning a format string for every call: the name points into
   * @value's bytes, as "&s" would. */
  name = g_variant_get_child_value (value, 0);
  *function = g_variant_get_string (name, NULL);
  variant = g_variant_get_child_value (value, 1);
  boxed = g_variant_get_variant (variant);
  if (!g_variant_is_of_type (boxed, G_VARIANT_TYPE_TUPLE))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "%s: arguments must be a tuple, got %s",
                   *function, g_variant_get_type_string (boxed));
      return FALSE;
    }
  *args = g_steal_pointer (&boxed);
  return TRUE;
}

/* LOAD_MODULE ----------------------------------------------------------- */

#define module_fail(...) \
  G_STMT_START { g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, __VA_ARGS__); goto fail; } G_STMT_END

gboolean
mitogen_protocol_module_name_is_valid (const char *name)
{
  gsize len = name != NULL ? strlen (name) : 0;

  if (len == 0 || len > MITOGEN_MODULE_NAME_MAX)
    return FALSE;
  for (const char *c = name; *c != '\0'; c++)
    if (!g_ascii_islower (*c) && !g_ascii_isdigit (*c) && *c != '_')
      return FALSE;
  return TRUE;
}

/* A file name a reply may carry: a plain name, never a path. */
static gboolean
file_name_is_valid (const char *name)
{
  gsize len = strlen (name);

  if (len == 0 || len > MITOGEN_MODULE_FILE_NAME_MAX || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return FALSE;
  for (const char *c = name; *c != '\0'; c++)
    if (!g_ascii_isalnum (*c) && *c != '.' && *c != '_' && *c != '+' && *c != '-')
      return FALSE;
  return TRUE;
}

static gboolean
sha256_is_valid (const char *hex)
{
  if (strlen (hex) != 64)
    return FALSE;
  for (const char *c = hex; *c != '\0'; c++)
    if (!g_ascii_isdigit (*c) && !(*c >= 'a' && *c <= 'f'))
      return FALSE;
  return TRUE;
}

GVariant *
mitogen_protocol_module_request_new (const char         *name,
                                     const char * const *have,
                                     guint64             max_size)
{
  static const char * const none[] = { NULL };
  GVariantBuilder options;

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  if (max_size != 0)
    g_variant_builder_add (&options, "{sv}", "max_size", g_variant_new_uint64 (max_size));
  return g_variant_new ("(s^asa{sv})", name, have != NULL ? have : none, &options);
}

gboolean
mitogen_protocol_module_request_parse (GVariant              *value,
                                       MitogenModuleRequest  *request,
                                       GError               **error)
{
  g_autoptr(GVariant) have = NULL;
  g_autoptr(GVariant) options = NULL;

  memset (request, 0, sizeof *request);
  if (value == NULL || !g_variant_is_of_type (value, G_VARIANT_TYPE ("(sasa{sv})")))
    module_fail ("malformed LOAD_MODULE request of type %s, expected (sasa{sv})",
                 value != NULL ? g_variant_get_type_string (value) : "none");
  g_variant_get (value, "(&s@as@a{sv})", &request->name, &have, &options);
  if (!mitogen_protocol_module_name_is_valid (request->name))
    module_fail ("LOAD_MODULE: module name is not a plain word ([a-z0-9_], at most %d bytes)",
                 MITOGEN_MODULE_NAME_MAX);
  if (g_variant_n_children (have) > MITOGEN_MODULE_HAVE_MAX)
    module_fail ("LOAD_MODULE: more than %d loaded libraries listed", MITOGEN_MODULE_HAVE_MAX);
  request->have = g_variant_get_strv (have, &request->n_have);
  for (gsize i = 0; i < request->n_have; i++)
    if (!file_name_is_valid (request->have[i]))
      module_fail ("LOAD_MODULE: a loaded library's name is not a plain file name");
  if (g_variant_lookup (options, "max_size", "t", &request->max_size) &&
      (request->max_size < MITOGEN_PROTOCOL_MIN_MESSAGE_SIZE || request->max_size > G_MAXUINT32))
    module_fail ("LOAD_MODULE: max_size %" G_GUINT64_FORMAT " is out of range", request->max_size);
  return TRUE;

fail:
  mitogen_protocol_module_request_clear (request);
  return FALSE;
}

void
mitogen_protocol_module_request_clear (MitogenModuleRequest *request)
{
  g_clear_pointer (&request->have, g_free);
  request->n_have = 0;
  request->name = NULL;
}

MitogenModuleFile *
mitogen_module_file_new (const char *name,
                         const char *sha256,
                         GBytes     *data)
{
  MitogenModuleFile *file = g_new0 (MitogenModuleFile, 1);

  file->name = g_strdup (name);
  file->sha256 = g_strdup (sha256);
  file->data = g_bytes_ref (data);
  return file;
}

void
mitogen_module_file_free (gpointer data)
{
  MitogenModuleFile *file = data;

  g_free (file->name);
  g_free (file->sha256);
  g_bytes_unref (file->data);
  g_free (file);
}

MitogenModuleReply *
mitogen_module_reply_new (void)
{
  MitogenModuleReply *reply = g_new0 (MitogenModuleReply, 1);

  reply->files = g_ptr_array_new_with_free_func (mitogen_module_file_free);
  reply->present = g_ptr_array_new_with_free_func (g_free);
  return reply;
}

void
mitogen_module_reply_free (MitogenModuleReply *reply)
{
  if (reply == NULL)
    return;
  g_ptr_array_unref (reply->files);
  g_ptr_array_unref (reply->present);
  g_free (reply);
}

GVariant *
mitogen_protocol_module_reply_new (const MitogenModuleReply *reply)
{
  GVariantBuilder files, present, info;

  g_variant_builder_init (&files, G_VARIANT_TYPE ("a(ssay)"));
  for (guint i = 0; i < reply->files->len; i++)
    {
      const MitogenModuleFile *file = g_ptr_array_index (reply->files, i);

      g_variant_builder_add (&files, "(ss@ay)", file->name, file->sha256,
                             g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, file->data, TRUE));
    }
  g_variant_builder_init (&present, G_VARIANT_TYPE_STRING_ARRAY);
  for (guint i = 0; i < reply->present->len; i++)
    g_variant_builder_add (&present, "s", (const char *) g_ptr_array_index (reply->present, i));
  g_variant_builder_init (&info, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&info, "{sv}", "origin", g_variant_new_uint32 (reply->origin));
  if (reply->cached)
    g_variant_builder_add (&info, "{sv}", "cached_by", g_variant_new_uint32 (reply->cached_by));
  return g_variant_new ("(a(ssay)asa{sv})", &files, &present, &info);
}

MitogenModuleReply *
mitogen_protocol_module_reply_parse (GVariant    *value,
                                     const char  *module,
                                     GError     **error)
{
  g_autoptr(MitogenModuleReply) reply = mitogen_module_reply_new ();
  g_autoptr(GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GVariant) files = NULL;
  g_autoptr(GVariant) present = NULL;
  g_autoptr(GVariant) info = NULL;
  g_autofree char *module_file = g_strconcat (module, ".so", NULL);
  gsize n_files;

  if (value == NULL || !g_variant_is_of_type (value, G_VARIANT_TYPE ("(a(ssay)asa{sv})")))
    module_fail ("module '%s': malformed LOAD_MODULE reply of type %s, expected (a(ssay)asa{sv})",
                 module, value != NULL ? g_variant_get_type_string (value) : "none");
  g_variant_get (value, "(@a(ssay)@as@a{sv})", &files, &present, &info);
  n_files = g_variant_n_children (files);
  if (n_files == 0 || n_files > MITOGEN_MODULE_FILES_MAX)
    module_fail ("module '%s': LOAD_MODULE reply with %" G_GSIZE_FORMAT " files", module, n_files);
  if (g_variant_n_children (present) > MITOGEN_MODULE_HAVE_MAX)
    module_fail ("module '%s': LOAD_MODULE reply lists too many present libraries", module);
  for (gsize i = 0; i < n_files; i++)
    {
      g_autoptr(GVariant) entry = g_variant_get_child_value (files, i);
      g_autoptr(GVariant) bytes = NULL;
      g_autoptr(GBytes) data = NULL;
      const char *name, *sha256;

      g_variant_get (entry, "(&s&s@ay)", &name, &sha256, &bytes);
      if (!file_name_is_valid (name))
        module_fail ("module '%s': LOAD_MODULE reply names a file that is not a plain file name", module);
      if (!sha256_is_valid (sha256))
        module_fail ("module '%s': LOAD_MODULE reply gives %s a malformed SHA-256", module, name);
      if (!g_hash_table_add (names, (gpointer) name))
        module_fail ("module '%s': LOAD_MODULE reply names %s twice", module, name);
      if ((i == n_files - 1) != (strcmp (name, module_file) == 0))
        module_fail ("module '%s': LOAD_MODULE reply does not end with %s", module, module_file);
      data = g_variant_get_data_as_bytes (bytes);
      g_ptr_array_add (reply->files, mitogen_module_file_new (name, sha256, data));
    }
  for (gsize i = 0; i < g_variant_n_children (present); i++)
    {
      const char *name;

      g_variant_get_child (present, i, "&s", &name);
      if (!file_name_is_valid (name))
        module_fail ("module '%s': LOAD_MODULE reply lists a library that is not a plain file name", module);
      g_ptr_array_add (reply->present, g_strdup (name));
    }
  g_variant_lookup (info, "origin", "u", &reply->origin);
  reply->cached = g_variant_lookup (info, "cached_by", "u", &reply->cached_by);
  return g_steal_pointer (&reply);

fail:
  return NULL;
}
