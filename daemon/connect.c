/* connect.c - the Connect protocol over httpd. See connect.h.
 *
 * A call owns its decoded request and, until the call ends or is
 * cancelled, the httpd request it answers. Every way out (reply, fail,
 * stream end, cancel) goes through end_call(), which reports to on_end and
 * frees the call: after that nothing here touches it again.
 *
 * Errors of a streaming call are sent the Connect way, as status 200 and an
 * end-of-stream envelope carrying the error, except those found before the
 * codec is known (405, 415), which only HTTP can carry.
 */
#include "connect.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "httpd.h"
#include "pbjson.h"

#define DEFAULT_MAX_REQUEST (64u * 1024 * 1024)
#define STREAM_QUEUE_LIMIT (8u * 1024 * 1024)
#define MSG_MAX 1024

/* ---- codes ---- */

const char *sbx_connect_code_name(int code) {
  switch (code) {
  case SBX_CONNECT_OK:
    return "ok";
#define XX(name, num, text, http)                                              \
  case SBX_CONNECT_##name:                                                     \
    return text;
    SBX_CONNECT_CODE_MAP(XX)
#undef XX
  }
  return "unknown";
}

int sbx_connect_code_from_name(const char *name) {
  if (name == NULL)
    return SBX_CONNECT_UNKNOWN;
  if (strcmp(name, "ok") == 0)
    return SBX_CONNECT_OK;
#define XX(cname, num, text, http)                                             \
  if (strcmp(name, text) == 0)                                                 \
    return SBX_CONNECT_##cname;
  SBX_CONNECT_CODE_MAP(XX)
#undef XX
  return SBX_CONNECT_UNKNOWN;
}

unsigned sbx_connect_http_status(int code) {
  switch (code) {
  case SBX_CONNECT_OK:
    return 200;
#define XX(name, num, text, http)                                              \
  case SBX_CONNECT_##name:                                                     \
    return http;
    SBX_CONNECT_CODE_MAP(XX)
#undef XX
  }
  return 500;
}

int sbx_connect_code_from_err(int err) {
  switch (err) {
  case SBX_OK:
    return SBX_CONNECT_OK;
  case SBX_ENOENT:
    return SBX_CONNECT_NOT_FOUND;
  case SBX_EINVAL:
  case SBX_ESPEC:
  case SBX_EDATASET:
    return SBX_CONNECT_INVALID_ARGUMENT;
  case SBX_EEXIST:
    return SBX_CONNECT_ALREADY_EXISTS;
  case SBX_EAUTH:
    return SBX_CONNECT_UNAUTHENTICATED;
  case SBX_EPERM:
    return SBX_CONNECT_PERMISSION_DENIED;
  case SBX_ESTATE:
    return SBX_CONNECT_FAILED_PRECONDITION;
  case SBX_EBUSY:
    return SBX_CONNECT_RESOURCE_EXHAUSTED;
  case SBX_ECANCELED:
    return SBX_CONNECT_CANCELED;
  default:
    return SBX_CONNECT_INTERNAL;
  }
}

/* ---- envelopes ---- */

void sbx_connect_envelope_header(uint8_t hdr[5], uint8_t flags, uint32_t len) {
  hdr[0] = flags;
  hdr[1] = (uint8_t)(len >> 24);
  hdr[2] = (uint8_t)(len >> 16);
  hdr[3] = (uint8_t)(len >> 8);
  hdr[4] = (uint8_t)len;
}

void sbx_connect_reader_init(struct sbx_connect_reader *r, size_t max_msg) {
  *r = (struct sbx_connect_reader){.max_msg = max_msg};
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}

/* Checks an envelope's prefix; the reader fails on a bad one before the
 * message itself has arrived. */
static int check_prefix(struct sbx_connect_reader *r, const uint8_t *hdr) {
  if ((hdr[0] & SBX_CONNECT_FLAG_COMPRESSED) || be32(hdr + 1) > r->max_msg) {
    r->failed = 1;
    return SBX_EPROTO;
  }
  return 0;
}

/* Appends data to the partial envelope. The buffer grows with what
 * arrives, not with what the prefix announces, so a hostile prefix costs
 * nothing until the bytes come. */
