/* jail.c - the process layout of the plugin host and the order of layers.
 *
 * The order is dictated by what each step needs, and everything happens
 * before the library is loaded (its constructors run inside the jail):
 *
 *   outer process (the one the harness started and watches)
 *     - closes stray descriptors, opens O_PATH handles on everything the
 *       jail will show (system libraries, the library, --read paths, a few
 *       /dev nodes) while it can still see them all;
 *     - as root: creates the cgroup (root is needed for that);
 *       as non-root: enters a new user namespace (needed for a PID one);
 *     - creates the PID namespace and forks once: the child is PID 1 there,
 *       so everything it might leave behind dies with it. The outer process
 *       stays outside the cgroup and the jail, waits, removes the cgroup and
 *       exits with the child's status (re-raising its fatal signal, so the
 *       harness sees "killed by signal 11").
 *   jailed child
 *     - setsid (kill(0, ...) reaches only itself), joins the cgroup;
 *     - uid: as root, switches to the per-run uid (groups cleared);
 *     - rlimits, no_new_privs;
 *     - namespaces: user (as root; ns-root is the per-run uid), mount, net,
 *       ipc, uts; a tmpfs root holding read-only binds of the handles above,
 *       pivot_root, old root detached, root remounted read-only; then every
 *       capability is dropped;
 *     - parent-death signal (set last: credential changes clear it);
 *     - Landlock, then seccomp stage 1 (which forbids the namespace and
 *       mount calls used just before, hence its place).
 * The layers list in HELLO is in this order of application, so it differs
 * from the listing: cgroups need root and come first; namespaces
 * need mount/unshare and precede seccomp stage 1. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host.h"
#include "shm_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define HOST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HOST_ASAN 1
#endif
#endif

#define NEWROOT "/tmp" /* where the tmpfs root is built (our mount ns only) */
#define MAX_BINDS (SBX_HOST_MAX_READ + 16)

enum bind_kind { BIND_SYSTEM, BIND_LIBRARY, BIND_READ, BIND_DEVICE };

struct bind {
  int fd; /* O_PATH, or -1 for a symlink */
  int is_dir;
  int kind;
  unsigned rights;
  char path[PATH_MAX]; /* absolute path, also inside the new root */
  char link[256];      /* symlink target when fd == -1 */
  int tree;            /* open_tree clone while building the root */
  int skip;            /* visible through an earlier directory */
};

struct jail {
  struct bind *binds;
  size_t n;
  int alive_fd; /* read end of a pipe held by the outer process, or -1 */
  pid_t orig_ppid;
};

