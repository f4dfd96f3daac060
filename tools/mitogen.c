/* mitogen.c — the `mitogen` command-line tool
 *
 *   mitogen call -t CHAIN FUNCTION [JSON-ARGS]
 *   mitogen functions [--json]
 *   mitogen methods [--describe] [--json]
 *
 * `call` starts a context as CHAIN says, runs one function there and prints
 * its result as JSON. Arguments are a JSON array, converted to the
 * function's registered argument type (the registry is the same in every
 * context); for functions taking any tuple (`r`) the GVariant types are
 * inferred from the JSON. Every failure is one line on stderr and a
 * distinct exit status (see usage_text and data/mitogen.1).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-tool"

#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include <json-glib/json-glib.h>
#include <mitogen/mitogen.h>

/* Exit statuses: keep in step with usage_text, exit_status_text and
 * data/mitogen.1. */
enum
{
  TOOL_EXIT_OK = 0,
  TOOL_EXIT_CALL = 1,       /* the remote function failed */
  TOOL_EXIT_USAGE = 2,      /* bad command line, JSON-ARGS or CHAIN syntax */
  TOOL_EXIT_CONNECT = 3,    /* the context could not be started */
  TOOL_EXIT_CHANNEL = 4,    /* the context was lost during the call */
};

static const char exit_status_text[] =
  "Exit status:\n"
  "  0  success\n"
  "  1  the remote function failed (includes an unknown function)\n"
  "  2  usage error: bad command line, malformed CHAIN, invalid JSON-ARGS,\n"
  "     or arguments that do not match the function's argument type\n"
  "  3  connection failed: unknown method, unknown or invalid option,\n"
  "     target unreachable or failed to start, timeout, or a multi-hop\n"
  "     CHAIN (not supported yet)\n"
  "  4  the context was lost during the call\n";

static const char chain_text[] =
  "CHAIN is METHOD[:MAIN][?OPTION=VALUE&OPTION=VALUE...], for example\n"
  "'local' or 'local?remote_name=web&debug=true'. Option names may use\n"
  "'_' or '-'; values are converted to the option's type (booleans:\n"
  "true/false/yes/no/1/0; an option without '=' means true); '%XX'\n"
  "escapes are decoded in MAIN and values (write a '/' there as %2F).\n"
  "MAIN sets the method's main option (hostname, container or username,\n"
  "whichever it has). Hops are separated by '/': starting a context via\n"
  "another one is not supported yet and fails with exit status 3.\n"
  "See 'mitogen methods --describe' for the options.\n";

static const char usage_text[] =
  "Usage:\n"
  "  mitogen [-v] COMMAND [OPTION...] [ARG...]\n"
  "\n"
  "Run functions in Mitogen contexts.\n"
  "\n"
  "Commands:\n"
  "  call -t CHAIN FUNCTION [JSON-ARGS]  Call FUNCTION in a new context, print the result\n"
  "  functions [--json]                  List the functions every context serves\n"
  "  methods [--describe] [--json]       List the connection methods (and their options)\n"
  "\n"
  "Options:\n"
  "  -v, --debug                         Show debug logs, the contexts' too\n"
  "  -h, --help                          Show this help\n"
  "  --version                           Show the version\n"
  "\n"
  "Run 'mitogen COMMAND --help' for the options of a command.\n"
  "\n";

/* ---------------------------------------------------------------------- */
/* Reporting */

/* Prints `mitogen: MESSAGE` as exactly one line and returns @status. */
static int G_GNUC_PRINTF (2, 3)
fail (int         status,
      const char *format,
      ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  g_strstrip (message);
  for (char *p = message; *p != '\0'; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';

  fflush (stdout);
  fprintf (stderr, "mitogen: %s\n", message);
  return status;
}

static int
fail_error (int           status,
            const GError *error)
{
  return fail (status, "%s", error->message);
}

static GQuark
tool_error_quark (void)
{
  return g_quark_from_static_string ("mitogen-tool-error-quark");
}

#define TOOL_ERROR (tool_error_quark ())

/* ---------------------------------------------------------------------- */
/* JSON -> GVariant */

static const char *
json_kind (JsonNode *node)
{
  GType type;

  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_OBJECT:
      return "an object";
    case JSON_NODE_ARRAY:
      return "an array";
    case JSON_NODE_NULL:
      return "null";
    case JSON_NODE_VALUE:
    default:
      break;
    }

  type = json_node_get_value_type (node);
  if (type == G_TYPE_BOOLEAN)
    return "a boolean";
  if (type == G_TYPE_INT64)
    return "an integer";
  if (type == G_TYPE_DOUBLE)
    return "a number";
  if (type == G_TYPE_STRING)
    return "a string";
  return "a value";
}

static gboolean
json_is_value_of (JsonNode *node,
                  GType     type)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

static void G_GNUC_PRINTF (3, 4)
set_arg_error (GError    **error,
               const char *path,
               const char *format,
               ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE, "%s: %s", path, message);
}

static JsonNode *
new_int_node (gint64 value)
{
  JsonNode *node = json_node_alloc ();
  return json_node_init_int (node, value);
}

/* Bytes given as {"base64": "..."}: the decoded data, or NULL if @node is
 * not of that form. */
static GBytes *
base64_object_bytes (JsonNode *node)
{
  JsonObject *object;
  JsonNode *member;
  const char *text;
  guchar *data;
  gsize len = 0;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  object = json_node_get_object (node);
  if (json_object_get_size (object) != 1 || !json_object_has_member (object, "base64"))
    return NULL;
  member = json_object_get_member (object, "base64");
  if (!json_is_value_of (member, G_TYPE_STRING))
    return NULL;

  text = json_node_get_string (member);
  /* g_base64_decode() does not reject bad input: check the alphabet. */
  for (const char *p = text; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '+' && *p != '/' && *p != '=' && !g_ascii_isspace (*p))
      return NULL;
  data = g_base64_decode (text, &len);
  return g_bytes_new_take (data, len);
}

static JsonNode *
bytes_to_int_array (const guint8 *data,
                    gsize         len)
{
  JsonArray *array = json_array_sized_new ((guint) len);
  JsonNode *node = json_node_alloc ();

  for (gsize i = 0; i < len; i++)
    json_array_add_int_element (array, data[i]);
  json_node_init_array (node, array);
  json_array_unref (array);
  return node;
}

typedef struct
{
  char    letter;
  gboolean is_signed;
  gint64  min;
  guint64 max;
  const char *name;
} IntegerType;

static const IntegerType integer_types[] = {
  { 'y', FALSE, 0, G_MAXUINT8, "byte" },
  { 'n', TRUE, G_MININT16, G_MAXINT16, "int16" },
  { 'q', FALSE, 0, G_MAXUINT16, "uint16" },
  { 'i', TRUE, G_MININT32, G_MAXINT32, "int32" },
  { 'u', FALSE, 0, G_MAXUINT32, "uint32" },
  { 'x', TRUE, G_MININT64, G_MAXINT64, "int64" },
  { 't', FALSE, 0, G_MAXUINT64, "uint64" },
  { 'h', TRUE, G_MININT32, G_MAXINT32, "handle" },
};

static const IntegerType *
find_integer_type (char letter)
{
  for (gsize i = 0; i < G_N_ELEMENTS (integer_types); i++)
    if (integer_types[i].letter == letter)
      return &integer_types[i];
  return NULL;
}

/* An integer of type @it from an integer node or a decimal string, as an
 * integer node json-glib converts exactly (a uint64 above G_MAXINT64 is
 * carried in the int64 bits, which json-glib casts back). */
