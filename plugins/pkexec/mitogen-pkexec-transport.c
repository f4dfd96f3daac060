/* mitogen-pkexec-transport.c — the `pkexec` method: a context as another user
 *
 * polkit's pkexec (no counterpart in the seed). We run
 *
 *   pkexec [--keep-cwd] --user USER sh -c STAGE1 ...
 *
 * through the start shared with su and doas
 * (plugins/become/mitogen-become-spawn.c). polkitd (on the system bus)
 * decides through its rules whether we may run the command as USER, and
 * whether someone must authenticate first. With no authentication agent
 * registered for our session, pkexec runs its own text agent on its
 * controlling terminal, a PTY of ours: it prints who must authenticate
 * and "Password: ", where we type the password (the password option, or
 * the router's MitogenInteraction); polkit-agent-helper-1 checks it with
 * PAM. A wrong password is MITOGEN_ERROR_PASSWORD once the helper says
 * PAM refused it; a rule that says no, no polkitd (or no system bus) and
 * polkit < 124's "No session for cookie" (its internal agent cannot
 * complete an authentication for a setuid pkexec, polkit-org/polkit#423)
 * are MITOGEN_ERROR_STREAM quoting pkexec.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-pkexec"

#include "config.h"

#include <string.h>

#include "mitogen-pkexec-transport.h"
#include "mitogen-become-spawn.h"

struct _MitogenPkexecTransport
{
  MitogenTransport parent_instance;

  char     *username;   /* (owned) (nullable) NULL: root */
  char     *pkexec_path;  /* (owned) (nullable) NULL: pkexec from PATH */
  char     *password;   /* (owned) (nullable) write-only, wiped when freed */
  gboolean  keep_cwd;
};

typedef enum
{
  PROP_USERNAME = 1,
  PROP_PKEXEC_PATH,
  PROP_PASSWORD,
  PROP_KEEP_CWD,
} MitogenPkexecTransportProperty;

static GParamSpec *props[PROP_KEEP_CWD + 1];

G_DEFINE_DYNAMIC_TYPE (MitogenPkexecTransport, mitogen_pkexec_transport, MITOGEN_TYPE_TRANSPORT)

/* What polkit-agent-helper-1 says when PAM refused the password (pkexec
 * then says "Not authorized", which polkit's rules also say). */
static const char * const pkexec_rejected[] = { "pam_authenticate failed", NULL };

/* The command line, or NULL with MITOGEN_ERROR_INVALID_ARGUMENT. */
static GPtrArray *
build_argv (MitogenPkexecTransport  *self,
            const char * const  *argv,
            GError             **error)
{
  g_autoptr(GPtrArray) full = g_ptr_array_new_with_free_func (g_free);
  const char *user = self->username != NULL ? self->username : "root";

  if (user[0] == '\0' || user[0] == '-')
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT, "invalid username '%s'", user);
      return NULL;
    }
  if (argv == NULL || argv[0] == NULL)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT, "no command to run");
      return NULL;
    }
  g_ptr_array_add (full, g_strdup (self->pkexec_path != NULL ? self->pkexec_path : "pkexec"));
  if (self->keep_cwd)
    g_ptr_array_add (full, g_strdup ("--keep-cwd"));
  g_ptr_array_add (full, g_strdup ("--user"));
  g_ptr_array_add (full, g_strdup (user));
  for (gsize i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (full, g_strdup (argv[i]));
  g_ptr_array_add (full, NULL);
  return g_steal_pointer (&full);
}

/* Broker thread, the broker's main context thread-default. */
static void
mitogen_pkexec_transport_spawn_async (MitogenTransport    *transport,
                                  const char * const  *argv,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  MitogenPkexecTransport *self = MITOGEN_PKEXEC_TRANSPORT (transport);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) full = build_argv (self, argv, &error);
  g_autofree char *target = NULL;
  MitogenBecomeSpec spec = { 0 };

  if (full == NULL)
    {
      g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  target = g_strdup_printf ("pkexec --user %s", self->username != NULL ? self->username : "root");
  spec.method = "pkexec";
  spec.target = target;
  /* polkit's rules say who authenticates (an administrator, or us): the
   * text agent names the user; we say who we are. */
  spec.user = g_get_user_name ();
  spec.password_on_stdin = FALSE;
  spec.rejected = pkexec_rejected;
  /* Typed at once, the password was sometimes lost (the agent waited
   * for it past connect_timeout, 1 run in 3 here). */
  spec.type_delay_ms = 100;
  mitogen_become_spawn_async (transport, (const char * const *) full->pdata, self->password, &spec,
                              cancellable, callback, user_data);
}

