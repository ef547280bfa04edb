/* http_parse.c - an incremental HTTP/1.1 response parser (see http_parse.h).
 *
 * One state machine, driven a byte at a time through the head and a span at
 * a time through body data, so that any split of the input gives the same
 * result as one piece: every decision (and every error, with its offset) is
 * taken on a definite byte, never on where a piece happens to end. The
 * usual head goes through a fast lane (head_lane) that takes runs of bytes
 * only where the byte path would take the same steps; it halves the cost
 * of a typical nginx head, and anything unusual is left to the byte path.
 * Nothing is buffered: the few values that matter (status, Content-Length,
 * Transfer-Encoding and Connection list elements, chunk sizes) are folded
 * into numbers and a short token as their bytes arrive, so header lines of
 * any length cost nothing but their count against max_head_bytes.
 *
 * Choices, where RFC 9112 leaves room:
 * - Status line, header and trailer lines end in CRLF or a bare LF; chunk
 *   framing (size lines, the CRLF after chunk data) must be CRLF.
 * - Every 1xx but 101 is interim and skipped with its headers (RFC 9110
 *   15.2 asks clients to accept unknown 1xx). max_head_bytes counts all the
 *   head bytes of one exchange, interim heads, chunk extensions and
 *   trailers included, so an endless stream of 1xx or extensions is bounded;
 *   max_headers counts per response (trailers count with their response).
 * - Transfer-Encoding must be exactly "chunked" (once, no parameters); any
 *   other coding is refused rather than passed on undecoded. With both
 *   Transfer-Encoding and Content-Length the chunked framing wins, and the
 *   connection is not reused (keep_alive = 0): such a message is a
 *   smuggling smell. Transfer-Encoding on HTTP/1.0 is faulty framing and
 *   refused.
 * - Content-Length that does not fit 64 bits is malformed (E_SYNTAX); one
 *   that fits but is over max_body is E_BODY_LIMIT at the end of the head.
 * - Values of headers we do not interpret may hold any VCHAR, obs-text,
 *   SP or HTAB; other control bytes (NUL, bare CR, DEL, ...) are refused.
 * - After DONE or ERROR, sbx_http_parse consumes nothing and returns the
 *   same result until sbx_http_parser_reset.
 */
#include "http_parse.h"

#include <string.h>

#define DEFAULT_MAX_HEAD_BYTES (64u * 1024u)
#define DEFAULT_MAX_HEADERS 100u
#define DEFAULT_MAX_BODY ((uint64_t)16 * 1024 * 1024)
#define MAX_CHUNK_SIZE_DIGITS 16 /* 16 hex digits fill 64 bits exactly */

enum state {
  S_IDLE,        /* nothing of a response read yet */
  S_VERSION,     /* "HTTP/1." (tok_len bytes matched) */
  S_MINOR,       /* the minor version digit */
  S_SP1,         /* the space before the status code */
  S_CODE,        /* three digits */
  S_AFTER_CODE,  /* space before the reason, or the line end */
  S_REASON,      /* reason phrase */
  S_STATUS_LF,   /* LF after the status line's CR */
  S_LINE_START,  /* start of a header (or trailer) line */
  S_NAME,        /* field name */
  S_VALUE,       /* value of a field we do not interpret */
  S_LIST,        /* value of Content-Length, Transfer-Encoding, Connection */
  S_VALUE_LF,    /* LF after a field line's CR */
  S_HEAD_LF,     /* LF after the CR of the empty line ending a section */
  S_BODY_LEN,    /* Content-Length body data */
  S_BODY_EOF,    /* read-until-close body data */
  S_CHUNK_START, /* first hex digit of a chunk size */
  S_CHUNK_SIZE,  /* more hex digits */
  S_CHUNK_WS,    /* whitespace after the size: only before ';' */
  S_CHUNK_EXT,   /* chunk extensions, skipped */
  S_CHUNK_LF,    /* LF ending the chunk size line */
  S_CHUNK_DATA,  /* chunk data */
  S_DATA_CR,     /* CR after chunk data */
  S_DATA_LF,     /* LF after chunk data */
  S_DONE,
  S_ERROR
};

