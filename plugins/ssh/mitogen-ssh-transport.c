/* mitogen-ssh-transport.c — the `ssh` method: a context on another machine
 *
 * The seed's `Router.ssh()`. Two ways to reach the target:
 *
 * - libssh (the default): the connection is driven without blocking from
 *   sources on the broker's main context, and its channel is bridged to a
 *   socketpair (mitogen-ssh-connection.c).
 * - the OpenSSH client (`ssh_path`): `ssh -T -o BatchMode=yes … HOST CMD`
 *   runs as a local child whose stdin/stdout are one end of a socketpair;
 *   for what only OpenSSH does (ProxyJump chains, GSSAPI, certificates,
 *   ControlMaster). No password: BatchMode never prompts.
 *
 * Built with MITOGEN_SSH_OPENSSH_ONLY (for a program that cannot link
 * libssh, e.g. a fully static agent) only the second way exists, and
 * ssh_path defaults to `ssh` from PATH.
 *
 * needs_bootstrap is TRUE (the target has nothing installed; the core
 * ships the agent down the stream, DESIGN §6), except when
 * MITOGEN_SSH_NO_BOOTSTRAP=1 is set in the environment when the class is
 * first used: the core then passes the local agent's path, which is right
 * for targets sharing this machine's filesystem (loopback, network
 * namespaces, tests) and skips shipping the agent.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-ssh"

#include "config.h"

#include <string.h>
#include <unistd.h>

#ifndef MITOGEN_SSH_OPENSSH_ONLY
# include <libssh/libssh.h>
#endif

#include "mitogen-ssh-connection.h"
#include "mitogen-ssh-transport.h"

struct _MitogenSshTransport
{
  MitogenTransport        parent_instance;

  char                   *hostname;            /* (owned) (nullable) */
  char                   *username;            /* (owned) (nullable) */
  int                     port;
  char                   *password;            /* (owned) (nullable) write-only */
  char                   *identity_file;       /* (owned) (nullable) */
  MitogenSshHostKeyPolicy check_host_keys;
  char                   *known_hosts_file;    /* (owned) (nullable) */
  int                     compression_level;
  gboolean                ssh_config;
  gboolean                ssh_keepalive;
  char                   *ssh_path;            /* (owned) (nullable) */
  char                  **ssh_args;            /* (owned) (nullable) */
};

typedef enum
{
  PROP_HOSTNAME = 1,
  PROP_USERNAME,
  PROP_PORT,
  PROP_PASSWORD,
  PROP_IDENTITY_FILE,
  PROP_CHECK_HOST_KEYS,
  PROP_KNOWN_HOSTS_FILE,
  PROP_COMPRESSION_LEVEL,
  PROP_SSH_CONFIG,
  PROP_SSH_KEEPALIVE,
  PROP_SSH_PATH,
  PROP_SSH_ARGS,
} MitogenSshTransportProperty;

static GParamSpec *props[PROP_SSH_ARGS + 1];

G_DEFINE_DYNAMIC_TYPE (MitogenSshTransport, mitogen_ssh_transport, MITOGEN_TYPE_TRANSPORT)

static GType host_key_policy_type;

GType
mitogen_ssh_host_key_policy_get_type (void)
{
  return host_key_policy_type;
}

/* The SSH-level keepalive: the shared keepalive_interval and
 * keepalive_count options (which also drive the stream keepalive) when
 * given, else every 15 s, 3 unanswered; none with ssh_keepalive false. */
static void
ssh_keepalive (MitogenSshTransport *self,
               double              *interval,
               int                 *count)
{
  double given_interval = mitogen_transport_get_keepalive_interval (MITOGEN_TRANSPORT (self));
  int given_count = mitogen_transport_get_keepalive_count (MITOGEN_TRANSPORT (self));

  *interval = !self->ssh_keepalive ? 0 : given_interval >= 0 ? given_interval : 15.0;
  *count = given_count > 0 ? given_count : 3;
}

