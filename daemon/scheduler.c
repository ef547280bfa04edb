/* scheduler.c - the queue of runs and the measuring lanes. See
 * scheduler.h (not sched.h: that name is the C library's). */
#include "scheduler.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "registry.h"
#include "sign.h"
#include "spec.h"
#include "store.h"

/* One run being measured. The loop thread prepares it and owns everything
 * but runner and run, which belong to the measuring thread from the START
 * message until the DONE message. */
struct job {
  struct job *next;
  struct sbx_sched *s;
  struct sbx_runner *runner;
  uint64_t id;
  struct job *mnext; /* the measuring thread's list of live runners */
  Sbx__V1__Run *run;
  Sbx__V1__Scenario *sc;
  struct sbx_dataset *ds;
  Sbx__V1__Product *product;
  char *plugin_path;
  struct sbx_runner_product prod;
  Sbx__V1__Progress last; /* latest progress, for new watchers */
  int has_progress;
  double last_sent_s;
  int canceled;
  /* Measuring thread -> loop: filled before DONE is posted. */
  int status;
  Sbx__V1__Result *res;
  struct sbx_diag diag;
};

/* Messages between the loop thread and the measuring thread. */
enum {
  MSG_START,    /* loop -> measuring: job */
  MSG_CANCEL,   /* loop -> measuring: run id (the job may be gone by then) */
  MSG_STOP,     /* loop -> measuring: end the thread */
  MSG_STARTED,  /* measuring -> loop: job */
  MSG_FAILED,   /* measuring -> loop: job, not started */
  MSG_PROGRESS, /* measuring -> loop: job, progress */
  MSG_DONE      /* measuring -> loop: job, ended; the thread let go of it */
};

struct msg {
  struct msg *next;
  int kind;
  struct job *job;
  uint64_t id;
  struct sbx_progress progress;
};

struct mailbox {
  uv_mutex_t lock;
  struct msg *head, *tail;
  uv_async_t async;
};

struct sbx_sched {
  uv_loop_t *loop;
  struct sbx_store *store;
  const struct sbx_signer *signer;
  struct sbx_sched_config cfg;
  struct sbx_sched_hooks hooks;
  char *data_dir;
  uint64_t *queue; /* run ids, oldest first */
  size_t n_queue;
  size_t cap_queue;
  struct job *jobs; /* running */
  unsigned n_running;
  int stopping;
  void (*stop_cb)(void *arg); /* when the last run has ended */
  void *stop_arg;
  void (*final_cb)(void *arg); /* the caller's, once every handle closed */
  void *final_arg;
  uv_idle_t kick; /* starts queued runs outside the caller's stack */
  int kick_armed;
  /* Runs are measured on a thread of their own with its own loop, so that
   * API calls on the daemon's loop never delay a scheduled arrival. */
  uv_thread_t thread;
  uv_loop_t mloop;
  struct job *mjobs; /* measuring thread only */
  struct mailbox to_measure; /* async on mloop */
  struct mailbox to_loop;    /* async on the daemon's loop */
  int thread_started;
};

static int post(struct mailbox *mb, int kind, struct job *j,
                const struct sbx_progress *p) {
  struct msg *m = calloc(1, sizeof(*m));
  if (m == NULL)
    return SBX_ENOMEM;
  m->kind = kind;
  m->job = j;
  m->id = j != NULL ? j->id : 0;
  if (p != NULL)
    m->progress = *p;
  uv_mutex_lock(&mb->lock);
  if (mb->tail != NULL)
    mb->tail->next = m;
  else
    mb->head = m;
  mb->tail = m;
  uv_mutex_unlock(&mb->lock);
  uv_async_send(&mb->async);
  return 0;
}

static struct msg *take_all(struct mailbox *mb) {
  struct msg *m;
  uv_mutex_lock(&mb->lock);
  m = mb->head;
  mb->head = mb->tail = NULL;
  uv_mutex_unlock(&mb->lock);
  return m;
}

#define LOG(s, level, event, ...)                                             \
  do {                                                                        \
    if ((s)->hooks.log != NULL)                                               \
      (s)->hooks.log((s)->hooks.arg, level, event, __VA_ARGS__);              \
  } while (0)

