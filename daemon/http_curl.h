/* http_curl.h - the HTTP adapter built on libcurl's multi interface.
 *
 * libcurl multi is driven from the caller's libuv loop with
 * curl_multi_socket_action(): one uv_poll_t per socket that lives as long as
 * libcurl keeps the socket open (created in the open-socket callback, closed
 * in the close-socket callback), and one uv_timer_t for libcurl's timeouts. A
 * fixed pool of max_in_flight easy handles is created at open and reused; the
 * adapter never queues inside libcurl. HTTP/1.1 keep-alive connections stay
 * in libcurl's connection cache between requests.
 *
 * Error classes reported in sbx_request.error: REFUSED (connect or resolve
 * failed), TIMEOUT (timeout_us passed), RESET (connection closed or reset
 * before the response was complete), PROTOCOL (not a valid HTTP response),
 * BODY_TOO_LARGE (body over max_body_bytes), OTHER (anything else, and
 * "canceled" on close). detail carries libcurl's own error text. Status codes
 * are not judged here: any complete response is ERROR_CLASS_NONE.
 */
#ifndef SBX_HTTP_CURL_H
#define SBX_HTTP_CURL_H

#include <stdint.h>
#include <uv.h>

#include "adapter.h"
#include "err.h"

/* Opens a libcurl-multi adapter on loop.
 *
 * cfg->base_url must be "http://host[:port]" or "https://host[:port]",
 * optionally followed by a single "/"; cfg->iface (may be NULL: GET, the
 * case's path) gives the method, path template, headers and content type;
 * all of cfg's strings are borrowed for the adapter's lifetime, and so are
 * the cases handed to submit() until their on_done(). The request body is
 * the case's input. The URL of a case is built on its first submit and
 * cached by case_index, so a case_index must always name the same case.
 * timeout_us <= 0 means no per-request deadline; max_body_bytes 0 means 16 MiB.
 *
 * Returns 0 and sets *out (to be released with (*out)->ops->close), or
 * SBX_EINVAL (bad base URL, method, header or max_in_flight: what and how to
 * fix in diag), SBX_ENOMEM, SBX_EIO (libcurl could not be initialized, in
 * diag). On failure *out is NULL and nothing was left registered on loop.
 *
 * submit() returns 0, SBX_EBUSY (max_in_flight requests already in flight),
 * SBX_ESTATE (adapter closing), SBX_EINVAL (no case) or SBX_ENOMEM. */
int sbx_http_curl_open(uv_loop_t *loop, const struct sbx_http_config *cfg,
                       sbx_adapter_done_cb on_done, void *data,
                       struct sbx_adapter **out, struct sbx_diag *diag);

/* Returns how many sockets libcurl has opened through this adapter so far
 * (a debug counter: with keep-alive it stays near max_in_flight). a must be
 * an adapter returned by sbx_http_curl_open. */
uint64_t sbx_http_curl_sockets_opened(struct sbx_adapter *a);

#endif
