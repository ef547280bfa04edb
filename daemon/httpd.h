/* httpd.h - the daemon's HTTP/1.1 server: libmicrohttpd driven from the
 * libuv loop.
 *
 * libmicrohttpd runs in its "external epoll" mode: no thread of its own, its
 * epoll descriptor watched by one uv_poll_t, its timeouts by a uv_timer_t
 * and "run again now" by a uv_idle_t (see
 * /work/shared/notes/mhd-on-libuv.md for the traps this avoids). Everything
 * happens on the loop thread, callbacks included.
 *
 * A request reaches on_request once its whole body is in memory. The
 * handler answers it then or later from the loop (sbx_httpd_respond), or
 * turns it into a stream (sbx_httpd_stream_begin/_write/_end); until it is
 * answered the connection is suspended and costs nothing but memory.
 *
 * Limits, each enforced without touching other clients: body size (413 on a
 * declared Content-Length over the limit, before anything is read; a
 * chunked body that grows past it closes the connection), header size (431,
 * from libmicrohttpd's per-connection memory limit), connections in total
 * (the next ones wait in the kernel's backlog) and per client address
 * (closed at once), idle keep-alive connections, and a deadline for the
 * request head: a client that trickles a header byte by byte is cut off
 * once header_deadline_s have passed, however steadily bytes come.
 *
 * Ownership of a request: the handler owns r from on_request until it calls
 * sbx_httpd_respond*() or sbx_httpd_stream_end(), or until r's close
 * callback has run (the client went away, or the server stopped); after
 * that r must not be touched. Strings returned by the accessors live as
 * long as r.
 */
#ifndef SBX_HTTPD_H
#define SBX_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "err.h"

struct sbx_httpd;
struct sbx_httpd_req;

struct sbx_httpd_config {
  const char *host;           /* "127.0.0.1", "::1", "0.0.0.0", "::", or
                                 "localhost"; NULL: "127.0.0.1" */
  int port;                   /* 0: any free port (see sbx_httpd_port) */
  size_t max_body_bytes;      /* 0: 64 MiB. Bigger bodies get 413 */
  size_t max_header_bytes;    /* 0: 32 KiB, at least 4 KiB. The request line
                                 and headers must fit; over it: 431 */
  unsigned max_connections;   /* 0: 1024 */
  unsigned max_per_ip;        /* 0: no limit per client address */
  unsigned idle_timeout_s;    /* 0: 60. Silent connections are closed */
  unsigned header_deadline_s; /* 0: 10. Time allowed for a request head:
                                 from accept, or from the end of the
                                 previous request plus idle_timeout_s */
  unsigned shutdown_grace_ms; /* 0: 5000. sbx_httpd_stop waits this long
                                 for unanswered requests */
  /* Called once per request, with its complete body. Required. */
  void (*on_request)(struct sbx_httpd_req *r, void *arg);
  /* libmicrohttpd's error messages (one line, no newline); NULL drops
   * them. */
  void (*log)(const char *msg, void *arg);
  void *arg; /* handed to on_request and log */
};

/* Why a request's close callback runs. */
enum sbx_httpd_close_reason {
  /* The client closed its connection or the connection failed: r cannot be
   * answered any more and is freed when the callback returns. */
  SBX_HTTPD_CLIENT_GONE = 1,
  /* sbx_httpd_stop: for a stream at once, for an unanswered request when
   * the grace period ends. The callback may still end r (respond, or write
   * and end a stream); if it does not, the server answers 503 or aborts
   * the stream. Either way r is gone when the callback returns. */
  SBX_HTTPD_SHUTDOWN = 2
};

/* Starts listening on cfg->host:cfg->port and serving from loop. cfg is
 * copied (cfg->host too). Returns 0 and sets *out, or SBX_EINVAL (no
 * on_request, a host that is not an IP address, a port out of range),
 * SBX_EIO (libmicrohttpd could not start: address in use, no permission)
 * or SBX_ENOMEM, with what went wrong in diag (may be NULL); on failure
 * *out is NULL and nothing is left registered on loop. */
int sbx_httpd_start(uv_loop_t *loop, const struct sbx_httpd_config *cfg,
                    struct sbx_httpd **out, struct sbx_diag *diag);

/* The port the server listens on (the real one when cfg->port was 0). */
int sbx_httpd_port(const struct sbx_httpd *h);

/* Stops h gracefully: stops accepting, runs the close callback of every
 * open stream (SBX_HTTPD_SHUTDOWN), answers new requests on open
 * connections with 503, waits up to shutdown_grace_ms for the requests in
 * flight to be answered and sent, then closes every connection and every
 * handle. cb(arg) runs from the loop when all is closed; h is freed before
 * cb runs. Call it once; it may be called from any of h's callbacks. */
void sbx_httpd_stop(struct sbx_httpd *h, void (*cb)(void *arg), void *arg);

