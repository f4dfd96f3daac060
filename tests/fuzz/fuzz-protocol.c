/* fuzz-protocol.c — the protocol's own payloads: GREETING, CONFIG,
 * CALL_FUNCTION, LOAD_MODULE request and reply
 *
 * Input: byte 0: bits 0-2 pick the parser (0 greeting, 1 config, 2 call,
 * 3 module request, 4 module reply, 5-7 every one of them); bit 7 set:
 * the rest is the serialized value of the parser's own type (with 5-7,
 * the type of parser (bits 3-5) % 5), which is what a peer controls once
 * the frame's "v" is unwrapped; clear: the rest is a whole payload ("v")
 * for mitogen_frame_decode_payload (). Data not in normal form is
 * dropped, as the frame decoder refuses it.
 *
 * Checks: what parses is rebuilt with the matching _new () and parses
 * again to the same fields. The reply is parsed for module "fuzz".
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <string.h>

#include "fuzz-common.h"
#include "mitogen-frame-private.h"
#include "mitogen-protocol-private.h"

static const char * const parser_types[] = { "(uusxa{sv})", "a{sv}", "(sva{sv})", "(sasa{sv})", "(a(ssay)asa{sv})" };

void
fuzz_protocol_init (void)
{
}

static void
fuzz_greeting (GVariant *value)
{
  MitogenGreeting greeting, again;
  g_autoptr(GVariant) rebuilt = NULL;

  if (!mitogen_protocol_greeting_parse (value, &greeting, NULL))
    {
      mitogen_protocol_greeting_clear (&greeting);
      return;
    }
  rebuilt = g_variant_ref_sink (mitogen_protocol_greeting_new (greeting.agent_version, greeting.pid,
                                                               greeting.uid, greeting.user));
  FUZZ_CHECK (mitogen_protocol_greeting_parse (rebuilt, &again, NULL));
  FUZZ_CHECK (again.version == greeting.version && again.pid == greeting.pid);
  FUZZ_CHECK (again.uid == greeting.uid && g_strcmp0 (again.user, greeting.user) == 0);
  FUZZ_CHECK (strcmp (again.agent_version, greeting.agent_version) == 0);
  mitogen_protocol_greeting_clear (&again);
  mitogen_protocol_greeting_clear (&greeting);
}

static void
fuzz_config (GVariant *value)
{
  MitogenConfig config, again;
  g_autoptr(GVariant) rebuilt = NULL;
  gboolean ok;

  ok = mitogen_protocol_config_parse (value, &config, NULL);
  if (ok)
    {
      rebuilt = g_variant_ref_sink (mitogen_protocol_config_new (&config));
      FUZZ_CHECK (mitogen_protocol_config_parse (rebuilt, &again, NULL));
      FUZZ_CHECK (again.context_id == config.context_id);
      FUZZ_CHECK (again.n_parent_ids == config.n_parent_ids);
      FUZZ_CHECK (memcmp (again.parent_ids, config.parent_ids, config.n_parent_ids * sizeof (guint32)) == 0);
      FUZZ_CHECK (strcmp (again.name, config.name) == 0);
      FUZZ_CHECK (again.debug == config.debug && again.profiling == config.profiling);
      FUZZ_CHECK (again.max_message_size == config.max_message_size);
      FUZZ_CHECK (again.keepalive_interval == config.keepalive_interval);
      FUZZ_CHECK (again.keepalive_count == config.keepalive_count);
      mitogen_protocol_config_clear (&again);
    }
  /* "free what parsing took", whatever it returned */
  mitogen_protocol_config_clear (&config);
}

static void
fuzz_call (GVariant *value)
{
  g_autoptr(GVariant) args = NULL;
  g_autoptr(GVariant) args_again = NULL;
  g_autoptr(GVariant) rebuilt = NULL;
  const char *function = NULL, *function_again = NULL;

  if (!mitogen_protocol_call_parse (value, &function, &args, NULL))
    {
      FUZZ_CHECK (args == NULL);
      return;
    }
  FUZZ_CHECK (g_variant_is_of_type (args, G_VARIANT_TYPE_TUPLE));
  rebuilt = g_variant_ref_sink (mitogen_protocol_call_new (function, args));
  FUZZ_CHECK (mitogen_protocol_call_parse (rebuilt, &function_again, &args_again, NULL));
  FUZZ_CHECK (strcmp (function, function_again) == 0);
  FUZZ_CHECK (g_variant_equal (args, args_again));
}

