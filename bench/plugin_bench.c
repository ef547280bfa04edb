/* plugin_bench.c - the cost of the plugin boundary, with the null plugin.
 *
 * Usage: sbx-bench-plugin [--host PATH] [--library PATH] [--seconds S]
 * Defaults: the host next to this program (build/bin), the null plugin in
 * ../plugins/libnull.so, 2 s per throughput figure.
 *
 * Prints one Markdown table: calls/s with 64 in flight over the socketpair
 * and over the shared-memory ring (jailed, and --no-jail), the in-process
 * ceiling (dlopen and a direct call of handle() in a loop), one-at-a-time
 * round trips (p50/p99), and the time from spawn to HELLO of a fully jailed
 * host. A transport the host does not support shows its error instead. */
#include <dlfcn.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "../plugins/include/sbx_plugin.h"
#include "hist.h"
#include "plugin.h"

#define DEPTH_MAX 64

struct bench {
  uv_loop_t loop;
  struct sbx_adapter *a;
  struct sbx_request reqs[DEPTH_MAX];
  Sbx__V1__Case kase;
  uint32_t depth;
  uint64_t done, errors, target_done;
  int64_t start_ns, end_ns, stop_ns;
  struct sbx_hist *rtt; /* ns */
  int fatal, closed, closing;
  char why[512];
};

static const char *g_host, *g_lib;
static double g_seconds = 2.0;

static int64_t now_ns(void) {
  return (int64_t)uv_hrtime();
}

static void on_closed(struct sbx_adapter *a) {
  struct bench *b = a->data;
  b->closed = 1;
}

static void on_fatal(struct sbx_adapter *a, const char *why) {
  struct bench *b = a->data;
  b->fatal = 1;
  snprintf(b->why, sizeof(b->why), "%s", why);
  a->ops->close(a, on_closed);
}

static void submit(struct bench *b, struct sbx_request *r) {
  memset(r, 0, sizeof(*r));
  r->kase = &b->kase;
  r->send_ns = now_ns();
  if (b->a->ops->submit(b->a, r) != 0)
    b->errors++;
}

static void on_done(struct sbx_adapter *a, struct sbx_request *r) {
  struct bench *b = a->data;
  int64_t t = now_ns();
  if (b->closing || b->closed || b->fatal)
    return;
  if (r->error != SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE) {
    b->errors++;
    snprintf(b->why, sizeof(b->why), "%s", r->detail);
  }
  if (b->start_ns == 0) {
    /* The first answer: the host is up. Measure from here. */
    b->start_ns = t;
    b->stop_ns = t + (int64_t)(g_seconds * 1e9);
    if (b->target_done == 1)
      b->done = 1;
  } else {
    b->done++;
    if (b->rtt != NULL)
      sbx_hist_record(b->rtt, t - r->send_ns);
  }
  if ((b->target_done != 0 && b->done >= b->target_done) ||
      (b->target_done == 0 && b->start_ns != 0 && t >= b->stop_ns)) {
    b->end_ns = t;
    b->closing = 1;
    a->ops->close(a, on_closed);
    return;
  }
  submit(b, r);
}

/* Runs one measurement; returns 0 and fills b, or -1 (b->why says why). */
static int run(struct bench *b, int transport, int no_jail, uint32_t depth,
               uint64_t target) {
  struct sbx_plugin_config c;
  struct sbx_diag diag = {{0}};
  static uint8_t input[64];

  memset(input, 'x', sizeof(input));
  memset(&c, 0, sizeof(c));
  c.host_path = g_host;
  c.library = g_lib;
  c.max_in_flight = depth;
  c.timeout_us = 10000000;
  c.transport = transport;
  c.no_jail = no_jail;
  b->depth = depth;
  b->target_done = target;
  b->kase = (Sbx__V1__Case)SBX__V1__CASE__INIT;
  b->kase.input.data = input;
  b->kase.input.len = sizeof(input);
  uv_loop_init(&b->loop);
  if (sbx_plugin_open(&b->loop, &c, on_done, b, &b->a, &diag) != 0) {
    snprintf(b->why, sizeof(b->why), "%.500s", diag.msg);
    uv_loop_close(&b->loop);
    return -1;
  }
  b->a->on_fatal = on_fatal;
  /* One request first (it waits for HELLO), then the rest. */
  submit(b, &b->reqs[0]);
  while (b->start_ns == 0 && !b->fatal && !b->closed)
    uv_run(&b->loop, UV_RUN_ONCE);
  for (uint32_t i = 1; i < depth && !b->fatal && !b->closed; i++)
    submit(b, &b->reqs[i]);
  uv_run(&b->loop, UV_RUN_DEFAULT);
  uv_loop_close(&b->loop);
  return b->fatal || b->errors > 0 ? -1 : 0;
}

static void row_rate(const char *what, int transport, int no_jail) {
  struct bench b;
  memset(&b, 0, sizeof(b));
  if (run(&b, transport, no_jail, DEPTH_MAX, 0) != 0) {
    printf("| %s | failed: %.150s |\n", what, b.why);
    return;
  }
  printf("| %s | %.0f calls/s (%" PRIu64 " calls, %.2f µs each) |\n", what,
         (double)b.done * 1e9 / (double)(b.end_ns - b.start_ns), b.done,
         (double)(b.end_ns - b.start_ns) / 1e3 / (double)b.done);
}

