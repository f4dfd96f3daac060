/* mitogen-docker-transport.c — the `docker` method: a context in a container
 *
 * The seed's `Router.docker()`, through the docker command-line interface
 * (docker itself, or anything with its interface, such as podman):
 *
 *   docker exec -i [-u USER] CONTAINER sh -c STAGE1 ...        (container)
 *   docker run -i --rm --name mitogen-XXXX --log-driver none
 *              [-u USER] IMAGE sh -c STAGE1 ...                (image)
 *
 * In image mode the container is temporary: `--rm` removes it when the
 * agent exits (the agent exits when its stream closes; the docker client
 * closes the container's stdin when it goes), and `--log-driver none`
 * keeps the stream out of container logs. It has a name of ours, so a
 * start that fails is followed by `docker rm -f NAME`.
 *
 * The client's stdin and stdout are two pipes (the stream), its stderr a
 * third. spawn_async completes when stdout becomes readable (stage 1 runs
 * in the container) — we poll for readability without reading, the core
 * reads everything — or fails with MITOGEN_ERROR_STREAM naming the step
 * and quoting docker's stderr when the client exits first, or with
 * MITOGEN_ERROR_TIMEOUT. Until then we drain stderr ourselves (a pull can
 * print a lot); afterwards the core does.
 *
 * Everything runs on the thread-default main context of spawn_async (the
 * broker's), without blocking.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-docker"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mitogen-docker-transport.h"

struct _MitogenDockerTransport
{
  MitogenTransport parent_instance;

  char *container;    /* (owned) (nullable) */
  char *image;        /* (owned) (nullable) */
  char *docker_path;  /* (owned) (nullable) NULL: docker from PATH */
  char *username;     /* (owned) (nullable) */
};

typedef enum
{
  PROP_CONTAINER = 1,
  PROP_IMAGE,
  PROP_DOCKER_PATH,
  PROP_USERNAME,
} MitogenDockerTransportProperty;

static GParamSpec *props[PROP_USERNAME + 1];

G_DEFINE_DYNAMIC_TYPE (MitogenDockerTransport, mitogen_docker_transport, MITOGEN_TYPE_TRANSPORT)

/* What docker printed on stderr that we keep for error messages. */
#define OUTPUT_KEEP 8192

typedef struct
{
  GMainContext *context;         /* (owned) thread-default of spawn_async: all sources run here */
  char         *docker_path;     /* (owned) */
  char         *step;            /* (owned) "docker exec in container C" / "docker run of image I" */
  char         *name;            /* (owned) (nullable) the temporary container's name */
  int           stdin_fd;        /* our end of the client's stdin (write) */
  int           stdout_fd;       /* our end of the client's stdout (read) */
  int           stderr_fd;       /* our end of the client's stderr (read) */
  GPid          pid;             /* the docker client, or 0 */
  GSource      *stderr_source;   /* (owned) (nullable) */
  GSource      *stdout_source;   /* (owned) (nullable) */
  GSource      *timeout_source;  /* (owned) (nullable) */
  GSource      *cancel_source;   /* (owned) (nullable) */
  GSource      *grace_source;    /* (owned) (nullable) waiting for stderr's end after stdout's */
  GString      *output;          /* (owned) docker's stderr so far (the last OUTPUT_KEEP bytes) */
  gboolean      stdout_closed;   /* stdout ended before stage 1 wrote anything */
  gboolean      done;            /* the task has been completed */
  gboolean      failed;          /* ... with an error: remove the temporary container */
} DockerSpawn;

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

/* `docker rm -f NAME`, not waited for: the container of a failed start
 * goes whatever state it reached. */
static void
remove_container (DockerSpawn *s)
{
  const char *argv[] = { s->docker_path, "rm", "-f", s->name, NULL };
  g_autoptr(GError) error = NULL;
  GPid pid = 0;
  int null_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);

  if (!g_spawn_async_with_pipes_and_fds (NULL, argv, NULL,
                                         G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                                         NULL, NULL, null_fd, null_fd, null_fd, NULL, NULL, 0,
                                         &pid, NULL, NULL, NULL, &error))
    g_debug ("docker: removing container %s: %s", s->name, error->message);
  else
    {
      g_debug ("docker: removing container %s (pid %d)", s->name, (int) pid);
      mitogen_transport_reap_later (pid, s->context);
    }
  if (null_fd >= 0)
    close (null_fd);
}

