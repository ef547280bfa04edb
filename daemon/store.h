/* store.h - the durable store: one LMDB environment under --data-dir.
 *
 * The environment holds the named databases meta, scenarios, datasets,
 * products, runs, samples, series, results, signed, events and tokens. Values are
 * serialized protobuf messages; integer keys are big-endian so that ranges
 * scan in order: runs and results by run id (8 bytes), samples and series
 * by run id | seq (8 + 8 bytes; a series point's seq is its second).
 *
 * Two ways in:
 *  - synchronous calls (runs, results, the generic key/value calls): small,
 *    rare writes, committed and fsync'd before they return; they may wait
 *    for one commit of the writer thread (at most 8 MiB of samples, so
 *    milliseconds, tens on a slow disk);
 *  - the sample queue (sbx_store_append_sample/_series, _tick, _flush),
 *    called at high rate from ONE thread (the loop thread). Records are
 *    packed into an in-memory batch that goes to the store's writer thread
 *    when it is full (32768 records or 1 MiB), when sbx_store_tick() or
 *    sbx_store_flush() is called, or at the first append after the writer
 *    has been idle for ~100 ms. The writer commits batches in order, each
 *    inside one write transaction, so what a crash leaves is a prefix of
 *    what was appended, losing at most the last ~100 ms (or since the
 *    last flush).
 *
 * Opening a store runs recovery: every run left started but not ended
 * (PREPARING to VERIFYING) is marked INTERRUPTED with a reason, so nothing
 * pretends to run after a crash; QUEUED runs stay queued for the daemon's
 * queue to resume. A store is held by one process at a time (an flock on DIR/owner.lock).
 *
 * Threads: everything but the sample queue may be called from any thread;
 * the sample queue calls must come from a single thread at a time.
 */
#ifndef SBX_STORE_H
#define SBX_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "sbx/v1/result.pb-c.h"
#include "sbx/v1/run.pb-c.h"

#define SBX_STORE_SCHEMA_VERSION 1u

struct sbx_store;

/* Opens the store in DIR, creating DIR (mode 0700, parents too) and the
 * LMDB environment if needed: map size 8 GiB (a sparse upper bound, not an
 * allocation), MDB_NOTLS, all named databases created. Checks the schema
 * version (a store written by a newer sandboxd is refused), runs recovery
 * (see sbx_store_recovered) and starts the writer thread.
 * Returns 0 and sets *out, to be released with sbx_store_close(). On failure
 * returns SBX_EINVAL (bad arguments), SBX_ENOMEM or SBX_ESTORE, leaves *out
 * NULL, has changed no record (it may have created DIR, owner.lock and an
 * empty environment), and puts in diag (may be NULL) what went wrong,
 * where, and how to fix it. */
int sbx_store_open(const char *dir, struct sbx_store **out,
                   struct sbx_diag *diag);

/* Hands over the partial sample batch, waits until the writer has committed
 * everything, stops it and closes the environment and the lock. st may be
 * NULL (returns 0). Returns 0, or the first error the writer met (samples
 * appended after it were dropped). st is freed in every case. */
int sbx_store_close(struct sbx_store *st);

/* Non-zero for the states a run ends in (DONE, ERROR, CANCELED,
 * INTERRUPTED): nothing changes a run in one of them any more. */
int sbx_run_state_terminal(int state);

/* Returns how many runs recovery turned INTERRUPTED when st was opened. */
uint64_t sbx_store_recovered(const struct sbx_store *st);

/* Copies the message of the store's most recent error (what, where, how to
 * fix) into buf (always NUL-terminated; "" if none). Thread-safe. */
void sbx_store_errmsg(struct sbx_store *st, char *buf, size_t len);

/* ---- runs and results: synchronous, committed before returning ---- */

/* Assigns run->id from meta "next_run_id" (the first run gets 1), stores the
 * run and advances the counter, all in one transaction. Returns 0,
 * SBX_EINVAL, SBX_ENOMEM or SBX_ESTORE; on failure run->id is unchanged and
 * nothing was written. The caller keeps ownership of run. */
int sbx_store_new_run(struct sbx_store *st, Sbx__V1__Run *run);

/* Stores run under key run->id (must be non-zero), replacing any run with
 * that id. If run->id was never handed out, next_run_id moves past it, so
 * sbx_store_new_run() never reuses it. Returns 0, SBX_EINVAL, SBX_ENOMEM or
 * SBX_ESTORE (nothing written). */
