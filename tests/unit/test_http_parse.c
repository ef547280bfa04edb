/* test_http_parse.c - the fast-path HTTP/1.1 response parser.
 *
 * Every case is fed whole, one byte at a time and split in two at every
 * point (every point up to SPLIT_ALL_MAX bytes, a stride beyond), and all
 * runs must agree exactly: result, error, status, keep_alive, body bytes
 * (gathered through the callback) and the offset where each response ended
 * or the error was found. The whole-piece run is then checked against the
 * expectation. Responses are shaped like what nginx, Python's http.server
 * and tests/support/sbx_faultd.c really send.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "testlib.h"

#define MAX_OUT 4
#define BODY_CAP 4096
#define SPLIT_ALL_MAX 4096

struct outcome {
  int result;
  int err;
  uint32_t status;
  int keep_alive;
  uint64_t body_len;
  size_t end; /* absolute offset after the response, or of the error */
  size_t body_n;
  uint8_t body[BODY_CAP];
};

struct run {
  int n;
  struct outcome out[MAX_OUT];
  int span_ok; /* every span lay inside the piece just fed */
  const uint8_t *lo, *hi;
  size_t stop_after; /* callback stops once this many bytes came; 0 never */
  size_t seen;
};

static int on_body(void *arg, const uint8_t *p, size_t n) {
  struct run *r = arg;
  struct outcome *o = &r->out[r->n];
  if (n == 0 || p < r->lo || p + n > r->hi)
    r->span_ok = 0;
  if (o->body_n + n <= BODY_CAP) {
    memcpy(o->body + o->body_n, p, n);
    o->body_n += n;
  } else {
    o->body_n = BODY_CAP + 1; /* overflowed: only counted */
  }
  r->seen += n;
  if (r->stop_after != 0 && r->seen >= r->stop_after)
    return 1;
  return 0;
}

static void record(struct run *r, struct sbx_http_parser *p, int result,
                   size_t end) {
  struct outcome *o = &r->out[r->n];
  o->result = result;
  o->err = (int)p->err;
  o->status = p->status;
  o->keep_alive = p->keep_alive;
  o->body_len = p->body_len;
  o->end = end;
  r->n++;
  if (r->n < MAX_OUT)
    memset(&r->out[r->n], 0, sizeof(r->out[r->n]));
}

/* Feeds in[0..len) cut at cuts[0..ncuts) (ascending), parsing responses in
 * a row like a connection would; eof closes the stream at the end. */
static void run_stream(const uint8_t *in, size_t len, const size_t *cuts,
                       size_t ncuts, const struct sbx_http_limits *lim,
                       int head, int eof, size_t stop_after, struct run *r) {
  struct sbx_http_parser p;
  size_t k, a = 0;
  memset(r, 0, sizeof(*r));
  r->span_ok = 1;
  r->stop_after = stop_after;
  sbx_http_parser_init(&p, lim, on_body, r);
  sbx_http_parser_reset(&p, head);
  for (k = 0; k <= ncuts; k++) {
    size_t b = k < ncuts ? cuts[k] : len, off = a;
    while (off < b) {
      size_t used = (size_t)-1;
      enum sbx_http_result res;
      r->lo = in + off;
      r->hi = in + b;
      res = sbx_http_parse(&p, in + off, b - off, &used);
      CHECK(used <= b - off);
      if (res == SBX_HTTP_MORE) {
        CHECK_EQ_INT(used, b - off);
        CHECK_EQ_INT(p.err, SBX_HTTP_E_NONE);
        break;
      }
      record(r, &p, res, off + used);
      if (res == SBX_HTTP_ERROR || r->n == MAX_OUT)
        return;
      off += used;
      sbx_http_parser_reset(&p, head);
    }
    a = b;
  }
  if (eof) {
    int res = sbx_http_parse_eof(&p);
    record(r, &p, res, len);
  }
}

static int same_run(const struct run *x, const struct run *y) {
  int i;
  if (x->n != y->n)
    return 0;
  for (i = 0; i < x->n; i++) {
    const struct outcome *a = &x->out[i], *b = &y->out[i];
    if (a->result != b->result || a->err != b->err || a->status != b->status ||
        a->keep_alive != b->keep_alive || a->end != b->end ||
        a->body_n != b->body_n)
      return 0;
    /* After an error only the delivered prefix may differ in length. */
    if (a->result != SBX_HTTP_ERROR && a->body_len != b->body_len)
      return 0;
    if (a->body_n <= BODY_CAP && memcmp(a->body, b->body, a->body_n) != 0)
      return 0;
  }
  return 1;
}

