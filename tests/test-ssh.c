/* test-ssh.c — the ssh transport against a real OpenSSH sshd: on loopback
 * and inside a network namespace whose veth link the test cuts. Key and
 * password authentication, host key policies, bulk data with and without
 * compression, dead links, and the OpenSSH client mode (ssh_path).
 *
 * Needs root, openssh-server, openssh-client and iproute2 (.ci/run
 * installs them); skips otherwise. Fixtures: tests/hosts/host-fixture.c.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <stdio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mitogen-test.h"
#include "host-fixture.h"

typedef struct
{
  HostSshd      *sshd;    /* (owned) (nullable) NULL: skipped */
  MitogenRouter *router;  /* (owned) (nullable) */
} Fixture;

static void
set_up (Fixture  *f,
        gboolean  netns)
{
  g_autoptr(GError) error = NULL;
  const char *why = host_fixture_unavailable (netns);

  if (why != NULL)
    {
      g_test_skip (why);
      return;
    }
  host_fixture_ensure_users (&error);
  g_assert_no_error (error);
  f->sshd = host_sshd_start (netns, &error);
  g_assert_no_error (error);
  f->router = mitogen_router_new ();
}

static void
set_up_loopback (Fixture *f, gconstpointer data)
{
  set_up (f, FALSE);
}

static void
set_up_netns (Fixture *f, gconstpointer data)
{
  set_up (f, TRUE);
}

static void
shutdown_router (Fixture *f)
{
  if (f->router != NULL)
    {
      mitogen_router_shutdown (f->router);
      g_assert_finalize_object (g_steal_pointer (&f->router));
    }
}

static void
tear_down (Fixture *f, gconstpointer data)
{
  shutdown_router (f);
  host_sshd_stop (g_steal_pointer (&f->sshd));
}

/* hostname, port, known_hosts_file, ssh_config=false (hermetic: root's
 * ~/.ssh/config must not matter), then @first_key and the rest as
 * (const char *key, GVariant *value) pairs, NULL-terminated. */
static GVariant *
options (Fixture    *f,
         const char *first_key,
         ...)
{
  GVariantBuilder builder;
  const char *key;
  va_list args;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "hostname", g_variant_new_string (f->sshd->address));
  g_variant_builder_add (&builder, "{sv}", "port", g_variant_new_int32 (f->sshd->port));
  g_variant_builder_add (&builder, "{sv}", "known_hosts_file", g_variant_new_string (f->sshd->known_hosts));
  g_variant_builder_add (&builder, "{sv}", "ssh_config", g_variant_new_boolean (FALSE));
  va_start (args, first_key);
  for (key = first_key; key != NULL; key = va_arg (args, const char *))
    g_variant_builder_add (&builder, "{sv}", key, va_arg (args, GVariant *));
  va_end (args);
  return g_variant_builder_end (&builder);
}

#define KEY_USER(f) \
  "username", g_variant_new_string (HOST_KEY_USER), \
  "identity_file", g_variant_new_string ((f)->sshd->client_key)

static MitogenContext *
connect_ok (Fixture  *f,
            GVariant *opts)
{
  g_autoptr(GError) error = NULL;
  MitogenContext *context = mitogen_router_connect (f->router, "ssh", opts, NULL, NULL, &error);

  if (error != NULL)
    {
      g_autofree char *log = NULL;
      g_file_get_contents (f->sshd->log, &log, NULL, NULL);
      g_test_message ("sshd log:\n%s", log != NULL ? log : "");
    }
  g_assert_no_error (error);
  g_assert_nonnull (context);
  return context;
}

static GVariant *
call_ok (MitogenContext *context,
         const char     *function,
         GVariant       *args)
{
  g_autoptr(GError) error = NULL;
  GVariant *value = mitogen_context_call (context, function, args, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (value);
  return value;
}

static guint32
uid_of (const char *user)
{
  struct passwd *pw = getpwnam (user);

  g_assert_nonnull (pw);
  return pw->pw_uid;
}

static GPid
remote_pid (MitogenContext *context)
{
  g_autoptr(GVariant) pid = call_ok (context, "os.getpid", NULL);
  return (GPid) g_variant_get_int64 (pid);
}

/* --- authentication ------------------------------------------------------ */

static void
test_key (Fixture *f, gconstpointer data)
{
  gboolean bootstrap = GPOINTER_TO_INT (data);
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GVariant) uid = NULL, echo = NULL;
  GPid pid;

  g_test_summary ("Key authentication (identity_file) reaches the target as the key user; "
                  "with and without the zero-install bootstrap. Dropping the router ends the "
                  "remote agent.");
  if (f->sshd == NULL)
    return;

  context = connect_ok (f, options (f, KEY_USER (f),
                                    "bootstrap", g_variant_new_boolean (bootstrap),
                                    NULL));
  uid = call_ok (context, "os.getuid", NULL);
  g_assert_cmpuint (g_variant_get_uint32 (uid), ==, uid_of (HOST_KEY_USER));
  echo = call_ok (context, "mitogen.echo", g_variant_new ("(s)", "over ssh"));
  g_assert_cmpstr (g_variant_get_string (echo, NULL), ==, "over ssh");
  pid = remote_pid (context);
  /* The agent's pid, as it told it (a pid on the target host). */
  g_assert_cmpint (mitogen_context_get_pid (context), ==, pid);
  g_assert_cmpint (pid, !=, getpid ());
  g_assert_true (mitogen_test_pid_alive (pid));
  if (!bootstrap && g_getenv ("MITOGEN_AGENT_PATH") != NULL)
    {
      /* The fast path: this machine's agent program, run by its path. */
      g_autofree char *link = g_strdup_printf ("/proc/%d/exe", (int) pid);
      g_autofree char *exe = g_file_read_link (link, NULL);
      g_assert_cmpstr (exe, ==, g_getenv ("MITOGEN_AGENT_PATH"));
    }
  g_clear_object (&context);
  shutdown_router (f);
  g_assert_true (mitogen_test_wait_pid_gone (pid, 5000));
}