int sbx_store_put_run(struct sbx_store *st, const Sbx__V1__Run *run);

/* Reads run id into *out, which the caller frees with
 * sbx__v1__run__free_unpacked(*out, NULL). Returns 0, SBX_ENOENT (no such
 * run), SBX_ENOMEM or SBX_ESTORE (the stored value is damaged; see
 * sbx_store_errmsg); *out is NULL on failure. */
int sbx_store_get_run(struct sbx_store *st, uint64_t id, Sbx__V1__Run **out);

/* Calls cb for every run in ascending id order; the run is valid only
 * during the call. cb may call read functions of the store, and should be
 * brief (a read snapshot is held). Returns 0 after the last run, cb's
 * non-zero return value if it stopped the walk, or SBX_ENOMEM/SBX_ESTORE
 * (a damaged record; the walk stops there). */
int sbx_store_list_runs(struct sbx_store *st,
                        int (*cb)(const Sbx__V1__Run *run, void *arg),
                        void *arg);

/* Stores res under key res->run_id (must be non-zero), replacing any
 * result of that run. Returns 0, SBX_EINVAL, SBX_ENOMEM or SBX_ESTORE. */
int sbx_store_put_result(struct sbx_store *st, const Sbx__V1__Result *res);

/* Reads the result of run_id into *out, freed by the caller with
 * sbx__v1__result__free_unpacked(*out, NULL). Returns 0, SBX_ENOENT,
 * SBX_ENOMEM or SBX_ESTORE (damaged value); *out is NULL on failure. */
int sbx_store_get_result(struct sbx_store *st, uint64_t run_id,
                         Sbx__V1__Result **out);

/* Ends a run in one transaction, so that a crash leaves either all or none
 * of it: stores res (may be NULL) under run->id, the signed result bytes
 * (may be NULL; the kv database SBX_STORE_SIGNED under the same key) and
 * run itself (its terminal state). When signed bytes are given and the run
 * has a callback URL, it also records a pending callback (see
 * sbx_store_pending_callbacks), which the daemon clears once the callback is
 * delivered or given up, and sends again at start while it is there. res->run_id must equal run->id. Returns
 * 0, SBX_EINVAL, SBX_ENOMEM or SBX_ESTORE (nothing written). */
int sbx_store_finish_run(struct sbx_store *st, const Sbx__V1__Run *run,
                         const Sbx__V1__Result *res, const void *signed_bytes,
                         size_t signed_len);

/* Lists the runs with a pending callback, in key order, into *ids
 * (malloc'd, freed by the caller; NULL when *n is 0). Returns 0, SBX_ENOMEM
 * or SBX_ESTORE. */
int sbx_store_pending_callbacks(struct sbx_store *st, uint64_t **ids,
                                size_t *n);

/* Clears run_id's pending callback. Returns 0, SBX_ENOENT (none) or
 * SBX_ESTORE. */
int sbx_store_clear_callback(struct sbx_store *st, uint64_t run_id);

/* Copies the signed result bytes of run_id, exactly as stored, into *out
 * (malloc'd, freed by the caller) and their length into *len. Returns 0,
 * SBX_ENOENT, SBX_ENOMEM or SBX_ESTORE; *out is NULL on failure. */
int sbx_store_get_signed_bytes(struct sbx_store *st, uint64_t run_id,
                               void **out, size_t *len);

/* Reads the signed result of run_id (stored by sbx_store_finish_run) into
 * *out, freed by the caller with sbx__v1__signed_result__free_unpacked.
 * Returns 0, SBX_ENOENT, SBX_ENOMEM or SBX_ESTORE (damaged value); *out is
 * NULL on failure. */
int sbx_store_get_signed(struct sbx_store *st, uint64_t run_id,
                         Sbx__V1__SignedResult **out);

/* ---- samples and series: the asynchronous queue (one thread) ---- */

/* Packs s and appends it to the current batch under key run_id | s->seq
 * (a later record with the same key replaces the earlier one). Does no I/O
 * and takes the store mutex only when a batch is handed over. It blocks
 * only while more than 64 MiB of records wait for the writer (the disk is
 * much slower than the load), which bounds memory. Returns 0, SBX_EINVAL,
 * SBX_ENOMEM, or SBX_ESTORE if the writer has failed (the record is
 * dropped; see sbx_store_errmsg). */
int sbx_store_append_sample(struct sbx_store *st, uint64_t run_id,
                            const Sbx__V1__Sample *s);

