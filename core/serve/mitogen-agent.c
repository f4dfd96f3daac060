/* mitogen-agent.c — MitogenAgent: the runtime of a child context
 *
 * The seed's ExternalContext. The agent takes over the descriptors its
 * parent gave it (stdin/stdout, or one socket on both), greets, waits for
 * its configuration, then serves CALL_FUNCTION requests on the main
 * thread, one at a time, while the broker thread keeps routing. It
 * forwards its GLib log messages to the master. It exits when told to
 * (SHUTDOWN) and at once when its parent goes away.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-agent"

#include "config.h"

#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mitogen-agent-private.h"
#include "mitogen-connect-private.h"
#include "mitogen-interaction-forward-private.h"
#include "mitogen-plugins-private.h"
#include "mitogen-utils-private.h"
#include "mitogen-identity-private.h"
#include "mitogen-bootstrap-private.h"
#include "mitogen-transport-private.h"
#include "mitogen-broker-private.h"
#include "mitogen-call-private.h"
#include "mitogen-message-private.h"
#include "mitogen-modules-private.h"
#include "mitogen-protocol-private.h"
#include "mitogen-router-private.h"
#include "mitogen-stream-private.h"


struct _MitogenAgent
{
  GObject        parent_instance;

  MitogenBroker *broker;        /* (owned) */
  MitogenRouter *router;        /* (owned) */
  MitogenStream *parent_stream; /* (owned) */
  GAsyncQueue   *calls;         /* (owned) MitogenMessage, or &stop_marker */

  /* Written once by the broker thread before `configured` is set. */
  char          *name;
  gboolean       debug;
  gboolean       profiling;     /* count calls and time them; write them out at exit */
  gboolean       spin;          /* more than one CPU: poll briefly before sleeping */
  gint           queued_calls;  /* (atomic) calls pushed to the main thread and not yet served */
  guint64        max_message_size;

  GMutex         lock;
  GCond          cond;
  gboolean       configured;

  GHashTable    *profile;       /* (owned) main thread: function name -> ProfileEntry */
};

/* One function's calls, when profiling. */
typedef struct
{
  guint64 calls;
  gint64  total_usec;
  gint64  max_usec;
} ProfileEntry;

G_DEFINE_FINAL_TYPE (MitogenAgent, mitogen_agent, G_TYPE_OBJECT)

static int stop_marker;
static MitogenAgent *the_agent;       /* (unowned) for the log writer */
static gint log_forwarding;           /* (atomic) configured and routing */

/* A client context (fakessh) exits with this status, after this line on
 * stderr, when its parent goes or tells it to stop; an agent exits 0. */
static int lost_status;
static const char *lost_message;      /* (nullable) */

/* mitogen_init (): removes a replicated program's run directory. Runs
 * once, on whichever thread makes us exit first. */
static gpointer exit_hook;            /* (atomic) (nullable) void (*) (void) */

void
mitogen_agent_set_exit_hook (void (*hook) (void))
{
  g_atomic_pointer_set (&exit_hook, (gpointer) hook);
}

static void
run_exit_hook (void)
{
  void (*hook) (void) = (void (*) (void)) g_atomic_pointer_exchange (&exit_hook, NULL);

  if (hook != NULL)
    hook ();
}

static gboolean keep_agent_path;      /* mitogen_init (): our program is not the stock agent */

void
mitogen_agent_keep_agent_path (void)
{
  keep_agent_path = TRUE;
}

static void
exit_lost (void)
{
  run_exit_hook ();
  if (lost_message != NULL)
    {
      gssize n = write (2, lost_message, strlen (lost_message));

      (void) n;   /* nothing better to do if stderr is gone */
    }
  _exit (lost_status);
}

