/* mitogen-list.c — `mitogen functions` and `mitogen methods`
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-tool"

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "mitogen-tool.h"

int
tool_cmd_functions (char **args)
{
  gboolean as_json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print a JSON array of objects", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) options = NULL;
  g_auto(GStrv) names = NULL;
  int status;

  options = tool_option_context_new ("mitogen functions", NULL,
                                "List the functions every context serves: name, argument type\n"
                                "(a GVariant tuple type; r is any tuple), return type, description.",
                                entries, NULL, FALSE);
  status = tool_parse_options (options, &args);
  if (status != TOOL_EXIT_OK)
    return status;
  if (g_strv_length (args) > 1)
    return tool_fail (TOOL_EXIT_USAGE, "functions: unexpected argument '%s'", args[1]);

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
      tool_print_json (root);
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
  if (tool_json_is_value_of (node, G_TYPE_STRING))
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
                char       **short_option,
                GError     **error)
{
  g_autoptr(MitogenTransport) transport = mitogen_transport_new_for_method (method, NULL, error);
  g_autofree GParamSpec **specs = NULL;
  GPtrArray *result;
  guint n = 0;

  if (transport == NULL)
    return NULL;
  *short_option = g_strdup (mitogen_transport_get_short_option (transport));
  if (*short_option != NULL)
    g_strdelimit (*short_option, "-", '_');
  specs = g_object_class_list_properties (G_OBJECT_GET_CLASS (transport), &n);
  result = g_ptr_array_new ();
  for (guint i = 0; i < n; i++)
    if ((specs[i]->flags & G_PARAM_WRITABLE) && !(specs[i]->flags & G_PARAM_CONSTRUCT_ONLY))
      g_ptr_array_add (result, specs[i]);
  g_ptr_array_sort (result, compare_pspecs);
  return result;
}

int
tool_cmd_methods (char **args)
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

  options = tool_option_context_new ("mitogen methods", NULL,
                                "List the installed connection methods (transport plugins). With\n"
                                "--describe, list each method's options: name, type, default and\n"
                                "description; give them in a CHAIN as METHOD?OPTION=VALUE.",
                                entries, NULL, FALSE);
  status = tool_parse_options (options, &args);
  if (status != TOOL_EXIT_OK)
    return status;
  if (g_strv_length (args) > 1)
    return tool_fail (TOOL_EXIT_USAGE, "methods: unexpected argument '%s'", args[1]);

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
      g_autofree char *short_option = NULL;
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

      specs = method_options (methods[m], &short_option, &error);
      if (specs == NULL)
        return tool_fail (TOOL_EXIT_CONNECT, "%s", error->message);

      if (as_json)
        {
          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "name");
          json_builder_add_string_value (builder, methods[m]);
          json_builder_set_member_name (builder, "short_option");
          if (short_option != NULL)
            json_builder_add_string_value (builder, short_option);
          else
            json_builder_add_null_value (builder);
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

      if (short_option != NULL)
        printf ("%s%s  (%s:VALUE sets %s)\n", m > 0 ? "\n" : "", methods[m], methods[m], short_option);
      else
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
      tool_print_json (root);
    }
  return TOOL_EXIT_OK;
}

