/* verify.c - metrics, criteria, validity rules, verdict and score (see
 * verify.h).
 *
 * Everything is built into fresh messages first and attached to the result
 * only when all of it succeeded, so a failure leaves the result as it was.
 */
#include "verify.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "err.h"
#include "hist.h"

#define CLS(x) SBX__V1__ERROR_CLASS__ERROR_CLASS_##x
#define MAX_REASONS 8

/* ---- metric names ----------------------------------------------------- */

enum metric {
  M_LAT_MIN,
  M_LAT_P50,
  M_LAT_P90,
  M_LAT_P99,
  M_LAT_P999,
  M_LAT_MAX,
  M_LAT_MEAN,
  M_THROUGHPUT,
  M_ACHIEVED_RATE,
  M_ERROR_RATE,
  M_DROPPED_RATE,
  M_ACCURACY,
  M_MACRO_F1,
  M_MAE,
  M_RMSE,
};

static const struct {
  const char *name;
  enum metric id;
} metric_names[] = {
    {"latency.min", M_LAT_MIN},
    {"latency.p50", M_LAT_P50},
    {"latency.p90", M_LAT_P90},
    {"latency.p99", M_LAT_P99},
    {"latency.p999", M_LAT_P999},
    {"latency.max", M_LAT_MAX},
    {"latency.mean", M_LAT_MEAN},
    {"throughput", M_THROUGHPUT},
    {"achieved_rate", M_ACHIEVED_RATE},
    {"error_rate", M_ERROR_RATE},
    {"dropped_rate", M_DROPPED_RATE},
    {"accuracy", M_ACCURACY},
    {"macro_f1", M_MACRO_F1},
    {"mae", M_MAE},
    {"rmse", M_RMSE},
};

static int metric_lookup(const char *name, enum metric *id) {
  if (name == NULL)
    return 0;
  for (size_t i = 0; i < sizeof(metric_names) / sizeof(metric_names[0]); i++)
    if (strcmp(name, metric_names[i].name) == 0) {
      *id = metric_names[i].id;
      return 1;
    }
  return 0;
}

int sbx_metric_known(const char *metric) {
  enum metric id;
  return metric_lookup(metric, &id);
}

static uint64_t latency_count(const Sbx__V1__Metrics *m) {
  return m->latency_hist != NULL ? m->latency_hist->total_count : m->completed;
}

int sbx_metric_value(const Sbx__V1__Metrics *m, const char *metric,
                     double *out) {
  enum metric id;
  double v;
  int ok;
  if (!metric_lookup(metric, &id))
    return SBX_ENOENT;
  if (m == NULL)
    return SBX_ERANGE;
  switch (id) {
  case M_LAT_MIN:
  case M_LAT_P50:
  case M_LAT_P90:
  case M_LAT_P99:
  case M_LAT_P999:
  case M_LAT_MAX:
  case M_LAT_MEAN: {
    const Sbx__V1__LatencySummary *l = m->latency;
    ok = l != NULL && latency_count(m) > 0;
    if (!ok)
      break;
    v = id == M_LAT_MIN    ? (double)l->min_us
        : id == M_LAT_P50  ? (double)l->p50_us
        : id == M_LAT_P90  ? (double)l->p90_us
        : id == M_LAT_P99  ? (double)l->p99_us
        : id == M_LAT_P999 ? (double)l->p999_us
        : id == M_LAT_MAX  ? (double)l->max_us
                           : l->mean_us;
    break;
  }
  case M_THROUGHPUT:
    ok = m->duration_s > 0;
    v = m->throughput;
    break;
  case M_ACHIEVED_RATE:
    ok = m->duration_s > 0;
    v = m->achieved_rate;
    break;
  case M_ERROR_RATE:
    ok = m->requests > 0;
    v = m->error_rate;
    break;
  case M_DROPPED_RATE:
    ok = m->requests > 0;
    v = ok ? (double)m->dropped / (double)m->requests : 0;
    break;
  case M_ACCURACY:
    ok = m->checked > 0;
    v = m->accuracy;
    break;
  case M_MACRO_F1: {
    /* Every judged label case adds to the support of its expected class. */
    uint64_t support = 0;
    for (size_t i = 0; i < m->n_per_class; i++)
      if (m->per_class[i] != NULL)
        support += m->per_class[i]->support;
    ok = support > 0;
    v = m->macro_f1;
    break;
  }
  case M_MAE:
    ok = 1;
    v = m->mae;
    break;
  case M_RMSE:
    ok = 1;
    v = m->rmse;
    break;
  default:
    return SBX_ENOENT;
  }
  if (!ok || isnan(v))
    return SBX_ERANGE;
  *out = v;
  return 0;
}