static void row_rtt(const char *what, int transport) {
  struct bench b;
  memset(&b, 0, sizeof(b));
  b.rtt = sbx_hist_new();
  if (run(&b, transport, 0, 1, 20000) != 0) {
    printf("| %s | failed: %.150s |\n", what, b.why);
  } else {
    printf("| %s | p50 %.1f µs, p99 %.1f µs (%" PRIu64 " calls) |\n", what,
           (double)sbx_hist_percentile(b.rtt, 50.0) / 1e3,
           (double)sbx_hist_percentile(b.rtt, 99.0) / 1e3,
           sbx_hist_count(b.rtt));
  }
  sbx_hist_free(b.rtt);
}

static void row_start(void) {
  struct sbx_hist *h = sbx_hist_new();
  for (int i = 0; i < 20; i++) {
    struct bench b;
    int64_t t0 = now_ns();
    memset(&b, 0, sizeof(b));
    if (run(&b, SBX_PLUGIN_SOCKET, 0, 1, 1) != 0) {
      printf("| jailed host start (spawn → HELLO → first answer) | failed: "
             "%.150s |\n",
             b.why);
      sbx_hist_free(h);
      return;
    }
    sbx_hist_record(h, b.start_ns - t0);
  }
  printf("| jailed host start (spawn → HELLO → first answer) | median %.2f "
         "ms, max %.2f ms (20 starts) |\n",
         (double)sbx_hist_percentile(h, 50.0) / 1e6,
         (double)sbx_hist_max(h) / 1e6);
  sbx_hist_free(h);
}

struct ceiling_out {
  sbx_plugin_output out;
  uint8_t buf[4096];
};

static int ceiling_write(sbx_plugin_output *o, const void *d, size_t n) {
  struct ceiling_out *c = (struct ceiling_out *)o;
  if (o->len + n > sizeof(c->buf))
    return SBX_PLUGIN_E_TOO_LARGE;
  memcpy(c->buf + o->len, d, n);
  o->len += n;
  return SBX_PLUGIN_OK;
}

static void row_ceiling(void) {
  void *so = dlopen(g_lib, RTLD_NOW | RTLD_LOCAL);
  const sbx_plugin_descriptor *(*entry)(void);
  const sbx_plugin_descriptor *d;
  struct ceiling_out co;
  uint8_t in[64];
  void *inst = NULL;
  uint64_t n = 0;
  int64_t t0, t1;

  if (so == NULL) {
    printf("| in-process call (ceiling) | dlopen failed: %s |\n", dlerror());
    return;
  }
  *(void **)&entry = dlsym(so, SBX_PLUGIN_ENTRY_SYMBOL);
  d = entry != NULL ? entry() : NULL;
  if (d == NULL ||
      d->create((const uint8_t *)"", 0, (const uint8_t *)"", 0, &inst) != 0) {
    printf("| in-process call (ceiling) | no usable descriptor |\n");
    dlclose(so);
    return;
  }
  memset(in, 'x', sizeof(in));
  memset(&co, 0, sizeof(co));
  co.out.write = ceiling_write;
  co.out.limit = sizeof(co.buf);
  t0 = now_ns();
  t1 = t0;
  while (t1 - t0 < (int64_t)(g_seconds * 1e9)) {
    for (int i = 0; i < 4096; i++) {
      co.out.len = 0;
      d->handle(inst, in, sizeof(in), &co.out);
    }
    n += 4096;
    t1 = now_ns();
  }
  d->destroy(inst);
  dlclose(so);
  printf("| in-process call (ceiling) | %.0f calls/s |\n",
         (double)n * 1e9 / (double)(t1 - t0));
}

int main(int argc, char **argv) {
  char exe[PATH_MAX], host[PATH_MAX + 32], lib[PATH_MAX + 32];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  char *slash;

  setvbuf(stdout, NULL, _IOLBF, 0);
  if (n <= 0)
    return 1;
  exe[n] = '\0';
  slash = strrchr(exe, '/');
  if (slash != NULL)
    *slash = '\0';
  snprintf(host, sizeof(host), "%s/sbx-plugin-host", exe);
  snprintf(lib, sizeof(lib), "%s/../plugins/libnull.so", exe);
  g_host = host;
  g_lib = lib;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--host") == 0)
      g_host = argv[i + 1];
    else if (strcmp(argv[i], "--library") == 0)
      g_lib = argv[i + 1];
    else if (strcmp(argv[i], "--seconds") == 0)
      g_seconds = strtod(argv[i + 1], NULL);
  }
  if (!(g_seconds > 0))
    g_seconds = 2.0;

  printf("Plugin boundary, null plugin, 64-byte requests (host %s)\n\n",
         g_host);
  printf("| measurement | result |\n|---|---|\n");
  row_rate("socketpair, 64 in flight, jailed", SBX_PLUGIN_SOCKET, 0);
  row_rate("socketpair, 64 in flight, --no-jail", SBX_PLUGIN_SOCKET, 1);
  row_rate("ring, 64 in flight, jailed", SBX_PLUGIN_RING, 0);
  row_rate("ring, 64 in flight, --no-jail", SBX_PLUGIN_RING, 1);
  row_ceiling();
  row_rtt("one at a time, socketpair (round trip)", SBX_PLUGIN_SOCKET);
  row_rtt("one at a time, ring (round trip)", SBX_PLUGIN_RING);
  row_start();
  return 0;
}
