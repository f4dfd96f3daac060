/* test-arch.c — stock agents for other CPUs, run under emulation
 *
 * For each CPU the build made an agent for (-Dagent_archs), a busybox
 * root of that CPU (tests/foreign/make-root.sh) is entered with chroot;
 * qemu-user (binfmt_misc, tests/foreign/setup-binfmt.sh) runs its shell,
 * so stage 1, `uname -m` and the agent are all of that CPU. Through it:
 * every built-in with values of every GVariant basic type (s390x is
 * big-endian: the wire's byte order), a process stream, a file transfer
 * both ways with its SHA-256, `via` through it, and a cached restart.
 * Always: a CPU with no agent gets one error naming the ones there are.
 *
 * The CPUs come from MITOGEN_TEST_AGENT_ARCHS (meson passes the build's
 * agent_archs): a listed CPU whose agent, root or emulation is missing is
 * a failure, not a skip.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "mitogen-test.h"
#include "mitogen-test-self.h"

typedef struct
{
  const char *debian;    /* Debian's name, as in -Dagent_archs */
  const char *machine;   /* what `uname -m` says under qemu-user */
} Arch;

static const Arch arches[] = {
  { "arm64",   "aarch64" },
  { "armhf",   "armv7l" },
  { "s390x",   "s390x" },
  { "ppc64el", "ppc64le" },
  { "i386",    "i686" },
};

static char *scratch;   /* (owned) a temp dir for host-side files */

static gboolean
is_host (const char *machine)
{
  struct utsname me;

  g_assert_cmpint (uname (&me), ==, 0);
  return strcmp (me.machine, machine) == 0;
}

/* The foreign root, made (once per build tree) by the helper script.
 * (transfer full) */
static char *
foreign_root (const Arch *arch)
{
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "foreign", "make-root.sh", NULL);
  g_autofree char *dest = g_test_build_filename (G_TEST_BUILT, "foreign", arch->debian, NULL);
  const char *argv[] = { "sh", script, arch->debian, dest, NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr(GError) error = NULL;
  int status = 0;

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("make-root.sh %s failed: %s", arch->debian, err);
  return g_steal_pointer (&dest);
}

static void
setup_binfmt (void)
{
  static gsize once;

  if (g_once_init_enter (&once))
    {
      g_autofree char *script = g_test_build_filename (G_TEST_DIST, "foreign", "setup-binfmt.sh", NULL);
      g_autofree char *list = g_strdup (g_getenv ("MITOGEN_TEST_AGENT_ARCHS"));
      g_autofree char *cmd = NULL;
      g_autofree char *out = NULL, *err = NULL;
      int status = 0;

      g_strdelimit (list, ",", ' ');
      cmd = g_strdup_printf ("sh %s %s", script, list);
      /* Its stdout too: what it prints is not TAP. */
      g_assert_true (g_spawn_command_line_sync (cmd, &out, &err, &status, NULL));
      g_test_message ("setup-binfmt.sh: %s", g_strstrip (out));
      if (!g_spawn_check_wait_status (status, NULL))
        g_error ("setup-binfmt.sh failed: %s", err);
      g_once_init_leave (&once, 1);
    }
}

static MitogenContext *
connect_root (MitogenRouter  *router,
              const char     *root,
              const char     *name,
              GError        **error)
{
  const char *wrapper[] = { "chroot", root, "/bin/busybox", "env", "-i", "PATH=/bin", "HOME=/home", NULL };
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "bootstrap", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&b, "{sv}", "agent_cache", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&b, "{sv}", "remote_name", g_variant_new_string (name));
  g_variant_builder_add (&b, "{sv}", "wrapper", g_variant_new_strv (wrapper, -1));
  /* Emulated: a start takes a second or more. */
  g_variant_builder_add (&b, "{sv}", "connect_timeout", g_variant_new_double (120));
  return mitogen_router_local (router, g_variant_builder_end (&b), NULL, error);
}