static void emit_state(struct sbx_sched *s, uint64_t id,
                       Sbx__V1__RunState state) {
  Sbx__V1__RunEvent ev = SBX__V1__RUN_EVENT__INIT;
  if (s->hooks.on_event == NULL)
    return;
  ev.run_id = id;
  ev.at_unix_ms = sbx_unix_ms();
  ev.event_case = SBX__V1__RUN_EVENT__EVENT_STATE;
  ev.state = state;
  s->hooks.on_event(&ev, s->hooks.arg);
}

void sbx_sched_overrides(const Sbx__V1__LoadOverrides *in,
                         struct sbx_load_overrides *out) {
  memset(out, 0, sizeof(*out));
  if (in == NULL)
    return;
  out->warmup_us = in->warmup_us;
  out->has_warmup = in->warmup_us > 0 || in->zero_warmup;
  out->min_duration_us = in->min_duration_us;
  out->max_duration_us = in->max_duration_us;
  out->timeout_us = in->timeout_us;
  out->min_cases = in->min_cases;
  out->has_min_cases = in->min_cases > 0;
  out->concurrency = in->concurrency;
  out->rate = in->rate;
  out->has_seed = in->seed != 0;
  out->seed = in->seed;
}

/* ---- ending runs ---- */

static int set_reason(Sbx__V1__Run *run, const char *reason) {
  char *r = strdup(reason);
  if (r == NULL)
    return SBX_ENOMEM;
  if (run->reason != NULL && run->reason != protobuf_c_empty_string)
    free(run->reason);
  run->reason = r;
  return 0;
}

/* Stores the terminal run with res (signed) and tells the hooks. res may be
 * NULL. */
static void finish(struct sbx_sched *s, Sbx__V1__Run *run,
                   Sbx__V1__Result *res) {
  Sbx__V1__SignedResult *sr = NULL;
  uint8_t *bytes = NULL;
  size_t len = 0;
  int rc;

  if (run->ended_unix_ms == 0)
    run->ended_unix_ms = sbx_unix_ms();
  if (res != NULL) {
    rc = sbx_sign_result(s->signer, res, &sr);
    if (rc == 0) {
      len = sbx__v1__signed_result__get_packed_size(sr);
      bytes = malloc(len ? len : 1);
      if (bytes != NULL)
        sbx__v1__signed_result__pack(sr, bytes);
    }
    if (bytes == NULL) {
      LOG(s, "error", "sign_failed", "run=%llu could not sign the result",
          (unsigned long long)run->id);
      if (sr != NULL)
        sbx__v1__signed_result__free_unpacked(sr, NULL);
      sr = NULL;
      len = 0;
    }
  }
  rc = sbx_store_finish_run(s->store, run, res, bytes, len);
  if (rc != 0) {
    char msg[512];
    sbx_store_errmsg(s->store, msg, sizeof(msg));
    LOG(s, "error", "store_failed", "run=%llu could not store its end: %s",
        (unsigned long long)run->id, msg);
  }
  LOG(s, "info", "run_end", "run=%llu scenario=%s product=%s state=%s%s%s",
      (unsigned long long)run->id, run->scenario, run->product,
      protobuf_c_enum_descriptor_get_value(&sbx__v1__run_state__descriptor,
                                           run->state)
          ->name,
      run->reason[0] ? " reason=" : "", run->reason);
  emit_state(s, run->id, run->state);
  if (sr != NULL && s->hooks.on_event != NULL) {
    Sbx__V1__RunEvent ev = SBX__V1__RUN_EVENT__INIT;
    ev.run_id = run->id;
    ev.at_unix_ms = sbx_unix_ms();
    ev.event_case = SBX__V1__RUN_EVENT__EVENT_RESULT;
    ev.result = sr;
    s->hooks.on_event(&ev, s->hooks.arg);
  }
  if (s->hooks.on_finished != NULL)
    s->hooks.on_finished(run, res, sr, bytes, len, s->hooks.arg);
  if (sr != NULL)
    sbx__v1__signed_result__free_unpacked(sr, NULL);
  free(bytes);
}

/* A result for a run that failed before the engine ran: verdict ERROR with
 * the reason, signed like any other, so that whoever waits gets one. */
