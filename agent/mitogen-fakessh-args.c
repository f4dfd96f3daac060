/* mitogen-fakessh-args.c — the command line of the fake ssh client
 *
 * A model of how OpenSSH 9.2's ssh(1) reads its argv (ssh.c main () and
 * readconf.c process_config_line ()), reduced to what decides a request
 * to an established context: which command to run, with which extra
 * environment, whether stdin is read. Everything else is accepted and
 * ignored, except what fakessh cannot honour, which is an error: a tool
 * that asked for a port forward or agent forwarding must not believe it
 * got one.
 *
 * OpenSSH's "first obtained value wins" rule is kept per setting, as are
 * the command-line flags that override it (-A, -X, -n, -s ...), so that
 * for instance `-x -oForwardX11=yes` is accepted (X11 stays off) while
 * `-oForwardX11=yes -X` is not. Configuration files are never read: the
 * context is already connected, so nothing in them could matter.
 *
 * Where this differs from ssh, on purpose: -l and user@host win over an
 * earlier -o User (ssh takes whichever came first; the user is only
 * informational here), and RemoteCommand's %-tokens are not expanded
 * (there is no local ssh configuration to take %h, %p, %r … from).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-fakessh"

#include <string.h>

#include "mitogen-fakessh-args.h"

/* readconf.c's WHITESPACE. */
#define WHITESPACE " \t\r\n"

/* ssh.c's getopt string, split by whether the option takes an argument. */
static const char options_without_argument[] = "1246AaCfGgKkMNnPqsTtVvXxYy";
static const char options_with_argument[] = "BbcDEeFIiJLlmOopQRSWw";

/* What `Subsystem sftp` is on the common systems, in the order a packager
 * would look; the first executable one runs. Relative paths given to sftp
 * are resolved against the working directory the program is started in. */
static const char sftp_script[] =
  "for p in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server"
  " /usr/lib/ssh/sftp-server /usr/libexec/sftp-server /usr/lib/sftp-server"
  " /usr/local/libexec/sftp-server; do"
  " if [ -f \"$p\" ] && [ -x \"$p\" ]; then exec \"$p\"; fi;"
  " done;"
  " echo 'fakessh: no sftp-server found in this context' >&2;"
  " exit 127";

typedef enum
{
  KEYWORD_UNKNOWN,
  KEYWORD_IGNORED,
  KEYWORD_NOT_ON_COMMAND_LINE,  /* Host, Match, Include */
  KEYWORD_USER,
  KEYWORD_SEND_ENV,
  KEYWORD_SET_ENV,
  KEYWORD_REMOTE_COMMAND,
  KEYWORD_FORWARD_AGENT,
  KEYWORD_FORWARD_X11,
  KEYWORD_FORWARDING,           /* LocalForward, RemoteForward, DynamicForward */
  KEYWORD_TUNNEL,
  KEYWORD_CLEAR_ALL_FORWARDINGS,
  KEYWORD_SESSION_TYPE,
  KEYWORD_STDIN_NULL,
  KEYWORD_FORK_AFTER_AUTHENTICATION,
  KEYWORD_IGNORE_UNKNOWN,
} Keyword;

typedef struct
{
  const char *name;  /* lower case, as OpenSSH compares them */
  Keyword     keyword;
} KeywordEntry;

/* Every keyword OpenSSH 9.2 (Debian 12's build) accepts with -o: those
 * ssh_config(5) documents, plus the aliases, deprecated and unsupported
 * names readconf.c still accepts (an old -o Protocol=2 in a script must
 * keep working) and Debian's compatibility aliases. Sorted, for bsearch (). */
