/* report.c - text summary, JUnit XML and JSON summary of a run's result.
 *
 * Values are worded by the kind of metric they measure (metric_kind()):
 * durations in us/ms/s, rates per second, fractions as percentages, scores
 * as 0.xxx. Outside text passes through put_text() (terminal) or xml_put()
 * (XML) and nowhere else.
 */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "pbjson.h"
#include "units.h"

#define LABEL_W 10       /* width of the "verdict   " column */
#define CRIT_TEXT_MAX 48 /* criterion column never wider than this */
#define PER_CLASS_MAX 20 /* per-class lines shown before "... more" */

/* ---- UTF-8 and outside text ---- */

/* Decodes the well-formed UTF-8 sequence at s (n > 0 bytes left) into *cp
 * and returns its length, or returns 0 if the bytes are not one (overlong
 * forms, surrogates, above U+10FFFF). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned char c = s[0], lo = 0x80, hi = 0xBF;
  size_t len, i;
  uint32_t v;

  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    v = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    v = c & 0x07;
  } else {
    return 0;
  }
  if (c == 0xE0)
    lo = 0xA0;
  else if (c == 0xED)
    hi = 0x9F;
  else if (c == 0xF0)
    lo = 0x90;
  else if (c == 0xF4)
    hi = 0x8F;
  if (n < len || s[1] < lo || s[1] > hi)
    return 0;
  for (i = 1; i < len; i++) {
    if (s[i] < 0x80 || s[i] > 0xBF)
      return 0;
    v = (v << 6) | (s[i] & 0x3F);
  }
  *cp = v;
  return len;
}

static const char *nonempty(const char *s, const char *fallback) {
  return s != NULL && s[0] != '\0' ? s : fallback;
}

/* Writes outside text s to a terminal log: control characters (C0, DEL,
 * C1, which could move the cursor or recolor the log) and malformed UTF-8
 * become '?'. A newline becomes nl_indent after a newline when nl_indent is
 * not NULL. Returns the number of characters written (for padding); with f
 * NULL only counts them. */
static size_t put_text(FILE *f, const char *s, const char *nl_indent) {
  const unsigned char *u = (const unsigned char *)s;
  size_t n, i = 0, k, chars = 0;
  uint32_t cp;

  if (s == NULL)
    return 0;
  n = strlen(s);
  while (i < n) {
    k = utf8_decode(u + i, n - i, &cp);
    if (f == NULL) {
      k = k == 0 ? 1 : k;
    } else if (k == 0) {
      fputc('?', f);
      k = 1;
    } else if (cp == '\n' && nl_indent != NULL) {
      fputc('\n', f);
      fputs(nl_indent, f);
    } else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
      fputc('?', f);
    } else {
      fwrite(s + i, 1, k, f);
    }
    i += k;
    chars++;
  }
  return chars;
}

/* Writes s as XML character data (attr false) or an attribute value (attr
 * true): the five special characters as entities, tab/newline/CR as
 * character references in attributes (so that parsers keep them), other
 * characters XML 1.0 forbids dropped, malformed UTF-8 as U+FFFD. */
static void xml_put(FILE *f, const char *s, bool attr) {
  const unsigned char *u = (const unsigned char *)s;
  size_t n, i = 0, k;
  uint32_t cp;

  if (s == NULL)
    return;
  n = strlen(s);
  while (i < n) {
    k = utf8_decode(u + i, n - i, &cp);
    if (k == 0) {
      fputs("\xEF\xBF\xBD", f);
      i++;
      continue;
    }
    switch (cp) {
    case '&':
      fputs("&amp;", f);
      break;
    case '<':
      fputs("&lt;", f);
      break;
    case '>':
      fputs("&gt;", f);
      break;
    case '"':
      fputs("&quot;", f);
      break;
    case '\'':
      fputs("&apos;", f);
      break;
    case '\t':
      fputs(attr ? "&#9;" : "\t", f);
      break;
    case '\n':
      fputs(attr ? "&#10;" : "\n", f);
      break;
    case '\r':
      fputs("&#13;", f);
      break;
    default:
      if (cp >= 0x20 && cp != 0xFFFE && cp != 0xFFFF)
        fwrite(s + i, 1, k, f);
      break;
    }
    i += k;
  }
}

/* ---- numbers by metric kind ---- */

