/* verify.h - the verification step: from what a run measured to its verdict.
 *
 * After measurement the engine hands the scenario and its struct
 * sbx_run_stats to sbx_verify(), which computes the metrics, judges every
 * criterion of the spec (measured value beside the bound), applies the
 * validity rules (a run that broke them is INVALID, with one full sentence
 * per broken rule naming the measured value and the limit), and sets the
 * verdict and the leaderboard score. An INVALID run never reports PASS.
 *
 * Metric names are canonical and shared with the spec loader:
 *   latency.min latency.p50 latency.p90 latency.p99 latency.p999
 *   latency.max latency.mean      microseconds, from the scheduled time
 *   throughput                    answers without error per second
 *   achieved_rate                 arrivals sent per second
 *   error_rate  dropped_rate      fractions of measured arrivals
 *   accuracy  macro_f1            fractions (check.h)
 *   mae  rmse                     in the unit of the expected numbers
 * A metric without data (latency when nothing completed, accuracy when
 * nothing was checked, rates over a zero duration...) is not measurable,
 * and a criterion on it fails.
 */
#ifndef SBX_VERIFY_H
#define SBX_VERIFY_H

#include "runstats.h"
#include "sbx/v1/result.pb-c.h"
#include "sbx/v1/scenario.pb-c.h"

/* Fills res, which already holds the identity fields the engine set, from
 * sc and st:
 *   metrics   a malloc'd Metrics: counts; errors (every class but NONE,
 *             dropped arrivals included) and errors_by_class (each non-zero
 *             class but NONE); duration_s = (measure_end - measure_start) /
 *             1e9; throughput = answers without error / duration;
 *             error_rate = errors / requests; target_rate (st's, else the
 *             open load's rate); achieved_rate = sent / duration; the
 *             latency summary and the latency and schedule-lag histograms;
 *             the quality metrics of st->quality (mae/rmse NaN when no
 *             number was compared).
 *   criteria  one CriterionOutcome per criterion of sc, holding a copy of
 *             it, the measured value in the metric's base unit, measurable
 *             and passed. An unknown metric or an unmeasurable one fails;
 *             an unspecified comparison fails.
 *   validity  the reasons, in this order, for: nothing completed; minimum
 *             duration or case count not met (st's flags); schedule lag
 *             p99 over validity.max_schedule_lag_p99_us; achieved arrival
 *             rate off the target by more than validity.max_rate_deviation
 *             (open and trace loads with a target only); dropped fraction
 *             over validity.max_dropped_fraction. A limit <= 0 (unset)
 *             turns its rule off. valid is set when there is no reason.
 *   verdict   kept if it is ERROR (set by the engine before the call);
 *             else INVALID if any validity reason, else FAIL if any
 *             criterion failed, else PASS.
 *   score     the value of sc->score_metric ("throughput" when empty), or
 *             NaN when that metric is unknown or not measurable.
 * Metrics, criteria and validity already in res are freed and replaced.
 * Everything is allocated with malloc, so protobuf_c_message_free_unpacked
 * (&res->base, NULL) releases all of it.
 * Returns 0; SBX_EINVAL if an argument is NULL; SBX_ENOMEM. On failure res
 * is unchanged. */
int sbx_verify(const Sbx__V1__Scenario *sc, const struct sbx_run_stats *st,
               Sbx__V1__Result *res);

/* Sets *out to the value of the canonical metric `metric` in m (see the
 * list above; rates as fractions, latency in µs). Returns 0; SBX_ENOENT if
 * the name is unknown (or NULL); SBX_ERANGE if the metric is not measurable
 * in m (m NULL, no data, or NaN). *out is written only on success. */
int sbx_metric_value(const Sbx__V1__Metrics *m, const char *metric,
                     double *out);

/* Returns 1 if metric is a canonical metric name, else 0 (NULL too): what
 * the spec loader accepts in criteria and score_metric. */
int sbx_metric_known(const char *metric);

#endif
