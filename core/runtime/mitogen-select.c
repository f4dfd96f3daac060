/* mitogen-select.c — MitogenSelect: waiting on many receivers at once
 *
 * The seed's master.Select. A select holds members (receivers, or other
 * selects) and a queue of members that are ready. A member receiver's
 * owner hook (mitogen_receiver_claim ()) runs after each message is queued
 * — on the broker thread — and pushes the receiver onto the queue; a
 * nested select pushes itself onto its parent's queue the same way. get ()
 * pops a ready member and takes one message from it without waiting.
 *
 * Locks. topology_lock (one for all selects) guards every select's
 * `members` and `parent_raw`, and receivers' ownership; it is held only
 * for short non-blocking work, never while waiting and never by the
 * broker's notify path. Each select's `lock` guards its ready queue and
 * pending async gets; `members` is written with both held, so either lock
 * is enough to read it. Order: topology_lock, then a select's lock, then a
 * receiver's lock; two selects' locks are never held together. Objects
 * that may lose their last reference while topology_lock is held go into
 * a trash array unreferenced after it is released (a select's dispose
 * takes topology_lock).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-select"

#include "config.h"

#include "mitogen-message-private.h"
#include "mitogen-error-private.h"
#include "mitogen-receiver-private.h"
#include "mitogen-stream-private.h"

typedef struct
{
  guint64  id;
  GTask   *task;            /* (owned) */
  GSource *cancel_source;   /* (owned) (nullable) */
} PendingGet;

struct _MitogenSelect
{
  GObject    parent_instance;

  gboolean   oneshot;            /* read-only after construction */

  /* topology_lock (and lock, for writing members). */
  GPtrArray *members;            /* (owned) MitogenReceiver or MitogenSelect, one reference each */
  gpointer   parent_raw;         /* (unowned) (nullable) the select we are a member of; compared only */

  GWeakRef   parent;             /* MitogenSelect: the notify path's way up */

  GMutex     lock;               /* guards everything below */
  GCond      cond;               /* ready grew, or no member is left */
  GQueue     ready;              /* (owned) members that notified, oldest first; may repeat or be stale */
  GQueue     pending;            /* (owned) PendingGet, oldest first */
  guint64    next_pending_id;
  gboolean   service_scheduled;  /* a service_cb is attached for the pending gets */
};

G_DEFINE_FINAL_TYPE (MitogenSelect, mitogen_select, G_TYPE_OBJECT)

static GMutex topology_lock;

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
mitogen_select_dispose (GObject *object)
{
  mitogen_select_close (MITOGEN_SELECT (object));

  G_OBJECT_CLASS (mitogen_select_parent_class)->dispose (object);
}

static void
mitogen_select_finalize (GObject *object)
{
  MitogenSelect *self = MITOGEN_SELECT (object);

  g_assert (self->members->len == 0);
  g_assert (self->pending.length == 0);
  g_queue_clear_full (&self->ready, g_object_unref);
  g_ptr_array_unref (self->members);
  g_weak_ref_clear (&self->parent);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);

  G_OBJECT_CLASS (mitogen_select_parent_class)->finalize (object);
}

static void
mitogen_select_class_init (MitogenSelectClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mitogen_select_dispose;
  object_class->finalize = mitogen_select_finalize;
}

static void
mitogen_select_init (MitogenSelect *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_queue_init (&self->ready);
  g_queue_init (&self->pending);
  g_weak_ref_init (&self->parent, NULL);
  self->members = g_ptr_array_new ();
}

static gboolean service_cb (gpointer data);

/* self->lock held: something changed that a waiter must look at. */
static void
wake_locked (MitogenSelect *self)
{
  g_cond_broadcast (&self->cond);

  if (self->pending.length > 0 && !self->service_scheduled)
    {
      PendingGet *pending = g_queue_peek_head (&self->pending);
      g_autoptr(GSource) source = g_idle_source_new ();

      self->service_scheduled = TRUE;
      /* A pending task holds a reference on us, so this is no resurrection. */
      g_source_set_callback (source, service_cb, g_object_ref (self), g_object_unref);
      g_source_set_static_name (source, "[mitogen] select get");
      g_source_attach (source, g_task_get_context (pending->task));
    }
}

