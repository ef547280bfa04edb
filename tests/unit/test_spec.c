/* test_spec.c - the spec loader against its fixtures and edge cases.
 *
 * Every directory under tests/fixtures/specs/invalid/ holds a spec (and a
 * dataset when the rule needs one) that must fail to load with exactly the
 * message in its expected.txt. The valid fixtures and the shipped
 * web-static scenario must load with the fields they spell out.
 */
#include <dirent.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "spec.h"
#include "testlib.h"

#define INVALID_DIR "tests/fixtures/specs/invalid"
#define VALID_DIR "tests/fixtures/specs/valid"

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

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check_invalid_fixture(const char *name) {
  char dir[512], path[600];
  char *expected, *spec;
  size_t elen = 0, slen = 0;
  Sbx__V1__Scenario *sc = (Sbx__V1__Scenario *)1;
  struct sbx_dataset *ds = (struct sbx_dataset *)1;
  struct sbx_diag d = {{0}};
  int rc;

  snprintf(dir, sizeof(dir), "%s/%s", INVALID_DIR, name);
  snprintf(path, sizeof(path), "%s/expected.txt", dir);
  expected = slurp(path, &elen);
  if (expected == NULL) {
    fprintf(stderr, "%s: missing expected.txt\n", dir);
    CHECK(expected != NULL);
    return;
  }
  while (elen > 0 && (expected[elen - 1] == '\n' || expected[elen - 1] == '\r'))
    expected[--elen] = '\0';

  rc = sbx_spec_load(dir, &sc, &ds, &d);
  if (rc == 0)
    fprintf(stderr, "%s: loaded, but must fail\n", dir);
  CHECK(rc < 0);
  CHECK(sc == NULL);
  CHECK(ds == NULL);
  if (strcmp(d.msg, expected) != 0)
    fprintf(stderr, "fixture %s:\n", dir);
  CHECK_EQ_STR(d.msg, expected);
  /* Every message starts with the file it is about. */
  CHECK(strncmp(d.msg, dir, strlen(dir)) == 0);

  /* Errors found in the spec alone come out of sbx_spec_parse the same
   * way; only the on-disk dataset check is sbx_spec_load's own. */
  snprintf(path, sizeof(path), "%s/spec.yaml", dir);
  if (strncmp(expected, path, strlen(path)) == 0 &&
      (spec = slurp(path, &slen)) != NULL) {
    struct sbx_diag d2 = {{0}};
    rc = sbx_spec_parse(path, (const uint8_t *)spec, slen, &sc, &d2);
    if (rc == 0) {
      CHECK(strstr(expected, "dataset.path: file") != NULL);
      sbx_scenario_free(sc);
    } else {
      CHECK_EQ_INT(rc, SBX_ESPEC);
      CHECK(sc == NULL);
      CHECK_EQ_STR(d2.msg, expected);
    }
    free(spec);
  }
  free(expected);
}

