/* sbx_main.c - the sbx command-line client.
 *
 * Local subcommands: test (run a scenario against an endpoint in-process,
 * with a local store), spec validate, result show/list/samples (a local
 * store), verify (a signed result, offline), version, help. The commands
 * that talk to sandboxd (scenario, product, run, match, result get/list,
 * leaderboard, keys, token, whoami) live in cmd_client.c; this file only
 * dispatches to them and owns the process-wide state they share.
 * Exit codes: 0 pass, 1 verification failed (FAIL or INVALID), 2 usage or
 * input error, 3 could not run.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "dataset.h"
#include "pbjson.h"
#include "progress.h"
#include "report.h"
#include "run.h"
#include "spec.h"
#include "store.h"
#include "units.h"

enum {
  EXIT_PASS = 0,
  EXIT_FAILED = 1,
  EXIT_USAGE = 2,
  EXIT_NORUN = 3
};

#define DEFAULT_DATA_DIR "sbx-data"

static const char usage_main[] =
    "sbx - scenario sandbox client\n"
    "\n"
    "Usage, on this machine:\n"
    "  sbx test --scenario PATH (--endpoint URL | --plugin LIB) [options]\n"
    "                                 run a scenario against a product\n"
    "  sbx spec validate PATH         check a scenario spec and its dataset\n"
    "  sbx result show RUN_ID [--data-dir DIR] [--json]\n"
    "                                 print a stored result again\n"
    "  sbx result list --data-dir DIR list the runs in a store\n"
    "  sbx result samples RUN_ID [--data-dir DIR]\n"
    "                                 every request of a run, as CSV\n"
    "  sbx verify FILE --key PUBKEY   check a signed result offline\n"
    "  sbx version                    print the version\n"
    "  sbx help [COMMAND]             show help for a command\n"
    "\n"
    "Usage, with sandboxd ([--server URL] [--token T] [--json] before or\n"
    "after the command; defaults $SBX_SERVER or " SBX_CMD_DEFAULT_SERVER
    ", $SBX_TOKEN):\n"
    "  sbx scenario publish|list|show publish and read scenarios\n"
    "  sbx product register|list|show submit and read products\n"
    "  sbx run start|show|list|cancel|watch\n"
    "                                 official runs (start --wait: like test)\n"
    "  sbx match start|show           several products side by side\n"
    "  sbx result get|list            results (signed) from sandboxd\n"
    "  sbx leaderboard SCENARIO       products ranked on a scenario\n"
    "  sbx keys [--out FILE]          the result signing keys\n"
    "  sbx token create|list|revoke   API tokens; sbx whoami: yours\n"
    "\n"
    "Every command takes --help. Exit codes: 0 pass, 1 verification failed\n"
    "(FAIL or INVALID), 2 usage or input error (or a request the API\n"
    "refused), 3 could not run (or sandboxd unreachable).\n";

static const char usage_test[] =
    "Usage: sbx test --scenario PATH --endpoint URL [options]\n"
    "       sbx test --scenario PATH --plugin LIBRARY.so [options]\n"
    "\n"
    "Replays a scenario's cases against a product (an HTTP endpoint, or a\n"
    "plugin library run in a jailed host process) under the "
    "scenario's\n"
    "load, checks every answer, prints a summary and exits with the "
    "verdict.\n"
    "Every sample is stored in the local store (--data-dir).\n"
    "\n"
    "  --scenario PATH      scenario directory (with spec.yaml) or spec "
    "file\n"
    "  --endpoint URL       the product, e.g. http://127.0.0.1:8080\n"
    "  --plugin LIBRARY     the product, a shared library built against\n"
    "                       sbx_plugin.h (pkg-config --cflags sbx-plugin)\n"
    "  --plugin-config FILE bytes handed to the plugin's create()\n"
    "  --ipc socket|ring    plugin transport (default socket)\n"
    "  --junit FILE         write a JUnit XML report (one testcase per "
    "criterion\n"
    "                       and one for validity)\n"
    "  --json FILE          write the result as JSON (proto3 JSON mapping)\n"
    "  --data-dir DIR       store directory (default: ./" DEFAULT_DATA_DIR
    ")\n"
    "  --warmup DUR         override load.warmup (e.g. 1s)\n"
    "  --duration DUR       override load.min_duration\n"
    "  --max-duration DUR   override load.max_duration\n"
    "  --min-cases N        override load.min_cases\n"
    "  --concurrency N      override load.concurrency (closed loop)\n"
    "  --rate R             override load.rate (open loop, e.g. 1000/s)\n"
    "  --timeout DUR        override load.timeout (per request)\n"
    "  --seed N             override load.seed (case order, arrivals)\n"
    "  --http-client C      auto (default: the spec's choice, else fast for\n"
    "                       plain http://, libcurl for https, credentials,\n"
    "                       ...), curl or fast\n"
    "  --no-progress        no live progress line (none is drawn unless\n"
    "                       stderr is a terminal anyway)\n"
    "  --quiet              print only the verdict line\n"
    "  --no-color           no ANSI colors in the summary\n"
    "\n"
    "Overrides are recorded in the result. Exit codes: 0 PASS, 1 FAIL or\n"
    "INVALID, 2 usage or input error, 3 could not run (product "
    "unreachable,\n"
    "store failure).\n";

static const char usage_spec[] =
    "Usage: sbx spec validate PATH\n"
    "\n"
    "Checks a scenario spec (a directory with spec.yaml, or a .yaml file) "
    "and\n"
    "its dataset. Prints the scenario's name, case count and digest, or the\n"
    "first error as FILE:LINE:COL: FIELD: problem; fix. Exit 0 if valid, 2 "
    "if not.\n";

static const char usage_result[] =
    "Usage: sbx result show RUN_ID [--data-dir DIR] [--json] [--no-color]\n"
    "       sbx result list --data-dir DIR\n"
    "       sbx result samples RUN_ID [--data-dir DIR]\n"
    "       sbx result get RUN_ID [--out FILE]          (from sandboxd)\n"
    "       sbx result list [--scenario S] [--product P] [--vendor V]\n"
    "                       [--verdict V] [--match ID] [--limit N]\n"
    "                                                   (from sandboxd)\n"
    "\n"
    "show, samples, and list with --data-dir read a local store (the one\n"
    "sbx test writes): show prints a stored result again (as the summary,\n"
    "or as JSON with --json) and exits with its verdict's code; list prints\n"
    "one line per run; samples prints every stored request of a run as CSV\n"
    "(times in ns from the start of the run; latency_us from the scheduled\n"
    "time). --data-dir defaults to ./" DEFAULT_DATA_DIR " for show and\n"
    "samples. get, and list without --data-dir, ask sandboxd (sbx result\n"
    "get --help).\n";

static int input_exit(int rc) {
  switch (rc) {
  case SBX_ESPEC:
  case SBX_EDATASET:
  case SBX_ENOENT:
  case SBX_EINVAL:
    return EXIT_USAGE;
  default:
    return EXIT_NORUN;
  }
}

static int bad_value(const char *opt, const char *val, const char *hint) {
  fprintf(stderr, "sbx: %s: invalid value \"%s\"; %s\n", opt, val, hint);
  return EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t *out) {
  return sbx_parse_uint64(s, UINT64_MAX, out);
}

/* --ipc's words. */
static const struct sbx_cmd_choice ipc_choices[] = {
    {.name = "socket", .value = 0},
    {.name = "ring", .value = 1},
    {.name = NULL}};

