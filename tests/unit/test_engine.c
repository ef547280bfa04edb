/* test_engine.c - the load engine against an in-process fake adapter.
 *
 * The fake answers each request after a configurable delay on a uv timer
 * (or serially, one at a time, like a single-threaded product), and can
 * refuse connections or stall the loop, so the engine's load models,
 * phases, in-flight cap, dropped arrivals, coordinated-omission accounting,
 * per-second series and store hand-off are checked without a network.
 */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "dataset.h"
#include "engine.h"
#include "hist.h"
#include "spec.h"
#include "store.h"
#include "testlib.h"

struct fake_req {
  uv_timer_t timer;
  struct sbx_request *req;
  struct fake *f;
};

struct fake {
  struct sbx_adapter base;
  int64_t delay_ms;
  int serial;          /* one request at a time, queued in order */
  int refuse;          /* every request ends REFUSED */
  int64_t stall_ms;    /* busy-wait inside the first measured submit */
  uint32_t in_flight, max_seen;
  uint64_t submitted;
  int64_t serial_free_at; /* serial: when the "server" is next idle (ns) */
  int closed;
  sbx_adapter_close_cb close_cb;
  int open_timers;
};

static void fake_answer(uv_timer_t *t) {
  struct fake_req *fr = t->data;
  struct fake *f = fr->f;
  struct sbx_request *req = fr->req;
  static const uint8_t ok[] = "ok\n";
  req->done_ns = (int64_t)uv_hrtime();
  if (f->refuse) {
    req->error = SBX__V1__ERROR_CLASS__ERROR_CLASS_REFUSED;
    snprintf(req->detail, sizeof(req->detail), "Connection refused");
  } else {
    req->error = SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE;
    req->status = 200;
    req->body = ok;
    req->body_len = 3;
  }
  f->in_flight--;
  uv_timer_stop(t);
  f->base.on_done(&f->base, req);
}

static void fake_timer_closed(uv_handle_t *h) {
  struct fake_req *fr = h->data;
  struct fake *f = fr->f;
  free(fr);
  if (--f->open_timers == 0 && f->closed && f->close_cb != NULL)
    f->close_cb(&f->base);
}

static void fake_answer_and_close(uv_timer_t *t) {
  fake_answer(t);
  uv_close((uv_handle_t *)t, fake_timer_closed);
}

static int fake_submit(struct sbx_adapter *a, struct sbx_request *req) {
  struct fake *f = (struct fake *)a;
  struct fake_req *fr;
  int64_t now = (int64_t)uv_hrtime(), delay = f->delay_ms;
  if (f->closed)
    return SBX_ESTATE;
  if (f->stall_ms > 0 && f->submitted == 5) {
    while ((int64_t)uv_hrtime() - now < f->stall_ms * 1000000)
      ;
  }
  fr = calloc(1, sizeof(*fr));
  if (fr == NULL)
    return SBX_ENOMEM;
  fr->req = req;
  fr->f = f;
  if (f->serial) {
    int64_t start = f->serial_free_at > now ? f->serial_free_at : now;
    f->serial_free_at = start + f->delay_ms * 1000000;
    delay = (f->serial_free_at - now + 999999) / 1000000;
  }
  uv_timer_init(a->loop, &fr->timer);
  fr->timer.data = fr;
  f->open_timers++;
  uv_timer_start(&fr->timer, fake_answer_and_close, (uint64_t)delay, 0);
  f->submitted++;
  if (++f->in_flight > f->max_seen)
    f->max_seen = f->in_flight;
  return 0;
}

static void fake_walk_cancel(uv_handle_t *h, void *arg) {
  if (h->type == UV_TIMER && h->data != NULL && !uv_is_closing(h) &&
      ((struct fake_req *)h->data)->f == arg && uv_is_active(h)) {
    struct fake_req *fr = h->data;
    fr->req->error = SBX__V1__ERROR_CLASS__ERROR_CLASS_OTHER;
    fr->req->done_ns = (int64_t)uv_hrtime();
    fr->f->in_flight--;
    uv_timer_stop((uv_timer_t *)h);
    fr->f->base.on_done(&fr->f->base, fr->req);
    uv_close(h, fake_timer_closed);
  }
}

static void fake_close(struct sbx_adapter *a, sbx_adapter_close_cb cb) {
  struct fake *f = (struct fake *)a;
  f->closed = 1;
  f->close_cb = cb;
  uv_walk(a->loop, fake_walk_cancel, f);
  if (f->open_timers == 0 && cb != NULL)
    cb(a);
}

static const struct sbx_adapter_ops fake_ops = {
    .name = "fake", .submit = fake_submit, .close = fake_close};

