/* fuzz-chain.c — the `mitogen` tool's CHAIN syntax (tools/mitogen-chain.c)
 *
 * Input: text, one CHAIN a line, each as if given with -t (empty lines
 * are dropped, and lines that start with '@': they would name a file to
 * read). The chains
 * are parsed with tool_targets_parse (), then each target's hops are
 * resolved against the transports (local, ssh, sudo, docker, compiled
 * in as in the agent) with tool_target_resolve (), given the password
 * "fuzz-password".
 *
 * Checks: a parsed target has a hop; a resolved one an a{sv} per hop;
 * no option whose name means "password" carries anything but the
 * password given (a CHAIN must never carry one: it would show in process
 * lists).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <string.h>

#include "fuzz-common.h"
#include "mitogen-plugins-private.h"
#include "mitogen-tool.h"
#include "mitogen-local-transport.h"
#include "mitogen-ssh-transport.h"
#include "mitogen-sudo-transport.h"
#include "mitogen-docker-transport.h"

#define FUZZ_PASSWORD "fuzz-password"

static const MitogenBuiltinTransport fuzz_transports[] = {
  { "local", mitogen_local_transport_register, mitogen_local_transport_get_type },
  { "ssh", mitogen_ssh_transport_register, mitogen_ssh_transport_get_type },
  { "sudo", mitogen_sudo_transport_register, mitogen_sudo_transport_get_type },
  { "docker", mitogen_docker_transport_register, mitogen_docker_transport_get_type },
  { NULL, NULL, NULL },
};

void
fuzz_chain_init (void)
{
  mitogen_plugins_use_builtin (fuzz_transports);
}

static void
check_options (GVariant *options)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  FUZZ_CHECK (g_variant_is_of_type (options, G_VARIANT_TYPE_VARDICT));
  g_variant_iter_init (&iter, options);
  while (g_variant_iter_loop (&iter, "{&sv}", &key, &value))
    {
      g_autofree char *name = g_strdelimit (g_ascii_strdown (key, -1), "-", '_');

      if (strcmp (name, "password") == 0)
        FUZZ_CHECK (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) &&
                    strcmp (g_variant_get_string (value, NULL), FUZZ_PASSWORD) == 0);
    }
}

int
fuzz_chain_one (const guint8 *data,
                gsize         size)
{
  g_autofree char *text = fuzz_strndup (data, size);
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr(GPtrArray) chains = g_ptr_array_new ();
  g_autoptr(GPtrArray) targets = NULL;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; lines[i] != NULL; i++)
    if (lines[i][0] != '@' && lines[i][0] != '\0')
      g_ptr_array_add (chains, lines[i]);
  g_ptr_array_add (chains, NULL);

  targets = tool_targets_parse ((char **) chains->pdata, &error);
  if (targets == NULL)
    {
      FUZZ_CHECK (error != NULL);
      g_debug ("%s", error->message);
      return 0;
    }
  for (guint i = 0; i < targets->len; i++)
    {
      ToolTarget *target = g_ptr_array_index (targets, i);
      g_autoptr(GError) resolve_error = NULL;

      FUZZ_CHECK (target->hops->len > 0);
      (void) tool_target_takes_password (target);
      if (!tool_target_resolve (target, FUZZ_PASSWORD, &resolve_error))
        {
          FUZZ_CHECK (resolve_error != NULL);
          g_debug ("%s: %s", target->name, resolve_error->message);
          continue;
        }
      g_debug ("%s: resolved", target->name);
      FUZZ_CHECK (target->options->len == target->hops->len);
      for (guint j = 0; j < target->options->len; j++)
        check_options (g_ptr_array_index (target->options, j));
    }
  return 0;
}

FUZZ_TARGET (chain)