static int cmd_test(int argc, char **argv) {
  enum {
    O_SCENARIO = 256,
    O_ENDPOINT,
    O_JUNIT,
    O_JSON,
    O_DATA,
    O_WARMUP,
    O_DURATION,
    O_MAXDUR,
    O_MINCASES,
    O_CONC,
    O_RATE,
    O_TIMEOUT,
    O_SEED,
    O_NOPROG,
    O_QUIET,
    O_NOCOLOR,
    O_CLIENT,
    O_PLUGIN,
    O_PLUGIN_CONFIG,
    O_IPC,
    O_HELP
  };
  static const struct option opts[] = {
      {"plugin", required_argument, NULL, O_PLUGIN},
      {"plugin-config", required_argument, NULL, O_PLUGIN_CONFIG},
      {"ipc", required_argument, NULL, O_IPC},
      {"http-client", required_argument, NULL, O_CLIENT},
      {"scenario", required_argument, NULL, O_SCENARIO},
      {"endpoint", required_argument, NULL, O_ENDPOINT},
      {"junit", required_argument, NULL, O_JUNIT},
      {"json", required_argument, NULL, O_JSON},
      {"data-dir", required_argument, NULL, O_DATA},
      {"warmup", required_argument, NULL, O_WARMUP},
      {"duration", required_argument, NULL, O_DURATION},
      {"max-duration", required_argument, NULL, O_MAXDUR},
      {"min-cases", required_argument, NULL, O_MINCASES},
      {"concurrency", required_argument, NULL, O_CONC},
      {"rate", required_argument, NULL, O_RATE},
      {"timeout", required_argument, NULL, O_TIMEOUT},
      {"seed", required_argument, NULL, O_SEED},
      {"no-progress", no_argument, NULL, O_NOPROG},
      {"quiet", no_argument, NULL, O_QUIET},
      {"no-color", no_argument, NULL, O_NOCOLOR},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0}};
  struct sbx_run_request rq;
  struct sbx_progress_line pl;
  struct sbx_diag diag;
  Sbx__V1__Result *res = NULL;
  const char *junit = NULL, *json = NULL;
  int progress = 1, quiet = 0, no_color = 0;
  int c, rc, code, hc;
  uint64_t u;

  memset(&rq, 0, sizeof(rq));
  memset(&diag, 0, sizeof(diag));
  rq.data_dir = DEFAULT_DATA_DIR;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case O_SCENARIO:
      rq.scenario_path = optarg;
      break;
    case O_ENDPOINT:
      rq.endpoint = optarg;
      break;
    case O_JUNIT:
      junit = optarg;
      break;
    case O_JSON:
      json = optarg;
      break;
    case O_DATA:
      rq.data_dir = optarg;
      break;
    case O_WARMUP:
      if (sbx_parse_duration_us(optarg, &rq.overrides.warmup_us) != 0)
        return bad_value("--warmup", optarg, "write e.g. --warmup 2s");
      rq.overrides.has_warmup = 1;
      break;
    case O_DURATION:
      if (sbx_parse_duration_us(optarg, &rq.overrides.min_duration_us) != 0 ||
          rq.overrides.min_duration_us <= 0)
        return bad_value("--duration", optarg, "write e.g. --duration 10s");
      break;
    case O_MAXDUR:
      if (sbx_parse_duration_us(optarg, &rq.overrides.max_duration_us) != 0 ||
          rq.overrides.max_duration_us <= 0)
        return bad_value("--max-duration", optarg,
                         "write e.g. --max-duration 60s");
      break;
    case O_MINCASES:
      if (parse_u64(optarg, &rq.overrides.min_cases) != 0)
        return bad_value("--min-cases", optarg, "write a whole number");
      rq.overrides.has_min_cases = 1;
      break;
    case O_CONC:
      if (parse_u64(optarg, &u) != 0 || u == 0 || u > 10000)
        return bad_value("--concurrency", optarg,
                         "write a whole number from 1 to 10000");
      rq.overrides.concurrency = (uint32_t)u;
      break;
    case O_RATE:
      if (sbx_parse_rate(optarg, &rq.overrides.rate) != 0 ||
          !(rq.overrides.rate > 0))
        return bad_value("--rate", optarg, "write e.g. --rate 1000/s");
      break;
    case O_TIMEOUT:
      if (sbx_parse_duration_us(optarg, &rq.overrides.timeout_us) != 0 ||
          rq.overrides.timeout_us <= 0)
        return bad_value("--timeout", optarg, "write e.g. --timeout 2s");
      break;
    case O_SEED:
      if (parse_u64(optarg, &rq.overrides.seed) != 0)
        return bad_value("--seed", optarg, "write a whole number");
      rq.overrides.has_seed = 1;
      break;
    case O_NOPROG:
      progress = 0;
      break;
    case O_QUIET:
      quiet = 1;
      break;
    case O_NOCOLOR:
      no_color = 1;
      break;
    case O_PLUGIN:
      rq.plugin = optarg;
      break;
    case O_PLUGIN_CONFIG:
      rq.plugin_config = optarg;
      break;
    case O_IPC:
      if (sbx_cmd_parse_choice(ipc_choices, optarg, &rq.plugin_ring) != 0)
        return bad_value("--ipc", optarg, "write socket or ring");
      break;
    case O_CLIENT:
      if (sbx_cmd_parse_choice(sbx_cmd_http_clients, optarg, &hc) != 0)
        return bad_value("--http-client", optarg,
                         "write auto, curl or fast");
      rq.http_client = hc;
      break;
    case O_HELP:
      return sbx_cmd_help(usage_test);
    default:
      return sbx_cmd_try_help("test");
    }
  }
  if (optind < argc) {
    fprintf(stderr, "sbx test: unexpected argument \"%s\"; try 'sbx test "
                    "--help'\n", argv[optind]);
    return EXIT_USAGE;
  }
  if (rq.scenario_path == NULL ||
      (rq.endpoint == NULL) == (rq.plugin == NULL)) {
    fprintf(stderr,
            "sbx test: %s; e.g. sbx test --scenario sandbox-specs/web-static "
            "--endpoint http://127.0.0.1:8080, or sbx test --scenario "
            "sandbox-specs/route-plan --plugin ./libmyrouter.so\n",
            rq.scenario_path == NULL ? "--scenario is required"
            : rq.endpoint == NULL    ? "the product is missing: give "
                                       "--endpoint URL or --plugin LIBRARY"
                                     : "give either --endpoint or --plugin, "
                                       "not both");
    return EXIT_USAGE;
  }

  sbx_progress_init(&pl, stderr, progress);
  rq.on_progress = sbx_progress_update;
  rq.progress_arg = &pl;
  rc = sbx_run_local(&rq, &res, &diag);
  sbx_progress_clear(&pl);
  if (rc != 0) {
    fprintf(stderr, "sbx test: %s\n", diag.msg[0] ? diag.msg
                                                  : sbx_strerror(rc));
    return input_exit(rc);
  }
  code = sbx_cmd_verdict_exit(res->verdict);
  if (quiet) {
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&sbx__v1__verdict__descriptor,
                                             res->verdict);
    printf("%s run %" PRIu64 "\n", v ? v->name + 8 : "?", res->run_id);
  } else {
    sbx_report_text(stdout, res, sbx_cmd_want_color(stdout, no_color));
    printf("stored    run %" PRIu64 " in %s (sbx result show %" PRIu64
           " --data-dir %s)\n",
           res->run_id, rq.data_dir, res->run_id, rq.data_dir);
  }
  if (sbx_cmd_write_reports("test", res, junit, json) != 0)
    code = EXIT_NORUN;
  if (res->verdict == SBX__V1__VERDICT__VERDICT_ERROR)
    fprintf(stderr, "sbx test: could not run: %s\n",
            res->error_message ? res->error_message : "unknown error");
  sbx__v1__result__free_unpacked(res, NULL);
  return code;
}

