/* mitogen-buffer-pool.c — recycled buffers for large frames
 *
 * A frame too large for a stream's read buffer is read into a buffer of
 * its own, and that buffer becomes the message's payload without a copy.
 * Fresh memory of that size comes from mmap (), and every one of its
 * pages faults on first touch: on a virtual machine that costs more than
 * the copy out of the socket, and bulk transfers ran at a tenth of what
 * the descriptor can move. So the buffers are recycled: when the last
 * reference to a payload goes (on whatever thread), its buffer returns
 * here, and the next large frame of about the same size reuses it, its
 * pages already mapped. The pool is process-wide, bounded (a few
 * megabytes, a few buffers) and only ever holds memory a transfer
 * already used.
 *
 * Each buffer carries its capacity (and, while pooled, when it was given
 * back) in a 16-byte header in front of the data, so the data stays
 * 16-byte aligned (GVariant copies misaligned data) and a payload's free
 * function needs nothing but the pointer. A buffer nobody has taken for
 * MITOGEN_BUFFER_POOL_IDLE_USEC is freed at the next use of the pool, and
 * mitogen_router_shutdown () empties it.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-buffer-pool"

#include "config.h"

#include <string.h>

#include "mitogen-buffer-pool-private.h"

#define HEADER 16u

G_STATIC_ASSERT (sizeof (gsize) + sizeof (gint64) <= HEADER);

static GMutex  pool_lock;
static GSList *pool;        /* guarded by pool_lock: (owned) buffers, as allocated */
static gsize   pool_bytes;  /* guarded by pool_lock */
static guint   pool_count;  /* guarded by pool_lock */

static inline guint8 *
base_of (guint8 *buffer)
{
  return buffer - HEADER;
}

/* Any thread. */
gsize
mitogen_buffer_pool_capacity (const guint8 *buffer)
{
  gsize capacity;

  memcpy (&capacity, buffer - HEADER, sizeof capacity);
  return capacity;
}

static gint64
given_at (const guint8 *buffer)
{
  gint64 when;

  memcpy (&when, buffer - HEADER + sizeof (gsize), sizeof when);
  return when;
}

/* pool_lock held: unlinks the buffers idle too long into @expired. */
static void
expire_locked (GSList **expired)
{
  gint64 now = g_get_monotonic_time ();
  GSList *l = pool;

  while (l != NULL)
    {
      GSList *next = l->next;

      if (now - given_at (l->data) >= MITOGEN_BUFFER_POOL_IDLE_USEC)
        {
          pool_bytes -= mitogen_buffer_pool_capacity (l->data);
          pool_count--;
          *expired = g_slist_prepend (*expired, l->data);
          pool = g_slist_delete_link (pool, l);
        }
      l = next;
    }
}

static void
free_all (GSList *buffers)
{
  for (GSList *l = buffers; l != NULL; l = l->next)
    g_free (base_of (l->data));
  g_slist_free (buffers);
}

static guint8 *
buffer_alloc (gsize capacity)
{
  guint8 *base = g_malloc (HEADER + capacity);

  memcpy (base, &capacity, sizeof capacity);
  return base + HEADER;
}

/* Any thread. A new buffer of @size bytes, for the pool. */
guint8 *
mitogen_buffer_pool_alloc (gsize size)
{
  g_return_val_if_fail (size <= G_MAXSIZE - HEADER, NULL);
  return buffer_alloc (size);
}

/* Any thread. A recycled buffer of at least @size bytes (and at most
 * twice that, or @size plus MITOGEN_BUFFER_POOL_MIN for small ones), or
 * %NULL if the pool has none: its pages are mapped already, so taking it
 * costs no memory the process did not have. */
guint8 *
mitogen_buffer_pool_try_take (gsize size)
{
  guint8 *found = NULL;
  GSList *expired = NULL;
  gsize limit = size > G_MAXSIZE / 2 ? G_MAXSIZE : MAX (size * 2, size + MITOGEN_BUFFER_POOL_MIN);

  g_mutex_lock (&pool_lock);
  expire_locked (&expired);
  for (GSList *l = pool; l != NULL; l = l->next)
    {
      gsize capacity = mitogen_buffer_pool_capacity (l->data);

      if (capacity >= size && capacity <= limit &&
          (found == NULL || capacity < mitogen_buffer_pool_capacity (found)))
        found = l->data;
    }
  if (found != NULL)
    {
      pool = g_slist_remove (pool, found);
      pool_bytes -= mitogen_buffer_pool_capacity (found);
      pool_count--;
    }
  g_mutex_unlock (&pool_lock);
  free_all (expired);
  return found;
}

/* Any thread. @buffer (from this pool) with room for @size bytes: the
 * contents up to its old capacity are kept. */
guint8 *
mitogen_buffer_pool_grow (guint8 *buffer,
                          gsize   size)
{
  guint8 *base;

  if (mitogen_buffer_pool_capacity (buffer) >= size)
    return buffer;
  g_return_val_if_fail (size <= G_MAXSIZE - HEADER, NULL);
  base = g_realloc (base_of (buffer), HEADER + size);
  memcpy (base, &size, sizeof size);
  return base + HEADER;
}

/* Any thread. Returns @buffer to the pool, or frees it if the pool is
 * full or it is too small to be worth keeping. */
void
mitogen_buffer_pool_give (guint8 *buffer)
{
  GSList *expired = NULL;
  gsize capacity;

  if (buffer == NULL)
    return;
  capacity = mitogen_buffer_pool_capacity (buffer);
  if (capacity >= MITOGEN_BUFFER_POOL_MIN && capacity <= MITOGEN_BUFFER_POOL_BYTES)
    {
      gint64 now = g_get_monotonic_time ();

      memcpy (buffer - HEADER + sizeof (gsize), &now, sizeof now);
      g_mutex_lock (&pool_lock);
      expire_locked (&expired);
      if (pool_count < MITOGEN_BUFFER_POOL_COUNT && pool_bytes + capacity <= MITOGEN_BUFFER_POOL_BYTES)
        {
          pool = g_slist_prepend (pool, buffer);
          pool_bytes += capacity;
          pool_count++;
          buffer = NULL;
        }
      g_mutex_unlock (&pool_lock);
    }
  free_all (expired);
  if (buffer != NULL)
    g_free (base_of (buffer));
}

static void
give_cb (gpointer data)
{
  mitogen_buffer_pool_give (data);
}

/* Any thread. Returns: (transfer full): the first @size bytes of
 * @buffer (taken) as bytes that give the buffer back when freed. */
GBytes *
mitogen_buffer_pool_to_bytes (guint8 *buffer,
                              gsize   size)
{
  g_return_val_if_fail (size <= mitogen_buffer_pool_capacity (buffer), NULL);
  return g_bytes_new_with_free_func (buffer, size, give_cb, buffer);
}

/* Any thread: frees everything the pool holds. */
void
mitogen_buffer_pool_clear (void)
{
  GSList *held;

  g_mutex_lock (&pool_lock);
  held = g_steal_pointer (&pool);
  pool_bytes = 0;
  pool_count = 0;
  g_mutex_unlock (&pool_lock);

  free_all (held);
}

/* Any thread: the bytes the pool holds now. */
gsize
mitogen_buffer_pool_get_bytes (void)
{
  gsize bytes;

  g_mutex_lock (&pool_lock);
  bytes = pool_bytes;
  g_mutex_unlock (&pool_lock);
  return bytes;
}