static Sbx__V1__Result *error_result(const Sbx__V1__Run *run,
                                     const char *why) {
  Sbx__V1__Result *res = malloc(sizeof(*res));
  const char *at;
  if (res == NULL)
    return NULL;
  sbx__v1__result__init(res);
  res->run_id = run->id;
  at = strchr(run->scenario, '@');
  res->scenario = at != NULL ? strndup(run->scenario, (size_t)(at - run->scenario))
                             : strdup(run->scenario);
  res->scenario_version = strdup(at != NULL ? at + 1 : "");
  res->product = strdup(run->product);
  res->harness_version = strdup(SBX_VERSION);
  res->error_message = strdup(why);
  res->verdict = SBX__V1__VERDICT__VERDICT_ERROR;
  res->started_unix_ms = run->started_unix_ms;
  res->ended_unix_ms = sbx_unix_ms();
  res->match_id = strdup(run->match_id);
  res->dataset = strdup(run->dataset);
  if (res->scenario == NULL || res->scenario_version == NULL ||
      res->product == NULL || res->harness_version == NULL ||
      res->error_message == NULL || res->match_id == NULL ||
      res->dataset == NULL) {
    sbx__v1__result__free_unpacked(res, NULL);
    return NULL;
  }
  return res;
}

/* ---- jobs ---- */

static void job_free(struct job *j) {
  sbx_runner_free(j->runner);
  if (j->res != NULL)
    sbx__v1__result__free_unpacked(j->res, NULL);
  if (j->run != NULL)
    sbx__v1__run__free_unpacked(j->run, NULL);
  sbx_scenario_free(j->sc);
  sbx_dataset_free(j->ds);
  if (j->product != NULL)
    sbx__v1__product__free_unpacked(j->product, NULL);
  free(j->plugin_path);
  free(j);
}

static void unlink_job(struct sbx_sched *s, struct job *j) {
  struct job **pp;
  for (pp = &s->jobs; *pp != NULL; pp = &(*pp)->next)
    if (*pp == j) {
      *pp = j->next;
      s->n_running--;
      return;
    }
}

static void kick(struct sbx_sched *s);

static void maybe_stopped(struct sbx_sched *s) {
  if (s->stopping && s->n_running == 0 && s->stop_cb != NULL) {
    void (*cb)(void *) = s->stop_cb;
    s->stop_cb = NULL;
    if (s->kick_armed)
      uv_idle_stop(&s->kick);
    cb(s->stop_arg);
  }
}

/* ---- the measuring thread ---- */

static void m_on_progress(const struct sbx_progress *p, void *arg) {
  struct job *j = arg;
  post(&j->s->to_loop, MSG_PROGRESS, j, p);
}

static void m_unlink(struct sbx_sched *s, struct job *j) {
  struct job **pp;
  for (pp = &s->mjobs; *pp != NULL; pp = &(*pp)->mnext)
    if (*pp == j) {
      *pp = j->mnext;
      return;
    }
}

static void m_on_done(struct sbx_runner *r, int status, Sbx__V1__Result *res,
                      const struct sbx_diag *diag, void *arg) {
  struct job *j = arg;
  (void)r;
  /* After DONE the loop thread frees j: forget it first. */
  m_unlink(j->s, j);
  j->status = status;
  j->res = res;
  if (diag != NULL)
    j->diag = *diag;
  post(&j->s->to_loop, MSG_DONE, j, NULL);
}

static void m_start(struct sbx_sched *s, struct job *j) {
  struct sbx_runner_config rc;
  int err;
  memset(&rc, 0, sizeof(rc));
  rc.scenario = j->sc;
  rc.dataset = j->ds;
  rc.run = j->run;
  rc.product = &j->prod;
  rc.store = s->store;
  rc.front_end_stores_phases = 1;
  rc.http_client = j->run->http_client;
  rc.on_progress = m_on_progress;
  rc.progress_arg = j;
  rc.on_done = m_on_done;
  rc.arg = j;
  err = sbx_runner_start(&s->mloop, &rc, &j->runner, &j->diag);
  if (err != 0) {
    j->status = err;
    if (j->diag.msg[0] == '\0')
      sbx_diag_set(&j->diag, "could not start the run: %s", sbx_strerror(err));
    post(&s->to_loop, MSG_FAILED, j, NULL);
    return;
  }
  j->mnext = s->mjobs;
  s->mjobs = j;
  post(&s->to_loop, MSG_STARTED, j, NULL);
}

