/* test_apiclient.c - the sbx API client against a scripted fake server.
 *
 * A thread on 127.0.0.1:0 accepts one connection per test, reads the
 * request, records it, and answers with canned bytes: a good unary answer,
 * Connect errors, garbage, oversized answers, streams of envelopes that end
 * properly or not at all. The client must take the good ones and refuse
 * every bad one with the documented code, never trusting what it got. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testlib.h"

#include "apiclient.h"
#include "connect.h"
#include "sbx/v1/api.pb-c.h"

/* ---- the fake server ---- */

static int listen_fd = -1;
static int port;
static char url[64];

struct exchange {
  const uint8_t *answer; /* bytes to send back, then close */
  size_t answer_len;
  int close_early;     /* close without answering */
  char request[65536]; /* what came in: head and body */
  size_t request_len;
  size_t head_len;
};

static void *serve_one(void *arg) {
  struct exchange *x = arg;
  int fd = accept(listen_fd, NULL, NULL);
  size_t clen = 0;
  ssize_t n;
  if (fd < 0)
    return NULL;
  /* Read the head, then Content-Length bytes of body. */
  while (x->request_len < sizeof(x->request) - 1) {
    n = read(fd, x->request + x->request_len,
             sizeof(x->request) - 1 - x->request_len);
    if (n <= 0)
      break;
    x->request_len += (size_t)n;
    x->request[x->request_len] = '\0';
    if (x->head_len == 0) {
      char *end = strstr(x->request, "\r\n\r\n");
      char *cl;
      if (end == NULL)
        continue;
      x->head_len = (size_t)(end - x->request) + 4;
      cl = strcasestr(x->request, "\r\nContent-Length:");
      if (cl != NULL && cl < end)
        clen = strtoul(cl + 17, NULL, 10);
    }
    if (x->head_len != 0 && x->request_len >= x->head_len + clen)
      break;
  }
  if (!x->close_early) {
    size_t off = 0;
    while (off < x->answer_len) {
      /* Small writes: the client must cope with any fragmentation. */
      size_t chunk = x->answer_len - off < 7 ? x->answer_len - off : 7;
      n = write(fd, x->answer + off, chunk);
      if (n <= 0)
        break;
      off += (size_t)n;
    }
  }
  shutdown(fd, SHUT_WR);
  close(fd);
  return NULL;
}

static int server_init(void) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof(a);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      listen(listen_fd, 8) != 0 ||
      getsockname(listen_fd, (struct sockaddr *)&a, &len) != 0)
    return -1;
  port = ntohs(a.sin_port);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
  return 0;
}

/* Builds "HTTP/1.1 status\r\nheaders\r\n\r\n" + body in buf. */
static size_t http_answer(uint8_t *buf, size_t cap, const char *status,
                          const char *ctype, const void *body, size_t len,
                          int with_length) {
  int n;
  if (with_length)
    n = snprintf((char *)buf, cap,
                 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n",
                 status, ctype, len);
  else
    n = snprintf((char *)buf, cap,
                 "HTTP/1.1 %s\r\nContent-Type: %s\r\nConnection: close\r\n"
                 "\r\n",
                 status, ctype);
  if (n < 0 || (size_t)n + len > cap)
    return 0;
  memcpy(buf + n, body, len);
  return (size_t)n + len;
}

/* Appends one envelope to buf at *off. */
static void envelope(uint8_t *buf, size_t *off, uint8_t flags, const void *msg,
                     size_t len) {
  sbx_connect_envelope_header(buf + *off, flags, (uint32_t)len);
  memcpy(buf + *off + 5, msg, len);
  *off += 5 + len;
}

static size_t pack_event(const Sbx__V1__RunEvent *ev, uint8_t *out) {
  return sbx__v1__run_event__pack(ev, out);
}

/* Runs one call against x's answer; returns sbx_api_call's code. */
struct call_args {
  struct sbx_api_client *c;
  const char *method;
  uint64_t run_id;
  Sbx__V1__GetRunResponse *resp;
  struct sbx_api_error err;
  int rc;
};

