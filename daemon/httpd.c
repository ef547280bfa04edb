/* httpd.c - libmicrohttpd on the libuv loop. See httpd.h.
 *
 * Lifetimes: a struct conn lives from libmicrohttpd's "connection started"
 * to "connection closed" notice; a struct sbx_httpd_req from the first call
 * of the access handler for a request to its "request completed" notice.
 * Nothing else frees either, so a request's memory stays valid through
 * every callback of that request even after the handler gave it up.
 *
 * A connection is suspended whenever it waits for us (an answer not given
 * yet, an empty stream queue). libmicrohttpd does not watch a suspended
 * socket, so a client that leaves would go unnoticed until the next write;
 * while suspended we watch the socket for a hang-up ourselves (struct
 * watch), which is what lets an async call or an idle stream learn at once
 * that its client is gone.
 */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY (64u * 1024 * 1024)
#define DEFAULT_MAX_HEADER (32u * 1024)
#define MIN_MAX_HEADER (4u * 1024)
#define DEFAULT_MAX_CONNECTIONS 1024u
#define DEFAULT_IDLE_S 60u
#define DEFAULT_HEADER_DEADLINE_S 10u
#define DEFAULT_GRACE_MS 5000u
#define DEFAULT_STREAM_QUEUE (8u * 1024 * 1024)
#define STREAM_BLOCK (16u * 1024)
#define BODY_PREALLOC (64u * 1024)
#define NS_PER_S 1000000000ull
#define NS_PER_MS 1000000ull

enum req_state {
  RS_RECEIVING, /* head or body still arriving */
  RS_OWNED,     /* handed to on_request, not ended yet */
  RS_ENDED,     /* answered or stream ended by the handler */
  RS_CLOSED     /* close callback delivered: the handler let go */
};

struct conn;

/* Hang-up watch on the socket of a suspended connection. Allocated per
 * suspension and closed at resume, always before libmicrohttpd can close
 * the socket: libuv must never hold a descriptor number that was closed
 * and may be reused. */
struct watch {
  uv_poll_t poll;
  struct sbx_httpd_req *r; /* NULL once r let go of it */
};

struct sbx_httpd_req {
  struct sbx_httpd *h;
  struct conn *c; /* NULL if the connection's record could not be made */
  struct MHD_Connection *mc;
  struct sbx_httpd_req *prev, *next;
  const char *method;
  const char *path;
  uint8_t *body;
  size_t len, cap;
  uint64_t arrival_ns;
  int state;
  int dispatched; /* on_request was called (or the 503 of a stop given) */
  int in_handler; /* inside the access handler for this request */
  int suspended;
  int queued;                /* a response was queued with libmicrohttpd */
  int fail;                  /* close the connection at the next handler call */
  int gone;                  /* the watch saw the client leave */
  struct MHD_Response *resp; /* answer waiting for the handler to queue it */
  unsigned status;
  struct watch *watch;
  /* streams */
  int is_stream;
  int stream_ended;
  int abort; /* end the stream with an error (cut the connection) */
  uint8_t *q;
  size_t q_head, q_len, q_cap, q_max;
  void (*close_cb)(struct sbx_httpd_req *r, int reason, void *arg);
  void *close_arg;
};

struct conn {
  struct sbx_httpd *h;
  struct MHD_Connection *mc;
  int fd;
  char peer[INET6_ADDRSTRLEN];
  uint64_t deadline_ns; /* the request head is due by then; 0: none */
  struct sbx_httpd_req *req;
  struct conn *prev, *next;
};

struct sbx_httpd {
  uv_loop_t *loop;
  struct MHD_Daemon *d;
  uv_poll_t poll;            /* libmicrohttpd's epoll descriptor */
  uv_timer_t timer;          /* libmicrohttpd's next timeout */
  uv_idle_t idle;            /* run libmicrohttpd again on the next pass */
  uv_timer_t deadline_timer; /* request-head deadlines */
  uv_timer_t grace_timer;    /* end of the shutdown grace period */
  int handles_open;
  int port;
  char host[64];
  struct sbx_httpd_config cfg;
  struct conn *conns;
  struct sbx_httpd_req *reqs;
  uint64_t deadline_armed_ns; /* when deadline_timer fires; 0: stopped */
  int run_again;
  int stop_requested, stopping, finishing;
  MHD_socket quiesced_fd;
  void (*stop_cb)(void *arg);
  void *stop_arg;
  struct sbx_httpd_stats st;
};

