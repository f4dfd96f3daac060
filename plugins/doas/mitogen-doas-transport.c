/* mitogen-doas-transport.c — the `doas` method: a context as another user
 *
 * The seed's `Router.doas()`. We run
 *
 *   doas [-n] -u USER -- sh -c STAGE1 ...
 *
 * (OpenBSD's doas; opendoas on Linux) through the start shared with su and
 * pkexec (plugins/become/mitogen-become-spawn.c): doas asks for the
 * invoking user's password on its controlling terminal, a PTY of ours,
 * where we type it (the password option, or the router's
 * MitogenInteraction), unless the doas.conf rule says `nopass` (or
 * `persist` holds). A wrong password is MITOGEN_ERROR_PASSWORD as soon as
 * doas says "Authentication failed"; a command no rule permits is
 * MITOGEN_ERROR_STREAM quoting doas ("Operation not permitted").
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-doas"

#include "config.h"

#include <string.h>

#include "mitogen-doas-transport.h"
#include "mitogen-become-spawn.h"

struct _MitogenDoasTransport
{
  MitogenTransport parent_instance;

  char     *username;   /* (owned) (nullable) NULL: root */
  char     *doas_path;  /* (owned) (nullable) NULL: doas from PATH */
  char     *password;   /* (owned) (nullable) write-only, wiped when freed */
  gboolean  non_interactive;
};

typedef enum
{
  PROP_USERNAME = 1,
  PROP_DOAS_PATH,
  PROP_PASSWORD,
  PROP_NON_INTERACTIVE,
} MitogenDoasTransportProperty;

static GParamSpec *props[PROP_NON_INTERACTIVE + 1];

G_DEFINE_DYNAMIC_TYPE (MitogenDoasTransport, mitogen_doas_transport, MITOGEN_TYPE_TRANSPORT)

/* What doas says when the password is refused (PAM builds, BSD auth). */
static const char * const doas_rejected[] = { "Authentication failed", "Authorization failed", NULL };

/* The command line, or NULL with MITOGEN_ERROR_INVALID_ARGUMENT. */
static GPtrArray *
build_argv (MitogenDoasTransport  *self,
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
  g_ptr_array_add (full, g_strdup (self->doas_path != NULL ? self->doas_path : "doas"));
  if (self->non_interactive)
    g_ptr_array_add (full, g_strdup ("-n"));
  g_ptr_array_add (full, g_strdup ("-u"));
  g_ptr_array_add (full, g_strdup (user));
  g_ptr_array_add (full, g_strdup ("--"));
  for (gsize i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (full, g_strdup (argv[i]));
  g_ptr_array_add (full, NULL);
  return g_steal_pointer (&full);
}

/* Broker thread, the broker's main context thread-default. */
static void
mitogen_doas_transport_spawn_async (MitogenTransport    *transport,
                                  const char * const  *argv,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  MitogenDoasTransport *self = MITOGEN_DOAS_TRANSPORT (transport);
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
  target = g_strdup_printf ("doas -u %s", self->username != NULL ? self->username : "root");
  spec.method = "doas";
  spec.target = target;
  /* doas asks for the invoking user's password, on its terminal. */
  spec.user = g_get_user_name ();
  spec.password_on_stdin = FALSE;
  spec.rejected = doas_rejected;
  mitogen_become_spawn_async (transport, (const char * const *) full->pdata, self->password, &spec,
                              cancellable, callback, user_data);
}

/* --- properties ----------------------------------------------------------- */

static void
mitogen_doas_transport_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  MitogenDoasTransport *self = MITOGEN_DOAS_TRANSPORT (object);

  switch ((MitogenDoasTransportProperty) prop_id)
    {
    case PROP_USERNAME:
      g_value_set_string (value, self->username != NULL ? self->username : "root");
      break;
    case PROP_DOAS_PATH:
      g_value_set_string (value, self->doas_path != NULL ? self->doas_path : "doas");
      break;
    case PROP_NON_INTERACTIVE:
      g_value_set_boolean (value, self->non_interactive);
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
mitogen_doas_transport_set_property (GObject      *object,
                                   guint         prop_id,
                                   const GValue *value,
                                   GParamSpec   *pspec)
{
  MitogenDoasTransport *self = MITOGEN_DOAS_TRANSPORT (object);

  switch ((MitogenDoasTransportProperty) prop_id)
    {
    case PROP_USERNAME:
      set_string (&self->username, value);
      break;
    case PROP_DOAS_PATH:
      set_string (&self->doas_path, value);
      break;
    case PROP_PASSWORD:
      mitogen_transport_wipe_secret (self->password);
      self->password = g_value_dup_string (value);
      break;
    case PROP_NON_INTERACTIVE:
      self->non_interactive = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_doas_transport_finalize (GObject *object)
{
  MitogenDoasTransport *self = MITOGEN_DOAS_TRANSPORT (object);

  g_clear_pointer (&self->username, g_free);
  g_clear_pointer (&self->doas_path, g_free);
  mitogen_transport_wipe_secret (g_steal_pointer (&self->password));
  G_OBJECT_CLASS (mitogen_doas_transport_parent_class)->finalize (object);
}

static void
mitogen_doas_transport_class_init (MitogenDoasTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MitogenTransportClass *transport_class = MITOGEN_TRANSPORT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->get_property = mitogen_doas_transport_get_property;
  object_class->set_property = mitogen_doas_transport_set_property;
  object_class->finalize = mitogen_doas_transport_finalize;
  transport_class->spawn_async = mitogen_doas_transport_spawn_async;
  transport_class->short_option = "username";
  transport_class->needs_bootstrap = TRUE;
  transport_class->shares_files = TRUE;

  props[PROP_USERNAME] =
    g_param_spec_string ("username", NULL,
                         "User to become (doas -u)",
                         "root", rw);
  props[PROP_DOAS_PATH] =
    g_param_spec_string ("doas-path", NULL,
                         "The doas program to run (a path, or a name looked up in PATH)",
                         "doas", rw);
  props[PROP_PASSWORD] =
    g_param_spec_string ("password", NULL,
                         "Our own user's password, typed when doas asks (never logged); without "
                         "it the router's interaction is asked",
                         NULL, G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  props[PROP_NON_INTERACTIVE] =
    g_param_spec_boolean ("non-interactive", NULL,
                          "Fail rather than ask for a password (doas -n): only `nopass` rules "
                          "(or `persist` credentials) work",
                          FALSE, rw);
  g_object_class_install_properties (object_class, G_N_ELEMENTS (props), props);
}

static void
mitogen_doas_transport_class_finalize (MitogenDoasTransportClass *klass)
{
}

static void
mitogen_doas_transport_init (MitogenDoasTransport *self)
{
  /* See plugins/sudo: the base class cannot see needs_bootstrap from its
   * own instance init. */
  g_object_set (self, "bootstrap", TRUE, NULL);
}

void
mitogen_doas_transport_register (GTypeModule *module)
{
  mitogen_doas_transport_register_type (module);
}