static int exchange_call(struct exchange *x, struct call_args *a) {
  pthread_t th;
  Sbx__V1__GetRunRequest req = SBX__V1__GET_RUN_REQUEST__INIT;
  req.run_id = a->run_id;
  pthread_create(&th, NULL, serve_one, x);
  a->rc = sbx_api_call(a->c, a->method, &req.base,
                       &sbx__v1__get_run_response__descriptor,
                       (ProtobufCMessage **)&a->resp, &a->err);
  pthread_join(th, NULL);
  return a->rc;
}

/* ---- unary ---- */

static void test_unary_ok(struct sbx_api_client *c) {
  Sbx__V1__GetRunResponse resp = SBX__V1__GET_RUN_RESPONSE__INIT;
  Sbx__V1__Run run = SBX__V1__RUN__INIT;
  Sbx__V1__GetRunRequest want = SBX__V1__GET_RUN_REQUEST__INIT;
  static uint8_t body[4096], ans[8192], wbody[64];
  struct exchange x = {0};
  struct call_args a = {.c = c, .method = "GetRun", .run_id = 77};
  size_t len, wlen;

  run.id = 77;
  run.scenario = "web-static@1.0.0";
  run.state = SBX__V1__RUN_STATE__RUN_STATE_DONE;
  resp.run = &run;
  len = sbx__v1__get_run_response__pack(&resp, body);
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "200 OK", "application/proto",
                             body, len, 1);
  CHECK_EQ_INT(exchange_call(&x, &a), 0);
  CHECK(a.resp != NULL && a.resp->run != NULL && a.resp->run->id == 77);
  CHECK(a.resp != NULL && a.resp->run != NULL &&
        strcmp(a.resp->run->scenario, "web-static@1.0.0") == 0);
  if (a.resp != NULL)
    sbx__v1__get_run_response__free_unpacked(a.resp, NULL);

  /* The request: POST to the method's path, proto body, the token. */
  CHECK(strncmp(x.request, "POST /sbx.v1.Sandbox/GetRun HTTP/1.1\r\n", 38) ==
        0);
  CHECK(strcasestr(x.request, "\r\nContent-Type: application/proto\r\n") !=
        NULL);
  CHECK(strcasestr(x.request, "\r\nAuthorization: Bearer sbx_secret\r\n") !=
        NULL);
  CHECK(strcasestr(x.request, "\r\nConnect-Protocol-Version: 1\r\n") != NULL);
  want.run_id = 77;
  wlen = sbx__v1__get_run_request__pack(&want, wbody);
  CHECK_EQ_INT(x.request_len - x.head_len, wlen);
  CHECK(memcmp(x.request + x.head_len, wbody, wlen) == 0);
}

static void test_unary_empty_request(struct sbx_api_client *c) {
  /* An empty message packs to zero bytes: still a POST with an empty body,
   * never curl reading a body from stdin. */
  static uint8_t ans[256];
  struct exchange x = {0};
  struct call_args a = {.c = c, .method = "GetRun", .run_id = 0};
  x.answer = ans;
  x.answer_len =
      http_answer(ans, sizeof(ans), "200 OK", "application/proto", "", 0, 1);
  CHECK_EQ_INT(exchange_call(&x, &a), 0);
  CHECK(a.resp != NULL && a.resp->run == NULL);
  if (a.resp != NULL)
    sbx__v1__get_run_response__free_unpacked(a.resp, NULL);
  CHECK(strcasestr(x.request, "\r\nContent-Length: 0\r\n") != NULL);
}

