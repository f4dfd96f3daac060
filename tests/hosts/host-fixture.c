/* host-fixture.c — real sshd hosts for tests (see host-fixture.h)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#include "host-fixture.h"

#define SSHD_PATH "/usr/sbin/sshd"

#ifndef HOST_REAPER
# error "HOST_REAPER must name the mitogen-host-reaper program"
#endif

static gboolean
in_path (const char *program)
{
  g_autofree char *path = g_find_program_in_path (program);
  return path != NULL;
}

const char *
host_fixture_unavailable (gboolean need_netns)
{
  if (geteuid () != 0)
    return "needs root (creates users, runs sshd, makes network namespaces)";
  if (!g_file_test (SSHD_PATH, G_FILE_TEST_IS_EXECUTABLE))
    return "needs " SSHD_PATH " (Debian package openssh-server)";
  if (!in_path ("ssh-keygen"))
    return "needs ssh-keygen (Debian package openssh-client)";
  if (need_netns && !in_path ("ip"))
    return "needs ip (Debian package iproute2)";
  return NULL;
}

/* Runs @argv (searched in PATH) with @input on stdin; fails on a non-zero
 * exit, with its stderr in the message. */
gboolean
host_fixture_run (const char * const  *argv,
                  const char          *input,
                  GError             **error)
{
  g_autoptr(GSubprocess) process = NULL;
  g_autofree char *err = NULL;
  GSubprocessFlags flags = G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE;

  if (input != NULL)
    flags |= G_SUBPROCESS_FLAGS_STDIN_PIPE;
  process = g_subprocess_newv (argv, flags, error);
  if (process == NULL)
    return FALSE;
  if (!g_subprocess_communicate_utf8 (process, input, NULL, NULL, &err, error))
    return FALSE;
  if (!g_subprocess_get_if_exited (process) || g_subprocess_get_exit_status (process) != 0)
    {
      g_autofree char *line = g_strjoinv (" ", (char **) argv);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "'%s' failed: %s", line,
                   err != NULL ? g_strstrip (err) : "");
      return FALSE;
    }
  return TRUE;
}

#define run host_fixture_run
#define note_cleanup host_fixture_note_cleanup
#define RUN(error, ...) run ((const char * const[]) { __VA_ARGS__, NULL }, NULL, error)

gboolean
host_fixture_ensure_users (GError **error)
{
  if (getpwnam (HOST_KEY_USER) == NULL &&
      !RUN (error, "useradd", "-M", "-d", "/", "-s", "/bin/sh", "-c", "Mitogen test (key)", HOST_KEY_USER))
    return FALSE;
  /* useradd leaves the account locked ("!"): sshd refuses even keys then. */
  if (!RUN (error, "usermod", "-p", "*", HOST_KEY_USER))
    return FALSE;
  if (getpwnam (HOST_PASSWORD_USER) == NULL &&
      !RUN (error, "useradd", "-M", "-d", "/", "-s", "/bin/sh", "-c", "Mitogen test (password)", HOST_PASSWORD_USER))
    return FALSE;
  return run ((const char * const[]) { "chpasswd", NULL }, HOST_PASSWORD_USER ":" HOST_PASSWORD "\n", error);
}

/* --- cleanup --------------------------------------------------------------- */

static GPid
read_ppid (const char *pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/stat", pid);
  g_autofree char *text = NULL;
  const char *paren;
  char state;
  int ppid;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  paren = strrchr (text, ')');
  if (paren == NULL || sscanf (paren + 1, " %c %d", &state, &ppid) != 2)
    return -1;
  return ppid;
}

/* SIGKILLs @root and every process below it. sshd's per-connection
 * children call setsid (), so a process group would miss them. */
