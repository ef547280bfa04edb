/* test_curl_uv.c - the libcurl-on-libuv driver (curl_uv.h) on a real loop.
 *
 * A tiny keep-alive HTTP/1.1 responder runs on 127.0.0.1 in the same loop:
 * "GET /status/NNN" answers NNN with the request line as its body, and
 * "GET /hang" is never answered. Transfers must come back through on_done
 * with libcurl's result and the right status and body; one to a port with
 * no listener fails to connect; closing with a transfer just removed still
 * runs the close callback, closes every connection (the responder sees
 * EOF on each) and leaves nothing on the loop. Plus the URL check. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testlib.h"

#include "curl_uv.h"

/* ---- the responder ------------------------------------------------------ */

struct server {
  uv_tcp_t listener;
  int conns_open; /* accepted and not yet closed */
  int conns_seen;
  int hangs; /* /hang requests received */
};

struct conn {
  uv_tcp_t tcp;
  struct server *srv;
  char buf[4096];
  size_t len;
};

struct wreq {
  uv_write_t req;
  char data[512];
};

static void on_conn_closed(uv_handle_t *h) {
  struct conn *c = h->data;
  c->srv->conns_open--;
  free(c);
}

static void on_written(uv_write_t *req, int status) {
  (void)status;
  free(req->data);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  struct conn *c = h->data;
  (void)hint;
  buf->base = c->buf + c->len;
  buf->len = sizeof(c->buf) - c->len;
}

/* Answers one request head (NUL-terminated, without the blank line). */
static void respond(struct conn *c, const char *head) {
  const char *eol = strstr(head, "\r\n");
  size_t rl = eol != NULL ? (size_t)(eol - head) : strlen(head);
  struct wreq *w;
  char body[256];
  uv_buf_t b;
  int status = 0, n;

  if (strncmp(head, "GET /hang ", 10) == 0) {
    c->srv->hangs++;
    return;
  }
  if (sscanf(head, "GET /status/%3d ", &status) != 1)
    status = 400;
  snprintf(body, sizeof(body), "%.*s", (int)rl, head);
  w = malloc(sizeof(*w));
  if (w == NULL)
    return;
  n = snprintf(w->data, sizeof(w->data),
               "HTTP/1.1 %d T\r\nContent-Length: %zu\r\n\r\n%s", status,
               strlen(body), body);
  w->req.data = w;
  b = uv_buf_init(w->data, (unsigned)n);
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
    free(w);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct conn *c = s->data;
  char *end;
  (void)buf;
  if (nread < 0) {
    uv_close((uv_handle_t *)s, on_conn_closed);
    return;
  }
  c->len += (size_t)nread;
  for (;;) {
    size_t used;
    if (c->len == sizeof(c->buf)) { /* no head this long is sent here */
      uv_close((uv_handle_t *)s, on_conn_closed);
      return;
    }
    c->buf[c->len] = '\0';
    end = strstr(c->buf, "\r\n\r\n");
    if (end == NULL)
      return;
    *end = '\0';
    respond(c, c->buf);
    used = (size_t)(end + 4 - c->buf);
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
  }
}

static void on_connection(uv_stream_t *l, int status) {
  struct server *srv = l->data;
  struct conn *c;
  if (status != 0)
    return;
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    return;
  c->srv = srv;
  uv_tcp_init(l->loop, &c->tcp);
  c->tcp.data = c;
  srv->conns_open++;
  srv->conns_seen++;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 ||
      uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* Returns the port, or -1. */
static int server_start(uv_loop_t *loop, struct server *srv) {
  struct sockaddr_in sa;
  struct sockaddr_storage got;
  int len = sizeof(got);
  memset(srv, 0, sizeof(*srv));
  uv_tcp_init(loop, &srv->listener);
  srv->listener.data = srv;
  uv_ip4_addr("127.0.0.1", 0, &sa);
  if (uv_tcp_bind(&srv->listener, (const struct sockaddr *)&sa, 0) != 0 ||
      uv_listen((uv_stream_t *)&srv->listener, 16, on_connection) != 0 ||
      uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&got, &len) != 0)
    return -1;
  return ntohs(((struct sockaddr_in *)&got)->sin_port);
}

/* A loopback port that refuses connections for as long as fd stays open:
 * bound, never listening. Returns the port, or -1. */
static int refusing_port(int *fd) {
  struct sockaddr_in sa = {.sin_family = AF_INET};
  socklen_t len = sizeof(sa);
  *fd = socket(AF_INET, SOCK_STREAM, 0);
  if (*fd < 0)
    return -1;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(*fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
      getsockname(*fd, (struct sockaddr *)&sa, &len) != 0)
    return -1;
  return ntohs(sa.sin_port);
}

