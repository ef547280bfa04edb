/* test_dataset.c - JSON Lines cases: fields, limits and every error. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "err.h"
#include "testlib.h"

/* Parses text, expecting success; returns the dataset (or NULL). */
static struct sbx_dataset *parse_ok(const char *text) {
  struct sbx_dataset *ds = (struct sbx_dataset *)1;
  struct sbx_diag d = {{0}};
  int rc = sbx_dataset_parse("d.jsonl", text, strlen(text), &ds, &d);
  if (rc != 0)
    fprintf(stderr, "unexpected failure: %s\n", d.msg);
  CHECK_EQ_INT(rc, 0);
  return rc == 0 ? ds : NULL;
}

/* Parses text, expecting failure with exactly msg. */
static void parse_bad(const char *text, size_t len, const char *msg) {
  struct sbx_dataset *ds = (struct sbx_dataset *)1;
  struct sbx_diag d = {{0}};
  int rc = sbx_dataset_parse("d.jsonl", text, len, &ds, &d);
  CHECK_EQ_INT(rc, SBX_EDATASET);
  CHECK(ds == NULL);
  CHECK_EQ_STR(d.msg, msg);
}
#define BAD(text, msg) parse_bad(text, strlen(text), msg)

static void test_fields(void) {
  static const char text[] =
      "\xef\xbb\xbf# comment line\r\n"
      "\n"
      "   \t\n"
      "{\"id\": \"a\", \"input\": \"hi\", \"path\": \"/x?q=1\", "
      "\"arrival_offset_us\": 1500, \"expect\": {\"status\": 201, "
      "\"exact\": \"ok\", \"sha256\": "
      "\"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08\", "
      "\"json\": [{\"path\": \"a.b.0\", \"value\": {\"k\": [1, 2.5]}, "
      "\"tolerance\": 0.25}, {\"path\": \"n\", \"value\": null}], "
      "\"label\": \"cat\", \"number\": -2.5}}\r\n"
      "{\"id\": \"b\", \"input_base64\": \"AAEC/w==\", \"expect\": "
      "{\"exact_base64\": \"\"}}\n"
      "{\"id\": \"c\"}";
  static const uint8_t sha[8] = {0x9f, 0x86, 0xd0, 0x81,
                                 0x88, 0x4c, 0x7d, 0x65};
  uint8_t want[32];
  struct sbx_dataset *ds = parse_ok(text);
  const Sbx__V1__Case *k;

  if (ds == NULL)
    return;
  CHECK_EQ_INT(ds->n_cases, 3);
  crypto_hash_sha256(want, (const unsigned char *)text, strlen(text));
  CHECK(memcmp(ds->sha256, want, 32) == 0);

  k = ds->cases[0];
  CHECK_EQ_STR(k->id, "a");
  CHECK(k->input.len == 2 && memcmp(k->input.data, "hi", 2) == 0);
  CHECK_EQ_STR(k->path, "/x?q=1");
  CHECK(k->has_arrival_offset && k->arrival_offset_us == 1500);
  CHECK_EQ_INT(k->expect->status, 201);
  CHECK(k->expect->exact.len == 2 &&
        memcmp(k->expect->exact.data, "ok", 2) == 0);
  CHECK(k->expect->sha256.len == 32 &&
        memcmp(k->expect->sha256.data, sha, sizeof(sha)) == 0);
  CHECK_EQ_INT(k->expect->n_json, 2);
  if (k->expect->n_json == 2) {
    CHECK_EQ_STR(k->expect->json[0]->path, "a.b.0");
    CHECK_EQ_STR(k->expect->json[0]->value_json, "{\"k\":[1,2.5]}");
    CHECK(k->expect->json[0]->tolerance == 0.25);
    CHECK_EQ_STR(k->expect->json[1]->value_json, "null");
  }
  CHECK_EQ_STR(k->expect->label, "cat");
  CHECK(k->expect->has_number && k->expect->number == -2.5);

  k = ds->cases[1];
  CHECK(k->input.len == 4 && k->input.data[0] == 0 && k->input.data[3] == 0xff);
  CHECK(k->expect->exact.len == 0);
  CHECK(!k->has_arrival_offset);

  /* Defaults: expect always present, strings empty but allocated. */
  k = ds->cases[2];
  CHECK(k->expect != NULL && k->expect->status == 0);
  CHECK_EQ_STR(k->path, "");
  CHECK_EQ_STR(k->expect->label, "");
  CHECK(!k->expect->has_number);

  /* The cases serialise: every field is a valid protobuf value. */
  {
    size_t n = sbx__v1__case__get_packed_size(ds->cases[0]);
    uint8_t *buf = malloc(n);
    Sbx__V1__Case *back;
    CHECK(buf != NULL);
    if (buf != NULL) {
      sbx__v1__case__pack(ds->cases[0], buf);
      back = sbx__v1__case__unpack(NULL, n, buf);
      CHECK(back != NULL && strcmp(back->id, "a") == 0 &&
            back->expect->n_json == 2);
      if (back != NULL)
        sbx__v1__case__free_unpacked(back, NULL);
      free(buf);
    }
  }
  sbx_dataset_free(ds);
  sbx_dataset_free(NULL);
}