static int cmd_spec(int argc, char **argv) {
  Sbx__V1__Scenario *sc = NULL;
  struct sbx_dataset *ds = NULL;
  struct sbx_diag diag;
  size_t i;
  int rc;
  if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
    fputs(usage_spec, stdout);
    return EXIT_PASS;
  }
  if (argc < 2 || strcmp(argv[1], "validate") != 0) {
    fputs(usage_spec, stderr);
    return EXIT_USAGE;
  }
  if (argc >= 3 && strcmp(argv[2], "--help") == 0) {
    fputs(usage_spec, stdout);
    return EXIT_PASS;
  }
  if (argc != 3) {
    fputs(usage_spec, stderr);
    return EXIT_USAGE;
  }
  memset(&diag, 0, sizeof(diag));
  rc = sbx_spec_load(argv[2], &sc, &ds, &diag);
  if (rc != 0) {
    fprintf(stderr, "%s\n", diag.msg[0] ? diag.msg : sbx_strerror(rc));
    return input_exit(rc);
  }
  printf("ok: %s@%s \"%s\": %zu cases, %zu criteria\ndigest sha256:",
         sc->name, sc->version, sc->title, ds->n_cases, sc->n_criteria);
  for (i = 0; i < sc->digest.len; i++)
    printf("%02x", sc->digest.data[i]);
  putchar('\n');
  sbx_scenario_free(sc);
  sbx_dataset_free(ds);
  return EXIT_PASS;
}

