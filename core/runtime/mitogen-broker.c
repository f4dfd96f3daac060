/* mitogen-broker.c — MitogenBroker: one thread running one GMainContext
 *
 * All descriptor I/O, framing and routing happen on the broker thread. Other
 * threads hand it work with mitogen_broker_defer (). Shutdown asks every
 * stream to close gracefully, waits up to shutdown-timeout, then forces the
 * rest closed (killing their children) and stops the thread.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-broker"

#include "config.h"

#include <stdlib.h>

#include "mitogen-broker-private.h"
#include "mitogen-stream-private.h"

struct _MitogenBroker
{
  GObject       parent_instance;

  GMainContext *context;           /* (owned) run by the broker thread */
  GMainLoop    *loop;              /* (owned) */
  GThread      *thread;            /* (owned) (nullable) (atomic): NULL once joined */
  double        shutdown_timeout;  /* seconds */

  /* Broker thread only. */
  GPtrArray    *streams;           /* (owned) MitogenStream */
  GSource      *shutdown_timer;    /* (owned) (nullable) */
  gboolean      shutting_down;
  GPtrArray    *held;              /* (owned) objects released once the thread has stopped */

  GMutex        lock;              /* guards running */
  GCond         cond;
  gboolean      running;           /* thread is inside the loop */
};

/**
 * MitogenBroker:
 *
 * One thread running its own [struct@GLib.MainContext]: the seed's `Broker`.
 *
 * All descriptor I/O, framing and routing happen on the broker thread, and
 * nothing there blocks. Other threads hand it work with
 * [method@Mitogen.Broker.defer]. A router made by [ctor@Mitogen.Router.new]
 * owns a private broker; [ctor@Mitogen.Router.new_with_broker] shares one.
 *
 * [method@Mitogen.Broker.shutdown] tells every child to exit, waits up to
 * the shutdown timeout, then kills what is left and stops the thread.
 */
G_DEFINE_FINAL_TYPE (MitogenBroker, mitogen_broker, G_TYPE_OBJECT)

static gpointer
broker_thread_main (gpointer data)
{
  MitogenBroker *self = data;

  g_main_context_push_thread_default (self->context);

  g_mutex_lock (&self->lock);
  self->running = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);

  g_main_loop_run (self->loop);

  /* Whatever is left now gets no grace: kill and reap. */
  while (self->streams->len > 0)
    {
      g_autoptr(MitogenStream) stream = g_object_ref (g_ptr_array_index (self->streams, 0));
      mitogen_stream_force_close (stream, "broker stopped");
      g_ptr_array_remove (self->streams, stream);
    }
  /* Run what closing scheduled (context disconnects, dead deliveries). */
  while (g_main_context_iteration (self->context, FALSE))
    ;

  g_mutex_lock (&self->lock);
  self->running = FALSE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);

  g_main_context_pop_thread_default (self->context);
  /* Off the loop now: whatever was held may finalize here safely. */
  g_clear_pointer (&self->held, g_ptr_array_unref);
  g_object_unref (self);  /* the thread's own reference */
  return NULL;
}

static void
mitogen_broker_dispose (GObject *object)
{
  MitogenBroker *self = MITOGEN_BROKER (object);

  mitogen_broker_shutdown (self);
  mitogen_broker_join (self);

  G_OBJECT_CLASS (mitogen_broker_parent_class)->dispose (object);
}

static void
mitogen_broker_finalize (GObject *object)
{
  MitogenBroker *self = MITOGEN_BROKER (object);

  g_clear_pointer (&self->streams, g_ptr_array_unref);
  g_clear_pointer (&self->loop, g_main_loop_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);

  G_OBJECT_CLASS (mitogen_broker_parent_class)->finalize (object);
}

static void
mitogen_broker_class_init (MitogenBrokerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mitogen_broker_dispose;
  object_class->finalize = mitogen_broker_finalize;
}

