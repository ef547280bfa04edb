/* hostile_huge_response.c - tries to answer more than the cap. First
 * through the SDK (1 MiB writes until refused, then returns 0 anyway: the
 * host answers SBX_PLUGIN_E_TOO_LARGE, never a truncated body), then
 * around it: it writes a RESPONSE frame header announcing more than the
 * cap straight onto the ipc socket (fd 3), followed by some of the bytes.
 * Expected: PROTOCOL (oversized frame); the harness kills the host without
 * reading the rest, and does not allocate what the header claims. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sbx_plugin.h>

#define IPC_FD 3

static int h_create(const uint8_t *c, size_t cl, const uint8_t *s, size_t sl,
                    void **inst) {
  (void)c, (void)cl, (void)s, (void)sl;
  *inst = NULL;
  return SBX_PLUGIN_OK;
}

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static int h_handle(void *inst, const uint8_t *in, size_t len,
                    sbx_plugin_output *out) {
  static uint8_t chunk[1 << 20];
  uint8_t hdr[16];
  size_t limit = out->limit;
  int i;

  (void)inst, (void)in, (void)len;
  memset(chunk, 'x', sizeof chunk);
  while (out->write(out, chunk, sizeof chunk) == SBX_PLUGIN_OK)
    ;
  /* Around the SDK: one frame, id 1, announcing limit + 1 MiB. */
  memset(hdr, 0, sizeof hdr);
  put32(hdr, (uint32_t)(limit + sizeof chunk + 12));
  hdr[4] = 4; /* RESPONSE */
  hdr[8] = 1; /* id 1 */
  if (write(IPC_FD, hdr, sizeof hdr) < 0)
    return SBX_PLUGIN_E_INTERNAL;
  for (i = 0; i < 4; i++) {
    if (write(IPC_FD, chunk, sizeof chunk) < 0)
      break;
  }
  return SBX_PLUGIN_OK;
}

static void h_destroy(void *inst) {
  (void)inst;
}

static const sbx_plugin_descriptor d = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof d,
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "hostile_huge_response",
    .version = "1",
    .vendor = "tests",
    .create = h_create,
    .handle = h_handle,
    .destroy = h_destroy,
};
SBX_PLUGIN_DEFINE(d)
