/* hostile_write_outside.c - tries to create /tmp/sbx-hostile-write-outside
 * and a file sbx-hostile-owndir next to its own library, in create() and on
 * every request. The answer is the input when both failed, "ESCAPED:
 * wrote PATH" otherwise.
 * Expected: EROFS/ENOENT (read-only minimal root), EACCES (Landlock, and
 * the strict filter after create), EFBIG (RLIMIT_FSIZE 0); the run passes
 * and neither file exists afterwards. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sbx_plugin.h>

static char own[512];

static int wrote(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ssize_t w;

  if (fd < 0) {
    static int said;
    if (said++ < 4) /* create() and the first request, not every one */
      fprintf(stderr, "hostile_write_outside: %s: %s\n", path, strerror(errno));
    return 0;
  }
  w = write(fd, "escaped\n", 8);
  close(fd);
  (void)w; /* creating the file is already an escape, written or not */
  return 1;
}

static const char *probe(void) {
  if (wrote("/tmp/sbx-hostile-write-outside"))
    return "/tmp/sbx-hostile-write-outside";
  if (own[0] != '\0' && wrote(own))
    return own;
  return NULL;
}

static const char *leaked;

static int h_create(const uint8_t *c, size_t cl, const uint8_t *s, size_t sl,
                    void **inst) {
  Dl_info info;

  (void)c, (void)cl, (void)s, (void)sl;
  if (dladdr((void *)probe, &info) != 0 && info.dli_fname != NULL) {
    const char *slash = strrchr(info.dli_fname, '/');
    if (slash != NULL)
      snprintf(own, sizeof own, "%.*s/sbx-hostile-owndir",
               (int)(slash - info.dli_fname), info.dli_fname);
  }
  leaked = probe();
  *inst = NULL;
  return SBX_PLUGIN_OK;
}

static int h_handle(void *inst, const uint8_t *in, size_t len,
                    sbx_plugin_output *out) {
  const char *leak = leaked != NULL ? leaked : probe();

  (void)inst;
  if (leak != NULL) {
    char msg[600];
    int n = snprintf(msg, sizeof msg, "ESCAPED: wrote %s", leak);
    return out->write(out, msg, (size_t)n);
  }
  return out->write(out, in, len);
}

static void h_destroy(void *inst) {
  (void)inst;
}

static const sbx_plugin_descriptor d = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof d,
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "hostile_write_outside",
    .version = "1",
    .vendor = "tests",
    .create = h_create,
    .handle = h_handle,
    .destroy = h_destroy,
};
SBX_PLUGIN_DEFINE(d)
