/* mitogen-command-transport.c — the `command` method: run a command line
 * given as data
 *
 * Every program has it built in (the library and the static agent alike):
 * it runs the `command` option with the target's argv in place of its
 * `@ARGV@` element (or at its end), spawned with mitogen_transport_spawn_command ()
 * and the `spawn_flags` option. It is how a declarative transport (one
 * that only has build_command) is started one hop down: the master, which
 * has the plugin, builds the command line with `@ARGV@` for the target's
 * argv and asks the intermediate, which may not have the plugin, for a
 * `command` connect (mitogen_command_transport_options_for ()). See
 * docs/writing-a-transport.md § 9.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-connect"

#include "config.h"

#include <string.h>

#include "mitogen-command-transport-private.h"
#include "mitogen-plugins-private.h"
#include "mitogen-transport-private.h"

struct _MitogenCommandTransport
{
  MitogenTransport parent_instance;

  char   **command;       /* (owned) (nullable) */
  guint    spawn_flags;   /* MitogenSpawnFlags */
  gboolean shares_files;
  char    *label;         /* (owned) (nullable) */
};

typedef enum
{
  PROP_COMMAND = 1,
  PROP_SPAWN_FLAGS,
  PROP_SHARES_FILES,
  PROP_LABEL,
} MitogenCommandTransportProperty;

static GParamSpec *props[PROP_LABEL + 1];

G_DEFINE_FINAL_TYPE (MitogenCommandTransport, mitogen_command_transport, MITOGEN_TYPE_TRANSPORT)

/* Any thread: `command` with @argv in place of its mark, or after it. */
static char **
mitogen_command_transport_build_command (MitogenTransport    *transport,
                                         const char * const  *argv,
                                         GError             **error)
{
  MitogenCommandTransport *self = MITOGEN_COMMAND_TRANSPORT (transport);
  GPtrArray *full;
  gboolean placed = FALSE;

  if (self->command == NULL || self->command[0] == NULL)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "Option 'command' of method '%s' is required (the program and its arguments)",
                   mitogen_command_transport_get_label (self));
      return NULL;
    }
  full = g_ptr_array_new ();
  for (guint i = 0; self->command[i] != NULL; i++)
    if (!placed && g_str_equal (self->command[i], MITOGEN_COMMAND_ARGV_MARK))
      {
        for (guint j = 0; argv[j] != NULL; j++)
          g_ptr_array_add (full, g_strdup (argv[j]));
        placed = TRUE;
      }
    else
      g_ptr_array_add (full, g_strdup (self->command[i]));
  if (!placed)
    for (guint j = 0; argv[j] != NULL; j++)
      g_ptr_array_add (full, g_strdup (argv[j]));
  g_ptr_array_add (full, NULL);
  return (char **) g_ptr_array_free (full, FALSE);
}

/* Broker thread: build_command's spawn, with this instance's flags. */
static void
mitogen_command_transport_spawn_async (MitogenTransport    *transport,
                                       const char * const  *argv,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  MitogenCommandTransport *self = MITOGEN_COMMAND_TRANSPORT (transport);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) command = NULL;
  int read_fd = -1, write_fd = -1, stderr_fd = -1;
  GPid pid = 0;

  g_task_set_source_tag (task, mitogen_command_transport_spawn_async);
  command = mitogen_command_transport_build_command (transport, argv, &error);
  if (command == NULL ||
      !mitogen_transport_spawn_command (transport, (const char * const *) command, NULL,
                                        (MitogenSpawnFlags) self->spawn_flags,
                                        &read_fd, &write_fd, &stderr_fd, &pid, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  mitogen_transport_return_spawned (task, read_fd, write_fd, stderr_fd, pid);
}

const char *
mitogen_command_transport_get_label (MitogenCommandTransport *self)
{
  return self->label != NULL ? self->label : MITOGEN_COMMAND_METHOD;
}

gboolean
mitogen_command_transport_get_shares_files (MitogenCommandTransport *self)
{
  return self->shares_files;
}

/* Whether @name is an option of the base class (shared by every method). */
static gboolean
is_common_option (GObjectClass *klass,
                  const char   *name)
{
  g_autofree char *property = g_strdelimit (g_strdup (name), "_", '-');
  GParamSpec *pspec = g_object_class_find_property (klass, property);

  return pspec != NULL && pspec->owner_type == MITOGEN_TYPE_TRANSPORT;
}

GVariant *
mitogen_command_transport_options_for (const char  *method,
                                       GVariant    *options,
                                       GError     **error)
{
  /* Two words, so that a transport joining the target's command into one
   * word (which the intermediate could not substitute) shows it. */
  static const char * const mark[] = { MITOGEN_COMMAND_ARGV_MARK, MITOGEN_COMMAND_ARGV_MARK "+", NULL };
  GPtrArray *sent;
  g_autoptr(MitogenTransport) transport = NULL;
  g_auto(GStrv) command = NULL;
  g_autoptr(GTypeClass) class_ref = NULL;
  MitogenTransportClass *klass;
  GVariantBuilder builder;
  GVariantIter iter;
  const char *key;
  GVariant *value;
  GType type;
  guint marks = 0;

  if (g_strcmp0 (method, MITOGEN_COMMAND_METHOD) == 0)
    return NULL;
  type = mitogen_plugins_lookup (method);
  if (type == G_TYPE_INVALID)
    return NULL;  /* perhaps the intermediate has it */
  class_ref = g_type_class_ref (type);
  klass = (MitogenTransportClass *) class_ref;
  if (klass->spawn_async != NULL || klass->build_command == NULL)
    return NULL;

  transport = mitogen_transport_new_for_method (method, options, error);
  if (transport == NULL)
    return NULL;
  command = klass->build_command (transport, mark, error);
  if (command == NULL)
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                     "%s: its build_command returned no command", method);
      return NULL;
    }
  /* The marks must come back whole, together and once: they become the
   * one element `command` substitutes. */
  sent = g_ptr_array_new ();
  for (guint i = 0; command[i] != NULL; i++)
    {
      if (g_str_equal (command[i], mark[0]) && command[i + 1] != NULL && g_str_equal (command[i + 1], mark[1]))
        {
          marks++;
          g_ptr_array_add (sent, command[i]);
          i++;
        }
      else if (strstr (command[i], MITOGEN_COMMAND_ARGV_MARK) != NULL)
        marks += 2;  /* inside a word, split, or reordered */
      else
        g_ptr_array_add (sent, command[i]);
    }
  g_ptr_array_add (sent, NULL);
  if (marks != 1)
    {
      g_ptr_array_unref (sent);
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                   "%s: cannot be started through another context that lacks it: "
                   "its build_command does not keep the target's command as whole words", method);
      return NULL;
    }

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_iter_init (&iter, options);
  while (g_variant_iter_loop (&iter, "{&sv}", &key, &value))
    if (is_common_option (G_OBJECT_CLASS (klass), key) && !g_str_equal (key, "bootstrap"))
      g_variant_builder_add (&builder, "{sv}", key, value);
  g_variant_builder_add (&builder, "{sv}", "command", g_variant_new_strv ((const char * const *) sent->pdata, -1));
  g_ptr_array_unref (sent);
  g_variant_builder_add (&builder, "{sv}", "spawn_flags", g_variant_new_uint32 (klass->spawn_flags));
  g_variant_builder_add (&builder, "{sv}", "shares_files", g_variant_new_boolean (klass->shares_files));
  g_variant_builder_add (&builder, "{sv}", "label", g_variant_new_string (method));
  /* The method's default (needs_bootstrap) or the user's choice. */
  g_variant_builder_add (&builder, "{sv}", "bootstrap",
                         g_variant_new_boolean (mitogen_transport_get_bootstrap (transport)));
  return g_variant_builder_end (&builder);
}

