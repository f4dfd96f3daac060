/* mitogen-sudo-transport.c — the `sudo` method: a context as another user
 *
 * The seed's `Router.sudo()`. We run
 *
 *   sudo -p PROMPT [flags] -u USER -- sh -c STAGE1 ...
 *
 * with stdin and stdout on two plain pipes (the stream; sudo never touches
 * descriptors 0-2, and with `log_output` or `use_pty` it relays pipes
 * faithfully where a shared socketpair breaks) and stderr on a PTY that is
 * the child's controlling terminal: sudo opens /dev/tty for its prompt (and
 * `requiretty` is satisfied). PROMPT is unique to the connect, so text sudo
 * prints before it (a lecture, warnings) cannot be mistaken for it, and a
 * prompt split across reads is still found.
 *
 * spawn_async completes when stdout becomes readable (stage 1 is running:
 * no prompt was needed, or the password was accepted) — we poll for
 * readability without reading, so the core reads everything — or fails:
 *
 * - a prompt and no password option: the router's MitogenInteraction is
 *   asked (mitogen_transport_ask_async; our deadline stops meanwhile and
 *   restarts with the answer, which is typed like the option);
 *   MITOGEN_ERROR_PASSWORD when it does not answer (no interaction,
 *   unhandled, failed, its timeout), G_IO_ERROR_CANCELLED if cancelled;
 * - a second prompt or "Sorry, try again" after we typed the password:
 *   MITOGEN_ERROR_PASSWORD at once;
 * - sudo exits before running the command: MITOGEN_ERROR_STREAM with what
 *   it printed (PASSWORD if that says a password was required or wrong);
 * - nothing of the above within connect_timeout: MITOGEN_ERROR_TIMEOUT
 *   with what sudo printed (e.g. a prompt that is not ours).
 *
 * On success the PTY master is the stderr descriptor handed to the core,
 * which keeps draining it (a full PTY would block the target) and puts its
 * tail into errors. On failure we close our ends, kill sudo (a PTY hangup
 * reaches it anyway if it is beyond our reach) and reap it.
 *
 * Everything runs on the thread-default main context of spawn_async (the
 * broker's), without blocking. The same source is compiled into the
 * static agent, for `via`.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-sudo"

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mitogen-sudo-transport.h"

struct _MitogenSudoTransport
{
  MitogenTransport parent_instance;

  char     *username;       /* (owned) (nullable) NULL: root */
  gboolean  username_set;   /* the username option was given */
  char     *sudo_path;      /* (owned) (nullable) NULL: sudo from PATH */
  char     *password;       /* (owned) (nullable) write-only, wiped when freed */
  gboolean  preserve_env;
  gboolean  set_home;
  gboolean  login;
  char     *selinux_role;   /* (owned) (nullable) */
  char     *selinux_type;   /* (owned) (nullable) */
  char    **sudo_args;      /* (owned) (nullable) */
};

typedef enum
{
  PROP_USERNAME = 1,
  PROP_SUDO_PATH,
  PROP_PASSWORD,
  PROP_PRESERVE_ENV,
  PROP_SET_HOME,
  PROP_LOGIN,
  PROP_SELINUX_ROLE,
  PROP_SELINUX_TYPE,
  PROP_SUDO_ARGS,
} MitogenSudoTransportProperty;

static GParamSpec *props[PROP_SUDO_ARGS + 1];

G_DEFINE_DYNAMIC_TYPE (MitogenSudoTransport, mitogen_sudo_transport, MITOGEN_TYPE_TRANSPORT)

/* What sudo printed on its terminal that we keep for error messages. */
#define OUTPUT_KEEP 8192
#define OUTPUT_HEAD 1024

/* --- sudo_args ------------------------------------------------------------ */

typedef struct
{
  char        short_name;
  const char *long_name;
  gboolean    takes_value;     /* -u USER, --user=USER, --user USER */
  gboolean    optional_value;  /* --preserve-env[=LIST] (long form only) */
} SudoFlag;

/* The flags that make sense for running a context. */
static const SudoFlag supported_flags[] = {
  { 'E', "preserve-env",    FALSE, TRUE },
  { 'H', "set-home",        FALSE, FALSE },
  { 'i', "login",           FALSE, FALSE },
  { 'P', "preserve-groups", FALSE, FALSE },
  { 'n', "non-interactive", FALSE, FALSE },
  { 'k', "reset-timestamp", FALSE, FALSE },
  { 'u', "user",            TRUE,  FALSE },
  { 'g', "group",           TRUE,  FALSE },
  { 'r', "role",            TRUE,  FALSE },
  { 't', "type",            TRUE,  FALSE },
  { 'C', "close-from",      TRUE,  FALSE },
  { 'D', "chdir",           TRUE,  FALSE },
  { 'T', "command-timeout", TRUE,  FALSE },
};