static void
test_password (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GVariant) uid = NULL;

  g_test_summary ("Password authentication reaches the target as the password user.");
  if (f->sshd == NULL)
    return;

  context = connect_ok (f, options (f, "username", g_variant_new_string (HOST_PASSWORD_USER),
                                    "password", g_variant_new_string (HOST_PASSWORD),
                                    NULL));
  uid = call_ok (context, "os.getuid", NULL);
  g_assert_cmpuint (g_variant_get_uint32 (uid), ==, uid_of (HOST_PASSWORD_USER));
}

static void
test_password_wrong (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenContext) context = NULL;
  gint64 start = g_get_monotonic_time ();

  g_test_summary ("A wrong password fails with MITOGEN_ERROR_PASSWORD, long before connect_timeout.");
  if (f->sshd == NULL)
    return;

  context = mitogen_router_connect (f->router, "ssh",
                                    options (f, "username", g_variant_new_string (HOST_PASSWORD_USER),
                                             "password", g_variant_new_string ("not the password"),
                                             "connect_timeout", g_variant_new_double (30),
                                             NULL),
                                    NULL, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
  g_assert_nonnull (strstr (error->message, "ssh password is incorrect"));
  g_assert_null (strstr (error->message, "not the password"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * G_USEC_PER_SEC);
}

static void
test_password_missing (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenContext) context = NULL;
  gint64 start = g_get_monotonic_time ();

  g_test_summary ("No password for a user without keys fails with MITOGEN_ERROR_PASSWORD.");
  if (f->sshd == NULL)
    return;

  context = mitogen_router_connect (f->router, "ssh",
                                    options (f, "username", g_variant_new_string (HOST_PASSWORD_USER), NULL),
                                    NULL, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD);
  g_assert_nonnull (strstr (error->message, "ssh requires a password"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * G_USEC_PER_SEC);
}

/* --- host keys ------------------------------------------------------------ */

/* "SHA256:..." of the fixture's host key, as ssh-keygen prints it. */
static char *
host_fingerprint (Fixture *f)
{
  g_autofree char *pub = g_build_filename (f->sshd->dir, "host_key.pub", NULL);
  g_autofree char *out = NULL;
  g_auto(GStrv) parts = NULL;
  int status = 0;

  g_assert_true (g_spawn_sync (NULL, (char *[]) { "ssh-keygen", "-l", "-E", "sha256", "-f", pub, NULL }, NULL,
                               G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL, &status, NULL));
  g_assert_cmpint (status, ==, 0);
  parts = g_strsplit (out, " ", 3);
  g_assert_nonnull (parts[1]);
  return g_strdup (parts[1]);
}

static void
test_host_key_unknown (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autofree char *file = NULL, *fingerprint = NULL, *target = NULL;

  g_test_summary ("Under check_host_keys=enforce an unknown host is refused, naming the host, "
                  "its key type and fingerprint, and the known_hosts file.");
  if (f->sshd == NULL)
    return;

  file = g_build_filename (f->sshd->dir, "empty_known_hosts", NULL);
  context = mitogen_router_connect (f->router, "ssh",
                                    options (f, KEY_USER (f),
                                             "known_hosts_file", g_variant_new_string (file),
                                             "check_host_keys", g_variant_new_string ("enforce"),
                                             NULL),
                                    NULL, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  fingerprint = host_fingerprint (f);
  target = g_strdup_printf ("%s:%d", f->sshd->address, f->sshd->port);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "not a known host"));
  g_assert_nonnull (strstr (error->message, target));
  g_assert_nonnull (strstr (error->message, "ssh-ed25519"));
  g_assert_nonnull (strstr (error->message, fingerprint));
  g_assert_nonnull (strstr (error->message, file));
  g_assert_false (g_file_test (file, G_FILE_TEST_EXISTS));
}