static void drive(struct sbx_httpd *h);
static void on_idle(uv_idle_t *idle);

/* ---- the loop side ---- */

/* Makes the loop run libmicrohttpd on its next pass: after a resume (no
 * wake-up reaches the epoll descriptor in external mode), a closed
 * connection (the listen socket is re-armed only by MHD_run) or a
 * shutdown(2) of ours. */
static void kick(struct sbx_httpd *h) {
  if (h->finishing)
    return;
  h->run_again = 1;
  uv_idle_start(&h->idle, on_idle);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  drive(p->data);
}

static void on_timer(uv_timer_t *t) {
  drive(t->data);
}

static void on_idle(uv_idle_t *idle) {
  drive(idle->data);
}

static void on_deadline(uv_timer_t *t);

/* Arms the deadline timer to fire at at_ns (uv_hrtime). */
static void start_deadline_timer(struct sbx_httpd *h, uint64_t at_ns) {
  uint64_t now = uv_hrtime();
  uint64_t ms = at_ns > now ? (at_ns - now + NS_PER_MS - 1) / NS_PER_MS : 0;
  h->deadline_armed_ns = at_ns;
  uv_timer_start(&h->deadline_timer, on_deadline, ms, 0);
}

static void on_deadline(uv_timer_t *t) {
  struct sbx_httpd *h = t->data;
  uint64_t now = uv_hrtime(), next = 0;
  struct conn *c;
  h->deadline_armed_ns = 0;
  for (c = h->conns; c != NULL; c = c->next) {
    if (c->deadline_ns == 0)
      continue;
    if (c->deadline_ns <= now) {
      /* libmicrohttpd has no call to drop a connection; a shutdown makes
       * its next read see the end of the stream, and it closes the
       * connection itself, callbacks and all. */
      c->deadline_ns = 0;
      if (c->fd >= 0 && shutdown(c->fd, SHUT_RDWR) == 0)
        h->st.deadline_drops++;
      kick(h);
    } else if (next == 0 || c->deadline_ns < next) {
      next = c->deadline_ns;
    }
  }
  if (next != 0 && !h->finishing)
    start_deadline_timer(h, next);
}

static void set_deadline(struct sbx_httpd *h, struct conn *c, uint64_t at_ns) {
  c->deadline_ns = at_ns;
  if (h->finishing || at_ns == 0)
    return;
  if (h->deadline_armed_ns == 0 || at_ns < h->deadline_armed_ns)
    start_deadline_timer(h, at_ns);
}

/* ---- suspension and the hang-up watch ---- */

static void on_watch_closed(uv_handle_t *handle) {
  free(handle->data);
}

static void watch_close(struct sbx_httpd_req *r) {
  struct watch *w = r->watch;
  if (w == NULL)
    return;
  r->watch = NULL;
  w->r = NULL;
  uv_close((uv_handle_t *)&w->poll, on_watch_closed);
}

static void resume(struct sbx_httpd_req *r);
static void deliver_close(struct sbx_httpd_req *r, int reason);

static void on_watch(uv_poll_t *p, int status, int events) {
  struct watch *w = p->data;
  struct sbx_httpd_req *r = w->r;
  if (r == NULL)
    return;
  watch_close(r);
  r->gone = 1;
  if (r->state == RS_OWNED)
    deliver_close(r, SBX_HTTPD_CLIENT_GONE);
  /* Let libmicrohttpd see the request again: the handler or the stream
   * reader refuses to go on, and the connection is closed and freed. */
  resume(r);
}

static void watch_open(struct sbx_httpd_req *r) {
  struct watch *w;
  if (r->c == NULL || r->c->fd < 0 || r->watch != NULL)
    return;
  w = calloc(1, sizeof(*w));
  if (w == NULL)
    return; /* the disconnect is then noticed at the next write */
  if (uv_poll_init(r->h->loop, &w->poll, r->c->fd) != 0) {
    free(w);
    return;
  }
  w->poll.data = w;
  w->r = r;
  r->watch = w;
  if (uv_poll_start(&w->poll, UV_DISCONNECT, on_watch) != 0)
    watch_close(r);
}

