/* mitogen-router.c — MitogenRouter: routes, handles, security, factories
 *
 * The router owns the route table (context id -> stream), the handler table
 * (handle -> function run on the broker thread) and the contexts it knows.
 * Every frame a stream reads comes here (broker thread): it is checked
 * (auth_id and src_id must be reachable through the stream it came in on),
 * then handed to a local handler or forwarded. mitogen_router_route () lets
 * any thread send; the stream writes directly when it can.
 *
 * Lock order: router->lock, then a stream's write lock. Handlers run with
 * no lock held.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-router"

#include "config.h"

#include <signal.h>
#include <string.h>

#include "mitogen-broker-private.h"
#include "mitogen-buffer-pool-private.h"
#include "mitogen-context-private.h"
#include "mitogen-message-private.h"
#include "mitogen-protocol-private.h"
#include "mitogen-receiver-private.h"
#include "mitogen-router-private.h"
#include "mitogen-stream-private.h"
#include "mitogen-utils-private.h"

typedef struct
{
  gatomicrefcount     ref_count;
  guint32             handle;
  gboolean            persist;
  guint32             respondent_id;  /* MITOGEN_NO_RESPONDENT: none */
  MitogenHandlerFunc  func;
  gpointer            data;
  GDestroyNotify      destroy;
} Handler;

struct _MitogenRouter
{
  GObject         parent_instance;

  MitogenBroker  *broker;          /* (owned) */
  gboolean        owns_broker;     /* made by mitogen_router_new (): stopped on dispose */
  gboolean        is_master;
  guint32         context_id;      /* our own id; 0 in the master */
  char           *name;            /* (owned) our own context name */
  GArray         *parent_ids;      /* (owned) guint32, nearest parent first; empty in the master */
  GCallback       parent_lost;     /* (nullable) agent: void (*) (gpointer) */
  gpointer        parent_lost_data;

  GMutex          lock;            /* guards everything below */
  GCond           cond;            /* a context disconnected */
  GHashTable     *routes;          /* (owned) id -> MitogenStream (owned) */
  GHashTable     *handlers;        /* (owned) handle -> Handler (owned) */
  GHashTable     *contexts;        /* (owned) id -> MitogenContext (owned) */
  MitogenStream  *parent_stream;   /* (owned) (nullable) agent: the default route */
  guint32         next_handle;
  MitogenIdState  ids;              /* connect/mitogen-ids.c's: has its own lock */
  gint            debug_default;    /* (atomic) enable_debug (): contexts started from now on debug */
  gint            profiling_default; /* (atomic) set_profiling () */
  const char     *default_agent;   /* (atomic) (nullable) interned: set_default_agent (); NULL is "stock" */
  MitogenInteraction *interaction; /* (owned) (nullable) guarded by @lock */
  gboolean        disposed;
  double          keepalive_interval;  /* the keepalive-interval property */
  guint           keepalive_count;     /* the keepalive-count property */
};

typedef enum
{
  PROP_KEEPALIVE_INTERVAL = 1,
  PROP_KEEPALIVE_COUNT,
  PROP_INTERACTION,
} MitogenRouterProperty;

static GParamSpec *props[PROP_INTERACTION + 1];

/**
 * MitogenRouter:
 *
 * The seed's `Router`: the route table, the handles of this process's
 * receivers, and the contexts it knows.
 *
 * A router starts contexts ([method@Mitogen.Router.connect],
 * [method@Mitogen.Router.local]) and routes every message: those its streams
 * read are checked (their source and authority must be reachable through the
 * stream they came in on) and delivered to a local receiver or forwarded.
 * Any thread may send with [method@Mitogen.Router.route].
 *
 * The router owns its broker (when made by [ctor@Mitogen.Router.new]) and
 * its contexts: dropping the last reference shuts the tree down.
 */
G_DEFINE_FINAL_TYPE (MitogenRouter, mitogen_router, G_TYPE_OBJECT)

static void add_route_handlers (MitogenRouter *self);

static Handler *
handler_ref (Handler *handler)
{
  g_atomic_ref_count_inc (&handler->ref_count);
  return handler;
}

static void
handler_unref (Handler *handler)
{
  if (!g_atomic_ref_count_dec (&handler->ref_count))
    return;
  if (handler->destroy != NULL)
    handler->destroy (handler->data);
  g_free (handler);
}

/* Broker thread: re-emits a forwarded log record with its context's name. */
static void
on_forward_log (MitogenRouter  *self,
                MitogenMessage *message,
                gpointer        user_data)
{
  GVariant *value = mitogen_message_peek_value (message);
  g_autoptr(MitogenContext) context = NULL;
  const char *domain, *text;
  g_autofree char *line = NULL;
  gint32 level;
  GLogLevelFlags flags;

  if (value == NULL || !g_variant_is_of_type (value, G_VARIANT_TYPE ("(sis)")))
    return;
  mitogen_assert_broker_thread (self->broker);
  g_variant_get (value, "(&si&s)", &domain, &level, &text);

  flags = (GLogLevelFlags) level & G_LOG_LEVEL_MASK;
  if (flags == 0)
    flags = G_LOG_LEVEL_MESSAGE;
  /* A child's fatal error must not abort the master. */
  if (flags & G_LOG_LEVEL_ERROR)
    flags = G_LOG_LEVEL_CRITICAL;

  context = mitogen_router_context_by_id (self, mitogen_message_get_src_id (message));
  line = g_strdup_printf ("[%s] %s",
                          context != NULL ? mitogen_context_get_name (context) : "?", text);
  {
    const GLogField fields[] = {
      { "GLIB_DOMAIN", domain[0] != '\0' ? domain : "mitogen-agent", -1 },
      { "MESSAGE", line, -1 },
      { "MITOGEN_CONTEXT_ID", NULL, 0 },
    };
    g_autofree char *id = g_strdup_printf ("%u", mitogen_message_get_src_id (message));
    GLogField copy[G_N_ELEMENTS (fields)];

    memcpy (copy, fields, sizeof fields);
    copy[2].value = id;
    copy[2].length = -1;
    g_log_structured_array (flags, copy, G_N_ELEMENTS (copy));
  }
}

static void
mitogen_router_dispose (GObject *object)
{
  MitogenRouter *self = MITOGEN_ROUTER (object);
  g_autoptr(GList) handlers = NULL;
  g_autoptr(GPtrArray) contexts = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer value;

  if (self->owns_broker && mitogen_broker_is_broker_thread (self->broker))
    {
      /* The last reference went on our own broker thread (a task or a
       * source let go of it there). The broker cannot be joined from
       * inside: keep ourselves alive until its thread has stopped, and
       * finish this dispose then. */
      mitogen_broker_hold_until_stopped (self->broker, object);
      mitogen_broker_shutdown (self->broker);
      return;
    }

  mitogen_router_shutdown (self);

  /* Nothing will arrive any more: wake whoever still waits. */
  g_mutex_lock (&self->lock);
  self->disposed = TRUE;
  g_hash_table_iter_init (&iter, self->handlers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      handlers = g_list_prepend (handlers, value);
      g_hash_table_iter_steal (&iter);
    }
  g_hash_table_iter_init (&iter, self->contexts);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (contexts, g_object_ref (value));
  g_hash_table_remove_all (self->contexts);
  g_hash_table_remove_all (self->routes);
  g_clear_object (&self->parent_stream);
  g_mutex_unlock (&self->lock);

  for (guint i = 0; i < contexts->len; i++)
    mitogen_context_mark_disconnected (g_ptr_array_index (contexts, i));

  for (GList *l = handlers; l != NULL; l = l->next)
    {
      Handler *handler = l->data;
      g_autoptr(MitogenMessage) dead = mitogen_message_new_dead (self->context_id, handler->handle);

      dead->header.src_id = handler->respondent_id != MITOGEN_NO_RESPONDENT ? handler->respondent_id : self->context_id;
      handler->func (self, dead, handler->data);
      handler_unref (handler);
    }

  G_OBJECT_CLASS (mitogen_router_parent_class)->dispose (object);
}