static void
mitogen_broker_init (MitogenBroker *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->shutdown_timeout = 3.0;
  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
  self->streams = g_ptr_array_new_with_free_func (g_object_unref);
  self->held = g_ptr_array_new_with_free_func (g_object_unref);
}

/**
 * mitogen_broker_new:
 *
 * Creates a broker and starts its thread.
 *
 * Returns: (transfer full): a running broker
 */
MitogenBroker *
mitogen_broker_new (void)
{
  MitogenBroker *self = g_object_new (MITOGEN_TYPE_BROKER, NULL);

  /* The thread holds a reference until its loop ends: a broker runs until
   * mitogen_broker_shutdown (), which MitogenRouter's dispose calls. */
  g_atomic_pointer_set (&self->thread, g_thread_new ("mitogen-broker", broker_thread_main, g_object_ref (self)));
  mitogen_broker_watch (self);

  g_mutex_lock (&self->lock);
  while (!self->running)
    g_cond_wait (&self->cond, &self->lock);
  g_mutex_unlock (&self->lock);

  return self;
}

/**
 * mitogen_broker_get_main_context:
 * @self: a broker
 *
 * The main context the broker thread runs and pushes as its thread-default.
 * Sources attached to it run on the broker thread, where nothing may block.
 * Any thread.
 *
 * Returns: (transfer none): the main context run by the broker thread
 */
GMainContext *
mitogen_broker_get_main_context (MitogenBroker *self)
{
  return self->context;
}

/**
 * mitogen_broker_is_broker_thread:
 * @self: a broker
 *
 * Tells whether the caller runs on the broker thread, where blocking calls
 * such as [method@Mitogen.Context.call] are refused. Any thread.
 *
 * Returns: whether the calling thread is the broker's thread
 */
gboolean
mitogen_broker_is_broker_thread (MitogenBroker *self)
{
  return g_main_context_is_owner (self->context);
}

/**
 * mitogen_broker_is_running:
 * @self: a broker
 *
 * Tells whether the broker thread is still inside its loop: %FALSE once
 * [method@Mitogen.Broker.shutdown] has finished. Any thread.
 *
 * Returns: whether the broker thread still runs its loop
 */
gboolean
mitogen_broker_is_running (MitogenBroker *self)
{
  gboolean running;

  g_mutex_lock (&self->lock);
  running = self->running;
  g_mutex_unlock (&self->lock);
  return running;
}

/**
 * mitogen_broker_defer:
 * @self: a broker
 * @func: (scope notified) (closure data): what to run on the broker thread;
 *   its return value is ignored
 * @data: data for @func
 * @destroy: (nullable): frees @data afterwards
 *
 * Runs @func on the broker thread soon (the seed's `Broker.defer()`).
 * Any thread; from the broker thread it still runs later, never inline.
 */
void
mitogen_broker_defer (MitogenBroker  *self,
                      GSourceFunc     func,
                      gpointer        data,
                      GDestroyNotify  destroy)
{
  g_autoptr(GSource) source = g_idle_source_new ();

  g_source_set_priority (source, G_PRIORITY_HIGH);
  g_source_set_callback (source, func, data, destroy);
  g_source_set_static_name (source, "[mitogen] broker defer");
  g_source_attach (source, self->context);
}

GSource *
mitogen_broker_attach_timeout (MitogenBroker  *self,
                               guint           ms,
                               GSourceFunc     func,
                               gpointer        data,
                               GDestroyNotify  destroy)
{
  GSource *source = g_timeout_source_new (ms);

  g_source_set_callback (source, func, data, destroy);
  g_source_set_static_name (source, "[mitogen] broker timeout");
  g_source_attach (source, self->context);
  return source;
}

/**
 * mitogen_broker_get_shutdown_timeout:
 * @self: a broker
 *
 * The seed's `Broker.shutdown_timeout`. Any thread.
 *
 * Returns: seconds shutdown waits for streams to close before forcing them
 */
