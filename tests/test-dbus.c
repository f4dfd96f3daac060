/* test-dbus.c — mitogen_context_open_dbus () against a real dbus-daemon
 *
 * The test starts its own dbus-daemon (a session-type bus listening on a
 * unix:path= socket in a temp dir and on a unix:abstract= name, every
 * user allowed), and a test service on it: a direct GDBus connection in
 * a thread of its own that owns org.mitogen.Test and exports Ping, Echo,
 * Emit (signals) and WhoAmI (the caller's uid as the bus saw it). Contexts
 * reach the bus through open_dbus (); the service is on "the remote side".
 *
 * Sudo to nobody (as root, no password) shows the bus authenticates the
 * agent's uid, not the master's: the agent rewrites GDBus's EXTERNAL
 * identity (docs/dbus.md). Skipped when not root or without sudo. So
 * does ssh to a host in a network namespace (tests/hosts/host-fixture.c:
 * needs root, sshd and iproute2; skipped otherwise).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <gio/gunixfdlist.h>

#include "mitogen-test.h"
#include "host-fixture.h"

#define SERVICE_NAME  "org.mitogen.Test"
#define SERVICE_PATH  "/org/mitogen/Test"
#define SERVICE_IFACE "org.mitogen.Test"

static const char service_xml[] =
  "<node>"
  "  <interface name='" SERVICE_IFACE "'>"
  "    <method name='Ping'><arg type='s' direction='in'/><arg type='s' direction='out'/></method>"
  "    <method name='Echo'><arg type='ay' direction='in'/><arg type='ay' direction='out'/></method>"
  "    <method name='Emit'><arg type='u' name='count' direction='in'/><arg type='u' name='size' direction='in'/></method>"
  "    <method name='WhoAmI'><arg type='u' direction='out'/></method>"
  "    <signal name='Tick'><arg type='u'/><arg type='ay'/></signal>"
  "  </interface>"
  "</node>";

/* The bus and the service, once per test program. */
static char *bus_dir;            /* (owned) 0755 temp dir */
static char *path_address;       /* (owned) unix:path=BUS_DIR/bus */
static char *abstract_address;   /* (owned) unix:abstract=... */
static GPid bus_pid;
static GThread *service_thread;
static GMainLoop *service_loop;
static GDBusConnection *service_bus;  /* (owned) the service's direct connection */
static GMutex service_lock;
static GCond service_cond;
static gboolean service_ready;
static GDBusConnection *direct;  /* (owned) the test's own direct connection */
static GPid guardian_pid;
static int guardian_pipe = -1;

/* --- the service (its own thread) ------------------------------------------ */

static void
service_method (GDBusConnection       *connection,
                const char            *sender,
                const char            *object_path,
                const char            *interface_name,
                const char            *method_name,
                GVariant              *parameters,
                GDBusMethodInvocation *invocation,
                gpointer               user_data)
{
  if (g_str_equal (method_name, "Ping"))
    {
      const char *text;
      g_autofree char *pong = NULL;

      g_variant_get (parameters, "(&s)", &text);
      pong = g_strdup_printf ("pong: %s", text);
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(s)", pong));
    }
  else if (g_str_equal (method_name, "Echo"))
    g_dbus_method_invocation_return_value (invocation, parameters);
  else if (g_str_equal (method_name, "Emit"))
    {
      guint32 count, size;

      g_variant_get (parameters, "(uu)", &count, &size);
      for (guint32 i = 0; i < count; i++)
        {
          g_autofree guint8 *data = g_malloc (size);

          memset (data, (int) (i & 0xff), size);
          g_dbus_connection_emit_signal (connection, sender, SERVICE_PATH, SERVICE_IFACE, "Tick",
                                         g_variant_new ("(u@ay)", i,
                                                        g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, size, 1)),
                                         NULL);
        }
      g_dbus_method_invocation_return_value (invocation, NULL);
    }
  else if (g_str_equal (method_name, "WhoAmI"))
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) uid = g_dbus_connection_call_sync (connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                                             "org.freedesktop.DBus", "GetConnectionUnixUser",
                                                             g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(u)"),
                                                             G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);

      if (uid == NULL)
        g_dbus_method_invocation_return_gerror (invocation, error);
      else
        g_dbus_method_invocation_return_value (invocation, uid);
    }
}

static gpointer
service_main (gpointer data)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusNodeInfo) info = NULL;
  g_autoptr(GVariant) reply = NULL;
  static const GDBusInterfaceVTable vtable = { service_method, NULL, NULL, { 0 } };
  guint id;

  g_main_context_push_thread_default (context);
  service_loop = g_main_loop_new (context, FALSE);
  service_bus = g_dbus_connection_new_for_address_sync (path_address,
                                                        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                        NULL, NULL, &error);
  g_assert_no_error (error);
  info = g_dbus_node_info_new_for_xml (service_xml, &error);
  g_assert_no_error (error);
  id = g_dbus_connection_register_object (service_bus, SERVICE_PATH, info->interfaces[0], &vtable, NULL, NULL, &error);
  g_assert_no_error (error);
  reply = g_dbus_connection_call_sync (service_bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "RequestName",
                                       g_variant_new ("(su)", SERVICE_NAME, 0x4 /* DO_NOT_QUEUE */),
                                       G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);

  g_mutex_lock (&service_lock);
  service_ready = TRUE;
  g_cond_broadcast (&service_cond);
  g_mutex_unlock (&service_lock);

  g_main_loop_run (service_loop);
  g_dbus_connection_unregister_object (service_bus, id);
  g_dbus_connection_close_sync (service_bus, NULL, NULL);
  g_clear_object (&service_bus);
  g_main_context_pop_thread_default (context);
  return NULL;
}

