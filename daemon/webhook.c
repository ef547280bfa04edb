/* webhook.c - webhook deliveries on a libcurl multi handle of their own.
 *
 * The loop glue follows http_curl.c and for the same measured reasons (see
 * the top of that file): one uv_poll_t per socket for the socket's life,
 * made in the open-socket callback and closed before close(2) in the
 * close-socket callback; CURL_POLL_REMOVE only marks it unowned and it is
 * stopped lazily if it fires then; sockets libcurl did not open through us
 * (the threaded resolver's socketpair) get a watcher on demand, closed on
 * CURL_POLL_REMOVE. A 0 ms libcurl timeout is a 0 ms uv_timer.
 *
 * Unlike the adapter, webhooks are few and slow: each attempt gets a fresh
 * easy handle (connections stay in the multi's cache, so nothing is lost),
 * and deliveries move between three lists: ready (waiting for one of
 * max_in_flight slots, FIFO), active (in libcurl), and waiting (backoff,
 * sorted by due time, one uv_timer armed for the head).
 */
#include "webhook.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SBX_VERSION
#define SBX_VERSION "dev"
#endif

#define DEF_MAX_ATTEMPTS 6u
#define DEF_FIRST_BACKOFF_MS 500u
#define DEF_MAX_BACKOFF_MS 60000u
#define DEF_TIMEOUT_MS 10000u
#define DEF_MAX_PENDING 1000u
#define DEF_MAX_IN_FLIGHT 8u

struct sbx_webhook;

struct delivery {
  struct delivery *prev, *next; /* in exactly one of the three lists */
  struct sbx_webhook *w;
  char *url;
  char *log_url; /* no credentials, query or fragment */
  struct curl_slist *headers;
  uint8_t *body;
  size_t len;
  uint64_t run_id;
  unsigned attempt; /* attempts started so far */
  uint64_t due_ms;  /* waiting: uv_now() at which to retry */
  CURL *easy;       /* active only */
  char errbuf[CURL_ERROR_SIZE];
};

struct dlist {
  struct delivery *head, *tail;
  size_t n;
};

struct sock_watch {
  uv_poll_t poll;
  struct sbx_webhook *w;
  curl_socket_t fd;
  int events;    /* uv events the poll is started with; 0 = stopped */
  int curl_owns; /* libcurl currently wants events on this socket */
  int foreign;   /* not opened through on_open_socket */
};

struct sbx_webhook {
  uv_loop_t *loop;
  struct sbx_webhook_config cfg;
  CURLM *multi;
  uv_timer_t curl_timer;
  uv_timer_t retry_timer;
  struct dlist ready, active, waiting;

  struct sock_watch **watches; /* indexed by fd */
  size_t nwatches;

  uint64_t delivered, failed, retries;

  void (*log)(void *arg, const char *fmt, ...);
  void *log_arg;

  unsigned open_handles; /* uv handles not yet closed */
  int closing;
  void (*close_cb)(void *arg);
  void *close_arg;
};

static uv_once_t global_once = UV_ONCE_INIT;
static int global_ok;

static void global_init(void) {
  global_ok =
      curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK && sodium_init() >= 0;
}

/* ---- lists --------------------------------------------------------------- */

static void list_remove(struct dlist *l, struct delivery *d) {
  if (d->prev != NULL)
    d->prev->next = d->next;
  else
    l->head = d->next;
  if (d->next != NULL)
    d->next->prev = d->prev;
  else
    l->tail = d->prev;
  d->prev = d->next = NULL;
  l->n--;
}

/* Inserts d after pos (NULL: at the head). */
static void list_insert_after(struct dlist *l, struct delivery *pos,
                              struct delivery *d) {
  d->prev = pos;
  d->next = pos != NULL ? pos->next : l->head;
  if (d->next != NULL)
    d->next->prev = d;
  else
    l->tail = d;
  if (pos != NULL)
    pos->next = d;
  else
    l->head = d;
  l->n++;
}

static void list_append(struct dlist *l, struct delivery *d) {
  list_insert_after(l, l->tail, d);
}

static void delivery_free(struct delivery *d) {
  if (d == NULL)
    return;
  if (d->easy != NULL)
    curl_easy_cleanup(d->easy);
  curl_slist_free_all(d->headers);
  free(d->url);
  free(d->log_url);
  free(d->body);
  free(d);
}

