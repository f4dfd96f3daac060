/* mitogen-su-transport.c — the `su` method: a context as another user
 *
 * The seed's `Router.su()`. We run
 *
 *   su [-l] [-s SHELL] -c 'sh -c STAGE1 ...' USER
 *
 * (util-linux su: the command is one string, run by USER's shell, or by
 * SHELL) through the start shared with doas and pkexec
 * (plugins/become/mitogen-become-spawn.c): PAM prints su's prompt on
 * stderr, a PTY, and reads the answer from stdin, where we type it (the
 * password option, or the router's MitogenInteraction). A wrong password
 * is MITOGEN_ERROR_PASSWORD as soon as su says "Authentication failure".
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-su"

#include "config.h"

#include <string.h>

#include "mitogen-su-transport.h"
#include "mitogen-become-spawn.h"

struct _MitogenSuTransport
{
  MitogenTransport parent_instance;

  char     *username;   /* (owned) (nullable) NULL: root */
  char     *su_path;    /* (owned) (nullable) NULL: su from PATH */
  char     *password;   /* (owned) (nullable) write-only, wiped when freed */
  char     *shell;      /* (owned) (nullable) */
  gboolean  login;
};

typedef enum
{
  PROP_USERNAME = 1,
  PROP_SU_PATH,
  PROP_PASSWORD,
  PROP_SHELL,
  PROP_LOGIN,
} MitogenSuTransportProperty;

static GParamSpec *props[PROP_LOGIN + 1];

G_DEFINE_DYNAMIC_TYPE (MitogenSuTransport, mitogen_su_transport, MITOGEN_TYPE_TRANSPORT)

/* What util-linux su (PAM) says when the password is refused. */
static const char * const su_rejected[] = { "Authentication failure", "incorrect password", NULL };

/* The command line, or NULL with MITOGEN_ERROR_INVALID_ARGUMENT. */
static GPtrArray *
build_argv (MitogenSuTransport  *self,
            const char * const  *argv,
            GError             **error)
{
  g_autoptr(GPtrArray) full = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) command = g_string_new (NULL);
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
  for (gsize i = 0; argv[i] != NULL; i++)
    {
      g_autofree char *quoted = g_shell_quote (argv[i]);

      if (i > 0)
        g_string_append_c (command, ' ');
      g_string_append (command, quoted);
    }

  g_ptr_array_add (full, g_strdup (self->su_path != NULL ? self->su_path : "su"));
  if (self->login)
    g_ptr_array_add (full, g_strdup ("-l"));
  if (self->shell != NULL)
    {
      g_ptr_array_add (full, g_strdup ("-s"));
      g_ptr_array_add (full, g_strdup (self->shell));
    }
  g_ptr_array_add (full, g_strdup ("-c"));
  g_ptr_array_add (full, g_string_free (g_steal_pointer (&command), FALSE));
  g_ptr_array_add (full, g_strdup (user));
  g_ptr_array_add (full, NULL);
  return g_steal_pointer (&full);
}

/* Broker thread, the broker's main context thread-default. */
static void
mitogen_su_transport_spawn_async (MitogenTransport    *transport,
                                  const char * const  *argv,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  MitogenSuTransport *self = MITOGEN_SU_TRANSPORT (transport);
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
  target = g_strdup_printf ("su %s", self->username != NULL ? self->username : "root");
  spec.method = "su";
  spec.target = target;
  /* su asks for the target user's password. */
  spec.user = self->username != NULL ? self->username : "root";
  spec.password_on_stdin = TRUE;
  spec.rejected = su_rejected;
  mitogen_become_spawn_async (transport, (const char * const *) full->pdata, self->password, &spec,
                              cancellable, callback, user_data);
}

/* --- properties ----------------------------------------------------------- */

static void
mitogen_su_transport_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  MitogenSuTransport *self = MITOGEN_SU_TRANSPORT (object);

  switch ((MitogenSuTransportProperty) prop_id)
    {
    case PROP_USERNAME:
      g_value_set_string (value, self->username != NULL ? self->username : "root");
      break;
    case PROP_SU_PATH:
      g_value_set_string (value, self->su_path != NULL ? self->su_path : "su");
      break;
    case PROP_SHELL:
      g_value_set_string (value, self->shell);
      break;
    case PROP_LOGIN:
      g_value_set_boolean (value, self->login);
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
mitogen_su_transport_set_property (GObject      *object,
                                   guint         prop_id,
                                   const GValue *value,
                                   GParamSpec   *pspec)
{
  MitogenSuTransport *self = MITOGEN_SU_TRANSPORT (object);

  switch ((MitogenSuTransportProperty) prop_id)
    {
    case PROP_USERNAME:
      set_string (&self->username, value);
      break;
    case PROP_SU_PATH:
      set_string (&self->su_path, value);
      break;
    case PROP_PASSWORD:
      mitogen_transport_wipe_secret (self->password);
      self->password = g_value_dup_string (value);
      break;
    case PROP_SHELL:
      set_string (&self->shell, value);
      break;
    case PROP_LOGIN:
      self->login = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_su_transport_finalize (GObject *object)
{
  MitogenSuTransport *self = MITOGEN_SU_TRANSPORT (object);

  g_clear_pointer (&self->username, g_free);
  g_clear_pointer (&self->su_path, g_free);
  mitogen_transport_wipe_secret (g_steal_pointer (&self->password));
  g_clear_pointer (&self->shell, g_free);
  G_OBJECT_CLASS (mitogen_su_transport_parent_class)->finalize (object);
}

static void
mitogen_su_transport_class_init (MitogenSuTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MitogenTransportClass *transport_class = MITOGEN_TRANSPORT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->get_property = mitogen_su_transport_get_property;
  object_class->set_property = mitogen_su_transport_set_property;
  object_class->finalize = mitogen_su_transport_finalize;
  transport_class->spawn_async = mitogen_su_transport_spawn_async;
  transport_class->short_option = "username";
  transport_class->needs_bootstrap = TRUE;
  transport_class->shares_files = TRUE;

  props[PROP_USERNAME] =
    g_param_spec_string ("username", NULL,
                         "User to become (su USER)",
                         "root", rw);
  props[PROP_SU_PATH] =
    g_param_spec_string ("su-path", NULL,
                         "The su program to run (a path, or a name looked up in PATH)",
                         "su", rw);
  props[PROP_PASSWORD] =
    g_param_spec_string ("password", NULL,
                         "The target user's password, typed when su asks (never logged); without "
                         "it the router's interaction is asked",
                         NULL, G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  props[PROP_SHELL] =
    g_param_spec_string ("shell", NULL,
                         "Shell that runs the context's command (su -s), instead of the target "
                         "user's login shell (needed when that is nologin)",
                         NULL, rw);
  props[PROP_LOGIN] =
    g_param_spec_boolean ("login", NULL,
                          "A login session: the target user's environment and home (su -l)",
                          FALSE, rw);
  g_object_class_install_properties (object_class, G_N_ELEMENTS (props), props);
}

static void
mitogen_su_transport_class_finalize (MitogenSuTransportClass *klass)
{
}

static void
mitogen_su_transport_init (MitogenSuTransport *self)
{
  /* See plugins/sudo: the base class cannot see needs_bootstrap from its
   * own instance init. */
  g_object_set (self, "bootstrap", TRUE, NULL);
}

void
mitogen_su_transport_register (GTypeModule *module)
{
  mitogen_su_transport_register_type (module);
}
