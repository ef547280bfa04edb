/* fuzz_connect_envelope.c - arbitrary bytes as a Connect stream, cut into
 * arbitrary fragments, and as end-of-stream and error bodies.
 *
 * Input: byte 0 picks max_msg and after how many messages the callback
 * stops the reader; byte 1 seeds the fragment sizes; the rest is the
 * stream. The reader fed in fragments must hand out exactly the envelopes
 * (flags, length, bytes) and the result that one feed of everything gives;
 * no message may exceed max_msg or carry the compressed flag. The same
 * bytes then go to sbx_connect_parse_end and sbx_connect_parse_error, whose
 * messages must come back NUL-terminated within their buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connect.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEEN 4096

struct seen {
  size_t n;
  uint8_t flags[MAX_SEEN];
  size_t len[MAX_SEEN];
  uint32_t hash[MAX_SEEN];
  size_t max_msg;
  size_t stop_after; /* 0: never */
};

static uint32_t fnv(const uint8_t *p, size_t n) {
  uint32_t h = 2166136261u;
  size_t i;
  for (i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

static int on_msg(uint8_t flags, const uint8_t *msg, size_t len, void *arg) {
  struct seen *s = arg;
  if (len > s->max_msg || (flags & SBX_CONNECT_FLAG_COMPRESSED))
    abort();
  if (s->n < MAX_SEEN) {
    s->flags[s->n] = flags;
    s->len[s->n] = len;
    s->hash[s->n] = fnv(msg, len);
  }
  s->n++;
  return s->stop_after && s->n >= s->stop_after ? 1 : 0;
}

static void check_text(const char *msg, size_t cap) {
  if (memchr(msg, '\0', cap) == NULL)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct seen whole, parts;
  struct sbx_connect_reader r;
  const uint8_t *stream;
  size_t n, off = 0, max_msg;
  uint32_t rng;
  int rc_whole, rc_parts = 0, fin_whole, fin_parts;
  char msg[48];
  int code;

  if (size < 2)
    return 0;
  max_msg = (data[0] & 0x0f) == 0x0f ? 64u * 1024 * 1024
                                     : (size_t)(data[0] & 0x0f) * 16;
  stream = data + 2;
  n = size - 2;

  memset(&whole, 0, sizeof(whole));
  whole.max_msg = max_msg;
  whole.stop_after = data[0] >> 4;
  sbx_connect_reader_init(&r, max_msg);
  rc_whole = sbx_connect_reader_feed(&r, stream, n, on_msg, &whole);
  fin_whole = sbx_connect_reader_finish(&r);
  sbx_connect_reader_free(&r);

  memset(&parts, 0, sizeof(parts));
  parts.max_msg = max_msg;
  parts.stop_after = data[0] >> 4;
  sbx_connect_reader_init(&r, max_msg);
  rng = data[1] * 2654435761u + 1;
  while (off < n && rc_parts == 0) {
    size_t k;
    rng = rng * 1103515245u + 12345u;
    k = 1 + (rng >> 16) % (data[1] % 16 == 0 ? 64 : data[1] % 16);
    if (k > n - off)
      k = n - off;
    rc_parts = sbx_connect_reader_feed(&r, stream + off, k, on_msg, &parts);
    off += k;
  }
  fin_parts = sbx_connect_reader_finish(&r);
  /* a failed reader stays failed */
  if (rc_parts != 0 &&
      sbx_connect_reader_feed(&r, stream, n, on_msg, &parts) != SBX_EPROTO)
    abort();
  sbx_connect_reader_free(&r);

  if (rc_whole != rc_parts || fin_whole != fin_parts || whole.n != parts.n)
    abort();
  if (rc_whole != 0 && rc_whole != 1 && rc_whole != SBX_EPROTO)
    abort();
  {
    size_t i, m = whole.n < MAX_SEEN ? whole.n : MAX_SEEN;
    for (i = 0; i < m; i++)
      if (whole.flags[i] != parts.flags[i] || whole.len[i] != parts.len[i] ||
          whole.hash[i] != parts.hash[i])
        abort();
  }

  code = -1;
  rc_whole = sbx_connect_parse_end(stream, n, &code, msg, sizeof(msg));
  if ((rc_whole != 0 && rc_whole != SBX_EPROTO) || code < 0 || code > 16 ||
      (rc_whole != 0 && code == 0))
    abort();
  check_text(msg, sizeof(msg));
  code = -1;
  sbx_connect_parse_error(data[0] * 3u, stream, n, &code, msg, sizeof(msg));
  if (code <= 0 || code > 16) /* an error is never "ok" */
    abort();
  check_text(msg, sizeof(msg));
  return 0;
}