static const KeywordEntry keywords[] = {
  { "addkeystoagent", KEYWORD_IGNORED },
  { "addressfamily", KEYWORD_IGNORED },
  { "afstokenpassing", KEYWORD_IGNORED },                   /* unsupported */
  { "batchmode", KEYWORD_IGNORED },
  { "bindaddress", KEYWORD_IGNORED },
  { "bindinterface", KEYWORD_IGNORED },
  { "canonicaldomains", KEYWORD_IGNORED },
  { "canonicalizefallbacklocal", KEYWORD_IGNORED },
  { "canonicalizehostname", KEYWORD_IGNORED },
  { "canonicalizemaxdots", KEYWORD_IGNORED },
  { "canonicalizepermittedcnames", KEYWORD_IGNORED },
  { "casignaturealgorithms", KEYWORD_IGNORED },
  { "certificatefile", KEYWORD_IGNORED },
  { "challengeresponseauthentication", KEYWORD_IGNORED },   /* alias */
  { "checkhostip", KEYWORD_IGNORED },
  { "cipher", KEYWORD_IGNORED },                            /* deprecated */
  { "ciphers", KEYWORD_IGNORED },
  { "clearallforwardings", KEYWORD_CLEAR_ALL_FORWARDINGS },
  { "compression", KEYWORD_IGNORED },
  { "compressionlevel", KEYWORD_IGNORED },                  /* unsupported */
  { "connectionattempts", KEYWORD_IGNORED },
  { "connecttimeout", KEYWORD_IGNORED },
  { "controlmaster", KEYWORD_IGNORED },
  { "controlpath", KEYWORD_IGNORED },
  { "controlpersist", KEYWORD_IGNORED },
  { "dsaauthentication", KEYWORD_IGNORED },                 /* alias */
  { "dynamicforward", KEYWORD_FORWARDING },
  { "enableescapecommandline", KEYWORD_IGNORED },
  { "enablesshkeysign", KEYWORD_IGNORED },
  { "escapechar", KEYWORD_IGNORED },
  { "exitonforwardfailure", KEYWORD_IGNORED },
  { "fallbacktorsh", KEYWORD_IGNORED },                     /* deprecated */
  { "fingerprinthash", KEYWORD_IGNORED },
  { "forkafterauthentication", KEYWORD_FORK_AFTER_AUTHENTICATION },
  { "forwardagent", KEYWORD_FORWARD_AGENT },
  { "forwardx11", KEYWORD_FORWARD_X11 },
  { "forwardx11timeout", KEYWORD_IGNORED },
  { "forwardx11trusted", KEYWORD_IGNORED },
  { "gatewayports", KEYWORD_IGNORED },
  { "globalknownhostsfile", KEYWORD_IGNORED },
  { "globalknownhostsfile2", KEYWORD_IGNORED },             /* deprecated */
  { "gssapiauthentication", KEYWORD_IGNORED },
  { "gssapiclientidentity", KEYWORD_IGNORED },
  { "gssapidelegatecredentials", KEYWORD_IGNORED },
  { "gssapikexalgorithms", KEYWORD_IGNORED },
  { "gssapikeyexchange", KEYWORD_IGNORED },
  { "gssapirenewalforcesrekey", KEYWORD_IGNORED },
  { "gssapiserveridentity", KEYWORD_IGNORED },
  { "gssapitrustdns", KEYWORD_IGNORED },
  { "hashknownhosts", KEYWORD_IGNORED },
  { "host", KEYWORD_NOT_ON_COMMAND_LINE },
  { "hostbasedacceptedalgorithms", KEYWORD_IGNORED },
  { "hostbasedauthentication", KEYWORD_IGNORED },
  { "hostbasedkeytypes", KEYWORD_IGNORED },                 /* alias */
  { "hostkeyalgorithms", KEYWORD_IGNORED },
  { "hostkeyalias", KEYWORD_IGNORED },
  { "hostname", KEYWORD_IGNORED },
  { "identitiesonly", KEYWORD_IGNORED },
  { "identityagent", KEYWORD_IGNORED },
  { "identityfile", KEYWORD_IGNORED },
  { "identityfile2", KEYWORD_IGNORED },                     /* alias */
  { "ignoreunknown", KEYWORD_IGNORE_UNKNOWN },
  { "include", KEYWORD_NOT_ON_COMMAND_LINE },
  { "ipqos", KEYWORD_IGNORED },
  { "kbdinteractiveauthentication", KEYWORD_IGNORED },
  { "kbdinteractivedevices", KEYWORD_IGNORED },
  { "keepalive", KEYWORD_IGNORED },                         /* alias */
  { "kerberosauthentication", KEYWORD_IGNORED },            /* unsupported */
  { "kerberostgtpassing", KEYWORD_IGNORED },                /* unsupported */
  { "kexalgorithms", KEYWORD_IGNORED },
  { "knownhostscommand", KEYWORD_IGNORED },
  { "localcommand", KEYWORD_IGNORED },
  { "localforward", KEYWORD_FORWARDING },
  { "loglevel", KEYWORD_IGNORED },
  { "logverbose", KEYWORD_IGNORED },
  { "macs", KEYWORD_IGNORED },
  { "match", KEYWORD_NOT_ON_COMMAND_LINE },
  { "nohostauthenticationforlocalhost", KEYWORD_IGNORED },
  { "numberofpasswordprompts", KEYWORD_IGNORED },
  { "passwordauthentication", KEYWORD_IGNORED },
  { "permitlocalcommand", KEYWORD_IGNORED },
  { "permitremoteopen", KEYWORD_IGNORED },
  { "pkcs11provider", KEYWORD_IGNORED },
  { "port", KEYWORD_IGNORED },
  { "preferredauthentications", KEYWORD_IGNORED },
  { "protocol", KEYWORD_IGNORED },                          /* deprecated */
  { "protocolkeepalives", KEYWORD_IGNORED },                /* Debian alias */
  { "proxycommand", KEYWORD_IGNORED },
  { "proxyjump", KEYWORD_IGNORED },
  { "proxyusefdpass", KEYWORD_IGNORED },
  { "pubkeyacceptedalgorithms", KEYWORD_IGNORED },
  { "pubkeyacceptedkeytypes", KEYWORD_IGNORED },            /* alias */
  { "pubkeyauthentication", KEYWORD_IGNORED },
  { "rekeylimit", KEYWORD_IGNORED },
  { "remotecommand", KEYWORD_REMOTE_COMMAND },
  { "remoteforward", KEYWORD_FORWARDING },
  { "requesttty", KEYWORD_IGNORED },
  { "requiredrsasize", KEYWORD_IGNORED },
  { "revokedhostkeys", KEYWORD_IGNORED },
  { "rhostsauthentication", KEYWORD_IGNORED },              /* deprecated */
  { "rhostsrsaauthentication", KEYWORD_IGNORED },           /* unsupported */
  { "rsaauthentication", KEYWORD_IGNORED },                 /* unsupported */
  { "securitykeyprovider", KEYWORD_IGNORED },
  { "sendenv", KEYWORD_SEND_ENV },
  { "serveralivecountmax", KEYWORD_IGNORED },
  { "serveraliveinterval", KEYWORD_IGNORED },
  { "sessiontype", KEYWORD_SESSION_TYPE },
  { "setenv", KEYWORD_SET_ENV },
  { "setuptimeout", KEYWORD_IGNORED },                      /* Debian alias */
  { "skeyauthentication", KEYWORD_IGNORED },                /* alias */
  { "smartcarddevice", KEYWORD_IGNORED },                   /* alias */
  { "stdinnull", KEYWORD_STDIN_NULL },
  { "streamlocalbindmask", KEYWORD_IGNORED },
  { "streamlocalbindunlink", KEYWORD_IGNORED },
  { "stricthostkeychecking", KEYWORD_IGNORED },
  { "syslogfacility", KEYWORD_IGNORED },
  { "tcpkeepalive", KEYWORD_IGNORED },
  { "tisauthentication", KEYWORD_IGNORED },                 /* alias */
  { "tunnel", KEYWORD_TUNNEL },
  { "tunneldevice", KEYWORD_IGNORED },
  { "updatehostkeys", KEYWORD_IGNORED },
  { "useblacklistedkeys", KEYWORD_IGNORED },                /* Debian, deprecated */
  { "useprivilegedport", KEYWORD_IGNORED },                 /* deprecated */
  { "user", KEYWORD_USER },
  { "userknownhostsfile", KEYWORD_IGNORED },
  { "userknownhostsfile2", KEYWORD_IGNORED },               /* deprecated */
  { "useroaming", KEYWORD_IGNORED },                        /* deprecated */
  { "usersh", KEYWORD_IGNORED },                            /* deprecated */
  { "verifyhostkeydns", KEYWORD_IGNORED },
  { "visualhostkey", KEYWORD_IGNORED },
  { "xauthlocation", KEYWORD_IGNORED },
};