static int reader_append(struct sbx_connect_reader *r, const uint8_t *data,
                         size_t len) {
  if (r->len + len > r->cap) {
    size_t cap = r->cap ? r->cap : 256;
    uint8_t *b;
    while (cap < r->len + len)
      cap *= 2;
    b = realloc(r->buf, cap);
    if (b == NULL) {
      r->failed = 1;
      return SBX_ENOMEM;
    }
    r->buf = b;
    r->cap = cap;
  }
  memcpy(r->buf + r->len, data, len);
  r->len += len;
  return 0;
}

int sbx_connect_reader_feed(struct sbx_connect_reader *r, const uint8_t *data,
                            size_t len,
                            int (*on_msg)(uint8_t flags, const uint8_t *msg,
                                          size_t msg_len, void *arg),
                            void *arg) {
  int rc;
  if (r->failed)
    return SBX_EPROTO;
  while (len > 0) {
    size_t total, take;
    if (r->len == 0) {
      /* Whole envelopes straight from data, without a copy. */
      while (len >= 5) {
        size_t mlen;
        if ((rc = check_prefix(r, data)) != 0)
          return rc;
        mlen = be32(data + 1);
        if (len - 5 < mlen)
          break;
        rc = on_msg(data[0], data + 5, mlen, arg);
        data += 5 + mlen;
        len -= 5 + mlen;
        if (rc != 0) {
          r->failed = 1;
          return rc;
        }
      }
      return len > 0 ? reader_append(r, data, len) : 0;
    }
    if (r->len < 5) {
      take = 5 - r->len < len ? 5 - r->len : len;
      if ((rc = reader_append(r, data, take)) != 0)
        return rc;
      data += take;
      len -= take;
      if (r->len < 5)
        return 0;
      if ((rc = check_prefix(r, r->buf)) != 0)
        return rc;
    }
    total = 5 + (size_t)be32(r->buf + 1);
    take = total - r->len < len ? total - r->len : len;
    if (take > 0 && (rc = reader_append(r, data, take)) != 0)
      return rc;
    data += take;
    len -= take;
    if (r->len < total)
      return 0;
    r->len = 0;
    rc = on_msg(r->buf[0], r->buf + 5, total - 5, arg);
    if (rc != 0) {
      r->failed = 1;
      return rc;
    }
  }
  return 0;
}

int sbx_connect_reader_finish(const struct sbx_connect_reader *r) {
  return r->failed || r->len > 0 ? SBX_EPROTO : 0;
}

void sbx_connect_reader_free(struct sbx_connect_reader *r) {
  free(r->buf);
  r->buf = NULL;
  r->len = r->cap = 0;
}

/* ---- end-of-stream and error bodies ---- */

/* Copies s into msg (msg_len bytes, NUL-terminated), control characters
 * made spaces: these texts come from the other side and end up on a
 * terminal. */
static void copy_text(char *msg, size_t msg_len, const char *s, size_t n) {
  size_t i, o = 0;
  if (msg == NULL || msg_len == 0)
    return;
  for (i = 0; i < n && o + 1 < msg_len; i++) {
    unsigned char ch = (unsigned char)s[i];
    msg[o++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
  }
  msg[o] = '\0';
}

/* Reads {"code": "...", "message": "..."}; 0 or SBX_EPROTO. A code of
 * "ok" in an error is no success: it becomes unknown. */
static int read_error_object(json_t *e, int *code, char *msg, size_t msg_len) {
  json_t *c = json_object_get(e, "code"), *m = json_object_get(e, "message");
  if (!json_is_object(e) || !json_is_string(c))
    return SBX_EPROTO;
  if (m != NULL && !json_is_string(m) && !json_is_null(m))
    return SBX_EPROTO;
  *code = sbx_connect_code_from_name(json_string_value(c));
  if (*code == SBX_CONNECT_OK)
    *code = SBX_CONNECT_UNKNOWN;
  if (json_is_string(m))
    copy_text(msg, msg_len, json_string_value(m), json_string_length(m));
  return 0;
}

int sbx_connect_parse_end(const uint8_t *json, size_t len, int *code, char *msg,
                          size_t msg_len) {
  json_t *root, *e;
  int rc = SBX_EPROTO;
  *code = SBX_CONNECT_OK;
  copy_text(msg, msg_len, "", 0);
  root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, NULL);
  if (!json_is_object(root))
    goto out;
  e = json_object_get(root, "error");
  if (e == NULL || json_is_null(e)) {
    rc = 0;
    goto out;
  }
  rc = read_error_object(e, code, msg, msg_len);
out:
  if (rc != 0) {
    *code = SBX_CONNECT_UNKNOWN;
    copy_text(msg, msg_len, "malformed end-of-stream message", 31);
  }
  json_decref(root);
  return rc;
}

