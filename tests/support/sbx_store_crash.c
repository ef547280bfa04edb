/* sbx_store_crash.c - a victim and a judge for the store's crash test.
 *
 *   sbx_store_crash DIR
 *     opens the store in DIR, creates a run in MEASURING state and appends
 *     samples to it forever, flushing every 1000 and printing the number
 *     flushed so far on stdout (one line each, line-buffered). It is meant
 *     to be killed with SIGKILL.
 *   sbx_store_crash verify DIR N1 [N2 ...]
 *     opens the store (which runs recovery) and checks that there is one
 *     run per N, in id order, that every run is INTERRUPTED with the
 *     recovery reason, and that run i holds at least Ni samples forming a
 *     gap-free prefix 0, 1, 2, ... with intact values.
 * Exit status 0 when all is well, 1 otherwise (the reason on stderr).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#define FLUSH_EVERY 1000
#define MAX_RUNS 64

static void fill(Sbx__V1__Sample *s, uint64_t run, uint64_t i) {
  s->seq = i;
  s->case_index = (uint32_t)(i % 101);
  s->sched_ns = (int64_t)i * 1000;
  s->send_ns = (int64_t)i * 1000 + 3;
  s->done_ns = (int64_t)i * 1000 + 250000;
  s->status = 200;
  s->body_bytes = i ^ run;
}

static int victim(const char *dir) {
  struct sbx_store *st = NULL;
  struct sbx_diag d = {""};
  Sbx__V1__Run run = SBX__V1__RUN__INIT;
  Sbx__V1__Sample s = SBX__V1__SAMPLE__INIT;
  char msg[512];
  int rc;

  setvbuf(stdout, NULL, _IOLBF, 0);
  rc = sbx_store_open(dir, &st, &d);
  if (rc != 0) {
    fprintf(stderr, "sbx_store_crash: %s\n", d.msg);
    return 1;
  }
  fprintf(stderr, "sbx_store_crash: opened %s, recovered %" PRIu64 " run(s)\n",
          dir, sbx_store_recovered(st));
  run.scenario = "crash-test@1";
  run.product = "none";
  run.state = SBX__V1__RUN_STATE__RUN_STATE_MEASURING;
  rc = sbx_store_new_run(st, &run);
  if (rc != 0)
    goto fail;
  for (uint64_t i = 0;; i++) {
    fill(&s, run.id, i);
    rc = sbx_store_append_sample(st, run.id, &s);
    if (rc == 0 && (i + 1) % FLUSH_EVERY == 0) {
      rc = sbx_store_flush(st);
      if (rc == 0)
        printf("%" PRIu64 "\n", i + 1);
    }
    if (rc != 0)
      goto fail;
  }
fail:
  sbx_store_errmsg(st, msg, sizeof(msg));
  fprintf(stderr, "sbx_store_crash: %s: %s\n", sbx_err_name(rc), msg);
  sbx_store_close(st);
  return 1;
}

struct runs {
  uint64_t id[MAX_RUNS];
  int n;
  int bad;
};

static int collect(const Sbx__V1__Run *run, void *arg) {
  struct runs *r = arg;
  static const char want[] = "the process stopped while the run was "
                             "measuring; its samples up to the last commit "
                             "are kept";
  if (r->n == MAX_RUNS)
    return 1;
  r->id[r->n++] = run->id;
  if (run->state != SBX__V1__RUN_STATE__RUN_STATE_INTERRUPTED ||
      strcmp(run->reason, want) != 0 || run->ended_unix_ms <= 0) {
    fprintf(stderr,
            "run %" PRIu64 ": state %d, reason \"%s\", ended %" PRId64
            "; expected INTERRUPTED (%d) with \"%s\"\n",
            run->id, (int)run->state, run->reason, run->ended_unix_ms,
            (int)SBX__V1__RUN_STATE__RUN_STATE_INTERRUPTED, want);
    r->bad++;
  }
  return 0;
}

struct walk {
  uint64_t run;
  uint64_t n;
  uint64_t bad;
};

static int check(const Sbx__V1__Sample *s, void *arg) {
  struct walk *w = arg;
  Sbx__V1__Sample want = SBX__V1__SAMPLE__INIT;
  fill(&want, w->run, w->n);
  if (s->seq != want.seq || s->case_index != want.case_index ||
      s->sched_ns != want.sched_ns || s->send_ns != want.send_ns ||
      s->done_ns != want.done_ns || s->status != want.status ||
      s->body_bytes != want.body_bytes) {
    if (w->bad++ == 0)
      fprintf(stderr,
              "run %" PRIu64 ": sample #%" PRIu64 " has seq %" PRIu64
              " or damaged values\n",
              w->run, w->n, s->seq);
  }
  w->n++;
  return 0;
}

static int verify(const char *dir, int argc, char **argv) {
  struct sbx_store *st = NULL;
  struct sbx_diag d = {""};
  struct runs runs;
  char msg[512];
  int rc, failed = 0;

  memset(&runs, 0, sizeof(runs));
  rc = sbx_store_open(dir, &st, &d);
  if (rc != 0) {
    fprintf(stderr, "verify: %s\n", d.msg);
    return 1;
  }
  rc = sbx_store_list_runs(st, collect, &runs);
  if (rc != 0) {
    sbx_store_errmsg(st, msg, sizeof(msg));
    fprintf(stderr, "verify: listing runs: %s: %s\n", sbx_err_name(rc), msg);
    failed = 1;
    goto out;
  }
  if (runs.bad)
    failed = 1;
  if (runs.n != argc) {
    fprintf(stderr, "verify: %d run(s) stored, %d expected\n", runs.n, argc);
    failed = 1;
    goto out;
  }
  for (int i = 0; i < argc; i++) {
    char *end;
    uint64_t want, n = 0;
    struct walk w = {runs.id[i], 0, 0};

    errno = 0;
    want = strtoull(argv[i], &end, 10);
    if (errno != 0 || end == argv[i] || *end != '\0' || argv[i][0] == '-') {
      fprintf(stderr, "verify: \"%s\" is not a sample count\n", argv[i]);
      failed = 1;
      continue;
    }
    rc = sbx_store_count_samples(st, runs.id[i], &n);
    if (rc == 0)
      rc = sbx_store_foreach_sample(st, runs.id[i], check, &w);
    if (rc != 0) {
      sbx_store_errmsg(st, msg, sizeof(msg));
      fprintf(stderr, "verify: run %" PRIu64 ": %s: %s\n", runs.id[i],
              sbx_err_name(rc), msg);
      failed = 1;
      continue;
    }
    printf("run %" PRIu64 ": %" PRIu64 " samples stored, %" PRIu64
           " reported flushed before the kill\n",
           runs.id[i], n, want);
    if (n < want || w.n != n || w.bad != 0) {
      fprintf(stderr,
              "verify: run %" PRIu64 ": %" PRIu64 " samples stored (%" PRIu64
              " walked, %" PRIu64 " bad), at least %" PRIu64 " expected\n",
              runs.id[i], n, w.n, w.bad, want);
      failed = 1;
    }
  }
out:
  rc = sbx_store_close(st);
  if (rc != 0)
    failed = 1;
  return failed;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "verify") != 0)
    return victim(argv[1]);
  if (argc >= 4 && strcmp(argv[1], "verify") == 0)
    return verify(argv[2], argc - 3, argv + 3);
  fprintf(stderr, "usage: sbx_store_crash DIR\n"
                  "       sbx_store_crash verify DIR N1 [N2 ...]\n");
  return 2;
}
