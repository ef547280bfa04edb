/* cmd_client.c - the sbx commands that talk to sandboxd. See cmd.h.
 *
 * Every command is the same three steps: parse the options (the shared
 * --server/--token/--json among them), make one or a few API calls
 * (apiclient.h), print the answer as a table, as key/value lines, or as
 * proto3 JSON with --json. Whatever the server sent is printed through
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

static int is_terminal(Sbx__V1__RunState s) {
  return s == SBX__V1__RUN_STATE__RUN_STATE_DONE ||
         s == SBX__V1__RUN_STATE__RUN_STATE_ERROR ||
         s == SBX__V1__RUN_STATE__RUN_STATE_CANCELED ||
         s == SBX__V1__RUN_STATE__RUN_STATE_INTERRUPTED;
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

static int want_color(FILE *f, int no_color) {
  const char *nc = getenv("NO_COLOR");
  return !no_color && (nc == NULL || nc[0] == '\0') && isatty(fileno(f));
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
  const char *cmd; /* "run start", for messages */
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

static int cli_open(struct cli *cl) {
  struct sbx_api_error err;
  int rc = sbx_api_client_new(cl->server, cl->token, &cl->api, &err);
  if (rc != 0) {
    fprintf(stderr, "sbx %s: %s\n", cl->cmd, err.message);
    return rc == SBX_EINVAL ? EXIT_USAGE : EXIT_NORUN;
  }
  sbx_api_client_set_abort_flag(cl->api, cl->interrupted);
  return EXIT_OK;
}

/* One unary call; prints the error. Returns an exit code, EXIT_OK with
 * *resp set (the caller frees it). */
