/* test_webhook.c - webhook deliveries against a scripted loopback server.
 *
 * The receiver is a small uv_tcp server on the same loop as the sender
 * (which proves the sender never blocks the loop: the server could not
 * answer otherwise). It records every request (head and body bytes) and
 * answers request i with script[i]: a status code, HANG (read it, never
 * answer), or RA503 (503 with Retry-After: 1). Covered: exact body bytes
 * and headers, retry after 500 then success, giving up after max_attempts,
 * 400 and 301 ending a delivery at once, 429 and Retry-After, connection
 * refused, per-attempt timeout, URL and argument validation, max_pending,
 * many deliveries through few slots, and close() with deliveries waiting,
 * in flight and queued. Every loop ends with uv_loop_close() == 0, and the
 * process ends with as many descriptors open as it started with.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "err.h"
#include "testlib.h"
#include "webhook.h"

#define HANG (-1)
#define RA503 1503
#define MAX_REQS 64
#define MAX_LOGS 64
#define GUARD_MS 20000

/* ---- scripted receiver --------------------------------------------------- */

struct rreq {
  char *head; /* request line and headers, NUL-terminated */
  char *body;
  size_t body_len;
};

struct tconn;

struct tserver {
  uv_tcp_t tcp;
  int port;
  const int *script;
  int nscript;
  int dflt; /* answer after the script runs out */
  struct rreq reqs[MAX_REQS];
  int nreq;
  struct tconn *conns;
  int open_handles;
};

struct tconn {
  uv_tcp_t tcp;
  struct tserver *s;
  struct tconn *prev, *next;
  char *buf;
  size_t len, cap;
  int hung;
  int closing;
};

struct wbuf {
  uv_write_t req;
  char data[256];
};

static void on_conn_closed(uv_handle_t *h) {
  struct tconn *c = h->data;
  struct tserver *s = c->s;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  free(c->buf);
  free(c);
  s->open_handles--;
}

static void conn_close(struct tconn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_written(uv_write_t *req, int status) {
  (void)status;
  free(req->data);
}

static void answer(struct tconn *c, int action) {
  struct wbuf *w;
  uv_buf_t b;
  int n;
  if (action == HANG) {
    c->hung = 1;
    return;
  }
  w = malloc(sizeof(*w));
  CHECK(w != NULL);
  if (w == NULL)
    return;
  w->req.data = w;
  if (action == RA503)
    n = snprintf(w->data, sizeof(w->data),
                 "HTTP/1.1 503 Busy\r\nRetry-After: 1\r\n"
                 "Content-Length: 4\r\n\r\nbusy");
  else
    n = snprintf(
        w->data, sizeof(w->data),
        "HTTP/1.1 %d Scripted\r\n%sContent-Length: 6\r\n\r\nanswer", action,
        action >= 300 && action <= 399 ? "Location: /elsewhere\r\n" : "");
  b = uv_buf_init(w->data, (unsigned)n);
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
    free(w);
}

/* Content-Length of a head, 0 if absent. */
static size_t content_length(const char *head) {
  const char *p = head;
  while ((p = strstr(p, "\r\n")) != NULL) {
    p += 2;
    if (strncasecmp(p, "Content-Length:", 15) == 0)
      return (size_t)strtoull(p + 15, NULL, 10);
  }
  return 0;
}

static void parse_requests(struct tconn *c) {
  struct tserver *s = c->s;
  for (;;) {
    char *end;
    size_t head_len, cl;
    struct rreq *r;
    int action;
    if (c->hung || c->len == 0)
      return;
    c->buf[c->len] = '\0';
    end = strstr(c->buf, "\r\n\r\n");
    if (end == NULL)
      return;
    head_len = (size_t)(end - c->buf) + 4;
    c->buf[head_len - 2] = '\0';
    cl = content_length(c->buf);
    c->buf[head_len - 2] = '\r';
    if (c->len < head_len + cl)
      return;
    CHECK(s->nreq < MAX_REQS);
    if (s->nreq >= MAX_REQS)
      return;
    r = &s->reqs[s->nreq];
    r->head = malloc(head_len - 1);
    r->body = malloc(cl + 1);
    CHECK(r->head != NULL && r->body != NULL);
    memcpy(r->head, c->buf, head_len - 2);
    r->head[head_len - 2] = '\0';
    memcpy(r->body, c->buf + head_len, cl);
    r->body[cl] = '\0';
    r->body_len = cl;
    action = s->nreq < s->nscript ? s->script[s->nreq] : s->dflt;
    s->nreq++;
    memmove(c->buf, c->buf + head_len + cl, c->len - head_len - cl);
    c->len -= head_len + cl;
    answer(c, action);
  }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  struct tconn *c = h->data;
  (void)hint;
  if (c->cap - c->len < 65537) {
    size_t cap = c->cap ? c->cap * 2 : 131072;
    char *nb;
    while (cap - c->len < 65537)
      cap *= 2;
    nb = realloc(c->buf, cap);
    if (nb == NULL) {
      *buf = uv_buf_init(NULL, 0);
      return;
    }
    c->buf = nb;
    c->cap = cap;
  }
  /* One byte is kept for the NUL the parser writes. */
  *buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len - 1));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  struct tconn *c = st->data;
  (void)buf;
  if (n < 0) {
    conn_close(c);
    return;
  }
  c->len += (size_t)n;
  parse_requests(c);
}