/* --- the bus ---------------------------------------------------------------- */

static void
bus_child_setup (gpointer data)
{
  /* Goes with us, however we go. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static void
guardian_setup (gpointer data)
{
  /* Out of the test's session: a signal to the test's group spares it. */
  setsid ();
}

/* Removes the temp dir when our end of its pipe closes, however we exit
 * (a failed assertion aborts). */
static void
start_guardian (void)
{
  g_autofree char *script = g_strdup_printf ("exec >/dev/null 2>&1; cat; rm -rf '%s'", bus_dir);
  const char *argv[] = { "/bin/sh", "-c", script, "mitogen-test-dbus-guardian", NULL };
  g_autoptr(GError) error = NULL;
  int fds[2];

  g_assert_true (g_unix_open_pipe (fds, FD_CLOEXEC, &error));
  g_assert_true (g_spawn_async_with_pipes_and_fds (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                                   guardian_setup, NULL, fds[0], -1, -1,
                                                   NULL, NULL, 0, &guardian_pid, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  close (fds[0]);
  guardian_pipe = fds[1];
}

static void
start_bus (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *config = NULL;
  g_autofree char *config_path = NULL;
  g_autofree char *config_arg = NULL;
  g_autofree char *abstract = g_strdup_printf ("mitogen-test-dbus-%d-%u", (int) getpid (), g_random_int ());
  g_autoptr(GIOChannel) out = NULL;
  g_autofree char *line = NULL;
  int out_fd = -1;

  bus_dir = g_dir_make_tmp ("mitogen-dbus-XXXXXX", &error);
  g_assert_no_error (error);
  /* Other users (the sudo test's nobody) reach the socket through it. */
  g_assert_cmpint (chmod (bus_dir, 0755), ==, 0);
  start_guardian ();
  path_address = g_strdup_printf ("unix:path=%s/bus", bus_dir);
  abstract_address = g_strdup_printf ("unix:abstract=%s", abstract);
  config = g_strdup_printf ("<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                            " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                            "<busconfig>\n"
                            "  <type>session</type>\n"
                            "  <listen>%s</listen>\n"
                            "  <listen>%s</listen>\n"
                            "  <auth>EXTERNAL</auth>\n"
                            "  <policy context=\"default\">\n"
                            "    <allow user=\"*\"/>\n"
                            "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
                            "    <allow eavesdrop=\"true\"/>\n"
                            "    <allow own=\"*\"/>\n"
                            "  </policy>\n"
                            "</busconfig>\n", path_address, abstract_address);
  config_path = g_build_filename (bus_dir, "bus.conf", NULL);
  g_assert_true (g_file_set_contents (config_path, config, -1, &error));
  config_arg = g_strdup_printf ("--config-file=%s", config_path);

  {
    const char *argv[] = { "dbus-daemon", config_arg, "--nofork", "--nopidfile", "--print-address=1", NULL };

    g_assert_true (g_spawn_async_with_pipes_and_fds (NULL, argv, NULL,
                                                     G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                                                     bus_child_setup, NULL, -1, -1, -1, NULL, NULL, 0,
                                                     &bus_pid, NULL, &out_fd, NULL, &error));
    g_assert_no_error (error);
  }
  /* The first address printed: the bus listens. */
  out = g_io_channel_unix_new (out_fd);
  g_io_channel_set_close_on_unref (out, TRUE);
  g_assert_cmpint (g_io_channel_read_line (out, &line, NULL, NULL, &error), ==, G_IO_STATUS_NORMAL);
  g_assert_no_error (error);
  g_test_message ("dbus-daemon %d: %s", (int) bus_pid, g_strstrip (line));
  /* The config is read; the socket and the config are all the dir holds. */
  g_unlink (config_path);

  service_thread = g_thread_new ("test-dbus-service", service_main, NULL);
  g_mutex_lock (&service_lock);
  while (!service_ready)
    g_cond_wait (&service_cond, &service_lock);
  g_mutex_unlock (&service_lock);

  direct = g_dbus_connection_new_for_address_sync (path_address,
                                                   G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                   NULL, NULL, &error);
  g_assert_no_error (error);
}

static void
stop_bus (void)
{
  g_autofree char *socket_path = g_build_filename (bus_dir, "bus", NULL);

  g_dbus_connection_close_sync (direct, NULL, NULL);
  g_clear_object (&direct);
  g_main_loop_quit (service_loop);
  g_thread_join (service_thread);
  g_main_loop_unref (service_loop);
  kill (bus_pid, SIGTERM);
  g_assert_true (mitogen_test_wait_pid_gone (bus_pid, 10000));
  waitpid (bus_pid, NULL, 0);
  g_unlink (socket_path);
  g_assert_cmpint (g_rmdir (bus_dir), ==, 0);
  close (guardian_pipe);
  waitpid (guardian_pid, NULL, 0);
  g_free (bus_dir);
  g_free (path_address);
  g_free (abstract_address);
}

/* --- helpers ----------------------------------------------------------------- */

static GVariant *
call_sync (GDBusConnection *bus,
           const char      *dest,
           const char      *path,
           const char      *iface,
           const char      *method,
           GVariant        *args,
           const char      *reply_type)
{
  g_autoptr(GError) error = NULL;
  GVariant *reply = g_dbus_connection_call_sync (bus, dest, path, iface, method, args,
                                                 reply_type != NULL ? G_VARIANT_TYPE (reply_type) : NULL,
                                                 G_DBUS_CALL_FLAGS_NONE, 60000, NULL, &error);

  g_assert_no_error (error);
  return reply;
}

/* The unique names on the bus (the direct connection's view). */
static guint
count_connections (void)
{
  g_autoptr(GVariant) reply = call_sync (direct, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                         "org.freedesktop.DBus", "ListNames", NULL, "(as)");
  g_autofree const char **names = NULL;
  guint n = 0;

  g_variant_get (reply, "(^a&s)", &names);
  for (guint i = 0; names[i] != NULL; i++)
    if (names[i][0] == ':')
      n++;
  return n;
}

/* Waits (up to 20 s) until @n unique names are on the bus, running the
 * default main context meanwhile (where GDBus emits ::closed). */
static void
assert_connections (guint n)
{
  for (int i = 0; i < 400 && count_connections () != n; i++)
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (50 * 1000);
    }
  g_assert_cmpuint (count_connections (), ==, n);
}

static char *
ping (GDBusConnection *bus,
      const char      *text)
{
  g_autoptr(GVariant) reply = call_sync (bus, SERVICE_NAME, SERVICE_PATH, SERVICE_IFACE, "Ping",
                                         g_variant_new ("(s)", text), "(s)");
  char *out;

  g_variant_get (reply, "(s)", &out);
  return out;
}

static guint32
who_am_i (GDBusConnection *bus)
{
  g_autoptr(GVariant) reply = call_sync (bus, SERVICE_NAME, SERVICE_PATH, SERVICE_IFACE, "WhoAmI", NULL, "(u)");
  guint32 uid;

  g_variant_get (reply, "(u)", &uid);
  return uid;
}

static GDBusConnection *
open_ok (MitogenContext *context,
         const char     *address)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *bus = mitogen_context_open_dbus (context, G_BUS_TYPE_SESSION, address, NULL, &error);

  g_assert_no_error (error);
  g_assert_true (G_IS_DBUS_CONNECTION (bus));
  return bus;
}

