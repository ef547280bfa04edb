/* registry.c - published scenarios and registered products. See
 * registry.h. */
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapter.h"
#include "curl_uv.h"
#include "digest.h"
#include "runner.h"
#include "spec.h"
#include "store.h"
#include "webhook.h"

#define MAX_ID 256
#define MAX_LIBRARY ((size_t)256 << 20)

static int is_lower_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

static int is_version_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || c == '.' || c == '_' || c == '+' ||
         c == '-';
}

static int check_part(const char *s, size_t n, int version) {
  size_t i;
  if (n == 0 || n > 64)
    return 0;
  if (!version && !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
    return 0;
  for (i = 0; i < n; i++)
    if (!(version ? is_version_char(s[i]) : is_lower_name_char(s[i])))
      return 0;
  return 1;
}

int sbx_registry_parse_product_id(const char *id, char *vendor, size_t vlen,
                                  struct sbx_diag *diag) {
  const char *slash, *at;
  if (id == NULL || id[0] == '\0') {
    sbx_diag_set(diag, "product: missing; name it as vendor/name@version, "
                       "e.g. acme/edge@1.2");
    return SBX_EINVAL;
  }
  slash = strchr(id, '/');
  at = slash != NULL ? strchr(slash, '@') : NULL;
  if (slash == NULL || at == NULL || strchr(at + 1, '@') != NULL ||
      strchr(slash + 1, '/') != NULL ||
      !check_part(id, (size_t)(slash - id), 0) ||
      !check_part(slash + 1, (size_t)(at - slash - 1), 0) ||
      !check_part(at + 1, strlen(at + 1), 1)) {
    sbx_diag_set(diag,
                 "product \"%.100s\": expected vendor/name@version with "
                 "vendor and name in [a-z0-9_.-] (starting with a letter or "
                 "digit) and a version in [A-Za-z0-9._+-], e.g. acme/edge@1.2",
                 id);
    return SBX_EINVAL;
  }
  if (vendor != NULL && vlen > 0)
    snprintf(vendor, vlen, "%.*s", (int)(slash - id), id);
  return 0;
}

void sbx_registry_product_id(const Sbx__V1__Product *p, char *buf, size_t len) {
  snprintf(buf, len, "%s/%s@%s", p->vendor, p->name, p->version);
}

/* ---- scenarios ---- */

static int put_bytes(struct sbx_store *st, const char *id, const char *what,
                     const void *buf, size_t len) {
  char key[MAX_ID + 16];
  snprintf(key, sizeof(key), "%s|%s", id, what);
  return sbx_store_kv_put(st, SBX_STORE_DATASETS, key, strlen(key), buf, len);
}

int sbx_registry_bytes(struct sbx_store *st, const char *id, const char *what,
                       char **buf, size_t *len) {
  char key[MAX_ID + 16];
  void *v = NULL;
  int rc;
  *buf = NULL;
  *len = 0;
  if (strlen(id) > MAX_ID)
    return SBX_ENOENT;
  snprintf(key, sizeof(key), "%s|%s", id, what);
  rc = sbx_store_kv_get(st, SBX_STORE_DATASETS, key, strlen(key), &v, len);
  *buf = v;
  return rc;
}

static int get_info(struct sbx_store *st, const char *id,
                    Sbx__V1__ScenarioInfo **out) {
  void *v = NULL;
  size_t n = 0;
  int rc;
  *out = NULL;
  if (strlen(id) > MAX_ID)
    return SBX_ENOENT;
  rc = sbx_store_kv_get(st, SBX_STORE_SCENARIOS, id, strlen(id), &v, &n);
  if (rc != 0)
    return rc;
  *out = sbx__v1__scenario_info__unpack(NULL, n, v);
  free(v);
  return *out != NULL ? 0 : SBX_ESTORE;
}

/* Same bytes as stored under id|what? (absent and empty are the same). */
static int same_bytes(struct sbx_store *st, const char *id, const char *what,
                      const ProtobufCBinaryData *b) {
  char *buf = NULL;
  size_t len = 0;
  int same;
  if (sbx_registry_bytes(st, id, what, &buf, &len) != 0)
    return b->len == 0;
  same = len == b->len && (len == 0 || memcmp(buf, b->data, len) == 0);
  free(buf);
  return same;
}

int sbx_registry_publish(struct sbx_store *st,
                         const Sbx__V1__PublishScenarioRequest *rq,
                         const char *source, Sbx__V1__ScenarioInfo **info,
                         struct sbx_diag *diag) {
  Sbx__V1__Scenario *sc = NULL, *psc = NULL;
  struct sbx_dataset *ds = NULL, *pds = NULL;
  Sbx__V1__ScenarioInfo *old = NULL, *ni = NULL;
  char id[MAX_ID];
  uint8_t *packed = NULL;
  size_t n;
  int rc;

  if (info != NULL)
    *info = NULL;
  if (rq->spec.len == 0) {
    sbx_diag_set(diag, "spec: empty; send the scenario's spec.yaml bytes");
    return SBX_ESPEC;
  }
  rc = sbx_spec_load_bytes("spec.yaml", rq->spec.data, rq->spec.len, NULL,
                           (const char *)rq->dataset.data, rq->dataset.len,
                           rq->setup.len > 0 ? rq->setup.data : NULL,
                           rq->setup.len, &sc, &ds, diag);
  if (rc != 0)
    goto out;
  if (rq->private_dataset.len > 0) {
    rc = sbx_spec_load_bytes("spec.yaml", rq->spec.data, rq->spec.len,
                             "private dataset",
                             (const char *)rq->private_dataset.data,
                             rq->private_dataset.len,
                             rq->setup.len > 0 ? rq->setup.data : NULL,
                             rq->setup.len, &psc, &pds, diag);
    if (rc != 0)
      goto out;
  }
  snprintf(id, sizeof(id), "%s@%s", sc->name, sc->version);
  rc = get_info(st, id, &old);
  if (rc == 0 && !rq->replace) {
    if (same_bytes(st, id, "spec", &rq->spec) &&
        same_bytes(st, id, "public", &rq->dataset) &&
        same_bytes(st, id, "setup", &rq->setup) &&
        same_bytes(st, id, "private", &rq->private_dataset)) {
      if (info != NULL) {
        *info = old;
        old = NULL;
      }
      rc = 0;
      goto out;
    }
    sbx_diag_set(diag,
                 "%s is already published with different content; publish "
                 "it under a new version, or replace it on purpose",
                 id);
    rc = SBX_EEXIST;
    goto out;
  }
  if (rc != 0 && rc != SBX_ENOENT)
    goto out;

  rc = SBX_ENOMEM;
  ni = malloc(sizeof(*ni));
  if (ni == NULL)
    goto out;
  sbx__v1__scenario_info__init(ni);
  ni->name = strdup(sc->name);
  ni->version = strdup(sc->version);
  ni->title = strdup(sc->title != NULL ? sc->title : "");
  ni->description = strdup(sc->description != NULL ? sc->description : "");
  ni->score_metric = strdup(sc->score_metric != NULL ? sc->score_metric : "");
  ni->source = strdup(source != NULL ? source : "api");
  ni->digest.data = malloc(sc->digest.len);
  if (ni->name == NULL || ni->version == NULL || ni->title == NULL ||
      ni->description == NULL || ni->score_metric == NULL ||
      ni->source == NULL || ni->digest.data == NULL)
    goto out;
  memcpy(ni->digest.data, sc->digest.data, sc->digest.len);
  ni->digest.len = sc->digest.len;
  ni->interface = sc->interface->kind;
  ni->public_cases = ds->n_cases;
  ni->has_private_dataset = pds != NULL;
  ni->private_cases = pds != NULL ? pds->n_cases : 0;
  ni->published_unix_ms = sbx_unix_ms();

  /* Bytes first, the info record last: a crash in between leaves nothing
   * visible, and publishing again overwrites the leftovers. */
  if ((rc = put_bytes(st, id, "spec", rq->spec.data, rq->spec.len)) != 0 ||
      (rc = put_bytes(st, id, "public", rq->dataset.data, rq->dataset.len)) !=
          0 ||
      (rc = put_bytes(st, id, "setup", rq->setup.data, rq->setup.len)) != 0 ||
      (rc = put_bytes(st, id, "private", rq->private_dataset.data,
                      rq->private_dataset.len)) != 0)
    goto store_fail;
  n = sbx__v1__scenario_info__get_packed_size(ni);
  rc = SBX_ENOMEM;
  if ((packed = malloc(n ? n : 1)) == NULL)
    goto out;
  sbx__v1__scenario_info__pack(ni, packed);
  rc = sbx_store_kv_put(st, SBX_STORE_SCENARIOS, id, strlen(id), packed, n);
  if (rc != 0)
    goto store_fail;
  if (info != NULL) {
    *info = ni;
    ni = NULL;
  }
  rc = 0;
  goto out;
store_fail:
  sbx_diag_set(diag, "%s: could not store the scenario: %s", id,
               sbx_strerror(rc));
out:
  free(packed);
  if (old != NULL)
    sbx__v1__scenario_info__free_unpacked(old, NULL);
  if (ni != NULL)
    sbx__v1__scenario_info__free_unpacked(ni, NULL);
  sbx_scenario_free(sc);
  sbx_scenario_free(psc);
  sbx_dataset_free(ds);
  sbx_dataset_free(pds);
  return rc;
}

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p != NULL)
    snprintf(p, n, "%s/%s", dir, name);
  return p;
}

