/* mitogen-interaction-forward.c — interaction requests up a `via` chain
 *
 * In a chain the hop that runs a transport is an agent. When the master's
 * router has a MitogenInteraction, its mitogen.connect call carries the
 * handle of a handler that serves requests (option
 * MITOGEN_INTERACTION_HANDLE_OPTION); the agent gives that connect a
 * forwarding interaction, which sends each request there as a message and
 * answers with the reply (docs/protocol.md, "Interaction requests"):
 *
 *   request  (sa{sv})  kind ("secret", "host-key", "questions") and fields
 *   reply    (ua{sv})  MitogenInteractionResult and the answer, or for
 *                      FAILED "message" (s) and "cancelled" (b)
 *
 * The master checks that a request comes from the context it asked to
 * start the child, and asks its interaction as for a connect of its own
 * (in the main context of whoever started the connect, within the
 * interaction's timeout). The agent's side is bounded by the forwarding
 * interaction's own timeout (the default, 120 s) and by the connect.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-interaction"

#include "config.h"

#include "mitogen-interaction-forward-private.h"
#include "mitogen-interaction-private.h"
#include "mitogen-message-private.h"

/* --- requests as GVariants ------------------------------------------------ */

static GVariant *
request_to_variant (GObject *request)
{
  GVariantDict dict;
  const char *kind;

  g_variant_dict_init (&dict, NULL);
  if (MITOGEN_IS_SECRET_REQUEST (request))
    {
      MitogenSecretRequest *r = MITOGEN_SECRET_REQUEST (request);

      kind = "secret";
      g_variant_dict_insert (&dict, "method", "s", mitogen_secret_request_get_method (r));
      g_variant_dict_insert (&dict, "kind", "u", (guint32) mitogen_secret_request_get_kind (r));
      g_variant_dict_insert (&dict, "target", "s", mitogen_secret_request_get_target (r));
      if (mitogen_secret_request_get_user (r) != NULL)
        g_variant_dict_insert (&dict, "user", "s", mitogen_secret_request_get_user (r));
      g_variant_dict_insert (&dict, "prompt", "s", mitogen_secret_request_get_prompt (r));
    }
  else if (MITOGEN_IS_HOST_KEY_REQUEST (request))
    {
      MitogenHostKeyRequest *r = MITOGEN_HOST_KEY_REQUEST (request);

      kind = "host-key";
      g_variant_dict_insert (&dict, "host", "s", mitogen_host_key_request_get_host (r));
      g_variant_dict_insert (&dict, "port", "u", (guint32) mitogen_host_key_request_get_port (r));
      g_variant_dict_insert (&dict, "key-type", "s", mitogen_host_key_request_get_key_type (r));
      g_variant_dict_insert (&dict, "fingerprint", "s", mitogen_host_key_request_get_fingerprint (r));
      g_variant_dict_insert (&dict, "changed", "b", mitogen_host_key_request_get_changed (r));
      if (mitogen_host_key_request_get_known_hosts_file (r) != NULL)
        g_variant_dict_insert (&dict, "known-hosts-file", "s", mitogen_host_key_request_get_known_hosts_file (r));
    }
  else
    {
      MitogenQuestionsRequest *r = MITOGEN_QUESTIONS_REQUEST (request);
      guint n = mitogen_questions_request_get_n_prompts (r);
      GVariantBuilder echo;

      kind = "questions";
      g_variant_builder_init (&echo, G_VARIANT_TYPE ("ab"));
      for (guint i = 0; i < n; i++)
        g_variant_builder_add (&echo, "b", mitogen_questions_request_get_echo (r, i));
      g_variant_dict_insert (&dict, "method", "s", mitogen_questions_request_get_method (r));
      g_variant_dict_insert (&dict, "target", "s", mitogen_questions_request_get_target (r));
      g_variant_dict_insert (&dict, "name", "s", mitogen_questions_request_get_name (r));
      g_variant_dict_insert (&dict, "instruction", "s", mitogen_questions_request_get_instruction (r));
      g_variant_dict_insert (&dict, "prompts", "^as", (char **) mitogen_questions_request_get_prompts (r));
      g_variant_dict_insert_value (&dict, "echo", g_variant_builder_end (&echo));
    }
  return g_variant_new ("(s@a{sv})", kind, g_variant_dict_end (&dict));
}