static void
docker_spawn_free (gpointer data)
{
  DockerSpawn *s = data;

  clear_source (&s->stderr_source);
  clear_source (&s->stdout_source);
  clear_source (&s->timeout_source);
  clear_source (&s->cancel_source);
  clear_source (&s->grace_source);
  if (s->stdin_fd >= 0)
    close (s->stdin_fd);
  if (s->stdout_fd >= 0)
    close (s->stdout_fd);
  if (s->stderr_fd >= 0)
    close (s->stderr_fd);
  if (s->pid != 0)
    {
      /* Not handed over: the client goes, and is reaped. */
      kill (s->pid, SIGKILL);
      mitogen_transport_reap_later (s->pid, s->context);
    }
  if (s->failed && s->name != NULL)
    remove_container (s);
  g_free (s->docker_path);
  g_free (s->step);
  g_free (s->name);
  g_string_free (s->output, TRUE);
  g_main_context_unref (s->context);
  g_free (s);
}

/* Reads what is there on stderr. FALSE: end of file. */
static gboolean
read_stderr (DockerSpawn *s)
{
  char buf[4096];

  for (;;)
    {
      gssize n = read (s->stderr_fd, buf, sizeof buf);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return TRUE;
      if (n <= 0)
        return FALSE;
      g_string_append_len (s->output, buf, n);
      if (s->output->len > OUTPUT_KEEP)
        g_string_erase (s->output, 0, (gssize) (s->output->len - OUTPUT_KEEP));
    }
}

/* docker's stderr for an error message: one line, valid UTF-8, its end. */
static char *
printed_text (DockerSpawn *s)
{
  g_autofree char *valid = g_utf8_make_valid (s->output->str, (gssize) s->output->len);

  for (char *p = valid; *p != '\0'; p++)
    if (*p == '\n' || *p == '\r' || *p == '\t')
      *p = ' ';
  g_strstrip (valid);
  if (strlen (valid) > 1000)
    return g_strdup_printf ("...%s", valid + strlen (valid) - 1000);
  return g_steal_pointer (&valid);
}

static void
finish_sources (DockerSpawn *s)
{
  s->done = TRUE;
  clear_source (&s->stderr_source);
  clear_source (&s->stdout_source);
  clear_source (&s->timeout_source);
  clear_source (&s->cancel_source);
  clear_source (&s->grace_source);
}

/* Ends the attempt (once) with @error; takes it. The client, the
 * descriptors and the temporary container go with the task data. */
static void
spawn_fail (GTask  *task,
            GError *error)
{
  DockerSpawn *s = g_task_get_task_data (task);

  if (s->done)
    {
      g_error_free (error);
      return;
    }
  finish_sources (s);
  s->failed = TRUE;
  g_debug ("docker: %s", error->message);
  g_task_return_error (task, error);
}

/* The client closed stdout before stage 1 said anything. */
static void
fail_exited (GTask *task)
{
  DockerSpawn *s = g_task_get_task_data (task);
  g_autofree char *text = printed_text (s);

  spawn_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                 "%s failed%s%s", s->step,
                                 text[0] != '\0' ? ": " : " (docker printed nothing)", text));
}

static gboolean
on_grace_cb (gpointer user_data)
{
  GTask *task = user_data;
  g_autoptr(GTask) hold = g_object_ref (task);
  DockerSpawn *s = g_task_get_task_data (task);

  g_clear_pointer (&s->grace_source, g_source_unref);
  if (s->stderr_fd >= 0)
    read_stderr (s);
  fail_exited (task);
  return G_SOURCE_REMOVE;
}

