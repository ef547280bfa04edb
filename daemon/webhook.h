/* webhook.h - outgoing webhooks (result callbacks), delivered from the loop.
 *
 * A run can name a callback URL; when its signed result is stored, the
 * daemon POSTs it there. This module queues those POSTs and delivers them
 * with its own libcurl multi handle driven by the caller's libuv loop
 * (uv_poll per socket, one uv_timer for libcurl's timeouts, one for retry
 * backoff), so a slow or dead receiver never blocks the loop. Failed
 * attempts (connection errors, timeouts, 5xx, 429) are retried with
 * exponential backoff and jitter until max_attempts; any other answer but
 * 2xx ends the delivery at once. Delivery is at-least-once within the life
 * of one sbx_webhook (a receiver that answered slowly may see a retry of a
 * POST it already took); the done hook tells the caller how each delivery
 * ended, so that it can keep unfinished ones across a restart (the daemon
 * does). Receivers should key on X-Sbx-Run-Id.
 *
 * Each POST carries the body as given, "Content-Type: <ctype>",
 * "X-Sbx-Run-Id: <run_id>" (decimal) and "User-Agent: sandboxd/<version>".
 * Redirects are not followed and proxies from the environment are not used.
 * Host names are resolved by libcurl's threaded resolver (Debian's libcurl
 * has AsynchDNS); a libcurl built without it would resolve synchronously
 * and a slow DNS server would then stall the loop. With refuse_private set
 * (the daemon's default), only public addresses are connected to.
 */
#ifndef SBX_WEBHOOK_H
#define SBX_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "err.h"

#define SBX_WEBHOOK_MAX_URL 2048

struct sbx_webhook;

/* Zero in any field means its default. */
struct sbx_webhook_config {
  unsigned max_attempts;     /* attempts per delivery, first included; 6 */
  uint64_t first_backoff_ms; /* wait before the first retry; 500 */
  uint64_t max_backoff_ms;   /* cap of the doubling wait; 60000 */
  uint64_t timeout_ms;       /* whole attempt, connect to last byte; 10000 */
  size_t max_pending;        /* deliveries not yet finished; 1000 */
  unsigned max_in_flight;    /* attempts running at once; 8 */
  /* Non-zero: never connect to a loopback, private, link-local, shared
   * (100.64/10), multicast or unspecified address (IPv4, IPv6, and IPv4
   * mapped into IPv6). Checked on the address actually connected to, so a
   * name that resolves (or re-resolves) to such an address is refused too.
   * A refused delivery fails at once, without retries. */
  int refuse_private;
};

/* The totals since open. pending counts deliveries queued, in flight or
 * waiting for a retry; every accepted delivery ends up in exactly one of
 * delivered or failed. retries counts failed attempts that were scheduled
 * to be tried again (a retry dropped by close still counts). */
struct sbx_webhook_stats {
  uint64_t delivered, failed, retries, pending;
};

/* Opens a webhook sender on loop. cfg may be NULL (all defaults); it is
 * copied.
 *
 * Returns 0 and sets *out (release it with sbx_webhook_close), or
 * SBX_EINVAL (loop or out NULL, or max_backoff_ms below first_backoff_ms),
 * SBX_EIO (libcurl or libsodium could not be initialized) or SBX_ENOMEM.
 * On failure *out is NULL and nothing was left registered on loop. */
int sbx_webhook_open(uv_loop_t *loop, const struct sbx_webhook_config *cfg,
                     struct sbx_webhook **out);

/* Checks that url is usable as a callback URL: at most
 * SBX_WEBHOOK_MAX_URL bytes, http:// or https://, a host, and no spaces,
 * control characters or non-ASCII bytes (percent-encode those). Returns 0
 * or SBX_EINVAL with what is wrong and how to fix it in diag (may be NULL),
 * or SBX_ENOMEM. */
int sbx_webhook_validate_url(const char *url, struct sbx_diag *diag);

/* For refuse_private, ahead of any delivery: returns SBX_EINVAL, with what
 * and how to fix in diag (may be NULL), when url's host is an IP address
 * that refuse_private refuses; 0 otherwise (host names included: they are
 * checked on the address they resolve to when the callback goes out). url
 * must have passed sbx_webhook_validate_url. */
int sbx_webhook_check_literal_host(const char *url, struct sbx_diag *diag);

/* Queues a POST of body[0..len) to url. url, ctype and body are copied;
 * body may be NULL when len is 0. ctype must be a non-empty header value
 * (no control characters). The first attempt starts now if fewer than
 * max_in_flight are running, else when one finishes. The log hook (if set)
 * may be called before this returns.
 *
 * Returns 0, SBX_EINVAL (bad url or ctype, or body NULL with len > 0:
 * what and how to fix in diag), SBX_EBUSY (max_pending deliveries are
 * already pending; diag says so), SBX_ESTATE (the sender is closing) or
 * SBX_ENOMEM. On failure nothing was queued. */
int sbx_webhook_post(struct sbx_webhook *w, const char *url, const char *ctype,
                     const void *body, size_t len, uint64_t run_id,
                     struct sbx_diag *diag);

/* Copies the totals into *out. */
void sbx_webhook_stats(const struct sbx_webhook *w,
                       struct sbx_webhook_stats *out);

/* Sets (log non-NULL) or clears the log hook, called once per attempt
 * outcome and once per delivery dropped by close, with one line of
 * key=value fields (no newline), e.g.
 *   webhook run=42 attempt=1/6 outcome=retry status=503 retry_in_ms=312
 *   url=https://hooks.example.com/sbx error="HTTP 503"
 * outcome is delivered, retry, failed (given up) or canceled (close). The
 * url shown has no credentials, query or fragment. The hook must not call
 * sbx_webhook_close; it may call sbx_webhook_post. */
void sbx_webhook_set_log(struct sbx_webhook *w,
                         void (*log)(void *arg, const char *fmt, ...),
                         void *arg);

/* How a delivery ended. */
enum sbx_webhook_outcome {
  SBX_WEBHOOK_DELIVERED, /* a 2xx answer */
  SBX_WEBHOOK_FAILED,    /* given up: attempts used, or an answer not to retry */
  SBX_WEBHOOK_CANCELED   /* dropped by sbx_webhook_close */
};

/* Sets (done non-NULL) or clears the hook called exactly once per accepted
 * delivery, when it ends, with its run id and outcome. It is called after
 * the log hook's line for that outcome. The hook must not call
 * sbx_webhook_close; it may call sbx_webhook_post. */
void sbx_webhook_set_done(struct sbx_webhook *w,
                          void (*done)(void *arg, uint64_t run_id,
                                       enum sbx_webhook_outcome outcome),
                          void *arg);

/* Stops the sender: in-flight attempts are aborted and queued or waiting
 * deliveries dropped, all counted as failed (and logged as canceled); posts
 * fail with SBX_ESTATE from now on. cb (may be NULL) runs from the loop
 * once every handle is closed, after which w is freed; run the loop until
 * then. Calling it again while closing does nothing. */
void sbx_webhook_close(struct sbx_webhook *w, void (*cb)(void *arg), void *arg);

#endif