/* NULL if @value is not a request we know. */
static GObject *
request_from_variant (GVariant *value)
{
  const char *kind;
  g_autoptr(GVariant) fields = NULL;
  g_autoptr(GVariantDict) dict = NULL;

  if (!g_variant_is_of_type (value, G_VARIANT_TYPE ("(sa{sv})")))
    return NULL;
  g_variant_get (value, "(&s@a{sv})", &kind, &fields);
  dict = g_variant_dict_new (fields);

  if (g_strcmp0 (kind, "secret") == 0)
    {
      const char *method, *target, *prompt, *user = NULL;
      guint32 secret_kind;

      if (!g_variant_dict_lookup (dict, "method", "&s", &method) ||
          !g_variant_dict_lookup (dict, "kind", "u", &secret_kind) ||
          !g_variant_dict_lookup (dict, "target", "&s", &target) ||
          !g_variant_dict_lookup (dict, "prompt", "&s", &prompt) ||
          secret_kind > MITOGEN_SECRET_KIND_OTHER)
        return NULL;
      g_variant_dict_lookup (dict, "user", "&s", &user);
      return G_OBJECT (mitogen_secret_request_new (method, (MitogenSecretKind) secret_kind, target, user, prompt));
    }
  if (g_strcmp0 (kind, "host-key") == 0)
    {
      const char *host, *key_type, *fingerprint, *file = NULL;
      guint32 port;
      gboolean changed;

      if (!g_variant_dict_lookup (dict, "host", "&s", &host) ||
          !g_variant_dict_lookup (dict, "port", "u", &port) ||
          !g_variant_dict_lookup (dict, "key-type", "&s", &key_type) ||
          !g_variant_dict_lookup (dict, "fingerprint", "&s", &fingerprint) ||
          !g_variant_dict_lookup (dict, "changed", "b", &changed))
        return NULL;
      g_variant_dict_lookup (dict, "known-hosts-file", "&s", &file);
      return G_OBJECT (mitogen_host_key_request_new (host, port, key_type, fingerprint, changed, file));
    }
  if (g_strcmp0 (kind, "questions") == 0)
    {
      const char *method, *target, *name, *instruction;
      g_autofree const char **prompts = NULL;
      g_autoptr(GVariant) echo = NULL;
      g_autofree gboolean *flags = NULL;
      gsize n_echo = 0;

      if (!g_variant_dict_lookup (dict, "method", "&s", &method) ||
          !g_variant_dict_lookup (dict, "target", "&s", &target) ||
          !g_variant_dict_lookup (dict, "name", "&s", &name) ||
          !g_variant_dict_lookup (dict, "instruction", "&s", &instruction) ||
          !g_variant_dict_lookup (dict, "prompts", "^a&s", &prompts) ||
          (echo = g_variant_dict_lookup_value (dict, "echo", G_VARIANT_TYPE ("ab"))) == NULL)
        return NULL;
      n_echo = g_variant_n_children (echo);
      if (n_echo != g_strv_length ((char **) prompts))
        return NULL;
      flags = g_new0 (gboolean, n_echo + 1);
      for (gsize i = 0; i < n_echo; i++)
        g_variant_get_child (echo, i, "b", &flags[i]);
      return G_OBJECT (mitogen_questions_request_new (method, target, name, instruction, prompts, flags));
    }
  return NULL;
}

/* --- the asker's side: serving a chain's requests ------------------------ */

typedef struct
{
  MitogenInteraction *interaction;  /* (owned) */
  GMainContext       *ask_context;  /* (owned) */
  guint32             via_id;
} Serve;

static void
serve_free (gpointer data)
{
  Serve *serve = data;

  g_object_unref (serve->interaction);
  g_main_context_unref (serve->ask_context);
  g_free (serve);
}

typedef struct
{
  MitogenMessage *message;  /* (owned) the request, to reply to */
  GObject        *request;  /* (owned) */
} Asked;

/* Broker thread: the interaction answered (or not); reply. */
static void
serve_answered_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Asked *asked = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) reply_error = NULL;
  MitogenInteractionResult r = mitogen_interaction_invoke_finish (result, &error);
  GVariantDict dict;

  g_variant_dict_init (&dict, NULL);
  if (r == MITOGEN_INTERACTION_FAILED)
    {
      g_variant_dict_insert (&dict, "message", "s", error->message);
      g_variant_dict_insert (&dict, "cancelled", "b", g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
    }
  else if (r == MITOGEN_INTERACTION_HANDLED)
    {
      if (MITOGEN_IS_SECRET_REQUEST (asked->request))
        {
          const char *answer = mitogen_secret_request_get_answer (MITOGEN_SECRET_REQUEST (asked->request));
          if (answer != NULL)
            g_variant_dict_insert (&dict, "answer", "s", answer);
        }
      else if (MITOGEN_IS_HOST_KEY_REQUEST (asked->request))
        g_variant_dict_insert (&dict, "answer", "u",
                               (guint32) mitogen_host_key_request_get_answer (MITOGEN_HOST_KEY_REQUEST (asked->request)));
      else
        {
          const char * const *answers =
            mitogen_questions_request_get_answers (MITOGEN_QUESTIONS_REQUEST (asked->request));
          if (answers != NULL)
            g_variant_dict_insert (&dict, "answers", "^as", (char **) answers);
        }
    }
  if (!mitogen_message_reply (asked->message, g_variant_new ("(u@a{sv})", (guint32) r, g_variant_dict_end (&dict)),
                              &reply_error))
    g_debug ("interaction reply not sent: %s", reply_error->message);
  mitogen_message_unref (asked->message);
  g_object_unref (asked->request);
  g_free (asked);
}