static void
mitogen_agent_finalize (GObject *object)
{
  MitogenAgent *self = MITOGEN_AGENT (object);

  g_clear_object (&self->parent_stream);
  g_clear_object (&self->router);
  g_clear_object (&self->broker);
  g_clear_pointer (&self->calls, g_async_queue_unref);
  g_clear_pointer (&self->profile, g_hash_table_unref);
  g_clear_pointer (&self->name, g_free);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);

  G_OBJECT_CLASS (mitogen_agent_parent_class)->finalize (object);
}

static void
mitogen_agent_class_init (MitogenAgentClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mitogen_agent_finalize;
}

static void
mitogen_agent_init (MitogenAgent *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->calls = g_async_queue_new ();
  self->spin = g_get_num_processors () > 1 && g_getenv ("MITOGEN_NO_SPIN") == NULL;
  self->max_message_size = MITOGEN_FRAME_HANDSHAKE_MAX;
  self->profile = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

/* Any thread: sends log records to the master once configured. */
static GLogWriterOutput
agent_log_writer (GLogLevelFlags   log_level,
                  const GLogField *fields,
                  gsize            n_fields,
                  gpointer         user_data)
{
  static GPrivate in_writer;
  MitogenAgent *self = the_agent;
  const char *domain = "", *text = "";
  g_autoptr(MitogenMessage) message = NULL;

  if (!g_atomic_int_get (&log_forwarding) || g_private_get (&in_writer) != NULL)
    return g_log_writer_default (log_level, fields, n_fields, user_data);

  if ((log_level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) != 0 && !self->debug)
    return G_LOG_WRITER_HANDLED;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0 && fields[i].length < 0)
        domain = fields[i].value;
      else if (g_strcmp0 (fields[i].key, "MESSAGE") == 0 && fields[i].length < 0)
        text = fields[i].value;
    }

  g_private_set (&in_writer, GINT_TO_POINTER (1));
  message = mitogen_message_new (0, MITOGEN_HANDLE_FORWARD_LOG,
                                 g_variant_new ("(sis)", g_utf8_validate (domain, -1, NULL) ? domain : "",
                                                (gint32) (log_level & G_LOG_LEVEL_MASK),
                                                g_utf8_validate (text, -1, NULL) ? text : "(invalid UTF-8)"));
  mitogen_router_route (self->router, message, NULL);
  g_private_set (&in_writer, NULL);
  return G_LOG_WRITER_HANDLED;
}

/* Broker thread: our parent is gone; so are we. */
static void
on_parent_lost (gpointer data)
{
  /* Our own children see their streams close when we exit. */
  exit_lost ();
}

/* Any thread. A request refused before it runs: answered through the
 * same reply path as any call (mitogen_call_send_reply ()). */
static void
refuse_call (MitogenAgent   *self,
             MitogenMessage *request,
             const char     *function,
             const GError   *error)
{
  g_autoptr(MitogenCall) call = mitogen_call_new (self->router, G_OBJECT (self), function,
                                                  request->header.src_id);

  mitogen_call_set_reply_to (call, request->header.reply_to, self->max_message_size);
  mitogen_call_send_reply (call, NULL, error);
}

static void serve (MitogenAgent *self, MitogenMessage *request);

/* Broker thread. */
static void
on_call_function (MitogenRouter  *router,
                  MitogenMessage *message,
                  gpointer        user_data)
{
  MitogenAgent *self = user_data;

  if (mitogen_message_is_dead (message))
    return;
  mitogen_assert_broker_thread (self->broker);
  if (!mitogen_router_is_privileged (router, message))
    {
      g_autoptr(GError) error = g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                                             "Refused CALL_FUNCTION from context %u: only a parent may call functions here",
                                             message->header.auth_id);
      g_info ("%s", error->message);
      refuse_call (self, message, "(refused call)", error);
      return;
    }
  /* A quick built-in (os.getpid, mitogen.noop, ...) runs right here
   * when the main thread has nothing queued or running, so calls still
   * run in the order they came: no hand-off to the main thread and
   * back (that was half of a round trip's cost). */
  if (!self->profiling && g_atomic_int_get (&self->queued_calls) == 0)
    {
      const char *function = mitogen_protocol_call_peek_function (message->value);

      if (function != NULL && mitogen_function_is_quick (function))
        {
          serve (self, message);
          return;
        }
    }
  g_atomic_int_inc (&self->queued_calls);
  g_async_queue_push (self->calls, mitogen_message_ref (message));
}

