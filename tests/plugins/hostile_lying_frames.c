/* hostile_lying_frames.c - writes raw bytes onto the host's socket to the
 * harness (found by scanning for the first socket from fd 3 up): a frame
 * header claiming 0xfffffff0 bytes, then garbage, then returns a normal
 * answer.
 * Expected: PROTOCOL at the header (the length is over any cap, so the
 * harness neither waits for nor allocates the claimed bytes); the host is
 * killed and restarted. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sbx_plugin.h>

static int find_socket(void) {
  struct stat st;
  int fd;

  for (fd = 3; fd < 64; fd++) {
    if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
      return fd;
  }
  return 3;
}

static int h_create(const uint8_t *c, size_t cl, const uint8_t *s, size_t sl,
                    void **inst) {
  (void)c, (void)cl, (void)s, (void)sl;
  *inst = NULL;
  return SBX_PLUGIN_OK;
}

static int h_handle(void *inst, const uint8_t *in, size_t len,
                    sbx_plugin_output *out) {
  static const uint8_t lie[] = {
      0xf0, 0xff, 0xff, 0xff, /* len: almost 4 GiB */
      4,    0,    0,    0,    /* RESPONSE, flags 0, status 0 */
      1,    0,    0,    0,    0,   0,   0,   0, /* id 1 */
      'g',  'a',  'r',  'b',  'a', 'g', 'e',
  };
  int fd = find_socket();

  (void)inst;
  if (write(fd, lie, sizeof lie) < 0)
    return SBX_PLUGIN_E_INTERNAL;
  return out->write(out, in, len);
}

static void h_destroy(void *inst) {
  (void)inst;
}

static const sbx_plugin_descriptor d = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof d,
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "hostile_lying_frames",
    .version = "1",
    .vendor = "tests",
    .create = h_create,
    .handle = h_handle,
    .destroy = h_destroy,
};
SBX_PLUGIN_DEFINE(d)