typedef enum
{
  SESSION_UNSET = -1,
  SESSION_NONE,
  SESSION_SUBSYSTEM,
  SESSION_DEFAULT,
} SessionType;

/* A setting OpenSSH keeps as an int that starts at -1 ("not set yet"). */
#define UNSET (-1)

typedef struct
{
  const char *name;
  int         value;
} Choice;

/* readconf.c's multistate_flag, multistate_tunnel, multistate_sessiontype. */
static const Choice flag_choices[] = {
  { "true", 1 }, { "false", 0 }, { "yes", 1 }, { "no", 0 }, { NULL, 0 },
};
static const Choice tunnel_choices[] = {
  { "ethernet", 1 }, { "point-to-point", 1 }, { "true", 1 }, { "yes", 1 },
  { "false", 0 }, { "no", 0 }, { NULL, 0 },
};
static const Choice session_type_choices[] = {
  { "none", SESSION_NONE }, { "subsystem", SESSION_SUBSYSTEM },
  { "default", SESSION_DEFAULT }, { NULL, 0 },
};

/* Everything read so far. A setting with an *_origin remembers the option
 * that turned it on, so the error can name it. */
typedef struct
{
  gboolean     print_config;           /* -G */
  char        *host;                   /* (owned) (nullable) */
  char        *user;                   /* (owned) (nullable) -l, user@host: first wins */
  char        *config_user;            /* (owned) (nullable) -o User: first wins, used only without @user */
  GPtrArray   *send_env;               /* (owned) SendEnv patterns, removals applied */
  GPtrArray   *set_env;                /* (owned) NAME=VALUE from the first SetEnv */
  char        *remote_command;         /* (owned) (nullable) the first RemoteCommand, even "none" */
  char        *ignore_unknown;         /* (owned) (nullable) the first IgnoreUnknown */
  int          forward_agent;
  char        *forward_agent_origin;   /* (owned) (nullable) */
  int          forward_x11;
  char        *forward_x11_origin;     /* (owned) (nullable) */
  int          tunnel;
  char        *tunnel_origin;          /* (owned) (nullable) */
  char        *forwarding_origin;      /* (owned) (nullable) the first -L, -R, -D, *Forward */
  int          clear_forwardings;
  SessionType  session_type;
  int          stdin_null;
  int          fork_after_authentication;
} Parser;

static void
parser_init (Parser *p)
{
  memset (p, 0, sizeof *p);
  p->send_env = g_ptr_array_new_with_free_func (g_free);
  p->set_env = g_ptr_array_new_with_free_func (g_free);
  p->forward_agent = UNSET;
  p->forward_x11 = UNSET;
  p->tunnel = UNSET;
  p->clear_forwardings = UNSET;
  p->session_type = SESSION_UNSET;
  p->stdin_null = UNSET;
  p->fork_after_authentication = UNSET;
}

static void
parser_clear (Parser *p)
{
  g_clear_pointer (&p->host, g_free);
  g_clear_pointer (&p->user, g_free);
  g_clear_pointer (&p->config_user, g_free);
  g_clear_pointer (&p->send_env, g_ptr_array_unref);
  g_clear_pointer (&p->set_env, g_ptr_array_unref);
  g_clear_pointer (&p->remote_command, g_free);
  g_clear_pointer (&p->ignore_unknown, g_free);
  g_clear_pointer (&p->forward_agent_origin, g_free);
  g_clear_pointer (&p->forward_x11_origin, g_free);
  g_clear_pointer (&p->tunnel_origin, g_free);
  g_clear_pointer (&p->forwarding_origin, g_free);
}

/* Sets @error. Option words come from the command line, so control
 * characters are escaped: the message must stay one line. */
G_GNUC_PRINTF (3, 4)
static gboolean
fail (GError     **error,
      GOptionError code,
      const char  *format,
      ...)
{
  g_autofree char *raw = NULL;
  g_autoptr(GString) message = g_string_new (NULL);
  va_list args;

  va_start (args, format);
  raw = g_strdup_vprintf (format, args);
  va_end (args);

  for (const char *c = raw; *c != '\0'; c++)
    {
      if ((guchar) *c < 0x20 || *c == 0x7f)
        g_string_append_printf (message, "\\x%02x", (guchar) *c);
      else
        g_string_append_c (message, *c);
    }

  g_set_error_literal (error, G_OPTION_ERROR, code, message->str);
  return FALSE;
}

static void
replace_string (char       **slot,
                const char  *value)
{
  g_free (*slot);
  *slot = g_strdup (value);
}

/* OpenSSH's match_pattern (): '*' is any run of characters, '?' any one,
 * nothing else is special. Iterative, remembering only the last '*', so
 * that a pattern full of stars cannot take exponential time. */
static gboolean
match_pattern (const char *s,
               const char *pattern,
               gboolean    ignore_case)
{
  const char *star = NULL;
  const char *star_s = NULL;

  while (*s != '\0')
    {
      if (*pattern == '*')
        {
          star = ++pattern;
          star_s = s;
        }
      else if (*pattern != '\0' &&
               (*pattern == '?' || *pattern == *s ||
                (ignore_case && g_ascii_tolower (*pattern) == g_ascii_tolower (*s))))
        {
          pattern++;
          s++;
        }
      else if (star != NULL)
        {
          pattern = star;
          s = ++star_s;
        }
      else
        return FALSE;
    }

  while (*pattern == '*')
    pattern++;

  return *pattern == '\0';
}

