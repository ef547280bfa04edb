/* store.c - the LMDB store, its sample queue and its writer thread.
 *
 * The appending thread packs records straight into a batch buffer:
 *   kind (1 byte) | key (16 bytes: run id BE, seq BE) | len (u32) | value
 * and hands whole batches to the writer under the mutex. The writer commits
 * every batch it finds queued (up to TXN_MAX_BYTES) in one write txn, so
 * batches pile up into bigger transactions exactly when the disk is slow.
 * Batches are committed in hand-over order and counted; sbx_store_flush()
 * waits until the count reaches the number of batches it has handed over.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <sys/mman.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
  DB_META,
  DB_SCENARIOS,
  DB_DATASETS,
  DB_PRODUCTS,
  DB_RUNS,
  DB_SAMPLES,
  DB_SERIES,
  DB_RESULTS,
  DB_EVENTS,
  DB_TOKENS,
  DB_SIGNED,
  DB_COUNT
};

static const char *const db_names[DB_COUNT] = {
    "meta",    "scenarios", "datasets", "products", "runs",
    "samples", "series",    "results",  "events",   "tokens", "signed"};

#define DEFAULT_MAPSIZE ((size_t)8 << 30)
#define MAX_DBS 16
#define BATCH_MAX_RECORDS 32768
#define BATCH_MAX_BYTES (1024 * 1024)
#define BATCH_CAP (BATCH_MAX_BYTES + 4096)
#define QUEUE_MAX_BYTES ((size_t)64 << 20)
#define TXN_MAX_BYTES ((size_t)8 << 20)
#define IDLE_MS 100
#define FREE_BATCHES 8
#define REC_HDR 21 /* kind, key, len */
#define KEY_LEN 16
#define MAX_KEY 511

enum { KIND_SAMPLE, KIND_SERIES };

struct batch {
  struct batch *next;
  size_t len;
  size_t cap;
  uint32_t count;
  uint8_t *buf;
};

struct sbx_store {
  MDB_env *env;
  MDB_dbi dbi[DB_COUNT];
  char *dir;
  size_t mapsize;
  int lock_fd;
  uint64_t recovered;
  void *map_addr; /* the data file's mapping, found by release_map() */
  size_t map_len;
  int map_looked;

  /* Owned by the appending thread; never touched by the writer. */
  struct batch *cur;
  /* Owned by the writer thread: the samples of a transaction, and the
   * table that puts them in seq order (see put_samples). */
  const uint8_t **wrecs;
  size_t wrecs_cap;
  const uint8_t **wtable;
  size_t wtable_cap;

  pthread_mutex_t mu;
  pthread_cond_t work; /* the writer waits here for batches */
  pthread_cond_t done; /* flushers and back-pressured appenders wait here */
  pthread_t writer;
  int writer_started;
  /* Guarded by mu. */
  struct batch *qhead, *qtail;
  size_t qbytes;
  uint64_t submitted; /* batches handed over */
  uint64_t committed; /* batches the writer is done with (or dropped) */
  struct batch *free_list;
  unsigned nfree;
  int stop;
  int werr;
  char errmsg[512];

  atomic_int failed;       /* werr != 0, readable without the mutex */
  atomic_int want_handoff; /* the writer idled ~100 ms: hand the batch over */
};

/* ---- small helpers ---- */

static void put_be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = (uint8_t)v;
    v >>= 8;
  }
}

static uint64_t get_be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static int64_t now_unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void vset_err_locked(struct sbx_store *st, const char *fmt, va_list ap) {
  vsnprintf(st->errmsg, sizeof(st->errmsg), fmt, ap);
}

static void set_err(struct sbx_store *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_err(struct sbx_store *st, const char *fmt, ...) {
  va_list ap;
  pthread_mutex_lock(&st->mu);
  va_start(ap, fmt);
  vset_err_locked(st, fmt, ap);
  va_end(ap);
  pthread_mutex_unlock(&st->mu);
}

/* What to do about an LMDB error, as a suffix for messages. */
static const char *mdb_hint(int mrc) {
  switch (mrc) {
  case MDB_MAP_FULL:
    return "; the store's map size is used up: start with a new "
           "--data-dir (this store stays readable)";
  case ENOSPC:
    return "; the disk is full: free space on it";
  case EACCES:
  case EPERM:
  case EROFS:
    return "; check that the store directory and its files are writable "
           "by this user";
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND:
    return "; the store is damaged: restore the --data-dir from a backup";
  case MDB_READERS_FULL:
    return "; too many concurrent readers: retry";
  default:
    return "";
  }
}

/* Records an LMDB failure of a synchronous call; returns SBX_ESTORE. */
static int mdb_fail(struct sbx_store *st, int mrc, const char *what) {
  set_err(st, "store %s: %s: %s%s", st->dir, what, mdb_strerror(mrc),
          mdb_hint(mrc));
  return SBX_ESTORE;
}

static int pack_msg(const ProtobufCMessage *m, MDB_val *v) {
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(n ? n : 1);
  if (buf == NULL)
    return SBX_ENOMEM;
  protobuf_c_message_pack(m, buf);
  v->mv_data = buf;
  v->mv_size = n;
  return 0;
}

/* ---- opening ---- */

static int make_dir(const char *dir, struct sbx_diag *diag) {
  char path[PATH_MAX];
  struct stat sb;
  size_t n = strlen(dir);

  if (n >= sizeof(path) - 32) {
    sbx_diag_set(diag, "store directory path is too long (%zu bytes)", n);
    return SBX_EINVAL;
  }
  memcpy(path, dir, n + 1);
  /* mkdir -p: create missing parents too, each private to this user. */
  for (size_t i = 1; i <= n; i++) {
    if (path[i] != '/' && path[i] != '\0')
      continue;
    if (path[i - 1] == '/')
      continue;
    char c = path[i];
    path[i] = '\0';
    if (stat(path, &sb) != 0 && mkdir(path, 0700) != 0 && errno != EEXIST) {
      sbx_diag_set(diag,
                   "store directory %s: cannot create %s: %s; create it "
                   "yourself or choose another --data-dir",
                   dir, path, strerror(errno));
      return SBX_ESTORE;
    }
    path[i] = c;
  }
  if (stat(dir, &sb) != 0) {
    sbx_diag_set(diag, "store directory %s: %s; choose another --data-dir", dir,
                 strerror(errno));
    return SBX_ESTORE;
  }
  if (!S_ISDIR(sb.st_mode)) {
    sbx_diag_set(diag,
                 "store path %s exists but is not a directory; pass a "
                 "directory (it is created if missing) as --data-dir",
                 dir);
    return SBX_ESTORE;
  }
  if (access(dir, W_OK | X_OK) != 0) {
    sbx_diag_set(diag,
                 "store directory %s is not writable by this user (uid %u):"
                 " %s; fix its permissions (chmod u+wx) or choose another "
                 "--data-dir",
                 dir, (unsigned)geteuid(), strerror(errno));
    return SBX_ESTORE;
  }
  return 0;
}

/* One process per store: recovery would otherwise mark another live
 * process's runs INTERRUPTED. flock also conflicts within one process, which
 * LMDB needs (an environment must not be opened twice in one process). */
static int take_lock(struct sbx_store *st, struct sbx_diag *diag) {
  char path[PATH_MAX];
  char pid[32];
  int fd;

  snprintf(path, sizeof(path), "%s/owner.lock", st->dir);
  fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    sbx_diag_set(diag,
                 "store %s: cannot open lock file %s: %s; check the "
                 "directory's permissions",
                 st->dir, path, strerror(errno));
    return SBX_ESTORE;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    char holder[32] = "";
    ssize_t r = pread(fd, pid, sizeof(pid) - 1, 0);
    size_t j = 0;
    /* The file's content is only quoted, and only its digits. */
    for (ssize_t i = 0; i < r && j < sizeof(holder) - 1; i++)
      if (pid[i] >= '0' && pid[i] <= '9')
        holder[j++] = pid[i];
    holder[j] = '\0';
    close(fd);
    if (e == EWOULDBLOCK) {
      sbx_diag_set(diag,
                   "store %s is in use by another process (pid %s holds "
                   "%s); stop that sandboxd or choose another --data-dir",
                   st->dir, j ? holder : "unknown", path);
    } else {
      sbx_diag_set(diag, "store %s: cannot lock %s: %s", st->dir, path,
                   strerror(e));
    }
    return SBX_ESTORE;
  }
  int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
  /* The pid is only a hint for the message above; failing to write it is
   * harmless, the lock itself is held. */
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
    /* nothing to do */
  }
  st->lock_fd = fd;
  return 0;
}

