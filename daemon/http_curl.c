/* http_curl.c - libcurl multi driven by libuv, as an sbx adapter.
 *
 * Why it is shaped this way (see notes/measured-baselines.md):
 * - The loop glue is curl_uv.c (one uv_poll_t per socket for the socket's
 *   whole life, lazy removal, 0 ms timers; the reasons are at its top). It
 *   is embedded here, so a request costs no allocation and one indirect
 *   call (its on_done) on top of libcurl.
 * - A fixed pool of easy handles, one per allowed in-flight request; the
 *   engine never submits more, so nothing ever queues inside libcurl (whose
 *   queueing has regressed repeatedly). Each handle is prepared for curl_uv
 *   once, at open.
 */
#include "http_curl.h"

#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curl_uv.h"

#define DEFAULT_MAX_BODY (16u * 1024u * 1024u)
#define MAX_IN_FLIGHT_LIMIT 100000u
/* A body buffer that grew past this is dropped before the next response
 * so that one huge answer does not pin memory on every handle forever. */
#define BODY_SHRINK_OVER (1u * 1024u * 1024u)

struct http_curl;

struct xfer {
  CURL *easy;
  struct http_curl *hc;
  struct sbx_request *req; /* NULL while free */
  struct xfer *next_free;
  const char *url_set; /* cached URL currently set on easy */
  int post_mode;       /* easy is in POSTFIELDS mode */
  int too_large;
  int oom;
  uint8_t *buf;
  size_t len;
  size_t cap;
  char errbuf[CURL_ERROR_SIZE];
};

struct http_curl {
  struct sbx_adapter base; /* first: the engine holds &base */
  struct sbx_curl_uv cu;   /* the multi handle and its loop glue */
  char *base_url;          /* without a trailing '/' */
  const Sbx__V1__Interface *iface;
  struct curl_slist *headers;
  char *method;
  int head_only;
  int method_has_body; /* POST, PUT, PATCH: always send a body */
  size_t max_body;
  long timeout_ms;

  struct xfer *xfers;
  struct xfer *free_list;
  uint32_t in_flight;

  char **urls; /* per case_index, built lazily */
  size_t nurls;

  int closing;
  sbx_adapter_close_cb close_cb;
};

/* ---- transfers ---------------------------------------------------------- */

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
  struct xfer *x = userdata;
  size_t n = size * nmemb;
  size_t max = x->hc->max_body;
  if (n == 0)
    return 0;
  if (x->len == 0 && x->cap > BODY_SHRINK_OVER) {
    free(x->buf);
    x->buf = NULL;
    x->cap = 0;
  }
  if (n > max - x->len) {
    x->too_large = 1;
    return 0; /* != n: libcurl aborts with CURLE_WRITE_ERROR */
  }
  if (x->len + n > x->cap) {
    size_t cap = x->cap ? x->cap : 4096;
    uint8_t *nb;
    while (cap < x->len + n)
      cap = cap > max / 2 ? max : cap * 2;
    nb = realloc(x->buf, cap);
    if (nb == NULL) {
      x->oom = 1;
      return 0;
    }
    x->buf = nb;
    x->cap = cap;
  }
  memcpy(x->buf + x->len, ptr, n);
  x->len += n;
  return n;
}

