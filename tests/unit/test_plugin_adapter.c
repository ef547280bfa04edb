/* test_plugin_adapter.c - the plugin adapter on a real loop with a real
 * child process.
 *
 * The child is either the real sbx-plugin-host (build/bin, with the null
 * plugin build/plugins/libnull.so) when both exist, or this very program
 * re-executed as a small stand-in host ("--library" as first argument)
 * that loads the same kind of plugin and speaks the same frames, and that
 * can misbehave on request (its INIT config picks a mode): hang, crash,
 * answer garbage, refuse, fail set-up. The stand-in makes the supervision
 * paths testable whatever state the real host is in. */
#include <dlfcn.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "../../plugins/include/sbx_plugin.h"
#include "ipc_frame.h"
#include "plugin.h"
#include "sbx/v1/plugin.pb-c.h"
#include "shm_ring.h"
#include "testlib.h"

/* ---- the stand-in host -------------------------------------------------- */

struct outbuf {
  sbx_plugin_output out;
  uint8_t *buf;
  size_t cap;
};

static int out_write(sbx_plugin_output *o, const void *data, size_t len) {
  struct outbuf *b = (struct outbuf *)o;
  if (o->len + len > o->limit)
    return SBX_PLUGIN_E_TOO_LARGE;
  if (o->len + len > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < o->len + len)
      cap *= 2;
    b->buf = realloc(b->buf, cap);
    if (b->buf == NULL)
      abort();
    b->cap = cap;
  }
  memcpy(b->buf + o->len, data, len);
  o->len += len;
  return SBX_PLUGIN_OK;
}

static struct sbx_ring *fh_ring;
static uint8_t *fh_tx;
static size_t fh_tx_len, fh_tx_cap;

static void fh_queue(uint8_t type, uint16_t status, uint64_t id,
                     const uint8_t *p, size_t n) {
  if (fh_tx_len + SBX_FRAME_HEADER + n > fh_tx_cap) {
    fh_tx_cap = (fh_tx_len + SBX_FRAME_HEADER + n) * 2;
    fh_tx = realloc(fh_tx, fh_tx_cap);
    if (fh_tx == NULL)
      abort();
  }
  sbx_frame_header(fh_tx + fh_tx_len, type, status, id, (uint32_t)n);
  if (n > 0)
    memcpy(fh_tx + fh_tx_len + SBX_FRAME_HEADER, p, n);
  fh_tx_len += SBX_FRAME_HEADER + n;
}