static void
test_host_key_accept_new (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenContext) first = NULL, second = NULL;
  g_autofree char *file = NULL, *text = NULL;
  g_auto(GStrv) key = NULL;

  g_test_summary ("check_host_keys=accept-new accepts an unknown host and records its key; "
                  "enforce then accepts it from that file.");
  if (f->sshd == NULL)
    return;

  file = g_build_filename (f->sshd->dir, "new_known_hosts", NULL);
  first = connect_ok (f, options (f, KEY_USER (f),
                                  "known_hosts_file", g_variant_new_string (file),
                                  "check_host_keys", g_variant_new_string ("accept-new"),
                                  NULL));
  g_assert_true (g_file_get_contents (file, &text, NULL, NULL));
  key = g_strsplit (f->sshd->host_public, " ", 2);
  g_assert_nonnull (strstr (text, key[1]));

  second = connect_ok (f, options (f, KEY_USER (f),
                                   "known_hosts_file", g_variant_new_string (file),
                                   "check_host_keys", g_variant_new_string ("enforce"),
                                   NULL));
  g_variant_unref (call_ok (second, "mitogen.noop", NULL));
}

static void
test_host_key_changed (Fixture *f, gconstpointer data)
{
  g_autofree char *file = g_build_filename (f->sshd ? f->sshd->dir : "/", "changed_known_hosts", NULL);
  g_autofree char *line = NULL;
  const char *policies[] = { "enforce", "accept-new" };

  g_test_summary ("A host key that differs from known_hosts is refused, under enforce and "
                  "accept-new alike, and the error says it changed.");
  if (f->sshd == NULL)
    return;

  line = host_sshd_known_hosts_line (f->sshd, f->sshd->other_public);
  g_assert_true (g_file_set_contents (file, line, -1, NULL));
  for (gsize i = 0; i < G_N_ELEMENTS (policies); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(MitogenContext) context = NULL;
      g_autofree char *fingerprint = host_fingerprint (f);
      g_autofree char *after = NULL;

      context = mitogen_router_connect (f->router, "ssh",
                                        options (f, KEY_USER (f),
                                                 "known_hosts_file", g_variant_new_string (file),
                                                 "check_host_keys", g_variant_new_string (policies[i]),
                                                 NULL),
                                        NULL, NULL, &error);
      g_assert_null (context);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, "CHANGED"));
      g_assert_nonnull (strstr (error->message, fingerprint));
      g_assert_nonnull (strstr (error->message, file));
      g_assert_true (g_file_get_contents (file, &after, NULL, NULL));
      g_assert_cmpstr (after, ==, line);  /* never rewritten */
    }
}

/* --- data ----------------------------------------------------------------- */

static void
test_bulk (Fixture *f, gconstpointer data)
{
  int level = GPOINTER_TO_INT (data);
  const gsize size = 8 * 1024 * 1024;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GVariant) down = NULL, up = NULL;
  g_autofree guint8 *pattern = g_malloc (size);
  const guint8 *bytes;
  gsize len = 0;
  gint64 start;

  g_test_summary ("8 MiB cross the ssh bridge intact in both directions, with compression "
                  "off and at level 9.");
  if (f->sshd == NULL)
    return;

  context = connect_ok (f, options (f, KEY_USER (f),
                                    "compression_level", g_variant_new_int32 (level),
                                    NULL));
  for (gsize i = 0; i < size; i++)
    pattern[i] = (guint8) (7 + i);

  /* Down: the target makes the bytes. */
  start = g_get_monotonic_time ();
  down = call_ok (context, "mitogen.bytes", g_variant_new ("(ty)", (guint64) size, (guint8) 7));
  g_test_message ("8 MiB down: %.1f ms", (g_get_monotonic_time () - start) / 1e3);
  bytes = g_variant_get_fixed_array (down, &len, 1);
  g_assert_cmpmem (bytes, len, pattern, size);

  /* Up and down again: the target echoes what we send. */
  start = g_get_monotonic_time ();
  up = call_ok (context, "mitogen.echo",
                g_variant_new ("(@ay)", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, pattern, size, 1)));
  g_test_message ("8 MiB up and down: %.1f ms", (g_get_monotonic_time () - start) / 1e3);
  bytes = g_variant_get_fixed_array (up, &len, 1);
  g_assert_cmpmem (bytes, len, pattern, size);

  /* Small calls: the bridge adds no waiting of its own. */
  start = g_get_monotonic_time ();
  for (guint i = 0; i < 200; i++)
    g_variant_unref (call_ok (context, "mitogen.noop", NULL));
  g_test_message ("noop round trip: %.0f us", (g_get_monotonic_time () - start) / 200.0);
}

/* --- network namespaces --------------------------------------------------- */

static void
test_netns (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GVariant) uid = NULL;

  g_test_summary ("A host inside a network namespace is reached over its veth address, "
                  "with the system ssh configuration honoured.");
  if (f->sshd == NULL)
    return;

  g_assert_true (g_str_has_prefix (f->sshd->address, "10.250."));
  /* Also: the system's /etc/ssh/ssh_config parses (ssh_config defaults on). */
  context = connect_ok (f, options (f, KEY_USER (f), "ssh_config", g_variant_new_boolean (TRUE), NULL));
  uid = call_ok (context, "os.getuid", NULL);
  g_assert_cmpuint (g_variant_get_uint32 (uid), ==, uid_of (HOST_KEY_USER));
}

