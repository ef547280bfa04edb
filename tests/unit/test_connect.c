/* test_connect.c - the Connect protocol: the envelope reader and the error
 * bodies on their own, then a real server (httpd on 127.0.0.1 port 0) with
 * a small test service made of api.proto messages:
 *
 *   GetRun    (read)   GetRunRequest -> GetRunResponse; run_id picks the
 *                      behaviour: 0 invalid_argument, 404 not_found, 7 an
 *                      async reply, 8 never answered (waits for cancel),
 *                      else a sync reply echoing the id, a header and the
 *                      peer;
 *   CancelRun          a plain unary method (no GET form);
 *   WatchRun (stream)  WatchRunRequest -> RunEvent: N events from a timer
 *                      then a clean end; 999 two events then an error end;
 *                      0 an error before any event; 1000 one event then
 *                      holds; 2000 floods 1 MiB events until SBX_EBUSY,
 *                      then ends with resource_exhausted; 5000 three events
 *                      and the end, all inside the handler.
 *
 * A client thread talks to it with libcurl easy (or raw sockets to leave
 * early) and reads streams with the envelope reader. The loop must close
 * with uv_loop_close() == 0.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "connect.h"
#include "err.h"
#include "httpd.h"
#include "sbx/v1/api.pb-c.h"
#include "testlib.h"

/* ---- envelope reader ----------------------------------------------------- */

struct got {
  int n;
  uint8_t flags[16];
  size_t len[16];
  uint8_t data[16][512];
  int stop_after; /* return 7 from the callback after this many; 0: never */
};

static int on_env(uint8_t flags, const uint8_t *msg, size_t len, void *arg) {
  struct got *g = arg;
  if (g->n < 16) {
    g->flags[g->n] = flags;
    g->len[g->n] = len;
    memcpy(g->data[g->n], msg, len < 512 ? len : 512);
  }
  g->n++;
  return g->stop_after && g->n >= g->stop_after ? 7 : 0;
}

static size_t put_env(uint8_t *out, uint8_t flags, const void *msg,
                      size_t len) {
  sbx_connect_envelope_header(out, flags, (uint32_t)len);
  if (len > 0)
    memcpy(out + 5, msg, len);
  return 5 + len;
}

static void check_stream_got(const struct got *g, const uint8_t *big) {
  CHECK_EQ_INT(g->n, 4);
  CHECK_EQ_INT(g->len[0], 0);
  CHECK_EQ_INT(g->len[1], 1);
  CHECK_EQ_INT(g->data[1][0], 'x');
  CHECK_EQ_INT(g->len[2], 300);
  CHECK(memcmp(g->data[2], big, 300) == 0);
  CHECK_EQ_INT(g->flags[3], SBX_CONNECT_FLAG_END);
  CHECK_EQ_INT(g->len[3], 2);
  CHECK(memcmp(g->data[3], "{}", 2) == 0);
}

static void test_reader(void) {
  uint8_t stream[1024], big[300];
  size_t n = 0, k, i;
  struct sbx_connect_reader r;
  struct got g;
  uint8_t hdr[5];

  sbx_connect_envelope_header(hdr, 0x02, 0x01020304u);
  CHECK(hdr[0] == 2 && hdr[1] == 1 && hdr[2] == 2 && hdr[3] == 3 &&
        hdr[4] == 4);

  for (i = 0; i < sizeof(big); i++)
    big[i] = (uint8_t)(i * 7);
  n += put_env(stream + n, 0, NULL, 0);
  n += put_env(stream + n, 0, "x", 1);
  n += put_env(stream + n, 0, big, sizeof(big));
  n += put_env(stream + n, SBX_CONNECT_FLAG_END, "{}", 2);

  /* all at once, then split in two at every byte, then byte by byte */
  for (k = 0; k <= n; k++) {
    memset(&g, 0, sizeof(g));
    sbx_connect_reader_init(&r, 1024);
    CHECK_EQ_INT(sbx_connect_reader_feed(&r, stream, k, on_env, &g), 0);
    if (k < n)
      CHECK_EQ_INT(sbx_connect_reader_feed(&r, stream + k, n - k, on_env, &g),
                   0);
    CHECK_EQ_INT(sbx_connect_reader_finish(&r), 0);
    check_stream_got(&g, big);
    sbx_connect_reader_free(&r);
  }
  memset(&g, 0, sizeof(g));
  sbx_connect_reader_init(&r, 1024);
  for (k = 0; k < n; k++) {
    CHECK_EQ_INT(sbx_connect_reader_feed(&r, stream + k, 1, on_env, &g), 0);
    if (k + 1 < n)
      CHECK_EQ_INT(sbx_connect_reader_finish(&r) == 0,
                   g.n > 0 && (k + 1 == 5 || k + 1 == 11 || k + 1 == 316));
  }
  CHECK_EQ_INT(sbx_connect_reader_finish(&r), 0);
  check_stream_got(&g, big);
  sbx_connect_reader_free(&r);

  /* truncated: a partial envelope is pending at the end */
  memset(&g, 0, sizeof(g));
  sbx_connect_reader_init(&r, 1024);
  CHECK_EQ_INT(sbx_connect_reader_feed(&r, stream, n - 1, on_env, &g), 0);
  CHECK_EQ_INT(g.n, 3);
  CHECK_EQ_INT(sbx_connect_reader_finish(&r), SBX_EPROTO);
  sbx_connect_reader_free(&r);
  sbx_connect_reader_init(&r, 1024);
  CHECK_EQ_INT(sbx_connect_reader_feed(&r, stream, 3, on_env, &g), 0);
  CHECK_EQ_INT(sbx_connect_reader_finish(&r), SBX_EPROTO);
  sbx_connect_reader_free(&r);

  /* oversized: refused on the prefix alone, and the reader stays failed */
  memset(&g, 0, sizeof(g));
  sbx_connect_reader_init(&r, 100);
  sbx_connect_envelope_header(hdr, 0, 101);
  CHECK_EQ_INT(sbx_connect_reader_feed(&r, hdr, 5, on_env, &g), SBX_EPROTO);
  CHECK_EQ_INT(sbx_connect_reader_feed(&r, stream, 5, on_env, &g), SBX_EPROTO);
  CHECK_EQ_INT(sbx_connect_reader_finish(&r), SBX_EPROTO);
  CHECK_EQ_INT(g.n, 0);
  sbx_connect_reader_free(&r);
  /* the same when the prefix comes in pieces after a whole envelope */
  sbx_connect_reader_init(&r, 100);
  CHECK_EQ_INT(sbx_connect_reader_feed(&r, stream, 5, on_env, &g), 0);
  CHECK_EQ_INT(sbx_connect_reader_feed(&r, hdr, 3, on_env, &g), 0);
  CHECK_EQ_INT(sbx_connect_reader_feed(&r, hdr + 3, 2, on_env, &g), SBX_EPROTO);
  CHECK_EQ_INT(g.n, 1);
  sbx_connect_reader_free(&r);
  /* exactly max_msg is fine */
  memset(&g, 0, sizeof(g));
  sbx_connect_reader_init(&r, 300);
  CHECK_EQ_INT(sbx_connect_reader_feed(&r, stream + 11, 305, on_env, &g), 0);
  CHECK_EQ_INT(g.n, 1);
  sbx_connect_reader_free(&r);

  /* compressed flag: never negotiated, so a protocol error */
  memset(&g, 0, sizeof(g));
  sbx_connect_reader_init(&r, 1024);
  sbx_connect_envelope_header(hdr, SBX_CONNECT_FLAG_COMPRESSED, 1);
  CHECK_EQ_INT(sbx_connect_reader_feed(&r, hdr, 5, on_env, &g), SBX_EPROTO);
  CHECK_EQ_INT(g.n, 0);
  sbx_connect_reader_free(&r);

  /* a callback's non-zero return stops the feed and is returned */
  memset(&g, 0, sizeof(g));
  g.stop_after = 2;
  sbx_connect_reader_init(&r, 1024);
  CHECK_EQ_INT(sbx_connect_reader_feed(&r, stream, n, on_env, &g), 7);
  CHECK_EQ_INT(g.n, 2);
  sbx_connect_reader_free(&r);
  memset(&g, 0, sizeof(g));
  g.stop_after = 3; /* the third comes out of the reader's own buffer */
  sbx_connect_reader_init(&r, 1024);
  CHECK_EQ_INT(sbx_connect_reader_feed(&r, stream, 20, on_env, &g), 0);
  CHECK_EQ_INT(sbx_connect_reader_feed(&r, stream + 20, n - 20, on_env, &g), 7);
  CHECK_EQ_INT(g.n, 3);
  sbx_connect_reader_free(&r);
}

