/* pbjson.c - proto3 JSON encoding and decoding of protobuf-c messages.
 *
 * The file has three layers. The first knows protobuf-c's memory layout and
 * the proto3 JSON naming and presence rules: json_name_next() and
 * elt_size() serve both directions, field_presence() the encoder. The
 * second is the encoder: one function per JSON shape (message, repeated
 * field, scalar value). The third is the decoder, shaped the same way, which
 * lays messages out and allocates them as protobuf_c_message_unpack() does
 * with the default allocator, so that protobuf_c_message_free_unpacked()
 * frees them.
 */
#include "pbjson.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* ---- layout, names and presence (shared by encoder and decoder) ---- */

/* protoc's ToJsonName one character at a time: returns the next character
 * of the JSON name of the .proto name at *s, or '\0' at its end, and
 * advances *s. Each '_' is dropped and the letter after it upper-cased
 * ("p999_us" -> "p999Us"). The decoder matches keys with it, so encoder and
 * decoder cannot disagree on a name. */
static char json_name_next(const char **s) {
  bool upper = false;
  char c;

  for (; **s == '_'; (*s)++)
    upper = true;
  c = **s;
  if (c == '\0')
    return c;
  (*s)++;
  return upper && c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* Writes the JSON name of f into buf: lowerCamelCase from json_name_next()
 * or, with SBX_PBJSON_PROTO_NAMES, the .proto name unchanged. buf must hold
 * strlen(f->name) + 1 bytes; the JSON name is never longer than the .proto
 * name. */
static void json_name(const ProtobufCFieldDescriptor *f, unsigned flags,
                      char *buf) {
  const char *s = f->name;
  size_t o = 0;
  char c;

  if (flags & SBX_PBJSON_PROTO_NAMES) {
    memcpy(buf, s, strlen(s) + 1);
    return;
  }
  while ((c = json_name_next(&s)) != '\0')
    buf[o++] = c;
  buf[o] = '\0';
}

/* Size of one element of a repeated field of type t in protobuf-c's arrays
 * (the same layout as a singular member). */
static size_t elt_size(ProtobufCType t) {
  switch (t) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    return sizeof(uint32_t);
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    return sizeof(uint64_t);
  case PROTOBUF_C_TYPE_FLOAT:
    return sizeof(float);
  case PROTOBUF_C_TYPE_DOUBLE:
    return sizeof(double);
  case PROTOBUF_C_TYPE_BOOL:
    return sizeof(protobuf_c_boolean);
  case PROTOBUF_C_TYPE_ENUM:
    return sizeof(int);
  case PROTOBUF_C_TYPE_STRING:
    return sizeof(char *);
  case PROTOBUF_C_TYPE_BYTES:
    return sizeof(ProtobufCBinaryData);
  case PROTOBUF_C_TYPE_MESSAGE:
    return sizeof(ProtobufCMessage *);
  }
  return 0;
}

/* How a singular field stands in a message. */
enum presence {
  PRESENCE_SET,     /* emit its value */
  PRESENCE_DEFAULT, /* proto3 scalar at its zero value: emit only on request */
  PRESENCE_UNSET,   /* field with presence, not set: null on request */
  PRESENCE_SKIP,    /* oneof member that is not the chosen one: never */
};

/* Whether a proto3 (LABEL_NONE) member holds its type's zero value. Mirrors
 * protobuf-c's own test, so a field is emitted exactly when the binary
 * encoding would carry it (-0.0 counts as zero there too). */
static bool member_is_zero(const ProtobufCFieldDescriptor *f,
                           const void *member) {
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    return *(const uint32_t *)member == 0;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    return *(const uint64_t *)member == 0;
  case PROTOBUF_C_TYPE_FLOAT:
    return *(const float *)member == 0.0f;
  case PROTOBUF_C_TYPE_DOUBLE:
    return *(const double *)member == 0.0;
  case PROTOBUF_C_TYPE_BOOL:
    return *(const protobuf_c_boolean *)member == 0;
  case PROTOBUF_C_TYPE_ENUM:
    return *(const int *)member == 0;
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(const char *const *)member;
    return s == NULL || s[0] == '\0';
  }
  case PROTOBUF_C_TYPE_BYTES:
    return ((const ProtobufCBinaryData *)member)->len == 0;
  case PROTOBUF_C_TYPE_MESSAGE:
    return *(const void *const *)member == NULL;
  }
  return true;
}

/* Presence of the singular field f of msg (the table in
 * notes/api-conventions.md §2). */
static enum presence field_presence(const ProtobufCMessage *msg,
                                    const ProtobufCFieldDescriptor *f) {
  const char *base = (const char *)msg;
  const void *member = base + f->offset;

  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
    return *(const uint32_t *)(base + f->quantifier_offset) == f->id
               ? PRESENCE_SET
               : PRESENCE_SKIP;
  switch (f->label) {
  case PROTOBUF_C_LABEL_REQUIRED:
    return PRESENCE_SET;
  case PROTOBUF_C_LABEL_OPTIONAL:
    if (f->type == PROTOBUF_C_TYPE_MESSAGE ||
        f->type == PROTOBUF_C_TYPE_STRING) {
      /* protobuf-c keeps no has_ for these: a pointer equal to the default
       * value means "not set", as in its packer. */
      const void *p = *(const void *const *)member;
      return p == NULL || p == f->default_value ? PRESENCE_UNSET : PRESENCE_SET;
    }
    return *(const protobuf_c_boolean *)(base + f->quantifier_offset)
               ? PRESENCE_SET
               : PRESENCE_UNSET;
  case PROTOBUF_C_LABEL_NONE:
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
      return *(const void *const *)member == NULL ? PRESENCE_UNSET
                                                  : PRESENCE_SET;
    return member_is_zero(f, member) ? PRESENCE_DEFAULT : PRESENCE_SET;
  case PROTOBUF_C_LABEL_REPEATED:
    break;
  }
  return PRESENCE_SKIP;
}

