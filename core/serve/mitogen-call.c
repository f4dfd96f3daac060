/* mitogen-call.c — the function registry and MitogenCall
 *
 * Functions are registered by name ("module.function") with the GVariant
 * type their arguments must have and the type they return. A call checks
 * the arguments before the function runs, so functions never see a value
 * of the wrong shape. The registry is process-wide and thread-safe.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-call"

#include "config.h"

#include "mitogen-call-private.h"
#include "mitogen-utils-private.h"
#include "mitogen-message-private.h"
#include "mitogen-protocol-private.h"
#include "mitogen-router-private.h"

struct _MitogenCall
{
  gatomicrefcount  ref_count;
  MitogenRouter   *router;     /* (owned) (nullable) */
  GObject         *agent;      /* (owned) (nullable) */
  char            *function;   /* (owned) */
  guint32          caller_id;
  guint32          reply_to;   /* the caller's handle for the reply; 0: none wanted */
  guint64          reply_max;  /* the largest reply the caller takes; 0: no limit */
  gint             detached;   /* (atomic) the function replies later itself */
  gpointer         user_data;  /* (unowned) the registered function's data */
};

typedef struct
{
  gatomicrefcount  ref_count;    /* the table's, plus one per running call */
  const char      *name;         /* these four: owned unless static_strings */
  const char      *args_type;
  const char      *return_type;
  const char      *description;
  gboolean         static_strings;  /* the built-in tables': live for ever */
  MitogenFunc      func;
  gpointer         user_data;
  GDestroyNotify   destroy;      /* (nullable) frees user_data with the entry */
  gboolean         quick;        /* guarded by registry_lock: mitogen_mark_functions_quick () */
} Entry;

static GMutex registry_lock;
static GHashTable *registry;  /* (owned) name -> Entry (owned) */

/**
 * MitogenCall:
 *
 * What a [callback@Mitogen.Func] is told about the call it serves: the
 * function name, the caller, the router (the seed's `takes_router`) and the
 * agent (the seed's `takes_econtext`). A refcounted boxed type, valid for
 * the duration of the call unless referenced.
 */
G_DEFINE_BOXED_TYPE (MitogenCall, mitogen_call, mitogen_call_ref, mitogen_call_unref)

