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

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mitogen-local-transport.h"

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

static void
child_setup (gpointer data)
{
  /* Runs in the child between fork and exec: async-signal-safe calls only.
   * Out of our terminal's process group and session (see the top). */
  setsid ();
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

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
  int pair[2];
  int source_fds[2], target_fds[2];

  if (!g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "agent program %s is missing or not executable", path);
      return FALSE;
    }

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
    {
      int saved = errno;
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "socketpair: %s", g_strerror (saved));
      return FALSE;
    }

  {
    /* Roomier buffers keep bulk transfers moving with fewer wake-ups. */
    int size = 1024 * 1024;
    for (int i = 0; i < 2; i++)
      {
        setsockopt (pair[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        setsockopt (pair[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
      }
  }

  argv0 = mitogen_transport_dup_argv0 (transport);
  argv[0] = path;
  argv[1] = argv0;
  argv[2] = NULL;
  source_fds[0] = pair[1];
  source_fds[1] = pair[1];
  target_fds[0] = 0;
  target_fds[1] = 1;

  if (!g_spawn_async_with_pipes_and_fds (NULL, argv, NULL,
                                         /* stdin is the socket below; left to
                                          * GLib it would open /dev/null first,
                                          * which a bare chroot lacks. */
                                         G_SPAWN_FILE_AND_ARGV_ZERO | G_SPAWN_DO_NOT_REAP_CHILD |
                                         G_SPAWN_CHILD_INHERITS_STDIN,
                                         child_setup, NULL,
                                         -1, -1, -1,
                                         source_fds, target_fds, 2,
                                         pid, NULL, NULL, NULL, error))
    {
      close (pair[0]);
      close (pair[1]);
      return FALSE;
    }

  close (pair[1]);
  *read_fd = pair[0];
  *write_fd = pair[0];
  return TRUE;
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
  int pair[2], err_pipe[2];
  int source_fds[3], target_fds[3];
  gboolean bootstrap = mitogen_transport_get_bootstrap (transport);
  /* INHERITS_STDIN: stdin is the socket (target_fds); GLib would open
   * /dev/null for it first, which a bare chroot lacks. */
  GSpawnFlags flags = G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH | G_SPAWN_CHILD_INHERITS_STDIN;

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
  g_ptr_array_add (full, NULL);

  /* Without a wrapper the agent is exec'd directly and shows argv[0]. */
  if (!bootstrap && self->wrapper == NULL)
    flags |= G_SPAWN_FILE_AND_ARGV_ZERO;
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

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
    {
      int saved = errno;
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "socketpair: %s", g_strerror (saved));
      return;
    }
  if (!g_unix_open_pipe (err_pipe, FD_CLOEXEC, &error))
    {
      close (pair[0]);
      close (pair[1]);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  {
    int size = 1024 * 1024;
    for (int i = 0; i < 2; i++)
      {
        setsockopt (pair[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        setsockopt (pair[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
      }
  }

  source_fds[0] = pair[1];
  source_fds[1] = pair[1];
  source_fds[2] = err_pipe[1];
  target_fds[0] = 0;
  target_fds[1] = 1;
  target_fds[2] = 2;

  if (!g_spawn_async_with_pipes_and_fds (NULL, (const char * const *) full->pdata, NULL, flags,
                                         child_setup, NULL, -1, -1, -1,
                                         source_fds, target_fds, bootstrap || self->wrapper != NULL ? 3 : 2,
                                         &pid, NULL, NULL, NULL, &error))
    {
      close (pair[0]);
      close (pair[1]);
      close (err_pipe[0]);
      close (err_pipe[1]);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  close (pair[1]);
  close (err_pipe[1]);
  if (!bootstrap && self->wrapper == NULL)
    {
      /* The installed agent's stderr stays ours, as with start (). */
      close (err_pipe[0]);
      err_pipe[0] = -1;
    }
  mitogen_transport_return_spawned (task, pair[0], pair[0], err_pipe[0], pid);
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
