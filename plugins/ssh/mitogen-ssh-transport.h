/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#include <mitogen/mitogen.h>

G_BEGIN_DECLS

/**
 * MitogenSshHostKeyPolicy:
 * @MITOGEN_SSH_HOST_KEY_ENFORCE: the host key must be in known_hosts
 * @MITOGEN_SSH_HOST_KEY_ACCEPT_NEW: an unknown host's key is accepted and
 *   recorded; a changed key is still refused
 * @MITOGEN_SSH_HOST_KEY_IGNORE: no verification (throwaway test hosts only)
 *
 * The `check_host_keys` option of the `ssh` method.
 */
typedef enum
{
  MITOGEN_SSH_HOST_KEY_ENFORCE,
  MITOGEN_SSH_HOST_KEY_ACCEPT_NEW,
  MITOGEN_SSH_HOST_KEY_IGNORE,
} MitogenSshHostKeyPolicy;

GType mitogen_ssh_host_key_policy_get_type (void);
#define MITOGEN_TYPE_SSH_HOST_KEY_POLICY (mitogen_ssh_host_key_policy_get_type ())

#define MITOGEN_TYPE_SSH_TRANSPORT (mitogen_ssh_transport_get_type ())
G_DECLARE_FINAL_TYPE (MitogenSshTransport, mitogen_ssh_transport, MITOGEN, SSH_TRANSPORT, MitogenTransport)

/* Registers the transport's types with @module (a GIOModule, or the
 * static agent's own module). Call once, before using the types. */
void mitogen_ssh_transport_register (GTypeModule *module);

G_END_DECLS
