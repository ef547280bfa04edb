/* dataset.c - JSON Lines to Sbx__V1__Case, one line at a time.
 *
 * Every line goes through jansson on its own (duplicate keys rejected), so
 * a syntax error reports the physical line and jansson's column. Semantic
 * errors name the case by id once it is known. Ids are kept unique with an
 * open-addressing hash set keyed by FNV-1a of the id, so ten million cases
 * cost no quadratic time.
 */
#include "dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "units.h"

#define ID_MAX 256
#define LABEL_MAX 256
#define JSON_PATH_MAX 1024

struct dctx {
  const char *file;
  struct sbx_diag *diag;
  size_t line;    /* 1-based physical line being parsed */
  size_t index;   /* 0-based ordinal of the case being parsed */
  const char *id; /* id of that case once known, else NULL */
  /* Cases so far, and the line each came from (for duplicate ids). */
  Sbx__V1__Case **cases;
  size_t *lines;
  size_t n, cap;
  /* Id set: slot holds case index + 1, 0 when empty; hashes alongside. */
  uint32_t *slots;
  uint64_t *hashes;
  size_t n_slots;
};

/* Ids made of these characters are printed as they are in cases[...];
 * anything else is quoted and escaped. */
static int id_is_plain(const char *id) {
  size_t n = 0;
  for (const char *p = id; *p != '\0'; p++, n++) {
    char ch = *p;
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || strchr("._:/@+-", ch) != NULL))
      return 0;
  }
  return n > 0 && n <= 64;
}

void sbx__dataset_case_name(const char *id, char *buf, size_t len) {
  if (id_is_plain(id))
    snprintf(buf, len, "%s", id);
  else
    sbx_format_quoted(id, strlen(id), buf, len);
}

