/* daemon.h - sandboxd: one loop that serves the API, schedules runs and
 * measures them.
 *
 * struct sbx_daemon holds the process-wide state that sandboxd_main.c owns
 * and every part of the daemon reaches through it: the store, the signing
 * key, the HTTP server, the scheduler, the webhook sender, the metrics and
 * the watchers of runs. daemon.c starts and stops these in order, routes
 * HTTP requests (/healthz, /metrics, the Connect service of api.c) and
 * writes the structured log lines.
 */
#ifndef SBX_DAEMON_H
#define SBX_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "err.h"

struct sbx_store;
struct sbx_signer;
struct sbx_httpd;
struct sbx_sched;
struct sbx_webhook;
struct sbx_metrics;
struct sbx_api_watch;
struct sbx_api_cache;

struct sbx_daemon_config {
  char *data_dir;
  char *listen_host;       /* "127.0.0.1" */
  int listen_port;         /* 7800; 0: any free port */
  char *port_file;         /* written with the bound port once listening */
  char **scenario_dirs;    /* published at start and on SIGHUP */
  size_t n_scenario_dirs;
  unsigned lanes;          /* runs measured at once; 1 */
  size_t max_body_bytes;   /* API request bodies; 256 MiB (plugin uploads) */
  unsigned max_connections;
  unsigned max_per_ip;
  unsigned idle_timeout_s;
  unsigned header_deadline_s;
  int plugin_ring;         /* plugin IPC over the shared-memory ring */
  int callback_private;    /* callbacks may reach private addresses */
};

struct sbx_daemon {
  uv_loop_t *loop;
  struct sbx_daemon_config cfg;
  struct sbx_store *store;
  struct sbx_signer *signer;
  struct sbx_httpd *httpd;
  struct sbx_sched *sched;
  struct sbx_webhook *webhook;
  struct sbx_metrics *metrics;
  struct sbx_api_watch *watchers; /* api.c's list of WatchRun streams */
  struct sbx_api_cache *api_cache; /* api.c's encoded answers */
  uv_timer_t heartbeat;           /* keeps idle WatchRun streams alive */
  uv_signal_t sig_term;
  uv_signal_t sig_int;
  uv_signal_t sig_hup;
  int64_t start_unix_ms;
  int stopping;
  int pending_stops; /* parts still stopping */
  int exit_code;
};

/* Fills cfg with the defaults. */
void sbx_daemon_config_init(struct sbx_daemon_config *cfg);

/* Reads a config file of "key = value" lines (# comments; keys as the
 * long flags: data_dir, listen, port_file, scenarios (repeatable), lanes,
 * max_body, max_connections, max_per_ip, idle_timeout, header_deadline,
 * plugin_ring, callback_private) into cfg. Returns 0 or SBX_EINVAL/SBX_ENOENT with
 * "FILE:LINE: ..." in diag. */
int sbx_daemon_config_load(struct sbx_daemon_config *cfg, const char *path,
                           struct sbx_diag *diag);

/* Parses "HOST:PORT", "[V6]:PORT" or "PORT" into cfg. */
int sbx_daemon_config_listen(struct sbx_daemon_config *cfg, const char *s,
                             struct sbx_diag *diag);

void sbx_daemon_config_free(struct sbx_daemon_config *cfg);

/* `sandboxd init`: creates the store and the signing key in data_dir and a
 * first admin token, whose secret goes to *secret (caller frees). Refuses a
 * data_dir that already has a key. */
int sbx_daemon_init_dir(const char *data_dir, char **secret,
                        struct sbx_diag *diag);

/* Opens the store and the key, starts the server, the scheduler and the
 * signal handlers on loop, publishes the scenario directories and resumes
 * the queue. Returns 0, or an error with diag filled (everything started is
 * stopped again; run the loop to let it close). */
int sbx_daemon_start(struct sbx_daemon *d, uv_loop_t *loop,
                     struct sbx_diag *diag);

/* Graceful stop (SIGTERM): stop accepting, end streams, interrupt running
 * runs, flush and close the store. The loop ends when all is closed. */
void sbx_daemon_stop(struct sbx_daemon *d);

/* Publishes every configured scenario directory (SIGHUP). Returns how many
 * failed; each failure is logged. */
int sbx_daemon_reload(struct sbx_daemon *d);

/* A structured log line on stderr:
 *   ts=2026-11-29T10:00:00.123Z level=info event=run_start run=3 ... */
void sbx_log(const char *level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