static void fh_flush(void) {
  struct iovec iov = {fh_tx, fh_tx_len};
  if (fh_tx_len == 0)
    return;
  if (fh_ring != NULL) {
    if (sbx_ring_host_write(fh_ring, 3, &iov, 1) != 0)
      _exit(3);
  } else {
    size_t off = 0;
    while (off < fh_tx_len) {
      ssize_t n = send(3, fh_tx + off, fh_tx_len - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        _exit(3);
      off += (size_t)n;
    }
  }
  fh_tx_len = 0;
}

static long fh_read(uint8_t *buf, size_t cap) {
  if (fh_ring != NULL)
    return sbx_ring_host_read(fh_ring, 3, buf, cap);
  for (;;) {
    ssize_t n = recv(3, buf, cap, 0);
    if (n < 0 && errno == EINTR)
      continue;
    return n;
  }
}

static int fake_host(int argc, char **argv) {
  const char *lib = NULL;
  const sbx_plugin_descriptor *d;
  const sbx_plugin_descriptor *(*entry)(void);
  void *so, *inst = NULL;
  char mode[32] = "";
  uint8_t *rx = malloc(1 << 20);
  size_t rx_len = 0;
  int ring = 0, inited = 0;
  struct outbuf ob;

  signal(SIGPIPE, SIG_IGN);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--library") == 0 && i + 1 < argc)
      lib = argv[++i];
    else if (strcmp(argv[i], "--ring") == 0)
      ring = 1;
  }
  if (ring) {
    struct sbx_diag diag;
    if (sbx_ring_attach(SBX_RING_FD_MEM, SBX_RING_FD_TO_HOST,
                        SBX_RING_FD_TO_DAEMON, &fh_ring, &diag) != 0) {
      fprintf(stderr, "stand-in host: %s\n", diag.msg);
      return 72;
    }
  }
  so = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (so == NULL) {
    fprintf(stderr, "stand-in host: dlopen %s: %s\n", lib, dlerror());
    return 73;
  }
  *(void **)&entry = dlsym(so, SBX_PLUGIN_ENTRY_SYMBOL);
  d = entry();
  memset(&ob, 0, sizeof(ob));
  ob.out.write = out_write;
  for (;;) {
    long n = fh_read(rx + rx_len, (1 << 20) - rx_len);
    size_t off = 0;
    if (n <= 0)
      return 0;
    rx_len += (size_t)n;
    for (;;) {
      struct sbx_frame f;
      long k = sbx_frame_decode(rx + off, rx_len - off, 1 << 19, &f, NULL, 0);
      if (k == 0)
        break;
      if (k < 0)
        return 75;
      off += (size_t)k;
      if (f.type == SBX_FRAME_INIT && !inited) {
        Sbx__V1__PluginInit *init =
            sbx__v1__plugin_init__unpack(NULL, f.payload_len, f.payload);
        Sbx__V1__PluginHello hello = SBX__V1__PLUGIN_HELLO__INIT;
        static char *layers[] = {"rlimits"};
        uint8_t hb[256];
        size_t hn;
        uint16_t status = 0;
        if (init == NULL)
          return 76;
        if (init->config.len > 5 && memcmp(init->config.data, "mode=", 5) == 0)
          snprintf(mode, sizeof(mode), "%.*s", (int)init->config.len - 5,
                   (const char *)init->config.data + 5);
        ob.out.limit = (size_t)init->max_response_bytes;
        if (strcmp(mode, "exit71") == 0) {
          fprintf(stderr, "stand-in host: landlock: cannot build the jail\n");
          return 71;
        }
        if (strcmp(mode, "slowstart") == 0)
          usleep(300 * 1000);
        if (d->create(init->config.data, init->config.len,
                      init->scenario_setup.data, init->scenario_setup.len,
                      &inst) != 0)
          return 77;
        sbx__v1__plugin_init__free_unpacked(init, NULL);
        hello.abi_version = 1;
        hello.name = (char *)"stand-in";
        hello.n_layers = 1;
        hello.layers = layers;
        if (strcmp(mode, "refuse") == 0) {
          status = SBX_PLUGIN_E_ABI;
          hello.message = (char *)"plugin ABI 2, host ABI 1";
        }
        hn = sbx__v1__plugin_hello__pack(&hello, hb);
        fh_queue(SBX_FRAME_HELLO, status, 0, hb, hn);
        fh_flush();
        if (status != 0)
          return 0;
        inited = 1;
      } else if (f.type == SBX_FRAME_REQUEST && inited) {
        int rc;
        if (f.payload_len >= 4 && memcmp(f.payload, "hang", 4) == 0) {
          fh_flush();
          for (;;)
            pause();
        }
        if (strcmp(mode, "crash") == 0 ||
            (f.payload_len >= 5 && memcmp(f.payload, "crash", 5) == 0)) {
          fh_flush();
          abort();
        }
        if (f.payload_len >= 7 && memcmp(f.payload, "garbage", 7) == 0) {
          fh_flush();
          if (send(3, "\xff\xff\xff\x7fgarbage-garbage-garbage", 27,
                   MSG_NOSIGNAL) < 0 &&
              fh_ring == NULL)
            return 3;
          if (fh_ring != NULL) {
            struct iovec iov = {(void *)"\x00\x00\x00\x00", 4};
            sbx_ring_host_write(fh_ring, 3, &iov, 1);
          }
          for (;;)
            pause();
        }
        if (f.payload_len >= 6 && memcmp(f.payload, "twice!", 6) == 0) {
          fh_queue(SBX_FRAME_RESPONSE, 0, f.id, NULL, 0);
          fh_queue(SBX_FRAME_RESPONSE, 0, f.id, NULL, 0);
          continue;
        }
        ob.out.len = 0;
        rc = d->handle(inst, f.payload, f.payload_len, &ob.out);
        fh_queue(SBX_FRAME_RESPONSE, (uint16_t)rc, f.id, ob.buf,
                 rc == 0 ? ob.out.len : 0);
      } else if (f.type == SBX_FRAME_SHUTDOWN) {
        fh_flush();
        d->destroy(inst);
        return 0;
      } else {
        return 78;
      }
    }
    fh_flush();
    memmove(rx, rx + off, rx_len - off);
    rx_len -= off;
  }
}

