/* mitogen-fakessh.c — mitogen_fakessh_run (): ssh-speaking tools through a context
 *
 * The seed's mitogen.fakessh. We run a program (rsync, scp, git, ...) with
 * a private directory first in its PATH where `ssh` is the agent, and a
 * SOCK_SEQPACKET socket it inherits (MITOGEN_FAKESSH names the descriptor,
 * a handle of ours, and the destination context). Each time the program
 * runs `ssh`, that fake client sends us one end of a fresh socketpair over
 * the inherited socket; we adopt it as a new context (the `fakessh`
 * method, plugins/fakessh/), and when it asks (our START handle) we call
 * `subprocess.stream` in the destination on its behalf: the call carries
 * our authority and the client's id as its source, so the program's
 * events and the call's reply go straight to the client and its stdin
 * straight to the program. Our broker only routes.
 *
 * Any number of invocations, concurrent or one after another: each is a
 * context of its own, and the destination runs each program on a thread
 * of its own (mitogen-process-serve.c).
 *
 * Going away is propagated: when the destination disconnects, each client
 * is told (DEL_ROUTE from its parent) and fails at once; when a client
 * goes, the destination is told and stops its program. When the program
 * we ran exits, clients still connected are shut down and the private
 * directory is removed.
 *
 * Threads: the run lives in the thread-default main context of the caller
 * of mitogen_fakessh_run_async (); the handlers run on the broker thread.
 * The client table is shared between them under `lock`.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-fakessh"

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "mitogen-context-private.h"
#include "mitogen-connect-private.h"
#include "mitogen-plugins-private.h"
#include "mitogen-ids-private.h"
#include "mitogen-message-private.h"
#include "mitogen-protocol-private.h"
#include "mitogen-router-private.h"
#include "mitogen-transport-private.h"

/* The descriptor number the program gets the socket on. High enough that
 * scripts' own `exec 3>` .. `exec 9>` leave it alone. */
#define FAKESSH_FD 47
/* Seconds between SIGTERM and SIGKILL when the run is cancelled. */
#define KILL_GRACE_SECONDS 3

typedef struct
{
  gatomicrefcount  ref_count;
  GMutex           lock;

  MitogenRouter   *router;         /* (owned) */
  MitogenContext  *dest;           /* (owned) */
  guint32          dest_id;
  guint32          start_handle;   /* clients' requests (broker thread) */
  guint32          dest_handle;    /* fails when the destination goes (broker thread) */

  /* Under `lock`: client id -> its watch handle (respondent: the client). */
  GHashTable      *clients;
  gboolean         dest_gone;

  /* The caller's main context only. */
  GMainContext    *context;        /* (owned) */
  GCancellable    *cancel_clients; /* (owned) connects still under way at the end */
  GPtrArray       *connected;      /* (owned) MitogenContext: clients to shut down at the end */
  char            *tmpdir;         /* (owned) (nullable) */
  int              control_fd;     /* ours of the socketpair; -1 once closed */
  GSource         *control_source; /* (owned) (nullable) */
  GSource         *child_source;   /* (owned) (nullable) */
  GSource         *timeout_source; /* (owned) (nullable) */
  GSource         *kill_source;    /* (owned) (nullable) */
  gulong           cancel_id;
  GPid             pid;
  GError          *stop_error;     /* (owned) (nullable) why we stopped the program */
} Run;

static Run *
run_ref (Run *run)
{
  g_atomic_ref_count_inc (&run->ref_count);
  return run;
}

static void
run_unref (gpointer data)
{
  Run *run = data;

  if (!g_atomic_ref_count_dec (&run->ref_count))
    return;
  g_assert (run->control_source == NULL && run->child_source == NULL);
  g_clear_pointer (&run->clients, g_hash_table_unref);
  g_clear_pointer (&run->connected, g_ptr_array_unref);
  g_clear_object (&run->cancel_clients);
  g_clear_object (&run->dest);
  g_clear_object (&run->router);
  g_clear_pointer (&run->context, g_main_context_unref);
  g_clear_error (&run->stop_error);
  g_free (run->tmpdir);
  g_mutex_clear (&run->lock);
  g_free (run);
}

/* Broker thread, any thread: tells context @to that context @gone is gone. */
static void
send_del_route (Run     *run,
                guint32  to,
                guint32  gone)
{
  g_autoptr(MitogenMessage) message = mitogen_message_new (to, MITOGEN_HANDLE_DEL_ROUTE,
                                                           g_variant_new ("(u)", gone));

  mitogen_router_route (run->router, message, NULL);
}

