/* fleet-fixture.c — many sshd hosts in network namespaces (see fleet-fixture.h)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#include "fleet-fixture.h"

#define SSHD_PATH "/usr/sbin/sshd"
#define RUN(error, ...) host_fixture_run ((const char * const[]) { __VA_ARGS__, NULL }, NULL, error)

static char *
make_key (const char  *dir,
          const char  *name,
          GError     **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *pub_path = g_strconcat (path, ".pub", NULL);
  g_autofree char *pub = NULL;
  g_auto(GStrv) parts = NULL;

  if (!RUN (error, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mitogen-fleet", "-f", path))
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

/* A 10.251.X.0/24 no route of this machine covers, and a bridge name free. */
static gboolean
pick_subnet (Fleet   *fleet,
             GError **error)
{
  for (int attempt = 0; attempt < 256; attempt++)
    {
      int x = (int) ((getpid () + attempt * 13) % 256);
      g_autofree char *subnet = g_strdup_printf ("10.251.%d.0/24", x);
      g_autofree char *bridge = g_strdup_printf ("mtgfb%d", x);
      g_autofree char *sys_path = g_strdup_printf ("/sys/class/net/%s", bridge);
      g_autofree char *existing = NULL;
      g_autofree char *address = g_strdup_printf ("10.251.%d.1/24", x);

      if (g_file_test (sys_path, G_FILE_TEST_EXISTS))
        continue;
      if (!g_spawn_sync (NULL, (char *[]) { "ip", "-o", "route", "show", "to", "match", subnet, NULL }, NULL,
                         G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                         &existing, NULL, NULL, NULL) ||
          strstr (existing, "10.251.") != NULL)
        continue;
      if (!RUN (NULL, "ip", "link", "add", bridge, "type", "bridge"))
        continue;  /* raced with another run */
      host_fixture_note_cleanup (fleet->holder, "link %s", bridge);
      fleet->subnet = x;
      fleet->bridge = g_steal_pointer (&bridge);
      return RUN (error, "ip", "addr", "add", address, "dev", fleet->bridge) &&
             RUN (error, "ip", "link", "set", fleet->bridge, "up");
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, "no free 10.251.X.0/24 for a fleet");
  return FALSE;
}

static gboolean
try_connect (const char *address)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (22) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  gboolean ok;

  inet_pton (AF_INET, address, &addr.sin_addr);
  ok = fd >= 0 && connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0;
  if (fd >= 0)
    close (fd);
  return ok;
}

static gboolean
run_batch (const char  *netns,
           const char  *commands,
           GError     **error)
{
  if (netns != NULL)
    return host_fixture_run ((const char * const[]) { "ip", "-n", netns, "-batch", "-", NULL }, commands, error);
  return host_fixture_run ((const char * const[]) { "ip", "-batch", "-", NULL }, commands, error);
}

