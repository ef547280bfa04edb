/* test_cmd_client.c - the parts of the sbx server commands that need no
 * server: load overrides as the command line spells them, local ISO-8601
 * times, and the text table (alignment, widths in characters, hostile
 * cells made printable and cut short), the global options, --choice words
 * and the exit code of a verdict. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testlib.h"

#include "cmd.h"

static void test_load_options(void) {
  Sbx__V1__LoadOverrides ov = SBX__V1__LOAD_OVERRIDES__INIT;
  Sbx__V1__LoadOverrides before;
  struct sbx_diag d = {{0}};

  CHECK_EQ_INT(sbx_cmd_load_option("warmup", "1.5s", &ov, &d), 0);
  CHECK_EQ_INT(ov.warmup_us, 1500000);
  CHECK(!ov.zero_warmup);
  /* 0 on the wire means "keep the spec's": a zero warm-up needs the flag */
  CHECK_EQ_INT(sbx_cmd_load_option("warmup", "0", &ov, &d), 0);
  CHECK_EQ_INT(ov.warmup_us, 0);
  CHECK(ov.zero_warmup);
  CHECK_EQ_INT(sbx_cmd_load_option("warmup", "0s", &ov, &d), 0);
  CHECK(ov.zero_warmup);
  CHECK_EQ_INT(sbx_cmd_load_option("warmup", "250ms", &ov, &d), 0);
  CHECK(!ov.zero_warmup);

  CHECK_EQ_INT(sbx_cmd_load_option("min-duration", "10s", &ov, &d), 0);
  CHECK_EQ_INT(ov.min_duration_us, 10000000);
  CHECK_EQ_INT(sbx_cmd_load_option("duration", "1m", &ov, &d), 0);
  CHECK_EQ_INT(ov.min_duration_us, 60000000);
  CHECK_EQ_INT(sbx_cmd_load_option("max-duration", "2m", &ov, &d), 0);
  CHECK_EQ_INT(ov.max_duration_us, 120000000);
  CHECK_EQ_INT(sbx_cmd_load_option("timeout", "20ms", &ov, &d), 0);
  CHECK_EQ_INT(ov.timeout_us, 20000);
  CHECK_EQ_INT(sbx_cmd_load_option("min-cases", "100", &ov, &d), 0);
  CHECK_EQ_INT(ov.min_cases, 100);
  CHECK_EQ_INT(sbx_cmd_load_option("concurrency", "10000", &ov, &d), 0);
  CHECK_EQ_INT(ov.concurrency, 10000);
  CHECK_EQ_INT(sbx_cmd_load_option("rate", "2.5k/s", &ov, &d), 0);
  CHECK(fabs(ov.rate - 2500) < 1e-9);
  CHECK_EQ_INT(sbx_cmd_load_option("seed", "18446744073709551615", &ov, &d), 0);
  CHECK(ov.seed == UINT64_MAX);

  /* Bad values leave ov alone and say how to write it. */
  before = ov;
  CHECK_EQ_INT(sbx_cmd_load_option("rate", "fast", &ov, &d), SBX_EINVAL);
  CHECK_EQ_STR(d.msg, "--rate: invalid value \"fast\"; write e.g. --rate "
                      "1000/s");
  CHECK_EQ_INT(sbx_cmd_load_option("rate", "0", &ov, &d), SBX_EINVAL);
  CHECK_EQ_INT(sbx_cmd_load_option("warmup", "-1s", &ov, &d), SBX_EINVAL);
  CHECK_EQ_INT(sbx_cmd_load_option("warmup", "2", &ov, &d), SBX_EINVAL);
  CHECK_EQ_INT(sbx_cmd_load_option("min-duration", "0s", &ov, &d), SBX_EINVAL);
  CHECK_EQ_INT(sbx_cmd_load_option("max-duration", "", &ov, &d), SBX_EINVAL);
  CHECK_EQ_INT(sbx_cmd_load_option("timeout", "1 fortnight", &ov, &d),
               SBX_EINVAL);
  CHECK_EQ_INT(sbx_cmd_load_option("min-cases", "0", &ov, &d), SBX_EINVAL);
  CHECK_EQ_INT(sbx_cmd_load_option("min-cases", "-5", &ov, &d), SBX_EINVAL);
  CHECK_EQ_INT(sbx_cmd_load_option("concurrency", "10001", &ov, &d),
               SBX_EINVAL);
  CHECK_EQ_STR(d.msg, "--concurrency: invalid value \"10001\"; write a whole "
                      "number from 1 to 10000");
  CHECK_EQ_INT(sbx_cmd_load_option("concurrency", "0", &ov, &d), SBX_EINVAL);
  CHECK_EQ_INT(sbx_cmd_load_option("seed", "0", &ov, &d), SBX_EINVAL);
  CHECK_EQ_INT(sbx_cmd_load_option("seed", "1e3", &ov, &d), SBX_EINVAL);
  CHECK_EQ_INT(sbx_cmd_load_option("seed", "18446744073709551616", &ov, &d),
               SBX_EINVAL);
  CHECK(memcmp(&before, &ov, sizeof(ov)) == 0);

  /* Not a load option at all: the caller's business. */
  d.msg[0] = '\0';
  CHECK_EQ_INT(sbx_cmd_load_option("product", "x", &ov, &d), SBX_ENOENT);
  CHECK_EQ_STR(d.msg, "");
  CHECK(memcmp(&before, &ov, sizeof(ov)) == 0);
}

