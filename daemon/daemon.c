/* daemon.c - sandboxd's parts started and stopped in order, requests
 * routed, log lines written. See daemon.h. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "api.h"
#include "auth.h"
#include "connect.h"
#include "httpd.h"
#include "metrics.h"
#include "registry.h"
#include "scheduler.h"
#include "sign.h"
#include "store.h"
#include "units.h"
#include "webhook.h"

static struct sbx_connect_service service;

static void vlog(const char *level, const char *event, const char *fmt,
                 va_list ap) {
  struct timespec ts;
  struct tm tm;
  char when[32], msg[2048];

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  fprintf(stderr, "ts=%s.%03ldZ level=%s event=%s %s\n", when,
          ts.tv_nsec / 1000000, level, event, msg);
}

void sbx_log(const char *level, const char *event, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(level, event, fmt, ap);
  va_end(ap);
}

static void log_hook(void *arg, const char *level, const char *event,
                     const char *fmt, ...) {
  va_list ap;
  (void)arg;
  va_start(ap, fmt);
  vlog(level, event, fmt, ap);
  va_end(ap);
}

static void webhook_log(void *arg, const char *fmt, ...) {
  va_list ap;
  (void)arg;
  va_start(ap, fmt);
  vlog("info", "webhook", fmt, ap);
  va_end(ap);
}

/* ---- configuration ---- */

void sbx_daemon_config_init(struct sbx_daemon_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->listen_port = 7800;
  cfg->lanes = 1;
  cfg->max_body_bytes = (size_t)256 << 20;
  cfg->max_connections = 1024;
  cfg->max_per_ip = 256;
  cfg->idle_timeout_s = 60;
  cfg->header_deadline_s = 10;
}

void sbx_daemon_config_free(struct sbx_daemon_config *cfg) {
  size_t i;
  free(cfg->data_dir);
  free(cfg->listen_host);
  free(cfg->port_file);
  for (i = 0; i < cfg->n_scenario_dirs; i++)
    free(cfg->scenario_dirs[i]);
  free(cfg->scenario_dirs);
  memset(cfg, 0, sizeof(*cfg));
}

static int set_str(char **dst, const char *v) {
  char *s = strdup(v);
  if (s == NULL)
    return SBX_ENOMEM;
  free(*dst);
  *dst = s;
  return 0;
}

int sbx_daemon_config_listen(struct sbx_daemon_config *cfg, const char *s,
                             struct sbx_diag *diag) {
  const char *colon = strrchr(s, ':');
  const char *port = colon != NULL ? colon + 1 : s;
  char host[128];
  uint64_t p;

  if (sbx_parse_uint64(port, 65535, &p) != 0) {
    sbx_diag_set(diag, "listen \"%.100s\": expected HOST:PORT, [V6]:PORT or "
                       "PORT with a port from 0 to 65535, e.g. "
                       "127.0.0.1:7800", s);
    return SBX_EINVAL;
  }
  cfg->listen_port = (int)p;
  if (colon == NULL)
    return 0;
  if (s[0] == '[' && colon > s + 1 && colon[-1] == ']')
    snprintf(host, sizeof(host), "%.*s", (int)(colon - s - 2), s + 1);
  else
    snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
  return set_str(&cfg->listen_host, host);
}

static int add_dir(struct sbx_daemon_config *cfg, const char *dir) {
  char **v = realloc(cfg->scenario_dirs,
                     (cfg->n_scenario_dirs + 1) * sizeof(*v));
  if (v == NULL)
    return SBX_ENOMEM;
  cfg->scenario_dirs = v;
  if ((v[cfg->n_scenario_dirs] = strdup(dir)) == NULL)
    return SBX_ENOMEM;
  cfg->n_scenario_dirs++;
  return 0;
}

static int parse_count(const char *v, unsigned max, unsigned *out) {
  uint64_t n;
  if (sbx_parse_uint64(v, max, &n) != 0)
    return SBX_EINVAL;
  *out = (unsigned)n;
  return 0;
}

