/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-version-macros.h>

G_BEGIN_DECLS

/**
 * MITOGEN_TRANSPORT_EXTENSION_POINT_NAME:
 *
 * The GIO extension point transport plugins implement; each extension's
 * name is the method name (`local`, `ssh`, ...).
 */
#define MITOGEN_TRANSPORT_EXTENSION_POINT_NAME "mitogen-transport"

/**
 * MITOGEN_DEFINE_TRANSPORT_MODULE:
 * @prefix: the module's entry point prefix: `g_io_` and the module file's
 *   name without `lib` and `.so`, dashes made underscores
 *   (`g_io_mitogen_sudo` for `libmitogen-sudo.so`)
 * @method: the method name users pass to mitogen_router_connect(), a string
 * @register_func: registers the transport's types with a #GTypeModule
 *   (calls the `_register_type` of G_DEFINE_DYNAMIC_TYPE)
 * @type: the transport's #GType
 *
 * Defines a transport plugin's GIO module entry points: `_load` registers
 * the types and implements the extension point under @method (and keeps
 * the module loaded: types of a #GTypeModule cannot be unloaded safely),
 * `_unload` does nothing, `_query` names the extension point so GIO can
 * skip the module when nobody asks for it.
 *
 * ```c
 * MITOGEN_DEFINE_TRANSPORT_MODULE (g_io_mitogen_sudo, "sudo",
 *                                  mitogen_sudo_transport_register,
 *                                  MITOGEN_TYPE_SUDO_TRANSPORT)
 * ```
 */
#define MITOGEN_DEFINE_TRANSPORT_MODULE(prefix, method, register_func, type) \
  G_MODULE_EXPORT void prefix##_load (GIOModule *module);                   \
  G_MODULE_EXPORT void prefix##_unload (GIOModule *module);                 \
  G_MODULE_EXPORT char **prefix##_query (void);                             \
  void                                                                      \
  prefix##_load (GIOModule *module)                                         \
  {                                                                         \
    register_func (G_TYPE_MODULE (module));                                 \
    g_io_extension_point_implement (MITOGEN_TRANSPORT_EXTENSION_POINT_NAME, \
                                    (type), (method), 0);                   \
    g_type_module_use (G_TYPE_MODULE (module));                             \
  }                                                                         \
  void                                                                      \
  prefix##_unload (GIOModule *module)                                       \
  {                                                                         \
    (void) module;                                                          \
  }                                                                         \
  char **                                                                   \
  prefix##_query (void)                                                     \
  {                                                                         \
    char *names[] = { (char *) MITOGEN_TRANSPORT_EXTENSION_POINT_NAME, NULL }; \
    return g_strdupv (names);                                               \
  }

/**
 * MitogenSpawnFlags:
 * @MITOGEN_SPAWN_DEFAULT: stdin and stdout on one socketpair (1 MiB
 *   buffers), stderr on a pipe, a session of its own, `SIGKILL` when we die
 * @MITOGEN_SPAWN_PIPES: stdin and stdout on two pipes (1 MiB) instead of
 *   one socketpair: for programs that relay them (sudo with `use_pty`),
 *   or that need a pipe (docker's client)
 * @MITOGEN_SPAWN_STDERR_INHERIT: the child's stderr stays ours; no stderr
 *   descriptor is returned
 * @MITOGEN_SPAWN_STDERR_PTY: the child's stderr is a new PTY (echo off),
 *   made its controlling terminal, so that a program asking for a
 *   password on `/dev/tty` asks there; the descriptor returned is the PTY
 *   master, non-blocking (it reads `EIO` once the child is gone)
 * @MITOGEN_SPAWN_SAME_SESSION: no `setsid ()`: the child stays in our
 *   session and process group (a Ctrl-C on our terminal reaches it)
 * @MITOGEN_SPAWN_TERM_WITH_PARENT: `SIGTERM` instead of `SIGKILL` when we
 *   die, for a client that should say goodbye (ssh, docker)
 * @MITOGEN_SPAWN_KEEP_WITH_PARENT: no `PR_SET_PDEATHSIG` (a setuid program
 *   drops it anyway; it exits when its stream ends)
 * @MITOGEN_SPAWN_FILE_AND_ARGV_ZERO: `argv[0]` is the file to run and
 *   `argv[1]` the name the program gets as its `argv[0]`
 *
 * How mitogen_transport_spawn_command() connects and places a child.
 */
