/* test-via.c — contexts started through other contexts: route
 * announcements up the tree, calls across many hops, and what happens when
 * a context in the middle or at the end of a chain dies.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "mitogen-test.h"

#define CHAIN 10

static GPtrArray *
make_chain (MitogenRouter *router,
            guint          n)
{
  GPtrArray *chain = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;
      MitogenContext *via = i > 0 ? g_ptr_array_index (chain, i - 1) : NULL;
      MitogenContext *context = mitogen_router_connect (router, "local", NULL, via, NULL, &error);

      g_assert_no_error (error);
      g_assert_true (mitogen_context_get_via (context) == via);
      g_ptr_array_add (chain, context);
    }
  return chain;
}

static GPid
remote_pid (MitogenContext *context)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) pid = mitogen_context_call (context, "os.getpid", NULL, NULL, &error);

  g_assert_no_error (error);
  return (GPid) g_variant_get_int64 (pid);
}

static void
test_chain (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(GPtrArray) chain = make_chain (router, CHAIN);
  GPid pids[CHAIN];

  g_test_summary ("A 10-hop chain of via contexts: every hop answers calls, knows its "
                  "ancestry, and the whole chain goes away with the router.");

  for (guint i = 0; i < CHAIN; i++)
    {
      MitogenContext *context = g_ptr_array_index (chain, i);
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) id = mitogen_context_call (context, "mitogen.identity", NULL, NULL, &error);
      g_autoptr(GVariant) parents = NULL;
      g_autoptr(GVariant) echo = NULL;
      guint32 context_id = 0;
      gint64 parent_id = -2;

      g_assert_no_error (error);
      g_assert_true (g_variant_lookup (id, "context_id", "u", &context_id));
      g_assert_cmpuint (context_id, ==, mitogen_context_get_id (context));
      g_assert_true (g_variant_lookup (id, "parent_id", "x", &parent_id));
      g_assert_cmpint (parent_id, ==, i == 0 ? 0 : (gint64) mitogen_context_get_id (g_ptr_array_index (chain, i - 1)));
      parents = g_variant_lookup_value (id, "parent_ids", G_VARIANT_TYPE ("au"));
      g_assert_cmpuint (g_variant_n_children (parents), ==, i + 1);

      echo = mitogen_context_call (context, "mitogen.echo", g_variant_new ("(u)", i), NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (g_variant_get_uint32 (echo), ==, i);
      pids[i] = remote_pid (context);
      /* Each hop's pid and user, as relayed by the one before it. */
      g_assert_cmpint (mitogen_context_get_pid (context), ==, pids[i]);
      g_assert_cmpint (mitogen_context_get_uid (context), ==, geteuid ());
      g_assert_cmpstr (mitogen_context_get_user_name (context), ==, g_get_user_name ());
    }

  /* Bulk across all ten hops. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) bytes = mitogen_context_call (g_ptr_array_index (chain, CHAIN - 1), "mitogen.bytes",
                                                      g_variant_new ("(ty)", (guint64) 4 << 20, (guint8) 3),
                                                      NULL, &error);
    gsize len;
    const guint8 *data;

    g_assert_no_error (error);
    data = g_variant_get_fixed_array (bytes, &len, 1);
    g_assert_cmpuint (len, ==, 4 << 20);
    g_assert_cmpuint (data[len - 1], ==, (guint8) (3 + len - 1));
  }

  g_clear_pointer (&chain, g_ptr_array_unref);
  mitogen_router_shutdown (router);
  for (guint i = 0; i < CHAIN; i++)
    g_assert_true (mitogen_test_wait_pid_gone (pids[i], 3000));
}

static void
test_kill_intermediate (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(GPtrArray) chain = make_chain (router, 4);
  g_autoptr(MitogenReceiver) pending = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  GPid middle = remote_pid (g_ptr_array_index (chain, 1));
  GPid leaf = remote_pid (g_ptr_array_index (chain, 3));
  gint64 start;

  g_test_summary ("Killing an intermediate fails every call pending behind it with CHANNEL "
                  "at once, disconnects the contexts behind it, and they exit.");

  pending = mitogen_context_begin_call (g_ptr_array_index (chain, 3), "mitogen.sleep", g_variant_new ("(d)", 30.0));
  g_usleep (50000);
  start = g_get_monotonic_time ();
  g_assert_cmpint (kill (middle, SIGKILL), ==, 0);

  message = mitogen_receiver_get (pending, 5, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);

  /* Each context behind the dead one is withdrawn (DEL_ROUTE) in turn. */
  for (guint i = 1; i < 4; i++)
    {
      gint64 deadline = g_get_monotonic_time () + G_USEC_PER_SEC;
      while (mitogen_context_is_connected (g_ptr_array_index (chain, i)) && g_get_monotonic_time () < deadline)
        g_usleep (1000);
      g_assert_false (mitogen_context_is_connected (g_ptr_array_index (chain, i)));
    }
  g_assert_true (mitogen_context_is_connected (g_ptr_array_index (chain, 0)));
  g_assert_true (mitogen_test_wait_pid_gone (leaf, 3000));

  /* The first hop still works. */
  g_assert_cmpint (remote_pid (g_ptr_array_index (chain, 0)), >, 0);
}

