/* cmd_client.c - the sbx commands that talk to sandboxd, and the pieces
 * every sbx command shares. See cmd.h.
 *
 * Every command is the same three steps, each done by one piece of code
 * here: parse the options (parse_args, from a table of struct opt; the
 * shared --server/--token/--json/--help are added to every table), make
 * one or a few API calls (call: the error printed the standard way and
 * mapped to the exit code), print the answer (show_answer: proto3 JSON
 * with --json, else the command's key/value lines or a table of a
 * struct table_shape). Whatever the server sent is printed through
 * sbx_api_sanitize first: a name or a reason can hold anything.
 */
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "apiclient.h"
#include "connect.h"
#include "digest.h"
#include "leaderboard.h"
#include "pbjson.h"
#include "progress.h"
#include "report.h"
#include "sbx/v1/api.pb-c.h"
#include "spec.h"
#include "store.h"
#include "units.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_NORUN = 3 };

/* Inputs read from files: a dataset or a plugin library may be large, the
 * server has the final word on what it accepts. */
#define MAX_INPUT_FILE (256u * 1024 * 1024)
#define MAX_SECRET_FILE 4096u
#define MAX_PRODUCTS 64
#define MAX_HEADERS 32

/* ---- usage texts ---- */

#define CLIENT_OPTIONS                                                         \
  "Options of every server command (before or after the command):\n"           \
  "  --server URL    sandboxd's API (default $SBX_SERVER, else\n"              \
  "                  " SBX_CMD_DEFAULT_SERVER ")\n"                            \
  "  --token T       bearer token (default $SBX_TOKEN)\n"                      \
  "  --json          print the API's answer as JSON (proto3 mapping)\n"        \
  "  --help          this text\n"

#define LOAD_OPTIONS                                                           \
  "Load overrides (zero or absent keeps the scenario's; recorded in the\n"     \
  "result):\n"                                                                 \
  "  --warmup DUR          load.warmup (e.g. 2s; 0 for none)\n"                \
  "  --min-duration DUR    load.min_duration (alias --duration)\n"             \
  "  --max-duration DUR    load.max_duration\n"                                \
  "  --timeout DUR         load.timeout (per request)\n"                       \
  "  --min-cases N         load.min_cases\n"                                   \
  "  --concurrency N       load.concurrency (closed loop)\n"                   \
  "  --rate R              load.rate (open loop, e.g. 1000/s)\n"               \
  "  --seed N              load.seed (case order, arrivals)\n"

#define EXIT_CODES                                                             \
  "Exit codes: 0 done (PASS), 1 FAIL or INVALID, 2 usage or input error or\n"  \
  "a request the API refused, 3 could not run (server unreachable, run\n"      \
  "ERROR, canceled or interrupted).\n"

static const char usage_client[] = CLIENT_OPTIONS "\n" EXIT_CODES;

static const char usage_scenario[] =
    "Usage: sbx scenario publish DIR [--private-dataset FILE] [--replace]\n"
    "       sbx scenario list\n"
    "       sbx scenario show NAME[@VERSION] [--spec]\n"
    "\n"
    "publish sends DIR/spec.yaml (or the .yaml file DIR), the dataset its\n"
    "dataset.path names and its interface.setup file, if any; with\n"
    "--private-dataset FILE also a private dataset (JSON Lines, never shown\n"
    "to vendors). --replace allows replacing NAME@VERSION. list shows every\n"
    "published scenario; show one (the latest version without @VERSION),\n"
    "with --spec also its spec.yaml.\n"
    "\n" CLIENT_OPTIONS "\n" EXIT_CODES;

static const char usage_product[] =
    "Usage: sbx product register VENDOR/NAME@VERSION --endpoint URL\n"
    "           [--header 'NAME: VALUE']... [--secret-file FILE]\n"
    "           [--callback URL] [--replace]\n"
    "       sbx product register VENDOR/NAME@VERSION --plugin LIB.so\n"
    "           [--plugin-config FILE] [--callback URL] [--replace]\n"
    "       sbx product list [--vendor VENDOR]\n"
    "       sbx product show VENDOR/NAME@VERSION\n"
    "\n"
    "register submits a product: an HTTP endpoint (with extra request\n"
    "headers, and a secret read from FILE that sandboxd sends as a bearer\n"
    "token and never shows again) or a plugin library built against\n"
    "sbx_plugin.h (uploaded; FILE's bytes go to its create()). --callback\n"
    "URL receives each signed result by POST.\n"
    "\n" CLIENT_OPTIONS "\n" EXIT_CODES;

static const char usage_run_start[] =
    "Usage: sbx run start --scenario NAME[@VERSION] --product "
    "VENDOR/NAME@VERSION\n"
    "           [--dataset public|private] [--callback URL]\n"
    "           [--http-client auto|curl|fast] [load overrides]\n"
    "           [--wait [--junit FILE] [--summary-json FILE] [--out FILE]\n"
    "                   [--quiet] [--no-progress] [--no-color]]\n"
    "\n"
    "Queues a run of a published scenario against a registered product.\n"
    "Without --wait it prints the run id and state and exits 0. With --wait\n"
    "it follows the run (a live progress line on a terminal), prints the\n"
    "summary and exits with the verdict, like sbx test.\n"
    "\n"
    "  --dataset D          public or private (default: private when the\n"
    "                       scenario has one and the token may use it)\n"
    "  --callback URL       POST the signed result there when done\n"
    "  --http-client C      force the HTTP client that measures an endpoint\n"
    "  --junit FILE         write a JUnit XML report\n"
    "  --summary-json FILE  write the result as JSON\n"
    "  --out FILE           write the signed result (protobuf) for sbx "
    "verify\n"
    "  --quiet              print only the verdict line\n"
    "  --no-progress        no live progress line\n"
    "  --no-color           no ANSI colors in the summary\n"
    "\n" LOAD_OPTIONS "\n" CLIENT_OPTIONS "\n" EXIT_CODES;

static const char usage_run[] =
    "Usage: sbx run start --scenario S --product P [options]  (sbx run start "
    "--help)\n"
    "       sbx run show RUN_ID\n"
    "       sbx run list [--scenario S] [--product P] [--state STATE] "
    "[--limit N]\n"
    "       sbx run cancel RUN_ID\n"
    "       sbx run watch RUN_ID [--junit FILE] [--summary-json FILE] "
    "[--out FILE]\n"
    "                            [--quiet] [--no-progress] [--no-color]\n"
    "\n"
    "show prints one run; list the newest runs (STATE: queued, preparing,\n"
    "warmup, measuring, verifying, done, error, canceled, interrupted);\n"
    "cancel stops a queued or running run; watch follows a run like\n"
    "run start --wait and exits with its verdict.\n"
    "\n" CLIENT_OPTIONS "\n" EXIT_CODES;

static const char usage_match[] =
    "Usage: sbx match start --scenario NAME[@VERSION] --product A --product "
    "B...\n"
    "           [--rounds N] [--dataset public|private] [--callback URL]\n"
    "           [load overrides] [--wait [--no-progress]]\n"
    "       sbx match show MATCH_ID\n"
    "\n"
    "start runs one scenario against several products under identical\n"
    "conditions (same seed and case order, runs interleaved A B C A B C ...\n"
    "over N rounds). With --wait it follows each run in turn, then prints\n"
    "the match's ranking; it exits 0 if every run got a result, 3 if not.\n"
    "\n" LOAD_OPTIONS "\n" CLIENT_OPTIONS "\n" EXIT_CODES;

static const char usage_result_remote[] =
    "Usage: sbx result get RUN_ID [--out FILE] [--no-color]\n"
    "       sbx result list [--scenario S] [--product P] [--vendor V]\n"
    "                       [--verdict pass|fail|invalid|error]\n"
    "                       [--match ID] [--limit N]\n"
    "\n"
    "get prints a run's result from sandboxd and exits with its verdict;\n"
    "--out FILE writes the signed result (protobuf) for sbx verify. list\n"
    "shows the newest results. (With --data-dir, sbx result reads a local\n"
    "store instead: sbx help result.)\n"
    "\n" CLIENT_OPTIONS "\n" EXIT_CODES;

static const char usage_leaderboard[] =
    "Usage: sbx leaderboard NAME[@VERSION]\n"
    "\n"
    "Ranks the products by their published results on a scenario: rank\n"
    "(\"=\" marks products that cannot be told apart), product, verdict of\n"
    "the best run, score, p99 latency, throughput, error rate, runs.\n"
    "\n" CLIENT_OPTIONS "\n" EXIT_CODES;

static const char usage_keys[] =
    "Usage: sbx keys [--out FILE]\n"
    "\n"
    "Lists sandboxd's result signing keys (no token needed). --out FILE\n"
    "writes the first key as sbx verify --key takes it (base64 of the 32\n"
    "bytes of the Ed25519 public key).\n"
    "\n" CLIENT_OPTIONS "\n" EXIT_CODES;

static const char usage_token[] =
    "Usage: sbx token create --role ROLE [--vendor VENDOR] [--name TEXT]\n"
    "       sbx token list\n"
    "       sbx token revoke TOKEN_ID\n"
    "       sbx whoami\n"
    "\n"
    "ROLE: admin, publisher, evaluator, viewer or vendor (with --vendor).\n"
    "create prints the new secret on the first line - the only time it is\n"
    "ever shown - then the token's id. whoami names the caller's token.\n"
    "\n" CLIENT_OPTIONS "\n" EXIT_CODES;

const char *sbx_cmd_client_usage(const char *topic) {
  static const struct {
    const char *topic;
    const char *text;
  } t[] = {{"client", usage_client},   {"scenario", usage_scenario},
           {"product", usage_product}, {"run", usage_run},
           {"match", usage_match},     {"leaderboard", usage_leaderboard},
           {"keys", usage_keys},       {"token", usage_token},
           {"whoami", usage_token},    {"result-remote", usage_result_remote}};
  size_t i;
  for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
    if (strcmp(topic, t[i].topic) == 0)
      return t[i].text;
  return NULL;
}

/* ---- pieces every sbx command uses (see cmd.h) ---- */

int sbx_cmd_global_arg(char *const *args, int n, struct sbx_cmd_globals *g) {
  const char *a;
  if (n < 1)
    return 0;
  a = args[0];
  if (strcmp(a, "--json") == 0) {
    g->json = 1;
    return 1;
  }
  if ((strcmp(a, "--server") == 0 || strcmp(a, "--token") == 0) && n >= 2) {
    *(a[2] == 's' ? &g->server : &g->token) = args[1];
    return 2;
  }
  if (strncmp(a, "--server=", 9) == 0) {
    g->server = a + 9;
    return 1;
  }
  if (strncmp(a, "--token=", 8) == 0) {
    g->token = a + 8;
    return 1;
  }
  return 0;
}

int sbx_cmd_verdict_exit(int verdict) {
  switch (verdict) {
  case SBX__V1__VERDICT__VERDICT_PASS:
    return EXIT_OK;
  case SBX__V1__VERDICT__VERDICT_FAIL:
  case SBX__V1__VERDICT__VERDICT_INVALID:
    return EXIT_FAILED;
  default:
    return EXIT_NORUN;
  }
}

int sbx_cmd_want_color(FILE *f, int no_color) {
  const char *nc = getenv("NO_COLOR");
  return !no_color && (nc == NULL || nc[0] == '\0') && isatty(fileno(f));
}

int sbx_cmd_help(const char *usage) {
  fputs(usage, stdout);
  return EXIT_OK;
}

int sbx_cmd_try_help(const char *cmd) {
  fprintf(stderr, "Try 'sbx %s --help'.\n", cmd);
  return EXIT_USAGE;
}

const struct sbx_cmd_choice sbx_cmd_http_clients[] = {
    {.name = "curl", .value = SBX__V1__HTTP_CLIENT__HTTP_CLIENT_CURL},
    {.name = "fast", .value = SBX__V1__HTTP_CLIENT__HTTP_CLIENT_FAST},
    {.name = "auto", .value = SBX__V1__HTTP_CLIENT__HTTP_CLIENT_AUTO},
    {.name = NULL}};

int sbx_cmd_parse_choice(const struct sbx_cmd_choice *choices, const char *text,
                         int *out) {
  for (; choices->name != NULL; choices++) {
    if (strcmp(text, choices->name) == 0) {
      *out = choices->value;
      return 0;
    }
  }
  return SBX_EINVAL;
}

int sbx_cmd_write_reports(const char *cmd, const Sbx__V1__Result *res,
                          const char *junit, const char *json) {
  struct sbx_diag diag = {{0}};
  int rc = 0;
  if (junit != NULL && sbx_report_junit(junit, res, &diag) != 0) {
    fprintf(stderr, "sbx %s: %s\n", cmd, diag.msg);
    rc = SBX_EIO;
  }
  if (json != NULL && sbx_report_json(json, res, &diag) != 0) {
    fprintf(stderr, "sbx %s: %s\n", cmd, diag.msg);
    rc = SBX_EIO;
  }
  return rc;
}

/* ---- small formatting helpers ---- */

