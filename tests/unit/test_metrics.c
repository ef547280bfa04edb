/* test_metrics.c - the Prometheus registry and its text rendering.
 *
 * Exact text for counters, gauges and a histogram with labels; label and
 * HELP escaping; byte-identical renders whatever the order of updates or of
 * labels in a call; number formatting; every rejection the header promises
 * (names, types, labels, values, limits); the process_* families present
 * with plausible values. Every render is also run through a line-by-line
 * syntax checker of the 0.0.4 text format (HELP/TYPE/sample regexes, TYPE
 * before samples, each family once), not only compared as a string.
 */
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "metrics.h"
#include "testlib.h"

/* ---- syntax checker ------------------------------------------------------ */

#define NAME_RE "[a-zA-Z_:][a-zA-Z0-9_:]*"
#define LNAME_RE "[a-zA-Z_][a-zA-Z0-9_]*"
#define LVALUE_RE "\"([^\"\\\\]|\\\\[\\\\\"n])*\""
#define LABEL_RE LNAME_RE "=" LVALUE_RE
#define VALUE_RE                                                               \
  "(NaN|[+-]Inf|[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?)"

static const char help_pat[] =
    "^# HELP (" NAME_RE ")( ([^\\\\]|\\\\[\\\\n])*)?$";
static const char type_pat[] =
    "^# TYPE (" NAME_RE ") (counter|gauge|histogram|summary|untyped)$";
static const char sample_pat[] =
    "^(" NAME_RE ")(\\{(" LABEL_RE "(," LABEL_RE ")*)?\\})? " VALUE_RE "$";

struct fam_seen {
  char name[128];
  char type[16];
};

static int match_name(const char *line, const regmatch_t *g, char *out,
                      size_t cap) {
  size_t n = (size_t)(g->rm_eo - g->rm_so);
  if (g->rm_so < 0 || n >= cap)
    return -1;
  memcpy(out, line + g->rm_so, n);
  out[n] = '\0';
  return 0;
}

/* Whether sample name s belongs to family f of type t. */
static int sample_of(const char *s, const char *f, const char *t) {
  size_t fl = strlen(f);
  if (strcmp(s, f) == 0)
    return strcmp(t, "histogram") != 0;
  if (strncmp(s, f, fl) != 0 || strcmp(t, "histogram") != 0)
    return 0;
  return strcmp(s + fl, "_bucket") == 0 || strcmp(s + fl, "_sum") == 0 ||
         strcmp(s + fl, "_count") == 0;
}

static int checker_quiet; /* the checker's self-test expects errors */

#define REPORT(...)                                                            \
  do {                                                                         \
    if (!checker_quiet)                                                        \
      fprintf(stderr, __VA_ARGS__);                                            \
  } while (0)