static int call(struct cli *cl, const char *method, const void *req,
                const ProtobufCMessageDescriptor *desc, void *resp) {
  struct sbx_api_error err;
  ProtobufCMessage **out = resp;
  int rc;
  if (cl->api == NULL && (rc = cli_open(cl)) != EXIT_OK)
    return rc;
  rc = sbx_api_call(cl->api, method, req, desc, out, &err);
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

/* ---- option parsing shared by every command ---- */

enum {
  O_SERVER = 1000,
  O_TOKEN,
  O_JSON,
  O_HELP,
  O_SCENARIO,
  O_PRODUCT,
  O_VENDOR,
  O_STATE,
  O_LIMIT,
  O_VERDICT,
  O_MATCH,
  O_DATASET,
  O_CALLBACK,
  O_CLIENT,
  O_WAIT,
  O_JUNIT,
  O_SUMMARY,
  O_OUT,
  O_QUIET,
  O_NOPROG,
  O_NOCOLOR,
  O_ROUNDS,
  O_PRIVATE,
  O_REPLACE,
  O_SPEC,
  O_ENDPOINT,
  O_HEADER,
  O_SECRET,
  O_PLUGIN,
  O_PLUGIN_CONFIG,
  O_ROLE,
  O_NAME,
  O_LOAD /* O_LOAD + i: LOAD_NAMES[i] */
};

static const char *const LOAD_NAMES[] = {
    "warmup",    "min-duration", "duration", "max-duration", "timeout",
    "min-cases", "concurrency",  "rate",     "seed"};
#define N_LOAD (sizeof(LOAD_NAMES) / sizeof(LOAD_NAMES[0]))

#define GLOBAL_OPTS                                                            \
  {"server", required_argument, NULL, O_SERVER},                               \
      {"token", required_argument, NULL, O_TOKEN},                             \
      {"json", no_argument, NULL, O_JSON}, {                                   \
    "help", no_argument, NULL, O_HELP                                          \
  }

#define LOAD_OPTS                                                              \
  {"warmup", required_argument, NULL, O_LOAD + 0},                             \
      {"min-duration", required_argument, NULL, O_LOAD + 1},                   \
      {"duration", required_argument, NULL, O_LOAD + 2},                       \
      {"max-duration", required_argument, NULL, O_LOAD + 3},                   \
      {"timeout", required_argument, NULL, O_LOAD + 4},                        \
      {"min-cases", required_argument, NULL, O_LOAD + 5},                      \
      {"concurrency", required_argument, NULL, O_LOAD + 6},                    \
      {"rate", required_argument, NULL, O_LOAD + 7}, {                         \
    "seed", required_argument, NULL, O_LOAD + 8                                \
  }

#define WATCH_OPTS                                                             \
  {"junit", required_argument, NULL, O_JUNIT},                                 \
      {"summary-json", required_argument, NULL, O_SUMMARY},                    \
      {"out", required_argument, NULL, O_OUT},                                 \
      {"quiet", no_argument, NULL, O_QUIET},                                   \
      {"no-progress", no_argument, NULL, O_NOPROG}, {                          \
    "no-color", no_argument, NULL, O_NOCOLOR                                   \
  }

/* What getopt said about a bad option; returns EXIT_USAGE. */
static int bad_option(const struct cli *cl, char **argv, const char *topic) {
  const char *arg = optind > 0 ? argv[optind - 1] : "?";
  fprintf(stderr,
          "sbx %s: unknown option \"%s\", or it lacks its value; try 'sbx %s "
          "--help'\n",
          cl->cmd, arg, topic);
  return EXIT_USAGE;
}

/* Handles --server, --token, --json; 1 if c was one of them. */
static int global_option(struct cli *cl, int c) {
  switch (c) {
  case O_SERVER:
    cl->server = optarg;
    return 1;
  case O_TOKEN:
    cl->token = optarg;
    return 1;
  case O_JSON:
    cl->json = 1;
    return 1;
  default:
    return 0;
  }
}

static void start_getopt(void) {
  optind = 0; /* glibc: start afresh, argv[0] is skipped */
  opterr = 0;
}

static int usage_error(const struct cli *cl, const char *what,
                       const char *topic) {
  fprintf(stderr, "sbx %s: %s; try 'sbx %s --help'\n", cl->cmd, what, topic);
  return EXIT_USAGE;
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

static int parse_limit(const struct cli *cl, const char *s, uint32_t *out) {
  uint64_t u;
  if (sbx_parse_uint64(s, 1000000, &u) != 0 || u == 0) {
    fprintf(stderr,
            "sbx %s: --limit: invalid value \"%.100s\"; write a whole "
            "number from 1 to 1000000\n",
            cl->cmd, s);
    return EXIT_USAGE;
  }
  *out = (uint32_t)u;
  return EXIT_OK;
}

static int check_url(const struct cli *cl, const char *opt, const char *url) {
  if (strncasecmp(url, "http://", 7) == 0 ||
      strncasecmp(url, "https://", 8) == 0)
    return EXIT_OK;
  fprintf(stderr,
          "sbx %s: %s: \"%.200s\" is not an http:// or https:// "
          "URL\n",
          cl->cmd, opt, url);
  return EXIT_USAGE;
}

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

/* ---- scenario ---- */

static int scenario_publish(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {
      GLOBAL_OPTS,
      {"private-dataset", required_argument, NULL, O_PRIVATE},
      {"replace", no_argument, NULL, O_REPLACE},
      {NULL, 0, NULL, 0}};
  Sbx__V1__PublishScenarioRequest req = SBX__V1__PUBLISH_SCENARIO_REQUEST__INIT;
  Sbx__V1__PublishScenarioResponse *resp = NULL;
  Sbx__V1__Scenario *sc = NULL;
  struct sbx_diag diag = {{0}};
  const char *priv = NULL, *arg;
  char dir[PATH_MAX], spec_path[PATH_MAX], path[PATH_MAX];
  uint8_t *spec = NULL, *data = NULL, *setup = NULL, *pdata = NULL;
  size_t spec_len = 0, data_len = 0, setup_len = 0, pdata_len = 0;
  struct stat st;
  int c, code;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    switch (c) {
    case O_PRIVATE:
      priv = optarg;
      break;
    case O_REPLACE:
      req.replace = 1;
      break;
    case O_HELP:
      fputs(usage_scenario, stdout);
      return EXIT_OK;
    default:
      return bad_option(cl, argv, "scenario");
    }
  }
  if (optind + 1 != argc)
    return usage_error(cl,
                       "expected one DIR (a scenario directory with "
                       "spec.yaml)",
                       "scenario");
  arg = argv[optind];
  if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(dir, sizeof(dir), "%s", arg);
    if (join_path(arg, "spec.yaml", spec_path, sizeof(spec_path)) != 0)
      return usage_error(cl, "path too long", "scenario");
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
  if (sc->dataset == NULL || sc->dataset->path == NULL ||
      sc->dataset->path[0] == '\0') {
    fprintf(stderr, "sbx %s: %s names no dataset.path\n", cl->cmd, spec_path);
    code = EXIT_USAGE;
    goto out;
  }
  if (join_path(dir, sc->dataset->path, path, sizeof(path)) != 0) {
    code = usage_error(cl, "dataset path too long", "scenario");
    goto out;
  }
  code = read_file(cl, "dataset", path, MAX_INPUT_FILE, &data, &data_len);
  if (code != EXIT_OK)
    goto out;
  if (sc->interface != NULL && sc->interface->setup != NULL &&
      sc->interface->setup[0] != '\0') {
    if (join_path(dir, sc->interface->setup, path, sizeof(path)) != 0) {
      code = usage_error(cl, "setup path too long", "scenario");
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
  code = call(cl, "PublishScenario", &req,
              &sbx__v1__publish_scenario_response__descriptor, &resp);
  if (code != EXIT_OK)
    goto out;
  if (cl->json) {
    code = print_json(resp);
  } else if (resp->scenario != NULL) {
    const Sbx__V1__ScenarioInfo *si = resp->scenario;
    char dg[160];
    format_full_digest(si->digest, dg, sizeof(dg));
    kv("published", "%s@%s", str(si->name), str(si->version));
    kv("cases", "%" PRIu64 " public%s", si->public_cases,
       si->has_private_dataset ? ", private dataset" : "");
    kv("digest", "%s", dg);
  }
out:
  if (resp != NULL)
    sbx__v1__publish_scenario_response__free_unpacked(resp, NULL);
  sbx_scenario_free(sc);
  free(spec);
  free(data);
  free(setup);
  if (pdata != NULL)
    sodium_memzero(pdata, pdata_len); /* private cases stay private */
  free(pdata);
  return code;
}

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

static int scenario_list(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {GLOBAL_OPTS, {NULL, 0, NULL, 0}};
  static const char *const heads[] = {"SCENARIO", "TITLE",  "KIND",     "CASES",
                                      "PRIVATE",  "DIGEST", "PUBLISHED"};
  Sbx__V1__ListScenariosRequest req = SBX__V1__LIST_SCENARIOS_REQUEST__INIT;
  Sbx__V1__ListScenariosResponse *resp = NULL;
  struct sbx_table t;
  size_t i;
  int c, code;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    if (c == O_HELP) {
      fputs(usage_scenario, stdout);
      return EXIT_OK;
    }
    return bad_option(cl, argv, "scenario");
  }
  if (optind != argc)
    return usage_error(cl, "list takes no arguments", "scenario");
  code = call(cl, "ListScenarios", &req,
              &sbx__v1__list_scenarios_response__descriptor, &resp);
  if (code != EXIT_OK)
    return code;
  if (cl->json) {
    code = print_json(resp);
    goto out;
  }
  if (resp->n_scenarios == 0) {
    printf("no scenarios published yet; add one with sbx scenario publish "
           "DIR\n");
    goto out;
  }
  sbx_table_init(&t, 7, heads, 1u << 3);
  for (i = 0; i < resp->n_scenarios; i++) {
    const Sbx__V1__ScenarioInfo *si = resp->scenarios[i];
    char id[300], kind[32], cases[32], priv[32], dg[32], when[64];
    snprintf(id, sizeof(id), "%s@%s", str(si->name), str(si->version));
    snprintf(cases, sizeof(cases), "%" PRIu64, si->public_cases);
    private_cases(si, priv, sizeof(priv));
    format_short_digest(si->digest, dg, sizeof(dg));
    sbx_cmd_format_time(si->published_unix_ms, when, sizeof(when));
    sbx_table_add(
        &t, (const char *const[]){id, str(si->title),
                                  kind_name(si->interface, kind, sizeof(kind)),
                                  cases, priv, dg, when});
  }
  sbx_table_print(&t, stdout);
  sbx_table_free(&t);
out:
  sbx__v1__list_scenarios_response__free_unpacked(resp, NULL);
  return code;
}

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

static int scenario_show(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {
      GLOBAL_OPTS, {"spec", no_argument, NULL, O_SPEC}, {NULL, 0, NULL, 0}};
  Sbx__V1__GetScenarioRequest req = SBX__V1__GET_SCENARIO_REQUEST__INIT;
  Sbx__V1__GetScenarioResponse *resp = NULL;
  const Sbx__V1__ScenarioInfo *si;
  char buf[160], buf2[64];
  int c, code;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    if (c == O_SPEC) {
      req.include_spec = 1;
      continue;
    }
    if (c == O_HELP) {
      fputs(usage_scenario, stdout);
      return EXIT_OK;
    }
    return bad_option(cl, argv, "scenario");
  }
  if (optind + 1 != argc)
    return usage_error(cl, "expected one NAME[@VERSION]", "scenario");
  req.scenario = argv[optind];
  code = call(cl, "GetScenario", &req,
              &sbx__v1__get_scenario_response__descriptor, &resp);
  if (code != EXIT_OK)
    return code;
  if (cl->json) {
    code = print_json(resp);
    goto out;
  }
  si = resp->scenario;
  if (si == NULL) {
    fprintf(stderr, "sbx %s: the answer holds no scenario\n", cl->cmd);
    code = EXIT_NORUN;
    goto out;
  }
  kv("scenario", "%s@%s", str(si->name), str(si->version));
  kv("title", "%s", str(si->title));
  if (si->description != NULL && si->description[0] != '\0')
    kv("description", "%s", si->description);
  kv("interface", "%s", kind_name(si->interface, buf2, sizeof(buf2)));
  kv("public cases", "%" PRIu64, si->public_cases);
  private_cases(si, buf2, sizeof(buf2));
  kv("private", "%s", buf2);
  kv("score", "%s",
     si->score_metric && si->score_metric[0] ? si->score_metric : "-");
  format_full_digest(si->digest, buf, sizeof(buf));
  kv("digest", "%s", buf);
  sbx_cmd_format_time(si->published_unix_ms, buf, sizeof(buf));
  kv("published", "%s", buf);
  if (si->source != NULL && si->source[0] != '\0')
    kv("source", "%s", si->source);
  if (req.include_spec) {
    printf("--- spec.yaml (%zu bytes; public dataset %zu bytes)\n",
           resp->spec.len, resp->dataset.len);
    print_text_block(resp->spec.data, resp->spec.len);
  }
out:
  sbx__v1__get_scenario_response__free_unpacked(resp, NULL);
  return code;
}

/* ---- the command skeleton: verbs of a noun ---- */

typedef int (*verb_fn)(struct cli *cl, int argc, char **argv);

struct verb {
  const char *name;
  verb_fn fn;
};

static int dispatch(const char *noun, const char *usage,
                    const struct verb *verbs, size_t n, int argc, char **argv,
                    const struct sbx_cmd_globals *g) {
  struct cli cl = {.server = g->server,
                   .token = g->token,
                   .json = g->json,
                   .interrupted = g->interrupted};
  char cmd[64];
  size_t i;
  int code;

  if (cl.server == NULL || cl.server[0] == '\0')
    cl.server = getenv("SBX_SERVER");
  if (cl.server == NULL || cl.server[0] == '\0')
    cl.server = SBX_CMD_DEFAULT_SERVER;
  if (cl.token == NULL)
    cl.token = getenv("SBX_TOKEN");
  if (verbs[0].name == NULL) { /* a command without verbs: keys, ... */
    cl.cmd = noun;
    code = verbs[0].fn(&cl, argc, argv);
    sbx_api_client_free(cl.api);
    return code;
  }
  /* "sbx run --json list": the shared options may also precede the verb. */
  while (argc >= 2) {
    if (strcmp(argv[1], "--json") == 0) {
      cl.json = 1;
      argv[1] = argv[0];
      argc--;
      argv++;
    } else if ((strcmp(argv[1], "--server") == 0 ||
                strcmp(argv[1], "--token") == 0) &&
               argc >= 3) {
      *(argv[1][2] == 's' ? &cl.server : &cl.token) = argv[2];
      argv[2] = argv[0];
      argc -= 2;
      argv += 2;
    } else if (strncmp(argv[1], "--server=", 9) == 0 ||
               strncmp(argv[1], "--token=", 8) == 0) {
      if (argv[1][2] == 's')
        cl.server = argv[1] + 9;
      else
        cl.token = argv[1] + 8;
      argv[1] = argv[0];
      argc--;
      argv++;
    } else {
      break;
    }
  }
  if (argc < 2) {
    fputs(usage, stderr);
    return EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    fputs(usage, stdout);
    return EXIT_OK;
  }
  for (i = 0; i < n; i++) {
    if (strcmp(argv[1], verbs[i].name) == 0) {
      snprintf(cmd, sizeof(cmd), "%s %s", noun, verbs[i].name);
      cl.cmd = cmd;
      /* The verb sees argv from its own name on, so getopt works as is. */
      code = verbs[i].fn(&cl, argc - 1, argv + 1);
      sbx_api_client_free(cl.api);
      return code;
    }
  }
  fprintf(stderr, "sbx %s: unknown subcommand \"%.100s\"\n\n%s", noun, argv[1],
          usage);
  return EXIT_USAGE;
}

int sbx_cmd_scenario(int argc, char **argv, const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {{"publish", scenario_publish},
                                      {"list", scenario_list},
                                      {"show", scenario_show}};
  return dispatch("scenario", usage_scenario, verbs, 3, argc, argv, g);
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

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s != NULL ? s + 1 : path;
}

static int product_register(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {
      GLOBAL_OPTS,
      {"endpoint", required_argument, NULL, O_ENDPOINT},
      {"header", required_argument, NULL, O_HEADER},
      {"secret-file", required_argument, NULL, O_SECRET},
      {"plugin", required_argument, NULL, O_PLUGIN},
      {"plugin-config", required_argument, NULL, O_PLUGIN_CONFIG},
      {"callback", required_argument, NULL, O_CALLBACK},
      {"replace", no_argument, NULL, O_REPLACE},
      {NULL, 0, NULL, 0}};
  Sbx__V1__RegisterProductRequest req = SBX__V1__REGISTER_PRODUCT_REQUEST__INIT;
  Sbx__V1__RegisterProductResponse *resp = NULL;
  Sbx__V1__Product product = SBX__V1__PRODUCT__INIT;
  Sbx__V1__Endpoint ep = SBX__V1__ENDPOINT__INIT;
  Sbx__V1__Plugin pl = SBX__V1__PLUGIN__INIT;
  Sbx__V1__Header hdrs[MAX_HEADERS];
  Sbx__V1__Header *hptr[MAX_HEADERS];
  const char *endpoint = NULL, *secret_file = NULL, *plugin = NULL;
  const char *plugin_config = NULL;
  char idbuf[512];
  uint8_t *secret = NULL, *lib = NULL, *config = NULL;
  size_t secret_len = 0, lib_len = 0, config_len = 0, n_hdrs = 0;
  uint8_t sha[SBX_SHA256_BYTES];
  int c, code = EXIT_USAGE;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    switch (c) {
    case O_ENDPOINT:
      endpoint = optarg;
      break;
    case O_HEADER:
      if (n_hdrs == MAX_HEADERS)
        return usage_error(cl, "too many --header options", "product");
      hdrs[n_hdrs] = (Sbx__V1__Header)SBX__V1__HEADER__INIT;
      if (parse_header(cl, optarg, &hdrs[n_hdrs]) != EXIT_OK)
        return EXIT_USAGE;
      hptr[n_hdrs] = &hdrs[n_hdrs];
      n_hdrs++;
      break;
    case O_SECRET:
      secret_file = optarg;
      break;
    case O_PLUGIN:
      plugin = optarg;
      break;
    case O_PLUGIN_CONFIG:
      plugin_config = optarg;
      break;
    case O_CALLBACK:
      if (check_url(cl, "--callback", optarg) != EXIT_OK)
        return EXIT_USAGE;
      product.callback_url = optarg;
      break;
    case O_REPLACE:
      req.replace = 1;
      break;
    case O_HELP:
      fputs(usage_product, stdout);
      return EXIT_OK;
    default:
      return bad_option(cl, argv, "product");
    }
  }
  if (optind + 1 != argc)
    return usage_error(cl, "expected one VENDOR/NAME@VERSION", "product");
  if (split_product(cl, argv[optind], idbuf, sizeof(idbuf), &product) !=
      EXIT_OK)
    return EXIT_USAGE;
  if ((endpoint == NULL) == (plugin == NULL))
    return usage_error(cl,
                       endpoint == NULL ? "the product is missing: give "
                                          "--endpoint URL or --plugin LIB.so"
                                        : "give either --endpoint or "
                                          "--plugin, not both",
                       "product");
  if (endpoint != NULL && plugin_config != NULL)
    return usage_error(cl, "--plugin-config goes with --plugin", "product");
  if (plugin != NULL && (n_hdrs > 0 || secret_file != NULL))
    return usage_error(cl, "--header and --secret-file go with --endpoint",
                       "product");
  if (endpoint != NULL) {
    if (check_url(cl, "--endpoint", endpoint) != EXIT_OK)
      return EXIT_USAGE;
    product.kind = SBX__V1__PRODUCT_KIND__PRODUCT_KIND_ENDPOINT;
    ep.url = (char *)endpoint;
    ep.headers = hptr;
    ep.n_headers = n_hdrs;
    if (secret_file != NULL) {
      code = read_file(cl, "secret file", secret_file, MAX_SECRET_FILE, &secret,
                       &secret_len);
      if (code != EXIT_OK)
        goto out;
      /* The file's final newline is not part of the secret. */
      while (secret_len > 0 &&
             (secret[secret_len - 1] == '\n' || secret[secret_len - 1] == '\r'))
        secret[--secret_len] = '\0';
      if (secret_len == 0 || strlen((char *)secret) != secret_len) {
        fprintf(stderr,
                "sbx %s: secret file %s is empty or holds a NUL "
                "byte\n",
                cl->cmd, secret_file);
        code = EXIT_USAGE;
        goto out;
      }
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
  code = call(cl, "RegisterProduct", &req,
              &sbx__v1__register_product_response__descriptor, &resp);
  if (code != EXIT_OK)
    goto out;
  if (resp->product != NULL && resp->product->endpoint != NULL &&
      resp->product->endpoint->secret != NULL)
    sodium_memzero(resp->product->endpoint->secret,
                   strlen(resp->product->endpoint->secret));
  if (cl->json) {
    code = print_json(resp);
  } else {
    char hex[80];
    format_hex(sha, sizeof(sha), 6, hex, sizeof(hex));
    if (endpoint != NULL)
      kv("registered", "%s/%s@%s, endpoint %s", product.vendor, product.name,
         product.version, endpoint);
    else
      kv("registered", "%s/%s@%s, plugin %s (%zu bytes, sha256:%s)",
         product.vendor, product.name, product.version, pl.filename, lib_len,
         hex);
  }
out:
  if (resp != NULL)
    sbx__v1__register_product_response__free_unpacked(resp, NULL);
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

/* Secrets never reach the screen, --json included. */
static void scrub_product(Sbx__V1__Product *p) {
  if (p != NULL && p->endpoint != NULL && p->endpoint->secret != NULL)
    sodium_memzero(p->endpoint->secret, strlen(p->endpoint->secret));
}

static int product_list(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {
      GLOBAL_OPTS,
      {"vendor", required_argument, NULL, O_VENDOR},
      {NULL, 0, NULL, 0}};
  static const char *const heads[] = {"PRODUCT", "KIND", "TARGET", "CREATED"};
  Sbx__V1__ListProductsRequest req = SBX__V1__LIST_PRODUCTS_REQUEST__INIT;
  Sbx__V1__ListProductsResponse *resp = NULL;
  struct sbx_table t;
  size_t i;
  int c, code;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    if (c == O_VENDOR) {
      req.vendor = optarg;
      continue;
    }
    if (c == O_HELP) {
      fputs(usage_product, stdout);
      return EXIT_OK;
    }
    return bad_option(cl, argv, "product");
  }
  if (optind != argc)
    return usage_error(cl, "list takes no arguments", "product");
  code = call(cl, "ListProducts", &req,
              &sbx__v1__list_products_response__descriptor, &resp);
  if (code != EXIT_OK)
    return code;
  for (i = 0; i < resp->n_products; i++)
    scrub_product(resp->products[i]);
  if (cl->json) {
    code = print_json(resp);
    goto out;
  }
  if (resp->n_products == 0) {
    printf("no products registered%s%s; add one with sbx product register\n",
           req.vendor[0] ? " for vendor " : "", req.vendor);
    goto out;
  }
  sbx_table_init(&t, 4, heads, 0);
  for (i = 0; i < resp->n_products; i++) {
    const Sbx__V1__Product *p = resp->products[i];
    char id[400], kind[32], target[600], when[64];
    product_id(p, id, sizeof(id));
    product_target(p, target, sizeof(target));
    sbx_cmd_format_time(p->created_unix_ms, when, sizeof(when));
    sbx_table_add(
        &t, (const char *const[]){id, product_kind(p->kind, kind, sizeof(kind)),
                                  target, when});
  }
  sbx_table_print(&t, stdout);
  sbx_table_free(&t);
out:
  sbx__v1__list_products_response__free_unpacked(resp, NULL);
  return code;
}

static int product_show(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {GLOBAL_OPTS, {NULL, 0, NULL, 0}};
  Sbx__V1__GetProductRequest req = SBX__V1__GET_PRODUCT_REQUEST__INIT;
  Sbx__V1__GetProductResponse *resp = NULL;
  const Sbx__V1__Product *p;
  char buf[600];
  size_t i;
  int c, code;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    if (c == O_HELP) {
      fputs(usage_product, stdout);
      return EXIT_OK;
    }
    return bad_option(cl, argv, "product");
  }
  if (optind + 1 != argc)
    return usage_error(cl, "expected one VENDOR/NAME@VERSION", "product");
  req.product = argv[optind];
  code = call(cl, "GetProduct", &req,
              &sbx__v1__get_product_response__descriptor, &resp);
  if (code != EXIT_OK)
    return code;
  scrub_product(resp->product);
  if (cl->json) {
    code = print_json(resp);
    goto out;
  }
  p = resp->product;
  if (p == NULL) {
    fprintf(stderr, "sbx %s: the answer holds no product\n", cl->cmd);
    code = EXIT_NORUN;
    goto out;
  }
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
    format_full_digest(p->plugin->sha256, buf, sizeof(buf));
    kv("digest", "%s", buf);
    if (p->plugin->config.len > 0)
      kv("config", "%zu bytes", p->plugin->config.len);
  }
  if (p->callback_url != NULL && p->callback_url[0] != '\0')
    kv("callback", "%s", p->callback_url);
  sbx_cmd_format_time(p->created_unix_ms, buf, sizeof(buf));
  kv("created", "%s", buf);
out:
  sbx__v1__get_product_response__free_unpacked(resp, NULL);
  return code;
}