/* ---- logging ------------------------------------------------------------- */

static void log_outcome(struct sbx_webhook *w, const struct delivery *d,
                        const char *outcome, long status, uint64_t retry_in_ms,
                        const char *error) {
  if (w->log == NULL)
    return;
  w->log(w->log_arg,
         "webhook run=%" PRIu64 " attempt=%u/%u outcome=%s status=%ld "
         "retry_in_ms=%" PRIu64 " url=%s error=\"%s\"",
         d->run_id, d->attempt, w->cfg.max_attempts, outcome, status,
         retry_in_ms, d->log_url, error);
}

/* ---- socket watchers ----------------------------------------------------- */

static void on_poll(uv_poll_t *p, int status, int events);
static void drain(struct sbx_webhook *w);
static void finalize(struct sbx_webhook *w);

static struct sock_watch *watch_get(struct sbx_webhook *w, curl_socket_t fd) {
  if (fd < 0 || (size_t)fd >= w->nwatches)
    return NULL;
  return w->watches[fd];
}

static void on_watch_closed(uv_handle_t *h) {
  struct sock_watch *sw = h->data;
  struct sbx_webhook *w = sw->w;
  free(sw);
  w->open_handles--;
  if (w->closing && w->open_handles == 0)
    finalize(w);
}

static void watch_close(struct sbx_webhook *w, struct sock_watch *sw) {
  if (w->watches[sw->fd] == sw)
    w->watches[sw->fd] = NULL;
  sw->curl_owns = 0;
  uv_close((uv_handle_t *)&sw->poll, on_watch_closed);
}

static struct sock_watch *watch_new(struct sbx_webhook *w, curl_socket_t fd,
                                    int foreign) {
  struct sock_watch *sw;
  if (fd < 0)
    return NULL;
  if ((size_t)fd >= w->nwatches) {
    size_t n = w->nwatches ? w->nwatches : 64;
    struct sock_watch **nw;
    while (n <= (size_t)fd)
      n *= 2;
    nw = realloc(w->watches, n * sizeof(*nw));
    if (nw == NULL)
      return NULL;
    memset(nw + w->nwatches, 0, (n - w->nwatches) * sizeof(*nw));
    w->watches = nw;
    w->nwatches = n;
  }
  /* Still mapped: a foreign socket libcurl closed without telling us, whose
   * fd number has been reused. */
  if (w->watches[fd] != NULL)
    watch_close(w, w->watches[fd]);
  sw = calloc(1, sizeof(*sw));
  if (sw == NULL)
    return NULL;
  if (uv_poll_init_socket(w->loop, &sw->poll, fd) != 0) {
    free(sw);
    return NULL;
  }
  sw->poll.data = sw;
  sw->w = w;
  sw->fd = fd;
  sw->foreign = foreign;
  w->open_handles++;
  w->watches[fd] = sw;
  return sw;
}

static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *addr) {
  struct sbx_webhook *w = clientp;
  curl_socket_t fd;
  if (purpose != CURLSOCKTYPE_IPCXN || w->closing)
    return CURL_SOCKET_BAD;
  fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
  if (fd < 0)
    return CURL_SOCKET_BAD;
  if (watch_new(w, fd, 0) == NULL) {
    close(fd);
    return CURL_SOCKET_BAD;
  }
  return fd;
}

static int on_close_socket(void *clientp, curl_socket_t fd) {
  struct sbx_webhook *w = clientp;
  struct sock_watch *sw = watch_get(w, fd);
  /* uv_close first: it takes fd out of epoll while fd still exists. */
  if (sw != NULL && !sw->foreign)
    watch_close(w, sw);
  return close(fd);
}

/* CURLMOPT_SOCKETFUNCTION */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp,
                          void *socketp) {
  struct sbx_webhook *w = userp;
  struct sock_watch *sw = watch_get(w, s);
  int ev = 0;
  (void)easy;
  (void)socketp;
  if (what == CURL_POLL_REMOVE) {
    if (sw != NULL) {
      sw->curl_owns = 0;
      if (sw->foreign)
        watch_close(w, sw);
    }
    return 0;
  }
  if (w->closing)
    return 0;
  if (sw == NULL) {
    sw = watch_new(w, s, 1);
    if (sw == NULL)
      return -1;
  }
  sw->curl_owns = 1;
  if (what & CURL_POLL_IN)
    ev |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    ev |= UV_WRITABLE;
  if (ev == sw->events)
    return 0;
  if (ev == 0) {
    uv_poll_stop(&sw->poll);
  } else if (uv_poll_start(&sw->poll, ev, on_poll) != 0) {
    sw->events = 0;
    return -1;
  }
  sw->events = ev;
  return 0;
}