Fleet *
fleet_start (guint         n_hosts,
             const guint  *small_disks,
             guint         n_small,
             gsize         small_disk_bytes,
             GError      **error)
{
  Fleet *fleet = g_new0 (Fleet, 1);
  gint64 start = g_get_monotonic_time ();
  g_autofree char *host_public = NULL;
  g_autofree char *client_public = NULL;
  g_autofree char *config = NULL;
  g_autofree char *config_path = NULL;
  g_autofree char *keys_dir = NULL;
  g_autofree char *authorized = NULL;
  g_autofree char *line = NULL;
  g_autofree char *host_key = NULL;
  g_autoptr(GString) known = g_string_new (NULL);
  g_autoptr(GString) batch = g_string_new (NULL);
  gint64 deadline;

  g_return_val_if_fail (n_hosts > 0 && n_hosts <= 250, NULL);

  fleet->n_hosts = n_hosts;
  fleet->hosts = g_new0 (FleetHost, n_hosts);
  fleet->small_disk_bytes = small_disk_bytes;
  fleet->holder = host_fixture_scratch_new ("mitogen-fleet-XXXXXX", error);
  if (fleet->holder == NULL)
    goto fail;
  if (!g_file_test ("/run/sshd", G_FILE_TEST_IS_DIR) && g_mkdir_with_parents ("/run/sshd", 0755) < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot create /run/sshd");
      goto fail;
    }

  /* Keys: one host key, one client key, for every host. */
  if ((host_public = make_key (fleet->holder->dir, "host_key", error)) == NULL ||
      (client_public = make_key (fleet->holder->dir, "client_key", error)) == NULL)
    goto fail;
  fleet->client_key = g_build_filename (fleet->holder->dir, "client_key", NULL);
  host_key = g_build_filename (fleet->holder->dir, "host_key", NULL);
  keys_dir = g_build_filename (fleet->holder->dir, "authorized_keys", NULL);
  mkdir (keys_dir, 0755);
  authorized = g_build_filename (keys_dir, HOST_KEY_USER, NULL);
  line = g_strconcat (client_public, "\n", NULL);
  if (!g_file_set_contents (authorized, line, -1, error))
    goto fail;
  chmod (authorized, 0644);

  /* The mount point every host sees its own directory (or tmpfs) on. */
  fleet->dest = g_build_filename (fleet->holder->dir, "dest", NULL);
  mkdir (fleet->dest, 0755);

  config = g_strdup_printf ("Port 22\n"
                            "ListenAddress 0.0.0.0\n"
                            "HostKey %s\n"
                            "PidFile none\n"
                            "UsePAM no\n"
                            "PasswordAuthentication no\n"
                            "KbdInteractiveAuthentication no\n"
                            "PubkeyAuthentication yes\n"
                            "AuthorizedKeysFile %s/%%u\n"
                            "StrictModes no\n"
                            "PermitRootLogin no\n"
                            "AllowUsers %s\n"
                            "ClientAliveInterval 1\n"
                            "ClientAliveCountMax 2\n"
                            "MaxStartups 100\n"
                            "PrintMotd no\n"
                            "LogLevel INFO\n",
                            host_key, keys_dir, HOST_KEY_USER);
  config_path = g_build_filename (fleet->holder->dir, "sshd_config", NULL);
  if (!g_file_set_contents (config_path, config, -1, error))
    goto fail;

  if (!pick_subnet (fleet, error))
    goto fail;

  /* The namespaces and veths, in one batch. */
  for (guint i = 0; i < n_hosts; i++)
    {
      FleetHost *host = &fleet->hosts[i];

      host->index = i;
      host->netns = g_strdup_printf ("mitogen-f%d-%u", fleet->subnet, i);
      host->veth = g_strdup_printf ("mf%dh%u", fleet->subnet, i);
      host->address = g_strdup_printf ("10.251.%d.%u", fleet->subnet, i + 2);
      host->dir = g_strdup_printf ("%s/host%u", fleet->holder->dir, i);
      mkdir (host->dir, 0777);
      chmod (host->dir, 01777);
      for (guint s = 0; s < n_small; s++)
        if (small_disks[s] == i)
          host->small_disk = TRUE;
      host_fixture_note_cleanup (fleet->holder, "netns %s", host->netns);
      g_string_append_printf (batch, "netns add %s\n", host->netns);
      g_string_append_printf (batch, "link add %s type veth peer name eth0 netns %s\n", host->veth, host->netns);
      g_string_append_printf (batch, "link set %s master %s up\n", host->veth, fleet->bridge);
      g_string_append_printf (known, "%s %s\n", host->address, host_public);
    }
  if (!run_batch (NULL, batch->str, error))
    goto fail;
  for (guint i = 0; i < n_hosts; i++)
    {
      FleetHost *host = &fleet->hosts[i];
      g_autofree char *commands = g_strdup_printf ("addr add %s/24 dev eth0\n"
                                                   "link set eth0 up\n"
                                                   "link set lo up\n", host->address);

      if (!run_batch (host->netns, commands, error))
        goto fail;
    }

  fleet->known_hosts = g_build_filename (fleet->holder->dir, "known_hosts", NULL);
  if (!g_file_set_contents (fleet->known_hosts, known->str, -1, error))
    goto fail;

  /* The sshds: each in a mount namespace of its own, where FLEET_DEST is
   * this host's directory, or a small tmpfs. */
  for (guint i = 0; i < n_hosts; i++)
    {
      FleetHost *host = &fleet->hosts[i];
      g_autofree char *log = g_strdup_printf ("%s/sshd-%u.log", fleet->holder->dir, i);
      g_autofree char *mount = NULL;
      g_autofree char *script = NULL;
      int log_fd = open (log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

      if (host->small_disk)
        mount = g_strdup_printf ("mount -t tmpfs -o size=%" G_GSIZE_FORMAT ",mode=1777 mitogen-fleet \"$2\"",
                                 small_disk_bytes);
      else
        mount = g_strdup ("mount --bind \"$1\" \"$2\"");
      script = g_strdup_printf ("%s && exec " SSHD_PATH " -D -e -f \"$3\"", mount);
      if (!g_spawn_async_with_pipes_and_fds (NULL,
                                             (const char * const[]) {
                                               "ip", "netns", "exec", host->netns,
                                               "unshare", "--mount", "--propagation", "private",
                                               "/bin/sh", "-c", script, "sh", host->dir, fleet->dest, config_path,
                                               NULL },
                                             NULL,
                                             G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                             G_SPAWN_STDOUT_TO_DEV_NULL,
                                             NULL, NULL, -1, -1, log_fd, NULL, NULL, 0,
                                             &host->pid, NULL, NULL, NULL, error))
        {
          close (log_fd);
          goto fail;
        }
      close (log_fd);
      host_fixture_note_cleanup (fleet->holder, "pid %d", (int) host->pid);
    }

  deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  for (guint i = 0; i < n_hosts; i++)
    {
      FleetHost *host = &fleet->hosts[i];

      while (!try_connect (host->address))
        {
          int status;

          if (waitpid (host->pid, &status, WNOHANG) == host->pid || g_get_monotonic_time () > deadline)
            {
              g_autofree char *log_path = g_strdup_printf ("%s/sshd-%u.log", fleet->holder->dir, i);
              g_autofree char *log = NULL;

              if (!g_file_get_contents (log_path, &log, NULL, NULL))
                log = g_strdup ("");
              if (waitpid (host->pid, &status, WNOHANG) == 0)
                ;
              else
                host->pid = 0;  /* reaped */
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "sshd of host %u did not listen on %s:22: %s",
                           i, host->address, log);
              goto fail;
            }
          g_usleep (10000);
        }
    }
  fleet->setup_seconds = (g_get_monotonic_time () - start) / 1e6;
  return fleet;

fail:
  fleet_stop (fleet);
  return NULL;
}