static JsonNode *
prepare_integer (JsonNode          *node,
                 const IntegerType *it,
                 const char        *path,
                 GError           **error)
{
  if (json_is_value_of (node, G_TYPE_INT64))
    {
      gint64 value = json_node_get_int (node);

      if ((it->is_signed && (value < it->min || value > (gint64) it->max)) ||
          (!it->is_signed && (value < 0 || (guint64) value > it->max)))
        {
          set_arg_error (error, path, "%" G_GINT64_FORMAT " is out of range for type %c (%s)",
                         value, it->letter, it->name);
          return NULL;
        }
      return json_node_copy (node);
    }

  if (json_is_value_of (node, G_TYPE_STRING))
    {
      const char *text = json_node_get_string (node);

      if (it->is_signed)
        {
          gint64 value;

          if (g_ascii_string_to_signed (text, 10, it->min, (gint64) it->max, &value, NULL))
            return new_int_node (value);
        }
      else
        {
          guint64 value;

          if (g_ascii_string_to_unsigned (text, 10, 0, it->max, &value, NULL))
            return new_int_node ((gint64) value);
        }
      set_arg_error (error, path, "\"%s\" is not an integer in the range of type %c (%s)",
                     text, it->letter, it->name);
      return NULL;
    }

  set_arg_error (error, path, "expected an integer (type %c), got %s", it->letter, json_kind (node));
  return NULL;
}

/* Checks @node against the definite, variant-free @type and returns a copy
 * json_gvariant_deserialize() converts to exactly that type: ranges are
 * checked, bytes may be given as a string or {"base64": ...}. */
static JsonNode *
prepare_node (JsonNode           *node,
              const GVariantType *type,
              const char         *path,
              GError            **error)
{
  /* peek_string() runs on into the enclosing type: copy just this one. */
  g_autofree char *type_string = g_variant_type_dup_string (type);
  char letter = type_string[0];
  const IntegerType *it = find_integer_type (letter);

  if (it != NULL)
    return prepare_integer (node, it, path, error);

  if (letter == 'b')
    {
      if (json_is_value_of (node, G_TYPE_BOOLEAN))
        return json_node_copy (node);
      if (json_is_value_of (node, G_TYPE_STRING) &&
          (g_str_equal (json_node_get_string (node), "true") ||
           g_str_equal (json_node_get_string (node), "false")))
        return json_node_copy (node);
      set_arg_error (error, path, "expected a boolean (type b), got %s", json_kind (node));
      return NULL;
    }

  if (letter == 'd')
    {
      if (json_is_value_of (node, G_TYPE_DOUBLE) || json_is_value_of (node, G_TYPE_INT64))
        return json_node_copy (node);
      if (json_is_value_of (node, G_TYPE_STRING))
        {
          const char *text = json_node_get_string (node);
          char *end = NULL;
          double value = g_ascii_strtod (text, &end);

          if (text[0] != '\0' && end != NULL && *end == '\0')
            return json_node_init_double (json_node_alloc (), value);
        }
      set_arg_error (error, path, "expected a number (type d), got %s", json_kind (node));
      return NULL;
    }

  if (letter == 's' || letter == 'o' || letter == 'g')
    {
      const char *text;

      if (!json_is_value_of (node, G_TYPE_STRING))
        {
          set_arg_error (error, path, "expected a string (type %c), got %s", letter, json_kind (node));
          return NULL;
        }
      text = json_node_get_string (node);
      if ((letter == 'o' && !g_variant_is_object_path (text)) ||
          (letter == 'g' && !g_variant_is_signature (text)))
        {
          set_arg_error (error, path, "\"%s\" is not a valid %s", text,
                         letter == 'o' ? "object path" : "type signature");
          return NULL;
        }
      return json_node_copy (node);
    }

  if (letter == 'm')
    {
      if (JSON_NODE_HOLDS_NULL (node))
        return json_node_copy (node);
      return prepare_node (node, g_variant_type_element (type), path, error);
    }

  if (g_variant_type_equal (type, G_VARIANT_TYPE_BYTESTRING))
    {
      g_autoptr(GBytes) bytes = NULL;

      if (json_is_value_of (node, G_TYPE_STRING))
        {
          const char *text = json_node_get_string (node);
          return bytes_to_int_array ((const guint8 *) text, strlen (text));
        }
      bytes = base64_object_bytes (node);
      if (bytes != NULL)
        {
          gsize len = 0;
          const guint8 *data = g_bytes_get_data (bytes, &len);
          return bytes_to_int_array (data, len);
        }
      if (!JSON_NODE_HOLDS_ARRAY (node))
        {
          set_arg_error (error, path,
                         "expected bytes (type ay: a string, {\"base64\": \"...\"} "
                         "or an array of integers), got %s", json_kind (node));
          return NULL;
        }
      /* An array of integers: checked element by element below. */
    }

  if (letter == 'a' && type_string[1] == '{')
    {
      const GVariantType *entry = g_variant_type_element (type);
      const GVariantType *value_type = g_variant_type_value (entry);
      const IntegerType *key_int = find_integer_type (g_variant_type_peek_string (g_variant_type_key (entry))[0]);
      JsonObject *object, *copy;
      JsonNode *result;
      g_autoptr(GList) members = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        {
          set_arg_error (error, path, "expected an object (type %s), got %s", type_string, json_kind (node));
          return NULL;
        }
      object = json_node_get_object (node);
      copy = json_object_new ();
      members = json_object_get_members (object);
      for (GList *l = members; l != NULL; l = l->next)
        {
          const char *key = l->data;
          g_autofree char *child_path = g_strdup_printf ("%s.%s", path, key);
          JsonNode *child;

          if (key_int != NULL)
            {
              g_autoptr(JsonNode) key_node = json_node_init_string (json_node_alloc (), key);
              g_autoptr(JsonNode) checked = prepare_integer (key_node, key_int, child_path, error);

              if (checked == NULL)
                {
                  json_object_unref (copy);
                  return NULL;
                }
            }
          child = prepare_node (json_object_get_member (object, key), value_type, child_path, error);
          if (child == NULL)
            {
              json_object_unref (copy);
              return NULL;
            }
          json_object_set_member (copy, key, child);
        }
      result = json_node_init_object (json_node_alloc (), copy);
      json_object_unref (copy);
      return result;
    }

  if (letter == 'a' || letter == '(')
    {
      JsonArray *array, *copy;
      JsonNode *result;
      const GVariantType *item = NULL;
      guint length;

      if (!JSON_NODE_HOLDS_ARRAY (node))
        {
          set_arg_error (error, path, "expected an array (type %s), got %s", type_string, json_kind (node));
          return NULL;
        }
      array = json_node_get_array (node);
      length = json_array_get_length (array);
      if (letter == '(' && length != g_variant_type_n_items (type))
        {
          set_arg_error (error, path, "expected an array of %" G_GSIZE_FORMAT " items (type %s), got %u",
                         g_variant_type_n_items (type), type_string, length);
          return NULL;
        }

      copy = json_array_sized_new (length);
      item = letter == '(' ? g_variant_type_first (type) : g_variant_type_element (type);
      for (guint i = 0; i < length; i++)
        {
          g_autofree char *child_path = g_strdup_printf ("%s[%u]", path, i);
          JsonNode *child = prepare_node (json_array_get_element (array, i), item, child_path, error);

          if (child == NULL)
            {
              json_array_unref (copy);
              return NULL;
            }
          json_array_add_element (copy, child);
          if (letter == '(')
            item = g_variant_type_next (item);
        }
      result = json_node_init_array (json_node_alloc (), copy);
      json_array_unref (copy);
      return result;
    }

  if (letter == '{')
    {
      JsonObject *object;
      g_autoptr(GList) members = NULL;
      g_autofree char *child_path = NULL;
      JsonNode *child;
      JsonObject *copy;
      JsonNode *result;

      if (!JSON_NODE_HOLDS_OBJECT (node) || json_object_get_size (json_node_get_object (node)) != 1)
        {
          set_arg_error (error, path, "expected an object with one member (type %s), got %s",
                         type_string, json_kind (node));
          return NULL;
        }
      object = json_node_get_object (node);
      members = json_object_get_members (object);
      child_path = g_strdup_printf ("%s.%s", path, (const char *) members->data);
      child = prepare_node (json_object_get_member (object, members->data),
                            g_variant_type_value (type), child_path, error);
      if (child == NULL)
        return NULL;
      copy = json_object_new ();
      json_object_set_member (copy, members->data, child);
      result = json_node_init_object (json_node_alloc (), copy);
      json_object_unref (copy);
      return result;
    }

  set_arg_error (error, path, "arguments of type %s are not supported", type_string);
  return NULL;
}

static gboolean
type_contains_variant (const GVariantType *type)
{
  const char *text = g_variant_type_peek_string (type);
  return memchr (text, 'v', g_variant_type_get_string_length (type)) != NULL;
}