/* ---- the client side ---------------------------------------------------- */

struct xfer {
  CURL *easy;
  char errbuf[CURL_ERROR_SIZE];
  char body[512];
  size_t len;
  int done; /* on_done calls */
  CURLcode rc;
  long code;
  char again[128]; /* if set, on_done re-adds the handle with this URL */
};

struct state {
  struct sbx_curl_uv cu;
  int dones;
  int closed; /* close callback runs */
  void *close_arg;
  int add_again_rc;
};

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud) {
  struct xfer *x = ud;
  size_t n = size * nmemb;
  if (n > sizeof(x->body) - 1 - x->len)
    return 0;
  memcpy(x->body + x->len, p, n);
  x->len += n;
  x->body[x->len] = '\0';
  return n;
}

static void on_done(CURL *easy, CURLcode rc, void *arg) {
  struct state *st = arg;
  struct xfer *x = NULL;
  CHECK_EQ_INT(curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x),
               CURLE_OK);
  CHECK(x != NULL && x->easy == easy);
  if (x == NULL)
    return;
  st->dones++;
  x->done++;
  x->rc = rc;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &x->code);
  if (x->again[0] != '\0') {
    /* allowed from inside the callback: the handle is ours again */
    x->len = 0;
    curl_easy_setopt(easy, CURLOPT_URL, x->again);
    x->again[0] = '\0';
    st->add_again_rc = sbx_curl_uv_add(&st->cu, easy);
  }
}

static void on_closed(void *arg) {
  struct state *st = arg;
  st->closed++;
  st->close_arg = arg;
}

static int xfer_setup(struct state *st, struct xfer *x, const char *url) {
  const struct sbx_curl_uv_easy o = {.priv = x,
                                     .errbuf = x->errbuf,
                                     .timeout_ms = 60000,
                                     .on_write = on_write,
                                     .write_data = x};
  x->easy = curl_easy_init();
  if (x->easy == NULL)
    return -1;
  if (sbx_curl_uv_prepare(&st->cu, x->easy, &o) != 0)
    return -1;
  return curl_easy_setopt(x->easy, CURLOPT_URL, url) == CURLE_OK ? 0 : -1;
}

/* A guard so that a broken driver fails the test instead of hanging it. */
static int guard_fired;

static void on_guard(uv_timer_t *t) {
  (void)t;
  guard_fired = 1;
}

#define RUN_UNTIL(loop, cond)                                                  \
  do {                                                                         \
    while (!(cond) && !guard_fired)                                            \
      uv_run((loop), UV_RUN_ONCE);                                             \
    CHECK(cond);                                                               \
  } while (0)