static void
reply_error (Run            *run,
             guint32         client,
             guint32         handle,
             const GError   *error)
{
  g_autoptr(MitogenMessage) reply = NULL;

  if (handle == 0)
    return;
  reply = mitogen_message_new_error (client, handle, error, mitogen_router_get_name (run->router));
  mitogen_router_route (run->router, reply, NULL);
}

/* Broker thread: a client asks to run its command in the destination.
 * Value: the arguments of `subprocess.stream`, (asa{sv}uu); its events
 * handle is where the call's reply goes. */
static void
on_start (MitogenRouter  *router,
          MitogenMessage *message,
          gpointer        user_data)
{
  Run *run = user_data;
  GVariant *args = mitogen_message_peek_value (message);
  g_autoptr(MitogenMessage) call = NULL;
  g_autoptr(GError) error = NULL;
  guint32 client = message->header.src_id;
  guint32 events = 0;
  gboolean known, gone;

  if (mitogen_message_is_dead (message))
    return;

  g_mutex_lock (&run->lock);
  known = client == message->header.auth_id &&
          g_hash_table_contains (run->clients, GUINT_TO_POINTER (client));
  gone = run->dest_gone;
  g_mutex_unlock (&run->lock);

  if (!known)
    {
      g_info ("fakessh: refused a request from context %u: not a client of this run", client);
      return;
    }
  if (args == NULL || !g_variant_is_of_type (args, G_VARIANT_TYPE ("(asa{sv}uu)")))
    {
      error = g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                           "fakessh: malformed request of type %s",
                           args != NULL ? g_variant_get_type_string (args) : "(none)");
      reply_error (run, client, message->header.reply_to, error);
      return;
    }
  g_variant_get_child (args, 2, "u", &events);
  if (gone)
    {
      error = g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL, "Context '%s' is disconnected",
                           mitogen_context_get_name (run->dest));
      reply_error (run, client, events, error);
      return;
    }

  call = mitogen_message_new (run->dest_id, MITOGEN_HANDLE_CALL_FUNCTION,
                              mitogen_protocol_call_new ("subprocess.stream", args));
  mitogen_message_set_reply_to (call, events);
  if (!mitogen_router_route_as (run->router, call, client, &error))
    reply_error (run, client, events, error);
}

/* Broker thread: the destination went away. Clients waiting on it are
 * told, so their tools fail now rather than hang. */
static void
on_dest_gone (MitogenRouter  *router,
              MitogenMessage *message,
              gpointer        user_data)
{
  Run *run = user_data;
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (guint32));
  GHashTableIter iter;
  gpointer key;

  if (!mitogen_message_is_dead (message))
    return;
  g_mutex_lock (&run->lock);
  run->dest_gone = TRUE;
  g_hash_table_iter_init (&iter, run->clients);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      guint32 id = GPOINTER_TO_UINT (key);
      g_array_append_val (ids, id);
    }
  g_mutex_unlock (&run->lock);

  g_debug ("fakessh: context '%s' is gone; telling %u client(s)",
           mitogen_context_get_name (run->dest), ids->len);
  for (guint i = 0; i < ids->len; i++)
    send_del_route (run, g_array_index (ids, guint32, i), run->dest_id);
}

/* Broker thread: a client went away (its tool killed it, or it is done).
 * The destination is told, so a program still running for it stops. */
static void
on_client_gone (MitogenRouter  *router,
                MitogenMessage *message,
                gpointer        user_data)
{
  Run *run = user_data;
  guint32 client = message->header.src_id;
  gboolean known, gone;

  if (!mitogen_message_is_dead (message))
    return;
  g_mutex_lock (&run->lock);
  known = g_hash_table_remove (run->clients, GUINT_TO_POINTER (client));
  gone = run->dest_gone;
  g_mutex_unlock (&run->lock);
  if (known && !gone)
    send_del_route (run, run->dest_id, client);
}

typedef struct
{
  Run     *run;   /* (owned) */
  guint32  id;
} ClientOp;