void sbx_cmd_format_time(int64_t unix_ms, char *buf, size_t len) {
  time_t t;
  struct tm tm;
  char tmp[64];
  size_t n;
  if (len == 0)
    return;
  if (unix_ms <= 0) {
    snprintf(buf, len, "-");
    return;
  }
  t = (time_t)(unix_ms / 1000);
  if (localtime_r(&t, &tm) == NULL ||
      (n = strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S%z", &tm)) < 5) {
    snprintf(buf, len, "%" PRId64, unix_ms);
    return;
  }
  /* strftime's %z is +hhmm; ISO-8601's extended form wants +hh:mm. */
  snprintf(buf, len, "%.*s:%s", (int)(n - 2), tmp, tmp + n - 2);
}

static void format_hex(const uint8_t *p, size_t n, size_t max_bytes, char *buf,
                       size_t len) {
  size_t i, o = 0;
  if (len == 0)
    return;
  buf[0] = '\0';
  if (n > max_bytes)
    n = max_bytes;
  for (i = 0; i < n && o + 3 <= len; i++)
    o += (size_t)snprintf(buf + o, len - o, "%02x", p[i]);
  if (n == 0)
    snprintf(buf, len, "-");
}

/* A digest as "sha256:" and its first 6 bytes in hex, like git's short ids;
 * show prints the full one. */
static void format_short_digest(ProtobufCBinaryData d, char *buf, size_t len) {
  char hex[16];
  if (d.len == 0) {
    snprintf(buf, len, "-");
    return;
  }
  format_hex(d.data, d.len, 6, hex, sizeof(hex));
  snprintf(buf, len, "%s", hex);
}

static void format_full_digest(ProtobufCBinaryData d, char *buf, size_t len) {
  char hex[2 * 64 + 1];
  if (d.len == 0) {
    snprintf(buf, len, "-");
    return;
  }
  format_hex(d.data, d.len, 64, hex, sizeof(hex));
  snprintf(buf, len, "sha256:%s", hex);
}

static void format_us(int64_t us, char *buf, size_t len) {
  if (us <= 0)
    snprintf(buf, len, "-");
  else
    sbx_format_duration_us(us, buf, len);
}

static void format_rate(double r, char *buf, size_t len) {
  if (!isfinite(r))
    snprintf(buf, len, "-");
  else if (r >= 100)
    snprintf(buf, len, "%.0f/s", r);
  else
    snprintf(buf, len, "%.3g/s", r);
}

static void format_fraction(double f, char *buf, size_t len) {
  if (!isfinite(f))
    snprintf(buf, len, "-");
  else
    snprintf(buf, len, "%.3g%%", f * 100);
}

static void format_score(double s, char *buf, size_t len) {
  if (!isfinite(s))
    snprintf(buf, len, "-");
  else
    snprintf(buf, len, "%.6g", s);
}

/* The enum value's name without prefix, e.g. "DONE" for RUN_STATE_DONE;
 * lower: in lowercase. buf holds at least 32 bytes. */
static const char *enum_name(const ProtobufCEnumDescriptor *d, int v,
                             const char *prefix, int lower, char *buf,
                             size_t len) {
  const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
  const char *s;
  size_t i;
  if (ev == NULL) {
    snprintf(buf, len, "%d", v);
    return buf;
  }
  s = ev->name;
  if (strncmp(s, prefix, strlen(prefix)) == 0)
    s += strlen(prefix);
  snprintf(buf, len, "%s", s);
  for (i = 0; lower && buf[i] != '\0'; i++)
    buf[i] = (char)(buf[i] >= 'A' && buf[i] <= 'Z' ? buf[i] + 32 : buf[i]);
  return buf;
}

/* Parses "done", "DONE" or "RUN_STATE_DONE" (dashes for underscores too)
 * into the enum's value; the UNSPECIFIED value 0 is refused. */
static int parse_enum(const ProtobufCEnumDescriptor *d, const char *prefix,
                      const char *text, int *out) {
  char name[96];
  const ProtobufCEnumValue *ev;
  size_t i, o = 0, plen = strlen(prefix);
  if (strlen(text) + plen + 1 > sizeof(name))
    return SBX_EINVAL;
  if (strncasecmp(text, prefix, plen) != 0) {
    memcpy(name, prefix, plen);
    o = plen;
  }
  for (i = 0; text[i] != '\0'; i++) {
    char ch = text[i];
    name[o++] = ch == '-' ? '_' : (ch >= 'a' && ch <= 'z') ? ch - 32 : ch;
  }
  name[o] = '\0';
  ev = protobuf_c_enum_descriptor_get_value_by_name(d, name);
  if (ev == NULL || ev->value == 0)
    return SBX_EINVAL;
  *out = ev->value;
  return 0;
}

static const char *state_name(int s, char *buf, size_t len) {
  return enum_name(&sbx__v1__run_state__descriptor, s, "RUN_STATE_", 0, buf,
                   len);
}

static const char *verdict_name(int v, char *buf, size_t len) {
  return enum_name(&sbx__v1__verdict__descriptor, v, "VERDICT_", 0, buf, len);
}

static const char *role_name(int r, char *buf, size_t len) {
  return enum_name(&sbx__v1__role__descriptor, r, "ROLE_", 1, buf, len);
}

/* "label   value" with the value (from the server) made printable. */
static void kv(const char *label, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void kv(const char *label, const char *fmt, ...) {
  char buf[4096];
  size_t i, n;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  /* One line per key: a folded YAML description ends in a newline. */
  for (n = strlen(buf); n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' ||
                                  buf[n - 1] == '\r' || buf[n - 1] == '\t');)
    buf[--n] = '\0';
  for (i = 0; i < n; i++)
    if (buf[i] == '\n')
      buf[i] = ' ';
  sbx_api_sanitize(buf);
  printf("%-13s %s\n", label, buf);
}

static const char *str(const char *s) {
  return s != NULL ? s : "";
}

static int nonempty(const char *s) {
  return s != NULL && s[0] != '\0';
}

/* kv for a value the server may leave out: no line without one. */
static void kv_opt(const char *label, const char *value) {
  if (nonempty(value))
    kv(label, "%s", value);
}

static void kv_time(const char *label, int64_t unix_ms) {
  char buf[64];
  sbx_cmd_format_time(unix_ms, buf, sizeof(buf));
  kv(label, "%s", buf);
}

static void kv_digest(const char *label, ProtobufCBinaryData d) {
  char buf[160];
  format_full_digest(d, buf, sizeof(buf));
  kv(label, "%s", buf);
}

/* The n items joined with ", " into buf (cut at len). */
static void join(char *const *items, size_t n, char *buf, size_t len) {
  size_t i, used;
  buf[0] = '\0';
  for (i = 0; i < n; i++) {
    used = strlen(buf);
    snprintf(buf + used, len - used, "%s%s", i ? ", " : "", str(items[i]));
  }
}

/* How long run r took into buf; returns 0 with "-" if it has not both
 * started and ended. */
static int format_took(const Sbx__V1__Run *r, char *buf, size_t len) {
  if (r->ended_unix_ms > 0 && r->started_unix_ms > 0 &&
      r->ended_unix_ms >= r->started_unix_ms) {
    sbx_format_duration_us((r->ended_unix_ms - r->started_unix_ms) * 1000, buf,
                           len);
    return 1;
  }
  snprintf(buf, len, "-");
  return 0;
}

/* The cells of a result summary in a table (results, leaderboards). */
struct metric_cells {
  char verdict[32], score[32], p99[32], tput[32], er[32];
};

/* Fills m from s; every cell "-" when s is NULL (no ranked run). */
static void metric_cells(const Sbx__V1__ResultSummary *s,
                         struct metric_cells *m) {
  if (s == NULL) {
    *m = (struct metric_cells){
        .verdict = "-", .score = "-", .p99 = "-", .tput = "-", .er = "-"};
    return;
  }
  verdict_name(s->verdict, m->verdict, sizeof(m->verdict));
  format_score(s->score, m->score, sizeof(m->score));
  format_us(s->p99_us, m->p99, sizeof(m->p99));
  format_rate(s->throughput, m->tput, sizeof(m->tput));
  format_fraction(s->error_rate, m->er, sizeof(m->er));
}

/* ---- the table ---- */

void sbx_table_init(struct sbx_table *t, size_t ncols, const char *const *heads,
                    unsigned right) {
  size_t i;
  memset(t, 0, sizeof(*t));
  t->ncols = ncols > SBX_TABLE_MAX_COLS ? SBX_TABLE_MAX_COLS : ncols;
  for (i = 0; i < t->ncols; i++)
    t->heads[i] = heads[i];
  t->right = right;
}

/* Characters (UTF-8 code points) in s. */
static size_t width(const char *s) {
  size_t n = 0;
  for (; *s != '\0'; s++)
    n += ((unsigned char)*s & 0xc0) != 0x80;
  return n;
}

/* A sanitized copy of s cut to SBX_TABLE_MAX_CELL characters. */
static char *cell_copy(const char *s) {
  size_t i, chars = 0, cut = 0;
  char *c = strdup(s != NULL ? s : "");
  if (c == NULL)
    return NULL;
  sbx_api_sanitize(c);
  if (width(c) <= SBX_TABLE_MAX_CELL)
    return c;
  for (i = 0; c[i] != '\0'; i++) {
    if (((unsigned char)c[i] & 0xc0) != 0x80) {
      if (chars == SBX_TABLE_MAX_CELL - 3) {
        cut = i;
        break;
      }
      chars++;
    }
  }
  memcpy(c + cut, "...", 4);
  return c;
}

int sbx_table_add(struct sbx_table *t, const char *const *cells) {
  size_t i, base;
  char **nc;
  if (t->nrows == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    nc = realloc(t->cells, cap * t->ncols * sizeof(*nc));
    if (nc == NULL)
      goto fail;
    t->cells = nc;
    t->cap = cap;
  }
  base = t->nrows * t->ncols;
  for (i = 0; i < t->ncols; i++) {
    t->cells[base + i] = cell_copy(cells[i]);
    if (t->cells[base + i] == NULL) {
      while (i-- > 0)
        free(t->cells[base + i]);
      goto fail;
    }
  }
  t->nrows++;
  return 0;
fail:
  t->failed = 1;
  return SBX_ENOMEM;
}

static void print_row(const struct sbx_table *t, FILE *f, const size_t *w,
                      const char *const *row) {
  size_t i, pad, last = t->ncols;
  /* Empty cells at the end of a row leave no trailing blanks. */
  while (last > 1 && row[last - 1][0] == '\0')
    last--;
  for (i = 0; i < last; i++) {
    const char *s = row[i];
    pad = w[i] - width(s);
    if (t->right & (1u << i)) {
      fprintf(f, "%*s%s", (int)pad, "", s);
    } else {
      fputs(s, f);
      if (i + 1 < last)
        fprintf(f, "%*s", (int)pad, "");
    }
    if (i + 1 < last)
      fputs("  ", f);
  }
  fputc('\n', f);
}

void sbx_table_print(const struct sbx_table *t, FILE *f) {
  size_t w[SBX_TABLE_MAX_COLS] = {0};
  size_t r, i;
  for (i = 0; i < t->ncols; i++)
    w[i] = width(t->heads[i]);
  for (r = 0; r < t->nrows; r++)
    for (i = 0; i < t->ncols; i++)
      if (width(t->cells[r * t->ncols + i]) > w[i])
        w[i] = width(t->cells[r * t->ncols + i]);
  print_row(t, f, w, t->heads);
  for (r = 0; r < t->nrows; r++)
    print_row(t, f, w, (const char *const *)t->cells + r * t->ncols);
  if (t->failed)
    fputs("(out of memory: rows are missing)\n", f);
}

void sbx_table_free(struct sbx_table *t) {
  size_t i;
  for (i = 0; i < t->nrows * t->ncols; i++)
    free(t->cells[i]);
  free(t->cells);
  t->cells = NULL;
  t->nrows = t->cap = 0;
}

/* ---- load overrides ---- */

int sbx_cmd_load_option(const char *name, const char *value,
                        Sbx__V1__LoadOverrides *ov, struct sbx_diag *diag) {
  int64_t us;
  uint64_t u;
  double r;
  const char *hint;

  if (strcmp(name, "warmup") == 0) {
    hint = "write e.g. --warmup 2s, or 0 for none";
    if (sbx_parse_duration_us(value, &us) != 0)
      goto bad;
    ov->warmup_us = us;
    ov->zero_warmup = us == 0;
  } else if (strcmp(name, "min-duration") == 0 ||
             strcmp(name, "duration") == 0) {
    hint = "write e.g. --min-duration 10s";
    if (sbx_parse_duration_us(value, &us) != 0 || us <= 0)
      goto bad;
    ov->min_duration_us = us;
  } else if (strcmp(name, "max-duration") == 0) {
    hint = "write e.g. --max-duration 60s";
    if (sbx_parse_duration_us(value, &us) != 0 || us <= 0)
      goto bad;
    ov->max_duration_us = us;
  } else if (strcmp(name, "timeout") == 0) {
    hint = "write e.g. --timeout 2s";
    if (sbx_parse_duration_us(value, &us) != 0 || us <= 0)
      goto bad;
    ov->timeout_us = us;
  } else if (strcmp(name, "min-cases") == 0) {
    hint = "write a whole number from 1";
    if (sbx_parse_uint64(value, UINT64_MAX, &u) != 0 || u == 0)
      goto bad;
    ov->min_cases = u;
  } else if (strcmp(name, "concurrency") == 0) {
    hint = "write a whole number from 1 to 10000";
    if (sbx_parse_uint64(value, 10000, &u) != 0 || u == 0)
      goto bad;
    ov->concurrency = (uint32_t)u;
  } else if (strcmp(name, "rate") == 0) {
    hint = "write e.g. --rate 1000/s";
    if (sbx_parse_rate(value, &r) != 0 || !(r > 0))
      goto bad;
    ov->rate = r;
  } else if (strcmp(name, "seed") == 0) {
    /* 0 would mean "the spec's seed" on the wire: not what was asked. */
    hint = "write a whole number from 1";
    if (sbx_parse_uint64(value, UINT64_MAX, &u) != 0 || u == 0)
      goto bad;
    ov->seed = u;
  } else {
    return SBX_ENOENT;
  }
  return 0;
bad:
  sbx_diag_set(diag, "--%s: invalid value \"%.200s\"; %s", name, value, hint);
  return SBX_EINVAL;
}

/* ---- the client, calls and their errors ---- */

struct cli {
  const char *cmd;   /* "run start", for messages */
  const char *topic; /* "run start" or "run": what 'sbx TOPIC --help' says */
  const char *usage; /* what --help prints */
  const char *server;
  const char *token;
  int json;
  const volatile sig_atomic_t *interrupted;
  struct sbx_api_client *api;
};

/* Exit code for a failed call: the API refusing the request is the
 * caller's to fix (2); the rest means it could not be done (3). */
static int error_exit(int rc, const struct sbx_api_error *err) {
  if (rc == SBX_ENOMEM || err->unreachable || err->code == 0)
    return EXIT_NORUN;
  switch (err->code) {
  case SBX_CONNECT_INVALID_ARGUMENT:
  case SBX_CONNECT_NOT_FOUND:
  case SBX_CONNECT_ALREADY_EXISTS:
  case SBX_CONNECT_PERMISSION_DENIED:
  case SBX_CONNECT_FAILED_PRECONDITION:
  case SBX_CONNECT_OUT_OF_RANGE:
  case SBX_CONNECT_UNIMPLEMENTED:
  case SBX_CONNECT_UNAUTHENTICATED:
    return EXIT_USAGE;
  default:
    return EXIT_NORUN;
  }
}

/* Says why a call failed, "sbx: <Method>: <code>: <message>" (or how to
 * reach the server); returns the exit code for it. */
static int report_error(const struct cli *cl, const char *method, int rc,
                        const struct sbx_api_error *err) {
  if (err->unreachable) {
    fprintf(stderr,
            "sbx: cannot reach sandboxd at %s: %s; start it with `sandboxd "
            "--data-dir DIR` or pass --server\n",
            cl->server, err->message);
  } else if (rc == SBX_ECANCELED && err->code == 0) {
    fprintf(stderr, "sbx: %s: interrupted\n", method);
  } else if (err->code != 0) {
    fprintf(stderr, "sbx: %s: %s: %s%s\n", method,
            sbx_connect_code_name(err->code), err->message,
            err->code == SBX_CONNECT_UNAUTHENTICATED &&
                    (cl->token == NULL || cl->token[0] == '\0') &&
                    strstr(err->message, "--token") == NULL
                ? " (no token given: pass --token or set SBX_TOKEN)"
                : "");
  } else {
    fprintf(stderr, "sbx: %s: %s\n", method,
            err->message[0] ? err->message : sbx_strerror(rc));
  }
  return error_exit(rc, err);
}

/* Connects on first use; returns an exit code. */
static int cli_open(struct cli *cl) {
  struct sbx_api_error err;
  int rc;
  if (cl->api != NULL)
    return EXIT_OK;
  rc = sbx_api_client_new(cl->server, cl->token, &cl->api, &err);
  if (rc != 0) {
    fprintf(stderr, "sbx %s: %s\n", cl->cmd, err.message);
    return rc == SBX_EINVAL ? EXIT_USAGE : EXIT_NORUN;
  }
  sbx_api_client_set_abort_flag(cl->api, cl->interrupted);
  return EXIT_OK;
}

/* The API's method called name ("ListRuns"): its request and response
 * types. NULL if there is none. */
static const ProtobufCMethodDescriptor *method_of(const char *name) {
  return protobuf_c_service_descriptor_get_method_by_name(
      &sbx__v1__sandbox__descriptor, name);
}

/* One unary call of method, whose answer type the service's descriptor
 * knows; prints the error. Returns an exit code, EXIT_OK with *resp set
 * (the caller frees it). */
static int call(struct cli *cl, const char *method, const void *req,
                void *resp) {
  const ProtobufCMethodDescriptor *m = method_of(method);
  struct sbx_api_error err;
  ProtobufCMessage **out = resp;
  int rc = cli_open(cl);
  if (rc != EXIT_OK)
    return rc;
  if (m == NULL) { /* a typo here, not the user's doing */
    fprintf(stderr, "sbx %s: %s is not a method of the API\n", cl->cmd, method);
    return EXIT_NORUN;
  }
  rc = sbx_api_call(cl->api, method, req, m->output, out, &err);
  if (rc != 0)
    return report_error(cl, method, rc, &err);
  return EXIT_OK;
}

static int print_json(const void *msg) {
  char *s = sbx_pbjson_dumps(msg, 0, 1);
  if (s == NULL) {
    fputs("sbx: out of memory\n", stderr);
    return EXIT_NORUN;
  }
  fputs(s, stdout);
  free(s);
  return EXIT_OK;
}

/* "the answer holds no <what>": a server that left out what the command
 * shows. Returns EXIT_NORUN. */
static int no_answer(const struct cli *cl, const char *what) {
  fprintf(stderr, "sbx %s: the answer holds no %s\n", cl->cmd, what);
  return EXIT_NORUN;
}

/* ---- answers: one call, shown as JSON or as text ---- */

/* What the hooks of an answer get. */
struct reply {
  struct cli *cl;
  void *msg;       /* the answer, of the method's response type */
  const void *ctx; /* the command's: its request, an option, ... */
};

/* How a command shows the answer of its call. */
struct answer {
  const char *method; /* "ListRuns" */
  /* Runs on the answer before anything is printed, --json or not: wipes
   * what must never be shown, checks what show relies on. Returns an exit
   * code, EXIT_OK to go on. NULL: nothing to do. */
  int (*check)(const struct reply *rp);
  /* Prints the answer when --json was not given; returns an exit code. */
  int (*show)(const struct reply *rp);
};

/* Shows msg, an answer to a->method: a->check, then its proto3 JSON with
 * --json, else a->show. Returns the exit code. */
static int show_answer(struct cli *cl, const struct answer *a, void *msg,
                       const void *ctx) {
  const struct reply rp = {.cl = cl, .msg = msg, .ctx = ctx};
  int code = a->check != NULL ? a->check(&rp) : EXIT_OK;
  if (code != EXIT_OK)
    return code;
  return cl->json ? print_json(msg) : a->show(&rp);
}

/* Calls a->method with req and shows the answer (show_answer). Returns the
 * exit code. */
static int call_show(struct cli *cl, const struct answer *a, const void *req,
                     const void *ctx) {
  ProtobufCMessage *resp = NULL;
  int code = call(cl, a->method, req, &resp);
  if (code != EXIT_OK)
    return code;
  code = show_answer(cl, a, resp, ctx);
  protobuf_c_message_free_unpacked(resp, NULL);
  return code;
}

/* ---- tables of answers ---- */

/* The shape of a table that lists the messages of an answer. */
struct table_shape {
  size_t ncols;
  const char *const *heads;
  unsigned right; /* bit i: column i aligned right */
  /* Printed instead of a table without rows; NULL: the heads alone. */
  const char *empty;
  /* Adds rows[i] to t; rows is the answer's array of message pointers. */
  void (*row)(struct sbx_table *t, const void *rows, size_t i);
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Prints the n rows as ts says, to stdout. Returns EXIT_OK. */
static int print_table(const struct table_shape *ts, const void *rows,
                       size_t n) {
  struct sbx_table t;
  size_t i;
  if (n == 0 && ts->empty != NULL) {
    printf("%s\n", ts->empty);
    return EXIT_OK;
  }
  sbx_table_init(&t, ts->ncols, ts->heads, ts->right);
  for (i = 0; i < n; i++)
    ts->row(&t, rows, i);
  sbx_table_print(&t, stdout);
  sbx_table_free(&t);
  return EXIT_OK;
}

/* ---- option parsing, one table per command ---- */

/* An option of a command besides the ones they all take (--server,
 * --token, --json, --help). */
struct opt {
  const char *name; /* without its dashes */
  /* Stores arg (NULL for set_flag and set_unflag, which take none) in dst;
   * returns EXIT_OK, or an exit code after saying what is wrong. */
  int (*set)(struct cli *cl, const struct opt *o, char *arg);
  void *dst;
  const void *aux; /* what set needs besides */
};

#define OPT(n, fn, d)                                                          \
  { .name = (n), .set = (fn), .dst = (d) }
#define OPT_AUX(n, fn, d, a)                                                   \
  { .name = (n), .set = (fn), .dst = (d), .aux = (a) }
#define OPT_END                                                                \
  { .name = NULL }
/* More options than the longest table (run start) has. */
#define MAX_OPTS 32

/* parse_args's "go on": not an exit code. */
#define PARSED (-1)

enum { O_SERVER = 1000, O_TOKEN, O_JSON, O_HELP, O_OPT /* + i: opts[i] */ };

static int usage_error(const struct cli *cl, const char *what) {
  fprintf(stderr, "sbx %s: %s; try 'sbx %s --help'\n", cl->cmd, what,
          cl->topic);
  return EXIT_USAGE;
}

static int bad_value(const struct cli *cl, const char *name, const char *value,
                     const char *hint) {
  fprintf(stderr, "sbx %s: --%s: invalid value \"%.100s\"; %s\n", cl->cmd, name,
          value, hint);
  return EXIT_USAGE;
}

static int check_url(const struct cli *cl, const char *name, const char *url) {
  if (strncasecmp(url, "http://", 7) == 0 ||
      strncasecmp(url, "https://", 8) == 0)
    return EXIT_OK;
  fprintf(stderr,
          "sbx %s: --%s: \"%.200s\" is not an http:// or https:// "
          "URL\n",
          cl->cmd, name, url);
  return EXIT_USAGE;
}

/* dst: char *, the argument itself (argv outlives the command). */
static int set_str(struct cli *cl, const struct opt *o, char *arg) {
  (void)cl;
  *(char **)o->dst = arg;
  return EXIT_OK;
}

/* dst: int (protobuf_c_boolean too), set to 1. */
static int set_flag(struct cli *cl, const struct opt *o, char *arg) {
  (void)cl;
  (void)arg;
  *(int *)o->dst = 1;
  return EXIT_OK;
}

/* dst: int, set to 0 (--no-progress). */
static int set_unflag(struct cli *cl, const struct opt *o, char *arg) {
  (void)cl;
  (void)arg;
  *(int *)o->dst = 0;
  return EXIT_OK;
}

/* dst: uint32_t, a count from 1 to aux's (a const uint32_t). */
static int set_count(struct cli *cl, const struct opt *o, char *arg) {
  uint32_t max = *(const uint32_t *)o->aux;
  uint64_t u;
  char hint[64];
  if (sbx_parse_uint64(arg, max, &u) != 0 || u == 0) {
    snprintf(hint, sizeof(hint), "write a whole number from 1 to %" PRIu32,
             max);
    return bad_value(cl, o->name, arg, hint);
  }
  *(uint32_t *)o->dst = (uint32_t)u;
  return EXIT_OK;
}

/* The words an enum option takes: those of choices, or else the enum's
 * value names in any case, with or without prefix. */
struct enum_words {
  const struct sbx_cmd_choice *choices;
  const ProtobufCEnumDescriptor *desc;
  const char *prefix;
  const char *hint; /* "write a, b or c" */
};

/* dst: an enum of the API (int-sized); aux: struct enum_words. */
static int set_enum(struct cli *cl, const struct opt *o, char *arg) {
  const struct enum_words *w = o->aux;
  int v, rc = w->choices != NULL ? sbx_cmd_parse_choice(w->choices, arg, &v)
                                 : parse_enum(w->desc, w->prefix, arg, &v);
  if (rc != 0)
    return bad_value(cl, o->name, arg, w->hint);
  *(int *)o->dst = v;
  return EXIT_OK;
}

/* dst: char *, an http:// or https:// URL. */
static int set_url(struct cli *cl, const struct opt *o, char *arg) {
  if (check_url(cl, o->name, arg) != EXIT_OK)
    return EXIT_USAGE;
  *(char **)o->dst = arg;
  return EXIT_OK;
}

/* dst: Sbx__V1__LoadOverrides; the option is named after the override. */
static int set_load(struct cli *cl, const struct opt *o, char *arg) {
  struct sbx_diag diag = {{0}};
  if (sbx_cmd_load_option(o->name, arg, o->dst, &diag) != 0) {
    fprintf(stderr, "sbx %s: %s\n", cl->cmd, diag.msg);
    return EXIT_USAGE;
  }
  return EXIT_OK;
}

static int too_many(const struct cli *cl, const struct opt *o) {
  char what[64];
  snprintf(what, sizeof(what), "too many --%s options", o->name);
  return usage_error(cl, what);
}

/* An option given again and again (match start --product). */
struct arg_list {
  char *items[MAX_PRODUCTS];
  size_t n;
};

/* dst: struct arg_list. */
static int set_list(struct cli *cl, const struct opt *o, char *arg) {
  struct arg_list *l = o->dst;
  if (l->n == N_OF(l->items))
    return too_many(cl, o);
  l->items[l->n++] = arg;
  return EXIT_OK;
}

/* "Name: value" into a Header (pointers into the argument, which getopt
 * leaves alone; the colon is overwritten). */
static int parse_header(const struct cli *cl, char *arg, Sbx__V1__Header *h) {
  char *colon = strchr(arg, ':'), *v, *e;
  size_t i;
  if (colon == NULL || colon == arg)
    goto bad;
  for (e = colon; e > arg && (e[-1] == ' ' || e[-1] == '\t'); e--)
    ;
  if (e == arg)
    goto bad;
  for (i = 0; arg + i < e; i++)
    if ((unsigned char)arg[i] <= 0x20 || (unsigned char)arg[i] >= 0x7f)
      goto bad;
  for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
    ;
  for (i = 0; v[i] != '\0'; i++)
    if (v[i] == '\r' || v[i] == '\n')
      goto bad;
  *e = '\0';
  h->name = arg;
  h->value = v;
  return EXIT_OK;
bad:
  fprintf(stderr,
          "sbx %s: --header: \"%.200s\" is not a header; write "
          "--header 'Name: value'\n",
          cl->cmd, arg);
  return EXIT_USAGE;
}

struct header_list {
  Sbx__V1__Header h[MAX_HEADERS];
  Sbx__V1__Header *p[MAX_HEADERS]; /* what Endpoint.headers points to */
  size_t n;
};

/* dst: struct header_list. */
static int set_header(struct cli *cl, const struct opt *o, char *arg) {
  struct header_list *l = o->dst;
  if (l->n == MAX_HEADERS)
    return too_many(cl, o);
  l->h[l->n] = (Sbx__V1__Header)SBX__V1__HEADER__INIT;
  if (parse_header(cl, arg, &l->h[l->n]) != EXIT_OK)
    return EXIT_USAGE;
  l->p[l->n] = &l->h[l->n];
  l->n++;
  return EXIT_OK;
}

#define LOAD_OPTS(ov)                                                          \
  OPT("warmup", set_load, ov), OPT("min-duration", set_load, ov),              \
      OPT("duration", set_load, ov), OPT("max-duration", set_load, ov),        \
      OPT("timeout", set_load, ov), OPT("min-cases", set_load, ov),            \
      OPT("concurrency", set_load, ov), OPT("rate", set_load, ov),             \
      OPT("seed", set_load, ov)

#define WATCH_OPTS(wo)                                                         \
  OPT("junit", set_str, &(wo)->junit),                                         \
      OPT("summary-json", set_str, &(wo)->summary),                            \
      OPT("out", set_str, &(wo)->out), OPT("quiet", set_flag, &(wo)->quiet),   \
      OPT("no-progress", set_unflag, &(wo)->progress),                         \
      OPT("no-color", set_flag, &(wo)->no_color)

/* What getopt said about a bad option; returns EXIT_USAGE. */
static int bad_option(const struct cli *cl, char **argv) {
  const char *arg = optind > 0 ? argv[optind - 1] : "?";
  fprintf(stderr,
          "sbx %s: unknown option \"%s\", or it lacks its value; try 'sbx %s "
          "--help'\n",
          cl->cmd, arg, cl->topic);
  return EXIT_USAGE;
}

/* Reads a verb's command line (argv[0] is the verb): opts (ended by
 * OPT_END; NULL: none) and the shared options, in any order, then exactly
 * nargs (0 or 1) arguments, else nargs_error. *arg (may be NULL) gets the
 * argument. Returns PARSED to go on; otherwise the exit code, after the
 * help or the error was printed. */
static int parse_args(struct cli *cl, int argc, char **argv,
                      const struct opt *opts, int nargs,
                      const char *nargs_error, char **arg) {
  struct option lo[MAX_OPTS + 5] = {
      {.name = "server", .has_arg = required_argument, .val = O_SERVER},
      {.name = "token", .has_arg = required_argument, .val = O_TOKEN},
      {.name = "json", .has_arg = no_argument, .val = O_JSON},
      {.name = "help", .has_arg = no_argument, .val = O_HELP}};
  size_t n;
  int c, code;

  for (n = 0; opts != NULL && opts[n].name != NULL && n < MAX_OPTS; n++)
    lo[4 + n] = (struct option){.name = opts[n].name,
                                .has_arg = opts[n].set == set_flag ||
                                                   opts[n].set == set_unflag
                                               ? no_argument
                                               : required_argument,
                                .val = O_OPT + (int)n};
  optind = 0; /* glibc: start afresh, argv[0] is skipped */
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case O_SERVER:
      cl->server = optarg;
      break;
    case O_TOKEN:
      cl->token = optarg;
      break;
    case O_JSON:
      cl->json = 1;
      break;
    case O_HELP:
      return sbx_cmd_help(cl->usage);
    default:
      if (c < O_OPT || c >= O_OPT + (int)n)
        return bad_option(cl, argv);
      code = opts[c - O_OPT].set(cl, &opts[c - O_OPT], optarg);
      if (code != EXIT_OK)
        return code;
    }
  }
  if (optind + nargs != argc)
    return usage_error(cl, nargs_error);
  if (arg != NULL)
    *arg = nargs > 0 ? argv[optind] : NULL;
  return PARSED;
}

