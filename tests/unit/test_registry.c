/* test_registry.c - published scenarios and registered products, on a real
 * store in a mkdtemp() directory that is removed at the end.
 *
 * Scenarios: publishing from bytes and from a directory, idempotence,
 * replacement, the errors a publisher sees (positioned spec and dataset
 * messages), private datasets, finding the newest version and listing.
 * Products: the id grammar, endpoint and plugin checks, the content-addressed
 * plugin library on disk, replacement and listing by vendor. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset.h"
#include "digest.h"
#include "registry.h"
#include "spec.h"
#include "store.h"
#include "testlib.h"

static char root[64];
static char data_dir[128];
static struct sbx_store *store;

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

/* A small valid http scenario; version and load vary per test. */
static const char *spec_of(const char *name, const char *version) {
  static char buf[1024];
  snprintf(buf, sizeof(buf),
           "name: %s\n"
           "version: \"%s\"\n"
           "title: Tiny\n"
           "description: two cases\n"
           "interface:\n"
           "  kind: http\n"
           "  path: \"{path}\"\n"
           "dataset:\n"
           "  path: d.jsonl\n"
           "load:\n"
           "  model: closed\n"
           "  concurrency: 1\n"
           "  warmup: 0s\n"
           "  min_duration: 200ms\n"
           "  timeout: 1s\n"
           "score: throughput\n",
           name, version);
  return buf;
}

static const char ds2[] =
    "{\"id\":\"a\",\"path\":\"/ok/a\",\"expect\":{\"status\":200,"
    "\"exact\":\"ok:a\\n\"}}\n"
    "{\"id\":\"b\",\"path\":\"/ok/b\",\"expect\":{\"status\":200,"
    "\"exact\":\"ok:b\\n\"}}\n";

static const char ds3[] =
    "{\"id\":\"a\",\"path\":\"/ok/a\",\"expect\":{\"status\":200}}\n"
    "{\"id\":\"b\",\"path\":\"/ok/b\",\"expect\":{\"status\":200}}\n"
    "{\"id\":\"c\",\"path\":\"/ok/c\",\"expect\":{\"status\":200}}\n";

static const char ds_private[] =
    "{\"id\":\"p1\",\"path\":\"/ok/p1\",\"expect\":{\"status\":200}}\n"
    "{\"id\":\"p2\",\"path\":\"/ok/p2\",\"expect\":{\"status\":200}}\n"
    "{\"id\":\"p3\",\"path\":\"/ok/p3\",\"expect\":{\"status\":200}}\n"
    "{\"id\":\"p4\",\"path\":\"/ok/p4\",\"expect\":{\"status\":200}}\n"
    "{\"id\":\"p5\",\"path\":\"/ok/p5\",\"expect\":{\"status\":200}}\n";

static void set_bytes(ProtobufCBinaryData *b, const char *s) {
  b->data = (uint8_t *)s;
  b->len = s != NULL ? strlen(s) : 0;
}

/* Publishes spec + dataset (+ private) from bytes; returns the rc, puts the
 * info (or NULL) in *info and the message in diag. */
static int publish(const char *spec, const char *ds, const char *priv,
                   int replace, Sbx__V1__ScenarioInfo **info,
                   struct sbx_diag *diag) {
  Sbx__V1__PublishScenarioRequest rq = SBX__V1__PUBLISH_SCENARIO_REQUEST__INIT;
  set_bytes(&rq.spec, spec);
  set_bytes(&rq.dataset, ds);
  set_bytes(&rq.private_dataset, priv);
  rq.replace = replace;
  diag->msg[0] = '\0';
  return sbx_registry_publish(store, &rq, "api", info, diag);
}

static void info_free(Sbx__V1__ScenarioInfo *si) {
  if (si != NULL)
    sbx__v1__scenario_info__free_unpacked(si, NULL);
}

/* "FILE:LINE:COL: " at the start of msg, FILE being file. */
static int positioned(const char *msg, const char *file) {
  size_t n = strlen(file);
  unsigned line = 0, col = 0;
  int used = 0;
  if (strncmp(msg, file, n) != 0 || msg[n] != ':')
    return 0;
  if (sscanf(msg + n, ":%u:%u: %n", &line, &col, &used) != 2 || used == 0)
    return 0;
  return line > 0 && col > 0;
}

/* ---- scenarios ---- */

