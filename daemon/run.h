/* run.h - one run, start to stored result, for front ends that wait.
 *
 * sbx_run_local() loads a scenario, opens the store and an adapter for the
 * product, drives the engine on a private loop until the run ends, verifies
 * it and stores the run record and its result. `sbx test` is a thin shell
 * around it; the daemon schedules the same pieces asynchronously.
 */
#ifndef SBX_RUN_H
#define SBX_RUN_H

#include <stdint.h>

#include "engine.h"
#include "runner.h"
#include "err.h"
#include "sbx/v1/result.pb-c.h"
#include "sbx/v1/scenario.pb-c.h"

struct sbx_run_request {
  const char *scenario_path; /* directory with spec.yaml, or a .yaml file */
  const char *endpoint;      /* http://host:port of an endpoint product */
  const char *plugin;        /* or: the plugin product's shared library */
  const char *plugin_config; /* file whose bytes the plugin's create() gets */
  int plugin_ring;           /* plugin IPC over the shared-memory ring */
  const char *data_dir;      /* LMDB store */
  struct sbx_load_overrides overrides;
  /* HTTP_CLIENT_AUTO follows the spec's interface.http_client (itself auto
   * by default: the fast client for plain http://, libcurl otherwise);
   * CURL or FAST force one and are recorded as an override. */
  Sbx__V1__HttpClient http_client;
  void (*on_progress)(const struct sbx_progress *p, void *arg);
  void *progress_arg;
};

/* Runs rq to the end. Returns 0 with *out set (a malloc'd Result the caller
 * frees with sbx__v1__result__free_unpacked(*out, NULL)) whenever the run
 * got as far as a verdict, ERROR included (the product could not be
 * reached, the store failed mid-run: error_message says why). Returns
 * SBX_ESPEC, SBX_EDATASET, SBX_ENOENT or SBX_EINVAL for bad input and
 * SBX_ESTORE or SBX_ENOMEM when the run could not start; diag explains, and
 * *out is NULL. */
int sbx_run_local(const struct sbx_run_request *rq, Sbx__V1__Result **out,
                  struct sbx_diag *diag);

#endif
