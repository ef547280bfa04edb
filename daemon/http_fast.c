/* http_fast.c - a wrk-style HTTP/1.1 client on raw libuv streams.
 *
 * Why it is shaped this way (see notes/load-generators.md §2 and
 * notes/measured-baselines.md): libcurl spends ~3x wrk's CPU per request on
 * liveness polls, watcher churn and header formatting. Here the hot path is
 * one write and one read per request and no allocation:
 * - A case's request bytes are built once, on its first submit, and cached
 *   by case_index; each send is one uv_try_write of those bytes, with
 *   uv_write (one uv_write_t per connection, one write outstanding at a
 *   time) for whatever the kernel did not take.
 * - Each connection reads into its own fixed 64 KiB buffer handed out by the
 *   alloc callback; the parser (http_parse.h) works in place and passes body
 *   spans, which are copied into a per-connection body buffer that grows up
 *   to the body cap and is reused.
 * - Connections are opened lazily, kept alive, and re-opened after a close.
 *   Requests on a connection sit in a fixed ring of pipeline_depth slots, so
 *   responses are matched to requests in order.
 * - One uv_timer per connection, armed lazily: it is (re)started only when
 *   it is idle or due later than the oldest request's deadline, and when it
 *   fires it looks at that oldest request. In steady state a request costs
 *   no timer operation.
 * - Which connection takes a request: a deque of the connections with a free
 *   slot. A connection that gets a slot back goes to the front (reuse warm
 *   sockets first); one that still has room after taking a request goes to
 *   the back (pipelined requests spread over connections).
 * - While responses stream in (less than 20 us apart on average), the loop
 *   polls without sleeping for a moment after each one (on_spin), as wrk
 *   in effect does; slower traffic never polls.
 * Failures inside submit() (a connect or write that fails at once) are
 * deferred through the connection's timer with a 0 ms timeout, since
 * submit() must never call on_done().
 */
#include "http_fast.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_parse.h"

#define DEFAULT_MAX_BODY (16u * 1024u * 1024u)
#define MAX_IN_FLIGHT_LIMIT 100000u
#define MAX_DEPTH 1024u
#define READ_BUF_SIZE (64u * 1024u)
/* A body buffer that grew past this is dropped after its response so that
 * one huge answer does not pin memory on every connection forever. */
#define BODY_SHRINK_OVER (1u * 1024u * 1024u)
#define MAX_ADDRS 8u
#define MAX_HOST_LEN 253u
/* Requests gathered into one writev, and their bytes at most. */
#define WRITE_BATCH 16u
#define WRITE_BATCH_BYTES ((size_t)1 << 30)
/* Busy polling (see on_spin): how long after a response the loop keeps
 * polling, and the mean gap between responses under which it does. */
#define SPIN_NS 20000u
#define SPIN_GAP_NS 20000u
/* A longer gap counts as this much in the mean (and starts it). */
#define SPIN_GAP_CAP_NS (16 * (uint64_t)SPIN_GAP_NS)

#define EC_NONE SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE
#define EC_REFUSED SBX__V1__ERROR_CLASS__ERROR_CLASS_REFUSED
#define EC_TIMEOUT SBX__V1__ERROR_CLASS__ERROR_CLASS_TIMEOUT
#define EC_RESET SBX__V1__ERROR_CLASS__ERROR_CLASS_RESET
#define EC_PROTOCOL SBX__V1__ERROR_CLASS__ERROR_CLASS_PROTOCOL
#define EC_TOO_LARGE SBX__V1__ERROR_CLASS__ERROR_CLASS_BODY_TOO_LARGE
#define EC_OTHER SBX__V1__ERROR_CLASS__ERROR_CLASS_OTHER

enum conn_state {
  CONN_DOWN,       /* no socket; tcp handle not initialized */
  CONN_CONNECTING, /* uv_tcp_connect under way */
  CONN_UP,         /* connected and reading */
  CONN_CLOSING     /* uv_close called; waiting for its callback */
};

struct http_fast;

/* One request on a connection. */
struct slot {
  struct sbx_request *req;
  const uint8_t *bytes; /* the case's cached request, owned by the cache */
  size_t len;
  uint64_t deadline_ns; /* uv_hrtime() after which it times out; 0: never */
  int retried;          /* already sent again after a lost connection */
};

struct reqbytes {
  uint8_t *p;
  size_t len;
};

struct conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_connect_t creq;
  uv_write_t wreq;
  struct http_fast *hf;
  struct slot *ring;  /* depth slots, indexed by seq % depth */
  uint64_t head;      /* seq of the oldest request */
  uint64_t tail;      /* seq the next request gets; tail - head in the ring */
  uint64_t wnext;     /* seq of the next request to write */
  uint64_t timer_due; /* deadline the running timer was armed for */
  uint64_t served;    /* responses completed on the current socket */
  uint64_t rx;        /* response bytes received for the oldest request */
  enum conn_state state;
  int wbusy;           /* a uv_write is outstanding on the socket */
  int wdead;           /* writing failed; the read side will end the socket */
  int in_avail;        /* listed in the deque of connections with room */
  int pending_err;     /* a failure to deliver from the timer; 0: none */
  int pending_connect; /* pending_err came from connecting, else writing */
  uint64_t pending_n;  /* requests the pending connect failure concerns */
  unsigned addr_idx;   /* address of the current or next connect */
  unsigned addr_tries; /* addresses that failed in this round */
  int oom;             /* body buffer could not grow */
  int too_large;       /* body would pass the cap (parser should stop it) */
  struct sbx_http_parser parser;
  uint8_t *rbuf; /* READ_BUF_SIZE, allocated on first connect */
  uint8_t *body;
  size_t body_len;
  size_t body_cap;
};

struct http_fast {
  struct sbx_adapter base; /* first: the engine holds &base */
  const Sbx__V1__Interface *iface;
  char *method;
  int head_only;
  int method_has_body; /* POST, PUT, PATCH: always send a body */
  char *hdrs;          /* header lines after the request line, CRLF each */
  size_t hdrs_len;
  char peer[300]; /* "host:port" for messages */
  struct sockaddr_storage addrs[MAX_ADDRS];
  unsigned naddrs;
  unsigned addr_pref; /* the address that last connected */
  struct sbx_http_limits limits;
  size_t max_body;
  uint64_t timeout_ns; /* 0: no deadline */
  uint32_t depth;
  uint32_t nconns;
  struct conn *conns;
  struct slot *slots;
  struct conn **avail; /* deque of connections with a free slot */
  uv_idle_t spin;      /* active: the loop polls instead of sleeping */
  uint64_t spin_until; /* uv_hrtime() at which it stops polling */
  uint64_t last_done;  /* uv_hrtime() of the last response */
  uint64_t gap_avg;    /* moving mean of the gaps between responses, ns */
  uint32_t avail_head;
  uint32_t avail_count;
  uint32_t in_flight;
  struct reqbytes *cache; /* per case_index, built lazily */
  size_t ncache;
  uint64_t sockets_opened;
  unsigned open_handles; /* uv handles not yet closed */
  int closing;
  sbx_adapter_close_cb close_cb;
};

