/* fuzz-json.c — the `mitogen` tool's JSON (tools/mitogen-json.c)
 *
 * Input: a first line, then the rest.
 *   - First line a GVariant type string (`(sx)`, `r`, `(a{sv}ay)` ...):
 *     a function "fuzz.function" is registered with it as its argument
 *     type, and the rest is JSON-ARGS for `mitogen call fuzz.function`:
 *     parsed with json_parser_load_from_data () as the tool does, then
 *     converted with tool_build_arguments (). Any other first line: the
 *     function is unregistered (types inferred from the JSON).
 *   - An empty first line: the rest is a result as a remote context
 *     sends it (a "v" payload, mitogen_frame_decode_payload ()), printed
 *     as the tool prints results (tool_variant_to_json (), tool_json_line ()).
 *
 * Checks: arguments built are a tuple, of the registered type when it is
 * definite; every value prints as JSON that parses back.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fuzz-common.h"
#include "mitogen-frame-private.h"
#include "mitogen-tool.h"

static GVariant *
fuzz_function (MitogenCall *call,
               GVariant    *args,
               GError     **error)
{
  return g_variant_new ("()");
}

void
fuzz_json_init (void)
{
}

/* @value as the tool prints it; the JSON must parse back. */
static void
print_value (GVariant *value)
{
  g_autoptr(JsonNode) node = tool_variant_to_json (value);
  g_autofree char *line = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();

  FUZZ_CHECK (node != NULL);
  line = tool_json_line (node);
  FUZZ_CHECK (line != NULL);
  if (!json_parser_load_from_data (parser, line, -1, NULL))
    {
      fprintf (stderr, "printed JSON that does not parse: %s\n", line);
      FUZZ_CHECK (FALSE);
    }
}

int
fuzz_json_one (const guint8 *data,
               gsize         size)
{
  const guint8 *newline = memchr (data, '\n', size);
  g_autofree char *type = NULL;
  g_autofree char *json = NULL;
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GVariant) arguments = NULL;
  g_autoptr(GError) error = NULL;
  const char *function = "fuzz.unregistered";
  gboolean loaded;
  gsize rest;

  if (newline == NULL)
    return 0;
  type = fuzz_strndup (data, (gsize) (newline - data));
  rest = size - (gsize) (newline - data) - 1;

  if (type[0] == '\0')
    {
      g_autoptr(GBytes) payload = g_bytes_new (newline + 1, rest);
      g_autoptr(GVariant) value = mitogen_frame_decode_payload (payload, NULL);

      if (value != NULL)
        print_value (value);
      return 0;
    }

  if (g_variant_type_string_is_valid (type))
    {
      function = "fuzz.function";
      mitogen_register_function (function, type, "()", "fuzz", fuzz_function, NULL);
    }

  json = fuzz_strndup (newline + 1, rest);
  parser = json_parser_new ();
  /* json-glib 1.6.6 leaks nodes on some syntax errors ("1[]"): not ours. */
  fuzz_ignore_leaks (TRUE);
  loaded = json_parser_load_from_data (parser, json, -1, NULL);
  fuzz_ignore_leaks (FALSE);
  if (!loaded || json_parser_get_root (parser) == NULL)
    return 0;
  arguments = tool_build_arguments (function, json_parser_get_root (parser), &error);
  if (arguments == NULL)
    {
      FUZZ_CHECK (error != NULL);
      return 0;
    }
  FUZZ_CHECK (g_variant_is_of_type (arguments, G_VARIANT_TYPE_TUPLE));
  if (strcmp (function, "fuzz.function") == 0 && g_variant_type_string_is_valid (type) &&
      g_variant_type_is_definite (G_VARIANT_TYPE (type)))
    FUZZ_CHECK (g_variant_is_of_type (arguments, G_VARIANT_TYPE (type)));
  print_value (arguments);
  return 0;
}

FUZZ_TARGET (json)