/* Returns the number of syntax errors in text (printing each). */
static int check_syntax(const char *text, size_t len) {
  regex_t help, type, sample;
  struct fam_seen seen[256];
  size_t nseen = 0, i;
  char cur[128] = "", cur_help[128] = "";
  char curtype[16] = "";
  const char *p = text, *end = text + len;
  int errors = 0, lineno = 0;

  CHECK(regcomp(&help, help_pat, REG_EXTENDED) == 0);
  CHECK(regcomp(&type, type_pat, REG_EXTENDED) == 0);
  CHECK(regcomp(&sample, sample_pat, REG_EXTENDED) == 0);
  if (strlen(text) != len) {
    REPORT("render: NUL inside the text\n");
    errors++;
  }
  if (len == 0 || text[len - 1] != '\n') {
    REPORT("render: does not end in a newline\n");
    errors++;
  }
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    char line[4096], name[128];
    regmatch_t g[4];
    size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
    lineno++;
    if (n >= sizeof(line)) {
      REPORT("line %d: too long for the checker\n", lineno);
      errors++;
      break;
    }
    memcpy(line, p, n);
    line[n] = '\0';
    p += n + 1;
    if (regexec(&help, line, 4, g, 0) == 0) {
      if (match_name(line, &g[1], cur_help, sizeof(cur_help)) != 0)
        errors++;
      continue;
    }
    if (regexec(&type, line, 4, g, 0) == 0) {
      if (match_name(line, &g[1], name, sizeof(name)) != 0 ||
          match_name(line, &g[2], curtype, sizeof(curtype)) != 0) {
        errors++;
        continue;
      }
      if (strcmp(name, cur_help) != 0) {
        REPORT("line %d: TYPE %s not right after its HELP\n", lineno, name);
        errors++;
      }
      for (i = 0; i < nseen; i++) {
        if (strcmp(seen[i].name, name) == 0) {
          REPORT("line %d: family %s declared twice\n", lineno, name);
          errors++;
        }
      }
      if (nseen < sizeof(seen) / sizeof(seen[0])) {
        snprintf(seen[nseen].name, sizeof(seen[nseen].name), "%s", name);
        snprintf(seen[nseen].type, sizeof(seen[nseen].type), "%s", curtype);
        nseen++;
      }
      snprintf(cur, sizeof(cur), "%s", name);
      continue;
    }
    if (regexec(&sample, line, 4, g, 0) == 0) {
      if (match_name(line, &g[1], name, sizeof(name)) != 0 ||
          !sample_of(name, cur, curtype)) {
        REPORT("line %d: sample %s outside its family (%s)\n", lineno, name,
               cur);
        errors++;
      }
      continue;
    }
    REPORT("line %d: not valid exposition text: %s\n", lineno, line);
    errors++;
  }
  regfree(&help);
  regfree(&type);
  regfree(&sample);
  return errors;
}

/* The checker must itself reject what it should. */
static void test_checker(void) {
  static const char *const bad[] = {
      "x 1\n",                   /* sample without TYPE */
      "# TYPE x counter\nx 1\n", /* TYPE without HELP */
      "# HELP x h\n# TYPE x counter\nx{a=\"b} 1\n",
      "# HELP x h\n# TYPE x counter\nx{a=\"\\q\"} 1\n",
      "# HELP x h\n# TYPE x counter\nx 1e\n",
      "# HELP x h\n# TYPE x counter\nx 1",   /* no final newline */
      "# HELP x h\n# TYPE x counter\ny 1\n", /* other family */
      "# HELP x h\n# TYPE x counter\n# HELP x h\n# TYPE x counter\n",
      "# HELP x h\n# TYPE x counter\nx  1\n",
      "# HELP 1x h\n# TYPE 1x counter\n",
  };
  size_t i;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    checker_quiet = 1;
    if (check_syntax(bad[i], strlen(bad[i])) == 0) {
      fprintf(stderr, "checker accepted bad text %zu:\n%s", i, bad[i]);
      test_failures++;
    }
    checker_quiet = 0;
  }
  {
    static const char good[] =
        "# HELP x a \\\\ b \\n c\n# TYPE x gauge\n"
        "x{a=\"q\\\"\\\\\\n\",b=\"\"} -1.5e-07\nx +Inf\n";
    CHECK(check_syntax(good, strlen(good)) == 0);
  }
}

/* ---- helpers ------------------------------------------------------------- */

/* Renders m, checks the syntax, and returns the text up to the first
 * process_* family (the part the test controls); caller frees. */
static char *render_user(struct sbx_metrics *m) {
  size_t len = 0;
  char *text = sbx_metrics_render(m, &len);
  char *proc;
  CHECK(text != NULL);
  if (text == NULL)
    return NULL;
  CHECK_EQ_INT(len, strlen(text));
  CHECK_EQ_INT(check_syntax(text, len), 0);
  proc = strstr(text, "# HELP process_");
  CHECK(proc != NULL);
  if (proc != NULL)
    *proc = '\0';
  return text;
}

/* ---- tests --------------------------------------------------------------- */