static void test_invalid_fixtures(void) {
  DIR *dp = opendir(INVALID_DIR);
  struct dirent *e;
  char **names = NULL;
  size_t n = 0, cap = 0;

  CHECK(dp != NULL);
  if (dp == NULL)
    return;
  while ((e = readdir(dp)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    if (n == cap) {
      char **more;
      cap = cap == 0 ? 64 : cap * 2;
      more = realloc(names, cap * sizeof(*names));
      CHECK(more != NULL);
      if (more == NULL)
        break;
      names = more;
    }
    names[n] = strdup(e->d_name);
    if (names[n] != NULL)
      n++;
  }
  closedir(dp);
  qsort(names, n, sizeof(*names), cmp_names);
  for (size_t i = 0; i < n; i++) {
    check_invalid_fixture(names[i]);
    free(names[i]);
  }
  free(names);
  printf("%zu invalid fixtures\n", n);
  CHECK(n >= 25);
}

/* Loads dir, expecting success. */
static int load_ok(const char *dir, Sbx__V1__Scenario **sc,
                   struct sbx_dataset **ds) {
  struct sbx_diag d = {{0}};
  int rc = sbx_spec_load(dir, sc, ds, &d);
  if (rc != 0)
    fprintf(stderr, "%s: %s\n", dir, d.msg);
  CHECK_EQ_INT(rc, 0);
  return rc;
}

/* A scenario must survive protobuf serialisation unchanged. */
static void check_roundtrip(const Sbx__V1__Scenario *sc) {
  size_t n = sbx__v1__scenario__get_packed_size(sc);
  uint8_t *buf = malloc(n);
  Sbx__V1__Scenario *back;

  CHECK(buf != NULL);
  if (buf == NULL)
    return;
  sbx__v1__scenario__pack(sc, buf);
  back = sbx__v1__scenario__unpack(NULL, n, buf);
  CHECK(back != NULL);
  if (back != NULL) {
    CHECK_EQ_STR(back->name, sc->name);
    CHECK_EQ_INT(back->n_criteria, sc->n_criteria);
    CHECK(back->digest.len == sc->digest.len);
    sbx__v1__scenario__free_unpacked(back, NULL);
  }
  free(buf);
}

static void check_digest(const char *spec_path, const char *data_path,
                         const Sbx__V1__Scenario *sc,
                         const struct sbx_dataset *ds) {
  size_t slen = 0, dlen = 0;
  char *s = slurp(spec_path, &slen), *dd = slurp(data_path, &dlen);
  crypto_hash_sha256_state h;
  uint8_t want[32], dsha[32];

  CHECK(s != NULL && dd != NULL);
  if (s != NULL && dd != NULL) {
    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, (const unsigned char *)s, slen);
    crypto_hash_sha256_update(&h, (const unsigned char *)dd, dlen);
    crypto_hash_sha256_final(&h, want);
    CHECK(sc->digest.len == 32 && memcmp(sc->digest.data, want, 32) == 0);
    crypto_hash_sha256(dsha, (const unsigned char *)dd, dlen);
    CHECK(memcmp(ds->sha256, dsha, 32) == 0);
    CHECK(sc->dataset->sha256.len == 32 &&
          memcmp(sc->dataset->sha256.data, dsha, 32) == 0);
    CHECK(sc->spec_bytes.len == slen &&
          memcmp(sc->spec_bytes.data, s, slen) == 0);
  }
  free(s);
  free(dd);
}

