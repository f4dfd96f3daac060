/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>

G_BEGIN_DECLS

/**
 * MitogenInteractionResult:
 * @MITOGEN_INTERACTION_UNHANDLED: the interaction did not answer (it has
 *   no way to, or chose not to)
 * @MITOGEN_INTERACTION_HANDLED: the answer is in the request
 * @MITOGEN_INTERACTION_FAILED: asking failed; the error says why (a
 *   cancelled request fails with %G_IO_ERROR_CANCELLED)
 *
 * What a [class@Mitogen.Interaction] did with a request; the shape of
 * #GTlsInteractionResult.
 */
typedef enum
{
  MITOGEN_INTERACTION_UNHANDLED,
  MITOGEN_INTERACTION_HANDLED,
  MITOGEN_INTERACTION_FAILED,
} MitogenInteractionResult;

/**
 * MitogenSecretKind:
 * @MITOGEN_SECRET_KIND_PASSWORD: the password of an account: ssh password
 *   authentication, sudo (and su, doas, pkexec)
 * @MITOGEN_SECRET_KIND_PASSPHRASE: the passphrase of a private key
 * @MITOGEN_SECRET_KIND_OTHER: another secret that the prompt describes (a
 *   PIN, a one-time code)
 *
 * What a [class@Mitogen.SecretRequest] asks for.
 */
typedef enum
{
  MITOGEN_SECRET_KIND_PASSWORD,
  MITOGEN_SECRET_KIND_PASSPHRASE,
  MITOGEN_SECRET_KIND_OTHER,
} MitogenSecretKind;

/**
 * MitogenHostKeyAnswer:
 * @MITOGEN_HOST_KEY_ANSWER_REFUSE: do not connect (the default)
 * @MITOGEN_HOST_KEY_ANSWER_ACCEPT_ONCE: connect this time, record nothing
 * @MITOGEN_HOST_KEY_ANSWER_ACCEPT_ALWAYS: connect and record the key in
 *   the known hosts file, as `check_host_keys=accept-new` does
 *
 * The answer to a [class@Mitogen.HostKeyRequest].
 */
typedef enum
{
  MITOGEN_HOST_KEY_ANSWER_REFUSE,
  MITOGEN_HOST_KEY_ANSWER_ACCEPT_ONCE,
  MITOGEN_HOST_KEY_ANSWER_ACCEPT_ALWAYS,
} MitogenHostKeyAnswer;

#define MITOGEN_TYPE_INTERACTION_RESULT  (mitogen_interaction_result_get_type ())
#define MITOGEN_TYPE_SECRET_KIND         (mitogen_secret_kind_get_type ())
#define MITOGEN_TYPE_HOST_KEY_ANSWER     (mitogen_host_key_answer_get_type ())
#define MITOGEN_TYPE_SECRET_REQUEST      (mitogen_secret_request_get_type ())
#define MITOGEN_TYPE_HOST_KEY_REQUEST    (mitogen_host_key_request_get_type ())
#define MITOGEN_TYPE_QUESTIONS_REQUEST   (mitogen_questions_request_get_type ())
#define MITOGEN_TYPE_INTERACTION         (mitogen_interaction_get_type ())

MITOGEN_AVAILABLE_IN_ALL
GType mitogen_interaction_result_get_type (void) G_GNUC_CONST;
MITOGEN_AVAILABLE_IN_ALL
GType mitogen_secret_kind_get_type        (void) G_GNUC_CONST;
MITOGEN_AVAILABLE_IN_ALL
GType mitogen_host_key_answer_get_type    (void) G_GNUC_CONST;

/* --- the requests --------------------------------------------------------- */

MITOGEN_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MitogenSecretRequest, mitogen_secret_request, MITOGEN, SECRET_REQUEST, GObject)

MITOGEN_AVAILABLE_IN_ALL
MitogenSecretRequest *mitogen_secret_request_new        (const char           *method,
                                                         MitogenSecretKind     kind,
                                                         const char           *target,
                                                         const char           *user,
                                                         const char           *prompt);
MITOGEN_AVAILABLE_IN_ALL
const char           *mitogen_secret_request_get_method (MitogenSecretRequest *self);
MITOGEN_AVAILABLE_IN_ALL
MitogenSecretKind     mitogen_secret_request_get_kind   (MitogenSecretRequest *self);
MITOGEN_AVAILABLE_IN_ALL
const char           *mitogen_secret_request_get_target (MitogenSecretRequest *self);
MITOGEN_AVAILABLE_IN_ALL
const char           *mitogen_secret_request_get_user   (MitogenSecretRequest *self);
MITOGEN_AVAILABLE_IN_ALL
const char           *mitogen_secret_request_get_prompt (MitogenSecretRequest *self);
MITOGEN_AVAILABLE_IN_ALL
const char           *mitogen_secret_request_get_answer (MitogenSecretRequest *self);
MITOGEN_AVAILABLE_IN_ALL
void                  mitogen_secret_request_set_answer (MitogenSecretRequest *self,
                                                         const char           *answer);