static void
client_connected_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  ClientOp *op = user_data;
  Run *run = op->run;
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenContext) client = NULL;
  gboolean gone;

  client = mitogen_router_connect_finish (run->router, result, &error);
  if (client == NULL)
    {
      guint32 handle;

      g_debug ("fakessh: a client did not come up: %s", error->message);
      g_mutex_lock (&run->lock);
      handle = GPOINTER_TO_UINT (g_hash_table_lookup (run->clients, GUINT_TO_POINTER (op->id)));
      g_hash_table_remove (run->clients, GUINT_TO_POINTER (op->id));
      g_mutex_unlock (&run->lock);
      if (handle != 0)
        mitogen_router_del_handler (run->router, handle);
    }
  else
    {
      g_debug ("fakessh: client %s is context %u", mitogen_context_get_name (client), op->id);
      g_ptr_array_add (run->connected, g_steal_pointer (&client));
      g_mutex_lock (&run->lock);
      gone = run->dest_gone;
      g_mutex_unlock (&run->lock);
      if (gone)
        send_del_route (run, op->id, run->dest_id);
    }
  run_unref (op->run);
  g_free (op);
}

/* The caller's context: adopts one client's socket as a new context. */
static void
adopt_client (Run *run,
              int  fd)
{
  g_autoptr(GError) error = NULL;
  GVariantBuilder options;
  ClientOp *op;
  guint32 id, handle;

  mitogen_ids_serve (run->router);
  if (!mitogen_ids_allocate (run->router, &id, &error))
    {
      /* The client sees its socket close and says so. */
      g_warning ("fakessh: cannot adopt an ssh client: %s", error->message);
      close (fd);
      return;
    }
  /* Known before it can speak: its first request may beat our callback. */
  handle = mitogen_router_add_handler_full (run->router, 0, TRUE, id, on_client_gone,
                                            run_ref (run), run_unref);
  g_mutex_lock (&run->lock);
  g_hash_table_insert (run->clients, GUINT_TO_POINTER (id), GUINT_TO_POINTER (handle));
  g_mutex_unlock (&run->lock);

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "fd", g_variant_new_int32 (fd));
  op = g_new0 (ClientOp, 1);
  op->run = run_ref (run);
  op->id = id;
  mitogen_router_connect_with_id_async (run->router, "fakessh", g_variant_builder_end (&options), id,
                                        run->cancel_clients, client_connected_cb, op);
}

/* The caller's context: fake clients hand us their sockets. */
static gboolean
on_control_readable (int          fd,
                     GIOCondition condition,
                     gpointer     user_data)
{
  Run *run = user_data;

  for (;;)
    {
      char tag[8];
      struct iovec iov = { tag, sizeof tag };
      union { struct cmsghdr align; char buf[CMSG_SPACE (4 * sizeof (int))]; } control;
      struct msghdr msg = { 0 };
      struct cmsghdr *cmsg;
      int received[4], n_received = 0;
      ssize_t n;

      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control.buf;
      msg.msg_controllen = sizeof control.buf;
      n = recvmsg (fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return G_SOURCE_CONTINUE;
      if (n == 0 && CMSG_FIRSTHDR (&msg) == NULL)
        {
          /* An empty datagram reads the same as end-of-file: only a hang-up
           * says the other end is gone. */
          struct pollfd pfd = { fd, POLLIN | POLLRDHUP, 0 };

          if (poll (&pfd, 1, 0) >= 0 && (pfd.revents & (POLLHUP | POLLRDHUP)) == 0)
            {
              g_info ("fakessh: ignored an empty datagram on the control socket");
              continue;
            }
        }
      if (n < 0 || (n == 0 && CMSG_FIRSTHDR (&msg) == NULL))
        {
          /* Every holder of the other end is gone (or it failed): no ssh
           * can reach us any more. */
          g_debug ("fakessh: the control socket closed");
          g_clear_pointer (&run->control_source, g_source_unref);
          return G_SOURCE_REMOVE;
        }

      for (cmsg = CMSG_FIRSTHDR (&msg); cmsg != NULL; cmsg = CMSG_NXTHDR (&msg, cmsg))
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
          {
            gsize count = (cmsg->cmsg_len - CMSG_LEN (0)) / sizeof (int);

            for (gsize i = 0; i < count; i++)
              {
                int got;

                memcpy (&got, CMSG_DATA (cmsg) + i * sizeof (int), sizeof (int));
                if (n_received < (int) G_N_ELEMENTS (received))
                  received[n_received++] = got;
                else
                  close (got);
              }
          }

      /* Never trust the wire: exactly one descriptor and our tag. */
      if (n == 4 && memcmp (tag, "MGFS", 4) == 0 && n_received == 1 && (msg.msg_flags & MSG_CTRUNC) == 0)
        adopt_client (run, received[0]);
      else
        {
          g_info ("fakessh: ignored a malformed request on the control socket");
          for (int i = 0; i < n_received; i++)
            close (received[i]);
        }
    }
}

static void
destroy_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

/* What the private directory holds: our ssh, and scp and sftp wrappers. */
static const char * const private_files[] = { "ssh", "scp", "sftp" };

/* Removes the private directory: what we put there, then the directory. */
static void
remove_tmpdir (Run *run)
{
  if (run->tmpdir == NULL)
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (private_files); i++)
    {
      g_autofree char *path = g_build_filename (run->tmpdir, private_files[i], NULL);
      g_unlink (path);
    }
  g_rmdir (run->tmpdir);
  g_clear_pointer (&run->tmpdir, g_free);
}