static void test_errors(void) {
  BAD("", "d.jsonl:1:1: cases: dataset is empty; add at least one case, one "
          "JSON object per line");
  BAD("# only\n\n", "d.jsonl:1:1: cases: dataset is empty; add at least one "
                    "case, one JSON object per line");
  BAD("{\"id\": \"a\"}\n{\"id\": x}\n",
      "d.jsonl:2:8: cases[#1]: invalid JSON: invalid token near 'x'; write "
      "one JSON object per line");
  BAD("{\"id\": \"a\", \"id\": \"b\"}",
      "d.jsonl:1:16: cases[#0]: invalid JSON: duplicate object key near "
      "'\"id\"'; write one JSON object per line");
  BAD("{\"id\": \"a\"} {\"id\": \"b\"}",
      "d.jsonl:1:13: cases[#0]: invalid JSON: end of file expected near "
      "'{'; write one JSON object per line");
  BAD("\"just a string\"",
      "d.jsonl:1:15: cases[#0]: invalid JSON: '[' or '{' expected near "
      "'\"just a string\"'; write one JSON object per line");
  BAD("[1]", "d.jsonl:1:1: cases[#0]: expected a JSON object, got an array; "
             "write one object per line, e.g. {\"id\": \"c1\", \"input\": "
             "\"...\"}");
  BAD("{\"path\": \"/a\"}", "d.jsonl:1:1: cases[#0].id: missing; give every "
                            "case a unique id, e.g. \"id\": \"c1\"");
  BAD("{\"id\": 7}", "d.jsonl:1:1: cases[#0].id: expected a string, got a "
                     "number; write e.g. \"id\": \"c1\"");
  BAD("{\"id\": \"\"}", "d.jsonl:1:1: cases[#0].id: must be 1 to 256 bytes "
                        "without control characters; write e.g. \"id\": "
                        "\"c1\"");
  BAD("{\"id\": \"a\"}\n\n{\"id\": \"b\"}\n{\"id\": \"a\"}",
      "d.jsonl:4:1: cases[a].id: duplicate id, first used on line 1; give "
      "each case its own id");
  BAD("{\"id\": \"a b\", \"foo\": 1}",
      "d.jsonl:1:1: cases[\"a b\"]: unknown key \"foo\"; known keys are id, "
      "input, input_base64, path, arrival_offset_us, expect");
  BAD("{\"id\": \"a\", \"inputs\": \"x\"}",
      "d.jsonl:1:1: cases[a]: unknown key \"inputs\"; did you mean "
      "\"input\"?");
  BAD("{\"id\": \"a\", \"status\": 200}",
      "d.jsonl:1:1: cases[a]: \"status\" belongs inside \"expect\"; write "
      "\"expect\": {\"status\": ...}");
  BAD("{\"id\": \"a\", \"input\": 5}",
      "d.jsonl:1:1: cases[a].input: expected a string, got a number; for "
      "binary bodies use \"input_base64\"");
  BAD("{\"id\": \"a\", \"input_base64\": \"aGk\"}",
      "d.jsonl:1:1: cases[a].input_base64: not valid base64; use the "
      "standard alphabet (A-Z a-z 0-9 + /) with = padding, as a JSON "
      "string");
  BAD("{\"id\": \"a\", \"input_base64\": \"aG-_\"}",
      "d.jsonl:1:1: cases[a].input_base64: not valid base64; use the "
      "standard alphabet (A-Z a-z 0-9 + /) with = padding, as a JSON "
      "string");
  BAD("{\"id\": \"a\", \"path\": \"a/b\"}",
      "d.jsonl:1:1: cases[a].path: expected an HTTP path starting with \"/\" "
      "without spaces or control characters, got \"a/b\"; percent-encode "
      "them, e.g. \"/a%20b\"");
  BAD("{\"id\": \"a\", \"path\": \"/a b\"}",
      "d.jsonl:1:1: cases[a].path: expected an HTTP path starting with \"/\" "
      "without spaces or control characters, got \"/a b\"; percent-encode "
      "them, e.g. \"/a%20b\"");
  BAD("{\"id\": \"a\", \"arrival_offset_us\": -1}",
      "d.jsonl:1:1: cases[a].arrival_offset_us: expected an integer number "
      "of microseconds >= 0 since the start of the trace; write e.g. "
      "\"arrival_offset_us\": 1500");
  BAD("{\"id\": \"a\", \"arrival_offset_us\": 1.5}",
      "d.jsonl:1:1: cases[a].arrival_offset_us: expected an integer number "
      "of microseconds >= 0 since the start of the trace; write e.g. "
      "\"arrival_offset_us\": 1500");
  BAD("{\"id\": \"a\", \"expect\": []}",
      "d.jsonl:1:1: cases[a].expect: expected an object, got an array; "
      "write e.g. \"expect\": {\"status\": 200}");
  BAD("{\"id\": \"a\", \"expect\": {\"stauts\": 200}}",
      "d.jsonl:1:1: cases[a].expect: unknown key \"stauts\"; did you mean "
      "\"status\"?");
  BAD("{\"id\": \"a\", \"expect\": {\"status\": 99}}",
      "d.jsonl:1:1: cases[a].expect.status: expected an HTTP status code "
      "from 100 to 599; write e.g. \"status\": 200");
  BAD("{\"id\": \"a\", \"expect\": {\"status\": \"200\"}}",
      "d.jsonl:1:1: cases[a].expect.status: expected an HTTP status code "
      "from 100 to 599; write e.g. \"status\": 200");
  BAD("{\"id\": \"a\", \"expect\": {\"exact\": \"x\", \"exact_base64\": "
      "\"eA==\"}}",
      "d.jsonl:1:1: cases[a].expect.exact_base64: conflicts with \"exact\"; "
      "keep only one of exact or exact_base64");
  BAD("{\"id\": \"a\", \"expect\": {\"sha256\": \"zz\"}}",
      "d.jsonl:1:1: cases[a].expect.sha256: expected 64 hexadecimal digits; "
      "write the SHA-256 of the expected body, e.g. from sha256sum");
  BAD("{\"id\": \"a\", \"expect\": {\"sha256\": "
      "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0g\"}}",
      "d.jsonl:1:1: cases[a].expect.sha256: expected 64 hexadecimal digits; "
      "write the SHA-256 of the expected body, e.g. from sha256sum");
  BAD("{\"id\": \"a\", \"expect\": {\"json\": {}}}",
      "d.jsonl:1:1: cases[a].expect.json: expected an array, got an object; "
      "write e.g. \"json\": [{\"path\": \"a.b\", \"value\": 1}]");
  BAD("{\"id\": \"a\", \"expect\": {\"json\": [{\"path\": \"a\", \"value\": "
      "1}, {\"path\": \"a..b\", \"value\": 1}]}}",
      "d.jsonl:1:1: cases[a].expect.json[1]: bad path \"a..b\"; write "
      "dot-separated keys and array indexes, e.g. \"items.0.name\"");
  BAD("{\"id\": \"a\", \"expect\": {\"json\": [{\"path\": \"a\"}]}}",
      "d.jsonl:1:1: cases[a].expect.json[0]: \"value\" is missing; give the "
      "expected JSON value, e.g. \"value\": 42");
  BAD("{\"id\": \"a\", \"expect\": {\"json\": [{\"path\": \"a\", \"value\": 1, "
      "\"tolerance\": -1}]}}",
      "d.jsonl:1:1: cases[a].expect.json[0]: \"tolerance\" must be a number "
      ">= 0; write e.g. \"tolerance\": 0.01");
  BAD("{\"id\": \"a\", \"expect\": {\"json\": [{\"path\": \"a\", \"value\": 1, "
      "\"tol\": 1}]}}",
      "d.jsonl:1:1: cases[a].expect.json[0]: unknown key \"tol\"; known keys "
      "are path, value, tolerance");
  BAD("{\"id\": \"a\", \"expect\": {\"label\": \"\"}}",
      "d.jsonl:1:1: cases[a].expect.label: expected a non-empty label of at "
      "most 256 bytes without control characters; write e.g. \"label\": "
      "\"spam\"");
  BAD("{\"id\": \"a\", \"expect\": {\"number\": \"1\"}}",
      "d.jsonl:1:1: cases[a].expect.number: expected a number, got a string; "
      "write e.g. \"number\": 3.5");
  BAD("{\"id\": \"a\", \"input\": \"\\u0000\"}",
      "d.jsonl:1:29: cases[#0]: invalid JSON: \\u0000 is not allowed without "
      "JSON_ALLOW_NUL near '\"\\u0000\"'; write one JSON object per line");
  /* Raw bytes that are not JSON, including a NUL in the middle. */
  parse_bad("{\"id\": \"a\"}\n{\0}", 15,
            "d.jsonl:2:2: cases[#1]: invalid JSON: string or '}' expected "
            "near end of file; write one JSON object per line");
}