/* A definite type for an empty container of the indefinite @type. */
static GVariantType *
definite_fallback (const GVariantType *type)
{
  g_autofree char *text = g_variant_type_dup_string (type);
  GString *out = g_string_new (NULL);

  for (const char *p = text; *p != '\0'; p++)
    {
      if (*p == '*')
        g_string_append_c (out, 'v');
      else if (*p == '?')
        g_string_append_c (out, 's');
      else if (*p == 'r')
        g_string_append (out, "()");
      else
        g_string_append_c (out, *p);
    }
  g_autofree char *definite = g_string_free (out, FALSE);

  return g_variant_type_new (definite);
}

/* An array of @children (full references), all of one type: their common
 * type if they have one, `ad` for a mix of integers and numbers, `av`
 * otherwise (and when empty). */
static GVariant *
infer_array (GPtrArray *children)
{
  const GVariantType *first;
  gboolean same = TRUE, numbers = TRUE;

  if (children->len == 0)
    return g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARIANT, NULL, 0));

  first = g_variant_get_type (g_ptr_array_index (children, 0));
  for (guint i = 0; i < children->len; i++)
    {
      GVariant *child = g_ptr_array_index (children, i);

      same = same && g_variant_type_equal (g_variant_get_type (child), first);
      numbers = numbers && (g_variant_is_of_type (child, G_VARIANT_TYPE_INT64) ||
                            g_variant_is_of_type (child, G_VARIANT_TYPE_DOUBLE));
    }

  if (same)
    return g_variant_ref_sink (g_variant_new_array (NULL, (GVariant **) children->pdata, children->len));

  {
    GVariantBuilder builder;

    g_variant_builder_init (&builder, numbers ? G_VARIANT_TYPE ("ad") : G_VARIANT_TYPE ("av"));
    for (guint i = 0; i < children->len; i++)
      {
        GVariant *child = g_ptr_array_index (children, i);

        if (numbers)
          g_variant_builder_add (&builder, "d", g_variant_is_of_type (child, G_VARIANT_TYPE_INT64) ?
                                 (double) g_variant_get_int64 (child) : g_variant_get_double (child));
        else
          g_variant_builder_add (&builder, "v", child);
      }
    return g_variant_ref_sink (g_variant_builder_end (&builder));
  }
}

/* The text of {"gvariant": "TEXT"}, or NULL if @node is not of that form. */
static const char *
gvariant_object_text (JsonNode *node)
{
  JsonObject *object;
  JsonNode *member;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  object = json_node_get_object (node);
  if (json_object_get_size (object) != 1 || !json_object_has_member (object, "gvariant"))
    return NULL;
  member = json_object_get_member (object, "gvariant");
  return json_is_value_of (member, G_TYPE_STRING) ? json_node_get_string (member) : NULL;
}

/* A value whose type is inferred from the JSON: null -> `mv` nothing,
 * booleans -> b, integers -> x, other numbers -> d, strings -> s,
 * {"base64": "..."} -> ay, {"gvariant": "TEXT"} -> TEXT parsed as GVariant
 * text, other objects -> a{sv}, arrays -> an array of their elements'
 * common type (see infer_array). */
static GVariant *
infer_value (JsonNode    *node,
             const char  *path,
             GError     **error)
{
  g_autoptr(GBytes) bytes = NULL;
  const char *text;

  if (JSON_NODE_HOLDS_NULL (node))
    return g_variant_ref_sink (g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL));

  if (JSON_NODE_HOLDS_VALUE (node))
    {
      GType type = json_node_get_value_type (node);

      if (type == G_TYPE_BOOLEAN)
        return g_variant_ref_sink (g_variant_new_boolean (json_node_get_boolean (node)));
      if (type == G_TYPE_INT64)
        return g_variant_ref_sink (g_variant_new_int64 (json_node_get_int (node)));
      if (type == G_TYPE_DOUBLE)
        return g_variant_ref_sink (g_variant_new_double (json_node_get_double (node)));
      return g_variant_ref_sink (g_variant_new_string (json_node_get_string (node)));
    }

  bytes = base64_object_bytes (node);
  if (bytes != NULL)
    return g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, bytes, TRUE));

  text = gvariant_object_text (node);
  if (text != NULL)
    {
      g_autoptr(GError) local_error = NULL;
      GVariant *value = g_variant_parse (NULL, text, NULL, NULL, &local_error);

      if (value == NULL)
        {
          set_arg_error (error, path, "invalid GVariant text \"%s\": %s", text, local_error->message);
          return NULL;
        }
      return value;  /* g_variant_parse() returns a full, non-floating reference */
    }

  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *object = json_node_get_object (node);
      g_autoptr(GList) members = json_object_get_members (object);
      GVariantBuilder builder;

      g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
      for (GList *l = members; l != NULL; l = l->next)
        {
          g_autofree char *child_path = g_strdup_printf ("%s.%s", path, (const char *) l->data);
          g_autoptr(GVariant) child = infer_value (json_object_get_member (object, l->data), child_path, error);

          if (child == NULL)
            {
              g_variant_builder_clear (&builder);
              return NULL;
            }
          g_variant_builder_add (&builder, "{sv}", (const char *) l->data, child);
        }
      return g_variant_ref_sink (g_variant_builder_end (&builder));
    }

  {
    JsonArray *array = json_node_get_array (node);
    g_autoptr(GPtrArray) children = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);

    for (guint i = 0; i < json_array_get_length (array); i++)
      {
        g_autofree char *child_path = g_strdup_printf ("%s[%u]", path, i);
        GVariant *child = infer_value (json_array_get_element (array, i), child_path, error);

        if (child == NULL)
          return NULL;
        g_ptr_array_add (children, child);
      }
    return infer_array (children);
  }
}

/* Converts @node to a value of @type (possibly indefinite). Returns a full,
 * non-floating reference, or %NULL with a TOOL_EXIT_USAGE error. */
