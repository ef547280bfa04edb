/* apiclient.h - the sbx side of the sandboxd API (Connect over HTTP/1.1).
 *
 * The command-line client may block, so this is plain libcurl easy: one
 * handle per client, reused from call to call so that keep-alive saves the
 * connection set-up. Unary calls POST a packed request to
 * {server}/sbx.v1.Sandbox/<Method> as application/proto and unpack the
 * answer; WatchRun is read as a Connect stream of envelopes (connect.h's
 * reader), each message handed to a callback as it arrives.
 *
 * Everything that comes back is treated as hostile: bodies are capped,
 * messages must unpack, the end of a stream must be explicit, and error
 * messages are stripped of control characters before anyone prints them.
 */
#ifndef SBX_APICLIENT_H
#define SBX_APICLIENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "err.h"
#include "sbx/v1/run.pb-c.h"

/* Bigger answers are refused (SBX_EPROTO): a result with its histograms is
 * well under a megabyte, a scenario's dataset may be tens of megabytes. */
#define SBX_API_MAX_RESPONSE (256u * 1024 * 1024)
#define SBX_API_CONNECT_TIMEOUT_MS 5000L

struct sbx_api_client;

/* Why a call failed, for the message the user sees. */
struct sbx_api_error {
  /* The Connect code the server (or the stream's end message) gave, one of
   * SBX_CONNECT_* (connect.h); 0 when the failure was not the server's
   * answer (unreachable, bad answer, local error). */
  int code;
  /* 1 when no HTTP answer came back at all: refused, unresolvable, timed
   * out while connecting, connection closed before a status line. */
  int unreachable;
  /* The server's message or ours; printable ASCII/UTF-8 only, NUL-ended. */
  char message[1024];
};

/* Creates a client for server (a base URL, http:// or https://, e.g.
 * "http://127.0.0.1:7800"; a trailing slash is dropped) and token (the
 * bearer secret; NULL or "" sends no Authorization header). Both strings
 * are copied. Returns 0 with *out set (free with sbx_api_client_free), or
 * SBX_EINVAL (not an http(s) URL, or a token with characters a header
 * cannot carry; err->message says which) or SBX_ENOMEM; *out is NULL on
 * failure. err may be NULL. */
int sbx_api_client_new(const char *server, const char *token,
                       struct sbx_api_client **out, struct sbx_api_error *err);

/* Frees c and closes its connection. c may be NULL. */
void sbx_api_client_free(struct sbx_api_client *c);

/* The base URL the client talks to (without a trailing slash). */
const char *sbx_api_client_server(const struct sbx_api_client *c);

/* A flag (set from a signal handler, say) that aborts a call in progress
 * within about a second: the call then returns SBX_ECANCELED. NULL: none.
 * The flag is borrowed and must outlive the client. */
void sbx_api_client_set_abort_flag(struct sbx_api_client *c,
                                   const volatile sig_atomic_t *flag);

/* Lowers the answer cap below SBX_API_MAX_RESPONSE (for tests). */
void sbx_api_client_set_max_response(struct sbx_api_client *c, size_t max);

/* Calls method ("GetRun") with req and unpacks the answer as resp_desc.
 * Returns 0 with *resp set (the caller frees it with
 * protobuf_c_message_free_unpacked(*resp, NULL)); otherwise *resp is NULL,
 * err (which may be NULL) says why, and the return value is:
 * - SBX_ECONNECT: the server could not be reached (err->unreachable);
 * - the server's refusal mapped to an SBX_E* code (see
 *   sbx_api_err_from_code), with err->code and err->message as sent;
 * - SBX_EPROTO: the answer was not a Connect answer (over the cap, not a
 *   valid resp_desc message, a status without a parsable error);
 * - SBX_ECANCELED: the abort flag was raised;
 * - SBX_EINVAL (method not a plain name) or SBX_ENOMEM. */
int sbx_api_call(struct sbx_api_client *c, const char *method,
                 const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *resp_desc,
                 ProtobufCMessage **resp, struct sbx_api_error *err);

/* Follows run run_id with WatchRun: calls on_event(ev, arg) for each event
 * in order (ev is valid only during the call) until the server ends the
 * stream. A non-zero return from on_event stops the watch and is returned
 * as is (use a positive value to tell it from the errors below). Returns 0
 * when the stream ended normally; on failure the same codes as
 * sbx_api_call, also when the end message carries an error (err->code),
 * and SBX_EPROTO for a stream that breaks off without its end message or
 * holds a message that is not a RunEvent. Events already delivered stay
 * delivered. */
int sbx_api_watch(struct sbx_api_client *c, uint64_t run_id,
                  int (*on_event)(const Sbx__V1__RunEvent *ev, void *arg),
                  void *arg, struct sbx_api_error *err);

/* Makes text from the server safe to print, in place: C0/C1 control
 * characters, DEL and bytes that are not well-formed UTF-8 become '?' (the
 * string never grows). s may be NULL. Error messages in sbx_api_error are
 * already cleaned; names, reasons and other strings of the answers are not. */
void sbx_api_sanitize(char *s);

/* The SBX_E* code that fits a Connect code: not_found -> SBX_ENOENT,
 * invalid_argument/out_of_range -> SBX_EINVAL, already_exists ->
 * SBX_EEXIST, permission_denied -> SBX_EPERM, unauthenticated -> SBX_EAUTH,
 * failed_precondition/aborted -> SBX_ESTATE, resource_exhausted ->
 * SBX_EBUSY, canceled -> SBX_ECANCELED, anything else -> SBX_EIO. */
int sbx_api_err_from_code(int connect_code);

#endif