int sbx_cmd_product(int argc, char **argv, const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {{"register", product_register},
                                      {"list", product_list},
                                      {"show", product_show}};
  return dispatch("product", usage_product, verbs, 3, argc, argv, g);
}

/* ---- watching a run ---- */

struct watch_opts {
  const char *junit;
  const char *summary;
  const char *out;
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
    if (!is_terminal(ev->state) &&
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
  struct sbx_diag diag = {{0}};
  char vbuf[32], keyid[80];
  int code;

  switch (res->verdict) {
  case SBX__V1__VERDICT__VERDICT_PASS:
    code = EXIT_OK;
    break;
  case SBX__V1__VERDICT__VERDICT_FAIL:
  case SBX__V1__VERDICT__VERDICT_INVALID:
    code = EXIT_FAILED;
    break;
  default:
    code = EXIT_NORUN;
  }
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
    sbx_report_text(stdout, res, want_color(stdout, o->no_color));
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
  if (o->junit != NULL && sbx_report_junit(o->junit, res, &diag) != 0) {
    fprintf(stderr, "sbx %s: %s\n", cl->cmd, diag.msg);
    code = EXIT_NORUN;
  }
  if (o->summary != NULL && sbx_report_json(o->summary, res, &diag) != 0) {
    fprintf(stderr, "sbx %s: %s\n", cl->cmd, diag.msg);
    code = EXIT_NORUN;
  }
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

/* Fetches a finished run's result with GetResult and shows it. */
static int fetch_result(struct cli *cl, uint64_t run_id,
                        const struct watch_opts *o, int *got) {
  Sbx__V1__GetResultRequest req = SBX__V1__GET_RESULT_REQUEST__INIT;
  Sbx__V1__GetResultResponse *resp = NULL;
  Sbx__V1__Result *res = NULL;
  int code;

  *got = 0;
  req.run_id = run_id;
  code = call(cl, "GetResult", &req, &sbx__v1__get_result_response__descriptor,
              &resp);
  if (code != EXIT_OK)
    return code;
  if (resp->signed_ != NULL)
    res = decode_payload(cl, resp->signed_);
  if (res == NULL) {
    code = EXIT_NORUN;
    goto out;
  }
  *got = 1;
  code = show_result(cl, resp->signed_, res, o);
out:
  if (res != NULL)
    sbx__v1__result__free_unpacked(res, NULL);
  sbx__v1__get_result_response__free_unpacked(resp, NULL);
  return code;
}

/* Follows run_id to its end and shows the outcome. *got (may be NULL) is
 * set when a result was shown. Returns the exit code. */
static int watch_run(struct cli *cl, uint64_t run_id,
                     const struct watch_opts *o, int *got) {
  struct watch w = {.cl = cl, .run_id = run_id};
  struct sbx_api_error err;
  Sbx__V1__Result *res = NULL;
  Sbx__V1__GetRunRequest greq = SBX__V1__GET_RUN_REQUEST__INIT;
  Sbx__V1__GetRunResponse *gresp = NULL;
  char sbuf[32], reason[1024];
  int rc, code, dummy;

  if (got == NULL)
    got = &dummy;
  *got = 0;
  if (cl->api == NULL && (code = cli_open(cl)) != EXIT_OK)
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
    res = decode_payload(cl, w.signed_res);
    if (res == NULL) {
      code = EXIT_NORUN;
      goto out;
    }
    *got = 1;
    code = show_result(cl, w.signed_res, res, o);
    goto out;
  }
  /* No result in the stream: ask how the run ended. */
  greq.run_id = run_id;
  code =
      call(cl, "GetRun", &greq, &sbx__v1__get_run_response__descriptor, &gresp);
  if (code != EXIT_OK)
    goto out;
  if (gresp->run != NULL &&
      gresp->run->state == SBX__V1__RUN_STATE__RUN_STATE_DONE) {
    code = fetch_result(cl, run_id, o, got);
    goto out;
  }
  snprintf(reason, sizeof(reason), "%s",
           gresp->run && gresp->run->reason && gresp->run->reason[0]
               ? gresp->run->reason
               : "no reason given");
  sbx_api_sanitize(reason);
  if (gresp->run != NULL && is_terminal(gresp->run->state))
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
  if (res != NULL)
    sbx__v1__result__free_unpacked(res, NULL);
  if (w.signed_res != NULL)
    sbx__v1__signed_result__free_unpacked(w.signed_res, NULL);
  return code;
}

/* ---- run ---- */

static int parse_dataset(const struct cli *cl, const char *s,
                         Sbx__V1__DatasetChoice *out) {
  if (strcmp(s, "public") == 0)
    *out = SBX__V1__DATASET_CHOICE__DATASET_PUBLIC;
  else if (strcmp(s, "private") == 0)
    *out = SBX__V1__DATASET_CHOICE__DATASET_PRIVATE;
  else if (strcmp(s, "default") == 0)
    *out = SBX__V1__DATASET_CHOICE__DATASET_DEFAULT;
  else {
    fprintf(stderr,
            "sbx %s: --dataset: invalid value \"%.100s\"; write "
            "public or private\n",
            cl->cmd, s);
    return EXIT_USAGE;
  }
  return EXIT_OK;
}

/* Handles a load override or a watch option; 1 if c was one, -1 on a bad
 * value (message printed). */
static int load_or_watch_option(struct cli *cl, int c,
                                Sbx__V1__LoadOverrides *ov,
                                struct watch_opts *wo) {
  struct sbx_diag diag = {{0}};
  if (c >= O_LOAD && c < O_LOAD + (int)N_LOAD) {
    if (sbx_cmd_load_option(LOAD_NAMES[c - O_LOAD], optarg, ov, &diag) != 0) {
      fprintf(stderr, "sbx %s: %s\n", cl->cmd, diag.msg);
      return -1;
    }
    return 1;
  }
  switch (c) {
  case O_JUNIT:
    wo->junit = optarg;
    return 1;
  case O_SUMMARY:
    wo->summary = optarg;
    return 1;
  case O_OUT:
    wo->out = optarg;
    return 1;
  case O_QUIET:
    wo->quiet = 1;
    return 1;
  case O_NOPROG:
    wo->progress = 0;
    return 1;
  case O_NOCOLOR:
    wo->no_color = 1;
    return 1;
  default:
    return 0;
  }
}

static int run_start(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {
      GLOBAL_OPTS,
      LOAD_OPTS,
      WATCH_OPTS,
      {"scenario", required_argument, NULL, O_SCENARIO},
      {"product", required_argument, NULL, O_PRODUCT},
      {"dataset", required_argument, NULL, O_DATASET},
      {"callback", required_argument, NULL, O_CALLBACK},
      {"http-client", required_argument, NULL, O_CLIENT},
      {"wait", no_argument, NULL, O_WAIT},
      {NULL, 0, NULL, 0}};
  Sbx__V1__StartRunRequest req = SBX__V1__START_RUN_REQUEST__INIT;
  Sbx__V1__LoadOverrides ov = SBX__V1__LOAD_OVERRIDES__INIT;
  Sbx__V1__StartRunResponse *resp = NULL;
  struct watch_opts wo = {.progress = 1};
  int c, k, wait = 0, watch_only = 0, code;
  char sbuf[32];

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    k = load_or_watch_option(cl, c, &ov, &wo);
    if (k < 0)
      return EXIT_USAGE;
    if (k > 0) {
      if (c >= O_JUNIT && c <= O_NOCOLOR)
        watch_only = 1;
      continue;
    }
    switch (c) {
    case O_SCENARIO:
      req.scenario = optarg;
      break;
    case O_PRODUCT:
      req.product = optarg;
      break;
    case O_DATASET:
      if (parse_dataset(cl, optarg, &req.dataset) != EXIT_OK)
        return EXIT_USAGE;
      break;
    case O_CALLBACK:
      if (check_url(cl, "--callback", optarg) != EXIT_OK)
        return EXIT_USAGE;
      req.callback_url = optarg;
      break;
    case O_CLIENT:
      if (strcmp(optarg, "curl") == 0)
        req.http_client = SBX__V1__HTTP_CLIENT__HTTP_CLIENT_CURL;
      else if (strcmp(optarg, "fast") == 0)
        req.http_client = SBX__V1__HTTP_CLIENT__HTTP_CLIENT_FAST;
      else if (strcmp(optarg, "auto") == 0)
        req.http_client = SBX__V1__HTTP_CLIENT__HTTP_CLIENT_AUTO;
      else {
        fprintf(stderr,
                "sbx %s: --http-client: invalid value \"%.100s\"; "
                "write auto, curl or fast\n",
                cl->cmd, optarg);
        return EXIT_USAGE;
      }
      break;
    case O_WAIT:
      wait = 1;
      break;
    case O_HELP:
      fputs(usage_run_start, stdout);
      return EXIT_OK;
    default:
      return bad_option(cl, argv, "run start");
    }
  }
  if (optind != argc)
    return usage_error(cl,
                       "unexpected argument; the scenario and product "
                       "go with --scenario and --product",
                       "run start");
  if (req.scenario[0] == '\0' || req.product[0] == '\0')
    return usage_error(cl,
                       req.scenario[0] == '\0' ? "--scenario is required"
                                               : "--product is required",
                       "run start");
  if (watch_only && !wait)
    return usage_error(cl,
                       "--junit, --summary-json, --out, --quiet, "
                       "--no-progress and --no-color go with --wait",
                       "run start");
  req.overrides = &ov;
  code = call(cl, "StartRun", &req, &sbx__v1__start_run_response__descriptor,
              &resp);
  if (code != EXIT_OK)
    return code;
  if (resp->run == NULL || resp->run->id == 0) {
    fprintf(stderr, "sbx %s: the answer holds no run\n", cl->cmd);
    code = EXIT_NORUN;
    goto out;
  }
  if (!wait) {
    if (cl->json) {
      code = print_json(resp);
    } else {
      printf("run %" PRIu64 " %s", resp->run->id,
             state_name(resp->run->state, sbuf, sizeof(sbuf)));
      if (resp->run->state == SBX__V1__RUN_STATE__RUN_STATE_QUEUED &&
          resp->run->queue_position > 0)
        printf(" (%" PRIu32 " ahead)", resp->run->queue_position);
      putchar('\n');
    }
    goto out;
  }
  if (!wo.quiet && !cl->json)
    fprintf(stderr,
            "sbx: run %" PRIu64 " %s; following it (Ctrl-C stops "
            "watching, the run goes on)\n",
            resp->run->id, state_name(resp->run->state, sbuf, sizeof(sbuf)));
  code = watch_run(cl, resp->run->id, &wo, NULL);
out:
  sbx__v1__start_run_response__free_unpacked(resp, NULL);
  return code;
}

