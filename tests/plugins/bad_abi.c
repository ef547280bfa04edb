/* bad_abi.c - a plugin built against a (hypothetical) future SDK: ABI 2,
 * signature "sbx-plugin/2". The host must refuse it before any callback
 * runs, with a message naming both versions, and the run must end at once
 * (exit 3) instead of restarting the host. */
#include <stdlib.h>

#include <sbx_plugin.h>

static int h_create(const uint8_t *c, size_t cl, const uint8_t *s, size_t sl,
                    void **inst) {
  (void)c, (void)cl, (void)s, (void)sl;
  abort(); /* never called */
}

static int h_handle(void *inst, const uint8_t *in, size_t len,
                    sbx_plugin_output *out) {
  (void)inst, (void)in, (void)len, (void)out;
  abort();
}

static void h_destroy(void *inst) {
  (void)inst;
}

static const sbx_plugin_descriptor d = {
    .abi_version = 2,
    .struct_size = sizeof d,
    .signature = "sbx-plugin/2",
    .name = "bad_abi",
    .version = "2.0.0",
    .vendor = "tests",
    .create = h_create,
    .handle = h_handle,
    .destroy = h_destroy,
};
SBX_PLUGIN_DEFINE(d)
