/* mitogen-chain.c — CHAIN syntax, target lists and connecting
 *
 * CHAIN is METHOD[:MAIN][?OPTION=VALUE&...], hops separated by '/', each
 * started through the one before it (via). See tool_chain_text.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-tool"

#include "config.h"

#include <string.h>

#include "mitogen-tool.h"

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

/* Whether the query of a hop names the password option. Checked before
 * anything else, so no error message ever repeats the password. */
static gboolean
names_password (const char *hop)
{
  const char *query = strchr (hop, '?');
  g_auto(GStrv) pairs = NULL;

  if (query == NULL)
    return FALSE;
  pairs = g_strsplit (query + 1, "&", -1);
  for (guint i = 0; pairs[i] != NULL; i++)
    {
      g_autofree char *raw = g_strndup (pairs[i], strcspn (pairs[i], "="));
      g_autofree char *name = g_uri_unescape_string (raw, NULL);

      if (name == NULL)
        name = g_strdup (raw);
      g_strdelimit (name, "-", '_');
      if (g_ascii_strcasecmp (name, "password") == 0)
        return TRUE;
    }
  return FALSE;
}

/* Splits CHAIN into hops; only syntax is checked here. */
static GPtrArray *
parse_hops (const char  *chain,
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
    if (names_password (parts[i]))
      {
        g_autofree char *method = g_strndup (parts[i], strcspn (parts[i], ":?"));

        g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE,
                     "A password is not accepted in a CHAIN (hop %u, method '%s'): it would show in "
                     "process lists and shell history; use --ask-pass, --password-file FILE or "
                     "MITOGEN_PASSWORD_FILE", i + 1, method);
        return NULL;
      }

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
takes_password (MitogenTransport *transport)
{
  GParamSpec *pspec = find_option (transport, "password");

  return pspec != NULL && G_PARAM_SPEC_VALUE_TYPE (pspec) == G_TYPE_STRING;
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
hop_options (Hop         *hop,
             gboolean     debug,
             const char  *password,
             GError     **error)
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
  if (password != NULL && takes_password (transport))
    g_variant_builder_add (&builder, "{sv}", "password", g_variant_new_string (password));

  return g_variant_ref_sink (g_variant_builder_end (&builder));
}


/* ---------------------------------------------------------------------- */
/* Targets */

void
tool_target_free (gpointer data)
{
  ToolTarget *target = data;

  g_free (target->chain);
  g_free (target->name);
  g_clear_pointer (&target->hops, g_ptr_array_unref);
  g_clear_pointer (&target->options, g_ptr_array_unref);
  g_free (target);
}

ToolTarget *
tool_target_parse (const char  *chain,
                   GError     **error)
{
  g_autoptr(GPtrArray) hops = parse_hops (chain, error);
  ToolTarget *target;

  if (hops == NULL)
    return NULL;
  target = g_new0 (ToolTarget, 1);
  target->chain = g_strdup (chain);
  target->name = g_strdup (chain);
  target->hops = g_steal_pointer (&hops);
  return target;
}

static gboolean
add_chain (GPtrArray   *targets,
           const char  *chain,
           GError     **error)
{
  ToolTarget *target = tool_target_parse (chain, error);

  if (target == NULL)
    return FALSE;
  g_ptr_array_add (targets, target);
  return TRUE;
}

GPtrArray *
tool_targets_parse (char   **chains,
                    GError **error)
{
  g_autoptr(GPtrArray) targets = g_ptr_array_new_with_free_func (tool_target_free);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; chains != NULL && chains[i] != NULL; i++)
    {
      if (chains[i][0] == '@')
        {
          g_autofree char *text = NULL;
          g_autoptr(GError) local_error = NULL;
          g_auto(GStrv) lines = NULL;
          guint before = targets->len;

          if (!g_file_get_contents (chains[i] + 1, &text, NULL, &local_error))
            {
              g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE, "-t %s: %s", chains[i], local_error->message);
              return NULL;
            }
          lines = g_strsplit (text, "\n", -1);
          for (guint j = 0; lines[j] != NULL; j++)
            {
              char *line = g_strstrip (lines[j]);

              if (line[0] == '\0' || line[0] == '#')
                continue;
              if (!add_chain (targets, line, error))
                {
                  g_prefix_error (error, "%s line %u: ", chains[i] + 1, j + 1);
                  return NULL;
                }
            }
          if (targets->len == before)
            {
              g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE, "-t %s: no CHAIN in the file", chains[i]);
              return NULL;
            }
        }
      else if (!add_chain (targets, chains[i], error))
        return NULL;
    }

  /* Unique names: a repeated chain is "CHAIN#2", "CHAIN#3", ... */
  for (guint i = 0; i < targets->len; i++)
    {
      ToolTarget *target = g_ptr_array_index (targets, i);

      for (guint n = 2; g_hash_table_contains (seen, target->name); n++)
        {
          g_free (target->name);
          target->name = g_strdup_printf ("%s#%u", target->chain, n);
        }
      g_hash_table_add (seen, target->name);
    }
  return g_steal_pointer (&targets);
}

