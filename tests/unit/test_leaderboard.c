/* test_leaderboard.c - ranking: order in both directions, a product's best
 * among several runs, INVALID and ERROR left out, ties by overlapping
 * ranges and by the 1% noise floor (chained between neighbours), deep
 * copies, bad arguments. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "leaderboard.h"
#include "testlib.h"

#define PASS SBX__V1__VERDICT__VERDICT_PASS
#define FAIL SBX__V1__VERDICT__VERDICT_FAIL
#define INVALID SBX__V1__VERDICT__VERDICT_INVALID
#define ERROR SBX__V1__VERDICT__VERDICT_ERROR

struct in {
  const char *product;
  Sbx__V1__Verdict verdict;
  double score;
  int64_t ended;
};

struct board {
  Sbx__V1__ResultSummary **rs;
  size_t n;
  Sbx__V1__GetLeaderboardResponse *out;
};

/* Builds heap summaries from ins (run ids 1, 2, ...) and ranks them. The
 * summaries are freed before the entries are checked, so a shallow copy
 * would show up under ASan. */
static int rank(const struct in *ins, size_t n, int hib, struct board *b) {
  size_t i;
  int rc;

  b->rs = calloc(n > 0 ? n : 1, sizeof(*b->rs));
  b->n = n;
  for (i = 0; i < n; i++) {
    Sbx__V1__ResultSummary *s = malloc(sizeof(*s));
    sbx__v1__result_summary__init(s);
    s->run_id = i + 1;
    s->scenario = strdup("fraud-check@1.0.0");
    s->product = strdup(ins[i].product);
    s->verdict = ins[i].verdict;
    s->score = ins[i].score;
    s->ended_unix_ms = ins[i].ended;
    s->p99_us = 1000 + (int64_t)i;
    s->published = 1;
    b->rs[i] = s;
  }
  b->out = malloc(sizeof(*b->out));
  sbx__v1__get_leaderboard_response__init(b->out);
  rc = sbx_leaderboard_build(b->rs, n, hib, b->out);
  for (i = 0; i < n; i++)
    sbx__v1__result_summary__free_unpacked(b->rs[i], NULL);
  free(b->rs);
  b->rs = NULL;
  return rc;
}

static void board_free(struct board *b) {
  sbx__v1__get_leaderboard_response__free_unpacked(b->out, NULL);
  b->out = NULL;
}

/* Checks entry i: product, rank, tied, runs, best run id. */
static void expect(const struct board *b, size_t i, const char *product,
                   uint32_t rnk, int tied, uint32_t runs, uint64_t best_run) {
  const Sbx__V1__LeaderboardEntry *e;

  CHECK(i < b->out->n_entries);
  if (i >= b->out->n_entries)
    return;
  e = b->out->entries[i];
  if (strcmp(e->product, product) != 0 || e->rank != rnk ||
      (e->tied != 0) != (tied != 0) || e->runs != runs || e->best == NULL ||
      e->best->run_id != best_run)
    fprintf(stderr,
            "entry %zu: got %s rank %u tied %d runs %u best run %llu; "
            "expected %s rank %u tied %d runs %u best run %llu\n",
            i, e->product, e->rank, e->tied, e->runs,
            e->best ? (unsigned long long)e->best->run_id : 0ull, product, rnk,
            tied, runs, (unsigned long long)best_run);
  CHECK_EQ_STR(e->product, product);
  CHECK_EQ_INT(e->rank, rnk);
  CHECK_EQ_INT(e->tied != 0, tied != 0);
  CHECK_EQ_INT(e->runs, runs);
  CHECK(e->best != NULL);
  if (e->best != NULL) {
    CHECK_EQ_INT(e->best->run_id, best_run);
    CHECK_EQ_STR(e->best->product, product);
    CHECK_EQ_STR(e->best->scenario, "fraud-check@1.0.0");
    CHECK(e->best->published);
  }
}

