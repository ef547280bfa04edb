/* test_pbjson.c - proto3 JSON encoding of protobuf-c messages.
 *
 * Messages of the sbx.v1 schema are built by hand and encoded, and the
 * output is compared with exact JSON text (compact, keys sorted, so that
 * the comparison does not depend on field order). Types the schema lacks
 * (float, sint32, fixed, proto2 optional/required, packed) come from a
 * descriptor written by hand in this file. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
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

int main(void) {
  test_case_bytes();
  test_result();
  test_oneof();
  test_defaults();
  test_doubles();
  test_strings();
  test_dumps();
  test_all_types();
  return TEST_RESULT();
}
