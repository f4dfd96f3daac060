/* mitogen-dbus-serve.c — the `dbus.open` built-in (context side of a D-Bus tunnel)
 *
 * Connects to a D-Bus bus socket on the context's machine and relays
 * bytes between it and the caller (a MitogenTunnel each side; the master
 * side is mitogen-dbus.c). The bus sees this process's credentials, not
 * the master's: during the SASL exchange the client's EXTERNAL identity
 * is rewritten to this process's effective uid, and NEGOTIATE_UNIX_FD is
 * answered here with ERROR (descriptors cannot cross the tunnel). See
 * docs/dbus.md.
 *
 * In an agent the call is detached: a thread of its own runs the tunnel
 * and sends the call's reply when it ends.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-dbus"

#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mitogen-call-private.h"
#include "mitogen-context-private.h"
#include "mitogen-services-private.h"
#include "mitogen-streaming-private.h"
#include "mitogen-tunnel-private.h"

#define FUNCTION "dbus.open"

/* A D-Bus address value (the spec's "optionally-escaped bytes" left as
 * they are, every other byte as %XX). Not g_dbus_address_escape_value ():
 * its object file pulls all of GDBus (~1.2 MB) into the static agent,
 * which needs nothing else of it. */
static char *
address_escape (const char *value)
{
  GString *out = g_string_sized_new (strlen (value));

  for (const unsigned char *p = (const unsigned char *) value; *p != '\0'; p++)
    {
      if (g_ascii_isalnum (*p) || strchr ("-_/.", *p) != NULL)
        g_string_append_c (out, (char) *p);
      else
        g_string_append_printf (out, "%%%02x", *p);
    }
  return g_string_free (out, FALSE);
}

/* The default window each way. */
#define DBUS_DEFAULT_WINDOW (1024u * 1024u)
/* The longest SASL line accepted from the client. */
#define SASL_MAX_LINE 16384

#define SYSTEM_BUS_DEFAULT "unix:path=/run/dbus/system_bus_socket"

/* --- addresses --------------------------------------------------------------- */

/* Undoes the %XX escapes of a D-Bus address value. */
static char *
unescape_value (const char  *value,
                gsize       *out_len,
                GError     **error)
{
  GString *out = g_string_new (NULL);

  for (const char *p = value; *p != '\0'; p++)
    {
      if (*p == '%')
        {
          int hi = g_ascii_xdigit_value (p[1]);
          int lo = hi >= 0 ? g_ascii_xdigit_value (p[2]) : -1;

          if (hi < 0 || lo < 0)
            {
              g_string_free (out, TRUE);
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "Bad escape in D-Bus address value '%s'", value);
              return NULL;
            }
          g_string_append_c (out, (char) (hi << 4 | lo));
          p += 2;
        }
      else
        g_string_append_c (out, *p);
    }
  *out_len = out->len;
  return g_string_free (out, FALSE);
}

/* Connects to one entry of a D-Bus address ("unix:path=..." or
 * "unix:abstract=..."). Returns the socket, or -1 with @error. */
static int
connect_entry (const char  *entry,
               GError     **error)
{
  const char *colon = strchr (entry, ':');
  g_autofree char *transport = NULL;
  g_auto(GStrv) pairs = NULL;
  g_autofree char *path = NULL;
  gsize path_len = 0;
  gboolean abstract = FALSE;
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  socklen_t sun_len;
  int fd;

  if (colon == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "'%s' is not a D-Bus address (no transport before ':')", entry);
      return -1;
    }
  transport = g_strndup (entry, colon - entry);
  if (!g_str_equal (transport, "unix"))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "D-Bus address '%s': transport '%s' is not supported through a tunnel "
                   "(only unix:path= and unix:abstract=)", entry, transport);
      return -1;
    }
  pairs = g_strsplit (colon + 1, ",", -1);
  for (guint i = 0; pairs[i] != NULL; i++)
    {
      const char *eq = strchr (pairs[i], '=');
      g_autofree char *key = NULL;

      if (pairs[i][0] == '\0')
        continue;
      if (eq == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "D-Bus address '%s': '%s' is not key=value", entry, pairs[i]);
          return -1;
        }
      key = g_strndup (pairs[i], eq - pairs[i]);
      if (g_str_equal (key, "path") || g_str_equal (key, "abstract"))
        {
          if (path != NULL)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "D-Bus address '%s': more than one of path= and abstract=", entry);
              return -1;
            }
          path = unescape_value (eq + 1, &path_len, error);
          if (path == NULL)
            return -1;
          abstract = g_str_equal (key, "abstract");
        }
      else if (g_str_equal (key, "guid"))
        continue;
      else
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                       "D-Bus address '%s': unix:%s= is not supported through a tunnel "
                       "(only unix:path= and unix:abstract=)", entry, key);
          return -1;
        }
    }
  if (path == NULL || path_len == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "D-Bus address '%s': no path= or abstract=", entry);
      return -1;
    }
  if (!abstract && memchr (path, '\0', path_len) != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "D-Bus address '%s': NUL byte in path=", entry);
      return -1;
    }
  if (path_len + (abstract ? 1 : 0) > sizeof sun.sun_path - (abstract ? 0 : 1))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "D-Bus address '%s': the socket name is too long", entry);
      return -1;
    }
  if (abstract)
    {
      memcpy (sun.sun_path + 1, path, path_len);
      sun_len = offsetof (struct sockaddr_un, sun_path) + 1 + path_len;
    }
  else
    {
      memcpy (sun.sun_path, path, path_len);
      sun_len = offsetof (struct sockaddr_un, sun_path) + path_len + 1;
    }

  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "socket: %s", g_strerror (saved));
      return -1;
    }
  while (connect (fd, (struct sockaddr *) &sun, sun_len) < 0)
    {
      int saved = errno;

      if (saved == EINTR)
        continue;
      close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "Cannot connect to D-Bus at '%s': %s", entry, g_strerror (saved));
      return -1;
    }
  return fd;
}

