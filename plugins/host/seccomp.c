/* seccomp.c - the two seccomp filters of the plugin host (libseccomp).
 *
 * Stage 1 goes on before dlopen, so that library constructors already run
 * under it: it allows everything except a deny list, with errors rather
 * than kills, because loading code legitimately probes things. The strict
 * filter goes on after create(): an allowlist of what computation needs,
 * KILL_PROCESS for the rest, except for the few calls that libraries probe
 * and cope with failing (open, socket, clone, ioctl), which fail with an
 * errno so that a well-meaning plugin degrades instead of dying.
 *
 * Filters from other architectures (i386 or x32 system calls on x86_64)
 * kill the process: libseccomp's bad-architecture action is set to
 * KILL_PROCESS. */
#include "host.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shm_ring.h"

#if defined(__SANITIZE_ADDRESS__)
#define HOST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HOST_ASAN 1
#endif
#endif

struct deny {
  int nr;
  int err;
};

/* Adds a rule and remembers the first failure; unknown system calls on
 * this architecture (negative numbers from SCMP_SYS) are skipped. */
static void rule(scmp_filter_ctx ctx, int *rc, uint32_t action, int nr,
                 unsigned n_args, const struct scmp_arg_cmp *args) {
  int r;

  if (*rc != 0 || nr < 0)
    return;
  r = seccomp_rule_add_array(ctx, action, nr, n_args, args);
  if (r < 0 && r != -EDOM)
    *rc = r;
}

static scmp_filter_ctx new_filter(uint32_t def) {
  scmp_filter_ctx ctx = seccomp_init(def);

  if (ctx == NULL)
    return NULL;
  if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) <
          0 ||
      seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1) < 0) {
    seccomp_release(ctx);
    return NULL;
  }
  return ctx;
}

int sbx_host_seccomp_stage1(void) {
  static const struct deny denied[] = {
      {SCMP_SYS(fork), EPERM},
      {SCMP_SYS(vfork), EPERM},
      {SCMP_SYS(execve), EPERM},
      {SCMP_SYS(execveat), EPERM},
      {SCMP_SYS(ptrace), EPERM},
      {SCMP_SYS(process_vm_readv), EPERM},
      {SCMP_SYS(process_vm_writev), EPERM},
      {SCMP_SYS(mount), EPERM},
      {SCMP_SYS(umount2), EPERM},
      {SCMP_SYS(pivot_root), EPERM},
      {SCMP_SYS(chroot), EPERM},
      {SCMP_SYS(open_tree), EPERM},
      {SCMP_SYS(move_mount), EPERM},
      {SCMP_SYS(fsopen), EPERM},
      {SCMP_SYS(fsconfig), EPERM},
      {SCMP_SYS(fsmount), EPERM},
      {SCMP_SYS(fspick), EPERM},
      {SCMP_SYS(mount_setattr), EPERM},
      {SCMP_SYS(unshare), EPERM},
      {SCMP_SYS(setns), EPERM},
      {SCMP_SYS(bpf), EPERM},
      {SCMP_SYS(io_uring_setup), EPERM},
      {SCMP_SYS(io_uring_enter), EPERM},
      {SCMP_SYS(io_uring_register), EPERM},
      {SCMP_SYS(keyctl), EPERM},
      {SCMP_SYS(add_key), EPERM},
      {SCMP_SYS(request_key), EPERM},
      {SCMP_SYS(perf_event_open), EPERM},
      {SCMP_SYS(userfaultfd), EPERM},
      {SCMP_SYS(init_module), EPERM},
      {SCMP_SYS(finit_module), EPERM},
      {SCMP_SYS(delete_module), EPERM},
      {SCMP_SYS(kexec_load), EPERM},
      {SCMP_SYS(kexec_file_load), EPERM},
      {SCMP_SYS(reboot), EPERM},
      {SCMP_SYS(swapon), EPERM},
      {SCMP_SYS(swapoff), EPERM},
      {SCMP_SYS(acct), EPERM},
      {SCMP_SYS(settimeofday), EPERM},
      {SCMP_SYS(clock_settime), EPERM},
      {SCMP_SYS(adjtimex), EPERM},
      {SCMP_SYS(clock_adjtime), EPERM},
      {SCMP_SYS(pidfd_open), EPERM},
      {SCMP_SYS(pidfd_getfd), EPERM},
      {SCMP_SYS(kcmp), EPERM},
      {SCMP_SYS(name_to_handle_at), EPERM},
      {SCMP_SYS(open_by_handle_at), EPERM},
      /* A plugin has no use for a new socket: its only channel is the one
       * the host holds. */
      {SCMP_SYS(socket), EPERM},
      {SCMP_SYS(socketpair), EPERM},
      /* glibc falls back from clone3 to clone on ENOSYS, where the flags can
       * be inspected (clone3 passes them in memory). */
      {SCMP_SYS(clone3), ENOSYS},
  };
  scmp_filter_ctx ctx = new_filter(SCMP_ACT_ALLOW);
  int rc = 0;
  size_t i;

  if (ctx == NULL)
    return -ENOMEM;
  for (i = 0; i < sizeof denied / sizeof denied[0]; i++)
    rule(ctx, &rc, SCMP_ACT_ERRNO((uint32_t)denied[i].err), denied[i].nr, 0,
         NULL);
  {
    /* clone without CLONE_THREAD creates a process. */
    struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0);
    rule(ctx, &rc, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, &a);
  }
  {
    /* TIOCSTI pushes bytes into a terminal's input. */
    struct scmp_arg_cmp a = SCMP_A1(SCMP_CMP_EQ, TIOCSTI);
    rule(ctx, &rc, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, &a);
  }
  if (rc == 0)
    rc = seccomp_load(ctx);
  seccomp_release(ctx);
  return rc;
}

