/* metrics.h - the daemon's Prometheus registry and /metrics renderer.
 *
 * A small registry of metric families (counter, gauge, histogram), each
 * holding one series per label set, rendered in the Prometheus text
 * exposition format version 0.0.4 on every scrape. Families render sorted
 * by name and series sorted by their label text, so two scrapes of the same
 * state are byte-identical; the process_* families read from /proc/self
 * follow at the end. Labels are keyed by name, so ("a","1","b","2") and
 * ("b","2","a","1") are the same series.
 *
 * The registry is not thread-safe: it belongs to the loop thread, like
 * everything else in the daemon that is not the store writer. Numbers are
 * formatted with the C locale's decimal point (the daemon never calls
 * setlocale). Label values are copied as given, so they should be UTF-8;
 * only backslash, double quote and newline are escaped.
 */
#ifndef SBX_METRICS_H
#define SBX_METRICS_H

#include <stddef.h>

/* The Content-Type of sbx_metrics_render()'s output. */
#define SBX_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Upper bounds on what one registry holds, so that a label fed from outside
 * input cannot grow it without limit: series across all families, label
 * pairs per sample, histogram buckets per family. */
#define SBX_METRICS_MAX_SERIES 10000
#define SBX_METRICS_MAX_LABELS 16
#define SBX_METRICS_MAX_BUCKETS 64

struct sbx_metrics;

/* Creates an empty registry. Returns 0 and sets *out (release it with
 * sbx_metrics_free), or SBX_EINVAL (out is NULL) or SBX_ENOMEM, with *out
 * set to NULL. */
int sbx_metrics_new(struct sbx_metrics **out);

/* Frees m and every family and series in it. m may be NULL. */
void sbx_metrics_free(struct sbx_metrics *m);

/* Declares a family. type is "counter", "gauge" or "histogram" (with the
 * Prometheus default buckets 0.005 .. 10; see
 * sbx_metrics_declare_histogram for others). name must match
 * [a-zA-Z_:][a-zA-Z0-9_:]* and must not start with "process_" (the
 * registry renders those itself) nor collide with the _bucket, _sum or
 * _count series of a histogram. help is copied; it may be NULL or empty.
 *
 * Returns 0 (also when the same name was already declared with the same
 * type: the first help text stays), SBX_EINVAL (bad name or type),
 * SBX_EEXIST (the name is taken by a family of another type or by a
 * histogram's series) or SBX_ENOMEM. On failure m is unchanged. */
int sbx_metrics_declare(struct sbx_metrics *m, const char *name,
                        const char *type, const char *help);

/* Declares a histogram family with n upper bounds (1 <= n <=
 * SBX_METRICS_MAX_BUCKETS, finite, strictly increasing); the +Inf bucket is
 * implicit. bounds is copied. Returns as sbx_metrics_declare; redeclaring
 * an existing histogram with other bounds is SBX_EEXIST. */
int sbx_metrics_declare_histogram(struct sbx_metrics *m, const char *name,
                                  const char *help, const double *bounds,
                                  size_t n);

/* Adds v to the series of family name with the given labels, creating the
 * series at 0 first. The variadic part is label name, label value, name,
 * value, ..., always ending in NULL (also with no labels):
 *   sbx_metrics_add(m, "sbx_api_requests_total", 1, "method", "GetRun",
 *                   "code", "ok", NULL);
 * Label names must match [a-zA-Z_][a-zA-Z0-9_]*, not start with "__", not
 * be "le" nor repeat; values are any strings (escaped on output).
 *
 * Returns 0, SBX_EINVAL (unknown family, histogram family, bad or repeated
 * label name, a name without a value, NaN, or a negative v on a counter),
 * SBX_ERANGE (more than SBX_METRICS_MAX_LABELS labels, or the registry
 * already holds SBX_METRICS_MAX_SERIES series) or SBX_ENOMEM. On failure
 * the registry is unchanged. */
int sbx_metrics_add(struct sbx_metrics *m, const char *name, double v, ...)
    __attribute__((sentinel));

/* Sets the series to v, creating it if needed. Labels and returns as
 * sbx_metrics_add, except that any v is accepted on a gauge (NaN and
 * infinities render as NaN, +Inf, -Inf) and any v >= 0 on a counter
 * (for counters mirrored from a module's own totals). */
int sbx_metrics_set(struct sbx_metrics *m, const char *name, double v, ...)
    __attribute__((sentinel));

/* Records one observation v (not NaN) in a histogram family. Labels and
 * returns as sbx_metrics_add; a family that is not a histogram is
 * SBX_EINVAL. */
int sbx_metrics_observe(struct sbx_metrics *m, const char *name, double v, ...)
    __attribute__((sentinel));

/* Renders every family (# HELP, # TYPE, then its samples in a stable order)
 * followed by the process metrics read from /proc/self:
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_cpu_seconds_total,
 * process_start_time_seconds (a process metric that cannot be read is left
 * out rather than reported as 0). A family with no series yet renders only
 * its HELP and TYPE lines.
 *
 * Returns a malloc'd NUL-terminated buffer that the caller frees, and its
 * length (without the NUL) in *len if len is not NULL; or NULL when m is
 * NULL or memory ran out. m is not changed. */
char *sbx_metrics_render(struct sbx_metrics *m, size_t *len);

#endif