static void
close_and_wait (GDBusConnection *bus,
                guint            expected_connections)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (g_dbus_connection_close_sync (bus, NULL, &error));
  g_assert_no_error (error);
  /* The agent's socket to the bus closes with it. */
  assert_connections (expected_connections);
}

/* Whether memory bounds are asserted: not in -Db_sanitize builds, whose
 * allocator keeps freed memory in quarantine (the figures are printed). */
#define CHECK_MEMORY (!MITOGEN_TEST_SANITIZED)

/* --- tests -------------------------------------------------------------------- */

static void
test_basics (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = mitogen_test_local (router);
  guint before = count_connections ();
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GDBusProxy) proxy = NULL;
  g_autoptr(GVariant) id = NULL;
  g_autoptr(GVariant) direct_id = NULL;
  g_autoptr(GVariant) names = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree const char **list = NULL;
  g_autofree char *pong = NULL;

  g_test_summary ("Through a local context: GetId and ListNames through a GDBusProxy on "
                  "org.freedesktop.DBus, a method of a service owning a name on another "
                  "connection, no fd passing negotiated; closing closes the agent's bus socket.");
  bus = open_ok (context, path_address);
  g_assert_nonnull (g_dbus_connection_get_unique_name (bus));
  g_assert_false (g_dbus_connection_get_capabilities (bus) & G_DBUS_CAPABILITY_FLAGS_UNIX_FD_PASSING);
  g_assert_cmpuint (count_connections (), ==, before + 1);

  proxy = g_dbus_proxy_new_sync (bus, G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES | G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS,
                                 NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                 NULL, &error);
  g_assert_no_error (error);
  id = g_dbus_proxy_call_sync (proxy, "GetId", NULL, G_DBUS_CALL_FLAGS_NONE, 30000, NULL, &error);
  g_assert_no_error (error);
  direct_id = call_sync (direct, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                         "GetId", NULL, "(s)");
  g_assert_true (g_variant_equal (id, direct_id));

  names = g_dbus_proxy_call_sync (proxy, "ListNames", NULL, G_DBUS_CALL_FLAGS_NONE, 30000, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (names, "(^a&s)", &list);
  g_assert_true (g_strv_contains (list, SERVICE_NAME));
  g_assert_true (g_strv_contains (list, g_dbus_connection_get_unique_name (bus)));

  pong = ping (bus, "through a context");
  g_assert_cmpstr (pong, ==, "pong: through a context");
  g_assert_cmpuint (who_am_i (bus), ==, getuid ());

  close_and_wait (bus, before);
  g_assert_true (g_dbus_connection_is_closed (bus));
  g_clear_object (&proxy);
  g_clear_object (&bus);

  /* A message carrying a descriptor: GDBus does not send it (no fd
   * capability); GLib 2.74's worker then closes the connection itself.
   * The tunnel and the bus see a plain close; the context serves on. */
  bus = open_ok (context, path_address);
  {
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
    g_autoptr(GVariant) reply = NULL;

    g_assert_cmpint (g_unix_fd_list_append (fds, 0, &error), ==, 0);
    g_assert_no_error (error);
    reply = g_dbus_connection_call_with_unix_fd_list_sync (bus, SERVICE_NAME, SERVICE_PATH, SERVICE_IFACE, "Ping",
                                                           g_variant_new ("(s)", "fd"), NULL, G_DBUS_CALL_FLAGS_NONE,
                                                           30000, fds, NULL, NULL, &error);
    g_assert_null (reply);
    g_assert_nonnull (error);
    g_test_message ("a descriptor through the tunnel: %s", error->message);
    g_clear_error (&error);
  }
  g_clear_object (&bus);
  assert_connections (before);
  /* The context serves on. */
  bus = open_ok (context, abstract_address);
  g_clear_pointer (&pong, g_free);
  pong = ping (bus, "abstract");
  g_assert_cmpstr (pong, ==, "pong: abstract");
  close_and_wait (bus, before);
  g_clear_object (&bus);

  /* Dropping the last reference without closing closes it too. */
  bus = open_ok (context, path_address);
  g_clear_pointer (&pong, g_free);
  pong = ping (bus, "dropped");
  g_clear_object (&bus);
  assert_connections (before);
  mitogen_router_shutdown (router);
}

