/* test_store.c - the LMDB store: persistence, schema, recovery, the sample
 * queue, failure paths. Each case works in its own directory under a
 * mkdtemp() root that is removed at the end. */
#include <errno.h>
#include <ftw.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "testlib.h"

static char root[64];

static void path_in(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "%s/%s", root, name);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw) {
  return remove(p);
}

static struct sbx_store *open_ok(const char *dir) {
  struct sbx_store *st = NULL;
  struct sbx_diag d = {""};
  int rc = sbx_store_open(dir, &st, &d);
  if (rc != 0)
    fprintf(stderr, "open %s: %s: %s\n", dir, sbx_err_name(rc), d.msg);
  CHECK_EQ_INT(rc, 0);
  return st;
}

/* Direct LMDB access to a closed store, to plant what sandboxd never
 * writes (a newer schema, damaged records). */
static int raw_put(const char *dir, const char *db, const void *k, size_t klen,
                   const void *v, size_t vlen) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};
  int rc = mdb_env_create(&env);
  if (rc != 0)
    return rc;
  mdb_env_set_maxdbs(env, 16);
  if ((rc = mdb_env_open(env, dir, 0, 0600)) == 0 &&
      (rc = mdb_txn_begin(env, NULL, 0, &txn)) == 0) {
    if ((rc = mdb_dbi_open(txn, db, MDB_CREATE, &dbi)) == 0 &&
        (rc = mdb_put(txn, dbi, &key, &val, 0)) == 0)
      rc = mdb_txn_commit(txn);
    else
      mdb_txn_abort(txn);
  }
  mdb_env_close(env);
  return rc;
}

static int raw_get(const char *dir, const char *db, const char *k, uint8_t *out,
                   size_t cap, size_t *len) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  MDB_val key = {strlen(k), (void *)k}, val;
  int rc = mdb_env_create(&env);
  if (rc != 0)
    return rc;
  mdb_env_set_maxdbs(env, 16);
  if ((rc = mdb_env_open(env, dir, MDB_RDONLY, 0600)) == 0 &&
      (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) == 0) {
    if ((rc = mdb_dbi_open(txn, db, 0, &dbi)) == 0 &&
        (rc = mdb_get(txn, dbi, &key, &val)) == 0) {
      *len = val.mv_size;
      memcpy(out, val.mv_data, val.mv_size < cap ? val.mv_size : cap);
    }
    mdb_txn_abort(txn);
  }
  mdb_env_close(env);
  return rc;
}

static void new_run(struct sbx_store *st, Sbx__V1__Run *run,
                    Sbx__V1__RunState state) {
  Sbx__V1__Run init = SBX__V1__RUN__INIT;
  *run = init;
  run->scenario = "web-static@1.0.0";
  run->product = "acme/web@2";
  run->state = state;
  run->reason = "set by the test";
  run->created_unix_ms = 1700000000000;
  CHECK_EQ_INT(sbx_store_new_run(st, run), 0);
}

static void test_open_reopen(void) {
  char dir[128];
  struct stat sb;
  Sbx__V1__Run r1, r2, r3;
  Sbx__V1__Run *got = NULL;
  struct sbx_store *st;
  uint8_t buf[16];
  size_t len = 0;

  /* Parents are created too, private to the user. */
  path_in(dir, sizeof(dir), "a/b/store");
  st = open_ok(dir);
  CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode));
  CHECK_EQ_INT(sb.st_mode & 0777, 0700);
  CHECK_EQ_INT(sbx_store_recovered(st), 0);
  new_run(st, &r1, SBX__V1__RUN_STATE__RUN_STATE_DONE);
  new_run(st, &r2, SBX__V1__RUN_STATE__RUN_STATE_DONE);
  CHECK_EQ_INT(r1.id, 1);
  CHECK_EQ_INT(r2.id, 2);
  CHECK_EQ_INT(sbx_store_close(st), 0);

  /* Schema version and counter as LMDB sees them. */
  CHECK_EQ_INT(raw_get(dir, "meta", "schema_version", buf, sizeof(buf), &len),
               0);
  CHECK_EQ_INT(len, 4);
  CHECK(buf[0] == 0 && buf[1] == 0 && buf[2] == 0 && buf[3] == 1);
  CHECK_EQ_INT(raw_get(dir, "meta", "next_run_id", buf, sizeof(buf), &len), 0);
  CHECK_EQ_INT(len, 8);
  CHECK_EQ_INT(buf[7], 3);

  st = open_ok(dir);
  CHECK_EQ_INT(sbx_store_get_run(st, 2, &got), 0);
  if (got != NULL) {
    CHECK_EQ_INT(got->id, 2);
    CHECK_EQ_STR(got->scenario, "web-static@1.0.0");
    CHECK_EQ_STR(got->product, "acme/web@2");
    CHECK_EQ_INT(got->created_unix_ms, 1700000000000);
    sbx__v1__run__free_unpacked(got, NULL);
  }
  new_run(st, &r3, SBX__V1__RUN_STATE__RUN_STATE_QUEUED);
  CHECK_EQ_INT(r3.id, 3);

  /* An id put directly is never handed out again. */
  r3.id = 50;
  CHECK_EQ_INT(sbx_store_put_run(st, &r3), 0);
  new_run(st, &r3, SBX__V1__RUN_STATE__RUN_STATE_DONE);
  CHECK_EQ_INT(r3.id, 51);
  r3.id = 0;
  CHECK_EQ_INT(sbx_store_put_run(st, &r3), SBX_EINVAL);

  CHECK_EQ_INT(sbx_store_get_run(st, 999, &got), SBX_ENOENT);
  CHECK(got == NULL);
  CHECK_EQ_INT(sbx_store_close(st), 0);
  CHECK_EQ_INT(sbx_store_close(NULL), 0);
}