/* ---- the driver --------------------------------------------------------- */

#define N_CASES 512

struct drv {
  uv_loop_t loop;
  struct sbx_adapter *a;
  Sbx__V1__Case cases[N_CASES];
  char inputs[N_CASES][32];
  struct sbx_request *reqs;
  uint32_t *free_reqs;
  uint32_t n_free, depth;
  uint64_t total, submitted, completed;
  uint64_t by_class[16];
  uint64_t mismatches;
  uint64_t kill_at; /* kill the host after this many completions; 0: no */
  int killed;
  char cg_name[128]; /* the killed host's cgroup name (real host, root) */
  const char *special; /* input of request number special_at */
  uint64_t special_at;
  int fatal;
  char fatal_why[512];
  int closed;
  int close_when_done;
  char last_detail[16][128];
};

static struct drv *g_drv;

/* The name of the cgroup the jailed child of host pid joined ("" when it
 * has none: not root, stand-in host), from /proc/<child>/cgroup. */
static void host_cgroup_name(int pid, char *out, size_t cap) {
  char path[96], line[512];
  FILE *f;
  int child = 0;

  out[0] = '\0';
  snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
  f = fopen(path, "r");
  if (f == NULL)
    return;
  if (fscanf(f, "%d", &child) != 1)
    child = 0;
  fclose(f);
  if (child <= 0)
    return;
  snprintf(path, sizeof(path), "/proc/%d/cgroup", child);
  f = fopen(path, "r");
  if (f == NULL)
    return;
  while (fgets(line, sizeof(line), f) != NULL) {
    char *p = strstr(line, "/sbx/");
    if (p != NULL) {
      p += 5;
      p[strcspn(p, "\n/")] = '\0';
      snprintf(out, cap, "%s", p);
      break;
    }
  }
  fclose(f);
}

/* Whether a cgroup directory called name is left under any hierarchy. */
static int cgroup_left(const char *name) {
  char pat[2][192];
  int left = 0;

  snprintf(pat[0], sizeof(pat[0]), "/sys/fs/cgroup/*/sbx/%s", name);
  snprintf(pat[1], sizeof(pat[1]), "/sys/fs/cgroup/sbx/%s", name);
  for (int i = 0; i < 2; i++) {
    glob_t g;
    if (glob(pat[i], GLOB_NOSORT, NULL, &g) == 0) {
      for (size_t k = 0; k < g.gl_pathc; k++)
        fprintf(stderr, "left behind: %s\n", g.gl_pathv[k]);
      left += (int)g.gl_pathc;
    }
    globfree(&g);
  }
  return left;
}

static void drv_fill(struct drv *d);

static void on_closed(struct sbx_adapter *a) {
  (void)a;
  g_drv->closed = 1;
}

static void on_fatal(struct sbx_adapter *a, const char *why) {
  struct drv *d = g_drv;
  d->fatal++;
  snprintf(d->fatal_why, sizeof(d->fatal_why), "%s", why);
  a->ops->close(a, on_closed);
}

static void on_done(struct sbx_adapter *a, struct sbx_request *req) {
  struct drv *d = g_drv;
  uint32_t slot = req->slot;
  (void)a;
  d->completed++;
  if ((unsigned)req->error < 16) {
    d->by_class[req->error]++;
    snprintf(d->last_detail[req->error], 128, "%s", req->detail);
  }
  if (req->error == SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE &&
      (req->body_len != req->kase->input.len ||
       memcmp(req->body, req->kase->input.data, req->body_len) != 0))
    d->mismatches++;
  d->free_reqs[d->n_free++] = slot;
  if (d->kill_at != 0 && !d->killed && d->completed >= d->kill_at) {
    int pid = sbx_plugin_host_pid(d->a);
    d->killed = 1;
    if (pid > 0) {
      host_cgroup_name(pid, d->cg_name, sizeof(d->cg_name));
      kill(pid, SIGKILL);
    }
  }
  if (d->closed || d->fatal)
    return;
  if (d->completed == d->total && d->close_when_done) {
    d->a->ops->close(d->a, on_closed);
    return;
  }
  drv_fill(d);
}