static void on_measure_mail(uv_async_t *h) {
  struct sbx_sched *s = h->data;
  struct msg *m = take_all(&s->to_measure), *next;
  for (; m != NULL; m = next) {
    next = m->next;
    if (m->kind == MSG_START) {
      m_start(s, m->job);
    } else if (m->kind == MSG_STOP) {
      uv_close((uv_handle_t *)&s->to_measure.async, NULL);
    } else if (m->kind == MSG_CANCEL) {
      struct job *j;
      for (j = s->mjobs; j != NULL; j = j->mnext)
        if (j->id == m->id)
          sbx_runner_cancel(j->runner);
    }
    free(m);
  }
}

static void measure_main(void *arg) {
  struct sbx_sched *s = arg;
  uv_run(&s->mloop, UV_RUN_DEFAULT);
}

/* ---- back on the loop thread ---- */

static void on_progress(struct sbx_sched *s, struct job *j,
                        const struct sbx_progress *p) {
  int phase_change = !j->has_progress || j->last.phase != p->phase;
  sbx__v1__progress__init(&j->last);
  j->last.phase = p->phase;
  j->last.elapsed_s = p->elapsed_s;
  j->last.rate = p->rate;
  j->last.p99_us = p->p99_us;
  j->last.completed = p->completed;
  j->last.errors = p->errors;
  j->has_progress = 1;
  if (phase_change) {
    /* Stored here, off the measuring thread: a commit waits for fsync. The
     * measuring thread owns j->run now, so the stored record is updated. */
    Sbx__V1__Run *run = NULL;
    if (sbx_store_get_run(s->store, j->id, &run) == 0) {
      if (!sbx_run_state_terminal(run->state)) {
        run->state = p->phase;
        (void)sbx_store_put_run(s->store, run);
      }
      sbx__v1__run__free_unpacked(run, NULL);
    }
    emit_state(s, j->id, p->phase);
  }
  /* Watchers get progress about once a second. */
  if (phase_change || p->elapsed_s - j->last_sent_s >= 1.0) {
    Sbx__V1__RunEvent ev = SBX__V1__RUN_EVENT__INIT;
    j->last_sent_s = p->elapsed_s;
    if (s->hooks.on_event == NULL)
      return;
    ev.run_id = j->id;
    ev.at_unix_ms = sbx_unix_ms();
    ev.event_case = SBX__V1__RUN_EVENT__EVENT_PROGRESS;
    ev.progress = &j->last;
    s->hooks.on_event(&ev, s->hooks.arg);
  }
}

static void fail_run(struct sbx_sched *s, Sbx__V1__Run *run, const char *why);

static void on_run_done(struct sbx_sched *s, struct job *j) {
  Sbx__V1__Result *res = j->res;
  j->res = NULL;
  if (s->stopping && j->status == SBX_ECANCELED && !j->canceled) {
    /* Stopped by sandboxd itself, not by a user: the run did not end, it
     * was interrupted; no result claims otherwise. */
    j->run->state = SBX__V1__RUN_STATE__RUN_STATE_INTERRUPTED;
    set_reason(j->run, "sandboxd stopped (SIGTERM) while the run was "
                       "measuring; its samples up to the stop are kept");
    if (res != NULL)
      sbx__v1__result__free_unpacked(res, NULL);
    res = NULL;
  }
  unlink_job(s, j);
  finish(s, j->run, res);
  if (res != NULL)
    sbx__v1__result__free_unpacked(res, NULL);
  job_free(j);
  kick(s);
  maybe_stopped(s);
}

