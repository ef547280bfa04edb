/* check.c - answer checking and answer-quality accumulators (see check.h).
 *
 * Classes live in a fixed table of SBX_QUALITY_MAX_CLASSES entries found
 * through an open-addressing hash index twice that size, so a lookup costs
 * one hash and usually one comparison however many classes there are.
 * Per class only tp/fp/fn are kept: for single-label answers that is all
 * precision, recall and F1 need, and memory stays linear in the classes
 * instead of quadratic as a full confusion matrix would be.
 */
#include "check.h"
#include "digest.h"

#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define HASH_SLOTS (2 * SBX_QUALITY_MAX_CLASSES) /* power of two */

/* SHA-256 of small bodies, remembered per run: a product answers a case
 * with the same bytes again and again, and comparing them with the last
 * bytes seen is ~50x cheaper than hashing them (for a tiny body the hash's
 * fixed cost is most of a fast request's user time). The memo maps exact
 * bytes to their digest, so a hit gives the very digest hashing would;
 * a slot only says where to look, and a miss just hashes. */
#define DIGEST_MEMO_SLOTS 64 /* power of two */
#define DIGEST_MEMO_MAX 256  /* longest body remembered */

struct digest_memo {
  uint32_t len; /* body bytes; valid only if used */
  int used;
  uint8_t digest[SBX_SHA256_BYTES];
  uint8_t body[DIGEST_MEMO_MAX];
};

struct cls {
  char *label;
  size_t len;
  uint64_t tp, fp, fn;
};

struct sbx_quality {
  struct cls *classes; /* SBX_QUALITY_MAX_CLASSES entries, n in use */
  size_t n;
  size_t n_from_answers; /* classes that only an answer introduced */
  uint16_t *slots;       /* HASH_SLOTS entries: class index + 1, 0 empty */
  struct cls other;      /* labels that could not get a class */
  uint64_t checked;
  uint64_t correct;
  uint64_t n_numbers;
  double sum_abs;
  double sum_sq;
  struct digest_memo *memo; /* DIGEST_MEMO_SLOTS, allocated on first use */
};

/* ---- class table ------------------------------------------------------ */

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 14695981039346656037ULL; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

/* Returns the class index of s[0..n), or -1 with *slot set to the empty
 * slot where it would go. The index never fills: it has twice as many
 * slots as there can be classes. */
static long find_class(const struct sbx_quality *q, const char *s, size_t n,
                       size_t *slot) {
  size_t i = (size_t)hash_bytes(s, n) & (HASH_SLOTS - 1);
  for (;;) {
    uint16_t v = q->slots[i];
    if (v == 0) {
      *slot = i;
      return -1;
    }
    const struct cls *c = &q->classes[v - 1];
    if (c->len == n && memcmp(c->label, s, n) == 0)
      return (long)(v - 1);
    i = (i + 1) & (HASH_SLOTS - 1);
  }
}

/* A label from a product's answer may name a class only if it is short,
 * valid UTF-8 and free of control characters: it ends up in results that
 * are rendered as JSON and shown to people. */
static int label_ok(const char *s, size_t n) {
  size_t i = 0;
  if (n == 0 || n > SBX_QUALITY_MAX_LABEL_LEN)
    return 0;
  while (i < n) {
    unsigned char c = (unsigned char)s[i];
    size_t need;
    uint32_t cp, min;
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f)
        return 0;
      i++;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      need = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      need = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      need = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return 0;
    }
    if (n - i - 1 < need)
      return 0;
    for (size_t k = 1; k <= need; k++) {
      unsigned char cc = (unsigned char)s[i + k];
      if ((cc & 0xC0) != 0x80)
        return 0;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
        (cp >= 0x80 && cp < 0xA0))
      return 0;
    i += need + 1;
  }
  return 1;
}

/* Returns the class of s[0..n), adding it if there is room; otherwise (or
 * when out of memory) the shared "other" class. from_answer marks labels
 * that only a product's answer vouches for. */