static int env_open(struct sbx_store *st, struct sbx_diag *diag) {
  int mrc = mdb_env_create(&st->env);
  if (mrc != 0) {
    sbx_diag_set(diag, "store %s: cannot create LMDB environment: %s", st->dir,
                 mdb_strerror(mrc));
    st->env = NULL;
    return mrc == ENOMEM ? SBX_ENOMEM : SBX_ESTORE;
  }
  mdb_env_set_maxdbs(st->env, MAX_DBS);
  mrc = mdb_env_set_mapsize(st->env, st->mapsize);
  if (mrc == 0)
    mrc = mdb_env_open(st->env, st->dir, MDB_NOTLS, 0600);
  if (mrc == 0) {
    int dead = 0;
    /* Reader slots of a killed process would pin old pages forever. */
    mdb_reader_check(st->env, &dead);
    return 0;
  }
  switch (mrc) {
  case MDB_INVALID:
    sbx_diag_set(diag,
                 "store %s: data.mdb is not an LMDB file or its header is "
                 "damaged; restore the directory from a backup or choose "
                 "another --data-dir",
                 st->dir);
    break;
  case MDB_VERSION_MISMATCH:
    sbx_diag_set(diag,
                 "store %s was written by an incompatible LMDB version; "
                 "use the sandboxd build that wrote it or another "
                 "--data-dir",
                 st->dir);
    break;
  case EACCES:
  case EPERM:
  case EROFS:
    sbx_diag_set(diag,
                 "store %s: cannot open data.mdb/lock.mdb for writing: %s; "
                 "fix the files' owner or permissions",
                 st->dir, mdb_strerror(mrc));
    break;
  case ENOMEM:
    sbx_diag_set(diag,
                 "store %s: cannot map %zu MiB of address space: %s; raise "
                 "the process's address-space limit (ulimit -v)",
                 st->dir, st->mapsize >> 20, mdb_strerror(mrc));
    break;
  default:
    sbx_diag_set(diag, "store %s: cannot open LMDB environment: %s%s", st->dir,
                 mdb_strerror(mrc), mdb_hint(mrc));
  }
  mdb_env_close(st->env);
  st->env = NULL;
  return SBX_ESTORE;
}

static const char *state_words(int state, char *buf, size_t len) {
  switch (state) {
  case SBX__V1__RUN_STATE__RUN_STATE_QUEUED:
    return "queued";
  case SBX__V1__RUN_STATE__RUN_STATE_PREPARING:
    return "preparing";
  case SBX__V1__RUN_STATE__RUN_STATE_WARMUP:
    return "warming up";
  case SBX__V1__RUN_STATE__RUN_STATE_MEASURING:
    return "measuring";
  case SBX__V1__RUN_STATE__RUN_STATE_VERIFYING:
    return "verifying";
  case SBX__V1__RUN_STATE__RUN_STATE_UNSPECIFIED:
    return "in no recorded state";
  default:
    snprintf(buf, len, "in unknown state %d", state);
    return buf;
  }
}

int sbx_run_state_terminal(int state) {
  return state == SBX__V1__RUN_STATE__RUN_STATE_DONE ||
         state == SBX__V1__RUN_STATE__RUN_STATE_ERROR ||
         state == SBX__V1__RUN_STATE__RUN_STATE_CANCELED ||
         state == SBX__V1__RUN_STATE__RUN_STATE_INTERRUPTED;
}

/* Marks one run INTERRUPTED inside txn. A record that cannot be read is
 * left as it is: sbx_store_get_run reports it, and one damaged record must
 * not keep the whole store from opening. */
static int recover_one(struct sbx_store *st, MDB_txn *txn, uint64_t id,
                       int *changed) {
  uint8_t k[8];
  MDB_val key = {8, k}, val;
  Sbx__V1__Run *run;
  char reason[160], sbuf[32];
  char *old_reason;
  int mrc, rc = 0;

  *changed = 0;
  put_be64(k, id);
  if (mdb_get(txn, st->dbi[DB_RUNS], &key, &val) != 0)
    return 0;
  run = sbx__v1__run__unpack(NULL, val.mv_size, val.mv_data);
  /* A queued run never started: it stays queued, and the daemon's queue
   * resumes it. */
  if (run == NULL || run->id != id || sbx_run_state_terminal(run->state) ||
      run->state == SBX__V1__RUN_STATE__RUN_STATE_QUEUED)
    goto out;
  snprintf(reason, sizeof(reason),
           "the process stopped while the run was %s; its samples up to "
           "the last commit are kept",
           state_words(run->state, sbuf, sizeof(sbuf)));
  old_reason = run->reason;
  run->reason = reason;
  run->state = SBX__V1__RUN_STATE__RUN_STATE_INTERRUPTED;
  run->ended_unix_ms = now_unix_ms();
  rc = pack_msg(&run->base, &val);
  run->reason = old_reason;
  if (rc != 0)
    goto out;
  mrc = mdb_put(txn, st->dbi[DB_RUNS], &key, &val, 0);
  free(val.mv_data);
  if (mrc != 0) {
    rc = mrc;
    goto out;
  }
  *changed = 1;
out:
  if (run != NULL)
    sbx__v1__run__free_unpacked(run, NULL);
  return rc;
}

/* Returns 0, SBX_ENOMEM, or a positive LMDB error code. */
static int recover(struct sbx_store *st, MDB_txn *txn) {
  MDB_cursor *cur = NULL;
  MDB_val key, val;
  uint64_t *ids = NULL, n = 0, cap = 0;
  int mrc, rc = 0;

  /* Collect first, rewrite after: no puts under an open cursor. */
  mrc = mdb_cursor_open(txn, st->dbi[DB_RUNS], &cur);
  if (mrc != 0)
    return mrc;
  for (mrc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); mrc == 0;
       mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
    Sbx__V1__Run *run;
    if (key.mv_size != 8)
      continue;
    run = sbx__v1__run__unpack(NULL, val.mv_size, val.mv_data);
    if (run == NULL)
      continue;
    int live = !sbx_run_state_terminal(run->state);
    sbx__v1__run__free_unpacked(run, NULL);
    if (!live)
      continue;
    if (n == cap) {
      uint64_t ncap = cap ? cap * 2 : 16;
      uint64_t *nids = realloc(ids, ncap * sizeof(*ids));
      if (nids == NULL) {
        rc = SBX_ENOMEM;
        goto out;
      }
      ids = nids;
      cap = ncap;
    }
    ids[n++] = get_be64(key.mv_data);
  }
  if (mrc != MDB_NOTFOUND) {
    rc = mrc;
    goto out;
  }
  mdb_cursor_close(cur);
  cur = NULL;
  for (uint64_t i = 0; i < n; i++) {
    int changed;
    rc = recover_one(st, txn, ids[i], &changed);
    if (rc != 0)
      goto out;
    st->recovered += (uint64_t)changed;
  }
out:
  if (cur != NULL)
    mdb_cursor_close(cur);
  free(ids);
  return rc;
}

