/* metrics.c - Prometheus registry and text exposition (0.0.4).
 *
 * Families live in an array sorted by name and each family's series in an
 * array sorted by their canonical label text, so that rendering is one walk
 * with no sorting, and a lookup is a binary search. The canonical label
 * text (a="x",b="y", names sorted, values escaped) is built once per
 * update in a stack buffer and doubles as the series key and as the exact
 * bytes written between the braces: the renderer never re-escapes.
 */
#include "metrics.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "err.h"

enum mtype { T_COUNTER, T_GAUGE, T_HISTOGRAM };

static const char *const type_names[] = {"counter", "gauge", "histogram"};

struct series {
  char *key; /* canonical label text, "" for none */
  double value;
  /* histogram only: per-bucket (not cumulative) counts, nbounds + 1 */
  uint64_t *buckets;
  double sum;
  uint64_t count;
};

struct family {
  char *name;
  char *help; /* already escaped for the HELP line */
  enum mtype type;
  double *bounds;
  size_t nbounds;
  struct series **series;
  size_t n, cap;
};

struct sbx_metrics {
  struct family **fams;
  size_t n, cap;
  size_t total_series;
  /* The boot time from /proc/stat, read once: it never changes. */
  unsigned long long btime;
  int have_btime;
};

static const double default_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                        0.5,   1,    2.5,   5,    10};

/* ---- growable text buffer ------------------------------------------------ */

struct buf {
  char *p;
  size_t len, cap;
  int heap; /* p was malloc'd by us (else caller's stack storage) */
  int oom;
};

static void buf_init(struct buf *b, char *stack, size_t cap) {
  b->p = stack;
  b->len = 0;
  b->cap = cap;
  b->heap = 0;
  b->oom = 0;
  if (cap > 0)
    stack[0] = '\0';
}

static int buf_reserve(struct buf *b, size_t more) {
  size_t cap;
  char *np;
  if (b->oom)
    return -1;
  if (more < b->cap - b->len)
    return 0;
  if (more > SIZE_MAX / 2 - b->len) {
    b->oom = 1;
    return -1;
  }
  cap = b->cap ? b->cap : 256;
  while (cap - b->len <= more)
    cap *= 2;
  if (b->heap) {
    np = realloc(b->p, cap);
  } else {
    np = malloc(cap);
    if (np != NULL && b->len > 0)
      memcpy(np, b->p, b->len);
  }
  if (np == NULL) {
    b->oom = 1;
    return -1;
  }
  b->p = np;
  b->cap = cap;
  b->heap = 1;
  return 0;
}

static void buf_add(struct buf *b, const char *s, size_t n) {
  if (buf_reserve(b, n) != 0)
    return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s) {
  buf_add(b, s, strlen(s));
}

static void buf_free(struct buf *b) {
  if (b->heap)
    free(b->p);
  b->p = NULL;
  b->heap = 0;
}

/* Appends s with \ and newline escaped, and " too when quote is set (label
 * values escape all three, HELP text only the first two). */
static void buf_escaped(struct buf *b, const char *s, int quote) {
  const char *run = s;
  for (; *s != '\0'; s++) {
    const char *esc = NULL;
    if (*s == '\\')
      esc = "\\\\";
    else if (*s == '\n')
      esc = "\\n";
    else if (*s == '"' && quote)
      esc = "\\\"";
    if (esc == NULL)
      continue;
    buf_add(b, run, (size_t)(s - run));
    buf_add(b, esc, 2);
    run = s + 1;
  }
  buf_add(b, run, (size_t)(s - run));
}

/* Prometheus float text: integers without exponent or fraction, others in
 * the shortest %g form that reads back to the same double, and the three
 * specials as the format spells them. */
