/* test_httpd.c - the HTTP server on a real loopback socket.
 *
 * Each test starts a server on 127.0.0.1 port 0 on its own loop in the main
 * thread; a client thread (libcurl easy, or raw sockets where the test
 * needs to misbehave) talks to it and finally asks the loop, through a
 * uv_async_t, to stop the server. The loop must then close with
 * uv_loop_close() == 0.
 *
 * Covered: sync and async answers, keep-alive (no new connection for the
 * second request, no "Connection: close"), request accessors, body limit
 * (413 on Content-Length, closed on an over-long chunked body), header
 * limit (431), per-address and total connection limits, idle timeout, the
 * request-head deadline against a slowloris while oversized and normal
 * requests go on in parallel, streams (ordering, backpressure, client
 * disconnect while idle and while blocked), disconnect of an unanswered
 * request, graceful stop with a stream and a request in flight, and start
 * failures. No assertion depends on the machine being fast: waits are
 * generous upper bounds.
 */
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "err.h"
#include "httpd.h"
#include "testlib.h"

/* ---- server side --------------------------------------------------------- */

struct srv;

/* Work a handler left for later: an async answer, or a stream fed by a
 * timer. */
struct job {
  uv_timer_t t;
  struct srv *s;
  struct sbx_httpd_req *r; /* NULL once the request is gone */
  int kind;
  int left, seq;
};

enum { JOB_ASYNC, JOB_STREAM, JOB_FLOOD, JOB_SLOW };

struct srv {
  uv_loop_t loop;
  struct sbx_httpd *h;
  struct sbx_httpd_config cfg;
  int port;
  uv_async_t async;
  atomic_int stop_asked;
  atomic_int stopped;
  atomic_int gone;     /* close callbacks, SBX_HTTPD_CLIENT_GONE */
  atomic_int shutdown; /* close callbacks, SBX_HTTPD_SHUTDOWN */
  atomic_int ebusy;    /* flood streams that met SBX_EBUSY */
  atomic_int slow_answered;
  struct sbx_httpd_stats st; /* taken just before the stop */
  int write_after_gone;      /* stream_write's answer inside the cb */
};

static void job_closed(uv_handle_t *h) {
  free(h->data);
}

static void job_done(struct job *j) {
  uv_timer_stop(&j->t);
  uv_close((uv_handle_t *)&j->t, job_closed);
}

static void on_req_close(struct sbx_httpd_req *r, int reason, void *arg) {
  struct job *j = arg;
  struct srv *s = j->s;
  if (reason == SBX_HTTPD_CLIENT_GONE) {
    atomic_fetch_add(&s->gone, 1);
    s->write_after_gone = sbx_httpd_stream_write(r, "x", 1);
  } else {
    atomic_fetch_add(&s->shutdown, 1);
    if (j->kind == JOB_STREAM) {
      /* a stream may still say goodbye */
      sbx_httpd_stream_write(r, "by", 2);
      sbx_httpd_stream_end(r, "e\n", 2);
    }
  }
  j->r = NULL;
  job_done(j);
}

static void on_job(uv_timer_t *t) {
  struct job *j = t->data;
  char line[64];
  int n, rc;
  switch (j->kind) {
  case JOB_ASYNC:
    sbx_httpd_respond(j->r, 200, "text/plain", "async\n", 6);
    job_done(j);
    return;
  case JOB_SLOW:
    atomic_fetch_add(&j->s->slow_answered, 1);
    sbx_httpd_respond(j->r, 200, "text/plain", "slow\n", 5);
    job_done(j);
    return;
  case JOB_STREAM:
    if (j->left == 0) {
      CHECK_EQ_INT(sbx_httpd_stream_end(j->r, NULL, 0), 0);
      job_done(j);
      return;
    }
    n = snprintf(line, sizeof(line), "chunk %d\n", j->seq++);
    CHECK_EQ_INT(sbx_httpd_stream_write(j->r, line, (size_t)n), 0);
    if (j->left > 0)
      j->left--;
    return;
  case JOB_FLOOD: {
    static char block[256 * 1024];
    rc = sbx_httpd_stream_write(j->r, block, sizeof(block));
    if (rc == SBX_EBUSY) {
      atomic_fetch_add(&j->s->ebusy, 1);
      uv_timer_stop(&j->t); /* hold the stream until the client leaves */
    } else {
      CHECK_EQ_INT(rc, 0);
    }
    return;
  }
  }
}

