/* registry.h - what the daemon knows: published scenarios and registered
 * products, kept in the store.
 *
 * Scenarios: the database `scenarios` maps "name@version" to a ScenarioInfo;
 * `datasets` holds the bytes under "name@version|spec", "|public",
 * "|private" and "|setup". The info record is written last, so a crash in
 * the middle of a publication leaves no half-published scenario visible.
 * A scenario is loaded for a run from those bytes (sbx_spec_load_bytes), so
 * the run measures exactly what was published.
 *
 * Products: `products` maps "vendor/name@version" to a Product (endpoint
 * secret included: callers strip it before answering). Plugin libraries are
 * files under DATA_DIR/plugins/<sha256>.so, content-addressed, written
 * atomically, readable by the jailed host's own uid.
 */
#ifndef SBX_REGISTRY_H
#define SBX_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "err.h"
#include "sbx/v1/api.pb-c.h"

struct sbx_store;

/* Checks and stores a scenario: the spec must load with the public dataset
 * (and with the private one, if given). source names where it came from
 * ("api" or a directory). replace allows overwriting name@version; without
 * it an existing one with different bytes is SBX_EEXIST (the same bytes
 * again are fine: publishing is idempotent). On success *info (may be
 * NULL) gets the stored record (caller frees). Returns 0, SBX_ESPEC,
 * SBX_EDATASET, SBX_EEXIST, SBX_ENOMEM or SBX_ESTORE; diag says why. */
int sbx_registry_publish(struct sbx_store *st,
                         const Sbx__V1__PublishScenarioRequest *rq,
                         const char *source, Sbx__V1__ScenarioInfo **info,
                         struct sbx_diag *diag);

/* Publishes the scenario in directory dir (spec.yaml, its dataset and setup
 * file, and private.jsonl if present) with source dir and replace set. */
int sbx_registry_publish_dir(struct sbx_store *st, const char *dir,
                             Sbx__V1__ScenarioInfo **info,
                             struct sbx_diag *diag);

/* Finds "name@version", or the newest version of "name" (strverscmp), and
 * puts its info in *out (caller frees). Returns 0, SBX_ENOENT (diag says
 * which exist), SBX_EINVAL, SBX_ENOMEM or SBX_ESTORE. */
int sbx_registry_find_scenario(struct sbx_store *st, const char *ref,
                               Sbx__V1__ScenarioInfo **out,
                               struct sbx_diag *diag);

/* Calls cb for every scenario (name filter: exact name, or NULL/""). */
int sbx_registry_list_scenarios(struct sbx_store *st, const char *name,
                                int (*cb)(const Sbx__V1__ScenarioInfo *info,
                                          void *arg),
                                void *arg);

/* Reads one of the bytes of name@version: what is "spec", "public",
 * "private" or "setup". *buf is malloc'd (caller frees). Returns 0,
 * SBX_ENOENT or SBX_ESTORE. */
int sbx_registry_bytes(struct sbx_store *st, const char *id, const char *what,
                       char **buf, size_t *len);

/* Loads name@version for a run, with its private dataset if private is set.
 * Returns what sbx_spec_load_bytes returns. */
int sbx_registry_load(struct sbx_store *st, const char *id, int private_,
                      Sbx__V1__Scenario **sc, struct sbx_dataset **ds,
                      struct sbx_diag *diag);

/* Splits and checks "vendor/name@version": vendor [a-z0-9][a-z0-9_.-]*,
 * name likewise, version [0-9A-Za-z._+-]+. Returns 0 or SBX_EINVAL with a
 * message in diag. vendor (may be NULL) gets the vendor part, up to vlen. */
int sbx_registry_parse_product_id(const char *id, char *vendor, size_t vlen,
                                  struct sbx_diag *diag);

/* Checks and stores a product (rq->product: vendor, name, version, kind,
 * endpoint or plugin; rq->library: a plugin's bytes, written to
 * data_dir/plugins/<sha256>.so). created_unix_ms is set here. Returns 0,
 * SBX_EINVAL, SBX_EEXIST (without replace), SBX_EIO, SBX_ENOMEM or
 * SBX_ESTORE; *out (may be NULL) gets the stored product, secret included. */
int sbx_registry_register(struct sbx_store *st, const char *data_dir,
                          const Sbx__V1__RegisterProductRequest *rq,
                          Sbx__V1__Product **out, struct sbx_diag *diag);

/* Reads product "vendor/name@version" (secret included). Returns 0,
 * SBX_ENOENT, SBX_ENOMEM or SBX_ESTORE. */
int sbx_registry_product(struct sbx_store *st, const char *id,
                         Sbx__V1__Product **out);

/* Calls cb for every product of vendor (NULL/"": all). */
int sbx_registry_list_products(struct sbx_store *st, const char *vendor,
                               int (*cb)(const Sbx__V1__Product *p, void *arg),
                               void *arg);

/* Writes "vendor/name@version" of p into buf. */
void sbx_registry_product_id(const Sbx__V1__Product *p, char *buf, size_t len);

/* The path of a plugin product's library under data_dir (malloc'd). */
char *sbx_registry_plugin_path(const char *data_dir, const Sbx__V1__Product *p);

#endif