static GVariant *
call_ok (MitogenContext *context,
         const char     *function,
         GVariant       *args)
{
  g_autoptr(GError) error = NULL;
  GVariant *value = mitogen_context_call (context, function, args, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (value);
  return value;
}

static void
assert_machine (MitogenContext *context,
                const char     *machine)
{
  g_autoptr(GVariant) uts = call_ok (context, "os.uname", NULL);
  const char *sysname = NULL, *got = NULL;

  g_variant_get (uts, "(&s&s&s&s&s)", &sysname, NULL, NULL, NULL, &got);
  g_assert_cmpstr (sysname, ==, "Linux");
  g_assert_cmpstr (got, ==, machine);
}

/* Every basic type and a few containers, with values whose bytes differ
 * when swapped: a peer of the other byte order that forgot to swap
 * returns other numbers. */
static GVariant *
every_type (void)
{
  const char *strv[] = { "one", "two", NULL };
  GVariantBuilder dict;

  g_variant_builder_init (&dict, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&dict, "{sv}", "n", g_variant_new_int32 (-123456789));
  g_variant_builder_add (&dict, "{sv}", "d", g_variant_new_double (3.25e-7));
  return g_variant_new ("(ybnqiuxtdsog^asa{sv}@ai@(ux)mi)",
                        (guchar) 0xa5, TRUE, (gint16) -12345, (guint16) 0xbeef,
                        (gint32) -0x12345678, (guint32) 0xdeadbeef,
                        G_GINT64_CONSTANT (-0x123456789abcdef), G_GUINT64_CONSTANT (0xfedcba9876543210),
                        -1234.5678, "byte order", "/org/example/Object", "a{sv}(ux)",
                        strv, &dict,
                        g_variant_new_fixed_array (G_VARIANT_TYPE_INT32, (gint32[]) { 1, -2, 0x01020304 }, 3, sizeof (gint32)),
                        g_variant_new ("(ux)", 0x01020304u, G_GINT64_CONSTANT (0x0102030405060708)),
                        TRUE, (gint32) 0x7f000001);
}

static void
check_builtins (MitogenContext *context,
                const char     *root)
{
  g_autoptr(GError) error = NULL;

  /* mitogen.echo: the whole tuple, both ways through the wire. */
  {
    g_autoptr(GVariant) sent = g_variant_ref_sink (every_type ());
    g_autoptr(GVariant) back = call_ok (context, "mitogen.echo", g_variant_new ("(@*)", sent));

    g_assert_true (g_variant_equal (back, sent));
  }
  g_variant_unref (call_ok (context, "mitogen.noop", NULL));
  {
    g_autoptr(GVariant) pid = call_ok (context, "os.getpid", NULL);
    g_autoptr(GVariant) uid = call_ok (context, "os.getuid", NULL);
    g_autoptr(GVariant) cwd = call_ok (context, "os.getcwd", NULL);
    g_autoptr(GVariant) env = call_ok (context, "os.environ", NULL);
    g_autoptr(GVariant) host = call_ok (context, "socket.gethostname", NULL);
    const char *path = NULL;

    g_assert_cmpint (g_variant_get_int64 (pid), ==, mitogen_context_get_pid (context));
    g_assert_cmpuint (g_variant_get_uint32 (uid), ==, getuid ());
    g_assert_cmpstr (g_variant_get_string (cwd, NULL), !=, "");
    g_assert_true (g_variant_lookup (env, "PATH", "&s", &path));
    g_assert_cmpstr (path, ==, "/bin");
    g_assert_cmpstr (g_variant_get_string (host, NULL), !=, "");
  }
  {
    g_autoptr(GVariant) names = call_ok (context, "os.listdir", g_variant_new ("(s)", "/bin"));
    g_autofree const char **strv = g_variant_get_strv (names, NULL);

    g_assert_true (g_strv_contains (strv, "busybox"));
    g_assert_true (g_strv_contains (strv, "sh"));
  }
  /* os.stat's numbers against the host's view of the same file. */
  {
    g_autoptr(GVariant) st = call_ok (context, "os.stat", g_variant_new ("(s)", "/bin/busybox"));
    g_autofree char *local = g_build_filename (root, "bin", "busybox", NULL);
    struct stat host;
    guint64 ino = 0;
    gint64 size = 0;
    guint32 mode = 0;
    double mtime = 0;

    g_assert_cmpint (stat (local, &host), ==, 0);
    g_assert_true (g_variant_lookup (st, "st_size", "x", &size));
    g_assert_true (g_variant_lookup (st, "st_mode", "u", &mode));
    g_assert_true (g_variant_lookup (st, "st_ino", "t", &ino));
    g_assert_true (g_variant_lookup (st, "st_mtime", "d", &mtime));
    g_assert_cmpint (size, ==, host.st_size);
    g_assert_cmpuint (mode, ==, host.st_mode);
    g_assert_cmpuint (ino, ==, (guint64) host.st_ino);
    g_assert_cmpfloat_with_epsilon (mtime, host.st_mtim.tv_sec + host.st_mtim.tv_nsec / 1e9, 1e-6);
  }
  /* subprocess.run and check_output. */
  {
    const char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
    g_autoptr(GVariantBuilder) opts = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
    g_autoptr(GVariant) res = call_ok (context, "subprocess.run",
                                       g_variant_new ("(^asa{sv})", argv, opts));
    g_autoptr(GVariant) out = g_variant_lookup_value (res, "stdout", G_VARIANT_TYPE_BYTESTRING);
    gint32 status = 0;

    g_assert_nonnull (out);
    g_assert_cmpmem (g_variant_get_data (out), g_variant_get_size (out), "out\n", 4);
    g_assert_true (g_variant_lookup (res, "returncode", "i", &status));
    g_assert_cmpint (status, ==, 3);
  }
  {
    const char *argv[] = { "uname", "-m", NULL };
    g_autoptr(GVariant) out = call_ok (context, "subprocess.check_output", g_variant_new ("(^as)", argv));
    struct utsname me;

    g_assert_cmpint (uname (&me), ==, 0);
    /* The program, too, is of the foreign CPU. */
    g_assert_cmpuint (g_variant_get_size (out), >, 1);
    g_assert_false (strncmp (g_variant_get_data (out), me.machine, strlen (me.machine)) == 0 &&
                    ((const char *) g_variant_get_data (out))[strlen (me.machine)] == '\n');
  }
  /* file.write / file.read. */
  {
    g_autoptr(GVariant) n = call_ok (context, "file.write",
                                     g_variant_new ("(s@ay)", "/tmp/arch-test",
                                                    g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "\x01\x02\x03\xff", 4, 1)));
    g_autoptr(GVariant) back = NULL;

    g_assert_cmpuint (g_variant_get_uint64 (n), ==, 4);
    back = call_ok (context, "file.read", g_variant_new ("(s)", "/tmp/arch-test"));
    g_assert_cmpmem (g_variant_get_data (back), g_variant_get_size (back), "\x01\x02\x03\xff", 4);
  }
  /* mitogen.bytes: (pattern + i) mod 256. */
  {
    g_autoptr(GVariant) bytes = call_ok (context, "mitogen.bytes", g_variant_new ("(ty)", (guint64) 300000, (guchar) 7));
    const guint8 *data = g_variant_get_data (bytes);

    g_assert_cmpuint (g_variant_get_size (bytes), ==, 300000);
    for (gsize i = 0; i < 300000; i += 977)
      g_assert_cmpuint (data[i], ==, (guint8) ((7 + i) % 256));
  }
  g_variant_unref (call_ok (context, "mitogen.sleep", g_variant_new ("(d)", 0.01)));
  g_variant_unref (call_ok (context, "mitogen.log", g_variant_new ("(is)", G_LOG_LEVEL_DEBUG, "from afar")));
  {
    g_autoptr(GVariant) value = mitogen_context_call (context, "mitogen.fail", g_variant_new ("(s)", "on purpose"),
                                                      NULL, &error);

    g_assert_null (value);
    g_assert_nonnull (error);
    g_assert_nonnull (strstr (error->message, "on purpose"));
    g_clear_error (&error);
  }
  {
    g_autoptr(GVariant) id = call_ok (context, "mitogen.identity", NULL);
    guint32 context_id = 0;

    g_assert_true (g_variant_lookup (id, "context_id", "u", &context_id));
    g_assert_cmpuint (context_id, ==, mitogen_context_get_id (context));
  }
}