enum metric_kind {
  KIND_DURATION, /* microseconds */
  KIND_RATE,     /* per second */
  KIND_FRACTION, /* 0..1, shown as a percentage */
  KIND_SCORE,    /* 0..1, shown as 0.xxx */
  KIND_COUNT,    /* whole number */
  KIND_PLAIN,
};

static bool has_prefix(const char *s, const char *p) {
  return strncmp(s, p, strlen(p)) == 0;
}

static bool has_suffix(const char *s, const char *x) {
  size_t n = strlen(s), m = strlen(x);
  return n >= m && strcmp(s + n - m, x) == 0;
}

/* The kind of a criterion's metric, from its name as the spec writes it
 * (latency.p99, error_rate, throughput, accuracy, ...). */
static enum metric_kind metric_kind(const char *m) {
  if (m == NULL)
    return KIND_PLAIN;
  if (has_prefix(m, "latency") || has_prefix(m, "lag") ||
      has_prefix(m, "schedule_lag") || strstr(m, "_us") != NULL)
    return KIND_DURATION;
  if (strcmp(m, "throughput") == 0 || strcmp(m, "rate") == 0 ||
      strcmp(m, "achieved_rate") == 0 || strcmp(m, "target_rate") == 0)
    return KIND_RATE;
  if (has_suffix(m, "_rate") || has_suffix(m, "_fraction") ||
      has_suffix(m, "_deviation"))
    return KIND_FRACTION;
  if (strcmp(m, "accuracy") == 0 || strstr(m, "f1") != NULL ||
      strstr(m, "precision") != NULL || strstr(m, "recall") != NULL)
    return KIND_SCORE;
  if (strcmp(m, "requests") == 0 || strcmp(m, "completed") == 0 ||
      strcmp(m, "errors") == 0 || strcmp(m, "dropped") == 0 ||
      strcmp(m, "checked") == 0)
    return KIND_COUNT;
  return KIND_PLAIN;
}

/* us rounded to int64, saturating (values from outside may be anything). */
static int64_t us_round(double us) {
  if (us >= 9.2e18)
    return INT64_MAX;
  if (us <= -9.2e18)
    return INT64_MIN + 1;
  return (int64_t)llround(us);
}

static const char *fmt_duration_d(char *buf, size_t n, double us) {
  sbx_format_duration_us(us_round(us), buf, n);
  return buf;
}

/* v with a comma every three digits: 243102 -> "243,102". */
static const char *fmt_count(char *buf, size_t n, uint64_t v) {
  char digits[24];
  size_t len = (size_t)snprintf(digits, sizeof(digits), "%" PRIu64, v);
  size_t i, o = 0;

  for (i = 0; i < len && o + 2 < n; i++) {
    if (i > 0 && (len - i) % 3 == 0)
      buf[o++] = ',';
    buf[o++] = digits[i];
  }
  buf[o] = '\0';
  return buf;
}

/* A rate without unit: "24,310", "52.5", "3.25". */
static const char *fmt_rate_num(char *buf, size_t n, double v) {
  if (!isfinite(v))
    snprintf(buf, n, "%s", isnan(v) ? "n/a" : v > 0 ? "inf" : "-inf");
  else if (v < 0)
    snprintf(buf, n, "%.3g", v);
  else if (v >= 1e15)
    snprintf(buf, n, "%.3g", v);
  else if (v >= 99.95)
    fmt_count(buf, n, (uint64_t)llround(v));
  else if (v >= 9.995)
    snprintf(buf, n, "%.1f", v);
  else
    snprintf(buf, n, "%.2f", v);
  return buf;
}

/* Formats v as a value of metric m: "4.80ms", "24,310/s", "0.005%",
 * "0.982". */
static const char *fmt_metric(char *buf, size_t n, const char *m, double v) {
  if (isnan(v)) {
    snprintf(buf, n, "n/a");
    return buf;
  }
  switch (metric_kind(m)) {
  case KIND_DURATION:
    return fmt_duration_d(buf, n, v);
  case KIND_RATE: {
    char num[40];
    snprintf(buf, n, "%s/s", fmt_rate_num(num, sizeof(num), v));
    return buf;
  }
  case KIND_FRACTION:
    snprintf(buf, n, "%.3f%%", v * 100.0);
    return buf;
  case KIND_SCORE:
    snprintf(buf, n, "%.3f", v);
    return buf;
  case KIND_COUNT:
    if (v >= 0 && v < 1.8e19)
      return fmt_count(buf, n, (uint64_t)llround(v));
    break;
  case KIND_PLAIN:
    break;
  }
  snprintf(buf, n, "%.4g", v);
  return buf;
}

