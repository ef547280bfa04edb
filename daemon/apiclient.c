/* apiclient.c - the sbx side of the sandboxd API. See apiclient.h. */
#include "apiclient.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "connect.h"
#include "sbx/v1/api.pb-c.h"

#define SERVICE_PATH "/sbx.v1.Sandbox/"
#define MAX_URL 2048
#define MAX_TOKEN 1024
/* A failing stream's or a refused call's body is a short JSON document;
 * anything longer is cut (the parser then reports it as unparsable). */
#define MAX_ERROR_BODY (64u * 1024)
/* One stream message is one RunEvent; the biggest carries a SignedResult. */
#define MAX_STREAM_MSG (64u * 1024 * 1024)
/* A unary call that sends nothing back for this long is given up. */
#define UNARY_STALL_S 300L

struct sbx_api_client {
  CURL *easy;
  char *server;
  char *auth_header; /* "Authorization: Bearer ..." or NULL */
  size_t max_response;
  const volatile sig_atomic_t *abort_flag;
  char errbuf[CURL_ERROR_SIZE];
};

/* One call in progress. */
struct xfer {
  struct sbx_api_client *c;
  uint8_t *buf; /* unary answer, or a stream's error body */
  size_t len;
  size_t cap;
  size_t max;
  int overflow;
  /* streams only */
  int stream;
  long status; /* known once the first body bytes arrive */
  struct sbx_connect_reader reader;
  int (*on_event)(const Sbx__V1__RunEvent *ev, void *arg);
  void *arg;
  int stop_rc;      /* why the stream stopped early; 0 if it did not */
  int user_stopped; /* stop_rc came from on_event */
  int ended;        /* the END envelope arrived */
  int end_code;
  char end_msg[512];
  size_t n_msgs;
  char proto_msg[256]; /* what was wrong with the stream */
};

static void seterr(struct sbx_api_error *err, int code, int unreachable,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void seterr(struct sbx_api_error *err, int code, int unreachable,
                   const char *fmt, ...) {
  va_list ap;
  if (err == NULL)
    return;
  err->code = code;
  err->unreachable = unreachable;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof(err->message), fmt, ap);
  va_end(ap);
}

/* Replaces what a terminal could take as a command - C0 and C1 control
 * characters, DEL, bytes that are not well-formed UTF-8 - with '?', in
 * place. The string never grows. */
