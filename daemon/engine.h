/* engine.h - the load engine: replays a scenario's cases against an adapter.
 *
 * One engine measures one run on the caller's libuv loop. It implements the
 * three load models of the architecture (closed, open with constant or
 * Poisson spacing, trace), the phases (a preflight request, warm-up, then
 * measurement until both the minimum duration and the minimum case count
 * hold, or the maximum duration passes), measures latency from the
 * *scheduled* time (coordinated omission), caps requests in flight (open
 * and trace arrivals over the cap are counted as dropped), checks every
 * answer, accumulates struct sbx_run_stats, keeps a per-second series and
 * hands every sample to the store.
 *
 * The daemon and `sbx test` both drive runs through this module; only the
 * front end differs.
 */
#ifndef SBX_ENGINE_H
#define SBX_ENGINE_H

#include <stdint.h>
#include <uv.h>

#include "adapter.h"
#include "err.h"
#include "runstats.h"
#include "sbx/v1/run.pb-c.h"
#include "sbx/v1/scenario.pb-c.h"

struct sbx_dataset;
struct sbx_store;
struct sbx_engine;

/* A snapshot for progress displays and WatchRun streams. */
struct sbx_progress {
  Sbx__V1__RunState phase; /* PREPARING, WARMUP, MEASURING, VERIFYING */
  double elapsed_s;        /* since the start of warm-up */
  double rate;             /* completions per second over the last second */
  int64_t p99_us;          /* measured so far */
  uint64_t completed;      /* measured so far */
  uint64_t errors;         /* measured so far */
};

struct sbx_engine_config {
  const Sbx__V1__Scenario *scenario; /* borrowed for the engine's lifetime */
  const struct sbx_dataset *dataset; /* borrowed */
  const Sbx__V1__Load *load;         /* effective load (overrides applied) */
  struct sbx_store *store;           /* samples and series go here; NULL ok */
  uint64_t run_id;
  /* Called on the loop about 4 times a second; NULL for none. */
  void (*on_progress)(const struct sbx_progress *p, void *arg);
  void *progress_arg;
};

/* Called once when the run has ended and the adapter is closed. status is 0
 * (measured; stats are final), SBX_ECONNECT (the product could not be
 * reached: diag says where and why), SBX_EPRODUCT (the adapter gave up on
 * the product, e.g. a plugin that keeps crashing: diag says why),
 * SBX_ECANCELED or SBX_ESTORE. */
typedef void (*sbx_engine_done_cb)(struct sbx_engine *e, int status,
                                   const struct sbx_diag *diag, void *arg);

/* The adapter completion callback to open adapters with: the engine takes
 * the adapter over in sbx_engine_start() and sets a->data itself. */
void sbx_engine_adapter_done(struct sbx_adapter *a, struct sbx_request *req);

/* Starts a run on loop. Takes ownership of adapter (closed by the engine,
 * also on failure). Returns 0 and *out, or SBX_EINVAL / SBX_ENOMEM, in which
 * case done_cb never runs. */
int sbx_engine_start(uv_loop_t *loop, const struct sbx_engine_config *cfg,
                     struct sbx_adapter *adapter, sbx_engine_done_cb done_cb,
                     void *arg, struct sbx_engine **out);

/* Stops issuing requests and ends the run as canceled; done_cb follows. */
void sbx_engine_cancel(struct sbx_engine *e);

/* The accumulated stats; valid until sbx_engine_free(). */
const struct sbx_run_stats *sbx_engine_stats(const struct sbx_engine *e);

/* Name of the adapter that measured ("curl", ...). */
const char *sbx_engine_client(const struct sbx_engine *e);

/* Frees an engine whose done_cb has run. NULL ok. */
void sbx_engine_free(struct sbx_engine *e);

#endif
