/* tsan-glib.c — tells ThreadSanitizer about GLib's synchronisation.
 *
 * GLib is not built with -fsanitize=thread. Its GMutex and GCond are
 * futexes and atomics inside libglib, GAsyncQueue, g_once and the
 * reference counts of GObject, GBytes, GVariant... too: TSan sees none of
 * them, so every hand-off through them looks like a data race in our code
 * (a message queued on the broker thread and read by the caller under the
 * receiver's GMutex, for one). This library, LD_PRELOADed in
 * -Db_sanitize=thread builds only (test_env in tests/meson.build; the
 * agents inherit it; docs/reliability.md), wraps those
 * entry points as our code (and libgobject, libgio, which call them
 * through the PLT) reaches them, and states the happens-before edge each
 * one provides with __tsan_acquire () / __tsan_release () on the object's
 * address, then calls GLib's own function. The edges are the ones GLib
 * provides (a few are a little wider, each says so: readers of a GRWLock
 * see each other's writes), so what it hides is what GLib's own locking
 * prevents.
 *
 * Hand-offs through a GMainContext are stated on the source: attaching
 * releases, and the callback of an idle or timeout source (GSourceFunc:
 * what mitogen_broker_defer () and GTask's returns use) acquires, through
 * a small trampoline. So are GTask's and GThreadPool's worker threads.
 * Not covered: locking inside libglib itself (its own calls do not go
 * through the PLT). So GLib's own memory accesses inside some of these
 * calls are hidden from TSan (__tsan_ignore_thread_begin/end): queue and
 * pool nodes, a main context's arrays, the frees of GBytes and GVariant
 * data; each place says why.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>
#include <glib-object.h>
#include <gio/gio.h>
#include <pthread.h>
#include <sanitizer/tsan_interface.h>

/* libtsan's, not in its header: ignore this thread's memory accesses
 * (frees included) until the matching end. */
void __tsan_ignore_thread_begin (void);
void __tsan_ignore_thread_end (void);

/* This file is built without -fsanitize=thread (tests/meson.build): the
 * preload reaches programs that are not instrumented too (sh, timeout,
 * unshare, mount started by the tests), where libgobject's constructor
 * calls g_rw_lock_writer_lock () before anything is set up. Until our own
 * constructor has run (after libtsan's and GLib's), the wrappers only
 * call GLib. */
static int ready;

__attribute__((constructor)) static void
set_ready (void)
{
  ready = 1;
}

static inline void
acquire (const volatile void *addr)
{
  if (ready)
    __tsan_acquire ((void *) addr);
}

static inline void
release (const volatile void *addr)
{
  if (ready)
    __tsan_release ((void *) addr);
}

static inline void
ignore_begin (void)
{
  if (ready)
    __tsan_ignore_thread_begin ();
}

static inline void
ignore_end (void)
{
  if (ready)
    __tsan_ignore_thread_end ();
}

/* The next definition of @name (GLib's), looked up once; relaxed atomics:
 * every thread stores the same value. */
