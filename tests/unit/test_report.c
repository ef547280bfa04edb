/* test_report.c - text summary, JUnit XML and JSON summary of results.
 *
 * Four results are built by hand (PASS, FAIL with an impossible criterion
 * whose text needs XML escaping, INVALID with hostile reasons, ERROR) and
 * each is rendered three ways into a temporary directory. The text and the
 * JUnit must equal the reference files in tests/fixtures/report/ byte for
 * byte; run with SBX_UPDATE_FIXTURES=1 to rewrite them after a deliberate
 * change (then review the diff). The JSON is checked structurally. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "report.h"
#include "testlib.h"

/* Everything one hand-built result points to. */
struct fixture {
  Sbx__V1__Result r;
  Sbx__V1__Metrics m;
  Sbx__V1__LatencySummary lat;
  Sbx__V1__Histogram lh, sh;
  int64_t counts[3];
  Sbx__V1__ErrorCount ec[3];
  Sbx__V1__ErrorCount *ecp[3];
  Sbx__V1__Criterion c[4];
  Sbx__V1__CriterionOutcome co[4];
  Sbx__V1__CriterionOutcome *cop[4];
  Sbx__V1__ValidityOutcome v;
  char *reasons[3];
};

static uint8_t digest[32];

static void base_result(struct fixture *x) {
  size_t i;

  memset(x, 0, sizeof(*x));
  x->r = (Sbx__V1__Result)SBX__V1__RESULT__INIT;
  x->m = (Sbx__V1__Metrics)SBX__V1__METRICS__INIT;
  x->lat = (Sbx__V1__LatencySummary)SBX__V1__LATENCY_SUMMARY__INIT;
  x->lh = (Sbx__V1__Histogram)SBX__V1__HISTOGRAM__INIT;
  x->sh = (Sbx__V1__Histogram)SBX__V1__HISTOGRAM__INIT;
  x->v = (Sbx__V1__ValidityOutcome)SBX__V1__VALIDITY_OUTCOME__INIT;
  for (i = 0; i < 32; i++)
    digest[i] = (uint8_t)(0xab + i * 7);

  x->r.run_id = 1;
  x->r.scenario = "web-static";
  x->r.scenario_version = "1.0.0";
  x->r.scenario_digest.data = digest;
  x->r.scenario_digest.len = sizeof(digest);
  x->r.product = "http://127.0.0.1:8080";
  x->r.client = "curl";
  x->r.harness_version = "0.1.0";
  x->r.started_unix_ms = 1714564800123; /* 2024-05-01T12:00:00Z */
  x->r.ended_unix_ms = 1714564812623;
  x->r.load_model = "closed";
  x->r.metrics = &x->m;
  x->r.validity = &x->v;
  x->v.valid = 1;

  x->m.requests = 243102;
  x->m.completed = 243102;
  x->m.duration_s = 10.0;
  x->m.throughput = 24310.2;
  x->m.warmup_requests = 2000;
  x->m.latency = &x->lat;
  x->lat.min_us = 310;
  x->lat.p50_us = 1234;
  x->lat.p90_us = 2100;
  x->lat.p99_us = 4800;
  x->lat.p999_us = 9100;
  x->lat.max_us = 12400;
  x->lat.mean_us = 1402.5;
  x->m.latency_hist = &x->lh;
  x->m.schedule_lag_hist = &x->sh;
  x->counts[0] = -5;
  x->counts[1] = 7;
  x->counts[2] = 3;
  x->lh.n_counts = 3;
  x->lh.counts = x->counts;
  x->lh.total_count = 10;
  x->lh.unit = "us";
  x->sh.n_counts = 3;
  x->sh.counts = x->counts;
  x->sh.total_count = 10;
  x->sh.unit = "us";

  for (i = 0; i < 4; i++) {
    x->c[i] = (Sbx__V1__Criterion)SBX__V1__CRITERION__INIT;
    x->co[i] = (Sbx__V1__CriterionOutcome)SBX__V1__CRITERION_OUTCOME__INIT;
    x->co[i].criterion = &x->c[i];
    x->co[i].measurable = 1;
    x->cop[i] = &x->co[i];
  }
  x->c[0].metric = "latency.p99";
  x->c[0].op = SBX__V1__COMPARE_OP__COMPARE_OP_LE;
  x->c[0].bound = 50000;
  x->c[0].text = "latency.p99 <= 50ms";
  x->co[0].measured = 4800;
  x->co[0].passed = 1;
  x->c[1].metric = "error_rate";
  x->c[1].op = SBX__V1__COMPARE_OP__COMPARE_OP_LE;
  x->c[1].bound = 0.001;
  x->c[1].text = "error_rate <= 0.001";
  x->co[1].measured = 0;
  x->co[1].passed = 1;
  x->c[2].metric = "throughput";
  x->c[2].op = SBX__V1__COMPARE_OP__COMPARE_OP_GE;
  x->c[2].bound = 1000;
  x->c[2].text = "throughput >= 1000/s";
  x->co[2].measured = 24310.2;
  x->co[2].passed = 1;
  x->r.n_criteria = 3;
  x->r.criteria = x->cop;
  x->r.verdict = SBX__V1__VERDICT__VERDICT_PASS;
}

