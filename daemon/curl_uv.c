/* curl_uv.c - libcurl multi driven by libuv.
 *
 * Why it is shaped this way (see notes/measured-baselines.md; the HTTP
 * adapter's throughput depends on it):
 * - One uv_poll_t per socket for the socket's whole life. libcurl emits
 *   CURL_POLL_REMOVE after every transfer on a kept-alive connection; the
 *   multi-uv.c pattern frees the watcher there and re-creates it for the next
 *   request (ioctl + several epoll_ctl per request). Here the watcher is made
 *   in the open-socket callback, closed (uv_close, before close(2)) in the
 *   close-socket callback, and CURL_POLL_REMOVE only marks it unowned: it is
 *   stopped lazily if it fires while libcurl does not want the socket, and
 *   uv_poll_start is skipped when the mask is unchanged. Measured +40-65%.
 * - A 0 ms timeout from libcurl arms a 0 ms uv_timer, which libuv runs on the
 *   next loop iteration without sleeping (not a 1 ms timer).
 * - Sockets libcurl did not open through us (the threaded resolver's
 *   socketpair) get a watcher on demand that is closed eagerly on
 *   CURL_POLL_REMOVE, since we are never told when libcurl closes them.
 * - libcurl's callbacks never call back into libcurl (re-entrancy); the
 *   timer only arms a uv_timer and curl_multi_socket_action runs from it.
 */
#include "curl_uv.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct sbx__curl_uv_watch {
  uv_poll_t poll;
  struct sbx_curl_uv *cu;
  curl_socket_t fd;
  int events;    /* uv events the poll is started with; 0 = stopped */
  int curl_owns; /* libcurl currently wants events on this socket */
  int foreign;   /* not opened through on_open_socket */
};

static uv_once_t global_once = UV_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void) {
  global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

CURLcode sbx_curl_uv_global_init(void) {
  uv_once(&global_once, global_init);
  return global_rc;
}

/* ---- socket watchers ----------------------------------------------------- */

static void on_poll(uv_poll_t *p, int status, int events);
static void drain(struct sbx_curl_uv *cu);
static void finalize(struct sbx_curl_uv *cu);

static struct sbx__curl_uv_watch *watch_get(struct sbx_curl_uv *cu,
                                            curl_socket_t fd) {
  if (fd < 0 || (size_t)fd >= cu->nwatches)
    return NULL;
  return cu->watches[fd];
}

static void on_watch_closed(uv_handle_t *h) {
  struct sbx__curl_uv_watch *w = h->data;
  struct sbx_curl_uv *cu = w->cu;
  free(w);
  cu->open_handles--;
  if (cu->closing && cu->open_handles == 0)
    finalize(cu);
}

static void watch_close(struct sbx_curl_uv *cu, struct sbx__curl_uv_watch *w) {
  if (cu->watches[w->fd] == w)
    cu->watches[w->fd] = NULL;
  w->curl_owns = 0;
  uv_close((uv_handle_t *)&w->poll, on_watch_closed);
}

static struct sbx__curl_uv_watch *watch_new(struct sbx_curl_uv *cu,
                                            curl_socket_t fd, int foreign) {
  struct sbx__curl_uv_watch *w;
  if (fd < 0)
    return NULL;
  if ((size_t)fd >= cu->nwatches) {
    size_t n = cu->nwatches ? cu->nwatches : 64;
    struct sbx__curl_uv_watch **nw;
    while (n <= (size_t)fd)
      n *= 2;
    nw = realloc(cu->watches, n * sizeof(*nw));
    if (nw == NULL)
      return NULL;
    memset(nw + cu->nwatches, 0, (n - cu->nwatches) * sizeof(*nw));
    cu->watches = nw;
    cu->nwatches = n;
  }
  /* A watcher still mapped here belongs to a foreign socket libcurl closed
   * without telling us; the fd number has been reused. */
  if (cu->watches[fd] != NULL)
    watch_close(cu, cu->watches[fd]);
  w = calloc(1, sizeof(*w));
  if (w == NULL)
    return NULL;
  if (uv_poll_init_socket(cu->loop, &w->poll, fd) != 0) {
    free(w);
    return NULL;
  }
  w->poll.data = w;
  w->cu = cu;
  w->fd = fd;
  w->foreign = foreign;
  cu->open_handles++;
  cu->watches[fd] = w;
  return w;
}

/* CURLOPT_OPENSOCKETFUNCTION */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *addr) {
  struct sbx_curl_uv *cu = clientp;
  curl_socket_t fd;
  if (purpose != CURLSOCKTYPE_IPCXN || cu->closing)
    return CURL_SOCKET_BAD;
  fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
  if (fd < 0)
    return CURL_SOCKET_BAD;
  if (watch_new(cu, fd, 0) == NULL) {
    close(fd);
    return CURL_SOCKET_BAD;
  }
  cu->sockets_opened++;
  return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION */
static int on_close_socket(void *clientp, curl_socket_t fd) {
  struct sbx_curl_uv *cu = clientp;
  struct sbx__curl_uv_watch *w = watch_get(cu, fd);
  /* uv_close first: it removes fd from epoll while the fd still exists. */
  if (w != NULL && !w->foreign)
    watch_close(cu, w);
  return close(fd);
}

/* CURLMOPT_SOCKETFUNCTION */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp,
                          void *socketp) {
  struct sbx_curl_uv *cu = userp;
  struct sbx__curl_uv_watch *w = watch_get(cu, s);
  int ev = 0;
  (void)easy;
  (void)socketp;
  if (what == CURL_POLL_REMOVE) {
    if (w != NULL) {
      w->curl_owns = 0;
      if (w->foreign)
        watch_close(cu, w);
    }
    return 0;
  }
  if (cu->closing)
    return 0;
  if (w == NULL) {
    w = watch_new(cu, s, 1);
    if (w == NULL)
      return -1;
  }
  w->curl_owns = 1;
  if (what & CURL_POLL_IN)
    ev |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    ev |= UV_WRITABLE;
  if (ev == w->events)
    return 0;
  if (ev == 0) {
    uv_poll_stop(&w->poll);
  } else if (uv_poll_start(&w->poll, ev, on_poll) != 0) {
    w->events = 0;
    return -1;
  }
  w->events = ev;
  return 0;
}