static struct cls *class_for(struct sbx_quality *q, const char *s, size_t n,
                             int from_answer) {
  size_t slot;
  long idx = find_class(q, s, n, &slot);
  struct cls *c;
  if (idx >= 0)
    return &q->classes[idx];
  if (q->n >= SBX_QUALITY_MAX_CLASSES)
    return &q->other;
  if (from_answer &&
      (q->n_from_answers >= SBX_QUALITY_MAX_CLASSES / 2 || !label_ok(s, n)))
    return &q->other;
  c = &q->classes[q->n];
  c->label = malloc(n + 1);
  if (c->label == NULL)
    return &q->other;
  memcpy(c->label, s, n);
  c->label[n] = '\0';
  c->len = n;
  c->tp = c->fp = c->fn = 0;
  q->n++;
  q->slots[slot] = (uint16_t)q->n;
  if (from_answer)
    q->n_from_answers++;
  return c;
}

struct sbx_quality *sbx_quality_new(const Sbx__V1__Checks *checks) {
  struct sbx_quality *q = calloc(1, sizeof(*q));
  if (q == NULL)
    return NULL;
  q->classes = calloc(SBX_QUALITY_MAX_CLASSES, sizeof(*q->classes));
  q->slots = calloc(HASH_SLOTS, sizeof(*q->slots));
  if (q->classes == NULL || q->slots == NULL)
    goto fail;
  if (checks != NULL && checks->labels != NULL) {
    for (size_t i = 0; i < checks->n_labels; i++) {
      const char *l = checks->labels[i];
      size_t before = q->n;
      if (l == NULL || *l == '\0')
        continue;
      if (class_for(q, l, strlen(l), 0) == &q->other &&
          before < SBX_QUALITY_MAX_CLASSES)
        goto fail; /* room left, so only malloc can have failed */
    }
  }
  return q;
fail:
  sbx_quality_free(q);
  return NULL;
}

void sbx_quality_free(struct sbx_quality *q) {
  if (q == NULL)
    return;
  if (q->classes != NULL)
    for (size_t i = 0; i < q->n; i++)
      free(q->classes[i].label);
  free(q->classes);
  free(q->slots);
  free(q->memo);
  free(q);
}

/* Counts one label judgement: expected `want`, answered ans[0..n) if
 * have_ans. */
static void record_label(struct sbx_quality *q, const char *want,
                         const char *ans, size_t n, int have_ans) {
  size_t wn = strlen(want);
  struct cls *cw = class_for(q, want, wn, 0);
  if (have_ans && n == wn && memcmp(ans, want, n) == 0) {
    cw->tp++;
    return;
  }
  cw->fn++;
  if (have_ans)
    class_for(q, ans, n, 1)->fp++;
}

/* ---- the response body ------------------------------------------------ */

/* SHA-256 of p[0..n) into h, through q's memo when q is not NULL (see
 * struct digest_memo). Returns sbx_sha256's result. */
static int body_sha256(struct sbx_quality *q, const uint8_t *p, size_t n,
                       uint8_t h[SBX_SHA256_BYTES]) {
  struct digest_memo *m;
  uint64_t x;
  int rc;
  if (q == NULL || n > DIGEST_MEMO_MAX)
    return sbx_sha256(p, n, h);
  if (q->memo == NULL) {
    q->memo = calloc(DIGEST_MEMO_SLOTS, sizeof(*q->memo));
    if (q->memo == NULL)
      return sbx_sha256(p, n, h);
  }
  x = hash_bytes((const char *)p, n < 32 ? n : 32) ^ n;
  m = &q->memo[(x ^ (x >> 29)) & (DIGEST_MEMO_SLOTS - 1)];
  if (m->used && m->len == n && memcmp(m->body, p, n) == 0) {
    memcpy(h, m->digest, SBX_SHA256_BYTES);
    return 0;
  }
  rc = sbx_sha256(p, n, h);
  if (rc == 0) {
    memcpy(m->body, p, n);
    memcpy(m->digest, h, SBX_SHA256_BYTES);
    m->len = (uint32_t)n;
    m->used = 1;
  }
  return rc;
}

/* The body with its JSON parse done at most once per check. */
struct body {
  const uint8_t *p;
  size_t len;
  json_t *doc;
  int tried;
};

