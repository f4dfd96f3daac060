/* mitogen-become-spawn.c — the start shared by su, doas and pkexec
 *
 * These methods run a setuid program on this machine that becomes another
 * user and runs our command (`sh -c STAGE1`), perhaps after asking for a
 * password. As for sudo (plugins/sudo), stdin and stdout are two plain
 * pipes (the stream) and stderr a PTY that is the program's controlling
 * terminal, where doas, and pkexec's text agent, ask; su (PAM's misc_conv)
 * prints its prompt on stderr, our PTY, and reads the answer from stdin,
 * so for su the password goes down the stdin pipe instead (nothing else
 * is written there before stage 1 runs).
 *
 * Unlike sudo's -p, these programs cannot be given a prompt of ours: a
 * prompt is the last line printed, with nothing after it yet, that names
 * a password (or passphrase) and ends with ':'. A lecture that says
 * "Password:" and goes on to a new line is not one.
 *
 * The start completes when stdout becomes readable (stage 1 runs) — we
 * poll for readability without reading, the core reads everything — or
 * fails:
 *
 * - a prompt and no password: the router's MitogenInteraction is asked
 *   (mitogen_transport_ask_async; our deadline stops meanwhile);
 *   MITOGEN_ERROR_PASSWORD when it does not answer;
 * - a second prompt, or one of the spec's `rejected` texts, after we typed
 *   the password: MITOGEN_ERROR_PASSWORD at once, quoting the program;
 * - the program exits before running the command: MITOGEN_ERROR_STREAM
 *   with what it printed (PASSWORD if we had typed and it said `rejected`);
 * - nothing of that within connect_timeout: MITOGEN_ERROR_TIMEOUT.
 *
 * On success the PTY master is the stderr descriptor handed to the core.
 * On failure our ends are closed and the program is killed and reaped.
 * Runs on the thread-default main context of spawn_async (the broker's).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-become"

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mitogen-become-spawn.h"

#define OUTPUT_KEEP 8192

typedef struct
{
  GMainContext            *context;        /* (owned) */
  char                    *method;         /* (owned) copies of the spec's strings */
  char                    *target;         /* (owned) */
  char                    *user;           /* (owned) */
  gboolean                 password_on_stdin;
  guint                    type_delay_ms;
  GSource                 *type_source;    /* (owned) (nullable) typing after type_delay_ms */
  const char * const      *rejected;       /* static, the plugin's */
  char                    *password;       /* (owned) (nullable) wiped when freed */
  int                      stdin_fd;
  int                      stdout_fd;
  int                      pty_fd;
  GPid                     pid;
  GSource                 *pty_source;
  GSource                 *stdout_source;
  GSource                 *timeout_source;
  GSource                 *cancel_source;
  GString                 *output;         /* what the program printed (the last OUTPUT_KEEP bytes) */
  gsize                    scan_from;      /* a prompt is looked for after this */
  gsize                    typed_at;       /* output->len when the password was typed */
  guint                    prompts;
  gboolean                 typed;
  gboolean                 asked;          /* the password came from the interaction */
  gboolean                 asking;
  gboolean                 done;
  gint64                   deadline;
  double                   timeout;
} BecomeSpawn;

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static void
become_spawn_free (gpointer data)
{
  BecomeSpawn *s = data;

  clear_source (&s->pty_source);
  clear_source (&s->stdout_source);
  clear_source (&s->timeout_source);
  clear_source (&s->cancel_source);
  clear_source (&s->type_source);
  if (s->stdin_fd >= 0)
    close (s->stdin_fd);
  if (s->stdout_fd >= 0)
    close (s->stdout_fd);
  if (s->pty_fd >= 0)
    close (s->pty_fd);
  if (s->pid != 0)
    {
      /* Not handed over: make sure it goes (closing the PTY hangs up its
       * terminal, which reaches it when the kill is not permitted). */
      kill (s->pid, SIGKILL);
      mitogen_transport_reap_later (s->pid, s->context);
    }
  mitogen_transport_wipe_secret (s->password);
  g_free (s->method);
  g_free (s->target);
  g_free (s->user);
  g_string_free (s->output, TRUE);
  g_main_context_unref (s->context);
  g_free (s);
}

