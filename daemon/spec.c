/* spec.c - YAML scenario spec to Sbx__V1__Scenario.
 *
 * Two passes. First libyaml's event parser feeds a small tree of our own
 * (scalars, sequences, mappings, each with its 1-based line and column),
 * rejecting what a spec never needs and what makes YAML dangerous or
 * ambiguous: aliases and anchors (no billion laughs), tags, duplicate keys,
 * several documents, deep nesting. Then the tree is walked field by field,
 * filling the protobuf message with defaults and base units. The tree
 * outlives the walk in sbx_spec_load so that cross-checks against the
 * dataset can still point at the YAML node they are about.
 */
#include "spec.h"

#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "units.h"

#define MAX_DEPTH 32
#define MAX_NODES 100000
#define PATH_LEN 256

#define MAX_PIPELINE_DEPTH 64 /* requests per connection in flight */
#define MAX_CONCURRENCY 10000
#define MAX_RATE 10000000.0
#define DEFAULT_MAX_IN_FLIGHT 1024
#define MAX_IN_FLIGHT 1000000
#define DEFAULT_MAX_BODY (16ULL << 20)
#define MAX_BODY (1ULL << 30)
#define MAX_LOAD_DURATION_US (30LL * 24 * 3600 * 1000000) /* 30 days */
#define MAX_HEADERS 64
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

enum ykind { Y_SCALAR, Y_SEQ, Y_MAP };

/* One YAML node. A mapping keeps keys and values interleaved in kids:
 * kids[2i] is a key (always a scalar), kids[2i+1] its value. */
struct ynode {
  enum ykind kind;
  unsigned long line, col; /* 1-based */
  char *str;               /* scalar text, NUL-terminated */
  size_t len;
  int plain; /* scalar was written without quotes */
  struct ynode **kids;
  size_t n, cap;
};

struct sctx {
  const char *file;
  struct sbx_diag *diag;
  const uint8_t *buf; /* the spec text, for reader-error positions */
  size_t len;
  size_t nodes;
};

/* ---- messages ---------------------------------------------------------- */

static int failv(struct sctx *c, unsigned long line, unsigned long col,
                 const char *path, const char *fmt, va_list ap) {
  char what[800];

  vsnprintf(what, sizeof(what), fmt, ap);
  /* The root mapping's own path is empty; call it "spec" in messages. */
  sbx_diag_set(c->diag, "%s:%lu:%lu: %s: %s", c->file, line, col,
               path[0] != '\0' ? path : "spec", what);
  return SBX_ESPEC;
}

