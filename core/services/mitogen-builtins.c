/* mitogen-builtins.c — the functions every context serves
 *
 * Named after the Python functions Mitogen users know. Each documents its
 * argument and result types here and in `mitogen functions`.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-builtins"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "mitogen-call-private.h"
#include "mitogen-utils-private.h"
#include "mitogen-services-private.h"
#include "mitogen-context-private.h"
#include "mitogen-streaming-private.h"

static GVariant *
errno_error (GError    **error,
             int         saved_errno,
             const char *what,
             const char *path)
{
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
               "%s %s: %s", what, path, g_strerror (saved_errno));
  return NULL;
}

/* () -> x */
static GVariant *
fn_os_getpid (MitogenCall *call, GVariant *args, GError **error)
{
  return g_variant_new_int64 (getpid ());
}

/* () -> u */
static GVariant *
fn_os_getuid (MitogenCall *call, GVariant *args, GError **error)
{
  return g_variant_new_uint32 (getuid ());
}

/* () -> (sssss) sysname, nodename, release, version, machine */
static GVariant *
fn_os_uname (MitogenCall *call, GVariant *args, GError **error)
{
  struct utsname u;

  if (uname (&u) < 0)
    return errno_error (error, errno, "uname", "");
  return g_variant_new ("(sssss)", u.sysname, u.nodename, u.release, u.version, u.machine);
}

/* () -> s */
static GVariant *
fn_os_getcwd (MitogenCall *call, GVariant *args, GError **error)
{
  g_autofree char *cwd = g_get_current_dir ();
  return g_variant_new_string (cwd);
}

/* () -> a{ss} */
static GVariant *
fn_os_environ (MitogenCall *call, GVariant *args, GError **error)
{
  g_auto(GStrv) env = g_get_environ ();
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{ss}"));
  for (guint i = 0; env[i] != NULL; i++)
    {
      const char *eq = strchr (env[i], '=');
      g_autofree char *key = NULL;

      if (eq == NULL || !g_utf8_validate (env[i], -1, NULL))
        continue;
      key = g_strndup (env[i], eq - env[i]);
      g_variant_builder_add (&builder, "{ss}", key, eq + 1);
    }
  return g_variant_builder_end (&builder);
}

/* (s path) -> as, sorted */
static GVariant *
fn_os_listdir (MitogenCall *call, GVariant *args, GError **error)
{
  const char *path;
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_variant_get (args, "(&s)", &path);
  dir = g_dir_open (path, 0, error);
  if (dir == NULL)
    return NULL;
  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_utf8_validate (name, -1, NULL))
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, mitogen_compare_strings);
  return g_variant_new_strv ((const char * const *) names->pdata, names->len);
}

/* (s path) -> a{sv}: st_mode u, st_ino t, st_dev t, st_nlink t, st_uid u,
 * st_gid u, st_size x, st_atime d, st_mtime d, st_ctime d (lstat if the
 * path ends in a link? no: like os.stat, links are followed) */
static GVariant *
fn_os_stat (MitogenCall *call, GVariant *args, GError **error)
{
  const char *path;
  struct stat st;
  GVariantBuilder builder;

  g_variant_get (args, "(&s)", &path);
  if (stat (path, &st) < 0)
    return errno_error (error, errno, "Cannot stat", path);

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "st_mode", g_variant_new_uint32 (st.st_mode));
  g_variant_builder_add (&builder, "{sv}", "st_ino", g_variant_new_uint64 (st.st_ino));
  g_variant_builder_add (&builder, "{sv}", "st_dev", g_variant_new_uint64 (st.st_dev));
  g_variant_builder_add (&builder, "{sv}", "st_nlink", g_variant_new_uint64 (st.st_nlink));
  g_variant_builder_add (&builder, "{sv}", "st_uid", g_variant_new_uint32 (st.st_uid));
  g_variant_builder_add (&builder, "{sv}", "st_gid", g_variant_new_uint32 (st.st_gid));
  g_variant_builder_add (&builder, "{sv}", "st_size", g_variant_new_int64 (st.st_size));
  g_variant_builder_add (&builder, "{sv}", "st_atime",
                         g_variant_new_double (st.st_atim.tv_sec + st.st_atim.tv_nsec / 1e9));
  g_variant_builder_add (&builder, "{sv}", "st_mtime",
                         g_variant_new_double (st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9));
  g_variant_builder_add (&builder, "{sv}", "st_ctime",
                         g_variant_new_double (st.st_ctim.tv_sec + st.st_ctim.tv_nsec / 1e9));
  return g_variant_builder_end (&builder);
}

