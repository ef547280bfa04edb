/* test_http_curl.c - the libcurl adapter against sbx_faultd.
 *
 * Starts build/bin/sbx_faultd (SBX_BUILD_DIR, default "build") on an
 * ephemeral port and drives the adapter on its own uv loop per test with
 * hand-made cases: every fault route and its error class, a long run of
 * keep-alive requests counting the sockets opened, a refused port, close()
 * with requests in flight and close() from inside on_done. Each loop must
 * close with uv_loop_close() == 0. Also covers sbx_adapter_target() and the
 * open-time validation messages.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>
#include <uv.h>

#include "adapter.h"
#include "err.h"
#include "http_curl.h"
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
};

struct ctx {
  uv_loop_t loop;
  struct sbx_adapter *a;
  int in_submit;
  int done_inside_submit;
  int done;
  int closed;
  /* many */
  struct treq *pool;
  int total, submitted, ok, bad_body;
  /* behaviours */
  int close_on_first_done;
  int resubmit_rc; /* what a submit from on_done returned while closing */
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

static void on_done_record(struct sbx_adapter *a, struct sbx_request *req) {
  struct ctx *c = a->data;
  record(c, req);
  if (c->close_on_first_done && c->done == 1) {
    a->ops->close(a, on_closed);
    c->resubmit_rc = a->ops->submit(a, req);
  }
}

static int open_adapter(struct ctx *c, const char *base,
                        const Sbx__V1__Interface *iface, uint32_t max_in_flight,
                        int64_t timeout_us, uint64_t cap,
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
  rc = sbx_http_curl_open(&c->loop, &cfg, cb, c, &c->a, &diag);
  if (rc != 0)
    fprintf(stderr, "open: %s: %s\n", sbx_err_name(rc), diag.msg);
  return rc;
}

/* ---- sbx_adapter_target -------------------------------------------------- */

static void expect_target(const char *tmpl, const char *path, const char *id,
                          const char *want) {
  Sbx__V1__Interface iface;
  Sbx__V1__Case k;
  char *got;
  sbx__v1__interface__init(&iface);
  sbx__v1__case__init(&k);
  if (tmpl != NULL)
    iface.path = (char *)tmpl;
  if (path != NULL)
    k.path = (char *)path;
  if (id != NULL)
    k.id = (char *)id;
  got = sbx_adapter_target(tmpl != NULL ? &iface : NULL, &k);
  CHECK_EQ_STR(got, want);
  free(got);
}

static void test_target(void) {
  expect_target(NULL, "/a/b", NULL, "/a/b");
  expect_target("", NULL, NULL, "/");
  expect_target("{path}", "", NULL, "/");
  expect_target("/items/{id}", NULL, "a b/c?&%", "/items/a%20b%2Fc%3F%26%25");
  expect_target("{path}?x={id}", "/p", "7", "/p?x=7");
  expect_target("/v1{path}/{id}", "/users", "u-1._~", "/v1/users/u-1._~");
  expect_target("items/{id}", NULL, "9", "/items/9");
  expect_target("{path}", "/a\r\nX-Evil: y", NULL, "/a%0D%0AX-Evil:%20y");
  expect_target("{path}", "/x#frag/%41", NULL, "/x%23frag/%41");
  expect_target("/{id}", NULL, "\xc3\xa9", "/%C3%A9");
  expect_target("/{pat}/{id", "/p", "1", "/{pat}/{id");
}

/* ---- open validation ----------------------------------------------------- */