/* Removes trailing zeros after the decimal point of the number s starts
 * with: "20.0ms" -> "20ms", "0.100%" -> "0.1%". Bounds are round numbers
 * that people wrote; the zeros only add noise there. */
static void trim_zeros(char *s) {
  char *dot = strchr(s, '.'), *end, *z;

  if (dot == NULL)
    return;
  end = dot + 1;
  while (*end >= '0' && *end <= '9')
    end++;
  z = end;
  while (z > dot + 1 && z[-1] == '0')
    z--;
  if (z == dot + 1)
    z = dot;
  memmove(z, end, strlen(end) + 1);
}

static const char *op_str(Sbx__V1__CompareOp op) {
  switch (op) {
  case SBX__V1__COMPARE_OP__COMPARE_OP_LE:
    return "<=";
  case SBX__V1__COMPARE_OP__COMPARE_OP_LT:
    return "<";
  case SBX__V1__COMPARE_OP__COMPARE_OP_GE:
    return ">=";
  case SBX__V1__COMPARE_OP__COMPARE_OP_GT:
    return ">";
  default:
    return "?";
  }
}

/* "<= 20ms" for criterion c. */
static const char *fmt_bound(char *buf, size_t n, const Sbx__V1__Criterion *c) {
  char v[64];

  fmt_metric(v, sizeof(v), c->metric, c->bound);
  trim_zeros(v);
  snprintf(buf, n, "%s %s", op_str(c->op), v);
  return buf;
}

/* The name of outcome o: the criterion's text as written in the spec, else
 * one made from its parts ("latency.p99 <= 20ms"). */
static const char *crit_name(char *buf, size_t n,
                             const Sbx__V1__CriterionOutcome *o) {
  const Sbx__V1__Criterion *c = o != NULL ? o->criterion : NULL;
  char bound[80];

  if (c == NULL)
    return "(missing criterion)";
  if (c->text != NULL && c->text[0] != '\0')
    return c->text;
  snprintf(buf, n, "%s %s", nonempty(c->metric, "(no metric)"),
           fmt_bound(bound, sizeof(bound), c));
  return buf;
}

/* "measured 23.4ms" or "no data". */
static const char *fmt_measured(char *buf, size_t n,
                                const Sbx__V1__CriterionOutcome *o) {
  char v[64];

  if (o->criterion == NULL || !o->measurable) {
    snprintf(buf, n, "no data");
    return buf;
  }
  snprintf(buf, n, "measured %s",
           fmt_metric(v, sizeof(v), o->criterion->metric, o->measured));
  return buf;
}

/* "PASS" for VERDICT_PASS; "UNKNOWN" for a number without a name. */
static const char *verdict_name(Sbx__V1__Verdict v) {
  const ProtobufCEnumValue *ev =
      protobuf_c_enum_descriptor_get_value(&sbx__v1__verdict__descriptor, v);
  if (ev == NULL)
    return "UNKNOWN";
  return has_prefix(ev->name, "VERDICT_") ? ev->name + 8 : ev->name;
}

/* Lower-case hex of b into a new string, or NULL when out of memory. */
static char *hex_dup(const ProtobufCBinaryData *b) {
  char *h;

  if (b->len > (SIZE_MAX - 1) / 2)
    return NULL;
  h = malloc(b->len * 2 + 1);
  if (h == NULL)
    return NULL;
  if (b->len == 0 || b->data == NULL)
    h[0] = '\0';
  else
    sodium_bin2hex(h, b->len * 2 + 1, b->data, b->len);
  return h;
}

/* ---- text summary ---- */

#define ANSI_RESET "\x1b[0m"

static const char *verdict_color(Sbx__V1__Verdict v) {
  switch (v) {
  case SBX__V1__VERDICT__VERDICT_PASS:
    return "\x1b[1;32m";
  case SBX__V1__VERDICT__VERDICT_INVALID:
    return "\x1b[1;33m";
  default:
    return "\x1b[1;31m";
  }
}

static void label(FILE *f, const char *l) {
  fprintf(f, "%-*s", LABEL_W, l);
}

static void put_colored(FILE *f, const char *s, const char *ansi, int color) {
  if (color)
    fputs(ansi, f);
  fputs(s, f);
  if (color)
    fputs(ANSI_RESET, f);
}