static void fatal(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void fatal(int code, const char *fmt, ...) {
  char msg[512];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sbx_host_log("%s", msg);
  _exit(code);
}

/* ---- handles */

static int add_handle(struct jail *j, const char *path, int kind,
                      unsigned rights) {
  struct bind *b;
  struct stat st;

  if (j->n >= MAX_BINDS)
    return -ENOSPC;
  b = &j->binds[j->n];
  memset(b, 0, sizeof *b);
  b->kind = kind;
  b->rights = rights;
  if (kind == BIND_SYSTEM) {
    /* Merged /usr: /lib -> usr/lib is recreated as a symlink. */
    if (lstat(path, &st) != 0)
      return -errno;
    snprintf(b->path, sizeof b->path, "%s", path);
    if (S_ISLNK(st.st_mode)) {
      ssize_t r = readlink(path, b->link, sizeof b->link - 1);
      if (r <= 0)
        return -EINVAL;
      b->link[r] = '\0';
      b->fd = -1;
      j->n++;
      return 0;
    }
  } else if (realpath(path, b->path) == NULL) {
    return -errno;
  }
  b->fd = open(b->path, O_PATH | O_CLOEXEC);
  if (b->fd < 0)
    return -errno;
  if (fstat(b->fd, &st) != 0) {
    int e = -errno;
    close(b->fd);
    return e;
  }
  b->is_dir = S_ISDIR(st.st_mode);
  j->n++;
  return 0;
}

/* As root the jailed process becomes another uid: the library must then be
 * readable by "other", and its directories searchable. */
static int other_can_read(const char *path, char *why, size_t why_len) {
  char buf[PATH_MAX];
  struct stat st;
  char *p;

  snprintf(buf, sizeof buf, "%s", path);
  if (stat(buf, &st) != 0 || !(st.st_mode & S_IROTH)) {
    snprintf(why, why_len, "%s is not readable by others (mode %03o)", buf,
             (unsigned)(st.st_mode & 0777));
    return 0;
  }
  while ((p = strrchr(buf, '/')) != NULL) {
    *p = '\0';
    if (buf[0] == '\0')
      break;
    if (stat(buf, &st) != 0 || !(st.st_mode & S_IXOTH)) {
      snprintf(why, why_len, "directory %s is not searchable by others", buf);
      return 0;
    }
  }
  return 1;
}

static void close_handles(struct jail *j) {
  size_t i;

  for (i = 0; i < j->n; i++) {
    if (j->binds[i].fd >= 0)
      close(j->binds[i].fd);
    j->binds[i].fd = -1;
  }
}

/* ---- small helpers */

static int write_file(const char *path, const char *s) {
  size_t len = strlen(s);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  int rc = 0;

  if (fd < 0)
    return -errno;
  if (write(fd, s, len) != (ssize_t)len)
    rc = errno != 0 ? -errno : -EIO;
  close(fd);
  return rc;
}

static int write_maps(uid_t uid, gid_t gid) {
  char line[64];
  int rc;

  rc = write_file("/proc/self/setgroups", "deny");
  if (rc != 0 && rc != -ENOENT)
    return rc;
  snprintf(line, sizeof line, "0 %u 1", (unsigned)uid);
  rc = write_file("/proc/self/uid_map", line);
  if (rc != 0)
    return rc;
  snprintf(line, sizeof line, "0 %u 1", (unsigned)gid);
  return write_file("/proc/self/gid_map", line);
}

static int mkdirs(char *path) {
  char *p;

  for (p = path + 1; *p != '\0'; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
      int e = -errno;
      *p = '/';
      return e;
    }
    *p = '/';
  }
  return 0;
}