static void copy_detail(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  /* libcurl's messages often end in a newline. */
  while (n > 0 && (src[n - 1] == '\n' || src[n - 1] == '\r'))
    n--;
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static Sbx__V1__ErrorClass classify(CURLcode rc) {
  switch (rc) {
  case CURLE_OK:
    return SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE;
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    return SBX__V1__ERROR_CLASS__ERROR_CLASS_REFUSED;
  case CURLE_OPERATION_TIMEDOUT:
    return SBX__V1__ERROR_CLASS__ERROR_CLASS_TIMEOUT;
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
    return SBX__V1__ERROR_CLASS__ERROR_CLASS_RESET;
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_BAD_CONTENT_ENCODING:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_HTTP3:
    return SBX__V1__ERROR_CLASS__ERROR_CLASS_PROTOCOL;
  case CURLE_FILESIZE_EXCEEDED:
    return SBX__V1__ERROR_CLASS__ERROR_CLASS_BODY_TOO_LARGE;
  default:
    return SBX__V1__ERROR_CLASS__ERROR_CLASS_OTHER;
  }
}

/* Fills req from a finished transfer, returns x to the pool, calls on_done.
 * x goes back to the pool first so the engine may submit from on_done; the
 * body stays readable because a new transfer writes only once the loop runs
 * again. */
static void finish(struct http_curl *hc, struct xfer *x, CURLcode rc) {
  struct sbx_request *req = x->req;
  long status = 0;
  Sbx__V1__ErrorClass ec = classify(rc);

  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
  req->done_ns = (int64_t)uv_hrtime();
  req->status = status > 0 ? (uint32_t)status : 0;
  req->detail[0] = '\0';
  req->body = NULL;
  req->body_len = 0;
  if (rc == CURLE_WRITE_ERROR && x->too_large)
    ec = SBX__V1__ERROR_CLASS__ERROR_CLASS_BODY_TOO_LARGE;
  if (ec == SBX__V1__ERROR_CLASS__ERROR_CLASS_BODY_TOO_LARGE) {
    snprintf(req->detail, sizeof(req->detail),
             "response body over the cap of %zu bytes; raise "
             "interface.max_body_bytes",
             hc->max_body);
  } else if (rc == CURLE_WRITE_ERROR && x->oom) {
    copy_detail(req->detail, sizeof(req->detail),
                "out of memory buffering the response body");
  } else if (ec == SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE && status <= 0) {
    ec = SBX__V1__ERROR_CLASS__ERROR_CLASS_PROTOCOL;
    copy_detail(req->detail, sizeof(req->detail),
                "response carried no HTTP status");
  } else if (ec != SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE) {
    copy_detail(req->detail, sizeof(req->detail),
                x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(rc));
  } else {
    req->body = x->buf;
    req->body_len = x->len;
  }
  req->error = ec;

  x->req = NULL;
  x->next_free = hc->free_list;
  hc->free_list = x;
  hc->in_flight--;
  hc->base.on_done(&hc->base, req);
}

/* curl_uv's on_done: the transfer is out of the multi handle already. */
static void on_cu_done(CURL *easy, CURLcode rc, void *arg) {
  struct http_curl *hc = arg;
  char *priv = NULL;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
  if (priv != NULL && ((struct xfer *)(void *)priv)->req != NULL)
    finish(hc, (struct xfer *)(void *)priv, rc);
}

/* Returns the cached URL of case_index, building it on first use. */
static const char *url_for(struct http_curl *hc, uint32_t idx,
                           const Sbx__V1__Case *kase) {
  char *target, *url;
  size_t blen, tlen;
  if ((size_t)idx >= hc->nurls) {
    size_t n = hc->nurls ? hc->nurls : 64;
    char **nu;
    while (n <= (size_t)idx)
      n *= 2;
    if (n > SIZE_MAX / sizeof(*nu))
      return NULL;
    nu = realloc(hc->urls, n * sizeof(*nu));
    if (nu == NULL)
      return NULL;
    memset(nu + hc->nurls, 0, (n - hc->nurls) * sizeof(*nu));
    hc->urls = nu;
    hc->nurls = n;
  }
  if (hc->urls[idx] != NULL)
    return hc->urls[idx];
  target = sbx_adapter_target(hc->iface, kase);
  if (target == NULL)
    return NULL;
  blen = strlen(hc->base_url);
  tlen = strlen(target);
  url = malloc(blen + tlen + 1);
  if (url != NULL) {
    memcpy(url, hc->base_url, blen);
    memcpy(url + blen, target, tlen + 1);
  }
  free(target);
  hc->urls[idx] = url;
  return url;
}

static int hc_submit(struct sbx_adapter *a, struct sbx_request *req) {
  struct http_curl *hc = (struct http_curl *)a;
  struct xfer *x;
  const char *url;
  CURLcode cc = CURLE_OK;
  int rc;

  if (hc->closing)
    return SBX_ESTATE;
  if (req == NULL || req->kase == NULL)
    return SBX_EINVAL;
  x = hc->free_list;
  if (x == NULL)
    return SBX_EBUSY;
  url = url_for(hc, req->case_index, req->kase);
  if (url == NULL)
    return SBX_ENOMEM;
  if (x->url_set != url) {
    cc = curl_easy_setopt(x->easy, CURLOPT_URL, url);
    if (cc != CURLE_OK) {
      x->url_set = NULL;
      return cc == CURLE_OUT_OF_MEMORY ? SBX_ENOMEM : SBX_EINVAL;
    }
    x->url_set = url;
  }
  if (!hc->head_only) {
    size_t blen = req->kase->input.len;
    if (blen > 0 || hc->method_has_body) {
      const char *body = blen > 0 ? (const char *)req->kase->input.data : "";
      cc = curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                            (curl_off_t)blen);
      if (cc == CURLE_OK)
        cc = curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, body);
      x->post_mode = 1;
    } else if (x->post_mode) {
      cc = curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
      x->post_mode = 0;
    }
    if (cc != CURLE_OK)
      return cc == CURLE_OUT_OF_MEMORY ? SBX_ENOMEM : SBX_EINVAL;
  }
  x->len = 0;
  x->too_large = 0;
  x->oom = 0;
  x->errbuf[0] = '\0';
  x->req = req;
  rc = sbx_curl_uv_add(&hc->cu, x->easy);
  if (rc != 0) {
    x->req = NULL;
    return rc;
  }
  hc->free_list = x->next_free;
  x->next_free = NULL;
  hc->in_flight++;
  return 0;
}