void
fleet_stop (Fleet *fleet)
{
  if (fleet == NULL)
    return;

  if (fleet->holder != NULL && fleet->holder->cleanup_file != NULL)
    {
      /* The generic cleanup (the reaper's, if the test dies) walks /proc
       * once per sshd and runs `ip` once per namespace; this is the same
       * work in two passes over /proc and one `ip` command. The file is
       * then cut down to the directory. */
      g_autoptr(GHashTable) inodes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_autoptr(GString) batch = g_string_new (NULL);

      for (guint i = 0; i < fleet->n_hosts; i++)
        {
          g_autofree char *path = NULL;
          struct stat st;

          if (fleet->hosts[i].netns == NULL)
            continue;
          path = g_strdup_printf ("/run/netns/%s", fleet->hosts[i].netns);
          if (stat (path, &st) == 0)
            {
              g_hash_table_add (inodes, g_strdup_printf ("net:[%lu]", (unsigned long) st.st_ino));
              g_string_append_printf (batch, "netns del %s\n", fleet->hosts[i].netns);
            }
        }
      for (int pass = 0; pass < 2 && g_hash_table_size (inodes) > 0; pass++)
        {
          DIR *dir = opendir ("/proc");
          struct dirent *entry;

          while (dir != NULL && (entry = readdir (dir)) != NULL)
            {
              g_autofree char *link = NULL;
              g_autofree char *target = NULL;

              if (!g_ascii_isdigit (entry->d_name[0]))
                continue;
              link = g_strdup_printf ("/proc/%s/ns/net", entry->d_name);
              target = g_file_read_link (link, NULL);
              if (target != NULL && g_hash_table_contains (inodes, target))
                kill (atoi (entry->d_name), SIGKILL);
            }
          if (dir != NULL)
            closedir (dir);
          for (guint i = 0; i < fleet->n_hosts; i++)
            if (fleet->hosts[i].pid > 0)
              {
                int status;
                while (waitpid (fleet->hosts[i].pid, &status, 0) < 0 && errno == EINTR)
                  ;
                fleet->hosts[i].pid = 0;
              }
        }
      if (fleet->bridge != NULL)
        g_string_append_printf (batch, "link del %s\n", fleet->bridge);
      if (batch->len > 0)
        host_fixture_run ((const char * const[]) { "ip", "-force", "-batch", "-", NULL }, batch->str, NULL);
    }
  for (guint i = 0; i < fleet->n_hosts; i++)
    {
      FleetHost *host = &fleet->hosts[i];

      if (host->pid > 0)
        {
          int status;
          while (waitpid (host->pid, &status, 0) < 0 && errno == EINTR)
            ;
        }
      g_free (host->netns);
      g_free (host->veth);
      g_free (host->address);
      g_free (host->dir);
    }
  if (fleet->holder != NULL)
    {
      /* Done: only the directory is left for host_sshd_stop (and the reaper). */
      g_autofree char *rest = g_strdup_printf ("dir %s\n", fleet->holder->dir);

      g_file_set_contents (fleet->holder->cleanup_file, rest, -1, NULL);
    }
  host_sshd_stop (fleet->holder);
  g_free (fleet->hosts);
  g_free (fleet->bridge);
  g_free (fleet->dest);
  g_free (fleet->client_key);
  g_free (fleet->known_hosts);
  g_free (fleet);
}

