/* test-greeting.c — the agent's GREETING and the identity it carries (who
 * the agent runs as), parsed as a master must: the peer's values are not
 * trusted, the shorter greeting of earlier agents is still accepted.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "mitogen-protocol-private.h"

static GVariant *
greeting_with (GVariant *identity)
{
  return g_variant_ref_sink (g_variant_new ("(uusx@a{sv})", MITOGEN_PROTOCOL_VERSION, 0u, "1.2.3",
                                            (gint64) 4242, identity));
}

static void
test_roundtrip (void)
{
  g_autoptr(GVariant) value = g_variant_ref_sink (mitogen_protocol_greeting_new ("1.2.3", 4242, 1001, "alice"));
  g_autoptr(GError) error = NULL;
  MitogenGreeting greeting;

  g_test_summary ("A greeting carries the agent's pid, uid and user name, and parses back.");

  g_assert_cmpstr (g_variant_get_type_string (value), ==, "(uusxa{sv})");
  g_assert_true (mitogen_protocol_greeting_parse (value, &greeting, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (greeting.version, ==, MITOGEN_PROTOCOL_VERSION);
  g_assert_cmpstr (greeting.agent_version, ==, "1.2.3");
  g_assert_cmpint (greeting.pid, ==, 4242);
  g_assert_cmpint (greeting.uid, ==, 1001);
  g_assert_cmpstr (greeting.user, ==, "alice");
  mitogen_protocol_greeting_clear (&greeting);
  g_assert_null (greeting.user);
}

static void
test_unknown_identity (void)
{
  g_autoptr(GVariant) value = g_variant_ref_sink (mitogen_protocol_greeting_new ("1.2.3", 7, -1, NULL));
  g_autoptr(GVariant) older = g_variant_ref_sink (g_variant_new ("(uusx)", MITOGEN_PROTOCOL_VERSION, 0u, "0.9", (gint64) 7));
  g_autoptr(GVariant) extra = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder builder;
  MitogenGreeting greeting;

  g_test_summary ("An agent without a passwd entry sends no user name; the (uusx) greeting of "
                  "earlier agents is accepted without an identity; unknown keys are ignored.");

  g_assert_true (mitogen_protocol_greeting_parse (value, &greeting, &error));
  g_assert_no_error (error);
  g_assert_cmpint (greeting.uid, ==, -1);
  g_assert_null (greeting.user);
  mitogen_protocol_greeting_clear (&greeting);

  g_assert_true (mitogen_protocol_greeting_parse (older, &greeting, &error));
  g_assert_no_error (error);
  g_assert_cmpint (greeting.pid, ==, 7);
  g_assert_cmpint (greeting.uid, ==, -1);
  g_assert_null (greeting.user);
  mitogen_protocol_greeting_clear (&greeting);

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "uid", g_variant_new_uint32 (0));
  g_variant_builder_add (&builder, "{sv}", "future", g_variant_new_string ("ignored"));
  extra = greeting_with (g_variant_builder_end (&builder));
  g_assert_true (mitogen_protocol_greeting_parse (extra, &greeting, &error));
  g_assert_no_error (error);
  g_assert_cmpint (greeting.uid, ==, 0);
  g_assert_null (greeting.user);
  mitogen_protocol_greeting_clear (&greeting);
}

typedef struct
{
  const char *path;
  const char *key;
  GVariant *(*make) (void);
  const char *says;
} BadIdentity;

static GVariant *uid_string (void) { return g_variant_new_string ("0"); }
static GVariant *uid_minus_one (void) { return g_variant_new_uint32 (G_MAXUINT32); }
static GVariant *uid_int64 (void) { return g_variant_new_int64 (0); }
static GVariant *user_number (void) { return g_variant_new_uint32 (0); }
static GVariant *user_empty (void) { return g_variant_new_string (""); }
static GVariant *user_newline (void) { return g_variant_new_string ("root\n[fake log line]"); }
static GVariant *user_escape (void) { return g_variant_new_string ("\033[31mred"); }
static GVariant *user_slash (void) { return g_variant_new_string ("../../etc"); }
static GVariant *user_colon (void) { return g_variant_new_string ("a:b"); }

static GVariant *
user_long (void)
{
  g_autofree char *name = g_strnfill (MITOGEN_PROTOCOL_USER_MAX + 1, 'a');
  return g_variant_new_string (name);
}

static const BadIdentity bad_identities[] = {
  { "/greeting/bad/uid-string", "uid", uid_string, "bad uid" },
  { "/greeting/bad/uid-minus-one", "uid", uid_minus_one, "bad uid" },
  { "/greeting/bad/uid-int64", "uid", uid_int64, "bad uid" },
  { "/greeting/bad/user-number", "user", user_number, "bad user name" },
  { "/greeting/bad/user-empty", "user", user_empty, "bad user name" },
  { "/greeting/bad/user-long", "user", user_long, "bad user name" },
  { "/greeting/bad/user-newline", "user", user_newline, "bad user name" },
  { "/greeting/bad/user-escape", "user", user_escape, "bad user name" },
  { "/greeting/bad/user-slash", "user", user_slash, "bad user name" },
  { "/greeting/bad/user-colon", "user", user_colon, "bad user name" },
};

static void
test_bad_identity (gconstpointer data)
{
  const BadIdentity *bad = data;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder builder;
  MitogenGreeting greeting;

  g_test_summary ("A greeting whose identity has a wrong type or a value out of range is a "
                  "STREAM error saying which, and leaves nothing to free.");

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", bad->key, bad->make ());
  value = greeting_with (g_variant_builder_end (&builder));
  g_assert_false (mitogen_protocol_greeting_parse (value, &greeting, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_assert_nonnull (strstr (error->message, bad->says));
  g_assert_null (greeting.user);
}

static void
test_bad_shape (void)
{
  g_autoptr(GVariant) wrong = g_variant_ref_sink (g_variant_new ("(uus)", MITOGEN_PROTOCOL_VERSION, 0u, "x"));
  g_autoptr(GVariant) pid = g_variant_ref_sink (mitogen_protocol_greeting_new ("x", 0, 0, "root"));
  g_autoptr(GVariant) big_pid = g_variant_ref_sink (mitogen_protocol_greeting_new ("x", (gint64) G_MAXINT32 + 1, 0, "root"));
  g_autoptr(GVariant) version = g_variant_ref_sink (g_variant_new ("(uusxa{sv})", MITOGEN_PROTOCOL_VERSION + 1, 0u,
                                                                   "x", (gint64) 1, NULL));
  g_autoptr(GError) error = NULL;
  MitogenGreeting greeting;

  g_test_summary ("Another shape, a pid out of range or another protocol version is refused.");

  g_assert_false (mitogen_protocol_greeting_parse (wrong, &greeting, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_assert_nonnull (strstr (error->message, "expected (uusxa{sv})"));
  g_clear_error (&error);
  g_assert_false (mitogen_protocol_greeting_parse (pid, &greeting, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_clear_error (&error);
  g_assert_false (mitogen_protocol_greeting_parse (big_pid, &greeting, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_clear_error (&error);
  g_assert_false (mitogen_protocol_greeting_parse (version, &greeting, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_assert_nonnull (strstr (error->message, "speaks protocol"));
  g_assert_null (greeting.user);
}

/* CONFIG's keepalive settings (docs/protocol.md, "Keepalive"): they
 * round-trip, absent means off, and out-of-range values are refused. */