int sbx_host_seccomp_strict(int ipc_fd, int ring) {
  /* What computation needs. */
  static const int allowed[] = {
      SCMP_SYS(mmap),
      SCMP_SYS(munmap),
      SCMP_SYS(mremap),
      SCMP_SYS(brk),
      SCMP_SYS(madvise),
      SCMP_SYS(mprotect),
      SCMP_SYS(futex),
      SCMP_SYS(clock_gettime),
      SCMP_SYS(clock_getres),
      SCMP_SYS(gettimeofday),
      SCMP_SYS(time),
      SCMP_SYS(nanosleep),
      SCMP_SYS(clock_nanosleep),
      SCMP_SYS(getrandom),
      SCMP_SYS(exit),
      SCMP_SYS(exit_group),
      SCMP_SYS(rt_sigreturn),
      SCMP_SYS(rt_sigprocmask),
      SCMP_SYS(rt_sigaction),
      SCMP_SYS(sigaltstack),
      SCMP_SYS(restart_syscall),
      SCMP_SYS(getpid),
      SCMP_SYS(gettid),
      SCMP_SYS(getuid),
      SCMP_SYS(geteuid),
      SCMP_SYS(getgid),
      SCMP_SYS(getegid),
      SCMP_SYS(sched_yield),
      SCMP_SYS(sched_getaffinity),
      SCMP_SYS(uname),
      SCMP_SYS(sysinfo),
      SCMP_SYS(getrusage),
      SCMP_SYS(times),
      SCMP_SYS(close),
      SCMP_SYS(fstat),
      SCMP_SYS(newfstatat),
      SCMP_SYS(statx),
      SCMP_SYS(lseek),
      SCMP_SYS(membarrier),
      SCMP_SYS(rseq),
#ifdef HOST_ASAN
      /* The sanitizer runtime's own needs (reports, stack unwinding). */
      SCMP_SYS(prctl),
      SCMP_SYS(getrlimit),
      SCMP_SYS(prlimit64),
      SCMP_SYS(getppid),
      SCMP_SYS(sched_getparam),
      SCMP_SYS(pipe2),
#endif
  };
  /* What libraries probe and cope with failing. */
  static const struct deny refused[] = {
      {SCMP_SYS(open), EACCES},           {SCMP_SYS(openat), EACCES},
      {SCMP_SYS(openat2), EACCES},        {SCMP_SYS(creat), EACCES},
      {SCMP_SYS(access), EACCES},         {SCMP_SYS(faccessat), EACCES},
      {SCMP_SYS(faccessat2), EACCES},     {SCMP_SYS(readlink), EACCES},
      {SCMP_SYS(readlinkat), EACCES},     {SCMP_SYS(statfs), EACCES},
      {SCMP_SYS(getcwd), EACCES},         {SCMP_SYS(socket), EPERM},
      {SCMP_SYS(socketpair), EPERM},      {SCMP_SYS(clone), EPERM},
      {SCMP_SYS(clone3), ENOSYS},         {SCMP_SYS(fork), EPERM},
      {SCMP_SYS(vfork), EPERM},           {SCMP_SYS(execve), EPERM},
      {SCMP_SYS(execveat), EPERM},        {SCMP_SYS(ioctl), ENOTTY},
      {SCMP_SYS(set_robust_list), EPERM},
  };
  scmp_filter_ctx ctx = new_filter(SCMP_ACT_KILL_PROCESS);
  int rc = 0;
  size_t i;

  if (ctx == NULL)
    return -ENOMEM;
  for (i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
    rule(ctx, &rc, SCMP_ACT_ALLOW, allowed[i], 0, NULL);
  for (i = 0; i < sizeof refused / sizeof refused[0]; i++)
    rule(ctx, &rc, SCMP_ACT_ERRNO((uint32_t)refused[i].err), refused[i].nr, 0,
         NULL);
  {
    struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)ipc_fd);
    rule(ctx, &rc, SCMP_ACT_ALLOW, SCMP_SYS(read), 1, &a);
  }
  {
    /* Writes: the harness (ipc_fd) and the log (stdout is stderr). */
    const int fds[] = {ipc_fd, 1, 2};
    for (i = 0; i < 3; i++) {
      struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fds[i]);
      rule(ctx, &rc, SCMP_ACT_ALLOW, SCMP_SYS(write), 1, &a);
      rule(ctx, &rc, SCMP_ACT_ALLOW, SCMP_SYS(writev), 1, &a);
    }
  }
  {
    /* raise() and abort() signal the process itself, nothing else. */
    struct scmp_arg_cmp a =
        SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)(unsigned)getpid());
    rule(ctx, &rc, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, &a);
  }
  if (ring) {
    /* The ring functions sleep in poll() on the doorbell and the ipc
     * socket, drain their own doorbell and ring the daemon's: an eventfd
     * counter is all these descriptors give. */
    struct scmp_arg_cmp in = SCMP_A0(SCMP_CMP_EQ, SBX_RING_FD_TO_HOST);
    struct scmp_arg_cmp out = SCMP_A0(SCMP_CMP_EQ, SBX_RING_FD_TO_DAEMON);

    rule(ctx, &rc, SCMP_ACT_ALLOW, SCMP_SYS(read), 1, &in);
    rule(ctx, &rc, SCMP_ACT_ALLOW, SCMP_SYS(write), 1, &out);
    rule(ctx, &rc, SCMP_ACT_ALLOW, SCMP_SYS(poll), 0, NULL);
    rule(ctx, &rc, SCMP_ACT_ALLOW, SCMP_SYS(ppoll), 0, NULL);
  }
  if (rc == 0)
    rc = seccomp_load(ctx);
  seccomp_release(ctx);
  return rc;
}