static void
test_leaf_dies (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(GPtrArray) chain = make_chain (router, 3);
  g_autoptr(MitogenReceiver) pending = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  GPid leaf = remote_pid (g_ptr_array_index (chain, 2));

  g_test_summary ("When the last context of a chain dies, the intermediate withdraws its route "
                  "(DEL_ROUTE): the master fails its pending call and marks it disconnected.");

  pending = mitogen_context_begin_call (g_ptr_array_index (chain, 2), "mitogen.sleep", g_variant_new ("(d)", 30.0));
  g_usleep (50000);
  g_assert_cmpint (kill (leaf, SIGKILL), ==, 0);
  message = mitogen_receiver_get (pending, 5, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_clear_error (&error);
  g_assert_false (mitogen_context_is_connected (g_ptr_array_index (chain, 2)));

  value = mitogen_context_call (g_ptr_array_index (chain, 2), "mitogen.noop", NULL, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_true (mitogen_context_is_connected (g_ptr_array_index (chain, 1)));
}

static void
test_errors (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) first = mitogen_test_local (router);
  g_autoptr(MitogenContext) bad = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder b;

  g_test_summary ("Errors from the intermediate's connect come back as the master's own: "
                  "unknown method, unknown option, an agent that never greets.");

  bad = mitogen_router_connect (router, "carrier-pigeon", NULL, first, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "carrier-pigeon"));
  g_clear_error (&error);

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "no_such_option", g_variant_new_int32 (1));
  bad = mitogen_router_connect (router, "local", g_variant_builder_end (&b), first, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "no_such_option"));
  g_clear_error (&error);

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "agent_path", g_variant_new_string ("/bin/cat"));
  g_variant_builder_add (&b, "{sv}", "connect_timeout", g_variant_new_double (0.3));
  bad = mitogen_router_connect (router, "local", g_variant_builder_end (&b), first, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_clear_error (&error);

  /* The intermediate is unharmed. */
  g_assert_cmpint (remote_pid (first), >, 0);
}

static void
test_fan_out (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) hub = mitogen_test_local (router);
  g_autoptr(GPtrArray) children = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) receivers = g_ptr_array_new_with_free_func (g_object_unref);

  g_test_summary ("Many children started through one intermediate are reached independently "
                  "and concurrently.");

  for (guint i = 0; i < 8; i++)
    {
      g_autoptr(GError) error = NULL;
      MitogenContext *child = mitogen_router_connect (router, "local", NULL, hub, NULL, &error);
      g_assert_no_error (error);
      g_ptr_array_add (children, child);
    }
  for (guint i = 0; i < children->len; i++)
    g_ptr_array_add (receivers, mitogen_context_begin_call (g_ptr_array_index (children, i), "mitogen.echo",
                                                            g_variant_new ("(u)", i)));
  for (guint i = 0; i < receivers->len; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) value = NULL;
      g_autoptr(MitogenMessage) message = mitogen_receiver_get (g_ptr_array_index (receivers, i), 10, &error);

      g_assert_no_error (error);
      value = mitogen_message_get_value (message, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (g_variant_get_uint32 (value), ==, i);
    }
}

