/* cmd.h - the subcommands of the sbx command-line client.
 *
 * sbx_main.c dispatches "sbx <command> ..." to one function per command,
 * each kept in the cmd_*.c file of its area. Every command takes the argv
 * that follows the command name (argv[0] is the command itself, so getopt
 * works unchanged), prints its own --help to stdout, and returns the process
 * exit code of the CI contract: 0 success/pass, 1 verification failed,
 * 2 usage or input error, 3 could not run.
 */
#ifndef SBX_CMD_H
#define SBX_CMD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "sbx/v1/run.pb-c.h"

/* sbx verify RESULT_FILE --key PUBKEY_FILE [--json]: checks offline that
 * RESULT_FILE (a SignedResult, packed protobuf or its proto3 JSON) carries a
 * valid Ed25519 signature by the key in PUBKEY_FILE. Returns 0 (signature
 * OK), 1 (signature invalid) or 2 (usage error, unreadable or malformed
 * input); never exits the process itself. */
int sbx_cmd_verify(int argc, char **argv);

/* ---- commands that talk to sandboxd over its API (cmd_client.c) ----
 *
 * They take the same argv convention and exit codes, plus the options every
 * one of them accepts before or after the command: --server URL, --token T
 * and --json (print the API's answer as proto3 JSON instead of a table). */

/* The default server when neither --server nor $SBX_SERVER says. */
#define SBX_CMD_DEFAULT_SERVER "http://127.0.0.1:7800"

/* Options given before the command name, and process-wide state. */
struct sbx_cmd_globals {
  const char *server; /* --server; NULL: $SBX_SERVER, else the default */
  const char *token;  /* --token; NULL: $SBX_TOKEN (may be unset) */
  int json;           /* --json */
  /* Raised by SIGINT/SIGTERM: a call or watch in progress stops within
   * about a second (the run goes on in sandboxd). NULL: never. */
  const volatile sig_atomic_t *interrupted;
};

/* sbx scenario publish|list|show, sbx product register|list|show,
 * sbx run start|show|list|cancel|watch, sbx match start|show,
 * sbx result get|list (the server's results; sbx_main.c keeps the local
 * store's show/list/samples), sbx leaderboard SCENARIO, sbx keys,
 * sbx token create|list|revoke, sbx whoami. argv[0] is the command name;
 * g holds the options given before it (not modified). Each returns the exit
 * code: 0 done (or PASS where a verdict is shown), 1 FAIL or INVALID,
 * 2 usage or input error or a request the API refused (invalid_argument,
 * not_found, permission_denied, unauthenticated, ...), 3 could not run
 * (server unreachable or failing, run ERROR, canceled or interrupted,
 * watch interrupted). Errors go to stderr as
 * "sbx: <Method>: <code>: <message>". */
int sbx_cmd_scenario(int argc, char **argv, const struct sbx_cmd_globals *g);
int sbx_cmd_product(int argc, char **argv, const struct sbx_cmd_globals *g);
int sbx_cmd_run(int argc, char **argv, const struct sbx_cmd_globals *g);
int sbx_cmd_match(int argc, char **argv, const struct sbx_cmd_globals *g);
int sbx_cmd_result_remote(int argc, char **argv,
                          const struct sbx_cmd_globals *g);
int sbx_cmd_leaderboard(int argc, char **argv, const struct sbx_cmd_globals *g);
int sbx_cmd_keys(int argc, char **argv, const struct sbx_cmd_globals *g);
int sbx_cmd_token(int argc, char **argv, const struct sbx_cmd_globals *g);
int sbx_cmd_whoami(int argc, char **argv, const struct sbx_cmd_globals *g);

/* The help text of a client command ("scenario", "run", ...; "client" for
 * the options they share), static; NULL if topic is not one of them. */
const char *sbx_cmd_client_usage(const char *topic);

/* ---- pieces every sbx command uses, local or not (cmd_client.c) ---- */

/* If args[0] (of n) is one of the options every server command takes
 * before or after its name - --json, --server URL, --server=URL, --token T,
 * --token=T - stores it in g (borrowing the string) and returns how many of
 * args it used (1 or 2); 0 if args[0] is none of them, or its value is
 * missing (g untouched). */
int sbx_cmd_global_arg(char *const *args, int n, struct sbx_cmd_globals *g);