double
mitogen_broker_get_shutdown_timeout (MitogenBroker *self)
{
  return self->shutdown_timeout;
}

/**
 * mitogen_broker_set_shutdown_timeout:
 * @self: a broker
 * @seconds: how long [method@Mitogen.Broker.shutdown] waits for children
 *   to exit before killing them
 *
 * Sets the seed's `Broker.shutdown_timeout`: the grace period children get,
 * after they are told to exit, before [method@Mitogen.Broker.shutdown] kills
 * them. Any thread; it applies to shutdowns that start afterwards.
 */
void
mitogen_broker_set_shutdown_timeout (MitogenBroker *self,
                                     double         seconds)
{
  g_return_if_fail (seconds >= 0);
  self->shutdown_timeout = seconds;
}

/* Broker thread. */
static void
maybe_finish_shutdown (MitogenBroker *self)
{
  if (self->shutting_down && self->streams->len == 0)
    {
      if (self->shutdown_timer != NULL)
        {
          g_source_destroy (self->shutdown_timer);
          g_clear_pointer (&self->shutdown_timer, g_source_unref);
        }
      g_main_loop_quit (self->loop);
    }
}

/* Broker thread. */
static gboolean
shutdown_timeout_cb (gpointer data)
{
  MitogenBroker *self = data;

  g_debug ("shutdown timeout: forcing %u stream(s) closed", self->streams->len);
  g_clear_pointer (&self->shutdown_timer, g_source_unref);
  g_main_loop_quit (self->loop);
  return G_SOURCE_REMOVE;
}

/* Broker thread. */
static gboolean
shutdown_cb (gpointer data)
{
  MitogenBroker *self = data;
  g_autoptr(GPtrArray) streams = NULL;

  if (self->shutting_down)
    return G_SOURCE_REMOVE;
  self->shutting_down = TRUE;

  streams = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < self->streams->len; i++)
    g_ptr_array_add (streams, g_object_ref (g_ptr_array_index (self->streams, i)));
  for (guint i = 0; i < streams->len; i++)
    mitogen_stream_shutdown (g_ptr_array_index (streams, i));

  if (self->streams->len > 0)
    self->shutdown_timer = mitogen_broker_attach_timeout (self, (guint) (self->shutdown_timeout * 1000),
                                                          shutdown_timeout_cb, self, NULL);
  maybe_finish_shutdown (self);
  return G_SOURCE_REMOVE;
}

/**
 * mitogen_broker_shutdown:
 * @self: a broker
 *
 * Asks every stream to close: children are told to exit and get
 * shutdown-timeout seconds to do so before they are killed. Returns at once;
 * [method@Mitogen.Broker.join] waits. Any thread.
 */
void
mitogen_broker_shutdown (MitogenBroker *self)
{
  g_return_if_fail (MITOGEN_IS_BROKER (self));

  g_mutex_lock (&self->lock);
  if (self->running)
    mitogen_broker_defer (self, shutdown_cb, g_object_ref (self), g_object_unref);
  g_mutex_unlock (&self->lock);
}

/**
 * mitogen_broker_join:
 * @self: a broker
 *
 * Waits for the broker thread to finish after
 * [method@Mitogen.Broker.shutdown]. Any thread; on the broker thread itself
 * it returns at once and the thread ends when its loop does.
 */
void
mitogen_broker_join (MitogenBroker *self)
{
  GThread *thread;

  g_return_if_fail (MITOGEN_IS_BROKER (self));

  /* Atomic: the atexit watcher and a router's dispose on the broker
   * thread itself may join at the same time; one of them gets it. */
  thread = g_atomic_pointer_exchange (&self->thread, NULL);
  if (thread == NULL)
    return;
  if (thread == g_thread_self ())
    {
      g_thread_unref (thread);
      return;
    }
  g_thread_join (thread);
}