static void test_end_and_error_bodies(void) {
  char msg[64];
  int code = -1;
  const char *s;

  s = "{}";
  CHECK_EQ_INT(sbx_connect_parse_end((const uint8_t *)s, strlen(s), &code, msg,
                                     sizeof(msg)),
               0);
  CHECK_EQ_INT(code, 0);
  CHECK_EQ_STR(msg, "");
  s = "{\"metadata\":{\"a\":[\"b\"]},\"error\":null}";
  CHECK_EQ_INT(sbx_connect_parse_end((const uint8_t *)s, strlen(s), &code, msg,
                                     sizeof(msg)),
               0);
  CHECK_EQ_INT(code, 0);
  s = "{\"error\":{\"code\":\"not_found\",\"message\":\"no run 5\\n\"}}";
  CHECK_EQ_INT(sbx_connect_parse_end((const uint8_t *)s, strlen(s), &code, msg,
                                     sizeof(msg)),
               0);
  CHECK_EQ_INT(code, SBX_CONNECT_NOT_FOUND);
  CHECK_EQ_STR(msg, "no run 5 "); /* control characters blanked */
  s = "{\"error\":{\"code\":\"teapot\"}}";
  CHECK_EQ_INT(sbx_connect_parse_end((const uint8_t *)s, strlen(s), &code, msg,
                                     sizeof(msg)),
               0);
  CHECK_EQ_INT(code, SBX_CONNECT_UNKNOWN);
  s = "{\"error\":{\"code\":\"ok\"}}";
  CHECK_EQ_INT(sbx_connect_parse_end((const uint8_t *)s, strlen(s), &code, msg,
                                     sizeof(msg)),
               0);
  CHECK_EQ_INT(code, SBX_CONNECT_UNKNOWN);
  /* not the documented shape */
  {
    static const char *bad[] = {"",
                                "[]",
                                "{\"error\":{\"message\":\"x\"}}",
                                "{\"error\":\"x\"}",
                                "{\"error\":{\"code\":5}}",
                                "{} trailing",
                                "{\"a\":1,\"a\":2}",
                                "{\"error\":{\"code\":\"internal\",\"message\":7}}"};
    size_t i;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
      code = 0;
      CHECK_EQ_INT(sbx_connect_parse_end((const uint8_t *)bad[i],
                                         strlen(bad[i]), &code, msg,
                                         sizeof(msg)),
                   SBX_EPROTO);
      CHECK(code != 0);
    }
  }
  /* long messages are truncated, always NUL-terminated */
  {
    char small[8];
    s = "{\"error\":{\"code\":\"internal\",\"message\":\"0123456789\"}}";
    CHECK_EQ_INT(sbx_connect_parse_end((const uint8_t *)s, strlen(s), &code,
                                       small, sizeof(small)),
                 0);
    CHECK_EQ_STR(small, "0123456");
  }

  s = "{\"code\":\"permission_denied\",\"message\":\"vendors only\"}";
  sbx_connect_parse_error(403, (const uint8_t *)s, strlen(s), &code, msg,
                          sizeof(msg));
  CHECK_EQ_INT(code, SBX_CONNECT_PERMISSION_DENIED);
  CHECK_EQ_STR(msg, "vendors only");
  s = "<html>Bad Gateway</html>";
  sbx_connect_parse_error(502, (const uint8_t *)s, strlen(s), &code, msg,
                          sizeof(msg));
  CHECK_EQ_INT(code, SBX_CONNECT_UNAVAILABLE);
  CHECK_EQ_STR(msg, "<html>Bad Gateway</html>");
  sbx_connect_parse_error(404, NULL, 0, &code, msg, sizeof(msg));
  CHECK_EQ_INT(code, SBX_CONNECT_UNIMPLEMENTED);
  CHECK_EQ_STR(msg, "HTTP status 404");
  sbx_connect_parse_error(418, (const uint8_t *)"{}", 2, &code, msg,
                          sizeof(msg));
  CHECK_EQ_INT(code, SBX_CONNECT_UNKNOWN);

  CHECK_EQ_STR(sbx_connect_code_name(0), "ok");
  CHECK_EQ_STR(sbx_connect_code_name(SBX_CONNECT_INVALID_ARGUMENT),
               "invalid_argument");
  CHECK_EQ_STR(sbx_connect_code_name(99), "unknown");
  CHECK_EQ_INT(sbx_connect_code_from_name("unauthenticated"),
               SBX_CONNECT_UNAUTHENTICATED);
  CHECK_EQ_INT(sbx_connect_code_from_name("nope"), SBX_CONNECT_UNKNOWN);
  CHECK_EQ_INT(sbx_connect_code_from_name(NULL), SBX_CONNECT_UNKNOWN);
  CHECK_EQ_INT(sbx_connect_http_status(0), 200);
  CHECK_EQ_INT(sbx_connect_http_status(SBX_CONNECT_DEADLINE_EXCEEDED), 504);
  CHECK_EQ_INT(sbx_connect_http_status(SBX_CONNECT_UNAUTHENTICATED), 401);
  CHECK_EQ_INT(sbx_connect_http_status(77), 500);
  CHECK_EQ_INT(sbx_connect_code_from_err(SBX_ENOENT), SBX_CONNECT_NOT_FOUND);
  CHECK_EQ_INT(sbx_connect_code_from_err(SBX_ESPEC),
               SBX_CONNECT_INVALID_ARGUMENT);
  CHECK_EQ_INT(sbx_connect_code_from_err(SBX_EEXIST),
               SBX_CONNECT_ALREADY_EXISTS);
  CHECK_EQ_INT(sbx_connect_code_from_err(SBX_EAUTH),
               SBX_CONNECT_UNAUTHENTICATED);
  CHECK_EQ_INT(sbx_connect_code_from_err(SBX_EPERM),
               SBX_CONNECT_PERMISSION_DENIED);
  CHECK_EQ_INT(sbx_connect_code_from_err(SBX_ESTATE),
               SBX_CONNECT_FAILED_PRECONDITION);
  CHECK_EQ_INT(sbx_connect_code_from_err(SBX_EBUSY),
               SBX_CONNECT_RESOURCE_EXHAUSTED);
  CHECK_EQ_INT(sbx_connect_code_from_err(SBX_ECANCELED), SBX_CONNECT_CANCELED);
  CHECK_EQ_INT(sbx_connect_code_from_err(SBX_EIO), SBX_CONNECT_INTERNAL);
}

