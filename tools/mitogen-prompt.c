/* mitogen-prompt.c — the tool's MitogenInteraction: prompts on the terminal
 *
 * Set on every router the tool makes. When a connect needs what its
 * options do not say — sudo's or ssh's password (no --ask-pass or
 * --password-file), an unknown or changed ssh host key under
 * check_host_keys=enforce, keyboard-interactive prompts — it asks on
 * /dev/tty: passwords with echo off, host keys as yes/no/always. Without a
 * controlling terminal it answers nothing, and the connect fails as it
 * did before (a password error, the host-key error).
 *
 * Connects of a fan-out run on several threads: one prompt at a time. A
 * prompt gives up (and restores the terminal) when the connect stops
 * waiting (cancelled, the interaction's timeout) or on Ctrl-C.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-tool"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "mitogen-tool.h"

#define TOOL_TYPE_PROMPT (tool_prompt_get_type ())
G_DECLARE_FINAL_TYPE (ToolPrompt, tool_prompt, TOOL, PROMPT, MitogenInteraction)

struct _ToolPrompt
{
  MitogenInteraction parent_instance;
};

G_DEFINE_FINAL_TYPE (ToolPrompt, tool_prompt, MITOGEN_TYPE_INTERACTION)

static GMutex prompt_lock;   /* one prompt on the terminal at a time */

static void
say (int         fd,
     const char *text)
{
  tool_write_all (fd, text, strlen (text));
}

/* Shows @prompt on the terminal @fd and reads a line, echoed or not; NULL
 * when the connect stopped waiting (@cancellable), on Ctrl-C, or at end
 * of file. Echo goes off before the prompt shows: what is typed at once
 * is neither shown nor flushed away. */
