/* engine.c - load models, phases and measurement of one run. See engine.h. */
#include "engine.h"

#include <math.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dataset.h"
#include "hist.h"
#include "rng.h"
#include "store.h"

#define TICK_MS 250
#define NS_PER_US 1000LL
#define NS_PER_S 1000000000LL
#define DRAIN_SLACK_NS (2 * NS_PER_S)

enum phase {
  PH_PREFLIGHT,
  PH_WARMUP,
  PH_MEASURE,
  PH_DRAIN,
  PH_CLOSING,
  PH_DONE
};

/* A request slot; the adapter only sees req. */
struct slot {
  struct sbx_request req;
  int measured;
};

struct sbx_engine {
  uv_loop_t *loop;
  struct sbx_engine_config cfg;
  const Sbx__V1__Load *load;
  const Sbx__V1__Checks *checks;
  struct sbx_adapter *adapter;
  const char *client; /* the adapter's name, kept past its close */
  sbx_engine_done_cb done_cb;
  void *done_arg;
  enum phase phase;
  int status;
  struct sbx_diag diag;

  /* Open and trace loads: a timerfd armed for the next arrival's exact
   * instant (libuv timers have millisecond resolution, which would add up
   * to a millisecond of the harness's own lag to every latency). */
  int arrival_fd;
  uv_poll_t arrival_poll;
  uv_timer_t tick_timer;    /* progress, series, deadlines, store batches */
  int open_handles;         /* timers + adapter still to close */

  struct slot *slots;
  uint32_t n_slots;
  uint32_t *free_slots;
  uint32_t n_free;

  uint32_t *order; /* case indices in replay order */
  size_t n_order;
  size_t next_case;
  uint64_t pass;
  uint64_t seq;

  int64_t t0;            /* start of warm-up */
  int64_t measure_start; /* t0 + warm-up */
  int64_t next_arrival;  /* open and trace */
  uint64_t n_arrivals;   /* arrivals scheduled so far (constant spacing) */
  int64_t trace_period_ns;
  uint64_t rng;

  struct sbx_run_stats st;

  /* Per-second series of the measurement. */
  struct sbx_hist *sec_hist;
  uint32_t sec_index;
  uint64_t sec_completed, sec_errors, sec_dropped;

  uint64_t last_completed;
  int64_t last_tick_ns;
  double rate;
};

static int64_t now_ns(void) {
  return (int64_t)uv_hrtime();
}

static Sbx__V1__RunState phase_state(enum phase p) {
  switch (p) {
  case PH_PREFLIGHT:
    return SBX__V1__RUN_STATE__RUN_STATE_PREPARING;
  case PH_WARMUP:
    return SBX__V1__RUN_STATE__RUN_STATE_WARMUP;
  case PH_MEASURE:
    return SBX__V1__RUN_STATE__RUN_STATE_MEASURING;
  default:
    return SBX__V1__RUN_STATE__RUN_STATE_VERIFYING;
  }
}

static void close_run(struct sbx_engine *e);
static void arm_arrival(struct sbx_engine *e, int64_t at_ns);
static void on_fatal(struct sbx_adapter *a, const char *why);
static void issue_closed(struct sbx_engine *e);

static int cmp_offset(const void *a, const void *b, void *arg) {
  const struct sbx_dataset *ds = arg;
  uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;
  int64_t oa = ds->cases[ia]->arrival_offset_us;
  int64_t ob = ds->cases[ib]->arrival_offset_us;
  if (oa != ob)
    return oa < ob ? -1 : 1;
  return ia < ib ? -1 : (ia > ib);
}

/* Replay order: a seeded permutation (the same for every product of a
 * match), except for traces, which keep their arrival order. */
static int build_order(struct sbx_engine *e) {
  const struct sbx_dataset *ds = e->cfg.dataset;
  size_t i;
  uint64_t x = e->load->seed;
  e->n_order = ds->n_cases;
  e->order = malloc(sizeof(*e->order) * e->n_order);
  if (e->order == NULL)
    return SBX_ENOMEM;
  for (i = 0; i < e->n_order; i++)
    e->order[i] = (uint32_t)i;
  if (e->load->model == SBX__V1__LOAD_MODEL__LOAD_MODEL_TRACE) {
    int64_t max_off = 0;
    qsort_r(e->order, e->n_order, sizeof(*e->order), cmp_offset, (void *)ds);
    for (i = 0; i < e->n_order; i++)
      if (ds->cases[i]->arrival_offset_us > max_off)
        max_off = ds->cases[i]->arrival_offset_us;
    e->trace_period_ns =
        (max_off + (max_off / (int64_t)e->n_order) + 1) * NS_PER_US;
    return 0;
  }
  for (i = e->n_order; i > 1; i--) {
    size_t j = (size_t)(sbx_splitmix64(&x) % i);
    uint32_t t = e->order[i - 1];
    e->order[i - 1] = e->order[j];
    e->order[j] = t;
  }
  return 0;
}