static int parse_id(const struct cli *cl, const char *s, uint64_t *id) {
  if (sbx_parse_uint64(s, UINT64_MAX, id) != 0 || *id == 0) {
    fprintf(stderr,
            "sbx %s: \"%.100s\" is not a run id (a number, as sbx run "
            "list prints it)\n",
            cl->cmd, s);
    return EXIT_USAGE;
  }
  return EXIT_OK;
}

/* parse_args for a verb whose one argument is a RUN_ID, into *id. */
static int parse_run_args(struct cli *cl, int argc, char **argv,
                          const struct opt *opts, uint64_t *id) {
  char *arg;
  int code = parse_args(cl, argc, argv, opts, 1, "expected one RUN_ID", &arg);
  if (code == PARSED && parse_id(cl, arg, id) != EXIT_OK)
    return EXIT_USAGE;
  return code;
}

static const uint32_t max_limit = 1000000, max_rounds = 1000;

static const struct enum_words state_words = {
    .desc = &sbx__v1__run_state__descriptor,
    .prefix = "RUN_STATE_",
    .hint = "write queued, preparing, warmup, measuring, verifying, done, "
            "error, canceled or interrupted"};

static const struct enum_words verdict_words = {
    .desc = &sbx__v1__verdict__descriptor,
    .prefix = "VERDICT_",
    .hint = "write pass, fail, invalid or error"};

