/* test_check.c - answer checking and answer-quality metrics (check.h). */
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "digest.h"
#include "err.h"
#include "testlib.h"

#define C_NONE SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE
#define C_STATUS SBX__V1__ERROR_CLASS__ERROR_CLASS_HTTP_STATUS
#define C_FAILED SBX__V1__ERROR_CLASS__ERROR_CLASS_CHECK_FAILED

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static Sbx__V1__ErrorClass run(const Sbx__V1__Checks *ck,
                               const Sbx__V1__Expectation *ex, uint32_t status,
                               const char *body, struct sbx_quality *q) {
  /* Copy into an exact-size heap buffer with no terminator, so that ASan
   * catches any read past len. */
  size_t n = strlen(body);
  uint8_t *b = malloc(n ? n : 1);
  Sbx__V1__ErrorClass c;
  memcpy(b, body, n);
  c = sbx_check(ck, ex, status, n ? b : NULL, n, q);
  free(b);
  return c;
}

static void test_status(void) {
  Sbx__V1__Checks ck = SBX__V1__CHECKS__INIT;
  Sbx__V1__Expectation ex = SBX__V1__EXPECTATION__INIT;

  /* status 0: any 2xx */
  CHECK_EQ_INT(run(&ck, &ex, 200, "x", NULL), C_NONE);
  CHECK_EQ_INT(run(&ck, &ex, 204, "", NULL), C_NONE);
  CHECK_EQ_INT(run(&ck, &ex, 299, "", NULL), C_NONE);
  CHECK_EQ_INT(run(&ck, &ex, 301, "", NULL), C_STATUS);
  CHECK_EQ_INT(run(&ck, &ex, 199, "", NULL), C_STATUS);
  CHECK_EQ_INT(run(&ck, &ex, 500, "", NULL), C_STATUS);
  CHECK_EQ_INT(run(&ck, &ex, 0, "", NULL), C_STATUS);
  /* explicit status */
  ex.status = 404;
  CHECK_EQ_INT(run(&ck, &ex, 404, "", NULL), C_NONE);
  CHECK_EQ_INT(run(&ck, &ex, 200, "", NULL), C_STATUS);
  /* NULL expectation and checks */
  CHECK_EQ_INT(sbx_check(NULL, NULL, 200, NULL, 0, NULL), C_NONE);
  CHECK_EQ_INT(sbx_check(NULL, NULL, 503, NULL, 0, NULL), C_STATUS);
  /* body expectations are ignored unless verify_body */
  ex.status = 0;
  ex.label = "cat";
  CHECK_EQ_INT(run(&ck, &ex, 200, "dog", NULL), C_NONE);
  ck.verify_body = 1;
  CHECK_EQ_INT(run(&ck, &ex, 200, "dog", NULL), C_FAILED);
  /* a wrong status wins over the body */
  CHECK_EQ_INT(run(&ck, &ex, 500, "cat", NULL), C_STATUS);
}

static void test_exact_sha256(void) {
  Sbx__V1__Checks ck = SBX__V1__CHECKS__INIT;
  Sbx__V1__Expectation ex = SBX__V1__EXPECTATION__INIT;
  uint8_t h[crypto_hash_sha256_BYTES];
  ck.verify_body = 1;

  ex.exact.data = (uint8_t *)"hello";
  ex.exact.len = 5;
  CHECK_EQ_INT(run(&ck, &ex, 200, "hello", NULL), C_NONE);
  CHECK_EQ_INT(run(&ck, &ex, 200, "hello!", NULL), C_FAILED);
  CHECK_EQ_INT(run(&ck, &ex, 200, "hell", NULL), C_FAILED);
  CHECK_EQ_INT(run(&ck, &ex, 200, "", NULL), C_FAILED);
  /* embedded NUL bytes are compared too */
  {
    static const uint8_t a[] = {'a', 0, 'b'}, b[] = {'a', 0, 'c'};
    ex.exact.data = (uint8_t *)a;
    ex.exact.len = 3;
    CHECK_EQ_INT(sbx_check(&ck, &ex, 200, a, 3, NULL), C_NONE);
    CHECK_EQ_INT(sbx_check(&ck, &ex, 200, b, 3, NULL), C_FAILED);
  }
  ex.exact.data = NULL;
  ex.exact.len = 0;

  crypto_hash_sha256(h, (const uint8_t *)"payload", 7);
  ex.sha256.data = h;
  ex.sha256.len = sizeof(h);
  CHECK_EQ_INT(run(&ck, &ex, 200, "payload", NULL), C_NONE);
  CHECK_EQ_INT(run(&ck, &ex, 200, "payloaD", NULL), C_FAILED);
  /* the empty body has a hash as well */
  crypto_hash_sha256(h, (const uint8_t *)"", 0);
  CHECK_EQ_INT(sbx_check(&ck, &ex, 200, NULL, 0, NULL), C_NONE);
  /* a digest of the wrong size can never match */
  ex.sha256.len = 31;
  CHECK_EQ_INT(sbx_check(&ck, &ex, 200, NULL, 0, NULL), C_FAILED);
}

