/* plugin.c - the plugin adapter: spawns, feeds and supervises a host.
 *
 * Shape:
 * - One struct host per incarnation of sbx-plugin-host. It owns the process
 *   handle, our end of the socketpair, the stderr pipe, the pidfd watcher,
 *   the ring (when used) and the rx/tx buffers; it is freed from the close
 *   callback of its last handle, so a dying host never leaves a dangling
 *   buffer behind a callback in progress. At most one host is alive (a new
 *   one is spawned only after the old one's exit callback).
 * - Requests live in a slot table of max_in_flight entries. A request's id
 *   on the wire is (generation << 32 | slot), so an answer for a request
 *   that already completed, or was never sent, is recognised and treated as
 *   the protocol violation it is. Two lists, both in deadline order because
 *   every request gets the same timeout: "pending" (waiting for a ready
 *   host) and "sent" (framed to the current host).
 * - Frames are appended to the host's tx buffer; a uv_prepare hook writes
 *   the whole buffer once per loop turn (uv_try_write, then uv_write of the
 *   rest), so a burst of submits costs one system call. The same hook runs
 *   deferred work: fatal notification, failing requests after a fatal
 *   error, and the ring's "about to sleep" handshake.
 * - One deadline timer serves request deadlines, the HELLO deadline and
 *   the grace period at close; it is re-armed lazily.
 * - Completion callbacks can re-enter (submit) or close the adapter; every
 *   loop over requests re-checks `closing` and the host's `lost` flag after
 *   each on_done().
 * - Killing: a host that named its cgroups in HELLO (it does as root) is
 *   killed by writing "1" to the v2 directory's cgroup.kill. That kills the
 *   jailed processes only; the host's outer process, outside the cgroup,
 *   sees its child die, removes the cgroups and exits with the child's
 *   signal. If it has not exited CG_KILL_GRACE_NS later, or when there is
 *   no cgroup, the host's process group gets SIGKILL (the jailed processes
 *   follow through their parent-death signal). After the host is reaped,
 *   whatever cgroup directory it named and that is still there is removed;
 *   one still busy (its last task not yet reaped, by init when the outer
 *   process died first) is retried every CG_RETRY_MS for up to 2 s, and
 *   close() waits for that.
 *   The names come from a hostile process, so only directories under
 *   /sys/fs/cgroup/ that end in sbx/<the name we chose> are accepted.
 */
#include "plugin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ipc_frame.h"
#include "sbx/v1/plugin.pb-c.h"
#include "shm_ring.h"

#define NIL UINT32_MAX
#define MAX_IN_FLIGHT_LIMIT 1000000u
#define DEFAULT_MAX_RESPONSE (16ull << 20)
#define DEFAULT_MEMORY (1ull << 30)
#define HELLO_MAX_PAYLOAD (64u << 10)
#define HELLO_TIMEOUT_NS (30ll * 1000000000ll)
#define GRACE_NS (1000ll * 1000000ll)      /* SHUTDOWN -> SIGKILL */
#define STDERR_WAIT_NS (200ll * 1000000ll) /* exit -> give up on stderr */
#define CG_KILL_GRACE_NS (1000ll * 1000000ll) /* cgroup.kill -> SIGKILL */
#define MAX_CGROUPS 8
#define CG_PATH_MAX 192
#define CG_ROOT "/sys/fs/cgroup/"
#define CG_LEFT_MAX (4 * MAX_CGROUPS)
#define CG_RETRY_MS 50
#define CG_RETRIES 40 /* then the next host's sweep takes over */
#define BACKOFF_MIN_MS 10
#define BACKOFF_MAX_MS 1000
#define BREAKER_DEATHS 5                        /* more than this many ... */
#define BREAKER_WINDOW_NS (10ll * 1000000000ll) /* ... within this */
#define BREAKER_SILENT 3 /* deaths in a row without an answer */
#define SAMPLE_MS 250
#define RX_INITIAL (256u << 10)
#define TAIL_BYTES 4096u
#define RING_ROUNDS 32 /* pump rounds per callback before yielding */

enum slot_state { SLOT_FREE, SLOT_PENDING, SLOT_SENT };

struct slot {
  struct sbx_request *req;
  int64_t deadline_ns; /* 0: none */
  uint32_t gen;
  uint32_t prev, next; /* in pending or sent, or the free list (next) */
  uint8_t state;
};

struct list {
  uint32_t head, tail;
};

struct plugin;

struct host {
  struct plugin *p;
  uv_process_t proc;
  uv_poll_t sock_poll; /* our end of the socketpair */
  uv_pipe_t err;
  uv_poll_t pidfd_poll;
  uv_poll_t bell_poll;
  struct sbx_ring *ring;
  int pid;
  int pidfd;
  int sockfd;
  int sock_events;  /* what sock_poll is started with */
  unsigned handles; /* initialised uv handles not yet closed */
  int have_pidfd_poll, have_bell_poll, have_sock, have_err;

  int hello;           /* HELLO accepted: requests may be sent */
  int lost;            /* killed or seen dying: nothing more is sent or read */
  int killed;          /* we sent SIGKILL (its exit status is ours, not its) */
  int64_t eof_kill_ns; /* connection lost: SIGKILL if still alive then */
  int exited;          /* exit callback ran */
  int err_eof;         /* stderr closed */
  int dead_done;       /* death processed (requests failed, breaker fed) */
  int said_bye;        /* the host sent SHUTDOWN */
  int64_t exit_status;
  int term_signal;
  int64_t hello_deadline_ns;
  int64_t exited_ns;
  int64_t grace_until_ns; /* closing: SIGKILL after this */
  int cg_killed;          /* cgroup.kill written */
  int64_t cg_kill_ns;     /* ... SIGKILL of the group if still alive then */
  char cg_name[64];       /* the --cgroup-name we gave it */
  char cgroups[MAX_CGROUPS][CG_PATH_MAX]; /* validated, from HELLO */
  unsigned n_cgroups;
  uint64_t answers;
  uint64_t cpu_us; /* last sample, this incarnation */
  /* What killed it, for requests still held: CRASH or PROTOCOL. */
  Sbx__V1__ErrorClass kill_class;
  char why[256];

  uint8_t *tx; /* frames waiting for the next flush */
  size_t tx_len, tx_off, tx_cap;

  uint8_t *rx;
  size_t rx_len, rx_cap;
};

struct plugin {
  struct sbx_adapter base; /* first: the engine holds &base */
  char *host_path;
  char *library;
  uint8_t *init_frame;
  size_t init_len;
  char **required;
  size_t n_required;
  uint64_t max_response;
  uint64_t memory;
  int64_t timeout_ns;
  int transport;
  int no_jail;
  uint32_t decode_cap;

  struct slot *slots;
  uint32_t free_head;
  uint32_t held;
  struct list pending, sent;

  struct host *host; /* current incarnation, NULL between them */
  unsigned hosts_alive;
  uv_timer_t deadline_timer;
  int64_t timer_due_ns; /* 0: not armed */
  uv_timer_t restart_timer;
  uv_timer_t sample_timer;
  uv_timer_t cg_timer; /* retries the removal of busy cgroups */
  char cg_left[CG_LEFT_MAX][CG_PATH_MAX];
  unsigned n_cg_left;
  unsigned cg_tries;
  int cg_closed;
  uv_prepare_t prep;
  uv_idle_t idle; /* keeps the loop from sleeping while a ring has work */
  int prep_on, idle_on;
  unsigned handles;

  int closing;
  int deadline_closed;
  sbx_adapter_close_cb close_cb;

  int fatal;
  int fatal_told;
  char fatal_why[512];

  int64_t deaths[BREAKER_DEATHS + 1]; /* ring of recent death times */
  unsigned n_deaths;
  unsigned silent_deaths;
  int backoff_ms;

  uint64_t cpu_us_total;
  uint64_t peak_rss;
  uint32_t restarts;
  uint32_t spawns;
  char layers[256];

  char tail[TAIL_BYTES + 1];
  size_t tail_len;
  char errbuf[4096]; /* stderr reads land here first */
};

static int64_t now_ns(void) {
  return (int64_t)uv_hrtime();
}

/* ---- lists -------------------------------------------------------------- */

static void list_push(struct plugin *p, struct list *l, uint32_t i) {
  struct slot *s = &p->slots[i];
  s->next = NIL;
  s->prev = l->tail;
  if (l->tail != NIL)
    p->slots[l->tail].next = i;
  else
    l->head = i;
  l->tail = i;
}

static void list_remove(struct plugin *p, struct list *l, uint32_t i) {
  struct slot *s = &p->slots[i];
  if (s->prev != NIL)
    p->slots[s->prev].next = s->next;
  else
    l->head = s->next;
  if (s->next != NIL)
    p->slots[s->next].prev = s->prev;
  else
    l->tail = s->prev;
  s->prev = s->next = NIL;
}

/* ---- small helpers ------------------------------------------------------ */

