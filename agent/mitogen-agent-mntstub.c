/* mitogen-agent-mntstub.c — libmount stand-ins for the static agent
 *
 * GIO's extension-point code drags in its Unix mount monitoring, which
 * needs libmount; Debian ships no static libmount. The agent never looks
 * at mounts, so these stand-ins fail cleanly: "no table", "no entry".
 * Only the static agent links this file.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <stddef.h>

struct libmnt_table;
struct libmnt_iter;
struct libmnt_fs;
struct libmnt_optmap;

/* Declarations first: the project builds with -Wmissing-declarations. */
int mnt_has_regular_mtab (const char **mtab, int *writable);
struct libmnt_table *mnt_new_table (void);
void mnt_free_table (struct libmnt_table *tb);
int mnt_table_parse_mtab (struct libmnt_table *tb, const char *filename);
int mnt_table_parse_fstab (struct libmnt_table *tb, const char *filename);
struct libmnt_iter *mnt_new_iter (int direction);
void mnt_free_iter (struct libmnt_iter *itr);
int mnt_table_next_fs (struct libmnt_table *tb, struct libmnt_iter *itr, struct libmnt_fs **fs);
const char *mnt_fs_get_source (struct libmnt_fs *fs);
const char *mnt_fs_get_target (struct libmnt_fs *fs);
const char *mnt_fs_get_fstype (struct libmnt_fs *fs);
const char *mnt_fs_get_options (struct libmnt_fs *fs);
const char *mnt_fs_get_root (struct libmnt_fs *fs);
char *mnt_fs_strdup_options (struct libmnt_fs *fs);
const struct libmnt_optmap *mnt_get_builtin_optmap (int id);
int mnt_optstr_get_flags (const char *optstr, unsigned long *flags, const struct libmnt_optmap *map);
const char *mnt_get_fstab_path (void);

int mnt_has_regular_mtab (const char **mtab, int *writable) { return 0; }
struct libmnt_table *mnt_new_table (void) { return NULL; }
void mnt_free_table (struct libmnt_table *tb) { }
int mnt_table_parse_mtab (struct libmnt_table *tb, const char *filename) { return -1; }
int mnt_table_parse_fstab (struct libmnt_table *tb, const char *filename) { return -1; }
struct libmnt_iter *mnt_new_iter (int direction) { return NULL; }
void mnt_free_iter (struct libmnt_iter *itr) { }
int mnt_table_next_fs (struct libmnt_table *tb, struct libmnt_iter *itr, struct libmnt_fs **fs) { return 1; }
const char *mnt_fs_get_source (struct libmnt_fs *fs) { return NULL; }
const char *mnt_fs_get_target (struct libmnt_fs *fs) { return NULL; }
const char *mnt_fs_get_fstype (struct libmnt_fs *fs) { return NULL; }
const char *mnt_fs_get_options (struct libmnt_fs *fs) { return NULL; }
const char *mnt_fs_get_root (struct libmnt_fs *fs) { return NULL; }
char *mnt_fs_strdup_options (struct libmnt_fs *fs) { return NULL; }
const struct libmnt_optmap *mnt_get_builtin_optmap (int id) { return NULL; }
int mnt_optstr_get_flags (const char *optstr, unsigned long *flags, const struct libmnt_optmap *map) { return -1; }
const char *mnt_get_fstab_path (void) { return "/etc/fstab"; }