static void on_poll(uv_poll_t *p, int status, int events) {
  struct sock_watch *sw = p->data;
  struct sbx_webhook *w = sw->w;
  int flags = 0, running = 0;
  if (!sw->curl_owns) {
    /* Lazy removal: libcurl let go of the socket after a transfer. */
    uv_poll_stop(p);
    sw->events = 0;
    return;
  }
  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE)
      flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
      flags |= CURL_CSELECT_OUT;
  }
  curl_multi_socket_action(w->multi, sw->fd, flags, &running);
  drain(w); /* sw may be gone now */
}

static void on_curl_timeout(uv_timer_t *t) {
  struct sbx_webhook *w = t->data;
  int running = 0;
  curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  drain(w);
}

/* CURLMOPT_TIMERFUNCTION: never calls socket_action itself (re-entrancy). */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
  struct sbx_webhook *w = userp;
  (void)multi;
  if (w->closing)
    return 0;
  if (timeout_ms < 0) {
    uv_timer_stop(&w->curl_timer);
    return 0;
  }
  return uv_timer_start(&w->curl_timer, on_curl_timeout, (uint64_t)timeout_ms,
                        0) == 0
             ? 0
             : -1;
}

/* ---- attempts ------------------------------------------------------------ */

static size_t on_discard(char *ptr, size_t size, size_t nmemb, void *ud) {
  (void)ptr;
  (void)ud;
  return size * nmemb; /* the answer's body is of no interest */
}