static uint32_t take_case(struct sbx_engine *e) {
  uint32_t idx = e->order[e->next_case++];
  if (e->next_case == e->n_order) {
    e->next_case = 0;
    e->pass++;
  }
  return idx;
}

static void store_sample(struct sbx_engine *e, const struct sbx_request *req,
                         Sbx__V1__ErrorClass cls, int warmup) {
  Sbx__V1__Sample s = SBX__V1__SAMPLE__INIT;
  int rc;
  if (e->cfg.store == NULL)
    return;
  s.seq = req->seq;
  s.case_index = req->case_index;
  s.sched_ns = req->sched_ns - e->t0;
  s.send_ns = req->send_ns ? req->send_ns - e->t0 : 0;
  s.done_ns = req->done_ns - e->t0;
  s.status = req->status;
  s.error = cls;
  s.warmup = warmup;
  s.body_bytes = req->body_len;
  rc = sbx_store_append_sample(e->cfg.store, e->cfg.run_id, &s);
  if (rc != 0 && e->status == 0) {
    e->status = SBX_ESTORE;
    sbx_diag_set(&e->diag, "the store stopped accepting samples: %s",
                 sbx_strerror(rc));
    if (e->phase == PH_WARMUP || e->phase == PH_MEASURE)
      e->phase = PH_DRAIN;
  }
}

static void flush_second(struct sbx_engine *e) {
  Sbx__V1__SeriesPoint p = SBX__V1__SERIES_POINT__INIT;
  p.second = e->sec_index;
  p.completed = e->sec_completed;
  p.errors = e->sec_errors;
  p.dropped = e->sec_dropped;
  p.p99_us = sbx_hist_percentile(e->sec_hist, 99.0);
  if (e->cfg.store != NULL)
    (void)sbx_store_append_series(e->cfg.store, e->cfg.run_id, &p);
  sbx_hist_reset(e->sec_hist);
  e->sec_completed = e->sec_errors = e->sec_dropped = 0;
  e->sec_index++;
}

static void report_progress(struct sbx_engine *e, int64_t now);

/* Moves from warm-up to measurement, and from measurement to draining once
 * both minimums hold or the maximum duration has passed. t is the time the
 * decision is about: an arrival's scheduled time, or now. A phase change is
 * reported at once, so that even a phase shorter than the progress tick
 * reaches the watchers. */
static void advance(struct sbx_engine *e, int64_t t) {
  const Sbx__V1__Load *ld = e->load;
  int64_t elapsed;
  if (e->phase == PH_WARMUP && t >= e->measure_start) {
    e->phase = PH_MEASURE;
    e->st.measure_start_ns = e->measure_start;
    report_progress(e, now_ns());
  }
  if (e->phase != PH_MEASURE)
    return;
  elapsed = t - e->measure_start;
  e->st.min_duration_met = elapsed >= ld->min_duration_us * NS_PER_US;
  e->st.min_cases_met = e->st.requests >= ld->min_cases;
  if ((e->st.min_duration_met && e->st.min_cases_met) ||
      elapsed >= ld->max_duration_us * NS_PER_US) {
    e->phase = PH_DRAIN;
    e->st.measure_end_ns = t;
    arm_arrival(e, 0);
    report_progress(e, now_ns());
  }
}

static struct slot *get_slot(struct sbx_engine *e) {
  if (e->n_free == 0)
    return NULL;
  return &e->slots[e->free_slots[--e->n_free]];
}

static void put_slot(struct sbx_engine *e, struct slot *s) {
  e->free_slots[e->n_free++] = (uint32_t)(s - e->slots);
}

/* Hands one case to the adapter. On a failed submit the request is recorded
 * as an error at once (no callback follows) and the slot is returned. */