/* Fills the diag with "FILE:LINE:COL: PATH: WHAT; FIX" at node n. */
static int fail(struct sctx *c, const struct ynode *n, const char *path,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(struct sctx *c, const struct ynode *n, const char *path,
                const char *fmt, ...) {
  va_list ap;
  int rc;

  va_start(ap, fmt);
  rc = failv(c, n->line, n->col, path, fmt, ap);
  va_end(ap);
  return rc;
}

static int fail_at(struct sctx *c, unsigned long line, unsigned long col,
                   const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail_at(struct sctx *c, unsigned long line, unsigned long col,
                   const char *path, const char *fmt, ...) {
  va_list ap;
  int rc;

  va_start(ap, fmt);
  rc = failv(c, line, col, path, fmt, ap);
  va_end(ap);
  return rc;
}

/* How a node reads in "got ...": a quoted scalar, "nothing", "a mapping". */
static const char *describe(const struct ynode *n, char *buf, size_t len) {
  if (n->kind == Y_MAP)
    return "a mapping";
  if (n->kind == Y_SEQ)
    return "a sequence";
  if (n->len == 0 && n->plain)
    return "nothing";
  sbx_format_quoted(n->str, n->len, buf, len);
  return buf;
}

/* The common "expected X, got Y; write e.g. Z" message. */
static int bad(struct sctx *c, const struct ynode *n, const char *path,
               const char *expected, const char *example) {
  char got[96];
  return fail(c, n, path, "expected %s, got %s; write e.g. %s", expected,
              describe(n, got, sizeof(got)), example);
}

/* Field paths only ever go into messages, so a long one is cut short. */
static void join(char *buf, size_t len, const char *parent, const char *key) {
  int n;

  if (parent == NULL || parent[0] == '\0')
    n = snprintf(buf, len, "%s", key);
  else
    n = snprintf(buf, len, "%s.%s", parent, key);
  if (n < 0 && len > 0)
    buf[0] = '\0';
}

/* ---- YAML to tree ------------------------------------------------------ */

static void ynode_free(struct ynode *n) {
  if (n == NULL)
    return;
  for (size_t i = 0; i < n->n; i++)
    ynode_free(n->kids[i]);
  free(n->kids);
  free(n->str);
  free(n);
}

static int ynode_push(struct ynode *parent, struct ynode *kid) {
  if (parent->n == parent->cap) {
    size_t cap = parent->cap == 0 ? 8 : parent->cap * 2;
    struct ynode **kids = realloc(parent->kids, cap * sizeof(*kids));
    if (kids == NULL)
      return SBX_ENOMEM;
    parent->kids = kids;
    parent->cap = cap;
  }
  parent->kids[parent->n++] = kid;
  return 0;
}

/* Line and column of a byte offset, for reader errors that carry no mark. */
static void offset_pos(const struct sctx *c, size_t off, unsigned long *line,
                       unsigned long *col) {
  unsigned long l = 1, k = 1;
  for (size_t i = 0; i < off && i < c->len; i++) {
    if (c->buf[i] == '\n') {
      l++;
      k = 1;
    } else if ((c->buf[i] & 0xc0) != 0x80) {
      k++;
    }
  }
  *line = l;
  *col = k;
}

static int syntax_error(struct sctx *c, yaml_parser_t *p) {
  unsigned long line, col;
  char ctx[160] = "";

  if (p->error == YAML_MEMORY_ERROR) {
    sbx_diag_set(c->diag, "%s: out of memory while parsing YAML", c->file);
    return SBX_ENOMEM;
  }
  if (p->error == YAML_READER_ERROR) {
    offset_pos(c, p->problem_offset, &line, &col);
    return fail_at(c, line, col, "yaml", "%s; save the file as UTF-8 text",
                   p->problem != NULL ? p->problem : "unreadable text");
  }
  line = p->problem_mark.line + 1;
  col = p->problem_mark.column + 1;
  if (p->problem_mark.index < c->len && c->buf[p->problem_mark.index] == '\t')
    return fail_at(c, line, col, "yaml",
                   "a tab character here; YAML indents with spaces only, "
                   "replace the tab with spaces");
  if (p->context != NULL)
    snprintf(ctx, sizeof(ctx), " %s that starts at line %lu column %lu",
             p->context, (unsigned long)p->context_mark.line + 1,
             (unsigned long)p->context_mark.column + 1);
  return fail_at(c, line, col, "yaml",
                 "%s%s; check the indentation, colons and quotes here",
                 p->problem != NULL ? p->problem : "syntax error", ctx);
}

static int next_event(struct sctx *c, yaml_parser_t *p, yaml_event_t *ev) {
  if (!yaml_parser_parse(p, ev))
    return syntax_error(c, p);
  return 0;
}

static int reject_anchor_tag(struct sctx *c, const yaml_event_t *ev,
                             const char *path, const yaml_char_t *anchor,
                             const yaml_char_t *tag) {
  unsigned long line = ev->start_mark.line + 1, col = ev->start_mark.column + 1;
  char q[96];

  if (anchor != NULL) {
    sbx_format_quoted((const char *)anchor, strlen((const char *)anchor), q,
                      sizeof(q));
    return fail_at(c, line, col, path,
                   "YAML anchors (&name) are not supported, found %s; write "
                   "the value out in full",
                   q);
  }
  if (tag != NULL) {
    sbx_format_quoted((const char *)tag, strlen((const char *)tag), q,
                      sizeof(q));
    return fail_at(c, line, col, path,
                   "YAML tags (%s) are not supported; remove the tag and "
                   "quote the value if it must stay text",
                   q);
  }
  return 0;
}

/* Builds the node that starts with event ev (owned by the caller). path
 * names it in messages. */
static int load_node(struct sctx *c, yaml_parser_t *p, const yaml_event_t *ev,
                     const char *path, int depth, struct ynode **out) {
  struct ynode *n = NULL;
  yaml_event_t kev, vev;
  int have_k = 0, have_v = 0, rc;
  unsigned long line = ev->start_mark.line + 1, col = ev->start_mark.column + 1;

  *out = NULL;
  if (ev->type == YAML_ALIAS_EVENT) {
    char q[96];
    const char *a = (const char *)ev->data.alias.anchor;
    sbx_format_quoted(a, strlen(a), q, sizeof(q));
    return fail_at(c, line, col, path,
                   "YAML aliases (*name) are not supported, found %s; "
                   "write the value out in full",
                   q);
  }
  if (depth > MAX_DEPTH)
    return fail_at(c, line, col, path,
                   "nested more than %d levels deep; flatten the value",
                   MAX_DEPTH);
  if (++c->nodes > MAX_NODES)
    return fail_at(c, line, col, path,
                   "more than %d YAML nodes; a spec is a short file, move "
                   "bulk data into the dataset",
                   MAX_NODES);

  rc = SBX_ENOMEM;
  n = calloc(1, sizeof(*n));
  if (n == NULL)
    goto out;
  n->line = line;
  n->col = col;

  switch (ev->type) {
  case YAML_SCALAR_EVENT:
    n->kind = Y_SCALAR;
    rc = reject_anchor_tag(c, ev, path, ev->data.scalar.anchor,
                           ev->data.scalar.tag);
    if (rc != 0)
      goto out;
    rc = SBX_ENOMEM;
    n->len = ev->data.scalar.length;
    n->str = malloc(n->len + 1);
    if (n->str == NULL)
      goto out;
    memcpy(n->str, ev->data.scalar.value, n->len);
    n->str[n->len] = '\0';
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (memchr(n->str, '\0', n->len) != NULL) {
      rc = fail(c, n, path,
                "text contains a NUL character; remove the \\0 escape");
      goto out;
    }
    break;

  case YAML_SEQUENCE_START_EVENT:
    n->kind = Y_SEQ;
    rc = reject_anchor_tag(c, ev, path, ev->data.sequence_start.anchor,
                           ev->data.sequence_start.tag);
    if (rc != 0)
      goto out;
    for (;;) {
      char kpath[PATH_LEN];
      struct ynode *kid;
      if ((rc = next_event(c, p, &vev)) != 0)
        goto out;
      have_v = 1;
      if (vev.type == YAML_SEQUENCE_END_EVENT)
        break;
      snprintf(kpath, sizeof(kpath), "%s[%zu]", path[0] != '\0' ? path : "spec",
               n->n);
      if ((rc = load_node(c, p, &vev, kpath, depth + 1, &kid)) != 0)
        goto out;
      if ((rc = ynode_push(n, kid)) != 0) {
        ynode_free(kid);
        goto out;
      }
      yaml_event_delete(&vev);
      have_v = 0;
    }
    break;

  case YAML_MAPPING_START_EVENT:
    n->kind = Y_MAP;
    rc = reject_anchor_tag(c, ev, path, ev->data.mapping_start.anchor,
                           ev->data.mapping_start.tag);
    if (rc != 0)
      goto out;
    for (;;) {
      char kpath[PATH_LEN];
      struct ynode *key = NULL, *val = NULL;
      if ((rc = next_event(c, p, &kev)) != 0)
        goto out;
      have_k = 1;
      if (kev.type == YAML_MAPPING_END_EVENT)
        break;
      if (kev.type != YAML_SCALAR_EVENT && kev.type != YAML_ALIAS_EVENT) {
        rc = fail_at(
            c, kev.start_mark.line + 1, kev.start_mark.column + 1, path,
            "a key must be plain text, not a %s; write key: value",
            kev.type == YAML_MAPPING_START_EVENT ? "mapping" : "sequence");
        goto out;
      }
      if ((rc = load_node(c, p, &kev, path, depth + 1, &key)) != 0)
        goto out;
      if ((rc = ynode_push(n, key)) != 0) {
        ynode_free(key);
        goto out;
      }
      join(kpath, sizeof(kpath), path, key->str);
      for (size_t i = 0; i + 1 < n->n; i += 2) {
        if (strcmp(n->kids[i]->str, key->str) == 0) {
          rc = fail(c, key, kpath,
                    "duplicate key, first set on line %lu; keep only one",
                    n->kids[i]->line);
          goto out;
        }
      }
      yaml_event_delete(&kev);
      have_k = 0;
      if ((rc = next_event(c, p, &vev)) != 0)
        goto out;
      have_v = 1;
      if ((rc = load_node(c, p, &vev, kpath, depth + 1, &val)) != 0)
        goto out;
      if ((rc = ynode_push(n, val)) != 0) {
        ynode_free(val);
        goto out;
      }
      yaml_event_delete(&vev);
      have_v = 0;
    }
    break;

  default:
    rc = fail(c, n, path, "unexpected YAML event; check the file's syntax");
    goto out;
  }
  *out = n;
  n = NULL;
  rc = 0;
out:
  if (have_k)
    yaml_event_delete(&kev);
  if (have_v)
    yaml_event_delete(&vev);
  ynode_free(n);
  return rc;
}

/* Parses the whole text into one tree; the root must be a mapping. */
static int load_tree(struct sctx *c, struct ynode **root) {
  yaml_parser_t p;
  yaml_event_t ev;
  int have_ev = 0, rc;
  struct ynode *n = NULL;

  *root = NULL;
  if (!yaml_parser_initialize(&p)) {
    sbx_diag_set(c->diag, "%s: out of memory while parsing YAML", c->file);
    return SBX_ENOMEM;
  }
  yaml_parser_set_input_string(&p, c->buf, c->len);

  /* STREAM-START, then DOCUMENT-START or an empty stream. */
  if ((rc = next_event(c, &p, &ev)) != 0)
    goto out;
  yaml_event_delete(&ev);
  if ((rc = next_event(c, &p, &ev)) != 0)
    goto out;
  have_ev = 1;
  if (ev.type == YAML_STREAM_END_EVENT) {
    rc = fail_at(c, 1, 1, "spec",
                 "file is empty; start with e.g. name: my-scenario");
    goto out;
  }
  yaml_event_delete(&ev);
  have_ev = 0;
  if ((rc = next_event(c, &p, &ev)) != 0)
    goto out;
  have_ev = 1;
  if ((rc = load_node(c, &p, &ev, "", 0, &n)) != 0)
    goto out;
  yaml_event_delete(&ev);
  have_ev = 0;
  /* DOCUMENT-END, then nothing but STREAM-END. */
  if ((rc = next_event(c, &p, &ev)) != 0)
    goto out;
  yaml_event_delete(&ev);
  if ((rc = next_event(c, &p, &ev)) != 0)
    goto out;
  have_ev = 1;
  if (ev.type != YAML_STREAM_END_EVENT) {
    rc = fail_at(c, ev.start_mark.line + 1, ev.start_mark.column + 1, "spec",
                 "a second YAML document starts here; a spec is one "
                 "document, remove the extra \"---\" and what follows");
    goto out;
  }
  if (n->kind != Y_MAP) {
    char got[96];
    rc = fail(c, n, "spec",
              "expected a mapping of keys at the top level, got %s; start "
              "with e.g. name: my-scenario",
              describe(n, got, sizeof(got)));
    goto out;
  }
  *root = n;
  n = NULL;
  rc = 0;
out:
  if (have_ev)
    yaml_event_delete(&ev);
  ynode_free(n);
  yaml_parser_delete(&p);
  return rc;
}

/* ---- tree walking helpers ---------------------------------------------- */

/* Checks that n is a mapping whose keys are all among keys[0..nk), and
 * fills vals[i] with the value of keys[i] or NULL. */
static int map_fields(struct sctx *c, const struct ynode *n, const char *path,
                      const char *const *keys, size_t nk,
                      const struct ynode **vals, const char *example) {
  char got[96], kpath[PATH_LEN], list[512];

  if (n->kind != Y_MAP)
    return fail(c, n, path,
                "expected a mapping, got %s; write its keys indented "
                "below it, e.g. %s",
                describe(n, got, sizeof(got)), example);
  for (size_t k = 0; k < nk; k++)
    vals[k] = NULL;
  for (size_t i = 0; i + 1 < n->n; i += 2) {
    const struct ynode *key = n->kids[i];
    size_t k;
    for (k = 0; k < nk; k++)
      if (strcmp(key->str, keys[k]) == 0)
        break;
    if (k < nk) {
      vals[k] = n->kids[i + 1];
      continue;
    }
    join(kpath, sizeof(kpath), path, key->str);
    {
      const char *near = sbx_suggest(key->str, keys, nk);
      size_t o = 0;
      if (near != NULL)
        return fail(c, key, kpath, "unknown key; did you mean \"%s\"?", near);
      list[0] = '\0';
      for (size_t j = 0; j < nk && o < sizeof(list); j++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
                              j == 0 ? "" : ", ", keys[j]);
      return fail(c, key, kpath, "unknown key; valid keys here are %s", list);
    }
  }
  return 0;
}

static int is_scalar(const struct ynode *n) {
  return n->kind == Y_SCALAR && !(n->plain && n->len == 0);
}

/* A text value: a non-empty scalar without control characters (newlines
 * and tabs allowed when multiline) of at most max bytes. */
static int get_text(struct sctx *c, const struct ynode *n, const char *path,
                    size_t max, int multiline, const char *example,
                    const char **out) {
  char what[96];

  if (!is_scalar(n) || n->len == 0)
    return bad(c, n, path, "text", example);
  if (n->len > max) {
    snprintf(what, sizeof(what), "at most %zu bytes", max);
    return fail(c, n, path, "too long (%zu bytes); keep it to %s", n->len,
                what);
  }
  for (size_t i = 0; i < n->len; i++) {
    unsigned char ch = (unsigned char)n->str[i];
    if ((ch < 0x20 || ch == 0x7f) && !(multiline && (ch == '\n' || ch == '\t')))
      return fail(c, n, path,
                  "contains a control character (byte 0x%02x); remove it", ch);
  }
  *out = n->str;
  return 0;
}

static int get_bool(struct sctx *c, const struct ynode *n, const char *path,
                    const char *example, protobuf_c_boolean *out) {
  static const char *const yes[] = {"true", "True", "TRUE"};
  static const char *const no[] = {"false", "False", "FALSE"};

  if (n->kind == Y_SCALAR) {
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
      if (strcmp(n->str, yes[i]) == 0) {
        *out = 1;
        return 0;
      }
      if (strcmp(n->str, no[i]) == 0) {
        *out = 0;
        return 0;
      }
    }
  }
  return bad(c, n, path, "true or false", example);
}

/* One of words[0..nw); returns its index in *idx. */
static int get_enum(struct sctx *c, const struct ynode *n, const char *path,
                    const char *const *words, size_t nw, const char *key,
                    int *idx) {
  char list[256], ex[128], got[96];
  size_t o = 0;

  if (n->kind == Y_SCALAR)
    for (size_t i = 0; i < nw; i++)
      if (strcmp(n->str, words[i]) == 0) {
        *idx = (int)i;
        return 0;
      }
  list[0] = '\0';
  for (size_t i = 0; i < nw && o < sizeof(list); i++)
    o +=
        (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
                         i == 0 ? "" : (i + 1 == nw ? " or " : ", "), words[i]);
  {
    const char *near =
        n->kind == Y_SCALAR ? sbx_suggest(n->str, words, nw) : NULL;
    snprintf(ex, sizeof(ex), "%s: %s", key, near != NULL ? near : words[0]);
  }
  return fail(c, n, path, "expected %s, got %s; write e.g. %s", list,
              describe(n, got, sizeof(got)), ex);
}

static int get_uint(struct sctx *c, const struct ynode *n, const char *path,
                    uint64_t lo, uint64_t hi, const char *example,
                    uint64_t *out) {
  char what[96];
  uint64_t v;

  if (n->kind != Y_SCALAR || sbx_parse_uint64(n->str, hi, &v) != 0 || v < lo) {
    if (hi == UINT64_MAX && lo == 0)
      snprintf(what, sizeof(what), "a whole number >= 0");
    else
      snprintf(what, sizeof(what), "a whole number from %llu to %llu",
               (unsigned long long)lo, (unsigned long long)hi);
    return bad(c, n, path, what, example);
  }
  *out = v;
  return 0;
}

/* A duration in (or from 0 when allow_zero) up to 30 days. */
static int get_duration(struct sctx *c, const struct ynode *n, const char *path,
                        int allow_zero, const char *example, int64_t *out) {
  int64_t v;

  if (n->kind != Y_SCALAR || sbx_parse_duration_us(n->str, &v) != 0)
    return bad(c, n, path, "a duration like 250ms, 2s or 1m", example);
  if (v == 0 && !allow_zero)
    return fail(c, n, path, "must be more than 0s; write e.g. %s", example);
  if (v > MAX_LOAD_DURATION_US)
    return fail(c, n, path, "must be at most 30 days; write e.g. %s", example);
  *out = v;
  return 0;
}

static int get_fraction(struct sctx *c, const struct ynode *n, const char *path,
                        const char *example, double *out) {
  if (n->kind != Y_SCALAR || sbx_parse_fraction(n->str, out) != 0)
    return bad(c, n, path, "a fraction from 0 to 1 or a percentage like 1%",
               example);
  return 0;
}

static int get_nonneg(struct sctx *c, const struct ynode *n, const char *path,
                      const char *example, double *out) {
  double v;

  if (n->kind != Y_SCALAR || sbx_parse_number(n->str, &v) != 0 || v < 0)
    return bad(c, n, path, "a number >= 0", example);
  *out = v;
  return 0;
}

/* Replaces *dst with a malloc'd copy of s (the old value is freed unless it
 * is protobuf-c's shared empty string). */
static int set_str(char **dst, const char *s) {
  char *p = strdup(s);
  if (p == NULL)
    return SBX_ENOMEM;
  if (*dst != NULL && *dst != protobuf_c_empty_string)
    free(*dst);
  *dst = p;
  return 0;
}

/* Writes us the way a spec would: the largest unit that divides it. */
static void spec_duration(int64_t us, char *buf, size_t len) {
  if (us != 0 && us % 3600000000LL == 0)
    snprintf(buf, len, "%lldh", (long long)(us / 3600000000LL));
  else if (us != 0 && us % 60000000 == 0)
    snprintf(buf, len, "%lldm", (long long)(us / 60000000));
  else if (us % 1000000 == 0)
    snprintf(buf, len, "%llds", (long long)(us / 1000000));
  else if (us % 1000 == 0)
    snprintf(buf, len, "%lldms", (long long)(us / 1000));
  else
    snprintf(buf, len, "%lldus", (long long)us);
}

static int missing(struct sctx *c, const struct ynode *parent, const char *path,
                   const char *why) {
  return fail(c, parent, path, "missing; %s", why);
}

/* ---- metrics ----------------------------------------------------------- */

enum btype { B_DURATION, B_FRACTION, B_RATE, B_NUMBER };

struct metric {
  const char *name;
  enum btype type;
};

static const struct metric metrics[] = {
    {"latency.min", B_DURATION},  {"latency.p50", B_DURATION},
    {"latency.p90", B_DURATION},  {"latency.p99", B_DURATION},
    {"latency.p999", B_DURATION}, {"latency.max", B_DURATION},
    {"latency.mean", B_DURATION}, {"error_rate", B_FRACTION},
    {"dropped_rate", B_FRACTION}, {"throughput", B_RATE},
    {"achieved_rate", B_RATE},    {"accuracy", B_FRACTION},
    {"macro_f1", B_FRACTION},     {"mae", B_NUMBER},
    {"rmse", B_NUMBER},
};

static const char *const metric_names[] = {
    "latency.min",  "latency.p50", "latency.p90",   "latency.p99",
    "latency.p999", "latency.max", "latency.mean",  "error_rate",
    "dropped_rate", "throughput",  "achieved_rate", "accuracy",
    "macro_f1",     "mae",         "rmse",
};

/* Other spellings people reach for, mapped to the canonical name. */
static const struct {
  const char *alias, *name;
} metric_aliases[] = {
    {"latency.median", "latency.p50"},
    {"latency.avg", "latency.mean"},
    {"latency.p99.9", "latency.p999"},
    {"drop_rate", "dropped_rate"},
};

static const struct metric *find_metric(const char *s) {
  for (size_t i = 0; i < ARRAY_LEN(metric_aliases); i++)
    if (strcmp(s, metric_aliases[i].alias) == 0)
      s = metric_aliases[i].name;
  for (size_t i = 0; i < ARRAY_LEN(metrics); i++)
    if (strcmp(s, metrics[i].name) == 0)
      return &metrics[i];
  return NULL;
}

static int unknown_metric(struct sctx *c, const struct ynode *n,
                          const char *path, const char *name) {
  char q[96], list[400];
  const char *near = sbx_suggest(name, metric_names, ARRAY_LEN(metric_names));
  size_t o = 0;

  int latency = strncmp(name, "latency.", 8) == 0;

  sbx_format_quoted(name, strlen(name), q, sizeof(q));
  /* latency.p95 is as close to p90 as to p99: list the choices instead. */
  if (near != NULL && !latency)
    return fail(c, n, path, "unknown metric %s; did you mean %s?", q, near);
  list[0] = '\0';
  for (size_t i = 0; i < ARRAY_LEN(metric_names) && o < sizeof(list); i++) {
    if (latency && strncmp(metric_names[i], "latency.", 8) != 0)
      continue;
    o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
                          o == 0 ? "" : ", ", metric_names[i]);
  }
  return fail(c, n, path, "unknown metric %s; use one of %s", q, list);
}