/* Broker thread. */
static void
serve_message (MitogenRouter  *router,
               MitogenMessage *message,
               gpointer        user_data)
{
  Serve *serve = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  GObject *request;
  Asked *asked;

  if (mitogen_message_is_dead (message))
    return;
  if (mitogen_message_get_src_id (message) != serve->via_id)
    {
      g_warning ("interaction request from context %u, not from %u: ignored",
                 mitogen_message_get_src_id (message), serve->via_id);
      return;
    }
  value = mitogen_message_get_value (message, &error);
  request = value != NULL ? request_from_variant (value) : NULL;
  if (request == NULL)
    {
      g_autoptr(GError) reply_error = NULL;
      GVariantDict dict;

      g_variant_dict_init (&dict, NULL);
      g_variant_dict_insert (&dict, "message", "s", "not an interaction request");
      mitogen_message_reply (message, g_variant_new ("(u@a{sv})", (guint32) MITOGEN_INTERACTION_FAILED,
                                                     g_variant_dict_end (&dict)), &reply_error);
      return;
    }
  asked = g_new0 (Asked, 1);
  asked->message = mitogen_message_ref (message);
  asked->request = request;
  mitogen_interaction_invoke_async (serve->interaction, request, serve->ask_context, NULL,
                                    serve_answered_cb, asked);
}

guint32
mitogen_interaction_serve (MitogenRouter      *router,
                           MitogenInteraction *interaction,
                           GMainContext       *ask_context,
                           MitogenContext     *via)
{
  Serve *serve = g_new0 (Serve, 1);

  serve->interaction = g_object_ref (interaction);
  serve->ask_context = g_main_context_ref (ask_context);
  serve->via_id = mitogen_context_get_id (via);
  return mitogen_router_add_handler (router, serve_message, serve, serve_free, 0, TRUE, via);
}

/* --- the agent's side: a forwarding interaction --------------------------- */

#define MITOGEN_TYPE_INTERACTION_FORWARD (mitogen_interaction_forward_get_type ())
G_DECLARE_FINAL_TYPE (MitogenInteractionForward, mitogen_interaction_forward, MITOGEN, INTERACTION_FORWARD,
                      MitogenInteraction)

struct _MitogenInteractionForward
{
  MitogenInteraction parent_instance;
  MitogenRouter     *router;    /* (owned) */
  guint32            asker_id;
  guint32            handle;
};

G_DEFINE_FINAL_TYPE (MitogenInteractionForward, mitogen_interaction_forward, MITOGEN_TYPE_INTERACTION)