MITOGEN_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MitogenHostKeyRequest, mitogen_host_key_request, MITOGEN, HOST_KEY_REQUEST, GObject)

MITOGEN_AVAILABLE_IN_ALL
MitogenHostKeyRequest *mitogen_host_key_request_new             (const char            *host,
                                                                 guint                  port,
                                                                 const char            *key_type,
                                                                 const char            *fingerprint,
                                                                 gboolean               changed,
                                                                 const char            *known_hosts_file);
MITOGEN_AVAILABLE_IN_ALL
const char            *mitogen_host_key_request_get_host        (MitogenHostKeyRequest *self);
MITOGEN_AVAILABLE_IN_ALL
guint                  mitogen_host_key_request_get_port        (MitogenHostKeyRequest *self);
MITOGEN_AVAILABLE_IN_ALL
const char            *mitogen_host_key_request_get_key_type    (MitogenHostKeyRequest *self);
MITOGEN_AVAILABLE_IN_ALL
const char            *mitogen_host_key_request_get_fingerprint (MitogenHostKeyRequest *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean               mitogen_host_key_request_get_changed     (MitogenHostKeyRequest *self);
MITOGEN_AVAILABLE_IN_ALL
const char            *mitogen_host_key_request_get_known_hosts_file (MitogenHostKeyRequest *self);
MITOGEN_AVAILABLE_IN_ALL
MitogenHostKeyAnswer   mitogen_host_key_request_get_answer      (MitogenHostKeyRequest *self);
MITOGEN_AVAILABLE_IN_ALL
void                   mitogen_host_key_request_set_answer      (MitogenHostKeyRequest *self,
                                                                 MitogenHostKeyAnswer   answer);

MITOGEN_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MitogenQuestionsRequest, mitogen_questions_request, MITOGEN, QUESTIONS_REQUEST, GObject)

MITOGEN_AVAILABLE_IN_ALL
MitogenQuestionsRequest *mitogen_questions_request_new             (const char              *method,
                                                                    const char              *target,
                                                                    const char              *name,
                                                                    const char              *instruction,
                                                                    const char * const      *prompts,
                                                                    const gboolean          *echo);
