/* mitogen-protocol.c — GREETING, CONFIG and CALL_FUNCTION payloads
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-protocol"

#include "config.h"

#include <string.h>

#include "mitogen-protocol-private.h"

GVariant *
mitogen_protocol_greeting_new (const char *agent_version,
                               gint64      pid)
{
  return g_variant_new ("(uusx)", MITOGEN_PROTOCOL_VERSION, 0u, agent_version, pid);
}

gboolean
mitogen_protocol_greeting_parse (GVariant         *value,
                                 MitogenGreeting  *greeting,
                                 GError          **error)
{
  if (value == NULL || !g_variant_is_of_type (value, G_VARIANT_TYPE ("(uusx)")))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "malformed greeting from the agent: type %s, expected (uusx)",
                   value != NULL ? g_variant_get_type_string (value) : "none");
      return FALSE;
    }
  g_variant_get (value, "(uu&sx)", &greeting->version, &greeting->flags,
                 &greeting->agent_version, &greeting->pid);
  if (greeting->version != MITOGEN_PROTOCOL_VERSION)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "agent %s speaks protocol %u, we speak %u",
                   greeting->agent_version, greeting->version, MITOGEN_PROTOCOL_VERSION);
      return FALSE;
    }
  if (greeting->pid <= 0 || greeting->pid > G_MAXINT32)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "greeting from the agent gives pid %" G_GINT64_FORMAT, greeting->pid);
      return FALSE;
    }
  return TRUE;
}

GVariant *
mitogen_protocol_config_new (const MitogenConfig *config)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "context_id", g_variant_new_uint32 (config->context_id));
  g_variant_builder_add (&builder, "{sv}", "parent_ids",
                         g_variant_new_fixed_array (G_VARIANT_TYPE_UINT32, config->parent_ids,
                                                    config->n_parent_ids, sizeof (guint32)));
  g_variant_builder_add (&builder, "{sv}", "name", g_variant_new_string (config->name));
  g_variant_builder_add (&builder, "{sv}", "debug", g_variant_new_boolean (config->debug));
  g_variant_builder_add (&builder, "{sv}", "profiling", g_variant_new_boolean (config->profiling));
  g_variant_builder_add (&builder, "{sv}", "max_message_size",
                         g_variant_new_uint64 (config->max_message_size));
  return g_variant_builder_end (&builder);
}

#define config_fail(...) \
  G_STMT_START { g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, __VA_ARGS__); return FALSE; } G_STMT_END

gboolean
mitogen_protocol_config_parse (GVariant       *value,
                               MitogenConfig  *config,
                               GError        **error)
{
  memset (config, 0, sizeof *config);
  config->name = "?";
  config->max_message_size = MITOGEN_DEFAULT_MAX_MESSAGE_SIZE;
  if (value == NULL || !g_variant_is_of_type (value, G_VARIANT_TYPE_VARDICT))
    config_fail ("configuration is not an a{sv}");
  if (!g_variant_lookup (value, "context_id", "u", &config->context_id))
    config_fail ("configuration has no context_id (u)");
  if (config->context_id == 0)
    config_fail ("configuration gives context id 0");
  config->parent_ids_value = g_variant_lookup_value (value, "parent_ids", G_VARIANT_TYPE ("au"));
  if (config->parent_ids_value == NULL)
    config_fail ("configuration has no parent_ids (au)");
  config->parent_ids = g_variant_get_fixed_array (config->parent_ids_value, &config->n_parent_ids,
                                                  sizeof (guint32));
  if (config->n_parent_ids == 0)
    config_fail ("configuration has empty parent_ids");
  g_variant_lookup (value, "name", "&s", &config->name);
  g_variant_lookup (value, "debug", "b", &config->debug);
  g_variant_lookup (value, "profiling", "b", &config->profiling);
  g_variant_lookup (value, "max_message_size", "t", &config->max_message_size);
  if (config->max_message_size < MITOGEN_PROTOCOL_MIN_MESSAGE_SIZE ||
      config->max_message_size > G_MAXUINT32)
    config_fail ("configuration's max_message_size %" G_GUINT64_FORMAT " is out of range",
                 config->max_message_size);
  return TRUE;
}

void
mitogen_protocol_config_clear (MitogenConfig *config)
{
  g_clear_pointer (&config->parent_ids_value, g_variant_unref);
  config->parent_ids = NULL;
  config->n_parent_ids = 0;
}

GVariant *
mitogen_protocol_call_new (const char *function,
                           GVariant   *args)
{
  g_autoptr(GVariant) tuple = NULL;

  tuple = g_variant_ref_sink (args != NULL ? args : g_variant_new ("()"));
  return g_variant_new ("(sv@a{sv})", function, tuple,
                        g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));
}

gboolean
mitogen_protocol_call_parse (GVariant     *value,
                             const char  **function,
                             GVariant    **args,
                             GError      **error)
{
  g_autoptr(GVariant) boxed = NULL;

  if (value == NULL || !g_variant_is_of_type (value, G_VARIANT_TYPE ("(sva{sv})")))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "Malformed call request of type %s, expected (sva{sv})",
                   value != NULL ? g_variant_get_type_string (value) : "none");
      return FALSE;
    }
  g_variant_get (value, "(&sv@a{sv})", function, &boxed, NULL);
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
