/* mitogen-interaction.c — MitogenInteraction: how a connect asks a person
 *
 * The shape of GTlsInteraction: virtual functions, synchronous and
 * asynchronous, that an application overrides to answer a password, a
 * host key or a set of prompts; each returns HANDLED, UNHANDLED or
 * FAILED.
 *
 * Transports ask from the broker thread (mitogen_interaction_invoke_async
 * through mitogen_transport_ask_async). The request is marshalled to the
 * main context of whoever started the connect (a sync connect iterates its
 * own context, which is the one used then), the interaction's answer back
 * to the broker thread's context; the broker side alone decides the
 * outcome (answer, timeout, cancellation), so a late answer is dropped.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-interaction"

#include "config.h"

#include "mitogen-interaction-private.h"

typedef struct
{
  double timeout;   /* seconds; 0: none */
} MitogenInteractionPrivate;

enum
{
  PROP_TIMEOUT = 1,
};

#define DEFAULT_TIMEOUT 120.0

/**
 * MitogenInteraction:
 *
 * Asks a person (or a policy) what a connect needs and its options do not
 * say: a password at sudo's prompt or for ssh, a key's passphrase, whether
 * to trust an unknown or changed ssh host key, the answers to an ssh
 * server's keyboard-interactive prompts.
 *
 * Set one on a router with [method@Mitogen.Router.set_interaction]; every
 * connect the router starts asks it when the `password` option, a password
 * file or the `check_host_keys` policy do not answer. Subclass it and
 * override the virtual functions (`ask_password`, `ask_host_key`,
 * `ask_questions`, synchronous or `_async` with `_finish`) as with
 * #GTlsInteraction. The base class answers nothing
 * (%MITOGEN_INTERACTION_UNHANDLED).
 *
 * The virtual functions run in the thread-default main context of the
 * thread that started the connect (for [method@Mitogen.Router.connect], in
 * that thread while it waits), never on the broker thread. A request not
 * answered within [property@Mitogen.Interaction:timeout] fails, and so
 * does one whose connect is cancelled: the #GCancellable the virtual
 * function was given is then cancelled.
 */
G_DEFINE_TYPE_WITH_PRIVATE (MitogenInteraction, mitogen_interaction, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (MitogenInteractionResult, mitogen_interaction_result,
                    G_DEFINE_ENUM_VALUE (MITOGEN_INTERACTION_UNHANDLED, "unhandled"),
                    G_DEFINE_ENUM_VALUE (MITOGEN_INTERACTION_HANDLED, "handled"),
                    G_DEFINE_ENUM_VALUE (MITOGEN_INTERACTION_FAILED, "failed"))

static GParamSpec *props[PROP_TIMEOUT + 1];

/* --- defaults ------------------------------------------------------------- */

static MitogenInteractionResult
unhandled_password (MitogenInteraction *self, MitogenSecretRequest *request,
                    GCancellable *cancellable, GError **error)
{
  return MITOGEN_INTERACTION_UNHANDLED;
}

static MitogenInteractionResult
unhandled_host_key (MitogenInteraction *self, MitogenHostKeyRequest *request,
                    GCancellable *cancellable, GError **error)
{
  return MITOGEN_INTERACTION_UNHANDLED;
}

static MitogenInteractionResult
unhandled_questions (MitogenInteraction *self, MitogenQuestionsRequest *request,
                     GCancellable *cancellable, GError **error)
{
  return MITOGEN_INTERACTION_UNHANDLED;
}

/* A GTask's int result: the MitogenInteractionResult; FAILED carries the
 * error. */
static void
return_result (GTask                    *task,
               MitogenInteractionResult  result,
               GError                   *error)
{
  if (result == MITOGEN_INTERACTION_FAILED)
    {
      if (error == NULL)
        error = g_error_new_literal (MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD, "the interaction failed");
      g_task_return_error (task, error);
    }
  else
    {
      g_clear_error (&error);
      g_task_return_int (task, result);
    }
}

static MitogenInteractionResult
propagate_result (GAsyncResult  *result,
                  GError       **error)
{
  GError *local = NULL;
  gssize value = g_task_propagate_int (G_TASK (result), &local);

  if (local != NULL)
    {
      g_propagate_error (error, local);
      return MITOGEN_INTERACTION_FAILED;
    }
  return (MitogenInteractionResult) value;
}

/* The default async functions run the sync ones, here and now. */
static void
default_password_async (MitogenInteraction *self, MitogenSecretRequest *request, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;
  MitogenInteractionResult r = MITOGEN_INTERACTION_GET_CLASS (self)->ask_password (self, request, cancellable, &error);

  return_result (task, r, error);
}

static void
default_host_key_async (MitogenInteraction *self, MitogenHostKeyRequest *request, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;
  MitogenInteractionResult r = MITOGEN_INTERACTION_GET_CLASS (self)->ask_host_key (self, request, cancellable, &error);

  return_result (task, r, error);
}

static void
default_questions_async (MitogenInteraction *self, MitogenQuestionsRequest *request, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;
  MitogenInteractionResult r = MITOGEN_INTERACTION_GET_CLASS (self)->ask_questions (self, request, cancellable, &error);

  return_result (task, r, error);
}

static MitogenInteractionResult
default_finish (MitogenInteraction *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), MITOGEN_INTERACTION_FAILED);
  return propagate_result (result, error);
}

