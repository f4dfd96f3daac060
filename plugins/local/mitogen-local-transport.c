/* mitogen-local-transport.c — the `local` method: a child on this machine
 *
 * The seed's `Router.local()`. The fast path of DESIGN §6: the agent is
 * installed here, so we exec it directly with one end of a socketpair as
 * its stdin and stdout — no bootstrap. The child gets PR_SET_PDEATHSIG, and
 * exits on EOF anyway, so it never outlives us.
 *
 * The child runs in a session of its own, like a context over ssh or sudo:
 * a Ctrl-C on our terminal (SIGINT to the terminal's foreground process
 * group) reaches only us, and we decide what to do with it (`mitogen run`
 * passes it on to the program it runs); the context is not killed under
 * our feet, and it never stops on SIGTTOU/SIGTTIN for using the terminal
 * it inherited as stderr.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-local"

#include "config.h"

#include "mitogen-local-transport.h"

#include <pwd.h>
#include <unistd.h>

struct _MitogenLocalTransport
{
  MitogenTransport parent_instance;

  char  *agent_path;  /* (owned) (nullable) */
  char **wrapper;     /* (owned) (nullable) argv prefix: chroot, unshare, env ... */
};

typedef enum
{
  PROP_AGENT_PATH = 1,
  PROP_WRAPPER,
} MitogenLocalTransportProperty;

static GParamSpec *props[PROP_WRAPPER + 1];

G_DEFINE_DYNAMIC_TYPE (MitogenLocalTransport, mitogen_local_transport, MITOGEN_TYPE_TRANSPORT)

/* Broker thread. */
static gboolean
mitogen_local_transport_start (MitogenTransport  *transport,
                               const char        *agent_path,
                               int               *read_fd,
                               int               *write_fd,
                               GPid              *pid,
                               GError           **error)
{
  MitogenLocalTransport *self = MITOGEN_LOCAL_TRANSPORT (transport);
  g_autofree char *argv0 = NULL;
  const char *path = self->agent_path != NULL ? self->agent_path : agent_path;
  const char *argv[3];
  int stderr_fd = -1;

  if (!g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "agent program %s is missing or not executable", path);
      return FALSE;
    }

  argv0 = mitogen_transport_dup_argv0 (transport);
  argv[0] = path;
  argv[1] = argv0;
  argv[2] = NULL;
  /* The installed agent's stderr stays ours; a session of its own (see
   * the top), SIGKILL when we die. */
  return mitogen_transport_spawn_command (transport, argv, NULL,
                                          MITOGEN_SPAWN_FILE_AND_ARGV_ZERO | MITOGEN_SPAWN_STDERR_INHERIT,
                                          read_fd, write_fd, &stderr_fd, pid, error);
}

/* "UID:NAME" of our effective user, looked up once (NULL without a
 * passwd entry). A stock agent started directly, with no wrapper, runs
 * as that user on this machine with the same user database: it takes the
 * name from its argv (`--user-hint`) instead of asking NSS itself, which
 * cost ~5 % of 32 parallel starts (nscd, nsswitch.conf, /etc/passwd:
 * 17 system calls). The agent uses it only if its euid is UID. Any
 * thread. */
static const char *
user_hint (void)
{
  static char *hint;
  static gsize once;

  if (g_once_init_enter (&once))
    {
      struct passwd pw, *found = NULL;
      char buffer[4096];
      uid_t uid = geteuid ();

      if (getpwuid_r (uid, &pw, buffer, sizeof buffer, &found) == 0 && found != NULL)
        hint = g_strdup_printf ("%u:%s", (guint) uid, found->pw_name);
      g_once_init_leave (&once, 1);
    }
  return hint;
}

/* Broker thread. Runs @argv (the agent, or `sh -c STAGE1` when
 * bootstrapping) behind the wrapper, with a socketpair on stdin/stdout and
 * a pipe on stderr. Local spawning does not block, so this completes at
 * once. */
