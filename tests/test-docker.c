/* test-docker.c — the docker transport against a real container runtime:
 * rootful podman, driven through the docker command line (docker_path is
 * a shim that runs podman with a private store and configuration).
 *
 * The image is made here: a static busybox with its applets as symlinks,
 * nothing else (no libc, no dynamic loader, no /etc/passwd), imported
 * with `podman import`. So every connect boots the full bootstrap into a
 * root where only a fully static agent can run.
 *
 * podman here runs with runc, no network, and default ulimits below the
 * machine's (crun cannot raise RLIMIT_NOFILE above them); that is what
 * the private containers.conf says. Everything (containers, images, the
 * store) is removed at the end, and by a guardian process if the test
 * dies.
 *
 * Needs root, podman and runc (.ci/run installs them); skips, saying
 * why, only if podman cannot run a container at all.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mitogen-test.h"
#include "host-fixture.h"

#define IMAGE     "localhost/mitogen-test-busybox:latest"
#define BOX       "mitogen-test-box"

static const char *applets[] = { "sh", "dd", "gzip", "cp", "chmod", "mkdir", "mv", "rm", "uname",
                                 "cat", "ls", "sleep", "id", "ln", "sha256sum", "kill", NULL };

static char *skip_reason;   /* (owned) NULL: the fixture is up */
static char *fixture_dir;   /* (owned) */
static char *shim;          /* (owned) the docker_path: podman with our store and configuration */
static GPid guardian_pid;
static int guardian_pipe = -1;

/* --- fixture (as root) -------------------------------------------------------------- */

/* Runs @argv; its output (stdout, then stderr) in @output if not NULL. */
static gboolean
run_capture (const char * const  *argv,
             char               **output)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error))
    {
      if (output != NULL)
        *output = g_strdup (error->message);
      return FALSE;
    }
  if (output != NULL)
    *output = g_strconcat (out, err, NULL);
  return g_spawn_check_wait_status (status, NULL);
}
#define DOCKER(out, ...) run_capture ((const char * const[]) { shim, __VA_ARGS__, NULL }, out)

static void
guardian_setup (gpointer data)
{
  /* Out of the test's session: a signal to the test's group spares it. */
  setsid ();
}