/* Like sbx_store_append_sample for a per-second series point, key
 * run_id | p->second; same queue, same order, same failures. */
int sbx_store_append_series(struct sbx_store *st, uint64_t run_id,
                            const Sbx__V1__SeriesPoint *p);

/* Hands the partial batch (if any) to the writer without waiting for the
 * commit. The engine calls it every ~100 ms so that a crash loses at most
 * that much. Returns 0 or SBX_ESTORE if the writer has failed. */
int sbx_store_tick(struct sbx_store *st);

/* Hands the partial batch over and waits until everything appended so far
 * is committed and fsync'd. Returns 0 or the writer's first error. */
int sbx_store_flush(struct sbx_store *st);

/* Counts the committed samples of run_id into *n (records still in the
 * queue are not counted; flush first). Returns 0 or SBX_ESTORE. */
int sbx_store_count_samples(struct sbx_store *st, uint64_t run_id, uint64_t *n);

/* Calls cb for every committed sample of run_id in seq order; the sample is
 * valid only during the call. Returns 0, cb's non-zero value if it stopped
 * the walk, or SBX_ENOMEM/SBX_ESTORE (damaged record; the walk stops). */
int sbx_store_foreach_sample(struct sbx_store *st, uint64_t run_id,
                             int (*cb)(const Sbx__V1__Sample *s, void *arg),
                             void *arg);

/* Same for the per-second series of run_id, in second order. */
int sbx_store_foreach_series(struct sbx_store *st, uint64_t run_id,
                             int (*cb)(const Sbx__V1__SeriesPoint *p,
                                       void *arg),
                             void *arg);

/* ---- generic key/value access for the other modules' databases ---- */

/* The databases whose keys and values other modules define. The store's
 * own databases (meta, runs, samples, series, results) are reachable only
 * through the typed calls above, so their invariants hold. */
enum sbx_store_db {
  SBX_STORE_SCENARIOS,
  SBX_STORE_DATASETS,
  SBX_STORE_PRODUCTS,
  SBX_STORE_EVENTS,
  SBX_STORE_TOKENS,
  SBX_STORE_SIGNED /* run id (8 bytes, big-endian) -> SignedResult bytes */
};

/* Stores val under key in db, replacing any value; committed on return.
 * klen must be 1..511 (LMDB's key limit). Returns 0, SBX_EINVAL or
 * SBX_ESTORE (nothing written). */
int sbx_store_kv_put(struct sbx_store *st, enum sbx_store_db db,
                     const void *key, size_t klen, const void *val,
                     size_t vlen);

/* Copies the value of key into *val (malloc'd, freed by the caller with
 * free(); a zero-length value still gets a 1-byte allocation) and its size
 * into *vlen. Returns 0, SBX_EINVAL, SBX_ENOENT, SBX_ENOMEM or SBX_ESTORE;
 * *val is NULL on failure. */
int sbx_store_kv_get(struct sbx_store *st, enum sbx_store_db db,
                     const void *key, size_t klen, void **val, size_t *vlen);

/* Deletes key from db. Returns 0, SBX_ENOENT (absent), SBX_EINVAL or
 * SBX_ESTORE. */
int sbx_store_kv_del(struct sbx_store *st, enum sbx_store_db db,
                     const void *key, size_t klen);

/* Calls cb for every key that starts with prefix (plen 0: all keys), in
 * key order; key and val point into the read snapshot and are valid only
 * during the call. Returns 0, cb's non-zero value if it stopped the walk,
 * SBX_EINVAL or SBX_ESTORE. */
int sbx_store_kv_foreach(struct sbx_store *st, enum sbx_store_db db,
                         const void *prefix, size_t plen,
                         int (*cb)(const void *key, size_t klen,
                                   const void *val, size_t vlen, void *arg),
                         void *arg);

/* Internal (tests): packs s into out exactly as protobuf_c_message_pack
 * would (s must have no unknown fields) and returns the length. The store
 * uses it for every sample. */
#define SBX__STORE_SAMPLE_MAX 104 /* 9 fields of at most 1 + 10 bytes */
size_t sbx__store_pack_sample(const Sbx__V1__Sample *s,
                              uint8_t out[SBX__STORE_SAMPLE_MAX]);

/* Internal (tests): sbx_store_open with another LMDB map size in bytes, so
 * that a test can fill the map and watch the writer fail. */
int sbx__store_open_mapsize(const char *dir, size_t mapsize,
                            struct sbx_store **out, struct sbx_diag *diag);

#endif