static void copy_detail(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* Copies the last non-empty line of the stderr tail into out, with
 * non-printable bytes replaced, at most cap - 1 bytes. */
static void tail_last_line(const struct plugin *p, char *out, size_t cap) {
  size_t end = p->tail_len, start, n, i;

  while (end > 0 && (p->tail[end - 1] == '\n' || p->tail[end - 1] == '\r' ||
                     p->tail[end - 1] == ' '))
    end--;
  start = end;
  while (start > 0 && p->tail[start - 1] != '\n')
    start--;
  n = end - start;
  if (n >= cap)
    n = cap - 1;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p->tail[start + i];
    out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  out[n] = '\0';
}

static void describe_exit(const struct host *h, char *out, size_t cap) {
  if (h->term_signal != 0) {
    const char *name = sigabbrev_np(h->term_signal);
    snprintf(out, cap, "killed by signal %d (SIG%s)", h->term_signal,
             name != NULL ? name : "?");
  } else {
    snprintf(out, cap, "exit status %" PRId64, h->exit_status);
  }
}

/* ---- completions -------------------------------------------------------- */

static void slot_free(struct plugin *p, uint32_t i) {
  struct slot *s = &p->slots[i];
  s->req = NULL;
  s->state = SLOT_FREE;
  s->next = p->free_head;
  p->free_head = i;
  p->held--;
}

/* Takes request i off its list, frees its slot and calls on_done. The
 * caller must re-check p->closing afterwards. */
static void complete(struct plugin *p, uint32_t i, Sbx__V1__ErrorClass error,
                     uint32_t status, const uint8_t *body, size_t body_len,
                     const char *detail) {
  struct slot *s = &p->slots[i];
  struct sbx_request *req = s->req;

  list_remove(p, s->state == SLOT_SENT ? &p->sent : &p->pending, i);
  slot_free(p, i);
  req->done_ns = now_ns();
  req->error = error;
  req->status = status;
  req->body = body;
  req->body_len = body_len;
  copy_detail(req->detail, sizeof(req->detail), detail != NULL ? detail : "");
  p->base.on_done(&p->base, req);
}

/* Fails every request on l with error and detail; stops early if a
 * callback closed the adapter (close() then failed the rest). */
static void fail_list(struct plugin *p, struct list *l,
                      Sbx__V1__ErrorClass error, const char *detail) {
  int closing = p->closing;
  while (l->head != NIL && p->closing == closing)
    complete(p, l->head, error, 0, NULL, 0, detail);
}

/* ---- scheduling hooks --------------------------------------------------- */

static void on_prepare(uv_prepare_t *h);
static void on_idle(uv_idle_t *h);

static void want_prepare(struct plugin *p) {
  if (!p->prep_on && !p->closing) {
    uv_prepare_start(&p->prep, on_prepare);
    p->prep_on = 1;
  }
}

static void want_idle(struct plugin *p) {
  if (!p->idle_on && !p->closing) {
    uv_idle_start(&p->idle, on_idle);
    p->idle_on = 1;
  }
}

static void on_deadline(uv_timer_t *t);

static void arm_deadline(struct plugin *p, int64_t due) {
  int64_t now, ms;
  if (due <= 0 || (p->closing && p->host == NULL))
    return;
  if (p->timer_due_ns != 0 && p->timer_due_ns <= due)
    return;
  now = now_ns();
  ms = due > now ? (due - now + 999999) / 1000000 : 0;
  p->timer_due_ns = due;
  uv_timer_start(&p->deadline_timer, on_deadline, (uint64_t)ms, 0);
}

/* ---- usage sampling ----------------------------------------------------- */

/* Reads utime+stime+cutime+cstime (µs) and VmHWM (bytes) of one process.
 * Returns 0 or -1 (gone). */
static int read_proc(int pid, uint64_t *cpu_us, uint64_t *hwm) {
  char path[64], buf[1024];
  const char *s;
  unsigned long long v[4] = {0, 0, 0, 0};
  long tck = sysconf(_SC_CLK_TCK);
  int fd, field;
  ssize_t n;

  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  /* The command name may hold anything, ')' included: fields start after
   * the last ')'. */
  s = strrchr(buf, ')');
  if (s == NULL)
    return -1;
  s++;
  for (field = 3; field <= 17 && *s != '\0'; field++) {
    char *end;
    while (*s == ' ')
      s++;
    if (field >= 14) {
      v[field - 14] = strtoull(s, &end, 10);
      s = end;
    } else {
      while (*s != ' ' && *s != '\0')
        s++;
    }
  }
  if (tck <= 0)
    tck = 100;
  *cpu_us = (uint64_t)((v[0] + v[1] + v[2] + v[3]) *
                       (1000000ull / (unsigned long long)tck));

  *hwm = 0;
  snprintf(path, sizeof(path), "/proc/%d/status", pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char sbuf[4096];
    n = read(fd, sbuf, sizeof(sbuf) - 1);
    close(fd);
    if (n > 0) {
      sbuf[n] = '\0';
      s = strstr(sbuf, "\nVmHWM:");
      if (s != NULL)
        *hwm = strtoull(s + 7, NULL, 10) * 1024ull;
    }
  }
  return 0;
}

/* Collects pid's descendants (through /proc/.../children) into pids,
 * breadth first, at most cap of them. */
static size_t descendants(int pid, int *pids, size_t cap) {
  size_t n = 0, i = 0;
  int cur = pid;

  for (;;) {
    char path[96], buf[1024];
    int fd;
    ssize_t r;
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", cur, cur);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      r = read(fd, buf, sizeof(buf) - 1);
      close(fd);
      if (r > 0) {
        char *s = buf, *end;
        buf[r] = '\0';
        while (n < cap) {
          long v = strtol(s, &end, 10);
          if (end == s)
            break;
          if (v > 0 && v <= INT_MAX)
            pids[n++] = (int)v;
          s = end;
        }
      }
    }
    if (i >= n)
      break;
    cur = pids[i++];
  }
  return n;
}

static void sample(struct plugin *p, struct host *h) {
  int pids[64];
  size_t n, i;
  uint64_t cpu = 0, c, hwm;

  if (h == NULL || h->exited || h->pid <= 0)
    return;
  if (read_proc(h->pid, &c, &hwm) != 0)
    return;
  cpu += c;
  if (hwm > p->peak_rss)
    p->peak_rss = hwm;
  n = descendants(h->pid, pids, 64);
  for (i = 0; i < n; i++) {
    if (read_proc(pids[i], &c, &hwm) != 0)
      continue;
    cpu += c;
    if (hwm > p->peak_rss)
      p->peak_rss = hwm;
  }
  if (cpu > h->cpu_us)
    h->cpu_us = cpu;
}

static void on_sample(uv_timer_t *t) {
  struct plugin *p = t->data;
  sample(p, p->host);
}

/* ---- killing ------------------------------------------------------------ */

/* Is path, reported by the host, one of its own cgroup directories: under
 * /sys/fs/cgroup/, ending in "/sbx/<name>", made of plain path characters,
 * with no "..", "." or empty component? */
static int cgroup_path_ok(const char *path, const char *name) {
  size_t len = strlen(path), nlen = strlen(name);
  const char *c;

  /* The shortest is CG_ROOT "sbx/" name (a v2 hierarchy). */
  if (nlen == 0 || len >= CG_PATH_MAX ||
      len < sizeof(CG_ROOT) - 1 + 4 + nlen ||
      strncmp(path, CG_ROOT, sizeof(CG_ROOT) - 1) != 0)
    return 0;
  if (strcmp(path + len - nlen, name) != 0 ||
      strncmp(path + len - nlen - 5, "/sbx/", 5) != 0)
    return 0;
  if (strstr(path, "..") != NULL || strstr(path, "//") != NULL ||
      strstr(path, "/./") != NULL)
    return 0;
  for (c = path; *c != '\0'; c++) {
    unsigned char ch = (unsigned char)*c;
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '/' || ch == '-' || ch == '_' ||
          ch == '.' || ch == ','))
      return 0;
  }
  return 1;
}

/* Writes "1" to cgroup.kill in the host's v2 directory. Returns 0 when a
 * write succeeded, -1 when there is none or it failed (v1 directories have
 * no cgroup.kill; a kernel before 5.14 neither). */
static int cgroup_kill(const struct host *h) {
  char path[CG_PATH_MAX + 16];
  int done = -1;

  for (unsigned i = 0; i < h->n_cgroups && done != 0; i++) {
    int fd;
    snprintf(path, sizeof(path), "%s/cgroup.kill", h->cgroups[i]);
    fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
      continue;
    if (write(fd, "1", 1) == 1)
      done = 0;
    close(fd);
  }
  return done;
}

static void on_own_closed(uv_handle_t *hd);

/* Once closing, no host alive and no removal left to retry: the retry
 * timer goes. */
static void close_cg_timer(struct plugin *p) {
  if (!p->closing || p->host != NULL || p->cg_closed || p->n_cg_left > 0)
    return;
  p->cg_closed = 1;
  uv_close((uv_handle_t *)&p->cg_timer, on_own_closed);
}

