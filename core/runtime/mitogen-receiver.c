/* mitogen-receiver.c — MitogenReceiver: a queue of messages for one handle
 *
 * The router runs our handler on the broker thread; it queues the message
 * and wakes a blocked mitogen_receiver_get (), completes a pending
 * mitogen_receiver_get_async (), or — when ::received has handlers —
 * emits ::received in the main context that was thread-default when the
 * receiver was made (push mode: such messages are not queued).
 *
 * The router's handler holds only a weak reference: dropping the last
 * reference to a receiver unregisters its handle.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-receiver"

#include "config.h"

#include "mitogen-broker-private.h"
#include "mitogen-error-private.h"
#include "mitogen-context-private.h"
#include "mitogen-message-private.h"
#include "mitogen-receiver-private.h"
#include "mitogen-router-private.h"
#include "mitogen-stream-private.h"

typedef struct
{
  guint64  id;
  GTask   *task;            /* (owned) */
  GSource *cancel_source;   /* (owned) (nullable) */
} PendingGet;

struct _MitogenReceiver
{
  GObject                parent_instance;

  MitogenRouter         *router;      /* (owned) */
  MitogenContext        *respondent;  /* (owned) (nullable) */
  GMainContext          *context;     /* (owned) thread-default at construction; ::received runs here */
  guint32                handle;      /* read-only after construction */
  gboolean               persist;

  GMutex                 lock;        /* guards everything below */
  GCond                  cond;
  GQueue                 queue;       /* (owned) MitogenMessage */
  gint                   queued;      /* (atomic) queue.length, for lock-free polling */
  GQueue                 pending;     /* (owned) PendingGet */
  guint64                next_pending_id;
  gboolean               closed;      /* closed locally, or a dead message arrived */
  guint                  waiters;     /* threads in g_cond_wait (): a broadcast is a system call */
  MitogenReceiverNotify  notify;
  gpointer               notify_data;

  /* The select this receiver belongs to (mitogen-select.c). owner_raw is
   * only compared, never dereferenced; the notify goes through the weak
   * reference. Guarded by lock; `owned` mirrors owner_notify != NULL. */
  gpointer               owner_raw;    /* (unowned) (nullable) */
  GWeakRef               owner;
  MitogenReceiverOwnerNotify owner_notify;
  gint                   owned;        /* (atomic) */

  struct _ReceiverLink  *link;        /* (owned) the router's way to us */
};

/* What the router's handler holds instead of the receiver: a GWeakRef
 * would do, but every GWeakRef set, get and clear takes one lock shared
 * by all weak references in the process, which the calling thread and
 * the broker then fought over for every call. @receiver is cleared by
 * dispose; the broker takes a reference under @lock, which GObject
 * allows even while dispose runs (the object then lives on until that
 * reference goes). */
typedef struct _ReceiverLink
{
  gatomicrefcount  ref_count;
  GMutex           lock;
  MitogenReceiver *receiver;   /* (unowned) (nullable) guarded by lock */
} ReceiverLink;

static ReceiverLink *
receiver_link_ref (ReceiverLink *link)
{
  g_atomic_ref_count_inc (&link->ref_count);
  return link;
}

static void
receiver_link_unref (gpointer data)
{
  ReceiverLink *link = data;

  if (g_atomic_ref_count_dec (&link->ref_count))
    {
      g_mutex_clear (&link->lock);
      g_free (link);
    }
}