/* ---- sections ---------------------------------------------------------- */

static int is_tchar(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') ||
         (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int parse_header(struct sctx *c, const struct ynode *n, const char *path,
                        Sbx__V1__Header **out) {
  static const char *const keys[] = {"name", "value"};
  static const char *const forbidden[] = {"Content-Length", "Host",
                                          "Connection", "Transfer-Encoding"};
  const struct ynode *v[ARRAY_LEN(keys)];
  char kpath[PATH_LEN], q[96];
  const char *name, *value;
  Sbx__V1__Header *h;
  int rc;

  if ((rc = map_fields(c, n, path, keys, ARRAY_LEN(keys), v,
                       "- name: Accept")) != 0)
    return rc;
  join(kpath, sizeof(kpath), path, "name");
  if (v[0] == NULL)
    return missing(c, n, kpath, "write e.g. name: Accept");
  if ((rc = get_text(c, v[0], kpath, 256, 0, "name: Accept", &name)) != 0)
    return rc;
  for (size_t i = 0; name[i] != '\0'; i++) {
    if (!is_tchar((unsigned char)name[i])) {
      sbx_format_quoted(name, strlen(name), q, sizeof(q));
      return fail(c, v[0], kpath,
                  "%s is not a valid header name; use letters, digits and "
                  "!#$%%&'*+-.^_`|~ only, e.g. name: X-Request-Kind",
                  q);
    }
  }
  for (size_t i = 0; i < ARRAY_LEN(forbidden); i++)
    if (strcasecmp(name, forbidden[i]) == 0)
      return fail(c, v[0], kpath,
                  "%s is set by the harness for each request; remove this "
                  "header",
                  forbidden[i]);
  join(kpath, sizeof(kpath), path, "value");
  if (v[1] == NULL)
    return missing(c, n, kpath, "write e.g. value: \"*/*\"");
  if (v[1]->kind != Y_SCALAR)
    return bad(c, v[1], kpath, "text", "value: \"*/*\"");
  value = v[1]->str;
  for (size_t i = 0; i < v[1]->len; i++) {
    unsigned char ch = (unsigned char)value[i];
    if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
      return fail(c, v[1], kpath,
                  "contains a control character (byte 0x%02x); header "
                  "values are one line of text",
                  ch);
  }
  if (v[1]->len > 8192)
    return fail(c, v[1], kpath, "too long (%zu bytes); keep it to 8192",
                v[1]->len);

  h = malloc(sizeof(*h));
  if (h == NULL)
    return SBX_ENOMEM;
  sbx__v1__header__init(h);
  if (set_str(&h->name, name) != 0 || set_str(&h->value, value) != 0) {
    protobuf_c_message_free_unpacked(&h->base, NULL);
    return SBX_ENOMEM;
  }
  *out = h;
  return 0;
}

/* interface.path: "/..." or a template starting with "{", placeholders
 * {id} and {path} only. */
static int check_req_path(struct sctx *c, const struct ynode *n,
                          const char *path) {
  const char *s = n->str;
  char q[96];

  sbx_format_quoted(n->str, n->len, q, sizeof(q));
  if (n->len == 0 || (s[0] != '/' && s[0] != '{'))
    return fail(c, n, path,
                "%s must start with \"/\" or a placeholder; write e.g. "
                "path: \"/api/{id}\" or path: \"{path}\"",
                q);
  if (n->len > 2048)
    return fail(c, n, path, "too long (%zu bytes); keep it to 2048", n->len);
  for (size_t i = 0; i < n->len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch <= 0x20 || ch == 0x7f)
      return fail(c, n, path,
                  "%s contains a space or control character; "
                  "percent-encode it, e.g. %%20",
                  q);
    if (ch == '{') {
      if (strncmp(s + i, "{id}", 4) == 0)
        i += 3;
      else if (strncmp(s + i, "{path}", 6) == 0)
        i += 5;
      else
        return fail(c, n, path,
                    "%s uses an unknown placeholder; only {id} and {path} "
                    "are replaced, percent-encode a literal { as %%7B",
                    q);
    } else if (ch == '}') {
      return fail(c, n, path,
                  "%s has a \"}\" outside a placeholder; percent-encode it "
                  "as %%7D",
                  q);
    }
  }
  return 0;
}

static int get_rel_path(struct sctx *c, const struct ynode *n,
                        const char *field, const char *example,
                        const char **out);

static int parse_interface(struct sctx *c, const struct ynode *n,
                           Sbx__V1__Interface *it) {
  static const char *const keys[] = {
      "kind",         "method",         "path",       "headers",
      "content_type", "max_body_bytes", "http_client", "pipeline_depth",
      "setup"};
  static const char *const kinds[] = {"http", "plugin"};
  static const char *const methods[] = {"GET", "HEAD",  "POST",
                                        "PUT", "PATCH", "DELETE"};
  static const char *const clients[] = {"auto", "curl", "fast"};
  const struct ynode *v[ARRAY_LEN(keys)];
  int rc, idx;

  if ((rc = map_fields(c, n, "interface", keys, ARRAY_LEN(keys), v,
                       "kind: http")) != 0)
    return rc;
  if (v[0] == NULL)
    return missing(c, n, "interface.kind",
                   "write kind: http (or kind: plugin)");
  if ((rc = get_enum(c, v[0], "interface.kind", kinds, ARRAY_LEN(kinds), "kind",
                     &idx)) != 0)
    return rc;
  it->kind = idx == 0 ? SBX__V1__INTERFACE_KIND__INTERFACE_KIND_HTTP
                      : SBX__V1__INTERFACE_KIND__INTERFACE_KIND_PLUGIN;

  if (v[1] != NULL) {
    if ((rc = get_enum(c, v[1], "interface.method", methods, ARRAY_LEN(methods),
                       "method", &idx)) != 0)
      return rc;
    if (set_str(&it->method, methods[idx]) != 0)
      return SBX_ENOMEM;
  }
  if (v[2] != NULL) {
    if (!is_scalar(v[2]))
      return bad(c, v[2], "interface.path", "a request path",
                 "path: \"/api/{id}\"");
    if ((rc = check_req_path(c, v[2], "interface.path")) != 0)
      return rc;
    if (set_str(&it->path, v[2]->str) != 0)
      return SBX_ENOMEM;
  }
  if (v[3] != NULL) {
    const struct ynode *hs = v[3];
    char hpath[PATH_LEN];
    if (hs->kind != Y_SEQ)
      return bad(c, hs, "interface.headers", "a sequence of name/value pairs",
                 "headers: [{name: Accept, value: \"*/*\"}]");
    if (hs->n > MAX_HEADERS)
      return fail(c, hs, "interface.headers",
                  "%zu headers, more than %d; keep only the ones the "
                  "product needs",
                  hs->n, MAX_HEADERS);
    if (hs->n > 0) {
      it->headers = calloc(hs->n, sizeof(*it->headers));
      if (it->headers == NULL)
        return SBX_ENOMEM;
    }
    for (size_t i = 0; i < hs->n; i++) {
      snprintf(hpath, sizeof(hpath), "interface.headers[%zu]", i);
      if ((rc = parse_header(c, hs->kids[i], hpath,
                             &it->headers[it->n_headers])) != 0)
        return rc;
      it->n_headers++;
    }
  }
  if (v[4] != NULL) {
    const char *ct;
    if ((rc = get_text(c, v[4], "interface.content_type", 256, 0,
                       "content_type: application/json", &ct)) != 0)
      return rc;
    if (set_str(&it->content_type, ct) != 0)
      return SBX_ENOMEM;
  }
  if (v[5] != NULL) {
    uint64_t sz;
    if (v[5]->kind != Y_SCALAR || sbx_parse_size(v[5]->str, &sz) != 0)
      return bad(c, v[5], "interface.max_body_bytes",
                 "a size like 65536, 512KiB or 4MiB", "max_body_bytes: 4MiB");
    if (sz == 0 || sz > MAX_BODY) {
      char got[96];
      return fail(c, v[5], "interface.max_body_bytes",
                  "must be from 1 byte to 1GiB, got %s; write e.g. "
                  "max_body_bytes: 4MiB",
                  describe(v[5], got, sizeof(got)));
    }
    it->max_body_bytes = sz;
  }
  if (v[6] != NULL) {
    if ((rc = get_enum(c, v[6], "interface.http_client", clients,
                       ARRAY_LEN(clients), "http_client", &idx)) != 0)
      return rc;
    it->http_client = idx == 0   ? SBX__V1__HTTP_CLIENT__HTTP_CLIENT_AUTO
                      : idx == 1 ? SBX__V1__HTTP_CLIENT__HTTP_CLIENT_CURL
                                 : SBX__V1__HTTP_CLIENT__HTTP_CLIENT_FAST;
  }
  if (v[8] != NULL) {
    const char *sp;
    if (it->kind != SBX__V1__INTERFACE_KIND__INTERFACE_KIND_PLUGIN)
      return fail(c, v[8], "interface.setup",
                  "setup data is handed to a plugin's create(); it needs "
                  "kind: plugin");
    if ((rc = get_rel_path(c, v[8], "interface.setup", "setup: graph.bin",
                           &sp)) != 0)
      return rc;
    if (set_str(&it->setup, sp) != 0)
      return SBX_ENOMEM;
  }
  it->pipeline_depth = 1;
  if (v[7] != NULL) {
    uint64_t d;
    if ((rc = get_uint(c, v[7], "interface.pipeline_depth", 1,
                       MAX_PIPELINE_DEPTH, "pipeline_depth: 4", &d)) != 0)
      return rc;
    it->pipeline_depth = (uint32_t)d;
  }
  return 0;
}

/* A file named by the spec: relative to the spec's directory, never
 * leaving it. field is the key path for messages, example a fix. */
static int get_rel_path(struct sctx *c, const struct ynode *n,
                        const char *field, const char *example,
                        const char **out) {
  const char *p;
  char q[96];
  int rc;

  if ((rc = get_text(c, n, field, 1024, 0, example, &p)) != 0)
    return rc;
  sbx_format_quoted(p, strlen(p), q, sizeof(q));
  if (p[0] == '/')
    return fail(c, n, field,
                "%s is absolute; give a path relative to the spec's "
                "directory, e.g. %s",
                q, example);
  for (const char *s = p; *s != '\0';) {
    size_t k = strcspn(s, "/");
    if (k == 2 && s[0] == '.' && s[1] == '.')
      return fail(c, n, field,
                  "%s leaves the spec's directory (\"..\"); keep the "
                  "file beside spec.yaml, e.g. %s",
                  q, example);
    s += k;
    if (*s == '/')
      s++;
  }
  *out = p;
  return 0;
}

static int parse_dataset_ref(struct sctx *c, const struct ynode *n,
                             Sbx__V1__DatasetRef *d) {
  static const char *const keys[] = {"path", "private"};
  const struct ynode *v[ARRAY_LEN(keys)];
  const char *p;
  int rc;

  if ((rc = map_fields(c, n, "dataset", keys, ARRAY_LEN(keys), v,
                       "path: dataset.jsonl")) != 0)
    return rc;
  if (v[0] == NULL)
    return missing(c, n, "dataset.path",
                   "write e.g. path: dataset.jsonl (relative to the spec's "
                   "directory)");
  if ((rc = get_rel_path(c, v[0], "dataset.path", "path: dataset.jsonl",
                         &p)) != 0)
    return rc;
  if (set_str(&d->path, p) != 0)
    return SBX_ENOMEM;
  if (v[1] != NULL && (rc = get_bool(c, v[1], "dataset.private",
                                     "private: true", &d->private_)) != 0)
    return rc;
  return 0;
}

static int parse_load(struct sctx *c, const struct ynode *n,
                      Sbx__V1__Load *ld) {
  enum {
    K_MODEL,
    K_CONC,
    K_RATE,
    K_SPACING,
    K_MIF,
    K_WARMUP,
    K_MIN_DUR,
    K_MIN_CASES,
    K_MAX_DUR,
    K_TIMEOUT,
    K_SEED,
    K_N
  };
  static const char *const keys[K_N] = {
      "model",         "concurrency", "rate",         "spacing",
      "max_in_flight", "warmup",      "min_duration", "min_cases",
      "max_duration",  "timeout",     "seed"};
  static const char *const models[] = {"closed", "open", "trace"};
  static const char *const spacings[] = {"constant", "poisson"};
  const struct ynode *v[K_N];
  uint64_t u;
  int rc, model;

  if ((rc = map_fields(c, n, "load", keys, K_N, v, "model: closed")) != 0)
    return rc;
  if (v[K_MODEL] == NULL)
    return missing(c, n, "load.model",
                   "write model: closed, model: open or model: trace");
  if ((rc = get_enum(c, v[K_MODEL], "load.model", models, ARRAY_LEN(models),
                     "model", &model)) != 0)
    return rc;
  ld->model = model == 0   ? SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED
              : model == 1 ? SBX__V1__LOAD_MODEL__LOAD_MODEL_OPEN
                           : SBX__V1__LOAD_MODEL__LOAD_MODEL_TRACE;

  /* Keys of another model would be silently ignored: refuse them. */
  if (model != 0 && v[K_CONC] != NULL)
    return fail(c, v[K_CONC], "load.concurrency",
                "only used by model: closed; remove it, or cap arrivals "
                "in flight with max_in_flight");
  if (model != 1 && v[K_RATE] != NULL)
    return fail(c, v[K_RATE], "load.rate",
                "only used by model: open; remove it or set model: open");
  if (model != 1 && v[K_SPACING] != NULL)
    return fail(c, v[K_SPACING], "load.spacing",
                "only used by model: open; remove it or set model: open");
  if (model == 0 && v[K_MIF] != NULL)
    return fail(c, v[K_MIF], "load.max_in_flight",
                "not used by model: closed, where concurrency caps what is "
                "in flight; remove it");

  if (model == 0) {
    if (v[K_CONC] == NULL)
      return missing(c, n, "load.concurrency",
                     "closed loop needs e.g. concurrency: 32");
    if ((rc = get_uint(c, v[K_CONC], "load.concurrency", 1, MAX_CONCURRENCY,
                       "concurrency: 32", &u)) != 0)
      return rc;
    ld->concurrency = (uint32_t)u;
  } else {
    ld->max_in_flight = DEFAULT_MAX_IN_FLIGHT;
    if (v[K_MIF] != NULL) {
      if ((rc = get_uint(c, v[K_MIF], "load.max_in_flight", 1, MAX_IN_FLIGHT,
                         "max_in_flight: 1024", &u)) != 0)
        return rc;
      ld->max_in_flight = (uint32_t)u;
    }
  }
  if (model == 1) {
    double r;
    if (v[K_RATE] == NULL)
      return missing(c, n, "load.rate", "open loop needs e.g. rate: 1000");
    if (v[K_RATE]->kind != Y_SCALAR ||
        sbx_parse_rate(v[K_RATE]->str, &r) != 0 || !(r > 0))
      return bad(c, v[K_RATE], "load.rate",
                 "a positive number of arrivals per second", "rate: 1000");
    if (r > MAX_RATE)
      return fail(c, v[K_RATE], "load.rate",
                  "at most 10000000 arrivals per second; lower it or "
                  "split the load");
    ld->rate = r;
    if (v[K_SPACING] != NULL) {
      int sp;
      if ((rc = get_enum(c, v[K_SPACING], "load.spacing", spacings,
                         ARRAY_LEN(spacings), "spacing", &sp)) != 0)
        return rc;
      ld->spacing = sp == 0 ? SBX__V1__SPACING__SPACING_CONSTANT
                            : SBX__V1__SPACING__SPACING_POISSON;
    }
  }

  if (v[K_WARMUP] != NULL &&
      (rc = get_duration(c, v[K_WARMUP], "load.warmup", 1, "warmup: 2s",
                         &ld->warmup_us)) != 0)
    return rc;
  if (v[K_MIN_DUR] == NULL)
    return missing(c, n, "load.min_duration",
                   "say how long to measure, e.g. min_duration: 10s");
  if ((rc = get_duration(c, v[K_MIN_DUR], "load.min_duration", 0,
                         "min_duration: 10s", &ld->min_duration_us)) != 0)
    return rc;
  if (v[K_MIN_CASES] != NULL &&
      (rc = get_uint(c, v[K_MIN_CASES], "load.min_cases", 0, UINT64_MAX,
                     "min_cases: 10000", &ld->min_cases)) != 0)
    return rc;
  if (v[K_MAX_DUR] != NULL) {
    char need[32];
    if ((rc = get_duration(c, v[K_MAX_DUR], "load.max_duration", 0,
                           "max_duration: 60s", &ld->max_duration_us)) != 0)
      return rc;
    if (ld->max_duration_us < ld->min_duration_us + ld->warmup_us) {
      spec_duration(ld->min_duration_us + ld->warmup_us, need, sizeof(need));
      return fail(c, v[K_MAX_DUR], "load.max_duration",
                  "shorter than min_duration + warmup (%s); raise it to at "
                  "least %s",
                  need, need);
    }
  } else {
    /* Room to reach min_cases on a slow product, never below a minute. */
    int64_t d = 3 * ld->min_duration_us;
    if (d < 60000000)
      d = 60000000;
    if (d < ld->min_duration_us + ld->warmup_us)
      d = ld->min_duration_us + ld->warmup_us;
    ld->max_duration_us = d;
  }
  ld->timeout_us = 5000000;
  if (v[K_TIMEOUT] != NULL &&
      (rc = get_duration(c, v[K_TIMEOUT], "load.timeout", 0, "timeout: 5s",
                         &ld->timeout_us)) != 0)
    return rc;
  ld->seed = 1;
  if (v[K_SEED] != NULL &&
      (rc = get_uint(c, v[K_SEED], "load.seed", 0, UINT64_MAX, "seed: 42",
                     &ld->seed)) != 0)
    return rc;
  return 0;
}

static int parse_string_list(struct sctx *c, const struct ynode *n,
                             const char *path, const char *const *allowed,
                             size_t n_allowed, const char *example,
                             size_t *n_out, char ***out) {
  char ipath[PATH_LEN], q[96];
  const char *s;
  int rc;

  if (n->kind != Y_SEQ)
    return bad(c, n, path, "a list", example);
  if (n->n == 0)
    return 0;
  *out = calloc(n->n, sizeof(**out));
  if (*out == NULL)
    return SBX_ENOMEM;
  for (size_t i = 0; i < n->n; i++) {
    const struct ynode *it = n->kids[i];
    snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
    if ((rc = get_text(c, it, ipath, 256, 0, example, &s)) != 0)
      return rc;
    if (allowed != NULL) {
      size_t k;
      for (k = 0; k < n_allowed; k++)
        if (strcmp(s, allowed[k]) == 0)
          break;
      if (k == n_allowed) {
        char list[256];
        size_t o = 0;
        const char *near = sbx_suggest(s, allowed, n_allowed);
        sbx_format_quoted(s, strlen(s), q, sizeof(q));
        if (near != NULL)
          return fail(c, it, ipath, "unknown value %s; did you mean %s?", q,
                      near);
        list[0] = '\0';
        for (size_t j = 0; j < n_allowed && o < sizeof(list); j++)
          o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
                                j == 0 ? "" : ", ", allowed[j]);
        return fail(c, it, ipath, "unknown value %s; use one of %s", q, list);
      }
    }
    for (size_t j = 0; j < *n_out; j++)
      if (strcmp((*out)[j], s) == 0) {
        sbx_format_quoted(s, strlen(s), q, sizeof(q));
        return fail(c, it, ipath, "%s is listed twice; keep one", q);
      }
    if (((*out)[*n_out] = strdup(s)) == NULL)
      return SBX_ENOMEM;
    (*n_out)++;
  }
  return 0;
}