static void
mitogen_router_finalize (GObject *object)
{
  MitogenRouter *self = MITOGEN_ROUTER (object);

  g_clear_pointer (&self->routes, g_hash_table_unref);
  g_clear_pointer (&self->handlers, g_hash_table_unref);
  g_clear_pointer (&self->contexts, g_hash_table_unref);
  g_clear_pointer (&self->parent_ids, g_array_unref);
  g_clear_pointer (&self->name, g_free);
  g_clear_object (&self->interaction);
  g_clear_object (&self->broker);
  g_mutex_clear (&self->lock);
  g_mutex_clear (&self->ids.lock);
  g_cond_clear (&self->cond);

  G_OBJECT_CLASS (mitogen_router_parent_class)->finalize (object);
}

static void
mitogen_router_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  MitogenRouter *self = MITOGEN_ROUTER (object);
  double interval;
  guint count;

  mitogen_router_get_keepalive (self, &interval, &count);
  switch ((MitogenRouterProperty) prop_id)
    {
    case PROP_KEEPALIVE_INTERVAL:
      g_value_set_double (value, interval);
      break;
    case PROP_KEEPALIVE_COUNT:
      g_value_set_uint (value, count);
      break;
    case PROP_INTERACTION:
      g_value_take_object (value, mitogen_router_dup_interaction (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_router_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  MitogenRouter *self = MITOGEN_ROUTER (object);

  switch ((MitogenRouterProperty) prop_id)
    {
    case PROP_KEEPALIVE_INTERVAL:
      /* Below the minimum (but not 0) is taken as the minimum. */
      g_mutex_lock (&self->lock);
      self->keepalive_interval = g_value_get_double (value);
      if (self->keepalive_interval > 0 && self->keepalive_interval < MITOGEN_KEEPALIVE_MIN_INTERVAL)
        self->keepalive_interval = MITOGEN_KEEPALIVE_MIN_INTERVAL;
      g_mutex_unlock (&self->lock);
      break;
    case PROP_KEEPALIVE_COUNT:
      g_mutex_lock (&self->lock);
      self->keepalive_count = g_value_get_uint (value);
      g_mutex_unlock (&self->lock);
      break;
    case PROP_INTERACTION:
      mitogen_router_set_interaction (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_router_class_init (MitogenRouterClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  object_class->dispose = mitogen_router_dispose;
  object_class->finalize = mitogen_router_finalize;
  object_class->get_property = mitogen_router_get_property;
  object_class->set_property = mitogen_router_set_property;

  /**
   * MitogenRouter:keepalive-interval:
   *
   * Seconds of silence from a neighbour after which a stream sends it a
   * keepalive (docs/protocol.md, "Keepalive"); a stream that hears nothing
   * at all for keepalive-interval x [property@Mitogen.Router:keepalive-count]
   * is disconnected and its pending calls fail with
   * %MITOGEN_ERROR_CHANNEL naming the keepalive. 0 turns keepalives off.
   * The default for the contexts this router starts from then on, both
   * directions of their streams; a connect's `keepalive_interval` option
   * overrides it, and contexts started through `via` inherit it. Default
   * 30 s.
   */
  props[PROP_KEEPALIVE_INTERVAL] =
    g_param_spec_double ("keepalive-interval", NULL, NULL,
                         0, MITOGEN_KEEPALIVE_MAX_INTERVAL, MITOGEN_KEEPALIVE_DEFAULT_INTERVAL, rw);
  /**
   * MitogenRouter:keepalive-count:
   *
   * How many keepalive intervals of complete silence disconnect a stream
   * (see [property@Mitogen.Router:keepalive-interval]); at least 2.
   * Default 3.
   */
  props[PROP_KEEPALIVE_COUNT] =
    g_param_spec_uint ("keepalive-count", NULL, NULL,
                       MITOGEN_KEEPALIVE_MIN_COUNT, MITOGEN_KEEPALIVE_MAX_COUNT,
                       MITOGEN_KEEPALIVE_DEFAULT_COUNT, rw);
  /**
   * MitogenRouter:interaction: (getter get_interaction) (setter set_interaction)
   *
   * What connects started from now on ask when their options do not
   * answer (a password, an unknown host key), or %NULL.
   */
  props[PROP_INTERACTION] =
    g_param_spec_object ("interaction", NULL, NULL, MITOGEN_TYPE_INTERACTION,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, G_N_ELEMENTS (props), props);
}

/* Any thread: the keepalive defaults of the contexts this router starts. */
void
mitogen_router_get_keepalive (MitogenRouter *self,
                              double        *interval,
                              guint         *count)
{
  g_mutex_lock (&self->lock);
  *interval = self->keepalive_interval;
  *count = self->keepalive_count;
  g_mutex_unlock (&self->lock);
}

static void
mitogen_router_init (MitogenRouter *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->routes = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
  self->handlers = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) handler_unref);
  self->contexts = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
  self->parent_ids = g_array_new (FALSE, FALSE, sizeof (guint32));
  self->next_handle = MITOGEN_HANDLE_FIRST_USER;
  g_mutex_init (&self->ids.lock);
  self->ids.next = 1;
  self->name = g_strdup ("master");
  self->keepalive_interval = MITOGEN_KEEPALIVE_DEFAULT_INTERVAL;
  self->keepalive_count = MITOGEN_KEEPALIVE_DEFAULT_COUNT;

  /* Writes to a pipe whose reader died must fail with EPIPE, not kill us.
   * Sockets use MSG_NOSIGNAL; this covers the pipes of other transports. */
  {
    struct sigaction old;
    if (sigaction (SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
      signal (SIGPIPE, SIG_IGN);
  }
}

/**
 * mitogen_router_new_with_broker:
 * @broker: a running broker
 *
 * Creates a master router on an existing broker. The caller stays
 * responsible for shutting the broker down.
 *
 * Returns: (transfer full): a new router
 */
MitogenRouter *
mitogen_router_new_with_broker (MitogenBroker *broker)
{
  MitogenRouter *self;

  g_return_val_if_fail (MITOGEN_IS_BROKER (broker), NULL);

  self = g_object_new (MITOGEN_TYPE_ROUTER, NULL);
  self->broker = g_object_ref (broker);
  self->is_master = TRUE;
  mitogen_router_add_handler_full (self, MITOGEN_HANDLE_FORWARD_LOG, TRUE, MITOGEN_NO_RESPONDENT,
                                   on_forward_log, NULL, NULL);
  add_route_handlers (self);
  return self;
}

/**
 * mitogen_router_new:
 *
 * Creates a master router with a private broker (the seed's
 * `master.Router()`). Dropping the last reference shuts everything down:
 * children are asked to exit, and killed after the broker's
 * shutdown-timeout.
 *
 * Returns: (transfer full): a new router
 */
MitogenRouter *
mitogen_router_new (void)
{
  g_autoptr(MitogenBroker) broker = mitogen_broker_new ();
  MitogenRouter *self = mitogen_router_new_with_broker (broker);

  self->owns_broker = TRUE;
  return self;
}

MitogenRouter *
mitogen_router_new_agent (MitogenBroker *broker)
{
  MitogenRouter *self = g_object_new (MITOGEN_TYPE_ROUTER, NULL);

  self->broker = g_object_ref (broker);
  self->owns_broker = TRUE;
  self->is_master = FALSE;
  add_route_handlers (self);
  return self;
}

/**
 * mitogen_router_get_broker:
 * @self: a router
 *
 * The broker whose thread does this router's I/O: a private one made by
 * [ctor@Mitogen.Router.new], or the one given to
 * [ctor@Mitogen.Router.new_with_broker]. Any thread.
 *
 * Returns: (transfer none): the router's broker
 */
MitogenBroker *
mitogen_router_get_broker (MitogenRouter *self)
{
  return self->broker;
}

/**
 * mitogen_router_get_context_id:
 * @self: a router
 *
 * The id of the context this router serves: 0 in the master, the context's
 * own id in an agent. Any thread.
 *
 * Returns: the id of the context this router runs in (0 in the master)
 */
guint32
mitogen_router_get_context_id (MitogenRouter *self)
{
  return self->context_id;
}

const char *
mitogen_router_get_name (MitogenRouter *self)
{
  return self->name;
}

/**
 * mitogen_router_shutdown:
 * @self: a router
 *
 * Shuts down the router's private broker and waits for it: children are
 * told to exit, killed after the shutdown-timeout, and reaped. Pending calls
 * fail with %MITOGEN_ERROR_CHANNEL. A router on a shared broker only stops
 * routing. Any thread but the broker's.
 */
void
mitogen_router_shutdown (MitogenRouter *self)
{
  g_return_if_fail (MITOGEN_IS_ROUTER (self));

  if (self->broker != NULL && self->owns_broker)
    {
      mitogen_broker_shutdown (self->broker);
      mitogen_broker_join (self->broker);
    }
  /* The big-frame buffers kept for reuse go back to the allocator: a
   * program done with its contexts returns to its baseline. */
  mitogen_buffer_pool_clear ();
}

/**
 * mitogen_router_allocate_handle:
 * @self: a router
 *
 * Reserves a fresh handle, from %MITOGEN_HANDLE_FIRST_USER up, for a
 * receiver or a handler. Any thread.
 *
 * Returns: a handle no other receiver of this router uses
 */
guint32
mitogen_router_allocate_handle (MitogenRouter *self)
{
  guint32 handle;

  g_mutex_lock (&self->lock);
  do
    {
      handle = self->next_handle++;
      if (self->next_handle == 0)
        self->next_handle = MITOGEN_HANDLE_FIRST_USER;
    }
  while (g_hash_table_contains (self->handlers, GUINT_TO_POINTER (handle)));
  g_mutex_unlock (&self->lock);
  return handle;
}

/* Any thread. */
MitogenIdState *
mitogen_router_get_id_state (MitogenRouter *self)
{
  return &self->ids;
}

gboolean
mitogen_router_get_is_master (MitogenRouter *self)
{
  return self->is_master;
}

/* Any thread. @handle 0 allocates one. Returns the handle. */
guint32
mitogen_router_add_handler_full (MitogenRouter      *self,
                                 guint32             handle,
                                 gboolean            persist,
                                 guint32             respondent_id,
                                 MitogenHandlerFunc  func,
                                 gpointer            data,
                                 GDestroyNotify      destroy)
{
  Handler *handler = g_new0 (Handler, 1);

  if (handle == 0)
    handle = mitogen_router_allocate_handle (self);

  g_atomic_ref_count_init (&handler->ref_count);
  handler->handle = handle;
  handler->persist = persist;
  handler->respondent_id = respondent_id;
  handler->func = func;
  handler->data = data;
  handler->destroy = destroy;

  g_mutex_lock (&self->lock);
  g_hash_table_replace (self->handlers, GUINT_TO_POINTER (handle), handler);
  g_mutex_unlock (&self->lock);
  return handle;
}

/* Any thread. The handler may still run once if the broker already took it. */
void
mitogen_router_del_handler (MitogenRouter *self,
                            guint32        handle)
{
  Handler *handler;

  g_mutex_lock (&self->lock);
  g_hash_table_steal_extended (self->handlers, GUINT_TO_POINTER (handle), NULL, (gpointer *) &handler);
  g_mutex_unlock (&self->lock);

  /* Outside the lock: destroy notifies may take other locks. */
  if (handler != NULL)
    handler_unref (handler);
}

/**
 * mitogen_router_context_by_id:
 * @self: a router
 * @context_id: a context id
 *
 * The seed's `Router.context_by_id()`: the context with that id, if the
 * router knows it (it started it, or learned of it through a route). Any
 * thread.
 *
 * Returns: (transfer full) (nullable): the context with that id, if known
 */
MitogenContext *
mitogen_router_context_by_id (MitogenRouter *self,
                              guint32        context_id)
{
  MitogenContext *context;

  g_mutex_lock (&self->lock);
  context = g_hash_table_lookup (self->contexts, GUINT_TO_POINTER (context_id));
  if (context != NULL)
    g_object_ref (context);
  g_mutex_unlock (&self->lock);
  return context;
}

/* Lock held: the stream a message for @id leaves by, or NULL. */
static MitogenStream *
lookup_route_locked (MitogenRouter *self,
                     guint32        id)
{
  MitogenStream *stream = g_hash_table_lookup (self->routes, GUINT_TO_POINTER (id));

  if (stream == NULL && !self->is_master)
    stream = self->parent_stream;
  return stream;
}

/* Whether @message carries the authority of one of our parents: only those
 * may make this context run code (the seed's is_privileged). */
gboolean
mitogen_router_is_privileged (MitogenRouter  *self,
                              MitogenMessage *message)
{
  guint32 auth = mitogen_message_get_auth_id (message);

  if (self->is_master)
    return auth == self->context_id;
  for (guint i = 0; i < self->parent_ids->len; i++)
    if (g_array_index (self->parent_ids, guint32, i) == auth)
      return TRUE;
  return FALSE;
}

/* Broker thread: tells the sender its message went nowhere. */
static void
send_dead_reply (MitogenRouter  *self,
                 MitogenMessage *message,
                 const char     *why)
{
  g_autoptr(MitogenMessage) dead = NULL;
  MitogenStream *stream;

  mitogen_assert_broker_thread (self->broker);
  g_debug ("dropping message for %u:%u from %u: %s",
           message->header.dst_id, message->header.handle, message->header.src_id, why);

  if (message->header.reply_to == 0 || mitogen_message_is_dead (message))
    return;

  dead = mitogen_message_new_dead (message->header.src_id, message->header.reply_to);
  dead->header.src_id = self->context_id;
  dead->header.auth_id = self->context_id;

  g_mutex_lock (&self->lock);
  stream = lookup_route_locked (self, message->header.src_id);
  if (stream != NULL)
    g_object_ref (stream);
  g_mutex_unlock (&self->lock);

  if (stream != NULL)
    {
      mitogen_stream_send (stream, dead);
      g_object_unref (stream);
    }
}

/* Broker thread: runs the handler for a message addressed to us. */
static void
dispatch_local (MitogenRouter  *self,
                MitogenMessage *message)
{
  Handler *handler;

  mitogen_message_set_router (message, self);

  g_mutex_lock (&self->lock);
  handler = g_hash_table_lookup (self->handlers, GUINT_TO_POINTER (message->header.handle));
  if (handler != NULL)
    {
      handler_ref (handler);
      if (!handler->persist)
        g_hash_table_remove (self->handlers, GUINT_TO_POINTER (message->header.handle));
    }
  g_mutex_unlock (&self->lock);

  if (handler == NULL)
    {
      send_dead_reply (self, message, "no handler");
      return;
    }

  handler->func (self, message, handler->data);
  handler_unref (handler);
}

/* Broker thread: a KEEPALIVE from our neighbour at the other end of
 * @stream (docs/protocol.md, "Keepalive"). Its arrival already counted as
 * a sign of life; a request is answered at once, ahead of queued data.
 * Keepalives travel one hop: one addressed elsewhere, or malformed, is a
 * protocol error. */
static void
on_keepalive (MitogenRouter  *self,
              MitogenStream  *stream,
              MitogenMessage *message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) answer = NULL;
  gboolean is_answer;
  gint64 stamp;

  if (message->header.dst_id != self->context_id)
    {
      error = g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                           "%s: KEEPALIVE for context %u, not this one (%u): keepalives travel one hop",
                           mitogen_stream_get_name (stream), message->header.dst_id, self->context_id);
      mitogen_stream_close (stream, error);
      return;
    }
  if (!mitogen_message_decode (message, &error) ||
      !mitogen_protocol_keepalive_parse (mitogen_message_peek_value (message), &is_answer, &stamp, &error))
    {
      g_prefix_error (&error, "%s: ", mitogen_stream_get_name (stream));
      mitogen_stream_close (stream, error);
      return;
    }
  if (is_answer)
    {
      mitogen_io_debug ("%s: keepalive answered in %" G_GINT64_FORMAT " us", mitogen_stream_get_name (stream),
                        g_get_monotonic_time () - stamp);
      return;
    }
  answer = mitogen_message_new (message->header.src_id, MITOGEN_HANDLE_KEEPALIVE,
                                mitogen_protocol_keepalive_new (TRUE, stamp));
  answer->header.src_id = self->context_id;
  answer->header.auth_id = self->context_id;
  mitogen_stream_send_urgent (stream, answer);
}

/* Broker thread: the keepalive interval passed without a word from the
 * peer of @stream. */
static void
on_stream_keepalive (MitogenStream *stream,
                     gpointer       user_data)
{
  MitogenRouter *self = user_data;
  g_autoptr(MitogenMessage) request = NULL;

  request = mitogen_message_new (mitogen_stream_get_remote_id (stream), MITOGEN_HANDLE_KEEPALIVE,
                                 mitogen_protocol_keepalive_new (FALSE, g_get_monotonic_time ()));
  request->header.src_id = self->context_id;
  request->header.auth_id = self->context_id;
  mitogen_stream_send_urgent (stream, request);
}

/* Broker thread: a frame arrived on @stream. */
static void
on_stream_message (MitogenStream  *stream,
                   MitogenMessage *message,
                   gpointer        user_data)
{
  MitogenRouter *self = user_data;
  MitogenStream *expect, *out = NULL;
  const MitogenFrameHeader *h = &message->header;

  g_mutex_lock (&self->lock);

  /* Never trust the wire: the claimed authority and source must be
   * reachable through the stream the message came in on. */
  expect = lookup_route_locked (self, h->auth_id);
  if (expect != stream)
    {
      g_mutex_unlock (&self->lock);
      g_info ("%s: dropped message claiming auth_id %u (handle %u): not reachable via this stream",
              mitogen_stream_get_name (stream), h->auth_id, h->handle);
      return;
    }
  if (h->src_id != h->auth_id)
    {
      expect = lookup_route_locked (self, h->src_id);
      if (expect != stream)
        {
          g_mutex_unlock (&self->lock);
          g_info ("%s: dropped message claiming src_id %u (handle %u): not reachable via this stream",
                  mitogen_stream_get_name (stream), h->src_id, h->handle);
          return;
        }
    }

  if (h->handle == MITOGEN_HANDLE_KEEPALIVE)
    {
      g_mutex_unlock (&self->lock);
      on_keepalive (self, stream, message);
      return;
    }

  if (h->dst_id != self->context_id)
    {
      out = lookup_route_locked (self, h->dst_id);
      if (out != NULL)
        g_object_ref (out);
    }
  g_mutex_unlock (&self->lock);

  if (h->dst_id == self->context_id)
    {
      g_autoptr(GError) error = NULL;

      if (!mitogen_message_decode (message, &error))
        {
          /* A peer that sends malformed data is broken or hostile. */
          mitogen_stream_close (stream, error);
          return;
        }
      message->in_stream = stream;
      dispatch_local (self, message);
      message->in_stream = NULL;
      return;
    }

  if (out == NULL || out == stream)
    send_dead_reply (self, message, out == NULL ? "no route" : "routing loop");
  else if (!mitogen_stream_forward (out, message, stream))
    send_dead_reply (self, message, "stream closed");
  g_clear_object (&out);
}

typedef struct
{
  MitogenRouter  *router;   /* (owned) */
  MitogenMessage *message;  /* (owned) */
} LocalDelivery;

static void
local_delivery_free (gpointer data)
{
  LocalDelivery *delivery = data;
  g_object_unref (delivery->router);
  mitogen_message_unref (delivery->message);
  g_free (delivery);
}

static gboolean
local_delivery_cb (gpointer data)
{
  LocalDelivery *delivery = data;
  g_autoptr(GError) error = NULL;

  /* A message built as bytes (mitogen_message_new_call ()) gets its value
   * here, as one from a stream does. */
  if (!mitogen_message_decode (delivery->message, &error))
    {
      g_warning ("dropped a message to ourselves (handle %u): %s",
                 delivery->message->header.handle, error->message);
      return G_SOURCE_REMOVE;
    }
  dispatch_local (delivery->router, delivery->message);
  return G_SOURCE_REMOVE;
}

/**
 * mitogen_router_route:
 * @self: a router
 * @message: a message built with [ctor@Mitogen.Message.new]
 * @error: return location for a #GError
 *
 * Sends @message towards its destination (the seed's `Router.route()`),
 * with this context as source and authority. Any thread; from a thread
 * other than the broker's it may block while the stream's queue is over
 * its high-water mark.
 *
 * Returns: %TRUE if the message was queued; %FALSE with
 *   %MITOGEN_ERROR_CHANNEL if there is no route or the stream is closed.
 */
gboolean
mitogen_router_route (MitogenRouter   *self,
                      MitogenMessage  *message,
                      GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), FALSE);
  g_return_val_if_fail (message != NULL, FALSE);

  return mitogen_router_route_as (self, message, self->context_id, error);
}

/* Any thread: routes @message with our authority on behalf of @src_id,
 * where replies go (a parent may act for a context below it). */
gboolean
mitogen_router_route_as (MitogenRouter   *self,
                         MitogenMessage  *message,
                         guint32          src_id,
                         GError         **error)
{
  MitogenStream *stream;
  guint32 dst;

  message->header.src_id = src_id;
  message->header.auth_id = self->context_id;
  dst = message->header.dst_id;

  if (dst == self->context_id)
    {
      LocalDelivery *delivery = g_new0 (LocalDelivery, 1);

      delivery->router = g_object_ref (self);
      delivery->message = mitogen_message_ref (message);
      mitogen_broker_defer (self->broker, local_delivery_cb, delivery, local_delivery_free);
      return TRUE;
    }

  g_mutex_lock (&self->lock);
  stream = lookup_route_locked (self, dst);
  if (stream != NULL)
    g_object_ref (stream);
  g_mutex_unlock (&self->lock);

  if (stream == NULL)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                   "No route to context %u: it is unknown or disconnected", dst);
      return FALSE;
    }

  if (!mitogen_stream_send (stream, message))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                   "Context %u is disconnected (%s closed)", dst, mitogen_stream_get_name (stream));
      g_object_unref (stream);
      return FALSE;
    }
  g_object_unref (stream);
  return TRUE;
}