/* What the program printed, fit for a message: control characters and
 * escape sequences dropped, the password masked should anything have echoed it, at most
 * the last 600 bytes. */
static char *
printed_text (BecomeSpawn *s)
{
  GString *text = g_string_new (NULL);
  gsize from = s->output->len > 600 ? s->output->len - 600 : 0;

  for (gsize i = from; i < s->output->len; i++)
    {
      char c = s->output->str[i];

      /* Colour and other CSI sequences (pkexec's agent uses them). */
      if (c == 0x1b && i + 1 < s->output->len && s->output->str[i + 1] == '[')
        {
          i += 2;
          while (i < s->output->len && !g_ascii_isalpha (s->output->str[i]))
            i++;
          continue;
        }
      if (c == '\n' || c == '\t')
        {
          if (text->len > 0 && text->str[text->len - 1] != ' ')
            g_string_append_c (text, ' ');
        }
      else if ((guchar) c >= 0x20 && c != 0x7f)
        g_string_append_c (text, c);
    }
  if (s->password != NULL && s->password[0] != '\0')
    {
      char *hit;
      while ((hit = strstr (text->str, s->password)) != NULL)
        memset (hit, '*', strlen (s->password));
    }
  g_strstrip (text->str);
  {
    char *valid = g_utf8_make_valid (text->str, -1);
    g_string_free (text, TRUE);
    return valid;
  }
}

static void
spawn_fail (GTask  *task,
            GError *error)
{
  BecomeSpawn *s = g_task_get_task_data (task);

  if (s->done)
    {
      g_error_free (error);
      return;
    }
  s->done = TRUE;
  clear_source (&s->pty_source);
  clear_source (&s->stdout_source);
  clear_source (&s->timeout_source);
  clear_source (&s->cancel_source);
  clear_source (&s->type_source);
  g_debug ("%s: %s", s->method, error->message);
  g_task_return_error (task, error);
}

static void
fail_incorrect (GTask *task)
{
  BecomeSpawn *s = g_task_get_task_data (task);
  g_autofree char *text = printed_text (s);

  spawn_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD,
                                 "%s password is incorrect%s (%s)%s%s", s->method,
                                 s->asked ? " (the interaction's answer)" : "", s->target,
                                 text[0] != '\0' ? ": " : "", text));
}

static void
spawn_succeed (GTask *task)
{
  BecomeSpawn *s = g_task_get_task_data (task);

  s->done = TRUE;
  clear_source (&s->pty_source);
  clear_source (&s->stdout_source);
  clear_source (&s->timeout_source);
  clear_source (&s->cancel_source);
  clear_source (&s->type_source);
  mitogen_transport_return_spawned (task, s->stdout_fd, s->stdin_fd, s->pty_fd, s->pid);
  s->stdout_fd = s->stdin_fd = s->pty_fd = -1;
  s->pid = 0;
}

static gboolean
type_password (GTask *task)
{
  BecomeSpawn *s = g_task_get_task_data (task);
  g_autofree char *line = g_strconcat (s->password, "\n", NULL);
  gsize len = strlen (line), off = 0;
  int fd = s->password_on_stdin ? s->stdin_fd : s->pty_fd;

  g_debug ("%s: prompt seen, typing the password", s->method);
  while (off < len)
    {
      gssize n = write (fd, line + off, len - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = errno;
          memset (line, 0, len);
          spawn_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                         "%s: typing the password: %s", s->method, g_strerror (saved)));
          return FALSE;
        }
      off += (gsize) n;
    }
  memset (line, 0, len);
  s->typed = TRUE;
  s->typed_at = s->output->len;
  return TRUE;
}