/* Broker thread: the asker's reply. */
static void
forward_reply (MitogenRouter  *router,
               MitogenMessage *message,
               gpointer        user_data)
{
  GTask *task = user_data;
  GObject *request = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = mitogen_message_get_value (message, &error);
  g_autoptr(GVariant) fields = NULL;
  g_autoptr(GVariantDict) dict = NULL;
  guint32 r;

  if (value == NULL || !g_variant_is_of_type (value, G_VARIANT_TYPE ("(ua{sv})")))
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD,
                               "the master's interaction did not reply%s%s",
                               error != NULL ? ": " : "", error != NULL ? error->message : "");
      return;
    }
  g_variant_get (value, "(u@a{sv})", &r, &fields);
  dict = g_variant_dict_new (fields);
  if (r == MITOGEN_INTERACTION_FAILED)
    {
      const char *text = "failed";
      gboolean cancelled = FALSE;

      g_variant_dict_lookup (dict, "message", "&s", &text);
      g_variant_dict_lookup (dict, "cancelled", "b", &cancelled);
      if (cancelled)
        g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "%s", text);
      else
        g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD, "the master's interaction: %s", text);
      return;
    }
  if (r == MITOGEN_INTERACTION_HANDLED)
    {
      if (MITOGEN_IS_SECRET_REQUEST (request))
        {
          const char *answer = NULL;

          if (g_variant_dict_lookup (dict, "answer", "&s", &answer))
            mitogen_secret_request_set_answer (MITOGEN_SECRET_REQUEST (request), answer);
        }
      else if (MITOGEN_IS_HOST_KEY_REQUEST (request))
        {
          guint32 answer = MITOGEN_HOST_KEY_ANSWER_REFUSE;

          g_variant_dict_lookup (dict, "answer", "u", &answer);
          mitogen_host_key_request_set_answer (MITOGEN_HOST_KEY_REQUEST (request),
                                               answer <= MITOGEN_HOST_KEY_ANSWER_ACCEPT_ALWAYS
                                                 ? (MitogenHostKeyAnswer) answer : MITOGEN_HOST_KEY_ANSWER_REFUSE);
        }
      else
        {
          g_autofree const char **answers = NULL;

          if (g_variant_dict_lookup (dict, "answers", "^a&s", &answers))
            mitogen_questions_request_set_answers (MITOGEN_QUESTIONS_REQUEST (request), answers);
        }
      g_task_return_int (task, MITOGEN_INTERACTION_HANDLED);
      return;
    }
  g_task_return_int (task, MITOGEN_INTERACTION_UNHANDLED);
}

/* The asking thread: send the request up. */
static void
forward_ask (MitogenInteraction  *interaction,
             gpointer             request,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             user_data)
{
  MitogenInteractionForward *self = (MitogenInteractionForward *) interaction;
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  guint32 reply_to;

  g_task_set_task_data (task, g_object_ref (request), g_object_unref);
  /* Not persistent: the reply, or the dead marker, comes once. */
  reply_to = mitogen_router_add_handler (self->router, forward_reply, g_object_ref (task), g_object_unref,
                                         0, FALSE, NULL);
  message = mitogen_message_new (self->asker_id, self->handle, request_to_variant (request));
  mitogen_message_set_reply_to (message, reply_to);
  if (!mitogen_router_route (self->router, message, &error))
    {
      mitogen_router_del_handler (self->router, reply_to);
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD,
                               "cannot ask the master's interaction: %s", error->message);
    }
}

static void
forward_ask_password_async (MitogenInteraction *interaction, MitogenSecretRequest *request,
                            GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  forward_ask (interaction, request, cancellable, callback, user_data);
}

static void
forward_ask_host_key_async (MitogenInteraction *interaction, MitogenHostKeyRequest *request,
                            GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  forward_ask (interaction, request, cancellable, callback, user_data);
}

static void
forward_ask_questions_async (MitogenInteraction *interaction, MitogenQuestionsRequest *request,
                             GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  forward_ask (interaction, request, cancellable, callback, user_data);
}

static MitogenInteractionResult
forward_finish (MitogenInteraction  *interaction,
                GAsyncResult        *result,
                GError             **error)
{
  GError *local = NULL;
  gssize r = g_task_propagate_int (G_TASK (result), &local);

  if (local != NULL)
    {
      g_propagate_error (error, local);
      return MITOGEN_INTERACTION_FAILED;
    }
  return (MitogenInteractionResult) r;
}

static void
mitogen_interaction_forward_finalize (GObject *object)
{
  MitogenInteractionForward *self = (MitogenInteractionForward *) object;

  g_clear_object (&self->router);
  G_OBJECT_CLASS (mitogen_interaction_forward_parent_class)->finalize (object);
}

static void
mitogen_interaction_forward_class_init (MitogenInteractionForwardClass *klass)
{
  MitogenInteractionClass *interaction_class = MITOGEN_INTERACTION_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = mitogen_interaction_forward_finalize;
  interaction_class->ask_password_async = forward_ask_password_async;
  interaction_class->ask_password_finish = forward_finish;
  interaction_class->ask_host_key_async = forward_ask_host_key_async;
  interaction_class->ask_host_key_finish = forward_finish;
  interaction_class->ask_questions_async = forward_ask_questions_async;
  interaction_class->ask_questions_finish = forward_finish;
}

static void
mitogen_interaction_forward_init (MitogenInteractionForward *self)
{
}

MitogenInteraction *
mitogen_interaction_forward_new (MitogenRouter *router,
                                 guint32        asker_id,
                                 guint32        handle)
{
  MitogenInteractionForward *self = g_object_new (MITOGEN_TYPE_INTERACTION_FORWARD, NULL);

  self->router = g_object_ref (router);
  self->asker_id = asker_id;
  self->handle = handle;
  return MITOGEN_INTERACTION (self);
}