static void suspend(struct sbx_httpd_req *r) {
  MHD_suspend_connection(r->mc);
  r->suspended = 1;
  watch_open(r);
}

static void resume(struct sbx_httpd_req *r) {
  if (!r->suspended)
    return;
  watch_close(r);
  r->suspended = 0;
  MHD_resume_connection(r->mc);
  kick(r->h);
}

/* ---- answers ---- */

static int add_headers(struct MHD_Response *resp, const char *ctype,
                       const char *const *headers) {
  size_t i;
  if (ctype != NULL &&
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) !=
          MHD_YES)
    return SBX_EINVAL;
  for (i = 0; headers != NULL && headers[i] != NULL; i += 2) {
    if (headers[i + 1] == NULL ||
        MHD_add_response_header(resp, headers[i], headers[i + 1]) != MHD_YES)
      return SBX_EINVAL;
  }
  return 0;
}

/* Gives resp (ours until now) to r's connection: queued at once inside the
 * access handler, else kept for the handler to queue after the resume. */
static void hand_over(struct sbx_httpd_req *r, struct MHD_Response *resp,
                      unsigned status) {
  if (r->in_handler) {
    if (MHD_queue_response(r->mc, status, resp) != MHD_YES)
      r->fail = 1;
    MHD_destroy_response(resp);
    r->queued = 1;
    return;
  }
  r->resp = resp;
  r->status = status;
  resume(r);
}

/* Ends r with a failure: the connection is closed unanswered. */
static void fail_req(struct sbx_httpd_req *r) {
  r->fail = 1;
  if (!r->in_handler)
    resume(r);
}

int sbx_httpd_respond_hdrs(struct sbx_httpd_req *r, unsigned status,
                           const char *ctype, const char *const *headers,
                           const void *body, size_t len) {
  struct MHD_Response *resp = NULL;
  int rc;
  if (r->state == RS_CLOSED)
    return SBX_ECANCELED;
  if (r->state != RS_OWNED || r->is_stream)
    return SBX_EINVAL;
  r->state = RS_ENDED;
  resp = MHD_create_response_from_buffer(len, (void *)(body ? body : ""),
                                         MHD_RESPMEM_MUST_COPY);
  if (resp == NULL) {
    rc = SBX_ENOMEM;
    goto fail;
  }
  rc = add_headers(resp, ctype, headers);
  if (rc != 0)
    goto fail;
  hand_over(r, resp, status);
  return 0;
fail:
  if (resp != NULL)
    MHD_destroy_response(resp);
  fail_req(r);
  return rc;
}

int sbx_httpd_respond(struct sbx_httpd_req *r, unsigned status,
                      const char *ctype, const void *body, size_t len) {
  return sbx_httpd_respond_hdrs(r, status, ctype, NULL, body, len);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  struct sbx_httpd_req *r = cls;
  size_t n;
  if (r->abort || r->gone || r->state == RS_CLOSED)
    return MHD_CONTENT_READER_END_WITH_ERROR;
  if (r->q_len > 0) {
    n = r->q_len < max ? r->q_len : max;
    memcpy(buf, r->q + r->q_head, n);
    r->q_head += n;
    r->q_len -= n;
    if (r->q_len == 0)
      r->q_head = 0;
    return (ssize_t)n;
  }
  if (r->stream_ended)
    return MHD_CONTENT_READER_END_OF_STREAM;
  /* Nothing to send: returning 0 without suspending would have
   * libmicrohttpd ask again at once, forever. */
  suspend(r);
  return 0;
}

int sbx_httpd_stream_begin(struct sbx_httpd_req *r, unsigned status,
                           const char *ctype, const char *const *headers,
                           size_t max_queued) {
  struct MHD_Response *resp;
  int rc;
  if (r->state != RS_OWNED || r->is_stream)
    return SBX_EINVAL;
  resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK,
                                           stream_reader, r, NULL);
  if (resp == NULL)
    return SBX_ENOMEM;
  rc = add_headers(resp, ctype, headers);
  if (rc != 0) {
    MHD_destroy_response(resp);
    return rc;
  }
  r->is_stream = 1;
  r->q_max = max_queued ? max_queued : DEFAULT_STREAM_QUEUE;
  hand_over(r, resp, status);
  return 0;
}