static void scan_output (GTask *task);
static gboolean on_timeout_cb (gpointer user_data);

static gboolean
on_type_cb (gpointer user_data)
{
  GTask *task = user_data;
  g_autoptr(GTask) hold = g_object_ref (task);
  BecomeSpawn *s = g_task_get_task_data (task);

  g_clear_pointer (&s->type_source, g_source_unref);
  if (!s->done && type_password (task))
    scan_output (task);
  return G_SOURCE_REMOVE;
}

/* Types the password now, or type_delay_ms after the prompt: a program
 * that prints its prompt and then sets up its terminal with TCSAFLUSH
 * would throw away what came too soon. */
static void
type_password_soon (GTask *task)
{
  BecomeSpawn *s = g_task_get_task_data (task);

  if (s->type_delay_ms == 0)
    {
      if (type_password (task))
        scan_output (task);
      return;
    }
  clear_source (&s->type_source);
  s->type_source = g_timeout_source_new (s->type_delay_ms);
  g_source_set_callback (s->type_source, on_type_cb, g_object_ref (task), g_object_unref);
  g_source_set_static_name (s->type_source, "[mitogen] become typing");
  g_source_attach (s->type_source, s->context);
}

static void
arm_timeout (BecomeSpawn *s,
             GTask       *task)
{
  clear_source (&s->timeout_source);
  s->timeout_source = g_timeout_source_new (0);
  g_source_set_ready_time (s->timeout_source, s->deadline);
  g_source_set_callback (s->timeout_source, on_timeout_cb, g_object_ref (task), g_object_unref);
  g_source_set_static_name (s->timeout_source, "[mitogen] become timeout");
  g_source_attach (s->timeout_source, s->context);
}

static void
password_answered_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  BecomeSpawn *s = g_task_get_task_data (task);
  MitogenSecretRequest *request = g_object_get_data (G_OBJECT (task), "mitogen-become-request");
  g_autoptr(GError) error = NULL;
  MitogenInteractionResult r = mitogen_transport_ask_finish (MITOGEN_TRANSPORT (source), result, &error);

  s->asking = FALSE;
  if (s->done)
    return;
  if (r == MITOGEN_INTERACTION_FAILED && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      spawn_fail (task, g_steal_pointer (&error));
      return;
    }
  if (r == MITOGEN_INTERACTION_FAILED)
    {
      spawn_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD,
                                     "%s password is required (%s): the interaction gave none: %s",
                                     s->method, s->target, error->message));
      return;
    }
  if (r != MITOGEN_INTERACTION_HANDLED || mitogen_secret_request_get_answer (request) == NULL)
    {
      spawn_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD,
                                     "%s password is required (%s): no password option, and the "
                                     "interaction did not answer", s->method, s->target));
      return;
    }
  s->password = g_strdup (mitogen_secret_request_get_answer (request));
  s->asked = TRUE;
  s->deadline = g_get_monotonic_time () + (gint64) (s->timeout * G_USEC_PER_SEC);
  arm_timeout (s, task);
  type_password_soon (task);
}

static void
ask_password (GTask     *task,
              const char *prompt)
{
  BecomeSpawn *s = g_task_get_task_data (task);
  MitogenTransport *transport = g_task_get_source_object (task);
  g_autoptr(MitogenSecretRequest) request =
    mitogen_secret_request_new (s->method, MITOGEN_SECRET_KIND_PASSWORD, s->target, s->user, prompt);

  g_debug ("%s: prompt seen, no password option: asking the interaction", s->method);
  s->asking = TRUE;
  clear_source (&s->timeout_source);
  g_object_set_data_full (G_OBJECT (task), "mitogen-become-request", g_object_ref (request), g_object_unref);
  mitogen_transport_ask_async (transport, request, g_task_get_cancellable (task),
                               password_answered_cb, g_object_ref (task));
}

