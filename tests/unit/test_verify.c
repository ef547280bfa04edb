/* test_verify.c - metrics, criteria, validity rules, verdict and score
 * (verify.h), from scenarios and run stats built by hand. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "err.h"
#include "hist.h"
#include "runstats.h"
#include "testlib.h"
#include "verify.h"

#define CLS(x) SBX__V1__ERROR_CLASS__ERROR_CLASS_##x
#define V(x) SBX__V1__VERDICT__VERDICT_##x
#define OP(x) SBX__V1__COMPARE_OP__COMPARE_OP_##x
#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)
#define SEC 1000000000LL

/* A scenario with room for a few criteria, all on the stack. */
struct fixture {
  Sbx__V1__Scenario sc;
  Sbx__V1__Load load;
  Sbx__V1__Validity val;
  Sbx__V1__Criterion crit[8];
  Sbx__V1__Criterion *critp[8];
  struct sbx_run_stats st;
};

static void fixture_init(struct fixture *f, Sbx__V1__LoadModel model) {
  sbx__v1__scenario__init(&f->sc);
  sbx__v1__load__init(&f->load);
  sbx__v1__validity__init(&f->val);
  f->sc.name = "demo";
  f->sc.load = &f->load;
  f->sc.validity = &f->val;
  f->sc.criteria = f->critp;
  f->load.model = model;
  f->load.min_duration_us = 10000000; /* 10 s */
  f->load.min_cases = 100;
  f->val.max_schedule_lag_p99_us = 10000; /* 10 ms */
  f->val.max_rate_deviation = 0.01;
  f->val.max_dropped_fraction = 0.001;

  /* 1000 requests over 10 s, all answered well, latency 10 µs .. 10 ms,
   * schedule lag 5..104 µs. */
  memset(&f->st, 0, sizeof(f->st));
  f->st.latency = sbx_hist_new();
  f->st.lag = sbx_hist_new();
  for (int i = 1; i <= 1000; i++) {
    sbx_hist_record(f->st.latency, i * 10);
    sbx_hist_record(f->st.lag, 5 + i % 100);
  }
  f->st.requests = 1000;
  f->st.completed = 1000;
  f->st.sent = 1000;
  f->st.by_class[CLS(NONE)] = 1000;
  f->st.warmup_requests = 50;
  f->st.measure_start_ns = 5 * SEC;
  f->st.measure_end_ns = 15 * SEC;
  f->st.min_duration_met = 1;
  f->st.min_cases_met = 1;
  if (model == SBX__V1__LOAD_MODEL__LOAD_MODEL_OPEN) {
    f->load.rate = 100;
    f->st.target_rate = 100;
  }
}

static void fixture_free(struct fixture *f) {
  sbx_hist_free(f->st.latency);
  sbx_hist_free(f->st.lag);
  sbx_quality_free(f->st.quality);
}

static void add_criterion(struct fixture *f, const char *metric,
                          Sbx__V1__CompareOp op, double bound,
                          const char *text) {
  Sbx__V1__Criterion *c = &f->crit[f->sc.n_criteria];
  sbx__v1__criterion__init(c);
  c->metric = (char *)metric;
  c->op = op;
  c->bound = bound;
  c->text = (char *)text;
  f->critp[f->sc.n_criteria++] = c;
}

/* A result as the engine leaves it: malloc'd, identity set. */
static Sbx__V1__Result *new_result(void) {
  Sbx__V1__Result *r = malloc(sizeof(*r));
  sbx__v1__result__init(r);
  r->scenario = strdup("demo");
  r->product = strdup("acme/widget@1");
  r->run_id = 7;
  return r;
}

/* Verifies, checks the result is a well-formed message that packs, and
 * returns it. */
