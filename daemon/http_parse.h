/* http_parse.h - an incremental HTTP/1.1 response parser for the fast path.
 *
 * Zero-copy and allocation-free: the parser keeps a small fixed state and
 * hands body bytes to a callback as spans of the caller's buffer. It reads
 * one response at a time and stops right after its last byte, so pipelined
 * responses in one buffer are parsed by calling it again. Everything it
 * reads comes from the product and is hostile: the status line, header
 * count, header sizes, chunk sizes and Content-Length are bounded, and any
 * violation is an error, never a guess.
 *
 * Understood: status line (HTTP/1.0 and 1.1), headers (names matched
 * case-insensitively; Content-Length, Transfer-Encoding: chunked,
 * Connection: close/keep-alive), fixed-length, chunked (with extensions and
 * trailers) and read-until-close bodies, interim 1xx responses (skipped;
 * 101 is an error), and responses that never have a body (HEAD requests,
 * 204, 304).
 */
#ifndef SBX_HTTP_PARSE_H
#define SBX_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Limits; zero fields take the defaults in brackets. */
struct sbx_http_limits {
  uint32_t max_head_bytes; /* status line + headers of one response [64 KiB] */
  uint32_t max_headers;    /* header fields per response [100] */
  uint64_t max_body;       /* body bytes [16 MiB] */
};

enum sbx_http_result {
  SBX_HTTP_MORE = 0,  /* consumed everything given; feed more */
  SBX_HTTP_DONE = 1,  /* a whole response ended; see fields below */
  SBX_HTTP_ERROR = -1 /* malformed or over a limit; see err */
};

enum sbx_http_error {
  SBX_HTTP_E_NONE = 0,
  SBX_HTTP_E_SYNTAX,      /* not HTTP, bad status line, header or chunk */
  SBX_HTTP_E_HEAD_LIMIT,  /* head over max_head_bytes or max_headers */
  SBX_HTTP_E_BODY_LIMIT,  /* body (or declared length) over max_body */
  SBX_HTTP_E_TRUNCATED,   /* the connection ended inside a response */
  SBX_HTTP_E_UPGRADE,     /* 101 Switching Protocols: not for us */
  SBX_HTTP_E_CALLBACK     /* the body callback asked to stop */
};

/* Called with each span of body bytes, in order; de-chunked. Returns 0 to
 * go on or non-zero to stop (the parse then fails with E_CALLBACK). */
typedef int (*sbx_http_body_cb)(void *arg, const uint8_t *p, size_t n);

struct sbx_http_parser {
  /* Results, valid after SBX_HTTP_DONE. */
  uint32_t status;      /* final status code */
  int keep_alive;       /* the connection may carry another response */
  uint64_t body_len;    /* body bytes delivered */
  enum sbx_http_error err;
  /* Private state. */
  struct sbx_http_limits lim;
  sbx_http_body_cb on_body;
  void *arg;
  int state;
  int head_request;
  int version_minor;
  int chunked;
  int until_close;
  int conn_close;
  int conn_keep_alive;
  int have_length;
  int in_trailer;       /* the header states are reading chunked trailers */
  int hkind;            /* which header's value is being read */
  int vstate;           /* where in a list element of that value */
  uint32_t elems;       /* list elements seen in that value */
  uint64_t length;      /* remaining body or chunk bytes */
  uint64_t num;         /* status, Content-Length or chunk size being read */
  uint32_t digits;      /* digits of num so far */
  uint32_t head_bytes;
  uint32_t headers;
  uint32_t tok_len;     /* bytes of the current name or token so far */
  uint8_t tok[24];      /* their first bytes, lowercased */
};

/* Prepares p for a connection. lim may be NULL for defaults. */
void sbx_http_parser_init(struct sbx_http_parser *p,
                          const struct sbx_http_limits *lim,
                          sbx_http_body_cb on_body, void *arg);

/* Readies p for the next response on the same connection; head_request is
 * non-zero when the request was HEAD (no body follows whatever the
 * headers say). */
void sbx_http_parser_reset(struct sbx_http_parser *p, int head_request);

/* Feeds buf[0..len). Returns SBX_HTTP_MORE (all consumed), SBX_HTTP_DONE
 * (*used says how many bytes belonged to this response; the rest belongs to
 * the next one) or SBX_HTTP_ERROR (p->err says why and *used is the offset
 * of the offending byte; the connection must be closed). After DONE or
 * ERROR, further calls consume nothing and repeat the result until
 * sbx_http_parser_reset(); keep_alive and body_len mean something only
 * after DONE. */
enum sbx_http_result sbx_http_parse(struct sbx_http_parser *p,
                                    const uint8_t *buf, size_t len,
                                    size_t *used);

/* The peer closed the connection. Returns SBX_HTTP_DONE if that ends a
 * read-until-close body, else SBX_HTTP_ERROR with E_TRUNCATED (or MORE if
 * no byte of a response had been read yet: p->err stays NONE). */
enum sbx_http_result sbx_http_parse_eof(struct sbx_http_parser *p);

/* A short static name of an error, e.g. "malformed response". */
const char *sbx_http_strerror(enum sbx_http_error e);

#endif