/* The prompt waiting at the end of the output, if there is one (and it
 * came after scan_from): the last line, not yet ended, naming a password
 * and ending with ':' (and blanks). */
static char *
waiting_prompt (BecomeSpawn *s)
{
  const char *str = s->output->str;
  gsize end = s->output->len;
  gsize start = end;
  g_autofree char *line = NULL;
  g_autofree char *lower = NULL;

  while (end > s->scan_from && g_ascii_isspace (str[end - 1]) && str[end - 1] != '\n' && str[end - 1] != '\r')
    end--;
  if (end <= s->scan_from || str[end - 1] != ':')
    return NULL;
  start = end;
  while (start > s->scan_from && str[start - 1] != '\n' && str[start - 1] != '\r')
    start--;
  line = g_strndup (str + start, s->output->len - start);
  lower = g_ascii_strdown (line, -1);
  if (strstr (lower, "password") == NULL && strstr (lower, "passphrase") == NULL)
    return NULL;
  return g_utf8_make_valid (line, -1);
}

static gboolean
says_rejected (BecomeSpawn *s)
{
  if (!s->typed || s->rejected == NULL)
    return FALSE;
  for (gsize i = 0; s->rejected[i] != NULL; i++)
    if (g_strstr_len (s->output->str + s->typed_at, (gssize) (s->output->len - s->typed_at),
                      s->rejected[i]) != NULL)
      return TRUE;
  return FALSE;
}

static void
scan_output (GTask *task)
{
  BecomeSpawn *s = g_task_get_task_data (task);
  g_autofree char *prompt = NULL;

  if (s->done || s->asking)
    return;
  if (says_rejected (s))
    {
      fail_incorrect (task);
      return;
    }
  prompt = waiting_prompt (s);
  if (prompt == NULL)
    return;
  s->scan_from = s->output->len;
  s->prompts++;
  if (s->prompts > 1)
    {
      fail_incorrect (task);
      return;
    }
  if (s->password == NULL)
    {
      ask_password (task, prompt);
      return;
    }
  type_password_soon (task);
}

/* FALSE: the PTY is closed (EIO once every holder of its terminal side
 * has gone). */
static gboolean
read_pty (BecomeSpawn *s)
{
  char buf[1024];

  for (;;)
    {
      gssize n = read (s->pty_fd, buf, sizeof buf);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return TRUE;
      if (n <= 0)
        return FALSE;
      g_string_append_len (s->output, buf, n);
      if (s->output->len > OUTPUT_KEEP)
        {
          gsize cut = s->output->len - OUTPUT_KEEP;

          g_string_erase (s->output, 0, (gssize) cut);
          s->scan_from = s->scan_from > cut ? s->scan_from - cut : 0;
          s->typed_at = s->typed_at > cut ? s->typed_at - cut : 0;
        }
    }
}

static void
fail_exited (GTask *task)
{
  BecomeSpawn *s = g_task_get_task_data (task);
  g_autofree char *text = NULL;

  if (s->pty_fd >= 0)
    read_pty (s);
  scan_output (task);
  if (s->done)
    return;
  text = printed_text (s);
  spawn_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                 "%s exited before running the command (%s)%s%s", s->method, s->target,
                                 text[0] != '\0' ? ": " : "", text));
}