/* The exit code of a verdict (a Sbx__V1__Verdict): 0 PASS, 1 FAIL or
 * INVALID, 3 anything else (ERROR, unspecified). */
int sbx_cmd_verdict_exit(int verdict);

/* Whether what goes to f may be colored: not with no_color, nor when
 * $NO_COLOR is set and not empty, and only when f is a terminal. */
int sbx_cmd_want_color(FILE *f, int no_color);

/* Prints usage (a command's --help text) to stdout; returns 0, the exit
 * code of --help. */
int sbx_cmd_help(const char *usage);

/* Prints "Try 'sbx CMD --help'." to stderr, for an option getopt refused;
 * returns 2, the exit code of a usage error. */
int sbx_cmd_try_help(const char *cmd);

/* A word an option takes and the value it stands for. Lists of them end
 * with a NULL name. */
struct sbx_cmd_choice {
  const char *name;
  int value;
};

/* The words of --http-client: auto, curl and fast, as Sbx__V1__HttpClient
 * values. */
extern const struct sbx_cmd_choice sbx_cmd_http_clients[];

/* Looks text up in choices (exact, case-sensitive). Returns 0 with *out set,
 * or SBX_EINVAL with *out untouched. */
int sbx_cmd_parse_choice(const struct sbx_cmd_choice *choices, const char *text,
                         int *out);

/* Writes res as JUnit XML to junit and as its JSON summary to json
 * (report.h); either may be NULL for none. A file that cannot be written is
 * reported on stderr as "sbx CMD: <why and how to fix>", and the other one
 * is still written. Returns 0, or SBX_EIO if either failed. */
int sbx_cmd_write_reports(const char *cmd, const Sbx__V1__Result *res,
                          const char *junit, const char *json);

/* ---- pieces of the client commands, exposed for their unit test ---- */

/* Applies one load override given on the command line, the way `sbx test`
 * spells them: name is the option without its dashes ("warmup",
 * "min-duration" or its alias "duration", "max-duration", "timeout",
 * "min-cases", "concurrency", "rate", "seed"), value its argument, parsed
 * with units.h. "--warmup 0" sets zero_warmup (warmup_us 0 means "keep the
 * spec's"). Returns 0; SBX_ENOENT if name is not a load option (ov
 * untouched); SBX_EINVAL with diag "--NAME: invalid value "V"; write e.g.
 * ..." (ov untouched). */
int sbx_cmd_load_option(const char *name, const char *value,
                        Sbx__V1__LoadOverrides *ov, struct sbx_diag *diag);

/* Writes unix_ms as local ISO-8601 time with its UTC offset,
 * "2025-01-31T14:05:09+01:00"; "-" for 0 or less. buf always ends up
 * NUL-terminated. */
void sbx_cmd_format_time(int64_t unix_ms, char *buf, size_t len);

/* An aligned text table. Cells are copied, stripped of anything a terminal
 * could take as a command (sbx_api_sanitize) and cut to
 * SBX_TABLE_MAX_CELL characters with "..." at the end; columns are as wide
 * as their widest cell (in characters, not bytes), two spaces apart; the
 * last column is not padded. */
#define SBX_TABLE_MAX_COLS 16
#define SBX_TABLE_MAX_CELL 60
struct sbx_table {
  size_t ncols;
  const char *heads[SBX_TABLE_MAX_COLS]; /* borrowed */
  unsigned right;                        /* bit i: column i aligned right */
  char **cells;                          /* nrows * ncols, owned */
  size_t nrows;
  size_t cap;
  int failed; /* an add ran out of memory: print says so */
};

/* Prepares t with ncols (at most SBX_TABLE_MAX_COLS) column heads, which
 * must outlive t; right is a bit mask of right-aligned columns. */
void sbx_table_init(struct sbx_table *t, size_t ncols, const char *const *heads,
                    unsigned right);

/* Adds a row of t->ncols cells (NULL prints as ""). Returns 0 or SBX_ENOMEM
 * (the row is dropped and t->failed set). */
int sbx_table_add(struct sbx_table *t, const char *const *cells);

/* Prints the heads and every row to f. */
void sbx_table_print(const struct sbx_table *t, FILE *f);

/* Frees the cells; t may be reused after sbx_table_init. */
void sbx_table_free(struct sbx_table *t);

#endif