MITOGEN_AVAILABLE_IN_ALL
const char              *mitogen_questions_request_get_method      (MitogenQuestionsRequest *self);
MITOGEN_AVAILABLE_IN_ALL
const char              *mitogen_questions_request_get_target      (MitogenQuestionsRequest *self);
MITOGEN_AVAILABLE_IN_ALL
const char              *mitogen_questions_request_get_name        (MitogenQuestionsRequest *self);
MITOGEN_AVAILABLE_IN_ALL
const char              *mitogen_questions_request_get_instruction (MitogenQuestionsRequest *self);
MITOGEN_AVAILABLE_IN_ALL
const char * const      *mitogen_questions_request_get_prompts     (MitogenQuestionsRequest *self);
MITOGEN_AVAILABLE_IN_ALL
guint                    mitogen_questions_request_get_n_prompts   (MitogenQuestionsRequest *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean                 mitogen_questions_request_get_echo        (MitogenQuestionsRequest *self,
                                                                    guint                    index);
MITOGEN_AVAILABLE_IN_ALL
const char * const      *mitogen_questions_request_get_answers     (MitogenQuestionsRequest *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean                 mitogen_questions_request_set_answers     (MitogenQuestionsRequest *self,
                                                                    const char * const      *answers);

/* --- the interaction ------------------------------------------------------ */

MITOGEN_AVAILABLE_IN_ALL
G_DECLARE_DERIVABLE_TYPE (MitogenInteraction, mitogen_interaction, MITOGEN, INTERACTION, GObject)

/**
 * MitogenInteractionClass:
 * @parent_class: the parent class
 * @ask_password: asks for the secret of a [class@Mitogen.SecretRequest]
 *   and sets it with [method@Mitogen.SecretRequest.set_answer]; may block
 *   (it runs in the main context of whoever started the connect). The
 *   default returns %MITOGEN_INTERACTION_UNHANDLED.
 * @ask_password_async: the same, without blocking. The default runs
 *   @ask_password.
 * @ask_password_finish: completes @ask_password_async
 * @ask_host_key: asks whether to trust an unknown or changed host key and
 *   sets the answer with [method@Mitogen.HostKeyRequest.set_answer]
 * @ask_host_key_async: the same, without blocking. The default runs
 *   @ask_host_key.
 * @ask_host_key_finish: completes @ask_host_key_async
 * @ask_questions: answers a set of prompts (ssh keyboard-interactive) with
 *   [method@Mitogen.QuestionsRequest.set_answers]
 * @ask_questions_async: the same, without blocking. The default runs
 *   @ask_questions.
 * @ask_questions_finish: completes @ask_questions_async
 *
 * Override the synchronous virtual functions, or the asynchronous ones and
 * their `_finish` (which must then both be overridden), as with
 * #GTlsInteractionClass.
 */
struct _MitogenInteractionClass
{
  GObjectClass parent_class;

  MitogenInteractionResult (*ask_password)         (MitogenInteraction      *self,
                                                    MitogenSecretRequest    *request,
                                                    GCancellable            *cancellable,
                                                    GError                 **error);
  void                     (*ask_password_async)   (MitogenInteraction      *self,
                                                    MitogenSecretRequest    *request,
                                                    GCancellable            *cancellable,
                                                    GAsyncReadyCallback      callback,
                                                    gpointer                 user_data);
  MitogenInteractionResult (*ask_password_finish)  (MitogenInteraction      *self,
                                                    GAsyncResult            *result,
                                                    GError                 **error);

  MitogenInteractionResult (*ask_host_key)         (MitogenInteraction      *self,
                                                    MitogenHostKeyRequest   *request,
                                                    GCancellable            *cancellable,
                                                    GError                 **error);
  void                     (*ask_host_key_async)   (MitogenInteraction      *self,
                                                    MitogenHostKeyRequest   *request,
                                                    GCancellable            *cancellable,
                                                    GAsyncReadyCallback      callback,
                                                    gpointer                 user_data);
  MitogenInteractionResult (*ask_host_key_finish)  (MitogenInteraction      *self,
                                                    GAsyncResult            *result,
                                                    GError                 **error);

  MitogenInteractionResult (*ask_questions)        (MitogenInteraction      *self,
                                                    MitogenQuestionsRequest *request,
                                                    GCancellable            *cancellable,
                                                    GError                 **error);
  void                     (*ask_questions_async)  (MitogenInteraction      *self,
                                                    MitogenQuestionsRequest *request,
                                                    GCancellable            *cancellable,
                                                    GAsyncReadyCallback      callback,
                                                    gpointer                 user_data);
  MitogenInteractionResult (*ask_questions_finish) (MitogenInteraction      *self,
                                                    GAsyncResult            *result,
                                                    GError                 **error);

  /*< private >*/
  gpointer _reserved[12];
};

MITOGEN_AVAILABLE_IN_ALL
MitogenInteraction       *mitogen_interaction_new                  (void);
MITOGEN_AVAILABLE_IN_ALL
double                    mitogen_interaction_get_timeout          (MitogenInteraction      *self);
MITOGEN_AVAILABLE_IN_ALL
void                      mitogen_interaction_set_timeout          (MitogenInteraction      *self,
                                                                    double                   timeout);

MITOGEN_AVAILABLE_IN_ALL
MitogenInteractionResult  mitogen_interaction_ask_password         (MitogenInteraction      *self,
                                                                    MitogenSecretRequest    *request,
                                                                    GCancellable            *cancellable,
                                                                    GError                 **error);
MITOGEN_AVAILABLE_IN_ALL
void                      mitogen_interaction_ask_password_async   (MitogenInteraction      *self,
                                                                    MitogenSecretRequest    *request,
                                                                    GCancellable            *cancellable,
                                                                    GAsyncReadyCallback      callback,
                                                                    gpointer                 user_data);
MITOGEN_AVAILABLE_IN_ALL
MitogenInteractionResult  mitogen_interaction_ask_password_finish  (MitogenInteraction      *self,
                                                                    GAsyncResult            *result,
                                                                    GError                 **error);
MITOGEN_AVAILABLE_IN_ALL
MitogenInteractionResult  mitogen_interaction_ask_host_key         (MitogenInteraction      *self,
                                                                    MitogenHostKeyRequest   *request,
                                                                    GCancellable            *cancellable,
                                                                    GError                 **error);
MITOGEN_AVAILABLE_IN_ALL
void                      mitogen_interaction_ask_host_key_async   (MitogenInteraction      *self,
                                                                    MitogenHostKeyRequest   *request,
                                                                    GCancellable            *cancellable,
                                                                    GAsyncReadyCallback      callback,
                                                                    gpointer                 user_data);
MITOGEN_AVAILABLE_IN_ALL
MitogenInteractionResult  mitogen_interaction_ask_host_key_finish  (MitogenInteraction      *self,
                                                                    GAsyncResult            *result,
                                                                    GError                 **error);
MITOGEN_AVAILABLE_IN_ALL
MitogenInteractionResult  mitogen_interaction_ask_questions        (MitogenInteraction      *self,
                                                                    MitogenQuestionsRequest *request,
                                                                    GCancellable            *cancellable,
                                                                    GError                 **error);
MITOGEN_AVAILABLE_IN_ALL
void                      mitogen_interaction_ask_questions_async  (MitogenInteraction      *self,
                                                                    MitogenQuestionsRequest *request,
                                                                    GCancellable            *cancellable,
                                                                    GAsyncReadyCallback      callback,
                                                                    gpointer                 user_data);
MITOGEN_AVAILABLE_IN_ALL
MitogenInteractionResult  mitogen_interaction_ask_questions_finish (MitogenInteraction      *self,
                                                                    GAsyncResult            *result,
                                                                    GError                 **error);

G_END_DECLS