/* Broker thread: keeps a reference to @object until the thread has left
 * its loop. An object whose last reference goes on the broker thread uses
 * this to finish its teardown off the loop (MitogenRouter's dispose). */
void
mitogen_broker_hold_until_stopped (MitogenBroker *self,
                                   GObject       *object)
{
  mitogen_assert_broker_thread (self);
  g_ptr_array_add (self->held, g_object_ref (object));
}

void
mitogen_broker_add_stream (MitogenBroker *self,
                           MitogenStream *stream)
{
  g_ptr_array_add (self->streams, g_object_ref (stream));
}

void
mitogen_broker_remove_stream (MitogenBroker *self,
                              MitogenStream *stream)
{
  g_ptr_array_remove (self->streams, stream);
  maybe_finish_shutdown (self);
}

/* --- keep_alive, pausing streams, watching the process (the seed's Broker) */

typedef struct
{
  gatomicrefcount  ref_count;
  MitogenBroker   *broker;  /* (unowned) the callback only runs while the waiter waits */
  gboolean         done;    /* guarded by the broker's lock */
  gboolean         alive;
} AliveQuery;

static void
alive_query_unref (gpointer data)
{
  AliveQuery *query = data;

  if (g_atomic_ref_count_dec (&query->ref_count))
    g_free (query);
}

/* Broker thread. */
static gboolean
alive_query_cb (gpointer data)
{
  AliveQuery *query = data;
  MitogenBroker *self = query->broker;

  g_mutex_lock (&self->lock);
  query->alive = self->streams->len > 0;
  query->done = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  return G_SOURCE_REMOVE;
}

/**
 * mitogen_broker_keep_alive:
 * @self: a broker
 *
 * The seed's `Broker.keep_alive()`: whether any stream is still open on
 * this broker (a stream leaves the broker once it is closed and its child
 * is reaped). Any thread; off the broker thread it waits for the broker to
 * answer.
 *
 * Returns: %TRUE while the broker has work: some stream is open
 */
gboolean
mitogen_broker_keep_alive (MitogenBroker *self)
{
  AliveQuery *query;
  gboolean alive;

  g_return_val_if_fail (MITOGEN_IS_BROKER (self), FALSE);

  if (mitogen_broker_is_broker_thread (self))
    return self->streams->len > 0;

  query = g_new0 (AliveQuery, 1);
  g_atomic_ref_count_init (&query->ref_count);
  g_atomic_ref_count_inc (&query->ref_count);  /* the source's */
  query->broker = self;

  g_mutex_lock (&self->lock);
  if (self->running)
    mitogen_broker_defer (self, alive_query_cb, query, alive_query_unref);
  else
    alive_query_unref (query);  /* never attached */
  /* The thread broadcasts when it leaves its loop, too: a query it never
   * ran answers FALSE (streams left then were forced closed). */
  while (!query->done && self->running)
    g_cond_wait (&self->cond, &self->lock);
  alive = query->done && query->alive;
  g_mutex_unlock (&self->lock);

  alive_query_unref (query);
  return alive;
}

/* Any thread. */
static gboolean
check_stream (MitogenBroker *self,
              MitogenStream *stream)
{
  g_return_val_if_fail (MITOGEN_IS_BROKER (self), FALSE);
  g_return_val_if_fail (MITOGEN_IS_STREAM (stream), FALSE);
  return TRUE;
}

/**
 * mitogen_broker_stop_receive:
 * @self: a broker
 * @stream: a stream of @self, e.g. from [method@Mitogen.Router.stream_by_id]
 *
 * The seed's `Broker.stop_receive()`: stop reading @stream. Frames the
 * peer sends wait in the kernel (and then the peer's queue, which bounds
 * its memory); the peer leaving is not noticed until reading resumes.
 * Takes effect at once. Any thread.
 */
void
mitogen_broker_stop_receive (MitogenBroker *self,
                             MitogenStream *stream)
{
  if (check_stream (self, stream))
    mitogen_stream_set_read_paused (stream, TRUE);
}

