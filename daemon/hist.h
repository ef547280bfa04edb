/* hist.h - HDR-style log-linear latency histograms.
 *
 * A struct sbx_hist counts int64 values in microseconds from 1 µs up to one
 * hour with 3 significant digits, in the HdrHistogram layout (lowest
 * discernible value 1, 2048 sub-buckets, 22 buckets, 23552 uint64 counters).
 * Memory is fixed (about 184 KiB) whatever is recorded, recording is O(1)
 * with neither loops nor floating point, and two histograms merge exactly, so
 * the engine can keep one per run, per second or per product and combine
 * them afterwards.
 *
 * Values below 1 are counted as 0; values above SBX_HIST_HIGHEST are counted
 * as SBX_HIST_HIGHEST and also in a separate `saturated` counter, so that no
 * sample ever vanishes. min and max are kept exactly (after that clamping).
 *
 * The wire form is the Histogram message of sbx/v1/common.proto. Histograms
 * that come from outside (stored results, other hosts) go through
 * sbx_hist_from_proto(), which treats them as hostile and checks every
 * invariant before the engine may use them.
 *
 * A histogram is not thread-safe; each one belongs to one thread at a time.
 */
#ifndef SBX_HIST_H
#define SBX_HIST_H

#include <stdint.h>

#include "err.h"
#include "sbx/v1/common.pb-c.h"

/* The fixed layout; sbx_hist_from_proto() accepts exactly this one. */
#define SBX_HIST_LOWEST 1             /* lowest discernible value, µs */
#define SBX_HIST_HIGHEST 3600000000LL /* highest trackable value, µs (1 h) */
#define SBX_HIST_SIGFIGS 3            /* significant decimal digits */
#define SBX_HIST_SUB_BUCKETS 2048     /* linear steps per power of two */
#define SBX_HIST_BUCKETS 22           /* powers of two covered */
#define SBX_HIST_COUNTS_LEN                                                    \
  ((SBX_HIST_BUCKETS + 1) * (SBX_HIST_SUB_BUCKETS / 2))

struct sbx_hist;

/* Returns a new, empty histogram, or NULL when out of memory. Free it with
 * sbx_hist_free(). */
struct sbx_hist *sbx_hist_new(void);

/* Frees h; NULL is accepted and ignored. */
void sbx_hist_free(struct sbx_hist *h);

/* Empties h: all counters, total, min, max and saturated become 0. */
void sbx_hist_reset(struct sbx_hist *h);

/* Counts one value. value_us < 1 is counted as 0; value_us above
 * SBX_HIST_HIGHEST is counted as SBX_HIST_HIGHEST and in the saturated
 * counter. Never fails. Counters saturate at UINT64_MAX instead of wrapping
 * (reachable only through absurd record_n/merge totals). */
void sbx_hist_record(struct sbx_hist *h, int64_t value_us);

/* Counts value_us n times (same clamping as sbx_hist_record); n == 0 does
 * nothing. */
void sbx_hist_record_n(struct sbx_hist *h, int64_t value_us, uint64_t n);

/* Adds every count of src into dst (min, max, total and saturated included).
 * Afterwards dst equals a histogram that recorded both inputs. src may be
 * dst. Never fails; counters saturate at UINT64_MAX. */
void sbx_hist_merge(struct sbx_hist *dst, const struct sbx_hist *src);

/* Number of values counted. */
uint64_t sbx_hist_count(const struct sbx_hist *h);

/* Smallest / largest value counted (after clamping to 0..SBX_HIST_HIGHEST),
 * exact; 0 when h is empty. */
int64_t sbx_hist_min(const struct sbx_hist *h);
int64_t sbx_hist_max(const struct sbx_hist *h);

/* Mean of the counted values, each taken at the middle of its bucket (as
 * HdrHistogram does), so it is within 0.05% of the exact mean; 0.0 when h
 * is empty. */
double sbx_hist_mean(const struct sbx_hist *h);

/* Value at percentile pct (0..100; below 0 or NaN is taken as 0, above 100
 * as 100), HdrHistogram semantics: the highest value
 * equivalent to the bucket that holds rank ceil(pct/100*count) (at least 1),
 * capped at max. The result is never below the exact order statistic of
 * that rank and at most 0.1% above it (exact below 2048). 0 when empty. */
int64_t sbx_hist_percentile(const struct sbx_hist *h, double pct);

/* How many recorded values were above SBX_HIST_HIGHEST and were clamped.
 * The wire form has no field for it: sbx_hist_from_proto() sets it to 0. */
uint64_t sbx_hist_saturated(const struct sbx_hist *h);

/* Encodes h into *out, which must be initialised with
 * SBX__V1__HISTOGRAM__INIT and own nothing yet. Fields: lowest_discernible,
 * highest_trackable and significant_figures of the layout above; counts has
 * one entry per counter index from 0 up to the highest non-empty one, a run
 * of n >= 1 empty counters being written as the single entry -n; total_count,
 * min, max; unit "us". out->counts and out->unit are malloc'd: release them
 * with sbx_hist_proto_clear(), or with protobuf_c_message_free_unpacked()
 * when out itself was malloc'd.
 * Returns 0; SBX_ENOMEM; or SBX_ERANGE when a counter exceeds INT64_MAX or
 * the counters add up past UINT64_MAX (only saturating record_n/merge can
 * produce that; the wire form cannot carry it).
 * On failure *out is left as initialised, owning nothing. */
int sbx_hist_to_proto(const struct sbx_hist *h, Sbx__V1__Histogram *out);

/* Frees what sbx_hist_to_proto() allocated in *m and leaves m initialised as
 * SBX__V1__HISTOGRAM__INIT. m may be NULL. Do not use it on a message from
 * sbx__v1__histogram__unpack() (free those with
 * sbx__v1__histogram__free_unpacked()). */
void sbx_hist_proto_clear(Sbx__V1__Histogram *m);

/* Decodes *in, which is treated as hostile, into h (whose previous content
 * is discarded). Checks that the layout is ours (lowest_discernible 1,
 * highest_trackable 3600000000, significant_figures 3, unit "us"), that no
 * counts entry is 0, that every index stays within the trackable range, that
 * the counts add up to total_count without overflow, and that min <= max lie
 * in the lowest and highest non-empty buckets (both 0 when empty).
 * saturated becomes 0.
 * Returns 0, or SBX_EINVAL with h reset and, when diag is not NULL, a
 * message naming the field, the problem and what to do about it. */
int sbx_hist_from_proto(struct sbx_hist *h, const Sbx__V1__Histogram *in,
                        struct sbx_diag *diag);

#endif
