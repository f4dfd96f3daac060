/* mitogen-become-spawn.h — the start shared by su, doas and pkexec
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include <mitogen/mitogen.h>

G_BEGIN_DECLS

/* What differs between the methods that become another user on this
 * machine by running a setuid program that may ask for a password. */
typedef struct
{
  const char         *method;             /* "su": in messages and the secret request */
  const char         *target;             /* "su to root": what the interaction is told */
  const char         *user;               /* whose password is asked for */
  gboolean            password_on_stdin;  /* typed on stdin (su: PAM's misc_conv reads it)
                                           * rather than on the terminal */
  guint               type_delay_ms;      /* wait this long after the prompt before typing */
  const char * const *rejected;           /* (static) text printed when a typed password was refused */
} MitogenBecomeSpec;

void mitogen_become_spawn_async (MitogenTransport        *transport,
                                 const char * const      *argv,
                                 const char              *password,
                                 const MitogenBecomeSpec *spec,
                                 GCancellable            *cancellable,
                                 GAsyncReadyCallback      callback,
                                 gpointer                 user_data);

G_END_DECLS