static gboolean
shutdown_grace_cb (gpointer data)
{
  g_debug ("shutdown grace period over while a call is still running: exiting");
  run_exit_hook ();
  _exit (0);
  return G_SOURCE_REMOVE;
}

/* Broker thread. */
static void
on_shutdown (MitogenRouter  *router,
             MitogenMessage *message,
             gpointer        user_data)
{
  MitogenAgent *self = user_data;

  if (!mitogen_message_is_dead (message))
    mitogen_assert_broker_thread (self->broker);
  if (!mitogen_router_is_privileged (router, message))
    {
      g_info ("Refused SHUTDOWN from context %u", message->header.auth_id);
      return;
    }
  g_debug ("shutdown requested");
  if (lost_message != NULL)
    exit_lost ();
  g_async_queue_push_front (self->calls, &stop_marker);
  /* A call that does not finish must not keep us alive. */
  g_source_unref (mitogen_broker_attach_timeout (self->broker,
                                                 (guint) (mitogen_broker_get_shutdown_timeout (self->broker) * 1000),
                                                 shutdown_grace_cb, NULL, NULL));
}

static void
config_fail (const char *why)
{
  fprintf (stderr, "mitogen-agent: bad configuration from parent: %s\n", why);
  run_exit_hook ();
  _exit (1);
}

/* (s method, a{sv} options, u id) -> (s name, x pid, t bootstrap bytes). Main thread.
 * The `via` step: our parent asks us to start a child with an id it
 * chose; the route to it is announced up the tree as it comes up. */
static GVariant *
fn_mitogen_connect (MitogenCall *call, GVariant *args, GError **error)
{
  const char *method;
  g_autoptr(GVariant) options = NULL;
  g_autoptr(MitogenContext) context = NULL;
  guint32 id;

  g_autoptr(MitogenInteraction) forward = NULL;
  guint32 handle = 0;
  double timeout = -1;

  g_variant_get (args, "(&s@a{sv}u)", &method, &options, &id);
  /* Our parent's interaction answers what the options do not: the
   * transport's requests go to the handle it named. */
  if (g_variant_lookup (options, MITOGEN_INTERACTION_HANDLE_OPTION, "u", &handle))
    {
      g_autoptr(GVariantDict) dict = g_variant_dict_new (options);

      g_variant_dict_lookup (dict, MITOGEN_INTERACTION_TIMEOUT_OPTION, "d", &timeout);
      g_variant_dict_remove (dict, MITOGEN_INTERACTION_HANDLE_OPTION);
      g_variant_dict_remove (dict, MITOGEN_INTERACTION_TIMEOUT_OPTION);
      g_clear_pointer (&options, g_variant_unref);
      options = g_variant_ref_sink (g_variant_dict_end (dict));
      if (handle != 0)
        forward = mitogen_interaction_forward_new (mitogen_call_get_router (call),
                                                   mitogen_call_get_caller_id (call), handle);
      /* The master's limit holds here too (a little later, so that its
       * error is the one reported). */
      if (forward != NULL && timeout >= 0 && isfinite (timeout))
        mitogen_interaction_set_timeout (forward, timeout > 0 ? timeout + 1.0 : 0.0);
    }
  if (id == 0 || id == mitogen_context_id ())
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "mitogen.connect: context id %u is not a new id", id);
      return NULL;
    }
  /* (transfer none): it sinks a floating reference, and ours is not one. */
  context = mitogen_router_connect_with_id (mitogen_call_get_router (call), method,
                                            options, id, forward, error);
  if (context == NULL)
    return NULL;
  /* The identity (a{sv}) came last, after bootstrap bytes: a master that
   * knows only (sxt) or (sx) refuses it, so masters and agents of one
   * release go together, as with the protocol version. */
  return g_variant_new ("(sxt@a{sv})", mitogen_context_get_name (context), (gint64) mitogen_context_get_pid (context),
                        mitogen_context_get_bootstrap_bytes (context),
                        mitogen_protocol_identity_new (mitogen_context_get_uid (context),
                                                       mitogen_context_get_user_name (context)));
}

