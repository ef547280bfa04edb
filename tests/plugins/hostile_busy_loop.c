/* hostile_busy_loop.c - spins forever on every request.
 * Expected: the request overruns load.timeout: TIMEOUT; the harness kills
 * the host (SIGKILL / cgroup.kill) and restarts it. RLIMIT_CPU is only the
 * backstop. */
#include <sbx_plugin.h>

static int h_create(const uint8_t *c, size_t cl, const uint8_t *s, size_t sl,
                    void **inst) {
  (void)c, (void)cl, (void)s, (void)sl;
  *inst = NULL;
  return SBX_PLUGIN_OK;
}

static int h_handle(void *inst, const uint8_t *in, size_t len,
                    sbx_plugin_output *out) {
  volatile unsigned long spin = 0;

  (void)inst, (void)in, (void)len, (void)out;
  for (;;)
    spin++;
  return SBX_PLUGIN_OK; /* not reached */
}

static void h_destroy(void *inst) {
  (void)inst;
}

static const sbx_plugin_descriptor d = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof d,
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "hostile_busy_loop",
    .version = "1",
    .vendor = "tests",
    .create = h_create,
    .handle = h_handle,
    .destroy = h_destroy,
};
SBX_PLUGIN_DEFINE(d)
