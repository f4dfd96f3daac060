/* mitogen-fakessh-args.h — the command line of the fake ssh client
 *
 * fakessh is installed in PATH as `ssh`, so that rsync, scp, sftp and git
 * run their remote half in an already established Mitogen context. This
 * parser turns the ssh(1) command line those tools build into a request.
 * It models OpenSSH 9.2: what cannot change the result (routing,
 * authentication, crypto, verbosity, which the context already decided)
 * is accepted and ignored; what fakessh cannot honour (forwarding, a
 * background or command-less session) is an error, never silently dropped.
 *
 * Uses only GLib, so the static fakessh binary and the unit test can
 * compile it alone.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  MITOGEN_FAKESSH_ACTION_RUN,            /* run argv in the context */
  MITOGEN_FAKESSH_ACTION_PRINT_VERSION,  /* -V */
  MITOGEN_FAKESSH_ACTION_PRINT_CONFIG,   /* -G */
} MitogenFakesshAction;

typedef struct
{
  MitogenFakesshAction action;
  char     *host;        /* (owned) (nullable) the host argument, with any user@ removed (informational); NULL only for -V */
  char     *user;        /* (owned) (nullable) from user@host, -l, or -o User=; NULL if none */
  char    **argv;        /* (owned) (nullable) RUN: the program to run in the context, NULL-terminated; NULL otherwise */
  char    **setenv;      /* (owned) KEY=VALUE pairs to add to its environment (SendEnv/SetEnv), each KEY once; never NULL after a successful parse (may be empty) */
  gboolean  stdin_null;  /* -n: do not read our stdin, the program gets EOF at once */
  gboolean  subsystem;   /* -s was given */
} MitogenFakesshArgs;

/* Parses ssh's command line: @argv[0] is the program name. @envp is the
 * environment SendEnv patterns are matched against (NULL: g_get_environ ()).
 * @args is overwritten without freeing what it held: pass a zeroed or
 * cleared struct.
 *
 * RUN: argv is {"/bin/sh", "-c", command} (the words joined with spaces,
 * as ssh sends them to the remote shell), or for `-s … sftp` a script that
 * execs sftp-server. PRINT_CONFIG (-G): like RUN, all options are checked
 * (an unsupported one fails here too), but no command is needed and argv
 * is NULL. PRINT_VERSION (-V): ssh stops reading at -V, so only the
 * options before it are checked; host and argv are NULL.
 *
 * On failure sets @error (domain G_OPTION_ERROR, code G_OPTION_ERROR_BAD_VALUE or
 * G_OPTION_ERROR_UNKNOWN_OPTION) with a one-line message that names the offending option,
 * and leaves @args cleared. */
gboolean mitogen_fakessh_args_parse (MitogenFakesshArgs  *args,
                                     int                  argc,
                                     const char * const  *argv,
                                     const char * const  *envp,
                                     GError             **error);

/* Frees what @args holds and zeroes it; may be called again. */
void     mitogen_fakessh_args_clear (MitogenFakesshArgs  *args);

G_END_DECLS
