/* webhook.c - webhook deliveries on a libcurl multi handle of their own.
 *
 * The loop glue is curl_uv.c, the same as the HTTP adapter's: one uv_poll_t
 * per socket for the socket's life, one uv_timer for libcurl's timeouts.
 *
 * Unlike the adapter, webhooks are few and slow: each attempt gets a fresh
 * easy handle (connections stay in the multi's cache, so nothing is lost),
 * and deliveries move between three lists: ready (waiting for one of
 * max_in_flight slots, FIFO), active (in libcurl), and waiting (backoff,
 * sorted by due time, one uv_timer armed for the head).
 */
#include "webhook.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "curl_uv.h"

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
  char refused[INET6_ADDRSTRLEN]; /* an address refused by refuse_private */
};

struct dlist {
  struct delivery *head, *tail;
  size_t n;
};

struct sbx_webhook {
  uv_loop_t *loop;
  struct sbx_webhook_config cfg;
  struct sbx_curl_uv cu; /* the multi handle and its loop glue */
  uv_timer_t retry_timer;
  struct dlist ready, active, waiting;

  uint64_t delivered, failed, retries;

  void (*log)(void *arg, const char *fmt, ...);
  void *log_arg;
  void (*done)(void *arg, uint64_t run_id, enum sbx_webhook_outcome outcome);
  void *done_arg;

  unsigned open_handles; /* cu and retry_timer until they are closed */
  int closing;
  void (*close_cb)(void *arg);
  void *close_arg;
};

static uv_once_t global_once = UV_ONCE_INIT;
static int global_ok;

/* libcurl's global init is sbx_curl_uv_init's business. */
static void global_init(void) {
  global_ok = sodium_init() >= 0;
}

/* ---- destinations ---------------------------------------------------------- */

static int private_v4(const uint8_t a[4]) {
  return a[0] == 0 || a[0] == 10 || a[0] == 127 || a[0] >= 224 ||
         (a[0] == 100 && (a[1] & 0xc0) == 64) ||
         (a[0] == 169 && a[1] == 254) || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
         (a[0] == 192 && a[1] == 168);
}

/* Loopback, private, link-local, shared, multicast, reserved or
 * unspecified: nothing a callback to the outside world should reach. */
static int private_addr(const struct sockaddr *sa) {
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  uint8_t v4[4];
  if (sa->sa_family == AF_INET) {
    memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    return private_v4(v4);
  }
  if (sa->sa_family == AF_INET6) {
    const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t zero[15];
    if (memcmp(b, mapped, 12) == 0) {
      memcpy(v4, b + 12, 4);
      return private_v4(v4);
    }
    return (memcmp(b, zero, 15) == 0 && b[15] <= 1) || /* :: and ::1 */
           (b[0] & 0xfe) == 0xfc ||                   /* fc00::/7 */
           (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) ||  /* fe80::/10 */
           b[0] == 0xff;                               /* multicast */
  }
  return 1; /* not an IP address */
}

/* Why addr may not be a callback's destination, and how to change that. */
static void refused_why(char *buf, size_t len, const char *addr) {
  snprintf(buf, len,
           "%s is a private, loopback or link-local address, which callbacks "
           "may not reach; use a public address or host name, or allow "
           "private ones (sandboxd: callback_private = allow)",
           addr);
}

/* libcurl's socket opener: refuses private destinations when asked to. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose,
                                 struct curl_sockaddr *a) {
  struct delivery *d = clientp;
  if (purpose == CURLSOCKTYPE_IPCXN && d->w->cfg.refuse_private &&
      private_addr(&a->addr)) {
    const void *ip = a->family == AF_INET6
                         ? (const void *)&((struct sockaddr_in6 *)&a->addr)->sin6_addr
                         : (const void *)&((struct sockaddr_in *)&a->addr)->sin_addr;
    if (inet_ntop(a->family, ip, d->refused, sizeof(d->refused)) == NULL)
      snprintf(d->refused, sizeof(d->refused), "?");
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
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

/* ---- attempts ------------------------------------------------------------ */