/* OpenSSH's match_pattern_list (…, dolower = 1): a comma-separated list;
 * a '!' entry that matches vetoes, otherwise any plain match is enough. */
static gboolean
match_pattern_list (const char *s,
                    const char *list)
{
  g_auto(GStrv) patterns = g_strsplit (list, ",", -1);
  gboolean matched = FALSE;

  for (gsize i = 0; patterns[i] != NULL; i++)
    {
      const char *pattern = patterns[i];
      gboolean negated = pattern[0] == '!';

      if (negated)
        pattern++;
      if (match_pattern (s, pattern, TRUE))
        {
          if (negated)
            return FALSE;
          matched = TRUE;
        }
    }

  return matched;
}

static int
compare_keyword (const void *key,
                 const void *entry)
{
  return strcmp (key, ((const KeywordEntry *) entry)->name);
}

static Keyword
lookup_keyword (const char *lower)
{
  const KeywordEntry *entry = bsearch (lower, keywords, G_N_ELEMENTS (keywords),
                                       sizeof keywords[0], compare_keyword);

  return entry != NULL ? entry->keyword : KEYWORD_UNKNOWN;
}

/* Returns the choice's value, or -1 if @word is none of them. */
static int
lookup_choice (const Choice *choices,
               const char   *word)
{
  for (gsize i = 0; choices[i].name != NULL; i++)
    if (g_ascii_strcasecmp (word, choices[i].name) == 0)
      return choices[i].value;

  return -1;
}

/* misc.c's strdelim (): the next token of a configuration line, which
 * ends at whitespace or at one '=' (with blanks around it), or is quoted.
 * Edits the line in place. NULL when nothing is left or a quote is open. */
static char *
strdelim (char **s)
{
  gboolean equals = FALSE;
  char *old;

  if (*s == NULL)
    return NULL;

  old = *s;
  *s = strpbrk (*s, WHITESPACE "\"=");
  if (*s == NULL)
    return old;

  if (**s == '"')
    {
      memmove (*s, *s + 1, strlen (*s));
      *s = strchr (*s, '"');
      if (*s == NULL)
        return NULL;
      **s = '\0';
      *s += strspn (*s + 1, WHITESPACE) + 1;
      return old;
    }

  if (**s == '=')
    equals = TRUE;
  **s = '\0';
  *s += strspn (*s + 1, WHITESPACE) + 1;
  if (**s == '=' && !equals)
    *s += strspn (*s + 1, WHITESPACE) + 1;

  return old;
}

/* misc.c's argv_split (…, terminate_on_comment = 1): words separated by
 * blanks, with "…" and '…' quoting, \" \' \\ and (unquoted) "\ " escapes,
 * and a '#' that starts a word ending the line. FALSE if a quote is left
 * open. */
static gboolean
split_words (const char   *s,
             char       ***words_out)
{
  g_autoptr(GPtrArray) words = g_ptr_array_new_with_free_func (g_free);
  gsize i = 0;

  while (s[i] != '\0')
    {
      g_autoptr(GString) word = NULL;
      char quote = 0;

      if (s[i] == ' ' || s[i] == '\t')
        {
          i++;
          continue;
        }
      if (s[i] == '#')
        break;

      word = g_string_new (NULL);
      for (; s[i] != '\0'; i++)
        {
          if (s[i] == '\\' &&
              (s[i + 1] == '\'' || s[i + 1] == '"' || s[i + 1] == '\\' ||
               (quote == 0 && s[i + 1] == ' ')))
            g_string_append_c (word, s[++i]);
          else if (quote == 0 && (s[i] == ' ' || s[i] == '\t'))
            break;
          else if (quote == 0 && (s[i] == '"' || s[i] == '\''))
            quote = s[i];
          else if (quote != 0 && s[i] == quote)
            quote = 0;
          else
            g_string_append_c (word, s[i]);
        }
      if (quote != 0)
        return FALSE;

      g_ptr_array_add (words, g_string_free (g_steal_pointer (&word), FALSE));
    }

  g_ptr_array_add (words, NULL);
  *words_out = (char **) g_ptr_array_free (g_steal_pointer (&words), FALSE);
  return TRUE;
}

/* The one argument of a single-valued keyword. */
static gboolean
single_word (char        **words,
             const char   *origin,
             const char  **word,
             GError      **error)
{
  if (words[0] == NULL || words[0][0] == '\0')
    return fail (error, G_OPTION_ERROR_BAD_VALUE, "%s: missing argument", origin);
  if (words[1] != NULL)
    return fail (error, G_OPTION_ERROR_BAD_VALUE, "%s: extra arguments at end of line", origin);

  *word = words[0];
  return TRUE;
}

/* A keyword taking one of @choices, stored into @slot unless set before. */
static gboolean
set_choice (char         **words,
            const Choice  *choices,
            const char    *origin,
            int           *slot,
            GError       **error)
{
  const char *word;
  int value;

  if (!single_word (words, origin, &word, error))
    return FALSE;

  value = lookup_choice (choices, word);
  if (value == -1)
    return fail (error, G_OPTION_ERROR_BAD_VALUE, "%s: unsupported value '%s'", origin, word);

  if (*slot == UNSET)
    *slot = value;
  return TRUE;
}

/* Whether @name=… is already in @list. */
static gboolean
has_env_name (GPtrArray  *list,
              const char *name,
              gsize       name_len)
{
  for (guint i = 0; i < list->len; i++)
    {
      const char *entry = g_ptr_array_index (list, i);

      if (strncmp (entry, name, name_len) == 0 && entry[name_len] == '=')
        return TRUE;
    }

  return FALSE;
}