static void test_empty(void) {
  Sbx__V1__GetLeaderboardResponse out = SBX__V1__GET_LEADERBOARD_RESPONSE__INIT;
  struct board b;
  static const struct in only_bad[] = {
      {"a/x@1", INVALID, 10, 1},
      {"b/y@1", ERROR, 0, 2},
  };

  CHECK_EQ_INT(sbx_leaderboard_build(NULL, 0, 1, &out), 0);
  CHECK_EQ_INT(out.n_entries, 0);
  CHECK(out.entries == NULL);
  CHECK(out.higher_is_better);
  CHECK_EQ_INT(rank(only_bad, 2, 1, &b), 0);
  CHECK_EQ_INT(b.out->n_entries, 0);
  board_free(&b);
}

static const struct in four[] = {
    {"acme/a@1", PASS, 100, 10},
    {"beta/b@1", PASS, 200, 11},
    {"core/c@1", FAIL, 500, 12},
    {"dyna/d@1", PASS, 50, 13},
};

static void test_order_higher(void) {
  struct board b;

  CHECK_EQ_INT(rank(four, 4, 1, &b), 0);
  CHECK_EQ_INT(b.out->n_entries, 4);
  CHECK(b.out->higher_is_better);
  expect(&b, 0, "beta/b@1", 1, 0, 1, 2);
  expect(&b, 1, "acme/a@1", 2, 0, 1, 1);
  expect(&b, 2, "dyna/d@1", 3, 0, 1, 4);
  /* A failing product ranks after every passing one, whatever its score. */
  expect(&b, 3, "core/c@1", 4, 0, 1, 3);
  board_free(&b);
}

static void test_order_lower(void) {
  struct board b;

  CHECK_EQ_INT(rank(four, 4, 0, &b), 0);
  CHECK(!b.out->higher_is_better);
  expect(&b, 0, "dyna/d@1", 1, 0, 1, 4);
  expect(&b, 1, "acme/a@1", 2, 0, 1, 1);
  expect(&b, 2, "beta/b@1", 3, 0, 1, 2);
  expect(&b, 3, "core/c@1", 4, 0, 1, 3);
  board_free(&b);
}

static void test_multiple_runs(void) {
  static const struct in ins[] = {
      {"p1/x@1", PASS, 100, 1},    /* run 1 */
      {"p1/x@1", PASS, 120, 2},    /* run 2 */
      {"p1/x@1", FAIL, 300, 3},    /* run 3: counted, not in the range */
      {"p1/x@1", INVALID, 999, 4}, /* never counted */
      {"p1/x@1", ERROR, 0, 5},
      {"p2/y@1", FAIL, 500, 6}, /* run 6 */
      {"p2/y@1", FAIL, 400, 7}, /* run 7 */
      {"p2/y@1", INVALID, 1e9, 8},
      {"p3/z@1", INVALID, 1e9, 9}, /* only INVALID and ERROR: no entry */
      {"p3/z@1", ERROR, 1e9, 10},
  };
  struct board b;

  CHECK_EQ_INT(rank(ins, 10, 1, &b), 0);
  CHECK_EQ_INT(b.out->n_entries, 2);
  expect(&b, 0, "p1/x@1", 1, 0, 3, 2);
  expect(&b, 1, "p2/y@1", 2, 0, 2, 6);
  if (b.out->n_entries == 2) {
    CHECK(b.out->entries[0]->score_low == 100);
    CHECK(b.out->entries[0]->score_high == 120);
    CHECK(b.out->entries[1]->score_low == 400);
    CHECK(b.out->entries[1]->score_high == 500);
  }
  board_free(&b);

  CHECK_EQ_INT(rank(ins, 10, 0, &b), 0);
  CHECK_EQ_INT(b.out->n_entries, 2);
  expect(&b, 0, "p1/x@1", 1, 0, 3, 1);
  expect(&b, 1, "p2/y@1", 2, 0, 2, 7);
  if (b.out->n_entries == 2) {
    CHECK(b.out->entries[0]->score_low == 100);
    CHECK(b.out->entries[0]->score_high == 120);
  }
  board_free(&b);
}