static void
start_guardian (void)
{
  /* Containers, images, then whatever podman left mounted, then the dir. */
  g_autofree char *script =
    g_strdup_printf ("exec >/dev/null 2>&1; cat; "
                     "'%s' rm -a -f; '%s' rmi -a -f; "
                     "grep -o ' %s/[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l; "
                     "rm -rf '%s'", shim, shim, fixture_dir, fixture_dir);
  const char *argv[] = { "/bin/sh", "-c", script, "mitogen-test-docker-guardian", NULL };
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
stop_guardian (void)
{
  int status;

  if (guardian_pipe < 0)
    return;
  close (guardian_pipe);
  guardian_pipe = -1;
  while (waitpid (guardian_pid, &status, 0) < 0 && errno == EINTR)
    ;
}

/* A root holding only a static busybox and its applets, as a tarball. */
static char *
make_busybox_tarball (void)
{
  g_autofree char *root = g_build_filename (fixture_dir, "rootfs", NULL);
  g_autofree char *bin = g_build_filename (root, "bin", NULL);
  g_autofree char *tmp = g_build_filename (root, "tmp", NULL);
  g_autofree char *busybox = g_build_filename (bin, "busybox", NULL);
  g_autofree char *tarball = g_build_filename (fixture_dir, "busybox.tar", NULL);
  g_autofree char *out = NULL;

  g_assert_cmpint (g_mkdir_with_parents (bin, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (tmp, 0755), ==, 0);
  /* Any user may write there: a context run as another uid puts its
   * agent there (/dev/shm is noexec in a container). */
  g_assert_cmpint (chmod (tmp, 01777), ==, 0);
  if (!run_capture ((const char * const[]) { "cp", "/bin/busybox", busybox, NULL }, &out))
    g_error ("cp busybox: %s", out);
  g_clear_pointer (&out, g_free);
  for (guint i = 0; applets[i] != NULL; i++)
    {
      g_autofree char *link = g_build_filename (bin, applets[i], NULL);
      g_assert_cmpint (symlink ("busybox", link), ==, 0);
    }
  if (!run_capture ((const char * const[]) { "tar", "-C", root, "-cf", tarball, ".", NULL }, &out))
    g_error ("tar: %s", out);
  return g_steal_pointer (&tarball);
}

/* NULL if the fixture is up, else why not (owned). */
static char *
set_up_fixture (void)
{
  g_autofree char *podman = g_find_program_in_path ("podman");
  g_autofree char *runc = NULL;
  g_autofree char *conf = NULL;
  g_autofree char *conf_text = NULL;
  g_autofree char *shim_text = NULL;
  g_autofree char *tarball = NULL;
  g_autofree char *out = NULL;
  struct rlimit nofile, nproc;

  if (getuid () != 0)
    return g_strdup ("needs root (rootful podman)");
  if (podman == NULL)
    return g_strdup ("podman is not installed (apt-get install podman runc)");
  if (!g_file_test ("/bin/busybox", G_FILE_TEST_IS_EXECUTABLE))
    return g_strdup ("busybox-static is not installed");
  runc = g_find_program_in_path ("runc");
  if (runc == NULL && g_file_test ("/usr/sbin/runc", G_FILE_TEST_IS_EXECUTABLE))
    runc = g_strdup ("/usr/sbin/runc");

  fixture_dir = g_dir_make_tmp ("mitogen-docker-XXXXXX", NULL);
  g_assert_nonnull (fixture_dir);
  chmod (fixture_dir, 0755);
  shim = g_build_filename (fixture_dir, "docker", NULL);
  start_guardian ();

  /* Default ulimits below ours: the runtime cannot set them higher. */
  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &nofile), ==, 0);
  g_assert_cmpint (getrlimit (RLIMIT_NPROC, &nproc), ==, 0);
  conf = g_build_filename (fixture_dir, "containers.conf", NULL);
  conf_text = g_strdup_printf ("[containers]\n"
                               "default_ulimits = [\"nofile=%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT "\", "
                               "\"nproc=%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT "\"]\n"
                               "netns = \"none\"\n"
                               "[engine]\n"
                               "%s%s%s"
                               "cgroup_manager = \"cgroupfs\"\n"
                               "events_logger = \"file\"\n",
                               (guint64) MIN (nofile.rlim_max, 1024), (guint64) MIN (nofile.rlim_max, 1024),
                               (guint64) MIN (nproc.rlim_max, 4096), (guint64) MIN (nproc.rlim_max, 4096),
                               runc != NULL ? "runtime = \"" : "", runc != NULL ? runc : "",
                               runc != NULL ? "\"\n" : "");
  g_assert_true (g_file_set_contents (conf, conf_text, -1, NULL));
  shim_text = g_strdup_printf ("#!/bin/sh\n"
                               "CONTAINERS_CONF='%s'; export CONTAINERS_CONF\n"
                               "exec '%s' --root '%s/store' --runroot '%s/run' --storage-driver vfs \"$@\"\n",
                               conf, podman, fixture_dir, fixture_dir);
  g_assert_true (g_file_set_contents (shim, shim_text, -1, NULL));
  g_assert_cmpint (chmod (shim, 0755), ==, 0);

  tarball = make_busybox_tarball ();
  if (!DOCKER (&out, "import", tarball, IMAGE))
    return g_strdup_printf ("podman cannot import an image here: %s", out);
  g_clear_pointer (&out, g_free);
  if (!DOCKER (&out, "run", "--rm", IMAGE, "/bin/sh", "-c", "exit 0"))
    return g_strdup_printf ("podman cannot run a container here: %s", out);
  g_clear_pointer (&out, g_free);
  if (!DOCKER (&out, "run", "-d", "--name", BOX, IMAGE, "sleep", "600"))
    return g_strdup_printf ("podman cannot start a container here: %s", out);
  return NULL;
}