static GVariant *
json_to_variant (JsonNode           *node,
                 const GVariantType *type,
                 const char         *path,
                 GError            **error)
{
  g_autofree char *type_string = g_variant_type_dup_string (type);

  if (g_variant_type_is_definite (type) && !type_contains_variant (type))
    {
      g_autoptr(JsonNode) prepared = prepare_node (node, type, path, error);
      g_autoptr(GError) local_error = NULL;
      GVariant *value;

      if (prepared == NULL)
        return NULL;
      value = json_gvariant_deserialize (prepared, type_string, &local_error);
      if (value == NULL)
        {
          set_arg_error (error, path, "%s", local_error->message);
          return NULL;
        }
      return g_variant_ref_sink (value);
    }

  if (type_string[0] == 'v' || type_string[0] == '*' || type_string[0] == '?')
    {
      g_autoptr(GVariant) value = infer_value (node, path, error);

      if (value == NULL)
        return NULL;

      if (type_string[0] == 'v')
        return g_variant_ref_sink (g_variant_new_variant (value));
      if (type_string[0] == '?' && !g_variant_type_is_basic (g_variant_get_type (value)))
        {
          set_arg_error (error, path, "expected a basic value (type ?), got %s", json_kind (node));
          return NULL;
        }
      return g_steal_pointer (&value);
    }

  if (type_string[0] == 'm')
    {
      g_autoptr(GVariant) child = NULL;

      if (JSON_NODE_HOLDS_NULL (node))
        {
          g_autoptr(GVariantType) element = definite_fallback (g_variant_type_element (type));
          return g_variant_ref_sink (g_variant_new_maybe (element, NULL));
        }
      child = json_to_variant (node, g_variant_type_element (type), path, error);
      if (child == NULL)
        return NULL;
      return g_variant_ref_sink (g_variant_new_maybe (NULL, child));
    }

  if (type_string[0] == 'r' || type_string[0] == '(' || type_string[0] == 'a')
    {
      g_autoptr(GPtrArray) children = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
      gboolean is_dict = type_string[0] == 'a' && type_string[1] == '{';
      const GVariantType *item = NULL;

      if (is_dict)
        {
          const GVariantType *entry = g_variant_type_element (type);
          JsonObject *object;
          g_autoptr(GList) members = NULL;

          if (!JSON_NODE_HOLDS_OBJECT (node))
            {
              set_arg_error (error, path, "expected an object (type %s), got %s", type_string, json_kind (node));
              return NULL;
            }
          object = json_node_get_object (node);
          members = json_object_get_members (object);
          for (GList *l = members; l != NULL; l = l->next)
            {
              g_autofree char *child_path = g_strdup_printf ("%s.%s", path, (const char *) l->data);
              g_autoptr(JsonNode) key_node = json_node_init_string (json_node_alloc (), l->data);
              g_autoptr(GVariant) key = json_to_variant (key_node, g_variant_type_key (entry), child_path, error);
              g_autoptr(GVariant) value = NULL;

              if (key == NULL)
                return NULL;
              value = json_to_variant (json_object_get_member (object, l->data),
                                       g_variant_type_value (entry), child_path, error);
              if (value == NULL)
                return NULL;
              g_ptr_array_add (children, g_variant_ref_sink (g_variant_new_dict_entry (key, value)));
            }
        }
      else
        {
          JsonArray *array;
          guint length;

          if (!JSON_NODE_HOLDS_ARRAY (node))
            {
              set_arg_error (error, path, "expected an array (type %s), got %s", type_string, json_kind (node));
              return NULL;
            }
          array = json_node_get_array (node);
          length = json_array_get_length (array);
          if (type_string[0] == '(' && length != g_variant_type_n_items (type))
            {
              set_arg_error (error, path, "expected an array of %" G_GSIZE_FORMAT " items (type %s), got %u",
                             g_variant_type_n_items (type), type_string, length);
              return NULL;
            }
          if (type_string[0] == '(')
            item = g_variant_type_first (type);
          else if (type_string[0] == 'a')
            item = g_variant_type_element (type);

          for (guint i = 0; i < length; i++)
            {
              g_autofree char *child_path = g_strdup_printf ("%s[%u]", path, i);
              JsonNode *element = json_array_get_element (array, i);
              GVariant *child = item != NULL ? json_to_variant (element, item, child_path, error)
                                             : infer_value (element, child_path, error);

              if (child == NULL)
                return NULL;
              g_ptr_array_add (children, child);
              if (type_string[0] == '(')
                item = g_variant_type_next (item);
            }
        }

      if (type_string[0] != 'a')
        return g_variant_ref_sink (g_variant_new_tuple ((GVariant **) children->pdata, children->len));

      if (children->len == 0)
        {
          g_autoptr(GVariantType) element = definite_fallback (g_variant_type_element (type));
          return g_variant_ref_sink (g_variant_new_array (element, NULL, 0));
        }
      for (guint i = 1; i < children->len; i++)
        if (!g_variant_type_equal (g_variant_get_type (g_ptr_array_index (children, i)),
                                   g_variant_get_type (g_ptr_array_index (children, 0))))
          {
            set_arg_error (error, path, "the elements of an array (type %s) must all have the same type, "
                           "got %s and %s", type_string,
                           g_variant_get_type_string (g_ptr_array_index (children, 0)),
                           g_variant_get_type_string (g_ptr_array_index (children, i)));
            return NULL;
          }
      return g_variant_ref_sink (g_variant_new_array (NULL, (GVariant **) children->pdata, children->len));
    }

  set_arg_error (error, path, "arguments of type %s are not supported", type_string);
  return NULL;
}

/* The argument tuple for @function from the JSON array @root (%NULL: no
 * arguments). A function unknown here gets types inferred from the JSON
 * and is left for the context to reject. */
static GVariant *
build_arguments (const char  *function,
                 JsonNode    *root,
                 GError     **error)
{
  const char *args_type = NULL;
  g_autoptr(JsonNode) empty = NULL;
  const GVariantType *type;
  JsonArray *array;
  guint length;

  if (!mitogen_lookup_function (function, &args_type, NULL, NULL) ||
      args_type == NULL || !g_variant_type_string_is_valid (args_type))
    args_type = "r";
  type = G_VARIANT_TYPE (args_type);

  if (root == NULL)
    {
      JsonArray *none = json_array_new ();
      empty = json_node_init_array (json_node_alloc (), none);
      json_array_unref (none);
      root = empty;
    }
  if (!JSON_NODE_HOLDS_ARRAY (root))
    {
      g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE,
                   "JSON-ARGS must be a JSON array of the arguments, got %s", json_kind (root));
      return NULL;
    }

  array = json_node_get_array (root);
  length = json_array_get_length (array);
  if (args_type[0] == '(' && length != g_variant_type_n_items (type))
    {
      gsize wanted = g_variant_type_n_items (type);

      g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE,
                   "%s takes %" G_GSIZE_FORMAT " argument%s (type %s), got %u",
                   function, wanted, wanted == 1 ? "" : "s", args_type, length);
      return NULL;
    }

  if (args_type[0] == '(')
    {
      /* Name the arguments "argument N" (from 1) in errors. */
      g_autoptr(GPtrArray) children = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
      const GVariantType *item = g_variant_type_first (type);

      for (guint i = 0; i < length; i++, item = g_variant_type_next (item))
        {
          g_autofree char *path = g_strdup_printf ("argument %u", i + 1);
          GVariant *child = json_to_variant (json_array_get_element (array, i), item, path, error);

          if (child == NULL)
            {
              g_prefix_error (error, "%s (arguments %s): ", function, args_type);
              return NULL;
            }
          g_ptr_array_add (children, child);
        }
      return g_variant_ref_sink (g_variant_new_tuple ((GVariant **) children->pdata, children->len));
    }

  {
    GVariant *value = json_to_variant (root, type, "arguments", error);

    if (value == NULL)
      g_prefix_error (error, "%s (arguments %s): ", function, args_type);
    else if (!g_variant_is_of_type (value, G_VARIANT_TYPE_TUPLE))
      {
        /* A non-tuple type cannot be an argument list. */
        g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE,
                     "%s: registered argument type %s is not a tuple", function, args_type);
        g_clear_pointer (&value, g_variant_unref);
      }
    return value;
  }
}

/* ---------------------------------------------------------------------- */
/* GVariant -> JSON */

/* Bytes: a string if they are valid UTF-8 (without NUL), otherwise
 * {"base64": "..."}. */
static JsonNode *
bytes_to_json (GVariant *value)
{
  gsize len = 0;
  const char *data = g_variant_get_fixed_array (value, &len, 1);
  JsonNode *node = json_node_alloc ();

  if (len == 0)
    return json_node_init_string (node, "");
  if (g_utf8_validate_len (data, len, NULL))
    {
      g_autofree char *text = g_strndup (data, len);
      return json_node_init_string (node, text);
    }
  {
    g_autofree char *encoded = g_base64_encode ((const guchar *) data, len);
    JsonObject *object = json_object_new ();

    json_object_set_string_member (object, "base64", encoded);
    json_node_init_object (node, object);
    json_object_unref (object);
    return node;
  }
}

static char *
dict_key_string (GVariant *key)
{
  if (g_variant_is_of_type (key, G_VARIANT_TYPE_STRING) ||
      g_variant_is_of_type (key, G_VARIANT_TYPE_OBJECT_PATH) ||
      g_variant_is_of_type (key, G_VARIANT_TYPE_SIGNATURE))
    return g_variant_dup_string (key, NULL);
  return g_variant_print (key, FALSE);
}

/* Like json_gvariant_serialize(), which it uses for the basic values, but
 * bytes (`ay`) become strings or {"base64": ...}, and a uint64 too large
 * for a JSON integer becomes a number. */