/* The address to use: @address, or the bus's from our environment. */
static char *
resolve_address (const char  *bus,
                 const char  *address,
                 GError     **error)
{
  const char *env;

  if (address[0] != '\0')
    return g_strdup (address);
  if (g_str_equal (bus, "system"))
    {
      env = g_getenv ("DBUS_SYSTEM_BUS_ADDRESS");
      return g_strdup (env != NULL && env[0] != '\0' ? env : SYSTEM_BUS_DEFAULT);
    }
  if (g_str_equal (bus, "session"))
    {
      const char *runtime = g_getenv ("XDG_RUNTIME_DIR");
      g_autofree char *path = NULL;

      env = g_getenv ("DBUS_SESSION_BUS_ADDRESS");
      if (env != NULL && env[0] != '\0')
        return g_strdup (env);
      if (runtime != NULL && runtime[0] == '/')
        {
          path = g_build_filename (runtime, "bus", NULL);
          if (g_file_test (path, G_FILE_TEST_EXISTS))
            {
              g_autofree char *escaped = address_escape (path);

              return g_strconcat ("unix:path=", escaped, NULL);
            }
        }
      if (path != NULL)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                     "No session bus here: DBUS_SESSION_BUS_ADDRESS is not set and there is no %s", path);
      else
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                             "No session bus here: neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set");
      return NULL;
    }
  g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
               FUNCTION ": unknown bus '%s' (system or session)", bus);
  return NULL;
}

/* Tries each ';'-separated entry of @address in turn. */
static int
connect_address (const char  *address,
                 GError     **error)
{
  g_auto(GStrv) entries = g_strsplit (address, ";", -1);
  g_autoptr(GError) first = NULL;

  for (guint i = 0; entries[i] != NULL; i++)
    {
      g_autoptr(GError) local_error = NULL;
      int fd;

      if (entries[i][0] == '\0')
        continue;
      fd = connect_entry (entries[i], &local_error);
      if (fd >= 0)
        return fd;
      g_debug (FUNCTION ": %s", local_error->message);
      if (first == NULL)
        first = g_steal_pointer (&local_error);
    }
  if (first == NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "Empty D-Bus address");
  else
    g_propagate_error (error, g_steal_pointer (&first));
  return -1;
}

/* --- the SASL exchange, client to bus ----------------------------------------- */

typedef enum
{
  SASL_NUL,       /* the credentials byte comes first */
  SASL_LINES,     /* commands, one per CRLF-ended line */
  SASL_RAW,       /* after BEGIN: D-Bus messages, passed as they are */
} SaslState;

typedef struct
{
  SaslState  state;
  GString   *line;          /* (owned) a command not yet complete */
  gboolean   external;      /* the mechanism being tried is EXTERNAL */
  char      *identity;      /* (owned) our euid, hex-encoded as EXTERNAL wants */
} Sasl;

static void
sasl_free (Sasl *sasl)
{
  g_string_free (sasl->line, TRUE);
  g_free (sasl->identity);
  g_free (sasl);
}