static void format_double(double v, char *out, size_t cap) {
  int prec;
  if (isnan(v)) {
    snprintf(out, cap, "NaN");
    return;
  }
  if (isinf(v)) {
    snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
    return;
  }
  /* Every integer of magnitude below 2^63 prints exactly with %.0f; larger
   * ones would spell out dozens of digits, so they take the %g path. */
  if (v == floor(v) && fabs(v) < 9.2e18) {
    snprintf(out, cap, "%.0f", v == 0 ? 0.0 : v); /* no "-0" */
    return;
  }
  for (prec = 15; prec < 17; prec++) {
    snprintf(out, cap, "%.*g", prec, v);
    if (strtod(out, NULL) == v)
      return;
  }
  snprintf(out, cap, "%.17g", v);
}

static void buf_double(struct buf *b, double v) {
  char tmp[40];
  format_double(v, tmp, sizeof(tmp));
  buf_str(b, tmp);
}

static void buf_u64(struct buf *b, uint64_t v) {
  char tmp[24];
  snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
  buf_str(b, tmp);
}

/* ---- names and lookups --------------------------------------------------- */

static int is_metric_name(const char *s) {
  const char *p;
  if (s == NULL || *s == '\0')
    return 0;
  for (p = s; *p != '\0'; p++) {
    char c = *p;
    int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                c == ':';
    if (!alpha && !(p != s && c >= '0' && c <= '9'))
      return 0;
  }
  return 1;
}

static int is_label_name(const char *s) {
  const char *p;
  if (s == NULL || *s == '\0' || strncmp(s, "__", 2) == 0 ||
      strcmp(s, "le") == 0)
    return 0;
  for (p = s; *p != '\0'; p++) {
    char c = *p;
    int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(p != s && c >= '0' && c <= '9'))
      return 0;
  }
  return 1;
}

/* Binary search: returns the index of name, or -(insertion point) - 1. */
static long find_family(const struct sbx_metrics *m, const char *name) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(m->fams[mid]->name, name);
    if (c == 0)
      return (long)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -(long)lo - 1;
}

static struct family *family_get(const struct sbx_metrics *m,
                                 const char *name) {
  long i = find_family(m, name);
  return i >= 0 ? m->fams[i] : NULL;
}

static long find_series(const struct family *f, const char *key) {
  size_t lo = 0, hi = f->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(f->series[mid]->key, key);
    if (c == 0)
      return (long)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -(long)lo - 1;
}

static const char *const hist_suffixes[] = {"_bucket", "_sum", "_count"};

/* Whether name is one of the series names a histogram family renders, or a
 * histogram named name would render a series that another family owns. */
static int collides(const struct sbx_metrics *m, const char *name, int hist) {
  size_t nl = strlen(name), i;
  for (i = 0; i < sizeof(hist_suffixes) / sizeof(hist_suffixes[0]); i++) {
    size_t sl = strlen(hist_suffixes[i]);
    if (nl > sl && strcmp(name + nl - sl, hist_suffixes[i]) == 0) {
      char base[256];
      const struct family *f;
      if (nl - sl >= sizeof(base))
        continue;
      memcpy(base, name, nl - sl);
      base[nl - sl] = '\0';
      f = family_get(m, base);
      if (f != NULL && f->type == T_HISTOGRAM)
        return 1;
    }
    if (hist) {
      char full[256];
      if (nl + sl >= sizeof(full))
        continue;
      memcpy(full, name, nl);
      memcpy(full + nl, hist_suffixes[i], sl + 1);
      if (family_get(m, full) != NULL)
        return 1;
    }
  }
  return 0;
}

/* ---- registry ------------------------------------------------------------ */

int sbx_metrics_new(struct sbx_metrics **out) {
  if (out == NULL)
    return SBX_EINVAL;
  *out = calloc(1, sizeof(**out));
  return *out != NULL ? 0 : SBX_ENOMEM;
}

static void series_free(struct series *s) {
  if (s == NULL)
    return;
  free(s->key);
  free(s->buckets);
  free(s);
}

static void family_free(struct family *f) {
  size_t i;
  if (f == NULL)
    return;
  for (i = 0; i < f->n; i++)
    series_free(f->series[i]);
  free(f->series);
  free(f->bounds);
  free(f->help);
  free(f->name);
  free(f);
}