static JsonNode *
variant_to_json (GVariant *value)
{
  GVariantClass klass = g_variant_classify (value);

  if (klass == G_VARIANT_CLASS_VARIANT)
    {
      g_autoptr(GVariant) inner = g_variant_get_variant (value);
      return variant_to_json (inner);
    }

  if (klass == G_VARIANT_CLASS_MAYBE)
    {
      g_autoptr(GVariant) inner = g_variant_get_maybe (value);
      return inner != NULL ? variant_to_json (inner) : json_node_init_null (json_node_alloc ());
    }

  if (klass == G_VARIANT_CLASS_ARRAY && g_variant_is_of_type (value, G_VARIANT_TYPE_BYTESTRING))
    return bytes_to_json (value);

  if (klass == G_VARIANT_CLASS_DICT_ENTRY ||
      (klass == G_VARIANT_CLASS_ARRAY &&
       g_variant_type_is_dict_entry (g_variant_type_element (g_variant_get_type (value)))))
    {
      JsonObject *object = json_object_new ();
      JsonNode *node = json_node_alloc ();
      GVariantIter iter;
      GVariant *entry;

      if (klass == G_VARIANT_CLASS_DICT_ENTRY)
        {
          g_autoptr(GVariant) key = g_variant_get_child_value (value, 0);
          g_autoptr(GVariant) child = g_variant_get_child_value (value, 1);
          g_autofree char *name = dict_key_string (key);

          json_object_set_member (object, name, variant_to_json (child));
        }
      else
        {
          g_variant_iter_init (&iter, value);
          while ((entry = g_variant_iter_next_value (&iter)) != NULL)
            {
              g_autoptr(GVariant) key = g_variant_get_child_value (entry, 0);
              g_autoptr(GVariant) child = g_variant_get_child_value (entry, 1);
              g_autofree char *name = dict_key_string (key);

              json_object_set_member (object, name, variant_to_json (child));
              g_variant_unref (entry);
            }
        }
      json_node_init_object (node, object);
      json_object_unref (object);
      return node;
    }

  if (klass == G_VARIANT_CLASS_ARRAY || klass == G_VARIANT_CLASS_TUPLE)
    {
      JsonArray *array = json_array_sized_new ((guint) g_variant_n_children (value));
      JsonNode *node = json_node_alloc ();
      GVariantIter iter;
      GVariant *child;

      g_variant_iter_init (&iter, value);
      while ((child = g_variant_iter_next_value (&iter)) != NULL)
        {
          json_array_add_element (array, variant_to_json (child));
          g_variant_unref (child);
        }
      json_node_init_array (node, array);
      json_array_unref (array);
      return node;
    }

  if (klass == G_VARIANT_CLASS_UINT64 && g_variant_get_uint64 (value) > G_MAXINT64)
    return json_node_init_double (json_node_alloc (), (double) g_variant_get_uint64 (value));

  return json_gvariant_serialize (value);
}

static void
print_json (JsonNode *node)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autofree char *text = NULL;

  json_generator_set_pretty (generator, TRUE);
  json_generator_set_indent (generator, 2);
  json_generator_set_root (generator, node);
  text = json_generator_to_data (generator, NULL);
  printf ("%s\n", text);
}

/* ---------------------------------------------------------------------- */
/* CHAIN */

typedef struct
{
  char      *text;     /* (owned) the hop as written */
  char      *method;   /* (owned) */
  char      *main;     /* (owned) (nullable) decoded */
  GPtrArray *names;    /* (owned) decoded option names */
  GPtrArray *values;   /* (owned) decoded values; NULL: given without '=' */
} Hop;

static void
hop_free (gpointer data)
{
  Hop *hop = data;

  g_free (hop->text);
  g_free (hop->method);
  g_free (hop->main);
  g_ptr_array_unref (hop->names);
  g_ptr_array_unref (hop->values);
  g_free (hop);
}

static char *
decode_part (const char  *part,
             const char  *hop,
             GError     **error)
{
  char *decoded = g_uri_unescape_string (part, NULL);

  if (decoded == NULL || !g_utf8_validate (decoded, -1, NULL))
    {
      g_free (decoded);
      g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE,
                   "Invalid %%-escape in '%s' of CHAIN hop '%s'", part, hop);
      return NULL;
    }
  return decoded;
}

/* Splits CHAIN into hops; only syntax is checked here. */
static GPtrArray *
parse_chain (const char  *chain,
             GError     **error)
{
  g_autoptr(GPtrArray) hops = g_ptr_array_new_with_free_func (hop_free);
  g_auto(GStrv) parts = NULL;

  if (chain[0] == '\0')
    {
      g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE, "Empty CHAIN: expected METHOD[:MAIN][?OPTION=VALUE&...]");
      return NULL;
    }

  parts = g_strsplit (chain, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      Hop *hop;
      char *query, *colon;
      g_auto(GStrv) pairs = NULL;

      if (parts[i][0] == '\0')
        {
          g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE,
                       "Empty hop %u in CHAIN '%s' (hops are separated by a single '/')", i + 1, chain);
          return NULL;
        }

      hop = g_new0 (Hop, 1);
      hop->names = g_ptr_array_new_with_free_func (g_free);
      hop->values = g_ptr_array_new_with_free_func (g_free);
      hop->text = g_strdup (parts[i]);
      g_ptr_array_add (hops, hop);

      query = strchr (parts[i], '?');
      if (query != NULL)
        *query++ = '\0';
      colon = strchr (parts[i], ':');
      if (colon != NULL)
        *colon++ = '\0';

      if (parts[i][0] == '\0')
        {
          g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE, "No METHOD in CHAIN hop '%s'", hop->text);
          return NULL;
        }
      hop->method = g_strdup (parts[i]);

      if (colon != NULL)
        {
          if (colon[0] == '\0')
            {
              g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE, "Empty MAIN after ':' in CHAIN hop '%s'", hop->text);
              return NULL;
            }
          hop->main = decode_part (colon, hop->text, error);
          if (hop->main == NULL)
            return NULL;
        }

      if (query == NULL)
        continue;
      pairs = g_strsplit (query, "&", -1);
      for (guint j = 0; pairs[j] != NULL; j++)
        {
          char *eq;
          char *name, *value = NULL;

          if (pairs[j][0] == '\0')
            continue;
          eq = strchr (pairs[j], '=');
          if (eq != NULL)
            *eq++ = '\0';
          if (pairs[j][0] == '\0')
            {
              g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE,
                           "Option without a name in CHAIN hop '%s'", hop->text);
              return NULL;
            }
          name = decode_part (pairs[j], hop->text, error);
          if (name == NULL)
            return NULL;
          if (eq != NULL)
            {
              value = decode_part (eq, hop->text, error);
              if (value == NULL)
                {
                  g_free (name);
                  return NULL;
                }
            }
          g_ptr_array_add (hop->names, name);
          g_ptr_array_add (hop->values, value);
        }
    }

  return g_steal_pointer (&hops);
}

static GParamSpec *
find_option (MitogenTransport *transport,
             const char       *name)
{
  g_autofree char *property = g_strdelimit (g_strdup (name), "_", '-');
  GParamSpec *pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (transport), property);

  if (pspec == NULL || !(pspec->flags & G_PARAM_WRITABLE) || (pspec->flags & G_PARAM_CONSTRUCT_ONLY))
    return NULL;
  return pspec;
}

static gboolean
parse_boolean (const char *text,
               gboolean   *out)
{
  static const char * const yes[] = { "true", "yes", "1", "on" };
  static const char * const no[] = { "false", "no", "0", "off" };

  for (gsize i = 0; i < G_N_ELEMENTS (yes); i++)
    if (g_ascii_strcasecmp (text, yes[i]) == 0)
      {
        *out = TRUE;
        return TRUE;
      }
  for (gsize i = 0; i < G_N_ELEMENTS (no); i++)
    if (g_ascii_strcasecmp (text, no[i]) == 0)
      {
        *out = FALSE;
        return TRUE;
      }
  return FALSE;
}

/* The a{sv} value of option @name given as @text (%NULL: without '='),
 * converted to the option's type. An unknown option is passed on as a
 * string for the library to reject with its own message. */