static Sasl *
sasl_new (void)
{
  Sasl *sasl = g_new0 (Sasl, 1);
  g_autofree char *uid = g_strdup_printf ("%u", (unsigned) geteuid ());
  GString *hex = g_string_new (NULL);

  for (const char *p = uid; *p != '\0'; p++)
    g_string_append_printf (hex, "%02x", (unsigned char) *p);
  sasl->identity = g_string_free (hex, FALSE);
  sasl->line = g_string_new (NULL);
  return sasl;
}

static void
append (GByteArray *array,
        const char *text)
{
  g_byte_array_append (array, (const guint8 *) text, strlen (text));
}

/* One complete command from the client (without its CRLF). */
static void
sasl_command (Sasl       *sasl,
              const char *line,
              GByteArray *to_socket,
              GByteArray *to_peer)
{
  if (g_str_has_prefix (line, "AUTH "))
    {
      const char *mech = line + 5;
      const char *space = strchr (mech, ' ');

      sasl->external = space != NULL ? strncmp (mech, "EXTERNAL", space - mech) == 0 && space - mech == 8
                                     : g_str_equal (mech, "EXTERNAL");
      if (sasl->external && space != NULL && space[1] != '\0')
        {
          /* The client's uid, which the bus would compare with ours. */
          append (to_socket, "AUTH EXTERNAL ");
          append (to_socket, sasl->identity);
          append (to_socket, "\r\n");
          return;
        }
    }
  else if (g_str_equal (line, "AUTH"))
    sasl->external = FALSE;
  else if (sasl->external && g_str_has_prefix (line, "DATA ") && line[5] != '\0')
    {
      append (to_socket, "DATA ");
      append (to_socket, sasl->identity);
      append (to_socket, "\r\n");
      return;
    }
  else if (g_str_equal (line, "NEGOTIATE_UNIX_FD"))
    {
      append (to_peer, "ERROR \"Unix file descriptors cannot be passed through a Mitogen tunnel\"\r\n");
      return;
    }
  else if (g_str_equal (line, "BEGIN"))
    sasl->state = SASL_RAW;
  append (to_socket, line);
  append (to_socket, "\r\n");
}

static gboolean
sasl_filter (gpointer      user_data,
             const guint8 *data,
             gsize         len,
             GByteArray   *to_socket,
             GByteArray   *to_peer,
             GError      **error)
{
  Sasl *sasl = user_data;
  gsize i = 0;

  while (i < len)
    {
      switch (sasl->state)
        {
        case SASL_NUL:
          if (data[i] != '\0')
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           FUNCTION ": the client did not start with the credentials byte");
              return FALSE;
            }
          g_byte_array_append (to_socket, data + i, 1);
          sasl->state = SASL_LINES;
          i++;
          break;

        case SASL_LINES:
          {
            const guint8 *nl = memchr (data + i, '\n', len - i);
            gsize take = nl != NULL ? (gsize) (nl - (data + i)) + 1 : len - i;

            g_string_append_len (sasl->line, (const char *) data + i, (gssize) take);
            i += take;
            if (sasl->line->len > SASL_MAX_LINE)
              {
                g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                             FUNCTION ": SASL line longer than %u bytes", SASL_MAX_LINE);
                return FALSE;
              }
            if (nl == NULL)
              break;
            /* A command ends with CRLF; a bare LF is passed on as it is. */
            if (sasl->line->len >= 2 && sasl->line->str[sasl->line->len - 2] == '\r')
              {
                g_string_truncate (sasl->line, sasl->line->len - 2);
                if (memchr (sasl->line->str, '\0', sasl->line->len) != NULL)
                  {
                    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                 FUNCTION ": NUL byte in a SASL command");
                    return FALSE;
                  }
                sasl_command (sasl, sasl->line->str, to_socket, to_peer);
              }
            else
              g_byte_array_append (to_socket, (const guint8 *) sasl->line->str, sasl->line->len);
            g_string_truncate (sasl->line, 0);
          }
          break;

        case SASL_RAW:
          g_byte_array_append (to_socket, data + i, len - i);
          i = len;
          break;
        }
    }
  return TRUE;
}

/* --- the call ------------------------------------------------------------------ */

typedef struct
{
  MitogenCall   *call;      /* (owned) (nullable) detached: the call to reply to */
  MitogenTunnel *tunnel;    /* (owned) */
  Sasl          *sasl;      /* (owned) */
  char          *address;   /* (owned) */
} Open;

static void
open_free (Open *open)
{
  mitogen_tunnel_unref (open->tunnel);
  sasl_free (open->sasl);
  g_free (open->address);
  g_free (open);
}