static int init_dbs(struct sbx_store *st, struct sbx_diag *diag) {
  MDB_txn *txn = NULL;
  MDB_val key, val;
  uint8_t buf[8];
  int mrc, rc = SBX_ESTORE;
  const char *what = "starting the opening transaction";

  mrc = mdb_txn_begin(st->env, NULL, 0, &txn);
  if (mrc != 0)
    goto fail;
  /* meta first: a newer store may hold databases this build cannot open,
   * and its schema version is the message that helps. */
  what = "meta";
  mrc = mdb_dbi_open(txn, "meta", MDB_CREATE, &st->dbi[DB_META]);
  if (mrc != 0)
    goto fail;
  key.mv_data = "schema_version";
  key.mv_size = strlen("schema_version");
  mrc = mdb_get(txn, st->dbi[DB_META], &key, &val);
  if (mrc == MDB_NOTFOUND) {
    put_be32(buf, SBX_STORE_SCHEMA_VERSION);
    val.mv_data = buf;
    val.mv_size = 4;
    what = "writing meta.schema_version";
    mrc = mdb_put(txn, st->dbi[DB_META], &key, &val, 0);
    if (mrc != 0)
      goto fail;
  } else if (mrc != 0) {
    what = "reading meta.schema_version";
    goto fail;
  } else {
    const uint8_t *p = val.mv_data;
    uint32_t v;
    if (val.mv_size != 4) {
      sbx_diag_set(diag,
                   "store %s: meta.schema_version is damaged (%zu bytes, "
                   "expected 4); restore the --data-dir from a backup",
                   st->dir, val.mv_size);
      goto out;
    }
    v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
        p[3];
    if (v > SBX_STORE_SCHEMA_VERSION) {
      sbx_diag_set(diag,
                   "store %s has schema version %u, newer than this "
                   "sandboxd supports (%u); run a newer sandboxd or use "
                   "another --data-dir",
                   st->dir, v, SBX_STORE_SCHEMA_VERSION);
      goto out;
    }
    if (v == 0) {
      sbx_diag_set(diag,
                   "store %s: meta.schema_version is 0, which no sandboxd "
                   "writes; restore the --data-dir from a backup",
                   st->dir);
      goto out;
    }
  }

  for (int i = 0; i < DB_COUNT; i++) {
    if (i == DB_META)
      continue;
    what = db_names[i];
    mrc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &st->dbi[i]);
    if (mrc != 0)
      goto fail;
  }

  key.mv_data = "next_run_id";
  key.mv_size = strlen("next_run_id");
  mrc = mdb_get(txn, st->dbi[DB_META], &key, &val);
  if (mrc == MDB_NOTFOUND) {
    put_be64(buf, 1);
    val.mv_data = buf;
    val.mv_size = 8;
    what = "writing meta.next_run_id";
    mrc = mdb_put(txn, st->dbi[DB_META], &key, &val, 0);
  }
  if (mrc != 0) {
    what = "meta.next_run_id";
    goto fail;
  }

  what = "recovering interrupted runs";
  mrc = recover(st, txn);
  if (mrc == SBX_ENOMEM) {
    sbx_diag_set(diag, "store %s: out of memory during recovery", st->dir);
    rc = SBX_ENOMEM;
    goto out;
  }
  if (mrc != 0)
    goto fail;
  what = "committing the opening transaction";
  mrc = mdb_txn_commit(txn);
  txn = NULL;
  if (mrc != 0)
    goto fail;
  rc = 0;
  goto out;

fail:
  sbx_diag_set(diag, "store %s: %s: %s%s", st->dir, what, mdb_strerror(mrc),
               mdb_hint(mrc));
  if (mrc == ENOMEM)
    rc = SBX_ENOMEM;
out:
  if (txn != NULL)
    mdb_txn_abort(txn);
  return rc;
}

/* ---- the writer thread ---- */

struct last_key {
  int known; /* looked up in this txn */
  int none;  /* the database is empty */
  int big;   /* the last key is longer than ours: never append */
  uint8_t k[KEY_LEN];
};

/* LMDB's default order: memcmp over the common length, then shorter first.
 * Our keys are KEY_LEN bytes; a shorter last key is stored in full. */
static int after_last(const struct last_key *lk, size_t lklen,
                      const uint8_t *key) {
  if (lk->none)
    return 1;
  if (lk->big)
    return 0;
  int c = memcmp(key, lk->k, lklen);
  return c > 0 || (c == 0 && KEY_LEN > lklen);
}

/* Puts one record (kind | key | len | value at p) through cur, appending
 * when its key sorts after the last one (no search, full pages) and
 * inserting otherwise. */
static int put_rec(MDB_cursor *cur, struct last_key *lk, size_t *lastlen,
                   const uint8_t *p) {
  uint32_t len;
  MDB_val k = {KEY_LEN, (void *)(p + 1)}, v;
  unsigned flags = 0;
  int mrc;

  memcpy(&len, p + 1 + KEY_LEN, 4);
  v.mv_size = len;
  v.mv_data = (void *)(p + REC_HDR);
  if (!lk->known) {
    MDB_val lkey, lval;
    lk->known = 1;
    mrc = mdb_cursor_get(cur, &lkey, &lval, MDB_LAST);
    if (mrc == MDB_NOTFOUND) {
      lk->none = 1;
    } else if (mrc != 0) {
      return mrc;
    } else if (lkey.mv_size > KEY_LEN) {
      lk->big = 1;
    } else {
      memcpy(lk->k, lkey.mv_data, lkey.mv_size);
      *lastlen = lkey.mv_size;
    }
  }
  if (after_last(lk, *lastlen, k.mv_data))
    flags = MDB_APPEND;
  mrc = mdb_cursor_put(cur, &k, &v, flags);
  if (mrc == MDB_KEYEXIST && flags != 0)
    mrc = mdb_cursor_put(cur, &k, &v, 0);
  if (mrc == 0 && flags != 0) {
    memcpy(lk->k, k.mv_data, KEY_LEN);
    *lastlen = KEY_LEN;
    lk->none = 0;
    lk->big = 0;
  }
  return mrc;
}

static const uint8_t *next_rec(const uint8_t *p) {
  uint32_t len;
  memcpy(&len, p + 1 + KEY_LEN, 4);
  return p + REC_HDR + len;
}

/* Puts the samples of one transaction in key order when that is cheap.
 * Requests complete out of order, so samples arrive with their seqs a
 * little shuffled; put as they come, most would miss MDB_APPEND and split
 * pages half full (twice the disk, twice the writer's CPU). When all the
 * samples belong to one run and their seqs span at most a few times their
 * count (the usual case), they are placed by seq into a table and put from
 * it in order. A later record with the same key still replaces the earlier
 * one. Otherwise (several runs interleaved, or a sparse spread) they are
 * put in arrival order. Returns an LMDB code. */
static int put_samples(struct sbx_store *st, MDB_cursor *cur,
                       struct last_key *lk, size_t *lastlen,
                       const uint8_t *const *recs, size_t n) {
  uint64_t run = 0, lo = UINT64_MAX, hi = 0, span, seq, prev = 0;
  int sorted = 1, one_run = 1, mrc;
  size_t i;

  for (i = 0; i < n; i++) {
    seq = get_be64(recs[i] + 9);
    if (i == 0)
      run = get_be64(recs[i] + 1);
    else if (get_be64(recs[i] + 1) != run)
      one_run = 0;
    else if (seq <= prev)
      sorted = 0;
    prev = seq;
    if (seq < lo)
      lo = seq;
    if (seq > hi)
      hi = seq;
  }
  span = n > 0 ? hi - lo + 1 : 0;
  if (!sorted && one_run && span <= 4 * (uint64_t)n + 4096 &&
      span <= SIZE_MAX / sizeof(*st->wtable)) {
    if (span > st->wtable_cap) {
      const uint8_t **t = realloc(st->wtable, span * sizeof(*t));
      if (t != NULL) {
        st->wtable = t;
        st->wtable_cap = span;
      }
    }
    if (span <= st->wtable_cap) {
      memset(st->wtable, 0, span * sizeof(*st->wtable));
      for (i = 0; i < n; i++)
        st->wtable[get_be64(recs[i] + 9) - lo] = recs[i];
      for (i = 0; i < span; i++) {
        if (st->wtable[i] != NULL &&
            (mrc = put_rec(cur, lk, lastlen, st->wtable[i])) != 0)
          return mrc;
      }
      return 0;
    }
  }
  for (i = 0; i < n; i++) {
    if ((mrc = put_rec(cur, lk, lastlen, recs[i])) != 0)
      return mrc;
  }
  return 0;
}