static void test_limits(void) {
  size_t n = SBX_DATASET_MAX_LINE + 64, i;
  char *big = malloc(n + 1);
  struct sbx_dataset *ds = NULL;
  struct sbx_diag d = {{0}};
  int rc;

  CHECK(big != NULL);
  if (big == NULL)
    return;
  /* One line just over 1 MiB: refused before jansson sees it. */
  i = (size_t)snprintf(big, n, "{\"id\": \"a\", \"input\": \"");
  memset(big + i, 'x', n - i);
  memcpy(big + n - 2, "\"}", 2);
  big[n] = '\0';
  rc = sbx_dataset_parse("d.jsonl", big, n, &ds, &d);
  CHECK_EQ_INT(rc, SBX_EDATASET);
  CHECK(ds == NULL);
  CHECK(strstr(d.msg, "d.jsonl:1:1: cases[#0]: line is 1048640 bytes, over "
                      "the 1 MiB limit") == d.msg);
  free(big);

  /* Many cases: the id set grows and still catches the late duplicate. */
  {
    size_t cases = 5000, cap = cases * 24 + 64, o = 0;
    char *text = malloc(cap);
    CHECK(text != NULL);
    if (text == NULL)
      return;
    for (i = 0; i < cases; i++)
      o += (size_t)snprintf(text + o, cap - o, "{\"id\": \"k%zu\"}\n", i);
    ds = parse_ok(text);
    CHECK(ds != NULL && ds->n_cases == cases);
    if (ds != NULL)
      CHECK_EQ_STR(ds->cases[cases - 1]->id, "k4999");
    sbx_dataset_free(ds);
    o += (size_t)snprintf(text + o, cap - o, "{\"id\": \"k1234\"}\n");
    parse_bad(text, o,
              "d.jsonl:5001:1: cases[k1234].id: duplicate id, first used on "
              "line 1235; give each case its own id");
    free(text);
  }
}