static void test_newer_schema(void) {
  char dir[128];
  struct sbx_store *st;
  struct sbx_diag d = {""};
  uint8_t v2[4] = {0, 0, 0, 2}, bad[3] = {0, 0, 1};

  path_in(dir, sizeof(dir), "schema");
  st = open_ok(dir);
  CHECK_EQ_INT(sbx_store_close(st), 0);
  CHECK_EQ_INT(raw_put(dir, "meta", "schema_version", 14, v2, 4), 0);
  st = (struct sbx_store *)1;
  CHECK_EQ_INT(sbx_store_open(dir, &st, &d), SBX_ESTORE);
  CHECK(st == NULL);
  CHECK(strstr(d.msg, "schema version 2, newer than this sandboxd supports "
                      "(1)") != NULL);
  CHECK(strstr(d.msg, dir) != NULL);

  CHECK_EQ_INT(raw_put(dir, "meta", "schema_version", 14, bad, 3), 0);
  CHECK_EQ_INT(sbx_store_open(dir, &st, &d), SBX_ESTORE);
  CHECK(strstr(d.msg, "meta.schema_version is damaged") != NULL);
}

static void test_recovery(void) {
  char dir[128];
  struct sbx_store *st;
  Sbx__V1__Run m, d, v, c;
  Sbx__V1__Run *got = NULL;
  int64_t before;
  struct timespec ts;

  path_in(dir, sizeof(dir), "recovery");
  st = open_ok(dir);
  new_run(st, &m, SBX__V1__RUN_STATE__RUN_STATE_MEASURING);
  new_run(st, &d, SBX__V1__RUN_STATE__RUN_STATE_DONE);
  new_run(st, &v, SBX__V1__RUN_STATE__RUN_STATE_VERIFYING);
  new_run(st, &c, SBX__V1__RUN_STATE__RUN_STATE_CANCELED);
  CHECK_EQ_INT(sbx_store_close(st), 0);

  clock_gettime(CLOCK_REALTIME, &ts);
  before = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  st = open_ok(dir);
  CHECK_EQ_INT(sbx_store_recovered(st), 2);
  CHECK_EQ_INT(sbx_store_get_run(st, m.id, &got), 0);
  if (got != NULL) {
    CHECK_EQ_INT(got->state, SBX__V1__RUN_STATE__RUN_STATE_INTERRUPTED);
    CHECK_EQ_STR(got->reason, "the process stopped while the run was "
                              "measuring; its samples up to the last commit "
                              "are kept");
    CHECK(got->ended_unix_ms >= before);
    CHECK_EQ_STR(got->scenario, "web-static@1.0.0");
    sbx__v1__run__free_unpacked(got, NULL);
  }
  CHECK_EQ_INT(sbx_store_get_run(st, v.id, &got), 0);
  if (got != NULL) {
    CHECK_EQ_INT(got->state, SBX__V1__RUN_STATE__RUN_STATE_INTERRUPTED);
    CHECK(strstr(got->reason, "while the run was verifying;") != NULL);
    sbx__v1__run__free_unpacked(got, NULL);
  }
  CHECK_EQ_INT(sbx_store_get_run(st, d.id, &got), 0);
  if (got != NULL) {
    CHECK_EQ_INT(got->state, SBX__V1__RUN_STATE__RUN_STATE_DONE);
    CHECK_EQ_STR(got->reason, "set by the test");
    CHECK_EQ_INT(got->ended_unix_ms, 0);
    sbx__v1__run__free_unpacked(got, NULL);
  }
  CHECK_EQ_INT(sbx_store_get_run(st, c.id, &got), 0);
  if (got != NULL) {
    CHECK_EQ_INT(got->state, SBX__V1__RUN_STATE__RUN_STATE_CANCELED);
    sbx__v1__run__free_unpacked(got, NULL);
  }
  CHECK_EQ_INT(sbx_store_close(st), 0);
  st = open_ok(dir);
  CHECK_EQ_INT(sbx_store_recovered(st), 0);
  CHECK_EQ_INT(sbx_store_close(st), 0);
}

