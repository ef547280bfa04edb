/* fuzz_http_parse.c - arbitrary bytes as a stream of HTTP/1.1 responses.
 *
 * Input: byte 0 picks options (HEAD request, small limits, how coarse the
 * split is), byte 1 seeds the split points, the rest is what the product
 * sent. The stream is parsed the way a connection would (reset after each
 * response, eof at the end) once in one piece and once cut at points drawn
 * from the seed; both runs must agree exactly (results, errors, statuses,
 * keep_alive, body bytes, offsets). Also checked on every call: used never
 * exceeds len, MORE consumes everything, body spans lie inside the piece
 * given, body_len counts what the callback received, and the error field
 * is set exactly when the result is ERROR.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OUT 64

struct outcome {
  int result;
  int err;
  uint32_t status;
  int keep_alive;
  uint64_t body_len;
  uint64_t body_hash;
  size_t end;
};

struct trace {
  int n;
  struct outcome out[MAX_OUT];
  const uint8_t *lo, *hi; /* the piece being fed */
  uint64_t hash;          /* FNV-1a of this response's body so far */
  uint64_t got;           /* body bytes received for this response */
};

static int on_body(void *arg, const uint8_t *p, size_t n) {
  struct trace *t = arg;
  size_t i;
  if (n == 0 || p < t->lo || p > t->hi || n > (size_t)(t->hi - p))
    abort();
  for (i = 0; i < n; i++)
    t->hash = (t->hash ^ p[i]) * 1099511628211ull;
  t->got += n;
  return 0;
}

static uint64_t next_rand(uint64_t *s) {
  /* xorshift64 */
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void record(struct trace *t, const struct sbx_http_parser *p, int result,
                   size_t end) {
  struct outcome *o = &t->out[t->n++];
  if ((result == SBX_HTTP_ERROR) != (p->err != SBX_HTTP_E_NONE))
    abort();
  if (result == SBX_HTTP_DONE) {
    if (p->status < 200 || p->status > 599 || p->body_len != t->got)
      abort();
  }
  o->result = result;
  o->err = p->err;
  o->status = p->status;
  o->keep_alive = result == SBX_HTTP_DONE ? p->keep_alive : 0;
  /* After an error, how much body went out depends on the split. */
  o->body_len = result == SBX_HTTP_ERROR ? 0 : p->body_len;
  o->body_hash = result == SBX_HTTP_ERROR ? 0 : t->hash;
  o->end = end;
  t->hash = 1469598103934665603ull;
  t->got = 0;
}

/* max_piece == 0: one piece. */
static void run(const uint8_t *in, size_t len, int head,
                const struct sbx_http_limits *lim, uint64_t seed,
                size_t max_piece, struct trace *t) {
  struct sbx_http_parser p;
  size_t a = 0;
  memset(t, 0, sizeof(*t));
  t->hash = 1469598103934665603ull;
  sbx_http_parser_init(&p, lim, on_body, t);
  sbx_http_parser_reset(&p, head);
  while (a < len) {
    size_t b = len, off = a;
    if (max_piece > 0) {
      size_t k = 1 + (size_t)(next_rand(&seed) % max_piece);
      if (k < len - a)
        b = a + k;
    }
    while (off < b) {
      size_t used = (size_t)-1;
      enum sbx_http_result r;
      t->lo = in + off;
      t->hi = in + b;
      r = sbx_http_parse(&p, in + off, b - off, &used);
      if (used > b - off)
        abort();
      if (r == SBX_HTTP_MORE) {
        if (used != b - off || p.err != SBX_HTTP_E_NONE)
          abort();
        break;
      }
      record(t, &p, r, off + used);
      if (r == SBX_HTTP_ERROR || t->n == MAX_OUT - 1)
        return;
      if (used == 0 && r == SBX_HTTP_DONE)
        abort(); /* a response is at least a status line */
      off += used;
      sbx_http_parser_reset(&p, head);
    }
    a = b;
  }
  record(t, &p, sbx_http_parse_eof(&p), len);
}

static struct trace whole, split;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const struct sbx_http_limits small = {96, 3, 40};
  static const size_t pieces[4] = {1, 3, 17, 300};
  const struct sbx_http_limits *lim;
  uint64_t seed;
  int head, i;
  if (size < 2)
    return 0;
  head = data[0] & 1;
  lim = (data[0] & 2) ? &small : NULL;
  seed = 0x9e3779b97f4a7c15ull ^ ((uint64_t)data[1] << 32) ^ size;
  run(data + 2, size - 2, head, lim, 0, 0, &whole);
  run(data + 2, size - 2, head, lim, seed, pieces[(data[0] >> 2) & 3], &split);
  if (whole.n != split.n)
    abort();
  for (i = 0; i < whole.n; i++) {
    const struct outcome *x = &whole.out[i], *y = &split.out[i];
    if (x->result != y->result || x->err != y->err || x->status != y->status ||
        x->keep_alive != y->keep_alive || x->body_len != y->body_len ||
        x->body_hash != y->body_hash || x->end != y->end)
      abort();
  }
  return 0;
}