static gboolean
on_stderr_cb (int          fd,
              GIOCondition condition,
              gpointer     user_data)
{
  GTask *task = user_data;
  g_autoptr(GTask) hold = g_object_ref (task);
  DockerSpawn *s = g_task_get_task_data (task);

  if (!read_stderr (s))
    {
      g_clear_pointer (&s->stderr_source, g_source_unref);
      if (s->stdout_closed)
        fail_exited (task);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_stdout_cb (int          fd,
              GIOCondition condition,
              gpointer     user_data)
{
  GTask *task = user_data;
  g_autoptr(GTask) hold = g_object_ref (task);
  DockerSpawn *s = g_task_get_task_data (task);

  if (condition & G_IO_IN)
    {
      /* Stage 1 runs in the container: everything goes to the core. */
      finish_sources (s);
      mitogen_transport_return_spawned (task, s->stdout_fd, s->stdin_fd, s->stderr_fd, s->pid);
      s->stdout_fd = s->stdin_fd = s->stderr_fd = -1;
      s->pid = 0;
      return G_SOURCE_REMOVE;
    }

  /* The client closed stdout without a word: it failed, or is failing.
   * Its stderr says why: fail once that has ended (or after a moment). */
  g_clear_pointer (&s->stdout_source, g_source_unref);
  s->stdout_closed = TRUE;
  if (s->stderr_source == NULL || !read_stderr (s))
    fail_exited (task);
  else
    {
      s->grace_source = g_timeout_source_new (1000);
      g_source_set_callback (s->grace_source, on_grace_cb, g_object_ref (task), g_object_unref);
      g_source_set_static_name (s->grace_source, "[mitogen] docker exiting");
      g_source_attach (s->grace_source, s->context);
    }
  return G_SOURCE_REMOVE;
}

static gboolean
on_timeout_cb (gpointer user_data)
{
  GTask *task = user_data;
  g_autoptr(GTask) hold = g_object_ref (task);
  DockerSpawn *s = g_task_get_task_data (task);
  g_autofree char *text = NULL;

  if (s->stderr_fd >= 0)
    read_stderr (s);
  text = printed_text (s);
  spawn_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT,
                                 "%s: the command did not start within connect_timeout%s%s",
                                 s->step, text[0] != '\0' ? "; docker printed: " : "", text));
  return G_SOURCE_REMOVE;
}

static gboolean
on_cancelled_cb (GCancellable *cancellable,
                 gpointer      user_data)
{
  GTask *task = user_data;
  GError *error = NULL;

  g_cancellable_set_error_if_cancelled (cancellable, &error);
  spawn_fail (task, error);
  return G_SOURCE_REMOVE;
}

static GSource *
attach_fd_source (DockerSpawn       *s,
                  int                fd,
                  GUnixFDSourceFunc  func,
                  const char        *name,
                  GTask             *task)
{
  GSource *source = g_unix_fd_source_new (fd, G_IO_IN | G_IO_HUP | G_IO_ERR);

  g_source_set_callback (source, G_SOURCE_FUNC (func), g_object_ref (task), g_object_unref);
  g_source_set_static_name (source, name);
  g_source_attach (source, s->context);
  return source;
}

static gboolean
check_name (const char  *what,
            const char  *value,
            GError     **error)
{
  if (value[0] == '\0' || value[0] == '-')
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "invalid %s '%s'", what, value);
      return FALSE;
    }
  return TRUE;
}

