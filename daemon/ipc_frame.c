/* ipc_frame.c - the frame codec of ipc_frame.h.
 *
 * Decoding reads every field byte by byte (no unaligned loads, no trust in
 * the length) and reports the first thing wrong with a frame, so that a
 * protocol violation by a plugin host can be logged with its cause. */
#include "ipc_frame.h"

#include <stdarg.h>
#include <stdio.h>

#include "err.h"

/* Bytes of the header after the len field: type, flags, status, id. */
#define HEADER_REST (SBX_FRAME_HEADER - 4u)

static void put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p) {
  return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

int sbx_frame_header(uint8_t out[SBX_FRAME_HEADER], uint8_t type,
                     uint16_t status, uint64_t id, uint32_t payload_len) {
  if (payload_len > SBX_FRAME_MAX_PAYLOAD)
    return SBX_ERANGE;
  put_u32(out, payload_len + HEADER_REST);
  out[4] = type;
  out[5] = 0;
  put_u16(out + 6, status);
  put_u64(out + 8, id);
  return 0;
}

static long fail(char *diag, size_t diag_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static long fail(char *diag, size_t diag_len, const char *fmt, ...) {
  va_list ap;

  if (diag != NULL && diag_len > 0) {
    va_start(ap, fmt);
    vsnprintf(diag, diag_len, fmt, ap);
    va_end(ap);
  }
  return SBX_EPROTO;
}

long sbx_frame_decode(const uint8_t *buf, size_t len, uint32_t max_payload,
                      struct sbx_frame *f, char *diag, size_t diag_len) {
  uint32_t flen;
  uint32_t payload_len;
  uint8_t type;

  if (max_payload > SBX_FRAME_MAX_PAYLOAD)
    max_payload = SBX_FRAME_MAX_PAYLOAD;
  if (diag != NULL && diag_len > 0)
    diag[0] = '\0';
  if (len < 4)
    return 0;
  flen = get_u32(buf);
  if (flen < HEADER_REST)
    return fail(diag, diag_len,
                "frame length %lu is shorter than the %lu-byte header",
                (unsigned long)flen, (unsigned long)HEADER_REST);
  payload_len = flen - HEADER_REST;
  if (payload_len > max_payload)
    return fail(diag, diag_len,
                "frame payload of %lu bytes is over the limit of %lu bytes",
                (unsigned long)payload_len, (unsigned long)max_payload);
  /* Check what the header says as soon as it is there, so that garbage is
   * rejected without waiting for a payload that may never come. */
  if (len < SBX_FRAME_HEADER)
    return 0;
  type = buf[4];
  if (type < SBX_FRAME_INIT || type > SBX_FRAME_SHUTDOWN)
    return fail(diag, diag_len, "unknown frame type %u", (unsigned)type);
  if (buf[5] != 0)
    return fail(diag, diag_len, "frame flags 0x%02x are reserved (must be 0)",
                (unsigned)buf[5]);
  if (len - 4 < flen)
    return 0;
  f->type = type;
  f->status = get_u16(buf + 6);
  f->id = get_u64(buf + 8);
  f->payload = buf + SBX_FRAME_HEADER;
  f->payload_len = payload_len;
  return (long)flen + 4;
}