typedef enum /*< flags >*/
{
  MITOGEN_SPAWN_DEFAULT            = 0,
  MITOGEN_SPAWN_PIPES              = 1 << 0,
  MITOGEN_SPAWN_STDERR_INHERIT     = 1 << 1,
  MITOGEN_SPAWN_STDERR_PTY         = 1 << 2,
  MITOGEN_SPAWN_SAME_SESSION       = 1 << 3,
  MITOGEN_SPAWN_TERM_WITH_PARENT   = 1 << 4,
  MITOGEN_SPAWN_KEEP_WITH_PARENT   = 1 << 5,
  MITOGEN_SPAWN_FILE_AND_ARGV_ZERO = 1 << 6,
} MitogenSpawnFlags;

#define MITOGEN_TYPE_TRANSPORT (mitogen_transport_get_type ())

MITOGEN_AVAILABLE_IN_ALL
G_DECLARE_DERIVABLE_TYPE (MitogenTransport, mitogen_transport, MITOGEN, TRANSPORT, GObject)

/**
 * MitogenTransportClass:
 * @parent_class: the parent class
 * @start: the simple way: start the agent on this machine and hand back
 *   the descriptors that carry frames. Runs on the broker thread and must
 *   not block for long; @agent_path is the agent program of this machine.
 *   On success @read_fd and @write_fd (they may be equal) belong to the
 *   caller; @pid is the local child to reap, or 0. Used when @spawn_async
 *   is %NULL.
 * @spawn_async: the general way: run the command line @argv on the target
 *   so that its stdin and stdout become the stream. Called on the broker
 *   thread with the broker's main context as thread-default; it must not
 *   block: do network work from sources attached to that context. When
 *   @needs_bootstrap is %TRUE, @argv is `sh -c STAGE1` (the zero-install
 *   bootstrap, DESIGN §6); otherwise it is the local agent and its argv[0].
 * @spawn_finish: completes @spawn_async (the default takes what
 *   mitogen_transport_return_spawned() returned): the stream's descriptors
 *   (@read_fd and @write_fd may be equal; a transport whose channel is
 *   not a descriptor bridges it to a socketpair), a descriptor carrying
 *   the target's stderr or -1 (its tail goes into error messages), and
 *   the local child to reap or 0. Errors: %MITOGEN_ERROR_PASSWORD for a
 *   wrong or missing password, %MITOGEN_ERROR_STREAM naming the step that
 *   failed, %MITOGEN_ERROR_TIMEOUT.
 * @needs_bootstrap: whether the target needs the agent shipped to it
 * @shares_files: whether the target sees this machine's files (sudo):
 *   then the bootstrap first runs this process's own agent program by its
 *   path when the target can, and ships it only when it cannot
 * @short_option: the option (property name) that the short form
 *   `METHOD:VALUE` of a target sets: `hostname` for ssh, `username` for
 *   sudo. %NULL: the first of `hostname`, `container`, `username` the
 *   class has, if any (what plugins that predate this field get). Read it
 *   with mitogen_transport_get_short_option().
 * @build_command: the declarative way, instead of @spawn_async: return
 *   the local command line that runs @argv on the target (for example
 *   `{ "nice", "-n", "5", argv... }`), or %NULL with @error set. The base
 *   class runs it with mitogen_transport_spawn_command() and @spawn_flags
 *   and completes at once (the core then watches the stream, its stderr
 *   and the connect timeout). Only such a transport can be started one
 *   hop down (`via`) by an intermediate that does not have it compiled
 *   in: the master computes the command there and hands it over as data
 *   (`docs/writing-a-transport.md` § via). Keep @argv's elements whole
 *   and in order in what you return: the intermediate substitutes its own.
 *   Called on any thread; must not block.
 * @spawn_flags: how the command of @build_command is spawned
 *
 * The class of transport plugins. See `docs/writing-a-transport.md`.
 */
struct _MitogenTransportClass
{
  GObjectClass parent_class;

  gboolean (*start)        (MitogenTransport     *self,
                            const char           *agent_path,
                            int                  *read_fd,
                            int                  *write_fd,
                            GPid                 *pid,
                            GError              **error);

  void     (*spawn_async)  (MitogenTransport     *self,
                            const char * const   *argv,
                            GCancellable         *cancellable,
                            GAsyncReadyCallback   callback,
                            gpointer              user_data);
  gboolean (*spawn_finish) (MitogenTransport     *self,
                            GAsyncResult         *result,
                            int                  *read_fd,
                            int                  *write_fd,
                            int                  *stderr_fd,
                            GPid                 *pid,
                            GError              **error);