static GVariant *
option_value (const char        *method,
              const char        *name,
              GParamSpec        *pspec,
              const char        *text,
              GError           **error)
{
  GType type;
  const char *expected = NULL;

  if (pspec == NULL)
    return g_variant_new_string (text != NULL ? text : "true");

  type = G_PARAM_SPEC_VALUE_TYPE (pspec);
  if (text == NULL)
    {
      if (type == G_TYPE_BOOLEAN)
        return g_variant_new_boolean (TRUE);
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "Option '%s' of method '%s' needs a value (%s=VALUE)", name, method, name);
      return NULL;
    }

  if (type == G_TYPE_BOOLEAN)
    {
      gboolean value;

      if (parse_boolean (text, &value))
        return g_variant_new_boolean (value);
      expected = "a boolean (true/false, yes/no, 1/0)";
    }
  else if (type == G_TYPE_INT || type == G_TYPE_INT64 || type == G_TYPE_LONG)
    {
      gint64 value;

      if (g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, &value, NULL))
        return g_variant_new_int64 (value);
      expected = "an integer";
    }
  else if (type == G_TYPE_UINT || type == G_TYPE_UINT64 || type == G_TYPE_ULONG)
    {
      guint64 value;

      if (g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, &value, NULL))
        return g_variant_new_uint64 (value);
      expected = "a non-negative integer";
    }
  else if (type == G_TYPE_DOUBLE || type == G_TYPE_FLOAT)
    {
      char *end = NULL;
      double value = g_ascii_strtod (text, &end);

      if (text[0] != '\0' && end != NULL && *end == '\0')
        return g_variant_new_double (value);
      expected = "a number";
    }
  else if (type == G_TYPE_STRV)
    {
      g_auto(GStrv) items = text[0] != '\0' ? g_strsplit (text, ",", -1) : g_new0 (char *, 1);
      return g_variant_new_strv ((const char * const *) items, -1);
    }
  else
    return g_variant_new_string (text);  /* strings, enums (by nick), ... */

  g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
               "Option '%s' of method '%s' expects %s, got '%s'", name, method, expected, text);
  return NULL;
}

/* The options of @hop as an a{sv} for its method: checks the method
 * exists (the library's NOT_FOUND error otherwise). */
static GVariant *
hop_options (Hop       *hop,
             gboolean   debug,
             GError   **error)
{
  static const char * const main_options[] = { "hostname", "container", "username" };
  g_autoptr(MitogenTransport) transport = NULL;
  GVariantBuilder builder;
  gboolean has_debug = FALSE;

  transport = mitogen_transport_new_for_method (hop->method, NULL, error);
  if (transport == NULL)
    return NULL;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);

  if (hop->main != NULL)
    {
      const char *main_option = NULL;

      for (gsize i = 0; i < G_N_ELEMENTS (main_options) && main_option == NULL; i++)
        if (find_option (transport, main_options[i]) != NULL)
          main_option = main_options[i];
      if (main_option == NULL)
        {
          g_variant_builder_clear (&builder);
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                       "Method '%s' takes no MAIN part (got '%s:%s'); give options as %s?OPTION=VALUE",
                       hop->method, hop->method, hop->main, hop->method);
          return NULL;
        }
      g_variant_builder_add (&builder, "{sv}", main_option, g_variant_new_string (hop->main));
    }

  for (guint i = 0; i < hop->names->len; i++)
    {
      const char *name = g_ptr_array_index (hop->names, i);
      g_autofree char *property = g_strdelimit (g_strdup (name), "_", '-');
      GVariant *value = option_value (hop->method, name, find_option (transport, name),
                                      g_ptr_array_index (hop->values, i), error);

      if (value == NULL)
        {
          g_variant_builder_clear (&builder);
          return NULL;
        }
      has_debug = has_debug || g_str_equal (property, "debug");
      g_variant_builder_add (&builder, "{sv}", name, value);
    }

  if (debug && !has_debug)
    g_variant_builder_add (&builder, "{sv}", "debug", g_variant_new_boolean (TRUE));

  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

/* ---------------------------------------------------------------------- */
/* Commands */

static gboolean opt_debug;

static GOptionContext *
new_option_context (const char         *command,
                    const char         *parameters,
                    const char         *summary,
                    const GOptionEntry *entries,
                    gboolean            with_chain_help)
{
  static const GOptionEntry common[] = {
    { "debug", 'v', 0, G_OPTION_ARG_NONE, &opt_debug, "Show debug logs, the contexts' too", NULL },
    G_OPTION_ENTRY_NULL
  };
  GOptionContext *context = g_option_context_new (parameters);
  g_autofree char *description = g_strconcat (with_chain_help ? chain_text : "",
                                              with_chain_help ? "\n" : "",
                                              exit_status_text, NULL);

  g_set_prgname (command);
  g_option_context_set_summary (context, summary);
  g_option_context_set_description (context, description);
  g_option_context_add_main_entries (context, common, NULL);
  if (entries != NULL)
    g_option_context_add_main_entries (context, entries, NULL);
  return context;
}

static int
parse_options (GOptionContext *context,
               char         ***args)
{
  g_autoptr(GError) error = NULL;

  if (!g_option_context_parse_strv (context, args, &error))
    return fail (TOOL_EXIT_USAGE, "%s (try '%s --help')", error->message, g_get_prgname ());
  if (opt_debug)
    g_log_set_debug_enabled (TRUE);
  return TOOL_EXIT_OK;
}

static int
cmd_call (char **args)
{
  g_autofree char *chain = NULL;
  gboolean as_variant = FALSE;
  const GOptionEntry entries[] = {
    { "target", 't', 0, G_OPTION_ARG_STRING, &chain, "Where to call: METHOD[:MAIN][?OPTION=VALUE&...]", "CHAIN" },
    { "variant", 0, 0, G_OPTION_ARG_NONE, &as_variant, "Print the result as GVariant text, not JSON", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) options = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) hops = NULL;
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GVariant) arguments = NULL;
  g_autoptr(GPtrArray) hop_option_list = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(GPtrArray) contexts = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GVariant) result = NULL;
  const char *function;
  MitogenContext *context;
  int status;

  options = new_option_context ("mitogen call", "FUNCTION [JSON-ARGS]",
                                "Start a context as CHAIN says, call FUNCTION there and print its\n"
                                "result as JSON. JSON-ARGS is a JSON array of the arguments (none\n"
                                "if absent), converted to the function's argument type (see\n"
                                "'mitogen functions'); bytes (ay) may be given as a string or as\n"
                                "{\"base64\": \"...\"}. Where the type is open (r, v), it is inferred:\n"
                                "integers x, other numbers d, strings s, booleans b, null mv,\n"
                                "arrays of one type as that array (as, ax, ...) else av, objects\n"
                                "a{sv}, {\"base64\": \"...\"} ay, and {\"gvariant\": \"TEXT\"} the GVariant\n"
                                "TEXT (e.g. \"{'K': 'V'}\" for an a{ss}). Arguments that do not match a\n"
                                "known function's type are a usage error (status 2), found before\n"
                                "connecting. Bytes in the result print as a string when they are\n"
                                "valid UTF-8, otherwise as {\"base64\": \"...\"}.",
                                entries, TRUE);
  status = parse_options (options, &args);
  if (status != TOOL_EXIT_OK)
    return status;

  if (chain == NULL)
    return fail (TOOL_EXIT_USAGE, "call: -t CHAIN is required (try 'mitogen call --help')");
  if (g_strv_length (args) < 2)
    return fail (TOOL_EXIT_USAGE, "call: no FUNCTION given (try 'mitogen call --help')");
  if (g_strv_length (args) > 3)
    return fail (TOOL_EXIT_USAGE, "call: unexpected argument '%s' after JSON-ARGS "
                 "(the arguments are one JSON array: quote it)", args[3]);
  function = args[1];

  hops = parse_chain (chain, &error);
  if (hops == NULL)
    return fail_error (TOOL_EXIT_USAGE, error);

  if (args[2] != NULL)
    {
      parser = json_parser_new ();
      if (!json_parser_load_from_data (parser, args[2], -1, &error))
        return fail (TOOL_EXIT_USAGE, "Invalid JSON-ARGS: %s", error->message);
      if (json_parser_get_root (parser) == NULL)
        return fail (TOOL_EXIT_USAGE, "Invalid JSON-ARGS: empty (give a JSON array such as '[]')");
    }
  arguments = build_arguments (function, parser != NULL ? json_parser_get_root (parser) : NULL, &error);
  if (arguments == NULL)
    return fail_error (TOOL_EXIT_USAGE, error);

  for (guint i = 0; i < hops->len; i++)
    {
      Hop *hop = g_ptr_array_index (hops, i);
      GVariant *hop_opts = hop_options (hop, opt_debug, &error);

      if (hop_opts == NULL)
        {
          if (hops->len > 1)
            return fail (TOOL_EXIT_CONNECT, "hop %u (%s): %s", i + 1, hop->text, error->message);
          return fail_error (TOOL_EXIT_CONNECT, error);
        }
      g_ptr_array_add (hop_option_list, hop_opts);
    }

  router = mitogen_router_new ();
  context = NULL;
  for (guint i = 0; i < hops->len; i++)
    {
      Hop *hop = g_ptr_array_index (hops, i);
      MitogenContext *next;

      g_debug ("connecting hop %u: %s", i + 1, hop->text);
      next = mitogen_router_connect (router, hop->method, g_ptr_array_index (hop_option_list, i),
                                     context, NULL, &error);
      if (next == NULL)
        {
          if (hops->len > 1)
            return fail (TOOL_EXIT_CONNECT, "hop %u (%s): %s", i + 1, hop->text, error->message);
          return fail_error (TOOL_EXIT_CONNECT, error);
        }
      g_ptr_array_add (contexts, next);
      context = next;
    }

  g_debug ("calling %s%s in %s", function, g_variant_get_type_string (arguments),
           mitogen_context_get_name (context));
  result = mitogen_context_call (context, function, arguments, NULL, &error);
  if (result == NULL)
    {
      if (g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL))
        return fail_error (TOOL_EXIT_CALL, error);
      return fail_error (TOOL_EXIT_CHANNEL, error);
    }

  if (as_variant)
    {
      g_autofree char *text = g_variant_print (result, TRUE);
      printf ("%s\n", text);
    }
  else
    {
      g_autoptr(JsonNode) node = variant_to_json (result);
      print_json (node);
    }

  /* Contexts, then the router: its disposal tells the children to exit
   * and reaps them. */
  g_clear_pointer (&contexts, g_ptr_array_unref);
  g_clear_object (&router);
  return TOOL_EXIT_OK;
}

