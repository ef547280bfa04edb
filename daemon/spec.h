/* spec.h - a scenario spec (YAML) and its dataset, loaded and checked.
 *
 * A spec is a YAML mapping (see sandbox-specs/web-static/spec.yaml): name,
 * version, title, interface, dataset, load, checks, criteria, validity,
 * score, required_layers. The loader is strict on purpose: unknown keys,
 * duplicate keys, anchors, aliases and tags are errors, every value is
 * range-checked, and every message points at the offending YAML node:
 *
 *   spec.yaml:14:9: load.rate: expected a positive number of arrivals per
 *   second, got "fast"; write e.g. rate: 1000
 *
 * (one line: FILE:LINE:COL: FIELD.PATH: WHAT; FIX). A missing key points
 * at the mapping that should hold it. Defaults are filled in, units are
 * converted to base units (microseconds, bytes, per second, fractions), so
 * the engine never parses text again.
 */
#ifndef SBX_SPEC_H
#define SBX_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "err.h"
#include "sbx/v1/scenario.pb-c.h"

#define SBX_SPEC_MAX_BYTES (1024 * 1024)

/* Parses spec bytes buf[0..len) (no dataset is read). file is used in
 * messages only. On success *out is a malloc'd Sbx__V1__Scenario whose
 * every string and sub-message (interface, dataset, load, checks, validity
 * always present) is malloc'd, so protobuf_c_message_free_unpacked() or
 * sbx_scenario_free() frees it; spec_bytes and digest are left empty and
 * dataset.case_count/sha256 unset. Returns 0, SBX_ESPEC (diag filled) or
 * SBX_ENOMEM; on failure *out is NULL. */
int sbx_spec_parse(const char *file, const uint8_t *buf, size_t len,
                   Sbx__V1__Scenario **out, struct sbx_diag *diag);

/* Loads path (a directory holding spec.yaml, or a .yaml file), parses it,
 * loads its dataset (dataset.path, relative to the spec's directory) and
 * cross-checks them: a trace needs an arrival offset on every case, an
 * interface.path using {path} needs a path on every case, labels must be
 * among checks.labels when those are listed, accuracy/macro_f1 criteria
 * need a label and mae/rmse a number on every case. On success sets
 * dataset.case_count and dataset.sha256, spec_bytes (the file as read) and
 * digest = SHA-256(spec bytes || dataset bytes); the caller owns *sc (free
 * with sbx_scenario_free) and *ds (sbx_dataset_free). Returns 0, SBX_ESPEC,
 * SBX_EDATASET, SBX_ENOENT (spec or dataset file missing; the message says
 * which path and how to fix) or SBX_ENOMEM; diag is filled on every
 * failure and *sc and *ds are NULL. */
int sbx_spec_load(const char *path, Sbx__V1__Scenario **sc,
                  struct sbx_dataset **ds, struct sbx_diag *diag);

/* Like sbx_spec_load, from bytes already in memory (what a publisher sent
 * the daemon): the spec (spec_name names it in messages), the dataset that
 * its dataset.path stands for (dataset_name in messages; NULL: that path),
 * and the interface.setup content (required iff the spec names a setup
 * file; NULL otherwise). Everything kept is copied. Same results and
 * failures as sbx_spec_load, SBX_ENOENT aside. */
int sbx_spec_load_bytes(const char *spec_name, const uint8_t *spec,
                        size_t spec_len, const char *dataset_name,
                        const char *dataset, size_t dataset_len,
                        const uint8_t *setup, size_t setup_len,
                        Sbx__V1__Scenario **sc, struct sbx_dataset **ds,
                        struct sbx_diag *diag);

/* Frees a scenario from sbx_spec_parse/sbx_spec_load. sc may be NULL. */
void sbx_scenario_free(Sbx__V1__Scenario *sc);

#endif