static void drv_fill(struct drv *d) {
  while (d->n_free > 0 && d->submitted < d->total && !d->closed) {
    uint32_t slot = d->free_reqs[--d->n_free];
    struct sbx_request *req = &d->reqs[slot];
    int rc;
    memset(req, 0, sizeof(*req));
    req->slot = slot;
    req->seq = d->submitted;
    if (d->special != NULL && d->submitted == d->special_at) {
      static Sbx__V1__Case special = SBX__V1__CASE__INIT;
      special.input.data = (uint8_t *)d->special;
      special.input.len = strlen(d->special);
      req->kase = &special;
    } else {
      req->kase = &d->cases[d->submitted % N_CASES];
    }
    rc = d->a->ops->submit(d->a, req);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) {
      d->free_reqs[d->n_free++] = slot;
      return;
    }
    d->submitted++;
  }
}

struct env {
  char host[PATH_MAX];
  char self[PATH_MAX];
  char null_lib[PATH_MAX];
  int real; /* the real host and null plugin exist */
};

static struct env g_env;

static void drv_init(struct drv *d, uint32_t depth, uint64_t total) {
  memset(d, 0, sizeof(*d));
  g_drv = d;
  CHECK_EQ_INT(uv_loop_init(&d->loop), 0);
  for (int i = 0; i < N_CASES; i++) {
    Sbx__V1__Case c = SBX__V1__CASE__INIT;
    snprintf(d->inputs[i], sizeof(d->inputs[i]), "case-%d-%s", i,
             i % 3 == 0 ? "" : "xxxxxxxxxxxxxxxx");
    c.input.data = (uint8_t *)d->inputs[i];
    c.input.len = i == 7 ? 0 : strlen(d->inputs[i]);
    d->cases[i] = c;
  }
  d->depth = depth;
  d->total = total;
  d->reqs = calloc(depth, sizeof(*d->reqs));
  d->free_reqs = calloc(depth, sizeof(*d->free_reqs));
  for (uint32_t i = 0; i < depth; i++)
    d->free_reqs[d->n_free++] = i;
  d->close_when_done = 1;
}

static void drv_cfg(struct sbx_plugin_config *c, int real, int transport,
                    const char *config) {
  memset(c, 0, sizeof(*c));
  c->host_path = real ? g_env.host : g_env.self;
  c->library = g_env.null_lib;
  c->config = (const uint8_t *)config;
  c->config_len = config != NULL ? strlen(config) : 0;
  c->timeout_us = 5000000;
  c->transport = transport;
}

static int drv_run(struct drv *d, struct sbx_plugin_config *c) {
  struct sbx_diag diag = {{0}};
  int rc;
  c->max_in_flight = d->depth;
  rc = sbx_plugin_open(&d->loop, c, on_done, d, &d->a, &diag);
  if (rc != 0) {
    fprintf(stderr, "open: %s\n", diag.msg);
    return rc;
  }
  d->a->on_fatal = on_fatal;
  drv_fill(d);
  uv_run(&d->loop, UV_RUN_DEFAULT);
  return 0;
}

static void drv_end(struct drv *d) {
  CHECK(d->closed);
  CHECK_EQ_INT(uv_loop_close(&d->loop), 0);
  free(d->reqs);
  free(d->free_reqs);
}

/* ---- tests -------------------------------------------------------------- */

static void test_echo(int real, int transport) {
  struct drv d;
  struct sbx_plugin_config c;
  drv_init(&d, 64, 10000);
  drv_cfg(&c, real, transport, NULL);
  CHECK_EQ_INT(drv_run(&d, &c), 0);
  CHECK_EQ_INT(d.completed, 10000);
  CHECK_EQ_INT(d.by_class[0], 10000);
  CHECK_EQ_INT(d.mismatches, 0);
  CHECK_EQ_INT(d.fatal, 0);
  if (d.fatal)
    fprintf(stderr, "fatal: %s\n", d.fatal_why);
  if (d.by_class[0] != 10000)
    for (int i = 1; i < 16; i++)
      if (d.by_class[i])
        fprintf(stderr, "class %d: %s\n", i, d.last_detail[i]);
  drv_end(&d);
}

/* usage() of a host that has done some work; checked before close. */
static struct sbx_adapter_usage g_usage;
static void on_done_usage(struct sbx_adapter *a, struct sbx_request *req) {
  struct drv *d = g_drv;
  if (d->completed + 1 == d->total)
    a->ops->usage(a, &g_usage);
  on_done(a, req);
}