static void test_newer_wins(void) {
  static const struct in ins[] = {
      {"p/x@1", PASS, 100, 50}, /* run 1 */
      {"p/x@1", PASS, 100, 90}, /* run 2: same score, newer */
      {"p/x@1", PASS, 100, 70}, {"q/y@1", PASS, 100, 5}, /* run 4 */
      {"q/y@1", PASS, 100, 5}, /* run 5: same time too, higher run id */
  };
  struct board b;

  CHECK_EQ_INT(rank(ins, 5, 1, &b), 0);
  CHECK_EQ_INT(b.out->n_entries, 2);
  /* Equal scores tie; the newer best comes first. */
  expect(&b, 0, "p/x@1", 1, 1, 3, 2);
  expect(&b, 1, "q/y@1", 1, 1, 2, 5);
  board_free(&b);
}

static void test_tie_overlap(void) {
  static const struct in ins[] = {
      {"a/x@1", PASS, 100, 1}, {"a/x@1", PASS, 110, 2}, /* [100, 110] */
      {"b/y@1", PASS, 105, 3}, {"b/y@1", PASS, 90, 4},  /* [90, 105] */
      {"c/z@1", PASS, 50, 5},  {"c/z@1", PASS, 52, 6},  /* [50, 52] */
  };
  struct board b;

  /* 110 and 105 differ by 4.5%, but the ranges overlap. */
  CHECK_EQ_INT(rank(ins, 6, 1, &b), 0);
  CHECK_EQ_INT(b.out->n_entries, 3);
  expect(&b, 0, "a/x@1", 1, 1, 2, 2);
  expect(&b, 1, "b/y@1", 1, 1, 2, 3);
  expect(&b, 2, "c/z@1", 3, 0, 2, 6);
  board_free(&b);

  /* Lower is better: c (50) first, then b (90) and a (100) overlap. */
  CHECK_EQ_INT(rank(ins, 6, 0, &b), 0);
  expect(&b, 0, "c/z@1", 1, 0, 2, 5);
  expect(&b, 1, "b/y@1", 2, 1, 2, 4);
  expect(&b, 2, "a/x@1", 2, 1, 2, 1);
  board_free(&b);
}

static void test_tie_relative(void) {
  static const struct in ins[] = {
      {"a/x@1", PASS, 1000, 1},
      {"b/y@1", PASS, 995, 2}, /* 0.5% below a: tied */
      {"c/z@1", PASS, 980, 3}, /* 1.5% below b: not tied */
      {"d/w@1", PASS, 971, 4}, /* 0.9% below c: tied */
      {"e/v@1", PASS, 960, 5}, /* 1.1% below d: not tied */
  };
  struct board b;

  CHECK_EQ_INT(rank(ins, 5, 1, &b), 0);
  CHECK_EQ_INT(b.out->n_entries, 5);
  expect(&b, 0, "a/x@1", 1, 1, 1, 1);
  expect(&b, 1, "b/y@1", 1, 1, 1, 2);
  expect(&b, 2, "c/z@1", 3, 1, 1, 3);
  expect(&b, 3, "d/w@1", 3, 1, 1, 4);
  expect(&b, 4, "e/v@1", 5, 0, 1, 5);
  board_free(&b);

  /* Negative and zero scores: relative to the larger magnitude. */
  {
    static const struct in neg[] = {
        {"a/x@1", PASS, -1000, 1},
        {"b/y@1", PASS, -1005, 2},
        {"c/z@1", PASS, 0, 3},
        {"d/w@1", PASS, 0, 4},
    };
    CHECK_EQ_INT(rank(neg, 4, 1, &b), 0);
    /* Equal scores: the newer first. */
    expect(&b, 0, "d/w@1", 1, 1, 1, 4);
    expect(&b, 1, "c/z@1", 1, 1, 1, 3);
    expect(&b, 2, "a/x@1", 3, 1, 1, 1);
    expect(&b, 3, "b/y@1", 3, 1, 1, 2);
    board_free(&b);
  }
}

static void test_tie_chain(void) {
  static const struct in ins[] = {
      {"a/x@1", PASS, 1000, 1},
      {"b/y@1", PASS, 993, 2}, /* 0.7% below a */
      {"c/z@1", PASS, 986, 3}, /* 0.7% below b, 1.4% below a */
      {"d/w@1", PASS, 900, 4},
  };
  struct board b;

  /* a and c alone would not tie, but the chain through b joins them. */
  CHECK_EQ_INT(rank(ins, 4, 1, &b), 0);
  expect(&b, 0, "a/x@1", 1, 1, 1, 1);
  expect(&b, 1, "b/y@1", 1, 1, 1, 2);
  expect(&b, 2, "c/z@1", 1, 1, 1, 3);
  expect(&b, 3, "d/w@1", 4, 0, 1, 4);
  board_free(&b);
}