static void test_publish_bytes(void) {
  Sbx__V1__ScenarioInfo *a = NULL, *b = NULL, *c = NULL;
  struct sbx_diag d;
  char *buf = NULL;
  size_t len = 0;
  int rc;

  rc = publish(spec_of("tiny", "1.0.0"), ds2, NULL, 0, &a, &d);
  if (rc != 0)
    fprintf(stderr, "publish: %s: %s\n", sbx_err_name(rc), d.msg);
  CHECK_EQ_INT(rc, 0);
  if (a == NULL)
    return;
  CHECK_EQ_STR(a->name, "tiny");
  CHECK_EQ_STR(a->version, "1.0.0");
  CHECK_EQ_STR(a->title, "Tiny");
  CHECK_EQ_STR(a->source, "api");
  CHECK_EQ_STR(a->score_metric, "throughput");
  CHECK_EQ_INT(a->interface, SBX__V1__INTERFACE_KIND__INTERFACE_KIND_HTTP);
  CHECK_EQ_INT(a->public_cases, 2);
  CHECK_EQ_INT(a->has_private_dataset, 0);
  CHECK_EQ_INT(a->private_cases, 0);
  CHECK_EQ_INT(a->digest.len, SBX_SHA256_BYTES);
  CHECK(a->published_unix_ms > 0);

  /* The stored bytes are exactly what was sent. */
  CHECK_EQ_INT(sbx_registry_bytes(store, "tiny@1.0.0", "spec", &buf, &len), 0);
  CHECK(len == strlen(spec_of("tiny", "1.0.0")) &&
        memcmp(buf, spec_of("tiny", "1.0.0"), len) == 0);
  free(buf);
  CHECK_EQ_INT(sbx_registry_bytes(store, "tiny@1.0.0", "public", &buf, &len),
               0);
  CHECK(len == strlen(ds2) && memcmp(buf, ds2, len) == 0);
  free(buf);
  CHECK_EQ_INT(sbx_registry_bytes(store, "tiny@9", "spec", &buf, &len),
               SBX_ENOENT);
  CHECK(buf == NULL);

  /* The same bytes again: fine, and the record is the first one. */
  rc = publish(spec_of("tiny", "1.0.0"), ds2, NULL, 0, &b, &d);
  CHECK_EQ_INT(rc, 0);
  if (b != NULL) {
    CHECK_EQ_INT(b->published_unix_ms, a->published_unix_ms);
    CHECK(b->digest.len == a->digest.len &&
          memcmp(b->digest.data, a->digest.data, a->digest.len) == 0);
  }
  info_free(b);
  b = NULL;
  /* info may be NULL. */
  CHECK_EQ_INT(publish(spec_of("tiny", "1.0.0"), ds2, NULL, 0, NULL, &d), 0);

  /* Different bytes under the same name@version need replace. */
  rc = publish(spec_of("tiny", "1.0.0"), ds3, NULL, 0, &b, &d);
  CHECK_EQ_INT(rc, SBX_EEXIST);
  CHECK(b == NULL);
  CHECK(strstr(d.msg, "tiny@1.0.0") != NULL);
  CHECK(strstr(d.msg, "already published") != NULL);
  /* A private dataset added later is a different publication too. */
  CHECK_EQ_INT(publish(spec_of("tiny", "1.0.0"), ds2, ds_private, 0, NULL, &d),
               SBX_EEXIST);
  /* Nothing changed. */
  CHECK_EQ_INT(sbx_registry_find_scenario(store, "tiny@1.0.0", &c, &d), 0);
  if (c != NULL)
    CHECK_EQ_INT(c->public_cases, 2);
  info_free(c);
  c = NULL;

  rc = publish(spec_of("tiny", "1.0.0"), ds3, NULL, 1, &b, &d);
  CHECK_EQ_INT(rc, 0);
  if (b != NULL) {
    CHECK_EQ_INT(b->public_cases, 3);
    CHECK(memcmp(b->digest.data, a->digest.data, a->digest.len) != 0);
  }
  CHECK_EQ_INT(sbx_registry_find_scenario(store, "tiny@1.0.0", &c, &d), 0);
  if (c != NULL && b != NULL) {
    CHECK_EQ_INT(c->public_cases, 3);
    CHECK(memcmp(c->digest.data, b->digest.data, b->digest.len) == 0);
  }
  info_free(a);
  info_free(b);
  info_free(c);
}

static void test_publish_errors(void) {
  Sbx__V1__ScenarioInfo *si = (Sbx__V1__ScenarioInfo *)1;
  struct sbx_diag d;
  char spec[1200];
  int rc;

  /* A bad value points at its YAML node. */
  snprintf(spec, sizeof(spec), "%s", spec_of("bad", "1"));
  {
    char *p = strstr(spec, "concurrency: 1");
    CHECK(p != NULL);
    if (p != NULL)
      memcpy(p, "concurrency: x", 14);
  }
  rc = publish(spec, ds2, NULL, 0, &si, &d);
  CHECK_EQ_INT(rc, SBX_ESPEC);
  CHECK(si == NULL);
  CHECK(positioned(d.msg, "spec.yaml"));
  CHECK(strstr(d.msg, "spec.yaml:12:") == d.msg);
  CHECK(strstr(d.msg, "concurrency") != NULL);

  /* Broken YAML, an empty spec, a missing key. */
  rc = publish("name: [unclosed\n", ds2, NULL, 0, &si, &d);
  CHECK_EQ_INT(rc, SBX_ESPEC);
  CHECK(positioned(d.msg, "spec.yaml"));
  rc = publish("", ds2, NULL, 0, &si, &d);
  CHECK_EQ_INT(rc, SBX_ESPEC);
  CHECK(d.msg[0] != '\0');
  rc = publish("name: x\nversion: \"1\"\n", ds2, NULL, 0, &si, &d);
  CHECK_EQ_INT(rc, SBX_ESPEC);
  CHECK(positioned(d.msg, "spec.yaml"));

  /* Datasets: not JSON, an unknown key, empty. */
  rc = publish(spec_of("bad", "1"), "{not json\n", NULL, 0, &si, &d);
  CHECK_EQ_INT(rc, SBX_EDATASET);
  CHECK(si == NULL);
  CHECK(positioned(d.msg, "d.jsonl"));
  rc = publish(spec_of("bad", "1"),
               "{\"id\":\"a\",\"path\":\"/a\",\"expect\":{\"status\":200}}\n"
               "{\"id\":\"b\",\"path\":\"/b\",\"bogus\":1}\n",
               NULL, 0, &si, &d);
  CHECK_EQ_INT(rc, SBX_EDATASET);
  CHECK(strstr(d.msg, "d.jsonl:2:") == d.msg);
  rc = publish(spec_of("bad", "1"), "", NULL, 0, &si, &d);
  CHECK_EQ_INT(rc, SBX_EDATASET);
  CHECK(d.msg[0] != '\0');
  /* A case without the path the interface needs is the cross-check's. */
  rc =
      publish(spec_of("bad", "1"),
              "{\"id\":\"a\",\"expect\":{\"status\":200}}\n", NULL, 0, &si, &d);
  CHECK(rc == SBX_EDATASET || rc == SBX_ESPEC);
  CHECK(d.msg[0] != '\0');

  /* A bad private dataset is named as such. */
  rc = publish(spec_of("bad", "1"), ds2, "{not json\n", 0, &si, &d);
  CHECK_EQ_INT(rc, SBX_EDATASET);
  CHECK(strstr(d.msg, "private dataset") == d.msg);

  /* None of it was stored. */
  rc = sbx_registry_find_scenario(store, "bad", &si, &d);
  CHECK_EQ_INT(rc, SBX_ENOENT);
  CHECK(si == NULL);
}