/* Applies one setting; the same keys serve the config file and the flags. */
static int config_set(struct sbx_daemon_config *cfg, const char *key,
                      const char *val, struct sbx_diag *diag) {
  uint64_t size;
  int rc = 0;
  if (strcmp(key, "data_dir") == 0)
    rc = set_str(&cfg->data_dir, val);
  else if (strcmp(key, "listen") == 0)
    rc = sbx_daemon_config_listen(cfg, val, diag);
  else if (strcmp(key, "port_file") == 0)
    rc = set_str(&cfg->port_file, val);
  else if (strcmp(key, "scenarios") == 0)
    rc = add_dir(cfg, val);
  else if (strcmp(key, "lanes") == 0)
    rc = parse_count(val, 64, &cfg->lanes) != 0 || cfg->lanes == 0
             ? (sbx_diag_set(diag, "lanes: expected 1 to 64, got \"%.40s\"",
                             val),
                SBX_EINVAL)
             : 0;
  else if (strcmp(key, "max_body") == 0) {
    if (sbx_parse_size(val, &size) != 0 || size < 1024) {
      sbx_diag_set(diag, "max_body: expected a size of at least 1KiB, e.g. "
                         "256MiB, got \"%.40s\"", val);
      rc = SBX_EINVAL;
    } else {
      cfg->max_body_bytes = (size_t)size;
    }
  } else if (strcmp(key, "max_connections") == 0 ||
             strcmp(key, "max_per_ip") == 0 ||
             strcmp(key, "idle_timeout") == 0 ||
             strcmp(key, "header_deadline") == 0) {
    unsigned *dst = strcmp(key, "max_connections") == 0 ? &cfg->max_connections
                    : strcmp(key, "max_per_ip") == 0   ? &cfg->max_per_ip
                    : strcmp(key, "idle_timeout") == 0 ? &cfg->idle_timeout_s
                                                       : &cfg->header_deadline_s;
    if (parse_count(val, 1000000, dst) != 0) {
      sbx_diag_set(diag, "%s: expected a whole number, got \"%.40s\"", key,
                   val);
      rc = SBX_EINVAL;
    }
  } else if (strcmp(key, "plugin_ring") == 0) {
    cfg->plugin_ring = strcmp(val, "true") == 0 || strcmp(val, "1") == 0;
  } else if (strcmp(key, "callback_private") == 0) {
    if (strcmp(val, "allow") == 0 || strcmp(val, "refuse") == 0) {
      cfg->callback_private = strcmp(val, "allow") == 0;
    } else {
      sbx_diag_set(diag, "callback_private: expected allow or refuse, got "
                         "\"%.40s\"", val);
      rc = SBX_EINVAL;
    }
  } else {
    sbx_diag_set(diag,
                 "unknown setting \"%.60s\"; known: data_dir, listen, "
                 "port_file, scenarios, lanes, max_body, max_connections, "
                 "max_per_ip, idle_timeout, header_deadline, plugin_ring, "
                 "callback_private",
                 key);
    rc = SBX_EINVAL;
  }
  return rc;
}

int sbx_daemon_config_load(struct sbx_daemon_config *cfg, const char *path,
                           struct sbx_diag *diag) {
  FILE *f = fopen(path, "r");
  char line[4096];
  unsigned lineno = 0;
  int rc = 0;

  if (f == NULL) {
    sbx_diag_set(diag, "%s: %s; pass an existing config file", path,
                 strerror(errno));
    return errno == ENOENT ? SBX_ENOENT : SBX_EINVAL;
  }
  while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
    char *p = line, *eq, *k, *v, *end;
    struct sbx_diag d2 = {""};
    lineno++;
    p[strcspn(p, "\r\n")] = '\0';
    p += strspn(p, " \t");
    if (*p == '#' || *p == '\0')
      continue;
    eq = strchr(p, '=');
    if (eq == NULL) {
      sbx_diag_set(diag, "%s:%u: expected \"key = value\"", path, lineno);
      rc = SBX_EINVAL;
      break;
    }
    k = p;
    end = eq;
    while (end > k && (end[-1] == ' ' || end[-1] == '\t'))
      end--;
    *end = '\0';
    v = eq + 1 + strspn(eq + 1, " \t");
    end = v + strlen(v);
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
      end--;
    *end = '\0';
    rc = config_set(cfg, k, v, &d2);
    if (rc != 0)
      sbx_diag_set(diag, "%s:%u: %s", path, lineno, d2.msg);
  }
  fclose(f);
  return rc;
}