/* Waits (up to 10 s) until the process has @threads threads and @fds
 * descriptors. */
static void
assert_threads_and_fds (guint threads,
                        guint fds)
{
  for (int i = 0; i < 200 && (mitogen_test_count_threads () != threads || mitogen_test_count_fds () != fds); i++)
    g_usleep (50 * 1000);
  if (mitogen_test_count_fds () != fds)
    {
      g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = g_build_filename ("/proc/self/fd", name, NULL);
          g_autofree char *target = g_file_read_link (path, NULL);

          g_test_message ("fd %s -> %s", name, target != NULL ? target : "?");
        }
    }
  g_assert_cmpuint (mitogen_test_count_threads (), ==, threads);
  g_assert_cmpuint (mitogen_test_count_fds (), ==, fds);
}

static void
test_resources (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = mitogen_test_local (router);
  guint before = count_connections ();
  guint threads, fds;

  g_test_summary ("Ten tunnels opened and closed one after the other: no thread and no "
                  "descriptor is left in the master, no connection on the bus.");
  /* Two first (one dropped, one closed): GDBus's worker thread, GLib's
   * thread pool and the like stay for the process; then the counts are
   * taken once they hold still for half a second. */
  g_object_unref (open_ok (context, path_address));
  {
    g_autoptr(GDBusConnection) bus = open_ok (context, abstract_address);

    close_and_wait (bus, before);
  }
  assert_connections (before);
  threads = fds = 0;
  for (int i = 0; i < 50; i++)
    {
      guint t = mitogen_test_count_threads (), f = mitogen_test_count_fds ();
      gboolean same = t == threads && f == fds;

      threads = t;
      fds = f;
      if (same && i >= 5)
        break;
      g_usleep (100 * 1000);
    }
  g_test_message ("before: %u threads, %u fds", threads, fds);
  for (int i = 0; i < 10; i++)
    {
      g_autoptr(GDBusConnection) bus = open_ok (context, i % 2 ? path_address : abstract_address);

      g_free (ping (bus, "again"));
      if (i % 2)
        close_and_wait (bus, before);
    }
  assert_connections (before);
  assert_threads_and_fds (threads, fds);
  mitogen_router_shutdown (router);
}

typedef struct
{
  guint   count;
  guint32 next;
  gsize   bytes;
  gboolean bad;
} Ticks;

static void
on_tick (GDBusConnection *connection,
         const char      *sender,
         const char      *path,
         const char      *iface,
         const char      *signal,
         GVariant        *parameters,
         gpointer         data)
{
  Ticks *ticks = data;
  guint32 i;
  g_autoptr(GVariant) bytes = NULL;
  gsize len;
  const guint8 *p;

  g_variant_get (parameters, "(u@ay)", &i, &bytes);
  p = g_variant_get_fixed_array (bytes, &len, 1);
  if (i != ticks->next || (len > 0 && (p[0] != (i & 0xff) || p[len - 1] != (i & 0xff))))
    ticks->bad = TRUE;
  ticks->next = i + 1;
  ticks->count++;
  ticks->bytes += len;
}

/* A local context whose agent runs behind `env @args...`. */
static MitogenContext *
local_with_env (MitogenRouter      *router,
                const char * const *args)
{
  g_autoptr(GStrvBuilder) wrapper = g_strv_builder_new ();
  g_auto(GStrv) argv = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder options;
  MitogenContext *context;

  g_strv_builder_add (wrapper, "env");
  g_strv_builder_addv (wrapper, (const char **) args);
  argv = g_strv_builder_end (wrapper);
  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "wrapper", g_variant_new_strv ((const char * const *) argv, -1));
  context = mitogen_router_local (router, g_variant_builder_end (&options), NULL, &error);
  g_assert_no_error (error);
  return context;
}