/* ---- metrics ---------------------------------------------------------- */

static int hist_proto(const struct sbx_hist *h, Sbx__V1__Histogram **out) {
  Sbx__V1__Histogram *p;
  int rc;
  *out = NULL;
  if (h == NULL)
    return 0;
  p = malloc(sizeof(*p));
  if (p == NULL)
    return SBX_ENOMEM;
  sbx__v1__histogram__init(p);
  rc = sbx_hist_to_proto(h, p);
  if (rc != 0) {
    free(p);
    /* ERANGE: counters beyond the wire form (absurd saturating merges);
     * the summary still stands, only the histogram is left out. */
    return rc == SBX_ERANGE ? 0 : rc;
  }
  *out = p;
  return 0;
}

static uint64_t dropped_of(const struct sbx_run_stats *st) {
  uint64_t d = st->by_class[CLS(DROPPED)];
  return st->dropped > d ? st->dropped : d;
}

static int build_metrics(const Sbx__V1__Scenario *sc,
                         const struct sbx_run_stats *st,
                         Sbx__V1__Metrics **out) {
  Sbx__V1__Metrics *m = malloc(sizeof(*m));
  uint64_t errors = 0;
  size_t n_err = 0;
  int rc = SBX_ENOMEM;

  *out = NULL;
  if (m == NULL)
    return SBX_ENOMEM;
  sbx__v1__metrics__init(m);

  m->requests = st->requests;
  m->completed = st->completed;
  m->dropped = dropped_of(st);
  for (int c = 1; c < SBX_ERROR_CLASSES; c++) {
    uint64_t k = c == CLS(DROPPED) ? m->dropped : st->by_class[c];
    errors += k;
    if (k > 0)
      n_err++;
  }
  m->errors = errors;
  if (st->measure_end_ns > st->measure_start_ns)
    m->duration_s = (double)(st->measure_end_ns - st->measure_start_ns) / 1e9;
  if (m->duration_s > 0) {
    m->throughput = (double)st->by_class[CLS(NONE)] / m->duration_s;
    m->achieved_rate = (double)st->sent / m->duration_s;
  }
  m->error_rate = st->requests ? (double)errors / (double)st->requests : 0;
  m->target_rate = st->target_rate;
  if (m->target_rate <= 0 && sc->load != NULL &&
      sc->load->model == SBX__V1__LOAD_MODEL__LOAD_MODEL_OPEN)
    m->target_rate = sc->load->rate;
  m->warmup_requests = st->warmup_requests;

  if (n_err > 0) {
    m->errors_by_class = calloc(n_err, sizeof(*m->errors_by_class));
    if (m->errors_by_class == NULL)
      goto out;
    for (int c = 1; c < SBX_ERROR_CLASSES; c++) {
      uint64_t k = c == CLS(DROPPED) ? m->dropped : st->by_class[c];
      Sbx__V1__ErrorCount *e;
      if (k == 0)
        continue;
      e = malloc(sizeof(*e));
      if (e == NULL)
        goto out;
      sbx__v1__error_count__init(e);
      e->error = (Sbx__V1__ErrorClass)c;
      e->count = k;
      m->errors_by_class[m->n_errors_by_class++] = e;
    }
  }

  m->latency = malloc(sizeof(*m->latency));
  if (m->latency == NULL)
    goto out;
  sbx__v1__latency_summary__init(m->latency);
  if (st->latency != NULL && sbx_hist_count(st->latency) > 0) {
    Sbx__V1__LatencySummary *l = m->latency;
    l->min_us = sbx_hist_min(st->latency);
    l->p50_us = sbx_hist_percentile(st->latency, 50);
    l->p90_us = sbx_hist_percentile(st->latency, 90);
    l->p99_us = sbx_hist_percentile(st->latency, 99);
    l->p999_us = sbx_hist_percentile(st->latency, 99.9);
    l->max_us = sbx_hist_max(st->latency);
    l->mean_us = sbx_hist_mean(st->latency);
  }
  rc = hist_proto(st->latency, &m->latency_hist);
  if (rc != 0)
    goto out;
  rc = hist_proto(st->lag, &m->schedule_lag_hist);
  if (rc != 0)
    goto out;
  if (st->lag != NULL) {
    m->schedule_lag_p99_us = sbx_hist_percentile(st->lag, 99);
    m->schedule_lag_max_us = sbx_hist_max(st->lag);
  }
  /* The product's CPU covers warm-up too, so it is spread over every
   * answered request, warm-up included. */
  if (st->product_cpu_us > 0 && st->completed + st->warmup_requests > 0)
    m->cpu_us_per_request = (double)st->product_cpu_us /
                            (double)(st->completed + st->warmup_requests);
  m->peak_rss_bytes = st->product_peak_rss;
  rc = sbx_quality_fill(st->quality, m);
  if (rc != 0)
    goto out;
  *out = m;
  m = NULL;
out:
  if (m != NULL)
    protobuf_c_message_free_unpacked(&m->base, NULL);
  return rc;
}

