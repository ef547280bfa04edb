/* sbx_faultd.c - a small HTTP/1.1 server that misbehaves on request.
 *
 * Tests start it to put an adapter in front of every way a product can fail:
 * slow answers, resets, truncated bodies, garbage, oversized bodies. It is a
 * single-threaded libuv server with keep-alive and pipelining, bound to
 * 127.0.0.1.
 *
 *   sbx_faultd [--port N]     (N = 0, the default, picks a free port)
 *
 * Once listening it prints "port=N" on stdout and flushes. SIGTERM/SIGINT
 * close every connection and exit 0 after printing counters on stderr.
 *
 * Routes (the query string is ignored unless stated; <anything> is used raw,
 * not percent-decoded, so tests can predict the body byte for byte):
 *   /ok/<anything>         200 "ok:<anything>\n"
 *   /status/<code>         <code> (200-599) "status <code>\n" (204/304: none)
 *   /slow/<ms>[/<anything>] after <ms> (<= 600000) like /ok
 *   /reset                 closes with a TCP RST, no answer
 *   /close-mid             Content-Length 1000, 10 bytes, then FIN
 *   /wrong/<anything>      200 "wrong\n"
 *   /big/<bytes>           200 with <bytes> 'x', streamed; "?te=chunked"
 *                          sends it with chunked transfer encoding
 *   /garbage               "NOT HTTP AT ALL\r\n\r\n", then FIN
 *   /chunked/<anything>    200 chunked, body as /ok
 *   anything else          404 "not found\n"
 * Requests: head up to 16 KiB (else 431), Content-Length bodies are read and
 * dropped, chunked request bodies get 501, HTTP/1.0 closes after answering
 * unless it asked for keep-alive.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <uv.h>

#define HEAD_MAX (16 * 1024)
#define BIG_CHUNK (64 * 1024)
#define MAX_SLOW_MS 600000u
#define MAX_BIG_BYTES ((uint64_t)1 << 40)

enum after {
  AFTER_NOTHING,
  AFTER_CLOSE, /* close the connection once written */
  AFTER_BIG,   /* write the next piece of a /big body */
};

struct conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  struct conn *prev, *next;
  char buf[HEAD_MAX];
  size_t len;
  uint64_t discard; /* request body bytes still to drop */
  int busy;         /* a response is under way: hold later requests */
  int keep_alive;   /* of the request being answered */
  int head_only;
  int closing;
  int reading;
  int handles; /* open uv handles */
  /* /slow */
  char *tag;
  size_t tag_len;
  /* /big */
  uint64_t big_left;
  int big_chunked;
};

struct wreq {
  uv_write_t req;
  struct conn *c;
  enum after after;
  size_t len;
  char data[]; /* header (and small body) bytes */
};

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sig_term, sig_int;
static struct conn *conns;
static unsigned long long n_conns, n_requests;
static char big_fill[BIG_CHUNK];

static void process(struct conn *c);
static void big_next(struct conn *c);
static void read_start(struct conn *c);

/* ---- connections -------------------------------------------------------- */

static void on_conn_handle_closed(uv_handle_t *h) {
  struct conn *c = h->data;
  if (--c->handles == 0) {
    free(c->tag);
    free(c);
  }
}

static void conn_close(struct conn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
  uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

static void conn_reset(struct conn *c) {
  struct linger lg = {1, 0};
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  conn_close(c);
}

static void on_written(uv_write_t *wr, int status) {
  struct wreq *w = (struct wreq *)wr;
  struct conn *c = w->c;
  enum after after = w->after;
  free(w);
  if (c->closing)
    return;
  if (status < 0) {
    conn_close(c);
    return;
  }
  if (after == AFTER_CLOSE) {
    conn_close(c);
  } else if (after == AFTER_BIG) {
    big_next(c);
  }
}

/* Queues bytes (copied) plus an optional borrowed tail (static data). */
static void send_bytes(struct conn *c, const char *data, size_t len,
                       const char *tail, size_t tail_len, enum after after) {
  struct wreq *w;
  uv_buf_t bufs[2];
  unsigned nbufs = 1;
  if (c->closing)
    return;
  w = malloc(sizeof(*w) + len);
  if (w == NULL) {
    conn_close(c);
    return;
  }
  w->c = c;
  w->after = after;
  w->len = len;
  memcpy(w->data, data, len);
  bufs[0] = uv_buf_init(w->data, (unsigned)len);
  if (tail_len > 0) {
    bufs[1] = uv_buf_init((char *)tail, (unsigned)tail_len);
    nbufs = 2;
  }
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, nbufs, on_written) != 0) {
    free(w);
    conn_close(c);
  }
}