static gboolean
run_command (const char *command)
{
  g_autoptr(GError) error = NULL;
  int status = 0;

  if (!g_spawn_command_line_sync (command, NULL, NULL, &status, &error) ||
      !g_spawn_check_wait_status (status, &error))
    {
      g_test_message ("%s: %s", command, error->message);
      return FALSE;
    }
  return TRUE;
}

static char *
host_key_policy (GVariant *value)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenTransport) transport = NULL;
  GVariantBuilder b;
  GParamSpec *pspec;
  GValue v = G_VALUE_INIT;
  GEnumClass *klass;
  char *nick;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "hostname", g_variant_new_string ("example.invalid"));
  g_variant_builder_add (&b, "{sv}", "check_host_keys", value);
  transport = mitogen_transport_new_for_method ("ssh", g_variant_builder_end (&b), &error);
  g_assert_no_error (error);
  pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (transport), "check-host-keys");
  g_value_init (&v, pspec->value_type);
  g_object_get_property (G_OBJECT (transport), "check-host-keys", &v);
  klass = g_type_class_ref (pspec->value_type);
  nick = g_strdup (g_enum_get_value (klass, g_value_get_enum (&v))->value_nick);
  g_type_class_unref (klass);
  return nick;
}

static void
test_host_key_booleans (void)
{
  g_autofree char *on = host_key_policy (g_variant_new_boolean (TRUE));
  g_autofree char *off = host_key_policy (g_variant_new_boolean (FALSE));
  g_autofree char *named = host_key_policy (g_variant_new_string ("accept-new"));

  g_test_summary ("The seed's check_host_keys=True/False are accepted: true enforces, false ignores.");
  g_assert_cmpstr (on, ==, "enforce");
  g_assert_cmpstr (off, ==, "ignore");
  g_assert_cmpstr (named, ==, "accept-new");
}

/* /proc files take a plain write (no temp file and rename). */
static gboolean
write_proc (const char *path,
            const char *value)
{
  FILE *file = fopen (path, "w");
  gboolean ok;

  if (file == NULL)
    return FALSE;
  ok = fputs (value, file) >= 0;
  return fclose (file) == 0 && ok;
}

static void
test_ssh_via_ssh (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenContext) first = NULL;
  g_autoptr(MitogenContext) second = NULL;
  g_autoptr(GVariant) ident = NULL;
  g_autoptr(GVariant) parents = NULL;
  g_autoptr(GVariant) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *forward_was = NULL;
  g_autofree char *key_copy = NULL;
  g_autofree char *cmd = NULL;
  HostSshd *other = NULL;
  GVariantBuilder b;
  gsize len = 0;
  const guint8 *data_bytes;

  g_test_summary ("ssh to a namespaced host, and from there (its agent driving the OpenSSH "
                  "client) ssh to a second namespaced host: calls and bulk data cross both hops.");
  if (f->sshd == NULL)
    return;

  other = host_sshd_start (TRUE, &error);
  g_assert_no_error (error);

  /* Route between the two namespaces through ours: both /30s are ours. */
  g_assert_true (g_file_get_contents ("/proc/sys/net/ipv4/ip_forward", &forward_was, NULL, NULL));
  g_assert_true (write_proc ("/proc/sys/net/ipv4/ip_forward", "1"));
  cmd = g_strdup_printf ("ip netns exec %s ip route replace 10.250.%d.0/30 via 10.250.%d.1",
                         f->sshd->netns, other->index, f->sshd->index);
  g_assert_true (run_command (cmd));
  g_free (cmd);
  cmd = g_strdup_printf ("ip netns exec %s ip route replace 10.250.%d.0/30 via 10.250.%d.1",
                         other->netns, f->sshd->index, other->index);
  g_assert_true (run_command (cmd));

  /* The first hop runs as the key user: give it the second host's key,
   * in a file it owns. */
  key_copy = g_build_filename (f->sshd->dir, "hop2_key", NULL);
  g_free (cmd);
  cmd = g_strdup_printf ("sh -c 'cp %s %s && chown %s %s && chmod 600 %s'", other->client_key,
                         key_copy, HOST_KEY_USER, key_copy, key_copy);
  g_assert_true (run_command (cmd));

  first = connect_ok (f, options (f, KEY_USER (f), NULL));

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "hostname", g_variant_new_string (other->address));
  g_variant_builder_add (&b, "{sv}", "port", g_variant_new_int32 (other->port));
  g_variant_builder_add (&b, "{sv}", "username", g_variant_new_string (HOST_KEY_USER));
  g_variant_builder_add (&b, "{sv}", "identity_file", g_variant_new_string (key_copy));
  g_variant_builder_add (&b, "{sv}", "check_host_keys", g_variant_new_string ("ignore"));
  g_variant_builder_add (&b, "{sv}", "ssh_config", g_variant_new_boolean (FALSE));
  second = mitogen_router_connect (f->router, "ssh", g_variant_builder_end (&b), first, NULL, &error);
  g_assert_no_error (error);

  ident = call_ok (second, "mitogen.identity", NULL);
  parents = g_variant_lookup_value (ident, "parent_ids", G_VARIANT_TYPE ("au"));
  g_assert_cmpuint (g_variant_n_children (parents), ==, 2);

  bytes = call_ok (second, "mitogen.bytes", g_variant_new ("(ty)", (guint64) 4 << 20, (guint8) 9));
  data_bytes = g_variant_get_fixed_array (bytes, &len, 1);
  g_assert_cmpuint (len, ==, 4 << 20);
  g_assert_cmpuint (data_bytes[len - 1], ==, (guint8) (9 + len - 1));

  g_clear_object (&second);
  g_clear_object (&first);
  shutdown_router (f);
  write_proc ("/proc/sys/net/ipv4/ip_forward", forward_was);
  host_sshd_stop (other);
}