static void submit(struct sbx_engine *e, struct slot *s, uint32_t idx,
                   int64_t sched, int64_t send, int measured) {
  struct sbx_request *req = &s->req;
  int rc;
  memset(req, 0, sizeof(*req));
  req->kase = e->cfg.dataset->cases[idx];
  req->case_index = idx;
  req->seq = e->seq++;
  req->sched_ns = sched;
  req->send_ns = send;
  s->measured = measured;
  if (measured) {
    e->st.sent++;
    sbx_hist_record(e->st.lag, (send - sched) / NS_PER_US);
  }
  rc = e->adapter->ops->submit(e->adapter, req);
  if (rc == 0)
    return;
  req->done_ns = now_ns();
  snprintf(req->detail, sizeof(req->detail), "submit failed: %s",
           sbx_strerror(rc));
  if (measured) {
    e->st.completed++;
    e->st.by_class[SBX__V1__ERROR_CLASS__ERROR_CLASS_OTHER]++;
    e->sec_errors++;
  } else {
    e->st.warmup_requests++;
  }
  store_sample(e, req, SBX__V1__ERROR_CLASS__ERROR_CLASS_OTHER, !measured);
  put_slot(e, s);
}

static void issue_closed(struct sbx_engine *e) {
  while (e->n_free > 0 && (e->phase == PH_WARMUP || e->phase == PH_MEASURE)) {
    int64_t t = now_ns();
    struct slot *s;
    int measured;
    advance(e, t);
    if (e->phase != PH_WARMUP && e->phase != PH_MEASURE)
      break;
    measured = e->phase == PH_MEASURE;
    if (measured)
      e->st.requests++;
    s = get_slot(e);
    submit(e, s, take_case(e), t, t, measured);
  }
}

static int64_t next_arrival_after(struct sbx_engine *e) {
  const Sbx__V1__Load *ld = e->load;
  if (ld->model == SBX__V1__LOAD_MODEL__LOAD_MODEL_TRACE) {
    uint32_t idx = e->order[e->next_case];
    return e->t0 + (int64_t)e->pass * e->trace_period_ns +
           e->cfg.dataset->cases[idx]->arrival_offset_us * NS_PER_US;
  }
  if (ld->spacing == SBX__V1__SPACING__SPACING_POISSON) {
    double u = (double)(sbx_splitmix64(&e->rng) >> 11) * 0x1.0p-53;
    return e->next_arrival + (int64_t)(-log1p(-u) / ld->rate * 1e9);
  }
  e->n_arrivals++;
  return e->t0 + (int64_t)((double)e->n_arrivals * 1e9 / ld->rate);
}

/* Arms the arrival timerfd for the absolute uv_hrtime() instant at_ns
 * (same clock: CLOCK_MONOTONIC), or disarms it when at_ns is 0. */
static void arm_arrival(struct sbx_engine *e, int64_t at_ns) {
  struct itimerspec its;
  memset(&its, 0, sizeof(its));
  if (at_ns > 0) {
    its.it_value.tv_sec = (time_t)(at_ns / NS_PER_S);
    its.it_value.tv_nsec = (long)(at_ns % NS_PER_S);
  }
  (void)timerfd_settime(e->arrival_fd, at_ns > 0 ? TFD_TIMER_ABSTIME : 0, &its,
                        NULL);
}

static void on_arrival(uv_poll_t *w, int status, int events) {
  struct sbx_engine *e = w->data;
  uint64_t expirations;
  (void)status;
  (void)events;
  /* One read takes every expiration and makes the fd unreadable again; a
   * second would only fail with EAGAIN, a syscall per arrival for nothing. */
  (void)!read(e->arrival_fd, &expirations, sizeof(expirations));
  int64_t now = now_ns();
  while (e->next_arrival <= now &&
         (e->phase == PH_WARMUP || e->phase == PH_MEASURE)) {
    int64_t sched = e->next_arrival;
    int measured;
    uint32_t idx;
    struct slot *s;
    advance(e, sched);
    if (e->phase != PH_WARMUP && e->phase != PH_MEASURE)
      break;
    measured = e->phase == PH_MEASURE;
    if (measured)
      e->st.requests++;
    idx = take_case(e);
    e->next_arrival = next_arrival_after(e);
    s = get_slot(e);
    if (s == NULL) {
      struct sbx_request req;
      memset(&req, 0, sizeof(req));
      req.case_index = idx;
      req.seq = e->seq++;
      req.sched_ns = sched;
      req.done_ns = sched;
      if (measured) {
        e->st.dropped++;
        e->st.by_class[SBX__V1__ERROR_CLASS__ERROR_CLASS_DROPPED]++;
        e->sec_dropped++;
        e->sec_errors++;
      } else {
        e->st.warmup_requests++;
      }
      store_sample(e, &req, SBX__V1__ERROR_CLASS__ERROR_CLASS_DROPPED, !measured);
      continue;
    }
    submit(e, s, idx, sched, now, measured);
  }
  if (e->phase != PH_WARMUP && e->phase != PH_MEASURE) {
    if (e->phase == PH_DRAIN && e->n_free == e->n_slots)
      close_run(e);
    return;
  }
  arm_arrival(e, e->next_arrival);
}