/* --- properties ----------------------------------------------------------- */

static void
mitogen_pkexec_transport_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  MitogenPkexecTransport *self = MITOGEN_PKEXEC_TRANSPORT (object);

  switch ((MitogenPkexecTransportProperty) prop_id)
    {
    case PROP_USERNAME:
      g_value_set_string (value, self->username != NULL ? self->username : "root");
      break;
    case PROP_PKEXEC_PATH:
      g_value_set_string (value, self->pkexec_path != NULL ? self->pkexec_path : "pkexec");
      break;

    case PROP_KEEP_CWD:
      g_value_set_boolean (value, self->keep_cwd);
      break;
    case PROP_PASSWORD:  /* write-only */
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
set_string (char         **field,
            const GValue  *value)
{
  g_free (*field);
  *field = g_value_dup_string (value);
}

static void
mitogen_pkexec_transport_set_property (GObject      *object,
                                   guint         prop_id,
                                   const GValue *value,
                                   GParamSpec   *pspec)
{
  MitogenPkexecTransport *self = MITOGEN_PKEXEC_TRANSPORT (object);

  switch ((MitogenPkexecTransportProperty) prop_id)
    {
    case PROP_USERNAME:
      set_string (&self->username, value);
      break;
    case PROP_PKEXEC_PATH:
      set_string (&self->pkexec_path, value);
      break;
    case PROP_PASSWORD:
      mitogen_transport_wipe_secret (self->password);
      self->password = g_value_dup_string (value);
      break;
    case PROP_KEEP_CWD:
      self->keep_cwd = g_value_get_boolean (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_pkexec_transport_finalize (GObject *object)
{
  MitogenPkexecTransport *self = MITOGEN_PKEXEC_TRANSPORT (object);

  g_clear_pointer (&self->username, g_free);
  g_clear_pointer (&self->pkexec_path, g_free);
  mitogen_transport_wipe_secret (g_steal_pointer (&self->password));
  G_OBJECT_CLASS (mitogen_pkexec_transport_parent_class)->finalize (object);
}

static void
mitogen_pkexec_transport_class_init (MitogenPkexecTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MitogenTransportClass *transport_class = MITOGEN_TRANSPORT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->get_property = mitogen_pkexec_transport_get_property;
  object_class->set_property = mitogen_pkexec_transport_set_property;
  object_class->finalize = mitogen_pkexec_transport_finalize;
  transport_class->spawn_async = mitogen_pkexec_transport_spawn_async;
  transport_class->short_option = "username";
  transport_class->needs_bootstrap = TRUE;
  transport_class->shares_files = TRUE;

  props[PROP_USERNAME] =
    g_param_spec_string ("username", NULL,
                         "User to become (pkexec --user)",
                         "root", rw);
  props[PROP_PKEXEC_PATH] =
    g_param_spec_string ("pkexec-path", NULL,
                         "The pkexec program to run (a path, or a name looked up in PATH)",
                         "pkexec", rw);
  props[PROP_PASSWORD] =
    g_param_spec_string ("password", NULL,
                         "The password typed when pkexec's text agent asks (the user polkit's "
                         "rules name; never logged); without it the router's interaction is asked",
                         NULL, G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  props[PROP_KEEP_CWD] =
    g_param_spec_boolean ("keep-cwd", NULL,
                          "Stay in our working directory (pkexec --keep-cwd); without it pkexec "
                          "changes to the target user's home and fails if there is none",
                          TRUE, rw);
  g_object_class_install_properties (object_class, G_N_ELEMENTS (props), props);
}

static void
mitogen_pkexec_transport_class_finalize (MitogenPkexecTransportClass *klass)
{
}

static void
mitogen_pkexec_transport_init (MitogenPkexecTransport *self)
{
  /* See plugins/sudo: the base class cannot see needs_bootstrap from its
   * own instance init. */
  self->keep_cwd = TRUE;
  g_object_set (self, "bootstrap", TRUE, NULL);
}

void
mitogen_pkexec_transport_register (GTypeModule *module)
{
  mitogen_pkexec_transport_register_type (module);
}
