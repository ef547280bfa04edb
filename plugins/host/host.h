/* host.h - the pieces of sbx-plugin-host, the jailed plugin process.
 *
 * sbx-plugin-host is started by the harness (uv_spawn, never a fork of the
 * daemon), jails itself in layers, then loads one vendor library and serves
 * frames (daemon/ipc_frame.h) on the descriptor it was given. The files:
 *
 *   host_main.c  command line, exit codes, the INIT/HELLO/REQUEST loop
 *   jail.c       process layout and the order of the layers: fds, uid,
 *                rlimits, no_new_privs, namespaces (with the minimal root),
 *                capabilities, parent-death signal
 *   cgroup.c     v2 or hybrid v1 cgroups (memory, pids, cpu, kill)
 *   landlock.c   Landlock through raw system calls, ABI detected
 *   seccomp.c    stage 1 (before dlopen) and the strict allowlist (after
 *                create)
 *
 * Every layer is detected at run time. One that cannot be applied is left
 * out of the list sent in HELLO, with one note on stderr saying why; one
 * that fails half-way, leaving the process in a state it cannot vouch for,
 * ends the host with SBX_HOST_EXIT_JAIL.
 */
#ifndef SBX_PLUGIN_HOST_H
#define SBX_PLUGIN_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Exit codes (70 + reason); the harness treats >= 70 before HELLO as a
 * setup failure and quotes the host's stderr, which says what failed. */
#define SBX_HOST_EXIT_OK 0
#define SBX_HOST_EXIT_USAGE 70  /* bad command line */
#define SBX_HOST_EXIT_JAIL 71   /* a layer failed half-way */
#define SBX_HOST_EXIT_LOAD 72   /* library missing, unreadable, dlopen */
#define SBX_HOST_EXIT_ABI 73    /* descriptor refused (HELLO says why) */
#define SBX_HOST_EXIT_PROTO 74  /* bad or missing INIT, unexpected frame */
#define SBX_HOST_EXIT_CREATE 75 /* create() failed (HELLO says the code) */
#define SBX_HOST_EXIT_IO 76     /* the ipc descriptor failed */
#define SBX_HOST_EXIT_NOMEM 77  /* the host itself ran out of memory */

#define SBX_HOST_MAX_READ 32 /* --read paths */

struct sbx_host_opts {
  const char *library;
  int ipc_fd;
  uint64_t memory;         /* bytes; RLIMIT_AS and memory cgroup */
  uint64_t cpu_seconds;    /* RLIMIT_CPU soft limit */
  uint64_t max_open_files; /* RLIMIT_NOFILE */
  const char *read_paths[SBX_HOST_MAX_READ];
  size_t n_read;
  int no_jail;
  const char *cgroup_name; /* NULL: sbx-plugin-<pid> */
  uid_t uid;               /* used when started as root */
  int verbose;
  int ring; /* --ring: frames through the shared-memory ring on fds 4-6 */
};

#define SBX_HOST_CG_MAX 8
#define SBX_HOST_CG_PATH 160

/* What engaged, in the order applied, plus notes on what did not. */
#define SBX_HOST_MAX_LAYERS 12
struct sbx_host_layers {
  const char *names[SBX_HOST_MAX_LAYERS];
  size_t n;
  char notes[2048]; /* "landlock: not supported by the kernel; ..." */
  char detail[512]; /* "landlock ABI 7; cgroup v1+kill /sys/fs/..." */
  /* The cgroup directories the jailed process joined (PluginHello.cgroups:
   * the harness kills through them and removes them). */
  char cgroups[SBX_HOST_CG_MAX][SBX_HOST_CG_PATH];
  size_t n_cgroups;
};

/* Appends name (a static string) to l. */
void sbx_host_layer_add(struct sbx_host_layers *l, const char *name);

/* Appends a printf-formatted note to l->notes (truncating, "; " between
 * notes). */