/* ---- encoder ---- */

static json_t *encode_message(const ProtobufCMessage *msg, unsigned flags,
                              int depth);

/* Length of the well-formed UTF-8 sequence at s (n bytes left), or 0 if the
 * bytes there are not one (overlong forms, surrogates and code points above
 * U+10FFFF included). */
static size_t utf8_seq_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  unsigned char lo = 0x80, hi = 0xBF;
  size_t len, i;

  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4;
  else
    return 0;
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
  for (i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xBF)
      return 0;
  return len;
}

/* A JSON string of the NUL-terminated s (NULL reads as ""), each byte that
 * is not part of well-formed UTF-8 replaced with U+FFFD. */
static json_t *encode_string(const char *s) {
  static const char repl[] = "\xEF\xBF\xBD";
  const unsigned char *u = (const unsigned char *)s;
  size_t len, i, k, o = 0;
  char *clean;
  json_t *j;

  if (s == NULL)
    return json_string("");
  len = strlen(s);
  for (i = 0; i < len; i += k)
    if ((k = utf8_seq_len(u + i, len - i)) == 0)
      break;
  if (i >= len)
    return json_stringn_nocheck(s, len);
  if (len > (SIZE_MAX - 1) / 3)
    return NULL;
  clean = malloc(len * 3 + 1);
  if (clean == NULL)
    return NULL;
  for (i = 0; i < len; i += k) {
    k = utf8_seq_len(u + i, len - i);
    if (k == 0) {
      memcpy(clean + o, repl, 3);
      o += 3;
      k = 1;
    } else {
      memcpy(clean + o, s + i, k);
      o += k;
    }
  }
  j = json_stringn_nocheck(clean, o);
  free(clean);
  return j;
}

/* Standard padded base64 of b, as a JSON string. */
static json_t *encode_bytes(const ProtobufCBinaryData *b) {
  size_t b64len;
  char *b64;
  json_t *j;

  if (b->len == 0 || b->data == NULL)
    return json_string("");
  if (b->len > SIZE_MAX / 4 * 3 - 3)
    return NULL;
  b64len = sodium_base64_ENCODED_LEN(b->len, sodium_base64_VARIANT_ORIGINAL);
  b64 = malloc(b64len);
  if (b64 == NULL)
    return NULL;
  sodium_bin2base64(b64, b64len, b->data, b->len,
                    sodium_base64_VARIANT_ORIGINAL);
  j = json_stringn_nocheck(b64, strlen(b64));
  free(b64);
  return j;
}

static json_t *encode_double(double v) {
  if (isnan(v))
    return json_string("NaN");
  if (isinf(v))
    return json_string(v > 0 ? "Infinity" : "-Infinity");
  /* Integral values print as integers (10, not 10.0), as protojson does;
   * beyond 2^53 a double no longer holds every integer, so leave those
   * to jansson's exponent form. -0.0 stays a real to keep its sign. */
  if (v == trunc(v) && fabs(v) <= 9007199254740992.0 &&
      !(v == 0.0 && signbit(v)))
    return json_integer((json_int_t)v);
  return json_real(v);
}

/* A float goes through its shortest round-tripping decimal form, so that
 * 0.1f is written 0.1 and not 0.10000000149011612. */
static json_t *encode_float(float v) {
  char buf[32];
  double d = v;
  int prec;

  if (isfinite(v)) {
    for (prec = 1; prec <= 9; prec++) {
      snprintf(buf, sizeof(buf), "%.*g", prec, (double)v);
      if ((float)strtod(buf, NULL) == v) {
        d = strtod(buf, NULL);
        break;
      }
    }
  }
  return encode_double(d);
}

static json_t *encode_enum(const ProtobufCFieldDescriptor *f, int v) {
  const ProtobufCEnumValue *ev =
      f->descriptor != NULL
          ? protobuf_c_enum_descriptor_get_value(
                (const ProtobufCEnumDescriptor *)f->descriptor, v)
          : NULL;
  if (ev != NULL && ev->name != NULL)
    return json_string(ev->name);
  return json_integer(v);
}

/* The JSON of one value of field f stored at member (a singular member or
 * one element of a repeated array). */
static json_t *encode_value(const ProtobufCFieldDescriptor *f,
                            const void *member, unsigned flags, int depth) {
  char buf[24];

  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    return json_integer(*(const int32_t *)member);
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    return json_integer(*(const uint32_t *)member);
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    snprintf(buf, sizeof(buf), "%" PRId64, *(const int64_t *)member);
    return json_string(buf);
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    snprintf(buf, sizeof(buf), "%" PRIu64, *(const uint64_t *)member);
    return json_string(buf);
  case PROTOBUF_C_TYPE_FLOAT:
    return encode_float(*(const float *)member);
  case PROTOBUF_C_TYPE_DOUBLE:
    return encode_double(*(const double *)member);
  case PROTOBUF_C_TYPE_BOOL:
    return json_boolean(*(const protobuf_c_boolean *)member != 0);
  case PROTOBUF_C_TYPE_ENUM:
    return encode_enum(f, *(const int *)member);
  case PROTOBUF_C_TYPE_STRING:
    return encode_string(*(const char *const *)member);
  case PROTOBUF_C_TYPE_BYTES:
    return encode_bytes((const ProtobufCBinaryData *)member);
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)member;
    return sub == NULL ? json_null() : encode_message(sub, flags, depth + 1);
  }
  }
  return json_null();
}

