/* hist.c - HDR-style log-linear histograms (see hist.h).
 *
 * Layout, as in HdrHistogram with unit magnitude 0: bucket b (0..21) covers
 * the values [1024 << b, 2048 << b) in 1024 steps of width 1 << b; bucket 0
 * also covers 0..1023 with width 1. Counter index i of value v is
 *   b = 53 - clz(v | 2047),  i = ((b + 1) << 10) + (v >> b) - 1024
 * so values below 2048 map to themselves and every further power of two adds
 * 1024 counters. The relative width of a step is at most 1/1024, which gives
 * the 3 significant digits.
 */
#include "hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SUB_HALF_MAG 10                     /* log2(SBX_HIST_SUB_BUCKETS / 2) */
#define SUB_HALF (1 << SUB_HALF_MAG)        /* 1024 */
#define SUB_MASK (SBX_HIST_SUB_BUCKETS - 1) /* 2047 */
#define LZ_BASE (64 - SUB_HALF_MAG - 1)     /* 53 */

_Static_assert(SBX_HIST_SUB_BUCKETS == 2 * SUB_HALF, "sub-bucket layout");
/* Bucket b ends at (2048 << b) - 1: the last bucket must be the first one
 * to reach SBX_HIST_HIGHEST. */
_Static_assert(((uint64_t)SBX_HIST_SUB_BUCKETS << (SBX_HIST_BUCKETS - 2)) <=
                       (uint64_t)SBX_HIST_HIGHEST &&
                   ((uint64_t)SBX_HIST_SUB_BUCKETS << (SBX_HIST_BUCKETS - 1)) >
                       (uint64_t)SBX_HIST_HIGHEST,
               "bucket count must cover exactly up to SBX_HIST_HIGHEST");
_Static_assert(SBX_HIST_COUNTS_LEN == 23552, "counter array size");

struct sbx_hist {
  uint64_t total;
  uint64_t saturated;
  int64_t min; /* valid only when total > 0 */
  int64_t max;
  uint64_t counts[SBX_HIST_COUNTS_LEN];
};

