/* progress.c - the live progress line. See progress.h. */
#include "progress.h"

#include <unistd.h>
#include <uv.h>

#include "units.h"

#define MIN_REDRAW_NS 250000000LL /* 4 times a second at most */

void sbx_progress_init(struct sbx_progress_line *pl, FILE *f, int want) {
  pl->f = f;
  pl->enabled = want && isatty(fileno(f));
  pl->drawn = 0;
  pl->last_draw_ns = 0;
}

static const char *phase_name(Sbx__V1__RunState s) {
  switch (s) {
  case SBX__V1__RUN_STATE__RUN_STATE_PREPARING:
    return "preparing";
  case SBX__V1__RUN_STATE__RUN_STATE_WARMUP:
    return "warm-up";
  case SBX__V1__RUN_STATE__RUN_STATE_MEASURING:
    return "measuring";
  default:
    return "finishing";
  }
}

void sbx_progress_update(const struct sbx_progress *p, void *arg) {
  struct sbx_progress_line *pl = arg;
  int64_t now = (int64_t)uv_hrtime();
  char p99[32];
  if (!pl->enabled)
    return;
  if (pl->drawn && now - pl->last_draw_ns < MIN_REDRAW_NS)
    return;
  pl->last_draw_ns = now;
  sbx_format_duration_us(p->p99_us, p99, sizeof(p99));
  fprintf(pl->f,
          "\r\033[K%-9s %6.1fs  %9.0f req/s  p99 %-8s  %llu done  %llu "
          "errors",
          phase_name(p->phase), p->elapsed_s, p->rate,
          p->completed ? p99 : "-", (unsigned long long)p->completed,
          (unsigned long long)p->errors);
  fflush(pl->f);
  pl->drawn = 1;
}

void sbx_progress_clear(struct sbx_progress_line *pl) {
  if (!pl->drawn)
    return;
  fputs("\r\033[K", pl->f);
  fflush(pl->f);
  pl->drawn = 0;
}