/* The JSON array of the repeated field f of msg (packed or not: protobuf-c
 * stores both the same way). */
static json_t *encode_repeated(const ProtobufCMessage *msg,
                               const ProtobufCFieldDescriptor *f,
                               unsigned flags, int depth) {
  const char *base = (const char *)msg;
  size_t n = *(const size_t *)(base + f->quantifier_offset);
  const char *elts = *(const char *const *)(base + f->offset);
  size_t size = elt_size(f->type), i;
  json_t *arr = json_array();

  if (arr == NULL)
    return NULL;
  if (elts == NULL)
    n = 0;
  for (i = 0; i < n; i++) {
    json_t *v = encode_value(f, elts + i * size, flags, depth);
    if (v == NULL || json_array_append_new(arr, v) != 0) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}

static json_t *encode_message(const ProtobufCMessage *msg, unsigned flags,
                              int depth) {
  const ProtobufCMessageDescriptor *desc = msg->descriptor;
  const bool emit_defaults = (flags & SBX_PBJSON_EMIT_DEFAULTS) != 0;
  char small[128], *name = NULL;
  json_t *obj = NULL, *v = NULL;
  unsigned i;

  if (depth > SBX_PBJSON_MAX_DEPTH || desc == NULL)
    return NULL;
  obj = json_object();
  if (obj == NULL)
    return NULL;
  for (i = 0; i < desc->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &desc->fields[i];
    size_t nlen;

    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      if (*(const size_t *)((const char *)msg + f->quantifier_offset) == 0 &&
          !emit_defaults)
        continue;
      v = encode_repeated(msg, f, flags, depth);
    } else {
      switch (field_presence(msg, f)) {
      case PRESENCE_SET:
        v = encode_value(f, (const char *)msg + f->offset, flags, depth);
        break;
      case PRESENCE_DEFAULT:
        if (!emit_defaults)
          continue;
        v = encode_value(f, (const char *)msg + f->offset, flags, depth);
        break;
      case PRESENCE_UNSET:
        if (!emit_defaults)
          continue;
        v = json_null();
        break;
      case PRESENCE_SKIP:
        continue;
      }
    }
    if (v == NULL)
      goto fail;
    nlen = strlen(f->name);
    name = nlen < sizeof(small) ? small : malloc(nlen + 1);
    if (name == NULL)
      goto fail;
    json_name(f, flags, name);
    if (json_object_set_new_nocheck(obj, name, v) != 0) {
      v = NULL; /* json_object_set_new consumed it even on failure */
      goto fail;
    }
    v = NULL;
    if (name != small)
      free(name);
    name = NULL;
  }
  return obj;

fail:
  if (name != small)
    free(name);
  json_decref(v);
  json_decref(obj);
  return NULL;
}

json_t *sbx_pbjson_encode(const ProtobufCMessage *msg, unsigned flags) {
  if (msg == NULL)
    return NULL;
  return encode_message(msg, flags, 0);
}

char *sbx_pbjson_dumps(const ProtobufCMessage *msg, unsigned flags,
                       int pretty) {
  size_t dflags = pretty ? JSON_INDENT(2) | JSON_PRESERVE_ORDER
                         : JSON_COMPACT | JSON_PRESERVE_ORDER;
  json_t *j = sbx_pbjson_encode(msg, flags);
  char *out = NULL;
  size_t len;

  if (j == NULL)
    return NULL;
  /* json_dumpb into our own buffer: the caller frees with free(), whatever
   * allocator jansson was given. */
  len = json_dumpb(j, NULL, 0, dflags);
  if (len == 0 || len > SIZE_MAX - 2)
    goto out;
  out = malloc(len + 2);
  if (out == NULL)
    goto out;
  if (json_dumpb(j, out, len, dflags) != len) {
    free(out);
    out = NULL;
    goto out;
  }
  if (pretty)
    out[len++] = '\n';
  out[len] = '\0';
out:
  json_decref(j);
  return out;
}

/* ---- decoder ---- */

/* One decode: where its error message goes, and the path to the value
 * being decoded ("StartRunRequest.overrides.rate", "Result.criteria[2]"),
 * made of the keys as the input spells them. */
struct dec {
  struct sbx_diag *diag;
  char path[512];
  size_t plen; /* strlen(path) */
};

/* Appends a segment to the path and returns the length to restore with
 * path_pop(). A path too long for the buffer is cut, never overrun. */
static size_t path_push(struct dec *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static size_t path_push(struct dec *d, const char *fmt, ...) {
  size_t old = d->plen;
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(d->path + d->plen, sizeof(d->path) - d->plen, fmt, ap);
  va_end(ap);
  if (n > 0)
    d->plen = strlen(d->path);
  return old;
}

static void path_pop(struct dec *d, size_t old) {
  d->plen = old;
  d->path[old] = '\0';
}

/* Sets the diag to "PATH: what" and returns SBX_EINVAL. */
static int fail(struct dec *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail(struct dec *d, const char *fmt, ...) {
  char what[sizeof(((struct sbx_diag *)0)->msg)];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  sbx_diag_set(d->diag, "%s: %s", d->path, what);
  return SBX_EINVAL;
}

static int oom(struct dec *d) {
  sbx_diag_set(d->diag, "%s: out of memory", d->path);
  return SBX_ENOMEM;
}

/* Writes s[0..n) into buf as a double-quoted string for a message: at most
 * 40 bytes of it (cut on a UTF-8 character boundary, then "..."), with '"',
 * '\' and control characters escaped, so that a hostile value cannot make
 * the message unreadable or overlong. */
static const char *quote(const char *s, size_t n, char *buf, size_t size) {
  const size_t max = 40;
  size_t i, o = 0, end = n;

  if (end > max) {
    end = max;
    while (end > 0 && ((unsigned char)s[end] & 0xC0) == 0x80)
      end--;
  }
  buf[o++] = '"';
  for (i = 0; i < end && o + 8 < size; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      buf[o++] = '\\';
      buf[o++] = (char)c;
    } else if (c < 0x20 || c == 0x7f) {
      o += (size_t)snprintf(buf + o, size - o, "\\u%04x", c);
    } else {
      buf[o++] = (char)c;
    }
  }
  if (i < n && o + 5 < size) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o++] = '"';
  buf[o] = '\0';
  return buf;
}

