/* pbjson.c - proto3 JSON encoding of protobuf-c messages.
 *
 * The file has two layers. The first knows protobuf-c's memory layout and
 * the proto3 JSON naming and presence rules, and is meant to serve the
 * decoder as well: json_name(), elt_size(), field_presence(). The second is
 * the encoder proper: one function per JSON shape (message, repeated field,
 * scalar value).
 */
#include "pbjson.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* ---- layout, names and presence (shared with the future decoder) ---- */

/* Writes the JSON name of f into buf: protoc's ToJsonName (drop each '_'
 * and upper-case the letter after it) or, with SBX_PBJSON_PROTO_NAMES, the
 * .proto name unchanged. buf must hold strlen(f->name) + 1 bytes; the JSON
 * name is never longer than the .proto name. */
static void json_name(const ProtobufCFieldDescriptor *f, unsigned flags,
                      char *buf) {
  const char *s = f->name;
  size_t o = 0;
  bool upper = false;

  if (flags & SBX_PBJSON_PROTO_NAMES) {
    memcpy(buf, s, strlen(s) + 1);
    return;
  }
  for (; *s != '\0'; s++) {
    if (*s == '_') {
      upper = true;
      continue;
    }
    if (upper && *s >= 'a' && *s <= 'z')
      buf[o++] = (char)(*s - 'a' + 'A');
    else
      buf[o++] = *s;
    upper = false;
  }
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