static json_t *body_json(struct body *b) {
  if (!b->tried) {
    json_error_t err;
    b->tried = 1;
    if (b->len > 0)
      b->doc = json_loadb((const char *)b->p, b->len,
                          JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
  }
  return b->doc;
}

static int is_space(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

static void body_trimmed(const struct body *b, const uint8_t **t, size_t *n) {
  size_t s = 0, e = b->len;
  while (s < e && is_space(b->p[s]))
    s++;
  while (e > s && is_space(b->p[e - 1]))
    e--;
  *t = b->p + s;
  *n = e - s;
}

/* The label a body answers, pointing into the body or into its parsed
 * JSON (valid until the body's document is released). Returns 1 if there
 * is one. A body that looks like JSON but does not parse has none: reading
 * a truncated object as a plain-text label would invent a class. */
static int answer_label(struct body *b, const char **out, size_t *n) {
  const uint8_t *t;
  size_t tn;
  body_trimmed(b, &t, &tn);
  if (tn == 0)
    return 0;
  if (t[0] == '{' || t[0] == '"') {
    json_t *doc = body_json(b);
    if (json_is_object(doc))
      doc = json_object_get(doc, "label");
    if (!json_is_string(doc))
      return 0;
    *out = json_string_value(doc);
    *n = json_string_length(doc);
    return 1;
  }
  *out = (const char *)t;
  *n = tn;
  return 1;
}

/* A plain-text number: decimal only (no hex, inf or nan), the whole text. */
static int parse_plain_number(const uint8_t *t, size_t n, double *out) {
  char buf[128];
  char *end;
  int digit = 0;
  if (n == 0 || n >= sizeof(buf))
    return 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = t[i];
    if (c >= '0' && c <= '9')
      digit = 1;
    else if (c != '+' && c != '-' && c != '.' && c != 'e' && c != 'E')
      return 0;
  }
  if (!digit)
    return 0;
  memcpy(buf, t, n);
  buf[n] = '\0';
  *out = strtod(buf, &end);
  return end == buf + n && isfinite(*out);
}

static int answer_number(struct body *b, double *out) {
  const uint8_t *t;
  size_t tn;
  body_trimmed(b, &t, &tn);
  if (tn == 0)
    return 0;
  if (t[0] == '{') {
    json_t *v = json_object_get(body_json(b), "value");
    if (!json_is_number(v))
      return 0;
    *out = json_number_value(v);
    return isfinite(*out);
  }
  return parse_plain_number(t, tn, out);
}

/* ---- JSON fields ------------------------------------------------------ */

/* Array index from a path segment: decimal digits, no leading zero. */
static int parse_index(const char *s, size_t n, size_t *out) {
  size_t v = 0;
  if (n == 0 || n > 18 || (n > 1 && s[0] == '0'))
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
    v = v * 10 + (size_t)(s[i] - '0');
  }
  *out = v;
  return 1;
}

/* The node at a dotted path ("" is the document itself), or NULL. */
static json_t *json_at(json_t *root, const char *path) {
  json_t *cur = root;
  const char *s = path;
  if (*s == '\0')
    return root;
  for (;;) {
    const char *dot = strchr(s, '.');
    size_t n = dot ? (size_t)(dot - s) : strlen(s);
    size_t idx;
    if (json_is_object(cur))
      cur = json_object_getn(cur, s, n);
    else if (json_is_array(cur) && parse_index(s, n, &idx))
      cur = json_array_get(cur, idx);
    else
      return NULL;
    if (cur == NULL || dot == NULL)
      return cur;
    s = dot + 1;
  }
}

/* Structural equality with numbers (integer or real alike) equal within
 * tol. Recursion depth is bounded by jansson's parser depth limit. */
static int json_match(json_t *a, json_t *b, double tol) {
  if (json_is_number(a) && json_is_number(b)) {
    double x, y;
    if (json_is_integer(a) && json_is_integer(b))
      if (json_integer_value(a) == json_integer_value(b))
        return 1;
    x = json_number_value(a);
    y = json_number_value(b);
    return x == y || fabs(x - y) <= tol;
  }
  if (json_typeof(a) != json_typeof(b))
    return 0;
  switch (json_typeof(a)) {
  case JSON_OBJECT: {
    const char *key;
    size_t klen;
    json_t *va;
    if (json_object_size(a) != json_object_size(b))
      return 0;
    json_object_keylen_foreach(a, key, klen, va) {
      json_t *vb = json_object_getn(b, key, klen);
      if (vb == NULL || !json_match(va, vb, tol))
        return 0;
    }
    return 1;
  }
  case JSON_ARRAY: {
    size_t n = json_array_size(a);
    if (n != json_array_size(b))
      return 0;
    for (size_t i = 0; i < n; i++)
      if (!json_match(json_array_get(a, i), json_array_get(b, i), tol))
        return 0;
    return 1;
  }
  case JSON_STRING:
    return json_string_length(a) == json_string_length(b) &&
           memcmp(json_string_value(a), json_string_value(b),
                  json_string_length(a)) == 0;
  default: /* true, false, null: the type is the value */
    return 1;
  }
}

