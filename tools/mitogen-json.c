/* mitogen-json.c — JSON arguments in, JSON results out
 *
 * Arguments are a JSON array converted to the function's registered
 * argument type (the registry is the same in every context); for
 * functions taking any tuple (`r`) the GVariant types are inferred from
 * the JSON. Results are printed as JSON: bytes as a string when they are
 * valid UTF-8, otherwise {"base64": "..."}; numbers as the shortest text
 * that reads back as the same value (see "Printing JSON").
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-tool"

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mitogen-tool.h"

/* ---------------------------------------------------------------------- */
/* JSON -> GVariant */

const char *
tool_json_kind (JsonNode *node)
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

gboolean
tool_json_is_value_of (JsonNode *node,
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
  if (!tool_json_is_value_of (member, G_TYPE_STRING))
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
  if (tool_json_is_value_of (node, G_TYPE_INT64))
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

  if (tool_json_is_value_of (node, G_TYPE_STRING))
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

  set_arg_error (error, path, "expected an integer (type %c), got %s", it->letter, tool_json_kind (node));
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
      if (tool_json_is_value_of (node, G_TYPE_BOOLEAN))
        return json_node_copy (node);
      if (tool_json_is_value_of (node, G_TYPE_STRING) &&
          (g_str_equal (json_node_get_string (node), "true") ||
           g_str_equal (json_node_get_string (node), "false")))
        return json_node_copy (node);
      set_arg_error (error, path, "expected a boolean (type b), got %s", tool_json_kind (node));
      return NULL;
    }

  if (letter == 'd')
    {
      if (tool_json_is_value_of (node, G_TYPE_DOUBLE) || tool_json_is_value_of (node, G_TYPE_INT64))
        return json_node_copy (node);
      if (tool_json_is_value_of (node, G_TYPE_STRING))
        {
          const char *text = json_node_get_string (node);
          char *end = NULL;
          double value = g_ascii_strtod (text, &end);

          if (text[0] != '\0' && end != NULL && *end == '\0')
            return json_node_init_double (json_node_alloc (), value);
        }
      set_arg_error (error, path, "expected a number (type d), got %s", tool_json_kind (node));
      return NULL;
    }

  if (letter == 's' || letter == 'o' || letter == 'g')
    {
      const char *text;

      if (!tool_json_is_value_of (node, G_TYPE_STRING))
        {
          set_arg_error (error, path, "expected a string (type %c), got %s", letter, tool_json_kind (node));
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

      if (tool_json_is_value_of (node, G_TYPE_STRING))
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
                         "or an array of integers), got %s", tool_json_kind (node));
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
          set_arg_error (error, path, "expected an object (type %s), got %s", type_string, tool_json_kind (node));
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
          set_arg_error (error, path, "expected an array (type %s), got %s", type_string, tool_json_kind (node));
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
                         type_string, tool_json_kind (node));
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
  return tool_json_is_value_of (member, G_TYPE_STRING) ? json_node_get_string (member) : NULL;
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
          set_arg_error (error, path, "expected a basic value (type ?), got %s", tool_json_kind (node));
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
              set_arg_error (error, path, "expected an object (type %s), got %s", type_string, tool_json_kind (node));
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
              set_arg_error (error, path, "expected an array (type %s), got %s", type_string, tool_json_kind (node));
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

/* json-glib's scanner takes escapes JSON does not have ("\\615" is an
 * octal byte) and so can give strings and member names that are not
 * UTF-8, which no GVariant string may hold: refuse them, naming where. */
static gboolean
check_utf8 (JsonNode    *node,
            const char  *path,
            GError     **error)
{
  if (tool_json_is_value_of (node, G_TYPE_STRING))
    {
      if (!g_utf8_validate (json_node_get_string (node), -1, NULL))
        {
          set_arg_error (error, path, "string is not valid UTF-8 (give bytes as {\"base64\": \"...\"})");
          return FALSE;
        }
      return TRUE;
    }
  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);
      guint length = json_array_get_length (array);

      for (guint i = 0; i < length; i++)
        {
          g_autofree char *child = g_strdup_printf ("%s[%u]", path, i);

          if (!check_utf8 (json_array_get_element (array, i), child, error))
            return FALSE;
        }
      return TRUE;
    }
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *object = json_node_get_object (node);
      g_autoptr(GList) members = json_object_get_members (object);

      for (GList *l = members; l != NULL; l = l->next)
        {
          g_autofree char *child = NULL;

          if (!g_utf8_validate (l->data, -1, NULL))
            {
              set_arg_error (error, path, "member name is not valid UTF-8");
              return FALSE;
            }
          child = g_strdup_printf ("%s.%s", path, (const char *) l->data);
          if (!check_utf8 (json_object_get_member (object, l->data), child, error))
            return FALSE;
        }
    }
  return TRUE;
}