static void on_connection(uv_stream_t *srv, int status) {
  struct tserver *s = srv->data;
  struct tconn *c;
  if (status != 0)
    return;
  c = calloc(1, sizeof(*c));
  CHECK(c != NULL);
  if (c == NULL)
    return;
  c->s = s;
  uv_tcp_init(srv->loop, &c->tcp);
  c->tcp.data = c;
  s->open_handles++;
  c->next = s->conns;
  if (s->conns != NULL)
    s->conns->prev = c;
  s->conns = c;
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0 ||
      uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
    conn_close(c);
}

static int server_start(uv_loop_t *loop, struct tserver *s, const int *script,
                        int nscript, int dflt) {
  struct sockaddr_in sa;
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  memset(s, 0, sizeof(*s));
  s->script = script;
  s->nscript = nscript;
  s->dflt = dflt;
  uv_tcp_init(loop, &s->tcp);
  s->tcp.data = s;
  s->open_handles = 1;
  uv_ip4_addr("127.0.0.1", 0, &sa);
  if (uv_tcp_bind(&s->tcp, (const struct sockaddr *)&sa, 0) != 0 ||
      uv_listen((uv_stream_t *)&s->tcp, 64, on_connection) != 0 ||
      uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &len) != 0)
    return -1;
  s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return 0;
}

static void on_server_closed(uv_handle_t *h) {
  struct tserver *s = h->data;
  s->open_handles--;
}

static void server_close(struct tserver *s) {
  int i;
  struct tconn *c;
  for (c = s->conns; c != NULL; c = c->next)
    conn_close(c);
  uv_close((uv_handle_t *)&s->tcp, on_server_closed);
  for (i = 0; i < s->nreq; i++) {
    free(s->reqs[i].head);
    free(s->reqs[i].body);
  }
}

/* ---- test environment ---------------------------------------------------- */

struct env {
  uv_loop_t loop;
  uv_timer_t guard;
  int timed_out;
  struct tserver srv;
  struct sbx_webhook *w;
  int closed;
  char logs[MAX_LOGS][512];
  int nlogs;
  char url[128];
  int outcome[8]; /* by run id: how its delivery ended; -1: not yet */
  int ndone;      /* calls of the done hook */
};

static void test_done(void *arg, uint64_t run_id,
                      enum sbx_webhook_outcome outcome) {
  struct env *e = arg;
  e->ndone++;
  if (run_id < 8) { /* the tests that look at outcomes use ids 1..7 */
    CHECK_EQ_INT(e->outcome[run_id], -1); /* once per delivery */
    e->outcome[run_id] = (int)outcome;
  }
}

static void on_guard(uv_timer_t *t) {
  struct env *e = t->data;
  e->timed_out = 1;
}

static void test_log(void *arg, const char *fmt, ...) {
  struct env *e = arg;
  va_list ap;
  if (e->nlogs >= MAX_LOGS)
    return;
  va_start(ap, fmt);
  vsnprintf(e->logs[e->nlogs], sizeof(e->logs[0]), fmt, ap);
  va_end(ap);
  CHECK(strchr(e->logs[e->nlogs], '\n') == NULL);
  e->nlogs++;
}

static int count_logs(const struct env *e, const char *needle) {
  int i, n = 0;
  for (i = 0; i < e->nlogs; i++)
    if (strstr(e->logs[i], needle) != NULL)
      n++;
  return n;
}