int sbx_registry_publish_dir(struct sbx_store *st, const char *dir,
                             Sbx__V1__ScenarioInfo **info,
                             struct sbx_diag *diag) {
  Sbx__V1__PublishScenarioRequest rq = SBX__V1__PUBLISH_SCENARIO_REQUEST__INIT;
  Sbx__V1__Scenario *sc = NULL;
  char *spec = NULL, *data = NULL, *setup = NULL, *priv = NULL;
  char *path = NULL;
  size_t slen = 0, dlen = 0, xlen = 0, plen = 0;
  int rc;

  path = join(dir, "spec.yaml");
  if (path == NULL)
    return SBX_ENOMEM;
  rc = sbx__read_file(path, SBX_SPEC_MAX_BYTES, &spec, &slen, diag);
  if (rc != 0) {
    if (rc == SBX_ENOENT)
      sbx_diag_set(diag, "%s: no such file; a scenario directory holds "
                         "spec.yaml", path);
    goto out;
  }
  rc = sbx_spec_parse(path, (const uint8_t *)spec, slen, &sc, diag);
  if (rc != 0)
    goto out;
  free(path);
  if ((path = join(dir, sc->dataset->path)) == NULL) {
    rc = SBX_ENOMEM;
    goto out;
  }
  rc = sbx__read_file(path, (size_t)4 << 30, &data, &dlen, diag);
  if (rc != 0) {
    sbx_diag_set(diag, "%s: cannot read the dataset the spec names (%s)",
                 path, sbx_strerror(rc));
    goto out;
  }
  if (sc->interface->setup != NULL && sc->interface->setup[0] != '\0') {
    free(path);
    if ((path = join(dir, sc->interface->setup)) == NULL) {
      rc = SBX_ENOMEM;
      goto out;
    }
    rc = sbx__read_file(path, (size_t)1 << 30, &setup, &xlen, diag);
    if (rc != 0) {
      sbx_diag_set(diag, "%s: cannot read the setup file the spec names (%s)",
                   path, sbx_strerror(rc));
      goto out;
    }
  }
  free(path);
  if ((path = join(dir, "private.jsonl")) == NULL) {
    rc = SBX_ENOMEM;
    goto out;
  }
  if (access(path, F_OK) == 0 &&
      (rc = sbx__read_file(path, (size_t)4 << 30, &priv, &plen, diag)) != 0)
    goto out;
  rq.spec.data = (uint8_t *)spec;
  rq.spec.len = slen;
  rq.dataset.data = (uint8_t *)data;
  rq.dataset.len = dlen;
  rq.setup.data = (uint8_t *)setup;
  rq.setup.len = setup != NULL ? xlen : 0;
  rq.private_dataset.data = (uint8_t *)priv;
  rq.private_dataset.len = priv != NULL ? plen : 0;
  rq.replace = 1;
  rc = sbx_registry_publish(st, &rq, dir, info, diag);
out:
  sbx_scenario_free(sc);
  free(path);
  free(spec);
  free(data);
  free(setup);
  free(priv);
  return rc;
}

