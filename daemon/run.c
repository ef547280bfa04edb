/* run.c - one run, start to stored result. See run.h. */
#include "run.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "dataset.h"
#include "http_curl.h"
#include "digest.h"
#include "http_fast.h"
#include "plugin.h"
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

static int is_plugin(const Sbx__V1__Scenario *sc) {
  return sc->interface->kind == SBX__V1__INTERFACE_KIND__INTERFACE_KIND_PLUGIN;
}

/* A scenario names the kind of product it tests; the request must bring
 * that kind. */
static int check_product_kind(const Sbx__V1__Scenario *sc,
                              const struct sbx_run_request *rq,
                              struct sbx_diag *diag) {
  if (is_plugin(sc) && rq->plugin == NULL) {
    sbx_diag_set(diag,
                 "%s: %s@%s tests plugins (interface.kind: plugin); pass the "
                 "product as --plugin LIBRARY.so instead of --endpoint",
                 rq->scenario_path, sc->name, sc->version);
    return SBX_EINVAL;
  }
  if (!is_plugin(sc) && rq->endpoint == NULL) {
    sbx_diag_set(diag,
                 "%s: %s@%s tests HTTP endpoints (interface.kind: http); "
                 "pass the product as --endpoint http://HOST:PORT",
                 rq->scenario_path, sc->name, sc->version);
    return SBX_EINVAL;
  }
  return 0;
}

/* Names the product in the run: an endpoint by its URL, a plugin by its
 * path and the SHA-256 of its bytes (what was measured, exactly). */
static int product_identity(const Sbx__V1__Scenario *sc,
                            const struct sbx_run_request *rq,
                            Sbx__V1__Run *run, Sbx__V1__HttpClient *client,
                            struct sbx_diag *diag) {
  const char *name;
  if (is_plugin(sc)) {
    char *lib = NULL;
    size_t len = 0;
    uint8_t d[SBX_SHA256_BYTES];
    char hex[2 * SBX_SHA256_BYTES + 1];
    int rc = sbx__read_file(rq->plugin, (size_t)1 << 30, &lib, &len, NULL);
    if (rc != 0) {
      sbx_diag_set(diag,
                   "--plugin %s: not a readable regular file; pass the path "
                   "of the product's shared library (.so)",
                   rq->plugin);
      return rc == SBX_ENOMEM ? SBX_ENOMEM : SBX_EINVAL;
    }
    rc = sbx_sha256(lib, len, d);
    free(lib);
    if (rc != 0)
      return rc;
    for (size_t i = 0; i < sizeof(d); i++)
      snprintf(hex + 2 * i, 3, "%02x", d[i]);
    run->product = dupf("%s#sha256:%s", rq->plugin, hex);
    name = "plugin";
    *client = SBX__V1__HTTP_CLIENT__HTTP_CLIENT_AUTO;
  } else {
    run->product = strdup(rq->endpoint);
    *client =
        sbx_run_pick_client(sc->interface, rq->endpoint, rq->http_client);
    name = *client == SBX__V1__HTTP_CLIENT__HTTP_CLIENT_FAST ? "fast" : "curl";
    if (rq->http_client != SBX__V1__HTTP_CLIENT__HTTP_CLIENT_AUTO &&
        add_str(&run->overrides, &run->n_overrides,
                dupf("interface.http_client=%s", name)) != 0)
      return SBX_ENOMEM;
  }
  run->client = strdup(name);
  return run->product != NULL && run->client != NULL ? 0 : SBX_ENOMEM;
}

/* Opens the adapter that measures the product on loop. */
static int open_adapter(uv_loop_t *loop, const Sbx__V1__Scenario *sc,
                        const struct sbx_run_request *rq,
                        const Sbx__V1__Run *run, Sbx__V1__HttpClient client,
                        struct sbx_adapter **out, struct sbx_diag *diag) {
  uint32_t max = run->load->model == SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED
                     ? run->load->concurrency
                     : run->load->max_in_flight;
  if (is_plugin(sc)) {
    struct sbx_plugin_config pc;
    char *cfg = NULL;
    size_t cfg_len = 0;
    int rc;
    if (rq->plugin_config != NULL) {
      rc = sbx__read_file(rq->plugin_config, (size_t)64 << 20, &cfg, &cfg_len,
                          NULL);
      if (rc != 0) {
        sbx_diag_set(diag,
                     "--plugin-config %s: not a readable regular file of at "
                     "most 64MiB; pass the file whose bytes the plugin's "
                     "create() receives",
                     rq->plugin_config);
        return rc == SBX_ENOMEM ? SBX_ENOMEM : SBX_EINVAL;
      }
    }
    memset(&pc, 0, sizeof(pc));
    pc.library = rq->plugin;
    pc.config = (const uint8_t *)cfg;
    pc.config_len = cfg_len;
    pc.setup = sc->setup_bytes.data;
    pc.setup_len = sc->setup_bytes.len;
    pc.max_in_flight = max;
    pc.timeout_us = run->load->timeout_us;
    pc.max_response_bytes = sc->interface->max_body_bytes;
    pc.required_layers = (const char *const *)sc->required_layers;
    pc.n_required_layers = sc->n_required_layers;
    pc.transport = rq->plugin_ring ? SBX_PLUGIN_RING : SBX_PLUGIN_SOCKET;
    rc = sbx_plugin_open(loop, &pc, sbx_engine_adapter_done, NULL, out, diag);
    free(cfg);
    return rc;
  }
  {
    struct sbx_http_config hc;
    memset(&hc, 0, sizeof(hc));
    hc.base_url = rq->endpoint;
    hc.iface = sc->interface;
    hc.max_in_flight = max;
    hc.timeout_us = run->load->timeout_us;
    hc.max_body_bytes = sc->interface->max_body_bytes;
    hc.pipeline_depth = sc->interface->pipeline_depth;
    if (client == SBX__V1__HTTP_CLIENT__HTTP_CLIENT_FAST)
      return sbx_http_fast_open(loop, &hc, sbx_engine_adapter_done, NULL, out,
                                diag);
    return sbx_http_curl_open(loop, &hc, sbx_engine_adapter_done, NULL, out,
                              diag);
  }
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

int sbx_run_local(const struct sbx_run_request *rq, Sbx__V1__Result **out,
                  struct sbx_diag *diag) {
  Sbx__V1__Scenario *sc = NULL;
  struct sbx_dataset *ds = NULL;
  struct sbx_store *store = NULL;
  Sbx__V1__Run *run = NULL;
  Sbx__V1__Result *res = NULL;
  struct sbx_adapter *adapter = NULL;
  struct sbx_engine *engine = NULL;
  struct sbx_engine_config ecfg;
  struct run_ctx ctx;
  uv_loop_t loop;
  Sbx__V1__HttpClient client;
  int loop_open = 0;
  int rc;

  *out = NULL;
  memset(&ctx, 0, sizeof(ctx));
  rc = sbx_spec_load(rq->scenario_path, &sc, &ds, diag);
  if (rc != 0)
    goto out;
  rc = check_product_kind(sc, rq, diag);
  if (rc != 0)
    goto out;
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
  rc = product_identity(sc, rq, run, &client, diag);
  if (rc != 0)
    goto out;
  rc = SBX_ENOMEM;
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
  rc = open_adapter(&loop, sc, rq, run, client, &adapter, diag);
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
  if (jail_layers(res, sbx_engine_stats(engine)->layers) != 0)
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