/* Broker thread: the first frame from the parent must be our configuration. */
static void
config_message (MitogenStream  *stream,
                MitogenMessage *message,
                gpointer        user_data)
{
  MitogenAgent *self = user_data;
  g_autoptr(GError) error = NULL;
  MitogenConfig config;
  const guint32 *parent_ids;
  gsize n_parent_ids;
  guint32 context_id;
  const char *name;

  mitogen_assert_broker_thread (self->broker);
  if (message->header.handle != MITOGEN_HANDLE_CONFIG)
    config_fail ("first frame is not CONFIG");
  if (!mitogen_message_decode (message, &error) ||
      !mitogen_protocol_config_parse (message->value, &config, &error))
    config_fail (error->message);
  context_id = config.context_id;
  parent_ids = config.parent_ids;
  n_parent_ids = config.n_parent_ids;
  name = config.name;
  if (message->header.auth_id != parent_ids[0] || message->header.dst_id != context_id)
    config_fail ("ids in the header disagree with the configuration");
  self->debug = config.debug;
  self->profiling = config.profiling;
  /* Descendants we start (via) inherit both, as in the seed. */
  if (self->debug)
    mitogen_router_enable_debug (self->router);
  if (self->profiling)
    mitogen_router_set_profiling (self->router, TRUE);
  self->max_message_size = config.max_message_size;
  /* The contexts we start (via) get the same keepalive unless their
   * options say otherwise. */
  g_object_set (self->router, "keepalive-interval", config.keepalive_interval,
                "keepalive-count", (guint) config.keepalive_count, NULL);

  self->name = g_strdup (name);
  mitogen_identity_set (context_id, parent_ids, n_parent_ids);
  mitogen_router_configure (self->router, context_id, name, parent_ids, n_parent_ids);
  mitogen_stream_set_remote_id (stream, parent_ids[0]);
  mitogen_protocol_config_clear (&config);
  mitogen_stream_set_max_message_size (stream, self->max_message_size);
  mitogen_stream_set_handshaken (stream, TRUE);
  mitogen_router_set_parent_stream (self->router, stream);
  mitogen_router_set_parent_lost_func (self->router, G_CALLBACK (on_parent_lost), self);
  /* A parent that goes silent (stopped, its host gone) is lost like one
   * that closed the stream: we exit. */
  mitogen_stream_set_keepalive (stream, config.keepalive_interval, config.keepalive_count);
  mitogen_router_add_handler_full (self->router, MITOGEN_HANDLE_CALL_FUNCTION, TRUE,
                                   MITOGEN_NO_RESPONDENT, on_call_function, self, NULL);
  mitogen_router_add_handler_full (self->router, MITOGEN_HANDLE_SHUTDOWN, TRUE,
                                   MITOGEN_NO_RESPONDENT, on_shutdown, self, NULL);
  /* LOAD_MODULE from our children: forwarded up and cached; a function
   * of a module we lack: our parent sends the module first. */
  mitogen_modules_serve (self->router, self->max_message_size);
  mitogen_call_set_missing_func (mitogen_modules_ensure_function);
  g_atomic_int_set (&log_forwarding, TRUE);
  mitogen_register_function ("mitogen.connect", "(sa{sv}u)", "(sxta{sv})",
                             "Start a child context with the given id (the `via` step)",
                             fn_mitogen_connect, NULL);

  g_mutex_lock (&self->lock);
  self->configured = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static void
config_closed (MitogenStream *stream,
               const GError  *error,
               gpointer       user_data)
{
  run_exit_hook ();
  _exit (1);
}

static const MitogenStreamHooks config_hooks = {
  .message = config_message,
  .closed = config_closed,
  .shutdown = NULL,
};

static const char *user_hint;  /* (nullable) "UID:NAME" from --user-hint */

/* The name of our effective uid, or NULL without a passwd entry (a
 * container, a chroot): not g_get_user_name (), which would say
 * "somebody", or go by the real uid. */
static char *
effective_user_name (void)
{
  struct passwd pw, *found = NULL;
  char buffer[4096];

  /* Our parent's name for its own euid, where it started us directly on
   * its machine (the local transport): trusted only for that uid. */
  if (user_hint != NULL)
    {
      const char *colon = strchr (user_hint, ':');
      char *end = NULL;
      guint64 uid = g_ascii_strtoull (user_hint, &end, 10);

      if (colon != NULL && end == colon && end != user_hint && colon[1] != '\0' &&
          uid == (guint64) geteuid ())
        return g_strdup (colon + 1);
    }
  if (getpwuid_r (geteuid (), &pw, buffer, sizeof buffer, &found) != 0 || found == NULL)
    return NULL;
  return g_strdup (found->pw_name);
}

/* Broker thread. */
static gboolean
start_cb (gpointer data)
{
  MitogenAgent *self = data;
  g_autoptr(MitogenMessage) greeting = NULL;
  g_autofree char *user = NULL;

  mitogen_assert_broker_thread (self->broker);
  mitogen_stream_set_hooks (self->parent_stream, &config_hooks, self);
  mitogen_stream_start (self->parent_stream);

  user = effective_user_name ();
  greeting = mitogen_message_new (0, MITOGEN_HANDLE_GREETING,
                                  mitogen_protocol_greeting_new (PACKAGE_VERSION, (gint64) getpid (),
                                                                 (gint64) geteuid (), user));
  mitogen_stream_send (self->parent_stream, greeting);
  return G_SOURCE_REMOVE;
}

/* Main thread. */
static void
profile_record (MitogenAgent *self,
                const char   *function,
                gint64        usec)
{
  ProfileEntry *entry = g_hash_table_lookup (self->profile, function);

  if (entry == NULL)
    {
      entry = g_new0 (ProfileEntry, 1);
      g_hash_table_insert (self->profile, g_strdup (function), entry);
    }
  entry->calls++;
  entry->total_usec += usec;
  entry->max_usec = MAX (entry->max_usec, usec);
}

/* Main thread, on a graceful exit: the seed's profiling dump, as text:
 * one line per function (calls, total, mean and longest time), in
 * /tmp/mitogen.stats.<pid>.log. */
static void
profile_write (MitogenAgent *self)
{
  g_autofree char *path = g_strdup_printf ("/tmp/mitogen.stats.%d.log", (int) getpid ());
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  GHashTableIter iter;
  gpointer key;

  g_string_append_printf (text, "# mitogen profile: context %u (%s), pid %d\n",
                          mitogen_context_id (), self->name, (int) getpid ());
  g_string_append (text, "# function\tcalls\ttotal_s\tmean_us\tmax_us\n");
  g_hash_table_iter_init (&iter, self->profile);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (names, key);
  g_ptr_array_sort (names, mitogen_compare_strings);
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      ProfileEntry *entry = g_hash_table_lookup (self->profile, name);

      g_string_append_printf (text, "%s\t%" G_GUINT64_FORMAT "\t%.6f\t%.1f\t%" G_GINT64_FORMAT "\n",
                              name, entry->calls, entry->total_usec / 1e6,
                              (double) entry->total_usec / (double) entry->calls, entry->max_usec);
    }
  if (!g_file_set_contents (path, text->str, (gssize) text->len, &error))
    g_warning ("profiling: %s", error->message);
}