/* ---- close -------------------------------------------------------------- */

static void free_all(struct http_curl *hc) {
  size_t i;
  if (hc->xfers != NULL) {
    for (i = 0; i < hc->base.max_in_flight; i++) {
      if (hc->xfers[i].easy != NULL)
        curl_easy_cleanup(hc->xfers[i].easy);
      free(hc->xfers[i].buf);
    }
  }
  for (i = 0; i < hc->nurls; i++)
    free(hc->urls[i]);
  free(hc->urls);
  free(hc->xfers);
  curl_slist_free_all(hc->headers);
  free(hc->method);
  free(hc->base_url);
  free(hc);
}

static void finalize(struct http_curl *hc) {
  sbx_adapter_close_cb cb = hc->close_cb;
  if (cb != NULL)
    cb(&hc->base);
  free_all(hc);
}

static void on_cu_closed(void *arg) {
  finalize(arg);
}

static void hc_close(struct sbx_adapter *a, sbx_adapter_close_cb close_cb) {
  struct http_curl *hc = (struct http_curl *)a;
  uint32_t i;

  if (hc->closing)
    return;
  hc->closing = 1;
  hc->close_cb = close_cb;

  for (i = 0; i < a->max_in_flight; i++)
    if (hc->xfers[i].req != NULL)
      sbx_curl_uv_remove(&hc->cu, hc->xfers[i].easy);
  /* Closes the cached connections, the socket watchers and the timer. */
  sbx_curl_uv_close(&hc->cu, on_cu_closed);
  for (i = 0; i < a->max_in_flight; i++) {
    curl_easy_cleanup(hc->xfers[i].easy);
    hc->xfers[i].easy = NULL;
  }

  /* Handles are closing; now tell the engine. It may not submit (ESTATE)
   * and its close_cb comes later, from the last close callback. */
  for (i = 0; i < a->max_in_flight; i++) {
    struct xfer *x = &hc->xfers[i];
    struct sbx_request *req = x->req;
    if (req == NULL)
      continue;
    x->req = NULL;
    hc->in_flight--;
    req->done_ns = (int64_t)uv_hrtime();
    req->error = SBX__V1__ERROR_CLASS__ERROR_CLASS_OTHER;
    req->status = 0;
    req->body = NULL;
    req->body_len = 0;
    copy_detail(req->detail, sizeof(req->detail), "canceled");
    a->on_done(a, req);
  }
}

static const struct sbx_adapter_ops http_curl_ops = {
    .name = "curl",
    .submit = hc_submit,
    .close = hc_close,
};

/* ---- open --------------------------------------------------------------- */

