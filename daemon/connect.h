/* connect.h - the Connect protocol (https://connectrpc.com/docs/protocol)
 * over the daemon's HTTP server, for one protobuf-c service.
 *
 * Unary calls: POST /<package.Service>/<Method> with a bare body,
 * Content-Type application/proto or application/json (proto3 JSON mapping,
 * pbjson.h); the reply uses the request's codec. Methods flagged
 * SBX_CONNECT_READ also take the GET form
 * (?encoding=proto|json&message=<url-encoded, or base64 with base64=1>).
 * Errors: a non-200 status and the JSON body {"code","message"}.
 *
 * Server-streaming calls: POST with application/connect+proto or
 * application/connect+json; the body is one envelope
 * (flags:u8 | length:u32 big-endian | message). The answer is status 200 and
 * a series of envelopes, the last with flag SBX_CONNECT_FLAG_END carrying
 * the JSON end-of-stream message {"error":{"code","message"}} (or {}).
 *
 * The envelope reader is shared with the client side (sbx), which reads the
 * streams the daemon writes; it treats its input as hostile.
 *
 * Threads: everything here runs on the loop thread of the httpd.
 */
#ifndef SBX_CONNECT_H
#define SBX_CONNECT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "err.h"

struct sbx_httpd_req;

/* The Connect error codes (the gRPC codes), 0 meaning success. */
#define SBX_CONNECT_CODE_MAP(XX)                                              \
  XX(CANCELED, 1, "canceled", 499)                                            \
  XX(UNKNOWN, 2, "unknown", 500)                                              \
  XX(INVALID_ARGUMENT, 3, "invalid_argument", 400)                            \
  XX(DEADLINE_EXCEEDED, 4, "deadline_exceeded", 504)                          \
  XX(NOT_FOUND, 5, "not_found", 404)                                          \
  XX(ALREADY_EXISTS, 6, "already_exists", 409)                                \
  XX(PERMISSION_DENIED, 7, "permission_denied", 403)                          \
  XX(RESOURCE_EXHAUSTED, 8, "resource_exhausted", 429)                        \
  XX(FAILED_PRECONDITION, 9, "failed_precondition", 400)                      \
  XX(ABORTED, 10, "aborted", 409)                                             \
  XX(OUT_OF_RANGE, 11, "out_of_range", 400)                                   \
  XX(UNIMPLEMENTED, 12, "unimplemented", 501)                                 \
  XX(INTERNAL, 13, "internal", 500)                                           \
  XX(UNAVAILABLE, 14, "unavailable", 503)                                     \
  XX(DATA_LOSS, 15, "data_loss", 500)                                         \
  XX(UNAUTHENTICATED, 16, "unauthenticated", 401)

enum sbx_connect_code {
  SBX_CONNECT_OK = 0,
#define XX(name, num, text, http) SBX_CONNECT_##name = (num),
  SBX_CONNECT_CODE_MAP(XX)
#undef XX
};

/* "invalid_argument" etc.; "ok" for 0; "unknown" for anything else. */
const char *sbx_connect_code_name(int code);

/* The code for a name, or SBX_CONNECT_UNKNOWN. */
int sbx_connect_code_from_name(const char *name);

/* The HTTP status a unary error with this code is sent with. */
unsigned sbx_connect_http_status(int code);

/* ---- envelopes (streams), both directions ---- */

#define SBX_CONNECT_FLAG_COMPRESSED 0x01u
#define SBX_CONNECT_FLAG_END 0x02u

/* Writes the 5-byte envelope prefix for a message of len bytes. */
void sbx_connect_envelope_header(uint8_t hdr[5], uint8_t flags, uint32_t len);

/* Incremental envelope decoder: feed it bytes as they arrive in any
 * fragmentation, it calls back once per complete envelope. */
struct sbx_connect_reader {
  uint8_t *buf; /* partial envelope */
  size_t len;
  size_t cap;
  size_t max_msg; /* bigger envelopes are a protocol error */
  int failed;
};

/* max_msg: the largest message accepted (e.g. 64 MiB). */
void sbx_connect_reader_init(struct sbx_connect_reader *r, size_t max_msg);

/* Consumes data[0..len). Calls on_msg(flags, msg, msg_len, arg) for each
 * complete envelope in order; msg is valid only during the call. Returns 0,
 * cb's non-zero return value (stops there), SBX_EPROTO (an envelope larger
 * than max_msg, or a compressed flag: we never negotiate compression; the
 * reader stays failed) or SBX_ENOMEM. */
int sbx_connect_reader_feed(struct sbx_connect_reader *r, const uint8_t *data,
                            size_t len,
                            int (*on_msg)(uint8_t flags, const uint8_t *msg,
                                          size_t msg_len, void *arg),
                            void *arg);

/* Returns 0 if no partial envelope is pending (the stream ended on a
 * boundary), SBX_EPROTO otherwise. */
int sbx_connect_reader_finish(const struct sbx_connect_reader *r);

void sbx_connect_reader_free(struct sbx_connect_reader *r);

/* Parses the JSON end-of-stream message (flag END): *code gets 0 or the
 * error's code, msg (len bytes, NUL-terminated) its message. Returns 0 or
 * SBX_EPROTO (not the documented shape). */
int sbx_connect_parse_end(const uint8_t *json, size_t len, int *code,
                          char *msg, size_t msg_len);

/* Parses a unary error body {"code","message"} likewise; an unparsable body
 * yields the code from the HTTP status and the body's first bytes. */