gboolean
tool_target_takes_password (ToolTarget *target)
{
  for (guint i = 0; i < target->hops->len; i++)
    {
      Hop *hop = g_ptr_array_index (target->hops, i);
      g_autoptr(MitogenTransport) transport = mitogen_transport_new_for_method (hop->method, NULL, NULL);

      if (transport != NULL && takes_password (transport))
        return TRUE;
    }
  return FALSE;
}

gboolean
tool_target_resolve (ToolTarget  *target,
                     const char  *password,
                     GError     **error)
{
  g_autoptr(GPtrArray) options = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);

  for (guint i = 0; i < target->hops->len; i++)
    {
      Hop *hop = g_ptr_array_index (target->hops, i);
      GVariant *hop_opts = hop_options (hop, tool_opt_debug, password, error);

      if (hop_opts == NULL)
        {
          if (target->hops->len > 1)
            g_prefix_error (error, "hop %u (%s): ", i + 1, hop->text);
          return FALSE;
        }
      g_ptr_array_add (options, hop_opts);
    }
  g_clear_pointer (&target->options, g_ptr_array_unref);
  target->options = g_steal_pointer (&options);
  return TRUE;
}

MitogenContext *
tool_target_connect (ToolTarget     *target,
                     MitogenRouter  *router,
                     GCancellable   *cancellable,
                     GError        **error)
{
  g_autoptr(MitogenContext) context = NULL;

  g_return_val_if_fail (target->options != NULL, NULL);

  for (guint i = 0; i < target->hops->len; i++)
    {
      Hop *hop = g_ptr_array_index (target->hops, i);
      MitogenContext *next;

      g_debug ("%s: connecting hop %u: %s", target->name, i + 1, hop->text);
      next = mitogen_router_connect (router, hop->method, g_ptr_array_index (target->options, i),
                                     context, cancellable, error);
      if (next == NULL)
        {
          if (target->hops->len > 1)
            g_prefix_error (error, "hop %u (%s): ", i + 1, hop->text);
          return NULL;
        }
      g_clear_object (&context);
      context = next;
    }
  return g_steal_pointer (&context);
}

int
tool_prepare_targets (ToolCommon  *common,
                      gboolean     allow_many,
                      GPtrArray  **targets_out)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) targets = NULL;
  g_autofree char *password = NULL;

  if (!(common->timeout >= 0))
    return tool_fail (TOOL_EXIT_USAGE, "%s: --timeout must not be negative", g_get_prgname () + strlen ("mitogen "));
  if (common->targets == NULL || common->targets[0] == NULL)
    return tool_fail (TOOL_EXIT_USAGE, "%s: -t CHAIN is required (try '%s --help')",
                      g_get_prgname () + strlen ("mitogen "), g_get_prgname ());
  targets = tool_targets_parse (common->targets, &error);
  if (targets == NULL)
    return tool_fail_error (TOOL_EXIT_USAGE, error);
  if (!allow_many && targets->len > 1)
    return tool_fail (TOOL_EXIT_USAGE, "%s takes one target (-t), got %u", g_get_prgname (), targets->len);

  if (tool_password_wanted (common))
    {
      gboolean any = FALSE;

      for (guint i = 0; i < targets->len && !any; i++)
        any = tool_target_takes_password (g_ptr_array_index (targets, i));
      if (!any && (common->ask_pass || common->password_file != NULL))
        return tool_fail (TOOL_EXIT_USAGE, "A password was given but no hop of the CHAIN takes one "
                          "(methods with a password option: see 'mitogen methods --describe')");
      if (any)
        {
          password = tool_read_password (common, &error);
          if (password == NULL)
            return tool_fail_error (TOOL_EXIT_USAGE, error);
        }
    }

  for (guint i = 0; i < targets->len; i++)
    {
      ToolTarget *target = g_ptr_array_index (targets, i);

      if (!tool_target_resolve (target, password, &error))
        {
          if (password != NULL)
            memset (password, 0, strlen (password));
          if (targets->len > 1)
            return tool_fail (TOOL_EXIT_CONNECT, "%s: %s", target->name, error->message);
          return tool_fail_error (TOOL_EXIT_CONNECT, error);
        }
    }
  if (password != NULL)
    memset (password, 0, strlen (password));
  *targets_out = g_steal_pointer (&targets);
  return TOOL_EXIT_OK;
}