static void test_counters_gauges(void) {
  struct sbx_metrics *m = NULL;
  char *text;

  CHECK_EQ_INT(sbx_metrics_new(&m), 0);
  CHECK_EQ_INT(sbx_metrics_declare(m, "sbx_api_requests_total", "counter",
                                   "API requests by method and code."),
               0);
  CHECK_EQ_INT(sbx_metrics_declare(m, "sbx_runs_in_progress", "gauge",
                                   "Runs that are not finished."),
               0);
  CHECK_EQ_INT(sbx_metrics_declare(m, "sbx_empty", "gauge", NULL), 0);
  CHECK_EQ_INT(sbx_metrics_add(m, "sbx_api_requests_total", 1, "method",
                               "GetRun", "code", "ok", NULL),
               0);
  CHECK_EQ_INT(sbx_metrics_add(m, "sbx_api_requests_total", 2, "code", "ok",
                               "method", "GetRun", NULL),
               0);
  CHECK_EQ_INT(sbx_metrics_add(m, "sbx_api_requests_total", 1, "method",
                               "StartRun", "code", "permission_denied", NULL),
               0);
  CHECK_EQ_INT(sbx_metrics_add(m, "sbx_api_requests_total", 0.5, NULL), 0);
  CHECK_EQ_INT(sbx_metrics_set(m, "sbx_runs_in_progress", 3, NULL), 0);
  CHECK_EQ_INT(sbx_metrics_add(m, "sbx_runs_in_progress", -1, NULL), 0);

  text = render_user(m);
  CHECK_EQ_STR(text, "# HELP sbx_api_requests_total API requests by method and "
                     "code.\n"
                     "# TYPE sbx_api_requests_total counter\n"
                     "sbx_api_requests_total 0.5\n"
                     "sbx_api_requests_total{code=\"ok\",method=\"GetRun\"} 3\n"
                     "sbx_api_requests_total{code=\"permission_denied\","
                     "method=\"StartRun\"} 1\n"
                     "# HELP sbx_empty\n"
                     "# TYPE sbx_empty gauge\n"
                     "# HELP sbx_runs_in_progress Runs that are not finished.\n"
                     "# TYPE sbx_runs_in_progress gauge\n"
                     "sbx_runs_in_progress 2\n");
  free(text);
  sbx_metrics_free(m);
}

static void test_escaping(void) {
  struct sbx_metrics *m = NULL;
  char *text;

  CHECK_EQ_INT(sbx_metrics_new(&m), 0);
  CHECK_EQ_INT(sbx_metrics_declare(m, "esc", "gauge",
                                   "back\\slash \"quoted\"\nsecond line"),
               0);
  CHECK_EQ_INT(
      sbx_metrics_set(m, "esc", 1, "v", "a\\b\"c\nd", "u", "caf\xc3\xa9", NULL),
      0);
  CHECK_EQ_INT(sbx_metrics_set(m, "esc", 2, "v", "", NULL), 0);
  text = render_user(m);
  CHECK_EQ_STR(text, "# HELP esc back\\\\slash \"quoted\"\\nsecond line\n"
                     "# TYPE esc gauge\n"
                     "esc{u=\"caf\xc3\xa9\",v=\"a\\\\b\\\"c\\nd\"} 1\n"
                     "esc{v=\"\"} 2\n");
  free(text);
  sbx_metrics_free(m);
}

static void fill(struct sbx_metrics *m, int reverse) {
  static const char *const vals[] = {"b", "a", "c", "a b", "A", "z"};
  size_t i, n = sizeof(vals) / sizeof(vals[0]);
  const char *names[] = {"zeta_total", "alpha", "mid:colon"};
  /* names[1] ("alpha", the gauge) is the middle one in either order. */
  for (i = 0; i < 3; i++)
    CHECK_EQ_INT(sbx_metrics_declare(m, names[reverse ? 2 - i : i],
                                     i == 1 ? "gauge" : "counter", "h"),
                 0);
  for (i = 0; i < n; i++) {
    const char *v = vals[reverse ? n - 1 - i : i];
    if (reverse) {
      CHECK_EQ_INT(sbx_metrics_add(m, "zeta_total", 1, "y", "1", "x", v, NULL),
                   0);
      CHECK_EQ_INT(sbx_metrics_set(m, "alpha", 7, "k", v, NULL), 0);
    } else {
      CHECK_EQ_INT(sbx_metrics_add(m, "zeta_total", 1, "x", v, "y", "1", NULL),
                   0);
      CHECK_EQ_INT(sbx_metrics_set(m, "alpha", 7, "k", v, NULL), 0);
    }
    CHECK_EQ_INT(sbx_metrics_add(m, "mid:colon", 2, NULL), 0);
  }
}