static void sanitize(char *s) {
  unsigned char *p = (unsigned char *)s;
  while (*p != '\0') {
    unsigned c = p[0];
    size_t n = 0, i;
    uint32_t cp;
    if (c < 0x20 || c == 0x7f) {
      *p++ = '?';
      continue;
    }
    if (c < 0x80) {
      p++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      cp = c & 0x07;
    } else {
      *p++ = '?';
      continue;
    }
    for (i = 1; i <= n; i++) {
      if ((p[i] & 0xc0) != 0x80)
        break;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (i <= n || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
        (cp >= 0x80 && cp <= 0x9f)) {
      *p++ = '?';
      continue;
    }
    p += n + 1;
  }
}

void sbx_api_sanitize(char *s) {
  if (s != NULL)
    sanitize(s);
}

static void clean(struct sbx_api_error *err) {
  if (err != NULL)
    sanitize(err->message);
}

int sbx_api_err_from_code(int code) {
  switch (code) {
  case SBX_CONNECT_NOT_FOUND:
    return SBX_ENOENT;
  case SBX_CONNECT_INVALID_ARGUMENT:
  case SBX_CONNECT_OUT_OF_RANGE:
    return SBX_EINVAL;
  case SBX_CONNECT_ALREADY_EXISTS:
    return SBX_EEXIST;
  case SBX_CONNECT_PERMISSION_DENIED:
    return SBX_EPERM;
  case SBX_CONNECT_UNAUTHENTICATED:
    return SBX_EAUTH;
  case SBX_CONNECT_FAILED_PRECONDITION:
  case SBX_CONNECT_ABORTED:
    return SBX_ESTATE;
  case SBX_CONNECT_RESOURCE_EXHAUSTED:
    return SBX_EBUSY;
  case SBX_CONNECT_CANCELED:
    return SBX_ECANCELED;
  default:
    return SBX_EIO;
  }
}

static int is_http_url(const char *s) {
  size_t i;
  if (strncasecmp(s, "http://", 7) != 0 && strncasecmp(s, "https://", 8) != 0)
    return 0;
  for (i = 0; s[i] != '\0'; i++)
    if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
      return 0;
  return i < MAX_URL;
}

static int is_token(const char *s) {
  size_t i;
  for (i = 0; s[i] != '\0'; i++)
    if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
      return 0;
  return i < MAX_TOKEN;
}

int sbx_api_client_new(const char *server, const char *token,
                       struct sbx_api_client **out, struct sbx_api_error *err) {
  struct sbx_api_client *c = NULL;
  size_t n, alen;
  int rc = SBX_ENOMEM;

  *out = NULL;
  if (err != NULL)
    memset(err, 0, sizeof(*err));
  if (server == NULL || !is_http_url(server)) {
    seterr(err, 0, 0,
           "the server must be an http:// or https:// URL without blanks, "
           "e.g. http://127.0.0.1:7800");
    return SBX_EINVAL;
  }
  if (token != NULL && token[0] != '\0' && !is_token(token)) {
    seterr(err, 0, 0,
           "the token holds blanks or control characters; pass the secret "
           "that sbx token create printed");
    return SBX_EINVAL;
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    goto out;
  c->max_response = SBX_API_MAX_RESPONSE;
  c->server = strdup(server);
  if (c->server == NULL)
    goto out;
  n = strlen(c->server);
  while (n > 0 && c->server[n - 1] == '/')
    c->server[--n] = '\0';
  if (token != NULL && token[0] != '\0') {
    alen = sizeof("Authorization: Bearer ") + strlen(token);
    c->auth_header = malloc(alen);
    if (c->auth_header == NULL)
      goto out;
    snprintf(c->auth_header, alen, "Authorization: Bearer %s", token);
  }
  c->easy = curl_easy_init();
  if (c->easy == NULL)
    goto out;
  *out = c;
  c = NULL;
  rc = 0;
out:
  if (rc == SBX_ENOMEM)
    seterr(err, 0, 0, "out of memory");
  sbx_api_client_free(c);
  return rc;
}

void sbx_api_client_free(struct sbx_api_client *c) {
  if (c == NULL)
    return;
  if (c->easy != NULL)
    curl_easy_cleanup(c->easy);
  free(c->server);
  if (c->auth_header != NULL) {
    /* The secret should not linger in freed memory. */
    memset(c->auth_header, 0, strlen(c->auth_header));
    free(c->auth_header);
  }
  free(c);
}

const char *sbx_api_client_server(const struct sbx_api_client *c) {
  return c->server;
}

void sbx_api_client_set_abort_flag(struct sbx_api_client *c,
                                   const volatile sig_atomic_t *flag) {
  c->abort_flag = flag;
}

void sbx_api_client_set_max_response(struct sbx_api_client *c, size_t max) {
  if (max < SBX_API_MAX_RESPONSE)
    c->max_response = max;
}

/* Appends to x->buf, never beyond x->max. */
static int append(struct xfer *x, const void *data, size_t n) {
  size_t want;
  uint8_t *nb;
  if (n > x->max - x->len) {
    x->overflow = 1;
    return -1;
  }
  if (x->len + n > x->cap) {
    want = x->cap ? x->cap : 16384;
    while (want < x->len + n)
      want = want > x->max / 2 ? x->max : want * 2;
    nb = realloc(x->buf, want);
    if (nb == NULL) {
      x->stop_rc = SBX_ENOMEM;
      return -1;
    }
    x->buf = nb;
    x->cap = want;
  }
  memcpy(x->buf + x->len, data, n);
  x->len += n;
  return 0;
}

static size_t on_unary_data(char *data, size_t size, size_t nmemb, void *arg) {
  struct xfer *x = arg;
  size_t n = size * nmemb;
  return append(x, data, n) == 0 ? n : 0;
}

static int on_envelope(uint8_t flags, const uint8_t *msg, size_t len,
                       void *arg) {
  struct xfer *x = arg;
  Sbx__V1__RunEvent *ev;
  int rc;
  if (x->ended) {
    snprintf(x->proto_msg, sizeof(x->proto_msg),
             "a message followed the end of the stream");
    return SBX_EPROTO;
  }
  if (flags & SBX_CONNECT_FLAG_END) {
    if (sbx_connect_parse_end(msg, len, &x->end_code, x->end_msg,
                              sizeof(x->end_msg)) != 0) {
      snprintf(x->proto_msg, sizeof(x->proto_msg),
               "the end-of-stream message is not the JSON Connect "
               "prescribes");
      return SBX_EPROTO;
    }
    x->ended = 1;
    return 0;
  }
  x->n_msgs++;
  ev = sbx__v1__run_event__unpack(NULL, len, msg);
  if (ev == NULL) {
    snprintf(x->proto_msg, sizeof(x->proto_msg),
             "message %zu of the stream (%zu bytes) is not a valid RunEvent",
             x->n_msgs, len);
    return SBX_EPROTO;
  }
  rc = x->on_event(ev, x->arg);
  sbx__v1__run_event__free_unpacked(ev, NULL);
  if (rc != 0)
    x->user_stopped = 1;
  return rc;
}

static size_t on_stream_data(char *data, size_t size, size_t nmemb, void *arg) {
  struct xfer *x = arg;
  size_t n = size * nmemb;
  int rc;
  if (x->status == 0 && curl_easy_getinfo(x->c->easy, CURLINFO_RESPONSE_CODE,
                                          &x->status) != CURLE_OK)
    x->status = -1;
  if (x->status != 200) /* an error before the stream began: JSON */
    return append(x, data, n) == 0 ? n : 0;
  rc = sbx_connect_reader_feed(&x->reader, (const uint8_t *)data, n,
                               on_envelope, x);
  if (rc != 0) {
    x->stop_rc = rc;
    if (!x->user_stopped && x->proto_msg[0] == '\0')
      snprintf(x->proto_msg, sizeof(x->proto_msg),
               rc == SBX_ENOMEM ? "out of memory"
                                : "a malformed envelope (compressed, or "
                                  "larger than %u bytes)",
               MAX_STREAM_MSG);
    return 0;
  }
  return n;
}

static int on_xferinfo(void *arg, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow) {
  const struct sbx_api_client *c = arg;
  (void)dltotal;
  (void)dlnow;
  (void)ultotal;
  (void)ulnow;
  return c->abort_flag != NULL && *c->abort_flag != 0;
}

/* Is the answer's Content-Type want (parameters ignored)? */
static int content_type_is(CURL *easy, const char *want) {
  char *ct = NULL;
  size_t n = strlen(want);
  if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK ||
      ct == NULL)
    return 0;
  return strncasecmp(ct, want, n) == 0 &&
         (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static const char *content_type(CURL *easy) {
  char *ct = NULL;
  if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK ||
      ct == NULL)
    return "none";
  return ct;
}

/* Sets up c->easy for one POST of body to method. */
static int prepare(struct sbx_api_client *c, const char *method,
                   const uint8_t *body, size_t len, const char *ctype,
                   struct curl_slist **hdrs, struct sbx_api_error *err) {
  char url[MAX_URL + 128], ct[64];
  /* Expect: off - a 1 s stall per big upload buys nothing on an API whose
   * every call the server reads in full anyway. */
  const char *lines[] = {ct, "Connect-Protocol-Version: 1",
                         "Expect:", "User-Agent: sbx/" SBX_VERSION,
                         c->auth_header};
  struct curl_slist *h = NULL, *t;
  static const char empty[1] = "";
  size_t i;

  for (i = 0; method[i] != '\0'; i++)
    if (!((method[i] >= 'A' && method[i] <= 'Z') ||
          (method[i] >= 'a' && method[i] <= 'z') ||
          (method[i] >= '0' && method[i] <= '9')) ||
        i > 64) {
      seterr(err, 0, 0, "invalid method name");
      return SBX_EINVAL;
    }
  snprintf(url, sizeof(url), "%s" SERVICE_PATH "%s", c->server, method);
  snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
  for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
    if (lines[i] == NULL)
      continue;
    t = curl_slist_append(h, lines[i]);
    if (t == NULL) {
      curl_slist_free_all(h);
      seterr(err, 0, 0, "out of memory");
      return SBX_ENOMEM;
    }
    h = t;
  }
  *hdrs = h;
  curl_easy_reset(c->easy);
  c->errbuf[0] = '\0';
  curl_easy_setopt(c->easy, CURLOPT_URL, url);
  curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
  curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS,
                   SBX_API_CONNECT_TIMEOUT_MS);
  curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c->easy, CURLOPT_POST, 1L);
  /* Never NULL: with no fields curl would read the body from stdin. */
  curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS,
                   len ? (const void *)body : (const void *)empty);
  curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  if (c->abort_flag != NULL) {
    curl_easy_setopt(c->easy, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c->easy, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
    curl_easy_setopt(c->easy, CURLOPT_XFERINFODATA, c);
  }
  return 0;
}