  gboolean needs_bootstrap;
  gboolean shares_files;   /* fills what was padding: the layout is unchanged */

  const char *short_option;
  char    **(*build_command) (MitogenTransport     *self,
                              const char * const   *argv,
                              GError              **error);
  MitogenSpawnFlags spawn_flags;   /* a pointer's slot with its padding */

  /*< private >*/
  gpointer _reserved[10];
};

MITOGEN_AVAILABLE_IN_ALL
void              mitogen_transport_return_spawned     (GTask             *task,
                                                        int                read_fd,
                                                        int                write_fd,
                                                        int                stderr_fd,
                                                        GPid               pid);
MITOGEN_AVAILABLE_IN_ALL
gboolean          mitogen_transport_spawn_command      (MitogenTransport    *self,
                                                        const char * const  *argv,
                                                        const char * const  *envp,
                                                        MitogenSpawnFlags    flags,
                                                        int                 *read_fd,
                                                        int                 *write_fd,
                                                        int                 *stderr_fd,
                                                        GPid                *pid,
                                                        GError             **error);
MITOGEN_AVAILABLE_IN_ALL
MitogenTransport *mitogen_transport_new_for_method     (const char        *method,
                                                        GVariant          *options,
                                                        GError           **error);
MITOGEN_AVAILABLE_IN_ALL
gboolean          mitogen_transport_apply_options      (MitogenTransport  *self,
                                                        GVariant          *options,
                                                        GError           **error);
MITOGEN_AVAILABLE_IN_ALL
char            **mitogen_transport_list_methods       (void);
MITOGEN_AVAILABLE_IN_ALL
const char       *mitogen_transport_get_method         (MitogenTransport  *self);
MITOGEN_AVAILABLE_IN_ALL
const char       *mitogen_transport_get_short_option   (MitogenTransport  *self);
MITOGEN_AVAILABLE_IN_ALL
const char       *mitogen_transport_get_remote_name    (MitogenTransport  *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean          mitogen_transport_get_debug          (MitogenTransport  *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean          mitogen_transport_get_profiling      (MitogenTransport  *self);
MITOGEN_AVAILABLE_IN_ALL
double            mitogen_transport_get_connect_timeout (MitogenTransport *self);
MITOGEN_AVAILABLE_IN_ALL
guint64           mitogen_transport_get_max_message_size (MitogenTransport *self);
MITOGEN_AVAILABLE_IN_ALL
double            mitogen_transport_get_keepalive_interval (MitogenTransport *self);
MITOGEN_AVAILABLE_IN_ALL
int               mitogen_transport_get_keepalive_count (MitogenTransport *self);
MITOGEN_AVAILABLE_IN_ALL
char             *mitogen_transport_dup_argv0          (MitogenTransport  *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean          mitogen_transport_get_bootstrap      (MitogenTransport  *self);
MITOGEN_AVAILABLE_IN_ALL
gboolean          mitogen_transport_get_agent_cache    (MitogenTransport  *self);
MITOGEN_AVAILABLE_IN_ALL
const char       *mitogen_transport_get_bootstrap_shell (MitogenTransport *self);
MITOGEN_AVAILABLE_IN_ALL
const char       *mitogen_transport_get_bootstrap_format (MitogenTransport *self);
MITOGEN_AVAILABLE_IN_ALL
const char       *mitogen_transport_get_agent          (MitogenTransport  *self);

MITOGEN_AVAILABLE_IN_ALL
MitogenInteraction *mitogen_transport_get_interaction (MitogenTransport   *self);
MITOGEN_AVAILABLE_IN_ALL
void              mitogen_transport_ask_async          (MitogenTransport    *self,
                                                        gpointer             request,
                                                        GCancellable        *cancellable,
                                                        GAsyncReadyCallback  callback,
                                                        gpointer             user_data);
MITOGEN_AVAILABLE_IN_ALL
MitogenInteractionResult mitogen_transport_ask_finish         (MitogenTransport    *self,
                                                        GAsyncResult        *result,
                                                        GError             **error);

MITOGEN_AVAILABLE_IN_ALL
void              mitogen_transport_reap_later         (GPid                 pid,
                                                        GMainContext        *context);
MITOGEN_AVAILABLE_IN_ALL
void              mitogen_transport_wipe_secret        (char                *secret);

G_END_DECLS