/* () -> s */
static GVariant *
fn_socket_gethostname (MitogenCall *call, GVariant *args, GError **error)
{
  char name[256] = { 0 };

  if (gethostname (name, sizeof name - 1) < 0)
    return errno_error (error, errno, "gethostname", "");
  return g_variant_new_string (g_utf8_validate (name, -1, NULL) ? name : "");
}

/* Checks subprocess.run's options: known names, right types. */
static gboolean
check_run_options (GVariant  *options,
                   GError   **error)
{
  static const struct { const char *name, *type; } known[] = {
    { "input", "ay" }, { "cwd", "s" }, { "env", "a{ss}" },
  };
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr(GVariant) owned = value;
      gsize i;

      for (i = 0; i < G_N_ELEMENTS (known); i++)
        if (strcmp (key, known[i].name) == 0)
          break;
      if (i == G_N_ELEMENTS (known))
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                       "subprocess.run: unknown option '%s' (known: input ay, cwd s, env a{ss})", key);
          return FALSE;
        }
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (known[i].type)))
        {
          g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                       "subprocess.run: option '%s' must be of type %s, got %s",
                       key, known[i].type, g_variant_get_type_string (value));
          return FALSE;
        }
    }
  return TRUE;
}

/* A descriptor reading @input from its start: a memfd, so a child that
 * never reads its stdin cannot break a pipe or block us. */
static int
input_fd (GBytes  *input,
          GError **error)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (input, &len);
  int fd = memfd_create ("mitogen-input", MFD_CLOEXEC);

  if (fd < 0)
    {
      char tmpl[] = "/tmp/mitogen-input.XXXXXX";
      fd = g_mkstemp_full (tmpl, O_RDWR | O_CLOEXEC, 0600);
      if (fd >= 0)
        unlink (tmpl);
    }
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "Cannot buffer the input: %s", g_strerror (saved));
      return -1;
    }
  while (len > 0)
    {
      gssize n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          close (fd);
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                       "Cannot buffer the input: %s", g_strerror (saved));
          return -1;
        }
      data += n;
      len -= (gsize) n;
    }
  lseek (fd, 0, SEEK_SET);
  return fd;
}

static GSubprocess *
spawn (const char * const *argv,
       GVariant           *options,
       GError            **error)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  GSubprocessFlags flags = G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE;
  const char *cwd = NULL;
  g_autoptr(GVariant) env = NULL;
  g_autoptr(GVariant) input = NULL;

  if (argv[0] == NULL)
    {
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                           "Empty command line");
      return NULL;
    }

  launcher = g_subprocess_launcher_new (flags);

  if (options != NULL)
    {
      if (!check_run_options (options, error))
        return NULL;
      g_variant_lookup (options, "cwd", "&s", &cwd);
      env = g_variant_lookup_value (options, "env", G_VARIANT_TYPE ("a{ss}"));
      input = g_variant_lookup_value (options, "input", G_VARIANT_TYPE_BYTESTRING);
    }
  /* GSubprocess reads stdin from /dev/null; a root without one (a bare
   * busybox chroot) gets an empty input instead of a spawn error. */
  if (input == NULL && access ("/dev/null", R_OK) != 0)
    input = g_variant_ref_sink (g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, NULL, 0, 1));
  if (input != NULL)
    {
      g_autoptr(GBytes) bytes = g_variant_get_data_as_bytes (input);
      int fd = input_fd (bytes, error);

      if (fd < 0)
        return NULL;
      g_subprocess_launcher_take_stdin_fd (launcher, fd);
    }
  if (cwd != NULL)
    g_subprocess_launcher_set_cwd (launcher, cwd);
  if (env != NULL)
    {
      GVariantIter iter;
      const char *key, *value;
      g_auto(GStrv) empty = g_new0 (char *, 1);

      g_subprocess_launcher_set_environ (launcher, empty);
      g_variant_iter_init (&iter, env);
      while (g_variant_iter_next (&iter, "{&s&s}", &key, &value))
        g_subprocess_launcher_setenv (launcher, key, value, TRUE);
    }

  return g_subprocess_launcher_spawnv (launcher, argv, error);
}

static GVariant *
bytes_to_ay (GBytes *bytes)
{
  if (bytes == NULL)
    return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, NULL, 0, 1);
  return g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, bytes, TRUE);
}