static void test_unary_errors(struct sbx_api_client *c) {
  static const char notfound[] =
      "{\"code\":\"not_found\",\"message\":\"no run 77\\u001b[2J; sbx run "
      "list shows the runs\"}";
  static const char denied[] =
      "{\"code\":\"permission_denied\",\"message\":\"vendors start runs of "
      "their own products only\"}";
  static uint8_t ans[8192], big[4096];
  struct exchange x;
  struct call_args a;

  /* A Connect error: code and message, control characters made harmless. */
  memset(&x, 0, sizeof(x));
  a = (struct call_args){.c = c, .method = "GetRun", .run_id = 77};
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "404 Not Found",
                             "application/json", notfound, strlen(notfound), 1);
  CHECK_EQ_INT(exchange_call(&x, &a), SBX_ENOENT);
  CHECK(a.resp == NULL);
  CHECK_EQ_INT(a.err.code, SBX_CONNECT_NOT_FOUND);
  CHECK(!a.err.unreachable);
  CHECK(strchr(a.err.message, 0x1b) == NULL);
  CHECK(strncmp(a.err.message, "no run 77", 9) == 0);
  CHECK(strstr(a.err.message, "[2J; sbx run list shows the runs") != NULL);

  memset(&x, 0, sizeof(x));
  a = (struct call_args){.c = c, .method = "StartRun", .run_id = 1};
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "403 Forbidden",
                             "application/json", denied, strlen(denied), 1);
  CHECK_EQ_INT(exchange_call(&x, &a), SBX_EPERM);
  CHECK_EQ_INT(a.err.code, SBX_CONNECT_PERMISSION_DENIED);
  CHECK(strncmp(x.request, "POST /sbx.v1.Sandbox/StartRun ", 30) == 0);

  /* A non-Connect error page: a code from the status, never success. */
  memset(&x, 0, sizeof(x));
  a = (struct call_args){.c = c, .method = "GetRun", .run_id = 1};
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "502 Bad Gateway", "text/html",
                             "<html>bad gateway</html>", 24, 1);
  CHECK(exchange_call(&x, &a) < 0);
  CHECK(a.resp == NULL);
  CHECK(a.err.code != 0);
  CHECK(!a.err.unreachable);

  /* 200 with bytes that are not the message. */
  memset(&x, 0, sizeof(x));
  a = (struct call_args){.c = c, .method = "GetRun", .run_id = 1};
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "200 OK", "application/proto",
                             "\x0a\xff\xff\xff\x0f", 5, 1);
  CHECK_EQ_INT(exchange_call(&x, &a), SBX_EPROTO);
  CHECK(a.resp == NULL);
  CHECK(strstr(a.err.message, "not a valid sbx.v1.GetRunResponse") != NULL);

  /* 200 from something that is not sandboxd. */
  memset(&x, 0, sizeof(x));
  a = (struct call_args){.c = c, .method = "GetRun", .run_id = 1};
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "200 OK", "text/html",
                             "<html></html>", 13, 1);
  CHECK_EQ_INT(exchange_call(&x, &a), SBX_EPROTO);
  CHECK(strstr(a.err.message, "text/html") != NULL);

  /* Over the cap: refused, not buffered without end. */
  memset(big, 'x', sizeof(big));
  sbx_api_client_set_max_response(c, 1000);
  memset(&x, 0, sizeof(x));
  a = (struct call_args){.c = c, .method = "GetRun", .run_id = 1};
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "200 OK", "application/proto",
                             big, sizeof(big), 1);
  CHECK_EQ_INT(exchange_call(&x, &a), SBX_EPROTO);
  CHECK(strstr(a.err.message, "larger than 1000 bytes") != NULL);
  /* the same for an error body */
  memset(&x, 0, sizeof(x));
  a = (struct call_args){.c = c, .method = "GetRun", .run_id = 1};
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "500 Internal Server Error",
                             "application/json", big, sizeof(big), 0);
  CHECK_EQ_INT(exchange_call(&x, &a), SBX_EPROTO);
  sbx_api_client_set_max_response(c, SBX_API_MAX_RESPONSE);

  /* The server hangs up without answering: no HTTP answer at all. */
  memset(&x, 0, sizeof(x));
  a = (struct call_args){.c = c, .method = "GetRun", .run_id = 1};
  x.close_early = 1;
  CHECK_EQ_INT(exchange_call(&x, &a), SBX_ECONNECT);
  CHECK(a.err.unreachable);

  /* An answer cut off in the middle of its body. */
  memset(&x, 0, sizeof(x));
  a = (struct call_args){.c = c, .method = "GetRun", .run_id = 1};
  x.answer = (const uint8_t *)"HTTP/1.1 200 OK\r\nContent-Type: "
                              "application/proto\r\nContent-Length: 100\r\n"
                              "\r\n\x08\x01";
  x.answer_len = strlen((const char *)x.answer);
  CHECK_EQ_INT(exchange_call(&x, &a), SBX_EPROTO);
  CHECK(!a.err.unreachable);
  CHECK(strstr(a.err.message, "broke off") != NULL);

  /* A method name that would change the path is refused up front. */
  a = (struct call_args){.c = c};
  {
    Sbx__V1__GetRunRequest req = SBX__V1__GET_RUN_REQUEST__INIT;
    ProtobufCMessage *resp = (ProtobufCMessage *)1;
    CHECK_EQ_INT(sbx_api_call(c, "../admin", &req.base,
                              &sbx__v1__get_run_response__descriptor, &resp,
                              &a.err),
                 SBX_EINVAL);
    CHECK(resp == NULL);
  }
}