struct sbx_httpd_stats {
  uint64_t requests;       /* handed to on_request */
  uint64_t too_large;      /* bodies refused (413 or closed) */
  uint64_t deadline_drops; /* connections cut off by header_deadline_s */
  uint64_t client_gone;    /* close callbacks with SBX_HTTPD_CLIENT_GONE */
  unsigned connections;    /* open now */
  unsigned in_flight;      /* requests received and not yet complete */
};

/* Fills *st with h's counters. */
void sbx_httpd_stats(const struct sbx_httpd *h, struct sbx_httpd_stats *st);

/* ---- request details (valid while r is owned) ---- */

const char *sbx_httpd_method(const struct sbx_httpd_req *r);
/* The path, percent-decoded, without the query string. */
const char *sbx_httpd_path(const struct sbx_httpd_req *r);
/* The percent-decoded value of query argument key; NULL if absent or
 * without a value. */
const char *sbx_httpd_query(const struct sbx_httpd_req *r, const char *key);
/* As sbx_httpd_query, with the value's length in *len: a decoded value
 * may hold NUL bytes. */
const char *sbx_httpd_query_n(const struct sbx_httpd_req *r, const char *key,
                              size_t *len);
/* A request header, name case-insensitive; NULL if absent. */
const char *sbx_httpd_header(const struct sbx_httpd_req *r, const char *name);
/* The body (NULL with *len 0 if empty); not NUL-terminated. */
const uint8_t *sbx_httpd_body(const struct sbx_httpd_req *r, size_t *len);
/* The client's address as text, "127.0.0.1" or "::1". */
const char *sbx_httpd_peer(const struct sbx_httpd_req *r);
/* uv_hrtime() when the request head was complete. */
uint64_t sbx_httpd_arrival_ns(const struct sbx_httpd_req *r);

/* Registers cb to run if r ends before the handler ended it (see enum
 * sbx_httpd_close_reason). Replaces an earlier registration; cb NULL
 * unregisters. */
void sbx_httpd_on_close(struct sbx_httpd_req *r,
                        void (*cb)(struct sbx_httpd_req *r, int reason,
                                   void *arg),
                        void *arg);

/* ---- answers ---- */

/* Answers r with status, Content-Type ctype (NULL: none) and body (len
 * bytes, copied; body may be NULL when len is 0), now from on_request or
 * later from the loop. headers (may be NULL) is a NULL-terminated list of
 * name, value pairs added to the response. Returns 0, SBX_EINVAL (r is a
 * stream: nothing happened; or a header libmicrohttpd refused),
 * SBX_ECANCELED (called from r's close callback after the client left:
 * nothing to answer) or SBX_ENOMEM. Except for a stream, r is consumed in
 * every case; on failure the connection is closed without an answer. */
int sbx_httpd_respond_hdrs(struct sbx_httpd_req *r, unsigned status,
                           const char *ctype, const char *const *headers,
                           const void *body, size_t len);

/* sbx_httpd_respond_hdrs without extra headers. */
int sbx_httpd_respond(struct sbx_httpd_req *r, unsigned status,
                      const char *ctype, const void *body, size_t len);

/* Turns r into a streamed answer (chunked transfer encoding): the status
 * and headers go out with the first bytes. max_queued bounds the bytes
 * queued and not yet taken by the connection (0: 8 MiB; a write into an
 * empty queue is always taken, so the queue holds at most the larger of
 * max_queued and one write). Returns 0, or
 * SBX_EINVAL (already a stream, bad header) or SBX_ENOMEM; after a failure
 * r is still owned and may be answered with sbx_httpd_respond(). */
int sbx_httpd_stream_begin(struct sbx_httpd_req *r, unsigned status,
                           const char *ctype, const char *const *headers,
                           size_t max_queued);

/* Queues len bytes (copied) on a stream. Returns 0, SBX_EBUSY (the queue
 * is not empty and they would take it past max_queued: a client that does
 * not read; nothing was queued), SBX_ECANCELED (the client is gone; from
 * inside the close callback), SBX_EINVAL (not a stream) or SBX_ENOMEM. */
int sbx_httpd_stream_write(struct sbx_httpd_req *r, const void *data,
                           size_t len);

/* Ends a stream once the queued bytes, and then last[0..len) (may be NULL
 * when len is 0; copied; queued whatever max_queued says, so that a final
 * message always goes out), are sent. r is consumed in every case: returns
 * 0, SBX_EINVAL (not a stream) or SBX_ENOMEM (last could not be queued: the
 * stream is cut off instead, a client sees it end without its last
 * bytes). */
int sbx_httpd_stream_end(struct sbx_httpd_req *r, const void *last, size_t len);

/* Bytes queued on a stream and not yet taken by the connection. */
size_t sbx_httpd_stream_queued(const struct sbx_httpd_req *r);

#endif