static void on_loop_mail(uv_async_t *h) {
  struct sbx_sched *s = h->data;
  struct msg *m = take_all(&s->to_loop), *next;
  for (; m != NULL; m = next) {
    struct job *j = m->job;
    next = m->next;
    switch (m->kind) {
    case MSG_STARTED:
      LOG(s, "info", "run_start", "run=%llu scenario=%s product=%s client=%s",
          (unsigned long long)j->id, j->run->scenario, j->run->product,
          j->run->client);
      emit_state(s, j->id, SBX__V1__RUN_STATE__RUN_STATE_PREPARING);
      if (j->canceled || s->stopping)
        post(&s->to_measure, MSG_CANCEL, j, NULL);
      break;
    case MSG_FAILED:
      LOG(s, "warn", "run_failed", "run=%llu %s", (unsigned long long)j->id,
          j->diag.msg);
      unlink_job(s, j);
      fail_run(s, j->run, j->diag.msg);
      job_free(j);
      kick(s);
      maybe_stopped(s);
      break;
    case MSG_PROGRESS:
      on_progress(s, j, &m->progress);
      break;
    case MSG_DONE:
      on_run_done(s, j);
      break;
    }
    free(m);
  }
}

/* Fails run before it started measuring: ERROR with a signed ERROR result. */
static void fail_run(struct sbx_sched *s, Sbx__V1__Run *run, const char *why) {
  Sbx__V1__Result *res;
  run->state = SBX__V1__RUN_STATE__RUN_STATE_ERROR;
  set_reason(run, why);
  res = error_result(run, why);
  finish(s, run, res);
  if (res != NULL)
    sbx__v1__result__free_unpacked(res, NULL);
}

static void start_run(struct sbx_sched *s, uint64_t id) {
  struct sbx_load_overrides o;
  struct sbx_diag diag = {""};
  struct job *j;
  int err;

  j = calloc(1, sizeof(*j));
  if (j == NULL)
    return;
  j->s = s;
  j->id = id;
  err = sbx_store_get_run(s->store, id, &j->run);
  if (err != 0) {
    LOG(s, "error", "run_lost", "run=%llu cannot be read from the store: %s",
        (unsigned long long)id, sbx_strerror(err));
    free(j);
    return;
  }
  if (j->run->state != SBX__V1__RUN_STATE__RUN_STATE_QUEUED) {
    job_free(j); /* canceled meanwhile */
    return;
  }
  j->run->started_unix_ms = sbx_unix_ms();
  err = sbx_registry_load(s->store, j->run->scenario,
                          strcmp(j->run->dataset, "private") == 0, &j->sc,
                          &j->ds, &diag);
  if (err == 0 && (err = sbx_registry_product(s->store, j->run->product,
                                              &j->product)) != 0)
    sbx_diag_set(&diag, "product %s is not registered any more",
                 j->run->product);
  if (err == 0) {
    sbx_sched_overrides(j->run->requested, &o);
    err = sbx_runner_effective_load(j->sc, &o, j->run);
  }
  if (err == 0) {
    memset(&j->prod, 0, sizeof(j->prod));
    j->prod.id = j->run->product;
    if (j->product->kind == SBX__V1__PRODUCT_KIND__PRODUCT_KIND_PLUGIN) {
      j->plugin_path = sbx_registry_plugin_path(s->data_dir, j->product);
      j->prod.plugin = j->plugin_path;
      j->prod.plugin_config = j->product->plugin->config.data;
      j->prod.plugin_config_len = j->product->plugin->config.len;
      j->prod.plugin_ring = s->cfg.plugin_ring;
      j->prod.digest = j->product->plugin->sha256.data;
      j->prod.digest_len = j->product->plugin->sha256.len;
      if (j->plugin_path == NULL)
        err = SBX_ENOMEM;
    } else if (j->product->endpoint != NULL) {
      j->prod.endpoint = j->product->endpoint->url;
      j->prod.headers = j->product->endpoint->headers;
      j->prod.n_headers = j->product->endpoint->n_headers;
      j->prod.secret = j->product->endpoint->secret;
    }
  }
  if (err != 0) {
    if (diag.msg[0] == '\0')
      sbx_diag_set(&diag, "could not prepare the run: %s", sbx_strerror(err));
    LOG(s, "warn", "run_failed", "run=%llu %s", (unsigned long long)id,
        diag.msg);
    fail_run(s, j->run, diag.msg);
    job_free(j);
    return;
  }
  /* The job counts as running from now on: the measuring thread owns the
   * runner and the run until it posts DONE (or FAILED). */
  j->next = s->jobs;
  s->jobs = j;
  s->n_running++;
  if (post(&s->to_measure, MSG_START, j, NULL) != 0) {
    unlink_job(s, j);
    fail_run(s, j->run, "out of memory while starting the run");
    job_free(j);
  }
}