/* self->lock not held: queues @member as ready. */
static void
push_ready (MitogenSelect *self,
            GObject       *member)
{
  g_mutex_lock (&self->lock);
  g_queue_push_tail (&self->ready, g_object_ref (member));
  wake_locked (self);
  g_mutex_unlock (&self->lock);
}

/* Any thread (the broker's for arriving messages), no lock held: @member
 * of @self has something; tell @self and every select above it. */
static void
notify_up (MitogenSelect *self,
           GObject       *member)
{
  g_autoptr(MitogenSelect) parent = NULL;

  push_ready (self, member);
  parent = g_weak_ref_get (&self->parent);
  if (parent != NULL)
    notify_up (parent, G_OBJECT (self));
}

/* The receiver owner hook. Broker thread (or the thread that closed the
 * receiver or delivered a local dead message); must not block. */
static void
on_receiver_ready (MitogenReceiver *receiver,
                   GObject         *owner)
{
  notify_up (MITOGEN_SELECT (owner), G_OBJECT (receiver));
}

/* topology_lock held: the same as notify_up (), for callers that already
 * hold it (parent_raw is valid then: a parent detaches its members under
 * topology_lock before it can go away). */
static void
notify_up_locked (MitogenSelect *self,
                  GObject       *member)
{
  for (;;)
    {
      push_ready (self, member);
      if (self->parent_raw == NULL)
        break;
      member = G_OBJECT (self);
      self = self->parent_raw;
    }
}

/* topology_lock held: whether @needle is @haystack or inside it. */
static gboolean
contains_locked (MitogenSelect *haystack,
                 MitogenSelect *needle)
{
  if (haystack == needle)
    return TRUE;
  for (guint i = 0; i < haystack->members->len; i++)
    {
      GObject *member = g_ptr_array_index (haystack->members, i);

      if (MITOGEN_IS_SELECT (member) && contains_locked (MITOGEN_SELECT (member), needle))
        return TRUE;
    }
  return FALSE;
}

/* topology_lock held: takes @member out of @self. Its reference, and the
 * ready entries it had, go to @trash. Returns FALSE if it was not a member. */
static gboolean
remove_locked (MitogenSelect *self,
               GObject       *member,
               GPtrArray     *trash)
{
  gboolean now_empty;
  guint index;

  if (!g_ptr_array_find (self->members, member, &index))
    return FALSE;

  if (MITOGEN_IS_RECEIVER (member))
    mitogen_receiver_release (MITOGEN_RECEIVER (member), G_OBJECT (self));
  else
    {
      MitogenSelect *child = MITOGEN_SELECT (member);

      child->parent_raw = NULL;
      g_weak_ref_set (&child->parent, NULL);
    }

  g_mutex_lock (&self->lock);
  g_ptr_array_add (trash, g_ptr_array_steal_index (self->members, index));
  for (GList *l = self->ready.head; l != NULL; )
    {
      GList *next = l->next;

      if (l->data == member)
        {
          g_ptr_array_add (trash, l->data);
          g_queue_delete_link (&self->ready, l);
        }
      l = next;
    }
  now_empty = self->members->len == 0;
  if (now_empty)
    wake_locked (self);  /* waiters end with "no receivers left" */
  g_mutex_unlock (&self->lock);

  /* A oneshot parent drops a member select once it is exhausted. */
  if (now_empty && self->parent_raw != NULL)
    notify_up_locked (self->parent_raw, G_OBJECT (self));
  return TRUE;
}

/* topology_lock held: removes member selects that have no members left.
 * Returns whether any went. */