/* ---- the test service ---------------------------------------------------- */

struct srv;

struct job {
  uv_timer_t t;
  struct srv *s;
  struct sbx_connect_call *c;
  uint64_t run_id;
  int sent, total;
};

struct end_rec {
  char method[32];
  int code;
  unsigned status;
};

struct srv {
  uv_loop_t loop;
  struct sbx_httpd *h;
  struct sbx_connect_service svc;
  int port;
  uv_async_t async;
  atomic_int stop_asked, stopped;
  atomic_int cancels, ebusy, ends;
  pthread_mutex_t mu;
  struct end_rec last_end;
};

static void job_closed(uv_handle_t *h) {
  free(h->data);
}

static void job_free(struct job *j) {
  uv_timer_stop(&j->t);
  uv_close((uv_handle_t *)&j->t, job_closed);
}

static void on_cancel(struct sbx_connect_call *c, void *arg) {
  struct job *j = arg;
  CHECK(sbx_connect_get_data(c) == j);
  atomic_fetch_add(&j->s->cancels, 1);
  job_free(j);
}

static struct job *job_new(struct srv *s, struct sbx_connect_call *c,
                           uint64_t run_id) {
  struct job *j = calloc(1, sizeof(*j));
  if (j == NULL)
    abort();
  j->s = s;
  j->c = c;
  j->run_id = run_id;
  uv_timer_init(&s->loop, &j->t);
  j->t.data = j;
  sbx_connect_set_data(c, j);
  sbx_connect_on_cancel(c, on_cancel, j);
  return j;
}

static void reply_run(struct sbx_connect_call *c, uint64_t id) {
  Sbx__V1__GetRunResponse resp = SBX__V1__GET_RUN_RESPONSE__INIT;
  Sbx__V1__Run run = SBX__V1__RUN__INIT;
  const char *h = sbx_connect_header(c, "x-test");
  run.id = id;
  run.scenario = "demo@1";
  run.reason = (char *)(h ? h : "");
  run.product = (char *)sbx_connect_peer(c);
  run.state = SBX__V1__RUN_STATE__RUN_STATE_DONE;
  resp.run = &run;
  sbx_connect_reply(c, &resp.base);
}

static void on_async_reply(uv_timer_t *t) {
  struct job *j = t->data;
  reply_run(j->c, j->run_id);
  job_free(j);
}

static void get_run(struct sbx_connect_call *c, const ProtobufCMessage *m,
                    void *arg) {
  const Sbx__V1__GetRunRequest *req = (const Sbx__V1__GetRunRequest *)m;
  struct srv *s = arg;
  CHECK_EQ_STR(sbx_connect_method_name(c), "GetRun");
  if (req->run_id == 0) {
    sbx_connect_fail(c, SBX_CONNECT_INVALID_ARGUMENT,
                     "GetRunRequest.run_id: must be set; pass the id that "
                     "StartRun returned");
  } else if (req->run_id == 404) {
    sbx_connect_fail(c, SBX_CONNECT_NOT_FOUND, "run %llu: not found",
                     (unsigned long long)req->run_id);
  } else if (req->run_id == 7) {
    struct job *j = job_new(s, c, 7);
    uv_timer_start(&j->t, on_async_reply, 20, 0);
  } else if (req->run_id == 8) {
    job_new(s, c, 8); /* never answered */
  } else {
    reply_run(c, req->run_id);
  }
}

static void cancel_run(struct sbx_connect_call *c, const ProtobufCMessage *m,
                       void *arg) {
  const Sbx__V1__CancelRunRequest *req = (const Sbx__V1__CancelRunRequest *)m;
  Sbx__V1__CancelRunResponse resp = SBX__V1__CANCEL_RUN_RESPONSE__INIT;
  Sbx__V1__Run run = SBX__V1__RUN__INIT;
  run.id = req->run_id;
  resp.run = &run;
  sbx_connect_reply(c, &resp.base);
}

static int send_event(struct job *j, size_t pad) {
  Sbx__V1__RunEvent ev = SBX__V1__RUN_EVENT__INIT;
  Sbx__V1__SignedResult sr = SBX__V1__SIGNED_RESULT__INIT;
  static uint8_t block[1024 * 1024];
  ev.run_id = j->run_id;
  ev.at_unix_ms = j->sent;
  if (pad > 0) {
    sr.payload.data = block;
    sr.payload.len = pad;
    ev.event_case = SBX__V1__RUN_EVENT__EVENT_RESULT;
    ev.result = &sr;
  } else {
    ev.event_case = SBX__V1__RUN_EVENT__EVENT_STATE;
    ev.state = SBX__V1__RUN_STATE__RUN_STATE_MEASURING;
  }
  j->sent++;
  return sbx_connect_stream_send(j->c, &ev.base);
}

static void on_stream_tick(uv_timer_t *t) {
  struct job *j = t->data;
  int rc;
  if (j->run_id == 2000) {
    rc = send_event(j, 1024 * 1024);
    if (rc == SBX_EBUSY) {
      atomic_fetch_add(&j->s->ebusy, 1);
      sbx_connect_stream_end(j->c, SBX_CONNECT_RESOURCE_EXHAUSTED,
                             "client reads too slowly");
      job_free(j);
    } else {
      CHECK_EQ_INT(rc, 0);
    }
    return;
  }
  if (j->sent < j->total) {
    CHECK_EQ_INT(send_event(j, 0), 0);
    return;
  }
  if (j->run_id == 999)
    sbx_connect_stream_end(j->c, SBX_CONNECT_FAILED_PRECONDITION,
                           "run %llu ended badly", (unsigned long long)999);
  else
    sbx_connect_stream_end(j->c, 0, NULL);
  job_free(j);
}