enum
{
  SIGNAL_RECEIVED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/**
 * MitogenReceiver:
 *
 * A queue of the messages that arrive for one handle: the seed's `Receiver`.
 *
 * Take messages with [method@Mitogen.Receiver.get] (blocking, with a
 * timeout) or [method@Mitogen.Receiver.get_async]; or connect to
 * [signal@Mitogen.Receiver::received], which puts the receiver in push mode:
 * each message is emitted in the main context that was thread-default when
 * the receiver was made, and not queued.
 *
 * [method@Mitogen.Context.begin_call] returns one for the reply of a call.
 * The router holds only a weak reference: dropping the last reference
 * unregisters the handle.
 */
G_DEFINE_FINAL_TYPE (MitogenReceiver, mitogen_receiver, G_TYPE_OBJECT)

static void
pending_get_free (PendingGet *pending)
{
  if (pending->cancel_source != NULL)
    {
      g_source_destroy (pending->cancel_source);
      g_source_unref (pending->cancel_source);
    }
  g_clear_object (&pending->task);
  g_free (pending);
}

static void
mitogen_receiver_dispose (GObject *object)
{
  MitogenReceiver *self = MITOGEN_RECEIVER (object);

  if (self->link != NULL)
    {
      g_mutex_lock (&self->link->lock);
      self->link->receiver = NULL;
      g_mutex_unlock (&self->link->lock);
    }
  if (self->router != NULL && self->handle != 0)
    mitogen_router_del_handler (self->router, self->handle);

  G_OBJECT_CLASS (mitogen_receiver_parent_class)->dispose (object);
}

static void
mitogen_receiver_finalize (GObject *object)
{
  MitogenReceiver *self = MITOGEN_RECEIVER (object);

  g_assert (self->pending.length == 0);
  g_queue_clear_full (&self->queue, (GDestroyNotify) mitogen_message_unref);
  g_clear_object (&self->router);
  g_clear_object (&self->respondent);
  g_clear_pointer (&self->context, g_main_context_unref);
  /* Set only while a select owns us (each set, like init and clear, takes
   * the process-wide weak reference lock; the instance's zeroed memory is
   * an empty reference already). */
  if (self->owner_raw != NULL)
    g_weak_ref_clear (&self->owner);
  g_clear_pointer (&self->link, receiver_link_unref);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);

  G_OBJECT_CLASS (mitogen_receiver_parent_class)->finalize (object);
}

