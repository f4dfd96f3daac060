/* fleet-fixture.h — many sshd hosts at once, each in a network namespace
 *
 * One bridge in the test's own namespace, with 10.251.X.1/24; a veth per
 * host, whose other end is eth0 in the host's namespace with 10.251.X.N
 * (N = 2 + index). Every host runs its own sshd (one config, one host
 * key, one authorized key for HOST_KEY_USER) in a mount namespace of its
 * own, where FLEET_DEST is the host's own directory (fleet->hosts[i].dir)
 * or, for a host given a small disk, a small tmpfs: a file copied to
 * FLEET_DEST lands in a different place on every host, as it would on
 * real machines.
 *
 * Everything (sshd processes and whatever runs under them or in the
 * namespaces, veths, bridge, namespaces, temp dir) is listed in one
 * cleanup file acted on by fleet_stop () or, if the test dies, the reaper
 * (host-fixture.h).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include "host-fixture.h"

G_BEGIN_DECLS

typedef struct
{
  guint    index;
  char    *netns;      /* (owned) mitogen-fX-N */
  char    *veth;       /* (owned) our side, on the bridge */
  char    *address;    /* (owned) 10.251.X.(N+2) */
  char    *dir;        /* (owned) what FLEET_DEST is on this host (unless small_disk) */
  gboolean small_disk; /* FLEET_DEST is a tmpfs of small_disk_bytes */
  GPid     pid;        /* sshd (-D) */
} FleetHost;

typedef struct
{
  HostSshd  *holder;        /* (owned) temp dir, reaper, cleanup file */
  guint      n_hosts;
  FleetHost *hosts;         /* (owned) n_hosts of them */
  int        subnet;        /* X of 10.251.X.0/24 */
  char      *bridge;        /* (owned) */
  char      *dest;          /* (owned) FLEET_DEST: the same path on every host */
  char      *client_key;    /* (owned) private key HOST_KEY_USER accepts everywhere */
  char      *known_hosts;   /* (owned) every host's line */
  gsize      small_disk_bytes;
  double     setup_seconds; /* fleet_start () from the first command to the last sshd listening */
} Fleet;

/* Starts @n_hosts hosts (at most 250); those whose index is in
 * @small_disks (@n_small of them) get a tmpfs of @small_disk_bytes as
 * FLEET_DEST. Waits until every sshd accepts connections. */
Fleet   *fleet_start          (guint         n_hosts,
                               const guint  *small_disks,
                               guint         n_small,
                               gsize         small_disk_bytes,
                               GError      **error);
/* Kills everything, removes everything. NULL is fine. */
void     fleet_stop           (Fleet        *fleet);

/* Our end of the veths of the @n hosts @hosts down or up (one `ip`
 * command): those hosts go silent (no FIN, no RST: their packets are
 * dropped) or come back. */
gboolean fleet_set_links      (Fleet        *fleet,
                               const guint  *hosts,
                               guint         n,
                               gboolean      up,
                               GError      **error);
/* SIGKILLs host @i's sshd and everything under it (every process in its
 * network namespace). */
void     fleet_kill_sshd      (Fleet        *fleet,
                               guint         i);
/* The processes running in host @i's network namespace (sshd, its
 * session processes, agents). */
GArray  *fleet_host_pids      (Fleet        *fleet,
                               guint         i);
/* The pids of host @i whose command name is @comm (e.g. "mitogen-agent"). */
GArray  *fleet_host_pids_named (Fleet       *fleet,
                                guint        i,
                                const char  *comm);
/* Resident memory (kB, VmRSS) of @pid, or 0 if it is gone. */
guint64  fleet_pid_rss_kb     (GPid          pid);
/* Its proportional share (kB, Pss: shared pages divided among their
 * users), or 0. */
guint64  fleet_pid_pss_kb     (GPid          pid);
/* The ssh options (a{sv}) of host @i for mitogen_router_connect (),
 * @extra_key/@extra_value pairs (NULL-terminated) added. */
GVariant *fleet_ssh_options   (Fleet        *fleet,
                               guint         i,
                               const char   *first_key,
                               ...) G_GNUC_NULL_TERMINATED;
/* The same as a `mitogen` tool CHAIN (ssh:ADDRESS?...), with @extra
 * ("k=v&k=v", nullable) appended. */
char     *fleet_ssh_chain     (Fleet        *fleet,
                               guint         i,
                               const char   *extra);

G_END_DECLS