/* Removes the directories still to remove; keeps the busy ones. Other
 * failures (ENOENT: the host removed it) end the attempt. */
static void cg_retry(struct plugin *p) {
  unsigned k = 0;

  for (unsigned i = 0; i < p->n_cg_left; i++) {
    if (rmdir(p->cg_left[i]) != 0 && errno == EBUSY) {
      if (k != i)
        memcpy(p->cg_left[k], p->cg_left[i], sizeof(p->cg_left[k]));
      k++;
    }
  }
  p->n_cg_left = k;
}

static void on_cg_timer(uv_timer_t *t) {
  struct plugin *p = t->data;

  cg_retry(p);
  if (p->n_cg_left > 0 && ++p->cg_tries < CG_RETRIES)
    return;
  p->n_cg_left = 0; /* left to the next host's sweep */
  uv_timer_stop(&p->cg_timer);
  close_cg_timer(p);
}

/* After the host is reaped: its outer process normally removed its
 * cgroups; what is left (it was SIGKILLed first) goes now, or, while its
 * last task awaits reaping (EBUSY), a little later. */
/* A host that died before HELLO named no directories, but we chose its
 * cgroup name: look for <controller>/sbx/<name> (and sbx/<name> of a pure
 * v2 tree) ourselves. */
static void cgroup_guess(struct host *h) {
  DIR *d;
  struct dirent *de;
  char path[CG_PATH_MAX];
  struct stat st;

  if (h->cg_name[0] == '\0')
    return;
  snprintf(path, sizeof(path), CG_ROOT "sbx/%s", h->cg_name);
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    snprintf(h->cgroups[h->n_cgroups++], CG_PATH_MAX, "%s", path);
  d = opendir(CG_ROOT);
  if (d == NULL)
    return;
  while ((de = readdir(d)) != NULL && h->n_cgroups < MAX_CGROUPS) {
    int n;
    if (de->d_name[0] == '.')
      continue;
    n = snprintf(path, sizeof(path), CG_ROOT "%s/sbx/%s", de->d_name,
                 h->cg_name);
    if (n > 0 && (size_t)n < sizeof(path) && stat(path, &st) == 0 &&
        S_ISDIR(st.st_mode))
      snprintf(h->cgroups[h->n_cgroups++], CG_PATH_MAX, "%s", path);
  }
  closedir(d);
}

static void cgroup_remove(struct host *h) {
  struct plugin *p = h->p;

  if (h->n_cgroups == 0)
    cgroup_guess(h);
  for (unsigned i = h->n_cgroups; i-- > 0;) {
    if (rmdir(h->cgroups[i]) == 0 || errno != EBUSY)
      continue; /* ENOENT: already gone */
    if (p->cg_closed || p->n_cg_left >= CG_LEFT_MAX)
      continue; /* the next host's sweep */
    memcpy(p->cg_left[p->n_cg_left++], h->cgroups[i], sizeof(h->cgroups[i]));
  }
  h->n_cgroups = 0;
  if (p->n_cg_left > 0) {
    p->cg_tries = 0;
    uv_timer_start(&p->cg_timer, on_cg_timer, CG_RETRY_MS, CG_RETRY_MS);
  }
}

static void kill_tree(struct host *h) {
  int pids[64];
  size_t n, i;

  if (h->exited)
    return;
  if (!h->cg_killed && h->n_cgroups > 0 && cgroup_kill(h) == 0) {
    /* The outer process lives on to clean up; it gets SIGKILL too if it
     * has not exited by then. */
    h->cg_killed = 1;
    h->cg_kill_ns = now_ns() + CG_KILL_GRACE_NS;
    arm_deadline(h->p, h->cg_kill_ns);
    return;
  }
  n = descendants(h->pid, pids, 64);
  if (h->pidfd >= 0)
    syscall(SYS_pidfd_send_signal, h->pidfd, SIGKILL, NULL, 0);
  else
    kill(h->pid, SIGKILL);
  /* The host leads its own process group (UV_PROCESS_DETACHED). */
  kill(-h->pid, SIGKILL);
  for (i = 0; i < n; i++)
    kill(pids[i], SIGKILL);
}

static void stop_io(struct host *h) {
  if (h->have_sock)
    uv_poll_stop(&h->sock_poll);
  if (h->have_pidfd_poll)
    uv_poll_stop(&h->pidfd_poll);
  if (h->have_bell_poll)
    uv_poll_stop(&h->bell_poll);
}

/* Marks h as lost (nothing more is sent to it or read from it) and kills
 * it. Requests it holds are failed later, when it has exited (so that the
 * detail can say how), unless the caller fails them now. */
static void host_lose(struct host *h, Sbx__V1__ErrorClass cls,
                      const char *why) {
  if (h->lost)
    return;
  sample(h->p, h);
  h->lost = 1;
  h->killed = 1;
  h->kill_class = cls;
  copy_detail(h->why, sizeof(h->why), why);
  stop_io(h);
  kill_tree(h);
}

/* ---- fatal -------------------------------------------------------------- */

static void set_fatal(struct plugin *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_fatal(struct plugin *p, const char *fmt, ...) {
  va_list ap;
  if (p->fatal)
    return;
  p->fatal = 1;
  va_start(ap, fmt);
  vsnprintf(p->fatal_why, sizeof(p->fatal_why), fmt, ap);
  va_end(ap);
  if (p->host != NULL)
    host_lose(p->host, SBX__V1__ERROR_CLASS__ERROR_CLASS_CRASH,
              "the plugin host was stopped: the run cannot go on");
  want_prepare(p);
}

/* ---- frames out --------------------------------------------------------- */

static int tx_reserve(struct host *h, size_t n) {
  size_t need = h->tx_len + n, cap;
  uint8_t *nb;
  if (need <= h->tx_cap)
    return 0;
  if (h->tx_off > 0 && need - h->tx_off <= h->tx_cap) {
    memmove(h->tx, h->tx + h->tx_off, h->tx_len - h->tx_off);
    h->tx_len -= h->tx_off;
    h->tx_off = 0;
    return 0;
  }
  cap = h->tx_cap ? h->tx_cap : 64u << 10;
  while (cap < need)
    cap *= 2;
  nb = realloc(h->tx, cap);
  if (nb == NULL)
    return SBX_ENOMEM;
  h->tx = nb;
  h->tx_cap = cap;
  return 0;
}

static int queue_frame(struct host *h, uint8_t type, uint64_t id,
                       const uint8_t *payload, size_t len) {
  int rc;
  if (len > SBX_FRAME_MAX_PAYLOAD)
    return SBX_ERANGE;
  rc = tx_reserve(h, SBX_FRAME_HEADER + len);
  if (rc != 0)
    return rc;
  sbx_frame_header(h->tx + h->tx_len, type, 0, id, (uint32_t)len);
  if (len > 0)
    memcpy(h->tx + h->tx_len + SBX_FRAME_HEADER, payload, len);
  h->tx_len += SBX_FRAME_HEADER + len;
  want_prepare(h->p);
  return 0;
}

/* Frames request i to the current, ready host and moves it to "sent". */
static int send_request(struct plugin *p, uint32_t i) {
  struct slot *s = &p->slots[i];
  const ProtobufCBinaryData *in = &s->req->kase->input;
  uint64_t id = (uint64_t)s->gen << 32 | i;
  int rc = queue_frame(p->host, SBX_FRAME_REQUEST, id, in->data, in->len);
  if (rc != 0)
    return rc;
  list_remove(p, &p->pending, i);
  s->state = SLOT_SENT;
  list_push(p, &p->sent, i);
  return 0;
}

static void send_pending(struct plugin *p) {
  while (p->pending.head != NIL) {
    uint32_t i = p->pending.head;
    if (send_request(p, i) != 0) {
      complete(p, i, SBX__V1__ERROR_CLASS__ERROR_CLASS_OTHER, 0, NULL, 0,
               "out of memory framing the request");
      if (p->closing)
        return;
    }
  }
}

static void host_lost_io(struct host *h, const char *why);
static void on_sock(uv_poll_t *ph, int status, int events);

static void sock_want(struct host *h, int events) {
  if (h->sock_events == events || h->lost)
    return;
  h->sock_events = events;
  uv_poll_start(&h->sock_poll, events, on_sock);
}

/* Writes as much of tx as the socket takes, with MSG_NOSIGNAL so that a
 * dead host cannot raise SIGPIPE in the daemon; waits for writability
 * when the socket is full. */
static void flush_socket(struct host *h) {
  while (!h->lost && h->tx_len > h->tx_off) {
    ssize_t n = send(h->sockfd, h->tx + h->tx_off, h->tx_len - h->tx_off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      char why[160];
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        sock_want(h, UV_READABLE | UV_WRITABLE);
        return;
      }
      snprintf(why, sizeof(why), "writing to the plugin host failed: %s",
               strerror(errno));
      host_lost_io(h, why);
      return;
    }
    h->tx_off += (size_t)n;
  }
  h->tx_len = h->tx_off = 0;
  sock_want(h, UV_READABLE);
}