static void test_unreachable(void) {
  struct sbx_api_client *c = NULL;
  struct sbx_api_error err;
  Sbx__V1__GetRunRequest req = SBX__V1__GET_RUN_REQUEST__INIT;
  ProtobufCMessage *resp = NULL;
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof(a);
  char u[64];
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  /* A port that was just free and is closed now: refused. */
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
  CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
  snprintf(u, sizeof(u), "http://127.0.0.1:%d", ntohs(a.sin_port));
  close(fd);
  CHECK_EQ_INT(sbx_api_client_new(u, NULL, &c, &err), 0);
  CHECK_EQ_INT(sbx_api_call(c, "GetRun", &req.base,
                            &sbx__v1__get_run_response__descriptor, &resp,
                            &err),
               SBX_ECONNECT);
  CHECK(err.unreachable);
  CHECK_EQ_INT(err.code, 0);
  CHECK(err.message[0] != '\0');
  CHECK(resp == NULL);
  CHECK_EQ_INT(sbx_api_watch(c, 1, NULL, NULL, &err), SBX_ECONNECT);
  CHECK(err.unreachable);
  sbx_api_client_free(c);
}

static void test_client_new(void) {
  struct sbx_api_client *c = (struct sbx_api_client *)1;
  struct sbx_api_error err;
  CHECK_EQ_INT(sbx_api_client_new("127.0.0.1:7800", NULL, &c, &err),
               SBX_EINVAL);
  CHECK(c == NULL);
  CHECK(strstr(err.message, "http://") != NULL);
  CHECK_EQ_INT(sbx_api_client_new("ftp://x", NULL, &c, &err), SBX_EINVAL);
  CHECK_EQ_INT(sbx_api_client_new("http://a b", NULL, &c, &err), SBX_EINVAL);
  CHECK_EQ_INT(sbx_api_client_new("http://x", "sbx_a\r\nX-Evil: 1", &c, &err),
               SBX_EINVAL);
  CHECK_EQ_INT(sbx_api_client_new("http://x", "a b", &c, &err), SBX_EINVAL);
  CHECK(c == NULL);
  CHECK_EQ_INT(sbx_api_client_new("HTTPS://example.org///", "", &c, &err), 0);
  CHECK(c != NULL &&
        strcmp(sbx_api_client_server(c), "HTTPS://example.org") == 0);
  sbx_api_client_free(c);
}

static void test_sanitize(void) {
  char s[64];
  snprintf(s, sizeof(s), "ok caf\xc3\xa9 \x1b[1m \x7f \xc2\x9b \xff \xe2\x82");
  sbx_api_sanitize(s);
  /* C1's CSI (U+009B) goes byte by byte: the lone continuation byte is no
   * character either */
  CHECK_EQ_STR(s, "ok caf\xc3\xa9 ?[1m ? ?? ? ??");
  /* overlong encodings and surrogates are not UTF-8 either */
  snprintf(s, sizeof(s), "\xc0\xaf \xe0\x80\xaf \xed\xa0\x80 \xf4\x90\x80\x80");
  sbx_api_sanitize(s);
  CHECK(strspn(s, "? ") == strlen(s));
  sbx_api_sanitize(NULL);
}

/* ---- streams ---- */

struct seen {
  int n;
  int states, progress, results;
  uint64_t last_run;
  int stop_at; /* return 42 from this event on; 0: never */
};