static void
test_link_cut (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(MitogenReceiver) receiver = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  gint64 start, elapsed;
  GPid pid;

  g_test_summary ("Cutting the link during a call fails that call with CHANNEL within the "
                  "keepalive deadline (interval 1 s x 2), and the remote agent exits by itself "
                  "once sshd gives up on us.");
  if (f->sshd == NULL)
    return;

  context = connect_ok (f, options (f, KEY_USER (f),
                                    "keepalive_interval", g_variant_new_double (1.0),
                                    "keepalive_count", g_variant_new_int32 (2),
                                    NULL));
  pid = remote_pid (context);
  g_assert_true (mitogen_test_pid_alive (pid));

  receiver = mitogen_context_begin_call (context, "mitogen.sleep", g_variant_new ("(d)", 60.0));
  g_usleep (200000);
  start = g_get_monotonic_time ();
  host_sshd_set_link (f->sshd, FALSE, &error);
  g_assert_no_error (error);

  message = mitogen_receiver_get (receiver, 20, &error);
  elapsed = g_get_monotonic_time () - start;
  g_assert_null (message);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_test_message ("call failed %.2f s after the cut", elapsed / 1e6);
  /* interval x count, plus up to one interval of phase, plus slack */
  g_assert_cmpint (elapsed, <, 5 * G_USEC_PER_SEC);
  g_assert_false (mitogen_context_is_connected (context));

  /* sshd: ClientAliveInterval 1, ClientAliveCountMax 2. */
  g_assert_true (mitogen_test_wait_pid_gone (pid, 10000));
}

static void
test_stream_keepalive (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(MitogenReceiver) receiver = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  gint64 start, elapsed;
  GPid pid;

  g_test_summary ("With the ssh link's own keepalive off (ssh_keepalive false), the stream "
                  "keepalive (1 s x 2) still notices a cut link: the call fails with CHANNEL "
                  "naming the keepalive, and the remote agent exits by itself.");
  if (f->sshd == NULL)
    return;

  context = connect_ok (f, options (f, KEY_USER (f),
                                    "keepalive_interval", g_variant_new_double (1.0),
                                    "keepalive_count", g_variant_new_int32 (2),
                                    "ssh_keepalive", g_variant_new_boolean (FALSE),
                                    NULL));
  pid = remote_pid (context);
  g_assert_true (mitogen_test_pid_alive (pid));

  receiver = mitogen_context_begin_call (context, "mitogen.sleep", g_variant_new ("(d)", 60.0));
  g_usleep (200000);
  start = g_get_monotonic_time ();
  host_sshd_set_link (f->sshd, FALSE, &error);
  g_assert_no_error (error);

  message = mitogen_receiver_get (receiver, 20, &error);
  elapsed = g_get_monotonic_time () - start;
  g_assert_null (message);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_test_message ("call failed %.2f s after the cut: %s", elapsed / 1e6, error->message);
  g_assert_nonnull (strstr (error->message, "no answer to keepalives"));
  g_assert_cmpint (elapsed, <, 5 * G_USEC_PER_SEC);
  g_assert_false (mitogen_context_is_connected (context));

  /* Its own stream keepalive (1 s x 2, from its configuration), or sshd. */
  g_assert_true (mitogen_test_wait_pid_gone (pid, 10000));
}

/* --- failures while connecting and while connected ------------------------ */

static void
test_connect_refused (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenContext) context = NULL;
  gint64 start = g_get_monotonic_time ();
  int port;

  g_test_summary ("A closed port fails at once with STREAM, naming the connect step and the target.");
  if (f->sshd == NULL)
    return;

  /* sshd's port, after sshd is gone: nothing listens there. */
  port = f->sshd->port;
  host_sshd_stop (g_steal_pointer (&f->sshd));
  {
    GVariantBuilder builder;
    g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&builder, "{sv}", "hostname", g_variant_new_string ("127.0.0.1"));
    g_variant_builder_add (&builder, "{sv}", "port", g_variant_new_int32 (port));
    g_variant_builder_add (&builder, "{sv}", "check_host_keys", g_variant_new_string ("ignore"));
    context = mitogen_router_connect (f->router, "ssh", g_variant_builder_end (&builder), NULL, NULL, &error);
  }
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "ssh: connect to 127.0.0.1:"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
}