/* Is path inside dir (component-wise)? */
static int under(const char *path, const char *dir) {
  size_t n = strlen(dir);

  return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* ---- the minimal root
 *
 * Descriptors opened before unshare(CLONE_NEWNS) belong to the old mount
 * namespace and cannot be bind sources, so each source is cloned by path
 * once inside the new namespace (open_tree: a detached copy, made
 * read-only with mount_setattr) BEFORE the tmpfs root is mounted, since
 * the tmpfs hides whatever lies under its mount point (/tmp). The clones
 * are then moved into place. */

static int covered(const struct jail *j, size_t idx) {
  size_t k;

  for (k = 0; k < idx; k++) {
    if (j->binds[k].fd >= 0 && j->binds[k].is_dir &&
        under(j->binds[idx].path, j->binds[k].path))
      return 1;
  }
  return 0;
}

static int clone_one(struct bind *b) {
  struct mount_attr attr;
  int fd;

  fd = open_tree(AT_FDCWD, b->path,
                 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (fd < 0)
    return -errno;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID;
  if (b->kind != BIND_DEVICE)
    attr.attr_set |= MOUNT_ATTR_NODEV;
  if (mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) !=
      0) {
    int e = -errno;
    close(fd);
    return e;
  }
  b->tree = fd;
  return 0;
}

static int place_one(struct bind *b) {
  char target[PATH_MAX + 16];
  int rc;

  if ((size_t)snprintf(target, sizeof target, "%s%s", NEWROOT, b->path) >=
      sizeof target)
    return -ENAMETOOLONG;
  rc = mkdirs(target);
  if (rc != 0)
    return rc;
  if (b->fd < 0)
    return symlink(b->link, target) == 0 || errno == EEXIST ? 0 : -errno;
  if (b->is_dir) {
    if (mkdir(target, 0755) != 0 && errno != EEXIST)
      return -errno;
  } else {
    int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      return -errno;
    close(fd);
  }
  if (move_mount(b->tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) != 0)
    return -errno;
  close(b->tree);
  b->tree = -1;
  return 0;
}

/* Returns 0, or negative errno with *what saying where; *soft is set when
 * nothing visible had changed yet (the process may go on without the
 * minimal root), clear once the tmpfs is mounted (half-built: fatal). */
static int build_root(struct jail *j, const char **what, int *soft) {
  static char buf[PATH_MAX + 32];
  size_t i;
  int rc;

  *soft = 1;
  *what = "making / private";
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    return -errno;
  for (i = 0; i < j->n; i++) {
    j->binds[i].tree = -1;
    j->binds[i].skip = covered(j, i);
  }
  for (i = 0; i < j->n; i++) {
    if (j->binds[i].fd < 0 || j->binds[i].skip)
      continue;
    rc = clone_one(&j->binds[i]);
    if (rc != 0) {
      snprintf(buf, sizeof buf, "cloning the mount of %s", j->binds[i].path);
      *what = buf;
      for (i = 0; i < j->n; i++) {
        if (j->binds[i].tree >= 0)
          close(j->binds[i].tree);
        j->binds[i].tree = -1;
      }
      return rc;
    }
  }
  *what = "mounting the tmpfs root";
  if (mount("sbx-root", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV,
            "size=256k,nr_inodes=1024,mode=0755") != 0)
    return -errno;
  *soft = 0;
  for (i = 0; i < j->n; i++) {
    if (j->binds[i].skip)
      continue;
    rc = place_one(&j->binds[i]);
    if (rc != 0) {
      snprintf(buf, sizeof buf, "placing %s", j->binds[i].path);
      *what = buf;
      return rc;
    }
  }
  *what = "pivot_root";
  if (chdir(NEWROOT) != 0 || mkdir(".old", 0700) != 0)
    return -errno;
  if (syscall(SYS_pivot_root, ".", ".old") != 0)
    return -errno;
  if (chdir("/") != 0)
    return -errno;
  *what = "detaching the old root";
  if (umount2("/.old", MNT_DETACH) != 0)
    return -errno;
  rmdir("/.old");
  *what = "remounting the root read-only";
  if (mount(NULL, "/", NULL,
            MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
    return -errno;
  return 0;
}

static int drop_caps(void) {
  struct __user_cap_header_struct hdr;
  struct __user_cap_data_struct data[2];
  int cap;

  for (cap = 0; cap <= 63; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL)
      break; /* past the last capability */
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  memset(&hdr, 0, sizeof hdr);
  memset(data, 0, sizeof data);
  hdr.version = _LINUX_CAPABILITY_VERSION_3;
  if (syscall(SYS_capset, &hdr, data) != 0)
    return -errno;
  return 0;
}

/* ---- layers */

static void apply_rlimits(const struct sbx_host_opts *o,
                          struct sbx_host_layers *l) {
  struct rlimit r;
  int ok = 1;

#ifdef HOST_ASAN
  /* ASan reserves terabytes of shadow address space: an AS limit would
   * break it. The memory cgroup (when present) caps memory instead. */
  sbx_host_note(l, "rlimits: no address-space limit under AddressSanitizer");
#else
  r.rlim_cur = r.rlim_max = (rlim_t)o->memory;
  ok &= setrlimit(RLIMIT_AS, &r) == 0;
#endif
  r.rlim_cur = (rlim_t)o->cpu_seconds;
  r.rlim_max = (rlim_t)o->cpu_seconds + 2; /* SIGXCPU, then SIGKILL */
  ok &= setrlimit(RLIMIT_CPU, &r) == 0;
  r.rlim_cur = r.rlim_max = 0;
  ok &= setrlimit(RLIMIT_CORE, &r) == 0;
  {
    /* No file may grow, except the log when stderr is a regular file
     * (FSIZE applies to it too): 1 MiB more than it holds now. */
    struct stat st;
    struct rlimit f = {0, 0};
    if (fstat(2, &st) == 0 && S_ISREG(st.st_mode)) {
      off_t cur = lseek(2, 0, SEEK_CUR);
      off_t top = cur > st.st_size ? cur : st.st_size;
      f.rlim_cur = f.rlim_max = (rlim_t)top + (1u << 20);
    }
    ok &= setrlimit(RLIMIT_FSIZE, &f) == 0;
  }
  /* RLIMIT_NPROC (0) comes after the last fork, see limit_procs(). */
  ok &= setrlimit(RLIMIT_MEMLOCK, &r) == 0;
  ok &= setrlimit(RLIMIT_MSGQUEUE, &r) == 0;
  ok &= setrlimit(RLIMIT_RTPRIO, &r) == 0;
  /* RLIMIT_NOFILE comes at the end of the jail: building the root needs a
   * few descriptors more than a plugin should have. */
  if (ok)
    sbx_host_layer_add(l, "rlimits");
  else
    sbx_host_note(l, "rlimits: %s", strerror(errno));
}

static void limit_files(const struct sbx_host_opts *o,
                        struct sbx_host_layers *l) {
  struct rlimit r;

  r.rlim_cur = r.rlim_max = (rlim_t)o->max_open_files;
  if (setrlimit(RLIMIT_NOFILE, &r) != 0)
    sbx_host_note(l, "rlimits: NOFILE: %s", strerror(errno));
}

static void switch_uid(uid_t uid, struct sbx_host_layers *l) {
  gid_t gid = (gid_t)uid;

  if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
      setresuid(uid, uid, uid) != 0)
    fatal(SBX_HOST_EXIT_JAIL, "uid: switching to %u: %s", (unsigned)uid,
          strerror(errno));
  /* Make sure there is no way back. */
  if (setresuid(0, 0, 0) == 0)
    fatal(SBX_HOST_EXIT_JAIL, "uid: could regain root after switching");
  sbx_host_layer_add(l, "uid");
  sbx_host_detail(l, "uid %u; ", (unsigned)uid);
}

/* Mount, net, ipc and uts namespaces (plus user when root), the minimal
 * root and the capability drop. Returns 1 when all engaged, 0 when the
 * kernel refused to create them (nothing changed), and exits when a
 * failure leaves a half-built state. */
static int enter_namespaces(struct jail *j, int as_root, uid_t uid,
                            struct sbx_host_layers *l) {
  int flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
  const char *what = NULL;
  int soft = 1;
  int rc;

  if (as_root) {
    flags |= CLONE_NEWUSER;
    /* The uid switch made us non-dumpable: /proc/self/uid_map would then
     * belong to root. */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  }
  if (unshare(flags) != 0) {
    sbx_host_note(l, "namespaces: unshare: %s", strerror(errno));
    return 0;
  }
  if (as_root) {
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    rc = write_maps(uid, (gid_t)uid);
    if (rc != 0)
      fatal(SBX_HOST_EXIT_JAIL, "namespaces: writing the uid/gid map: %s",
            strerror(-rc));
  }
  rc = build_root(j, &what, &soft);
  if (rc != 0 && !soft)
    fatal(SBX_HOST_EXIT_JAIL, "namespaces: %s: %s", what, strerror(-rc));
  if (rc != 0)
    sbx_host_note(l,
                  "namespaces: %s: %s (no minimal root; net, ipc and "
                  "uts are still private)",
                  what, strerror(-rc));
  if (sethostname("sbx-plugin", 10) != 0)
    sbx_host_log("namespaces: sethostname: %s", strerror(errno));
  /* The capabilities of the new user namespace go in every case. */
  if (drop_caps() != 0)
    fatal(SBX_HOST_EXIT_JAIL, "namespaces: dropping capabilities: %s",
          strerror(errno));
  return rc == 0;
}

static void parent_death(struct jail *j) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
    fatal(SBX_HOST_EXIT_JAIL, "PR_SET_PDEATHSIG: %s", strerror(errno));
  if (j->alive_fd >= 0) {
    struct pollfd p = {j->alive_fd, POLLIN, 0};
    if (poll(&p, 1, 0) != 0)
      fatal(SBX_HOST_EXIT_JAIL, "the outer host process died during setup");
    close(j->alive_fd);
    j->alive_fd = -1;
  } else if (getppid() != j->orig_ppid) {
    fatal(SBX_HOST_EXIT_JAIL, "the harness died during setup");
  }
}

/* The outer process: wait for the jailed child, clean up, mirror its end. */
static void outer_wait(pid_t child, struct sbx_host_cgroup *cg)
    __attribute__((noreturn));

static void outer_wait(pid_t child, struct sbx_host_cgroup *cg) {
  int st = 0;
  pid_t r;

  for (;;) {
    r = waitpid(child, &st, 0);
    if (r == child || (r < 0 && errno != EINTR))
      break;
  }
  if (cg != NULL)
    sbx_host_cgroup_remove(cg);
  /* The namespace's init reports its server's fatal signal as 128+sig
   * (an init cannot die of its own signal); the host's own codes are
   * below 128. */
  if (r == child &&
      (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) > 128 &&
                           WEXITSTATUS(st) < 128 + 65))) {
    int sig = WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st) - 128;
    struct rlimit z = {0, 0};
    sigset_t set;

    setrlimit(RLIMIT_CORE, &z);
    signal(sig, SIG_DFL);
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    kill(getpid(), sig);
    _exit(128 + sig);
  }
  _exit(r == child && WIFEXITED(st) ? WEXITSTATUS(st) : SBX_HOST_EXIT_JAIL);
}