static int parse_checks(struct sctx *c, const struct ynode *n,
                        Sbx__V1__Checks *ck) {
  static const char *const keys[] = {
      "verify_body", "labels", "number_abs_tolerance", "number_rel_tolerance"};
  const struct ynode *v[ARRAY_LEN(keys)];
  int rc;

  if ((rc = map_fields(c, n, "checks", keys, ARRAY_LEN(keys), v,
                       "verify_body: true")) != 0)
    return rc;
  if (v[0] != NULL &&
      (rc = get_bool(c, v[0], "checks.verify_body", "verify_body: true",
                     &ck->verify_body)) != 0)
    return rc;
  if (v[1] != NULL && (rc = parse_string_list(c, v[1], "checks.labels", NULL, 0,
                                              "labels: [spam, ham]",
                                              &ck->n_labels, &ck->labels)) != 0)
    return rc;
  if (v[2] != NULL && (rc = get_nonneg(c, v[2], "checks.number_abs_tolerance",
                                       "number_abs_tolerance: 0.01",
                                       &ck->number_abs_tolerance)) != 0)
    return rc;
  if (v[3] != NULL && (rc = get_nonneg(c, v[3], "checks.number_rel_tolerance",
                                       "number_rel_tolerance: 0.001",
                                       &ck->number_rel_tolerance)) != 0)
    return rc;
  return 0;
}