static const struct enum_words role_words = {
    .desc = &sbx__v1__role__descriptor,
    .prefix = "ROLE_",
    .hint = "write admin, publisher, evaluator, viewer or vendor"};

static const struct sbx_cmd_choice dataset_choices[] = {
    {.name = "public", .value = SBX__V1__DATASET_CHOICE__DATASET_PUBLIC},
    {.name = "private", .value = SBX__V1__DATASET_CHOICE__DATASET_PRIVATE},
    {.name = "default", .value = SBX__V1__DATASET_CHOICE__DATASET_DEFAULT},
    {.name = NULL}};

static const struct enum_words dataset_words = {
    .choices = dataset_choices, .hint = "write public or private"};

static const struct enum_words http_client_words = {
    .choices = sbx_cmd_http_clients, .hint = "write auto, curl or fast"};

/* ---- files ---- */

/* Reads a regular file of at most max bytes into a malloc'd buffer (one
 * byte longer, NUL-terminated). Prints the error; returns an exit code. */
static int read_file(const struct cli *cl, const char *what, const char *path,
                     size_t max, uint8_t **buf, size_t *len) {
  struct stat st;
  uint8_t *b = NULL;
  size_t got = 0;
  ssize_t n;
  int fd, code = EXIT_USAGE;

  *buf = NULL;
  *len = 0;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "sbx %s: cannot read %s %s: %s\n", cl->cmd, what, path,
            strerror(errno));
    return EXIT_USAGE;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    fprintf(stderr, "sbx %s: %s %s is not a regular file\n", cl->cmd, what,
            path);
    goto out;
  }
  if ((uint64_t)st.st_size > max) {
    fprintf(stderr, "sbx %s: %s %s is larger than %zu bytes\n", cl->cmd, what,
            path, max);
    goto out;
  }
  b = malloc((size_t)st.st_size + 1);
  if (b == NULL) {
    fprintf(stderr, "sbx %s: out of memory reading %s\n", cl->cmd, path);
    code = EXIT_NORUN;
    goto out;
  }
  while (got < (size_t)st.st_size) {
    n = read(fd, b + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      fprintf(stderr, "sbx %s: cannot read %s %s: %s\n", cl->cmd, what, path,
              n < 0 ? strerror(errno) : "it shrank while being read");
      goto out;
    }
    got += (size_t)n;
  }
  b[got] = '\0';
  *buf = b;
  *len = got;
  b = NULL;
  code = EXIT_OK;
out:
  free(b);
  close(fd);
  return code;
}

/* Writes data to path atomically (a temporary file next to it, fsync,
 * rename), so a reader never sees half of it. */
static int write_file(const struct cli *cl, const char *path, const void *data,
                      size_t len, mode_t mode) {
  char tmp[PATH_MAX];
  size_t off = 0;
  ssize_t n;
  int fd, saved;

  if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >= sizeof(tmp)) {
    fprintf(stderr, "sbx %s: path too long: %s\n", cl->cmd, path);
    return EXIT_USAGE;
  }
  fd = mkstemp(tmp);
  if (fd < 0)
    goto fail;
  while (off < len) {
    n = write(fd, (const uint8_t *)data + off, len - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      goto fail_fd;
    off += (size_t)n;
  }
  if (fchmod(fd, mode) != 0 || fsync(fd) != 0)
    goto fail_fd;
  if (close(fd) != 0) {
    fd = -1;
    goto fail_fd;
  }
  if (rename(tmp, path) != 0) {
    fd = -1;
    goto fail_fd;
  }
  return EXIT_OK;
fail_fd:
  saved = errno;
  if (fd >= 0)
    close(fd);
  unlink(tmp);
  errno = saved;
fail:
  fprintf(stderr,
          "sbx %s: cannot write %s: %s; check the directory exists "
          "and is writable\n",
          cl->cmd, path, strerror(errno));
  return EXIT_NORUN;
}

/* dir/rel, or rel itself if it is absolute. */
static int join_path(const char *dir, const char *rel, char *out, size_t len) {
  int n = rel[0] == '/' ? snprintf(out, len, "%s", rel)
                        : snprintf(out, len, "%s/%s", dir, rel);
  return n < 0 || (size_t)n >= len ? SBX_ERANGE : 0;
}

/* ---- the command skeleton: verbs of a noun ---- */

typedef int (*verb_fn)(struct cli *cl, int argc, char **argv);

struct verb {
  const char *name; /* NULL: the command has no verbs (keys, ...) */
  /* The verb; NULL for a verb that is one call and nothing more, which
   * call_verb runs from the three fields below. */
  verb_fn fn;
  const char *topic; /* for 'sbx TOPIC --help' in errors; NULL: the noun */
  const char *usage; /* what its --help prints; NULL: the noun's */
  const struct answer *answer; /* the call, and how its answer shows */
  /* The request's field that takes the verb's one argument (a string, or
   * a run id); NULL: the verb takes none. */
  const char *arg;
  const char *arg_name; /* the argument in messages: "RUN_ID" */
};

/* Runs a verb that is one call: the shared options, its one argument, if
 * any, into a fresh request, then call_show (ctx: the argument). Returns
 * the exit code. */
static int call_verb(struct cli *cl, const struct verb *v, int argc,
                     char **argv) {
  const ProtobufCMethodDescriptor *m = method_of(v->answer->method);
  const ProtobufCFieldDescriptor *f = NULL;
  ProtobufCMessage *req = NULL;
  char what[128], *arg;
  int code;

  if (m != NULL && v->arg != NULL)
    f = protobuf_c_message_descriptor_get_field_by_name(m->input, v->arg);
  if (m == NULL || (v->arg != NULL) != (f != NULL) ||
      (f != NULL && f->type != PROTOBUF_C_TYPE_UINT64 &&
       f->type != PROTOBUF_C_TYPE_STRING)) { /* a typo in a verb table */
    fprintf(stderr, "sbx %s: no request field for the argument\n", cl->cmd);
    return EXIT_NORUN;
  }
  if (f != NULL)
    snprintf(what, sizeof(what), "expected one %s", v->arg_name);
  else
    snprintf(what, sizeof(what), "%s takes no arguments",
             v->name != NULL ? v->name : cl->cmd);
  code = parse_args(cl, argc, argv, NULL, f != NULL, what, &arg);
  if (code != PARSED)
    return code;
  req = malloc(m->input->sizeof_message);
  if (req == NULL) {
    fputs("sbx: out of memory\n", stderr);
    return EXIT_NORUN;
  }
  protobuf_c_message_init(m->input, req);
  code = EXIT_OK;
  if (f != NULL && f->type == PROTOBUF_C_TYPE_UINT64)
    code = parse_id(cl, arg, (uint64_t *)((char *)req + f->offset));
  else if (f != NULL)
    *(char **)((char *)req + f->offset) = arg;
  if (code == EXIT_OK)
    code = call_show(cl, v->answer, req, arg);
  free(req);
  return code;
}

static int dispatch(const char *noun, const char *usage,
                    const struct verb *verbs, size_t n, int argc, char **argv,
                    const struct sbx_cmd_globals *g) {
  struct sbx_cmd_globals o = *g;
  const struct verb *v = NULL;
  struct cli cl;
  char cmd[64];
  size_t i;
  int k, code;

  if (o.server == NULL || o.server[0] == '\0')
    o.server = getenv("SBX_SERVER");
  if (o.server == NULL || o.server[0] == '\0')
    o.server = SBX_CMD_DEFAULT_SERVER;
  if (o.token == NULL)
    o.token = getenv("SBX_TOKEN");
  if (verbs[0].name == NULL) {
    v = &verbs[0];
    snprintf(cmd, sizeof(cmd), "%s", noun);
  } else {
    /* "sbx run --json list": the shared options may also precede the verb. */
    while (argc >= 2 && (k = sbx_cmd_global_arg(argv + 1, argc - 1, &o)) > 0) {
      argv[k] = argv[0];
      argc -= k;
      argv += k;
    }
    if (argc < 2) {
      fputs(usage, stderr);
      return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0)
      return sbx_cmd_help(usage);
    for (i = 0; i < n && v == NULL; i++)
      if (strcmp(argv[1], verbs[i].name) == 0)
        v = &verbs[i];
    if (v == NULL) {
      fprintf(stderr, "sbx %s: unknown subcommand \"%.100s\"\n\n%s", noun,
              argv[1], usage);
      return EXIT_USAGE;
    }
    snprintf(cmd, sizeof(cmd), "%s %s", noun, v->name);
    /* The verb sees argv from its own name on, so getopt works as is. */
    argc--;
    argv++;
  }
  cl = (struct cli){.cmd = cmd,
                    .topic = v->topic != NULL ? v->topic : noun,
                    .usage = v->usage != NULL ? v->usage : usage,
                    .server = o.server,
                    .token = o.token,
                    .json = o.json,
                    .interrupted = o.interrupted};
  code = v->fn != NULL ? v->fn(&cl, argc, argv) : call_verb(&cl, v, argc, argv);
  sbx_api_client_free(cl.api);
  return code;
}

/* ---- scenario ---- */

static void private_cases(const Sbx__V1__ScenarioInfo *si, char *buf,
                          size_t len) {
  if (!si->has_private_dataset)
    snprintf(buf, len, "no");
  else if (si->private_cases > 0)
    snprintf(buf, len, "%" PRIu64, si->private_cases);
  else
    snprintf(buf, len, "yes");
}

static const char *kind_name(int k, char *buf, size_t len) {
  return enum_name(&sbx__v1__interface_kind__descriptor, k, "INTERFACE_KIND_",
                   1, buf, len);
}

static int show_published(const struct reply *rp) {
  const Sbx__V1__PublishScenarioResponse *resp = rp->msg;
  const Sbx__V1__ScenarioInfo *si = resp->scenario;
  if (si != NULL) {
    kv("published", "%s@%s", str(si->name), str(si->version));
    kv("cases", "%" PRIu64 " public%s", si->public_cases,
       si->has_private_dataset ? ", private dataset" : "");
    kv_digest("digest", si->digest);
  }
  return EXIT_OK;
}

static int scenario_publish(struct cli *cl, int argc, char **argv) {
  static const struct answer published = {.method = "PublishScenario",
                                          .show = show_published};
  Sbx__V1__PublishScenarioRequest req = SBX__V1__PUBLISH_SCENARIO_REQUEST__INIT;
  Sbx__V1__Scenario *sc = NULL;
  struct sbx_diag diag = {{0}};
  char *priv = NULL, *arg;
  const struct opt opts[] = {OPT("private-dataset", set_str, &priv),
                             OPT("replace", set_flag, &req.replace), OPT_END};
  char dir[PATH_MAX], spec_path[PATH_MAX], path[PATH_MAX];
  uint8_t *spec = NULL, *data = NULL, *setup = NULL, *pdata = NULL;
  size_t spec_len = 0, data_len = 0, setup_len = 0, pdata_len = 0;
  struct stat st;
  int code;

  code = parse_args(cl, argc, argv, opts, 1,
                    "expected one DIR (a scenario directory with spec.yaml)",
                    &arg);
  if (code != PARSED)
    return code;
  if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(dir, sizeof(dir), "%s", arg);
    if (join_path(arg, "spec.yaml", spec_path, sizeof(spec_path)) != 0)
      return usage_error(cl, "path too long");
  } else {
    const char *slash = strrchr(arg, '/');
    snprintf(spec_path, sizeof(spec_path), "%s", arg);
    if (slash == NULL)
      snprintf(dir, sizeof(dir), ".");
    else
      snprintf(dir, sizeof(dir), "%.*s", (int)(slash - arg + 1), arg);
  }
  code = read_file(cl, "spec", spec_path, SBX_SPEC_MAX_BYTES, &spec, &spec_len);
  if (code != EXIT_OK)
    goto out;
  if (sbx_spec_parse(spec_path, spec, spec_len, &sc, &diag) != 0) {
    fprintf(stderr, "%s\n", diag.msg[0] ? diag.msg : "invalid spec");
    code = EXIT_USAGE;
    goto out;
  }
  if (sc->dataset == NULL || !nonempty(sc->dataset->path)) {
    fprintf(stderr, "sbx %s: %s names no dataset.path\n", cl->cmd, spec_path);
    code = EXIT_USAGE;
    goto out;
  }
  if (join_path(dir, sc->dataset->path, path, sizeof(path)) != 0) {
    code = usage_error(cl, "dataset path too long");
    goto out;
  }
  code = read_file(cl, "dataset", path, MAX_INPUT_FILE, &data, &data_len);
  if (code != EXIT_OK)
    goto out;
  if (sc->interface != NULL && nonempty(sc->interface->setup)) {
    if (join_path(dir, sc->interface->setup, path, sizeof(path)) != 0) {
      code = usage_error(cl, "setup path too long");
      goto out;
    }
    code =
        read_file(cl, "setup file", path, MAX_INPUT_FILE, &setup, &setup_len);
    if (code != EXIT_OK)
      goto out;
  }
  if (priv != NULL) {
    code = read_file(cl, "private dataset", priv, MAX_INPUT_FILE, &pdata,
                     &pdata_len);
    if (code != EXIT_OK)
      goto out;
  }
  req.spec = (ProtobufCBinaryData){.data = spec, .len = spec_len};
  req.dataset = (ProtobufCBinaryData){.data = data, .len = data_len};
  req.setup = (ProtobufCBinaryData){.data = setup, .len = setup_len};
  req.private_dataset = (ProtobufCBinaryData){.data = pdata, .len = pdata_len};
  code = call_show(cl, &published, &req, NULL);