/* ---- init ---- */

int sbx_daemon_init_dir(const char *data_dir, char **secret,
                        struct sbx_diag *diag) {
  struct sbx_store *st = NULL;
  Sbx__V1__Token *tok = NULL;
  char path[4096];
  int rc;

  *secret = NULL;
  snprintf(path, sizeof(path), "%s/signing.key", data_dir);
  if (access(path, F_OK) == 0) {
    sbx_diag_set(diag, "%s already exists: %s is initialised; start "
                       "sandboxd on it, or init another directory",
                 path, data_dir);
    return SBX_EEXIST;
  }
  rc = sbx_store_open(data_dir, &st, diag);
  if (rc != 0)
    return rc;
  rc = sbx_sign_keygen(data_dir, diag);
  if (rc == 0) {
    rc = sbx_auth_create(st, SBX__V1__ROLE__ROLE_ADMIN, NULL, "first admin",
                         secret, &tok);
    if (rc != 0)
      sbx_diag_set(diag, "%s: could not store the first token: %s", data_dir,
                   sbx_strerror(rc));
  }
  if (tok != NULL)
    sbx__v1__token__free_unpacked(tok, NULL);
  if (sbx_store_close(st) != 0 && rc == 0) {
    sbx_diag_set(diag, "%s: could not close the store", data_dir);
    rc = SBX_ESTORE;
  }
  return rc;
}

/* ---- serving ---- */

static void on_api_end(const char *method, int code, unsigned status,
                       double seconds, void *arg) {
  struct sbx_daemon *d = arg;
  (void)status;
  sbx_metrics_add(d->metrics, "sbx_api_requests_total", 1, "method", method,
                  "code", sbx_connect_code_name(code), NULL);
  sbx_metrics_observe(d->metrics, "sbx_api_request_duration_seconds", seconds,
                      "method", method, NULL);
}

static void serve_metrics(struct sbx_daemon *d, struct sbx_httpd_req *r) {
  struct sbx_webhook_stats ws;
  char *text;
  size_t len = 0;

  sbx_metrics_set(d->metrics, "sbx_runs_in_progress",
                  sbx_sched_running(d->sched), NULL);
  sbx_metrics_set(d->metrics, "sbx_runs_queued", sbx_sched_queued(d->sched),
                  NULL);
  sbx_webhook_stats(d->webhook, &ws);
  sbx_metrics_set(d->metrics, "sbx_webhook_deliveries_total",
                  (double)ws.delivered, "outcome", "delivered", NULL);
  sbx_metrics_set(d->metrics, "sbx_webhook_deliveries_total",
                  (double)ws.failed, "outcome", "failed", NULL);
  text = sbx_metrics_render(d->metrics, &len);
  if (text == NULL) {
    sbx_httpd_respond(r, 500, "text/plain", "out of memory\n", 14);
    return;
  }
  sbx_httpd_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", text,
                    len);
  free(text);
}

static void on_request(struct sbx_httpd_req *r, void *arg) {
  struct sbx_daemon *d = arg;
  const char *path = sbx_httpd_path(r);

  if (strcmp(path, "/healthz") == 0) {
    if (d->stopping)
      sbx_httpd_respond(r, 503, "text/plain", "stopping\n", 9);
    else
      sbx_httpd_respond(r, 200, "text/plain", "ok\n", 3);
    return;
  }
  if (strcmp(path, "/metrics") == 0) {
    serve_metrics(d, r);
    return;
  }
  if (sbx_connect_dispatch(&service, r))
    return;
  {
    static const char body[] =
        "{\"code\":\"not_found\",\"message\":\"no such path; the API is "
        "POST /sbx.v1.Sandbox/<Method>, see the README\"}";
    sbx_httpd_respond(r, 404, "application/json", body, sizeof(body) - 1);
  }
}