void
host_fixture_kill_tree (GPid root)
{
  for (int pass = 0; pass < 5; pass++)
    {
      g_autoptr(GHashTable) tree = g_hash_table_new (NULL, NULL);
      g_autoptr(GArray) pids = g_array_new (FALSE, FALSE, sizeof (GPid));
      g_autoptr(GArray) ppids = g_array_new (FALSE, FALSE, sizeof (GPid));
      gboolean grew = TRUE;
      DIR *dir = opendir ("/proc");
      struct dirent *entry;

      if (dir == NULL)
        return;
      while ((entry = readdir (dir)) != NULL)
        {
          GPid pid, ppid;
          if (!g_ascii_isdigit (entry->d_name[0]))
            continue;
          pid = atoi (entry->d_name);
          ppid = read_ppid (entry->d_name);
          g_array_append_val (pids, pid);
          g_array_append_val (ppids, ppid);
        }
      closedir (dir);

      if (kill (root, 0) == 0)
        g_hash_table_add (tree, GINT_TO_POINTER (root));
      while (grew)
        {
          grew = FALSE;
          for (guint i = 0; i < pids->len; i++)
            {
              GPid pid = g_array_index (pids, GPid, i);
              GPid ppid = g_array_index (ppids, GPid, i);
              if ((ppid == root || g_hash_table_contains (tree, GINT_TO_POINTER (ppid))) &&
                  !g_hash_table_contains (tree, GINT_TO_POINTER (pid)))
                {
                  g_hash_table_add (tree, GINT_TO_POINTER (pid));
                  grew = TRUE;
                }
            }
        }
      if (g_hash_table_size (tree) == 0)
        return;
      {
        GHashTableIter iter;
        gpointer key;
        g_hash_table_iter_init (&iter, tree);
        while (g_hash_table_iter_next (&iter, &key, NULL))
          kill (GPOINTER_TO_INT (key), SIGKILL);
      }
      g_usleep (20000);
    }
}

GArray *
host_fixture_netns_pids (const char *netns)
{
  g_autofree char *path = g_strdup_printf ("/run/netns/%s", netns);
  g_autofree char *want = NULL;
  GArray *pids;
  struct stat st;
  DIR *dir;
  struct dirent *entry;

  if (stat (path, &st) < 0)
    return NULL;
  want = g_strdup_printf ("net:[%lu]", (unsigned long) st.st_ino);
  pids = g_array_new (FALSE, FALSE, sizeof (GPid));
  dir = opendir ("/proc");
  if (dir == NULL)
    return pids;
  while ((entry = readdir (dir)) != NULL)
    {
      g_autofree char *link = NULL;
      g_autofree char *target = NULL;
      GPid pid;

      if (!g_ascii_isdigit (entry->d_name[0]))
        continue;
      link = g_strdup_printf ("/proc/%s/ns/net", entry->d_name);
      target = g_file_read_link (link, NULL);
      if (target == NULL || strcmp (target, want) != 0)
        continue;
      pid = atoi (entry->d_name);
      g_array_append_val (pids, pid);
    }
  closedir (dir);
  return pids;
}

void
host_fixture_cleanup_file (const char *path)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;
  const char *kinds[] = { "pid ", "link ", "netns ", "dir " };

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return;
  lines = g_strsplit (text, "\n", -1);

  /* Processes first, then the network, then the files. */
  for (gsize k = 0; k < G_N_ELEMENTS (kinds); k++)
    for (gsize i = 0; lines[i] != NULL; i++)
      {
        const char *arg;

        if (!g_str_has_prefix (lines[i], kinds[k]))
          continue;
        arg = lines[i] + strlen (kinds[k]);
        if (k == 0)
          host_fixture_kill_tree (atoi (arg));
        else if (k == 1)
          RUN (NULL, "ip", "link", "del", arg);
        else if (k == 2)
          {
            /* Whatever still runs in it (a stopped agent, say) goes too. */
            g_autoptr(GArray) pids = host_fixture_netns_pids (arg);

            for (guint p = 0; pids != NULL && p < pids->len; p++)
              kill (g_array_index (pids, GPid, p), SIGKILL);
            RUN (NULL, "ip", "netns", "del", arg);
          }
        else if (g_str_has_prefix (arg, "/tmp/") || g_str_has_prefix (arg, g_get_tmp_dir ()))
          RUN (NULL, "rm", "-rf", "--", arg);
      }
}

void
host_fixture_note_cleanup (HostSshd   *sshd,
              const char *format,
              ...)
{
  g_autofree char *line = NULL;
  va_list args;
  FILE *file;

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);
  file = fopen (sshd->cleanup_file, "a");
  g_assert_nonnull (file);
  fprintf (file, "%s\n", line);
  fclose (file);
}