/* --- GObject -------------------------------------------------------------- */

static void
mitogen_interaction_get_property (GObject    *object,
                                  guint       prop_id,
                                  GValue     *value,
                                  GParamSpec *pspec)
{
  MitogenInteraction *self = MITOGEN_INTERACTION (object);

  switch (prop_id)
    {
    case PROP_TIMEOUT:
      g_value_set_double (value, mitogen_interaction_get_timeout (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_interaction_set_property (GObject      *object,
                                  guint         prop_id,
                                  const GValue *value,
                                  GParamSpec   *pspec)
{
  MitogenInteraction *self = MITOGEN_INTERACTION (object);

  switch (prop_id)
    {
    case PROP_TIMEOUT:
      mitogen_interaction_set_timeout (self, g_value_get_double (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_interaction_class_init (MitogenInteractionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = mitogen_interaction_get_property;
  object_class->set_property = mitogen_interaction_set_property;

  klass->ask_password = unhandled_password;
  klass->ask_password_async = default_password_async;
  klass->ask_password_finish = default_finish;
  klass->ask_host_key = unhandled_host_key;
  klass->ask_host_key_async = default_host_key_async;
  klass->ask_host_key_finish = default_finish;
  klass->ask_questions = unhandled_questions;
  klass->ask_questions_async = default_questions_async;
  klass->ask_questions_finish = default_finish;

  /**
   * MitogenInteraction:timeout:
   *
   * How long a request may wait for its answer, in seconds; 0 waits
   * without limit (the connect's cancellable still ends it). While a
   * request waits, the connect's `connect_timeout` does not run.
   */
  props[PROP_TIMEOUT] =
    g_param_spec_double ("timeout", NULL, NULL, 0.0, G_MAXDOUBLE, DEFAULT_TIMEOUT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, G_N_ELEMENTS (props), props);
}

static void
mitogen_interaction_init (MitogenInteraction *self)
{
  MitogenInteractionPrivate *priv = mitogen_interaction_get_instance_private (self);

  priv->timeout = DEFAULT_TIMEOUT;
}

/**
 * mitogen_interaction_new:
 *
 * An interaction that answers nothing: what a subclass starts from, and
 * what makes every request fail as if there were none.
 *
 * Returns: (transfer full): a new interaction
 */
MitogenInteraction *
mitogen_interaction_new (void)
{
  return g_object_new (MITOGEN_TYPE_INTERACTION, NULL);
}

/**
 * mitogen_interaction_get_timeout:
 * @self: an interaction
 *
 * Returns: the [property@Mitogen.Interaction:timeout], in seconds
 */
double
mitogen_interaction_get_timeout (MitogenInteraction *self)
{
  MitogenInteractionPrivate *priv;

  g_return_val_if_fail (MITOGEN_IS_INTERACTION (self), 0.0);
  priv = mitogen_interaction_get_instance_private (self);
  return priv->timeout;
}

/**
 * mitogen_interaction_set_timeout:
 * @self: an interaction
 * @timeout: seconds, or 0 for none
 *
 * Sets the [property@Mitogen.Interaction:timeout]; requests made from now
 * on use it.
 */
void
mitogen_interaction_set_timeout (MitogenInteraction *self,
                                 double              timeout)
{
  MitogenInteractionPrivate *priv;

  g_return_if_fail (MITOGEN_IS_INTERACTION (self));
  g_return_if_fail (timeout >= 0.0);
  priv = mitogen_interaction_get_instance_private (self);
  if (priv->timeout == timeout)
    return;
  priv->timeout = timeout;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_TIMEOUT]);
}

/* --- the public calls ----------------------------------------------------- */

/**
 * mitogen_interaction_ask_password:
 * @self: an interaction
 * @request: what is asked
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Runs the `ask_password` virtual function: asks for a secret, and may
 * block. The core calls the asynchronous form; this is for applications
 * that want the same prompt elsewhere, and for tests.
 *
 * Returns: %MITOGEN_INTERACTION_HANDLED (the answer is in @request),
 *   %MITOGEN_INTERACTION_UNHANDLED, or %MITOGEN_INTERACTION_FAILED with
 *   @error set
 */
MitogenInteractionResult
mitogen_interaction_ask_password (MitogenInteraction    *self,
                                  MitogenSecretRequest  *request,
                                  GCancellable          *cancellable,
                                  GError               **error)
{
  g_return_val_if_fail (MITOGEN_IS_INTERACTION (self), MITOGEN_INTERACTION_UNHANDLED);
  g_return_val_if_fail (MITOGEN_IS_SECRET_REQUEST (request), MITOGEN_INTERACTION_UNHANDLED);
  return MITOGEN_INTERACTION_GET_CLASS (self)->ask_password (self, request, cancellable, error);
}

/**
 * mitogen_interaction_ask_password_async:
 * @self: an interaction
 * @request: what is asked
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when answered, in the thread-default
 *   main context of the caller
 * @user_data: data for @callback
 *
 * Runs the `ask_password_async` virtual function.
 */
void
mitogen_interaction_ask_password_async (MitogenInteraction   *self,
                                        MitogenSecretRequest *request,
                                        GCancellable         *cancellable,
                                        GAsyncReadyCallback   callback,
                                        gpointer              user_data)
{
  g_return_if_fail (MITOGEN_IS_INTERACTION (self));
  g_return_if_fail (MITOGEN_IS_SECRET_REQUEST (request));
  MITOGEN_INTERACTION_GET_CLASS (self)->ask_password_async (self, request, cancellable, callback, user_data);
}

/**
 * mitogen_interaction_ask_password_finish:
 * @self: an interaction
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Completes [method@Mitogen.Interaction.ask_password_async].
 *
 * Returns: as [method@Mitogen.Interaction.ask_password]
 */
MitogenInteractionResult
mitogen_interaction_ask_password_finish (MitogenInteraction  *self,
                                         GAsyncResult        *result,
                                         GError             **error)
{
  g_return_val_if_fail (MITOGEN_IS_INTERACTION (self), MITOGEN_INTERACTION_UNHANDLED);
  return MITOGEN_INTERACTION_GET_CLASS (self)->ask_password_finish (self, result, error);
}

/**
 * mitogen_interaction_ask_host_key:
 * @self: an interaction
 * @request: the host key in question
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Runs the `ask_host_key` virtual function, which may block.
 *
 * Returns: %MITOGEN_INTERACTION_HANDLED (the answer is in @request),
 *   %MITOGEN_INTERACTION_UNHANDLED, or %MITOGEN_INTERACTION_FAILED with
 *   @error set
 */
MitogenInteractionResult
mitogen_interaction_ask_host_key (MitogenInteraction     *self,
                                  MitogenHostKeyRequest  *request,
                                  GCancellable           *cancellable,
                                  GError                **error)
{
  g_return_val_if_fail (MITOGEN_IS_INTERACTION (self), MITOGEN_INTERACTION_UNHANDLED);
  g_return_val_if_fail (MITOGEN_IS_HOST_KEY_REQUEST (request), MITOGEN_INTERACTION_UNHANDLED);
  return MITOGEN_INTERACTION_GET_CLASS (self)->ask_host_key (self, request, cancellable, error);
}

/**
 * mitogen_interaction_ask_host_key_async:
 * @self: an interaction
 * @request: the host key in question
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when answered, in the thread-default
 *   main context of the caller
 * @user_data: data for @callback
 *
 * Runs the `ask_host_key_async` virtual function.
 */
void
mitogen_interaction_ask_host_key_async (MitogenInteraction    *self,
                                        MitogenHostKeyRequest *request,
                                        GCancellable          *cancellable,
                                        GAsyncReadyCallback    callback,
                                        gpointer               user_data)
{
  g_return_if_fail (MITOGEN_IS_INTERACTION (self));
  g_return_if_fail (MITOGEN_IS_HOST_KEY_REQUEST (request));
  MITOGEN_INTERACTION_GET_CLASS (self)->ask_host_key_async (self, request, cancellable, callback, user_data);
}

/**
 * mitogen_interaction_ask_host_key_finish:
 * @self: an interaction
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Completes [method@Mitogen.Interaction.ask_host_key_async].
 *
 * Returns: as [method@Mitogen.Interaction.ask_host_key]
 */
MitogenInteractionResult
mitogen_interaction_ask_host_key_finish (MitogenInteraction  *self,
                                         GAsyncResult        *result,
                                         GError             **error)
{
  g_return_val_if_fail (MITOGEN_IS_INTERACTION (self), MITOGEN_INTERACTION_UNHANDLED);
  return MITOGEN_INTERACTION_GET_CLASS (self)->ask_host_key_finish (self, result, error);
}

/**
 * mitogen_interaction_ask_questions:
 * @self: an interaction
 * @request: the prompts
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Runs the `ask_questions` virtual function, which may block.
 *
 * Returns: %MITOGEN_INTERACTION_HANDLED (the answers are in @request),
 *   %MITOGEN_INTERACTION_UNHANDLED, or %MITOGEN_INTERACTION_FAILED with
 *   @error set
 */
MitogenInteractionResult
mitogen_interaction_ask_questions (MitogenInteraction       *self,
                                   MitogenQuestionsRequest  *request,
                                   GCancellable             *cancellable,
                                   GError                  **error)
{
  g_return_val_if_fail (MITOGEN_IS_INTERACTION (self), MITOGEN_INTERACTION_UNHANDLED);
  g_return_val_if_fail (MITOGEN_IS_QUESTIONS_REQUEST (request), MITOGEN_INTERACTION_UNHANDLED);
  return MITOGEN_INTERACTION_GET_CLASS (self)->ask_questions (self, request, cancellable, error);
}

/**
 * mitogen_interaction_ask_questions_async:
 * @self: an interaction
 * @request: the prompts
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when answered, in the thread-default
 *   main context of the caller
 * @user_data: data for @callback
 *
 * Runs the `ask_questions_async` virtual function.
 */
void
mitogen_interaction_ask_questions_async (MitogenInteraction      *self,
                                         MitogenQuestionsRequest *request,
                                         GCancellable            *cancellable,
                                         GAsyncReadyCallback      callback,
                                         gpointer                 user_data)
{
  g_return_if_fail (MITOGEN_IS_INTERACTION (self));
  g_return_if_fail (MITOGEN_IS_QUESTIONS_REQUEST (request));
  MITOGEN_INTERACTION_GET_CLASS (self)->ask_questions_async (self, request, cancellable, callback, user_data);
}

/**
 * mitogen_interaction_ask_questions_finish:
 * @self: an interaction
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Completes [method@Mitogen.Interaction.ask_questions_async].
 *
 * Returns: as [method@Mitogen.Interaction.ask_questions]
 */
MitogenInteractionResult
mitogen_interaction_ask_questions_finish (MitogenInteraction  *self,
                                          GAsyncResult        *result,
                                          GError             **error)
{
  g_return_val_if_fail (MITOGEN_IS_INTERACTION (self), MITOGEN_INTERACTION_UNHANDLED);
  return MITOGEN_INTERACTION_GET_CLASS (self)->ask_questions_finish (self, result, error);
}

/* --- asking from the broker thread --------------------------------------- */

typedef struct
{
  MitogenInteraction      *interaction;     /* (owned) */
  GObject                 *request;         /* (owned) */
  GMainContext            *ask_context;     /* (owned) */
  GMainContext            *home;            /* (owned) the invoker's: the outcome is decided here */
  GCancellable            *ask_cancellable; /* (owned) handed to the interaction */
  GSource                 *timeout_source;  /* (owned) (nullable) home */
  GSource                 *cancel_source;   /* (owned) (nullable) home */
  double                   timeout;
  gboolean                 done;            /* home: the task was completed */
  /* The interaction's reply, made on the asking thread, read at home. */
  MitogenInteractionResult reply;
  GError                  *reply_error;     /* (owned) (nullable) */
} InvokeOp;

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
invoke_op_free (gpointer data)
{
  InvokeOp *op = data;

  clear_source (&op->timeout_source);
  clear_source (&op->cancel_source);
  g_clear_error (&op->reply_error);
  g_object_unref (op->ask_cancellable);
  g_main_context_unref (op->home);
  g_main_context_unref (op->ask_context);
  g_object_unref (op->request);
  g_object_unref (op->interaction);
  g_free (op);
}

/* Home: decides the outcome, once. Takes @error. */
static void
invoke_complete (GTask                    *task,
                 MitogenInteractionResult  result,
                 GError                   *error)
{
  InvokeOp *op = g_task_get_task_data (task);

  if (op->done)
    {
      g_clear_error (&error);
      return;
    }
  op->done = TRUE;
  clear_source (&op->timeout_source);
  clear_source (&op->cancel_source);
  /* An interaction still asking gives up. */
  if (result == MITOGEN_INTERACTION_FAILED)
    g_cancellable_cancel (op->ask_cancellable);
  return_result (task, result, error);
}

/* Home. */
static gboolean
invoke_reply_cb (gpointer data)
{
  GTask *task = data;
  InvokeOp *op = g_task_get_task_data (task);

  invoke_complete (task, op->reply, g_steal_pointer (&op->reply_error));
  return G_SOURCE_REMOVE;
}

/* Asking thread: the interaction answered; carry it home. */
static void
invoke_answered_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  InvokeOp *op = g_task_get_task_data (task);
  MitogenInteractionClass *klass = MITOGEN_INTERACTION_GET_CLASS (op->interaction);
  GError *error = NULL;
  MitogenInteractionResult r;
  g_autoptr(GSource) idle = NULL;

  if (MITOGEN_IS_SECRET_REQUEST (op->request))
    r = klass->ask_password_finish (op->interaction, result, &error);
  else if (MITOGEN_IS_HOST_KEY_REQUEST (op->request))
    r = klass->ask_host_key_finish (op->interaction, result, &error);
  else
    r = klass->ask_questions_finish (op->interaction, result, &error);
  if (r == MITOGEN_INTERACTION_FAILED && error == NULL)
    error = g_error_new_literal (MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD, "the interaction failed without saying why");
  if (r != MITOGEN_INTERACTION_FAILED)
    g_clear_error (&error);
  op->reply = r;
  op->reply_error = error;

  idle = g_idle_source_new ();
  g_source_set_static_name (idle, "[mitogen] interaction reply");
  g_source_set_callback (idle, invoke_reply_cb, g_object_ref (task), g_object_unref);
  g_source_attach (idle, op->home);
}

/* Asking thread: the application's main context. */
static gboolean
invoke_ask_cb (gpointer data)
{
  GTask *task = data;
  InvokeOp *op = g_task_get_task_data (task);
  MitogenInteractionClass *klass = MITOGEN_INTERACTION_GET_CLASS (op->interaction);

  /* Timed out or cancelled before it could be asked. */
  if (g_cancellable_is_cancelled (op->ask_cancellable))
    return G_SOURCE_REMOVE;

  g_main_context_push_thread_default (op->ask_context);
  if (MITOGEN_IS_SECRET_REQUEST (op->request))
    klass->ask_password_async (op->interaction, MITOGEN_SECRET_REQUEST (op->request), op->ask_cancellable,
                               invoke_answered_cb, g_object_ref (task));
  else if (MITOGEN_IS_HOST_KEY_REQUEST (op->request))
    klass->ask_host_key_async (op->interaction, MITOGEN_HOST_KEY_REQUEST (op->request), op->ask_cancellable,
                               invoke_answered_cb, g_object_ref (task));
  else
    klass->ask_questions_async (op->interaction, MITOGEN_QUESTIONS_REQUEST (op->request), op->ask_cancellable,
                                invoke_answered_cb, g_object_ref (task));
  g_main_context_pop_thread_default (op->ask_context);
  return G_SOURCE_REMOVE;
}

/* Home. */
static gboolean
invoke_timeout_cb (gpointer data)
{
  GTask *task = data;
  InvokeOp *op = g_task_get_task_data (task);

  g_clear_pointer (&op->timeout_source, g_source_unref);
  invoke_complete (task, MITOGEN_INTERACTION_FAILED,
                   g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT,
                                "no answer from the interaction within its timeout (%.3g s)", op->timeout));
  return G_SOURCE_REMOVE;
}

/* Home. */
static gboolean
invoke_cancelled_cb (GCancellable *cancellable,
                     gpointer      data)
{
  GTask *task = data;
  InvokeOp *op = g_task_get_task_data (task);
  GError *error = NULL;

  g_clear_pointer (&op->cancel_source, g_source_unref);
  if (!g_cancellable_set_error_if_cancelled (cancellable, &error))
    return G_SOURCE_REMOVE;
  invoke_complete (task, MITOGEN_INTERACTION_FAILED, error);
  return G_SOURCE_REMOVE;
}

void
mitogen_interaction_invoke_async (MitogenInteraction  *self,
                                  gpointer             request,
                                  GMainContext        *ask_context,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GSource) ask = NULL;
  InvokeOp *op;

  g_return_if_fail (MITOGEN_IS_INTERACTION (self));
  g_return_if_fail (MITOGEN_IS_SECRET_REQUEST (request) || MITOGEN_IS_HOST_KEY_REQUEST (request) ||
                    MITOGEN_IS_QUESTIONS_REQUEST (request));
  g_return_if_fail (ask_context != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_interaction_invoke_async);
  op = g_new0 (InvokeOp, 1);
  op->interaction = g_object_ref (self);
  op->request = g_object_ref (request);
  op->ask_context = g_main_context_ref (ask_context);
  op->home = g_main_context_ref_thread_default ();
  op->ask_cancellable = g_cancellable_new ();
  op->timeout = mitogen_interaction_get_timeout (self);
  g_task_set_task_data (task, op, invoke_op_free);

  if (g_cancellable_set_error_if_cancelled (cancellable, &op->reply_error))
    {
      invoke_complete (task, MITOGEN_INTERACTION_FAILED, g_steal_pointer (&op->reply_error));
      return;
    }
  if (op->timeout > 0)
    {
      op->timeout_source = g_timeout_source_new ((guint) MIN (op->timeout * 1000.0, (double) G_MAXUINT));
      g_source_set_static_name (op->timeout_source, "[mitogen] interaction timeout");
      g_source_set_callback (op->timeout_source, invoke_timeout_cb, g_object_ref (task), g_object_unref);
      g_source_attach (op->timeout_source, op->home);
    }
  if (cancellable != NULL)
    {
      op->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_static_name (op->cancel_source, "[mitogen] interaction cancelled");
      g_source_set_callback (op->cancel_source, G_SOURCE_FUNC (invoke_cancelled_cb), g_object_ref (task),
                             g_object_unref);
      g_source_attach (op->cancel_source, op->home);
    }

  ask = g_idle_source_new ();
  g_source_set_static_name (ask, "[mitogen] interaction request");
  g_source_set_callback (ask, invoke_ask_cb, g_object_ref (task), g_object_unref);
  g_source_attach (ask, ask_context);
}

MitogenInteractionResult
mitogen_interaction_invoke_finish (GAsyncResult  *result,
                                   GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), MITOGEN_INTERACTION_FAILED);
  return propagate_result (result, error);
}