static gboolean
handle_send_env (Parser      *p,
                 char       **words,
                 const char  *origin,
                 GError     **error)
{
  for (gsize i = 0; words[i] != NULL; i++)
    {
      const char *word = words[i];

      if (word[0] == '\0' || strchr (word, '=') != NULL)
        return fail (error, G_OPTION_ERROR_BAD_VALUE,
                     "%s: invalid environment name '%s'", origin, word);

      if (word[0] == '-')
        {
          /* Like readconf.c's rm_env (): removes the earlier *patterns*
           * the rest matches, so -LC_* undoes LC_*, but -LC_ALL does not
           * carve LC_ALL out of LC_*. */
          for (guint j = 0; j < p->send_env->len; )
            {
              if (match_pattern (g_ptr_array_index (p->send_env, j), word + 1, FALSE))
                g_ptr_array_remove_index (p->send_env, j);
              else
                j++;
            }
        }
      else
        g_ptr_array_add (p->send_env, g_strdup (word));
    }

  return TRUE;
}

static gboolean
handle_set_env (Parser      *p,
                char       **words,
                const char  *origin,
                GError     **error)
{
  /* OpenSSH takes only the first SetEnv directive that set anything, and
   * within it the first value of each name. */
  gboolean first = p->set_env->len == 0;

  for (gsize i = 0; words[i] != NULL; i++)
    {
      const char *word = words[i];
      const char *equals = strchr (word, '=');

      if (equals == NULL || equals == word)
        return fail (error, G_OPTION_ERROR_BAD_VALUE,
                     "%s: '%s' is not NAME=VALUE", origin, word);

      if (first && !has_env_name (p->set_env, word, equals - word))
        g_ptr_array_add (p->set_env, g_strdup (word));
    }

  return TRUE;
}

/* One -o argument, as readconf.c's process_config_line () reads a line. */
static gboolean
handle_config_option (Parser      *p,
                      const char  *optarg,
                      GError     **error)
{
  g_autofree char *line = g_strdup (optarg);
  g_autofree char *origin = g_strdup_printf ("-o %s", optarg);
  g_autofree char *lower = NULL;
  g_auto(GStrv) words = NULL;
  char *str = line;
  char *keyword;
  const char *word;
  Keyword kind;
  gsize len;

  /* Trailing blanks are not part of the value; an empty line or a comment
   * is accepted and means nothing, as in a file. */
  len = strlen (line);
  while (len > 1 && strchr (WHITESPACE "\f", line[len - 1]) != NULL)
    line[--len] = '\0';

  keyword = strdelim (&str);
  if (keyword != NULL && *keyword == '\0')
    keyword = strdelim (&str);
  if (keyword == NULL || *keyword == '\0' || *keyword == '\n' || *keyword == '#')
    return TRUE;

  lower = g_ascii_strdown (keyword, -1);
  if (str != NULL)
    str += strspn (str, WHITESPACE);
  if (str == NULL || *str == '\0')
    return fail (error, G_OPTION_ERROR_BAD_VALUE,
                 "%s: no argument after keyword '%s'", origin, keyword);

  kind = lookup_keyword (lower);
  if (kind == KEYWORD_UNKNOWN)
    {
      if (p->ignore_unknown == NULL || !match_pattern_list (lower, p->ignore_unknown))
        return fail (error, G_OPTION_ERROR_UNKNOWN_OPTION,
                     "unsupported option -o %s: not an ssh_config keyword", keyword);
      kind = KEYWORD_IGNORED;
    }

  if (!split_words (str, &words))
    return fail (error, G_OPTION_ERROR_BAD_VALUE, "%s: unbalanced quotes", origin);

  switch (kind)
    {
    case KEYWORD_UNKNOWN:
      g_assert_not_reached ();

    case KEYWORD_IGNORED:
      return TRUE;

    case KEYWORD_NOT_ON_COMMAND_LINE:
      return fail (error, G_OPTION_ERROR_BAD_VALUE,
                   "%s: %s is not supported as a command-line option", origin, keyword);

    case KEYWORD_USER:
      if (!single_word (words, origin, &word, error))
        return FALSE;
      if (p->config_user == NULL)
        p->config_user = g_strdup (word);
      return TRUE;

    case KEYWORD_SEND_ENV:
      return handle_send_env (p, words, origin, error);

    case KEYWORD_SET_ENV:
      return handle_set_env (p, words, origin, error);

    case KEYWORD_REMOTE_COMMAND:
      /* Like ProxyCommand, the rest of the line as it is: the quotes are
       * for the shell that runs it. */
      if (p->remote_command == NULL)
        p->remote_command = g_strdup (str + strspn (str, WHITESPACE "="));
      return TRUE;

    case KEYWORD_FORWARD_AGENT:
      if (!single_word (words, origin, &word, error))
        return FALSE;
      if (p->forward_agent == UNSET)
        {
          int value = lookup_choice (flag_choices, word);

          /* Anything but yes/no is the path of an agent socket to forward. */
          p->forward_agent = value == -1 ? 1 : value;
          replace_string (&p->forward_agent_origin, origin);
        }
      return TRUE;

    case KEYWORD_FORWARD_X11:
      if (p->forward_x11 == UNSET)
        replace_string (&p->forward_x11_origin, origin);
      return set_choice (words, flag_choices, origin, &p->forward_x11, error);

    case KEYWORD_FORWARDING:
      if (words[0] == NULL || words[0][0] == '\0')
        return fail (error, G_OPTION_ERROR_BAD_VALUE, "%s: missing argument", origin);
      if (p->forwarding_origin == NULL)
        p->forwarding_origin = g_strdup (origin);
      return TRUE;

    case KEYWORD_TUNNEL:
      if (p->tunnel == UNSET)
        replace_string (&p->tunnel_origin, origin);
      return set_choice (words, tunnel_choices, origin, &p->tunnel, error);

    case KEYWORD_CLEAR_ALL_FORWARDINGS:
      return set_choice (words, flag_choices, origin, &p->clear_forwardings, error);

    case KEYWORD_SESSION_TYPE:
      {
        int session_type = p->session_type;

        if (!set_choice (words, session_type_choices, origin, &session_type, error))
          return FALSE;
        /* Once none, nothing later can change it (-s would conflict). */
        if (p->session_type == SESSION_UNSET && session_type == SESSION_NONE)
          return fail (error, G_OPTION_ERROR_BAD_VALUE,
                       "%s: fakessh runs commands; a session without one is not supported",
                       origin);
        p->session_type = session_type;
        return TRUE;
      }

    case KEYWORD_STDIN_NULL:
      return set_choice (words, flag_choices, origin, &p->stdin_null, error);

    case KEYWORD_FORK_AFTER_AUTHENTICATION:
      {
        gboolean was_unset = p->fork_after_authentication == UNSET;

        if (!set_choice (words, flag_choices, origin, &p->fork_after_authentication, error))
          return FALSE;
        if (was_unset && p->fork_after_authentication == 1)
          return fail (error, G_OPTION_ERROR_BAD_VALUE,
                       "%s: fakessh does not support going to the background", origin);
        return TRUE;
      }

    case KEYWORD_IGNORE_UNKNOWN:
      if (!single_word (words, origin, &word, error))
        return FALSE;
      if (p->ignore_unknown == NULL)
        p->ignore_unknown = g_strdup (word);
      return TRUE;
    }

  g_assert_not_reached ();
}

