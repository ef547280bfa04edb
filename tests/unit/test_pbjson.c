/* test_pbjson.c - proto3 JSON encoding and decoding of protobuf-c messages.
 *
 * Encoder: messages of the sbx.v1 schema are built by hand and encoded, and
 * the output is compared with exact JSON text (compact, keys sorted, so that
 * the comparison does not depend on field order). Types the schema lacks
 * (float, sint32, fixed, proto2 optional/required, packed) come from a
 * descriptor written by hand in this file.
 *
 * Decoder: rich messages go through encode then decode, under every
 * encoder flag, and must pack to the same bytes as the original; then each
 * rule of the mapping is checked on JSON text, refusals with their exact
 * message. The failure cases leave partly built messages behind on purpose,
 * so that the sanitizer build shows that nothing leaks. */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
#include "sbx/v1/api.pb-c.h"
#include "sbx/v1/result.pb-c.h"
#include "sbx/v1/run.pb-c.h"
#include "sbx/v1/scenario.pb-c.h"
#include "testlib.h"

/* Encodes msg and dumps it compact with sorted keys; "(null)" on failure. */
static char *enc(const ProtobufCMessage *msg, unsigned flags) {
  json_t *j = sbx_pbjson_encode(msg, flags);
  char *s;

  if (j == NULL)
    return strdup("(null)");
  s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(j);
  return s;
}

#define CHECK_ENC(msg, flags, expected)                                        \
  do {                                                                         \
    char *got_ = enc((const ProtobufCMessage *)(msg), (flags));                \
    CHECK_EQ_STR(got_, expected);                                              \
    free(got_);                                                                \
  } while (0)

static void test_case_bytes(void) {
  static uint8_t input[] = {'h', 'e', 'l', 'l', 'o', 0, 0xff};
  static uint8_t digest[] = {0, 1, 2};
  Sbx__V1__Case c = SBX__V1__CASE__INIT;
  Sbx__V1__Expectation e = SBX__V1__EXPECTATION__INIT;
  Sbx__V1__JsonField jf = SBX__V1__JSON_FIELD__INIT;
  Sbx__V1__JsonField *jfs[] = {&jf};

  c.id = "c1";
  c.input.data = input;
  c.input.len = sizeof(input);
  c.path = "/x";
  c.expect = &e;
  c.arrival_offset_us = -5;
  e.status = 200;
  e.sha256.data = digest;
  e.sha256.len = sizeof(digest);
  e.n_json = 1;
  e.json = jfs;
  e.label = "cat";
  jf.path = "a.b";
  jf.value_json = "1";
  jf.tolerance = 0.5;
  CHECK_ENC(&c, 0,
            "{\"arrivalOffsetUs\":\"-5\",\"expect\":{\"json\":[{\"path\":"
            "\"a.b\",\"tolerance\":0.5,\"valueJson\":\"1\"}],\"label\":"
            "\"cat\",\"sha256\":\"AAEC\",\"status\":200},\"id\":\"c1\","
            "\"input\":\"aGVsbG8A/w==\",\"path\":\"/x\"}");

  /* base64 padding: 1, 2 and 3 bytes. */
  c = (Sbx__V1__Case)SBX__V1__CASE__INIT;
  c.input.data = input;
  c.input.len = 1;
  CHECK_ENC(&c, 0, "{\"input\":\"aA==\"}");
  c.input.len = 2;
  CHECK_ENC(&c, 0, "{\"input\":\"aGU=\"}");
  c.input.len = 3;
  CHECK_ENC(&c, 0, "{\"input\":\"aGVs\"}");
}

static void test_result(void) {
  Sbx__V1__Result r = SBX__V1__RESULT__INIT;
  Sbx__V1__Metrics m = SBX__V1__METRICS__INIT;
  Sbx__V1__LatencySummary l = SBX__V1__LATENCY_SUMMARY__INIT;
  Sbx__V1__ErrorCount e1 = SBX__V1__ERROR_COUNT__INIT;
  Sbx__V1__ErrorCount e2 = SBX__V1__ERROR_COUNT__INIT;
  Sbx__V1__ErrorCount *es[] = {&e1, &e2};
  Sbx__V1__Histogram h = SBX__V1__HISTOGRAM__INIT;
  int64_t counts[] = {-3, 5, INT64_MAX};
  Sbx__V1__Criterion c = SBX__V1__CRITERION__INIT;
  Sbx__V1__CriterionOutcome co = SBX__V1__CRITERION_OUTCOME__INIT;
  Sbx__V1__CriterionOutcome *cos[] = {&co};
  char *layers[] = {"uid", "seccomp"};
  static uint8_t dg[] = {0xab, 0x12};

  r.run_id = UINT64_MAX;
  r.scenario = "web-static";
  r.scenario_digest.data = dg;
  r.scenario_digest.len = sizeof(dg);
  r.verdict = SBX__V1__VERDICT__VERDICT_FAIL;
  r.metrics = &m;
  r.n_criteria = 1;
  r.criteria = cos;
  r.score = 0.25;
  r.started_unix_ms = -1;
  r.n_jail_layers = 2;
  r.jail_layers = layers;
  m.requests = 5;
  m.latency = &l;
  m.n_errors_by_class = 2;
  m.errors_by_class = es;
  m.latency_hist = &h;
  l.p99_us = 4800;
  l.mean_us = 1.5;
  e1.error = SBX__V1__ERROR_CLASS__ERROR_CLASS_TIMEOUT;
  e1.count = 3;
  e2.error = (Sbx__V1__ErrorClass)99; /* unknown number: stays a number */
  e2.count = 1;
  h.n_counts = 3;
  h.counts = counts;
  h.significant_figures = 3;
  co.criterion = &c;
  co.measured = 4800;
  co.passed = 1;
  co.measurable = 1;
  c.metric = "latency.p99";
  c.op = SBX__V1__COMPARE_OP__COMPARE_OP_LE;
  c.bound = 50000;
  c.text = "latency.p99 <= 50ms";
  CHECK_ENC(&r, 0,
            "{\"criteria\":[{\"criterion\":{\"bound\":50000,\"metric\":"
            "\"latency.p99\",\"op\":\"COMPARE_OP_LE\",\"text\":\"latency.p99 "
            "<= 50ms\"},\"measurable\":true,\"measured\":4800,\"passed\":"
            "true}],\"jailLayers\":[\"uid\",\"seccomp\"],\"metrics\":{"
            "\"errorsByClass\":[{\"count\":\"3\",\"error\":"
            "\"ERROR_CLASS_TIMEOUT\"},{\"count\":\"1\",\"error\":99}],"
            "\"latency\":{\"meanUs\":1.5,\"p99Us\":\"4800\"},\"latencyHist\":"
            "{\"counts\":[\"-3\",\"5\",\"9223372036854775807\"],"
            "\"significantFigures\":3},\"requests\":\"5\"},\"runId\":"
            "\"18446744073709551615\",\"scenario\":\"web-static\","
            "\"scenarioDigest\":\"qxI=\",\"score\":0.25,\"startedUnixMs\":"
            "\"-1\",\"verdict\":\"VERDICT_FAIL\"}");

  /* Proto names instead of lowerCamelCase. */
  r = (Sbx__V1__Result)SBX__V1__RESULT__INIT;
  r.run_id = 7;
  r.started_unix_ms = INT64_MIN;
  CHECK_ENC(&r, SBX_PBJSON_PROTO_NAMES,
            "{\"run_id\":\"7\",\"started_unix_ms\":\"-9223372036854775808\"}");
}

static void test_oneof(void) {
  Sbx__V1__RunEvent ev = SBX__V1__RUN_EVENT__INIT;
  Sbx__V1__Progress p = SBX__V1__PROGRESS__INIT;
  Sbx__V1__SignedResult sr = SBX__V1__SIGNED_RESULT__INIT;
  Sbx__V1__Signature sig = SBX__V1__SIGNATURE__INIT;
  Sbx__V1__Signature *sigs[] = {&sig};
  static uint8_t payload[] = {0x08, 0x01};

  ev.run_id = 7;
  CHECK_ENC(&ev, 0, "{\"runId\":\"7\"}");
  CHECK_ENC(&ev, SBX_PBJSON_EMIT_DEFAULTS,
            "{\"atUnixMs\":\"0\",\"runId\":\"7\"}");

  ev.event_case = SBX__V1__RUN_EVENT__EVENT_STATE;
  ev.state = SBX__V1__RUN_STATE__RUN_STATE_ERROR;
  CHECK_ENC(&ev, 0, "{\"runId\":\"7\",\"state\":\"RUN_STATE_ERROR\"}");
  /* A oneof member that is set is emitted even at its zero value. */
  ev.state = SBX__V1__RUN_STATE__RUN_STATE_UNSPECIFIED;
  CHECK_ENC(&ev, 0, "{\"runId\":\"7\",\"state\":\"RUN_STATE_UNSPECIFIED\"}");

  ev.event_case = SBX__V1__RUN_EVENT__EVENT_PROGRESS;
  ev.progress = &p;
  CHECK_ENC(&ev, 0, "{\"progress\":{},\"runId\":\"7\"}");
  p.phase = SBX__V1__RUN_STATE__RUN_STATE_MEASURING;
  p.elapsed_s = 2.5;
  p.completed = 1000;
  CHECK_ENC(&ev, 0,
            "{\"progress\":{\"completed\":\"1000\",\"elapsedS\":2.5,\"phase\":"
            "\"RUN_STATE_MEASURING\"},\"runId\":\"7\"}");

  ev.event_case = SBX__V1__RUN_EVENT__EVENT_RESULT;
  ev.result = &sr;
  sr.payload.data = payload;
  sr.payload.len = sizeof(payload);
  sr.payload_type = "application/vnd.sbx.result.v1+proto";
  sr.n_signatures = 1;
  sr.signatures = sigs;
  sig.keyid = "k1";
  CHECK_ENC(&ev, 0,
            "{\"result\":{\"payload\":\"CAE=\",\"payloadType\":"
            "\"application/vnd.sbx.result.v1+proto\",\"signatures\":[{"
            "\"keyid\":\"k1\"}]},\"runId\":\"7\"}");
}

static void test_defaults(void) {
  Sbx__V1__Result r = SBX__V1__RESULT__INIT;
  Sbx__V1__Header h = SBX__V1__HEADER__INIT;
  Sbx__V1__Criterion c = SBX__V1__CRITERION__INIT;
  Sbx__V1__CriterionOutcome co = SBX__V1__CRITERION_OUTCOME__INIT;
  Sbx__V1__ValidityOutcome v = SBX__V1__VALIDITY_OUTCOME__INIT;

  CHECK_ENC(&r, 0, "{}");
  CHECK_ENC(&h, 0, "{}");
  CHECK_ENC(&h, SBX_PBJSON_EMIT_DEFAULTS, "{\"name\":\"\",\"value\":\"\"}");
  h.name = NULL; /* a NULL string reads as "" */
  CHECK_ENC(&h, SBX_PBJSON_EMIT_DEFAULTS, "{\"name\":\"\",\"value\":\"\"}");
  CHECK_ENC(&c, SBX_PBJSON_EMIT_DEFAULTS,
            "{\"bound\":0,\"metric\":\"\",\"op\":\"COMPARE_OP_UNSPECIFIED\","
            "\"text\":\"\"}");
  CHECK_ENC(&co, SBX_PBJSON_EMIT_DEFAULTS,
            "{\"criterion\":null,\"measurable\":false,\"measured\":0,"
            "\"passed\":false}");
  CHECK_ENC(&v, SBX_PBJSON_EMIT_DEFAULTS, "{\"reasons\":[],\"valid\":false}");
  /* Every field of an empty Result appears with EMIT_DEFAULTS. */
  {
    json_t *j = sbx_pbjson_encode(&r.base, SBX_PBJSON_EMIT_DEFAULTS);
    CHECK(j != NULL);
    CHECK_EQ_INT(json_object_size(j), sbx__v1__result__descriptor.n_fields);
    CHECK(json_is_null(json_object_get(j, "metrics")));
    CHECK_EQ_STR(json_string_value(json_object_get(j, "verdict")),
                 "VERDICT_UNSPECIFIED");
    CHECK_EQ_STR(json_string_value(json_object_get(j, "seed")), "0");
    json_decref(j);
  }
}