static void env_start(struct env *e, const int *script, int nscript, int dflt,
                      const struct sbx_webhook_config *cfg) {
  memset(e, 0, sizeof(*e));
  CHECK_EQ_INT(uv_loop_init(&e->loop), 0);
  uv_timer_init(&e->loop, &e->guard);
  e->guard.data = e;
  CHECK_EQ_INT(server_start(&e->loop, &e->srv, script, nscript, dflt), 0);
  snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%d/hook", e->srv.port);
  CHECK_EQ_INT(sbx_webhook_open(&e->loop, cfg, &e->w), 0);
  for (int i = 0; i < 8; i++)
    e->outcome[i] = -1;
  if (e->w != NULL) {
    sbx_webhook_set_log(e->w, test_log, e);
    sbx_webhook_set_done(e->w, test_done, e);
  }
}

static struct sbx_webhook_stats stats(const struct env *e) {
  struct sbx_webhook_stats st;
  sbx_webhook_stats(e->w, &st);
  return st;
}

/* Checks the sender's totals and the requests the test server took. */
static void expect_totals(const struct env *e, uint64_t delivered,
                          uint64_t failed, uint64_t retries, int nreq) {
  struct sbx_webhook_stats st = stats(e);
  CHECK_EQ_INT(st.delivered, delivered);
  CHECK_EQ_INT(st.failed, failed);
  CHECK_EQ_INT(st.retries, retries);
  CHECK_EQ_INT(st.pending, 0);
  CHECK_EQ_INT(e->srv.nreq, nreq);
}

/* Runs the loop until cond(e) holds; a guard timer ends a hung test. */
static int run_until(struct env *e, int (*cond)(struct env *)) {
  e->timed_out = 0;
  uv_timer_start(&e->guard, on_guard, GUARD_MS, 0);
  while (!cond(e) && !e->timed_out)
    uv_run(&e->loop, UV_RUN_ONCE);
  uv_timer_stop(&e->guard);
  CHECK(!e->timed_out);
  return !e->timed_out;
}

static int none_pending(struct env *e) {
  return stats(e).pending == 0;
}

static void on_closed(void *arg) {
  struct env *e = arg;
  e->closed++;
}

static void env_finish(struct env *e) {
  if (e->w != NULL && !e->closed)
    sbx_webhook_close(e->w, on_closed, e);
  server_close(&e->srv);
  uv_close((uv_handle_t *)&e->guard, NULL);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(e->closed, e->w != NULL ? 1 : 0);
  CHECK_EQ_INT(e->srv.open_handles, 0);
  CHECK_EQ_INT(uv_loop_close(&e->loop), 0);
}

static int post(struct env *e, const char *body, size_t len, uint64_t run) {
  struct sbx_diag d = {""};
  int rc =
      sbx_webhook_post(e->w, e->url, "application/json", body, len, run, &d);
  if (rc != 0)
    fprintf(stderr, "post: %s: %s\n", sbx_err_name(rc), d.msg);
  return rc;
}

static const char *header(const struct rreq *r, const char *line) {
  char pat[256];
  snprintf(pat, sizeof(pat), "\r\n%s\r\n", line);
  return strstr(r->head, pat);
}

static const struct sbx_webhook_config fast = {
    .max_attempts = 3,
    .first_backoff_ms = 5,
    .max_backoff_ms = 20,
    .timeout_ms = 5000,
};

/* ---- tests --------------------------------------------------------------- */