static void
mitogen_receiver_class_init (MitogenReceiverClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mitogen_receiver_dispose;
  object_class->finalize = mitogen_receiver_finalize;

  /**
   * MitogenReceiver::received:
   * @self: the receiver
   * @message: (transfer none): the message, which is immutable
   *
   * Stands in for the seed's `Receiver.notify`. Emitted in the main context
   * that was thread-default when the receiver was made; never on the
   * broker thread. While the signal has handlers, arriving messages are
   * delivered through it instead of being queued for
   * [method@Mitogen.Receiver.get].
   */
  signals[SIGNAL_RECEIVED] =
    g_signal_new ("received", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  MITOGEN_TYPE_MESSAGE | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
mitogen_receiver_init (MitogenReceiver *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_queue_init (&self->queue);
  g_queue_init (&self->pending);
  self->context = g_main_context_ref_thread_default ();
}

typedef struct
{
  GWeakRef        receiver;
  MitogenMessage *message;  /* (owned) */
} Emission;

static void
emission_free (gpointer data)
{
  Emission *emission = data;

  g_weak_ref_clear (&emission->receiver);
  mitogen_message_unref (emission->message);
  g_free (emission);
}

/* Runs in self->context. */
static gboolean
emit_received_cb (gpointer data)
{
  Emission *emission = data;
  g_autoptr(MitogenReceiver) self = g_weak_ref_get (&emission->receiver);

  mitogen_stream_note_message_taken ();
  if (self != NULL)
    g_signal_emit (self, signals[SIGNAL_RECEIVED], 0, emission->message);
  return G_SOURCE_REMOVE;
}

/* Any thread, no lock held: tells the owning select a message (or the
 * end) is waiting. The owner may have let go meanwhile; then nothing. */
static void
notify_owner (MitogenReceiver            *self,
              MitogenReceiverOwnerNotify  owner_notify)
{
  g_autoptr(GObject) owner = g_weak_ref_get (&self->owner);

  if (owner != NULL)
    owner_notify (self, owner);
}

/* Broker thread (or any thread for local dead deliveries); must not block. */
void
mitogen_receiver_deliver (MitogenReceiver *self,
                          MitogenMessage  *message)
{
  PendingGet *pending = NULL;
  MitogenReceiverNotify notify;
  gpointer notify_data;
  MitogenReceiverOwnerNotify owner_notify;

  /* A receiver that belongs to a select is in pull mode. */
  if (!g_atomic_int_get (&self->owned) &&
      g_signal_has_handler_pending (self, signals[SIGNAL_RECEIVED], 0, TRUE))
    {
      g_autoptr(GSource) source = g_idle_source_new ();
      Emission *emission = g_new0 (Emission, 1);

      g_weak_ref_init (&emission->receiver, self);
      emission->message = mitogen_message_ref (message);
      /* An attached source always runs in its owner's thread; the seed's
       * notify ran on the broker, ours never does. */
      g_source_set_callback (source, emit_received_cb, emission, emission_free);
      g_source_set_static_name (source, "[mitogen] receiver delivery");
      g_source_attach (source, self->context);
      return;
    }

  g_mutex_lock (&self->lock);
  if (self->closed)
    {
      g_mutex_unlock (&self->lock);
      return;
    }
  if (mitogen_message_is_dead (message))
    self->closed = TRUE;

  if (self->pending.length > 0)
    pending = g_queue_pop_head (&self->pending);
  else
    {
      g_queue_push_tail (&self->queue, mitogen_message_ref (message));
      g_atomic_int_set (&self->queued, (gint) self->queue.length);
      if (self->waiters > 0)
        g_cond_broadcast (&self->cond);
    }

  /* A dead message also ends every other pending get. */
  g_autoptr(GList) also_failed = NULL;
  if (self->closed)
    {
      also_failed = self->pending.head;
      g_queue_init (&self->pending);
    }
  notify = self->notify;
  notify_data = self->notify_data;
  owner_notify = self->owner_notify;
  g_mutex_unlock (&self->lock);

  if (pending != NULL)
    {
      if (mitogen_message_is_dead (message))
        g_task_return_error (pending->task, mitogen_message_dead_error (message));
      else
        g_task_return_pointer (pending->task, mitogen_message_ref (message),
                               (GDestroyNotify) mitogen_message_unref);
      pending_get_free (pending);
    }
  for (GList *l = also_failed; l != NULL; l = l->next)
    {
      PendingGet *other = l->data;
      g_task_return_error (other->task, mitogen_message_dead_error (message));
      pending_get_free (other);
    }

  if (notify != NULL)
    notify (self, notify_data);
  if (owner_notify != NULL)
    notify_owner (self, owner_notify);
}

void
mitogen_receiver_set_notify (MitogenReceiver       *self,
                             MitogenReceiverNotify  notify,
                             gpointer               user_data)
{
  g_mutex_lock (&self->lock);
  self->notify = notify;
  self->notify_data = user_data;
  g_mutex_unlock (&self->lock);
}

/* Broker thread: the router's handler for our handle. */
static void
on_message (MitogenRouter  *router,
            MitogenMessage *message,
            gpointer        user_data)
{
  ReceiverLink *link = user_data;
  g_autoptr(MitogenReceiver) self = NULL;

  g_mutex_lock (&link->lock);
  if (link->receiver != NULL)
    self = g_object_ref (link->receiver);
  g_mutex_unlock (&link->lock);

  if (self != NULL)
    mitogen_receiver_deliver (self, message);
}

/**
 * mitogen_receiver_new:
 * @router: the router to register with
 * @handle: the handle to listen on, or 0 to allocate one
 * @persist: %FALSE to unregister after the first message
 * @respondent: (nullable): the context expected to reply; when it
 *   disconnects the receiver gets a dead message
 *
 * The seed's `Receiver(router, handle, persist, respondent)`. Any thread;
 * ::received will be emitted in the calling thread's thread-default main
 * context.
 *
 * Returns: (transfer full): a new receiver
 */
MitogenReceiver *
mitogen_receiver_new (MitogenRouter  *router,
                      guint32         handle,
                      gboolean        persist,
                      MitogenContext *respondent)
{
  MitogenReceiver *self;
  ReceiverLink *link;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (router), NULL);
  g_return_val_if_fail (respondent == NULL || MITOGEN_IS_CONTEXT (respondent), NULL);

  self = g_object_new (MITOGEN_TYPE_RECEIVER, NULL);
  self->router = g_object_ref (router);
  self->persist = persist;
  self->respondent = respondent != NULL ? g_object_ref (respondent) : NULL;

  link = g_new0 (ReceiverLink, 1);
  g_atomic_ref_count_init (&link->ref_count);
  g_mutex_init (&link->lock);
  link->receiver = self;
  self->link = receiver_link_ref (link);
  self->handle = mitogen_router_add_handler_full (router, handle, persist,
                                                  respondent != NULL ? mitogen_context_get_id (respondent)
                                                                     : MITOGEN_NO_RESPONDENT,
                                                  on_message, link, receiver_link_unref);

  /* Already gone: the reply can never come. */
  if (respondent != NULL && !mitogen_context_is_connected (respondent))
    {
      g_autoptr(MitogenMessage) dead = mitogen_message_new_dead (mitogen_router_get_context_id (router),
                                                                 self->handle);
      dead->header.src_id = mitogen_context_get_id (respondent);
      mitogen_router_del_handler (router, self->handle);
      mitogen_receiver_deliver (self, dead);
    }
  return self;
}

/**
 * mitogen_receiver_get_handle:
 * @self: a receiver
 *
 * The handle the receiver listens on: give it as `reply_to`, or to a sender
 * in another context, so that messages reach this receiver. Any thread.
 *
 * Returns: the handle messages for this receiver are addressed to
 */
guint32
mitogen_receiver_get_handle (MitogenReceiver *self)
{
  return self->handle;
}

/**
 * mitogen_receiver_get_router:
 * @self: a receiver
 *
 * The router the receiver is registered with. Any thread.
 *
 * Returns: (transfer none): the receiver's router
 */
MitogenRouter *
mitogen_receiver_get_router (MitogenReceiver *self)
{
  return self->router;
}

/**
 * mitogen_receiver_get_respondent:
 * @self: a receiver
 *
 * The context expected to reply (the seed's `respondent`): when it
 * disconnects the receiver gets a dead message, so a waiting caller wakes
 * with %MITOGEN_ERROR_CHANNEL. Any thread.
 *
 * Returns: (transfer none) (nullable): the context expected to reply
 */
MitogenContext *
mitogen_receiver_get_respondent (MitogenReceiver *self)
{
  return self->respondent;
}

#define SPIN_USEC 100

static gboolean
spin_enabled (void)
{
  static gsize once;
  static gboolean enabled;

  if (g_once_init_enter (&once))
    {
      enabled = g_get_num_processors () > 1 && g_getenv ("MITOGEN_NO_SPIN") == NULL;
      g_once_init_leave (&once, 1);
    }
  return enabled;
}

static void
on_cancelled_wake (GCancellable *cancellable,
                   gpointer      user_data)
{
  MitogenReceiver *self = user_data;

  g_mutex_lock (&self->lock);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

/**
 * mitogen_receiver_get_full:
 * @self: a receiver
 * @timeout_seconds: how long to wait; < 0 waits forever, 0 does not wait
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Blocks until a message arrives. Any thread but the broker's.
 *
 * Returns: (transfer full): the message; %NULL with %MITOGEN_ERROR_TIMEOUT,
 *   %MITOGEN_ERROR_CHANNEL (dead message: the peer is gone), or
 *   %G_IO_ERROR_CANCELLED
 */
MitogenMessage *
mitogen_receiver_get_full (MitogenReceiver  *self,
                           double            timeout_seconds,
                           GCancellable     *cancellable,
                           GError          **error)
{
  MitogenMessage *message = NULL;
  gint64 deadline = mitogen_deadline_from_timeout (timeout_seconds);
  gulong cancel_id = 0;
  gboolean closed = FALSE, timed_out = FALSE;
  gboolean spin = spin_enabled ();

  g_return_val_if_fail (MITOGEN_IS_RECEIVER (self), NULL);
  g_return_val_if_fail (!mitogen_broker_is_broker_thread (mitogen_router_get_broker (self->router)), NULL);

  if (cancellable != NULL)
    cancel_id = g_cancellable_connect (cancellable, G_CALLBACK (on_cancelled_wake), self, NULL);

  /* What we wait for may answer frames of ours still queued. */
  mitogen_stream_flush_coalesced ();
  g_mutex_lock (&self->lock);
  for (;;)
    {
      message = g_queue_pop_head (&self->queue);
      g_atomic_int_set (&self->queued, (gint) self->queue.length);
      if (message != NULL)
        break;
      if (self->closed)
        {
          closed = TRUE;
          break;
        }
      if (g_cancellable_is_cancelled (cancellable))
        break;
      if (spin)
        {
          /* A reply usually comes within a round trip: poll briefly before
           * paying for a sleep and a wake-up. */
          gint64 until = g_get_monotonic_time () + SPIN_USEC;
          spin = FALSE;
          g_mutex_unlock (&self->lock);
          while (g_atomic_int_get (&self->queued) == 0 && g_get_monotonic_time () < until)
            g_thread_yield ();
          g_mutex_lock (&self->lock);
          continue;
        }
      self->waiters++;
      if (deadline < 0)
        g_cond_wait (&self->cond, &self->lock);
      else if (!g_cond_wait_until (&self->cond, &self->lock, deadline))
        {
          self->waiters--;
          message = g_queue_pop_head (&self->queue);
          timed_out = message == NULL;
          break;
        }
      self->waiters--;
    }
  g_mutex_unlock (&self->lock);
  mitogen_stream_note_message_taken ();

  if (cancel_id != 0)
    g_cancellable_disconnect (cancellable, cancel_id);

  if (message != NULL)
    {
      if (mitogen_message_is_dead (message))
        {
          g_propagate_error (error, mitogen_message_dead_error (message));
          mitogen_message_unref (message);
          return NULL;
        }
      return message;
    }
  if (closed)
    g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                         "Receiver is closed");
  else if (timed_out)
    g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT,
                 "Timed out after %.3g s waiting for a message on handle %u",
                 timeout_seconds, self->handle);
  else
    g_cancellable_set_error_if_cancelled (cancellable, error);
  return NULL;
}

