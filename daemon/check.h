/* check.h - judging one answer against its case's expectation, and the
 * answer-quality metrics that follow from many such judgements.
 *
 * sbx_check() is called by the engine for every measured response. It says
 * how the request ended (an ErrorClass: NONE, HTTP_STATUS or CHECK_FAILED)
 * and, when given a struct sbx_quality, counts what classification and
 * regression metrics need: per-class true/false positives and false
 * negatives, absolute and squared errors of numeric answers, and how many
 * answers were checked and how many were right. sbx_quality_fill() turns
 * those counts into the accuracy, macro_f1, per_class, mae, rmse and checked
 * fields of a Metrics message.
 *
 * Response bodies are hostile: they are read only within the given length,
 * never assumed NUL-terminated, and JSON is parsed by jansson with its depth
 * limit and with duplicate keys rejected.
 *
 * A struct sbx_quality is not thread-safe; it belongs to one run on one
 * thread.
 */
#ifndef SBX_CHECK_H
#define SBX_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "sbx/v1/result.pb-c.h"
#include "sbx/v1/scenario.pb-c.h"

/* At most this many distinct classes are tracked per run; labels beyond it
 * are counted together under SBX_QUALITY_OTHER_LABEL. At most half of the
 * table can be taken by labels that only a product's answers introduced,
 * so that a product emitting garbage cannot crowd out the real classes. */
#define SBX_QUALITY_MAX_CLASSES 1024

/* A label a product answered becomes a class of its own only if it is at
 * most this many bytes of valid UTF-8 without control characters; any
 * other answer is counted under SBX_QUALITY_OTHER_LABEL. */
#define SBX_QUALITY_MAX_LABEL_LEN 256

/* The pseudo-class that collects labels which could not get a class. */
#define SBX_QUALITY_OTHER_LABEL "(other)"

struct sbx_quality;

/* Returns new, empty accumulators whose classes start with checks->labels
 * (in that order, duplicates and empty strings skipped), or NULL when out
 * of memory. checks may be NULL (no declared classes). The labels are
 * copied; checks need not outlive the result. Free with sbx_quality_free(). */
struct sbx_quality *sbx_quality_new(const Sbx__V1__Checks *checks);

/* Frees q; NULL is accepted and ignored. */
void sbx_quality_free(struct sbx_quality *q);

/* Judges one response with HTTP status `status` and body[0..len) against
 * exp, under the scenario's checks. Returns:
 *   - HTTP_STATUS when exp->status != 0 and differs from status, or when
 *     exp->status == 0 and status is not 2xx;
 *   - else CHECK_FAILED when checks->verify_body is set and the body
 *     disagrees with any body expectation of exp:
 *       exact   the body equals these bytes;
 *       sha256  the body's SHA-256 equals these 32 bytes;
 *       json    each field's dotted path ("a.b.0.c"; a numeric segment
 *               indexes an array, or names a key in an object) exists in
 *               the JSON body and equals value_json; numbers compare
 *               within the field's absolute tolerance (also inside arrays
 *               and objects), other values structurally; an empty
 *               value_json only requires the path to exist;
 *       label   the answer's label equals exp->label: the body trimmed of
 *               whitespace, or, if the body is a JSON object, its "label"
 *               string member, or, if it is a JSON string, that string;
 *       number  the answer's number (the body as a number, or a JSON
 *               object's "value" number) is within checks'
 *               number_abs_tolerance OR number_rel_tolerance * |expected|;
 *   - else NONE.
 * exp == NULL means "any 2xx, nothing else"; checks == NULL means
 * verify_body is off. body may be NULL when len is 0.
 *
 * If q is not NULL and the case has a body expectation that verify_body
 * compares, the answer is counted as checked (and as correct if the result
 * is NONE); a label expectation also counts the answered label in the
 * per-class counters, and a number expectation the error of the answered
 * number, even when the check fails. An answer with the wrong status
 * counts as checked, wrong, and without a label; it adds no number error.
 * Never fails; allocations that fail inside (JSON parsing) make the check
 * fail rather than pass. */
Sbx__V1__ErrorClass sbx_check(const Sbx__V1__Checks *checks,
                              const Sbx__V1__Expectation *exp, uint32_t status,
                              const uint8_t *body, size_t len,
                              struct sbx_quality *q);

/* Counts a case that got no answer to judge (timeout, reset, crash...) as
 * checked and wrong, exactly as a wrong-status answer is counted, so that a
 * product cannot raise its accuracy by failing the hard cases. Does nothing
 * if q is NULL or the case has no body expectation that checks would
 * compare. The engine decides which error classes it reports here. */
void sbx_quality_unanswered(struct sbx_quality *q,
                            const Sbx__V1__Checks *checks,
                            const Sbx__V1__Expectation *exp);

/* Fills m->accuracy (correct / checked; 0 when nothing was checked),
 * m->macro_f1 (mean F1 over the classes that occurred as expected or
 * answered labels; 0 when none did), m->per_class (one malloc'd ClassScore
 * with a malloc'd label per tracked class, declared classes included; the
 * SBX_QUALITY_OTHER_LABEL class only when it was used), m->mae and m->rmse
 * (NaN when no numeric answer was compared: not measurable) and m->checked.
 * Precision, recall and F1 of a class whose denominator is 0 are 0.
 * q may be NULL: nothing was measured.
 * Returns 0; SBX_EINVAL if m is NULL or m->per_class is not empty on entry;
 * or SBX_ENOMEM. On failure m is unchanged. */
int sbx_quality_fill(const struct sbx_quality *q, Sbx__V1__Metrics *m);

#endif