static int write_batches(struct sbx_store *st, struct batch *b, char *msg,
                         size_t msglen) {
  MDB_txn *txn = NULL;
  MDB_cursor *cur[2] = {NULL, NULL};
  struct last_key last[2];
  size_t lastlen[2] = {0, 0};
  const char *what = "starting a write transaction";
  size_t n = 0;
  int mrc;

  memset(last, 0, sizeof(last));
  mrc = mdb_txn_begin(st->env, NULL, 0, &txn);
  if (mrc != 0)
    goto fail;
  what = "opening a cursor";
  if ((mrc = mdb_cursor_open(txn, st->dbi[DB_SAMPLES], &cur[0])) != 0 ||
      (mrc = mdb_cursor_open(txn, st->dbi[DB_SERIES], &cur[1])) != 0)
    goto fail;

  /* Series points (one a second, in order) go straight in; samples are
   * gathered for put_samples. Without room for the list, samples go in as
   * they come. */
  what = "writing samples";
  for (; b != NULL; b = b->next) {
    const uint8_t *p = b->buf, *end = b->buf + b->len;
    for (; p < end; p = next_rec(p)) {
      if (p[0] == KIND_SAMPLE) {
        if (n == st->wrecs_cap) {
          size_t cap = n == 0 ? 4096 : n * 2;
          const uint8_t **r = realloc(st->wrecs, cap * sizeof(*r));
          if (r == NULL) {
            /* Those gathered first, so that a later key still wins. */
            if ((mrc = put_samples(st, cur[0], &last[0], &lastlen[0],
                                   st->wrecs, n)) != 0 ||
                (mrc = put_rec(cur[0], &last[0], &lastlen[0], p)) != 0)
              goto fail;
            n = 0;
            continue;
          }
          st->wrecs = r;
          st->wrecs_cap = cap;
        }
        st->wrecs[n++] = p;
        continue;
      }
      what = "writing series";
      if ((mrc = put_rec(cur[1], &last[1], &lastlen[1], p)) != 0)
        goto fail;
      what = "writing samples";
    }
  }
  if ((mrc = put_samples(st, cur[0], &last[0], &lastlen[0], st->wrecs, n)) !=
      0)
    goto fail;
  mdb_cursor_close(cur[0]);
  mdb_cursor_close(cur[1]);
  cur[0] = cur[1] = NULL;
  what = "committing samples";
  mrc = mdb_txn_commit(txn);
  txn = NULL;
  if (mrc != 0)
    goto fail;
  return 0;

fail:
  if (cur[0] != NULL)
    mdb_cursor_close(cur[0]);
  if (cur[1] != NULL)
    mdb_cursor_close(cur[1]);
  if (txn != NULL)
    mdb_txn_abort(txn);
  snprintf(msg, msglen,
           "store %s: %s: %s%s; samples appended from now on are dropped",
           st->dir, what, mdb_strerror(mrc), mdb_hint(mrc));
  return SBX_ESTORE;
}

static void deadline_in(struct timespec *ts, long ms) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

/* Gives a processed batch back for reuse, or frees it. Called under mu. */
static void recycle_locked(struct sbx_store *st, struct batch *b) {
  if (st->nfree < FREE_BATCHES && b->cap == BATCH_CAP) {
    b->len = 0;
    b->count = 0;
    b->next = st->free_list;
    st->free_list = b;
    st->nfree++;
    return;
  }
  free(b->buf);
  free(b);
}

/* LMDB reads through a read-only shared map of the data file; every page
 * an append touches stays resident and is counted in the process's RSS,
 * so a long run would seem to grow by the size of its samples. The pages
 * are the kernel's page cache, not our memory: dropping our mapping of
 * them (the file and the cache are untouched, a later read faults them
 * back in) keeps the footprint flat however long a run is. */
static void release_map(struct sbx_store *st) {
  /* LMDB does not hand out its map address (mdb_env_info reports it only
   * for MDB_FIXEDMAP), so find the data file's mapping once. */
  if (!st->map_looked) {
    char want[4096], line[4600];
    FILE *f;
    st->map_looked = 1;
    if (realpath(st->dir, want) == NULL ||
        strlen(want) + sizeof("/data.mdb") > sizeof(want))
      return;
    strncat(want, "/data.mdb", sizeof(want) - strlen(want) - 1);
    f = fopen("/proc/self/maps", "r");
    if (f == NULL)
      return;
    while (fgets(line, sizeof(line), f) != NULL) {
      unsigned long lo, hi;
      char *path = strchr(line, '/');
      size_t n;
      if (path == NULL || sscanf(line, "%lx-%lx", &lo, &hi) != 2)
        continue;
      n = strlen(path);
      if (n > 0 && path[n - 1] == '\n')
        path[n - 1] = '\0';
      if (strcmp(path, want) == 0) {
        st->map_addr = (void *)lo;
        st->map_len = hi - lo;
        break;
      }
    }
    fclose(f);
  }
  if (st->map_addr != NULL)
    (void)madvise(st->map_addr, st->map_len, MADV_DONTNEED);
}

static void *writer_main(void *arg) {
  struct sbx_store *st = arg;
  char msg[sizeof(st->errmsg)];
  time_t last_release = 0;

  pthread_mutex_lock(&st->mu);
  for (;;) {
    struct batch *chain, *tail, *next;
    size_t bytes = 0;
    uint64_t n = 0;
    int rc = 0;

    if (st->qhead == NULL) {
      struct timespec dl;
      if (st->stop)
        break;
      deadline_in(&dl, IDLE_MS);
      while (st->qhead == NULL && !st->stop) {
        if (pthread_cond_timedwait(&st->work, &st->mu, &dl) == ETIMEDOUT)
          break;
      }
      /* Idle for IDLE_MS: ask the appender to hand over its partial batch
       * at its next append, so a slow trickle is committed every ~100 ms. */
      if (st->qhead == NULL && !st->stop)
        atomic_store_explicit(&st->want_handoff, 1, memory_order_relaxed);
      continue;
    }
    chain = tail = st->qhead;
    for (;;) {
      bytes += tail->len;
      n++;
      if (tail->next == NULL || bytes >= TXN_MAX_BYTES)
        break;
      tail = tail->next;
    }
    st->qhead = tail->next;
    if (st->qhead == NULL)
      st->qtail = NULL;
    tail->next = NULL;
    pthread_mutex_unlock(&st->mu);

    if (!atomic_load(&st->failed))
      rc = write_batches(st, chain, msg, sizeof(msg));
    if (rc == 0) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec != last_release) {
        release_map(st);
        last_release = now.tv_sec;
      }
    }

    pthread_mutex_lock(&st->mu);
    if (rc != 0 && st->werr == 0) {
      st->werr = rc;
      memcpy(st->errmsg, msg, sizeof(st->errmsg));
      atomic_store(&st->failed, 1);
    }
    for (; chain != NULL; chain = next) {
      next = chain->next;
      recycle_locked(st, chain);
    }
    st->qbytes -= bytes;
    st->committed += n;
    pthread_cond_broadcast(&st->done);
  }
  pthread_mutex_unlock(&st->mu);
  return NULL;
}

static void free_chain(struct batch *b) {
  while (b != NULL) {
    struct batch *next = b->next;
    free(b->buf);
    free(b);
    b = next;
  }
}

static void store_destroy(struct sbx_store *st) {
  free(st->wrecs);
  free(st->wtable);
  free_chain(st->cur);
  free_chain(st->qhead);
  free_chain(st->free_list);
  if (st->env != NULL)
    mdb_env_close(st->env);
  if (st->lock_fd >= 0)
    close(st->lock_fd); /* releases the flock */
  pthread_cond_destroy(&st->done);
  pthread_cond_destroy(&st->work);
  pthread_mutex_destroy(&st->mu);
  free(st->dir);
  free(st);
}

int sbx__store_open_mapsize(const char *dir, size_t mapsize,
                            struct sbx_store **out, struct sbx_diag *diag) {
  struct sbx_store *st = NULL;
  pthread_condattr_t ca;
  int rc = SBX_EINVAL, e;

  if (out != NULL)
    *out = NULL;
  if (out == NULL || dir == NULL || dir[0] == '\0' || mapsize == 0) {
    sbx_diag_set(diag, "store: no directory given; pass --data-dir DIR");
    return SBX_EINVAL;
  }
  st = calloc(1, sizeof(*st));
  if (st == NULL)
    goto nomem;
  st->lock_fd = -1;
  st->mapsize = mapsize;
  pthread_mutex_init(&st->mu, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&st->work, &ca);
  pthread_condattr_destroy(&ca);
  pthread_cond_init(&st->done, NULL);
  atomic_init(&st->failed, 0);
  atomic_init(&st->want_handoff, 0);
  st->dir = strdup(dir);
  if (st->dir == NULL) {
    store_destroy(st);
    st = NULL;
    goto nomem;
  }
  if ((rc = make_dir(dir, diag)) != 0 || (rc = take_lock(st, diag)) != 0 ||
      (rc = env_open(st, diag)) != 0 || (rc = init_dbs(st, diag)) != 0)
    goto out;
  if ((e = pthread_create(&st->writer, NULL, writer_main, st)) != 0) {
    sbx_diag_set(diag, "store %s: cannot start the writer thread: %s", st->dir,
                 strerror(e));
    rc = SBX_ESTORE;
    goto out;
  }
  st->writer_started = 1;
  *out = st;
  st = NULL;
  rc = 0;
out:
  if (st != NULL)
    store_destroy(st);
  return rc;
nomem:
  sbx_diag_set(diag, "store %s: out of memory", dir);
  return SBX_ENOMEM;
}