static struct run ref_run, alt_run;

/* Runs in whole, byte by byte and at split points; all must agree. The
 * whole run is left in ref_run. */
static void run_all(const char *name, const uint8_t *in, size_t len,
                    const struct sbx_http_limits *lim, int head, int eof) {
  size_t *cuts = NULL, k, step;
  run_stream(in, len, NULL, 0, lim, head, eof, 0, &ref_run);
  CHECK(ref_run.span_ok);
  if (len > 1) {
    cuts = malloc((len - 1) * sizeof(*cuts));
    if (cuts == NULL) {
      CHECK(!"out of memory");
      return;
    }
    for (k = 0; k + 1 < len; k++)
      cuts[k] = k + 1;
    run_stream(in, len, cuts, len - 1, lim, head, eof, 0, &alt_run);
    if (!same_run(&ref_run, &alt_run)) {
      fprintf(stderr, "%s: byte-by-byte parse differs from one piece\n", name);
      test_failures++;
    }
    CHECK(alt_run.span_ok);
    free(cuts);
  }
  step = len <= SPLIT_ALL_MAX ? 1 : len / 997;
  for (k = 1; k < len; k += step) {
    run_stream(in, len, &k, 1, lim, head, eof, 0, &alt_run);
    if (!same_run(&ref_run, &alt_run)) {
      fprintf(stderr, "%s: split at %zu differs from one piece\n", name, k);
      test_failures++;
      break;
    }
  }
}

/* ---- cases --------------------------------------------------------------- */

#define ALL ((size_t)-1)

struct tcase {
  const char *name;
  const char *in;
  int head;  /* HEAD request */
  int eof;   /* close the connection after the input */
  int small; /* use small_limits */
  int result;
  int err;
  uint32_t status;
  int keep_alive;
  const char *body; /* expected body (DONE only) */
  size_t end;       /* offset of the end or error; ALL = whole input */
};

static const struct sbx_http_limits small_limits = {256, 4, 16};

#define NGINX_DATE "Date: Tue, 14 May 2024 09:12:44 GMT\r\n"
#define NGINX_404_BODY                                                         \
  "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"          \
  "<center><h1>404 Not Found</h1></center>\r\n"                                \
  "<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"