static int on_event(const Sbx__V1__RunEvent *ev, void *arg) {
  struct seen *s = arg;
  s->n++;
  s->last_run = ev->run_id;
  if (ev->event_case == SBX__V1__RUN_EVENT__EVENT_STATE)
    s->states++;
  else if (ev->event_case == SBX__V1__RUN_EVENT__EVENT_PROGRESS)
    s->progress++;
  else if (ev->event_case == SBX__V1__RUN_EVENT__EVENT_RESULT)
    s->results++;
  return s->stop_at != 0 && s->n >= s->stop_at ? 42 : 0;
}

static int watch_exchange(struct sbx_api_client *c, struct exchange *x,
                          struct seen *s, struct sbx_api_error *err) {
  pthread_t th;
  int rc;
  pthread_create(&th, NULL, serve_one, x);
  rc = sbx_api_watch(c, 9, on_event, s, err);
  pthread_join(th, NULL);
  return rc;
}

/* The events of a run: a state, a progress, a signed result. */
static size_t three_events(uint8_t *body) {
  Sbx__V1__RunEvent ev = SBX__V1__RUN_EVENT__INIT;
  Sbx__V1__Progress pr = SBX__V1__PROGRESS__INIT;
  Sbx__V1__SignedResult sr = SBX__V1__SIGNED_RESULT__INIT;
  uint8_t msg[512];
  size_t off = 0, n;

  ev.run_id = 9;
  ev.event_case = SBX__V1__RUN_EVENT__EVENT_STATE;
  ev.state = SBX__V1__RUN_STATE__RUN_STATE_MEASURING;
  n = pack_event(&ev, msg);
  envelope(body, &off, 0, msg, n);
  ev.event_case = SBX__V1__RUN_EVENT__EVENT_PROGRESS;
  pr.completed = 1000;
  pr.p99_us = 1234;
  ev.progress = &pr;
  n = pack_event(&ev, msg);
  envelope(body, &off, 0, msg, n);
  ev.event_case = SBX__V1__RUN_EVENT__EVENT_RESULT;
  sr.payload_type = "application/vnd.sbx.result.v1+proto";
  sr.payload = (ProtobufCBinaryData){.data = (uint8_t *)"\x08\x09", .len = 2};
  ev.result = &sr;
  n = pack_event(&ev, msg);
  envelope(body, &off, 0, msg, n);
  return off;
}