static int run_watch(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {
      GLOBAL_OPTS, WATCH_OPTS, {NULL, 0, NULL, 0}};
  struct watch_opts wo = {.progress = 1};
  uint64_t id;
  int c, k;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    k = load_or_watch_option(cl, c, NULL, &wo);
    if (k > 0)
      continue;
    if (c == O_HELP) {
      fputs(usage_run, stdout);
      return EXIT_OK;
    }
    return bad_option(cl, argv, "run");
  }
  if (optind + 1 != argc)
    return usage_error(cl, "expected one RUN_ID", "run");
  if (parse_id(cl, argv[optind], &id) != EXIT_OK)
    return EXIT_USAGE;
  return watch_run(cl, id, &wo, NULL);
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

static void print_run(const Sbx__V1__Run *r) {
  char buf[600], b2[160], b3[64];
  size_t i;
  kv("run", "%" PRIu64, r->id);
  format_short_digest(r->scenario_digest, b2, sizeof(b2));
  kv("scenario", "%s (sha256:%s)", str(r->scenario), b2);
  kv("product", "%s", str(r->product));
  state_name(r->state, b3, sizeof(b3));
  if (r->reason != NULL && r->reason[0] != '\0')
    kv("state", "%s: %s", b3, r->reason);
  else
    kv("state", "%s", b3);
  if (r->state == SBX__V1__RUN_STATE__RUN_STATE_QUEUED)
    kv("queue", "%" PRIu32 " run(s) ahead", r->queue_position);
  if (r->dataset != NULL && r->dataset[0] != '\0')
    kv("dataset", "%s", r->dataset);
  if (r->client != NULL && r->client[0] != '\0')
    kv("client", "%s", r->client);
  if (r->load != NULL) {
    format_load(r->load, buf, sizeof(buf));
    kv("load", "%s", buf);
  }
  buf[0] = '\0';
  for (i = 0; i < r->n_overrides; i++) {
    size_t n = strlen(buf);
    snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? ", " : "",
             str(r->overrides[i]));
  }
  if (r->n_overrides > 0)
    kv("overrides", "%s", buf);
  kv("official", "%s", r->published ? "yes (on leaderboards)" : "no");
  if (r->match_id != NULL && r->match_id[0] != '\0')
    kv("match", "%s, round %" PRIu32, r->match_id, r->round);
  sbx_cmd_format_time(r->created_unix_ms, buf, sizeof(buf));
  kv("created", "%s", buf);
  sbx_cmd_format_time(r->started_unix_ms, buf, sizeof(buf));
  kv("started", "%s", buf);
  sbx_cmd_format_time(r->ended_unix_ms, buf, sizeof(buf));
  if (r->ended_unix_ms > 0 && r->started_unix_ms > 0 &&
      r->ended_unix_ms >= r->started_unix_ms) {
    sbx_format_duration_us((r->ended_unix_ms - r->started_unix_ms) * 1000, b2,
                           sizeof(b2));
    kv("ended", "%s (took %s)", buf, b2);
  } else {
    kv("ended", "%s", buf);
  }
  if (r->callback_url != NULL && r->callback_url[0] != '\0')
    kv("callback", "%s", r->callback_url);
  if (r->requested_by != NULL && r->requested_by[0] != '\0')
    kv("started by", "token %s", r->requested_by);
}