static void
test_default_buses (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autofree char *runtime = g_strdup_printf ("XDG_RUNTIME_DIR=%s", bus_dir);
  g_autofree char *system = g_strdup_printf ("DBUS_SYSTEM_BUS_ADDRESS=%s", abstract_address);
  g_autofree char *session = g_strdup_printf ("DBUS_SESSION_BUS_ADDRESS=%s", abstract_address);
  const char *first[] = { "-u", "DBUS_SESSION_BUS_ADDRESS", runtime, system, NULL };
  const char *second[] = { session, NULL };
  const char *none[] = { "-u", "DBUS_SESSION_BUS_ADDRESS", "-u", "XDG_RUNTIME_DIR", NULL };
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GError) error = NULL;
  guint before = count_connections ();

  g_test_summary ("No address: the session bus is DBUS_SESSION_BUS_ADDRESS in the context's "
                  "environment, else $XDG_RUNTIME_DIR/bus, else a clear error; the system bus "
                  "is DBUS_SYSTEM_BUS_ADDRESS there.");
  context = local_with_env (router, first);
  bus = mitogen_context_open_dbus (context, G_BUS_TYPE_SESSION, NULL, NULL, &error);
  g_assert_no_error (error);
  g_free (ping (bus, "XDG_RUNTIME_DIR"));
  close_and_wait (bus, before);
  g_clear_object (&bus);
  bus = mitogen_context_open_dbus (context, G_BUS_TYPE_SYSTEM, NULL, NULL, &error);
  g_assert_no_error (error);
  g_free (ping (bus, "DBUS_SYSTEM_BUS_ADDRESS"));
  close_and_wait (bus, before);
  g_clear_object (&bus);
  g_clear_object (&context);

  context = local_with_env (router, second);
  bus = mitogen_context_open_dbus (context, G_BUS_TYPE_SESSION, NULL, NULL, &error);
  g_assert_no_error (error);
  g_free (ping (bus, "DBUS_SESSION_BUS_ADDRESS"));
  close_and_wait (bus, before);
  g_clear_object (&bus);
  g_clear_object (&context);

  context = local_with_env (router, none);
  bus = mitogen_context_open_dbus (context, G_BUS_TYPE_SESSION, NULL, NULL, &error);
  g_assert_null (bus);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_nonnull (strstr (error->message, "No session bus here"));
  mitogen_router_shutdown (router);
}

static void
test_signal (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = mitogen_test_local (router);
  guint before = count_connections ();
  g_autoptr(GDBusConnection) bus = open_ok (context, path_address);
  Ticks ticks = { 0, };
  guint subscription;
  gint64 deadline;

  g_test_summary ("A signal emitted by the service on the remote side arrives through the tunnel.");
  subscription = g_dbus_connection_signal_subscribe (bus, SERVICE_NAME, SERVICE_IFACE, "Tick", SERVICE_PATH,
                                                     NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_tick, &ticks, NULL);
  g_variant_unref (call_sync (bus, SERVICE_NAME, SERVICE_PATH, SERVICE_IFACE, "Emit",
                              g_variant_new ("(uu)", 5, 100), NULL));
  deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  while (ticks.count < 5 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (1000), TRUE);
  g_assert_cmpuint (ticks.count, ==, 5);
  g_assert_false (ticks.bad);
  g_dbus_connection_signal_unsubscribe (bus, subscription);
  close_and_wait (bus, before);
  mitogen_router_shutdown (router);
}

static void
test_via (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) first = mitogen_test_local (router);
  g_autoptr(MitogenContext) second = NULL;
  g_autoptr(GError) error = NULL;
  guint before = count_connections ();
  g_autoptr(GDBusConnection) bus = NULL;
  g_autofree char *pong = NULL;

  g_test_summary ("Through a context reached via another (local -> local).");
  second = mitogen_router_local (router, NULL, first, &error);
  g_assert_no_error (error);
  bus = open_ok (second, path_address);
  pong = ping (bus, "via");
  g_assert_cmpstr (pong, ==, "pong: via");
  close_and_wait (bus, before);
  mitogen_router_shutdown (router);
}

typedef struct
{
  gboolean closed;
  gboolean vanished;
} Closed;

static void
on_closed (GDBusConnection *connection,
           gboolean         remote_peer_vanished,
           GError          *error,
           gpointer         data)
{
  Closed *closed = data;

  closed->closed = TRUE;
  closed->vanished = remote_peer_vanished;
}

static void
test_context_killed (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = mitogen_test_local (router);
  guint before = count_connections ();
  g_autoptr(GDBusConnection) bus = open_ok (context, path_address);
  g_autofree char *pong = ping (bus, "before");
  Closed closed = { FALSE, FALSE };
  GPid pid = mitogen_context_get_pid (context);
  gint64 deadline;

  g_test_summary ("The context killed: the GDBusConnection emits ::closed (the peer vanished).");
  g_signal_connect (bus, "closed", G_CALLBACK (on_closed), &closed);
  g_assert_cmpint (pid, >, 0);
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  while (!closed.closed && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (1000), TRUE);
  g_assert_true (closed.closed);
  g_assert_true (closed.vanished);
  g_assert_true (g_dbus_connection_is_closed (bus));
  assert_connections (before);
  mitogen_router_shutdown (router);
}

typedef struct
{
  GDBusConnection *bus;
  GError          *error;
  gboolean         done;
} Opened;

static void
opened_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      data)
{
  Opened *opened = data;

  opened->bus = mitogen_context_open_dbus_finish (MITOGEN_CONTEXT (source), result, &opened->error);
  opened->done = TRUE;
}

static void
wait_opened (Opened *opened)
{
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

  while (!opened->done && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (1000), TRUE);
  g_assert_true (opened->done);
}