struct list_ctx {
  const char *name;
  size_t nlen;
  int (*cb)(const Sbx__V1__ScenarioInfo *info, void *arg);
  void *arg;
  char best_version[MAX_ID]; /* find: the newest version */
  char names[512];
};

static int list_one(const void *key, size_t klen, const void *val, size_t vlen,
                    void *arg) {
  struct list_ctx *c = arg;
  Sbx__V1__ScenarioInfo *si;
  int rc;
  (void)key;
  (void)klen;
  si = sbx__v1__scenario_info__unpack(NULL, vlen, val);
  if (si == NULL)
    return 0; /* a damaged record hides itself rather than the list */
  if (c->nlen > 0 && strcmp(si->name, c->name) != 0) {
    sbx__v1__scenario_info__free_unpacked(si, NULL);
    return 0;
  }
  rc = c->cb(si, c->arg);
  sbx__v1__scenario_info__free_unpacked(si, NULL);
  return rc;
}

int sbx_registry_list_scenarios(struct sbx_store *st, const char *name,
                                int (*cb)(const Sbx__V1__ScenarioInfo *info,
                                          void *arg),
                                void *arg) {
  struct list_ctx c;
  char prefix[MAX_ID];
  memset(&c, 0, sizeof(c));
  c.name = name != NULL ? name : "";
  c.nlen = strlen(c.name);
  c.cb = cb;
  c.arg = arg;
  if (c.nlen > 0) {
    snprintf(prefix, sizeof(prefix), "%s@", c.name);
    return sbx_store_kv_foreach(st, SBX_STORE_SCENARIOS, prefix,
                                strlen(prefix), list_one, &c);
  }
  return sbx_store_kv_foreach(st, SBX_STORE_SCENARIOS, NULL, 0, list_one, &c);
}

