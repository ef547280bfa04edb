/* adapter.h - how the engine talks to a product.
 *
 * An adapter turns a case into a request to the product (an HTTP endpoint,
 * later a plugin host) and reports how it ended. Adapters are a table of
 * function pointers so the engine never knows which one it drives. All calls
 * happen on the loop thread.
 *
 * Contract:
 * - The engine never has more than the adapter's max_in_flight requests
 *   submitted at once; the adapter never queues.
 * - submit() returning 0 means on_done() runs exactly once for that request,
 *   later, never from inside submit(). A failed submit() never calls on_done().
 * - Before on_done(), the adapter sets done_ns, error (a transport-level
 *   class: NONE when a response was read), status and body/body_len. The
 *   body pointer is valid only during on_done().
 * - close() fails every request still in flight with ERROR_CLASS_OTHER and
 *   detail "canceled", releases the adapter, then calls close_cb; the adapter
 *   memory is gone after close_cb returns.
 */
#ifndef SBX_ADAPTER_H
#define SBX_ADAPTER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "sbx/v1/scenario.pb-c.h"
#include "sbx/v1/common.pb-c.h"
#include "err.h"

struct sbx_adapter;

struct sbx_request {
  /* Set by the engine before submit(). */
  const Sbx__V1__Case *kase;
  uint32_t case_index;
  uint64_t seq;
  int64_t sched_ns; /* uv_hrtime() the request was due */
  int64_t send_ns;  /* uv_hrtime() it was handed to the adapter */
  /* Set by the adapter before on_done(). */
  int64_t done_ns;
  Sbx__V1__ErrorClass error;
  uint32_t status;
  const uint8_t *body;
  size_t body_len;
  char detail[128]; /* human-readable cause of a transport error */
  /* Free for the engine's own bookkeeping. */
  void *engine_data;
  uint32_t slot;
};

typedef void (*sbx_adapter_done_cb)(struct sbx_adapter *a,
                                    struct sbx_request *req);

/* What running the product cost, for adapters that run it themselves
 * (plugins). Filled by the optional usage() op. */
struct sbx_adapter_usage {
  uint64_t cpu_us;         /* CPU time of the product's processes, all
                              restarts included */
  uint64_t peak_rss_bytes; /* highest resident memory seen */
  uint32_t restarts;       /* times the product was restarted */
  char layers[256];        /* jail layers engaged, comma-separated */
};
typedef void (*sbx_adapter_close_cb)(struct sbx_adapter *a);

struct sbx_adapter_ops {
  const char *name; /* "curl", "fast", "plugin": recorded in the result */
  int (*submit)(struct sbx_adapter *a, struct sbx_request *req);
  void (*close)(struct sbx_adapter *a, sbx_adapter_close_cb close_cb);
  /* Optional (may be NULL): the product's resource use so far. */
  void (*usage)(struct sbx_adapter *a, struct sbx_adapter_usage *u);
};

struct sbx_adapter {
  const struct sbx_adapter_ops *ops;
  uv_loop_t *loop;
  sbx_adapter_done_cb on_done;
  void *data; /* the engine's */
  uint32_t max_in_flight;
  /* Set by the engine: the adapter calls it (at most once, from a loop
   * callback) when the product can no longer be measured, e.g. a plugin
   * host that keeps dying (circuit breaker open); why is copied. The run
   * then ends with verdict ERROR. NULL until the engine starts. */
  void (*on_fatal)(struct sbx_adapter *a, const char *why);
};

/* What an HTTP adapter needs to know. Strings are borrowed for the adapter's
 * lifetime. */
struct sbx_http_config {
  const char *base_url;             /* "http://127.0.0.1:8080" */
  const Sbx__V1__Interface *iface;  /* method, path template, headers */
  uint32_t max_in_flight;           /* connections / concurrent transfers */
  int64_t timeout_us;               /* per request */
  uint64_t max_body_bytes;          /* body cap; 0 means 16 MiB */
  uint32_t pipeline_depth;          /* fast client: requests in flight per
                                       connection; 0 or 1 means none */
};

/* Builds the request target for a case: the interface's path template with
 * "{path}" replaced by the case's path and "{id}" by its id (percent-encoded);
 * with an empty template, the case's path. Returns a malloc'd string or NULL
 * on out of memory. */
char *sbx_adapter_target(const Sbx__V1__Interface *iface,
                         const Sbx__V1__Case *kase);

/* An RFC 9110 token (header names, methods): non-empty, tchar only. */
int sbx_http_is_token(const char *s);

/* A header field value: no control characters but HTAB. */
int sbx_http_is_field_value(const char *s);

/* The interface's method, checked and upper-cased ("post" means POST; an
 * empty method means GET): returns a malloc'd string in *out and sets
 * *head_only and *has_body (POST, PUT, PATCH), or SBX_EINVAL (diag says
 * why) or SBX_ENOMEM. Shared by the HTTP clients so that both refuse the
 * same specs with the same words. */
int sbx_http_method(const Sbx__V1__Interface *iface, char **out,
                    int *head_only, int *has_body, struct sbx_diag *diag);

#endif