static int make_easy(struct sbx_webhook *w, struct delivery *d) {
  CURL *e = curl_easy_init();
  CURLcode c = CURLE_OK;
  if (e == NULL)
    return SBX_ENOMEM;
#define SET(opt, val)                                                          \
  do {                                                                         \
    if (c == CURLE_OK)                                                         \
      c = curl_easy_setopt(e, opt, val);                                       \
  } while (0)
  SET(CURLOPT_PRIVATE, (void *)d);
  SET(CURLOPT_URL, d->url);
  SET(CURLOPT_ERRORBUFFER, d->errbuf);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_PROXY, "");
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_HTTPHEADER, d->headers);
  SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d->len);
  SET(CURLOPT_POSTFIELDS, d->len > 0 ? (const char *)d->body : "");
  SET(CURLOPT_TIMEOUT_MS, w->cfg.timeout_ms > (uint64_t)LONG_MAX
                              ? LONG_MAX
                              : (long)w->cfg.timeout_ms);
  SET(CURLOPT_WRITEFUNCTION, on_discard);
  SET(CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  SET(CURLOPT_OPENSOCKETDATA, (void *)w);
  SET(CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
  SET(CURLOPT_CLOSESOCKETDATA, (void *)w);
#undef SET
  if (c != CURLE_OK) {
    curl_easy_cleanup(e);
    return c == CURLE_OUT_OF_MEMORY ? SBX_ENOMEM : SBX_EIO;
  }
  d->easy = e;
  return 0;
}

static void finish_failed(struct sbx_webhook *w, struct delivery *d,
                          long status, const char *error) {
  w->failed++;
  log_outcome(w, d, "failed", status, 0, error);
  delivery_free(d);
}

/* Starts attempts while slots are free. A delivery whose attempt cannot
 * even start (out of memory) fails for good: retrying would only queue more
 * work on a process that is short of memory. */
static void pump(struct sbx_webhook *w) {
  while (!w->closing && w->ready.head != NULL &&
         w->active.n < w->cfg.max_in_flight) {
    struct delivery *d = w->ready.head;
    int rc;
    list_remove(&w->ready, d);
    d->attempt++;
    d->errbuf[0] = '\0';
    rc = make_easy(w, d);
    if (rc == 0 && curl_multi_add_handle(w->multi, d->easy) != CURLM_OK)
      rc = SBX_ENOMEM;
    if (rc != 0) {
      finish_failed(w, d, 0, "could not start the request: out of memory");
      continue;
    }
    list_append(&w->active, d);
  }
}

static void on_retry_timer(uv_timer_t *t);

static void arm_retry_timer(struct sbx_webhook *w) {
  uint64_t now = uv_now(w->loop), due;
  if (w->waiting.head == NULL) {
    uv_timer_stop(&w->retry_timer);
    return;
  }
  due = w->waiting.head->due_ms;
  uv_timer_start(&w->retry_timer, on_retry_timer, due > now ? due - now : 0, 0);
}

static void on_retry_timer(uv_timer_t *t) {
  struct sbx_webhook *w = t->data;
  uint64_t now = uv_now(w->loop);
  while (w->waiting.head != NULL && w->waiting.head->due_ms <= now) {
    struct delivery *d = w->waiting.head;
    list_remove(&w->waiting, d);
    list_append(&w->ready, d);
  }
  pump(w);
  arm_retry_timer(w);
}

/* The wait before attempt number d->attempt + 1: the first backoff doubled
 * per attempt made, capped, then "equal jitter" (half fixed, half random)
 * so that many deliveries failing together do not retry in step. */
static uint64_t backoff_ms(const struct sbx_webhook *w, unsigned attempt) {
  uint64_t base = w->cfg.first_backoff_ms, half, span;
  unsigned i;
  for (i = 1; i < attempt && base < w->cfg.max_backoff_ms; i++)
    base = base > w->cfg.max_backoff_ms / 2 ? w->cfg.max_backoff_ms : base * 2;
  if (base > w->cfg.max_backoff_ms)
    base = w->cfg.max_backoff_ms;
  half = base / 2;
  span = base - half;
  if (span == 0)
    return base;
  if (span > UINT32_MAX)
    span = UINT32_MAX;
  return half + 1 + randombytes_uniform((uint32_t)span);
}

static void schedule_retry(struct sbx_webhook *w, struct delivery *d,
                           long status, curl_off_t retry_after_s,
                           const char *error) {
  uint64_t delay = backoff_ms(w, d->attempt);
  struct delivery *pos;
  /* A receiver that says when to come back is believed, up to the cap. */
  if (retry_after_s > 0) {
    uint64_t ra = (uint64_t)retry_after_s > w->cfg.max_backoff_ms / 1000
                      ? w->cfg.max_backoff_ms
                      : (uint64_t)retry_after_s * 1000;
    if (ra > delay)
      delay = ra;
  }
  w->retries++;
  log_outcome(w, d, "retry", status, delay, error);
  d->due_ms = uv_now(w->loop) + delay;
  for (pos = w->waiting.tail; pos != NULL && pos->due_ms > d->due_ms;
       pos = pos->prev)
    ;
  list_insert_after(&w->waiting, pos, d);
  if (w->waiting.head == d)
    arm_retry_timer(w);
}

/* Errors that another attempt cannot fix. */
static int permanent(CURLcode rc) {
  switch (rc) {
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_TOO_MANY_REDIRECTS:
  case CURLE_LOGIN_DENIED:
    return 1;
  default:
    return 0;
  }
}

static void finish_attempt(struct sbx_webhook *w, struct delivery *d,
                           CURLcode rc) {
  long status = 0;
  curl_off_t retry_after = 0;
  char error[CURL_ERROR_SIZE + 64];
  size_t n;
  int retry;

  curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(d->easy, CURLINFO_RETRY_AFTER, &retry_after);
  curl_multi_remove_handle(w->multi, d->easy);
  curl_easy_cleanup(d->easy);
  d->easy = NULL;
  list_remove(&w->active, d);

  if (rc == CURLE_OK && status >= 200 && status <= 299) {
    w->delivered++;
    log_outcome(w, d, "delivered", status, 0, "");
    delivery_free(d);
    return;
  }
  if (rc != CURLE_OK) {
    snprintf(error, sizeof(error), "%s",
             d->errbuf[0] != '\0' ? d->errbuf : curl_easy_strerror(rc));
    n = strlen(error);
    while (n > 0 && (error[n - 1] == '\n' || error[n - 1] == '\r'))
      error[--n] = '\0';
    retry = !permanent(rc);
  } else if (status >= 500 || status == 429) {
    snprintf(error, sizeof(error), "HTTP %ld", status);
    retry = 1;
  } else if (status >= 300 && status <= 399) {
    snprintf(error, sizeof(error),
             "HTTP %ld: redirects are not followed; set the callback URL "
             "to the final location",
             status);
    retry = 0;
  } else {
    snprintf(error, sizeof(error), "HTTP %ld: rejected by the receiver",
             status);
    retry = 0;
  }
  if (!retry) {
    finish_failed(w, d, status, error);
    return;
  }
  if (d->attempt >= w->cfg.max_attempts) {
    char gave_up[sizeof(error) + 64];
    snprintf(gave_up, sizeof(gave_up), "gave up after %u attempts: %s",
             d->attempt, error);
    finish_failed(w, d, status, gave_up);
    return;
  }
  schedule_retry(w, d, status, status == 429 || status == 503 ? retry_after : 0,
                 error);
}

static void drain(struct sbx_webhook *w) {
  CURLMsg *m;
  int left;
  while (!w->closing && (m = curl_multi_info_read(w->multi, &left)) != NULL) {
    struct delivery *d = NULL;
    if (m->msg != CURLMSG_DONE)
      continue;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&d);
    if (d != NULL)
      finish_attempt(w, d, m->data.result);
  }
  pump(w);
}