int sbx_store_open(const char *dir, struct sbx_store **out,
                   struct sbx_diag *diag) {
  return sbx__store_open_mapsize(dir, DEFAULT_MAPSIZE, out, diag);
}

uint64_t sbx_store_recovered(const struct sbx_store *st) {
  return st != NULL ? st->recovered : 0;
}

void sbx_store_errmsg(struct sbx_store *st, char *buf, size_t len) {
  if (buf == NULL || len == 0)
    return;
  if (st == NULL) {
    buf[0] = '\0';
    return;
  }
  pthread_mutex_lock(&st->mu);
  snprintf(buf, len, "%s", st->errmsg);
  pthread_mutex_unlock(&st->mu);
}

/* ---- the sample queue (appending thread) ---- */

/* Hands st->cur to the writer; may wait while the queue is over its bound.
 * Takes a recycled batch back in the same mutex acquisition. */
static int handoff(struct sbx_store *st) {
  struct batch *b = st->cur;
  int rc = 0;

  st->cur = NULL;
  atomic_store_explicit(&st->want_handoff, 0, memory_order_relaxed);
  pthread_mutex_lock(&st->mu);
  if (b != NULL && b->count > 0) {
    if (st->werr != 0) {
      recycle_locked(st, b);
    } else {
      b->next = NULL;
      if (st->qtail != NULL)
        st->qtail->next = b;
      else
        st->qhead = b;
      st->qtail = b;
      st->qbytes += b->len;
      st->submitted++;
      pthread_cond_signal(&st->work);
      /* Back-pressure: the disk cannot keep up; waiting here bounds the
       * memory the queue holds. */
      while (st->qbytes > QUEUE_MAX_BYTES && st->werr == 0)
        pthread_cond_wait(&st->done, &st->mu);
    }
  } else if (b != NULL) {
    recycle_locked(st, b);
  }
  if (st->free_list != NULL) {
    st->cur = st->free_list;
    st->free_list = st->cur->next;
    st->cur->next = NULL;
    st->nfree--;
  }
  if (st->werr != 0)
    rc = SBX_ESTORE;
  pthread_mutex_unlock(&st->mu);
  return rc;
}

static struct batch *batch_new(size_t min) {
  struct batch *b = calloc(1, sizeof(*b));
  if (b == NULL)
    return NULL;
  b->cap = min > BATCH_CAP ? min : BATCH_CAP;
  b->buf = malloc(b->cap);
  if (b->buf == NULL) {
    free(b);
    return NULL;
  }
  return b;
}

static int append_rec(struct sbx_store *st, int kind, uint64_t run_id,
                      uint64_t seq, const uint8_t *val, size_t vlen) {
  size_t need;
  uint8_t *p;
  uint32_t len32;
  int rc;

  if (atomic_load_explicit(&st->failed, memory_order_relaxed))
    return SBX_ESTORE;
  need = REC_HDR + vlen;
  if (st->cur != NULL && st->cur->cap - st->cur->len < need &&
      st->cur->count > 0) {
    rc = handoff(st);
    if (rc != 0)
      return rc;
  }
  if (st->cur == NULL) {
    st->cur = batch_new(need);
    if (st->cur == NULL)
      return SBX_ENOMEM;
  } else if (st->cur->cap - st->cur->len < need) {
    /* Only an empty batch gets here: make it fit this one record. */
    uint8_t *nb = realloc(st->cur->buf, need);
    if (nb == NULL)
      return SBX_ENOMEM;
    st->cur->buf = nb;
    st->cur->cap = need;
  }
  p = st->cur->buf + st->cur->len;
  p[0] = (uint8_t)kind;
  put_be64(p + 1, run_id);
  put_be64(p + 9, seq);
  len32 = (uint32_t)vlen;
  memcpy(p + 1 + KEY_LEN, &len32, 4);
  memcpy(p + REC_HDR, val, vlen);
  st->cur->len += need;
  st->cur->count++;
  if (st->cur->count >= BATCH_MAX_RECORDS || st->cur->len >= BATCH_MAX_BYTES ||
      atomic_load_explicit(&st->want_handoff, memory_order_relaxed))
    return handoff(st);
  return 0;
}

/* Packs m and appends it (records of any size). */
static int append_msg(struct sbx_store *st, int kind, uint64_t run_id,
                      uint64_t seq, const ProtobufCMessage *m) {
  uint8_t small[256], *buf = small;
  size_t vlen = protobuf_c_message_get_packed_size(m);
  int rc;
  if (vlen > UINT32_MAX - REC_HDR)
    return SBX_EINVAL;
  if (vlen > sizeof(small) && (buf = malloc(vlen)) == NULL)
    return SBX_ENOMEM;
  protobuf_c_message_pack(m, buf);
  rc = append_rec(st, kind, run_id, seq, buf, vlen);
  if (buf != small)
    free(buf);
  return rc;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

/* A proto3 varint field, omitted at zero as protobuf-c omits it. */
static uint8_t *put_field(uint8_t *p, unsigned tag, uint64_t v) {
  if (v == 0)
    return p;
  *p++ = (uint8_t)(tag << 3); /* wire type 0, tags 1..9 */
  return put_varint(p, v);
}

size_t sbx__store_pack_sample(const Sbx__V1__Sample *s,
                              uint8_t out[SBX__STORE_SAMPLE_MAX]) {
  uint8_t *p = out;
  /* The bytes protobuf_c_message_pack writes for a Sample without unknown
   * fields, without its generic descriptor walk: one sample per request is
   * the store's hot path. Signed fields are sign-extended to 64 bits, as
   * the wire format wants. test_store.c checks every byte against
   * protobuf-c. */
  p = put_field(p, 1, s->seq);
  p = put_field(p, 2, s->case_index);
  p = put_field(p, 3, (uint64_t)s->sched_ns);
  p = put_field(p, 4, (uint64_t)s->send_ns);
  p = put_field(p, 5, (uint64_t)s->done_ns);
  p = put_field(p, 6, s->status);
  p = put_field(p, 7, (uint64_t)(int64_t)(int32_t)s->error);
  p = put_field(p, 8, s->warmup ? 1 : 0);
  p = put_field(p, 9, s->body_bytes);
  return (size_t)(p - out);
}

int sbx_store_append_sample(struct sbx_store *st, uint64_t run_id,
                            const Sbx__V1__Sample *s) {
  uint8_t buf[SBX__STORE_SAMPLE_MAX];
  if (st == NULL || s == NULL)
    return SBX_EINVAL;
  if (s->base.n_unknown_fields > 0) /* not from our engine: the slow way */
    return append_msg(st, KIND_SAMPLE, run_id, s->seq, &s->base);
  return append_rec(st, KIND_SAMPLE, run_id, s->seq, buf,
                    sbx__store_pack_sample(s, buf));
}

int sbx_store_append_series(struct sbx_store *st, uint64_t run_id,
                            const Sbx__V1__SeriesPoint *p) {
  if (st == NULL || p == NULL)
    return SBX_EINVAL;
  return append_msg(st, KIND_SERIES, run_id, p->second, &p->base);
}

int sbx_store_tick(struct sbx_store *st) {
  if (st == NULL)
    return SBX_EINVAL;
  if (st->cur != NULL && st->cur->count > 0)
    return handoff(st);
  return atomic_load(&st->failed) ? SBX_ESTORE : 0;
}

int sbx_store_flush(struct sbx_store *st) {
  uint64_t target;
  int rc;

  if (st == NULL)
    return SBX_EINVAL;
  if (st->cur != NULL && st->cur->count > 0)
    handoff(st); /* its error is werr, returned below */
  pthread_mutex_lock(&st->mu);
  target = st->submitted;
  while (st->committed < target)
    pthread_cond_wait(&st->done, &st->mu);
  rc = st->werr;
  pthread_mutex_unlock(&st->mu);
  return rc;
}

int sbx_store_close(struct sbx_store *st) {
  int rc;

  if (st == NULL)
    return 0;
  if (st->writer_started) {
    if (st->cur != NULL && st->cur->count > 0)
      handoff(st);
    pthread_mutex_lock(&st->mu);
    st->stop = 1;
    pthread_cond_signal(&st->work);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->writer, NULL); /* it drains the queue first */
  }
  rc = st->werr;
  store_destroy(st);
  return rc;
}

/* ---- synchronous records ---- */