/* Main thread (the broker's for a quick function): one request. */
static void
serve (MitogenAgent   *self,
       MitogenMessage *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) boxed = NULL;
  g_autoptr(GVariant) args = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(MitogenCall) call = NULL;
  const char *function;

  if (!mitogen_protocol_call_parse (request->value, &function, &boxed, &error))
    {
      refuse_call (self, request, "(malformed call)", error);
      return;
    }
  call = mitogen_call_new (self->router, G_OBJECT (self), function, request->header.src_id);
  mitogen_call_set_reply_to (call, request->header.reply_to, self->max_message_size);
  if (self->profiling)
    {
      gint64 start = g_get_monotonic_time ();

      result = mitogen_invoke_function (call, boxed, &error);
      profile_record (self, function, g_get_monotonic_time () - start);
    }
  else
    result = mitogen_invoke_function (call, boxed, &error);
  if (result == NULL && error == NULL && mitogen_call_is_detached (call))
    return;
  mitogen_call_send_reply (call, g_steal_pointer (&result), error);
}

/* Before any thread exists. The agent is our own process, so its
 * allocator is ours to tune: a large buffer (a call's result, a frame)
 * freed stays in the heap for the next one instead of going back to the
 * kernel, whose fresh pages then fault on every first touch (that cost
 * more than the copies of a bulk transfer). The heap is trimmed when
 * the agent goes idle (next_call ()). */
