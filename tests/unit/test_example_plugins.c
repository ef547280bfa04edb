/* test_example_plugins.c - the four reference plugins, in process.
 *
 * Loads build/plugins/lib<name>.so with dlopen, checks its descriptor the
 * way the host does, calls create() with the scenario's setup file and
 * handle() on every case of the bundled dataset, and judges the answers
 * with the engine's own spec loader and checker (sbx_spec_load, sbx_check,
 * sbx_quality) under the scenario's own checks, so the figures are the ones
 * `sbx test --plugin` reports for answer quality. It asserts the trade-off
 * each scenario is built around, against the bound of the spec's quality
 * criterion: anomaly_features reaches sensor-anomaly's macro_f1 bound and
 * anomaly_threshold does not; route_dijkstra meets route-plan's error_rate
 * bound (every answer exact) and route_greedy does not. Time per request is
 * printed, never asserted.
 *
 * It also feeds every plugin hostile input (truncated, oversized, lying
 * headers, malformed graphs) and expects SBX_PLUGIN_E_INVALID or
 * SBX_PLUGIN_E_CONFIG rather than a crash; run it under ASan to make that
 * mean something.
 *
 * The plugins are separate build targets: build them first (a plain
 * `cmake --build build` does). SBX_BUILD_DIR and SBX_SOURCE_DIR locate the
 * trees (defaults: build and .).
 */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../plugins/include/sbx_plugin.h"
#include "check.h"
#include "dataset.h"
#include "err.h"
#include "spec.h"
#include "testlib.h"

#define ANSWER_LIMIT 4096

struct answer {
  sbx_plugin_output out; /* first: the plugin's pointer is ours */
  uint8_t buf[ANSWER_LIMIT];
};

static int answer_write(sbx_plugin_output *out, const void *data, size_t len) {
  struct answer *a = (struct answer *)out;
  if (len == 0)
    return SBX_PLUGIN_OK;
  if (len > out->limit - out->len)
    return SBX_PLUGIN_E_TOO_LARGE;
  memcpy(a->buf + out->len, data, len);
  out->len += len;
  return SBX_PLUGIN_OK;
}

static void answer_reset(struct answer *a, size_t limit) {
  memset(&a->out, 0, sizeof(a->out));
  a->out.write = answer_write;
  a->out.limit = limit < sizeof(a->buf) ? limit : sizeof(a->buf);
}

struct loaded {
  void *dl;
  const sbx_plugin_descriptor *d;
  void *inst; /* may be NULL even when created */
  int created;
};

static const char *env_or(const char *name, const char *dflt) {
  const char *v = getenv(name);
  return v != NULL && *v != '\0' ? v : dflt;
}

/* dlopens the example plugin and checks its descriptor. Returns 0 with
 * l->d set, or -1 with a message (the caller skips that plugin). */
static int plugin_open(const char *name, struct loaded *l) {
  char path[4096];
  memset(l, 0, sizeof(*l));
  snprintf(path, sizeof(path), "%s/plugins/lib%s.so",
           env_or("SBX_BUILD_DIR", "build"), name);
  l->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (l->dl == NULL) {
    fprintf(stderr,
            "%s: %s\n  build the example plugins first: cmake --build "
            "build --target %s\n",
            path, dlerror(), name);
    return -1;
  }
  void *sym = dlsym(l->dl, SBX_PLUGIN_ENTRY_SYMBOL);
  CHECK(sym != NULL);
  if (sym == NULL)
    return -1;
  const sbx_plugin_descriptor *(*entry)(void);
  memcpy(&entry, &sym, sizeof(entry));
  l->d = entry();
  CHECK(l->d != NULL);
  if (l->d == NULL)
    return -1;
  CHECK_EQ_INT(l->d->abi_version, SBX_PLUGIN_ABI_VERSION);
  CHECK_EQ_INT(l->d->struct_size, sizeof(sbx_plugin_descriptor));
  CHECK_EQ_STR(l->d->signature, SBX_PLUGIN_SIGNATURE);
  CHECK_EQ_STR(l->d->name, name);
  CHECK(l->d->create != NULL && l->d->handle != NULL && l->d->destroy != NULL);
  CHECK_EQ_INT(l->d->flags, 0);
  for (size_t i = 0; i < 8; i++)
    CHECK(l->d->reserved[i] == NULL);
  return 0;
}

