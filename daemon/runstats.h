/* runstats.h - what the engine accumulates while a run measures.
 *
 * The engine owns one struct sbx_run_stats per run and fills it on the loop
 * thread; verify.c turns it, with the scenario, into a Result (metrics,
 * criterion outcomes, validity, verdict). Only measured requests count here;
 * warm-up requests are counted in warmup_requests alone.
 */
#ifndef SBX_RUNSTATS_H
#define SBX_RUNSTATS_H

#include <stdint.h>

#define SBX_ERROR_CLASSES 11 /* values of Sbx__V1__ErrorClass */

struct sbx_hist;
struct sbx_quality;

struct sbx_run_stats {
  struct sbx_hist *latency; /* µs from scheduled time to completion */
  struct sbx_hist *lag;     /* µs from scheduled time to actual send */
  uint64_t requests;        /* measured arrivals, dropped included */
  uint64_t completed;       /* ended with any class but DROPPED */
  uint64_t dropped;
  uint64_t by_class[SBX_ERROR_CLASSES];
  uint64_t warmup_requests;
  int64_t measure_start_ns; /* uv_hrtime() at the start of measurement */
  int64_t measure_end_ns;   /* ... at its end (last arrival scheduled) */
  double target_rate;       /* open loop: arrivals/s asked; 0 otherwise */
  uint64_t sent;            /* measured arrivals actually sent */
  int min_duration_met;
  int min_cases_met;
  struct sbx_quality *quality; /* answer-quality accumulators (check.h) */
  /* What running the product cost, from adapters that run it (plugins);
   * zero otherwise. Covers warm-up and measurement. */
  uint64_t product_cpu_us;
  uint64_t product_peak_rss;
  uint32_t product_restarts;
  char layers[256]; /* jail layers engaged, comma-separated */
};

#endif