static int run_show(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {GLOBAL_OPTS, {NULL, 0, NULL, 0}};
  Sbx__V1__GetRunRequest req = SBX__V1__GET_RUN_REQUEST__INIT;
  Sbx__V1__GetRunResponse *resp = NULL;
  int c, code;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    if (c == O_HELP) {
      fputs(usage_run, stdout);
      return EXIT_OK;
    }
    return bad_option(cl, argv, "run");
  }
  if (optind + 1 != argc)
    return usage_error(cl, "expected one RUN_ID", "run");
  if (parse_id(cl, argv[optind], &req.run_id) != EXIT_OK)
    return EXIT_USAGE;
  code =
      call(cl, "GetRun", &req, &sbx__v1__get_run_response__descriptor, &resp);
  if (code != EXIT_OK)
    return code;
  if (cl->json)
    code = print_json(resp);
  else if (resp->run != NULL)
    print_run(resp->run);
  sbx__v1__get_run_response__free_unpacked(resp, NULL);
  return code;
}

static int run_list(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {
      GLOBAL_OPTS,
      {"scenario", required_argument, NULL, O_SCENARIO},
      {"product", required_argument, NULL, O_PRODUCT},
      {"state", required_argument, NULL, O_STATE},
      {"limit", required_argument, NULL, O_LIMIT},
      {NULL, 0, NULL, 0}};
  static const char *const heads[] = {"RUN",     "STATE", "SCENARIO", "PRODUCT",
                                      "CREATED", "TOOK",  "NOTE"};
  Sbx__V1__ListRunsRequest req = SBX__V1__LIST_RUNS_REQUEST__INIT;
  Sbx__V1__ListRunsResponse *resp = NULL;
  struct sbx_table t;
  size_t i;
  int c, code, v;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    switch (c) {
    case O_SCENARIO:
      req.scenario = optarg;
      break;
    case O_PRODUCT:
      req.product = optarg;
      break;
    case O_STATE:
      if (parse_enum(&sbx__v1__run_state__descriptor, "RUN_STATE_", optarg,
                     &v) != 0) {
        fprintf(stderr,
                "sbx %s: --state: invalid value \"%.100s\"; write "
                "queued, preparing, warmup, measuring, verifying, "
                "done, error, canceled or interrupted\n",
                cl->cmd, optarg);
        return EXIT_USAGE;
      }
      req.state = v;
      break;
    case O_LIMIT:
      if (parse_limit(cl, optarg, &req.limit) != EXIT_OK)
        return EXIT_USAGE;
      break;
    case O_HELP:
      fputs(usage_run, stdout);
      return EXIT_OK;
    default:
      return bad_option(cl, argv, "run");
    }
  }
  if (optind != argc)
    return usage_error(cl, "list takes no arguments", "run");
  code = call(cl, "ListRuns", &req, &sbx__v1__list_runs_response__descriptor,
              &resp);
  if (code != EXIT_OK)
    return code;
  if (cl->json) {
    code = print_json(resp);
    goto out;
  }
  if (resp->n_runs == 0) {
    printf("no runs\n");
    goto out;
  }
  sbx_table_init(&t, 7, heads, 1u << 0 | 1u << 5);
  for (i = 0; i < resp->n_runs; i++) {
    const Sbx__V1__Run *r = resp->runs[i];
    char id[32], st[32], when[64], took[32], note[400];
    snprintf(id, sizeof(id), "%" PRIu64, r->id);
    sbx_cmd_format_time(r->created_unix_ms, when, sizeof(when));
    if (r->ended_unix_ms > 0 && r->started_unix_ms > 0 &&
        r->ended_unix_ms >= r->started_unix_ms)
      sbx_format_duration_us((r->ended_unix_ms - r->started_unix_ms) * 1000,
                             took, sizeof(took));
    else
      snprintf(took, sizeof(took), "-");
    if (r->reason != NULL && r->reason[0] != '\0')
      snprintf(note, sizeof(note), "%s", r->reason);
    else if (r->state == SBX__V1__RUN_STATE__RUN_STATE_QUEUED)
      snprintf(note, sizeof(note), "%" PRIu32 " ahead", r->queue_position);
    else if (r->match_id != NULL && r->match_id[0] != '\0')
      snprintf(note, sizeof(note), "match %s", r->match_id);
    else
      note[0] = '\0';
    sbx_table_add(&t, (const char *const[]){
                          id, state_name(r->state, st, sizeof(st)),
                          str(r->scenario), str(r->product), when, took, note});
  }
  sbx_table_print(&t, stdout);
  sbx_table_free(&t);
out:
  sbx__v1__list_runs_response__free_unpacked(resp, NULL);
  return code;
}

static int run_cancel(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {GLOBAL_OPTS, {NULL, 0, NULL, 0}};
  Sbx__V1__CancelRunRequest req = SBX__V1__CANCEL_RUN_REQUEST__INIT;
  Sbx__V1__CancelRunResponse *resp = NULL;
  char sbuf[32];
  int c, code;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    if (c == O_HELP) {
      fputs(usage_run, stdout);
      return EXIT_OK;
    }
    return bad_option(cl, argv, "run");
  }
  if (optind + 1 != argc)
    return usage_error(cl, "expected one RUN_ID", "run");
  if (parse_id(cl, argv[optind], &req.run_id) != EXIT_OK)
    return EXIT_USAGE;
  code = call(cl, "CancelRun", &req, &sbx__v1__cancel_run_response__descriptor,
              &resp);
  if (code != EXIT_OK)
    return code;
  if (cl->json)
    code = print_json(resp);
  else if (resp->run != NULL)
    printf("run %" PRIu64 " %s\n", resp->run->id,
           state_name(resp->run->state, sbuf, sizeof(sbuf)));
  sbx__v1__cancel_run_response__free_unpacked(resp, NULL);
  return code;
}