static GVariant *
config_with (const char *key,
             GVariant   *value)
{
  GVariantBuilder b;
  guint32 parent = 0;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "context_id", g_variant_new_uint32 (5));
  g_variant_builder_add (&b, "{sv}", "parent_ids",
                         g_variant_new_fixed_array (G_VARIANT_TYPE_UINT32, &parent, 1, sizeof parent));
  if (key != NULL)
    g_variant_builder_add (&b, "{sv}", key, value);
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

static void
test_config_keepalive (void)
{
  static const guint32 parents[] = { 0 };
  MitogenConfig config = { .context_id = 5, .parent_ids = parents, .n_parent_ids = 1, .name = "x",
                           .max_message_size = 1u << 20, .keepalive_interval = 1.5, .keepalive_count = 4 };
  g_autoptr(GVariant) value = g_variant_ref_sink (mitogen_protocol_config_new (&config));
  MitogenConfig parsed;
  struct { const char *key; GVariant *value; } bad[] = {
    { "keepalive_interval", g_variant_new_double (-1) },
    { "keepalive_interval", g_variant_new_double (0.001) },
    { "keepalive_interval", g_variant_new_double (1e9) },
    { "keepalive_interval", g_variant_new_double (NAN) },
    { "keepalive_count", g_variant_new_uint32 (1) },
    { "keepalive_count", g_variant_new_uint32 (1001) },
  };

  g_test_summary ("CONFIG carries keepalive_interval and keepalive_count; absent, the keepalive "
                  "is off (a parent that does not send them would not answer); out of range is "
                  "refused.");

  g_assert_true (mitogen_protocol_config_parse (value, &parsed, NULL));
  g_assert_cmpfloat (parsed.keepalive_interval, ==, 1.5);
  g_assert_cmpuint (parsed.keepalive_count, ==, 4);
  mitogen_protocol_config_clear (&parsed);

  {
    g_autoptr(GVariant) plain = config_with (NULL, NULL);
    g_assert_true (mitogen_protocol_config_parse (plain, &parsed, NULL));
    g_assert_cmpfloat (parsed.keepalive_interval, ==, 0);
    mitogen_protocol_config_clear (&parsed);
  }

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GVariant) with = config_with (bad[i].key, bad[i].value);
      g_autoptr(GError) error = NULL;

      g_assert_false (mitogen_protocol_config_parse (with, &parsed, &error));
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
      g_assert_nonnull (strstr (error->message, bad[i].key));
      mitogen_protocol_config_clear (&parsed);
    }
}