/* Flags refused with a reason of their own. */
static const struct
{
  char        short_name;
  const char *long_name;
  const char *why;
} refused_flags[] = {
  { 'S', "stdin", "stdin carries the context's data; the password is typed on sudo's terminal (use the password option)" },
  { 'A', "askpass", "the password is typed on sudo's terminal (use the password option)" },
  { 'p', "prompt", "the prompt is Mitogen's own, unique to each connect, so that it can be recognised" },
  { 'b', "background", "the context must stay attached to its stream" },
  { 's', "shell", "the command is run directly (use login for a login shell)" },
};

static const SudoFlag *
find_flag (char        short_name,
           const char *long_name,
           gsize       long_len)
{
  for (gsize i = 0; i < G_N_ELEMENTS (supported_flags); i++)
    if (short_name != 0 ? supported_flags[i].short_name == short_name
                        : (strlen (supported_flags[i].long_name) == long_len &&
                           strncmp (supported_flags[i].long_name, long_name, long_len) == 0))
      return &supported_flags[i];
  return NULL;
}

static gboolean
unsupported_flag (const char  *given,
                  char         short_name,
                  const char  *long_name,
                  gsize        long_len,
                  GError     **error)
{
  for (gsize i = 0; i < G_N_ELEMENTS (refused_flags); i++)
    if (short_name != 0 ? refused_flags[i].short_name == short_name
                        : (strlen (refused_flags[i].long_name) == long_len &&
                           strncmp (refused_flags[i].long_name, long_name, long_len) == 0))
      {
        g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                     "sudo_args: flag '%s' cannot be used: %s", given, refused_flags[i].why);
        return FALSE;
      }
  g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
               "sudo_args: unsupported sudo flag '%s' (supported: -E -H -i -P -n -k, "
               "-u USER, -g GROUP, -r ROLE, -t TYPE, -C NUM, -D DIR, -T TIMEOUT, and their long forms)",
               given);
  return FALSE;
}

/* Records one accepted flag in @out (normalised to "-X" [VALUE] or
 * "--long=VALUE"), except -u, -r and -t, which go to @user, @role, @type. */
static void
accept_flag (const SudoFlag  *flag,
             const char      *value,
             GPtrArray       *out,
             char           **user,
             char           **role,
             char           **type)
{
  char **slot = NULL;

  switch (flag->short_name)
    {
    case 'u':
      slot = user;
      break;
    case 'r':
      slot = role;
      break;
    case 't':
      slot = type;
      break;
    default:
      break;
    }
  if (slot != NULL)
    {
      g_free (*slot);
      *slot = g_strdup (value);
      return;
    }
  if (flag->optional_value && value != NULL)
    g_ptr_array_add (out, g_strdup_printf ("--%s=%s", flag->long_name, value));
  else
    {
      g_ptr_array_add (out, g_strdup_printf ("-%c", flag->short_name));
      if (value != NULL)
        g_ptr_array_add (out, g_strdup (value));
    }
}

/* Checks @args (the sudo_args option) and splits it into flags for the
 * command line and the -u/-r/-t values. */
static gboolean
parse_sudo_args (char      **args,
                 GPtrArray  *out,
                 char      **user,
                 char      **role,
                 char      **type,
                 GError    **error)
{
  for (gsize i = 0; args != NULL && args[i] != NULL; i++)
    {
      const char *arg = args[i];

      if (arg[0] != '-' || arg[1] == '\0' || strcmp (arg, "--") == 0)
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                       "sudo_args: unexpected argument '%s': only sudo's flags may be given "
                       "(the command is the context's)", arg);
          return FALSE;
        }

      if (arg[1] == '-')
        {
          const char *name = arg + 2;
          const char *eq = strchr (name, '=');
          gsize len = eq != NULL ? (gsize) (eq - name) : strlen (name);
          const SudoFlag *flag = find_flag (0, name, len);
          const char *value = eq != NULL ? eq + 1 : NULL;

          if (flag == NULL)
            return unsupported_flag (arg, 0, name, len, error);
          if (flag->takes_value && value == NULL)
            {
              if (args[i + 1] == NULL)
                {
                  g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                               "sudo_args: flag '%s' needs a value", arg);
                  return FALSE;
                }
              value = args[++i];
            }
          else if (!flag->takes_value && !flag->optional_value && value != NULL)
            {
              g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                           "sudo_args: flag '--%s' takes no value", flag->long_name);
              return FALSE;
            }
          accept_flag (flag, value, out, user, role, type);
          continue;
        }

      /* Short flags, possibly bundled (-HE); a value flag takes the rest
       * of the word or the next one (-uroot, -u root). */
      for (const char *p = arg + 1; *p != '\0'; p++)
        {
          const SudoFlag *flag = find_flag (*p, NULL, 0);
          char given[3] = { '-', *p, '\0' };
          const char *value = NULL;

          if (flag == NULL)
            return unsupported_flag (given, *p, NULL, 0, error);
          if (flag->takes_value)
            {
              if (p[1] != '\0')
                value = p + 1;
              else if (args[i + 1] != NULL)
                value = args[++i];
              else
                {
                  g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                               "sudo_args: flag '%s' needs a value", given);
                  return FALSE;
                }
              accept_flag (flag, value, out, user, role, type);
              break;
            }
          accept_flag (flag, NULL, out, user, role, type);
        }
    }
  return TRUE;
}