/* ---- frames in ---------------------------------------------------------- */

static void protocol_violation(struct host *h, const char *what) {
  struct plugin *p = h->p;
  char detail[sizeof(p->slots[0].req->detail)];

  if (h->lost)
    return;
  host_lose(h, SBX__V1__ERROR_CLASS__ERROR_CLASS_PROTOCOL, what);
  snprintf(detail, sizeof(detail), "plugin host broke the protocol: %s", what);
  fail_list(p, &p->sent, SBX__V1__ERROR_CLASS__ERROR_CLASS_PROTOCOL, detail);
}

static int layer_engaged(const Sbx__V1__PluginHello *hello, const char *name) {
  for (size_t i = 0; i < hello->n_layers; i++)
    if (hello->layers[i] != NULL && strcmp(hello->layers[i], name) == 0)
      return 1;
  return 0;
}

/* Appends s to buf (cap bytes, NUL-terminated) with printable characters
 * only, separated by ", " from what is already there. */
static void append_name(char *buf, size_t cap, const char *s, const char *sep) {
  size_t n = strlen(buf);
  if (n > 0 && *sep != '\0') {
    for (; *sep != '\0' && n + 1 < cap; sep++)
      buf[n++] = *sep;
  }
  for (; s != NULL && *s != '\0' && n + 1 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    buf[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  buf[n] = '\0';
}

static void on_hello(struct host *h, const struct sbx_frame *f) {
  struct plugin *p = h->p;
  Sbx__V1__PluginHello *hello;
  char msg[256] = "";

  if (h->hello) {
    protocol_violation(h, "a second HELLO frame");
    return;
  }
  if (f->payload_len > HELLO_MAX_PAYLOAD || f->id != 0) {
    protocol_violation(h, "a malformed HELLO frame");
    return;
  }
  hello = sbx__v1__plugin_hello__unpack(NULL, f->payload_len, f->payload);
  if (hello == NULL) {
    protocol_violation(h, "HELLO does not hold a valid PluginHello");
    return;
  }
  append_name(msg, sizeof(msg), hello->message, "");
  if (hello->n_cgroups > MAX_CGROUPS) {
    protocol_violation(h, "HELLO names too many cgroup directories");
    goto out;
  }
  for (size_t i = 0; i < hello->n_cgroups; i++) {
    if (hello->cgroups[i] == NULL ||
        !cgroup_path_ok(hello->cgroups[i], h->cg_name)) {
      char what[CG_PATH_MAX + 96] = "HELLO names a cgroup directory not its own: ";
      append_name(what, sizeof(what), hello->cgroups[i], "");
      protocol_violation(h, what);
      goto out;
    }
    snprintf(h->cgroups[i], sizeof(h->cgroups[i]), "%s", hello->cgroups[i]);
    h->n_cgroups = (unsigned)i + 1;
  }
  if (f->status != 0) {
    set_fatal(p, "the plugin host refused to run %s (code %u): %s", p->library,
              (unsigned)f->status,
              msg[0] != '\0' ? msg : "no reason given; see its stderr");
    goto out;
  }
  p->layers[0] = '\0';
  for (size_t i = 0; i < hello->n_layers; i++)
    append_name(p->layers, sizeof(p->layers), hello->layers[i], ",");
  {
    char missing[256] = "", engaged[256] = "";
    for (size_t i = 0; i < p->n_required; i++)
      if (!layer_engaged(hello, p->required[i]))
        append_name(missing, sizeof(missing), p->required[i], ", ");
    if (missing[0] != '\0') {
      for (size_t i = 0; i < hello->n_layers; i++)
        append_name(engaged, sizeof(engaged), hello->layers[i], ", ");
      set_fatal(p,
                "the scenario requires jail layers %s; this machine engaged "
                "only %s: %s",
                missing, engaged[0] != '\0' ? engaged : "none",
                msg[0] != '\0' ? msg
                : p->no_jail   ? "the host runs with --no-jail"
                               : "the kernel or privileges do not allow them "
                                 "(run as root, or drop the requirement)");
      goto out;
    }
  }
  h->hello = 1;
  h->hello_deadline_ns = 0;
  send_pending(p);
out:
  sbx__v1__plugin_hello__free_unpacked(hello, NULL);
}

static void on_response(struct host *h, const struct sbx_frame *f) {
  struct plugin *p = h->p;
  uint32_t i = (uint32_t)f->id;
  uint32_t gen = (uint32_t)(f->id >> 32);
  struct slot *s;
  char what[160];

  if (!h->hello) {
    protocol_violation(h, "RESPONSE before HELLO");
    return;
  }
  if (i >= p->base.max_in_flight || p->slots[i].state != SLOT_SENT ||
      p->slots[i].gen != gen) {
    snprintf(what, sizeof(what),
             "an answer for unknown request id %" PRIu64
             " (never sent, or answered twice)",
             f->id);
    protocol_violation(h, what);
    return;
  }
  s = &p->slots[i];
  if (f->payload_len > p->max_response) {
    snprintf(what, sizeof(what),
             "an answer of %" PRIu32 " bytes, over the %" PRIu64 "-byte limit",
             f->payload_len, p->max_response);
    protocol_violation(h, what);
    return;
  }
  (void)s;
  h->answers++;
  p->silent_deaths = 0;
  p->backoff_ms = BACKOFF_MIN_MS;
  if (f->status == 0) {
    complete(p, i, SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE, 200, f->payload,
             f->payload_len, NULL);
  } else {
    snprintf(what, sizeof(what), "plugin returned error %u",
             (unsigned)f->status);
    complete(p, i, SBX__V1__ERROR_CLASS__ERROR_CLASS_OTHER, 0, NULL, 0, what);
  }
}

static void on_frame(struct host *h, const struct sbx_frame *f) {
  char what[64];
  switch (f->type) {
  case SBX_FRAME_HELLO:
    on_hello(h, f);
    return;
  case SBX_FRAME_RESPONSE:
    on_response(h, f);
    return;
  case SBX_FRAME_SHUTDOWN:
    if (f->id != 0 || f->payload_len != 0)
      protocol_violation(h, "a malformed SHUTDOWN frame");
    else
      h->said_bye = 1;
    return;
  default:
    snprintf(what, sizeof(what), "an unexpected frame of type %u",
             (unsigned)f->type);
    protocol_violation(h, what);
    return;
  }
}

/* Decodes and handles every complete frame in rx. */
static void process_rx(struct host *h) {
  struct plugin *p = h->p;
  size_t off = 0;
  char diag[160];

  while (!h->lost && !p->closing && off < h->rx_len) {
    struct sbx_frame f;
    long n = sbx_frame_decode(h->rx + off, h->rx_len - off, p->decode_cap, &f,
                              diag, sizeof(diag));
    if (n == 0)
      break;
    if (n < 0) {
      protocol_violation(h, diag);
      return;
    }
    off += (size_t)n;
    on_frame(h, &f);
  }
  if (h->lost || p->closing)
    return;
  if (off > 0) {
    memmove(h->rx, h->rx + off, h->rx_len - off);
    h->rx_len -= off;
  }
}

/* Makes room in rx for at least one more byte, and for the whole of the
 * frame at its start (its length is known and within the cap, or decode
 * would have failed). */
static int rx_room(struct host *h) {
  size_t need = h->rx_len + 1;
  if (h->rx_len >= 4) {
    uint32_t flen = (uint32_t)h->rx[0] | (uint32_t)h->rx[1] << 8 |
                    (uint32_t)h->rx[2] << 16 | (uint32_t)h->rx[3] << 24;
    if ((size_t)flen + 4 > need)
      need = (size_t)flen + 4;
  }
  if (need > h->rx_cap) {
    size_t cap = h->rx_cap ? h->rx_cap : RX_INITIAL;
    uint8_t *nb;
    while (cap < need)
      cap *= 2;
    nb = realloc(h->rx, cap);
    if (nb == NULL)
      return SBX_ENOMEM;
    h->rx = nb;
    h->rx_cap = cap;
  }
  return 0;
}

static void on_sock(uv_poll_t *ph, int status, int events) {
  struct host *h = ph->data;

  if (h->lost)
    return;
  if (status < 0) {
    host_lost_io(h, "watching the plugin host's socket failed");
    return;
  }
  if (events & UV_WRITABLE) {
    flush_socket(h);
    if (h->lost)
      return;
  }
  if (!(events & UV_READABLE))
    return;
  /* A few reads per wake-up, then back to the loop for fairness. */
  for (int round = 0; round < 4 && !h->lost && !h->p->closing; round++) {
    ssize_t n;
    if (rx_room(h) != 0) {
      protocol_violation(h, "out of memory buffering its frames");
      return;
    }
    n = recv(h->sockfd, h->rx + h->rx_len, h->rx_cap - h->rx_len, MSG_DONTWAIT);
    if (n < 0) {
      char why[160];
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      snprintf(why, sizeof(why), "reading from the plugin host failed: %s",
               strerror(errno));
      host_lost_io(h, why);
      return;
    }
    if (n == 0) {
      host_lost_io(h, "the plugin host closed the connection");
      return;
    }
    if (h->ring != NULL) {
      protocol_violation(h, "bytes on the control socket in ring mode");
      return;
    }
    h->rx_len += (size_t)n;
    process_rx(h);
  }
}

/* ---- ring transport ----------------------------------------------------- */

/* Moves bytes both ways until neither has work or the round budget is
 * spent; then announces the wait. Returns 1 if work is left over. */
static int ring_pump(struct host *h) {
  struct plugin *p = h->p;
  for (int round = 0; round < RING_ROUNDS; round++) {
    int progress = 0;
    long n;

    if (h->lost || p->closing)
      return 0;
    if (h->tx_len > h->tx_off) {
      n = sbx_ring_send(h->ring, h->tx + h->tx_off, h->tx_len - h->tx_off);
      if (n < 0) {
        protocol_violation(h, "it corrupted the request ring's index");
        return 0;
      }
      h->tx_off += (size_t)n;
      if (h->tx_off == h->tx_len)
        h->tx_len = h->tx_off = 0;
      progress |= n > 0;
    }
    if (rx_room(h) != 0) {
      protocol_violation(h, "out of memory buffering its frames");
      return 0;
    }
    n = sbx_ring_recv(h->ring, h->rx + h->rx_len, h->rx_cap - h->rx_len);
    if (n < 0) {
      protocol_violation(h, "it corrupted the response ring's index");
      return 0;
    }
    if (n > 0) {
      h->rx_len += (size_t)n;
      process_rx(h);
      progress = 1;
      if (h->lost || p->closing)
        return 0;
    }
    if (!progress) {
      int s = sbx_ring_prepare_sleep(h->ring, h->tx_len > h->tx_off);
      if (s < 0) {
        protocol_violation(h, "it corrupted a ring index");
        return 0;
      }
      if (s == 1)
        return 0;
    }
  }
  return 1;
}

static void on_bell(uv_poll_t *ph, int status, int events) {
  struct host *h = ph->data;
  (void)events;
  if (h->lost)
    return;
  if (status < 0) {
    host_lost_io(h, "the ring doorbell failed");
    return;
  }
  sbx_ring_woke(h->ring);
  if (ring_pump(h))
    want_idle(h->p);
}

static void on_idle(uv_idle_t *ih) {
  struct plugin *p = ih->data;
  struct host *h = p->host;
  if (h == NULL || h->ring == NULL || h->lost || !ring_pump(h)) {
    if (!p->closing) {
      uv_idle_stop(&p->idle);
      p->idle_on = 0;
    }
  }
}

/* ---- the per-turn hook -------------------------------------------------- */

static void on_prepare(uv_prepare_t *ph) {
  struct plugin *p = ph->data;
  struct host *h = p->host;
  int keep = 0;

  if (p->fatal) {
    if (!p->fatal_told && p->base.on_fatal != NULL) {
      p->fatal_told = 1;
      p->base.on_fatal(&p->base, p->fatal_why);
      if (p->closing)
        return;
    }
    {
      char detail[sizeof(p->slots[0].req->detail)];
      copy_detail(detail, sizeof(detail), p->fatal_why);
      fail_list(p, &p->pending, SBX__V1__ERROR_CLASS__ERROR_CLASS_OTHER,
                detail);
      if (p->closing)
        return;
    }
  }
  if (h != NULL && !h->lost) {
    if (h->ring != NULL) {
      if (ring_pump(h))
        want_idle(p);
      keep = !h->lost;
    } else {
      flush_socket(h);
      keep = 0; /* a full socket is finished by its writable event */
    }
  }
  if (p->closing)
    return;
  if (!keep && (!p->fatal || p->base.on_fatal != NULL || p->fatal_told)) {
    uv_prepare_stop(&p->prep);
    p->prep_on = 0;
  }
}

/* ---- death and restart -------------------------------------------------- */

static void spawn_or_die(struct plugin *p);
static void host_dead(struct host *h);
static void maybe_finalize(struct plugin *p);
static void close_deadline_timer(struct plugin *p);

/* The connection broke: the host is probably exiting on its own. Stop
 * talking to it and let it finish (so that its exit status and last words
 * are its own); SIGKILL it if it is still there 100 ms later. */
static void host_lost_io(struct host *h, const char *why) {
  if (h->lost)
    return;
  h->lost = 1;
  h->kill_class = SBX__V1__ERROR_CLASS__ERROR_CLASS_CRASH;
  copy_detail(h->why, sizeof(h->why), why);
  stop_io(h);
  h->eof_kill_ns = now_ns() + 100 * 1000000ll;
  arm_deadline(h->p, h->eof_kill_ns);
}

static void on_host_handle_closed(uv_handle_t *hd) {
  struct host *h = hd->data;
  struct plugin *p = h->p;
  if (--h->handles > 0)
    return;
  if (h->pidfd >= 0)
    close(h->pidfd);
  if (h->sockfd >= 0)
    close(h->sockfd);
  sbx_ring_free(h->ring);
  free(h->tx);
  free(h->rx);
  free(h);
  p->hosts_alive--;
  maybe_finalize(p);
}

static void host_close_handles(struct host *h) {
  h->proc.data = h;
  uv_close((uv_handle_t *)&h->proc, on_host_handle_closed);
  if (h->have_sock)
    uv_close((uv_handle_t *)&h->sock_poll, on_host_handle_closed);
  if (h->have_err)
    uv_close((uv_handle_t *)&h->err, on_host_handle_closed);
  if (h->have_pidfd_poll)
    uv_close((uv_handle_t *)&h->pidfd_poll, on_host_handle_closed);
  if (h->have_bell_poll)
    uv_close((uv_handle_t *)&h->bell_poll, on_host_handle_closed);
}

/* Counts a death for the circuit breaker; sets fatal when it trips. */
static void count_death(struct plugin *p, struct host *h, const char *how) {
  int64_t now = now_ns();
  unsigned recent = 0;
  char line[200];

  p->deaths[p->n_deaths % (BREAKER_DEATHS + 1)] = now;
  p->n_deaths++;
  for (unsigned i = 0; i < BREAKER_DEATHS + 1 && i < p->n_deaths; i++)
    if (now - p->deaths[i] <= BREAKER_WINDOW_NS)
      recent++;
  if (h == NULL || h->answers == 0)
    p->silent_deaths++;
  tail_last_line(p, line, sizeof(line));
  if (h != NULL && !h->hello && !h->killed && h->term_signal == 0 &&
      h->exit_status >= 70) {
    set_fatal(p, "the plugin host could not start %s (%s): %s", p->library, how,
              line[0] != '\0' ? line : "no message on its stderr");
  } else if (recent > BREAKER_DEATHS) {
    set_fatal(p,
              "the plugin host died %u times within 10 s (last: %s)%s%s; "
              "giving up on %s",
              recent, how, line[0] != '\0' ? "; its stderr: " : "", line,
              p->library);
  } else if (p->silent_deaths >= BREAKER_SILENT) {
    set_fatal(p,
              "the plugin host died %u times in a row without answering "
              "(last: %s)%s%s; giving up on %s",
              p->silent_deaths, how, line[0] != '\0' ? "; its stderr: " : "",
              line, p->library);
  }
}

static void on_restart(uv_timer_t *t) {
  struct plugin *p = t->data;
  if (p->closing || p->fatal || p->host != NULL)
    return;
  spawn_or_die(p);
}

/* The process has exited and its stderr is drained (or we gave up on it):
 * fail what it held, feed the breaker, free it, schedule the next one. */
static void host_dead(struct host *h) {
  struct plugin *p = h->p;
  char how[128], detail[128];

  if (h->dead_done)
    return;
  h->dead_done = 1;
  if (!h->lost) {
    h->lost = 1;
    h->kill_class = SBX__V1__ERROR_CLASS__ERROR_CLASS_CRASH;
    stop_io(h);
  }
  kill_tree(h); /* leftovers of its process group */
  cgroup_remove(h);
  p->cpu_us_total += h->cpu_us;
  h->cpu_us = 0;
  describe_exit(h, how, sizeof(how));
  if (h->why[0] != '\0' &&
      h->kill_class == SBX__V1__ERROR_CLASS__ERROR_CLASS_CRASH)
    snprintf(detail, sizeof(detail), "plugin host died (%.40s): %.60s", how,
             h->why);
  else if (h->kill_class == SBX__V1__ERROR_CLASS__ERROR_CLASS_PROTOCOL)
    snprintf(detail, sizeof(detail), "plugin host broke the protocol: %.90s",
             h->why);
  else
    snprintf(detail, sizeof(detail), "plugin host died: %.100s", how);
  if (p->host == h)
    p->host = NULL;
  host_close_handles(h);
  if (p->closing) {
    close_deadline_timer(p);
    close_cg_timer(p);
    return;
  }
  if (!h->said_bye || h->answers == 0 || h->exit_status != 0) {
    char what[400];
    snprintf(what, sizeof(what), "%s%s%.200s", how,
             h->why[0] != '\0' ? ", " : "", h->why);
    count_death(p, h, what);
  }
  fail_list(p, &p->sent, h->kill_class, detail);
  if (p->closing)
    return;
  if (p->fatal) {
    want_prepare(p);
    return;
  }
  uv_timer_start(&p->restart_timer, on_restart, (uint64_t)p->backoff_ms, 0);
  p->backoff_ms *= 2;
  if (p->backoff_ms > BACKOFF_MAX_MS)
    p->backoff_ms = BACKOFF_MAX_MS;
}

static void maybe_dead(struct host *h) {
  if (h->exited && (h->err_eof || !h->have_err))
    host_dead(h);
  else if (h->exited)
    arm_deadline(h->p, h->exited_ns + STDERR_WAIT_NS);
}

static void on_exit_cb(uv_process_t *proc, int64_t status, int sig) {
  struct host *h = proc->data;
  h->exited = 1;
  h->exited_ns = now_ns();
  h->exit_status = status;
  h->term_signal = sig;
  maybe_dead(h);
}

static void on_pidfd(uv_poll_t *ph, int status, int events) {
  struct host *h = ph->data;
  (void)status;
  (void)events;
  uv_poll_stop(ph);
  /* The process is a zombie now (libuv has not reaped it yet, or this
   * callback would not find it): its final CPU time is still readable.
   * The exit callback does the rest. */
  sample(h->p, h);
}

static void on_err_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  struct host *h = st->data;
  struct plugin *p = h->p;

  if (n < 0) {
    uv_read_stop(st);
    h->err_eof = 1;
    if (h->exited)
      maybe_dead(h);
    return;
  }
  if (n == 0)
    return;
  /* Only the current host's words are kept. */
  if (p->host == h || p->host == NULL) {
    size_t k = (size_t)n;
    const char *src = b->base;
    if (k >= TAIL_BYTES) {
      src += k - TAIL_BYTES;
      k = TAIL_BYTES;
      p->tail_len = 0;
    } else if (p->tail_len + k > TAIL_BYTES) {
      size_t drop = p->tail_len + k - TAIL_BYTES;
      memmove(p->tail, p->tail + drop, p->tail_len - drop);
      p->tail_len -= drop;
    }
    memcpy(p->tail + p->tail_len, src, k);
    p->tail_len += k;
    p->tail[p->tail_len] = '\0';
  }
}

static void on_err_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *b) {
  struct host *h = hd->data;
  (void)suggested;
  *b = uv_buf_init(h->p->errbuf, sizeof(h->p->errbuf));
}