static void
check_channel (MitogenRouter  *router,
               MitogenContext *context)
{
  const guint32 child_handle = 5100;
  g_autoptr(MitogenChannel) channel = mitogen_channel_new (router, context, child_handle, 0);
  g_autoptr(MitogenReceiver) call = NULL;
  g_autoptr(GVariant) first = NULL, echoed = NULL, count = NULL;
  g_autoptr(GVariant) sent = g_variant_ref_sink (every_type ());
  g_autoptr(GError) error = NULL;

  call = mitogen_context_begin_call (context, "mitogen.channel_echo",
                                     g_variant_new ("(uu)", mitogen_channel_get_handle (channel), child_handle));
  first = mitogen_channel_get_data (channel, 60, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_get_uint32 (first), ==, child_handle);
  g_assert_true (mitogen_channel_put (channel, g_variant_ref (sent), &error));
  echoed = mitogen_channel_get_data (channel, 60, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_equal (echoed, sent));
  g_assert_true (mitogen_sender_close (mitogen_channel_get_sender (channel), &error));
  count = mitogen_receiver_get_data (call, 60, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_get_uint32 (count), ==, 1);
  g_assert_true (mitogen_channel_close (channel, &error));
}

/* subprocess.stream: input through, output back, the exit status. */
static void
check_process (MitogenContext *context)
{
  const char *argv[] = { "sh", "-c", "wc -c; echo err >&2; exit 5", NULL };
  g_autoptr(MitogenProcess) process = mitogen_process_new (context, argv);
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GString) err = g_string_new (NULL);
  g_autoptr(GBytes) block = NULL;
  guint8 *fill = g_malloc (65536);

  memset (fill, 'x', 65536);
  block = g_bytes_new_take (fill, 65536);
  g_assert_true (mitogen_process_start (process, NULL, &error));
  g_assert_no_error (error);
  for (int i = 0; i < 16; i++)
    g_assert_true (mitogen_process_write (process, block, NULL, &error));
  g_assert_true (mitogen_process_close_stdin (process, &error));
  for (;;)
    {
      int fd = 0;
      g_autoptr(GBytes) chunk = mitogen_process_read (process, &fd, NULL, &error);

      g_assert_no_error (error);
      if (chunk == NULL)
        break;
      g_string_append_len (fd == 1 ? out : err, g_bytes_get_data (chunk, NULL), g_bytes_get_size (chunk));
    }
  g_strstrip (out->str);
  g_assert_cmpstr (out->str, ==, "1048576");
  g_assert_cmpstr (err->str, ==, "err\n");
  g_assert_true (mitogen_process_wait (process, NULL, &error));
  g_assert_cmpint (mitogen_process_get_exit_status (process), ==, 5);
}