static void
mitogen_local_transport_spawn_async (MitogenTransport    *transport,
                                     const char * const  *argv,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  MitogenLocalTransport *self = MITOGEN_LOCAL_TRANSPORT (transport);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GPtrArray) full = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  GPid pid = 0;
  int read_fd = -1, write_fd = -1, stderr_fd = -1;
  gboolean bootstrap = mitogen_transport_get_bootstrap (transport);
  MitogenSpawnFlags flags = MITOGEN_SPAWN_DEFAULT;

  g_task_set_source_tag (task, mitogen_local_transport_spawn_async);

  if (self->wrapper != NULL)
    for (guint i = 0; self->wrapper[i] != NULL; i++)
      g_ptr_array_add (full, self->wrapper[i]);
  if (!bootstrap && self->agent_path != NULL)
    {
      /* argv is { agent, argv0, args... }: run the chosen agent instead. */
      g_ptr_array_add (full, self->agent_path);
      for (guint i = 1; argv[i] != NULL; i++)
        g_ptr_array_add (full, (gpointer) argv[i]);
    }
  else
    for (guint i = 0; argv[i] != NULL; i++)
      g_ptr_array_add (full, (gpointer) argv[i]);
  /* { agent, argv0 } exactly: the stock agent (a program of the user's,
   * agent=self, has more arguments), on this machine's user database. */
  if (!bootstrap && self->wrapper == NULL && self->agent_path == NULL &&
      argv[0] != NULL && argv[1] != NULL && argv[2] == NULL && user_hint () != NULL)
    {
      g_ptr_array_add (full, (gpointer) "--user-hint");
      g_ptr_array_add (full, (gpointer) user_hint ());
    }
  g_ptr_array_add (full, NULL);

  /* Without a wrapper the agent is exec'd directly and shows argv[0]; its
   * stderr stays ours, as with start (). */
  if (!bootstrap && self->wrapper == NULL)
    flags |= MITOGEN_SPAWN_FILE_AND_ARGV_ZERO | MITOGEN_SPAWN_STDERR_INHERIT;
  else if (!bootstrap)
    {
      /* Behind a wrapper argv[1] (mitogen:NAME) would be the wrapped
       * program's argument: drop it. */
      g_ptr_array_remove_index (full, g_strv_length (self->wrapper) + 1);
    }

  if (!bootstrap && !g_file_test (g_ptr_array_index (full, self->wrapper != NULL ? g_strv_length (self->wrapper) : 0),
                                  G_FILE_TEST_IS_EXECUTABLE) && self->wrapper == NULL)
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                               "agent program %s is missing or not executable",
                               (const char *) g_ptr_array_index (full, 0));
      return;
    }

  if (!mitogen_transport_spawn_command (transport, (const char * const *) full->pdata, NULL, flags,
                                        &read_fd, &write_fd, &stderr_fd, &pid, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  mitogen_transport_return_spawned (task, read_fd, write_fd, stderr_fd, pid);
}

static void
mitogen_local_transport_get_property (GObject    *object,
                                      guint       prop_id,
                                      GValue     *value,
                                      GParamSpec *pspec)
{
  MitogenLocalTransport *self = MITOGEN_LOCAL_TRANSPORT (object);

  switch ((MitogenLocalTransportProperty) prop_id)
    {
    case PROP_AGENT_PATH:
      g_value_set_string (value, self->agent_path);
      break;
    case PROP_WRAPPER:
      g_value_set_boxed (value, self->wrapper);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_local_transport_set_property (GObject      *object,
                                      guint         prop_id,
                                      const GValue *value,
                                      GParamSpec   *pspec)
{
  MitogenLocalTransport *self = MITOGEN_LOCAL_TRANSPORT (object);

  switch ((MitogenLocalTransportProperty) prop_id)
    {
    case PROP_AGENT_PATH:
      g_free (self->agent_path);
      self->agent_path = g_value_dup_string (value);
      break;
    case PROP_WRAPPER:
      g_strfreev (self->wrapper);
      self->wrapper = g_value_dup_boxed (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_local_transport_finalize (GObject *object)
{
  MitogenLocalTransport *self = MITOGEN_LOCAL_TRANSPORT (object);

  g_clear_pointer (&self->agent_path, g_free);
  g_clear_pointer (&self->wrapper, g_strfreev);
  G_OBJECT_CLASS (mitogen_local_transport_parent_class)->finalize (object);
}

static void
mitogen_local_transport_class_init (MitogenLocalTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MitogenTransportClass *transport_class = MITOGEN_TRANSPORT_CLASS (klass);

  object_class->get_property = mitogen_local_transport_get_property;
  object_class->set_property = mitogen_local_transport_set_property;
  object_class->finalize = mitogen_local_transport_finalize;
  transport_class->start = mitogen_local_transport_start;
  transport_class->spawn_async = mitogen_local_transport_spawn_async;
  /* `METHOD:VALUE` on a command line sets this option. */
  transport_class->short_option = "remote-name";
  transport_class->needs_bootstrap = FALSE;

  /* The seed's python_path: which agent program to run. */
  props[PROP_AGENT_PATH] =
    g_param_spec_string ("agent-path", NULL,
                         "Agent program to run (default: the installed mitogen-agent)",
                         NULL,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  /* For tests and odd setups: run the target behind a command, e.g.
   * ["chroot", "/srv/root"] or ["unshare", "--root=/srv/root"]; with
   * bootstrap=true the agent is then shipped into that root. */
  props[PROP_WRAPPER] =
    g_param_spec_boxed ("wrapper", NULL,
                        "Command the target runs behind (e.g. [\"chroot\", DIR]); pairs with bootstrap=true",
                        G_TYPE_STRV,
                        G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, G_N_ELEMENTS (props), props);
}

static void
mitogen_local_transport_class_finalize (MitogenLocalTransportClass *klass)
{
}

static void
mitogen_local_transport_init (MitogenLocalTransport *self)
{
}

void
mitogen_local_transport_register (GTypeModule *module)
{
  mitogen_local_transport_register_type (module);
}
