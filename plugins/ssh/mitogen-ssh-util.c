/* mitogen-ssh-util.c — what both ways of reaching a host share: POSIX sh
 * quoting of the command line, and the spawn result
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "mitogen-ssh-connection.h"

static gboolean
is_plain (const char *arg)
{
  static const char safe[] = "@%+=:,./-_";

  if (arg[0] == '\0')
    return FALSE;
  for (const char *p = arg; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr (safe, *p) == NULL)
      return FALSE;
  return TRUE;
}

char *
mitogen_ssh_quote_argv (const char * const *argv)
{
  GString *line = g_string_new (NULL);

  for (gsize i = 0; argv[i] != NULL; i++)
    {
      if (i > 0)
        g_string_append_c (line, ' ');
      if (is_plain (argv[i]))
        {
          g_string_append (line, argv[i]);
          continue;
        }
      /* 'it'\''s': close the quote, an escaped quote, reopen. */
      g_string_append_c (line, '\'');
      for (const char *p = argv[i]; *p != '\0'; p++)
        {
          if (*p == '\'')
            g_string_append (line, "'\\''");
          else
            g_string_append_c (line, *p);
        }
      g_string_append_c (line, '\'');
    }
  return g_string_free (line, FALSE);
}