static int newest(const Sbx__V1__ScenarioInfo *si, void *arg) {
  struct list_ctx *c = arg;
  if (c->best_version[0] == '\0' ||
      strverscmp(si->version, c->best_version) > 0)
    snprintf(c->best_version, sizeof(c->best_version), "%s", si->version);
  return 0;
}

static int collect_names(const Sbx__V1__ScenarioInfo *si, void *arg) {
  struct list_ctx *c = arg;
  size_t n = strlen(c->names);
  if (n + strlen(si->name) + strlen(si->version) + 4 < sizeof(c->names))
    snprintf(c->names + n, sizeof(c->names) - n, "%s%s@%s", n ? ", " : "",
             si->name, si->version);
  return 0;
}

int sbx_registry_find_scenario(struct sbx_store *st, const char *ref,
                               Sbx__V1__ScenarioInfo **out,
                               struct sbx_diag *diag) {
  struct list_ctx c;
  int rc;

  *out = NULL;
  if (ref == NULL || ref[0] == '\0' || strlen(ref) >= MAX_ID) {
    sbx_diag_set(diag, "scenario: missing; name it as name@version or name");
    return SBX_EINVAL;
  }
  if (strchr(ref, '@') != NULL) {
    rc = get_info(st, ref, out);
    if (rc == SBX_ENOENT) {
      memset(&c, 0, sizeof(c));
      sbx_registry_list_scenarios(st, NULL, collect_names, &c);
      sbx_diag_set(diag,
                   "scenario %s is not published; published: %s", ref,
                   c.names[0] ? c.names : "none (publish one first)");
    }
    return rc;
  }
  memset(&c, 0, sizeof(c));
  rc = sbx_registry_list_scenarios(st, ref, newest, &c);
  if (rc != 0)
    return rc;
  if (c.best_version[0] == '\0') {
    sbx_registry_list_scenarios(st, NULL, collect_names, &c);
    sbx_diag_set(diag, "scenario %s is not published; published: %s", ref,
                 c.names[0] ? c.names : "none (publish one first)");
    return SBX_ENOENT;
  }
  {
    char id[2 * MAX_ID + 2];
    snprintf(id, sizeof(id), "%s@%s", ref, c.best_version);
    return get_info(st, id, out);
  }
}