/* One option letter, with its argument if it takes one. */
static gboolean
handle_option (Parser      *p,
               char         option,
               const char  *optarg,
               GError     **error)
{
  switch (option)
    {
    /* Address family, compression, gateway ports, GSSAPI, multiplexing,
     * verbosity, tty, syslog: the context is already connected, and a
     * program run in it has no terminal to share (-t is ignored like
     * ssh does when stdin is not a terminal). -2 and -P are no-ops in
     * OpenSSH too. */
    case '2': case '4': case '6': case 'C': case 'g': case 'K': case 'k':
    case 'M': case 'P': case 'q': case 'T': case 't': case 'v': case 'y':
    /* Bind address/interface, ciphers, log file, escape char, config file,
     * PKCS#11, identity, jump host, MACs, port, control socket. */
    case 'B': case 'b': case 'c': case 'E': case 'e': case 'F': case 'I':
    case 'i': case 'J': case 'm': case 'p': case 'S':
      return TRUE;

    case '1':
      return fail (error, G_OPTION_ERROR_BAD_VALUE, "-1: SSH protocol v.1 is no longer supported");

    case 'a':
      p->forward_agent = 0;
      return TRUE;

    case 'A':
      p->forward_agent = 1;
      replace_string (&p->forward_agent_origin, "-A");
      return TRUE;

    case 'x':
      p->forward_x11 = 0;
      return TRUE;

    case 'X':
    case 'Y':
      p->forward_x11 = 1;
      replace_string (&p->forward_x11_origin, option == 'X' ? "-X" : "-Y");
      return TRUE;

    case 'D':
    case 'L':
    case 'R':
      /* Not at once: a later -oClearAllForwardings=yes cancels it. */
      if (p->forwarding_origin == NULL)
        p->forwarding_origin = g_strdup_printf ("-%c", option);
      return TRUE;

    case 'w':
      if (p->tunnel == UNSET)
        {
          p->tunnel = 1;
          replace_string (&p->tunnel_origin, "-w");
        }
      return TRUE;

    case 'W':
      return fail (error, G_OPTION_ERROR_BAD_VALUE,
                   "-W: fakessh does not support forwarding stdio to a port");

    case 'f':
      return fail (error, G_OPTION_ERROR_BAD_VALUE,
                   "-f: fakessh does not support going to the background");

    case 'N':
      return fail (error, G_OPTION_ERROR_BAD_VALUE,
                   "-N: fakessh runs commands; a session without one is not supported");

    case 'O':
      return fail (error, G_OPTION_ERROR_BAD_VALUE,
                   "-O %s: fakessh does not support multiplexing control commands", optarg);

    case 'Q':
      return fail (error, G_OPTION_ERROR_BAD_VALUE,
                   "-Q %s: fakessh does not support queries", optarg);

    case 'n':
      p->stdin_null = 1;
      return TRUE;

    case 's':
      if (p->session_type != SESSION_UNSET && p->session_type != SESSION_SUBSYSTEM)
        return fail (error, G_OPTION_ERROR_BAD_VALUE, "-s: cannot be combined with SessionType");
      p->session_type = SESSION_SUBSYSTEM;
      return TRUE;

    case 'G':
      p->print_config = TRUE;
      return TRUE;

    case 'l':
      if (p->user == NULL)
        p->user = g_strdup (optarg);
      return TRUE;

    case 'o':
      return handle_config_option (p, optarg, error);

    default:
      g_assert_not_reached ();
    }
}

/* Reads options from argv[*index] like the BSD getopt () OpenSSH uses: it
 * stops at the first word that is not an option (leaving *index on it),
 * or after "--". Stops early, with *version set, at -V: ssh prints its
 * version the moment it sees it. */
static gboolean
parse_options (Parser              *p,
               int                  argc,
               const char * const  *argv,
               int                 *index,
               gboolean            *terminated,
               gboolean            *version,
               GError             **error)
{
  while (*index < argc)
    {
      const char *word = argv[*index];

      if (word[0] != '-' || word[1] == '\0')
        return TRUE;

      (*index)++;
      if (strcmp (word, "--") == 0)
        {
          *terminated = TRUE;
          return TRUE;
        }

      for (const char *c = word + 1; *c != '\0'; c++)
        {
          if (strchr (options_with_argument, *c) != NULL)
            {
              const char *optarg;

              if (c[1] != '\0')
                optarg = c + 1;
              else if (*index < argc)
                optarg = argv[(*index)++];
              else
                return fail (error, G_OPTION_ERROR_BAD_VALUE,
                             "option -%c requires an argument", *c);

              if (!handle_option (p, *c, optarg, error))
                return FALSE;
              break;
            }
          else if (strchr (options_without_argument, *c) != NULL)
            {
              if (*c == 'V')
                {
                  *version = TRUE;
                  return TRUE;
                }
              if (!handle_option (p, *c, NULL, error))
                return FALSE;
            }
          else if (g_ascii_isprint (*c))
            return fail (error, G_OPTION_ERROR_UNKNOWN_OPTION, "unknown option -%c", *c);
          else
            return fail (error, G_OPTION_ERROR_UNKNOWN_OPTION, "unknown option -\\x%02x", (guchar) *c);
        }
    }

  return TRUE;
}