/* Broker thread, no lock held: tells our parent that @id is gone, and
 * why when we know (a keepalive timeout, ...). */
static void
announce_del_route (MitogenRouter *self,
                    guint32        id,
                    const char    *reason)
{
  g_autoptr(MitogenMessage) message = NULL;

  mitogen_assert_broker_thread (self->broker);
  if (self->is_master || self->parent_ids->len == 0)
    return;
  message = mitogen_message_new (g_array_index (self->parent_ids, guint32, 0), MITOGEN_HANDLE_DEL_ROUTE,
                                 reason != NULL ? g_variant_new ("(us)", id, reason)
                                                : g_variant_new ("(u)", id));
  mitogen_router_route (self, message, NULL);
}

/* Broker thread: the contexts @gone (ids) are unreachable now: they are
 * marked disconnected, every receiver waiting on one of them gets a dead
 * message, and our parent hears of it. Routes must already be removed. */
static void
routes_gone_full (MitogenRouter *self,
                  GArray        *gone,
                  gboolean       announce,
                  const char    *reason)
{
  g_autoptr(GPtrArray) contexts = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) failed = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key, value;

  mitogen_assert_broker_thread (self->broker);
  if (gone->len == 0)
    return;

  g_mutex_lock (&self->lock);
  for (guint i = 0; i < gone->len; i++)
    {
      gpointer id = GUINT_TO_POINTER (g_array_index (gone, guint32, i));
      MitogenContext *context = g_hash_table_lookup (self->contexts, id);

      if (context != NULL)
        {
          g_ptr_array_add (contexts, g_object_ref (context));
          g_hash_table_remove (self->contexts, id);
        }
    }

  g_hash_table_iter_init (&iter, self->handlers);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Handler *handler = value;

      for (guint i = 0; i < gone->len; i++)
        if (handler->respondent_id == g_array_index (gone, guint32, i))
          {
            g_ptr_array_add (failed, handler);
            g_hash_table_iter_steal (&iter);
            break;
          }
    }
  g_mutex_unlock (&self->lock);

  for (guint i = 0; i < contexts->len; i++)
    mitogen_context_mark_disconnected (g_ptr_array_index (contexts, i));

  g_mutex_lock (&self->lock);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);

  /* Wake every pending call and receiver waiting on those contexts. */
  for (guint i = 0; i < failed->len; i++)
    {
      Handler *handler = g_ptr_array_index (failed, i);
      g_autoptr(MitogenMessage) dead = mitogen_message_new_dead (self->context_id, handler->handle);

      dead->header.src_id = handler->respondent_id;
      dead->dead_reason = g_strdup (reason);
      mitogen_message_set_router (dead, self);
      handler->func (self, dead, handler->data);
      handler_unref (handler);
    }

  for (guint i = 0; announce && i < gone->len; i++)
    announce_del_route (self, g_array_index (gone, guint32, i), reason);
}

