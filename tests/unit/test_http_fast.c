/* test_http_fast.c - the fast HTTP/1.1 adapter against sbx_faultd.
 *
 * Starts build/bin/sbx_faultd (SBX_BUILD_DIR, default "build") on an
 * ephemeral port and drives the adapter on its own uv loop per test with
 * hand-made cases: every fault route and its error class (the same as the
 * libcurl adapter's), methods and bodies, a long closed-loop run counting the
 * sockets opened, pipelining (order, faults in the middle of a pipeline,
 * Connection: close, HEAD, large request bodies), a refused port, close()
 * with requests in flight and from inside on_done, and the keep-alive race
 * against a small misbehaving server run on the test's own loop, and that
 * slow traffic leaves the loop asleep (no busy polling). Each loop
 * must close with uv_loop_close() == 0. Also prints (never asserts) the
 * requests/s of this adapter and of the libcurl adapter over 64 connections.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>
#include <uv.h>

#include "adapter.h"
#include "err.h"
#include "http_curl.h"
#include "http_fast.h"
#include "testlib.h"
#include "faultd.h"

/* ---- harness ------------------------------------------------------------- */

struct treq {
  struct sbx_request req;
  Sbx__V1__Case kase;
  char path[128];
  char body[256];
  size_t body_len;
  int done;
  int order; /* completion order, from 1 */
};

struct ctx {
  uv_loop_t loop;
  struct sbx_adapter *a;
  int in_submit;
  int done_inside_submit;
  int done;
  int closed;
  int total, submitted, ok, bad_body;
  int close_on_first_done;
  int resubmit_rc; /* what a submit from on_done returned while closing */
  int use_curl;
};

static void on_closed(struct sbx_adapter *a) {
  struct ctx *c = a->data;
  c->closed++;
}

static void record(struct ctx *c, struct sbx_request *req) {
  struct treq *t = req->engine_data;
  size_t n =
      req->body_len < sizeof(t->body) - 1 ? req->body_len : sizeof(t->body) - 1;
  if (c->in_submit)
    c->done_inside_submit++;
  CHECK(t->done == 0);
  t->done++;
  t->body_len = req->body_len;
  if (n > 0)
    memcpy(t->body, req->body, n);
  t->body[n] = '\0';
  CHECK(req->done_ns >= req->send_ns);
  c->done++;
  t->order = c->done;
}

static void case_init(struct treq *t, const char *path, uint32_t index) {
  memset(t, 0, sizeof(*t));
  sbx__v1__case__init(&t->kase);
  snprintf(t->path, sizeof(t->path), "%s", path);
  t->kase.path = t->path;
  t->req.kase = &t->kase;
  t->req.case_index = index;
  t->req.engine_data = t;
}

static int submit(struct ctx *c, struct treq *t) {
  int rc;
  t->req.send_ns = (int64_t)uv_hrtime();
  c->in_submit = 1;
  rc = c->a->ops->submit(c->a, &t->req);
  c->in_submit = 0;
  return rc;
}