void sbx_metrics_free(struct sbx_metrics *m) {
  size_t i;
  if (m == NULL)
    return;
  for (i = 0; i < m->n; i++)
    family_free(m->fams[i]);
  free(m->fams);
  free(m);
}

static int declare(struct sbx_metrics *m, const char *name, enum mtype type,
                   const char *help, const double *bounds, size_t nbounds) {
  struct family *f = NULL;
  struct buf hb;
  long at;
  size_t i;
  int rc = SBX_EINVAL;

  if (m == NULL || !is_metric_name(name) || strncmp(name, "process_", 8) == 0)
    return SBX_EINVAL;
  if (strlen(name) > 200)
    return SBX_EINVAL;
  if (type == T_HISTOGRAM) {
    if (bounds == NULL || nbounds == 0 || nbounds > SBX_METRICS_MAX_BUCKETS)
      return SBX_EINVAL;
    for (i = 0; i < nbounds; i++)
      if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
        return SBX_EINVAL;
  }
  at = find_family(m, name);
  if (at >= 0) {
    const struct family *old = m->fams[at];
    if (old->type != type)
      return SBX_EEXIST;
    if (type == T_HISTOGRAM &&
        (old->nbounds != nbounds ||
         memcmp(old->bounds, bounds, nbounds * sizeof(*bounds)) != 0))
      return SBX_EEXIST;
    return 0;
  }
  if (collides(m, name, type == T_HISTOGRAM))
    return SBX_EEXIST;

  rc = SBX_ENOMEM;
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    struct family **nf = realloc(m->fams, cap * sizeof(*nf));
    if (nf == NULL)
      goto out;
    m->fams = nf;
    m->cap = cap;
  }
  f = calloc(1, sizeof(*f));
  if (f == NULL)
    goto out;
  f->type = type;
  f->name = strdup(name);
  /* With no initial storage the buffer is always heap-allocated (also for
   * an empty help), so it can be kept as is. */
  buf_init(&hb, NULL, 0);
  buf_escaped(&hb, help != NULL ? help : "", 0);
  if (hb.oom) {
    buf_free(&hb);
    goto out;
  }
  f->help = hb.p;
  if (f->name == NULL)
    goto out;
  if (type == T_HISTOGRAM) {
    f->bounds = malloc(nbounds * sizeof(*bounds));
    if (f->bounds == NULL)
      goto out;
    memcpy(f->bounds, bounds, nbounds * sizeof(*bounds));
    f->nbounds = nbounds;
  }
  at = -at - 1;
  memmove(m->fams + at + 1, m->fams + at,
          (m->n - (size_t)at) * sizeof(*m->fams));
  m->fams[at] = f;
  m->n++;
  f = NULL;
  rc = 0;
out:
  family_free(f);
  return rc;
}

int sbx_metrics_declare(struct sbx_metrics *m, const char *name,
                        const char *type, const char *help) {
  if (type == NULL)
    return SBX_EINVAL;
  if (strcmp(type, "counter") == 0)
    return declare(m, name, T_COUNTER, help, NULL, 0);
  if (strcmp(type, "gauge") == 0)
    return declare(m, name, T_GAUGE, help, NULL, 0);
  if (strcmp(type, "histogram") == 0)
    return declare(m, name, T_HISTOGRAM, help, default_bounds,
                   sizeof(default_bounds) / sizeof(default_bounds[0]));
  return SBX_EINVAL;
}

int sbx_metrics_declare_histogram(struct sbx_metrics *m, const char *name,
                                  const char *help, const double *bounds,
                                  size_t n) {
  return declare(m, name, T_HISTOGRAM, help, bounds, n);
}

/* ---- updates ------------------------------------------------------------- */

struct label {
  const char *name, *value;
};

/* Builds the canonical label text from the NULL-terminated variadic pairs
 * into key. Returns 0, SBX_EINVAL, SBX_ERANGE or SBX_ENOMEM. */