static gboolean
sweep_exhausted_locked (MitogenSelect *self,
                        GPtrArray     *trash)
{
  gboolean removed = FALSE;

  for (guint i = self->members->len; i > 0; i--)
    {
      GObject *member = g_ptr_array_index (self->members, i - 1);

      if (MITOGEN_IS_SELECT (member) && MITOGEN_SELECT (member)->members->len == 0)
        removed |= remove_locked (self, member, trash);
    }
  return removed;
}

/* topology_lock held: the next message from a ready member, without
 * waiting. NULL when none is ready now; then *exhausted says whether no
 * member is left at all.
 *
 * Ready entries are edge-triggered (one per notification), but a member
 * added with several messages already waiting gets only one entry: so a
 * member that still has something after yielding is queued again. Extra
 * entries are harmless (a member found empty is skipped). */
static MitogenMessage *
try_get_locked (MitogenSelect *self,
                gboolean      *exhausted,
                GPtrArray     *trash)
{
  *exhausted = FALSE;

  for (;;)
    {
      GObject *member;

      g_mutex_lock (&self->lock);
      if (self->members->len == 0)
        {
          g_mutex_unlock (&self->lock);
          *exhausted = TRUE;
          return NULL;
        }
      member = g_queue_pop_head (&self->ready);
      g_mutex_unlock (&self->lock);

      if (member == NULL)
        {
          if (self->oneshot && sweep_exhausted_locked (self, trash))
            continue;
          return NULL;
        }
      g_ptr_array_add (trash, member);

      /* Removed since it notified: stale. */
      if (!g_ptr_array_find (self->members, member, NULL))
        continue;

      if (MITOGEN_IS_RECEIVER (member))
        {
          MitogenReceiver *receiver = MITOGEN_RECEIVER (member);
          MitogenMessage *message;
          gboolean closed = FALSE;

          message = mitogen_receiver_poll (receiver, &closed);
          if (message == NULL)
            {
              /* Closed locally with nothing left (a dead marker would have
               * been a message): it can never yield again. Otherwise
               * another thread drained it first. */
              if (closed)
                remove_locked (self, member, trash);
              continue;
            }
          /* A dead receiver can never yield again either, oneshot or not. */
          if (self->oneshot || mitogen_message_is_dead (message))
            remove_locked (self, member, trash);
          else if (mitogen_receiver_is_ready (receiver))
            push_ready (self, member);  /* more was queued than notified (see below) */
          mitogen_message_set_receiver (message, receiver);
          return message;
        }
      else
        {
          MitogenSelect *child = MITOGEN_SELECT (member);
          MitogenMessage *message;
          gboolean child_exhausted = FALSE;

          message = try_get_locked (child, &child_exhausted, trash);
          if (self->oneshot && child->members->len == 0)
            remove_locked (self, member, trash);
          else if (message != NULL && !mitogen_select_empty (child))
            push_ready (self, member);  /* more was ready than notified (see below) */
          if (message != NULL)
            return message;
        }
    }
}

/* Any thread. Takes topology_lock for one non-blocking attempt. */
static MitogenMessage *
try_get (MitogenSelect *self,
         gboolean      *exhausted)
{
  GPtrArray *trash = g_ptr_array_new_with_free_func (g_object_unref);
  MitogenMessage *message;

  g_mutex_lock (&topology_lock);
  message = try_get_locked (self, exhausted, trash);
  g_mutex_unlock (&topology_lock);

  g_ptr_array_unref (trash);
  return message;
}

static void
set_exhausted_error (GError **error)
{
  g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED,
                       "Select has no receivers left");
}