static void test_stable_order(void) {
  struct sbx_metrics *a = NULL, *b = NULL;
  char *ta, *tb, *x, *y;

  CHECK_EQ_INT(sbx_metrics_new(&a), 0);
  CHECK_EQ_INT(sbx_metrics_new(&b), 0);
  fill(a, 0);
  fill(b, 1);
  ta = render_user(a);
  tb = render_user(b);
  CHECK_EQ_STR(ta, tb);
  /* Families by name, series by label text. */
  x = strstr(ta, "# TYPE alpha");
  y = strstr(ta, "# TYPE mid:colon");
  CHECK(x != NULL && y != NULL && x < y);
  x = strstr(ta, "zeta_total{x=\"A\",y=\"1\"} 1\n");
  y = strstr(ta, "zeta_total{x=\"a\",y=\"1\"} 1\n");
  CHECK(x != NULL && y != NULL && x < y);
  CHECK(strstr(ta, "mid:colon 12\n") != NULL);
  free(ta);
  free(tb);
  /* A second render of the same state is identical. */
  ta = render_user(a);
  tb = render_user(a);
  CHECK_EQ_STR(ta, tb);
  free(ta);
  free(tb);
  sbx_metrics_free(a);
  sbx_metrics_free(b);
}

static void expect_value(double v, const char *want) {
  struct sbx_metrics *m = NULL;
  char *text, expect[256];
  CHECK_EQ_INT(sbx_metrics_new(&m), 0);
  CHECK_EQ_INT(sbx_metrics_declare(m, "g", "gauge", "h"), 0);
  CHECK_EQ_INT(sbx_metrics_set(m, "g", v, NULL), 0);
  text = render_user(m);
  snprintf(expect, sizeof(expect), "# HELP g h\n# TYPE g gauge\ng %s\n", want);
  CHECK_EQ_STR(text, expect);
  free(text);
  sbx_metrics_free(m);
}

static void test_numbers(void) {
  expect_value(0, "0");
  expect_value(-0.0, "0");
  expect_value(1, "1");
  expect_value(-42, "-42");
  expect_value(1e15, "1000000000000000");
  expect_value(123456789012345678.0, "123456789012345680");
  expect_value(9007199254740993.0, "9007199254740992");
  expect_value(0.1, "0.1");
  expect_value(1.5, "1.5");
  expect_value(-2.25, "-2.25");
  expect_value(1.0 / 3.0, "0.3333333333333333");
  expect_value(0.1 + 0.2, "0.30000000000000004");
  expect_value(1e-7, "1e-07");
  expect_value(1e300, "1e+300");
  expect_value(NAN, "NaN");
  expect_value(INFINITY, "+Inf");
  expect_value(-INFINITY, "-Inf");
}