MitogenCall *
mitogen_call_new (MitogenRouter *router,
                  GObject       *agent,
                  const char    *function,
                  guint32        caller_id)
{
  MitogenCall *self = g_new0 (MitogenCall, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->router = router != NULL ? g_object_ref (router) : NULL;
  self->agent = agent != NULL ? g_object_ref (agent) : NULL;
  self->function = g_strdup (function);
  self->caller_id = caller_id;
  return self;
}

/**
 * mitogen_call_ref:
 * @self: a call
 *
 * Takes a reference. Any thread.
 *
 * Returns: (transfer full): @self
 */
MitogenCall *
mitogen_call_ref (MitogenCall *self)
{
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

/**
 * mitogen_call_unref:
 * @self: (transfer full): a call
 *
 * Drops a reference; the last one frees the call. Any thread.
 */
void
mitogen_call_unref (MitogenCall *self)
{
  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  g_clear_object (&self->router);
  g_clear_object (&self->agent);
  g_free (self->function);
  g_free (self);
}

/**
 * mitogen_call_get_router:
 * @self: a call
 *
 * The seed's `takes_router`: the router of the context serving the call.
 *
 * Returns: (transfer none) (nullable): the router
 */
MitogenRouter *
mitogen_call_get_router (MitogenCall *self)
{
  return self->router;
}

/**
 * mitogen_call_get_agent:
 * @self: a call
 *
 * The seed's `takes_econtext`: the agent (child-side runtime) serving the
 * call; %NULL when a function is invoked in the master.
 *
 * Returns: (transfer none) (nullable): the agent
 */
GObject *
mitogen_call_get_agent (MitogenCall *self)
{
  return self->agent;
}

/**
 * mitogen_call_get_function:
 * @self: a call
 *
 * The registered name the caller asked for, `module.function`.
 *
 * Returns: the name of the function being called
 */
const char *
mitogen_call_get_function (MitogenCall *self)
{
  return self->function;
}

/**
 * mitogen_call_get_caller_id:
 * @self: a call
 *
 * The id of the context that made the call, taken from the request's
 * `src_id`.
 *
 * Returns: the id of the context that made the call
 */
guint32
mitogen_call_get_caller_id (MitogenCall *self)
{
  return self->caller_id;
}

/**
 * mitogen_call_get_user_data:
 * @self: a call
 *
 * The `user_data` given to [func@Mitogen.register_function] with the
 * function being run.
 *
 * Returns: (nullable): the user data the function was registered with
 */
gpointer
mitogen_call_get_user_data (MitogenCall *self)
{
  return self->user_data;
}

static Entry *
entry_ref (Entry *entry)
{
  g_atomic_ref_count_inc (&entry->ref_count);
  return entry;
}

/* Any thread: the last reference goes when a name is registered again and
 * no call of the old function is still running. */
static void
entry_unref (gpointer data)
{
  Entry *entry = data;

  if (!g_atomic_ref_count_dec (&entry->ref_count))
    return;
  if (entry->destroy != NULL)
    entry->destroy (entry->user_data);
  if (!entry->static_strings)
    {
      g_free ((char *) entry->name);
      g_free ((char *) entry->args_type);
      g_free ((char *) entry->return_type);
      g_free ((char *) entry->description);
    }
  g_free (entry);
}

static void
ensure_table (void)
{
  static gsize once;

  if (g_once_init_enter (&once))
    {
      registry = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, entry_unref);
      g_once_init_leave (&once, 1);
    }
}

/* The built-ins are the services layer's (mitogen_services_register (),
 * services/mitogen-services.c): the registry asks for them on first use
 * through this weak reference, so this layer includes nothing above it. It
 * is weak here only: a program that calls it by its header (the agent)
 * links the services layer; one without it has no built-ins. */
extern void mitogen_services_register (void) __attribute__((weak));

static void
ensure_registry (void)
{
  static gsize once;

  if (g_once_init_enter (&once))
    {
      ensure_table ();
      if (mitogen_services_register != NULL)
        mitogen_services_register ();
      g_once_init_leave (&once, 1);
    }
}

static void
register_entry (const char     *name,
                const char     *args_type,
                const char     *return_type,
                const char     *description,
                gboolean        static_strings,
                MitogenFunc     func,
                gpointer        user_data,
                GDestroyNotify  destroy)
{
  Entry *entry = g_new0 (Entry, 1);

  ensure_table ();

  g_atomic_ref_count_init (&entry->ref_count);
  entry->destroy = destroy;
  if (description == NULL)
    description = "";
  entry->static_strings = static_strings;
  if (static_strings)
    {
      entry->name = name;
      entry->args_type = args_type;
      entry->return_type = return_type;
      entry->description = description;
    }
  else
    {
      entry->name = g_strdup (name);
      entry->args_type = g_strdup (args_type);
      entry->return_type = g_strdup (return_type);
      entry->description = g_strdup (description);
    }
  entry->func = func;
  entry->user_data = user_data;

  g_mutex_lock (&registry_lock);
  g_hash_table_replace (registry, (gpointer) entry->name, entry);
  g_mutex_unlock (&registry_lock);
}

/* Any thread. */
void
mitogen_mark_functions_quick (const char * const *names)
{
  ensure_table ();
  g_mutex_lock (&registry_lock);
  for (gsize i = 0; names[i] != NULL; i++)
    {
      Entry *entry = g_hash_table_lookup (registry, names[i]);

      if (entry != NULL)
        entry->quick = TRUE;
    }
  g_mutex_unlock (&registry_lock);
}

/* Any thread (the agent's broker). */
gboolean
mitogen_function_is_quick (const char *name)
{
  Entry *entry;
  gboolean quick;

  ensure_registry ();
  g_mutex_lock (&registry_lock);
  entry = g_hash_table_lookup (registry, name);
  quick = entry != NULL && entry->quick;
  g_mutex_unlock (&registry_lock);
  return quick;
}

/* Registers without first registering the built-ins (they use this). */
void
mitogen_register_function_table (const MitogenFunctionInfo *table)
{
  ensure_table ();
  for (const MitogenFunctionInfo *e = table; e->name != NULL; e++)
    register_entry (e->name, e->args_type, e->return_type, e->description, TRUE, e->func, NULL, NULL);
}

/**
 * mitogen_register_function:
 * @name: the name callers use, `module.function`
 * @args_type: the GVariant type the argument tuple must have, e.g. `(s)`,
 *   `()`, or `r` for any tuple
 * @return_type: the GVariant type of the result, for documentation
 * @description: (nullable): one line saying what the function does
 * @func: (scope forever): the function
 * @user_data: (nullable): data for @func, from [method@Mitogen.Call.get_user_data]
 *
 * Makes @func callable by name from other contexts (registering a name
 * again replaces it, built-ins included). Any thread.
 *
 * The registry belongs to the process: a function registered here runs
 * when this process serves a call, that is in an agent, or in
 * [func@Mitogen.invoke_function]. @user_data is never freed; see
 * [func@Mitogen.register_function_full] for a variant that frees it when
 * the name is registered again.
 */
void
mitogen_register_function (const char  *name,
                           const char  *args_type,
                           const char  *return_type,
                           const char  *description,
                           MitogenFunc  func,
                           gpointer     user_data)
{
  g_return_if_fail (name != NULL && name[0] != '\0');
  g_return_if_fail (args_type != NULL && g_variant_type_string_is_valid (args_type));
  g_return_if_fail (return_type != NULL && g_variant_type_string_is_valid (return_type));
  g_return_if_fail (func != NULL);

  ensure_registry ();
  register_entry (name, args_type, return_type, description, FALSE, func, user_data, NULL);
}

/**
 * mitogen_register_function_full: (rename-to mitogen_register_function)
 * @name: the name callers use, `module.function`
 * @args_type: the GVariant type the argument tuple must have, e.g. `(s)`,
 *   `()`, or `r` for any tuple
 * @return_type: the GVariant type of the result, for documentation
 * @description: (nullable): one line saying what the function does
 * @func: (scope notified) (closure user_data) (destroy destroy): the function
 * @user_data: (nullable): data for @func, from [method@Mitogen.Call.get_user_data]
 * @destroy: (nullable): frees @user_data once the name is registered again
 *   and no call of @func is running any more
 *
 * Like [func@Mitogen.register_function], and frees @user_data with
 * @destroy when the registration is replaced. This is the form language
 * bindings use (it is `Mitogen.register_function` there). Any thread.
 *
 * Since: 0.1
 */
void
mitogen_register_function_full (const char     *name,
                                const char     *args_type,
                                const char     *return_type,
                                const char     *description,
                                MitogenFunc     func,
                                gpointer        user_data,
                                GDestroyNotify  destroy)
{
  g_return_if_fail (name != NULL && name[0] != '\0');
  g_return_if_fail (args_type != NULL && g_variant_type_string_is_valid (args_type));
  g_return_if_fail (return_type != NULL && g_variant_type_string_is_valid (return_type));
  g_return_if_fail (func != NULL);

  ensure_registry ();
  register_entry (name, args_type, return_type, description, FALSE, func, user_data, destroy);
}

/**
 * mitogen_lookup_function:
 * @name: a function name
 * @args_type: (out) (optional) (transfer none): its argument type
 * @return_type: (out) (optional) (transfer none): its return type
 * @description: (out) (optional) (transfer none): its description
 *
 * Describes a registered function: its argument type, return type and
 * description. Any thread; the strings belong to the registry and stay valid
 * until @name is registered again.
 *
 * Returns: %TRUE if @name is registered
 */
gboolean
mitogen_lookup_function (const char  *name,
                         const char **args_type,
                         const char **return_type,
                         const char **description)
{
  Entry *entry;

  ensure_registry ();

  /* Entries are never freed while registered names are looked up in
   * practice; replacing a name while it is being described is a race the
   * caller must avoid. */
  g_mutex_lock (&registry_lock);
  entry = g_hash_table_lookup (registry, name);
  g_mutex_unlock (&registry_lock);

  if (entry == NULL)
    return FALSE;
  if (args_type != NULL)
    *args_type = entry->args_type;
  if (return_type != NULL)
    *return_type = entry->return_type;
  if (description != NULL)
    *description = entry->description;
  return TRUE;
}

/**
 * mitogen_list_functions:
 *
 * The names of every function registered in this process, built-ins
 * included. Any thread.
 *
 * Returns: (transfer full): the registered function names, sorted
 */
char **
mitogen_list_functions (void)
{
  GPtrArray *names = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  ensure_registry ();

  g_mutex_lock (&registry_lock);
  g_hash_table_iter_init (&iter, registry);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (names, g_strdup (key));
  g_mutex_unlock (&registry_lock);

  return mitogen_strv_take_sorted (names);
}

static MitogenMissingFunc missing_func;   /* set once, before calls are served */

void
mitogen_call_set_missing_func (MitogenMissingFunc func)
{
  missing_func = func;
}

/* Any thread. The entry for @name, with a reference, or NULL. */
static Entry *
lookup_ref (const char *name)
{
  Entry *entry;

  g_mutex_lock (&registry_lock);
  entry = g_hash_table_lookup (registry, name);
  if (entry != NULL)
    entry_ref (entry);
  g_mutex_unlock (&registry_lock);
  return entry;
}

/**
 * mitogen_invoke_function:
 * @call: the call, naming the function
 * @args: (nullable): the argument tuple (a floating reference is sunk); %NULL is `()`
 * @error: return location for a #GError
 *
 * Looks the function up, checks @args against its argument type and runs
 * it in the calling thread.
 *
 * Returns: (transfer full): the result; %NULL with %MITOGEN_ERROR_NOT_FOUND
 *   (unknown function), %MITOGEN_ERROR_INVALID_ARGUMENT (wrong argument
 *   type), or the function's own error
 */
GVariant *
mitogen_invoke_function (MitogenCall  *call,
                         GVariant     *args,
                         GError      **error)
{
  g_autoptr(GVariant) tuple = NULL;
  g_autoptr(GError) local_error = NULL;
  GVariant *result;
  Entry *entry;

  ensure_registry ();

  tuple = args != NULL ? g_variant_ref_sink (args) : mitogen_protocol_unit ();

  /* A reference keeps the function's data alive while it runs, even if
   * its name is registered again meanwhile. */
  entry = lookup_ref (call->function);
  /* Not registered: what provides it (a function module) may load it. */
  if (entry == NULL && missing_func != NULL && call->router != NULL)
    {
      if (!missing_func (call->router, call->function, call->reply_max, error))
        return NULL;
      entry = lookup_ref (call->function);
    }
  if (entry == NULL)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_FOUND,
                   "No function named '%s' is registered", call->function);
      return NULL;
    }
  if (!g_variant_is_of_type (tuple, G_VARIANT_TYPE (entry->args_type)))
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "%s expects arguments of type %s, got %s",
                   call->function, entry->args_type, g_variant_get_type_string (tuple));
      entry_unref (entry);
      return NULL;
    }

  call->user_data = entry->user_data;
  result = entry->func (call, tuple, &local_error);
  entry_unref (entry);
  if (local_error != NULL)
    {
      if (result != NULL)
        g_variant_unref (g_variant_ref_sink (result));
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  if (result == NULL && g_atomic_int_get (&call->detached))
    return NULL;
  if (result == NULL)
    return mitogen_protocol_unit ();
  /* (transfer full): a floating result becomes ours; a full one already is. */
  if (g_variant_is_floating (result))
    g_variant_ref_sink (result);
  return result;
}