static void test_watch(struct sbx_api_client *c) {
  static uint8_t body[8192], ans[16384];
  static const char end_ok[] = "{}";
  static const char end_err[] =
      "{\"error\":{\"code\":\"not_found\",\"message\":\"no run 9\"}}";
  static const char unauth[] =
      "{\"code\":\"unauthenticated\",\"message\":\"no token\"}";
  struct sbx_api_error err;
  struct exchange x;
  struct seen s;
  size_t off;

  /* A whole stream, delivered 7 bytes at a time. */
  off = three_events(body);
  envelope(body, &off, SBX_CONNECT_FLAG_END, end_ok, strlen(end_ok));
  memset(&x, 0, sizeof(x));
  memset(&s, 0, sizeof(s));
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "200 OK",
                             "application/connect+proto", body, off, 0);
  CHECK_EQ_INT(watch_exchange(c, &x, &s, &err), 0);
  CHECK_EQ_INT(s.n, 3);
  CHECK(s.states == 1 && s.progress == 1 && s.results == 1);
  CHECK(s.last_run == 9);
  /* the request: one envelope holding WatchRunRequest{run_id: 9} */
  CHECK(strncmp(x.request, "POST /sbx.v1.Sandbox/WatchRun ", 30) == 0);
  CHECK(strcasestr(x.request, "\r\nContent-Type: application/connect+proto"
                              "\r\n") != NULL);
  CHECK_EQ_INT(x.request_len - x.head_len, 7);
  CHECK(memcmp(x.request + x.head_len, "\x00\x00\x00\x00\x02\x08\x09", 7) == 0);

  /* The end message carries an error. */
  off = three_events(body);
  envelope(body, &off, SBX_CONNECT_FLAG_END, end_err, strlen(end_err));
  memset(&x, 0, sizeof(x));
  memset(&s, 0, sizeof(s));
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "200 OK",
                             "application/connect+proto", body, off, 0);
  CHECK_EQ_INT(watch_exchange(c, &x, &s, &err), SBX_ENOENT);
  CHECK_EQ_INT(s.n, 3);
  CHECK_EQ_INT(err.code, SBX_CONNECT_NOT_FOUND);
  CHECK_EQ_STR(err.message, "no run 9");

  /* The stream breaks off: no end message. */
  off = three_events(body);
  memset(&x, 0, sizeof(x));
  memset(&s, 0, sizeof(s));
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "200 OK",
                             "application/connect+proto", body, off, 0);
  CHECK_EQ_INT(watch_exchange(c, &x, &s, &err), SBX_EPROTO);
  CHECK_EQ_INT(s.n, 3);
  CHECK(strstr(err.message, "without its end message") != NULL);

  /* ... or in the middle of an envelope. */
  off = three_events(body);
  memset(&x, 0, sizeof(x));
  memset(&s, 0, sizeof(s));
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "200 OK",
                             "application/connect+proto", body, off - 3, 0);
  CHECK_EQ_INT(watch_exchange(c, &x, &s, &err), SBX_EPROTO);
  CHECK_EQ_INT(s.n, 2);
  CHECK(strstr(err.message, "middle of a message") != NULL);

  /* A message that is not a RunEvent. */
  off = 0;
  envelope(body, &off, 0, "\x0a\xff\xff\xff\x0f", 5);
  envelope(body, &off, SBX_CONNECT_FLAG_END, end_ok, 2);
  memset(&x, 0, sizeof(x));
  memset(&s, 0, sizeof(s));
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "200 OK",
                             "application/connect+proto", body, off, 0);
  CHECK_EQ_INT(watch_exchange(c, &x, &s, &err), SBX_EPROTO);
  CHECK_EQ_INT(s.n, 0);
  CHECK(strstr(err.message, "not a valid RunEvent") != NULL);

  /* A compressed envelope (never negotiated). */
  off = 0;
  envelope(body, &off, SBX_CONNECT_FLAG_COMPRESSED, "\x08\x09", 2);
  envelope(body, &off, SBX_CONNECT_FLAG_END, end_ok, 2);
  memset(&x, 0, sizeof(x));
  memset(&s, 0, sizeof(s));
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "200 OK",
                             "application/connect+proto", body, off, 0);
  CHECK_EQ_INT(watch_exchange(c, &x, &s, &err), SBX_EPROTO);
  CHECK_EQ_INT(s.n, 0);

  /* An envelope announcing 2 GiB: refused at the header, not allocated. */
  off = 0;
  sbx_connect_envelope_header(body, 0, 0x80000000u);
  off = 5;
  memset(&x, 0, sizeof(x));
  memset(&s, 0, sizeof(s));
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "200 OK",
                             "application/connect+proto", body, off, 0);
  CHECK_EQ_INT(watch_exchange(c, &x, &s, &err), SBX_EPROTO);

  /* Something after the end. */
  off = 0;
  envelope(body, &off, SBX_CONNECT_FLAG_END, end_ok, 2);
  off += three_events(body + off);
  memset(&x, 0, sizeof(x));
  memset(&s, 0, sizeof(s));
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "200 OK",
                             "application/connect+proto", body, off, 0);
  CHECK_EQ_INT(watch_exchange(c, &x, &s, &err), SBX_EPROTO);
  CHECK_EQ_INT(s.n, 0);

  /* The end message is not JSON. */
  off = 0;
  envelope(body, &off, SBX_CONNECT_FLAG_END, "nope", 4);
  memset(&x, 0, sizeof(x));
  memset(&s, 0, sizeof(s));
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "200 OK",
                             "application/connect+proto", body, off, 0);
  CHECK_EQ_INT(watch_exchange(c, &x, &s, &err), SBX_EPROTO);

  /* The callback stops the watch: its value comes back as is. */
  off = three_events(body);
  envelope(body, &off, SBX_CONNECT_FLAG_END, end_ok, 2);
  memset(&x, 0, sizeof(x));
  memset(&s, 0, sizeof(s));
  s.stop_at = 2;
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "200 OK",
                             "application/connect+proto", body, off, 0);
  CHECK_EQ_INT(watch_exchange(c, &x, &s, &err), 42);
  CHECK_EQ_INT(s.n, 2);

  /* Refused before the stream began: a unary-style error. */
  memset(&x, 0, sizeof(x));
  memset(&s, 0, sizeof(s));
  x.answer = ans;
  x.answer_len = http_answer(ans, sizeof(ans), "401 Unauthorized",
                             "application/json", unauth, strlen(unauth), 1);
  CHECK_EQ_INT(watch_exchange(c, &x, &s, &err), SBX_EAUTH);
  CHECK_EQ_INT(err.code, SBX_CONNECT_UNAUTHENTICATED);
  CHECK_EQ_STR(err.message, "no token");

  /* A 200 that is not a Connect stream. */
  memset(&x, 0, sizeof(x));
  memset(&s, 0, sizeof(s));
  x.answer = ans;
  x.answer_len =
      http_answer(ans, sizeof(ans), "200 OK", "text/plain", "hello", 5, 1);
  CHECK(watch_exchange(c, &x, &s, &err) < 0);
  CHECK_EQ_INT(s.n, 0);
}