static const char *reason(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 304:
    return "Not Modified";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 408:
    return "Request Timeout";
  case 413:
    return "Content Too Large";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "Status";
  }
}

/* A complete response with a small body. Closes after it unless the
 * request was keep-alive (and then holds nothing back). */
static void respond(struct conn *c, int status, const char *body,
                    size_t body_len) {
  char head[512];
  char *msg;
  int n;
  int no_body = status == 204 || status == 304;
  size_t total;
  if (no_body)
    n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n%s\r\n", status,
                 reason(status), c->keep_alive ? "" : "Connection: close\r\n");
  else
    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
                 "Content-Length: %zu\r\n%s\r\n",
                 status, reason(status), body_len,
                 c->keep_alive ? "" : "Connection: close\r\n");
  if (n < 0 || (size_t)n >= sizeof(head)) {
    conn_close(c);
    return;
  }
  if (no_body || c->head_only)
    body_len = 0;
  total = (size_t)n + body_len;
  msg = malloc(total);
  if (msg == NULL) {
    conn_close(c);
    return;
  }
  memcpy(msg, head, (size_t)n);
  if (body_len > 0)
    memcpy(msg + n, body, body_len);
  if (!c->keep_alive)
    c->busy = 1; /* nothing after this one */
  send_bytes(c, msg, total, NULL, 0,
             c->keep_alive ? AFTER_NOTHING : AFTER_CLOSE);
  free(msg);
}

static void respond_text(struct conn *c, int status, const char *text) {
  respond(c, status, text, strlen(text));
}

/* "ok:<tag>\n" */
static void respond_ok(struct conn *c, const char *tag, size_t tag_len) {
  char *body = malloc(tag_len + 4);
  if (body == NULL) {
    conn_close(c);
    return;
  }
  memcpy(body, "ok:", 3);
  memcpy(body + 3, tag, tag_len);
  body[3 + tag_len] = '\n';
  respond(c, 200, body, tag_len + 4);
  free(body);
}

static void respond_chunked_ok(struct conn *c, const char *tag,
                               size_t tag_len) {
  char head[256];
  char *msg;
  size_t cap = sizeof(head) + tag_len + 64, len;
  int n;
  msg = malloc(cap);
  if (msg == NULL) {
    conn_close(c);
    return;
  }
  n = snprintf(head, sizeof(head),
               "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
               "Transfer-Encoding: chunked\r\n%s\r\n",
               c->keep_alive ? "" : "Connection: close\r\n");
  memcpy(msg, head, (size_t)n);
  len = (size_t)n;
  if (!c->head_only) {
    /* Two chunks: "ok:" and "<tag>\n", then the last chunk. */
    memcpy(msg + len, "3\r\nok:\r\n", 8);
    len += 8;
    n = snprintf(msg + len, cap - len, "%zx\r\n", tag_len + 1);
    len += (size_t)n;
    memcpy(msg + len, tag, tag_len);
    len += tag_len;
    memcpy(msg + len, "\n\r\n0\r\n\r\n", 8);
    len += 8;
  }
  if (!c->keep_alive)
    c->busy = 1;
  send_bytes(c, msg, len, NULL, 0, c->keep_alive ? AFTER_NOTHING : AFTER_CLOSE);
  free(msg);
}

static void big_next(struct conn *c) {
  char line[32];
  size_t n;
  int ln;
  if (c->big_left == 0) {
    if (c->big_chunked && !c->head_only) {
      c->big_chunked = 0;
      send_bytes(c, "0\r\n\r\n", 5, NULL, 0, AFTER_BIG);
      return;
    }
    if (!c->keep_alive) {
      conn_close(c);
      return;
    }
    c->busy = 0;
    process(c);
    return;
  }
  n = c->big_left < BIG_CHUNK ? (size_t)c->big_left : BIG_CHUNK;
  c->big_left -= n;
  if (c->big_chunked) {
    /* size line, data, and the CRLF closing this chunk in one write */
    ln = snprintf(line, sizeof(line), "%zx\r\n", n);
    {
      struct wreq *w = malloc(sizeof(*w) + (size_t)ln);
      uv_buf_t bufs[3];
      if (w == NULL) {
        conn_close(c);
        return;
      }
      w->c = c;
      w->after = AFTER_BIG;
      w->len = (size_t)ln;
      memcpy(w->data, line, (size_t)ln);
      bufs[0] = uv_buf_init(w->data, (unsigned)ln);
      bufs[1] = uv_buf_init(big_fill, (unsigned)n);
      bufs[2] = uv_buf_init((char *)"\r\n", 2);
      if (uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, 3, on_written) != 0) {
        free(w);
        conn_close(c);
      }
    }
  } else {
    send_bytes(c, "", 0, big_fill, n, AFTER_BIG);
  }
}