static struct job *job_new(struct srv *s, struct sbx_httpd_req *r, int kind) {
  struct job *j = calloc(1, sizeof(*j));
  if (j == NULL)
    abort();
  j->s = s;
  j->r = r;
  j->kind = kind;
  uv_timer_init(&s->loop, &j->t);
  j->t.data = j;
  sbx_httpd_on_close(r, on_req_close, j);
  return j;
}

static void on_request(struct sbx_httpd_req *r, void *arg) {
  struct srv *s = arg;
  const char *path = sbx_httpd_path(r);
  const char *q;
  struct job *j;
  if (strcmp(path, "/healthz") == 0) {
    sbx_httpd_respond(r, 200, "text/plain", "ok\n", 3);
  } else if (strcmp(path, "/echo") == 0) {
    char text[512];
    size_t len;
    const uint8_t *body = sbx_httpd_body(r, &len);
    const char *hdrs[] = {"X-Echo", "yes", NULL};
    const char *qv = sbx_httpd_query(r, "q");
    const char *hv = sbx_httpd_header(r, "x-test");
    int n = snprintf(
        text, sizeof(text), "method=%s q=%s hdr=%s peer=%s len=%zu body=%.*s",
        sbx_httpd_method(r), qv ? qv : "-", hv ? hv : "-", sbx_httpd_peer(r),
        len, (int)(len < 64 ? len : 64), body ? (const char *)body : "");
    CHECK(sbx_httpd_arrival_ns(r) > 0);
    sbx_httpd_respond_hdrs(r, 200, "text/plain", hdrs, text, (size_t)n);
  } else if (strcmp(path, "/async") == 0) {
    j = job_new(s, r, JOB_ASYNC);
    uv_timer_start(&j->t, on_job, 20, 0);
  } else if (strcmp(path, "/slow") == 0) {
    j = job_new(s, r, JOB_SLOW);
    q = sbx_httpd_query(r, "ms");
    uv_timer_start(&j->t, on_job, q ? strtoul(q, NULL, 10) : 300, 0);
  } else if (strcmp(path, "/hold") == 0) {
    job_new(s, r, JOB_ASYNC); /* never answered: waits for its client */
  } else if (strcmp(path, "/stream") == 0) {
    /* begun inside the handler, fed from a timer */
    CHECK_EQ_INT(sbx_httpd_stream_begin(r, 200, "text/plain", NULL, 0), 0);
    CHECK_EQ_INT(sbx_httpd_respond(r, 200, NULL, NULL, 0), SBX_EINVAL);
    j = job_new(s, r, JOB_STREAM);
    q = sbx_httpd_query(r, "n");
    j->left = q ? (int)strtol(q, NULL, 10) : 10;
    uv_timer_start(&j->t, on_job, 1, 2);
  } else if (strcmp(path, "/stream-hold") == 0) {
    CHECK_EQ_INT(sbx_httpd_stream_begin(r, 200, "text/plain", NULL, 0), 0);
    CHECK_EQ_INT(sbx_httpd_stream_write(r, "hello\n", 6), 0);
    job_new(s, r, JOB_STREAM)->left = -1; /* no timer: holds */
  } else if (strcmp(path, "/flood") == 0) {
    CHECK_EQ_INT(sbx_httpd_stream_begin(r, 200, "application/octet-stream",
                                        NULL, 1024 * 1024),
                 0);
    j = job_new(s, r, JOB_FLOOD);
    uv_timer_start(&j->t, on_job, 1, 1);
  } else {
    sbx_httpd_respond(r, 404, "text/plain", "no\n", 3);
  }
}

static void on_stopped(void *arg) {
  struct srv *s = arg;
  atomic_store(&s->stopped, 1);
}

static void on_async(uv_async_t *a) {
  struct srv *s = a->data;
  if (atomic_load(&s->stop_asked) && s->h != NULL) {
    sbx_httpd_stats(s->h, &s->st);
    sbx_httpd_stop(s->h, on_stopped, s);
    s->h = NULL;
    uv_close((uv_handle_t *)&s->async, NULL);
  }
}