/* Broker thread: @stream closed; everything reached through it is gone. */
static void
on_stream_closed (MitogenStream *stream,
                  const GError  *error,
                  gpointer       user_data)
{
  MitogenRouter *self = user_data;
  g_autoptr(GArray) gone = g_array_new (FALSE, FALSE, sizeof (guint32));
  gboolean lost_parent = FALSE;
  GHashTableIter iter;
  gpointer key, value;

  mitogen_assert_broker_thread (self->broker);
  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->routes);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (value == stream)
      {
        guint32 id = GPOINTER_TO_UINT (key);

        g_array_append_val (gone, id);
        g_hash_table_iter_remove (&iter);
      }
  if (stream == self->parent_stream)
    lost_parent = TRUE;
  g_mutex_unlock (&self->lock);

  g_debug ("%s closed: %u route(s) gone%s%s", mitogen_stream_get_name (stream), gone->len,
           error != NULL ? ": " : "", error != NULL ? error->message : "");

  routes_gone_full (self, gone, TRUE, error != NULL ? error->message : NULL);

  if (lost_parent && self->parent_lost != NULL)
    ((void (*) (gpointer)) self->parent_lost) (self->parent_lost_data);
}

/* Broker thread: a child announces a context reachable through it. Only
 * a child stream may announce, and never an id we already route
 * elsewhere, our own, or one of our parents'. */