static void test_usage(int real) {
  struct drv d;
  struct sbx_plugin_config c;
  struct sbx_diag diag = {{0}};
  drv_init(&d, 64, 200000);
  drv_cfg(&c, real, SBX_PLUGIN_SOCKET, NULL);
  c.max_in_flight = 64;
  memset(&g_usage, 0, sizeof(g_usage));
  CHECK_EQ_INT(sbx_plugin_open(&d.loop, &c, on_done_usage, &d, &d.a, &diag), 0);
  d.a->on_fatal = on_fatal;
  drv_fill(&d);
  uv_run(&d.loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(d.by_class[0], 200000);
  CHECK(g_usage.cpu_us > 0);
  CHECK(g_usage.peak_rss_bytes > 0);
  CHECK_EQ_INT(g_usage.restarts, 0);
  CHECK(g_usage.layers[0] != '\0');
  drv_end(&d);
}

static void test_kill_mid_run(int real, int transport) {
  struct drv d;
  struct sbx_plugin_config c;
  drv_init(&d, 64, 3000);
  drv_cfg(&c, real, transport, NULL);
  d.kill_at = 1000;
  CHECK_EQ_INT(drv_run(&d, &c), 0);
  CHECK_EQ_INT(d.completed, 3000);
  CHECK(d.killed);
  /* The requests the host held when it died are CRASH; there may be none:
   * over the ring, a host can have answered everything it was sent before
   * the kill lands, and those answers are still read and count. */
  CHECK(d.by_class[SBX__V1__ERROR_CLASS__ERROR_CLASS_CRASH] <= 64);
  if (d.by_class[SBX__V1__ERROR_CLASS__ERROR_CLASS_CRASH] > 0)
    CHECK(strstr(d.last_detail[SBX__V1__ERROR_CLASS__ERROR_CLASS_CRASH],
                 "signal 9") != NULL);
  CHECK_EQ_INT(d.by_class[0] +
                   d.by_class[SBX__V1__ERROR_CLASS__ERROR_CLASS_CRASH],
               3000);
  CHECK_EQ_INT(d.mismatches, 0);
  CHECK_EQ_INT(d.fatal, 0);
  drv_end(&d);
  /* The outer process died before it could remove its cgroups: the
   * adapter removed them after reaping it. */
  if (d.cg_name[0] != '\0')
    CHECK_EQ_INT(cgroup_left(d.cg_name), 0);
  else if (real && geteuid() == 0)
    fprintf(stderr, "note: the real host had no cgroup to check\n");
}

static void test_timeout(int transport) {
  struct drv d;
  struct sbx_plugin_config c;
  drv_init(&d, 8, 200);
  drv_cfg(&c, 0, transport, NULL);
  c.timeout_us = 300000;
  d.special = "hang";
  d.special_at = 50;
  CHECK_EQ_INT(drv_run(&d, &c), 0);
  CHECK_EQ_INT(d.completed, 200);
  /* The hung request, and those queued behind it that waited past their
   * own deadlines too. */
  CHECK(d.by_class[SBX__V1__ERROR_CLASS__ERROR_CLASS_TIMEOUT] >= 1);
  CHECK(strstr(d.last_detail[SBX__V1__ERROR_CLASS__ERROR_CLASS_TIMEOUT],
               "killed") != NULL);
  /* The others held by the killed host, if any, are CRASH. */
  CHECK_EQ_INT(d.by_class[0] +
                   d.by_class[SBX__V1__ERROR_CLASS__ERROR_CLASS_TIMEOUT] +
                   d.by_class[SBX__V1__ERROR_CLASS__ERROR_CLASS_CRASH],
               200);
  CHECK(d.by_class[0] >= 192);
  CHECK_EQ_INT(d.fatal, 0);
  drv_end(&d);
}

static void test_protocol(const char *input, int transport) {
  struct drv d;
  struct sbx_plugin_config c;
  drv_init(&d, 8, 100);
  drv_cfg(&c, 0, transport, NULL);
  d.special = input;
  d.special_at = 20;
  CHECK_EQ_INT(drv_run(&d, &c), 0);
  CHECK_EQ_INT(d.completed, 100);
  CHECK(d.by_class[SBX__V1__ERROR_CLASS__ERROR_CLASS_PROTOCOL] >= 1);
  CHECK(strstr(d.last_detail[SBX__V1__ERROR_CLASS__ERROR_CLASS_PROTOCOL],
               "protocol") != NULL);
  CHECK(d.by_class[0] >= 90);
  CHECK_EQ_INT(d.fatal, 0);
  drv_end(&d);
}

static void test_fatal(const char *config, const char *const *layers,
                       size_t n_layers, const char *expect) {
  struct drv d;
  struct sbx_plugin_config c;
  drv_init(&d, 4, 1000);
  drv_cfg(&c, 0, SBX_PLUGIN_SOCKET, config);
  c.required_layers = layers;
  c.n_required_layers = n_layers;
  CHECK_EQ_INT(drv_run(&d, &c), 0);
  CHECK_EQ_INT(d.fatal, 1);
  if (strstr(d.fatal_why, expect) == NULL)
    fprintf(stderr, "fatal: %s\n  expected: %s\n", d.fatal_why, expect);
  CHECK(strstr(d.fatal_why, expect) != NULL);
  CHECK(d.completed <= d.submitted);
  CHECK(d.by_class[0] == 0);
  drv_end(&d);
}

static void test_close_in_flight(int transport) {
  struct drv d;
  struct sbx_plugin_config c;
  /* All 16 wait for a slow-starting host when close() comes. */
  drv_init(&d, 16, 16);
  drv_cfg(&c, 0, transport, "mode=slowstart");
  c.max_in_flight = 16;
  {
    struct sbx_diag diag = {{0}};
    CHECK_EQ_INT(sbx_plugin_open(&d.loop, &c, on_done, &d, &d.a, &diag), 0);
  }
  d.a->on_fatal = on_fatal;
  drv_fill(&d);
  uv_run(&d.loop, UV_RUN_NOWAIT);
  d.closed = 0;
  d.a->ops->close(d.a, on_closed);
  CHECK_EQ_INT(d.completed, 16);
  CHECK_EQ_INT(d.by_class[SBX__V1__ERROR_CLASS__ERROR_CLASS_OTHER], 16);
  CHECK_EQ_STR(d.last_detail[SBX__V1__ERROR_CLASS__ERROR_CLASS_OTHER],
               "canceled");
  uv_run(&d.loop, UV_RUN_DEFAULT);
  drv_end(&d);
}

static void test_open_errors(void) {
  uv_loop_t loop;
  struct sbx_plugin_config c;
  struct sbx_adapter *a = (struct sbx_adapter *)1;
  struct sbx_diag diag = {{0}};

  uv_loop_init(&loop);
  drv_cfg(&c, 0, SBX_PLUGIN_SOCKET, NULL);
  c.max_in_flight = 4;
  c.library = "/nonexistent/libx.so";
  CHECK_EQ_INT(sbx_plugin_open(&loop, &c, on_done, NULL, &a, &diag),
               SBX_ENOENT);
  CHECK(a == NULL);
  CHECK(strstr(diag.msg, "/nonexistent/libx.so") != NULL);
  c.library = "/tmp";
  CHECK_EQ_INT(sbx_plugin_open(&loop, &c, on_done, NULL, &a, &diag),
               SBX_ENOENT);
  CHECK(strstr(diag.msg, "not a regular file") != NULL);
  c.library = g_env.null_lib;
  c.host_path = "/nonexistent/sbx-plugin-host";
  CHECK_EQ_INT(sbx_plugin_open(&loop, &c, on_done, NULL, &a, &diag),
               SBX_ENOENT);
  CHECK(strstr(diag.msg, "SBX_PLUGIN_HOST") != NULL);
  c.host_path = g_env.self;
  c.max_in_flight = 0;
  CHECK_EQ_INT(sbx_plugin_open(&loop, &c, on_done, NULL, &a, &diag),
               SBX_EINVAL);
  CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* With SBX_TEST_VERBOSE set, prints how long each step took. */
static void step(const char *what) {
  static uint64_t last;
  uint64_t now = uv_hrtime();
  if (getenv("SBX_TEST_VERBOSE") != NULL && last != 0)
    fprintf(stderr, "%8.1f ms  %s\n", (double)(now - last) / 1e6, what);
  last = now;
}

int main(int argc, char **argv) {
  const char *bd = getenv("SBX_BUILD_DIR");
  char build[PATH_MAX - 64];

  if (argc > 1 && strcmp(argv[1], "--library") == 0)
    _exit(fake_host(argc, argv)); /* no leak report for the stand-in */
  signal(SIGPIPE, SIG_IGN);
  snprintf(build, sizeof(build), "%s", bd != NULL ? bd : "build");
  if (realpath("/proc/self/exe", g_env.self) == NULL)
    return 1;
  snprintf(g_env.host, sizeof(g_env.host), "%s/bin/sbx-plugin-host", build);
  snprintf(g_env.null_lib, sizeof(g_env.null_lib), "%s/plugins/libnull.so",
           build);
  if (access(g_env.null_lib, R_OK) != 0) {
    fprintf(stderr, "skipped: %s not built\n", g_env.null_lib);
    return 0;
  }
  g_env.real = access(g_env.host, X_OK) == 0;
  if (!g_env.real)
    fprintf(stderr, "note: %s missing; using the stand-in host only\n",
            g_env.host);

  step("start");
  test_open_errors();
  step("test_open_errors();");
  test_echo(0, SBX_PLUGIN_SOCKET);
  step("test_echo(0, SBX_PLUGIN_SOCKET);");
  test_echo(0, SBX_PLUGIN_RING);
  step("test_echo(0, SBX_PLUGIN_RING);");
  test_usage(0);
  step("test_usage(0);");
  test_kill_mid_run(0, SBX_PLUGIN_SOCKET);
  step("test_kill_mid_run(0, SBX_PLUGIN_SOCKET);");
  test_kill_mid_run(0, SBX_PLUGIN_RING);
  step("test_kill_mid_run(0, SBX_PLUGIN_RING);");
  test_timeout(SBX_PLUGIN_SOCKET);
  step("test_timeout(SBX_PLUGIN_SOCKET);");
  test_timeout(SBX_PLUGIN_RING);
  step("test_timeout(SBX_PLUGIN_RING);");
  test_protocol("garbage", SBX_PLUGIN_SOCKET);
  step("test_protocol(\"garbage\", SBX_PLUGIN_SOCKET);");
  test_protocol("garbage", SBX_PLUGIN_RING);
  step("test_protocol(\"garbage\", SBX_PLUGIN_RING);");
  test_protocol("twice!", SBX_PLUGIN_SOCKET);
  step("test_protocol(\"twice!\", SBX_PLUGIN_SOCKET);");
  test_fatal("mode=crash", NULL, 0, "in a row without answering");
  step("test_fatal(\"mode=crash\", NULL, 0, \"in a row without answering\");");
  test_fatal("mode=refuse", NULL, 0, "plugin ABI 2, host ABI 1");
  step("test_fatal(\"mode=refuse\", NULL, 0, \"plugin ABI 2, host ABI 1\");");
  test_fatal("mode=exit71", NULL, 0, "landlock: cannot build the jail");
  step("test_fatal(\"mode=exit71\", NULL, 0, \"landlock: cannot build the "
       "jail\");");
  {
    static const char *const need[] = {"rlimits", "landlock", "cgroups"};
    test_fatal(NULL, need, 3,
               "requires jail layers landlock, cgroups; this machine "
               "engaged only rlimits");
  }
  test_close_in_flight(SBX_PLUGIN_SOCKET);
  step("test_close_in_flight(SBX_PLUGIN_SOCKET);");
  test_close_in_flight(SBX_PLUGIN_RING);
  step("test_close_in_flight(SBX_PLUGIN_RING);");
  if (g_env.real) {
    test_echo(1, SBX_PLUGIN_SOCKET);
    step("test_echo(1, SBX_PLUGIN_SOCKET);");
    test_echo(1, SBX_PLUGIN_RING);
    step("test_echo(1, SBX_PLUGIN_RING);");
    test_usage(1);
    step("test_usage(1);");
    test_kill_mid_run(1, SBX_PLUGIN_SOCKET);
    step("test_kill_mid_run(1, SBX_PLUGIN_SOCKET);");
    test_kill_mid_run(1, SBX_PLUGIN_RING);
    step("test_kill_mid_run(1, SBX_PLUGIN_RING);");
  }
  return TEST_RESULT();
}
