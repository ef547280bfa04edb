/* fuzz_pbjson.c - libFuzzer target for sbx_pbjson_decode().
 *
 * API request bodies arrive as proto3 JSON from any client that can reach
 * the daemon. The first byte picks the message type (Result, StartRunRequest,
 * RunEvent with its oneof, Scenario), the rest is the JSON text. Any input
 * must either be refused with a message and nothing allocated, or decode
 * into a valid message that encodes (under two sets of flags), decodes
 * again, and re-encodes to the same text and the same packed bytes. Seeds:
 * tests/fuzz/corpus/pbjson.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
#include "sbx/v1/api.pb-c.h"
#include "sbx/v1/result.pb-c.h"
#include "sbx/v1/run.pb-c.h"
#include "sbx/v1/scenario.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *pack(const ProtobufCMessage *m, size_t *len) {
  uint8_t *buf;

  *len = protobuf_c_message_get_packed_size(m);
  buf = malloc(*len + 1);
  if (buf == NULL)
    abort();
  if (protobuf_c_message_pack(m, buf) != *len)
    abort();
  return buf;
}

/* Encodes m with flags, decodes the text, and checks that the copy packs
 * and encodes as m does. */
static void check_roundtrip(const ProtobufCMessage *m, const uint8_t *want,
                            size_t want_len, unsigned flags, int pretty) {
  struct sbx_diag diag = {{0}};
  ProtobufCMessage *again = NULL;
  char *text, *text2;
  uint8_t *got;
  size_t got_len;

  text = sbx_pbjson_dumps(m, flags, pretty);
  if (text == NULL)
    abort();
  if (sbx_pbjson_decode(m->descriptor, text, strlen(text), &again, &diag) !=
          0 ||
      again == NULL)
    abort();
  got = pack(again, &got_len);
  if (got_len != want_len || memcmp(got, want, want_len) != 0)
    abort();
  text2 = sbx_pbjson_dumps(again, flags, pretty);
  if (text2 == NULL || strcmp(text, text2) != 0)
    abort();
  free(text2);
  free(got);
  free(text);
  protobuf_c_message_free_unpacked(again, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const ProtobufCMessageDescriptor *const descs[] = {
      &sbx__v1__result__descriptor,
      &sbx__v1__start_run_request__descriptor,
      &sbx__v1__run_event__descriptor,
      &sbx__v1__scenario__descriptor,
  };
  const ProtobufCMessageDescriptor *desc;
  struct sbx_diag diag = {{0}};
  ProtobufCMessage *m = (ProtobufCMessage *)&m;
  uint8_t *want;
  size_t want_len;
  int rc;

  if (size < 1)
    return 0;
  desc = descs[data[0] % (sizeof(descs) / sizeof(descs[0]))];
  rc = sbx_pbjson_decode(desc, (const char *)data + 1, size - 1, &m, &diag);
  if (rc != 0) {
    if (m != NULL || diag.msg[0] == '\0' ||
        (rc != SBX_EINVAL && rc != SBX_ENOMEM))
      abort();
    return 0;
  }
  if (m == NULL || m->descriptor != desc || !protobuf_c_message_check(m))
    abort();
  want = pack(m, &want_len);
  check_roundtrip(m, want, want_len, 0, 0);
  check_roundtrip(m, want, want_len,
                  SBX_PBJSON_EMIT_DEFAULTS | SBX_PBJSON_PROTO_NAMES, 1);
  free(want);
  protobuf_c_message_free_unpacked(m, NULL);
  return 0;
}