static void test_delivery(void) {
  static const char body[] = "{\"run\":42}\0\xff\x01\r\n\r\nend";
  struct env e;
  struct sbx_diag d = {""};
  const struct rreq *r;
  struct sbx_webhook_stats st;

  env_start(&e, NULL, 0, 200, NULL);
  snprintf(e.url, sizeof(e.url),
           "http://user:pw@127.0.0.1:%d/hook/path?token=secret#frag",
           e.srv.port);
  CHECK_EQ_INT(post(&e, body, sizeof(body) - 1, 42), 0);
  CHECK_EQ_INT(stats(&e).pending, 1);
  run_until(&e, none_pending);
  st = stats(&e);
  CHECK_EQ_INT(st.delivered, 1);
  CHECK_EQ_INT(st.failed, 0);
  CHECK_EQ_INT(st.retries, 0);
  CHECK_EQ_INT(e.srv.nreq, 1);
  if (e.srv.nreq >= 1) {
    r = &e.srv.reqs[0];
    CHECK(strncmp(r->head, "POST /hook/path?token=secret HTTP/1.1\r\n", 39) ==
          0);
    CHECK(header(r, "Content-Type: application/json") != NULL);
    CHECK(header(r, "X-Sbx-Run-Id: 42") != NULL);
    CHECK(header(r, "User-Agent: sandboxd/" SBX_VERSION) != NULL);
    CHECK(strcasestr(r->head, "\r\nExpect:") == NULL);
    CHECK(strcasestr(r->head, "\r\nAuthorization: Basic ") != NULL);
    CHECK_EQ_INT(r->body_len, sizeof(body) - 1);
    CHECK(r->body_len == sizeof(body) - 1 &&
          memcmp(r->body, body, sizeof(body) - 1) == 0);
  }
  CHECK_EQ_INT(e.nlogs, 1);
  CHECK(count_logs(&e, "webhook run=42 attempt=1/6 outcome=delivered "
                       "status=200 ") == 1);
  /* The log line carries no credentials, query or fragment. */
  CHECK(count_logs(&e, "secret") == 0);
  CHECK(count_logs(&e, "pw") == 0);
  CHECK(count_logs(&e, "frag") == 0);
  CHECK(count_logs(&e, "/hook/path ") == 1);

  /* An empty body, given as NULL, and a large one (no 100-continue wait). */
  snprintf(e.url, sizeof(e.url), "http://127.0.0.1:%d/empty", e.srv.port);
  CHECK_EQ_INT(
      sbx_webhook_post(e.w, e.url, "text/plain", NULL, 0, UINT64_MAX, &d), 0);
  {
    size_t big = 3u * 1024u * 1024u, i;
    char *b = malloc(big);
    CHECK(b != NULL);
    for (i = 0; b != NULL && i < big; i++)
      b[i] = (char)(i * 7);
    CHECK_EQ_INT(post(&e, b, big, 7), 0);
    run_until(&e, none_pending);
    CHECK_EQ_INT(stats(&e).delivered, 3);
    CHECK_EQ_INT(e.srv.nreq, 3);
    if (e.srv.nreq == 3) {
      r = &e.srv.reqs[1];
      CHECK(strncmp(r->head, "POST /empty HTTP/1.1\r\n", 22) == 0);
      CHECK(header(r, "Content-Type: text/plain") != NULL);
      CHECK(header(r, "X-Sbx-Run-Id: 18446744073709551615") != NULL);
      CHECK(header(r, "Content-Length: 0") != NULL);
      CHECK_EQ_INT(r->body_len, 0);
      r = &e.srv.reqs[2];
      CHECK_EQ_INT(r->body_len, big);
      CHECK(b != NULL && r->body_len == big && memcmp(r->body, b, big) == 0);
    }
    free(b);
  }
  env_finish(&e);
}

static void test_retry_then_success(void) {
  static const int script[] = {500, 503, 200};
  struct env e;
  struct sbx_webhook_stats st;
  int i;

  env_start(&e, script, 3, 200, &fast);
  CHECK_EQ_INT(post(&e, "payload", 7, 9), 0);
  run_until(&e, none_pending);
  st = stats(&e);
  CHECK_EQ_INT(st.delivered, 1);
  CHECK_EQ_INT(st.failed, 0);
  CHECK_EQ_INT(st.retries, 2);
  CHECK_EQ_INT(e.srv.nreq, 3);
  for (i = 0; i < e.srv.nreq; i++) {
    CHECK_EQ_INT(e.srv.reqs[i].body_len, 7);
    CHECK(memcmp(e.srv.reqs[i].body, "payload", 7) == 0);
    CHECK(header(&e.srv.reqs[i], "X-Sbx-Run-Id: 9") != NULL);
  }
  CHECK_EQ_INT(e.nlogs, 3);
  CHECK(count_logs(&e, "attempt=1/3 outcome=retry status=500 ") == 1);
  CHECK(count_logs(&e, "attempt=2/3 outcome=retry status=503 ") == 1);
  CHECK(count_logs(&e, "attempt=3/3 outcome=delivered status=200 ") == 1);
  env_finish(&e);
}

static void test_give_up(void) {
  struct env e;

  env_start(&e, NULL, 0, 502, &fast);
  CHECK_EQ_INT(post(&e, "x", 1, 5), 0);
  run_until(&e, none_pending);
  expect_totals(&e, 0, 1, 2, 3);
  CHECK_EQ_INT(count_logs(&e, "outcome=retry"), 2);
  CHECK_EQ_INT(count_logs(&e, "attempt=3/3 outcome=failed status=502 "), 1);
  CHECK_EQ_INT(count_logs(&e, "gave up after 3 attempts: HTTP 502"), 1);
  env_finish(&e);
}