static const uint8_t empty_body[1];

/* ---- small helpers ------------------------------------------------------ */

static void set_detail(struct sbx_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_detail(struct sbx_request *req, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (vsnprintf(req->detail, sizeof(req->detail), fmt, ap) < 0)
    req->detail[0] = '\0';
  va_end(ap);
}

static uint64_t ring_count(const struct conn *c) {
  return c->tail - c->head;
}

static struct slot *ring_at(struct conn *c, uint64_t seq) {
  return &c->ring[seq % c->hf->depth];
}

/* Removes and returns the oldest request. */
static struct slot ring_pop(struct conn *c) {
  struct slot *p = ring_at(c, c->head);
  struct slot s = *p;
  p->req = NULL;
  c->head++;
  if (c->wnext < c->head)
    c->wnext = c->head;
  c->rx = 0;
  return s;
}

static void ring_push(struct conn *c, const struct slot *s) {
  *ring_at(c, c->tail) = *s;
  c->tail++;
}

static void avail_push_front(struct http_fast *hf, struct conn *c) {
  hf->avail_head = (hf->avail_head + hf->nconns - 1) % hf->nconns;
  hf->avail[hf->avail_head] = c;
  hf->avail_count++;
  c->in_avail = 1;
}

static void avail_push_back(struct http_fast *hf, struct conn *c) {
  hf->avail[(hf->avail_head + hf->avail_count) % hf->nconns] = c;
  hf->avail_count++;
  c->in_avail = 1;
}

static struct conn *avail_pop_front(struct http_fast *hf) {
  struct conn *c = hf->avail[hf->avail_head];
  hf->avail_head = (hf->avail_head + 1) % hf->nconns;
  hf->avail_count--;
  c->in_avail = 0;
  return c;
}

/* Hands a finished request (already popped from its ring) to the engine. */
static void deliver(struct http_fast *hf, struct conn *c,
                    struct sbx_request *req) {
  hf->in_flight--;
  if (!c->in_avail && ring_count(c) < hf->depth)
    avail_push_front(hf, c);
  hf->base.on_done(&hf->base, req);
}

static void fail_req(struct http_fast *hf, struct conn *c,
                     struct sbx_request *req, Sbx__V1__ErrorClass ec,
                     uint32_t status, const char *detail) {
  req->done_ns = (int64_t)uv_hrtime();
  req->error = ec;
  req->status = status;
  req->body = NULL;
  req->body_len = 0;
  if (detail != req->detail)
    set_detail(req, "%s", detail);
  deliver(hf, c, req);
}

/* The status of a response that failed after its status line was read. */
static uint32_t partial_status(const struct conn *c) {
  uint32_t s = c->parser.status;
  return c->rx > 0 && s >= 100 && s <= 999 ? s : 0;
}

/* ---- connections -------------------------------------------------------- */

static void on_tcp_closed(uv_handle_t *h);
static void on_connect(uv_connect_t *cr, int status);
static void on_timer(uv_timer_t *t);
static int on_body(void *arg, const uint8_t *p, size_t n);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void send_pending(struct http_fast *hf, struct conn *c);
static void conn_write_failed(struct http_fast *hf, struct conn *c, int err);
static void finalize(struct http_fast *hf);

/* Arms the connection's timer for the oldest request's deadline unless it
 * already runs for an earlier one. */
static void conn_arm(struct http_fast *hf, struct conn *c) {
  uint64_t deadline, now, ms;
  if (hf->timeout_ns == 0 || hf->closing)
    return;
  if (ring_count(c) == 0) {
    /* Idle: do not hold the loop open until a stale deadline. */
    if (c->pending_err == 0)
      uv_timer_stop(&c->timer);
    return;
  }
  deadline = ring_at(c, c->head)->deadline_ns;
  if (uv_is_active((uv_handle_t *)&c->timer) && c->timer_due <= deadline)
    return;
  now = uv_hrtime();
  ms = deadline > now ? (deadline - now + 999999) / 1000000 : 0;
  c->timer_due = deadline;
  uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* Delivers a failure from the timer on the next loop turn. */
static void defer_error(struct conn *c, int err, int connecting) {
  c->pending_err = err;
  c->pending_connect = connecting;
  c->pending_n = ring_count(c);
  c->timer_due = 0;
  uv_timer_start(&c->timer, on_timer, 0, 0);
}

/* Closes the socket, if any; requests stay in the ring. */
static void conn_close_socket(struct conn *c) {
  if (c->state == CONN_CONNECTING || c->state == CONN_UP) {
    uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
    c->state = CONN_CLOSING;
  }
  /* A deferred write error belonged to this socket. */
  if (c->pending_err != 0 && !c->pending_connect)
    c->pending_err = 0;
  c->served = 0;
}

/* Starts connecting; never calls on_done (it may run inside submit). */
static void conn_connect(struct http_fast *hf, struct conn *c) {
  const struct sockaddr *sa;
  int rc;
  if (c->rbuf == NULL) {
    c->rbuf = malloc(READ_BUF_SIZE);
    if (c->rbuf == NULL) {
      defer_error(c, UV_ENOMEM, 1);
      return;
    }
  }
  if (c->addr_tries == 0)
    c->addr_idx = hf->addr_pref;
  sa = (const struct sockaddr *)&hf->addrs[c->addr_idx];
  rc = uv_tcp_init(hf->base.loop, &c->tcp);
  if (rc != 0) {
    defer_error(c, rc, 1);
    return;
  }
  c->tcp.data = c;
  c->creq.data = c;
  hf->open_handles++;
  c->state = CONN_CONNECTING;
  c->served = 0;
  c->rx = 0;
  c->wbusy = 0;
  c->wdead = 0;
  c->wnext = c->head;
  rc = uv_tcp_connect(&c->creq, &c->tcp, sa, on_connect);
  if (rc != 0) {
    conn_close_socket(c);
    defer_error(c, rc, 1);
    return;
  }
  hf->sockets_opened++;
}

/* Connects if requests wait and nothing else will. */
static void conn_kick(struct http_fast *hf, struct conn *c) {
  if (!hf->closing && c->state == CONN_DOWN && c->pending_err == 0 &&
      ring_count(c) > 0)
    conn_connect(hf, c);
}

/* The socket is gone with the first n requests of the ring unanswered (the
 * oldest already handled by the caller): each goes again on a new
 * connection, once. A request that was never written does not use up its
 * retry, nor does one queued behind a response that announced the close
 * (announced: the server must not have processed it, RFC 9112 9.6, and
 * every such round answers one request, so it cannot loop). Requests the
 * engine submits meanwhile queue behind. */
static void conn_requeue(struct http_fast *hf, struct conn *c, uint64_t n,
                         int announced) {
  uint64_t i, sent = c->wnext > c->head ? c->wnext - c->head : 0;
  for (i = 0; i < n && ring_count(c) > 0; i++) {
    struct slot s = ring_pop(c);
    if (i >= sent || announced || !s.retried) {
      if (i < sent && !announced)
        s.retried = 1;
      ring_push(c, &s);
      continue;
    }
    set_detail(s.req,
               "connection to %s closed before the response, also on a "
               "retry over a new connection",
               hf->peer);
    fail_req(hf, c, s.req, EC_RESET, 0, s.req->detail);
    if (hf->closing)
      return;
  }
  c->wnext = c->head;
  conn_kick(hf, c);
  conn_arm(hf, c);
}

/* A connect failed (from a callback, never inside submit). */
static void conn_connect_failed(struct http_fast *hf, struct conn *c, int err,
                                uint64_t n) {
  uint64_t i;
  if (hf->naddrs > 1 && c->addr_tries + 1 < hf->naddrs) {
    /* Try the host's next address; the close callback reconnects. */
    c->addr_tries++;
    c->addr_idx = (c->addr_idx + 1) % hf->naddrs;
    conn_kick(hf, c);
    return;
  }
  c->addr_tries = 0;
  for (i = 0; i < n && ring_count(c) > 0; i++) {
    struct slot s = ring_pop(c);
    if (err == UV_ENOMEM)
      set_detail(s.req, "connect to %s: out of memory", hf->peer);
    else
      set_detail(s.req, "connect to %s: %s", hf->peer, uv_strerror(err));
    fail_req(hf, c, s.req, err == UV_ENOMEM ? EC_OTHER : EC_REFUSED, 0,
             s.req->detail);
    if (hf->closing)
      return;
  }
  c->wnext = c->head;
  conn_kick(hf, c);
  conn_arm(hf, c);
}

/* The socket failed (err < 0) or the server closed it (UV_EOF). */
static void conn_lost(struct http_fast *hf, struct conn *c, int err,
                      const char *op) {
  uint64_t n = ring_count(c);
  struct slot *head;
  struct sbx_request *req;
  uint32_t status;

  if (n == 0) {
    conn_close_socket(c); /* an idle keep-alive connection ended */
    return;
  }
  head = ring_at(c, c->head);
  if (err == UV_EOF && c->rx > 0 &&
      sbx_http_parse_eof(&c->parser) == SBX_HTTP_DONE) {
    /* A body delimited by the end of the connection: complete. */
    struct slot s;
    conn_close_socket(c);
    s = ring_pop(c);
    req = s.req;
    req->done_ns = (int64_t)uv_hrtime();
    req->error = EC_NONE;
    req->status = c->parser.status;
    req->body = c->body != NULL ? c->body : empty_body;
    req->body_len = c->body_len;
    req->detail[0] = '\0';
    deliver(hf, c, req);
    c->body_len = 0;
    if (hf->closing)
      return;
    conn_requeue(hf, c, n - 1, 1);
    return;
  }
  if (c->rx == 0 && c->served > 0 && !head->retried && c->wnext > c->head) {
    /* Keep-alive race: the server closed the idle connection as we wrote.
     * Nothing of the answer came, so send it all again, once. */
    conn_close_socket(c);
    conn_requeue(hf, c, n, 0);
    return;
  }
  status = partial_status(c);
  req = head->req;
  if (err == UV_EOF && c->rx == 0)
    set_detail(req,
               "connection to %s closed by the server before any response "
               "byte (empty reply)",
               hf->peer);
  else if (err == UV_EOF)
    set_detail(req,
               "connection to %s closed by the server in the middle of the "
               "response, after %llu bytes",
               hf->peer, (unsigned long long)c->rx);
  else
    set_detail(req, "%s %s: %s (after %llu response bytes)", op, hf->peer,
               uv_strerror(err), (unsigned long long)c->rx);
  conn_close_socket(c);
  ring_pop(c);
  c->body_len = 0;
  fail_req(hf, c, req, err == UV_ENOBUFS ? EC_OTHER : EC_RESET, status,
           req->detail);
  if (hf->closing)
    return;
  conn_requeue(hf, c, n - 1, 0);
}

/* The oldest request's response was malformed or over a limit. */
static void conn_bad_response(struct http_fast *hf, struct conn *c) {
  uint64_t n = ring_count(c);
  enum sbx_http_error e = c->parser.err;
  uint32_t status = partial_status(c);
  struct slot s;
  Sbx__V1__ErrorClass ec;

  conn_close_socket(c);
  s = ring_pop(c);
  if (e == SBX_HTTP_E_BODY_LIMIT ||
      (e == SBX_HTTP_E_CALLBACK && c->too_large)) {
    ec = EC_TOO_LARGE;
    set_detail(s.req,
               "response body over the cap of %zu bytes; raise "
               "interface.max_body_bytes",
               hf->max_body);
  } else if (e == SBX_HTTP_E_CALLBACK) {
    ec = EC_OTHER;
    set_detail(s.req, "out of memory buffering the response body");
  } else if (e == SBX_HTTP_E_TRUNCATED) {
    ec = EC_RESET;
    set_detail(s.req, "connection to %s ended inside the response", hf->peer);
  } else {
    ec = EC_PROTOCOL;
    set_detail(s.req, "invalid HTTP response from %s: %s", hf->peer,
               sbx_http_strerror(e));
  }
  c->body_len = 0;
  c->oom = 0;
  c->too_large = 0;
  fail_req(hf, c, s.req, ec, status, s.req->detail);
  if (hf->closing)
    return;
  conn_requeue(hf, c, n - 1, 0);
}

/* The oldest request's deadline passed: it and every request behind it on
 * this connection (stuck behind it) fail with TIMEOUT, the socket closes. */
static void conn_timeout(struct http_fast *hf, struct conn *c) {
  uint64_t i, n = ring_count(c);
  unsigned long long ms = (unsigned long long)(hf->timeout_ns / 1000000);
  unsigned long long rx = (unsigned long long)c->rx;
  conn_close_socket(c);
  c->body_len = 0;
  for (i = 0; i < n && ring_count(c) > 0; i++) {
    struct slot s = ring_pop(c);
    if (i == 0)
      set_detail(s.req,
                 "no complete response from %s within %llu ms (%llu "
                 "response bytes received)",
                 hf->peer, ms, rx);
    else
      set_detail(s.req,
                 "no response from %s: stuck behind a request that timed "
                 "out after %llu ms on the same pipelined connection",
                 hf->peer, ms);
    fail_req(hf, c, s.req, EC_TIMEOUT, 0, s.req->detail);
    if (hf->closing)
      return;
  }
  c->wnext = c->head;
  conn_kick(hf, c);
  conn_arm(hf, c);
}

static void on_timer(uv_timer_t *t) {
  struct conn *c = t->data;
  struct http_fast *hf = c->hf;
  uint64_t now;

  if (hf->closing)
    return;
  if (c->pending_err != 0) {
    int err = c->pending_err, connecting = c->pending_connect;
    uint64_t n = c->pending_n;
    c->pending_err = 0;
    if (connecting)
      conn_connect_failed(hf, c, err, n);
    else if (c->state == CONN_UP)
      conn_write_failed(hf, c, err);
    if (hf->closing)
      return;
    conn_kick(hf, c);
    conn_arm(hf, c);
    return;
  }
  if (hf->timeout_ns == 0 || ring_count(c) == 0)
    return;
  now = uv_hrtime();
  if (ring_at(c, c->head)->deadline_ns > now) {
    conn_arm(hf, c);
    return;
  }
  conn_timeout(hf, c);
}

static void on_tcp_closed(uv_handle_t *h) {
  struct conn *c = h->data;
  struct http_fast *hf = c->hf;
  c->state = CONN_DOWN;
  c->wbusy = 0;
  hf->open_handles--;
  if (hf->closing) {
    if (hf->open_handles == 0)
      finalize(hf);
    return;
  }
  conn_kick(hf, c);
}

static void on_connect(uv_connect_t *cr, int status) {
  struct conn *c = cr->data;
  struct http_fast *hf = c->hf;
  int rc;

  /* Canceled: the socket was closed meanwhile (timeout, close()). */
  if (hf->closing || c->state != CONN_CONNECTING || status == UV_ECANCELED)
    return;
  if (status < 0) {
    uint64_t n = ring_count(c);
    conn_close_socket(c);
    conn_connect_failed(hf, c, status, n);
    return;
  }
  c->addr_tries = 0;
  hf->addr_pref = c->addr_idx;
  c->state = CONN_UP;
  uv_tcp_nodelay(&c->tcp, 1);
  sbx_http_parser_init(&c->parser, &hf->limits, on_body, c);
  sbx_http_parser_reset(&c->parser, hf->head_only);
  c->body_len = 0;
  c->oom = 0;
  c->too_large = 0;
  rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (rc != 0) {
    conn_lost(hf, c, rc, "receive from");
    return;
  }
  send_pending(hf, c);
}

/* ---- reading ------------------------------------------------------------ */

static int on_body(void *arg, const uint8_t *p, size_t n) {
  struct conn *c = arg;
  size_t max = c->hf->max_body;
  if (n > max - c->body_len) {
    c->too_large = 1;
    return 1;
  }
  if (c->body_len + n > c->body_cap) {
    size_t cap = c->body_cap ? c->body_cap : 4096;
    uint8_t *nb;
    while (cap < c->body_len + n)
      cap = cap > max / 2 ? max : cap * 2;
    nb = realloc(c->body, cap);
    if (nb == NULL) {
      c->oom = 1;
      return 1;
    }
    c->body = nb;
    c->body_cap = cap;
  }
  memcpy(c->body + c->body_len, p, n);
  c->body_len += n;
  return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct conn *c = h->data;
  (void)suggested;
  buf->base = (char *)c->rbuf;
  buf->len = READ_BUF_SIZE;
}

/* Busy polling. At high rates, sleeping in epoll_wait between responses
 * costs more than it saves: each response then has to wake the thread, and
 * the server pays for that in its write (on a VM, an interprocessor
 * interrupt on both sides). A load generator that always has work queued
 * (wrk, which registers for writability after every response) never
 * sleeps. So while responses arrive less than SPIN_GAP_NS apart on average
 * and requests are in flight, an idle handle makes the loop poll with a
 * zero timeout for SPIN_NS after each response. Slower traffic sleeps as
 * before, so a slow product costs no polling at all. */
static void on_spin(uv_idle_t *h) {
  struct http_fast *hf = h->data;
  if (hf->in_flight == 0 || uv_hrtime() >= hf->spin_until)
    uv_idle_stop(h);
}

static void spin_after_response(struct http_fast *hf, uint64_t done) {
  uint64_t gap = done - hf->last_done;
  hf->last_done = done;
  if (gap > SPIN_GAP_CAP_NS)
    gap = SPIN_GAP_CAP_NS;
  hf->gap_avg = hf->gap_avg - hf->gap_avg / 8 + gap / 8;
  if (hf->gap_avg < SPIN_GAP_NS && hf->in_flight > 0 && !hf->closing) {
    hf->spin_until = done + SPIN_NS;
    uv_idle_start(&hf->spin, on_spin);
  }
}

/* The oldest request's response is complete. */
static void conn_response_done(struct http_fast *hf, struct conn *c) {
  uint64_t n = ring_count(c);
  int keep = c->parser.keep_alive;
  struct slot s;
  struct sbx_request *req;
  uint64_t done;

  /* Closed before on_done, so that requests the engine submits from there
   * wait for the next connection instead of going out on this one. */
  if (!keep)
    conn_close_socket(c);
  s = ring_pop(c);
  req = s.req;
  done = uv_hrtime();
  req->done_ns = (int64_t)done;
  req->error = EC_NONE;
  req->status = c->parser.status;
  req->body = c->body != NULL ? c->body : empty_body;
  req->body_len = c->body_len;
  req->detail[0] = '\0';
  deliver(hf, c, req); /* req may be reused from here on */
  spin_after_response(hf, done);
  c->body_len = 0;
  if (c->body_cap > BODY_SHRINK_OVER) {
    free(c->body);
    c->body = NULL;
    c->body_cap = 0;
  }
  if (hf->closing)
    return;
  if (!keep) {
    conn_requeue(hf, c, n - 1, 1);
    return;
  }
  c->served++;
  sbx_http_parser_reset(&c->parser, hf->head_only);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  struct conn *c = stream->data;
  struct http_fast *hf = c->hf;
  const uint8_t *p = (const uint8_t *)buf->base;
  size_t len;

  if (nread == 0 || hf->closing || c->state != CONN_UP)
    return;
  if (nread < 0) {
    conn_lost(hf, c, (int)nread, "receive from");
    return;
  }
  len = (size_t)nread;
  while (len > 0) {
    size_t used = 0;
    enum sbx_http_result r;
    if (ring_count(c) == 0) {
      /* Bytes nobody asked for (an unsolicited 408, junk): the stream can
       * no longer be trusted to line up with requests. */
      conn_close_socket(c);
      return;
    }
    r = sbx_http_parse(&c->parser, p, len, &used);
    if (r == SBX_HTTP_MORE) {
      c->rx += len;
      break;
    }
    if (r == SBX_HTTP_ERROR) {
      c->rx += len;
      conn_bad_response(hf, c);
      return;
    }
    if (used > len)
      used = len;
    c->rx += used;
    p += used;
    len -= used;
    conn_response_done(hf, c);
    if (hf->closing || c->state != CONN_UP)
      return;
  }
  conn_arm(hf, c);
}

/* ---- writing ------------------------------------------------------------ */

/* A write failed. When the peer reset or shut the connection, the read side
 * still holds whatever the server sent before (often the very response that
 * explains the close, e.g. garbage followed by a reset) and will end with EOF
 * or a reset of its own: stop writing and let it classify. Other errors are
 * ours and end the connection now. */
static void conn_write_failed(struct http_fast *hf, struct conn *c, int err) {
  if (err == UV_EPIPE || err == UV_ECONNRESET || err == UV_ECONNABORTED ||
      err == UV_ENOTCONN) {
    c->wdead = 1;
    return;
  }
  conn_lost(hf, c, err, "send to");
}

static void on_write(uv_write_t *wr, int status) {
  struct conn *c = wr->data;
  struct http_fast *hf = c->hf;
  c->wbusy = 0;
  if (hf->closing || c->state != CONN_UP)
    return;
  if (status < 0) {
    conn_write_failed(hf, c, status);
    return;
  }
  send_pending(hf, c);
}

/* Writes every request not yet written: all of them in one uv_try_write
 * (one writev) while the kernel takes them, then the rest of a partly
 * written one through one uv_write, after which the others wait for its
 * callback. */
static void send_pending(struct http_fast *hf, struct conn *c) {
  (void)hf;
  if (c->state != CONN_UP || c->wbusy || c->wdead)
    return;
  if (c->wnext < c->head)
    c->wnext = c->head;
  while (c->wnext < c->tail) {
    uv_buf_t bufs[WRITE_BATCH];
    unsigned nb = 0, i = 0;
    uint64_t seq = c->wnext;
    size_t total = 0;
    int n, rc;
    while (seq < c->tail && nb < WRITE_BATCH) {
      const struct slot *s = ring_at(c, seq);
      if (nb > 0 && s->len > WRITE_BATCH_BYTES - total)
        break;
      bufs[nb].base = (char *)s->bytes;
      bufs[nb].len = s->len;
      total += s->len;
      nb++;
      seq++;
    }
    /* uv_try_write counts in an int: hand giant requests to uv_write. */
    n = total <= WRITE_BATCH_BYTES
            ? uv_try_write((uv_stream_t *)&c->tcp, bufs, nb)
            : 0;
    if (n < 0)
      n = 0; /* EAGAIN, or an error uv_write will report from its callback */
    while (i < nb && (size_t)n >= bufs[i].len) {
      n -= (int)bufs[i].len;
      i++;
      c->wnext++;
    }
    if (i == nb)
      continue;
    bufs[i].base += n;
    bufs[i].len -= (size_t)n;
    c->wnext++;
    c->wreq.data = c;
    rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &bufs[i], 1, on_write);
    if (rc != 0) {
      defer_error(c, rc, 0);
      return;
    }
    c->wbusy = 1;
    return;
  }
}

/* ---- request bytes ------------------------------------------------------ */

static int add_size(size_t *acc, size_t n) {
  if (n > SIZE_MAX - *acc)
    return -1;
  *acc += n;
  return 0;
}

/* Returns the cached request of case_index, building it on first use, or
 * NULL when out of memory. */
static const struct reqbytes *request_bytes(struct http_fast *hf, uint32_t idx,
                                            const Sbx__V1__Case *kase) {
  struct reqbytes *rb;
  char *target = NULL;
  char cl[48];
  size_t mlen, tlen, clen = 0, blen = 0, total = 0;
  int has_body;
  uint8_t *p;

  if ((size_t)idx >= hf->ncache) {
    size_t n = hf->ncache ? hf->ncache : 64;
    struct reqbytes *nc;
    while (n <= (size_t)idx)
      n *= 2;
    if (n > SIZE_MAX / sizeof(*nc))
      return NULL;
    nc = realloc(hf->cache, n * sizeof(*nc));
    if (nc == NULL)
      return NULL;
    memset(nc + hf->ncache, 0, (n - hf->ncache) * sizeof(*nc));
    hf->cache = nc;
    hf->ncache = n;
  }
  rb = &hf->cache[idx];
  if (rb->p != NULL)
    return rb;

  target = sbx_adapter_target(hf->iface, kase);
  if (target == NULL)
    return NULL;
  mlen = strlen(hf->method);
  tlen = strlen(target);
  has_body = !hf->head_only && (kase->input.len > 0 || hf->method_has_body);
  if (has_body) {
    int k;
    blen = kase->input.len;
    k = snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", blen);
    if (k < 0 || (size_t)k >= sizeof(cl))
      goto fail;
    clen = (size_t)k;
  }
  /* "M T HTTP/1.1\r\n" headers [Content-Length] "\r\n" body */
  if (add_size(&total, mlen) || add_size(&total, 1) || add_size(&total, tlen) ||
      add_size(&total, 11) || add_size(&total, hf->hdrs_len) ||
      add_size(&total, clen) || add_size(&total, 2) || add_size(&total, blen))
    goto fail;
  p = malloc(total);
  if (p == NULL)
    goto fail;
  rb->p = p;
  rb->len = total;
  memcpy(p, hf->method, mlen);
  p += mlen;
  *p++ = ' ';
  memcpy(p, target, tlen);
  p += tlen;
  memcpy(p, " HTTP/1.1\r\n", 11);
  p += 11;
  memcpy(p, hf->hdrs, hf->hdrs_len);
  p += hf->hdrs_len;
  memcpy(p, cl, clen);
  p += clen;
  *p++ = '\r';
  *p++ = '\n';
  if (blen > 0)
    memcpy(p, kase->input.data, blen);
  free(target);
  return rb;
fail:
  free(target);
  return NULL;
}

/* ---- submit and close --------------------------------------------------- */

static int hf_submit(struct sbx_adapter *a, struct sbx_request *req) {
  struct http_fast *hf = (struct http_fast *)a;
  const struct reqbytes *rb;
  struct conn *c;
  struct slot s;

  if (hf->closing)
    return SBX_ESTATE;
  if (req == NULL || req->kase == NULL)
    return SBX_EINVAL;
  if (hf->in_flight >= a->max_in_flight || hf->avail_count == 0)
    return SBX_EBUSY;
  rb = request_bytes(hf, req->case_index, req->kase);
  if (rb == NULL)
    return SBX_ENOMEM;

  s.req = req;
  s.bytes = rb->p;
  s.len = rb->len;
  s.retried = 0;
  s.deadline_ns = 0;
  if (hf->timeout_ns != 0) {
    uint64_t t0 = req->send_ns > 0 ? (uint64_t)req->send_ns : uv_hrtime();
    s.deadline_ns = t0 + hf->timeout_ns;
  }
  c = avail_pop_front(hf);
  ring_push(c, &s);
  if (ring_count(c) < hf->depth)
    avail_push_back(hf, c);
  hf->in_flight++;

  if (c->state == CONN_DOWN)
    conn_kick(hf, c);
  else if (c->state == CONN_UP)
    send_pending(hf, c);
  conn_arm(hf, c);
  return 0;
}

static void free_all(struct http_fast *hf) {
  size_t i;
  if (hf->conns != NULL) {
    for (i = 0; i < hf->nconns; i++) {
      free(hf->conns[i].rbuf);
      free(hf->conns[i].body);
    }
  }
  for (i = 0; i < hf->ncache; i++)
    free(hf->cache[i].p);
  free(hf->cache);
  free(hf->conns);
  free(hf->slots);
  free(hf->avail);
  free(hf->hdrs);
  free(hf->method);
  free(hf);
}

static void finalize(struct http_fast *hf) {
  sbx_adapter_close_cb cb = hf->close_cb;
  if (cb != NULL)
    cb(&hf->base);
  free_all(hf);
}

/* One of hf's handles has closed; the last one frees hf. */
static void handle_closed(struct http_fast *hf) {
  hf->open_handles--;
  if (hf->open_handles == 0)
    finalize(hf);
}

static void on_timer_closed(uv_handle_t *h) {
  handle_closed(((struct conn *)h->data)->hf);
}

static void on_spin_closed(uv_handle_t *h) {
  handle_closed(h->data);
}

static void hf_close(struct sbx_adapter *a, sbx_adapter_close_cb close_cb) {
  struct http_fast *hf = (struct http_fast *)a;
  uint32_t i;

  if (hf->closing)
    return;
  hf->closing = 1;
  hf->close_cb = close_cb;
  for (i = 0; i < hf->nconns; i++) {
    struct conn *c = &hf->conns[i];
    conn_close_socket(c);
    c->pending_err = 0;
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
  }
  uv_close((uv_handle_t *)&hf->spin, on_spin_closed);
  /* Handles are closing; now tell the engine. It may not submit (ESTATE)
   * and its close_cb comes later, from the last close callback. */
  for (i = 0; i < hf->nconns; i++) {
    struct conn *c = &hf->conns[i];
    while (ring_count(c) > 0) {
      struct slot s = ring_pop(c);
      fail_req(hf, c, s.req, EC_OTHER, 0, "canceled");
    }
  }
}

static const struct sbx_adapter_ops http_fast_ops = {
    .name = "fast",
    .submit = hf_submit,
    .close = hf_close,
    .usage = NULL,
};

/* ---- open: base URL ----------------------------------------------------- */

struct url_parts {
  char host[MAX_HOST_LEN + 1]; /* without brackets */
  int ipv6;                    /* host was a bracketed literal */
  unsigned port;
};

static const char url_fix[] = "write it like \"http://127.0.0.1:8080\"";

static int is_host_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

static int parse_base_url(const char *base, struct url_parts *u,
                          struct sbx_diag *diag) {
  const char *s, *auth, *end, *host, *host_end, *port = NULL;
  size_t hlen;

  if (base == NULL || *base == '\0') {
    sbx_diag_set(diag, "base_url: missing; %s", url_fix);
    return SBX_EINVAL;
  }
  for (s = base; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if (c <= 0x20 || c >= 0x7f) {
      sbx_diag_set(diag,
                   "base_url \"%.200s\": contains a space, control or "
                   "non-ASCII byte at offset %zu; %s",
                   base, (size_t)(s - base), url_fix);
      return SBX_EINVAL;
    }
  }
  if (strncasecmp(base, "http://", 7) != 0) {
    const char *sep = strstr(base, "://");
    if (sep != NULL && sep != base) {
      sbx_diag_set(diag,
                   "base_url \"%.200s\": the fast HTTP client handles plain "
                   "http:// only; use --http-client curl for %.*s://",
                   base, (int)(sep - base > 20 ? 20 : sep - base), base);
    } else {
      sbx_diag_set(diag, "base_url \"%.200s\": scheme must be http://; %s",
                   base, url_fix);
    }
    return SBX_EINVAL;
  }
  auth = base + 7;
  end = auth + strcspn(auth, "/?#");
  if (memchr(auth, '@', (size_t)(end - auth)) != NULL) {
    sbx_diag_set(diag,
                 "base_url \"%.200s\": credentials in the URL are not "
                 "supported; remove \"user@\" and send an Authorization "
                 "header through interface.headers",
                 base);
    return SBX_EINVAL;
  }
  if (strpbrk(end, "?#") != NULL) {
    sbx_diag_set(diag,
                 "base_url \"%.200s\": has a query or fragment; put it in "
                 "interface.path and keep base_url to scheme, host and "
                 "port",
                 base);
    return SBX_EINVAL;
  }
  if (*end != '\0' && strcmp(end, "/") != 0) {
    sbx_diag_set(diag,
                 "base_url \"%.200s\": has the path \"%.200s\"; keep "
                 "base_url to scheme, host and port and put the path in "
                 "interface.path",
                 base, end);
    return SBX_EINVAL;
  }

  memset(u, 0, sizeof(*u));
  u->port = 80;
  if (*auth == '[') {
    const char *rb = memchr(auth, ']', (size_t)(end - auth));
    if (rb == NULL) {
      sbx_diag_set(diag,
                   "base_url \"%.200s\": IPv6 address without its closing "
                   "\"]\"; write it like \"http://[::1]:8080\"",
                   base);
      return SBX_EINVAL;
    }
    host = auth + 1;
    host_end = rb;
    u->ipv6 = 1;
    if (rb + 1 < end) {
      if (rb[1] != ':') {
        sbx_diag_set(diag,
                     "base_url \"%.200s\": unexpected text after the IPv6 "
                     "address; write it like \"http://[::1]:8080\"",
                     base);
        return SBX_EINVAL;
      }
      port = rb + 2;
    }
  } else {
    host = auth;
    host_end = memchr(auth, ':', (size_t)(end - auth));
    if (host_end == NULL)
      host_end = end;
    else
      port = host_end + 1;
  }
  hlen = (size_t)(host_end - host);
  if (hlen == 0) {
    sbx_diag_set(diag, "base_url \"%.200s\": no host; %s", base, url_fix);
    return SBX_EINVAL;
  }
  if (hlen > MAX_HOST_LEN) {
    sbx_diag_set(diag,
                 "base_url \"%.200s\": host is longer than %u characters; "
                 "use a shorter name or an IP address",
                 base, MAX_HOST_LEN);
    return SBX_EINVAL;
  }
  memcpy(u->host, host, hlen);
  u->host[hlen] = '\0';
  if (!u->ipv6) {
    for (s = host; s < host_end; s++) {
      if (!is_host_char((unsigned char)*s)) {
        sbx_diag_set(diag,
                     "base_url \"%.200s\": host \"%s\" contains '%c', which "
                     "is not allowed in a host name; %s",
                     base, u->host, *s, url_fix);
        return SBX_EINVAL;
      }
    }
  } else {
    unsigned char tmp[16];
    char addr[MAX_HOST_LEN + 1];
    /* uv_inet_pton does not take a zone ("fe80::1%eth0"); check the rest. */
    size_t alen = strcspn(u->host, "%");
    memcpy(addr, u->host, alen);
    addr[alen] = '\0';
    if (uv_inet_pton(AF_INET6, addr, tmp) != 0) {
      sbx_diag_set(diag,
                   "base_url \"%.200s\": \"%s\" is not an IPv6 address; "
                   "write it like \"http://[::1]:8080\"",
                   base, u->host);
      return SBX_EINVAL;
    }
  }
  if (port != NULL && port < end) {
    unsigned long v = 0;
    for (s = port; s < end; s++) {
      if (*s < '0' || *s > '9' || v > 65535) {
        v = 0;
        break;
      }
      v = v * 10 + (unsigned long)(*s - '0');
    }
    if (v == 0 || v > 65535) {
      sbx_diag_set(diag,
                   "base_url \"%.200s\": port \"%.*s\" is not a number from "
                   "1 to 65535; %s",
                   base, (int)(end - port > 20 ? 20 : end - port), port,
                   url_fix);
      return SBX_EINVAL;
    }
    u->port = (unsigned)v;
  }
  return 0;
}

/* Fills hf->addrs: numeric hosts directly, names through getaddrinfo. */
static int resolve(struct http_fast *hf, uv_loop_t *loop,
                   const struct url_parts *u, const char *base,
                   struct sbx_diag *diag) {
  struct addrinfo hints;
  const struct addrinfo *ai;
  uv_getaddrinfo_t gr;
  char port[8];
  int rc;

  if (u->ipv6) {
    if (uv_ip6_addr(u->host, (int)u->port,
                    (struct sockaddr_in6 *)&hf->addrs[0]) == 0) {
      hf->naddrs = 1;
      return 0;
    }
  } else if (uv_ip4_addr(u->host, (int)u->port,
                         (struct sockaddr_in *)&hf->addrs[0]) == 0) {
    hf->naddrs = 1;
    return 0;
  }
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICSERV;
  snprintf(port, sizeof(port), "%u", u->port);
  /* No callback: resolved synchronously, once, here. */
  rc = uv_getaddrinfo(loop, &gr, NULL, u->host, port, &hints);
  if (rc != 0) {
    sbx_diag_set(diag,
                 "base_url \"%.200s\": cannot resolve \"%s\": %s; check the "
                 "host name or use an IP address",
                 base, u->host, uv_strerror(rc));
    return rc == UV_ENOMEM || rc == UV_EAI_MEMORY ? SBX_ENOMEM : SBX_EIO;
  }
  for (ai = gr.addrinfo; ai != NULL && hf->naddrs < MAX_ADDRS;
       ai = ai->ai_next) {
    if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
        ai->ai_addrlen > sizeof(hf->addrs[0]))
      continue;
    memcpy(&hf->addrs[hf->naddrs++], ai->ai_addr, ai->ai_addrlen);
  }
  uv_freeaddrinfo(gr.addrinfo);
  if (hf->naddrs == 0) {
    sbx_diag_set(diag,
                 "base_url \"%.200s\": \"%s\" has no IPv4 or IPv6 address; "
                 "check the host name or use an IP address",
                 base, u->host);
    return SBX_EIO;
  }
  return 0;
}