static void
check_transfer (MitogenContext *context,
                const char     *root)
{
  g_autofree char *local = g_build_filename (scratch, "up.bin", NULL);
  g_autofree char *back = g_build_filename (scratch, "down.bin", NULL);
  g_autofree char *in_root = g_build_filename (root, "tmp", "up.bin", NULL);
  g_autofree char *data = g_malloc (3 * 1024 * 1024 + 17);
  g_autofree char *got = NULL;
  g_autofree char *sha = NULL;
  g_autoptr(GError) error = NULL;
  gsize len = 3 * 1024 * 1024 + 17;

  for (gsize i = 0; i < len; i++)
    data[i] = (char) g_random_int ();
  g_assert_true (g_file_set_contents (local, data, (gssize) len, &error));
  sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) data, len);

  {
    g_autoptr(MitogenTransfer) put = mitogen_transfer_new (context, MITOGEN_TRANSFER_DIRECTION_PUT, local,
                                                           "/tmp/up.bin", MITOGEN_TRANSFER_FLAGS_NONE);
    g_autofree char *digest = NULL;

    g_assert_true (mitogen_transfer_run (put, NULL, &error));
    g_assert_no_error (error);
    digest = mitogen_transfer_dup_sha256 (put);
    g_assert_cmpstr (digest, ==, sha);
  }
  g_assert_true (g_file_get_contents (in_root, &got, NULL, &error));
  g_assert_cmpmem (got, len, data, len);
  {
    g_autoptr(MitogenTransfer) get = mitogen_transfer_new (context, MITOGEN_TRANSFER_DIRECTION_GET, "/tmp/up.bin",
                                                           back, MITOGEN_TRANSFER_FLAGS_NONE);
    g_autofree char *digest = NULL;
    g_autofree char *down = NULL;
    gsize down_len = 0;

    g_assert_true (mitogen_transfer_run (get, NULL, &error));
    g_assert_no_error (error);
    digest = mitogen_transfer_dup_sha256 (get);
    g_assert_cmpstr (digest, ==, sha);
    g_assert_true (g_file_get_contents (back, &down, &down_len, &error));
    g_assert_cmpmem (down, down_len, data, len);
  }
  unlink (local);
  unlink (back);
  unlink (in_root);
}