/* Appends data to r's queue, growing it as needed. */
static int enqueue(struct sbx_httpd_req *r, const void *data, size_t len) {
  if (r->q_head + r->q_len + len > r->q_cap) {
    if (r->q_head > 0) {
      memmove(r->q, r->q + r->q_head, r->q_len);
      r->q_head = 0;
    }
    if (r->q_len + len > r->q_cap) {
      size_t need = r->q_len + len, cap = r->q_cap ? r->q_cap : 4096;
      uint8_t *q;
      while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
      if (cap > r->q_max && need <= r->q_max)
        cap = r->q_max;
      q = realloc(r->q, cap);
      if (q == NULL)
        return SBX_ENOMEM;
      r->q = q;
      r->q_cap = cap;
    }
  }
  memcpy(r->q + r->q_head + r->q_len, data, len);
  r->q_len += len;
  return 0;
}

int sbx_httpd_stream_write(struct sbx_httpd_req *r, const void *data,
                           size_t len) {
  int rc;
  if (r->state == RS_CLOSED || r->gone)
    return SBX_ECANCELED;
  if (!r->is_stream || r->state != RS_OWNED)
    return SBX_EINVAL;
  if (len == 0)
    return 0;
  if (r->q_len > 0 &&
      len > r->q_max - (r->q_len < r->q_max ? r->q_len : r->q_max))
    return SBX_EBUSY;
  rc = enqueue(r, data, len);
  if (rc != 0)
    return rc;
  resume(r);
  return 0;
}

int sbx_httpd_stream_end(struct sbx_httpd_req *r, const void *last,
                         size_t len) {
  int rc = 0;
  if (r->state != RS_OWNED || !r->is_stream)
    return SBX_EINVAL;
  r->state = RS_ENDED;
  if (len > 0 && (rc = enqueue(r, last, len)) != 0)
    r->abort = 1;
  r->stream_ended = 1;
  resume(r);
  return rc;
}

size_t sbx_httpd_stream_queued(const struct sbx_httpd_req *r) {
  return r->q_len;
}

/* Runs r's close callback. For a shutdown the callback may still end r;
 * whatever it leaves open is ended here. */
static void deliver_close(struct sbx_httpd_req *r, int reason) {
  void (*cb)(struct sbx_httpd_req *, int, void *) = r->close_cb;
  void *arg = r->close_arg;
  r->close_cb = NULL;
  if (reason == SBX_HTTPD_CLIENT_GONE) {
    r->state = RS_CLOSED;
    r->h->st.client_gone++;
    if (cb != NULL)
      cb(r, reason, arg);
    return;
  }
  if (cb != NULL)
    cb(r, reason, arg);
  if (r->state != RS_OWNED)
    return;
  if (r->is_stream) {
    r->abort = 1;
    r->state = RS_CLOSED;
    resume(r);
  } else {
    static const char msg[] = "server shutting down\n";
    sbx_httpd_respond(r, 503, "text/plain", msg, sizeof(msg) - 1);
    r->state = RS_CLOSED;
  }
}

/* ---- libmicrohttpd's callbacks ---- */

static enum MHD_Result answer_now(struct MHD_Connection *mc, unsigned status,
                                  const char *text) {
  struct MHD_Response *resp;
  enum MHD_Result ret;
  resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
                                         MHD_RESPMEM_MUST_COPY);
  if (resp == NULL)
    return MHD_NO;
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
  ret = MHD_queue_response(mc, status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static struct conn *conn_of(struct MHD_Connection *mc) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci != NULL ? ci->socket_context : NULL;
}

/* Parses a Content-Length value; returns 0 if it is not a plain decimal
 * number (libmicrohttpd has vetted it already: this only reads it). */
static int parse_length(const char *s, uint64_t *out) {
  uint64_t v = 0;
  if (s == NULL || *s == '\0')
    return 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return 0;
    if (v > (UINT64_MAX - 9) / 10)
      return 0;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  *out = v;
  return 1;
}