static void test_abort_flag(struct sbx_api_client *c) {
  /* A raised flag stops the call. Nobody serves this connection: the
   * kernel completes the handshake, the answer never comes, and only the
   * flag can end the call. Last test: the connection stays in the backlog. */
  static volatile sig_atomic_t flag = 1;
  Sbx__V1__GetRunRequest req = SBX__V1__GET_RUN_REQUEST__INIT;
  ProtobufCMessage *resp = NULL;
  struct sbx_api_error err;
  sbx_api_client_set_abort_flag(c, &flag);
  CHECK_EQ_INT(sbx_api_call(c, "GetRun", &req.base,
                            &sbx__v1__get_run_response__descriptor, &resp,
                            &err),
               SBX_ECANCELED);
  CHECK(resp == NULL);
  CHECK_EQ_INT(sbx_api_watch(c, 1, on_event, NULL, &err), SBX_ECANCELED);
  sbx_api_client_set_abort_flag(c, NULL);
}

static void test_error_codes(void) {
  CHECK_EQ_INT(sbx_api_err_from_code(SBX_CONNECT_NOT_FOUND), SBX_ENOENT);
  CHECK_EQ_INT(sbx_api_err_from_code(SBX_CONNECT_INVALID_ARGUMENT), SBX_EINVAL);
  CHECK_EQ_INT(sbx_api_err_from_code(SBX_CONNECT_ALREADY_EXISTS), SBX_EEXIST);
  CHECK_EQ_INT(sbx_api_err_from_code(SBX_CONNECT_PERMISSION_DENIED), SBX_EPERM);
  CHECK_EQ_INT(sbx_api_err_from_code(SBX_CONNECT_UNAUTHENTICATED), SBX_EAUTH);
  CHECK_EQ_INT(sbx_api_err_from_code(SBX_CONNECT_FAILED_PRECONDITION),
               SBX_ESTATE);
  CHECK_EQ_INT(sbx_api_err_from_code(SBX_CONNECT_RESOURCE_EXHAUSTED),
               SBX_EBUSY);
  CHECK_EQ_INT(sbx_api_err_from_code(SBX_CONNECT_INTERNAL), SBX_EIO);
  CHECK_EQ_INT(sbx_api_err_from_code(99), SBX_EIO);
}

int main(void) {
  struct sbx_api_client *c = NULL;
  struct sbx_api_error err;

  signal(SIGPIPE, SIG_IGN);
  test_client_new();
  test_sanitize();
  test_error_codes();
  test_unreachable();
  CHECK(server_init() == 0);
  CHECK_EQ_INT(sbx_api_client_new(url, "sbx_secret", &c, &err), 0);
  if (c != NULL) {
    test_unary_ok(c);
    test_unary_empty_request(c);
    test_unary_errors(c);
    test_watch(c);
    test_abort_flag(c);
  }
  sbx_api_client_free(c);
  close(listen_fd);
  return TEST_RESULT();
}