static const char *state_name(Sbx__V1__RunState s) {
  const ProtobufCEnumValue *v =
      protobuf_c_enum_descriptor_get_value(&sbx__v1__run_state__descriptor, s);
  return v ? v->name + strlen("RUN_STATE_") : "?";
}

static int list_one(const Sbx__V1__Run *run, void *arg) {
  (void)arg;
  printf("%-6" PRIu64 " %-12s %-24s %s%s%s\n", run->id, state_name(run->state),
         run->scenario, run->product, run->reason && run->reason[0] ? "  " : "",
         run->reason ? run->reason : "");
  return 0;
}

static int print_sample(const Sbx__V1__Sample *s, void *arg) {
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
      &sbx__v1__error_class__descriptor, s->error);
  (void)arg;
  printf("%" PRIu64 ",%" PRIu32 ",%s,%" PRId64 ",%" PRId64 ",%" PRId64
         ",%" PRId64 ",%" PRIu32 ",%s,%" PRIu64 "\n",
         s->seq, s->case_index, s->warmup ? "warmup" : "measure", s->sched_ns,
         s->send_ns, s->done_ns, (s->done_ns - s->sched_ns) / 1000, s->status,
         v ? v->name + strlen("ERROR_CLASS_") : "?", s->body_bytes);
  return 0;
}

