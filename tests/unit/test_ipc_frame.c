/* test_ipc_frame.c - the frame codec: round trips, partial input, and every
 * way a hostile host can malform a frame. */
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "ipc_frame.h"
#include "testlib.h"

static void test_round_trip(void) {
  uint8_t buf[SBX_FRAME_HEADER + 5];
  struct sbx_frame f;
  char diag[128];

  CHECK_EQ_INT(
      sbx_frame_header(buf, SBX_FRAME_RESPONSE, 7, 0x0102030405060708ull, 5),
      0);
  memcpy(buf + SBX_FRAME_HEADER, "hello", 5);
  /* Little-endian on the wire whatever the host order. */
  CHECK_EQ_INT(buf[0], 17);
  CHECK_EQ_INT(buf[4], SBX_FRAME_RESPONSE);
  CHECK_EQ_INT(buf[6], 7);
  CHECK_EQ_INT(buf[8], 0x08);
  CHECK_EQ_INT(buf[15], 0x01);
  CHECK_EQ_INT(sbx_frame_decode(buf, sizeof buf, 1024, &f, diag, sizeof diag),
               (long)sizeof buf);
  CHECK_EQ_INT(f.type, SBX_FRAME_RESPONSE);
  CHECK_EQ_INT(f.status, 7);
  CHECK(f.id == 0x0102030405060708ull);
  CHECK_EQ_INT(f.payload_len, 5);
  CHECK(f.payload == buf + SBX_FRAME_HEADER);
  CHECK(memcmp(f.payload, "hello", 5) == 0);
}

static void test_partial(void) {
  uint8_t buf[SBX_FRAME_HEADER + 3];
  struct sbx_frame f;

  sbx_frame_header(buf, SBX_FRAME_REQUEST, 0, 1, 3);
  memcpy(buf + SBX_FRAME_HEADER, "abc", 3);
  for (size_t n = 0; n < sizeof buf; n++)
    CHECK_EQ_INT(sbx_frame_decode(buf, n, 1024, &f, NULL, 0), 0);
  CHECK_EQ_INT(sbx_frame_decode(buf, sizeof buf, 1024, &f, NULL, 0),
               (long)sizeof buf);
}

static void test_two_frames(void) {
  uint8_t buf[2 * SBX_FRAME_HEADER + 1];
  struct sbx_frame f;
  long n;

  sbx_frame_header(buf, SBX_FRAME_SHUTDOWN, 0, 0, 0);
  sbx_frame_header(buf + SBX_FRAME_HEADER, SBX_FRAME_REQUEST, 0, 9, 1);
  buf[2 * SBX_FRAME_HEADER] = 'x';
  n = sbx_frame_decode(buf, sizeof buf, 16, &f, NULL, 0);
  CHECK_EQ_INT(n, SBX_FRAME_HEADER);
  CHECK_EQ_INT(f.type, SBX_FRAME_SHUTDOWN);
  CHECK_EQ_INT(f.payload_len, 0);
  n = sbx_frame_decode(buf + n, sizeof buf - (size_t)n, 16, &f, NULL, 0);
  CHECK_EQ_INT(n, SBX_FRAME_HEADER + 1);
  CHECK(f.id == 9);
  CHECK_EQ_INT(f.payload[0], 'x');
}

static void test_malformed(void) {
  uint8_t buf[SBX_FRAME_HEADER + 8];
  struct sbx_frame f;
  char diag[128];

  /* Length shorter than the header: rejected from the first 4 bytes. */
  memset(buf, 0, sizeof buf);
  buf[0] = 11;
  CHECK_EQ_INT(sbx_frame_decode(buf, 4, 1024, &f, diag, sizeof diag),
               SBX_EPROTO);
  CHECK(strstr(diag, "shorter") != NULL);

  /* Over the caller's cap, before the payload arrives. */
  sbx_frame_header(buf, SBX_FRAME_RESPONSE, 0, 1, 2000);
  CHECK_EQ_INT(sbx_frame_decode(buf, 4, 1024, &f, diag, sizeof diag),
               SBX_EPROTO);
  CHECK(strstr(diag, "2000") != NULL && strstr(diag, "1024") != NULL);

  /* Over the hard cap even when the caller asks for more. */
  buf[0] = 0xff, buf[1] = 0xff, buf[2] = 0xff, buf[3] = 0xff;
  CHECK_EQ_INT(
      sbx_frame_decode(buf, sizeof buf, UINT32_MAX, &f, diag, sizeof diag),
      SBX_EPROTO);

  /* Unknown types, at both ends of the range. */
  sbx_frame_header(buf, 0, 0, 0, 0);
  CHECK_EQ_INT(
      sbx_frame_decode(buf, SBX_FRAME_HEADER, 16, &f, diag, sizeof diag),
      SBX_EPROTO);
  CHECK(strstr(diag, "type 0") != NULL);
  sbx_frame_header(buf, 6, 0, 0, 8);
  /* Rejected from the header alone, without waiting for the payload. */
  CHECK_EQ_INT(
      sbx_frame_decode(buf, SBX_FRAME_HEADER, 16, &f, diag, sizeof diag),
      SBX_EPROTO);

  /* Reserved flags. */
  sbx_frame_header(buf, SBX_FRAME_HELLO, 0, 0, 0);
  buf[5] = 0x80;
  CHECK_EQ_INT(
      sbx_frame_decode(buf, SBX_FRAME_HEADER, 16, &f, diag, sizeof diag),
      SBX_EPROTO);
  CHECK(strstr(diag, "0x80") != NULL);

  /* A diag of zero size or NULL is fine. */
  CHECK_EQ_INT(sbx_frame_decode(buf, SBX_FRAME_HEADER, 16, &f, NULL, 0),
               SBX_EPROTO);
  CHECK_EQ_INT(sbx_frame_decode(buf, SBX_FRAME_HEADER, 16, &f, diag, 0),
               SBX_EPROTO);
}

static void test_header_limits(void) {
  uint8_t buf[SBX_FRAME_HEADER];
  struct sbx_frame f;

  CHECK_EQ_INT(
      sbx_frame_header(buf, SBX_FRAME_REQUEST, 0, 1, SBX_FRAME_MAX_PAYLOAD + 1),
      SBX_ERANGE);
  CHECK_EQ_INT(
      sbx_frame_header(buf, SBX_FRAME_REQUEST, 0, 1, SBX_FRAME_MAX_PAYLOAD), 0);
  /* A maximal frame header alone is "need more", not an error. */
  CHECK_EQ_INT(
      sbx_frame_decode(buf, sizeof buf, SBX_FRAME_MAX_PAYLOAD, &f, NULL, 0), 0);
}

int main(void) {
  test_round_trip();
  test_partial();
  test_two_frames();
  test_malformed();
  test_header_limits();
  return TEST_RESULT();
}