static void test_histogram(void) {
  static const double bounds[] = {0.001, 0.01, 0.1};
  struct sbx_metrics *m = NULL;
  char *text;

  CHECK_EQ_INT(sbx_metrics_new(&m), 0);
  CHECK_EQ_INT(sbx_metrics_declare_histogram(m, "sbx_run_duration_seconds",
                                             "Run wall time.", bounds, 3),
               0);
  CHECK_EQ_INT(sbx_metrics_observe(m, "sbx_run_duration_seconds", 0.001,
                                   "scenario", "echo@1", NULL),
               0);
  CHECK_EQ_INT(sbx_metrics_observe(m, "sbx_run_duration_seconds", 0.05,
                                   "scenario", "echo@1", NULL),
               0);
  CHECK_EQ_INT(sbx_metrics_observe(m, "sbx_run_duration_seconds", 7, "scenario",
                                   "echo@1", NULL),
               0);
  CHECK_EQ_INT(sbx_metrics_observe(m, "sbx_run_duration_seconds", 0.0005, NULL),
               0);
  text = render_user(m);
  CHECK_EQ_STR(
      text,
      "# HELP sbx_run_duration_seconds Run wall time.\n"
      "# TYPE sbx_run_duration_seconds histogram\n"
      "sbx_run_duration_seconds_bucket{le=\"0.001\"} 1\n"
      "sbx_run_duration_seconds_bucket{le=\"0.01\"} 1\n"
      "sbx_run_duration_seconds_bucket{le=\"0.1\"} 1\n"
      "sbx_run_duration_seconds_bucket{le=\"+Inf\"} 1\n"
      "sbx_run_duration_seconds_sum 0.0005\n"
      "sbx_run_duration_seconds_count 1\n"
      "sbx_run_duration_seconds_bucket{scenario=\"echo@1\",le=\"0.001\"} 1\n"
      "sbx_run_duration_seconds_bucket{scenario=\"echo@1\",le=\"0.01\"} 1\n"
      "sbx_run_duration_seconds_bucket{scenario=\"echo@1\",le=\"0.1\"} 2\n"
      "sbx_run_duration_seconds_bucket{scenario=\"echo@1\",le=\"+Inf\"} 3\n"
      "sbx_run_duration_seconds_sum{scenario=\"echo@1\"} 7.051\n"
      "sbx_run_duration_seconds_count{scenario=\"echo@1\"} 3\n");
  free(text);

  /* Default buckets through the generic declare. */
  CHECK_EQ_INT(sbx_metrics_declare(m, "h2", "histogram", "d"), 0);
  CHECK_EQ_INT(sbx_metrics_observe(m, "h2", 0.3, NULL), 0);
  text = render_user(m);
  CHECK(strstr(text, "h2_bucket{le=\"0.005\"} 0\n") != NULL);
  CHECK(strstr(text, "h2_bucket{le=\"0.25\"} 0\n") != NULL);
  CHECK(strstr(text, "h2_bucket{le=\"0.5\"} 1\n") != NULL);
  CHECK(strstr(text, "h2_bucket{le=\"10\"} 1\n") != NULL);
  CHECK(strstr(text, "h2_bucket{le=\"+Inf\"} 1\n") != NULL);
  free(text);

  /* Wrong operation for the type, bad bounds, collisions. */
  CHECK_EQ_INT(sbx_metrics_add(m, "h2", 1, NULL), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_set(m, "h2", 1, NULL), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_observe(m, "h2", NAN, NULL), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_declare(m, "g", "gauge", "g"), 0);
  CHECK_EQ_INT(sbx_metrics_observe(m, "g", 1, NULL), SBX_EINVAL);
  {
    const double unsorted[] = {1, 1};
    const double inf[] = {1, INFINITY};
    CHECK_EQ_INT(sbx_metrics_declare_histogram(m, "h3", "", unsorted, 2),
                 SBX_EINVAL);
    CHECK_EQ_INT(sbx_metrics_declare_histogram(m, "h3", "", inf, 2),
                 SBX_EINVAL);
    CHECK_EQ_INT(sbx_metrics_declare_histogram(m, "h3", "", bounds, 0),
                 SBX_EINVAL);
    CHECK_EQ_INT(sbx_metrics_declare_histogram(m, "h3", "", NULL, 3),
                 SBX_EINVAL);
  }
  CHECK_EQ_INT(sbx_metrics_declare_histogram(m, "sbx_run_duration_seconds", "",
                                             bounds, 3),
               0);
  CHECK_EQ_INT(sbx_metrics_declare_histogram(m, "sbx_run_duration_seconds", "",
                                             bounds, 2),
               SBX_EEXIST);
  CHECK_EQ_INT(
      sbx_metrics_declare(m, "sbx_run_duration_seconds_count", "counter", ""),
      SBX_EEXIST);
  CHECK_EQ_INT(sbx_metrics_declare(m, "h2_bucket", "gauge", ""), SBX_EEXIST);
  CHECK_EQ_INT(sbx_metrics_declare(m, "x_sum", "gauge", ""), 0);
  CHECK_EQ_INT(sbx_metrics_declare(m, "x", "histogram", ""), SBX_EEXIST);
  CHECK_EQ_INT(
      sbx_metrics_observe(m, "sbx_run_duration_seconds", 1, "le", "1", NULL),
      SBX_EINVAL);
  free(render_user(m));
  sbx_metrics_free(m);
}