static Sbx__V1__Result *verify(struct fixture *f, Sbx__V1__Result *r) {
  CHECK_EQ_INT(sbx_verify(&f->sc, &f->st, r), 0);
  CHECK(protobuf_c_message_check(&r->base));
  {
    size_t n = sbx__v1__result__get_packed_size(r);
    uint8_t *buf = malloc(n ? n : 1);
    Sbx__V1__Result *back;
    CHECK_EQ_INT(sbx__v1__result__pack(r, buf), n);
    back = sbx__v1__result__unpack(NULL, n, buf);
    CHECK(back != NULL);
    if (back != NULL) {
      CHECK_EQ_INT(back->verdict, r->verdict);
      CHECK_EQ_INT(back->n_criteria, r->n_criteria);
      sbx__v1__result__free_unpacked(back, NULL);
    }
    free(buf);
  }
  return r;
}

static void free_result(Sbx__V1__Result *r) {
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

static int has_reason(const Sbx__V1__Result *r, const char *text) {
  for (size_t i = 0; i < r->validity->n_reasons; i++)
    if (strcmp(r->validity->reasons[i], text) == 0)
      return 1;
  for (size_t i = 0; i < r->validity->n_reasons; i++)
    fprintf(stderr, "  reason: %s\n", r->validity->reasons[i]);
  fprintf(stderr, "  wanted: %s\n", text);
  return 0;
}

static void test_pass(void) {
  struct fixture f;
  Sbx__V1__Result *r;
  Sbx__V1__Metrics *m;
  fixture_init(&f, SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED);
  add_criterion(&f, "latency.p99", OP(LE), 20000, "latency.p99 <= 20ms");
  add_criterion(&f, "error_rate", OP(LE), 0.001, "error_rate <= 0.001");
  add_criterion(&f, "throughput", OP(GE), 50, "throughput >= 50/s");
  r = verify(&f, new_result());

  CHECK_EQ_INT(r->verdict, V(PASS));
  CHECK(r->validity != NULL && r->validity->valid);
  CHECK_EQ_INT(r->validity->n_reasons, 0);
  m = r->metrics;
  CHECK(m != NULL);
  CHECK_EQ_INT(m->requests, 1000);
  CHECK_EQ_INT(m->completed, 1000);
  CHECK_EQ_INT(m->errors, 0);
  CHECK_EQ_INT(m->n_errors_by_class, 0);
  CHECK_EQ_INT(m->warmup_requests, 50);
  CHECK(NEAR(m->duration_s, 10));
  CHECK(NEAR(m->throughput, 100));
  CHECK(NEAR(m->achieved_rate, 100));
  CHECK(m->error_rate == 0);
  CHECK(m->latency != NULL);
  CHECK_EQ_INT(m->latency->min_us, 10);
  CHECK_EQ_INT(m->latency->max_us, 10000);
  CHECK_EQ_INT(m->latency->p50_us, sbx_hist_percentile(f.st.latency, 50));
  CHECK_EQ_INT(m->latency->p90_us, sbx_hist_percentile(f.st.latency, 90));
  CHECK_EQ_INT(m->latency->p99_us, sbx_hist_percentile(f.st.latency, 99));
  CHECK_EQ_INT(m->latency->p999_us, sbx_hist_percentile(f.st.latency, 99.9));
  CHECK(fabs(m->latency->mean_us - 5005) < 5005 * 0.001);
  CHECK(m->latency_hist != NULL && m->latency_hist->total_count == 1000);
  CHECK(m->schedule_lag_hist != NULL &&
        m->schedule_lag_hist->total_count == 1000);
  CHECK(isnan(m->mae)); /* no quality accumulators: not measurable */

  CHECK_EQ_INT(r->n_criteria, 3);
  for (size_t i = 0; i < r->n_criteria; i++) {
    CHECK(r->criteria[i]->passed);
    CHECK(r->criteria[i]->measurable);
    CHECK(r->criteria[i]->criterion != NULL);
  }
  CHECK_EQ_STR(r->criteria[0]->criterion->metric, "latency.p99");
  CHECK_EQ_STR(r->criteria[0]->criterion->text, "latency.p99 <= 20ms");
  CHECK(r->criteria[0]->measured == (double)m->latency->p99_us);
  CHECK(NEAR(r->criteria[2]->measured, 100));
  CHECK(NEAR(r->score, 100)); /* default score metric: throughput */
  /* identity fields are untouched */
  CHECK_EQ_STR(r->product, "acme/widget@1");
  CHECK_EQ_INT(r->run_id, 7);

  /* verifying again replaces everything without leaking */
  f.sc.score_metric = "latency.p99";
  CHECK_EQ_INT(sbx_verify(&f.sc, &f.st, r), 0);
  CHECK_EQ_INT(r->n_criteria, 3);
  CHECK(r->score == (double)r->metrics->latency->p99_us);
  free_result(r);
  fixture_free(&f);
}

static void test_impossible_criterion(void) {
  struct fixture f;
  Sbx__V1__Result *r;
  fixture_init(&f, SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED);
  add_criterion(&f, "error_rate", OP(LE), 0.001, "error_rate <= 0.001");
  add_criterion(&f, "latency.p99", OP(LE), 1, "latency.p99 <= 1us");
  r = verify(&f, new_result());
  CHECK_EQ_INT(r->verdict, V(FAIL));
  CHECK(r->validity->valid);
  CHECK(r->criteria[0]->passed);
  CHECK(!r->criteria[1]->passed);
  CHECK(r->criteria[1]->measurable);
  CHECK(r->criteria[1]->criterion->bound == 1);
  CHECK(r->criteria[1]->measured ==
        (double)sbx_hist_percentile(f.st.latency, 99));
  CHECK(r->criteria[1]->measured > 9000);
  free_result(r);
  fixture_free(&f);
}

static void test_compare_ops(void) {
  struct fixture f;
  Sbx__V1__Result *r;
  fixture_init(&f, SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED);
  /* throughput is exactly 100/s */
  add_criterion(&f, "throughput", OP(LE), 100, "");
  add_criterion(&f, "throughput", OP(LT), 100, "");
  add_criterion(&f, "throughput", OP(GE), 100, "");
  add_criterion(&f, "throughput", OP(GT), 100, "");
  add_criterion(&f, "throughput", OP(UNSPECIFIED), 100, "");
  add_criterion(&f, "throughput", OP(GE), NAN, "");
  r = verify(&f, new_result());
  CHECK(r->criteria[0]->passed);
  CHECK(!r->criteria[1]->passed);
  CHECK(r->criteria[2]->passed);
  CHECK(!r->criteria[3]->passed);
  CHECK(!r->criteria[4]->passed); /* no comparison: never passes */
  CHECK(!r->criteria[5]->passed);
  CHECK_EQ_INT(r->verdict, V(FAIL));
  free_result(r);
  fixture_free(&f);
}

static void test_min_duration(void) {
  struct fixture f;
  Sbx__V1__Result *r;
  fixture_init(&f, SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED);
  add_criterion(&f, "error_rate", OP(LE), 0.001, "error_rate <= 0.001");
  f.st.measure_end_ns = f.st.measure_start_ns + 4200000000LL;
  f.st.min_duration_met = 0;
  r = verify(&f, new_result());
  CHECK_EQ_INT(r->verdict, V(INVALID)); /* even though criteria pass */
  CHECK(r->criteria[0]->passed);
  CHECK(!r->validity->valid);
  CHECK_EQ_INT(r->validity->n_reasons, 1);
  CHECK(has_reason(r, "minimum duration not met: measured 4.2 s, the "
                      "scenario requires 10 s"));
  free_result(r);

  /* and the case count */
  f.st.min_duration_met = 1;
  f.st.min_cases_met = 0;
  f.st.requests = 42;
  r = verify(&f, new_result());
  CHECK_EQ_INT(r->verdict, V(INVALID));
  CHECK(has_reason(r, "minimum case count not met: measured 42 requests, "
                      "the scenario requires 100"));
  free_result(r);
  fixture_free(&f);
}

static void test_schedule_lag(void) {
  struct fixture f;
  Sbx__V1__Result *r;
  fixture_init(&f, SBX__V1__LOAD_MODEL__LOAD_MODEL_OPEN);
  sbx_hist_reset(f.st.lag);
  sbx_hist_record_n(f.st.lag, 31200, 1000);
  r = verify(&f, new_result());
  CHECK_EQ_INT(r->verdict, V(INVALID));
  CHECK_EQ_INT(r->validity->n_reasons, 1);
  CHECK(has_reason(r, "schedule lag p99 31.2 ms exceeds the limit of 10 ms: "
                      "the harness was overloaded, its numbers cannot be "
                      "trusted"));
  free_result(r);

  /* limit 0 turns the rule off */
  f.val.max_schedule_lag_p99_us = 0;
  r = verify(&f, new_result());
  CHECK_EQ_INT(r->verdict, V(PASS));
  free_result(r);
  fixture_free(&f);
}

static void test_rate_deviation(void) {
  struct fixture f;
  Sbx__V1__Result *r;
  fixture_init(&f, SBX__V1__LOAD_MODEL__LOAD_MODEL_OPEN);
  f.load.rate = 1000;
  f.st.target_rate = 1000;
  f.st.requests = f.st.completed = f.st.sent = 9123;
  f.st.by_class[CLS(NONE)] = 9123;
  r = verify(&f, new_result());
  CHECK(NEAR(r->metrics->target_rate, 1000));
  CHECK(NEAR(r->metrics->achieved_rate, 912.3));
  CHECK_EQ_INT(r->verdict, V(INVALID));
  CHECK(has_reason(r, "achieved arrival rate 912.3/s is 8.77% off the "
                      "target 1000/s (limit 1%)"));
  free_result(r);

  /* within the limit */
  f.st.sent = 9950;
  r = verify(&f, new_result());
  CHECK_EQ_INT(r->verdict, V(PASS));
  free_result(r);

  /* too fast is off target too */
  f.st.sent = 10200;
  r = verify(&f, new_result());
  CHECK_EQ_INT(r->verdict, V(INVALID));
  free_result(r);

  /* the engine's target missing: the open load's rate is the target */
  f.st.target_rate = 0;
  f.st.sent = 9123;
  r = verify(&f, new_result());
  CHECK(NEAR(r->metrics->target_rate, 1000));
  CHECK_EQ_INT(r->verdict, V(INVALID));
  free_result(r);

  /* a closed load has no arrival rate to keep */
  f.load.model = SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED;
  f.st.target_rate = 0;
  r = verify(&f, new_result());
  CHECK_EQ_INT(r->verdict, V(PASS));
  free_result(r);

  /* a trace load does, when the engine knows its target */
  f.load.model = SBX__V1__LOAD_MODEL__LOAD_MODEL_TRACE;
  f.st.target_rate = 1000;
  r = verify(&f, new_result());
  CHECK_EQ_INT(r->verdict, V(INVALID));
  free_result(r);
  fixture_free(&f);
}

static void test_dropped(void) {
  struct fixture f;
  Sbx__V1__Result *r;
  const Sbx__V1__Metrics *m;
  double v = 0;
  fixture_init(&f, SBX__V1__LOAD_MODEL__LOAD_MODEL_OPEN);
  f.st.dropped = 31;
  f.st.by_class[CLS(DROPPED)] = 31;
  f.st.completed = 969;
  f.st.sent = 969;
  f.st.by_class[CLS(NONE)] = 969;
  f.val.max_rate_deviation = 0.05;
  add_criterion(&f, "dropped_rate", OP(LE), 0.05, "dropped_rate <= 5%");
  r = verify(&f, new_result());
  m = r->metrics;
  CHECK_EQ_INT(m->dropped, 31);
  CHECK_EQ_INT(m->errors, 31); /* dropped arrivals are errors */
  CHECK(NEAR(m->error_rate, 0.031));
  CHECK_EQ_INT(m->n_errors_by_class, 1);
  CHECK_EQ_INT(m->errors_by_class[0]->error, CLS(DROPPED));
  CHECK_EQ_INT(m->errors_by_class[0]->count, 31);
  CHECK_EQ_INT(sbx_metric_value(m, "dropped_rate", &v), 0);
  CHECK(NEAR(v, 0.031));
  CHECK(r->criteria[0]->passed);
  CHECK_EQ_INT(r->verdict, V(INVALID));
  CHECK_EQ_INT(r->validity->n_reasons, 1);
  CHECK(has_reason(r, "dropped 3.1% of arrivals over the in-flight cap "
                      "(31 of 1000; limit 0.1%)"));
  free_result(r);

  /* the engine counted drops only in by_class: still counted */
  f.st.dropped = 0;
  r = verify(&f, new_result());
  CHECK_EQ_INT(r->metrics->dropped, 31);
  CHECK_EQ_INT(r->verdict, V(INVALID));
  free_result(r);
  fixture_free(&f);
}

static void test_error_counts(void) {
  struct fixture f;
  Sbx__V1__Result *r;
  const Sbx__V1__Metrics *m;
  fixture_init(&f, SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED);
  f.st.by_class[CLS(NONE)] = 900;
  f.st.by_class[CLS(TIMEOUT)] = 60;
  f.st.by_class[CLS(HTTP_STATUS)] = 30;
  f.st.by_class[CLS(CHECK_FAILED)] = 9;
  f.st.by_class[CLS(OTHER)] = 1;
  add_criterion(&f, "error_rate", OP(LE), 0.05, "error_rate <= 5%");
  r = verify(&f, new_result());
  m = r->metrics;
  CHECK_EQ_INT(m->errors, 100);
  CHECK(NEAR(m->error_rate, 0.1));
  CHECK(NEAR(m->throughput, 90)); /* answers without error per second */
  CHECK_EQ_INT(m->n_errors_by_class, 4);
  CHECK_EQ_INT(m->errors_by_class[0]->error, CLS(TIMEOUT));
  CHECK_EQ_INT(m->errors_by_class[0]->count, 60);
  CHECK_EQ_INT(m->errors_by_class[1]->error, CLS(HTTP_STATUS));
  CHECK_EQ_INT(m->errors_by_class[1]->count, 30);
  CHECK_EQ_INT(m->errors_by_class[2]->error, CLS(CHECK_FAILED));
  CHECK_EQ_INT(m->errors_by_class[2]->count, 9);
  CHECK_EQ_INT(m->errors_by_class[3]->error, CLS(OTHER));
  CHECK_EQ_INT(m->errors_by_class[3]->count, 1);
  CHECK(!r->criteria[0]->passed);
  CHECK(NEAR(r->criteria[0]->measured, 0.1));
  CHECK_EQ_INT(r->verdict, V(FAIL));
  free_result(r);
  fixture_free(&f);
}

static void test_unmeasurable(void) {
  struct fixture f;
  Sbx__V1__Result *r;
  fixture_init(&f, SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED);
  add_criterion(&f, "accuracy", OP(GE), 0.9, "accuracy >= 0.9");
  add_criterion(&f, "macro_f1", OP(GE), 0.0, "macro_f1 >= 0");
  add_criterion(&f, "mae", OP(LE), 1e9, "mae <= 1e9");
  add_criterion(&f, "no_such_metric", OP(GE), 0, "no_such_metric >= 0");
  f.sc.score_metric = "accuracy";
  r = verify(&f, new_result());
  CHECK_EQ_INT(r->verdict, V(FAIL));
  for (size_t i = 0; i < r->n_criteria; i++) {
    CHECK(!r->criteria[i]->measurable);
    CHECK(!r->criteria[i]->passed);
  }
  CHECK(isnan(r->score));
  free_result(r);

  /* with quality accumulators holding data, they become measurable */
  {
    Sbx__V1__Checks ck = SBX__V1__CHECKS__INIT;
    Sbx__V1__Expectation ex = SBX__V1__EXPECTATION__INIT;
    ck.verify_body = 1;
    ex.label = "cat";
    ex.number = 1;
    ex.has_number = 1;
    f.st.quality = sbx_quality_new(&ck);
    CHECK(f.st.quality != NULL);
    const char *good = "{\"label\":\"cat\",\"value\":1}";
    const char *bad = "{\"label\":\"dog\",\"value\":3}";
    for (int i = 0; i < 9; i++)
      CHECK_EQ_INT(sbx_check(&ck, &ex, 200, (const uint8_t *)good, strlen(good),
                             f.st.quality),
                   CLS(NONE));
    CHECK_EQ_INT(sbx_check(&ck, &ex, 200, (const uint8_t *)bad, strlen(bad),
                           f.st.quality),
                 CLS(CHECK_FAILED));
    r = verify(&f, new_result());
    CHECK(NEAR(r->metrics->accuracy, 0.9));
    CHECK_EQ_INT(r->metrics->checked, 10);
    CHECK(NEAR(r->metrics->mae, 0.2));
    CHECK_EQ_INT(r->metrics->n_per_class, 2);
    for (size_t i = 0; i < 3; i++) {
      CHECK(r->criteria[i]->measurable);
      CHECK(r->criteria[i]->passed);
    }
    CHECK(!r->criteria[3]->passed); /* the unknown metric still fails */
    CHECK(NEAR(r->score, 0.9));
    CHECK_EQ_INT(r->verdict, V(FAIL));
    free_result(r);
  }

  /* latency with nothing completed */
  f.sc.n_criteria = 0;
  add_criterion(&f, "latency.p50", OP(LE), 1e12, "latency.p50 <= forever");
  sbx_hist_reset(f.st.latency);
  f.st.completed = 0;
  f.st.by_class[CLS(NONE)] = 0;
  f.st.by_class[CLS(TIMEOUT)] = 0;
  f.st.dropped = 1000;
  f.st.by_class[CLS(DROPPED)] = 1000;
  f.val.max_dropped_fraction = 0;
  f.sc.score_metric = NULL;
  r = verify(&f, new_result());
  CHECK(!r->criteria[0]->measurable);
  CHECK(!r->criteria[0]->passed);
  CHECK_EQ_INT(r->verdict, V(INVALID));
  CHECK(has_reason(r, "no request completed: none of the 1000 measured "
                      "arrivals was answered; check that the product is "
                      "reachable"));
  CHECK(NEAR(r->score, 0)); /* throughput is measurable: 0/s */
  free_result(r);
  fixture_free(&f);
}

static void test_error_verdict(void) {
  struct fixture f;
  Sbx__V1__Result *r;
  fixture_init(&f, SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED);
  add_criterion(&f, "throughput", OP(GE), 1, "throughput >= 1/s");
  r = new_result();
  r->verdict = V(ERROR);
  r->error_message = strdup("the product crashed");
  verify(&f, r);
  CHECK_EQ_INT(r->verdict, V(ERROR));
  CHECK(r->metrics != NULL && r->metrics->requests == 1000);
  CHECK_EQ_INT(r->n_criteria, 1);
  free_result(r);

  /* ERROR stays ERROR even when the run is also invalid */
  f.st.min_duration_met = 0;
  r = new_result();
  r->verdict = V(ERROR);
  verify(&f, r);
  CHECK_EQ_INT(r->verdict, V(ERROR));
  CHECK(!r->validity->valid);
  free_result(r);
  fixture_free(&f);
}

static void test_empty_run(void) {
  /* nothing at all: no histograms, no requests, no load or validity */
  Sbx__V1__Scenario sc = SBX__V1__SCENARIO__INIT;
  struct sbx_run_stats st;
  Sbx__V1__Result *r = new_result();
  memset(&st, 0, sizeof(st));
  CHECK_EQ_INT(sbx_verify(&sc, &st, r), 0);
  CHECK_EQ_INT(r->verdict, V(INVALID));
  CHECK(has_reason(r, "no request completed: the run measured no arrival "
                      "at all; check the load settings and the dataset"));
  CHECK_EQ_INT(r->validity->n_reasons, 3); /* + duration and case count */
  CHECK(r->metrics->latency_hist == NULL);
  CHECK(r->metrics->latency != NULL);
  CHECK(isnan(r->score));
  free_result(r);

  CHECK_EQ_INT(sbx_verify(NULL, &st, NULL), SBX_EINVAL);
}

static void test_metric_value(void) {
  Sbx__V1__Metrics m = SBX__V1__METRICS__INIT;
  Sbx__V1__LatencySummary l = SBX__V1__LATENCY_SUMMARY__INIT;
  double v = -1;
  const char *names[] = {"latency.min",  "latency.p50",  "latency.p90",
                         "latency.p99",  "latency.p999", "latency.max",
                         "latency.mean", "throughput",   "achieved_rate",
                         "error_rate",   "dropped_rate", "accuracy",
                         "macro_f1",     "mae",          "rmse"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    CHECK(sbx_metric_known(names[i]));
    CHECK_EQ_INT(sbx_metric_value(NULL, names[i], &v), SBX_ERANGE);
  }
  CHECK(!sbx_metric_known("latency.p95"));
  CHECK(!sbx_metric_known("latency"));
  CHECK(!sbx_metric_known(NULL));
  CHECK_EQ_INT(sbx_metric_value(&m, "latency.p95", &v), SBX_ENOENT);
  CHECK_EQ_INT(sbx_metric_value(&m, "Throughput", &v), SBX_ENOENT);
  CHECK_EQ_INT(sbx_metric_value(&m, NULL, &v), SBX_ENOENT);
  CHECK_EQ_INT(sbx_metric_value(NULL, "bogus", &v), SBX_ENOENT);

  m.latency = &l;
  l.p99_us = 1234;
  l.mean_us = 99.5;
  CHECK_EQ_INT(sbx_metric_value(&m, "latency.p99", &v), SBX_ERANGE);
  m.completed = 3;
  CHECK_EQ_INT(sbx_metric_value(&m, "latency.p99", &v), 0);
  CHECK(v == 1234);
  CHECK_EQ_INT(sbx_metric_value(&m, "latency.mean", &v), 0);
  CHECK(v == 99.5);
  m.requests = 10;
  m.dropped = 2;
  m.error_rate = 0.3;
  CHECK_EQ_INT(sbx_metric_value(&m, "error_rate", &v), 0);
  CHECK(v == 0.3);
  CHECK_EQ_INT(sbx_metric_value(&m, "dropped_rate", &v), 0);
  CHECK(NEAR(v, 0.2));
  CHECK_EQ_INT(sbx_metric_value(&m, "throughput", &v), SBX_ERANGE);
  m.duration_s = 2;
  m.throughput = 5;
  CHECK_EQ_INT(sbx_metric_value(&m, "throughput", &v), 0);
  CHECK(v == 5);
  m.mae = NAN;
  CHECK_EQ_INT(sbx_metric_value(&m, "mae", &v), SBX_ERANGE);
  m.mae = 0.5;
  CHECK_EQ_INT(sbx_metric_value(&m, "mae", &v), 0);
  CHECK(v == 0.5);
}

int main(void) {
  test_pass();
  test_impossible_criterion();
  test_compare_ops();
  test_min_duration();
  test_schedule_lag();
  test_rate_deviation();
  test_dropped();
  test_error_counts();
  test_unmeasurable();
  test_error_verdict();
  test_empty_run();
  test_metric_value();
  return TEST_RESULT();
}