static void test_no_retry(void) {
  static const int script[] = {400, 301, 404, 429, 200};
  struct env e;
  struct sbx_webhook_stats st;
  struct sbx_webhook_config cfg = fast;

  cfg.max_in_flight = 1; /* one at a time: the script order is the posts' */
  env_start(&e, script, 5, 200, &cfg);
  CHECK_EQ_INT(post(&e, "a", 1, 1), 0);
  CHECK_EQ_INT(post(&e, "b", 1, 2), 0);
  CHECK_EQ_INT(post(&e, "c", 1, 3), 0);
  CHECK_EQ_INT(post(&e, "d", 1, 4), 0);
  CHECK_EQ_INT(stats(&e).pending, 4);
  run_until(&e, none_pending);
  st = stats(&e);
  CHECK_EQ_INT(st.failed, 3);
  CHECK_EQ_INT(st.delivered, 1);
  CHECK_EQ_INT(st.retries, 1); /* the 429 only */
  CHECK_EQ_INT(e.srv.nreq, 5);
  CHECK_EQ_INT(count_logs(&e, "run=1 attempt=1/3 outcome=failed status=400 "),
               1);
  CHECK_EQ_INT(count_logs(&e, "rejected by the receiver"), 2);
  CHECK_EQ_INT(count_logs(&e, "run=2 attempt=1/3 outcome=failed status=301 "),
               1);
  CHECK_EQ_INT(count_logs(&e, "redirects are not followed"), 1);
  CHECK_EQ_INT(count_logs(&e, "run=3 attempt=1/3 outcome=failed status=404 "),
               1);
  CHECK_EQ_INT(count_logs(&e, "run=4 attempt=1/3 outcome=retry status=429 "),
               1);
  CHECK_EQ_INT(
      count_logs(&e, "run=4 attempt=2/3 outcome=delivered status=200 "), 1);
  CHECK_EQ_INT(e.ndone, 4);
  CHECK_EQ_INT(e.outcome[1], SBX_WEBHOOK_FAILED);
  CHECK_EQ_INT(e.outcome[2], SBX_WEBHOOK_FAILED);
  CHECK_EQ_INT(e.outcome[3], SBX_WEBHOOK_FAILED);
  CHECK_EQ_INT(e.outcome[4], SBX_WEBHOOK_DELIVERED);
  env_finish(&e);
}

static void test_retry_after(void) {
  static const int script[] = {RA503, 200};
  struct sbx_webhook_config cfg = fast;
  struct env e;

  cfg.max_backoff_ms = 1000; /* Retry-After: 1 is believed up to the cap */
  env_start(&e, script, 2, 200, &cfg);
  CHECK_EQ_INT(post(&e, "x", 1, 3), 0);
  run_until(&e, none_pending);
  CHECK_EQ_INT(stats(&e).delivered, 1);
  CHECK_EQ_INT(count_logs(&e, "outcome=retry status=503 retry_in_ms=1000 "), 1);
  env_finish(&e);
}

static void test_refused(void) {
  struct env e;
  struct sbx_webhook_stats st;
  uv_tcp_t t;
  struct sockaddr_in sa;
  struct sockaddr_storage ss;
  int len = sizeof(ss), port = 0;

  env_start(&e, NULL, 0, 200, &fast);
  /* A port that was free a moment ago: bound, never listened, closed. */
  uv_tcp_init(&e.loop, &t);
  uv_ip4_addr("127.0.0.1", 0, &sa);
  CHECK_EQ_INT(uv_tcp_bind(&t, (const struct sockaddr *)&sa, 0), 0);
  CHECK_EQ_INT(uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len), 0);
  port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&e.loop, UV_RUN_NOWAIT);
  snprintf(e.url, sizeof(e.url), "http://127.0.0.1:%d/hook", port);

  CHECK_EQ_INT(post(&e, "x", 1, 11), 0);
  run_until(&e, none_pending);
  st = stats(&e);
  CHECK_EQ_INT(st.delivered, 0);
  CHECK_EQ_INT(st.failed, 1);
  CHECK_EQ_INT(st.retries, 2);
  CHECK_EQ_INT(count_logs(&e, "outcome=retry status=0 "), 2);
  CHECK_EQ_INT(count_logs(&e, "attempt=3/3 outcome=failed status=0 "), 1);
  CHECK_EQ_INT(count_logs(&e, "error=\"\""), 0);
  env_finish(&e);
}

static void test_timeout(void) {
  static const int script[] = {HANG, 200};
  struct sbx_webhook_config cfg = fast;
  struct env e;
  struct sbx_webhook_stats st;

  cfg.timeout_ms = 400;
  env_start(&e, script, 2, 200, &cfg);
  CHECK_EQ_INT(post(&e, "slow", 4, 12), 0);
  run_until(&e, none_pending);
  st = stats(&e);
  CHECK_EQ_INT(st.delivered, 1);
  CHECK_EQ_INT(st.retries, 1);
  CHECK_EQ_INT(e.srv.nreq, 2);
  CHECK_EQ_INT(count_logs(&e, "attempt=1/3 outcome=retry status=0 "), 1);
  CHECK_EQ_INT(count_logs(&e, "imed out"), 1); /* "Operation timed out" */
  env_finish(&e);
}