static void test_rejections(void) {
  struct sbx_metrics *m = NULL;
  char *before, *after;
  static const char *const bad_names[] = {
      "", "1abc", "a-b", "a b", "a.b", "é", "process_open_fds", "process_x",
  };
  size_t i;

  CHECK_EQ_INT(sbx_metrics_new(NULL), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_new(&m), 0);
  for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
    CHECK_EQ_INT(sbx_metrics_declare(m, bad_names[i], "gauge", ""), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_declare(m, NULL, "gauge", ""), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_declare(m, "ok", NULL, ""), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_declare(m, "ok", "summary", ""), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_declare(m, "ok", "Counter", ""), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_declare(NULL, "ok", "gauge", ""), SBX_EINVAL);

  CHECK_EQ_INT(sbx_metrics_declare(m, "c_total", "counter", "first"), 0);
  CHECK_EQ_INT(sbx_metrics_declare(m, "c_total", "counter", "second"), 0);
  CHECK_EQ_INT(sbx_metrics_declare(m, "c_total", "gauge", ""), SBX_EEXIST);
  CHECK_EQ_INT(sbx_metrics_declare(m, "_:a:", "gauge", ""), 0);

  CHECK_EQ_INT(sbx_metrics_add(m, "c_total", 1, "code", "ok", NULL), 0);
  before = render_user(m);
  CHECK(strstr(before, "# HELP c_total first\n") != NULL);

  CHECK_EQ_INT(sbx_metrics_add(m, "nope", 1, NULL), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_set(m, "nope", 1, NULL), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_add(NULL, "c_total", 1, NULL), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_add(m, "c_total", -1, NULL), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_add(m, "c_total", NAN, NULL), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_set(m, "c_total", -1, NULL), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_set(m, "c_total", NAN, NULL), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_add(m, "c_total", 1, "code", NULL), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_add(m, "c_total", 1, "1code", "x", NULL),
               SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_add(m, "c_total", 1, "__name__", "x", NULL),
               SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_add(m, "c_total", 1, "a:b", "x", NULL), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_add(m, "c_total", 1, "", "x", NULL), SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_add(m, "c_total", 1, "le", "x", NULL), SBX_EINVAL);
  CHECK_EQ_INT(
      sbx_metrics_add(m, "c_total", 1, "a", "1", "b", "2", "a", "3", NULL),
      SBX_EINVAL);
  CHECK_EQ_INT(sbx_metrics_add(m, "c_total", 1, "a", "1", "b", "2", "c", "3",
                               "d", "4", "e", "5", "f", "6", "g", "7", "h", "8",
                               "i", "9", "j", "10", "k", "11", "l", "12", "m",
                               "13", "n", "14", "o", "15", "p", "16", "q", "17",
                               NULL),
               SBX_ERANGE);
  /* Sixteen labels are fine. */
  CHECK_EQ_INT(sbx_metrics_set(m, "_:a:", 1, "a", "1", "b", "2", "c", "3", "d",
                               "4", "e", "5", "f", "6", "g", "7", "h", "8", "i",
                               "9", "j", "10", "k", "11", "l", "12", "m", "13",
                               "n", "14", "o", "15", "p", "16", NULL),
               0);
  CHECK_EQ_INT(sbx_metrics_set(m, "_:a:", 1, NULL), 0);
  after = render_user(m);
  /* Failed calls left no trace: only the two _:a: series are new. */
  CHECK(strstr(after, before + strlen("# HELP _:a:\n# TYPE _:a: gauge\n")) !=
        NULL);
  CHECK(strstr(after, "c_total{code=\"ok\"} 1\n") != NULL);
  CHECK(strstr(after, "\n_:a: 1\n") != NULL);
  free(before);
  free(after);
  sbx_metrics_free(m);
  sbx_metrics_free(NULL);
  CHECK(sbx_metrics_render(NULL, NULL) == NULL);
}