/* ---- open: method and headers ------------------------------------------- */



static int setup_method(struct http_fast *hf, struct sbx_diag *diag) {
  return sbx_http_method(hf->iface, &hf->method, &hf->head_only,
                         &hf->method_has_body, diag);
}

struct strbuf {
  char *p;
  size_t len;
  size_t cap;
};

static int sb_put(struct strbuf *b, const char *s, size_t n) {
  if (n > SIZE_MAX - b->len - 1)
    return SBX_ENOMEM;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    char *np;
    while (cap < b->len + n + 1)
      cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
    np = realloc(b->p, cap);
    if (np == NULL)
      return SBX_ENOMEM;
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
  return 0;
}

static int sb_field(struct strbuf *b, const char *name, const char *value) {
  int rc = sb_put(b, name, strlen(name));
  if (rc == 0)
    rc = sb_put(b, ":", 1);
  if (rc == 0 && *value != '\0') {
    rc = sb_put(b, " ", 1);
    if (rc == 0)
      rc = sb_put(b, value, strlen(value));
  }
  if (rc == 0)
    rc = sb_put(b, "\r\n", 2);
  return rc;
}

/* The header block every request carries: Host, the interface's headers
 * and Content-Type. Content-Length is added per case. */
static int build_headers(struct http_fast *hf, const struct url_parts *u,
                         struct sbx_diag *diag) {
  const Sbx__V1__Interface *iface = hf->iface;
  struct strbuf b = {NULL, 0, 0};
  char host[MAX_HOST_LEN + 16];
  int rc = 0, own_host = 0;
  size_t i;

  if (iface != NULL) {
    for (i = 0; i < iface->n_headers; i++) {
      const Sbx__V1__Header *h = iface->headers[i];
      const char *name = h != NULL && h->name != NULL ? h->name : "";
      const char *value = h != NULL && h->value != NULL ? h->value : "";
      if (!sbx_http_is_token(name)) {
        sbx_diag_set(diag,
                     "interface.headers[%zu]: name \"%.100s\" is not a valid "
                     "HTTP header name; use letters, digits and "
                     "!#$%%&'*+-.^_`|~ only",
                     i, name);
        rc = SBX_EINVAL;
        goto out;
      }
      if (!sbx_http_is_field_value(value)) {
        sbx_diag_set(diag,
                     "interface.headers[%zu] (%.100s): value contains a line "
                     "break or control character; remove it",
                     i, name);
        rc = SBX_EINVAL;
        goto out;
      }
      /* The client frames each body itself; a second length would let the
       * product read the stream differently from us. */
      if (strcasecmp(name, "Content-Length") == 0 ||
          strcasecmp(name, "Transfer-Encoding") == 0) {
        sbx_diag_set(diag,
                     "interface.headers[%zu]: %s is set by the HTTP client "
                     "from each case's input; remove it",
                     i, name);
        rc = SBX_EINVAL;
        goto out;
      }
      if (strcasecmp(name, "Host") == 0)
        own_host = 1;
    }
  }
  if (!own_host) {
    if (u->port == 80)
      snprintf(host, sizeof(host), u->ipv6 ? "[%s]" : "%s", u->host);
    else
      snprintf(host, sizeof(host), u->ipv6 ? "[%s]:%u" : "%s:%u", u->host,
               u->port);
    rc = sb_field(&b, "Host", host);
    if (rc != 0)
      goto out;
  }
  if (iface != NULL) {
    for (i = 0; i < iface->n_headers; i++) {
      const Sbx__V1__Header *h = iface->headers[i];
      rc = sb_field(&b, h->name, h->value != NULL ? h->value : "");
      if (rc != 0)
        goto out;
    }
    if (iface->content_type != NULL && *iface->content_type != '\0') {
      if (!sbx_http_is_field_value(iface->content_type)) {
        sbx_diag_set(diag, "interface.content_type: contains a line break or "
                           "control character; remove it");
        rc = SBX_EINVAL;
        goto out;
      }
      rc = sb_field(&b, "Content-Type", iface->content_type);
      if (rc != 0)
        goto out;
    }
  }
  hf->hdrs = b.p;
  hf->hdrs_len = b.len;
  b.p = NULL;
out:
  free(b.p);
  return rc;
}