static void
on_add_route (MitogenRouter  *self,
              MitogenMessage *message,
              gpointer        user_data)
{
  MitogenStream *stream = message->in_stream;
  GVariant *value = mitogen_message_peek_value (message);
  MitogenStream *existing;
  const char *name;
  guint32 id;
  gboolean refused = FALSE;

  if (stream == NULL || value == NULL || !g_variant_is_of_type (value, G_VARIANT_TYPE ("(us)")))
    return;
  mitogen_assert_broker_thread (self->broker);
  g_variant_get (value, "(u&s)", &id, &name);

  g_mutex_lock (&self->lock);
  existing = g_hash_table_lookup (self->routes, GUINT_TO_POINTER (id));
  if (stream == self->parent_stream || id == self->context_id || (existing != NULL && existing != stream))
    refused = TRUE;
  for (guint i = 0; i < self->parent_ids->len && !refused; i++)
    refused = g_array_index (self->parent_ids, guint32, i) == id;
  if (!refused)
    g_hash_table_replace (self->routes, GUINT_TO_POINTER (id), g_object_ref (stream));
  g_mutex_unlock (&self->lock);

  if (refused)
    {
      g_info ("%s: refused ADD_ROUTE for context %u from context %u",
              mitogen_stream_get_name (stream), id, message->header.src_id);
      return;
    }

  g_debug ("route to %u (%s) via %s", id, name, mitogen_stream_get_name (stream));
  mitogen_router_announce_route (self, id, name);
}

/* Broker thread: a child says a context behind it went away. */
static void
on_del_route (MitogenRouter  *self,
              MitogenMessage *message,
              gpointer        user_data)
{
  MitogenStream *stream = message->in_stream;
  GVariant *value = mitogen_message_peek_value (message);
  g_autoptr(GArray) gone = g_array_new (FALSE, FALSE, sizeof (guint32));
  g_autofree char *reason = NULL;
  gboolean from_parent;
  guint32 id;

  if (stream == NULL || value == NULL)
    return;
  if (g_variant_is_of_type (value, G_VARIANT_TYPE ("(us)")))
    {
      const char *why;

      g_variant_get (value, "(u&s)", &id, &why);
      /* Told by a context below: say where it came from, and keep it short. */
      reason = g_utf8_make_valid (why, MIN ((gssize) strlen (why), 1024));
    }
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE ("(u)")))
    g_variant_get (value, "(u)", &id);
  else
    return;
  mitogen_assert_broker_thread (self->broker);
  from_parent = stream == self->parent_stream;

  g_mutex_lock (&self->lock);
  if (stream == self->parent_stream && id != self->context_id &&
      g_hash_table_lookup (self->routes, GUINT_TO_POINTER (id)) == NULL)
    {
      /* Our parent says a context elsewhere in the tree (reached through
       * it) is gone: whatever waits on it here fails now. */
      gboolean parent = FALSE;

      for (guint i = 0; i < self->parent_ids->len; i++)
        parent |= g_array_index (self->parent_ids, guint32, i) == id;
      if (!parent)
        g_array_append_val (gone, id);
    }
  else if (g_hash_table_lookup (self->routes, GUINT_TO_POINTER (id)) == stream &&
           mitogen_stream_get_remote_id (stream) != id)
    {
      g_hash_table_remove (self->routes, GUINT_TO_POINTER (id));
      g_array_append_val (gone, id);
    }
  g_mutex_unlock (&self->lock);

  g_debug ("route to %u withdrawn by %s", id, mitogen_stream_get_name (stream));
  /* What our parent told us it need not hear back. */
  routes_gone_full (self, gone, !from_parent, reason);
}