static void report_progress(struct sbx_engine *e, int64_t now) {
  struct sbx_progress p;
  uint64_t errors = e->st.completed + e->st.dropped - e->st.by_class[0];
  if (e->cfg.on_progress == NULL)
    return;
  if (now > e->last_tick_ns) {
    e->rate = (double)(e->st.completed - e->last_completed) * 1e9 /
              (double)(now - e->last_tick_ns);
  }
  e->last_completed = e->st.completed;
  e->last_tick_ns = now;
  p.phase = phase_state(e->phase);
  p.elapsed_s = e->t0 ? (double)(now - e->t0) / 1e9 : 0;
  p.rate = e->rate;
  p.p99_us = sbx_hist_percentile(e->st.latency, 99.0);
  p.completed = e->st.completed;
  p.errors = errors;
  e->cfg.on_progress(&p, e->cfg.progress_arg);
}

static void on_tick(uv_timer_t *t) {
  struct sbx_engine *e = t->data;
  int64_t now = now_ns();
  if (e->phase == PH_WARMUP || e->phase == PH_MEASURE)
    advance(e, now);
  while (e->st.measure_start_ns != 0 && e->phase >= PH_MEASURE &&
         now >= e->measure_start + (int64_t)(e->sec_index + 1) * NS_PER_S &&
         (e->st.measure_end_ns == 0 ||
          e->measure_start + (int64_t)(e->sec_index + 1) * NS_PER_S <=
              e->st.measure_end_ns))
    flush_second(e);
  if (e->cfg.store != NULL)
    sbx_store_tick(e->cfg.store);
  report_progress(e, now);
  if (e->load->model == SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED)
    issue_closed(e); /* refills slots whose submit failed */
  if (e->phase == PH_DRAIN) {
    if (e->n_free == e->n_slots ||
        now > e->st.measure_end_ns + e->load->timeout_us * NS_PER_US +
                  DRAIN_SLACK_NS)
      close_run(e);
  }
}

static void begin_load(struct sbx_engine *e) {
  e->t0 = now_ns();
  e->measure_start = e->t0 + e->load->warmup_us * NS_PER_US;
  e->phase = PH_WARMUP;
  e->last_tick_ns = e->t0;
  advance(e, e->t0);
  uv_timer_start(&e->tick_timer, on_tick, TICK_MS, TICK_MS);
  if (e->load->model == SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED) {
    issue_closed(e);
    return;
  }
  e->rng = e->load->seed ^ 0x5DEECE66DULL;
  e->next_arrival = e->t0;
  if (e->load->model == SBX__V1__LOAD_MODEL__LOAD_MODEL_TRACE)
    e->next_arrival = next_arrival_after(e);
  uv_poll_start(&e->arrival_poll, UV_READABLE, on_arrival);
  arm_arrival(e, e->next_arrival);
}