/* A fresh handle per attempt; the answer's body is discarded. */
static int make_easy(struct sbx_webhook *w, struct delivery *d) {
  const struct sbx_curl_uv_easy o = {
      .priv = d,
      .errbuf = d->errbuf,
      .headers = d->headers,
      .timeout_ms = w->cfg.timeout_ms > (uint64_t)LONG_MAX
                        ? LONG_MAX
                        : (long)w->cfg.timeout_ms,
  };
  CURL *e = curl_easy_init();
  CURLcode c;
  int rc;
  if (e == NULL)
    return SBX_ENOMEM;
  rc = sbx_curl_uv_prepare(&w->cu, e, &o);
  if (rc == 0) {
    c = curl_easy_setopt(e, CURLOPT_URL, d->url);
    if (c == CURLE_OK)
      c = curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    if (c == CURLE_OK)
      c = curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, d);
    if (c == CURLE_OK)
      c = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d->len);
    if (c == CURLE_OK)
      c = curl_easy_setopt(e, CURLOPT_POSTFIELDS,
                           d->len > 0 ? (const char *)d->body : "");
    if (c != CURLE_OK)
      rc = c == CURLE_OUT_OF_MEMORY ? SBX_ENOMEM : SBX_EIO;
  }
  if (rc != 0) {
    curl_easy_cleanup(e);
    return rc;
  }
  d->easy = e;
  return 0;
}

/* Logs how d ended, tells the done hook and frees d. */
static void end_delivery(struct sbx_webhook *w, struct delivery *d,
                         enum sbx_webhook_outcome outcome, long status,
                         const char *error) {
  static const char *const names[] = {"delivered", "failed", "canceled"};
  uint64_t run_id = d->run_id;
  if (outcome == SBX_WEBHOOK_DELIVERED)
    w->delivered++;
  else
    w->failed++;
  log_outcome(w, d, names[outcome], status, 0, error);
  delivery_free(d);
  if (w->done != NULL)
    w->done(w->done_arg, run_id, outcome);
}