static int check_base_url(const char *base, struct sbx_diag *diag) {
  CURLU *u = NULL;
  char *part = NULL;
  int rc;

  rc = sbx_curl_uv_parse_url(base, "base_url",
                             "write it like \"http://127.0.0.1:8080\"", NULL,
                             &u, diag);
  if (rc != 0)
    return rc;
  rc = SBX_EINVAL;
  if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK) {
    sbx_diag_set(diag,
                 "base_url \"%.200s\": credentials in the URL are not "
                 "supported; remove \"user@\" and send an Authorization "
                 "header through interface.headers",
                 base);
    goto out;
  }
  if (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK ||
      curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK) {
    sbx_diag_set(diag,
                 "base_url \"%.200s\": has a query or fragment; put it in "
                 "interface.path and keep base_url to scheme, host and "
                 "port",
                 base);
    goto out;
  }
  if (curl_url_get(u, CURLUPART_PATH, &part, 0) == CURLUE_OK && part != NULL &&
      strcmp(part, "/") != 0 && *part != '\0') {
    sbx_diag_set(diag,
                 "base_url \"%.200s\": has the path \"%.200s\"; keep "
                 "base_url to scheme, host and port and put the path in "
                 "interface.path",
                 base, part);
    goto out;
  }
  rc = 0;
out:
  curl_free(part);
  curl_url_cleanup(u);
  return rc;
}

static int build_headers(struct http_curl *hc, struct sbx_diag *diag) {
  const Sbx__V1__Interface *iface = hc->iface;
  size_t i;
  int rc;
  /* Bodies over 1 MiB would otherwise wait for "100 Continue". */
  rc = sbx_curl_uv_header(&hc->headers, "Expect:", NULL);
  if (rc != 0)
    return rc;
  if (iface == NULL)
    return 0;
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
      return SBX_EINVAL;
    }
    if (!sbx_http_is_field_value(value)) {
      sbx_diag_set(diag,
                   "interface.headers[%zu] (%.100s): value contains a line "
                   "break or control character; remove it",
                   i, name);
      return SBX_EINVAL;
    }
    rc = sbx_curl_uv_header(&hc->headers, name, value);
    if (rc != 0)
      return rc;
  }
  if (iface->content_type != NULL && *iface->content_type != '\0') {
    if (!sbx_http_is_field_value(iface->content_type)) {
      sbx_diag_set(diag, "interface.content_type: contains a line break or "
                         "control character; remove it");
      return SBX_EINVAL;
    }
    rc = sbx_curl_uv_header(&hc->headers, "Content-Type", iface->content_type);
  } else {
    /* No content type configured: send none rather than libcurl's
     * application/x-www-form-urlencoded default for POSTFIELDS. */
    rc = sbx_curl_uv_header(&hc->headers, "Content-Type:", NULL);
  }
  return rc;
}

static int setup_method(struct http_curl *hc, struct sbx_diag *diag) {
  return sbx_http_method(hc->iface, &hc->method, &hc->head_only,
                         &hc->method_has_body, diag);
}

static int setup_easy(struct http_curl *hc, struct xfer *x) {
  CURL *e = curl_easy_init();
  const struct sbx_curl_uv_easy o = {
      .priv = x,
      .errbuf = x->errbuf,
      .headers = hc->headers,
      .timeout_ms = hc->timeout_ms,
      .on_write = on_write,
      .write_data = x,
  };
  CURLcode c = CURLE_OK;
  if (e == NULL)
    return SBX_ENOMEM;
  x->easy = e;
  x->hc = hc;
#define SET(opt, val)                                                          \
  do {                                                                         \
    if (c == CURLE_OK)                                                         \
      c = curl_easy_setopt(e, opt, val);                                       \
  } while (0)
  SET(CURLOPT_TCP_NODELAY, 1L);
  SET(CURLOPT_PATH_AS_IS, 1L);
  SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)hc->max_body);
  if (hc->head_only)
    SET(CURLOPT_NOBODY, 1L);
  else if (strcmp(hc->method, "POST") != 0)
    SET(CURLOPT_CUSTOMREQUEST, hc->method);