static void test_format_time(void) {
  char buf[64];
  /* 2025-01-31T14:05:09Z */
  const int64_t ms = 1738332309123LL;

  setenv("TZ", "UTC", 1);
  tzset();
  sbx_cmd_format_time(ms, buf, sizeof(buf));
  CHECK_EQ_STR(buf, "2025-01-31T14:05:09+00:00");
  setenv("TZ", "CET-1", 1);
  tzset();
  sbx_cmd_format_time(ms, buf, sizeof(buf));
  CHECK_EQ_STR(buf, "2025-01-31T15:05:09+01:00");
  setenv("TZ", "IST-5:30", 1);
  tzset();
  sbx_cmd_format_time(ms, buf, sizeof(buf));
  CHECK_EQ_STR(buf, "2025-01-31T19:35:09+05:30");
  setenv("TZ", "EST5", 1);
  tzset();
  sbx_cmd_format_time(ms, buf, sizeof(buf));
  CHECK_EQ_STR(buf, "2025-01-31T09:05:09-05:00");

  sbx_cmd_format_time(0, buf, sizeof(buf));
  CHECK_EQ_STR(buf, "-");
  sbx_cmd_format_time(-5, buf, sizeof(buf));
  CHECK_EQ_STR(buf, "-");
  /* Too small a buffer still ends in a NUL. */
  sbx_cmd_format_time(ms, buf, 8);
  CHECK(strlen(buf) == 7);
  setenv("TZ", "UTC", 1);
  tzset();
}

/* Prints t into a string the caller frees. */
static char *render(const struct sbx_table *t) {
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  if (f == NULL)
    return NULL;
  sbx_table_print(t, f);
  fclose(f);
  return out;
}