static void fail_result(struct fixture *x) {
  base_result(x);
  x->r.run_id = 2;
  x->r.verdict = SBX__V1__VERDICT__VERDICT_FAIL;
  x->m.errors = 12;
  x->m.error_rate = 12.0 / 243102.0;
  x->ec[0].error = SBX__V1__ERROR_CLASS__ERROR_CLASS_RESET;
  x->ec[0].count = 2;
  x->ec[1].error = SBX__V1__ERROR_CLASS__ERROR_CLASS_TIMEOUT;
  x->ec[1].count = 10;
  x->ec[2].error = SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE;
  x->ec[2].count = 243090;
  for (int i = 0; i < 3; i++) {
    x->ec[i].base = (ProtobufCMessage)PROTOBUF_C_MESSAGE_INIT(
        &sbx__v1__error_count__descriptor);
    x->ecp[i] = &x->ec[i];
  }
  x->m.n_errors_by_class = 3;
  x->m.errors_by_class = x->ecp;
  x->co[1].measured = x->m.error_rate;
  /* Cannot be met, and its text needs escaping in XML. */
  x->c[2].bound = 50000;
  x->c[2].text = "throughput >= 50000/s";
  x->co[2].passed = 0;
  x->c[3].metric = "latency.max";
  x->c[3].op = SBX__V1__COMPARE_OP__COMPARE_OP_LT;
  x->c[3].bound = 0;
  x->c[3].text = "latency.max < 0us <&\"'> \"impossible\"";
  x->co[3].measured = 12400;
  x->co[3].passed = 0;
  x->r.n_criteria = 4;
}

static void invalid_result(struct fixture *x) {
  base_result(x);
  x->r.run_id = 3;
  x->r.verdict = SBX__V1__VERDICT__VERDICT_INVALID;
  x->r.product = "http://127.0.0.1:8080/\x1b[31mred";
  x->m.duration_s = 4.2;
  x->m.requests = 1200;
  x->m.completed = 1200;
  x->m.throughput = 285.7;
  x->m.checked = 1200;
  x->m.accuracy = 0.982;
  x->m.macro_f1 = 0.975;
  x->v.valid = 0;
  x->v.n_reasons = 2;
  x->v.reasons = x->reasons;
  x->reasons[0] = "min_duration not met: measured 4.2s, need 10s";
  x->reasons[1] = "schedule lag p99 31.0ms > 20ms\x01 (harness overloaded)";
  x->co[2].measured = 285.7;
  x->co[0].measurable = 0;
  x->co[0].passed = 0;
  x->c[0].text = ""; /* named from metric, op and bound */
}

static void error_result(struct fixture *x) {
  base_result(x);
  x->r.run_id = 4;
  x->r.verdict = SBX__V1__VERDICT__VERDICT_ERROR;
  x->r.metrics = NULL;
  x->r.validity = NULL;
  x->r.n_criteria = 0;
  x->r.ended_unix_ms = 0;
  x->r.error_message = "cannot connect to http://127.0.0.1:8080: Connection "
                       "refused\ncheck that the product is running";
}

/* ---- files ---- */

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  long n;

  if (f == NULL)
    return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
      fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
  }
  fclose(f);
  return buf;
}

