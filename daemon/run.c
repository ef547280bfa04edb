/* run.c - one run, start to stored result, for front ends that wait.
 * See run.h. */
#include "run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "digest.h"
#include "runner.h"
#include "spec.h"
#include "store.h"

struct run_ctx {
  const struct sbx_run_request *rq;
  int status;
  struct sbx_diag diag;
  Sbx__V1__Result *res;
  int done;
};

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

/* Names the product: an endpoint by its URL, a plugin by its path and the
 * SHA-256 of its bytes (what was measured, exactly). digest gets the
 * SHA-256 of the library, or of the URL. */
static int product_identity(const Sbx__V1__Scenario *sc,
                            const struct sbx_run_request *rq, char **id,
                            uint8_t digest[SBX_SHA256_BYTES],
                            struct sbx_diag *diag) {
  if (is_plugin(sc)) {
    char *lib = NULL;
    size_t len = 0, n;
    char hex[2 * SBX_SHA256_BYTES + 1];
    int rc = sbx__read_file(rq->plugin, (size_t)1 << 30, &lib, &len, NULL);
    if (rc != 0) {
      sbx_diag_set(diag,
                   "--plugin %s: not a readable regular file; pass the path "
                   "of the product's shared library (.so)",
                   rq->plugin);
      return rc == SBX_ENOMEM ? SBX_ENOMEM : SBX_EINVAL;
    }
    rc = sbx_sha256(lib, len, digest);
    free(lib);
    if (rc != 0)
      return rc;
    for (size_t i = 0; i < SBX_SHA256_BYTES; i++)
      snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    n = strlen(rq->plugin) + sizeof(hex) + 16;
    if ((*id = malloc(n)) == NULL)
      return SBX_ENOMEM;
    snprintf(*id, n, "%s#sha256:%s", rq->plugin, hex);
    return 0;
  }
  if (sbx_sha256(rq->endpoint, strlen(rq->endpoint), digest) != 0)
    return SBX_ENOMEM;
  *id = strdup(rq->endpoint);
  return *id != NULL ? 0 : SBX_ENOMEM;
}

static void on_done(struct sbx_runner *r, int status, Sbx__V1__Result *res,
                    const struct sbx_diag *diag, void *arg) {
  struct run_ctx *c = arg;
  (void)r;
  c->status = status;
  c->res = res;
  c->done = 1;
  if (status != 0)
    c->diag = *diag;
}