/* A short description of a JSON value for "got ..." in a message: the value
 * itself for scalars (strings quoted and cut), "an object" or "an array". */
static const char *describe(const json_t *v, char *buf, size_t size) {
  double r;
  int prec;

  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return quote(json_string_value(v), json_string_length(v), buf, size);
  case JSON_INTEGER:
    snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return buf;
  case JSON_REAL:
    /* shortest form that reads back, so 0.1 is not 0.10000000000000001 */
    r = json_real_value(v);
    for (prec = 1; prec <= 17; prec++) {
      snprintf(buf, size, "%.*g", prec, r);
      if (strtod(buf, NULL) == r)
        break;
    }
    return buf;
  case JSON_TRUE:
    return "true";
  case JSON_FALSE:
    return "false";
  case JSON_NULL:
    return "null";
  }
  return "a value";
}

#define DESC(v) describe((v), vbuf, sizeof(vbuf))

/* Appends name to the comma-separated list in list[0..size), *o being its
 * length; once the next name would not fit, appends ", ..." instead and
 * returns false. size must exceed 6. */
static bool list_add(char *list, size_t size, size_t *o, const char *name) {
  size_t n = strlen(name), sep = *o > 0 ? 2 : 0;

  if (*o + sep + n + 6 > size) {
    memcpy(list + *o, *o > 0 ? ", ..." : "...", *o > 0 ? 6 : 4);
    return false;
  }
  memcpy(list + *o, ", ", sep);
  memcpy(list + *o + sep, name, n + 1);
  *o += sep + n;
  return true;
}

/* The JSON name of f in buf (or its .proto name if that is too long). */
static const char *jname(const ProtobufCFieldDescriptor *f, char *buf,
                         size_t size) {
  if (strlen(f->name) >= size)
    return f->name;
  json_name(f, 0, buf);
  return buf;
}

static const char *type_name(ProtobufCType t) {
  switch (t) {
  case PROTOBUF_C_TYPE_INT32:
    return "int32";
  case PROTOBUF_C_TYPE_SINT32:
    return "sint32";
  case PROTOBUF_C_TYPE_SFIXED32:
    return "sfixed32";
  case PROTOBUF_C_TYPE_UINT32:
    return "uint32";
  case PROTOBUF_C_TYPE_FIXED32:
    return "fixed32";
  case PROTOBUF_C_TYPE_INT64:
    return "int64";
  case PROTOBUF_C_TYPE_SINT64:
    return "sint64";
  case PROTOBUF_C_TYPE_SFIXED64:
    return "sfixed64";
  case PROTOBUF_C_TYPE_UINT64:
    return "uint64";
  case PROTOBUF_C_TYPE_FIXED64:
    return "fixed64";
  case PROTOBUF_C_TYPE_FLOAT:
    return "float";
  case PROTOBUF_C_TYPE_DOUBLE:
    return "double";
  case PROTOBUF_C_TYPE_BOOL:
    return "bool";
  case PROTOBUF_C_TYPE_ENUM:
    return "enum";
  case PROTOBUF_C_TYPE_STRING:
    return "string";
  case PROTOBUF_C_TYPE_BYTES:
    return "bytes";
  case PROTOBUF_C_TYPE_MESSAGE:
    return "message";
  }
  return "?";
}

/* Whether s[0..n) is a number in JSON's grammar (RFC 8259 section 6): no
 * '+', no leading zeros, no bare '.', no whitespace. */
static bool number_syntax(const char *s, size_t n) {
  size_t i = 0, start;

#define DIGIT(k) ((k) < n && s[k] >= '0' && s[k] <= '9')
  if (i < n && s[i] == '-')
    i++;
  if (i < n && s[i] == '0')
    i++;
  else if (DIGIT(i))
    while (DIGIT(i))
      i++;
  else
    return false;
  if (i < n && s[i] == '.') {
    start = ++i;
    while (DIGIT(i))
      i++;
    if (i == start)
      return false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      i++;
    start = i;
    while (DIGIT(i))
      i++;
    if (i == start)
      return false;
  }
#undef DIGIT
  return i == n;
}

/* An integer read from JSON as sign and magnitude, before its range for the
 * field's type is checked (which lets uint64 reach 2^64-1 and int64 reach
 * -2^63 through one representation). */
struct jint {
  bool neg;
  uint64_t mag;
};

enum { NUM_OK, NUM_SYNTAX, NUM_FRACTION, NUM_RANGE };

/* Reads the JSON number text s[0..n) exactly as an integer. Exponents and
 * fractions are allowed when the value is integral ("1e3", "1.0"), as in
 * protojson; the arithmetic is on the decimal digits, so 64-bit values
 * never pass through a double. Returns NUM_OK or why not. */