/* Private directories of masters that died without removing theirs
 * (SIGKILL): ours by owner, dead by the pid in the name, and holding
 * nothing but what we put there (rmdir fails otherwise). */
static void
remove_stale_tmpdirs (void)
{
  g_autoptr(GDir) dir = g_dir_open (g_get_tmp_dir (), 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL;
      guint64 pid;
      char *end = NULL;
      struct stat st;

      if (!g_str_has_prefix (name, "mitogen-fakessh-"))
        continue;
      pid = g_ascii_strtoull (name + strlen ("mitogen-fakessh-"), &end, 10);
      if (end == NULL || *end != '-' || pid == 0 || pid > G_MAXINT || (int) pid == getpid ())
        continue;
      if (kill ((pid_t) pid, 0) == 0 || errno != ESRCH)
        continue;
      path = g_build_filename (g_get_tmp_dir (), name, NULL);
      if (lstat (path, &st) < 0 || !S_ISDIR (st.st_mode) || st.st_uid != getuid ())
        continue;
      for (gsize i = 0; i < G_N_ELEMENTS (private_files); i++)
        {
          g_autofree char *file = g_build_filename (path, private_files[i], NULL);
          g_unlink (file);
        }
      if (g_rmdir (path) == 0)
        g_debug ("fakessh: removed %s, left by process %" G_GUINT64_FORMAT, path, pid);
    }
}

/* scp and sftp run /usr/bin/ssh, not the ssh in PATH, unless told with
 * -S: wrappers of the same names in the private directory tell them, so
 * scp run by a script, make or git goes through fakessh too. A -S of the
 * caller's own comes later and wins, as with any scp. */
static gboolean
write_wrappers (Run         *run,
                const char  *ssh,
                const char  *path,
                GError     **error)
{
  for (gsize i = 1; i < G_N_ELEMENTS (private_files); i++)
    {
      const char *name = private_files[i];
      g_autofree char *real = NULL;
      g_autofree char *wrapper = g_build_filename (run->tmpdir, name, NULL);
      g_autofree char *quoted_real = NULL, *quoted_ssh = NULL, *script = NULL;
      g_auto(GStrv) dirs = g_strsplit (path != NULL ? path : "/usr/local/bin:/usr/bin:/bin", ":", -1);

      for (guint j = 0; dirs[j] != NULL && real == NULL; j++)
        {
          g_autofree char *candidate = g_build_filename (dirs[j][0] != '\0' ? dirs[j] : ".", name, NULL);

          if (g_path_is_absolute (candidate) && g_file_test (candidate, G_FILE_TEST_IS_EXECUTABLE) &&
              !g_file_test (candidate, G_FILE_TEST_IS_DIR))
            real = g_steal_pointer (&candidate);
        }
      if (real == NULL)
        continue;   /* not installed here: nothing to wrap */
      quoted_real = g_shell_quote (real);
      quoted_ssh = g_shell_quote (ssh);
      script = g_strdup_printf ("#!/bin/sh\n# mitogen fakessh: %s through our ssh\nexec %s -S %s \"$@\"\n",
                                name, quoted_real, quoted_ssh);
      if (!g_file_set_contents_full (wrapper, script, -1, G_FILE_SET_CONTENTS_NONE, 0755, error))
        return FALSE;
    }
  return TRUE;
}

/* The caller's context: the program is done (or never started). Every
 * source goes; clients still connected are shut down. */