/* Names of the containers that exist, running or not. */
static char **
container_names (void)
{
  g_autofree char *out = NULL;

  g_assert_true (DOCKER (&out, "ps", "-a", "--format", "{{.Names}}"));
  return g_strsplit (g_strstrip (out), "\n", -1);
}

/* Only the long-running BOX is left (waits a little: removal is async). */
static void
assert_only_box_left (void)
{
  g_auto(GStrv) names = NULL;

  for (int i = 0; i < 100; i++)
    {
      g_clear_pointer (&names, g_strfreev);
      names = container_names ();
      if (g_strv_length (names) == 1)
        break;
      g_usleep (100 * 1000);
    }
  g_assert_cmpuint (g_strv_length (names), ==, 1);
  g_assert_cmpstr (names[0], ==, BOX);
}

/* --- helpers ------------------------------------------------------------------------ */

static gboolean
skipped (void)
{
  if (skip_reason != NULL)
    {
      g_test_skip (skip_reason);
      return TRUE;
    }
  return FALSE;
}

/* Tests that boot the stock agent in the busybox-only container: it must
 * be fully static. Sanitizer builds (-Dstatic_agent=disabled) skip them. */
static gboolean
skipped_stock (void)
{
  if (skipped ())
    return TRUE;
  if (!MITOGEN_TEST_AGENT_STATIC)
    {
      g_test_skip ("the stock agent is dynamically linked in this build (-Dstatic_agent=disabled, "
                   "as in sanitizer builds): it cannot run in a container without libraries");
      return TRUE;
    }
  return FALSE;
}

static GVariant *
docker_options (const char *container,
                const char *image,
                const char *username,
                double      timeout)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "docker_path", g_variant_new_string (shim));
  if (container != NULL)
    g_variant_builder_add (&b, "{sv}", "container", g_variant_new_string (container));
  if (image != NULL)
    g_variant_builder_add (&b, "{sv}", "image", g_variant_new_string (image));
  if (username != NULL)
    g_variant_builder_add (&b, "{sv}", "username", g_variant_new_string (username));
  g_variant_builder_add (&b, "{sv}", "connect_timeout", g_variant_new_double (timeout));
  return g_variant_builder_end (&b);
}

static char **
list_dir (MitogenContext *context,
          const char     *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) names = mitogen_context_call (context, "os.listdir", g_variant_new ("(s)", path),
                                                    NULL, &error);

  g_assert_no_error (error);
  return g_variant_dup_strv (names, NULL);
}

/* The context runs in our busybox-only root, and its agent left no file. */
static void
assert_in_busybox_root (MitogenContext *context)
{
  g_auto(GStrv) root = list_dir (context, "/");
  g_auto(GStrv) bin = list_dir (context, "/bin");
  g_auto(GStrv) tmp = list_dir (context, "/tmp");

  g_assert_true (g_strv_contains ((const char * const *) root, "bin"));
  g_assert_false (g_strv_contains ((const char * const *) root, "usr"));
  g_assert_false (g_strv_contains ((const char * const *) root, "lib"));
  g_assert_false (g_strv_contains ((const char * const *) root, "lib64"));
  g_assert_true (g_strv_contains ((const char * const *) bin, "busybox"));
  g_assert_cmpuint (g_strv_length (bin), ==, g_strv_length ((char **) applets) + 1);
  g_assert_cmpuint (g_strv_length (tmp), ==, 0);
}

static guint32
call_getuid (MitogenContext *context)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) uid = mitogen_context_call (context, "os.getuid", NULL, NULL, &error);

  g_assert_no_error (error);
  return g_variant_get_uint32 (uid);
}

/* --- tests -------------------------------------------------------------------------- */

