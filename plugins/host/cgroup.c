/* cgroup.c - the host's cgroup: memory, pids and cpu limits, and a kill.
 *
 * Three layouts are met in practice, detected in this order:
 *   - cgroup v2 with controllers (/sys/fs/cgroup/cgroup.controllers lists
 *     memory and pids): one directory /sys/fs/cgroup/sbx/NAME with
 *     memory.max, memory.swap.max, memory.oom.group, pids.max, cpu.max and
 *     cgroup.kill;
 *   - hybrid (v1 controllers, v2 mounted at /sys/fs/cgroup/unified without
 *     controllers, like the build machine): /sys/fs/cgroup/{memory,pids,
 *     cpu,cpuacct}/sbx/NAME with the v1 knobs, plus
 *     /sys/fs/cgroup/unified/sbx/NAME for cgroup.kill;
 *   - anything else: no cgroups (the rlimits still hold).
 * Only root gets here. The directories are created before the host drops
 * its uid; the jailed process joins them itself; the host's outer process,
 * which stays outside, removes them once the jailed one is gone. */
#include "host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CG_ROOT "/sys/fs/cgroup"
#define CG_BASE "sbx" /* our directory under each hierarchy */

static int exists(const char *path) {
  return access(path, F_OK) == 0;
}

/* Writes s to dir/file. Returns 0 or negative errno. */
static int put(const char *dir, const char *file, const char *s) {
  char path[256];
  size_t len = strlen(s);
  ssize_t w;
  int fd;
  int rc = 0;

  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
    return -ENAMETOOLONG;
  fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  w = write(fd, s, len);
  if (w < 0)
    rc = -errno;
  else if ((size_t)w != len)
    rc = -EIO;
  close(fd);
  return rc;
}