/* Merges an option with the same setting from sudo_args. */
static gboolean
merge_setting (const char  *what,
               const char  *option,
               char       **from_args,
               GError     **error)
{
  if (*from_args == NULL)
    {
      *from_args = g_strdup (option);
      return TRUE;
    }
  if (option != NULL && strcmp (option, *from_args) != 0)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "the %s option ('%s') and sudo_args ('%s') disagree", what, option, *from_args);
      return FALSE;
    }
  return TRUE;
}

/* The whole command line for @argv, or NULL with
 * MITOGEN_ERROR_INVALID_ARGUMENT. */
static GPtrArray *
build_argv (MitogenSudoTransport  *self,
            const char            *prompt,
            const char * const    *argv,
            GError               **error)
{
  g_autoptr(GPtrArray) full = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) flags = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *user = NULL;
  g_autofree char *role = NULL;
  g_autofree char *type = NULL;

  if (!parse_sudo_args (self->sudo_args, flags, &user, &role, &type, error))
    return NULL;
  if (self->username_set && !merge_setting ("username", self->username, &user, error))
    return NULL;
  if (!merge_setting ("selinux_role", self->selinux_role, &role, error) ||
      !merge_setting ("selinux_type", self->selinux_type, &type, error))
    return NULL;
  if (user == NULL)
    user = g_strdup ("root");
  if (user[0] == '\0' || user[0] == '-')
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "invalid username '%s'", user);
      return NULL;
    }
  if (argv == NULL || argv[0] == NULL)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT, "no command to run");
      return NULL;
    }

  g_ptr_array_add (full, g_strdup (self->sudo_path != NULL ? self->sudo_path : "sudo"));
  g_ptr_array_add (full, g_strdup ("-p"));
  g_ptr_array_add (full, g_strdup (prompt));
  if (self->preserve_env)
    g_ptr_array_add (full, g_strdup ("-E"));
  if (self->set_home)
    g_ptr_array_add (full, g_strdup ("-H"));
  if (self->login)
    g_ptr_array_add (full, g_strdup ("-i"));
  for (guint i = 0; i < flags->len; i++)
    g_ptr_array_add (full, g_strdup (g_ptr_array_index (flags, i)));
  if (role != NULL)
    {
      g_ptr_array_add (full, g_strdup ("-r"));
      g_ptr_array_add (full, g_strdup (role));
    }
  if (type != NULL)
    {
      g_ptr_array_add (full, g_strdup ("-t"));
      g_ptr_array_add (full, g_strdup (type));
    }
  g_ptr_array_add (full, g_strdup ("-u"));
  g_ptr_array_add (full, g_steal_pointer (&user));
  g_ptr_array_add (full, g_strdup ("--"));
  for (gsize i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (full, g_strdup (argv[i]));
  g_ptr_array_add (full, NULL);
  return g_steal_pointer (&full);
}

/* --- a running spawn ------------------------------------------------------ */

typedef struct
{
  GMainContext *context;         /* (owned) thread-default of spawn_async: all sources run here */
  char         *prompt;          /* (owned) unique to this connect */
  char         *password;        /* (owned) (nullable) wiped when freed */
  int           stdin_fd;        /* our end of the child's stdin (write) */
  int           stdout_fd;       /* our end of the child's stdout (read) */
  int           pty_fd;          /* PTY master; the child's stderr and controlling terminal */
  GPid          pid;             /* sudo, or 0 */
  GSource      *pty_source;      /* (owned) (nullable) */
  GSource      *stdout_source;   /* (owned) (nullable) */
  GSource      *timeout_source;  /* (owned) (nullable) */
  GSource      *cancel_source;   /* (owned) (nullable) */
  GString      *output;          /* (owned) what sudo printed on the terminal (the last OUTPUT_KEEP bytes) */
  GString      *head;            /* (owned) ... and its first OUTPUT_HEAD bytes */
  gsize         total;           /* bytes sudo printed */
  gsize         scan_from;       /* where in @output to look for the prompt next */
  guint         prompts;         /* prompts seen */
  gboolean      typed;           /* the password was typed */
  gboolean      asking;          /* the application's interaction is asked for the password */
  gboolean      asked;           /* ... and answered it: the password is the interaction's */
  gint64        deadline;        /* monotonic: when the command must have started */
  double        timeout;         /* seconds from start (or an answer) to @deadline: a little under connect_timeout */
  gsize         typed_at;        /* where in @output sudo's answer to it starts */
  gboolean      done;            /* the task has been completed */
} SudoSpawn;

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static void
sudo_spawn_free (gpointer data)
{
  SudoSpawn *s = data;

  clear_source (&s->pty_source);
  clear_source (&s->stdout_source);
  clear_source (&s->timeout_source);
  clear_source (&s->cancel_source);
  if (s->stdin_fd >= 0)
    close (s->stdin_fd);
  if (s->stdout_fd >= 0)
    close (s->stdout_fd);
  if (s->pty_fd >= 0)
    close (s->pty_fd);
  if (s->pid != 0)
    {
      /* Not handed over: make sure it goes, and reap it. Closing the PTY
       * hangs up sudo's terminal (SIGHUP), which reaches sudo even when
       * the kill is not permitted. */
      kill (s->pid, SIGKILL);
      mitogen_transport_reap_later (s->pid, s->context);
    }
  mitogen_transport_wipe_secret (s->password);
  g_free (s->prompt);
  g_string_free (s->output, TRUE);
  g_string_free (s->head, TRUE);
  g_main_context_unref (s->context);
  g_free (s);
}

