/* pbjson.h - the proto3 JSON mapping for protobuf-c messages.
 *
 * protobuf-c has no JSON support, so this module walks a message through its
 * ProtobufCMessageDescriptor, both ways. The encoder builds the JSON that the
 * proto3 JSON mapping (https://protobuf.dev/programming-guides/json/)
 * prescribes, the same text Go's protojson or Python's json_format produce
 * for it: lowerCamelCase field names, 64-bit integers as decimal strings,
 * enums by value name, bytes as padded standard base64,
 * "NaN"/"Infinity"/"-Infinity" for non-finite floating point. The API
 * serves these documents to clients, and the CI summary (report.c) is one
 * of them. The decoder reads what clients send: the same mapping, with the
 * leniency the specification asks of a parser (either field name, 64-bit
 * integers as numbers too, URL-safe or unpadded base64, enums by number),
 * and strictness everywhere else (unknown fields, wrong types, out-of-range
 * numbers and duplicate keys are errors that name the field). Both share
 * one name mapping and protobuf-c's layout rules, so that for every message
 * M, decode(encode(M)) packs to the same bytes as M.
 *
 * Limits, matching our schema rules (no maps, no well-known types, no proto3
 * `optional`, which protoc-c rejects): map fields travel as arrays of
 * {key, value} entry objects, and google.protobuf.Timestamp/Duration as
 * plain messages.
 */
#ifndef SBX_PBJSON_H
#define SBX_PBJSON_H

#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "err.h"

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

/* Messages nested deeper than this are refused, by the encoder and the
 * decoder alike (both recurse); the top-level message is depth 0. */
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

/* Decodes the JSON text json[0..len) (need not be NUL-terminated) into a
 * new message of type desc, following the proto3 JSON mapping:
 * - the text must be one JSON object (nothing after it but whitespace) with
 *   no duplicate key; messages nest at most SBX_PBJSON_MAX_DEPTH deep;
 * - field names: the lowerCamelCase JSON name or the .proto name; an
 *   unknown name, or one field given under both, is an error. null for any
 *   field means "absent" (the default value, no oneof member chosen);
 * - integers: a JSON number or a string holding one ("12", "-3", "1e3"),
 *   which must be integral and in the type's range; above 2^63-1 only a
 *   string carries them (JSON numbers are read as signed 64-bit);
 * - float, double: a number, a numeric string, "NaN", "Infinity" or
 *   "-Infinity"; finite values beyond the type's range are errors;
 * - bool: true or false only;
 * - enums: a value name, exactly as in the .proto, or any int32 number;
 * - strings: any JSON string without U+0000 (which protobuf-c strings
 *   cannot hold); bytes: base64, standard or URL-safe, padded or not;
 * - repeated fields: an array (null is empty), whose elements must not be
 *   null; messages: an object; a oneof: at most one member not null;
 * - proto2 required fields must be present.
 * Returns 0 and stores in *out a message that the caller frees with
 * protobuf_c_message_free_unpacked(*out, NULL), built as protobuf-c's
 * unpacker builds one. Returns SBX_EINVAL with a message in diag that says
 * what and where, e.g.
 *   StartRunRequest.overrides.rate: expected a number (double: ...), got "fast"
 *   GetRunRequest: unknown field "runid"; known fields: runId
 * (the path spells keys as the input did; array elements as "[i]"), or
 * SBX_ENOMEM. On failure *out is NULL and nothing is left allocated. diag
 * may be NULL. */
int sbx_pbjson_decode(const ProtobufCMessageDescriptor *desc, const char *json,
                      size_t len, ProtobufCMessage **out,
                      struct sbx_diag *diag);

/* Decodes the already parsed JSON value v as sbx_pbjson_decode() does (v
 * must be an object). v is only read; the caller keeps its reference. */
int sbx_pbjson_decode_value(const ProtobufCMessageDescriptor *desc, json_t *v,
                            ProtobufCMessage **out, struct sbx_diag *diag);

#endif