/* PID 1 of the namespace: the kernel drops signals that init sends itself
 * (abort() would end in SIGSEGV, raise() would do nothing), so the server
 * runs as its child, PID 2, and init only waits and reports. */
static void init_wait(pid_t server) __attribute__((noreturn));

static void init_wait(pid_t server) {
  int st = 0;
  pid_t r;

  for (;;) {
    r = waitpid(server, &st, 0);
    if (r == server || (r < 0 && errno != EINTR))
      break;
  }
  if (r == server && WIFSIGNALED(st))
    _exit(128 + WTERMSIG(st));
  _exit(r == server && WIFEXITED(st) ? WEXITSTATUS(st) : SBX_HOST_EXIT_JAIL);
}

static void limit_procs(struct sbx_host_layers *l) {
  struct rlimit r = {0, 0};

  if (setrlimit(RLIMIT_NPROC, &r) != 0)
    sbx_host_note(l, "rlimits: NPROC: %s", strerror(errno));
}

/* Is fd one the host keeps: the ipc descriptor, and the ring's with
 * --ring? */
static int kept_fd(const struct sbx_host_opts *o, int fd) {
  return fd == o->ipc_fd ||
         (o->ring && fd >= SBX_RING_FD_MEM && fd <= SBX_RING_FD_TO_DAEMON);
}