static void expect_bad_url(const char *url, const char *hint) {
  struct sbx_diag d = {""};
  CHECK_EQ_INT(sbx_webhook_validate_url(url, &d), SBX_EINVAL);
  if (strstr(d.msg, hint) == NULL) {
    fprintf(stderr, "url \"%s\": diag \"%s\" lacks \"%s\"\n",
            url ? url : "(null)", d.msg, hint);
    test_failures++;
  }
}

static void test_validation(void) {
  char long_url[SBX_WEBHOOK_MAX_URL + 2];
  struct sbx_diag d = {""};
  struct env e;
  size_t i;

  expect_bad_url(NULL, "missing");
  expect_bad_url("", "missing");
  expect_bad_url("ftp://example.com/x", "http:// or https://");
  expect_bad_url("mailto:a@example.com", "http:// or https://");
  expect_bad_url("http//example.com", "http:// or https://");
  expect_bad_url("//example.com/x", "http:// or https://");
  expect_bad_url("http://", "http://");
  expect_bad_url("http://exa mple.com/", "percent-encode");
  expect_bad_url("http://example.com/a b", "offset 20");
  expect_bad_url("http://example.com/\x01", "control");
  expect_bad_url("http://example.com/\r\nX: y", "control");
  expect_bad_url("http://example.com/caf\xc3\xa9", "non-ASCII");
  expect_bad_url("http://exa[mple.com/", "callback URL");
  memcpy(long_url, "http://example.com/", 19);
  for (i = 19; i < sizeof(long_url) - 1; i++)
    long_url[i] = 'a';
  long_url[sizeof(long_url) - 1] = '\0'; /* 2049 bytes */
  expect_bad_url(long_url, "limit of 2048");
  long_url[SBX_WEBHOOK_MAX_URL] = '\0';
  CHECK_EQ_INT(sbx_webhook_validate_url(long_url, NULL), 0);
  CHECK_EQ_INT(sbx_webhook_validate_url("HTTPS://Example.COM/ok?a=b", &d), 0);
  CHECK_EQ_INT(sbx_webhook_validate_url("http://[::1]:8080/x", &d), 0);
  CHECK_EQ_INT(sbx_webhook_validate_url("http://localhost", &d), 0);
  CHECK_EQ_INT(sbx_webhook_validate_url("ftp://x", NULL), SBX_EINVAL);

  /* Literal private addresses, refused before any delivery. */
  CHECK_EQ_INT(sbx_webhook_check_literal_host("http://10.0.0.1/x", &d),
               SBX_EINVAL);
  CHECK(strstr(d.msg, "10.0.0.1 is a private, loopback or link-local") !=
        NULL);
  CHECK(strstr(d.msg, "callback_private = allow") != NULL);
  CHECK_EQ_INT(sbx_webhook_check_literal_host("http://[::1]:8080/x", &d),
               SBX_EINVAL);
  CHECK(strstr(d.msg, ": ::1 is a private") != NULL);
  CHECK_EQ_INT(
      sbx_webhook_check_literal_host("https://169.254.169.254/latest", NULL),
      SBX_EINVAL);
  CHECK_EQ_INT(sbx_webhook_check_literal_host("http://8.8.8.8/x", NULL), 0);
  CHECK_EQ_INT(sbx_webhook_check_literal_host("http://[2001:db8::1]/x", NULL),
               0);
  /* Names are checked on what they resolve to, when the callback goes. */
  CHECK_EQ_INT(sbx_webhook_check_literal_host("http://localhost/x", NULL), 0);

  /* post() refuses bad arguments and queues nothing. */
  env_start(&e, NULL, 0, 200, NULL);
  CHECK_EQ_INT(
      sbx_webhook_post(e.w, "gopher://x/", "text/plain", "x", 1, 1, &d),
      SBX_EINVAL);
  CHECK(strstr(d.msg, "http:// or https://") != NULL);
  CHECK_EQ_INT(
      sbx_webhook_post(e.w, e.url, "text/plain\r\nX-Evil: 1", "x", 1, 1, &d),
      SBX_EINVAL);
  CHECK(strstr(d.msg, "content type") != NULL);
  CHECK_EQ_INT(sbx_webhook_post(e.w, e.url, NULL, "x", 1, 1, &d), SBX_EINVAL);
  CHECK_EQ_INT(sbx_webhook_post(e.w, e.url, "", "x", 1, 1, &d), SBX_EINVAL);
  CHECK_EQ_INT(sbx_webhook_post(e.w, e.url, "text/plain", NULL, 5, 1, &d),
               SBX_EINVAL);
  CHECK_EQ_INT(sbx_webhook_post(NULL, e.url, "text/plain", "x", 1, 1, &d),
               SBX_EINVAL);
  CHECK_EQ_INT(stats(&e).pending, 0);
  CHECK_EQ_INT(e.nlogs, 0);
  env_finish(&e);
  CHECK_EQ_INT(e.srv.nreq, 0);
}