/* A child of the foreign context: it ships itself (its own CPU). */
static void
check_via (MitogenRouter  *router,
           MitogenContext *context,
           const Arch     *arch)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariantBuilder) b = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
  g_autoptr(MitogenContext) child = NULL;
  g_autoptr(GVariant) sent = g_variant_ref_sink (every_type ());
  g_autoptr(GVariant) back = NULL;

  g_variant_builder_add (b, "{sv}", "connect_timeout", g_variant_new_double (120));
  child = mitogen_router_connect (router, "local", g_variant_builder_end (b), context, NULL, &error);
  g_assert_no_error (error);
  assert_machine (child, arch->machine);
  back = call_ok (child, "mitogen.echo", g_variant_new ("(@*)", sent));
  g_assert_true (g_variant_equal (back, sent));
  check_process (child);
  g_assert_true (mitogen_context_shutdown (child, 30, &error));
  g_assert_no_error (error);
}

static void
test_foreign (gconstpointer data)
{
  const Arch *arch = data;
  g_autofree char *agent = g_test_build_filename (G_TEST_BUILT, "..", "agent", NULL);
  g_autofree char *image = NULL;
  g_autofree char *root = NULL;
  g_autofree char *cache = NULL;
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_strdup_printf ("arch-%s", arch->debian);
  gint64 start;

  g_test_summary ("A stock agent of another CPU, under qemu-user in a busybox root of that CPU: "
                  "every built-in (values of every type: byte order), a process stream, a file "
                  "both ways with its SHA-256, via through it, then a cached start.");

  image = g_strdup_printf ("%s/mitogen-agent-%s", agent, arch->debian);
  if (!g_file_test (image, G_FILE_TEST_IS_EXECUTABLE))
    g_error ("%s is listed in -Dagent_archs but %s was not built", arch->debian, image);
  setup_binfmt ();
  root = foreign_root (arch);
  cache = g_build_filename (root, "home", ".cache", "mitogen", NULL);
  mitogen_test_rm_rf (cache);

  start = g_get_monotonic_time ();
  context = connect_root (router, root, name, &error);
  g_assert_no_error (error);
  g_test_message ("%s: cold start %.0f ms, %" G_GUINT64_FORMAT " bytes shipped", arch->debian,
                  (g_get_monotonic_time () - start) / 1000.0, mitogen_context_get_bootstrap_bytes (context));
  g_assert_cmpuint (mitogen_context_get_bootstrap_bytes (context), >, 100000);
  assert_machine (context, arch->machine);
  check_builtins (context, root);
  check_channel (router, context);
  check_process (context);
  check_transfer (context, root);
  check_via (router, context, arch);
  g_assert_true (mitogen_context_shutdown (context, 30, &error));
  g_assert_no_error (error);
  g_clear_object (&context);

  /* Again: the agent of this CPU is in the root's cache now. */
  start = g_get_monotonic_time ();
  context = connect_root (router, root, name, &error);
  g_assert_no_error (error);
  g_test_message ("%s: cached start %.0f ms", arch->debian, (g_get_monotonic_time () - start) / 1000.0);
  g_assert_cmpuint (mitogen_context_get_bootstrap_bytes (context), <, 4096);
  assert_machine (context, arch->machine);
  g_clear_object (&context);
  mitogen_router_shutdown (router);
  mitogen_test_rm_rf (cache);
}