/* ---- spawning ----------------------------------------------------------- */

static int spawn_host(struct plugin *p, char *why, size_t why_len) {
  struct host *h;
  uv_process_options_t opt;
  uv_stdio_container_t stdio[7];
  char *args[18];
  char mem[32];
  int sv[2] = {-1, -1};
  uv_file errp[2] = {-1, -1};
  int nargs = 0, rc;
  struct sbx_diag d;

  h = calloc(1, sizeof(*h));
  if (h == NULL) {
    snprintf(why, why_len, "out of memory");
    return SBX_ENOMEM;
  }
  h->p = p;
  h->pidfd = -1;
  h->sockfd = -1;
  h->kill_class = SBX__V1__ERROR_CLASS__ERROR_CLASS_CRASH;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    snprintf(why, why_len, "socketpair: %s", strerror(errno));
    goto fail_early;
  }
  rc = uv_pipe(errp, 0, 0);
  if (rc != 0) {
    snprintf(why, why_len, "pipe: %s", uv_strerror(rc));
    goto fail_early;
  }
  if (p->transport == SBX_PLUGIN_RING &&
      sbx_ring_create(0, &h->ring, &d) != 0) {
    snprintf(why, why_len, "%.200s", d.msg);
    goto fail_early;
  }

  snprintf(mem, sizeof(mem), "%" PRIu64, p->memory);
  args[nargs++] = p->host_path;
  args[nargs++] = "--library";
  args[nargs++] = p->library;
  args[nargs++] = "--ipc-fd";
  args[nargs++] = "3";
  args[nargs++] = "--memory";
  args[nargs++] = mem;
  /* Our choice of name, so that what HELLO reports can be checked. */
  snprintf(h->cg_name, sizeof(h->cg_name), "sbx-plugin-%ld-%" PRIx64,
           (long)getpid(), (uint64_t)uv_hrtime());
  args[nargs++] = "--cgroup-name";
  args[nargs++] = h->cg_name;
  if (h->ring != NULL)
    args[nargs++] = "--ring";
  if (p->no_jail)
    args[nargs++] = "--no-jail";
  args[nargs] = NULL;

  memset(stdio, 0, sizeof(stdio));
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = errp[1];
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = errp[1];
  stdio[3].flags = UV_INHERIT_FD;
  stdio[3].data.fd = sv[1];
  memset(&opt, 0, sizeof(opt));
  opt.file = p->host_path;
  opt.args = args;
  opt.exit_cb = on_exit_cb;
  opt.flags = UV_PROCESS_DETACHED; /* own process group, killed as one */
  opt.stdio = stdio;
  opt.stdio_count = 4;
  if (h->ring != NULL) {
    int mfd, to_host, to_daemon;
    sbx_ring_fds(h->ring, &mfd, &to_host, &to_daemon);
    stdio[4].flags = UV_INHERIT_FD;
    stdio[4].data.fd = mfd;
    stdio[5].flags = UV_INHERIT_FD;
    stdio[5].data.fd = to_host;
    stdio[6].flags = UV_INHERIT_FD;
    stdio[6].data.fd = to_daemon;
    opt.stdio_count = 7;
  }
  h->proc.data = h;
  rc = uv_spawn(p->base.loop, &h->proc, &opt);
  /* uv_spawn initialises the handle even when it fails. */
  h->handles = 1;
  p->hosts_alive++;
  close(sv[1]);
  close(errp[1]);
  sv[1] = errp[1] = -1;
  if (rc != 0) {
    snprintf(why, why_len, "starting %s: %s", p->host_path, uv_strerror(rc));
    close(sv[0]);
    close(errp[0]);
    h->exited = 1;
    h->dead_done = 1;
    h->lost = 1;
    host_close_handles(h);
    return SBX_EIO;
  }
  h->pid = h->proc.pid;
  p->host = h;
  p->spawns++;
  if (p->spawns > 1)
    p->restarts++;
  p->tail_len = 0;
  p->tail[0] = '\0';

  h->sockfd = sv[0];
  if (uv_poll_init(p->base.loop, &h->sock_poll, h->sockfd) != 0) {
    host_lose(h, SBX__V1__ERROR_CLASS__ERROR_CLASS_CRASH,
              "could not watch the plugin host's socket");
    goto started;
  }
  h->sock_poll.data = h;
  h->have_sock = 1;
  h->handles++;
  uv_pipe_init(p->base.loop, &h->err, 0);
  h->err.data = h;
  h->have_err = 1;
  h->handles++;
  if (uv_pipe_open(&h->err, errp[0]) != 0)
    close(errp[0]);
  else
    uv_read_start((uv_stream_t *)&h->err, on_err_alloc, on_err_read);

  h->pidfd = (int)syscall(SYS_pidfd_open, h->pid, 0);
  if (h->pidfd >= 0 &&
      uv_poll_init(p->base.loop, &h->pidfd_poll, h->pidfd) == 0) {
    h->pidfd_poll.data = h;
    h->have_pidfd_poll = 1;
    h->handles++;
    uv_poll_start(&h->pidfd_poll, UV_READABLE, on_pidfd);
  }
  if (h->ring != NULL) {
    if (uv_poll_init(p->base.loop, &h->bell_poll,
                     sbx_ring_doorbell_fd(h->ring)) != 0) {
      host_lose(h, SBX__V1__ERROR_CLASS__ERROR_CLASS_CRASH,
                "could not watch the ring doorbell");
      goto started;
    }
    h->bell_poll.data = h;
    h->have_bell_poll = 1;
    h->handles++;
    uv_poll_start(&h->bell_poll, UV_READABLE, on_bell);
  }
  sock_want(h, UV_READABLE);
  if (tx_reserve(h, p->init_len) != 0) {
    host_lose(h, SBX__V1__ERROR_CLASS__ERROR_CLASS_CRASH, "out of memory");
    goto started;
  }
  memcpy(h->tx, p->init_frame, p->init_len);
  h->tx_len = p->init_len;
  want_prepare(p);
  h->hello_deadline_ns = now_ns() + HELLO_TIMEOUT_NS;
  arm_deadline(p, h->hello_deadline_ns);
  if (!uv_is_active((uv_handle_t *)&p->sample_timer))
    uv_timer_start(&p->sample_timer, on_sample, SAMPLE_MS, SAMPLE_MS);