static void test_valid_closed(void) {
  Sbx__V1__Scenario *sc = NULL, *sc2 = NULL;
  struct sbx_dataset *ds = NULL, *ds2 = NULL;

  if (load_ok(VALID_DIR "/closed", &sc, &ds) != 0)
    return;
  CHECK_EQ_STR(sc->name, "demo");
  CHECK_EQ_STR(sc->version, "1.0.0");
  CHECK_EQ_STR(sc->title, "Demo scenario");
  CHECK_EQ_STR(sc->description, "");
  CHECK_EQ_STR(sc->score_metric, "latency.p99");
  CHECK_EQ_INT(sc->n_required_layers, 0);
  CHECK_EQ_INT(sc->interface->kind,
               SBX__V1__INTERFACE_KIND__INTERFACE_KIND_HTTP);
  CHECK_EQ_STR(sc->interface->method, "GET");
  CHECK_EQ_STR(sc->interface->path, "{path}");
  CHECK_EQ_STR(sc->interface->content_type, "");
  CHECK_EQ_INT(sc->interface->max_body_bytes, 16 << 20);
  CHECK_EQ_INT(sc->interface->http_client,
               SBX__V1__HTTP_CLIENT__HTTP_CLIENT_AUTO);
  CHECK_EQ_STR(sc->dataset->path, "dataset.jsonl");
  CHECK(!sc->dataset->private_);
  CHECK_EQ_INT(sc->dataset->case_count, 2);
  CHECK_EQ_INT(sc->load->model, SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED);
  CHECK_EQ_INT(sc->load->concurrency, 8);
  CHECK_EQ_INT(sc->load->warmup_us, 1000000);
  CHECK_EQ_INT(sc->load->min_duration_us, 5000000);
  CHECK_EQ_INT(sc->load->max_duration_us, 60000000); /* max(15s, 60s) */
  CHECK_EQ_INT(sc->load->timeout_us, 5000000);
  CHECK_EQ_INT(sc->load->seed, 1);
  CHECK_EQ_INT(sc->load->min_cases, 0);
  CHECK(sc->checks->verify_body);
  CHECK_EQ_INT(sc->n_criteria, 2);
  if (sc->n_criteria == 2) {
    CHECK_EQ_STR(sc->criteria[0]->metric, "latency.p99");
    CHECK_EQ_STR(sc->criteria[0]->text, "latency.p99 <= 50ms");
    CHECK_EQ_INT(sc->criteria[0]->op, SBX__V1__COMPARE_OP__COMPARE_OP_LE);
    CHECK(sc->criteria[0]->bound == 50000);
    CHECK_EQ_STR(sc->criteria[1]->metric, "error_rate");
    CHECK(sc->criteria[1]->bound == 0.001);
  }
  CHECK_EQ_INT(sc->validity->max_schedule_lag_p99_us, 10000);
  CHECK(sc->validity->max_rate_deviation == 0.01);
  CHECK(sc->validity->max_dropped_fraction == 0.001);
  CHECK_EQ_INT(ds->n_cases, 2);
  CHECK_EQ_STR(ds->cases[1]->path, "/b.html");
  check_digest(VALID_DIR "/closed/spec.yaml", VALID_DIR "/closed/dataset.jsonl",
               sc, ds);
  check_roundtrip(sc);

  /* The same scenario named by its file, or by its directory with a
   * trailing slash, is the same scenario. */
  if (load_ok(VALID_DIR "/closed/spec.yaml", &sc2, &ds2) == 0) {
    CHECK(memcmp(sc->digest.data, sc2->digest.data, 32) == 0);
    sbx_scenario_free(sc2);
    sbx_dataset_free(ds2);
  }
  if (load_ok(VALID_DIR "/closed/", &sc2, &ds2) == 0) {
    CHECK(memcmp(sc->digest.data, sc2->digest.data, 32) == 0);
    sbx_scenario_free(sc2);
    sbx_dataset_free(ds2);
  }
  sbx_scenario_free(sc);
  sbx_dataset_free(ds);
}