/* Closes the ring's descriptors in a process that does not serve (the
 * outer process, the namespace's init). */
static void close_ring_fds(const struct sbx_host_opts *o) {
  if (o->ring)
    syscall(SYS_close_range, (unsigned)SBX_RING_FD_MEM,
            (unsigned)SBX_RING_FD_TO_DAEMON, 0u);
}

static void sanitize_fds(const struct sbx_host_opts *o) {
  int ipc_fd = o->ipc_fd;
  int top = ipc_fd;
  int fd, from = 3;
  int fl;
  int null;

  /* Everything but 0-2, the ipc descriptor and the ring's goes: close
   * each gap between kept descriptors, then everything above them. */
  if (o->ring && top < SBX_RING_FD_TO_DAEMON)
    top = SBX_RING_FD_TO_DAEMON;
  for (fd = 3; fd <= top; fd++) {
    if (!kept_fd(o, fd))
      continue;
    if (fd > from)
      syscall(SYS_close_range, (unsigned)from, (unsigned)fd - 1, 0u);
    from = fd + 1;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  syscall(SYS_close_range, (unsigned)from, ~0u, 0u);
  fl = fcntl(ipc_fd, F_GETFL);
  if (fl >= 0 && (fl & O_NONBLOCK))
    fcntl(ipc_fd, F_SETFL, fl & ~O_NONBLOCK);
  null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null >= 0 && null != 0) {
    dup2(null, 0);
    close(null);
  }
  dup2(2, 1); /* a plugin's printf goes to the log */
}