int sbx_registry_load(struct sbx_store *st, const char *id, int private_,
                      Sbx__V1__Scenario **sc, struct sbx_dataset **ds,
                      struct sbx_diag *diag) {
  char *spec = NULL, *data = NULL, *setup = NULL;
  size_t slen = 0, dlen = 0, xlen = 0;
  int rc;

  *sc = NULL;
  *ds = NULL;
  if ((rc = sbx_registry_bytes(st, id, "spec", &spec, &slen)) != 0 ||
      (rc = sbx_registry_bytes(st, id, private_ ? "private" : "public", &data,
                               &dlen)) != 0) {
    sbx_diag_set(diag, "scenario %s: its %s is missing from the store", id,
                 spec == NULL ? "spec" : "dataset");
    goto out;
  }
  if (sbx_registry_bytes(st, id, "setup", &setup, &xlen) != 0 || xlen == 0) {
    free(setup);
    setup = NULL;
    xlen = 0;
  }
  rc = sbx_spec_load_bytes(id, (const uint8_t *)spec, slen,
                           private_ ? "private dataset" : "dataset", data, dlen,
                           (const uint8_t *)setup, xlen, sc, ds, diag);
out:
  free(spec);
  free(data);
  free(setup);
  return rc;
}

/* ---- products ---- */

int sbx_registry_product(struct sbx_store *st, const char *id,
                         Sbx__V1__Product **out) {
  void *v = NULL;
  size_t n = 0;
  int rc;
  *out = NULL;
  if (id == NULL || id[0] == '\0' || strlen(id) >= MAX_ID)
    return SBX_ENOENT;
  rc = sbx_store_kv_get(st, SBX_STORE_PRODUCTS, id, strlen(id), &v, &n);
  if (rc != 0)
    return rc;
  *out = sbx__v1__product__unpack(NULL, n, v);
  free(v);
  return *out != NULL ? 0 : SBX_ESTORE;
}

struct plist_ctx {
  int (*cb)(const Sbx__V1__Product *p, void *arg);
  void *arg;
};

static int plist_one(const void *key, size_t klen, const void *val,
                     size_t vlen, void *arg) {
  struct plist_ctx *c = arg;
  Sbx__V1__Product *p = sbx__v1__product__unpack(NULL, vlen, val);
  int rc;
  (void)key;
  (void)klen;
  if (p == NULL)
    return 0;
  rc = c->cb(p, c->arg);
  sbx__v1__product__free_unpacked(p, NULL);
  return rc;
}

int sbx_registry_list_products(struct sbx_store *st, const char *vendor,
                               int (*cb)(const Sbx__V1__Product *p, void *arg),
                               void *arg) {
  struct plist_ctx c = {cb, arg};
  char prefix[MAX_ID];
  if (vendor != NULL && vendor[0] != '\0') {
    snprintf(prefix, sizeof(prefix), "%s/", vendor);
    return sbx_store_kv_foreach(st, SBX_STORE_PRODUCTS, prefix, strlen(prefix),
                                plist_one, &c);
  }
  return sbx_store_kv_foreach(st, SBX_STORE_PRODUCTS, NULL, 0, plist_one, &c);
}

char *sbx_registry_plugin_path(const char *data_dir,
                               const Sbx__V1__Product *p) {
  char hex[2 * SBX_SHA256_BYTES + 1];
  size_t i, n;
  char *path;
  if (p->plugin == NULL || p->plugin->sha256.len != SBX_SHA256_BYTES)
    return NULL;
  for (i = 0; i < SBX_SHA256_BYTES; i++)
    snprintf(hex + 2 * i, 3, "%02x", p->plugin->sha256.data[i]);
  n = strlen(data_dir) + sizeof(hex) + 16;
  if ((path = malloc(n)) != NULL)
    snprintf(path, n, "%s/plugins/%s.so", data_dir, hex);
  return path;
}

/* Writes buf to path atomically (temporary file, fsync, rename), mode
 * 0644: the jailed plugin host runs under its own uid and must read it. */
static int write_library(const char *data_dir, const char *path,
                         const uint8_t *buf, size_t len,
                         struct sbx_diag *diag) {
  char dir[4096], tmp[4200];
  size_t off = 0;
  int fd;

  /* The jailed host runs under its own uid: it must be able to pass
   * through the data directory (0711: no listing) to the library. */
  chmod(data_dir, 0711);
  snprintf(dir, sizeof(dir), "%s/plugins", data_dir);
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    sbx_diag_set(diag, "%s: cannot create: %s", dir, strerror(errno));
    return SBX_EIO;
  }
  chmod(dir, 0755);
  if (access(path, R_OK) == 0)
    return 0; /* content-addressed: the same bytes are there already */
  snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    sbx_diag_set(diag, "%s: cannot create: %s", tmp, strerror(errno));
    return SBX_EIO;
  }
  while (off < len) {
    ssize_t w = write(fd, buf + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      sbx_diag_set(diag, "%s: write failed: %s", tmp, strerror(errno));
      close(fd);
      unlink(tmp);
      return SBX_EIO;
    }
    off += (size_t)w;
  }
  if (fchmod(fd, 0644) != 0 || fsync(fd) != 0 || close(fd) != 0 ||
      rename(tmp, path) != 0) {
    sbx_diag_set(diag, "%s: cannot store the library: %s", path,
                 strerror(errno));
    unlink(tmp);
    return SBX_EIO;
  }
  return 0;
}

