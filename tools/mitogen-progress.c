/* mitogen-progress.c — the progress bar of `mitogen cp`
 *
 *   name.iso   42% [########............]  108.0 MiB/256.0 MiB  95.2 MiB/s  ETA 0:02
 *
 * Drawn on stderr only when it is a terminal (MITOGEN_PROGRESS=1 forces
 * it, =0 turns it off), at most ten times a second, fitted to the width.
 * The rate is averaged over the last few seconds. Its line is always
 * ended: a copy that fails or is interrupted leaves the state it reached
 * (then the message follows on a line of its own).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-tool"

#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "mitogen-tool.h"

#define REDRAW_USEC (100 * 1000)
#define SAMPLES 32

/* Whether a bar's line is on the screen, not ended (guarded by the
 * output lock). */
static gboolean line_open;

struct _ToolProgress
{
  char    *label;
  gint64   start;
  gint64   last_draw;
  guint64  done;
  guint64  total;
  /* (time, bytes) samples for the rate, a ring */
  gint64   sample_time[SAMPLES];
  guint64  sample_done[SAMPLES];
  guint    n_samples;
  guint    next_sample;
  gboolean failed;     /* finished short of the end */
};

ToolProgress *
tool_progress_new (const char *label)
{
  const char *force = g_getenv ("MITOGEN_PROGRESS");
  ToolProgress *self;

  if (force != NULL ? g_str_equal (force, "0") : !isatty (2))
    return NULL;
  self = g_new0 (ToolProgress, 1);
  self->label = g_path_get_basename (label);
  self->start = g_get_monotonic_time ();
  return self;
}

void
tool_format_size (char    *buf,
                  gsize    size,
                  guint64  bytes)
{
  static const char * const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
  double value = (double) bytes;
  guint unit = 0;

  while (value >= 1024 && unit + 1 < G_N_ELEMENTS (units))
    {
      value /= 1024;
      unit++;
    }
  if (unit == 0)
    g_snprintf (buf, size, "%" G_GUINT64_FORMAT " B", bytes);
  else
    g_snprintf (buf, size, "%.1f %s", value, units[unit]);
}

static void
format_duration (char   *buf,
                 gsize   size,
                 double  seconds)
{
  guint64 s = (guint64) (seconds + 0.5);

  if (s >= 3600)
    g_snprintf (buf, size, "%" G_GUINT64_FORMAT ":%02u:%02u", s / 3600, (guint) (s / 60 % 60), (guint) (s % 60));
  else
    g_snprintf (buf, size, "%u:%02u", (guint) (s / 60), (guint) (s % 60));
}

/* Bytes per second over the samples kept (the whole run at first). */
static double
current_rate (ToolProgress *self,
              gint64        now)
{
  guint oldest = self->n_samples < SAMPLES ? 0 : self->next_sample;
  gint64 t0 = self->n_samples > 0 ? self->sample_time[oldest] : self->start;
  guint64 d0 = self->n_samples > 0 ? self->sample_done[oldest] : 0;

  if (now - t0 < 50 * 1000)
    {
      t0 = self->start;
      d0 = 0;
    }
  if (now <= t0)
    return 0;
  return (double) (self->done - d0) * G_USEC_PER_SEC / (double) (now - t0);
}

static void
draw (ToolProgress *self,
      gint64        now,
      gboolean      final)
{
  struct winsize ws;
  int width = 80, bar_width;
  char done_text[32], total_text[32], rate_text[32], time_text[32];
  double rate = final ? (double) self->done * G_USEC_PER_SEC / (double) MAX (now - self->start, 1)
                      : current_rate (self, now);
  guint percent = self->total > 0 ? (guint) MIN (100, self->done * 100 / self->total) : (final && !self->failed ? 100 : 0);
  g_autoptr(GString) line = g_string_new (NULL);
  g_autoptr(GString) bar = g_string_new (NULL);

  if (ioctl (2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
    width = ws.ws_col;

  tool_format_size (done_text, sizeof done_text, self->done);
  tool_format_size (total_text, sizeof total_text, self->total);
  tool_format_size (rate_text, sizeof rate_text, (guint64) rate);
  if (final)
    format_duration (time_text, sizeof time_text, (now - self->start) / 1e6);
  else if (rate > 0 && self->total >= self->done)
    {
      char eta[24];

      format_duration (eta, sizeof eta, (double) (self->total - self->done) / rate);
      g_snprintf (time_text, sizeof time_text, "ETA %s", eta);
    }
  else
    g_strlcpy (time_text, "ETA --:--", sizeof time_text);

  g_string_printf (line, " %3u%% %s/%s  %s/s  %s", percent, done_text, total_text, rate_text, time_text);
  bar_width = width - 1 - (int) line->len - 3 - MIN ((int) strlen (self->label), width / 3);
  if (bar_width >= 10)
    {
      int filled = (int) ((guint64) bar_width * percent / 100);

      g_string_append_c (bar, '[');
      for (int i = 0; i < bar_width; i++)
        g_string_append_c (bar, i < filled ? '#' : '.');
      g_string_append_c (bar, ']');
    }

  tool_output_lock ();
  fprintf (stderr, "\r%-.*s %s%s\033[K%s", MAX (width / 3, 8), self->label, bar->str, line->str,
           final ? "\n" : "");
  fflush (stderr);
  line_open = !final;
  tool_output_unlock ();
}

void
tool_progress_update (ToolProgress *self,
                      guint64       done,
                      guint64       total)
{
  gint64 now;

  if (self == NULL)
    return;
  now = g_get_monotonic_time ();
  self->done = done;
  self->total = total;
  if (now - self->last_draw < REDRAW_USEC)
    return;
  self->sample_time[self->next_sample] = now;
  self->sample_done[self->next_sample] = done;
  self->next_sample = (self->next_sample + 1) % SAMPLES;
  self->n_samples = MIN (self->n_samples + 1, SAMPLES);
  self->last_draw = now;
  draw (self, now, FALSE);
}

void
tool_progress_finish (ToolProgress *self,
                      gboolean      ok)
{
  if (self == NULL)
    return;
  self->failed = !ok;
  /* (A copy that failed before it began leaves no bar, just its error.) */
  if (ok || self->last_draw != 0)
    draw (self, g_get_monotonic_time (), TRUE);
  g_free (self->label);
  g_free (self);
}

void
tool_progress_break_line (void)
{
  tool_output_lock ();
  if (line_open)
    {
      fputc ('\n', stderr);
      fflush (stderr);
      line_open = FALSE;
    }
  tool_output_unlock ();
}