static void test_doubles(void) {
  Sbx__V1__Metrics m = SBX__V1__METRICS__INIT;
  Sbx__V1__LatencySummary l = SBX__V1__LATENCY_SUMMARY__INIT;
  json_t *j;

  l.mean_us = NAN;
  CHECK_ENC(&l, 0, "{\"meanUs\":\"NaN\"}");
  m.throughput = INFINITY;
  m.error_rate = -INFINITY;
  m.duration_s = 10.0;
  m.accuracy = 1e20;
  m.mae = -2.5;
  CHECK_ENC(&m, 0,
            "{\"accuracy\":1e20,\"durationS\":10,\"errorRate\":"
            "\"-Infinity\",\"mae\":-2.5,\"throughput\":\"Infinity\"}");
  /* 2^53 is still an integer; beyond it jansson's real form. */
  m = (Sbx__V1__Metrics)SBX__V1__METRICS__INIT;
  m.duration_s = 9007199254740992.0;
  CHECK_ENC(&m, 0, "{\"durationS\":9007199254740992}");
  /* -0.0 is a zero for presence, and keeps its sign when emitted. */
  m.duration_s = -0.0;
  CHECK_ENC(&m, 0, "{}");
  j = sbx_pbjson_encode(&m.base, SBX_PBJSON_EMIT_DEFAULTS);
  CHECK(j != NULL && json_is_real(json_object_get(j, "durationS")) &&
        signbit(json_real_value(json_object_get(j, "durationS"))));
  json_decref(j);
  /* Non-integral values round-trip exactly. */
  m.accuracy = 0.982;
  j = sbx_pbjson_encode(&m.base, 0);
  CHECK(j != NULL && json_real_value(json_object_get(j, "accuracy")) == 0.982);
  json_decref(j);
}

static void test_strings(void) {
  Sbx__V1__Header h = SBX__V1__HEADER__INIT;

  /* Invalid UTF-8 becomes U+FFFD; valid multi-byte text passes; quotes and
   * control characters are escaped by jansson. */
  h.name = "a\xff"
           "b\xc3";
  h.value = "\xc2\xb5s \"q\"\n\xed\xa0\x80";
  CHECK_ENC(&h, 0,
            "{\"name\":\"a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\",\"value\":"
            "\"\xc2\xb5s \\\"q\\\"\\n\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"}");
}

static void test_dumps(void) {
  Sbx__V1__Header h = SBX__V1__HEADER__INIT;
  char *s;

  h.value = "b";
  h.name = "a";
  s = sbx_pbjson_dumps(&h.base, 0, 0);
  CHECK_EQ_STR(s, "{\"name\":\"a\",\"value\":\"b\"}");
  free(s);
  s = sbx_pbjson_dumps(&h.base, 0, 1);
  CHECK_EQ_STR(s, "{\n  \"name\": \"a\",\n  \"value\": \"b\"\n}\n");
  free(s);
  CHECK(sbx_pbjson_encode(NULL, 0) == NULL);
  CHECK(sbx_pbjson_dumps(NULL, 0, 1) == NULL);
}

/* ---- every protobuf-c type and label, through a hand-written descriptor */

struct all {
  ProtobufCMessage base;
  int32_t f_int32, f_sint32, f_sfixed32;
  uint32_t f_uint32, f_fixed32;
  int64_t f_int64, f_sint64, f_sfixed64;
  uint64_t f_uint64, f_fixed64;
  float f_float;
  double f_double;
  protobuf_c_boolean f_bool;
  int f_enum;
  char *f_string;
  ProtobufCBinaryData f_bytes;
  ProtobufCMessage *f_msg;
  protobuf_c_boolean has_opt_int32;
  int32_t opt_int32;
  char *opt_string;
  ProtobufCMessage *opt_msg;
  protobuf_c_boolean has_opt_bytes;
  ProtobufCBinaryData opt_bytes;
  int32_t req_int32;
  size_t n_packed_sint32;
  int32_t *packed_sint32;
  size_t n_rep_float;
  float *rep_float;
  size_t n_rep_bool;
  protobuf_c_boolean *rep_bool;
  size_t n_rep_enum;
  int *rep_enum;
  size_t n_rep_fixed64;
  uint64_t *rep_fixed64;
  size_t n_rep_bytes;
  ProtobufCBinaryData *rep_bytes;
  size_t n_rep_msg;
  ProtobufCMessage **rep_msg;
};

#define FLD(name, id, label, type, q, desc, fl)                                \
  {                                                                            \
#name, id, PROTOBUF_C_LABEL_##label, PROTOBUF_C_TYPE_##type, q,            \
        offsetof(struct all, name), desc, NULL, fl, 0, NULL, NULL              \
  }