static void
test_container (void)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *hostname = NULL;
  g_autoptr(GVariant) name = NULL;

  g_test_summary ("Existing-container mode: docker exec -i runs the bootstrap in a running "
                  "container; the context is in there.");
  if (skipped_stock ())
    return;
  g_assert_true (DOCKER (&hostname, "inspect", "--format", "{{.Config.Hostname}}", BOX));
  g_strstrip (hostname);

  router = mitogen_router_new ();
  context = mitogen_router_connect (router, "docker", docker_options (BOX, NULL, NULL, 30), NULL, NULL, &error);
  g_assert_no_error (error);
  assert_in_busybox_root (context);
  g_assert_cmpuint (call_getuid (context), ==, 0);
  name = mitogen_context_call (context, "socket.gethostname", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (name, NULL), ==, hostname);
  g_clear_object (&context);
  mitogen_router_shutdown (router);
  assert_only_box_left ();
}

static void
test_username (void)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("The username option (docker -u): a uid that has no passwd entry in the "
                  "container, in both modes.");
  if (skipped_stock ())
    return;
  router = mitogen_router_new ();
  context = mitogen_router_connect (router, "docker", docker_options (BOX, NULL, "1234", 30), NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (call_getuid (context), ==, 1234);
  g_clear_object (&context);

  context = mitogen_router_connect (router, "docker", docker_options (NULL, IMAGE, "4321:4321", 30),
                                    NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (call_getuid (context), ==, 4321);
  g_clear_object (&context);
  mitogen_router_shutdown (router);
  assert_only_box_left ();
}

static void
test_image (void)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) during = NULL;

  g_test_summary ("Temporary-image mode: docker run -i --rm starts a container of its own for "
                  "the context (a busybox-only image: the full bootstrap, a static agent), and "
                  "no container is left once the context is gone.");
  if (skipped_stock ())
    return;
  router = mitogen_router_new ();
  context = mitogen_router_connect (router, "docker", docker_options (NULL, IMAGE, NULL, 30), NULL, NULL, &error);
  g_assert_no_error (error);
  assert_in_busybox_root (context);
  during = container_names ();
  g_assert_cmpuint (g_strv_length (during), ==, 2);

  g_clear_object (&context);
  mitogen_router_shutdown (router);
  assert_only_box_left ();
}

static void
test_image_failure (void)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder b;

  g_test_summary ("A temporary container that fails to start is a MITOGEN_ERROR_STREAM naming "
                  "the step and quoting docker; one that does not start in time is a "
                  "MITOGEN_ERROR_TIMEOUT; neither leaves a container behind.");
  if (skipped ())
    return;
  router = mitogen_router_new ();
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "docker_path", g_variant_new_string (shim));
  g_variant_builder_add (&b, "{sv}", "image", g_variant_new_string (IMAGE));
  g_variant_builder_add (&b, "{sv}", "bootstrap_shell", g_variant_new_string ("/no/such/sh"));
  context = mitogen_router_connect (router, "docker", g_variant_builder_end (&b), NULL, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "docker run of image " IMAGE));
  g_assert_nonnull (strstr (error->message, "/no/such/sh"));
  g_clear_error (&error);
  assert_only_box_left ();

  /* podman needs longer than this to start a container. */
  context = mitogen_router_connect (router, "docker", docker_options (NULL, IMAGE, NULL, 0.05), NULL, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  mitogen_router_shutdown (router);
  assert_only_box_left ();
}

static void
test_container_missing (void)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A container that does not exist: MITOGEN_ERROR_STREAM naming the step, with "
                  "docker's own message.");
  if (skipped ())
    return;
  router = mitogen_router_new ();
  context = mitogen_router_connect (router, "docker", docker_options ("mitogen-test-nonesuch", NULL, NULL, 30),
                                    NULL, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "docker exec in container mitogen-test-nonesuch failed: "));
  g_assert_nonnull (strstr (strstr (error->message, "failed: "), "mitogen-test-nonesuch"));
  mitogen_router_shutdown (router);
}