static void on_sched_event(const Sbx__V1__RunEvent *ev, void *arg) {
  sbx_api_on_event(arg, ev);
}

static void on_finished(const Sbx__V1__Run *run, const Sbx__V1__Result *res,
                        const Sbx__V1__SignedResult *sr,
                        const uint8_t *sr_bytes, size_t sr_len, void *arg) {
  struct sbx_daemon *d = arg;
  const char *verdict = "none";
  (void)sr;
  if (res != NULL)
    verdict = protobuf_c_enum_descriptor_get_value(&sbx__v1__verdict__descriptor,
                                                   res->verdict)
                  ->name +
              8; /* after "VERDICT_" */
  sbx_metrics_add(d->metrics, "sbx_runs_total", 1, "scenario", run->scenario,
                  "verdict", verdict, NULL);
  if (res != NULL && res->metrics != NULL)
    sbx_metrics_observe(d->metrics, "sbx_run_duration_seconds",
                        (double)(run->ended_unix_ms - run->started_unix_ms) /
                            1000.0,
                        NULL);
  if (sr_bytes != NULL && run->callback_url[0] != '\0') {
    struct sbx_diag diag = {""};
    if (sbx_webhook_post(d->webhook, run->callback_url,
                         "application/proto", sr_bytes, sr_len, run->id,
                         &diag) != 0)
      sbx_log("warn", "webhook", "run=%" PRIu64 " not queued: %s", run->id,
              diag.msg);
  }
}

/* A callback that was delivered or given up is no longer pending; one
 * dropped by shutdown stays pending and goes again at the next start. */
static void on_webhook_done(void *arg, uint64_t run_id,
                            enum sbx_webhook_outcome outcome) {
  struct sbx_daemon *d = arg;
  int rc;
  if (outcome == SBX_WEBHOOK_CANCELED)
    return;
  rc = sbx_store_clear_callback(d->store, run_id);
  if (rc != 0 && rc != SBX_ENOENT)
    sbx_log("warn", "webhook",
            "run=%" PRIu64 " could not clear the pending callback: %s",
            run_id, sbx_strerror(rc));
}

/* Sends again the callbacks a previous process left pending (it stopped or
 * crashed before they were delivered or given up). */
static void resend_pending_callbacks(struct sbx_daemon *d) {
  uint64_t *ids = NULL;
  size_t i, n = 0, queued = 0;
  int rc = sbx_store_pending_callbacks(d->store, &ids, &n);
  if (rc != 0)
    sbx_log("warn", "webhook", "could not read the pending callbacks: %s",
            sbx_strerror(rc));
  for (i = 0; i < n; i++) {
    Sbx__V1__Run *run = NULL;
    void *sr = NULL;
    size_t sr_len = 0;
    struct sbx_diag diag = {""};
    if (sbx_store_get_run(d->store, ids[i], &run) != 0 ||
        run->callback_url == NULL || run->callback_url[0] == '\0' ||
        sbx_store_get_signed_bytes(d->store, ids[i], &sr, &sr_len) != 0) {
      sbx_log("warn", "webhook",
              "run=%" PRIu64 " pending callback dropped: the run, its "
              "callback URL or its signed result is gone",
              ids[i]);
      on_webhook_done(d, ids[i], SBX_WEBHOOK_FAILED);
    } else if (sbx_webhook_post(d->webhook, run->callback_url,
                                "application/proto", sr, sr_len, run->id,
                                &diag) != 0) {
      sbx_log("warn", "webhook",
              "run=%" PRIu64 " pending callback not queued (kept for the "
              "next start): %s",
              ids[i], diag.msg);
    } else {
      queued++;
    }
    free(sr);
    if (run != NULL)
      sbx__v1__run__free_unpacked(run, NULL);
  }
  if (queued > 0)
    sbx_log("info", "webhook", "resent=%zu pending callbacks", queued);
  free(ids);
}