/* The Connect code for an HTTP status without a Connect error body. */
static int code_from_http(unsigned status) {
  switch (status) {
  case 400:
    return SBX_CONNECT_INTERNAL;
  case 401:
    return SBX_CONNECT_UNAUTHENTICATED;
  case 403:
    return SBX_CONNECT_PERMISSION_DENIED;
  case 404:
    return SBX_CONNECT_UNIMPLEMENTED;
  case 429:
  case 502:
  case 503:
  case 504:
    return SBX_CONNECT_UNAVAILABLE;
  default:
    return SBX_CONNECT_UNKNOWN;
  }
}

void sbx_connect_parse_error(unsigned http_status, const uint8_t *body,
                             size_t len, int *code, char *msg, size_t msg_len) {
  json_t *root =
      json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL);
  copy_text(msg, msg_len, "", 0);
  if (root != NULL && read_error_object(root, code, msg, msg_len) == 0) {
    json_decref(root);
    return;
  }
  json_decref(root);
  *code = code_from_http(http_status);
  if (len > 0) {
    copy_text(msg, msg_len, (const char *)body, len > 200 ? 200 : len);
  } else if (msg != NULL && msg_len > 0) {
    snprintf(msg, msg_len, "HTTP status %u", http_status);
  }
}

/* ---- the server side ---- */

struct sbx_connect_call {
  const struct sbx_connect_service *svc;
  const struct sbx_connect_method *m;
  struct sbx_httpd_req *r; /* NULL once the request is gone */
  ProtobufCMessage *req;
  int json;
  int stream;
  int started; /* stream: the 200 and the headers are out */
  uint64_t t0_ns;
  char peer[64];
  void *data;
  void (*cancel_cb)(struct sbx_connect_call *c, void *arg);
  void *cancel_arg;
};

static double seconds_since(uint64_t t0_ns) {
  uint64_t now = uv_hrtime();
  return now > t0_ns ? (double)(now - t0_ns) / 1e9 : 0.0;
}

static void report(const struct sbx_connect_service *svc, const char *method,
                   int code, unsigned status, uint64_t t0_ns) {
  if (svc->on_end != NULL)
    svc->on_end(method, code, status, seconds_since(t0_ns), svc->arg);
}

static void end_call(struct sbx_connect_call *c, int code, unsigned status) {
  report(c->svc, c->m->name, code, status, c->t0_ns);
  if (c->req != NULL)
    protobuf_c_message_free_unpacked(c->req, NULL);
  free(c);
}

/* A JSON string for text, which may hold anything: invalid UTF-8 turns the
 * offending bytes into '?', so the document stays valid. */
static json_t *safe_string(const char *text) {
  json_t *s = json_string(text);
  char *copy;
  size_t i;
  if (s != NULL)
    return s;
  copy = strdup(text);
  if (copy == NULL)
    return NULL;
  for (i = 0; copy[i]; i++)
    if ((unsigned char)copy[i] >= 0x80)
      copy[i] = '?';
  s = json_string(copy);
  free(copy);
  return s;
}

/* {"code":..,"message":..} as a new string (free()), or NULL. */
static char *error_json(int code, const char *message, int wrap) {
  json_t *e = json_object(), *root = NULL;
  char *out = NULL;
  if (e == NULL)
    return NULL;
  if (json_object_set_new(e, "code",
                          json_string(sbx_connect_code_name(code))) ||
      json_object_set_new(e, "message", safe_string(message)))
    goto out;
  if (wrap) {
    root = json_object();
    if (root == NULL || json_object_set(root, "error", e))
      goto out;
  }
  out = json_dumps(wrap ? root : e, JSON_COMPACT);
out:
  json_decref(e);
  json_decref(root);
  return out;
}

