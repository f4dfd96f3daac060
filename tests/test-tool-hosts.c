/* test-tool-hosts.c — the built `mitogen` tool against real sudo and sshd:
 * Ctrl-C on the tool's terminal reaches the program, never the connection.
 *
 * A shell runs a command as a job: a process group of its own, to which
 * the terminal sends SIGINT on Ctrl-C. Each test starts the tool that way
 * (setpgid in the child), waits until the program it runs says "ready",
 * and signals the whole group. The program traps SIGINT and exits 7: the
 * tool must exit 7, having printed what the program printed, whatever the
 * transport: sudo with a password typed through its PTY (the tool runs as
 * HOST_PASSWORD_USER, whose password a sudoers drop-in asks for), ssh with
 * libssh, and ssh through the OpenSSH client (ssh_path), which the tool
 * spawns itself. Then `mitogen cp` over ssh interrupted midway: the
 * remote agent's partial file goes, and the same when that agent is
 * killed.
 *
 * Needs root, sudo, sshd (host-fixture.h); skips otherwise.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pty.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "mitogen-test.h"
#include "host-fixture.h"

#define DROPIN "/etc/sudoers.d/mitogen-test-tool-hosts"

/* Whether @name is on PATH. */
static gboolean
have_program (const char *name)
{
  g_autofree char *path = g_find_program_in_path (name);

  return path != NULL;
}

static const char trap_script[] =
  "trap 'echo got INT; exit 7' INT; echo ready; while :; do sleep 0.1; done";

typedef struct
{
  HostSshd *sshd;  /* (owned) (nullable) NULL: skipped */
  char     *dir;   /* (owned) scratch, 0755 */
} Fixture;

static void
set_up (Fixture       *f,
        gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  const char *why = host_fixture_unavailable (FALSE);

  if (why == NULL && !g_file_test (MITOGEN_TOOL_PATH, G_FILE_TEST_IS_EXECUTABLE))
    why = "the mitogen tool is not built";
  if (why != NULL)
    {
      g_test_skip (why);
      return;
    }
  host_fixture_ensure_users (&error);
  g_assert_no_error (error);
  f->sshd = host_sshd_start (FALSE, &error);
  g_assert_no_error (error);
  f->dir = g_build_filename (f->sshd->dir, "work", NULL);
  g_assert_cmpint (g_mkdir (f->dir, 0755), ==, 0);
}

static void
tear_down (Fixture       *f,
           gconstpointer  data)
{
  host_sshd_stop (f->sshd);  /* its directory, f->dir included */
  g_free (f->dir);
}

static struct passwd *
user (const char *name)
{
  struct passwd *pw = getpwnam (name);

  g_assert_nonnull (pw);
  return pw;
}

/* The tool's child: a job of its own, as a shell makes it; as @data's
 * user if not NULL. */
static void
job_setup (gpointer data)
{
  struct passwd *as = data;

  setpgid (0, 0);
  if (as != NULL && (setgroups (0, NULL) < 0 || setgid (as->pw_gid) < 0 || setuid (as->pw_uid) < 0))
    _exit (120);
}

typedef struct
{
  GPid     pid;
  int      out;      /* the tool's stdout */
  int      err;      /* the tool's stderr */
  GString *stdout_text;
  GString *stderr_text;
} Job;

static void
job_start (Job                *job,
           const char * const *argv,
           struct passwd      *as,
           const char         *cwd)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) env = g_get_environ ();

  env = g_environ_unsetenv (env, "G_MESSAGES_DEBUG");
  env = g_environ_setenv (env, "MITOGEN_PROGRESS", "1", TRUE);
  g_assert_true (g_spawn_async_with_pipes (cwd, (char **) argv, env, G_SPAWN_DO_NOT_REAP_CHILD, job_setup, as,
                                           &job->pid, NULL, &job->out, &job->err, &error));
  g_assert_no_error (error);
  job->stdout_text = g_string_new (NULL);
  job->stderr_text = g_string_new (NULL);
}