static int build_key(va_list ap, struct buf *key) {
  struct label l[SBX_METRICS_MAX_LABELS];
  size_t n = 0, i;
  const char *name;

  while ((name = va_arg(ap, const char *)) != NULL) {
    const char *value = va_arg(ap, const char *);
    if (value == NULL || !is_label_name(name))
      return SBX_EINVAL;
    if (n == SBX_METRICS_MAX_LABELS)
      return SBX_ERANGE;
    /* Insertion sort by name: a handful of labels at most. */
    for (i = n; i > 0; i--) {
      int c = strcmp(l[i - 1].name, name);
      if (c == 0)
        return SBX_EINVAL; /* everything below i is smaller still */
      if (c < 0)
        break;
      l[i] = l[i - 1];
    }
    l[i].name = name;
    l[i].value = value;
    n++;
  }
  for (i = 0; i < n; i++) {
    if (i > 0)
      buf_add(key, ",", 1);
    buf_str(key, l[i].name);
    buf_add(key, "=\"", 2);
    buf_escaped(key, l[i].value, 1);
    buf_add(key, "\"", 1);
  }
  return key->oom ? SBX_ENOMEM : 0;
}

/* Finds or creates the series of f with the given key. */
static int series_get(struct sbx_metrics *m, struct family *f,
                      const struct buf *key, struct series **out) {
  struct series *s = NULL;
  long at = find_series(f, key->p);
  int rc = SBX_ENOMEM;

  if (at >= 0) {
    *out = f->series[at];
    return 0;
  }
  if (m->total_series >= SBX_METRICS_MAX_SERIES)
    return SBX_ERANGE;
  if (f->n == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 8;
    struct series **ns = realloc(f->series, cap * sizeof(*ns));
    if (ns == NULL)
      goto out;
    f->series = ns;
    f->cap = cap;
  }
  s = calloc(1, sizeof(*s));
  if (s == NULL)
    goto out;
  s->key = malloc(key->len + 1);
  if (s->key == NULL)
    goto out;
  memcpy(s->key, key->p, key->len + 1);
  if (f->type == T_HISTOGRAM) {
    s->buckets = calloc(f->nbounds + 1, sizeof(*s->buckets));
    if (s->buckets == NULL)
      goto out;
  }
  at = -at - 1;
  memmove(f->series + at + 1, f->series + at,
          (f->n - (size_t)at) * sizeof(*f->series));
  f->series[at] = s;
  f->n++;
  m->total_series++;
  *out = s;
  s = NULL;
  rc = 0;
out:
  series_free(s);
  return rc;
}

enum op { OP_ADD, OP_SET, OP_OBSERVE };

static int update(struct sbx_metrics *m, const char *name, double v, enum op op,
                  va_list ap) {
  char stack[512];
  struct buf key;
  struct family *f;
  struct series *s = NULL;
  int rc;

  if (m == NULL || name == NULL)
    return SBX_EINVAL;
  f = family_get(m, name);
  if (f == NULL || (f->type == T_HISTOGRAM) != (op == OP_OBSERVE))
    return SBX_EINVAL;
  if (op != OP_SET && isnan(v))
    return SBX_EINVAL;
  if (f->type == T_COUNTER && !(v >= 0))
    return SBX_EINVAL;

  buf_init(&key, stack, sizeof(stack));
  rc = build_key(ap, &key);
  if (rc == 0)
    rc = series_get(m, f, &key, &s);
  buf_free(&key);
  if (rc != 0)
    return rc;

  switch (op) {
  case OP_ADD:
    s->value += v;
    break;
  case OP_SET:
    s->value = v;
    break;
  case OP_OBSERVE: {
    /* Buckets are "less than or equal": the first bound >= v. */
    size_t lo = 0, hi = f->nbounds;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (f->bounds[mid] < v)
        lo = mid + 1;
      else
        hi = mid;
    }
    s->buckets[lo]++;
    s->sum += v;
    s->count++;
    break;
  }
  }
  return 0;
}