static int cmp_error_count(const void *a, const void *b) {
  const Sbx__V1__ErrorCount *x = *(const Sbx__V1__ErrorCount *const *)a;
  const Sbx__V1__ErrorCount *y = *(const Sbx__V1__ErrorCount *const *)b;

  if (x->count != y->count)
    return x->count > y->count ? -1 : 1;
  return x->error < y->error ? -1 : x->error > y->error;
}

/* "timeout", "http_status" for an error class; "class 42" if unnamed. */
static void put_error_class(FILE *f, Sbx__V1__ErrorClass e) {
  const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
      &sbx__v1__error_class__descriptor, e);
  const char *s;

  if (ev == NULL) {
    fprintf(f, "class %d", (int)e);
    return;
  }
  s = has_prefix(ev->name, "ERROR_CLASS_") ? ev->name + 12 : ev->name;
  for (; *s != '\0'; s++)
    fputc(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s, f);
}

static void text_errors(FILE *f, const Sbx__V1__Metrics *m) {
  const Sbx__V1__ErrorCount **v = NULL;
  char num[32];
  size_t i, n = 0;

  label(f, "errors");
  fprintf(f, "%s (%.3f%%)", fmt_count(num, sizeof(num), m->errors),
          isfinite(m->error_rate) ? m->error_rate * 100.0 : 0.0);
  if (m->n_errors_by_class > 0)
    v = calloc(m->n_errors_by_class, sizeof(*v));
  for (i = 0; v != NULL && i < m->n_errors_by_class; i++) {
    const Sbx__V1__ErrorCount *e = m->errors_by_class[i];
    if (e != NULL && e->count > 0 &&
        e->error != SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE)
      v[n++] = e;
  }
  /* Most frequent first; without memory the breakdown is left out. */
  if (n > 1)
    qsort(v, n, sizeof(*v), cmp_error_count);
  for (i = 0; i < n; i++) {
    fputs(i == 0 ? ": " : ", ", f);
    put_error_class(f, v[i]->error);
    fprintf(f, " %s", fmt_count(num, sizeof(num), v[i]->count));
  }
  fputc('\n', f);
  free(v);
}

static void text_latency(FILE *f, const Sbx__V1__Metrics *m) {
  const Sbx__V1__LatencySummary *l = m->latency;
  char a[32], b[32], c[32], d[32], e[32];

  label(f, "latency");
  if (l == NULL || m->completed == 0) {
    fputs("no completed requests\n", f);
    return;
  }
  sbx_format_duration_us(l->p50_us, a, sizeof(a));
  sbx_format_duration_us(l->p90_us, b, sizeof(b));
  sbx_format_duration_us(l->p99_us, c, sizeof(c));
  sbx_format_duration_us(l->p999_us, d, sizeof(d));
  sbx_format_duration_us(l->max_us, e, sizeof(e));
  fprintf(f, "p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", a, b, c, d, e);
}

static void text_rate(FILE *f, const Sbx__V1__Metrics *m) {
  char rate[40], req[32], warm[32], drop[32];
  double secs = isfinite(m->duration_s) ? m->duration_s : 0.0;

  label(f, "rate");
  fprintf(f, "%s req/s over %.*f s (%s requests, %s warm-up",
          fmt_rate_num(rate, sizeof(rate), m->throughput), secs >= 100 ? 0 : 1,
          secs, fmt_count(req, sizeof(req), m->requests),
          fmt_count(warm, sizeof(warm), m->warmup_requests));
  if (m->dropped > 0)
    fprintf(f, ", %s dropped", fmt_count(drop, sizeof(drop), m->dropped));
  fputs(")\n", f);
  if (m->errors > 0 && secs > 0) {
    label(f, "");
    fprintf(f, "(answered without error; %s req/s answered in all)\n",
            fmt_rate_num(rate, sizeof(rate), (double)m->completed / secs));
  }
  if (m->target_rate > 0) {
    char t[40];
    label(f, "arrivals");
    fprintf(f, "%s/s achieved of %s/s target\n",
            fmt_rate_num(rate, sizeof(rate), m->achieved_rate),
            fmt_rate_num(t, sizeof(t), m->target_rate));
  }
}