/* The OpenSSH client's command line for @command. */
static GPtrArray *
openssh_argv (MitogenSshTransport *self,
              const char          *ssh_path,
              const char          *command)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  double timeout = mitogen_transport_get_connect_timeout (MITOGEN_TRANSPORT (self));
  double keepalive_interval;
  int keepalive_count;

  ssh_keepalive (self, &keepalive_interval, &keepalive_count);

#define ADD(...) g_ptr_array_add (argv, g_strdup_printf (__VA_ARGS__))
  ADD ("%s", ssh_path);
  ADD ("-T");
  ADD ("-o"); ADD ("BatchMode=yes");
  ADD ("-o"); ADD ("LogLevel=ERROR");
  ADD ("-o"); ADD ("ConnectTimeout=%d", (int) MAX (1.0, timeout + 0.999));
  if (!self->ssh_config)
    {
      ADD ("-F"); ADD ("none");
    }
  switch (self->check_host_keys)
    {
    case MITOGEN_SSH_HOST_KEY_ENFORCE:
      ADD ("-o"); ADD ("StrictHostKeyChecking=yes");
      break;
    case MITOGEN_SSH_HOST_KEY_ACCEPT_NEW:
      ADD ("-o"); ADD ("StrictHostKeyChecking=accept-new");
      break;
    case MITOGEN_SSH_HOST_KEY_IGNORE:
    default:
      ADD ("-o"); ADD ("StrictHostKeyChecking=no");
      ADD ("-o"); ADD ("UserKnownHostsFile=/dev/null");
      break;
    }
  if (self->known_hosts_file != NULL && self->check_host_keys != MITOGEN_SSH_HOST_KEY_IGNORE)
    {
      ADD ("-o"); ADD ("UserKnownHostsFile=%s", self->known_hosts_file);
    }
  if (keepalive_interval > 0)
    {
      ADD ("-o"); ADD ("ServerAliveInterval=%d", (int) MAX (1.0, keepalive_interval + 0.999));
      ADD ("-o"); ADD ("ServerAliveCountMax=%d", keepalive_count);
    }
  if (self->compression_level > 0)
    {
      ADD ("-o"); ADD ("Compression=yes");
    }
  if (self->port > 0)
    {
      ADD ("-p"); ADD ("%d", self->port);
    }
  if (self->username != NULL)
    {
      ADD ("-l"); ADD ("%s", self->username);
    }
  if (self->identity_file != NULL)
    {
      ADD ("-i"); ADD ("%s", self->identity_file);
    }
  for (gsize i = 0; self->ssh_args != NULL && self->ssh_args[i] != NULL; i++)
    ADD ("%s", self->ssh_args[i]);
  ADD ("%s", self->hostname);
  ADD ("%s", command);
#undef ADD
  g_ptr_array_add (argv, NULL);
  return argv;
}

/* Broker thread: the OpenSSH client as a local child; completes @task. */
static void
spawn_openssh (MitogenSshTransport  *self,
               const char           *ssh_path,
               const char           *command,
               GTask                *task)
{
  GError *error = NULL;
  g_autoptr(GPtrArray) argv = openssh_argv (self, ssh_path, command);
  int read_fd = -1, write_fd = -1, stderr_fd = -1;
  GPid pid = 0;

  /* A session of its own: a Ctrl-C on our terminal is ours to handle
   * (passed on to the program `mitogen run` runs), it must not kill the
   * connection. SIGTERM when we die: the client says goodbye. */
  if (!mitogen_transport_spawn_command (MITOGEN_TRANSPORT (self), (const char * const *) argv->pdata, NULL,
                                        MITOGEN_SPAWN_TERM_WITH_PARENT,
                                        &read_fd, &write_fd, &stderr_fd, &pid, &error))
    {
      g_prefix_error (&error, "ssh: ");
      g_task_return_error (task, error);
      return;
    }
  g_debug ("ssh: %s: started %s (pid %d)", self->hostname, ssh_path, (int) pid);
  mitogen_transport_return_spawned (task, read_fd, write_fd, stderr_fd, pid);
}