static int read_next_id(struct sbx_store *st, MDB_txn *txn, uint64_t *next) {
  MDB_val key = {strlen("next_run_id"), "next_run_id"}, val;
  int mrc = mdb_get(txn, st->dbi[DB_META], &key, &val);
  if (mrc == MDB_NOTFOUND) {
    *next = 1;
    return 0;
  }
  if (mrc != 0)
    return mdb_fail(st, mrc, "reading meta.next_run_id");
  if (val.mv_size != 8) {
    set_err(st,
            "store %s: meta.next_run_id is damaged (%zu bytes, expected 8);"
            " restore the --data-dir from a backup",
            st->dir, val.mv_size);
    return SBX_ESTORE;
  }
  *next = get_be64(val.mv_data);
  if (*next == 0)
    *next = 1;
  return 0;
}

static int write_next_id(struct sbx_store *st, MDB_txn *txn, uint64_t next) {
  uint8_t b[8];
  MDB_val key = {strlen("next_run_id"), "next_run_id"}, val = {8, b};
  int mrc;
  put_be64(b, next);
  mrc = mdb_put(txn, st->dbi[DB_META], &key, &val, 0);
  return mrc != 0 ? mdb_fail(st, mrc, "writing meta.next_run_id") : 0;
}

/* Puts run (already carrying its id) and moves next_run_id past it. */
static int put_run_txn(struct sbx_store *st, const Sbx__V1__Run *run,
                       int assign) {
  MDB_txn *txn = NULL;
  MDB_val key, val = {0, NULL};
  uint8_t k[8];
  uint64_t next = 1;
  int mrc, rc;

  mrc = mdb_txn_begin(st->env, NULL, 0, &txn);
  if (mrc != 0)
    return mdb_fail(st, mrc, "starting a write transaction");
  rc = read_next_id(st, txn, &next);
  if (rc != 0)
    goto out;
  if (assign) {
    if (next == UINT64_MAX) {
      set_err(st, "store %s: run ids are exhausted", st->dir);
      rc = SBX_ESTORE;
      goto out;
    }
    ((Sbx__V1__Run *)run)->id = next;
  }
  rc = pack_msg(&run->base, &val);
  if (rc != 0)
    goto out;
  put_be64(k, run->id);
  key.mv_size = 8;
  key.mv_data = k;
  mrc = mdb_put(txn, st->dbi[DB_RUNS], &key, &val, 0);
  if (mrc != 0) {
    rc = mdb_fail(st, mrc, "writing a run");
    goto out;
  }
  if (run->id >= next && run->id != UINT64_MAX) {
    rc = write_next_id(st, txn, run->id + 1);
    if (rc != 0)
      goto out;
  }
  mrc = mdb_txn_commit(txn);
  txn = NULL;
  if (mrc != 0)
    rc = mdb_fail(st, mrc, "committing a run");
out:
  if (txn != NULL)
    mdb_txn_abort(txn);
  free(val.mv_data);
  return rc;
}

int sbx_store_new_run(struct sbx_store *st, Sbx__V1__Run *run) {
  uint64_t old;
  int rc;
  if (st == NULL || run == NULL)
    return SBX_EINVAL;
  old = run->id;
  rc = put_run_txn(st, run, 1);
  if (rc != 0)
    run->id = old;
  return rc;
}

int sbx_store_put_run(struct sbx_store *st, const Sbx__V1__Run *run) {
  if (st == NULL || run == NULL || run->id == 0)
    return SBX_EINVAL;
  return put_run_txn(st, run, 0);
}

int sbx_store_put_result(struct sbx_store *st, const Sbx__V1__Result *res) {
  MDB_txn *txn = NULL;
  MDB_val key, val = {0, NULL};
  uint8_t k[8];
  int mrc, rc;

  if (st == NULL || res == NULL || res->run_id == 0)
    return SBX_EINVAL;
  rc = pack_msg(&res->base, &val);
  if (rc != 0)
    return rc;
  put_be64(k, res->run_id);
  key.mv_size = 8;
  key.mv_data = k;
  mrc = mdb_txn_begin(st->env, NULL, 0, &txn);
  if (mrc != 0) {
    rc = mdb_fail(st, mrc, "starting a write transaction");
    goto out;
  }
  mrc = mdb_put(txn, st->dbi[DB_RESULTS], &key, &val, 0);
  if (mrc != 0) {
    rc = mdb_fail(st, mrc, "writing a result");
    goto out;
  }
  mrc = mdb_txn_commit(txn);
  txn = NULL;
  if (mrc != 0)
    rc = mdb_fail(st, mrc, "committing a result");
out:
  if (txn != NULL)
    mdb_txn_abort(txn);
  free(val.mv_data);
  return rc;
}

/* A pending callback: an empty value under "callback/<run id>" in the
 * events database. */
#define CALLBACK_PREFIX "callback/"
#define CALLBACK_KEY_MAX 32

static size_t callback_key(char out[CALLBACK_KEY_MAX], uint64_t run_id) {
  int n = snprintf(out, CALLBACK_KEY_MAX, CALLBACK_PREFIX "%" PRIu64, run_id);
  return n > 0 ? (size_t)n : 0;
}

struct id_list {
  uint64_t *ids;
  size_t n, cap;
};

static int collect_callback(const void *key, size_t klen, const void *val,
                            size_t vlen, void *arg) {
  struct id_list *l = arg;
  size_t plen = strlen(CALLBACK_PREFIX);
  char digits[24], *end;
  unsigned long long id;
  (void)val;
  (void)vlen;
  if (klen <= plen || klen - plen >= sizeof(digits))
    return 0;
  memcpy(digits, (const char *)key + plen, klen - plen);
  digits[klen - plen] = '\0';
  errno = 0;
  id = strtoull(digits, &end, 10);
  if (errno != 0 || *end != '\0' || id == 0)
    return 0;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    uint64_t *ids = realloc(l->ids, cap * sizeof(*ids));
    if (ids == NULL)
      return SBX_ENOMEM;
    l->ids = ids;
    l->cap = cap;
  }
  l->ids[l->n++] = id;
  return 0;
}

int sbx_store_pending_callbacks(struct sbx_store *st, uint64_t **ids,
                                size_t *n) {
  struct id_list l = {NULL, 0, 0};
  int rc;
  if (ids == NULL || n == NULL)
    return SBX_EINVAL;
  rc = sbx_store_kv_foreach(st, SBX_STORE_EVENTS, CALLBACK_PREFIX,
                            strlen(CALLBACK_PREFIX), collect_callback, &l);
  if (rc != 0) {
    free(l.ids);
    l.ids = NULL;
    l.n = 0;
  }
  *ids = l.ids;
  *n = l.n;
  return rc;
}

int sbx_store_clear_callback(struct sbx_store *st, uint64_t run_id) {
  char key[CALLBACK_KEY_MAX];
  size_t n = callback_key(key, run_id);
  return sbx_store_kv_del(st, SBX_STORE_EVENTS, key, n);
}

int sbx_store_get_signed_bytes(struct sbx_store *st, uint64_t run_id,
                               void **out, size_t *len) {
  uint8_t k[8];
  put_be64(k, run_id);
  return sbx_store_kv_get(st, SBX_STORE_SIGNED, k, sizeof(k), out, len);
}