static void test_private(void) {
  Sbx__V1__ScenarioInfo *si = NULL;
  Sbx__V1__Scenario *sc_pub = NULL, *sc_priv = NULL;
  struct sbx_dataset *ds_pub = NULL, *ds_priv = NULL;
  struct sbx_diag d;
  char *buf = NULL;
  size_t len = 0;
  int rc;

  rc = publish(spec_of("secret", "1.0.0"), ds2, ds_private, 0, &si, &d);
  CHECK_EQ_INT(rc, 0);
  if (si != NULL) {
    CHECK_EQ_INT(si->has_private_dataset, 1);
    CHECK_EQ_INT(si->private_cases, 5);
    CHECK_EQ_INT(si->public_cases, 2);
  }
  info_free(si);
  si = NULL;
  /* Publishing the same three files again is idempotent. */
  CHECK_EQ_INT(
      publish(spec_of("secret", "1.0.0"), ds2, ds_private, 0, NULL, &d), 0);

  CHECK_EQ_INT(sbx_registry_bytes(store, "secret@1.0.0", "private", &buf, &len),
               0);
  CHECK(len == strlen(ds_private) && memcmp(buf, ds_private, len) == 0);
  free(buf);

  CHECK_EQ_INT(
      sbx_registry_load(store, "secret@1.0.0", 0, &sc_pub, &ds_pub, &d), 0);
  rc = sbx_registry_load(store, "secret@1.0.0", 1, &sc_priv, &ds_priv, &d);
  if (rc != 0)
    fprintf(stderr, "load private: %s\n", d.msg);
  CHECK_EQ_INT(rc, 0);
  if (ds_pub != NULL && ds_priv != NULL && sc_pub != NULL && sc_priv != NULL) {
    CHECK_EQ_INT(ds_pub->n_cases, 2);
    CHECK_EQ_INT(ds_priv->n_cases, 5);
    CHECK_EQ_STR(sc_priv->name, "secret");
    CHECK_EQ_INT(sc_pub->digest.len, SBX_SHA256_BYTES);
    CHECK_EQ_INT(sc_priv->digest.len, SBX_SHA256_BYTES);
    CHECK(memcmp(sc_pub->digest.data, sc_priv->digest.data, SBX_SHA256_BYTES) !=
          0);
    CHECK_EQ_INT(sc_priv->dataset->case_count, 5);
  }
  sbx_scenario_free(sc_pub);
  sbx_scenario_free(sc_priv);
  sbx_dataset_free(ds_pub);
  sbx_dataset_free(ds_priv);

  /* The public digest of the info is the one a public run loads. */
  CHECK_EQ_INT(sbx_registry_find_scenario(store, "secret@1.0.0", &si, &d), 0);
  CHECK_EQ_INT(
      sbx_registry_load(store, "secret@1.0.0", 0, &sc_pub, &ds_pub, &d), 0);
  if (si != NULL && sc_pub != NULL)
    CHECK(si->digest.len == sc_pub->digest.len &&
          memcmp(si->digest.data, sc_pub->digest.data, si->digest.len) == 0);
  info_free(si);
  sbx_scenario_free(sc_pub);
  sbx_dataset_free(ds_pub);

  /* Unknown scenario. */
  sc_pub = (Sbx__V1__Scenario *)1;
  ds_pub = (struct sbx_dataset *)1;
  CHECK_EQ_INT(sbx_registry_load(store, "nope@1", 0, &sc_pub, &ds_pub, &d),
               SBX_ENOENT);
  CHECK(sc_pub == NULL && ds_pub == NULL);
  CHECK(strstr(d.msg, "nope@1") != NULL);
}

struct names {
  char buf[1024];
  int n;
};

static int collect(const Sbx__V1__ScenarioInfo *si, void *arg) {
  struct names *c = arg;
  size_t n = strlen(c->buf);
  snprintf(c->buf + n, sizeof(c->buf) - n, "%s%s@%s", n ? " " : "", si->name,
           si->version);
  c->n++;
  return 0;
}

static int stop_at_first(const Sbx__V1__ScenarioInfo *si, void *arg) {
  (void)si;
  (*(int *)arg)++;
  return 42;
}

static void test_find_list(void) {
  Sbx__V1__ScenarioInfo *si = NULL;
  struct sbx_diag d;
  struct names all, ver;
  int calls = 0, rc;

  /* Published out of order; the newest by strverscmp wins, not by bytes
   * ("1.9.0" > "1.10.0" as strings) nor by publication time. */
  CHECK_EQ_INT(publish(spec_of("ver", "1.9.0"), ds2, NULL, 0, NULL, &d), 0);
  CHECK_EQ_INT(publish(spec_of("ver", "1.10.0"), ds2, NULL, 0, NULL, &d), 0);
  CHECK_EQ_INT(publish(spec_of("ver", "1.2.0"), ds2, NULL, 0, NULL, &d), 0);
  /* A name that starts like "ver" is another scenario. */
  CHECK_EQ_INT(publish(spec_of("ver-x", "9.0.0"), ds2, NULL, 0, NULL, &d), 0);
  CHECK_EQ_INT(publish(spec_of("verx", "9.0.0"), ds2, NULL, 0, NULL, &d), 0);

  CHECK_EQ_INT(sbx_registry_find_scenario(store, "ver", &si, &d), 0);
  if (si != NULL) {
    CHECK_EQ_STR(si->name, "ver");
    CHECK_EQ_STR(si->version, "1.10.0");
  }
  info_free(si);
  CHECK_EQ_INT(sbx_registry_find_scenario(store, "ver@1.9.0", &si, &d), 0);
  if (si != NULL)
    CHECK_EQ_STR(si->version, "1.9.0");
  info_free(si);

  /* Unknown: the message lists what is published. */
  rc = sbx_registry_find_scenario(store, "nope", &si, &d);
  CHECK_EQ_INT(rc, SBX_ENOENT);
  CHECK(si == NULL);
  CHECK(strstr(d.msg, "nope") != NULL);
  CHECK(strstr(d.msg, "ver@1.10.0") != NULL);
  CHECK(strstr(d.msg, "tiny@1.0.0") != NULL);
  rc = sbx_registry_find_scenario(store, "ver@3.0.0", &si, &d);
  CHECK_EQ_INT(rc, SBX_ENOENT);
  CHECK(strstr(d.msg, "ver@3.0.0") != NULL);
  CHECK(strstr(d.msg, "ver@1.2.0") != NULL);
  rc = sbx_registry_find_scenario(store, "", &si, &d);
  CHECK_EQ_INT(rc, SBX_EINVAL);
  rc = sbx_registry_find_scenario(store, NULL, &si, &d);
  CHECK_EQ_INT(rc, SBX_EINVAL);

  memset(&all, 0, sizeof(all));
  memset(&ver, 0, sizeof(ver));
  CHECK_EQ_INT(sbx_registry_list_scenarios(store, NULL, collect, &all), 0);
  CHECK_EQ_INT(sbx_registry_list_scenarios(store, "ver", collect, &ver), 0);
  CHECK_EQ_INT(ver.n, 3);
  CHECK(strstr(ver.buf, "ver-x") == NULL && strstr(ver.buf, "verx") == NULL);
  CHECK(strstr(all.buf, "ver-x@9.0.0") != NULL);
  CHECK(strstr(all.buf, "tiny@1.0.0") != NULL);
  CHECK(strstr(all.buf, "secret@1.0.0") != NULL);
  CHECK(all.n >= 7);
  memset(&all, 0, sizeof(all));
  CHECK_EQ_INT(sbx_registry_list_scenarios(store, "", collect, &all), 0);
  CHECK(all.n >= 7);
  memset(&ver, 0, sizeof(ver));
  CHECK_EQ_INT(sbx_registry_list_scenarios(store, "none", collect, &ver), 0);
  CHECK_EQ_INT(ver.n, 0);
  /* A callback's non-zero value stops the walk and comes back. */
  CHECK_EQ_INT(sbx_registry_list_scenarios(store, NULL, stop_at_first, &calls),
               42);
  CHECK_EQ_INT(calls, 1);
}

