/* test_hist.c - the log-linear histogram (daemon/hist.c).
 *
 * Percentiles are compared with the exact order statistics of a sorted copy
 * of the same values; the wire form is checked for its exact encoding, for
 * round trips (in memory and through pack/unpack) and for rejecting corrupt
 * input with a message that names the problem. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "testlib.h"

#define N_RANDOM 100000

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static double rng_unit(void) { /* [0, 1) */
  return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0);
}

static double rng_normal(void) { /* Box-Muller */
  double u = 1.0 - rng_unit(), v = rng_unit();
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* What the histogram makes of a raw value before counting it. */
static int64_t clamp_value(int64_t v) {
  if (v < 1)
    return 0;
  return v > SBX_HIST_HIGHEST ? SBX_HIST_HIGHEST : v;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Rank of percentile p_e4 / 10000 among n values, in exact integer
 * arithmetic: ceil(p_e4 * n / 1e6), at least 1. */
static uint64_t exact_rank(uint64_t p_e4, uint64_t n) {
  uint64_t r = (p_e4 * n + 999999) / 1000000;
  return r < 1 ? 1 : r;
}

/* Compares two histograms through everything the API shows, including
 * the exact counters (via the wire form). Returns 1 when equal. */
static int hist_equal(const struct sbx_hist *a, const struct sbx_hist *b) {
  Sbx__V1__Histogram pa = SBX__V1__HISTOGRAM__INIT;
  Sbx__V1__Histogram pb = SBX__V1__HISTOGRAM__INIT;
  int eq = 1, i;

  if (sbx_hist_to_proto(a, &pa) != 0 || sbx_hist_to_proto(b, &pb) != 0)
    eq = 0;
  else if (pa.n_counts != pb.n_counts || pa.total_count != pb.total_count ||
           pa.min != pb.min || pa.max != pb.max ||
           (pa.n_counts > 0 &&
            memcmp(pa.counts, pb.counts, pa.n_counts * sizeof(int64_t)) != 0))
    eq = 0;
  if (sbx_hist_count(a) != sbx_hist_count(b) ||
      sbx_hist_min(a) != sbx_hist_min(b) ||
      sbx_hist_max(a) != sbx_hist_max(b) ||
      sbx_hist_mean(a) != sbx_hist_mean(b))
    eq = 0;
  for (i = 0; i <= 1000; i++)
    if (sbx_hist_percentile(a, i / 10.0) != sbx_hist_percentile(b, i / 10.0))
      eq = 0;
  sbx_hist_proto_clear(&pa);
  sbx_hist_proto_clear(&pb);
  return eq;
}

/* ---- percentiles against a sorted reference ---------------------------- */

enum dist { UNIFORM, EXPONENTIAL, LOGNORMAL, SMALL, BIMODAL, LOGUNIFORM };

static int64_t draw(enum dist d) {
  switch (d) {
  case UNIFORM:
    return (int64_t)(rng_next() % 1000001);
  case EXPONENTIAL:
    return (int64_t)(-5000.0 * log(1.0 - rng_unit()));
  case LOGNORMAL:
    return (int64_t)exp(log(20000.0) + 2.0 * rng_normal());
  case SMALL:
    return (int64_t)(rng_next() % 3001);
  case BIMODAL:
    return rng_unit() < 0.9 ? (int64_t)(200.0 + 30.0 * rng_normal())
                            : (int64_t)(2e6 + 3e5 * rng_normal());
  case LOGUNIFORM: /* 1 us .. 2^32 us, some above the trackable range */
    return (int64_t)exp2(rng_unit() * 32.0);
  }
  return 0;
}

static void check_against_reference(const char *name, enum dist d) {
  static int64_t vals[N_RANDOM];
  static const uint64_t extra_e4[] = {1,      10,     990000, 999000,
                                      999900, 999990, 999999};
  struct sbx_hist *h = sbx_hist_new();
  int64_t raw;
  uint64_t sat = 0;
  double sum = 0.0, mean;
  int i, bad = 0;

  CHECK(h != NULL);
  if (h == NULL)
    return;
  for (i = 0; i < N_RANDOM; i++) {
    raw = draw(d);
    sbx_hist_record(h, raw);
    sat += raw > SBX_HIST_HIGHEST;
    vals[i] = clamp_value(raw);
    sum += (double)vals[i];
  }
  qsort(vals, N_RANDOM, sizeof(vals[0]), cmp_i64);

  CHECK_EQ_INT(sbx_hist_count(h), N_RANDOM);
  CHECK_EQ_INT(sbx_hist_min(h), vals[0]);
  CHECK_EQ_INT(sbx_hist_max(h), vals[N_RANDOM - 1]);
  CHECK_EQ_INT(sbx_hist_saturated(h), sat);
  mean = sum / N_RANDOM;
  CHECK(fabs(sbx_hist_mean(h) - mean) <= mean * 0.0005 + 0.5);

  /* every 0.01 percent from 0 to 100, then a few deep tail ones */
  for (i = 0; i <= 10000 + (int)(sizeof(extra_e4) / sizeof(extra_e4[0])); i++) {
    uint64_t p_e4 = i <= 10000 ? (uint64_t)i * 100 : extra_e4[i - 10001];
    int64_t ref = vals[exact_rank(p_e4, N_RANDOM) - 1];
    int64_t got = sbx_hist_percentile(h, (double)p_e4 / 10000.0);
    int64_t tol = ref < 2048 ? 0 : ref / 1000;

    if (got < ref || got - ref > tol) {
      if (bad++ < 5)
        fprintf(stderr, "%s: p%.4f: got %lld, reference %lld\n", name,
                (double)p_e4 / 10000.0, (long long)got, (long long)ref);
    }
  }
  CHECK_EQ_INT(bad, 0);
  sbx_hist_free(h);
}

static void test_random_distributions(void) {
  rng_state = 20240601;
  check_against_reference("uniform", UNIFORM);
  check_against_reference("exponential", EXPONENTIAL);
  check_against_reference("lognormal", LOGNORMAL);
  check_against_reference("small", SMALL);
  check_against_reference("bimodal", BIMODAL);
  check_against_reference("loguniform", LOGUNIFORM);
}

/* The rank must be exact even where pct/100*count is not in binary
 * (99.9% of 100000 is rank 99900, not 99901). Values 0..1999, 50 each, are
 * in the exact range, so any off-by-one rank shows. */
static void test_rank_exact(void) {
  struct sbx_hist *h = sbx_hist_new();
  int64_t v;
  int i, bad = 0;

  CHECK(h != NULL);
  if (h == NULL)
    return;
  for (v = 0; v < 2000; v++)
    sbx_hist_record_n(h, v, 50);
  for (i = 0; i <= 10000; i++) {
    int64_t want = (int64_t)(exact_rank((uint64_t)i * 100, 100000) - 1) / 50;
    int64_t got = sbx_hist_percentile(h, i / 100.0);
    if (got != want && bad++ < 5)
      fprintf(stderr, "p%.2f: got %lld, want %lld\n", i / 100.0, (long long)got,
              (long long)want);
  }
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_INT(sbx_hist_percentile(h, 99.9), 1997);
  CHECK_EQ_INT(sbx_hist_percentile(h, -5.0), 0);
  CHECK_EQ_INT(sbx_hist_percentile(h, NAN), 0);
  CHECK_EQ_INT(sbx_hist_percentile(h, 1e9), 1999);
  CHECK_EQ_INT(sbx_hist_percentile(h, INFINITY), 1999);
  sbx_hist_free(h);
}

/* ---- small and edge values -------------------------------------------- */

static void test_exact_small(void) {
  struct sbx_hist *h = sbx_hist_new();

  CHECK(h != NULL);
  if (h == NULL)
    return;
  CHECK_EQ_INT(sbx_hist_count(h), 0);
  CHECK_EQ_INT(sbx_hist_min(h), 0);
  CHECK_EQ_INT(sbx_hist_max(h), 0);
  CHECK(sbx_hist_mean(h) == 0.0);
  CHECK_EQ_INT(sbx_hist_percentile(h, 50), 0);

  sbx_hist_record(h, 5);
  sbx_hist_record(h, 1);
  sbx_hist_record(h, 3);
  sbx_hist_record(h, 2);
  CHECK_EQ_INT(sbx_hist_count(h), 4);
  CHECK_EQ_INT(sbx_hist_min(h), 1);
  CHECK_EQ_INT(sbx_hist_max(h), 5);
  CHECK(sbx_hist_mean(h) == 2.75);
  CHECK_EQ_INT(sbx_hist_percentile(h, 0), 1);
  CHECK_EQ_INT(sbx_hist_percentile(h, 25), 1);
  CHECK_EQ_INT(sbx_hist_percentile(h, 25.1), 2);
  CHECK_EQ_INT(sbx_hist_percentile(h, 50), 2);
  CHECK_EQ_INT(sbx_hist_percentile(h, 75), 3);
  CHECK_EQ_INT(sbx_hist_percentile(h, 99), 5);
  CHECK_EQ_INT(sbx_hist_percentile(h, 100), 5);

  sbx_hist_record_n(h, 7, 0); /* no-op */
  CHECK_EQ_INT(sbx_hist_count(h), 4);
  CHECK_EQ_INT(sbx_hist_max(h), 5);
  sbx_hist_record_n(h, 1000, 96);
  CHECK_EQ_INT(sbx_hist_count(h), 100);
  CHECK_EQ_INT(sbx_hist_percentile(h, 4), 5);
  CHECK_EQ_INT(sbx_hist_percentile(h, 5), 1000);

  sbx_hist_reset(h);
  CHECK_EQ_INT(sbx_hist_count(h), 0);
  CHECK_EQ_INT(sbx_hist_max(h), 0);
  CHECK_EQ_INT(sbx_hist_percentile(h, 100), 0);
  sbx_hist_free(h);
  sbx_hist_free(NULL);
}

static void check_single(int64_t raw, int64_t want, uint64_t want_sat) {
  struct sbx_hist *h = sbx_hist_new();

  CHECK(h != NULL);
  if (h == NULL)
    return;
  sbx_hist_record(h, raw);
  if (sbx_hist_min(h) != want || sbx_hist_max(h) != want ||
      sbx_hist_percentile(h, 0) != want ||
      sbx_hist_percentile(h, 100) != want || sbx_hist_saturated(h) != want_sat)
    fprintf(stderr,
            "single value %lld: min %lld max %lld p0 %lld p100 %lld "
            "saturated %llu\n",
            (long long)raw, (long long)sbx_hist_min(h),
            (long long)sbx_hist_max(h), (long long)sbx_hist_percentile(h, 0),
            (long long)sbx_hist_percentile(h, 100),
            (unsigned long long)sbx_hist_saturated(h));
  CHECK_EQ_INT(sbx_hist_count(h), 1);
  CHECK_EQ_INT(sbx_hist_min(h), want);
  CHECK_EQ_INT(sbx_hist_max(h), want);
  CHECK_EQ_INT(sbx_hist_percentile(h, 0), want);
  CHECK_EQ_INT(sbx_hist_percentile(h, 100), want);
  CHECK_EQ_INT(sbx_hist_saturated(h), want_sat);
  sbx_hist_free(h);
}

static void test_edges(void) {
  struct sbx_hist *h;

  check_single(0, 0, 0);
  check_single(1, 1, 0);
  check_single(1023, 1023, 0);
  check_single(1024, 1024, 0);
  check_single(2047, 2047, 0);
  check_single(2048, 2048, 0);
  check_single(SBX_HIST_HIGHEST, SBX_HIST_HIGHEST, 0);
  check_single(SBX_HIST_HIGHEST + 1, SBX_HIST_HIGHEST, 1);
  check_single(INT64_MAX, SBX_HIST_HIGHEST, 1);
  check_single(-1, 0, 0);
  check_single(INT64_MIN, 0, 0);

  h = sbx_hist_new();
  CHECK(h != NULL);
  if (h == NULL)
    return;
  /* 2048 and 2049 share a step of width 2: rank 1 reports its highest
   * equivalent value, 2049 */
  sbx_hist_record(h, 2048);
  sbx_hist_record(h, 2049);
  CHECK_EQ_INT(sbx_hist_percentile(h, 50), 2049);
  sbx_hist_reset(h);
  /* 2046 and 2047 are in the exact range */
  sbx_hist_record(h, 2046);
  sbx_hist_record(h, 2047);
  CHECK_EQ_INT(sbx_hist_percentile(h, 50), 2046);
  sbx_hist_reset(h);
  /* width 4 from 4096: 4096..4099 share a counter, capped at max */
  sbx_hist_record(h, 4096);
  sbx_hist_record(h, 4100);
  CHECK_EQ_INT(sbx_hist_percentile(h, 50), 4099);
  CHECK_EQ_INT(sbx_hist_percentile(h, 100), 4100);
  sbx_hist_reset(h);
  /* top counter: 3598712832..3600809983, reported no higher than max */
  sbx_hist_record(h, 3598712832LL);
  sbx_hist_record(h, SBX_HIST_HIGHEST - 1);
  CHECK_EQ_INT(sbx_hist_percentile(h, 50), SBX_HIST_HIGHEST - 1);
  sbx_hist_record(h, 3598712831LL); /* the counter below */
  CHECK_EQ_INT(sbx_hist_percentile(h, 0), 3598712831LL);
  /* saturation counts clamped values without losing them */
  sbx_hist_record_n(h, SBX_HIST_HIGHEST + 5, 10);
  CHECK_EQ_INT(sbx_hist_saturated(h), 10);
  CHECK_EQ_INT(sbx_hist_count(h), 13);
  CHECK_EQ_INT(sbx_hist_max(h), SBX_HIST_HIGHEST);
  CHECK_EQ_INT(sbx_hist_percentile(h, 100), SBX_HIST_HIGHEST);
  sbx_hist_free(h);
}

/* Counters saturate instead of wrapping, and the wire form refuses what it
 * cannot carry. */
static void test_counter_saturation(void) {
  struct sbx_hist *h = sbx_hist_new();
  Sbx__V1__Histogram m = SBX__V1__HISTOGRAM__INIT;

  CHECK(h != NULL);
  if (h == NULL)
    return;
  sbx_hist_record_n(h, 10, UINT64_MAX);
  sbx_hist_record(h, 10);
  CHECK(sbx_hist_count(h) == UINT64_MAX);
  CHECK_EQ_INT(sbx_hist_percentile(h, 100), 10);
  CHECK_EQ_INT(sbx_hist_to_proto(h, &m), SBX_ERANGE);
  CHECK(m.counts == NULL && m.n_counts == 0);
  CHECK(m.unit == (char *)protobuf_c_empty_string);
  sbx_hist_merge(h, h);
  CHECK(sbx_hist_count(h) == UINT64_MAX);
  /* every counter fits in int64, but the total has saturated */
  sbx_hist_reset(h);
  sbx_hist_record_n(h, 1, INT64_MAX);
  sbx_hist_record_n(h, 2, INT64_MAX);
  sbx_hist_record_n(h, 3, 2);
  CHECK(sbx_hist_count(h) == UINT64_MAX);
  CHECK_EQ_INT(sbx_hist_to_proto(h, &m), SBX_ERANGE);
  CHECK(m.counts == NULL && m.n_counts == 0);
  /* exactly 2^64-1 still encodes */
  sbx_hist_reset(h);
  sbx_hist_record_n(h, 1, INT64_MAX);
  sbx_hist_record_n(h, 2, INT64_MAX);
  sbx_hist_record_n(h, 3, 1);
  CHECK_EQ_INT(sbx_hist_to_proto(h, &m), 0);
  CHECK(m.total_count == UINT64_MAX);
  sbx_hist_proto_clear(&m);
  sbx_hist_free(h);
}

/* ---- merge -------------------------------------------------------------- */

static void test_merge(void) {
  struct sbx_hist *a = sbx_hist_new(), *b = sbx_hist_new();
  struct sbx_hist *both = sbx_hist_new(), *empty = sbx_hist_new();
  int i;

  CHECK(a && b && both && empty);
  if (!(a && b && both && empty))
    goto out;
  rng_state = 7;
  for (i = 0; i < 50000; i++) {
    int64_t x = draw(EXPONENTIAL), y = draw(LOGUNIFORM);
    sbx_hist_record(a, x);
    sbx_hist_record(both, x);
    sbx_hist_record(b, y);
    sbx_hist_record(both, y);
  }
  sbx_hist_merge(a, b);
  CHECK(hist_equal(a, both));
  CHECK_EQ_INT(sbx_hist_saturated(a), sbx_hist_saturated(both));
  CHECK(sbx_hist_saturated(a) > 0);

  /* empty on either side */
  sbx_hist_merge(a, empty);
  CHECK(hist_equal(a, both));
  sbx_hist_merge(empty, a);
  CHECK(hist_equal(empty, both));

  /* merging into itself doubles every count */
  sbx_hist_reset(a);
  sbx_hist_reset(b);
  sbx_hist_record(a, 5);
  sbx_hist_record(a, 70000);
  sbx_hist_record_n(b, 5, 2);
  sbx_hist_record_n(b, 70000, 2);
  sbx_hist_merge(a, a);
  CHECK(hist_equal(a, b));

  /* min and max come from whichever side holds them */
  sbx_hist_reset(a);
  sbx_hist_reset(b);
  sbx_hist_record(a, 100);
  sbx_hist_record(b, 3);
  sbx_hist_record(b, 900000);
  sbx_hist_merge(a, b);
  CHECK_EQ_INT(sbx_hist_min(a), 3);
  CHECK_EQ_INT(sbx_hist_max(a), 900000);
  CHECK_EQ_INT(sbx_hist_count(a), 3);
out:
  sbx_hist_free(a);
  sbx_hist_free(b);
  sbx_hist_free(both);
  sbx_hist_free(empty);
}

/* ---- wire form ------------------------------------------------------------
 */

static void test_encoding(void) {
  struct sbx_hist *h = sbx_hist_new();
  Sbx__V1__Histogram m = SBX__V1__HISTOGRAM__INIT;

  CHECK(h != NULL);
  if (h == NULL)
    return;
  CHECK_EQ_INT(sbx_hist_to_proto(h, &m), 0); /* empty */
  CHECK_EQ_INT(m.n_counts, 0);
  CHECK_EQ_INT(m.total_count, 0);
  CHECK_EQ_INT(m.lowest_discernible, 1);
  CHECK_EQ_INT(m.highest_trackable, 3600000000LL);
  CHECK_EQ_INT(m.significant_figures, 3);
  CHECK_EQ_STR(m.unit, "us");
  sbx_hist_proto_clear(&m);
  CHECK(m.counts == NULL && m.unit == (char *)protobuf_c_empty_string);

  sbx_hist_record(h, 0);
  sbx_hist_record_n(h, 5, 3);
  CHECK_EQ_INT(sbx_hist_to_proto(h, &m), 0);
  CHECK_EQ_INT(m.n_counts, 3);
  if (m.n_counts == 3) {
    CHECK_EQ_INT(m.counts[0], 1);
    CHECK_EQ_INT(m.counts[1], -4);
    CHECK_EQ_INT(m.counts[2], 3);
  }
  CHECK_EQ_INT(m.total_count, 4);
  CHECK_EQ_INT(m.min, 0);
  CHECK_EQ_INT(m.max, 5);
  sbx_hist_proto_clear(&m);

  sbx_hist_reset(h);
  sbx_hist_record(h, 1);
  sbx_hist_record(h, 2);
  sbx_hist_record(h, 4);
  CHECK_EQ_INT(sbx_hist_to_proto(h, &m), 0);
  CHECK_EQ_INT(m.n_counts, 5); /* -1, 1, 1, -1, 1 */
  if (m.n_counts == 5) {
    CHECK_EQ_INT(m.counts[0], -1);
    CHECK_EQ_INT(m.counts[3], -1);
  }
  sbx_hist_proto_clear(&m);

  /* the top counter is the last entry */
  sbx_hist_reset(h);
  sbx_hist_record(h, INT64_MAX);
  CHECK_EQ_INT(sbx_hist_to_proto(h, &m), 0);
  CHECK_EQ_INT(m.n_counts, 2);
  if (m.n_counts == 2) {
    CHECK_EQ_INT(m.counts[0], -23220);
    CHECK_EQ_INT(m.counts[1], 1);
  }
  sbx_hist_proto_clear(&m);
  sbx_hist_proto_clear(NULL);
  sbx_hist_free(h);
}

/* to_proto -> from_proto, and to_proto -> pack -> unpack -> from_proto. */
static void check_round_trip(const char *name, const struct sbx_hist *h) {
  Sbx__V1__Histogram m = SBX__V1__HISTOGRAM__INIT;
  Sbx__V1__Histogram *u = NULL;
  struct sbx_hist *back = sbx_hist_new();
  struct sbx_diag diag = {{0}};
  uint8_t *buf = NULL;
  size_t len;

  CHECK(back != NULL);
  if (back == NULL)
    return;
  CHECK_EQ_INT(sbx_hist_to_proto(h, &m), 0);
  CHECK_EQ_INT(sbx_hist_from_proto(back, &m, &diag), 0);
  if (diag.msg[0] != '\0')
    fprintf(stderr, "%s: %s\n", name, diag.msg);
  CHECK(hist_equal(h, back));

  len = sbx__v1__histogram__get_packed_size(&m);
  buf = malloc(len > 0 ? len : 1);
  CHECK(buf != NULL);
  if (buf != NULL) {
    CHECK_EQ_INT(sbx__v1__histogram__pack(&m, buf), len);
    u = sbx__v1__histogram__unpack(NULL, len, buf);
    CHECK(u != NULL);
  }
  if (u != NULL) {
    sbx_hist_record(back, 77); /* from_proto must discard this */
    CHECK_EQ_INT(sbx_hist_from_proto(back, u, &diag), 0);
    CHECK(hist_equal(h, back));
    if (!hist_equal(h, back))
      fprintf(stderr, "%s: pack/unpack round trip differs\n", name);
    sbx__v1__histogram__free_unpacked(u, NULL);
  }
  free(buf);
  sbx_hist_proto_clear(&m);
  sbx_hist_free(back);
}

static void test_round_trip(void) {
  struct sbx_hist *h = sbx_hist_new();
  Sbx__V1__Histogram *heap;
  int i;

  CHECK(h != NULL);
  if (h == NULL)
    return;
  check_round_trip("empty", h);
  sbx_hist_record(h, 0);
  check_round_trip("zero", h);
  sbx_hist_reset(h);
  sbx_hist_record(h, SBX_HIST_HIGHEST);
  check_round_trip("highest", h);
  sbx_hist_reset(h);
  rng_state = 99;
  for (i = 0; i < N_RANDOM; i++)
    sbx_hist_record(h, draw(i % 2 ? LOGNORMAL : BIMODAL));
  check_round_trip("lognormal+bimodal", h);
  sbx_hist_reset(h);
  for (i = 0; i < N_RANDOM; i++)
    sbx_hist_record(h, draw(LOGUNIFORM));
  check_round_trip("loguniform", h);

  /* a malloc'd message from to_proto is freed by free_unpacked */
  heap = malloc(sizeof(*heap));
  CHECK(heap != NULL);
  if (heap != NULL) {
    sbx__v1__histogram__init(heap);
    CHECK_EQ_INT(sbx_hist_to_proto(h, heap), 0);
    protobuf_c_message_free_unpacked(&heap->base, NULL);
  }
  sbx_hist_free(h);
}

/* ---- corrupt input ----------------------------------------------------------
 */

static int64_t bad_counts[30000];

/* A valid message: 1 at 0, 3 at 5. Each case starts from it. */
static void valid_message(Sbx__V1__Histogram *m) {
  static int64_t counts[3];
  static char us[] = "us";

  counts[0] = 1;
  counts[1] = -4;
  counts[2] = 3;
  sbx__v1__histogram__init(m);
  m->lowest_discernible = 1;
  m->highest_trackable = 3600000000LL;
  m->significant_figures = 3;
  m->n_counts = 3;
  m->counts = counts;
  m->total_count = 4;
  m->min = 0;
  m->max = 5;
  m->unit = us;
}

/* Decodes m into a histogram that already holds data; it must fail, leave
 * the histogram empty, and say something containing `want`. */
static void check_rejected(int line, const Sbx__V1__Histogram *m,
                           const char *want) {
  struct sbx_hist *h = sbx_hist_new();
  struct sbx_diag diag = {{0}};
  int rc;

  CHECK(h != NULL);
  if (h == NULL)
    return;
  sbx_hist_record(h, 12345);
  rc = sbx_hist_from_proto(h, m, &diag);
  if (rc != SBX_EINVAL || strstr(diag.msg, want) == NULL)
    fprintf(stderr,
            "case at line %d: rc %d, message \"%s\", expected "
            "\"%s\"\n",
            line, rc, diag.msg, want);
  CHECK_EQ_INT(rc, SBX_EINVAL);
  CHECK(strstr(diag.msg, want) != NULL);
  CHECK_EQ_INT(sbx_hist_count(h), 0);
  CHECK_EQ_INT(sbx_hist_max(h), 0);
  CHECK_EQ_INT(sbx_hist_percentile(h, 50), 0);
  CHECK_EQ_INT(sbx_hist_from_proto(h, m, NULL), SBX_EINVAL); /* NULL diag */
  sbx_hist_free(h);
}

static void test_corrupt(void) {
  struct sbx_hist *h = sbx_hist_new();
  struct sbx_diag diag = {{0}};
  Sbx__V1__Histogram m;
  static char ms[] = "ms", empty[] = "";
  size_t i;

  CHECK(h != NULL);
  if (h == NULL)
    return;
  valid_message(&m);
  CHECK_EQ_INT(sbx_hist_from_proto(h, &m, &diag), 0);
  CHECK_EQ_INT(sbx_hist_percentile(h, 100), 5);

  check_rejected(__LINE__, NULL, "histogram: no message to decode");

  /* wrong configuration, with the exact message */
  valid_message(&m);
  m.significant_figures = 2;
  CHECK_EQ_INT(sbx_hist_from_proto(h, &m, &diag), SBX_EINVAL);
  CHECK_EQ_STR(diag.msg,
               "histogram: layout lowest_discernible=1 "
               "highest_trackable=3600000000 significant_figures=2 is not "
               "the supported 1/3600000000/3; re-encode it with the "
               "sandbox's 1 us..1 h, 3-digit layout");
  check_rejected(__LINE__, &m, "significant_figures=2");
  valid_message(&m);
  m.lowest_discernible = 1000;
  check_rejected(__LINE__, &m, "lowest_discernible=1000");
  valid_message(&m);
  m.highest_trackable = 3600000001LL;
  check_rejected(__LINE__, &m, "highest_trackable=3600000001");
  valid_message(&m);
  m.unit = ms;
  check_rejected(__LINE__, &m, "histogram.unit: \"ms\" is not supported");
  m.unit = empty;
  check_rejected(__LINE__, &m, "histogram.unit: \"\" is not supported");

  /* entry 0 is not a valid run */
  valid_message(&m);
  m.counts[1] = 0;
  CHECK_EQ_INT(sbx_hist_from_proto(h, &m, &diag), SBX_EINVAL);
  CHECK_EQ_STR(diag.msg, "histogram.counts[1]: entry 0 is not allowed; one "
                         "empty counter is written as the run -1");

  /* index overflow through huge runs */
  valid_message(&m);
  m.counts[1] = -INT64_MAX;
  check_rejected(__LINE__, &m,
                 "histogram.counts[1]: run of "
                 "9223372036854775807 empty counters from "
                 "index 1 goes past the last trackable "
                 "counter 23220");
  valid_message(&m);
  m.counts[1] = INT64_MIN;
  check_rejected(__LINE__, &m, "run of 9223372036854775808 empty counters");
  valid_message(&m);
  m.counts[0] = -23221; /* reaches the end exactly: a count after it cannot */
  m.counts[1] = 1;
  m.n_counts = 2;
  m.total_count = 1;
  m.min = m.max = SBX_HIST_HIGHEST;
  check_rejected(__LINE__, &m,
                 "histogram.counts[1]: count at index 23221 is past the last "
                 "trackable counter 23220");
  m.counts[0] = -23220; /* the top counter itself is fine */
  CHECK_EQ_INT(sbx_hist_from_proto(h, &m, &diag), 0);
  CHECK_EQ_INT(sbx_hist_max(h), SBX_HIST_HIGHEST);
  for (i = 0; i < sizeof(bad_counts) / sizeof(bad_counts[0]); i++)
    bad_counts[i] = 1;
  valid_message(&m);
  m.counts = bad_counts; /* more counters than the layout has */
  m.n_counts = sizeof(bad_counts) / sizeof(bad_counts[0]);
  m.total_count = m.n_counts;
  check_rejected(__LINE__, &m, "histogram.counts[23221]: count at index 23221");

  /* counts and total_count disagree */
  valid_message(&m);
  m.total_count = 5;
  CHECK_EQ_INT(sbx_hist_from_proto(h, &m, &diag), SBX_EINVAL);
  CHECK_EQ_STR(diag.msg, "histogram.total_count: 5, but the counts add up to "
                         "4; the histogram is corrupt or truncated");
  m.total_count = 3;
  check_rejected(__LINE__, &m, "histogram.total_count: 3, but");
  valid_message(&m);
  m.n_counts = 2; /* truncated */
  check_rejected(__LINE__, &m, "add up to 1");
  m.n_counts = 1;
  m.counts = NULL;
  check_rejected(__LINE__, &m, "histogram.counts: 1 entries announced");

  /* sum overflow; 2^64-1 exactly is still representable */
  valid_message(&m);
  bad_counts[0] = INT64_MAX;
  bad_counts[1] = INT64_MAX;
  bad_counts[2] = 2;
  m.counts = bad_counts;
  m.total_count = UINT64_MAX;
  m.min = 0;
  m.max = 2;
  check_rejected(__LINE__, &m,
                 "histogram.counts[2]: the counts add up to "
                 "more than 2^64-1");
  bad_counts[2] = 1;
  CHECK_EQ_INT(sbx_hist_from_proto(h, &m, &diag), 0);
  CHECK(sbx_hist_count(h) == UINT64_MAX);
  CHECK_EQ_INT(sbx_hist_percentile(h, 100), 2);

  /* min and max must agree with the counters */
  valid_message(&m);
  m.min = 6;
  check_rejected(__LINE__, &m, "histogram.min: 6 is greater than max 5");
  valid_message(&m);
  m.min = 1;
  check_rejected(__LINE__, &m,
                 "histogram.min: 1 us belongs to counter 1, "
                 "but the first non-empty counter is 0");
  valid_message(&m);
  m.max = 4;
  check_rejected(__LINE__, &m,
                 "histogram.max: 4 us belongs to counter 4, "
                 "but the last non-empty counter is 5");
  valid_message(&m);
  m.min = -1;
  check_rejected(__LINE__, &m, "histogram.min: -1 is outside 0..3600000000");
  valid_message(&m);
  m.max = SBX_HIST_HIGHEST + 1;
  check_rejected(__LINE__, &m, "histogram.max: 3600000001 is outside");
  valid_message(&m);
  m.n_counts = 0;
  m.total_count = 0;
  check_rejected(__LINE__, &m,
                 "histogram: empty (total_count 0) but min 0 "
                 "and max 5");
  m.max = 0;
  CHECK_EQ_INT(sbx_hist_from_proto(h, &m, &diag), 0);
  CHECK_EQ_INT(sbx_hist_count(h), 0);
  sbx_hist_free(h);
}

int main(void) {
  test_exact_small();
  test_edges();
  test_counter_saturation();
  test_rank_exact();
  test_random_distributions();
  test_merge();
  test_encoding();
  test_round_trip();
  test_corrupt();
  return TEST_RESULT();
}
