/* progress.h - the live progress line of a run on a terminal.
 *
 * On a terminal, one line (phase, elapsed, rate, p99 so far, errors) is
 * redrawn in place at most 4 times a second; when the stream is not a
 * terminal nothing is printed at all, so logs and pipes stay clean.
 */
#ifndef SBX_PROGRESS_H
#define SBX_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#include "engine.h"

struct sbx_progress_line {
  FILE *f;
  int enabled;          /* f is a terminal and the user did not opt out */
  int drawn;            /* a line is on screen */
  int64_t last_draw_ns; /* uv_hrtime() of the last redraw */
};

/* Prepares a progress line on f; enabled only if f is a terminal and
 * want is non-zero. */
void sbx_progress_init(struct sbx_progress_line *pl, FILE *f, int want);

/* An engine progress callback; arg is a struct sbx_progress_line. */
void sbx_progress_update(const struct sbx_progress *p, void *arg);

/* Erases the line, if one is drawn. */
void sbx_progress_clear(struct sbx_progress_line *pl);

#endif