static void spill(const char *path, const char *data, size_t len) {
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (f == NULL)
    return;
  CHECK(fwrite(data, 1, len, f) == len);
  CHECK(fclose(f) == 0);
}

static const char *source_dir(void) {
  const char *s = getenv("SBX_SOURCE_DIR");
  return s != NULL && s[0] != '\0' ? s : ".";
}

/* Compares got with the fixture NAME, or rewrites the fixture when
 * SBX_UPDATE_FIXTURES is set. */
static void check_fixture(const char *name, const char *got, size_t len) {
  char path[4096];
  char *want;
  size_t wlen = 0;

  snprintf(path, sizeof(path), "%s/tests/fixtures/report/%s", source_dir(),
           name);
  if (getenv("SBX_UPDATE_FIXTURES") != NULL) {
    spill(path, got, len);
    return;
  }
  want = slurp(path, &wlen);
  if (want == NULL) {
    fprintf(stderr, "missing fixture %s (SBX_UPDATE_FIXTURES=1 creates it)\n",
            path);
    test_failures++;
    return;
  }
  if (wlen != len || memcmp(want, got, len) != 0) {
    fprintf(stderr, "%s differs from the output:\n--- got\n%.*s--- end\n", path,
            (int)len, got);
    test_failures++;
  }
  free(want);
}

static char *text_of(const Sbx__V1__Result *r, int color, size_t *len) {
  char *buf = NULL;
  FILE *f = open_memstream(&buf, len);

  CHECK(f != NULL);
  if (f == NULL)
    return NULL;
  sbx_report_text(f, r, color);
  CHECK(!ferror(f));
  fclose(f);
  return buf;
}

static int have_xmllint(void) {
  return system("command -v xmllint >/dev/null 2>&1") == 0;
}

/* Renders r three ways; returns the JUnit text (caller frees). */
static char *render(const char *dir, const char *name,
                    const Sbx__V1__Result *r) {
  char path[4096], fx[128], cmd[4200];
  struct sbx_diag diag = {""};
  size_t len = 0;
  char *txt, *xml;
  json_t *j, *m;
  json_error_t jerr;

  txt = text_of(r, 0, &len);
  snprintf(fx, sizeof(fx), "%s.txt", name);
  if (txt != NULL)
    check_fixture(fx, txt, len);
  free(txt);

  snprintf(path, sizeof(path), "%s/%s.xml", dir, name);
  CHECK_EQ_INT(sbx_report_junit(path, r, &diag), 0);
  xml = slurp(path, &len);
  CHECK(xml != NULL);
  snprintf(fx, sizeof(fx), "%s.junit.xml", name);
  if (xml != NULL)
    check_fixture(fx, xml, len);
  if (have_xmllint()) {
    snprintf(cmd, sizeof(cmd), "xmllint --noout '%s'", path);
    CHECK_EQ_INT(system(cmd), 0);
  }

  snprintf(path, sizeof(path), "%s/%s.json", dir, name);
  CHECK_EQ_INT(sbx_report_json(path, r, &diag), 0);
  j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  CHECK(j != NULL);
  CHECK_EQ_STR(json_string_value(json_object_get(j, "runId")),
               json_string_value(json_object_get(j, "runId")));
  CHECK(json_is_string(json_object_get(j, "verdict")));
  /* Defaults are emitted, so scripts find every key. */
  CHECK(json_object_get(j, "errorMessage") != NULL);
  m = json_object_get(j, "metrics");
  if (r->metrics != NULL) {
    json_t *lh = json_object_get(m, "latencyHist");
    json_t *sh = json_object_get(m, "scheduleLagHist");
    CHECK(json_is_object(lh) && json_is_object(sh));
    CHECK(json_object_get(lh, "counts") == NULL);
    CHECK(json_object_get(sh, "counts") == NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(lh, "totalCount")), "10");
    CHECK_EQ_STR(json_string_value(json_object_get(m, "requests")),
                 r->run_id == 3 ? "1200" : "243102");
  } else {
    CHECK(json_is_null(m));
  }
  json_decref(j);
  return xml;
}