/**
 * MitogenSelect:
 *
 * Waits on many receivers at once: the seed's `master.Select`. Members
 * are [class@Mitogen.Receiver]s, [class@Mitogen.Channel]s (their receiver)
 * or other selects; [method@Mitogen.Select.get] returns the first message
 * to arrive on any of them, with [method@Mitogen.Message.get_receiver]
 * naming the receiver it came from (for a nested select: the innermost
 * receiver).
 *
 * A *oneshot* select (the default in the seed) removes a receiver once it
 * has yielded a message, and a member select once it has no members left;
 * so gathering the replies of many calls is a loop that ends when nothing
 * is left. The seed's `for msg in select:` becomes:
 *
 * ```c
 * g_autoptr(MitogenSelect) select = mitogen_select_new (TRUE);
 *
 * for (guint i = 0; i < n_contexts; i++)
 *   {
 *     g_autoptr(MitogenReceiver) r = mitogen_context_begin_call (contexts[i], "os.getpid", NULL);
 *     mitogen_select_add (select, G_OBJECT (r), NULL);
 *   }
 *
 * for (;;)
 *   {
 *     g_autoptr(GError) error = NULL;
 *     g_autoptr(MitogenMessage) message = mitogen_select_get (select, -1, &error);
 *     g_autoptr(GVariant) value = NULL;
 *
 *     if (message == NULL)
 *       {
 *         if (!g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED))
 *           g_printerr ("%s\n", error->message);   // e.g. a timeout
 *         break;                                   // CLOSED: no receivers left
 *       }
 *     value = mitogen_message_get_value (message, &error);  // CALL, CHANNEL errors
 *     ...
 *   }
 * ```
 *
 * (`while (!mitogen_select_is_empty (select))` around the get is the same
 * loop, when only one thread takes from the select.)
 *
 * A receiver belongs to at most one select at a time; while it does it is
 * in pull mode (messages are queued for the select even if
 * [signal@Mitogen.Receiver::received] has handlers, and adding a receiver
 * that has such handlers is refused). A receiver that yields the dead
 * marker, or that is closed locally, is removed even from a select that is
 * not oneshot: it can never yield again. The dead marker itself is
 * returned like any message (its receiver set), so the caller learns which
 * receiver ended; [method@Mitogen.Message.get_value] turns it into
 * %MITOGEN_ERROR_CHANNEL.
 *
 * Threads: any thread may add, remove and get; a blocking get must not run
 * on a broker thread. Receivers notify the select from the broker thread
 * (a direct hook, not a signal), so no main loop is needed.
 */

/**
 * mitogen_select_new:
 * @oneshot: remove each receiver once it has yielded a message
 *
 * The seed's `Select(oneshot=oneshot)`. Any thread.
 *
 * Returns: (transfer full): a new, empty select
 */
MitogenSelect *
mitogen_select_new (gboolean oneshot)
{
  MitogenSelect *self = g_object_new (MITOGEN_TYPE_SELECT, NULL);

  self->oneshot = oneshot;
  return self;
}

/**
 * mitogen_select_new_with_receivers:
 * @receivers: (array length=n_receivers): receivers, channels or selects
 * @n_receivers: the number of @receivers
 * @oneshot: remove each receiver once it has yielded a message
 * @error: return location for a #GError
 *
 * The seed's `Select(receivers, oneshot)`: a new select with each of
 * @receivers added as by [method@Mitogen.Select.add]. Any thread.
 *
 * Returns: (transfer full): a new select, or %NULL with @error set (and
 *   nothing added) if one of @receivers could not be added
 */
MitogenSelect *
mitogen_select_new_with_receivers (GObject  **receivers,
                                   guint      n_receivers,
                                   gboolean   oneshot,
                                   GError   **error)
{
  g_autoptr(MitogenSelect) self = mitogen_select_new (oneshot);

  g_return_val_if_fail (receivers != NULL || n_receivers == 0, NULL);

  for (guint i = 0; i < n_receivers; i++)
    if (!mitogen_select_add (self, receivers[i], error))
      return NULL;  /* dispose lets go of those already added */
  return g_steal_pointer (&self);
}

/**
 * mitogen_select_get_oneshot:
 * @self: a select
 *
 * The `oneshot` the select was made with (the seed's `Select(oneshot=)`).
 * Any thread.
 *
 * Returns: whether receivers are removed once they have yielded a message
 */
gboolean
mitogen_select_get_oneshot (MitogenSelect *self)
{
  g_return_val_if_fail (MITOGEN_IS_SELECT (self), FALSE);
  return self->oneshot;
}