static void fake_init(struct fake *f, uv_loop_t *loop, uint32_t max) {
  memset(f, 0, sizeof(*f));
  f->base.ops = &fake_ops;
  f->base.loop = loop;
  f->base.on_done = sbx_engine_adapter_done;
  f->base.max_in_flight = max;
  f->delay_ms = 2;
}

struct outcome {
  int done;
  int status;
  char msg[1100];
  int progress_calls;
};

static void on_done(struct sbx_engine *e, int status,
                    const struct sbx_diag *diag, void *arg) {
  struct outcome *o = arg;
  o->done++;
  o->status = status;
  snprintf(o->msg, sizeof(o->msg), "%s", diag->msg);
}

static void on_progress(const struct sbx_progress *p, void *arg) {
  ((struct outcome *)arg)->progress_calls++;
}

static const char *spec_text(const char *load) {
  static char buf[2048];
  snprintf(buf, sizeof(buf),
           "name: t\nversion: \"1\"\ntitle: t\ninterface:\n  kind: http\n"
           "dataset:\n  path: d.jsonl\nload:\n%s", load);
  return buf;
}

static const char dataset_text[] =
    "{\"id\":\"a\",\"path\":\"/a\",\"arrival_offset_us\":0,"
    "\"expect\":{\"status\":200,\"exact\":\"ok\\n\"}}\n"
    "{\"id\":\"b\",\"path\":\"/b\",\"arrival_offset_us\":10000,"
    "\"expect\":{\"status\":200,\"exact\":\"ok\\n\"}}\n"
    "{\"id\":\"c\",\"path\":\"/c\",\"arrival_offset_us\":20000,"
    "\"expect\":{\"status\":200,\"exact\":\"wrong\"}}\n"
    "{\"id\":\"d\",\"path\":\"/d\",\"arrival_offset_us\":30000,"
    "\"expect\":{\"status\":200,\"exact\":\"ok\\n\"}}\n";

struct run {
  Sbx__V1__Scenario *sc;
  struct sbx_dataset *ds;
  struct sbx_engine *e;
  struct outcome o;
  uv_loop_t loop;
  struct fake f;
};

/* Runs the engine over spec `load` with the fake configured by setup. */
static int run_engine(struct run *r, const char *load, uint32_t max_in_flight,
                      void (*setup)(struct fake *), struct sbx_store *store,
                      uint64_t run_id) {
  struct sbx_diag diag;
  struct sbx_engine_config cfg;
  const char *s = spec_text(load);
  int rc;
  memset(r, 0, sizeof(*r));
  rc = sbx_spec_parse("t.yaml", (const uint8_t *)s, strlen(s), &r->sc, &diag);
  if (rc != 0) {
    fprintf(stderr, "spec: %s\n", diag.msg);
    return rc;
  }
  rc = sbx_dataset_parse("d.jsonl", dataset_text, strlen(dataset_text),
                         &r->ds, &diag);
  if (rc != 0) {
    fprintf(stderr, "dataset: %s\n", diag.msg);
    return rc;
  }
  uv_loop_init(&r->loop);
  fake_init(&r->f, &r->loop, max_in_flight);
  if (setup != NULL)
    setup(&r->f);
  memset(&cfg, 0, sizeof(cfg));
  cfg.scenario = r->sc;
  cfg.dataset = r->ds;
  cfg.load = r->sc->load;
  cfg.store = store;
  cfg.run_id = run_id;
  cfg.on_progress = on_progress;
  cfg.progress_arg = &r->o;
  rc = sbx_engine_start(&r->loop, &cfg, &r->f.base, on_done, &r->o, &r->e);
  if (rc != 0)
    return rc;
  uv_run(&r->loop, UV_RUN_DEFAULT);
  return 0;
}

static void run_free(struct run *r) {
  CHECK_EQ_INT(uv_loop_close(&r->loop), 0);
  sbx_engine_free(r->e);
  sbx_scenario_free(r->sc);
  sbx_dataset_free(r->ds);
}

static uint64_t sum_classes(const struct sbx_run_stats *st) {
  uint64_t n = 0;
  for (int i = 0; i < SBX_ERROR_CLASSES; i++)
    n += st->by_class[i];
  return n;
}

