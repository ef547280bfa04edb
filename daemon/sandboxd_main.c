/* sandboxd_main.c - the daemon's command line.
 *
 *   sandboxd init --data-dir DIR
 *   sandboxd [--config FILE] --data-dir DIR [--listen HOST:PORT] ...
 *
 * The process-wide state (struct sbx_daemon) lives here and nowhere else.
 * Exit codes: 0 stopped cleanly, 2 usage or configuration error, 3 could
 * not start or stop cleanly.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "daemon.h"
#include "units.h"

static struct sbx_daemon daemon_state;

static const char usage[] =
    "usage: sandboxd init --data-dir DIR\n"
    "       sandboxd [--config FILE] [--data-dir DIR] [--listen HOST:PORT]\n"
    "                [--port-file FILE] [--scenarios DIR]... [--lanes N]\n"
    "                [--max-body SIZE] [--plugin-ring]\n"
    "\n"
    "sandboxd serves the sbx.v1.Sandbox API (Connect protocol over HTTP/1.1),\n"
    "queues runs and matches, measures them one lane at a time, and signs\n"
    "every result.\n"
    "\n"
    "  init            create DIR's store, its Ed25519 signing key\n"
    "                  (signing.key, mode 0600; signing.pub) and a first admin\n"
    "                  token, printed once on stdout\n"
    "  --config FILE   settings as \"key = value\" lines (# comments); keys as\n"
    "                  the flags: data_dir, listen, port_file, scenarios,\n"
    "                  lanes, max_body, max_connections, max_per_ip,\n"
    "                  idle_timeout, header_deadline, plugin_ring,\n"
    "                  callback_private (allow|refuse: may result callbacks\n"
    "                  reach loopback, private and link-local addresses;\n"
    "                  default refuse). Flags win.\n"
    "  --data-dir DIR  the store, key and plugin libraries\n"
    "  --listen ADDR   HOST:PORT, [V6]:PORT or PORT (default 127.0.0.1:7800;\n"
    "                  port 0 picks a free one)\n"
    "  --port-file F   write the bound port to F once listening\n"
    "  --scenarios DIR publish the scenario directory DIR (spec.yaml, its\n"
    "                  dataset, private.jsonl if present) at start and on\n"
    "                  SIGHUP; DIR may also hold scenario directories\n"
    "  --lanes N       runs measured at once (default 1: runs never disturb\n"
    "                  each other's numbers)\n"
    "  --max-body SIZE largest API request body (default 256MiB)\n"
    "  --plugin-ring   plugin IPC over the shared-memory ring\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop gracefully (a run being measured ends\n"
    "INTERRUPTED, the store is flushed); SIGHUP publishes the scenario\n"
    "directories again. Logs: one key=value line per event on stderr.\n";

static int cmd_init(int argc, char **argv) {
  const char *dir = NULL;
  struct sbx_diag diag = {""};
  char *secret = NULL;
  int i;
  for (i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage, stdout);
      return 0;
    }
    if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc)
      dir = argv[++i];
    else {
      fprintf(stderr, "sandboxd init: unexpected argument \"%s\"\n\n%s",
              argv[i], usage);
      return 2;
    }
  }
  if (dir == NULL) {
    fprintf(stderr, "sandboxd init: --data-dir DIR is required\n\n%s", usage);
    return 2;
  }
  if (sbx_daemon_init_dir(dir, &secret, &diag) != 0) {
    fprintf(stderr, "sandboxd init: %s\n", diag.msg);
    return 3;
  }
  printf("%s\n", secret);
  fflush(stdout);
  fprintf(stderr,
          "sandboxd: initialised %s (signing key %s/signing.pub); the line "
          "above is the admin token, shown only now: keep it, e.g. "
          "export SBX_TOKEN=...\n",
          dir, dir);
  sodium_memzero(secret, strlen(secret));
  free(secret);
  return 0;
}

int main(int argc, char **argv) {
  struct sbx_daemon *d = &daemon_state;
  struct sbx_diag diag = {""};
  uv_loop_t *loop = uv_default_loop();
  int i, rc;

  signal(SIGPIPE, SIG_IGN);
  if (sodium_init() < 0) {
    fprintf(stderr, "sandboxd: libsodium failed to initialise\n");
    return 3;
  }
  if (argc >= 2 && strcmp(argv[1], "init") == 0)
    return cmd_init(argc, argv);
  sbx_daemon_config_init(&d->cfg);
  /* The config file first, so that flags override it. */
  for (i = 1; i < argc; i++)
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc &&
        sbx_daemon_config_load(&d->cfg, argv[i + 1], &diag) != 0) {
      fprintf(stderr, "sandboxd: %s\n", diag.msg);
      return 2;
    }
  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      return 0;
    }
    if (strcmp(a, "--version") == 0) {
      printf("sandboxd %s\n", SBX_VERSION);
      return 0;
    }
    if (strcmp(a, "--plugin-ring") == 0) {
      d->cfg.plugin_ring = 1;
      continue;
    }
    if (v == NULL) {
      fprintf(stderr, "sandboxd: %s: missing value, or unknown flag\n\n%s", a,
              usage);
      return 2;
    }
    rc = 0;
    if (strcmp(a, "--config") == 0)
      ;
    else if (strcmp(a, "--data-dir") == 0) {
      free(d->cfg.data_dir);
      d->cfg.data_dir = strdup(v);
    } else if (strcmp(a, "--listen") == 0)
      rc = sbx_daemon_config_listen(&d->cfg, v, &diag);
    else if (strcmp(a, "--port-file") == 0) {
      free(d->cfg.port_file);
      d->cfg.port_file = strdup(v);
    } else if (strcmp(a, "--scenarios") == 0) {
      char **nv = realloc(d->cfg.scenario_dirs,
                          (d->cfg.n_scenario_dirs + 1) * sizeof(*nv));
      if (nv == NULL)
        return 3;
      d->cfg.scenario_dirs = nv;
      nv[d->cfg.n_scenario_dirs++] = strdup(v);
    } else if (strcmp(a, "--lanes") == 0) {
      char *end;
      long n = strtol(v, &end, 10);
      if (*end != '\0' || n < 1 || n > 64) {
        sbx_diag_set(&diag, "--lanes: expected 1 to 64, got \"%s\"", v);
        rc = -1;
      } else {
        d->cfg.lanes = (unsigned)n;
      }
    } else if (strcmp(a, "--max-body") == 0) {
      uint64_t n;
      if (sbx_parse_size(v, &n) != 0 || n < 1024) {
        sbx_diag_set(&diag, "--max-body: expected a size of at least 1KiB, "
                            "e.g. 256MiB, got \"%s\"", v);
        rc = -1;
      } else {
        d->cfg.max_body_bytes = (size_t)n;
      }
    } else {
      fprintf(stderr, "sandboxd: unknown flag \"%s\"\n\n%s", a, usage);
      return 2;
    }
    if (rc != 0) {
      fprintf(stderr, "sandboxd: %s\n", diag.msg);
      return 2;
    }
    i++;
  }
  rc = sbx_daemon_start(d, loop, &diag);
  if (rc != 0) {
    sbx_log("error", "start_failed", "error=\"%s\"", diag.msg);
    uv_run(loop, UV_RUN_DEFAULT);
    return rc == SBX_EINVAL ? 2 : 3;
  }
  uv_run(loop, UV_RUN_DEFAULT);
  rc = d->exit_code;
  if (uv_loop_close(loop) != 0) {
    sbx_log("warn", "loop_close", "handles still open at exit");
  }
  sbx_daemon_config_free(&d->cfg);
  return rc;
}