/* Turns a failed transfer into rc and err. */
static int transfer_failed(struct sbx_api_client *c, CURLcode cc, long status,
                           struct sbx_api_error *err) {
  const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);
  if (cc == CURLE_ABORTED_BY_CALLBACK) {
    seterr(err, 0, 0, "interrupted");
    return SBX_ECANCELED;
  }
  if (status == 0) {
    seterr(err, 0, 1, "%s", why);
    clean(err);
    return SBX_ECONNECT;
  }
  seterr(err, 0, 0, "the answer broke off: %s", why);
  clean(err);
  return SBX_EPROTO;
}

/* A non-200 answer: the Connect error in its body. */
static int refused(struct xfer *x, long status, struct sbx_api_error *err) {
  int code = 0;
  char msg[sizeof(err->message)];
  sbx_connect_parse_error((unsigned)status, x->buf, x->len, &code, msg,
                          sizeof(msg));
  if (code == SBX_CONNECT_OK)
    code = SBX_CONNECT_UNKNOWN;
  seterr(err, code, 0, "%s", msg);
  clean(err);
  return sbx_api_err_from_code(code);
}

int sbx_api_call(struct sbx_api_client *c, const char *method,
                 const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *resp_desc,
                 ProtobufCMessage **resp, struct sbx_api_error *err) {
  struct xfer x = {.c = c, .max = c->max_response};
  struct curl_slist *hdrs = NULL;
  uint8_t *body = NULL;
  size_t len;
  long status = 0;
  CURLcode cc;
  int rc;

  *resp = NULL;
  if (err != NULL)
    memset(err, 0, sizeof(*err));
  len = protobuf_c_message_get_packed_size(req);
  body = malloc(len ? len : 1);
  if (body == NULL) {
    seterr(err, 0, 0, "out of memory");
    return SBX_ENOMEM;
  }
  protobuf_c_message_pack(req, body);
  rc = prepare(c, method, body, len, "application/proto", &hdrs, err);
  if (rc != 0)
    goto out;
  curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_unary_data);
  curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &x);
  curl_easy_setopt(c->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c->easy, CURLOPT_LOW_SPEED_TIME, UNARY_STALL_S);
  cc = curl_easy_perform(c->easy);
  curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
  if (x.overflow) {
    seterr(err, 0, 0, "the answer to %s is larger than %zu bytes", method,
           x.max);
    rc = SBX_EPROTO;
    goto out;
  }
  if (x.stop_rc != 0) {
    seterr(err, 0, 0, "out of memory");
    rc = x.stop_rc;
    goto out;
  }
  if (cc != CURLE_OK) {
    rc = transfer_failed(c, cc, status, err);
    goto out;
  }
  if (status != 200) {
    rc = refused(&x, status, err);
    goto out;
  }
  if (!content_type_is(c->easy, "application/proto")) {
    seterr(err, 0, 0,
           "the answer is not a Connect answer (HTTP 200, Content-Type %s); "
           "is %s a sandboxd?",
           content_type(c->easy), c->server);
    clean(err);
    rc = SBX_EPROTO;
    goto out;
  }
  *resp = protobuf_c_message_unpack(resp_desc, NULL, x.len,
                                    x.buf ? x.buf : (const uint8_t *)"");
  if (*resp == NULL) {
    seterr(err, 0, 0, "the answer (%zu bytes) is not a valid %s message", x.len,
           resp_desc->name);
    rc = SBX_EPROTO;
    goto out;
  }
  rc = 0;