/* A tolerance that is negative or NaN counts as 0. */
static double sane_tolerance(double t) {
  return t > 0 ? t : 0;
}

static int check_json_field(struct body *b, const Sbx__V1__JsonField *f) {
  json_t *doc, *at, *want;
  json_error_t err;
  int ok;
  if (f == NULL)
    return 0;
  doc = body_json(b);
  if (doc == NULL)
    return 0;
  at = json_at(doc, f->path ? f->path : "");
  if (at == NULL)
    return 0;
  if (f->value_json == NULL || f->value_json[0] == '\0')
    return 1;
  want = json_loads(f->value_json, JSON_DECODE_ANY, &err);
  if (want == NULL)
    return 0; /* the spec loader should have refused it; never pass */
  ok = json_match(at, want, sane_tolerance(f->tolerance));
  json_decref(want);
  return ok;
}

/* ---- judging ---------------------------------------------------------- */

static int has_label(const Sbx__V1__Expectation *exp) {
  return exp->label != NULL && exp->label[0] != '\0';
}

static int has_body_expectation(const Sbx__V1__Expectation *exp) {
  return exp->exact.len > 0 || exp->sha256.len > 0 || exp->n_json > 0 ||
         has_label(exp) || exp->has_number;
}

static void count_unanswered(struct sbx_quality *q,
                             const Sbx__V1__Expectation *exp) {
  if (q == NULL)
    return;
  q->checked++;
  if (has_label(exp))
    record_label(q, exp->label, NULL, 0, 0);
}

void sbx_quality_unanswered(struct sbx_quality *q,
                            const Sbx__V1__Checks *checks,
                            const Sbx__V1__Expectation *exp) {
  if (q == NULL || checks == NULL || !checks->verify_body || exp == NULL ||
      !has_body_expectation(exp))
    return;
  count_unanswered(q, exp);
}

static int number_within(const Sbx__V1__Checks *checks, double got,
                         double want) {
  double d = fabs(got - want);
  if (isnan(d))
    return 0;
  return d <= sane_tolerance(checks->number_abs_tolerance) ||
         d <= sane_tolerance(checks->number_rel_tolerance) * fabs(want);
}