int sbx_host_jail(const struct sbx_host_opts *o, struct sbx_host_layers *l,
                  char *resolved, size_t resolved_len) {
  static const char *const system_paths[] = {
      "/lib",       "/lib64",         "/usr/lib",
      "/usr/lib64", "/usr/local/lib", "/etc/ld.so.cache",
  };
  static const char *const devices[] = {"/dev/null", "/dev/zero",
                                        "/dev/urandom", "/dev/random"};
  struct jail j;
  struct sbx_host_cgroup cg;
  struct sbx_host_ll_rule *rules = NULL;
  int as_root = geteuid() == 0;
  int have_cg = 0;
  int pid_ns = 0;
  int ns_ok = 0;
  int rc;
  size_t i;
  size_t n_rules = 0;
  char why[PATH_MAX + 64];

  memset(&j, 0, sizeof j);
  j.alive_fd = -1;
  j.orig_ppid = getppid();
  /* Nothing of the host may outlive the harness: this process dies with
   * it, the jailed one with this one (parent_death), the server with the
   * jailed one. Credential changes clear the setting; it is renewed after
   * each. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
    fatal(SBX_HOST_EXIT_JAIL, "PR_SET_PDEATHSIG: %s", strerror(errno));
  if (getppid() != j.orig_ppid)
    fatal(SBX_HOST_EXIT_JAIL, "the harness died during setup");
  sanitize_fds(o);
  signal(SIGPIPE, SIG_IGN); /* EPIPE on the ipc socket instead */
  signal(SIGXFSZ, SIG_IGN); /* EFBIG instead, if stderr is a file */

  if (realpath(o->library, resolved) == NULL || resolved_len < PATH_MAX)
    fatal(SBX_HOST_EXIT_LOAD, "library %s: %s", o->library, strerror(errno));
  if (o->no_jail) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != j.orig_ppid)
      fatal(SBX_HOST_EXIT_JAIL, "the harness died during setup");
    sbx_host_detail(l, "no jail (--no-jail); ");
    return 0;
  }

  j.binds = calloc(MAX_BINDS, sizeof *j.binds);
  rules = calloc(MAX_BINDS, sizeof *rules);
  if (j.binds == NULL || rules == NULL)
    fatal(SBX_HOST_EXIT_NOMEM, "out of memory");
  for (i = 0; i < sizeof system_paths / sizeof system_paths[0]; i++)
    add_handle(&j, system_paths[i], BIND_SYSTEM, SBX_HOST_LL_EXEC);
  rc = add_handle(&j, o->library, BIND_LIBRARY, SBX_HOST_LL_EXEC);
  if (rc != 0)
    fatal(SBX_HOST_EXIT_LOAD, "library %s: %s", o->library, strerror(-rc));
  if (as_root && !other_can_read(resolved, why, sizeof why))
    fatal(SBX_HOST_EXIT_LOAD,
          "library %s: the jailed host runs as uid %u and cannot read it: "
          "%s; fix the permissions (chmod o+r, o+x on the directories)",
          o->library, (unsigned)o->uid, why);
  for (i = 0; i < o->n_read; i++) {
    rc = add_handle(&j, o->read_paths[i], BIND_READ, SBX_HOST_LL_EXEC);
    if (rc != 0)
      fatal(SBX_HOST_EXIT_USAGE, "--read %s: %s", o->read_paths[i],
            strerror(-rc));
    if (as_root && !other_can_read(j.binds[j.n - 1].path, why, sizeof why))
      fatal(SBX_HOST_EXIT_USAGE,
            "--read %s: the jailed host runs as uid %u and cannot read it: "
            "%s",
            o->read_paths[i], (unsigned)o->uid, why);
  }
  for (i = 0; i < sizeof devices / sizeof devices[0]; i++)
    add_handle(&j, devices[i], BIND_DEVICE,
               SBX_HOST_LL_READ | (i == 0 ? SBX_HOST_LL_WRITE : 0));

  /* Outer process: cgroup (root) or user namespace (non-root), then the
   * PID namespace and the one fork. */
  if (as_root) {
    char name[80];

    sbx_host_cgroup_sweep();
    if (o->cgroup_name != NULL)
      snprintf(name, sizeof name, "%s", o->cgroup_name);
    else
      snprintf(name, sizeof name, "sbx-plugin-%ld", (long)getpid());
    rc = sbx_host_cgroup_prepare(name, o->memory, &cg, l);
    if (rc == 0)
      have_cg = 1;
    else if (rc < 0)
      sbx_host_cgroup_remove(&cg);
    if (unshare(CLONE_NEWPID) == 0)
      pid_ns = 1;
    else
      sbx_host_note(l, "namespaces: pid: %s", strerror(errno));
  } else {
    uid_t uid = getuid();
    gid_t gid = getgid();

    sbx_host_note(l, "cgroups: not root");
    if (unshare(CLONE_NEWUSER | CLONE_NEWPID) == 0) {
      rc = write_maps(uid, gid);
      if (rc != 0)
        fatal(SBX_HOST_EXIT_JAIL, "namespaces: writing the uid/gid map: %s",
              strerror(-rc));
      pid_ns = 1;
      /* The credential change cleared the parent-death signal. */
      prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
      if (getppid() != j.orig_ppid)
        fatal(SBX_HOST_EXIT_JAIL, "the harness died during setup");
    } else {
      sbx_host_note(l, "namespaces: user+pid: %s", strerror(errno));
    }
  }
  if (pid_ns) {
    int alive[2];
    pid_t child;

    if (pipe2(alive, O_CLOEXEC) != 0)
      fatal(SBX_HOST_EXIT_JAIL, "pipe: %s", strerror(errno));
    child = fork();
    if (child < 0)
      fatal(SBX_HOST_EXIT_JAIL, "fork into the PID namespace: %s",
            strerror(errno));
    if (child > 0) {
      close(alive[0]);
      close(o->ipc_fd); /* the harness must see EOF when the child dies */
      close_ring_fds(o);
      close_handles(&j);
      outer_wait(child, have_cg ? &cg : NULL);
    }
    close(alive[1]);
    j.alive_fd = alive[0];
  } else {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  }

  /* The jailed process. */
  setsid();
  if (have_cg) {
    int joined = sbx_host_cgroup_join(&cg) == 0;

    if (joined && cg.pids_set) {
      sbx_host_layer_add(l, "cgroups");
    } else if (cg.memory_set) {
      sbx_host_layer_add(l, "cgroups");
      sbx_host_note(l, "cgroups: no pids limit");
    }
    /* Told to the harness in HELLO: it kills through cgroup.kill (this
     * process and its children, not the outer one, which then cleans up)
     * and removes what the outer process could not. */
    if (joined) {
      for (i = 0; i < cg.n && i < SBX_HOST_CG_MAX; i++)
        snprintf(l->cgroups[i], sizeof l->cgroups[i], "%s", cg.dirs[i]);
      l->n_cgroups = i;
    }
  }
  if (as_root)
    switch_uid(o->uid, l);
  apply_rlimits(o, l);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0)
    sbx_host_layer_add(l, "no_new_privs");
  else
    fatal(SBX_HOST_EXIT_JAIL, "no_new_privs: %s", strerror(errno));
  ns_ok = enter_namespaces(&j, as_root, o->uid, l);
  if (ns_ok && pid_ns)
    sbx_host_layer_add(l, "namespaces");
  else if (ns_ok)
    sbx_host_note(l, "namespaces: mount/net/ipc/uts only, no pid");
  parent_death(&j);

  for (i = 0; i < j.n; i++) {
    if (j.binds[i].fd < 0)
      continue;
    rules[n_rules].fd = j.binds[i].fd;
    rules[n_rules].is_dir = j.binds[i].is_dir;
    rules[n_rules].rights = j.binds[i].rights;
    n_rules++;
  }
  rc = sbx_host_landlock_apply(rules, n_rules, l);
  if (rc > 0)
    sbx_host_layer_add(l, "landlock");
  else if (rc < 0)
    fatal(SBX_HOST_EXIT_JAIL, "landlock: %s", strerror(-rc));
  close_handles(&j);
  free(rules);
  free(j.binds);

  if (pid_ns) {
    pid_t server = fork();

    if (server < 0)
      fatal(SBX_HOST_EXIT_JAIL, "fork of the server: %s", strerror(errno));
    if (server > 0) {
      close(o->ipc_fd);
      close_ring_fds(o);
      limit_procs(l);
      if (sbx_host_seccomp_stage1() != 0)
        fatal(SBX_HOST_EXIT_JAIL, "seccomp stage 1 (init)");
      init_wait(server);
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != 1)
      fatal(SBX_HOST_EXIT_JAIL, "the namespace's init died during setup");
  }
  limit_procs(l);

  rc = sbx_host_seccomp_stage1();
  if (rc != 0)
    fatal(SBX_HOST_EXIT_JAIL, "seccomp stage 1: %s", strerror(-rc));
  sbx_host_layer_add(l, "seccomp");
  limit_files(o, l);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  return 0;
}
