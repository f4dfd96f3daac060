/* mitogen-tool.h — what the files of the `mitogen` tool share
 *
 *   mitogen.c           main, usage, reporting, option parsing
 *   mitogen-json.c      JSON <-> GVariant
 *   mitogen-chain.c     CHAIN syntax, hop options, target lists, connecting
 *   mitogen-password.c  --ask-pass, --password-file, MITOGEN_PASSWORD_FILE
 *   mitogen-fanout.c    one command over many targets in parallel
 *   mitogen-call.c      `call`
 *   mitogen-run.c       `run`
 *   mitogen-cp.c        `cp` (and its progress bar, mitogen-progress.c)
 *   mitogen-list.c      `functions`, `methods`
 *   mitogen-fakessh.c   `fakessh`
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include <json-glib/json-glib.h>
#include <mitogen/mitogen.h>

G_BEGIN_DECLS

/* Exit statuses: keep in step with tool_exit_status_text and data/mitogen.1. */
enum
{
  TOOL_EXIT_OK = 0,
  TOOL_EXIT_CALL = 1,          /* the remote function (or a copy) failed */
  TOOL_EXIT_USAGE = 2,         /* bad command line, JSON-ARGS, CHAIN or paths */
  TOOL_EXIT_CONNECT = 3,       /* the context could not be started */
  TOOL_EXIT_CHANNEL = 4,       /* the context was lost */
  TOOL_EXIT_TIMEOUT = 124,     /* --timeout: the target took too long */
  TOOL_EXIT_CANNOT_RUN = 126,  /* run: the program could not be started */
  TOOL_EXIT_NOT_FOUND = 127,   /* run: no such program */
};

extern const char tool_exit_status_text[];
extern const char tool_chain_text[];
extern const char tool_target_text[];

/* -v/--debug was given (before the command or after it). */
extern gboolean tool_opt_debug;

/* Prints `mitogen: MESSAGE` as exactly one line on stderr and returns
 * @status. Newlines in the message become spaces. */
int          tool_fail          (int           status,
                                 const char   *format,
                                 ...) G_GNUC_PRINTF (2, 3);
int          tool_fail_error    (int           status,
                                 const GError *error);
/* The message with newlines made spaces and whitespace stripped. */
char        *tool_one_line      (const char   *message);
/* The exit status for a failure of the library (CALL -> 1, CHANNEL -> 4,
 * connect-time errors -> 3). */
int          tool_status_for_error (const GError *error);

GQuark       tool_error_quark   (void);
#define TOOL_ERROR (tool_error_quark ())

/* Output of several threads, whole lines at a time. */
void         tool_output_lock   (void);
void         tool_output_unlock (void);
/* Writes all of @data to @fd; FALSE on error (EPIPE...). */
gboolean     tool_write_all     (int           fd,
                                 const void   *data,
                                 gsize         len);

/* Options every command that connects takes (mitogen.c). */
typedef struct
{
  char     **targets;        /* -t CHAIN (repeatable; @FILE: one per line) */
  gboolean   json;           /* --json */
  gboolean   ask_pass;       /* --ask-pass */
  char      *password_file;  /* --password-file */
  int        parallel;       /* --parallel */
  double     timeout;        /* --timeout: seconds per target, 0: none */
} ToolCommon;

void            tool_common_clear        (ToolCommon          *common);
GOptionContext *tool_option_context_new  (const char          *command,
                                          const char          *parameters,
                                          const char          *summary,
                                          const GOptionEntry  *entries,
                                          ToolCommon          *common,
                                          gboolean             with_chain_help);
int             tool_parse_options       (GOptionContext      *context,
                                          char              ***args);
/* run and fakessh: -t given, then `[--] PROGRAM [ARG...]` left in @args;
 * *program points into @args. Returns an exit status. */
int             tool_program_args        (const char          *command,
                                          ToolCommon          *common,
                                          char               **args,
                                          char              ***program);

/* JSON (mitogen-json.c) */
const char  *tool_json_kind         (JsonNode      *node);
gboolean     tool_json_is_value_of  (JsonNode      *node,
                                     GType          type);
GVariant    *tool_build_arguments   (const char    *function,
                                     JsonNode      *root,
                                     GError       **error);
JsonNode    *tool_variant_to_json   (GVariant      *value);
JsonNode    *tool_bytes_to_json     (const guint8  *data,
                                     gsize          len);
void         tool_print_json        (JsonNode      *node);
char        *tool_json_line         (JsonNode      *node);

/* Targets (mitogen-chain.c) */
typedef struct
{
  char      *chain;    /* (owned) as written */
  char      *name;     /* (owned) shown in output: the chain, "#N" added to repeats */
  GPtrArray *hops;     /* (owned) Hop */
  GPtrArray *options;  /* (owned) GVariant a{sv} per hop, once resolved */
} ToolTarget;

void         tool_target_free       (gpointer       data);
/* Splits @chain into hops (syntax only; TOOL_EXIT_USAGE errors). */
ToolTarget  *tool_target_parse      (const char    *chain,
                                     GError       **error);