static void test_valid_open(void) {
  Sbx__V1__Scenario *sc = NULL;
  struct sbx_dataset *ds = NULL;

  if (load_ok(VALID_DIR "/open-poisson", &sc, &ds) != 0)
    return;
  CHECK_EQ_STR(sc->name, "open-json");
  CHECK_EQ_STR(sc->version, "2.1.0");
  CHECK(strncmp(sc->description, "Posts small JSON documents", 26) == 0);
  CHECK_EQ_INT(sc->n_required_layers, 2);
  if (sc->n_required_layers == 2) {
    CHECK_EQ_STR(sc->required_layers[0], "seccomp");
    CHECK_EQ_STR(sc->required_layers[1], "landlock");
  }
  CHECK_EQ_STR(sc->interface->method, "POST");
  CHECK_EQ_STR(sc->interface->path, "/api/v1/items/{id}");
  CHECK_EQ_STR(sc->interface->content_type, "application/json");
  CHECK_EQ_INT(sc->interface->n_headers, 1);
  if (sc->interface->n_headers == 1) {
    CHECK_EQ_STR(sc->interface->headers[0]->name, "X-Scenario");
    CHECK_EQ_STR(sc->interface->headers[0]->value, "open-json");
  }
  CHECK_EQ_INT(sc->interface->max_body_bytes, 65536);
  CHECK_EQ_INT(sc->interface->http_client,
               SBX__V1__HTTP_CLIENT__HTTP_CLIENT_CURL);
  CHECK_EQ_STR(sc->dataset->path, "data/cases.jsonl");
  CHECK(sc->dataset->private_);
  CHECK_EQ_INT(sc->load->model, SBX__V1__LOAD_MODEL__LOAD_MODEL_OPEN);
  CHECK(sc->load->rate == 2500);
  CHECK_EQ_INT(sc->load->spacing, SBX__V1__SPACING__SPACING_POISSON);
  CHECK_EQ_INT(sc->load->max_in_flight, 256);
  CHECK_EQ_INT(sc->load->warmup_us, 500000);
  CHECK_EQ_INT(sc->load->min_duration_us, 20000000);
  CHECK_EQ_INT(sc->load->max_duration_us, 60000000);
  CHECK_EQ_INT(sc->load->min_cases, 1000);
  CHECK_EQ_INT(sc->load->timeout_us, 250000);
  CHECK(sc->load->seed == UINT64_MAX);
  CHECK(sc->checks->number_abs_tolerance == 0.5);
  CHECK(sc->checks->number_rel_tolerance == 0.01);
  CHECK_EQ_INT(sc->n_criteria, 5);
  if (sc->n_criteria == 5) {
    CHECK_EQ_STR(sc->criteria[0]->metric, "latency.p999");
    CHECK_EQ_INT(sc->criteria[0]->op, SBX__V1__COMPARE_OP__COMPARE_OP_LT);
    CHECK(sc->criteria[0]->bound == 1500000);
    CHECK_EQ_STR(sc->criteria[1]->text, "latency.mean<=20ms");
    CHECK(sc->criteria[1]->bound == 20000);
    CHECK_EQ_STR(sc->criteria[2]->metric, "dropped_rate");
    CHECK(sc->criteria[2]->bound == 0.005);
    CHECK_EQ_INT(sc->criteria[3]->op, SBX__V1__COMPARE_OP__COMPARE_OP_GE);
    CHECK(sc->criteria[3]->bound == 2400);
    CHECK_EQ_STR(sc->criteria[4]->metric, "mae");
    CHECK(sc->criteria[4]->bound == 0.25);
  }
  CHECK_EQ_INT(sc->validity->max_schedule_lag_p99_us, 5000);
  CHECK(sc->validity->max_rate_deviation == 0.02);
  CHECK(sc->validity->max_dropped_fraction == 0.002);
  CHECK_EQ_STR(sc->score_metric, "throughput");
  CHECK_EQ_INT(ds->n_cases, 2);
  CHECK(ds->cases[1]->input.len == 8);
  check_digest(VALID_DIR "/open-poisson/spec.yaml",
               VALID_DIR "/open-poisson/data/cases.jsonl", sc, ds);
  check_roundtrip(sc);
  sbx_scenario_free(sc);
  sbx_dataset_free(ds);
}

static void test_valid_trace(void) {
  Sbx__V1__Scenario *sc = NULL;
  struct sbx_dataset *ds = NULL;

  if (load_ok(VALID_DIR "/trace", &sc, &ds) != 0)
    return;
  CHECK_EQ_INT(sc->interface->kind,
               SBX__V1__INTERFACE_KIND__INTERFACE_KIND_PLUGIN);
  CHECK_EQ_INT(sc->load->model, SBX__V1__LOAD_MODEL__LOAD_MODEL_TRACE);
  CHECK_EQ_INT(sc->load->max_in_flight, 1024);
  CHECK_EQ_INT(sc->load->min_duration_us, 60000000);
  CHECK_EQ_INT(sc->load->max_duration_us, 300000000);
  CHECK_EQ_INT(sc->checks->n_labels, 2);
  CHECK_EQ_INT(sc->n_criteria, 3);
  if (sc->n_criteria == 3) {
    CHECK(sc->criteria[0]->bound == 0.9);
    CHECK_EQ_STR(sc->criteria[1]->metric, "macro_f1");
    CHECK_EQ_INT(sc->criteria[1]->op, SBX__V1__COMPARE_OP__COMPARE_OP_GT);
    CHECK(sc->criteria[1]->bound == 0.85);
    CHECK(sc->criteria[2]->bound == 100);
  }
  CHECK_EQ_INT(ds->n_cases, 3);
  CHECK(ds->cases[2]->has_arrival_offset &&
        ds->cases[2]->arrival_offset_us == 9000);
  CHECK_EQ_INT(sc->dataset->case_count, 3);
  sbx_scenario_free(sc);
  sbx_dataset_free(ds);
}