static void test_table(void) {
  static const char *const heads[] = {"RUN", "PRODUCT", "SCORE", "NOTE"};
  struct sbx_table t;
  char long_cell[200], *s;
  size_t i;

  sbx_table_init(&t, 4, heads, 1u << 0 | 1u << 2);
  CHECK_EQ_INT(sbx_table_add(&t, (const char *const[]){"7", "acme/web@1.0",
                                                       "123.5", "fine"}),
               0);
  CHECK_EQ_INT(
      sbx_table_add(&t, (const char *const[]){"12", "b/x@2", "9", NULL}), 0);
  s = render(&t);
  CHECK_EQ_STR(s, "RUN  PRODUCT       SCORE  NOTE\n"
                  "  7  acme/web@1.0  123.5  fine\n"
                  " 12  b/x@2             9\n");
  free(s);
  sbx_table_free(&t);

  /* Hostile cells: terminal escapes and newlines become '?', widths count
   * characters, not bytes, and overlong cells are cut with "...". */
  sbx_table_init(&t, 2, heads + 1, 0);
  CHECK_EQ_INT(sbx_table_add(&t, (const char *const[]){"evil\x1b[2J\r\nx",
                                                       "caf\xc3\xa9"}),
               0);
  CHECK_EQ_INT(sbx_table_add(&t, (const char *const[]){"\xc3\xa9t\xc3\xa9",
                                                       "bad \xff\xfe"}),
               0);
  s = render(&t);
  CHECK_EQ_STR(s, "PRODUCT      SCORE\n"
                  "evil?[2J??x  caf\xc3\xa9\n"
                  "\xc3\xa9t\xc3\xa9          bad ??\n");
  free(s);
  sbx_table_free(&t);

  memset(long_cell, 'a', sizeof(long_cell) - 1);
  long_cell[sizeof(long_cell) - 1] = '\0';
  sbx_table_init(&t, 1, heads, 0);
  CHECK_EQ_INT(sbx_table_add(&t, (const char *const[]){long_cell}), 0);
  s = render(&t);
  CHECK(s != NULL && strlen(s) == strlen("RUN\n") + SBX_TABLE_MAX_CELL + 1);
  CHECK(s != NULL && strstr(s, "a...\n") != NULL);
  free(s);
  sbx_table_free(&t);

  /* Many rows (growth), and a table with no rows prints just the heads. */
  sbx_table_init(&t, 1, heads, 1u);
  for (i = 0; i < 1000; i++)
    CHECK_EQ_INT(sbx_table_add(&t, (const char *const[]){"12345"}), 0);
  CHECK_EQ_INT(t.nrows, 1000);
  sbx_table_free(&t);
  sbx_table_init(&t, 2, heads, 0);
  s = render(&t);
  CHECK_EQ_STR(s, "RUN  PRODUCT\n");
  free(s);
  sbx_table_free(&t);
}

static void test_usage(void) {
  static const char *const topics[] = {
      "client",      "scenario", "product", "run",    "match",
      "leaderboard", "keys",     "token",   "whoami", "result-remote"};
  size_t i;
  for (i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
    const char *u = sbx_cmd_client_usage(topics[i]);
    CHECK(u != NULL && strstr(u, "--server URL") != NULL);
  }
  CHECK(sbx_cmd_client_usage("test") == NULL);
  CHECK(sbx_cmd_client_usage("") == NULL);
}

/* The options every server command takes before or after its name: how
 * many arguments each form uses and what it stores; anything else (or a
 * missing value) uses none and leaves g alone. */
static void test_global_arg(void) {
  static const struct {
    const char *args[2];
    int n;
    int used;
    const char *server; /* expected g.server afterwards (NULL: untouched) */
    const char *token;
    int json;
  } cases[] = {
      {{"--json", NULL}, 1, 1, NULL, NULL, 1},
      {{"--json", "--token"}, 2, 1, NULL, NULL, 1},
      {{"--server", "http://h:1"}, 2, 2, "http://h:1", NULL, 0},
      {{"--server=http://h:2", NULL}, 1, 1, "http://h:2", NULL, 0},
      {{"--server=", NULL}, 1, 1, "", NULL, 0},
      {{"--token", "abc"}, 2, 2, NULL, "abc", 0},
      {{"--token=xyz", "more"}, 2, 1, NULL, "xyz", 0},
      /* the value may look like an option: it is taken as the value */
      {{"--token", "--json"}, 2, 2, NULL, "--json", 0},
      /* value missing: nothing used, g untouched */
      {{"--server", NULL}, 1, 0, NULL, NULL, 0},
      {{"--token", NULL}, 1, 0, NULL, NULL, 0},
      /* not one of them */
      {{"--jsonx", NULL}, 1, 0, NULL, NULL, 0},
      {{"-j", NULL}, 1, 0, NULL, NULL, 0},
      {{"--Server", "x"}, 2, 0, NULL, NULL, 0},
      {{"--servers=x", NULL}, 1, 0, NULL, NULL, 0},
      {{"--tok", "x"}, 2, 0, NULL, NULL, 0},
      {{"json", NULL}, 1, 0, NULL, NULL, 0},
      {{"", NULL}, 1, 0, NULL, NULL, 0},
      {{"list", "--json"}, 2, 0, NULL, NULL, 0},
      /* n == 0: args is not looked at */
      {{"--json", NULL}, 0, 0, NULL, NULL, 0},
  };
  size_t i;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct sbx_cmd_globals g = {.server = NULL, .token = NULL, .json = 0};
    char *args[2] = {(char *)cases[i].args[0], (char *)cases[i].args[1]};
    int used = sbx_cmd_global_arg(args, cases[i].n, &g);
    if (used != cases[i].used)
      fprintf(stderr, "case %zu (%s)\n", i, cases[i].args[0]);
    CHECK_EQ_INT(used, cases[i].used);
    CHECK_EQ_INT(g.json, cases[i].json);
    if (cases[i].server == NULL)
      CHECK(g.server == NULL);
    else
      CHECK_EQ_STR(g.server, cases[i].server);
    if (cases[i].token == NULL)
      CHECK(g.token == NULL);
    else
      CHECK_EQ_STR(g.token, cases[i].token);
  }

  /* Strings are borrowed, not copied; earlier values are overwritten. */
  {
    struct sbx_cmd_globals g = {.server = "old", .token = "old", .json = 0};
    char a0[] = "--server", a1[] = "http://b:3", a2[] = "--token=t2";
    char *args[] = {a0, a1, a2};
    CHECK_EQ_INT(sbx_cmd_global_arg(args, 3, &g), 2);
    CHECK(g.server == a1);
    CHECK_EQ_STR(g.token, "old");
    CHECK_EQ_INT(sbx_cmd_global_arg(args + 2, 1, &g), 1);
    CHECK(g.token == a2 + 8);
  }
}