static int count_lines(const char *path) {
  FILE *f = fopen(path, "r");
  int c, n = 0;
  if (f == NULL)
    return -1;
  while ((c = fgetc(f)) != EOF)
    n += c == '\n';
  fclose(f);
  return n;
}

static void test_publish_dir(void) {
  const char *src = getenv("SBX_SOURCE_DIR");
  char dir[4096], path[4200];
  Sbx__V1__ScenarioInfo *si = NULL, *again = NULL;
  Sbx__V1__Scenario *sc = NULL, *disk = NULL;
  struct sbx_dataset *ds = NULL, *dds = NULL;
  struct sbx_diag d = {""};
  int rc;

  snprintf(dir, sizeof(dir), "%s/sandbox-specs/web-static",
           src != NULL ? src : ".");
  rc = sbx_registry_publish_dir(store, dir, &si, &d);
  if (rc != 0)
    fprintf(stderr, "publish_dir: %s: %s\n", sbx_err_name(rc), d.msg);
  CHECK_EQ_INT(rc, 0);
  snprintf(path, sizeof(path), "%s/dataset.jsonl", dir);
  if (si != NULL) {
    CHECK_EQ_STR(si->name, "web-static");
    CHECK_EQ_STR(si->version, "1.0.0");
    CHECK_EQ_STR(si->source, dir);
    CHECK_EQ_INT(si->public_cases, count_lines(path));
    CHECK_EQ_INT(si->has_private_dataset, 0);
  }
  /* Loaded back from the store, it is what sbx_spec_load reads from disk. */
  CHECK_EQ_INT(sbx_registry_load(store, "web-static@1.0.0", 0, &sc, &ds, &d),
               0);
  CHECK_EQ_INT(sbx_spec_load(dir, &disk, &dds, &d), 0);
  if (sc != NULL && disk != NULL && si != NULL) {
    CHECK(sc->digest.len == disk->digest.len &&
          memcmp(sc->digest.data, disk->digest.data, sc->digest.len) == 0);
    CHECK(si->digest.len == disk->digest.len &&
          memcmp(si->digest.data, disk->digest.data, si->digest.len) == 0);
    CHECK_EQ_INT(ds->n_cases, dds->n_cases);
  }
  /* The directory form replaces: publishing it again is fine. */
  CHECK_EQ_INT(sbx_registry_publish_dir(store, dir, &again, &d), 0);
  info_free(si);
  info_free(again);
  sbx_scenario_free(sc);
  sbx_scenario_free(disk);
  sbx_dataset_free(ds);
  sbx_dataset_free(dds);

  snprintf(dir, sizeof(dir), "%s/no-such-scenario", root);
  si = (Sbx__V1__ScenarioInfo *)1;
  rc = sbx_registry_publish_dir(store, dir, &si, &d);
  CHECK_EQ_INT(rc, SBX_ENOENT);
  CHECK(strstr(d.msg, "spec.yaml") != NULL);
}

/* ---- products ---- */

