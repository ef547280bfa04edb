/* hostile_kill_parent.c - signals its parent, PID 1, every process it can
 * (-1), and a pid named in its config ("pid=N", e.g. the test's shell), in
 * create() and on every request.
 * Expected: in create() nothing happens (the PID namespace has no parent
 * to see: getppid() is 0, the host is PID 1 of its own namespace, and
 * Landlock scopes signals); on a request, kill() is outside the strict
 * allowlist and the host dies of SIGSYS: CRASH. The harness, the test's
 * shell and other processes live on. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sbx_plugin.h>

static long victim;

static void strike(const char *when) {
  int a = kill(getppid(), SIGKILL) == 0;
  int b = kill(1, SIGKILL) == 0;
  int c = victim > 0 ? kill((pid_t)victim, SIGKILL) == 0 : 0;

  fprintf(stderr, "hostile_kill_parent: %s: ppid=%ld %d, 1 %d, %ld %d (%s)\n",
          when, (long)getppid(), a, b, victim, c, strerror(errno));
}

static int h_create(const uint8_t *cfg, size_t cl, const uint8_t *s, size_t sl,
                    void **inst) {
  char buf[32];

  (void)s, (void)sl;
  if (cl > 4 && cl < sizeof buf && memcmp(cfg, "pid=", 4) == 0) {
    memcpy(buf, cfg + 4, cl - 4);
    buf[cl - 4] = '\0';
    victim = strtol(buf, NULL, 10);
  }
  strike("create");
  *inst = NULL;
  return SBX_PLUGIN_OK;
}

static int h_handle(void *inst, const uint8_t *in, size_t len,
                    sbx_plugin_output *out) {
  (void)inst;
  strike("handle");
  return out->write(out, in, len);
}

static void h_destroy(void *inst) {
  (void)inst;
}

static const sbx_plugin_descriptor d = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof d,
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "hostile_kill_parent",
    .version = "1",
    .vendor = "tests",
    .create = h_create,
    .handle = h_handle,
    .destroy = h_destroy,
};
SBX_PLUGIN_DEFINE(d)