#undef SET
  if (c == CURLE_OUT_OF_MEMORY)
    return SBX_ENOMEM;
  if (c != CURLE_OK)
    return SBX_EIO;
  /* hc->cu is not initialized yet; only its address is stored. */
  return sbx_curl_uv_prepare(&hc->cu, e, &o);
}

int sbx_http_curl_open(uv_loop_t *loop, const struct sbx_http_config *cfg,
                       sbx_adapter_done_cb on_done, void *data,
                       struct sbx_adapter **out, struct sbx_diag *diag) {
  struct http_curl *hc = NULL;
  struct sbx_curl_uv_opts cu_opts;
  CURLcode cc;
  size_t blen;
  uint32_t i;
  int rc = SBX_EINVAL;

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
  rc = check_base_url(cfg->base_url, diag);
  if (rc != 0)
    return rc;
  cc = sbx_curl_uv_global_init();
  if (cc != CURLE_OK) {
    sbx_diag_set(diag, "libcurl: global init failed: %s",
                 curl_easy_strerror(cc));
    return SBX_EIO;
  }

  rc = SBX_ENOMEM;
  hc = calloc(1, sizeof(*hc));
  if (hc == NULL)
    goto out;
  hc->base.ops = &http_curl_ops;
  hc->base.loop = loop;
  hc->base.on_done = on_done;
  hc->base.data = data;
  hc->base.max_in_flight = cfg->max_in_flight;
  hc->iface = cfg->iface;
  hc->max_body = cfg->max_body_bytes == 0 ? DEFAULT_MAX_BODY
                 : cfg->max_body_bytes > SIZE_MAX / 2
                     ? SIZE_MAX / 2
                     : (size_t)cfg->max_body_bytes;
  if (hc->max_body > (size_t)INT64_MAX)
    hc->max_body = (size_t)INT64_MAX;
  if (cfg->timeout_us <= 0)
    hc->timeout_ms = 0;
  else if ((cfg->timeout_us - 1) / 1000 + 1 > (int64_t)LONG_MAX)
    hc->timeout_ms = LONG_MAX;
  else
    hc->timeout_ms = (long)((cfg->timeout_us - 1) / 1000 + 1);

  blen = strlen(cfg->base_url);
  while (blen > 0 && cfg->base_url[blen - 1] == '/')
    blen--;
  hc->base_url = malloc(blen + 1);
  if (hc->base_url == NULL)
    goto out;
  memcpy(hc->base_url, cfg->base_url, blen);
  hc->base_url[blen] = '\0';

  rc = setup_method(hc, diag);
  if (rc != 0)
    goto out;
  rc = build_headers(hc, diag);
  if (rc != 0)
    goto out;

  rc = SBX_ENOMEM;
  hc->xfers = calloc(cfg->max_in_flight, sizeof(*hc->xfers));
  if (hc->xfers == NULL)
    goto out;
  for (i = cfg->max_in_flight; i-- > 0;) {
    rc = setup_easy(hc, &hc->xfers[i]);
    if (rc != 0) {
      if (rc == SBX_EIO)
        sbx_diag_set(diag, "libcurl: could not configure an easy handle");
      goto out;
    }
    hc->xfers[i].next_free = hc->free_list;
    hc->free_list = &hc->xfers[i];
  }

  /* Last: once it succeeds, undoing it takes a loop turn. A cached
   * connection per in-flight request, and none shared (HTTP/1.1). */
  cu_opts = (struct sbx_curl_uv_opts){
      .max_connects = (long)cfg->max_in_flight,
      .no_multiplex = 1,
  };
  rc = sbx_curl_uv_init(loop, &hc->cu, &cu_opts, on_cu_done, hc);
  if (rc != 0) {
    if (rc == SBX_EIO)
      sbx_diag_set(diag, "libcurl: could not configure the multi handle");
    goto out;
  }
  *out = &hc->base;
  hc = NULL;
  rc = 0;
out:
  if (hc != NULL) {
    if (rc == SBX_ENOMEM)
      sbx_diag_set(diag, "http adapter: out of memory");
    free_all(hc);
  }
  return rc;
}

uint64_t sbx_http_curl_sockets_opened(struct sbx_adapter *a) {
  return ((struct http_curl *)a)->cu.sockets_opened;
}
