/* test_scheduler.c - the daemon's queue of runs on a real loop, store and
 * signer, measuring sbx_faultd on loopback.
 *
 * Each case gets a fresh mkdtemp() directory holding the store and a key
 * pair, two published scenarios (tiny: 200 ms of measuring; slow: a minute,
 * for cancel and stop) and endpoint products, and creates its runs QUEUED the
 * way api.c's new_run does. The hooks record every event in order, so the
 * checks are about order and content, never about how long anything took;
 * a generous deadline only keeps a broken scheduler from hanging the test. */
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "registry.h"
#include "scheduler.h"
#include "sign.h"
#include "store.h"
#include "testlib.h"

#include "faultd.h"

#define MAX_EV 4096
#define MAX_FIN 16
#define DEADLINE_S 60.0

enum { K_STATE, K_PROGRESS, K_RESULT, K_FINISHED };

struct rec {
  uint64_t run;
  int kind;
  int state;     /* K_STATE: the state; K_PROGRESS: the phase */
  uint32_t pos;  /* sbx_sched_position of env.watch at that moment */
  int verify_rc; /* K_RESULT: the signed result against the key */
};

struct fin {
  uint64_t run;
  int state;
  char reason[512];
  int has_res, has_sr;
  int verdict;
  char error[512];
  int verify_rc;      /* sbx_sign_verify of sr */
  int payload_is_res; /* the verified payload is res */
  int bytes_ok;       /* sr_bytes: sr packed, and what the store holds */
  int signed_stored;  /* SBX_STORE_SIGNED holds bytes for the run */
  int result_stored;  /* sbx_store_get_result finds one */
  int stored_state;   /* the run as stored when the hook ran */
};

struct env {
  char root[64], data[128], keys[128];
  uv_loop_t loop;
  uv_timer_t guard; /* keeps UV_RUN_ONCE from blocking for long */
  struct sbx_store *store;
  struct sbx_signer *signer;
  struct sbx_sched *s;
  struct rec ev[MAX_EV];
  size_t n_ev;
  struct fin fin[MAX_FIN];
  size_t n_fin;
  unsigned max_running;
  uint64_t watch;       /* run whose queue position events record */
  int progress_lookups; /* sbx_sched_progress found the run's progress */
  int stopped;
};

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

/* ---- hooks ---- */

static struct rec *add_rec(struct env *e, uint64_t run, int kind, int state) {
  struct rec *r;
  unsigned running = e->s != NULL ? sbx_sched_running(e->s) : 0;
  if (running > e->max_running)
    e->max_running = running;
  if (e->n_ev == MAX_EV)
    return NULL;
  r = &e->ev[e->n_ev++];
  memset(r, 0, sizeof(*r));
  r->run = run;
  r->kind = kind;
  r->state = state;
  r->pos =
      e->s != NULL && e->watch != 0 ? sbx_sched_position(e->s, e->watch) : 0;
  return r;
}

static void on_event(const Sbx__V1__RunEvent *ev, void *arg) {
  struct env *e = arg;
  struct rec *r;
  Sbx__V1__Progress p;
  switch (ev->event_case) {
  case SBX__V1__RUN_EVENT__EVENT_STATE:
    add_rec(e, ev->run_id, K_STATE, ev->state);
    break;
  case SBX__V1__RUN_EVENT__EVENT_PROGRESS:
    add_rec(e, ev->run_id, K_PROGRESS, ev->progress->phase);
    if (sbx_sched_progress(e->s, ev->run_id, &p) == 0 &&
        p.phase == ev->progress->phase)
      e->progress_lookups++;
    break;
  case SBX__V1__RUN_EVENT__EVENT_RESULT:
    r = add_rec(e, ev->run_id, K_RESULT, 0);
    if (r != NULL)
      r->verify_rc = sbx_sign_verify(
          ev->result, sbx_signer_public_key(e->signer), NULL, NULL);
    break;
  default:
    add_rec(e, ev->run_id, -1, 0);
    break;
  }
}

static void be64(uint8_t k[8], uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8)
    k[i] = (uint8_t)v;
}

static void on_finished(const Sbx__V1__Run *run, const Sbx__V1__Result *res,
                        const Sbx__V1__SignedResult *sr,
                        const uint8_t *sr_bytes, size_t sr_len, void *arg) {
  struct env *e = arg;
  struct fin *f;
  Sbx__V1__Run *stored = NULL;
  Sbx__V1__Result *sres = NULL;
  uint8_t key[8];
  void *val = NULL;
  size_t vlen = 0;

  add_rec(e, run->id, K_FINISHED, run->state);
  if (e->n_fin == MAX_FIN)
    return;
  f = &e->fin[e->n_fin++];
  memset(f, 0, sizeof(*f));
  f->run = run->id;
  f->state = run->state;
  snprintf(f->reason, sizeof(f->reason), "%s", run->reason);
  f->has_res = res != NULL;
  f->has_sr = sr != NULL;
  f->verify_rc = 1;
  if (res != NULL) {
    f->verdict = res->verdict;
    snprintf(f->error, sizeof(f->error), "%s", res->error_message);
  }
  if (sr != NULL) {
    Sbx__V1__Result *vres = NULL;
    struct sbx_diag d = {""};
    f->verify_rc =
        sbx_sign_verify(sr, sbx_signer_public_key(e->signer), &vres, &d);
    if (vres != NULL && res != NULL) {
      size_t n = sbx__v1__result__get_packed_size(res);
      uint8_t *buf = malloc(n ? n : 1);
      if (buf != NULL) {
        sbx__v1__result__pack(res, buf);
        /* The signed payload is res, byte for byte. */
        f->payload_is_res = n == sr->payload.len &&
                            memcmp(buf, sr->payload.data, n) == 0 &&
                            vres->run_id == run->id;
        free(buf);
      }
    }
    if (vres != NULL)
      sbx__v1__result__free_unpacked(vres, NULL);
  }
  be64(key, run->id);
  if (sbx_store_kv_get(e->store, SBX_STORE_SIGNED, key, sizeof(key), &val,
                       &vlen) == 0) {
    f->signed_stored = 1;
    if (sr != NULL) {
      size_t n = sbx__v1__signed_result__get_packed_size(sr);
      uint8_t *buf = malloc(n ? n : 1);
      if (buf != NULL) {
        sbx__v1__signed_result__pack(sr, buf);
        f->bytes_ok = sr_bytes != NULL && sr_len == n && vlen == n &&
                      memcmp(buf, sr_bytes, n) == 0 &&
                      memcmp(val, sr_bytes, n) == 0;
        free(buf);
      }
    }
    free(val);
  } else {
    f->bytes_ok = sr == NULL && sr_bytes == NULL && sr_len == 0;
  }
  if (sbx_store_get_result(e->store, run->id, &sres) == 0) {
    f->result_stored = res != NULL && sres->verdict == res->verdict ? 1 : -1;
    sbx__v1__result__free_unpacked(sres, NULL);
  }
  if (sbx_store_get_run(e->store, run->id, &stored) == 0) {
    f->stored_state = stored->state;
    sbx__v1__run__free_unpacked(stored, NULL);
  }
}