static void plugin_close(struct loaded *l) {
  if (l->d != NULL && l->created)
    l->d->destroy(l->inst);
  if (l->dl != NULL)
    dlclose(l->dl);
  memset(l, 0, sizeof(*l));
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

struct score {
  double accuracy, macro_f1, mae, us_per_request;
  size_t errors;
};

struct scenario {
  const char *name;
  Sbx__V1__Scenario *sc;
  struct sbx_dataset *ds;
};

/* Loads sandbox-specs/<name>/spec.yaml with its dataset and setup file.
 * Returns 0, or -1 with the loader's message printed. */
static int scenario_load(struct scenario *s, const char *name) {
  char path[4096];
  struct sbx_diag diag;
  memset(s, 0, sizeof(*s));
  s->name = name;
  snprintf(path, sizeof(path), "%s/sandbox-specs/%s/spec.yaml",
           env_or("SBX_SOURCE_DIR", "."), name);
  if (sbx_spec_load(path, &s->sc, &s->ds, &diag) != 0) {
    fprintf(stderr, "%s\n", diag.msg);
    return -1;
  }
  return 0;
}

static void scenario_free(struct scenario *s) {
  sbx_scenario_free(s->sc);
  sbx_dataset_free(s->ds);
  memset(s, 0, sizeof(*s));
}

/* The bound of the spec's criterion on metric, or NAN if it has none. */
static double criterion_bound(const struct scenario *s, const char *metric) {
  for (size_t i = 0; i < s->sc->n_criteria; i++)
    if (strcmp(s->sc->criteria[i]->metric, metric) == 0)
      return s->sc->criteria[i]->bound;
  return NAN;
}

/* create() with the scenario's setup bytes, as the host does. */
static int plugin_create(struct loaded *l, const struct scenario *s) {
  const uint8_t *setup = s->sc->setup_bytes.data;
  size_t len = s->sc->setup_bytes.len;
  int rc =
      l->d->create((const uint8_t *)"", 0,
                   setup != NULL ? setup : (const uint8_t *)"", len, &l->inst);
  l->created = rc == SBX_PLUGIN_OK;
  return rc;
}

/* Runs every case of the scenario's dataset through the plugin and judges
 * the answers like the engine does (status 200 for a 0 return, the case
 * unanswered otherwise). */
static int run_dataset(struct loaded *l, const struct scenario *scen,
                       struct score *s) {
  const Sbx__V1__Checks *checks = scen->sc->checks;
  const struct sbx_dataset *ds = scen->ds;
  struct sbx_quality *q = NULL;
  Sbx__V1__Metrics m;
  struct answer *a = malloc(sizeof(*a));
  int rc = -1;

  memset(s, 0, sizeof(*s));
  sbx__v1__metrics__init(&m);
  q = sbx_quality_new(checks);
  if (a == NULL || q == NULL)
    goto out;
  double spent = 0;
  for (size_t i = 0; i < ds->n_cases; i++) {
    const Sbx__V1__Case *k = ds->cases[i];
    answer_reset(a, ANSWER_LIMIT);
    double t0 = now_us();
    int hr = l->d->handle(l->inst, k->input.data, k->input.len, &a->out);
    spent += now_us() - t0;
    if (hr == SBX_PLUGIN_OK) {
      sbx_check(checks, k->expect, 200, a->buf, a->out.len, q);
    } else {
      s->errors++;
      sbx_quality_unanswered(q, checks, k->expect);
    }
  }
  if (sbx_quality_fill(q, &m) != 0)
    goto out;
  s->accuracy = m.accuracy;
  s->macro_f1 = m.macro_f1;
  s->mae = m.mae;
  s->us_per_request = ds->n_cases ? spent / (double)ds->n_cases : 0;
  printf("%-18s %-15s cases %4zu  accuracy %.4f  macro_f1 %.4f  mae %.2f  "
         "%.2f us/request  errors %zu\n",
         l->d->name, scen->name, ds->n_cases, s->accuracy, s->macro_f1,
         isnan(s->mae) ? 0.0 : s->mae, s->us_per_request, s->errors);
  for (size_t i = 0; i < m.n_per_class; i++)
    printf("    %-14s P %.3f R %.3f F1 %.3f support %llu\n",
           m.per_class[i]->label, m.per_class[i]->precision,
           m.per_class[i]->recall, m.per_class[i]->f1,
           (unsigned long long)m.per_class[i]->support);
  rc = 0;
out:
  for (size_t i = 0; i < m.n_per_class; i++) {
    free(m.per_class[i]->label);
    free(m.per_class[i]);
  }
  free(m.per_class);
  sbx_quality_free(q);
  free(a);
  return rc;
}

/* Calls handle() on in[0..len) and returns its code; the answer, if any,
 * goes to a (NUL-terminated in buf). */
static int call(struct loaded *l, const void *in, size_t len, struct answer *a,
                size_t limit) {
  answer_reset(a, limit);
  int rc = l->d->handle(l->inst, in, len, &a->out);
  a->buf[a->out.len < sizeof(a->buf) ? a->out.len : sizeof(a->buf) - 1] = 0;
  return rc;
}

/* ---- sensor-anomaly ----------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

/* A quiet VIB1 window: 3 x 128 samples of a 40 mg shaft tone. */
static size_t make_window(uint8_t *w, uint16_t samples, uint16_t rpm) {
  memcpy(w, "VIB1", 4);
  w[4] = 3;
  w[5] = 1;
  put16(w + 6, samples);
  put16(w + 8, 1024);
  put16(w + 10, rpm);
  w[12] = 0xe8; /* 1000 micro-g per count */
  w[13] = 0x03;
  w[14] = w[15] = 0;
  for (size_t i = 0; i < (size_t)3 * samples; i++) {
    double t = (double)(i % samples);
    int v = (int)lround(40 * sin(2 * 3.14159265358979 * rpm / 60.0 * t / 1024));
    put16(w + 16 + 2 * i, (uint16_t)(v & 0xffff));
  }
  return 16 + (size_t)6 * samples;
}

static void hostile_windows(struct loaded *l) {
  static uint8_t w[16 + 6 * 128];
  struct answer *a = malloc(sizeof(*a));
  if (a == NULL)
    return;
  size_t n = make_window(w, 128, 1800);

  CHECK_EQ_INT(call(l, w, n, a, ANSWER_LIMIT), SBX_PLUGIN_OK);
  CHECK_EQ_STR((char *)a->buf, "normal");
  /* An answer limit below the label's length is passed back. */
  CHECK_EQ_INT(call(l, w, n, a, 3), SBX_PLUGIN_E_TOO_LARGE);

  CHECK_EQ_INT(call(l, NULL, 0, a, ANSWER_LIMIT), SBX_PLUGIN_E_INVALID);
  CHECK_EQ_INT(call(l, w, 15, a, ANSWER_LIMIT), SBX_PLUGIN_E_INVALID);
  CHECK_EQ_INT(call(l, w, n - 1, a, ANSWER_LIMIT), SBX_PLUGIN_E_INVALID);
  /* The header claims more samples than the payload carries. */
  put16(w + 6, 4096);
  CHECK_EQ_INT(call(l, w, n, a, ANSWER_LIMIT), SBX_PLUGIN_E_INVALID);
  put16(w + 6, 65535);
  CHECK_EQ_INT(call(l, w, n, a, ANSWER_LIMIT), SBX_PLUGIN_E_INVALID);
  put16(w + 6, 128);
  w[4] = 0; /* no channels */
  CHECK_EQ_INT(call(l, w, 16, a, ANSWER_LIMIT), SBX_PLUGIN_E_INVALID);
  w[4] = 255;
  CHECK_EQ_INT(call(l, w, n, a, ANSWER_LIMIT), SBX_PLUGIN_E_INVALID);
  w[4] = 3;
  w[5] = 2; /* unknown sample format */
  CHECK_EQ_INT(call(l, w, n, a, ANSWER_LIMIT), SBX_PLUGIN_E_INVALID);
  w[5] = 1;
  w[0] = 'X';
  CHECK_EQ_INT(call(l, w, n, a, ANSWER_LIMIT), SBX_PLUGIN_E_INVALID);
  w[0] = 'V';
  /* Extremes a reader must survive without dividing by zero: all-zero
   * samples, full-scale samples. */
  memset(w + 16, 0, n - 16);
  CHECK_EQ_INT(call(l, w, n, a, ANSWER_LIMIT), SBX_PLUGIN_OK);
  memset(w + 16, 0x80, n - 16);
  CHECK_EQ_INT(call(l, w, n, a, ANSWER_LIMIT), SBX_PLUGIN_OK);
  free(a);
}

static void test_sensor(void) {
  struct scenario scen;
  struct loaded lf, lt;
  struct score sf, stt;

  CHECK_EQ_INT(scenario_load(&scen, "sensor-anomaly"), 0);
  if (scen.sc == NULL)
    return;
  double bound = criterion_bound(&scen, "macro_f1");
  CHECK(!isnan(bound));
  CHECK_EQ_INT(scen.sc->checks->n_labels, 5);

  int have_f = plugin_open("anomaly_features", &lf) == 0;
  int have_t = plugin_open("anomaly_threshold", &lt) == 0;
  CHECK(have_f && have_t);
  if (have_f) {
    CHECK_EQ_INT(plugin_create(&lf, &scen), SBX_PLUGIN_OK);
    hostile_windows(&lf);
  }
  if (have_t) {
    CHECK_EQ_INT(plugin_create(&lt, &scen), SBX_PLUGIN_OK);
    hostile_windows(&lt);
  }
  if (lf.created && lt.created) {
    CHECK_EQ_INT(run_dataset(&lf, &scen, &sf), 0);
    CHECK_EQ_INT(run_dataset(&lt, &scen, &stt), 0);
    CHECK_EQ_INT(sf.errors, 0);
    CHECK_EQ_INT(stt.errors, 0);
    CHECK(sf.macro_f1 >= bound);
    CHECK(stt.macro_f1 < bound);
    CHECK(sf.macro_f1 > stt.macro_f1 + 0.1);
  }
  plugin_close(&lf);
  plugin_close(&lt);
  scenario_free(&scen);
}

/* ---- route-plan --------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* A four-node graph: 0 -> 1 -> 2 costs 3 + 4, the direct 0 -> 2 costs 10,
 * node 3 is unreachable. Coordinates on a line, 100 m apart. */
static size_t tiny_graph(uint8_t *g) {
  static const uint32_t first[] = {0, 2, 3, 3, 3};
  static const uint32_t arcs[][2] = {{1, 3}, {2, 10}, {2, 4}};
  memcpy(g, "SBXGRAF1", 8);
  put32(g + 8, 4);
  put32(g + 12, 3);
  uint8_t *p = g + 16;
  for (uint32_t v = 0; v < 4; v++, p += 8) {
    put32(p, v * 100);
    put32(p + 4, 0);
  }
  for (int v = 0; v < 5; v++, p += 4)
    put32(p, first[v]);
  for (int e = 0; e < 3; e++, p += 8) {
    put32(p, arcs[e][0]);
    put32(p + 4, arcs[e][1]);
  }
  return (size_t)(p - g);
}

/* exact: the plugin promises shortest paths. An approximate one must still
 * answer the cost of a real path. */
static void hostile_routes(struct loaded *l, int exact) {
  uint8_t g[256];
  size_t n = tiny_graph(g);
  void *inst = NULL;
  struct answer *a = malloc(sizeof(*a));
  if (a == NULL)
    return;

  /* create() refuses malformed graphs. */
  CHECK_EQ_INT(
      l->d->create((const uint8_t *)"", 0, (const uint8_t *)"", 0, &inst),
      SBX_PLUGIN_E_CONFIG);
  CHECK_EQ_INT(l->d->create((const uint8_t *)"", 0, g, n - 1, &inst),
               SBX_PLUGIN_E_CONFIG);
  CHECK_EQ_INT(l->d->create((const uint8_t *)"", 0, g, 12, &inst),
               SBX_PLUGIN_E_CONFIG);
  put32(g + 8, 0x7fffffff); /* a node count that would overflow sizes */
  CHECK_EQ_INT(l->d->create((const uint8_t *)"", 0, g, n, &inst),
               SBX_PLUGIN_E_CONFIG);
  put32(g + 8, 4);
  put32(g + 16 + 32 + 8, 1); /* offsets go backwards: 0, 2, 1 */
  CHECK_EQ_INT(l->d->create((const uint8_t *)"", 0, g, n, &inst),
               SBX_PLUGIN_E_CONFIG);
  n = tiny_graph(g);
  put32(g + 16 + 32 + 20, 4); /* arc to a node that does not exist */
  CHECK_EQ_INT(l->d->create((const uint8_t *)"", 0, g, n, &inst),
               SBX_PLUGIN_E_CONFIG);
  n = tiny_graph(g);

  CHECK_EQ_INT(l->d->create((const uint8_t *)"", 0, g, n, &inst),
               SBX_PLUGIN_OK);
  struct loaded t = *l;
  t.inst = inst;
  CHECK_EQ_INT(call(&t, "0 2", 3, a, ANSWER_LIMIT), SBX_PLUGIN_OK);
  if (exact)
    CHECK_EQ_STR((char *)a->buf, "7");
  else
    CHECK(strcmp((char *)a->buf, "7") == 0 ||
          strcmp((char *)a->buf, "10") == 0);
  CHECK_EQ_INT(call(&t, " 2 2\n", 5, a, ANSWER_LIMIT), SBX_PLUGIN_OK);
  CHECK_EQ_STR((char *)a->buf, "0");
  CHECK_EQ_INT(call(&t, "0 3", 3, a, ANSWER_LIMIT), SBX_PLUGIN_OK);
  CHECK_EQ_STR((char *)a->buf, "-1");
  CHECK_EQ_INT(call(&t, "2 0", 3, a, ANSWER_LIMIT), SBX_PLUGIN_OK);
  CHECK_EQ_STR((char *)a->buf, "-1"); /* arcs are one-way */

  static const char *const bad[] = {"",    "0",   "0 1 2",
                                    "4 0", "0 4", "-1 2",
                                    "a b", "0,1", "1 99999999999999999999999"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    CHECK_EQ_INT(call(&t, bad[i], strlen(bad[i]), a, ANSWER_LIMIT),
                 SBX_PLUGIN_E_INVALID);
  CHECK_EQ_INT(call(&t, NULL, 0, a, ANSWER_LIMIT), SBX_PLUGIN_E_INVALID);
  CHECK_EQ_INT(call(&t, "0 2", 3, a, 0), SBX_PLUGIN_E_TOO_LARGE);
  l->d->destroy(inst);
  free(a);
}

static void test_route(void) {
  struct scenario scen;
  struct loaded ld, lg;
  struct score sd, sg;

  CHECK_EQ_INT(scenario_load(&scen, "route-plan"), 0);
  if (scen.sc == NULL)
    return;
  /* route-plan judges exactness with error_rate: a wrong number is a
   * CHECK_FAILED error. In process nothing else can fail, so the error
   * rate is 1 - accuracy. */
  double bound = criterion_bound(&scen, "error_rate");
  CHECK(!isnan(bound));
  CHECK(scen.sc->setup_bytes.len > 16);
  /* Exact means exact: no tolerance. */
  CHECK(scen.sc->checks->number_abs_tolerance == 0);
  CHECK(scen.sc->checks->number_rel_tolerance == 0);

  int have_d = plugin_open("route_dijkstra", &ld) == 0;
  int have_g = plugin_open("route_greedy", &lg) == 0;
  CHECK(have_d && have_g);
  if (have_d) {
    hostile_routes(&ld, 1);
    CHECK_EQ_INT(plugin_create(&ld, &scen), SBX_PLUGIN_OK);
  }
  if (have_g) {
    hostile_routes(&lg, 0);
    CHECK_EQ_INT(plugin_create(&lg, &scen), SBX_PLUGIN_OK);
  }
  if (ld.created && lg.created) {
    CHECK_EQ_INT(run_dataset(&ld, &scen, &sd), 0);
    CHECK_EQ_INT(run_dataset(&lg, &scen, &sg), 0);
    CHECK_EQ_INT(sd.errors, 0);
    CHECK_EQ_INT(sg.errors, 0);
    CHECK(sd.accuracy == 1.0);
    CHECK(1 - sd.accuracy <= bound);
    CHECK(1 - sg.accuracy > bound);
    /* Approximate, not random: a wrong answer is a longer real path. */
    CHECK(sg.mae > 0 && sg.mae < 1000);
  }
  plugin_close(&ld);
  plugin_close(&lg);
  scenario_free(&scen);
}

int main(void) {
  test_sensor();
  test_route();
  return TEST_RESULT();
}