/* Any thread: a channel stands for its receiver. */
static GObject *
resolve_member (GObject *object)
{
  if (MITOGEN_IS_CHANNEL (object))
    return G_OBJECT (mitogen_channel_get_receiver (MITOGEN_CHANNEL (object)));
  return object;
}

/**
 * mitogen_select_add:
 * @self: a select
 * @receiver: a [class@Mitogen.Receiver], a [class@Mitogen.Channel] (its
 *   receiver is added) or another [class@Mitogen.Select]
 * @error: return location for a #GError
 *
 * The seed's `Select.add()`. A message already waiting on @receiver makes
 * the select ready at once. Any thread.
 *
 * Returns: %TRUE if added; %FALSE with %MITOGEN_ERROR_INVALID_ARGUMENT if
 *   @receiver already belongs to a select (this one or another), has
 *   [signal@Mitogen.Receiver::received] handlers, or is a select whose
 *   addition would make a cycle (@self itself, or a select that contains
 *   @self)
 */
gboolean
mitogen_select_add (MitogenSelect  *self,
                    GObject        *receiver,
                    GError        **error)
{
  GObject *member;
  gboolean ready = FALSE;

  g_return_val_if_fail (MITOGEN_IS_SELECT (self), FALSE);
  g_return_val_if_fail (MITOGEN_IS_RECEIVER (receiver) || MITOGEN_IS_CHANNEL (receiver) ||
                        MITOGEN_IS_SELECT (receiver), FALSE);

  member = resolve_member (receiver);

  g_mutex_lock (&topology_lock);
  if (MITOGEN_IS_SELECT (member))
    {
      MitogenSelect *child = MITOGEN_SELECT (member);

      if (contains_locked (child, self))
        {
          g_mutex_unlock (&topology_lock);
          g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                               "Adding this select would create a select cycle");
          return FALSE;
        }
      if (child->parent_raw != NULL)
        {
          g_mutex_unlock (&topology_lock);
          g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                               "Cannot add: the select already belongs to a select");
          return FALSE;
        }
      child->parent_raw = self;
      g_weak_ref_set (&child->parent, self);

      g_mutex_lock (&child->lock);
      /* Ready now, or exhausted (a oneshot parent then drops it). */
      ready = child->ready.length > 0 || child->members->len == 0;
      g_mutex_unlock (&child->lock);
    }
  else
    {
      MitogenReceiver *r = MITOGEN_RECEIVER (member);

      if (mitogen_receiver_has_received_handlers (r))
        {
          g_mutex_unlock (&topology_lock);
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                       "Cannot add: receiver for handle %u has ::received handlers (push mode)",
                       mitogen_receiver_get_handle (r));
          return FALSE;
        }
      if (!mitogen_receiver_claim (r, G_OBJECT (self), on_receiver_ready))
        {
          g_mutex_unlock (&topology_lock);
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                       "Cannot add: receiver for handle %u already belongs to a select",
                       mitogen_receiver_get_handle (r));
          return FALSE;
        }
      /* Claimed first, polled second: a message queued in between is seen
       * here or notifies us (a duplicate entry is harmless). */
      ready = mitogen_receiver_is_ready (r);
    }

  g_mutex_lock (&self->lock);
  g_ptr_array_add (self->members, g_object_ref (member));
  g_mutex_unlock (&self->lock);

  if (ready)
    notify_up_locked (self, member);
  g_mutex_unlock (&topology_lock);
  return TRUE;
}

/**
 * mitogen_select_remove:
 * @self: a select
 * @receiver: a receiver, channel or select added to @self
 * @error: return location for a #GError
 *
 * The seed's `Select.remove()`. Unlike the seed, a receiver that notified
 * before it was removed is not returned by a later get. Any thread.
 *
 * Returns: %TRUE if removed; %FALSE with %MITOGEN_ERROR_NOT_FOUND if
 *   @receiver is not a member of @self
 */