static void watch_run(struct sbx_connect_call *c, const ProtobufCMessage *m,
                      void *arg) {
  const Sbx__V1__WatchRunRequest *req = (const Sbx__V1__WatchRunRequest *)m;
  struct srv *s = arg;
  struct job *j;
  if (req->run_id == 0) {
    sbx_connect_fail(c, SBX_CONNECT_INVALID_ARGUMENT,
                     "WatchRunRequest.run_id: must be set");
    return;
  }
  if (req->run_id == 5000) {
    struct job tmp = {.c = c, .run_id = 5000};
    CHECK_EQ_INT(send_event(&tmp, 0), 0);
    CHECK_EQ_INT(send_event(&tmp, 0), 0);
    CHECK_EQ_INT(send_event(&tmp, 0), 0);
    sbx_connect_stream_end(c, 0, NULL);
    return;
  }
  j = job_new(s, c, req->run_id);
  if (req->run_id == 1000) {
    CHECK_EQ_INT(send_event(j, 0), 0); /* then holds */
    return;
  }
  j->total = req->run_id == 999 ? 2 : (int)req->run_id;
  uv_timer_start(&j->t, on_stream_tick, 1, 1);
}

static const struct sbx_connect_method methods[] = {
    {.name = "GetRun",
     .input = &sbx__v1__get_run_request__descriptor,
     .output = &sbx__v1__get_run_response__descriptor,
     .flags = SBX_CONNECT_READ,
     .handler = get_run},
    {.name = "CancelRun",
     .input = &sbx__v1__cancel_run_request__descriptor,
     .output = &sbx__v1__cancel_run_response__descriptor,
     .handler = cancel_run},
    {.name = "WatchRun",
     .input = &sbx__v1__watch_run_request__descriptor,
     .output = &sbx__v1__run_event__descriptor,
     .flags = SBX_CONNECT_STREAM | SBX_CONNECT_READ,
     .handler = watch_run},
};

static void on_end(const char *method, int code, unsigned status,
                   double seconds, void *arg) {
  struct srv *s = arg;
  CHECK(seconds >= 0 && seconds < 60);
  pthread_mutex_lock(&s->mu);
  snprintf(s->last_end.method, sizeof(s->last_end.method), "%s", method);
  s->last_end.code = code;
  s->last_end.status = status;
  pthread_mutex_unlock(&s->mu);
  atomic_fetch_add(&s->ends, 1);
}

static void on_request(struct sbx_httpd_req *r, void *arg) {
  struct srv *s = arg;
  if (!sbx_connect_dispatch(&s->svc, r))
    sbx_httpd_respond(r, 404, "text/plain", "not found\n", 10);
}

static void on_stopped(void *arg) {
  struct srv *s = arg;
  atomic_store(&s->stopped, 1);
}

static void on_async(uv_async_t *a) {
  struct srv *s = a->data;
  if (atomic_load(&s->stop_asked) && s->h != NULL) {
    sbx_httpd_stop(s->h, on_stopped, s);
    s->h = NULL;
    uv_close((uv_handle_t *)&s->async, NULL);
  }
}

static void srv_stop(struct srv *s) {
  atomic_store(&s->stop_asked, 1);
  uv_async_send(&s->async);
}

static void run_with(void *(*client)(void *)) {
  struct srv *s = calloc(1, sizeof(*s));
  struct sbx_httpd_config cfg = {.host = "127.0.0.1",
                                 .max_body_bytes = 64 * 1024,
                                 .shutdown_grace_ms = 2000,
                                 .on_request = on_request};
  struct sbx_diag diag = {{0}};
  pthread_t th;
  if (s == NULL)
    abort();
  pthread_mutex_init(&s->mu, NULL);
  s->svc = (struct sbx_connect_service){.name = "sbx.v1.Sandbox",
                                        .methods = methods,
                                        .n_methods = sizeof(methods) /
                                                     sizeof(methods[0]),
                                        .arg = s,
                                        .max_request_bytes = 1024,
                                        .on_end = on_end};
  cfg.arg = s;
  CHECK_EQ_INT(uv_loop_init(&s->loop), 0);
  if (sbx_httpd_start(&s->loop, &cfg, &s->h, &diag) != 0) {
    fprintf(stderr, "start: %s\n", diag.msg);
    CHECK(0);
    uv_loop_close(&s->loop);
    free(s);
    return;
  }
  s->port = sbx_httpd_port(s->h);
  uv_async_init(&s->loop, &s->async, on_async);
  s->async.data = s;
  CHECK_EQ_INT(pthread_create(&th, NULL, client, s), 0);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  CHECK(atomic_load(&s->stopped));
  CHECK_EQ_INT(uv_loop_close(&s->loop), 0);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

/* ---- client helpers ------------------------------------------------------ */

static uint64_t now_ms(void) {
  return uv_hrtime() / 1000000u;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000,
                        .tv_nsec = (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int wait_for(atomic_int *v, int want, unsigned ms) {
  uint64_t end = now_ms() + ms;
  while (atomic_load(v) < want) {
    if (now_ms() > end)
      return 0;
    sleep_ms(5);
  }
  return 1;
}

/* The last call's end as on_end saw it, once ends reached want. */
static struct end_rec last_end(struct srv *s, int want) {
  struct end_rec e;
  CHECK(wait_for(&s->ends, want, 10000));
  pthread_mutex_lock(&s->mu);
  e = s->last_end;
  pthread_mutex_unlock(&s->mu);
  return e;
}

struct body {
  uint8_t *data;
  size_t len, cap;
  atomic_int *gate; /* the write callback waits until *gate is set */
};

static size_t on_data(char *p, size_t sz, size_t n, void *arg) {
  struct body *b = arg;
  size_t len = sz * n;
  uint8_t *d;
  if (b->gate != NULL)
    wait_for(b->gate, 1, 30000);
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + len + 1)
      cap *= 2;
    d = realloc(b->data, cap);
    if (d == NULL)
      return 0;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, len);
  b->len += len;
  b->data[b->len] = '\0';
  return len;
}

static int small_rcvbuf(void *arg, curl_socket_t fd, curlsocktype purpose) {
  int v = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
  return CURL_SOCKOPT_OK;
}

struct res {
  long status;
  char ctype[128];
  struct body body;
};

static void res_free(struct res *r) {
  free(r->body.data);
  r->body.data = NULL;
  r->body.len = r->body.cap = 0;
}

/* POSTs body (or GETs when ctype is NULL) to path; headers is a
 * NULL-terminated list of "Name: value". */
static void call(struct srv *s, const char *path, const char *ctype,
                 const void *body, size_t len, const char *const *headers,
                 struct res *out) {
  CURL *e = curl_easy_init();
  struct curl_slist *hl = NULL;
  char url[2048], ct[160];
  char *got_ct = NULL;
  size_t i;
  atomic_int *gate = out->body.gate;
  memset(out, 0, sizeof(*out));
  out->body.gate = gate;
  out->status = -1;
  snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &out->body);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
  if (gate != NULL) {
    curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, small_rcvbuf);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 1024L);
  }
  if (ctype != NULL) {
    snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
    hl = curl_slist_append(hl, ct);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)len);
  }
  hl = curl_slist_append(hl, "X-Test: hello");
  for (i = 0; headers != NULL && headers[i] != NULL; i++)
    hl = curl_slist_append(hl, headers[i]);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
  if (curl_easy_perform(e) == CURLE_OK) {
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &got_ct);
    if (got_ct != NULL)
      snprintf(out->ctype, sizeof(out->ctype), "%s", got_ct);
  }
  curl_slist_free_all(hl);
  curl_easy_cleanup(e);
}