int sbx_run_local(const struct sbx_run_request *rq, Sbx__V1__Result **out,
                  struct sbx_diag *diag) {
  Sbx__V1__Scenario *sc = NULL;
  struct sbx_dataset *ds = NULL;
  struct sbx_store *store = NULL;
  Sbx__V1__Run *run = NULL;
  struct sbx_runner *runner = NULL;
  struct sbx_runner_config rcfg;
  struct sbx_runner_product prod;
  struct run_ctx ctx;
  uint8_t digest[SBX_SHA256_BYTES];
  char *product_id = NULL;
  char *cfg = NULL;
  size_t cfg_len = 0;
  uv_loop_t loop;
  int loop_open = 0;
  int rc;

  *out = NULL;
  memset(&ctx, 0, sizeof(ctx));
  ctx.rq = rq;
  rc = sbx_spec_load(rq->scenario_path, &sc, &ds, diag);
  if (rc != 0)
    goto out;
  rc = check_product_kind(sc, rq, diag);
  if (rc != 0)
    goto out;
  rc = product_identity(sc, rq, &product_id, digest, diag);
  if (rc != 0)
    goto out;
  if (is_plugin(sc) && rq->plugin_config != NULL) {
    rc = sbx__read_file(rq->plugin_config, (size_t)64 << 20, &cfg, &cfg_len,
                        NULL);
    if (rc != 0) {
      sbx_diag_set(diag,
                   "--plugin-config %s: not a readable regular file of at "
                   "most 64MiB; pass the file whose bytes the plugin's "
                   "create() receives",
                   rq->plugin_config);
      rc = rc == SBX_ENOMEM ? SBX_ENOMEM : SBX_EINVAL;
      goto out;
    }
  }
  rc = SBX_ENOMEM;
  run = malloc(sizeof(*run));
  if (run == NULL)
    goto out;
  sbx__v1__run__init(run);
  if ((rc = sbx_runner_effective_load(sc, &rq->overrides, run)) != 0)
    goto out;
  rc = SBX_ENOMEM;
  run->product = product_id;
  product_id = NULL;
  {
    size_t n = strlen(sc->name) + strlen(sc->version) + 2;
    if ((run->scenario = malloc(n)) == NULL)
      goto out;
    snprintf(run->scenario, n, "%s@%s", sc->name, sc->version);
  }
  run->scenario_digest.data = malloc(sc->digest.len ? sc->digest.len : 1);
  if (run->scenario_digest.data == NULL)
    goto out;
  memcpy(run->scenario_digest.data, sc->digest.data, sc->digest.len);
  run->scenario_digest.len = sc->digest.len;
  run->created_unix_ms = sbx_unix_ms();

  rc = sbx_store_open(rq->data_dir, &store, diag);
  if (rc != 0)
    goto out;
  rc = SBX_EIO;
  if (uv_loop_init(&loop) != 0) {
    sbx_diag_set(diag, "could not create an event loop");
    goto out;
  }
  loop_open = 1;

  memset(&prod, 0, sizeof(prod));
  prod.id = run->product;
  prod.digest = digest;
  prod.digest_len = sizeof(digest);
  prod.endpoint = rq->endpoint;
  prod.plugin = rq->plugin;
  prod.plugin_config = (const uint8_t *)cfg;
  prod.plugin_config_len = cfg_len;
  prod.plugin_ring = rq->plugin_ring;
  memset(&rcfg, 0, sizeof(rcfg));
  rcfg.scenario = sc;
  rcfg.dataset = ds;
  rcfg.run = run;
  rcfg.product = &prod;
  rcfg.store = store;
  rcfg.http_client = rq->http_client;
  rcfg.on_progress = rq->on_progress;
  rcfg.progress_arg = rq->progress_arg;
  rcfg.on_done = on_done;
  rcfg.arg = &ctx;
  rc = sbx_runner_start(&loop, &rcfg, &runner, diag);
  if (rc != 0)
    goto out;
  uv_run(&loop, UV_RUN_DEFAULT);

  if (!ctx.done || ctx.res == NULL) {
    rc = ctx.status != 0 ? ctx.status : SBX_ENOMEM;
    sbx_diag_set(diag, "%s", ctx.diag.msg[0] ? ctx.diag.msg
                                             : "out of memory after the run");
    goto out;
  }
  rc = sbx_store_finish_run(store, run, ctx.res, NULL, 0);
  if (rc != 0) {
    sbx_diag_set(diag, "%s: could not store the result: %s", rq->data_dir,
                 sbx_strerror(rc));
    goto out;
  }
  rc = 0;

out:
  if (loop_open) {
    uv_run(&loop, UV_RUN_DEFAULT); /* let close callbacks run */
    if (uv_loop_close(&loop) != 0 && rc == 0)
      fprintf(stderr, "sbx: warning: event loop closed with live handles\n");
  }
  sbx_runner_free(runner);
  if (store != NULL) {
    int crc = sbx_store_close(store);
    if (crc != 0 && rc == 0) {
      sbx_diag_set(diag, "%s: could not close the store: %s", rq->data_dir,
                   sbx_strerror(crc));
      rc = SBX_ESTORE;
    }
  }
  if (rc == 0) {
    *out = ctx.res;
    ctx.res = NULL;
  }
  if (ctx.res != NULL)
    sbx__v1__result__free_unpacked(ctx.res, NULL);
  if (run != NULL)
    sbx__v1__run__free_unpacked(run, NULL);
  free(product_id);
  free(cfg);
  sbx_scenario_free(sc);
  sbx_dataset_free(ds);
  return rc;
}