static void on_heartbeat(uv_timer_t *t) { sbx_api_heartbeat(t->data); }

static int write_port_file(const char *path, int port,
                           struct sbx_diag *diag) {
  char tmp[4200], buf[16];
  int fd, n;
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    sbx_diag_set(diag, "%s: %s", tmp, strerror(errno));
    return SBX_EIO;
  }
  n = snprintf(buf, sizeof(buf), "%d\n", port);
  if (write(fd, buf, (size_t)n) != n || close(fd) != 0 ||
      rename(tmp, path) != 0) {
    sbx_diag_set(diag, "%s: %s", path, strerror(errno));
    return SBX_EIO;
  }
  return 0;
}

static int publish_one(struct sbx_daemon *d, const char *dir) {
  Sbx__V1__ScenarioInfo *si = NULL;
  struct sbx_diag diag = {""};
  if (sbx_registry_publish_dir(d->store, dir, &si, &diag) != 0) {
    sbx_log("error", "scenario_load_failed", "dir=%s error=\"%s\"", dir,
            diag.msg);
    return 1;
  }
  sbx_log("info", "scenario_loaded", "dir=%s scenario=%s@%s", dir, si->name,
          si->version);
  sbx__v1__scenario_info__free_unpacked(si, NULL);
  return 0;
}

/* A --scenarios directory is a scenario (it holds spec.yaml) or holds
 * scenario directories; it is looked at afresh on every reload, so that
 * scenarios added since are found. */
int sbx_daemon_reload(struct sbx_daemon *d) {
  size_t i;
  int failed = 0;
  for (i = 0; i < d->cfg.n_scenario_dirs; i++) {
    const char *dir = d->cfg.scenario_dirs[i];
    char path[4096];
    uv_fs_t req;
    uv_dirent_t ent;
    int n;
    snprintf(path, sizeof(path), "%s/spec.yaml", dir);
    if (access(path, F_OK) == 0) {
      failed += publish_one(d, dir);
      continue;
    }
    n = uv_fs_scandir(NULL, &req, dir, 0, NULL);
    if (n < 0) {
      sbx_log("error", "scenario_load_failed",
              "dir=%s error=\"not a scenario directory (no spec.yaml) nor a "
              "readable directory of them: %s\"",
              dir, uv_strerror(n));
      failed++;
      uv_fs_req_cleanup(&req);
      continue;
    }
    while (uv_fs_scandir_next(&req, &ent) != UV_EOF) {
      snprintf(path, sizeof(path), "%s/%s/spec.yaml", dir, ent.name);
      if (access(path, F_OK) != 0)
        continue;
      snprintf(path, sizeof(path), "%s/%s", dir, ent.name);
      failed += publish_one(d, path);
    }
    uv_fs_req_cleanup(&req);
  }
  return failed;
}