/* Asks the loop to stop the server (from the client thread). */
static void srv_stop(struct srv *s) {
  atomic_store(&s->stop_asked, 1);
  uv_async_send(&s->async);
}

/* Runs client(s) on a thread against a fresh server with cfg, until the
 * client asked for the stop and everything closed. */
static void run_with(struct sbx_httpd_config cfg, void *(*client)(void *)) {
  struct srv *s = calloc(1, sizeof(*s));
  struct sbx_diag diag = {{0}};
  pthread_t th;
  if (s == NULL)
    abort();
  CHECK_EQ_INT(uv_loop_init(&s->loop), 0);
  cfg.on_request = on_request;
  cfg.arg = s;
  if (cfg.host == NULL)
    cfg.host = "127.0.0.1";
  s->cfg = cfg;
  if (sbx_httpd_start(&s->loop, &cfg, &s->h, &diag) != 0) {
    fprintf(stderr, "start: %s\n", diag.msg);
    CHECK(0);
    uv_loop_close(&s->loop);
    free(s);
    return;
  }
  s->port = sbx_httpd_port(s->h);
  CHECK(s->port > 0);
  uv_async_init(&s->loop, &s->async, on_async);
  s->async.data = s;
  CHECK_EQ_INT(pthread_create(&th, NULL, client, s), 0);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  CHECK(atomic_load(&s->stopped));
  CHECK_EQ_INT(uv_loop_close(&s->loop), 0);
  free(s);
}

/* ---- client side --------------------------------------------------------- */