started:
  return 0;

fail_early:
  if (sv[0] >= 0)
    close(sv[0]);
  if (sv[1] >= 0)
    close(sv[1]);
  if (errp[0] >= 0)
    close(errp[0]);
  if (errp[1] >= 0)
    close(errp[1]);
  sbx_ring_free(h->ring);
  free(h);
  return SBX_EIO;
}

static void spawn_or_die(struct plugin *p) {
  char why[256];
  if (spawn_host(p, why, sizeof(why)) == 0)
    return;
  count_death(p, NULL, why);
  if (p->fatal)
    return;
  uv_timer_start(&p->restart_timer, on_restart, (uint64_t)p->backoff_ms, 0);
  p->backoff_ms *= 2;
  if (p->backoff_ms > BACKOFF_MAX_MS)
    p->backoff_ms = BACKOFF_MAX_MS;
}

/* ---- deadlines ---------------------------------------------------------- */

static void on_deadline(uv_timer_t *t) {
  struct plugin *p = t->data;
  struct host *h = p->host;
  int64_t now = now_ns(), next = 0;
  char detail[128];
  long long ms = (long long)(p->timeout_ns / 1000000);

  p->timer_due_ns = 0;
  /* Requests that never reached a host: late, but nobody to blame. */
  while (!p->closing && p->pending.head != NIL &&
         p->slots[p->pending.head].deadline_ns != 0 &&
         p->slots[p->pending.head].deadline_ns <= now) {
    snprintf(detail, sizeof(detail),
             "no answer within %lld ms: the plugin host was (re)starting", ms);
    complete(p, p->pending.head, SBX__V1__ERROR_CLASS__ERROR_CLASS_TIMEOUT, 0,
             NULL, 0, detail);
  }
  if (p->closing && p->host == NULL)
    return;
  if (!p->closing && h != NULL && !h->lost && p->sent.head != NIL &&
      p->slots[p->sent.head].deadline_ns != 0 &&
      p->slots[p->sent.head].deadline_ns <= now) {
    uint64_t seq = p->slots[p->sent.head].req->seq;
    char why[96];
    snprintf(why, sizeof(why),
             "killed after request %" PRIu64 " overran its %lld ms deadline",
             seq, ms);
    host_lose(h, SBX__V1__ERROR_CLASS__ERROR_CLASS_CRASH, why);
    snprintf(detail, sizeof(detail),
             "no answer within %lld ms; the plugin host was killed", ms);
    while (!p->closing && p->sent.head != NIL &&
           p->slots[p->sent.head].deadline_ns <= now)
      complete(p, p->sent.head, SBX__V1__ERROR_CLASS__ERROR_CLASS_TIMEOUT, 0,
               NULL, 0, detail);
    snprintf(detail, sizeof(detail),
             "killed with the plugin host after request %" PRIu64
             " overran its deadline",
             seq);
    fail_list(p, &p->sent, SBX__V1__ERROR_CLASS__ERROR_CLASS_CRASH, detail);
    if (p->closing)
      return;
  }
  h = p->host;
  if (h != NULL && !h->lost && !h->hello && h->hello_deadline_ns != 0 &&
      h->hello_deadline_ns <= now)
    host_lose(h, SBX__V1__ERROR_CLASS__ERROR_CLASS_CRASH,
              "no HELLO within 30 s: create() or the jail set-up hangs");
  if (h != NULL && !h->exited &&
      ((h->grace_until_ns != 0 && h->grace_until_ns <= now) ||
       (h->eof_kill_ns != 0 && h->eof_kill_ns <= now) ||
       (h->cg_kill_ns != 0 && h->cg_kill_ns <= now))) {
    h->killed = 1;
    kill_tree(h);
  }
  if (h != NULL && h->exited && !h->dead_done &&
      h->exited_ns + STDERR_WAIT_NS <= now)
    host_dead(h);
  if (p->closing && p->host == NULL)
    return;
    /* Re-arm for the earliest thing still due. */
#define CONSIDER(v)                                                            \
  do {                                                                         \
    int64_t v_ = (v);                                                          \
    if (v_ != 0 && (next == 0 || v_ < next))                                   \
      next = v_;                                                               \
  } while (0)
  if (p->pending.head != NIL)
    CONSIDER(p->slots[p->pending.head].deadline_ns);
  if (p->sent.head != NIL)
    CONSIDER(p->slots[p->sent.head].deadline_ns);
  h = p->host;
  if (h != NULL) {
    if (!h->hello && !h->lost)
      CONSIDER(h->hello_deadline_ns);
    if (!h->exited) {
      CONSIDER(h->grace_until_ns);
      CONSIDER(h->eof_kill_ns);
      CONSIDER(h->cg_kill_ns);
    }
    if (h->exited && !h->dead_done)
      CONSIDER(h->exited_ns + STDERR_WAIT_NS);
  }
#undef CONSIDER
  if (next != 0)
    arm_deadline(p, next);
}

