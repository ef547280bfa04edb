/* curl_uv.h - a libcurl multi handle driven by a libuv loop.
 *
 * One struct sbx_curl_uv owns a CURLM, the uv_timer_t that serves libcurl's
 * timeouts and one uv_poll_t per socket, and runs curl_multi_socket_action()
 * from them; finished transfers come back through one on_done callback. The
 * HTTP adapter (http_curl.c) and the webhook sender (webhook.c) both sit on
 * it. It keeps no list of transfers: the caller owns its easy handles and
 * whatever they point to, and adds and removes them through this module.
 *
 * Sockets are opened and closed through the open/close-socket callbacks that
 * sbx_curl_uv_prepare() installs on an easy handle, so that a socket's
 * watcher lives as long as the socket does (why: see curl_uv.c). The same
 * call applies what every outgoing request of the daemon shares (http and
 * https only, no proxy from the environment, no redirects), and
 * sbx_curl_uv_parse_url() and sbx_curl_uv_header() are the URL check and
 * the header lists both users build. Everything runs on the loop's thread;
 * nothing here is thread-safe except sbx_curl_uv_global_init().
 *
 * Lifetime follows libuv: whoever calls sbx_curl_uv_init() calls
 * sbx_curl_uv_close(), and the memory of the struct stays valid until the
 * close callback has run.
 */
#ifndef SBX_CURL_UV_H
#define SBX_CURL_UV_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "err.h"

struct sbx__curl_uv_watch; /* private: a socket's uv_poll_t */

/* Called once per finished transfer with libcurl's result. easy has already
 * been removed from the multi handle and is the caller's again: it may be
 * cleaned up, reconfigured or added again from inside the callback, other
 * handles may be added or removed, and sbx_curl_uv_close() may be called
 * (no further on_done follows then). */
typedef void (*sbx_curl_uv_done_cb)(CURL *easy, CURLcode rc, void *arg);

/* Multi-handle settings that differ between users. Zero means libcurl's
 * default. */
struct sbx_curl_uv_opts {
  long max_connects; /* CURLMOPT_MAXCONNECTS (size of the connection cache) */
  int no_multiplex;  /* set CURLMOPT_PIPELINING to CURLPIPE_NOTHING */
};

/* Embed it in the user's struct; the fields below the first two are
 * private. */
struct sbx_curl_uv {
  /* Read-only for users. */
  CURLM *multi;            /* NULL after sbx_curl_uv_close() */
  uint64_t sockets_opened; /* sockets opened through prepared handles */

  uv_loop_t *loop;
  uv_timer_t timer;
  struct sbx__curl_uv_watch **watches; /* indexed by fd */
  size_t nwatches;
  sbx_curl_uv_done_cb on_done;
  void *arg;
  unsigned open_handles; /* uv handles not yet closed */
  int closing;
  void (*close_cb)(void *arg);
};

/* Runs curl_global_init(CURL_GLOBAL_DEFAULT) once per process (thread-safe)
 * and returns its result, the same on every call. sbx_curl_uv_init() calls
 * it too; call it first only to report libcurl's own error text. */
CURLcode sbx_curl_uv_global_init(void);

/* Initializes *cu on loop: creates the multi handle (with opts, which may be
 * NULL for libcurl's defaults) and the timer. on_done (not NULL) is called
 * with arg for each finished transfer; arg is also what the close callback
 * gets.
 *
 * Returns 0, SBX_EINVAL (loop, cu or on_done NULL), SBX_ENOMEM, or SBX_EIO
 * (libcurl could not be initialized or refused an option). On failure
 * nothing was left registered on loop and nothing needs closing. Everything
 * that can fail in it comes before the timer is registered, so callers can
 * make it their last step that may fail. */
int sbx_curl_uv_init(uv_loop_t *loop, struct sbx_curl_uv *cu,
                     const struct sbx_curl_uv_opts *opts,
                     sbx_curl_uv_done_cb on_done, void *arg);

/* The options of an easy handle that every user sets, each to its own
 * value. Pointers are borrowed and must outlive the handle's transfers. */