static void
test_async (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = mitogen_test_local (router);
  guint before = count_connections ();
  Opened opened = { NULL, };
  g_autofree char *pong = NULL;

  g_test_summary ("open_dbus_async completes in the caller's main context; cancelling at once "
                  "is CANCELLED and leaves no connection on the bus; cancelling after the "
                  "context connected closes its connection.");
  mitogen_context_open_dbus_async (context, G_BUS_TYPE_NONE, abstract_address, NULL, opened_cb, &opened);
  wait_opened (&opened);
  g_assert_no_error (opened.error);
  pong = ping (opened.bus, "async");
  g_assert_cmpstr (pong, ==, "pong: async");
  close_and_wait (opened.bus, before);
  g_clear_object (&opened.bus);

  for (int round = 0; round < 2; round++)
    {
      g_autoptr(GCancellable) cancellable = g_cancellable_new ();
      Opened cancelled = { NULL, };

      mitogen_context_open_dbus_async (context, G_BUS_TYPE_NONE, path_address, cancellable, opened_cb, &cancelled);
      if (round == 0)
        g_cancellable_cancel (cancellable);
      else
        {
          /* Once the agent's socket is on the bus, before GDBus is done. */
          for (int i = 0; i < 2000 && count_connections () == before; i++)
            g_main_context_iteration (NULL, FALSE) || (g_usleep (500), TRUE);
          g_cancellable_cancel (cancellable);
        }
      wait_opened (&cancelled);
      if (round == 1 && cancelled.bus != NULL)
        {
          /* GDBus finished before the cancellation was seen: fine, but say so. */
          g_test_message ("round 1: the open completed before it was cancelled");
          g_dbus_connection_close_sync (cancelled.bus, NULL, NULL);
          g_clear_object (&cancelled.bus);
        }
      else
        {
          g_assert_error (cancelled.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          g_assert_null (cancelled.bus);
        }
      g_clear_error (&cancelled.error);
      assert_connections (before);
    }
  /* The context serves on. */
  opened = (Opened) { NULL, };
  mitogen_context_open_dbus_async (context, G_BUS_TYPE_NONE, path_address, NULL, opened_cb, &opened);
  wait_opened (&opened);
  g_assert_no_error (opened.error);
  close_and_wait (opened.bus, before);
  g_clear_object (&opened.bus);
  mitogen_router_shutdown (router);
}

static void
test_bad_address (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = mitogen_test_local (router);
  g_autofree char *missing = g_strdup_printf ("unix:path=%s/no-such-socket", bus_dir);
  static const struct { const char *address; const char *message; } cases[] = {
    { "tcp:host=127.0.0.1,port=1", "transport 'tcp' is not supported" },
    { "unix:tmpdir=/tmp", "unix:tmpdir= is not supported" },
    { "nonsense", "not a D-Bus address" },
    { "unix:path=", "no path= or abstract=" },
    { "unix:path=/tmp/a%00b", "NUL byte in path=" },
    { "unix:path=/tmp/%zz", "Bad escape" },
    { "unix:path=/a,abstract=b", "more than one of path= and abstract=" },
    { "unix:abstract=mitogen-test-no-such-bus", "Cannot connect to D-Bus at 'unix:abstract=mitogen-test-no-such-bus'" },
  };
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GError) error = NULL;
  guint before = count_connections ();

  g_test_summary ("Addresses the context cannot use: a clear GError each, and the context serves on.");
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      bus = mitogen_context_open_dbus (context, G_BUS_TYPE_SESSION, cases[i].address, NULL, &error);
      g_assert_null (bus);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
      g_test_message ("%s: %s", cases[i].address, error->message);
      g_assert_nonnull (strstr (error->message, cases[i].message));
      g_clear_error (&error);
    }
  bus = mitogen_context_open_dbus (context, G_BUS_TYPE_SESSION, missing, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_nonnull (strstr (error->message, missing));
  g_assert_nonnull (strstr (error->message, "No such file"));
  g_clear_error (&error);

  bus = mitogen_context_open_dbus (context, G_BUS_TYPE_NONE, NULL, NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* An alternative that works after one that does not. */
  {
    g_autofree char *list = g_strdup_printf ("tcp:host=127.0.0.1,port=1;%s", path_address);

    bus = open_ok (context, list);
    close_and_wait (bus, before);
    g_clear_object (&bus);
  }
  mitogen_router_shutdown (router);
}

static void
test_big (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = mitogen_test_local (router);
  guint before = count_connections ();
  g_autoptr(GDBusConnection) bus = open_ok (context, path_address);
  GPid agent = mitogen_context_get_pid (context);
  const gsize size = 1024 * 1024;
  /* 100 MiB; 20 under a sanitizer (ASan moves it at ~1 MiB/s here). */
  const guint rounds = MITOGEN_TEST_SANITIZED ? 10 : 50;
  g_autofree guint8 *data = g_malloc (size);
  guint64 master_before, agent_before, master_after, agent_after;
  gint64 start;

  g_test_summary ("100 MiB through the tunnel (50 Echo calls of 1 MiB each way): the data is "
                  "intact and peak memory grows little in the master and in the agent.");
  for (gsize i = 0; i < size; i++)
    data[i] = (guint8) (i * 7 + i / 251);
  g_free (ping (bus, "warm up"));
  master_before = mitogen_test_proc_status (getpid (), "VmHWM", 10);
  agent_before = mitogen_test_proc_status (agent, "VmHWM", 10);
  start = g_get_monotonic_time ();
  for (guint r = 0; r < rounds; r++)
    {
      g_autoptr(GVariant) reply = NULL;
      g_autoptr(GVariant) bytes = NULL;
      const guint8 *back;
      gsize len;

      data[0] = (guint8) r;
      reply = call_sync (bus, SERVICE_NAME, SERVICE_PATH, SERVICE_IFACE, "Echo",
                         g_variant_new ("(@ay)", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, size, 1)),
                         "(ay)");
      bytes = g_variant_get_child_value (reply, 0);
      back = g_variant_get_fixed_array (bytes, &len, 1);
      g_assert_cmpuint (len, ==, size);
      g_assert_true (memcmp (back, data, size) == 0);
    }
  master_after = mitogen_test_proc_status (getpid (), "VmHWM", 10);
  agent_after = mitogen_test_proc_status (agent, "VmHWM", 10);
  g_test_message ("%u MiB in %.2f s; VmHWM master %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT
                  " KiB, agent %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT " KiB",
                  rounds * 2, (g_get_monotonic_time () - start) / 1e6, master_before, master_after, agent_before, agent_after);
  /* A tunnel that buffered the traffic would grow by ~100 MiB. */
  if (CHECK_MEMORY)
    {
      g_assert_cmpuint (agent_after - agent_before, <, 16 * 1024);
      g_assert_cmpuint (master_after - master_before, <, 48 * 1024);
    }
  close_and_wait (bus, before);
  mitogen_router_shutdown (router);
}