enum hkind { H_OTHER, H_CONTENT_LENGTH, H_TRANSFER_ENCODING, H_CONNECTION };

enum vstate { V_PRE, V_TOK, V_POST };

static const char http_prefix[] = "HTTP/1.";
/* RFC 9110 tchar, as a table: header names are scanned byte by byte on
 * every response, so this is on the hot path. */
static const uint8_t tchar_tab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* A byte allowed inside a field value or reason phrase (VCHAR, obs-text,
 * SP, HTAB), as a table for the fast lane; is_vchar below says the same. */
static const uint8_t vchar_tab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

static int is_tchar(uint8_t c) {
  return tchar_tab[c];
}

/* A byte allowed inside a field value or reason phrase: VCHAR, obs-text,
 * SP, HTAB. */
static int is_vchar(uint8_t c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int is_digit(uint8_t c) {
  return c >= '0' && c <= '9';
}

static int is_ows(uint8_t c) {
  return c == ' ' || c == '\t';
}

static int hex_value(uint8_t c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static int counts_as_head(int state) {
  return state <= S_HEAD_LF || state == S_CHUNK_WS || state == S_CHUNK_EXT;
}

/* Appends c, lowercased, to the current name or token; tok_len keeps
 * counting past the buffer so long names simply match nothing. */
static void tok_add(struct sbx_http_parser *p, uint8_t c) {
  if (p->tok_len < sizeof(p->tok))
    p->tok[p->tok_len] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
  if (p->tok_len < UINT32_MAX)
    p->tok_len++;
}

static int tok_is(const struct sbx_http_parser *p, const char *s) {
  size_t n = strlen(s);
  return p->tok_len == n && n <= sizeof(p->tok) && memcmp(p->tok, s, n) == 0;
}

static int classify_name(const struct sbx_http_parser *p) {
  /* Interim responses and trailers never frame the message. */
  if (p->in_trailer || p->status < 200)
    return H_OTHER;
  if (tok_is(p, "content-length"))
    return H_CONTENT_LENGTH;
  if (tok_is(p, "transfer-encoding"))
    return H_TRANSFER_ENCODING;
  if (tok_is(p, "connection"))
    return H_CONNECTION;
  return H_OTHER;
}

/* A list element of the current value is complete. 0, or -1 if it
 * contradicts the message so far. */
static int elem_end(struct sbx_http_parser *p) {
  p->elems++;
  switch (p->hkind) {
  case H_CONTENT_LENGTH:
    if (p->have_length && p->length != p->num)
      return -1; /* differing lengths: which framing is real? */
    p->have_length = 1;
    p->length = p->num;
    return 0;
  case H_TRANSFER_ENCODING:
    /* Only chunked, and only once: we do not decode anything else. */
    if (!tok_is(p, "chunked") || p->chunked)
      return -1;
    p->chunked = 1;
    return 0;
  default:
    if (tok_is(p, "close"))
      p->conn_close = 1;
    else if (tok_is(p, "keep-alive"))
      p->conn_keep_alive = 1;
    return 0;
  }
}

static int elem_char(const struct sbx_http_parser *p, uint8_t c) {
  if (p->hkind == H_CONTENT_LENGTH)
    return c >= '0' && c <= '9';
  return is_tchar(c);
}

static int elem_add(struct sbx_http_parser *p, uint8_t c) {
  if (p->hkind == H_CONTENT_LENGTH) {
    uint64_t d = (uint64_t)(c - '0');
    if (p->num > (UINT64_MAX - d) / 10)
      return -1;
    p->num = p->num * 10 + d;
    return 0;
  }
  tok_add(p, c);
  return 0;
}

/* One byte of a comma-separated list value (RFC 9110 5.6.1: empty
 * elements and OWS around them are allowed). Returns 0, or -1 when the
 * value is malformed. */
static int list_byte(struct sbx_http_parser *p, uint8_t c) {
  int eol = c == '\r' || c == '\n';
  switch (p->vstate) {
  case V_PRE:
    if (is_ows(c) || c == ',')
      return 0;
    if (eol)
      break;
    if (!elem_char(p, c))
      return -1;
    p->num = 0;
    p->tok_len = 0;
    p->vstate = V_TOK;
    return elem_add(p, c);
  case V_TOK:
    if (elem_char(p, c))
      return elem_add(p, c);
    if (!is_ows(c) && c != ',' && !eol)
      return -1;
    if (elem_end(p) != 0)
      return -1;
    p->vstate = c == ',' ? V_PRE : V_POST;
    if (!eol)
      return 0;
    break;
  default:
    if (is_ows(c))
      return 0;
    if (c == ',') {
      p->vstate = V_PRE;
      return 0;
    }
    if (!eol)
      return -1;
    break;
  }
  /* End of the line: a framing header must say something. */
  if (p->elems == 0 && p->hkind != H_CONNECTION)
    return -1;
  p->state = c == '\r' ? S_VALUE_LF : S_LINE_START;
  return 0;
}

/* The colon after a field name: how its value will be read. */
static void name_end(struct sbx_http_parser *p) {
  p->hkind = classify_name(p);
  if (p->hkind == H_OTHER) {
    p->state = S_VALUE;
  } else {
    p->state = S_LIST;
    p->vstate = V_PRE;
    p->elems = 0;
  }
}

/* Appends the token bytes b[0..n) to the current name or token, as n
 * calls of tok_add would. */
static void tok_add_run(struct sbx_http_parser *p, const uint8_t *b, size_t n) {
  uint32_t t = p->tok_len;
  if (t < sizeof(p->tok)) {
    size_t k, m = sizeof(p->tok) - t < n ? sizeof(p->tok) - t : n;
    for (k = 0; k < m; k++)
      p->tok[t + k] = (b[k] >= 'A' && b[k] <= 'Z') ? (uint8_t)(b[k] + 32) : b[k];
  }
  p->tok_len = n > UINT32_MAX - t ? UINT32_MAX : t + (uint32_t)n;
}

/* "HTTP/1.x ddd" and the space after it, all at once, when b[0..13) holds
 * a well-formed start of a status line. Returns the bytes taken (12 or 13)
 * with the state the byte path would have reached, or 0 to leave every
 * byte, and the error if there is one, to the byte path. */
static size_t status_line_lane(struct sbx_http_parser *p, const uint8_t *b) {
  uint32_t code;
  if (memcmp(b, http_prefix, sizeof(http_prefix) - 1) != 0 ||
      !is_digit(b[7]) || b[8] != ' ' || !is_digit(b[9]) || !is_digit(b[10]) ||
      !is_digit(b[11]))
    return 0;
  code = (uint32_t)(b[9] - '0') * 100 + (uint32_t)(b[10] - '0') * 10 +
         (uint32_t)(b[11] - '0');
  if (code < 100 || code > 599)
    return 0;
  p->tok_len = sizeof(http_prefix) - 1;
  p->version_minor = b[7] - '0';
  p->num = code;
  p->digits = 3;
  p->status = code;
  if (b[12] == ' ') {
    p->state = S_REASON;
    return 13;
  }
  p->state = S_AFTER_CODE;
  return 12;
}

/* Where the run of value bytes (vchar_tab) starting at buf[i] ends, before
 * stop. Eight bytes at a time while none of them is a control byte or DEL
 * (a word with a tab, CR or LF is finished byte by byte): dates, types and
 * cookies are most of a head. */
static size_t value_run(const uint8_t *buf, size_t i, size_t stop) {
  const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  while (stop - i >= 8) {
    uint64_t w, del;
    memcpy(&w, buf + i, 8);
    del = w ^ (0x7f * ones);
    /* Bytes under 0x20 (obs-text, with its high bit set, never counts) or
     * equal to 0x7f: exact as a yes/no, which is all that is asked. */
    if (((w - 0x20 * ones) & ~w & highs) != 0 ||
        ((del - ones) & ~del & highs) != 0)
      break;
    i += 8;
  }
  while (i < stop && vchar_tab[buf[i]])
    i++;
  return i;
}

/* The head's common case a run at a time: the status line's start, whole
 * field lines of well-formed names and values ending in CRLF, and the
 * token runs of list values. It takes bytes i..stop of buf (stop is where
 * the input or the head limit ends) only where the byte path would take
 * the very same steps without an error, and returns where it stopped, so
 * results, errors and their offsets stay those of the byte path, however
 * the input is split. Counters are kept in locals and p->tok is written
 * once per run: a uint8_t store may alias anything, so a store per byte
 * would make the compiler reload every field of p after each byte. */
static size_t head_lane(struct sbx_http_parser *p, const uint8_t *buf,
                        size_t i, size_t stop) {
  size_t j = i, k;
  for (;;) {
    switch (p->state) {
    case S_IDLE:
    case S_VERSION:
      if ((p->state == S_VERSION && p->tok_len != 0) || stop - j < 13)
        return j;
      k = status_line_lane(p, buf + j);
      if (k == 0)
        return j;
      j += k;
      break;
    case S_REASON:
    case S_VALUE:
      j = value_run(buf, j, stop);
      if (stop - j < 2 || buf[j] != '\r' || buf[j + 1] != '\n' ||
          (p->state == S_REASON && p->status == 101))
        return j;
      j += 2;
      p->state = S_LINE_START;
      break;
    case S_LINE_START:
      if (j == stop || !tchar_tab[buf[j]] || p->headers >= p->lim.max_headers)
        return j;
      p->headers++;
      p->tok_len = 0;
      p->state = S_NAME;
      /* the name starts with this byte */
      /* fall through */
    case S_NAME:
      k = j;
      while (j < stop && tchar_tab[buf[j]])
        j++;
      tok_add_run(p, buf + k, j - k);
      if (j == stop || buf[j] != ':')
        return j;
      name_end(p);
      j++;
      break;
    case S_LIST:
      if (p->vstate == V_PRE) {
        while (j < stop && (is_ows(buf[j]) || buf[j] == ','))
          j++;
        if (j == stop || !elem_char(p, buf[j]))
          return j;
        p->num = 0;
        p->tok_len = 0;
        p->vstate = V_TOK;
      } else if (p->vstate != V_TOK) {
        return j;
      }
      if (p->hkind == H_CONTENT_LENGTH) {
        uint64_t num = p->num;
        while (j < stop && is_digit(buf[j])) {
          uint64_t d = (uint64_t)(buf[j] - '0');
          if (num > (UINT64_MAX - d) / 10)
            break; /* the byte path reports the overflow */
          num = num * 10 + d;
          j++;
        }
        p->num = num;
      } else {
        k = j;
        while (j < stop && tchar_tab[buf[j]])
          j++;
        tok_add_run(p, buf + k, j - k);
      }
      return j;
    default:
      return j;
    }
  }
}

/* The empty line after a head: decides how the body is framed (RFC 9112
 * 6.3). Sets the next state (S_DONE when there is no body) and returns
 * E_NONE or the error. */
static enum sbx_http_error head_end(struct sbx_http_parser *p) {
  if (p->status < 200) {
    /* Interim: the final response follows on the same connection. */
    p->state = S_VERSION;
    p->tok_len = 0;
    p->headers = 0;
    return SBX_HTTP_E_NONE;
  }
  if (p->version_minor >= 1)
    p->keep_alive = !p->conn_close;
  else
    p->keep_alive = p->conn_keep_alive && !p->conn_close;
  if (p->head_request || p->status == 204 || p->status == 304) {
    p->state = S_DONE;
    return SBX_HTTP_E_NONE;
  }
  if (p->chunked) {
    if (p->version_minor == 0)
      return SBX_HTTP_E_SYNTAX;
    if (p->have_length)
      p->keep_alive = 0;
    p->state = S_CHUNK_START;
    return SBX_HTTP_E_NONE;
  }
  if (p->have_length) {
    if (p->length > p->lim.max_body)
      return SBX_HTTP_E_BODY_LIMIT;
    p->state = p->length > 0 ? S_BODY_LEN : S_DONE;
    return SBX_HTTP_E_NONE;
  }
  p->until_close = 1;
  p->keep_alive = 0;
  p->state = S_BODY_EOF;
  return SBX_HTTP_E_NONE;
}

static int deliver(struct sbx_http_parser *p, const uint8_t *b, size_t n) {
  if (n == 0)
    return 0;
  if (p->on_body != NULL && p->on_body(p->arg, b, n) != 0)
    return -1;
  p->body_len += n;
  return 0;
}

void sbx_http_parser_init(struct sbx_http_parser *p,
                          const struct sbx_http_limits *lim,
                          sbx_http_body_cb on_body, void *arg) {
  memset(p, 0, sizeof(*p));
  if (lim != NULL)
    p->lim = *lim;
  if (p->lim.max_head_bytes == 0)
    p->lim.max_head_bytes = DEFAULT_MAX_HEAD_BYTES;
  if (p->lim.max_headers == 0)
    p->lim.max_headers = DEFAULT_MAX_HEADERS;
  if (p->lim.max_body == 0)
    p->lim.max_body = DEFAULT_MAX_BODY;
  p->on_body = on_body;
  p->arg = arg;
  sbx_http_parser_reset(p, 0);
}

void sbx_http_parser_reset(struct sbx_http_parser *p, int head_request) {
  struct sbx_http_limits lim = p->lim;
  sbx_http_body_cb on_body = p->on_body;
  void *arg = p->arg;
  memset(p, 0, sizeof(*p));
  p->lim = lim;
  p->on_body = on_body;
  p->arg = arg;
  p->head_request = head_request != 0;
  p->state = S_IDLE;
  p->err = SBX_HTTP_E_NONE;
}

enum sbx_http_result sbx_http_parse(struct sbx_http_parser *p,
                                    const uint8_t *buf, size_t len,
                                    size_t *used) {
  enum sbx_http_error e = SBX_HTTP_E_SYNTAX;
  size_t dummy, i = 0;

  if (used == NULL)
    used = &dummy;
  if (p->state == S_DONE) {
    *used = 0;
    return SBX_HTTP_DONE;
  }
  if (p->state == S_ERROR) {
    *used = 0;
    return SBX_HTTP_ERROR;
  }
  while (i < len) {
    uint8_t c;

    /* Body data goes out in spans. */
    if (p->state == S_BODY_LEN || p->state == S_CHUNK_DATA) {
      size_t n = len - i;
      if ((uint64_t)n > p->length)
        n = (size_t)p->length;
      if (deliver(p, buf + i, n) != 0) {
        e = SBX_HTTP_E_CALLBACK;
        goto fail;
      }
      i += n;
      p->length -= n;
      if (p->length == 0) {
        if (p->state == S_BODY_LEN)
          goto done;
        p->state = S_DATA_CR;
      }
      continue;
    }
    if (p->state == S_BODY_EOF) {
      size_t n = len - i;
      uint64_t room = p->lim.max_body - p->body_len;
      int over = (uint64_t)n > room;
      if (over)
        n = (size_t)room; /* deliver up to the limit: split-independent */
      if (deliver(p, buf + i, n) != 0) {
        e = SBX_HTTP_E_CALLBACK;
        goto fail;
      }
      i += n;
      if (over) {
        e = SBX_HTTP_E_BODY_LIMIT;
        goto fail;
      }
      continue;
    }

    /* The usual head goes through a fast lane (see head_lane); whatever
     * it leaves, it leaves to the byte path below. */
    if (p->state <= S_LIST) {
      size_t room = p->lim.max_head_bytes - p->head_bytes;
      size_t stop = len - i < room ? len : i + room;
      size_t j = head_lane(p, buf, i, stop);
      if (j > i) {
        p->head_bytes += (uint32_t)(j - i);
        i = j;
        continue;
      }
    }

    c = buf[i];
    if (p->state == S_IDLE)
      p->state = S_VERSION;
    if (counts_as_head(p->state)) {
      if (p->head_bytes >= p->lim.max_head_bytes) {
        e = SBX_HTTP_E_HEAD_LIMIT;
        goto fail;
      }
      p->head_bytes++;
    }

    switch (p->state) {
    case S_VERSION:
      if (c != (uint8_t)http_prefix[p->tok_len])
        goto fail; /* not HTTP/1.x: HTTP/0.9, HTTP/2, garbage */
      if (++p->tok_len == sizeof(http_prefix) - 1)
        p->state = S_MINOR;
      break;
    case S_MINOR:
      if (c < '0' || c > '9')
        goto fail;
      p->version_minor = c - '0';
      p->state = S_SP1;
      break;
    case S_SP1:
      if (c != ' ')
        goto fail;
      p->num = 0;
      p->digits = 0;
      p->state = S_CODE;
      break;
    case S_CODE:
      if (c < '0' || c > '9')
        goto fail;
      p->num = p->num * 10 + (uint64_t)(c - '0');
      if (++p->digits == 3) {
        if (p->num < 100 || p->num > 599)
          goto fail;
        p->status = (uint32_t)p->num;
        p->state = S_AFTER_CODE;
      }
      break;
    case S_AFTER_CODE:
    case S_REASON:
    case S_STATUS_LF:
      if (c == '\r' && p->state != S_STATUS_LF) {
        p->state = S_STATUS_LF;
        break;
      }
      if (c != '\n') {
        if (p->state == S_AFTER_CODE && c == ' ')
          p->state = S_REASON;
        else if (p->state != S_REASON || !is_vchar(c))
          goto fail;
        break;
      }
      if (p->status == 101) {
        e = SBX_HTTP_E_UPGRADE;
        goto fail;
      }
      p->state = S_LINE_START;
      break;
    case S_LINE_START:
      if (c == '\r') {
        p->state = S_HEAD_LF;
        break;
      }
      if (c == '\n')
        goto section_end;
      /* SP/HT here is obs-fold (or whitespace before the first field):
       * refused, as is an empty name. */
      if (!is_tchar(c))
        goto fail;
      if (p->headers >= p->lim.max_headers) {
        e = SBX_HTTP_E_HEAD_LIMIT;
        goto fail;
      }
      p->headers++;
      p->tok_len = 0;
      tok_add(p, c);
      p->state = S_NAME;
      break;
    case S_NAME:
      if (is_tchar(c)) {
        tok_add(p, c);
        break;
      }
      if (c != ':')
        goto fail; /* whitespace before the colon, or no colon */
      name_end(p);
      break;
    case S_VALUE:
      if (c == '\r')
        p->state = S_VALUE_LF;
      else if (c == '\n')
        p->state = S_LINE_START;
      else if (!is_vchar(c))
        goto fail;
      break;
    case S_LIST:
      if (list_byte(p, c) != 0)
        goto fail;
      break;
    case S_VALUE_LF:
      if (c != '\n')
        goto fail; /* a bare CR */
      p->state = S_LINE_START;
      break;
    case S_HEAD_LF:
      if (c != '\n')
        goto fail;
      goto section_end;
    case S_CHUNK_START:
      if (hex_value(c) < 0)
        goto fail;
      p->num = (uint64_t)hex_value(c);
      p->digits = 1;
      p->state = S_CHUNK_SIZE;
      break;
    case S_CHUNK_SIZE:
      if (hex_value(c) >= 0) {
        if (++p->digits > MAX_CHUNK_SIZE_DIGITS)
          goto fail;
        p->num = (p->num << 4) | (uint64_t)hex_value(c);
      } else if (c == ';') {
        p->state = S_CHUNK_EXT;
      } else if (is_ows(c)) {
        p->state = S_CHUNK_WS;
      } else if (c == '\r') {
        p->state = S_CHUNK_LF;
      } else {
        goto fail;
      }
      break;
    case S_CHUNK_WS:
      if (c == ';')
        p->state = S_CHUNK_EXT;
      else if (!is_ows(c))
        goto fail;
      break;
    case S_CHUNK_EXT:
      if (c == '\r')
        p->state = S_CHUNK_LF;
      else if (!is_vchar(c))
        goto fail;
      break;
    case S_CHUNK_LF:
      if (c != '\n')
        goto fail;
      if (p->num == 0) {
        p->in_trailer = 1;
        p->state = S_LINE_START;
      } else if (p->num > p->lim.max_body - p->body_len) {
        e = SBX_HTTP_E_BODY_LIMIT;
        goto fail;
      } else {
        p->length = p->num;
        p->state = S_CHUNK_DATA;
      }
      break;
    case S_DATA_CR:
      if (c != '\r')
        goto fail;
      p->state = S_DATA_LF;
      break;
    case S_DATA_LF:
      if (c != '\n')
        goto fail;
      p->state = S_CHUNK_START;
      break;
    default:
      goto fail; /* unreachable: body, done and error states are above */
    }
    i++;
    continue;

  section_end:
    /* The empty line ending a head or a trailer section (byte i). */
    if (!p->in_trailer) {
      enum sbx_http_error he = head_end(p);
      if (he != SBX_HTTP_E_NONE) {
        e = he;
        goto fail;
      }
    }
    i++;
    if (p->in_trailer || p->state == S_DONE)
      goto done;
  }
  *used = len;
  return SBX_HTTP_MORE;

done:
  p->state = S_DONE;
  *used = i;
  return SBX_HTTP_DONE;

fail:
  p->state = S_ERROR;
  p->err = e;
  *used = i;
  return SBX_HTTP_ERROR;
}

enum sbx_http_result sbx_http_parse_eof(struct sbx_http_parser *p) {
  switch (p->state) {
  case S_IDLE:
    return SBX_HTTP_MORE; /* closed between responses */
  case S_DONE:
    return SBX_HTTP_DONE;
  case S_ERROR:
    return SBX_HTTP_ERROR;
  case S_BODY_EOF:
    p->state = S_DONE; /* the close is what ends this body */
    return SBX_HTTP_DONE;
  default:
    p->state = S_ERROR;
    p->err = SBX_HTTP_E_TRUNCATED;
    return SBX_HTTP_ERROR;
  }
}

const char *sbx_http_strerror(enum sbx_http_error e) {
  switch (e) {
  case SBX_HTTP_E_NONE:
    return "no error";
  case SBX_HTTP_E_SYNTAX:
    return "malformed response";
  case SBX_HTTP_E_HEAD_LIMIT:
    return "response head too large";
  case SBX_HTTP_E_BODY_LIMIT:
    return "response body too large";
  case SBX_HTTP_E_TRUNCATED:
    return "connection closed mid-response";
  case SBX_HTTP_E_UPGRADE:
    return "unexpected protocol switch (101)";
  case SBX_HTTP_E_CALLBACK:
    return "stopped by the body callback";
  }
  return "unknown response error";
}