struct sbx_curl_uv_easy {
  void *priv;                   /* CURLOPT_PRIVATE: for on_done to find */
  char *errbuf;                 /* CURLOPT_ERRORBUFFER (CURL_ERROR_SIZE) */
  struct curl_slist *headers;   /* CURLOPT_HTTPHEADER; may be NULL */
  long timeout_ms;              /* CURLOPT_TIMEOUT_MS; 0 is none */
  curl_write_callback on_write; /* NULL: the response body is discarded */
  void *write_data;             /* CURLOPT_WRITEDATA */
};

/* Prepares easy for sbx_curl_uv_add(): installs the open- and close-socket
 * callbacks of cu, which every handle added needs, sets the options in o,
 * and applies what every outgoing request of the daemon shares:
 * CURLOPT_NOSIGNAL, an empty CURLOPT_PROXY (environment proxies ignored),
 * CURLOPT_PROTOCOLS_STR "http,https" and CURLOPT_FOLLOWLOCATION 0. The
 * caller sets the rest (URL, method, body). Do it once per handle: options
 * stay across transfers. cu only has to be at its final address, not
 * initialized yet. Connections that easy opens land in cu's connection
 * cache and are closed by sbx_curl_uv_close() at the latest.
 *
 * Returns 0, SBX_EINVAL (an argument is NULL), SBX_ENOMEM, or SBX_EIO
 * (libcurl refused an option); on failure easy may hold some of the
 * options and should be cleaned up. */
int sbx_curl_uv_prepare(struct sbx_curl_uv *cu, CURL *easy,
                        const struct sbx_curl_uv_easy *o);

/* Starts the transfer configured on easy (prepared, not added yet); its
 * result comes through on_done. easy stays the caller's and must outlive
 * the transfer.
 *
 * Returns 0, SBX_ESTATE (cu is closing), SBX_ENOMEM, or SBX_EINVAL (libcurl
 * refused the handle, e.g. it is already added). On failure easy is not in
 * the multi handle and on_done will not be called for it. */
int sbx_curl_uv_add(struct sbx_curl_uv *cu, CURL *easy);

/* Aborts the transfer on easy without calling on_done; easy is the
 * caller's again. Does nothing if easy is not added or cu is closing. */
void sbx_curl_uv_remove(struct sbx_curl_uv *cu, CURL *easy);

/* Closes cu: the multi handle is cleaned up (which closes the cached
 * connections), then every socket watcher and the timer are closed. Remove
 * the easy handles still added first (sbx_curl_uv_remove); they may be
 * cleaned up before or after this call. No on_done follows and adds fail
 * with SBX_ESTATE. cb (may be NULL) runs with the init arg from the loop
 * once every handle is closed, and is the last time cu is touched: free its
 * memory there or later. Calling it again while closing does nothing. */
void sbx_curl_uv_close(struct sbx_curl_uv *cu, void (*cb)(void *arg));

/* Checks that url is an absolute http:// or https:// URL with a host, made
 * of printable ASCII only (no spaces), before it reaches libcurl. Messages
 * in diag (may be NULL) start with what (e.g. "base_url") and the URL, say
 * what is wrong and end with fix (e.g. "write it like ..."), or byte_fix
 * (may be NULL: fix) for a space, control or non-ASCII byte.
 *
 * Returns 0, SBX_EINVAL or SBX_ENOMEM. On success *out, when out is not
 * NULL, is the parsed URL for further checks (free it with
 * curl_url_cleanup); on failure it is NULL. */
int sbx_curl_uv_parse_url(const char *url, const char *what, const char *fix,
                          const char *byte_fix, CURLU **out,
                          struct sbx_diag *diag);

/* Appends the header "name: value" to *list, or "name;" when value is
 * empty (how libcurl sends an empty value); with value NULL, name is the
 * whole line as libcurl takes it ("Expect:" removes a header libcurl would
 * add). Nothing is checked: the caller has validated name and value.
 * Returns 0 or SBX_ENOMEM, with *list unchanged on failure. */
int sbx_curl_uv_header(struct curl_slist **list, const char *name,
                       const char *value);

#endif