static void close_and_drain(struct ctx *c) {
  if (c->a != NULL && c->closed == 0)
    c->a->ops->close(c->a, on_closed);
  uv_run(&c->loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(c->closed, 1);
  CHECK_EQ_INT(uv_loop_close(&c->loop), 0);
}

static void run_until(struct ctx *c, int n) {
  while (c->done < n && uv_run(&c->loop, UV_RUN_ONCE) != 0)
    ;
  CHECK_EQ_INT(c->done, n);
}

static void on_done_record(struct sbx_adapter *a, struct sbx_request *req) {
  struct ctx *c = a->data;
  record(c, req);
  if (c->close_on_first_done && c->done == 1) {
    a->ops->close(a, on_closed);
    c->resubmit_rc = a->ops->submit(a, req);
  }
}

static int open_full(struct ctx *c, const char *base,
                     const Sbx__V1__Interface *iface, uint32_t max_in_flight,
                     uint32_t depth, int64_t timeout_us, uint64_t cap,
                     sbx_adapter_done_cb cb) {
  struct sbx_http_config cfg;
  struct sbx_diag diag = {{0}};
  int rc;
  memset(&cfg, 0, sizeof(cfg));
  cfg.base_url = base;
  cfg.iface = iface;
  cfg.max_in_flight = max_in_flight;
  cfg.timeout_us = timeout_us;
  cfg.max_body_bytes = cap;
  cfg.pipeline_depth = depth;
  if (c->use_curl)
    rc = sbx_http_curl_open(&c->loop, &cfg, cb, c, &c->a, &diag);
  else
    rc = sbx_http_fast_open(&c->loop, &cfg, cb, c, &c->a, &diag);
  if (rc != 0)
    fprintf(stderr, "open: %s: %s\n", sbx_err_name(rc), diag.msg);
  return rc;
}

static int open_adapter(struct ctx *c, const char *base,
                        const Sbx__V1__Interface *iface, uint32_t max_in_flight,
                        int64_t timeout_us, uint64_t cap,
                        sbx_adapter_done_cb cb) {
  return open_full(c, base, iface, max_in_flight, 0, timeout_us, cap, cb);
}

static void ctx_init(struct ctx *c) {
  memset(c, 0, sizeof(*c));
  uv_loop_init(&c->loop);
}

/* ---- open validation ----------------------------------------------------- */

static void expect_open_fails(const char *base, const Sbx__V1__Interface *iface,
                              uint32_t mif, uint32_t depth, int want_rc,
                              const char *needle) {
  struct sbx_http_config cfg;
  struct sbx_diag diag = {{0}};
  struct sbx_adapter *a = (struct sbx_adapter *)&cfg; /* must become NULL */
  uv_loop_t loop;
  int rc;
  uv_loop_init(&loop);
  memset(&cfg, 0, sizeof(cfg));
  cfg.base_url = base;
  cfg.iface = iface;
  cfg.max_in_flight = mif;
  cfg.pipeline_depth = depth;
  rc = sbx_http_fast_open(&loop, &cfg, on_done_record, NULL, &a, &diag);
  CHECK_EQ_INT(rc, want_rc);
  CHECK(a == NULL);
  if (strstr(diag.msg, needle) == NULL) {
    fprintf(stderr, "open(%s): message \"%s\" lacks \"%s\"\n",
            base ? base : "(null)", diag.msg, needle);
    test_failures++;
  }
  CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

static void test_open_validation(void) {
  Sbx__V1__Interface iface;
  Sbx__V1__Header h, *hs[1] = {&h};
  static const char *const good[] = {"http://127.0.0.1:1", "http://127.0.0.1/",
                                     "http://[::1]:8080", "HTTP://localhost:1",
                                     "http://localhost:"};
  size_t i;

  expect_open_fails(NULL, NULL, 4, 0, SBX_EINVAL, "base_url: missing");
  expect_open_fails("", NULL, 4, 0, SBX_EINVAL, "base_url: missing");
  expect_open_fails("https://example.com", NULL, 4, 0, SBX_EINVAL,
                    "the fast HTTP client handles plain http:// only; use "
                    "--http-client curl for https://");
  expect_open_fails("ftp://x", NULL, 4, 0, SBX_EINVAL, "plain http:// only");
  expect_open_fails("127.0.0.1:8080", NULL, 4, 0, SBX_EINVAL,
                    "scheme must be http://");
  expect_open_fails("http://", NULL, 4, 0, SBX_EINVAL, "no host");
  expect_open_fails("http://:80", NULL, 4, 0, SBX_EINVAL, "no host");
  expect_open_fails("http://h/api", NULL, 4, 0, SBX_EINVAL,
                    "has the path \"/api\"");
  expect_open_fails("http://h/?q=1", NULL, 4, 0, SBX_EINVAL,
                    "query or fragment");
  expect_open_fails("http://h#f", NULL, 4, 0, SBX_EINVAL, "query or fragment");
  expect_open_fails("http://u:p@h", NULL, 4, 0, SBX_EINVAL, "credentials");
  expect_open_fails("http://u@127.0.0.1:80", NULL, 4, 0, SBX_EINVAL,
                    "remove \"user@\"");
  expect_open_fails("http://h st", NULL, 4, 0, SBX_EINVAL, "offset 8");
  expect_open_fails("http://h:99999", NULL, 4, 0, SBX_EINVAL,
                    "port \"99999\" is not a number from 1 to 65535");
  expect_open_fails("http://h:0", NULL, 4, 0, SBX_EINVAL, "port \"0\"");
  expect_open_fails("http://h:8x", NULL, 4, 0, SBX_EINVAL, "port \"8x\"");
  expect_open_fails("http://h!x", NULL, 4, 0, SBX_EINVAL, "contains '!'");
  expect_open_fails("http://[::1", NULL, 4, 0, SBX_EINVAL, "closing \"]\"");
  expect_open_fails("http://[zz]:1", NULL, 4, 0, SBX_EINVAL,
                    "not an IPv6 address");
  expect_open_fails("http://h", NULL, 0, 0, SBX_EINVAL, "max_in_flight 0");
  expect_open_fails("http://nonexistent.invalid:80", NULL, 4, 0, SBX_EIO,
                    "cannot resolve \"nonexistent.invalid\"");
  expect_open_fails("http://h", NULL, 4, 5000, SBX_EINVAL,
                    "pipeline_depth 5000");

  sbx__v1__interface__init(&iface);
  sbx__v1__header__init(&h);
  iface.headers = hs;
  iface.n_headers = 1;
  h.name = "Bad Name";
  h.value = "v";
  expect_open_fails("http://127.0.0.1", &iface, 4, 0, SBX_EINVAL,
                    "interface.headers[0]: name");
  h.name = "X-Ok";
  h.value = "a\r\nX-Evil: 1";
  expect_open_fails("http://127.0.0.1", &iface, 4, 0, SBX_EINVAL, "line break");
  h.name = "content-length";
  h.value = "5";
  expect_open_fails("http://127.0.0.1", &iface, 4, 0, SBX_EINVAL,
                    "set by the HTTP client");
  iface.n_headers = 0;
  iface.content_type = "text/plain\n";
  expect_open_fails("http://127.0.0.1", &iface, 4, 0, SBX_EINVAL,
                    "interface.content_type");
  iface.content_type = NULL;
  iface.method = "GE T";
  expect_open_fails("http://127.0.0.1", &iface, 4, 0, SBX_EINVAL,
                    "interface.method");

  for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    struct ctx c;
    ctx_init(&c);
    CHECK_EQ_INT(open_adapter(&c, good[i], NULL, 2, 0, 0, on_done_record), 0);
    if (c.a != NULL)
      CHECK_EQ_STR(c.a->ops->name, "fast");
    close_and_drain(&c);
  }
}

/* ---- every route --------------------------------------------------------- */

struct route_case {
  const char *path;
  Sbx__V1__ErrorClass error;
  uint32_t status; /* checked when error is NONE */
  const char *body;
  long body_len; /* -1: strlen(body) */
};

static const struct route_case routes[] = {
    {"/ok/abc", NONE, 200, "ok:abc\n", -1},
    {"/status/500", NONE, 500, "status 500\n", -1},
    {"/status/404", NONE, 404, "status 404\n", -1},
    {"/status/204", NONE, 204, "", -1},
    {"/slow/1500/x", TIMEOUT, 0, NULL, 0},
    {"/slow/20/s", NONE, 200, "ok:s\n", -1},
    {"/reset", RESET, 0, NULL, 0},
    {"/close-mid", RESET, 0, NULL, 0},
    {"/garbage", PROTOCOL, 0, NULL, 0},
    {"/big/100000", TOO_LARGE, 0, NULL, 0},
    {"/big/100000?te=chunked", TOO_LARGE, 0, NULL, 0},
    {"/big/4097", TOO_LARGE, 0, NULL, 0},
    {"/big/4097?te=chunked", TOO_LARGE, 0, NULL, 0},
    {"/big/4096", NONE, 200, NULL, 4096},
    {"/big/4096?te=chunked", NONE, 200, NULL, 4096},
    {"/big/3000?te=chunked", NONE, 200, NULL, 3000},
    {"/chunked/hi", NONE, 200, "ok:hi\n", -1},
    {"/wrong/x", NONE, 200, "wrong\n", -1},
    {"/nope", NONE, 404, "not found\n", -1},
};
enum { NROUTES = sizeof(routes) / sizeof(routes[0]) };

static void check_route(const struct route_case *rc, const struct treq *t) {
  const struct sbx_request *r = &t->req;
  if (r->error != rc->error) {
    fprintf(stderr, "%s: error class %d, want %d (detail \"%s\")\n", rc->path,
            (int)r->error, (int)rc->error, r->detail);
    test_failures++;
    return;
  }
  if (rc->error != NONE) {
    if (r->detail[0] == '\0') {
      fprintf(stderr, "%s: no detail\n", rc->path);
      test_failures++;
    }
    return;
  }
  CHECK_EQ_INT(r->status, rc->status);
  CHECK_EQ_STR(r->detail, "");
  if (rc->body != NULL)
    CHECK_EQ_STR(t->body, rc->body);
  CHECK_EQ_INT(t->body_len,
               rc->body_len >= 0 ? (size_t)rc->body_len : strlen(rc->body));
}

/* Every route with each request on its own connection; depth > 1 runs them
 * all pipelined over a few connections instead. Error class and status of
 * each go to out[] (may be NULL). */
static void run_routes(int use_curl, uint32_t mif, uint32_t depth,
                       struct sbx_request *out) {
  struct treq t[NROUTES];
  struct ctx c;
  int i;

  ctx_init(&c);
  c.use_curl = use_curl;
  if (open_full(&c, base_url, NULL, mif, depth, 200000, 4096, on_done_record) !=
      0) {
    test_failures++;
    return;
  }
  for (i = 0; i < NROUTES; i++) {
    case_init(&t[i], routes[i].path, (uint32_t)i);
    CHECK_EQ_INT(submit(&c, &t[i]), 0);
  }
  run_until(&c, NROUTES);
  CHECK_EQ_INT(c.done_inside_submit, 0);
  for (i = 0; i < NROUTES; i++) {
    if (depth <= 1) {
      check_route(&routes[i], &t[i]);
      if (t[i].req.error != NONE && !use_curl)
        printf("  %-24s %s\n", routes[i].path, t[i].req.detail);
    } else {
      CHECK_EQ_INT(t[i].done, 1);
    }
    if (out != NULL)
      out[i] = t[i].req;
  }
  close_and_drain(&c);
}

/* Every route through both adapters: the same error class and the same
 * status (also on failures, e.g. 200 for a body cut short), so results do
 * not depend on the client. */
static void test_routes(void) {
  static struct sbx_request fast[NROUTES], curl[NROUTES];
  int i;
  run_routes(0, NROUTES, 1, fast);
  run_routes(1, NROUTES, 1, curl);
  for (i = 0; i < NROUTES; i++) {
    if (fast[i].error != curl[i].error || fast[i].status != curl[i].status) {
      fprintf(stderr,
              "%s: fast gives class %d status %u (%s), curl class %d status "
              "%u (%s)\n",
              routes[i].path, (int)fast[i].error, fast[i].status,
              fast[i].detail, (int)curl[i].error, curl[i].status,
              curl[i].detail);
      test_failures++;
    }
  }
}

/* One connection, reused after every kind of failure. */
static const struct route_case seq_cases[] = {
    {"/reset", RESET, 0, NULL, 0},          {"/ok/a", NONE, 200, "ok:a\n", -1},
    {"/garbage", PROTOCOL, 0, NULL, 0},     {"/ok/b", NONE, 200, "ok:b\n", -1},
    {"/slow/1500/t", TIMEOUT, 0, NULL, 0},  {"/ok/c", NONE, 200, "ok:c\n", -1},
    {"/big/100000", TOO_LARGE, 0, NULL, 0}, {"/close-mid", RESET, 0, NULL, 0},
    {"/ok/d", NONE, 200, "ok:d\n", -1},     {"/status/204", NONE, 204, "", -1},
    {"/ok/e", NONE, 200, "ok:e\n", -1},
};
enum { SEQ_N = sizeof(seq_cases) / sizeof(seq_cases[0]) };

static void on_done_seq(struct sbx_adapter *a, struct sbx_request *req) {
  struct ctx *c = a->data;
  struct treq *t = req->engine_data;
  int i = c->done;
  record(c, req);
  check_route(&seq_cases[i], t);
  if (c->done < SEQ_N) {
    case_init(t, seq_cases[c->done].path, (uint32_t)c->done);
    CHECK_EQ_INT(submit(c, t), 0);
  }
}

static void test_reuse_after_errors(void) {
  struct ctx c;
  struct treq t;
  ctx_init(&c);
  if (open_adapter(&c, base_url, NULL, 1, 200000, 4096, on_done_seq) != 0) {
    test_failures++;
    return;
  }
  case_init(&t, seq_cases[0].path, 0);
  CHECK_EQ_INT(submit(&c, &t), 0);
  run_until(&c, SEQ_N);
  CHECK_EQ_INT(c.done_inside_submit, 0);
  close_and_drain(&c);
}

/* ---- methods, headers, bodies -------------------------------------------- */

static void run_one(const Sbx__V1__Interface *iface, struct treq *t) {
  struct ctx c;
  ctx_init(&c);
  if (open_adapter(&c, base_url, iface, 1, 5000000, 0, on_done_record) != 0) {
    test_failures++;
    uv_loop_close(&c.loop);
    return;
  }
  CHECK_EQ_INT(submit(&c, t), 0);
  run_until(&c, 1);
  close_and_drain(&c);
}

static void test_methods(void) {
  Sbx__V1__Interface iface;
  Sbx__V1__Header h[2], *hs[2] = {&h[0], &h[1]};
  struct treq t;
  static const char json[] = "{\"q\":\"hello\"}";
  uint8_t *big;
  size_t big_len = 8u * 1024 * 1024;

  sbx__v1__interface__init(&iface);
  sbx__v1__header__init(&h[0]);
  sbx__v1__header__init(&h[1]);
  h[0].name = "X-Test";
  h[0].value = "";
  h[1].name = "Host";
  h[1].value = "product.example";
  iface.headers = hs;
  iface.n_headers = 2;
  iface.content_type = "application/json";
  iface.method = "post";
  iface.path = "/ok/{id}";

  case_init(&t, "", 0);
  t.kase.id = "post 1";
  t.kase.input.data = (uint8_t *)json;
  t.kase.input.len = sizeof(json) - 1;
  run_one(&iface, &t);
  CHECK_EQ_INT(t.req.error, NONE);
  CHECK_EQ_INT(t.req.status, 200);
  CHECK_EQ_STR(t.body, "ok:post%201\n");

  /* POST without input still sends "Content-Length: 0". */
  case_init(&t, "", 0);
  t.kase.id = "empty";
  run_one(&iface, &t);
  CHECK_EQ_INT(t.req.error, NONE);
  CHECK_EQ_STR(t.body, "ok:empty\n");

  /* A body far over the socket buffer: partial writes through uv_write. */
  big = malloc(big_len);
  CHECK(big != NULL);
  if (big != NULL) {
    memset(big, 'b', big_len);
    case_init(&t, "", 0);
    t.kase.id = "big";
    t.kase.input.data = big;
    t.kase.input.len = big_len;
    run_one(&iface, &t);
    CHECK_EQ_INT(t.req.error, NONE);
    CHECK_EQ_STR(t.body, "ok:big\n");
    free(big);
  }

  iface.n_headers = 1;
  iface.method = "HEAD";
  iface.path = "";
  case_init(&t, "/ok/head", 0);
  run_one(&iface, &t);
  CHECK_EQ_INT(t.req.error, NONE);
  CHECK_EQ_INT(t.req.status, 200);
  CHECK_EQ_INT(t.body_len, 0);

  case_init(&t, "/big/100000", 0);
  run_one(&iface, &t); /* HEAD: the length is not a body */
  CHECK_EQ_INT(t.req.error, NONE);
  CHECK_EQ_INT(t.body_len, 0);

  iface.method = "DELETE";
  case_init(&t, "/status/202", 0);
  run_one(&iface, &t);
  CHECK_EQ_INT(t.req.error, NONE);
  CHECK_EQ_INT(t.req.status, 202);

  iface.method = "GET";
  case_init(&t, "/ok/get-with-body", 0);
  t.kase.input.data = (uint8_t *)json;
  t.kase.input.len = sizeof(json) - 1;
  run_one(&iface, &t);
  CHECK_EQ_INT(t.req.error, NONE);
  CHECK_EQ_STR(t.body, "ok:get-with-body\n");
}

/* ---- many requests on kept-alive connections ----------------------------- */

enum { MANY_CASES = 1000 };

static void many_submit(struct ctx *c, struct treq *t) {
  int n = c->submitted++;
  char path[32];
  snprintf(path, sizeof(path), "/ok/%d", n % MANY_CASES);
  case_init(t, path, (uint32_t)(n % MANY_CASES));
  CHECK_EQ_INT(submit(c, t), 0);
}

static void on_done_many(struct sbx_adapter *a, struct sbx_request *req) {
  struct ctx *c = a->data;
  struct treq *t = req->engine_data;
  char want[32];
  record(c, req);
  snprintf(want, sizeof(want), "ok:%s\n", t->path + 4);
  if (req->error == NONE && req->status == 200)
    c->ok++;
  else
    fprintf(stderr, "many: %s: class %d status %u: %s\n", t->path,
            (int)req->error, req->status, req->detail);
  if (strcmp(t->body, want) != 0)
    c->bad_body++;
  /* Submit from inside on_done, as the engine does. */
  if (c->submitted < c->total)
    many_submit(c, t);
}

/* Returns requests/s; 0 on failure. */
static double run_many(const char *base, int use_curl, int in_flight,
                       uint32_t depth, int total, uint64_t max_sockets) {
  struct ctx c;
  struct treq *pool;
  uint64_t t0, sockets;
  double rate;
  int i;

  ctx_init(&c);
  c.use_curl = use_curl;
  pool = calloc((size_t)in_flight, sizeof(*pool));
  c.total = total;
  if (pool == NULL || open_full(&c, base, NULL, (uint32_t)in_flight, depth,
                                5000000, 0, on_done_many) != 0) {
    test_failures++;
    free(pool);
    uv_loop_close(&c.loop);
    return 0;
  }
  t0 = uv_hrtime();
  for (i = 0; i < in_flight; i++)
    many_submit(&c, &pool[i]);
  {
    struct treq extra;
    case_init(&extra, "/ok/extra", 0);
    CHECK_EQ_INT(submit(&c, &extra), SBX_EBUSY);
  }
  run_until(&c, total);
  rate = total / ((double)(uv_hrtime() - t0) / 1e9);
  CHECK_EQ_INT(c.ok, total);
  CHECK_EQ_INT(c.bad_body, 0);
  CHECK_EQ_INT(c.done_inside_submit, 0);
  sockets = use_curl ? sbx_http_curl_sockets_opened(c.a)
                     : sbx_http_fast_sockets_opened(c.a);
  printf("many %s %s: %d requests, %d in flight, depth %u: %.0f req/s, %llu "
         "sockets\n",
         use_curl ? "curl" : "fast", base, total, in_flight, depth, rate,
         (unsigned long long)sockets);
  CHECK(sockets >= 1);
  CHECK(sockets <= max_sockets);
  close_and_drain(&c);
  free(pool);
  return rate;
}

static void test_many(void) {
  char local[64];
  run_many(base_url, 0, 64, 1, 20000, 64 + 4);
  /* A host name: resolved at open; "localhost" may list ::1 first while
   * faultd listens on 127.0.0.1 only, so this also covers the fallback. */
  snprintf(local, sizeof(local), "http://localhost:%d/", faultd_port);
  run_many(local, 0, 8, 1, 400, 8 + 8);
}

/* Measured, never asserted: the two adapters in one interleaved run. */
static void test_throughput(void) {
  double fast[2], curl[2];
  int i;
  for (i = 0; i < 2; i++) {
    fast[i] = run_many(base_url, 0, 64, 1, 20000, 64 + 4);
    curl[i] = run_many(base_url, 1, 64, 1, 20000, 64 + 8);
  }
  printf("throughput vs sbx_faultd, 64 connections, 20000 requests: fast "
         "%.0f/%.0f req/s, curl %.0f/%.0f req/s (ratio %.2f)\n",
         fast[0], fast[1], curl[0], curl[1],
         (curl[0] + curl[1]) > 0 ? (fast[0] + fast[1]) / (curl[0] + curl[1])
                                 : 0.0);
}

/* ---- no busy polling for slow traffic ------------------------------------ */

static void on_done_slow(struct sbx_adapter *a, struct sbx_request *req) {
  struct ctx *c = a->data;
  struct treq *t = req->engine_data;
  record(c, req);
  if (req->error == NONE && req->status == 200)
    c->ok++;
  if (c->submitted < c->total) {
    c->submitted++;
    t->done = 0;
    CHECK_EQ_INT(submit(c, t), 0);
  }
}

/* Responses 2 ms apart per connection (4 connections: ~500 us apart) are
 * slow traffic: the adapter must sleep between them, not poll (see
 * on_spin in http_fast.c). The loop's idle time (time blocked in
 * epoll_wait) is then most of the run; a loop that kept polling would
 * show almost none. A slow machine only adds idle time. */
static void test_slow_traffic_sleeps(void) {
  enum { IN_FLIGHT = 4, TOTAL = 200 };
  struct ctx c;
  struct treq pool[IN_FLIGHT];
  uint64_t t0, busy_ns, wall_ns;
  int i;

  ctx_init(&c);
  CHECK_EQ_INT(uv_loop_configure(&c.loop, UV_METRICS_IDLE_TIME), 0);
  c.total = TOTAL;
  if (open_adapter(&c, base_url, NULL, IN_FLIGHT, 5000000, 0, on_done_slow) !=
      0) {
    test_failures++;
    uv_loop_close(&c.loop);
    return;
  }
  t0 = uv_hrtime();
  for (i = 0; i < IN_FLIGHT; i++) {
    case_init(&pool[i], "/slow/2/x", 0);
    c.submitted++;
    CHECK_EQ_INT(submit(&c, &pool[i]), 0);
  }
  run_until(&c, TOTAL);
  wall_ns = uv_hrtime() - t0;
  busy_ns = wall_ns - uv_metrics_idle_time(&c.loop);
  printf("slow traffic: %d responses in %.1f ms, loop busy %.1f ms (%.0f%%)\n",
         TOTAL, wall_ns / 1e6, busy_ns / 1e6, 100.0 * busy_ns / wall_ns);
  CHECK_EQ_INT(c.ok, TOTAL);
  CHECK(busy_ns < wall_ns / 2);
  close_and_drain(&c);
}

/* ---- pipelining ---------------------------------------------------------- */

enum { PIPE_IN_FLIGHT = 64, PIPE_DEPTH = 4, PIPE_TOTAL = 4000 };

static void test_pipeline_load(void) {
  /* 64 in flight at depth 4: 16 connections, each opened once. */
  run_many(base_url, 0, PIPE_IN_FLIGHT, PIPE_DEPTH, PIPE_TOTAL,
           PIPE_IN_FLIGHT / PIPE_DEPTH + 2);
}

/* Distinct paths pipelined on one connection: each body matches its own
 * request, and they complete in the order they were sent. */
static void test_pipeline_order(void) {
  struct treq t[PIPE_DEPTH * 2];
  struct ctx c;
  char path[32];
  int i;

  ctx_init(&c);
  if (open_full(&c, base_url, NULL, PIPE_DEPTH, PIPE_DEPTH, 2000000, 0,
                on_done_record) != 0) {
    test_failures++;
    return;
  }
  for (i = 0; i < PIPE_DEPTH; i++) {
    snprintf(path, sizeof(path), i == 1 ? "/slow/30/%d" : "/ok/%d", i);
    case_init(&t[i], path, (uint32_t)i);
    CHECK_EQ_INT(submit(&c, &t[i]), 0);
  }
  run_until(&c, PIPE_DEPTH);
  for (i = 0; i < PIPE_DEPTH; i++) {
    snprintf(path, sizeof(path), "ok:%d\n", i);
    CHECK_EQ_INT(t[i].req.error, NONE);
    CHECK_EQ_STR(t[i].body, path);
    CHECK_EQ_INT(t[i].order, i + 1);
  }
  CHECK_EQ_INT(sbx_http_fast_sockets_opened(c.a), 1);
  close_and_drain(&c);
}

struct pipe_case {
  const char *paths[PIPE_DEPTH];
  Sbx__V1__ErrorClass want[PIPE_DEPTH];
};

/* Faults in the middle of a pipeline: the request behind a failed one was
 * never answered and goes again on a new connection. */
static void test_pipeline_faults(void) {
  static const struct pipe_case pc[] = {
      {{"/ok/a", "/garbage", "/ok/b", "/ok/c"}, {NONE, PROTOCOL, NONE, NONE}},
      {{"/ok/a", "/close-mid", "/ok/b", "/ok/c"}, {NONE, RESET, NONE, NONE}},
      {{"/ok/a", "/big/100000", "/ok/b", "/ok/c"},
       {NONE, TOO_LARGE, NONE, NONE}},
      {{"/garbage", "/ok/a", "/ok/b", "/ok/c"}, {PROTOCOL, NONE, NONE, NONE}},
      {{"/ok/a", "/slow/1500/x", "/ok/b", "/ok/c"},
       {NONE, TIMEOUT, TIMEOUT, TIMEOUT}},
      {{"/ok/a", "/reset", "/ok/b", "/ok/c"}, {NONE, RESET, RESET, RESET}},
  };
  size_t k;
  int i;

  for (k = 0; k < sizeof(pc) / sizeof(pc[0]); k++) {
    struct treq t[PIPE_DEPTH];
    struct ctx c;
    ctx_init(&c);
    if (open_full(&c, base_url, NULL, PIPE_DEPTH, PIPE_DEPTH, 300000, 4096,
                  on_done_record) != 0) {
      test_failures++;
      return;
    }
    for (i = 0; i < PIPE_DEPTH; i++) {
      case_init(&t[i], pc[k].paths[i], (uint32_t)i);
      CHECK_EQ_INT(submit(&c, &t[i]), 0);
    }
    run_until(&c, PIPE_DEPTH);
    for (i = 0; i < PIPE_DEPTH; i++) {
      if (t[i].req.error != pc[k].want[i]) {
        fprintf(stderr, "pipeline %zu: %s: class %d, want %d (%s)\n", k,
                pc[k].paths[i], (int)t[i].req.error, (int)pc[k].want[i],
                t[i].req.detail);
        test_failures++;
      } else if (t[i].req.error == NONE) {
        char want[32];
        snprintf(want, sizeof(want), "ok:%s\n", pc[k].paths[i] + 4);
        CHECK_EQ_STR(t[i].body, want);
      } else {
        CHECK(t[i].req.detail[0] != '\0');
      }
    }
    if (k == 0 || k == 4)
      for (i = 0; i < PIPE_DEPTH; i++)
        if (t[i].req.error != NONE)
          printf("  pipeline %s: %s\n", pc[k].paths[i], t[i].req.detail);
    close_and_drain(&c);
  }
}

/* Every route pipelined at depth 4 over 5 connections: all complete. */
static void test_pipeline_routes(void) {
  run_routes(0, NROUTES, 4, NULL);
}

/* Connection: close on every response: each request behind one is sent
 * again, without limit, since the server announced it would not answer. */
static void test_pipeline_conn_close(void) {
  Sbx__V1__Interface iface;
  Sbx__V1__Header h, *hs[1] = {&h};
  struct treq t[PIPE_DEPTH];
  struct ctx c;
  char path[32];
  int i;

  sbx__v1__interface__init(&iface);
  sbx__v1__header__init(&h);
  h.name = "Connection";
  h.value = "close";
  iface.headers = hs;
  iface.n_headers = 1;
  ctx_init(&c);
  if (open_full(&c, base_url, &iface, PIPE_DEPTH, PIPE_DEPTH, 2000000, 0,
                on_done_record) != 0) {
    test_failures++;
    return;
  }
  for (i = 0; i < PIPE_DEPTH; i++) {
    snprintf(path, sizeof(path), "/ok/cc%d", i);
    case_init(&t[i], path, (uint32_t)i);
    CHECK_EQ_INT(submit(&c, &t[i]), 0);
  }
  run_until(&c, PIPE_DEPTH);
  for (i = 0; i < PIPE_DEPTH; i++) {
    snprintf(path, sizeof(path), "ok:cc%d\n", i);
    CHECK_EQ_INT(t[i].req.error, NONE);
    CHECK_EQ_STR(t[i].body, path);
  }
  CHECK_EQ_INT(sbx_http_fast_sockets_opened(c.a), PIPE_DEPTH);
  close_and_drain(&c);
}

/* HEAD responses pipelined: no body follows their Content-Length. */
static void test_pipeline_head(void) {
  Sbx__V1__Interface iface;
  struct treq t[8];
  struct ctx c;
  int i;

  sbx__v1__interface__init(&iface);
  iface.method = "HEAD";
  ctx_init(&c);
  if (open_full(&c, base_url, &iface, 8, PIPE_DEPTH, 2000000, 0,
                on_done_record) != 0) {
    test_failures++;
    return;
  }
  for (i = 0; i < 8; i++) {
    case_init(&t[i], i % 2 ? "/big/5000" : "/ok/h", (uint32_t)(i % 2));
    CHECK_EQ_INT(submit(&c, &t[i]), 0);
  }
  run_until(&c, 8);
  for (i = 0; i < 8; i++) {
    CHECK_EQ_INT(t[i].req.error, NONE);
    CHECK_EQ_INT(t[i].req.status, 200);
    CHECK_EQ_INT(t[i].body_len, 0);
  }
  CHECK_EQ_INT(sbx_http_fast_sockets_opened(c.a), 2);
  close_and_drain(&c);
}

/* Large POST bodies queued behind each other on one connection. */
static void test_pipeline_big_posts(void) {
  Sbx__V1__Interface iface;
  struct treq t[PIPE_DEPTH];
  struct ctx c;
  uint8_t *big;
  size_t big_len = 3u * 1024 * 1024;
  char want[32];
  int i;

  big = malloc(big_len);
  if (big == NULL) {
    test_failures++;
    return;
  }
  memset(big, 'p', big_len);
  sbx__v1__interface__init(&iface);
  iface.method = "PUT";
  iface.path = "/ok/{id}";
  ctx_init(&c);
  if (open_full(&c, base_url, &iface, PIPE_DEPTH, PIPE_DEPTH, 10000000, 0,
                on_done_record) != 0) {
    test_failures++;
    free(big);
    return;
  }
  for (i = 0; i < PIPE_DEPTH; i++) {
    char id[16];
    snprintf(id, sizeof(id), "p%d", i);
    case_init(&t[i], "", (uint32_t)i);
    t[i].kase.id = strdup(id);
    t[i].kase.input.data = big;
    t[i].kase.input.len = big_len;
    CHECK_EQ_INT(submit(&c, &t[i]), 0);
  }
  run_until(&c, PIPE_DEPTH);
  for (i = 0; i < PIPE_DEPTH; i++) {
    snprintf(want, sizeof(want), "ok:p%d\n", i);
    CHECK_EQ_INT(t[i].req.error, NONE);
    CHECK_EQ_STR(t[i].body, want);
  }
  close_and_drain(&c);
  for (i = 0; i < PIPE_DEPTH; i++)
    free(t[i].kase.id);
  free(big);
}

/* ---- refused ------------------------------------------------------------- */

static int closed_port(void) {
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
      getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
    port = ntohs(sa.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

static void test_refused(void) {
  struct ctx c;
  struct treq t[2];
  char base[64], want[96];
  int port = closed_port();
  CHECK(port > 0);
  snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
  ctx_init(&c);
  if (open_full(&c, base, NULL, 2, 2, 1000000, 0, on_done_record) != 0) {
    test_failures++;
    return;
  }
  case_init(&t[0], "/ok/x", 0);
  case_init(&t[1], "/ok/y", 1);
  CHECK_EQ_INT(submit(&c, &t[0]), 0);
  CHECK_EQ_INT(submit(&c, &t[1]), 0);
  run_until(&c, 2);
  CHECK_EQ_INT(c.done_inside_submit, 0);
  snprintf(want, sizeof(want), "connect to 127.0.0.1:%d: connection refused",
           port);
  CHECK_EQ_INT(t[0].req.error, REFUSED);
  CHECK_EQ_INT(t[1].req.error, REFUSED);
  CHECK_EQ_STR(t[0].req.detail, want);
  printf("refused detail: %s\n", t[0].req.detail);
  close_and_drain(&c);
}

/* socket() fails inside submit (no file descriptor left): the failure must
 * still come from a later callback, as REFUSED like libcurl's. */
static void test_connect_fails_at_once(void) {
  struct ctx c;
  struct treq t[2];
  struct rlimit old, low;
  int fd;

  ctx_init(&c);
  if (open_full(&c, base_url, NULL, 2, 2, 1000000, 0, on_done_record) != 0) {
    test_failures++;
    return;
  }
  case_init(&t[0], "/ok/x", 0);
  case_init(&t[1], "/ok/y", 1);
  fd = dup(0); /* the lowest free descriptor */
  CHECK(fd >= 0);
  CHECK_EQ_INT(getrlimit(RLIMIT_NOFILE, &old), 0);
  if (fd >= 0)
    close(fd);
  low = old;
  low.rlim_cur = (rlim_t)fd;
  CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
  CHECK_EQ_INT(submit(&c, &t[0]), 0);
  CHECK_EQ_INT(submit(&c, &t[1]), 0);
  CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &old), 0);
  CHECK_EQ_INT(c.done, 0);
  run_until(&c, 2);
  CHECK_EQ_INT(c.done_inside_submit, 0);
  CHECK_EQ_INT(t[0].req.error, REFUSED);
  /* The second was queued after that connect had failed: it gets an attempt
   * of its own, made once descriptors are back. */
  CHECK_EQ_INT(t[1].req.error, NONE);
  printf("connect failing at once: %s\n", t[0].req.detail);
  /* The adapter recovers once descriptors are back. */
  case_init(&t[0], "/ok/again", 2);
  CHECK_EQ_INT(submit(&c, &t[0]), 0);
  run_until(&c, 3);
  CHECK_EQ_INT(t[0].req.error, NONE);
  CHECK_EQ_STR(t[0].body, "ok:again\n");
  close_and_drain(&c);
}

/* ---- close with requests in flight --------------------------------------- */

enum { CANCEL_N = 8 };

static void on_close_timer(uv_timer_t *tm) {
  struct ctx *c = tm->data;
  c->a->ops->close(c->a, on_closed);
  uv_close((uv_handle_t *)tm, NULL);
}

static void on_done_cancel(struct sbx_adapter *a, struct sbx_request *req) {
  struct ctx *c = a->data;
  record(c, req);
  /* Closing: a submit from on_done must be refused, not queued. */
  c->resubmit_rc = a->ops->submit(a, req);
}

static void run_close_in_flight(uint32_t depth) {
  struct ctx c;
  struct treq t[CANCEL_N + 1];
  uv_timer_t tm;
  int i;

  ctx_init(&c);
  if (open_full(&c, base_url, NULL, CANCEL_N, depth, 10000000, 0,
                on_done_cancel) != 0) {
    test_failures++;
    return;
  }
  for (i = 0; i < CANCEL_N; i++) {
    case_init(&t[i], "/slow/5000/c", 0);
    CHECK_EQ_INT(submit(&c, &t[i]), 0);
  }
  case_init(&t[CANCEL_N], "/ok/over", 1);
  CHECK_EQ_INT(submit(&c, &t[CANCEL_N]), SBX_EBUSY);
  uv_timer_init(&c.loop, &tm);
  tm.data = &c;
  uv_timer_start(&tm, on_close_timer, 100, 0);
  uv_run(&c.loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(c.done, CANCEL_N);
  CHECK_EQ_INT(c.closed, 1);
  CHECK_EQ_INT(c.resubmit_rc, SBX_ESTATE);
  for (i = 0; i < CANCEL_N; i++) {
    CHECK_EQ_INT(t[i].req.error, OTHER);
    CHECK_EQ_STR(t[i].req.detail, "canceled");
  }
  CHECK_EQ_INT(t[CANCEL_N].done, 0);
  CHECK_EQ_INT(uv_loop_close(&c.loop), 0);
}

static void test_close_in_flight(void) {
  run_close_in_flight(1);
  run_close_in_flight(4);
}

/* on_done closes the adapter while other completions are pending. */
static void run_close_from_on_done(uint32_t depth) {
  struct ctx c;
  struct treq t[CANCEL_N];
  int i, canceled = 0, answered = 0;

  ctx_init(&c);
  c.close_on_first_done = 1;
  if (open_full(&c, base_url, NULL, CANCEL_N, depth, 5000000, 0,
                on_done_record) != 0) {
    test_failures++;
    return;
  }
  for (i = 0; i < CANCEL_N; i++) {
    case_init(&t[i], i == 0 ? "/ok/first" : "/slow/50/later", (uint32_t)i);
    CHECK_EQ_INT(submit(&c, &t[i]), 0);
  }
  uv_run(&c.loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(c.done, CANCEL_N);
  CHECK_EQ_INT(c.closed, 1);
  CHECK_EQ_INT(c.resubmit_rc, SBX_ESTATE);
  for (i = 0; i < CANCEL_N; i++) {
    if (t[i].req.error == OTHER && strcmp(t[i].req.detail, "canceled") == 0)
      canceled++;
    else if (t[i].req.error == NONE)
      answered++;
  }
  CHECK(answered >= 1);
  CHECK_EQ_INT(canceled + answered, CANCEL_N);
  CHECK_EQ_INT(uv_loop_close(&c.loop), 0);
}

static void test_close_from_on_done(void) {
  run_close_from_on_done(1);
  run_close_from_on_done(4);
}

/* Closed right after open, and closed with no close_cb. */
static void test_close_idle(void) {
  struct ctx c;
  struct treq t;
  ctx_init(&c);
  if (open_adapter(&c, base_url, NULL, 4, 0, 0, on_done_record) != 0) {
    test_failures++;
    return;
  }
  case_init(&t, "/ok/x", 0);
  CHECK_EQ_INT(submit(&c, &t), 0);
  run_until(&c, 1);
  c.a->ops->close(c.a, NULL);
  uv_run(&c.loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&c.loop), 0);
}

/* ---- the keep-alive race, against a server on the test's loop ------------ */

/* Per connection, it answers the first request with a kept-alive 200 and
 * then, on the next request: KA_CLOSE closes without a byte (the race a
 * client must retry), KA_PARTIAL sends part of a response and closes (must
 * not be retried), KA_UNTIL_CLOSE answers HTTP/1.0 with a body that ends at
 * the close. */
enum ka_mode { KA_CLOSE, KA_PARTIAL, KA_UNTIL_CLOSE };

struct ka_server {
  uv_tcp_t listener;
  enum ka_mode mode;
  int port;
  int conns;
};

struct ka_conn {
  uv_tcp_t tcp;
  struct ka_server *srv;
  char buf[4096];
  size_t len;
  int requests;
  int closing;
};

static void ka_conn_closed(uv_handle_t *h) {
  free(h->data);
}

static void ka_close(struct ka_conn *k) {
  if (!k->closing) {
    k->closing = 1;
    uv_close((uv_handle_t *)&k->tcp, ka_conn_closed);
  }
}

static void ka_after_write(uv_write_t *w, int status) {
  (void)status;
  free(w);
}

static void ka_after_write_close(uv_write_t *w, int status) {
  struct ka_conn *k = w->data;
  (void)status;
  free(w);
  ka_close(k);
}

static void ka_send(struct ka_conn *k, const char *s, int then_close) {
  uv_write_t *w = malloc(sizeof(*w));
  uv_buf_t b = uv_buf_init((char *)s, (unsigned)strlen(s));
  if (w == NULL) {
    ka_close(k);
    return;
  }
  w->data = k;
  if (uv_write(w, (uv_stream_t *)&k->tcp, &b, 1,
               then_close ? ka_after_write_close : ka_after_write) != 0) {
    free(w);
    ka_close(k);
  }
}

static void ka_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  struct ka_conn *k = h->data;
  (void)sz;
  *b = uv_buf_init(k->buf + k->len, (unsigned)(sizeof(k->buf) - k->len));
}

static void ka_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  struct ka_conn *k = s->data;
  char *e;
  (void)b;
  if (n < 0 || k->closing) {
    ka_close(k);
    return;
  }
  k->len += (size_t)n;
  while (!k->closing && (e = memmem(k->buf, k->len, "\r\n\r\n", 4)) != NULL) {
    size_t used = (size_t)(e - k->buf) + 4;
    memmove(k->buf, k->buf + used, k->len - used);
    k->len -= used;
    if (++k->requests == 1) {
      ka_send(k, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nka\n", 0);
      continue;
    }
    switch (k->srv->mode) {
    case KA_CLOSE:
      ka_close(k);
      break;
    case KA_PARTIAL:
      ka_send(k, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab", 1);
      break;
    case KA_UNTIL_CLOSE:
      ka_send(k, "HTTP/1.0 200 OK\r\n\r\nuntil-close", 1);
      break;
    }
  }
}

static void ka_accept(uv_stream_t *l, int status) {
  struct ka_server *srv = l->data;
  struct ka_conn *k;
  if (status < 0)
    return;
  k = calloc(1, sizeof(*k));
  if (k == NULL)
    return;
  k->srv = srv;
  uv_tcp_init(l->loop, &k->tcp);
  k->tcp.data = k;
  if (uv_accept(l, (uv_stream_t *)&k->tcp) != 0) {
    ka_close(k);
    return;
  }
  srv->conns++;
  uv_read_start((uv_stream_t *)&k->tcp, ka_alloc, ka_read);
}

static int ka_start(uv_loop_t *loop, struct ka_server *srv) {
  struct sockaddr_in sa;
  struct sockaddr_storage bound;
  int len = sizeof(bound);
  uv_ip4_addr("127.0.0.1", 0, &sa);
  uv_tcp_init(loop, &srv->listener);
  srv->listener.data = srv;
  if (uv_tcp_bind(&srv->listener, (const struct sockaddr *)&sa, 0) != 0 ||
      uv_listen((uv_stream_t *)&srv->listener, 16, ka_accept) != 0 ||
      uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &len) != 0)
    return -1;
  srv->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  return 0;
}

static void ka_on_done(struct sbx_adapter *a, struct sbx_request *req) {
  struct ctx *c = a->data;
  struct treq *t = req->engine_data;
  record(c, req);
  /* The second request goes out on the connection the first one used. */
  if (c->done == 1) {
    case_init(t, "/second", 1);
    CHECK_EQ_INT(submit(c, t), 0);
  }
}

static void run_keepalive(enum ka_mode mode, Sbx__V1__ErrorClass want2,
                          const char *body2, uint64_t sockets) {
  struct ka_server srv;
  struct ctx c;
  struct treq t;
  char base[64];

  memset(&srv, 0, sizeof(srv));
  srv.mode = mode;
  ctx_init(&c);
  if (ka_start(&c.loop, &srv) != 0) {
    test_failures++;
    return;
  }
  snprintf(base, sizeof(base), "http://127.0.0.1:%d", srv.port);
  if (open_adapter(&c, base, NULL, 1, 2000000, 0, ka_on_done) != 0) {
    test_failures++;
    return;
  }
  case_init(&t, "/first", 0);
  CHECK_EQ_INT(submit(&c, &t), 0);
  run_until(&c, 2);
  if (t.req.error != want2)
    fprintf(stderr, "keep-alive mode %d: class %d, want %d (%s)\n", (int)mode,
            (int)t.req.error, (int)want2, t.req.detail);
  CHECK_EQ_INT(t.req.error, want2);
  if (body2 != NULL)
    CHECK_EQ_STR(t.body, body2);
  else
    printf("  keep-alive mode %d: %s\n", (int)mode, t.req.detail);
  CHECK_EQ_INT(sbx_http_fast_sockets_opened(c.a), sockets);
  c.a->ops->close(c.a, on_closed);
  uv_close((uv_handle_t *)&srv.listener, NULL);
  close_and_drain(&c);
}

static void test_keepalive(void) {
  /* Closed as we wrote: retried once on a new connection, transparently. */
  run_keepalive(KA_CLOSE, NONE, "ka\n", 2);
  /* Part of a response came: never retried. */
  run_keepalive(KA_PARTIAL, RESET, NULL, 1);
  /* HTTP/1.0 body delimited by the close. */
  run_keepalive(KA_UNTIL_CLOSE, NONE, "until-close", 1);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  test_open_validation();
  test_keepalive();
  if (faultd_start() != 0) {
    fprintf(stderr, "could not start sbx_faultd; build it first "
                    "(cmake --build build --target sbx_faultd)\n");
    faultd_stop();
    return 1;
  }
  test_routes();
  test_reuse_after_errors();
  test_methods();
  test_many();
  test_slow_traffic_sleeps();
  test_pipeline_order();
  test_pipeline_load();
  test_pipeline_faults();
  test_pipeline_routes();
  test_pipeline_conn_close();
  test_pipeline_head();
  test_pipeline_big_posts();
  test_refused();
  test_connect_fails_at_once();
  test_close_in_flight();
  test_close_from_on_done();
  test_close_idle();
  test_throughput();
  faultd_stop();
  return TEST_RESULT();
}