static void
reaper_setup (gpointer data)
{
  /* Out of the test's session: a signal to the test's group spares it. */
  setsid ();
}

static gboolean
start_reaper (HostSshd  *sshd,
              GError   **error)
{
  const char *argv[] = { HOST_REAPER, sshd->cleanup_file, NULL };
  int fds[2];
  int source_fds[1], target_fds[1];

  if (pipe2 (fds, O_CLOEXEC) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "pipe: %s", g_strerror (saved));
      return FALSE;
    }
  source_fds[0] = fds[0];
  target_fds[0] = 0;
  if (!g_spawn_async_with_pipes_and_fds (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                         reaper_setup, NULL, -1, -1, -1,
                                         source_fds, target_fds, 1,
                                         &sshd->reaper_pid, NULL, NULL, NULL, error))
    {
      close (fds[0]);
      close (fds[1]);
      return FALSE;
    }
  close (fds[0]);
  sshd->reaper_pipe = fds[1];
  return TRUE;
}

/* --- sshd ------------------------------------------------------------------ */

static char *
make_key (HostSshd    *sshd,
          const char  *name,
          GError     **error)
{
  g_autofree char *path = g_build_filename (sshd->dir, name, NULL);
  g_autofree char *pub_path = g_strconcat (path, ".pub", NULL);
  g_autofree char *pub = NULL;
  g_auto(GStrv) parts = NULL;

  if (!RUN (error, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mitogen-test", "-f", path))
    return NULL;
  if (!g_file_get_contents (pub_path, &pub, NULL, error))
    return NULL;
  parts = g_strsplit (g_strstrip (pub), " ", 3);
  if (parts[0] == NULL || parts[1] == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "unexpected public key in %s", pub_path);
      return NULL;
    }
  return g_strdup_printf ("%s %s", parts[0], parts[1]);
}

static int
free_loopback_port (void)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof addr;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int port = -1;

  if (fd >= 0 && bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0 &&
      getsockname (fd, (struct sockaddr *) &addr, &len) == 0)
    port = ntohs (addr.sin_port);
  if (fd >= 0)
    close (fd);
  return port;
}

static gboolean
try_connect (const char *address,
             int         port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((guint16) port) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  gboolean ok;

  inet_pton (AF_INET, address, &addr.sin_addr);
  ok = fd >= 0 && connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0;
  if (fd >= 0)
    close (fd);
  return ok;
}

/* Our namespace, our veth pair, addresses only on them. */
static gboolean
make_netns (HostSshd  *sshd,
            GError   **error)
{
  for (int attempt = 0; attempt < 64; attempt++)
    {
      int n = (int) ((getpid () + attempt * 7) % 200) + 20;
      g_autofree char *netns = g_strdup_printf ("mitogen-t%d", n);
      g_autofree char *host = g_strdup_printf ("mtg%dh", n);
      g_autofree char *peer = g_strdup_printf ("mtg%dn", n);
      g_autofree char *run_path = g_strdup_printf ("/run/netns/%s", netns);
      g_autofree char *sys_path = g_strdup_printf ("/sys/class/net/%s", host);
      g_autofree char *host_addr = g_strdup_printf ("10.250.%d.1/30", n);
      g_autofree char *peer_addr = g_strdup_printf ("10.250.%d.2/30", n);
      g_autofree char *subnet = g_strdup_printf ("10.250.%d.0/30", n);
      g_autofree char *existing = NULL;

      if (g_file_test (run_path, G_FILE_TEST_EXISTS) || g_file_test (sys_path, G_FILE_TEST_EXISTS))
        continue;
      /* Never shadow a route this machine already has. */
      if (!g_spawn_sync (NULL, (char *[]) { "ip", "-o", "route", "show", "to", "match", subnet, NULL }, NULL,
                         G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                         &existing, NULL, NULL, NULL) ||
          strstr (existing, "10.250.") != NULL)
        continue;

      if (!RUN (NULL, "ip", "netns", "add", netns))
        continue;  /* raced with another run */
      note_cleanup (sshd, "netns %s", netns);
      sshd->index = n;
      sshd->netns = g_steal_pointer (&netns);
      note_cleanup (sshd, "link %s", host);
      if (!RUN (error, "ip", "link", "add", host, "type", "veth", "peer", "name", peer, "netns", sshd->netns) ||
          !RUN (error, "ip", "addr", "add", host_addr, "dev", host) ||
          !RUN (error, "ip", "link", "set", host, "up") ||
          !RUN (error, "ip", "-n", sshd->netns, "addr", "add", peer_addr, "dev", peer) ||
          !RUN (error, "ip", "-n", sshd->netns, "link", "set", peer, "up") ||
          !RUN (error, "ip", "-n", sshd->netns, "link", "set", "lo", "up"))
        return FALSE;
      sshd->veth_host = g_steal_pointer (&host);
      sshd->address = g_strdup_printf ("10.250.%d.2", n);
      return TRUE;
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, "no free mitogen-tN network namespace slot");
  return FALSE;
}