static void on_kick(uv_idle_t *h) {
  struct sbx_sched *s = h->data;
  uv_idle_stop(h);
  s->kick_armed = 0;
  while (!s->stopping && s->n_queue > 0 && s->n_running < s->cfg.lanes) {
    uint64_t id = s->queue[0];
    memmove(s->queue, s->queue + 1, (s->n_queue - 1) * sizeof(*s->queue));
    s->n_queue--;
    start_run(s, id);
  }
}

static void kick(struct sbx_sched *s) {
  if (!s->kick_armed && !s->stopping) {
    uv_idle_start(&s->kick, on_kick);
    s->kick_armed = 1;
  }
}

/* ---- public ---- */

int sbx_sched_open(uv_loop_t *loop, struct sbx_store *store,
                   const struct sbx_signer *signer,
                   const struct sbx_sched_config *cfg,
                   const struct sbx_sched_hooks *hooks,
                   struct sbx_sched **out) {
  struct sbx_sched *s = calloc(1, sizeof(*s));
  *out = NULL;
  if (s == NULL)
    return SBX_ENOMEM;
  s->loop = loop;
  s->store = store;
  s->signer = signer;
  s->cfg = *cfg;
  if (s->cfg.lanes == 0)
    s->cfg.lanes = 1;
  s->hooks = *hooks;
  s->data_dir = strdup(cfg->data_dir != NULL ? cfg->data_dir : ".");
  if (s->data_dir == NULL) {
    free(s);
    return SBX_ENOMEM;
  }
  s->cfg.data_dir = s->data_dir;
  if (uv_loop_init(&s->mloop) != 0) {
    free(s->data_dir);
    free(s);
    return SBX_EIO;
  }
  uv_mutex_init(&s->to_measure.lock);
  uv_mutex_init(&s->to_loop.lock);
  uv_async_init(&s->mloop, &s->to_measure.async, on_measure_mail);
  uv_async_init(loop, &s->to_loop.async, on_loop_mail);
  s->to_measure.async.data = s->to_loop.async.data = s;
  if (uv_thread_create(&s->thread, measure_main, s) != 0) {
    uv_close((uv_handle_t *)&s->to_measure.async, NULL);
    uv_run(&s->mloop, UV_RUN_DEFAULT);
    uv_loop_close(&s->mloop);
    uv_close((uv_handle_t *)&s->to_loop.async, NULL);
    uv_mutex_destroy(&s->to_measure.lock);
    uv_mutex_destroy(&s->to_loop.lock);
    s->thread_started = 0;
    /* the loop frees nothing of s: the handle is closed with a NULL cb */
    s->stopping = 1;
    return SBX_EIO;
  }
  s->thread_started = 1;
  uv_idle_init(loop, &s->kick);
  s->kick.data = s;
  *out = s;
  return 0;
}

int sbx_sched_enqueue(struct sbx_sched *s, uint64_t run_id) {
  if (s->n_queue == s->cap_queue) {
    size_t cap = s->cap_queue ? 2 * s->cap_queue : 64;
    uint64_t *q = realloc(s->queue, cap * sizeof(*q));
    if (q == NULL)
      return SBX_ENOMEM;
    s->queue = q;
    s->cap_queue = cap;
  }
  s->queue[s->n_queue++] = run_id;
  kick(s);
  return 0;
}

static int resume_one(const Sbx__V1__Run *run, void *arg) {
  struct sbx_sched *s = arg;
  if (run->state == SBX__V1__RUN_STATE__RUN_STATE_QUEUED)
    return sbx_sched_enqueue(s, run->id);
  return 0;
}

int sbx_sched_resume(struct sbx_sched *s) {
  int rc = sbx_store_list_runs(s->store, resume_one, s);
  if (rc == 0 && s->n_queue > 0)
    LOG(s, "info", "queue_resumed", "queued=%zu", s->n_queue);
  return rc;
}