out:
  curl_slist_free_all(hdrs);
  free(body);
  free(x.buf);
  return rc;
}

int sbx_api_watch(struct sbx_api_client *c, uint64_t run_id,
                  int (*on_event)(const Sbx__V1__RunEvent *ev, void *arg),
                  void *arg, struct sbx_api_error *err) {
  Sbx__V1__WatchRunRequest req = SBX__V1__WATCH_RUN_REQUEST__INIT;
  struct xfer x = {.c = c,
                   .max = MAX_ERROR_BODY,
                   .stream = 1,
                   .on_event = on_event,
                   .arg = arg};
  struct curl_slist *hdrs = NULL;
  uint8_t *body = NULL;
  size_t len;
  long status = 0;
  CURLcode cc;
  int rc;

  if (err != NULL)
    memset(err, 0, sizeof(*err));
  sbx_connect_reader_init(&x.reader, MAX_STREAM_MSG);
  req.run_id = run_id;
  len = sbx__v1__watch_run_request__get_packed_size(&req);
  body = malloc(5 + len);
  if (body == NULL) {
    seterr(err, 0, 0, "out of memory");
    rc = SBX_ENOMEM;
    goto out;
  }
  sbx_connect_envelope_header(body, 0, (uint32_t)len);
  sbx__v1__watch_run_request__pack(&req, body + 5);
  rc = prepare(c, "WatchRun", body, 5 + len, "application/connect+proto", &hdrs,
               err);
  if (rc != 0)
    goto out;
  curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_stream_data);
  curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &x);
  cc = curl_easy_perform(c->easy);
  curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
  if (x.user_stopped) {
    rc = x.stop_rc;
    goto out;
  }
  if (x.overflow) {
    seterr(err, 0, 0, "the error answer to WatchRun is longer than %zu bytes",
           x.max);
    rc = SBX_EPROTO;
    goto out;
  }
  if (x.stop_rc != 0) {
    seterr(err, 0, 0, "WatchRun: %s", x.proto_msg);
    rc = x.stop_rc == SBX_ENOMEM ? SBX_ENOMEM : SBX_EPROTO;
    goto out;
  }
  if (cc != CURLE_OK && !(status == 200 && x.ended)) {
    rc = transfer_failed(c, cc, status, err);
    goto out;
  }
  if (status != 200) {
    rc = refused(&x, status, err);
    goto out;
  }
  if (!content_type_is(c->easy, "application/connect+proto")) {
    seterr(err, 0, 0,
           "the answer is not a Connect stream (Content-Type %s); is %s a "
           "sandboxd?",
           content_type(c->easy), c->server);
    clean(err);
    rc = SBX_EPROTO;
    goto out;
  }
  if (!x.ended || sbx_connect_reader_finish(&x.reader) != 0) {
    seterr(err, 0, 0,
           x.ended ? "WatchRun: bytes after the end of the stream"
           : sbx_connect_reader_finish(&x.reader) != 0
               ? "WatchRun: the stream broke off in the middle of a message"
               : "WatchRun: the stream ended without its end message");
    rc = SBX_EPROTO;
    goto out;
  }
  if (x.end_code != 0) {
    seterr(err, x.end_code, 0, "%s", x.end_msg);
    clean(err);
    rc = sbx_api_err_from_code(x.end_code);
    goto out;
  }
  rc = 0;
out:
  curl_slist_free_all(hdrs);
  sbx_connect_reader_free(&x.reader);
  free(body);
  free(x.buf);
  return rc;
}