gboolean
mitogen_select_remove (MitogenSelect  *self,
                       GObject        *receiver,
                       GError        **error)
{
  GPtrArray *trash;
  gboolean removed;

  g_return_val_if_fail (MITOGEN_IS_SELECT (self), FALSE);
  g_return_val_if_fail (G_IS_OBJECT (receiver), FALSE);

  trash = g_ptr_array_new_with_free_func (g_object_unref);
  g_mutex_lock (&topology_lock);
  removed = remove_locked (self, resolve_member (receiver), trash);
  g_mutex_unlock (&topology_lock);
  g_ptr_array_unref (trash);

  if (!removed)
    g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                         "Instance is not a member of this select");
  return removed;
}

/**
 * mitogen_select_get:
 * @self: a select
 * @timeout_seconds: how long to wait; < 0 waits forever, 0 does not wait
 * @error: return location for a #GError
 *
 * The seed's `Select.get()`: the next message to arrive on any member,
 * with [method@Mitogen.Message.get_receiver] set to the receiver it came
 * from. In a oneshot select that receiver is no longer a member. A dead
 * marker is returned like a message (see [class@Mitogen.Select]). Any
 * thread but a broker's.
 *
 * Returns: (transfer full): the message; %NULL with
 *   %MITOGEN_ERROR_TIMEOUT, or %MITOGEN_ERROR_CLOSED when the select has
 *   no receivers left (the end of an iteration)
 */
MitogenMessage *
mitogen_select_get (MitogenSelect  *self,
                    double          timeout_seconds,
                    GError        **error)
{
  gint64 deadline = mitogen_deadline_from_timeout (timeout_seconds);

  g_return_val_if_fail (MITOGEN_IS_SELECT (self), NULL);

  /* What this thread sends next answers what it takes here; what it
   * waits for may answer frames of its still queued. */
  mitogen_stream_note_message_taken ();
  mitogen_stream_flush_coalesced ();
  for (;;)
    {
      MitogenMessage *message;
      gboolean exhausted = FALSE, timed_out = FALSE;

      message = try_get (self, &exhausted);
      if (message != NULL)
        return message;
      if (exhausted)
        {
          set_exhausted_error (error);
          return NULL;
        }

      g_mutex_lock (&self->lock);
      while (self->ready.length == 0 && self->members->len > 0)
        {
          if (deadline < 0)
            g_cond_wait (&self->cond, &self->lock);
          else if (!g_cond_wait_until (&self->cond, &self->lock, deadline))
            {
              timed_out = TRUE;
              break;
            }
        }
      g_mutex_unlock (&self->lock);

      if (timed_out)
        {
          message = try_get (self, &exhausted);
          if (message != NULL)
            return message;
          if (exhausted)
            set_exhausted_error (error);
          else
            g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT,
                         "Timed out after %.3g s waiting for any of a select's receivers",
                         timeout_seconds);
          return NULL;
        }
    }
}

/* Runs in the thread-default main context of the oldest pending get:
 * serves pending gets in order while messages are ready. */
static gboolean
service_cb (gpointer data)
{
  MitogenSelect *self = data;

  g_mutex_lock (&self->lock);
  self->service_scheduled = FALSE;
  g_mutex_unlock (&self->lock);

  for (;;)
    {
      MitogenMessage *message;
      PendingGet *pending;
      gboolean exhausted = FALSE;

      g_mutex_lock (&self->lock);
      pending = g_queue_pop_head (&self->pending);
      g_mutex_unlock (&self->lock);
      if (pending == NULL)
        break;

      message = try_get (self, &exhausted);
      if (message != NULL)
        g_task_return_pointer (pending->task, message, (GDestroyNotify) mitogen_message_unref);
      else if (exhausted)
        g_task_return_new_error (pending->task, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED,
                                 "Select has no receivers left");
      else if (g_task_return_error_if_cancelled (pending->task))
        ;  /* its cancel source fired while we held it */
      else
        {
          g_mutex_lock (&self->lock);
          g_queue_push_head (&self->pending, pending);
          g_mutex_unlock (&self->lock);
          break;
        }
      pending_get_free (pending);
    }
  return G_SOURCE_REMOVE;
}