static void on_signal(uv_signal_t *h, int signum) {
  struct sbx_daemon *d = h->data;
  if (signum == SIGHUP) {
    int failed;
    sbx_log("info", "reload", "signal=SIGHUP dirs=%zu",
            d->cfg.n_scenario_dirs);
    failed = sbx_daemon_reload(d);
    if (failed > 0)
      sbx_log("warn", "reload", "failed=%d", failed);
    return;
  }
  sbx_log("info", "stop", "signal=%s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  sbx_daemon_stop(d);
}

static void declare_metrics(struct sbx_daemon *d) {
  struct sbx_metrics *m = d->metrics;
  sbx_metrics_declare(m, "sbx_build_info", "gauge",
                      "sandboxd build; the value is always 1");
  sbx_metrics_set(m, "sbx_build_info", 1, "version", SBX_VERSION, NULL);
  sbx_metrics_declare(m, "sbx_runs_total", "counter",
                      "Runs ended, by scenario and verdict");
  sbx_metrics_declare(m, "sbx_runs_in_progress", "gauge",
                      "Runs being measured now");
  sbx_metrics_declare(m, "sbx_runs_queued", "gauge", "Runs waiting in the queue");
  sbx_metrics_declare(m, "sbx_run_duration_seconds", "histogram",
                      "Wall time of ended runs");
  sbx_metrics_declare(m, "sbx_api_requests_total", "counter",
                      "API calls, by method and Connect code");
  sbx_metrics_declare(m, "sbx_api_request_duration_seconds", "histogram",
                      "API call latency, by method");
  sbx_metrics_declare(m, "sbx_webhook_deliveries_total", "counter",
                      "Webhook deliveries, by outcome");
}

int sbx_daemon_start(struct sbx_daemon *d, uv_loop_t *loop,
                     struct sbx_diag *diag) {
  struct sbx_httpd_config hc;
  struct sbx_sched_config sc;
  struct sbx_sched_hooks hooks;
  struct sbx_webhook_config wc;
  int rc;

  d->loop = loop;
  d->start_unix_ms = sbx_unix_ms();
  if (d->cfg.data_dir == NULL) {
    sbx_diag_set(diag, "no data directory; pass --data-dir DIR (created "
                       "with `sandboxd init --data-dir DIR`)");
    return SBX_EINVAL;
  }
  if ((rc = sbx_store_open(d->cfg.data_dir, &d->store, diag)) != 0)
    return rc;
  if (sbx_store_recovered(d->store) > 0)
    sbx_log("warn", "recovered", "interrupted_runs=%" PRIu64,
            sbx_store_recovered(d->store));
  if ((rc = sbx_signer_load(d->cfg.data_dir, &d->signer, diag)) != 0)
    goto fail;
  if ((rc = sbx_metrics_new(&d->metrics)) != 0)
    goto fail;
  declare_metrics(d);
  memset(&wc, 0, sizeof(wc));
  wc.refuse_private = !d->cfg.callback_private;
  if ((rc = sbx_webhook_open(loop, &wc, &d->webhook)) != 0) {
    sbx_diag_set(diag, "could not start the webhook sender: %s",
                 sbx_strerror(rc));
    goto fail;
  }
  sbx_webhook_set_log(d->webhook, webhook_log, d);
  sbx_webhook_set_done(d->webhook, on_webhook_done, d);
  resend_pending_callbacks(d);

  memset(&sc, 0, sizeof(sc));
  sc.lanes = d->cfg.lanes;
  sc.data_dir = d->cfg.data_dir;
  sc.plugin_ring = d->cfg.plugin_ring;
  memset(&hooks, 0, sizeof(hooks));
  hooks.on_event = on_sched_event;
  hooks.on_finished = on_finished;
  hooks.log = log_hook;
  hooks.arg = d;
  if ((rc = sbx_sched_open(loop, d->store, d->signer, &sc, &hooks,
                           &d->sched)) != 0)
    goto fail;

  /* The scheduler measures on a thread of its own, created above at the
   * default priority. This thread serves the API: it yields to the
   * measurement when both want the CPU, so that a burst of API calls
   * delays no scheduled arrival. Raising one's own nice value needs no
   * privilege. */
  if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) != 0)
    sbx_log("warn", "priority", "could not lower the API thread's priority: %s",
            strerror(errno));

  sbx_api_service(d, &service);
  service.on_end = on_api_end;
  memset(&hc, 0, sizeof(hc));
  hc.host = d->cfg.listen_host != NULL ? d->cfg.listen_host : "127.0.0.1";
  hc.port = d->cfg.listen_port;
  hc.max_body_bytes = d->cfg.max_body_bytes;
  hc.max_connections = d->cfg.max_connections;
  hc.max_per_ip = d->cfg.max_per_ip;
  hc.idle_timeout_s = d->cfg.idle_timeout_s;
  hc.header_deadline_s = d->cfg.header_deadline_s;
  hc.on_request = on_request;
  hc.arg = d;
  if ((rc = sbx_httpd_start(loop, &hc, &d->httpd, diag)) != 0)
    goto fail;

  sbx_daemon_reload(d);
  if ((rc = sbx_sched_resume(d->sched)) != 0) {
    sbx_diag_set(diag, "could not resume the queue: %s", sbx_strerror(rc));
    goto fail;
  }

  uv_timer_init(loop, &d->heartbeat);
  d->heartbeat.data = d;
  uv_timer_start(&d->heartbeat, on_heartbeat, 10000, 10000);
  uv_signal_init(loop, &d->sig_term);
  uv_signal_init(loop, &d->sig_int);
  uv_signal_init(loop, &d->sig_hup);
  d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
  uv_signal_start(&d->sig_term, on_signal, SIGTERM);
  uv_signal_start(&d->sig_int, on_signal, SIGINT);
  uv_signal_start(&d->sig_hup, on_signal, SIGHUP);

  sbx_log("info", "listening",
          "url=http://%s:%d data_dir=%s lanes=%u key=%s version=%s",
          hc.host, sbx_httpd_port(d->httpd), d->cfg.data_dir, d->cfg.lanes,
          sbx_signer_keyid(d->signer), SBX_VERSION);
  if (d->cfg.port_file != NULL &&
      (rc = write_port_file(d->cfg.port_file, sbx_httpd_port(d->httpd),
                            diag)) != 0) {
    sbx_daemon_stop(d);
    return rc;
  }
  return 0;