static void
run_stop (Run *run)
{
  GHashTableIter iter;
  gpointer value;
  g_autoptr(GArray) handles = g_array_new (FALSE, FALSE, sizeof (guint32));

  destroy_source (&run->control_source);
  destroy_source (&run->child_source);
  destroy_source (&run->timeout_source);
  destroy_source (&run->kill_source);
  if (run->control_fd >= 0)
    {
      close (run->control_fd);
      run->control_fd = -1;
    }
  g_cancellable_cancel (run->cancel_clients);

  if (run->start_handle != 0)
    mitogen_router_del_handler (run->router, run->start_handle);
  if (run->dest_handle != 0)
    mitogen_router_del_handler (run->router, run->dest_handle);
  run->start_handle = run->dest_handle = 0;

  g_mutex_lock (&run->lock);
  g_hash_table_iter_init (&iter, run->clients);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      guint32 handle = GPOINTER_TO_UINT (value);
      g_array_append_val (handles, handle);
    }
  g_hash_table_remove_all (run->clients);
  g_mutex_unlock (&run->lock);
  for (guint i = 0; i < handles->len; i++)
    mitogen_router_del_handler (run->router, g_array_index (handles, guint32, i));

  /* A client still there (the tool left an ssh behind) exits 255. */
  for (guint i = 0; i < run->connected->len; i++)
    mitogen_context_shutdown (g_ptr_array_index (run->connected, i), 0, NULL);
  g_ptr_array_set_size (run->connected, 0);

  remove_tmpdir (run);
}

static void
on_program_exit (GPid     pid,
                 int      status,
                 gpointer user_data)
{
  GTask *task = user_data;
  Run *run = g_task_get_task_data (task);

  g_spawn_close_pid (pid);
  g_clear_pointer (&run->child_source, g_source_unref);
  run_stop (run);

  if (run->stop_error != NULL)
    g_task_return_error (task, g_steal_pointer (&run->stop_error));
  else if (WIFEXITED (status))
    g_task_return_int (task, WEXITSTATUS (status));
  else if (WIFSIGNALED (status))
    g_task_return_int (task, 128 + WTERMSIG (status));
  else
    g_task_return_int (task, 255);
  g_object_unref (task);
}

static gboolean
on_kill_timeout (gpointer user_data)
{
  Run *run = user_data;

  g_clear_pointer (&run->kill_source, g_source_unref);
  kill (run->pid, SIGKILL);
  return G_SOURCE_REMOVE;
}

/* The caller's context: stops the program (timeout, cancelled); the run
 * ends when it has exited, with @error. */
static void
stop_program (Run    *run,
              GError *error)
{
  if (run->stop_error != NULL || run->child_source == NULL)
    {
      g_error_free (error);
      return;
    }
  run->stop_error = error;
  kill (run->pid, SIGTERM);
  run->kill_source = g_timeout_source_new_seconds (KILL_GRACE_SECONDS);
  g_source_set_callback (run->kill_source, on_kill_timeout, run, NULL);
  g_source_set_static_name (run->kill_source, "[mitogen] fakessh kill");
  g_source_attach (run->kill_source, run->context);
}

static gboolean
on_timeout (gpointer user_data)
{
  Run *run = user_data;

  g_clear_pointer (&run->timeout_source, g_source_unref);
  stop_program (run, g_error_new_literal (MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT,
                                          "fakessh: the program did not finish in time"));
  return G_SOURCE_REMOVE;
}