/* Answers r with a unary Connect error; returns the HTTP status used. */
static unsigned respond_error(struct sbx_httpd_req *r, unsigned status,
                              int code, const char *message,
                              const char *const *headers) {
  char *body = error_json(code, message, 0);
  static const char fallback[] =
      "{\"code\":\"internal\",\"message\":\"out of memory\"}";
  if (status == 0)
    status = sbx_connect_http_status(code);
  if (body != NULL) {
    sbx_httpd_respond_hdrs(r, status, "application/json", headers, body,
                           strlen(body));
    free(body);
  } else {
    sbx_httpd_respond_hdrs(r, status, "application/json", headers, fallback,
                           sizeof(fallback) - 1);
  }
  return status;
}

static const char *stream_ctype(const struct sbx_connect_call *c) {
  return c->json ? "application/connect+json" : "application/connect+proto";
}

static int stream_start(struct sbx_connect_call *c) {
  int rc;
  if (c->started)
    return 0;
  rc = sbx_httpd_stream_begin(c->r, 200, stream_ctype(c), NULL,
                              STREAM_QUEUE_LIMIT);
  if (rc == 0)
    c->started = 1;
  return rc;
}

/* Ends a stream with the end-of-stream envelope for code and message, and
 * frees the call. */
static void stream_finish(struct sbx_connect_call *c, int code,
                          const char *message) {
  char *json = code != 0 ? error_json(code, message, 1) : NULL;
  const char *doc = code != 0 ? json : "{}";
  uint8_t *env = NULL;
  size_t n;
  if (doc == NULL)
    doc = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
  n = strlen(doc);
  if (stream_start(c) == 0) {
    env = malloc(5 + n);
    if (env != NULL) {
      sbx_connect_envelope_header(env, SBX_CONNECT_FLAG_END, (uint32_t)n);
      memcpy(env + 5, doc, n);
    }
    /* Without memory for the envelope the stream is cut off: the client
     * sees no end message and knows the call failed. */
    sbx_httpd_stream_end(c->r, env, env != NULL ? 5 + n : 0);
    if (env == NULL)
      code = SBX_CONNECT_INTERNAL;
  } else {
    code = SBX_CONNECT_INTERNAL;
    respond_error(c->r, 0, code, "cannot start the response stream", NULL);
  }
  free(env);
  free(json);
  end_call(c, code, c->started ? 200 : sbx_connect_http_status(code));
}

static void on_http_close(struct sbx_httpd_req *r, int reason, void *arg) {
  struct sbx_connect_call *c = arg;
  if (reason == SBX_HTTPD_CLIENT_GONE)
    c->r = NULL;
  if (c->cancel_cb != NULL)
    c->cancel_cb(c, c->cancel_arg);
  if (reason == SBX_HTTPD_CLIENT_GONE) {
    end_call(c, SBX_CONNECT_CANCELED, 499);
  } else if (c->stream) {
    stream_finish(c, SBX_CONNECT_UNAVAILABLE, "the server is shutting down");
  } else {
    unsigned st = respond_error(r, 0, SBX_CONNECT_UNAVAILABLE,
                                "the server is shutting down", NULL);
    end_call(c, SBX_CONNECT_UNAVAILABLE, st);
  }
}

static void vformat(char *buf, size_t len, const char *fmt, va_list ap) {
  if (fmt == NULL) {
    buf[0] = '\0';
    return;
  }
  vsnprintf(buf, len, fmt, ap);
}