static uint64_t now_ms(void) {
  return uv_hrtime() / 1000000u;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000,
                        .tv_nsec = (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Waits up to ms for *v >= want. */
static int wait_for(atomic_int *v, int want, unsigned ms) {
  uint64_t end = now_ms() + ms;
  while (atomic_load(v) < want) {
    if (now_ms() > end)
      return 0;
    sleep_ms(5);
  }
  return 1;
}

static int tcp_connect(int port, int rcvbuf) {
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct timeval tv = {.tv_sec = 10};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  if (rcvbuf > 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int send_str(int fd, const char *s) {
  size_t len = strlen(s), off = 0;
  while (off < len) {
    ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);
    if (n <= 0)
      return -1;
    off += (size_t)n;
  }
  return 0;
}

struct resp {
  int status;
  char head[4096];
  char body[8192];
  size_t body_len;
};

/* Reads one response with a Content-Length body (or up to EOF). Returns 0,
 * -1 on EOF/error before a complete head. */
static int read_resp(int fd, struct resp *rp) {
  char buf[16384];
  size_t have = 0, hlen, clen = 0;
  char *end = NULL, *cl;
  memset(rp, 0, sizeof(*rp));
  while (end == NULL) {
    ssize_t n;
    if (have >= sizeof(buf) - 1)
      return -1;
    n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
    if (n <= 0)
      return -1;
    have += (size_t)n;
    buf[have] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  hlen = (size_t)(end - buf) + 4;
  snprintf(rp->head, sizeof(rp->head), "%.*s", (int)hlen, buf);
  if (sscanf(buf, "HTTP/1.%*d %d", &rp->status) != 1)
    return -1;
  cl = strcasestr(rp->head, "\r\nContent-Length:");
  if (cl != NULL)
    clen = strtoul(cl + 17, NULL, 10);
  if (clen > sizeof(rp->body))
    clen = sizeof(rp->body);
  rp->body_len = have - hlen < clen ? have - hlen : clen;
  memcpy(rp->body, buf + hlen, rp->body_len);
  while (rp->body_len < clen) {
    ssize_t n = recv(fd, rp->body + rp->body_len, clen - rp->body_len, 0);
    if (n <= 0)
      return -1;
    rp->body_len += (size_t)n;
  }
  return 0;
}

/* 1 if the server closed fd (EOF or reset) within ms. */
static int closed_within(int fd, unsigned ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  uint64_t end = now_ms() + ms;
  char b[4096];
  for (;;) {
    int left = (int)(end > now_ms() ? end - now_ms() : 0);
    ssize_t n;
    if (poll(&p, 1, left) <= 0)
      return 0;
    n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
      return 1;
  }
}

struct buf {
  char data[65536];
  size_t len;
};

static size_t on_data(char *p, size_t sz, size_t n, void *arg) {
  struct buf *b = arg;
  size_t len = sz * n, take = len;
  if (take > sizeof(b->data) - 1 - b->len)
    take = sizeof(b->data) - 1 - b->len;
  memcpy(b->data + b->len, p, take);
  b->len += take;
  b->data[b->len] = '\0';
  return len;
}

/* One request with easy handle e (reused: keep-alive). Returns the status
 * or -1 on a transport error. */
static long curl_do(CURL *e, struct srv *s, const char *path, const char *post,
                    struct buf *b) {
  char url[256];
  long status = -1;
  struct curl_slist *hl = curl_slist_append(NULL, "X-Test: hello");
  snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
  b->len = 0;
  b->data[0] = '\0';
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 20000L);
  if (post != NULL) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
  } else {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  }
  if (curl_easy_perform(e) == CURLE_OK)
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(hl);
  return status;
}

/* ---- tests --------------------------------------------------------------- */

static void *client_basic(void *arg) {
  struct srv *s = arg;
  CURL *e = curl_easy_init();
  struct buf *b = calloc(1, sizeof(*b));
  long connects = -1;
  struct resp rp;
  int fd;

  CHECK_EQ_INT(curl_do(e, s, "/healthz", NULL, b), 200);
  CHECK_EQ_STR(b->data, "ok\n");
  /* keep-alive: the second request reuses the connection */
  CHECK_EQ_INT(curl_do(e, s, "/healthz", NULL, b), 200);
  curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
  CHECK_EQ_INT(connects, 0);
  CHECK_EQ_INT(curl_do(e, s, "/echo?q=a%20b&x=1", "hi there", b), 200);
  CHECK_EQ_STR(b->data, "method=POST q=a b hdr=hello peer=127.0.0.1 len=8 "
                        "body=hi there");
  CHECK_EQ_INT(curl_do(e, s, "/async", NULL, b), 200);
  CHECK_EQ_STR(b->data, "async\n");
  {
    /* a body bigger than what is set aside before it arrives */
    char *big = malloc(200001);
    memset(big, 'z', 200000);
    big[200000] = '\0';
    CHECK_EQ_INT(curl_do(e, s, "/echo", big, b), 200);
    CHECK(strstr(b->data, " len=200000 body=zzzz") != NULL);
    free(big);
  }
  CHECK_EQ_INT(curl_do(e, s, "/healthz", NULL, b), 200);
  curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
  CHECK_EQ_INT(connects, 0);
  CHECK_EQ_INT(curl_do(e, s, "/nowhere", NULL, b), 404);

  /* raw: extra headers go out, no "Connection: close", two answers on one
   * connection (one of them async) */
  fd = tcp_connect(s->port, 0);
  CHECK(fd >= 0);
  CHECK_EQ_INT(send_str(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  CHECK_EQ_INT(read_resp(fd, &rp), 0);
  CHECK_EQ_INT(rp.status, 200);
  CHECK(strcasestr(rp.head, "X-Echo: yes") != NULL);
  CHECK(strcasestr(rp.head, "Connection: close") == NULL);
  CHECK_EQ_INT(send_str(fd, "GET /async HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  CHECK_EQ_INT(read_resp(fd, &rp), 0);
  CHECK_EQ_INT(rp.status, 200);
  CHECK_EQ_STR(rp.body, "async\n");
  close(fd);

  curl_easy_cleanup(e);
  free(b);
  srv_stop(s);
  return NULL;
}

static void test_basic(void) {
  struct sbx_httpd_config cfg = {.port = 0};
  run_with(cfg, client_basic);
}

/* ---- limits ---- */

static void *client_limits(void *arg) {
  struct srv *s = arg;
  struct resp rp;
  char big[6000];
  char req[8192];
  int fd;

  /* declared body over the limit: 413 at once, nothing read, closed */
  fd = tcp_connect(s->port, 0);
  CHECK_EQ_INT(send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\n"
                            "Content-Length: 5000\r\n\r\n"),
               0);
  CHECK_EQ_INT(read_resp(fd, &rp), 0);
  CHECK_EQ_INT(rp.status, 413);
  CHECK(strstr(rp.body, "over the limit of 1000 bytes") != NULL);
  CHECK(closed_within(fd, 5000));
  close(fd);

  /* with Expect: 100-continue the client is refused before it sends */
  fd = tcp_connect(s->port, 0);
  CHECK_EQ_INT(send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\n"
                            "Expect: 100-continue\r\n"
                            "Content-Length: 99999999999\r\n\r\n"),
               0);
  CHECK_EQ_INT(read_resp(fd, &rp), 0);
  CHECK_EQ_INT(rp.status, 413);
  close(fd);

  /* chunked body growing past the limit: connection closed, no answer */
  fd = tcp_connect(s->port, 0);
  CHECK_EQ_INT(send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n"),
               0);
  memset(big, 'a', 1200);
  snprintf(req, sizeof(req), "4b0\r\n%.*s\r\n", 1200, big);
  send_str(fd, req);
  CHECK(closed_within(fd, 5000));
  close(fd);

  /* a chunked body within the limit */
  fd = tcp_connect(s->port, 0);
  CHECK_EQ_INT(send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n"
                            "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"),
               0);
  CHECK_EQ_INT(read_resp(fd, &rp), 0);
  CHECK_EQ_INT(rp.status, 200);
  CHECK(strstr(rp.body, "len=7 body=abcdefg") != NULL);
  close(fd);

  /* body at the limit is fine */
  fd = tcp_connect(s->port, 0);
  memset(big, 'b', 1000);
  snprintf(req, sizeof(req),
           "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
           "%.*s",
           1000, big);
  CHECK_EQ_INT(send_str(fd, req), 0);
  CHECK_EQ_INT(read_resp(fd, &rp), 0);
  CHECK_EQ_INT(rp.status, 200);
  CHECK(strstr(rp.body, "len=1000") != NULL);
  close(fd);

  /* header over max_header_bytes: 431 */
  fd = tcp_connect(s->port, 0);
  memset(big, 'h', 5000);
  snprintf(req, sizeof(req),
           "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %.*s\r\n\r\n", 5000,
           big);
  send_str(fd, req);
  CHECK_EQ_INT(read_resp(fd, &rp), 0);
  CHECK_EQ_INT(rp.status, 431);
  close(fd);

  srv_stop(s);
  return NULL;
}

static void test_limits(void) {
  struct sbx_httpd_config cfg = {.max_body_bytes = 1000,
                                 .max_header_bytes = 4096};
  run_with(cfg, client_limits);
}

static void *client_per_ip(void *arg) {
  struct srv *s = arg;
  struct resp rp;
  int a = tcp_connect(s->port, 0), b = tcp_connect(s->port, 0), c, ok = 0;
  uint64_t end;
  /* a and b are served */
  CHECK_EQ_INT(send_str(a, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  CHECK_EQ_INT(read_resp(a, &rp), 0);
  CHECK_EQ_INT(send_str(b, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  CHECK_EQ_INT(read_resp(b, &rp), 0);
  /* the third from the same address is closed at once */
  c = tcp_connect(s->port, 0);
  CHECK(c >= 0);
  CHECK(closed_within(c, 5000));
  close(c);
  /* after one leaves, a new one is served (the server must first see the
   * close, so retry for a while) */
  close(a);
  end = now_ms() + 5000;
  while (!ok && now_ms() < end) {
    c = tcp_connect(s->port, 0);
    if (send_str(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") == 0 &&
        read_resp(c, &rp) == 0 && rp.status == 200)
      ok = 1;
    close(c);
    if (!ok)
      sleep_ms(20);
  }
  CHECK(ok);
  close(b);
  srv_stop(s);
  return NULL;
}

static void test_per_ip(void) {
  struct sbx_httpd_config cfg = {.max_per_ip = 2};
  run_with(cfg, client_per_ip);
}

static void *client_max_conn(void *arg) {
  struct srv *s = arg;
  struct resp rp;
  struct pollfd p;
  int a = tcp_connect(s->port, 0), b = tcp_connect(s->port, 0), c;
  CHECK_EQ_INT(send_str(a, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  CHECK_EQ_INT(read_resp(a, &rp), 0);
  CHECK_EQ_INT(send_str(b, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  CHECK_EQ_INT(read_resp(b, &rp), 0);
  /* the third waits in the backlog: no answer while a and b stay */
  c = tcp_connect(s->port, 0);
  CHECK_EQ_INT(send_str(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  p = (struct pollfd){.fd = c, .events = POLLIN};
  CHECK_EQ_INT(poll(&p, 1, 300), 0);
  /* a leaves: c is taken and answered without waiting for a timeout */
  close(a);
  CHECK_EQ_INT(read_resp(c, &rp), 0);
  CHECK_EQ_INT(rp.status, 200);
  close(b);
  close(c);
  srv_stop(s);
  return NULL;
}

static void test_max_connections(void) {
  struct sbx_httpd_config cfg = {.max_connections = 2};
  run_with(cfg, client_max_conn);
}

static void *client_idle(void *arg) {
  struct srv *s = arg;
  struct resp rp;
  int a = tcp_connect(s->port, 0), b = tcp_connect(s->port, 0);
  /* silent from the start, and silent after one request */
  CHECK_EQ_INT(send_str(b, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  CHECK_EQ_INT(read_resp(b, &rp), 0);
  CHECK(closed_within(a, 8000));
  CHECK(closed_within(b, 8000));
  close(a);
  close(b);
  /* a request waiting for its answer longer than the idle timeout is not
   * idle: the answer still goes out */
  a = tcp_connect(s->port, 0);
  CHECK_EQ_INT(send_str(a, "GET /slow?ms=2500 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  CHECK_EQ_INT(read_resp(a, &rp), 0);
  CHECK_EQ_INT(rp.status, 200);
  CHECK_EQ_STR(rp.body, "slow\n");
  close(a);
  srv_stop(s);
  return NULL;
}

static void test_idle_timeout(void) {
  struct sbx_httpd_config cfg = {.idle_timeout_s = 1, .header_deadline_s = 30};
  run_with(cfg, client_idle);
}

/* A slowloris, oversized bodies and normal requests at the same time. */
struct par {
  struct srv *s;
  atomic_int done;
  int slow_dropped;
  uint64_t slow_ms;
  int big_ok, normal_ok;
};

static void *slowloris(void *arg) {
  struct par *p = arg;
  int fd = tcp_connect(p->s->port, 0), i;
  uint64_t t0 = now_ms();
  send_str(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
  /* a header line every 100 ms: never silent long enough for the idle
   * timeout (5 s), never big enough for the memory limit; would take 80 s */
  for (i = 0; i < 800; i++) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (send_str(fd, "X-a: b\r\n") != 0 ||
        (poll(&pf, 1, 100) == 1 && closed_within(fd, 1))) {
      p->slow_dropped = 1;
      break;
    }
    if (now_ms() - t0 > 15000)
      break;
  }
  p->slow_ms = now_ms() - t0;
  close(fd);
  atomic_fetch_add(&p->done, 1);
  return NULL;
}

static void *oversized(void *arg) {
  struct par *p = arg;
  int i;
  for (i = 0; i < 20; i++) {
    struct resp rp;
    int fd = tcp_connect(p->s->port, 0);
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: 100000000\r\n\r\n");
    if (read_resp(fd, &rp) == 0 && rp.status == 413)
      p->big_ok++;
    close(fd);
  }
  atomic_fetch_add(&p->done, 1);
  return NULL;
}

static void *normal(void *arg) {
  struct par *p = arg;
  CURL *e = curl_easy_init();
  struct buf *b = calloc(1, sizeof(*b));
  int i;
  for (i = 0; i < 50; i++) {
    if (curl_do(e, p->s, "/healthz", NULL, b) == 200 &&
        strcmp(b->data, "ok\n") == 0)
      p->normal_ok++;
  }
  curl_easy_cleanup(e);
  free(b);
  atomic_fetch_add(&p->done, 1);
  return NULL;
}

static void *client_parallel(void *arg) {
  struct par p = {.s = arg};
  pthread_t t1, t2, t3;
  pthread_create(&t1, NULL, slowloris, &p);
  pthread_create(&t2, NULL, oversized, &p);
  pthread_create(&t3, NULL, normal, &p);
  pthread_join(t2, NULL);
  pthread_join(t3, NULL);
  pthread_join(t1, NULL);
  CHECK(p.slow_dropped);
  CHECK(p.slow_ms < 10000); /* the deadline (1 s) cut it, not the end */
  CHECK_EQ_INT(p.big_ok, 20);
  CHECK_EQ_INT(p.normal_ok, 50);
  srv_stop(p.s);
  return NULL;
}

static void test_slowloris_parallel(void) {
  struct sbx_httpd_config cfg = {
      .max_body_bytes = 1000, .idle_timeout_s = 5, .header_deadline_s = 1};
  run_with(cfg, client_parallel);
}

/* ---- streams ---- */

static void *client_streams(void *arg) {
  struct srv *s = arg;
  CURL *e = curl_easy_init();
  struct buf *b = calloc(1, sizeof(*b));
  char want[4096];
  size_t off = 0;
  int i, fd;
  char tmp[256];

  for (i = 0; i < 50; i++)
    off += (size_t)snprintf(want + off, sizeof(want) - off, "chunk %d\n", i);
  CHECK_EQ_INT(curl_do(e, s, "/stream?n=50", NULL, b), 200);
  CHECK_EQ_STR(b->data, want);
  /* the connection survives the stream */
  CHECK_EQ_INT(curl_do(e, s, "/healthz", NULL, b), 200);

  /* a client leaving an idle stream is noticed without any write */
  fd = tcp_connect(s->port, 0);
  CHECK_EQ_INT(send_str(fd, "GET /stream-hold HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  CHECK(recv(fd, tmp, sizeof(tmp), 0) > 0);
  close(fd);
  CHECK(wait_for(&s->gone, 1, 10000));
  CHECK_EQ_INT(s->write_after_gone, SBX_ECANCELED);

  /* an unanswered request whose client leaves */
  fd = tcp_connect(s->port, 0);
  CHECK_EQ_INT(send_str(fd, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  sleep_ms(50);
  close(fd);
  CHECK(wait_for(&s->gone, 2, 10000));

  /* a client that does not read: the queue fills up to its bound
   * (SBX_EBUSY), and its leaving is seen when the write fails */
  fd = tcp_connect(s->port, 4096);
  CHECK_EQ_INT(send_str(fd, "GET /flood HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  CHECK(wait_for(&s->ebusy, 1, 20000));
  close(fd);
  CHECK(wait_for(&s->gone, 3, 20000));

  curl_easy_cleanup(e);
  free(b);
  srv_stop(s);
  return NULL;
}

static void test_streams(void) {
  struct sbx_httpd_config cfg = {.port = 0};
  run_with(cfg, client_streams);
}

/* ---- graceful stop ---- */

static void *client_stop(void *arg) {
  struct srv *s = arg;
  struct resp rp;
  char tmp[4096];
  size_t have = 0;
  ssize_t n;
  int st = tcp_connect(s->port, 0), sl = tcp_connect(s->port, 0), idle;

  idle = tcp_connect(s->port, 0); /* an idle keep-alive connection */
  CHECK_EQ_INT(send_str(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  CHECK_EQ_INT(read_resp(idle, &rp), 0);
  CHECK_EQ_INT(send_str(st, "GET /stream-hold HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  CHECK(recv(st, tmp, sizeof(tmp), 0) > 0);
  CHECK_EQ_INT(send_str(sl, "GET /slow?ms=400 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  sleep_ms(50);
  srv_stop(s);
  /* the stream's close callback said goodbye and ended it */
  while ((n = recv(st, tmp + have, sizeof(tmp) - 1 - have, 0)) > 0)
    have += (size_t)n;
  tmp[have] = '\0';
  CHECK(strstr(tmp, "bye\n") != NULL);
  CHECK(strstr(tmp, "\r\n0\r\n\r\n") != NULL); /* the last chunk */
  /* the request in flight was answered within the grace period */
  CHECK_EQ_INT(read_resp(sl, &rp), 0);
  CHECK_EQ_INT(rp.status, 200);
  CHECK_EQ_STR(rp.body, "slow\n");
  CHECK(closed_within(idle, 10000));
  CHECK(wait_for(&s->stopped, 1, 10000));
  CHECK_EQ_INT(atomic_load(&s->shutdown), 1);
  CHECK_EQ_INT(atomic_load(&s->slow_answered), 1);
  close(st);
  close(sl);
  close(idle);
  return NULL;
}

static void test_stop(void) {
  struct sbx_httpd_config cfg = {.shutdown_grace_ms = 5000};
  run_with(cfg, client_stop);
}

static void *client_stop_grace(void *arg) {
  struct srv *s = arg;
  struct resp rp;
  int fd = tcp_connect(s->port, 0);
  CHECK_EQ_INT(send_str(fd, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  sleep_ms(50);
  srv_stop(s);
  /* never answered by its handler: at the end of the grace period its
   * close callback runs and the server answers 503 */
  CHECK_EQ_INT(read_resp(fd, &rp), 0);
  CHECK_EQ_INT(rp.status, 503);
  CHECK(wait_for(&s->stopped, 1, 10000));
  CHECK_EQ_INT(atomic_load(&s->shutdown), 1);
  close(fd);
  return NULL;
}

static void test_stop_grace(void) {
  struct sbx_httpd_config cfg = {.shutdown_grace_ms = 200};
  run_with(cfg, client_stop_grace);
}

/* ---- start ---- */

static void noop_request(struct sbx_httpd_req *r, void *arg) {
  sbx_httpd_respond(r, 204, NULL, NULL, 0);
}

static void test_start_errors(void) {
  uv_loop_t loop;
  struct sbx_httpd *h = NULL, *h2 = NULL;
  struct sbx_diag diag = {{0}};
  struct sbx_httpd_config cfg = {.host = "example.com",
                                 .on_request = noop_request};
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  CHECK_EQ_INT(sbx_httpd_start(&loop, &cfg, &h, &diag), SBX_EINVAL);
  CHECK(h == NULL);
  CHECK(strstr(diag.msg, "\"example.com\" is not an IP address") != NULL);
  cfg.host = "127.0.0.1";
  cfg.port = 70000;
  CHECK_EQ_INT(sbx_httpd_start(&loop, &cfg, &h, &diag), SBX_EINVAL);
  CHECK(strstr(diag.msg, "70000") != NULL);
  cfg.port = 0;
  cfg.on_request = NULL;
  CHECK_EQ_INT(sbx_httpd_start(&loop, &cfg, &h, &diag), SBX_EINVAL);
  cfg.on_request = noop_request;
  CHECK_EQ_INT(sbx_httpd_start(&loop, &cfg, &h, &diag), 0);
  /* the same port again: in use */
  cfg.port = sbx_httpd_port(h);
  CHECK_EQ_INT(sbx_httpd_start(&loop, &cfg, &h2, &diag), SBX_EIO);
  CHECK(h2 == NULL);
  CHECK(strstr(diag.msg, "cannot listen on 127.0.0.1") != NULL);
  sbx_httpd_stop(h, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

static void *client_v6(void *arg) {
  struct srv *s = arg;
  CURL *e = curl_easy_init();
  struct buf *b = calloc(1, sizeof(*b));
  char url[128];
  snprintf(url, sizeof(url), "http://[::1]:%d/echo", s->port);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 20000L);
  CHECK_EQ_INT(curl_easy_perform(e), CURLE_OK);
  CHECK(strstr(b->data, "peer=::1 ") != NULL);
  curl_easy_cleanup(e);
  free(b);
  srv_stop(s);
  return NULL;
}

static void test_ipv6(void) {
  struct sbx_httpd_config cfg = {.host = "::1"};
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6,
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  /* skipped where the machine has no IPv6 loopback */
  if (fd < 0 || bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) != 0) {
    if (fd >= 0)
      close(fd);
    printf("ipv6: skipped (no ::1)\n");
    return;
  }
  close(fd);
  run_with(cfg, client_v6);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  test_start_errors();
  test_basic();
  test_limits();
  test_per_ip();
  test_max_connections();
  test_idle_timeout();
  test_slowloris_parallel();
  test_streams();
  test_stop();
  test_stop_grace();
  test_ipv6();
  curl_global_cleanup();
  return TEST_RESULT();
}