/* A target of a CPU no agent was built for: one error, naming it and the
 * CPUs there are agents for, before anything is sent. */
static void
test_unknown_cpu (void)
{
  g_autofree char *bin = g_build_filename (scratch, "fake-uname", NULL);
  g_autofree char *uname_path = g_build_filename (bin, "uname", NULL);
  g_autofree char *shell = g_build_filename (scratch, "fake-uname.sh", NULL);
  g_autofree char *shell_text = g_strdup_printf ("#!/bin/sh\nPATH=%s:$PATH\nexport PATH\nexec /bin/sh \"$@\"\n", bin);
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  const char *listed = g_getenv ("MITOGEN_TEST_AGENT_ARCHS");
  struct utsname me;
  GVariantBuilder b;

  g_test_summary ("A CPU with no agent (a faked `uname -m`: riscv64) gets one error naming it and "
                  "every CPU there is an agent for.");

  g_assert_cmpint (uname (&me), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (bin, 0755), ==, 0);
  mitogen_test_write_script (uname_path, "#!/bin/sh\ncase $1 in -m) echo riscv64 ;; *) echo Linux riscv64 ;; esac\n");
  mitogen_test_write_script (shell, shell_text);

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "bootstrap", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&b, "{sv}", "bootstrap_shell", g_variant_new_string (shell));
  context = mitogen_router_local (router, g_variant_builder_end (&b), NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "target is riscv64"));
  g_assert_nonnull (strstr (error->message, me.machine));
  if (listed != NULL && listed[0] != '\0')
    {
      g_auto(GStrv) names = g_strsplit (listed, ",", -1);

      for (guint i = 0; names[i] != NULL; i++)
        for (gsize j = 0; j < G_N_ELEMENTS (arches); j++)
          if (strcmp (names[i], arches[j].debian) == 0 && !is_host (arches[j].machine))
            g_assert_nonnull (strstr (error->message, arches[j].machine));
    }
  mitogen_router_shutdown (router);
}

int
main (int    argc,
      char **argv)
{
  const char *listed = g_getenv ("MITOGEN_TEST_AGENT_ARCHS");
  int status;

  g_test_init (&argc, &argv, NULL);
  scratch = g_dir_make_tmp ("mitogen-arch-XXXXXX", NULL);
  g_assert_nonnull (scratch);

  g_test_add_func ("/arch/unknown-cpu", test_unknown_cpu);
  if (listed != NULL && listed[0] != '\0')
    {
      g_auto(GStrv) names = g_strsplit (listed, ",", -1);

      for (guint i = 0; names[i] != NULL; i++)
        {
          gboolean known = FALSE;

          for (gsize j = 0; j < G_N_ELEMENTS (arches); j++)
            if (strcmp (names[i], arches[j].debian) == 0)
              {
                g_autofree char *path = g_strdup_printf ("/arch/%s", arches[j].debian);

                known = TRUE;
                if (!is_host (arches[j].machine))
                  g_test_add_data_func (path, &arches[j], test_foreign);
              }
          if (!known)
            g_error ("MITOGEN_TEST_AGENT_ARCHS names %s, which this test does not know", names[i]);
        }
    }

  status = g_test_run ();
  mitogen_test_rm_rf (scratch);
  g_free (scratch);
  return status;
}