/* ---- validation ---------------------------------------------------------- */

static const char url_fix[] = "write it like \"https://hooks.example.com/sbx\"";

int sbx_webhook_validate_url(const char *url, struct sbx_diag *diag) {
  CURLU *u = NULL;
  CURLUcode uc;
  char *host = NULL;
  size_t len;
  const char *s;
  int rc = SBX_EINVAL;

  if (url == NULL || *url == '\0') {
    sbx_diag_set(diag, "callback URL: missing; %s", url_fix);
    return SBX_EINVAL;
  }
  len = strlen(url);
  if (len > SBX_WEBHOOK_MAX_URL) {
    sbx_diag_set(diag,
                 "callback URL \"%.60s...\": %zu bytes, over the limit of "
                 "%d; use a shorter URL",
                 url, len, SBX_WEBHOOK_MAX_URL);
    return SBX_EINVAL;
  }
  for (s = url; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if (c <= 0x20 || c >= 0x7f) {
      sbx_diag_set(diag,
                   "callback URL \"%.200s\": contains a space, control or "
                   "non-ASCII byte at offset %zu; percent-encode it (a "
                   "space is %%20)",
                   url, (size_t)(s - url));
      return SBX_EINVAL;
    }
  }
  if (strncasecmp(url, "http://", 7) != 0 &&
      strncasecmp(url, "https://", 8) != 0) {
    sbx_diag_set(diag,
                 "callback URL \"%.200s\": scheme must be http:// or "
                 "https://; %s",
                 url, url_fix);
    return SBX_EINVAL;
  }
  u = curl_url();
  if (u == NULL)
    return SBX_ENOMEM;
  uc = curl_url_set(u, CURLUPART_URL, url, 0);
  if (uc != CURLUE_OK) {
    rc = uc == CURLUE_OUT_OF_MEMORY ? SBX_ENOMEM : SBX_EINVAL;
    sbx_diag_set(diag, "callback URL \"%.200s\": %s; %s", url,
                 curl_url_strerror(uc), url_fix);
    goto out;
  }
  if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host == NULL ||
      *host == '\0') {
    sbx_diag_set(diag, "callback URL \"%.200s\": no host; %s", url, url_fix);
    goto out;
  }
  rc = 0;
out:
  curl_free(host);
  curl_url_cleanup(u);
  return rc;
}

static int valid_ctype(const char *ctype) {
  const char *s;
  if (ctype == NULL || *ctype == '\0')
    return 0;
  for (s = ctype; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return 0;
  }
  return 1;
}

/* The URL for log lines: no user, password, query or fragment, which is
 * where webhook secrets usually sit. */
static char *redact_url(const char *url) {
  CURLU *u = curl_url();
  char *part = NULL, *out = NULL;
  if (u == NULL)
    return NULL;
  if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_OPTIONS, NULL, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_URL, &part, 0) == CURLUE_OK)
    out = strdup(part);
  curl_free(part);
  curl_url_cleanup(u);
  return out;
}