/* ---- ops ---------------------------------------------------------------- */

static int pl_submit(struct sbx_adapter *a, struct sbx_request *req) {
  struct plugin *p = (struct plugin *)a;
  uint32_t i;
  struct slot *s;

  if (p->closing)
    return SBX_ESTATE;
  if (req == NULL || req->kase == NULL)
    return SBX_EINVAL;
  if (req->kase->input.len > SBX_FRAME_MAX_PAYLOAD)
    return SBX_ERANGE;
  if (p->free_head == NIL)
    return SBX_EBUSY;
  i = p->free_head;
  s = &p->slots[i];
  p->free_head = s->next;
  p->held++;
  s->req = req;
  s->gen++;
  if (s->gen == 0)
    s->gen = 1;
  s->deadline_ns = p->timeout_ns > 0 ? now_ns() + p->timeout_ns : 0;
  s->state = SLOT_PENDING;
  list_push(p, &p->pending, i);
  if (p->fatal) {
    want_prepare(p); /* fails it from the loop, never from here */
  } else if (p->host != NULL && p->host->hello && !p->host->lost &&
             p->pending.head == i) {
    int rc = send_request(p, i);
    if (rc != 0) {
      list_remove(p, &p->pending, i);
      slot_free(p, i);
      return rc;
    }
  }
  /* Cheap when an earlier deadline is armed already (the usual case). */
  arm_deadline(p, s->deadline_ns);
  return 0;
}

static void pl_usage(struct sbx_adapter *a, struct sbx_adapter_usage *u) {
  struct plugin *p = (struct plugin *)a;
  memset(u, 0, sizeof(*u));
  sample(p, p->host);
  u->cpu_us = p->cpu_us_total + (p->host != NULL ? p->host->cpu_us : 0);
  u->peak_rss_bytes = p->peak_rss;
  u->restarts = p->restarts;
  memcpy(u->layers, p->layers, sizeof(u->layers));
  u->layers[sizeof(u->layers) - 1] = '\0';
}

static void free_plugin(struct plugin *p) {
  free(p->host_path);
  free(p->library);
  free(p->init_frame);
  for (size_t i = 0; i < p->n_required; i++)
    free(p->required[i]);
  free(p->required);
  free(p->slots);
  free(p);
}

static void maybe_finalize(struct plugin *p) {
  sbx_adapter_close_cb cb;
  if (!p->closing || p->handles > 0 || p->hosts_alive > 0)
    return;
  cb = p->close_cb;
  if (cb != NULL)
    cb(&p->base);
  free_plugin(p);
}

static void on_own_closed(uv_handle_t *hd) {
  struct plugin *p = hd->data;
  p->handles--;
  maybe_finalize(p);
}

/* The deadline timer outlives close() while a host is still alive (it
 * times the grace period); it goes when the last host has. */
static void close_deadline_timer(struct plugin *p) {
  if (!p->closing || p->host != NULL || p->deadline_closed)
    return;
  p->deadline_closed = 1;
  uv_close((uv_handle_t *)&p->deadline_timer, on_own_closed);
}

static void pl_close(struct sbx_adapter *a, sbx_adapter_close_cb close_cb) {
  struct plugin *p = (struct plugin *)a;
  struct host *h = p->host;

  if (p->closing)
    return;
  p->closing = 1;
  p->close_cb = close_cb;
  uv_close((uv_handle_t *)&p->restart_timer, on_own_closed);
  uv_close((uv_handle_t *)&p->sample_timer, on_own_closed);
  uv_close((uv_handle_t *)&p->prep, on_own_closed);
  uv_close((uv_handle_t *)&p->idle, on_own_closed);
  if (h != NULL && !h->lost) {
    sample(p, h);
    if (h->hello && queue_frame(h, SBX_FRAME_SHUTDOWN, 0, NULL, 0) == 0) {
      /* Ask politely, then SIGKILL after the grace period. */
      if (h->ring != NULL) {
        long n =
            sbx_ring_send(h->ring, h->tx + h->tx_off, h->tx_len - h->tx_off);
        if (n > 0)
          h->tx_off += (size_t)n;
      } else {
        flush_socket(h);
      }
      h->grace_until_ns = now_ns() + GRACE_NS;
      p->timer_due_ns = 0;
      arm_deadline(p, h->grace_until_ns);
    } else {
      host_lose(h, SBX__V1__ERROR_CLASS__ERROR_CLASS_CRASH, "closing");
    }
  }
  fail_list(p, &p->pending, SBX__V1__ERROR_CLASS__ERROR_CLASS_OTHER,
            "canceled");
  fail_list(p, &p->sent, SBX__V1__ERROR_CLASS__ERROR_CLASS_OTHER, "canceled");
  close_deadline_timer(p);
  close_cg_timer(p);
  maybe_finalize(p);
}

