/* test-receive.c — the receiving end of a transfer against crafted events, and SHA-256
 *
 * Internal parts (services layer) tested alone: this program links the
 * library statically and starts no context.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "mitogen-test.h"
#include "mitogen-sha256-private.h"
#include "mitogen-tree-private.h"

typedef struct
{
  char *tmp;   /* (owned) a scratch directory */
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  f->tmp = g_dir_make_tmp ("mitogen-receive-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  const char *argv[] = { "sh", "-c", "chmod -R u+rwx \"$1\" 2>/dev/null; rm -rf \"$1\"", "sh", f->tmp, NULL };

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL));
  g_free (f->tmp);
}

static GBytes *
random_bytes (gsize len)
{
  guint8 *data = g_malloc (len);

  for (gsize i = 0; i < len; i++)
    data[i] = (guint8) g_random_int ();
  return g_bytes_new_take (data, len);
}

/* ---------------------------------------------------------------------- */
/* SHA-256 */

static void
check_sha256 (void)
{
  for (gsize len = 0; len < 300; len++)
    for (int split = 0; split < 3; split++)
      {
        g_autoptr(GBytes) bytes = random_bytes (len);
        const guint8 *data = g_bytes_get_data (bytes, NULL);
        gsize first = split == 0 ? len : split == 1 ? len / 2 : len / 3;
        g_autofree char *expected = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, bytes);
        MitogenSha256 sha;
        guint8 digest[MITOGEN_SHA256_LEN];
        char hex[2 * MITOGEN_SHA256_LEN + 1];

        mitogen_sha256_init (&sha);
        mitogen_sha256_update (&sha, data, first);
        mitogen_sha256_update (&sha, data + first, len - first);
        mitogen_sha256_finish (&sha, digest);
        for (gsize i = 0; i < MITOGEN_SHA256_LEN; i++)
          g_snprintf (hex + 2 * i, 3, "%02x", digest[i]);
        g_assert_cmpstr (hex, ==, expected);
      }
}

static void
test_sha256 (void)
{
  g_test_summary ("SHA-256 (SHA-NI when the CPU has it) matches GChecksum for every length "
                  "and split, and so does the portable block function.");

  if (g_test_subprocess ())
    {
      g_setenv ("MITOGEN_NO_SHA_NI", "1", TRUE);
      g_assert_false (mitogen_sha256_is_accelerated ());
      check_sha256 ();
      return;
    }
  g_test_message ("accelerated: %d", mitogen_sha256_is_accelerated ());
  check_sha256 ();
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* ---------------------------------------------------------------------- */
/* The receiving end against crafted events */

typedef struct
{
  GPtrArray *events;  /* (owned) GVariant */
  guint      next;
} FakeSender;

static GVariant *
fake_next (gpointer   data,
           GError   **error)
{
  FakeSender *fake = data;

  if (fake->next >= fake->events->len)
    {
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL, "no more events");
      return NULL;
    }
  return g_variant_ref (g_ptr_array_index (fake->events, fake->next++));
}

static gboolean
fake_idle (gpointer data)
{
  return FALSE;
}

static gboolean
fake_ack (gpointer   data,
          guint64    consumed,
          GError   **error)
{
  return TRUE;
}

static const MitogenTreeReceiverIO fake_io = { fake_next, fake_idle, fake_ack, NULL };

static void
add_event (FakeSender *fake,
           const char *kind,
           GVariant   *payload)
{
  g_ptr_array_add (fake->events, g_variant_ref_sink (g_variant_new ("(sv)", kind, payload)));
}

static GVariant *
times (gint64 sec)
{
  return g_variant_new ("(xu)", sec, (guint32) 0);
}

static gboolean
receive (const char  *destination,
         FakeSender  *fake,
         GError     **error)
{
  MitogenTreeSummary summary = { 0 };
  gboolean ok = mitogen_tree_receive (destination, FALSE, 1024 * 1024, &fake_io, fake, &summary, error);

  mitogen_tree_summary_clear (&summary);
  g_ptr_array_unref (fake->events);
  return ok;
}

