/* mitogen-agent-pcre2stub.c — PCRE2 stand-ins for the static agent
 *
 * GObject registers every GLib boxed type in one object (gboxed.c), so
 * linking GObject statically drags in GRegex, and GRegex all of PCRE2:
 * ~590 kB of the agent's image (its JIT compiler alone ~240 kB), about a
 * sixth of what the bootstrap ships. Nothing in the agent compiles a
 * regular expression, so these stand-ins make GRegex fail cleanly
 * instead: g_regex_new () returns NULL with a G_REGEX_ERROR_COMPILE that
 * says why. Only the static agent links this file (agent/meson.build),
 * and only where pcre2.h says what the real functions look like.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <string.h>

#define STUB_MESSAGE "regular expressions are not built into the static mitogen agent"

/* GLib asks once whether the library was built with Unicode: it was
 * (nothing below can match anything, in any encoding). */
int
pcre2_config (uint32_t what, void *where)
{
  if (what == PCRE2_CONFIG_UNICODE || what == PCRE2_CONFIG_NEWLINE || what == PCRE2_CONFIG_BSR)
    {
      if (where != NULL)
        *(uint32_t *) where = what == PCRE2_CONFIG_UNICODE ? 1 :
                              what == PCRE2_CONFIG_NEWLINE ? PCRE2_NEWLINE_LF : PCRE2_BSR_UNICODE;
      return (int) sizeof (uint32_t);
    }
  return PCRE2_ERROR_BADOPTION;
}

pcre2_code *
pcre2_compile (PCRE2_SPTR pattern, PCRE2_SIZE length, uint32_t options, int *errorcode,
               PCRE2_SIZE *erroroffset, pcre2_compile_context *ccontext)
{
  (void) pattern, (void) length, (void) options, (void) ccontext;
  if (errorcode != NULL)
    *errorcode = PCRE2_ERROR_INTERNAL;
  if (erroroffset != NULL)
    *erroroffset = 0;
  return NULL;
}

int
pcre2_get_error_message (int errorcode, PCRE2_UCHAR *buffer, PCRE2_SIZE size)
{
  (void) errorcode;
  if (buffer == NULL || size == 0)
    return PCRE2_ERROR_NOMEMORY;
  if (size <= strlen (STUB_MESSAGE))
    {
      buffer[0] = '\0';
      return PCRE2_ERROR_NOMEMORY;
    }
  memcpy (buffer, STUB_MESSAGE, strlen (STUB_MESSAGE) + 1);
  return (int) strlen (STUB_MESSAGE);
}

void
pcre2_code_free (pcre2_code *code)
{
  (void) code;
}

pcre2_compile_context *
pcre2_compile_context_create (pcre2_general_context *gcontext)
{
  (void) gcontext;
  return NULL;
}

void
pcre2_compile_context_free (pcre2_compile_context *ccontext)
{
  (void) ccontext;
}

int
pcre2_set_bsr (pcre2_compile_context *ccontext, uint32_t value)
{
  (void) ccontext, (void) value;
  return 0;
}

int
pcre2_set_newline (pcre2_compile_context *ccontext, uint32_t value)
{
  (void) ccontext, (void) value;
  return 0;
}

pcre2_match_context *
pcre2_match_context_create (pcre2_general_context *gcontext)
{
  (void) gcontext;
  return NULL;
}

void
pcre2_match_context_free (pcre2_match_context *mcontext)
{
  (void) mcontext;
}

/* The functions below need a compiled pattern, which never exists. */

int
pcre2_pattern_info (const pcre2_code *code, uint32_t what, void *where)
{
  (void) code, (void) what, (void) where;
  return PCRE2_ERROR_NULL;
}

pcre2_match_data *
pcre2_match_data_create (uint32_t ovecsize, pcre2_general_context *gcontext)
{
  (void) ovecsize, (void) gcontext;
  return NULL;
}

pcre2_match_data *
pcre2_match_data_create_from_pattern (const pcre2_code *code, pcre2_general_context *gcontext)
{
  (void) code, (void) gcontext;
  return NULL;
}

void
pcre2_match_data_free (pcre2_match_data *match_data)
{
  (void) match_data;
}

uint32_t
pcre2_get_ovector_count (pcre2_match_data *match_data)
{
  (void) match_data;
  return 0;
}

PCRE2_SIZE *
pcre2_get_ovector_pointer (pcre2_match_data *match_data)
{
  (void) match_data;
  return NULL;
}

int
pcre2_match (const pcre2_code *code, PCRE2_SPTR subject, PCRE2_SIZE length, PCRE2_SIZE startoffset,
             uint32_t options, pcre2_match_data *match_data, pcre2_match_context *mcontext)
{
  (void) code, (void) subject, (void) length, (void) startoffset, (void) options, (void) match_data, (void) mcontext;
  return PCRE2_ERROR_NULL;
}

int
pcre2_dfa_match (const pcre2_code *code, PCRE2_SPTR subject, PCRE2_SIZE length, PCRE2_SIZE startoffset,
                 uint32_t options, pcre2_match_data *match_data, pcre2_match_context *mcontext,
                 int *workspace, PCRE2_SIZE wscount)
{
  (void) code, (void) subject, (void) length, (void) startoffset, (void) options, (void) match_data, (void) mcontext;
  (void) workspace, (void) wscount;
  return PCRE2_ERROR_NULL;
}

int
pcre2_jit_compile (pcre2_code *code, uint32_t options)
{
  (void) code, (void) options;
  return PCRE2_ERROR_JIT_BADOPTION;
}

int
pcre2_jit_match (const pcre2_code *code, PCRE2_SPTR subject, PCRE2_SIZE length, PCRE2_SIZE startoffset,
                 uint32_t options, pcre2_match_data *match_data, pcre2_match_context *mcontext)
{
  (void) code, (void) subject, (void) length, (void) startoffset, (void) options, (void) match_data, (void) mcontext;
  return PCRE2_ERROR_NULL;
}

int
pcre2_substring_nametable_scan (const pcre2_code *code, PCRE2_SPTR name, PCRE2_SPTR *first, PCRE2_SPTR *last)
{
  (void) code, (void) name, (void) first, (void) last;
  return PCRE2_ERROR_NOSUBSTRING;
}

int
pcre2_substring_number_from_name (const pcre2_code *code, PCRE2_SPTR name)
{
  (void) code, (void) name;
  return PCRE2_ERROR_NOSUBSTRING;
}
