/* mitogen-fakessh-client.c — the fake `ssh`: one invocation, as a context
 *
 * mitogen_fakessh_run () puts a directory first in the tool's PATH where
 * `ssh` is the agent. Run as `ssh` with MITOGEN_FAKESSH set, the agent
 * becomes this client:
 *
 *  1. it parses ssh's command line (mitogen-fakessh-args.c);
 *  2. it makes a socketpair and passes one end to the master over the
 *     SOCK_SEQPACKET descriptor the tool inherited (SCM_RIGHTS); the
 *     master adopts it (the `fakessh` method) and configures us: we are
 *     a context now, a child of the master;
 *  3. it asks the master to start the command in the destination context
 *     on our behalf (only a parent may call a context); the program's
 *     events and the call's reply come straight to us, routed by the
 *     master's broker, and we send stdin straight to the program;
 *  4. it pumps our stdin to the program and its stdout/stderr to ours,
 *     with MitogenProcess's credit flow control, and exits with the
 *     program's exit status (255 when it was killed or the context or
 *     the master went away, as ssh does).
 *
 * Every invocation is a context of its own, so a tool may run several at
 * once or one after another.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-fakessh"

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mitogen-agent-private.h"
#include "mitogen-context-private.h"
#include "mitogen-message-private.h"
#include "mitogen-process-private.h"
#include "mitogen-router-private.h"
#include "mitogen-fakessh-args.h"
#include "mitogen-fakessh-client.h"

#define PREFIX "ssh (mitogen fakessh): "
#define FAILED 255
#define STDIN_CHUNK (64 * 1024)

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (MitogenFakesshArgs, mitogen_fakessh_args_clear)

typedef struct
{
  MitogenRouter *router;     /* (unowned) the agent's */
  guint32        master_id;
  guint32        start_handle;
} Session;

static int G_GNUC_PRINTF (1, 2)
fail (const char *format,
      ...)
{
  va_list args;

  fputs (PREFIX, stderr);
  va_start (args, format);
  vfprintf (stderr, format, args);
  va_end (args);
  fputc ('\n', stderr);
  return FAILED;
}

/* "FD:HANDLE:DEST_ID:DEST_NAME" */
static gboolean
parse_env (const char  *value,
           int         *fd,
           guint32     *handle,
           guint32     *dest_id,
           char       **dest_name)
{
  g_auto(GStrv) parts = NULL;
  guint64 numbers[3];

  if (value == NULL)
    return FALSE;
  parts = g_strsplit (value, ":", 4);
  if (g_strv_length (parts) != 4)
    return FALSE;
  for (int i = 0; i < 3; i++)
    if (!g_ascii_string_to_unsigned (parts[i], 10, 0, i == 0 ? G_MAXINT : G_MAXUINT32, &numbers[i], NULL))
      return FALSE;
  *fd = (int) numbers[0];
  *handle = (guint32) numbers[1];
  *dest_id = (guint32) numbers[2];
  *dest_name = g_strdup (parts[3]);
  return *handle != 0 && *dest_id != 0;
}

/* Passes one end of a new socketpair to the master; returns ours. */
static int
connect_to_master (int      control_fd,
                   GError **error)
{
  int pair[2];
  char tag[] = "MGFS";
  struct iovec iov = { tag, 4 };
  union { struct cmsghdr align; char buf[CMSG_SPACE (sizeof (int))]; } control;
  struct msghdr msg = { 0 };
  struct cmsghdr *cmsg;
  ssize_t n;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "socketpair: %s", g_strerror (saved));
      return -1;
    }
  memset (&control, 0, sizeof control);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  cmsg = CMSG_FIRSTHDR (&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (cmsg), &pair[1], sizeof (int));

  do
    n = sendmsg (control_fd, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  close (pair[1]);
  if (n < 0)
    {
      int saved = errno;
      close (pair[0]);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot reach the master (descriptor %d): %s", control_fd, g_strerror (saved));
      return -1;
    }
  return pair[0];
}

/* Main thread (mitogen_process_start): the master calls the destination
 * for us; the reply and the events come to @reply_to. */
static gboolean
start_via_master (MitogenProcess  *process,
                  GVariant        *args,
                  guint32          reply_to,
                  gpointer         user_data,
                  GError         **error)
{
  Session *session = user_data;
  g_autoptr(MitogenMessage) message = NULL;

  message = mitogen_message_new (session->master_id, session->start_handle, args);
  mitogen_message_set_reply_to (message, reply_to);
  return mitogen_router_route (session->router, message, error);
}