static int int_from_text(const char *s, size_t n, struct jint *out) {
  const char *ip, *fp = NULL;
  int64_t ni = 0, nf = 0, nd, fz, e10, exp = 0, k;
  size_t i = 0;
  bool eneg = false;

  if (!number_syntax(s, n))
    return NUM_SYNTAX;
  out->neg = s[0] == '-';
  out->mag = 0;
  i = out->neg ? 1 : 0;
  ip = s + i;
  for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
    ni++;
  if (i < n && s[i] == '.') {
    fp = s + ++i;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
      nf++;
  }
  if (i < n) { /* exponent; saturated, any value beyond is out of range */
    i++;
    if (s[i] == '+' || s[i] == '-')
      eneg = s[i++] == '-';
    for (; i < n; i++)
      if (exp < 1000000000)
        exp = exp * 10 + (s[i] - '0');
    if (eneg)
      exp = -exp;
  }
  /* The value is D x 10^e10, D being the integer and fraction digits. */
#define D(k) ((k) < ni ? ip[(k)] : fp[(k)-ni])
  nd = ni + nf;
  e10 = exp - nf;
  for (fz = 0; fz < nd && D(fz) == '0'; fz++)
    ;
  if (fz == nd)
    return NUM_OK; /* zero, whatever the exponent */
  if (e10 < 0) {
    /* the digits shifted out must all be zeros */
    if (-e10 >= nd - fz)
      return NUM_FRACTION;
    for (k = nd + e10; k < nd; k++)
      if (D(k) != '0')
        return NUM_FRACTION;
    nd += e10;
    e10 = 0;
  }
  if (nd - fz + e10 > 20)
    return NUM_RANGE;
  for (k = fz; k < nd; k++) {
    unsigned dg = (unsigned)(D(k) - '0');
    if (out->mag > (UINT64_MAX - dg) / 10)
      return NUM_RANGE;
    out->mag = out->mag * 10 + dg;
  }
#undef D
  for (; e10 > 0; e10--) {
    if (out->mag > UINT64_MAX / 10)
      return NUM_RANGE;
    out->mag *= 10;
  }
  return NUM_OK;
}

/* Reads an integer for field f from a JSON number or a string holding
 * one. */
static int get_jint(struct dec *d, const ProtobufCFieldDescriptor *f,
                    const json_t *v, struct jint *out) {
  char vbuf[64];
  json_int_t iv;
  double r;
  int st = NUM_SYNTAX;

  switch (json_typeof(v)) {
  case JSON_INTEGER:
    iv = json_integer_value(v);
    out->neg = iv < 0;
    out->mag = iv < 0 ? (uint64_t)(-(iv + 1)) + 1 : (uint64_t)iv;
    return 0;
  case JSON_REAL:
    r = json_real_value(v);
    if (!isfinite(r) || r != trunc(r))
      st = NUM_FRACTION;
    else if (fabs(r) >= 18446744073709551616.0)
      st = NUM_RANGE;
    else {
      out->neg = r < 0;
      out->mag = (uint64_t)fabs(r);
      return 0;
    }
    break;
  case JSON_STRING:
    st = int_from_text(json_string_value(v), json_string_length(v), out);
    if (st == NUM_OK)
      return 0;
    break;
  default:
    break;
  }
  if (st == NUM_RANGE)
    return fail(d, "%s is out of range for %s", DESC(v), type_name(f->type));
  if (st == NUM_FRACTION)
    return fail(d, "expected an integer (%s), got %s, which has a fraction",
                type_name(f->type), DESC(v));
  return fail(d,
              "expected an integer (%s: a number or a decimal string), "
              "got %s",
              type_name(f->type), DESC(v));
}

/* Stores j into the integer member of type f->type (an enum's number is an
 * int32), or fails when it does not fit. */
static int store_int(struct dec *d, const ProtobufCFieldDescriptor *f,
                     const json_t *v, const struct jint *j, void *member) {
  char vbuf[64];
  uint64_t lim;
  bool sign = true;

  switch (f->type) {
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    sign = false;
    lim = UINT32_MAX;
    break;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    sign = false;
    lim = UINT64_MAX;
    break;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    lim = INT64_MAX;
    break;
  default: /* 32-bit signed and enums */
    lim = INT32_MAX;
    break;
  }
  /* a signed range reaches one further on the negative side */
  if (j->neg && j->mag != 0 && (!sign || j->mag - 1 > lim))
    return fail(d, "%s is out of range for %s%s", DESC(v), type_name(f->type),
                sign ? "" : ", which cannot be negative");
  if (!j->neg && j->mag > lim)
    return fail(d, "%s is out of range for %s", DESC(v), type_name(f->type));
  switch (f->type) {
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    *(uint32_t *)member = (uint32_t)j->mag;
    break;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    *(uint64_t *)member = j->mag;
    break;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    /* -(mag - 1) - 1 reaches INT64_MIN without overflowing */
    *(int64_t *)member =
        j->neg && j->mag != 0 ? -(int64_t)(j->mag - 1) - 1 : (int64_t)j->mag;
    break;
  case PROTOBUF_C_TYPE_ENUM:
    *(int *)member =
        j->neg && j->mag != 0 ? -(int)(j->mag - 1) - 1 : (int)j->mag;
    break;
  default:
    *(int32_t *)member =
        j->neg && j->mag != 0 ? -(int32_t)(j->mag - 1) - 1 : (int32_t)j->mag;
    break;
  }
  return 0;
}

/* Reads a float or double: a JSON number, "NaN", "Infinity", "-Infinity",
 * or a string holding a JSON number. */