#ifndef MITOGEN_SSH_OPENSSH_ONLY
/* Broker thread: libssh, driven from the thread-default main context. */
static void
spawn_libssh (MitogenSshTransport *self,
              const char          *command,
              GTask               *task)
{
  MitogenSshParams params = { 0 };

  params.hostname = g_strdup (self->hostname);
  params.username = g_strdup (self->username);
  params.port = self->port;
  params.password = g_strdup (self->password);
  params.identity_file = g_strdup (self->identity_file);
  params.check_host_keys = self->check_host_keys;
  params.known_hosts_file = g_strdup (self->known_hosts_file);
  params.compression_level = self->compression_level;
  params.ssh_config = self->ssh_config;
  ssh_keepalive (self, &params.keepalive_interval, &params.keepalive_count);
  params.connect_timeout = mitogen_transport_get_connect_timeout (MITOGEN_TRANSPORT (self));
  mitogen_ssh_connection_start (&params, command, task);
}
#endif

static gboolean
mitogen_no_bootstrap (void)
{
  const char *value = g_getenv ("MITOGEN_SSH_NO_BOOTSTRAP");

  return value != NULL && value[0] != '\0' && g_strcmp0 (value, "0") != 0;
}

/* Broker thread, the broker's main context thread-default. */
static void
mitogen_ssh_transport_spawn_async (MitogenTransport    *transport,
                                   const char * const  *argv,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  MitogenSshTransport *self = MITOGEN_SSH_TRANSPORT (transport);
  g_autoptr(GTask) task = NULL;
  g_autofree char *command = NULL;
  const char *ssh_path = self->ssh_path;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_ssh_transport_spawn_async);

  if (self->hostname == NULL || self->hostname[0] == '\0')
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                               "ssh: the hostname option is required");
      return;
    }
  if (self->hostname[0] == '-')
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                               "ssh: invalid hostname '%s'", self->hostname);
      return;
    }
  if (argv == NULL || argv[0] == NULL)
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                               "ssh: no command to run");
      return;
    }
  command = mitogen_ssh_quote_argv (argv);
#ifdef MITOGEN_SSH_OPENSSH_ONLY
  if (ssh_path == NULL)
    ssh_path = "ssh";
#endif

  if (ssh_path != NULL)
    {
      if (self->password != NULL)
        {
          g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                                   "ssh: the password option cannot be used with ssh_path: the OpenSSH "
                                   "client runs with BatchMode=yes and never prompts; use key "
                                   "authentication, or leave ssh_path unset to use libssh");
          return;
        }
      spawn_openssh (self, ssh_path, command, task);
      return;
    }

#ifndef MITOGEN_SSH_OPENSSH_ONLY
  spawn_libssh (self, command, task);
#endif
}