static Sbx__V1__ErrorClass json1(const char *path, const char *value,
                                 double tol, const char *body) {
  Sbx__V1__Checks ck = SBX__V1__CHECKS__INIT;
  Sbx__V1__Expectation ex = SBX__V1__EXPECTATION__INIT;
  Sbx__V1__JsonField f = SBX__V1__JSON_FIELD__INIT;
  Sbx__V1__JsonField *fs[1] = {&f};
  ck.verify_body = 1;
  f.path = (char *)path;
  f.value_json = (char *)value;
  f.tolerance = tol;
  ex.n_json = 1;
  ex.json = fs;
  return run(&ck, &ex, 200, body, NULL);
}

static void test_json(void) {
  const char *doc = "{\"a\":{\"b\":[10,{\"c\":\"x\"},[true,null]]},"
                    "\"n\":2.5,\"i\":7,\"0\":\"zero\",\"s\":\"\\u00e9\"}";

  CHECK_EQ_INT(json1("a.b.0", "10", 0, doc), C_NONE);
  CHECK_EQ_INT(json1("a.b.0", "11", 0, doc), C_FAILED);
  CHECK_EQ_INT(json1("a.b.1.c", "\"x\"", 0, doc), C_NONE);
  CHECK_EQ_INT(json1("a.b.1.c", "\"y\"", 0, doc), C_FAILED);
  CHECK_EQ_INT(json1("a.b.2.0", "true", 0, doc), C_NONE);
  CHECK_EQ_INT(json1("a.b.2.0", "false", 0, doc), C_FAILED);
  CHECK_EQ_INT(json1("a.b.2.1", "null", 0, doc), C_NONE);
  CHECK_EQ_INT(json1("a.b.2", "[true,null]", 0, doc), C_NONE);
  CHECK_EQ_INT(json1("a.b.2", "[true]", 0, doc), C_FAILED);
  CHECK_EQ_INT(json1("a.b.1", "{\"c\":\"x\"}", 0, doc), C_NONE);
  CHECK_EQ_INT(json1("a.b.1", "{\"c\":\"x\",\"d\":1}", 0, doc), C_FAILED);
  CHECK_EQ_INT(json1("s", "\"\\u00e9\"", 0, doc), C_NONE);
  /* numeric key on an object; index out of range; bad indices */
  CHECK_EQ_INT(json1("0", "\"zero\"", 0, doc), C_NONE);
  CHECK_EQ_INT(json1("a.b.3", "1", 0, doc), C_FAILED);
  CHECK_EQ_INT(json1("a.b.01", "10", 0, doc), C_FAILED);
  CHECK_EQ_INT(json1("a.b.x", "10", 0, doc), C_FAILED);
  CHECK_EQ_INT(json1("a.b.-1", "10", 0, doc), C_FAILED);
  CHECK_EQ_INT(json1("a.b.99999999999999999999", "10", 0, doc), C_FAILED);
  CHECK_EQ_INT(json1("a..b", "10", 0, doc), C_FAILED);
  CHECK_EQ_INT(json1("n.x", "1", 0, doc), C_FAILED);
  CHECK_EQ_INT(json1("missing", "1", 0, doc), C_FAILED);
  /* empty value: presence only; empty path: the document */
  CHECK_EQ_INT(json1("a.b", "", 0, doc), C_NONE);
  CHECK_EQ_INT(json1("a.z", "", 0, doc), C_FAILED);
  CHECK_EQ_INT(json1("", "[1,2]", 0, "[1,2]"), C_NONE);
  /* numbers: tolerance, integer vs real */
  CHECK_EQ_INT(json1("n", "2.5", 0, doc), C_NONE);
  CHECK_EQ_INT(json1("n", "2.6", 0, doc), C_FAILED);
  CHECK_EQ_INT(json1("n", "2.6", 0.11, doc), C_NONE);
  CHECK_EQ_INT(json1("n", "2.4", 0.11, doc), C_NONE);
  CHECK_EQ_INT(json1("n", "2.7", 0.11, doc), C_FAILED);
  CHECK_EQ_INT(json1("i", "7.0", 0, doc), C_NONE);
  CHECK_EQ_INT(json1("i", "8", 0.5, doc), C_FAILED);
  CHECK_EQ_INT(json1("i", "8", 1, doc), C_NONE);
  CHECK_EQ_INT(json1("a.b", "[10.05,{\"c\":\"x\"},[true,null]]", 0.1, doc),
               C_NONE);
  CHECK_EQ_INT(json1("i", "\"7\"", 0, doc), C_FAILED);
  CHECK_EQ_INT(json1("i", "7", -1, doc), C_NONE); /* negative tol = 0 */
  CHECK_EQ_INT(json1("n", "2.6", NAN, doc), C_FAILED);
  /* an invalid expected value never passes */
  CHECK_EQ_INT(json1("i", "{oops", 0, doc), C_FAILED);
  /* malformed and hostile bodies */
  CHECK_EQ_INT(json1("a", "1", 0, "{\"a\":1"), C_FAILED);
  CHECK_EQ_INT(json1("a", "1", 0, "{\"a\":1}garbage"), C_FAILED);
  CHECK_EQ_INT(json1("a", "1", 0, "{\"a\":1,\"a\":1}"), C_FAILED);
  CHECK_EQ_INT(json1("a", "1", 0, ""), C_FAILED);
  CHECK_EQ_INT(json1("a", "1", 0, "not json"), C_FAILED);
  CHECK_EQ_INT(json1("a", "\"x\"", 0, "{\"a\":\"x\\u0000\"}"), C_FAILED);
  {
    /* a deep nest must be refused by the parser, not crash us */
    size_t n = 100000;
    char *deep = malloc(2 * n + 1);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    CHECK_EQ_INT(json1("0", "1", 0, deep), C_FAILED);
    free(deep);
  }
  {
    /* a NUL byte inside the body, with valid JSON before it */
    static const uint8_t b[] = "{\"a\":1}\0{}";
    Sbx__V1__Checks ck = SBX__V1__CHECKS__INIT;
    Sbx__V1__Expectation ex = SBX__V1__EXPECTATION__INIT;
    Sbx__V1__JsonField f = SBX__V1__JSON_FIELD__INIT;
    Sbx__V1__JsonField *fs[1] = {&f};
    ck.verify_body = 1;
    f.path = "a";
    f.value_json = "1";
    ex.n_json = 1;
    ex.json = fs;
    CHECK_EQ_INT(sbx_check(&ck, &ex, 200, b, sizeof(b) - 1, NULL), C_FAILED);
    CHECK_EQ_INT(sbx_check(&ck, &ex, 200, b, 7, NULL), C_NONE);
  }
}

