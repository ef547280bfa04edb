/* run.c - one run, start to stored result. See run.h. */
#include "run.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "dataset.h"
#include "http_curl.h"
#include "spec.h"
#include "store.h"
#include "units.h"
#include "verify.h"

struct run_ctx {
  const struct sbx_run_request *rq;
  struct sbx_store *store;
  Sbx__V1__Run *run;
  int status;
  struct sbx_diag diag;
  Sbx__V1__RunState state;
};

static int64_t unix_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *dupf(const char *fmt, ...) {
  va_list ap;
  char *s;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return NULL;
  s = malloc((size_t)n + 1);
  if (s == NULL)
    return NULL;
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

static int add_str(char ***arr, size_t *n, char *s) {
  char **p;
  if (s == NULL)
    return SBX_ENOMEM;
  p = realloc(*arr, sizeof(*p) * (*n + 1));
  if (p == NULL) {
    free(s);
    return SBX_ENOMEM;
  }
  p[(*n)++] = s;
  *arr = p;
  return 0;
}

/* Copies the spec's load into a malloc'd message and applies overrides,
 * recording each as "field=value" in run->overrides. */
static int effective_load(const Sbx__V1__Scenario *sc,
                          const struct sbx_load_overrides *o,
                          Sbx__V1__Run *run) {
  Sbx__V1__Load *ld = malloc(sizeof(*ld));
  char buf[64];
  int rc = 0;
  if (ld == NULL)
    return SBX_ENOMEM;
  *ld = *sc->load;
  run->load = ld;
#define OVR(cond, assign, ...)                                                \
  if (rc == 0 && (cond)) {                                                    \
    assign;                                                                   \
    rc = add_str(&run->overrides, &run->n_overrides, dupf(__VA_ARGS__));      \
  }
  sbx_format_duration_us(o->warmup_us, buf, sizeof(buf));
  OVR(o->has_warmup, ld->warmup_us = o->warmup_us, "load.warmup=%s", buf);
  sbx_format_duration_us(o->min_duration_us, buf, sizeof(buf));
  OVR(o->min_duration_us > 0, ld->min_duration_us = o->min_duration_us,
      "load.min_duration=%s", buf);
  sbx_format_duration_us(o->max_duration_us, buf, sizeof(buf));
  OVR(o->max_duration_us > 0, ld->max_duration_us = o->max_duration_us,
      "load.max_duration=%s", buf);
  sbx_format_duration_us(o->timeout_us, buf, sizeof(buf));
  OVR(o->timeout_us > 0, ld->timeout_us = o->timeout_us, "load.timeout=%s",
      buf);
  OVR(o->has_min_cases, ld->min_cases = o->min_cases,
      "load.min_cases=%" PRIu64, o->min_cases);
  OVR(o->concurrency > 0, ld->concurrency = o->concurrency,
      "load.concurrency=%" PRIu32, o->concurrency);
  OVR(o->rate > 0, ld->rate = o->rate, "load.rate=%g/s", o->rate);
  OVR(o->has_seed, ld->seed = o->seed, "load.seed=%" PRIu64, o->seed);
#undef OVR
  if (rc == 0 && ld->max_duration_us < ld->min_duration_us)
    ld->max_duration_us = ld->min_duration_us;
  return rc;
}

static void on_progress(const struct sbx_progress *p, void *arg) {
  struct run_ctx *c = arg;
  if (p->phase != c->state && c->store != NULL) {
    c->state = p->phase;
    c->run->state = p->phase;
    (void)sbx_store_put_run(c->store, c->run);
  }
  if (c->rq->on_progress != NULL)
    c->rq->on_progress(p, c->rq->progress_arg);
}

static void on_done(struct sbx_engine *e, int status,
                    const struct sbx_diag *diag, void *arg) {
  struct run_ctx *c = arg;
  c->status = status;
  if (status != 0)
    c->diag = *diag;
}

static const char *model_name(Sbx__V1__LoadModel m) {
  switch (m) {
  case SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED:
    return "closed";
  case SBX__V1__LOAD_MODEL__LOAD_MODEL_OPEN:
    return "open";
  case SBX__V1__LOAD_MODEL__LOAD_MODEL_TRACE:
    return "trace";
  default:
    return "unknown";
  }
}

/* Fills the identity of a result from the scenario and the run. */
static int result_identity(Sbx__V1__Result *res, const Sbx__V1__Scenario *sc,
                           const Sbx__V1__Run *run, const char *client) {
  size_t i;
  res->run_id = run->id;
  res->scenario = strdup(sc->name);
  res->scenario_version = strdup(sc->version);
  res->product = strdup(run->product);
  res->harness_version = strdup(SBX_VERSION);
  res->client = strdup(client);
  res->load_model = strdup(model_name(run->load->model));
  res->started_unix_ms = run->started_unix_ms;
  res->seed = run->load->seed;
  res->scenario_digest.data = malloc(sc->digest.len ? sc->digest.len : 1);
  if (res->scenario == NULL || res->scenario_version == NULL ||
      res->product == NULL || res->harness_version == NULL ||
      res->client == NULL || res->load_model == NULL ||
      res->scenario_digest.data == NULL)
    return SBX_ENOMEM;
  memcpy(res->scenario_digest.data, sc->digest.data, sc->digest.len);
  res->scenario_digest.len = sc->digest.len;
  for (i = 0; i < run->n_overrides; i++)
    if (add_str(&res->overrides, &res->n_overrides,
                strdup(run->overrides[i])) != 0)
      return SBX_ENOMEM;
  return 0;
}

int sbx_run_local(const struct sbx_run_request *rq, Sbx__V1__Result **out,
                  struct sbx_diag *diag) {
  Sbx__V1__Scenario *sc = NULL;
  struct sbx_dataset *ds = NULL;
  struct sbx_store *store = NULL;
  Sbx__V1__Run *run = NULL;
  Sbx__V1__Result *res = NULL;
  struct sbx_adapter *adapter = NULL;
  struct sbx_engine *engine = NULL;
  struct sbx_http_config hcfg;
  struct sbx_engine_config ecfg;
  struct run_ctx ctx;
  uv_loop_t loop;
  int loop_open = 0;
  int rc;

  *out = NULL;
  memset(&ctx, 0, sizeof(ctx));
  rc = sbx_spec_load(rq->scenario_path, &sc, &ds, diag);
  if (rc != 0)
    goto out;
  rc = SBX_EINVAL;
  if (sc->interface->kind != SBX__V1__INTERFACE_KIND__INTERFACE_KIND_HTTP) {
    sbx_diag_set(diag,
                 "%s: interface.kind is plugin, but sbx test was given an "
                 "HTTP endpoint; run this scenario against a plugin product",
                 rq->scenario_path);
    goto out;
  }
  rc = SBX_ENOMEM;
  run = malloc(sizeof(*run));
  if (run == NULL)
    goto out;
  sbx__v1__run__init(run);
  rc = effective_load(sc, &rq->overrides, run);
  if (rc != 0)
    goto out;
  rc = SBX_ENOMEM;
  run->scenario = dupf("%s@%s", sc->name, sc->version);
  run->product = strdup(rq->endpoint);
  run->client = strdup("curl");
  run->scenario_digest.data = malloc(sc->digest.len ? sc->digest.len : 1);
  if (run->scenario == NULL || run->product == NULL || run->client == NULL ||
      run->scenario_digest.data == NULL)
    goto out;
  memcpy(run->scenario_digest.data, sc->digest.data, sc->digest.len);
  run->scenario_digest.len = sc->digest.len;
  run->state = SBX__V1__RUN_STATE__RUN_STATE_PREPARING;
  run->created_unix_ms = run->started_unix_ms = unix_ms();

  /* The adapter is checked before the store is touched, so that a mistyped
   * URL leaves no run behind. */
  rc = SBX_EIO;
  if (uv_loop_init(&loop) != 0) {
    sbx_diag_set(diag, "could not create an event loop");
    goto out;
  }
  loop_open = 1;
  memset(&hcfg, 0, sizeof(hcfg));
  hcfg.base_url = rq->endpoint;
  hcfg.iface = sc->interface;
  hcfg.max_in_flight = run->load->model == SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED
                           ? run->load->concurrency
                           : run->load->max_in_flight;
  hcfg.timeout_us = run->load->timeout_us;
  hcfg.max_body_bytes = sc->interface->max_body_bytes;
  rc = sbx_http_curl_open(&loop, &hcfg, sbx_engine_adapter_done, NULL,
                          &adapter, diag);
  if (rc != 0)
    goto out;

  rc = sbx_store_open(rq->data_dir, &store, diag);
  if (rc != 0)
    goto out;
  rc = sbx_store_new_run(store, run);
  if (rc != 0) {
    sbx_diag_set(diag, "%s: could not record the run: %s", rq->data_dir,
                 sbx_strerror(rc));
    goto out;
  }

  ctx.rq = rq;
  ctx.store = store;
  ctx.run = run;
  ctx.state = run->state;
  memset(&ecfg, 0, sizeof(ecfg));
  ecfg.scenario = sc;
  ecfg.dataset = ds;
  ecfg.load = run->load;
  ecfg.store = store;
  ecfg.run_id = run->id;
  ecfg.on_progress = on_progress;
  ecfg.progress_arg = &ctx;
  rc = sbx_engine_start(&loop, &ecfg, adapter, on_done, &ctx, &engine);
  adapter = NULL; /* the engine owns it now, also on failure */
  if (rc != 0) {
    sbx_diag_set(diag, "could not start the run: %s", sbx_strerror(rc));
    goto out;
  }
  uv_run(&loop, UV_RUN_DEFAULT);

  rc = SBX_ENOMEM;
  res = malloc(sizeof(*res));
  if (res == NULL)
    goto out;
  sbx__v1__result__init(res);
  if (result_identity(res, sc, run, sbx_engine_client(engine)) != 0)
    goto out;
  if (ctx.status != 0) {
    res->verdict = SBX__V1__VERDICT__VERDICT_ERROR;
    res->error_message = strdup(ctx.diag.msg);
    if (res->error_message == NULL)
      goto out;
  }
  /* A run that never reached the product has nothing to verify: its result
   * carries the error alone rather than a page of empty metrics. */
  if ((ctx.status == 0 || sbx_engine_stats(engine)->requests > 0) &&
      sbx_verify(sc, sbx_engine_stats(engine), res) != 0)
    goto out;
  res->ended_unix_ms = unix_ms();

  run->ended_unix_ms = res->ended_unix_ms;
  run->state = ctx.status == 0 ? SBX__V1__RUN_STATE__RUN_STATE_DONE
                               : ctx.status == SBX_ECANCELED
                                     ? SBX__V1__RUN_STATE__RUN_STATE_CANCELED
                                     : SBX__V1__RUN_STATE__RUN_STATE_ERROR;
  if (run->reason != protobuf_c_empty_string)
    free(run->reason);
  run->reason = strdup(ctx.status == 0 ? "" : ctx.diag.msg);
  if (run->reason == NULL) {
    run->reason = (char *)protobuf_c_empty_string;
    rc = SBX_ENOMEM;
    goto out;
  }
  rc = sbx_store_put_result(store, res);
  if (rc == 0)
    rc = sbx_store_put_run(store, run);
  if (rc != 0) {
    sbx_diag_set(diag, "%s: could not store the result: %s", rq->data_dir,
                 sbx_strerror(rc));
    goto out;
  }
  rc = 0;

out:
  if (adapter != NULL)
    adapter->ops->close(adapter, NULL);
  if (loop_open) {
    uv_run(&loop, UV_RUN_DEFAULT); /* let close callbacks run */
    if (uv_loop_close(&loop) != 0 && rc == 0)
      fprintf(stderr, "sbx: warning: event loop closed with live handles\n");
  }
  sbx_engine_free(engine);
  if (store != NULL) {
    int crc = sbx_store_close(store);
    if (crc != 0 && rc == 0) {
      sbx_diag_set(diag, "%s: could not close the store: %s", rq->data_dir,
                   sbx_strerror(crc));
      rc = SBX_ESTORE;
    }
  }
  if (rc == 0) {
    *out = res;
    res = NULL;
  }
  if (res != NULL)
    sbx__v1__result__free_unpacked(res, NULL);
  if (run != NULL)
    sbx__v1__run__free_unpacked(run, NULL);
  sbx_scenario_free(sc);
  sbx_dataset_free(ds);
  return rc;
}