void
mitogen_agent_tune_allocator (void)
{
#if defined (__GLIBC__) && defined (M_MMAP_THRESHOLD) && defined (M_TRIM_THRESHOLD)
  mallopt (M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt (M_TRIM_THRESHOLD, 64 * 1024 * 1024);
#endif
#if defined (__GLIBC__) && defined (M_ARENA_MAX)
  /* One heap for both threads: glibc would give the broker thread an
   * arena of its own at its first allocation (a 128 MiB reservation, its
   * own pages to fault in), part of every start. Small blocks come from
   * each thread's cache without the heap's lock anyway. */
  mallopt (M_ARENA_MAX, 1);
#endif
}

/* Main thread: nothing to do for a while: gives the kernel back what the
 * heap holds free (mitogen_agent_tune_allocator ()). */
static void
trim_allocator (void)
{
#if defined (__GLIBC__) && defined (M_TRIM_THRESHOLD)
  malloc_trim (0);
#endif
}

/* Main thread. Calls tend to come in bursts: poll the queue briefly before
 * sleeping, which saves a wake-up per call on a busy context. After a
 * second without calls the heap is trimmed, once per idle spell. */
static gpointer
next_call (MitogenAgent *self)
{
  static const gint64 spin_usec = 100;
  static const guint64 trim_usec = G_USEC_PER_SEC;
  gpointer item;

  /* Nothing this thread queued may wait while it does (see
   * mitogen_stream_flush_coalesced ()). */
  mitogen_stream_flush_coalesced ();
  item = g_async_queue_try_pop (self->calls);
  if (item == NULL && self->spin)
    {
      gint64 until = g_get_monotonic_time () + spin_usec;

      while (item == NULL && g_get_monotonic_time () < until)
        {
          g_thread_yield ();
          item = g_async_queue_try_pop (self->calls);
        }
    }
  if (item == NULL)
    item = g_async_queue_timeout_pop (self->calls, trim_usec);
  if (item == NULL)
    {
      trim_allocator ();
      item = g_async_queue_pop (self->calls);
    }
  /* The reply answers this call: written at once, not held back as part
   * of a burst (mitogen_stream_note_message_taken ()). */
  mitogen_stream_note_message_taken ();
  return item;
}

/* Takes the parent's descriptors off 0 and 1, so nothing we run inherits
 * them, and points 0 at /dev/null and 1 at stderr. */
static void
take_parent_fds (int *read_fd,
                 int *write_fd)
{
  struct stat st0, st1;
  int null_fd;

  *read_fd = fcntl (0, F_DUPFD_CLOEXEC, 3);
  if (fstat (0, &st0) == 0 && fstat (1, &st1) == 0 &&
      st0.st_dev == st1.st_dev && st0.st_ino == st1.st_ino && S_ISSOCK (st0.st_mode))
    *write_fd = *read_fd;
  else
    *write_fd = fcntl (1, F_DUPFD_CLOEXEC, 3);

  if (*read_fd < 0 || *write_fd < 0)
    {
      fprintf (stderr, "mitogen-agent: no stream on stdin/stdout\n");
      _exit (1);
    }

  null_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0)
    {
      dup2 (null_fd, 0);
      close (null_fd);
    }
  else
    close (0);
  dup2 (2, 1);
}