static int is_metric_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || ch == '_' || ch == '.';
}

/* "METRIC OP BOUND", e.g. "latency.p99 <= 50ms". */
static int parse_criterion(struct sctx *c, const struct ynode *n,
                           const char *path, Sbx__V1__Criterion **out) {
  char metric[72], bound[72], q[96], ex[160];
  const char *s, *op_s = NULL;
  const struct metric *m;
  Sbx__V1__Criterion *cr;
  Sbx__V1__CompareOp op;
  size_t k;
  double b = 0;
  int ok;

  if (!is_scalar(n))
    return bad(c, n, path, "a rule METRIC OP BOUND", "- latency.p99 <= 50ms");
  sbx_format_quoted(n->str, n->len, q, sizeof(q));
  s = n->str;
  while (*s == ' ')
    s++;
  for (k = 0; is_metric_char(s[k]); k++)
    ;
  if (k == 0 || k >= sizeof(metric))
    goto syntax;
  memcpy(metric, s, k);
  metric[k] = '\0';
  s += k;
  while (*s == ' ')
    s++;
  if (strncmp(s, "<=", 2) == 0) {
    op = SBX__V1__COMPARE_OP__COMPARE_OP_LE;
    op_s = "<=";
  } else if (strncmp(s, ">=", 2) == 0) {
    op = SBX__V1__COMPARE_OP__COMPARE_OP_GE;
    op_s = ">=";
  } else if (s[0] == '<') {
    op = SBX__V1__COMPARE_OP__COMPARE_OP_LT;
    op_s = "<";
  } else if (s[0] == '>') {
    op = SBX__V1__COMPARE_OP__COMPARE_OP_GT;
    op_s = ">";
  } else if (s[0] == '=' || s[0] == '!') {
    return fail(c, n, path,
                "%s compares with an operator that is not allowed; use one "
                "of <=, <, >=, >",
                q);
  } else {
    goto syntax;
  }
  s += strlen(op_s);
  if (s[0] == '=' || s[0] == '<' || s[0] == '>')
    return fail(c, n, path,
                "%s compares with an operator that is not allowed; use one "
                "of <=, <, >=, >",
                q);
  while (*s == ' ')
    s++;
  k = strlen(s);
  while (k > 0 && s[k - 1] == ' ')
    k--;
  if (k == 0 || k >= sizeof(bound))
    goto syntax;
  memcpy(bound, s, k);
  bound[k] = '\0';

  m = find_metric(metric);
  if (m == NULL)
    return unknown_metric(c, n, path, metric);
  switch (m->type) {
  case B_DURATION: {
    int64_t us = 0;
    double dummy;
    ok = sbx_parse_duration_us(bound, &us) == 0;
    if (!ok && sbx_parse_number(bound, &dummy) == 0) {
      snprintf(ex, sizeof(ex), "%s %s %sms", m->name, op_s, bound);
      return fail(c, n, path,
                  "bound \"%s\" of %s has no time unit; write e.g. %s", bound,
                  m->name, ex);
    }
    b = (double)us;
    snprintf(ex, sizeof(ex), "%s %s 50ms", m->name, op_s);
    if (!ok)
      return fail(c, n, path,
                  "bound \"%s\" of %s is not a duration; write e.g. %s", bound,
                  m->name, ex);
    break;
  }
  case B_FRACTION:
    ok = sbx_parse_fraction(bound, &b) == 0;
    snprintf(ex, sizeof(ex), "%s %s 0.01 or %s %s 1%%", m->name, op_s, m->name,
             op_s);
    if (!ok)
      return fail(c, n, path,
                  "bound \"%s\" of %s must be a fraction from 0 to 1 or a "
                  "percentage from 0%% to 100%%; write e.g. %s",
                  bound, m->name, ex);
    break;
  case B_RATE:
    ok = sbx_parse_rate(bound, &b) == 0;
    snprintf(ex, sizeof(ex), "%s %s 1000/s", m->name, op_s);
    if (!ok)
      return fail(c, n, path,
                  "bound \"%s\" of %s must be a number per second; write "
                  "e.g. %s",
                  bound, m->name, ex);
    break;
  case B_NUMBER:
    ok = sbx_parse_number(bound, &b) == 0 && b >= 0;
    snprintf(ex, sizeof(ex), "%s %s 0.5", m->name, op_s);
    if (!ok)
      return fail(c, n, path,
                  "bound \"%s\" of %s must be a number >= 0; write e.g. %s",
                  bound, m->name, ex);
    break;
  }

  cr = malloc(sizeof(*cr));
  if (cr == NULL)
    return SBX_ENOMEM;
  sbx__v1__criterion__init(cr);
  cr->op = op;
  cr->bound = b;
  if (set_str(&cr->metric, m->name) != 0 || set_str(&cr->text, n->str) != 0) {
    protobuf_c_message_free_unpacked(&cr->base, NULL);
    return SBX_ENOMEM;
  }
  *out = cr;
  return 0;
syntax:
  return fail(c, n, path,
              "cannot read %s as METRIC OP BOUND; write e.g. "
              "latency.p99 <= 50ms",
              q);
}