static gboolean
write_all (int           fd,
           const guint8 *data,
           gsize         len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        {
          struct pollfd pfd = { fd, POLLOUT, 0 };
          poll (&pfd, 1, -1);
          continue;
        }
      if (n <= 0)
        return FALSE;
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* Stdin thread: our stdin to the program, then EOF. */
static gpointer
stdin_thread (gpointer data)
{
  g_autoptr(MitogenProcess) process = data;
  g_autofree guint8 *buffer = g_malloc (STDIN_CHUNK);

  for (;;)
    {
      ssize_t n = read (0, buffer, STDIN_CHUNK);
      g_autoptr(GBytes) bytes = NULL;

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        {
          struct pollfd pfd = { 0, POLLIN, 0 };
          poll (&pfd, 1, -1);
          continue;
        }
      if (n <= 0)
        break;
      bytes = g_bytes_new (buffer, (gsize) n);
      if (!mitogen_process_write (process, bytes, NULL, NULL))
        return NULL;
    }
  mitogen_process_close_stdin (process, NULL);
  return NULL;
}

static int
print_config (const MitogenFakesshArgs *args)
{
  /* What `ssh -G` prints, enough for tools that probe for OpenSSH (git). */
  g_print ("host %s\nhostname %s\nuser %s\nport 22\n", args->host, args->host,
           args->user != NULL ? args->user : g_get_user_name ());
  return 0;
}

int
mitogen_fakessh_client_main (int    argc,
                             char **argv)
{
  g_auto(MitogenFakesshArgs) args = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *dest_name = NULL;
  g_autoptr(MitogenContext) dest = NULL;
  g_autoptr(MitogenProcess) process = NULL;
  g_autoptr(GThread) input = NULL;
  Session session = { 0 };
  guint32 dest_id;
  gboolean output_ok = TRUE;
  int control_fd, fd;

  if (!mitogen_fakessh_args_parse (&args, argc, (const char * const *) argv, NULL, &error))
    return fail ("%s", error->message);
  if (args.action == MITOGEN_FAKESSH_ACTION_PRINT_VERSION)
    {
      fprintf (stderr, "OpenSSH_9.2p1 compatible, Mitogen for GLib fakessh %s\n", PACKAGE_VERSION);
      return 0;
    }
  if (args.action == MITOGEN_FAKESSH_ACTION_PRINT_CONFIG)
    return print_config (&args);

  if (!parse_env (g_getenv (MITOGEN_FAKESSH_ENV), &control_fd, &session.start_handle, &dest_id, &dest_name))
    return fail ("%s is missing or malformed: this ssh only works in a program run by mitogen_fakessh_run ()",
                 MITOGEN_FAKESSH_ENV);

  fd = connect_to_master (control_fd, &error);
  if (fd < 0)
    return fail ("%s", error->message);
  close (control_fd);

  session.router = mitogen_agent_start_client (fd, FAILED, PREFIX "the connection to the master was lost\n");
  session.master_id = mitogen_parent_id ();

  dest = mitogen_context_new (session.router, dest_id, dest_name, NULL, 0, NULL);
  mitogen_router_register_context (session.router, dest);

  process = mitogen_process_new (dest, (const char * const *) args.argv);
  mitogen_process_set_setenv (process, (const char * const *) args.setenv);
  /* sshd runs commands in the user's home directory: relative paths
   * (`scp host:file`, `git clone host:repo`) mean the same here. */
  mitogen_process_set_cwd (process, "~");
  mitogen_process_set_start_func (process, start_via_master, &session);
  if (!mitogen_process_start (process, NULL, &error))
    return fail ("%s: %s", args.host, error->message);

  if (args.stdin_null)
    mitogen_process_close_stdin (process, NULL);
  else
    input = g_thread_new ("fakessh-stdin", stdin_thread, g_object_ref (process));

  for (;;)
    {
      g_autoptr(GBytes) chunk = NULL;
      int out = -1;
      gsize len;
      const guint8 *data;

      chunk = mitogen_process_read (process, &out, NULL, &error);
      if (chunk == NULL)
        break;
      data = g_bytes_get_data (chunk, &len);
      if (out == 1 && output_ok && !write_all (1, data, len))
        {
          /* Our reader went away: stop the program, as ssh does. */
          output_ok = FALSE;
          mitogen_process_send_signal (process, SIGPIPE, NULL);
        }
      else if (out == 2)
        write_all (2, data, len);
    }
  if (error != NULL)
    return fail ("%s: %s", args.host, error->message);
  if (!output_ok)
    return FAILED;
  if (mitogen_process_get_if_exited (process))
    return mitogen_process_get_exit_status (process);
  return FAILED;
}