static void on_poll(uv_poll_t *p, int status, int events) {
  struct sbx__curl_uv_watch *w = p->data;
  struct sbx_curl_uv *cu = w->cu;
  int flags = 0, running = 0;
  if (!w->curl_owns) {
    /* Lazy removal: libcurl dropped the socket after a transfer and we kept
     * the watcher armed; now that it fired, stop it. */
    uv_poll_stop(p);
    w->events = 0;
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
  curl_multi_socket_action(cu->multi, w->fd, flags, &running);
  drain(cu); /* w may be gone now */
}

/* ---- timer --------------------------------------------------------------- */

static void on_timer(uv_timer_t *t) {
  struct sbx_curl_uv *cu = t->data;
  int running = 0;
  curl_multi_socket_action(cu->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  drain(cu);
}

/* CURLMOPT_TIMERFUNCTION: never calls socket_action itself (re-entrancy). */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
  struct sbx_curl_uv *cu = userp;
  (void)multi;
  if (cu->closing)
    return 0;
  if (timeout_ms < 0) {
    uv_timer_stop(&cu->timer);
    return 0;
  }
  /* 0 stays 0: libuv runs it on the next iteration without blocking. */
  return uv_timer_start(&cu->timer, on_timer, (uint64_t)timeout_ms, 0) == 0
             ? 0
             : -1;
}

/* ---- transfers ----------------------------------------------------------- */

static void drain(struct sbx_curl_uv *cu) {
  CURLMsg *m;
  int left;
  /* on_done may close cu: stop touching the multi then. */
  while (!cu->closing && (m = curl_multi_info_read(cu->multi, &left)) != NULL) {
    CURL *easy = m->easy_handle;
    CURLcode rc;
    if (m->msg != CURLMSG_DONE)
      continue;
    rc = m->data.result; /* m is invalid after remove_handle */
    curl_multi_remove_handle(cu->multi, easy);
    cu->on_done(easy, rc, cu->arg);
  }
}

/* For users with no interest in the response body (webhooks). */
static size_t on_discard(char *ptr, size_t size, size_t nmemb, void *ud) {
  (void)ptr;
  (void)ud;
  return size * nmemb;
}

int sbx_curl_uv_prepare(struct sbx_curl_uv *cu, CURL *easy,
                        const struct sbx_curl_uv_easy *o) {
  CURLcode c = CURLE_OK;
  if (cu == NULL || easy == NULL || o == NULL)
    return SBX_EINVAL;
#define SET(opt, val)                                                          \
  do {                                                                         \
    if (c == CURLE_OK)                                                         \
      c = curl_easy_setopt(easy, opt, val);                                    \
  } while (0)
  SET(CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  SET(CURLOPT_OPENSOCKETDATA, (void *)cu);
  SET(CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
  SET(CURLOPT_CLOSESOCKETDATA, (void *)cu);
  /* No SIGALRM for resolver timeouts: signals are process-wide and the
   * loop is not the only thing running in the process. */
  SET(CURLOPT_NOSIGNAL, 1L);
  /* The destination is what the caller configured: no proxy from the
   * environment, no other protocol, no redirect elsewhere. */
  SET(CURLOPT_PROXY, "");
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_PRIVATE, o->priv);
  SET(CURLOPT_ERRORBUFFER, o->errbuf);
  SET(CURLOPT_HTTPHEADER, o->headers);
  SET(CURLOPT_TIMEOUT_MS, o->timeout_ms);
  SET(CURLOPT_WRITEFUNCTION, o->on_write != NULL ? o->on_write : on_discard);
  SET(CURLOPT_WRITEDATA, o->write_data);
#undef SET
  if (c == CURLE_OK)
    return 0;
  return c == CURLE_OUT_OF_MEMORY ? SBX_ENOMEM : SBX_EIO;
}

int sbx_curl_uv_add(struct sbx_curl_uv *cu, CURL *easy) {
  CURLMcode mc;
  if (cu->closing)
    return SBX_ESTATE;
  mc = curl_multi_add_handle(cu->multi, easy);
  if (mc == CURLM_OK)
    return 0;
  return mc == CURLM_OUT_OF_MEMORY ? SBX_ENOMEM : SBX_EINVAL;
}

void sbx_curl_uv_remove(struct sbx_curl_uv *cu, CURL *easy) {
  if (cu->multi != NULL && easy != NULL)
    curl_multi_remove_handle(cu->multi, easy);
}

/* ---- init and close ------------------------------------------------------ */

int sbx_curl_uv_init(uv_loop_t *loop, struct sbx_curl_uv *cu,
                     const struct sbx_curl_uv_opts *opts,
                     sbx_curl_uv_done_cb on_done, void *arg) {
  CURLM *multi = NULL;
  int rc = SBX_EINVAL;

  if (loop == NULL || cu == NULL || on_done == NULL)
    return SBX_EINVAL;
  memset(cu, 0, sizeof(*cu));
  if (sbx_curl_uv_global_init() != CURLE_OK)
    return SBX_EIO;
  rc = SBX_ENOMEM;
  multi = curl_multi_init();
  if (multi == NULL)
    goto out;
  rc = SBX_EIO;
  if (curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) !=
          CURLM_OK ||
      curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, (void *)cu) != CURLM_OK ||
      curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) !=
          CURLM_OK ||
      curl_multi_setopt(multi, CURLMOPT_TIMERDATA, (void *)cu) != CURLM_OK)
    goto out;
  if (opts != NULL && opts->max_connects > 0 &&
      curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, opts->max_connects) !=
          CURLM_OK)
    goto out;
  if (opts != NULL && opts->no_multiplex &&
      curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING) !=
          CURLM_OK)
    goto out;

  /* Last, because it cannot fail and needs a loop turn to undo. */
  cu->loop = loop;
  cu->on_done = on_done;
  cu->arg = arg;
  uv_timer_init(loop, &cu->timer);
  cu->timer.data = cu;
  cu->open_handles = 1;
  cu->multi = multi;
  multi = NULL;
  rc = 0;