int sbx_metrics_add(struct sbx_metrics *m, const char *name, double v, ...) {
  va_list ap;
  int rc;
  va_start(ap, v);
  rc = update(m, name, v, OP_ADD, ap);
  va_end(ap);
  return rc;
}

int sbx_metrics_set(struct sbx_metrics *m, const char *name, double v, ...) {
  va_list ap;
  int rc;
  va_start(ap, v);
  rc = update(m, name, v, OP_SET, ap);
  va_end(ap);
  return rc;
}

int sbx_metrics_observe(struct sbx_metrics *m, const char *name, double v,
                        ...) {
  va_list ap;
  int rc;
  va_start(ap, v);
  rc = update(m, name, v, OP_OBSERVE, ap);
  va_end(ap);
  return rc;
}

/* ---- rendering ----------------------------------------------------------- */

static void render_head(struct buf *b, const char *name, const char *help,
                        const char *type) {
  buf_str(b, "# HELP ");
  buf_str(b, name);
  if (*help != '\0') {
    buf_add(b, " ", 1);
    buf_str(b, help);
  }
  buf_str(b, "\n# TYPE ");
  buf_str(b, name);
  buf_add(b, " ", 1);
  buf_str(b, type);
  buf_add(b, "\n", 1);
}

/* name[suffix]{key[,extra]} */
static void render_series_name(struct buf *b, const char *name,
                               const char *suffix, const char *key,
                               const char *extra) {
  buf_str(b, name);
  buf_str(b, suffix);
  if (*key == '\0' && extra == NULL)
    return;
  buf_add(b, "{", 1);
  buf_str(b, key);
  if (extra != NULL) {
    if (*key != '\0')
      buf_add(b, ",", 1);
    buf_str(b, extra);
  }
  buf_add(b, "}", 1);
}

static void render_histogram(struct buf *b, const struct family *f,
                             const struct series *s) {
  char le[64], num[40];
  uint64_t cum = 0;
  size_t i;
  for (i = 0; i <= f->nbounds; i++) {
    cum += s->buckets[i];
    if (i < f->nbounds)
      format_double(f->bounds[i], num, sizeof(num));
    else
      snprintf(num, sizeof(num), "+Inf");
    snprintf(le, sizeof(le), "le=\"%s\"", num);
    render_series_name(b, f->name, "_bucket", s->key, le);
    buf_add(b, " ", 1);
    buf_u64(b, cum);
    buf_add(b, "\n", 1);
  }
  render_series_name(b, f->name, "_sum", s->key, NULL);
  buf_add(b, " ", 1);
  buf_double(b, s->sum);
  buf_add(b, "\n", 1);
  render_series_name(b, f->name, "_count", s->key, NULL);
  buf_add(b, " ", 1);
  buf_u64(b, s->count);
  buf_add(b, "\n", 1);
}

static void render_family(struct buf *b, const struct family *f) {
  size_t i;
  render_head(b, f->name, f->help, type_names[f->type]);
  for (i = 0; i < f->n; i++) {
    const struct series *s = f->series[i];
    if (f->type == T_HISTOGRAM) {
      render_histogram(b, f, s);
      continue;
    }
    render_series_name(b, f->name, "", s->key, NULL);
    buf_add(b, " ", 1);
    buf_double(b, s->value);
    buf_add(b, "\n", 1);
  }
}

static void render_process_one(struct buf *b, const char *name,
                               const char *type, const char *help, double v) {
  render_head(b, name, help, type);
  buf_str(b, name);
  buf_add(b, " ", 1);
  buf_double(b, v);
  buf_add(b, "\n", 1);
}

/* Reads a small /proc file into buf (NUL-terminated). Returns its length,
 * or -1. */
static long read_small(const char *path, char *out, size_t cap) {
  FILE *f = fopen(path, "re");
  size_t n;
  if (f == NULL)
    return -1;
  n = fread(out, 1, cap - 1, f);
  fclose(f);
  out[n] = '\0';
  return (long)n;
}