/* @data made fit for a message: our prompt named, control characters
 * dropped, the password (should anything have echoed it) masked. */
static GString *
sanitize (SudoSpawn  *s,
          const char *data,
          gsize       len)
{
  GString *text = g_string_new (NULL);
  gsize plen = strlen (s->prompt);
  const char *p = data;
  const char *end = data + len;

  while (p < end)
    {
      if ((gsize) (end - p) >= plen && memcmp (p, s->prompt, plen) == 0)
        {
          g_string_append (text, "[password prompt] ");
          p += plen;
          continue;
        }
      if (*p == '\n' || *p == '\t')
        g_string_append_c (text, ' ');
      else if ((guchar) *p >= 0x20 && *p != 0x7f)
        g_string_append_c (text, *p);
      p++;
    }
  if (s->password != NULL && s->password[0] != '\0')
    {
      /* It never echoes (ECHO is off on the PTY). */
      char *hit;
      while ((hit = strstr (text->str, s->password)) != NULL)
        memset (hit, '*', strlen (s->password));
    }
  return text;
}

/* Up to @max bytes of @text from its start (or end), as valid UTF-8. */
static char *
cut (const GString *text,
     gsize          max,
     gboolean       from_end)
{
  gsize n = MIN (text->len, max);

  return g_utf8_make_valid (text->str + (from_end ? text->len - n : 0), (gssize) n);
}

/* What sudo printed, for an error message: its start and its end (sudo
 * quotes its command, which is long, in some messages). */
static char *
printed_text (SudoSpawn *s)
{
  g_autoptr(GString) all = sanitize (s, s->output->str, s->output->len);
  g_autofree char *head = NULL;
  g_autofree char *tail = NULL;

  if (s->total <= OUTPUT_KEEP && all->len <= 900)
    {
      g_strstrip (all->str);
      return g_utf8_make_valid (all->str, -1);
    }
  if (s->total > OUTPUT_KEEP)
    {
      g_autoptr(GString) first = sanitize (s, s->head->str, s->head->len);
      head = cut (first, 450, FALSE);
    }
  else
    head = cut (all, 450, FALSE);
  tail = cut (all, 400, TRUE);
  return g_strstrip (g_strdup_printf ("%s [...] %s", head, tail));
}

/* Ends the attempt (once) with @error; takes it. */
static void
spawn_fail (GTask  *task,
            GError *error)
{
  SudoSpawn *s = g_task_get_task_data (task);

  if (s->done)
    {
      g_error_free (error);
      return;
    }
  s->done = TRUE;
  clear_source (&s->pty_source);
  clear_source (&s->stdout_source);
  clear_source (&s->timeout_source);
  clear_source (&s->cancel_source);
  g_debug ("sudo: %s", error->message);
  /* The descriptors and sudo itself go with the task data. */
  g_task_return_error (task, error);
}

static void
fail_password (GTask      *task,
               const char *message)
{
  spawn_fail (task, g_error_new_literal (MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD, message));
}

/* stdout is readable: stage 1 runs (or sudo's command wrote something, or
 * closed it). Hand everything over. */
static void
spawn_succeed (GTask *task)
{
  SudoSpawn *s = g_task_get_task_data (task);

  s->done = TRUE;
  clear_source (&s->pty_source);
  clear_source (&s->stdout_source);
  clear_source (&s->timeout_source);
  clear_source (&s->cancel_source);
  /* The descriptors and the process are the core's now. */
  mitogen_transport_return_spawned (task, s->stdout_fd, s->stdin_fd, s->pty_fd, s->pid);
  s->stdout_fd = s->stdin_fd = s->pty_fd = -1;
  s->pid = 0;
}