struct walk {
  uint64_t n;
  uint64_t bad;
  uint64_t run;
};

static int check_sample(const Sbx__V1__Sample *s, void *arg) {
  struct walk *w = arg;
  uint64_t i = w->n++;
  if (s->seq != i || s->case_index != (uint32_t)(i % 977) ||
      s->sched_ns != (int64_t)i * 5000 ||
      s->send_ns != (int64_t)i * 5000 + 17 ||
      s->done_ns != (int64_t)i * 5000 + 1234567 ||
      s->status != (i % 13 ? 200u : 503u) ||
      s->error != (i % 13 ? SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE
                          : SBX__V1__ERROR_CLASS__ERROR_CLASS_HTTP_STATUS) ||
      s->warmup != (i < 100) || s->body_bytes != i * 3 + w->run)
    w->bad++;
  return 0;
}

static int check_point(const Sbx__V1__SeriesPoint *p, void *arg) {
  struct walk *w = arg;
  if (p->second != w->n || p->completed != w->n * 1000 ||
      p->p99_us != (int64_t)w->n + 7)
    w->bad++;
  w->n++;
  return 0;
}

static void fill_sample(Sbx__V1__Sample *s, uint64_t i, uint64_t run) {
  s->seq = i;
  s->case_index = (uint32_t)(i % 977);
  s->sched_ns = (int64_t)i * 5000;
  s->send_ns = (int64_t)i * 5000 + 17;
  s->done_ns = (int64_t)i * 5000 + 1234567;
  s->status = i % 13 ? 200 : 503;
  s->error = i % 13 ? SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE
                    : SBX__V1__ERROR_CLASS__ERROR_CLASS_HTTP_STATUS;
  s->warmup = i < 100;
  s->body_bytes = i * 3 + run;
}

/* Checks that run holds exactly the samples 0..n-1 of fill_sample. */
static void expect_samples(struct sbx_store *st, uint64_t run, uint64_t n) {
  struct walk w;
  uint64_t got = 0;
  CHECK_EQ_INT(sbx_store_count_samples(st, run, &got), 0);
  CHECK_EQ_INT(got, n);
  memset(&w, 0, sizeof(w));
  w.run = run;
  CHECK_EQ_INT(sbx_store_foreach_sample(st, run, check_sample, &w), 0);
  CHECK_EQ_INT(w.n, n);
  CHECK_EQ_INT(w.bad, 0);
}

static int stop_at_3(const Sbx__V1__Sample *s, void *arg) {
  return ++*(int *)arg == 3 ? 42 : 0;
}

static void test_samples(void) {
  enum { N = 200000, SECONDS = 60, M = 3000 };
  char dir[128];
  struct sbx_store *st;
  Sbx__V1__Run r1, r2;
  Sbx__V1__Sample s = SBX__V1__SAMPLE__INIT;
  Sbx__V1__SeriesPoint p = SBX__V1__SERIES_POINT__INIT;
  struct walk w;
  uint64_t n = 0;
  double t0, t1, t2;
  int rc = 0, calls = 0;

  path_in(dir, sizeof(dir), "samples");
  st = open_ok(dir);
  new_run(st, &r1, SBX__V1__RUN_STATE__RUN_STATE_MEASURING);
  new_run(st, &r2, SBX__V1__RUN_STATE__RUN_STATE_MEASURING);

  t0 = now_s();
  for (uint64_t i = 0; i < N && rc == 0; i++) {
    fill_sample(&s, i, r1.id);
    rc = sbx_store_append_sample(st, r1.id, &s);
    if (i % (N / SECONDS) == 0 && i / (N / SECONDS) < SECONDS) {
      p.second = (uint32_t)(i / (N / SECONDS));
      p.completed = p.second * 1000ull;
      p.p99_us = p.second + 7;
      rc = rc ? rc : sbx_store_append_series(st, r1.id, &p);
    }
  }
  t1 = now_s();
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(sbx_store_flush(st), 0);
  t2 = now_s();
  printf("store: %d samples appended in %.1f ms (%.0f/s on the caller), "
         "committed after %.1f ms (%.0f/s end to end)\n",
         N, (t1 - t0) * 1e3, N / (t1 - t0), (t2 - t0) * 1e3, N / (t2 - t0));

  expect_samples(st, r1.id, N);
  memset(&w, 0, sizeof(w));
  CHECK_EQ_INT(sbx_store_foreach_series(st, r1.id, check_point, &w), 0);
  CHECK_EQ_INT(w.n, SECONDS);
  CHECK_EQ_INT(w.bad, 0);
  CHECK_EQ_INT(sbx_store_foreach_sample(st, r1.id, stop_at_3, &calls), 42);
  CHECK_EQ_INT(calls, 3);

  /* Two runs interleaved (a match): keys go back and forth, so the writer
   * must fall back from MDB_APPEND without losing or mixing records. */
  for (uint64_t i = 0; i < M; i++) {
    fill_sample(&s, i, r2.id);
    CHECK_EQ_INT(sbx_store_append_sample(st, r2.id, &s), 0);
    fill_sample(&s, N + i, r1.id);
    CHECK_EQ_INT(sbx_store_append_sample(st, r1.id, &s), 0);
  }
  /* Re-appending a seq replaces the record. */
  fill_sample(&s, 5, r2.id);
  CHECK_EQ_INT(sbx_store_append_sample(st, r2.id, &s), 0);
  CHECK_EQ_INT(sbx_store_flush(st), 0);
  CHECK_EQ_INT(sbx_store_count_samples(st, r2.id, &n), 0);
  CHECK_EQ_INT(n, M);
  CHECK_EQ_INT(sbx_store_count_samples(st, r1.id, &n), 0);
  CHECK_EQ_INT(n, N + M);
  memset(&w, 0, sizeof(w));
  w.run = r2.id;
  CHECK_EQ_INT(sbx_store_foreach_sample(st, r2.id, check_sample, &w), 0);
  CHECK_EQ_INT(w.n, M);
  CHECK_EQ_INT(w.bad, 0);
  CHECK_EQ_INT(sbx_store_count_samples(st, 12345, &n), 0);
  CHECK_EQ_INT(n, 0);
  CHECK_EQ_INT(sbx_store_close(st), 0);

  /* Committed samples survive a reopen. */
  st = open_ok(dir);
  CHECK_EQ_INT(sbx_store_count_samples(st, r1.id, &n), 0);
  CHECK_EQ_INT(n, N + M);
  CHECK_EQ_INT(sbx_store_close(st), 0);
}