/* Checks a unary Connect error answer. */
static void check_error(struct res *r, long status, const char *code,
                        const char *msg_part) {
  int c = 0;
  char msg[1024];
  CHECK_EQ_INT(r->status, status);
  CHECK_EQ_STR(r->ctype, "application/json");
  sbx_connect_parse_error((unsigned)r->status, r->body.data, r->body.len, &c,
                          msg, sizeof(msg));
  CHECK_EQ_STR(sbx_connect_code_name(c), code);
  if (strstr(msg, msg_part) == NULL) {
    fprintf(stderr, "message \"%s\" lacks \"%s\"\n", msg, msg_part);
    CHECK(0);
  }
}

static size_t pack_get_run(uint64_t id, uint8_t *buf) {
  Sbx__V1__GetRunRequest req = SBX__V1__GET_RUN_REQUEST__INIT;
  req.run_id = id;
  return protobuf_c_message_pack(&req.base, buf);
}

/* A stream as the client reads it. */
struct stream {
  int n; /* messages */
  uint64_t run_id[64];
  int64_t at[64];
  size_t sizes; /* bytes of all messages */
  int ended, end_code, after_end;
  char end_msg[256];
  int json;
};

static int on_stream_msg(uint8_t flags, const uint8_t *msg, size_t len,
                         void *arg) {
  struct stream *st = arg;
  if (st->ended) {
    st->after_end = 1;
    return 1;
  }
  if (flags & SBX_CONNECT_FLAG_END) {
    st->ended = 1;
    CHECK_EQ_INT(sbx_connect_parse_end(msg, len, &st->end_code, st->end_msg,
                                       sizeof(st->end_msg)),
                 0);
    return 0;
  }
  if (st->json) {
    json_t *j = json_loadb((const char *)msg, len, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "runId"));
    CHECK(j != NULL && id != NULL);
    if (st->n < 64 && id != NULL) {
      st->run_id[st->n] = strtoull(id, NULL, 10);
      st->at[st->n] =
          json_is_string(json_object_get(j, "atUnixMs"))
              ? strtoll(json_string_value(json_object_get(j, "atUnixMs")), NULL,
                        10)
              : 0;
    }
    json_decref(j);
  } else {
    Sbx__V1__RunEvent *ev = sbx__v1__run_event__unpack(NULL, len, msg);
    CHECK(ev != NULL);
    if (ev != NULL && st->n < 64) {
      st->run_id[st->n] = ev->run_id;
      st->at[st->n] = ev->at_unix_ms;
    }
    if (ev != NULL)
      sbx__v1__run_event__free_unpacked(ev, NULL);
  }
  st->sizes += len;
  st->n++;
  return 0;
}

static void read_stream(struct res *r, struct stream *st) {
  struct sbx_connect_reader rd;
  sbx_connect_reader_init(&rd, 16u * 1024 * 1024);
  CHECK_EQ_INT(sbx_connect_reader_feed(&rd, r->body.data, r->body.len,
                                       on_stream_msg, st),
               0);
  CHECK_EQ_INT(sbx_connect_reader_finish(&rd), 0);
  CHECK(st->ended);
  CHECK(!st->after_end);
  sbx_connect_reader_free(&rd);
}

static void watch(struct srv *s, uint64_t id, int json, struct res *r,
                  struct stream *st) {
  Sbx__V1__WatchRunRequest req = SBX__V1__WATCH_RUN_REQUEST__INIT;
  uint8_t env[64];
  char text[64];
  size_t n;
  req.run_id = id;
  if (json) {
    n = (size_t)snprintf(text, sizeof(text), "{\"runId\":\"%llu\"}",
                         (unsigned long long)id);
    n = put_env(env, 0, text, n);
  } else {
    uint8_t m[32];
    n = put_env(env, 0, m, protobuf_c_message_pack(&req.base, m));
  }
  call(s, "/sbx.v1.Sandbox/WatchRun",
       json ? "application/connect+json" : "application/connect+proto", env, n,
       NULL, r);
  CHECK_EQ_INT(r->status, 200);
  CHECK_EQ_STR(r->ctype,
               json ? "application/connect+json" : "application/connect+proto");
  memset(st, 0, sizeof(*st));
  st->json = json;
  read_stream(r, st);
}