/* An endpoint's URL: the same check as every URL the daemon hands to
 * libcurl, and a length the store and the logs can carry. */
static int check_url(const char *url, struct sbx_diag *diag) {
  if (url != NULL && strlen(url) > 2048) {
    sbx_diag_set(diag, "product.endpoint.url: longer than 2048 bytes");
    return SBX_EINVAL;
  }
  return sbx_curl_uv_parse_url(url, "product.endpoint.url",
                               "write it like http://127.0.0.1:8080",
                               "percent-encode it", NULL, diag);
}

int sbx_registry_register(struct sbx_store *st, const char *data_dir,
                          const Sbx__V1__RegisterProductRequest *rq,
                          Sbx__V1__Product **out, struct sbx_diag *diag) {
  const Sbx__V1__Product *in = rq->product;
  Sbx__V1__Product *p = NULL, *old = NULL;
  char id[MAX_ID + 8], *path = NULL;
  uint8_t *packed = NULL;
  size_t n, i;
  int rc;

  if (out != NULL)
    *out = NULL;
  if (in == NULL) {
    sbx_diag_set(diag, "product: missing; send vendor, name, version, kind "
                       "and an endpoint or a plugin library");
    return SBX_EINVAL;
  }
  /* No precision: a part over 64 characters must fail the check below,
   * not pass it truncated and be stored under an id that is not its own. */
  if ((size_t)snprintf(id, sizeof(id), "%s/%s@%s", in->vendor, in->name,
                       in->version) >= sizeof(id)) {
    sbx_diag_set(diag, "product: vendor, name and version are at most 64 "
                       "characters each");
    return SBX_EINVAL;
  }
  if ((rc = sbx_registry_parse_product_id(id, NULL, 0, diag)) != 0)
    return rc;
  /* Copy through the wire format: the stored record is exactly what we
   * checked, and the caller's message stays untouched. */
  n = sbx__v1__product__get_packed_size(in);
  if ((packed = malloc(n ? n : 1)) == NULL)
    return SBX_ENOMEM;
  sbx__v1__product__pack(in, packed);
  p = sbx__v1__product__unpack(NULL, n, packed);
  free(packed);
  packed = NULL;
  if (p == NULL)
    return SBX_ENOMEM;

  rc = SBX_EINVAL;
  if (p->kind == SBX__V1__PRODUCT_KIND__PRODUCT_KIND_ENDPOINT) {
    if (p->endpoint == NULL) {
      sbx_diag_set(diag, "product.endpoint: missing for kind "
                         "PRODUCT_KIND_ENDPOINT; send endpoint.url");
      goto out;
    }
    if ((rc = check_url(p->endpoint->url, diag)) != 0)
      goto out;
    rc = SBX_EINVAL;
    for (i = 0; i < p->endpoint->n_headers; i++) {
      static const char *const framing[] = {"Content-Length", "Host",
                                            "Connection", "Transfer-Encoding"};
      const Sbx__V1__Header *h = p->endpoint->headers[i];
      size_t k;
      for (k = 0; k < sizeof(framing) / sizeof(framing[0]); k++)
        if (strcasecmp(h->name, framing[k]) == 0) {
          sbx_diag_set(diag, "product.endpoint.headers[%zu]: %s is set by "
                             "the harness itself; remove it", i, framing[k]);
          goto out;
        }
      if (strcasecmp(h->name, "Authorization") == 0 &&
          p->endpoint->secret[0] != '\0') {
        sbx_diag_set(diag, "product.endpoint.headers[%zu]: Authorization "
                           "would be sent twice: the secret is sent as "
                           "Authorization: Bearer; drop one of them", i);
        goto out;
      }
      if (!sbx_http_is_token(h->name) || !sbx_http_is_field_value(h->value)) {
        sbx_diag_set(diag, "product.endpoint.headers[%zu]: \"%.64s\" is not a "
                           "valid header name, or its value holds control "
                           "characters", i, h->name);
        goto out;
      }
    }
    if (!sbx_http_is_field_value(p->endpoint->secret)) {
      sbx_diag_set(diag, "product.endpoint.secret: holds control characters");
      goto out;
    }
    if (p->plugin != NULL) {
      sbx__v1__plugin__free_unpacked(p->plugin, NULL);
      p->plugin = NULL;
    }
  } else if (p->kind == SBX__V1__PRODUCT_KIND__PRODUCT_KIND_PLUGIN) {
    if (rq->library.len == 0) {
      sbx_diag_set(diag, "library: empty; a plugin product sends its shared "
                         "library's bytes");
      goto out;
    }
    if (rq->library.len > MAX_LIBRARY) {
      sbx_diag_set(diag, "library: %zu bytes, over the 256 MiB limit",
                   rq->library.len);
      goto out;
    }
    if (rq->library.len < 4 || memcmp(rq->library.data, "\177ELF", 4) != 0) {
      sbx_diag_set(diag, "library: not an ELF shared object; send the .so "
                         "built against plugins/include/sbx_plugin.h");
      goto out;
    }
    if (p->plugin == NULL) {
      rc = SBX_ENOMEM;
      if ((p->plugin = malloc(sizeof(*p->plugin))) == NULL)
        goto out;
      sbx__v1__plugin__init(p->plugin);
    }
    rc = SBX_ENOMEM;
    if (p->plugin->sha256.data != NULL)
      free(p->plugin->sha256.data);
    if ((p->plugin->sha256.data = malloc(SBX_SHA256_BYTES)) == NULL)
      goto out;
    p->plugin->sha256.len = SBX_SHA256_BYTES;
    if (sbx_sha256(rq->library.data, rq->library.len, p->plugin->sha256.data) !=
        0)
      goto out;
    p->plugin->size = rq->library.len;
    if (p->endpoint != NULL) {
      sbx__v1__endpoint__free_unpacked(p->endpoint, NULL);
      p->endpoint = NULL;
    }
  } else {
    sbx_diag_set(diag, "product.kind: expected PRODUCT_KIND_ENDPOINT or "
                       "PRODUCT_KIND_PLUGIN");
    goto out;
  }
  if (p->callback_url != NULL && p->callback_url[0] != '\0') {
    struct sbx_diag why = {""};
    if ((rc = sbx_webhook_validate_url(p->callback_url, &why)) != 0) {
      sbx_diag_set(diag, "product.callback_url: %s", why.msg);
      goto out;
    }
  }

  rc = sbx_registry_product(st, id, &old);
  if (rc == 0 && !rq->replace) {
    sbx_diag_set(diag, "product %s is already registered; register a new "
                       "version, or replace it on purpose", id);
    rc = SBX_EEXIST;
    goto out;
  }
  if (rc != 0 && rc != SBX_ENOENT)
    goto out;
  if (p->kind == SBX__V1__PRODUCT_KIND__PRODUCT_KIND_PLUGIN) {
    rc = SBX_ENOMEM;
    if ((path = sbx_registry_plugin_path(data_dir, p)) == NULL)
      goto out;
    if ((rc = write_library(data_dir, path, rq->library.data, rq->library.len,
                            diag)) != 0)
      goto out;
  }
  p->created_unix_ms = sbx_unix_ms();
  n = sbx__v1__product__get_packed_size(p);
  rc = SBX_ENOMEM;
  if ((packed = malloc(n ? n : 1)) == NULL)
    goto out;
  sbx__v1__product__pack(p, packed);
  rc = sbx_store_kv_put(st, SBX_STORE_PRODUCTS, id, strlen(id), packed, n);
  if (rc != 0) {
    sbx_diag_set(diag, "%s: could not store the product: %s", id,
                 sbx_strerror(rc));
    goto out;
  }
  if (out != NULL) {
    *out = p;
    p = NULL;
  }
  rc = 0;
out:
  free(packed);
  free(path);
  if (old != NULL)
    sbx__v1__product__free_unpacked(old, NULL);
  if (p != NULL)
    sbx__v1__product__free_unpacked(p, NULL);
  return rc;
}