static void start_big(struct conn *c, uint64_t bytes, int chunked) {
  char head[256];
  int n;
  c->busy = 1;
  c->big_left = c->head_only ? 0 : bytes;
  c->big_chunked = chunked;
  if (chunked)
    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                 "Transfer-Encoding: chunked\r\n%s\r\n",
                 c->keep_alive ? "" : "Connection: close\r\n");
  else
    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                 "Content-Length: %llu\r\n%s\r\n",
                 (unsigned long long)bytes,
                 c->keep_alive ? "" : "Connection: close\r\n");
  send_bytes(c, head, (size_t)n, NULL, 0, AFTER_BIG);
}

static void on_slow_timer(uv_timer_t *t) {
  struct conn *c = t->data;
  respond_ok(c, c->tag != NULL ? c->tag : "", c->tag_len);
  free(c->tag);
  c->tag = NULL;
  c->tag_len = 0;
  if (c->keep_alive && !c->closing) {
    c->busy = 0;
    process(c);
  }
}

/* ---- request parsing ---------------------------------------------------- */

/* Parses up to 20 decimal digits of s[0..n) into *v; 0 on success. */
static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *v) {
  uint64_t x = 0;
  size_t i;
  if (n == 0 || n > 20)
    return -1;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    if (x > (max - (uint64_t)(s[i] - '0')) / 10)
      return -1;
    x = x * 10 + (uint64_t)(s[i] - '0');
  }
  *v = x;
  return 0;
}

static int has_prefix(const char *s, size_t n, const char *p) {
  size_t pl = strlen(p);
  return n >= pl && memcmp(s, p, pl) == 0;
}

/* Exactly p, or p followed by "/...". */
static int is_route(const char *s, size_t n, const char *p) {
  size_t pl = strlen(p);
  return n >= pl && memcmp(s, p, pl) == 0 && (n == pl || s[pl] == '/');
}

static int query_has(const char *q, size_t n, const char *param) {
  size_t pl = strlen(param), i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && q[j] != '&')
      j++;
    if (j - i == pl && memcmp(q + i, param, pl) == 0)
      return 1;
    i = j + 1;
  }
  return 0;
}