/* Does file (one line of words) contain the word w? */
static int has_word(const char *file, const char *w) {
  char buf[512];
  size_t wl = strlen(w);
  ssize_t r;
  char *p;
  int fd = open(file, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return 0;
  r = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (r <= 0)
    return 0;
  buf[r] = '\0';
  for (p = buf; (p = strstr(p, w)) != NULL; p += wl) {
    if ((p == buf || p[-1] == ' ') &&
        (p[wl] == ' ' || p[wl] == '\n' || p[wl] == '\0'))
      return 1;
  }
  return 0;
}

/* mkdir -p hierarchy/sbx/name; records the leaf in cg. */
static int make(struct sbx_host_cgroup *cg, const char *hierarchy,
                const char *name, char *out, size_t out_len) {
  char base[160];

  if (cg->n >= SBX_HOST_CG_MAX)
    return -ENOSPC;
  if ((size_t)snprintf(base, sizeof base, "%s/%s", hierarchy, CG_BASE) >=
          sizeof base ||
      (size_t)snprintf(out, out_len, "%s/%s", base, name) >= out_len)
    return -ENAMETOOLONG;
  if (mkdir(base, 0755) != 0 && errno != EEXIST)
    return -errno;
  if (mkdir(out, 0755) != 0 && errno != EEXIST)
    return -errno;
  snprintf(cg->dirs[cg->n++], sizeof cg->dirs[0], "%s", out);
  return 0;
}

static int prepare_v2(const char *name, uint64_t memory,
                      struct sbx_host_cgroup *cg, struct sbx_host_layers *l) {
  char dir[160];
  char num[32];
  int rc;

  /* Enable the controllers for our subtree; each may already be on. */
  put(CG_ROOT, "cgroup.subtree_control", "+memory");
  put(CG_ROOT, "cgroup.subtree_control", "+pids");
  put(CG_ROOT, "cgroup.subtree_control", "+cpu");
  if (mkdir(CG_ROOT "/" CG_BASE, 0755) != 0 && errno != EEXIST)
    return -errno;
  put(CG_ROOT "/" CG_BASE, "cgroup.subtree_control", "+memory");
  put(CG_ROOT "/" CG_BASE, "cgroup.subtree_control", "+pids");
  put(CG_ROOT "/" CG_BASE, "cgroup.subtree_control", "+cpu");
  rc = make(cg, CG_ROOT, name, dir, sizeof dir);
  if (rc != 0)
    return rc;
  snprintf(num, sizeof num, "%" PRIu64, memory);
  if (put(dir, "memory.max", num) == 0)
    cg->memory_set = 1;
  put(dir, "memory.swap.max", "0");
  put(dir, "memory.oom.group", "1");
  if (put(dir, "pids.max", "16") == 0)
    cg->pids_set = 1;
  if (put(dir, "cpu.max", "100000 100000") == 0)
    cg->cpu_set = 1;
  snprintf(cg->kill_dir, sizeof cg->kill_dir, "%s", dir);
  {
    char kill[200];
    snprintf(kill, sizeof kill, "%s/cgroup.kill", dir);
    cg->has_kill = exists(kill);
  }
  sbx_host_detail(l, "cgroup v2 %s%s%s%s; ", dir,
                  cg->memory_set ? " memory" : "", cg->pids_set ? " pids" : "",
                  cg->cpu_set ? " cpu" : "");
  return 0;
}

static int prepare_v1(const char *name, uint64_t memory,
                      struct sbx_host_cgroup *cg, struct sbx_host_layers *l) {
  char dir[160];
  char num[32];
  int rc;

  rc = make(cg, CG_ROOT "/memory", name, dir, sizeof dir);
  if (rc != 0)
    return rc;
  snprintf(num, sizeof num, "%" PRIu64, memory);
  if (put(dir, "memory.limit_in_bytes", num) == 0)
    cg->memory_set = 1;
  put(dir, "memory.memsw.limit_in_bytes", num); /* absent without swap acct */
  put(dir, "memory.swappiness", "0");
  if (exists(CG_ROOT "/pids/pids.max") ||
      exists(CG_ROOT "/pids/cgroup.procs")) {
    if (make(cg, CG_ROOT "/pids", name, dir, sizeof dir) == 0 &&
        put(dir, "pids.max", "16") == 0)
      cg->pids_set = 1;
  }
  if (exists(CG_ROOT "/cpu/cpu.cfs_quota_us")) {
    if (make(cg, CG_ROOT "/cpu", name, dir, sizeof dir) == 0 &&
        put(dir, "cpu.cfs_period_us", "100000") == 0 &&
        put(dir, "cpu.cfs_quota_us", "100000") == 0)
      cg->cpu_set = 1;
  }
  /* cpuacct for measurement, when mounted apart from cpu. */
  if (exists(CG_ROOT "/cpuacct/cpuacct.usage") &&
      !exists(CG_ROOT "/cpu/cpuacct.usage"))
    make(cg, CG_ROOT "/cpuacct", name, dir, sizeof dir);
  if (exists(CG_ROOT "/unified/cgroup.procs") &&
      make(cg, CG_ROOT "/unified", name, dir, sizeof dir) == 0) {
    char kill[200];
    snprintf(kill, sizeof kill, "%s/cgroup.kill", dir);
    cg->has_kill = exists(kill);
    if (cg->has_kill)
      snprintf(cg->kill_dir, sizeof cg->kill_dir, "%s", dir);
  }
  sbx_host_detail(l, "cgroup v1%s%s%s%s%s; ", cg->memory_set ? " memory" : "",
                  cg->pids_set ? " pids" : "", cg->cpu_set ? " cpu" : "",
                  cg->has_kill ? ", v2 kill " : "",
                  cg->has_kill ? cg->kill_dir : "");
  return 0;
}

int sbx_host_cgroup_prepare(const char *name, uint64_t memory,
                            struct sbx_host_cgroup *cg,
                            struct sbx_host_layers *l) {
  int rc;

  memset(cg, 0, sizeof *cg);
  if (has_word(CG_ROOT "/cgroup.controllers", "memory") &&
      has_word(CG_ROOT "/cgroup.controllers", "pids"))
    rc = prepare_v2(name, memory, cg, l);
  else if (exists(CG_ROOT "/memory/memory.limit_in_bytes"))
    rc = prepare_v1(name, memory, cg, l);
  else {
    sbx_host_note(l, "cgroups: no memory controller in v2 or v1 under %s",
                  CG_ROOT);
    return 1;
  }
  if (rc == 0 && !cg->memory_set) {
    sbx_host_note(l, "cgroups: could not set a memory limit");
    rc = -EPERM;
  }
  if (rc != 0 && cg->n == 0)
    sbx_host_note(l, "cgroups: %s", strerror(-rc));
  return rc;
}

int sbx_host_cgroup_join(const struct sbx_host_cgroup *cg) {
  size_t i;
  int rc;

  for (i = 0; i < cg->n; i++) {
    rc = put(cg->dirs[i], "cgroup.procs", "0");
    if (rc != 0) {
      sbx_host_log("cgroups: joining %s: %s", cg->dirs[i], strerror(-rc));
      return rc;
    }
  }
  return 0;
}

void sbx_host_cgroup_remove(struct sbx_host_cgroup *cg) {
  size_t i;
  int tries;

  for (i = cg->n; i-- > 0;) {
    for (tries = 0; tries < 100; tries++) {
      struct timespec ts = {0, 2000000};

      if (rmdir(cg->dirs[i]) == 0 || errno == ENOENT)
        break;
      if (errno != EBUSY)
        break;
      nanosleep(&ts, NULL); /* the last task is still being reaped */
    }
  }
  cg->n = 0;
}

static void sweep_dir(const char *base) {
  DIR *d = opendir(base);
  struct dirent *e;
  time_t now = time(NULL);

  if (d == NULL)
    return;
  while ((e = readdir(d)) != NULL) {
    char path[512];
    struct stat st;

    if (e->d_name[0] == '.' || e->d_type != DT_DIR)
      continue;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", base, e->d_name) >=
        sizeof path)
      continue;
    /* Not the young ones: a host creates its directories a millisecond
     * before it joins them. A populated one refuses rmdir (EBUSY). */
    if (stat(path, &st) == 0 && now - st.st_mtime > 5)
      rmdir(path);
  }
  closedir(d);
}

void sbx_host_cgroup_sweep(void) {
  static const char *const bases[] = {
      CG_ROOT "/" CG_BASE,         CG_ROOT "/memory/" CG_BASE,
      CG_ROOT "/pids/" CG_BASE,    CG_ROOT "/cpu/" CG_BASE,
      CG_ROOT "/cpuacct/" CG_BASE, CG_ROOT "/unified/" CG_BASE,
  };
  size_t i;

  for (i = 0; i < sizeof bases / sizeof bases[0]; i++)
    sweep_dir(bases[i]);
}