static void test_parse_product_id(void) {
  static const struct {
    const char *id;
    int ok;
    const char *vendor;
  } cases[] = {
      {"acme/edge@1.2", 1, "acme"},
      {"a/b@1", 1, "a"},
      {"0ac/x_y.z-w@1.0.0+build-1_rc.A", 1, "0ac"},
      {"ac.me/e-dge@v2", 1, "ac.me"},
      {"", 0, NULL},
      {"acme", 0, NULL},
      {"acme/edge", 0, NULL},
      {"acme@1", 0, NULL},
      {"/edge@1", 0, NULL},
      {"acme/@1", 0, NULL},
      {"acme/edge@", 0, NULL},
      {"Acme/edge@1", 0, NULL},
      {"acme/Edge@1", 0, NULL},
      {"-acme/edge@1", 0, NULL},
      {"acme/.edge@1", 0, NULL},
      {"acme/_edge@1", 0, NULL},
      {"acme/edge@1@2", 0, NULL},
      {"acme/ed/ge@1", 0, NULL},
      {"acme/edge@1/2", 0, NULL},
      {"acme/edge@1 2", 0, NULL},
      {"acme/edge@1\n", 0, NULL},
      {"acme/edge@1~", 0, NULL},
      {"ac me/edge@1", 0, NULL},
      {"acme/ed\xc3\xa9ge@1", 0, NULL},
      {"acme@x/edge@1", 0, NULL},
  };
  char vendor[80], id[300];
  struct sbx_diag d;
  size_t i;

  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int rc;
    d.msg[0] = '\0';
    vendor[0] = '\0';
    rc = sbx_registry_parse_product_id(cases[i].id, vendor, sizeof(vendor), &d);
    if ((rc == 0) != cases[i].ok)
      fprintf(stderr, "parse_product_id(\"%s\") = %s\n", cases[i].id,
              sbx_err_name(rc));
    CHECK_EQ_INT(rc, cases[i].ok ? 0 : SBX_EINVAL);
    if (cases[i].ok)
      CHECK_EQ_STR(vendor, cases[i].vendor);
    else
      CHECK(d.msg[0] != '\0');
  }
  CHECK_EQ_INT(sbx_registry_parse_product_id(NULL, vendor, sizeof(vendor), &d),
               SBX_EINVAL);
  CHECK(strstr(d.msg, "vendor/name@version") != NULL);
  /* No vendor buffer, or a small one (truncated, terminated). */
  CHECK_EQ_INT(sbx_registry_parse_product_id("acme/edge@1", NULL, 0, NULL), 0);
  CHECK_EQ_INT(sbx_registry_parse_product_id("acme/edge@1", vendor, 3, NULL),
               0);
  CHECK_EQ_STR(vendor, "ac");
  /* Parts are at most 64 characters. */
  memset(vendor, 'v', 64);
  vendor[64] = '\0';
  snprintf(id, sizeof(id), "%s/n@1", vendor);
  CHECK_EQ_INT(sbx_registry_parse_product_id(id, NULL, 0, NULL), 0);
  snprintf(id, sizeof(id), "%sv/n@1", vendor);
  CHECK_EQ_INT(sbx_registry_parse_product_id(id, NULL, 0, NULL), SBX_EINVAL);
  snprintf(id, sizeof(id), "a/n@%s", vendor);
  CHECK_EQ_INT(sbx_registry_parse_product_id(id, NULL, 0, NULL), 0);
  snprintf(id, sizeof(id), "a/n@%s1", vendor);
  CHECK_EQ_INT(sbx_registry_parse_product_id(id, NULL, 0, NULL), SBX_EINVAL);
}

struct endpoint_req {
  Sbx__V1__RegisterProductRequest rq;
  Sbx__V1__Product p;
  Sbx__V1__Endpoint ep;
  Sbx__V1__Header h[2];
  Sbx__V1__Header *hp[2];
};

static void endpoint_req(struct endpoint_req *e, const char *vendor,
                         const char *name, const char *version,
                         const char *url) {
  Sbx__V1__RegisterProductRequest rq = SBX__V1__REGISTER_PRODUCT_REQUEST__INIT;
  Sbx__V1__Product p = SBX__V1__PRODUCT__INIT;
  Sbx__V1__Endpoint ep = SBX__V1__ENDPOINT__INIT;
  Sbx__V1__Header h = SBX__V1__HEADER__INIT;
  e->rq = rq;
  e->p = p;
  e->ep = ep;
  e->h[0] = h;
  e->h[1] = h;
  e->hp[0] = &e->h[0];
  e->hp[1] = &e->h[1];
  e->p.vendor = (char *)vendor;
  e->p.name = (char *)name;
  e->p.version = (char *)version;
  e->p.kind = SBX__V1__PRODUCT_KIND__PRODUCT_KIND_ENDPOINT;
  e->p.endpoint = &e->ep;
  e->ep.url = (char *)url;
  e->rq.product = &e->p;
}

static int reg(const Sbx__V1__RegisterProductRequest *rq,
               Sbx__V1__Product **out, struct sbx_diag *d) {
  d->msg[0] = '\0';
  return sbx_registry_register(store, data_dir, rq, out, d);
}