void sbx_connect_parse_error(unsigned http_status, const uint8_t *body,
                             size_t len, int *code, char *msg, size_t msg_len);

/* ---- the server side ---- */

struct sbx_connect_call;

enum {
  SBX_CONNECT_STREAM = 1u << 0, /* server-streaming */
  SBX_CONNECT_READ = 1u << 1    /* no side effects: GET form allowed */
};

/* A method's handler. req is the decoded request (valid until the call
 * ends, freed by this module). The handler must end the call exactly once,
 * now or later from the loop: unary with sbx_connect_reply() or
 * sbx_connect_fail(), streams with sbx_connect_stream_end() (or fail before
 * the first message). */
typedef void (*sbx_connect_handler)(struct sbx_connect_call *call,
                                    const ProtobufCMessage *req, void *arg);

struct sbx_connect_method {
  const char *name; /* "GetRun" */
  const ProtobufCMessageDescriptor *input;
  const ProtobufCMessageDescriptor *output;
  unsigned flags;
  sbx_connect_handler handler;
};

struct sbx_connect_service {
  const char *name; /* "sbx.v1.Sandbox" */
  const struct sbx_connect_method *methods;
  size_t n_methods;
  void *arg; /* handed to every handler */
  size_t max_request_bytes; /* 0: 64 MiB */
  /* Called when a call ends, for metrics and logs: the method name (or
   * "unknown" for an unknown method), the Connect code it ended with, the
   * HTTP status, and the time from the request's arrival. May be NULL. */
  void (*on_end)(const char *method, int code, unsigned http_status,
                 double seconds, void *arg);
};

/* Serves r if its path is /<svc->name>/<Method>: decodes the request (a
 * bad body, codec or method gets the right Connect error: 415 for an
 * unknown content type, invalid_argument naming the field for bad JSON,
 * unimplemented for an unknown method, 405 for GET on a non-READ method)
 * and calls the handler. Returns 1 if r was taken (it is answered now or
 * later), 0 if the path is not under /<svc->name>/. */
int sbx_connect_dispatch(const struct sbx_connect_service *svc,
                         struct sbx_httpd_req *r);

/* Request details for handlers. Header lookup is case-insensitive; NULL if
 * absent. */
const char *sbx_connect_header(struct sbx_connect_call *c, const char *name);
const char *sbx_connect_method_name(const struct sbx_connect_call *c);
const char *sbx_connect_peer(const struct sbx_connect_call *c); /* "127.0.0.1" */
int sbx_connect_is_json(const struct sbx_connect_call *c);

/* One pointer of handler state per call. */
void sbx_connect_set_data(struct sbx_connect_call *c, void *data);
void *sbx_connect_get_data(const struct sbx_connect_call *c);

/* Ends a unary call with resp, encoded in the request's codec. The call is
 * freed. If encoding fails, the client gets an internal error. */
void sbx_connect_reply(struct sbx_connect_call *c, const ProtobufCMessage *resp);

/* Encodes resp (of the method's output type) in the call's codec, as
 * sbx_connect_reply would send it. Returns malloc'd bytes (the caller frees
 * them) and their length, or NULL (wrong type, out of memory). For answers
 * worth caching: the same call with the same codec may be answered with
 * these bytes again through sbx_connect_reply_encoded. */
void *sbx_connect_encode(const struct sbx_connect_call *c,
                         const ProtobufCMessage *resp, size_t *len);

/* Ends a unary call with body, bytes from sbx_connect_encode for a call of
 * the same method and codec (sbx_connect_is_json). body is copied. */
void sbx_connect_reply_encoded(struct sbx_connect_call *c, const void *body,
                               size_t len);

/* Ends a unary call (or a stream that has sent nothing yet) with an error:
 * code is an SBX_CONNECT_* code, the message says what, where and how to
 * fix. The call is freed. */
void sbx_connect_fail(struct sbx_connect_call *c, int code, const char *fmt,
                      ...) __attribute__((format(printf, 3, 4)));

/* Maps an SBX_E* code to the Connect code that fits it best
 * (ENOENT -> not_found, EINVAL/ESPEC/EDATASET -> invalid_argument,
 * EEXIST -> already_exists, EAUTH -> unauthenticated, EPERM ->
 * permission_denied, ESTATE -> failed_precondition, EBUSY ->
 * resource_exhausted, ECANCELED -> canceled, else internal). */
int sbx_connect_code_from_err(int sbx_err);

/* Streams: queues msg as one envelope; the first call sends the 200 and the
 * headers. Returns 0, or SBX_ECANCELED if the client is gone (the cancel
 * callback has run or will run; end the call then), SBX_EBUSY if more than
 * 8 MiB are queued for a client that does not read (the call should end),
 * or SBX_ENOMEM. */
int sbx_connect_stream_send(struct sbx_connect_call *c,
                            const ProtobufCMessage *msg);

/* Ends a stream with the end-of-stream envelope (code 0: success) after
 * everything queued; the call is freed once the bytes are handed to the
 * connection. */
void sbx_connect_stream_end(struct sbx_connect_call *c, int code,
                            const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Registers cb to run when the client goes away, or when the server shuts
 * down, before the call ended. After cb returns the call is freed and must
 * not be touched again; cb must not end the call. */
void sbx_connect_on_cancel(struct sbx_connect_call *c,
                           void (*cb)(struct sbx_connect_call *c, void *arg),
                           void *arg);

#endif