/* Types the password at sudo's prompt. FALSE: the attempt failed. */
static gboolean
type_password (GTask *task)
{
  SudoSpawn *s = g_task_get_task_data (task);
  g_autofree char *line = g_strconcat (s->password, "\n", NULL);
  gsize len = strlen (line), off = 0;

  g_debug ("sudo: prompt seen, typing the password");
  while (off < len)
    {
      gssize n = write (s->pty_fd, line + off, len - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = errno;
          memset (line, 0, len);
          spawn_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                         "typing the password: %s", g_strerror (saved)));
          return FALSE;
        }
      off += (gsize) n;
    }
  memset (line, 0, len);
  s->typed = TRUE;
  s->typed_at = s->scan_from;
  return TRUE;
}

static void scan_output (GTask *task);
static gboolean on_timeout_cb (gpointer user_data);

static void
arm_timeout (SudoSpawn *s,
             GTask     *task)
{
  clear_source (&s->timeout_source);
  s->timeout_source = g_timeout_source_new (0);
  g_source_set_ready_time (s->timeout_source, s->deadline);
  g_source_set_callback (s->timeout_source, on_timeout_cb, g_object_ref (task), g_object_unref);
  g_source_set_static_name (s->timeout_source, "[mitogen] sudo timeout");
  g_source_attach (s->timeout_source, s->context);
}

/* Broker thread: the interaction answered (or not). */
static void
password_answered_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  SudoSpawn *s = g_task_get_task_data (task);
  MitogenTransport *transport = MITOGEN_TRANSPORT (source);
  MitogenSecretRequest *request = g_object_get_data (G_OBJECT (task), "mitogen-sudo-request");
  g_autoptr(GError) error = NULL;
  MitogenInteractionResult r = mitogen_transport_ask_finish (transport, result, &error);
  const char *who = g_object_get_data (G_OBJECT (task), "mitogen-sudo-target");

  s->asking = FALSE;
  if (s->done)
    return;
  if (r == MITOGEN_INTERACTION_FAILED && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      spawn_fail (task, g_steal_pointer (&error));
      return;
    }
  if (r == MITOGEN_INTERACTION_FAILED)
    {
      spawn_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD,
                                     "sudo password is required (%s): the interaction gave none: %s",
                                     who, error->message));
      return;
    }
  if (r != MITOGEN_INTERACTION_HANDLED || mitogen_secret_request_get_answer (request) == NULL)
    {
      spawn_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD,
                                     "sudo password is required (%s): no password option, and the "
                                     "interaction did not answer", who));
      return;
    }
  s->password = g_strdup (mitogen_secret_request_get_answer (request));
  s->asked = TRUE;
  /* The command's time starts again from the answer. */
  s->deadline = g_get_monotonic_time () + (gint64) (s->timeout * G_USEC_PER_SEC);
  arm_timeout (s, task);
  if (!type_password (task))
    return;
  /* What sudo printed meanwhile. */
  scan_output (task);
}

/* Asks the application's interaction for the password: sudo waits at
 * its prompt meanwhile, and so does our deadline. */
static void
ask_password (GTask *task)
{
  SudoSpawn *s = g_task_get_task_data (task);
  MitogenSudoTransport *self = g_task_get_source_object (task);
  const char *me = g_get_user_name ();
  g_autofree char *target = g_strdup_printf ("sudo -u %s", self->username != NULL ? self->username : "root");
  g_autofree char *prompt = g_strdup_printf ("[sudo] password for %s: ", me);
  g_autoptr(MitogenSecretRequest) request = mitogen_secret_request_new ("sudo", MITOGEN_SECRET_KIND_PASSWORD,
                                                                        target, me, prompt);

  g_debug ("sudo: prompt seen, no password option: asking the interaction");
  s->asking = TRUE;
  clear_source (&s->timeout_source);
  g_object_set_data_full (G_OBJECT (task), "mitogen-sudo-request", g_object_ref (request), g_object_unref);
  g_object_set_data_full (G_OBJECT (task), "mitogen-sudo-target", g_steal_pointer (&target), g_free);
  mitogen_transport_ask_async (MITOGEN_TRANSPORT (self), request, g_task_get_cancellable (task),
                               password_answered_cb, g_object_ref (task));
}

/* Looks for our prompt in what sudo printed since the last look, and
 * answers it. */
static void
scan_output (GTask *task)
{
  SudoSpawn *s = g_task_get_task_data (task);
  gsize plen = strlen (s->prompt);

  while (!s->done && !s->asking && s->output->len >= s->scan_from + plen)
    {
      const char *hit = memmem (s->output->str + s->scan_from, s->output->len - s->scan_from,
                                s->prompt, plen);

      if (hit == NULL)
        {
          /* Keep the last plen-1 bytes: a prompt may arrive split. */
          s->scan_from = s->output->len - plen + 1;
          break;
        }
      s->scan_from = (gsize) (hit - s->output->str) + plen;
      s->prompts++;

      if (s->prompts > 1)
        {
          fail_password (task, s->asked ? "sudo password is incorrect (the interaction's answer)"
                                        : "sudo password is incorrect");
          return;
        }
      if (s->password == NULL)
        {
          /* The option did not say: the application may. */
          ask_password (task);
          return;
        }
      if (!type_password (task))
        return;
    }

  /* sudo says so before it asks again: fail at once. */
  if (!s->done && s->typed &&
      memmem (s->output->str + s->typed_at, s->output->len - s->typed_at,
              "Sorry, try again", strlen ("Sorry, try again")) != NULL)
    fail_password (task, s->asked ? "sudo password is incorrect (the interaction's answer)"
                                  : "sudo password is incorrect");
}