out:
  if (multi != NULL)
    curl_multi_cleanup(multi);
  return rc;
}

static void finalize(struct sbx_curl_uv *cu) {
  void (*cb)(void *) = cu->close_cb;
  free(cu->watches);
  cu->watches = NULL;
  cu->nwatches = 0;
  if (cb != NULL)
    cb(cu->arg);
}

static void on_timer_closed(uv_handle_t *h) {
  struct sbx_curl_uv *cu = h->data;
  cu->open_handles--;
  if (cu->open_handles == 0)
    finalize(cu);
}

void sbx_curl_uv_close(struct sbx_curl_uv *cu, void (*cb)(void *arg)) {
  size_t fd;
  if (cu == NULL || cu->closing)
    return;
  cu->closing = 1;
  cu->close_cb = cb;
  /* Closes the cached connections through on_close_socket. */
  curl_multi_cleanup(cu->multi);
  cu->multi = NULL;
  /* Whatever is left is foreign (libcurl closes those fds itself) or, were
   * libcurl to skip a close-socket call, ours: close both kinds of watcher. */
  for (fd = 0; fd < cu->nwatches; fd++) {
    struct sbx__curl_uv_watch *w = cu->watches[fd];
    if (w == NULL)
      continue;
    watch_close(cu, w);
    if (!w->foreign)
      close((int)fd);
  }
  uv_close((uv_handle_t *)&cu->timer, on_timer_closed);
}