void sbx_engine_adapter_done(struct sbx_adapter *a, struct sbx_request *req) {
  struct sbx_engine *e = a->data;
  struct slot *s = (struct slot *)req; /* req is the first member */
  Sbx__V1__ErrorClass cls = req->error;

  if (e->phase == PH_PREFLIGHT) {
    put_slot(e, s);
    if (cls == SBX__V1__ERROR_CLASS__ERROR_CLASS_REFUSED) {
      e->status = SBX_ECONNECT;
      sbx_diag_set(&e->diag,
                   "cannot reach the product: %s; check that it is running "
                   "and listening at that address",
                   req->detail[0] ? req->detail : "connection refused");
      close_run(e);
      return;
    }
    begin_load(e);
    return;
  }
  if (cls != SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE && s->measured)
    sbx_quality_unanswered(e->st.quality, e->checks, req->kase->expect);
  else if (cls == SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE &&
           req->kase->expect != NULL)
    cls = sbx_check(e->checks, req->kase->expect, req->status, req->body,
                    req->body_len, s->measured ? e->st.quality : NULL);
  else if (cls == SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE)
    cls = req->status >= 200 && req->status < 300
              ? SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE
              : SBX__V1__ERROR_CLASS__ERROR_CLASS_HTTP_STATUS;
  if (s->measured) {
    int64_t lat = (req->done_ns - req->sched_ns) / NS_PER_US;
    e->st.completed++;
    e->st.by_class[cls]++;
    sbx_hist_record(e->st.latency, lat);
    sbx_hist_record(e->sec_hist, lat);
    e->sec_completed++;
    if (cls != SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE)
      e->sec_errors++;
  } else {
    e->st.warmup_requests++;
  }
  store_sample(e, req, cls, !s->measured);
  put_slot(e, s);
  if (e->load->model == SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED)
    issue_closed(e);
  if (e->phase == PH_DRAIN && e->n_free == e->n_slots)
    close_run(e);
}

static void finish(struct sbx_engine *e) {
  int rc;
  if (--e->open_handles > 0)
    return;
  if (e->st.measure_start_ns != 0 && e->sec_completed + e->sec_dropped > 0)
    flush_second(e);
  if (e->cfg.store != NULL) {
    rc = sbx_store_flush(e->cfg.store);
    if (rc != 0 && e->status == 0) {
      e->status = SBX_ESTORE;
      sbx_diag_set(&e->diag, "could not commit the run's samples: %s",
                   sbx_strerror(rc));
    }
  }
  e->phase = PH_DONE;
  e->done_cb(e, e->status, &e->diag, e->done_arg);
}

static void on_timer_closed(uv_handle_t *h) {
  finish(h->data);
}

static void on_arrival_closed(uv_handle_t *h) {
  struct sbx_engine *e = h->data;
  close(e->arrival_fd);
  e->arrival_fd = -1;
  finish(e);
}

static void on_adapter_closed(struct sbx_adapter *a) {
  finish(a->data);
}

static void close_run(struct sbx_engine *e) {
  if (e->phase == PH_CLOSING || e->phase == PH_DONE)
    return;
  if (e->adapter->ops->usage != NULL) {
    struct sbx_adapter_usage u;
    memset(&u, 0, sizeof(u));
    e->adapter->ops->usage(e->adapter, &u);
    e->st.product_cpu_us = u.cpu_us;
    e->st.product_peak_rss = u.peak_rss_bytes;
    e->st.product_restarts = u.restarts;
    memcpy(e->st.layers, u.layers, sizeof(e->st.layers));
    e->st.layers[sizeof(e->st.layers) - 1] = '\0';
  }
  if (e->st.measure_end_ns == 0 && e->st.measure_start_ns != 0)
    e->st.measure_end_ns = now_ns();
  e->phase = PH_CLOSING;
  report_progress(e, now_ns());
  e->open_handles = 3;
  arm_arrival(e, 0);
  uv_close((uv_handle_t *)&e->arrival_poll, on_arrival_closed);
  uv_close((uv_handle_t *)&e->tick_timer, on_timer_closed);
  e->adapter->ops->close(e->adapter, on_adapter_closed);
}