int sbx_store_finish_run(struct sbx_store *st, const Sbx__V1__Run *run,
                         const Sbx__V1__Result *res, const void *signed_bytes,
                         size_t signed_len) {
  MDB_txn *txn = NULL;
  MDB_val key, rv = {0, NULL}, sv = {0, NULL}, uv = {0, NULL};
  uint8_t k[8];
  int mrc, rc;

  if (st == NULL || run == NULL || run->id == 0 ||
      (res != NULL && res->run_id != run->id) ||
      (signed_bytes == NULL && signed_len != 0))
    return SBX_EINVAL;
  if ((rc = pack_msg(&run->base, &uv)) != 0)
    goto out;
  if (res != NULL && (rc = pack_msg(&res->base, &rv)) != 0)
    goto out;
  put_be64(k, run->id);
  key.mv_size = 8;
  key.mv_data = k;
  mrc = mdb_txn_begin(st->env, NULL, 0, &txn);
  if (mrc != 0) {
    rc = mdb_fail(st, mrc, "starting a write transaction");
    goto out;
  }
  if (res != NULL &&
      (mrc = mdb_put(txn, st->dbi[DB_RESULTS], &key, &rv, 0)) != 0) {
    rc = mdb_fail(st, mrc, "writing a result");
    goto out;
  }
  if (signed_bytes != NULL) {
    sv.mv_size = signed_len;
    sv.mv_data = (void *)signed_bytes;
    if ((mrc = mdb_put(txn, st->dbi[DB_SIGNED], &key, &sv, 0)) != 0) {
      rc = mdb_fail(st, mrc, "writing a signed result");
      goto out;
    }
  }
  if ((mrc = mdb_put(txn, st->dbi[DB_RUNS], &key, &uv, 0)) != 0) {
    rc = mdb_fail(st, mrc, "writing a run");
    goto out;
  }
  if (signed_bytes != NULL && run->callback_url != NULL &&
      run->callback_url[0] != '\0') {
    char ck[CALLBACK_KEY_MAX];
    MDB_val cv = {0, (void *)""};
    key.mv_size = callback_key(ck, run->id);
    key.mv_data = ck;
    if ((mrc = mdb_put(txn, st->dbi[DB_EVENTS], &key, &cv, 0)) != 0) {
      rc = mdb_fail(st, mrc, "recording a pending callback");
      goto out;
    }
  }
  mrc = mdb_txn_commit(txn);
  txn = NULL;
  if (mrc != 0)
    rc = mdb_fail(st, mrc, "committing a finished run");
out:
  if (txn != NULL)
    mdb_txn_abort(txn);
  free(uv.mv_data);
  free(rv.mv_data);
  return rc;
}

/* Reads and parses the message under an 8-byte id key. */
static int get_msg(struct sbx_store *st, int db, uint64_t id,
                   const ProtobufCMessageDescriptor *desc,
                   ProtobufCMessage **out) {
  MDB_txn *txn = NULL;
  MDB_val key, val;
  uint8_t k[8];
  int mrc, rc = 0;

  *out = NULL;
  put_be64(k, id);
  key.mv_size = 8;
  key.mv_data = k;
  mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
  if (mrc != 0)
    return mdb_fail(st, mrc, "starting a read transaction");
  mrc = mdb_get(txn, st->dbi[db], &key, &val);
  if (mrc == MDB_NOTFOUND) {
    rc = SBX_ENOENT;
    goto out;
  }
  if (mrc != 0) {
    rc = mdb_fail(st, mrc, db_names[db]);
    goto out;
  }
  *out = protobuf_c_message_unpack(desc, NULL, val.mv_size, val.mv_data);
  if (*out == NULL) {
    set_err(st,
            "store %s: %s record %llu (%zu bytes) is not a valid %s message;"
            " the store is damaged: restore the --data-dir from a backup",
            st->dir, db_names[db], (unsigned long long)id, val.mv_size,
            desc->name);
    rc = SBX_ESTORE;
  }
out:
  mdb_txn_abort(txn);
  return rc;
}

int sbx_store_get_run(struct sbx_store *st, uint64_t id, Sbx__V1__Run **out) {
  ProtobufCMessage *m;
  int rc;
  if (out != NULL)
    *out = NULL;
  if (st == NULL || out == NULL)
    return SBX_EINVAL;
  rc = get_msg(st, DB_RUNS, id, &sbx__v1__run__descriptor, &m);
  if (rc != 0)
    return rc;
  if (((Sbx__V1__Run *)m)->id != id) {
    set_err(st,
            "store %s: runs record %llu holds run id %llu; the store is "
            "damaged: restore the --data-dir from a backup",
            st->dir, (unsigned long long)id,
            (unsigned long long)((Sbx__V1__Run *)m)->id);
    protobuf_c_message_free_unpacked(m, NULL);
    return SBX_ESTORE;
  }
  *out = (Sbx__V1__Run *)m;
  return 0;
}

int sbx_store_get_result(struct sbx_store *st, uint64_t run_id,
                         Sbx__V1__Result **out) {
  ProtobufCMessage *m;
  int rc;
  if (out != NULL)
    *out = NULL;
  if (st == NULL || out == NULL)
    return SBX_EINVAL;
  rc = get_msg(st, DB_RESULTS, run_id, &sbx__v1__result__descriptor, &m);
  if (rc != 0)
    return rc;
  if (((Sbx__V1__Result *)m)->run_id != run_id) {
    set_err(st,
            "store %s: results record %llu holds the result of run %llu; "
            "the store is damaged: restore the --data-dir from a backup",
            st->dir, (unsigned long long)run_id,
            (unsigned long long)((Sbx__V1__Result *)m)->run_id);
    protobuf_c_message_free_unpacked(m, NULL);
    return SBX_ESTORE;
  }
  *out = (Sbx__V1__Result *)m;
  return 0;
}

int sbx_store_get_signed(struct sbx_store *st, uint64_t run_id,
                         Sbx__V1__SignedResult **out) {
  ProtobufCMessage *m;
  int rc;
  if (out != NULL)
    *out = NULL;
  if (st == NULL || out == NULL)
    return SBX_EINVAL;
  rc = get_msg(st, DB_SIGNED, run_id, &sbx__v1__signed_result__descriptor, &m);
  if (rc == 0)
    *out = (Sbx__V1__SignedResult *)m;
  return rc;
}

int sbx_store_list_runs(struct sbx_store *st,
                        int (*cb)(const Sbx__V1__Run *run, void *arg),
                        void *arg) {
  MDB_txn *txn = NULL;
  MDB_cursor *cur = NULL;
  MDB_val key, val;
  int mrc, rc = 0;

  if (st == NULL || cb == NULL)
    return SBX_EINVAL;
  mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
  if (mrc != 0)
    return mdb_fail(st, mrc, "starting a read transaction");
  mrc = mdb_cursor_open(txn, st->dbi[DB_RUNS], &cur);
  if (mrc != 0) {
    rc = mdb_fail(st, mrc, "opening a cursor on runs");
    goto out;
  }
  for (mrc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); mrc == 0;
       mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
    Sbx__V1__Run *run = NULL;
    if (key.mv_size == 8)
      run = sbx__v1__run__unpack(NULL, val.mv_size, val.mv_data);
    if (run == NULL || run->id != get_be64(key.mv_data)) {
      set_err(st,
              "store %s: a runs record (key %zu bytes, value %zu bytes) is "
              "damaged; restore the --data-dir from a backup",
              st->dir, key.mv_size, val.mv_size);
      if (run != NULL)
        sbx__v1__run__free_unpacked(run, NULL);
      rc = SBX_ESTORE;
      goto out;
    }
    rc = cb(run, arg);
    sbx__v1__run__free_unpacked(run, NULL);
    if (rc != 0)
      goto out;
  }
  if (mrc != MDB_NOTFOUND)
    rc = mdb_fail(st, mrc, "reading runs");
out:
  if (cur != NULL)
    mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  return rc;
}

/* ---- reading samples and series ---- */

/* Calls each(seq, value) for every key run_id | seq of db, in order. */
static int scan_run(struct sbx_store *st, int db, uint64_t run_id,
                    int (*each)(struct sbx_store *st, uint64_t run_id,
                                uint64_t seq, const MDB_val *v, void *ctx),
                    void *ctx) {
  MDB_txn *txn = NULL;
  MDB_cursor *cur = NULL;
  MDB_val key, val;
  uint8_t k[KEY_LEN];
  int mrc, rc = 0;

  put_be64(k, run_id);
  put_be64(k + 8, 0);
  key.mv_size = KEY_LEN;
  key.mv_data = k;
  mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
  if (mrc != 0)
    return mdb_fail(st, mrc, "starting a read transaction");
  mrc = mdb_cursor_open(txn, st->dbi[db], &cur);
  if (mrc != 0) {
    rc = mdb_fail(st, mrc, "opening a cursor");
    goto out;
  }
  for (mrc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); mrc == 0;
       mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
    if (key.mv_size < 8 || memcmp(key.mv_data, k, 8) != 0)
      break; /* past this run */
    if (key.mv_size != KEY_LEN) {
      set_err(st,
              "store %s: %s of run %llu: a key of %zu bytes (expected %d); "
              "the store is damaged: restore the --data-dir from a backup",
              st->dir, db_names[db], (unsigned long long)run_id, key.mv_size,
              KEY_LEN);
      rc = SBX_ESTORE;
      goto out;
    }
    rc =
        each(st, run_id, get_be64((const uint8_t *)key.mv_data + 8), &val, ctx);
    if (rc != 0)
      goto out;
  }
  if (mrc != 0 && mrc != MDB_NOTFOUND)
    rc = mdb_fail(st, mrc, db_names[db]);
