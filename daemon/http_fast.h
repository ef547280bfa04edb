/* http_fast.h - the fast HTTP/1.1 adapter on raw libuv streams.
 *
 * A wrk-style client for plain http:// products: a fixed set of keep-alive
 * TCP connections driven directly by the caller's libuv loop, request bytes
 * built once per case and sent with one write, responses read into a fixed
 * per-connection buffer and parsed in place by http_parse.h. It costs a
 * fraction of libcurl's CPU per request (see notes/measured-baselines.md) and
 * supports HTTP/1.1 pipelining; it does not do TLS, proxies, redirects,
 * authentication or HTTP/2 (use the libcurl adapter, http_curl.h, for those).
 *
 * Connections: max_in_flight requests are spread over
 * ceil(max_in_flight / depth) connections of depth cfg->pipeline_depth (0 or
 * 1: no pipelining). A connection is opened on first use and again after it
 * closed; responses are matched to requests in order.
 *
 * Error classes reported in sbx_request.error are those of the libcurl
 * adapter, fault for fault: REFUSED (connect failed), TIMEOUT (timeout_us
 * passed), RESET (connection reset or closed before the response was
 * complete), PROTOCOL (not a valid HTTP/1.x response, or 101), BODY_TOO_LARGE
 * (body over max_body_bytes), OTHER (anything else, and "canceled" on close).
 * Status codes are not judged here: any complete response is
 * ERROR_CLASS_NONE. Two behaviours follow from pipelining: when the oldest
 * request of a connection times out, the connection is closed and the
 * requests queued behind it on that connection fail with TIMEOUT too (they
 * were stuck behind it); requests that were sent but never answered because
 * the connection closed (Connection: close, a reset, a bad response ahead of
 * them) are retried once on a new connection. Like libcurl, a request that
 * meets a kept-alive connection the server has just closed (no response byte
 * received) is retried once; no request is retried after any byte of its
 * response arrived.
 */
#ifndef SBX_HTTP_FAST_H
#define SBX_HTTP_FAST_H

#include <stdint.h>
#include <uv.h>

#include "adapter.h"
#include "err.h"

/* Opens a fast HTTP/1.1 adapter on loop (ops->name is "fast").
 *
 * cfg->base_url must be "http://host[:port]", optionally followed by a single
 * "/": no https, userinfo, path, query or fragment. The host is resolved once,
 * here (numeric addresses without a lookup; names with a synchronous
 * getaddrinfo, trying each address in turn until one connects). cfg->iface
 * (may be NULL: GET, the case's path) gives the method, path template,
 * headers and content type; all of cfg's strings are borrowed for the
 * adapter's lifetime, and so are the cases handed to submit() until their
 * on_done(). The request body is the case's input. A case's request bytes are
 * built on its first submit and cached by case_index, so a case_index must
 * always name the same case. timeout_us <= 0 means no per-request deadline;
 * max_body_bytes 0 means 16 MiB.
 *
 * Returns 0 and sets *out (to be released with (*out)->ops->close), or
 * SBX_EINVAL (bad or unsupported base URL, method, header, max_in_flight or
 * pipeline_depth: what and how to fix in diag), SBX_ENOMEM, SBX_EIO (the host
 * could not be resolved, in diag). On failure *out is NULL and nothing was
 * left registered on loop.
 *
 * submit() returns 0, SBX_EBUSY (max_in_flight requests already in flight),
 * SBX_ESTATE (adapter closing), SBX_EINVAL (no case) or SBX_ENOMEM; it never
 * calls on_done() itself, and may be called from inside on_done(). */
int sbx_http_fast_open(uv_loop_t *loop, const struct sbx_http_config *cfg,
                       sbx_adapter_done_cb on_done, void *data,
                       struct sbx_adapter **out, struct sbx_diag *diag);

/* Returns how many TCP connections the adapter has opened so far (a debug
 * counter: with keep-alive it stays near the number of connections). a must
 * be an adapter returned by sbx_http_fast_open. */
uint64_t sbx_http_fast_sockets_opened(struct sbx_adapter *a);

#endif