static void test_register_endpoint(void) {
  static const char *const bad_urls[] = {
      "127.0.0.1:8080",
      "ftp://127.0.0.1/",
      "HTTP-ish",
      "",
      "http://127.0.0.1/a b",
      "http://127.0.0.1/\ta",
      "http://127.0.0.1/\x01",
      "http://127.0.0.1/\x7f",
      "http://127.0.0.1/a\r\nX-Evil: 1",
  };
  static const struct {
    const char *name, *value;
  } bad_headers[] = {
      {"", "v"},        {"Bad Name", "v"}, {"X:Y", "v"},
      {"X-A\r\n", "v"}, {"X(a)", "v"},     {"X-Ok", "a\r\nX-Evil: 1"},
      {"X-Ok", "a\nb"}, {"X-Ok", "\x7f"},
  };
  struct endpoint_req e;
  Sbx__V1__Product *out = NULL, *got = NULL;
  struct sbx_diag d;
  size_t i;
  int rc;

  endpoint_req(&e, "acme", "web", "1.0", "http://127.0.0.1:8080/base");
  e.h[0].name = "X-Api-Key";
  e.h[0].value = "k1\tk2";
  e.ep.headers = e.hp;
  e.ep.n_headers = 1;
  e.ep.secret = "s3cret";
  e.p.callback_url = "https://ci.example/hook";
  rc = reg(&e.rq, &out, &d);
  if (rc != 0)
    fprintf(stderr, "register: %s\n", d.msg);
  CHECK_EQ_INT(rc, 0);
  if (out != NULL) {
    char id[300];
    CHECK(out->created_unix_ms > 0);
    CHECK(out->endpoint != NULL && out->plugin == NULL);
    if (out->endpoint != NULL)
      CHECK_EQ_STR(out->endpoint->secret, "s3cret");
    sbx_registry_product_id(out, id, sizeof(id));
    CHECK_EQ_STR(id, "acme/web@1.0");
    sbx__v1__product__free_unpacked(out, NULL);
    out = NULL;
  }
  /* The caller's message is untouched. */
  CHECK_EQ_INT(e.p.created_unix_ms, 0);

  /* Read back: the registry keeps the secret (the API strips it). */
  CHECK_EQ_INT(sbx_registry_product(store, "acme/web@1.0", &got), 0);
  if (got != NULL) {
    CHECK_EQ_INT(got->kind, SBX__V1__PRODUCT_KIND__PRODUCT_KIND_ENDPOINT);
    CHECK(got->endpoint != NULL);
    if (got->endpoint != NULL) {
      CHECK_EQ_STR(got->endpoint->url, "http://127.0.0.1:8080/base");
      CHECK_EQ_STR(got->endpoint->secret, "s3cret");
      CHECK_EQ_INT(got->endpoint->n_headers, 1);
      if (got->endpoint->n_headers == 1) {
        CHECK_EQ_STR(got->endpoint->headers[0]->name, "X-Api-Key");
        CHECK_EQ_STR(got->endpoint->headers[0]->value, "k1\tk2");
      }
    }
    CHECK_EQ_STR(got->callback_url, "https://ci.example/hook");
    sbx__v1__product__free_unpacked(got, NULL);
    got = NULL;
  }
  CHECK_EQ_INT(sbx_registry_product(store, "acme/web@9", &got), SBX_ENOENT);
  CHECK(got == NULL);
  CHECK_EQ_INT(sbx_registry_product(store, "", &got), SBX_ENOENT);
  CHECK_EQ_INT(sbx_registry_product(store, NULL, &got), SBX_ENOENT);

  /* Again without replace: EEXIST, the stored one unchanged. */
  e.ep.secret = "other";
  CHECK_EQ_INT(reg(&e.rq, &out, &d), SBX_EEXIST);
  CHECK(out == NULL);
  CHECK(strstr(d.msg, "acme/web@1.0") != NULL);
  CHECK_EQ_INT(sbx_registry_product(store, "acme/web@1.0", &got), 0);
  if (got != NULL) {
    CHECK_EQ_STR(got->endpoint->secret, "s3cret");
    sbx__v1__product__free_unpacked(got, NULL);
    got = NULL;
  }
  e.rq.replace = 1;
  CHECK_EQ_INT(reg(&e.rq, NULL, &d), 0);
  CHECK_EQ_INT(sbx_registry_product(store, "acme/web@1.0", &got), 0);
  if (got != NULL) {
    CHECK_EQ_STR(got->endpoint->secret, "other");
    sbx__v1__product__free_unpacked(got, NULL);
    got = NULL;
  }

  /* URLs. */
  for (i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
    endpoint_req(&e, "acme", "bad-url", "1", bad_urls[i]);
    rc = reg(&e.rq, &out, &d);
    if (rc != SBX_EINVAL)
      fprintf(stderr, "url \"%s\" accepted\n", bad_urls[i]);
    CHECK_EQ_INT(rc, SBX_EINVAL);
    CHECK(out == NULL);
    CHECK(strstr(d.msg, "product.endpoint.url") == d.msg);
  }
  endpoint_req(&e, "acme", "bad-url", "1", "http://127.0.0.1/a b");
  reg(&e.rq, NULL, &d);
  CHECK(strstr(d.msg, "offset 18") != NULL);
  endpoint_req(&e, "acme", "bad-url", "1", NULL);
  CHECK_EQ_INT(reg(&e.rq, NULL, &d), SBX_EINVAL);
  {
    char longurl[2100];
    memset(longurl, 'a', sizeof(longurl) - 1);
    memcpy(longurl, "http://", 7);
    longurl[sizeof(longurl) - 1] = '\0';
    endpoint_req(&e, "acme", "bad-url", "1", longurl);
    CHECK_EQ_INT(reg(&e.rq, NULL, &d), SBX_EINVAL);
    CHECK(strstr(d.msg, "2048") != NULL);
  }
  /* https is fine too. */
  endpoint_req(&e, "acme", "tls", "1", "https://127.0.0.1:8443/");
  CHECK_EQ_INT(reg(&e.rq, NULL, &d), 0);

  /* Headers, secret, callback. */
  for (i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++) {
    endpoint_req(&e, "acme", "bad-hdr", "1", "http://127.0.0.1:1/");
    e.h[0].name = "X-Fine";
    e.h[0].value = "ok";
    e.h[1].name = (char *)bad_headers[i].name;
    e.h[1].value = (char *)bad_headers[i].value;
    e.ep.headers = e.hp;
    e.ep.n_headers = 2;
    rc = reg(&e.rq, NULL, &d);
    if (rc != SBX_EINVAL)
      fprintf(stderr, "header %zu accepted\n", i);
    CHECK_EQ_INT(rc, SBX_EINVAL);
    CHECK(strstr(d.msg, "product.endpoint.headers[1]") == d.msg);
  }
  endpoint_req(&e, "acme", "bad-secret", "1", "http://127.0.0.1:1/");
  e.ep.secret = "s\r\nX-Evil: 1";
  CHECK_EQ_INT(reg(&e.rq, NULL, &d), SBX_EINVAL);
  CHECK(strstr(d.msg, "secret") != NULL);
  endpoint_req(&e, "acme", "bad-cb", "1", "http://127.0.0.1:1/");
  e.p.callback_url = "mailto:me@example";
  CHECK_EQ_INT(reg(&e.rq, NULL, &d), SBX_EINVAL);
  CHECK(strstr(d.msg, "product.callback_url") == d.msg);

  /* Kind and shape. */
  endpoint_req(&e, "acme", "no-ep", "1", "http://127.0.0.1:1/");
  e.p.endpoint = NULL;
  CHECK_EQ_INT(reg(&e.rq, NULL, &d), SBX_EINVAL);
  CHECK(strstr(d.msg, "product.endpoint") == d.msg);
  endpoint_req(&e, "acme", "no-kind", "1", "http://127.0.0.1:1/");
  e.p.kind = SBX__V1__PRODUCT_KIND__PRODUCT_KIND_UNSPECIFIED;
  CHECK_EQ_INT(reg(&e.rq, NULL, &d), SBX_EINVAL);
  CHECK(strstr(d.msg, "product.kind") == d.msg);
  e.rq.product = NULL;
  CHECK_EQ_INT(reg(&e.rq, NULL, &d), SBX_EINVAL);
  endpoint_req(&e, "Acme", "web", "1", "http://127.0.0.1:1/");
  CHECK_EQ_INT(reg(&e.rq, NULL, &d), SBX_EINVAL);
  CHECK(strstr(d.msg, "vendor/name@version") != NULL);
  endpoint_req(&e, "acme", "", "1", "http://127.0.0.1:1/");
  CHECK_EQ_INT(reg(&e.rq, NULL, &d), SBX_EINVAL);

  /* None of the refused ones was stored. */
  CHECK_EQ_INT(sbx_registry_product(store, "acme/bad-url@1", &got), SBX_ENOENT);
  CHECK_EQ_INT(sbx_registry_product(store, "acme/bad-hdr@1", &got), SBX_ENOENT);
  CHECK_EQ_INT(sbx_registry_product(store, "acme/no-ep@1", &got), SBX_ENOENT);
}