static void test_web_static(void) {
  const char *dir = "sandbox-specs/web-static";
  Sbx__V1__Scenario *sc = NULL;
  struct sbx_dataset *ds = NULL;

  if (access("sandbox-specs/web-static/dataset.jsonl", R_OK) != 0) {
    printf("skip web-static: sandbox-specs/web-static/dataset.jsonl not "
           "generated yet\n");
    return;
  }
  if (load_ok(dir, &sc, &ds) != 0)
    return;
  /* Its numbers get tuned; check what the loader made of them, not them. */
  CHECK_EQ_STR(sc->name, "web-static");
  CHECK_EQ_STR(sc->version, "1.0.0");
  CHECK(sc->title[0] != '\0');
  CHECK_EQ_INT(sc->interface->kind,
               SBX__V1__INTERFACE_KIND__INTERFACE_KIND_HTTP);
  CHECK_EQ_STR(sc->interface->path, "{path}");
  CHECK(sc->interface->max_body_bytes > 0);
  CHECK_EQ_INT(sc->load->model, SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED);
  CHECK(sc->load->concurrency >= 1 && sc->load->concurrency <= 10000);
  CHECK(sc->load->min_duration_us > 0);
  CHECK(sc->load->max_duration_us >=
        sc->load->min_duration_us + sc->load->warmup_us);
  CHECK(sc->load->timeout_us > 0);
  CHECK(sc->n_criteria >= 1);
  for (size_t i = 0; i < sc->n_criteria; i++) {
    const Sbx__V1__Criterion *cr = sc->criteria[i];
    CHECK(strncmp(cr->text, cr->metric, strlen(cr->metric)) == 0);
    CHECK(cr->op != SBX__V1__COMPARE_OP__COMPARE_OP_UNSPECIFIED);
    CHECK(cr->bound >= 0);
  }
  CHECK_EQ_STR(sc->score_metric, "throughput");
  CHECK(ds->n_cases > 0 && sc->dataset->case_count == ds->n_cases);
  check_digest("sandbox-specs/web-static/spec.yaml",
               "sandbox-specs/web-static/dataset.jsonl", sc, ds);
  printf("web-static: %zu cases\n", ds->n_cases);
  sbx_scenario_free(sc);
  sbx_dataset_free(ds);
}

/* ---- in-memory specs ---------------------------------------------------- */

#define MINIMAL                                                                \
  "name: m\nversion: \"1\"\ntitle: T\ninterface: {kind: http}\n"               \
  "dataset: {path: d.jsonl}\n"

static void parse_bad(const char *text, size_t len, const char *msg) {
  Sbx__V1__Scenario *sc = (Sbx__V1__Scenario *)1;
  struct sbx_diag d = {{0}};
  int rc = sbx_spec_parse("s.yaml", (const uint8_t *)text, len, &sc, &d);
  CHECK_EQ_INT(rc, SBX_ESPEC);
  CHECK(sc == NULL);
  CHECK_EQ_STR(d.msg, msg);
}
#define BAD(text, msg) parse_bad(text, strlen(text), msg)

static Sbx__V1__Scenario *parse_ok(const char *text) {
  Sbx__V1__Scenario *sc = NULL;
  struct sbx_diag d = {{0}};
  int rc =
      sbx_spec_parse("s.yaml", (const uint8_t *)text, strlen(text), &sc, &d);
  if (rc != 0)
    fprintf(stderr, "unexpected failure: %s\n", d.msg);
  CHECK_EQ_INT(rc, 0);
  return sc;
}