static int
cmd_functions (char **args)
{
  gboolean as_json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print a JSON array of objects", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) options = NULL;
  g_auto(GStrv) names = NULL;
  int status;

  options = new_option_context ("mitogen functions", NULL,
                                "List the functions every context serves: name, argument type\n"
                                "(a GVariant tuple type; r is any tuple), return type, description.",
                                entries, FALSE);
  status = parse_options (options, &args);
  if (status != TOOL_EXIT_OK)
    return status;
  if (g_strv_length (args) > 1)
    return fail (TOOL_EXIT_USAGE, "functions: unexpected argument '%s'", args[1]);

  names = mitogen_list_functions ();

  if (as_json)
    {
      g_autoptr(JsonBuilder) builder = json_builder_new ();
      g_autoptr(JsonNode) root = NULL;

      json_builder_begin_array (builder);
      for (guint i = 0; names[i] != NULL; i++)
        {
          const char *args_type = "", *return_type = "", *description = "";

          mitogen_lookup_function (names[i], &args_type, &return_type, &description);
          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "name");
          json_builder_add_string_value (builder, names[i]);
          json_builder_set_member_name (builder, "args");
          json_builder_add_string_value (builder, args_type);
          json_builder_set_member_name (builder, "returns");
          json_builder_add_string_value (builder, return_type);
          json_builder_set_member_name (builder, "description");
          json_builder_add_string_value (builder, description);
          json_builder_end_object (builder);
        }
      json_builder_end_array (builder);
      root = json_builder_get_root (builder);
      print_json (root);
      return TOOL_EXIT_OK;
    }

  {
    int name_width = (int) strlen ("FUNCTION"), args_width = (int) strlen ("ARGS");
    int return_width = (int) strlen ("RETURNS");

    for (guint i = 0; names[i] != NULL; i++)
      {
        const char *args_type = "", *return_type = "";

        mitogen_lookup_function (names[i], &args_type, &return_type, NULL);
        name_width = MAX (name_width, (int) strlen (names[i]));
        args_width = MAX (args_width, (int) strlen (args_type));
        return_width = MAX (return_width, (int) strlen (return_type));
      }

    printf ("%-*s  %-*s  %-*s  %s\n", name_width, "FUNCTION", args_width, "ARGS",
            return_width, "RETURNS", "DESCRIPTION");
    for (guint i = 0; names[i] != NULL; i++)
      {
        const char *args_type = "", *return_type = "", *description = "";

        mitogen_lookup_function (names[i], &args_type, &return_type, &description);
        printf ("%-*s  %-*s  %-*s  %s\n", name_width, names[i], args_width, args_type,
                return_width, return_type, description);
      }
  }
  return TOOL_EXIT_OK;
}

/* The type of an option as users write it. */
static char *
option_type_text (GParamSpec *pspec)
{
  GType type = G_PARAM_SPEC_VALUE_TYPE (pspec);

  if (type == G_TYPE_BOOLEAN)
    return g_strdup ("boolean");
  if (type == G_TYPE_STRING)
    return g_strdup ("string");
  if (type == G_TYPE_STRV)
    return g_strdup ("string list (a,b,c)");
  if (type == G_TYPE_DOUBLE)
    {
      GParamSpecDouble *d = G_PARAM_SPEC_DOUBLE (pspec);
      char lo[G_ASCII_DTOSTR_BUF_SIZE], hi[G_ASCII_DTOSTR_BUF_SIZE];

      g_ascii_formatd (lo, sizeof lo, "%g", d->minimum);
      g_ascii_formatd (hi, sizeof hi, "%g", d->maximum);
      return g_strdup_printf ("number %s..%s", lo, hi);
    }
  if (type == G_TYPE_INT)
    return g_strdup_printf ("integer %d..%d", G_PARAM_SPEC_INT (pspec)->minimum,
                            G_PARAM_SPEC_INT (pspec)->maximum);
  if (type == G_TYPE_UINT)
    return g_strdup_printf ("integer %u..%u", G_PARAM_SPEC_UINT (pspec)->minimum,
                            G_PARAM_SPEC_UINT (pspec)->maximum);
  if (type == G_TYPE_INT64)
    return g_strdup_printf ("integer %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT,
                            G_PARAM_SPEC_INT64 (pspec)->minimum, G_PARAM_SPEC_INT64 (pspec)->maximum);
  if (type == G_TYPE_UINT64)
    return g_strdup_printf ("integer %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT,
                            G_PARAM_SPEC_UINT64 (pspec)->minimum, G_PARAM_SPEC_UINT64 (pspec)->maximum);
  if (G_TYPE_IS_ENUM (type))
    {
      GEnumClass *klass = g_type_class_ref (type);
      GString *text = g_string_new ("one of ");

      for (guint i = 0; i < klass->n_values; i++)
        g_string_append_printf (text, "%s%s", i > 0 ? "|" : "", klass->values[i].value_nick);
      g_type_class_unref (klass);
      return g_string_free (text, FALSE);
    }
  return g_strdup (g_type_name (type));
}

/* The default of an option as JSON (null: none). */
static JsonNode *
option_default_json (GParamSpec *pspec)
{
  const GValue *value = g_param_spec_get_default_value (pspec);
  GType type = G_PARAM_SPEC_VALUE_TYPE (pspec);
  JsonNode *node = json_node_alloc ();

  if (type == G_TYPE_BOOLEAN)
    return json_node_init_boolean (node, g_value_get_boolean (value));
  if (type == G_TYPE_DOUBLE)
    return json_node_init_double (node, g_value_get_double (value));
  if (type == G_TYPE_INT)
    return json_node_init_int (node, g_value_get_int (value));
  if (type == G_TYPE_UINT)
    return json_node_init_int (node, g_value_get_uint (value));
  if (type == G_TYPE_INT64)
    return json_node_init_int (node, g_value_get_int64 (value));
  if (type == G_TYPE_UINT64)
    return json_node_init_int (node, (gint64) MIN (g_value_get_uint64 (value), (guint64) G_MAXINT64));
  if (type == G_TYPE_STRING)
    return g_value_get_string (value) != NULL ? json_node_init_string (node, g_value_get_string (value))
                                              : json_node_init_null (node);
  if (G_TYPE_IS_ENUM (type))
    {
      GEnumClass *klass = g_type_class_ref (type);
      GEnumValue *ev = g_enum_get_value (klass, g_value_get_enum (value));

      json_node_init_string (node, ev != NULL ? ev->value_nick : "");
      g_type_class_unref (klass);
      return node;
    }
  if (type == G_TYPE_STRV)
    {
      const char * const *items = g_value_get_boxed (value);
      JsonArray *array = json_array_new ();

      for (guint i = 0; items != NULL && items[i] != NULL; i++)
        json_array_add_string_element (array, items[i]);
      json_node_init_array (node, array);
      json_array_unref (array);
      return node;
    }
  return json_node_init_null (node);
}