Sbx__V1__ErrorClass sbx_check(const Sbx__V1__Checks *checks,
                              const Sbx__V1__Expectation *exp, uint32_t status,
                              const uint8_t *body, size_t len,
                              struct sbx_quality *q) {
  static const uint8_t empty[1];
  uint32_t want_status = exp ? exp->status : 0;
  int status_ok = want_status != 0 ? status == want_status
                                   : (status >= 200 && status <= 299);
  struct body b;
  int ok = 1;

  if (checks == NULL || !checks->verify_body || exp == NULL ||
      !has_body_expectation(exp))
    return status_ok ? SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE
                     : SBX__V1__ERROR_CLASS__ERROR_CLASS_HTTP_STATUS;
  if (!status_ok) {
    count_unanswered(q, exp);
    return SBX__V1__ERROR_CLASS__ERROR_CLASS_HTTP_STATUS;
  }

  b.p = body != NULL ? body : empty;
  b.len = body != NULL ? len : 0;
  b.doc = NULL;
  b.tried = 0;

  if (exp->exact.len > 0)
    ok = exp->exact.data != NULL && b.len == exp->exact.len &&
         memcmp(b.p, exp->exact.data, b.len) == 0;
  if (ok && exp->sha256.len > 0) {
    uint8_t h[SBX_SHA256_BYTES];
    ok = body_sha256(q, b.p, b.len, h) == 0 && exp->sha256.len == sizeof(h) &&
         exp->sha256.data != NULL &&
         memcmp(h, exp->sha256.data, sizeof(h)) == 0;
  }
  for (size_t i = 0; ok && i < exp->n_json; i++)
    ok = exp->json != NULL && check_json_field(&b, exp->json[i]);

  /* Label and number are looked at even after a failure when quality is
   * being measured: the confusion counts need every answer. */
  if (has_label(exp) && (ok || q != NULL)) {
    const char *ans = NULL;
    size_t n = 0;
    int have = answer_label(&b, &ans, &n);
    size_t wn = strlen(exp->label);
    int match = have && n == wn && memcmp(ans, exp->label, n) == 0;
    if (q != NULL)
      record_label(q, exp->label, ans, n, have);
    ok = ok && match;
  }
  if (exp->has_number && (ok || q != NULL)) {
    double got = 0;
    int have = answer_number(&b, &got);
    if (have && q != NULL && isfinite(exp->number)) {
      double e = fabs(got - exp->number);
      q->n_numbers++;
      q->sum_abs += e;
      q->sum_sq += e * e;
    }
    ok = ok && have && number_within(checks, got, exp->number);
  }
  json_decref(b.doc);

  if (q != NULL) {
    q->checked++;
    if (ok)
      q->correct++;
  }
  return ok ? SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE
            : SBX__V1__ERROR_CLASS__ERROR_CLASS_CHECK_FAILED;
}

/* ---- metrics ---------------------------------------------------------- */

static double ratio(uint64_t a, uint64_t b) {
  return b ? (double)a / (double)b : 0.0;
}

static Sbx__V1__ClassScore *class_score(const struct cls *c,
                                        const char *label) {
  Sbx__V1__ClassScore *s = malloc(sizeof(*s));
  if (s == NULL)
    return NULL;
  sbx__v1__class_score__init(s);
  s->label = strdup(label);
  if (s->label == NULL) {
    free(s);
    return NULL;
  }
  s->precision = ratio(c->tp, c->tp + c->fp);
  s->recall = ratio(c->tp, c->tp + c->fn);
  s->f1 = s->precision + s->recall > 0
              ? 2 * s->precision * s->recall / (s->precision + s->recall)
              : 0.0;
  s->support = c->tp + c->fn;
  return s;
}

int sbx_quality_fill(const struct sbx_quality *q, Sbx__V1__Metrics *m) {
  Sbx__V1__ClassScore **arr = NULL;
  size_t n = 0, k = 0, occurred = 0;
  int other_used;
  double f1_sum = 0;

  if (m == NULL || m->n_per_class != 0)
    return SBX_EINVAL;
  if (q == NULL) {
    m->accuracy = 0;
    m->macro_f1 = 0;
    m->mae = NAN;
    m->rmse = NAN;
    m->checked = 0;
    return 0;
  }
  other_used = q->other.tp + q->other.fp + q->other.fn > 0;
  n = q->n + (other_used ? 1 : 0);
  if (n > 0) {
    arr = calloc(n, sizeof(*arr));
    if (arr == NULL)
      return SBX_ENOMEM;
  }
  for (k = 0; k < n; k++) {
    const struct cls *c = k < q->n ? &q->classes[k] : &q->other;
    arr[k] = class_score(c, k < q->n ? c->label : SBX_QUALITY_OTHER_LABEL);
    if (arr[k] == NULL)
      goto nomem;
    if (c->tp + c->fp + c->fn > 0) {
      occurred++;
      f1_sum += arr[k]->f1;
    }
  }
  m->accuracy = ratio(q->correct, q->checked);
  m->macro_f1 = occurred ? f1_sum / (double)occurred : 0.0;
  m->n_per_class = n;
  m->per_class = arr;
  m->mae = q->n_numbers ? q->sum_abs / (double)q->n_numbers : NAN;
  m->rmse = q->n_numbers ? sqrt(q->sum_sq / (double)q->n_numbers) : NAN;
  m->checked = q->checked;
  return 0;
nomem:
  for (size_t i = 0; i < k; i++) {
    free(arr[i]->label);
    free(arr[i]);
  }
  free(arr);
  return SBX_ENOMEM;
}
