/* leaderboard.c - see leaderboard.h for the ranking rules.
 *
 * Two sorts: the considered results by (product, best first), so that each
 * product's results are contiguous and its best leads them; then the
 * products by their best. qsort has no context argument in C11, so every
 * sorted element carries the score direction itself.
 */
#include "leaderboard.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

struct item {
  const Sbx__V1__ResultSummary *s;
  int hib;
};

struct group {
  const Sbx__V1__ResultSummary *best;
  int hib;
  uint32_t runs;
  double lo, hi; /* over the results with the best's verdict; NaN: none */
};

static const char *product_of(const Sbx__V1__ResultSummary *s) {
  return s->product != NULL ? s->product : "";
}

static int considered(const Sbx__V1__ResultSummary *s) {
  return s->verdict == SBX__V1__VERDICT__VERDICT_PASS ||
         s->verdict == SBX__V1__VERDICT__VERDICT_FAIL;
}

/* <0 when score a is better than b. NaN is worse than any number. */
static int cmp_score(double a, double b, int hib) {
  if (isnan(a) || isnan(b))
    return isnan(a) - isnan(b);
  if (a == b)
    return 0;
  if (hib)
    return a > b ? -1 : 1;
  return a < b ? -1 : 1;
}

/* <0 when a is the better result: PASS first, better score, newer. */
static int cmp_result(const Sbx__V1__ResultSummary *a,
                      const Sbx__V1__ResultSummary *b, int hib) {
  int c;

  if (a->verdict != b->verdict)
    return a->verdict == SBX__V1__VERDICT__VERDICT_PASS ? -1 : 1;
  if ((c = cmp_score(a->score, b->score, hib)) != 0)
    return c;
  if (a->ended_unix_ms != b->ended_unix_ms)
    return a->ended_unix_ms > b->ended_unix_ms ? -1 : 1;
  if (a->run_id != b->run_id)
    return a->run_id > b->run_id ? -1 : 1;
  return 0;
}

static int cmp_items(const void *x, const void *y) {
  const struct item *a = x, *b = y;
  int c = strcmp(product_of(a->s), product_of(b->s));

  return c != 0 ? c : cmp_result(a->s, b->s, a->hib);
}

static int cmp_groups(const void *x, const void *y) {
  const struct group *a = x, *b = y;
  int c = cmp_result(a->best, b->best, a->hib);

  return c != 0 ? c : strcmp(product_of(a->best), product_of(b->best));
}

static int ranges_overlap(const struct group *a, const struct group *b) {
  return !isnan(a->lo) && !isnan(b->lo) && a->lo <= b->hi && b->lo <= a->hi;
}

static int scores_close(double x, double y) {
  if (isnan(x) || isnan(y))
    return isnan(x) && isnan(y); /* neither can be told from the other */
  if (x == y)
    return 1;
  return fabs(x - y) < SBX_LEADERBOARD_TIE_RELATIVE * fmax(fabs(x), fabs(y));
}

static int tied(const struct group *a, const struct group *b) {
  return a->best->verdict == b->best->verdict &&
         (ranges_overlap(a, b) || scores_close(a->best->score, b->best->score));
}

static Sbx__V1__ResultSummary *summary_copy(const Sbx__V1__ResultSummary *s) {
  size_t len = sbx__v1__result_summary__get_packed_size(s);
  uint8_t *buf = malloc(len > 0 ? len : 1);
  Sbx__V1__ResultSummary *c;

  if (buf == NULL)
    return NULL;
  sbx__v1__result_summary__pack(s, buf);
  c = sbx__v1__result_summary__unpack(NULL, len, buf);
  free(buf);
  return c;
}

int sbx_leaderboard_build(Sbx__V1__ResultSummary *const *results, size_t n,
                          int higher_is_better,
                          Sbx__V1__GetLeaderboardResponse *out) {
  struct item *items = NULL;
  struct group *groups = NULL;
  Sbx__V1__LeaderboardEntry **entries = NULL;
  size_t ni = 0, ng = 0, i, j;
  int hib = higher_is_better != 0;
  int rc = SBX_EINVAL;

  if (out == NULL || out->n_entries != 0 || (n > 0 && results == NULL))
    return SBX_EINVAL;
  for (i = 0; i < n; i++) {
    if (results[i] == NULL)
      return SBX_EINVAL;
  }
  out->entries = NULL;
  out->higher_is_better = hib;
  if (n == 0)
    return 0;

  rc = SBX_ENOMEM;
  items = malloc(n * sizeof(*items));
  groups = malloc(n * sizeof(*groups));
  if (items == NULL || groups == NULL)
    goto out;
  for (i = 0; i < n; i++) {
    if (considered(results[i]))
      items[ni++] = (struct item){.s = results[i], .hib = hib};
  }
  if (ni == 0) {
    rc = 0;
    goto out;
  }
  qsort(items, ni, sizeof(*items), cmp_items);

  for (i = 0; i < ni; i = j) {
    struct group *g = &groups[ng++];
    *g = (struct group){.best = items[i].s, .hib = hib, .lo = NAN, .hi = NAN};
    for (j = i;
         j < ni && strcmp(product_of(items[j].s), product_of(items[i].s)) == 0;
         j++) {
      double sc = items[j].s->score;
      g->runs++;
      if (items[j].s->verdict != g->best->verdict || isnan(sc))
        continue;
      if (isnan(g->lo) || sc < g->lo)
        g->lo = sc;
      if (isnan(g->hi) || sc > g->hi)
        g->hi = sc;
    }
  }
  qsort(groups, ng, sizeof(*groups), cmp_groups);

  entries = calloc(ng, sizeof(*entries));
  if (entries == NULL)
    goto out;
  for (i = 0; i < ng; i++) {
    Sbx__V1__LeaderboardEntry *e = malloc(sizeof(*e));
    if (e == NULL)
      goto out;
    sbx__v1__leaderboard_entry__init(e);
    entries[i] = e;
    e->product = strdup(product_of(groups[i].best));
    if (e->product == NULL) {
      e->product = (char *)protobuf_c_empty_string;
      goto out;
    }
    if ((e->best = summary_copy(groups[i].best)) == NULL)
      goto out;
    e->runs = groups[i].runs;
    e->score_low = groups[i].lo;
    e->score_high = groups[i].hi;
    if (i > 0 && tied(&groups[i - 1], &groups[i])) {
      e->rank = entries[i - 1]->rank;
      e->tied = entries[i - 1]->tied = 1;
    } else {
      e->rank = i + 1 > UINT32_MAX ? UINT32_MAX : (uint32_t)(i + 1);
    }
  }
  out->entries = entries;
  out->n_entries = ng;
  entries = NULL;
  rc = 0;

out:
  if (entries != NULL) {
    for (i = 0; i < ng; i++) {
      if (entries[i] != NULL)
        sbx__v1__leaderboard_entry__free_unpacked(entries[i], NULL);
    }
    free(entries);
  }
  free(items);
  free(groups);
  return rc;
}