typedef struct
{
  MitogenSelect *select;  /* (owned) */
  guint64        id;
} CancelData;

static void
cancel_data_free (gpointer data)
{
  CancelData *cancel = data;

  g_object_unref (cancel->select);
  g_free (cancel);
}

/* Runs in the task's main context when its cancellable fires. */
static gboolean
on_get_cancelled (GCancellable *cancellable,
                  gpointer      user_data)
{
  CancelData *cancel = user_data;
  MitogenSelect *self = cancel->select;
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
      /* We are this source's callback: let it end by itself. */
      g_clear_pointer (&found->cancel_source, g_source_unref);
      g_task_return_error_if_cancelled (found->task);
      pending_get_free (found);
    }
  return G_SOURCE_REMOVE;
}

/**
 * mitogen_select_get_async:
 * @self: a select
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called in the calling thread's thread-default
 *   main context when a message is ready
 * @user_data: data for @callback
 *
 * Waits for the next message without blocking. Pending gets are served in
 * the order they were made. Any thread.
 */
void
mitogen_select_get_async (MitogenSelect       *self,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  MitogenMessage *message;
  PendingGet *pending;
  gboolean exhausted = FALSE;

  g_return_if_fail (MITOGEN_IS_SELECT (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  mitogen_stream_flush_coalesced ();
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_select_get_async);

  if (g_task_return_error_if_cancelled (task))
    return;

  message = try_get (self, &exhausted);
  if (message != NULL)
    {
      g_task_return_pointer (task, message, (GDestroyNotify) mitogen_message_unref);
      return;
    }
  if (exhausted)
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED,
                               "Select has no receivers left");
      return;
    }

  pending = g_new0 (PendingGet, 1);
  pending->task = g_steal_pointer (&task);
  if (cancellable != NULL)
    {
      CancelData *cancel = g_new0 (CancelData, 1);

      cancel->select = g_object_ref (self);
      pending->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (pending->cancel_source, G_SOURCE_FUNC (on_get_cancelled),
                             cancel, cancel_data_free);
      g_source_set_static_name (pending->cancel_source, "[mitogen] select get cancel");
      g_source_attach (pending->cancel_source, g_task_get_context (pending->task));
      g_mutex_lock (&self->lock);
      pending->id = cancel->id = ++self->next_pending_id;
    }
  else
    {
      g_mutex_lock (&self->lock);
      pending->id = ++self->next_pending_id;
    }
  g_queue_push_tail (&self->pending, pending);
  /* Whatever became ready (or ended) since try_get () is served now. */
  if (self->ready.length > 0 || self->members->len == 0)
    wake_locked (self);
  g_mutex_unlock (&self->lock);
}

/**
 * mitogen_select_get_finish:
 * @self: a select
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Select.get_async]. Call it in the callback, in
 * the thread that started the get.
 *
 * Returns: (transfer full): the message, or %NULL with @error set as for
 *   [method@Mitogen.Select.get] (or %G_IO_ERROR_CANCELLED)
 */
MitogenMessage *
mitogen_select_get_finish (MitogenSelect  *self,
                           GAsyncResult   *result,
                           GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mitogen_select_get_async, NULL);

  mitogen_stream_note_message_taken ();
  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * mitogen_select_empty:
 * @self: a select
 *
 * The seed's `Select.empty()`: %TRUE if [method@Mitogen.Select.get] would
 * block now. As in the seed, a message may arrive right after, and %FALSE
 * may be returned when another thread drained a member receiver directly.
 * Not to be confused with [method@Mitogen.Select.is_empty]. Any thread.
 *
 * Returns: whether no member has notified since it was last taken from
 */
gboolean
mitogen_select_empty (MitogenSelect *self)
{
  gboolean empty;

  g_return_val_if_fail (MITOGEN_IS_SELECT (self), TRUE);

  g_mutex_lock (&self->lock);
  empty = self->ready.length == 0;
  g_mutex_unlock (&self->lock);
  return empty;
}