static int parse_validity(struct sctx *c, const struct ynode *n,
                          Sbx__V1__Validity *va) {
  static const char *const keys[] = {
      "max_schedule_lag_p99", "max_rate_deviation", "max_dropped_fraction"};
  const struct ynode *v[ARRAY_LEN(keys)];
  int rc;

  if ((rc = map_fields(c, n, "validity", keys, ARRAY_LEN(keys), v,
                       "max_schedule_lag_p99: 10ms")) != 0)
    return rc;
  if (v[0] != NULL &&
      (rc = get_duration(c, v[0], "validity.max_schedule_lag_p99", 0,
                         "max_schedule_lag_p99: 10ms",
                         &va->max_schedule_lag_p99_us)) != 0)
    return rc;
  if (v[1] != NULL && (rc = get_fraction(c, v[1], "validity.max_rate_deviation",
                                         "max_rate_deviation: 0.01",
                                         &va->max_rate_deviation)) != 0)
    return rc;
  if (v[2] != NULL &&
      (rc = get_fraction(c, v[2], "validity.max_dropped_fraction",
                         "max_dropped_fraction: 0.001",
                         &va->max_dropped_fraction)) != 0)
    return rc;
  return 0;
}

static int is_name_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
}

static int is_version_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '+';
}

/* Allocates a scenario with every sub-message and string present, so any
 * partial state can be freed with protobuf_c_message_free_unpacked. */
static Sbx__V1__Scenario *scenario_new(void) {
  Sbx__V1__Scenario *sc = malloc(sizeof(*sc));
  int ok;

  if (sc == NULL)
    return NULL;
  sbx__v1__scenario__init(sc);
  sc->interface = malloc(sizeof(*sc->interface));
  sc->dataset = malloc(sizeof(*sc->dataset));
  sc->load = malloc(sizeof(*sc->load));
  sc->checks = malloc(sizeof(*sc->checks));
  sc->validity = malloc(sizeof(*sc->validity));
  if (sc->interface != NULL)
    sbx__v1__interface__init(sc->interface);
  if (sc->dataset != NULL)
    sbx__v1__dataset_ref__init(sc->dataset);
  if (sc->load != NULL)
    sbx__v1__load__init(sc->load);
  if (sc->checks != NULL)
    sbx__v1__checks__init(sc->checks);
  if (sc->validity != NULL)
    sbx__v1__validity__init(sc->validity);
  ok = sc->interface != NULL && sc->dataset != NULL && sc->load != NULL &&
       sc->checks != NULL && sc->validity != NULL &&
       set_str(&sc->name, "") == 0 && set_str(&sc->version, "") == 0 &&
       set_str(&sc->title, "") == 0 && set_str(&sc->description, "") == 0 &&
       set_str(&sc->score_metric, "throughput") == 0 &&
       set_str(&sc->interface->method, "GET") == 0 &&
       set_str(&sc->interface->path, "{path}") == 0 &&
       set_str(&sc->interface->content_type, "") == 0 &&
       set_str(&sc->dataset->path, "") == 0;
  if (!ok) {
    protobuf_c_message_free_unpacked(&sc->base, NULL);
    return NULL;
  }
  sc->interface->max_body_bytes = DEFAULT_MAX_BODY;
  sc->interface->http_client = SBX__V1__HTTP_CLIENT__HTTP_CLIENT_AUTO;
  sc->checks->verify_body = 1;
  sc->validity->max_schedule_lag_p99_us = 10000;
  sc->validity->max_rate_deviation = 0.01;
  sc->validity->max_dropped_fraction = 0.001;
  return sc;
}