void sbx_host_note(struct sbx_host_layers *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends a printf-formatted fact to l->detail. */
void sbx_host_detail(struct sbx_host_layers *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "sbx-plugin-host: " and the formatted message on stderr. */
void sbx_host_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- jail.c */

/* Applies every layer that o asks for and the machine offers, before the
 * library is loaded. May fork once (the PID namespace): the original
 * process then only waits for its child, cleans up its cgroups and exits
 * with the child's status (re-raising a fatal signal), and never returns.
 * In the process that goes on, returns 0 with l filled; the library path
 * to dlopen is o->library as resolved in *resolved (owned by the caller,
 * PATH_MAX bytes). On a half-way failure logs what failed and exits with
 * SBX_HOST_EXIT_JAIL (or _LOAD if the library is missing/unreadable). */
int sbx_host_jail(const struct sbx_host_opts *o, struct sbx_host_layers *l,
                  char *resolved, size_t resolved_len);

/* ---- cgroup.c */

struct sbx_host_cgroup {
  char dirs[SBX_HOST_CG_MAX][SBX_HOST_CG_PATH]; /* created directories */
  size_t n;
  int has_kill;   /* a v2 directory with cgroup.kill */
  int memory_set; /* a memory limit is in force */
  int pids_set;
  int cpu_set;
  char kill_dir[160];
};

/* Creates the cgroup `name` (v2 with controllers, else hybrid v1 memory,
 * pids, cpu, cpuacct plus the v2 directory for cgroup.kill) and writes the
 * limits. Needs root. Returns 0 with cg filled (at least the memory limit
 * set), 1 if cgroups are not usable here (note added to l, nothing left
 * behind), or negative on a failure after which sbx_host_cgroup_remove()
 * must still be called. */
int sbx_host_cgroup_prepare(const char *name, uint64_t memory,
                            struct sbx_host_cgroup *cg,
                            struct sbx_host_layers *l);

/* Moves the calling process into every directory of cg. Returns 0, or
 * negative (errno-style) if a move failed. */
int sbx_host_cgroup_join(const struct sbx_host_cgroup *cg);

/* Removes the directories of cg (once empty; retries briefly). */
void sbx_host_cgroup_remove(struct sbx_host_cgroup *cg);

/* Removes the empty cgroups under our "sbx" directories left by hosts that
 * were SIGKILLed before they could clean up (the harness kills through
 * cgroup.kill, which spares the outer process, but falls back to SIGKILL
 * of the process group, and removes what it can afterwards), if older than
 * 5 s. Best effort; called at start-up. */
void sbx_host_cgroup_sweep(void);

/* ---- landlock.c */

#define SBX_HOST_LL_READ 1  /* read files and list directories */
#define SBX_HOST_LL_EXEC 2  /* ... and map them executable */
#define SBX_HOST_LL_WRITE 4 /* write files (only /dev/null) */

struct sbx_host_ll_rule {
  int fd; /* O_PATH descriptor */
  int is_dir;
  unsigned rights; /* SBX_HOST_LL_* */
};

/* Restricts the calling process to the rules (and, with ABI >= 4, no TCP;
 * with ABI >= 6, no signals or abstract sockets outside its domain).
 * Requires no_new_privs. Returns the ABI (> 0) when in force, 0 when the
 * kernel has no Landlock (note added), negative errno on failure. */
int sbx_host_landlock_apply(const struct sbx_host_ll_rule *rules, size_t n,
                            struct sbx_host_layers *l);

/* ---- seccomp.c */

/* Stage 1, default allow: denies process creation (fork, vfork, clone
 * without CLONE_THREAD; clone3 as ENOSYS), exec, ptrace, mount and friends,
 * namespaces, bpf, io_uring, keyctl, perf, module and kexec calls, every
 * new socket, and TIOCSTI. Returns 0 or negative errno. */
int sbx_host_seccomp_stage1(void);

/* The strict allowlist after create(): default KILL_PROCESS; I/O only on
 * ipc_fd (read, write) and fds 1 and 2 (write); with ring set, also read
 * on the host's doorbell (SBX_RING_FD_TO_HOST), write on the daemon's
 * (SBX_RING_FD_TO_DAEMON) and poll/ppoll, which is how the ring functions
 * of daemon/shm_ring.h sleep and wake; memory, time, futex, signals to
 * itself; open/socket/clone fail with an errno instead of killing, since
 * libraries probe them. Returns 0 or negative errno. */
int sbx_host_seccomp_strict(int ipc_fd, int ring);

#endif
