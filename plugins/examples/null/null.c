/* null.c - the "null" plugin: answers every request with its input.
 *
 * It does no work at all, so what it measures is the boundary itself: the
 * IPC, the host's loop and the jail. The benchmarks drive it with many
 * requests in flight, and the tests use it as the well-behaved reference
 * next to the hostile plugins. It also offers handle_batch(), so the batch
 * path of the host is exercised.
 *
 * Configuration (optional, --plugin-config): the text "fail=N" makes every
 * Nth request return SBX_PLUGIN_E_INVALID, for tests of error answers. */
#include <stdlib.h>
#include <string.h>

#include <sbx_plugin.h>

struct null_state {
  unsigned long fail_every; /* 0: never */
  unsigned long calls;
};

static unsigned long null_parse_fail(const uint8_t *config, size_t len) {
  static const char key[] = "fail=";
  unsigned long v = 0;
  size_t i;

  if (len < sizeof key - 1 || memcmp(config, key, sizeof key - 1) != 0)
    return 0;
  for (i = sizeof key - 1; i < len && config[i] >= '0' && config[i] <= '9';
       i++) {
    if (v > 1000000000ul)
      return 0; /* absurd: ignore */
    v = v * 10 + (unsigned long)(config[i] - '0');
  }
  return v;
}

static int null_create(const uint8_t *config, size_t config_len,
                       const uint8_t *setup, size_t setup_len,
                       void **instance) {
  struct null_state *s = calloc(1, sizeof *s);

  (void)setup;
  (void)setup_len;
  if (s == NULL)
    return SBX_PLUGIN_E_NOMEM;
  s->fail_every = null_parse_fail(config, config_len);
  *instance = s;
  return SBX_PLUGIN_OK;
}

static int null_handle(void *instance, const uint8_t *in, size_t in_len,
                       sbx_plugin_output *out) {
  struct null_state *s = instance;

  s->calls++;
  if (s->fail_every != 0 && s->calls % s->fail_every == 0)
    return SBX_PLUGIN_E_INVALID;
  return out->write(out, in, in_len);
}

static int null_handle_batch(void *instance, const sbx_plugin_input *in,
                             size_t n, sbx_plugin_output *out, int *results) {
  size_t i;

  for (i = 0; i < n; i++)
    results[i] = null_handle(instance, in[i].data, in[i].len, &out[i]);
  return SBX_PLUGIN_OK;
}

static void null_destroy(void *instance) {
  free(instance);
}

static const sbx_plugin_descriptor null_descriptor = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(sbx_plugin_descriptor),
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "null",
    .version = "1.0.0",
    .vendor = "sandboxd",
    .create = null_create,
    .handle = null_handle,
    .destroy = null_destroy,
    .handle_batch = null_handle_batch,
    .max_batch = 0,
};

SBX_PLUGIN_DEFINE(null_descriptor)