static int get_double(struct dec *d, const ProtobufCFieldDescriptor *f,
                      const json_t *v, double *out) {
  char vbuf[64], *end;
  const char *s;
  size_t n;

  switch (json_typeof(v)) {
  case JSON_INTEGER:
    *out = (double)json_integer_value(v);
    return 0;
  case JSON_REAL:
    *out = json_real_value(v);
    return 0;
  case JSON_STRING:
    s = json_string_value(v);
    n = json_string_length(v);
    if (strcmp(s, "NaN") == 0 && n == 3)
      *out = NAN;
    else if (strcmp(s, "Infinity") == 0 && n == 8)
      *out = INFINITY;
    else if (strcmp(s, "-Infinity") == 0 && n == 9)
      *out = -INFINITY;
    else if (number_syntax(s, n)) {
      /* the syntax check vouches for no NUL and a full strtod parse */
      *out = strtod(s, &end);
      if (isinf(*out))
        return fail(d, "%s is out of range for %s", DESC(v),
                    type_name(f->type));
    } else
      break;
    return 0;
  default:
    break;
  }
  return fail(d,
              "expected a number (%s: a number, a numeric string, \"NaN\", "
              "\"Infinity\" or \"-Infinity\"), got %s",
              type_name(f->type), DESC(v));
}

static int get_enum(struct dec *d, const ProtobufCFieldDescriptor *f,
                    const json_t *v, int *out) {
  const ProtobufCEnumDescriptor *ed = f->descriptor;
  char vbuf[64], names[400] = "";
  struct jint j;
  size_t n, o = 0;
  const char *s;
  unsigned i;
  int rc;

  if (json_is_integer(v) || json_is_real(v)) {
    /* a number, with or without a name: proto3 enums are open */
    rc = get_jint(d, f, v, &j);
    return rc != 0 ? rc : store_int(d, f, v, &j, out);
  }
  if (!json_is_string(v) || ed == NULL)
    return fail(d, "expected an enum value name or number, got %s", DESC(v));
  s = json_string_value(v);
  n = json_string_length(v);
  for (i = 0; i < ed->n_values; i++)
    if (strlen(ed->values[i].name) == n &&
        memcmp(ed->values[i].name, s, n) == 0) {
      *out = ed->values[i].value;
      return 0;
    }
  for (i = 0; i < ed->n_values; i++)
    if (!list_add(names, sizeof(names), &o, ed->values[i].name))
      break;
  return fail(d, "unknown value %s for enum %s; allowed: %s", DESC(v), ed->name,
              names);
}

/* Copies a JSON string into a new C string. protobuf-c strings end at the
 * first NUL, so a string holding one is refused rather than cut. */
static int get_string(struct dec *d, const json_t *v, char **out) {
  const unsigned char *u;
  char vbuf[64], *s;
  size_t n, i, k;

  if (!json_is_string(v))
    return fail(d, "expected a string, got %s", DESC(v));
  n = json_string_length(v);
  u = (const unsigned char *)json_string_value(v);
  if (memchr(u, '\0', n) != NULL)
    return fail(d, "a string cannot hold the NUL character (\\u0000)");
  /* jansson checks what it parses, but a caller's value may have been
   * built with json_stringn_nocheck() */
  for (i = 0; i < n; i += k)
    if ((k = utf8_seq_len(u + i, n - i)) == 0)
      return fail(d, "a string must be valid UTF-8 (bad byte at offset %zu)",
                  i);
  s = malloc(n + 1);
  if (s == NULL)
    return oom(d);
  memcpy(s, u, n + 1);
  *out = s;
  return 0;
}

/* Base64 into bytes: the standard or the URL-safe alphabet (told apart by
 * '-' or '_'), padded or not (told apart by the length), as protojson
 * reads them. Leftover bits must be zero, so each byte string has exactly
 * one encoding per alphabet and padding. */
static int get_bytes(struct dec *d, const json_t *v, ProtobufCBinaryData *out) {
  char vbuf[64];
  const char *s;
  unsigned char *buf;
  size_t n, len = 0, max;
  int variant;

  if (!json_is_string(v))
    return fail(d, "expected a base64 string, got %s", DESC(v));
  s = json_string_value(v);
  n = json_string_length(v);
  if (n == 0)
    return 0;
  if (memchr(s, '-', n) != NULL || memchr(s, '_', n) != NULL)
    variant = n % 4 == 0 ? sodium_base64_VARIANT_URLSAFE
                         : sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  else
    variant = n % 4 == 0 ? sodium_base64_VARIANT_ORIGINAL
                         : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
  max = n / 4 * 3 + 3;
  buf = malloc(max);
  if (buf == NULL)
    return oom(d);
  if (sodium_base642bin(buf, max, s, n, NULL, &len, NULL, variant) != 0) {
    free(buf);
    return fail(d,
                "expected base64 (standard or URL-safe alphabet, padding "
                "optional), got %s",
                DESC(v));
  }
  if (len == 0) {
    free(buf);
    return 0;
  }
  out->data = buf;
  out->len = len;
  return 0;
}

/* A new message of type desc, initialised as protobuf-c's unpacker does:
 * with the generated initialiser, or, for a descriptor without one (written
 * by hand), zeroes and the fields' default values. */