/* Fills the diag with "FILE:LINE:COL: cases[..].FIELD: WHAT; FIX". */
static int dfail(struct dctx *c, size_t col, const char *field, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
static int dfail(struct dctx *c, size_t col, const char *field, const char *fmt,
                 ...) {
  char what[768], who[96];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  if (c->id == NULL)
    snprintf(who, sizeof(who), "#%zu", c->index);
  else
    sbx__dataset_case_name(c->id, who, sizeof(who));
  sbx_diag_set(c->diag, "%s:%zu:%zu: cases[%s]%s%s: %s", c->file, c->line,
               col == 0 ? 1 : col, who, field != NULL ? "." : "",
               field != NULL ? field : "", what);
  return SBX_EDATASET;
}

static const char *json_kind(const json_t *j) {
  switch (json_typeof(j)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
  case JSON_REAL:
    return "a number";
  case JSON_TRUE:
    return "true";
  case JSON_FALSE:
    return "false";
  case JSON_NULL:
    return "null";
  }
  return "a value";
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s != '\0'; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  return h;
}

static int idset_grow(struct dctx *c) {
  size_t n = c->n_slots == 0 ? 1024 : c->n_slots * 2;
  uint32_t *slots = calloc(n, sizeof(*slots));
  uint64_t *hashes = calloc(n, sizeof(*hashes));

  if (slots == NULL || hashes == NULL) {
    free(slots);
    free(hashes);
    return SBX_ENOMEM;
  }
  for (size_t i = 0; i < c->n_slots; i++) {
    size_t j;
    if (c->slots[i] == 0)
      continue;
    for (j = c->hashes[i] & (n - 1); slots[j] != 0; j = (j + 1) & (n - 1))
      ;
    slots[j] = c->slots[i];
    hashes[j] = c->hashes[i];
  }
  free(c->slots);
  free(c->hashes);
  c->slots = slots;
  c->hashes = hashes;
  c->n_slots = n;
  return 0;
}

/* Looks id up; if absent, records it as case number idx. Returns the index
 * of an earlier case with the same id, SIZE_MAX if none, or sets *rc. */
static size_t idset_add(struct dctx *c, const char *id, size_t idx, int *rc) {
  uint64_t h = fnv1a(id);
  size_t j;

  *rc = 0;
  /* Keep the load factor under one half. */
  if ((c->n + 1) * 2 > c->n_slots && (*rc = idset_grow(c)) != 0)
    return SIZE_MAX;
  for (j = h & (c->n_slots - 1); c->slots[j] != 0;
       j = (j + 1) & (c->n_slots - 1)) {
    size_t other = c->slots[j] - 1;
    if (c->hashes[j] == h && strcmp(c->cases[other]->id, id) == 0)
      return other;
  }
  c->slots[j] = (uint32_t)(idx + 1);
  c->hashes[j] = h;
  return SIZE_MAX;
}

/* Decodes standard base64 (with padding). Returns 0, SBX_EINVAL or
 * SBX_ENOMEM; on success out->data is malloc'd (NULL when empty). */
static int decode_base64(const char *s, size_t n, ProtobufCBinaryData *out) {
  size_t cap = n / 4 * 3 + 3, got = 0;
  const char *end = NULL;
  uint8_t *bin;

  if (n == 0) {
    out->data = NULL;
    out->len = 0;
    return 0;
  }
  bin = malloc(cap);
  if (bin == NULL)
    return SBX_ENOMEM;
  if (sodium_base642bin(bin, cap, s, n, NULL, &got, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != s + n) {
    free(bin);
    return SBX_EINVAL;
  }
  out->data = bin;
  out->len = got;
  return 0;
}

static int copy_bytes(const char *s, size_t n, ProtobufCBinaryData *out) {
  out->data = NULL;
  out->len = 0;
  if (n == 0)
    return 0;
  out->data = malloc(n);
  if (out->data == NULL)
    return SBX_ENOMEM;
  memcpy(out->data, s, n);
  out->len = n;
  return 0;
}

static int hex_nibble(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

static int has_control(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      return 1;
  return 0;
}

/* Replaces *dst with a malloc'd copy of s, freeing the old value unless it
 * is protobuf-c's shared empty string. */
static int set_string(char **dst, const char *s) {
  char *p = strdup(s);
  if (p == NULL)
    return SBX_ENOMEM;
  if (*dst != NULL && *dst != protobuf_c_empty_string)
    free(*dst);
  *dst = p;
  return 0;
}

static void unknown_key_hint(const char *key, const char *const *keys, size_t n,
                             char *buf, size_t len) {
  const char *near = sbx_suggest(key, keys, n);
  size_t o;

  if (near != NULL) {
    snprintf(buf, len, "did you mean \"%s\"?", near);
    return;
  }
  o = (size_t)snprintf(buf, len, "known keys are");
  for (size_t i = 0; i < n && o < len; i++)
    o +=
        (size_t)snprintf(buf + o, len - o, "%s %s", i == 0 ? "" : ",", keys[i]);
}

static const char *const expect_keys[] = {
    "status", "exact", "exact_base64", "sha256", "json", "label", "number"};
#define N_EXPECT_KEYS (sizeof(expect_keys) / sizeof(expect_keys[0]))

static int is_expect_key(const char *key) {
  for (size_t i = 0; i < N_EXPECT_KEYS; i++)
    if (strcmp(key, expect_keys[i]) == 0)
      return 1;
  return 0;
}

static int parse_json_field(struct dctx *c, size_t i, json_t *item,
                            Sbx__V1__JsonField **out) {
  static const char *const keys[] = {"path", "value", "tolerance"};
  Sbx__V1__JsonField *f = NULL;
  const char *key, *path;
  char field[64], hint[160], q[96];
  json_t *v;
  int rc;

  snprintf(field, sizeof(field), "expect.json[%zu]", i);
  if (!json_is_object(item))
    return dfail(c, 1, field,
                 "expected an object, got %s; write e.g. "
                 "{\"path\": \"a.b\", \"value\": 1}",
                 json_kind(item));
  json_object_foreach(item, key, v) {
    size_t k;
    for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
      if (strcmp(key, keys[k]) == 0)
        break;
    if (k == sizeof(keys) / sizeof(keys[0])) {
      unknown_key_hint(key, keys, sizeof(keys) / sizeof(keys[0]), hint,
                       sizeof(hint));
      sbx_format_quoted(key, strlen(key), q, sizeof(q));
      return dfail(c, 1, field, "unknown key %s; %s", q, hint);
    }
  }
  v = json_object_get(item, "path");
  if (v == NULL || !json_is_string(v))
    return dfail(c, 1, field,
                 "\"path\" %s; give the dotted path into the response, "
                 "e.g. \"path\": \"items.0.name\"",
                 v == NULL ? "is missing" : "must be a string");
  path = json_string_value(v);
  if (json_string_length(v) == 0 || json_string_length(v) > JSON_PATH_MAX ||
      path[0] == '.' || path[json_string_length(v) - 1] == '.' ||
      strstr(path, "..") != NULL || has_control(path, json_string_length(v))) {
    sbx_format_quoted(path, json_string_length(v), q, sizeof(q));
    return dfail(c, 1, field,
                 "bad path %s; write dot-separated keys and array indexes, "
                 "e.g. \"items.0.name\"",
                 q);
  }
  if (json_object_get(item, "value") == NULL)
    return dfail(c, 1, field,
                 "\"value\" is missing; give the expected JSON value, "
                 "e.g. \"value\": 42");
  v = json_object_get(item, "tolerance");
  if (v != NULL && (!json_is_number(v) || !(json_number_value(v) >= 0)))
    return dfail(c, 1, field,
                 "\"tolerance\" must be a number >= 0; write e.g. "
                 "\"tolerance\": 0.01");

  rc = SBX_ENOMEM;
  f = malloc(sizeof(*f));
  if (f == NULL)
    goto out;
  sbx__v1__json_field__init(f);
  if (set_string(&f->path, path) != 0)
    goto out;
  f->value_json = json_dumps(json_object_get(item, "value"),
                             JSON_COMPACT | JSON_ENCODE_ANY);
  if (f->value_json == NULL)
    goto out;
  if (v != NULL)
    f->tolerance = json_number_value(v);
  *out = f;
  f = NULL;
  rc = 0;
out:
  if (f != NULL)
    protobuf_c_message_free_unpacked(&f->base, NULL);
  return rc;
}

static int parse_expect(struct dctx *c, json_t *obj, Sbx__V1__Expectation *e) {
  const char *const *keys = expect_keys;
  const size_t n_keys = N_EXPECT_KEYS;
  const char *key;
  char field[64], hint[200], q[96];
  json_t *v;
  int rc;

  if (!json_is_object(obj))
    return dfail(c, 1, "expect",
                 "expected an object, got %s; write e.g. "
                 "\"expect\": {\"status\": 200}",
                 json_kind(obj));
  if (json_object_get(obj, "exact") != NULL &&
      json_object_get(obj, "exact_base64") != NULL)
    return dfail(c, 1, "expect.exact_base64",
                 "conflicts with \"exact\"; keep only one of exact or "
                 "exact_base64");
  json_object_foreach(obj, key, v) {
    size_t k;
    for (k = 0; k < n_keys; k++)
      if (strcmp(key, keys[k]) == 0)
        break;
    snprintf(field, sizeof(field), "expect.%s", key);
    if (k == n_keys) {
      unknown_key_hint(key, keys, n_keys, hint, sizeof(hint));
      sbx_format_quoted(key, strlen(key), q, sizeof(q));
      return dfail(c, 1, "expect", "unknown key %s; %s", q, hint);
    }
    if (strcmp(key, "status") == 0) {
      if (!json_is_integer(v) || json_integer_value(v) < 100 ||
          json_integer_value(v) > 599)
        return dfail(c, 1, field,
                     "expected an HTTP status code from 100 to 599; write "
                     "e.g. \"status\": 200");
      e->status = (uint32_t)json_integer_value(v);
    } else if (strcmp(key, "exact") == 0 || strcmp(key, "exact_base64") == 0) {
      int b64 = strcmp(key, "exact_base64") == 0;
      if (!json_is_string(v))
        return dfail(c, 1, field, "expected a string, got %s; write e.g. %s",
                     json_kind(v),
                     b64 ? "\"exact_base64\": \"aGVsbG8=\""
                         : "\"exact\": \"hello\"");
      if (b64) {
        rc = decode_base64(json_string_value(v), json_string_length(v),
                           &e->exact);
        if (rc == SBX_EINVAL)
          return dfail(c, 1, field,
                       "not valid base64; use the standard alphabet "
                       "(A-Z a-z 0-9 + /) with = padding");
      } else {
        rc = copy_bytes(json_string_value(v), json_string_length(v), &e->exact);
      }
      if (rc != 0)
        return rc;
    } else if (strcmp(key, "sha256") == 0) {
      const char *h = json_is_string(v) ? json_string_value(v) : NULL;
      uint8_t *d;
      if (h == NULL || json_string_length(v) != 64)
        goto bad_sha;
      for (size_t i = 0; i < 64; i++)
        if (hex_nibble(h[i]) < 0)
          goto bad_sha;
      d = malloc(32);
      if (d == NULL)
        return SBX_ENOMEM;
      for (size_t i = 0; i < 32; i++)
        d[i] = (uint8_t)(hex_nibble(h[2 * i]) << 4 | hex_nibble(h[2 * i + 1]));
      e->sha256.data = d;
      e->sha256.len = 32;
    } else if (strcmp(key, "json") == 0) {
      size_t n;
      if (!json_is_array(v))
        return dfail(c, 1, field,
                     "expected an array, got %s; write e.g. \"json\": "
                     "[{\"path\": \"a.b\", \"value\": 1}]",
                     json_kind(v));
      n = json_array_size(v);
      if (n == 0)
        continue;
      e->json = calloc(n, sizeof(*e->json));
      if (e->json == NULL)
        return SBX_ENOMEM;
      for (size_t i = 0; i < n; i++) {
        rc = parse_json_field(c, i, json_array_get(v, i), &e->json[i]);
        if (rc != 0)
          return rc;
        e->n_json++;
      }
    } else if (strcmp(key, "label") == 0) {
      if (!json_is_string(v) || json_string_length(v) == 0 ||
          json_string_length(v) > LABEL_MAX ||
          has_control(json_string_value(v), json_string_length(v)))
        return dfail(c, 1, field,
                     "expected a non-empty label of at most %d bytes "
                     "without control characters; write e.g. "
                     "\"label\": \"spam\"",
                     LABEL_MAX);
      if (set_string(&e->label, json_string_value(v)) != 0)
        return SBX_ENOMEM;
    } else { /* number */
      if (!json_is_number(v))
        return dfail(c, 1, field,
                     "expected a number, got %s; write e.g. "
                     "\"number\": 3.5",
                     json_kind(v));
      e->number = json_number_value(v);
      e->has_number = 1;
    }
  }
  return 0;
bad_sha:
  return dfail(c, 1, "expect.sha256",
               "expected 64 hexadecimal digits; write the SHA-256 of the "
               "expected body, e.g. from sha256sum");
}

/* Builds one case from obj. On success *out owns it. */
static int parse_case(struct dctx *c, json_t *obj, Sbx__V1__Case **out) {
  static const char *const keys[] = {
      "id", "input", "input_base64", "path", "arrival_offset_us", "expect"};
  Sbx__V1__Case *k = NULL;
  const char *key, *id;
  char hint[200], q[96];
  json_t *v;
  size_t first;
  int rc;

  v = json_object_get(obj, "id");
  if (v == NULL)
    return dfail(c, 1, "id",
                 "missing; give every case a unique id, e.g. \"id\": \"c1\"");
  if (!json_is_string(v))
    return dfail(c, 1, "id",
                 "expected a string, got %s; write e.g. \"id\": \"c1\"",
                 json_kind(v));
  id = json_string_value(v);
  if (json_string_length(v) == 0 || json_string_length(v) > ID_MAX ||
      has_control(id, json_string_length(v)))
    return dfail(c, 1, "id",
                 "must be 1 to %d bytes without control characters; write "
                 "e.g. \"id\": \"c1\"",
                 ID_MAX);
  first = idset_add(c, id, c->n, &rc);
  if (rc != 0)
    return rc;
  c->id = id;
  if (first != SIZE_MAX)
    return dfail(c, 1, "id",
                 "duplicate id, first used on line %zu; give each case its "
                 "own id",
                 c->lines[first]);

  rc = SBX_ENOMEM;
  k = malloc(sizeof(*k));
  if (k == NULL)
    goto out;
  sbx__v1__case__init(k);
  k->expect = malloc(sizeof(*k->expect));
  if (k->expect == NULL)
    goto out;
  sbx__v1__expectation__init(k->expect);
  if (set_string(&k->id, id) != 0 || set_string(&k->path, "") != 0 ||
      set_string(&k->expect->label, "") != 0)
    goto out;

  if (json_object_get(obj, "input") != NULL &&
      json_object_get(obj, "input_base64") != NULL) {
    rc = dfail(c, 1, "input_base64",
               "conflicts with \"input\"; keep only one of input or "
               "input_base64");
    goto out;
  }
  json_object_foreach(obj, key, v) {
    if (strcmp(key, "id") == 0) {
      continue;
    } else if (strcmp(key, "input") == 0) {
      if (!json_is_string(v)) {
        rc = dfail(c, 1, key,
                   "expected a string, got %s; for binary bodies use "
                   "\"input_base64\"",
                   json_kind(v));
        goto out;
      }
      rc = copy_bytes(json_string_value(v), json_string_length(v), &k->input);
      if (rc != 0)
        goto out;
    } else if (strcmp(key, "input_base64") == 0) {
      rc = json_is_string(v) ? decode_base64(json_string_value(v),
                                             json_string_length(v), &k->input)
                             : SBX_EINVAL;
      if (rc == SBX_EINVAL)
        rc = dfail(c, 1, key,
                   "not valid base64; use the standard alphabet "
                   "(A-Z a-z 0-9 + /) with = padding, as a JSON string");
      if (rc != 0)
        goto out;
    } else if (strcmp(key, "path") == 0) {
      const char *p = json_is_string(v) ? json_string_value(v) : NULL;
      size_t n = p != NULL ? json_string_length(v) : 0;
      int ok = p != NULL && n > 0 && n <= 8192 && p[0] == '/';
      for (size_t i = 0; ok && i < n; i++)
        if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f)
          ok = 0;
      if (!ok) {
        if (p != NULL)
          sbx_format_quoted(p, n, q, sizeof(q));
        rc = dfail(c, 1, key,
                   "expected an HTTP path starting with \"/\" without "
                   "spaces or control characters, got %s; percent-encode "
                   "them, e.g. \"/a%%20b\"",
                   p != NULL ? q : json_kind(v));
        goto out;
      }
      if ((rc = set_string(&k->path, p)) != 0)
        goto out;
    } else if (strcmp(key, "arrival_offset_us") == 0) {
      if (!json_is_integer(v) || json_integer_value(v) < 0) {
        rc = dfail(c, 1, key,
                   "expected an integer number of microseconds >= 0 since "
                   "the start of the trace; write e.g. "
                   "\"arrival_offset_us\": 1500");
        goto out;
      }
      k->arrival_offset_us = json_integer_value(v);
      k->has_arrival_offset = 1;
    } else if (strcmp(key, "expect") == 0) {
      if ((rc = parse_expect(c, v, k->expect)) != 0)
        goto out;
    } else if (is_expect_key(key)) {
      rc = dfail(c, 1, NULL,
                 "\"%s\" belongs inside \"expect\"; write "
                 "\"expect\": {\"%s\": ...}",
                 key, key);
      goto out;
    } else {
      unknown_key_hint(key, keys, sizeof(keys) / sizeof(keys[0]), hint,
                       sizeof(hint));
      sbx_format_quoted(key, strlen(key), q, sizeof(q));
      rc = dfail(c, 1, NULL, "unknown key %s; %s", q, hint);
      goto out;
    }
  }
  *out = k;
  k = NULL;
  rc = 0;
out:
  if (k != NULL)
    protobuf_c_message_free_unpacked(&k->base, NULL);
  return rc;
}

static int push_case(struct dctx *c, Sbx__V1__Case *k) {
  if (c->n == c->cap) {
    size_t cap = c->cap == 0 ? 64 : c->cap * 2;
    Sbx__V1__Case **cases;
    size_t *lines;
    if (cap > SBX_DATASET_MAX_CASES)
      cap = SBX_DATASET_MAX_CASES;
    cases = realloc(c->cases, cap * sizeof(*cases));
    if (cases == NULL)
      return SBX_ENOMEM;
    c->cases = cases;
    lines = realloc(c->lines, cap * sizeof(*lines));
    if (lines == NULL)
      return SBX_ENOMEM;
    c->lines = lines;
    c->cap = cap;
  }
  c->cases[c->n] = k;
  c->lines[c->n] = c->line;
  c->n++;
  return 0;
}

static int is_blank(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Splits off the line at *pos (without its newline or a trailing CR) and
 * advances *pos past it. Returns 1 if the line holds a case, 0 if it is
 * blank or a comment. */
static int next_line(const char *buf, size_t len, size_t *pos,
                     const char **line, size_t *n) {
  const char *l = buf + *pos, *nl = memchr(l, '\n', len - *pos);
  size_t k = nl != NULL ? (size_t)(nl - l) : len - *pos, i;

  *pos += k + (nl != NULL ? 1 : 0);
  if (k > 0 && l[k - 1] == '\r')
    k--;
  *line = l;
  *n = k;
  for (i = 0; i < k && is_blank(l[i]); i++)
    ;
  return i < k && l[i] != '#';
}

static size_t skip_bom(const char *buf, size_t len) {
  /* A UTF-8 byte order mark is noise some editors add; not a case. */
  return len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

size_t sbx__dataset_case_line(const char *buf, size_t len, size_t idx) {
  size_t pos, line, seen = 0;

  if (buf == NULL)
    return 1;
  pos = skip_bom(buf, len);
  for (line = 1; pos < len; line++) {
    const char *l;
    size_t n;
    if (next_line(buf, len, &pos, &l, &n) && seen++ == idx)
      return line;
  }
  return 1;
}

int sbx_dataset_parse(const char *file, const char *buf, size_t len,
                      struct sbx_dataset **out, struct sbx_diag *diag) {
  struct dctx c;
  struct sbx_dataset *ds = NULL;
  size_t pos = 0;
  json_t *obj = NULL;
  int rc;

  memset(&c, 0, sizeof(c));
  c.file = file != NULL ? file : "(dataset)";
  c.diag = diag;
  *out = NULL;
  if (sodium_init() < 0) {
    sbx_diag_set(diag, "%s: libsodium failed to initialise", c.file);
    return SBX_ENOMEM;
  }
  if (buf == NULL)
    len = 0;
  pos = skip_bom(buf, len);

  for (c.line = 1; pos < len; c.line++) {
    const char *line;
    size_t n;
    Sbx__V1__Case *k = NULL;
    json_error_t jerr;

    c.id = NULL;
    c.index = c.n;
    if (!next_line(buf, len, &pos, &line, &n))
      continue;
    if (n > SBX_DATASET_MAX_LINE) {
      rc = dfail(&c, 1, NULL,
                 "line is %zu bytes, over the 1 MiB limit; keep large "
                 "payloads out of the dataset or split the case",
                 n);
      goto out;
    }
    if (c.n >= SBX_DATASET_MAX_CASES) {
      rc = dfail(&c, 1, NULL,
                 "more than %d cases; split the scenario or sample the "
                 "dataset",
                 SBX_DATASET_MAX_CASES);
      goto out;
    }
    obj = json_loadb(line, n, JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL && (json_error_code(&jerr) == json_error_out_of_memory ||
                        jerr.text[0] == '\0')) {
      /* jansson says little when an allocation fails; not the file's
       * fault either way. */
      rc = SBX_ENOMEM;
      goto out;
    }
    if (obj == NULL) {
      rc = dfail(&c, jerr.column > 0 ? (size_t)jerr.column : 1, NULL,
                 "invalid JSON: %s; write one JSON object per line", jerr.text);
      goto out;
    }
    if (!json_is_object(obj)) {
      rc = dfail(&c, 1, NULL,
                 "expected a JSON object, got %s; write one object per line, "
                 "e.g. {\"id\": \"c1\", \"input\": \"...\"}",
                 json_kind(obj));
      goto out;
    }
    rc = parse_case(&c, obj, &k);
    if (rc != 0)
      goto out;
    rc = push_case(&c, k);
    if (rc != 0) {
      protobuf_c_message_free_unpacked(&k->base, NULL);
      goto out;
    }
    c.id = NULL;
    json_decref(obj);
    obj = NULL;
  }
  if (c.n == 0) {
    sbx_diag_set(diag,
                 "%s:1:1: cases: dataset is empty; add at least one case, "
                 "one JSON object per line",
                 c.file);
    rc = SBX_EDATASET;
    goto out;
  }

  rc = SBX_ENOMEM;
  ds = calloc(1, sizeof(*ds));
  if (ds == NULL)
    goto out;
  crypto_hash_sha256(ds->sha256, (const unsigned char *)buf,
                     (unsigned long long)len);
  ds->cases = c.cases;
  ds->n_cases = c.n;
  c.cases = NULL;
  c.n = 0;
  *out = ds;
  rc = 0;
out:
  if (rc == SBX_ENOMEM && diag != NULL)
    sbx_diag_set(diag, "%s: out of memory while reading the dataset", c.file);
  json_decref(obj);
  for (size_t i = 0; i < c.n; i++)
    protobuf_c_message_free_unpacked(&c.cases[i]->base, NULL);
  free(c.cases);
  free(c.lines);
  free(c.slots);
  free(c.hashes);
  return rc;
}

int sbx__read_file(const char *path, size_t max, char **buf, size_t *len,
                   struct sbx_diag *diag) {
  struct stat st;
  char *p = NULL;
  size_t got = 0;
  int fd, rc;

  *buf = NULL;
  *len = 0;
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int e = errno;
    sbx_diag_set(diag, "%s: cannot open: %s; check the path", path,
                 strerror(e));
    return e == ENOENT || e == ENOTDIR ? SBX_ENOENT : SBX_EIO;
  }
  rc = SBX_EIO;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    sbx_diag_set(diag, "%s: not a regular file; point at the file itself",
                 path);
    goto out;
  }
  if ((uint64_t)st.st_size > max) {
    sbx_diag_set(diag,
                 "%s: file is %lld bytes, over the %zu byte limit; "
                 "make it smaller",
                 path, (long long)st.st_size, max);
    goto out;
  }
  rc = SBX_ENOMEM;
  p = malloc((size_t)st.st_size + 1);
  if (p == NULL) {
    sbx_diag_set(diag, "%s: out of memory reading %lld bytes", path,
                 (long long)st.st_size);
    goto out;
  }
  /* Read what fstat promised; a file that changes meanwhile is cut there. */
  while (got < (size_t)st.st_size) {
    ssize_t r = read(fd, p + got, (size_t)st.st_size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      sbx_diag_set(diag, "%s: read failed: %s; check the file", path,
                   strerror(errno));
      rc = SBX_EIO;
      goto out;
    }
    if (r == 0)
      break;
    got += (size_t)r;
  }
  p[got] = '\0';
  *buf = p;
  *len = got;
  p = NULL;
  rc = 0;
out:
  free(p);
  close(fd);
  return rc;
}

#define DATASET_MAX_BYTES ((size_t)4 << 30)

int sbx_dataset_load(const char *path, struct sbx_dataset **out,
                     struct sbx_diag *diag) {
  char *buf = NULL;
  size_t len = 0;
  int rc;

  *out = NULL;
  rc = sbx__read_file(path, DATASET_MAX_BYTES, &buf, &len, diag);
  if (rc == 0)
    rc = sbx_dataset_parse(path, buf, len, out, diag);
  free(buf);
  return rc;
}

void sbx_dataset_free(struct sbx_dataset *ds) {
  if (ds == NULL)
    return;
  for (size_t i = 0; i < ds->n_cases; i++)
    if (ds->cases[i] != NULL)
      protobuf_c_message_free_unpacked(&ds->cases[i]->base, NULL);
  free(ds->cases);
  free(ds);
}