static void test_pass(const char *dir) {
  struct fixture x;
  char *xml, *txt;
  size_t len;

  base_result(&x);
  xml = render(dir, "pass", &x.r);
  CHECK(xml != NULL && strstr(xml, "tests=\"4\" failures=\"0\" errors=\"0\" "
                                   "skipped=\"0\"") != NULL);
  CHECK(xml != NULL &&
        strstr(xml, "timestamp=\"2024-05-01T12:00:00Z\"") != NULL);
  free(xml);
  /* With color: the verdict and the marks are wrapped in ANSI codes. */
  txt = text_of(&x.r, 1, &len);
  CHECK(txt != NULL && strstr(txt, "\x1b[1;32mPASS\x1b[0m") != NULL);
  CHECK(txt != NULL &&
        strstr(txt, "  \x1b[32mPASS\x1b[0m  latency.p99") != NULL);
  free(txt);
}

static void test_fail(const char *dir) {
  struct fixture x;
  char *xml;

  fail_result(&x);
  xml = render(dir, "fail", &x.r);
  CHECK(xml != NULL && strstr(xml, "tests=\"5\" failures=\"2\" errors=\"0\" "
                                   "skipped=\"0\"") != NULL);
  CHECK(xml != NULL &&
        strstr(xml, "name=\"throughput &gt;= 50000/s\" time=\"10.000\">\n"
                    "      <failure message=\"measured 24,310/s, bound &gt;= "
                    "50,000/s\" type=\"criterion\">") != NULL);
  CHECK(xml != NULL &&
        strstr(xml, "name=\"latency.max &lt; 0us &lt;&amp;&quot;&apos;&gt; "
                    "&quot;impossible&quot;\"") != NULL);
  free(xml);
}

static void test_invalid(const char *dir) {
  struct fixture x;
  char *xml, *txt;
  size_t len;

  invalid_result(&x);
  xml = render(dir, "invalid", &x.r);
  CHECK(xml != NULL && strstr(xml, "failures=\"2\"") != NULL);
  CHECK(xml != NULL && strchr(xml, '\x01') == NULL);
  CHECK(xml != NULL && strchr(xml, '\x1b') == NULL);
  CHECK(xml != NULL && strstr(xml, "type=\"validity\">- min_duration") != NULL);
  free(xml);
  txt = text_of(&x.r, 0, &len);
  CHECK(txt != NULL && strchr(txt, '\x1b') == NULL);
  CHECK(txt != NULL && strstr(txt, "8080/?[31mred") != NULL);
  free(txt);
}

static void test_error(const char *dir) {
  struct fixture x;
  char *xml;

  error_result(&x);
  xml = render(dir, "error", &x.r);
  CHECK(xml != NULL && strstr(xml, "tests=\"2\" failures=\"0\" errors=\"1\" "
                                   "skipped=\"1\"") != NULL);
  CHECK(xml != NULL && strstr(xml, "<error message=\"cannot connect") != NULL);
  free(xml);
}

static void test_unwritable(void) {
  struct fixture x;
  struct sbx_diag diag = {""};

  base_result(&x);
  CHECK_EQ_INT(sbx_report_junit("/nonexistent-sbx-dir/r.xml", &x.r, &diag),
               SBX_EIO);
  CHECK_EQ_STR(diag.msg, "cannot write /nonexistent-sbx-dir/r.xml: No such "
                         "file or directory; check the directory exists and "
                         "is writable");
  diag.msg[0] = '\0';
  CHECK_EQ_INT(sbx_report_json("/nonexistent-sbx-dir/r.json", &x.r, &diag),
               SBX_EIO);
  CHECK(strstr(diag.msg, "cannot write /nonexistent-sbx-dir/r.json") != NULL);
}

/* Atomic writes leave nothing but the reports behind; removes them. */
static void check_and_clean(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char path[4096];
  int files = 0;

  CHECK(d != NULL);
  if (d == NULL)
    return;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    CHECK(strstr(e->d_name, ".tmp-") == NULL);
    files++;
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(d);
  CHECK_EQ_INT(files, 8);
  CHECK(rmdir(dir) == 0);
}

int main(void) {
  char dir[] = "/tmp/sbx-test-report-XXXXXX";

  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  test_pass(dir);
  test_fail(dir);
  test_invalid(dir);
  test_error(dir);
  test_unwritable();
  check_and_clean(dir);
  return TEST_RESULT();
}