/* Reads what comes until @text is in the stream (@from_stderr or stdout),
 * or both streams end; FALSE after 60 s or at the end without it. */
static gboolean
job_wait_text (Job        *job,
               gboolean    from_stderr,
               const char *text)
{
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  GString *want = from_stderr ? job->stderr_text : job->stdout_text;

  while (text == NULL || strstr (want->str, text) == NULL)
    {
      struct pollfd fds[2] = { { job->out, POLLIN, 0 }, { job->err, POLLIN, 0 } };
      gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
      char buffer[4096];

      if (job->out < 0 && job->err < 0)
        return text == NULL;
      if (left <= 0 || poll (fds, 2, (int) left) <= 0)
        return FALSE;
      for (int i = 0; i < 2; i++)
        if (fds[i].revents != 0)
          {
            int *fd = i == 0 ? &job->out : &job->err;
            gssize n = read (*fd, buffer, sizeof buffer);

            if (n <= 0)
              {
                close (*fd);
                *fd = -1;
                fds[i].fd = -1;
              }
            else
              g_string_append_len (i == 0 ? job->stdout_text : job->stderr_text, buffer, n);
          }
    }
  return TRUE;
}

/* Reads both streams to their end and reaps the tool: its wait status. */
static int
job_finish (Job *job)
{
  int status = -1;

  if (!job_wait_text (job, FALSE, NULL))
    kill (-job->pid, SIGKILL);
  g_assert_cmpint (waitpid (job->pid, &status, 0), ==, job->pid);
  g_spawn_close_pid (job->pid);
  if (job->out >= 0)
    close (job->out);
  if (job->err >= 0)
    close (job->err);
  g_test_message ("stdout: %s", job->stdout_text->str);
  g_test_message ("stderr: %s", job->stderr_text->str);
  return status;
}

static void
job_clear (Job *job)
{
  g_string_free (job->stdout_text, TRUE);
  g_string_free (job->stderr_text, TRUE);
}

/* `mitogen run -t @chain -- sh -c TRAP` as @as (root if NULL), Ctrl-C
 * once it is ready: it must exit 7 with the program's own output. */
static void
run_ctrl_c (const char    *chain,
            const char    *password_file,
            struct passwd *as,
            const char    *cwd)
{
  const char *argv[12];
  int n = 0, status;
  Job job = { 0 };

  argv[n++] = MITOGEN_TOOL_PATH;
  argv[n++] = "run";
  if (password_file != NULL)
    {
      argv[n++] = "--password-file";
      argv[n++] = password_file;
    }
  argv[n++] = "-t";
  argv[n++] = chain;
  argv[n++] = "--";
  argv[n++] = "sh";
  argv[n++] = "-c";
  argv[n++] = trap_script;
  argv[n] = NULL;

  job_start (&job, argv, as, cwd);
  if (!job_wait_text (&job, FALSE, "ready\n"))
    {
      kill (-job.pid, SIGKILL);
      job_finish (&job);
      g_error ("%s: the program never said ready", chain);
    }
  /* The terminal's Ctrl-C: SIGINT to the whole job. */
  g_assert_cmpint (kill (-job.pid, SIGINT), ==, 0);
  status = job_finish (&job);

  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 7);
  g_assert_cmpstr (job.stdout_text->str, ==, "ready\ngot INT\n");
  g_assert_cmpstr (job.stderr_text->str, ==, "");
  /* Nothing of the job is left. */
  g_assert_cmpint (kill (-job.pid, 0), <, 0);
  job_clear (&job);
}

/* The CHAIN of the key user over the fixture's sshd ('/' as %2F). */
static char *
ssh_chain (Fixture    *f,
           const char *extra)
{
  g_autoptr(GString) key = g_string_new (f->sshd->client_key);
  g_autoptr(GString) known = g_string_new (f->sshd->known_hosts);

  g_string_replace (key, "/", "%2F", 0);
  g_string_replace (known, "/", "%2F", 0);
  return g_strdup_printf ("ssh:%s?port=%d&username=" HOST_KEY_USER "&identity_file=%s&known_hosts_file=%s"
                          "&ssh_config=false%s", f->sshd->address, f->sshd->port, key->str, known->str,
                          extra != NULL ? extra : "");
}

