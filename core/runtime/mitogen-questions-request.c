/* mitogen-questions-request.c — MitogenQuestionsRequest: a set of prompts
 * (ssh keyboard-interactive) put to a MitogenInteraction
 *
 * Made on the broker thread, answered on the thread of whoever started
 * the connect, read back on the broker thread (see
 * mitogen-secret-request.c). Answers are wiped when replaced or freed.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-interaction"

#include "config.h"

#include <string.h>

#include "mitogen-private.h"

struct _MitogenQuestionsRequest
{
  GObject    parent_instance;
  char      *method;       /* (owned) */
  char      *target;       /* (owned) */
  char      *name;         /* (owned) */
  char      *instruction;  /* (owned) */
  char     **prompts;      /* (owned) */
  gboolean  *echo;         /* (owned) one per prompt */
  char     **answers;      /* (owned) (nullable) as many as prompts; wiped when freed */
};

/**
 * MitogenQuestionsRequest:
 *
 * A set of prompts to answer, put to a [class@Mitogen.Interaction]: an ssh
 * server's keyboard-interactive round (a name, an instruction, and prompts
 * each with whether the answer may be shown as typed). The interaction
 * answers every prompt with [method@Mitogen.QuestionsRequest.set_answers].
 */
G_DEFINE_FINAL_TYPE (MitogenQuestionsRequest, mitogen_questions_request, G_TYPE_OBJECT)

static void
wipe_answers (char ***answers)
{
  if (*answers == NULL)
    return;
  for (char **a = *answers; *a != NULL; a++)
    {
      volatile char *p = *a;
      while (*p != '\0')
        *p++ = '\0';
    }
  g_clear_pointer (answers, g_strfreev);
}

static void
mitogen_questions_request_finalize (GObject *object)
{
  MitogenQuestionsRequest *self = MITOGEN_QUESTIONS_REQUEST (object);

  wipe_answers (&self->answers);
  g_free (self->method);
  g_free (self->target);
  g_free (self->name);
  g_free (self->instruction);
  g_strfreev (self->prompts);
  g_free (self->echo);
  G_OBJECT_CLASS (mitogen_questions_request_parent_class)->finalize (object);
}

static void
mitogen_questions_request_class_init (MitogenQuestionsRequestClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mitogen_questions_request_finalize;
}

static void
mitogen_questions_request_init (MitogenQuestionsRequest *self)
{
}

/**
 * mitogen_questions_request_new:
 * @method: the method asking (`ssh`)
 * @target: for whom: `user@host:port`
 * @name: (nullable): the round's name as the server sent it (often empty)
 * @instruction: (nullable): the server's instruction (often empty)
 * @prompts: (array zero-terminated=1): the prompts
 * @echo: (array): for each prompt, whether the answer may be shown
 *
 * Makes a request; the ssh transport calls it, applications only in tests.
 *
 * Returns: (transfer full): a new request without answers
 */
MitogenQuestionsRequest *
mitogen_questions_request_new (const char         *method,
                               const char         *target,
                               const char         *name,
                               const char         *instruction,
                               const char * const *prompts,
                               const gboolean     *echo)
{
  MitogenQuestionsRequest *self;
  guint n;

  g_return_val_if_fail (method != NULL, NULL);
  g_return_val_if_fail (target != NULL, NULL);
  g_return_val_if_fail (prompts != NULL, NULL);

  n = g_strv_length ((char **) prompts);
  g_return_val_if_fail (n == 0 || echo != NULL, NULL);

  self = g_object_new (MITOGEN_TYPE_QUESTIONS_REQUEST, NULL);
  self->method = g_strdup (method);
  self->target = g_strdup (target);
  self->name = g_strdup (name != NULL ? name : "");
  self->instruction = g_strdup (instruction != NULL ? instruction : "");
  self->prompts = g_strdupv ((char **) prompts);
  self->echo = g_new0 (gboolean, n + 1);
  if (n > 0)
    memcpy (self->echo, echo, n * sizeof (gboolean));
  return self;
}

/**
 * mitogen_questions_request_get_method:
 * @self: a request
 *
 * Returns: the method asking (`ssh`)
 */
const char *
mitogen_questions_request_get_method (MitogenQuestionsRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_QUESTIONS_REQUEST (self), NULL);
  return self->method;
}

/**
 * mitogen_questions_request_get_target:
 * @self: a request
 *
 * Returns: for whom the answers are: `user@host:port`
 */
const char *
mitogen_questions_request_get_target (MitogenQuestionsRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_QUESTIONS_REQUEST (self), NULL);
  return self->target;
}

/**
 * mitogen_questions_request_get_name:
 * @self: a request
 *
 * Returns: the round's name, possibly empty
 */
const char *
mitogen_questions_request_get_name (MitogenQuestionsRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_QUESTIONS_REQUEST (self), NULL);
  return self->name;
}

/**
 * mitogen_questions_request_get_instruction:
 * @self: a request
 *
 * Returns: the server's instruction, possibly empty
 */
const char *
mitogen_questions_request_get_instruction (MitogenQuestionsRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_QUESTIONS_REQUEST (self), NULL);
  return self->instruction;
}

/**
 * mitogen_questions_request_get_prompts:
 * @self: a request
 *
 * Returns: (array zero-terminated=1) (transfer none): the prompts
 */
const char * const *
mitogen_questions_request_get_prompts (MitogenQuestionsRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_QUESTIONS_REQUEST (self), NULL);
  return (const char * const *) self->prompts;
}

/**
 * mitogen_questions_request_get_n_prompts:
 * @self: a request
 *
 * Returns: how many prompts there are (and answers are wanted)
 */
guint
mitogen_questions_request_get_n_prompts (MitogenQuestionsRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_QUESTIONS_REQUEST (self), 0);
  return g_strv_length (self->prompts);
}

/**
 * mitogen_questions_request_get_echo:
 * @self: a request
 * @index: a prompt's index
 *
 * Returns: %TRUE if the answer to prompt @index may be shown as it is
 *   typed, %FALSE for a secret (or an index out of range)
 */
gboolean
mitogen_questions_request_get_echo (MitogenQuestionsRequest *self,
                                    guint                    index)
{
  g_return_val_if_fail (MITOGEN_IS_QUESTIONS_REQUEST (self), FALSE);
  if (index >= g_strv_length (self->prompts))
    return FALSE;
  return self->echo[index];
}

/**
 * mitogen_questions_request_get_answers:
 * @self: a request
 *
 * Returns: (array zero-terminated=1) (transfer none) (nullable): the
 *   answers set, or %NULL
 */
const char * const *
mitogen_questions_request_get_answers (MitogenQuestionsRequest *self)
{
  g_return_val_if_fail (MITOGEN_IS_QUESTIONS_REQUEST (self), NULL);
  return (const char * const *) self->answers;
}

/**
 * mitogen_questions_request_set_answers:
 * @self: a request
 * @answers: (array zero-terminated=1): one answer per prompt, in order
 *
 * Sets the answers (the previous ones are wiped).
 *
 * Returns: %TRUE, or %FALSE (and nothing set) if the number of answers is
 *   not the number of prompts
 */
gboolean
mitogen_questions_request_set_answers (MitogenQuestionsRequest *self,
                                       const char * const      *answers)
{
  g_return_val_if_fail (MITOGEN_IS_QUESTIONS_REQUEST (self), FALSE);
  g_return_val_if_fail (answers != NULL, FALSE);

  if (g_strv_length ((char **) answers) != g_strv_length (self->prompts))
    return FALSE;
  wipe_answers (&self->answers);
  self->answers = g_strdupv ((char **) answers);
  return TRUE;
}