static void
mitogen_command_transport_get_property (GObject    *object,
                                        guint       prop_id,
                                        GValue     *value,
                                        GParamSpec *pspec)
{
  MitogenCommandTransport *self = MITOGEN_COMMAND_TRANSPORT (object);

  switch ((MitogenCommandTransportProperty) prop_id)
    {
    case PROP_COMMAND:
      g_value_set_boxed (value, self->command);
      break;
    case PROP_SPAWN_FLAGS:
      g_value_set_uint (value, self->spawn_flags);
      break;
    case PROP_SHARES_FILES:
      g_value_set_boolean (value, self->shares_files);
      break;
    case PROP_LABEL:
      g_value_set_string (value, self->label);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_command_transport_set_property (GObject      *object,
                                        guint         prop_id,
                                        const GValue *value,
                                        GParamSpec   *pspec)
{
  MitogenCommandTransport *self = MITOGEN_COMMAND_TRANSPORT (object);

  switch ((MitogenCommandTransportProperty) prop_id)
    {
    case PROP_COMMAND:
      g_strfreev (self->command);
      self->command = g_value_dup_boxed (value);
      break;
    case PROP_SPAWN_FLAGS:
      self->spawn_flags = g_value_get_uint (value);
      break;
    case PROP_SHARES_FILES:
      self->shares_files = g_value_get_boolean (value);
      break;
    case PROP_LABEL:
      g_free (self->label);
      self->label = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_command_transport_finalize (GObject *object)
{
  MitogenCommandTransport *self = MITOGEN_COMMAND_TRANSPORT (object);

  g_clear_pointer (&self->command, g_strfreev);
  g_clear_pointer (&self->label, g_free);
  G_OBJECT_CLASS (mitogen_command_transport_parent_class)->finalize (object);
}

static void
mitogen_command_transport_class_init (MitogenCommandTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MitogenTransportClass *transport_class = MITOGEN_TRANSPORT_CLASS (klass);

  object_class->get_property = mitogen_command_transport_get_property;
  object_class->set_property = mitogen_command_transport_set_property;
  object_class->finalize = mitogen_command_transport_finalize;
  transport_class->spawn_async = mitogen_command_transport_spawn_async;
  transport_class->build_command = mitogen_command_transport_build_command;
  transport_class->needs_bootstrap = FALSE;

  props[PROP_COMMAND] =
    g_param_spec_boxed ("command", NULL,
                        "Command line that runs the target: its element @ARGV@ (or its end) gets the agent's command",
                        G_TYPE_STRV,
                        G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  props[PROP_SPAWN_FLAGS] =
    g_param_spec_uint ("spawn-flags", NULL,
                       "MitogenSpawnFlags of the command (0: a socketpair, stderr on a pipe, own session)",
                       0, G_MAXUINT, 0,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  props[PROP_SHARES_FILES] =
    g_param_spec_boolean ("shares-files", NULL,
                          "The target sees this machine's files: the bootstrap tries the agent by its path first",
                          FALSE,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  props[PROP_LABEL] =
    g_param_spec_string ("label", NULL,
                         "Method name for messages (the plugin this command stands for)",
                         NULL,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, G_N_ELEMENTS (props), props);
}

static void
mitogen_command_transport_init (MitogenCommandTransport *self)
{
}