/* ---- criteria --------------------------------------------------------- */

static int compare(double v, Sbx__V1__CompareOp op, double bound) {
  switch (op) {
  case SBX__V1__COMPARE_OP__COMPARE_OP_LE:
    return v <= bound;
  case SBX__V1__COMPARE_OP__COMPARE_OP_LT:
    return v < bound;
  case SBX__V1__COMPARE_OP__COMPARE_OP_GE:
    return v >= bound;
  case SBX__V1__COMPARE_OP__COMPARE_OP_GT:
    return v > bound;
  default:
    return 0; /* a criterion without a comparison can never pass */
  }
}

static char *dup_or_null(const char *s, int *failed) {
  char *d;
  if (s == NULL)
    return NULL;
  d = strdup(s);
  if (d == NULL)
    *failed = 1;
  return d;
}

static Sbx__V1__Criterion *copy_criterion(const Sbx__V1__Criterion *c) {
  Sbx__V1__Criterion *d = malloc(sizeof(*d));
  int failed = 0;
  char *metric, *text;
  if (d == NULL)
    return NULL;
  sbx__v1__criterion__init(d);
  metric = dup_or_null(c->metric, &failed);
  text = dup_or_null(c->text, &failed);
  if (failed) {
    free(metric);
    free(text);
    free(d);
    return NULL;
  }
  if (metric != NULL)
    d->metric = metric;
  if (text != NULL)
    d->text = text;
  d->op = c->op;
  d->bound = c->bound;
  return d;
}

static void free_outcomes(Sbx__V1__CriterionOutcome **co, size_t n) {
  for (size_t i = 0; co != NULL && i < n; i++)
    if (co[i] != NULL)
      protobuf_c_message_free_unpacked(&co[i]->base, NULL);
  free(co);
}

static int build_criteria(const Sbx__V1__Scenario *sc,
                          const Sbx__V1__Metrics *m,
                          Sbx__V1__CriterionOutcome ***out, size_t *n_out) {
  Sbx__V1__CriterionOutcome **co = NULL;
  size_t n = 0;

  *out = NULL;
  *n_out = 0;
  if (sc->n_criteria == 0 || sc->criteria == NULL)
    return 0;
  co = calloc(sc->n_criteria, sizeof(*co));
  if (co == NULL)
    return SBX_ENOMEM;
  for (size_t i = 0; i < sc->n_criteria; i++) {
    const Sbx__V1__Criterion *c = sc->criteria[i];
    Sbx__V1__CriterionOutcome *o;
    double v = 0;
    if (c == NULL)
      continue;
    o = malloc(sizeof(*o));
    if (o == NULL)
      goto nomem;
    sbx__v1__criterion_outcome__init(o);
    co[n++] = o;
    o->criterion = copy_criterion(c);
    if (o->criterion == NULL)
      goto nomem;
    o->measurable = sbx_metric_value(m, c->metric, &v) == 0;
    o->measured = o->measurable ? v : 0;
    o->passed = o->measurable && compare(v, c->op, c->bound);
  }
  *out = co;
  *n_out = n;
  return 0;
nomem:
  free_outcomes(co, n);
  return SBX_ENOMEM;
}

/* ---- validity --------------------------------------------------------- */

/* A number for people: no exponent for ordinary magnitudes, no trailing
 * zeros ("912.3", "10", "4.2", "0.001"). */