static void finish_failed(struct sbx_webhook *w, struct delivery *d,
                          long status, const char *error) {
  end_delivery(w, d, SBX_WEBHOOK_FAILED, status, error);
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
    if (rc == 0 && sbx_curl_uv_add(&w->cu, d->easy) != 0)
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
  curl_easy_cleanup(d->easy);
  d->easy = NULL;
  list_remove(&w->active, d);

  if (rc == CURLE_OK && status >= 200 && status <= 299) {
    end_delivery(w, d, SBX_WEBHOOK_DELIVERED, status, "");
    return;
  }
  if (rc != CURLE_OK && d->refused[0] != '\0') {
    refused_why(error, sizeof(error), d->refused);
    retry = 0;
  } else if (rc != CURLE_OK) {
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

/* curl_uv's on_done: the attempt is out of the multi handle already, and
 * its slot is free for the next ready delivery. */
static void on_cu_done(CURL *easy, CURLcode rc, void *arg) {
  struct sbx_webhook *w = arg;
  struct delivery *d = NULL;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&d);
  if (d != NULL)
    finish_attempt(w, d, rc);
  pump(w);
}

/* ---- validation ---------------------------------------------------------- */

static const char url_fix[] = "write it like \"https://hooks.example.com/sbx\"";

int sbx_webhook_validate_url(const char *url, struct sbx_diag *diag) {
  size_t len = url != NULL ? strlen(url) : 0;
  if (len > SBX_WEBHOOK_MAX_URL) {
    sbx_diag_set(diag,
                 "callback URL \"%.60s...\": %zu bytes, over the limit of "
                 "%d; use a shorter URL",
                 url, len, SBX_WEBHOOK_MAX_URL);
    return SBX_EINVAL;
  }
  return sbx_curl_uv_parse_url(url, "callback URL", url_fix,
                               "percent-encode it (a space is %20)", NULL,
                               diag);
}

int sbx_webhook_check_literal_host(const char *url, struct sbx_diag *diag) {
  CURLU *u = NULL;
  char *host = NULL;
  struct sockaddr_storage ss;
  size_t n;
  int rc = 0;

  memset(&ss, 0, sizeof(ss));
  if (sbx_curl_uv_parse_url(url, "callback URL", url_fix, url_fix, &u,
                            NULL) != 0 ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
    goto out;
  n = strlen(host);
  if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    host[n - 1] = '\0';
    s6->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
      goto out;
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
      goto out;
  }
  if (private_addr((const struct sockaddr *)&ss)) {
    char why[400];
    refused_why(why, sizeof(why), host[0] == '[' ? host + 1 : host);
    sbx_diag_set(diag, "callback URL \"%.200s\": %s", url, why);
    rc = SBX_EINVAL;
  }
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

/* ctype is not empty (valid_ctype), so it goes out as given. */
static int build_headers(struct delivery *d, const char *ctype) {
  char id[24];
  int rc;
  snprintf(id, sizeof(id), "%" PRIu64, d->run_id);
  rc = sbx_curl_uv_header(&d->headers, "Content-Type", ctype);
  if (rc == 0)
    rc = sbx_curl_uv_header(&d->headers, "X-Sbx-Run-Id", id);
  if (rc == 0)
    rc = sbx_curl_uv_header(&d->headers, "User-Agent", "sandboxd/" SBX_VERSION);
  /* Bodies over 1 MiB would otherwise wait for "100 Continue". */
  if (rc == 0)
    rc = sbx_curl_uv_header(&d->headers, "Expect:", NULL);
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

  rc = sbx_curl_uv_init(loop, &w->cu, NULL, on_cu_done, w);
  if (rc != 0)
    goto out;

  /* Last: it cannot fail, and undoing it (and cu) takes a loop turn. */
  uv_timer_init(loop, &w->retry_timer);
  w->retry_timer.data = w;
  w->open_handles = 2;
  *out = w;
  w = NULL;
  rc = 0;
out:
  free(w);
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

void sbx_webhook_set_done(struct sbx_webhook *w,
                          void (*done)(void *arg, uint64_t run_id,
                                       enum sbx_webhook_outcome outcome),
                          void *arg) {
  if (w == NULL)
    return;
  w->done = done;
  w->done_arg = arg;
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
  free(w);
  if (cb != NULL)
    cb(arg);
}

static void on_closed(struct sbx_webhook *w) {
  w->open_handles--;
  if (w->open_handles == 0)
    finalize(w);
}

static void on_cu_closed(void *arg) {
  on_closed(arg);
}

static void on_retry_timer_closed(uv_handle_t *h) {
  on_closed(h->data);
}

static void cancel_list(struct sbx_webhook *w, struct dlist *l) {
  struct delivery *d;
  while ((d = l->head) != NULL) {
    list_remove(l, d);
    if (d->easy != NULL)
      sbx_curl_uv_remove(&w->cu, d->easy);
    end_delivery(w, d, SBX_WEBHOOK_CANCELED, 0, "the sender was closed");
  }
}

void sbx_webhook_close(struct sbx_webhook *w, void (*cb)(void *arg),
                       void *arg) {
  if (w == NULL || w->closing)
    return;
  w->closing = 1;
  w->close_cb = cb;
  w->close_arg = arg;

  cancel_list(w, &w->active);
  cancel_list(w, &w->ready);
  cancel_list(w, &w->waiting);
  /* Closes the cached connections, the socket watchers and the timer. */
  sbx_curl_uv_close(&w->cu, on_cu_closed);
  uv_close((uv_handle_t *)&w->retry_timer, on_retry_timer_closed);
}
