/* test-closure.c — a program's closure (interpreter, program, shared
 * objects) and the ELF header reader, which must reject truncated and
 * garbage files and never crash on them.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <dlfcn.h>
#include <elf.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "mitogen-closure-private.h"

static char *tmpdir;

/* The SHA-256 of @path's contents by GChecksum, and its size. */
static char *
checksum_file (const char *path,
               gsize      *size)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;

  g_assert_true (g_file_get_contents (path, &contents, size, &error));
  g_assert_no_error (error);
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, *size);
}

static const MitogenClosureFile *
find_file (const MitogenClosure *closure,
           const char           *name)
{
  for (guint i = 0; i < closure->files->len; i++)
    {
      const MitogenClosureFile *file = g_ptr_array_index (closure->files, i);

      if (strcmp (file->name, name) == 0)
        return file;
    }
  return NULL;
}

static void
assert_closures_equal (const MitogenClosure *a,
                       const MitogenClosure *b)
{
  g_assert_cmpuint (a->files->len, ==, b->files->len);
  g_assert_cmpstr (a->arch, ==, b->arch);
  g_assert_cmpint (a->is_static, ==, b->is_static);
  g_assert_cmpuint (a->total_size, ==, b->total_size);
  for (guint i = 0; i < a->files->len; i++)
    {
      const MitogenClosureFile *fa = g_ptr_array_index (a->files, i);
      const MitogenClosureFile *fb = g_ptr_array_index (b->files, i);

      g_assert_cmpint (fa->role, ==, fb->role);
      g_assert_cmpstr (fa->name, ==, fb->name);
      g_assert_cmpstr (fa->sha256, ==, fb->sha256);
      g_assert_cmpuint (fa->size, ==, fb->size);
    }
}

