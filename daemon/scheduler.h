/* scheduler.h - the daemon's scheduler: a persistent queue of runs and the
 * measuring lanes that take them one by one.
 *
 * The queue is the store itself: a run is enqueued by storing it QUEUED, so
 * after a crash or a restart sbx_sched_resume() finds every queued run again
 * (store recovery leaves QUEUED runs alone and marks the ones that were
 * measuring INTERRUPTED). Runs start in id order. By default one lane
 * measures at a time, so runs never disturb each other's numbers; a match
 * stores its runs in interleaved rounds (A B C A B C ...), so the queue's
 * order is the match's order and drift of the machine falls on all alike.
 *
 * Threads: the scheduler is called from the daemon's loop thread, and its
 * hooks run there. The runs themselves are measured on a thread of its own,
 * with its own libuv loop (engine, adapters, plugin hosts), so that API
 * traffic on the daemon's loop never delays a scheduled arrival. The two
 * talk through mailboxes (a mutex-guarded list and a uv_async each way):
 * START and CANCEL one way, STARTED, PROGRESS and DONE the other.
 *
 * When a run ends the scheduler builds its Result, signs it, stores run,
 * result and signed bytes in one transaction, and tells the front end
 * (watchers, webhooks, metrics) through the hooks.
 */
#ifndef SBX_SCHEDULER_H
#define SBX_SCHEDULER_H

#include <stdint.h>
#include <uv.h>

#include "err.h"
#include "runner.h"
#include "sbx/v1/api.pb-c.h"

struct sbx_store;
struct sbx_signer;
struct sbx_sched;

struct sbx_sched_config {
  unsigned lanes;          /* runs measured at once; 0: 1 */
  const char *data_dir;    /* plugin libraries live under it */
  int plugin_ring;         /* plugin IPC over the shared-memory ring */
};

struct sbx_sched_hooks {
  /* Every state change, progress (about once a second while a run is
   * measuring) and the final signed result. ev is valid during the call. */
  void (*on_event)(const Sbx__V1__RunEvent *ev, void *arg);
  /* A run reached a terminal state; res and sr are NULL when it ended
   * without a result (canceled while queued, interrupted, could not be
   * prepared before any result existed). */
  void (*on_finished)(const Sbx__V1__Run *run, const Sbx__V1__Result *res,
                      const Sbx__V1__SignedResult *sr, const uint8_t *sr_bytes,
                      size_t sr_len, void *arg);
  /* Structured log lines. */
  void (*log)(void *arg, const char *level, const char *event,
              const char *fmt, ...) __attribute__((format(printf, 4, 5)));
  void *arg;
};

/* Creates the scheduler (nothing starts until sbx_sched_resume). cfg and
 * hooks are copied; store and signer are borrowed for its lifetime. */
int sbx_sched_open(uv_loop_t *loop, struct sbx_store *store,
                   const struct sbx_signer *signer,
                   const struct sbx_sched_config *cfg,
                   const struct sbx_sched_hooks *hooks,
                   struct sbx_sched **out);

/* Finds every QUEUED run in the store, queues them in id order and starts
 * what the lanes allow. Returns 0 or SBX_ESTORE/SBX_ENOMEM. */
int sbx_sched_resume(struct sbx_sched *s);

/* Queues run id (already stored QUEUED) and starts it if a lane is free. */
int sbx_sched_enqueue(struct sbx_sched *s, uint64_t run_id);

/* Cancels run id in any state: a queued run becomes CANCELED at once, a
 * running one is stopped and ends CANCELED with its partial result.
 * Returns 0, SBX_ENOENT, SBX_ESTATE (already ended) or SBX_ESTORE. */
int sbx_sched_cancel(struct sbx_sched *s, uint64_t run_id);

/* How many runs are ahead of queued run run_id: those measuring now and
 * those queued before it; 0 if none (or if it is not queued). */
uint32_t sbx_sched_position(const struct sbx_sched *s, uint64_t run_id);

/* Runs measuring now, and runs waiting. */
unsigned sbx_sched_running(const struct sbx_sched *s);
unsigned sbx_sched_queued(const struct sbx_sched *s);

/* The latest progress of a running run (for a new watcher); 0 if it has
 * one, SBX_ENOENT otherwise. */
int sbx_sched_progress(const struct sbx_sched *s, uint64_t run_id,
                       Sbx__V1__Progress *out);

/* Stops: starts nothing more, interrupts the running runs (they end
 * INTERRUPTED, their samples flushed) and calls cb once all have ended and
 * every handle is closed. Queued runs stay queued in the store. */
void sbx_sched_stop(struct sbx_sched *s, void (*cb)(void *arg), void *arg);

/* Frees a stopped scheduler. */
void sbx_sched_free(struct sbx_sched *s);

/* Converts the API's overrides into the engine's. */
void sbx_sched_overrides(const Sbx__V1__LoadOverrides *in,
                         struct sbx_load_overrides *out);

#endif
