/* report.h - the three ways a run's result leaves the sandbox for CI.
 *
 * A Result (proto/sbx/v1/result.proto) becomes:
 * - a human summary for the log, verdict first, every value in its unit
 *   (sbx_report_text);
 * - a JUnit XML file that GitLab, Jenkins and the GitHub reporter actions
 *   display: one test case per criterion, one for validity, one for a
 *   harness error (sbx_report_junit);
 * - a JSON summary, the proto3 JSON of the Result, for scripts
 *   (sbx_report_json).
 * The exit code, not these files, carries the verdict (GitLab ignores JUnit
 * failures); see notes/api-conventions.md §4.
 *
 * Every string of a result may come from outside (spec texts, product URLs,
 * error messages quoting responses), so the text summary replaces control
 * characters, and the XML drops what XML 1.0 cannot carry. Files are
 * written atomically: a temporary file next to the target, then rename(), so
 * a reader never sees half a report.
 */
#ifndef SBX_REPORT_H
#define SBX_REPORT_H

#include <stdio.h>

#include "err.h"
#include "sbx/v1/result.pb-c.h"

/* Prints the human summary of res to f: a header line
 * "scenario@version against product (client c, run n)", then the verdict,
 * latency, rate, errors, answer quality (when answers were checked against
 * labels or numbers), each criterion with PASS/FAIL and the measured value,
 * validity with its reasons, and the scenario digest. An ERROR verdict
 * prints the error message right under the verdict. color: wrap the verdict
 * and the PASS/FAIL marks in ANSI colors (for terminals only). Missing parts
 * of res (no metrics, no validity) are reported as such, never dereferenced.
 * Write errors on f are left for the caller to find with ferror(f). */
void sbx_report_text(FILE *f, const Sbx__V1__Result *res, int color);

/* Writes a JUnit XML report of res to path, atomically (temporary file in
 * the same directory, fsync, rename). The report holds one
 * <testsuite name="sbx.SCENARIO"> with <properties> (scenario, version,
 * digest, product, client, verdict, run id) and these test cases, all with
 * classname "sbx.SCENARIO":
 * - one per criterion, named by the criterion's text, time = measurement
 *   duration; a failed one has <failure type="criterion"
 *   message="measured 23.4ms, bound <= 20ms">;
 * - "validity": <failure type="validity"> listing each reason when the run
 *   is invalid, <skipped> when the result has no validity outcome;
 * - "run", only for an ERROR verdict: <error type="error"> with the message.
 * Test case names are made unique (GitLab drops duplicates).
 * Returns 0; SBX_ENOMEM; or SBX_EIO with diag set to "cannot write PATH:
 * REASON; check the directory exists and is writable". On failure path is
 * left as it was and no temporary file remains. */
int sbx_report_junit(const char *path, const Sbx__V1__Result *res,
                     struct sbx_diag *diag);

/* Writes the JSON summary of res to path, atomically: the proto3 JSON of the
 * Result (sbx_pbjson_encode with SBX_PBJSON_EMIT_DEFAULTS, so that every
 * metric has a stable key for scripts), pretty-printed, without the
 * "counts" arrays of the latency and schedule-lag histograms (they run to
 * thousands of entries; the rest of each histogram stays). Returns 0;
 * SBX_ENOMEM; or SBX_EIO with diag set as for sbx_report_junit(). On failure
 * path is left as it was. */
int sbx_report_json(const char *path, const Sbx__V1__Result *res,
                    struct sbx_diag *diag);

#endif