/* misc.c's urldecode (): '+' is a space, %XX a byte. NULL if malformed. */
static char *
url_decode (const char *s,
            gsize       len)
{
  g_autoptr(GString) out = g_string_sized_new (len);

  for (gsize i = 0; i < len; i++)
    {
      if (s[i] == '+')
        g_string_append_c (out, ' ');
      else if (s[i] == '%')
        {
          int high, low;

          if (i + 2 >= len)
            return NULL;
          high = g_ascii_xdigit_value (s[i + 1]);
          low = g_ascii_xdigit_value (s[i + 2]);
          if (high < 0 || low < 0)
            return NULL;
          g_string_append_c (out, (char) (high << 4 | low));
          i += 2;
        }
      else
        g_string_append_c (out, s[i]);
    }

  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* ssh://[user[;params]@]host[:port][/], as misc.c's parse_ssh_uri ()
 * takes it; a path is refused. */
static gboolean
parse_ssh_uri (Parser      *p,
               const char  *uri,
               GError     **error)
{
  const char *rest = uri + strlen ("ssh://");
  const char *at = strchr (rest, '@');
  const char *host_end;
  const char *after;
  g_autofree char *user = NULL;

  if (at != NULL)
    {
      const char *user_end = memchr (rest, ';', at - rest);

      if (user_end == NULL)
        user_end = at;
      if (user_end == rest || (user = url_decode (rest, user_end - rest)) == NULL)
        goto invalid;
      rest = at + 1;
    }

  if (rest[0] == '[')
    {
      host_end = strchr (rest, ']');
      if (host_end == NULL)
        goto invalid;
      after = host_end + 1;
      rest++;
      if (*after != '\0' && *after != ':' && *after != '/')
        goto invalid;
    }
  else
    {
      host_end = rest + strcspn (rest, ":/");
      after = host_end;
    }
  if (host_end == rest)
    goto invalid;

  if (*after == ':')
    {
      gsize port_len = strcspn (after + 1, "/");
      guint64 port;

      if (port_len == 0)
        goto invalid;
      /* a2port () also takes a service name; the port is informational. */
      if (g_ascii_isdigit (after[1]))
        {
          g_autofree char *text = g_strndup (after + 1, port_len);

          if (!g_ascii_string_to_unsigned (text, 10, 1, 65535, &port, NULL))
            goto invalid;
        }
      after += 1 + port_len;
    }
  if (*after == '/')
    after++;
  if (*after != '\0')
    return fail (error, G_OPTION_ERROR_BAD_VALUE, "invalid host '%s': a path is not allowed", uri);

  p->host = g_strndup (rest, host_end - rest);
  if (p->user == NULL)
    p->user = g_steal_pointer (&user);
  return TRUE;

invalid:
  return fail (error, G_OPTION_ERROR_BAD_VALUE, "invalid host '%s'", uri);
}

/* The host word: [user@]host, split at the last '@', or an ssh:// URI. */
static gboolean
parse_host (Parser      *p,
            const char  *word,
            GError     **error)
{
  const char *at;

  if (g_str_has_prefix (word, "ssh://"))
    return parse_ssh_uri (p, word, error);

  at = strrchr (word, '@');
  if (at == word || (at != NULL && at[1] == '\0') || word[0] == '\0')
    return fail (error, G_OPTION_ERROR_BAD_VALUE, "invalid host '%s'", word);

  if (at == NULL)
    p->host = g_strdup (word);
  else
    {
      p->host = g_strdup (at + 1);
      if (p->user == NULL)
        p->user = g_strndup (word, at - word);
    }

  return TRUE;
}

/* Adds or replaces @entry (NAME=VALUE) in @env, which holds each name once. */
static void
env_set (GPtrArray  *env,
         const char *entry)
{
  gsize name_len = strchr (entry, '=') - entry;

  for (guint i = 0; i < env->len; i++)
    {
      char **slot = (char **) &g_ptr_array_index (env, i);

      if (strncmp (*slot, entry, name_len) == 0 && (*slot)[name_len] == '=')
        {
          replace_string (slot, entry);
          return;
        }
    }

  g_ptr_array_add (env, g_strdup (entry));
}

/* The variables of @envp SendEnv matches, in @envp's order, then SetEnv's.
 * ssh sends them in that order and sshd applies them in turn, so a name in
 * both ends with SetEnv's value. */
static char **
build_setenv (Parser             *p,
              const char * const *envp)
{
  g_autoptr(GPtrArray) env = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) own_envp = NULL;

  if (p->send_env->len > 0)
    {
      if (envp == NULL)
        {
          own_envp = g_get_environ ();
          envp = (const char * const *) own_envp;
        }

      for (gsize i = 0; envp[i] != NULL; i++)
        {
          const char *equals = strchr (envp[i], '=');
          g_autofree char *name = NULL;

          if (equals == NULL || equals == envp[i])
            continue;

          name = g_strndup (envp[i], equals - envp[i]);
          for (guint j = 0; j < p->send_env->len; j++)
            {
              if (match_pattern (name, g_ptr_array_index (p->send_env, j), FALSE))
                {
                  env_set (env, envp[i]);
                  break;
                }
            }
        }
    }

  for (guint i = 0; i < p->set_env->len; i++)
    env_set (env, g_ptr_array_index (p->set_env, i));

  g_ptr_array_add (env, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&env), FALSE);
}

/* What OpenSSH refuses or we cannot honour only once every option is read,
 * because a later one may still cancel it. */