static enum MHD_Result first_call(struct sbx_httpd *h,
                                  struct MHD_Connection *mc, const char *url,
                                  const char *method, void **con_cls) {
  struct sbx_httpd_req *r;
  uint64_t clen;
  if (h->stopping)
    return answer_now(mc, 503, "server shutting down\n");
  r = calloc(1, sizeof(*r));
  if (r == NULL)
    return MHD_NO;
  r->h = h;
  r->mc = mc;
  r->method = method;
  r->path = url;
  r->arrival_ns = uv_hrtime();
  r->c = conn_of(mc);
  if (r->c != NULL) {
    r->c->req = r;
    r->c->deadline_ns = 0;
  }
  r->next = h->reqs;
  if (h->reqs != NULL)
    h->reqs->prev = r;
  h->reqs = r;
  h->st.in_flight++;
  *con_cls = r;

  if (parse_length(MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH),
                   &clen)) {
    if (clen > h->cfg.max_body_bytes) {
      char text[160];
      /* Answered before the body is read: libmicrohttpd then closes the
       * connection instead of reading what follows. */
      h->st.too_large++;
      r->dispatched = 1;
      r->state = RS_ENDED;
      snprintf(text, sizeof(text),
               "request body of %llu bytes is over the limit of %zu bytes\n",
               (unsigned long long)clen, h->cfg.max_body_bytes);
      return answer_now(mc, MHD_HTTP_CONTENT_TOO_LARGE, text);
    }
    if (clen > 0) {
      /* Sized by what is announced only up to a point: memory follows the
       * bytes that really arrive, not a client's promise. */
      size_t cap = clen < BODY_PREALLOC ? (size_t)clen : BODY_PREALLOC;
      r->body = malloc(cap);
      if (r->body == NULL)
        return MHD_NO;
      r->cap = cap;
    }
  }
  /* Answering now would make libmicrohttpd 0.9.75 close the connection
   * after every reply: wait for the next call. */
  return MHD_YES;
}

static enum MHD_Result take_body(struct sbx_httpd_req *r, const char *data,
                                 size_t n) {
  struct sbx_httpd *h = r->h;
  if (n > h->cfg.max_body_bytes - r->len) {
    /* A chunked body past the limit: no answer can be queued while the
     * body is being read, so the connection is closed. */
    h->st.too_large++;
    return MHD_NO;
  }
  if (r->len + n > r->cap) {
    size_t cap = r->cap ? r->cap : 4096;
    uint8_t *b;
    while (cap < r->len + n)
      cap = cap > SIZE_MAX / 2 ? r->len + n : cap * 2;
    if (cap > h->cfg.max_body_bytes)
      cap = h->cfg.max_body_bytes;
    b = realloc(r->body, cap);
    if (b == NULL)
      return MHD_NO;
    r->body = b;
    r->cap = cap;
  }
  memcpy(r->body + r->len, data, n);
  r->len += n;
  return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *mc,
                                 const char *url, const char *method,
                                 const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls) {
  struct sbx_httpd *h = cls;
  struct sbx_httpd_req *r = *con_cls;
  if (r == NULL)
    return first_call(h, mc, url, method, con_cls);
  if (*upload_data_size > 0) {
    enum MHD_Result ret = take_body(r, upload_data, *upload_data_size);
    *upload_data_size = 0;
    return ret;
  }
  if (r->fail || r->gone || r->abort)
    return MHD_NO;
  if (r->resp != NULL) {
    enum MHD_Result ret = MHD_queue_response(mc, r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    r->queued = 1;
    return ret;
  }
  if (r->queued)
    return MHD_YES;
  if (!r->dispatched) {
    r->dispatched = 1;
    if (h->stopping) {
      r->state = RS_ENDED;
      return answer_now(mc, 503, "server shutting down\n");
    }
    r->state = RS_OWNED;
    h->st.requests++;
    r->in_handler = 1;
    h->cfg.on_request(r, h->cfg.arg);
    r->in_handler = 0;
    if (r->fail)
      return MHD_NO;
    if (r->queued)
      return MHD_YES;
  }
  if (r->state == RS_OWNED) {
    suspend(r);
    return MHD_YES;
  }
  /* Ended without an answer (a close callback let go of it). */
  return MHD_NO;
}

static void free_req(struct sbx_httpd_req *r) {
  struct sbx_httpd *h = r->h;
  watch_close(r);
  if (r->prev != NULL)
    r->prev->next = r->next;
  else
    h->reqs = r->next;
  if (r->next != NULL)
    r->next->prev = r->prev;
  if (r->c != NULL && r->c->req == r)
    r->c->req = NULL;
  if (r->resp != NULL)
    MHD_destroy_response(r->resp);
  h->st.in_flight--;
  free(r->body);
  free(r->q);
  free(r);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  struct sbx_httpd *h = cls;
  struct sbx_httpd_req *r = *con_cls;
  struct conn *c;
  *con_cls = NULL;
  c = r != NULL ? r->c : conn_of(mc);
  /* The next request head on a kept-alive connection is due after the
   * idle time allowed plus the head's own deadline. */
  if (c != NULL)
    set_deadline(h, c,
                 uv_hrtime() + (uint64_t)(h->cfg.idle_timeout_s +
                                          h->cfg.header_deadline_s) *
                                   NS_PER_S);
  if (r == NULL)
    return;
  if (r->state == RS_OWNED)
    deliver_close(r, SBX_HTTPD_CLIENT_GONE);
  free_req(r);
}

static void on_connection(void *cls, struct MHD_Connection *mc,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  struct sbx_httpd *h = cls;
  struct conn *c;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
      return; /* served without deadline or watch */
    c->h = h;
    c->mc = mc;
    c->fd = -1;
    ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci != NULL)
      c->fd = ci->connect_fd;
    ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci != NULL && ci->client_addr != NULL) {
      const struct sockaddr *sa = ci->client_addr;
      if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, c->peer,
                  sizeof(c->peer));
      else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
                  c->peer, sizeof(c->peer));
    }
    c->next = h->conns;
    if (h->conns != NULL)
      h->conns->prev = c;
    h->conns = c;
    h->st.connections++;
    *socket_context = c;
    set_deadline(h, c,
                 uv_hrtime() + (uint64_t)h->cfg.header_deadline_s * NS_PER_S);
    return;
  }
  c = *socket_context;
  *socket_context = NULL;
  if (c != NULL) {
    if (c->req != NULL)
      c->req->c = NULL;
    if (c->prev != NULL)
      c->prev->next = c->next;
    else
      h->conns = c->next;
    if (c->next != NULL)
      c->next->prev = c->prev;
    h->st.connections--;
    free(c);
  }
  /* At the connection limit libmicrohttpd stopped watching the listen
   * socket; only another MHD_run puts it back. */
  kick(h);
}