/* A vendor, name or version over 64 characters is refused, not stored
 * under a truncated id. */
static void test_register_long_parts(void) {
  struct endpoint_req e;
  Sbx__V1__Product *got = NULL;
  struct sbx_diag d;
  char longv[80], id[300];

  memset(longv, 'v', 70);
  longv[70] = '\0';
  endpoint_req(&e, longv, "web", "1", "http://127.0.0.1:1/");
  CHECK_EQ_INT(reg(&e.rq, NULL, &d), SBX_EINVAL);
  snprintf(id, sizeof(id), "%.64s/web@1", longv);
  CHECK_EQ_INT(sbx_registry_product(store, id, &got), SBX_ENOENT);
  if (got != NULL)
    sbx__v1__product__free_unpacked(got, NULL);
  endpoint_req(&e, "acme", "web", longv, "http://127.0.0.1:1/");
  CHECK_EQ_INT(reg(&e.rq, NULL, &d), SBX_EINVAL);
}

static size_t file_size(const char *path, mode_t *mode) {
  struct stat sb;
  if (stat(path, &sb) != 0)
    return (size_t)-1;
  if (mode != NULL)
    *mode = sb.st_mode & 07777;
  return (size_t)sb.st_size;
}

static int count_dir(const char *path) {
  DIR *dir = opendir(path);
  struct dirent *de;
  int n = 0;
  if (dir == NULL)
    return -1;
  while ((de = readdir(dir)) != NULL)
    if (de->d_name[0] != '.')
      n++;
  closedir(dir);
  return n;
}

static void test_register_plugin(void) {
  static const uint8_t lib[] = "\177ELF\2\1\1\0pretend this is a shared object";
  static const uint8_t lib2[] = "\177ELF\2\1\1\0another library";
  Sbx__V1__RegisterProductRequest rq = SBX__V1__REGISTER_PRODUCT_REQUEST__INIT;
  Sbx__V1__Product p = SBX__V1__PRODUCT__INIT, *out = NULL, *out2 = NULL;
  Sbx__V1__Plugin pl = SBX__V1__PLUGIN__INIT;
  Sbx__V1__Endpoint ep = SBX__V1__ENDPOINT__INIT;
  uint8_t sha[SBX_SHA256_BYTES];
  char plugins[200], *path = NULL, *path2 = NULL, buf[128];
  struct sbx_diag d;
  mode_t mode = 0;
  int fd;

  p.vendor = "acme";
  p.name = "plug";
  p.version = "1";
  p.kind = SBX__V1__PRODUCT_KIND__PRODUCT_KIND_PLUGIN;
  p.plugin = &pl;
  pl.filename = "libplug.so";
  pl.config.data = (uint8_t *)"cfg";
  pl.config.len = 3;
  /* A sha256 sent by the caller is not trusted: it is computed here. */
  pl.sha256.data = (uint8_t *)"0123456789abcdef0123456789abcdef";
  pl.sha256.len = 32;
  rq.product = &p;

  /* Not ELF, empty, too short. */
  rq.library.data = (uint8_t *)"#!/bin/sh\necho hi\n";
  rq.library.len = 18;
  CHECK_EQ_INT(reg(&rq, &out, &d), SBX_EINVAL);
  CHECK(out == NULL);
  CHECK(strstr(d.msg, "ELF") != NULL);
  rq.library.len = 0;
  CHECK_EQ_INT(reg(&rq, NULL, &d), SBX_EINVAL);
  CHECK(strstr(d.msg, "library") == d.msg);
  rq.library.data = (uint8_t *)"\177EL";
  rq.library.len = 3;
  CHECK_EQ_INT(reg(&rq, NULL, &d), SBX_EINVAL);
  snprintf(plugins, sizeof(plugins), "%s/plugins", data_dir);
  CHECK(count_dir(plugins) <= 0);

  rq.library.data = (uint8_t *)lib;
  rq.library.len = sizeof(lib);
  CHECK_EQ_INT(sbx_sha256(lib, sizeof(lib), sha), 0);
  /* An endpoint sent along with a plugin is dropped. */
  ep.url = "http://127.0.0.1:1/";
  p.endpoint = &ep;
  CHECK_EQ_INT(reg(&rq, &out, &d), 0);
  if (out == NULL)
    return;
  CHECK(out->endpoint == NULL);
  CHECK(out->plugin != NULL);
  CHECK_EQ_INT(out->plugin->size, sizeof(lib));
  CHECK(out->plugin->sha256.len == SBX_SHA256_BYTES &&
        memcmp(out->plugin->sha256.data, sha, SBX_SHA256_BYTES) == 0);
  CHECK_EQ_STR(out->plugin->filename, "libplug.so");
  CHECK(out->plugin->config.len == 3 &&
        memcmp(out->plugin->config.data, "cfg", 3) == 0);

  path = sbx_registry_plugin_path(data_dir, out);
  CHECK(path != NULL);
  if (path != NULL) {
    char want[300];
    size_t i, n;
    n = (size_t)snprintf(want, sizeof(want), "%s/plugins/", data_dir);
    for (i = 0; i < SBX_SHA256_BYTES; i++)
      n += (size_t)snprintf(want + n, sizeof(want) - n, "%02x", sha[i]);
    snprintf(want + n, sizeof(want) - n, ".so");
    CHECK_EQ_STR(path, want);
    CHECK_EQ_INT(file_size(path, &mode), sizeof(lib));
    CHECK_EQ_INT(mode, 0644);
    fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    if (fd >= 0) {
      CHECK(read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(lib));
      CHECK(memcmp(buf, lib, sizeof(lib)) == 0);
      close(fd);
    }
    /* The jailed host (another uid) passes through the data directory and
     * reads the plugins directory. */
    CHECK_EQ_INT(file_size(plugins, &mode) != (size_t)-1, 1);
    CHECK_EQ_INT(mode, 0755);
    CHECK(file_size(data_dir, &mode) != (size_t)-1);
    CHECK(mode & 0001);
  }

  /* The same bytes for another product: the same file, nothing else. */
  p.name = "plug-copy";
  p.endpoint = NULL;
  CHECK_EQ_INT(reg(&rq, &out2, &d), 0);
  if (out2 != NULL) {
    path2 = sbx_registry_plugin_path(data_dir, out2);
    CHECK(path != NULL && path2 != NULL && strcmp(path, path2) == 0);
  }
  CHECK_EQ_INT(count_dir(plugins), 1);

  /* EEXIST without replace; with replace a new library comes in beside. */
  p.name = "plug";
  CHECK_EQ_INT(reg(&rq, NULL, &d), SBX_EEXIST);
  rq.library.data = (uint8_t *)lib2;
  rq.library.len = sizeof(lib2);
  CHECK_EQ_INT(reg(&rq, NULL, &d), SBX_EEXIST);
  CHECK_EQ_INT(count_dir(plugins), 1);
  rq.replace = 1;
  CHECK_EQ_INT(reg(&rq, NULL, &d), 0);
  CHECK_EQ_INT(count_dir(plugins), 2);

  /* A plugin product without a library struct gets one. */
  p.name = "plug-bare";
  p.plugin = NULL;
  CHECK_EQ_INT(reg(&rq, NULL, &d), 0);
  {
    Sbx__V1__Product *got = NULL;
    char *gp;
    CHECK_EQ_INT(sbx_registry_product(store, "acme/plug-bare@1", &got), 0);
    if (got != NULL) {
      CHECK(got->plugin != NULL && got->plugin->size == sizeof(lib2));
      gp = sbx_registry_plugin_path(data_dir, got);
      CHECK(gp != NULL && file_size(gp, NULL) == sizeof(lib2));
      free(gp);
      sbx__v1__product__free_unpacked(got, NULL);
    }
  }
  /* An endpoint product has no plugin path. */
  {
    Sbx__V1__Product *got = NULL;
    CHECK_EQ_INT(sbx_registry_product(store, "acme/web@1.0", &got), 0);
    if (got != NULL) {
      CHECK(sbx_registry_plugin_path(data_dir, got) == NULL);
      sbx__v1__product__free_unpacked(got, NULL);
    }
  }
  free(path);
  free(path2);
  sbx__v1__product__free_unpacked(out, NULL);
  if (out2 != NULL)
    sbx__v1__product__free_unpacked(out2, NULL);
}