static void text_quality(FILE *f, const Sbx__V1__Metrics *m) {
  bool labels = m->n_per_class > 0;
  bool numbers = isfinite(m->mae) && isfinite(m->rmse);
  char num[32];
  size_t i;

  if (m->checked == 0 || (!labels && !numbers))
    return;
  label(f, "quality");
  if (labels)
    fprintf(f, "accuracy %.3f  macro-F1 %.3f", m->accuracy, m->macro_f1);
  if (numbers)
    fprintf(f, "%sMAE %.4g  RMSE %.4g", labels ? "  " : "", m->mae, m->rmse);
  fprintf(f, "  (%s checked)\n", fmt_count(num, sizeof(num), m->checked));
  for (i = 0; i < m->n_per_class && i < PER_CLASS_MAX; i++) {
    const Sbx__V1__ClassScore *c = m->per_class[i];
    if (c == NULL)
      continue;
    fputs("  ", f);
    put_text(f, nonempty(c->label, "(no label)"), NULL);
    fprintf(f, ": precision %.3f  recall %.3f  F1 %.3f  (support %s)\n",
            c->precision, c->recall, c->f1,
            fmt_count(num, sizeof(num), c->support));
  }
  if (m->n_per_class > PER_CLASS_MAX)
    fprintf(f, "  ... and %zu more classes\n", m->n_per_class - PER_CLASS_MAX);
}

/* What the product cost to run and how it was jailed (plugins). */
static void text_cost(FILE *f, const Sbx__V1__Result *res,
                      const Sbx__V1__Metrics *m) {
  size_t i;
  if (m->cpu_us_per_request > 0 || m->peak_rss_bytes > 0) {
    label(f, "cost");
    fprintf(f, "%.1f us CPU per request, peak memory %.1f MiB\n",
            m->cpu_us_per_request,
            (double)m->peak_rss_bytes / (1024.0 * 1024.0));
  }
  if (res->n_jail_layers > 0) {
    label(f, "jail");
    for (i = 0; i < res->n_jail_layers; i++) {
      if (i > 0)
        fputs(", ", f);
      put_text(f, res->jail_layers[i], NULL);
    }
    fputc('\n', f);
  }
}

static void text_criteria(FILE *f, const Sbx__V1__Result *res, int color) {
  char buf[160], measured[96];
  size_t i, w = 0;

  if (res->n_criteria == 0) {
    label(f, "criteria");
    fputs(res->verdict == SBX__V1__VERDICT__VERDICT_ERROR ? "not assessed\n"
                                                          : "none\n",
          f);
    return;
  }
  fputs("criteria\n", f);
  /* Pad the text column to the widest criterion, within reason. */
  for (i = 0; i < res->n_criteria; i++) {
    size_t len =
        put_text(NULL, crit_name(buf, sizeof(buf), res->criteria[i]), NULL);
    if (len > w)
      w = len;
  }
  if (w > CRIT_TEXT_MAX)
    w = CRIT_TEXT_MAX;
  for (i = 0; i < res->n_criteria; i++) {
    const Sbx__V1__CriterionOutcome *o = res->criteria[i];
    bool pass = o != NULL && o->passed;
    size_t chars;

    fputs("  ", f);
    put_colored(f, pass ? "PASS" : "FAIL", pass ? "\x1b[32m" : "\x1b[31m",
                color);
    fputs("  ", f);
    chars = put_text(f, crit_name(buf, sizeof(buf), o), NULL);
    for (; chars < w; chars++)
      fputc(' ', f);
    fprintf(f, "  %s\n",
            o != NULL ? fmt_measured(measured, sizeof(measured), o)
                      : "no data");
  }
}

static void text_validity(FILE *f, const Sbx__V1__ValidityOutcome *v,
                          int color) {
  size_t i;

  label(f, "validity");
  if (v == NULL) {
    fputs("not assessed\n", f);
    return;
  }
  if (v->valid) {
    fputs("valid\n", f);
    return;
  }
  put_colored(f, "INVALID", "\x1b[1;33m", color);
  fputc('\n', f);
  for (i = 0; i < v->n_reasons; i++) {
    fputs("  - ", f);
    put_text(f, v->reasons[i], "    ");
    fputc('\n', f);
  }
}