/* (as argv, a{sv} options: input ay, cwd s, env a{ss}) ->
 * a{sv}: returncode i (negative: killed by that signal), stdout ay, stderr ay */
static GVariant *
fn_subprocess_run (MitogenCall *call, GVariant *args, GError **error)
{
  g_autofree const char **argv = NULL;
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GBytes) out = NULL, err = NULL;
  GVariantBuilder builder;
  int status;

  g_variant_get (args, "(^a&s@a{sv})", &argv, &options);
  process = spawn (argv, options, error);
  if (process == NULL)
    return NULL;
  if (!g_subprocess_communicate (process, NULL, NULL, &out, &err, error))
    return NULL;

  if (g_subprocess_get_if_exited (process))
    status = g_subprocess_get_exit_status (process);
  else
    status = -g_subprocess_get_term_sig (process);

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "returncode", g_variant_new_int32 (status));
  g_variant_builder_add (&builder, "{sv}", "stdout", bytes_to_ay (out));
  g_variant_builder_add (&builder, "{sv}", "stderr", bytes_to_ay (err));
  return g_variant_builder_end (&builder);
}

/* (as argv) -> ay: the command's stdout; a non-zero exit is an error
 * (G_SPAWN_EXIT_ERROR, code = exit status) carrying the stderr tail */
static GVariant *
fn_subprocess_check_output (MitogenCall *call, GVariant *args, GError **error)
{
  g_autofree const char **argv = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GBytes) out = NULL, err = NULL;

  g_variant_get (args, "(^a&s)", &argv);
  process = spawn (argv, NULL, error);
  if (process == NULL)
    return NULL;
  if (!g_subprocess_communicate (process, NULL, NULL, &out, &err, error))
    return NULL;

  if (!g_subprocess_get_successful (process))
    {
      gsize len = 0;
      const char *text = err != NULL ? g_bytes_get_data (err, &len) : "";
      gsize tail = MIN (len, 512);
      g_autofree char *tail_text = g_utf8_make_valid (text + len - tail, (gssize) tail);

      if (g_subprocess_get_if_exited (process))
        g_set_error (error, G_SPAWN_EXIT_ERROR, g_subprocess_get_exit_status (process),
                     "Command '%s' returned non-zero exit status %d%s%s", argv[0],
                     g_subprocess_get_exit_status (process), tail ? ": " : "", tail_text);
      else
        g_set_error (error, G_SPAWN_EXIT_ERROR, 128 + g_subprocess_get_term_sig (process),
                     "Command '%s' was killed by signal %d", argv[0], g_subprocess_get_term_sig (process));
      return NULL;
    }
  return bytes_to_ay (out);
}

/* (s path) -> ay */
static GVariant *
fn_file_read (MitogenCall *call, GVariant *args, GError **error)
{
  const char *path;
  char *data = NULL;
  gsize len = 0;

  g_variant_get (args, "(&s)", &path);
  if (!g_file_get_contents (path, &data, &len, error))
    return NULL;
  return g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING, data, len, TRUE, g_free, data);
}

/* (s path, ay data) -> t bytes written (atomically replaces the file) */
static GVariant *
fn_file_write (MitogenCall *call, GVariant *args, GError **error)
{
  const char *path;
  g_autoptr(GVariant) data = NULL;
  gsize len = 0;
  const guint8 *bytes;

  g_variant_get (args, "(&s@ay)", &path, &data);
  bytes = g_variant_get_fixed_array (data, &len, 1);
  if (!g_file_set_contents (path, (const char *) bytes, (gssize) len, error))
    return NULL;
  return g_variant_new_uint64 (len);
}

/* () -> () */
static GVariant *
fn_mitogen_noop (MitogenCall *call, GVariant *args, GError **error)
{
  return NULL;
}

/* (any...) -> the single argument, or the whole tuple if not exactly one */
static GVariant *
fn_mitogen_echo (MitogenCall *call, GVariant *args, GError **error)
{
  if (g_variant_n_children (args) == 1)
    return g_variant_get_child_value (args, 0);
  return g_variant_ref (args);
}

/* Zeros up to SHARED_ZEROS_MAX bytes come from one block that grows to the
 * largest size asked for and is never written again: a bulk benchmark's
 * replies then cost what sending them costs, not a fresh megabyte of
 * memset () each (a raw socket stream writes from one buffer too). Any
 * thread. */