static void test_parse_defaults(void) {
  Sbx__V1__Scenario *sc =
      parse_ok(MINIMAL "load: {model: open, rate: 100, min_duration: 30s, "
                       "warmup: 50s}\n");
  if (sc == NULL)
    return;
  CHECK_EQ_INT(sc->load->spacing, SBX__V1__SPACING__SPACING_CONSTANT);
  CHECK_EQ_INT(sc->load->max_in_flight, 1024);
  /* max(3 * 30s, 60s) = 90s, but never below warmup + min_duration. */
  CHECK_EQ_INT(sc->load->max_duration_us, 90000000);
  CHECK_EQ_INT(sc->load->concurrency, 0);
  CHECK(sc->spec_bytes.len == 0 && sc->digest.len == 0);
  CHECK_EQ_INT(sc->dataset->case_count, 0);
  CHECK_EQ_INT(sc->n_criteria, 0);
  check_roundtrip(sc);
  sbx_scenario_free(sc);

  sc = parse_ok(MINIMAL "load: {model: open, rate: 1, min_duration: 10s, "
                        "warmup: 2m}\n");
  if (sc != NULL)
    CHECK_EQ_INT(sc->load->max_duration_us, 130000000);
  sbx_scenario_free(sc);
  sbx_scenario_free(NULL);
}

