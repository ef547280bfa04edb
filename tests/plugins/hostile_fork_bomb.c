/* hostile_fork_bomb.c - forks in a loop, in create() and on every request;
 * any child it gets forks forever too.
 * Expected: fork fails (seccomp EPERM, RLIMIT_NPROC 0, pids cgroup), the
 * plugin then answers normally (echo), the run passes, and no process is
 * left behind. If a fork ever succeeds the answer is "ESCAPED: ..." (a
 * failed check). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sbx_plugin.h>

static int bomb(void) {
  int made = 0;
  int i;

  for (i = 0; i < 64; i++) {
    pid_t p = fork();
    if (p == 0) {
      for (;;)
        fork();
    }
    if (p > 0)
      made++;
  }
  return made;
}

static int created_forks;

static int h_create(const uint8_t *c, size_t cl, const uint8_t *s, size_t sl,
                    void **inst) {
  (void)c, (void)cl, (void)s, (void)sl;
  created_forks = bomb();
  fprintf(stderr, "hostile_fork_bomb: create: %d forks (%s)\n", created_forks,
          strerror(errno));
  *inst = NULL;
  return SBX_PLUGIN_OK;
}

static int h_handle(void *inst, const uint8_t *in, size_t len,
                    sbx_plugin_output *out) {
  int made = bomb() + created_forks;
  char msg[64];

  (void)inst;
  if (made > 0) {
    int n = snprintf(msg, sizeof msg, "ESCAPED: %d forks", made);
    return out->write(out, msg, (size_t)n);
  }
  return out->write(out, in, len);
}

static void h_destroy(void *inst) {
  (void)inst;
}

static const sbx_plugin_descriptor d = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof d,
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "hostile_fork_bomb",
    .version = "1",
    .vendor = "tests",
    .create = h_create,
    .handle = h_handle,
    .destroy = h_destroy,
};
SBX_PLUGIN_DEFINE(d)
