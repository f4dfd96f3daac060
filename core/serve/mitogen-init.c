/* mitogen-init.c — mitogen_init (): a program that is its own agent
 *
 * A program calls mitogen_init () first in main (). Started normally, it
 * returns and the program goes on as a master; started by a connect with
 * agent=self (argv[1] is --mitogen-agent), it becomes the child runtime
 * and serves the functions the program registered, then exits.
 *
 * The arguments after --mitogen-agent, from the connect (the local fast
 * path) or stage 1 (data/stage1.sh, closure mode):
 *
 *     NAME                         the context's argv0, shown by ps
 *     --probe                      exit 0 at once: stage 1 checks we run here
 *     --mitogen-closure-dir DIR    our files are in DIR (plugins in DIR/transports,
 *                                  the manifest in DIR/.manifest): onward agent=self
 *                                  connects ship from there
 *     --mitogen-run-dir DIR        DIR (a .mitogen-run.PID directory) is ours:
 *                                  removed when we exit
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-agent"

#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mitogen-agent-image-private.h"
#include "mitogen-agent-private.h"
#include "mitogen-plugins-private.h"

static char *run_dir;  /* (owned) (nullable) removed at exit */

/* Removes the entries of the directory @fd (not following links), and
 * directories below it up to @depth levels. Closes @fd. */
static void
remove_entries (int fd,
                int depth)
{
  DIR *dir = fdopendir (fd);
  struct dirent *entry;

  if (dir == NULL)
    {
      close (fd);
      return;
    }
  while ((entry = readdir (dir)) != NULL)
    {
      struct stat st;

      if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
        continue;
      if (fstatat (dirfd (dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      if (S_ISDIR (st.st_mode))
        {
          int sub = depth > 0 ? openat (dirfd (dir), entry->d_name,
                                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;

          if (sub >= 0)
            remove_entries (sub, depth - 1);
          unlinkat (dirfd (dir), entry->d_name, AT_REMOVEDIR);
        }
      else
        unlinkat (dirfd (dir), entry->d_name, 0);
    }
  closedir (dir);
}

/* Any thread, once (the agent's exit hook). Stage 1 built the directory:
 * links or copies, transports/, .manifest, the private .files. */
static void
remove_run_dir (void)
{
  int fd;

  if (run_dir == NULL)
    return;
  fd = open (run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0)
    remove_entries (fd, 3);
  rmdir (run_dir);
}

/* Stage 1 names it .mitogen-run.PID: nothing else is ever removed. */
static gboolean
is_run_dir (const char *path)
{
  g_autofree char *base = g_path_get_basename (path);

  return g_path_is_absolute (path) && g_str_has_prefix (base, ".mitogen-run.") &&
         base[strlen (".mitogen-run.")] != '\0' &&
         strspn (base + strlen (".mitogen-run."), "0123456789") == strlen (base + strlen (".mitogen-run."));
}

/* Main thread: the whole life of a replicated context. */
static int
run_agent (int    argc,
           char **argv)
{
  const char *name = NULL;
  const char *closure_dir = NULL;
  char *agent_argv[3];
  int agent_argc = 0;

  for (int i = 2; i < argc; i++)
    {
      if (strcmp (argv[i], "--probe") == 0)
        return 0;
      else if (strcmp (argv[i], "--mitogen-run-dir") == 0 && i + 1 < argc)
        {
          if (is_run_dir (argv[i + 1]))
            {
              g_free (run_dir);
              run_dir = g_strdup (argv[i + 1]);
            }
          i++;
        }
      else if (strcmp (argv[i], "--mitogen-closure-dir") == 0 && i + 1 < argc)
        closure_dir = argv[++i];
      else if (name == NULL)
        name = argv[i];
    }

  if (closure_dir != NULL && g_path_is_absolute (closure_dir))
    mitogen_plugins_set_closure_dir (closure_dir);
  if (run_dir != NULL)
    mitogen_agent_set_exit_hook (remove_run_dir);
  /* Local children of ours run the installed stock agent unless asked
   * for agent=self. */
  mitogen_agent_keep_agent_path ();

  agent_argv[agent_argc++] = argv[0];
  if (name != NULL)
    agent_argv[agent_argc++] = (char *) name;
  agent_argv[agent_argc] = NULL;
  return mitogen_agent_main (agent_argc, agent_argv);
}

/**
 * mitogen_init: (skip)
 * @argc: (inout): the address of `main ()`'s argc
 * @argv: (inout) (array length=argc): the address of `main ()`'s argv
 *
 * Makes this program its own agent: call it first in `main ()`, before
 * anything else runs (threads, other libraries' initialisation).
 *
 * A program started normally gets %TRUE back and goes on as a master: it
 * may then start contexts that run *this program* with the `agent`
 * option `self` (or [method@Mitogen.Router.set_default_agent]), and call
 * its own functions in them.
 *
 * Started by such a connect (`argv[1]` is `--mitogen-agent`), this
 * function never returns: the process becomes the child context, serves
 * calls until its parent tells it to stop or goes away, and exits with
 * the agent's status. It serves the built-in functions (`os.*`,
 * `file.*`, `mitogen.*`) and every function the program registered
 * *before* calling it: from constructors, or with
 * [func@Mitogen.register_function] ahead of this call in `main ()`.
 *
 * A dynamically linked program is shipped to a target that needs the
 * bootstrap as its closure: the program, every shared object it has
 * mapped (transport plugins too) and its ELF interpreter, which runs it
 * there (`ld.so --library-path DIR PROGRAM --mitogen-agent NAME`), so it
 * needs no libc on the target. Files travel by SHA-256 and stay in the
 * target's `~/.cache/mitogen/files` (`agent_cache` false: a private
 * directory removed at exit). A static program is shipped as it is.
 *
 * Not for language bindings: a Python or JavaScript program is not an
 * ELF program that can run `--mitogen-agent`; use the `agent` option
 * `dynamic` there.
 *
 * Returns: %TRUE: this process is a master (it never returns as an agent)
 */
gboolean
mitogen_init (int    *argc,
              char ***argv)
{
  g_return_val_if_fail (argc != NULL, FALSE);
  g_return_val_if_fail (argv != NULL, FALSE);

  mitogen_agent_image_set_self_capable ();
  if (*argc > 1 && *argv != NULL && g_strcmp0 ((*argv)[1], "--mitogen-agent") == 0)
    exit (run_agent (*argc, *argv));
  return TRUE;
}