typedef struct
{
  guint    replies;
  gboolean bad;
} Echoes;

static void
echo_done (GObject      *source,
           GAsyncResult *result,
           gpointer      data)
{
  Echoes *echoes = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);

  if (reply == NULL)
    {
      g_test_message ("Echo failed: %s", error->message);
      echoes->bad = TRUE;
    }
  echoes->replies++;
}

static void
test_stalled_bus (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = mitogen_test_local (router);
  guint before = count_connections ();
  g_autoptr(GDBusConnection) bus = open_ok (context, path_address);
  GPid agent = mitogen_context_get_pid (context);
  const gsize size = 1024 * 1024;
  const guint calls = 32;
  g_autofree guint8 *data = g_malloc0 (size);
  Echoes echoes = { 0, FALSE };
  guint64 agent_before, agent_stalled;
  gint64 deadline;

  g_test_summary ("The bus stopped (SIGSTOP) while the master sends 32 MiB: the agent holds "
                  "about a window of it, not all; once the bus runs again every call is answered.");
  g_free (ping (bus, "warm up"));
  agent_before = mitogen_test_proc_status (agent, "VmHWM", 10);
  g_assert_cmpint (kill (bus_pid, SIGSTOP), ==, 0);
  for (guint i = 0; i < calls; i++)
    g_dbus_connection_call (bus, SERVICE_NAME, SERVICE_PATH, SERVICE_IFACE, "Echo",
                            g_variant_new ("(@ay)", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, size, 1)),
                            G_VARIANT_TYPE ("(ay)"), G_DBUS_CALL_FLAGS_NONE, 120000, NULL, echo_done, &echoes);
  /* Long enough for the agent to take whatever it would take. */
  deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (1000), TRUE);
  agent_stalled = mitogen_test_proc_status (agent, "VmHWM", 10);
  g_assert_cmpint (kill (bus_pid, SIGCONT), ==, 0);
  g_test_message ("agent VmHWM %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT " KiB with the bus stopped",
                  agent_before, agent_stalled);
  g_assert_cmpuint (echoes.replies, ==, 0);
  if (CHECK_MEMORY)
    g_assert_cmpuint (agent_stalled - agent_before, <, 8 * 1024);

  deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  while (echoes.replies < calls && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (1000), TRUE);
  g_assert_cmpuint (echoes.replies, ==, calls);
  g_assert_false (echoes.bad);
  close_and_wait (bus, before);
  mitogen_router_shutdown (router);
}

static void
test_signal_storm (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = mitogen_test_local (router);
  guint before = count_connections ();
  g_autoptr(GDBusConnection) bus = open_ok (context, path_address);
  GPid agent = mitogen_context_get_pid (context);
  Ticks ticks = { 0, };
  guint subscription;
  guint64 agent_before, agent_after;
  const guint count = 200, size = 256 * 1024;
  gint64 deadline;

  g_test_summary ("A storm of 50 MiB of signals from the remote side: the agent reads the bus "
                  "only as fast as the master takes it (its peak memory grows little), and "
                  "every signal arrives, in order.");
  subscription = g_dbus_connection_signal_subscribe (bus, SERVICE_NAME, SERVICE_IFACE, "Tick", SERVICE_PATH,
                                                     NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_tick, &ticks, NULL);
  agent_before = mitogen_test_proc_status (agent, "VmHWM", 10);
  g_variant_unref (call_sync (bus, SERVICE_NAME, SERVICE_PATH, SERVICE_IFACE, "Emit",
                              g_variant_new ("(uu)", count, size), NULL));
  deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  while (ticks.count < count && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (1000), TRUE);
  agent_after = mitogen_test_proc_status (agent, "VmHWM", 10);
  g_test_message ("%u signals, %" G_GSIZE_FORMAT " bytes; agent VmHWM %" G_GUINT64_FORMAT " -> %"
                  G_GUINT64_FORMAT " KiB", ticks.count, ticks.bytes, agent_before, agent_after);
  g_assert_cmpuint (ticks.count, ==, count);
  g_assert_false (ticks.bad);
  if (CHECK_MEMORY)
    g_assert_cmpuint (agent_after - agent_before, <, 16 * 1024);
  g_dbus_connection_signal_unsubscribe (bus, subscription);
  close_and_wait (bus, before);
  mitogen_router_shutdown (router);
}

static GVariant *
sudo_options (const char *user)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "username", g_variant_new_string (user));
  g_variant_builder_add (&b, "{sv}", "connect_timeout", g_variant_new_double (60));
  return g_variant_builder_end (&b);
}