/* ---- URLs ---------------------------------------------------------------- */

int sbx_curl_uv_parse_url(const char *url, const char *what, const char *fix,
                          const char *byte_fix, CURLU **out,
                          struct sbx_diag *diag) {
  CURLU *u = NULL;
  CURLUcode uc;
  char *host = NULL;
  const char *s;
  int rc = SBX_EINVAL;

  if (out != NULL)
    *out = NULL;
  if (url == NULL || *url == '\0') {
    sbx_diag_set(diag, "%s: missing; %s", what, fix);
    return SBX_EINVAL;
  }
  for (s = url; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if (c <= 0x20 || c >= 0x7f) {
      sbx_diag_set(diag,
                   "%s \"%.200s\": contains a space, control or non-ASCII "
                   "byte at offset %zu; %s",
                   what, url, (size_t)(s - url),
                   byte_fix != NULL ? byte_fix : fix);
      return SBX_EINVAL;
    }
  }
  /* curl_url() would take any scheme it knows, and guess one when none is
   * given. */
  if (strncasecmp(url, "http://", 7) != 0 &&
      strncasecmp(url, "https://", 8) != 0) {
    sbx_diag_set(diag, "%s \"%.200s\": scheme must be http:// or https://; %s",
                 what, url, fix);
    return SBX_EINVAL;
  }
  /* libcurl reads "http:///path" as host "path": refuse an empty
   * authority before it can. */
  s = url + (strncasecmp(url, "http://", 7) == 0 ? 7 : 8);
  if (*s == '\0' || *s == '/' || *s == '?' || *s == '#') {
    sbx_diag_set(diag, "%s \"%.200s\": no host; %s", what, url, fix);
    return SBX_EINVAL;
  }
  u = curl_url();
  if (u == NULL)
    return SBX_ENOMEM;
  uc = curl_url_set(u, CURLUPART_URL, url, 0);
  if (uc != CURLUE_OK) {
    rc = uc == CURLUE_OUT_OF_MEMORY ? SBX_ENOMEM : SBX_EINVAL;
    sbx_diag_set(diag, "%s \"%.200s\": %s; %s", what, url,
                 curl_url_strerror(uc), fix);
    goto out;
  }
  if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host == NULL ||
      *host == '\0') {
    sbx_diag_set(diag, "%s \"%.200s\": no host; %s", what, url, fix);
    goto out;
  }
  if (out != NULL) {
    *out = u;
    u = NULL;
  }
  rc = 0;
out:
  curl_free(host);
  curl_url_cleanup(u);
  return rc;
}

/* ---- headers ------------------------------------------------------------- */

int sbx_curl_uv_header(struct curl_slist **list, const char *name,
                       const char *value) {
  struct curl_slist *n;
  char *line = NULL;
  size_t nl, vl;

  if (value != NULL) {
    nl = strlen(name);
    vl = strlen(value);
    line = malloc(nl + vl + 3);
    if (line == NULL)
      return SBX_ENOMEM;
    memcpy(line, name, nl);
    if (vl == 0) {
      line[nl] = ';';
      line[nl + 1] = '\0';
    } else {
      line[nl] = ':';
      line[nl + 1] = ' ';
      memcpy(line + nl + 2, value, vl + 1);
    }
  }
  n = curl_slist_append(*list, line != NULL ? line : name);
  free(line);
  if (n == NULL)
    return SBX_ENOMEM;
  *list = n;
  return 0;
}
