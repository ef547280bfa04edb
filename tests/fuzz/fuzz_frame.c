/* fuzz_frame.c - arbitrary bytes as a stream of frames from a plugin host.
 *
 * sbx_frame_decode must, for any prefix, either say "need more", return a
 * frame lying wholly inside the buffer, or fail with a message; re-encoding
 * the header of a decoded frame must give back the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "ipc_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t off = 1;
  uint32_t cap;

  /* The first byte picks the cap so both small and large caps are hit; the
   * frames follow it. */
  if (size == 0)
    return 0;
  cap = data[0] == 255 ? SBX_FRAME_MAX_PAYLOAD : (uint32_t)data[0] * 64u;

  while (off < size) {
    struct sbx_frame f;
    char diag[96];
    long n =
        sbx_frame_decode(data + off, size - off, cap, &f, diag, sizeof diag);
    uint8_t hdr[SBX_FRAME_HEADER];

    if (n == 0)
      break;
    if (n < 0) {
      if (n != SBX_EPROTO || diag[0] == '\0')
        abort();
      break;
    }
    if ((size_t)n > size - off || f.payload_len > cap ||
        f.payload != data + off + SBX_FRAME_HEADER ||
        (size_t)n != SBX_FRAME_HEADER + f.payload_len)
      abort();
    if (sbx_frame_header(hdr, f.type, f.status, f.id, f.payload_len) != 0 ||
        memcmp(hdr, data + off, SBX_FRAME_HEADER) != 0)
      abort();
    off += (size_t)n;
  }
  return 0;
}