static void fmt_num(char *buf, size_t size, double v) {
  double a = fabs(v);
  if (!isfinite(v) || (a < 1 && a != 0)) {
    snprintf(buf, size, "%.3g", v);
    return;
  }
  snprintf(buf, size, "%.*f", a >= 10 ? 1 : 2, v);
  if (strchr(buf, '.') != NULL) {
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '0')
      buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '.')
      buf[--n] = '\0';
  }
}

/* A duration in µs, in the largest unit that keeps it >= 1. */
static void fmt_us(char *buf, size_t size, double us) {
  char num[48];
  const char *unit = "µs";
  if (fabs(us) >= 1e6) {
    us /= 1e6;
    unit = "s";
  } else if (fabs(us) >= 1e3) {
    us /= 1e3;
    unit = "ms";
  }
  fmt_num(num, sizeof(num), us);
  snprintf(buf, size, "%s %s", num, unit);
}

struct reasons {
  char *r[MAX_REASONS];
  size_t n;
  int nomem;
};

__attribute__((format(printf, 2, 3))) static void
add_reason(struct reasons *rs, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  if (rs->n >= MAX_REASONS)
    return;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  rs->r[rs->n] = strdup(buf);
  if (rs->r[rs->n] == NULL)
    rs->nomem = 1;
  else
    rs->n++;
}

static void collect_reasons(const Sbx__V1__Scenario *sc,
                            const struct sbx_run_stats *st,
                            const Sbx__V1__Metrics *m, struct reasons *rs) {
  const Sbx__V1__Load *load = sc->load;
  const Sbx__V1__Validity *val = sc->validity;
  char a[64], b[64], c[64];

  if (m->completed == 0) {
    if (m->requests == 0)
      add_reason(rs, "no request completed: the run measured no arrival at "
                     "all; check the load settings and the dataset");
    else
      add_reason(rs,
                 "no request completed: none of the %llu measured arrivals "
                 "was answered; check that the product is reachable",
                 (unsigned long long)m->requests);
  }
  if (!st->min_duration_met) {
    fmt_us(a, sizeof(a), m->duration_s * 1e6);
    if (load != NULL && load->min_duration_us > 0) {
      fmt_us(b, sizeof(b), (double)load->min_duration_us);
      add_reason(rs,
                 "minimum duration not met: measured %s, the scenario "
                 "requires %s",
                 a, b);
    } else {
      add_reason(rs,
                 "minimum duration not met: measured %s, and the engine "
                 "stopped before the scenario's minimum",
                 a);
    }
  }
  if (!st->min_cases_met) {
    if (load != NULL && load->min_cases > 0)
      add_reason(rs,
                 "minimum case count not met: measured %llu requests, "
                 "the scenario requires %llu",
                 (unsigned long long)m->requests,
                 (unsigned long long)load->min_cases);
    else
      add_reason(rs,
                 "minimum case count not met: measured %llu requests, "
                 "and the engine stopped before the scenario's minimum",
                 (unsigned long long)m->requests);
  }
  if (val != NULL && val->max_schedule_lag_p99_us > 0 && st->lag != NULL &&
      sbx_hist_count(st->lag) > 0) {
    int64_t p99 = sbx_hist_percentile(st->lag, 99);
    if (p99 > val->max_schedule_lag_p99_us) {
      fmt_us(a, sizeof(a), (double)p99);
      fmt_us(b, sizeof(b), (double)val->max_schedule_lag_p99_us);
      add_reason(rs,
                 "schedule lag p99 %s exceeds the limit of %s: the "
                 "harness was overloaded, its numbers cannot be trusted",
                 a, b);
    }
  }
  if (val != NULL && val->max_rate_deviation > 0 && load != NULL &&
      (load->model == SBX__V1__LOAD_MODEL__LOAD_MODEL_OPEN ||
       load->model == SBX__V1__LOAD_MODEL__LOAD_MODEL_TRACE) &&
      m->target_rate > 0) {
    double dev = fabs(m->achieved_rate - m->target_rate) / m->target_rate;
    if (dev > val->max_rate_deviation) {
      char d[48];
      fmt_num(a, sizeof(a), m->achieved_rate);
      fmt_num(b, sizeof(b), dev * 100);
      fmt_num(c, sizeof(c), m->target_rate);
      fmt_num(d, sizeof(d), val->max_rate_deviation * 100);
      add_reason(rs,
                 "achieved arrival rate %s/s is %s%% off the target "
                 "%s/s (limit %s%%)",
                 a, b, c, d);
    }
  }
  if (val != NULL && val->max_dropped_fraction > 0 && m->requests > 0) {
    double f = (double)m->dropped / (double)m->requests;
    if (f > val->max_dropped_fraction) {
      fmt_num(a, sizeof(a), f * 100);
      fmt_num(b, sizeof(b), val->max_dropped_fraction * 100);
      add_reason(rs,
                 "dropped %s%% of arrivals over the in-flight cap "
                 "(%llu of %llu; limit %s%%)",
                 a, (unsigned long long)m->dropped,
                 (unsigned long long)m->requests, b);
    }
  }
}