/* Reads what is there on the PTY. FALSE: it is closed (EIO once every
 * holder of the terminal side has gone). */
static gboolean
read_pty (SudoSpawn *s)
{
  char buf[1024];

  for (;;)
    {
      gssize n = read (s->pty_fd, buf, sizeof buf);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return TRUE;
      if (n <= 0)
        return FALSE;
      if (s->head->len < OUTPUT_HEAD)
        g_string_append_len (s->head, buf, MIN ((gsize) n, OUTPUT_HEAD - s->head->len));
      s->total += (gsize) n;
      g_string_append_len (s->output, buf, n);
      if (s->output->len > OUTPUT_KEEP)
        {
          gsize cut = s->output->len - OUTPUT_KEEP;

          g_string_erase (s->output, 0, (gssize) cut);
          s->scan_from = s->scan_from > cut ? s->scan_from - cut : 0;
          s->typed_at = s->typed_at > cut ? s->typed_at - cut : 0;
        }
    }
}

/* sudo went away (or closed stdout) without writing anything on stdout. */
static void
fail_exited (GTask *task)
{
  SudoSpawn *s = g_task_get_task_data (task);
  g_autofree char *text = NULL;

  if (s->pty_fd >= 0)
    read_pty (s);
  scan_output (task);
  if (s->done)
    return;
  text = printed_text (s);
  /* "a terminal is required to read the password" (no controlling
   * terminal after all) is followed by "a password is required": that
   * one is not about the password. */
  if (strstr (text, "password is required") != NULL && strstr (text, "terminal is required") == NULL)
    fail_password (task, "sudo password is required");
  else if (s->typed && (strstr (text, "incorrect password") != NULL || strstr (text, "Sorry, try again") != NULL))
    fail_password (task, "sudo password is incorrect");
  else
    spawn_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                   "sudo exited before running the command%s%s",
                                   text[0] != '\0' ? ": " : "", text));
}

