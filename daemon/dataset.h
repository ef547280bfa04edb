/* dataset.h - a scenario's cases, read from JSON Lines.
 *
 * A dataset file holds one JSON object per line, one case each:
 *
 *   {"id": "c1", "path": "/a.html", "expect": {"status": 200,
 *    "sha256": "9f86d0...", "json": [{"path": "a.b.0", "value": 3}]}}
 *
 * Blank lines and lines starting with '#' are skipped. Keys of a case: id
 * (required, unique), input or input_base64 (request body; at most one),
 * path, arrival_offset_us, expect {status, exact or exact_base64, sha256,
 * json [{path, value, tolerance}], label, number}. Unknown keys are errors,
 * so that a typo never silently weakens a check. Errors read
 * "FILE:LINE:COL: cases[ID].FIELD: what; how to fix" (cases[#N], N counted
 * from 0, when the id is not known yet).
 *
 * Limits: a line is at most 1 MiB, a dataset holds 1 to 10,000,000 cases.
 */
#ifndef SBX_DATASET_H
#define SBX_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "sbx/v1/scenario.pb-c.h"

#define SBX_DATASET_MAX_LINE (1024 * 1024)
#define SBX_DATASET_MAX_CASES 10000000

/* Cases in file order. Every case (and everything under it, including an
 * always-present expect) is malloc'd, so protobuf_c_message_free_unpacked()
 * frees one; sbx_dataset_free() frees them all. sha256 is over the file's
 * raw bytes. */
struct sbx_dataset {
  size_t n_cases;
  Sbx__V1__Case **cases;
  uint8_t sha256[32];
};

/* Parses JSON Lines from buf[0..len) (need not be NUL-terminated). file is
 * used in messages only. On success *out is a new dataset owned by the
 * caller (free with sbx_dataset_free). Returns 0, SBX_EDATASET (diag
 * filled) or SBX_ENOMEM; on failure *out is NULL. */
int sbx_dataset_parse(const char *file, const char *buf, size_t len,
                      struct sbx_dataset **out, struct sbx_diag *diag);

/* Reads the file at path and parses it as sbx_dataset_parse() does, with
 * path as FILE in messages. Returns 0, SBX_ENOENT (no such file), SBX_EIO
 * (unreadable, not a regular file), SBX_EDATASET or SBX_ENOMEM; diag is
 * filled on every failure and *out is NULL. */
int sbx_dataset_load(const char *path, struct sbx_dataset **out,
                     struct sbx_diag *diag);

/* Frees ds and all its cases. ds may be NULL. */
void sbx_dataset_free(struct sbx_dataset *ds);

/* Reads a whole regular file of at most max bytes into a malloc'd buffer
 * with a NUL appended (not counted in *len). Shared with the spec loader.
 * Returns 0, SBX_ENOENT, SBX_EIO (not a regular file, read error, larger
 * than max) or SBX_ENOMEM; on failure *buf is NULL and errno-based detail
 * is in diag as "PATH: what; fix". */
int sbx__read_file(const char *path, size_t max, char **buf, size_t *len,
                   struct sbx_diag *diag);

/* Returns the 1-based line of case number idx (0-based, as in
 * ds->cases) in the JSON Lines text buf[0..len) that produced the dataset,
 * or 1 if there is no such case. Lets a caller cross-checking cases point
 * at the right line. */
size_t sbx__dataset_case_line(const char *buf, size_t len, size_t idx);

/* Writes how messages name a case with this id: the id itself when it is
 * short and plain, else quoted and escaped. buf is always NUL-terminated. */
void sbx__dataset_case_name(const char *id, char *buf, size_t len);

#endif