void sbx_report_text(FILE *f, const Sbx__V1__Result *res, int color) {
  const Sbx__V1__Metrics *m = res->metrics;
  char *hex;

  put_text(f, nonempty(res->scenario, "(unnamed scenario)"), NULL);
  if (res->scenario_version != NULL && res->scenario_version[0] != '\0') {
    fputc('@', f);
    put_text(f, res->scenario_version, NULL);
  }
  fputs(" against ", f);
  put_text(f, nonempty(res->product, "(unknown product)"), NULL);
  fputs(" (", f);
  if (res->client != NULL && res->client[0] != '\0') {
    fputs("client ", f);
    put_text(f, res->client, NULL);
    fputs(", ", f);
  }
  fprintf(f, "run %" PRIu64 ")\n", res->run_id);

  label(f, "verdict");
  put_colored(f, verdict_name(res->verdict), verdict_color(res->verdict),
              color);
  fputc('\n', f);
  if (res->verdict == SBX__V1__VERDICT__VERDICT_ERROR) {
    label(f, "error");
    if (color)
      fputs("\x1b[1m", f);
    put_text(f, nonempty(res->error_message, "(no message recorded)"),
             "          ");
    if (color)
      fputs(ANSI_RESET, f);
    fputc('\n', f);
  }

  if (m != NULL) {
    text_latency(f, m);
    text_rate(f, m);
    text_errors(f, m);
    text_quality(f, m);
    text_cost(f, res, m);
  } else if (res->verdict != SBX__V1__VERDICT__VERDICT_ERROR) {
    label(f, "metrics");
    fputs("none recorded\n", f);
  }
  text_criteria(f, res, color);
  text_validity(f, res->validity, color);

  if (res->scenario_digest.len > 0) {
    hex = hex_dup(&res->scenario_digest);
    label(f, "digest");
    fprintf(f, "sha256:%s\n", hex != NULL ? hex : "(out of memory)");
    free(hex);
  }
}

/* ---- files ---- */

/* Writes data[0..len) to path through a temporary file in the same
 * directory (created with O_EXCL and mode 0666 & ~umask), fsync()s it and
 * renames it over path. On failure the temporary file is removed and path
 * is untouched. */
static int write_atomic(const char *path, const char *data, size_t len,
                        struct sbx_diag *diag) {
  unsigned char rnd[8];
  char hex[sizeof(rnd) * 2 + 1];
  size_t tlen = strlen(path) + sizeof(hex) + 8, off = 0;
  char *tmp = malloc(tlen);
  int fd = -1, err = EIO, tries;
  bool created = false;

  if (tmp == NULL)
    return SBX_ENOMEM;
  for (tries = 0; tries < 16 && fd < 0; tries++) {
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    snprintf(tmp, tlen, "%s.tmp-%s", path, hex);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST)
      break;
  }
  if (fd < 0) {
    err = errno;
    goto fail;
  }
  created = true;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      err = w < 0 ? errno : EIO;
      goto fail;
    }
    off += (size_t)w;
  }
  if (fsync(fd) != 0) {
    err = errno;
    goto fail;
  }
  err = close(fd) != 0 ? errno : 0;
  fd = -1;
  if (err != 0)
    goto fail;
  if (rename(tmp, path) != 0) {
    err = errno;
    goto fail;
  }
  free(tmp);
  return 0;

fail:
  if (fd >= 0)
    close(fd);
  if (created)
    unlink(tmp);
  sbx_diag_set(diag,
               "cannot write %s: %s; check the directory exists and is "
               "writable",
               path, strerror(err));
  free(tmp);
  return SBX_EIO;
}

/* ---- JUnit ---- */

/* Seconds of the measurement, 0 when unknown. */
static double measure_seconds(const Sbx__V1__Result *res) {
  double s = res->metrics != NULL ? res->metrics->duration_s : 0.0;
  return isfinite(s) && s > 0 ? s : 0.0;
}

static void junit_property(FILE *x, const char *name, const char *value) {
  fprintf(x, "      <property name=\"%s\" value=\"", name);
  xml_put(x, value, true);
  fputs("\"/>\n", x);
}

/* Opens a <testcase>; the caller closes it with "/>\n" or a body and
 * "</testcase>". */
static void junit_case_open(FILE *x, const char *classname, const char *name,
                            unsigned dup, double secs) {
  fputs("    <testcase classname=\"", x);
  xml_put(x, classname, true);
  fputs("\" name=\"", x);
  xml_put(x, name, true);
  if (dup > 0)
    fprintf(x, " (%u)", dup + 1);
  fprintf(x, "\" time=\"%.3f\"", secs);
}

/* How many criteria before index i share its name (and a reserved name
 * counts as taken), so that every test case name is unique. */