static void on_log(void *arg, const char *level, const char *event,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void on_log(void *arg, const char *level, const char *event,
                   const char *fmt, ...) {
  va_list ap;
  (void)arg;
  if (getenv("SBX_TEST_VERBOSE") == NULL)
    return;
  fprintf(stderr, "log %s %s: ", level, event);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* ---- set-up ---- */

static const char tiny_spec[] = "name: tiny\n"
                                "version: \"1.0.0\"\n"
                                "title: Tiny\n"
                                "interface:\n"
                                "  kind: http\n"
                                "  path: \"{path}\"\n"
                                "dataset:\n"
                                "  path: d.jsonl\n"
                                "load:\n"
                                "  model: closed\n"
                                "  concurrency: 2\n"
                                "  warmup: 0s\n"
                                "  min_duration: 200ms\n"
                                "  timeout: 2s\n";

static const char tiny_ds[] =
    "{\"id\":\"a\",\"path\":\"/ok/a\",\"expect\":{\"status\":200,"
    "\"exact\":\"ok:a\\n\"}}\n"
    "{\"id\":\"b\",\"path\":\"/ok/b\",\"expect\":{\"status\":200,"
    "\"exact\":\"ok:b\\n\"}}\n";

/* A minute of measuring, about 100 requests a second: only ever canceled
 * or stopped. */
static const char slow_spec[] = "name: slow\n"
                                "version: \"1.0.0\"\n"
                                "title: Slow\n"
                                "interface:\n"
                                "  kind: http\n"
                                "  path: \"{path}\"\n"
                                "dataset:\n"
                                "  path: d.jsonl\n"
                                "load:\n"
                                "  model: closed\n"
                                "  concurrency: 1\n"
                                "  warmup: 0s\n"
                                "  min_duration: 60s\n"
                                "  max_duration: 120s\n"
                                "  timeout: 2s\n";

static const char slow_ds[] =
    "{\"id\":\"a\",\"path\":\"/slow/10/a\",\"expect\":{\"status\":200,"
    "\"exact\":\"ok:a\\n\"}}\n";

static void publish(struct env *e, const char *spec, const char *ds) {
  Sbx__V1__PublishScenarioRequest rq = SBX__V1__PUBLISH_SCENARIO_REQUEST__INIT;
  struct sbx_diag d = {""};
  int rc;
  rq.spec.data = (uint8_t *)spec;
  rq.spec.len = strlen(spec);
  rq.dataset.data = (uint8_t *)ds;
  rq.dataset.len = strlen(ds);
  rc = sbx_registry_publish(e->store, &rq, "api", NULL, &d);
  if (rc != 0)
    fprintf(stderr, "publish: %s\n", d.msg);
  CHECK_EQ_INT(rc, 0);
}

static void register_endpoint(struct env *e, const char *name,
                              const char *url) {
  Sbx__V1__RegisterProductRequest rq = SBX__V1__REGISTER_PRODUCT_REQUEST__INIT;
  Sbx__V1__Product p = SBX__V1__PRODUCT__INIT;
  Sbx__V1__Endpoint ep = SBX__V1__ENDPOINT__INIT;
  struct sbx_diag d = {""};
  int rc;
  p.vendor = "acme";
  p.name = (char *)name;
  p.version = "1";
  p.kind = SBX__V1__PRODUCT_KIND__PRODUCT_KIND_ENDPOINT;
  p.endpoint = &ep;
  ep.url = (char *)url;
  rq.product = &p;
  rc = sbx_registry_register(e->store, e->data, &rq, NULL, &d);
  if (rc != 0)
    fprintf(stderr, "register: %s\n", d.msg);
  CHECK_EQ_INT(rc, 0);
}

static void register_plugin(struct env *e) {
  static const uint8_t lib[] = "\177ELF\2\1\1\0not really a library";
  Sbx__V1__RegisterProductRequest rq = SBX__V1__REGISTER_PRODUCT_REQUEST__INIT;
  Sbx__V1__Product p = SBX__V1__PRODUCT__INIT;
  struct sbx_diag d = {""};
  p.vendor = "acme";
  p.name = "plug";
  p.version = "1";
  p.kind = SBX__V1__PRODUCT_KIND__PRODUCT_KIND_PLUGIN;
  rq.product = &p;
  rq.library.data = (uint8_t *)lib;
  rq.library.len = sizeof(lib);
  CHECK_EQ_INT(sbx_registry_register(e->store, e->data, &rq, NULL, &d), 0);
}

/* A loopback port that refuses connections (nothing listens on it). */
static int dead_port(void) {
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
      getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
    port = ntohs(sa.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

static void guard_tick(uv_timer_t *t) {
  (void)t;
}

static int open_store(struct env *e) {
  struct sbx_diag d = {""};
  int rc = sbx_store_open(e->data, &e->store, &d);
  if (rc != 0)
    fprintf(stderr, "store: %s\n", d.msg);
  CHECK_EQ_INT(rc, 0);
  return rc;
}

/* Store, key pair, scenarios and products; no scheduler yet. */
static int env_open(struct env *e) {
  struct sbx_diag d = {""};
  char url[64];
  int rc;

  memset(e, 0, sizeof(*e));
  snprintf(e->root, sizeof(e->root), "/tmp/sbx-test-sched.XXXXXX");
  if (mkdtemp(e->root) == NULL) {
    perror("mkdtemp");
    return -1;
  }
  snprintf(e->data, sizeof(e->data), "%s/data", e->root);
  snprintf(e->keys, sizeof(e->keys), "%s/keys", e->root);
  if (open_store(e) != 0)
    return -1;
  rc = sbx_sign_keygen(e->keys, &d);
  if (rc == 0)
    rc = sbx_signer_load(e->keys, &e->signer, &d);
  if (rc != 0) {
    fprintf(stderr, "signer: %s\n", d.msg);
    CHECK_EQ_INT(rc, 0);
    return -1;
  }
  publish(e, tiny_spec, tiny_ds);
  publish(e, slow_spec, slow_ds);
  register_endpoint(e, "web", base_url);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d", dead_port());
  register_endpoint(e, "dead", url);
  register_plugin(e);
  CHECK_EQ_INT(uv_loop_init(&e->loop), 0);
  uv_timer_init(&e->loop, &e->guard);
  uv_timer_start(&e->guard, guard_tick, 50, 50);
  return 0;
}

static void env_sched(struct env *e, unsigned lanes) {
  struct sbx_sched_config cfg = {.lanes = lanes, .data_dir = e->data};
  struct sbx_sched_hooks hooks = {.on_event = on_event,
                                  .on_finished = on_finished,
                                  .log = on_log,
                                  .arg = e};
  CHECK_EQ_INT(
      sbx_sched_open(&e->loop, e->store, e->signer, &cfg, &hooks, &e->s), 0);
}

static void on_stopped(void *arg) {
  ((struct env *)arg)->stopped++;
}

/* Stops the scheduler (if any) and the loop; asserts that nothing leaked. */
static void env_stop(struct env *e) {
  uv_close((uv_handle_t *)&e->guard, NULL);
  if (e->s != NULL) {
    sbx_sched_stop(e->s, on_stopped, e);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(e->stopped, 1);
    sbx_sched_free(e->s);
    e->s = NULL;
  } else {
    uv_run(&e->loop, UV_RUN_DEFAULT);
  }
  CHECK_EQ_INT(uv_loop_close(&e->loop), 0);
}

static void env_close(struct env *e) {
  sbx_signer_free(e->signer);
  CHECK_EQ_INT(sbx_store_close(e->store), 0);
  nftw(e->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Stores a QUEUED run of scenario for product as api.c's new_run does
 * (state may differ, to plant what a crash leaves). Returns its id. */
static uint64_t store_run_ov(struct env *e, const char *scenario,
                             const char *product, Sbx__V1__RunState state,
                             const Sbx__V1__LoadOverrides *o) {
  Sbx__V1__Run run = SBX__V1__RUN__INIT;
  Sbx__V1__LoadOverrides ov = SBX__V1__LOAD_OVERRIDES__INIT;
  Sbx__V1__ScenarioInfo *si = NULL;
  char vendor[80] = "";
  uint8_t nodigest[1] = {0};

  sbx_registry_parse_product_id(product, vendor, sizeof(vendor), NULL);
  if (sbx_registry_find_scenario(e->store, scenario, &si, NULL) == 0) {
    run.scenario_digest = si->digest;
  } else {
    run.scenario_digest.data = nodigest;
    run.scenario_digest.len = 0;
  }
  run.scenario = (char *)scenario;
  run.product = (char *)product;
  run.vendor = vendor;
  run.dataset = "public";
  run.requested_by = "test-token";
  if (o != NULL)
    ov = *o;
  run.requested = &ov;
  run.state = state;
  run.published = 1;
  run.created_unix_ms = sbx_unix_ms();
  CHECK_EQ_INT(sbx_store_new_run(e->store, &run), 0);
  if (si != NULL)
    sbx__v1__scenario_info__free_unpacked(si, NULL);
  return run.id;
}

static uint64_t store_run(struct env *e, const char *scenario,
                          const char *product, Sbx__V1__RunState state) {
  return store_run_ov(e, scenario, product, state, NULL);
}

static uint64_t queue_run(struct env *e, const char *scenario,
                          const char *product) {
  uint64_t id =
      store_run(e, scenario, product, SBX__V1__RUN_STATE__RUN_STATE_QUEUED);
  CHECK_EQ_INT(sbx_sched_enqueue(e->s, id), 0);
  return id;
}

/* ---- waiting and looking ---- */

static const struct fin *fin_of(const struct env *e, uint64_t run) {
  for (size_t i = 0; i < e->n_fin; i++)
    if (e->fin[i].run == run)
      return &e->fin[i];
  return NULL;
}

static int finished(struct env *e, uint64_t n) {
  return e->n_fin >= n;
}

static int saw_measuring(struct env *e, uint64_t run) {
  for (size_t i = 0; i < e->n_ev; i++)
    if (e->ev[i].run == run && e->ev[i].kind == K_STATE &&
        e->ev[i].state == SBX__V1__RUN_STATE__RUN_STATE_MEASURING)
      return 1;
  return 0;
}

/* Runs the loop until pred holds; 0 if it never did before the deadline
 * (a hang guard, not a timing assertion). */
static int run_until(struct env *e, int (*pred)(struct env *, uint64_t),
                     uint64_t arg) {
  uint64_t deadline = uv_hrtime() + (uint64_t)(DEADLINE_S * 1e9);
  while (!pred(e, arg) && uv_hrtime() < deadline)
    uv_run(&e->loop, UV_RUN_ONCE);
  if (!pred(e, arg)) {
    fprintf(stderr, "timed out waiting\n");
    return 0;
  }
  return 1;
}

/* Index of the first (or last) record of run of kind (any state if state
 * < 0); -1 if none. */
static long find_rec(const struct env *e, uint64_t run, int kind, int state,
                     int last) {
  long found = -1;
  for (size_t i = 0; i < e->n_ev; i++)
    if (e->ev[i].run == run && e->ev[i].kind == kind &&
        (state < 0 || e->ev[i].state == state)) {
      found = (long)i;
      if (!last)
        break;
    }
  return found;
}

static long first_event(const struct env *e, uint64_t run) {
  for (size_t i = 0; i < e->n_ev; i++)
    if (e->ev[i].run == run)
      return (long)i;
  return -1;
}

static int count_rec(const struct env *e, uint64_t run, int kind) {
  int n = 0;
  for (size_t i = 0; i < e->n_ev; i++)
    n += e->ev[i].run == run && e->ev[i].kind == kind;
  return n;
}

static int stored_state(struct env *e, uint64_t id) {
  Sbx__V1__Run *run = NULL;
  int state = -1;
  if (sbx_store_get_run(e->store, id, &run) == 0) {
    state = run->state;
    sbx__v1__run__free_unpacked(run, NULL);
  }
  return state;
}

#define S(x) SBX__V1__RUN_STATE__RUN_STATE_##x

/* ---- cases ---- */

static void test_one_run(void) {
  struct env e;
  const struct fin *f;
  Sbx__V1__Run *run = NULL;
  Sbx__V1__Result *res = NULL;
  Sbx__V1__Progress p;
  uint64_t id, samples = 0;
  long i, done_state, result_ev;

  if (env_open(&e) != 0)
    return;
  env_sched(&e, 1);
  CHECK_EQ_INT(sbx_sched_resume(e.s), 0);
  CHECK_EQ_INT(sbx_sched_queued(e.s), 0);
  id = queue_run(&e, "tiny@1.0.0", "acme/web@1");
  CHECK(id > 0);
  CHECK_EQ_INT(sbx_sched_queued(e.s), 1);
  CHECK(run_until(&e, finished, 1));

  f = fin_of(&e, id);
  CHECK(f != NULL);
  if (f != NULL) {
    if (f->state != S(DONE))
      fprintf(stderr, "state %d: %s / %s\n", f->state, f->reason, f->error);
    CHECK_EQ_INT(f->state, S(DONE));
    CHECK(f->has_res && f->has_sr);
    CHECK(f->verdict != SBX__V1__VERDICT__VERDICT_ERROR &&
          f->verdict != SBX__V1__VERDICT__VERDICT_UNSPECIFIED);
    CHECK_EQ_INT(f->verify_rc, 0);
    CHECK(f->payload_is_res);
    CHECK(f->bytes_ok);
    CHECK(f->signed_stored);
    CHECK_EQ_INT(f->result_stored, 1);
    CHECK_EQ_INT(f->stored_state, S(DONE));
  }

  /* States in order: PREPARING first, then only forward, DONE last, then
   * the signed result. (Phase changes reach the scheduler with the
   * engine's progress ticks, so a phase as short as this run's 200 ms of
   * measuring may be skipped; the slow runs below do show MEASURING.) */
  CHECK_EQ_INT(find_rec(&e, id, K_STATE, -1, 0),
               find_rec(&e, id, K_STATE, S(PREPARING), 0));
  CHECK(find_rec(&e, id, K_STATE, S(PREPARING), 0) >= 0);
  {
    int prev = 0;
    for (i = 0; i < (long)e.n_ev; i++)
      if (e.ev[i].run == id && e.ev[i].kind == K_STATE) {
        CHECK(e.ev[i].state > prev);
        prev = e.ev[i].state;
      }
  }
  done_state = find_rec(&e, id, K_STATE, S(DONE), 0);
  CHECK(done_state > find_rec(&e, id, K_STATE, S(PREPARING), 0));
  CHECK_EQ_INT(find_rec(&e, id, K_STATE, -1, 1), done_state);
  result_ev = find_rec(&e, id, K_RESULT, -1, 0);
  CHECK(result_ev > done_state);
  CHECK_EQ_INT(count_rec(&e, id, K_RESULT), 1);
  if (result_ev >= 0)
    CHECK_EQ_INT(e.ev[result_ev].verify_rc, 0);
  CHECK(find_rec(&e, id, K_FINISHED, S(DONE), 0) > result_ev);
  /* Progress while it ran, readable for a new watcher. */
  CHECK(count_rec(&e, id, K_PROGRESS) >= 1);
  CHECK(e.progress_lookups >= 1);
  for (i = 0; i < (long)e.n_ev; i++)
    if (e.ev[i].kind == K_PROGRESS)
      CHECK(i < done_state);
  CHECK_EQ_INT(e.max_running, 1);
  if (getenv("SBX_TEST_VERBOSE") != NULL)
    for (i = 0; i < (long)e.n_ev; i++)
      fprintf(stderr, "ev %ld: run %llu kind %d state %d\n", i,
              (unsigned long long)e.ev[i].run, e.ev[i].kind, e.ev[i].state);

  /* Ended: nothing running, nothing to watch, nothing to cancel. */
  CHECK_EQ_INT(sbx_sched_running(e.s), 0);
  CHECK_EQ_INT(sbx_sched_queued(e.s), 0);
  CHECK_EQ_INT(sbx_sched_progress(e.s, id, &p), SBX_ENOENT);
  CHECK_EQ_INT(sbx_sched_cancel(e.s, id), SBX_ESTATE);
  CHECK_EQ_INT(sbx_sched_cancel(e.s, 9999), SBX_ENOENT);

  /* The stored run and result. */
  CHECK_EQ_INT(sbx_store_get_run(e.store, id, &run), 0);
  if (run != NULL) {
    CHECK_EQ_INT(run->state, S(DONE));
    CHECK(run->started_unix_ms > 0);
    CHECK(run->ended_unix_ms >= run->started_unix_ms);
    CHECK_EQ_STR(run->client, "fast");
    CHECK(run->load != NULL);
    CHECK_EQ_STR(run->reason, "");
    sbx__v1__run__free_unpacked(run, NULL);
  }
  CHECK_EQ_INT(sbx_store_get_result(e.store, id, &res), 0);
  if (res != NULL) {
    CHECK_EQ_INT(res->run_id, id);
    CHECK_EQ_STR(res->scenario, "tiny");
    CHECK_EQ_STR(res->scenario_version, "1.0.0");
    CHECK_EQ_STR(res->product, "acme/web@1");
    CHECK_EQ_STR(res->dataset, "public");
    CHECK(res->metrics != NULL && res->metrics->requests > 0);
    if (res->metrics != NULL)
      CHECK_EQ_INT(res->metrics->errors, 0);
    sbx__v1__result__free_unpacked(res, NULL);
  }
  CHECK_EQ_INT(sbx_store_flush(e.store), 0);
  CHECK_EQ_INT(sbx_store_count_samples(e.store, id, &samples), 0);
  CHECK(samples > 0);

  env_stop(&e);
  env_close(&e);
}

/* lanes = 1: the second run starts only once the first has ended. */
static void test_serial(void) {
  struct env e;
  uint64_t a, b;
  long a_prog;

  if (env_open(&e) != 0)
    return;
  env_sched(&e, 1);
  CHECK_EQ_INT(sbx_sched_resume(e.s), 0);
  a = queue_run(&e, "tiny@1.0.0", "acme/web@1");
  b = queue_run(&e, "tiny@1.0.0", "acme/web@1");
  e.watch = b;
  CHECK_EQ_INT(sbx_sched_queued(e.s), 2);
  CHECK_EQ_INT(sbx_sched_position(e.s, a), 0);
  CHECK_EQ_INT(sbx_sched_position(e.s, b), 1);
  CHECK(run_until(&e, finished, 2));

  CHECK_EQ_INT(e.n_fin, 2);
  if (e.n_fin == 2) {
    CHECK_EQ_INT(e.fin[0].run, a);
    CHECK_EQ_INT(e.fin[1].run, b);
    CHECK_EQ_INT(e.fin[0].state, S(DONE));
    CHECK_EQ_INT(e.fin[1].state, S(DONE));
  }
  /* Nothing of b happened before a had finished. */
  CHECK(first_event(&e, b) > find_rec(&e, a, K_FINISHED, -1, 0));
  CHECK(find_rec(&e, a, K_FINISHED, -1, 0) >= 0);
  CHECK_EQ_INT(e.max_running, 1);
  /* While a ran, b waited behind it. */
  a_prog = find_rec(&e, a, K_PROGRESS, -1, 0);
  CHECK(a_prog >= 0);
  if (a_prog >= 0)
    CHECK_EQ_INT(e.ev[a_prog].pos, 1);
  env_stop(&e);
  env_close(&e);
}

/* lanes = 2: both measure at once. */
static void test_two_lanes(void) {
  struct env e;
  uint64_t a, b;

  if (env_open(&e) != 0)
    return;
  env_sched(&e, 2);
  CHECK_EQ_INT(sbx_sched_resume(e.s), 0);
  a = queue_run(&e, "tiny@1.0.0", "acme/web@1");
  b = queue_run(&e, "tiny@1.0.0", "acme/web@1");
  CHECK(run_until(&e, finished, 2));
  CHECK(find_rec(&e, b, K_STATE, S(PREPARING), 0) <
        find_rec(&e, a, K_FINISHED, -1, 0));
  CHECK_EQ_INT(e.max_running, 2);
  CHECK(fin_of(&e, a) != NULL && fin_of(&e, a)->state == S(DONE));
  CHECK(fin_of(&e, b) != NULL && fin_of(&e, b)->state == S(DONE));
  env_stop(&e);
  env_close(&e);
}

static void test_cancel(void) {
  struct env e;
  const struct fin *f;
  uint64_t a, b, c;
  Sbx__V1__Result *res = NULL;

  if (env_open(&e) != 0)
    return;
  env_sched(&e, 1);
  CHECK_EQ_INT(sbx_sched_resume(e.s), 0);

  /* Canceled before the loop ever ran: it never starts. */
  c = queue_run(&e, "tiny@1.0.0", "acme/web@1");
  CHECK_EQ_INT(sbx_sched_cancel(e.s, c), 0);
  CHECK_EQ_INT(sbx_sched_queued(e.s), 0);
  f = fin_of(&e, c);
  CHECK(f != NULL);
  if (f != NULL) {
    CHECK_EQ_INT(f->state, S(CANCELED));
    CHECK(!f->has_res && !f->has_sr);
    CHECK(f->bytes_ok);
    CHECK(!f->signed_stored && !f->result_stored);
    CHECK_EQ_INT(f->stored_state, S(CANCELED));
    CHECK(strstr(f->reason, "queued") != NULL);
  }

  a = queue_run(&e, "slow@1.0.0", "acme/web@1");
  b = queue_run(&e, "tiny@1.0.0", "acme/web@1");
  CHECK(run_until(&e, saw_measuring, a));
  CHECK_EQ_INT(sbx_sched_running(e.s), 1);
  CHECK_EQ_INT(sbx_sched_queued(e.s), 1);
  CHECK_EQ_INT(sbx_sched_position(e.s, b), 1);

  /* The queued one: CANCELED at once, within the call, no result. */
  CHECK_EQ_INT(sbx_sched_cancel(e.s, b), 0);
  f = fin_of(&e, b);
  CHECK(f != NULL);
  if (f != NULL) {
    CHECK_EQ_INT(f->state, S(CANCELED));
    CHECK(!f->has_res && !f->has_sr);
    CHECK(!f->signed_stored && !f->result_stored);
    CHECK_EQ_INT(f->stored_state, S(CANCELED));
  }
  CHECK_EQ_INT(sbx_sched_queued(e.s), 0);
  CHECK_EQ_INT(sbx_sched_position(e.s, b), 0);
  CHECK_EQ_INT(sbx_sched_cancel(e.s, b), SBX_ESTATE);
  CHECK_EQ_INT(sbx_store_get_result(e.store, b, &res), SBX_ENOENT);

  /* The running one ends CANCELED, with its partial result signed. */
  CHECK(fin_of(&e, a) == NULL);
  CHECK_EQ_INT(sbx_sched_cancel(e.s, a), 0);
  CHECK(run_until(&e, finished, 3));
  f = fin_of(&e, a);
  CHECK(f != NULL);
  if (f != NULL) {
    CHECK_EQ_INT(f->state, S(CANCELED));
    CHECK(f->has_res && f->has_sr);
    CHECK_EQ_INT(f->verify_rc, 0);
    CHECK(f->bytes_ok && f->signed_stored);
    CHECK_EQ_INT(f->result_stored, 1);
    CHECK_EQ_INT(f->stored_state, S(CANCELED));
    CHECK(f->reason[0] != '\0');
  }
  CHECK_EQ_INT(sbx_sched_running(e.s), 0);
  CHECK_EQ_INT(sbx_sched_cancel(e.s, a), SBX_ESTATE);

  /* Neither canceled queued run ever started. */
  CHECK_EQ_INT(find_rec(&e, b, K_STATE, S(PREPARING), 0), -1);
  CHECK_EQ_INT(find_rec(&e, c, K_STATE, S(PREPARING), 0), -1);
  CHECK_EQ_INT(count_rec(&e, b, K_RESULT), 0);
  env_stop(&e);
  env_close(&e);
}

/* Runs stored QUEUED before a restart are found and run in id order; runs
 * in other states are left alone. */
static void test_resume(void) {
  struct env e;
  uint64_t r1, r2, r3, rc_, rm;
  long p1, p2, p3;

  if (env_open(&e) != 0)
    return;
  r1 = store_run(&e, "tiny@1.0.0", "acme/web@1", S(QUEUED));
  rc_ = store_run(&e, "tiny@1.0.0", "acme/web@1", S(CANCELED));
  r2 = store_run(&e, "tiny@1.0.0", "acme/web@1", S(QUEUED));
  rm = store_run(&e, "tiny@1.0.0", "acme/web@1", S(MEASURING));
  r3 = store_run(&e, "tiny@1.0.0", "acme/web@1", S(QUEUED));
  CHECK(r1 < rc_ && rc_ < r2 && r2 < rm && rm < r3);

  /* The process "restarts": recovery marks the one that was measuring. */
  CHECK_EQ_INT(sbx_store_close(e.store), 0);
  e.store = NULL;
  if (open_store(&e) != 0)
    return;
  CHECK_EQ_INT(sbx_store_recovered(e.store), 1);
  CHECK_EQ_INT(stored_state(&e, rm), S(INTERRUPTED));

  env_sched(&e, 1);
  CHECK_EQ_INT(sbx_sched_resume(e.s), 0);
  CHECK_EQ_INT(sbx_sched_queued(e.s), 3);
  CHECK_EQ_INT(sbx_sched_position(e.s, r3), 2);
  CHECK(run_until(&e, finished, 3));
  CHECK_EQ_INT(e.n_fin, 3);
  if (e.n_fin == 3) {
    CHECK_EQ_INT(e.fin[0].run, r1);
    CHECK_EQ_INT(e.fin[1].run, r2);
    CHECK_EQ_INT(e.fin[2].run, r3);
    for (int i = 0; i < 3; i++)
      CHECK_EQ_INT(e.fin[i].state, S(DONE));
  }
  p1 = find_rec(&e, r1, K_STATE, S(PREPARING), 0);
  p2 = find_rec(&e, r2, K_STATE, S(PREPARING), 0);
  p3 = find_rec(&e, r3, K_STATE, S(PREPARING), 0);
  CHECK(p1 >= 0 && p1 < p2 && p2 < p3);
  CHECK_EQ_INT(first_event(&e, rc_), -1);
  CHECK_EQ_INT(first_event(&e, rm), -1);
  CHECK_EQ_INT(stored_state(&e, rc_), S(CANCELED));
  CHECK_EQ_INT(stored_state(&e, rm), S(INTERRUPTED));
  env_stop(&e);
  env_close(&e);
}

/* Runs that cannot start end ERROR with a signed ERROR result that says
 * why. */
static void test_errors(void) {
  static const struct {
    const char *scenario, *product, *want1, *want2;
  } cases[] = {
      {"tiny@1.0.0", "ghost/none@1", "ghost/none@1", "not registered"},
      {"gone@1.0.0", "acme/web@1", "gone@1.0.0", "missing"},
      {"tiny@1.0.0", "acme/plug@1", "acme/plug@1", "HTTP endpoints"},
      {"tiny@1.0.0", "acme/dead@1", "cannot reach the product", ""},
  };
  enum { N = sizeof(cases) / sizeof(cases[0]) };
  struct env e;
  uint64_t id[N];
  size_t i;

  if (env_open(&e) != 0)
    return;
  env_sched(&e, 1);
  CHECK_EQ_INT(sbx_sched_resume(e.s), 0);
  for (i = 0; i < N; i++)
    id[i] = queue_run(&e, cases[i].scenario, cases[i].product);
  CHECK(run_until(&e, finished, N));
  for (i = 0; i < N; i++) {
    const struct fin *f = fin_of(&e, id[i]);
    Sbx__V1__Result *res = NULL;
    long st;
    CHECK(f != NULL);
    if (f == NULL)
      continue;
    if (strstr(f->error, cases[i].want1) == NULL ||
        strstr(f->error, cases[i].want2) == NULL)
      fprintf(stderr, "case %zu: error_message \"%s\"\n", i, f->error);
    CHECK_EQ_INT(f->state, S(ERROR));
    CHECK(f->has_res && f->has_sr);
    CHECK_EQ_INT(f->verdict, SBX__V1__VERDICT__VERDICT_ERROR);
    CHECK(strstr(f->error, cases[i].want1) != NULL);
    CHECK(strstr(f->error, cases[i].want2) != NULL);
    CHECK_EQ_INT(f->verify_rc, 0);
    CHECK(f->payload_is_res);
    CHECK(f->bytes_ok && f->signed_stored);
    CHECK_EQ_INT(f->result_stored, 1);
    CHECK_EQ_INT(f->stored_state, S(ERROR));
    CHECK(f->reason[0] != '\0');
    /* The stored result says the same, under the run's identity. */
    CHECK_EQ_INT(sbx_store_get_result(e.store, id[i], &res), 0);
    if (res != NULL) {
      CHECK_EQ_INT(res->run_id, id[i]);
      CHECK_EQ_STR(res->product, cases[i].product);
      CHECK_EQ_STR(res->error_message, f->error);
      sbx__v1__result__free_unpacked(res, NULL);
    }
    /* The terminal state event, then the signed result. */
    st = find_rec(&e, id[i], K_STATE, S(ERROR), 0);
    CHECK(st >= 0);
    CHECK(find_rec(&e, id[i], K_RESULT, -1, 0) > st);
  }
  /* The identity of a run that never started is still the run's. */
  {
    Sbx__V1__Result *res = NULL;
    CHECK_EQ_INT(sbx_store_get_result(e.store, id[0], &res), 0);
    if (res != NULL) {
      CHECK_EQ_STR(res->scenario, "tiny");
      CHECK_EQ_STR(res->scenario_version, "1.0.0");
      CHECK(res->started_unix_ms > 0);
      sbx__v1__result__free_unpacked(res, NULL);
    }
  }
  env_stop(&e);
  env_close(&e);
}

/* Stop while a run is measuring: it ends INTERRUPTED without a result, its
 * samples kept; the queued one stays queued for the next start. */
static void test_stop(void) {
  struct env e;
  const struct fin *f;
  Sbx__V1__Result *res = NULL;
  Sbx__V1__Run *run = NULL;
  uint64_t a, b, samples = 0;

  if (env_open(&e) != 0)
    return;
  env_sched(&e, 1);
  CHECK_EQ_INT(sbx_sched_resume(e.s), 0);
  a = queue_run(&e, "slow@1.0.0", "acme/web@1");
  b = queue_run(&e, "tiny@1.0.0", "acme/web@1");
  CHECK(run_until(&e, saw_measuring, a));

  uv_close((uv_handle_t *)&e.guard, NULL);
  sbx_sched_stop(e.s, on_stopped, &e);
  CHECK_EQ_INT(e.stopped, 0); /* not from inside the call: a run is live */
  uv_run(&e.loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(e.stopped, 1);
  f = fin_of(&e, a);
  CHECK(f != NULL);
  if (f != NULL) {
    CHECK_EQ_INT(f->state, S(INTERRUPTED));
    CHECK(!f->has_res && !f->has_sr);
    CHECK(f->bytes_ok);
    CHECK(!f->signed_stored && !f->result_stored);
    CHECK_EQ_INT(f->stored_state, S(INTERRUPTED));
    CHECK(strstr(f->reason, "stopped") != NULL);
  }
  CHECK_EQ_INT(find_rec(&e, a, K_STATE, S(INTERRUPTED), 0) >= 0, 1);
  CHECK_EQ_INT(count_rec(&e, a, K_RESULT), 0);
  CHECK_EQ_INT(sbx_store_get_result(e.store, a, &res), SBX_ENOENT);
  CHECK_EQ_INT(sbx_store_flush(e.store), 0);
  CHECK_EQ_INT(sbx_store_count_samples(e.store, a, &samples), 0);
  CHECK(samples > 0);
  CHECK_EQ_INT(first_event(&e, b), -1);
  CHECK_EQ_INT(stored_state(&e, b), S(QUEUED));
  CHECK_EQ_INT(e.n_fin, 1);
  sbx_sched_free(e.s);
  e.s = NULL;
  CHECK_EQ_INT(uv_loop_close(&e.loop), 0);

  /* The next start resumes b. */
  CHECK_EQ_INT(uv_loop_init(&e.loop), 0);
  uv_timer_init(&e.loop, &e.guard);
  uv_timer_start(&e.guard, guard_tick, 50, 50);
  e.stopped = 0;
  env_sched(&e, 1);
  CHECK_EQ_INT(sbx_sched_resume(e.s), 0);
  CHECK_EQ_INT(sbx_sched_queued(e.s), 1);
  CHECK(run_until(&e, finished, 2));
  f = fin_of(&e, b);
  CHECK(f != NULL && f->state == S(DONE));
  CHECK_EQ_INT(sbx_store_get_run(e.store, a, &run), 0);
  if (run != NULL) {
    CHECK_EQ_INT(run->state, S(INTERRUPTED));
    sbx__v1__run__free_unpacked(run, NULL);
  }
  env_stop(&e);
  env_close(&e);
}

/* The overrides a run asked for are applied when it starts, and recorded
 * in the run and its signed result. */
static void test_overrides(void) {
  Sbx__V1__LoadOverrides in = SBX__V1__LOAD_OVERRIDES__INIT;
  struct sbx_load_overrides o;
  struct env e;
  Sbx__V1__Run *run = NULL;
  Sbx__V1__Result *res = NULL;
  uint64_t id;

  /* The conversion: zero keeps the spec's value, zero_warmup asks for 0. */
  sbx_sched_overrides(NULL, &o);
  CHECK(!o.has_warmup && !o.has_seed && !o.has_min_cases &&
        o.min_duration_us == 0);
  in.zero_warmup = 1;
  in.seed = 7;
  in.min_cases = 3;
  in.concurrency = 4;
  in.rate = 12.5;
  in.timeout_us = 1000;
  sbx_sched_overrides(&in, &o);
  CHECK(o.has_warmup && o.warmup_us == 0);
  CHECK(o.has_seed && o.seed == 7);
  CHECK(o.has_min_cases && o.min_cases == 3);
  CHECK(o.concurrency == 4 && o.rate == 12.5 && o.timeout_us == 1000);
  in.zero_warmup = 0;
  in.warmup_us = 5;
  sbx_sched_overrides(&in, &o);
  CHECK(o.has_warmup && o.warmup_us == 5);

  /* The minute-long scenario, cut to 300 ms by the run's request. */
  if (env_open(&e) != 0)
    return;
  env_sched(&e, 1);
  CHECK_EQ_INT(sbx_sched_resume(e.s), 0);
  sbx__v1__load_overrides__init(&in);
  in.min_duration_us = 300000;
  in.max_duration_us = 300000;
  in.seed = 99;
  id = store_run_ov(&e, "slow@1.0.0", "acme/web@1", S(QUEUED), &in);
  CHECK_EQ_INT(sbx_sched_enqueue(e.s, id), 0);
  CHECK(run_until(&e, finished, 1));
  CHECK(fin_of(&e, id) != NULL && fin_of(&e, id)->state == S(DONE));
  CHECK_EQ_INT(sbx_store_get_run(e.store, id, &run), 0);
  if (run != NULL) {
    CHECK(run->load != NULL && run->load->min_duration_us == 300000 &&
          run->load->seed == 99);
    CHECK_EQ_INT(run->n_overrides, 3);
    sbx__v1__run__free_unpacked(run, NULL);
  }
  CHECK_EQ_INT(sbx_store_get_result(e.store, id, &res), 0);
  if (res != NULL) {
    int seen = 0;
    for (size_t i = 0; i < res->n_overrides; i++)
      seen += strncmp(res->overrides[i], "load.min_duration=", 18) == 0 ||
              strcmp(res->overrides[i], "load.seed=99") == 0;
    CHECK_EQ_INT(seen, 2);
    CHECK_EQ_INT(res->seed, 99);
    sbx__v1__result__free_unpacked(res, NULL);
  }
  env_stop(&e);
  env_close(&e);
}

/* Stopping an idle scheduler calls back at once, once. */
static void test_stop_idle(void) {
  struct env e;
  uint64_t q;

  if (env_open(&e) != 0)
    return;
  env_sched(&e, 1);
  CHECK_EQ_INT(sbx_sched_resume(e.s), 0);
  q = store_run(&e, "tiny@1.0.0", "acme/web@1", S(QUEUED));
  CHECK_EQ_INT(sbx_sched_enqueue(e.s, q), 0);
  /* Stop before the queued run got a turn: it is not started. */
  env_stop(&e);
  CHECK_EQ_INT(first_event(&e, q), -1);
  CHECK_EQ_INT(stored_state(&e, q), S(QUEUED));
  env_close(&e);
}

int main(void) {
  if (faultd_start() != 0) {
    fprintf(stderr, "cannot start sbx_faultd\n");
    return 1;
  }
  test_one_run();
  test_serial();
  test_two_lanes();
  test_cancel();
  test_resume();
  test_errors();
  test_stop();
  test_overrides();
  test_stop_idle();
  faultd_stop();
  return TEST_RESULT();
}