static void test_verdicts_never_tie(void) {
  static const struct in ins[] = {
      {"a/x@1", FAIL, 100, 1},
      {"b/y@1", PASS, 100, 2},
      {"c/z@1", FAIL, 100.5, 3},
  };
  struct board b;

  CHECK_EQ_INT(rank(ins, 3, 1, &b), 0);
  expect(&b, 0, "b/y@1", 1, 0, 1, 2);
  /* The two failing products tie with each other (0.5%), not with b. */
  expect(&b, 1, "c/z@1", 2, 1, 1, 3);
  expect(&b, 2, "a/x@1", 2, 1, 1, 1);
  board_free(&b);
}

static void test_nan(void) {
  static const struct in ins[] = {
      {"a/x@1", PASS, NAN, 1},
      {"b/y@1", PASS, 5, 2},
      {"b/y@1", PASS, NAN, 3},
  };
  struct board b;

  CHECK_EQ_INT(rank(ins, 3, 1, &b), 0);
  CHECK_EQ_INT(b.out->n_entries, 2);
  expect(&b, 0, "b/y@1", 1, 0, 2, 2);
  expect(&b, 1, "a/x@1", 2, 0, 1, 1);
  if (b.out->n_entries == 2) {
    CHECK(b.out->entries[0]->score_low == 5);
    CHECK(b.out->entries[0]->score_high == 5);
    CHECK(isnan(b.out->entries[1]->score_low));
  }
  board_free(&b);
  CHECK_EQ_INT(rank(ins, 3, 0, &b), 0);
  expect(&b, 0, "b/y@1", 1, 0, 2, 2);
  expect(&b, 1, "a/x@1", 2, 0, 1, 1);
  board_free(&b);
}

static void test_bad_arguments(void) {
  Sbx__V1__GetLeaderboardResponse out = SBX__V1__GET_LEADERBOARD_RESPONSE__INIT;
  Sbx__V1__ResultSummary s = SBX__V1__RESULT_SUMMARY__INIT;
  Sbx__V1__ResultSummary *with_null[] = {&s, NULL};
  Sbx__V1__LeaderboardEntry e = SBX__V1__LEADERBOARD_ENTRY__INIT, *ep = &e;

  s.verdict = PASS;
  s.product = "a/x@1";
  CHECK_EQ_INT(sbx_leaderboard_build(with_null, 1, 1, NULL), SBX_EINVAL);
  CHECK_EQ_INT(sbx_leaderboard_build(with_null, 2, 1, &out), SBX_EINVAL);
  CHECK_EQ_INT(sbx_leaderboard_build(NULL, 2, 1, &out), SBX_EINVAL);
  CHECK(out.entries == NULL && out.n_entries == 0);
  out.entries = &ep;
  out.n_entries = 1;
  CHECK_EQ_INT(sbx_leaderboard_build(with_null, 1, 1, &out), SBX_EINVAL);
  CHECK(out.entries == &ep);

  /* A stack response, freed entry by entry. */
  out.entries = NULL;
  out.n_entries = 0;
  CHECK_EQ_INT(sbx_leaderboard_build(with_null, 1, 1, &out), 0);
  CHECK_EQ_INT(out.n_entries, 1);
  if (out.n_entries == 1) {
    CHECK(out.entries[0]->best != &s);
    CHECK(out.entries[0]->product != s.product);
    sbx__v1__leaderboard_entry__free_unpacked(out.entries[0], NULL);
    free(out.entries);
  }
}

int main(void) {
  test_empty();
  test_order_higher();
  test_order_lower();
  test_multiple_runs();
  test_newer_wins();
  test_tie_overlap();
  test_tie_relative();
  test_tie_chain();
  test_verdicts_never_tie();
  test_nan();
  test_bad_arguments();
  return TEST_RESULT();
}