static gboolean
on_cancelled_idle (gpointer user_data)
{
  Run *run = user_data;

  stop_program (run, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled"));
  return G_SOURCE_REMOVE;
}

/* Any thread: hop to the run's context. */
static void
on_cancelled (GCancellable *cancellable,
              gpointer      user_data)
{
  Run *run = user_data;
  GSource *idle = g_idle_source_new ();

  g_source_set_callback (idle, on_cancelled_idle, run_ref (run), run_unref);
  g_source_set_static_name (idle, "[mitogen] fakessh cancel");
  g_source_attach (idle, run->context);
  g_source_unref (idle);
}

static void
child_setup (gpointer data)
{
  /* The program (and through it its ssh clients) goes with us. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

/* The program's argv: scp or sftp named by a path (so not our wrapper)
 * gets -S. */
static char **
program_argv (const char * const *argv,
              const char         *ssh)
{
  g_autofree char *name = g_path_get_basename (argv[0]);
  GPtrArray *out = g_ptr_array_new ();
  gboolean has_s = FALSE;

  for (guint i = 1; argv[i] != NULL; i++)
    has_s |= g_str_has_prefix (argv[i], "-S");
  g_ptr_array_add (out, g_strdup (argv[0]));
  /* A bare name finds our wrapper in PATH; a path would not. */
  if (strchr (argv[0], '/') != NULL && (g_str_equal (name, "scp") || g_str_equal (name, "sftp")) && !has_s)
    {
      g_ptr_array_add (out, g_strdup ("-S"));
      g_ptr_array_add (out, g_strdup (ssh));
    }
  for (guint i = 1; argv[i] != NULL; i++)
    g_ptr_array_add (out, g_strdup (argv[i]));
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}

/* The program's environment: @env (taken) with our ssh named everywhere. */
static char **
program_environ (Run                *run,
                 char              **env,
                 const char         *ssh)
{
  const char *path = g_environ_getenv (env, "PATH");
  g_autofree char *new_path = g_strconcat (run->tmpdir, path != NULL ? ":" : "",
                                           path != NULL ? path : ":/usr/local/bin:/usr/bin:/bin", NULL);
  /* For GIT_SSH_COMMAND and RSYNC_RSH, which are split like a shell's. */
  g_autofree char *quoted = g_shell_quote (ssh);
  g_autofree char *fakessh = g_strdup_printf ("%d:%u:%u:%s", FAKESSH_FD, run->start_handle, run->dest_id,
                                              mitogen_context_get_name (run->dest));

  env = g_environ_setenv (env, "PATH", new_path, TRUE);
  env = g_environ_setenv (env, "MITOGEN_FAKESSH", fakessh, TRUE);
  /* Tools that name their ssh otherwise get ours too. */
  env = g_environ_setenv (env, "GIT_SSH_COMMAND", quoted, TRUE);
  env = g_environ_setenv (env, "GIT_SSH_VARIANT", "ssh", TRUE);
  env = g_environ_unsetenv (env, "GIT_SSH");
  env = g_environ_setenv (env, "RSYNC_RSH", quoted, TRUE);
  return env;
}

/**
 * mitogen_fakessh_run_async:
 * @router: the router @dest belongs to
 * @dest: the context where the program's ssh command lines run
 * @argv: (array zero-terminated=1): the program to run here, e.g.
 *   `{ "rsync", "-a", "src/", "dest:/srv/dst/", NULL }`
 * @envp: (array zero-terminated=1) (nullable): its environment (%NULL:
 *   ours)
 * @timeout_seconds: stop the program (SIGTERM, SIGKILL 3 s later) and fail
 *   with %MITOGEN_ERROR_TIMEOUT after this long; 0 for no limit
 * @cancellable: (nullable): cancelling stops the program the same way
 * @callback: called in the thread-default main context of the caller
 * @user_data: data for @callback
 *
 * Runs @argv on this machine so that every `ssh` it runs executes its
 * command line in @dest instead, reusing the connection the router
 * already has, however many hops and sudo steps away (the seed's
 * `mitogen.fakessh.run`). See mitogen_fakessh_run () and docs/fakessh.md.
 */
void
mitogen_fakessh_run_async (MitogenRouter        *router,
                           MitogenContext       *dest,
                           const char * const   *argv,
                           const char * const   *envp,
                           double                timeout_seconds,
                           GCancellable         *cancellable,
                           GAsyncReadyCallback   callback,
                           gpointer              user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *ssh = NULL;
  g_auto(GStrv) child_argv = NULL;
  g_auto(GStrv) env = NULL;
  g_auto(GStrv) child_env = NULL;
  const char *agent;
  int pair[2];
  int source_fds[1], target_fds[1];
  Run *run;

  g_return_if_fail (MITOGEN_IS_ROUTER (router));
  g_return_if_fail (MITOGEN_IS_CONTEXT (dest));

  task = g_task_new (router, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_fakessh_run_async);

  if (argv == NULL || argv[0] == NULL || argv[0][0] == '\0')
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                               "fakessh: no program to run");
      return;
    }
  if (mitogen_context_get_router (dest) != router)
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                               "fakessh: context '%s' does not belong to this router",
                               mitogen_context_get_name (dest));
      return;
    }
  if (!mitogen_context_is_connected (dest))
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                               "fakessh: context '%s' is disconnected", mitogen_context_get_name (dest));
      return;
    }
  agent = mitogen_agent_path ();
  if (agent == NULL || !g_file_test (agent, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                               "fakessh: the agent program %s is missing", agent != NULL ? agent : "(unknown)");
      return;
    }

  run = g_new0 (Run, 1);
  g_atomic_ref_count_init (&run->ref_count);
  g_mutex_init (&run->lock);
  run->router = g_object_ref (router);
  run->dest = g_object_ref (dest);
  run->dest_id = mitogen_context_get_id (dest);
  run->clients = g_hash_table_new (NULL, NULL);
  run->connected = g_ptr_array_new_with_free_func (g_object_unref);
  run->context = g_main_context_ref_thread_default ();
  run->cancel_clients = g_cancellable_new ();
  run->control_fd = -1;
  g_task_set_task_data (task, run, run_unref);

  remove_stale_tmpdirs ();
  {
    g_autofree char *template = g_strdup_printf ("mitogen-fakessh-%d-XXXXXX", (int) getpid ());

    run->tmpdir = g_dir_make_tmp (template, &error);
  }
  if (run->tmpdir == NULL)
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                               "fakessh: %s", error->message);
      return;
    }
  ssh = g_build_filename (run->tmpdir, "ssh", NULL);
  if (symlink (agent, ssh) < 0)
    {
      int saved = errno;
      remove_tmpdir (run);
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                               "fakessh: symlink %s: %s", ssh, g_strerror (saved));
      return;
    }

  env = envp != NULL ? g_strdupv ((char **) envp) : g_get_environ ();
  if (!write_wrappers (run, ssh, g_environ_getenv (env, "PATH"), &error))
    {
      remove_tmpdir (run);
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_STREAM, "fakessh: %s", error->message);
      return;
    }

  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
    {
      int saved = errno;
      remove_tmpdir (run);
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                               "fakessh: socketpair: %s", g_strerror (saved));
      return;
    }
  run->control_fd = pair[0];
  g_unix_set_fd_nonblocking (run->control_fd, TRUE, NULL);

  run->start_handle = mitogen_router_add_handler_full (router, 0, TRUE, MITOGEN_NO_RESPONDENT,
                                                       on_start, run_ref (run), run_unref);
  run->dest_handle = mitogen_router_add_handler_full (router, 0, TRUE, run->dest_id,
                                                      on_dest_gone, run_ref (run), run_unref);

  child_argv = program_argv (argv, ssh);
  child_env = program_environ (run, g_steal_pointer (&env), ssh);
  source_fds[0] = pair[1];
  target_fds[0] = FAKESSH_FD;
  if (!g_spawn_async_with_pipes_and_fds (NULL, (const char * const *) child_argv, (const char * const *) child_env,
                                         G_SPAWN_SEARCH_PATH_FROM_ENVP | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_CHILD_INHERITS_STDIN,
                                         child_setup, NULL, -1, -1, -1, source_fds, target_fds, 1,
                                         &run->pid, NULL, NULL, NULL, &error))
    {
      close (pair[1]);
      run_stop (run);
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                               "fakessh: cannot run %s: %s", argv[0], error->message);
      return;
    }
  close (pair[1]);
  g_debug ("fakessh: started %s (pid %d) for context '%s'", argv[0], (int) run->pid,
           mitogen_context_get_name (dest));

  run->control_source = g_unix_fd_source_new (run->control_fd, G_IO_IN);
  g_source_set_callback (run->control_source, G_SOURCE_FUNC (on_control_readable), run, NULL);
  g_source_set_static_name (run->control_source, "[mitogen] fakessh control");
  g_source_attach (run->control_source, run->context);

  run->child_source = g_child_watch_source_new (run->pid);
  g_source_set_callback (run->child_source, G_SOURCE_FUNC (on_program_exit), g_object_ref (task), NULL);
  g_source_set_static_name (run->child_source, "[mitogen] fakessh program");
  g_source_attach (run->child_source, run->context);

  if (timeout_seconds > 0)
    {
      run->timeout_source = g_timeout_source_new ((guint) MIN (timeout_seconds * 1000, G_MAXUINT));
      g_source_set_callback (run->timeout_source, on_timeout, run, NULL);
      g_source_set_static_name (run->timeout_source, "[mitogen] fakessh timeout");
      g_source_attach (run->timeout_source, run->context);
    }
  if (cancellable != NULL)
    run->cancel_id = g_cancellable_connect (cancellable, G_CALLBACK (on_cancelled), run, NULL);
}