#define NONE_(name, id, type, desc) FLD(name, id, NONE, type, 0, desc, 0)
#define REP(name, id, type, desc, fl)                                          \
  FLD(name, id, REPEATED, type, offsetof(struct all, n_##name), desc, fl)

static const ProtobufCFieldDescriptor all_fields[] = {
    NONE_(f_int32, 1, INT32, NULL),
    NONE_(f_sint32, 2, SINT32, NULL),
    NONE_(f_sfixed32, 3, SFIXED32, NULL),
    NONE_(f_uint32, 4, UINT32, NULL),
    NONE_(f_fixed32, 5, FIXED32, NULL),
    NONE_(f_int64, 6, INT64, NULL),
    NONE_(f_sint64, 7, SINT64, NULL),
    NONE_(f_sfixed64, 8, SFIXED64, NULL),
    NONE_(f_uint64, 9, UINT64, NULL),
    NONE_(f_fixed64, 10, FIXED64, NULL),
    NONE_(f_float, 11, FLOAT, NULL),
    NONE_(f_double, 12, DOUBLE, NULL),
    NONE_(f_bool, 13, BOOL, NULL),
    NONE_(f_enum, 14, ENUM, &sbx__v1__verdict__descriptor),
    NONE_(f_string, 15, STRING, NULL),
    NONE_(f_bytes, 16, BYTES, NULL),
    NONE_(f_msg, 17, MESSAGE, &sbx__v1__header__descriptor),
    FLD(opt_int32, 20, OPTIONAL, INT32, offsetof(struct all, has_opt_int32),
        NULL, 0),
    FLD(opt_string, 21, OPTIONAL, STRING, 0, NULL, 0),
    FLD(opt_msg, 22, OPTIONAL, MESSAGE, 0, &sbx__v1__header__descriptor, 0),
    FLD(opt_bytes, 23, OPTIONAL, BYTES, offsetof(struct all, has_opt_bytes),
        NULL, 0),
    FLD(req_int32, 24, REQUIRED, INT32, 0, NULL, 0),
    REP(packed_sint32, 30, SINT32, NULL, PROTOBUF_C_FIELD_FLAG_PACKED),
    REP(rep_float, 31, FLOAT, NULL, 0),
    REP(rep_bool, 32, BOOL, NULL, 0),
    REP(rep_enum, 33, ENUM, &sbx__v1__verdict__descriptor, 0),
    REP(rep_fixed64, 34, FIXED64, NULL, 0),
    REP(rep_bytes, 35, BYTES, NULL, 0),
    REP(rep_msg, 36, MESSAGE, &sbx__v1__header__descriptor, 0),
};

static const ProtobufCMessageDescriptor all_desc = {
    PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
    "test.All",
    "All",
    "All",
    "test",
    sizeof(struct all),
    sizeof(all_fields) / sizeof(all_fields[0]),
    all_fields,
    NULL,
    0,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL};

static void test_all_types(void) {
  struct all a;
  Sbx__V1__Header h = SBX__V1__HEADER__INIT;
  ProtobufCMessage *msgs[] = {&h.base, NULL};
  int32_t packed[] = {-1, 0, INT32_MAX};
  float floats[] = {0.1f, 1.5f, NAN};
  protobuf_c_boolean bools[] = {1, 0};
  int enums[] = {SBX__V1__VERDICT__VERDICT_PASS, 42};
  uint64_t f64[] = {UINT64_MAX};
  static uint8_t by[] = {0xfb, 0xff};
  ProtobufCBinaryData bys[] = {{2, by}, {0, NULL}};
  json_t *j;

  memset(&a, 0, sizeof(a));
  a.base.descriptor = &all_desc;
  /* Only the REQUIRED field shows when everything is unset. */
  CHECK_ENC(&a, 0, "{\"reqInt32\":0}");
  CHECK_ENC(&a, SBX_PBJSON_EMIT_DEFAULTS,
            "{\"fBool\":false,\"fBytes\":\"\",\"fDouble\":0,\"fEnum\":"
            "\"VERDICT_UNSPECIFIED\",\"fFixed32\":0,\"fFixed64\":\"0\","
            "\"fFloat\":0,\"fInt32\":0,\"fInt64\":\"0\",\"fMsg\":null,"
            "\"fSfixed32\":0,\"fSfixed64\":\"0\",\"fSint32\":0,\"fSint64\":"
            "\"0\",\"fString\":\"\",\"fUint32\":0,\"fUint64\":\"0\","
            "\"optBytes\":null,\"optInt32\":null,\"optMsg\":null,"
            "\"optString\":null,\"packedSint32\":[],\"repBool\":[],"
            "\"repBytes\":[],\"repEnum\":[],\"repFixed64\":[],\"repFloat\":[],"
            "\"repMsg\":[],\"reqInt32\":0}");

  a.f_int32 = -5;
  a.f_sint32 = INT32_MIN;
  a.f_sfixed32 = -7;
  a.f_uint32 = UINT32_MAX;
  a.f_fixed32 = 9;
  a.f_int64 = INT64_MIN;
  a.f_sint64 = -2;
  a.f_sfixed64 = 3;
  a.f_uint64 = UINT64_MAX;
  a.f_fixed64 = 4;
  a.f_float = 1.5f;
  a.f_double = 0.5;
  a.f_bool = 1;
  a.f_enum = SBX__V1__VERDICT__VERDICT_ERROR;
  a.f_string = "s";
  a.f_bytes.data = by;
  a.f_bytes.len = 2;
  a.f_msg = &h.base;
  a.has_opt_int32 = 1; /* set at zero: emitted, it has presence */
  a.opt_string = "";
  a.opt_msg = &h.base;
  a.has_opt_bytes = 1;
  a.req_int32 = 1;
  a.n_packed_sint32 = 3;
  a.packed_sint32 = packed;
  a.n_rep_float = 3;
  a.rep_float = floats;
  a.n_rep_bool = 2;
  a.rep_bool = bools;
  a.n_rep_enum = 2;
  a.rep_enum = enums;
  a.n_rep_fixed64 = 1;
  a.rep_fixed64 = f64;
  a.n_rep_bytes = 2;
  a.rep_bytes = bys;
  a.n_rep_msg = 2;
  a.rep_msg = msgs;
  CHECK_ENC(&a, 0,
            "{\"fBool\":true,\"fBytes\":\"+/8=\",\"fDouble\":0.5,\"fEnum\":"
            "\"VERDICT_ERROR\",\"fFixed32\":9,\"fFixed64\":\"4\",\"fFloat\":"
            "1.5,\"fInt32\":-5,\"fInt64\":\"-9223372036854775808\","
            "\"fMsg\":{},\"fSfixed32\":-7,\"fSfixed64\":\"3\",\"fSint32\":"
            "-2147483648,\"fSint64\":\"-2\",\"fString\":\"s\",\"fUint32\":"
            "4294967295,\"fUint64\":\"18446744073709551615\",\"optBytes\":"
            "\"\",\"optInt32\":0,\"optMsg\":{},\"optString\":\"\","
            "\"packedSint32\":[-1,0,2147483647],\"repBool\":[true,false],"
            "\"repBytes\":[\"+/8=\",\"\"],\"repEnum\":[\"VERDICT_PASS\",42],"
            "\"repFixed64\":[\"18446744073709551615\"],\"repFloat\":["
            "0.10000000000000001,1.5,\"NaN\"],\"repMsg\":[{},null],"
            "\"reqInt32\":1}");
  /* A float is widened through its shortest decimal form. */
  j = sbx_pbjson_encode(&a.base, 0);
  CHECK(j != NULL && json_real_value(json_array_get(
                         json_object_get(j, "repFloat"), 0)) == 0.1);
  json_decref(j);
}

/* ---- decoder ---- */

/* Packs m into a new buffer (*len bytes). */
static uint8_t *pack(const ProtobufCMessage *m, size_t *len) {
  uint8_t *buf;

  *len = protobuf_c_message_get_packed_size(m);
  buf = malloc(*len + 1);
  if (buf != NULL)
    protobuf_c_message_pack(m, buf);
  return buf;
}

/* Encodes m under every flag combination, compact and pretty, decodes the
 * text and checks that the result packs to m's bytes and encodes to the
 * same text again. */
static void roundtrip_(const ProtobufCMessage *m, int line) {
  static const unsigned flagsets[] = {
      0, SBX_PBJSON_EMIT_DEFAULTS, SBX_PBJSON_PROTO_NAMES,
      SBX_PBJSON_EMIT_DEFAULTS | SBX_PBJSON_PROTO_NAMES};
  size_t want_len, got_len, k;
  uint8_t *want = pack(m, &want_len), *got;
  int pretty;

  for (k = 0; k < sizeof(flagsets) / sizeof(flagsets[0]); k++)
    for (pretty = 0; pretty <= 1; pretty++) {
      char *text = sbx_pbjson_dumps(m, flagsets[k], pretty), *again;
      ProtobufCMessage *out = (ProtobufCMessage *)&out; /* must be reset */
      struct sbx_diag diag = {{0}};
      int rc;

      if (text == NULL) {
        fprintf(stderr, "%s:%d: roundtrip: encode failed\n", __FILE__, line);
        test_failures++;
        continue;
      }
      rc = sbx_pbjson_decode(m->descriptor, text, strlen(text), &out, &diag);
      if (rc != 0 || out == NULL) {
        fprintf(stderr, "%s:%d: roundtrip (flags %u): %s\n  text: %s\n",
                __FILE__, line, flagsets[k], diag.msg, text);
        test_failures++;
        free(text);
        continue;
      }
      got = pack(out, &got_len);
      if (got_len != want_len || memcmp(got, want, want_len) != 0) {
        fprintf(stderr, "%s:%d: roundtrip (flags %u): packs differently\n",
                __FILE__, line, flagsets[k]);
        test_failures++;
      }
      again = sbx_pbjson_dumps(out, flagsets[k], pretty);
      if (again == NULL || strcmp(again, text) != 0) {
        fprintf(stderr,
                "%s:%d: roundtrip (flags %u): re-encodes as\n%s\n"
                "instead of\n%s\n",
                __FILE__, line, flagsets[k], again ? again : "(null)", text);
        test_failures++;
      }
      free(again);
      free(got);
      protobuf_c_message_free_unpacked(out, NULL);
      free(text);
    }
  free(want);
}
#define ROUNDTRIP(m) roundtrip_((const ProtobufCMessage *)(m), __LINE__)

/* Decodes text into a message of type desc; NULL on failure, with the
 * message in *diag. */
static ProtobufCMessage *dec(const ProtobufCMessageDescriptor *desc,
                             const char *text, struct sbx_diag *diag) {
  ProtobufCMessage *out = (ProtobufCMessage *)&out;
  int rc;

  memset(diag, 0, sizeof(*diag));
  rc = sbx_pbjson_decode(desc, text, strlen(text), &out, diag);
  if (rc != 0) {
    CHECK(out == NULL);
    CHECK(diag->msg[0] != '\0');
    CHECK(rc == SBX_EINVAL);
    return NULL;
  }
  CHECK(out != NULL && out->descriptor == desc);
  return out;
}

/* The text must be refused with exactly this message. */
#define CHECK_DEC_ERR(desc, text, expected)                                    \
  do {                                                                         \
    struct sbx_diag d_;                                                        \
    ProtobufCMessage *m_ = dec(&(desc), (text), &d_);                          \
    CHECK(m_ == NULL);                                                         \
    protobuf_c_message_free_unpacked(m_, NULL);                                \
    CHECK_EQ_STR(d_.msg, expected);                                            \
  } while (0)

/* The text must be refused with a message that contains part. */
#define CHECK_DEC_ERR_HAS(desc, text, part)                                    \
  do {                                                                         \
    struct sbx_diag d_;                                                        \
    ProtobufCMessage *m_ = dec(&(desc), (text), &d_);                          \
    CHECK(m_ == NULL);                                                         \
    protobuf_c_message_free_unpacked(m_, NULL);                                \
    if (strstr(d_.msg, (part)) == NULL) {                                      \
      fprintf(stderr, "%s:%d: diag \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, \
              d_.msg, (part));                                                 \
      test_failures++;                                                         \
    }                                                                          \
  } while (0)

static void test_roundtrip_result(void) {
  Sbx__V1__Result r = SBX__V1__RESULT__INIT;
  Sbx__V1__Metrics m = SBX__V1__METRICS__INIT;
  Sbx__V1__LatencySummary l = SBX__V1__LATENCY_SUMMARY__INIT;
  Sbx__V1__ErrorCount e1 = SBX__V1__ERROR_COUNT__INIT;
  Sbx__V1__ErrorCount e2 = SBX__V1__ERROR_COUNT__INIT;
  Sbx__V1__ErrorCount e3 = SBX__V1__ERROR_COUNT__INIT;
  Sbx__V1__ErrorCount *es[] = {&e1, &e2, &e3};
  Sbx__V1__Histogram h = SBX__V1__HISTOGRAM__INIT;
  Sbx__V1__Histogram lag = SBX__V1__HISTOGRAM__INIT;
  int64_t counts[] = {-3, 5, INT64_MAX, INT64_MIN, 0};
  Sbx__V1__ClassScore cs = SBX__V1__CLASS_SCORE__INIT;
  Sbx__V1__ClassScore *css[] = {&cs};
  Sbx__V1__Criterion c1 = SBX__V1__CRITERION__INIT;
  Sbx__V1__Criterion c2 = SBX__V1__CRITERION__INIT;
  Sbx__V1__CriterionOutcome co1 = SBX__V1__CRITERION_OUTCOME__INIT;
  Sbx__V1__CriterionOutcome co2 = SBX__V1__CRITERION_OUTCOME__INIT;
  Sbx__V1__CriterionOutcome co3 = SBX__V1__CRITERION_OUTCOME__INIT;
  Sbx__V1__CriterionOutcome *cos[] = {&co1, &co2, &co3};
  Sbx__V1__ValidityOutcome v = SBX__V1__VALIDITY_OUTCOME__INIT;
  char *reasons[] = {"min duration not met", ""};
  char *layers[] = {"uid", "seccomp", "landlock \xe2\x9c\x93 \"q\"\n\t\\"};
  char *overrides[] = {"rate=500"};
  static uint8_t dg[32], pd[] = {0xfb, 0xff, 0x00};
  unsigned i;

  for (i = 0; i < sizeof(dg); i++)
    dg[i] = (uint8_t)(i * 37 + 1);
  ROUNDTRIP(&r); /* empty */

  r.run_id = UINT64_MAX;
  r.scenario = "web-static";
  r.scenario_version = "1.2.0";
  r.scenario_digest.data = dg;
  r.scenario_digest.len = sizeof(dg);
  r.product = "acme/fast@2";
  r.verdict = SBX__V1__VERDICT__VERDICT_FAIL;
  r.metrics = &m;
  r.n_criteria = 3;
  r.criteria = cos;
  r.validity = &v;
  r.score = 0.1;
  r.harness_version = "0.1.0";
  r.client = "fast";
  r.started_unix_ms = INT64_MIN;
  r.ended_unix_ms = INT64_MAX;
  r.n_jail_layers = 3;
  r.jail_layers = layers;
  r.error_message = "";
  r.load_model = "open";
  r.n_overrides = 1;
  r.overrides = overrides;
  r.seed = 42;
  r.dataset = "private";
  r.match_id = "m-1";
  r.product_digest.data = pd;
  r.product_digest.len = sizeof(pd);
  m.requests = 1000;
  m.completed = 990;
  m.errors = 10;
  m.dropped = 3;
  m.duration_s = 10.000001;
  m.throughput = INFINITY;
  m.error_rate = -INFINITY;
  m.latency = &l;
  m.n_errors_by_class = 3;
  m.errors_by_class = es;
  m.latency_hist = &h;
  m.schedule_lag_hist = &lag; /* present but empty */
  m.target_rate = 1e300;
  m.achieved_rate = 5e-324; /* the smallest subnormal */
  m.accuracy = 0.982;
  m.macro_f1 = NAN;
  m.n_per_class = 1;
  m.per_class = css;
  m.mae = -2.5;
  m.rmse = 1.0 / 3.0;
  m.checked = 7;
  m.cpu_us_per_request = 9007199254740993.0; /* beyond 2^53 */
  m.peak_rss_bytes = (uint64_t)INT64_MAX + 1;
  m.warmup_requests = 1;
  m.schedule_lag_p99_us = -1;
  m.schedule_lag_max_us = 2;
  l.min_us = 1;
  l.p50_us = 2;
  l.p90_us = 3;
  l.p99_us = 4800;
  l.p999_us = 9000;
  l.max_us = INT64_MAX;
  l.mean_us = 1.5;
  e1.error = SBX__V1__ERROR_CLASS__ERROR_CLASS_TIMEOUT;
  e1.count = 3;
  e2.error = (Sbx__V1__ErrorClass)99; /* no name: travels as a number */
  e2.count = 1;
  e3.error = (Sbx__V1__ErrorClass)-7;
  h.lowest_discernible = 1;
  h.highest_trackable = 3600000000;
  h.significant_figures = 3;
  h.n_counts = sizeof(counts) / sizeof(counts[0]);
  h.counts = counts;
  h.total_count = 5;
  h.min = -9;
  h.max = 10;
  h.unit = "us";
  cs.label = "cat";
  cs.precision = 0.5;
  cs.recall = 1;
  cs.f1 = 2.0 / 3.0;
  cs.support = 12;
  co1.criterion = &c1;
  co1.measured = 4800;
  co1.passed = 1;
  co1.measurable = 1;
  co2.criterion = &c2;
  co2.measured = -0.0; /* a zero: dropped, and decoded as +0 */
  /* co3: all defaults, an empty object in the array */
  c1.metric = "latency.p99";
  c1.op = SBX__V1__COMPARE_OP__COMPARE_OP_LE;
  c1.bound = 50000;
  c1.text = "latency.p99 <= 50ms";
  c2.metric = "accuracy";
  c2.op = SBX__V1__COMPARE_OP__COMPARE_OP_GE;
  c2.bound = 0.95;
  v.valid = 0;
  v.n_reasons = 2;
  v.reasons = reasons;
  ROUNDTRIP(&r);
  ROUNDTRIP(&m);
  ROUNDTRIP(&h);
}

static void test_roundtrip_run(void) {
  Sbx__V1__Run run = SBX__V1__RUN__INIT;
  Sbx__V1__Load load = SBX__V1__LOAD__INIT;
  Sbx__V1__LoadOverrides req = SBX__V1__LOAD_OVERRIDES__INIT;
  char *ov[] = {"rate=1000", "seed=7"};
  static uint8_t dg[] = {1, 2, 3, 4, 5};

  ROUNDTRIP(&run);
  run.id = 12345678901234ULL;
  run.scenario = "web-static@1.0.0";
  run.scenario_digest.data = dg;
  run.scenario_digest.len = sizeof(dg);
  run.product = "http://127.0.0.1:8080/";
  run.state = SBX__V1__RUN_STATE__RUN_STATE_INTERRUPTED;
  run.reason = "daemon restarted";
  run.created_unix_ms = 1700000000000;
  run.started_unix_ms = 1700000000001;
  run.ended_unix_ms = 1700000000002;
  run.load = &load;
  run.n_overrides = 2;
  run.overrides = ov;
  run.match_id = "m";
  run.client = "curl";
  run.published = 1;
  run.dataset = "public";
  run.callback_url = "https://example.test/hook?a=1&b=\xc3\xa9";
  run.round = 3;
  run.requested_by = "0123456789abcdef";
  run.requested = &req;
  run.http_client = SBX__V1__HTTP_CLIENT__HTTP_CLIENT_FAST;
  run.vendor = "acme";
  run.queue_position = UINT32_MAX;
  load.model = SBX__V1__LOAD_MODEL__LOAD_MODEL_OPEN;
  load.concurrency = 64;
  load.rate = 2500.5;
  load.spacing = SBX__V1__SPACING__SPACING_POISSON;
  load.warmup_us = 1000000;
  load.min_duration_us = 10000000;
  load.min_cases = 100;
  load.max_duration_us = 60000000;
  load.timeout_us = 500000;
  load.max_in_flight = 1024;
  load.seed = UINT64_MAX - 1;
  req.rate = 1000;
  req.seed = 7;
  req.zero_warmup = 1;
  req.min_cases = 0;
  req.concurrency = 1;
  ROUNDTRIP(&run);
}

static void test_roundtrip_api(void) {
  Sbx__V1__StartRunRequest sr = SBX__V1__START_RUN_REQUEST__INIT;
  Sbx__V1__LoadOverrides ov = SBX__V1__LOAD_OVERRIDES__INIT;
  Sbx__V1__PublishScenarioRequest pub = SBX__V1__PUBLISH_SCENARIO_REQUEST__INIT;
  Sbx__V1__StartMatchRequest sm = SBX__V1__START_MATCH_REQUEST__INIT;
  Sbx__V1__GetResultResponse gr = SBX__V1__GET_RESULT_RESPONSE__INIT;
  Sbx__V1__SignedResult signd = SBX__V1__SIGNED_RESULT__INIT;
  Sbx__V1__Signature sig1 = SBX__V1__SIGNATURE__INIT;
  Sbx__V1__Signature sig2 = SBX__V1__SIGNATURE__INIT;
  Sbx__V1__Signature *sigs[] = {&sig1, &sig2};
  Sbx__V1__Result res = SBX__V1__RESULT__INIT;
  Sbx__V1__GetLeaderboardResponse lb = SBX__V1__GET_LEADERBOARD_RESPONSE__INIT;
  Sbx__V1__LeaderboardEntry le1 = SBX__V1__LEADERBOARD_ENTRY__INIT;
  Sbx__V1__LeaderboardEntry le2 = SBX__V1__LEADERBOARD_ENTRY__INIT;
  Sbx__V1__LeaderboardEntry *les[] = {&le1, &le2};
  Sbx__V1__ResultSummary rs = SBX__V1__RESULT_SUMMARY__INIT;
  Sbx__V1__CreateTokenResponse ct = SBX__V1__CREATE_TOKEN_RESPONSE__INIT;
  Sbx__V1__Token tok = SBX__V1__TOKEN__INIT;
  Sbx__V1__GetRunRequest gq = SBX__V1__GET_RUN_REQUEST__INIT;
  Sbx__V1__GetSigningKeysRequest empty =
      SBX__V1__GET_SIGNING_KEYS_REQUEST__INIT;
  char *products[] = {"a/x@1", "b/y@2", "c/z@3"};
  static uint8_t spec[] = "name: web-static\nversion: 1.0.0\n";
  static uint8_t lib[256], payload[] = {0x08, 0x01, 0x12, 0x00};
  static uint8_t sigbytes[64];
  unsigned i;

  for (i = 0; i < sizeof(lib); i++)
    lib[i] = (uint8_t)i; /* every byte value, + and / among the base64 */
  memset(sigbytes, 0xff, sizeof(sigbytes));

  sr.scenario = "web-static";
  sr.product = "acme/fast@2";
  sr.overrides = &ov;
  sr.dataset = SBX__V1__DATASET_CHOICE__DATASET_PRIVATE;
  sr.callback_url = "http://127.0.0.1:1/cb";
  sr.http_client = SBX__V1__HTTP_CLIENT__HTTP_CLIENT_CURL;
  ov.warmup_us = -1;
  ov.min_duration_us = INT64_MAX;
  ov.rate = 0.001;
  ov.seed = UINT64_MAX;
  ov.concurrency = UINT32_MAX;
  ROUNDTRIP(&sr);

  pub.spec.data = spec;
  pub.spec.len = sizeof(spec) - 1;
  pub.dataset.data = lib;
  pub.dataset.len = sizeof(lib);
  pub.setup.data = lib;
  pub.setup.len = 1;
  pub.private_dataset.data = lib + 1;
  pub.private_dataset.len = 2;
  pub.replace = 1;
  ROUNDTRIP(&pub);

  sm.scenario = "s";
  sm.n_products = 3;
  sm.products = products;
  sm.rounds = 2;
  sm.overrides = &ov;
  sm.dataset = SBX__V1__DATASET_CHOICE__DATASET_PUBLIC;
  ROUNDTRIP(&sm);

  gr.signed_ = &signd;
  gr.result = &res;
  signd.payload.data = payload;
  signd.payload.len = sizeof(payload);
  signd.payload_type = "application/vnd.sbx.result.v1+proto";
  signd.n_signatures = 2;
  signd.signatures = sigs;
  sig1.keyid = "k1";
  sig1.sig.data = sigbytes;
  sig1.sig.len = sizeof(sigbytes);
  res.run_id = 1;
  res.verdict = SBX__V1__VERDICT__VERDICT_PASS;
  ROUNDTRIP(&gr);

  lb.scenario = "s@1";
  lb.score_metric = "latency.p99";
  lb.higher_is_better = 0;
  lb.n_entries = 2;
  lb.entries = les;
  le1.rank = 1;
  le1.tied = 1;
  le1.product = "a/x@1";
  le1.best = &rs;
  le1.runs = 4;
  le1.score_low = 1.25;
  le1.score_high = 1.5;
  le2.rank = 1;
  rs.run_id = 9;
  rs.verdict = SBX__V1__VERDICT__VERDICT_INVALID;
  rs.p99_us = -4;
  rs.published = 1;
  ROUNDTRIP(&lb);

  ct.token = &tok;
  ct.secret = "s3cr3t";
  tok.id = "0123456789abcdef";
  tok.role = SBX__V1__ROLE__ROLE_VENDOR;
  tok.vendor = "acme";
  tok.revoked = 1;
  tok.revoked_unix_ms = 5;
  ROUNDTRIP(&ct);

  gq.run_id = 18446744073709551615ULL;
  ROUNDTRIP(&gq);
  ROUNDTRIP(&empty);
}

static void test_roundtrip_scenario(void) {
  Sbx__V1__Scenario sc = SBX__V1__SCENARIO__INIT;
  Sbx__V1__Interface itf = SBX__V1__INTERFACE__INIT;
  Sbx__V1__Header h1 = SBX__V1__HEADER__INIT, h2 = SBX__V1__HEADER__INIT;
  Sbx__V1__Header *hs[] = {&h1, &h2};
  Sbx__V1__DatasetRef ds = SBX__V1__DATASET_REF__INIT;
  Sbx__V1__Load load = SBX__V1__LOAD__INIT;
  Sbx__V1__Checks ck = SBX__V1__CHECKS__INIT;
  Sbx__V1__Criterion c = SBX__V1__CRITERION__INIT;
  Sbx__V1__Criterion *cs[] = {&c, &c};
  Sbx__V1__Validity va = SBX__V1__VALIDITY__INIT;
  char *labels[] = {"cat", "dog", "\xf0\x9f\x90\x88"};
  char *req_layers[] = {"seccomp"};
  static uint8_t digest[32] = {0xde, 0xad};
  static uint8_t specb[] = "name: x\n";
  static uint8_t setup[] = {0, 0, 0};
  Sbx__V1__Case cas = SBX__V1__CASE__INIT;
  Sbx__V1__Expectation ex = SBX__V1__EXPECTATION__INIT;

  sc.name = "web-static";
  sc.version = "1.0.0";
  sc.title = "Static web";
  sc.description = "Line one\nline two\t\"quoted\" \\ back";
  sc.interface = &itf;
  sc.dataset = &ds;
  sc.load = &load;
  sc.checks = &ck;
  sc.n_criteria = 2;
  sc.criteria = cs;
  sc.validity = &va;
  sc.digest.data = digest;
  sc.digest.len = sizeof(digest);
  sc.score_metric = "latency.p99";
  sc.n_required_layers = 1;
  sc.required_layers = req_layers;
  sc.spec_bytes.data = specb;
  sc.spec_bytes.len = sizeof(specb) - 1;
  sc.setup_bytes.data = setup;
  sc.setup_bytes.len = sizeof(setup);
  itf.kind = SBX__V1__INTERFACE_KIND__INTERFACE_KIND_HTTP;
  itf.method = "POST";
  itf.path = "/items/{id}";
  itf.n_headers = 2;
  itf.headers = hs;
  itf.content_type = "application/json";
  itf.max_body_bytes = 1 << 20;
  itf.http_client = SBX__V1__HTTP_CLIENT__HTTP_CLIENT_AUTO;
  itf.pipeline_depth = 8;
  h1.name = "X-A";
  h1.value = "1";
  h2.name = "X-Empty";
  ds.path = "data/cases.jsonl";
  ds.case_count = 10000000;
  ds.sha256.data = digest;
  ds.sha256.len = 32;
  ds.private_ = 1;
  load.model = SBX__V1__LOAD_MODEL__LOAD_MODEL_CLOSED;
  load.concurrency = 16;
  ck.number_abs_tolerance = 1e-9;
  ck.number_rel_tolerance = 0.01;
  ck.n_labels = 3;
  ck.labels = labels;
  ck.verify_body = 1;
  c.metric = "throughput";
  c.op = SBX__V1__COMPARE_OP__COMPARE_OP_GT;
  c.bound = 5000;
  c.text = "throughput > 5000/s";
  va.max_schedule_lag_p99_us = 1000;
  va.max_rate_deviation = 0.05;
  va.max_dropped_fraction = 0;
  ROUNDTRIP(&sc);

  cas.id = "c1";
  cas.input.data = setup;
  cas.input.len = 1;
  cas.expect = &ex;
  cas.arrival_offset_us = -5;
  cas.has_arrival_offset = 1;
  ex.status = 200;
  ex.number = -0.5;
  ex.has_number = 1;
  ROUNDTRIP(&cas);
}

static void test_roundtrip_oneof(void) {
  Sbx__V1__RunEvent ev = SBX__V1__RUN_EVENT__INIT;
  Sbx__V1__Progress p = SBX__V1__PROGRESS__INIT;
  Sbx__V1__SignedResult sr = SBX__V1__SIGNED_RESULT__INIT;
  struct sbx_diag diag;
  Sbx__V1__RunEvent *got;

  ev.run_id = 7;
  ev.at_unix_ms = -1;
  ROUNDTRIP(&ev);
  ev.event_case = SBX__V1__RUN_EVENT__EVENT_STATE;
  ev.state = SBX__V1__RUN_STATE__RUN_STATE_UNSPECIFIED; /* set at zero */
  ROUNDTRIP(&ev);
  ev.state = SBX__V1__RUN_STATE__RUN_STATE_DONE;
  ROUNDTRIP(&ev);
  ev.event_case = SBX__V1__RUN_EVENT__EVENT_PROGRESS;
  ev.progress = &p;
  ROUNDTRIP(&ev); /* an empty message */
  p.phase = SBX__V1__RUN_STATE__RUN_STATE_MEASURING;
  p.elapsed_s = 2.5;
  p.completed = 3;
  ROUNDTRIP(&ev);
  ev.event_case = SBX__V1__RUN_EVENT__EVENT_RESULT;
  ev.result = &sr;
  ROUNDTRIP(&ev);

  /* null members do not choose; the one with a value does */
  got = (Sbx__V1__RunEvent *)dec(
      &sbx__v1__run_event__descriptor,
      "{\"state\":null,\"progress\":{\"rate\":1},\"result\":null}", &diag);
  CHECK(got != NULL);
  if (got != NULL) {
    CHECK_EQ_INT(got->event_case, SBX__V1__RUN_EVENT__EVENT_PROGRESS);
    CHECK(got->progress != NULL && got->progress->rate == 1);
    protobuf_c_message_free_unpacked(&got->base, NULL);
  }
  got = (Sbx__V1__RunEvent *)dec(&sbx__v1__run_event__descriptor,
                                 "{\"state\":0}", &diag);
  CHECK(got != NULL && got->event_case == SBX__V1__RUN_EVENT__EVENT_STATE &&
        got->state == 0);
  if (got != NULL)
    protobuf_c_message_free_unpacked(&got->base, NULL);

  /* two members: refused, whatever the first one had allocated */
  CHECK_DEC_ERR(sbx__v1__run_event__descriptor,
                "{\"state\":\"RUN_STATE_DONE\",\"progress\":{}}",
                "RunEvent.progress: \"state\" and \"progress\" belong to the "
                "same oneof; give at most one of them");
  CHECK_DEC_ERR(sbx__v1__run_event__descriptor,
                "{\"result\":{\"payload\":\"AAAA\",\"signatures\":[{\"keyid\":"
                "\"k\"}]},\"progress\":{\"phase\":1}}",
                "RunEvent.progress: \"result\" and \"progress\" belong to the "
                "same oneof; give at most one of them");
  /* a member that fails halfway is still freed */
  CHECK_DEC_ERR(sbx__v1__run_event__descriptor,
                "{\"result\":{\"payloadType\":\"t\",\"signatures\":[{\"keyid\":"
                "\"k\"},{\"sig\":\"%%\"}]}}",
                "RunEvent.result.signatures[1].sig: expected base64 (standard "
                "or URL-safe alphabet, padding optional), got \"%%\"");
  CHECK_DEC_ERR(sbx__v1__run_event__descriptor, "{\"state\":\"DONE\"}",
                "RunEvent.state: unknown value \"DONE\" for enum "
                "sbx.v1.RunState; allowed: RUN_STATE_UNSPECIFIED, "
                "RUN_STATE_QUEUED, RUN_STATE_PREPARING, RUN_STATE_WARMUP, "
                "RUN_STATE_MEASURING, RUN_STATE_VERIFYING, RUN_STATE_DONE, "
                "RUN_STATE_ERROR, RUN_STATE_CANCELED, RUN_STATE_INTERRUPTED");
}

static void test_roundtrip_all_types(void) {
  struct all a;
  Sbx__V1__Header h = SBX__V1__HEADER__INIT;
  Sbx__V1__Header h2 = SBX__V1__HEADER__INIT;
  ProtobufCMessage *msgs[] = {&h.base, &h2.base};
  int32_t packed[] = {-1, 0, INT32_MAX, INT32_MIN};
  float floats[] = {0.1f, 1.5f, NAN, -INFINITY, FLT_MAX, FLT_TRUE_MIN, -0.0f};
  protobuf_c_boolean bools[] = {1, 0};
  int enums[] = {SBX__V1__VERDICT__VERDICT_PASS, 42, INT32_MIN};
  uint64_t f64[] = {UINT64_MAX, 0};
  static uint8_t by[] = {0xfb, 0xff};
  ProtobufCBinaryData bys[] = {{2, by}, {0, NULL}, {1, by}};

  memset(&a, 0, sizeof(a));
  a.base.descriptor = &all_desc;
  ROUNDTRIP(&a);
  a.f_int32 = -5;
  a.f_sint32 = INT32_MIN;
  a.f_sfixed32 = -7;
  a.f_uint32 = UINT32_MAX;
  a.f_fixed32 = 9;
  a.f_int64 = INT64_MIN;
  a.f_sint64 = -2;
  a.f_sfixed64 = INT64_MAX;
  a.f_uint64 = UINT64_MAX;
  a.f_fixed64 = 4;
  a.f_float = 3.4028235e38f;
  a.f_double = DBL_MAX;
  a.f_bool = 1;
  a.f_enum = SBX__V1__VERDICT__VERDICT_ERROR;
  a.f_string = "s";
  a.f_bytes.data = by;
  a.f_bytes.len = 2;
  a.f_msg = &h.base;
  a.has_opt_int32 = 1; /* set at zero: it has presence */
  a.opt_string = "";
  a.opt_msg = &h.base;
  a.has_opt_bytes = 1;
  a.req_int32 = -1;
  a.n_packed_sint32 = 4;
  a.packed_sint32 = packed;
  a.n_rep_float = sizeof(floats) / sizeof(floats[0]);
  a.rep_float = floats;
  a.n_rep_bool = 2;
  a.rep_bool = bools;
  a.n_rep_enum = 3;
  a.rep_enum = enums;
  a.n_rep_fixed64 = 2;
  a.rep_fixed64 = f64;
  a.n_rep_bytes = 3;
  a.rep_bytes = bys;
  a.n_rep_msg = 2;
  a.rep_msg = msgs;
  h2.name = "n";
  ROUNDTRIP(&a);
}

static void test_decode_names(void) {
  struct sbx_diag diag;
  Sbx__V1__Result *r;
  Sbx__V1__GetRunRequest *g;

  /* both names, mixed in one document */
  r = (Sbx__V1__Result *)dec(
      &sbx__v1__result__descriptor,
      "{\"runId\":\"3\",\"scenario_version\":\"v\",\"metrics\":{\"latency\":"
      "{\"p999Us\":\"7\",\"p99_us\":8}},\"jail_layers\":[\"a\"],"
      "\"productDigest\":\"AQ==\"}",
      &diag);
  CHECK(r != NULL);
  if (r != NULL) {
    CHECK_EQ_INT(r->run_id, 3);
    CHECK_EQ_STR(r->scenario_version, "v");
    CHECK(r->metrics != NULL && r->metrics->latency != NULL &&
          r->metrics->latency->p999_us == 7 &&
          r->metrics->latency->p99_us == 8);
    CHECK(r->n_jail_layers == 1 && strcmp(r->jail_layers[0], "a") == 0);
    CHECK(r->product_digest.len == 1 && r->product_digest.data[0] == 1);
    /* unset strings keep the shared empty default */
    CHECK(r->scenario == protobuf_c_empty_string);
    CHECK(r->criteria == NULL && r->n_criteria == 0);
    protobuf_c_message_free_unpacked(&r->base, NULL);
  }

  CHECK_DEC_ERR(sbx__v1__get_run_request__descriptor, "{\"runid\":\"1\"}",
                "GetRunRequest: unknown field \"runid\"; known fields: runId");
  CHECK_DEC_ERR(sbx__v1__get_run_request__descriptor, "{\"RunId\":\"1\"}",
                "GetRunRequest: unknown field \"RunId\"; known fields: runId");
  CHECK_DEC_ERR(sbx__v1__get_signing_keys_request__descriptor, "{\"a\":1}",
                "GetSigningKeysRequest: unknown field \"a\"; known fields: "
                "none");
  CHECK_DEC_ERR(sbx__v1__start_run_request__descriptor,
                "{\"overrides\":{\"rat\":1}}",
                "StartRunRequest.overrides: unknown field \"rat\"; known "
                "fields: warmupUs, minDurationUs, maxDurationUs, timeoutUs, "
                "minCases, concurrency, rate, seed, zeroWarmup");
  CHECK_DEC_ERR_HAS(sbx__v1__metrics__descriptor, "{\"x\":1}",
                    "known fields: requests, completed, errors, dropped, ");
  /* a long list is cut */
  {
    static char names[40][32];
    ProtobufCFieldDescriptor fields[40];
    ProtobufCMessageDescriptor many = all_desc;
    struct sbx_diag d;
    unsigned k;

    for (k = 0; k < 40; k++) {
      snprintf(names[k], sizeof(names[k]), "a_rather_long_field_name_%02u", k);
      fields[k] = all_fields[0];
      fields[k].name = names[k];
      fields[k].id = k + 1;
    }
    many.short_name = "Many";
    many.fields = fields;
    many.n_fields = 40;
    CHECK(dec(&many, "{\"x\":1}", &d) == NULL);
    CHECK(strstr(d.msg,
                 "Many: unknown field \"x\"; known fields: "
                 "aRatherLongFieldName00, aRatherLongFieldName01, ") == d.msg);
    CHECK(strlen(d.msg) > 400 && strlen(d.msg) < 460);
    CHECK(strcmp(d.msg + strlen(d.msg) - 5, ", ...") == 0);
    CHECK(dec(&many, "{\"aRatherLongFieldName39\":\"x\"}", &d) == NULL);
    CHECK_EQ_STR(d.msg, "Many.aRatherLongFieldName39: expected an integer "
                        "(int32: a number or a decimal string), got \"x\"");
  }
  /* hostile keys are quoted, escaped and cut */
  CHECK_DEC_ERR(sbx__v1__get_run_request__descriptor,
                "{\"a\\\"\\n\\u0001b\":1}",
                "GetRunRequest: unknown field \"a\\\"\\u000a\\u0001b\"; known "
                "fields: runId");
  CHECK_DEC_ERR_HAS(sbx__v1__get_run_request__descriptor,
                    "{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                    "aaaaaaaaaaaaaaaaaaaa\":1}",
                    "unknown field \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                    "...\"");
  /* a camelCase-looking key that is neither name */
  CHECK_DEC_ERR_HAS(sbx__v1__get_run_request__descriptor, "{\"run_Id\":1}",
                    "unknown field \"run_Id\"");
  CHECK_DEC_ERR_HAS(sbx__v1__get_run_request__descriptor, "{\"runI\":1}",
                    "unknown field \"runI\"");
  CHECK_DEC_ERR_HAS(sbx__v1__get_run_request__descriptor, "{\"runIdd\":1}",
                    "unknown field \"runIdd\"");

  /* one field under both names, and duplicate keys */
  CHECK_DEC_ERR(sbx__v1__get_run_request__descriptor,
                "{\"runId\":\"1\",\"run_id\":\"2\"}",
                "GetRunRequest: one field is given twice, as \"runId\" and "
                "\"run_id\"");
  CHECK_DEC_ERR(sbx__v1__get_run_request__descriptor,
                "{\"run_id\":null,\"runId\":\"2\"}",
                "GetRunRequest: one field is given twice, as \"run_id\" and "
                "\"runId\"");
  CHECK_DEC_ERR(sbx__v1__get_run_request__descriptor,
                "{\"runId\":\"1\",\"runId\":\"1\"}",
                "GetRunRequest: invalid JSON at line 1, column 20: duplicate "
                "object key near '\"runId\"'");

  /* null is "absent" for every kind of field */
  g = (Sbx__V1__GetRunRequest *)dec(&sbx__v1__get_run_request__descriptor,
                                    "{\"runId\":null}", &diag);
  CHECK(g != NULL && g->run_id == 0);
  if (g != NULL)
    protobuf_c_message_free_unpacked(&g->base, NULL);
  r = (Sbx__V1__Result *)dec(
      &sbx__v1__result__descriptor,
      "{\"scenario\":null,\"metrics\":null,\"criteria\":null,\"verdict\":null,"
      "\"scenarioDigest\":null,\"score\":null}",
      &diag);
  CHECK(r != NULL);
  if (r != NULL) {
    CHECK(r->scenario == protobuf_c_empty_string && r->metrics == NULL &&
          r->n_criteria == 0 && r->scenario_digest.data == NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);
  }
}

static void test_decode_integers(void) {
  struct sbx_diag diag;
  struct all *a;

#define ALL_OK(text, field, want)                                              \
  do {                                                                         \
    a = (struct all *)dec(&all_desc, "{\"reqInt32\":0," text "}", &diag);      \
    CHECK(a != NULL);                                                          \
    if (a != NULL) {                                                           \
      if (a->field != (want)) {                                                \
        fprintf(stderr, "%s:%d: %s: got %s wrong\n", __FILE__, __LINE__, text, \
                #field);                                                       \
        test_failures++;                                                       \
      }                                                                        \
      protobuf_c_message_free_unpacked(&a->base, NULL);                        \
    } else                                                                     \
      fprintf(stderr, "  (%s)\n", diag.msg);                                   \
  } while (0)
#define ALL_ERR(text, expected)                                                \
  CHECK_DEC_ERR(all_desc, "{\"reqInt32\":0," text "}", expected)

  /* 32-bit: numbers or strings, within range */
  ALL_OK("\"fInt32\":2147483647", f_int32, INT32_MAX);
  ALL_OK("\"fInt32\":-2147483648", f_int32, INT32_MIN);
  ALL_OK("\"fInt32\":\"-2147483648\"", f_int32, INT32_MIN);
  ALL_OK("\"f_sint32\":\"-0\"", f_sint32, 0);
  ALL_OK("\"fSfixed32\":-0", f_sfixed32, 0);
  ALL_OK("\"fUint32\":4294967295", f_uint32, UINT32_MAX);
  ALL_OK("\"fFixed32\":\"4294967295\"", f_fixed32, UINT32_MAX);
  ALL_OK("\"fUint32\":\"-0\"", f_uint32, 0);
  ALL_ERR("\"fInt32\":2147483648",
          "All.fInt32: 2147483648 is out of range for int32");
  ALL_ERR("\"fInt32\":-2147483649",
          "All.fInt32: -2147483649 is out of range for int32");
  ALL_ERR("\"fSint32\":\"2147483648\"",
          "All.fSint32: \"2147483648\" is out of range for sint32");
  ALL_ERR("\"fUint32\":4294967296",
          "All.fUint32: 4294967296 is out of range for uint32");
  ALL_ERR("\"fUint32\":-1", "All.fUint32: -1 is out of range for uint32, "
                            "which cannot be negative");
  ALL_ERR("\"fFixed32\":\"-1\"", "All.fFixed32: \"-1\" is out of range for "
                                 "fixed32, which cannot be negative");

  /* 64-bit: the whole range, uint64 beyond 2^63 only as a string */
  ALL_OK("\"fInt64\":\"-9223372036854775808\"", f_int64, INT64_MIN);
  ALL_OK("\"fInt64\":-9223372036854775808", f_int64, INT64_MIN);
  ALL_OK("\"fSint64\":\"9223372036854775807\"", f_sint64, INT64_MAX);
  ALL_OK("\"fSfixed64\":9223372036854775807", f_sfixed64, INT64_MAX);
  ALL_OK("\"fUint64\":\"18446744073709551615\"", f_uint64, UINT64_MAX);
  ALL_OK("\"fFixed64\":\"9223372036854775808\"", f_fixed64,
         (uint64_t)INT64_MAX + 1);
  ALL_OK("\"fUint64\":9223372036854775807", f_uint64, (uint64_t)INT64_MAX);
  ALL_ERR("\"fInt64\":\"-9223372036854775809\"",
          "All.fInt64: \"-9223372036854775809\" is out of range for int64");
  ALL_ERR("\"fInt64\":\"9223372036854775808\"",
          "All.fInt64: \"9223372036854775808\" is out of range for int64");
  ALL_ERR("\"fUint64\":\"18446744073709551616\"",
          "All.fUint64: \"18446744073709551616\" is out of range for uint64");
  ALL_ERR("\"fUint64\":\"-1\"", "All.fUint64: \"-1\" is out of range for "
                                "uint64, which cannot be negative");
  ALL_ERR("\"fUint64\":\"99999999999999999999999\"",
          "All.fUint64: \"99999999999999999999999\" is out of range for "
          "uint64");
  CHECK_DEC_ERR(all_desc, "{\"fUint64\":18446744073709551615}",
                "All: invalid JSON at line 1, column 31: too big integer near "
                "'18446744073709551615'; write 64-bit integers as decimal "
                "strings, e.g. \"18446744073709551615\"");

  /* integral exponents and fractions are integers; real fractions not */
  ALL_OK("\"fInt32\":1e3", f_int32, 1000);
  ALL_OK("\"fInt32\":\"1e3\"", f_int32, 1000);
  ALL_OK("\"fInt32\":-2.0", f_int32, -2);
  ALL_OK("\"fInt32\":\"1.0\"", f_int32, 1);
  ALL_OK("\"fInt32\":\"100e-2\"", f_int32, 1);
  ALL_OK("\"fInt32\":\"0.000e99999999999\"", f_int32, 0);
  ALL_OK("\"fUint64\":\"1.8446744073709551615E19\"", f_uint64, UINT64_MAX);
  ALL_OK("\"fInt64\":\"-92233720368547758.08e2\"", f_int64, INT64_MIN);
  ALL_OK("\"fUint64\":1e19", f_uint64, 10000000000000000000ULL);
  ALL_ERR("\"fInt32\":1.5", "All.fInt32: expected an integer (int32), got "
                            "1.5, which has a fraction");
  ALL_ERR("\"fInt64\":\"1.5\"", "All.fInt64: expected an integer (int64), "
                                "got \"1.5\", which has a fraction");
  ALL_ERR("\"fInt64\":\"1e-1\"", "All.fInt64: expected an integer (int64), "
                                 "got \"1e-1\", which has a fraction");
  ALL_ERR("\"fInt64\":\"10e-99999999999999\"",
          "All.fInt64: expected an integer (int64), got "
          "\"10e-99999999999999\", which has a fraction");
  ALL_ERR("\"fInt32\":1e10", "All.fInt32: 1e+10 is out of range for int32");
  ALL_ERR("\"fUint64\":1e20", "All.fUint64: 1e+20 is out of range for uint64");
  ALL_ERR("\"fInt64\":\"1e99999999999\"",
          "All.fInt64: \"1e99999999999\" is out of range for int64");

  /* strings must hold exactly a JSON number */
  ALL_ERR("\"fInt32\":\" 1\"", "All.fInt32: expected an integer (int32: a "
                               "number or a decimal string), got \" 1\"");
  ALL_ERR("\"fInt32\":\"+1\"", "All.fInt32: expected an integer (int32: a "
                               "number or a decimal string), got \"+1\"");
  ALL_ERR("\"fInt32\":\"01\"", "All.fInt32: expected an integer (int32: a "
                               "number or a decimal string), got \"01\"");
  ALL_ERR("\"fInt32\":\"0x10\"", "All.fInt32: expected an integer (int32: a "
                                 "number or a decimal string), got \"0x10\"");
  ALL_ERR("\"fInt32\":\"\"", "All.fInt32: expected an integer (int32: a "
                             "number or a decimal string), got \"\"");
  ALL_ERR("\"fInt32\":\"1.\"", "All.fInt32: expected an integer (int32: a "
                               "number or a decimal string), got \"1.\"");
  ALL_ERR("\"fInt32\":\"1e\"", "All.fInt32: expected an integer (int32: a "
                               "number or a decimal string), got \"1e\"");
  ALL_ERR("\"fInt32\":\"-\"", "All.fInt32: expected an integer (int32: a "
                              "number or a decimal string), got \"-\"");
  ALL_ERR("\"fInt32\":true", "All.fInt32: expected an integer (int32: a "
                             "number or a decimal string), got true");
  ALL_ERR("\"fInt64\":[1]", "All.fInt64: expected an integer (int64: a "
                            "number or a decimal string), got an array");
  ALL_ERR("\"fUint64\":{}", "All.fUint64: expected an integer (uint64: a "
                            "number or a decimal string), got an object");
  ALL_ERR("\"fUint64\":\"00000000000000000000000000000000000000000000000001\"",
          "All.fUint64: expected an integer (uint64: a number or a decimal "
          "string), got \"0000000000000000000000000000000000000000...\"");

  /* the fields of proto2 optional scalars get their has_ */
  a = (struct all *)dec(
      &all_desc, "{\"reqInt32\":1,\"optInt32\":0,\"optBytes\":\"\"}", &diag);
  CHECK(a != NULL && a->has_opt_int32 && a->opt_int32 == 0 &&
        a->has_opt_bytes && a->opt_bytes.len == 0);
  if (a != NULL)
    protobuf_c_message_free_unpacked(&a->base, NULL);
  a = (struct all *)dec(&all_desc, "{\"reqInt32\":1,\"optInt32\":null}", &diag);
  CHECK(a != NULL && !a->has_opt_int32);
  if (a != NULL)
    protobuf_c_message_free_unpacked(&a->base, NULL);
  /* required means present, and not null */
  CHECK_DEC_ERR(all_desc, "{}", "All: missing required field \"reqInt32\"");
  CHECK_DEC_ERR(all_desc, "{\"req_int32\":null}",
                "All: missing required field \"reqInt32\"");
  CHECK_DEC_ERR(all_desc, "{\"fString\":\"x\",\"repMsg\":[{\"name\":\"a\"}]}",
                "All: missing required field \"reqInt32\"");
#undef ALL_OK
#undef ALL_ERR
}

static void test_decode_floats_bools_enums(void) {
  struct sbx_diag diag;
  Sbx__V1__Metrics *m;
  struct all *a;

  m = (Sbx__V1__Metrics *)dec(
      &sbx__v1__metrics__descriptor,
      "{\"durationS\":\"NaN\",\"throughput\":\"Infinity\",\"errorRate\":"
      "\"-Infinity\",\"accuracy\":\"0.5\",\"mae\":\"-2e3\",\"rmse\":7,"
      "\"targetRate\":1.25,\"achievedRate\":-0.0,\"macroF1\":\"1e-400\"}",
      &diag);
  CHECK(m != NULL);
  if (m != NULL) {
    CHECK(isnan(m->duration_s));
    CHECK(isinf(m->throughput) && m->throughput > 0);
    CHECK(isinf(m->error_rate) && m->error_rate < 0);
    CHECK(m->accuracy == 0.5 && m->mae == -2000 && m->rmse == 7);
    CHECK(m->target_rate == 1.25);
    CHECK(m->achieved_rate == 0 && signbit(m->achieved_rate));
    CHECK(m->macro_f1 == 0); /* underflow reads as zero, like strtod */
    protobuf_c_message_free_unpacked(&m->base, NULL);
  }
  CHECK_DEC_ERR(sbx__v1__start_run_request__descriptor,
                "{\"overrides\":{\"rate\":\"fast\"}}",
                "StartRunRequest.overrides.rate: expected a number (double: "
                "a number, a numeric string, \"NaN\", \"Infinity\" or "
                "\"-Infinity\"), got \"fast\"");
  CHECK_DEC_ERR_HAS(sbx__v1__metrics__descriptor, "{\"mae\":\"nan\"}",
                    "Metrics.mae: expected a number");
  CHECK_DEC_ERR_HAS(sbx__v1__metrics__descriptor, "{\"mae\":\"inf\"}",
                    "Metrics.mae: expected a number");
  CHECK_DEC_ERR_HAS(sbx__v1__metrics__descriptor, "{\"mae\":\" 1\"}",
                    "Metrics.mae: expected a number");
  CHECK_DEC_ERR_HAS(sbx__v1__metrics__descriptor, "{\"mae\":true}", "got true");
  CHECK_DEC_ERR(sbx__v1__metrics__descriptor, "{\"mae\":\"1e999\"}",
                "Metrics.mae: \"1e999\" is out of range for double");
  CHECK_DEC_ERR_HAS(sbx__v1__metrics__descriptor, "{\"mae\":1e999}",
                    "Metrics: invalid JSON at line 1, column 12: real number "
                    "overflow");

  a = (struct all *)dec(&all_desc,
                        "{\"reqInt32\":0,\"fFloat\":3.4028234e38,"
                        "\"repFloat\":[0.1,\"-Infinity\",\"1e-50\",16777217]}",
                        &diag);
  CHECK(a != NULL);
  if (a != NULL) {
    CHECK(a->f_float == FLT_MAX);
    CHECK(a->n_rep_float == 4 && a->rep_float[0] == 0.1f &&
          isinf(a->rep_float[1]) && a->rep_float[2] == 0 &&
          a->rep_float[3] == 16777216.0f);
    protobuf_c_message_free_unpacked(&a->base, NULL);
  }
  a = (struct all *)dec(&all_desc,
                        "{\"reqInt32\":0,\"fFloat\":3.40282356e38,\"repFloat"
                        "\":[\"-3.4028235e38\"]}",
                        &diag);
  CHECK(a != NULL && a->f_float == FLT_MAX && a->n_rep_float == 1 &&
        a->rep_float[0] == -FLT_MAX);
  if (a != NULL)
    protobuf_c_message_free_unpacked(&a->base, NULL);
  CHECK_DEC_ERR(all_desc, "{\"reqInt32\":0,\"fFloat\":3.40282357e38}",
                "All.fFloat: 3.40282357e+38 is out of range for float");
  CHECK_DEC_ERR(all_desc, "{\"reqInt32\":0,\"fFloat\":3.5e38}",
                "All.fFloat: 3.5e+38 is out of range for float");
  CHECK_DEC_ERR(all_desc, "{\"reqInt32\":0,\"repFloat\":[1,\"-1e39\"]}",
                "All.repFloat[1]: \"-1e39\" is out of range for float");

  /* bool: the JSON literals only */
  a = (struct all *)dec(&all_desc,
                        "{\"reqInt32\":0,\"fBool\":true,\"repBool\":[false,"
                        "true]}",
                        &diag);
  CHECK(a != NULL && a->f_bool == 1 && a->n_rep_bool == 2 &&
        a->rep_bool[0] == 0 && a->rep_bool[1] == 1);
  if (a != NULL)
    protobuf_c_message_free_unpacked(&a->base, NULL);
  CHECK_DEC_ERR(all_desc, "{\"reqInt32\":0,\"fBool\":\"true\"}",
                "All.fBool: expected true or false, got \"true\"");
  CHECK_DEC_ERR(all_desc, "{\"reqInt32\":0,\"fBool\":1}",
                "All.fBool: expected true or false, got 1");

  /* enums: the exact name, or any int32 number */
  a = (struct all *)dec(&all_desc,
                        "{\"reqInt32\":0,\"fEnum\":\"VERDICT_INVALID\","
                        "\"repEnum\":[2,99,\"-5\",\"VERDICT_PASS\"]}",
                        &diag);
  CHECK(a == NULL); /* "-5": a string must be a name */
  CHECK_EQ_STR(diag.msg, "All.repEnum[2]: unknown value \"-5\" for enum "
                         "sbx.v1.Verdict; allowed: VERDICT_UNSPECIFIED, "
                         "VERDICT_PASS, VERDICT_FAIL, VERDICT_INVALID, "
                         "VERDICT_ERROR");
  a = (struct all *)dec(&all_desc,
                        "{\"reqInt32\":0,\"fEnum\":\"VERDICT_INVALID\","
                        "\"repEnum\":[2,99,-2147483648,\"VERDICT_PASS\"]}",
                        &diag);
  CHECK(a != NULL);
  if (a != NULL) {
    CHECK_EQ_INT(a->f_enum, SBX__V1__VERDICT__VERDICT_INVALID);
    CHECK(a->n_rep_enum == 4 && a->rep_enum[0] == 2 && a->rep_enum[1] == 99 &&
          a->rep_enum[2] == INT32_MIN && a->rep_enum[3] == 1);
    protobuf_c_message_free_unpacked(&a->base, NULL);
  }
  CHECK_DEC_ERR_HAS(all_desc, "{\"reqInt32\":0,\"fEnum\":\"verdict_pass\"}",
                    "All.fEnum: unknown value \"verdict_pass\" for enum "
                    "sbx.v1.Verdict; allowed: VERDICT_UNSPECIFIED, ");
  CHECK_DEC_ERR(all_desc, "{\"reqInt32\":0,\"fEnum\":2147483648}",
                "All.fEnum: 2147483648 is out of range for enum");
  CHECK_DEC_ERR(all_desc, "{\"reqInt32\":0,\"fEnum\":1.5}",
                "All.fEnum: expected an integer (enum), got 1.5, which has a "
                "fraction");
  CHECK_DEC_ERR(all_desc, "{\"reqInt32\":0,\"fEnum\":false}",
                "All.fEnum: expected an enum value name or number, got false");
}

static void test_decode_strings_bytes(void) {
  struct sbx_diag diag;
  struct all *a;
  Sbx__V1__Header *h;
  ProtobufCMessage *out = NULL;
  json_t *j;
  int rc;

  a = (struct all *)dec(
      &all_desc,
      "{\"reqInt32\":0,\"fString\":\"\\u00e9\\ud83d\\ude00\\t\",\"optString\":"
      "\"\",\"fBytes\":\"aGVsbG8=\",\"optBytes\":\"aGVsbG8\",\"repBytes\":["
      "\"-_8=\",\"-_8\",\"+/8=\",\"+/8\",\"\",\"AAAA\"]}",
      &diag);
  CHECK(a != NULL);
  if (a != NULL) {
    CHECK_EQ_STR(a->f_string, "\xc3\xa9\xf0\x9f\x98\x80\t");
    CHECK(a->opt_string != NULL && a->opt_string[0] == '\0');
    CHECK(a->f_bytes.len == 5 && memcmp(a->f_bytes.data, "hello", 5) == 0);
    CHECK(a->has_opt_bytes && a->opt_bytes.len == 5 &&
          memcmp(a->opt_bytes.data, "hello", 5) == 0);
    CHECK_EQ_INT(a->n_rep_bytes, 6);
    if (a->n_rep_bytes == 6) {
      int k;
      for (k = 0; k < 4; k++)
        CHECK(a->rep_bytes[k].len == 2 && a->rep_bytes[k].data[0] == 0xfb &&
              a->rep_bytes[k].data[1] == 0xff);
      CHECK(a->rep_bytes[4].len == 0 && a->rep_bytes[4].data == NULL);
      CHECK(a->rep_bytes[5].len == 3 && a->rep_bytes[5].data[0] == 0);
    }
    protobuf_c_message_free_unpacked(&a->base, NULL);
  }
#define BAD_B64(text, shown)                                                   \
  CHECK_DEC_ERR(all_desc, "{\"reqInt32\":0,\"fBytes\":" text "}",              \
                "All.fBytes: expected base64 (standard or URL-safe alphabet, " \
                "padding optional), got " shown)
  BAD_B64("\"a\"", "\"a\"");
  BAD_B64("\"aGVsbG8=x\"", "\"aGVsbG8=x\"");
  BAD_B64("\"aGVsbG8==\"", "\"aGVsbG8==\"");
  BAD_B64("\"+_8=\"", "\"+_8=\"");           /* mixed alphabets */
  BAD_B64("\"aGVsbG9=\"", "\"aGVsbG9=\"");   /* leftover bits set */
  BAD_B64("\"aGVs bG8=\"", "\"aGVs bG8=\""); /* no whitespace */
  BAD_B64("\"aGVsbG8=\\n\"", "\"aGVsbG8=\\u000a\"");
  BAD_B64("\"====\"", "\"====\"");
#undef BAD_B64
  CHECK_DEC_ERR(all_desc, "{\"reqInt32\":0,\"fBytes\":7}",
                "All.fBytes: expected a base64 string, got 7");

  CHECK_DEC_ERR(sbx__v1__header__descriptor, "{\"name\":7}",
                "Header.name: expected a string, got 7");
  CHECK_DEC_ERR(sbx__v1__header__descriptor, "{\"name\":[\"x\"]}",
                "Header.name: expected a string, got an array");
  /* jansson refuses U+0000 in text; a caller's value may still hold it */
  CHECK_DEC_ERR_HAS(sbx__v1__header__descriptor, "{\"name\":\"a\\u0000\"}",
                    "Header: invalid JSON at line 1, column ");
  j = json_pack("{s:s#}", "name", "a\0b", (size_t)3);
  CHECK(j != NULL);
  rc = sbx_pbjson_decode_value(&sbx__v1__header__descriptor, j, &out, &diag);
  CHECK(rc == SBX_EINVAL && out == NULL);
  CHECK_EQ_STR(diag.msg,
               "Header.name: a string cannot hold the NUL character (\\u0000)");
  json_decref(j);
  j = json_object();
  json_object_set_new(j, "value", json_stringn_nocheck("a\xff", 2));
  rc = sbx_pbjson_decode_value(&sbx__v1__header__descriptor, j, &out, &diag);
  CHECK(rc == SBX_EINVAL && out == NULL);
  CHECK_EQ_STR(diag.msg, "Header.value: a string must be valid UTF-8 (bad "
                         "byte at offset 1)");
  json_decref(j);
  /* the value is only read */
  j = json_pack("{s:s}", "name", "n");
  rc = sbx_pbjson_decode_value(&sbx__v1__header__descriptor, j, &out, &diag);
  CHECK(rc == 0 && out != NULL && json_object_size(j) == 1 && j->refcount == 1);
  h = (Sbx__V1__Header *)out;
  CHECK(h != NULL && strcmp(h->name, "n") == 0 &&
        h->value == protobuf_c_empty_string);
  protobuf_c_message_free_unpacked(out, NULL);
  json_decref(j);

  /* long values are cut in messages, on a character boundary */
  CHECK_DEC_ERR(sbx__v1__header__descriptor, "{\"name\":1,\"value\":\"\"}",
                "Header.name: expected a "
                "string, got 1");
  CHECK_DEC_ERR(all_desc,
                "{\"reqInt32\":0,\"fBool\":\"123456789012345678901234567890"
                "123456789\\u00e9xyz\"}",
                "All.fBool: expected true or false, got "
                "\"123456789012345678901234567890123456789...\"");
}

static void test_decode_structure(void) {
  struct sbx_diag diag;
  Sbx__V1__GetRunRequest *g;
  Sbx__V1__Result *r;
  ProtobufCMessage *out = (ProtobufCMessage *)&out;
  static const char text[] = "{\"runId\":\"1\"}garbage";
  int rc;

  /* the buffer need not end where the document does */
  rc = sbx_pbjson_decode(&sbx__v1__get_run_request__descriptor, text, 13, &out,
                         NULL);
  CHECK(rc == 0 && out != NULL && ((Sbx__V1__GetRunRequest *)out)->run_id == 1);
  protobuf_c_message_free_unpacked(out, NULL);
  g = (Sbx__V1__GetRunRequest *)dec(&sbx__v1__get_run_request__descriptor,
                                    " \n{ \"runId\" : 2 }\r\n\t", &diag);
  CHECK(g != NULL && g->run_id == 2);
  if (g != NULL)
    protobuf_c_message_free_unpacked(&g->base, NULL);

  CHECK_DEC_ERR(sbx__v1__get_run_request__descriptor, text,
                "GetRunRequest: invalid JSON at line 1, column 20: end of "
                "file expected near 'garbage'");
  CHECK_DEC_ERR(sbx__v1__get_run_request__descriptor, "{} {}",
                "GetRunRequest: invalid JSON at line 1, column 4: end of file "
                "expected near '{'");
  CHECK_DEC_ERR(sbx__v1__get_run_request__descriptor, "",
                "GetRunRequest: invalid JSON at line 1, column 0: unexpected "
                "token near end of file");
  CHECK_DEC_ERR_HAS(sbx__v1__get_run_request__descriptor, "{\"runId\":",
                    "GetRunRequest: invalid JSON at line 1, column 9: ");
  CHECK_DEC_ERR(sbx__v1__get_run_request__descriptor, "[]",
                "GetRunRequest: expected a JSON object, got an array");
  CHECK_DEC_ERR(sbx__v1__get_run_request__descriptor, "null",
                "GetRunRequest: expected a JSON object, got null");
  CHECK_DEC_ERR(sbx__v1__get_run_request__descriptor, "\"x\"",
                "GetRunRequest: expected a JSON object, got \"x\"");

  /* wrong shapes for messages and repeated fields */
  CHECK_DEC_ERR(sbx__v1__result__descriptor, "{\"metrics\":[]}",
                "Result.metrics: expected an object, got an array");
  CHECK_DEC_ERR(sbx__v1__result__descriptor, "{\"metrics\":\"{}\"}",
                "Result.metrics: expected an object, got \"{}\"");
  CHECK_DEC_ERR(sbx__v1__result__descriptor, "{\"jailLayers\":\"uid\"}",
                "Result.jailLayers: expected an array, got \"uid\"");
  CHECK_DEC_ERR(sbx__v1__result__descriptor, "{\"criteria\":{}}",
                "Result.criteria: expected an array, got an object");
  CHECK_DEC_ERR(sbx__v1__result__descriptor, "{\"jailLayers\":[\"a\",null]}",
                "Result.jailLayers[1]: null is not allowed as an element of a "
                "repeated field");
  CHECK_DEC_ERR(sbx__v1__result__descriptor, "{\"criteria\":[{},null]}",
                "Result.criteria[1]: null is not allowed as an element of a "
                "repeated field");
  r = (Sbx__V1__Result *)dec(&sbx__v1__result__descriptor,
                             "{\"jailLayers\":[],\"criteria\":[{}]}", &diag);
  CHECK(r != NULL && r->n_jail_layers == 0 && r->jail_layers == NULL &&
        r->n_criteria == 1 && r->criteria[0] != NULL);
  if (r != NULL)
    protobuf_c_message_free_unpacked(&r->base, NULL);

  /* failures deep inside a rich document: the path says where, and all that
   * was built before is freed (ASan build) */
  CHECK_DEC_ERR(
      sbx__v1__result__descriptor,
      "{\"scenario\":\"s\",\"scenarioDigest\":\"AAEC\",\"jailLayers\":[\"a\","
      "\"b\"],\"metrics\":{\"latency\":{\"p99Us\":\"5\"},\"errorsByClass\":["
      "{\"error\":\"ERROR_CLASS_TIMEOUT\",\"count\":\"1\"}],\"latencyHist\":"
      "{\"counts\":[\"1\",\"-2\",3]}},\"criteria\":[{\"criterion\":{\"metric"
      "\":\"m\",\"text\":\"t\"},\"measured\":1},{\"criterion\":{\"op\":"
      "\"COMPARE_OP_LE\",\"bound\":\"x\"}}]}",
      "Result.criteria[1].criterion.bound: expected a number (double: a "
      "number, a numeric string, \"NaN\", \"Infinity\" or \"-Infinity\"), "
      "got \"x\"");
  CHECK_DEC_ERR(sbx__v1__result__descriptor,
                "{\"metrics\":{\"latencyHist\":{\"counts\":[\"1\",\"x\"]}}}",
                "Result.metrics.latencyHist.counts[1]: expected an integer "
                "(sint64: a number or a decimal string), got \"x\"");
  CHECK_DEC_ERR(sbx__v1__result__descriptor,
                "{\"scenario\":\"s\",\"validity\":{\"reasons\":[\"a\"]},"
                "\"zzz\":1}",
                "Result: unknown field \"zzz\"; known fields: runId, "
                "scenario, scenarioVersion, scenarioDigest, product, verdict, "
                "metrics, criteria, validity, score, harnessVersion, client, "
                "startedUnixMs, endedUnixMs, jailLayers, errorMessage, "
                "loadModel, overrides, seed, dataset, matchId, productDigest");
  CHECK_DEC_ERR(sbx__v1__get_result_response__descriptor,
                "{\"signed\":{\"payload\":\"CAE=\",\"signatures\":[{\"keyid\":"
                "\"k\",\"sig\":\"AA==\"},{\"keyid\":5}]}}",
                "GetResultResponse.signed.signatures[1].keyid: expected a "
                "string, got 5");

  /* bad arguments */
  out = (ProtobufCMessage *)&out;
  CHECK(sbx_pbjson_decode(NULL, "{}", 2, &out, &diag) == SBX_EINVAL &&
        out == NULL);
  CHECK(sbx_pbjson_decode(&sbx__v1__header__descriptor, NULL, 2, &out, &diag) ==
        SBX_EINVAL);
  CHECK(sbx_pbjson_decode(&sbx__v1__header__descriptor, "{}", 2, NULL, &diag) ==
        SBX_EINVAL);
  CHECK(sbx_pbjson_decode_value(&sbx__v1__header__descriptor, NULL, &out,
                                NULL) == SBX_EINVAL &&
        out == NULL);
  /* NULL with length 0 is the empty text, and a diag is optional */
  CHECK(sbx_pbjson_decode(&sbx__v1__header__descriptor, NULL, 0, &out, NULL) ==
            SBX_EINVAL &&
        out == NULL);
}

/* A message that holds itself, for nesting without end. */
struct node {
  ProtobufCMessage base;
  ProtobufCMessage *child;
  int32_t v;
};
static const ProtobufCMessageDescriptor node_desc;
static const ProtobufCFieldDescriptor node_fields[] = {
    {"child", 1, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_MESSAGE, 0,
     offsetof(struct node, child), &node_desc, NULL, 0, 0, NULL, NULL},
    {"v", 2, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_INT32, 0,
     offsetof(struct node, v), NULL, NULL, 0, 0, NULL, NULL},
};
static const ProtobufCMessageDescriptor node_desc = {
    PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
    "test.Node",
    "Node",
    "Node",
    "test",
    sizeof(struct node),
    2,
    node_fields,
    NULL,
    0,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL};

/* {"child":{"child":...{"v":1}...}} with levels messages in all. */
static char *nested(int levels) {
  size_t cap = (size_t)levels * 12 + 16, o = 0;
  char *s = malloc(cap);
  int i;

  for (i = 1; i < levels; i++)
    o += (size_t)snprintf(s + o, cap - o, "{\"child\":");
  o += (size_t)snprintf(s + o, cap - o, "{\"v\":1}");
  for (i = 1; i < levels; i++)
    s[o++] = '}';
  s[o] = '\0';
  return s;
}

static void test_decode_depth(void) {
  struct node chain[SBX_PBJSON_MAX_DEPTH + 2];
  struct sbx_diag diag;
  ProtobufCMessage *m;
  char *text, *deep;
  int i;

  /* the deepest message the encoder writes, the decoder reads */
  for (i = 0; i < SBX_PBJSON_MAX_DEPTH + 2; i++) {
    chain[i].base = (ProtobufCMessage)PROTOBUF_C_MESSAGE_INIT(&node_desc);
    chain[i].child =
        i + 1 < SBX_PBJSON_MAX_DEPTH + 1 ? &chain[i + 1].base : NULL;
    chain[i].v = i;
  }
  ROUNDTRIP(&chain[0]); /* SBX_PBJSON_MAX_DEPTH + 1 levels */
  chain[SBX_PBJSON_MAX_DEPTH].child = &chain[SBX_PBJSON_MAX_DEPTH + 1].base;
  chain[SBX_PBJSON_MAX_DEPTH + 1].child = NULL;
  CHECK(sbx_pbjson_encode(&chain[0].base, 0) == NULL);

  text = nested(SBX_PBJSON_MAX_DEPTH + 1);
  m = dec(&node_desc, text, &diag);
  CHECK(m != NULL);
  protobuf_c_message_free_unpacked(m, NULL);
  free(text);
  text = nested(SBX_PBJSON_MAX_DEPTH + 2);
  m = dec(&node_desc, text, &diag);
  CHECK(m == NULL);
  CHECK(strstr(diag.msg, "Node.child.child.child") == diag.msg);
  CHECK(strstr(diag.msg, ": messages nested deeper than 100 levels") != NULL);
  free(text);

  /* JSON nesting beyond jansson's own limit is refused while parsing */
  deep = malloc(20001);
  memset(deep, '[', 20000);
  deep[20000] = '\0';
  memcpy(deep, "{\"v\":", 5);
  m = dec(&node_desc, deep, &diag);
  CHECK(m == NULL);
  CHECK(strstr(diag.msg, "Node: invalid JSON") == diag.msg);
  free(deep);
}

int main(void) {
  test_case_bytes();
  test_result();
  test_oneof();
  test_defaults();
  test_doubles();
  test_strings();
  test_dumps();
  test_all_types();
  test_roundtrip_result();
  test_roundtrip_run();
  test_roundtrip_api();
  test_roundtrip_scenario();
  test_roundtrip_oneof();
  test_roundtrip_all_types();
  test_decode_names();
  test_decode_integers();
  test_decode_floats_bools_enums();
  test_decode_strings_bytes();
  test_decode_structure();
  test_decode_depth();
  return TEST_RESULT();
}