struct plist {
  char buf[1024];
  int n;
  int secrets; /* products listed with their secret */
};

static int collect_product(const Sbx__V1__Product *p, void *arg) {
  struct plist *c = arg;
  char id[300];
  size_t n = strlen(c->buf);
  sbx_registry_product_id(p, id, sizeof(id));
  snprintf(c->buf + n, sizeof(c->buf) - n, "%s%s", n ? " " : "", id);
  c->n++;
  if (p->endpoint != NULL && p->endpoint->secret[0] != '\0')
    c->secrets++;
  return 0;
}

static void test_list_products(void) {
  struct endpoint_req e;
  struct plist all, ab, abc, none;
  struct sbx_diag d;

  endpoint_req(&e, "ab", "x", "1", "http://127.0.0.1:1/");
  e.ep.secret = "sx";
  CHECK_EQ_INT(reg(&e.rq, NULL, &d), 0);
  endpoint_req(&e, "abc", "y", "1", "http://127.0.0.1:1/");
  CHECK_EQ_INT(reg(&e.rq, NULL, &d), 0);
  endpoint_req(&e, "ab", "z", "2", "http://127.0.0.1:1/");
  CHECK_EQ_INT(reg(&e.rq, NULL, &d), 0);
  endpoint_req(&e, "ab.c", "w", "2", "http://127.0.0.1:1/");
  CHECK_EQ_INT(reg(&e.rq, NULL, &d), 0);

  memset(&all, 0, sizeof(all));
  memset(&ab, 0, sizeof(ab));
  memset(&abc, 0, sizeof(abc));
  memset(&none, 0, sizeof(none));
  CHECK_EQ_INT(sbx_registry_list_products(store, "ab", collect_product, &ab),
               0);
  CHECK_EQ_INT(ab.n, 2);
  CHECK_EQ_STR(ab.buf, "ab/x@1 ab/z@2");
  CHECK_EQ_INT(ab.secrets, 1);
  CHECK_EQ_INT(sbx_registry_list_products(store, "abc", collect_product, &abc),
               0);
  CHECK_EQ_STR(abc.buf, "abc/y@1");
  CHECK_EQ_INT(sbx_registry_list_products(store, "a", collect_product, &none),
               0);
  CHECK_EQ_INT(none.n, 0);
  CHECK_EQ_INT(sbx_registry_list_products(store, NULL, collect_product, &all),
               0);
  CHECK(strstr(all.buf, "ab/x@1") != NULL && strstr(all.buf, "abc/y@1") &&
        strstr(all.buf, "acme/web@1.0") != NULL &&
        strstr(all.buf, "ab.c/w@2") != NULL);
  memset(&none, 0, sizeof(none));
  CHECK_EQ_INT(sbx_registry_list_products(store, "", collect_product, &none),
               0);
  CHECK_EQ_INT(none.n, all.n);
}

int main(void) {
  struct sbx_diag d = {""};
  int rc;

  snprintf(root, sizeof(root), "/tmp/sbx-test-registry.XXXXXX");
  if (mkdtemp(root) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(data_dir, sizeof(data_dir), "%s/data", root);
  rc = sbx_store_open(data_dir, &store, &d);
  if (rc != 0) {
    fprintf(stderr, "store: %s\n", d.msg);
    return 1;
  }
  test_publish_bytes();
  test_publish_errors();
  test_private();
  test_find_list();
  test_publish_dir();
  test_parse_product_id();
  test_register_endpoint();
  test_register_long_parts();
  test_register_plugin();
  test_list_products();
  CHECK_EQ_INT(sbx_store_close(store), 0);
  nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return TEST_RESULT();
}