int sbx_engine_start(uv_loop_t *loop, const struct sbx_engine_config *cfg,
                     struct sbx_adapter *adapter, sbx_engine_done_cb done_cb,
                     void *arg, struct sbx_engine **out) {
  struct sbx_engine *e = NULL;
  const Sbx__V1__Load *ld = cfg->load;
  uint32_t i;
  int rc = SBX_EINVAL;

  *out = NULL;
  if (ld == NULL || cfg->dataset == NULL || cfg->dataset->n_cases == 0 ||
      cfg->scenario == NULL || adapter == NULL || done_cb == NULL)
    goto fail;
  if (ld->model == SBX__V1__LOAD_MODEL__LOAD_MODEL_OPEN && !(ld->rate > 0))
    goto fail;
  rc = SBX_ENOMEM;
  e = calloc(1, sizeof(*e));
  if (e == NULL)
    goto fail;
  e->loop = loop;
  e->cfg = *cfg;
  e->load = ld;
  e->checks = cfg->scenario->checks;
  e->adapter = adapter;
  e->client = adapter->ops->name;
  adapter->data = e;
  adapter->on_fatal = on_fatal;
  e->done_cb = done_cb;
  e->done_arg = arg;
  e->phase = PH_PREFLIGHT;
  e->n_slots = adapter->max_in_flight;
  if (e->n_slots == 0)
    e->n_slots = 1;
  e->slots = calloc(e->n_slots, sizeof(*e->slots));
  e->free_slots = malloc(sizeof(*e->free_slots) * e->n_slots);
  e->st.latency = sbx_hist_new();
  e->st.lag = sbx_hist_new();
  e->sec_hist = sbx_hist_new();
  e->st.quality = sbx_quality_new(e->checks);
  if (e->slots == NULL || e->free_slots == NULL || e->st.latency == NULL ||
      e->st.lag == NULL || e->sec_hist == NULL || e->st.quality == NULL)
    goto fail_engine;
  rc = build_order(e);
  if (rc != 0)
    goto fail_engine;
  for (i = 0; i < e->n_slots; i++)
    e->free_slots[i] = e->n_slots - 1 - i;
  e->n_free = e->n_slots;
  if (ld->model == SBX__V1__LOAD_MODEL__LOAD_MODEL_OPEN)
    e->st.target_rate = ld->rate;
  e->arrival_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (e->arrival_fd < 0 || uv_poll_init(loop, &e->arrival_poll,
                                        e->arrival_fd) != 0) {
    rc = SBX_EIO;
    if (e->arrival_fd >= 0)
      close(e->arrival_fd);
    goto fail_engine;
  }
  uv_timer_init(loop, &e->tick_timer);
  e->arrival_poll.data = e;
  e->tick_timer.data = e;

  /* Preflight: one request, not measured, tells a dead product from a
   * slow one before any load is generated. */
  {
    struct slot *s = get_slot(e);
    int64_t t = now_ns();
    memset(&s->req, 0, sizeof(s->req));
    s->req.kase = cfg->dataset->cases[e->order[0]];
    s->req.case_index = e->order[0];
    s->req.sched_ns = s->req.send_ns = t;
    rc = adapter->ops->submit(adapter, &s->req);
    if (rc != 0) {
      put_slot(e, s);
      e->status = SBX_ECONNECT;
      sbx_diag_set(&e->diag, "could not send the first request: %s",
                   sbx_strerror(rc));
      close_run(e);
    }
  }
  *out = e;
  return 0;

fail_engine:
  sbx_hist_free(e->st.latency);
  sbx_hist_free(e->st.lag);
  sbx_hist_free(e->sec_hist);
  sbx_quality_free(e->st.quality);
  free(e->slots);
  free(e->free_slots);
  free(e->order);
  free(e);
fail:
  if (adapter != NULL)
    adapter->ops->close(adapter, NULL);
  return rc;
}

/* The adapter gave up on the product (e.g. a plugin host that keeps
 * dying): end the run now; its verdict will be ERROR with why. */
static void on_fatal(struct sbx_adapter *a, const char *why) {
  struct sbx_engine *e = a->data;
  if (e == NULL || e->phase >= PH_CLOSING)
    return;
  if (e->status == 0) {
    e->status = SBX_EPRODUCT;
    sbx_diag_set(&e->diag, "%s", why);
  }
  close_run(e);
}

void sbx_engine_cancel(struct sbx_engine *e) {
  if (e->phase >= PH_CLOSING)
    return;
  if (e->status == 0)
    e->status = SBX_ECANCELED;
  sbx_diag_set(&e->diag, "the run was canceled");
  close_run(e);
}

const struct sbx_run_stats *sbx_engine_stats(const struct sbx_engine *e) {
  return &e->st;
}

const char *sbx_engine_client(const struct sbx_engine *e) {
  return e->client;
}

void sbx_engine_free(struct sbx_engine *e) {
  if (e == NULL)
    return;
  sbx_hist_free(e->st.latency);
  sbx_hist_free(e->st.lag);
  sbx_hist_free(e->sec_hist);
  sbx_quality_free(e->st.quality);
  free(e->slots);
  free(e->free_slots);
  free(e->order);
  free(e);
}