#define SHARED_ZEROS_MAX (4u * 1024 * 1024)

static GBytes *
shared_zeros (gsize n)
{
  static GMutex lock;
  static GBytes *zeros;  /* (owned) guarded by lock */
  GBytes *slice;

  g_mutex_lock (&lock);
  if (zeros == NULL || g_bytes_get_size (zeros) < n)
    {
      g_clear_pointer (&zeros, g_bytes_unref);
      zeros = g_bytes_new_take (g_malloc0 (MAX (n, 64 * 1024)), MAX (n, 64 * 1024));
    }
  slice = g_bytes_new_from_bytes (zeros, 0, n);
  g_mutex_unlock (&lock);
  return slice;
}

/* (t n, y pattern) -> ay: n bytes; pattern 0 gives zeros, otherwise byte i
 * is (pattern + i) mod 256, so corruption and reordering show */
static GVariant *
fn_mitogen_bytes (MitogenCall *call, GVariant *args, GError **error)
{
  guint64 n;
  guint8 pattern;
  guint8 *buf;

  g_variant_get (args, "(ty)", &n, &pattern);
  if (n > G_MAXUINT32)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "mitogen.bytes: %" G_GUINT64_FORMAT " bytes is more than a message can carry", n);
      return NULL;
    }
  if (pattern == 0 && n <= SHARED_ZEROS_MAX)
    {
      g_autoptr(GBytes) zeros = shared_zeros ((gsize) n);

      return g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, zeros, TRUE);
    }
  buf = g_try_malloc0 (MAX (n, 1));
  if (buf == NULL)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOMEM,
                   "mitogen.bytes: cannot allocate %" G_GUINT64_FORMAT " bytes", n);
      return NULL;
    }
  if (pattern != 0)
    for (guint64 i = 0; i < n; i++)
      buf[i] = (guint8) (pattern + i);
  return g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING, buf, n, TRUE, g_free, buf);
}

/* (d seconds) -> () */
static GVariant *
fn_mitogen_sleep (MitogenCall *call, GVariant *args, GError **error)
{
  double seconds;

  g_variant_get (args, "(d)", &seconds);
  if (seconds < 0 || seconds > 1e6)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT,
                   "mitogen.sleep: %g s is out of range (0 to 1e6)", seconds);
      return NULL;
    }
  g_usleep ((gulong) (seconds * G_USEC_PER_SEC));
  return NULL;
}

/* (s message) -> never returns: fails with G_IO_ERROR_FAILED and @message */
static GVariant *
fn_mitogen_fail (MitogenCall *call, GVariant *args, GError **error)
{
  const char *message;

  g_variant_get (args, "(&s)", &message);
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, message);
  return NULL;
}

/* (i level, s message) -> (): logs @message at the GLib level bits given
 * (e.g. 128 debug, 64 info, 32 message, 16 warning) in domain
 * "mitogen-user"; an agent forwards it to the master */
static GVariant *
fn_mitogen_log (MitogenCall *call, GVariant *args, GError **error)
{
  gint32 level;
  const char *message;

  g_variant_get (args, "(i&s)", &level, &message);
  level &= G_LOG_LEVEL_MASK & ~(G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL);
  if (level == 0)
    level = G_LOG_LEVEL_MESSAGE;
  g_log ("mitogen-user", (GLogLevelFlags) level, "%s", message);
  return NULL;
}

/* () -> a{sv}: is_master b, context_id u, parent_id x, parent_ids au */
static GVariant *
fn_mitogen_identity (MitogenCall *call, GVariant *args, GError **error)
{
  GVariantBuilder builder;
  gsize n = 0;
  const guint32 *ids = mitogen_parent_ids (&n);

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "is_master", g_variant_new_boolean (mitogen_is_master ()));
  g_variant_builder_add (&builder, "{sv}", "context_id", g_variant_new_uint32 (mitogen_context_id ()));
  g_variant_builder_add (&builder, "{sv}", "parent_id", g_variant_new_int64 (mitogen_parent_id ()));
  g_variant_builder_add (&builder, "{sv}", "parent_ids",
                         g_variant_new_fixed_array (G_VARIANT_TYPE_UINT32, ids, n, sizeof (guint32)));
  return g_variant_builder_end (&builder);
}

/* (u dst_handle, u handle) -> u: opens a channel to the caller's
 * @dst_handle, receiving on @handle (0: a new one), whose handle it sends
 * first; then sends back every value it receives until the caller closes
 * its end (the dead marker), closes its own end, and returns how many
 * values it echoed. Occupies the context's main thread meanwhile. A test
 * of Sender/Channel across processes. */
