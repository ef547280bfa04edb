/* pbjson.h - the proto3 JSON mapping for protobuf-c messages.
 *
 * protobuf-c has no JSON support, so this module walks a message through its
 * ProtobufCMessageDescriptor and builds the JSON that the proto3 JSON mapping
 * (https://protobuf.dev/programming-guides/json/) prescribes, the same text
 * Go's protojson or Python's json_format produce for it: lowerCamelCase field
 * names, 64-bit integers as decimal strings, enums by value name, bytes as
 * padded standard base64, "NaN"/"Infinity"/"-Infinity" for non-finite
 * floating point. The API serves these documents to clients, and the CI
 * summary (report.c) is one of them.
 *
 * Limits, matching our schema rules (no maps, no well-known types, no proto3
 * `optional`, which protoc-c rejects): map fields come out as arrays of
 * {key, value} entry objects, and google.protobuf.Timestamp/Duration as
 * plain messages.
 *
 * Only the encoder exists for now; the decoder will share the name mapping
 * and the per-field presence rules in pbjson.c.
 */
#ifndef SBX_PBJSON_H
#define SBX_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* Flags for sbx_pbjson_encode() and sbx_pbjson_dumps(). */
enum {
  /* Emit fields that hold their default value too: proto3 scalars as 0,
   * "", false or the first enum value, repeated fields as [], and unset
   * message or proto2 optional fields as null. An unset oneof stays
   * absent, as in protojson's EmitUnpopulated. */
  SBX_PBJSON_EMIT_DEFAULTS = 1u << 0,
  /* Use the field names of the .proto file (snake_case) instead of
   * lowerCamelCase, like protojson's UseProtoNames. */
  SBX_PBJSON_PROTO_NAMES = 1u << 1,
};

/* Messages nested deeper than this are refused (the encoder recurses). */
#define SBX_PBJSON_MAX_DEPTH 100

/* Encodes msg following the proto3 JSON mapping:
 * - field names: lowerCamelCase of the .proto name ("p999_us" -> "p999Us"),
 *   fields in tag order;
 * - fields at their default value are omitted (proto3 scalars at zero, "",
 *   false, empty bytes, NULL messages, repeated fields with no element, unset
 *   oneofs and proto2 optionals without has_) unless flags has
 *   SBX_PBJSON_EMIT_DEFAULTS. A oneof member that is set is always emitted;
 * - 32-bit integers as numbers, 64-bit integers as decimal strings;
 * - float and double as numbers (integral values up to 2^53 as JSON
 *   integers, like protojson), or "NaN", "Infinity", "-Infinity"; floats
 *   are widened through their shortest decimal form, so 0.1f is 0.1;
 * - bytes as standard padded base64;
 * - enums by value name ("VERDICT_PASS"); numbers without a name as numbers;
 * - strings: invalid UTF-8 sequences are replaced with U+FFFD, because a
 *   message from outside may carry any bytes and JSON text must be UTF-8.
 * Returns a new jansson reference (the caller json_decref()s it), or NULL
 * when out of memory, msg is NULL, or nesting exceeds SBX_PBJSON_MAX_DEPTH.
 * msg is not modified. */
json_t *sbx_pbjson_encode(const ProtobufCMessage *msg, unsigned flags);

/* Encodes msg as sbx_pbjson_encode() does and dumps it into a new
 * NUL-terminated string: indented by 2 with a final newline when pretty,
 * compact (no whitespace, no newline) otherwise; keys in tag order. Returns
 * the string, which the caller free()s, or NULL on the same failures as
 * sbx_pbjson_encode(). */
char *sbx_pbjson_dumps(const ProtobufCMessage *msg, unsigned flags, int pretty);

#endif