static const struct tcase cases[] = {
    /* ---- well-formed ---- */
    {"nginx 200",
     "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n" NGINX_DATE
     "Content-Type: text/html\r\nContent-Length: 12\r\n"
     "Last-Modified: Mon, 13 May 2024 18:01:02 GMT\r\n"
     "Connection: keep-alive\r\nETag: \"66425a8e-c\"\r\n"
     "Accept-Ranges: bytes\r\n\r\nhello world\n",
     0, 0, 0, SBX_HTTP_DONE, 0, 200, 1, "hello world\n", ALL},
    {"nginx 404",
     "HTTP/1.1 404 Not Found\r\nServer: nginx/1.22.1\r\n" NGINX_DATE
     "Content-Type: text/html\r\nContent-Length: 153\r\n"
     "Connection: keep-alive\r\n\r\n" NGINX_404_BODY,
     0, 0, 0, SBX_HTTP_DONE, 0, 404, 1, NGINX_404_BODY, ALL},
    {"nginx 204",
     "HTTP/1.1 204 No Content\r\nServer: nginx/1.22.1\r\n" NGINX_DATE
     "Connection: keep-alive\r\n\r\n",
     0, 0, 0, SBX_HTTP_DONE, 0, 204, 1, "", ALL},
    {"nginx 304 ignores Content-Length",
     "HTTP/1.1 304 Not Modified\r\nServer: nginx/1.22.1\r\n" NGINX_DATE
     "Last-Modified: Mon, 13 May 2024 18:01:02 GMT\r\n"
     "Connection: keep-alive\r\nETag: \"66425a8e-c\"\r\n"
     "Content-Length: 12\r\n\r\n",
     0, 0, 0, SBX_HTTP_DONE, 0, 304, 1, "", ALL},
    {"nginx chunked (proxied)",
     "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n" NGINX_DATE
     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
     "Connection: keep-alive\r\nVary: Accept-Encoding\r\n\r\n"
     "1b\r\n{\"status\":\"ok\",\"items\":[]}\n\r\n0\r\n\r\n",
     0, 0, 0, SBX_HTTP_DONE, 0, 200, 1, "{\"status\":\"ok\",\"items\":[]}\n",
     ALL},
    {"chunked with extensions and trailers",
     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
     "Transfer-Encoding: chunked\r\nTrailer: Expires, X-Checksum\r\n\r\n"
     "4;name=value\r\nWiki\r\n5 ; a ; b=\"q s\"\r\npedia\r\n"
     "E\r\n in\r\n\r\nchunks.\r\n000;last\r\n"
     "Expires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-Checksum: 2f8a\r\n\r\n",
     0, 0, 0, SBX_HTTP_DONE, 0, 200, 1, "Wikipedia in\r\n\r\nchunks.", ALL},
    {"HTTP/1.0 without keep-alive",
     "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\n" NGINX_DATE
     "Content-type: text/html\r\nContent-Length: 6\r\n"
     "Last-Modified: Mon, 13 May 2024 18:01:02 GMT\r\n\r\nhello\n",
     0, 0, 0, SBX_HTTP_DONE, 0, 200, 0, "hello\n", ALL},
    {"HTTP/1.0 with keep-alive",
     "HTTP/1.0 200 OK\r\nServer: nginx/1.22.1\r\n" NGINX_DATE
     "Content-Type: text/plain\r\nContent-Length: 6\r\n"
     "Connection: keep-alive\r\n\r\nhello\n",
     0, 0, 0, SBX_HTTP_DONE, 0, 200, 1, "hello\n", ALL},
    {"HTTP/1.0 keep-alive among tokens, any case",
     "HTTP/1.0 200 OK\r\nConnection: Upgrade , KEEP-Alive\r\n"
     "Content-Length: 0\r\n\r\n",
     0, 0, 0, SBX_HTTP_DONE, 0, 200, 1, "", ALL},
    {"read until close (HTTP/1.0)",
     "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\n"
     "Content-type: text/plain\r\n\r\nstreamed until close\n",
     0, 1, 0, SBX_HTTP_DONE, 0, 200, 0, "streamed until close\n", ALL},
    {"read until close (HTTP/1.1, keep-alive claimed)",
     "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nabc", 0, 1, 0,
     SBX_HTTP_DONE, 0, 200, 0, "abc", ALL},
    {"read until close, empty body", "HTTP/1.1 500 Oops\r\n\r\n", 0, 1, 0,
     SBX_HTTP_DONE, 0, 500, 0, "", ALL},
    {"100 Continue then 200",
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n"
     "Content-Length: 2\r\n\r\nok",
     0, 0, 0, SBX_HTTP_DONE, 0, 200, 1, "ok", ALL},
    {"103 Early Hints then 200",
     "HTTP/1.1 103 Early Hints\r\n"
     "Link: </style.css>; rel=preload; as=style\r\n"
     "Link: </script.js>; rel=preload; as=script\r\n\r\n"
     "HTTP/1.1 200 OK\r\nServer: nginx/1.25.3\r\nContent-Type: text/html\r\n"
     "Content-Length: 5\r\nConnection: close\r\n\r\nhello",
     0, 0, 0, SBX_HTTP_DONE, 0, 200, 0, "hello", ALL},
    {"several interim responses, their framing headers ignored",
     "HTTP/1.1 102 Processing\r\nContent-Length: x\r\n\r\n"
     "HTTP/1.1 100 Continue\r\nTransfer-Encoding: gzip\r\n\r\n"
     "HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\n!",
     0, 0, 0, SBX_HTTP_DONE, 0, 201, 1, "!", ALL},
    {"HEAD with Content-Length",
     "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n" NGINX_DATE
     "Content-Type: text/html\r\nContent-Length: 615\r\n"
     "Connection: keep-alive\r\n\r\n",
     1, 0, 0, SBX_HTTP_DONE, 0, 200, 1, "", ALL},
    {"HEAD with chunked",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 1, 0, 0,
     SBX_HTTP_DONE, 0, 200, 1, "", ALL},
    {"bare LF line endings", "HTTP/1.1 200 OK\nContent-Length: 3\n\nabc", 0, 0,
     0, SBX_HTTP_DONE, 0, 200, 1, "abc", ALL},
    {"no reason phrase", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0, 0, 0,
     SBX_HTTP_DONE, 0, 200, 1, "", ALL},
    {"empty reason phrase", "HTTP/1.1 503 \r\nContent-Length: 0\r\n\r\n", 0, 0,
     0, SBX_HTTP_DONE, 0, 503, 1, "", ALL},
    {"HTTP/1.1 Connection: close",
     "HTTP/1.1 200 OK\r\nConnection: close\r\n"
     "Content-Length: 2\r\n\r\nhi",
     0, 0, 0, SBX_HTTP_DONE, 0, 200, 0, "hi", ALL},
    {"Transfer-Encoding wins over Content-Length, no reuse",
     "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n"
     "Transfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
     0, 0, 0, SBX_HTTP_DONE, 0, 200, 0, "abc", ALL},
    {"identical Content-Length duplicates",
     "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\ncontent-length:005\r\n"
     "CONTENT-LENGTH: ,5,\t\r\n\r\nhello",
     0, 0, 0, SBX_HTTP_DONE, 0, 200, 1, "hello", ALL},
    {"Content-Length 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 0,
     0, SBX_HTTP_DONE, 0, 200, 1, "", ALL},
    {"obs-text and tabs in values",
     "HTTP/1.1 200 \xc3\x96K\r\nX-Name:\t\xe2\x9c\x93 v\t\r\n"
     "Content-Length: 1\r\n\r\nz",
     0, 0, 0, SBX_HTTP_DONE, 0, 200, 1, "z", ALL},
    {"HTTP/1.2 treated as 1.1", "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n",
     0, 0, 0, SBX_HTTP_DONE, 0, 200, 1, "", ALL},
    {"faultd 200",
     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
     "Content-Length: 8\r\nConnection: close\r\n\r\nok:abcd\n",
     0, 0, 0, SBX_HTTP_DONE, 0, 200, 0, "ok:abcd\n", ALL},
    {"faultd chunked",
     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
     "Transfer-Encoding: chunked\r\n\r\n3\r\nok:\r\n5\r\nabcd\n\r\n0\r\n\r\n",
     0, 0, 0, SBX_HTTP_DONE, 0, 200, 1, "ok:abcd\n", ALL},
    {"faultd 204", "HTTP/1.1 204 No Content\r\n\r\n", 0, 0, 0, SBX_HTTP_DONE, 0,
     204, 1, "", ALL},
    {"chunked trailer section ends with bare LF",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "1\r\nx\r\n0\r\nX-T: 1\n\n",
     0, 0, 0, SBX_HTTP_DONE, 0, 200, 1, "x", ALL},
    {"a response ends before what follows",
     "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1", 0, 0, 0,
     SBX_HTTP_DONE, 0, 200, 1, "x", 39},

    /* ---- malformed ---- */
    {"garbage (faultd /garbage)", "NOT HTTP AT ALL\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 0, 0, NULL, 0},
    {"HTTP/2", "HTTP/2 200\r\n\r\n", 0, 0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX,
     0, 0, NULL, 5},
    {"HTTP/0.9 style body", "<html>hello</html>\n", 0, 0, 0, SBX_HTTP_ERROR,
     SBX_HTTP_E_SYNTAX, 0, 0, NULL, 0},
    {"lowercase protocol", "http/1.1 200 OK\r\n\r\n", 0, 0, 0, SBX_HTTP_ERROR,
     SBX_HTTP_E_SYNTAX, 0, 0, NULL, 0},
    {"status 999", "HTTP/1.1 999 Nope\r\n\r\n", 0, 0, 0, SBX_HTTP_ERROR,
     SBX_HTTP_E_SYNTAX, 0, 0, NULL, 11},
    {"status 099", "HTTP/1.1 099 X\r\n\r\n", 0, 0, 0, SBX_HTTP_ERROR,
     SBX_HTTP_E_SYNTAX, 0, 0, NULL, 11},
    {"status of two digits", "HTTP/1.1 20 OK\r\n\r\n", 0, 0, 0, SBX_HTTP_ERROR,
     SBX_HTTP_E_SYNTAX, 0, 0, NULL, 11},
    {"status of four digits", "HTTP/1.1 2000 OK\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 12},
    {"two spaces before status", "HTTP/1.1  200 OK\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 0, 0, NULL, 9},
    {"CR without LF in status line", "HTTP/1.1 200 OK\rX\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 16},
    {"header without colon", "HTTP/1.1 200 OK\r\nServer nginx\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 23},
    {"header line without colon at its end",
     "HTTP/1.1 200 OK\r\nServer\r\n\r\n", 0, 0, 0, SBX_HTTP_ERROR,
     SBX_HTTP_E_SYNTAX, 200, 0, NULL, 23},
    {"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", 0,
     0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 31},
    {"empty header name", "HTTP/1.1 200 OK\r\n: x\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 17},
    {"obs-fold", "HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 25},
    {"whitespace before the first header",
     "HTTP/1.1 200 OK\r\n\tX-A: b\r\n\r\n", 0, 0, 0, SBX_HTTP_ERROR,
     SBX_HTTP_E_SYNTAX, 200, 0, NULL, 17},
    {"bare CR in a value", "HTTP/1.1 200 OK\r\nX-A: b\rc\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 24},
    {"DEL in a value", "HTTP/1.1 200 OK\r\nX-A: b\x7f\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 23},
    {"Content-Length with letters",
     "HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 35},
    {"Content-Length negative", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
     0, 0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 33},
    {"Content-Length empty", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", 0,
     0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 33},
    {"Content-Length two numbers",
     "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", 0, 0, 0, SBX_HTTP_ERROR,
     SBX_HTTP_E_SYNTAX, 200, 0, NULL, 35},
    {"Content-Length over max_body",
     "HTTP/1.1 200 OK\r\nContent-Length: 16777217\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_BODY_LIMIT, 200, 0, NULL, 44},
    {"Content-Length at max_body is fine (HEAD)",
     "HTTP/1.1 200 OK\r\nContent-Length: 16777216\r\n\r\n", 1, 0, 0,
     SBX_HTTP_DONE, 0, 200, 1, "", ALL},
    {"Content-Length past 64 bits",
     "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 52},
    {"conflicting Content-Length lines",
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
     0, 0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 53},
    {"conflicting Content-Length list",
     "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 37},
    {"Transfer-Encoding gzip",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 40},
    {"Transfer-Encoding gzip, chunked",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 40},
    {"Transfer-Encoding chunked, gzip",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 49},
    {"Transfer-Encoding chunked twice",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
     "Transfer-Encoding: chunked\r\n\r\n",
     0, 0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 71},
    {"Transfer-Encoding with a parameter",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 43},
    {"Transfer-Encoding on HTTP/1.0",
     "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 0, NULL, 46},
    {"chunk size not hex",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 1, NULL, 47},
    {"chunk size with leading space",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n", 0,
     0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 1, NULL, 47},
    {"chunk size 0x5",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n", 0,
     0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 1, NULL, 48},
    {"chunk size with trailing space",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n", 0,
     0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 1, NULL, 49},
    {"chunk size overflow (17 digits)",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "10000000000000000\r\n",
     0, 0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 1, NULL, 63},
    {"chunk size of 16 digits over max_body",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "ffffffffffffffff\r\n",
     0, 0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_BODY_LIMIT, 200, 1, NULL, 64},
    {"chunk size line with a bare LF",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n", 0, 0,
     0, SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 1, NULL, 48},
    {"missing CRLF after chunk data",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5\r\nhelloX\r\n0\r\n\r\n",
     0, 0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 1, NULL, 55},
    {"bare LF after chunk data",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5\r\nhello\n0\r\n\r\n",
     0, 0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 1, NULL, 55},
    {"obs-fold in trailers",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\nX-T: 1\r\n 2\r\n\r\n",
     0, 0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 1, NULL, 58},
    {"101 Switching Protocols",
     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
     "Connection: Upgrade\r\n\r\n",
     0, 0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_UPGRADE, 101, 0, NULL, 33},

    {"bad minor version", "HTTP/1.x 200 OK\r\n\r\n", 0, 0, 0, SBX_HTTP_ERROR,
     SBX_HTTP_E_SYNTAX, 0, 0, NULL, 7},
    {"tab before the status code", "HTTP/1.1\t200 OK\r\n\r\n", 0, 0, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 0, 0, NULL, 8},
    {"Content-Length with OWS around elements",
     "HTTP/1.1 200 OK\r\nContent-Length: 2 ,2 \r\n\r\nab", 0, 0, 0,
     SBX_HTTP_DONE, 0, 200, 1, "ab", ALL},
    {"control byte in a chunk extension",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "1;a\x01\r\nx\r\n0\r\n\r\n",
     0, 0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 1, NULL, 50},
    {"whitespace then garbage after a chunk size",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "1 x\r\nx\r\n0\r\n\r\n",
     0, 0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 1, NULL, 49},
    {"CR without LF after chunk data",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "1\r\nx\rX0\r\n\r\n",
     0, 0, 0, SBX_HTTP_ERROR, SBX_HTTP_E_SYNTAX, 200, 1, NULL, 52},

    /* ---- limits (small_limits: 256 head bytes, 4 headers, 16 body) ---- */
    {"too many headers",
     "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"
     "E: 5\r\n\r\n",
     0, 0, 1, SBX_HTTP_ERROR, SBX_HTTP_E_HEAD_LIMIT, 200, 0, NULL, 41},
    {"trailers count against max_headers",
     "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\nT: 1\r\nU: 2\r\n\r\n",
     0, 0, 1, SBX_HTTP_ERROR, SBX_HTTP_E_HEAD_LIMIT, 200, 1, NULL, 68},
    {"body at max_body",
     "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n"
     "0123456789abcdef",
     0, 0, 1, SBX_HTTP_DONE, 0, 200, 1, "0123456789abcdef", ALL},
    {"chunked body over max_body",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "a\r\n0123456789\r\n7\r\n0123456\r\n0\r\n\r\n",
     0, 0, 1, SBX_HTTP_ERROR, SBX_HTTP_E_BODY_LIMIT, 200, 1, NULL, 64},
    {"read-until-close body over max_body",
     "HTTP/1.1 200 OK\r\n\r\n0123456789abcdefXYZ", 0, 1, 1, SBX_HTTP_ERROR,
     SBX_HTTP_E_BODY_LIMIT, 200, 0, NULL, 35},
    {"chunk extensions count against max_head_bytes",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "1;"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "\r\nx\r\n0\r\n\r\n",
     0, 0, 1, SBX_HTTP_ERROR, SBX_HTTP_E_HEAD_LIMIT, 200, 1, NULL, 258},
    {"interim heads count against max_head_bytes",
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n",
     0, 0, 1, SBX_HTTP_ERROR, SBX_HTTP_E_HEAD_LIMIT, 100, 0, NULL, 256},

    /* ---- the connection ends ---- */
    {"closed while idle", "", 0, 1, 0, SBX_HTTP_MORE, 0, 0, 0, NULL, 0},
    {"truncated body then eof (faultd /close-mid)",
     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
     "Content-Length: 1000\r\n\r\n0123456789",
     0, 1, 0, SBX_HTTP_ERROR, SBX_HTTP_E_TRUNCATED, 200, 1, NULL, ALL},
    {"eof inside the status line", "HTTP/1.1 20", 0, 1, 0, SBX_HTTP_ERROR,
     SBX_HTTP_E_TRUNCATED, 0, 0, NULL, ALL},
    {"eof inside the headers", "HTTP/1.1 200 OK\r\nContent-Le", 0, 1, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_TRUNCATED, 200, 0, NULL, ALL},
    {"eof after 100 Continue", "HTTP/1.1 100 Continue\r\n\r\n", 0, 1, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_TRUNCATED, 100, 0, NULL, ALL},
    {"eof inside chunked data",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", 0, 1, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_TRUNCATED, 200, 1, NULL, ALL},
    {"eof before the last chunk's final CRLF",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", 0, 1, 0,
     SBX_HTTP_ERROR, SBX_HTTP_E_TRUNCATED, 200, 1, NULL, ALL},
};

static void check_case(const struct tcase *tc) {
  const uint8_t *in = (const uint8_t *)tc->in;
  size_t len = strlen(tc->in);
  const struct outcome *o;
  run_all(tc->name, in, len, tc->small ? &small_limits : NULL, tc->head,
          tc->eof);
  if (ref_run.n < 1) {
    fprintf(stderr, "%s: no outcome (parser wants more input)\n", tc->name);
    test_failures++;
    return;
  }
  o = &ref_run.out[0];
  if (o->result != tc->result || o->err != tc->err || o->status != tc->status ||
      o->end != (tc->end == ALL ? len : tc->end) ||
      (tc->result == SBX_HTTP_DONE && o->keep_alive != tc->keep_alive)) {
    fprintf(stderr,
            "%s: got result %d err %d (%s) status %u keep_alive %d end %zu;"
            " want %d %d %u %d %zu\n",
            tc->name, o->result, o->err,
            sbx_http_strerror((enum sbx_http_error)o->err), o->status,
            o->keep_alive, o->end, tc->result, tc->err, tc->status,
            tc->keep_alive, tc->end == ALL ? len : tc->end);
    test_failures++;
  }
  if (tc->body != NULL) {
    size_t bl = strlen(tc->body);
    if (o->body_n != bl || memcmp(o->body, tc->body, bl) != 0 ||
        o->body_len != bl) {
      fprintf(stderr, "%s: body differs (%zu bytes, want %zu)\n", tc->name,
              o->body_n, bl);
      test_failures++;
    }
  }
}

/* ---- cases built at run time --------------------------------------------- */

static void test_pipelined(void) {
  static const char in[] =
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 5\r\n\r\n"
      "first"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "6\r\nsecond\r\n0\r\n\r\n"
      "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n"
      "Connection: close\r\n\r\nthird";
  size_t len = sizeof(in) - 1;
  const struct outcome *o = ref_run.out;
  run_all("pipelined", (const uint8_t *)in, len, NULL, 0, 1);
  CHECK_EQ_INT(ref_run.n, 4);
  CHECK_EQ_INT(o[0].result, SBX_HTTP_DONE);
  CHECK_EQ_INT(o[0].status, 200);
  CHECK_EQ_INT(o[0].keep_alive, 1);
  CHECK(o[0].body_n == 5 && memcmp(o[0].body, "first", 5) == 0);
  CHECK_EQ_INT(o[0].end, 65);
  CHECK_EQ_INT(o[1].result, SBX_HTTP_DONE);
  CHECK(o[1].body_n == 6 && memcmp(o[1].body, "second", 6) == 0);
  CHECK_EQ_INT(o[1].end, 65 + 47 + 16);
  CHECK_EQ_INT(o[2].result, SBX_HTTP_DONE);
  CHECK_EQ_INT(o[2].status, 404);
  CHECK_EQ_INT(o[2].keep_alive, 0);
  CHECK(o[2].body_n == 5 && memcmp(o[2].body, "third", 5) == 0);
  CHECK_EQ_INT(o[2].end, len);
  /* then the peer closes between responses */
  CHECK_EQ_INT(o[3].result, SBX_HTTP_MORE);
  CHECK_EQ_INT(o[3].err, SBX_HTTP_E_NONE);
}

/* A head line longer than any buffer: fine for a header we ignore, and a
 * Connection value of that length is still read to its end. */
static void test_long_lines(void) {
  static char in[8192];
  size_t n = 0, k;
  const char *a = "HTTP/1.1 200 OK\r\nSet-Cookie: sid=";
  const char *b = "; Path=/; HttpOnly\r\nConnection: x-";
  const char *c = ", close\r\nContent-Length: 2\r\n\r\nok";
  memcpy(in, a, strlen(a));
  n = strlen(a);
  for (k = 0; k < 2000; k++)
    in[n++] = (char)('a' + k % 26);
  memcpy(in + n, b, strlen(b));
  n += strlen(b);
  for (k = 0; k < 1000; k++)
    in[n++] = (char)('a' + k % 26);
  memcpy(in + n, c, strlen(c));
  n += strlen(c);
  run_all("long lines", (const uint8_t *)in, n, NULL, 0, 0);
  CHECK_EQ_INT(ref_run.n, 1);
  CHECK_EQ_INT(ref_run.out[0].result, SBX_HTTP_DONE);
  CHECK_EQ_INT(ref_run.out[0].keep_alive, 0);
  CHECK_EQ_INT(ref_run.out[0].end, n);
  CHECK(ref_run.out[0].body_n == 2 &&
        memcmp(ref_run.out[0].body, "ok", 2) == 0);
}

/* The default limits: 101 headers, and a head over 64 KiB. */
static void test_default_head_limits(void) {
  static char in[80 * 1024];
  size_t n, k;
  n = (size_t)snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\n");
  for (k = 0; k < 101; k++)
    n += (size_t)snprintf(in + n, sizeof(in) - n, "X-H%zu: v\r\n", k);
  n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n");
  run_all("101 headers", (const uint8_t *)in, n, NULL, 0, 0);
  CHECK_EQ_INT(ref_run.out[0].result, SBX_HTTP_ERROR);
  CHECK_EQ_INT(ref_run.out[0].err, SBX_HTTP_E_HEAD_LIMIT);

  n = (size_t)snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nX-Big: ");
  while (n < 70 * 1024)
    in[n++] = 'v';
  memcpy(in + n, "\r\n\r\n", 4);
  n += 4;
  run_all("head over 64 KiB", (const uint8_t *)in, n, NULL, 0, 0);
  CHECK_EQ_INT(ref_run.out[0].result, SBX_HTTP_ERROR);
  CHECK_EQ_INT(ref_run.out[0].err, SBX_HTTP_E_HEAD_LIMIT);
  CHECK_EQ_INT(ref_run.out[0].end, 64 * 1024);
}

/* A body larger than one read, in many chunks: spans go out as they come. */
static void test_big_chunked(void) {
  static char in[64 * 1024];
  size_t n, k, total = 0;
  n = (size_t)snprintf(in, sizeof(in),
                       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (k = 1; k <= 60; k++) {
    size_t j;
    n += (size_t)snprintf(in + n, sizeof(in) - n, "%zX\r\n", k * 7);
    for (j = 0; j < k * 7; j++)
      in[n++] = 'x';
    in[n++] = '\r';
    in[n++] = '\n';
    total += k * 7;
  }
  n += (size_t)snprintf(in + n, sizeof(in) - n, "0\r\n\r\n");
  run_all("big chunked", (const uint8_t *)in, n, NULL, 0, 0);
  CHECK_EQ_INT(ref_run.out[0].result, SBX_HTTP_DONE);
  CHECK_EQ_INT(ref_run.out[0].body_len, total);
  CHECK_EQ_INT(ref_run.out[0].end, n);
}

static void test_callback_stop(void) {
  static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
                           "0123456789";
  struct run r;
  size_t cut = 42;
  run_stream((const uint8_t *)in, sizeof(in) - 1, NULL, 0, NULL, 0, 0, 1, &r);
  CHECK_EQ_INT(r.n, 1);
  CHECK_EQ_INT(r.out[0].result, SBX_HTTP_ERROR);
  CHECK_EQ_INT(r.out[0].err, SBX_HTTP_E_CALLBACK);
  CHECK_EQ_INT(r.out[0].end, 39); /* the span it refused is not consumed */
  CHECK_EQ_INT(r.out[0].body_len, 0);
  /* in two pieces: the first span is taken, the second refused */
  run_stream((const uint8_t *)in, sizeof(in) - 1, &cut, 1, NULL, 0, 0, 8, &r);
  CHECK_EQ_INT(r.out[0].result, SBX_HTTP_ERROR);
  CHECK_EQ_INT(r.out[0].err, SBX_HTTP_E_CALLBACK);
  CHECK_EQ_INT(r.out[0].end, 42);
  CHECK_EQ_INT(r.out[0].body_len, 3);
}

/* Finished or failed parsers stay that way until reset; NULL callback and
 * NULL used are allowed; limits default. */
static void test_api(void) {
  static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
  struct sbx_http_parser p;
  size_t used = 99;
  int e;
  sbx_http_parser_init(&p, NULL, NULL, NULL);
  CHECK_EQ_INT(p.lim.max_head_bytes, 64 * 1024);
  CHECK_EQ_INT(p.lim.max_headers, 100);
  CHECK_EQ_INT(p.lim.max_body, 16 * 1024 * 1024);
  CHECK_EQ_INT(sbx_http_parse_eof(&p), SBX_HTTP_MORE);
  CHECK_EQ_INT(p.err, SBX_HTTP_E_NONE);
  CHECK_EQ_INT(sbx_http_parse(&p, NULL, 0, &used), SBX_HTTP_MORE);
  CHECK_EQ_INT(used, 0);
  CHECK_EQ_INT(sbx_http_parse(&p, (const uint8_t *)ok, sizeof(ok) - 1, NULL),
               SBX_HTTP_DONE);
  CHECK_EQ_INT(p.body_len, 2);
  CHECK_EQ_INT(sbx_http_parse(&p, (const uint8_t *)ok, 5, &used),
               SBX_HTTP_DONE);
  CHECK_EQ_INT(used, 0);
  CHECK_EQ_INT(sbx_http_parse_eof(&p), SBX_HTTP_DONE);
  sbx_http_parser_reset(&p, 0);
  CHECK_EQ_INT(p.status, 0);
  CHECK_EQ_INT(p.body_len, 0);
  CHECK_EQ_INT(sbx_http_parse(&p, (const uint8_t *)"XTTP", 4, &used),
               SBX_HTTP_ERROR);
  CHECK_EQ_INT(used, 0);
  CHECK_EQ_INT(p.err, SBX_HTTP_E_SYNTAX);
  CHECK_EQ_INT(sbx_http_parse(&p, (const uint8_t *)ok, sizeof(ok) - 1, &used),
               SBX_HTTP_ERROR);
  CHECK_EQ_INT(sbx_http_parse_eof(&p), SBX_HTTP_ERROR);
  CHECK_EQ_INT(p.err, SBX_HTTP_E_SYNTAX);
  sbx_http_parser_reset(&p, 0);
  CHECK_EQ_INT(sbx_http_parse(&p, (const uint8_t *)ok, sizeof(ok) - 1, &used),
               SBX_HTTP_DONE);
  CHECK_EQ_INT(used, sizeof(ok) - 1);

  for (e = SBX_HTTP_E_NONE; e <= SBX_HTTP_E_CALLBACK; e++) {
    const char *s = sbx_http_strerror((enum sbx_http_error)e);
    CHECK(s != NULL && s[0] != '\0');
  }
  CHECK_EQ_STR(sbx_http_strerror(SBX_HTTP_E_SYNTAX), "malformed response");
  CHECK(sbx_http_strerror((enum sbx_http_error)99) != NULL);
}

int main(void) {
  size_t k;
  for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
    check_case(&cases[k]);
  test_pipelined();
  test_long_lines();
  test_default_head_limits();
  test_big_chunked();
  test_callback_stop();
  test_api();
  return TEST_RESULT();
}