/**
 * mitogen_receiver_get:
 * @self: a receiver
 * @timeout_seconds: how long to wait; < 0 waits forever
 * @error: return location for a #GError
 *
 * The seed's `Receiver.get(timeout)`. Any thread but the broker's.
 *
 * Returns: (transfer full): the next message, or %NULL with @error set
 */
MitogenMessage *
mitogen_receiver_get (MitogenReceiver  *self,
                      double            timeout_seconds,
                      GError          **error)
{
  return mitogen_receiver_get_full (self, timeout_seconds, NULL, error);
}

typedef struct
{
  MitogenReceiver *receiver;  /* (owned) */
  guint64          id;
} CancelData;

static void
cancel_data_free (gpointer data)
{
  CancelData *cancel = data;
  g_object_unref (cancel->receiver);
  g_free (cancel);
}

/* Runs in the task's main context when the cancellable fires. */
static gboolean
on_get_cancelled (GCancellable *cancellable,
                  gpointer      user_data)
{
  CancelData *cancel = user_data;
  MitogenReceiver *self = cancel->receiver;
  PendingGet *found = NULL;

  g_mutex_lock (&self->lock);
  for (GList *l = self->pending.head; l != NULL; l = l->next)
    {
      PendingGet *pending = l->data;
      if (pending->id == cancel->id)
        {
          found = pending;
          g_queue_delete_link (&self->pending, l);
          break;
        }
    }
  g_mutex_unlock (&self->lock);

  if (found != NULL)
    {
      GTask *task = g_steal_pointer (&found->task);

      /* We are this source's callback: let it end by itself. */
      g_clear_pointer (&found->cancel_source, g_source_unref);
      g_task_return_error_if_cancelled (task);
      g_object_unref (task);
      pending_get_free (found);
    }
  return G_SOURCE_REMOVE;
}