static int add_header(struct curl_slist **list, const char *line) {
  struct curl_slist *n = curl_slist_append(*list, line);
  if (n == NULL)
    return SBX_ENOMEM;
  *list = n;
  return 0;
}

static int build_headers(struct delivery *d, const char *ctype) {
  char line[64];
  size_t cl = strlen(ctype);
  char *ct = malloc(cl + sizeof("Content-Type: "));
  int rc;
  if (ct == NULL)
    return SBX_ENOMEM;
  memcpy(ct, "Content-Type: ", 14);
  memcpy(ct + 14, ctype, cl + 1);
  rc = add_header(&d->headers, ct);
  free(ct);
  snprintf(line, sizeof(line), "X-Sbx-Run-Id: %" PRIu64, d->run_id);
  if (rc == 0)
    rc = add_header(&d->headers, line);
  if (rc == 0)
    rc = add_header(&d->headers, "User-Agent: sandboxd/" SBX_VERSION);
  /* Bodies over 1 MiB would otherwise wait for "100 Continue". */
  if (rc == 0)
    rc = add_header(&d->headers, "Expect:");
  return rc;
}

/* ---- public -------------------------------------------------------------- */

int sbx_webhook_open(uv_loop_t *loop, const struct sbx_webhook_config *cfg,
                     struct sbx_webhook **out) {
  struct sbx_webhook *w = NULL;
  int rc = SBX_EINVAL;

  if (out != NULL)
    *out = NULL;
  if (loop == NULL || out == NULL)
    return SBX_EINVAL;
  uv_once(&global_once, global_init);
  if (!global_ok)
    return SBX_EIO;

  rc = SBX_ENOMEM;
  w = calloc(1, sizeof(*w));
  if (w == NULL)
    goto out;
  w->loop = loop;
  if (cfg != NULL)
    w->cfg = *cfg;
  if (w->cfg.max_attempts == 0)
    w->cfg.max_attempts = DEF_MAX_ATTEMPTS;
  if (w->cfg.first_backoff_ms == 0)
    w->cfg.first_backoff_ms = DEF_FIRST_BACKOFF_MS;
  if (w->cfg.max_backoff_ms == 0)
    w->cfg.max_backoff_ms = w->cfg.first_backoff_ms > DEF_MAX_BACKOFF_MS
                                ? w->cfg.first_backoff_ms
                                : DEF_MAX_BACKOFF_MS;
  if (w->cfg.timeout_ms == 0)
    w->cfg.timeout_ms = DEF_TIMEOUT_MS;
  if (w->cfg.max_pending == 0)
    w->cfg.max_pending = DEF_MAX_PENDING;
  if (w->cfg.max_in_flight == 0)
    w->cfg.max_in_flight = DEF_MAX_IN_FLIGHT;
  if (w->cfg.max_backoff_ms < w->cfg.first_backoff_ms) {
    rc = SBX_EINVAL;
    goto out;
  }

  w->multi = curl_multi_init();
  if (w->multi == NULL)
    goto out;
  if (curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) !=
          CURLM_OK ||
      curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, (void *)w) != CURLM_OK ||
      curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) !=
          CURLM_OK ||
      curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, (void *)w) != CURLM_OK) {
    rc = SBX_EIO;
    goto out;
  }

  /* Last: they cannot fail, and undoing them takes a loop turn. */
  uv_timer_init(loop, &w->curl_timer);
  uv_timer_init(loop, &w->retry_timer);
  w->curl_timer.data = w;
  w->retry_timer.data = w;
  w->open_handles = 2;
  *out = w;
  w = NULL;
  rc = 0;
out:
  if (w != NULL) {
    if (w->multi != NULL)
      curl_multi_cleanup(w->multi);
    free(w);
  }
  return rc;
}