fail:
  if (d->httpd != NULL) {
    sbx_httpd_stop(d->httpd, NULL, NULL);
    d->httpd = NULL;
  }
  if (d->sched != NULL) {
    sbx_sched_stop(d->sched, NULL, NULL);
  }
  if (d->webhook != NULL) {
    sbx_webhook_close(d->webhook, NULL, NULL);
    d->webhook = NULL;
  }
  sbx_metrics_free(d->metrics);
  d->metrics = NULL;
  sbx_signer_free(d->signer);
  d->signer = NULL;
  sbx_store_close(d->store);
  d->store = NULL;
  return rc;
}

/* The stop sequence: HTTP first (no new calls, streams ended), then the
 * runs (interrupted, their state stored), then webhooks, then the store. */
static void part_stopped(void *arg) {
  struct sbx_daemon *d = arg;
  if (--d->pending_stops > 0)
    return;
  sbx_sched_free(d->sched);
  d->sched = NULL;
  sbx_api_free(d);
  sbx_metrics_free(d->metrics);
  d->metrics = NULL;
  sbx_signer_free(d->signer);
  d->signer = NULL;
  if (sbx_store_close(d->store) != 0) {
    sbx_log("error", "store_close", "dir=%s", d->cfg.data_dir);
    d->exit_code = 3;
  }
  d->store = NULL;
  sbx_log("info", "stopped", "exit=%d", d->exit_code);
}

static void on_sched_stopped(void *arg) {
  struct sbx_daemon *d = arg;
  sbx_webhook_close(d->webhook, part_stopped, d);
  d->webhook = NULL;
}

void sbx_daemon_stop(struct sbx_daemon *d) {
  if (d->stopping)
    return;
  d->stopping = 1;
  uv_timer_stop(&d->heartbeat);
  uv_close((uv_handle_t *)&d->heartbeat, NULL);
  uv_close((uv_handle_t *)&d->sig_term, NULL);
  uv_close((uv_handle_t *)&d->sig_int, NULL);
  uv_close((uv_handle_t *)&d->sig_hup, NULL);
  sbx_api_end_watchers(d);
  d->pending_stops = 2; /* httpd, then scheduler + webhooks */
  sbx_httpd_stop(d->httpd, part_stopped, d);
  d->httpd = NULL;
  sbx_sched_stop(d->sched, on_sched_stopped, d);
}