static void on_log(void *cls, const char *fmt, va_list ap) {
  struct sbx_httpd *h = cls;
  char msg[512];
  size_t n;
  if (h->cfg.log == NULL)
    return;
  vsnprintf(msg, sizeof(msg), fmt, ap);
  n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
    msg[--n] = '\0';
  h->cfg.log(msg, h->cfg.arg);
}

/* ---- driving, stopping ---- */

static void begin_stop(struct sbx_httpd *h);
static void finish(struct sbx_httpd *h);

static void drive(struct sbx_httpd *h) {
  MHD_UNSIGNED_LONG_LONG to;
  if (h->finishing)
    return;
  h->run_again = 0;
  MHD_run(h->d);
  if (h->stop_requested && !h->stopping)
    begin_stop(h);
  if (h->stopping && h->st.in_flight == 0) {
    finish(h);
    return;
  }
  if (h->run_again) {
    uv_idle_start(&h->idle, on_idle);
    return;
  }
  if (MHD_get_timeout(h->d, &to) == MHD_YES) {
    if (to == 0) {
      /* Never a 0 ms timer: re-armed from its own callback it would run
       * again in the same loop pass and starve everything else. */
      uv_idle_start(&h->idle, on_idle);
      return;
    }
    uv_idle_stop(&h->idle);
    uv_timer_start(&h->timer, on_timer, to, 0);
    return;
  }
  uv_idle_stop(&h->idle);
  uv_timer_stop(&h->timer);
}

static void on_grace(uv_timer_t *t) {
  finish(t->data);
}

static void begin_stop(struct sbx_httpd *h) {
  struct sbx_httpd_req *r, *next;
  h->stopping = 1;
  h->quiesced_fd = MHD_quiesce_daemon(h->d);
  for (r = h->reqs; r != NULL; r = next) {
    next = r->next;
    if (r->state == RS_OWNED && r->is_stream)
      deliver_close(r, SBX_HTTPD_SHUTDOWN);
  }
  uv_timer_start(&h->grace_timer, on_grace, h->cfg.shutdown_grace_ms, 0);
  kick(h);
}