/* Runs the tunnel until it ends; the call's result. */
static GVariant *
open_run (Open     *open,
          GError  **error)
{
  guint64 bytes_in = 0, bytes_out = 0;
  g_autoptr(GError) end_error = NULL;
  GVariantBuilder result;

  mitogen_tunnel_run (open->tunnel, &bytes_in, &bytes_out, &end_error);
  g_debug (FUNCTION ": tunnel to %s ended (%" G_GUINT64_FORMAT " bytes in, %" G_GUINT64_FORMAT " out)%s%s",
           open->address, bytes_in, bytes_out, end_error != NULL ? ": " : "",
           end_error != NULL ? end_error->message : "");
  if (end_error != NULL && !g_error_matches (end_error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL))
    {
      g_propagate_error (error, g_steal_pointer (&end_error));
      return NULL;
    }
  g_variant_builder_init (&result, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&result, "{sv}", "bytes_to_bus", g_variant_new_uint64 (bytes_in));
  g_variant_builder_add (&result, "{sv}", "bytes_from_bus", g_variant_new_uint64 (bytes_out));
  return g_variant_builder_end (&result);
}

static gpointer
open_thread (gpointer data)
{
  Open *open = data;
  g_autoptr(GError) error = NULL;
  GVariant *result = open_run (open, &error);

  mitogen_call_send_reply (open->call, result, error);
  mitogen_call_unref (open->call);
  open_free (open);
  return NULL;
}

/* The first event: our inbox. Its reply_to is the inbox too: a caller
 * that gave up before it arrived (its inbox closed) has its router answer
 * with the dead marker there, and the tunnel ends. */
static gboolean
send_started (MitogenContext  *caller,
              guint32          events_handle,
              guint32          inbox,
              const char      *address,
              GError         **error)
{
  g_autoptr(MitogenMessage) message = NULL;

  message = mitogen_message_new (mitogen_context_get_id (caller), events_handle,
                                 mitogen_event_new ("started", g_variant_new ("(us)", inbox, address)));
  mitogen_message_set_reply_to (message, inbox);
  return mitogen_context_route_message (caller, message, error);
}

/* (s bus: "system" or "session", s address: "" or a D-Bus address that
 * overrides bus, u events_handle, a{sv} options: window t) -> a{sv}:
 * bytes_to_bus t, bytes_from_bus t. Sends ("started", (us) inbox, the
 * address used) to events_handle, then relays bytes: bare `ay` both
 * ways, ("ack", t) acknowledgements, the dead marker to end. In an agent
 * the call is detached; its reply follows when the tunnel ends. */
static GVariant *
fn_dbus_open (MitogenCall  *call,
              GVariant     *args,
              GError      **error)
{
  const char *bus, *address_arg;
  guint32 events_handle;
  g_autoptr(GVariant) options = NULL;
  g_autoptr(MitogenContext) caller = NULL;
  g_autofree char *address = NULL;
  guint64 window = DBUS_DEFAULT_WINDOW;
  Open *open;
  int fd;

  g_variant_get (args, "(&s&su@a{sv})", &bus, &address_arg, &events_handle, &options);
  g_variant_lookup (options, "window", "t", &window);
  caller = mitogen_streaming_caller (call, error);
  if (caller == NULL)
    return NULL;
  address = resolve_address (bus, address_arg, error);
  if (address == NULL)
    return NULL;
  fd = connect_address (address, error);
  if (fd < 0)
    return NULL;

  open = g_new0 (Open, 1);
  open->address = g_steal_pointer (&address);
  open->sasl = sasl_new ();
  open->tunnel = mitogen_tunnel_new (caller, fd, events_handle, window, error);
  if (open->tunnel == NULL)
    {
      sasl_free (open->sasl);
      g_free (open->address);
      g_free (open);
      return NULL;
    }
  mitogen_tunnel_set_filter (open->tunnel, sasl_filter, open->sasl);
  if (!send_started (caller, events_handle, mitogen_tunnel_get_inbox_handle (open->tunnel), open->address, error))
    {
      open_free (open);
      return NULL;
    }
  g_debug (FUNCTION ": connected to %s", open->address);

  if (mitogen_call_get_agent (call) != NULL)
    {
      open->call = mitogen_call_ref (call);
      mitogen_call_detach (call);
      g_thread_unref (g_thread_new ("mitogen-dbus", open_thread, open));
      return NULL;
    }
  else
    {
      GVariant *result = open_run (open, error);

      open_free (open);
      return result;
    }
}

const MitogenFunctionInfo mitogen_dbus_serve_functions[] = {
  { FUNCTION, "(ssua{sv})", "a{sv}",
    "Connect to the system or session D-Bus bus here (or a unix:path= / unix:abstract= address) "
    "and relay it to the caller's handle (see mitogen_context_open_dbus ())", fn_dbus_open },
  { NULL, },
};
