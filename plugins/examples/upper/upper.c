/* upper.c - the README's minimal plugin: answers each request with its
 * input in upper case. tests/integration/plugin_sdk_example.sh builds it on
 * its own with `pkg-config --cflags sbx-plugin`, as a vendor would, and
 * runs it through sbx test against tests/fixtures/scenarios/plugin-upper. */
#include <ctype.h>
#include <stdlib.h>

#include <sbx_plugin.h>

struct upper {
  unsigned long calls;
};

static int upper_create(const uint8_t *config, size_t config_len,
                        const uint8_t *setup, size_t setup_len,
                        void **instance) {
  struct upper *u = calloc(1, sizeof *u);
  (void)config;
  (void)config_len;
  (void)setup;
  (void)setup_len;
  if (u == NULL)
    return SBX_PLUGIN_E_NOMEM;
  *instance = u;
  return SBX_PLUGIN_OK;
}

static int upper_handle(void *instance, const uint8_t *in, size_t in_len,
                        sbx_plugin_output *out) {
  struct upper *u = instance;
  uint8_t buf[256];
  size_t done = 0;
  u->calls++;
  while (done < in_len) {
    size_t n = in_len - done < sizeof buf ? in_len - done : sizeof buf;
    for (size_t i = 0; i < n; i++)
      buf[i] = (uint8_t)toupper(in[done + i]);
    int rc = out->write(out, buf, n);
    if (rc != SBX_PLUGIN_OK)
      return rc; /* SBX_PLUGIN_E_TOO_LARGE: the answer is over the cap */
    done += n;
  }
  return SBX_PLUGIN_OK;
}

static void upper_destroy(void *instance) {
  free(instance);
}

static const sbx_plugin_descriptor upper_descriptor = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(sbx_plugin_descriptor),
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "upper",
    .version = "1.0.0",
    .vendor = "Example Corp",
    .create = upper_create,
    .handle = upper_handle,
    .destroy = upper_destroy,
};

SBX_PLUGIN_DEFINE(upper_descriptor)