/* Broker thread: called once a child stream is up, in a child that starts
 * children (via): our parent learns the route. */
void
mitogen_router_announce_route (MitogenRouter *self,
                               guint32        id,
                               const char    *name)
{
  g_autoptr(MitogenMessage) up = NULL;

  mitogen_assert_broker_thread (self->broker);
  if (self->is_master || self->parent_ids->len == 0)
    return;
  up = mitogen_message_new (g_array_index (self->parent_ids, guint32, 0), MITOGEN_HANDLE_ADD_ROUTE,
                            g_variant_new ("(us)", id, name));
  mitogen_router_route (self, up, NULL);
}

static void
add_route_handlers (MitogenRouter *self)
{
  mitogen_router_add_handler_full (self, MITOGEN_HANDLE_ADD_ROUTE, TRUE, MITOGEN_NO_RESPONDENT,
                                   on_add_route, NULL, NULL);
  mitogen_router_add_handler_full (self, MITOGEN_HANDLE_DEL_ROUTE, TRUE, MITOGEN_NO_RESPONDENT,
                                   on_del_route, NULL, NULL);
}

/* Broker thread: the broker is shutting down. */
static void
on_stream_shutdown (MitogenStream *stream,
                    gpointer       user_data)
{
  MitogenRouter *self = user_data;
  g_autoptr(MitogenMessage) message = NULL;
  guint32 remote = mitogen_stream_get_remote_id (stream);

  mitogen_assert_broker_thread (self->broker);
  if (stream == self->parent_stream || !mitogen_stream_get_handshaken (stream))
    {
      mitogen_stream_close_when_drained (stream);
      return;
    }

  /* Ask the child to exit; its end of the stream closing finishes the job. */
  message = mitogen_message_new (remote, MITOGEN_HANDLE_SHUTDOWN, NULL);
  message->header.src_id = self->context_id;
  message->header.auth_id = self->context_id;
  if (!mitogen_stream_send (stream, message))
    mitogen_stream_close (stream, NULL);
}

const MitogenStreamHooks mitogen_router_stream_hooks = {
  .message = on_stream_message,
  .closed = on_stream_closed,
  .shutdown = on_stream_shutdown,
  .keepalive = on_stream_keepalive,
};

void
mitogen_router_attach_stream (MitogenRouter *self,
                              MitogenStream *stream,
                              guint32        context_id)
{
  mitogen_stream_set_remote_id (stream, context_id);
  mitogen_stream_set_hooks (stream, &mitogen_router_stream_hooks, self);

  g_mutex_lock (&self->lock);
  g_hash_table_replace (self->routes, GUINT_TO_POINTER (context_id), g_object_ref (stream));
  g_mutex_unlock (&self->lock);
}

void
mitogen_router_register_context (MitogenRouter  *self,
                                 MitogenContext *context)
{
  g_mutex_lock (&self->lock);
  g_hash_table_replace (self->contexts, GUINT_TO_POINTER (mitogen_context_get_id (context)),
                        g_object_ref (context));
  g_mutex_unlock (&self->lock);
}

void
mitogen_router_configure (MitogenRouter *self,
                          guint32        context_id,
                          const char    *name,
                          const guint32 *parent_ids,
                          gsize          n_parent_ids)
{
  g_mutex_lock (&self->lock);
  self->context_id = context_id;
  g_free (self->name);
  self->name = g_strdup (name);
  g_array_set_size (self->parent_ids, 0);
  g_array_append_vals (self->parent_ids, parent_ids, (guint) n_parent_ids);
  g_mutex_unlock (&self->lock);
}

void
mitogen_router_set_parent_stream (MitogenRouter *self,
                                  MitogenStream *stream)
{
  mitogen_stream_set_hooks (stream, &mitogen_router_stream_hooks, self);

  g_mutex_lock (&self->lock);
  g_set_object (&self->parent_stream, stream);
  g_mutex_unlock (&self->lock);
}

void
mitogen_router_set_parent_lost_func (MitogenRouter *self,
                                     GCallback      func,
                                     gpointer       data)
{
  self->parent_lost = func;
  self->parent_lost_data = data;
}

gboolean
mitogen_router_wait_disconnect (MitogenRouter  *self,
                                MitogenContext *context,
                                gint64          deadline)
{
  gboolean done;

  g_mutex_lock (&self->lock);
  while (!(done = !mitogen_context_is_connected (context)))
    {
      if (deadline < 0)
        g_cond_wait (&self->cond, &self->lock);
      else if (!g_cond_wait_until (&self->cond, &self->lock, deadline))
        {
          done = !mitogen_context_is_connected (context);
          break;
        }
    }
  g_mutex_unlock (&self->lock);
  return done;
}

/* --- Handlers, routes, debug and profiling defaults (the seed's Router) --- */

/**
 * MitogenHandlerCallback:
 * @router: (transfer none): the router that received @message
 * @message: (transfer none): the message, or the dead marker
 *   ([method@Mitogen.Message.is_dead]) when the respondent went away or the
 *   router shut down
 * @user_data: the data given to [method@Mitogen.Router.add_handler]
 *
 * A function run for each message addressed to a handle. It runs on the
 * broker thread with no lock held: it must not block (hand work to
 * another thread, e.g. with a [class@Mitogen.Receiver] instead, if it
 * may).
 */

/**
 * mitogen_router_add_handler:
 * @self: a router
 * @callback: (scope notified) (closure user_data) (destroy destroy): run on
 *   the broker thread for each message to @handle
 * @user_data: data for @callback
 * @destroy: (nullable): frees @user_data once the handler is gone
 * @handle: the handle to register, or 0 to allocate one
 * @persist: %FALSE to unregister after the first message
 * @respondent: (nullable): the context expected to send to @handle; when
 *   it disconnects @callback gets the dead marker once and the handler is
 *   unregistered
 *
 * The seed's `Router.add_handler(fn, handle, persist, respondent)`.
 * @callback runs on the broker thread and must not block; it must not call
 * the blocking API (calls, gets) either. A registration replaces any
 * handler already on @handle. Most programs want a
 * [class@Mitogen.Receiver], which queues messages for other threads. Any
 * thread.
 *
 * Returns: the handle: @handle, or the one allocated
 */