gboolean
fleet_set_links (Fleet        *fleet,
                 const guint  *hosts,
                 guint         n,
                 gboolean      up,
                 GError      **error)
{
  g_autoptr(GString) batch = g_string_new (NULL);

  for (guint k = 0; k < n; k++)
    {
      g_return_val_if_fail (hosts[k] < fleet->n_hosts, FALSE);
      g_string_append_printf (batch, "link set %s %s\n", fleet->hosts[hosts[k]].veth, up ? "up" : "down");
    }
  return n == 0 || run_batch (NULL, batch->str, error);
}

void
fleet_kill_sshd (Fleet *fleet,
                 guint  i)
{
  g_autoptr(GArray) pids = NULL;

  g_return_if_fail (i < fleet->n_hosts);
  /* Everything on the host runs under its sshd: one pass over the
   * namespace's processes is quicker than walking the tree. */
  pids = fleet_host_pids (fleet, i);
  for (guint p = 0; p < pids->len; p++)
    kill (g_array_index (pids, GPid, p), SIGKILL);
}

GArray *
fleet_host_pids (Fleet *fleet,
                 guint  i)
{
  GArray *pids;

  g_return_val_if_fail (i < fleet->n_hosts, NULL);
  pids = host_fixture_netns_pids (fleet->hosts[i].netns);
  return pids != NULL ? pids : g_array_new (FALSE, FALSE, sizeof (GPid));
}

GArray *
fleet_host_pids_named (Fleet      *fleet,
                       guint       i,
                       const char *comm)
{
  g_autoptr(GArray) all = fleet_host_pids (fleet, i);
  GArray *named = g_array_new (FALSE, FALSE, sizeof (GPid));

  for (guint p = 0; p < all->len; p++)
    {
      GPid pid = g_array_index (all, GPid, p);
      g_autofree char *path = g_strdup_printf ("/proc/%d/comm", (int) pid);
      g_autofree char *text = NULL;

      if (g_file_get_contents (path, &text, NULL, NULL) && g_str_equal (g_strstrip (text), comm))
        g_array_append_val (named, pid);
    }
  return named;
}

static guint64
proc_field_kb (GPid        pid,
               const char *file,
               const char *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/%s", (int) pid, file);
  g_autofree char *needle = g_strdup_printf ("\n%s:", field);
  g_autofree char *text = NULL;
  const char *line;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (line = strstr (text, needle)) == NULL)
    return 0;
  return g_ascii_strtoull (line + strlen (needle), NULL, 10);
}

guint64
fleet_pid_rss_kb (GPid pid)
{
  return proc_field_kb (pid, "status", "VmRSS");
}

guint64
fleet_pid_pss_kb (GPid pid)
{
  return proc_field_kb (pid, "smaps_rollup", "Pss");
}

GVariant *
fleet_ssh_options (Fleet      *fleet,
                   guint       i,
                   const char *first_key,
                   ...)
{
  GVariantBuilder builder;
  va_list args;

  g_return_val_if_fail (i < fleet->n_hosts, NULL);
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "hostname", g_variant_new_string (fleet->hosts[i].address));
  g_variant_builder_add (&builder, "{sv}", "username", g_variant_new_string (HOST_KEY_USER));
  g_variant_builder_add (&builder, "{sv}", "identity_file", g_variant_new_string (fleet->client_key));
  g_variant_builder_add (&builder, "{sv}", "known_hosts_file", g_variant_new_string (fleet->known_hosts));
  g_variant_builder_add (&builder, "{sv}", "ssh_config", g_variant_new_boolean (FALSE));
  va_start (args, first_key);
  for (const char *key = first_key; key != NULL; key = va_arg (args, const char *))
    g_variant_builder_add (&builder, "{sv}", key, va_arg (args, GVariant *));
  va_end (args);
  return g_variant_builder_end (&builder);
}

char *
fleet_ssh_chain (Fleet      *fleet,
                 guint       i,
                 const char *extra)
{
  g_autofree char *key = NULL;
  g_autofree char *known = NULL;

  g_return_val_if_fail (i < fleet->n_hosts, NULL);
  /* '/' separates hops: %2F in values. */
  key = g_uri_escape_string (fleet->client_key, NULL, FALSE);
  known = g_uri_escape_string (fleet->known_hosts, NULL, FALSE);
  return g_strdup_printf ("ssh:%s?username=" HOST_KEY_USER "&identity_file=%s&known_hosts_file=%s"
                          "&ssh_config=false%s%s",
                          fleet->hosts[i].address, key, known,
                          extra != NULL ? "&" : "", extra != NULL ? extra : "");
}