/**
 * mitogen_select_is_empty:
 * @self: a select
 *
 * The negation of the seed's `Select.__bool__()`: whether no receiver (or
 * select) is a member any more. Any thread.
 *
 * Returns: %TRUE if the select has no members
 */
gboolean
mitogen_select_is_empty (MitogenSelect *self)
{
  return mitogen_select_get_size (self) == 0;
}

/**
 * mitogen_select_get_size:
 * @self: a select
 *
 * Any thread.
 *
 * Returns: the number of direct members (receivers and selects)
 */
guint
mitogen_select_get_size (MitogenSelect *self)
{
  guint size;

  g_return_val_if_fail (MITOGEN_IS_SELECT (self), 0);

  g_mutex_lock (&self->lock);
  size = self->members->len;
  g_mutex_unlock (&self->lock);
  return size;
}

/**
 * mitogen_select_close:
 * @self: a select
 *
 * The seed's `Select.close()`: removes every member, so each receiver may
 * join another select (or use ::received) again; pending and later gets
 * fail with %MITOGEN_ERROR_CLOSED. Dropping the last reference closes a
 * select too. Any thread.
 */
void
mitogen_select_close (MitogenSelect *self)
{
  GPtrArray *trash;
  GList *failed;

  g_return_if_fail (MITOGEN_IS_SELECT (self));

  trash = g_ptr_array_new_with_free_func (g_object_unref);
  g_mutex_lock (&topology_lock);
  while (self->members->len > 0)
    remove_locked (self, g_ptr_array_index (self->members, self->members->len - 1), trash);

  g_mutex_lock (&self->lock);
  while (self->ready.length > 0)
    g_ptr_array_add (trash, g_queue_pop_head (&self->ready));
  failed = self->pending.head;
  g_queue_init (&self->pending);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  g_mutex_unlock (&topology_lock);

  for (GList *l = failed; l != NULL; l = l->next)
    {
      PendingGet *pending = l->data;

      g_task_return_new_error (pending->task, MITOGEN_ERROR, MITOGEN_ERROR_CLOSED,
                               "Select has no receivers left");
      pending_get_free (pending);
    }
  g_list_free (failed);
  g_ptr_array_unref (trash);
}

/**
 * mitogen_select_all:
 * @receivers: (array length=n_receivers): receivers, e.g. from
 *   [method@Mitogen.Context.begin_call]
 * @n_receivers: the number of @receivers
 * @error: return location for a #GError
 *
 * The seed's `Select.all()`: one value from each receiver, in the order
 * they arrived. Results are gathered as they come, so this is faster than
 * waiting on each receiver in turn. Any thread but a broker's.
 *
 * Returns: (transfer full) (element-type GVariant): the values; %NULL with
 *   %MITOGEN_ERROR_CALL if a reply is a remote error,
 *   %MITOGEN_ERROR_CHANNEL if a receiver's peer went away, or
 *   %MITOGEN_ERROR_INVALID_ARGUMENT if a receiver already belongs to a
 *   select
 */
GPtrArray *
mitogen_select_all (MitogenReceiver **receivers,
                    guint             n_receivers,
                    GError          **error)
{
  g_autoptr(MitogenSelect) select = mitogen_select_new (TRUE);
  g_autoptr(GPtrArray) values = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);

  g_return_val_if_fail (receivers != NULL || n_receivers == 0, NULL);

  for (guint i = 0; i < n_receivers; i++)
    {
      g_return_val_if_fail (MITOGEN_IS_RECEIVER (receivers[i]), NULL);
      if (!mitogen_select_add (select, G_OBJECT (receivers[i]), error))
        return NULL;
    }

  while (!mitogen_select_is_empty (select))
    {
      g_autoptr(MitogenMessage) message = mitogen_select_get (select, -1, error);
      GVariant *value;

      if (message == NULL)
        return NULL;
      value = mitogen_message_get_value (message, error);
      if (value == NULL)
        return NULL;
      g_ptr_array_add (values, value);
    }
  return g_steal_pointer (&values);
}