static Sbx__V1__ErrorClass label1(const char *want, const char *body,
                                  struct sbx_quality *q) {
  Sbx__V1__Checks ck = SBX__V1__CHECKS__INIT;
  Sbx__V1__Expectation ex = SBX__V1__EXPECTATION__INIT;
  ck.verify_body = 1;
  ex.label = (char *)want;
  return run(&ck, &ex, 200, body, q);
}

static void test_label(void) {
  CHECK_EQ_INT(label1("cat", "cat", NULL), C_NONE);
  CHECK_EQ_INT(label1("cat", "  cat\r\n", NULL), C_NONE);
  CHECK_EQ_INT(label1("cat", "Cat", NULL), C_FAILED);
  CHECK_EQ_INT(label1("cat", "cats", NULL), C_FAILED);
  CHECK_EQ_INT(label1("cat", "", NULL), C_FAILED);
  CHECK_EQ_INT(label1("cat", " \t\n", NULL), C_FAILED);
  CHECK_EQ_INT(label1("cat", "{\"label\":\"cat\",\"score\":0.9}", NULL),
               C_NONE);
  CHECK_EQ_INT(label1("cat", " {\"label\": \"dog\"} ", NULL), C_FAILED);
  CHECK_EQ_INT(label1("cat", "{\"label\":1}", NULL), C_FAILED);
  CHECK_EQ_INT(label1("cat", "{\"class\":\"cat\"}", NULL), C_FAILED);
  CHECK_EQ_INT(label1("cat", "\"cat\"", NULL), C_NONE);
  /* malformed JSON is not read as a plain-text label */
  CHECK_EQ_INT(label1("cat", "{\"label\":\"cat\"", NULL), C_FAILED);
  CHECK_EQ_INT(label1("cat", "{\"label\":\"cat\",\"label\":\"cat\"}", NULL),
               C_FAILED);
  CHECK_EQ_INT(label1("{x", "{x", NULL), C_FAILED);
  {
    static const uint8_t b[] = {'c', 'a', 't', 0};
    Sbx__V1__Checks ck = SBX__V1__CHECKS__INIT;
    Sbx__V1__Expectation ex = SBX__V1__EXPECTATION__INIT;
    ck.verify_body = 1;
    ex.label = "cat";
    CHECK_EQ_INT(sbx_check(&ck, &ex, 200, b, 4, NULL), C_FAILED);
    CHECK_EQ_INT(sbx_check(&ck, &ex, 200, b, 3, NULL), C_NONE);
  }
}