static inline uint64_t sat_add(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* v must be in 0..SBX_HIST_HIGHEST (callers clamp first). */
static inline unsigned index_of(uint64_t v) {
  unsigned b = (unsigned)(LZ_BASE - __builtin_clzll(v | SUB_MASK));
  return ((b + 1) << SUB_HALF_MAG) + (unsigned)(v >> b) - SUB_HALF;
}

/* Power of two of the step width at counter index i. */
static inline unsigned shift_of(unsigned i) {
  unsigned hi = i >> SUB_HALF_MAG;
  return hi == 0 ? 0 : hi - 1;
}

static inline int64_t lowest_of(unsigned i) {
  unsigned hi = i >> SUB_HALF_MAG;
  uint64_t sub = hi == 0 ? (i & (SUB_HALF - 1))
                         : (uint64_t)((i & (SUB_HALF - 1)) + SUB_HALF);
  return (int64_t)(sub << shift_of(i));
}

static inline int64_t highest_of(unsigned i) {
  return lowest_of(i) + ((int64_t)1 << shift_of(i)) - 1;
}

static inline int64_t middle_of(unsigned i) {
  return lowest_of(i) + (((int64_t)1 << shift_of(i)) >> 1);
}

/* Last counter index a recorded value can reach (that of SBX_HIST_HIGHEST);
 * the counters above it exist only because the layout is a power of two. */
#define TOP_INDEX (index_of((uint64_t)SBX_HIST_HIGHEST))

struct sbx_hist *sbx_hist_new(void) {
  return calloc(1, sizeof(struct sbx_hist));
}

void sbx_hist_free(struct sbx_hist *h) {
  free(h);
}

void sbx_hist_reset(struct sbx_hist *h) {
  memset(h, 0, sizeof(*h));
}

void sbx_hist_record(struct sbx_hist *h, int64_t value_us) {
  sbx_hist_record_n(h, value_us, 1);
}

void sbx_hist_record_n(struct sbx_hist *h, int64_t value_us, uint64_t n) {
  int over = value_us > SBX_HIST_HIGHEST;
  int64_t v = over ? SBX_HIST_HIGHEST : (value_us < 1 ? 0 : value_us);
  unsigned i = index_of((uint64_t)v);

  if (n == 0)
    return;
  h->counts[i] = sat_add(h->counts[i], n);
  if (h->total == 0 || v < h->min)
    h->min = v;
  if (h->total == 0 || v > h->max)
    h->max = v;
  h->total = sat_add(h->total, n);
  if (over)
    h->saturated = sat_add(h->saturated, n);
}

void sbx_hist_merge(struct sbx_hist *dst, const struct sbx_hist *src) {
  unsigned i, lo, hi;

  if (src->total == 0)
    return;
  lo = index_of((uint64_t)src->min);
  hi = index_of((uint64_t)src->max);
  /* Read src's bounds before dst may be updated (src may be dst). */
  if (dst->total == 0 || src->min < dst->min)
    dst->min = src->min;
  if (dst->total == 0 || src->max > dst->max)
    dst->max = src->max;
  for (i = lo; i <= hi; i++)
    dst->counts[i] = sat_add(dst->counts[i], src->counts[i]);
  dst->total = sat_add(dst->total, src->total);
  dst->saturated = sat_add(dst->saturated, src->saturated);
}

uint64_t sbx_hist_count(const struct sbx_hist *h) {
  return h->total;
}

int64_t sbx_hist_min(const struct sbx_hist *h) {
  return h->total == 0 ? 0 : h->min;
}

int64_t sbx_hist_max(const struct sbx_hist *h) {
  return h->total == 0 ? 0 : h->max;
}

uint64_t sbx_hist_saturated(const struct sbx_hist *h) {
  return h->saturated;
}

double sbx_hist_mean(const struct sbx_hist *h) {
  unsigned i, hi;
  double sum = 0.0;

  if (h->total == 0)
    return 0.0;
  hi = index_of((uint64_t)h->max);
  for (i = index_of((uint64_t)h->min); i <= hi; i++)
    if (h->counts[i] != 0)
      sum += (double)h->counts[i] * (double)middle_of(i);
  return sum / (double)h->total;
}

/* ceil(pct / 100 * total), clamped to 1..total. The product is rarely exact
 * in binary (99.9 is not), so a result within a relative 1e-12 of an integer
 * is taken as that integer: p99.9 of 100000 values is rank 99900, not 99901. */
static uint64_t rank_of(double pct, uint64_t total) {
  double x, near;

  if (!(pct > 0.0)) /* also NaN */
    pct = 0.0;
  if (pct > 100.0)
    pct = 100.0;
  x = pct * (double)total / 100.0;
  if (x >= (double)total) /* (double)total may round above total */
    return total;
  near = nearbyint(x);
  x = fabs(x - near) <= near * 1e-12 ? near : ceil(x);
  if (x < 1.0)
    return 1;
  return (uint64_t)x < total ? (uint64_t)x : total;
}

int64_t sbx_hist_percentile(const struct sbx_hist *h, double pct) {
  uint64_t rank, seen = 0;
  unsigned i, hi;

  if (h->total == 0)
    return 0;
  rank = rank_of(pct, h->total);
  hi = index_of((uint64_t)h->max);
  for (i = index_of((uint64_t)h->min); i <= hi; i++) {
    seen = sat_add(seen, h->counts[i]);
    if (seen >= rank) {
      int64_t v = highest_of(i);
      return v < h->max ? v : h->max;
    }
  }
  return h->max; /* unreachable while the counts add up to total */
}

/* ---- wire form -------------------------------------------------------- */

int sbx_hist_to_proto(const struct sbx_hist *h, Sbx__V1__Histogram *out) {
  int rc = SBX_ENOMEM;
  int64_t *counts = NULL;
  char *unit = NULL;
  uint64_t sum = 0;
  size_t n = 0, k = 0;
  unsigned i, hi = 0;

  if (h->total > 0) {
    hi = index_of((uint64_t)h->max);
    for (i = 0; i <= hi; i++) {
      /* A saturated counter or total would encode a message that
       * sbx_hist_from_proto() must refuse; say so now instead. */
      if (h->counts[i] > (uint64_t)INT64_MAX ||
          __builtin_add_overflow(sum, h->counts[i], &sum)) {
        rc = SBX_ERANGE;
        goto out;
      }
      if (h->counts[i] != 0 || i == 0 || h->counts[i - 1] != 0)
        n++;
    }
    counts = malloc(n * sizeof(*counts));
    if (counts == NULL)
      goto out;
    for (i = 0; i <= hi; i++) {
      if (h->counts[i] != 0)
        counts[k++] = (int64_t)h->counts[i];
      else if (i == 0 || h->counts[i - 1] != 0)
        counts[k++] = -1;
      else
        counts[k - 1]--; /* extend the run that is already open */
    }
  }
  unit = strdup("us");
  if (unit == NULL)
    goto out;

  out->lowest_discernible = SBX_HIST_LOWEST;
  out->highest_trackable = SBX_HIST_HIGHEST;
  out->significant_figures = SBX_HIST_SIGFIGS;
  out->n_counts = n;
  out->counts = counts;
  out->total_count = h->total;
  out->min = sbx_hist_min(h);
  out->max = sbx_hist_max(h);
  out->unit = unit;
  counts = NULL;
  unit = NULL;
  rc = 0;
out:
  free(counts);
  free(unit);
  return rc;
}

void sbx_hist_proto_clear(Sbx__V1__Histogram *m) {
  if (m == NULL)
    return;
  free(m->counts);
  if (m->unit != NULL && m->unit != (char *)protobuf_c_empty_string)
    free(m->unit);
  sbx__v1__histogram__init(m);
}

/* Checks that v, the message's min or max, could be one of its values: in
 * range, and in the counter `want` that is the first (min) or last (max)
 * non-empty one. */
static int check_bound(const char *field, const char *which, int64_t v,
                       unsigned want, struct sbx_diag *diag) {
  unsigned got;

  if (v < 0 || v > SBX_HIST_HIGHEST) {
    sbx_diag_set(diag,
                 "histogram.%s: %lld is outside 0..%lld us; the histogram is "
                 "corrupt",
                 field, (long long)v, (long long)SBX_HIST_HIGHEST);
    return SBX_EINVAL;
  }
  got = index_of((uint64_t)v);
  if (got != want) {
    sbx_diag_set(diag,
                 "histogram.%s: %lld us belongs to counter %u, but the %s "
                 "non-empty counter is %u (values %lld..%lld us); min and max "
                 "must agree with counts, the histogram is corrupt",
                 field, (long long)v, got, which, want,
                 (long long)lowest_of(want), (long long)highest_of(want));
    return SBX_EINVAL;
  }
  return 0;
}

int sbx_hist_from_proto(struct sbx_hist *h, const Sbx__V1__Histogram *in,
                        struct sbx_diag *diag) {
  const uint64_t limit = (uint64_t)TOP_INDEX + 1; /* counters usable */
  uint64_t idx = 0, sum = 0;
  unsigned lo = 0, hi = 0;
  int rc = SBX_EINVAL;
  size_t k;

  sbx_hist_reset(h);
  if (in == NULL) {
    sbx_diag_set(diag, "histogram: no message to decode");
    goto out;
  }
  if (in->lowest_discernible != SBX_HIST_LOWEST ||
      in->highest_trackable != SBX_HIST_HIGHEST ||
      in->significant_figures != SBX_HIST_SIGFIGS) {
    sbx_diag_set(diag,
                 "histogram: layout lowest_discernible=%lld "
                 "highest_trackable=%lld significant_figures=%d is not the "
                 "supported %d/%lld/%d; re-encode it with the sandbox's "
                 "1 us..1 h, 3-digit layout",
                 (long long)in->lowest_discernible,
                 (long long)in->highest_trackable, (int)in->significant_figures,
                 SBX_HIST_LOWEST, (long long)SBX_HIST_HIGHEST,
                 SBX_HIST_SIGFIGS);
    goto out;
  }
  if (in->unit == NULL || strcmp(in->unit, "us") != 0) {
    sbx_diag_set(diag,
                 "histogram.unit: \"%.32s\" is not supported; values must be "
                 "microseconds, unit \"us\"",
                 in->unit != NULL ? in->unit : "");
    goto out;
  }
  if (in->n_counts > 0 && in->counts == NULL) {
    sbx_diag_set(diag, "histogram.counts: %zu entries announced, none given",
                 in->n_counts);
    goto out;
  }

  /* Every entry advances idx by at least 1 and idx may not pass limit, so
   * this loop ends after at most limit + 1 entries whatever n_counts says. */
  for (k = 0; k < in->n_counts; k++) {
    int64_t c = in->counts[k];

    if (c == 0) {
      sbx_diag_set(diag,
                   "histogram.counts[%zu]: entry 0 is not allowed; one empty "
                   "counter is written as the run -1",
                   k);
      goto out;
    }
    if (c < 0) {
      /* -c computed in unsigned arithmetic: INT64_MIN has no int64 negation */
      uint64_t run = (uint64_t)0 - (uint64_t)c;
      if (run > limit - idx) {
        sbx_diag_set(diag,
                     "histogram.counts[%zu]: run of %llu empty counters from "
                     "index %llu goes past the last trackable counter %llu; "
                     "the histogram is corrupt",
                     k, (unsigned long long)run, (unsigned long long)idx,
                     (unsigned long long)(limit - 1));
        goto out;
      }
      idx += run;
      continue;
    }
    if (idx >= limit) {
      sbx_diag_set(diag,
                   "histogram.counts[%zu]: count at index %llu is past the "
                   "last trackable counter %llu (value %lld us); the "
                   "histogram is corrupt",
                   k, (unsigned long long)idx, (unsigned long long)(limit - 1),
                   (long long)SBX_HIST_HIGHEST);
      goto out;
    }
    if (__builtin_add_overflow(sum, (uint64_t)c, &sum)) {
      sbx_diag_set(diag,
                   "histogram.counts[%zu]: the counts add up to more than "
                   "2^64-1; the histogram is corrupt",
                   k);
      goto out;
    }
    if (sum == (uint64_t)c) /* nothing counted before: first non-empty */
      lo = (unsigned)idx;
    hi = (unsigned)idx;
    h->counts[idx++] = (uint64_t)c;
  }

  if (sum != in->total_count) {
    sbx_diag_set(diag,
                 "histogram.total_count: %llu, but the counts add up to %llu; "
                 "the histogram is corrupt or truncated",
                 (unsigned long long)in->total_count, (unsigned long long)sum);
    goto out;
  }
  if (sum == 0) {
    if (in->min != 0 || in->max != 0) {
      sbx_diag_set(diag,
                   "histogram: empty (total_count 0) but min %lld and max "
                   "%lld; an empty histogram has min 0 and max 0",
                   (long long)in->min, (long long)in->max);
      goto out;
    }
    rc = 0;
    goto out;
  }
  if (in->min > in->max) {
    sbx_diag_set(diag,
                 "histogram.min: %lld is greater than max %lld; the histogram "
                 "is corrupt",
                 (long long)in->min, (long long)in->max);
    goto out;
  }
  if (check_bound("min", "first", in->min, lo, diag) != 0 ||
      check_bound("max", "last", in->max, hi, diag) != 0)
    goto out;

  h->total = sum;
  h->min = in->min;
  h->max = in->max;
  rc = 0;
out:
  if (rc != 0)
    sbx_hist_reset(h);
  return rc;
}