/* Appends n samples of a new run in dir, in order or shuffled as requests
 * complete (each window of 64 seqs reversed), then one early seq again
 * with the right values after a wrong first copy; returns data.mdb's size. */
static off_t fill_run(const char *dir, uint64_t n, int shuffled) {
  struct sbx_store *st = open_ok(dir);
  Sbx__V1__Run r;
  Sbx__V1__Sample s = SBX__V1__SAMPLE__INIT;
  char file[160];
  struct stat sb;

  new_run(st, &r, SBX__V1__RUN_STATE__RUN_STATE_MEASURING);
  for (uint64_t i = 0; i < n; i++) {
    uint64_t seq = shuffled ? (i & ~(uint64_t)63) | (63 - (i & 63)) : i;
    if (seq >= n)
      seq = i;
    fill_sample(&s, seq, r.id);
    if (seq == 7)
      s.body_bytes = 999999; /* replaced below */
    CHECK_EQ_INT(sbx_store_append_sample(st, r.id, &s), 0);
    if (seq == 7) {
      fill_sample(&s, seq, r.id);
      CHECK_EQ_INT(sbx_store_append_sample(st, r.id, &s), 0);
    }
    if (i % 5000 == 0)
      CHECK_EQ_INT(sbx_store_tick(st), 0);
  }
  CHECK_EQ_INT(sbx_store_flush(st), 0);
  expect_samples(st, r.id, n);
  CHECK_EQ_INT(sbx_store_close(st), 0);
  snprintf(file, sizeof(file), "%s/data.mdb", dir);
  CHECK(stat(file, &sb) == 0);
  return sb.st_size;
}

/* Samples arrive a little out of seq order (requests complete out of
 * order). The writer puts each transaction's samples in seq order, so they
 * take no more room than samples that came in order. */
static void test_samples_shuffled(void) {
  char a[128], b[128];
  off_t in_order, shuffled;
  path_in(a, sizeof(a), "in-order");
  path_in(b, sizeof(b), "shuffled");
  in_order = fill_run(a, 300000, 0);
  shuffled = fill_run(b, 300000, 1);
  printf("store: 300000 samples take %lld bytes in order, %lld shuffled\n",
         (long long)in_order, (long long)shuffled);
  CHECK(shuffled <= in_order + in_order / 10);
}

static uint64_t wait_count(struct sbx_store *st, uint64_t run, uint64_t want) {
  uint64_t n = 0;
  for (int i = 0; i < 500; i++) {
    if (sbx_store_count_samples(st, run, &n) != 0 || n >= want)
      break;
    sleep_ms(10);
  }
  return n;
}

/* Without a flush, a partial batch reaches the disk through tick, or
 * through the next append after the writer has idled ~100 ms. */