/* Broker thread, the broker's main context thread-default. */
static void
mitogen_docker_transport_spawn_async (MitogenTransport    *transport,
                                      const char * const  *argv,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  MitogenDockerTransport *self = MITOGEN_DOCKER_TRANSPORT (transport);
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) full = g_ptr_array_new ();
  DockerSpawn *s;
  double timeout;
  gint64 deadline;

  /* Our limit ends before the core's connect_timeout (which started
   * just before this call), so that our error, which can quote what the
   * target printed, is the one reported: a twentieth of it earlier, at
   * least 0.2 s (but no more than half of it). */
  timeout = mitogen_transport_get_connect_timeout (transport);
  deadline = g_get_monotonic_time () +
             (gint64) ((timeout - MIN (MAX (timeout * 0.05, 0.2), timeout * 0.5)) * G_USEC_PER_SEC);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_docker_transport_spawn_async);

  s = g_new0 (DockerSpawn, 1);
  s->context = g_main_context_ref_thread_default ();
  s->stdin_fd = s->stdout_fd = s->stderr_fd = -1;
  s->output = g_string_new (NULL);
  s->docker_path = g_strdup (self->docker_path != NULL ? self->docker_path : "docker");
  g_task_set_task_data (task, s, docker_spawn_free);

  if ((self->container == NULL) == (self->image == NULL))
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                               "give exactly one of the container option (an existing container) "
                               "and the image option (a temporary container)");
      return;
    }
  if ((self->container != NULL && !check_name ("container", self->container, &error)) ||
      (self->image != NULL && !check_name ("image", self->image, &error)) ||
      (self->username != NULL && !check_name ("username", self->username, &error)))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (argv == NULL || argv[0] == NULL)
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT, "no command to run");
      return;
    }

  g_ptr_array_add (full, s->docker_path);
  if (self->container != NULL)
    {
      s->step = g_strdup_printf ("docker exec in container %s", self->container);
      g_ptr_array_add (full, (gpointer) "exec");
      g_ptr_array_add (full, (gpointer) "-i");
    }
  else
    {
      s->name = g_strdup_printf ("mitogen-%08x%08x", g_random_int (), g_random_int ());
      s->step = g_strdup_printf ("docker run of image %s (container %s)", self->image, s->name);
      g_ptr_array_add (full, (gpointer) "run");
      g_ptr_array_add (full, (gpointer) "-i");
      g_ptr_array_add (full, (gpointer) "--rm");
      g_ptr_array_add (full, (gpointer) "--name");
      g_ptr_array_add (full, s->name);
      g_ptr_array_add (full, (gpointer) "--log-driver");
      g_ptr_array_add (full, (gpointer) "none");
    }
  if (self->username != NULL)
    {
      g_ptr_array_add (full, (gpointer) "-u");
      g_ptr_array_add (full, self->username);
    }
  g_ptr_array_add (full, self->container != NULL ? self->container : self->image);
  for (gsize i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (full, (gpointer) argv[i]);
  g_ptr_array_add (full, NULL);

  /* Two pipes (the client relays them), stderr on a pipe; a session of
   * its own: a Ctrl-C on our terminal is ours to handle (passed on to the
   * program `mitogen run` runs), it must not kill the connection. */
  if (!mitogen_transport_spawn_command (transport, (const char * const *) full->pdata, NULL,
                                        MITOGEN_SPAWN_PIPES | MITOGEN_SPAWN_TERM_WITH_PARENT,
                                        &s->stdout_fd, &s->stdin_fd, &s->stderr_fd, &s->pid, &error))
    {
      g_prefix_error (&error, "%s: ", s->step);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_unix_set_fd_nonblocking (s->stderr_fd, TRUE, NULL);
  g_debug ("docker: %s: started %s (pid %d)", s->step, s->docker_path, (int) s->pid);

  s->timeout_source = g_timeout_source_new (0);
  g_source_set_ready_time (s->timeout_source, deadline);
  g_source_set_callback (s->timeout_source, on_timeout_cb, g_object_ref (task), g_object_unref);
  g_source_set_static_name (s->timeout_source, "[mitogen] docker timeout");
  g_source_attach (s->timeout_source, s->context);

  if (cancellable != NULL)
    {
      s->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (s->cancel_source, G_SOURCE_FUNC (on_cancelled_cb), g_object_ref (task),
                             g_object_unref);
      g_source_set_static_name (s->cancel_source, "[mitogen] docker cancelled");
      g_source_attach (s->cancel_source, s->context);
    }

  s->stderr_source = attach_fd_source (s, s->stderr_fd, on_stderr_cb, "[mitogen] docker stderr", task);
  s->stdout_source = attach_fd_source (s, s->stdout_fd, on_stdout_cb, "[mitogen] docker stdout", task);
}

static void
mitogen_docker_transport_get_property (GObject    *object,
                                       guint       prop_id,
                                       GValue     *value,
                                       GParamSpec *pspec)
{
  MitogenDockerTransport *self = MITOGEN_DOCKER_TRANSPORT (object);

  switch ((MitogenDockerTransportProperty) prop_id)
    {
    case PROP_CONTAINER:
      g_value_set_string (value, self->container);
      break;
    case PROP_IMAGE:
      g_value_set_string (value, self->image);
      break;
    case PROP_DOCKER_PATH:
      g_value_set_string (value, self->docker_path != NULL ? self->docker_path : "docker");
      break;
    case PROP_USERNAME:
      g_value_set_string (value, self->username);
      break;
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
mitogen_docker_transport_set_property (GObject      *object,
                                       guint         prop_id,
                                       const GValue *value,
                                       GParamSpec   *pspec)
{
  MitogenDockerTransport *self = MITOGEN_DOCKER_TRANSPORT (object);

  switch ((MitogenDockerTransportProperty) prop_id)
    {
    case PROP_CONTAINER:
      set_string (&self->container, value);
      break;
    case PROP_IMAGE:
      set_string (&self->image, value);
      break;
    case PROP_DOCKER_PATH:
      set_string (&self->docker_path, value);
      break;
    case PROP_USERNAME:
      set_string (&self->username, value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_docker_transport_finalize (GObject *object)
{
  MitogenDockerTransport *self = MITOGEN_DOCKER_TRANSPORT (object);

  g_clear_pointer (&self->container, g_free);
  g_clear_pointer (&self->image, g_free);
  g_clear_pointer (&self->docker_path, g_free);
  g_clear_pointer (&self->username, g_free);
  G_OBJECT_CLASS (mitogen_docker_transport_parent_class)->finalize (object);
}

static void
mitogen_docker_transport_class_init (MitogenDockerTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MitogenTransportClass *transport_class = MITOGEN_TRANSPORT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->get_property = mitogen_docker_transport_get_property;
  object_class->set_property = mitogen_docker_transport_set_property;
  object_class->finalize = mitogen_docker_transport_finalize;
  transport_class->spawn_async = mitogen_docker_transport_spawn_async;
  /* `METHOD:VALUE` on a command line sets this option. */
  transport_class->short_option = "container";
  /* A container has nothing of ours: ship the agent (DESIGN §6). */
  transport_class->needs_bootstrap = TRUE;

  props[PROP_CONTAINER] =
    g_param_spec_string ("container", NULL,
                         "Running container to start the context in (docker exec); or give image",
                         NULL, rw);
  props[PROP_IMAGE] =
    g_param_spec_string ("image", NULL,
                         "Image to run a temporary container of (docker run --rm), removed when "
                         "the context ends or fails to start; or give container",
                         NULL, rw);
  props[PROP_DOCKER_PATH] =
    g_param_spec_string ("docker-path", NULL,
                         "The docker client to run (a path or a name looked up in PATH; anything "
                         "with docker's command line, such as podman)",
                         "docker", rw);
  props[PROP_USERNAME] =
    g_param_spec_string ("username", NULL,
                         "User (name or UID[:GID]) to run the context as in the container (docker -u); "
                         "default: the container's",
                         NULL, rw);
  g_object_class_install_properties (object_class, G_N_ELEMENTS (props), props);
}

static void
mitogen_docker_transport_class_finalize (MitogenDockerTransportClass *klass)
{
}

static void
mitogen_docker_transport_init (MitogenDockerTransport *self)
{
  /* The base class cannot see needs_bootstrap from its own instance init
   * (GObject runs it with the base class as the instance's class), so
   * the default is set here; a bootstrap option given later wins. */
  g_object_set (self, "bootstrap", TRUE, NULL);
}

void
mitogen_docker_transport_register (GTypeModule *module)
{
  mitogen_docker_transport_register_type (module);
}