/**
 * mitogen_receiver_get_async:
 * @self: a receiver
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called in the calling thread's thread-default
 *   main context when a message arrives
 * @user_data: data for @callback
 *
 * Waits for the next message without blocking. Cancelling ends a get
 * still waiting with %G_IO_ERROR_CANCELLED; a message that arrived before
 * (its callback not yet run) is handed over all the same, never lost. Any
 * thread.
 */
void
mitogen_receiver_get_async (MitogenReceiver     *self,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  MitogenMessage *message;
  PendingGet *pending;

  g_return_if_fail (MITOGEN_IS_RECEIVER (self));

  mitogen_stream_flush_coalesced ();
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_receiver_get_async);
  /* A message taken off the queue is handed over even if the cancellable
   * fires before the callback runs: dropping it would lose it. Only a get
   * still waiting when it fires ends with G_IO_ERROR_CANCELLED. */
  g_task_set_check_cancellable (task, FALSE);

  if (g_task_return_error_if_cancelled (task))
    return;

  g_mutex_lock (&self->lock);
  message = g_queue_pop_head (&self->queue);
  if (message != NULL || self->closed)
    {
      g_mutex_unlock (&self->lock);
      if (message == NULL)
        g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL, "Receiver is closed");
      else if (mitogen_message_is_dead (message))
        {
          g_task_return_error (task, mitogen_message_dead_error (message));
          mitogen_message_unref (message);
        }
      else
        g_task_return_pointer (task, message, (GDestroyNotify) mitogen_message_unref);
      return;
    }

  pending = g_new0 (PendingGet, 1);
  pending->id = ++self->next_pending_id;
  pending->task = g_steal_pointer (&task);
  if (cancellable != NULL)
    {
      CancelData *cancel = g_new0 (CancelData, 1);

      cancel->receiver = g_object_ref (self);
      cancel->id = pending->id;
      pending->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (pending->cancel_source, G_SOURCE_FUNC (on_get_cancelled),
                             cancel, cancel_data_free);
      g_source_set_static_name (pending->cancel_source, "[mitogen] receiver get cancel");
      g_source_attach (pending->cancel_source, g_task_get_context (pending->task));
    }
  g_queue_push_tail (&self->pending, pending);
  g_mutex_unlock (&self->lock);
}

