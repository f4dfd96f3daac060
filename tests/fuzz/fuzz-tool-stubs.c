/* fuzz-tool-stubs.c — what mitogen-chain.c and mitogen-json.c take from
 * the tool's main file (tools/mitogen.c, which has main ()), for the
 * chain and json targets. Reporting is not fuzzed: nothing is printed.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-tool.h"

gboolean tool_opt_debug;

GQuark
tool_error_quark (void)
{
  return g_quark_from_static_string ("mitogen-tool-error-quark");
}

int
tool_fail (int         status,
           const char *format,
           ...)
{
  return status;
}

int
tool_fail_error (int           status,
                 const GError *error)
{
  return status;
}

gboolean
tool_password_wanted (ToolCommon *common)
{
  return FALSE;
}

char *
tool_read_password (ToolCommon  *common,
                    GError     **error)
{
  g_set_error_literal (error, TOOL_ERROR, TOOL_EXIT_USAGE, "no password when fuzzing");
  return NULL;
}