void sbx_connect_fail(struct sbx_connect_call *c, int code, const char *fmt,
                      ...) {
  char msg[MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vformat(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (code == SBX_CONNECT_OK)
    code = SBX_CONNECT_UNKNOWN;
  if (c->stream) {
    stream_finish(c, code, msg);
    return;
  }
  end_call(c, code, respond_error(c->r, 0, code, msg, NULL));
}

void *sbx_connect_encode(const struct sbx_connect_call *c,
                         const ProtobufCMessage *resp, size_t *len) {
  uint8_t *buf;
  char *json;
  if (resp == NULL || resp->descriptor != c->m->output)
    return NULL;
  if (c->json) {
    if ((json = sbx_pbjson_dumps(resp, 0, 0)) != NULL)
      *len = strlen(json);
    return json;
  }
  *len = protobuf_c_message_get_packed_size(resp);
  if ((buf = malloc(*len ? *len : 1)) != NULL)
    protobuf_c_message_pack(resp, buf);
  return buf;
}

void sbx_connect_reply_encoded(struct sbx_connect_call *c, const void *body,
                               size_t len) {
  if (c->stream) {
    sbx_connect_fail(c, SBX_CONNECT_INTERNAL,
                     "%s is a streaming method: answered with a unary reply",
                     c->m->name);
    return;
  }
  sbx_httpd_respond(c->r, 200, c->json ? "application/json" : "application/proto",
                    body, len);
  end_call(c, SBX_CONNECT_OK, 200);
}

void sbx_connect_reply(struct sbx_connect_call *c,
                       const ProtobufCMessage *resp) {
  void *body;
  size_t n = 0;
  if (resp == NULL || resp->descriptor != c->m->output) {
    sbx_connect_fail(c, SBX_CONNECT_INTERNAL,
                     "%s: the reply is not a %s message", c->m->name,
                     c->m->output->short_name);
    return;
  }
  if ((body = sbx_connect_encode(c, resp, &n)) == NULL) {
    sbx_connect_fail(c, SBX_CONNECT_INTERNAL, "%s: cannot encode the reply",
                     c->m->name);
    return;
  }
  sbx_connect_reply_encoded(c, body, n);
  free(body);
}

int sbx_connect_stream_send(struct sbx_connect_call *c,
                            const ProtobufCMessage *msg) {
  uint8_t *env;
  char *json = NULL;
  size_t n;
  int rc;
  if (c->r == NULL)
    return SBX_ECANCELED;
  if (!c->stream || msg == NULL || msg->descriptor != c->m->output)
    return SBX_EINVAL;
  if (c->json) {
    json = sbx_pbjson_dumps(msg, 0, 0);
    if (json == NULL)
      return SBX_ENOMEM;
    n = strlen(json);
  } else {
    n = protobuf_c_message_get_packed_size(msg);
  }
  if (n > UINT32_MAX) {
    free(json);
    return SBX_EINVAL;
  }
  env = malloc(5 + n);
  if (env == NULL) {
    free(json);
    return SBX_ENOMEM;
  }
  sbx_connect_envelope_header(env, 0, (uint32_t)n);
  if (json != NULL)
    memcpy(env + 5, json, n);
  else
    protobuf_c_message_pack(msg, env + 5);
  free(json);
  rc = stream_start(c);
  if (rc == 0)
    rc = sbx_httpd_stream_write(c->r, env, 5 + n);
  free(env);
  return rc;
}

void sbx_connect_stream_end(struct sbx_connect_call *c, int code,
                            const char *fmt, ...) {
  char msg[MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vformat(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (!c->stream) {
    /* a unary call ended as if it were a stream: the nearest meaning */
    if (code == SBX_CONNECT_OK)
      code = SBX_CONNECT_INTERNAL;
    end_call(c, code, respond_error(c->r, 0, code, msg, NULL));
    return;
  }
  stream_finish(c, code, msg);
}

void sbx_connect_on_cancel(struct sbx_connect_call *c,
                           void (*cb)(struct sbx_connect_call *c, void *arg),
                           void *arg) {
  c->cancel_cb = cb;
  c->cancel_arg = arg;
}

const char *sbx_connect_header(struct sbx_connect_call *c, const char *name) {
  return c->r != NULL ? sbx_httpd_header(c->r, name) : NULL;
}

const char *sbx_connect_method_name(const struct sbx_connect_call *c) {
  return c->m->name;
}

const char *sbx_connect_peer(const struct sbx_connect_call *c) {
  return c->peer;
}

int sbx_connect_is_json(const struct sbx_connect_call *c) {
  return c->json;
}

void sbx_connect_set_data(struct sbx_connect_call *c, void *data) {
  c->data = data;
}

void *sbx_connect_get_data(const struct sbx_connect_call *c) {
  return c->data;
}

/* ---- dispatch ---- */

/* Lower-cased media type of a Content-Type value, without parameters and
 * surrounding blanks, into out. */
static void media_type(const char *ct, char *out, size_t len) {
  size_t o = 0;
  if (ct == NULL) {
    out[0] = '\0';
    return;
  }
  while (*ct == ' ' || *ct == '\t')
    ct++;
  for (; *ct && *ct != ';' && o + 1 < len; ct++) {
    char ch = *ct;
    out[o++] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
  }
  while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
    o--;
  out[o] = '\0';
}

/* What went wrong before a call exists. */
struct early {
  unsigned status; /* 0: from the code */
  int code;
  char msg[MSG_MAX];
  const char *const *headers;
};

static void early_fail(struct early *e, unsigned status, int code,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void early_fail(struct early *e, unsigned status, int code,
                       const char *fmt, ...) {
  va_list ap;
  e->status = status;
  e->code = code;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
  va_end(ap);
}

struct one_msg {
  const uint8_t *msg;
  size_t len;
  int count;
  int bad_flags;
};

static int take_one(uint8_t flags, const uint8_t *msg, size_t len, void *arg) {
  struct one_msg *o = arg;
  if (flags != 0)
    o->bad_flags = 1;
  o->count++;
  o->msg = msg;
  o->len = len;
  return o->count > 1 || flags != 0;
}

/* Decodes body with the call's codec into c->req; 0 or an early error. */
static int decode(struct sbx_connect_call *c, const uint8_t *body, size_t len,
                  struct early *e) {
  const ProtobufCMessageDescriptor *in = c->m->input;
  if (c->json) {
    struct sbx_diag diag = {{0}};
    int rc;
    if (len == 0) {
      body = (const uint8_t *)"{}";
      len = 2;
    }
    rc = sbx_pbjson_decode(in, (const char *)body, len, &c->req, &diag);
    if (rc == SBX_EINVAL) {
      early_fail(e, 0, SBX_CONNECT_INVALID_ARGUMENT, "%s", diag.msg);
      return -1;
    }
    if (rc != 0) {
      early_fail(e, 0, SBX_CONNECT_RESOURCE_EXHAUSTED,
                 "out of memory decoding the %s message", in->short_name);
      return -1;
    }
    return 0;
  }
  c->req = protobuf_c_message_unpack(in, NULL, len,
                                     len ? body : (const uint8_t *)"");
  if (c->req == NULL) {
    early_fail(e, 0, SBX_CONNECT_INVALID_ARGUMENT,
               "request body is not a valid %s message", in->short_name);
    return -1;
  }
  return 0;
}

/* The GET form: ?encoding=json|proto&message=...[&base64=1][&connect=v1].
 * Sets c->json and decodes c->req. */
static int decode_get(struct sbx_connect_call *c, struct sbx_httpd_req *r,
                      struct early *e) {
  const char *enc = sbx_httpd_query(r, "encoding");
  const char *b64 = sbx_httpd_query(r, "base64");
  const char *ver = sbx_httpd_query(r, "connect");
  const char *comp = sbx_httpd_query(r, "compression");
  const char *msg;
  size_t len;
  uint8_t *bin = NULL;
  int rc;

  if (enc == NULL || (strcmp(enc, "json") != 0 && strcmp(enc, "proto") != 0)) {
    early_fail(e, 415, SBX_CONNECT_UNIMPLEMENTED,
               "GET %s: encoding=%s is not supported; use encoding=json or "
               "encoding=proto",
               c->m->name, enc ? enc : "(missing)");
    return -1;
  }
  if (ver != NULL && strcmp(ver, "v1") != 0) {
    early_fail(e, 400, SBX_CONNECT_INVALID_ARGUMENT,
               "connect=%s is not supported; use connect=v1", ver);
    return -1;
  }
  if (comp != NULL && strcmp(comp, "identity") != 0) {
    early_fail(e, 0, SBX_CONNECT_UNIMPLEMENTED,
               "compression=%s is not supported; send the message "
               "uncompressed",
               comp);
    return -1;
  }
  c->json = strcmp(enc, "json") == 0;
  msg = sbx_httpd_query_n(r, "message", &len);
  if (msg == NULL)
    len = 0;
  if (b64 != NULL && strcmp(b64, "1") == 0 && len > 0) {
    char *fixed = malloc(len + 1);
    size_t i, bin_len = 0;
    if (fixed == NULL) {
      early_fail(e, 0, SBX_CONNECT_RESOURCE_EXHAUSTED, "out of memory");
      return -1;
    }
    /* A '+' of standard base64 arrives as a space (form decoding). */
    for (i = 0; i < len; i++)
      fixed[i] = msg[i] == ' ' ? '+' : msg[i];
    fixed[len] = '\0';
    bin = malloc(len);
    rc = -1;
    if (bin != NULL &&
        (sodium_base642bin(bin, len, fixed, len, "=", &bin_len, NULL,
                           sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 ||
         sodium_base642bin(bin, len, fixed, len, "=", &bin_len, NULL,
                           sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0))
      rc = 0;
    free(fixed);
    if (rc != 0) {
      free(bin);
      early_fail(e, 0, SBX_CONNECT_INVALID_ARGUMENT,
                 "GET %s: message is not valid base64", c->m->name);
      return -1;
    }
    rc = decode(c, bin, bin_len, e);
    free(bin);
    return rc;
  }
  return decode(c, (const uint8_t *)(msg ? msg : ""), len, e);
}

/* A POST: the codec from Content-Type, the body decoded (streams: from its
 * one envelope). */
static int decode_post(struct sbx_connect_call *c, struct sbx_httpd_req *r,
                       struct early *e) {
  static const char *const accept_unary[] = {
      "Accept-Post", "application/json, application/proto", NULL};
  static const char *const accept_stream[] = {
      "Accept-Post", "application/connect+json, application/connect+proto",
      NULL};
  char mt[96];
  const char *enc;
  const uint8_t *body;
  size_t len, max;

  media_type(sbx_httpd_header(r, "Content-Type"), mt, sizeof(mt));
  if (c->stream && strcmp(mt, "application/connect+json") == 0)
    c->json = 1;
  else if (c->stream && strcmp(mt, "application/connect+proto") == 0)
    c->json = 0;
  else if (!c->stream && strcmp(mt, "application/json") == 0)
    c->json = 1;
  else if (!c->stream && strcmp(mt, "application/proto") == 0)
    c->json = 0;
  else {
    early_fail(e, 415, SBX_CONNECT_UNIMPLEMENTED,
               "%s: content type \"%s\" is not supported; use %s", c->m->name,
               mt[0] ? mt : "(none)",
               c->stream ? "application/connect+json or "
                           "application/connect+proto"
                         : "application/json or application/proto");
    e->headers = c->stream ? accept_stream : accept_unary;
    return -1;
  }
  enc = sbx_httpd_header(r, c->stream ? "Connect-Content-Encoding"
                                      : "Content-Encoding");
  if (enc != NULL && strcasecmp(enc, "identity") != 0) {
    early_fail(e, 0, SBX_CONNECT_UNIMPLEMENTED,
               "%s: content encoding \"%s\" is not supported; send the "
               "request uncompressed",
               c->m->name, enc);
    return -1;
  }
  body = sbx_httpd_body(r, &len);
  max = c->svc->max_request_bytes ? c->svc->max_request_bytes
                                  : DEFAULT_MAX_REQUEST;
  if (len > max + (c->stream ? 5 : 0)) {
    early_fail(e, 0, SBX_CONNECT_RESOURCE_EXHAUSTED,
               "%s: request of %zu bytes is over the limit of %zu bytes",
               c->m->name, len, max);
    return -1;
  }
  if (c->stream) {
    struct sbx_connect_reader rd;
    struct one_msg one = {0};
    int rc;
    sbx_connect_reader_init(&rd, max);
    rc = sbx_connect_reader_feed(&rd, body ? body : (const uint8_t *)"", len,
                                 take_one, &one);
    if (rc == 0)
      rc = sbx_connect_reader_finish(&rd);
    sbx_connect_reader_free(&rd);
    if (rc != 0 || one.count != 1 || one.bad_flags) {
      early_fail(e, 0, SBX_CONNECT_INVALID_ARGUMENT,
                 "%s: the request body must be exactly one uncompressed "
                 "Connect envelope holding a %s message",
                 c->m->name, c->m->input->short_name);
      return -1;
    }
    /* one.msg points into body, which lives as long as r */
    return decode(c, one.msg, one.len, e);
  }
  return decode(c, body, len, e);
}

int sbx_connect_dispatch(const struct sbx_connect_service *svc,
                         struct sbx_httpd_req *r) {
  static const char *const allow_post[] = {"Allow", "POST", NULL};
  static const char *const allow_both[] = {"Allow", "GET, POST", NULL};
  const char *path = sbx_httpd_path(r), *method = sbx_httpd_method(r);
  const char *name, *ver;
  size_t nlen = strlen(svc->name), i;
  struct sbx_connect_call *c = NULL;
  struct early e = {0};
  int is_get;

  if (path[0] != '/' || strncmp(path + 1, svc->name, nlen) != 0 ||
      path[1 + nlen] != '/')
    return 0;
  name = path + 2 + nlen;

  c = calloc(1, sizeof(*c));
  if (c == NULL) {
    unsigned st = respond_error(r, 0, SBX_CONNECT_RESOURCE_EXHAUSTED,
                                "out of memory", NULL);
    report(svc, "unknown", SBX_CONNECT_RESOURCE_EXHAUSTED, st,
           sbx_httpd_arrival_ns(r));
    return 1;
  }
  c->svc = svc;
  c->r = r;
  c->t0_ns = sbx_httpd_arrival_ns(r);
  snprintf(c->peer, sizeof(c->peer), "%s", sbx_httpd_peer(r));
  for (i = 0; i < svc->n_methods; i++) {
    if (strcmp(svc->methods[i].name, name) == 0) {
      c->m = &svc->methods[i];
      break;
    }
  }
  if (c->m == NULL) {
    early_fail(&e, 0, SBX_CONNECT_UNIMPLEMENTED, "%s has no method \"%.100s\"",
               svc->name, name);
    goto early;
  }
  c->stream = (c->m->flags & SBX_CONNECT_STREAM) != 0;
  is_get = strcmp(method, "GET") == 0;
  if (is_get && (c->stream || !(c->m->flags & SBX_CONNECT_READ))) {
    early_fail(&e, 405, SBX_CONNECT_UNIMPLEMENTED,
               c->stream ? "%s is a streaming method and takes POST only"
                         : "%s changes state and takes POST only",
               c->m->name);
    e.headers = allow_post;
    goto early;
  }
  if (!is_get && strcmp(method, "POST") != 0) {
    int get_too = (c->m->flags & SBX_CONNECT_READ) && !c->stream;
    early_fail(&e, 405, SBX_CONNECT_UNIMPLEMENTED, "%s takes %s, not %s",
               c->m->name, get_too ? "GET or POST" : "POST", method);
    e.headers = get_too ? allow_both : allow_post;
    goto early;
  }
  ver = sbx_httpd_header(r, "Connect-Protocol-Version");
  if (ver != NULL && strcmp(ver, "1") != 0) {
    early_fail(&e, 400, SBX_CONNECT_INVALID_ARGUMENT,
               "Connect-Protocol-Version %s is not supported; send 1", ver);
    goto early;
  }
  if ((is_get ? decode_get(c, r, &e) : decode_post(c, r, &e)) != 0)
    goto early;

  sbx_httpd_on_close(r, on_http_close, c);
  /* From here the handler owns the call; it may be freed by the time the
   * handler returns. */
  c->m->handler(c, c->req, svc->arg);
  return 1;

early:
  if (c->stream && e.status == 0) {
    /* the codec is known: a stream's error goes in its end message */
    stream_finish(c, e.code, e.msg);
    return 1;
  }
  {
    unsigned st = respond_error(r, e.status, e.code, e.msg, e.headers);
    report(svc, c->m != NULL ? c->m->name : "unknown", e.code, st, c->t0_ns);
    if (c->req != NULL)
      protobuf_c_message_free_unpacked(c->req, NULL);
    free(c);
  }
  return 1;
}