static void
test_connect_timeout (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenContext) context = NULL;
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof addr;
  GVariantBuilder builder;
  gint64 start;
  int fd;

  g_test_summary ("A server that accepts the TCP connection but never speaks SSH fails with "
                  "TIMEOUT at connect_timeout.");
  if (f->sshd == NULL)
    return;

  /* Listens, never accepts: the kernel completes the handshake, no banner comes. */
  fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (fd, 4), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &addr, &len), ==, 0);

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "hostname", g_variant_new_string ("127.0.0.1"));
  g_variant_builder_add (&builder, "{sv}", "port", g_variant_new_int32 (ntohs (addr.sin_port)));
  g_variant_builder_add (&builder, "{sv}", "connect_timeout", g_variant_new_double (1.0));
  start = g_get_monotonic_time ();
  context = mitogen_router_connect (f->router, "ssh", g_variant_builder_end (&builder), NULL, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "ssh handshake"));  /* the step that hung */
  g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
  close (fd);
}

static void
cancel_soon_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  GAsyncResult **out = user_data;
  *out = g_object_ref (result);
}

static gboolean
cancel_cb (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_REMOVE;
}

static void
test_connect_cancel (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GMainContext) main_context = g_main_context_new ();
  GSource *timeout;

  g_test_summary ("Cancelling a connect in progress fails it with G_IO_ERROR_CANCELLED.");
  if (f->sshd == NULL)
    return;

  g_main_context_push_thread_default (main_context);
  mitogen_router_connect_async (f->router, "ssh", options (f, KEY_USER (f), NULL), NULL, cancellable,
                                cancel_soon_cb, &result);
  timeout = g_timeout_source_new (5);
  g_source_set_callback (timeout, cancel_cb, cancellable, NULL);
  g_source_attach (timeout, main_context);
  g_source_unref (timeout);
  while (result == NULL)
    g_main_context_iteration (main_context, TRUE);
  g_main_context_pop_thread_default (main_context);

  context = mitogen_router_connect_finish (f->router, result, &error);
  g_assert_null (context);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
test_stderr_in_error (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenContext) context = NULL;

  g_test_summary ("The remote command's stderr crosses the bridge: a target that cannot start "
                  "the agent fails with its stderr in the error.");
  if (f->sshd == NULL)
    return;

  context = mitogen_router_connect (f->router, "ssh",
                                    options (f, KEY_USER (f),
                                             "bootstrap", g_variant_new_boolean (TRUE),
                                             "bootstrap_shell", g_variant_new_string ("/nonexistent/mitogen-sh"),
                                             NULL),
                                    NULL, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "/nonexistent/mitogen-sh"));
}

static void
test_remote_kill (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(MitogenReceiver) receiver = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  gint64 start;
  GPid pid;

  g_test_summary ("kill -9 of the remote agent during a call fails the call with CHANNEL "
                  "at once (under 2 s): the channel closing closes the stream.");
  if (f->sshd == NULL)
    return;

  context = connect_ok (f, options (f, KEY_USER (f), NULL));
  pid = remote_pid (context);
  receiver = mitogen_context_begin_call (context, "mitogen.sleep", g_variant_new ("(d)", 30.0));
  g_usleep (100000);
  start = g_get_monotonic_time ();
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  message = mitogen_receiver_get (receiver, 10, &error);
  g_assert_null (message);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
}

typedef struct
{
  MitogenContext *context;
  guint           n;
  gint           *failures;
} Worker;

static gpointer
worker_thread (gpointer data)
{
  Worker *w = data;

  for (guint i = 0; i < 50; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *token = g_strdup_printf ("worker %u call %u", w->n, i);
      g_autoptr(GVariant) value = mitogen_context_call (w->context, "mitogen.echo",
                                                        g_variant_new ("(s)", token), NULL, &error);
      if (value == NULL || g_strcmp0 (g_variant_get_string (value, NULL), token) != 0)
        g_atomic_int_inc (w->failures);
    }
  return NULL;
}

