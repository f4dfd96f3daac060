/* mitogen-ssh-connection.h — a libssh session driven from a GMainContext
 *
 * Internal to the ssh transport (no GObject types, no module assumptions:
 * the static agent can compile it in as it is). Built without libssh
 * (MITOGEN_SSH_OPENSSH_ONLY) only the spawn result and the quoting
 * (mitogen-ssh-util.c) are used.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include <gio/gio.h>

#include "mitogen-ssh-transport.h"

G_BEGIN_DECLS

/* Everything one connection needs, copied out of the transport's
 * properties so the connection outlives the transport object. */
typedef struct
{
  char                    *hostname;            /* (owned) may be user@host */
  char                    *username;            /* (owned) (nullable) */
  int                      port;                /* 0: ssh config or 22 */
  char                    *password;            /* (owned) (nullable) never logged */
  char                    *identity_file;       /* (owned) (nullable) */
  MitogenSshHostKeyPolicy  check_host_keys;
  char                    *known_hosts_file;    /* (owned) (nullable) */
  int                      compression_level;   /* 0 off, 1-9 */
  gboolean                 ssh_config;
  double                   keepalive_interval;  /* seconds; 0 disables */
  int                      keepalive_count;
  double                   connect_timeout;     /* seconds */
} MitogenSshParams;

void mitogen_ssh_params_clear (MitogenSshParams *params);


/* Connects, authenticates and runs @command on the target, from sources
 * attached to the thread-default main context. @task (source object: the
 * transport) completes with mitogen_transport_return_spawned () once the exec request
 * succeeded; the connection then bridges the channel to the socketpair
 * until either side ends. Takes @params (zeroes it) and a reference on
 * @task. */
void mitogen_ssh_connection_start (MitogenSshParams *params,
                                   const char       *command,
                                   GTask            *task);

/* POSIX sh quoting: each argument single-quoted where needed, joined by
 * spaces; the remote login shell turns it back into @argv. */
char *mitogen_ssh_quote_argv (const char * const *argv);

G_END_DECLS