out:
  sbx_scenario_free(sc);
  free(spec);
  free(data);
  free(setup);
  if (pdata != NULL)
    sodium_memzero(pdata, pdata_len); /* private cases stay private */
  free(pdata);
  return code;
}

static const char *const scenario_heads[] = {
    "SCENARIO", "TITLE", "KIND", "CASES", "PRIVATE", "DIGEST", "PUBLISHED"};

static void scenario_row(struct sbx_table *t, const void *rows, size_t i) {
  const Sbx__V1__ScenarioInfo *si = ((Sbx__V1__ScenarioInfo *const *)rows)[i];
  char id[300], kind[32], cases[32], priv[32], dg[32], when[64];
  snprintf(id, sizeof(id), "%s@%s", str(si->name), str(si->version));
  snprintf(cases, sizeof(cases), "%" PRIu64, si->public_cases);
  private_cases(si, priv, sizeof(priv));
  format_short_digest(si->digest, dg, sizeof(dg));
  sbx_cmd_format_time(si->published_unix_ms, when, sizeof(when));
  sbx_table_add(
      t, (const char *const[]){id, str(si->title),
                               kind_name(si->interface, kind, sizeof(kind)),
                               cases, priv, dg, when});
}

static const struct table_shape scenario_rows = {
    .ncols = N_OF(scenario_heads),
    .heads = scenario_heads,
    .right = 1u << 3,
    .empty = "no scenarios published yet; add one with sbx scenario publish "
             "DIR",
    .row = scenario_row};

static int show_scenarios(const struct reply *rp) {
  const Sbx__V1__ListScenariosResponse *resp = rp->msg;
  return print_table(&scenario_rows, resp->scenarios, resp->n_scenarios);
}

static const struct answer list_scenarios = {.method = "ListScenarios",
                                             .show = show_scenarios};

/* Prints text from the server line by line, made printable. */
static void print_text_block(const uint8_t *p, size_t n) {
  size_t i = 0, j;
  char line[1024];
  while (i < n) {
    for (j = i; j < n && p[j] != '\n'; j++)
      ;
    snprintf(line, sizeof(line), "%.*s", (int)(j - i), (const char *)p + i);
    sbx_api_sanitize(line);
    printf("%s\n", line);
    i = j + 1;
  }
}

/* ctx: the GetScenarioRequest. */
static int show_scenario(const struct reply *rp) {
  const Sbx__V1__GetScenarioResponse *resp = rp->msg;
  const Sbx__V1__GetScenarioRequest *req = rp->ctx;
  const Sbx__V1__ScenarioInfo *si = resp->scenario;
  char buf[64];

  if (si == NULL)
    return no_answer(rp->cl, "scenario");
  kv("scenario", "%s@%s", str(si->name), str(si->version));
  kv("title", "%s", str(si->title));
  kv_opt("description", si->description);
  kv("interface", "%s", kind_name(si->interface, buf, sizeof(buf)));
  kv("public cases", "%" PRIu64, si->public_cases);
  private_cases(si, buf, sizeof(buf));
  kv("private", "%s", buf);
  kv("score", "%s", nonempty(si->score_metric) ? si->score_metric : "-");
  kv_digest("digest", si->digest);
  kv_time("published", si->published_unix_ms);
  kv_opt("source", si->source);
  if (req->include_spec) {
    printf("--- spec.yaml (%zu bytes; public dataset %zu bytes)\n",
           resp->spec.len, resp->dataset.len);
    print_text_block(resp->spec.data, resp->spec.len);
  }
  return EXIT_OK;
}

static int scenario_show(struct cli *cl, int argc, char **argv) {
  static const struct answer scenario = {.method = "GetScenario",
                                         .show = show_scenario};
  Sbx__V1__GetScenarioRequest req = SBX__V1__GET_SCENARIO_REQUEST__INIT;
  const struct opt opts[] = {OPT("spec", set_flag, &req.include_spec), OPT_END};
  int code = parse_args(cl, argc, argv, opts, 1, "expected one NAME[@VERSION]",
                        &req.scenario);
  return code != PARSED ? code : call_show(cl, &scenario, &req, &req);
}

int sbx_cmd_scenario(int argc, char **argv, const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {
      {.name = "publish", .fn = scenario_publish},
      {.name = "list", .answer = &list_scenarios},
      {.name = "show", .fn = scenario_show}};
  return dispatch("scenario", usage_scenario, verbs, N_OF(verbs), argc, argv,
                  g);
}

/* ---- product ---- */

/* Checks VENDOR/NAME@VERSION and splits it into the product's fields
 * (pointers into buf). */
static int split_product(const struct cli *cl, const char *id, char *buf,
                         size_t len, Sbx__V1__Product *p) {
  char *slash, *at;
  if (snprintf(buf, len, "%s", id) >= (int)len)
    goto bad;
  slash = strchr(buf, '/');
  if (slash == NULL || slash == buf || strchr(slash + 1, '/') != NULL)
    goto bad;
  at = strrchr(slash + 1, '@');
  if (at == NULL || at == slash + 1 || at[1] == '\0')
    goto bad;
  *slash = '\0';
  *at = '\0';
  p->vendor = buf;
  p->name = slash + 1;
  p->version = at + 1;
  return EXIT_OK;
bad:
  fprintf(stderr,
          "sbx %s: \"%.200s\" is not a product id; write "
          "VENDOR/NAME@VERSION, e.g. acme/edge@1.2.0\n",
          cl->cmd, id);
  return EXIT_USAGE;
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s != NULL ? s + 1 : path;
}

/* Secrets never reach the screen, --json included. */
static void scrub_product(Sbx__V1__Product *p) {
  if (p != NULL && p->endpoint != NULL && p->endpoint->secret != NULL)
    sodium_memzero(p->endpoint->secret, strlen(p->endpoint->secret));
}

static int scrub_registered(const struct reply *rp) {
  Sbx__V1__RegisterProductResponse *resp = rp->msg;
  scrub_product(resp->product);
  return EXIT_OK;
}

/* ctx: the RegisterProductRequest, which says what was sent. */
static int show_registered(const struct reply *rp) {
  const Sbx__V1__RegisterProductRequest *req = rp->ctx;
  const Sbx__V1__Product *p = req->product;
  char hex[80];
  if (p->endpoint != NULL) {
    kv("registered", "%s/%s@%s, endpoint %s", p->vendor, p->name, p->version,
       p->endpoint->url);
  } else {
    format_hex(p->plugin->sha256.data, p->plugin->sha256.len, 6, hex,
               sizeof(hex));
    kv("registered", "%s/%s@%s, plugin %s (%zu bytes, sha256:%s)", p->vendor,
       p->name, p->version, p->plugin->filename, req->library.len, hex);
  }
  return EXIT_OK;
}

/* Reads the endpoint's secret file into *secret (the final newline is not
 * part of the secret). Returns an exit code. */
static int read_secret(const struct cli *cl, const char *path, uint8_t **secret,
                       size_t *len) {
  int code = read_file(cl, "secret file", path, MAX_SECRET_FILE, secret, len);
  if (code != EXIT_OK)
    return code;
  while (*len > 0 &&
         ((*secret)[*len - 1] == '\n' || (*secret)[*len - 1] == '\r'))
    (*secret)[--*len] = '\0';
  if (*len == 0 || strlen((char *)*secret) != *len) {
    fprintf(stderr, "sbx %s: secret file %s is empty or holds a NUL byte\n",
            cl->cmd, path);
    return EXIT_USAGE;
  }
  return EXIT_OK;
}

static int product_register(struct cli *cl, int argc, char **argv) {
  static const struct answer registered = {.method = "RegisterProduct",
                                           .check = scrub_registered,
                                           .show = show_registered};
  Sbx__V1__RegisterProductRequest req = SBX__V1__REGISTER_PRODUCT_REQUEST__INIT;
  Sbx__V1__Product product = SBX__V1__PRODUCT__INIT;
  Sbx__V1__Endpoint ep = SBX__V1__ENDPOINT__INIT;
  Sbx__V1__Plugin pl = SBX__V1__PLUGIN__INIT;
  struct header_list hdrs = {.n = 0};
  char *endpoint = NULL, *secret_file = NULL, *plugin = NULL;
  char *plugin_config = NULL, *id;
  const struct opt opts[] = {OPT("endpoint", set_str, &endpoint),
                             OPT("header", set_header, &hdrs),
                             OPT("secret-file", set_str, &secret_file),
                             OPT("plugin", set_str, &plugin),
                             OPT("plugin-config", set_str, &plugin_config),
                             OPT("callback", set_url, &product.callback_url),
                             OPT("replace", set_flag, &req.replace),
                             OPT_END};
  char idbuf[512];
  uint8_t *secret = NULL, *lib = NULL, *config = NULL;
  size_t secret_len = 0, lib_len = 0, config_len = 0;
  uint8_t sha[SBX_SHA256_BYTES];
  int code;

  code = parse_args(cl, argc, argv, opts, 1, "expected one VENDOR/NAME@VERSION",
                    &id);
  if (code != PARSED)
    return code;
  if (split_product(cl, id, idbuf, sizeof(idbuf), &product) != EXIT_OK)
    return EXIT_USAGE;
  if ((endpoint == NULL) == (plugin == NULL))
    return usage_error(cl, endpoint == NULL
                               ? "the product is missing: give "
                                 "--endpoint URL or --plugin LIB.so"
                               : "give either --endpoint or --plugin, not "
                                 "both");
  if (endpoint != NULL && plugin_config != NULL)
    return usage_error(cl, "--plugin-config goes with --plugin");
  if (plugin != NULL && (hdrs.n > 0 || secret_file != NULL))
    return usage_error(cl, "--header and --secret-file go with --endpoint");
  if (endpoint != NULL) {
    if (check_url(cl, "endpoint", endpoint) != EXIT_OK)
      return EXIT_USAGE;
    product.kind = SBX__V1__PRODUCT_KIND__PRODUCT_KIND_ENDPOINT;
    ep.url = endpoint;
    ep.headers = hdrs.p;
    ep.n_headers = hdrs.n;
    if (secret_file != NULL) {
      code = read_secret(cl, secret_file, &secret, &secret_len);
      if (code != EXIT_OK)
        goto out;
      ep.secret = (char *)secret;
    }
    product.endpoint = &ep;
  } else {
    code =
        read_file(cl, "plugin library", plugin, MAX_INPUT_FILE, &lib, &lib_len);
    if (code != EXIT_OK)
      goto out;
    if (plugin_config != NULL) {
      code = read_file(cl, "plugin config", plugin_config, MAX_INPUT_FILE,
                       &config, &config_len);
      if (code != EXIT_OK)
        goto out;
    }
    if (sbx_sha256(lib, lib_len, sha) != 0) {
      fprintf(stderr, "sbx %s: out of memory\n", cl->cmd);
      code = EXIT_NORUN;
      goto out;
    }
    product.kind = SBX__V1__PRODUCT_KIND__PRODUCT_KIND_PLUGIN;
    pl.sha256 = (ProtobufCBinaryData){.data = sha, .len = sizeof(sha)};
    pl.size = lib_len;
    pl.filename = (char *)base_name(plugin);
    pl.config = (ProtobufCBinaryData){.data = config, .len = config_len};
    product.plugin = &pl;
    req.library = (ProtobufCBinaryData){.data = lib, .len = lib_len};
  }
  req.product = &product;
  code = call_show(cl, &registered, &req, &req);
out:
  if (secret != NULL)
    sodium_memzero(secret, secret_len);
  free(secret);
  free(lib);
  free(config);
  return code;
}

static void product_id(const Sbx__V1__Product *p, char *buf, size_t len) {
  snprintf(buf, len, "%s/%s@%s", str(p->vendor), str(p->name), str(p->version));
}

static void product_target(const Sbx__V1__Product *p, char *buf, size_t len) {
  char hex[32];
  if (p->kind == SBX__V1__PRODUCT_KIND__PRODUCT_KIND_ENDPOINT &&
      p->endpoint != NULL) {
    snprintf(buf, len, "%s", str(p->endpoint->url));
  } else if (p->kind == SBX__V1__PRODUCT_KIND__PRODUCT_KIND_PLUGIN &&
             p->plugin != NULL) {
    format_short_digest(p->plugin->sha256, hex, sizeof(hex));
    snprintf(buf, len, "%s sha256:%s", str(p->plugin->filename), hex);
  } else {
    snprintf(buf, len, "-");
  }
}

static const char *product_kind(int k, char *buf, size_t len) {
  return enum_name(&sbx__v1__product_kind__descriptor, k, "PRODUCT_KIND_", 1,
                   buf, len);
}

static const char *const product_heads[] = {"PRODUCT", "KIND", "TARGET",
                                            "CREATED"};

static void product_row(struct sbx_table *t, const void *rows, size_t i) {
  const Sbx__V1__Product *p = ((Sbx__V1__Product *const *)rows)[i];
  char id[400], kind[32], target[600], when[64];
  product_id(p, id, sizeof(id));
  product_target(p, target, sizeof(target));
  sbx_cmd_format_time(p->created_unix_ms, when, sizeof(when));
  sbx_table_add(
      t, (const char *const[]){id, product_kind(p->kind, kind, sizeof(kind)),
                               target, when});
}

static const struct table_shape product_rows = {
    .ncols = N_OF(product_heads), .heads = product_heads, .row = product_row};

static int scrub_listed(const struct reply *rp) {
  Sbx__V1__ListProductsResponse *resp = rp->msg;
  size_t i;
  for (i = 0; i < resp->n_products; i++)
    scrub_product(resp->products[i]);
  return EXIT_OK;
}

/* ctx: the ListProductsRequest. */
static int show_products(const struct reply *rp) {
  const Sbx__V1__ListProductsResponse *resp = rp->msg;
  const Sbx__V1__ListProductsRequest *req = rp->ctx;
  if (resp->n_products == 0) {
    printf("no products registered%s%s; add one with sbx product register\n",
           req->vendor[0] ? " for vendor " : "", req->vendor);
    return EXIT_OK;
  }
  return print_table(&product_rows, resp->products, resp->n_products);
}

static int product_list(struct cli *cl, int argc, char **argv) {
  static const struct answer products = {
      .method = "ListProducts", .check = scrub_listed, .show = show_products};
  Sbx__V1__ListProductsRequest req = SBX__V1__LIST_PRODUCTS_REQUEST__INIT;
  const struct opt opts[] = {OPT("vendor", set_str, &req.vendor), OPT_END};
  int code =
      parse_args(cl, argc, argv, opts, 0, "list takes no arguments", NULL);
  return code != PARSED ? code : call_show(cl, &products, &req, &req);
}

static int scrub_shown(const struct reply *rp) {
  Sbx__V1__GetProductResponse *resp = rp->msg;
  scrub_product(resp->product);
  return EXIT_OK;
}

