/* hostile_alloc_touch.c - the touching variant of alloc_until_refused: in
 * create() (touching a gigabyte takes longer than a request's deadline),
 * allocates 16 MiB at a time AND writes every page, until malloc returns NULL
 * (or 8 GiB, a safety stop for a machine with neither an address-space limit
 * nor a memory cgroup), frees it and answers normally (echo). Expected: with
 * RLIMIT_AS, malloc fails near --memory and the run passes; without it (ASan
 * builds) the memory cgroup OOM-kills the host (CRASH). Either way the
 * machine's memory is not exhausted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sbx_plugin.h>

#define CHUNK (16ul << 20)
#define MAX_CHUNKS 512 /* 8 GiB */

static void grab(void) {
  static void *chunks[MAX_CHUNKS];
  size_t n = 0;

  while (n < MAX_CHUNKS && (chunks[n] = malloc(CHUNK)) != NULL) {
    memset(chunks[n], 0xa5, CHUNK);
    n++;
  }
  fprintf(stderr, "hostile_alloc_touch: %s after %zu MiB touched\n",
          n < MAX_CHUNKS ? "refused" : "NOT refused", n * (CHUNK >> 20));
  while (n > 0)
    free(chunks[--n]);
}

static int h_create(const uint8_t *c, size_t cl, const uint8_t *s, size_t sl,
                    void **inst) {
  (void)c, (void)cl, (void)s, (void)sl;
  grab();
  *inst = NULL;
  return SBX_PLUGIN_OK;
}

static int h_handle(void *inst, const uint8_t *in, size_t len,
                    sbx_plugin_output *out) {
  (void)inst;
  return out->write(out, in, len);
}

static void h_destroy(void *inst) {
  (void)inst;
}

static const sbx_plugin_descriptor d = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof d,
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "hostile_alloc_touch",
    .version = "1",
    .vendor = "tests",
    .create = h_create,
    .handle = h_handle,
    .destroy = h_destroy,
};
SBX_PLUGIN_DEFINE(d)