static void
test_sudo (void)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *pong = NULL;
  g_autofree char *sudo = g_find_program_in_path ("sudo");
  struct passwd *nobody = getpwnam ("nobody");
  guint before;

  g_test_summary ("Through sudo to nobody (as root: no password): the bus sees the agent's uid, "
                  "not the master's (the agent rewrote GDBus's EXTERNAL identity), over both "
                  "socket kinds.");
  if (getuid () != 0 || sudo == NULL || nobody == NULL)
    {
      g_test_skip ("needs root, sudo and a user nobody");
      return;
    }
  before = count_connections ();
  router = mitogen_router_new ();
  context = mitogen_router_connect (router, "sudo", sudo_options ("nobody"), NULL, NULL, &error);
  g_assert_no_error (error);
  bus = open_ok (context, path_address);
  g_assert_cmpuint (who_am_i (bus), ==, nobody->pw_uid);
  g_assert_false (g_dbus_connection_get_capabilities (bus) & G_DBUS_CAPABILITY_FLAGS_UNIX_FD_PASSING);
  pong = ping (bus, "sudo");
  g_assert_cmpstr (pong, ==, "pong: sudo");
  close_and_wait (bus, before);
  g_clear_object (&bus);
  bus = open_ok (context, abstract_address);
  g_assert_cmpuint (who_am_i (bus), ==, nobody->pw_uid);
  close_and_wait (bus, before);
  mitogen_router_shutdown (router);
}

static void
test_ssh_netns (void)
{
  const char *why = host_fixture_unavailable (TRUE);
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GDBusConnection) bus = NULL;
  g_autofree char *pong = NULL;
  GVariantBuilder options;
  HostSshd *sshd;
  struct passwd *user;
  guint before;

  g_test_summary ("Over ssh to a host in a network namespace: the bus socket path is reached "
                  "there and the bus sees the ssh user; the test's abstract socket (bound in "
                  "our network namespace) is not reachable from there.");
  if (why != NULL)
    {
      g_test_skip (why);
      return;
    }
  host_fixture_ensure_users (&error);
  g_assert_no_error (error);
  user = getpwnam (HOST_KEY_USER);
  g_assert_nonnull (user);
  sshd = host_sshd_start (TRUE, &error);
  g_assert_no_error (error);

  before = count_connections ();
  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "hostname", g_variant_new_string (sshd->address));
  g_variant_builder_add (&options, "{sv}", "port", g_variant_new_int32 (sshd->port));
  g_variant_builder_add (&options, "{sv}", "known_hosts_file", g_variant_new_string (sshd->known_hosts));
  g_variant_builder_add (&options, "{sv}", "ssh_config", g_variant_new_boolean (FALSE));
  g_variant_builder_add (&options, "{sv}", "username", g_variant_new_string (HOST_KEY_USER));
  g_variant_builder_add (&options, "{sv}", "identity_file", g_variant_new_string (sshd->client_key));
  router = mitogen_router_new ();
  context = mitogen_router_connect (router, "ssh", g_variant_builder_end (&options), NULL, NULL, &error);
  g_assert_no_error (error);

  bus = open_ok (context, path_address);
  g_assert_cmpuint (who_am_i (bus), ==, user->pw_uid);
  pong = ping (bus, "ssh");
  g_assert_cmpstr (pong, ==, "pong: ssh");
  close_and_wait (bus, before);
  g_clear_object (&bus);

  bus = mitogen_context_open_dbus (context, G_BUS_TYPE_SESSION, abstract_address, NULL, &error);
  g_assert_null (bus);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_nonnull (strstr (error->message, "Connection refused"));
  g_clear_error (&error);

  mitogen_router_shutdown (router);
  g_clear_object (&context);
  g_clear_object (&router);
  host_sshd_stop (sshd);
}

static void
test_no_daemon (void)
{
  g_test_skip ("dbus-daemon is not installed (package dbus-daemon)");
}

int
main (int   argc,
      char *argv[])
{
  HostSshd *agent_holder = NULL;
  g_autofree char *dbus_daemon = g_find_program_in_path ("dbus-daemon");
  int status;

  g_test_init (&argc, &argv, NULL);
  if (dbus_daemon == NULL)
    {
      /* .ci/run installs it. */
      g_test_add_func ("/dbus/no-dbus-daemon", test_no_daemon);
      return g_test_run ();
    }
  /* Contexts that run as another user (sudo) run a copy of the agent
   * they can read, wherever the build tree is. */
  if (getuid () == 0 && g_getenv ("MITOGEN_AGENT_PATH") == NULL)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *agent = g_build_filename (MITOGEN_BUILD_ROOT, "agent", "mitogen-agent", NULL);
      g_autofree char *copy = host_fixture_public_agent (agent, &agent_holder, &error);

      g_assert_no_error (error);
      g_setenv ("MITOGEN_AGENT_PATH", copy, TRUE);
    }
  start_bus ();

  g_test_add_func ("/dbus/basics", test_basics);
  g_test_add_func ("/dbus/resources", test_resources);
  g_test_add_func ("/dbus/default-buses", test_default_buses);
  g_test_add_func ("/dbus/signal", test_signal);
  g_test_add_func ("/dbus/via", test_via);
  g_test_add_func ("/dbus/async-and-cancel", test_async);
  g_test_add_func ("/dbus/bad-address", test_bad_address);
  g_test_add_func ("/dbus/flow-control/echo-100MiB", test_big);
  g_test_add_func ("/dbus/flow-control/signal-storm", test_signal_storm);
  g_test_add_func ("/dbus/flow-control/stalled-bus", test_stalled_bus);
  g_test_add_func ("/dbus/context-killed", test_context_killed);
  g_test_add_func ("/dbus/sudo-nobody", test_sudo);
  g_test_add_func ("/dbus/ssh-netns", test_ssh_netns);

  status = g_test_run ();
  stop_bus ();
  host_sshd_stop (agent_holder);
  return status;
}