static int build_validity(const Sbx__V1__Scenario *sc,
                          const struct sbx_run_stats *st,
                          const Sbx__V1__Metrics *m,
                          Sbx__V1__ValidityOutcome **out) {
  struct reasons rs = {{NULL}, 0, 0};
  Sbx__V1__ValidityOutcome *v = NULL;
  int rc = SBX_ENOMEM;

  *out = NULL;
  collect_reasons(sc, st, m, &rs);
  if (rs.nomem)
    goto out;
  v = malloc(sizeof(*v));
  if (v == NULL)
    goto out;
  sbx__v1__validity_outcome__init(v);
  if (rs.n > 0) {
    v->reasons = malloc(rs.n * sizeof(*v->reasons));
    if (v->reasons == NULL)
      goto out;
    memcpy(v->reasons, rs.r, rs.n * sizeof(*v->reasons));
    v->n_reasons = rs.n;
    rs.n = 0; /* moved */
  }
  v->valid = v->n_reasons == 0;
  *out = v;
  v = NULL;
  rc = 0;
out:
  for (size_t i = 0; i < rs.n; i++)
    free(rs.r[i]);
  free(v);
  return rc;
}

/* ---- the whole step --------------------------------------------------- */

int sbx_verify(const Sbx__V1__Scenario *sc, const struct sbx_run_stats *st,
               Sbx__V1__Result *res) {
  Sbx__V1__Metrics *m = NULL;
  Sbx__V1__CriterionOutcome **co = NULL;
  size_t n_co = 0;
  Sbx__V1__ValidityOutcome *vo = NULL;
  const char *score_metric;
  double score;
  int rc, failed = 0;

  if (sc == NULL || st == NULL || res == NULL)
    return SBX_EINVAL;
  rc = build_metrics(sc, st, &m);
  if (rc != 0)
    goto out;
  rc = build_criteria(sc, m, &co, &n_co);
  if (rc != 0)
    goto out;
  rc = build_validity(sc, st, m, &vo);
  if (rc != 0)
    goto out;

  /* Nothing can fail from here on: replace what res held. */
  if (res->metrics != NULL)
    protobuf_c_message_free_unpacked(&res->metrics->base, NULL);
  free_outcomes(res->criteria, res->n_criteria);
  if (res->validity != NULL)
    protobuf_c_message_free_unpacked(&res->validity->base, NULL);
  res->metrics = m;
  res->criteria = co;
  res->n_criteria = n_co;
  res->validity = vo;
  m = NULL;
  co = NULL;
  n_co = 0;
  vo = NULL;

  for (size_t i = 0; i < res->n_criteria; i++)
    if (!res->criteria[i]->passed)
      failed = 1;
  if (res->verdict != SBX__V1__VERDICT__VERDICT_ERROR) {
    if (res->validity->n_reasons > 0)
      res->verdict = SBX__V1__VERDICT__VERDICT_INVALID;
    else if (failed)
      res->verdict = SBX__V1__VERDICT__VERDICT_FAIL;
    else
      res->verdict = SBX__V1__VERDICT__VERDICT_PASS;
  }
  score_metric = sc->score_metric != NULL && sc->score_metric[0] != '\0'
                     ? sc->score_metric
                     : "throughput";
  if (sbx_metric_value(res->metrics, score_metric, &score) != 0)
    score = NAN;
  res->score = score;
out:
  if (m != NULL)
    protobuf_c_message_free_unpacked(&m->base, NULL);
  free_outcomes(co, n_co);
  if (vo != NULL)
    protobuf_c_message_free_unpacked(&vo->base, NULL);
  return rc;
}