static int count_open_fds(double *out) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int self;
  double n = 0;
  if (d == NULL)
    return -1;
  self = dirfd(d);
  while ((e = readdir(d)) != NULL) {
    char *end;
    long fd;
    if (e->d_name[0] == '.')
      continue;
    fd = strtol(e->d_name, &end, 10);
    /* The directory stream's own descriptor is not one of ours. */
    if (*end == '\0' && fd == self)
      continue;
    n++;
  }
  closedir(d);
  *out = n;
  return 0;
}

/* The "btime" line of /proc/stat. Its "intr" line can be many kilobytes
 * long, so the file is read in pieces, looking at line starts only. */
static int read_btime(unsigned long long *out) {
  FILE *f = fopen("/proc/stat", "re");
  char line[256];
  int at_start = 1, found = 0;
  if (f == NULL)
    return -1;
  while (!found && fgets(line, sizeof(line), f) != NULL) {
    if (at_start && strncmp(line, "btime ", 6) == 0 &&
        sscanf(line + 6, "%llu", out) == 1)
      found = 1;
    at_start = strchr(line, '\n') != NULL;
  }
  fclose(f);
  return found ? 0 : -1;
}

static void render_process(struct sbx_metrics *m, struct buf *b) {
  char stat[2048];
  long ticks = sysconf(_SC_CLK_TCK);
  long page = sysconf(_SC_PAGESIZE);
  struct rlimit rl;
  double fds;
  int have_stat = 0;
  unsigned long utime = 0, stime = 0, vsize = 0;
  unsigned long long starttime = 0;
  long rss = 0;

  if (read_small("/proc/self/stat", stat, sizeof(stat)) > 0) {
    /* comm (field 2) may hold spaces and parentheses: parse after the last
     * ')'. Then state is field 3; utime 14, stime 15, starttime 22, vsize
     * 23, rss 24. */
    const char *p = strrchr(stat, ')');
    if (p != NULL &&
        sscanf(p + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu"
               " %*d %*d %*d %*d %*d %*d %llu %lu %ld",
               &utime, &stime, &starttime, &vsize, &rss) == 5)
      have_stat = 1;
  }
  if (have_stat && ticks > 0)
    render_process_one(b, "process_cpu_seconds_total", "counter",
                       "Total user and system CPU time spent in seconds.",
                       (double)(utime + stime) / (double)ticks);
  if (count_open_fds(&fds) == 0)
    render_process_one(b, "process_open_fds", "gauge",
                       "Number of open file descriptors.", fds);
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    render_process_one(b, "process_max_fds", "gauge",
                       "Maximum number of open file descriptors.",
                       rl.rlim_cur == RLIM_INFINITY ? INFINITY
                                                    : (double)rl.rlim_cur);
  if (have_stat && page > 0)
    render_process_one(b, "process_resident_memory_bytes", "gauge",
                       "Resident memory size in bytes.",
                       (double)rss * (double)page);
  if (!m->have_btime && read_btime(&m->btime) == 0)
    m->have_btime = 1;
  if (have_stat && ticks > 0 && m->have_btime)
    render_process_one(b, "process_start_time_seconds", "gauge",
                       "Start time of the process since unix epoch in "
                       "seconds.",
                       (double)m->btime + (double)starttime / (double)ticks);
  if (have_stat)
    render_process_one(b, "process_virtual_memory_bytes", "gauge",
                       "Virtual memory size in bytes.", (double)vsize);
}

char *sbx_metrics_render(struct sbx_metrics *m, size_t *len) {
  struct buf b;
  size_t i;

  if (m == NULL)
    return NULL;
  buf_init(&b, NULL, 0);
  buf_reserve(&b, 4096);
  for (i = 0; i < m->n; i++)
    render_family(&b, m->fams[i]);
  render_process(m, &b);
  if (b.oom) {
    buf_free(&b);
    return NULL;
  }
  if (len != NULL)
    *len = b.len;
  return b.p;
}