static void test_transfers(void) {
  uv_loop_t loop;
  uv_timer_t guard;
  struct server srv;
  struct state st = {.dones = 0};
  struct xfer x[4];
  char url[128];
  int port, refused_fd = -1, refused_port, i, rc;

  memset(x, 0, sizeof(x));
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  uv_timer_init(&loop, &guard);
  uv_timer_start(&guard, on_guard, 60000, 0);
  uv_unref((uv_handle_t *)&guard);
  port = server_start(&loop, &srv);
  CHECK(port > 0);
  refused_port = refusing_port(&refused_fd);
  CHECK(refused_port > 0);

  CHECK_EQ_INT(sbx_curl_uv_init(&loop, &st.cu, NULL, on_done, &st), 0);
  CHECK(st.cu.multi != NULL);
  CHECK_EQ_INT(st.cu.sockets_opened, 0);

  snprintf(url, sizeof(url), "http://127.0.0.1:%d/status/200", port);
  CHECK_EQ_INT(xfer_setup(&st, &x[0], url), 0);
  snprintf(x[0].again, sizeof(x[0].again), "http://127.0.0.1:%d/status/202",
           port);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/status/404", port);
  CHECK_EQ_INT(xfer_setup(&st, &x[1], url), 0);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/status/200", refused_port);
  CHECK_EQ_INT(xfer_setup(&st, &x[2], url), 0);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/hang", port);
  CHECK_EQ_INT(xfer_setup(&st, &x[3], url), 0);

  for (i = 0; i < 3; i++)
    CHECK_EQ_INT(sbx_curl_uv_add(&st.cu, x[i].easy), 0);
  /* a handle already added is refused, and stays added */
  CHECK_EQ_INT(sbx_curl_uv_add(&st.cu, x[1].easy), SBX_EINVAL);

  /* x[0] finishes twice: once as added, once as re-added from on_done */
  RUN_UNTIL(&loop, st.dones == 4);
  CHECK_EQ_INT(st.add_again_rc, 0);
  CHECK_EQ_INT(x[0].done, 2);
  CHECK_EQ_INT(x[0].rc, CURLE_OK);
  CHECK_EQ_INT(x[0].code, 202);
  CHECK_EQ_STR(x[0].body, "GET /status/202 HTTP/1.1");
  CHECK_EQ_INT(x[1].done, 1);
  CHECK_EQ_INT(x[1].rc, CURLE_OK);
  CHECK_EQ_INT(x[1].code, 404);
  CHECK_EQ_STR(x[1].body, "GET /status/404 HTTP/1.1");
  CHECK_EQ_INT(x[2].done, 1);
  CHECK_EQ_INT(x[2].rc, CURLE_COULDNT_CONNECT);
  CHECK_EQ_INT(x[2].code, 0);
  CHECK(x[2].errbuf[0] != '\0');
  CHECK_EQ_INT(x[2].len, 0);
  CHECK(st.cu.sockets_opened >= 3);
  CHECK(srv.conns_seen >= 2);

  /* A transfer the responder never answers, then close while it is in
   * flight: removed first (as the contract asks), so no on_done for it. */
  CHECK_EQ_INT(sbx_curl_uv_add(&st.cu, x[3].easy), 0);
  RUN_UNTIL(&loop, srv.hangs == 1);
  CHECK_EQ_INT(x[3].done, 0);
  sbx_curl_uv_remove(&st.cu, x[3].easy);
  sbx_curl_uv_close(&st.cu, on_closed);
  CHECK(st.cu.multi == NULL);
  /* closing again does nothing; adding fails */
  sbx_curl_uv_close(&st.cu, NULL);
  CHECK_EQ_INT(sbx_curl_uv_add(&st.cu, x[1].easy), SBX_ESTATE);
  sbx_curl_uv_remove(&st.cu, x[1].easy); /* nothing to do */
  CHECK_EQ_INT(st.closed, 0);            /* the callback runs from the loop */
  RUN_UNTIL(&loop, st.closed == 1);
  CHECK(st.close_arg == &st);
  /* every connection, the kept-alive ones and the hanging one, closed */
  RUN_UNTIL(&loop, srv.conns_open == 0);
  CHECK_EQ_INT(st.dones, 4);
  CHECK_EQ_INT(x[3].done, 0);

  for (i = 0; i < 4; i++)
    curl_easy_cleanup(x[i].easy);
  close(refused_fd);
  uv_close((uv_handle_t *)&srv.listener, NULL);
  uv_close((uv_handle_t *)&guard, NULL);
  rc = uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(st.closed, 1);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  CHECK(!guard_fired);
}

