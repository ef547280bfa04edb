/* landlock.c - Landlock for the plugin host, through raw system calls.
 *
 * Debian 12's headers stop at ABI 2 while kernels in use go further, so the
 * constants are defined here from the kernel's uapi (stable by design: each
 * ABI only adds bits) and the ABI is asked of the running kernel. The
 * ruleset handles every access right the kernel knows, so anything not
 * granted by a rule is denied: the host may read and map the system
 * libraries, the vendor library and the declared files, write /dev/null,
 * and nothing else. ABI >= 4 also denies TCP bind and connect (no rules);
 * ABI >= 6 confines signals and abstract unix sockets to the domain. */
#include "host.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif

#define LL_CREATE_RULESET_VERSION (1u << 0)
#define LL_RULE_PATH_BENEATH 1

/* Filesystem rights by ABI. */
#define LL_FS_EXECUTE (1ull << 0)
#define LL_FS_WRITE_FILE (1ull << 1)
#define LL_FS_READ_FILE (1ull << 2)
#define LL_FS_READ_DIR (1ull << 3)
#define LL_FS_ABI1 ((1ull << 13) - 1) /* bits 0..12 */
#define LL_FS_REFER (1ull << 13)      /* ABI 2 */
#define LL_FS_TRUNCATE (1ull << 14)   /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ull << 15)  /* ABI 5 */
/* Network (ABI 4) and scopes (ABI 6). */
#define LL_NET_BIND_TCP (1ull << 0)
#define LL_NET_CONNECT_TCP (1ull << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ull << 0)
#define LL_SCOPE_SIGNAL (1ull << 1)

struct ll_ruleset_attr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net; /* ABI 4 */
  uint64_t scoped;             /* ABI 6 */
};

struct ll_path_beneath_attr {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));

/* Rights that may be granted on a non-directory. */
#define LL_FILE_RIGHTS                                                         \
  (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE |       \
   LL_FS_IOCTL_DEV)

int sbx_host_landlock_apply(const struct sbx_host_ll_rule *rules, size_t n,
                            struct sbx_host_layers *l) {
  struct ll_ruleset_attr attr;
  size_t attr_size;
  long abi;
  int fd = -1;
  int rc;
  size_t i;

  abi =
      syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
  if (abi < 0) {
    sbx_host_note(l, "landlock: not available (%s)",
                  errno == EOPNOTSUPP ? "disabled at boot" : strerror(errno));
    return 0;
  }
  memset(&attr, 0, sizeof attr);
  attr.handled_access_fs = LL_FS_ABI1;
  if (abi >= 2)
    attr.handled_access_fs |= LL_FS_REFER;
  if (abi >= 3)
    attr.handled_access_fs |= LL_FS_TRUNCATE;
  if (abi >= 5)
    attr.handled_access_fs |= LL_FS_IOCTL_DEV;
  attr_size = sizeof attr.handled_access_fs;
  if (abi >= 4) {
    attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
    attr_size = offsetof(struct ll_ruleset_attr, scoped);
  }
  if (abi >= 6) {
    attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
    attr_size = sizeof attr;
  }
  fd = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0u);
  if (fd < 0) {
    rc = -errno;
    sbx_host_log("landlock: create_ruleset (ABI %ld): %s", abi,
                 strerror(errno));
    goto out;
  }
  for (i = 0; i < n; i++) {
    struct ll_path_beneath_attr pb;
    uint64_t want = 0;

    if (rules[i].rights & SBX_HOST_LL_READ)
      want |= LL_FS_READ_FILE | LL_FS_READ_DIR;
    if (rules[i].rights & SBX_HOST_LL_EXEC)
      want |= LL_FS_READ_FILE | LL_FS_READ_DIR | LL_FS_EXECUTE;
    if (rules[i].rights & SBX_HOST_LL_WRITE)
      want |= LL_FS_WRITE_FILE;
    if (!rules[i].is_dir)
      want &= LL_FILE_RIGHTS;
    pb.allowed_access = want & attr.handled_access_fs;
    pb.parent_fd = rules[i].fd;
    if (syscall(SYS_landlock_add_rule, fd, LL_RULE_PATH_BENEATH, &pb, 0u) !=
        0) {
      rc = -errno;
      sbx_host_log("landlock: add_rule #%zu: %s", i, strerror(errno));
      goto out;
    }
  }
  if (syscall(SYS_landlock_restrict_self, fd, 0u) != 0) {
    rc = -errno;
    sbx_host_log("landlock: restrict_self: %s", strerror(errno));
    goto out;
  }
  sbx_host_detail(l, "landlock ABI %ld%s%s; ", abi,
                  abi >= 4 ? " +tcp-deny" : "", abi >= 6 ? " +scoped" : "");
  rc = (int)abi;
out:
  if (fd >= 0)
    close(fd);
  return rc;
}