static void
test_via (void)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) local = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("docker through a local context: the intermediate's agent runs the docker "
                  "client with its compiled-in transport.");
  if (skipped_stock ())
    return;
  router = mitogen_router_new ();
  local = mitogen_router_local (router, NULL, NULL, &error);
  g_assert_no_error (error);
  context = mitogen_router_connect (router, "docker", docker_options (BOX, NULL, NULL, 30), local, NULL, &error);
  g_assert_no_error (error);
  assert_in_busybox_root (context);
  g_clear_object (&context);
  g_clear_object (&local);
  mitogen_router_shutdown (router);
}

/* --- podman, natively: `podman exec -i` (the shim is podman with the
 * fixture's store and configuration; its file name is docker's only for
 * the docker method) -------------------------------------------------------- */

static GVariant *
podman_options (const char *container,
                const char *username,
                const char *workdir)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "podman_path", g_variant_new_string (shim));
  g_variant_builder_add (&b, "{sv}", "container", g_variant_new_string (container));
  if (username != NULL)
    g_variant_builder_add (&b, "{sv}", "username", g_variant_new_string (username));
  if (workdir != NULL)
    g_variant_builder_add (&b, "{sv}", "workdir", g_variant_new_string (workdir));
  g_variant_builder_add (&b, "{sv}", "connect_timeout", g_variant_new_double (30));
  return g_variant_builder_end (&b);
}

static MitogenContext *
podman_connect (MitogenRouter  *router,
                GVariant       *options,
                MitogenContext *via,
                const char     *what)
{
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  MitogenContext *context = mitogen_router_connect (router, "podman", options, via, NULL, &error);

  g_assert_no_error (error);
  g_printerr ("# %s: started in %.1f ms\n", what, (g_get_monotonic_time () - start) / 1000.0);
  return context;
}

static void
test_podman_container (void)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(MitogenContext) local = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *hostname = NULL;
  g_autoptr(GVariant) name = NULL;

  g_test_summary ("The podman method: podman exec -i runs the bootstrap in a running container, "
                  "the context is in there (its root, its host name, root); through a local "
                  "context too.");
  if (skipped_stock ())
    return;
  g_assert_true (DOCKER (&hostname, "inspect", "--format", "{{.Config.Hostname}}", BOX));
  g_strstrip (hostname);

  router = mitogen_router_new ();
  context = podman_connect (router, podman_options (BOX, NULL, NULL), NULL, "podman");
  assert_in_busybox_root (context);
  g_assert_cmpuint (call_getuid (context), ==, 0);
  name = mitogen_context_call (context, "socket.gethostname", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (name, NULL), ==, hostname);
  g_clear_object (&context);

  local = mitogen_router_local (router, NULL, NULL, &error);
  g_assert_no_error (error);
  context = podman_connect (router, podman_options (BOX, NULL, NULL), local, "podman via local");
  assert_in_busybox_root (context);
  g_clear_object (&context);
  g_clear_object (&local);
  mitogen_router_shutdown (router);
  assert_only_box_left ();
}

static void
test_podman_user_workdir (void)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) cwd = NULL;

  g_test_summary ("podman's username and workdir options: --user and --workdir of podman exec.");
  if (skipped_stock ())
    return;
  router = mitogen_router_new ();
  context = podman_connect (router, podman_options (BOX, "4321:4321", "/bin"), NULL, "podman --user --workdir");
  g_assert_cmpuint (call_getuid (context), ==, 4321);
  cwd = mitogen_context_call (context, "os.getcwd", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (cwd, NULL), ==, "/bin");
  g_clear_object (&context);
  mitogen_router_shutdown (router);
}