static void on_handle_closed(uv_handle_t *handle) {
  struct sbx_httpd *h = handle->data;
  void (*cb)(void *);
  void *arg;
  if (--h->handles_open > 0)
    return;
  cb = h->stop_cb;
  arg = h->stop_arg;
  free(h);
  if (cb != NULL)
    cb(arg);
}

static void resume_all(struct sbx_httpd *h) {
  struct sbx_httpd_req *r;
  for (r = h->reqs; r != NULL; r = r->next)
    resume(r);
}

static void finish(struct sbx_httpd *h) {
  struct sbx_httpd_req *r, *next;
  if (h->finishing)
    return;
  for (r = h->reqs; r != NULL; r = next) {
    next = r->next;
    if (r->state == RS_OWNED)
      deliver_close(r, SBX_HTTPD_SHUTDOWN);
  }
  /* One more run sends what fits in the sockets at once (503s, stream
   * ends); then everything is closed. libmicrohttpd aborts the process if
   * a connection is still suspended when it stops. */
  resume_all(h);
  MHD_run(h->d);
  resume_all(h);
  h->finishing = 1;
  uv_poll_stop(&h->poll);
  uv_close((uv_handle_t *)&h->poll, on_handle_closed);
  uv_close((uv_handle_t *)&h->timer, on_handle_closed);
  uv_close((uv_handle_t *)&h->idle, on_handle_closed);
  uv_close((uv_handle_t *)&h->deadline_timer, on_handle_closed);
  uv_close((uv_handle_t *)&h->grace_timer, on_handle_closed);
  MHD_stop_daemon(h->d);
  h->d = NULL;
  if (h->quiesced_fd != MHD_INVALID_SOCKET)
    close(h->quiesced_fd);
  h->quiesced_fd = MHD_INVALID_SOCKET;
}

void sbx_httpd_stop(struct sbx_httpd *h, void (*cb)(void *arg), void *arg) {
  if (h->stop_requested)
    return;
  h->stop_requested = 1;
  h->stop_cb = cb;
  h->stop_arg = arg;
  kick(h);
}

/* ---- start ---- */