static unsigned crit_dup(const Sbx__V1__Result *res, size_t i) {
  char a[160], b[160];
  const char *name = crit_name(a, sizeof(a), res->criteria[i]);
  unsigned dup = strcmp(name, "validity") == 0 || strcmp(name, "run") == 0;
  size_t j;

  for (j = 0; j < i; j++)
    if (strcmp(crit_name(b, sizeof(b), res->criteria[j]), name) == 0)
      dup++;
  return dup;
}

static void junit_criterion(FILE *x, const char *cls,
                            const Sbx__V1__Result *res, size_t i) {
  const Sbx__V1__CriterionOutcome *o = res->criteria[i];
  char name[160], measured[96], bound[96], msg[256];

  junit_case_open(x, cls, crit_name(name, sizeof(name), o), crit_dup(res, i),
                  measure_seconds(res));
  if (o != NULL && o->passed) {
    fputs("/>\n", x);
    return;
  }
  if (o == NULL || o->criterion == NULL) {
    snprintf(msg, sizeof(msg), "criterion missing from the result");
  } else if (!o->measurable) {
    snprintf(msg, sizeof(msg), "no data for %s, bound %s",
             nonempty(o->criterion->metric, "(no metric)"),
             fmt_bound(bound, sizeof(bound), o->criterion));
  } else {
    snprintf(msg, sizeof(msg), "%s, bound %s",
             fmt_measured(measured, sizeof(measured), o),
             fmt_bound(bound, sizeof(bound), o->criterion));
  }
  fputs(">\n      <failure message=\"", x);
  xml_put(x, msg, true);
  fputs("\" type=\"criterion\">", x);
  if (o != NULL && o->criterion != NULL && o->measurable) {
    xml_put(x, nonempty(o->criterion->metric, "(no metric)"), false);
    fputs(": ", x);
  }
  xml_put(x, msg, false);
  if (o != NULL && o->criterion != NULL && o->measurable)
    fprintf(x, " (raw: measured %.15g, bound %.15g)", o->measured,
            o->criterion->bound);
  fputs("</failure>\n    </testcase>\n", x);
}

static void junit_validity(FILE *x, const char *cls,
                           const Sbx__V1__Result *res) {
  const Sbx__V1__ValidityOutcome *v = res->validity;
  size_t i;

  junit_case_open(x, cls, "validity", 0, measure_seconds(res));
  if (v != NULL && v->valid) {
    fputs("/>\n", x);
    return;
  }
  if (v == NULL) {
    fputs(">\n      <skipped message=\"no validity outcome: the run did not "
          "complete\"/>\n    </testcase>\n",
          x);
    return;
  }
  fputs(">\n      <failure message=\"run is invalid", x);
  if (v->n_reasons == 0)
    fputs(" (no reason recorded)", x);
  for (i = 0; i < v->n_reasons; i++) {
    fputs(i == 0 ? ": " : "; ", x);
    xml_put(x, v->reasons[i], true);
  }
  fputs("\" type=\"validity\">", x);
  for (i = 0; i < v->n_reasons; i++) {
    fputs("- ", x);
    xml_put(x, v->reasons[i], false);
    if (i + 1 < v->n_reasons)
      fputc('\n', x);
  }
  fputs("</failure>\n    </testcase>\n", x);
}

static void junit_error(FILE *x, const char *cls, const Sbx__V1__Result *res) {
  const char *msg =
      nonempty(res->error_message,
               "the harness could not run the scenario (no message recorded)");

  junit_case_open(x, cls, "run", 0, measure_seconds(res));
  fputs(">\n      <error message=\"", x);
  xml_put(x, msg, true);
  fputs("\" type=\"error\">", x);
  xml_put(x, msg, false);
  fputs("</error>\n    </testcase>\n", x);
}