char *
host_sshd_known_hosts_line (HostSshd   *sshd,
                            const char *public_key)
{
  if (sshd->port == 22)
    return g_strdup_printf ("%s %s\n", sshd->address, public_key);
  return g_strdup_printf ("[%s]:%d %s\n", sshd->address, sshd->port, public_key);
}

HostSshd *
host_sshd_start (gboolean   netns,
                 GError   **error)
{
  HostSshd *sshd = g_new0 (HostSshd, 1);
  g_autofree char *config = NULL;
  g_autofree char *config_path = NULL;
  g_autofree char *keys_dir = NULL;
  g_autofree char *client_pub = NULL;
  g_autofree char *key_line = NULL;
  g_autofree char *authorized = NULL;
  g_autofree char *known = NULL;
  g_autofree char *host_key = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  int log_fd;
  gint64 deadline;

  sshd->index = -1;
  sshd->reaper_pipe = -1;
  sshd->dir = g_dir_make_tmp ("mitogen-sshd-XXXXXX", error);
  if (sshd->dir == NULL)
    goto fail;
  chmod (sshd->dir, 0755);
  sshd->cleanup_file = g_build_filename (sshd->dir, "cleanup", NULL);
  note_cleanup (sshd, "dir %s", sshd->dir);
  if (!start_reaper (sshd, error))
    goto fail;

  /* sshd's privilege separation directory (the package's systemd unit
   * makes it at boot; containers have no boot). */
  if (!g_file_test ("/run/sshd", G_FILE_TEST_IS_DIR) && g_mkdir_with_parents ("/run/sshd", 0755) < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot create /run/sshd");
      goto fail;
    }

  if ((sshd->host_public = make_key (sshd, "host_key", error)) == NULL ||
      (sshd->other_public = make_key (sshd, "other_key", error)) == NULL ||
      (client_pub = make_key (sshd, "client_key", error)) == NULL)
    goto fail;
  sshd->client_key = g_build_filename (sshd->dir, "client_key", NULL);
  host_key = g_build_filename (sshd->dir, "host_key", NULL);

  keys_dir = g_build_filename (sshd->dir, "authorized_keys", NULL);
  mkdir (keys_dir, 0755);
  authorized = g_build_filename (keys_dir, HOST_KEY_USER, NULL);
  key_line = g_strconcat (client_pub, "\n", NULL);
  if (!g_file_set_contents (authorized, key_line, -1, error))
    goto fail;
  chmod (authorized, 0644);

  if (netns)
    {
      if (!make_netns (sshd, error))
        goto fail;
      sshd->port = 22;
    }
  else
    {
      sshd->address = g_strdup ("127.0.0.1");
      sshd->port = free_loopback_port ();
    }

  config = g_strdup_printf ("Port %d\n"
                            "ListenAddress %s\n"
                            "HostKey %s\n"
                            "PidFile %s/sshd.pid\n"
                            "UsePAM no\n"
                            "PasswordAuthentication yes\n"
                            "KbdInteractiveAuthentication no\n"
                            "PubkeyAuthentication yes\n"
                            "AuthorizedKeysFile %s/%%u\n"
                            "StrictModes no\n"
                            "PermitRootLogin no\n"
                            "AllowUsers %s %s\n"
                            "ClientAliveInterval 1\n"
                            "ClientAliveCountMax 2\n"
                            "MaxAuthTries 10\n"
                            "MaxStartups 100\n"
                            "PrintMotd no\n"
                            "LogLevel VERBOSE\n",
                            sshd->port, sshd->address, host_key, sshd->dir, keys_dir,
                            HOST_KEY_USER, HOST_PASSWORD_USER);
  config_path = g_build_filename (sshd->dir, "sshd_config", NULL);
  if (!g_file_set_contents (config_path, config, -1, error))
    goto fail;

  sshd->known_hosts = g_build_filename (sshd->dir, "known_hosts", NULL);
  known = host_sshd_known_hosts_line (sshd, sshd->host_public);
  if (!g_file_set_contents (sshd->known_hosts, known, -1, error))
    goto fail;

  sshd->log = g_build_filename (sshd->dir, "sshd.log", NULL);
  log_fd = open (sshd->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (netns)
    {
      g_ptr_array_add (argv, "ip");
      g_ptr_array_add (argv, "netns");
      g_ptr_array_add (argv, "exec");
      g_ptr_array_add (argv, sshd->netns);
    }
  g_ptr_array_add (argv, SSHD_PATH);
  g_ptr_array_add (argv, "-D");
  g_ptr_array_add (argv, "-e");
  g_ptr_array_add (argv, "-f");
  g_ptr_array_add (argv, config_path);
  g_ptr_array_add (argv, NULL);
  if (!g_spawn_async_with_pipes_and_fds (NULL, (const char * const *) argv->pdata, NULL,
                                         G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                         G_SPAWN_STDOUT_TO_DEV_NULL,
                                         NULL, NULL, -1, -1, log_fd, NULL, NULL, 0,
                                         &sshd->pid, NULL, NULL, NULL, error))
    {
      close (log_fd);
      goto fail;
    }
  close (log_fd);
  note_cleanup (sshd, "pid %d", (int) sshd->pid);

  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (!try_connect (sshd->address, sshd->port))
    {
      int status;
      if (waitpid (sshd->pid, &status, WNOHANG) == sshd->pid || g_get_monotonic_time () > deadline)
        {
          g_autofree char *log = NULL;
          if (!g_file_get_contents (sshd->log, &log, NULL, NULL))
            log = g_strdup ("");
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "sshd did not start listening on %s:%d: %s",
                       sshd->address, sshd->port, log);
          goto fail;
        }
      g_usleep (20000);
    }
  return sshd;

fail:
  host_sshd_stop (sshd);
  return NULL;
}