/* Walks the tree into a new scenario. */
static int build_scenario(struct sctx *c, const struct ynode *root,
                          Sbx__V1__Scenario **out) {
  enum {
    K_NAME,
    K_VERSION,
    K_TITLE,
    K_DESC,
    K_SCORE,
    K_LAYERS,
    K_INTERFACE,
    K_DATASET,
    K_LOAD,
    K_CHECKS,
    K_CRITERIA,
    K_VALIDITY,
    K_N
  };
  static const char *const keys[K_N] = {
      "name",  "version",         "title",     "description",
      "score", "required_layers", "interface", "dataset",
      "load",  "checks",          "criteria",  "validity"};
  static const char *const layers[] = {"uid",     "rlimits",    "no_new_privs",
                                       "seccomp", "namespaces", "landlock",
                                       "cgroups"};
  const struct ynode *v[K_N];
  Sbx__V1__Scenario *sc = NULL;
  const char *s;
  char q[96];
  int rc;

  *out = NULL;
  if ((rc = map_fields(c, root, "", keys, K_N, v, "name: my-scenario")) != 0)
    return rc;
  sc = scenario_new();
  if (sc == NULL) {
    rc = SBX_ENOMEM;
    goto out;
  }

  if (v[K_NAME] == NULL) {
    rc = missing(c, root, "name", "every spec needs e.g. name: web-static");
    goto out;
  }
  if ((rc = get_text(c, v[K_NAME], "name", 63, 0, "name: web-static", &s)) != 0)
    goto out;
  for (size_t i = 0; s[i] != '\0'; i++) {
    if (!is_name_char(s[i]) || (i == 0 && s[i] == '-')) {
      sbx_format_quoted(s, strlen(s), q, sizeof(q));
      rc = fail(c, v[K_NAME], "name",
                "%s is not a valid name; use 1 to 63 lowercase letters, "
                "digits and dashes, starting with a letter or digit, e.g. "
                "name: web-static",
                q);
      goto out;
    }
  }
  if ((rc = set_str(&sc->name, s)) != 0)
    goto out;

  if (v[K_VERSION] == NULL) {
    rc = missing(c, root, "version", "write e.g. version: \"1.0.0\"");
    goto out;
  }
  if ((rc = get_text(c, v[K_VERSION], "version", 64, 0, "version: \"1.0.0\"",
                     &s)) != 0)
    goto out;
  for (size_t i = 0; s[i] != '\0'; i++) {
    if (!is_version_char(s[i])) {
      sbx_format_quoted(s, strlen(s), q, sizeof(q));
      rc = fail(c, v[K_VERSION], "version",
                "%s is not a valid version; use letters, digits and . - + "
                "only, e.g. version: \"1.0.0\"",
                q);
      goto out;
    }
  }
  if ((rc = set_str(&sc->version, s)) != 0)
    goto out;

  if (v[K_TITLE] == NULL) {
    rc = missing(c, root, "title",
                 "write a one-line title, e.g. title: Edge static content");
    goto out;
  }
  if ((rc = get_text(c, v[K_TITLE], "title", 200, 0,
                     "title: Edge static content", &s)) != 0 ||
      (rc = set_str(&sc->title, s)) != 0)
    goto out;

  if (v[K_DESC] != NULL) {
    if (v[K_DESC]->kind == Y_SCALAR && v[K_DESC]->len == 0) {
      s = "";
    } else if ((rc = get_text(c, v[K_DESC], "description", 65536, 1,
                              "description: What this scenario measures",
                              &s)) != 0) {
      goto out;
    }
    if ((rc = set_str(&sc->description, s)) != 0)
      goto out;
  }

  if (v[K_SCORE] != NULL) {
    const struct metric *m;
    if (!is_scalar(v[K_SCORE])) {
      rc = bad(c, v[K_SCORE], "score", "a metric name", "score: throughput");
      goto out;
    }
    m = find_metric(v[K_SCORE]->str);
    if (m == NULL) {
      rc = unknown_metric(c, v[K_SCORE], "score", v[K_SCORE]->str);
      goto out;
    }
    if ((rc = set_str(&sc->score_metric, m->name)) != 0)
      goto out;
  }

  if (v[K_LAYERS] != NULL &&
      (rc = parse_string_list(
           c, v[K_LAYERS], "required_layers", layers, ARRAY_LEN(layers),
           "required_layers: [seccomp, landlock]", &sc->n_required_layers,
           &sc->required_layers)) != 0)
    goto out;

  if (v[K_INTERFACE] == NULL) {
    rc = missing(c, root, "interface",
                 "say how the product is called, e.g. interface: {kind: "
                 "http}");
    goto out;
  }
  if ((rc = parse_interface(c, v[K_INTERFACE], sc->interface)) != 0)
    goto out;

  if (v[K_DATASET] == NULL) {
    rc = missing(c, root, "dataset",
                 "write e.g. dataset: {path: dataset.jsonl}");
    goto out;
  }
  if ((rc = parse_dataset_ref(c, v[K_DATASET], sc->dataset)) != 0)
    goto out;

  if (v[K_LOAD] == NULL) {
    rc = missing(c, root, "load",
                 "write e.g. load: {model: closed, concurrency: 32, "
                 "min_duration: 10s}");
    goto out;
  }
  if ((rc = parse_load(c, v[K_LOAD], sc->load)) != 0)
    goto out;

  if (v[K_CHECKS] != NULL &&
      (rc = parse_checks(c, v[K_CHECKS], sc->checks)) != 0)
    goto out;

  if (v[K_CRITERIA] != NULL) {
    const struct ynode *cs = v[K_CRITERIA];
    char cpath[PATH_LEN];
    if (cs->kind != Y_SEQ) {
      rc = bad(c, cs, "criteria", "a list of rules",
               "criteria: [\"latency.p99 <= 50ms\"]");
      goto out;
    }
    if (cs->n > 0) {
      sc->criteria = calloc(cs->n, sizeof(*sc->criteria));
      if (sc->criteria == NULL) {
        rc = SBX_ENOMEM;
        goto out;
      }
    }
    for (size_t i = 0; i < cs->n; i++) {
      Sbx__V1__Criterion *cr;
      snprintf(cpath, sizeof(cpath), "criteria[%zu]", i);
      if ((rc = parse_criterion(c, cs->kids[i], cpath,
                                &sc->criteria[sc->n_criteria])) != 0)
        goto out;
      cr = sc->criteria[sc->n_criteria++];
      if (!sc->checks->verify_body &&
          (strcmp(cr->metric, "accuracy") == 0 ||
           strcmp(cr->metric, "macro_f1") == 0 ||
           strcmp(cr->metric, "mae") == 0 || strcmp(cr->metric, "rmse") == 0)) {
        rc = fail(c, cs->kids[i], cpath,
                  "%s is measured by checking answers, but "
                  "checks.verify_body is false; set verify_body: true or "
                  "drop this criterion",
                  cr->metric);
        goto out;
      }
    }
  }

  if (v[K_VALIDITY] != NULL &&
      (rc = parse_validity(c, v[K_VALIDITY], sc->validity)) != 0)
    goto out;

  *out = sc;
  sc = NULL;
  rc = 0;
out:
  if (sc != NULL)
    protobuf_c_message_free_unpacked(&sc->base, NULL);
  return rc;
}

static int parse_with_tree(struct sctx *c, struct ynode **root,
                           Sbx__V1__Scenario **out) {
  int rc;

  *out = NULL;
  *root = NULL;
  if (c->len > SBX_SPEC_MAX_BYTES)
    return fail_at(c, 1, 1, "spec",
                   "file is %zu bytes, over the 1 MiB limit; a spec is "
                   "short, cases belong in the dataset",
                   c->len);
  rc = load_tree(c, root);
  if (rc == 0)
    rc = build_scenario(c, *root, out);
  if (rc == SBX_ENOMEM)
    sbx_diag_set(c->diag, "%s: out of memory while reading the spec", c->file);
  if (rc != 0) {
    ynode_free(*root);
    *root = NULL;
  }
  return rc;
}

int sbx_spec_parse(const char *file, const uint8_t *buf, size_t len,
                   Sbx__V1__Scenario **out, struct sbx_diag *diag) {
  struct sctx c;
  struct ynode *root = NULL;
  int rc;

  memset(&c, 0, sizeof(c));
  c.file = file != NULL ? file : "(spec)";
  c.diag = diag;
  c.buf = buf != NULL ? buf : (const uint8_t *)"";
  c.len = buf != NULL ? len : 0;
  rc = parse_with_tree(&c, &root, out);
  ynode_free(root);
  return rc;
}

void sbx_scenario_free(Sbx__V1__Scenario *sc) {
  if (sc != NULL)
    protobuf_c_message_free_unpacked(&sc->base, NULL);
}

/* ---- loading from disk ------------------------------------------------- */

/* The value node at root.a.b, or the closest existing ancestor. */
static const struct ynode *find_node(const struct ynode *root, const char *a,
                                     const char *b) {
  const struct ynode *n = root;
  const char *path[2] = {a, b};

  for (size_t k = 0; k < 2 && path[k] != NULL; k++) {
    const struct ynode *next = NULL;
    if (n->kind != Y_MAP)
      break;
    for (size_t i = 0; i + 1 < n->n; i += 2)
      if (strcmp(n->kids[i]->str, path[k]) == 0)
        next = n->kids[i + 1];
    if (next == NULL)
      break;
    n = next;
  }
  return n;
}

/* Fills "FILE:LINE:1: cases[ID]" for case i of the dataset. */
static void case_where(const char *file, const char *buf, size_t len,
                       const struct sbx_dataset *ds, size_t i, char *out,
                       size_t outlen) {
  char name[96];

  sbx__dataset_case_name(ds->cases[i]->id, name, sizeof(name));
  snprintf(out, outlen, "%s:%zu:1: cases[%s]", file,
           sbx__dataset_case_line(buf, len, i), name);
}

static int has_metric(const Sbx__V1__Scenario *sc, const char *m,
                      const char **text) {
  for (size_t i = 0; i < sc->n_criteria; i++)
    if (strcmp(sc->criteria[i]->metric, m) == 0) {
      *text = sc->criteria[i]->text;
      return 1;
    }
  return 0;
}

/* Checks that the dataset gives the spec what it relies on. Errors point
 * into the dataset at the case that falls short. */
static int cross_check(struct sctx *c, const Sbx__V1__Scenario *sc,
                       const struct sbx_dataset *ds, const char *dfile,
                       const char *dbuf, size_t dlen) {
  const char *need_label = NULL, *need_number = NULL;
  int trace = sc->load->model == SBX__V1__LOAD_MODEL__LOAD_MODEL_TRACE;
  int want_path =
      strstr(sc->interface->path, "{path}") != NULL &&
      sc->interface->kind == SBX__V1__INTERFACE_KIND__INTERFACE_KIND_HTTP;
  char where[512], q[96];

  const char *need_answer = NULL;
  /* accuracy counts every answer compared with an expectation of its
   * body; macro F1 needs classes. */
  has_metric(sc, "accuracy", &need_answer);
  has_metric(sc, "macro_f1", &need_label);
  if (!has_metric(sc, "mae", &need_number))
    has_metric(sc, "rmse", &need_number);

  for (size_t i = 0; i < ds->n_cases; i++) {
    const Sbx__V1__Case *k = ds->cases[i];
    const char *label = k->expect->label;
#define WHERE() case_where(dfile, dbuf, dlen, ds, i, where, sizeof(where))
    if (trace && !k->has_arrival_offset) {
      WHERE();
      sbx_diag_set(c->diag,
                   "%s.arrival_offset_us: missing; load.model is trace, so "
                   "every case needs its arrival time, e.g. "
                   "\"arrival_offset_us\": 0",
                   where);
      return SBX_EDATASET;
    }
    if (want_path && k->path[0] == '\0') {
      WHERE();
      sbx_diag_set(c->diag,
                   "%s.path: missing; interface.path uses {path}, so every "
                   "case needs e.g. \"path\": \"/index.html\"",
                   where);
      return SBX_EDATASET;
    }
    if (need_answer != NULL && label[0] == '\0' && !k->expect->has_number &&
        k->expect->exact.len == 0 && k->expect->sha256.len == 0 &&
        k->expect->n_json == 0) {
      WHERE();
      sbx_diag_set(c->diag,
                   "%s.expect: no answer to compare; criterion \"%s\" needs "
                   "every case to expect a label, number, exact body, "
                   "sha256 or json fields",
                   where, need_answer);
      return SBX_EDATASET;
    }
    if (need_label != NULL && label[0] == '\0') {
      WHERE();
      sbx_diag_set(c->diag,
                   "%s.expect.label: missing; criterion \"%s\" needs an "
                   "expected label on every case",
                   where, need_label);
      return SBX_EDATASET;
    }
    if (need_number != NULL && !k->expect->has_number) {
      WHERE();
      sbx_diag_set(c->diag,
                   "%s.expect.number: missing; criterion \"%s\" needs an "
                   "expected number on every case",
                   where, need_number);
      return SBX_EDATASET;
    }
    if (label[0] != '\0' && sc->checks->n_labels > 0) {
      size_t j;
      for (j = 0; j < sc->checks->n_labels; j++)
        if (strcmp(sc->checks->labels[j], label) == 0)
          break;
      if (j == sc->checks->n_labels) {
        WHERE();
        sbx_format_quoted(label, strlen(label), q, sizeof(q));
        sbx_diag_set(c->diag,
                     "%s.expect.label: %s is not in checks.labels; add it "
                     "to checks.labels in the spec or fix the label",
                     where, q);
        return SBX_EDATASET;
      }
    }
#undef WHERE
  }
  return 0;
}