static void
test_concurrent (Fixture *f, gconstpointer data)
{
  MitogenContext *contexts[3] = { NULL };
  GThread *threads[6];
  Worker workers[6];
  gint failures = 0;

  g_test_summary ("Three ssh contexts, two threads calling each at once: every reply is its own.");
  if (f->sshd == NULL)
    return;

  for (guint i = 0; i < G_N_ELEMENTS (contexts); i++)
    contexts[i] = connect_ok (f, options (f, KEY_USER (f), NULL));
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      workers[i] = (Worker) { contexts[i % 3], i, &failures };
      threads[i] = g_thread_new ("caller", worker_thread, &workers[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  g_assert_cmpint (failures, ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (contexts); i++)
    g_object_unref (contexts[i]);
}

/* --- the OpenSSH client --------------------------------------------------- */

static void
test_openssh_client (Fixture *f, gconstpointer data)
{
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GVariant) uid = NULL, down = NULL;
  g_autofree char *ssh = g_find_program_in_path ("ssh");
  gsize len = 0;
  GPid pid;

  g_test_summary ("ssh_path runs the OpenSSH client as a local child (key authentication); "
                  "the context works like a libssh one and the client is reaped.");
  if (f->sshd == NULL)
    return;
  if (ssh == NULL)
    {
      g_test_skip ("needs the OpenSSH client (ssh)");
      return;
    }

  context = connect_ok (f, options (f, KEY_USER (f),
                                    "ssh_path", g_variant_new_string (ssh),
                                    NULL));
  {
    g_autoptr(MitogenStream) stream = mitogen_router_stream_by_id (f->router, mitogen_context_get_id (context));

    pid = mitogen_stream_get_pid (stream);
  }
  g_assert_cmpint (pid, >, 0);  /* the local ssh client */
  g_assert_cmpint (pid, !=, mitogen_context_get_pid (context));  /* ... not the agent */
  uid = call_ok (context, "os.getuid", NULL);
  g_assert_cmpuint (g_variant_get_uint32 (uid), ==, uid_of (HOST_KEY_USER));
  down = call_ok (context, "mitogen.bytes", g_variant_new ("(ty)", (guint64) 1024 * 1024, (guint8) 1));
  g_variant_get_fixed_array (down, &len, 1);
  g_assert_cmpuint (len, ==, 1024 * 1024);

  g_clear_object (&context);
  shutdown_router (f);
  g_assert_false (mitogen_test_pid_alive (pid));
}

static void
test_openssh_client_password (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenContext) context = NULL;
  GVariantBuilder builder;

  g_test_summary ("A password with ssh_path is refused clearly: BatchMode never prompts.");
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "hostname", g_variant_new_string ("127.0.0.1"));
  g_variant_builder_add (&builder, "{sv}", "ssh_path", g_variant_new_string ("/usr/bin/ssh"));
  g_variant_builder_add (&builder, "{sv}", "password", g_variant_new_string ("secret"));
  context = mitogen_router_connect (router, "ssh", g_variant_builder_end (&builder), NULL, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "ssh_path"));
  g_assert_null (strstr (error->message, "secret"));
  mitogen_router_shutdown (router);
}

static void
test_options (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenTransport) transport = NULL;
  GVariantBuilder builder;
  GParamSpec *pspec;

  g_test_summary ("ssh options are typed properties with descriptions: a bad value is a clear "
                  "INVALID_ARGUMENT; the defaults are documented ones.");

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "check_host_keys", g_variant_new_string ("sometimes"));
  transport = mitogen_transport_new_for_method ("ssh", g_variant_builder_end (&builder), &error);
  g_assert_null (transport);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "accept-new"));
  g_clear_error (&error);

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "compression_level", g_variant_new_int32 (10));
  transport = mitogen_transport_new_for_method ("ssh", g_variant_builder_end (&builder), &error);
  g_assert_null (transport);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  transport = mitogen_transport_new_for_method ("ssh", NULL, &error);
  g_assert_no_error (error);
  {
    int check = -1, count = -1;
    double interval = 0;
    gboolean config = FALSE, ssh_keepalive = FALSE;
    g_object_get (transport, "check-host-keys", &check, "keepalive-interval", &interval,
                  "keepalive-count", &count, "ssh-config", &config, "ssh-keepalive", &ssh_keepalive, NULL);
    g_assert_cmpint (check, ==, 0);  /* enforce */
    /* Not given: the ssh link keepalive's own 15 s x 3, the stream's from
     * the router (docs/ssh.md). */
    g_assert_cmpfloat (interval, ==, -1);
    g_assert_cmpint (count, ==, 0);
    g_assert_true (ssh_keepalive);
    g_assert_true (config);
  }
  pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (transport), "password");
  g_assert_nonnull (pspec);
  g_assert_false (pspec->flags & G_PARAM_READABLE);  /* never read back */
  g_assert_nonnull (g_param_spec_get_blurb (pspec));
}

/* A program's own functions over ssh into a namespaced host, then on
 * through sudo: the example ships itself (agent=self); the second run
 * ships nothing; the leaf of ssh -> sudo runs as the sudo target. */