static void
test_run_ssh (Fixture       *f,
              gconstpointer  data)
{
  g_autofree char *libssh = NULL, *openssh = NULL, *ssh_path = g_find_program_in_path ("ssh");

  g_test_summary ("mitogen run over ssh (libssh, and the OpenSSH client it spawns), the tool's job "
                  "sent SIGINT as by Ctrl-C: the program's trap runs and its status 7 is the tool's.");
  if (f->sshd == NULL)
    return;

  libssh = ssh_chain (f, NULL);
  run_ctrl_c (libssh, NULL, NULL, f->dir);
  if (ssh_path == NULL)
    {
      g_test_message ("no OpenSSH client: ssh_path not tried");
      return;
    }
  openssh = ssh_chain (f, "&ssh_path=ssh");
  run_ctrl_c (openssh, NULL, NULL, f->dir);
}

static void
test_run_sudo (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *password_file = NULL;
  g_autoptr(GError) error = NULL;
  struct passwd *pw_user;
  struct passwd as;
  g_autofree char *as_name = NULL, *as_dir = NULL;
  int status;
  Job job = { 0 };
  const char *argv[] = { MITOGEN_TOOL_PATH, "run", NULL, NULL, "-t", "sudo:" HOST_KEY_USER, "--", "sh", "-c",
                         trap_script, NULL };

  g_test_summary ("mitogen run through sudo, the password typed on sudo's PTY (the tool runs as a "
                  "user sudoers asks a password of), Ctrl-C to the tool's job: the program's trap "
                  "runs and its status 7 is the tool's.");
  if (f->sshd == NULL)
    return;
  if (!have_program ("sudo"))
    {
      g_test_skip ("needs sudo");
      return;
    }

  pw_user = user (HOST_PASSWORD_USER);
  as = *pw_user;
  as_name = g_strdup (pw_user->pw_name);
  as_dir = g_strdup (pw_user->pw_dir);
  as.pw_name = as_name;
  as.pw_dir = as_dir;

  password_file = g_build_filename (f->dir, "password", NULL);
  g_assert_true (g_file_set_contents (password_file, HOST_PASSWORD "\n", -1, &error));
  g_assert_cmpint (chown (password_file, as.pw_uid, as.pw_gid), ==, 0);
  g_assert_cmpint (chmod (password_file, 0400), ==, 0);
  argv[2] = "--password-file";
  argv[3] = password_file;

  /* A password asked of the tool's user: sudo prompts on its PTY. */
  g_assert_true (g_file_set_contents (DROPIN, HOST_PASSWORD_USER " ALL=(" HOST_KEY_USER ") ALL\n", -1, &error));
  chmod (DROPIN, 0440);

  job_start (&job, argv, &as, f->dir);
  if (!job_wait_text (&job, FALSE, "ready\n"))
    kill (-job.pid, SIGKILL);
  else
    kill (-job.pid, SIGINT);
  status = job_finish (&job);
  unlink (DROPIN);

  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 7);
  g_assert_cmpstr (job.stdout_text->str, ==, "ready\ngot INT\n");
  g_assert_cmpstr (job.stderr_text->str, ==, "");
  g_assert_cmpint (kill (-job.pid, 0), <, 0);
  job_clear (&job);
}