static int cmd_result(int argc, char **argv) {
  enum { O_DATA = 256, O_JSON, O_NOCOLOR, O_HELP };
  static const struct option opts[] = {
      {"data-dir", required_argument, NULL, O_DATA},
      {"json", no_argument, NULL, O_JSON},
      {"no-color", no_argument, NULL, O_NOCOLOR},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0}};
  const char *dir = DEFAULT_DATA_DIR;
  const char *verb;
  struct sbx_store *st = NULL;
  struct sbx_diag diag;
  Sbx__V1__Result *res = NULL;
  int json = 0, no_color = 0, c, rc, code;
  uint64_t id = 0;

  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case O_DATA:
      dir = optarg;
      break;
    case O_JSON:
      json = 1;
      break;
    case O_NOCOLOR:
      no_color = 1;
      break;
    case O_HELP:
      return sbx_cmd_help(usage_result);
    default:
      return sbx_cmd_try_help("result");
    }
  }
  if (optind >= argc) {
    fputs(usage_result, stderr);
    return EXIT_USAGE;
  }
  verb = argv[optind];
  if (strcmp(verb, "show") == 0) {
    if (optind + 2 != argc || parse_u64(argv[optind + 1], &id) != 0) {
      fprintf(stderr, "sbx result show: expected one RUN_ID (a number, as "
                      "printed by sbx test or sbx result list)\n");
      return EXIT_USAGE;
    }
  } else if (strcmp(verb, "samples") == 0) {
    if (optind + 2 != argc || parse_u64(argv[optind + 1], &id) != 0) {
      fprintf(stderr, "sbx result samples: expected one RUN_ID\n");
      return EXIT_USAGE;
    }
  } else if (strcmp(verb, "list") != 0 || optind + 1 != argc) {
    fputs(usage_result, stderr);
    return EXIT_USAGE;
  }
  memset(&diag, 0, sizeof(diag));
  if (access(dir, F_OK) != 0) {
    fprintf(stderr, "sbx result: no store at %s; pass the --data-dir that "
                    "sbx test used\n", dir);
    return EXIT_USAGE;
  }
  rc = sbx_store_open(dir, &st, &diag);
  if (rc != 0) {
    fprintf(stderr, "sbx result: %s\n", diag.msg[0] ? diag.msg
                                                    : sbx_strerror(rc));
    return EXIT_NORUN;
  }
  if (strcmp(verb, "list") == 0) {
    rc = sbx_store_list_runs(st, list_one, NULL);
    code = rc == 0 ? EXIT_PASS : EXIT_NORUN;
    goto out;
  }
  if (strcmp(verb, "samples") == 0) {
    Sbx__V1__Run *run = NULL;
    rc = sbx_store_get_run(st, id, &run);
    if (rc != 0) {
      fprintf(stderr, "sbx result samples: no run %" PRIu64 " in %s\n", id,
              dir);
      code = rc == SBX_ENOENT ? EXIT_USAGE : EXIT_NORUN;
      goto out;
    }
    sbx__v1__run__free_unpacked(run, NULL);
    printf("seq,case,phase,sched_ns,send_ns,done_ns,latency_us,status,error,"
           "body_bytes\n");
    rc = sbx_store_foreach_sample(st, id, print_sample, NULL);
    code = rc == 0 ? EXIT_PASS : EXIT_NORUN;
    goto out;
  }
  rc = sbx_store_get_result(st, id, &res);
  if (rc == SBX_ENOENT) {
    fprintf(stderr, "sbx result show: no result for run %" PRIu64
                    " in %s; 'sbx result list --data-dir %s' shows the "
                    "runs\n", id, dir, dir);
    code = EXIT_USAGE;
    goto out;
  }
  if (rc != 0) {
    fprintf(stderr, "sbx result show: %s\n", sbx_strerror(rc));
    code = EXIT_NORUN;
    goto out;
  }
  if (json) {
    char *s = sbx_pbjson_dumps(&res->base, 0, 1);
    if (s == NULL) {
      code = EXIT_NORUN;
      goto out;
    }
    printf("%s\n", s);
    free(s);
  } else {
    sbx_report_text(stdout, res, sbx_cmd_want_color(stdout, no_color));
  }
  code = sbx_cmd_verdict_exit(res->verdict);