/* The one-pass parse keeps g_variant_lookup ()'s rules: a key's first
 * entry decides, a value of another type counts as absent, unknown keys
 * are ignored, every field round-trips. */
static void
test_config_entries (void)
{
  static const guint32 parents[] = { 7, 3 };
  MitogenConfig config = { .context_id = 9, .parent_ids = parents, .n_parent_ids = 2, .name = "leaf",
                           .debug = TRUE, .profiling = TRUE, .max_message_size = 1u << 22,
                           .keepalive_interval = 2.5, .keepalive_count = 6 };
  g_autoptr(GVariant) value = g_variant_ref_sink (mitogen_protocol_config_new (&config));
  MitogenConfig parsed;
  GVariantBuilder b;

  g_assert_true (mitogen_protocol_config_parse (value, &parsed, NULL));
  g_assert_cmpuint (parsed.context_id, ==, 9);
  g_assert_cmpuint (parsed.n_parent_ids, ==, 2);
  g_assert_cmpuint (parsed.parent_ids[0], ==, 7);
  g_assert_cmpuint (parsed.parent_ids[1], ==, 3);
  g_assert_cmpstr (parsed.name, ==, "leaf");
  g_assert_true (parsed.debug);
  g_assert_true (parsed.profiling);
  g_assert_cmpuint (parsed.max_message_size, ==, 1u << 22);
  g_assert_cmpfloat (parsed.keepalive_interval, ==, 2.5);
  g_assert_cmpuint (parsed.keepalive_count, ==, 6);
  mitogen_protocol_config_clear (&parsed);

  /* First entry wins; "name" of the wrong type is absent ("?"); an
   * unknown key is ignored; a context_id of the wrong type is missing. */
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "newer_option", g_variant_new_string ("x"));
  g_variant_builder_add (&b, "{sv}", "context_id", g_variant_new_uint32 (4));
  g_variant_builder_add (&b, "{sv}", "context_id", g_variant_new_uint32 (5));
  g_variant_builder_add (&b, "{sv}", "parent_ids", g_variant_new_fixed_array (G_VARIANT_TYPE_UINT32, parents, 1, sizeof (guint32)));
  g_variant_builder_add (&b, "{sv}", "name", g_variant_new_uint32 (1));
  g_variant_builder_add (&b, "{sv}", "name", g_variant_new_string ("second"));
  {
    g_autoptr(GVariant) odd = g_variant_ref_sink (g_variant_builder_end (&b));

    g_assert_true (mitogen_protocol_config_parse (odd, &parsed, NULL));
    g_assert_cmpuint (parsed.context_id, ==, 4);
    g_assert_cmpstr (parsed.name, ==, "?");
    mitogen_protocol_config_clear (&parsed);
  }

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "context_id", g_variant_new_int32 (4));
  g_variant_builder_add (&b, "{sv}", "parent_ids", g_variant_new_fixed_array (G_VARIANT_TYPE_UINT32, parents, 1, sizeof (guint32)));
  {
    g_autoptr(GVariant) wrong = g_variant_ref_sink (g_variant_builder_end (&b));
    g_autoptr(GError) error = NULL;

    g_assert_false (mitogen_protocol_config_parse (wrong, &parsed, &error));
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
    g_assert_nonnull (strstr (error->message, "context_id"));
    mitogen_protocol_config_clear (&parsed);
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/greeting/roundtrip", test_roundtrip);
  g_test_add_func ("/greeting/unknown-identity", test_unknown_identity);
  g_test_add_func ("/greeting/bad-shape", test_bad_shape);
  g_test_add_func ("/config/keepalive", test_config_keepalive);
  g_test_add_func ("/config/entries", test_config_entries);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_identities); i++)
    g_test_add_data_func (bad_identities[i].path, &bad_identities[i], test_bad_identity);

  return g_test_run ();
}