static gboolean
copy_file (const char  *from,
           const char  *to,
           GError     **error)
{
  g_autofree char *data = NULL;
  gsize len = 0;

  if (!g_file_get_contents (from, &data, &len, error) ||
      !g_file_set_contents (to, data, (gssize) len, error))
    return FALSE;
  chmod (to, 0755);
  return TRUE;
}

HostSshd *
host_fixture_scratch_new (const char  *template,
                          GError     **error)
{
  HostSshd *scratch = g_new0 (HostSshd, 1);

  scratch->index = -1;
  scratch->reaper_pipe = -1;
  scratch->dir = g_dir_make_tmp (template, error);
  if (scratch->dir == NULL)
    goto fail;
  chmod (scratch->dir, 0755);
  scratch->cleanup_file = g_build_filename (scratch->dir, "cleanup", NULL);
  note_cleanup (scratch, "dir %s", scratch->dir);
  if (!start_reaper (scratch, error))
    goto fail;
  return scratch;

fail:
  host_sshd_stop (scratch);
  return NULL;
}

char *
host_fixture_public_agent (const char  *path,
                           HostSshd   **holder,
                           GError     **error)
{
  HostSshd *scratch = host_fixture_scratch_new ("mitogen-agent-XXXXXX", error);
  const char *suffixes[] = { "", ".gz", ".zst", ".xz" };
  char *copy = NULL;

  if (scratch == NULL)
    return NULL;

  copy = g_build_filename (scratch->dir, "mitogen-agent", NULL);
  /* In this order: the compressed images must not be older than the raw one. */
  for (gsize i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *from = g_strconcat (path, suffixes[i], NULL);
      g_autofree char *to = g_strconcat (copy, suffixes[i], NULL);

      if (i > 0 && !g_file_test (from, G_FILE_TEST_EXISTS))
        continue;
      if (!copy_file (from, to, error))
        goto fail;
    }
  *holder = scratch;
  return copy;

fail:
  g_free (copy);
  host_sshd_stop (scratch);
  return NULL;
}