int sbx_sched_cancel(struct sbx_sched *s, uint64_t run_id) {
  struct job *j;
  Sbx__V1__Run *run = NULL;
  size_t i;
  int rc;

  for (j = s->jobs; j != NULL; j = j->next)
    if (j->id == run_id) {
      j->canceled = 1;
      return post(&s->to_measure, MSG_CANCEL, j, NULL);
    }
  rc = sbx_store_get_run(s->store, run_id, &run);
  if (rc != 0)
    return rc;
  if (run->state != SBX__V1__RUN_STATE__RUN_STATE_QUEUED) {
    sbx__v1__run__free_unpacked(run, NULL);
    return SBX_ESTATE;
  }
  for (i = 0; i < s->n_queue; i++)
    if (s->queue[i] == run_id) {
      memmove(s->queue + i, s->queue + i + 1,
              (s->n_queue - i - 1) * sizeof(*s->queue));
      s->n_queue--;
      break;
    }
  run->state = SBX__V1__RUN_STATE__RUN_STATE_CANCELED;
  set_reason(run, "canceled while queued");
  finish(s, run, NULL);
  sbx__v1__run__free_unpacked(run, NULL);
  return 0;
}

uint32_t sbx_sched_position(const struct sbx_sched *s, uint64_t run_id) {
  size_t i;
  for (i = 0; i < s->n_queue; i++)
    if (s->queue[i] == run_id)
      return (uint32_t)(i + s->n_running);
  return 0;
}

unsigned sbx_sched_running(const struct sbx_sched *s) { return s->n_running; }

unsigned sbx_sched_queued(const struct sbx_sched *s) {
  return (unsigned)s->n_queue;
}

int sbx_sched_progress(const struct sbx_sched *s, uint64_t run_id,
                       Sbx__V1__Progress *out) {
  const struct job *j;
  for (j = s->jobs; j != NULL; j = j->next)
    if (j->id == run_id && j->has_progress) {
      *out = j->last;
      return 0;
    }
  return SBX_ENOENT;
}

static void on_kick_closed(uv_handle_t *h) {
  struct sbx_sched *s = h->data;
  if (s->final_cb != NULL)
    s->final_cb(s->final_arg);
}

static void on_mail_closed(uv_handle_t *h) {
  struct sbx_sched *s = h->data;
  uv_close((uv_handle_t *)&s->kick, on_kick_closed);
}

/* Every run has ended: the measuring thread is idle. Stop it, then close
 * the loop's handles. */
static void stopped_close(void *arg) {
  struct sbx_sched *s = arg;
  if (s->thread_started) {
    post(&s->to_measure, MSG_STOP, NULL, NULL);
    uv_thread_join(&s->thread);
    uv_loop_close(&s->mloop);
    s->thread_started = 0;
    uv_close((uv_handle_t *)&s->to_loop.async, on_mail_closed);
    return;
  }
  uv_close((uv_handle_t *)&s->kick, on_kick_closed);
}

void sbx_sched_stop(struct sbx_sched *s, void (*cb)(void *arg), void *arg) {
  struct job *j;
  s->stopping = 1;
  if (s->kick_armed) {
    uv_idle_stop(&s->kick);
    s->kick_armed = 0;
  }
  /* First wait for the runs, then close the idle handle and call cb. */
  s->stop_cb = stopped_close;
  s->stop_arg = s;
  s->final_cb = cb;
  s->final_arg = arg;
  for (j = s->jobs; j != NULL; j = j->next)
    post(&s->to_measure, MSG_CANCEL, j, NULL);
  maybe_stopped(s);
}

void sbx_sched_free(struct sbx_sched *s) {
  if (s == NULL)
    return;
  while (s->jobs != NULL) {
    struct job *j = s->jobs;
    s->jobs = j->next;
    job_free(j);
  }
  {
    struct msg *m = take_all(&s->to_loop), *next;
    for (; m != NULL; m = next) {
      next = m->next;
      free(m);
    }
  }
  uv_mutex_destroy(&s->to_measure.lock);
  uv_mutex_destroy(&s->to_loop.lock);
  free(s->queue);
  free(s->data_dir);
  free(s);
}