/* Writes the whole document to x. */
static int junit_write(FILE *x, const Sbx__V1__Result *res) {
  const bool error = res->verdict == SBX__V1__VERDICT__VERDICT_ERROR;
  size_t tests = res->n_criteria + 1 + (error ? 1 : 0), failures = 0, i;
  unsigned errors = error ? 1 : 0, skipped = res->validity == NULL;
  char *cls = NULL, *hex = NULL, ts[40] = "", runid[24];
  double secs = measure_seconds(res);
  const char *scen = nonempty(res->scenario, "unnamed");
  size_t clen = strlen(scen) + 5;

  cls = malloc(clen);
  hex = hex_dup(&res->scenario_digest);
  if (cls == NULL || hex == NULL) {
    free(cls);
    free(hex);
    return SBX_ENOMEM;
  }
  snprintf(cls, clen, "sbx.%s", scen);
  for (i = 0; i < res->n_criteria; i++)
    if (res->criteria[i] == NULL || !res->criteria[i]->passed)
      failures++;
  if (res->validity != NULL && !res->validity->valid)
    failures++;
  if (res->ended_unix_ms > res->started_unix_ms && res->started_unix_ms > 0)
    secs = (double)(res->ended_unix_ms - res->started_unix_ms) / 1000.0;
  if (res->started_unix_ms > 0) {
    time_t t = (time_t)(res->started_unix_ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) != NULL)
      strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
  }
  snprintf(runid, sizeof(runid), "%" PRIu64, res->run_id);

  fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", x);
  fprintf(x,
          "<testsuites name=\"sbx\" tests=\"%zu\" failures=\"%zu\" "
          "errors=\"%u\" skipped=\"%u\" time=\"%.3f\">\n",
          tests, failures, errors, skipped, secs);
  fputs("  <testsuite name=\"", x);
  xml_put(x, cls, true);
  fprintf(x,
          "\" tests=\"%zu\" failures=\"%zu\" errors=\"%u\" skipped=\"%u\" "
          "time=\"%.3f\"",
          tests, failures, errors, skipped, secs);
  if (ts[0] != '\0')
    fprintf(x, " timestamp=\"%s\"", ts);
  fputs(">\n    <properties>\n", x);
  junit_property(x, "scenario", res->scenario);
  junit_property(x, "scenario_version", res->scenario_version);
  junit_property(x, "scenario_digest", hex);
  junit_property(x, "product", res->product);
  junit_property(x, "client", res->client);
  junit_property(x, "verdict", verdict_name(res->verdict));
  junit_property(x, "run_id", runid);
  if (res->harness_version != NULL && res->harness_version[0] != '\0')
    junit_property(x, "harness_version", res->harness_version);
  fputs("    </properties>\n", x);
  if (error)
    junit_error(x, cls, res);
  for (i = 0; i < res->n_criteria; i++)
    junit_criterion(x, cls, res, i);
  junit_validity(x, cls, res);
  fputs("  </testsuite>\n</testsuites>\n", x);
  free(cls);
  free(hex);
  return 0;
}

int sbx_report_junit(const char *path, const Sbx__V1__Result *res,
                     struct sbx_diag *diag) {
  char *buf = NULL;
  size_t len = 0;
  FILE *x = open_memstream(&buf, &len);
  int rc;

  if (x == NULL)
    return SBX_ENOMEM;
  rc = junit_write(x, res);
  if (ferror(x) && rc == 0)
    rc = SBX_ENOMEM; /* a memstream fails only for want of memory */
  if (fclose(x) != 0 && rc == 0)
    rc = SBX_ENOMEM;
  if (rc == 0)
    rc = write_atomic(path, buf, len, diag);
  free(buf);
  return rc;
}

/* ---- JSON summary ---- */

int sbx_report_json(const char *path, const Sbx__V1__Result *res,
                    struct sbx_diag *diag) {
  static const char *const hists[] = {"latencyHist", "scheduleLagHist"};
  const size_t dflags = JSON_INDENT(2) | JSON_PRESERVE_ORDER;
  json_t *root = sbx_pbjson_encode(&res->base, SBX_PBJSON_EMIT_DEFAULTS);
  json_t *metrics;
  char *buf = NULL;
  size_t len, i;
  int rc = SBX_ENOMEM;

  if (root == NULL)
    goto out;
  metrics = json_object_get(root, "metrics");
  for (i = 0; json_is_object(metrics) && i < 2; i++) {
    json_t *h = json_object_get(metrics, hists[i]);
    if (json_is_object(h))
      json_object_del(h, "counts");
  }
  len = json_dumpb(root, NULL, 0, dflags);
  if (len == 0 || len == SIZE_MAX)
    goto out;
  buf = malloc(len + 1);
  if (buf == NULL || json_dumpb(root, buf, len, dflags) != len)
    goto out;
  buf[len++] = '\n';
  rc = write_atomic(path, buf, len, diag);
out:
  free(buf);
  json_decref(root);
  return rc;
}