/* Main thread: connects to the parent on the descriptors, and waits
 * until it configured us. */
static MitogenAgent *
agent_start (int read_fd,
             int write_fd)
{
  MitogenAgent *self = g_object_new (MITOGEN_TYPE_AGENT, NULL);

  the_agent = self;
  g_log_set_writer_func (agent_log_writer, NULL, NULL);

  self->broker = mitogen_broker_new ();
  self->router = mitogen_router_new_agent (self->broker);
  self->parent_stream = mitogen_stream_new (self->broker, "parent", read_fd, write_fd, 0,
                                            MITOGEN_FRAME_HANDSHAKE_MAX);
  mitogen_broker_defer (self->broker, start_cb, self, NULL);

  g_mutex_lock (&self->lock);
  while (!self->configured)
    g_cond_wait (&self->cond, &self->lock);
  g_mutex_unlock (&self->lock);
  return self;
}

MitogenRouter *
mitogen_agent_start_client (int         fd,
                            int         status,
                            const char *message)
{
  MitogenAgent *self;

  lost_status = status;
  lost_message = message;
  self = agent_start (fd, fd);
  /* The client lives until it exits: its agent is never freed. */
  return self->router;
}

int
mitogen_agent_main (int    argc,
                    char **argv)
{
  g_autoptr(MitogenAgent) self = NULL;
  int read_fd, write_fd;
  gboolean unlinked = FALSE;

  /* Stage 1 of the bootstrap checks that the file it wrote can run. */
  if (argc > 1 && strcmp (argv[1], "--probe") == 0)
    return 0;
  mitogen_agent_tune_allocator ();
  /* ... and has us remove that file: nothing stays on disk. We keep it
   * open: it is the image we ship to children we start ourselves. */
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp (argv[i], "--unlink") == 0)
      {
        int fd = open (argv[i + 1], O_RDONLY | O_CLOEXEC);

        if (fd >= 0)
          mitogen_bootstrap_set_self_image (fd, argv[i + 1]);
        unlink (argv[i + 1]);
        unlinked = TRUE;
      }
  /* The local transport names our user (effective_user_name ()). */
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp (argv[i], "--user-hint") == 0)
      user_hint = argv[i + 1];
  if (keep_agent_path)
    ;
  else if (!unlinked)
    mitogen_plugins_set_agent_path_self ();
  else
    mitogen_plugins_set_agent_path (NULL);

  take_parent_fds (&read_fd, &write_fd);

  self = agent_start (read_fd, write_fd);

  g_debug ("context %u (%s) serving", mitogen_context_id (), self->name);

  for (;;)
    {
      gpointer item = next_call (self);
      MitogenMessage *request;

      if (item == &stop_marker)
        break;
      request = item;
      serve (self, request);
      mitogen_message_unref (request);
      g_atomic_int_add (&self->queued_calls, -1);
    }

  /* Calls queued behind SHUTDOWN are dropped; the parent fails them when
   * our stream closes. */
  for (gpointer item; (item = g_async_queue_try_pop (self->calls)) != NULL; )
    if (item != &stop_marker)
      mitogen_message_unref (item);

  if (self->profiling)
    profile_write (self);

  g_atomic_int_set (&log_forwarding, FALSE);
  mitogen_router_set_parent_lost_func (self->router, NULL, NULL);
  mitogen_router_shutdown (self->router);
  the_agent = NULL;
  run_exit_hook ();
  return 0;
}