static const struct sbx_adapter_ops plugin_ops = {
    .name = "plugin",
    .submit = pl_submit,
    .close = pl_close,
    .usage = pl_usage,
};

/* ---- open --------------------------------------------------------------- */

static int check_file(const char *what, const char *path, int exec,
                      const char *fix, struct sbx_diag *diag) {
  struct stat st;
  if (stat(path, &st) != 0) {
    sbx_diag_set(diag, "%s %s: %s; %s", what, path, strerror(errno), fix);
    return SBX_ENOENT;
  }
  if (!S_ISREG(st.st_mode)) {
    sbx_diag_set(diag, "%s %s: not a regular file; %s", what, path, fix);
    return SBX_ENOENT;
  }
  if (exec && access(path, X_OK) != 0) {
    sbx_diag_set(diag, "%s %s: not executable (%s); %s", what, path,
                 strerror(errno), fix);
    return SBX_ENOENT;
  }
  return 0;
}

static char *default_host_path(void) {
  const char *env = getenv("SBX_PLUGIN_HOST");
  char exe[PATH_MAX];
  ssize_t n;
  char *slash, *out;
  size_t len;

  if (env != NULL && *env != '\0')
    return strdup(env);
  n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0)
    return strdup("sbx-plugin-host");
  exe[n] = '\0';
  slash = strrchr(exe, '/');
  if (slash == NULL)
    return strdup("sbx-plugin-host");
  slash[1] = '\0';
  len = strlen(exe) + sizeof("sbx-plugin-host");
  out = malloc(len);
  if (out != NULL)
    snprintf(out, len, "%ssbx-plugin-host", exe);
  return out;
}

static int build_init(struct plugin *p, const struct sbx_plugin_config *cfg,
                      struct sbx_diag *diag) {
  Sbx__V1__PluginInit init = SBX__V1__PLUGIN_INIT__INIT;
  size_t n;

  init.config.data = (uint8_t *)cfg->config;
  init.config.len = cfg->config != NULL ? cfg->config_len : 0;
  init.scenario_setup.data = (uint8_t *)cfg->setup;
  init.scenario_setup.len = cfg->setup != NULL ? cfg->setup_len : 0;
  init.max_in_flight = cfg->max_in_flight;
  init.max_response_bytes = p->max_response;
  n = sbx__v1__plugin_init__get_packed_size(&init);
  if (n > SBX_FRAME_MAX_PAYLOAD) {
    sbx_diag_set(diag,
                 "plugin config and scenario setup together are %zu bytes, "
                 "over the %u-byte frame limit; shrink the setup file",
                 n, SBX_FRAME_MAX_PAYLOAD);
    return SBX_EINVAL;
  }
  p->init_frame = malloc(SBX_FRAME_HEADER + n);
  if (p->init_frame == NULL)
    return SBX_ENOMEM;
  sbx_frame_header(p->init_frame, SBX_FRAME_INIT, 0, 0, (uint32_t)n);
  sbx__v1__plugin_init__pack(&init, p->init_frame + SBX_FRAME_HEADER);
  p->init_len = SBX_FRAME_HEADER + n;
  return 0;
}

int sbx_plugin_open(uv_loop_t *loop, const struct sbx_plugin_config *cfg,
                    sbx_adapter_done_cb on_done, void *data,
                    struct sbx_adapter **out, struct sbx_diag *diag) {
  struct plugin *p = NULL;
  char why[256];
  int rc = SBX_EINVAL;

  *out = NULL;
  if (cfg == NULL || on_done == NULL || cfg->max_in_flight == 0 ||
      cfg->max_in_flight > MAX_IN_FLIGHT_LIMIT) {
    sbx_diag_set(diag, "plugin: max_in_flight must be 1..%u",
                 MAX_IN_FLIGHT_LIMIT);
    goto fail;
  }
  if (cfg->transport != SBX_PLUGIN_SOCKET &&
      cfg->transport != SBX_PLUGIN_RING) {
    sbx_diag_set(diag, "plugin: unknown transport %d", cfg->transport);
    goto fail;
  }
  if (cfg->library == NULL || *cfg->library == '\0') {
    sbx_diag_set(diag, "plugin: no library given; pass --plugin PATH.so");
    goto fail;
  }
  rc = SBX_ENOMEM;
  p = calloc(1, sizeof(*p));
  if (p == NULL)
    goto fail;
  p->library = realpath(cfg->library, NULL);
  if (p->library == NULL) {
    rc = SBX_ENOENT;
    sbx_diag_set(diag,
                 "plugin library %s: %s; pass the path of the vendor's "
                 "shared library (.so)",
                 cfg->library, strerror(errno));
    goto fail;
  }
  rc = check_file("plugin library", p->library, 0,
                  "pass the path of the vendor's shared library (.so)", diag);
  if (rc != 0)
    goto fail;
  rc = SBX_ENOMEM;
  p->host_path =
      cfg->host_path != NULL ? strdup(cfg->host_path) : default_host_path();
  if (p->host_path == NULL)
    goto fail;
  rc = check_file("plugin host", p->host_path, 1,
                  "build the sbx-plugin-host target next to sbx, or set "
                  "SBX_PLUGIN_HOST to its path",
                  diag);
  if (rc != 0)
    goto fail;
  p->max_response = cfg->max_response_bytes != 0 ? cfg->max_response_bytes
                                                 : DEFAULT_MAX_RESPONSE;
  if (p->max_response > SBX_FRAME_MAX_PAYLOAD)
    p->max_response = SBX_FRAME_MAX_PAYLOAD;
  p->decode_cap = p->max_response > HELLO_MAX_PAYLOAD
                      ? (uint32_t)p->max_response
                      : HELLO_MAX_PAYLOAD;
  p->memory = cfg->memory_limit != 0 ? cfg->memory_limit : DEFAULT_MEMORY;
  p->timeout_ns = cfg->timeout_us > 0 ? cfg->timeout_us * 1000 : 0;
  p->transport = cfg->transport;
  p->no_jail = cfg->no_jail;
  p->backoff_ms = BACKOFF_MIN_MS;
  rc = build_init(p, cfg, diag);
  if (rc != 0)
    goto fail;
  rc = SBX_ENOMEM;
  if (cfg->n_required_layers > 0) {
    p->required = calloc(cfg->n_required_layers, sizeof(*p->required));
    if (p->required == NULL)
      goto fail;
    for (size_t i = 0; i < cfg->n_required_layers; i++) {
      p->required[i] = strdup(
          cfg->required_layers[i] != NULL ? cfg->required_layers[i] : "");
      if (p->required[i] == NULL)
        goto fail;
      p->n_required++;
    }
  }
  p->slots = calloc(cfg->max_in_flight, sizeof(*p->slots));
  if (p->slots == NULL)
    goto fail;
  for (uint32_t i = 0; i < cfg->max_in_flight; i++) {
    p->slots[i].next = i + 1 < cfg->max_in_flight ? i + 1 : NIL;
    p->slots[i].prev = NIL;
  }
  p->free_head = 0;
  p->pending.head = p->pending.tail = NIL;
  p->sent.head = p->sent.tail = NIL;

  p->base.ops = &plugin_ops;
  p->base.loop = loop;
  p->base.on_done = on_done;
  p->base.data = data;
  p->base.max_in_flight = cfg->max_in_flight;

  uv_timer_init(loop, &p->deadline_timer);
  uv_timer_init(loop, &p->restart_timer);
  uv_timer_init(loop, &p->sample_timer);
  uv_timer_init(loop, &p->cg_timer);
  uv_prepare_init(loop, &p->prep);
  uv_idle_init(loop, &p->idle);
  p->deadline_timer.data = p->restart_timer.data = p->sample_timer.data = p;
  p->cg_timer.data = p;
  p->prep.data = p;
  p->idle.data = p;
  p->handles = 6;
  /* The sampler alone must not keep a loop alive. */
  uv_unref((uv_handle_t *)&p->sample_timer);

  if (spawn_host(p, why, sizeof(why)) != 0) {
    sbx_diag_set(diag, "plugin host %s: %s", p->host_path, why);
    pl_close(&p->base, NULL);
    return SBX_EIO;
  }
  *out = &p->base;
  return 0;

fail:
  if (p != NULL)
    free_plugin(p);
  return rc;
}

const char *sbx_plugin_stderr(struct sbx_adapter *a) {
  struct plugin *p = (struct plugin *)a;
  return p->tail;
}

int sbx_plugin_host_pid(struct sbx_adapter *a) {
  struct plugin *p = (struct plugin *)a;
  return p->host != NULL && !p->host->exited ? p->host->pid : 0;
}