static int show_product(const struct reply *rp) {
  const Sbx__V1__GetProductResponse *resp = rp->msg;
  const Sbx__V1__Product *p = resp->product;
  char buf[600];
  size_t i;

  if (p == NULL)
    return no_answer(rp->cl, "product");
  product_id(p, buf, sizeof(buf));
  kv("product", "%s", buf);
  kv("kind", "%s", product_kind(p->kind, buf, sizeof(buf)));
  if (p->endpoint != NULL) {
    kv("endpoint", "%s", str(p->endpoint->url));
    for (i = 0; i < p->endpoint->n_headers; i++)
      if (p->endpoint->headers[i] != NULL)
        kv("header", "%s: %s", str(p->endpoint->headers[i]->name),
           str(p->endpoint->headers[i]->value));
  }
  if (p->plugin != NULL) {
    kv("library", "%s (%" PRIu64 " bytes)", str(p->plugin->filename),
       p->plugin->size);
    kv_digest("digest", p->plugin->sha256);
    if (p->plugin->config.len > 0)
      kv("config", "%zu bytes", p->plugin->config.len);
  }
  kv_opt("callback", p->callback_url);
  kv_time("created", p->created_unix_ms);
  return EXIT_OK;
}

static const struct answer get_product = {
    .method = "GetProduct", .check = scrub_shown, .show = show_product};

int sbx_cmd_product(int argc, char **argv, const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {
      {.name = "register", .fn = product_register},
      {.name = "list", .fn = product_list},
      {.name = "show",
       .answer = &get_product,
       .arg = "product",
       .arg_name = "VENDOR/NAME@VERSION"}};
  return dispatch("product", usage_product, verbs, N_OF(verbs), argc, argv, g);
}

/* ---- watching a run ---- */

struct watch_opts {
  char *junit; /* NULL: none; the strings are option arguments */
  char *summary;
  char *out;
  int quiet;
  int progress;
  int no_color;
  int brief;  /* one line per run (matches) instead of the summary */
  int silent; /* print nothing: only the files and the exit code */
};

struct watch {
  struct cli *cl;
  uint64_t run_id;
  struct sbx_progress_line pl;
  struct sbx_progress prog;
  Sbx__V1__RunState state;
  Sbx__V1__SignedResult *signed_res; /* the last result event, a copy */
  int copy_failed;
};

static int on_run_event(const Sbx__V1__RunEvent *ev, void *arg) {
  struct watch *w = arg;
  const Sbx__V1__Progress *p;
  uint8_t *buf;
  size_t len;

  if (ev->run_id != 0 && ev->run_id != w->run_id)
    return 0; /* not ours: nothing to show */
  switch (ev->event_case) {
  case SBX__V1__RUN_EVENT__EVENT_STATE:
    w->state = ev->state;
    w->prog.phase = ev->state;
    if (!sbx_run_state_terminal(ev->state) &&
        ev->state != SBX__V1__RUN_STATE__RUN_STATE_QUEUED)
      sbx_progress_update(&w->prog, &w->pl);
    break;
  case SBX__V1__RUN_EVENT__EVENT_PROGRESS:
    p = ev->progress;
    if (p == NULL)
      break;
    w->prog = (struct sbx_progress){.phase = p->phase,
                                    .elapsed_s = p->elapsed_s,
                                    .rate = p->rate,
                                    .p99_us = p->p99_us,
                                    .completed = p->completed,
                                    .errors = p->errors};
    sbx_progress_update(&w->prog, &w->pl);
    break;
  case SBX__V1__RUN_EVENT__EVENT_RESULT:
    if (ev->result == NULL)
      break;
    /* ev dies after this call: keep a copy through pack/unpack. */
    len = sbx__v1__signed_result__get_packed_size(ev->result);
    buf = malloc(len ? len : 1);
    if (buf == NULL) {
      w->copy_failed = 1;
      break;
    }
    sbx__v1__signed_result__pack(ev->result, buf);
    if (w->signed_res != NULL)
      sbx__v1__signed_result__free_unpacked(w->signed_res, NULL);
    w->signed_res = sbx__v1__signed_result__unpack(NULL, len, buf);
    free(buf);
    if (w->signed_res == NULL)
      w->copy_failed = 1;
    break;
  default:
    break;
  }
  return 0;
}

static const char *keyid_of(const Sbx__V1__SignedResult *sr) {
  if (sr->n_signatures > 0 && sr->signatures[0] != NULL &&
      sr->signatures[0]->keyid != NULL && sr->signatures[0]->keyid[0] != '\0')
    return sr->signatures[0]->keyid;
  return NULL;
}

/* Prints a result and writes the files asked for; returns the verdict's
 * exit code (or 3 when a file could not be written). */
static int show_result(struct cli *cl, const Sbx__V1__SignedResult *sr,
                       const Sbx__V1__Result *res, const struct watch_opts *o) {
  char vbuf[32], keyid[80];
  int code = sbx_cmd_verdict_exit(res->verdict);

  snprintf(keyid, sizeof(keyid), "%s",
           sr != NULL && keyid_of(sr) ? keyid_of(sr) : "");
  sbx_api_sanitize(keyid);
  /* The signed result first, so that the summary can say where it is. */
  if (o->out != NULL) {
    if (sr == NULL) {
      fprintf(stderr, "sbx %s: --out: the server sent no signed result\n",
              cl->cmd);
      code = EXIT_NORUN;
    } else {
      size_t len = sbx__v1__signed_result__get_packed_size(sr);
      uint8_t *buf = malloc(len ? len : 1);
      if (buf == NULL) {
        code = EXIT_NORUN;
      } else {
        sbx__v1__signed_result__pack(sr, buf);
        if (write_file(cl, o->out, buf, len, 0644) != EXIT_OK)
          code = EXIT_NORUN;
        free(buf);
      }
    }
  }
  if (o->silent) {
    /* the caller printed the answer already */
  } else if (cl->json && !o->brief) {
    if (print_json(res) != EXIT_OK)
      code = EXIT_NORUN;
  } else if (o->quiet || o->brief) {
    char prod[200], score[32];
    snprintf(prod, sizeof(prod), "%s", str(res->product));
    sbx_api_sanitize(prod);
    format_score(res->score, score, sizeof(score));
    if (o->brief)
      printf("run %-6" PRIu64 " %-30s %-8s score %s\n", res->run_id, prod,
             verdict_name(res->verdict, vbuf, sizeof(vbuf)), score);
    else
      printf("%s run %" PRIu64 "\n",
             verdict_name(res->verdict, vbuf, sizeof(vbuf)), res->run_id);
  } else {
    sbx_report_text(stdout, res, sbx_cmd_want_color(stdout, o->no_color));
    if (sr != NULL && o->out != NULL)
      printf("signed    %s%s, saved in %s (sbx verify %s --key "
             "signing.pub)\n",
             keyid[0] ? "by key " : "", keyid[0] ? keyid : "(no signature)",
             o->out, o->out);
    else if (sr != NULL)
      printf("signed    %s%s (sbx result get %" PRIu64 " --out FILE saves "
             "it for sbx verify)\n",
             keyid[0] ? "by key " : "", keyid[0] ? keyid : "(no signature)",
             res->run_id);
  }
  if (sbx_cmd_write_reports(cl->cmd, res, o->junit, o->summary) != 0)
    code = EXIT_NORUN;
  if (res->verdict == SBX__V1__VERDICT__VERDICT_ERROR && !o->brief &&
      !o->silent) {
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s",
             res->error_message ? res->error_message : "unknown error");
    sbx_api_sanitize(msg);
    fprintf(stderr, "sbx %s: run %" PRIu64 " could not run: %s\n", cl->cmd,
            res->run_id, msg);
  }
  return code;
}

/* The payload of a signed result, decoded (not verified: sbx verify does
 * that with the published key). */
static Sbx__V1__Result *decode_payload(const struct cli *cl,
                                       const Sbx__V1__SignedResult *sr) {
  Sbx__V1__Result *res =
      sbx__v1__result__unpack(NULL, sr->payload.len, sr->payload.data);
  if (res == NULL)
    fprintf(stderr,
            "sbx %s: the signed result's payload (%zu bytes) is not "
            "a Result\n",
            cl->cmd, sr->payload.len);
  return res;
}

/* Shows the result signed in sr (show_result): what is shown is what was
 * signed, the payload, not the convenience copy beside it. *got (may be
 * NULL) is set once the payload decoded. With answer (sbx result get),
 * --json prints that whole answer and show_result only writes the files.
 * Returns the exit code. */
static int show_signed(struct cli *cl, const Sbx__V1__SignedResult *sr,
                       const struct watch_opts *o, int *got,
                       const ProtobufCMessage *answer) {
  struct watch_opts wo = *o;
  Sbx__V1__Result *res = decode_payload(cl, sr);
  int code;

  if (res == NULL)
    return EXIT_NORUN;
  if (got != NULL)
    *got = 1;
  if (answer != NULL && cl->json) {
    code = print_json(answer);
    wo.silent = 1;
    if (code != EXIT_OK)
      goto out;
  }
  code = show_result(cl, sr, res, &wo);
out:
  sbx__v1__result__free_unpacked(res, NULL);
  return code;
}

/* Fetches run_id's result with GetResult and shows it (show_signed). For
 * sbx result get (answer set) --json prints the whole answer, and one
 * without a signed result is reported; after a watch such an answer just
 * means there is no result to show. Returns the exit code. */
static int get_result(struct cli *cl, uint64_t run_id,
                      const struct watch_opts *o, int *got, int answer) {
  Sbx__V1__GetResultRequest req = SBX__V1__GET_RESULT_REQUEST__INIT;
  Sbx__V1__GetResultResponse *resp = NULL;
  int code;

  req.run_id = run_id;
  code = call(cl, "GetResult", &req, &resp);
  if (code != EXIT_OK)
    return code;
  if (resp->signed_ == NULL)
    code = answer ? no_answer(cl, "signed result") : EXIT_NORUN;
  else
    code = show_signed(cl, resp->signed_, o, got, answer ? &resp->base : NULL);
  sbx__v1__get_result_response__free_unpacked(resp, NULL);
  return code;
}

/* Follows run_id to its end and shows the outcome. *got (may be NULL) is
 * set when a result was shown. Returns the exit code. */
static int watch_run(struct cli *cl, uint64_t run_id,
                     const struct watch_opts *o, int *got) {
  struct watch w = {.cl = cl, .run_id = run_id};
  struct sbx_api_error err;
  Sbx__V1__GetRunRequest greq = SBX__V1__GET_RUN_REQUEST__INIT;
  Sbx__V1__GetRunResponse *gresp = NULL;
  char sbuf[32], reason[1024];
  int rc, code, dummy;

  if (got == NULL)
    got = &dummy;
  *got = 0;
  code = cli_open(cl);
  if (code != EXIT_OK)
    return code;
  sbx_progress_init(&w.pl, stderr, o->progress && !o->quiet);
  rc = sbx_api_watch(cl->api, run_id, on_run_event, &w, &err);
  sbx_progress_clear(&w.pl);
  if (rc != 0) {
    if (rc == SBX_ECANCELED && err.code == 0) {
      fprintf(stderr,
              "sbx: stopped watching run %" PRIu64 "; it goes on in "
              "sandboxd (sbx run watch %" PRIu64 ", sbx run cancel %" PRIu64
              ")\n",
              run_id, run_id, run_id);
      code = EXIT_NORUN;
    } else {
      code = report_error(cl, "WatchRun", rc, &err);
    }
    goto out;
  }
  if (w.copy_failed) {
    fprintf(stderr,
            "sbx %s: the result of run %" PRIu64 " could not be "
            "kept (out of memory, or not a SignedResult)\n",
            cl->cmd, run_id);
    code = EXIT_NORUN;
    goto out;
  }
  if (w.signed_res != NULL) {
    code = show_signed(cl, w.signed_res, o, got, NULL);
    goto out;
  }
  /* No result in the stream: ask how the run ended. */
  greq.run_id = run_id;
  code = call(cl, "GetRun", &greq, &gresp);
  if (code != EXIT_OK)
    goto out;
  if (gresp->run != NULL &&
      gresp->run->state == SBX__V1__RUN_STATE__RUN_STATE_DONE) {
    code = get_result(cl, run_id, o, got, 0);
    goto out;
  }
  snprintf(reason, sizeof(reason), "%s",
           gresp->run && nonempty(gresp->run->reason) ? gresp->run->reason
                                                      : "no reason given");
  sbx_api_sanitize(reason);
  if (gresp->run != NULL && sbx_run_state_terminal(gresp->run->state))
    fprintf(stderr, "sbx %s: run %" PRIu64 " ended %s without a result: %s\n",
            cl->cmd, run_id, state_name(gresp->run->state, sbuf, sizeof(sbuf)),
            reason);
  else
    fprintf(stderr,
            "sbx %s: the stream of run %" PRIu64 " ended before the "
            "run did (state %s); sbx run watch %" PRIu64 " follows "
            "it again\n",
            cl->cmd, run_id,
            state_name(gresp->run ? gresp->run->state : 0, sbuf, sizeof(sbuf)),
            run_id);
  code = EXIT_NORUN;
out:
  if (gresp != NULL)
    sbx__v1__get_run_response__free_unpacked(gresp, NULL);
  if (w.signed_res != NULL)
    sbx__v1__signed_result__free_unpacked(w.signed_res, NULL);
  return code;
}

/* ---- run ---- */

static int run_start(struct cli *cl, int argc, char **argv) {
  Sbx__V1__StartRunRequest req = SBX__V1__START_RUN_REQUEST__INIT;
  Sbx__V1__LoadOverrides ov = SBX__V1__LOAD_OVERRIDES__INIT;
  Sbx__V1__StartRunResponse *resp = NULL;
  struct watch_opts wo = {.progress = 1};
  int wait = 0, code;
  const struct opt opts[] = {
      LOAD_OPTS(&ov),
      WATCH_OPTS(&wo),
      OPT("scenario", set_str, &req.scenario),
      OPT("product", set_str, &req.product),
      OPT_AUX("dataset", set_enum, &req.dataset, &dataset_words),
      OPT("callback", set_url, &req.callback_url),
      OPT_AUX("http-client", set_enum, &req.http_client, &http_client_words),
      OPT("wait", set_flag, &wait),
      OPT_END};
  const Sbx__V1__Run *r;
  char sbuf[32];

  code = parse_args(cl, argc, argv, opts, 0,
                    "unexpected argument; the scenario and product go with "
                    "--scenario and --product",
                    NULL);
  if (code != PARSED)
    return code;
  if (req.scenario[0] == '\0' || req.product[0] == '\0')
    return usage_error(cl, req.scenario[0] == '\0' ? "--scenario is required"
                                                   : "--product is required");
  if (!wait && (wo.junit != NULL || wo.summary != NULL || wo.out != NULL ||
                wo.quiet || !wo.progress || wo.no_color))
    return usage_error(cl, "--junit, --summary-json, --out, --quiet, "
                           "--no-progress and --no-color go with --wait");
  req.overrides = &ov;
  code = call(cl, "StartRun", &req, &resp);
  if (code != EXIT_OK)
    return code;
  r = resp->run;
  if (r == NULL || r->id == 0) {
    code = no_answer(cl, "run");
  } else if (wait) {
    if (!wo.quiet && !cl->json)
      fprintf(stderr,
              "sbx: run %" PRIu64 " %s; following it (Ctrl-C stops "
              "watching, the run goes on)\n",
              r->id, state_name(r->state, sbuf, sizeof(sbuf)));
    code = watch_run(cl, r->id, &wo, NULL);
  } else if (cl->json) {
    code = print_json(resp);
  } else {
    printf("run %" PRIu64 " %s", r->id,
           state_name(r->state, sbuf, sizeof(sbuf)));
    if (r->state == SBX__V1__RUN_STATE__RUN_STATE_QUEUED &&
        r->queue_position > 0)
      printf(" (%" PRIu32 " ahead)", r->queue_position);
    putchar('\n');
  }
  sbx__v1__start_run_response__free_unpacked(resp, NULL);
  return code;
}