/**
 * mitogen_broker_start_receive:
 * @self: a broker
 * @stream: a stream of @self
 *
 * The seed's `Broker.start_receive()`: resume reading @stream after
 * [method@Mitogen.Broker.stop_receive]. Streams read from the start; this
 * only undoes a stop. Any thread.
 */
void
mitogen_broker_start_receive (MitogenBroker *self,
                              MitogenStream *stream)
{
  if (check_stream (self, stream))
    mitogen_stream_set_read_paused (stream, FALSE);
}

/**
 * mitogen_broker_stop_transmit:
 * @self: a broker
 * @stream: a stream of @self
 *
 * The seed's `Broker.stop_transmit()`: stop writing @stream. Messages for
 * it are queued instead; a thread other than the broker's that sends to
 * it blocks once more than 8 MiB is queued. Takes effect at once. Any
 * thread.
 */
void
mitogen_broker_stop_transmit (MitogenBroker *self,
                              MitogenStream *stream)
{
  if (check_stream (self, stream))
    mitogen_stream_set_write_paused (stream, TRUE);
}

/**
 * mitogen_broker_start_transmit:
 * @self: a broker
 * @stream: a stream of @self
 *
 * The seed's `Broker.start_transmit()`: resume writing @stream after
 * [method@Mitogen.Broker.stop_transmit]; what was queued meanwhile is
 * written by the broker thread. Writing needs no start otherwise (a
 * sender writes directly when nothing is queued). Any thread.
 */
void
mitogen_broker_start_transmit (MitogenBroker *self,
                               MitogenStream *stream)
{
  if (check_stream (self, stream))
    mitogen_stream_set_write_paused (stream, FALSE);
}

/* The seed's master-broker watcher (Broker(install_watcher=True)): a
 * program that exits (exit (), or returning from main ()) while a broker
 * still runs has it shut down from an atexit handler, so children are
 * told to exit, given the shutdown timeout, and reaped. */

static GMutex watched_lock;
static GSList *watched;  /* (owned) GWeakRef * to MitogenBroker; guarded by watched_lock */

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

/* The thread that calls exit (). */
static void
shutdown_watched_brokers (void)
{
  GSList *list;

  g_mutex_lock (&watched_lock);
  list = g_steal_pointer (&watched);
  g_mutex_unlock (&watched_lock);

  for (GSList *l = list; l != NULL; l = l->next)
    {
      g_autoptr(MitogenBroker) broker = g_weak_ref_get (l->data);

      if (broker == NULL || !mitogen_broker_is_running (broker) || mitogen_broker_is_broker_thread (broker))
        continue;
      g_debug ("exiting with a broker still running: shutting it down");
      mitogen_broker_shutdown (broker);
      mitogen_broker_join (broker);
    }
  g_slist_free_full (list, weak_ref_free);
}

/* Any thread: @self is shut down at exit if it still runs then. */
void
mitogen_broker_watch (MitogenBroker *self)
{
  static gsize once;
  g_autoptr(GPtrArray) alive = g_ptr_array_new_with_free_func (g_object_unref);
  GWeakRef *ref;
  GSList *next;

  if (g_once_init_enter (&once))
    {
      atexit (shutdown_watched_brokers);
      g_once_init_leave (&once, 1);
    }

  ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, self);

  g_mutex_lock (&watched_lock);
  /* Forget brokers that are gone. */
  for (GSList *l = watched; l != NULL; l = next)
    {
      GObject *object = g_weak_ref_get (l->data);

      next = l->next;
      if (object != NULL)
        {
          /* Released after the lock: it may be the last reference. */
          g_ptr_array_add (alive, object);
          continue;
        }
      weak_ref_free (l->data);
      watched = g_slist_delete_link (watched, l);
    }
  watched = g_slist_prepend (watched, ref);
  g_mutex_unlock (&watched_lock);
}