guint32
mitogen_router_add_handler (MitogenRouter          *self,
                            MitogenHandlerCallback  callback,
                            gpointer                user_data,
                            GDestroyNotify          destroy,
                            guint32                 handle,
                            gboolean                persist,
                            MitogenContext         *respondent)
{
  guint32 respondent_id;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), 0);
  g_return_val_if_fail (callback != NULL, 0);
  g_return_val_if_fail (respondent == NULL || MITOGEN_IS_CONTEXT (respondent), 0);

  respondent_id = respondent != NULL ? mitogen_context_get_id (respondent) : MITOGEN_NO_RESPONDENT;
  handle = mitogen_router_add_handler_full (self, handle, persist, respondent_id,
                                            callback, user_data, destroy);

  /* Already gone: the dead marker is all it will ever get. */
  if (respondent != NULL && !mitogen_context_is_connected (respondent))
    {
      g_autoptr(MitogenMessage) dead = mitogen_message_new_dead (self->context_id, handle);

      dead->header.src_id = respondent_id;
      /* As when the respondent's stream closes: the handler gets the dead
       * marker once, on the broker thread, and is unregistered. */
      mitogen_router_route_dead_locally (self, dead);
    }
  return handle;
}

/**
 * mitogen_router_del_handler:
 * @self: a router
 * @handle: a handle registered with [method@Mitogen.Router.add_handler] (or
 *   by a receiver)
 *
 * Unregisters @handle; its destroy notify runs once the handler is no
 * longer in use. A message the broker thread has already taken may still
 * reach the handler once, concurrently with this call. Unknown handles
 * are ignored. Any thread.
 */

/* Broker thread: runs the handler for @handle with a dead message and
 * unregisters it, unless it was replaced meanwhile. */
typedef struct
{
  MitogenRouter  *router;   /* (owned) */
  MitogenMessage *message;  /* (owned) */
  Handler        *handler;  /* (owned) the registration it is meant for */
} DeadDelivery;

static void
dead_delivery_free (gpointer data)
{
  DeadDelivery *delivery = data;

  g_object_unref (delivery->router);
  mitogen_message_unref (delivery->message);
  handler_unref (delivery->handler);
  g_free (delivery);
}

static gboolean
dead_delivery_cb (gpointer data)
{
  DeadDelivery *delivery = data;
  MitogenRouter *self = delivery->router;
  guint32 handle = delivery->message->header.handle;
  gboolean current;

  g_mutex_lock (&self->lock);
  current = g_hash_table_lookup (self->handlers, GUINT_TO_POINTER (handle)) == delivery->handler;
  if (current)
    g_hash_table_steal (self->handlers, GUINT_TO_POINTER (handle));
  g_mutex_unlock (&self->lock);

  if (current)
    {
      mitogen_message_set_router (delivery->message, self);
      delivery->handler->func (self, delivery->message, delivery->handler->data);
      handler_unref (delivery->handler);  /* the table's reference */
    }
  return G_SOURCE_REMOVE;
}

/* Any thread: hands the current handler of @dead's handle the dead marker
 * on the broker thread, and unregisters it. */
void
mitogen_router_route_dead_locally (MitogenRouter  *self,
                                   MitogenMessage *dead)
{
  DeadDelivery *delivery;
  Handler *handler;

  g_mutex_lock (&self->lock);
  handler = g_hash_table_lookup (self->handlers, GUINT_TO_POINTER (dead->header.handle));
  if (handler != NULL)
    handler_ref (handler);
  g_mutex_unlock (&self->lock);
  if (handler == NULL)
    return;

  delivery = g_new0 (DeadDelivery, 1);
  delivery->router = g_object_ref (self);
  delivery->message = mitogen_message_ref (dead);
  delivery->handler = handler;
  mitogen_broker_defer (self->broker, dead_delivery_cb, delivery, dead_delivery_free);
}

/**
 * mitogen_router_stream_by_id:
 * @self: a router
 * @dst_id: a context id
 *
 * The seed's `Router.stream_by_id()`: the stream a message for @dst_id
 * leaves by. In a child, an id with no route of its own goes by the
 * parent's stream. Any thread.
 *
 * Returns: (transfer full) (nullable): the stream, or %NULL if there is no
 *   route
 */
MitogenStream *
mitogen_router_stream_by_id (MitogenRouter *self,
                             guint32        dst_id)
{
  MitogenStream *stream;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);

  g_mutex_lock (&self->lock);
  stream = lookup_route_locked (self, dst_id);
  if (stream != NULL)
    g_object_ref (stream);
  g_mutex_unlock (&self->lock);
  return stream;
}

typedef struct
{
  MitogenRouter  *router;   /* (owned) */
  MitogenStream  *stream;   /* (owned) */
  guint32         context_id;
} Registration;

static void
registration_free (gpointer data)
{
  Registration *registration = data;

  g_object_unref (registration->router);
  g_object_unref (registration->stream);
  g_free (registration);
}

/* Broker thread. */
static gboolean
register_stream_cb (gpointer data)
{
  Registration *registration = data;

  /* A stream nobody serves yet becomes ours: it carries frames for this
   * context and is read from now on. */
  if (!mitogen_stream_is_started (registration->stream))
    {
      mitogen_router_attach_stream (registration->router, registration->stream, registration->context_id);
      mitogen_stream_start (registration->stream);
    }
  return G_SOURCE_REMOVE;
}

/**
 * mitogen_router_register:
 * @self: a router
 * @context: a context
 * @stream: the stream @context is reached through
 *
 * The seed's `Router.register(context, stream)`: records @context (see
 * [method@Mitogen.Router.context_by_id]) and routes messages for it through
 * @stream. A stream that is not serving yet is handed to this router and
 * starts being read (the seed adds its receive side to the broker); a
 * stream already serving another context just gains the route. The
 * factories ([method@Mitogen.Router.connect]) do all this themselves; this
 * is for streams set up by other means. Any thread; the stream part
 * happens on the broker thread soon after.
 */
void
mitogen_router_register (MitogenRouter  *self,
                         MitogenContext *context,
                         MitogenStream  *stream)
{
  Registration *registration;

  g_return_if_fail (MITOGEN_IS_ROUTER (self));
  g_return_if_fail (MITOGEN_IS_CONTEXT (context));
  g_return_if_fail (MITOGEN_IS_STREAM (stream));

  mitogen_router_register_context (self, context);
  g_mutex_lock (&self->lock);
  g_hash_table_replace (self->routes, GUINT_TO_POINTER (mitogen_context_get_id (context)),
                        g_object_ref (stream));
  g_mutex_unlock (&self->lock);

  registration = g_new0 (Registration, 1);
  registration->router = g_object_ref (self);
  registration->stream = g_object_ref (stream);
  registration->context_id = mitogen_context_get_id (context);
  if (mitogen_broker_is_broker_thread (self->broker))
    {
      register_stream_cb (registration);
      registration_free (registration);
    }
  else
    mitogen_broker_defer (self->broker, register_stream_cb, registration, registration_free);
}

/**
 * mitogen_router_enable_debug:
 * @self: a router
 *
 * The seed's `Router.enable_debug()`: every context this router starts
 * from now on has the `debug` option on (its debug and info messages are
 * forwarded here), and this process's GLib debug output is enabled
 * (`g_log_set_debug_enabled()`, as `G_MESSAGES_DEBUG=all` would). Use
 * [func@Mitogen.log_to_file] to send it to a file. Any thread.
 */
void
mitogen_router_enable_debug (MitogenRouter *self)
{
  g_return_if_fail (MITOGEN_IS_ROUTER (self));

  g_atomic_int_set (&self->debug_default, TRUE);
  g_log_set_debug_enabled (TRUE);
}

/* Any thread: whether mitogen_router_enable_debug () was called. */
gboolean
mitogen_router_get_debug_default (MitogenRouter *self)
{
  return g_atomic_int_get (&self->debug_default);
}