static void expect_open_fails(const char *base, const Sbx__V1__Interface *iface,
                              uint32_t mif, const char *needle) {
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
  rc = sbx_http_curl_open(&loop, &cfg, on_done_record, NULL, &a, &diag);
  CHECK_EQ_INT(rc, SBX_EINVAL);
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
  static const char *const good[] = {"http://127.0.0.1:1",
                                     "https://example.com/",
                                     "http://[::1]:8080", "HTTP://Host"};
  size_t i;

  expect_open_fails(NULL, NULL, 4, "base_url: missing");
  expect_open_fails("", NULL, 4, "base_url: missing");
  expect_open_fails("ftp://x", NULL, 4, "http:// or https://");
  expect_open_fails("127.0.0.1:8080", NULL, 4, "http:// or https://");
  expect_open_fails("http://", NULL, 4, "base_url \"http://\"");
  expect_open_fails("http://h/api", NULL, 4, "has the path \"/api\"");
  expect_open_fails("http://h/?q=1", NULL, 4, "query or fragment");
  expect_open_fails("http://h#f", NULL, 4, "query or fragment");
  expect_open_fails("http://u:p@h", NULL, 4, "credentials");
  expect_open_fails("http://h st", NULL, 4, "offset 8");
  expect_open_fails("http://h:99999", NULL, 4, "base_url \"http://h:99999\"");
  expect_open_fails("http://h", NULL, 0, "max_in_flight 0");

  sbx__v1__interface__init(&iface);
  sbx__v1__header__init(&h);
  iface.headers = hs;
  iface.n_headers = 1;
  h.name = "Bad Name";
  h.value = "v";
  expect_open_fails("http://h", &iface, 4, "interface.headers[0]: name");
  h.name = "X-Ok";
  h.value = "a\r\nX-Evil: 1";
  expect_open_fails("http://h", &iface, 4, "line break");
  iface.n_headers = 0;
  iface.method = "GE T";
  expect_open_fails("http://h", &iface, 4, "interface.method");

  for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    struct ctx c;
    memset(&c, 0, sizeof(c));
    uv_loop_init(&c.loop);
    CHECK_EQ_INT(open_adapter(&c, good[i], NULL, 2, 0, 0, on_done_record), 0);
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

static void test_routes(void) {
  static const struct route_case rc[] = {
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
      {"/big/4096", NONE, 200, NULL, 4096},
      {"/big/3000?te=chunked", NONE, 200, NULL, 3000},
      {"/chunked/hi", NONE, 200, "ok:hi\n", -1},
      {"/wrong/x", NONE, 200, "wrong\n", -1},
      {"/nope", NONE, 404, "not found\n", -1},
  };
  enum { N = sizeof(rc) / sizeof(rc[0]) };
  struct treq t[N];
  struct ctx c;
  int i;

  memset(&c, 0, sizeof(c));
  uv_loop_init(&c.loop);
  if (open_adapter(&c, base_url, NULL, N, 200000, 4096, on_done_record) != 0) {
    test_failures++;
    return;
  }
  for (i = 0; i < N; i++) {
    case_init(&t[i], rc[i].path, (uint32_t)i);
    CHECK_EQ_INT(submit(&c, &t[i]), 0);
  }
  while (c.done < N && uv_run(&c.loop, UV_RUN_ONCE) != 0)
    ;
  CHECK_EQ_INT(c.done, N);
  CHECK_EQ_INT(c.done_inside_submit, 0);
  for (i = 0; i < N; i++) {
    const struct sbx_request *r = &t[i].req;
    if (r->error != rc[i].error) {
      fprintf(stderr, "%s: error class %d, want %d (detail \"%s\")\n",
              rc[i].path, (int)r->error, (int)rc[i].error, r->detail);
      test_failures++;
      continue;
    }
    if (rc[i].error != NONE) {
      if (r->detail[0] == '\0') {
        fprintf(stderr, "%s: no detail\n", rc[i].path);
        test_failures++;
      }
      continue;
    }
    CHECK_EQ_INT(r->status, rc[i].status);
    CHECK_EQ_STR(r->detail, "");
    if (rc[i].body != NULL)
      CHECK_EQ_STR(t[i].body, rc[i].body);
    CHECK_EQ_INT(t[i].body_len, rc[i].body_len >= 0 ? (size_t)rc[i].body_len
                                                    : strlen(rc[i].body));
  }
  close_and_drain(&c);
}

/* One easy handle, reused after every kind of failure. */
static const struct route_case seq_cases[] = {
    {"/reset", RESET, 0, NULL, 0},          {"/ok/a", NONE, 200, "ok:a\n", -1},
    {"/garbage", PROTOCOL, 0, NULL, 0},     {"/ok/b", NONE, 200, "ok:b\n", -1},
    {"/slow/1500/t", TIMEOUT, 0, NULL, 0},  {"/ok/c", NONE, 200, "ok:c\n", -1},
    {"/big/100000", TOO_LARGE, 0, NULL, 0}, {"/close-mid", RESET, 0, NULL, 0},
    {"/ok/d", NONE, 200, "ok:d\n", -1},
};
enum { SEQ_N = sizeof(seq_cases) / sizeof(seq_cases[0]) };

static void on_done_seq(struct sbx_adapter *a, struct sbx_request *req) {
  struct ctx *c = a->data;
  struct treq *t = req->engine_data;
  int i = c->done;
  record(c, req);
  CHECK_EQ_INT(req->error, seq_cases[i].error);
  if (seq_cases[i].error == NONE) {
    CHECK_EQ_INT(req->status, seq_cases[i].status);
    CHECK_EQ_STR(t->body, seq_cases[i].body);
  }
  if (c->done < SEQ_N) {
    case_init(t, seq_cases[c->done].path, (uint32_t)c->done);
    CHECK_EQ_INT(submit(c, t), 0);
  }
}

static void test_reuse_after_errors(void) {
  struct ctx c;
  struct treq t;
  memset(&c, 0, sizeof(c));
  uv_loop_init(&c.loop);
  if (open_adapter(&c, base_url, NULL, 1, 200000, 4096, on_done_seq) != 0) {
    test_failures++;
    return;
  }
  case_init(&t, seq_cases[0].path, 0);
  CHECK_EQ_INT(submit(&c, &t), 0);
  while (c.done < SEQ_N && uv_run(&c.loop, UV_RUN_ONCE) != 0)
    ;
  CHECK_EQ_INT(c.done, SEQ_N);
  close_and_drain(&c);
}

/* ---- methods, headers, bodies -------------------------------------------- */

static void run_one(const Sbx__V1__Interface *iface, struct treq *t) {
  struct ctx c;
  memset(&c, 0, sizeof(c));
  uv_loop_init(&c.loop);
  if (open_adapter(&c, base_url, iface, 1, 2000000, 0, on_done_record) != 0) {
    test_failures++;
    uv_loop_close(&c.loop);
    return;
  }
  CHECK_EQ_INT(submit(&c, t), 0);
  while (c.done < 1 && uv_run(&c.loop, UV_RUN_ONCE) != 0)
    ;
  CHECK_EQ_INT(c.done, 1);
  close_and_drain(&c);
}

static void test_methods(void) {
  Sbx__V1__Interface iface;
  Sbx__V1__Header h, *hs[1] = {&h};
  struct treq t;
  static const char big_input[] = "{\"q\":\"hello\"}";

  sbx__v1__interface__init(&iface);
  sbx__v1__header__init(&h);
  h.name = "X-Test";
  h.value = "";
  iface.headers = hs;
  iface.n_headers = 1;
  iface.content_type = "application/json";
  iface.method = "post";
  iface.path = "/ok/{id}";

  case_init(&t, "", 0);
  t.kase.id = "post 1";
  t.kase.input.data = (uint8_t *)big_input;
  t.kase.input.len = sizeof(big_input) - 1;
  run_one(&iface, &t);
  CHECK_EQ_INT(t.req.error, NONE);
  CHECK_EQ_INT(t.req.status, 200);
  CHECK_EQ_STR(t.body, "ok:post%201\n");

  iface.method = "HEAD";
  iface.path = "";
  case_init(&t, "/ok/head", 0);
  run_one(&iface, &t);
  CHECK_EQ_INT(t.req.error, NONE);
  CHECK_EQ_INT(t.req.status, 200);
  CHECK_EQ_INT(t.body_len, 0);

  iface.method = "DELETE";
  case_init(&t, "/status/202", 0);
  run_one(&iface, &t);
  CHECK_EQ_INT(t.req.error, NONE);
  CHECK_EQ_INT(t.req.status, 202);

  iface.method = "GET";
  case_init(&t, "/ok/get-with-body", 0);
  t.kase.input.data = (uint8_t *)big_input;
  t.kase.input.len = sizeof(big_input) - 1;
  run_one(&iface, &t);
  CHECK_EQ_INT(t.req.error, NONE);
  CHECK_EQ_STR(t.body, "ok:get-with-body\n");
}

/* ---- many requests on kept-alive connections ----------------------------- */

enum { MANY_IN_FLIGHT = 64, MANY_TOTAL = 5000, MANY_CASES = 100 };

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

static void run_many(const char *base, int in_flight, int total,
                     uint64_t max_sockets) {
  struct ctx c;
  struct treq *pool;
  uint64_t t0;
  int i;

  memset(&c, 0, sizeof(c));
  uv_loop_init(&c.loop);
  pool = calloc((size_t)in_flight, sizeof(*pool));
  c.total = total;
  if (pool == NULL || open_adapter(&c, base, NULL, (uint32_t)in_flight, 5000000,
                                   0, on_done_many) != 0) {
    test_failures++;
    free(pool);
    uv_loop_close(&c.loop);
    return;
  }
  t0 = uv_hrtime();
  for (i = 0; i < in_flight; i++)
    many_submit(&c, &pool[i]);
  {
    struct treq extra;
    case_init(&extra, "/ok/extra", 0);
    CHECK_EQ_INT(submit(&c, &extra), SBX_EBUSY);
  }
  while (c.done < total && uv_run(&c.loop, UV_RUN_ONCE) != 0)
    ;
  CHECK_EQ_INT(c.done, total);
  CHECK_EQ_INT(c.ok, total);
  CHECK_EQ_INT(c.bad_body, 0);
  CHECK_EQ_INT(c.done_inside_submit, 0);
  printf("many %s: %d requests, %d in flight, %.0f req/s, %llu sockets\n", base,
         total, in_flight, total / ((double)(uv_hrtime() - t0) / 1e9),
         (unsigned long long)sbx_http_curl_sockets_opened(c.a));
  CHECK(sbx_http_curl_sockets_opened(c.a) >= 1);
  CHECK(sbx_http_curl_sockets_opened(c.a) <= max_sockets);
  close_and_drain(&c);
  free(pool);
}

static void test_many(void) {
  char local[64];
  run_many(base_url, MANY_IN_FLIGHT, MANY_TOTAL, MANY_IN_FLIGHT + 4);
  /* A host name goes through libcurl's resolver (and its socketpair). */
  snprintf(local, sizeof(local), "http://localhost:%d/", faultd_port);
  run_many(local, 8, 400, 8 + 8);
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
  struct treq t;
  char base[64];
  int port = closed_port();
  CHECK(port > 0);
  snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
  memset(&c, 0, sizeof(c));
  uv_loop_init(&c.loop);
  if (open_adapter(&c, base, NULL, 1, 1000000, 0, on_done_record) != 0) {
    test_failures++;
    return;
  }
  case_init(&t, "/ok/x", 0);
  CHECK_EQ_INT(submit(&c, &t), 0);
  while (c.done < 1 && uv_run(&c.loop, UV_RUN_ONCE) != 0)
    ;
  CHECK_EQ_INT(t.req.error, REFUSED);
  CHECK(t.req.detail[0] != '\0');
  printf("refused detail: %s\n", t.req.detail);
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

static void test_close_in_flight(void) {
  struct ctx c;
  struct treq t[CANCEL_N + 1];
  uv_timer_t tm;
  int i;

  memset(&c, 0, sizeof(c));
  uv_loop_init(&c.loop);
  if (open_adapter(&c, base_url, NULL, CANCEL_N, 10000000, 0, on_done_cancel) !=
      0) {
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

/* on_done closes the adapter while other completions are pending. */
static void test_close_from_on_done(void) {
  struct ctx c;
  struct treq t[CANCEL_N];
  int i, canceled = 0, answered = 0;

  memset(&c, 0, sizeof(c));
  uv_loop_init(&c.loop);
  c.close_on_first_done = 1;
  if (open_adapter(&c, base_url, NULL, CANCEL_N, 5000000, 0, on_done_record) !=
      0) {
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

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  test_target();
  test_open_validation();
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
  test_refused();
  test_close_in_flight();
  test_close_from_on_done();
  faultd_stop();
  return TEST_RESULT();
}