static ProtobufCMessage *new_message(const ProtobufCMessageDescriptor *desc) {
  ProtobufCMessage *m = malloc(desc->sizeof_message);
  unsigned i;

  if (m == NULL)
    return NULL;
  if (desc->message_init != NULL) {
    desc->message_init(m);
    return m;
  }
  memset(m, 0, desc->sizeof_message);
  m->descriptor = desc;
  for (i = 0; i < desc->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &desc->fields[i];
    void *member = (char *)m + f->offset;

    if (f->default_value == NULL || f->label == PROTOBUF_C_LABEL_REPEATED ||
        (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
      continue;
    if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
      *(const void **)member = f->default_value;
    else
      memcpy(member, f->default_value, elt_size(f->type));
  }
  return m;
}

static int decode_message(struct dec *d, const json_t *obj,
                          ProtobufCMessage *msg, int depth);

/* Decodes the JSON value v of field f into member (a singular member or one
 * element of a repeated array). Writes member only with a value it owns, so
 * that the message stays freeable at every step. */
static int decode_value(struct dec *d, const ProtobufCFieldDescriptor *f,
                        const json_t *v, void *member, int depth) {
  char vbuf[64];
  struct jint j;
  double r;
  int rc;

  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    rc = get_jint(d, f, v, &j);
    return rc != 0 ? rc : store_int(d, f, v, &j, member);
  case PROTOBUF_C_TYPE_FLOAT:
    rc = get_double(d, f, v, &r);
    if (rc != 0)
      return rc;
    /* Values up to half a unit in the last place above FLT_MAX round to
     * it (the encoder's shortest form of FLT_MAX, 3.4028235e38, is one);
     * they are clamped because C leaves converting them undefined. */
    if (isfinite(r) && fabs(r) >= 0x1.ffffffp127)
      return fail(d, "%s is out of range for float", DESC(v));
    if (isfinite(r) && fabs(r) > FLT_MAX)
      r = copysign(FLT_MAX, r);
    *(float *)member = (float)r;
    return 0;
  case PROTOBUF_C_TYPE_DOUBLE:
    return get_double(d, f, v, (double *)member);
  case PROTOBUF_C_TYPE_BOOL:
    if (!json_is_boolean(v))
      return fail(d, "expected true or false, got %s", DESC(v));
    *(protobuf_c_boolean *)member = json_is_true(v);
    return 0;
  case PROTOBUF_C_TYPE_ENUM:
    return get_enum(d, f, v, (int *)member);
  case PROTOBUF_C_TYPE_STRING:
    return get_string(d, v, (char **)member);
  case PROTOBUF_C_TYPE_BYTES:
    return get_bytes(d, v, (ProtobufCBinaryData *)member);
  case PROTOBUF_C_TYPE_MESSAGE: {
    ProtobufCMessage *sub;

    if (!json_is_object(v))
      return fail(d, "expected an object, got %s", DESC(v));
    if (f->descriptor == NULL)
      return fail(d, "message field without a descriptor");
    sub = new_message(f->descriptor);
    if (sub == NULL)
      return oom(d);
    *(ProtobufCMessage **)member = sub; /* the parent owns it from here */
    return decode_message(d, v, sub, depth + 1);
  }
  }
  return fail(d, "field of unknown type %d", (int)f->type);
}

/* A repeated field from a JSON array. The array is zeroed and counted one
 * element ahead of the one being decoded, so whatever a failure leaves is
 * something protobuf_c_message_free_unpacked() can free. */
static int decode_repeated(struct dec *d, ProtobufCMessage *msg,
                           const ProtobufCFieldDescriptor *f, const json_t *v,
                           int depth) {
  char *base = (char *)msg, *arr, vbuf[64];
  size_t *np = (size_t *)(base + f->quantifier_offset);
  size_t size = elt_size(f->type), n, i, old;
  int rc = 0;

  if (!json_is_array(v))
    return fail(d, "expected an array, got %s", DESC(v));
  n = json_array_size(v);
  if (n == 0)
    return 0;
  if (size == 0)
    return fail(d, "field of unknown type %d", (int)f->type);
  if (n > SIZE_MAX / size)
    return oom(d);
  arr = calloc(n, size);
  if (arr == NULL)
    return oom(d);
  *(void **)(base + f->offset) = arr;
  *np = 0;
  for (i = 0; i < n && rc == 0; i++) {
    const json_t *e = json_array_get(v, i);

    *np = i + 1;
    old = path_push(d, "[%zu]", i);
    if (json_is_null(e))
      rc = fail(d, "null is not allowed as an element of a repeated field");
    else
      rc = decode_value(d, f, e, arr + i * size, depth);
    path_pop(d, old);
  }
  return rc;
}

/* The field of desc that key[0..klen) names, by its .proto name or its JSON
 * name, or NULL. */
static const ProtobufCFieldDescriptor *
find_field(const ProtobufCMessageDescriptor *desc, const char *key,
           size_t klen) {
  unsigned i;

  for (i = 0; i < desc->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &desc->fields[i];
    const char *s = f->name;
    size_t o = 0;
    char c;

    if (strlen(s) == klen && memcmp(s, key, klen) == 0)
      return f;
    while ((c = json_name_next(&s)) != '\0' && o < klen && key[o] == c)
      o++;
    if (c == '\0' && o == klen)
      return f;
  }
  return NULL;
}

static int unknown_field(struct dec *d, const ProtobufCMessageDescriptor *desc,
                         const char *key, size_t klen) {
  char kbuf[64], names[400] = "", one[128];
  size_t o = 0;
  unsigned i;

  for (i = 0; i < desc->n_fields; i++)
    if (!list_add(names, sizeof(names), &o,
                  jname(&desc->fields[i], one, sizeof(one))))
      break;
  return fail(d, "unknown field %s; known fields: %s",
              quote(key, klen, kbuf, sizeof(kbuf)),
              desc->n_fields > 0 ? names : "none");
}

/* Decodes the JSON object obj into msg, a message that new_message() made
 * and whose owner frees it, whatever this returns. */
static int decode_message(struct dec *d, const json_t *obj,
                          ProtobufCMessage *msg, int depth) {
  const ProtobufCMessageDescriptor *desc = msg->descriptor;
  char *base = (char *)msg, vbuf[64], one[128];
  unsigned char *seen = NULL; /* per field: 1 named, 2 named with a value */
  const char *key;
  size_t klen, old;
  json_t *v;
  unsigned i;
  int rc = 0;

  if (depth > SBX_PBJSON_MAX_DEPTH)
    return fail(d, "messages nested deeper than %d levels",
                SBX_PBJSON_MAX_DEPTH);
  if (!json_is_object(obj))
    return fail(d, "expected an object, got %s", DESC(obj));
  seen = calloc(desc->n_fields + 1, 1);
  if (seen == NULL)
    return oom(d);
  json_object_keylen_foreach((json_t *)obj, key, klen, v) {
    const ProtobufCFieldDescriptor *f = find_field(desc, key, klen);
    size_t idx;

    if (f == NULL) {
      rc = unknown_field(d, desc, key, klen);
      goto out;
    }
    idx = (size_t)(f - desc->fields);
    if (seen[idx]) {
      /* the same field under its two names: which one should win? */
      rc =
          fail(d, "one field is given twice, as \"%s\" and \"%s\"",
               strcmp(key, f->name) == 0 ? jname(f, one, sizeof(one)) : f->name,
               key);
      goto out;
    }
    seen[idx] = 1;
    if (json_is_null(v))
      continue; /* null: the default, or unset */
    seen[idx] = 2;
    old = path_push(d, ".%s", key);
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      rc = decode_repeated(d, msg, f, v, depth);
    } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      uint32_t *which = (uint32_t *)(base + f->quantifier_offset);

      if (*which != 0) {
        const char *other = "?";
        for (i = 0; i < desc->n_fields; i++)
          if (desc->fields[i].id == *which)
            other = jname(&desc->fields[i], one, sizeof(one));
        rc = fail(d,
                  "\"%s\" and \"%s\" belong to the same oneof; give at "
                  "most one of them",
                  other, key);
      } else {
        /* the case first: free_unpacked frees only the chosen member */
        *which = f->id;
        rc = decode_value(d, f, v, base + f->offset, depth);
      }
    } else {
      rc = decode_value(d, f, v, base + f->offset, depth);
      if (rc == 0 && f->label == PROTOBUF_C_LABEL_OPTIONAL &&
          f->type != PROTOBUF_C_TYPE_STRING &&
          f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    }
    path_pop(d, old);
    if (rc != 0)
      goto out;
  }
  for (i = 0; i < desc->n_fields; i++)
    if (desc->fields[i].label == PROTOBUF_C_LABEL_REQUIRED && seen[i] != 2) {
      rc = fail(d, "missing required field \"%s\"",
                jname(&desc->fields[i], one, sizeof(one)));
      goto out;
    }
out:
  free(seen);
  return rc;
}