int sbx_cmd_run(int argc, char **argv, const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {{"start", run_start},
                                      {"show", run_show},
                                      {"list", run_list},
                                      {"cancel", run_cancel},
                                      {"watch", run_watch}};
  return dispatch("run", usage_run, verbs, 5, argc, argv, g);
}

/* ---- leaderboards (sbx leaderboard, and a match's ranking) ---- */

static void print_leaderboard(const Sbx__V1__GetLeaderboardResponse *lb) {
  static const char *const heads[] = {"RANK",       "PRODUCT", "VERDICT",
                                      "SCORE",      "P99",     "THROUGHPUT",
                                      "ERROR RATE", "RUNS"};
  struct sbx_table t;
  size_t i;
  sbx_table_init(&t, 8, heads,
                 1u << 0 | 1u << 3 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 7);
  for (i = 0; i < lb->n_entries; i++) {
    const Sbx__V1__LeaderboardEntry *e = lb->entries[i];
    const Sbx__V1__ResultSummary *b = e->best;
    char rank[32], v[32], score[32], p99[32], tput[32], er[32], runs[32];
    snprintf(rank, sizeof(rank), "%s%" PRIu32, e->tied ? "=" : "", e->rank);
    snprintf(runs, sizeof(runs), "%" PRIu32, e->runs);
    if (b != NULL) {
      verdict_name(b->verdict, v, sizeof(v));
      format_score(b->score, score, sizeof(score));
      format_us(b->p99_us, p99, sizeof(p99));
      format_rate(b->throughput, tput, sizeof(tput));
      format_fraction(b->error_rate, er, sizeof(er));
    } else {
      snprintf(v, sizeof(v), "-");
      snprintf(score, sizeof(score), "-");
      snprintf(p99, sizeof(p99), "-");
      snprintf(tput, sizeof(tput), "-");
      snprintf(er, sizeof(er), "-");
    }
    sbx_table_add(&t, (const char *const[]){rank, str(e->product), v, score,
                                            p99, tput, er, runs});
  }
  sbx_table_print(&t, stdout);
  sbx_table_free(&t);
}

static void leaderboard_title(const Sbx__V1__GetLeaderboardResponse *lb,
                              const char *what) {
  char title[600];
  snprintf(title, sizeof(title), "%s %s, ranked by %s (%s is better)", what,
           str(lb->scenario),
           lb->score_metric && lb->score_metric[0] ? lb->score_metric : "score",
           lb->higher_is_better ? "higher" : "lower");
  sbx_api_sanitize(title);
  printf("%s\n", title);
}

static int leaderboard_cmd(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {GLOBAL_OPTS, {NULL, 0, NULL, 0}};
  Sbx__V1__GetLeaderboardRequest req = SBX__V1__GET_LEADERBOARD_REQUEST__INIT;
  Sbx__V1__GetLeaderboardResponse *resp = NULL;
  int c, code;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    if (c == O_HELP) {
      fputs(usage_leaderboard, stdout);
      return EXIT_OK;
    }
    return bad_option(cl, argv, "leaderboard");
  }
  if (optind + 1 != argc)
    return usage_error(cl, "expected one SCENARIO", "leaderboard");
  req.scenario = argv[optind];
  code = call(cl, "GetLeaderboard", &req,
              &sbx__v1__get_leaderboard_response__descriptor, &resp);
  if (code != EXIT_OK)
    return code;
  if (cl->json) {
    code = print_json(resp);
  } else if (resp->n_entries == 0) {
    char s[300];
    snprintf(s, sizeof(s), "%s", str(resp->scenario));
    sbx_api_sanitize(s);
    printf("no ranked results for %s yet (only official PASS and FAIL runs "
           "rank)\n",
           s[0] ? s : argv[optind]);
  } else {
    leaderboard_title(resp, "leaderboard of");
    print_leaderboard(resp);
  }
  sbx__v1__get_leaderboard_response__free_unpacked(resp, NULL);
  return code;
}

int sbx_cmd_leaderboard(int argc, char **argv,
                        const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {{NULL, leaderboard_cmd}};
  return dispatch("leaderboard", usage_leaderboard, verbs, 1, argc, argv, g);
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
  code = call(cl, "GetLeaderboard", &greq,
              &sbx__v1__get_leaderboard_response__descriptor, &gresp);
  if (code != EXIT_OK)
    return code;
  lreq.match_id = (char *)match_id;
  lreq.limit = n_runs > 1000000 ? 1000000 : (uint32_t)n_runs;
  code = call(cl, "ListResults", &lreq,
              &sbx__v1__list_results_response__descriptor, &lresp);
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
    leaderboard_title(&mine, what);
    print_leaderboard(&mine);
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
  static const struct option opts[] = {
      GLOBAL_OPTS,
      LOAD_OPTS,
      {"scenario", required_argument, NULL, O_SCENARIO},
      {"product", required_argument, NULL, O_PRODUCT},
      {"rounds", required_argument, NULL, O_ROUNDS},
      {"dataset", required_argument, NULL, O_DATASET},
      {"callback", required_argument, NULL, O_CALLBACK},
      {"wait", no_argument, NULL, O_WAIT},
      {"no-progress", no_argument, NULL, O_NOPROG},
      {NULL, 0, NULL, 0}};
  Sbx__V1__StartMatchRequest req = SBX__V1__START_MATCH_REQUEST__INIT;
  Sbx__V1__LoadOverrides ov = SBX__V1__LOAD_OVERRIDES__INIT;
  Sbx__V1__StartMatchResponse *resp = NULL;
  struct watch_opts wo = {.progress = 1, .brief = 1};
  char *products[MAX_PRODUCTS];
  const Sbx__V1__Match *m;
  uint64_t u;
  size_t i, n_products = 0;
  int c, k, wait = 0, code, got, all = 1;
  char id[200];

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    k = load_or_watch_option(cl, c, &ov, &wo);
    if (k < 0)
      return EXIT_USAGE;
    if (k > 0)
      continue;
    switch (c) {
    case O_SCENARIO:
      req.scenario = optarg;
      break;
    case O_PRODUCT:
      if (n_products == MAX_PRODUCTS)
        return usage_error(cl, "too many --product options", "match");
      products[n_products++] = optarg;
      break;
    case O_ROUNDS:
      if (sbx_parse_uint64(optarg, 1000, &u) != 0 || u == 0) {
        fprintf(stderr,
                "sbx %s: --rounds: invalid value \"%.100s\"; write "
                "a whole number from 1 to 1000\n",
                cl->cmd, optarg);
        return EXIT_USAGE;
      }
      req.rounds = (uint32_t)u;
      break;
    case O_DATASET:
      if (parse_dataset(cl, optarg, &req.dataset) != EXIT_OK)
        return EXIT_USAGE;
      break;
    case O_CALLBACK:
      if (check_url(cl, "--callback", optarg) != EXIT_OK)
        return EXIT_USAGE;
      req.callback_url = optarg;
      break;
    case O_WAIT:
      wait = 1;
      break;
    case O_HELP:
      fputs(usage_match, stdout);
      return EXIT_OK;
    default:
      return bad_option(cl, argv, "match");
    }
  }
  if (optind != argc)
    return usage_error(cl, "unexpected argument", "match");
  if (req.scenario[0] == '\0')
    return usage_error(cl, "--scenario is required", "match");
  if (n_products < 2)
    return usage_error(cl, "a match needs two or more --product options",
                       "match");
  req.products = products;
  req.n_products = n_products;
  req.overrides = &ov;
  code = call(cl, "StartMatch", &req,
              &sbx__v1__start_match_response__descriptor, &resp);
  if (code != EXIT_OK)
    return code;
  m = resp->match;
  if (m == NULL || m->id == NULL || m->id[0] == '\0') {
    fprintf(stderr, "sbx %s: the answer holds no match\n", cl->cmd);
    code = EXIT_NORUN;
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
      cl, id, m->scenario && m->scenario[0] ? m->scenario : req.scenario,
      m->n_run_ids);
  if (code == EXIT_OK && !all)
    code = EXIT_NORUN;
out:
  sbx__v1__start_match_response__free_unpacked(resp, NULL);
  return code;
}