/**
 * mitogen_receiver_get_finish:
 * @self: a receiver
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Receiver.get_async]: the message, which may be
 * the dead marker ([method@Mitogen.Message.is_dead]). Call it in the
 * callback, in the thread that started the get.
 *
 * Returns: (transfer full): the message, or %NULL with @error set
 */
MitogenMessage *
mitogen_receiver_get_finish (MitogenReceiver  *self,
                             GAsyncResult     *result,
                             GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mitogen_receiver_get_async, NULL);

  mitogen_stream_note_message_taken ();
  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * mitogen_receiver_empty:
 * @self: a receiver
 *
 * The seed's `Receiver.empty()`: tells whether no message is queued. In push
 * mode (::received has handlers) messages go to the signal and the queue
 * stays empty. Any thread.
 *
 * Returns: %TRUE if [method@Mitogen.Receiver.get] would block now
 */
gboolean
mitogen_receiver_empty (MitogenReceiver *self)
{
  gboolean empty;

  g_mutex_lock (&self->lock);
  empty = self->queue.length == 0;
  g_mutex_unlock (&self->lock);
  return empty;
}

/**
 * mitogen_receiver_close:
 * @self: a receiver
 *
 * Unregisters the handle and wakes every waiter with
 * %MITOGEN_ERROR_CHANNEL. Any thread.
 */
void
mitogen_receiver_close (MitogenReceiver *self)
{
  GList *pending;
  MitogenReceiverOwnerNotify owner_notify;

  g_return_if_fail (MITOGEN_IS_RECEIVER (self));

  mitogen_router_del_handler (self->router, self->handle);

  g_mutex_lock (&self->lock);
  self->closed = TRUE;
  pending = self->pending.head;
  g_queue_init (&self->pending);
  g_cond_broadcast (&self->cond);
  owner_notify = self->owner_notify;
  g_mutex_unlock (&self->lock);

  /* A select waiting on us must learn that nothing more will come. */
  if (owner_notify != NULL)
    notify_owner (self, owner_notify);

  for (GList *l = pending; l != NULL; l = l->next)
    {
      PendingGet *get = l->data;
      g_task_return_new_error (get->task, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL, "Receiver is closed");
      pending_get_free (get);
    }
  g_list_free (pending);
}