#define REAL(ret, name, params)                                         \
  static ret (*real_##name) params;                                     \
  static ret (*get_##name (void)) params                                \
  {                                                                     \
    ret (*fn) params = __atomic_load_n (&real_##name, __ATOMIC_RELAXED); \
    if (fn == NULL)                                                     \
      {                                                                 \
        fn = (ret (*) params) dlsym (RTLD_NEXT, #name);                 \
        if (fn == NULL)                                                 \
          {                                                             \
            fprintf (stderr, "tsan-glib: no %s\n", #name);              \
            abort ();                                                   \
          }                                                             \
        __atomic_store_n (&real_##name, fn, __ATOMIC_RELAXED);          \
      }                                                                 \
    return fn;                                                          \
  }

/* --- GMutex, GRecMutex, GRWLock, GCond ------------------------------------ */

/* LOCK, TRYLOCK and UNLOCK of type @T: the lock acquires what the unlock
 * released. For GRWLock's readers that gives more edges than a rwlock
 * does (a reader's release also reaches later readers), never fewer. */
#define WRAP_LOCK(T, LOCK, TRYLOCK, UNLOCK)                             \
  REAL (void, LOCK, (T *))                                              \
  REAL (gboolean, TRYLOCK, (T *))                                       \
  REAL (void, UNLOCK, (T *))                                            \
                                                                        \
  void                                                                  \
  LOCK (T *lock)                                                        \
  {                                                                     \
    get_##LOCK () (lock);                                               \
    acquire (lock);                                                     \
  }                                                                     \
                                                                        \
  gboolean                                                              \
  TRYLOCK (T *lock)                                                     \
  {                                                                     \
    gboolean locked = get_##TRYLOCK () (lock);                          \
                                                                        \
    if (locked)                                                         \
      acquire (lock);                                                   \
    return locked;                                                      \
  }                                                                     \
                                                                        \
  void                                                                  \
  UNLOCK (T *lock)                                                      \
  {                                                                     \
    release (lock);                                                     \
    get_##UNLOCK () (lock);                                             \
  }

WRAP_LOCK (GMutex, g_mutex_lock, g_mutex_trylock, g_mutex_unlock)
WRAP_LOCK (GRecMutex, g_rec_mutex_lock, g_rec_mutex_trylock, g_rec_mutex_unlock)
WRAP_LOCK (GRWLock, g_rw_lock_writer_lock, g_rw_lock_writer_trylock, g_rw_lock_writer_unlock)
WRAP_LOCK (GRWLock, g_rw_lock_reader_lock, g_rw_lock_reader_trylock, g_rw_lock_reader_unlock)

REAL (void, g_cond_wait, (GCond *, GMutex *))
REAL (gboolean, g_cond_wait_until, (GCond *, GMutex *, gint64))

/* The mutex is given up while waiting and taken again. */
void
g_cond_wait (GCond  *cond,
             GMutex *mutex)
{
  release (mutex);
  get_g_cond_wait () (cond, mutex);
  acquire (mutex);
}

gboolean
g_cond_wait_until (GCond  *cond,
                   GMutex *mutex,
                   gint64  end_time)
{
  gboolean signalled;

  release (mutex);
  signalled = get_g_cond_wait_until () (cond, mutex, end_time);
  acquire (mutex);
  return signalled;
}

/* --- g_once ----------------------------------------------------------------- */

REAL (gboolean, g_once_init_enter, (volatile void *))
REAL (void, g_once_init_leave, (volatile void *, gsize))

/* The macro's inline fast path is an acquire load of @location in our
 * (instrumented) code: it pairs with the release below. */
gboolean
(g_once_init_enter) (volatile void *location)
{
  gboolean enter = get_g_once_init_enter () (location);

  if (!enter)
    acquire (location);
  return enter;
}

void
(g_once_init_leave) (volatile void *location,
                     gsize          result)
{
  release (location);
  get_g_once_init_leave () (location, result);
}

/* --- GAsyncQueue -------------------------------------------------------------- */

REAL (void, g_async_queue_push, (GAsyncQueue *, gpointer))
REAL (void, g_async_queue_push_front, (GAsyncQueue *, gpointer))
REAL (gpointer, g_async_queue_pop, (GAsyncQueue *))
REAL (gpointer, g_async_queue_try_pop, (GAsyncQueue *))
REAL (gpointer, g_async_queue_timeout_pop, (GAsyncQueue *, guint64))

void
g_async_queue_push (GAsyncQueue *queue,
                    gpointer     data)
{
  release (queue);
  ignore_begin ();
  get_g_async_queue_push () (queue, data);
  ignore_end ();
}

void
g_async_queue_push_front (GAsyncQueue *queue,
                          gpointer     data)
{
  release (queue);
  ignore_begin ();
  get_g_async_queue_push_front () (queue, data);
  ignore_end ();
}

gpointer
g_async_queue_pop (GAsyncQueue *queue)
{
  gpointer data;

  ignore_begin ();
  data = get_g_async_queue_pop () (queue);
  ignore_end ();

  acquire (queue);
  return data;
}

gpointer
g_async_queue_try_pop (GAsyncQueue *queue)
{
  gpointer data;

  ignore_begin ();
  data = get_g_async_queue_try_pop () (queue);
  ignore_end ();

  if (data != NULL)
    acquire (queue);
  return data;
}

gpointer
g_async_queue_timeout_pop (GAsyncQueue *queue,
                           guint64      timeout)
{
  gpointer data;

  ignore_begin ();
  data = get_g_async_queue_timeout_pop () (queue, timeout);
  ignore_end ();

  if (data != NULL)
    acquire (queue);
  return data;
}

/* --- reference counts ------------------------------------------------------- */

/* An unref is an atomic decrement with acquire-release order: whoever
 * drops the last reference (and frees) sees every other holder's writes.
 * Stated here before GLib's decrement, so two holders dropping at once
 * may miss each other (the one that frees acquired before the other
 * released): GObject and grefcount below do the decrement themselves. */
#define UNREF(type, name)                         \
  REAL (void, name, (type *))                     \
  void                                            \
  name (type *object)                             \
  {                                               \
    if (object != NULL)                           \
      {                                           \
        release (object);                  \
        acquire (object);                  \
      }                                           \
    get_##name () (object);                       \
  }

/* The same, and the frees GLib makes inside hidden from TSan: a GBytes
 * (or a GVariant's serialised data, a GBytes too) is immutable and shared
 * by reference count, but its last holder may drop it through a reference
 * GLib keeps internally (a GVariant's on its GBytes), which no wrapper
 * sees: the free would then look like a race with every earlier reader.
 * A reader without a reference is a use after free, which the ASan run
 * finds. */
#define UNREF_QUIET(type, name)                   \
  REAL (void, name, (type *))                     \
  void                                            \
  name (type *object)                             \
  {                                               \
    if (object != NULL)                           \
      {                                           \
        release (object);                  \
        acquire (object);                  \
      }                                           \
    ignore_begin ();                \
    get_##name () (object);                       \
    ignore_end ();                  \
  }

UNREF_QUIET (GBytes, g_bytes_unref)
UNREF_QUIET (GVariant, g_variant_unref)
UNREF (GHashTable, g_hash_table_unref)
UNREF (GPtrArray, g_ptr_array_unref)
UNREF (GArray, g_array_unref)
UNREF (GByteArray, g_byte_array_unref)
UNREF (GAsyncQueue, g_async_queue_unref)
UNREF (GMainContext, g_main_context_unref)
UNREF (GMainLoop, g_main_loop_unref)
UNREF (GSource, g_source_unref)

/* --- main contexts: idle and timeout sources --------------------------------- */

typedef struct
{
  GSource       *source;
  GSourceFunc    func;
  gpointer       data;
  GDestroyNotify destroy;
} Hop;

static gboolean
hop_dispatch (gpointer data)
{
  Hop *hop = data;

  acquire (hop);
  acquire (hop->source);
  return hop->func (hop->data);
}

static void
hop_destroy (gpointer data)
{
  Hop *hop = data;

  acquire (hop);
  acquire (hop->source);
  if (hop->destroy != NULL)
    hop->destroy (hop->data);
  free (hop);
}

REAL (void, g_source_set_callback, (GSource *, GSourceFunc, gpointer, GDestroyNotify))
REAL (guint, g_source_attach, (GSource *, GMainContext *))

/* Only idle and timeout sources: their callbacks are plain GSourceFuncs
 * (others call theirs with other arguments). */
void
g_source_set_callback (GSource        *source,
                       GSourceFunc     func,
                       gpointer        data,
                       GDestroyNotify  notify)
{
  Hop *hop;

  if (func == NULL || (source->source_funcs != &g_idle_funcs && source->source_funcs != &g_timeout_funcs))
    {
      get_g_source_set_callback () (source, func, data, notify);
      return;
    }
  hop = malloc (sizeof *hop);
  if (hop == NULL)
    abort ();
  *hop = (Hop) { source, func, data, notify };
  release (hop);
  get_g_source_set_callback () (source, hop_dispatch, hop, hop_destroy);
}

/* The context's own arrays, which GLib grows under its lock, are hidden. */
guint
g_source_attach (GSource      *source,
                 GMainContext *context)
{
  guint id;

  release (source);
  ignore_begin ();
  id = get_g_source_attach () (source, context);
  ignore_end ();
  return id;
}

/* --- GTask and GThreadPool workers ------------------------------------------ */

static pthread_mutex_t task_lock = PTHREAD_MUTEX_INITIALIZER;
static GHashTable *task_funcs;   /* GTask -> GTaskThreadFunc, under task_lock */

static void
hop_task (GTask        *task,
          gpointer      source_object,
          gpointer      task_data,
          GCancellable *cancellable)
{
  GTaskThreadFunc func;

  pthread_mutex_lock (&task_lock);
  func = (GTaskThreadFunc) g_hash_table_lookup (task_funcs, task);
  g_hash_table_remove (task_funcs, task);
  pthread_mutex_unlock (&task_lock);
  acquire (task);
  func (task, source_object, task_data, cancellable);
}

REAL (void, g_task_run_in_thread, (GTask *, GTaskThreadFunc))

void
g_task_run_in_thread (GTask           *task,
                      GTaskThreadFunc  task_func)
{
  pthread_mutex_lock (&task_lock);
  if (task_funcs == NULL)
    task_funcs = g_hash_table_new (NULL, NULL);
  g_hash_table_insert (task_funcs, task, (gpointer) task_func);
  pthread_mutex_unlock (&task_lock);
  release (task);
  /* GLib's own allocations for the hand-off are freed on the worker. */
  ignore_begin ();
  get_g_task_run_in_thread () (task, hop_task);
  ignore_end ();
}

typedef struct
{
  GFunc    func;
  gpointer user_data;
} PoolHop;

static void
hop_pool (gpointer data,
          gpointer user_data)
{
  PoolHop *hop = user_data;

  acquire (data);
  hop->func (data, hop->user_data);
}

REAL (GThreadPool *, g_thread_pool_new, (GFunc, gpointer, gint, gboolean, GError **))
REAL (gboolean, g_thread_pool_push, (GThreadPool *, gpointer, GError **))

/* The hop is never freed: pools here live as long as the process. */
GThreadPool *
g_thread_pool_new (GFunc     func,
                   gpointer  user_data,
                   gint      max_threads,
                   gboolean  exclusive,
                   GError  **error)
{
  PoolHop *hop = malloc (sizeof *hop);

  if (hop == NULL)
    abort ();
  *hop = (PoolHop) { func, user_data };
  return get_g_thread_pool_new () (hop_pool, hop, max_threads, exclusive, error);
}

/* The job (@data) is what the worker gets: the edge is on it. */
gboolean
g_thread_pool_push (GThreadPool *pool,
                    gpointer     data,
                    GError     **error)
{
  gboolean pushed;

  release (data);
  /* GLib's queue node is freed by the worker. */
  ignore_begin ();
  pushed = get_g_thread_pool_push () (pool, data, error);
  ignore_end ();
  return pushed;
}

/* --- GObject and grefcount: acquire once the last reference is ours ------------ */

REAL (void, g_object_unref, (gpointer))

/* Every holder releases before its decrement. The decrements that do not
 * drop the last reference are GLib's plain compare-and-swap, made here
 * (this file is not instrumented: TSan sees no access to the count), and
 * whoever finds the count at 1 acquires before GLib disposes and
 * finalizes: the other holders' decrements, and so their releases, came
 * before. (Acquiring before the decrement instead could miss a holder
 * that drops its reference at the same time.) Objects with toggle
 * references, whose 2 -> 1 GLib must notify, and the last reference go to
 * GLib. */
void
g_object_unref (gpointer object)
{
  GObject *gobject = object;
  static GQuark toggle_refs;

  if (ready && gobject != NULL)
    {
      guint old;

      if (__atomic_load_n (&toggle_refs, __ATOMIC_RELAXED) == 0)
        __atomic_store_n (&toggle_refs, g_quark_from_static_string ("GObject-toggle-references"),
                          __ATOMIC_RELAXED);
      release (gobject);
      old = __atomic_load_n (&gobject->ref_count, __ATOMIC_ACQUIRE);
      while (old > 1 && g_object_get_qdata (gobject, toggle_refs) == NULL)
        if (__atomic_compare_exchange_n (&gobject->ref_count, &old, old - 1, FALSE,
                                         __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
          return;
      acquire (gobject);
    }
  get_g_object_unref () (object);
}

/* Our own reference counts (MitogenMessage...) use this one: a function in
 * libglib unless G_DISABLE_CHECKS. GLib's, with the same edges. */
gboolean
(g_atomic_ref_count_dec) (gatomicrefcount *rc)
{
  gint old;

  g_return_val_if_fail (rc != NULL, FALSE);
  release (rc);
  old = __atomic_fetch_sub (rc, 1, __ATOMIC_ACQ_REL);
  g_return_val_if_fail (old > 0, FALSE);
  if (old == 1)
    acquire (rc);
  return old == 1;
}