static void
fuzz_module_request (GVariant *value)
{
  MitogenModuleRequest request, again;
  g_autoptr(GVariant) rebuilt = NULL;

  if (!mitogen_protocol_module_request_parse (value, &request, NULL))
    {
      FUZZ_CHECK (request.have == NULL && request.name == NULL);
      return;
    }
  FUZZ_CHECK (mitogen_protocol_module_name_is_valid (request.name));
  rebuilt = g_variant_ref_sink (mitogen_protocol_module_request_new (request.name, request.have, request.max_size));
  FUZZ_CHECK (mitogen_protocol_module_request_parse (rebuilt, &again, NULL));
  FUZZ_CHECK (strcmp (again.name, request.name) == 0);
  FUZZ_CHECK (again.n_have == request.n_have && again.max_size == request.max_size);
  for (gsize i = 0; i < request.n_have; i++)
    FUZZ_CHECK (strcmp (again.have[i], request.have[i]) == 0);
  mitogen_protocol_module_request_clear (&again);
  mitogen_protocol_module_request_clear (&request);
}

static void
fuzz_module_reply (GVariant *value)
{
  g_autoptr(MitogenModuleReply) reply = mitogen_protocol_module_reply_parse (value, "fuzz", NULL);
  g_autoptr(MitogenModuleReply) again = NULL;
  g_autoptr(GVariant) rebuilt = NULL;

  if (reply == NULL)
    return;
  FUZZ_CHECK (reply->files->len > 0);
  rebuilt = g_variant_ref_sink (mitogen_protocol_module_reply_new (reply));
  again = mitogen_protocol_module_reply_parse (rebuilt, "fuzz", NULL);
  FUZZ_CHECK (again != NULL);
  FUZZ_CHECK (again->files->len == reply->files->len && again->present->len == reply->present->len);
  for (guint i = 0; i < reply->files->len; i++)
    {
      const MitogenModuleFile *a = g_ptr_array_index (reply->files, i);
      const MitogenModuleFile *b = g_ptr_array_index (again->files, i);

      FUZZ_CHECK (strcmp (a->name, b->name) == 0 && strcmp (a->sha256, b->sha256) == 0);
      FUZZ_CHECK (g_bytes_equal (a->data, b->data));
    }
  for (guint i = 0; i < reply->present->len; i++)
    FUZZ_CHECK (strcmp (g_ptr_array_index (reply->present, i), g_ptr_array_index (again->present, i)) == 0);
  FUZZ_CHECK (again->origin == reply->origin && again->cached == reply->cached);
  FUZZ_CHECK (!reply->cached || again->cached_by == reply->cached_by);
}

static void (* const parsers[]) (GVariant *) = {
  fuzz_greeting, fuzz_config, fuzz_call, fuzz_module_request, fuzz_module_reply,
};

int
fuzz_protocol_one (const guint8 *data,
                   gsize         size)
{
  g_autoptr(GBytes) rest = NULL;
  g_autoptr(GVariant) value = NULL;
  guint which;

  if (size < 1)
    return 0;
  which = data[0] & 7;
  rest = g_bytes_new (data + 1, size - 1);

  if (data[0] & 0x80)
    {
      guint type = which < G_N_ELEMENTS (parsers) ? which : ((data[0] >> 3) & 7) % G_N_ELEMENTS (parsers);

      value = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (parser_types[type]), rest, FALSE));
      if (!g_variant_is_normal_form (value))
        return 0;
    }
  else
    {
      value = mitogen_frame_decode_payload (rest, NULL);
      if (value == NULL)
        return 0;
    }

  if (which < G_N_ELEMENTS (parsers))
    parsers[which] (value);
  else
    for (guint i = 0; i < G_N_ELEMENTS (parsers); i++)
      parsers[i] (value);
  return 0;
}

FUZZ_TARGET (protocol)