static gboolean
on_pty_cb (int          fd,
           GIOCondition condition,
           gpointer     user_data)
{
  GTask *task = user_data;
  g_autoptr(GTask) hold = g_object_ref (task);
  BecomeSpawn *s = g_task_get_task_data (task);
  gboolean open = read_pty (s);

  scan_output (task);
  if (s->done)
    return G_SOURCE_REMOVE;
  if (!open)
    {
      g_clear_pointer (&s->pty_source, g_source_unref);
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
  BecomeSpawn *s = g_task_get_task_data (task);

  if (s->pty_source != NULL && read_pty (s))
    scan_output (task);
  if (s->done)
    return G_SOURCE_REMOVE;
  if (condition & G_IO_IN)
    spawn_succeed (task);
  else
    fail_exited (task);
  return G_SOURCE_REMOVE;
}

static gboolean
on_timeout_cb (gpointer user_data)
{
  GTask *task = user_data;
  g_autoptr(GTask) hold = g_object_ref (task);
  BecomeSpawn *s = g_task_get_task_data (task);
  g_autofree char *text = NULL;

  if (s->pty_fd >= 0)
    read_pty (s);
  text = printed_text (s);
  spawn_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT,
                                 "%s: the command did not start within connect_timeout%s%s%s", s->method,
                                 s->typed ? " (the password was typed)" : "",
                                 text[0] != '\0' ? "; it printed: " : "", text));
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
attach_fd_source (BecomeSpawn       *s,
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

/* Broker thread, the broker's main context thread-default. Runs @argv
 * (the whole command line) and completes @callback's task as
 * spawn_async must (the class's default spawn_finish takes it).
 * @password may be NULL (asked from the interaction if needed). */
void
mitogen_become_spawn_async (MitogenTransport        *transport,
                            const char * const      *argv,
                            const char              *password,
                            const MitogenBecomeSpec *spec,
                            GCancellable            *cancellable,
                            GAsyncReadyCallback      callback,
                            gpointer                 user_data)
{
  g_autoptr(GTask) task = g_task_new (transport, cancellable, callback, user_data);
  g_autoptr(GError) error = NULL;
  BecomeSpawn *s;
  double timeout;

  g_task_set_source_tag (task, mitogen_become_spawn_async);
  /* Our limit ends before the core's connect_timeout, so that our error,
   * which quotes the program, is the one reported. */
  timeout = mitogen_transport_get_connect_timeout (transport);
  timeout -= MIN (MAX (timeout * 0.05, 0.2), timeout * 0.5);

  s = g_new0 (BecomeSpawn, 1);
  s->context = g_main_context_ref_thread_default ();
  s->password_on_stdin = spec->password_on_stdin;
  s->type_delay_ms = spec->type_delay_ms;
  s->rejected = spec->rejected;
  s->method = g_strdup (spec->method);
  s->target = g_strdup (spec->target);
  s->user = g_strdup (spec->user);
  s->stdin_fd = s->stdout_fd = s->pty_fd = -1;
  s->output = g_string_new (NULL);
  s->password = g_strdup (password);
  s->timeout = timeout;
  s->deadline = g_get_monotonic_time () + (gint64) (timeout * G_USEC_PER_SEC);
  g_task_set_task_data (task, s, become_spawn_free);

  /* No PR_SET_PDEATHSIG: the setuid exec drops it; the program ends with
   * its stream. */
  if (!mitogen_transport_spawn_command (transport, argv, NULL,
                                        MITOGEN_SPAWN_PIPES | MITOGEN_SPAWN_STDERR_PTY |
                                        MITOGEN_SPAWN_KEEP_WITH_PARENT,
                                        &s->stdout_fd, &s->stdin_fd, &s->pty_fd, &s->pid, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_debug ("%s: started %s (pid %d)", s->method, argv[0], (int) s->pid);

  arm_timeout (s, task);
  if (cancellable != NULL)
    {
      s->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (s->cancel_source, G_SOURCE_FUNC (on_cancelled_cb), g_object_ref (task),
                             g_object_unref);
      g_source_set_static_name (s->cancel_source, "[mitogen] become cancelled");
      g_source_attach (s->cancel_source, s->context);
    }
  s->pty_source = attach_fd_source (s, s->pty_fd, on_pty_cb, "[mitogen] become terminal", task);
  g_source_set_priority (s->pty_source, G_PRIORITY_DEFAULT - 1);
  s->stdout_source = attach_fd_source (s, s->stdout_fd, on_stdout_cb, "[mitogen] become stdout", task);
}
