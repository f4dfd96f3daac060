/* fuzz-fakessh-args.c — fakessh's ssh(1) command line
 * (agent/mitogen-fakessh-args.c)
 *
 * Input: the arguments after argv[0] ("ssh"), separated by NUL bytes
 * (an argument cannot hold one). The environment SendEnv patterns match
 * against is a fixed list.
 *
 * Checks: a parse that fails leaves the struct cleared and says why; one
 * that succeeds has what its action needs (RUN: a host and a command),
 * and the environment it adds names each variable once.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <string.h>

#include "fuzz-common.h"
#include "mitogen-fakessh-args.h"

static const char * const fuzz_envp[] = {
  "HOME=/home/u", "LANG=C.UTF-8", "LC_ALL=C", "LC_TIME=en_GB.UTF-8", "GIT_PROTOCOL=version=2",
  "PATH=/usr/bin:/bin", "EMPTY=", "NOEQUALS", "=novalue", "TERM=xterm", NULL
};

#define FUZZ_MAX_ARGS 256

void
fuzz_fakessh_args_init (void)
{
}

int
fuzz_fakessh_args_one (const guint8 *data,
                       gsize         size)
{
  g_autofree char *text = fuzz_strndup (data, size);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GHashTable) names = NULL;
  g_autoptr(GError) error = NULL;
  MitogenFakesshArgs args = { 0, };
  gsize start = 0;

  g_ptr_array_add (argv, (gpointer) "ssh");
  for (gsize i = 0; i <= size && argv->len < FUZZ_MAX_ARGS; i++)
    if (i == size || text[i] == '\0')
      {
        if (i > start || i < size)
          g_ptr_array_add (argv, text + start);
        start = i + 1;
      }
  g_ptr_array_add (argv, NULL);

  if (!mitogen_fakessh_args_parse (&args, (int) argv->len - 1, (const char * const *) argv->pdata,
                                   fuzz_envp, &error))
    {
      FUZZ_CHECK (error != NULL && error->domain == G_OPTION_ERROR);
      FUZZ_CHECK (args.host == NULL && args.user == NULL && args.argv == NULL && args.setenv == NULL);
      FUZZ_CHECK (!args.stdin_null && !args.subsystem && args.action == 0);
      return 0;
    }

  FUZZ_CHECK (error == NULL);
  FUZZ_CHECK (args.setenv != NULL);
  switch (args.action)
    {
    case MITOGEN_FAKESSH_ACTION_RUN:
      FUZZ_CHECK (args.host != NULL && args.argv != NULL && args.argv[0] != NULL);
      break;
    case MITOGEN_FAKESSH_ACTION_PRINT_CONFIG:
      FUZZ_CHECK (args.host != NULL && args.argv == NULL);
      break;
    case MITOGEN_FAKESSH_ACTION_PRINT_VERSION:
      FUZZ_CHECK (args.host == NULL && args.argv == NULL);
      break;
    default:
      FUZZ_CHECK (FALSE);
    }

  names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; args.setenv[i] != NULL; i++)
    {
      const char *eq = strchr (args.setenv[i], '=');

      FUZZ_CHECK (eq != NULL && eq != args.setenv[i]);
      FUZZ_CHECK (g_hash_table_add (names, g_strndup (args.setenv[i], (gsize) (eq - args.setenv[i]))));
    }

  mitogen_fakessh_args_clear (&args);
  mitogen_fakessh_args_clear (&args);
  return 0;
}

FUZZ_TARGET (fakessh_args)