static void
test_self_replicate (Fixture *f, gconstpointer data)
{
  static const char dropin[] = "/etc/sudoers.d/mitogen-test-self";
  g_autofree char *ssh = NULL, *chain = NULL, *out = NULL, *expect_uid = NULL;
  g_autoptr(GError) error = NULL;
  int status;

  g_test_summary ("docs/examples/self-replicate runs its own demo.* functions over ssh into a "
                  "network-namespaced host (cold: the closure is shipped; warm: 0 bytes), and "
                  "through a via chain ssh -> sudo whose leaf runs as the sudo target.");
  if (f->sshd == NULL)
    return;

  ssh = g_strdup_printf ("ssh:hostname=%s,port=%d,username=%s,identity_file=%s,known_hosts_file=%s,"
                         "ssh_config=false",
                         f->sshd->address, f->sshd->port, HOST_KEY_USER, f->sshd->client_key,
                         f->sshd->known_hosts);
  host_clear_self_cache (HOST_KEY_USER);
  for (int run = 0; run < 2; run++)
    {
      guint64 bytes;

      g_clear_pointer (&out, g_free);
      out = host_run_self_example ((const char *[]) { ssh, NULL }, &status);
      g_test_message ("run %d: %s", run, out);
      g_assert_cmpint (status, ==, 0);
      g_assert_nonnull (strstr (out, "demo.add(2, 3) = 5"));
      bytes = host_self_example_bytes (out, ssh);
      if (run == 0)
        g_assert_cmpuint (bytes, >, 1000000);
      else
        g_assert_cmpuint (bytes, ==, 0);
    }

  /* ssh -> sudo: the key user may become the password user. */
  g_assert_true (g_file_set_contents (dropin, HOST_KEY_USER " ALL=(" HOST_PASSWORD_USER ") NOPASSWD: ALL\n",
                                      -1, &error));
  g_assert_no_error (error);
  chmod (dropin, 0440);
  chain = g_strdup_printf ("%s::sudo:username=%s", ssh, HOST_PASSWORD_USER);
  host_clear_self_cache (HOST_PASSWORD_USER);
  g_clear_pointer (&out, g_free);
  out = host_run_self_example ((const char *[]) { chain, NULL }, &status);
  unlink (dropin);
  g_test_message ("ssh -> sudo: %s", out);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "demo.add(2, 3) = 5"));
  /* The leaf's files were shipped by the ssh context, from its own copy
   * (its run directory is not readable by the sudo target). */
  g_assert_cmpuint (host_self_example_bytes (out, chain), >, 1000000);
  expect_uid = g_strdup_printf (" uid %u,", uid_of (HOST_PASSWORD_USER));
  g_assert_nonnull (strstr (out, expect_uid));
}

int
main (int   argc,
      char *argv[])
{
  HostSshd *agent_holder = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);

  /* The no-bootstrap fast path runs the agent by its path as the test
   * users: give them a copy they can reach, wherever the build tree is. */
  if (host_fixture_unavailable (FALSE) == NULL && g_getenv ("MITOGEN_AGENT_PATH") == NULL)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *agent = g_build_filename (MITOGEN_BUILD_ROOT, "agent", "mitogen-agent", NULL);
      g_autofree char *copy = host_fixture_public_agent (agent, &agent_holder, &error);

      g_assert_no_error (error);
      g_setenv ("MITOGEN_AGENT_PATH", copy, TRUE);
    }

#define ADD(path, data, setup, fn) g_test_add (path, Fixture, data, setup, fn, tear_down)
  ADD ("/ssh/auth/key", GINT_TO_POINTER (TRUE), set_up_loopback, test_key);
  ADD ("/ssh/auth/key-no-bootstrap", GINT_TO_POINTER (FALSE), set_up_loopback, test_key);
  ADD ("/ssh/auth/password", NULL, set_up_loopback, test_password);
  ADD ("/ssh/auth/password-wrong", NULL, set_up_loopback, test_password_wrong);
  ADD ("/ssh/auth/password-missing", NULL, set_up_loopback, test_password_missing);
  ADD ("/ssh/host-key/unknown-enforce", NULL, set_up_loopback, test_host_key_unknown);
  ADD ("/ssh/host-key/accept-new", NULL, set_up_loopback, test_host_key_accept_new);
  ADD ("/ssh/host-key/changed", NULL, set_up_loopback, test_host_key_changed);
  ADD ("/ssh/data/8m-compression-0", GINT_TO_POINTER (0), set_up_loopback, test_bulk);
  ADD ("/ssh/data/8m-compression-9", GINT_TO_POINTER (9), set_up_loopback, test_bulk);
  ADD ("/ssh/data/concurrent", NULL, set_up_loopback, test_concurrent);
  ADD ("/ssh/failure/connect-refused", NULL, set_up_loopback, test_connect_refused);
  ADD ("/ssh/failure/connect-timeout", NULL, set_up_loopback, test_connect_timeout);
  ADD ("/ssh/failure/connect-cancel", NULL, set_up_loopback, test_connect_cancel);
  ADD ("/ssh/failure/stderr-in-error", NULL, set_up_loopback, test_stderr_in_error);
  ADD ("/ssh/failure/remote-kill9", NULL, set_up_loopback, test_remote_kill);
  ADD ("/ssh/netns/connect", NULL, set_up_netns, test_netns);
  ADD ("/ssh/netns/link-cut", NULL, set_up_netns, test_link_cut);
  ADD ("/ssh/netns/stream-keepalive", NULL, set_up_netns, test_stream_keepalive);
  ADD ("/ssh/netns/ssh-via-ssh", NULL, set_up_netns, test_ssh_via_ssh);
  ADD ("/ssh/netns/self-replicate", NULL, set_up_netns, test_self_replicate);
  g_test_add_func ("/ssh/options/host-key-booleans", test_host_key_booleans);
  ADD ("/ssh/openssh-client/key", NULL, set_up_loopback, test_openssh_client);
#undef ADD
  g_test_add_func ("/ssh/openssh-client/password-refused", test_openssh_client_password);
  g_test_add_func ("/ssh/options", test_options);

  status = g_test_run ();
  host_sshd_stop (agent_holder);
  return status;
}