/* ---- open --------------------------------------------------------------- */

int sbx_http_fast_open(uv_loop_t *loop, const struct sbx_http_config *cfg,
                       sbx_adapter_done_cb on_done, void *data,
                       struct sbx_adapter **out, struct sbx_diag *diag) {
  struct http_fast *hf = NULL;
  struct url_parts u;
  uint32_t i, depth;
  int rc = SBX_EINVAL, diag_set = 0;

  if (out != NULL)
    *out = NULL;
  if (loop == NULL || cfg == NULL || on_done == NULL || out == NULL) {
    sbx_diag_set(diag, "http adapter: missing loop, config or callback");
    return SBX_EINVAL;
  }
  if (cfg->max_in_flight == 0 || cfg->max_in_flight > MAX_IN_FLIGHT_LIMIT) {
    sbx_diag_set(diag,
                 "max_in_flight %u: must be between 1 and %u; lower the "
                 "load's concurrency or max_in_flight",
                 cfg->max_in_flight, MAX_IN_FLIGHT_LIMIT);
    return SBX_EINVAL;
  }
  if (cfg->pipeline_depth > MAX_DEPTH) {
    sbx_diag_set(diag,
                 "interface.pipeline_depth %u: must be at most %u; use a "
                 "small depth such as 4",
                 cfg->pipeline_depth, MAX_DEPTH);
    return SBX_EINVAL;
  }
  rc = parse_base_url(cfg->base_url, &u, diag);
  if (rc != 0)
    return rc;

  rc = SBX_ENOMEM;
  hf = calloc(1, sizeof(*hf));
  if (hf == NULL)
    goto out;
  hf->base.ops = &http_fast_ops;
  hf->base.loop = loop;
  hf->base.on_done = on_done;
  hf->base.data = data;
  hf->base.max_in_flight = cfg->max_in_flight;
  hf->iface = cfg->iface;
  hf->max_body = cfg->max_body_bytes == 0 ? DEFAULT_MAX_BODY
                 : cfg->max_body_bytes > SIZE_MAX / 2
                     ? SIZE_MAX / 2
                     : (size_t)cfg->max_body_bytes;
  hf->limits.max_body = hf->max_body;
  if (cfg->timeout_us <= 0)
    hf->timeout_ns = 0;
  else if ((uint64_t)cfg->timeout_us > UINT64_MAX / 4000)
    hf->timeout_ns = UINT64_MAX / 4; /* centuries: never, but finite */
  else
    hf->timeout_ns = (uint64_t)cfg->timeout_us * 1000;
  if (u.ipv6)
    snprintf(hf->peer, sizeof(hf->peer), "[%s]:%u", u.host, u.port);
  else
    snprintf(hf->peer, sizeof(hf->peer), "%s:%u", u.host, u.port);

  rc = setup_method(hf, diag);
  if (rc != 0)
    goto out;
  rc = build_headers(hf, &u, diag);
  if (rc != 0)
    goto out;
  rc = resolve(hf, loop, &u, cfg->base_url, diag);
  if (rc != 0) {
    diag_set = 1;
    goto out;
  }

  depth = cfg->pipeline_depth <= 1 ? 1 : cfg->pipeline_depth;
  if (depth > cfg->max_in_flight)
    depth = cfg->max_in_flight;
  hf->depth = depth;
  hf->nconns = (cfg->max_in_flight + depth - 1) / depth;

  rc = SBX_ENOMEM;
  hf->conns = calloc(hf->nconns, sizeof(*hf->conns));
  hf->slots = calloc((size_t)hf->nconns * depth, sizeof(*hf->slots));
  hf->avail = calloc(hf->nconns, sizeof(*hf->avail));
  if (hf->conns == NULL || hf->slots == NULL || hf->avail == NULL)
    goto out;

  /* Last, because it cannot fail and needs a loop turn to undo. */
  for (i = 0; i < hf->nconns; i++) {
    struct conn *c = &hf->conns[i];
    c->hf = hf;
    c->ring = &hf->slots[(size_t)i * depth];
    c->state = CONN_DOWN;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    hf->open_handles++;
    avail_push_back(hf, c);
  }
  uv_idle_init(loop, &hf->spin);
  hf->spin.data = hf;
  uv_unref((uv_handle_t *)&hf->spin);
  hf->open_handles++;
  hf->gap_avg = SPIN_GAP_CAP_NS;
  *out = &hf->base;
  hf = NULL;
  rc = 0;
out:
  if (hf != NULL) {
    if (rc == SBX_ENOMEM && !diag_set)
      sbx_diag_set(diag, "http adapter: out of memory");
    free_all(hf);
  }
  return rc;
}

uint64_t sbx_http_fast_sockets_opened(struct sbx_adapter *a) {
  return ((struct http_fast *)a)->sockets_opened;
}
