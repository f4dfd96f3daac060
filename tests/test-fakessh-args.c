/* test-fakessh-args.c — the fake ssh client's command-line parser
 *
 * The command lines under /real/ are the exact argv that rsync 3.2.7,
 * scp and sftp (OpenSSH 9.2p1) and git 2.39.5 gave ssh on Debian 12,
 * captured with `strace -f -e trace=execve`. The rest pin down ssh(1)'s
 * syntax, the -o keywords, the environment, every error, and a
 * randomized run that must never crash or leave anything behind.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <string.h>
#include <sys/wait.h>

#include "mitogen-fakessh-args.h"

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (MitogenFakesshArgs, mitogen_fakessh_args_clear)

/* Marks a case whose program is the sftp-server script. */
#define SFTP "(sftp-server script)"

static const char * const test_envp[] = {
  "HOME=/home/u",
  "LANG=C.UTF-8",
  "LC_ALL=C",
  "LC_TIME=en_GB.UTF-8",
  "LC_X=1",
  "GIT_PROTOCOL=version=2",
  "PATH=/usr/bin:/bin",
  "EMPTY=",
  "NOEQUALS",
  "=novalue",
  "LCX=2",
  NULL
};

static gboolean
parse (MitogenFakesshArgs  *args,
       const char * const  *argv,
       GError             **error)
{
  return mitogen_fakessh_args_parse (args, g_strv_length ((char **) argv), argv,
                                     test_envp, error);
}

static void
assert_cleared (const MitogenFakesshArgs *args)
{
  g_assert_cmpint (args->action, ==, 0);
  g_assert_null (args->host);
  g_assert_null (args->user);
  g_assert_null (args->argv);
  g_assert_null (args->setenv);
  g_assert_false (args->stdin_null);
  g_assert_false (args->subsystem);
}

static void
assert_strv (char * const *actual,
             const char   *expected[])
{
  gsize n = 0;

  g_assert_nonnull (actual);
  while (expected[n] != NULL)
    n++;
  for (gsize i = 0; i < n && actual[i] != NULL; i++)
    g_assert_cmpstr (actual[i], ==, expected[i]);
  g_assert_cmpuint (g_strv_length ((char **) actual), ==, n);
}

static void
assert_program (const MitogenFakesshArgs *args,
                const char               *command)
{
  g_assert_nonnull (args->argv);
  g_assert_cmpuint (g_strv_length (args->argv), ==, 3);
  g_assert_cmpstr (args->argv[0], ==, "/bin/sh");
  g_assert_cmpstr (args->argv[1], ==, "-c");
  if (g_strcmp0 (command, SFTP) == 0)
    {
      g_assert_true (args->subsystem);
      g_assert_nonnull (strstr (args->argv[2], "exec \"$p\""));
      g_assert_nonnull (strstr (args->argv[2], "/usr/lib/openssh/sftp-server"));
    }
  else
    g_assert_cmpstr (args->argv[2], ==, command);
}

/* Table-driven successful parses. */

typedef struct
{
  const char           *path;
  const char           *argv[24];
  MitogenFakesshAction  action;
  const char           *host;
  const char           *user;
  const char           *command;     /* sh -c's script, SFTP, or NULL: no argv */
  gboolean              stdin_null;
  gboolean              subsystem;
  const char           *setenv[8];
} ParseCase;

#define SCP_PREFIX "/usr/bin/ssh", "-x", "-oPermitLocalCommand=no", "-oClearAllForwardings=yes", \
                   "-oRemoteCommand=none", "-oRequestTTY=no"
#define SFTP_PREFIX "/usr/bin/ssh", "-oForwardX11 no", "-oPermitLocalCommand no", \
                    "-oClearAllForwardings yes", "-oForwardAgent no"