static gboolean
check_unsupported (Parser  *p,
                   GError **error)
{
  /* ClearAllForwardings=yes drops -L/-R/-D and tunnels, whatever their order. */
  if (p->clear_forwardings != 1)
    {
      if (p->forwarding_origin != NULL)
        return fail (error, G_OPTION_ERROR_BAD_VALUE,
                     "%s: fakessh does not support port forwarding", p->forwarding_origin);
      if (p->tunnel == 1)
        return fail (error, G_OPTION_ERROR_BAD_VALUE,
                     "%s: fakessh does not support tunnel device forwarding", p->tunnel_origin);
    }

  if (p->forward_agent == 1)
    return fail (error, G_OPTION_ERROR_BAD_VALUE,
                 "%s: fakessh does not support agent forwarding", p->forward_agent_origin);

  if (p->forward_x11 == 1)
    return fail (error, G_OPTION_ERROR_BAD_VALUE,
                 "%s: fakessh does not support X11 forwarding", p->forward_x11_origin);

  return TRUE;
}

/* Everything after the host is read: checks the whole and fills @args. */
static gboolean
finish (Parser              *p,
        const char * const  *words,
        int                  n_words,
        const char * const  *envp,
        MitogenFakesshArgs  *args,
        GError             **error)
{
  g_autoptr(GString) command = g_string_new (NULL);
  const char *run;

  if (p->host == NULL)
    return fail (error, G_OPTION_ERROR_BAD_VALUE, "no host given");

  /* ssh joins the words with single spaces and hands the string to the
   * remote user's shell, so the quoting the tool did is for that shell. */
  for (int i = 0; i < n_words; i++)
    {
      if (i > 0)
        g_string_append_c (command, ' ');
      g_string_append (command, words[i]);
    }

  if (p->session_type == SESSION_SUBSYSTEM && n_words == 0)
    return fail (error, G_OPTION_ERROR_BAD_VALUE, "-s: no subsystem name given");

  if (p->remote_command != NULL && g_ascii_strcasecmp (p->remote_command, "none") == 0)
    g_clear_pointer (&p->remote_command, g_free);

  if (command->len > 0 && p->remote_command != NULL)
    return fail (error, G_OPTION_ERROR_BAD_VALUE,
                 "-o RemoteCommand: cannot run both a command line and RemoteCommand");

  if (!check_unsupported (p, error))
    return FALSE;

  /* The command is only checked when it is to run: `ssh -G host` is how
   * git asks whether this is OpenSSH, and has none. */
  if (p->print_config)
    run = NULL;
  else if (command->len > 0)
    run = command->str;
  else if (p->remote_command != NULL && p->remote_command[0] != '\0')
    run = p->remote_command;
  else
    return fail (error, G_OPTION_ERROR_BAD_VALUE,
                 "no command given: fakessh runs commands, not interactive sessions");

  if (run != NULL && p->session_type == SESSION_SUBSYSTEM && strcmp (run, "sftp") != 0)
    return fail (error, G_OPTION_ERROR_BAD_VALUE,
                 "subsystem '%s' is not supported (only sftp)", run);

  args->action = p->print_config ? MITOGEN_FAKESSH_ACTION_PRINT_CONFIG : MITOGEN_FAKESSH_ACTION_RUN;
  args->host = g_steal_pointer (&p->host);
  args->user = p->user != NULL ? g_steal_pointer (&p->user) : g_steal_pointer (&p->config_user);
  args->setenv = build_setenv (p, envp);
  args->stdin_null = p->stdin_null == 1;
  args->subsystem = p->session_type == SESSION_SUBSYSTEM;

  if (run != NULL)
    {
      const char *script = args->subsystem ? sftp_script : run;

      args->argv = g_new0 (char *, 4);
      args->argv[0] = g_strdup ("/bin/sh");
      args->argv[1] = g_strdup ("-c");
      args->argv[2] = g_strdup (script);
    }

  return TRUE;
}

gboolean
mitogen_fakessh_args_parse (MitogenFakesshArgs  *args,
                            int                  argc,
                            const char * const  *argv,
                            const char * const  *envp,
                            GError             **error)
{
  Parser p;
  gboolean terminated = FALSE;
  gboolean version = FALSE;
  gboolean ok = FALSE;
  int index = 1;
  int n = 0;

  g_return_val_if_fail (args != NULL, FALSE);
  g_return_val_if_fail (argc >= 0, FALSE);
  g_return_val_if_fail (argc == 0 || argv != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  memset (args, 0, sizeof *args);

  /* argc is trusted only as far as argv really goes. */
  while (n < argc && argv[n] != NULL)
    n++;
  argc = n;

  parser_init (&p);

  if (!parse_options (&p, argc, argv, &index, &terminated, &version, error))
    goto out;

  /* Like ssh: the first word that is not an option is the host; unless
   * "--" came first, options may follow it, and the next word that is
   * not an option starts the command. */
  if (!version && index < argc)
    {
      if (!parse_host (&p, argv[index++], error))
        goto out;
      if (!terminated && index < argc &&
          !parse_options (&p, argc, argv, &index, &terminated, &version, error))
        goto out;
    }

  if (version)
    {
      args->action = MITOGEN_FAKESSH_ACTION_PRINT_VERSION;
      args->setenv = g_new0 (char *, 1);
      ok = TRUE;
      goto out;
    }

  ok = finish (&p, argv + index, argc - index, envp, args, error);

out:
  parser_clear (&p);
  if (!ok)
    mitogen_fakessh_args_clear (args);
  return ok;
}

void
mitogen_fakessh_args_clear (MitogenFakesshArgs *args)
{
  g_return_if_fail (args != NULL);

  g_clear_pointer (&args->host, g_free);
  g_clear_pointer (&args->user, g_free);
  g_clear_pointer (&args->argv, g_strfreev);
  g_clear_pointer (&args->setenv, g_strfreev);
  memset (args, 0, sizeof *args);
}