static void test_parse_choice(void) {
  static const struct sbx_cmd_choice mine[] = {{.name = "one", .value = 1},
                                               {.name = "two", .value = 2},
                                               {.name = "", .value = 7},
                                               {.name = NULL}};
  static const struct sbx_cmd_choice none[] = {{.name = NULL}};
  static const struct {
    const struct sbx_cmd_choice *choices;
    const char *text;
    int rc;
    int value; /* expected *out; 99 (untouched) on failure */
  } cases[] = {
      {sbx_cmd_http_clients, "auto", 0, SBX__V1__HTTP_CLIENT__HTTP_CLIENT_AUTO},
      {sbx_cmd_http_clients, "curl", 0, SBX__V1__HTTP_CLIENT__HTTP_CLIENT_CURL},
      {sbx_cmd_http_clients, "fast", 0, SBX__V1__HTTP_CLIENT__HTTP_CLIENT_FAST},
      {sbx_cmd_http_clients, "Curl", SBX_EINVAL, 99},
      {sbx_cmd_http_clients, "FAST", SBX_EINVAL, 99},
      {sbx_cmd_http_clients, "cur", SBX_EINVAL, 99},
      {sbx_cmd_http_clients, "curl ", SBX_EINVAL, 99},
      {sbx_cmd_http_clients, "autox", SBX_EINVAL, 99},
      {sbx_cmd_http_clients, "", SBX_EINVAL, 99},
      {mine, "one", 0, 1},
      {mine, "two", 0, 2},
      {mine, "", 0, 7},
      {mine, "three", SBX_EINVAL, 99},
      {none, "one", SBX_EINVAL, 99},
      {none, "", SBX_EINVAL, 99},
  };
  size_t i;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int out = 99;
    int rc = sbx_cmd_parse_choice(cases[i].choices, cases[i].text, &out);
    if (rc != cases[i].rc || out != cases[i].value)
      fprintf(stderr, "case %zu (\"%s\")\n", i, cases[i].text);
    CHECK_EQ_INT(rc, cases[i].rc);
    CHECK_EQ_INT(out, cases[i].value);
  }
}

static void test_verdict_exit(void) {
  static const struct {
    int verdict;
    int code;
  } cases[] = {
      {SBX__V1__VERDICT__VERDICT_PASS, 0},
      {SBX__V1__VERDICT__VERDICT_FAIL, 1},
      {SBX__V1__VERDICT__VERDICT_INVALID, 1},
      {SBX__V1__VERDICT__VERDICT_ERROR, 3},
      {SBX__V1__VERDICT__VERDICT_UNSPECIFIED, 3},
      {-1, 3},
      {1000, 3},
  };
  size_t i;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    CHECK_EQ_INT(sbx_cmd_verdict_exit(cases[i].verdict), cases[i].code);
}

int main(void) {
  test_load_options();
  test_format_time();
  test_table();
  test_usage();
  test_global_arg();
  test_parse_choice();
  test_verdict_exit();
  return TEST_RESULT();
}