int sbx_httpd_start(uv_loop_t *loop, const struct sbx_httpd_config *cfg,
                    struct sbx_httpd **out, struct sbx_diag *diag) {
  struct sbx_httpd *h = NULL;
  struct sockaddr_storage ss;
  const union MHD_DaemonInfo *di;
  unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  const char *host;
  int rc = SBX_EINVAL, epfd;

  *out = NULL;
  if (cfg == NULL || cfg->on_request == NULL) {
    sbx_diag_set(diag, "httpd: no request handler given");
    goto out;
  }
  host = cfg->host != NULL ? cfg->host : "127.0.0.1";
  if (strcmp(host, "localhost") == 0)
    host = "127.0.0.1";
  if (cfg->port < 0 || cfg->port > 65535) {
    sbx_diag_set(diag, "httpd: port %d is out of range; use 0 to 65535",
                 cfg->port);
    goto out;
  }
  memset(&ss, 0, sizeof(ss));
  {
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
      sin->sin_family = AF_INET;
      sin->sin_port = htons((uint16_t)cfg->port);
    } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons((uint16_t)cfg->port);
      flags |= MHD_USE_IPv6;
    } else {
      sbx_diag_set(diag,
                   "httpd: listen address \"%s\" is not an IP address; use "
                   "e.g. 127.0.0.1, ::1 or 0.0.0.0",
                   host);
      goto out;
    }
  }

  rc = SBX_ENOMEM;
  h = calloc(1, sizeof(*h));
  if (h == NULL)
    goto out;
  h->loop = loop;
  h->cfg = *cfg;
  snprintf(h->host, sizeof(h->host), "%s", host);
  h->cfg.host = h->host;
  h->quiesced_fd = MHD_INVALID_SOCKET;
  if (h->cfg.max_body_bytes == 0)
    h->cfg.max_body_bytes = DEFAULT_MAX_BODY;
  if (h->cfg.max_header_bytes == 0)
    h->cfg.max_header_bytes = DEFAULT_MAX_HEADER;
  if (h->cfg.max_header_bytes < MIN_MAX_HEADER)
    h->cfg.max_header_bytes = MIN_MAX_HEADER;
  if (h->cfg.max_connections == 0)
    h->cfg.max_connections = DEFAULT_MAX_CONNECTIONS;
  if (h->cfg.idle_timeout_s == 0)
    h->cfg.idle_timeout_s = DEFAULT_IDLE_S;
  if (h->cfg.header_deadline_s == 0)
    h->cfg.header_deadline_s = DEFAULT_HEADER_DEADLINE_S;
  if (h->cfg.shutdown_grace_ms == 0)
    h->cfg.shutdown_grace_ms = DEFAULT_GRACE_MS;

  errno = 0;
  h->d = MHD_start_daemon(
      flags, 0, NULL, NULL, on_access, h, MHD_OPTION_SOCK_ADDR,
      (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
      MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
      MHD_OPTION_EXTERNAL_LOGGER, on_log, h, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      (size_t)h->cfg.max_header_bytes, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned int)h->cfg.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      (unsigned int)h->cfg.max_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned int)h->cfg.idle_timeout_s, MHD_OPTION_END);
  if (h->d == NULL) {
    int e = errno;
    rc = SBX_EIO;
    sbx_diag_set(diag, "httpd: cannot listen on %s port %d: %s", host,
                 cfg->port, e ? strerror(e) : "libmicrohttpd refused to start");
    goto out;
  }
  di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
  h->port = di != NULL ? di->port : cfg->port;
  di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
  epfd = di != NULL ? di->epoll_fd : -1;
  if (epfd < 0 || uv_poll_init(loop, &h->poll, epfd) != 0) {
    rc = SBX_EIO;
    sbx_diag_set(diag, "httpd: cannot watch libmicrohttpd's epoll descriptor");
    goto out;
  }
  h->poll.data = h;
  uv_timer_init(loop, &h->timer);
  h->timer.data = h;
  uv_idle_init(loop, &h->idle);
  h->idle.data = h;
  uv_timer_init(loop, &h->deadline_timer);
  h->deadline_timer.data = h;
  uv_timer_init(loop, &h->grace_timer);
  h->grace_timer.data = h;
  h->handles_open = 5;
  uv_poll_start(&h->poll, UV_READABLE, on_poll);
  drive(h);
  *out = h;
  h = NULL;
  rc = 0;
out:
  if (h != NULL) {
    if (h->d != NULL)
      MHD_stop_daemon(h->d);
    free(h);
  }
  return rc;
}

/* ---- accessors ---- */

int sbx_httpd_port(const struct sbx_httpd *h) {
  return h->port;
}

void sbx_httpd_stats(const struct sbx_httpd *h, struct sbx_httpd_stats *st) {
  *st = h->st;
}

const char *sbx_httpd_method(const struct sbx_httpd_req *r) {
  return r->method;
}

const char *sbx_httpd_path(const struct sbx_httpd_req *r) {
  return r->path;
}

const char *sbx_httpd_query(const struct sbx_httpd_req *r, const char *key) {
  return MHD_lookup_connection_value(r->mc, MHD_GET_ARGUMENT_KIND, key);
}

const char *sbx_httpd_query_n(const struct sbx_httpd_req *r, const char *key,
                              size_t *len) {
  const char *v = NULL;
  size_t n = 0;
  if (MHD_lookup_connection_value_n(r->mc, MHD_GET_ARGUMENT_KIND, key,
                                    strlen(key), &v, &n) != MHD_YES)
    v = NULL;
  *len = v != NULL ? n : 0;
  return v;
}

const char *sbx_httpd_header(const struct sbx_httpd_req *r, const char *name) {
  return MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND, name);
}

const uint8_t *sbx_httpd_body(const struct sbx_httpd_req *r, size_t *len) {
  *len = r->len;
  return r->len > 0 ? r->body : NULL;
}

const char *sbx_httpd_peer(const struct sbx_httpd_req *r) {
  return r->c != NULL && r->c->peer[0] ? r->c->peer : "unknown";
}

uint64_t sbx_httpd_arrival_ns(const struct sbx_httpd_req *r) {
  return r->arrival_ns;
}

void sbx_httpd_on_close(struct sbx_httpd_req *r,
                        void (*cb)(struct sbx_httpd_req *r, int reason,
                                   void *arg),
                        void *arg) {
  r->close_cb = cb;
  r->close_arg = arg;
}