static void test_trickle(void) {
  char dir[128];
  struct sbx_store *st;
  Sbx__V1__Run r;
  Sbx__V1__Sample s = SBX__V1__SAMPLE__INIT;

  path_in(dir, sizeof(dir), "trickle");
  st = open_ok(dir);
  new_run(st, &r, SBX__V1__RUN_STATE__RUN_STATE_MEASURING);
  for (uint64_t i = 0; i < 10; i++) {
    fill_sample(&s, i, r.id);
    CHECK_EQ_INT(sbx_store_append_sample(st, r.id, &s), 0);
  }
  CHECK_EQ_INT(sbx_store_tick(st), 0);
  CHECK_EQ_INT(wait_count(st, r.id, 10), 10);

  for (uint64_t i = 10; i < 20; i++) {
    fill_sample(&s, i, r.id);
    CHECK_EQ_INT(sbx_store_append_sample(st, r.id, &s), 0);
  }
  sleep_ms(300);
  fill_sample(&s, 20, r.id);
  CHECK_EQ_INT(sbx_store_append_sample(st, r.id, &s), 0);
  CHECK_EQ_INT(wait_count(st, r.id, 21), 21);
  CHECK_EQ_INT(sbx_store_tick(st), 0); /* nothing pending: a no-op */
  CHECK_EQ_INT(sbx_store_close(st), 0);
}

/* A finished run with a callback URL and a signed result leaves a pending
 * callback in the same transaction; one without either does not. */
static void test_finish_callback(void) {
  char dir[128];
  struct sbx_store *st;
  Sbx__V1__Run with, without, unsigned_run;
  uint64_t *ids = NULL;
  void *v = NULL;
  size_t n = 0;

  path_in(dir, sizeof(dir), "callback");
  st = open_ok(dir);
  new_run(st, &with, SBX__V1__RUN_STATE__RUN_STATE_MEASURING);
  new_run(st, &without, SBX__V1__RUN_STATE__RUN_STATE_MEASURING);
  new_run(st, &unsigned_run, SBX__V1__RUN_STATE__RUN_STATE_MEASURING);
  with.callback_url = "http://127.0.0.1:9/hook";
  unsigned_run.callback_url = "http://127.0.0.1:9/hook";
  with.state = without.state = unsigned_run.state =
      SBX__V1__RUN_STATE__RUN_STATE_DONE;
  CHECK_EQ_INT(sbx_store_finish_run(st, &with, NULL, "sig", 3), 0);
  CHECK_EQ_INT(sbx_store_finish_run(st, &without, NULL, "sig", 3), 0);
  CHECK_EQ_INT(sbx_store_finish_run(st, &unsigned_run, NULL, NULL, 0), 0);

  /* Only the run with both a callback URL and signed bytes is pending. */
  CHECK_EQ_INT(sbx_store_pending_callbacks(st, &ids, &n), 0);
  CHECK_EQ_INT(n, 1);
  if (n == 1)
    CHECK_EQ_INT(ids[0], with.id);
  free(ids);
  /* The signed bytes come back exactly as stored. */
  CHECK_EQ_INT(sbx_store_get_signed_bytes(st, with.id, &v, &n), 0);
  CHECK(n == 3 && memcmp(v, "sig", 3) == 0);
  free(v);
  CHECK_EQ_INT(sbx_store_get_signed_bytes(st, unsigned_run.id, &v, &n),
               SBX_ENOENT);
  /* Cleared once, then gone. */
  CHECK_EQ_INT(sbx_store_clear_callback(st, with.id), 0);
  CHECK_EQ_INT(sbx_store_clear_callback(st, with.id), SBX_ENOENT);
  CHECK_EQ_INT(sbx_store_pending_callbacks(st, &ids, &n), 0);
  CHECK_EQ_INT(n, 0);
  free(ids);
  CHECK_EQ_INT(sbx_store_close(st), 0);
}

