/* hostile_alloc_until_refused.c - on the first request of each instance,
 * reserves memory (64 MiB at a time, never touched) until malloc returns
 * NULL, frees it all, and then answers every request normally (echo).
 * Expected: the address-space limit makes malloc fail at about --memory;
 * the run passes (exit 0) and the machine is untouched. Without a limit
 * the plugin stops by itself at 64 GiB of untouched reservations (1 GiB
 * under ASan, which has no address-space limit). Outcome on stderr. */
#include <stdio.h>
#include <stdlib.h>

#include <sbx_plugin.h>

#define CHUNK (64ul << 20)
#if defined(__SANITIZE_ADDRESS__)
/* Under ASan the host has no address-space limit and ASan's allocator
 * bookkeeping makes each huge reservation slow and not free: stop at
 * 1 GiB (the memory cgroup is what guards an ASan build). */
#define MAX_CHUNKS 16
#else
#define MAX_CHUNKS 1024 /* 64 GiB */
#endif

struct st {
  int done;
};

static int h_create(const uint8_t *c, size_t cl, const uint8_t *s, size_t sl,
                    void **inst) {
  (void)c, (void)cl, (void)s, (void)sl;
  *inst = calloc(1, sizeof(struct st));
  return *inst != NULL ? SBX_PLUGIN_OK : SBX_PLUGIN_E_NOMEM;
}

static void grab(void) {
  static void *chunks[MAX_CHUNKS];
  size_t n = 0;

  while (n < MAX_CHUNKS && (chunks[n] = malloc(CHUNK)) != NULL)
    n++;
  fprintf(stderr, "hostile_alloc_until_refused: %s after %zu MiB\n",
          n < MAX_CHUNKS ? "refused" : "NOT refused", n * (CHUNK >> 20));
  while (n > 0)
    free(chunks[--n]);
}

static int h_handle(void *inst, const uint8_t *in, size_t len,
                    sbx_plugin_output *out) {
  struct st *s = inst;

  if (!s->done) {
    s->done = 1;
    grab();
  }
  return out->write(out, in, len);
}

static void h_destroy(void *inst) {
  free(inst);
}

static const sbx_plugin_descriptor d = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof d,
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "hostile_alloc_until_refused",
    .version = "1",
    .vendor = "tests",
    .create = h_create,
    .handle = h_handle,
    .destroy = h_destroy,
};
SBX_PLUGIN_DEFINE(d)