static Sbx__V1__ErrorClass num1(double want, double abs_tol, double rel_tol,
                                const char *body, struct sbx_quality *q) {
  Sbx__V1__Checks ck = SBX__V1__CHECKS__INIT;
  Sbx__V1__Expectation ex = SBX__V1__EXPECTATION__INIT;
  ck.verify_body = 1;
  ck.number_abs_tolerance = abs_tol;
  ck.number_rel_tolerance = rel_tol;
  ex.number = want;
  ex.has_number = 1;
  return run(&ck, &ex, 200, body, q);
}

static void test_number(void) {
  CHECK_EQ_INT(num1(42, 0, 0, "42", NULL), C_NONE);
  CHECK_EQ_INT(num1(42, 0, 0, " 42.0\n", NULL), C_NONE);
  CHECK_EQ_INT(num1(42, 0, 0, "4.2e1", NULL), C_NONE);
  CHECK_EQ_INT(num1(42, 0, 0, "42.001", NULL), C_FAILED);
  CHECK_EQ_INT(num1(0, 0, 0, "0", NULL), C_NONE);
  CHECK_EQ_INT(num1(0, 0, 0, "-0", NULL), C_NONE);
  /* absolute tolerance */
  CHECK_EQ_INT(num1(10, 0.5, 0, "10.5", NULL), C_NONE);
  CHECK_EQ_INT(num1(10, 0.5, 0, "9.5", NULL), C_NONE);
  CHECK_EQ_INT(num1(10, 0.5, 0, "10.6", NULL), C_FAILED);
  /* relative tolerance: 1% of 1000 is 10 */
  CHECK_EQ_INT(num1(1000, 0, 0.01, "1009", NULL), C_NONE);
  CHECK_EQ_INT(num1(1000, 0, 0.01, "1011", NULL), C_FAILED);
  CHECK_EQ_INT(num1(-1000, 0, 0.01, "-991", NULL), C_NONE);
  /* either tolerance suffices */
  CHECK_EQ_INT(num1(1000, 20, 0.01, "1015", NULL), C_NONE);
  CHECK_EQ_INT(num1(1, 0.01, 0.5, "1.4", NULL), C_NONE);
  CHECK_EQ_INT(num1(1, 0.01, 0.5, "1.6", NULL), C_FAILED);
  /* JSON object "value" */
  CHECK_EQ_INT(num1(3.5, 0, 0, "{\"value\":3.5}", NULL), C_NONE);
  CHECK_EQ_INT(num1(3, 0, 0, "{\"value\":3}", NULL), C_NONE);
  CHECK_EQ_INT(num1(3.5, 0, 0, "{\"value\":\"3.5\"}", NULL), C_FAILED);
  CHECK_EQ_INT(num1(3.5, 0, 0, "{\"v\":3.5}", NULL), C_FAILED);
  CHECK_EQ_INT(num1(3.5, 0, 0, "{\"value\":3.5", NULL), C_FAILED);
  /* not numbers */
  CHECK_EQ_INT(num1(16, 1e9, 0, "0x10", NULL), C_FAILED);
  CHECK_EQ_INT(num1(1, 1e300, 0, "nan", NULL), C_FAILED);
  CHECK_EQ_INT(num1(1, 1e300, 0, "inf", NULL), C_FAILED);
  CHECK_EQ_INT(num1(1, 1e300, 0, "1e999", NULL), C_FAILED);
  CHECK_EQ_INT(num1(1, 1e9, 0, "1 2", NULL), C_FAILED);
  CHECK_EQ_INT(num1(1, 1e9, 0, "", NULL), C_FAILED);
  CHECK_EQ_INT(num1(1, 1e9, 0, "e", NULL), C_FAILED);
  CHECK_EQ_INT(num1(1, 1e9, 0, "1e", NULL), C_FAILED);
  CHECK_EQ_INT(num1(1, 1e9, 0, "[1]", NULL), C_FAILED);
  /* an expected NaN never matches */
  CHECK_EQ_INT(num1(NAN, 1e9, 1e9, "1", NULL), C_FAILED);
  {
    /* a long run of digits is refused, never overflows our buffer */
    char big[400];
    memset(big, '1', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK_EQ_INT(num1(1, 1e308, 0, big, NULL), C_FAILED);
  }
}

static void test_combined(void) {
  /* every expectation must hold */
  Sbx__V1__Checks ck = SBX__V1__CHECKS__INIT;
  Sbx__V1__Expectation ex = SBX__V1__EXPECTATION__INIT;
  Sbx__V1__JsonField f = SBX__V1__JSON_FIELD__INIT;
  Sbx__V1__JsonField *fs[1] = {&f};
  struct sbx_quality *q = sbx_quality_new(&ck);
  Sbx__V1__Metrics m = SBX__V1__METRICS__INIT;
  ck.verify_body = 1;
  f.path = "label";
  f.value_json = "\"cat\"";
  ex.n_json = 1;
  ex.json = fs;
  ex.label = "cat";
  ex.number = 2;
  ex.has_number = 1;
  CHECK(q != NULL);
  CHECK_EQ_INT(run(&ck, &ex, 200, "{\"label\":\"cat\",\"value\":2}", q),
               C_NONE);
  CHECK_EQ_INT(run(&ck, &ex, 200, "{\"label\":\"cat\",\"value\":3}", q),
               C_FAILED);
  /* the json field fails first, yet label and number are still counted */
  f.value_json = "\"dog\"";
  CHECK_EQ_INT(run(&ck, &ex, 200, "{\"label\":\"cat\",\"value\":5}", q),
               C_FAILED);
  CHECK_EQ_INT(sbx_quality_fill(q, &m), 0);
  CHECK_EQ_INT(m.checked, 3);
  CHECK(NEAR(m.accuracy, 1.0 / 3));
  CHECK_EQ_INT(m.n_per_class, 1);
  CHECK_EQ_INT(m.per_class[0]->support, 3);
  CHECK(NEAR(m.per_class[0]->recall, 1.0));
  CHECK(NEAR(m.mae, (0 + 1 + 3) / 3.0));
  CHECK(NEAR(m.rmse, sqrt((0 + 1 + 9) / 3.0)));
  /* a second fill is refused rather than leaking the first */
  CHECK_EQ_INT(sbx_quality_fill(q, &m), SBX_EINVAL);
  for (size_t i = 0; i < m.n_per_class; i++) {
    free(m.per_class[i]->label);
    free(m.per_class[i]);
  }
  free(m.per_class);
  sbx_quality_free(q);
}

static const Sbx__V1__ClassScore *find_class(const Sbx__V1__Metrics *m,
                                             const char *label) {
  for (size_t i = 0; i < m->n_per_class; i++)
    if (strcmp(m->per_class[i]->label, label) == 0)
      return m->per_class[i];
  return NULL;
}

static void free_per_class(Sbx__V1__Metrics *m) {
  for (size_t i = 0; i < m->n_per_class; i++) {
    free(m->per_class[i]->label);
    free(m->per_class[i]);
  }
  free(m->per_class);
  m->per_class = NULL;
  m->n_per_class = 0;
}

/* Confusion matrix (rows expected, columns answered), 10 cases:
 *
 *             cat  dog  bird
 *      cat     3    1    0       support 4
 *      dog     1    2    0       support 3
 *      bird    0    1    1  +1 unanswered (wrong status)   support 3
 *
 * cat:  tp 3 fp 1 fn 1 -> P 3/4  R 3/4  F1 3/4
 * dog:  tp 2 fp 2 fn 1 -> P 2/4  R 2/3  F1 2*(1/2)(2/3)/(7/6) = 4/7
 * bird: tp 1 fp 0 fn 2 -> P 1    R 1/3  F1 2*(1/3)/(4/3) = 1/2
 * fish: declared, never seen: all 0, and left out of the macro average.
 * accuracy 6/10; macro F1 (3/4 + 4/7 + 1/2) / 3.
 */
static void test_quality_labels(void) {
  Sbx__V1__Checks ck = SBX__V1__CHECKS__INIT;
  char *labels[] = {"cat", "dog", "bird", "fish", "dog", ""};
  struct sbx_quality *q;
  Sbx__V1__Metrics m = SBX__V1__METRICS__INIT;
  const Sbx__V1__ClassScore *c;
  ck.labels = labels;
  ck.n_labels = 6;
  q = sbx_quality_new(&ck);
  CHECK(q != NULL);
  if (q == NULL)
    return;

  for (int i = 0; i < 3; i++)
    CHECK_EQ_INT(label1("cat", "cat", q), C_NONE);
  CHECK_EQ_INT(label1("cat", "{\"label\":\"dog\"}", q), C_FAILED);
  CHECK_EQ_INT(label1("dog", "cat", q), C_FAILED);
  CHECK_EQ_INT(label1("dog", "dog\n", q), C_NONE);
  CHECK_EQ_INT(label1("dog", "\"dog\"", q), C_NONE);
  CHECK_EQ_INT(label1("bird", "dog", q), C_FAILED);
  CHECK_EQ_INT(label1("bird", "bird", q), C_NONE);
  {
    Sbx__V1__Checks ck2 = SBX__V1__CHECKS__INIT;
    Sbx__V1__Expectation ex = SBX__V1__EXPECTATION__INIT;
    ck2.verify_body = 1;
    ex.label = "bird";
    CHECK_EQ_INT(run(&ck2, &ex, 503, "bird", q), C_STATUS);
  }

  CHECK_EQ_INT(sbx_quality_fill(q, &m), 0);
  CHECK_EQ_INT(m.checked, 10);
  CHECK(NEAR(m.accuracy, 0.6));
  CHECK_EQ_INT(m.n_per_class, 4);             /* duplicates and "" skipped */
  CHECK_EQ_STR(m.per_class[0]->label, "cat"); /* declared order */
  CHECK_EQ_STR(m.per_class[3]->label, "fish");
  c = find_class(&m, "cat");
  CHECK(c && NEAR(c->precision, 0.75) && NEAR(c->recall, 0.75) &&
        NEAR(c->f1, 0.75) && c->support == 4);
  c = find_class(&m, "dog");
  CHECK(c && NEAR(c->precision, 0.5) && NEAR(c->recall, 2.0 / 3) &&
        NEAR(c->f1, 4.0 / 7) && c->support == 3);
  c = find_class(&m, "bird");
  CHECK(c && NEAR(c->precision, 1.0) && NEAR(c->recall, 1.0 / 3) &&
        NEAR(c->f1, 0.5) && c->support == 3);
  c = find_class(&m, "fish");
  CHECK(c && c->precision == 0 && c->recall == 0 && c->f1 == 0 &&
        c->support == 0);
  CHECK(NEAR(m.macro_f1, (0.75 + 4.0 / 7 + 0.5) / 3));
  CHECK(isnan(m.mae) && isnan(m.rmse)); /* no number compared */
  free_per_class(&m);

  /* an unanswered case counts as checked and wrong */
  {
    Sbx__V1__Checks ck2 = SBX__V1__CHECKS__INIT;
    Sbx__V1__Expectation ex = SBX__V1__EXPECTATION__INIT;
    ex.label = "cat";
    sbx_quality_unanswered(q, &ck2, &ex); /* verify_body off: nothing */
    ck2.verify_body = 1;
    sbx_quality_unanswered(q, &ck2, &ex);
    sbx_quality_unanswered(NULL, &ck2, &ex);
    CHECK_EQ_INT(sbx_quality_fill(q, &m), 0);
    CHECK_EQ_INT(m.checked, 11);
    c = find_class(&m, "cat");
    CHECK(c && c->support == 5 && NEAR(c->recall, 0.6));
    free_per_class(&m);
  }
  sbx_quality_free(q);
}

static void test_quality_hostile_labels(void) {
  struct sbx_quality *q = sbx_quality_new(NULL);
  Sbx__V1__Metrics m = SBX__V1__METRICS__INIT;
  const Sbx__V1__ClassScore *c;
  char buf[64];
  CHECK(q != NULL);
  if (q == NULL)
    return;
  /* a product answering garbage: each distinct answer would be a class */
  for (int i = 0; i < 3000; i++) {
    snprintf(buf, sizeof(buf), "junk%d", i);
    CHECK_EQ_INT(label1("real", buf, q), C_FAILED);
  }
  /* unprintable or invalid UTF-8 answers never name a class */
  CHECK_EQ_INT(label1("real", "a\001b", q), C_FAILED);
  CHECK_EQ_INT(label1("real", "\xc3\x28", q), C_FAILED);
  CHECK_EQ_INT(label1("real", "\xed\xa0\x80", q), C_FAILED);
  CHECK_EQ_INT(label1("real", "caf\xc3\xa9", q), C_FAILED); /* valid */
  /* real classes still get their own entries after the flood */
  for (int i = 0; i < 2000; i++) {
    snprintf(buf, sizeof(buf), "class%d", i);
    CHECK_EQ_INT(label1(buf, buf, q), C_NONE);
  }
  CHECK_EQ_INT(sbx_quality_fill(q, &m), 0);
  CHECK_EQ_INT(m.n_per_class, SBX_QUALITY_MAX_CLASSES + 1);
  CHECK(find_class(&m, "real") != NULL);
  CHECK(find_class(&m, "class0") != NULL);
  CHECK(find_class(&m, "junk0") != NULL);
  CHECK(find_class(&m, "junk600") == NULL);
  CHECK(find_class(&m, "caf\xc3\xa9") == NULL); /* answer slots were full */
  c = find_class(&m, SBX_QUALITY_OTHER_LABEL);
  CHECK(c != NULL);
  /* every label in the results is printable UTF-8 */
  for (size_t i = 0; i < m.n_per_class; i++)
    for (const char *p = m.per_class[i]->label; *p; p++)
      CHECK((unsigned char)*p >= 0x20);
  CHECK_EQ_INT(m.checked, 3004 + 2000);
  free_per_class(&m);
  sbx_quality_free(q);
}

static void test_quality_numbers(void) {
  struct sbx_quality *q = sbx_quality_new(NULL);
  Sbx__V1__Metrics m = SBX__V1__METRICS__INIT;
  CHECK(q != NULL);
  if (q == NULL)
    return;
  /* errors 1, 2, 0, 3 (the last one fails the check but is counted) */
  CHECK_EQ_INT(num1(10, 2, 0, "11", q), C_NONE);
  CHECK_EQ_INT(num1(10, 2, 0, "{\"value\":8}", q), C_NONE);
  CHECK_EQ_INT(num1(-5, 2, 0, "-5", q), C_NONE);
  CHECK_EQ_INT(num1(0, 2, 0, "3", q), C_FAILED);
  /* no number: checked and wrong, but adds no error */
  CHECK_EQ_INT(num1(0, 2, 0, "zero", q), C_FAILED);
  CHECK_EQ_INT(sbx_quality_fill(q, &m), 0);
  CHECK_EQ_INT(m.checked, 5);
  CHECK(NEAR(m.accuracy, 0.6));
  CHECK(NEAR(m.mae, 6.0 / 4));
  CHECK(NEAR(m.rmse, sqrt(14.0 / 4)));
  CHECK_EQ_INT(m.n_per_class, 0);
  CHECK(m.macro_f1 == 0);
  sbx_quality_free(q);

  /* NULL quality: nothing measured */
  {
    Sbx__V1__Metrics m2 = SBX__V1__METRICS__INIT;
    CHECK_EQ_INT(sbx_quality_fill(NULL, &m2), 0);
    CHECK_EQ_INT(m2.checked, 0);
    CHECK(isnan(m2.mae) && isnan(m2.rmse));
    CHECK_EQ_INT(sbx_quality_fill(NULL, NULL), SBX_EINVAL);
  }
  sbx_quality_free(NULL);
}

static void test_quality_scope(void) {
  /* only cases with a compared body expectation count as checked */
  struct sbx_quality *q = sbx_quality_new(NULL);
  Sbx__V1__Checks ck = SBX__V1__CHECKS__INIT;
  Sbx__V1__Expectation ex = SBX__V1__EXPECTATION__INIT;
  Sbx__V1__Metrics m = SBX__V1__METRICS__INIT;
  CHECK(q != NULL);
  if (q == NULL)
    return;
  ck.verify_body = 1;
  CHECK_EQ_INT(run(&ck, &ex, 200, "x", q), C_NONE); /* status only */
  CHECK_EQ_INT(run(&ck, &ex, 500, "x", q), C_STATUS);
  ex.label = "x";
  ck.verify_body = 0;
  CHECK_EQ_INT(run(&ck, &ex, 200, "y", q), C_NONE); /* not compared */
  CHECK_EQ_INT(sbx_quality_fill(q, &m), 0);
  CHECK_EQ_INT(m.checked, 0);
  CHECK_EQ_INT(m.n_per_class, 0);
  sbx_quality_free(q);
}

/* ---- the SHA-256 memo (used only when a struct sbx_quality is given) ---- */

/* Checks body[0..n) against the digest of want[0..wn) with quality q; the
 * body is copied to an exact-size heap buffer so ASan sees overreads. */
static Sbx__V1__ErrorClass sha_check(struct sbx_quality *q, const uint8_t *want,
                                     size_t wn, const uint8_t *body, size_t n) {
  Sbx__V1__Checks ck = SBX__V1__CHECKS__INIT;
  Sbx__V1__Expectation ex = SBX__V1__EXPECTATION__INIT;
  uint8_t h[SBX_SHA256_BYTES];
  uint8_t *b = malloc(n ? n : 1);
  Sbx__V1__ErrorClass c;
  ck.verify_body = 1;
  CHECK_EQ_INT(sbx_sha256(want, wn, h), 0);
  ex.sha256.data = h;
  ex.sha256.len = sizeof(h);
  memcpy(b, body, n);
  c = sbx_check(&ck, &ex, 200, n ? b : NULL, n, q);
  free(b);
  return c;
}

static void test_sha256_memo(void) {
  struct sbx_quality *q = sbx_quality_new(NULL);
  Sbx__V1__Metrics m = SBX__V1__METRICS__INIT;
  uint8_t a[300], b[300], bodies[200][12];
  uint64_t checks = 0, right = 0;
  size_t i, k;
  CHECK(q != NULL);
  if (q == NULL)
    return;

#define EXPECT(want, wn, body, n, cls)                                         \
  do {                                                                         \
    Sbx__V1__ErrorClass r_ = sha_check(q, want, wn, body, n);                  \
    CHECK_EQ_INT(r_, cls);                                                     \
    checks++;                                                                  \
    right += r_ == C_NONE;                                                     \
  } while (0)

  /* Equal length, same first 32 bytes (so the same memo slot), different
   * bytes further on: a remembered body must not answer for the other. */
  memset(a, 'x', sizeof(a));
  memcpy(b, a, sizeof(b));
  b[80] = 'y';
  for (k = 0; k < 3; k++) {
    EXPECT(a, 100, a, 100, C_NONE);
    EXPECT(a, 100, b, 100, C_FAILED);
    EXPECT(b, 100, b, 100, C_NONE);
    EXPECT(b, 100, a, 100, C_FAILED);
  }
  /* ...nor a body that is a prefix of it, or the same bytes longer */
  EXPECT(a, 100, a, 99, C_FAILED);
  EXPECT(a, 100, a, 101, C_FAILED);
  EXPECT(a, 99, a, 99, C_NONE);
  EXPECT(a, 100, a, 100, C_NONE);
  /* the empty body, remembered too */
  EXPECT(a, 0, a, 0, C_NONE);
  EXPECT(a, 0, a, 0, C_NONE);
  EXPECT(a, 1, a, 0, C_FAILED);

  /* 256 bytes is the longest body remembered, 257 is hashed every time;
   * both give the right answer, also when only the last byte differs. */
  for (i = 0; i < sizeof(a); i++) {
    a[i] = (uint8_t)(i * 7 + 1);
    b[i] = a[i];
  }
  b[255] ^= 1;
  b[256] ^= 1;
  for (k = 0; k < 2; k++) {
    EXPECT(a, 256, a, 256, C_NONE);
    EXPECT(a, 256, b, 256, C_FAILED);
    EXPECT(b, 256, b, 256, C_NONE);
    EXPECT(b, 256, a, 256, C_FAILED);
    EXPECT(a, 257, a, 257, C_NONE);
    EXPECT(a, 257, b, 257, C_FAILED);
    EXPECT(b, 257, b, 257, C_NONE);
    EXPECT(a, 256, a, 257, C_FAILED);
    EXPECT(a, 257, a, 256, C_FAILED);
  }
  /* b differs from a only in byte 256: equal as 256-byte bodies */
  b[255] ^= 1;
  EXPECT(a, 256, b, 256, C_NONE);
  EXPECT(a, 257, b, 257, C_FAILED);

  /* Far more distinct small bodies than the memo has slots: slots are
   * reused, and every body is still judged by its own digest, in a second
   * pass (in the other order) as in the first. */
  for (i = 0; i < 200; i++) {
    memset(bodies[i], 'b', sizeof(bodies[i]));
    bodies[i][0] = (uint8_t)('0' + i % 10);
    bodies[i][1] = (uint8_t)('0' + i / 10 % 10);
    bodies[i][2] = (uint8_t)('0' + i / 100);
  }
  for (i = 0; i < 200; i++) {
    EXPECT(bodies[i], 12, bodies[i], 12, C_NONE);
    EXPECT(bodies[(i + 1) % 200], 12, bodies[i], 12, C_FAILED);
  }
  for (k = 0; k < 2; k++) {
    for (i = 200; i-- > 0;) {
      EXPECT(bodies[i], 12, bodies[i], 12, C_NONE);
      EXPECT(bodies[i], 12, bodies[(i + 199) % 200], 12, C_FAILED);
      /* a body of another length with the same prefix */
      EXPECT(bodies[i], 12, bodies[i], 11, C_FAILED);
    }
  }
#undef EXPECT

  /* every one of them was counted as checked, the right ones as correct */
  CHECK_EQ_INT(sbx_quality_fill(q, &m), 0);
  CHECK_EQ_INT(m.checked, checks);
  CHECK(NEAR(m.accuracy, (double)right / (double)checks));
  free_per_class(&m);
  sbx_quality_free(q);
}

int main(void) {
  test_status();
  test_exact_sha256();
  test_json();
  test_label();
  test_number();
  test_combined();
  test_quality_labels();
  test_quality_hostile_labels();
  test_quality_numbers();
  test_quality_scope();
  test_sha256_memo();
  return TEST_RESULT();
}