static gboolean
on_pty_cb (int          fd,
           GIOCondition condition,
           gpointer     user_data)
{
  GTask *task = user_data;
  g_autoptr(GTask) hold = g_object_ref (task);
  SudoSpawn *s = g_task_get_task_data (task);
  gboolean open = read_pty (s);

  scan_output (task);
  if (s->done)
    return G_SOURCE_REMOVE;
  if (!open)
    {
      /* Nobody holds the terminal any more: sudo and its command are
       * gone, or leaving. stdout's end of file tells which. */
      g_clear_pointer (&s->pty_source, g_source_unref);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_stdout_cb (int          fd,
              GIOCondition condition,
              gpointer     user_data)
{
  GTask *task = user_data;
  g_autoptr(GTask) hold = g_object_ref (task);
  SudoSpawn *s = g_task_get_task_data (task);

  /* A prompt that came in the same wake-up is answered or judged first. */
  if (s->pty_source != NULL && read_pty (s))
    scan_output (task);
  if (s->done)
    return G_SOURCE_REMOVE;

  if (condition & G_IO_IN)
    spawn_succeed (task);
  else
    fail_exited (task);
  return G_SOURCE_REMOVE;
}

static gboolean
on_timeout_cb (gpointer user_data)
{
  GTask *task = user_data;
  g_autoptr(GTask) hold = g_object_ref (task);
  SudoSpawn *s = g_task_get_task_data (task);
  g_autofree char *text = NULL;

  if (s->pty_fd >= 0)
    read_pty (s);
  text = printed_text (s);
  spawn_fail (task, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT,
                                 "the command did not start within connect_timeout%s%s%s",
                                 s->typed ? " (the password was typed)" : "",
                                 text[0] != '\0' ? "; sudo printed: " : "", text));
  return G_SOURCE_REMOVE;
}

static gboolean
on_cancelled_cb (GCancellable *cancellable,
                 gpointer      user_data)
{
  GTask *task = user_data;
  GError *error = NULL;

  g_cancellable_set_error_if_cancelled (cancellable, &error);
  spawn_fail (task, error);
  return G_SOURCE_REMOVE;
}

static GSource *
attach_fd_source (SudoSpawn   *s,
                  int          fd,
                  GUnixFDSourceFunc func,
                  const char  *name,
                  GTask       *task)
{
  GSource *source = g_unix_fd_source_new (fd, G_IO_IN | G_IO_HUP | G_IO_ERR);

  g_source_set_callback (source, G_SOURCE_FUNC (func), g_object_ref (task), g_object_unref);
  g_source_set_static_name (source, name);
  g_source_attach (source, s->context);
  return source;
}

/* Broker thread, the broker's main context thread-default. */
static void
mitogen_sudo_transport_spawn_async (MitogenTransport    *transport,
                                    const char * const  *argv,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  MitogenSudoTransport *self = MITOGEN_SUDO_TRANSPORT (transport);
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) full = NULL;
  g_autofree char *nonce = NULL;
  SudoSpawn *s;
  double timeout;
  gint64 deadline;

  /* Our limit ends before the core's connect_timeout (which started
   * just before this call), so that our error, which can quote what the
   * target printed, is the one reported: a twentieth of it earlier, at
   * least 0.2 s (but no more than half of it). */
  timeout = mitogen_transport_get_connect_timeout (transport);
  timeout -= MIN (MAX (timeout * 0.05, 0.2), timeout * 0.5);
  deadline = g_get_monotonic_time () + (gint64) (timeout * G_USEC_PER_SEC);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_sudo_transport_spawn_async);

  s = g_new0 (SudoSpawn, 1);
  s->context = g_main_context_ref_thread_default ();
  s->stdin_fd = s->stdout_fd = s->pty_fd = -1;
  s->output = g_string_new (NULL);
  s->head = g_string_new (NULL);
  nonce = g_strdup_printf ("%08x%08x", g_random_int (), g_random_int ());
  s->prompt = g_strdup_printf ("mitogen-sudo-password-%s:", nonce);
  s->password = g_strdup (self->password);
  s->deadline = deadline;
  s->timeout = timeout;
  g_task_set_task_data (task, s, sudo_spawn_free);

  full = build_argv (self, s->prompt, argv, &error);
  if (full == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* Data on two pipes (sudo relays them with use_pty and log_output,
   * which a shared socketpair does not survive); stderr a new PTY that is
   * sudo's controlling terminal in a session of its own, where it asks
   * for the password. No PR_SET_PDEATHSIG: the setuid exec drops it, and
   * sudo ends with its stream. */
  if (!mitogen_transport_spawn_command (transport, (const char * const *) full->pdata, NULL,
                                        MITOGEN_SPAWN_PIPES | MITOGEN_SPAWN_STDERR_PTY |
                                        MITOGEN_SPAWN_KEEP_WITH_PARENT,
                                        &s->stdout_fd, &s->stdin_fd, &s->pty_fd, &s->pid, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_debug ("sudo: started %s (pid %d)", (const char *) g_ptr_array_index (full, 0), (int) s->pid);

  arm_timeout (s, task);

  if (cancellable != NULL)
    {
      s->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (s->cancel_source, G_SOURCE_FUNC (on_cancelled_cb), g_object_ref (task),
                             g_object_unref);
      g_source_set_static_name (s->cancel_source, "[mitogen] sudo cancelled");
      g_source_attach (s->cancel_source, s->context);
    }

  /* The terminal first: a prompt is answered before stdout is looked at. */
  s->pty_source = attach_fd_source (s, s->pty_fd, on_pty_cb, "[mitogen] sudo terminal", task);
  g_source_set_priority (s->pty_source, G_PRIORITY_DEFAULT - 1);
  s->stdout_source = attach_fd_source (s, s->stdout_fd, on_stdout_cb, "[mitogen] sudo stdout", task);
}

/* --- properties ----------------------------------------------------------- */

static void
mitogen_sudo_transport_get_property (GObject    *object,
                                     guint       prop_id,
                                     GValue     *value,
                                     GParamSpec *pspec)
{
  MitogenSudoTransport *self = MITOGEN_SUDO_TRANSPORT (object);

  switch ((MitogenSudoTransportProperty) prop_id)
    {
    case PROP_USERNAME:
      g_value_set_string (value, self->username != NULL ? self->username : "root");
      break;
    case PROP_SUDO_PATH:
      g_value_set_string (value, self->sudo_path != NULL ? self->sudo_path : "sudo");
      break;
    case PROP_PRESERVE_ENV:
      g_value_set_boolean (value, self->preserve_env);
      break;
    case PROP_SET_HOME:
      g_value_set_boolean (value, self->set_home);
      break;
    case PROP_LOGIN:
      g_value_set_boolean (value, self->login);
      break;
    case PROP_SELINUX_ROLE:
      g_value_set_string (value, self->selinux_role);
      break;
    case PROP_SELINUX_TYPE:
      g_value_set_string (value, self->selinux_type);
      break;
    case PROP_SUDO_ARGS:
      g_value_set_boxed (value, self->sudo_args);
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
mitogen_sudo_transport_set_property (GObject      *object,
                                     guint         prop_id,
                                     const GValue *value,
                                     GParamSpec   *pspec)
{
  MitogenSudoTransport *self = MITOGEN_SUDO_TRANSPORT (object);

  switch ((MitogenSudoTransportProperty) prop_id)
    {
    case PROP_USERNAME:
      set_string (&self->username, value);
      self->username_set = self->username != NULL;
      break;
    case PROP_SUDO_PATH:
      set_string (&self->sudo_path, value);
      break;
    case PROP_PASSWORD:
      mitogen_transport_wipe_secret (self->password);
      self->password = g_value_dup_string (value);
      break;
    case PROP_PRESERVE_ENV:
      self->preserve_env = g_value_get_boolean (value);
      break;
    case PROP_SET_HOME:
      self->set_home = g_value_get_boolean (value);
      break;
    case PROP_LOGIN:
      self->login = g_value_get_boolean (value);
      break;
    case PROP_SELINUX_ROLE:
      set_string (&self->selinux_role, value);
      break;
    case PROP_SELINUX_TYPE:
      set_string (&self->selinux_type, value);
      break;
    case PROP_SUDO_ARGS:
      g_strfreev (self->sudo_args);
      self->sudo_args = g_value_dup_boxed (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_sudo_transport_finalize (GObject *object)
{
  MitogenSudoTransport *self = MITOGEN_SUDO_TRANSPORT (object);

  g_clear_pointer (&self->username, g_free);
  g_clear_pointer (&self->sudo_path, g_free);
  mitogen_transport_wipe_secret (g_steal_pointer (&self->password));
  g_clear_pointer (&self->selinux_role, g_free);
  g_clear_pointer (&self->selinux_type, g_free);
  g_clear_pointer (&self->sudo_args, g_strfreev);
  G_OBJECT_CLASS (mitogen_sudo_transport_parent_class)->finalize (object);
}

static void
mitogen_sudo_transport_class_init (MitogenSudoTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MitogenTransportClass *transport_class = MITOGEN_TRANSPORT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->get_property = mitogen_sudo_transport_get_property;
  object_class->set_property = mitogen_sudo_transport_set_property;
  object_class->finalize = mitogen_sudo_transport_finalize;
  transport_class->spawn_async = mitogen_sudo_transport_spawn_async;
  /* `METHOD:VALUE` on a command line sets this option. */
  transport_class->short_option = "username";
  /* The target user may not be able to run our agent from where it is:
   * ship it (DESIGN §6). bootstrap=false runs the local agent by path. */
  transport_class->needs_bootstrap = TRUE;
  /* The same machine: stage 1 runs our own agent by path when the target
   * user may (root always may), and ships it only otherwise. */
  transport_class->shares_files = TRUE;

  props[PROP_USERNAME] =
    g_param_spec_string ("username", NULL,
                         "User to become (sudo -u): a name or #UID",
                         "root", rw);
  props[PROP_SUDO_PATH] =
    g_param_spec_string ("sudo-path", NULL,
                         "The sudo program to run (a path, or a name looked up in PATH)",
                         "sudo", rw);
  props[PROP_PASSWORD] =
    g_param_spec_string ("password", NULL,
                         "Password typed when sudo asks for one (never logged); without it, a "
                         "prompt fails the connect at once",
                         NULL, G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  props[PROP_PRESERVE_ENV] =
    g_param_spec_boolean ("preserve-env", NULL,
                          "Keep our environment, as far as the sudoers policy allows (sudo -E)",
                          FALSE, rw);
  props[PROP_SET_HOME] =
    g_param_spec_boolean ("set-home", NULL,
                          "Set HOME to the target user's home directory (sudo -H)",
                          FALSE, rw);
  props[PROP_LOGIN] =
    g_param_spec_boolean ("login", NULL,
                          "Run the context through the target user's login shell (sudo -i)",
                          FALSE, rw);
  props[PROP_SELINUX_ROLE] =
    g_param_spec_string ("selinux-role", NULL,
                         "SELinux role for the context (sudo -r)",
                         NULL, rw);
  props[PROP_SELINUX_TYPE] =
    g_param_spec_string ("selinux-type", NULL,
                         "SELinux type for the context (sudo -t)",
                         NULL, rw);
  props[PROP_SUDO_ARGS] =
    g_param_spec_boxed ("sudo-args", NULL,
                        "Extra sudo flags, checked: -E -H -i -P -n -k -u -g -r -t -C -D -T "
                        "(and long forms); -S, -A, -p, -b, -s and others are refused",
                        G_TYPE_STRV, rw);
  g_object_class_install_properties (object_class, G_N_ELEMENTS (props), props);
}

static void
mitogen_sudo_transport_class_finalize (MitogenSudoTransportClass *klass)
{
}

static void
mitogen_sudo_transport_init (MitogenSudoTransport *self)
{
  /* The base class cannot see needs_bootstrap from its own instance init
   * (GObject runs it with the base class as the instance's class), so
   * the default is set here; a bootstrap option given later wins. */
  g_object_set (self, "bootstrap", TRUE, NULL);
}

void
mitogen_sudo_transport_register (GTypeModule *module)
{
  mitogen_sudo_transport_register_type (module);
}