static int tcp_connect(int port) {
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct timeval tv = {.tv_sec = 10};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Sends a raw POST of body; returns the socket. */
static int raw_post(struct srv *s, const char *path, const char *ctype,
                    const uint8_t *body, size_t len) {
  char head[512];
  int fd = tcp_connect(s->port);
  int n = snprintf(head, sizeof(head),
                   "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
                   "Content-Length: %zu\r\n\r\n",
                   path, ctype, len);
  CHECK(send(fd, head, (size_t)n, MSG_NOSIGNAL) == n);
  CHECK(send(fd, body, len, MSG_NOSIGNAL) == (ssize_t)len);
  return fd;
}

/* ---- tests against the server -------------------------------------------- */

static void *client_unary(void *arg) {
  struct srv *s = arg;
  struct res r = {0};
  struct end_rec e;
  uint8_t buf[64];
  size_t n;
  Sbx__V1__GetRunResponse *resp;
  json_t *j;
  int ends = 0;

  /* proto */
  n = pack_get_run(42, buf);
  call(s, "/sbx.v1.Sandbox/GetRun", "application/proto", buf, n, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.ctype, "application/proto");
  resp = sbx__v1__get_run_response__unpack(NULL, r.body.len, r.body.data);
  CHECK(resp != NULL && resp->run != NULL);
  if (resp != NULL && resp->run != NULL) {
    CHECK_EQ_INT(resp->run->id, 42);
    CHECK_EQ_STR(resp->run->reason, "hello");
    CHECK_EQ_STR(resp->run->product, "127.0.0.1");
  }
  sbx__v1__get_run_response__free_unpacked(resp, NULL);
  res_free(&r);
  e = last_end(s, ++ends);
  CHECK_EQ_STR(e.method, "GetRun");
  CHECK_EQ_INT(e.code, 0);
  CHECK_EQ_INT(e.status, 200);

  /* JSON, with a charset parameter and the protocol header */
  {
    const char *hv[] = {"Connect-Protocol-Version: 1", NULL};
    const char *body = "{\"runId\":\"42\"}";
    call(s, "/sbx.v1.Sandbox/GetRun", "Application/JSON; charset=utf-8", body,
         strlen(body), hv, &r);
  }
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.ctype, "application/json");
  j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
  CHECK_EQ_STR(
      json_string_value(json_object_get(json_object_get(j, "run"), "id")),
      "42");
  CHECK_EQ_STR(
      json_string_value(json_object_get(json_object_get(j, "run"), "state")),
      "RUN_STATE_DONE");
  json_decref(j);
  res_free(&r);
  ends++;

  /* an empty JSON body is the empty message: run_id 0 -> the handler's
   * invalid_argument, which names the field */
  call(s, "/sbx.v1.Sandbox/GetRun", "application/json", "", 0, NULL, &r);
  check_error(&r, 400, "invalid_argument", "GetRunRequest.run_id: must be set");
  res_free(&r);
  e = last_end(s, ++ends);
  CHECK_EQ_INT(e.code, SBX_CONNECT_INVALID_ARGUMENT);
  CHECK_EQ_INT(e.status, 400);

  n = pack_get_run(404, buf);
  call(s, "/sbx.v1.Sandbox/GetRun", "application/proto", buf, n, NULL, &r);
  check_error(&r, 404, "not_found", "run 404: not found");
  res_free(&r);
  ends++;

  /* async reply */
  n = pack_get_run(7, buf);
  call(s, "/sbx.v1.Sandbox/GetRun", "application/proto", buf, n, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  resp = sbx__v1__get_run_response__unpack(NULL, r.body.len, r.body.data);
  CHECK(resp != NULL && resp->run != NULL && resp->run->id == 7);
  sbx__v1__get_run_response__free_unpacked(resp, NULL);
  res_free(&r);
  ends++;

  /* a plain unary method */
  {
    Sbx__V1__CancelRunRequest cr = SBX__V1__CANCEL_RUN_REQUEST__INIT;
    Sbx__V1__CancelRunResponse *crr;
    cr.run_id = 9;
    n = protobuf_c_message_pack(&cr.base, buf);
    call(s, "/sbx.v1.Sandbox/CancelRun", "application/proto", buf, n, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    crr = sbx__v1__cancel_run_response__unpack(NULL, r.body.len, r.body.data);
    CHECK(crr != NULL && crr->run != NULL && crr->run->id == 9);
    sbx__v1__cancel_run_response__free_unpacked(crr, NULL);
    res_free(&r);
    ends++;
  }

  /* unknown method */
  call(s, "/sbx.v1.Sandbox/Nope", "application/proto", "", 0, NULL, &r);
  check_error(&r, 501, "unimplemented",
              "sbx.v1.Sandbox has no method \"Nope\"");
  res_free(&r);
  e = last_end(s, ++ends);
  CHECK_EQ_STR(e.method, "unknown");
  CHECK_EQ_INT(e.code, SBX_CONNECT_UNIMPLEMENTED);
  /* outside the service: not taken */
  call(s, "/sbx.v1.Sandboxx/GetRun", "application/proto", "", 0, NULL, &r);
  CHECK_EQ_INT(r.status, 404);
  CHECK_EQ_STR(r.ctype, "text/plain");
  res_free(&r);

  /* bad content type, and none */
  call(s, "/sbx.v1.Sandbox/GetRun", "text/plain", "x", 1, NULL, &r);
  check_error(&r, 415, "unimplemented",
              "content type \"text/plain\" is not supported; use "
              "application/json or application/proto");
  res_free(&r);
  ends++;
  call(s, "/sbx.v1.Sandbox/GetRun", "application/connect+proto", "x", 1, NULL,
       &r);
  check_error(&r, 415, "unimplemented", "not supported");
  res_free(&r);
  ends++;

  /* bad bodies */
  call(s, "/sbx.v1.Sandbox/GetRun", "application/proto", "\xff\xff\xff", 3,
       NULL, &r);
  check_error(&r, 400, "invalid_argument",
              "request body is not a valid GetRunRequest message");
  res_free(&r);
  ends++;
  call(s, "/sbx.v1.Sandbox/GetRun", "application/json", "{\"runid\":1}", 11,
       NULL, &r);
  check_error(&r, 400, "invalid_argument", "runid");
  res_free(&r);
  ends++;
  call(s, "/sbx.v1.Sandbox/GetRun", "application/json", "{\"runId\":\"x\"}", 13,
       NULL, &r);
  check_error(&r, 400, "invalid_argument", "runId");
  res_free(&r);
  ends++;
  call(s, "/sbx.v1.Sandbox/GetRun", "application/json", "[", 1, NULL, &r);
  check_error(&r, 400, "invalid_argument", "");
  res_free(&r);
  ends++;

  /* protocol version and compression we do not speak */
  {
    const char *hv[] = {"Connect-Protocol-Version: 2", NULL};
    n = pack_get_run(42, buf);
    call(s, "/sbx.v1.Sandbox/GetRun", "application/proto", buf, n, hv, &r);
    check_error(&r, 400, "invalid_argument", "Connect-Protocol-Version 2");
    res_free(&r);
    ends++;
  }
  {
    const char *hv[] = {"Content-Encoding: gzip", NULL};
    call(s, "/sbx.v1.Sandbox/GetRun", "application/proto", buf, n, hv, &r);
    check_error(&r, 501, "unimplemented", "content encoding \"gzip\"");
    res_free(&r);
    ends++;
  }

  /* over the service's request limit (1024), under httpd's (64 KiB) */
  {
    char *big = malloc(3000);
    memset(big, ' ', 3000);
    big[0] = '{';
    big[2999] = '}';
    call(s, "/sbx.v1.Sandbox/GetRun", "application/json", big, 3000, NULL, &r);
    check_error(&r, 429, "resource_exhausted",
                "request of 3000 bytes is over the limit of 1024 bytes");
    res_free(&r);
    ends++;
    free(big);
  }
  /* over httpd's: 413 before any byte of the body is read */
  {
    char *big = malloc(70000);
    memset(big, 'a', 70000);
    call(s, "/sbx.v1.Sandbox/GetRun", "application/proto", big, 70000, NULL,
         &r);
    CHECK_EQ_INT(r.status, 413);
    res_free(&r);
    free(big);
  }
  CHECK_EQ_INT(atomic_load(&s->ends), ends);

  srv_stop(s);
  return NULL;
}

static void test_unary(void) {
  run_with(client_unary);
}

static void *client_get(void *arg) {
  struct srv *s = arg;
  struct res r = {0};
  uint8_t buf[64];
  char b64[128], path[512];
  size_t n;
  uint64_t id;
  Sbx__V1__GetRunResponse *resp;

  call(s,
       "/sbx.v1.Sandbox/GetRun?encoding=json&message=%7B%22runId%22%3A%2242%"
       "22%7D&connect=v1",
       NULL, NULL, 0, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.ctype, "application/json");
  CHECK(r.body.data != NULL &&
        strstr((char *)r.body.data, "\"id\":\"42\"") != NULL);
  res_free(&r);
  /* a form-encoded space ('+') inside the JSON */
  call(s, "/sbx.v1.Sandbox/GetRun?encoding=json&message={+\"runId\":+43}", NULL,
       NULL, 0, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(r.body.data != NULL &&
        strstr((char *)r.body.data, "\"id\":\"43\"") != NULL);
  res_free(&r);

  /* proto, URL-safe base64 without padding */
  n = pack_get_run(4242, buf);
  sodium_bin2base64(b64, sizeof(b64), buf, n,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  snprintf(path, sizeof(path),
           "/sbx.v1.Sandbox/GetRun?encoding=proto&base64=1&message=%s", b64);
  call(s, path, NULL, NULL, 0, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.ctype, "application/proto");
  resp = sbx__v1__get_run_response__unpack(NULL, r.body.len, r.body.data);
  CHECK(resp != NULL && resp->run != NULL && resp->run->id == 4242);
  sbx__v1__get_run_response__free_unpacked(resp, NULL);
  res_free(&r);

  /* standard base64 with padding and a raw '+' (which form decoding turns
   * into a space) */
  for (id = 1; id < 100000; id++) {
    n = pack_get_run(id, buf);
    sodium_bin2base64(b64, sizeof(b64), buf, n, sodium_base64_VARIANT_ORIGINAL);
    if (strchr(b64, '+') != NULL && strchr(b64, '=') != NULL && id != 7 &&
        id != 8 && id != 404)
      break;
  }
  CHECK(strchr(b64, '+') != NULL);
  snprintf(path, sizeof(path),
           "/sbx.v1.Sandbox/GetRun?encoding=proto&base64=1&message=%s", b64);
  call(s, path, NULL, NULL, 0, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  resp = sbx__v1__get_run_response__unpack(NULL, r.body.len, r.body.data);
  CHECK(resp != NULL && resp->run != NULL && resp->run->id == id);
  sbx__v1__get_run_response__free_unpacked(resp, NULL);
  res_free(&r);

  /* proto without base64: percent-encoded bytes, NULs included */
  {
    /* run_id 0, then run_id 42 (the last one wins): a NUL in the middle */
    static const uint8_t raw[] = {0x08, 0x00, 0x08, 0x2a};
    size_t i, o;
    o = (size_t)snprintf(path, sizeof(path),
                         "/sbx.v1.Sandbox/GetRun?encoding=proto&message=");
    for (i = 0; i < sizeof(raw); i++)
      o += (size_t)snprintf(path + o, sizeof(path) - o, "%%%02X", raw[i]);
    call(s, path, NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    resp = sbx__v1__get_run_response__unpack(NULL, r.body.len, r.body.data);
    CHECK(resp != NULL && resp->run != NULL && resp->run->id == 42);
    sbx__v1__get_run_response__free_unpacked(resp, NULL);
    res_free(&r);
  }

  /* errors of the GET form */
  call(s, "/sbx.v1.Sandbox/CancelRun?encoding=json&message={}", NULL, NULL, 0,
       NULL, &r);
  check_error(&r, 405, "unimplemented", "CancelRun changes state");
  res_free(&r);
  {
    char got[2048];
    ssize_t k;
    int fd = tcp_connect(s->port);
    const char *req = "PUT /sbx.v1.Sandbox/GetRun HTTP/1.1\r\nHost: x\r\n"
                      "Content-Length: 0\r\n\r\n";
    CHECK(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
    k = recv(fd, got, sizeof(got) - 1, 0);
    got[k > 0 ? k : 0] = '\0';
    CHECK(strncmp(got, "HTTP/1.1 405", 12) == 0);
    CHECK(strcasestr(got, "\r\nAllow: GET, POST\r\n") != NULL);
    CHECK(strstr(got, "GetRun takes GET or POST, not PUT") != NULL);
    close(fd);
  }
  call(s, "/sbx.v1.Sandbox/WatchRun?encoding=json&message={}", NULL, NULL, 0,
       NULL, &r);
  check_error(&r, 405, "unimplemented", "WatchRun is a streaming method");
  res_free(&r);
  call(s, "/sbx.v1.Sandbox/GetRun?encoding=xml&message=x", NULL, NULL, 0, NULL,
       &r);
  check_error(&r, 415, "unimplemented", "encoding=xml is not supported");
  res_free(&r);
  call(s, "/sbx.v1.Sandbox/GetRun?message=x", NULL, NULL, 0, NULL, &r);
  check_error(&r, 415, "unimplemented", "encoding=(missing)");
  res_free(&r);
  call(s, "/sbx.v1.Sandbox/GetRun?encoding=json&message={}&connect=v2", NULL,
       NULL, 0, NULL, &r);
  check_error(&r, 400, "invalid_argument", "connect=v2");
  res_free(&r);
  call(s, "/sbx.v1.Sandbox/GetRun?encoding=proto&base64=1&message=%21%21", NULL,
       NULL, 0, NULL, &r);
  check_error(&r, 400, "invalid_argument", "not valid base64");
  res_free(&r);
  call(s, "/sbx.v1.Sandbox/GetRun?encoding=json&message=%7Bx", NULL, NULL, 0,
       NULL, &r);
  check_error(&r, 400, "invalid_argument", "");
  res_free(&r);

  srv_stop(s);
  return NULL;
}

static void test_get_form(void) {
  run_with(client_get);
}

static void *client_streams(void *arg) {
  struct srv *s = arg;
  struct res r = {0};
  struct stream st;
  struct end_rec e;
  int i, ok = 1;

  /* N events then a clean end, in both codecs */
  watch(s, 50, 0, &r, &st);
  CHECK_EQ_INT(st.n, 50);
  for (i = 0; i < 50 && i < st.n; i++)
    ok &= st.run_id[i] == 50 && st.at[i] == i;
  CHECK(ok);
  CHECK_EQ_INT(st.end_code, 0);
  res_free(&r);
  e = last_end(s, 1);
  CHECK_EQ_STR(e.method, "WatchRun");
  CHECK_EQ_INT(e.code, 0);
  CHECK_EQ_INT(e.status, 200);

  watch(s, 20, 1, &r, &st);
  CHECK_EQ_INT(st.n, 20);
  CHECK_EQ_INT(st.run_id[19], 20);
  CHECK_EQ_INT(st.at[19], 19);
  CHECK_EQ_INT(st.end_code, 0);
  res_free(&r);

  /* all inside the handler */
  watch(s, 5000, 0, &r, &st);
  CHECK_EQ_INT(st.n, 3);
  CHECK_EQ_INT(st.end_code, 0);
  res_free(&r);

  /* an error end after two events */
  watch(s, 999, 0, &r, &st);
  CHECK_EQ_INT(st.n, 2);
  CHECK_EQ_INT(st.end_code, SBX_CONNECT_FAILED_PRECONDITION);
  CHECK_EQ_STR(st.end_msg, "run 999 ended badly");
  res_free(&r);
  e = last_end(s, 4);
  CHECK_EQ_INT(e.code, SBX_CONNECT_FAILED_PRECONDITION);
  CHECK_EQ_INT(e.status, 200);

  /* an error before any event: still 200 and an end message */
  watch(s, 0, 1, &r, &st);
  CHECK_EQ_INT(st.n, 0);
  CHECK_EQ_INT(st.end_code, SBX_CONNECT_INVALID_ARGUMENT);
  CHECK_EQ_STR(st.end_msg, "WatchRunRequest.run_id: must be set");
  res_free(&r);

  /* a body that is not one envelope */
  call(s, "/sbx.v1.Sandbox/WatchRun", "application/connect+proto",
       "\x00\x00\x00\x00\x09xx", 7, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  memset(&st, 0, sizeof(st));
  read_stream(&r, &st);
  CHECK_EQ_INT(st.end_code, SBX_CONNECT_INVALID_ARGUMENT);
  CHECK(strstr(st.end_msg, "exactly one uncompressed Connect envelope") !=
        NULL);
  res_free(&r);
  /* a bad message inside a good envelope */
  call(s, "/sbx.v1.Sandbox/WatchRun", "application/connect+json",
       "\x00\x00\x00\x00\x0a{\"nope\":1}", 15, NULL, &r);
  memset(&st, 0, sizeof(st));
  read_stream(&r, &st);
  CHECK_EQ_INT(st.end_code, SBX_CONNECT_INVALID_ARGUMENT);
  CHECK(strstr(st.end_msg, "nope") != NULL);
  res_free(&r);
  /* a unary codec on a streaming method */
  call(s, "/sbx.v1.Sandbox/WatchRun", "application/proto", "", 0, NULL, &r);
  check_error(&r, 415, "unimplemented", "application/connect+json");
  res_free(&r);

  /* a client that does not read (its write callback waits until the
   * server met SBX_EBUSY): the handler ends the stream with
   * resource_exhausted, and the end message still goes out after the
   * queued events although the queue is full */
  {
    Sbx__V1__WatchRunRequest req = SBX__V1__WATCH_RUN_REQUEST__INIT;
    uint8_t env[32], m[16];
    size_t n;
    req.run_id = 2000;
    n = put_env(env, 0, m, protobuf_c_message_pack(&req.base, m));
    r.body.gate = &s->ebusy;
    call(s, "/sbx.v1.Sandbox/WatchRun", "application/connect+proto", env, n,
         NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(atomic_load(&s->ebusy), 1);
    memset(&st, 0, sizeof(st));
    read_stream(&r, &st);
    CHECK(st.n >= 8); /* at least the 8 MiB queue */
    CHECK_EQ_INT(st.end_code, SBX_CONNECT_RESOURCE_EXHAUSTED);
    CHECK_EQ_STR(st.end_msg, "client reads too slowly");
    res_free(&r);
    r.body.gate = NULL;
  }

  srv_stop(s);
  return NULL;
}

static void test_streams(void) {
  run_with(client_streams);
}

static void *client_cancel(void *arg) {
  struct srv *s = arg;
  Sbx__V1__WatchRunRequest wr = SBX__V1__WATCH_RUN_REQUEST__INIT;
  uint8_t env[32], m[16], buf[64], tmp[512];
  struct end_rec e;
  size_t n;
  int fd;

  /* a client leaving a stream in the middle: the cancel callback runs */
  wr.run_id = 1000;
  n = put_env(env, 0, m, protobuf_c_message_pack(&wr.base, m));
  fd = raw_post(s, "/sbx.v1.Sandbox/WatchRun", "application/connect+proto", env,
                n);
  CHECK(recv(fd, tmp, sizeof(tmp), 0) > 0); /* head and the first event */
  close(fd);
  CHECK(wait_for(&s->cancels, 1, 10000));
  e = last_end(s, 1);
  CHECK_EQ_STR(e.method, "WatchRun");
  CHECK_EQ_INT(e.code, SBX_CONNECT_CANCELED);

  /* a client leaving before an async unary reply */
  n = pack_get_run(8, buf);
  fd = raw_post(s, "/sbx.v1.Sandbox/GetRun", "application/proto", buf, n);
  sleep_ms(50);
  close(fd);
  CHECK(wait_for(&s->cancels, 2, 10000));
  e = last_end(s, 2);
  CHECK_EQ_STR(e.method, "GetRun");
  CHECK_EQ_INT(e.code, SBX_CONNECT_CANCELED);
  CHECK_EQ_INT(e.status, 499);

  /* a stream open when the server stops: cancel callback, then an end
   * message saying why */
  fd = raw_post(s, "/sbx.v1.Sandbox/WatchRun", "application/connect+json",
                (const uint8_t *)"\x00\x00\x00\x00\x0e{\"runId\":1000}", 19);
  {
    char all[4096];
    size_t have = 0;
    ssize_t k;
    CHECK((k = recv(fd, all, sizeof(all) - 1, 0)) > 0);
    have = k > 0 ? (size_t)k : 0;
    srv_stop(s);
    while (have < sizeof(all) - 1 &&
           (k = recv(fd, all + have, sizeof(all) - 1 - have, 0)) > 0)
      have += (size_t)k;
    all[have] = '\0';
    {
      static const char want[] =
          "{\"error\":{\"code\":\"unavailable\",\"message\":"
          "\"the server is shutting down\"}}";
      CHECK(memmem(all, have, want, sizeof(want) - 1) != NULL);
    }
  }
  close(fd);
  CHECK(wait_for(&s->cancels, 3, 10000));
  e = last_end(s, 3);
  CHECK_EQ_INT(e.code, SBX_CONNECT_UNAVAILABLE);
  CHECK_EQ_INT(e.status, 200);
  return NULL;
}

static void test_cancel(void) {
  run_with(client_cancel);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  test_reader();
  test_end_and_error_bodies();
  test_unary();
  test_get_form();
  test_streams();
  test_cancel();
  curl_global_cleanup();
  return TEST_RESULT();
}