static void test_open_args(void) {
  uv_loop_t loop;
  struct sbx_webhook *w = (struct sbx_webhook *)&loop;
  struct sbx_webhook_config bad = {.first_backoff_ms = 1000,
                                   .max_backoff_ms = 10};
  struct sbx_webhook_stats st;

  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  CHECK_EQ_INT(sbx_webhook_open(NULL, NULL, &w), SBX_EINVAL);
  CHECK(w == NULL);
  CHECK_EQ_INT(sbx_webhook_open(&loop, NULL, NULL), SBX_EINVAL);
  CHECK_EQ_INT(sbx_webhook_open(&loop, &bad, &w), SBX_EINVAL);
  CHECK(w == NULL);
  sbx_webhook_stats(NULL, &st);
  CHECK_EQ_INT(st.pending, 0);
  sbx_webhook_close(NULL, NULL, NULL);
  CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

static int two_received(struct env *e) {
  return e->srv.nreq >= 2;
}

static void on_tick(uv_timer_t *t) {
  (void)t;
}

/* refuse_private: loopback, private, link-local, shared and mapped
 * addresses fail at once, without a retry and without a byte sent; the
 * log says which address and how to allow it. Only refusals are tested:
 * a test never connects anywhere but loopback. */
static void test_refuse_private(void) {
  static const char *const urls[] = {
      NULL, /* the test server on 127.0.0.1 */
      "http://10.1.2.3:9/hook",
      "http://172.20.0.1:9/hook",
      "http://192.168.1.1:9/hook",
      "http://169.254.169.254/latest/meta-data",
      "http://100.64.0.1:9/hook",
      "http://[::1]:9/hook",
      "http://[::ffff:192.168.0.1]:9/hook",
  };
  struct sbx_webhook_config cfg = fast;
  struct env e;
  struct sbx_diag d = {""};
  uv_timer_t tick;
  size_t i;

  cfg.refuse_private = 1;
  env_start(&e, NULL, 0, 200, &cfg);
  for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
    CHECK_EQ_INT(sbx_webhook_post(e.w, urls[i] ? urls[i] : e.url, "text/plain",
                                  "x", 1, (uint64_t)i, &d),
                 0);
  /* No socket ever opens, so nothing but a timer wakes the loop after the
   * deliveries end inside libcurl's timeout handling. */
  uv_timer_init(&e.loop, &tick);
  uv_timer_start(&tick, on_tick, 10, 10);
  run_until(&e, none_pending);
  uv_close((uv_handle_t *)&tick, NULL);
  expect_totals(&e, 0, 8, 0, 0);
  CHECK_EQ_INT(count_logs(&e, "attempt=1/3 outcome=failed"), 8);
  CHECK_EQ_INT(count_logs(&e, "127.0.0.1 is a private, loopback or "
                              "link-local address"),
               1);
  CHECK_EQ_INT(count_logs(&e, "169.254.169.254 is a private"), 1);
  CHECK_EQ_INT(count_logs(&e, "::ffff:192.168.0.1 is a private"), 1);
  CHECK_EQ_INT(count_logs(&e, "callback_private = allow"), 8);
  CHECK_EQ_INT(e.outcome[0], SBX_WEBHOOK_FAILED);
  CHECK_EQ_INT(e.outcome[7], SBX_WEBHOOK_FAILED);
  env_finish(&e);
}

static void test_close_pending(void) {
  static const int script[] = {500, HANG};
  struct sbx_webhook_config cfg = {
      .first_backoff_ms = 60000, /* the retry would be long after close */
      .max_in_flight = 1,
  };
  struct env e;
  struct sbx_webhook_stats st;
  struct sbx_diag d = {""};

  env_start(&e, script, 2, 200, &cfg);
  CHECK_EQ_INT(post(&e, "waiting", 7, 1), 0);
  CHECK_EQ_INT(post(&e, "in-flight", 9, 2), 0);
  CHECK_EQ_INT(post(&e, "queued", 6, 3), 0);
  run_until(&e, two_received);
  st = stats(&e);
  CHECK_EQ_INT(st.pending, 3);
  CHECK_EQ_INT(st.retries, 1);
  CHECK_EQ_INT(count_logs(&e, "run=1 attempt=1/6 outcome=retry status=500 "),
               1);

  sbx_webhook_close(e.w, on_closed, &e);
  sbx_webhook_close(e.w, on_closed, &e); /* no-op while closing */
  st = stats(&e);
  CHECK_EQ_INT(st.pending, 0);
  CHECK_EQ_INT(st.failed, 3);
  CHECK_EQ_INT(st.delivered, 0);
  CHECK_EQ_INT(count_logs(&e, "outcome=canceled"), 3);
  CHECK_EQ_INT(count_logs(&e, "run=2 attempt=1/6 outcome=canceled"), 1);
  CHECK_EQ_INT(count_logs(&e, "run=3 attempt=0/6 outcome=canceled"), 1);
  CHECK_EQ_INT(e.ndone, 3);
  CHECK_EQ_INT(e.outcome[1], SBX_WEBHOOK_CANCELED);
  CHECK_EQ_INT(e.outcome[2], SBX_WEBHOOK_CANCELED);
  CHECK_EQ_INT(e.outcome[3], SBX_WEBHOOK_CANCELED);
  CHECK_EQ_INT(sbx_webhook_post(e.w, e.url, "text/plain", "x", 1, 4, &d),
               SBX_ESTATE);
  CHECK_EQ_INT(e.closed, 0); /* cb comes from the loop */
  env_finish(&e);
  CHECK_EQ_INT(e.srv.nreq, 2);
}

static void test_max_pending(void) {
  struct sbx_webhook_config cfg = {.max_pending = 2, .max_in_flight = 1};
  struct env e;
  struct sbx_diag d = {""};

  env_start(&e, NULL, 0, HANG, &cfg);
  CHECK_EQ_INT(post(&e, "1", 1, 1), 0);
  CHECK_EQ_INT(post(&e, "2", 1, 2), 0);
  CHECK_EQ_INT(sbx_webhook_post(e.w, e.url, "text/plain", "3", 1, 3, &d),
               SBX_EBUSY);
  CHECK(strstr(d.msg, "pending") != NULL);
  CHECK_EQ_INT(stats(&e).pending, 2);
  env_finish(&e);
}

static int all_done_20(struct env *e) {
  struct sbx_webhook_stats st = stats(e);
  return st.delivered + st.failed == 20;
}

static void test_many(void) {
  struct sbx_webhook_config cfg = fast;
  struct env e;
  int seen[21] = {0};
  int i;

  cfg.max_in_flight = 4;
  env_start(&e, NULL, 0, 200, &cfg);
  for (i = 1; i <= 20; i++) {
    char body[32];
    int n = snprintf(body, sizeof(body), "body-%d", i);
    CHECK_EQ_INT(post(&e, body, (size_t)n, (uint64_t)i), 0);
  }
  CHECK_EQ_INT(stats(&e).pending, 20);
  run_until(&e, all_done_20);
  CHECK_EQ_INT(stats(&e).delivered, 20);
  CHECK_EQ_INT(e.srv.nreq, 20);
  for (i = 0; i < e.srv.nreq; i++) {
    const char *h = strstr(e.srv.reqs[i].head, "\r\nX-Sbx-Run-Id: ");
    char want[32];
    int run = h != NULL ? (int)strtol(h + 16, NULL, 10) : 0;
    CHECK(run >= 1 && run <= 20);
    if (run < 1 || run > 20)
      continue;
    seen[run]++;
    snprintf(want, sizeof(want), "body-%d", run);
    CHECK_EQ_STR(e.srv.reqs[i].body, want);
  }
  for (i = 1; i <= 20; i++)
    CHECK_EQ_INT(seen[i], 1);
  env_finish(&e);
}

/* Open descriptors of this process, to catch a socket left open. */
static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *de;
  int n = 0;
  if (d == NULL)
    return -1;
  while ((de = readdir(d)) != NULL)
    if (de->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

int main(void) {
  int fds;
  /* After the first loop: libuv keeps a process-wide pipe from then on. */
  test_open_args();
  fds = count_fds();
  test_validation();
  test_delivery();
  test_retry_then_success();
  test_give_up();
  test_no_retry();
  test_retry_after();
  test_refused();
  test_timeout();
  test_close_pending();
  test_refuse_private();
  test_max_pending();
  test_many();
  CHECK_EQ_INT(count_fds(), fds);
  return TEST_RESULT();
}