static void
test_add_route (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(GPtrArray) chain = make_chain (router, 2);
  g_autoptr(GError) error = NULL;
  guint32 first = mitogen_context_get_id (g_ptr_array_index (chain, 0));
  guint32 second = mitogen_context_get_id (g_ptr_array_index (chain, 1));

  g_test_summary ("Router.add_route: a route through a reachable context is accepted; through "
                  "an unknown one, or to ourselves, it is a clear error.");

  g_assert_true (mitogen_router_add_route (router, second, first, &error));
  g_assert_no_error (error);
  g_assert_cmpint (remote_pid (g_ptr_array_index (chain, 1)), >, 0);

  g_assert_false (mitogen_router_add_route (router, 4242, 999, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (mitogen_router_add_route (router, 0, first, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
}

/* A declarative transport defined here, in the master only (the agents
 * have no such plugin): `testenv` runs the target through `env
 * MITOGEN_TEST_ENV=VALUE`; with `embed` it quotes the command into one
 * word, which cannot be handed to an intermediate. */
#define TEST_TYPE_ENV_TRANSPORT (test_env_transport_get_type ())
G_DECLARE_FINAL_TYPE (TestEnvTransport, test_env_transport, TEST, ENV_TRANSPORT, MitogenTransport)

struct _TestEnvTransport
{
  MitogenTransport parent_instance;
  char    *value;
  gboolean embed;
};

G_DEFINE_FINAL_TYPE (TestEnvTransport, test_env_transport, MITOGEN_TYPE_TRANSPORT)

static char **
test_env_transport_build_command (MitogenTransport    *transport,
                                  const char * const  *argv,
                                  GError             **error)
{
  TestEnvTransport *self = TEST_ENV_TRANSPORT (transport);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autofree char *assignment = g_strdup_printf ("MITOGEN_TEST_ENV=%s", self->value != NULL ? self->value : "");

  g_strv_builder_add_many (builder, "env", assignment, NULL);
  if (self->embed)
    {
      g_autofree char *joined = g_strjoinv (" ", (char **) argv);
      g_strv_builder_add_many (builder, "sh", "-c", joined, NULL);
    }
  else
    g_strv_builder_addv (builder, (const char **) argv);
  return g_strv_builder_end (builder);
}

static void
test_env_transport_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  TestEnvTransport *self = TEST_ENV_TRANSPORT (object);

  if (prop_id == 1)
    {
      g_free (self->value);
      self->value = g_value_dup_string (value);
    }
  else
    self->embed = g_value_get_boolean (value);
}

static void
test_env_transport_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  TestEnvTransport *self = TEST_ENV_TRANSPORT (object);

  if (prop_id == 1)
    g_value_set_string (value, self->value);
  else
    g_value_set_boolean (value, self->embed);
}

static void
test_env_transport_finalize (GObject *object)
{
  g_free (TEST_ENV_TRANSPORT (object)->value);
  G_OBJECT_CLASS (test_env_transport_parent_class)->finalize (object);
}

static void
test_env_transport_class_init (TestEnvTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MitogenTransportClass *transport_class = MITOGEN_TRANSPORT_CLASS (klass);

  object_class->set_property = test_env_transport_set_property;
  object_class->get_property = test_env_transport_get_property;
  object_class->finalize = test_env_transport_finalize;
  transport_class->build_command = test_env_transport_build_command;
  transport_class->short_option = "value";
  g_object_class_install_property (object_class, 1,
    g_param_spec_string ("value", NULL, "The variable's value", NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, 2,
    g_param_spec_boolean ("embed", NULL, "Quote the command into one word", FALSE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
}

static void
test_env_transport_init (TestEnvTransport *self)
{
}

static char *
remote_env (MitogenContext *context,
            const char     *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) env = mitogen_context_call (context, "os.environ", NULL, NULL, &error);
  char *value = NULL;

  g_assert_no_error (error);
  g_variant_lookup (env, name, "s", &value);
  return value;
}

static void
test_declarative (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) first = mitogen_test_local (router);
  g_autoptr(MitogenTransport) probe = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) methods = NULL;

  g_test_summary ("A transport that only has build_command works in the master and one hop "
                  "down through an agent that lacks it (the master hands the command line to "
                  "the built-in 'command' transport there); 'command' itself, and its errors.");

  /* Plugins are loaded (and the extension point made); then ours joins. */
  methods = mitogen_transport_list_methods ();
  g_assert_true (g_strv_contains ((const char * const *) methods, "command"));
  g_io_extension_point_implement (MITOGEN_TRANSPORT_EXTENSION_POINT_NAME, TEST_TYPE_ENV_TRANSPORT, "testenv", 0);
  probe = mitogen_transport_new_for_method ("testenv", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mitogen_transport_get_short_option (probe), ==, "value");

  for (guint i = 0; i < 2; i++)
    {
      MitogenContext *via = i == 0 ? NULL : first;
      const char *value = i == 0 ? "direct" : "through-first";
      g_autoptr(MitogenContext) child = NULL;
      g_autoptr(MitogenContext) grandchild = NULL;
      g_autofree char *got = NULL;
      g_autofree char *inherited = NULL;

      child = mitogen_router_connect (router, "testenv", g_variant_new_parsed ("{'value': <%s>}", value),
                                      via, NULL, &error);
      g_assert_no_error (error);
      g_assert_true (mitogen_context_get_via (child) == via);
      got = remote_env (child, "MITOGEN_TEST_ENV");
      g_assert_cmpstr (got, ==, value);
      /* And the bootstrap, through the same command line. */
      grandchild = mitogen_router_connect (router, "testenv",
                                           g_variant_new_parsed ("{'value': <'boot'>, 'bootstrap': <true>}"),
                                           child, NULL, &error);
      g_assert_no_error (error);
      inherited = remote_env (grandchild, "MITOGEN_TEST_ENV");
      g_assert_cmpstr (inherited, ==, "boot");
    }

  {
    g_autoptr(MitogenContext) bad = NULL;

    /* Checked in the master: an option of the wrong type. */
    bad = mitogen_router_connect (router, "testenv", g_variant_new_parsed ("{'value': <1>}"), first, NULL, &error);
    g_assert_null (bad);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, "value"));
    g_clear_error (&error);

    /* The target's command inside a word cannot be substituted there. */
    bad = mitogen_router_connect (router, "testenv", g_variant_new_parsed ("{'embed': <true>}"), first, NULL, &error);
    g_assert_null (bad);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED);
    g_assert_nonnull (strstr (error->message, "testenv"));
    g_clear_error (&error);

    /* ... but runs here, where the transport itself substitutes it. */
    bad = mitogen_router_connect (router, "testenv", g_variant_new_parsed ("{'embed': <true>, 'value': <'x'>}"),
                                  NULL, NULL, &error);
    g_assert_no_error (error);
    g_clear_object (&bad);

    /* `command` directly, through first: a missing program is a STREAM
     * error naming it and the label; no command is INVALID_ARGUMENT. */
    bad = mitogen_router_connect (router, "command",
                                  g_variant_new_parsed ("{'command': <['/nonexistent/mitogen-prog', '@ARGV@']>, "
                                                        "'label': <'mine'>}"),
                                  first, NULL, &error);
    g_assert_null (bad);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
    g_assert_nonnull (strstr (error->message, "mine: could not start"));
    g_assert_nonnull (strstr (error->message, "/nonexistent/mitogen-prog"));
    g_clear_error (&error);

    bad = mitogen_router_connect (router, "command", NULL, first, NULL, &error);
    g_assert_null (bad);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, "'command'"));
    g_clear_error (&error);
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/via/chain-10", test_chain);
  g_test_add_func ("/via/kill-intermediate", test_kill_intermediate);
  g_test_add_func ("/via/leaf-dies", test_leaf_dies);
  g_test_add_func ("/via/errors", test_errors);
  g_test_add_func ("/via/fan-out", test_fan_out);
  g_test_add_func ("/via/add-route", test_add_route);
  g_test_add_func ("/via/declarative", test_declarative);

  return g_test_run ();
}