static char *path_join(const char *dir, const char *name) {
  size_t n;
  char *p;

  if (dir == NULL || dir[0] == '\0')
    return strdup(name);
  n = strlen(dir) + 1 + strlen(name) + 1;
  p = malloc(n);
  if (p != NULL)
    snprintf(p, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
  return p;
}

/* The part of loading shared by files and bytes: parses the dataset,
 * cross-checks it with the spec and fills the scenario's digest, spec and
 * setup bytes. Copies what it keeps; on failure diag says why. */
static int assemble(struct sctx *c, const struct ynode *root,
                    Sbx__V1__Scenario *sc, const char *dfile,
                    const char *dbuf, size_t dlen, const uint8_t *xbuf,
                    size_t xlen, struct sbx_dataset **ds_out) {
  struct sbx_dataset *ds = NULL;
  crypto_hash_sha256_state h;
  int rc;

  if ((rc = sbx_dataset_parse(dfile, dbuf, dlen, &ds, c->diag)) != 0)
    return rc;
  if ((rc = cross_check(c, sc, ds, dfile, dbuf, dlen)) != 0)
    goto out;
  (void)root;
  rc = SBX_ENOMEM;
  sc->dataset->case_count = ds->n_cases;
  sc->dataset->sha256.data = malloc(32);
  sc->digest.data = malloc(32);
  sc->spec_bytes.data = malloc(c->len > 0 ? c->len : 1);
  if (sc->dataset->sha256.data == NULL || sc->digest.data == NULL ||
      sc->spec_bytes.data == NULL)
    goto out;
  memcpy(sc->dataset->sha256.data, ds->sha256, 32);
  sc->dataset->sha256.len = 32;
  memcpy(sc->spec_bytes.data, c->buf, c->len);
  sc->spec_bytes.len = c->len;
  crypto_hash_sha256_init(&h);
  crypto_hash_sha256_update(&h, c->buf, c->len);
  crypto_hash_sha256_update(&h, (const unsigned char *)dbuf, dlen);
  if (xbuf != NULL) {
    /* The setup data is part of what is tested: it is in the digest. */
    crypto_hash_sha256_update(&h, xbuf, xlen);
    sc->setup_bytes.data = malloc(xlen > 0 ? xlen : 1);
    if (sc->setup_bytes.data == NULL)
      goto out;
    memcpy(sc->setup_bytes.data, xbuf, xlen);
    sc->setup_bytes.len = xlen;
  }
  crypto_hash_sha256_final(&h, sc->digest.data);
  sc->digest.len = 32;
  *ds_out = ds;
  ds = NULL;
  rc = 0;
out:
  sbx_dataset_free(ds);
  return rc;
}

int sbx_spec_load_bytes(const char *spec_name, const uint8_t *spec,
                        size_t spec_len, const char *dataset_name,
                        const char *dataset, size_t dataset_len,
                        const uint8_t *setup, size_t setup_len,
                        Sbx__V1__Scenario **sc_out, struct sbx_dataset **ds_out,
                        struct sbx_diag *diag) {
  struct sctx c;
  struct ynode *root = NULL;
  Sbx__V1__Scenario *sc = NULL;
  int has_setup;
  int rc;

  *sc_out = NULL;
  *ds_out = NULL;
  memset(&c, 0, sizeof(c));
  c.diag = diag;
  c.file = spec_name != NULL ? spec_name : "spec.yaml";
  c.buf = spec != NULL ? spec : (const uint8_t *)"";
  c.len = spec != NULL ? spec_len : 0;
  if (sodium_init() < 0) {
    sbx_diag_set(diag, "%s: libsodium failed to initialise", c.file);
    return SBX_ENOMEM;
  }
  if ((rc = parse_with_tree(&c, &root, &sc)) != 0)
    goto out;
  has_setup = sc->interface->setup != NULL && sc->interface->setup[0] != '\0';
  if (has_setup && setup == NULL) {
    rc = fail(&c, find_node(root, "interface", "setup"), "interface.setup",
              "the spec names setup file %s but none was sent; send its "
              "bytes with the spec",
              sc->interface->setup);
    goto out;
  }
  if (!has_setup && setup != NULL && setup_len > 0) {
    rc = fail_at(&c, 1, 1, "interface.setup",
                 "setup bytes were sent but the spec names no setup file; "
                 "add interface.setup to the spec or send none");
    goto out;
  }
  rc = assemble(&c, root, sc,
                dataset_name != NULL ? dataset_name : sc->dataset->path,
                dataset != NULL ? dataset : "", dataset != NULL ? dataset_len : 0,
                has_setup ? setup : NULL, setup_len, ds_out);
  if (rc == 0) {
    *sc_out = sc;
    sc = NULL;
  }
out:
  if (rc == SBX_ENOMEM)
    sbx_diag_set(diag, "%s: out of memory while loading the scenario", c.file);
  sbx_scenario_free(sc);
  ynode_free(root);
  return rc;
}

int sbx_spec_load(const char *path, Sbx__V1__Scenario **sc_out,
                  struct sbx_dataset **ds_out, struct sbx_diag *diag) {
  struct sctx c;
  struct stat st;
  struct ynode *root = NULL;
  Sbx__V1__Scenario *sc = NULL;
  char *spec_file = NULL, *dir = NULL, *dfile = NULL;
  char *sbuf = NULL, *dbuf = NULL, *xbuf = NULL;
  size_t slen = 0, dlen = 0, xlen = 0;
  int rc = SBX_ENOMEM;
  *sc_out = NULL;
  *ds_out = NULL;
  memset(&c, 0, sizeof(c));
  c.diag = diag;
  if (sodium_init() < 0) {
    sbx_diag_set(diag, "%s: libsodium failed to initialise", path);
    return SBX_ENOMEM;
  }
  if (stat(path, &st) != 0) {
    int e = errno;
    sbx_diag_set(diag,
                 "%s: %s; pass a scenario directory holding spec.yaml, or "
                 "a .yaml file",
                 path, strerror(e));
    return e == ENOENT || e == ENOTDIR ? SBX_ENOENT : SBX_EIO;
  }
  if (S_ISDIR(st.st_mode)) {
    spec_file = path_join(path, "spec.yaml");
    dir = strdup(path);
  } else {
    const char *slash = strrchr(path, '/');
    spec_file = strdup(path);
    dir =
        slash == NULL ? strdup("") : strndup(path, (size_t)(slash - path) + 1);
  }
  if (spec_file == NULL || dir == NULL)
    goto out;

  rc = sbx__read_file(spec_file, SBX_SPEC_MAX_BYTES, &sbuf, &slen, diag);
  if (rc == SBX_ENOENT) {
    sbx_diag_set(diag,
                 "%s: no such file; a scenario directory must hold its "
                 "spec as spec.yaml",
                 spec_file);
    goto out;
  }
  if (rc == SBX_EIO)
    rc = SBX_ESPEC;
  if (rc != 0)
    goto out;

  c.file = spec_file;
  c.buf = (const uint8_t *)sbuf;
  c.len = slen;
  if ((rc = parse_with_tree(&c, &root, &sc)) != 0)
    goto out;

  rc = SBX_ENOMEM;
  dfile = path_join(dir, sc->dataset->path);
  if (dfile == NULL)
    goto out;
  rc = sbx__read_file(dfile, (size_t)4 << 30, &dbuf, &dlen, NULL);
  if (rc != 0) {
    const struct ynode *at = find_node(root, "dataset", "path");
    /* dfile is the caller's path plus checked text: print it whole. */
    if (rc == SBX_ENOENT)
      fail(&c, at, "dataset.path",
           "file %s does not exist; create it or fix the path (relative "
           "to the spec's directory)",
           dfile);
    else if (rc == SBX_EIO)
      fail(&c, at, "dataset.path",
           "%s is not a readable regular file of at most 4GiB; point at "
           "the JSON Lines file",
           dfile);
    if (rc == SBX_EIO)
      rc = SBX_EDATASET;
    goto out;
  }
  if (sc->interface->setup != NULL && sc->interface->setup[0] != '\0') {
    char *sfile = path_join(dir, sc->interface->setup);
    if (sfile == NULL) {
      rc = SBX_ENOMEM;
      goto out;
    }
    rc = sbx__read_file(sfile, (size_t)1 << 30, &xbuf, &xlen, NULL);
    if (rc != 0) {
      fail(&c, find_node(root, "interface", "setup"), "interface.setup",
           "%s is not a readable regular file of at most 1GiB; create it "
           "or fix the path (relative to the spec's directory)",
           sfile);
      rc = rc == SBX_ENOENT ? SBX_ENOENT : SBX_ESPEC;
      free(sfile);
      goto out;
    }
    free(sfile);
  }

  rc = assemble(&c, root, sc, dfile, dbuf, dlen, (const uint8_t *)xbuf, xlen,
                ds_out);
  if (rc == 0) {
    *sc_out = sc;
    sc = NULL;
  }
out:
  if (rc == SBX_ENOMEM)
    sbx_diag_set(diag, "%s: out of memory while loading the scenario", path);
  sbx_scenario_free(sc);
  ynode_free(root);
  free(spec_file);
  free(dir);
  free(dfile);
  free(sbuf);
  free(dbuf);
  free(xbuf);
  return rc;
}