static int run_watch(struct cli *cl, int argc, char **argv) {
  struct watch_opts wo = {.progress = 1};
  const struct opt opts[] = {WATCH_OPTS(&wo), OPT_END};
  uint64_t id;
  int code = parse_run_args(cl, argc, argv, opts, &id);
  return code != PARSED ? code : watch_run(cl, id, &wo, NULL);
}

static void format_load(const Sbx__V1__Load *l, char *buf, size_t len) {
  char model[32], a[32], b[32], d[32], e[32];
  enum_name(&sbx__v1__load_model__descriptor, l->model, "LOAD_MODEL_", 1, model,
            sizeof(model));
  if (l->model == SBX__V1__LOAD_MODEL__LOAD_MODEL_OPEN)
    format_rate(l->rate, a, sizeof(a));
  else
    snprintf(a, sizeof(a), "concurrency %" PRIu32, l->concurrency);
  if (l->warmup_us > 0)
    sbx_format_duration_us(l->warmup_us, b, sizeof(b));
  else
    snprintf(b, sizeof(b), "none");
  sbx_format_duration_us(l->min_duration_us, d, sizeof(d));
  sbx_format_duration_us(l->max_duration_us, e, sizeof(e));
  snprintf(buf, len,
           "%s, %s, warm-up %s, at least %s and %" PRIu64
           " cases, at most %s, seed %" PRIu64,
           model, a, b, d, l->min_cases, e, l->seed);
}

static void kv_requested_by(const char *token_id) {
  if (nonempty(token_id))
    kv("started by", "token %s", token_id);
}

static void print_run(const Sbx__V1__Run *r) {
  char buf[600], b2[160], b3[64];
  kv("run", "%" PRIu64, r->id);
  format_short_digest(r->scenario_digest, b2, sizeof(b2));
  kv("scenario", "%s (sha256:%s)", str(r->scenario), b2);
  kv("product", "%s", str(r->product));
  state_name(r->state, b3, sizeof(b3));
  if (nonempty(r->reason))
    kv("state", "%s: %s", b3, r->reason);
  else
    kv("state", "%s", b3);
  if (r->state == SBX__V1__RUN_STATE__RUN_STATE_QUEUED)
    kv("queue", "%" PRIu32 " run(s) ahead", r->queue_position);
  kv_opt("dataset", r->dataset);
  kv_opt("client", r->client);
  if (r->load != NULL) {
    format_load(r->load, buf, sizeof(buf));
    kv("load", "%s", buf);
  }
  if (r->n_overrides > 0) {
    join(r->overrides, r->n_overrides, buf, sizeof(buf));
    kv("overrides", "%s", buf);
  }
  kv("official", "%s", r->published ? "yes (on leaderboards)" : "no");
  if (nonempty(r->match_id))
    kv("match", "%s, round %" PRIu32, r->match_id, r->round);
  kv_time("created", r->created_unix_ms);
  kv_time("started", r->started_unix_ms);
  sbx_cmd_format_time(r->ended_unix_ms, buf, sizeof(buf));
  if (format_took(r, b2, sizeof(b2)))
    kv("ended", "%s (took %s)", buf, b2);
  else
    kv("ended", "%s", buf);
  kv_opt("callback", r->callback_url);
  kv_requested_by(r->requested_by);
}

static int show_run(const struct reply *rp) {
  const Sbx__V1__GetRunResponse *resp = rp->msg;
  if (resp->run != NULL)
    print_run(resp->run);
  return EXIT_OK;
}

static const struct answer get_run = {.method = "GetRun", .show = show_run};

static const char *const run_heads[] = {
    "RUN", "STATE", "SCENARIO", "PRODUCT", "CREATED", "TOOK", "NOTE"};

static void run_row(struct sbx_table *t, const void *rows, size_t i) {
  const Sbx__V1__Run *r = ((Sbx__V1__Run *const *)rows)[i];
  char id[32], st[32], when[64], took[32], note[400];
  snprintf(id, sizeof(id), "%" PRIu64, r->id);
  sbx_cmd_format_time(r->created_unix_ms, when, sizeof(when));
  format_took(r, took, sizeof(took));
  if (nonempty(r->reason))
    snprintf(note, sizeof(note), "%s", r->reason);
  else if (r->state == SBX__V1__RUN_STATE__RUN_STATE_QUEUED)
    snprintf(note, sizeof(note), "%" PRIu32 " ahead", r->queue_position);
  else if (nonempty(r->match_id))
    snprintf(note, sizeof(note), "match %s", r->match_id);
  else
    note[0] = '\0';
  sbx_table_add(t, (const char *const[]){
                       id, state_name(r->state, st, sizeof(st)),
                       str(r->scenario), str(r->product), when, took, note});
}

static const struct table_shape run_rows = {.ncols = N_OF(run_heads),
                                            .heads = run_heads,
                                            .right = 1u << 0 | 1u << 5,
                                            .empty = "no runs",
                                            .row = run_row};

static int show_runs(const struct reply *rp) {
  const Sbx__V1__ListRunsResponse *resp = rp->msg;
  return print_table(&run_rows, resp->runs, resp->n_runs);
}

static int run_list(struct cli *cl, int argc, char **argv) {
  static const struct answer runs = {.method = "ListRuns", .show = show_runs};
  Sbx__V1__ListRunsRequest req = SBX__V1__LIST_RUNS_REQUEST__INIT;
  const struct opt opts[] = {
      OPT("scenario", set_str, &req.scenario),
      OPT("product", set_str, &req.product),
      OPT_AUX("state", set_enum, &req.state, &state_words),
      OPT_AUX("limit", set_count, &req.limit, &max_limit), OPT_END};
  int code =
      parse_args(cl, argc, argv, opts, 0, "list takes no arguments", NULL);
  return code != PARSED ? code : call_show(cl, &runs, &req, NULL);
}

static int show_canceled(const struct reply *rp) {
  const Sbx__V1__CancelRunResponse *resp = rp->msg;
  char sbuf[32];
  if (resp->run != NULL)
    printf("run %" PRIu64 " %s\n", resp->run->id,
           state_name(resp->run->state, sbuf, sizeof(sbuf)));
  return EXIT_OK;
}

static const struct answer cancel_run = {.method = "CancelRun",
                                         .show = show_canceled};

int sbx_cmd_run(int argc, char **argv, const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {{.name = "start",
                                       .fn = run_start,
                                       .topic = "run start",
                                       .usage = usage_run_start},
                                      {.name = "show",
                                       .answer = &get_run,
                                       .arg = "run_id",
                                       .arg_name = "RUN_ID"},
                                      {.name = "list", .fn = run_list},
                                      {.name = "cancel",
                                       .answer = &cancel_run,
                                       .arg = "run_id",
                                       .arg_name = "RUN_ID"},
                                      {.name = "watch", .fn = run_watch}};
  return dispatch("run", usage_run, verbs, N_OF(verbs), argc, argv, g);
}

/* ---- leaderboards (sbx leaderboard, and a match's ranking) ---- */

static const char *const leaderboard_heads[] = {
    "RANK", "PRODUCT",    "VERDICT",    "SCORE",
    "P99",  "THROUGHPUT", "ERROR RATE", "RUNS"};

static void leaderboard_row(struct sbx_table *t, const void *rows, size_t i) {
  const Sbx__V1__LeaderboardEntry *e =
      ((Sbx__V1__LeaderboardEntry *const *)rows)[i];
  struct metric_cells m;
  char rank[32], runs[32];
  snprintf(rank, sizeof(rank), "%s%" PRIu32, e->tied ? "=" : "", e->rank);
  snprintf(runs, sizeof(runs), "%" PRIu32, e->runs);
  metric_cells(e->best, &m);
  sbx_table_add(t, (const char *const[]){rank, str(e->product), m.verdict,
                                         m.score, m.p99, m.tput, m.er, runs});
}

static const struct table_shape leaderboard_rows = {
    .ncols = N_OF(leaderboard_heads),
    .heads = leaderboard_heads,
    .right = 1u << 0 | 1u << 3 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 7,
    .row = leaderboard_row};

/* "WHAT SCENARIO, ranked by METRIC (higher is better)", then the table. */
static void print_leaderboard(const Sbx__V1__GetLeaderboardResponse *lb,
                              const char *what) {
  char title[600];
  snprintf(title, sizeof(title), "%s %s, ranked by %s (%s is better)", what,
           str(lb->scenario),
           nonempty(lb->score_metric) ? lb->score_metric : "score",
           lb->higher_is_better ? "higher" : "lower");
  sbx_api_sanitize(title);
  printf("%s\n", title);
  print_table(&leaderboard_rows, lb->entries, lb->n_entries);
}

/* ctx: the scenario as asked, for an answer that does not name it. */
static int show_leaderboard(const struct reply *rp) {
  const Sbx__V1__GetLeaderboardResponse *resp = rp->msg;
  char s[300];
  if (resp->n_entries > 0) {
    print_leaderboard(resp, "leaderboard of");
    return EXIT_OK;
  }
  snprintf(s, sizeof(s), "%s", str(resp->scenario));
  sbx_api_sanitize(s);
  printf("no ranked results for %s yet (only official PASS and FAIL runs "
         "rank)\n",
         s[0] ? s : (const char *)rp->ctx);
  return EXIT_OK;
}

static const struct answer get_leaderboard = {.method = "GetLeaderboard",
                                              .show = show_leaderboard};

int sbx_cmd_leaderboard(int argc, char **argv,
                        const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {
      {.answer = &get_leaderboard, .arg = "scenario", .arg_name = "SCENARIO"}};
  return dispatch("leaderboard", usage_leaderboard, verbs, N_OF(verbs), argc,
                  argv, g);
}

/* ---- match ---- */

/* The match's own ranking: its results through the scenario's direction. */
static int match_ranking(struct cli *cl, const char *match_id,
                         const char *scenario, size_t n_runs) {
  Sbx__V1__ListResultsRequest lreq = SBX__V1__LIST_RESULTS_REQUEST__INIT;
  Sbx__V1__ListResultsResponse *lresp = NULL;
  Sbx__V1__GetLeaderboardRequest greq = SBX__V1__GET_LEADERBOARD_REQUEST__INIT;
  Sbx__V1__GetLeaderboardResponse *gresp = NULL;
  Sbx__V1__GetLeaderboardResponse mine =
      SBX__V1__GET_LEADERBOARD_RESPONSE__INIT;
  size_t i;
  int code;

  greq.scenario = (char *)scenario;
  code = call(cl, "GetLeaderboard", &greq, &gresp);
  if (code != EXIT_OK)
    return code;
  lreq.match_id = (char *)match_id;
  lreq.limit = n_runs > max_limit ? max_limit : (uint32_t)n_runs;
  code = call(cl, "ListResults", &lreq, &lresp);
  if (code != EXIT_OK)
    goto out;
  for (i = 0; i < lresp->n_results; i++)
    if (lresp->results[i] == NULL) {
      code = EXIT_NORUN;
      goto out;
    }
  if (sbx_leaderboard_build(lresp->results, lresp->n_results,
                            gresp->higher_is_better, &mine) != 0) {
    fprintf(stderr, "sbx %s: cannot rank the match: out of memory\n", cl->cmd);
    code = EXIT_NORUN;
    goto out;
  }
  mine.scenario = gresp->scenario;
  mine.score_metric = gresp->score_metric;
  putchar('\n');
  if (mine.n_entries == 0) {
    printf("no run of match %s got a PASS or FAIL verdict: nothing to "
           "rank\n",
           match_id);
  } else {
    char what[256];
    snprintf(what, sizeof(what), "match %.200s on", match_id);
    print_leaderboard(&mine, what);
  }
  for (i = 0; i < mine.n_entries; i++)
    sbx__v1__leaderboard_entry__free_unpacked(mine.entries[i], NULL);
  free(mine.entries);
out:
  if (lresp != NULL)
    sbx__v1__list_results_response__free_unpacked(lresp, NULL);
  sbx__v1__get_leaderboard_response__free_unpacked(gresp, NULL);
  return code;
}

static int match_start(struct cli *cl, int argc, char **argv) {
  Sbx__V1__StartMatchRequest req = SBX__V1__START_MATCH_REQUEST__INIT;
  Sbx__V1__LoadOverrides ov = SBX__V1__LOAD_OVERRIDES__INIT;
  Sbx__V1__StartMatchResponse *resp = NULL;
  struct watch_opts wo = {.progress = 1, .brief = 1};
  struct arg_list products = {.n = 0};
  int wait = 0, code, got, all = 1;
  const struct opt opts[] = {
      LOAD_OPTS(&ov),
      OPT("scenario", set_str, &req.scenario),
      OPT("product", set_list, &products),
      OPT_AUX("rounds", set_count, &req.rounds, &max_rounds),
      OPT_AUX("dataset", set_enum, &req.dataset, &dataset_words),
      OPT("callback", set_url, &req.callback_url),
      OPT("wait", set_flag, &wait),
      OPT("no-progress", set_unflag, &wo.progress),
      OPT_END};
  const Sbx__V1__Match *m;
  size_t i;
  char id[200];

  code = parse_args(cl, argc, argv, opts, 0, "unexpected argument", NULL);
  if (code != PARSED)
    return code;
  if (req.scenario[0] == '\0')
    return usage_error(cl, "--scenario is required");
  if (products.n < 2)
    return usage_error(cl, "a match needs two or more --product options");
  req.products = products.items;
  req.n_products = products.n;
  req.overrides = &ov;
  code = call(cl, "StartMatch", &req, &resp);
  if (code != EXIT_OK)
    return code;
  m = resp->match;
  if (m == NULL || !nonempty(m->id)) {
    code = no_answer(cl, "match");
    goto out;
  }
  snprintf(id, sizeof(id), "%s", m->id);
  sbx_api_sanitize(id);
  if (cl->json && !wait) {
    code = print_json(resp);
    goto out;
  }
  printf("match %s: %zu runs (", id, m->n_run_ids);
  for (i = 0; i < m->n_run_ids; i++)
    printf("%s%" PRIu64, i ? " " : "", m->run_ids[i]);
  printf(")\n");
  if (!wait)
    goto out;
  fflush(stdout);
  for (i = 0; i < m->n_run_ids; i++) {
    int rc = watch_run(cl, m->run_ids[i], &wo, &got);
    fflush(stdout);
    if (!got)
      all = 0;
    if (cl->interrupted != NULL && *cl->interrupted) {
      code = EXIT_NORUN;
      goto out;
    }
    if (rc == EXIT_USAGE && !got) { /* the API refused: no use going on */
      code = rc;
      goto out;
    }
  }
  code = match_ranking(
      cl, id, nonempty(m->scenario) ? m->scenario : req.scenario, m->n_run_ids);
  if (code == EXIT_OK && !all)
    code = EXIT_NORUN;
out:
  sbx__v1__start_match_response__free_unpacked(resp, NULL);
  return code;
}