/* The argument tuple for @function from the JSON array @root (%NULL: no
 * arguments). A function unknown here gets types inferred from the JSON
 * and is left for the context to reject. */
GVariant *
tool_build_arguments (const char  *function,
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
                   "JSON-ARGS must be a JSON array of the arguments, got %s", tool_json_kind (root));
      return NULL;
    }

  if (!check_utf8 (root, "arguments", error))
    {
      g_prefix_error (error, "%s: ", function);
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
JsonNode *
tool_bytes_to_json (const guint8 *data,
                    gsize         len)
{
  JsonNode *node = json_node_alloc ();

  if (len == 0)
    return json_node_init_string (node, "");
  if (g_utf8_validate_len ((const char *) data, len, NULL))
    {
      g_autofree char *text = g_strndup ((const char *) data, len);
      return json_node_init_string (node, text);
    }
  {
    g_autofree char *encoded = g_base64_encode (data, len);
    JsonObject *object = json_object_new ();

    json_object_set_string_member (object, "base64", encoded);
    json_node_init_object (node, object);
    json_object_unref (object);
    return node;
  }
}

static JsonNode *
bytes_to_json (GVariant *value)
{
  gsize len = 0;
  const guint8 *data = g_variant_get_fixed_array (value, &len, 1);

  return tool_bytes_to_json (data, len);
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

/* A number, or {"gvariant": TEXT} (as JSON-ARGS takes it) for what JSON
 * cannot write (inf, nan) and what JSON-GLib 1.6 writes wrongly: an
 * exponent without a fraction gets ".0" appended ("1e+17.0"). */
static JsonNode *
double_to_json (double number)
{
  char text[G_ASCII_DTOSTR_BUF_SIZE];
  JsonObject *object;
  JsonNode *node;

  g_ascii_dtostr (text, sizeof text, number);
  if (isfinite (number) && (strchr (text, 'e') == NULL || strchr (text, '.') != NULL))
    return json_node_init_double (json_node_alloc (), number);

  object = json_object_new ();
  node = json_node_init_object (json_node_alloc (), object);
  json_object_set_string_member (object, "gvariant", isnan (number) ? "nan" : text);
  json_object_unref (object);
  return node;
}

/* Like json_gvariant_serialize(), which it uses for the basic values, but
 * bytes (`ay`) become strings or {"base64": ...}, a uint64 too large
 * for a JSON integer becomes a number, and doubles go through
 * double_to_json (). */
JsonNode *
tool_variant_to_json (GVariant *value)
{
  GVariantClass klass = g_variant_classify (value);

  if (klass == G_VARIANT_CLASS_VARIANT)
    {
      g_autoptr(GVariant) inner = g_variant_get_variant (value);
      return tool_variant_to_json (inner);
    }

  if (klass == G_VARIANT_CLASS_MAYBE)
    {
      g_autoptr(GVariant) inner = g_variant_get_maybe (value);
      return inner != NULL ? tool_variant_to_json (inner) : json_node_init_null (json_node_alloc ());
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

          json_object_set_member (object, name, tool_variant_to_json (child));
        }
      else
        {
          g_variant_iter_init (&iter, value);
          while ((entry = g_variant_iter_next_value (&iter)) != NULL)
            {
              g_autoptr(GVariant) key = g_variant_get_child_value (entry, 0);
              g_autoptr(GVariant) child = g_variant_get_child_value (entry, 1);
              g_autofree char *name = dict_key_string (key);

              json_object_set_member (object, name, tool_variant_to_json (child));
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
          json_array_add_element (array, tool_variant_to_json (child));
          g_variant_unref (child);
        }
      json_node_init_array (node, array);
      json_array_unref (array);
      return node;
    }

  if (klass == G_VARIANT_CLASS_UINT64 && g_variant_get_uint64 (value) > G_MAXINT64)
    return double_to_json ((double) g_variant_get_uint64 (value));

  if (klass == G_VARIANT_CLASS_DOUBLE)
    return double_to_json (g_variant_get_double (value));

  return json_gvariant_serialize (value);
}

/* ---------------------------------------------------------------------- */
/* Printing JSON
 *
 * Our own writer rather than JsonGenerator, for numbers: json-glib prints
 * a double with 17 significant digits, so a duration rounded to
 * milliseconds came out as "seconds":0.13300000000000001 and a 0.1 from a
 * function as 0.10000000000000001. Here a double is the shortest decimal
 * that reads back as the same double: "seconds" (rounded to milliseconds
 * by the commands) prints with at most three decimals, 0.1 as 0.1. The
 * layout is json-glib's. */

static void append_node (GString *out, JsonNode *node, gboolean pretty, guint level);

static void
append_indent (GString *out,
               guint    level)
{
  for (guint i = 0; i < level; i++)
    g_string_append (out, "  ");
}

/* The shortest of %.15g, %.16g, %.17g that reads back as @value (%.17g
 * always does), with ".0" on an integral value so that it still reads as
 * a number with a fraction. JSON has no infinity or NaN: null. */
static void
append_double (GString *out,
               double   value)
{
  static const char *const formats[] = { "%.15g", "%.16g", "%.17g" };
  char text[G_ASCII_DTOSTR_BUF_SIZE];

  if (!isfinite (value))
    {
      g_string_append (out, "null");
      return;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_ascii_formatd (text, sizeof text, formats[i], value);
      if (g_ascii_strtod (text, NULL) == value)
        break;
    }
  g_string_append (out, text);
  if (strpbrk (text, ".e") == NULL)
    g_string_append (out, ".0");
}

static void
append_string (GString    *out,
               const char *text)
{
  g_string_append_c (out, '"');
  for (const guchar *p = (const guchar *) text; *p != '\0'; p++)
    {
      switch (*p)
        {
        case '"':
          g_string_append (out, "\\\"");
          break;
        case '\\':
          g_string_append (out, "\\\\");
          break;
        case '\b':
          g_string_append (out, "\\b");
          break;
        case '\f':
          g_string_append (out, "\\f");
          break;
        case '\n':
          g_string_append (out, "\\n");
          break;
        case '\r':
          g_string_append (out, "\\r");
          break;
        case '\t':
          g_string_append (out, "\\t");
          break;
        default:
          if (*p < 0x20 || *p == 0x7f)
            g_string_append_printf (out, "\\u%04x", *p);
          else
            g_string_append_c (out, (char) *p);
          break;
        }
    }
  g_string_append_c (out, '"');
}

static void
append_value (GString  *out,
              JsonNode *node)
{
  GType type = json_node_get_value_type (node);

  if (type == G_TYPE_INT64)
    g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
  else if (type == G_TYPE_DOUBLE)
    append_double (out, json_node_get_double (node));
  else if (type == G_TYPE_BOOLEAN)
    g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
  else if (type == G_TYPE_STRING)
    append_string (out, json_node_get_string (node));
  else
    {
      /* No other kind of value is made here; json-glib knows its own. */
      g_autofree char *text = json_to_string (node, FALSE);
      g_string_append (out, text);
    }
}

static void
append_node (GString  *out,
             JsonNode *node,
             gboolean  pretty,
             guint     level)
{
  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_OBJECT:
      {
        JsonObject *object = json_node_get_object (node);
        g_autoptr(GList) members = json_object_get_members (object);

        if (members == NULL)
          {
            g_string_append (out, "{}");
            break;
          }
        g_string_append_c (out, '{');
        for (GList *l = members; l != NULL; l = l->next)
          {
            if (pretty)
              {
                g_string_append_c (out, '\n');
                append_indent (out, level + 1);
              }
            append_string (out, l->data);
            g_string_append (out, pretty ? " : " : ":");
            append_node (out, json_object_get_member (object, l->data), pretty, level + 1);
            if (l->next != NULL)
              g_string_append_c (out, ',');
          }
        if (pretty)
          {
            g_string_append_c (out, '\n');
            append_indent (out, level);
          }
        g_string_append_c (out, '}');
        break;
      }

    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);
        guint length = json_array_get_length (array);

        if (length == 0)
          {
            g_string_append (out, "[]");
            break;
          }
        g_string_append_c (out, '[');
        for (guint i = 0; i < length; i++)
          {
            if (pretty)
              {
                g_string_append_c (out, '\n');
                append_indent (out, level + 1);
              }
            append_node (out, json_array_get_element (array, i), pretty, level + 1);
            if (i + 1 < length)
              g_string_append_c (out, ',');
          }
        if (pretty)
          {
            g_string_append_c (out, '\n');
            append_indent (out, level);
          }
        g_string_append_c (out, ']');
        break;
      }

    case JSON_NODE_VALUE:
      append_value (out, node);
      break;

    case JSON_NODE_NULL:
    default:
      g_string_append (out, "null");
      break;
    }
}

/* @node as JSON text: pretty-printed (two-space indent) or one line. */
static char *
json_text (JsonNode *node,
           gboolean  pretty)
{
  GString *out = g_string_new (NULL);

  append_node (out, node, pretty, 0);
  return g_string_free (out, FALSE);
}

/* Pretty-printed, on stdout. */
void
tool_print_json (JsonNode *node)
{
  g_autofree char *text = json_text (node, TRUE);

  printf ("%s\n", text);
}

/* One line of compact JSON (no newline). */
char *
tool_json_line (JsonNode *node)
{
  return json_text (node, FALSE);
}