/**
 * mitogen_router_set_profiling:
 * @self: a router
 * @profiling: whether contexts started from now on profile themselves
 *
 * The seed's `Router.profiling`: when set, every context this router
 * starts afterwards has the `profiling` option on, whatever its own
 * options say: it counts the calls it serves and the time each function
 * takes, and writes them to `/tmp/mitogen.stats.<pid>.log` when it exits
 * gracefully (on `SHUTDOWN`, e.g. when the router shuts down). Any thread.
 */
void
mitogen_router_set_profiling (MitogenRouter *self,
                              gboolean       profiling)
{
  g_return_if_fail (MITOGEN_IS_ROUTER (self));

  g_atomic_int_set (&self->profiling_default, profiling != FALSE);
}

/**
 * mitogen_router_get_profiling:
 * @self: a router
 *
 * Any thread.
 *
 * Returns: whether new contexts are started with profiling on (see
 *   [method@Mitogen.Router.set_profiling])
 */
gboolean
mitogen_router_get_profiling (MitogenRouter *self)
{
  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), FALSE);

  return g_atomic_int_get (&self->profiling_default);
}

/**
 * mitogen_router_set_default_agent:
 * @self: a router
 * @agent: (nullable): `stock`, `self` or `dynamic`; %NULL for `stock`
 *
 * The program every context this router starts from now on runs, unless
 * the connect's own `agent` option says otherwise
 * ([property@Mitogen.Transport:agent]): `stock` (the installed, static
 * `mitogen-agent`), `self` (this very program, which must call
 * [func@Mitogen.init] first in `main ()`: it then serves its own
 * functions; a dynamically linked program is shipped as its closure), or
 * `dynamic` (the dynamically linked stock agent, shipped as its closure).
 * Contexts started through `via` get the same default. Another value
 * makes those connects fail with %MITOGEN_ERROR_INVALID_ARGUMENT naming
 * the allowed ones. Any thread.
 */
void
mitogen_router_set_default_agent (MitogenRouter *self,
                                  const char    *agent)
{
  g_return_if_fail (MITOGEN_IS_ROUTER (self));

  g_atomic_pointer_set (&self->default_agent, agent != NULL ? g_intern_string (agent) : NULL);
}

/**
 * mitogen_router_get_default_agent:
 * @self: a router
 *
 * Any thread.
 *
 * Returns: the agent new contexts run unless their `agent` option says
 *   otherwise (see [method@Mitogen.Router.set_default_agent]): `stock`
 *   until it is set
 */
const char *
mitogen_router_get_default_agent (MitogenRouter *self)
{
  const char *agent;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);

  agent = g_atomic_pointer_get (&self->default_agent);
  return agent != NULL ? agent : "stock";
}

/* Any thread: sets the default agent to @agent only if it is unset
 * (set_default_agent () never called, or called with NULL): what
 * mitogen_router_add_module_path () does. TRUE if it was set. */
gboolean
mitogen_router_set_default_agent_if_unset (MitogenRouter *self,
                                           const char    *agent)
{
  return g_atomic_pointer_compare_and_exchange (&self->default_agent, (const char *) NULL, g_intern_string (agent));
}

/**
 * mitogen_router_add_route:
 * @self: a router
 * @target_id: the context to reach
 * @via_id: a context already reachable, through whose stream @target_id is
 * @error: return location for a #GError
 *
 * The seed's `Router.add_route()`: messages for @target_id leave by the
 * stream that leads to @via_id. Routes of contexts started with `via`
 * are announced automatically (ADD_ROUTE); this is for routes the program
 * knows of itself. Any thread.
 *
 * Returns: %TRUE on success; %FALSE with %MITOGEN_ERROR_NOT_FOUND if
 *   @via_id is not reachable, %MITOGEN_ERROR_INVALID_ARGUMENT if
 *   @target_id is this context
 */
gboolean
mitogen_router_add_route (MitogenRouter  *self,
                          guint32         target_id,
                          guint32         via_id,
                          GError        **error)
{
  MitogenStream *stream;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), FALSE);

  if (target_id == self->context_id)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "Context %u is this context: it needs no route", target_id);
      return FALSE;
    }

  g_mutex_lock (&self->lock);
  stream = g_hash_table_lookup (self->routes, GUINT_TO_POINTER (via_id));
  if (stream != NULL)
    g_hash_table_replace (self->routes, GUINT_TO_POINTER (target_id), g_object_ref (stream));
  g_mutex_unlock (&self->lock);

  if (stream == NULL)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                   "No route to context %u to send context %u's messages through", via_id, target_id);
      return FALSE;
    }
  return TRUE;
}

/**
 * mitogen_message_reply:
 * @self: a message received through a router
 * @value: (nullable): the reply value; a floating reference is sunk
 * @error: return location for a #GError
 *
 * Sends @value to the sender's `reply_to` handle. Any thread but the broker's. (It lives
 * here, not with the message, because it routes: the wire layer knows no
 * router.)
 *
 * Returns: %TRUE if the reply was queued
 */
gboolean
mitogen_message_reply (MitogenMessage  *self,
                       GVariant        *value,
                       GError         **error)
{
  g_autoptr(MitogenMessage) reply = NULL;

  g_return_val_if_fail (self != NULL, FALSE);

  if (self->router == NULL || self->header.reply_to == 0)
    {
      if (value != NULL)
        g_variant_unref (g_variant_ref_sink (value));
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                           "Message has no router or reply_to handle to reply to");
      return FALSE;
    }

  reply = mitogen_message_new (self->header.src_id, self->header.reply_to, value);
  return mitogen_router_route (self->router, reply, error);
}

/**
 * mitogen_router_set_interaction:
 * @self: a router
 * @interaction: (nullable): what to ask, or %NULL
 *
 * Sets the [class@Mitogen.Interaction] that connects started from now on
 * ask for what their options do not say: a password at sudo's prompt or
 * for ssh, whether to trust an unknown or changed ssh host key, answers to
 * keyboard-interactive prompts. It is asked in the main context of the
 * thread that starts each connect. Any thread.
 */
void
mitogen_router_set_interaction (MitogenRouter      *self,
                                MitogenInteraction *interaction)
{
  gboolean changed;

  g_return_if_fail (MITOGEN_IS_ROUTER (self));
  g_return_if_fail (interaction == NULL || MITOGEN_IS_INTERACTION (interaction));

  g_mutex_lock (&self->lock);
  changed = g_set_object (&self->interaction, interaction);
  g_mutex_unlock (&self->lock);
  if (changed)
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_INTERACTION]);
}

/**
 * mitogen_router_get_interaction:
 * @self: a router
 *
 * The router's [class@Mitogen.Interaction].
 *
 * Returns: (transfer none) (nullable): the router's interaction; use it on
 *   the thread that set it (other threads: see the C-only
 *   mitogen_router_dup_interaction ())
 */
MitogenInteraction *
mitogen_router_get_interaction (MitogenRouter *self)
{
  MitogenInteraction *interaction;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);
  g_mutex_lock (&self->lock);
  interaction = self->interaction;
  g_mutex_unlock (&self->lock);
  return interaction;
}

/**
 * mitogen_router_dup_interaction: (skip)
 * @self: a router
 *
 * Any thread.
 *
 * Returns: (transfer full) (nullable): the router's interaction
 */
MitogenInteraction *
mitogen_router_dup_interaction (MitogenRouter *self)
{
  MitogenInteraction *interaction;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);
  g_mutex_lock (&self->lock);
  interaction = self->interaction != NULL ? g_object_ref (self->interaction) : NULL;
  g_mutex_unlock (&self->lock);
  return interaction;
}