static const char *const match_run_heads[] = {"RUN", "ROUND", "PRODUCT",
                                              "STATE", "NOTE"};

static void match_run_row(struct sbx_table *t, const void *rows, size_t i) {
  const Sbx__V1__Run *r = ((Sbx__V1__Run *const *)rows)[i];
  char rid[32], round[32], st[32];
  snprintf(rid, sizeof(rid), "%" PRIu64, r->id);
  snprintf(round, sizeof(round), "%" PRIu32, r->round);
  sbx_table_add(t, (const char *const[]){rid, round, str(r->product),
                                         state_name(r->state, st, sizeof(st)),
                                         str(r->reason)});
}

static const struct table_shape match_run_rows = {.ncols =
                                                      N_OF(match_run_heads),
                                                  .heads = match_run_heads,
                                                  .right = 1u << 0 | 1u << 1,
                                                  .row = match_run_row};

static int show_match(const struct reply *rp) {
  const Sbx__V1__GetMatchResponse *resp = rp->msg;
  const Sbx__V1__Match *m = resp->match;
  char buf[600];

  if (m == NULL)
    return no_answer(rp->cl, "match");
  kv("match", "%s", str(m->id));
  kv("scenario", "%s", str(m->scenario));
  join(m->products, m->n_products, buf, sizeof(buf));
  kv("products", "%s", buf);
  kv("rounds", "%" PRIu32, m->rounds);
  kv("seed", "%" PRIu64, m->seed);
  kv_opt("dataset", m->dataset);
  kv_time("created", m->created_unix_ms);
  kv_requested_by(m->requested_by);
  if (resp->n_runs > 0) {
    putchar('\n');
    print_table(&match_run_rows, resp->runs, resp->n_runs);
  }
  return EXIT_OK;
}

static const struct answer get_match = {.method = "GetMatch",
                                        .show = show_match};

int sbx_cmd_match(int argc, char **argv, const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {{.name = "start", .fn = match_start},
                                      {.name = "show",
                                       .answer = &get_match,
                                       .arg = "match_id",
                                       .arg_name = "MATCH_ID"}};
  return dispatch("match", usage_match, verbs, N_OF(verbs), argc, argv, g);
}

/* ---- results ---- */

static int result_get(struct cli *cl, int argc, char **argv) {
  struct watch_opts wo = {.progress = 0};
  const struct opt opts[] = {OPT("out", set_str, &wo.out),
                             OPT("no-color", set_flag, &wo.no_color), OPT_END};
  uint64_t id;
  int code = parse_run_args(cl, argc, argv, opts, &id);
  return code != PARSED ? code : get_result(cl, id, &wo, NULL, 1);
}

static const char *const result_heads[] = {
    "RUN",        "VERDICT",    "SCENARIO", "PRODUCT",  "SCORE", "P99",
    "THROUGHPUT", "ERROR RATE", "DATASET",  "OFFICIAL", "ENDED"};

static void result_row(struct sbx_table *t, const void *rows, size_t i) {
  const Sbx__V1__ResultSummary *s = ((Sbx__V1__ResultSummary *const *)rows)[i];
  struct metric_cells m;
  char id[32], when[64];
  snprintf(id, sizeof(id), "%" PRIu64, s->run_id);
  metric_cells(s, &m);
  sbx_cmd_format_time(s->ended_unix_ms, when, sizeof(when));
  sbx_table_add(
      t, (const char *const[]){id, m.verdict, str(s->scenario), str(s->product),
                               m.score, m.p99, m.tput, m.er,
                               nonempty(s->dataset) ? s->dataset : "-",
                               s->published ? "yes" : "no", when});
}

static const struct table_shape result_rows = {
    .ncols = N_OF(result_heads),
    .heads = result_heads,
    .right = 1u << 0 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 7,
    .empty = "no results",
    .row = result_row};

static int show_results(const struct reply *rp) {
  const Sbx__V1__ListResultsResponse *resp = rp->msg;
  return print_table(&result_rows, resp->results, resp->n_results);
}

static int result_list(struct cli *cl, int argc, char **argv) {
  static const struct answer results = {.method = "ListResults",
                                        .show = show_results};
  Sbx__V1__ListResultsRequest req = SBX__V1__LIST_RESULTS_REQUEST__INIT;
  const struct opt opts[] = {
      OPT("scenario", set_str, &req.scenario),
      OPT("product", set_str, &req.product),
      OPT("vendor", set_str, &req.vendor),
      OPT_AUX("verdict", set_enum, &req.verdict, &verdict_words),
      OPT("match", set_str, &req.match_id),
      OPT_AUX("limit", set_count, &req.limit, &max_limit),
      OPT_END};
  int code =
      parse_args(cl, argc, argv, opts, 0, "list takes no arguments", NULL);
  return code != PARSED ? code : call_show(cl, &results, &req, NULL);
}

int sbx_cmd_result_remote(int argc, char **argv,
                          const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {{.name = "get", .fn = result_get},
                                      {.name = "list", .fn = result_list}};
  return dispatch("result", usage_result_remote, verbs, N_OF(verbs), argc, argv,
                  g);
}

/* ---- keys ---- */

/* Base64 of an Ed25519 public key, with its NUL. */
#define KEY_B64_SIZE                                                           \
  (sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL) + 1)

static const char *const key_heads[] = {"KEYID", "ALGORITHM", "CREATED",
                                        "STATUS", "PUBLIC KEY"};

static void key_row(struct sbx_table *t, const void *rows, size_t i) {
  const Sbx__V1__SigningKey *k = ((Sbx__V1__SigningKey *const *)rows)[i];
  char b64[KEY_B64_SIZE], when[64];
  sodium_bin2base64(b64, sizeof(b64), k->public_key.data, 32,
                    sodium_base64_VARIANT_ORIGINAL);
  sbx_cmd_format_time(k->created_unix_ms, when, sizeof(when));
  sbx_table_add(t,
                (const char *const[]){str(k->keyid), str(k->algorithm), when,
                                      k->revoked ? "revoked" : "active", b64});
}

static const struct table_shape key_rows = {.ncols = N_OF(key_heads),
                                            .heads = key_heads,
                                            .empty = "no signing keys",
                                            .row = key_row};

/* Every key must be an Ed25519 public key; with --out FILE (ctx; NULL:
 * none) the first one is written there, as sbx verify --key takes it. */
static int check_keys(const struct reply *rp) {
  const Sbx__V1__GetSigningKeysResponse *resp = rp->msg;
  const char *out = rp->ctx;
  char b64[KEY_B64_SIZE], line[KEY_B64_SIZE + 1];
  size_t i;

  for (i = 0; i < resp->n_keys; i++) {
    if (resp->keys[i]->public_key.len != 32) {
      fprintf(stderr,
              "sbx %s: key %zu of the answer is %zu bytes long, not "
              "the 32 of an Ed25519 public key\n",
              rp->cl->cmd, i + 1, resp->keys[i]->public_key.len);
      return EXIT_NORUN;
    }
  }
  if (out == NULL)
    return EXIT_OK;
  if (resp->n_keys == 0) {
    fprintf(stderr, "sbx %s: sandboxd has no signing key\n", rp->cl->cmd);
    return EXIT_NORUN;
  }
  sodium_bin2base64(b64, sizeof(b64), resp->keys[0]->public_key.data, 32,
                    sodium_base64_VARIANT_ORIGINAL);
  snprintf(line, sizeof(line), "%s\n", b64);
  return write_file(rp->cl, out, line, strlen(line), 0644);
}

static int show_keys(const struct reply *rp) {
  const Sbx__V1__GetSigningKeysResponse *resp = rp->msg;
  const char *out = rp->ctx;
  print_table(&key_rows, resp->keys, resp->n_keys);
  if (out != NULL && resp->n_keys > 0)
    printf("wrote the key %s to %s\n", str(resp->keys[0]->keyid), out);
  return EXIT_OK;
}

static int keys_cmd(struct cli *cl, int argc, char **argv) {
  static const struct answer keys = {
      .method = "GetSigningKeys", .check = check_keys, .show = show_keys};
  Sbx__V1__GetSigningKeysRequest req = SBX__V1__GET_SIGNING_KEYS_REQUEST__INIT;
  char *out = NULL;
  const struct opt opts[] = {OPT("out", set_str, &out), OPT_END};
  int code =
      parse_args(cl, argc, argv, opts, 0, "keys takes no arguments", NULL);
  return code != PARSED ? code : call_show(cl, &keys, &req, out);
}

int sbx_cmd_keys(int argc, char **argv, const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {{.fn = keys_cmd}};
  return dispatch("keys", usage_keys, verbs, N_OF(verbs), argc, argv, g);
}

/* ---- tokens ---- */

static void describe_token(const Sbx__V1__Token *tk, char *buf, size_t len) {
  char role[32];
  snprintf(buf, len, "token %s: role %s%s%s%s%s%s", str(tk->id),
           role_name(tk->role, role, sizeof(role)),
           tk->vendor && tk->vendor[0] ? ", vendor " : "", str(tk->vendor),
           tk->name && tk->name[0] ? ", name \"" : "", str(tk->name),
           tk->name && tk->name[0] ? "\"" : "");
  sbx_api_sanitize(buf);
}

/* "PREFIXtoken ID: role ..." when there is a token. */
static void print_token(const Sbx__V1__Token *tk, const char *prefix) {
  char buf[600];
  if (tk == NULL)
    return;
  describe_token(tk, buf, sizeof(buf));
  printf("%s%s\n", prefix, buf);
}

/* The secret is printed as it came: it must be there and be plain. */
static int check_secret(const struct reply *rp) {
  const Sbx__V1__CreateTokenResponse *resp = rp->msg;
  size_t i;
  if (!nonempty(resp->secret) || resp->token == NULL)
    return no_answer(rp->cl, "secret");
  for (i = 0; resp->secret[i] != '\0'; i++) {
    if ((unsigned char)resp->secret[i] <= 0x20 ||
        (unsigned char)resp->secret[i] >= 0x7f) {
      fprintf(stderr,
              "sbx %s: the secret in the answer holds unprintable "
              "characters\n",
              rp->cl->cmd);
      return EXIT_NORUN;
    }
  }
  return EXIT_OK;
}

static int show_created(const struct reply *rp) {
  const Sbx__V1__CreateTokenResponse *resp = rp->msg;
  printf("%s\n", resp->secret);
  print_token(resp->token, "");
  if (isatty(fileno(stdout)))
    fprintf(stderr, "sbx: keep the secret (first line) now: it is never "
                    "shown again\n");
  return EXIT_OK;
}

static int token_create(struct cli *cl, int argc, char **argv) {
  static const struct answer created = {
      .method = "CreateToken", .check = check_secret, .show = show_created};
  Sbx__V1__CreateTokenRequest req = SBX__V1__CREATE_TOKEN_REQUEST__INIT;
  Sbx__V1__CreateTokenResponse *resp = NULL;
  const struct opt opts[] = {OPT_AUX("role", set_enum, &req.role, &role_words),
                             OPT("vendor", set_str, &req.vendor),
                             OPT("name", set_str, &req.name), OPT_END};
  int code = parse_args(cl, argc, argv, opts, 0, "unexpected argument", NULL);

  if (code != PARSED)
    return code;
  if (req.role == 0)
    return usage_error(cl, "--role is required");
  if ((req.role == SBX__V1__ROLE__ROLE_VENDOR) != (req.vendor[0] != '\0'))
    return usage_error(cl, req.vendor[0] == '\0'
                               ? "a vendor token needs --vendor VENDOR"
                               : "--vendor goes with --role vendor only");
  code = call(cl, created.method, &req, &resp);
  if (code != EXIT_OK)
    return code;
  code = show_answer(cl, &created, resp, NULL);
  if (resp->secret != NULL)
    sodium_memzero(resp->secret, strlen(resp->secret));
  sbx__v1__create_token_response__free_unpacked(resp, NULL);
  return code;
}

static const char *const token_heads[] = {"ID",   "ROLE",    "VENDOR",
                                          "NAME", "CREATED", "STATUS"};

static void token_row(struct sbx_table *t, const void *rows, size_t i) {
  const Sbx__V1__Token *tk = ((Sbx__V1__Token *const *)rows)[i];
  char role[32], when[64], status[96], rw[64];
  sbx_cmd_format_time(tk->created_unix_ms, when, sizeof(when));
  if (tk->revoked) {
    sbx_cmd_format_time(tk->revoked_unix_ms, rw, sizeof(rw));
    snprintf(status, sizeof(status), "revoked %s", rw);
  } else {
    snprintf(status, sizeof(status), "active");
  }
  sbx_table_add(t, (const char *const[]){
                       str(tk->id), role_name(tk->role, role, sizeof(role)),
                       nonempty(tk->vendor) ? tk->vendor : "-", str(tk->name),
                       when, status});
}

static const struct table_shape token_rows = {
    .ncols = N_OF(token_heads), .heads = token_heads, .row = token_row};

static int show_tokens(const struct reply *rp) {
  const Sbx__V1__ListTokensResponse *resp = rp->msg;
  return print_table(&token_rows, resp->tokens, resp->n_tokens);
}

static const struct answer list_tokens = {.method = "ListTokens",
                                          .show = show_tokens};

static int show_revoked(const struct reply *rp) {
  const Sbx__V1__RevokeTokenResponse *resp = rp->msg;
  print_token(resp->token, "revoked ");
  return EXIT_OK;
}

static const struct answer revoke_token = {.method = "RevokeToken",
                                           .show = show_revoked};

int sbx_cmd_token(int argc, char **argv, const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {{.name = "create", .fn = token_create},
                                      {.name = "list", .answer = &list_tokens},
                                      {.name = "revoke",
                                       .answer = &revoke_token,
                                       .arg = "token_id",
                                       .arg_name = "TOKEN_ID (sbx token list "
                                                   "shows them)"}};
  return dispatch("token", usage_token, verbs, N_OF(verbs), argc, argv, g);
}

static int show_whoami(const struct reply *rp) {
  const Sbx__V1__WhoAmIResponse *resp = rp->msg;
  print_token(resp->token, "");
  return EXIT_OK;
}

static const struct answer who_am_i = {.method = "WhoAmI", .show = show_whoami};

int sbx_cmd_whoami(int argc, char **argv, const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {{.answer = &who_am_i}};
  return dispatch("whoami", usage_token, verbs, N_OF(verbs), argc, argv, g);
}