static char *
read_line (int           fd,
           const char   *prompt,
           gboolean      echo,
           GCancellable *cancellable)
{
  struct termios saved, quiet;
  gboolean restore = FALSE;
  GString *line = g_string_new (NULL);
  gboolean ok = FALSE;
  GPollFD cancel_fd = { -1, 0, 0 };
  gboolean have_cancel_fd = cancellable != NULL && g_cancellable_make_pollfd (cancellable, &cancel_fd);

  if (!echo && tcgetattr (fd, &saved) == 0)
    {
      quiet = saved;
      quiet.c_lflag &= ~(tcflag_t) (ECHO | ECHONL);
      quiet.c_lflag |= ICANON;
      restore = tcsetattr (fd, TCSAFLUSH, &quiet) == 0;
    }
  say (fd, prompt);

  for (;;)
    {
      struct pollfd fds[2] = { { fd, POLLIN, 0 }, { cancel_fd.fd, POLLIN, 0 } };
      char c;
      gssize n;
      int rc = poll (fds, have_cancel_fd ? 2 : 1, 200);

      if (tool_get_interrupted () != 0 || g_cancellable_is_cancelled (cancellable))
        break;
      if (rc < 0 && errno == EINTR)
        continue;
      if (rc <= 0 || !(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      n = read (fd, &c, 1);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n <= 0)
        break;
      if (c == '\n' || c == '\r')
        {
          ok = TRUE;
          break;
        }
      g_string_append_c (line, c);
    }

  if (restore)
    {
      tcsetattr (fd, TCSAFLUSH, &saved);
      say (fd, "\n");
    }
  if (have_cancel_fd)
    g_cancellable_release_fd (cancellable);
  if (!ok || !g_utf8_validate (line->str, (gssize) line->len, NULL))
    {
      if (!ok)
        say (fd, "\n");
      memset (line->str, 0, line->len);
      g_string_free (line, TRUE);
      return NULL;
    }
  return g_string_free (line, FALSE);
}

static int
open_tty (void)
{
  return open ("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
}

static MitogenInteractionResult
prompt_ask_password (MitogenInteraction    *interaction,
                     MitogenSecretRequest  *request,
                     GCancellable          *cancellable,
                     GError               **error)
{
  int fd = open_tty ();
  g_autofree char *text = NULL;
  char *answer;

  if (fd < 0)
    return MITOGEN_INTERACTION_UNHANDLED;
  g_mutex_lock (&prompt_lock);
  text = g_strdup_printf ("(%s) %s", mitogen_secret_request_get_target (request),
                          mitogen_secret_request_get_prompt (request));
  answer = read_line (fd, text, FALSE, cancellable);
  g_mutex_unlock (&prompt_lock);
  close (fd);
  if (answer == NULL)
    return MITOGEN_INTERACTION_UNHANDLED;
  mitogen_secret_request_set_answer (request, answer);
  memset (answer, 0, strlen (answer));
  g_free (answer);
  return MITOGEN_INTERACTION_HANDLED;
}

static MitogenInteractionResult
prompt_ask_host_key (MitogenInteraction     *interaction,
                     MitogenHostKeyRequest  *request,
                     GCancellable           *cancellable,
                     GError                **error)
{
  int fd = open_tty ();
  g_autofree char *text = NULL;
  MitogenInteractionResult result = MITOGEN_INTERACTION_UNHANDLED;

  if (fd < 0)
    return MITOGEN_INTERACTION_UNHANDLED;
  g_mutex_lock (&prompt_lock);
  if (mitogen_host_key_request_get_changed (request))
    text = g_strdup_printf ("WARNING: the host key of %s (port %u) has CHANGED: someone may be "
                            "intercepting the connection.\n"
                            "Its %s key fingerprint is now %s; %s records another.\n",
                            mitogen_host_key_request_get_host (request),
                            mitogen_host_key_request_get_port (request),
                            mitogen_host_key_request_get_key_type (request),
                            mitogen_host_key_request_get_fingerprint (request),
                            mitogen_host_key_request_get_known_hosts_file (request) != NULL
                              ? mitogen_host_key_request_get_known_hosts_file (request) : "known_hosts");
  else
    text = g_strdup_printf ("The authenticity of host %s (port %u) can't be established.\n"
                            "Its %s key fingerprint is %s.\n",
                            mitogen_host_key_request_get_host (request),
                            mitogen_host_key_request_get_port (request),
                            mitogen_host_key_request_get_key_type (request),
                            mitogen_host_key_request_get_fingerprint (request));
  say (fd, text);
  for (const char *prompt = "Connect? yes (this time), always (and record the key), no: ";;
       prompt = "Please type 'yes', 'always' or 'no': ")
    {
      g_autofree char *answer = read_line (fd, prompt, TRUE, cancellable);

      if (answer == NULL)
        break;
      g_strstrip (answer);
      result = MITOGEN_INTERACTION_HANDLED;
      if (g_ascii_strcasecmp (answer, "yes") == 0)
        mitogen_host_key_request_set_answer (request, MITOGEN_HOST_KEY_ANSWER_ACCEPT_ONCE);
      else if (g_ascii_strcasecmp (answer, "always") == 0)
        mitogen_host_key_request_set_answer (request, MITOGEN_HOST_KEY_ANSWER_ACCEPT_ALWAYS);
      else if (g_ascii_strcasecmp (answer, "no") == 0)
        mitogen_host_key_request_set_answer (request, MITOGEN_HOST_KEY_ANSWER_REFUSE);
      else
        {
          result = MITOGEN_INTERACTION_UNHANDLED;
          continue;
        }
      break;
    }
  g_mutex_unlock (&prompt_lock);
  close (fd);
  return result;
}

static MitogenInteractionResult
prompt_ask_questions (MitogenInteraction       *interaction,
                      MitogenQuestionsRequest  *request,
                      GCancellable             *cancellable,
                      GError                  **error)
{
  int fd = open_tty ();
  const char * const *prompts = mitogen_questions_request_get_prompts (request);
  g_autoptr(GPtrArray) answers = g_ptr_array_new_with_free_func (g_free);
  MitogenInteractionResult result = MITOGEN_INTERACTION_HANDLED;

  if (fd < 0)
    return MITOGEN_INTERACTION_UNHANDLED;
  g_mutex_lock (&prompt_lock);
  say (fd, "(");
  say (fd, mitogen_questions_request_get_target (request));
  say (fd, ")\n");
  if (mitogen_questions_request_get_name (request)[0] != '\0')
    {
      say (fd, mitogen_questions_request_get_name (request));
      say (fd, "\n");
    }
  if (mitogen_questions_request_get_instruction (request)[0] != '\0')
    {
      say (fd, mitogen_questions_request_get_instruction (request));
      say (fd, "\n");
    }
  for (guint i = 0; prompts[i] != NULL; i++)
    {
      char *answer;

      answer = read_line (fd, prompts[i], mitogen_questions_request_get_echo (request, i), cancellable);
      if (answer == NULL)
        {
          result = MITOGEN_INTERACTION_UNHANDLED;
          break;
        }
      g_ptr_array_add (answers, answer);
    }
  g_mutex_unlock (&prompt_lock);
  close (fd);
  if (result == MITOGEN_INTERACTION_HANDLED)
    {
      g_ptr_array_add (answers, NULL);
      mitogen_questions_request_set_answers (request, (const char * const *) answers->pdata);
    }
  for (guint i = 0; i < answers->len; i++)
    if (answers->pdata[i] != NULL)
      memset (answers->pdata[i], 0, strlen (answers->pdata[i]));
  return result;
}

static void
tool_prompt_class_init (ToolPromptClass *klass)
{
  MitogenInteractionClass *interaction_class = MITOGEN_INTERACTION_CLASS (klass);

  interaction_class->ask_password = prompt_ask_password;
  interaction_class->ask_host_key = prompt_ask_host_key;
  interaction_class->ask_questions = prompt_ask_questions;
}

static void
tool_prompt_init (ToolPrompt *self)
{
}

/* A router that prompts on the terminal for what the options do not say. */
MitogenRouter *
tool_router_new (void)
{
  MitogenRouter *router = mitogen_router_new ();
  g_autoptr(MitogenInteraction) prompt = g_object_new (TOOL_TYPE_PROMPT, NULL);

  mitogen_router_set_interaction (router, prompt);
  return router;
}