/* The -t values as targets: @FILE expanded (one chain per line, '#'
 * comments), names made unique. Syntax errors are usage errors. */
GPtrArray   *tool_targets_parse     (char         **chains,
                                     GError       **error);
/* Whether some hop's method takes a `password` option. */
gboolean     tool_target_takes_password (ToolTarget *target);
/* Each hop's a{sv}: checks methods and options (TOOL_EXIT_CONNECT
 * errors), adds debug and the password where the method takes one. */
gboolean     tool_target_resolve    (ToolTarget    *target,
                                     const char    *password,
                                     GError       **error);
/* Starts the target's hops one through the other; returns the last
 * context (the others are kept alive by it). */
MitogenContext *tool_target_connect (ToolTarget    *target,
                                     MitogenRouter *router,
                                     GCancellable  *cancellable,
                                     GError       **error);
/* Everything a command that connects does first: targets parsed, the
 * password read when one is given, options resolved. Returns an exit
 * status; on success *targets is set. */
int          tool_prepare_targets   (ToolCommon    *common,
                                     gboolean       allow_many,
                                     GPtrArray    **targets);

/* Passwords (mitogen-password.c) */
gboolean     tool_password_wanted   (ToolCommon    *common);
char        *tool_read_password     (ToolCommon    *common,
                                     GError       **error);

/* Fan-out (mitogen-fanout.c) */
typedef struct
{
  ToolTarget *target;   /* (unowned) */
  int         status;   /* exit status of this target */
  char       *error;    /* (owned) (nullable) one line */
  JsonNode   *json;     /* (owned) (nullable) extra members for --json (an object) */
  JsonNode   *result;   /* (owned) (nullable) call: the result */
  double      seconds;
  GCancellable *cancellable; /* (unowned) cancelled at the target's --timeout
                              * deadline: the job passes it on */
} ToolOutcome;

/* Runs in a worker thread once the target's context is up: fills
 * @outcome (status, and error or result). */
typedef void (*ToolJobFunc)       (ToolTarget     *target,
                                   MitogenContext *context,
                                   ToolOutcome    *outcome,
                                   gpointer        user_data);
/* Main thread: prints one outcome as it arrives. */
typedef void (*ToolOutcomeFunc)   (ToolOutcome    *outcome,
                                   gpointer        user_data);

/* Connects every target (at most @parallel at once) over one router and
 * runs @job in each; @report sees outcomes as they complete. With
 * @timeout > 0, a target not done @timeout seconds after its connect
 * began has its outcome's cancellable cancelled and ends with
 * TOOL_EXIT_TIMEOUT ("timed out after S s"). Returns the largest status
 * (0 if all succeeded), having printed a summary line on stderr when
 * there are several targets: how many failed, and of those how many
 * could not connect, were lost or timed out. */
int          tool_fanout            (GPtrArray      *targets,
                                     int             parallel,
                                     double          timeout,
                                     ToolJobFunc     job,
                                     ToolOutcomeFunc report,
                                     gpointer        user_data);
/* Signals (mitogen-fanout.c). From this call on, SIGINT, SIGTERM and
 * SIGHUP no longer kill the tool: each one received calls @func on a
 * thread of its own, with @count the number received so far (this one
 * included). Once one was received, tool_fanout () starts no more
 * targets: those not started yet end with 128+N, "interrupted". */
typedef void (*ToolSignalFunc)    (int             signum,
                                   int             count,
                                   gpointer        user_data);
void         tool_catch_signals     (ToolSignalFunc  func,
                                     gpointer        user_data);
/* The first of those signals received, or 0. Any thread. */
int          tool_get_interrupted   (void);
/* The one line for a command stopped by signal @signum ("interrupted",
 * "terminated", "hung up"). */
const char  *tool_signal_text       (int             signum);

/* The default report: text or --json, see mitogen-fanout.c. */
void         tool_report_outcome    (ToolOutcome    *outcome,
                                     gboolean        json,
                                     gboolean        many);

/* Progress bar on a terminal (mitogen-progress.c) */
typedef struct _ToolProgress ToolProgress;

/* A bar for @label on stderr, or %NULL when stderr is not a terminal
 * (or MITOGEN_PROGRESS=0). */
ToolProgress *tool_progress_new    (const char    *label);
void          tool_progress_update (ToolProgress  *self,
                                    guint64        done,
                                    guint64        total);
/* Draws the final state (the state reached, when @ok is FALSE) and a
 * newline, and frees the bar. */
void          tool_progress_finish (ToolProgress  *self,
                                    gboolean       ok);
/* Ends the line of a bar being drawn, if any, so that a message can
 * follow (a signal exiting at once). Any thread. */
void          tool_progress_break_line (void);
/* "512 B", "1.5 KiB", "108.0 MiB"... */
void          tool_format_size     (char          *buf,
                                    gsize          size,
                                    guint64        bytes);

/* Commands */
int          tool_cmd_call          (char **args);
int          tool_cmd_run           (char **args);
int          tool_cmd_cp            (char **args);
int          tool_cmd_fakessh       (char **args);
int          tool_cmd_functions     (char **args);
int          tool_cmd_methods       (char **args);

G_END_DECLS