out:
  if (res != NULL)
    sbx__v1__result__free_unpacked(res, NULL);
  sbx_store_close(st);
  return code;
}

/* Raised by SIGINT/SIGTERM while a server command runs: the call in
 * progress stops, and the command says what was left running. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig) {
  (void)sig;
  interrupted = 1;
}

/* The server commands stop their call on the first Ctrl-C; the second one
 * (SA_RESETHAND restored the default) ends the process at once. */
static void catch_interrupts(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_interrupt;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

/* Does argv hold --data-dir (the local store's option)? */
static int has_data_dir(int argc, char **argv) {
  int i;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0)
      break;
    if (strcmp(argv[i], "--data-dir") == 0 ||
        strncmp(argv[i], "--data-dir=", 11) == 0)
      return 1;
  }
  return 0;
}

/* The first argument after argv[0] that is not an option or an option's
 * value: the verb of "sbx result ...". */
static const char *first_word(int argc, char **argv) {
  int i;
  for (i = 1; i < argc; i++) {
    if (argv[i][0] != '-')
      return argv[i];
    if (strcmp(argv[i], "--server") == 0 || strcmp(argv[i], "--token") == 0 ||
        strcmp(argv[i], "--out") == 0)
      i++;
  }
  return "";
}

static int cmd_result_any(int argc, char **argv,
                          const struct sbx_cmd_globals *g) {
  const char *verb = first_word(argc, argv);
  if (!has_data_dir(argc, argv) &&
      (strcmp(verb, "get") == 0 || strcmp(verb, "list") == 0))
    return sbx_cmd_result_remote(argc, argv, g);
  if (g->server != NULL || g->token != NULL || g->json) {
    fputs("sbx result: --server, --token and --json before the command go "
          "with sbx result get and list (from sandboxd), not with a local "
          "store\n", stderr);
    return EXIT_USAGE;
  }
  return cmd_result(argc, argv);
}