gboolean
host_sshd_set_link (HostSshd  *sshd,
                    gboolean   up,
                    GError   **error)
{
  g_return_val_if_fail (sshd->veth_host != NULL, FALSE);
  return RUN (error, "ip", "link", "set", sshd->veth_host, up ? "up" : "down");
}

void
host_sshd_stop (HostSshd *sshd)
{
  if (sshd == NULL)
    return;

  if (sshd->cleanup_file != NULL)
    host_fixture_cleanup_file (sshd->cleanup_file);
  if (sshd->pid != 0)
    {
      int status;
      while (waitpid (sshd->pid, &status, 0) < 0 && errno == EINTR)
        ;
    }
  if (sshd->dir != NULL)
    RUN (NULL, "rm", "-rf", "--", sshd->dir);
  if (sshd->reaper_pipe >= 0)
    {
      int status;
      close (sshd->reaper_pipe);
      while (waitpid (sshd->reaper_pid, &status, 0) < 0 && errno == EINTR)
        ;
    }

  g_free (sshd->dir);
  g_free (sshd->address);
  g_free (sshd->host_public);
  g_free (sshd->other_public);
  g_free (sshd->client_key);
  g_free (sshd->known_hosts);
  g_free (sshd->log);
  g_free (sshd->netns);
  g_free (sshd->veth_host);
  g_free (sshd->cleanup_file);
  g_free (sshd);
}

/* --- the self-replicating example (docs/examples/self-replicate.c) ------ */

char *
host_run_self_example (const char * const  *targets,
                       int                 *status)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL, *err = NULL;

  g_ptr_array_add (argv, (char *) SELF_EXAMPLE);
  for (guint i = 0; targets[i] != NULL; i++)
    {
      g_ptr_array_add (argv, (char *) "-t");
      g_ptr_array_add (argv, (char *) targets[i]);
    }
  g_ptr_array_add (argv, NULL);
  process = g_subprocess_newv ((const char * const *) argv->pdata,
                               G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  if (process == NULL || !g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, &error))
    {
      *status = -1;
      return g_strdup (error->message);
    }
  *status = g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process) : 128;
  return g_strconcat (out != NULL ? out : "", err != NULL ? err : "", NULL);
}

guint64
host_self_example_bytes (const char *output,
                         const char *target)
{
  g_auto(GStrv) lines = g_strsplit (output, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], target) && lines[i][strlen (target)] == ':')
      {
        const char *tail = g_strrstr (lines[i], "; ");

        if (tail != NULL && g_str_has_suffix (tail, " bytes shipped"))
          return g_ascii_strtoull (tail + 2, NULL, 10);
      }
  return G_MAXUINT64;
}

void
host_clear_self_cache (const char *user)
{
  struct passwd *pw = getpwnam (user);
  const char *tmp = g_getenv ("TMPDIR");
  g_autofree char *home_cache = NULL;

  if (pw == NULL)
    return;
  home_cache = g_build_filename (pw->pw_dir, ".cache", "mitogen", "files", NULL);
  for (int i = 0; i < 4; i++)
    {
      const char *dir = i == 0 ? "/tmp" : i == 1 ? "/var/tmp" : i == 2 ? tmp : NULL;
      g_autofree char *path = NULL;

      if (i == 3)
        path = g_strdup (home_cache);
      else if (dir != NULL)
        path = g_strdup_printf ("%s/.mitogen-cache-%u", dir, (unsigned) pw->pw_uid);
      if (path != NULL)
        RUN (NULL, "rm", "-rf", path);
    }
}
