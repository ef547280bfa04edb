/* hostile_spawn_threads.c - starts 64 threads in create() and tries one
 * more on every request. The answer is the input when no thread could be
 * started, "ESCAPED: N threads" otherwise.
 * Expected: pthread_create fails (RLIMIT_NPROC 0 and the pids cgroup in
 * create(); clone refused by the strict filter afterwards); the run
 * passes. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sbx_plugin.h>

static void *idle(void *arg) {
  struct timespec ts = {3600, 0};

  (void)arg;
  for (;;)
    nanosleep(&ts, NULL);
  return NULL;
}

static int started;

static int spawn(int n) {
  pthread_t t;
  int made = 0;
  int rc = 0;
  int i;

  for (i = 0; i < n; i++) {
    rc = pthread_create(&t, NULL, idle, NULL);
    if (rc == 0)
      made++;
  }
  static int said;
  if (made < n && said++ < 2)
    fprintf(stderr, "hostile_spawn_threads: %d of %d started (%s)\n", made, n,
            strerror(rc));
  return made;
}

static int h_create(const uint8_t *c, size_t cl, const uint8_t *s, size_t sl,
                    void **inst) {
  (void)c, (void)cl, (void)s, (void)sl;
  started = spawn(64);
  *inst = NULL;
  return SBX_PLUGIN_OK;
}

static int h_handle(void *inst, const uint8_t *in, size_t len,
                    sbx_plugin_output *out) {
  (void)inst;
  started += spawn(1);
  if (started > 0) {
    char msg[64];
    int n = snprintf(msg, sizeof msg, "ESCAPED: %d threads", started);
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
    .name = "hostile_spawn_threads",
    .version = "1",
    .vendor = "tests",
    .create = h_create,
    .handle = h_handle,
    .destroy = h_destroy,
};
SBX_PLUGIN_DEFINE(d)
