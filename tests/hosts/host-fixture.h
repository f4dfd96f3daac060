/* host-fixture.h — real hosts for tests: test users, an OpenSSH sshd on
 * loopback or inside a network namespace reached over a veth pair
 *
 * Everything a fixture creates (processes, namespace, veth, temp dir) is
 * listed in a cleanup file that a reaper process (mitogen-host-reaper)
 * acts on when the test process goes away, however it goes: a failed
 * assertion aborts, a test timeout kills. Normal teardown does the same
 * work first.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define HOST_KEY_USER       "mitogen-key"
#define HOST_PASSWORD_USER  "mitogen-pw"
#define HOST_PASSWORD       "Mitogen-test-pw-7"

typedef struct
{
  char  *dir;             /* (owned) temp dir, 0755 (sshd reads it as the users) */
  char  *address;         /* (owned) where sshd listens: 127.0.0.1 or 10.250.N.2 */
  int    port;
  char  *host_public;     /* (owned) "ssh-ed25519 AAAA..." of the host key */
  char  *other_public;    /* (owned) another ed25519 key (for "changed key" tests) */
  char  *client_key;      /* (owned) private key HOST_KEY_USER accepts */
  char  *known_hosts;     /* (owned) a known_hosts file listing the host key */
  char  *log;             /* (owned) sshd's stderr */
  GPid   pid;             /* sshd (-D), or 0 */

  /* Network namespace mode (index >= 0). */
  int    index;           /* N of mitogen-tN / mtgNh / 10.250.N.0/30, or -1 */
  char  *netns;           /* (owned) (nullable) */
  char  *veth_host;       /* (owned) (nullable) our side of the pair */

  char  *cleanup_file;    /* (owned) what the reaper undoes */
  int    reaper_pipe;     /* write end: the reaper acts when it closes */
  GPid   reaper_pid;
} HostSshd;

/* NULL if host tests can run here, else why not (for g_test_skip). */
const char *host_fixture_unavailable (gboolean need_netns);

/* Creates HOST_KEY_USER and HOST_PASSWORD_USER if missing (root only). */
gboolean    host_fixture_ensure_users (GError **error);

/* Starts sshd on 127.0.0.1 (@netns FALSE) or inside a new network
 * namespace behind a new veth pair (@netns TRUE), and waits until it
 * accepts connections. */
HostSshd   *host_sshd_start           (gboolean   netns,
                                       GError   **error);
/* Stops sshd and everything under it, removes namespace, veth and temp
 * dir. NULL is fine. */
void        host_sshd_stop            (HostSshd  *sshd);

/* Takes our side of the veth pair down (or up): a cut link. */
gboolean    host_sshd_set_link        (HostSshd  *sshd,
                                       gboolean   up,
                                       GError   **error);

/* The known_hosts line for @public_key at the fixture's address:port. */
char       *host_sshd_known_hosts_line (HostSshd   *sshd,
                                        const char *public_key);

/* Copies the agent program @path (and its .gz/.xz images) into a temp
 * dir every user can read, so a target user can run it by path (the
 * no-bootstrap fast path) wherever the build tree is. The dir goes with
 * host_sshd_stop (@holder) or, at the latest, the reaper. Returns the
 * copy's path. */
char       *host_fixture_public_agent (const char  *path,
                                       HostSshd   **holder,
                                       GError     **error);

/* Performs the cleanup listed in @path (lines "pid N", "link NAME",
 * "netns NAME", "dir PATH": processes, then links, then namespaces, whatever
 * still runs in one killed first, then dirs); used by the reaper and by
 * host_sshd_stop. */
void        host_fixture_cleanup_file (const char *path);

/* Runs docs/examples/self-replicate with "-t TARGET" for each of
 * @targets; its stdout then stderr, and its exit status (-1: not run). */
char       *host_run_self_example     (const char * const  *targets,
                                       int                 *status);
/* The "N bytes shipped" of @target's line in the example's @output, or
 * G_MAXUINT64 if that line is missing. */
guint64     host_self_example_bytes   (const char          *output,
                                       const char          *target);

/* Empties @user's cache of shipped programs (stage 1's closure cache: in
 * the home directory, or .mitogen-cache-UID in the temp dirs). */
void        host_clear_self_cache     (const char          *user);

/* --- parts the fleet fixture (fleet-fixture.h) shares ---------------- */

/* Runs @argv (searched in PATH) with @input (nullable) on stdin; fails on
 * a non-zero exit, with its stderr in the message. */
gboolean    host_fixture_run          (const char * const  *argv,
                                       const char          *input,
                                       GError             **error);
/* A HostSshd holding only a temp dir (from @template) and a reaper:
 * lines added with host_fixture_note_cleanup () are undone by
 * host_sshd_stop () or, at the latest, the reaper. */
HostSshd   *host_fixture_scratch_new  (const char          *template,
                                       GError             **error);
void        host_fixture_note_cleanup (HostSshd            *sshd,
                                       const char          *format,
                                       ...) G_GNUC_PRINTF (2, 3);
/* SIGKILLs @root and every process below it (by parent pid). */
void        host_fixture_kill_tree    (GPid                 root);
/* The processes in network namespace @netns (/run/netns/NAME), or NULL
 * if there is no such namespace. */
GArray     *host_fixture_netns_pids   (const char          *netns);

G_END_DECLS
