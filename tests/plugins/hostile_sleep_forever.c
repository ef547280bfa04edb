/* hostile_sleep_forever.c - sleeps forever on every request, without
 * burning CPU (so RLIMIT_CPU never fires: only the harness's deadline
 * can end it).
 * Expected: TIMEOUT; the host is killed and restarted. */
#include <time.h>

#include <sbx_plugin.h>

static int h_create(const uint8_t *c, size_t cl, const uint8_t *s, size_t sl,
                    void **inst) {
  (void)c, (void)cl, (void)s, (void)sl;
  *inst = NULL;
  return SBX_PLUGIN_OK;
}

static int h_handle(void *inst, const uint8_t *in, size_t len,
                    sbx_plugin_output *out) {
  struct timespec ts = {3600, 0};

  (void)inst, (void)in, (void)len, (void)out;
  for (;;)
    nanosleep(&ts, NULL);
  return SBX_PLUGIN_OK; /* not reached */
}

static void h_destroy(void *inst) {
  (void)inst;
}

static const sbx_plugin_descriptor d = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof d,
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "hostile_sleep_forever",
    .version = "1",
    .vendor = "tests",
    .create = h_create,
    .handle = h_handle,
    .destroy = h_destroy,
};
SBX_PLUGIN_DEFINE(d)