/* Whether some process has a file open in @dir: the remote end of a put. */
static GPid
writer_in (const char *dir)
{
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *entry;

  while ((entry = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *fd_dir = g_build_filename ("/proc", entry, "fd", NULL);
      g_autoptr(GDir) fds = NULL;
      const char *fd;

      if (!g_ascii_isdigit (entry[0]) || (fds = g_dir_open (fd_dir, 0, NULL)) == NULL)
        continue;
      while ((fd = g_dir_read_name (fds)) != NULL)
        {
          g_autofree char *link = g_build_filename (fd_dir, fd, NULL);
          g_autofree char *target = g_file_read_link (link, NULL);
          g_autofree char *parent = NULL;

          if (target == NULL || !g_str_has_prefix (target, dir) || target[strlen (dir)] != '/')
            continue;
          if (g_str_has_suffix (target, " (deleted)"))
            target[strlen (target) - strlen (" (deleted)")] = '\0';
          parent = g_path_get_dirname (target);
          if (g_str_equal (parent, dir))
            return (GPid) atoi (entry);
        }
    }
  return 0;
}

static guint
count_entries (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  g_assert_nonnull (d);
  while (g_dir_read_name (d) != NULL)
    n++;
  return n;
}

static void
test_cp_ssh (Fixture       *f,
             gconstpointer  data)
{
  g_autofree char *chain = NULL, *src = NULL, *into = NULL, *destination = NULL;
  struct passwd *key_user = user (HOST_KEY_USER);

  g_test_summary ("mitogen cp to an ssh context, interrupted midway (Ctrl-C): the remote agent "
                  "removes its partial file, exit 130 with one line; killed midway (SIGKILL to the "
                  "remote agent): 'was lost', exit 4, no partial file either.");
  if (f->sshd == NULL)
    return;

  chain = ssh_chain (f, NULL);
  src = g_build_filename (f->dir, "src.bin", NULL);
  {
    g_autofree guint32 *words = g_new (guint32, 16 * 1024 * 1024);

    for (gsize i = 0; i < 16 * 1024 * 1024; i++)
      words[i] = g_random_int ();
    g_assert_true (g_file_set_contents (src, (const char *) words, 64 * 1024 * 1024, NULL));
  }
  into = g_build_filename (f->dir, "into", NULL);
  g_assert_cmpint (g_mkdir (into, 0755), ==, 0);
  g_assert_cmpint (chown (into, key_user->pw_uid, key_user->pw_gid), ==, 0);
  destination = g_strdup_printf ("%s:%s/", chain, into);

  for (int kill_agent = 0; kill_agent <= 1; kill_agent++)
    {
      const char *argv[] = { MITOGEN_TOOL_PATH, "cp", src, destination, NULL };
      gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
      GPid agent = 0;
      int status;
      Job job = { 0 };

      g_test_message (kill_agent ? "the remote agent killed" : "Ctrl-C");
      job_start (&job, argv, NULL, f->dir);
      while ((agent = writer_in (into)) == 0 && g_get_monotonic_time () < deadline)
        g_usleep (5 * 1000);
      if (agent == 0)
        kill (-job.pid, SIGKILL);
      else if (kill_agent)
        kill (agent, SIGKILL);
      else
        {
          /* Stopped, it cannot finish meanwhile; on again once the tool
           * has given up. */
          kill (agent, SIGSTOP);
          kill (-job.pid, SIGINT);
          job_wait_text (&job, TRUE, "interrupted");
          kill (agent, SIGCONT);
        }
      status = job_finish (&job);
      g_assert_cmpint (agent, !=, 0);
      g_assert_true (WIFEXITED (status));
      if (kill_agent)
        {
          g_assert_cmpint (WEXITSTATUS (status), ==, 4);
          g_assert_nonnull (strstr (job.stderr_text->str, "was lost during file.receive_tree"));
        }
      else
        {
          g_assert_cmpint (WEXITSTATUS (status), ==, 130);
          g_assert_true (g_str_has_suffix (job.stderr_text->str, "\nmitogen: cp: interrupted\n"));
        }
      /* The remote agent exits (end-of-file from sshd): then nothing is
       * in the directory, partial or complete. */
      for (int i = 0; i < 1000 && kill (agent, 0) == 0; i++)
        g_usleep (10 * 1000);
      g_assert_cmpint (kill (agent, 0), <, 0);
      g_assert_cmpuint (count_entries (into), ==, 0);
      job_clear (&job);
    }
}

/* The tool in a terminal of its own (a PTY): waits for @prompt, types
 * @answer, reads to the end. Its wait status; what the terminal showed in
 * @text. */
static int
run_in_pty (const char * const *argv,
            const char         *prompt,
            const char         *answer,
            GString            *text)
{
  int master = -1, status = -1;
  gboolean answered = FALSE;
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  pid_t pid = forkpty (&master, NULL, NULL, NULL);

  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      execv (argv[0], (char **) argv);
      _exit (127);
    }
  for (;;)
    {
      struct pollfd pfd = { master, POLLIN, 0 };
      gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
      char buffer[1024];
      gssize n;

      if (left <= 0)
        {
          kill (pid, SIGKILL);
          break;
        }
      if (poll (&pfd, 1, (int) left) <= 0)
        continue;
      n = read (master, buffer, sizeof buffer);
      if (n <= 0)
        break;
      g_string_append_len (text, buffer, n);
      if (!answered && strstr (text->str, prompt) != NULL)
        {
          g_assert_cmpint (write (master, answer, strlen (answer)), ==, (gssize) strlen (answer));
          answered = TRUE;
        }
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  close (master);
  g_test_message ("terminal: %s", text->str);
  g_assert_true (answered);
  return status;
}

static void
test_prompt_host_key (Fixture       *f,
                      gconstpointer  data)
{
  g_autofree char *known = NULL, *chain = NULL, *text = NULL;
  g_autoptr(GString) shown = g_string_new (NULL);
  g_autoptr(GString) known_escaped = NULL, key_escaped = NULL;
  g_auto(GStrv) key = NULL;
  const char *argv[6] = { MITOGEN_TOOL_PATH, "call", "-t", NULL, "os.getuid", NULL };
  int status;
  Job job = { 0 };

  g_test_summary ("The tool asks about an unknown ssh host key on its terminal, showing the key's "
                  "type and fingerprint: 'no' refuses, 'always' connects and records the key, "
                  "after which a run without a terminal connects unasked.");
  if (f->sshd == NULL)
    return;

  known = g_build_filename (f->dir, "prompt_known_hosts", NULL);
  known_escaped = g_string_new (known);
  g_string_replace (known_escaped, "/", "%2F", 0);
  key_escaped = g_string_new (f->sshd->client_key);
  g_string_replace (key_escaped, "/", "%2F", 0);
  chain = g_strdup_printf ("ssh:%s?port=%d&username=" HOST_KEY_USER "&identity_file=%s&known_hosts_file=%s"
                           "&ssh_config=false&check_host_keys=enforce", f->sshd->address, f->sshd->port,
                           key_escaped->str, known_escaped->str);
  argv[3] = chain;

  status = run_in_pty (argv, "Connect?", "no\n", shown);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 3);
  g_assert_nonnull (strstr (shown->str, "ssh-ed25519"));
  g_assert_nonnull (strstr (shown->str, "SHA256:"));
  g_assert_nonnull (strstr (shown->str, "refused"));
  g_assert_false (g_file_test (known, G_FILE_TEST_EXISTS));

  g_string_truncate (shown, 0);
  status = run_in_pty (argv, "Connect?", "always\n", shown);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  g_assert_true (g_file_get_contents (known, &text, NULL, NULL));
  key = g_strsplit (f->sshd->host_public, " ", 2);
  g_assert_nonnull (strstr (text, key[1]));

  /* No terminal now (a new session): known, so not asked. */
  job_start (&job, argv, NULL, NULL);
  status = job_finish (&job);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  job_clear (&job);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/tool-hosts/run/ctrl-c-ssh", Fixture, NULL, set_up, test_run_ssh, tear_down);
  g_test_add ("/tool-hosts/run/ctrl-c-sudo", Fixture, NULL, set_up, test_run_sudo, tear_down);
  g_test_add ("/tool-hosts/cp/ssh-interrupted", Fixture, NULL, set_up, test_cp_ssh, tear_down);
  g_test_add ("/tool-hosts/prompt/host-key", Fixture, NULL, set_up, test_prompt_host_key, tear_down);

  return g_test_run ();
}