static int match_show(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {GLOBAL_OPTS, {NULL, 0, NULL, 0}};
  static const char *const heads[] = {"RUN", "ROUND", "PRODUCT", "STATE",
                                      "NOTE"};
  Sbx__V1__GetMatchRequest req = SBX__V1__GET_MATCH_REQUEST__INIT;
  Sbx__V1__GetMatchResponse *resp = NULL;
  const Sbx__V1__Match *m;
  struct sbx_table t;
  char buf[600];
  size_t i;
  int c, code;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    if (c == O_HELP) {
      fputs(usage_match, stdout);
      return EXIT_OK;
    }
    return bad_option(cl, argv, "match");
  }
  if (optind + 1 != argc)
    return usage_error(cl, "expected one MATCH_ID", "match");
  req.match_id = argv[optind];
  code = call(cl, "GetMatch", &req, &sbx__v1__get_match_response__descriptor,
              &resp);
  if (code != EXIT_OK)
    return code;
  if (cl->json) {
    code = print_json(resp);
    goto out;
  }
  m = resp->match;
  if (m == NULL) {
    fprintf(stderr, "sbx %s: the answer holds no match\n", cl->cmd);
    code = EXIT_NORUN;
    goto out;
  }
  kv("match", "%s", str(m->id));
  kv("scenario", "%s", str(m->scenario));
  buf[0] = '\0';
  for (i = 0; i < m->n_products; i++) {
    size_t n = strlen(buf);
    snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? ", " : "",
             str(m->products[i]));
  }
  kv("products", "%s", buf);
  kv("rounds", "%" PRIu32, m->rounds);
  kv("seed", "%" PRIu64, m->seed);
  if (m->dataset != NULL && m->dataset[0] != '\0')
    kv("dataset", "%s", m->dataset);
  sbx_cmd_format_time(m->created_unix_ms, buf, sizeof(buf));
  kv("created", "%s", buf);
  if (m->requested_by != NULL && m->requested_by[0] != '\0')
    kv("started by", "token %s", m->requested_by);
  if (resp->n_runs > 0) {
    putchar('\n');
    sbx_table_init(&t, 5, heads, 1u << 0 | 1u << 1);
    for (i = 0; i < resp->n_runs; i++) {
      const Sbx__V1__Run *r = resp->runs[i];
      char rid[32], round[32], st[32];
      snprintf(rid, sizeof(rid), "%" PRIu64, r->id);
      snprintf(round, sizeof(round), "%" PRIu32, r->round);
      sbx_table_add(&t,
                    (const char *const[]){rid, round, str(r->product),
                                          state_name(r->state, st, sizeof(st)),
                                          str(r->reason)});
    }
    sbx_table_print(&t, stdout);
    sbx_table_free(&t);
  }
out:
  sbx__v1__get_match_response__free_unpacked(resp, NULL);
  return code;
}

int sbx_cmd_match(int argc, char **argv, const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {{"start", match_start},
                                      {"show", match_show}};
  return dispatch("match", usage_match, verbs, 2, argc, argv, g);
}

/* ---- results ---- */

static int result_get(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {
      GLOBAL_OPTS,
      {"out", required_argument, NULL, O_OUT},
      {"no-color", no_argument, NULL, O_NOCOLOR},
      {NULL, 0, NULL, 0}};
  Sbx__V1__GetResultRequest req = SBX__V1__GET_RESULT_REQUEST__INIT;
  Sbx__V1__GetResultResponse *resp = NULL;
  Sbx__V1__Result *res = NULL;
  struct watch_opts wo = {0};
  int c, code;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    if (c == O_OUT) {
      wo.out = optarg;
      continue;
    }
    if (c == O_NOCOLOR) {
      wo.no_color = 1;
      continue;
    }
    if (c == O_HELP) {
      fputs(usage_result_remote, stdout);
      return EXIT_OK;
    }
    return bad_option(cl, argv, "result");
  }
  if (optind + 1 != argc)
    return usage_error(cl, "expected one RUN_ID", "result");
  if (parse_id(cl, argv[optind], &req.run_id) != EXIT_OK)
    return EXIT_USAGE;
  code = call(cl, "GetResult", &req, &sbx__v1__get_result_response__descriptor,
              &resp);
  if (code != EXIT_OK)
    return code;
  if (resp->signed_ == NULL) {
    fprintf(stderr, "sbx %s: the answer holds no signed result\n", cl->cmd);
    code = EXIT_NORUN;
    goto out;
  }
  /* What is shown is what was signed: the payload, not the convenience
   * copy beside it. */
  res = decode_payload(cl, resp->signed_);
  if (res == NULL) {
    code = EXIT_NORUN;
    goto out;
  }
  if (cl->json) {
    code = print_json(resp);
    wo.silent = 1;
    if (code != EXIT_OK)
      goto out;
  }
  code = show_result(cl, resp->signed_, res, &wo);
out:
  if (res != NULL)
    sbx__v1__result__free_unpacked(res, NULL);
  sbx__v1__get_result_response__free_unpacked(resp, NULL);
  return code;
}

static int result_list(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {
      GLOBAL_OPTS,
      {"scenario", required_argument, NULL, O_SCENARIO},
      {"product", required_argument, NULL, O_PRODUCT},
      {"vendor", required_argument, NULL, O_VENDOR},
      {"verdict", required_argument, NULL, O_VERDICT},
      {"match", required_argument, NULL, O_MATCH},
      {"limit", required_argument, NULL, O_LIMIT},
      {NULL, 0, NULL, 0}};
  static const char *const heads[] = {
      "RUN",        "VERDICT",    "SCENARIO", "PRODUCT",  "SCORE", "P99",
      "THROUGHPUT", "ERROR RATE", "DATASET",  "OFFICIAL", "ENDED"};
  Sbx__V1__ListResultsRequest req = SBX__V1__LIST_RESULTS_REQUEST__INIT;
  Sbx__V1__ListResultsResponse *resp = NULL;
  struct sbx_table t;
  size_t i;
  int c, code, v;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    switch (c) {
    case O_SCENARIO:
      req.scenario = optarg;
      break;
    case O_PRODUCT:
      req.product = optarg;
      break;
    case O_VENDOR:
      req.vendor = optarg;
      break;
    case O_MATCH:
      req.match_id = optarg;
      break;
    case O_VERDICT:
      if (parse_enum(&sbx__v1__verdict__descriptor, "VERDICT_", optarg, &v) !=
          0) {
        fprintf(stderr,
                "sbx %s: --verdict: invalid value \"%.100s\"; write "
                "pass, fail, invalid or error\n",
                cl->cmd, optarg);
        return EXIT_USAGE;
      }
      req.verdict = v;
      break;
    case O_LIMIT:
      if (parse_limit(cl, optarg, &req.limit) != EXIT_OK)
        return EXIT_USAGE;
      break;
    case O_HELP:
      fputs(usage_result_remote, stdout);
      return EXIT_OK;
    default:
      return bad_option(cl, argv, "result");
    }
  }
  if (optind != argc)
    return usage_error(cl, "list takes no arguments", "result");
  code = call(cl, "ListResults", &req,
              &sbx__v1__list_results_response__descriptor, &resp);
  if (code != EXIT_OK)
    return code;
  if (cl->json) {
    code = print_json(resp);
    goto out;
  }
  if (resp->n_results == 0) {
    printf("no results\n");
    goto out;
  }
  sbx_table_init(&t, 11, heads,
                 1u << 0 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 7);
  for (i = 0; i < resp->n_results; i++) {
    const Sbx__V1__ResultSummary *s = resp->results[i];
    char id[32], v2[32], score[32], p99[32], tput[32], er[32], when[64];
    snprintf(id, sizeof(id), "%" PRIu64, s->run_id);
    format_score(s->score, score, sizeof(score));
    format_us(s->p99_us, p99, sizeof(p99));
    format_rate(s->throughput, tput, sizeof(tput));
    format_fraction(s->error_rate, er, sizeof(er));
    sbx_cmd_format_time(s->ended_unix_ms, when, sizeof(when));
    sbx_table_add(&t, (const char *const[]){
                          id, verdict_name(s->verdict, v2, sizeof(v2)),
                          str(s->scenario), str(s->product), score, p99, tput,
                          er, s->dataset && s->dataset[0] ? s->dataset : "-",
                          s->published ? "yes" : "no", when});
  }
  sbx_table_print(&t, stdout);
  sbx_table_free(&t);
out:
  sbx__v1__list_results_response__free_unpacked(resp, NULL);
  return code;
}

int sbx_cmd_result_remote(int argc, char **argv,
                          const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {{"get", result_get},
                                      {"list", result_list}};
  return dispatch("result", usage_result_remote, verbs, 2, argc, argv, g);
}

/* ---- keys ---- */

static int keys_cmd(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {
      GLOBAL_OPTS, {"out", required_argument, NULL, O_OUT}, {NULL, 0, NULL, 0}};
  static const char *const heads[] = {"KEYID", "ALGORITHM", "CREATED", "STATUS",
                                      "PUBLIC KEY"};
  Sbx__V1__GetSigningKeysRequest req = SBX__V1__GET_SIGNING_KEYS_REQUEST__INIT;
  Sbx__V1__GetSigningKeysResponse *resp = NULL;
  const char *out = NULL;
  struct sbx_table t;
  char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL) + 1];
  size_t i;
  int c, code;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    if (c == O_OUT) {
      out = optarg;
      continue;
    }
    if (c == O_HELP) {
      fputs(usage_keys, stdout);
      return EXIT_OK;
    }
    return bad_option(cl, argv, "keys");
  }
  if (optind != argc)
    return usage_error(cl, "keys takes no arguments", "keys");
  code = call(cl, "GetSigningKeys", &req,
              &sbx__v1__get_signing_keys_response__descriptor, &resp);
  if (code != EXIT_OK)
    return code;
  for (i = 0; i < resp->n_keys; i++)
    if (resp->keys[i]->public_key.len != 32) {
      fprintf(stderr,
              "sbx %s: key %zu of the answer is %zu bytes long, not "
              "the 32 of an Ed25519 public key\n",
              cl->cmd, i + 1, resp->keys[i]->public_key.len);
      code = EXIT_NORUN;
      goto out;
    }
  if (out != NULL) {
    if (resp->n_keys == 0) {
      fprintf(stderr, "sbx %s: sandboxd has no signing key\n", cl->cmd);
      code = EXIT_NORUN;
      goto out;
    }
    sodium_bin2base64(b64, sizeof(b64), resp->keys[0]->public_key.data, 32,
                      sodium_base64_VARIANT_ORIGINAL);
    {
      char line[sizeof(b64) + 1];
      snprintf(line, sizeof(line), "%s\n", b64);
      code = write_file(cl, out, line, strlen(line), 0644);
      if (code != EXIT_OK)
        goto out;
    }
  }
  if (cl->json) {
    code = print_json(resp);
    goto out;
  }
  if (resp->n_keys == 0) {
    printf("no signing keys\n");
    goto out;
  }
  sbx_table_init(&t, 5, heads, 0);
  for (i = 0; i < resp->n_keys; i++) {
    const Sbx__V1__SigningKey *k = resp->keys[i];
    char when[64];
    sodium_bin2base64(b64, sizeof(b64), k->public_key.data, 32,
                      sodium_base64_VARIANT_ORIGINAL);
    sbx_cmd_format_time(k->created_unix_ms, when, sizeof(when));
    sbx_table_add(
        &t, (const char *const[]){str(k->keyid), str(k->algorithm), when,
                                  k->revoked ? "revoked" : "active", b64});
  }
  sbx_table_print(&t, stdout);
  sbx_table_free(&t);
  if (out != NULL)
    printf("wrote the key %s to %s\n", str(resp->keys[0]->keyid), out);