static void
mitogen_ssh_transport_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  MitogenSshTransport *self = MITOGEN_SSH_TRANSPORT (object);

  switch ((MitogenSshTransportProperty) prop_id)
    {
    case PROP_HOSTNAME:
      g_value_set_string (value, self->hostname);
      break;
    case PROP_USERNAME:
      g_value_set_string (value, self->username);
      break;
    case PROP_PORT:
      g_value_set_int (value, self->port);
      break;
    case PROP_IDENTITY_FILE:
      g_value_set_string (value, self->identity_file);
      break;
    case PROP_CHECK_HOST_KEYS:
      g_value_set_enum (value, self->check_host_keys);
      break;
    case PROP_KNOWN_HOSTS_FILE:
      g_value_set_string (value, self->known_hosts_file);
      break;
    case PROP_COMPRESSION_LEVEL:
      g_value_set_int (value, self->compression_level);
      break;
    case PROP_SSH_CONFIG:
      g_value_set_boolean (value, self->ssh_config);
      break;
    case PROP_SSH_KEEPALIVE:
      g_value_set_boolean (value, self->ssh_keepalive);
      break;
    case PROP_SSH_PATH:
      g_value_set_string (value, self->ssh_path);
      break;
    case PROP_SSH_ARGS:
      g_value_set_boxed (value, self->ssh_args);
      break;
    case PROP_PASSWORD:  /* write-only */
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
set_string (char         **field,
            const GValue  *value)
{
  g_free (*field);
  *field = g_value_dup_string (value);
}

static void
mitogen_ssh_transport_set_property (GObject      *object,
                                    guint         prop_id,
                                    const GValue *value,
                                    GParamSpec   *pspec)
{
  MitogenSshTransport *self = MITOGEN_SSH_TRANSPORT (object);

  switch ((MitogenSshTransportProperty) prop_id)
    {
    case PROP_HOSTNAME:
      set_string (&self->hostname, value);
      break;
    case PROP_USERNAME:
      set_string (&self->username, value);
      break;
    case PROP_PORT:
      self->port = g_value_get_int (value);
      break;
    case PROP_PASSWORD:
      if (self->password != NULL)
        memset (self->password, 0, strlen (self->password));
      set_string (&self->password, value);
      break;
    case PROP_IDENTITY_FILE:
      set_string (&self->identity_file, value);
      break;
    case PROP_CHECK_HOST_KEYS:
      self->check_host_keys = g_value_get_enum (value);
      break;
    case PROP_KNOWN_HOSTS_FILE:
      set_string (&self->known_hosts_file, value);
      break;
    case PROP_COMPRESSION_LEVEL:
      self->compression_level = g_value_get_int (value);
      break;
    case PROP_SSH_CONFIG:
      self->ssh_config = g_value_get_boolean (value);
      break;
    case PROP_SSH_KEEPALIVE:
      self->ssh_keepalive = g_value_get_boolean (value);
      break;
    case PROP_SSH_PATH:
      set_string (&self->ssh_path, value);
      break;
    case PROP_SSH_ARGS:
      g_strfreev (self->ssh_args);
      self->ssh_args = g_value_dup_boxed (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_ssh_transport_finalize (GObject *object)
{
  MitogenSshTransport *self = MITOGEN_SSH_TRANSPORT (object);

  g_clear_pointer (&self->hostname, g_free);
  g_clear_pointer (&self->username, g_free);
  if (self->password != NULL)
    memset (self->password, 0, strlen (self->password));
  g_clear_pointer (&self->password, g_free);
  g_clear_pointer (&self->identity_file, g_free);
  g_clear_pointer (&self->known_hosts_file, g_free);
  g_clear_pointer (&self->ssh_path, g_free);
  g_clear_pointer (&self->ssh_args, g_strfreev);
  G_OBJECT_CLASS (mitogen_ssh_transport_parent_class)->finalize (object);
}

static void
mitogen_ssh_transport_class_init (MitogenSshTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MitogenTransportClass *transport_class = MITOGEN_TRANSPORT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->get_property = mitogen_ssh_transport_get_property;
  object_class->set_property = mitogen_ssh_transport_set_property;
  object_class->finalize = mitogen_ssh_transport_finalize;
  transport_class->spawn_async = mitogen_ssh_transport_spawn_async;
  /* `METHOD:VALUE` on a command line sets this option. */
  transport_class->short_option = "hostname";
  /* The real design ships the agent (zero-install). The switch is for
   * targets that share this machine's filesystem; see docs/ssh.md. */
  transport_class->needs_bootstrap = !mitogen_no_bootstrap ();

  props[PROP_HOSTNAME] =
    g_param_spec_string ("hostname", NULL,
                         "Host to connect to (a name, an address, or an alias from ~/.ssh/config; "
                         "USER@HOST works too). Required",
                         NULL, rw);
  props[PROP_USERNAME] =
    g_param_spec_string ("username", NULL,
                         "User to log in as (default: the ssh config's User, else ours)",
                         NULL, rw);
  props[PROP_PORT] =
    g_param_spec_int ("port", NULL,
                      "TCP port (0: the ssh config's Port, else 22)",
                      0, 65535, 0, rw);
  props[PROP_PASSWORD] =
    g_param_spec_string ("password", NULL,
                         "Password for password or keyboard-interactive authentication "
                         "(tried after keys; never logged)",
                         NULL, G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  props[PROP_IDENTITY_FILE] =
    g_param_spec_string ("identity-file", NULL,
                         "Private key file, tried before the default keys (after ssh-agent)",
                         NULL, rw);
  props[PROP_CHECK_HOST_KEYS] =
    g_param_spec_enum ("check-host-keys", NULL,
                       "Host key policy: enforce (must be in known_hosts), accept-new "
                       "(record unknown hosts; a changed key is still refused), or ignore",
                       MITOGEN_TYPE_SSH_HOST_KEY_POLICY, MITOGEN_SSH_HOST_KEY_ENFORCE, rw);
  props[PROP_KNOWN_HOSTS_FILE] =
    g_param_spec_string ("known-hosts-file", NULL,
                         "known_hosts file (default: ~/.ssh/known_hosts)",
                         NULL, rw);
  props[PROP_COMPRESSION_LEVEL] =
    g_param_spec_int ("compression-level", NULL,
                      "zlib compression level, 1-9; 0 turns compression off",
                      0, 9, 0, rw);
  props[PROP_SSH_CONFIG] =
    g_param_spec_boolean ("ssh-config", NULL,
                          "Honour ~/.ssh/config and /etc/ssh/ssh_config (HostName, Port, User, "
                          "IdentityFile, ProxyCommand, ...)",
                          TRUE, rw);
  props[PROP_SSH_KEEPALIVE] =
    g_param_spec_boolean ("ssh-keepalive", NULL,
                          "SSH-level keepalives as well as the stream's: keepalive_interval and "
                          "keepalive_count when given, else every 15 s, 3 unanswered fail the link "
                          "(false: only the stream keepalive)",
                          TRUE, rw);
  props[PROP_SSH_PATH] =
    g_param_spec_string ("ssh-path", NULL,
                         "Run this OpenSSH client (e.g. /usr/bin/ssh) as a local child instead "
                         "of using libssh: for ProxyJump, GSSAPI, certificates. No password",
                         NULL, rw);
  props[PROP_SSH_ARGS] =
    g_param_spec_boxed ("ssh-args", NULL,
                        "Extra arguments for the ssh_path client, before the host name",
                        G_TYPE_STRV, rw);
  g_object_class_install_properties (object_class, G_N_ELEMENTS (props), props);
}

static void
mitogen_ssh_transport_class_finalize (MitogenSshTransportClass *klass)
{
}

static void
mitogen_ssh_transport_init (MitogenSshTransport *self)
{
  self->check_host_keys = MITOGEN_SSH_HOST_KEY_ENFORCE;
  self->ssh_config = TRUE;
  self->ssh_keepalive = TRUE;
}

void
mitogen_ssh_transport_register (GTypeModule *module)
{
  static const GEnumValue policies[] = {
    { MITOGEN_SSH_HOST_KEY_ENFORCE, "MITOGEN_SSH_HOST_KEY_ENFORCE", "enforce" },
    { MITOGEN_SSH_HOST_KEY_ACCEPT_NEW, "MITOGEN_SSH_HOST_KEY_ACCEPT_NEW", "accept-new" },
    { MITOGEN_SSH_HOST_KEY_IGNORE, "MITOGEN_SSH_HOST_KEY_IGNORE", "ignore" },
    { 0, NULL, NULL },
  };

#ifndef MITOGEN_SSH_OPENSSH_ONLY
  /* libssh's global state (crypto backend); done once, never undone. */
  ssh_init ();
#endif
  host_key_policy_type = g_type_module_register_enum (module, "MitogenSshHostKeyPolicy", policies);
  mitogen_ssh_transport_register_type (module);
}