/**
 * mitogen_receiver_get_data:
 * @self: a receiver
 * @timeout_seconds: how long to wait; < 0 waits forever, 0 does not wait
 * @error: return location for a #GError
 *
 * The seed's `Receiver.get_data()`: [method@Mitogen.Receiver.get]
 * followed by [method@Mitogen.Message.get_value]. Any thread but the
 * broker's.
 *
 * The seed's `for msg in receiver` iterates until the channel closes; in C
 * loop until the error is %MITOGEN_ERROR_CHANNEL:
 *
 * ```c
 * for (;;)
 *   {
 *     g_autoptr(GError) error = NULL;
 *     g_autoptr(GVariant) value = mitogen_receiver_get_data (receiver, -1, &error);
 *
 *     if (value == NULL)
 *       {
 *         if (!g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL))
 *           g_printerr ("%s\n", error->message);  // a remote error, a timeout
 *         break;                                   // CHANNEL: the sender closed
 *       }
 *     use (value);
 *   }
 * ```
 *
 * Returns: (transfer full): the value; %NULL with %MITOGEN_ERROR_TIMEOUT,
 *   %MITOGEN_ERROR_CHANNEL (dead message, or the receiver is closed) or
 *   %MITOGEN_ERROR_CALL (the message carries a remote error)
 */
GVariant *
mitogen_receiver_get_data (MitogenReceiver  *self,
                           double            timeout_seconds,
                           GError          **error)
{
  g_autoptr(MitogenMessage) message = NULL;

  g_return_val_if_fail (MITOGEN_IS_RECEIVER (self), NULL);

  message = mitogen_receiver_get_full (self, timeout_seconds, NULL, error);
  if (message == NULL)
    return NULL;
  return mitogen_message_get_value (message, error);
}

/* --- ownership by a select (mitogen-select.c) ------------------------------ */

/* Any thread. Makes @owner the receiver's select: @notify runs (any thread,
 * no lock held, must not block) after each message is queued and when the
 * receiver closes. Returns FALSE if another owner (or @owner) holds it. */
gboolean
mitogen_receiver_claim (MitogenReceiver            *self,
                        GObject                    *owner,
                        MitogenReceiverOwnerNotify  notify)
{
  gboolean claimed = FALSE;

  g_mutex_lock (&self->lock);
  if (self->owner_raw == NULL)
    {
      self->owner_raw = owner;
      g_weak_ref_set (&self->owner, owner);
      self->owner_notify = notify;
      g_atomic_int_set (&self->owned, TRUE);
      claimed = TRUE;
    }
  g_mutex_unlock (&self->lock);
  return claimed;
}

/* Any thread. Lets go of @owner if it owns the receiver. */
void
mitogen_receiver_release (MitogenReceiver *self,
                          GObject         *owner)
{
  g_mutex_lock (&self->lock);
  if (self->owner_raw == owner)
    {
      self->owner_raw = NULL;
      g_weak_ref_set (&self->owner, NULL);
      self->owner_notify = NULL;
      g_atomic_int_set (&self->owned, FALSE);
    }
  g_mutex_unlock (&self->lock);
}

/* Any thread. Takes the next message (dead markers included) without
 * waiting; NULL if none, with *closed set when none will ever come. */
MitogenMessage *
mitogen_receiver_poll (MitogenReceiver *self,
                       gboolean        *closed)
{
  MitogenMessage *message;

  g_mutex_lock (&self->lock);
  message = g_queue_pop_head (&self->queue);
  g_atomic_int_set (&self->queued, (gint) self->queue.length);
  *closed = message == NULL && self->closed;
  g_mutex_unlock (&self->lock);
  return message;
}

/* Any thread: a poll would return a message, or report the end. */
gboolean
mitogen_receiver_is_ready (MitogenReceiver *self)
{
  gboolean ready;

  g_mutex_lock (&self->lock);
  ready = self->queue.length > 0 || self->closed;
  g_mutex_unlock (&self->lock);
  return ready;
}

/* Any thread: whether ::received has handlers (push mode). */
gboolean
mitogen_receiver_has_received_handlers (MitogenReceiver *self)
{
  return g_signal_has_handler_pending (self, signals[SIGNAL_RECEIVED], 0, TRUE);
}