static GVariant *
fn_mitogen_channel_echo (MitogenCall *call, GVariant *args, GError **error)
{
  MitogenRouter *router = mitogen_call_get_router (call);
  g_autoptr(MitogenContext) caller = NULL;
  g_autoptr(MitogenChannel) channel = NULL;
  guint32 dst_handle, handle, n = 0;

  g_variant_get (args, "(uu)", &dst_handle, &handle);
  if (router == NULL)
    {
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED,
                           "mitogen.channel_echo runs only in a context served by a router");
      return NULL;
    }

  caller = mitogen_router_context_by_id (router, mitogen_call_get_caller_id (call));
  if (caller == NULL)
    caller = mitogen_context_new (router, mitogen_call_get_caller_id (call), "caller", NULL, 0, NULL);
  channel = mitogen_channel_new (router, caller, dst_handle, handle);
  if (!mitogen_channel_put (channel, g_variant_new_uint32 (mitogen_channel_get_handle (channel)), error))
    return NULL;

  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      g_autoptr(GVariant) value = mitogen_channel_get_data (channel, -1, &local_error);

      if (value == NULL)
        {
          if (!g_error_matches (local_error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL))
            {
              g_propagate_error (error, g_steal_pointer (&local_error));
              return NULL;
            }
          break;
        }
      if (!mitogen_channel_put (channel, value, error))
        return NULL;
      n++;
    }

  mitogen_channel_close (channel, NULL);
  return g_variant_new_uint32 (n);
}

/* Those that return at once and never block: the agent may run them on
 * its broker thread (mitogen_mark_functions_quick ()). */
const char * const mitogen_builtin_quick_functions[] = {
  "os.getpid", "os.getuid", "mitogen.noop", "mitogen.identity", NULL,
};

const MitogenFunctionInfo mitogen_builtin_functions[] = {
  { "os.getpid", "()", "x", "The context's process id", fn_os_getpid },
  { "os.getuid", "()", "u", "The context's real user id", fn_os_getuid },
  { "os.uname", "()", "(sssss)", "sysname, nodename, release, version, machine", fn_os_uname },
  { "os.getcwd", "()", "s", "The current directory", fn_os_getcwd },
  { "os.environ", "()", "a{ss}", "The environment (UTF-8 entries)", fn_os_environ },
  { "os.listdir", "(s)", "as", "Sorted names in a directory", fn_os_listdir },
  { "os.stat", "(s)", "a{sv}", "stat() of a path: st_mode, st_size, st_mtime, ...", fn_os_stat },
  { "socket.gethostname", "()", "s", "The host name", fn_socket_gethostname },
  { "subprocess.run", "(asa{sv})", "a{sv}",
    "Run argv (options: input ay, cwd s, env a{ss}); returncode, stdout, stderr", fn_subprocess_run },
  { "subprocess.check_output", "(as)", "ay", "Run argv; its stdout, or an error on non-zero exit",
    fn_subprocess_check_output },
  { "file.read", "(s)", "ay", "A file's contents", fn_file_read },
  { "file.write", "(say)", "t", "Replace a file's contents atomically; bytes written", fn_file_write },
  { "mitogen.noop", "()", "()", "Do nothing (round-trip benchmark)", fn_mitogen_noop },
  { "mitogen.echo", "r", "*", "Return the argument (or the tuple if not exactly one)", fn_mitogen_echo },
  { "mitogen.bytes", "(ty)", "ay", "n bytes: zeros, or (pattern + i) mod 256", fn_mitogen_bytes },
  { "mitogen.sleep", "(d)", "()", "Sleep for seconds", fn_mitogen_sleep },
  { "mitogen.fail", "(s)", "()", "Fail with G_IO_ERROR_FAILED and the message", fn_mitogen_fail },
  { "mitogen.log", "(is)", "()", "Log a message at a GLib level (forwarded to the master)", fn_mitogen_log },
  { "mitogen.identity", "()", "a{sv}", "is_master, context_id, parent_id, parent_ids of the context",
    fn_mitogen_identity },
  { "mitogen.channel_echo", "(uu)", "u",
    "Open a channel to the caller's handle (receiving on a handle, 0: new), send its handle, "
    "echo values until closed; how many", fn_mitogen_channel_echo },
  { NULL, },
};