static char *
option_default_text (GParamSpec *pspec)
{
  g_autoptr(JsonNode) node = option_default_json (pspec);

  if (JSON_NODE_HOLDS_NULL (node))
    return g_strdup ("(none)");
  if (json_is_value_of (node, G_TYPE_STRING))
    return g_strdup (json_node_get_string (node));
  return json_to_string (node, FALSE);
}

static int
compare_pspecs (gconstpointer a,
                gconstpointer b)
{
  return strcmp ((*(GParamSpec * const *) a)->name, (*(GParamSpec * const *) b)->name);
}

/* The options of @method, sorted by name. */
static GPtrArray *
method_options (const char  *method,
                GError     **error)
{
  g_autoptr(MitogenTransport) transport = mitogen_transport_new_for_method (method, NULL, error);
  g_autofree GParamSpec **specs = NULL;
  GPtrArray *result;
  guint n = 0;

  if (transport == NULL)
    return NULL;
  specs = g_object_class_list_properties (G_OBJECT_GET_CLASS (transport), &n);
  result = g_ptr_array_new ();
  for (guint i = 0; i < n; i++)
    if ((specs[i]->flags & G_PARAM_WRITABLE) && !(specs[i]->flags & G_PARAM_CONSTRUCT_ONLY))
      g_ptr_array_add (result, specs[i]);
  g_ptr_array_sort (result, compare_pspecs);
  return result;
}

static int
cmd_methods (char **args)
{
  gboolean describe = FALSE, as_json = FALSE;
  const GOptionEntry entries[] = {
    { "describe", 0, 0, G_OPTION_ARG_NONE, &describe, "Describe each method's options", NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print JSON", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) options = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  g_auto(GStrv) methods = NULL;
  int status;

  options = new_option_context ("mitogen methods", NULL,
                                "List the installed connection methods (transport plugins). With\n"
                                "--describe, list each method's options: name, type, default and\n"
                                "description; give them in a CHAIN as METHOD?OPTION=VALUE.",
                                entries, FALSE);
  status = parse_options (options, &args);
  if (status != TOOL_EXIT_OK)
    return status;
  if (g_strv_length (args) > 1)
    return fail (TOOL_EXIT_USAGE, "methods: unexpected argument '%s'", args[1]);

  methods = mitogen_transport_list_methods ();
  if (as_json)
    {
      builder = json_builder_new ();
      json_builder_begin_array (builder);
    }

  for (guint m = 0; methods[m] != NULL; m++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) specs = NULL;
      int name_width = (int) strlen ("OPTION"), type_width = (int) strlen ("TYPE");
      int default_width = (int) strlen ("DEFAULT");

      if (!describe)
        {
          if (as_json)
            json_builder_add_string_value (builder, methods[m]);
          else
            printf ("%s\n", methods[m]);
          continue;
        }

      specs = method_options (methods[m], &error);
      if (specs == NULL)
        return fail (TOOL_EXIT_CONNECT, "%s", error->message);

      if (as_json)
        {
          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "name");
          json_builder_add_string_value (builder, methods[m]);
          json_builder_set_member_name (builder, "options");
          json_builder_begin_array (builder);
          for (guint i = 0; i < specs->len; i++)
            {
              GParamSpec *pspec = g_ptr_array_index (specs, i);
              g_autofree char *name = g_strdelimit (g_strdup (pspec->name), "-", '_');
              g_autofree char *type = option_type_text (pspec);
              const char *blurb = g_param_spec_get_blurb (pspec);

              json_builder_begin_object (builder);
              json_builder_set_member_name (builder, "name");
              json_builder_add_string_value (builder, name);
              json_builder_set_member_name (builder, "type");
              json_builder_add_string_value (builder, type);
              json_builder_set_member_name (builder, "gtype");
              json_builder_add_string_value (builder, g_type_name (G_PARAM_SPEC_VALUE_TYPE (pspec)));
              json_builder_set_member_name (builder, "default");
              json_builder_add_value (builder, option_default_json (pspec));
              json_builder_set_member_name (builder, "description");
              json_builder_add_string_value (builder, blurb != NULL ? blurb : "");
              json_builder_end_object (builder);
            }
          json_builder_end_array (builder);
          json_builder_end_object (builder);
          continue;
        }

      for (guint i = 0; i < specs->len; i++)
        {
          GParamSpec *pspec = g_ptr_array_index (specs, i);
          g_autofree char *type = option_type_text (pspec);
          g_autofree char *def = option_default_text (pspec);

          name_width = MAX (name_width, (int) strlen (pspec->name));
          type_width = MAX (type_width, (int) strlen (type));
          default_width = MAX (default_width, (int) strlen (def));
        }

      printf ("%s%s\n", m > 0 ? "\n" : "", methods[m]);
      printf ("  %-*s  %-*s  %-*s  %s\n", name_width, "OPTION", type_width, "TYPE",
              default_width, "DEFAULT", "DESCRIPTION");
      for (guint i = 0; i < specs->len; i++)
        {
          GParamSpec *pspec = g_ptr_array_index (specs, i);
          g_autofree char *name = g_strdelimit (g_strdup (pspec->name), "-", '_');
          g_autofree char *type = option_type_text (pspec);
          g_autofree char *def = option_default_text (pspec);
          const char *blurb = g_param_spec_get_blurb (pspec);

          printf ("  %-*s  %-*s  %-*s  %s\n", name_width, name, type_width, type,
                  default_width, def, blurb != NULL ? blurb : "");
        }
    }

  if (as_json)
    {
      g_autoptr(JsonNode) root = NULL;

      json_builder_end_array (builder);
      root = json_builder_get_root (builder);
      print_json (root);
    }
  return TOOL_EXIT_OK;
}

/* ---------------------------------------------------------------------- */

typedef int (*CommandFunc) (char **args);

static const struct
{
  const char  *name;
  CommandFunc  func;
} commands[] = {
  { "call", cmd_call },
  { "functions", cmd_functions },
  { "methods", cmd_methods },
};

static void
print_usage (void)
{
  printf ("%s%s\n%s", usage_text, chain_text, exit_status_text);
}

int
main (int    argc,
      char **argv)
{
  g_auto(GStrv) args = NULL;
  const char *command;
  int i = 1;

  setlocale (LC_ALL, "");
  /* Logs (debug ones included) go to stderr: stdout carries results. */
  g_log_writer_default_set_use_stderr (TRUE);

  for (; i < argc && argv[i][0] == '-'; i++)
    {
      if (g_str_equal (argv[i], "-v") || g_str_equal (argv[i], "--debug"))
        opt_debug = TRUE;
      else if (g_str_equal (argv[i], "-h") || g_str_equal (argv[i], "--help"))
        {
          print_usage ();
          return TOOL_EXIT_OK;
        }
      else if (g_str_equal (argv[i], "--version"))
        {
          printf ("mitogen %s\n", PACKAGE_VERSION);
          return TOOL_EXIT_OK;
        }
      else
        return fail (TOOL_EXIT_USAGE, "Unknown option '%s' (try 'mitogen --help')", argv[i]);
    }
  if (opt_debug)
    g_log_set_debug_enabled (TRUE);

  if (i >= argc)
    return fail (TOOL_EXIT_USAGE, "No command given (try 'mitogen --help')");
  command = argv[i];

  if (g_str_equal (command, "help"))
    {
      if (i + 1 >= argc)
        {
          print_usage ();
          return TOOL_EXIT_OK;
        }
      /* `mitogen help COMMAND` is `mitogen COMMAND --help`. */
      command = argv[i + 1];
      args = g_new0 (char *, 3);
      args[0] = g_strdup (command);
      args[1] = g_strdup ("--help");
    }
  else
    args = g_strdupv (argv + i);

  for (gsize c = 0; c < G_N_ELEMENTS (commands); c++)
    if (g_str_equal (command, commands[c].name))
      return commands[c].func (args);

  return fail (TOOL_EXIT_USAGE, "Unknown command '%s' (commands: call, functions, methods; try 'mitogen --help')",
               command);
}