int sbx_webhook_post(struct sbx_webhook *w, const char *url, const char *ctype,
                     const void *body, size_t len, uint64_t run_id,
                     struct sbx_diag *diag) {
  struct delivery *d = NULL;
  int rc;

  if (w == NULL) {
    sbx_diag_set(diag, "webhook: no sender");
    return SBX_EINVAL;
  }
  if (w->closing) {
    sbx_diag_set(diag, "webhook: the sender is shutting down");
    return SBX_ESTATE;
  }
  rc = sbx_webhook_validate_url(url, diag);
  if (rc != 0)
    return rc;
  if (!valid_ctype(ctype)) {
    sbx_diag_set(diag, "webhook content type: missing or holds a control "
                       "character; pass a media type like "
                       "\"application/json\"");
    return SBX_EINVAL;
  }
  if (body == NULL && len > 0) {
    sbx_diag_set(diag, "webhook body: NULL with a length of %zu", len);
    return SBX_EINVAL;
  }
  if (w->ready.n + w->active.n + w->waiting.n >= w->cfg.max_pending) {
    sbx_diag_set(diag,
                 "webhook: %zu deliveries already pending (the limit); the "
                 "receivers are slow or down, try again later or raise "
                 "max_pending",
                 w->cfg.max_pending);
    return SBX_EBUSY;
  }

  rc = SBX_ENOMEM;
  d = calloc(1, sizeof(*d));
  if (d == NULL)
    goto out;
  d->w = w;
  d->run_id = run_id;
  d->len = len;
  d->url = strdup(url);
  d->log_url = redact_url(url);
  if (d->url == NULL || d->log_url == NULL)
    goto out;
  if (len > 0) {
    d->body = malloc(len);
    if (d->body == NULL)
      goto out;
    memcpy(d->body, body, len);
  }
  rc = build_headers(d, ctype);
  if (rc != 0)
    goto out;
  list_append(&w->ready, d);
  d = NULL;
  pump(w);
  rc = 0;
out:
  if (rc == SBX_ENOMEM)
    sbx_diag_set(diag, "webhook: out of memory");
  delivery_free(d);
  return rc;
}

void sbx_webhook_stats(const struct sbx_webhook *w,
                       struct sbx_webhook_stats *out) {
  if (out == NULL)
    return;
  memset(out, 0, sizeof(*out));
  if (w == NULL)
    return;
  out->delivered = w->delivered;
  out->failed = w->failed;
  out->retries = w->retries;
  out->pending = w->ready.n + w->active.n + w->waiting.n;
}

void sbx_webhook_set_log(struct sbx_webhook *w,
                         void (*log)(void *arg, const char *fmt, ...),
                         void *arg) {
  if (w == NULL)
    return;
  w->log = log;
  w->log_arg = arg;
}

static void finalize(struct sbx_webhook *w) {
  void (*cb)(void *) = w->close_cb;
  void *arg = w->close_arg;
  free(w->watches);
  free(w);
  if (cb != NULL)
    cb(arg);
}

static void on_timer_closed(uv_handle_t *h) {
  struct sbx_webhook *w = h->data;
  w->open_handles--;
  if (w->open_handles == 0)
    finalize(w);
}

static void cancel_list(struct sbx_webhook *w, struct dlist *l) {
  struct delivery *d;
  while ((d = l->head) != NULL) {
    list_remove(l, d);
    if (d->easy != NULL)
      curl_multi_remove_handle(w->multi, d->easy);
    w->failed++;
    log_outcome(w, d, "canceled", 0, 0, "the sender was closed");
    delivery_free(d);
  }
}

void sbx_webhook_close(struct sbx_webhook *w, void (*cb)(void *arg),
                       void *arg) {
  size_t fd;
  if (w == NULL || w->closing)
    return;
  w->closing = 1;
  w->close_cb = cb;
  w->close_arg = arg;

  cancel_list(w, &w->active);
  cancel_list(w, &w->ready);
  cancel_list(w, &w->waiting);
  /* Closes the cached connections through on_close_socket. */
  curl_multi_cleanup(w->multi);
  w->multi = NULL;
  /* What is left is foreign (libcurl closes those fds itself) or, were
   * libcurl to skip a close-socket call, ours: close both kinds. */
  for (fd = 0; fd < w->nwatches; fd++) {
    struct sock_watch *sw = w->watches[fd];
    if (sw == NULL)
      continue;
    watch_close(w, sw);
    if (!sw->foreign)
      close((int)fd);
  }
  uv_close((uv_handle_t *)&w->curl_timer, on_timer_closed);
  uv_close((uv_handle_t *)&w->retry_timer, on_timer_closed);
}