static void
test_podman_missing (void)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("podman into a container that does not exist fails quoting podman; no "
                  "container refuses at once.");
  if (skipped ())
    return;
  router = mitogen_router_new ();
  context = mitogen_router_connect (router, "podman", podman_options ("mitogen-test-nonesuch", NULL, NULL),
                                    NULL, NULL, &error);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_true (error->domain == MITOGEN_ERROR);
  g_assert_nonnull (strstr (error->message, "mitogen-test-nonesuch"));
  g_clear_error (&error);
  context = mitogen_router_connect (router, "podman", NULL, NULL, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  mitogen_router_shutdown (router);
}

static void
test_options (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenTransport) transport = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  const char *names[] = { "container", "image", "docker-path", "username" };

  g_test_summary ("The docker method's options are properties with descriptions; exactly one "
                  "of container and image must be given.");
  transport = mitogen_transport_new_for_method ("docker", NULL, &error);
  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      GParamSpec *pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (transport), names[i]);
      g_assert_nonnull (pspec);
      g_assert_nonnull (g_param_spec_get_blurb (pspec));
    }
  g_assert_true (mitogen_transport_get_bootstrap (transport));

  context = mitogen_router_connect (router, "docker", g_variant_new_parsed ("@a{sv} {}"), NULL, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  context = mitogen_router_connect (router, "docker",
                                    g_variant_new_parsed ("{'container': <'a'>, 'image': <'b'>}"),
                                    NULL, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  context = mitogen_router_connect (router, "docker", g_variant_new_parsed ("{'container': <'-it'>}"),
                                    NULL, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  mitogen_router_shutdown (router);
}

/* A program's own functions in a container with no libc: the example
 * ships itself (agent=self: its closure, run through its own loader),
 * then a second run finds every file in the container's cache. */
static void
test_self_replicate (void)
{
  g_autofree char *target = NULL;
  g_autofree char *out = NULL;
  int status;

  g_test_summary ("docs/examples/self-replicate runs its own demo.* functions in the busybox "
                  "container (no libc, no loader) through its shipped closure; the second "
                  "start ships 0 bytes.");
  if (skipped ())
    return;

  target = g_strdup_printf ("docker:container=%s,docker_path=%s", BOX, shim);
  for (int run = 0; run < 2; run++)
    {
      guint64 bytes;

      g_clear_pointer (&out, g_free);
      out = host_run_self_example ((const char *[]) { target, NULL }, &status);
      g_test_message ("run %d: %s", run, out);
      g_assert_cmpint (status, ==, 0);
      g_assert_nonnull (strstr (out, "demo.add(2, 3) = 5"));
      g_assert_nonnull (strstr (out, "/.mitogen-run."));
      bytes = host_self_example_bytes (out, target);
      if (run == 0)
        g_assert_cmpuint (bytes, >, 1000000);
      else
        g_assert_cmpuint (bytes, ==, 0);
    }
  /* Still no libc in the image: the closure lives in the cache only. */
  {
    g_autofree char *ls = NULL;

    g_assert_true (DOCKER (&ls, "exec", BOX, "ls", "/"));
    g_assert_null (strstr (ls, "lib"));
  }
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);

  skip_reason = set_up_fixture ();
  if (skip_reason != NULL)
    g_printerr ("# docker tests skip: %s\n", skip_reason);

  g_test_add_func ("/docker/options", test_options);
  g_test_add_func ("/docker/container", test_container);
  g_test_add_func ("/docker/container-missing", test_container_missing);
  g_test_add_func ("/docker/username", test_username);
  g_test_add_func ("/docker/image", test_image);
  g_test_add_func ("/docker/image-failure", test_image_failure);
  g_test_add_func ("/docker/via-local", test_via);
  g_test_add_func ("/docker/self-replicate", test_self_replicate);
  g_test_add_func ("/docker/podman/container", test_podman_container);
  g_test_add_func ("/docker/podman/user-workdir", test_podman_user_workdir);
  g_test_add_func ("/docker/podman/missing", test_podman_missing);

  status = g_test_run ();
  stop_guardian ();
  return status;
}
