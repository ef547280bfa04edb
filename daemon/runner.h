/* runner.h - one run on a caller's loop, from an open adapter to a result.
 *
 * The runner is what `sbx test` (run.c, on a private loop it runs to the
 * end) and the daemon (sched.c, on its one loop, many runs over time) have
 * in common: it opens the adapter that measures the product (HTTP client or
 * jailed plugin host), drives the engine, records phase changes of the run
 * in the store, and when the engine is done verifies the measurements into
 * a Result. What happens to the result (signing, storing, publishing) is the
 * front end's business.
 */
#ifndef SBX_RUNNER_H
#define SBX_RUNNER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "engine.h"
#include "err.h"
#include "sbx/v1/result.pb-c.h"
#include "sbx/v1/run.pb-c.h"
#include "sbx/v1/scenario.pb-c.h"

struct sbx_runner;

/* Load settings a user may override. Zero (or a zero has_* flag) keeps the
 * spec's value; every override is recorded in the run and its result. */
struct sbx_load_overrides {
  int64_t warmup_us;
  int64_t min_duration_us;
  int64_t max_duration_us;
  int64_t timeout_us;
  uint64_t min_cases;
  uint32_t concurrency;
  double rate;
  int has_seed;
  uint64_t seed;
  int has_min_cases;
  int has_warmup;
};

/* The product under test. Strings and arrays are borrowed until on_done. */
struct sbx_runner_product {
  const char *id;       /* Run.product: vendor/name@version, URL, path#sha */
  const uint8_t *digest; /* Result.product_digest (may be NULL) */
  size_t digest_len;
  /* Endpoint products: */
  const char *endpoint;
  Sbx__V1__Header *const *headers; /* sent with every request */
  size_t n_headers;
  const char *secret; /* sent as "Authorization: Bearer <secret>"; NULL: none */
  /* Plugin products: */
  const char *plugin; /* path of the shared library */
  const uint8_t *plugin_config;
  size_t plugin_config_len;
  int plugin_ring; /* IPC over the shared-memory ring */
};

struct sbx_runner_config {
  const Sbx__V1__Scenario *scenario; /* borrowed until on_done */
  const struct sbx_dataset *dataset; /* borrowed until on_done */
  /* The run, borrowed until on_done, its load already effective
   * (sbx_runner_effective_load). With id 0 the runner stores it (new id)
   * once the adapter has opened. The runner sets its state,
   * started/ended times, client and reason as it goes, and stores every
   * phase change with sbx_store_put_run. */
  Sbx__V1__Run *run;
  const struct sbx_runner_product *product;
  struct sbx_store *store;
  /* Non-zero: the runner does not store the run's phase changes itself
   * (a synchronous, fsync'd commit in the middle of a measurement); the
   * front end does, from on_progress, on another thread. */
  int front_end_stores_phases;
  /* HTTP_CLIENT_AUTO follows the scenario; CURL or FAST force one (recorded
   * as an override). */
  Sbx__V1__HttpClient http_client;
  /* About 4 times a second on the loop; NULL for none. */
  void (*on_progress)(const struct sbx_progress *p, void *arg);
  void *progress_arg;
  /* Once, when the run has ended and every handle of the runner is closed.
   * status: 0 (measured: res holds the verdict), or the engine's failure
   * (SBX_ECONNECT, SBX_EPRODUCT, SBX_ECANCELED, SBX_ESTORE): res then holds
   * verdict ERROR and the reason, or is NULL if the run never reached the
   * product (canceled before it started). res is the callee's to free
   * (sbx__v1__result__free_unpacked). run->state is terminal by then, but
   * the terminal state is NOT stored yet: the front end stores it with the
   * result (sbx_store_finish_run), so both land together. */
  void (*on_done)(struct sbx_runner *r, int status, Sbx__V1__Result *res,
                  const struct sbx_diag *diag, void *arg);
  void *arg;
};

/* Copies the scenario's load into run->load (malloc'd; any previous one is
 * freed) and applies o (may be NULL), recording each override as
 * "field=value" in run->overrides. Returns 0 or SBX_ENOMEM. */
int sbx_runner_effective_load(const Sbx__V1__Scenario *sc,
                              const struct sbx_load_overrides *o,
                              Sbx__V1__Run *run);

/* Opens the adapter and starts the engine on loop. Returns 0 and *out, or
 * SBX_EINVAL, SBX_ENOENT (plugin library or host missing), SBX_ENOMEM,
 * SBX_ESTORE with diag filled, in which case on_done never runs and the run
 * was not stored by the runner. */
int sbx_runner_start(uv_loop_t *loop, const struct sbx_runner_config *cfg,
                     struct sbx_runner **out, struct sbx_diag *diag);

/* Ends the run as canceled as soon as possible; on_done follows. */
void sbx_runner_cancel(struct sbx_runner *r);

/* Frees a runner whose on_done has run (from on_done itself is fine). NULL
 * ok. */
void sbx_runner_free(struct sbx_runner *r);

/* Which HTTP client measures an endpoint: forced (CURL or FAST) wins, then
 * the interface's http_client; AUTO picks the fast client for plain
 * http:// URLs without credentials and libcurl for everything else (TLS,
 * HTTP/2, proxies, authentication). Never returns AUTO. */
Sbx__V1__HttpClient sbx_run_pick_client(const Sbx__V1__Interface *iface,
                                        const char *endpoint,
                                        Sbx__V1__HttpClient forced);

/* Wall-clock milliseconds since the epoch. */
int64_t sbx_unix_ms(void);

#endif