int sbx_pbjson_decode_value(const ProtobufCMessageDescriptor *desc, json_t *v,
                            ProtobufCMessage **out, struct sbx_diag *diag) {
  struct dec d = {.diag = diag};
  ProtobufCMessage *msg = NULL;
  char vbuf[64];
  int rc;

  if (out != NULL)
    *out = NULL;
  if (desc == NULL || desc->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC ||
      v == NULL || out == NULL) {
    sbx_diag_set(diag, "sbx_pbjson_decode: invalid arguments");
    return SBX_EINVAL;
  }
  path_push(&d, "%s", desc->short_name);
  if (!json_is_object(v))
    return fail(&d, "expected a JSON object, got %s", DESC(v));
  msg = new_message(desc);
  if (msg == NULL)
    return oom(&d);
  rc = decode_message(&d, v, msg, 0);
  if (rc != 0) {
    protobuf_c_message_free_unpacked(msg, NULL);
    return rc;
  }
  *out = msg;
  return 0;
}

int sbx_pbjson_decode(const ProtobufCMessageDescriptor *desc, const char *json,
                      size_t len, ProtobufCMessage **out,
                      struct sbx_diag *diag) {
  json_error_t err;
  json_t *root;
  int rc;

  if (out != NULL)
    *out = NULL;
  if (desc == NULL || desc->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC ||
      (json == NULL && len > 0) || out == NULL) {
    sbx_diag_set(diag, "sbx_pbjson_decode: invalid arguments");
    return SBX_EINVAL;
  }
  /* JSON_DECODE_ANY: a scalar at the top gets our "expected a JSON object"
   * rather than jansson's less helpful complaint. */
  root = json_loadb(json != NULL ? json : "", len,
                    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
  if (root == NULL) {
    if (json_error_code(&err) == json_error_out_of_memory) {
      sbx_diag_set(diag, "%s: out of memory", desc->short_name);
      return SBX_ENOMEM;
    }
    sbx_diag_set(diag, "%s: invalid JSON at line %d, column %d: %s%s",
                 desc->short_name, err.line, err.column, err.text,
                 json_error_code(&err) == json_error_numeric_overflow &&
                         strstr(err.text, "integer") != NULL
                     ? "; write 64-bit integers as decimal strings, e.g. "
                       "\"18446744073709551615\""
                     : "");
    return SBX_EINVAL;
  }
  rc = sbx_pbjson_decode_value(desc, root, out, diag);
  json_decref(root);
  return rc;
}