static void test_parse_errors(void) {
  BAD("", "s.yaml:1:1: spec: file is empty; start with e.g. name: "
          "my-scenario");
  BAD("# only a comment\n", "s.yaml:1:1: spec: file is empty; start with "
                            "e.g. name: my-scenario");
  BAD("just text\n", "s.yaml:1:1: spec: expected a mapping of keys at the "
                     "top level, got \"just text\"; start with e.g. name: "
                     "my-scenario");
  BAD(MINIMAL "load:\n  model: closed\n  concurrency: 1\n  min_duration: "
              "*x\n",
      "s.yaml:9:17: load.min_duration: YAML aliases (*name) are not "
      "supported, found \"x\"; write the value out in full");
  BAD(MINIMAL "title2: !!str x\n",
      "s.yaml:6:9: title2: YAML tags (\"tag:yaml.org,2002:str\") are not "
      "supported; remove the tag and quote the value if it must stay text");
  BAD("name: \"a\\0b\"\n", "s.yaml:1:7: name: text contains a NUL "
                           "character; remove the \\0 escape");
  BAD("name: m\n? [a, b]\n: c\n",
      "s.yaml:2:3: spec: a key must be plain text, not a sequence; write "
      "key: value");
  BAD("name: \xff\n", "s.yaml:1:7: yaml: invalid leading UTF-8 octet; save "
                      "the file as UTF-8 text");
  BAD("name: [\n", "s.yaml:2:1: yaml: did not find expected node content "
                   "while parsing a flow node that starts at line 2 column "
                   "1; check the indentation, colons and quotes here");
  BAD(MINIMAL "load: {model: closed, concurrency: 1, min_duration: 1s}\n"
              "criteria:\n  - throughput >= many\n",
      "s.yaml:8:5: criteria[0]: bound \"many\" of throughput must be a "
      "number per second; write e.g. throughput >= 1000/s");
  BAD(MINIMAL "load: {model: closed, concurrency: 1, min_duration: 1s}\n"
              "criteria:\n  - latency.p99 == 5ms\n",
      "s.yaml:8:5: criteria[0]: \"latency.p99 == 5ms\" compares with an "
      "operator that is not allowed; use one of <=, <, >=, >");
  BAD(MINIMAL "load: {model: closed, concurrency: 1, min_duration: 1s}\n"
              "criteria:\n  - rmse <= -1\n",
      "s.yaml:8:5: criteria[0]: bound \"-1\" of rmse must be a number >= 0; "
      "write e.g. rmse <= 0.5");
  BAD(MINIMAL "load: {model: closed, concurrency: 1, min_duration: 1s}\n"
              "checks: {verify_body: false}\ncriteria: [accuracy >= 0.9]\n",
      "s.yaml:8:12: criteria[0]: accuracy is measured by checking answers, "
      "but checks.verify_body is false; set verify_body: true or drop this "
      "criterion");
  BAD(MINIMAL "load: {model: trace, concurrency: 4, min_duration: 1s}\n",
      "s.yaml:6:35: load.concurrency: only used by model: closed; remove "
      "it, or cap arrivals in flight with max_in_flight");
  BAD(MINIMAL "load: {model: open, rate: 20M, min_duration: 1s}\n",
      "s.yaml:6:27: load.rate: at most 10000000 arrivals per second; lower "
      "it or split the load");
  BAD(MINIMAL "load: {model: closed, concurrency: 1, min_duration: 1s, "
              "timeout: 0s}\n",
      "s.yaml:6:66: load.timeout: must be more than 0s; write e.g. timeout: "
      "5s");
  BAD(MINIMAL "load: {model: closed, concurrency: 1, min_duration: 31d}\n",
      "s.yaml:6:53: load.min_duration: expected a duration like 250ms, 2s "
      "or 1m, got \"31d\"; write e.g. min_duration: 10s");
  BAD(MINIMAL "load: {model: closed, concurrency: 1, min_duration: 1000h}\n",
      "s.yaml:6:53: load.min_duration: must be at most 30 days; write e.g. "
      "min_duration: 10s");
  BAD(MINIMAL "load: {model: closed, concurrency: 1, min_duration: 1s, "
              "seed: -1}\n",
      "s.yaml:6:63: load.seed: expected a whole number >= 0, got \"-1\"; "
      "write e.g. seed: 42");
  BAD("name: m\nversion: \"1 0\"\n",
      "s.yaml:2:10: version: \"1 0\" is not a valid version; use letters, "
      "digits and . - + only, e.g. version: \"1.0.0\"");
  BAD("name: m\nversion: 1\ntitle:\n",
      "s.yaml:3:7: title: expected text, got nothing; write e.g. title: "
      "Edge static content");
  BAD("name: -m\n", "s.yaml:1:7: name: \"-m\" is not a valid name; use 1 to "
                    "63 lowercase letters, digits and dashes, starting with "
                    "a letter or digit, e.g. name: web-static");
  BAD("name: m\nversion: \"1\"\ntitle: T\ninterface: {kind: http, path: "
      "\"/a b\"}\n",
      "s.yaml:4:31: interface.path: \"/a b\" contains a space or control "
      "character; percent-encode it, e.g. %20");
  BAD("name: m\nversion: \"1\"\ntitle: T\ninterface: {kind: http, path: "
      "api}\n",
      "s.yaml:4:31: interface.path: \"api\" must start with \"/\" or a "
      "placeholder; write e.g. path: \"/api/{id}\" or path: \"{path}\"");
  BAD("name: m\nversion: \"1\"\ntitle: T\ninterface: {kind: http, headers: "
      "[{name: A, value: \"x\\ny\"}]}\n",
      "s.yaml:4:52: interface.headers[0].value: contains a control "
      "character (byte 0x0a); header values are one line of text");
  BAD("name: m\nversion: \"1\"\ntitle: T\ninterface: {kind: http, headers: "
      "[{name: A}]}\n",
      "s.yaml:4:35: interface.headers[0].value: missing; write e.g. value: "
      "\"*/*\"");
  BAD("name: m\nversion: \"1\"\ntitle: T\ninterface: {kind: http, mehtod: "
      "GET}\n",
      "s.yaml:4:25: interface.mehtod: unknown key; did you mean "
      "\"method\"?");
  BAD("name: m\nversion: \"1\"\ntitle: T\ninterface: {kind: http, zzz: 1}\n",
      "s.yaml:4:25: interface.zzz: unknown key; valid keys here are kind, "
      "method, path, headers, content_type, max_body_bytes, http_client, pipeline_depth, setup");
  BAD("name: m\nversion: \"1\"\ntitle: T\ninterface: {kind: http}\n"
      "dataset: {path: /etc/passwd}\n",
      "s.yaml:5:17: dataset.path: \"/etc/passwd\" is absolute; give a path "
      "relative to the spec's directory, e.g. path: dataset.jsonl");
  BAD("name: m\nversion: \"1\"\ntitle: T\ninterface: {kind: http}\n"
      "dataset: {path: a/../../b}\n",
      "s.yaml:5:17: dataset.path: \"a/../../b\" leaves the spec's directory "
      "(\"..\"); keep the file beside spec.yaml, e.g. path: "
      "dataset.jsonl");
  BAD(MINIMAL "load: {model: closed, concurrency: 1, min_duration: 1s}\n"
              "checks: {labels: [a, a]}\n",
      "s.yaml:7:22: checks.labels[1]: \"a\" is listed twice; keep one");
  BAD(MINIMAL "load: {model: closed, concurrency: 1, min_duration: 1s}\n"
              "validity: {max_rate_deviation: 2}\n",
      "s.yaml:7:32: validity.max_rate_deviation: expected a fraction from 0 "
      "to 1 or a percentage like 1%, got \"2\"; write e.g. "
      "max_rate_deviation: 0.01");
  BAD(MINIMAL "load: {model: closed, concurrency: 1, min_duration: 1s}\n"
              "---\nname: x\n",
      "s.yaml:7:1: spec: a second YAML document starts here; a spec is one "
      "document, remove the extra \"---\" and what follows");
}

