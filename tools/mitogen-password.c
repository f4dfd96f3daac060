/* mitogen-password.c — where the `password` option comes from
 *
 * Never the command line (a CHAIN with `password=` is refused, see
 * mitogen-chain.c): --ask-pass prompts on the terminal without echo,
 * --password-file FILE (or MITOGEN_PASSWORD_FILE) reads the first line of
 * a file. The password goes to every hop whose method has a `password`
 * option (ssh, sudo, su, doas, pkexec).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-tool"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "mitogen-tool.h"

gboolean
tool_password_wanted (ToolCommon *common)
{
  const char *env = g_getenv ("MITOGEN_PASSWORD_FILE");

  return common->ask_pass || common->password_file != NULL || (env != NULL && env[0] != '\0');
}

static char *
first_line (char *text)
{
  text[strcspn (text, "\r\n")] = '\0';
  return text;
}

static char *
read_password_file (const char  *path,
                    const char  *source,
                    GError     **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  g_autoptr(GError) local_error = NULL;

  if (!g_file_get_contents (path, &text, &len, &local_error))
    {
      g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE, "%s: %s", source, local_error->message);
      return NULL;
    }
  if (memchr (text, '\0', len) != NULL || !g_utf8_validate (text, (gssize) len, NULL))
    {
      g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE, "%s: the password file %s is not text", source, path);
      return NULL;
    }
  return g_strdup (first_line (text));
}

/* Prompts on the controlling terminal with echo off. */
static char *
ask_password (GError **error)
{
  static const char prompt[] = "Password: ";
  struct termios saved, quiet;
  GString *line = g_string_new (NULL);
  int fd = open ("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  gboolean restore;

  if (fd < 0)
    {
      g_string_free (line, TRUE);
      g_set_error (error, TOOL_ERROR, TOOL_EXIT_USAGE,
                   "--ask-pass needs a terminal (%s); use --password-file FILE", g_strerror (errno));
      return NULL;
    }
  restore = tcgetattr (fd, &saved) == 0;
  if (restore)
    {
      quiet = saved;
      quiet.c_lflag &= ~(tcflag_t) (ECHO | ECHONL);
      quiet.c_lflag |= ICANON;
      tcsetattr (fd, TCSAFLUSH, &quiet);
    }
  tool_write_all (fd, prompt, sizeof prompt - 1);

  for (;;)
    {
      char c;
      gssize n = read (fd, &c, 1);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0 || c == '\n' || c == '\r')
        break;
      g_string_append_c (line, c);
    }

  if (restore)
    tcsetattr (fd, TCSAFLUSH, &saved);
  tool_write_all (fd, "\n", 1);
  close (fd);

  if (!g_utf8_validate (line->str, (gssize) line->len, NULL))
    {
      memset (line->str, 0, line->len);
      g_string_free (line, TRUE);
      g_set_error_literal (error, TOOL_ERROR, TOOL_EXIT_USAGE, "The password is not valid UTF-8");
      return NULL;
    }
  return g_string_free (line, FALSE);
}

/* The password, from --ask-pass, --password-file or MITOGEN_PASSWORD_FILE
 * (in that order). Usage errors. */
char *
tool_read_password (ToolCommon  *common,
                    GError     **error)
{
  const char *env = g_getenv ("MITOGEN_PASSWORD_FILE");

  if (common->ask_pass)
    return ask_password (error);
  if (common->password_file != NULL)
    return read_password_file (common->password_file, "--password-file", error);
  if (env != NULL && env[0] != '\0')
    return read_password_file (env, "MITOGEN_PASSWORD_FILE", error);
  g_set_error_literal (error, TOOL_ERROR, TOOL_EXIT_USAGE, "No password given");
  return NULL;
}