/**
 * mitogen_fakessh_run_finish:
 * @router: a router
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes mitogen_fakessh_run_async ().
 *
 * Returns: the program's exit status (128 + the signal's number if a
 *   signal killed it), or -1 with @error set
 */
int
mitogen_fakessh_run_finish (MitogenRouter  *router,
                            GAsyncResult   *result,
                            GError        **error)
{
  GTask *task = G_TASK (result);
  Run *run = g_task_get_task_data (task);
  gssize status;

  g_return_val_if_fail (g_task_is_valid (result, router), -1);

  if (run != NULL && run->cancel_id != 0)
    {
      g_cancellable_disconnect (g_task_get_cancellable (task), run->cancel_id);
      run->cancel_id = 0;
    }
  status = g_task_propagate_int (task, error);
  return status < 0 ? -1 : (int) status;
}

static void
run_sync_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

/**
 * mitogen_fakessh_run:
 * @router: the router @dest belongs to
 * @dest: the context where the program's ssh command lines run
 * @argv: (array zero-terminated=1): the program to run here, e.g.
 *   `{ "rsync", "-a", "src/", "dest:/srv/dst/", NULL }`
 * @envp: (array zero-terminated=1) (nullable): its environment (%NULL:
 *   ours)
 * @timeout_seconds: stop the program (SIGTERM, SIGKILL 3 s later) and fail
 *   with %MITOGEN_ERROR_TIMEOUT after this long; 0 for no limit
 * @cancellable: (nullable): cancelling stops the program the same way
 * @error: return location for a #GError
 *
 * Runs @argv on this machine, with its standard input, output and error
 * ours, so that every `ssh [options] [user@]host command` it runs executes
 * `command` in @dest instead, whatever the host says, reusing the
 * connection the router already has to @dest — however many hops and
 * sudo steps away (the seed's `mitogen.fakessh.run`). rsync, scp (SFTP
 * and `-O` modes), sftp and git work; any number of ssh invocations may
 * run at once or one after another. The program's ssh sees its stdin,
 * stdout and stderr carried with flow control both ways and exits with
 * the remote command's status. If @dest goes away, every ssh fails at
 * once with status 255.
 *
 * The program finds our ssh first in its `PATH`, with scp and sftp
 * wrappers that give the real ones `-S` to use it (they would run
 * /usr/bin/ssh); `GIT_SSH_COMMAND` and `RSYNC_RSH` name it too.
 * Options ssh would honour but we cannot (port forwarding, agent and X11
 * forwarding, `-f`, `-N`) make that ssh fail with a one-line reason;
 * harmless ones (ports, identities, host keys, verbosity, ...) are
 * ignored. Any thread but a broker's; blocks until the program exits.
 *
 * ```c
 * const char *argv[] = { "rsync", "-a", "--delete", "site/", "web:/srv/www/", NULL };
 * int status = mitogen_fakessh_run (router, web, argv, NULL, 0, NULL, &error);
 * ```
 *
 * Returns: the program's exit status (128 + the signal's number if a
 *   signal killed it), or -1 with @error set: %MITOGEN_ERROR_NOT_FOUND if
 *   it could not be started, %MITOGEN_ERROR_CHANNEL if @dest is
 *   disconnected, %MITOGEN_ERROR_TIMEOUT, %G_IO_ERROR_CANCELLED
 */
int
mitogen_fakessh_run (MitogenRouter        *router,
                     MitogenContext       *dest,
                     const char * const   *argv,
                     const char * const   *envp,
                     double                timeout_seconds,
                     GCancellable         *cancellable,
                     GError              **error)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GAsyncResult) result = NULL;
  int status;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (router), -1);
  g_return_val_if_fail (MITOGEN_IS_CONTEXT (dest), -1);

  g_main_context_push_thread_default (context);
  mitogen_fakessh_run_async (router, dest, argv, envp, timeout_seconds, cancellable, run_sync_cb, &result);
  while (result == NULL)
    g_main_context_iteration (context, TRUE);
  status = mitogen_fakessh_run_finish (router, result, error);
  g_main_context_pop_thread_default (context);
  return status;
}