static void
test_receive_unsafe (Fixture       *f,
                     gconstpointer  data)
{
  g_autofree char *dest = g_build_filename (f->tmp, "dest", NULL);
  g_autofree char *outside = g_build_filename (f->tmp, "outside", NULL);
  g_autofree char *evil = g_build_filename (f->tmp, "evil", NULL);
  const char *bad_paths[] = { "../evil", "/tmp/evil", "a/../../evil", "a//b", "./a", "", NULL };
  g_autoptr(GError) error = NULL;

  g_test_summary ("The receiving end refuses paths that leave the destination, and never "
                  "writes through a link, whatever a (compromised) sender sends.");

  g_assert_cmpint (g_mkdir (outside, 0755), ==, 0);
  for (guint i = 0; bad_paths[i] != NULL; i++)
    {
      FakeSender fake = { g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref), 0 };

      add_event (&fake, "begin", g_variant_new ("(@aybtt)", g_variant_new_bytestring ("tree"), TRUE,
                                                (guint64) 1, (guint64) 1));
      add_event (&fake, "dir", g_variant_new ("(@ayu@(xu))", g_variant_new_bytestring (""), 0755u, times (1)));
      /* "" names the root: refused as a file inside a tree only by the
       * checks that follow, so try it as a link, which needs a name. */
      if (bad_paths[i][0] == '\0')
        add_event (&fake, "link", g_variant_new ("(@ay@ay@(xu))", g_variant_new_bytestring (""),
                                                 g_variant_new_bytestring ("/"), times (1)));
      else
        add_event (&fake, "file", g_variant_new ("(@ayu@(xu)t)", g_variant_new_bytestring (bad_paths[i]), 0644u,
                                                 times (1), (guint64) 1));
      g_assert_false (receive (dest, &fake, &error));
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
      g_clear_error (&error);
      g_assert_false (g_file_test (evil, G_FILE_TEST_EXISTS));
    }

  /* A link to a directory outside, then a file "through" it. */
  {
    FakeSender fake = { g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref), 0 };
    g_autofree char *through = g_build_filename (outside, "x", NULL);

    add_event (&fake, "begin", g_variant_new ("(@aybtt)", g_variant_new_bytestring ("tree2"), TRUE,
                                              (guint64) 1, (guint64) 1));
    add_event (&fake, "dir", g_variant_new ("(@ayu@(xu))", g_variant_new_bytestring (""), 0755u, times (1)));
    add_event (&fake, "link", g_variant_new ("(@ay@ay@(xu))", g_variant_new_bytestring ("l"),
                                             g_variant_new_bytestring (outside), times (1)));
    add_event (&fake, "file", g_variant_new ("(@ayu@(xu)t)", g_variant_new_bytestring ("l/x"), 0644u,
                                             times (1), (guint64) 1));
    g_ptr_array_add (fake.events, g_variant_ref_sink (g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "x", 1, 1)));
    g_assert_false (receive (dest, &fake, &error));
    g_assert_true (error->domain == G_IO_ERROR);  /* ELOOP or ENOTDIR: O_NOFOLLOW */
    g_clear_error (&error);
    g_assert_false (g_file_test (through, G_FILE_TEST_EXISTS));
  }

  /* A name for the root that is not one component. */
  {
    FakeSender fake = { g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref), 0 };

    g_assert_cmpint (g_mkdir_with_parents (dest, 0755), ==, 0);
    add_event (&fake, "begin", g_variant_new ("(@aybtt)", g_variant_new_bytestring ("../evil"), FALSE,
                                              (guint64) 1, (guint64) 1));
    g_assert_false (receive (dest, &fake, &error));
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM);
    g_assert_false (g_file_test (evil, G_FILE_TEST_EXISTS));
  }
}

static void
test_receive_integrity (Fixture       *f,
                        gconstpointer  data)
{
  g_autofree char *dest = g_build_filename (f->tmp, "file", NULL);
  FakeSender fake = { g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref), 0 };
  guint8 wrong[32] = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = NULL;

  g_test_summary ("A file whose SHA-256 does not match the sender's is not put in place, "
                  "and no temporary file is left.");

  add_event (&fake, "begin", g_variant_new ("(@aybtt)", g_variant_new_bytestring ("file"), FALSE,
                                            (guint64) 5, (guint64) 1));
  add_event (&fake, "file", g_variant_new ("(@ayu@(xu)t)", g_variant_new_bytestring (""), 0644u, times (1),
                                           (guint64) 5));
  g_ptr_array_add (fake.events, g_variant_ref_sink (g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "hello", 5, 1)));
  add_event (&fake, "end", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, wrong, 32, 1));
  add_event (&fake, "done", g_variant_new ("(tt)", (guint64) 1, (guint64) 5));

  g_assert_false (receive (dest, &fake, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "Integrity check failed"));
  g_assert_false (g_file_test (dest, G_FILE_TEST_EXISTS));
  dir = g_dir_open (f->tmp, 0, NULL);
  g_assert_null (g_dir_read_name (dir));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/receive/sha256", test_sha256);
  g_test_add ("/receive/unsafe-paths", Fixture, NULL, fixture_set_up, test_receive_unsafe, fixture_tear_down);
  g_test_add ("/receive/integrity", Fixture, NULL, fixture_set_up, test_receive_integrity, fixture_tear_down);

  return g_test_run ();
}