static void test_parse_limits(void) {
  /* Deep nesting stops at a fixed depth instead of recursing on. */
  {
    size_t n = 200, o = 0;
    char buf[512];
    o += (size_t)snprintf(buf, sizeof(buf), "name: ");
    for (size_t i = 0; i < n; i++)
      buf[o++] = '[';
    buf[o] = '\0';
    parse_bad(buf, o,
              "s.yaml:1:39: name[0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
              "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: nested "
              "more than 32 levels deep; flatten the value");
  }
  /* Over 1 MiB is refused before parsing. */
  {
    size_t n = SBX_SPEC_MAX_BYTES + 1;
    char *big = malloc(n);
    CHECK(big != NULL);
    if (big != NULL) {
      memset(big, '#', n);
      parse_bad(big, n,
                "s.yaml:1:1: spec: file is 1048577 bytes, over the 1 MiB "
                "limit; a spec is short, cases belong in the dataset");
      free(big);
    }
  }
  /* Many nodes are refused too (flow sequences of small scalars). */
  {
    size_t n = 120000, cap = n * 2 + 64, o = 0;
    char *big = malloc(cap);
    CHECK(big != NULL);
    if (big != NULL) {
      o += (size_t)snprintf(big, cap, "x: [");
      for (size_t i = 0; i < n; i++) {
        big[o++] = '1';
        big[o++] = ',';
      }
      big[o++] = ']';
      big[o] = '\0';
      {
        Sbx__V1__Scenario *sc = NULL;
        struct sbx_diag d = {{0}};
        CHECK_EQ_INT(sbx_spec_parse("s.yaml", (const uint8_t *)big, o, &sc, &d),
                     SBX_ESPEC);
        CHECK(strstr(d.msg, "more than 100000 YAML nodes") != NULL);
      }
      free(big);
    }
  }
}

static void test_load_paths(void) {
  Sbx__V1__Scenario *sc = (Sbx__V1__Scenario *)1;
  struct sbx_dataset *ds = (struct sbx_dataset *)1;
  struct sbx_diag d = {{0}};

  CHECK_EQ_INT(sbx_spec_load("tests/fixtures/specs/no-such-dir", &sc, &ds, &d),
               SBX_ENOENT);
  CHECK(sc == NULL && ds == NULL);
  CHECK_EQ_STR(d.msg, "tests/fixtures/specs/no-such-dir: No such file or "
                      "directory; pass a scenario directory holding "
                      "spec.yaml, or a .yaml file");
  sc = (Sbx__V1__Scenario *)1;
  ds = (struct sbx_dataset *)1;
  CHECK_EQ_INT(sbx_spec_load("tests/fixtures/specs", &sc, &ds, &d), SBX_ENOENT);
  CHECK(sc == NULL && ds == NULL);
  CHECK_EQ_STR(d.msg, "tests/fixtures/specs/spec.yaml: no such file; a "
                      "scenario directory must hold its spec as spec.yaml");
}

int main(void) {
  const char *src = getenv("SBX_SOURCE_DIR");
  if (src != NULL && chdir(src) != 0) {
    perror(src);
    return 1;
  }
  test_invalid_fixtures();
  test_valid_closed();
  test_valid_open();
  test_valid_trace();
  test_web_static();
  test_parse_defaults();
  test_parse_errors();
  test_parse_limits();
  test_load_paths();
  return TEST_RESULT();
}
