/* ipc_frame.h - frames between the daemon (or sbx) and a plugin host.
 *
 * One stream socketpair per host carries length-prefixed frames in both
 * directions; many requests are in flight at once and are matched by id.
 * The shared-memory rings, when used, carry the very same frames. The host
 * side is run by vendor code: every frame it writes is hostile and is
 * decoded only through sbx_frame_decode(), which bounds-checks everything.
 *
 * Wire format (all integers little-endian):
 *
 *   u32 len      bytes after this field (header rest + payload), >= 12
 *   u8  type     enum sbx_frame_type
 *   u8  flags    0 (reserved; a non-zero value is a protocol error)
 *   u16 status   RESPONSE: the plugin's result code (0 = ok);
 *                HELLO/ERROR: an SBX_PLUGIN_* code; else 0
 *   u64 id       request id (REQUEST/RESPONSE), else 0
 *   payload      len - 12 bytes
 *
 * Exchange:
 *   daemon -> host  INIT      payload: sbx.v1 PluginInit (protobuf)
 *   host -> daemon  HELLO     payload: sbx.v1 PluginHello (protobuf), after
 *                             the library is loaded, create() returned and
 *                             the strict seccomp filter is on; status != 0
 *                             means the host refuses (message in Hello)
 *   daemon -> host  REQUEST   payload: the case's input bytes
 *   host -> daemon  RESPONSE  payload: the plugin's output bytes
 *   either          SHUTDOWN  empty: finish in-flight work and exit
 */
#ifndef SBX_IPC_FRAME_H
#define SBX_IPC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define SBX_FRAME_HEADER 16u                  /* len field + 12 */
#define SBX_FRAME_MAX_PAYLOAD (64u << 20)      /* hard cap, 64 MiB */

enum sbx_frame_type {
  SBX_FRAME_INIT = 1,
  SBX_FRAME_HELLO = 2,
  SBX_FRAME_REQUEST = 3,
  SBX_FRAME_RESPONSE = 4,
  SBX_FRAME_SHUTDOWN = 5
};

struct sbx_frame {
  uint8_t type;
  uint16_t status;
  uint64_t id;
  const uint8_t *payload; /* points into the decoded buffer */
  uint32_t payload_len;
};

/* Writes the 16-byte header of a frame with payload_len bytes to follow.
 * Returns 0, or SBX_ERANGE if payload_len is over SBX_FRAME_MAX_PAYLOAD. */
int sbx_frame_header(uint8_t out[SBX_FRAME_HEADER], uint8_t type,
                     uint16_t status, uint64_t id, uint32_t payload_len);

/* Decodes the first frame of buf[0..len) without trusting any of it.
 * max_payload (<= SBX_FRAME_MAX_PAYLOAD) caps the payload. Returns the
 * frame's total size (> 0) with *f filled, 0 if more bytes are needed, or
 * SBX_EPROTO for a malformed frame (bad length, unknown type, non-zero
 * flags, payload over the cap); diag (may be NULL) then says what. */
long sbx_frame_decode(const uint8_t *buf, size_t len, uint32_t max_payload,
                      struct sbx_frame *f, char *diag, size_t diag_len);

#endif