static const ParseCase parse_cases[] = {
  /* rsync 3.2.7: `rsync -a /etc/hostname root@localhost:/tmp/x` */
  { .path = "/real/rsync/push",
    .argv = { "ssh", "-l", "root", "localhost", "rsync", "--server", "-logDtpre.iLsfxCIvu", ".", "/tmp/x" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "localhost", .user = "root",
    .command = "rsync --server -logDtpre.iLsfxCIvu . /tmp/x" },
  /* `rsync -av localhost:/src/ /tmp/dst` */
  { .path = "/real/rsync/pull",
    .argv = { "ssh", "localhost", "rsync", "--server", "--sender", "-vlogDtpre.iLsfxCIvu", ".", "/src/" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "localhost",
    .command = "rsync --server --sender -vlogDtpre.iLsfxCIvu . /src/" },
  /* `rsync -a -e 'ssh -p 2222' /etc/hostname u@localhost:/tmp/x` */
  { .path = "/real/rsync/e-option",
    .argv = { "ssh", "-p", "2222", "-l", "u", "localhost", "rsync", "--server", "-logDtpre.iLsfxCIvu", ".", "/tmp/x" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "localhost", .user = "u",
    .command = "rsync --server -logDtpre.iLsfxCIvu . /tmp/x" },
  { .path = "/real/rsync/push-host",
    .argv = { "ssh", "-l", "root", "host", "rsync", "--server", "-logDtpre.iLsfxCIvu", ".", "/tmp/x" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "root",
    .command = "rsync --server -logDtpre.iLsfxCIvu . /tmp/x" },
  { .path = "/real/rsync/pull-host",
    .argv = { "ssh", "host", "rsync", "--server", "--sender", "-vlogDtpre.iLsfxCIvu", ".", "/src/" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "rsync --server --sender -vlogDtpre.iLsfxCIvu . /src/" },

  /* scp (SFTP protocol, the default): `scp /etc/hostname localhost:/tmp/x` */
  { .path = "/real/scp/sftp",
    .argv = { SCP_PREFIX, "-oForwardAgent=no", "-s", "--", "localhost", "sftp" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "localhost",
    .command = SFTP, .subsystem = TRUE },
  /* `scp -r /etc/hostname user@localhost:/tmp/dir` */
  { .path = "/real/scp/sftp-user",
    .argv = { SCP_PREFIX, "-oForwardAgent=no", "-l", "user", "-s", "--", "localhost", "sftp" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "localhost", .user = "user",
    .command = SFTP, .subsystem = TRUE },
  /* `scp -O /etc/hostname localhost:/tmp/x`: one word, not three */
  { .path = "/real/scp/legacy-to",
    .argv = { SCP_PREFIX, "-oForwardAgent=no", "--", "localhost", "scp -t /tmp/x" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "localhost",
    .command = "scp -t /tmp/x" },
  /* `scp -O localhost:/tmp/x /tmp/y` */
  { .path = "/real/scp/legacy-from",
    .argv = { SCP_PREFIX, "-oForwardAgent=no", "--", "localhost", "scp -f /tmp/x" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "localhost",
    .command = "scp -f /tmp/x" },
  /* `scp -O -r -p /etc/hostname user@localhost:/tmp/dir` */
  { .path = "/real/scp/legacy-user",
    .argv = { SCP_PREFIX, "-oForwardAgent=no", "-l", "user", "--", "localhost", "scp -r -p -t /tmp/dir" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "localhost", .user = "user",
    .command = "scp -r -p -t /tmp/dir" },
  /* `scp -O -P 2222 -i /tmp/key -o User=bob /etc/hostname 'localhost:/tmp/dir with space'` */
  { .path = "/real/scp/legacy-options",
    .argv = { SCP_PREFIX, "-i", "/tmp/key", "-o", "User=bob", "-oForwardAgent=no", "-p", "2222",
      "--", "localhost", "scp -t /tmp/dir with space" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "localhost", .user = "bob",
    .command = "scp -t /tmp/dir with space" },
  /* The same shape with the command in separate words. */
  { .path = "/real/scp/legacy-words",
    .argv = { SCP_PREFIX, "-oForwardAgent=no", "-l", "user", "--", "host", "scp", "-t", "/tmp/dir" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "user",
    .command = "scp -t /tmp/dir" },

  /* `sftp localhost` */
  { .path = "/real/sftp/plain",
    .argv = { SFTP_PREFIX, "-s", "--", "localhost", "sftp" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "localhost",
    .command = SFTP, .subsystem = TRUE },
  /* `sftp -P 2222 user@localhost:/tmp` */
  { .path = "/real/sftp/port-user",
    .argv = { SFTP_PREFIX, "-oPort 2222", "-l", "user", "-s", "--", "localhost", "sftp" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "localhost", .user = "user",
    .command = SFTP, .subsystem = TRUE },

  /* git 2.39.5, GIT_SSH_VARIANT unset or "ssh" (the same argv):
   * `git clone ssh://host/path` */
  { .path = "/real/git/clone-url",
    .argv = { "/usr/bin/ssh", "-o", "SendEnv=GIT_PROTOCOL", "host", "git-upload-pack '/path'" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "git-upload-pack '/path'",
    .setenv = { "GIT_PROTOCOL=version=2" } },
  /* `git clone host:path` */
  { .path = "/real/git/clone-scp-like",
    .argv = { "/usr/bin/ssh", "-o", "SendEnv=GIT_PROTOCOL", "host", "git-upload-pack 'path'" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "git-upload-pack 'path'",
    .setenv = { "GIT_PROTOCOL=version=2" } },
  /* `git clone ssh://user@host:2222/srv/repo.git` */
  { .path = "/real/git/clone-port-user",
    .argv = { "/usr/bin/ssh", "-o", "SendEnv=GIT_PROTOCOL", "-p", "2222", "user@host", "git-upload-pack '/srv/repo.git'" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "user",
    .command = "git-upload-pack '/srv/repo.git'",
    .setenv = { "GIT_PROTOCOL=version=2" } },
  /* `git clone user@host:repo.git` */
  { .path = "/real/git/clone-user-scp-like",
    .argv = { "/usr/bin/ssh", "-o", "SendEnv=GIT_PROTOCOL", "user@host", "git-upload-pack 'repo.git'" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "user",
    .command = "git-upload-pack 'repo.git'",
    .setenv = { "GIT_PROTOCOL=version=2" } },
  /* `git push ssh://host/path HEAD` (protocol v0: no SendEnv) */
  { .path = "/real/git/push",
    .argv = { "/usr/bin/ssh", "host", "git-receive-pack '/path'" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "git-receive-pack '/path'" },
  /* GIT_SSH=/tmp/mysh (a name git does not know): it probes with -G first */
  { .path = "/real/git/probe",
    .argv = { "/tmp/mysh", "-G", "-o", "SendEnv=GIT_PROTOCOL", "-p", "2222", "user@host" },
    .action = MITOGEN_FAKESSH_ACTION_PRINT_CONFIG, .host = "host", .user = "user",
    .setenv = { "GIT_PROTOCOL=version=2" } },
  { .path = "/real/git/probe-then-run",
    .argv = { "/tmp/mysh", "-o", "SendEnv=GIT_PROTOCOL", "-p", "2222", "user@host", "git-upload-pack '/srv/repo.git'" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "user",
    .command = "git-upload-pack '/srv/repo.git'",
    .setenv = { "GIT_PROTOCOL=version=2" } },
  /* GIT_SSH_COMMAND="/tmp/mysh -i /tmp/k", through sh -c '… "$@"' */
  { .path = "/real/git/command-probe",
    .argv = { "/tmp/mysh", "-i", "/tmp/k", "-G", "-o", "SendEnv=GIT_PROTOCOL", "-p", "2222", "user@host" },
    .action = MITOGEN_FAKESSH_ACTION_PRINT_CONFIG, .host = "host", .user = "user",
    .setenv = { "GIT_PROTOCOL=version=2" } },
  { .path = "/real/git/command-run",
    .argv = { "/tmp/mysh", "-i", "/tmp/k", "-o", "SendEnv=GIT_PROTOCOL", "-p", "2222", "user@host",
      "git-upload-pack '/srv/repo.git'" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "user",
    .command = "git-upload-pack '/srv/repo.git'",
    .setenv = { "GIT_PROTOCOL=version=2" } },
  { .path = "/real/git/probe-plain",
    .argv = { "ssh", "-G", "host" },
    .action = MITOGEN_FAKESSH_ACTION_PRINT_CONFIG, .host = "host" },

  /* getopt syntax */
  { .path = "/syntax/clustered",
    .argv = { "ssh", "-nT", "-vvv", "-4", "-xaCq", "host", "true" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "true", .stdin_null = TRUE },
  { .path = "/syntax/attached-arguments",
    .argv = { "ssh", "-p22", "-lroot", "-oBatchMode=yes", "-i~/.ssh/id", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "root",
    .command = "ls" },
  { .path = "/syntax/separate-arguments",
    .argv = { "ssh", "-p", "22", "-l", "root", "-o", "BatchMode=yes", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "root",
    .command = "ls" },
  { .path = "/syntax/cluster-ending-with-argument",
    .argv = { "ssh", "-nl", "root", "-tp22", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "root",
    .command = "ls", .stdin_null = TRUE },
  { .path = "/syntax/cluster-attached-argument",
    .argv = { "ssh", "-nlroot", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "root",
    .command = "ls", .stdin_null = TRUE },
  { .path = "/syntax/argument-looks-like-option",
    .argv = { "ssh", "-l", "-n", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "-n",
    .command = "ls" },
  { .path = "/syntax/options-after-host",
    .argv = { "ssh", "host", "-l", "user", "-n", "ls", "-l" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "user",
    .command = "ls -l", .stdin_null = TRUE },
  { .path = "/syntax/dashdash-after-host",
    .argv = { "ssh", "host", "--", "-l", "x" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "-l x" },
  { .path = "/syntax/dashdash-before-host",
    .argv = { "ssh", "--", "host", "-n", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "-n ls" },
  { .path = "/syntax/dashdash-in-command",
    .argv = { "ssh", "host", "ls", "--", "-n" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "ls -- -n" },
  { .path = "/syntax/words-joined-as-is",
    .argv = { "ssh", "host", "echo", "a  b", "'c'", "" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "echo a  b 'c' " },
  { .path = "/syntax/empty-option-lines",
    .argv = { "ssh", "-o", "", "-o", "   ", "-o", "# a comment", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "ls" },
  { .path = "/syntax/option-spacing",
    .argv = { "ssh", "-o", "  User = bob  ", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "bob",
    .command = "ls" },
  { .path = "/syntax/option-tab",
    .argv = { "ssh", "-o", "User\tbob", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "bob",
    .command = "ls" },
  { .path = "/syntax/keyword-case",
    .argv = { "ssh", "-o", "FORWARDAGENT=No", "-o", "user=x", "-o", "sendenv lang", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "x",
    .command = "ls" },
  { .path = "/syntax/deprecated-flags",
    .argv = { "ssh", "-2", "-P", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "ls" },

  /* Who the user is */
  { .path = "/user/two-at",
    .argv = { "ssh", "a@b@host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "a@b",
    .command = "ls" },
  { .path = "/user/first-l-wins",
    .argv = { "ssh", "-l", "one", "-l", "two", "host", "x" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "one",
    .command = "x" },
  { .path = "/user/l-before-at",
    .argv = { "ssh", "-l", "one", "two@host", "x" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "one",
    .command = "x" },
  { .path = "/user/at-before-l",
    .argv = { "ssh", "two@host", "-l", "one", "x" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "two",
    .command = "x" },
  { .path = "/user/l-over-config",
    .argv = { "ssh", "-o", "User=cfg", "-l", "cli", "host", "x" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "cli",
    .command = "x" },
  { .path = "/user/at-over-config",
    .argv = { "ssh", "-o", "User=cfg", "cli@host", "x" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "cli",
    .command = "x" },
  { .path = "/user/first-config-wins",
    .argv = { "ssh", "-o", "User=cfg", "-o", "User other", "host", "x" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "cfg",
    .command = "x" },
  { .path = "/user/config-quoted",
    .argv = { "ssh", "-o", "User=\"a b\"", "host", "x" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "a b",
    .command = "x" },
  { .path = "/user/uri",
    .argv = { "ssh", "ssh://us%40er@host:2222", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "us@er",
    .command = "ls" },
  { .path = "/user/uri-params",
    .argv = { "ssh", "ssh://user;fingerprint=SHA256-x@host/", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host", .user = "user",
    .command = "ls" },
  { .path = "/user/uri-ipv6",
    .argv = { "ssh", "ssh://[::1]:22", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "::1",
    .command = "ls" },

  /* RemoteCommand */
  { .path = "/remote-command/used",
    .argv = { "ssh", "-o", "RemoteCommand=echo 'a  b' # not a comment", "host" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "echo 'a  b' # not a comment" },
  { .path = "/remote-command/space-form",
    .argv = { "ssh", "-o", "RemoteCommand  uptime", "host" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "uptime" },
  { .path = "/remote-command/none-then-words",
    .argv = { "ssh", "-oRemoteCommand=NONE", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "ls" },
  { .path = "/remote-command/first-wins",
    .argv = { "ssh", "-oRemoteCommand=ls /", "-oRemoteCommand=rm -rf /", "host" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "ls /" },
  { .path = "/remote-command/empty-words",
    .argv = { "ssh", "-oRemoteCommand=ls", "host", "" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "ls" },

  /* Subsystems, stdin */
  { .path = "/subsystem/session-type",
    .argv = { "ssh", "-oSessionType=subsystem", "host", "sftp" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = SFTP, .subsystem = TRUE },
  { .path = "/subsystem/twice",
    .argv = { "ssh", "-s", "-oSessionType=subsystem", "-s", "host", "sftp" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = SFTP, .subsystem = TRUE },
  { .path = "/subsystem/session-type-default",
    .argv = { "ssh", "-oSessionType=default", "-oSessionType=none", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "ls" },
  { .path = "/stdin-null/option",
    .argv = { "ssh", "-oStdinNull=yes", "host", "cat" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "cat", .stdin_null = TRUE },
  { .path = "/stdin-null/flag-overrides",
    .argv = { "ssh", "-oStdinNull=no", "-n", "host", "cat" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "cat", .stdin_null = TRUE },
  { .path = "/stdin-null/first-option-wins",
    .argv = { "ssh", "-oStdinNull=no", "-oStdinNull=yes", "host", "cat" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "cat", .stdin_null = FALSE },

  /* Forwarding that a later option turns off again, as in ssh */
  { .path = "/forwarding/flags-undone",
    .argv = { "ssh", "-A", "-a", "-X", "-x", "-Y", "-x", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "ls" },
  { .path = "/forwarding/x11-flag-before-option",
    .argv = { "ssh", "-x", "-oForwardX11=yes", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "ls" },
  { .path = "/forwarding/agent-flag-before-option",
    .argv = { "ssh", "-a", "-oForwardAgent=yes", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "ls" },
  { .path = "/forwarding/first-option-wins",
    .argv = { "ssh", "-oForwardAgent=no", "-oForwardAgent=yes", "-o", "ForwardX11 false", "-o", "ForwardX11 yes", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "ls" },
  { .path = "/forwarding/cleared",
    .argv = { "ssh", "-L", "8080:localhost:80", "-R9000:localhost:9000", "-D", "1080", "-w", "0",
      "-oLocalForward=1 h:2", "-oClearAllForwardings=yes", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "ls" },
  { .path = "/forwarding/tunnel-no",
    .argv = { "ssh", "-oTunnel=no", "-w", "0", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "ls" },
  { .path = "/forwarding/fork-no",
    .argv = { "ssh", "-oForkAfterAuthentication=no", "-oForkAfterAuthentication=yes", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "ls" },

  /* IgnoreUnknown */
  { .path = "/ignore-unknown/matches",
    .argv = { "ssh", "-o", "IgnoreUnknown=Foo*,Bar", "-o", "FooBaz=1", "-o", "bar yes", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_RUN, .host = "host",
    .command = "ls" },

  /* -V, -G */
  { .path = "/version/alone",
    .argv = { "ssh", "-V" },
    .action = MITOGEN_FAKESSH_ACTION_PRINT_VERSION },
  { .path = "/version/stops-parsing",
    .argv = { "ssh", "-V", "-Z", "-o", "Bogus=1" },
    .action = MITOGEN_FAKESSH_ACTION_PRINT_VERSION },
  { .path = "/version/clustered",
    .argv = { "ssh", "-vV" },
    .action = MITOGEN_FAKESSH_ACTION_PRINT_VERSION },
  { .path = "/version/after-host",
    .argv = { "ssh", "host", "-V", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_PRINT_VERSION },
  { .path = "/version/before-final-checks",
    .argv = { "ssh", "-A", "-V" },
    .action = MITOGEN_FAKESSH_ACTION_PRINT_VERSION },
  { .path = "/config/with-command",
    .argv = { "ssh", "-G", "-n", "host", "ls" },
    .action = MITOGEN_FAKESSH_ACTION_PRINT_CONFIG, .host = "host",
    .stdin_null = TRUE },
  { .path = "/config/any-subsystem",
    .argv = { "ssh", "-G", "-s", "host", "netconf" },
    .action = MITOGEN_FAKESSH_ACTION_PRINT_CONFIG, .host = "host",
    .subsystem = TRUE },
  { .path = "/config/after-host",
    .argv = { "ssh", "user@host", "-G" },
    .action = MITOGEN_FAKESSH_ACTION_PRINT_CONFIG, .host = "host", .user = "user" },
};

static void
test_parse_case (gconstpointer data)
{
  const ParseCase *c = data;
  g_auto(MitogenFakesshArgs) args = { 0, };
  g_autoptr(GError) error = NULL;

  g_assert_true (parse (&args, c->argv, &error));
  g_assert_no_error (error);

  g_assert_cmpint (args.action, ==, c->action);
  g_assert_cmpstr (args.host, ==, c->host);
  g_assert_cmpstr (args.user, ==, c->user);
  g_assert_cmpint (args.stdin_null, ==, c->stdin_null);
  g_assert_cmpint (args.subsystem, ==, c->subsystem);
  assert_strv (args.setenv, (const char **) c->setenv);

  if (c->command != NULL)
    assert_program (&args, c->command);
  else
    g_assert_null (args.argv);
}

/* Table-driven failures. */

typedef struct
{
  const char   *path;
  const char   *argv[16];
  GOptionError  code;
  const char   *message;  /* a part of the message, normally the option */
} ErrorCase;

#define BAD G_OPTION_ERROR_BAD_VALUE
#define UNKNOWN G_OPTION_ERROR_UNKNOWN_OPTION

static const ErrorCase error_cases[] = {
  { "/error/no-arguments", { "ssh" }, BAD, "no host given" },
  { "/error/only-options", { "ssh", "-n", "-l", "root" }, BAD, "no host given" },
  { "/error/config-without-host", { "ssh", "-G" }, BAD, "no host given" },
  { "/error/missing-argument", { "ssh", "-l" }, BAD, "option -l requires an argument" },
  { "/error/missing-argument-after-host", { "ssh", "host", "-p" }, BAD, "option -p requires an argument" },
  { "/error/missing-o-argument", { "ssh", "-nvo" }, BAD, "option -o requires an argument" },
  { "/error/unknown", { "ssh", "-Z", "host", "ls" }, UNKNOWN, "unknown option -Z" },
  { "/error/unknown-clustered", { "ssh", "-nZ", "host", "ls" }, UNKNOWN, "unknown option -Z" },
  { "/error/unknown-after-host", { "ssh", "host", "-h", "ls" }, UNKNOWN, "unknown option -h" },
  { "/error/unknown-long", { "ssh", "--help" }, UNKNOWN, "unknown option --" },
  { "/error/unknown-before-version", { "ssh", "-Z", "-V" }, UNKNOWN, "unknown option -Z" },
  { "/error/unknown-keyword", { "ssh", "-o", "Foo=bar", "host", "ls" }, UNKNOWN,
    "unsupported option -o Foo: not an ssh_config keyword" },
  { "/error/unknown-keyword-before-ignore", { "ssh", "-oFooBaz=1", "-oIgnoreUnknown=Foo*", "host", "ls" },
    UNKNOWN, "-o FooBaz" },
  { "/error/ignore-unknown-negated", { "ssh", "-oIgnoreUnknown=*,!foo*", "-oFooBaz=1", "host", "ls" },
    UNKNOWN, "-o FooBaz" },
  { "/error/protocol-1", { "ssh", "-1", "host", "ls" }, BAD, "-1" },

  { "/error/agent", { "ssh", "-A", "host", "ls" }, BAD, "-A: fakessh does not support agent forwarding" },
  { "/error/agent-after-off", { "ssh", "-a", "-A", "host", "ls" }, BAD, "-A" },
  { "/error/agent-option", { "ssh", "-o", "ForwardAgent=yes", "host", "ls" }, BAD, "-o ForwardAgent=yes" },
  { "/error/agent-option-true", { "ssh", "-oForwardAgent TRUE", "host", "ls" }, BAD, "-o ForwardAgent TRUE" },
  { "/error/agent-option-ask", { "ssh", "-oForwardAgent=ask", "host", "ls" }, BAD, "agent forwarding" },
  { "/error/agent-option-socket", { "ssh", "-oForwardAgent=/tmp/agent.sock", "host", "ls" }, BAD, "agent forwarding" },
  { "/error/agent-option-env", { "ssh", "-oForwardAgent=$SSH_AUTH_SOCK", "host", "ls" }, BAD, "agent forwarding" },
  { "/error/x11", { "ssh", "-X", "host", "ls" }, BAD, "-X: fakessh does not support X11 forwarding" },
  { "/error/x11-trusted", { "ssh", "-Y", "host", "ls" }, BAD, "-Y: fakessh does not support X11 forwarding" },
  { "/error/x11-after-off", { "ssh", "host", "-x", "-X", "ls" }, BAD, "-X" },
  { "/error/x11-option", { "ssh", "-oForwardX11=yes", "host", "ls" }, BAD, "-o ForwardX11=yes" },
  { "/error/x11-option-bad", { "ssh", "-oForwardX11=maybe", "host", "ls" }, BAD, "unsupported value 'maybe'" },
  { "/error/local-forward", { "ssh", "-L", "8080:localhost:80", "host", "ls" }, BAD, "-L: fakessh does not support port forwarding" },
  { "/error/local-forward-attached", { "ssh", "-L8080:localhost:80", "host", "ls" }, BAD, "-L" },
  { "/error/remote-forward", { "ssh", "-R", "9000:localhost:9000", "host", "ls" }, BAD, "-R" },
  { "/error/dynamic-forward", { "ssh", "host", "-D", "1080", "ls" }, BAD, "-D" },
  { "/error/stdio-forward", { "ssh", "-W", "target:22", "host" }, BAD, "-W" },
  { "/error/tunnel", { "ssh", "-w", "0:1", "host", "ls" }, BAD, "-w: fakessh does not support tunnel" },
  { "/error/local-forward-option", { "ssh", "-o", "LocalForward=8080 localhost:80", "host", "ls" }, BAD,
    "-o LocalForward=8080 localhost:80" },
  { "/error/remote-forward-option", { "ssh", "-oRemoteForward 9000", "host", "ls" }, BAD, "-o RemoteForward" },
  { "/error/dynamic-forward-option", { "ssh", "-oDynamicForward=1080", "host", "ls" }, BAD, "-o DynamicForward" },
  { "/error/forward-option-empty", { "ssh", "-oLocalForward=\"\"", "host", "ls" }, BAD, "missing argument" },
  { "/error/clear-forwardings-first-wins",
    { "ssh", "-oClearAllForwardings=no", "-oClearAllForwardings=yes", "-L", "1:h:2", "host", "ls" }, BAD, "-L" },
  { "/error/tunnel-option", { "ssh", "-oTunnel=yes", "host", "ls" }, BAD, "-o Tunnel=yes" },
  { "/error/tunnel-ethernet", { "ssh", "-oTunnel=ethernet", "host", "ls" }, BAD, "tunnel" },
  { "/error/tunnel-p2p", { "ssh", "-oTunnel=point-to-point", "host", "ls" }, BAD, "tunnel" },
  { "/error/background", { "ssh", "-f", "host", "ls" }, BAD, "-f: fakessh does not support going to the background" },
  { "/error/background-option", { "ssh", "-oForkAfterAuthentication=yes", "host", "ls" }, BAD, "background" },
  { "/error/no-command-flag", { "ssh", "-N", "host" }, BAD, "-N" },
  { "/error/session-none", { "ssh", "-oSessionType=none", "host" }, BAD, "-o SessionType=none" },
  { "/error/session-bad", { "ssh", "-oSessionType=shell", "host", "ls" }, BAD, "unsupported value 'shell'" },
  { "/error/session-s-conflict", { "ssh", "-oSessionType=default", "-s", "host", "sftp" }, BAD, "-s" },
  { "/error/control", { "ssh", "-O", "check", "host" }, BAD, "-O check" },
  { "/error/query", { "ssh", "-Q", "cipher" }, BAD, "-Q cipher" },
  { "/error/host-keyword", { "ssh", "-o", "Host=x", "host", "ls" }, BAD, "-o Host=x" },
  { "/error/match-keyword", { "ssh", "-o", "Match all", "host", "ls" }, BAD, "-o Match all" },
  { "/error/include-keyword", { "ssh", "-o", "Include /etc/ssh/x", "host", "ls" }, BAD, "-o Include" },
  { "/error/no-value", { "ssh", "-o", "User", "host", "ls" }, BAD, "no argument after keyword" },
  { "/error/empty-value", { "ssh", "-o", "User=", "host", "ls" }, BAD, "-o User=" },
  { "/error/extra-value", { "ssh", "-o", "User a b", "host", "ls" }, BAD, "extra arguments" },
  { "/error/open-quote", { "ssh", "-o", "User=\"ab", "host", "ls" }, BAD, "unbalanced quotes" },
  { "/error/open-quote-command", { "ssh", "-o", "RemoteCommand=echo 'x", "host" }, BAD, "unbalanced quotes" },
  { "/error/send-env-assignment", { "ssh", "-o", "SendEnv=A=b", "host", "ls" }, BAD, "invalid environment name 'A=b'" },
  { "/error/set-env-no-value", { "ssh", "-o", "SetEnv=FOO", "host", "ls" }, BAD, "'FOO' is not NAME=VALUE" },
  { "/error/set-env-no-name", { "ssh", "-o", "SetEnv==x", "host", "ls" }, BAD, "'=x' is not NAME=VALUE" },
  { "/error/set-env-later-invalid", { "ssh", "-oSetEnv=A=1", "-oSetEnv=B", "host", "ls" }, BAD, "'B'" },

  { "/error/no-command", { "ssh", "host" }, BAD, "no command given: fakessh runs commands, not interactive sessions" },
  { "/error/empty-command", { "ssh", "host", "" }, BAD, "no command given" },
  { "/error/remote-command-none", { "ssh", "-oRemoteCommand=none", "host" }, BAD, "no command given" },
  { "/error/remote-command-and-words", { "ssh", "-oRemoteCommand=ls", "host", "echo" }, BAD, "RemoteCommand" },
  { "/error/no-subsystem", { "ssh", "-s", "host" }, BAD, "-s: no subsystem name given" },
  { "/error/no-subsystem-remote-command", { "ssh", "-s", "-oRemoteCommand=sftp", "host" }, BAD, "-s" },
  { "/error/no-subsystem-config", { "ssh", "-G", "-s", "host" }, BAD, "-s" },
  { "/error/other-subsystem", { "ssh", "-s", "host", "netconf" }, BAD, "subsystem 'netconf' is not supported (only sftp)" },
  { "/error/subsystem-with-words", { "ssh", "-s", "host", "sftp", "-l" }, BAD, "subsystem 'sftp -l'" },

  { "/error/host-empty-user", { "ssh", "@host", "ls" }, BAD, "invalid host '@host'" },
  { "/error/host-missing", { "ssh", "user@", "ls" }, BAD, "invalid host 'user@'" },
  { "/error/host-empty", { "ssh", "", "ls" }, BAD, "invalid host ''" },
  { "/error/uri-path", { "ssh", "ssh://host/path", "ls" }, BAD, "a path is not allowed" },
  { "/error/uri-empty-user", { "ssh", "ssh://@host", "ls" }, BAD, "invalid host" },
  { "/error/uri-bad-escape", { "ssh", "ssh://us%4@host", "ls" }, BAD, "invalid host" },
  { "/error/uri-port-zero", { "ssh", "ssh://host:0", "ls" }, BAD, "invalid host" },
  { "/error/uri-no-host", { "ssh", "ssh://user@:22", "ls" }, BAD, "invalid host" },
  { "/error/uri-bracket", { "ssh", "ssh://[::1", "ls" }, BAD, "invalid host" },

  { "/error/one-line", { "ssh", "-O", "a\nb", "host" }, BAD, "-O a\\x0ab" },
};

static void
test_error_case (gconstpointer data)
{
  const ErrorCase *c = data;
  g_auto(MitogenFakesshArgs) args = { 0, };
  g_autoptr(GError) error = NULL;

  g_assert_false (parse (&args, c->argv, &error));
  g_assert_error (error, G_OPTION_ERROR, (gint) c->code);
  if (strstr (error->message, c->message) == NULL)
    g_error ("message '%s' does not contain '%s'", error->message, c->message);
  g_assert_null (strchr (error->message, '\n'));
  assert_cleared (&args);
}

/* Every option that cannot change the result is accepted alone. */
static void
test_ignored_flags (void)
{
  const char *without_argument = "246aCgKkMPqTtvxy";
  const char *with_argument = "BbcEeFIiJmpS";

  g_test_summary ("Each harmless option is accepted, alone or with its argument.");

  for (const char *c = without_argument; *c != '\0'; c++)
    {
      g_auto(MitogenFakesshArgs) args = { 0, };
      g_autoptr(GError) error = NULL;
      char flag[3] = { '-', *c, '\0' };
      const char *argv[] = { "ssh", flag, "host", "ls", NULL };

      g_test_message ("%s", flag);
      g_assert_true (parse (&args, argv, &error));
      g_assert_no_error (error);
      assert_program (&args, "ls");
    }

  for (const char *c = with_argument; *c != '\0'; c++)
    {
      g_auto(MitogenFakesshArgs) args = { 0, };
      g_autoptr(GError) error = NULL;
      char flag[3] = { '-', *c, '\0' };
      const char *argv[] = { "ssh", flag, "some value", "host", "-n", "ls", NULL };

      g_test_message ("%s", flag);
      g_assert_true (parse (&args, argv, &error));
      g_assert_no_error (error);
      assert_program (&args, "ls");
      g_assert_true (args.stdin_null);
    }
}

/* ssh_config(5) on Debian 12, less the keywords handled specially, and
 * names readconf.c still accepts although the manual no longer lists them. */
static const char * const ignored_keywords[] = {
  "AddKeysToAgent", "AddressFamily", "BatchMode", "BindAddress", "BindInterface",
  "CASignatureAlgorithms", "CanonicalDomains", "CanonicalizeFallbackLocal",
  "CanonicalizeHostname", "CanonicalizeMaxDots", "CanonicalizePermittedCNAMEs",
  "CertificateFile", "CheckHostIP", "Ciphers", "Compression", "ConnectTimeout",
  "ConnectionAttempts", "ControlMaster", "ControlPath", "ControlPersist",
  "EnableEscapeCommandline", "EnableSSHKeysign", "EscapeChar", "ExitOnForwardFailure",
  "FingerprintHash", "ForwardX11Timeout", "ForwardX11Trusted", "GSSAPIAuthentication",
  "GSSAPIClientIdentity", "GSSAPIDelegateCredentials", "GSSAPIKexAlgorithms",
  "GSSAPIKeyExchange", "GSSAPIRenewalForcesRekey", "GSSAPIServerIdentity", "GSSAPITrustDns",
  "GatewayPorts", "GlobalKnownHostsFile", "HashKnownHosts", "HostKeyAlgorithms",
  "HostKeyAlias", "HostbasedAcceptedAlgorithms", "HostbasedAuthentication", "Hostname",
  "IPQoS", "IdentitiesOnly", "IdentityAgent", "IdentityFile", "KbdInteractiveAuthentication",
  "KbdInteractiveDevices", "KexAlgorithms", "KnownHostsCommand", "LocalCommand", "LogLevel",
  "LogVerbose", "MACs", "NoHostAuthenticationForLocalhost", "NumberOfPasswordPrompts",
  "PKCS11Provider", "PasswordAuthentication", "PermitLocalCommand", "PermitRemoteOpen",
  "Port", "PreferredAuthentications", "ProxyCommand", "ProxyJump", "ProxyUseFdpass",
  "PubkeyAcceptedAlgorithms", "PubkeyAuthentication", "RekeyLimit", "RequestTTY",
  "RequiredRSASize", "RevokedHostKeys", "SecurityKeyProvider", "ServerAliveCountMax",
  "ServerAliveInterval", "StreamLocalBindMask", "StreamLocalBindUnlink",
  "StrictHostKeyChecking", "SyslogFacility", "TCPKeepAlive", "TunnelDevice",
  "UpdateHostKeys", "UserKnownHostsFile", "VerifyHostKeyDNS", "VisualHostKey",
  "XAuthLocation",
  /* not in the manual */
  "AFSTokenPassing", "ChallengeResponseAuthentication", "Cipher", "CompressionLevel",
  "DSAAuthentication", "FallBackToRsh", "GlobalKnownHostsFile2", "HostbasedKeyTypes",
  "IdentityFile2", "KeepAlive", "KerberosAuthentication", "KerberosTGTPassing", "Protocol",
  "ProtocolKeepAlives", "PubkeyAcceptedKeyTypes", "RSAAuthentication", "RhostsAuthentication",
  "RhostsRSAAuthentication", "SetupTimeOut", "SkeyAuthentication", "SmartcardDevice",
  "TISAuthentication", "UseBlacklistedKeys", "UsePrivilegedPort", "UseRoaming", "UseRsh",
  "UserKnownHostsFile2",
  NULL
};

/* The special keywords, with a value that leaves nothing to do. */
static const char * const harmless_special_options[] = {
  "ClearAllForwardings no", "ClearAllForwardings yes", "ForkAfterAuthentication no",
  "ForwardAgent no", "ForwardAgent false", "ForwardX11 no", "Tunnel no", "Tunnel false",
  "SessionType default", "StdinNull no", "IgnoreUnknown x", "RemoteCommand none", "User x",
  "SendEnv X", "SendEnv -X", "SetEnv X=1", "Protocol 2,1",
  NULL
};

static void
test_ignored_keywords (void)
{
  g_test_summary ("Every ssh_config keyword without effect here is accepted in all its forms.");

  for (gsize i = 0; ignored_keywords[i] != NULL; i++)
    {
      const char *forms[] = { "=some value", " some \"quoted value\"", " = x", "\tx" };
      g_autofree char *lower = g_ascii_strdown (ignored_keywords[i], -1);
      g_autofree char *upper = g_ascii_strup (ignored_keywords[i], -1);
      const char *names[] = { ignored_keywords[i], lower, upper };

      for (gsize n = 0; n < G_N_ELEMENTS (names); n++)
        for (gsize f = 0; f < G_N_ELEMENTS (forms); f++)
          {
            g_auto(MitogenFakesshArgs) args = { 0, };
            g_autoptr(GError) error = NULL;
            g_autofree char *option = g_strconcat (names[n], forms[f], NULL);
            const char *argv[] = { "ssh", "-o", option, "host", "ls", NULL };

            if (!parse (&args, argv, &error))
              g_error ("-o %s: %s", option, error->message);
            assert_program (&args, "ls");
            g_assert_cmpuint (g_strv_length (args.setenv), ==, 0);
          }
    }

  for (gsize i = 0; harmless_special_options[i] != NULL; i++)
    {
      g_auto(MitogenFakesshArgs) args = { 0, };
      g_autoptr(GError) error = NULL;
      const char *argv[] = { "ssh", "-o", harmless_special_options[i], "host", "ls", NULL };

      if (!parse (&args, argv, &error))
        g_error ("-o %s: %s", harmless_special_options[i], error->message);
      assert_program (&args, "ls");
      g_assert_false (args.stdin_null);
      g_assert_false (args.subsystem);
    }
}

/* The environment: SendEnv against test_envp, SetEnv. */

typedef struct
{
  const char *path;
  const char *options[6];   /* each passed as -o */
  const char *expected[12];
} EnvCase;

static const EnvCase env_cases[] = {
  { "/env/send/exact", { "SendEnv=LANG" }, { "LANG=C.UTF-8" } },
  { "/env/send/star", { "SendEnv LC_*" }, { "LC_ALL=C", "LC_TIME=en_GB.UTF-8", "LC_X=1" } },
  { "/env/send/question-mark", { "SendEnv LC_?" }, { "LC_X=1" } },
  { "/env/send/prefix", { "SendEnv L*" }, { "LANG=C.UTF-8", "LC_ALL=C", "LC_TIME=en_GB.UTF-8", "LC_X=1", "LCX=2" } },
  { "/env/send/everything",
    { "SendEnv *" },
    { "HOME=/home/u", "LANG=C.UTF-8", "LC_ALL=C", "LC_TIME=en_GB.UTF-8", "LC_X=1",
      "GIT_PROTOCOL=version=2", "PATH=/usr/bin:/bin", "EMPTY=", "LCX=2" } },
  { "/env/send/case-sensitive", { "SendEnv lang Home" }, { NULL } },
  { "/env/send/no-match", { "SendEnv NOEQUALS NOSUCH" }, { NULL } },
  { "/env/send/several-patterns", { "SendEnv PATH LANG" }, { "LANG=C.UTF-8", "PATH=/usr/bin:/bin" } },
  { "/env/send/accumulate", { "SendEnv=PATH", "SendEnv=HOME" }, { "HOME=/home/u", "PATH=/usr/bin:/bin" } },
  { "/env/send/quoted", { "SendEnv \"LANG\" 'HOME'" }, { "HOME=/home/u", "LANG=C.UTF-8" } },
  { "/env/send/comment", { "SendEnv LANG #HOME" }, { "LANG=C.UTF-8" } },
  { "/env/send/remove-pattern", { "SendEnv LANG LC_* -LC_*" }, { "LANG=C.UTF-8" } },
  { "/env/send/remove-later", { "SendEnv LC_*", "SendEnv -LC*" }, { NULL } },
  { "/env/send/remove-all", { "SendEnv LANG HOME", "SendEnv=-*" }, { NULL } },
  /* As OpenSSH's rm_env (): -LC_ALL removes patterns, and "LC_*" is not LC_ALL. */
  { "/env/send/remove-is-not-exclude", { "SendEnv LC_* -LC_ALL" },
    { "LC_ALL=C", "LC_TIME=en_GB.UTF-8", "LC_X=1" } },
  { "/env/send/remove-before-add", { "SendEnv -LANG LANG" }, { "LANG=C.UTF-8" } },
  { "/env/set/plain", { "SetEnv=A=1" }, { "A=1" } },
  { "/env/set/quoting",
    { "SetEnv A=\"b c\" D=e F=\\\"q\\\" G='s t' H=x\\ y" },
    { "A=b c", "D=e", "F=\"q\"", "G=s t", "H=x y" } },
  { "/env/set/equals-in-value", { "SetEnv=X=a=b" }, { "X=a=b" } },
  { "/env/set/empty-value", { "SetEnv X=" }, { "X=" } },
  { "/env/set/first-directive-wins", { "SetEnv=A=1", "SetEnv B=2" }, { "A=1" } },
  { "/env/set/first-value-wins", { "SetEnv B=2 B=3" }, { "B=2" } },
  { "/env/set/comment-only-sets-nothing", { "SetEnv #A=1", "SetEnv B=2" }, { "B=2" } },
  { "/env/set/overrides-send", { "SendEnv=LANG", "SetEnv=LANG=fr_FR.UTF-8" }, { "LANG=fr_FR.UTF-8" } },
  { "/env/set/after-send",
    { "SetEnv Z=1 HOME=/root", "SendEnv HOME PATH" },
    { "HOME=/root", "PATH=/usr/bin:/bin", "Z=1" } },
};

static void
test_env_case (gconstpointer data)
{
  const EnvCase *c = data;
  g_auto(MitogenFakesshArgs) args = { 0, };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();

  g_ptr_array_add (argv, (gpointer) "ssh");
  for (gsize i = 0; i < G_N_ELEMENTS (c->options) && c->options[i] != NULL; i++)
    {
      g_ptr_array_add (argv, (gpointer) "-o");
      g_ptr_array_add (argv, (gpointer) c->options[i]);
    }
  g_ptr_array_add (argv, (gpointer) "host");
  g_ptr_array_add (argv, (gpointer) "env");
  g_ptr_array_add (argv, NULL);

  g_assert_true (parse (&args, (const char * const *) argv->pdata, &error));
  g_assert_no_error (error);
  assert_program (&args, "env");
  assert_strv (args.setenv, (const char **) c->expected);
}

static void
test_env_process (void)
{
  g_auto(MitogenFakesshArgs) args = { 0, };
  g_autoptr(GError) error = NULL;
  const char *argv[] = { "ssh", "-oSendEnv=FAKESSH_TEST_*", "host", "env", NULL };
  const char *expected[] = { "FAKESSH_TEST_VAR=some value", NULL };

  g_test_summary ("Without @envp, SendEnv matches the process environment.");

  g_assert_true (g_setenv ("FAKESSH_TEST_VAR", "some value", TRUE));
  g_assert_true (mitogen_fakessh_args_parse (&args, G_N_ELEMENTS (argv) - 1, argv, NULL, &error));
  g_assert_no_error (error);
  assert_strv (args.setenv, expected);
  g_unsetenv ("FAKESSH_TEST_VAR");
}

static void
test_env_empty (void)
{
  const char *argv[] = { "ssh", "-V", NULL };
  const char *argv2[] = { "ssh", "host", "ls", NULL };
  const char *empty[] = { NULL };
  g_auto(MitogenFakesshArgs) args = { 0, };
  g_autoptr(GError) error = NULL;

  g_test_summary ("setenv is an empty vector, not NULL, when nothing is sent.");

  g_assert_true (parse (&args, argv, &error));
  assert_strv (args.setenv, empty);
  g_assert_null (args.host);
  g_assert_null (args.argv);
  mitogen_fakessh_args_clear (&args);
  assert_cleared (&args);

  g_assert_true (parse (&args, argv2, &error));
  g_assert_no_error (error);
  assert_strv (args.setenv, empty);
}

static void
test_argc_limits (void)
{
  g_test_summary ("argc counts the words, a NULL before it ends them, argc 0 has no host.");

  const char *argv[] = { "ssh", "host", "ls", NULL, "junk" };
  g_auto(MitogenFakesshArgs) args = { 0, };
  g_autoptr(GError) error = NULL;

  /* argc 2 stops before the command; it is an error, cleanly reported. */
  g_assert_false (mitogen_fakessh_args_parse (&args, 2, argv, test_envp, &error));
  g_assert_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
  assert_cleared (&args);
  g_clear_error (&error);

  /* argc beyond the NULL: only the words before it. */
  g_assert_true (mitogen_fakessh_args_parse (&args, 5, argv, test_envp, &error));
  g_assert_no_error (error);
  assert_program (&args, "ls");
  mitogen_fakessh_args_clear (&args);

  g_assert_false (mitogen_fakessh_args_parse (&args, 0, NULL, test_envp, &error));
  g_assert_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
  assert_cleared (&args);
}

static void
test_reuse (void)
{
  const char *good[] = { "ssh", "-oSendEnv=LANG", "u@host", "ls", NULL };
  const char *bad[] = { "ssh", "-oSendEnv=LANG", "u@host", "-A", "ls", NULL };
  g_auto(MitogenFakesshArgs) args = { 0, };
  g_autoptr(GError) error = NULL;

  g_test_summary ("A cleared struct can be parsed into again; a failure leaves it cleared.");

  for (int i = 0; i < 3; i++)
    {
      g_assert_true (parse (&args, good, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (args.user, ==, "u");
      mitogen_fakessh_args_clear (&args);
      mitogen_fakessh_args_clear (&args);
      assert_cleared (&args);

      g_assert_false (parse (&args, bad, &error));
      g_assert_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
      g_clear_error (&error);
      assert_cleared (&args);
    }
}

static const char * const sftp_servers[] = {
  "/usr/lib/openssh/sftp-server",
  "/usr/libexec/openssh/sftp-server",
  "/usr/lib/ssh/sftp-server",
  "/usr/libexec/sftp-server",
  "/usr/lib/sftp-server",
  "/usr/local/libexec/sftp-server",
};

static void
run_script (const char  *script,
            char       **standard_error,
            int         *wait_status)
{
  const char *argv[] = { "/bin/sh", "-c", script, NULL };
  g_autoptr(GError) error = NULL;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
                               NULL, NULL, NULL, standard_error, wait_status, &error));
  g_assert_no_error (error);
}

static void
test_sftp_script (void)
{
  const char *argv[] = { "ssh", "-s", "host", "sftp", NULL };
  g_auto(MitogenFakesshArgs) args = { 0, };
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) missing = NULL;
  g_autofree char *standard_error = NULL;
  const char *previous = NULL;
  int wait_status;

  g_test_summary ("The sftp script tries the usual sftp-server paths in order, "
                  "and without one says so on stderr and exits 127.");

  g_assert_true (parse (&args, argv, &error));
  g_assert_no_error (error);
  assert_program (&args, SFTP);

  for (gsize i = 0; i < G_N_ELEMENTS (sftp_servers); i++)
    {
      const char *at = strstr (args.argv[2], sftp_servers[i]);

      g_assert_nonnull (at);
      g_assert_true (previous == NULL || at > previous);
      previous = at;
    }

  /* With every path moved somewhere that does not exist, the fallback runs. */
  missing = g_string_new (args.argv[2]);
  g_string_replace (missing, " /usr/", " /nonexistent/fakessh-test/usr/", 0);
  run_script (missing->str, &standard_error, &wait_status);
  g_assert_true (WIFEXITED (wait_status));
  g_assert_cmpint (WEXITSTATUS (wait_status), ==, 127);
  g_assert_cmpstr (standard_error, ==, "fakessh: no sftp-server found in this context\n");
  g_clear_pointer (&standard_error, g_free);

  /* And where there is one, it is what runs: at EOF on stdin it exits 0. */
  for (gsize i = 0; i < G_N_ELEMENTS (sftp_servers); i++)
    {
      if (g_file_test (sftp_servers[i], G_FILE_TEST_IS_EXECUTABLE))
        {
          const char *script = args.argv[2];
          const char *run_argv[] = { "/bin/sh", "-c", script, NULL };

          g_assert_true (g_spawn_sync (NULL, (char **) run_argv, NULL,
                                       G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                                       NULL, NULL, NULL, NULL, &wait_status, &error));
          g_assert_no_error (error);
          g_assert_true (WIFEXITED (wait_status));
          g_assert_cmpint (WEXITSTATUS (wait_status), ==, 0);
          return;
        }
    }
  g_test_message ("no sftp-server on this machine; only the fallback was run");
}

/* Randomized: words from ssh's vocabulary and some garbage, in any order. */
static const char * const fuzz_words[] = {
  "ssh", "host", "user@host", "a@b@c", "@", "@x", "x@", "ssh://u@h:22", "ssh://h/p", "ssh://[", "",
  "-", "--", "-n", "-nT", "-vvv", "-s", "-t", "-x", "-X", "-A", "-a", "-G", "-V", "-N", "-f", "-Z",
  "-l", "-lroot", "-p", "-p22", "-L", "1:h:2", "-w", "0", "-W", "-O", "-Q", "-e", "-o",
  "-oSendEnv=*", "-oSendEnv=-L*", "-oSendEnv LC_? -LC_?", "-oSetEnv=A=\"b c\"", "-oSetEnv A",
  "-oUser=x", "-oRemoteCommand=none", "-oRemoteCommand=ls", "-oClearAllForwardings=yes",
  "-oForwardAgent=no", "-oForwardX11=yes", "-oSessionType=subsystem", "-oSessionType=none",
  "-oIgnoreUnknown=*", "-oFoo=1", "-oUser", "-o\"", "-o'", "-o#", "-o=", "-o==", "-o\"User\"=x",
  "-oStdinNull=yes", "-oTunnel=yes", "-oHost=x", "-oForkAfterAuthentication=yes",
  "sftp", "ls", "scp -t /tmp", "git-upload-pack '/x'", "\\", "\"", "=", "*", "\t",
};

static char *
fuzz_garbage (void)
{
  gsize len = g_test_rand_int_range (0, 12);
  char *word = g_malloc (len + 1);

  for (gsize i = 0; i < len; i++)
    {
      const char alphabet[] = "-o=\"'\\ \t#@:/[]*?!lsnVG\x01\xff";

      word[i] = alphabet[g_test_rand_int_range (0, sizeof alphabet - 1)];
    }
  word[len] = '\0';
  return word;
}

static void
test_fuzz (void)
{
  int iterations = g_test_slow () ? 200000 : 20000;

  g_test_summary ("Random command lines never crash; a failure always leaves a one-line "
                  "error and a cleared struct, a success a consistent one.");

  for (int n = 0; n < iterations; n++)
    {
      g_autoptr(GPtrArray) owned = g_ptr_array_new_with_free_func (g_free);
      g_autoptr(GPtrArray) argv = g_ptr_array_new ();
      g_auto(MitogenFakesshArgs) args = { 0, };
      g_autoptr(GError) error = NULL;
      int len = g_test_rand_int_range (0, 10);

      g_ptr_array_add (argv, (gpointer) "ssh");
      for (int i = 0; i < len; i++)
        {
          if (g_test_rand_int_range (0, 8) == 0)
            {
              char *word = fuzz_garbage ();

              g_ptr_array_add (owned, word);
              g_ptr_array_add (argv, word);
            }
          else
            g_ptr_array_add (argv, (gpointer) fuzz_words[g_test_rand_int_range (0, G_N_ELEMENTS (fuzz_words))]);
        }
      g_ptr_array_add (argv, NULL);

      if (parse (&args, (const char * const *) argv->pdata, &error))
        {
          g_assert_no_error (error);
          g_assert_nonnull (args.setenv);
          switch (args.action)
            {
            case MITOGEN_FAKESSH_ACTION_RUN:
              g_assert_nonnull (args.host);
              g_assert_nonnull (args.argv);
              g_assert_cmpuint (g_strv_length (args.argv), ==, 3);
              g_assert_cmpuint (strlen (args.argv[2]), >, 0);
              break;
            case MITOGEN_FAKESSH_ACTION_PRINT_CONFIG:
              g_assert_nonnull (args.host);
              g_assert_null (args.argv);
              break;
            case MITOGEN_FAKESSH_ACTION_PRINT_VERSION:
              g_assert_null (args.host);
              g_assert_null (args.argv);
              break;
            default:
              g_assert_not_reached ();
            }
          for (gsize i = 0; args.setenv[i] != NULL; i++)
            g_assert_nonnull (strchr (args.setenv[i], '='));
        }
      else
        {
          g_assert_nonnull (error);
          g_assert_true (error->domain == G_OPTION_ERROR);
          g_assert_true (error->code == G_OPTION_ERROR_BAD_VALUE ||
                         error->code == G_OPTION_ERROR_UNKNOWN_OPTION);
          g_assert_null (strchr (error->message, '\n'));
          assert_cleared (&args);
        }
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (parse_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/fakessh-args/parse", parse_cases[i].path, NULL);

      g_test_add_data_func (path, &parse_cases[i], test_parse_case);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (error_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/fakessh-args", error_cases[i].path, NULL);

      g_test_add_data_func (path, &error_cases[i], test_error_case);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (env_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/fakessh-args", env_cases[i].path, NULL);

      g_test_add_data_func (path, &env_cases[i], test_env_case);
    }

  g_test_add_func ("/fakessh-args/ignored/flags", test_ignored_flags);
  g_test_add_func ("/fakessh-args/ignored/keywords", test_ignored_keywords);
  g_test_add_func ("/fakessh-args/env/process", test_env_process);
  g_test_add_func ("/fakessh-args/env/empty", test_env_empty);
  g_test_add_func ("/fakessh-args/argc", test_argc_limits);
  g_test_add_func ("/fakessh-args/reuse", test_reuse);
  g_test_add_func ("/fakessh-args/sftp-script", test_sftp_script);
  g_test_add_func ("/fakessh-args/fuzz", test_fuzz);

  return g_test_run ();
}