out:
  sbx__v1__get_signing_keys_response__free_unpacked(resp, NULL);
  return code;
}

int sbx_cmd_keys(int argc, char **argv, const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {{NULL, keys_cmd}};
  return dispatch("keys", usage_keys, verbs, 1, argc, argv, g);
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

static int token_create(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {
      GLOBAL_OPTS,
      {"role", required_argument, NULL, O_ROLE},
      {"vendor", required_argument, NULL, O_VENDOR},
      {"name", required_argument, NULL, O_NAME},
      {NULL, 0, NULL, 0}};
  Sbx__V1__CreateTokenRequest req = SBX__V1__CREATE_TOKEN_REQUEST__INIT;
  Sbx__V1__CreateTokenResponse *resp = NULL;
  char buf[600];
  size_t i;
  int c, code, v;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    switch (c) {
    case O_ROLE:
      if (parse_enum(&sbx__v1__role__descriptor, "ROLE_", optarg, &v) != 0) {
        fprintf(stderr,
                "sbx %s: --role: invalid value \"%.100s\"; write "
                "admin, publisher, evaluator, viewer or vendor\n",
                cl->cmd, optarg);
        return EXIT_USAGE;
      }
      req.role = v;
      break;
    case O_VENDOR:
      req.vendor = optarg;
      break;
    case O_NAME:
      req.name = optarg;
      break;
    case O_HELP:
      fputs(usage_token, stdout);
      return EXIT_OK;
    default:
      return bad_option(cl, argv, "token");
    }
  }
  if (optind != argc)
    return usage_error(cl, "unexpected argument", "token");
  if (req.role == 0)
    return usage_error(cl, "--role is required", "token");
  if ((req.role == SBX__V1__ROLE__ROLE_VENDOR) != (req.vendor[0] != '\0'))
    return usage_error(cl,
                       req.vendor[0] == '\0'
                           ? "a vendor token needs --vendor VENDOR"
                           : "--vendor goes with --role vendor only",
                       "token");
  code = call(cl, "CreateToken", &req,
              &sbx__v1__create_token_response__descriptor, &resp);
  if (code != EXIT_OK)
    return code;
  if (resp->secret == NULL || resp->secret[0] == '\0' || resp->token == NULL) {
    fprintf(stderr, "sbx %s: the answer holds no secret\n", cl->cmd);
    code = EXIT_NORUN;
    goto out;
  }
  for (i = 0; resp->secret[i] != '\0'; i++)
    if ((unsigned char)resp->secret[i] <= 0x20 ||
        (unsigned char)resp->secret[i] >= 0x7f) {
      fprintf(stderr,
              "sbx %s: the secret in the answer holds unprintable "
              "characters\n",
              cl->cmd);
      code = EXIT_NORUN;
      goto out;
    }
  if (cl->json) {
    code = print_json(resp);
  } else {
    describe_token(resp->token, buf, sizeof(buf));
    printf("%s\n%s\n", resp->secret, buf);
    if (isatty(fileno(stdout)))
      fprintf(stderr, "sbx: keep the secret (first line) now: it is never "
                      "shown again\n");
  }
out:
  if (resp != NULL && resp->secret != NULL)
    sodium_memzero(resp->secret, strlen(resp->secret));
  sbx__v1__create_token_response__free_unpacked(resp, NULL);
  return code;
}

static int token_list(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {GLOBAL_OPTS, {NULL, 0, NULL, 0}};
  static const char *const heads[] = {"ID",   "ROLE",    "VENDOR",
                                      "NAME", "CREATED", "STATUS"};
  Sbx__V1__ListTokensRequest req = SBX__V1__LIST_TOKENS_REQUEST__INIT;
  Sbx__V1__ListTokensResponse *resp = NULL;
  struct sbx_table t;
  size_t i;
  int c, code;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    if (c == O_HELP) {
      fputs(usage_token, stdout);
      return EXIT_OK;
    }
    return bad_option(cl, argv, "token");
  }
  if (optind != argc)
    return usage_error(cl, "list takes no arguments", "token");
  code = call(cl, "ListTokens", &req,
              &sbx__v1__list_tokens_response__descriptor, &resp);
  if (code != EXIT_OK)
    return code;
  if (cl->json) {
    code = print_json(resp);
    goto out;
  }
  sbx_table_init(&t, 6, heads, 0);
  for (i = 0; i < resp->n_tokens; i++) {
    const Sbx__V1__Token *tk = resp->tokens[i];
    char role[32], when[64], status[96], rw[64];
    sbx_cmd_format_time(tk->created_unix_ms, when, sizeof(when));
    if (tk->revoked) {
      sbx_cmd_format_time(tk->revoked_unix_ms, rw, sizeof(rw));
      snprintf(status, sizeof(status), "revoked %s", rw);
    } else {
      snprintf(status, sizeof(status), "active");
    }
    sbx_table_add(&t, (const char *const[]){
                          str(tk->id), role_name(tk->role, role, sizeof(role)),
                          tk->vendor && tk->vendor[0] ? tk->vendor : "-",
                          str(tk->name), when, status});
  }
  sbx_table_print(&t, stdout);
  sbx_table_free(&t);
out:
  sbx__v1__list_tokens_response__free_unpacked(resp, NULL);
  return code;
}

static int token_revoke(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {GLOBAL_OPTS, {NULL, 0, NULL, 0}};
  Sbx__V1__RevokeTokenRequest req = SBX__V1__REVOKE_TOKEN_REQUEST__INIT;
  Sbx__V1__RevokeTokenResponse *resp = NULL;
  char buf[600];
  int c, code;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    if (c == O_HELP) {
      fputs(usage_token, stdout);
      return EXIT_OK;
    }
    return bad_option(cl, argv, "token");
  }
  if (optind + 1 != argc)
    return usage_error(cl,
                       "expected one TOKEN_ID (sbx token list shows "
                       "them)",
                       "token");
  req.token_id = argv[optind];
  code = call(cl, "RevokeToken", &req,
              &sbx__v1__revoke_token_response__descriptor, &resp);
  if (code != EXIT_OK)
    return code;
  if (cl->json) {
    code = print_json(resp);
  } else if (resp->token != NULL) {
    describe_token(resp->token, buf, sizeof(buf));
    printf("revoked %s\n", buf);
  }
  sbx__v1__revoke_token_response__free_unpacked(resp, NULL);
  return code;
}

int sbx_cmd_token(int argc, char **argv, const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {
      {"create", token_create}, {"list", token_list}, {"revoke", token_revoke}};
  return dispatch("token", usage_token, verbs, 3, argc, argv, g);
}

static int whoami_cmd(struct cli *cl, int argc, char **argv) {
  static const struct option opts[] = {GLOBAL_OPTS, {NULL, 0, NULL, 0}};
  Sbx__V1__WhoAmIRequest req = SBX__V1__WHO_AM_IREQUEST__INIT;
  Sbx__V1__WhoAmIResponse *resp = NULL;
  char buf[600];
  int c, code;

  start_getopt();
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (global_option(cl, c))
      continue;
    if (c == O_HELP) {
      fputs(usage_token, stdout);
      return EXIT_OK;
    }
    return bad_option(cl, argv, "whoami");
  }
  if (optind != argc)
    return usage_error(cl, "whoami takes no arguments", "whoami");
  code =
      call(cl, "WhoAmI", &req, &sbx__v1__who_am_iresponse__descriptor, &resp);
  if (code != EXIT_OK)
    return code;
  if (cl->json) {
    code = print_json(resp);
  } else if (resp->token != NULL) {
    describe_token(resp->token, buf, sizeof(buf));
    printf("%s\n", buf);
  }
  sbx__v1__who_am_iresponse__free_unpacked(resp, NULL);
  return code;
}

int sbx_cmd_whoami(int argc, char **argv, const struct sbx_cmd_globals *g) {
  static const struct verb verbs[] = {{NULL, whoami_cmd}};
  return dispatch("whoami", usage_token, verbs, 1, argc, argv, g);
}