/* Closing right after init (nothing ever added) needs one loop turn. */
static void test_init_close(void) {
  uv_loop_t loop;
  struct state st = {.dones = 0};
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  CHECK_EQ_INT(sbx_curl_uv_init(NULL, &st.cu, NULL, on_done, &st), SBX_EINVAL);
  CHECK_EQ_INT(sbx_curl_uv_init(&loop, NULL, NULL, on_done, &st), SBX_EINVAL);
  CHECK_EQ_INT(sbx_curl_uv_init(&loop, &st.cu, NULL, NULL, &st), SBX_EINVAL);
  {
    const struct sbx_curl_uv_opts opts = {.max_connects = 4, .no_multiplex = 1};
    CHECK_EQ_INT(sbx_curl_uv_init(&loop, &st.cu, &opts, on_done, &st), 0);
  }
  {
    const struct sbx_curl_uv_easy o = {.priv = NULL};
    CURL *e = curl_easy_init();
    CHECK(e != NULL);
    CHECK_EQ_INT(sbx_curl_uv_prepare(NULL, e, &o), SBX_EINVAL);
    CHECK_EQ_INT(sbx_curl_uv_prepare(&st.cu, NULL, &o), SBX_EINVAL);
    CHECK_EQ_INT(sbx_curl_uv_prepare(&st.cu, e, NULL), SBX_EINVAL);
    CHECK_EQ_INT(sbx_curl_uv_prepare(&st.cu, e, &o), 0);
    curl_easy_cleanup(e);
  }
  sbx_curl_uv_close(&st.cu, on_closed);
  CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
  CHECK_EQ_INT(st.closed, 1);
  CHECK_EQ_INT(st.dones, 0);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

static void test_parse_url(void) {
  static const struct {
    const char *url;
    int rc;
    const char *host; /* on success */
    const char *tail; /* on failure: the message ends with it */
  } cases[] = {
      {"http://127.0.0.1:8080/x?y=1", 0, "127.0.0.1", NULL},
      {"https://example.com", 0, "example.com", NULL},
      {"HTTP://Example.COM/", 0, "Example.COM", NULL},
      {"https://[::1]:9/p", 0, "[::1]", NULL},
      {"http://user@h/", 0, "h", NULL},
      {"", SBX_EINVAL, NULL, "FIX"},
      {"ftp://h/", SBX_EINVAL, NULL, "FIX"},
      {"file:///etc/passwd", SBX_EINVAL, NULL, "FIX"},
      {"h:80/x", SBX_EINVAL, NULL, "FIX"},
      {"//h/x", SBX_EINVAL, NULL, "FIX"},
      {"http:/h", SBX_EINVAL, NULL, "FIX"},
      {"http://", SBX_EINVAL, NULL, "FIX"},
      {"http:///path", SBX_EINVAL, NULL, "FIX"},
      {"https://?q", SBX_EINVAL, NULL, "FIX"},
      {"http://h:99999/", SBX_EINVAL, NULL, "FIX"},
      {"http://h /x", SBX_EINVAL, NULL, "BYTEFIX"},
      {" http://h/", SBX_EINVAL, NULL, "BYTEFIX"},
      {"http://h/\t", SBX_EINVAL, NULL, "BYTEFIX"},
      {"http://h/\x7f", SBX_EINVAL, NULL, "BYTEFIX"},
      {"http://h\xc3\xa9.example/", SBX_EINVAL, NULL, "BYTEFIX"},
  };
  size_t i;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct sbx_diag d = {{0}};
    CURLU *u = (CURLU *)&d; /* must be overwritten */
    char *host = NULL;
    int rc =
        sbx_curl_uv_parse_url(cases[i].url, "WHAT", "FIX", "BYTEFIX", &u, &d);
    if (rc != cases[i].rc)
      fprintf(stderr, "case %zu \"%s\": %s\n", i, cases[i].url, d.msg);
    CHECK_EQ_INT(rc, cases[i].rc);
    if (rc == 0) {
      CHECK(u != NULL);
      if (u != NULL && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        CHECK_EQ_STR(host, cases[i].host);
      curl_free(host);
      curl_url_cleanup(u);
      /* out and diag may be NULL */
      CHECK_EQ_INT(
          sbx_curl_uv_parse_url(cases[i].url, "WHAT", "FIX", NULL, NULL, NULL),
          0);
    } else {
      size_t ml = strlen(d.msg), tl = strlen(cases[i].tail);
      CHECK(u == NULL);
      CHECK(strncmp(d.msg, "WHAT", 4) == 0);
      CHECK(ml >= tl && strcmp(d.msg + ml - tl, cases[i].tail) == 0);
      if (ml < tl || strcmp(d.msg + ml - tl, cases[i].tail) != 0)
        fprintf(stderr, "case %zu: %s\n", i, d.msg);
      /* without byte_fix, fix is used for bad bytes too */
      CHECK_EQ_INT(
          sbx_curl_uv_parse_url(cases[i].url, "WHAT", "FIX", NULL, NULL, &d),
          rc);
      ml = strlen(d.msg);
      CHECK(ml >= 3 && strcmp(d.msg + ml - 3, "FIX") == 0 &&
            (ml < 7 || strcmp(d.msg + ml - 7, "BYTEFIX") != 0));
    }
  }
  {
    struct sbx_diag d = {{0}};
    CURLU *u = (CURLU *)&d;
    CHECK_EQ_INT(sbx_curl_uv_parse_url(NULL, "WHAT", "FIX", NULL, &u, &d),
                 SBX_EINVAL);
    CHECK(u == NULL);
  }
}

static void test_header(void) {
  struct curl_slist *l = NULL;
  CHECK_EQ_INT(sbx_curl_uv_header(&l, "X-A", "1"), 0);
  CHECK_EQ_INT(sbx_curl_uv_header(&l, "X-Empty", ""), 0);
  CHECK_EQ_INT(sbx_curl_uv_header(&l, "Expect:", NULL), 0);
  CHECK(l != NULL && l->next != NULL && l->next->next != NULL &&
        l->next->next->next == NULL);
  if (l != NULL && l->next != NULL && l->next->next != NULL) {
    CHECK_EQ_STR(l->data, "X-A: 1");
    CHECK_EQ_STR(l->next->data, "X-Empty;");
    CHECK_EQ_STR(l->next->next->data, "Expect:");
  }
  curl_slist_free_all(l);
}

int main(void) {
  CHECK_EQ_INT(sbx_curl_uv_global_init(), CURLE_OK);
  CHECK_EQ_INT(sbx_curl_uv_global_init(), CURLE_OK);
  test_parse_url();
  test_header();
  test_init_close();
  test_transfers();
  curl_global_cleanup();
  return TEST_RESULT();
}