static void test_results(void) {
  char dir[128];
  struct sbx_store *st;
  Sbx__V1__Result res = SBX__V1__RESULT__INIT, *got = NULL;
  Sbx__V1__Metrics m = SBX__V1__METRICS__INIT;
  Sbx__V1__LatencySummary lat = SBX__V1__LATENCY_SUMMARY__INIT;
  Sbx__V1__ValidityOutcome val = SBX__V1__VALIDITY_OUTCOME__INIT;
  char *reasons[] = {"minimum duration not met", "schedule lag too high"};
  uint8_t digest[32];

  memset(digest, 0xab, sizeof(digest));
  path_in(dir, sizeof(dir), "results");
  st = open_ok(dir);
  lat.p99_us = 1834;
  lat.mean_us = 412.5;
  m.requests = 100000;
  m.errors = 12;
  m.throughput = 4999.75;
  m.latency = &lat;
  val.valid = 0;
  val.n_reasons = 2;
  val.reasons = reasons;
  res.run_id = 7;
  res.scenario = "web-static";
  res.scenario_version = "1.0.0";
  res.scenario_digest.data = digest;
  res.scenario_digest.len = sizeof(digest);
  res.verdict = SBX__V1__VERDICT__VERDICT_INVALID;
  res.metrics = &m;
  res.validity = &val;
  res.score = 0.25;
  CHECK_EQ_INT(sbx_store_put_result(st, &res), 0);
  CHECK_EQ_INT(sbx_store_get_result(st, 7, &got), 0);
  if (got != NULL) {
    CHECK_EQ_INT(got->run_id, 7);
    CHECK_EQ_STR(got->scenario, "web-static");
    CHECK_EQ_STR(got->scenario_version, "1.0.0");
    CHECK(got->scenario_digest.len == 32 &&
          memcmp(got->scenario_digest.data, digest, 32) == 0);
    CHECK_EQ_INT(got->verdict, SBX__V1__VERDICT__VERDICT_INVALID);
    CHECK(got->metrics != NULL && got->metrics->requests == 100000 &&
          got->metrics->errors == 12 && got->metrics->throughput == 4999.75);
    CHECK(got->metrics != NULL && got->metrics->latency != NULL &&
          got->metrics->latency->p99_us == 1834 &&
          got->metrics->latency->mean_us == 412.5);
    CHECK(got->validity != NULL && got->validity->n_reasons == 2);
    if (got->validity != NULL && got->validity->n_reasons == 2)
      CHECK_EQ_STR(got->validity->reasons[1], "schedule lag too high");
    CHECK(got->score == 0.25);
    sbx__v1__result__free_unpacked(got, NULL);
  }
  got = (Sbx__V1__Result *)1;
  CHECK_EQ_INT(sbx_store_get_result(st, 8, &got), SBX_ENOENT);
  CHECK(got == NULL);
  res.run_id = 0;
  CHECK_EQ_INT(sbx_store_put_result(st, &res), SBX_EINVAL);
  CHECK_EQ_INT(sbx_store_close(st), 0);
}

static int count_runs(const Sbx__V1__Run *run, void *arg) {
  ++*(int *)arg;
  return 0;
}

static void test_bad_paths(void) {
  char dir[128], file[128];
  struct sbx_store *st = NULL, *st2 = NULL;
  struct sbx_diag d = {""};
  FILE *f;

  path_in(file, sizeof(file), "plain-file");
  f = fopen(file, "w");
  CHECK(f != NULL);
  if (f != NULL)
    fclose(f);
  CHECK_EQ_INT(sbx_store_open(file, &st, &d), SBX_ESTORE);
  CHECK(st == NULL);
  CHECK(strstr(d.msg, "exists but is not a directory") != NULL);
  CHECK(strstr(d.msg, file) != NULL);

  /* A directory below a regular file cannot be created. */
  path_in(dir, sizeof(dir), "plain-file/sub");
  CHECK_EQ_INT(sbx_store_open(dir, &st, &d), SBX_ESTORE);
  CHECK(strstr(d.msg, "Not a directory") != NULL);

  /* Something else's file where the environment should be. */
  path_in(dir, sizeof(dir), "not-lmdb");
  CHECK_EQ_INT(mkdir(dir, 0700), 0);
  path_in(file, sizeof(file), "not-lmdb/data.mdb");
  f = fopen(file, "w");
  CHECK(f != NULL);
  if (f != NULL) {
    for (int i = 0; i < 1000; i++)
      fputs("this is not an LMDB file\n", f);
    fclose(f);
  }
  CHECK_EQ_INT(sbx_store_open(dir, &st, &d), SBX_ESTORE);
  CHECK(st == NULL);
  CHECK(strstr(d.msg, "data.mdb is not an LMDB file") != NULL);

  CHECK_EQ_INT(sbx_store_open(NULL, &st, &d), SBX_EINVAL);
  CHECK_EQ_INT(sbx_store_open("", &st, &d), SBX_EINVAL);

  /* One process per store. */
  path_in(dir, sizeof(dir), "locked");
  st = open_ok(dir);
  CHECK_EQ_INT(sbx_store_open(dir, &st2, &d), SBX_ESTORE);
  CHECK(st2 == NULL);
  CHECK(strstr(d.msg, "is in use by another process") != NULL);
  CHECK_EQ_INT(sbx_store_close(st), 0);

  if (geteuid() != 0) {
    path_in(dir, sizeof(dir), "readonly");
    CHECK_EQ_INT(mkdir(dir, 0500), 0);
    CHECK_EQ_INT(sbx_store_open(dir, &st, &d), SBX_ESTORE);
    CHECK(strstr(d.msg, "is not writable") != NULL);
    chmod(dir, 0700);
  }
}