void
mitogen_call_set_reply_to (MitogenCall *self,
                           guint32      reply_to,
                           guint64      max_size)
{
  self->reply_to = reply_to;
  self->reply_max = max_size;
}

void
mitogen_call_detach (MitogenCall *self)
{
  g_atomic_int_set (&self->detached, TRUE);
}

gboolean
mitogen_call_is_detached (MitogenCall *self)
{
  return g_atomic_int_get (&self->detached);
}

void
mitogen_call_send_reply (MitogenCall  *self,
                         GVariant     *result,
                         const GError *error)
{
  g_autoptr(MitogenMessage) reply = NULL;
  g_autoptr(GVariant) owned = result != NULL ? g_variant_take_ref (result) : NULL;

  g_return_if_fail (self->router != NULL);

  if (self->reply_to == 0)
    return;
  if (error == NULL)
    {
      reply = mitogen_message_new (self->caller_id, self->reply_to,
                                   owned != NULL ? owned : g_variant_new_tuple (NULL, 0));
      if (self->reply_max != 0 && reply->header.length > self->reply_max)
        {
          g_autoptr(GError) too_big = g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                                                   "%s: result of %u bytes exceeds max_message_size (%" G_GUINT64_FORMAT ")",
                                                   self->function, reply->header.length, self->reply_max);

          g_clear_pointer (&reply, mitogen_message_unref);
          reply = mitogen_message_new_error (self->caller_id, self->reply_to, too_big,
                                             mitogen_router_get_name (self->router));
        }
    }
  else
    reply = mitogen_message_new_error (self->caller_id, self->reply_to, error,
                                       mitogen_router_get_name (self->router));
  mitogen_router_route (self->router, reply, NULL);
}