static void
test_closure_self (void)
{
  g_autoptr(MitogenClosure) closure = NULL;
  g_autoptr(MitogenClosure) again = NULL;
  g_autoptr(MitogenClosure) explicit = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *self = NULL;
  g_autofree char *self_name = NULL;
  g_autofree char *interp = NULL;
  g_autofree char *interp_name = NULL;
  g_autofree char *arch = NULL;
  const MitogenClosureFile *file;
  struct utsname uts;
  guint64 total = 0;

  g_test_summary ("This test program's closure: its interpreter, itself, then its libraries, "
                  "each with the size and SHA-256 of its file.");

  self = g_file_read_link ("/proc/self/exe", &error);
  g_assert_no_error (error);
  self_name = g_path_get_basename (self);
  g_assert_true (mitogen_elf_inspect (self, &arch, &interp, &error));
  g_assert_no_error (error);
  g_assert_nonnull (interp);
  interp_name = g_path_get_basename (interp);

  closure = mitogen_closure_new_for_self (NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (closure);
  g_assert_false (closure->is_static);
  g_assert_cmpstr (closure->arch, ==, arch);
  g_assert_cmpint (uname (&uts), ==, 0);
  g_assert_true (mitogen_arch_matches (closure->arch, uts.machine));
  g_assert_cmpuint (closure->files->len, >=, 4);

  file = g_ptr_array_index (closure->files, 0);
  g_assert_cmpint (file->role, ==, MITOGEN_CLOSURE_INTERP);
  g_assert_cmpstr (file->name, ==, interp_name);
  file = g_ptr_array_index (closure->files, 1);
  g_assert_cmpint (file->role, ==, MITOGEN_CLOSURE_EXE);
  g_assert_cmpstr (file->name, ==, self_name);
  g_assert_cmpstr (file->path, ==, self);

  for (guint i = 0; i < closure->files->len; i++)
    {
      g_autofree char *sha256 = NULL;
      gsize size;

      file = g_ptr_array_index (closure->files, i);
      g_test_message ("%u %s %s %" G_GUINT64_FORMAT " %s", file->role, file->name, file->path, file->size,
                      file->sha256);
      if (i >= 2)
        g_assert_true (file->role == MITOGEN_CLOSURE_LIB || file->role == MITOGEN_CLOSURE_PLUGIN);
      g_assert_true (g_hash_table_add (names, file->name));
      g_assert_cmpuint (strlen (file->name), <=, 200);
      g_assert_cmpuint (strspn (file->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-"),
                        ==, strlen (file->name));
      sha256 = checksum_file (file->path, &size);
      g_assert_cmpuint (file->size, ==, size);
      g_assert_cmpstr (file->sha256, ==, sha256);
      total += file->size;
    }
  g_assert_cmpuint (closure->total_size, ==, total);
#ifdef __GLIBC__
  file = find_file (closure, "libc.so.6");
  g_assert_nonnull (file);
  g_assert_cmpint (file->role, ==, MITOGEN_CLOSURE_LIB);
#endif
  file = find_file (closure, "libglib-2.0.so.0");
  g_assert_nonnull (file);
  g_assert_cmpint (file->role, ==, MITOGEN_CLOSURE_LIB);
  g_assert_null (find_file (closure, "linux-vdso.so.1"));

  /* Cached, and the same by the program's path. */
  again = mitogen_closure_new_for_self (NULL, &error);
  g_assert_no_error (error);
  assert_closures_equal (closure, again);
  explicit = mitogen_closure_new_for_self (self, &error);
  g_assert_no_error (error);
  assert_closures_equal (closure, explicit);
}

static void
test_closure_wrong_program (void)
{
  g_autoptr(MitogenClosure) closure = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A program file that is not this process's program is an error, not a wrong closure.");

  closure = mitogen_closure_new_for_self ("/bin/sh", &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT);
  g_assert_null (closure);
  g_clear_error (&error);

  closure = mitogen_closure_new_for_self ("/nonexistent/program", &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_null (closure);
}

/* A copy of the system library @soname (from GLib's directory) at
 * TMPDIR/@dir/@name, or NULL if there is none. */
static char *
copy_system_lib (const MitogenClosure *closure,
                 const char           *soname,
                 const char           *dir,
                 const char           *name)
{
  g_autoptr(GError) error = NULL;
  const MitogenClosureFile *glib = find_file (closure, "libglib-2.0.so.0");
  g_autofree char *lib_dir = g_path_get_dirname (glib->path);
  g_autofree char *from = g_build_filename (lib_dir, soname, NULL);
  g_autofree char *to_dir = g_build_filename (tmpdir, dir, NULL);
  g_autofree char *contents = NULL;
  char *to = g_build_filename (to_dir, name, NULL);
  gsize len;

  if (!g_file_get_contents (from, &contents, &len, NULL))
    {
      g_free (to);
      return NULL;
    }
  g_assert_cmpint (g_mkdir_with_parents (to_dir, 0700), ==, 0);
  g_assert_true (g_file_set_contents (to, contents, (gssize) len, &error));
  g_assert_no_error (error);
  return to;
}

static void
test_closure_dlopen (void)
{
  g_autoptr(MitogenClosure) before = NULL;
  g_autoptr(MitogenClosure) after = NULL;
  g_autoptr(MitogenClosure) closure = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *plugin = NULL;
  g_autofree char *same = NULL;
  g_autofree char *other = NULL;
  g_autofree char *not_plugin = NULL;
  const MitogenClosureFile *file;
  void *handle;

  g_test_summary ("A module loaded after a closure was taken is in the next one (libmitogen-WORD.so "
                  "as a plugin); two different files of one name are an error.");

  before = mitogen_closure_new_for_self (NULL, &error);
  g_assert_no_error (error);
  /* Side-effect-free libraries under other names (Debian: dpkg needs both). */
  plugin = copy_system_lib (before, "liblzma.so.5", "a", "libmitogen-fake.so");
  same = copy_system_lib (before, "liblzma.so.5", "b", "libmitogen-fake.so");
  other = copy_system_lib (before, "libbz2.so.1.0", "c", "libmitogen-fake.so");
  not_plugin = copy_system_lib (before, "liblzma.so.5", "d", "libmitogen-1.0.so");
  if (plugin == NULL || other == NULL)
    {
      g_test_skip ("no liblzma.so.5 or libbz2.so.1.0 next to GLib");
      return;
    }
  handle = dlopen (plugin, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL)
    {
      g_test_skip (dlerror ());   /* a noexec temporary directory */
      return;
    }

  after = mitogen_closure_new_for_self (NULL, &error);
  g_assert_no_error (error);
  g_assert_null (find_file (before, "libmitogen-fake.so"));
  file = find_file (after, "libmitogen-fake.so");
  g_assert_nonnull (file);
  g_assert_cmpint (file->role, ==, MITOGEN_CLOSURE_PLUGIN);
  g_assert_cmpstr (file->path, ==, plugin);
  g_assert_cmpuint (after->files->len, ==, before->files->len + 1);
  g_assert_cmpuint (after->total_size, ==, before->total_size + file->size);

  /* The same contents under the same name: one file. */
  g_assert_nonnull (dlopen (same, RTLD_NOW | RTLD_LOCAL));
  closure = mitogen_closure_new_for_self (NULL, &error);
  g_assert_no_error (error);
  assert_closures_equal (closure, after);
  g_clear_pointer (&closure, mitogen_closure_free);

  /* Other contents under the same name: the target cannot hold both. */
  handle = dlopen (other, RTLD_NOW | RTLD_LOCAL);
  g_assert_nonnull (handle);
  closure = mitogen_closure_new_for_self (NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_NOT_SUPPORTED);
  g_assert_null (closure);
  g_clear_error (&error);
  g_assert_cmpint (dlclose (handle), ==, 0);
  closure = mitogen_closure_new_for_self (NULL, &error);
  g_assert_no_error (error);
  assert_closures_equal (closure, after);
  g_clear_pointer (&closure, mitogen_closure_free);

  /* The library's own name is not a plugin's. */
  g_assert_nonnull (not_plugin);
  g_assert_nonnull (dlopen (not_plugin, RTLD_NOW | RTLD_LOCAL));
  closure = mitogen_closure_new_for_self (NULL, &error);
  g_assert_no_error (error);
  file = find_file (closure, "libmitogen-1.0.so");
  g_assert_nonnull (file);
  g_assert_cmpint (file->role, ==, MITOGEN_CLOSURE_LIB);
  /* The others stay loaded: unloading is not what this tests. */
}

static void
test_elf_sh (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *arch = NULL;
  g_autofree char *interp = NULL;
  struct utsname uts;

  g_test_summary ("/bin/sh is a dynamic program for this machine.");

  g_assert_true (mitogen_elf_inspect ("/bin/sh", &arch, &interp, &error));
  g_assert_no_error (error);
  g_assert_nonnull (interp);
  g_assert_true (g_path_is_absolute (interp));
  g_assert_true (g_file_test (interp, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpint (uname (&uts), ==, 0);
  g_assert_true (mitogen_arch_matches (arch, uts.machine));

  /* Both outputs are optional. */
  g_assert_true (mitogen_elf_inspect ("/bin/sh", NULL, NULL, &error));
  g_assert_no_error (error);
}

static void
test_elf_static (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *arch = NULL;
  g_autofree char *interp = NULL;
  struct utsname uts;

  g_test_summary ("busybox-static's /bin/busybox has no interpreter.");

  if (!g_file_test ("/bin/busybox", G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip ("no /bin/busybox (package busybox-static)");
      return;
    }
  g_assert_true (mitogen_elf_inspect ("/bin/busybox", &arch, &interp, &error));
  g_assert_no_error (error);
  if (interp != NULL)
    {
      g_test_skip ("/bin/busybox is not the static build");
      return;
    }
  g_assert_cmpint (uname (&uts), ==, 0);
  g_assert_true (mitogen_arch_matches (arch, uts.machine));
}

static char *
write_temp (const char *name,
            const void *data,
            gsize       len)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (tmpdir, name, NULL);

  g_assert_true (g_file_set_contents (path, data, (gssize) len, &error));
  g_assert_no_error (error);
  return path;
}

static void
assert_invalid (const char *path)
{
  g_autoptr(GError) error = NULL;
  char *arch = NULL;
  char *interp = NULL;

  g_assert_false (mitogen_elf_inspect (path, &arch, &interp, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_null (arch);
  g_assert_null (interp);
}

static void
test_elf_not_elf (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = write_temp ("text", "#!/bin/sh\necho hello\n", 21);
  g_autofree char *empty = write_temp ("empty", "", 0);

  g_test_summary ("A script, an empty file, a directory and a missing file are errors.");

  assert_invalid (text);
  assert_invalid (empty);
  g_assert_false (mitogen_elf_inspect (tmpdir, NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE);
  g_clear_error (&error);
  g_assert_false (mitogen_elf_inspect ("/nonexistent/file", NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

/* A synthetic ELF file: header, @phnum program headers (the first one a
 * PT_INTERP when @interp is set, the others PT_NULL), then @interp. */
typedef struct
{
  gboolean    is_64;
  gboolean    msb;
  guint16     machine;
  const char *interp;
} ElfSpec;

static void
put (guint8  *p,
     guint64  value,
     gsize    len,
     gboolean msb)
{
  for (gsize i = 0; i < len; i++)
    p[msb ? len - 1 - i : i] = (guint8) (value >> (8 * i));
}

static GByteArray *
build_elf (const ElfSpec *spec,
           guint          phnum)
{
  GByteArray *elf = g_byte_array_new ();
  gsize ehsize = spec->is_64 ? 64 : 52, phentsize = spec->is_64 ? 56 : 32;
  gsize interp_off = ehsize + phnum * phentsize;
  gsize interp_len = spec->interp != NULL ? strlen (spec->interp) + 1 : 0;
  guint8 *p;

  g_byte_array_set_size (elf, (guint) (interp_off + interp_len));
  p = elf->data;
  memset (p, 0, elf->len);
  memcpy (p, ELFMAG, SELFMAG);
  p[EI_CLASS] = spec->is_64 ? ELFCLASS64 : ELFCLASS32;
  p[EI_DATA] = spec->msb ? ELFDATA2MSB : ELFDATA2LSB;
  p[EI_VERSION] = EV_CURRENT;
  put (p + 16, ET_DYN, 2, spec->msb);
  put (p + 18, spec->machine, 2, spec->msb);
  put (p + 20, EV_CURRENT, 4, spec->msb);
  if (spec->is_64)
    {
      put (p + 32, ehsize, 8, spec->msb);     /* e_phoff */
      put (p + 52, ehsize, 2, spec->msb);     /* e_ehsize */
      put (p + 54, phentsize, 2, spec->msb);
      put (p + 56, phnum, 2, spec->msb);
    }
  else
    {
      put (p + 28, ehsize, 4, spec->msb);
      put (p + 40, ehsize, 2, spec->msb);
      put (p + 42, phentsize, 2, spec->msb);
      put (p + 44, phnum, 2, spec->msb);
    }
  if (spec->interp != NULL && phnum > 0)
    {
      guint8 *ph = p + ehsize;

      put (ph, PT_INTERP, 4, spec->msb);
      if (spec->is_64)
        {
          put (ph + 8, interp_off, 8, spec->msb);    /* p_offset */
          put (ph + 32, interp_len, 8, spec->msb);   /* p_filesz */
        }
      else
        {
          put (ph + 4, interp_off, 4, spec->msb);
          put (ph + 16, interp_len, 4, spec->msb);
        }
      memcpy (p + interp_off, spec->interp, interp_len);
    }
  return elf;
}

typedef struct
{
  ElfSpec     spec;
  const char *arch;
} ArchCase;

static void
test_elf_synthetic (void)
{
  static const ArchCase cases[] = {
    { { TRUE, FALSE, EM_X86_64, "/lib64/ld-linux-x86-64.so.2" }, "x86_64" },
    { { FALSE, FALSE, EM_386, "/lib/ld-linux.so.2" }, "i686" },
    { { TRUE, FALSE, EM_AARCH64, "/lib/ld-linux-aarch64.so.1" }, "aarch64" },
    { { FALSE, FALSE, EM_ARM, "/lib/ld-linux-armhf.so.3" }, "armv7l" },
    { { TRUE, FALSE, EM_PPC64, "/lib64/ld64.so.2" }, "ppc64le" },
    { { TRUE, TRUE, EM_PPC64, "/lib64/ld64.so.1" }, "ppc64" },
    { { FALSE, TRUE, EM_PPC, "/lib/ld.so.1" }, "ppc" },
    { { TRUE, TRUE, EM_S390, "/lib/ld64.so.1" }, "s390x" },
    { { TRUE, FALSE, 243 /* EM_RISCV */, "/lib/ld-linux-riscv64-lp64d.so.1" }, "riscv64" },
    { { FALSE, TRUE, EM_MIPS, NULL }, "mips" },
  };

  g_test_summary ("Both classes and byte orders are read; machines map to uname -m spellings.");

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GByteArray) elf = build_elf (&cases[i].spec, 3);
      g_autofree char *path = write_temp ("synthetic", elf->data, elf->len);
      g_autoptr(GError) error = NULL;
      g_autofree char *arch = NULL;
      g_autofree char *interp = NULL;

      g_assert_true (mitogen_elf_inspect (path, &arch, &interp, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (arch, ==, cases[i].arch);
      g_assert_cmpstr (interp, ==, cases[i].spec.interp);
    }
}

typedef struct
{
  const char *name;
  gsize       offset;    /* byte to overwrite (64-bit LSB layout), or G_MAXSIZE */
  guint64     value;
  gsize       len;       /* bytes of the field */
  gsize       truncate;  /* keep this many bytes, or 0 for all */
} Garbage;

static const Garbage garbage[] = {
  { "class",            EI_CLASS, 3, 1, 0 },
  { "byte-order",       EI_DATA, 0, 1, 0 },
  { "version",          EI_VERSION, 2, 1, 0 },
  { "type-rel",         16, ET_REL, 2, 0 },
  { "type-core",        16, ET_CORE, 2, 0 },
  { "phoff-huge",       32, G_MAXUINT64 - 8, 8, 0 },
  { "phoff-past-end",   32, 1 << 20, 8, 0 },
  { "phoff-in-header",  32, 8, 8, 0 },
  { "phentsize-small",  54, 8, 2, 0 },
  { "phentsize-large",  54, 4096, 2, 0 },
  { "phnum-zero",       56, 0, 2, 0 },
  { "phnum-xnum",       56, 0xffff, 2, 0 },
  { "phnum-past-end",   56, 40, 2, 0 },
  { "interp-offset",    64 + 8, G_MAXUINT64 - 4, 8, 0 },
  { "interp-offset-end", 64 + 8, 64 + 3 * 56 + 10, 8, 0 },
  { "interp-size-huge", 64 + 32, G_MAXUINT64, 8, 0 },
  { "interp-size-zero", 64 + 32, 0, 8, 0 },
  { "interp-size-long", 64 + 32, 1 << 20, 8, 0 },
  { "interp-no-nul",    64 + 32, 10, 8, 0 },
  { "interp-empty",     64 + 3 * 56, 0, 1, 0 },
  { "interp-twice",     64 + 56, PT_INTERP, 4, 0 },
  { "truncated-ident",  G_MAXSIZE, 0, 0, 10 },
  { "truncated-header", G_MAXSIZE, 0, 0, 40 },
  { "truncated-phdrs",  G_MAXSIZE, 0, 0, 64 + 56 + 3 },
  { "truncated-interp", G_MAXSIZE, 0, 0, 64 + 3 * 56 + 5 },
};

static void
test_elf_garbage (gconstpointer data)
{
  const Garbage *tc = data;
  const ElfSpec spec = { TRUE, FALSE, EM_X86_64, "/lib64/ld-linux-x86-64.so.2" };
  g_autoptr(GByteArray) elf = build_elf (&spec, 3);
  g_autofree char *path = NULL;

  /* interp-twice: the second header points at the same string. */
  if (strcmp (tc->name, "interp-twice") == 0)
    memcpy (elf->data + 64 + 56, elf->data + 64, 56);
  if (tc->offset != G_MAXSIZE)
    put (elf->data + tc->offset, tc->value, tc->len, FALSE);
  if (tc->truncate != 0)
    g_byte_array_set_size (elf, (guint) tc->truncate);
  path = write_temp (tc->name, elf->data, elf->len);
  assert_invalid (path);
}

/* @fd's contents replaced by @len bytes of @data: a memfd read through
 * /proc/self/fd/N, so the thousands of rewrites of /elf/fuzz touch no disk
 * (with g_file_set_contents () they took most of a minute on a loaded
 * machine). */
static void
overwrite (int         fd,
           const char *data,
           gsize       len)
{
  g_assert_no_errno (ftruncate (fd, 0));
  g_assert_cmpint (pwrite (fd, data, len, 0), ==, (gssize) len);
}

/* Every prefix of a real program, and random damage to its headers:
 * an error or a result, never a crash or a wrong error domain. */
static void
test_elf_fuzz (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  int fd = memfd_create ("elf-fuzz", MFD_CLOEXEC);
  g_autofree char *path = g_strdup_printf ("/proc/self/fd/%d", fd);
  g_autofree char *interp = NULL;
  GRand *rand = g_rand_new_with_seed (20240611);
  gsize len, head;
  guint accepted = 0;

  g_test_summary ("Truncated and randomly damaged copies of /bin/sh never crash the reader.");
  g_assert_cmpint (fd, >=, 0);

  g_assert_true (g_file_get_contents ("/bin/sh", &contents, &len, &error));
  g_assert_no_error (error);
  head = MIN (len, 4096);

  for (gsize cut = 0; cut < head; cut += (cut < 128 ? 1 : 7))
    {
      g_autoptr(GError) local_error = NULL;
      g_autofree char *cut_interp = NULL;

      overwrite (fd, contents, cut);
      if (mitogen_elf_inspect (path, NULL, &cut_interp, &local_error))
        accepted++;
      else
        g_assert_error (local_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      if (cut < 64)
        g_assert_nonnull (local_error);
    }

  for (guint i = 0; i < 3000; i++)
    {
      g_autoptr(GError) local_error = NULL;
      g_autofree char *fuzz_arch = NULL;
      g_autofree char *fuzz_interp = NULL;
      g_autofree char *copy = g_memdup2 (contents, head);
      guint n = (guint) g_rand_int_range (rand, 1, 5);

      for (guint j = 0; j < n; j++)
        {
          /* Mostly the header and program headers. */
          gsize at = g_rand_boolean (rand) ? (gsize) g_rand_int_range (rand, 0, 64 + 13 * 56)
                                           : (gsize) g_rand_int_range (rand, 0, (gint32) head);

          copy[MIN (at, head - 1)] = (char) g_rand_int (rand);
        }
      overwrite (fd, copy, head);
      if (mitogen_elf_inspect (path, &fuzz_arch, &fuzz_interp, &local_error))
        {
          accepted++;
          g_assert_nonnull (fuzz_arch);
        }
      else
        {
          g_assert_error (local_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
          g_assert_null (fuzz_arch);
          g_assert_null (fuzz_interp);
        }
    }
  g_test_message ("fuzz: %u damaged files accepted", accepted);
  g_rand_free (rand);
  g_assert_no_errno (close (fd));
  g_assert_true (mitogen_elf_inspect ("/bin/sh", NULL, &interp, &error));
}

typedef struct
{
  const char *elf_arch;
  const char *uname_m;
  gboolean    matches;
} ArchMatch;

static const ArchMatch arch_matches[] = {
  { "x86_64", "x86_64", TRUE },
  { "x86_64", "amd64", TRUE },
  { "x86_64", "i686", FALSE },
  { "i686", "i386", TRUE },
  { "i686", "i486", TRUE },
  { "i686", "i586", TRUE },
  { "i686", "i686", TRUE },
  { "i686", "x86_64", FALSE },
  { "aarch64", "aarch64", TRUE },
  { "aarch64", "arm64", TRUE },
  { "aarch64", "armv7l", FALSE },
  { "armv7l", "armv7l", TRUE },
  { "armv7l", "armv6l", TRUE },
  { "armv7l", "armhf", TRUE },
  { "armv7l", "arm", TRUE },
  { "armv7l", "armv8l", TRUE },
  { "armv7l", "aarch64", FALSE },
  { "armv7l", "armv7b", FALSE },
  { "ppc64le", "ppc64le", TRUE },
  { "ppc64le", "ppc64", FALSE },
  { "ppc64", "ppc64", TRUE },
  { "ppc", "powerpc", TRUE },
  { "s390x", "s390x", TRUE },
  { "s390x", "s390", FALSE },
  { "riscv64", "riscv64", TRUE },
  { "mips", "mipsel", TRUE },
  { "loongarch64", "loongarch64", TRUE },
  { "elf-machine-9999", "x86_64", FALSE },
  { "x86_64", "", FALSE },
  { "", "", FALSE },
  { "x86_64", NULL, FALSE },
  { NULL, "x86_64", FALSE },
};

static void
test_arch_matches (void)
{
  g_test_summary ("uname -m spellings of the same CPU match an ELF machine; others do not.");

  for (gsize i = 0; i < G_N_ELEMENTS (arch_matches); i++)
    {
      const ArchMatch *tc = &arch_matches[i];

      g_test_message ("%s vs %s", tc->elf_arch, tc->uname_m);
      g_assert_cmpint (mitogen_arch_matches (tc->elf_arch, tc->uname_m), ==, tc->matches);
    }
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("test-closure-XXXXXX", &error);
  g_assert_no_error (error);

  g_test_add_func ("/closure/self", test_closure_self);
  g_test_add_func ("/closure/wrong-program", test_closure_wrong_program);
  g_test_add_func ("/closure/dlopen", test_closure_dlopen);
  g_test_add_func ("/elf/sh", test_elf_sh);
  g_test_add_func ("/elf/static", test_elf_static);
  g_test_add_func ("/elf/not-elf", test_elf_not_elf);
  g_test_add_func ("/elf/synthetic", test_elf_synthetic);
  for (gsize i = 0; i < G_N_ELEMENTS (garbage); i++)
    {
      g_autofree char *name = g_strdup_printf ("/elf/garbage/%s", garbage[i].name);

      g_test_add_data_func (name, &garbage[i], test_elf_garbage);
    }
  g_test_add_func ("/elf/fuzz", test_elf_fuzz);
  g_test_add_func ("/arch/matches", test_arch_matches);

  ret = g_test_run ();
  remove_tree (tmpdir);
  g_free (tmpdir);
  return ret;
}
