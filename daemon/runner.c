/* runner.c - one run on a caller's loop. See runner.h. */
#include "runner.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "http_curl.h"
#include "http_fast.h"
#include "plugin.h"
#include "store.h"
#include "units.h"
#include "verify.h"

struct sbx_runner {
  uv_loop_t *loop;
  struct sbx_runner_config cfg;
  struct sbx_engine *engine;
  Sbx__V1__Interface iface;   /* the scenario's, plus the product's headers */
  Sbx__V1__Header **headers;  /* iface.headers: borrowed ones, then auth */
  Sbx__V1__Header auth;
  char *auth_value;
  uv_timer_t defer;           /* ends the run outside the engine's callback */
  Sbx__V1__RunState state;
  int status;
  struct sbx_diag diag;
  Sbx__V1__Result *res;
};

int64_t sbx_unix_ms(void) {
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

int sbx_runner_effective_load(const Sbx__V1__Scenario *sc,
                              const struct sbx_load_overrides *o,
                              Sbx__V1__Run *run) {
  static const struct sbx_load_overrides none;
  Sbx__V1__Load *ld = malloc(sizeof(*ld));
  char buf[64];
  int rc = 0;
  if (ld == NULL)
    return SBX_ENOMEM;
  if (o == NULL)
    o = &none;
  *ld = *sc->load;
  if (run->load != NULL)
    sbx__v1__load__free_unpacked(run->load, NULL);
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

/* Copies the comma-separated jail layers into the result. */
static int jail_layers(Sbx__V1__Result *res, const char *layers) {
  const char *p = layers;
  while (*p != '\0') {
    size_t n = strcspn(p, ",");
    if (n > 0 &&
        add_str(&res->jail_layers, &res->n_jail_layers, strndup(p, n)) != 0)
      return SBX_ENOMEM;
    p += n;
    if (*p == ',')
      p++;
  }
  return 0;
}

Sbx__V1__HttpClient sbx_run_pick_client(const Sbx__V1__Interface *iface,
                                        const char *endpoint,
                                        Sbx__V1__HttpClient forced) {
  const char *auth, *end;
  if (forced != SBX__V1__HTTP_CLIENT__HTTP_CLIENT_AUTO)
    return forced;
  if (iface != NULL &&
      iface->http_client != SBX__V1__HTTP_CLIENT__HTTP_CLIENT_AUTO)
    return iface->http_client;
  if (strncasecmp(endpoint, "http://", 7) != 0)
    return SBX__V1__HTTP_CLIENT__HTTP_CLIENT_CURL;
  /* Credentials in the authority need libcurl's authentication. */
  auth = endpoint + 7;
  end = auth + strcspn(auth, "/?#");
  if (memchr(auth, '@', (size_t)(end - auth)) != NULL)
    return SBX__V1__HTTP_CLIENT__HTTP_CLIENT_CURL;
  return SBX__V1__HTTP_CLIENT__HTTP_CLIENT_FAST;
}


static int is_plugin(const Sbx__V1__Scenario *sc) {
  return sc->interface->kind == SBX__V1__INTERFACE_KIND__INTERFACE_KIND_PLUGIN;
}

/* The interface the adapter sees: the scenario's, with the product's own
 * headers and its secret appended. */
static int build_iface(struct sbx_runner *r) {
  const Sbx__V1__Interface *si = r->cfg.scenario->interface;
  const struct sbx_runner_product *p = r->cfg.product;
  size_t n = si->n_headers + p->n_headers + 1, k = 0, i;

  r->iface = *si;
  r->headers = calloc(n, sizeof(*r->headers));
  if (r->headers == NULL)
    return SBX_ENOMEM;
  for (i = 0; i < si->n_headers; i++)
    r->headers[k++] = si->headers[i];
  for (i = 0; i < p->n_headers; i++)
    r->headers[k++] = p->headers[i];
  if (p->secret != NULL && p->secret[0] != '\0') {
    r->auth_value = dupf("Bearer %s", p->secret);
    if (r->auth_value == NULL)
      return SBX_ENOMEM;
    sbx__v1__header__init(&r->auth);
    r->auth.name = "Authorization";
    r->auth.value = r->auth_value;
    r->headers[k++] = &r->auth;
  }
  r->iface.headers = r->headers;
  r->iface.n_headers = k;
  return 0;
}

/* Opens the adapter that measures the product on loop. */
static int open_adapter(struct sbx_runner *r, Sbx__V1__HttpClient client,
                        struct sbx_adapter **out, struct sbx_diag *diag) {
  const Sbx__V1__Scenario *sc = r->cfg.scenario;
  const struct sbx_runner_product *p = r->cfg.product;
  const Sbx__V1__Run *run = r->cfg.run;
  uint32_t max = run->load->model == SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED
                     ? run->load->concurrency
                     : run->load->max_in_flight;
  if (is_plugin(sc)) {
    struct sbx_plugin_config pc;
    memset(&pc, 0, sizeof(pc));
    pc.library = p->plugin;
    pc.config = p->plugin_config;
    pc.config_len = p->plugin_config_len;
    pc.setup = sc->setup_bytes.data;
    pc.setup_len = sc->setup_bytes.len;
    pc.max_in_flight = max;
    pc.timeout_us = run->load->timeout_us;
    pc.max_response_bytes = sc->interface->max_body_bytes;
    pc.required_layers = (const char *const *)sc->required_layers;
    pc.n_required_layers = sc->n_required_layers;
    pc.transport = p->plugin_ring ? SBX_PLUGIN_RING : SBX_PLUGIN_SOCKET;
    return sbx_plugin_open(r->loop, &pc, sbx_engine_adapter_done, NULL, out,
                           diag);
  }
  {
    struct sbx_http_config hc;
    int rc = build_iface(r);
    if (rc != 0)
      return rc;
    memset(&hc, 0, sizeof(hc));
    hc.base_url = p->endpoint;
    hc.iface = &r->iface;
    hc.max_in_flight = max;
    hc.timeout_us = run->load->timeout_us;
    hc.max_body_bytes = sc->interface->max_body_bytes;
    hc.pipeline_depth = sc->interface->pipeline_depth;
    if (client == SBX__V1__HTTP_CLIENT__HTTP_CLIENT_FAST)
      return sbx_http_fast_open(r->loop, &hc, sbx_engine_adapter_done, NULL,
                                out, diag);
    return sbx_http_curl_open(r->loop, &hc, sbx_engine_adapter_done, NULL, out,
                              diag);
  }
}

static void on_progress(const struct sbx_progress *p, void *arg) {
  struct sbx_runner *r = arg;
  if (p->phase != r->state) {
    r->state = p->phase;
    r->cfg.run->state = p->phase;
    if (r->cfg.store != NULL && !r->cfg.front_end_stores_phases)
      (void)sbx_store_put_run(r->cfg.store, r->cfg.run);
  }
  if (r->cfg.on_progress != NULL)
    r->cfg.on_progress(p, r->cfg.progress_arg);
}

/* Verifies what the engine measured into a Result and makes the run
 * terminal. Returns 0 or SBX_ENOMEM. */
static int build_result(struct sbx_runner *r) {
  const struct sbx_run_stats *stats = sbx_engine_stats(r->engine);
  Sbx__V1__Run *run = r->cfg.run;
  Sbx__V1__Result *res = malloc(sizeof(*res));
  int st = r->status;

  if (res == NULL)
    return SBX_ENOMEM;
  sbx__v1__result__init(res);
  r->res = res;
  if (result_identity(res, r->cfg.scenario, run,
                      sbx_engine_client(r->engine)) != 0)
    return SBX_ENOMEM;
  if (r->cfg.product->digest != NULL && r->cfg.product->digest_len > 0) {
    res->product_digest.data = malloc(r->cfg.product->digest_len);
    if (res->product_digest.data == NULL)
      return SBX_ENOMEM;
    memcpy(res->product_digest.data, r->cfg.product->digest,
           r->cfg.product->digest_len);
    res->product_digest.len = r->cfg.product->digest_len;
  }
  if (run->match_id != NULL && run->match_id[0] != '\0' &&
      (res->match_id = strdup(run->match_id)) == NULL)
    return SBX_ENOMEM;
  if (run->dataset != NULL && run->dataset[0] != '\0' &&
      (res->dataset = strdup(run->dataset)) == NULL)
    return SBX_ENOMEM;
  if (st != 0) {
    res->verdict = SBX__V1__VERDICT__VERDICT_ERROR;
    if ((res->error_message = strdup(r->diag.msg)) == NULL)
      return SBX_ENOMEM;
  }
  /* A run that never reached the product has nothing to verify: its result
   * carries the error alone rather than a page of empty metrics. */
  if ((st == 0 || stats->requests > 0) &&
      sbx_verify(r->cfg.scenario, stats, res) != 0)
    return SBX_ENOMEM;
  if (jail_layers(res, stats->layers) != 0)
    return SBX_ENOMEM;
  res->ended_unix_ms = sbx_unix_ms();
  run->ended_unix_ms = res->ended_unix_ms;
  run->state = st == 0                  ? SBX__V1__RUN_STATE__RUN_STATE_DONE
               : st == SBX_ECANCELED    ? SBX__V1__RUN_STATE__RUN_STATE_CANCELED
                                        : SBX__V1__RUN_STATE__RUN_STATE_ERROR;
  if (run->reason != NULL && run->reason != protobuf_c_empty_string)
    free(run->reason);
  run->reason = strdup(st == 0 ? "" : r->diag.msg);
  if (run->reason == NULL) {
    run->reason = (char *)protobuf_c_empty_string;
    return SBX_ENOMEM;
  }
  return 0;
}

static void on_defer_closed(uv_handle_t *h) {
  struct sbx_runner *r = h->data;
  Sbx__V1__Result *res = r->res;
  r->res = NULL;
  r->cfg.on_done(r, r->status, res, &r->diag, r->cfg.arg);
}

static void on_defer(uv_timer_t *t) {
  struct sbx_runner *r = t->data;
  if (build_result(r) != 0) {
    if (r->res != NULL)
      sbx__v1__result__free_unpacked(r->res, NULL);
    r->res = NULL;
    if (r->status == 0)
      r->status = SBX_ENOMEM;
    sbx_diag_set(&r->diag, "out of memory while building the result");
    r->cfg.run->state = SBX__V1__RUN_STATE__RUN_STATE_ERROR;
  }
  uv_close((uv_handle_t *)&r->defer, on_defer_closed);
}

static void on_engine_done(struct sbx_engine *e, int status,
                           const struct sbx_diag *diag, void *arg) {
  struct sbx_runner *r = arg;
  (void)e;
  r->status = status;
  if (status != 0)
    r->diag = *diag;
  uv_timer_start(&r->defer, on_defer, 0, 0);
}

int sbx_runner_start(uv_loop_t *loop, const struct sbx_runner_config *cfg,
                     struct sbx_runner **out, struct sbx_diag *diag) {
  struct sbx_runner *r;
  struct sbx_adapter *adapter = NULL;
  struct sbx_engine_config ecfg;
  Sbx__V1__HttpClient client = SBX__V1__HTTP_CLIENT__HTTP_CLIENT_AUTO;
  Sbx__V1__Run *run = cfg->run;
  const char *name;
  int rc;

  *out = NULL;
  if (cfg->scenario == NULL || cfg->dataset == NULL || run == NULL ||
      run->load == NULL || cfg->product == NULL || cfg->on_done == NULL) {
    sbx_diag_set(diag, "internal error: incomplete run configuration");
    return SBX_EINVAL;
  }
  if (is_plugin(cfg->scenario) ? cfg->product->plugin == NULL
                               : cfg->product->endpoint == NULL) {
    sbx_diag_set(diag,
                 "%s@%s tests %s; product %s is %s", cfg->scenario->name,
                 cfg->scenario->version,
                 is_plugin(cfg->scenario) ? "plugins" : "HTTP endpoints",
                 cfg->product->id,
                 cfg->product->plugin != NULL ? "a plugin" : "an endpoint");
    return SBX_EINVAL;
  }
  r = calloc(1, sizeof(*r));
  if (r == NULL)
    return SBX_ENOMEM;
  r->loop = loop;
  r->cfg = *cfg;
  r->state = run->state;

  if (is_plugin(cfg->scenario)) {
    name = "plugin";
  } else {
    client = sbx_run_pick_client(cfg->scenario->interface,
                                 cfg->product->endpoint, cfg->http_client);
    name = client == SBX__V1__HTTP_CLIENT__HTTP_CLIENT_FAST ? "fast" : "curl";
    if (cfg->http_client != SBX__V1__HTTP_CLIENT__HTTP_CLIENT_AUTO &&
        add_str(&run->overrides, &run->n_overrides,
                dupf("interface.http_client=%s", name)) != 0) {
      rc = SBX_ENOMEM;
      goto fail;
    }
  }
  if (run->client != NULL && run->client != protobuf_c_empty_string)
    free(run->client);
  run->client = strdup(name);
  if (run->client == NULL) {
    run->client = (char *)protobuf_c_empty_string;
    rc = SBX_ENOMEM;
    goto fail;
  }
  rc = open_adapter(r, client, &adapter, diag);
  if (rc != 0)
    goto fail;
  run->state = SBX__V1__RUN_STATE__RUN_STATE_PREPARING;
  run->started_unix_ms = sbx_unix_ms();
  r->state = run->state;
  /* A run not stored yet gets its id only now that the adapter opened, so
   * that a mistyped URL leaves no run behind. */
  if (run->id == 0 && cfg->store != NULL &&
      (rc = sbx_store_new_run(cfg->store, run)) != 0) {
    sbx_diag_set(diag, "could not record the run: %s", sbx_strerror(rc));
    goto fail;
  }

  memset(&ecfg, 0, sizeof(ecfg));
  ecfg.scenario = cfg->scenario;
  ecfg.dataset = cfg->dataset;
  ecfg.load = run->load;
  ecfg.store = cfg->store;
  ecfg.run_id = run->id;
  ecfg.on_progress = on_progress;
  ecfg.progress_arg = r;
  rc = sbx_engine_start(loop, &ecfg, adapter, on_engine_done, r, &r->engine);
  /* the engine owns the adapter now, also on failure */
  if (rc != 0) {
    sbx_diag_set(diag, "could not start the run: %s", sbx_strerror(rc));
    adapter = NULL;
    goto fail;
  }
  /* The engine calls back from a later loop iteration, never from inside
   * sbx_engine_start, so the timer is ready in time. */
  uv_timer_init(loop, &r->defer);
  r->defer.data = r;
  if (cfg->store != NULL)
    (void)sbx_store_put_run(cfg->store, run);
  *out = r;
  return 0;
fail:
  if (adapter != NULL)
    adapter->ops->close(adapter, NULL);
  free(r->headers);
  free(r->auth_value);
  free(r);
  return rc;
}

void sbx_runner_cancel(struct sbx_runner *r) {
  if (r != NULL && r->engine != NULL)
    sbx_engine_cancel(r->engine);
}

void sbx_runner_free(struct sbx_runner *r) {
  if (r == NULL)
    return;
  sbx_engine_free(r->engine);
  if (r->res != NULL)
    sbx__v1__result__free_unpacked(r->res, NULL);
  free(r->headers);
  free(r->auth_value);
  free(r);
}