static void test_series_limit(void) {
  struct sbx_metrics *m = NULL;
  char v[32];
  size_t len = 0;
  char *text;
  int i, rc = 0;

  CHECK_EQ_INT(sbx_metrics_new(&m), 0);
  CHECK_EQ_INT(sbx_metrics_declare(m, "many", "gauge", "h"), 0);
  CHECK_EQ_INT(sbx_metrics_declare(m, "other", "gauge", "h"), 0);
  for (i = 0; i < SBX_METRICS_MAX_SERIES && rc == 0; i++) {
    snprintf(v, sizeof(v), "%d", i);
    rc = sbx_metrics_set(m, "many", i, "i", v, NULL);
  }
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(sbx_metrics_set(m, "many", 1, "i", "new", NULL), SBX_ERANGE);
  CHECK_EQ_INT(sbx_metrics_set(m, "other", 1, NULL), SBX_ERANGE);
  /* Existing series still update. */
  CHECK_EQ_INT(sbx_metrics_set(m, "many", -1, "i", "0", NULL), 0);
  text = sbx_metrics_render(m, &len);
  CHECK(text != NULL);
  if (text != NULL) {
    CHECK_EQ_INT(check_syntax(text, len), 0);
    CHECK(strstr(text, "many{i=\"0\"} -1\n") != NULL);
    CHECK(strstr(text, "many{i=\"9999\"} 9999\n") != NULL);
  }
  free(text);
  sbx_metrics_free(m);
}

/* Finds "\nname value\n" and parses value. */
static int proc_value(const char *text, const char *name, double *out) {
  char pat[128];
  const char *p;
  char *end;
  snprintf(pat, sizeof(pat), "\n%s ", name);
  p = strstr(text, pat);
  if (p == NULL)
    return -1;
  *out = strtod(p + strlen(pat), &end);
  return *end == '\n' ? 0 : -1;
}

static void test_process(void) {
  struct sbx_metrics *m = NULL;
  double rss = 0, vsz = 0, fds = 0, maxfds = 0, cpu = -1, start = 0;
  size_t len = 0;
  char *text;
  double now = (double)time(NULL);

  CHECK_EQ_INT(sbx_metrics_new(&m), 0);
  text = sbx_metrics_render(m, &len);
  CHECK(text != NULL);
  if (text == NULL)
    return;
  CHECK_EQ_INT(check_syntax(text, len), 0);
  CHECK(strncmp(text, "# HELP process_", 15) == 0);
  CHECK(strstr(text, "# TYPE process_cpu_seconds_total counter\n") != NULL);
  CHECK(strstr(text, "# TYPE process_open_fds gauge\n") != NULL);
  CHECK_EQ_INT(proc_value(text, "process_resident_memory_bytes", &rss), 0);
  CHECK_EQ_INT(proc_value(text, "process_virtual_memory_bytes", &vsz), 0);
  CHECK_EQ_INT(proc_value(text, "process_open_fds", &fds), 0);
  CHECK_EQ_INT(proc_value(text, "process_max_fds", &maxfds), 0);
  CHECK_EQ_INT(proc_value(text, "process_cpu_seconds_total", &cpu), 0);
  CHECK_EQ_INT(proc_value(text, "process_start_time_seconds", &start), 0);
  CHECK(rss > 4096);
  CHECK(vsz >= rss);
  CHECK(fds >= 3); /* stdin, stdout, stderr at least */
  CHECK(maxfds >= fds);
  CHECK(cpu >= 0 && cpu < 3600);
  /* Started within the last day (and not in the future, give or take the
   * clock tick rounding). */
  CHECK(start > now - 86400 && start <= now + 1);
  free(text);
  sbx_metrics_free(m);
}

int main(void) {
  test_checker();
  test_counters_gauges();
  test_escaping();
  test_stable_order();
  test_numbers();
  test_histogram();
  test_rejections();
  test_series_limit();
  test_process();
  return TEST_RESULT();
}