static void test_closed(void) {
  struct run r;
  const struct sbx_run_stats *st;
  CHECK_EQ_INT(run_engine(&r,
                          "  model: closed\n  concurrency: 4\n"
                          "  warmup: 100ms\n  min_duration: 300ms\n"
                          "  min_cases: 50\n  timeout: 1s\n",
                          4, NULL, NULL, 0),
               0);
  st = sbx_engine_stats(r.e);
  CHECK_EQ_INT(r.o.done, 1);
  CHECK_EQ_INT(r.o.status, 0);
  CHECK(r.o.progress_calls >= 1);
  CHECK(st->requests >= 50);
  CHECK(st->warmup_requests > 0);
  CHECK_EQ_INT(st->completed, st->requests);
  CHECK_EQ_INT(sum_classes(st), st->completed);
  CHECK_EQ_INT(st->dropped, 0);
  CHECK(st->min_duration_met && st->min_cases_met);
  CHECK(st->measure_end_ns - st->measure_start_ns >= 300000000LL);
  /* Case c expects "wrong": one in four answers fails its check. */
  CHECK(st->by_class[SBX__V1__ERROR_CLASS__ERROR_CLASS_CHECK_FAILED] > 0);
  CHECK(st->by_class[SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE] >
        st->by_class[SBX__V1__ERROR_CLASS__ERROR_CLASS_CHECK_FAILED]);
  CHECK(r.f.max_seen <= 4);
  /* The fake waits 2 ms on a uv timer, whose clock is cached per loop turn
   * and may lag by up to 1 ms. */
  CHECK(sbx_hist_min(st->latency) >= 1000);
  CHECK_EQ_INT(strcmp(sbx_engine_client(r.e), "fake"), 0);
  run_free(&r);
}

static void slow_fake(struct fake *f) {
  f->delay_ms = 100;
}

/* Open loop over a slow product with a small in-flight cap: arrivals over
 * the cap are dropped and counted, never lost. */
static void test_open_dropped(void) {
  struct run r;
  const struct sbx_run_stats *st;
  CHECK_EQ_INT(run_engine(&r,
                          "  model: open\n  rate: 500/s\n  max_in_flight: 2\n"
                          "  min_duration: 300ms\n  timeout: 1s\n",
                          2, slow_fake, NULL, 0),
               0);
  st = sbx_engine_stats(r.e);
  CHECK_EQ_INT(r.o.status, 0);
  CHECK(st->dropped > 0);
  CHECK_EQ_INT(st->by_class[SBX__V1__ERROR_CLASS__ERROR_CLASS_DROPPED],
               st->dropped);
  CHECK_EQ_INT(st->sent + st->dropped, st->requests);
  CHECK(r.f.max_seen <= 2);
  CHECK(st->target_rate == 500.0);
  CHECK(sbx_hist_min(st->latency) >= 99000);
  run_free(&r);
}

static void serial_fake(struct fake *f) {
  f->serial = 1;
  f->delay_ms = 20;
}

/* Coordinated omission: a product that serves one request at a time at
 * 20 ms each, offered 100/s, falls behind; latency from the scheduled time
 * must show the queue growing (a harness that waited for answers before
 * sending would report about 20 ms throughout). */
static void test_open_coordinated_omission(void) {
  struct run r;
  const struct sbx_run_stats *st;
  CHECK_EQ_INT(run_engine(&r,
                          "  model: open\n  rate: 100/s\n"
                          "  max_in_flight: 1000\n  min_duration: 500ms\n"
                          "  timeout: 10s\n",
                          1000, serial_fake, NULL, 0),
               0);
  st = sbx_engine_stats(r.e);
  CHECK_EQ_INT(r.o.status, 0);
  CHECK_EQ_INT(st->dropped, 0);
  CHECK(st->requests >= 45);
  /* The last of ~50 arrivals waits behind ~25 unserved ones: >= 250 ms. */
  CHECK(sbx_hist_max(st->latency) >= 250000);
  CHECK(sbx_hist_percentile(st->latency, 50) > 40000);
  run_free(&r);
}

static void stall_fake(struct fake *f) {
  f->stall_ms = 60;
}

/* The harness itself stalls (the loop is blocked for 60 ms): the arrivals
 * due meanwhile are sent late, and that lateness shows both as schedule lag
 * and inside their latency. */
static void test_open_schedule_lag(void) {
  struct run r;
  const struct sbx_run_stats *st;
  CHECK_EQ_INT(run_engine(&r,
                          "  model: open\n  rate: 200/s\n"
                          "  max_in_flight: 100\n  min_duration: 300ms\n"
                          "  timeout: 1s\n",
                          100, stall_fake, NULL, 0),
               0);
  st = sbx_engine_stats(r.e);
  CHECK(sbx_hist_max(st->lag) >= 40000);
  CHECK(sbx_hist_max(st->latency) >= sbx_hist_max(st->lag));
  run_free(&r);
}