static void route(struct conn *c, const char *path, size_t plen,
                  const char *query, size_t qlen) {
  uint64_t v;
  if (has_prefix(path, plen, "/ok/")) {
    respond_ok(c, path + 4, plen - 4);
  } else if (has_prefix(path, plen, "/status/")) {
    char body[32];
    if (parse_u64(path + 8, plen - 8, 999, &v) != 0 || v < 200 || v > 599) {
      respond_text(c, 400, "status: use a code from 200 to 599\n");
      return;
    }
    snprintf(body, sizeof(body), "status %d\n", (int)v);
    respond_text(c, (int)v, body);
  } else if (has_prefix(path, plen, "/slow/")) {
    const char *ms = path + 6, *slash;
    size_t rest = plen - 6, mlen;
    slash = memchr(ms, '/', rest);
    mlen = slash != NULL ? (size_t)(slash - ms) : rest;
    if (parse_u64(ms, mlen, MAX_SLOW_MS, &v) != 0) {
      respond_text(c, 400, "slow: use /slow/<ms up to 600000>/<anything>\n");
      return;
    }
    c->tag_len = slash != NULL ? rest - mlen - 1 : 0;
    c->tag = malloc(c->tag_len + 1);
    if (c->tag == NULL) {
      conn_close(c);
      return;
    }
    memcpy(c->tag, slash != NULL ? slash + 1 : "", c->tag_len);
    c->tag[c->tag_len] = '\0';
    c->busy = 1;
    uv_timer_start(&c->timer, on_slow_timer, v, 0);
  } else if (is_route(path, plen, "/reset")) {
    conn_reset(c);
  } else if (is_route(path, plen, "/close-mid")) {
    static const char m[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                            "Content-Length: 1000\r\n\r\n0123456789";
    c->busy = 1;
    send_bytes(c, m, sizeof(m) - 1, NULL, 0, AFTER_CLOSE);
  } else if (has_prefix(path, plen, "/wrong/")) {
    respond_text(c, 200, "wrong\n");
  } else if (has_prefix(path, plen, "/big/")) {
    if (parse_u64(path + 5, plen - 5, MAX_BIG_BYTES, &v) != 0) {
      respond_text(c, 400, "big: use /big/<bytes up to 2^40>\n");
      return;
    }
    start_big(c, v, query_has(query, qlen, "te=chunked"));
  } else if (is_route(path, plen, "/garbage")) {
    static const char m[] = "NOT HTTP AT ALL\r\n\r\n";
    c->busy = 1;
    send_bytes(c, m, sizeof(m) - 1, NULL, 0, AFTER_CLOSE);
  } else if (has_prefix(path, plen, "/chunked/")) {
    respond_chunked_ok(c, path + 9, plen - 9);
  } else {
    respond_text(c, 404, "not found\n");
  }
}

/* Case-insensitive: does the comma-separated list v[0..n) hold token t? */
static int list_has(const char *v, size_t n, const char *t) {
  size_t tl = strlen(t), i = 0;
  while (i < n) {
    size_t j, a, b;
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
      i++;
    j = i;
    while (j < n && v[j] != ',')
      j++;
    a = i;
    b = j;
    while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
      b--;
    if (b - a == tl && strncasecmp(v + a, t, tl) == 0)
      return 1;
    i = j;
  }
  return 0;
}

/* Parses one request head of hlen bytes (ending in CRLFCRLF) and answers
 * it. Returns 0, or -1 after answering 4xx/5xx and closing. */
static int handle_head(struct conn *c, const char *h, size_t hlen) {
  const char *end = h + hlen - 4; /* at the final CRLFCRLF */
  const char *line_end, *sp1, *sp2, *p, *target, *q;
  size_t tlen, plen;
  int http10, have_cl = 0, conn_close_tok = 0, conn_keep_tok = 0;
  uint64_t cl = 0;

  line_end = memchr(h, '\r', (size_t)(end - h) + 1);
  if (line_end == NULL || line_end[1] != '\n')
    goto bad;
  sp1 = memchr(h, ' ', (size_t)(line_end - h));
  if (sp1 == NULL || sp1 == h)
    goto bad;
  sp2 = memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1));
  if (sp2 == NULL || sp2 == sp1 + 1)
    goto bad;
  if ((size_t)(line_end - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
    goto bad;
  if (sp2[8] == '0')
    http10 = 1;
  else if (sp2[8] == '1')
    http10 = 0;
  else {
    c->keep_alive = 0;
    respond_text(c, 505, "use HTTP/1.0 or HTTP/1.1\n");
    return -1;
  }
  c->head_only = (size_t)(sp1 - h) == 4 && memcmp(h, "HEAD", 4) == 0;
  target = sp1 + 1;
  tlen = (size_t)(sp2 - target);

  /* Header fields. */
  p = line_end + 2;
  while (p < end + 2) {
    const char *le = memchr(p, '\r', (size_t)(end + 2 - p));
    const char *colon, *v, *ve;
    size_t nl;
    if (le == NULL || le[1] != '\n')
      goto bad;
    colon = memchr(p, ':', (size_t)(le - p));
    if (colon == NULL || colon == p)
      goto bad;
    nl = (size_t)(colon - p);
    v = colon + 1;
    while (v < le && (*v == ' ' || *v == '\t'))
      v++;
    ve = le;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
      ve--;
    if (nl == 14 && strncasecmp(p, "Content-Length", 14) == 0) {
      uint64_t x;
      if (parse_u64(v, (size_t)(ve - v), MAX_BIG_BYTES, &x) != 0 ||
          (have_cl && x != cl))
        goto bad;
      cl = x;
      have_cl = 1;
    } else if (nl == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0) {
      c->keep_alive = 0;
      respond_text(c, 501, "chunked request bodies are not supported\n");
      return -1;
    } else if (nl == 10 && strncasecmp(p, "Connection", 10) == 0) {
      conn_close_tok |= list_has(v, (size_t)(ve - v), "close");
      conn_keep_tok |= list_has(v, (size_t)(ve - v), "keep-alive");
    }
    p = le + 2;
  }
  c->keep_alive = http10 ? (conn_keep_tok && !conn_close_tok) : !conn_close_tok;
  c->discard = cl;
  n_requests++;

  q = memchr(target, '?', tlen);
  plen = q != NULL ? (size_t)(q - target) : tlen;
  route(c, target, plen, q != NULL ? q + 1 : "",
        q != NULL ? tlen - plen - 1 : 0);
  return 0;

bad:
  c->keep_alive = 0;
  respond_text(c, 400, "malformed request\n");
  return -1;
}

static void consume(struct conn *c, size_t n) {
  memmove(c->buf, c->buf + n, c->len - n);
  c->len -= n;
}

static void process(struct conn *c) {
  while (!c->busy && !c->closing) {
    char *e;
    size_t hlen;
    if (c->discard > 0) {
      size_t n = c->discard < c->len ? (size_t)c->discard : c->len;
      consume(c, n);
      c->discard -= n;
      if (c->discard > 0)
        break;
    }
    /* Empty lines before a request line are allowed (RFC 9112 2.2). */
    while (c->len >= 2 && c->buf[0] == '\r' && c->buf[1] == '\n')
      consume(c, 2);
    if (c->len == 0)
      break;
    e = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (e == NULL) {
      if (c->len == sizeof(c->buf)) {
        c->keep_alive = 0;
        respond_text(c, 431, "request head over 16 KiB\n");
      }
      break;
    }
    hlen = (size_t)(e - c->buf) + 4;
    if (handle_head(c, c->buf, hlen) != 0)
      break;
    if (!c->closing)
      consume(c, hlen);
  }
  if (c->closing)
    return;
  /* Hold back reading while an answer is under way so requests are
   * answered in order and the buffer cannot overflow. */
  if (c->busy && c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  } else if (!c->busy && !c->reading) {
    read_start(c);
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct conn *c = h->data;
  (void)suggested;
  /* A zero-length buffer makes libuv report UV_ENOBUFS: we close then. */
  *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct conn *c = s->data;
  (void)buf;
  if (nread < 0) {
    conn_close(c);
    return;
  }
  c->len += (size_t)nread;
  process(c);
}

static void read_start(struct conn *c) {
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
    c->reading = 1;
  else
    conn_close(c);
}

static void on_connection(uv_stream_t *srv, int status) {
  struct conn *c;
  if (status < 0) {
    fprintf(stderr, "sbx_faultd: accept: %s\n", uv_strerror(status));
    return;
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL) {
    fprintf(stderr, "sbx_faultd: out of memory accepting a connection\n");
    return;
  }
  uv_tcp_init(loop, &c->tcp);
  uv_timer_init(loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->handles = 2;
  c->next = conns;
  if (conns != NULL)
    conns->prev = c;
  conns = c;
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  n_conns++;
  uv_tcp_nodelay(&c->tcp, 1);
  read_start(c);
}

/* ---- main --------------------------------------------------------------- */

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  (void)signum;
  uv_close((uv_handle_t *)&server, NULL);
  uv_close((uv_handle_t *)&sig_term, NULL);
  uv_close((uv_handle_t *)&sig_int, NULL);
  while (conns != NULL)
    conn_close(conns);
}

static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static int parse_args(int argc, char **argv, int *port) {
  int i;
  uint64_t v;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      if (parse_u64(argv[i + 1], strlen(argv[i + 1]), 65535, &v) != 0) {
        fprintf(stderr,
                "sbx_faultd: --port \"%s\": expected 0-65535 (0 picks a "
                "free port)\n",
                argv[i + 1]);
        return -1;
      }
      *port = (int)v;
      i++;
    } else {
      fprintf(stderr,
              "sbx_faultd: unknown argument \"%s\"\n"
              "usage: sbx_faultd [--port N]\n",
              argv[i]);
      return -1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int port = 0, namelen = sizeof(bound), rc;

  if (parse_args(argc, argv, &port) != 0)
    return 2;
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  memset(big_fill, 'x', sizeof(big_fill));
  loop = uv_default_loop();

  uv_ip4_addr("127.0.0.1", port, &addr);
  uv_tcp_init(loop, &server);
  rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&server, 4096, on_connection);
  if (rc != 0) {
    fprintf(stderr, "sbx_faultd: listen on 127.0.0.1:%d: %s\n", port,
            uv_strerror(rc));
    return 1;
  }
  uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &namelen);
  uv_signal_init(loop, &sig_term);
  uv_signal_init(loop, &sig_int);
  uv_signal_start(&sig_term, on_signal, SIGTERM);
  uv_signal_start(&sig_int, on_signal, SIGINT);

  printf("port=%d\n", ntohs(((struct sockaddr_in *)&bound)->sin_port));
  fflush(stdout);

  uv_run(loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(loop);
  fprintf(stderr, "sbx_faultd: %llu connections, %llu requests\n", n_conns,
          n_requests);
  return rc == 0 ? 0 : 1;
}