int main(int argc, char **argv) {
  static const struct {
    const char *name;
    int (*fn)(int argc, char **argv, const struct sbx_cmd_globals *g);
  } client[] = {{"scenario", sbx_cmd_scenario},
                {"product", sbx_cmd_product},
                {"run", sbx_cmd_run},
                {"match", sbx_cmd_match},
                {"leaderboard", sbx_cmd_leaderboard},
                {"keys", sbx_cmd_keys},
                {"token", sbx_cmd_token},
                {"whoami", sbx_cmd_whoami}};
  struct sbx_cmd_globals g = {.interrupted = &interrupted};
  const char *cmd;
  int first = 1, globals = 0, k;
  size_t i;
  /* A product that closes its end (an endpoint, a dying plugin host) must
   * show up as an error class, never kill the harness. */
  signal(SIGPIPE, SIG_IGN);
  /* The server commands' options may come before the command. */
  while (first < argc &&
         (k = sbx_cmd_global_arg(argv + first, argc - first, &g)) > 0) {
    first += k;
    globals = 1;
  }
  if (first >= argc) {
    fputs(usage_main, stderr);
    return EXIT_USAGE;
  }
  argc -= first - 1;
  argv += first - 1;
  cmd = argv[1];
  for (i = 0; i < sizeof(client) / sizeof(client[0]); i++)
    if (strcmp(cmd, client[i].name) == 0) {
      catch_interrupts();
      return client[i].fn(argc - 1, argv + 1, &g);
    }
  if (strcmp(cmd, "result") == 0) {
    catch_interrupts();
    return cmd_result_any(argc - 1, argv + 1, &g);
  }
  if (globals) {
    fprintf(stderr, "sbx: --server, --token and --json before the command go "
                    "with the commands that talk to sandboxd, not with "
                    "\"%s\"\n", cmd);
    return EXIT_USAGE;
  }
  if (strcmp(cmd, "test") == 0)
    return cmd_test(argc - 1, argv + 1);
  if (strcmp(cmd, "spec") == 0)
    return cmd_spec(argc - 1, argv + 1);
  if (strcmp(cmd, "verify") == 0)
    return sbx_cmd_verify(argc - 1, argv + 1);
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    printf("sbx %s\n", SBX_VERSION);
    return EXIT_PASS;
  }
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
      strcmp(cmd, "-h") == 0) {
    const char *topic = argc > 2 ? argv[2] : "";
    const char *text = sbx_cmd_client_usage(topic);
    if (strcmp(topic, "verify") == 0) {
      char *hv[] = {"verify", "--help", NULL};
      return sbx_cmd_verify(2, hv);
    }
    fputs(text != NULL                     ? text
          : strcmp(topic, "test") == 0     ? usage_test
          : strcmp(topic, "spec") == 0     ? usage_spec
          : strcmp(topic, "result") == 0   ? usage_result
                                           : usage_main,
          stdout);
    return EXIT_PASS;
  }
  fprintf(stderr, "sbx: unknown command \"%s\"\n\n%s", cmd, usage_main);
  return EXIT_USAGE;
}