/* Trace replay sends cases at their offsets, in offset order. */
static void test_trace(void) {
  struct run r;
  const struct sbx_run_stats *st;
  CHECK_EQ_INT(run_engine(&r,
                          "  model: trace\n  max_in_flight: 16\n"
                          "  min_duration: 200ms\n  min_cases: 8\n"
                          "  timeout: 1s\n",
                          16, NULL, NULL, 0),
               0);
  st = sbx_engine_stats(r.e);
  CHECK_EQ_INT(r.o.status, 0);
  /* 4 cases per 40 ms period (plus a 1/n margin): about 100/s. */
  CHECK(st->requests >= 16 && st->requests <= 30);
  CHECK_EQ_INT(st->dropped, 0);
  run_free(&r);
}

static void refuse_fake(struct fake *f) {
  f->refuse = 1;
}

static void test_refused(void) {
  struct run r;
  const struct sbx_run_stats *st;
  CHECK_EQ_INT(run_engine(&r,
                          "  model: closed\n  concurrency: 2\n"
                          "  min_duration: 1s\n",
                          2, refuse_fake, NULL, 0),
               0);
  st = sbx_engine_stats(r.e);
  CHECK_EQ_INT(r.o.done, 1);
  CHECK_EQ_INT(r.o.status, SBX_ECONNECT);
  CHECK(strstr(r.o.msg, "cannot reach the product") != NULL);
  CHECK(strstr(r.o.msg, "Connection refused") != NULL);
  CHECK_EQ_INT(st->requests, 0);
  run_free(&r);
}

static void cancel_soon(uv_timer_t *t) {
  sbx_engine_cancel(t->data);
  uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel(void) {
  struct run r;
  struct sbx_diag diag;
  struct sbx_engine_config cfg;
  uv_timer_t t;
  const char *s = spec_text("  model: closed\n  concurrency: 3\n"
                            "  min_duration: 10s\n");
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(
      sbx_spec_parse("t.yaml", (const uint8_t *)s, strlen(s), &r.sc, &diag),
      0);
  CHECK_EQ_INT(sbx_dataset_parse("d.jsonl", dataset_text,
                                 strlen(dataset_text), &r.ds, &diag),
               0);
  uv_loop_init(&r.loop);
  fake_init(&r.f, &r.loop, 3);
  memset(&cfg, 0, sizeof(cfg));
  cfg.scenario = r.sc;
  cfg.dataset = r.ds;
  cfg.load = r.sc->load;
  CHECK_EQ_INT(sbx_engine_start(&r.loop, &cfg, &r.f.base, on_done, &r.o, &r.e),
               0);
  uv_timer_init(&r.loop, &t);
  t.data = r.e;
  uv_timer_start(&t, cancel_soon, 100, 0);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(r.o.done, 1);
  CHECK_EQ_INT(r.o.status, SBX_ECANCELED);
  CHECK(sbx_engine_stats(r.e)->requests > 0);
  run_free(&r);
}

static int count_sample(const Sbx__V1__Sample *s, void *arg) {
  (*(uint64_t *)arg)++;
  return 0;
}

static int count_series(const Sbx__V1__SeriesPoint *p, void *arg) {
  (*(uint64_t *)arg) += p->completed;
  return 0;
}

/* Every request, warm-up included, reaches the store; the per-second
 * series adds up to the measured completions. */
static void test_store_samples(void) {
  char dir[] = "/tmp/sbx-test-engine.XXXXXX";
  struct sbx_store *store = NULL;
  struct sbx_diag diag;
  Sbx__V1__Run run = SBX__V1__RUN__INIT;
  struct run r;
  uint64_t n = 0, series = 0;
  const struct sbx_run_stats *st;
  char cmd[128];

  CHECK(mkdtemp(dir) != NULL);
  CHECK_EQ_INT(sbx_store_open(dir, &store, &diag), 0);
  CHECK_EQ_INT(sbx_store_new_run(store, &run), 0);
  CHECK_EQ_INT(run_engine(&r,
                          "  model: closed\n  concurrency: 8\n"
                          "  warmup: 200ms\n  min_duration: 1500ms\n"
                          "  timeout: 1s\n",
                          8, NULL, store, run.id),
               0);
  st = sbx_engine_stats(r.e);
  CHECK_EQ_INT(r.o.status, 0);
  CHECK_EQ_INT(sbx_store_foreach_sample(store, run.id, count_sample, &n), 0);
  CHECK_EQ_INT(n, st->requests + st->warmup_requests);
  CHECK_EQ_INT(sbx_store_foreach_series(store, run.id, count_series, &series),
               0);
  CHECK_EQ_INT(series, st->completed);
  run_free(&r);
  CHECK_EQ_INT(sbx_store_close(store), 0);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  CHECK_EQ_INT(system(cmd), 0);
}

int main(void) {
  test_closed();
  test_open_dropped();
  test_open_coordinated_omission();
  test_open_schedule_lag();
  test_trace();
  test_refused();
  test_cancel();
  test_store_samples();
  return TEST_RESULT();
}