out:
  if (cur != NULL)
    mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  return rc;
}

static int count_each(struct sbx_store *st, uint64_t run_id, uint64_t seq,
                      const MDB_val *v, void *ctx) {
  (*(uint64_t *)ctx)++;
  return 0;
}

int sbx_store_count_samples(struct sbx_store *st, uint64_t run_id,
                            uint64_t *n) {
  uint64_t c = 0;
  int rc;
  if (st == NULL || n == NULL)
    return SBX_EINVAL;
  rc = scan_run(st, DB_SAMPLES, run_id, count_each, &c);
  *n = rc == 0 ? c : 0;
  return rc;
}

static int damaged_record(struct sbx_store *st, int db, uint64_t run_id,
                          uint64_t seq, size_t size) {
  set_err(st,
          "store %s: %s record %llu|%llu (%zu bytes) is damaged; restore "
          "the --data-dir from a backup",
          st->dir, db_names[db], (unsigned long long)run_id,
          (unsigned long long)seq, size);
  return SBX_ESTORE;
}

struct sample_walk {
  int (*cb)(const Sbx__V1__Sample *s, void *arg);
  void *arg;
};

static int sample_each(struct sbx_store *st, uint64_t run_id, uint64_t seq,
                       const MDB_val *v, void *ctx) {
  struct sample_walk *w = ctx;
  Sbx__V1__Sample *s = sbx__v1__sample__unpack(NULL, v->mv_size, v->mv_data);
  int rc;
  if (s == NULL || s->seq != seq) {
    if (s != NULL)
      sbx__v1__sample__free_unpacked(s, NULL);
    return damaged_record(st, DB_SAMPLES, run_id, seq, v->mv_size);
  }
  rc = w->cb(s, w->arg);
  sbx__v1__sample__free_unpacked(s, NULL);
  return rc;
}

int sbx_store_foreach_sample(struct sbx_store *st, uint64_t run_id,
                             int (*cb)(const Sbx__V1__Sample *s, void *arg),
                             void *arg) {
  struct sample_walk w = {cb, arg};
  if (st == NULL || cb == NULL)
    return SBX_EINVAL;
  return scan_run(st, DB_SAMPLES, run_id, sample_each, &w);
}

struct series_walk {
  int (*cb)(const Sbx__V1__SeriesPoint *p, void *arg);
  void *arg;
};

static int series_each(struct sbx_store *st, uint64_t run_id, uint64_t seq,
                       const MDB_val *v, void *ctx) {
  struct series_walk *w = ctx;
  Sbx__V1__SeriesPoint *p =
      sbx__v1__series_point__unpack(NULL, v->mv_size, v->mv_data);
  int rc;
  if (p == NULL || p->second != seq) {
    if (p != NULL)
      sbx__v1__series_point__free_unpacked(p, NULL);
    return damaged_record(st, DB_SERIES, run_id, seq, v->mv_size);
  }
  rc = w->cb(p, w->arg);
  sbx__v1__series_point__free_unpacked(p, NULL);
  return rc;
}

int sbx_store_foreach_series(struct sbx_store *st, uint64_t run_id,
                             int (*cb)(const Sbx__V1__SeriesPoint *p,
                                       void *arg),
                             void *arg) {
  struct series_walk w = {cb, arg};
  if (st == NULL || cb == NULL)
    return SBX_EINVAL;
  return scan_run(st, DB_SERIES, run_id, series_each, &w);
}

/* ---- generic key/value ---- */

static int kv_dbi(struct sbx_store *st, enum sbx_store_db db, size_t klen,
                  MDB_dbi *dbi) {
  static const int map[] = {DB_SCENARIOS, DB_DATASETS, DB_PRODUCTS, DB_EVENTS,
                            DB_TOKENS,    DB_SIGNED};
  if (st == NULL || (unsigned)db >= sizeof(map) / sizeof(map[0]) ||
      klen > MAX_KEY)
    return SBX_EINVAL;
  *dbi = st->dbi[map[db]];
  return 0;
}

int sbx_store_kv_put(struct sbx_store *st, enum sbx_store_db db,
                     const void *key, size_t klen, const void *val,
                     size_t vlen) {
  MDB_txn *txn = NULL;
  MDB_dbi dbi;
  MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
  int mrc;

  if (kv_dbi(st, db, klen, &dbi) != 0 || key == NULL || klen == 0 ||
      (val == NULL && vlen != 0) || vlen > UINT32_MAX)
    return SBX_EINVAL;
  if (val == NULL)
    v.mv_data = "";
  mrc = mdb_txn_begin(st->env, NULL, 0, &txn);
  if (mrc != 0)
    return mdb_fail(st, mrc, "starting a write transaction");
  mrc = mdb_put(txn, dbi, &k, &v, 0);
  if (mrc != 0) {
    mdb_txn_abort(txn);
    return mdb_fail(st, mrc, "writing a record");
  }
  mrc = mdb_txn_commit(txn);
  return mrc != 0 ? mdb_fail(st, mrc, "committing a record") : 0;
}

int sbx_store_kv_get(struct sbx_store *st, enum sbx_store_db db,
                     const void *key, size_t klen, void **val, size_t *vlen) {
  MDB_txn *txn = NULL;
  MDB_dbi dbi;
  MDB_val k = {klen, (void *)key}, v;
  int mrc, rc = 0;

  if (val != NULL)
    *val = NULL;
  if (kv_dbi(st, db, klen, &dbi) != 0 || key == NULL || klen == 0 ||
      val == NULL || vlen == NULL)
    return SBX_EINVAL;
  mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
  if (mrc != 0)
    return mdb_fail(st, mrc, "starting a read transaction");
  mrc = mdb_get(txn, dbi, &k, &v);
  if (mrc == MDB_NOTFOUND) {
    rc = SBX_ENOENT;
  } else if (mrc != 0) {
    rc = mdb_fail(st, mrc, "reading a record");
  } else if ((*val = malloc(v.mv_size ? v.mv_size : 1)) == NULL) {
    rc = SBX_ENOMEM;
  } else {
    memcpy(*val, v.mv_data, v.mv_size);
    *vlen = v.mv_size;
  }
  mdb_txn_abort(txn);
  return rc;
}

int sbx_store_kv_del(struct sbx_store *st, enum sbx_store_db db,
                     const void *key, size_t klen) {
  MDB_txn *txn = NULL;
  MDB_dbi dbi;
  MDB_val k = {klen, (void *)key};
  int mrc;

  if (kv_dbi(st, db, klen, &dbi) != 0 || key == NULL || klen == 0)
    return SBX_EINVAL;
  mrc = mdb_txn_begin(st->env, NULL, 0, &txn);
  if (mrc != 0)
    return mdb_fail(st, mrc, "starting a write transaction");
  mrc = mdb_del(txn, dbi, &k, NULL);
  if (mrc != 0) {
    mdb_txn_abort(txn);
    return mrc == MDB_NOTFOUND ? SBX_ENOENT
                               : mdb_fail(st, mrc, "deleting a record");
  }
  mrc = mdb_txn_commit(txn);
  return mrc != 0 ? mdb_fail(st, mrc, "committing a deletion") : 0;
}

int sbx_store_kv_foreach(struct sbx_store *st, enum sbx_store_db db,
                         const void *prefix, size_t plen,
                         int (*cb)(const void *key, size_t klen,
                                   const void *val, size_t vlen, void *arg),
                         void *arg) {
  MDB_txn *txn = NULL;
  MDB_cursor *cur = NULL;
  MDB_dbi dbi;
  MDB_val k = {plen, (void *)prefix}, v;
  int mrc, rc = 0;

  if (kv_dbi(st, db, plen, &dbi) != 0 || cb == NULL ||
      (prefix == NULL && plen != 0))
    return SBX_EINVAL;
  mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
  if (mrc != 0)
    return mdb_fail(st, mrc, "starting a read transaction");
  mrc = mdb_cursor_open(txn, dbi, &cur);
  if (mrc != 0) {
    rc = mdb_fail(st, mrc, "opening a cursor");
    goto out;
  }
  for (mrc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
       mrc == 0; mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (plen != 0 && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0))
      break;
    rc = cb(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg);
    if (rc != 0)
      goto out;
  }
  if (mrc != 0 && mrc != MDB_NOTFOUND)
    rc = mdb_fail(st, mrc, "reading records");
out:
  if (cur != NULL)
    mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  return rc;
}