static void test_damaged(void) {
  char dir[128], msg[512];
  struct sbx_store *st;
  Sbx__V1__Run r, *got = NULL;
  uint8_t key[16] = {0, 0, 0, 0, 0, 0, 0, 99};
  uint8_t skey[16] = {0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1};
  uint8_t junk[5] = {0xff, 0xff, 0xff, 0xff, 0xff};
  int n = 0;

  path_in(dir, sizeof(dir), "damaged");
  st = open_ok(dir);
  new_run(st, &r, SBX__V1__RUN_STATE__RUN_STATE_DONE);
  CHECK_EQ_INT(sbx_store_close(st), 0);
  CHECK_EQ_INT(raw_put(dir, "runs", key, 8, junk, sizeof(junk)), 0);
  CHECK_EQ_INT(raw_put(dir, "samples", skey, 16, junk, sizeof(junk)), 0);
  CHECK_EQ_INT(raw_put(dir, "results", key, 8, junk, sizeof(junk)), 0);

  /* Recovery skips what it cannot read; the store still opens. */
  st = open_ok(dir);
  CHECK_EQ_INT(sbx_store_get_run(st, 99, &got), SBX_ESTORE);
  CHECK(got == NULL);
  sbx_store_errmsg(st, msg, sizeof(msg));
  CHECK(strstr(msg, "runs record 99 (5 bytes) is not a valid sbx.v1.Run") !=
        NULL);
  CHECK(strstr(msg, "restore the --data-dir from a backup") != NULL);
  CHECK_EQ_INT(sbx_store_get_run(st, r.id, &got), 0);
  if (got != NULL)
    sbx__v1__run__free_unpacked(got, NULL);
  CHECK_EQ_INT(sbx_store_list_runs(st, count_runs, &n), SBX_ESTORE);
  CHECK_EQ_INT(n, 1);
  n = 0;
  CHECK_EQ_INT(sbx_store_foreach_sample(st, 5, stop_at_3, &n), SBX_ESTORE);
  sbx_store_errmsg(st, msg, sizeof(msg));
  CHECK(strstr(msg, "samples record 5|1 (5 bytes) is damaged") != NULL);
  {
    Sbx__V1__Result *res = NULL;
    CHECK_EQ_INT(sbx_store_get_result(st, 99, &res), SBX_ESTORE);
    CHECK(res == NULL);
  }
  CHECK_EQ_INT(sbx_store_close(st), 0);
}

/* A map far too small for the samples: the writer fails, the failure
 * reaches append, flush and close, and nothing hangs. */
static void test_writer_failure(void) {
  char dir[128], msg[512];
  struct sbx_store *st = NULL;
  struct sbx_diag d = {""};
  Sbx__V1__Run r;
  Sbx__V1__Sample s = SBX__V1__SAMPLE__INIT;
  int rc = 0, frc;
  uint64_t i;

  path_in(dir, sizeof(dir), "full");
  CHECK_EQ_INT(sbx__store_open_mapsize(dir, (size_t)1 << 20, &st, &d), 0);
  if (st == NULL)
    return;
  new_run(st, &r, SBX__V1__RUN_STATE__RUN_STATE_MEASURING);
  for (i = 0; i < 2000000 && rc == 0; i++) {
    fill_sample(&s, i, r.id);
    rc = sbx_store_append_sample(st, r.id, &s);
    if (i % 50000 == 49999)
      rc = sbx_store_flush(st);
  }
  CHECK_EQ_INT(rc, SBX_ESTORE);
  frc = sbx_store_flush(st);
  CHECK_EQ_INT(frc, SBX_ESTORE);
  CHECK_EQ_INT(sbx_store_append_sample(st, r.id, &s), SBX_ESTORE);
  sbx_store_errmsg(st, msg, sizeof(msg));
  CHECK(strstr(msg, "map size is used up") != NULL);
  CHECK_EQ_INT(sbx_store_close(st), SBX_ESTORE);
}

struct kvw {
  int n;
  char seen[64];
};

static int kv_each(const void *k, size_t klen, const void *v, size_t vlen,
                   void *arg) {
  struct kvw *w = arg;
  size_t used = strlen(w->seen);
  w->n++;
  snprintf(w->seen + used, sizeof(w->seen) - used, "%.*s=%.*s;", (int)klen,
           (const char *)k, (int)vlen, (const char *)v);
  return 0;
}