static void test_load_and_line(void) {
  static const char text[] = "# c\n\n{\"id\": \"a\"}\n#\n{\"id\": \"b\"}\n";
  struct sbx_dataset *ds = (struct sbx_dataset *)1;
  struct sbx_diag d = {{0}};

  CHECK_EQ_INT(sbx__dataset_case_line(text, strlen(text), 0), 3);
  CHECK_EQ_INT(sbx__dataset_case_line(text, strlen(text), 1), 5);
  CHECK_EQ_INT(sbx__dataset_case_line(text, strlen(text), 2), 1);

  CHECK_EQ_INT(sbx_dataset_load("tests/fixtures/specs/nope.jsonl", &ds, &d),
               SBX_ENOENT);
  CHECK(ds == NULL);
  CHECK(strstr(d.msg, "tests/fixtures/specs/nope.jsonl: cannot open") == d.msg);
  CHECK_EQ_INT(sbx_dataset_load("tests/fixtures/specs", &ds, &d), SBX_EIO);
  CHECK(ds == NULL);
  CHECK_EQ_INT(sbx_dataset_load("tests/fixtures/specs/valid/closed/"
                                "dataset.jsonl",
                                &ds, &d),
               0);
  CHECK(ds != NULL && ds->n_cases == 2);
  sbx_dataset_free(ds);
}

int main(void) {
  const char *src = getenv("SBX_SOURCE_DIR");
  if (src != NULL && chdir(src) != 0) {
    perror(src);
    return 1;
  }
  test_fields();
  test_errors();
  test_limits();
  test_load_and_line();
  return TEST_RESULT();
}