static void test_kv(void) {
  char dir[128];
  struct sbx_store *st;
  struct kvw w;
  void *v = NULL;
  size_t vlen = 0;

  path_in(dir, sizeof(dir), "kv");
  st = open_ok(dir);
  CHECK_EQ_INT(sbx_store_kv_put(st, SBX_STORE_PRODUCTS, "acme/a", 6, "1", 1),
               0);
  CHECK_EQ_INT(sbx_store_kv_put(st, SBX_STORE_PRODUCTS, "acme/b", 6, "2", 1),
               0);
  CHECK_EQ_INT(sbx_store_kv_put(st, SBX_STORE_PRODUCTS, "beta/a", 6, "3", 1),
               0);
  CHECK_EQ_INT(sbx_store_kv_put(st, SBX_STORE_TOKENS, "acme/a", 6, NULL, 0), 0);
  CHECK_EQ_INT(sbx_store_kv_get(st, SBX_STORE_PRODUCTS, "acme/b", 6, &v, &vlen),
               0);
  CHECK(v != NULL && vlen == 1 && memcmp(v, "2", 1) == 0);
  free(v);
  CHECK_EQ_INT(sbx_store_kv_get(st, SBX_STORE_TOKENS, "acme/a", 6, &v, &vlen),
               0);
  CHECK_EQ_INT(vlen, 0);
  free(v);
  memset(&w, 0, sizeof(w));
  CHECK_EQ_INT(
      sbx_store_kv_foreach(st, SBX_STORE_PRODUCTS, "acme/", 5, kv_each, &w), 0);
  CHECK_EQ_INT(w.n, 2);
  CHECK_EQ_STR(w.seen, "acme/a=1;acme/b=2;");
  memset(&w, 0, sizeof(w));
  CHECK_EQ_INT(
      sbx_store_kv_foreach(st, SBX_STORE_PRODUCTS, NULL, 0, kv_each, &w), 0);
  CHECK_EQ_INT(w.n, 3);
  CHECK_EQ_INT(sbx_store_kv_del(st, SBX_STORE_PRODUCTS, "acme/a", 6), 0);
  CHECK_EQ_INT(sbx_store_kv_del(st, SBX_STORE_PRODUCTS, "acme/a", 6),
               SBX_ENOENT);
  CHECK_EQ_INT(sbx_store_kv_get(st, SBX_STORE_PRODUCTS, "acme/a", 6, &v, &vlen),
               SBX_ENOENT);
  CHECK(v == NULL);
  CHECK_EQ_INT(sbx_store_kv_put(st, (enum sbx_store_db)42, "k", 1, "v", 1),
               SBX_EINVAL);
  CHECK_EQ_INT(sbx_store_kv_put(st, SBX_STORE_EVENTS, "", 0, "v", 1),
               SBX_EINVAL);
  CHECK_EQ_INT(sbx_store_close(st), 0);
}

/* The store's own Sample encoder writes exactly protobuf-c's bytes: edge
 * values of every field (zero, one, 7-bit and 32-bit boundaries, negative
 * times, all ones) and a million pseudo-random samples. */
static void test_pack_sample(void) {
  static const uint64_t edges[] = {0, 1, 127, 128, 16383, 16384,
                                   0x7fffffffu, 0xffffffffu, 0x100000000ull,
                                   (uint64_t)INT64_MAX, UINT64_MAX};
  uint8_t mine[SBX__STORE_SAMPLE_MAX], theirs[128];
  uint64_t x = 0x9e3779b97f4a7c15ull;
  size_t i, n, bad = 0;

  for (i = 0; i < 1000000 + 11 * 11; i++) {
    Sbx__V1__Sample s = SBX__V1__SAMPLE__INIT;
    uint64_t r[9];
    size_t k;
    for (k = 0; k < 9; k++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      /* Small values most of the time, like real samples; edges first. */
      r[k] = i < 121 ? edges[(i + k * (i / 11)) % 11]
                     : (x & 3) == 0 ? x : (x >> (x & 63));
    }
    s.seq = r[0];
    s.case_index = (uint32_t)r[1];
    s.sched_ns = (int64_t)r[2];
    s.send_ns = (int64_t)r[3];
    s.done_ns = (int64_t)(r[4] & 1 ? -(int64_t)(r[4] >> 1) : (int64_t)r[4]);
    s.status = (uint32_t)r[5];
    s.error = (Sbx__V1__ErrorClass)(r[6] % 11);
    s.warmup = (protobuf_c_boolean)(r[7] & 1);
    s.body_bytes = r[8];
    n = sbx__store_pack_sample(&s, mine);
    if (n != sbx__v1__sample__get_packed_size(&s) ||
        sbx__v1__sample__pack(&s, theirs) != n || memcmp(mine, theirs, n) != 0)
      bad++;
  }
  CHECK_EQ_INT(bad, 0);
}

int main(void) {
  test_pack_sample();
  snprintf(root, sizeof(root), "/tmp/sbx-test-store.XXXXXX");
  if (mkdtemp(root) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  test_open_reopen();
  test_newer_schema();
  test_recovery();
  test_samples();
  test_samples_shuffled();
  test_trickle();
  test_results();
  test_finish_callback();
  test_bad_paths();
  test_damaged();
  test_writer_failure();
  test_kv();
  nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return TEST_RESULT();
}
