/* hostile_read_host_file.c - tries to read /etc/shadow and a file named in
 * its config ("path=/some/file", e.g. a world-readable secret the test
 * planted), in create() and on every request. The answer is the input when
 * every read failed, "ESCAPED: read PATH" when one worked.
 * Expected: not there (the jail's root holds only libraries and declared
 * files) or refused (Landlock; EACCES after create), the run passes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sbx_plugin.h>

struct st {
  char path[256];
  const char *leaked; /* first path that could be read */
};

static int readable(const char *path) {
  char buf[64];
  int fd = open(path, O_RDONLY);
  ssize_t r;

  if (fd < 0) {
    static int said;
    if (said++ < 4) /* create() and the first request, not every one */
      fprintf(stderr, "hostile_read_host_file: %s: %s\n", path,
              strerror(errno));
    return 0;
  }
  r = read(fd, buf, sizeof buf);
  close(fd);
  return r > 0;
}

static const char *probe(struct st *st) {
  if (readable("/etc/shadow"))
    return "/etc/shadow";
  if (st->path[0] != '\0' && readable(st->path))
    return st->path;
  return NULL;
}

static int h_create(const uint8_t *c, size_t cl, const uint8_t *s, size_t sl,
                    void **inst) {
  struct st *st = calloc(1, sizeof *st);

  (void)s, (void)sl;
  if (st == NULL)
    return SBX_PLUGIN_E_NOMEM;
  if (cl > 5 && cl - 5 < sizeof st->path && memcmp(c, "path=", 5) == 0)
    memcpy(st->path, c + 5, cl - 5);
  st->leaked = probe(st);
  *inst = st;
  return SBX_PLUGIN_OK;
}

static int h_handle(void *inst, const uint8_t *in, size_t len,
                    sbx_plugin_output *out) {
  struct st *st = inst;
  const char *leak = st->leaked != NULL ? st->leaked : probe(st);

  if (leak != NULL) {
    char msg[300];
    int n = snprintf(msg, sizeof msg, "ESCAPED: read %s", leak);
    return out->write(out, msg, (size_t)n);
  }
  return out->write(out, in, len);
}

static void h_destroy(void *inst) {
  free(inst);
}

static const sbx_plugin_descriptor d = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof d,
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "hostile_read_host_file",
    .version = "1",
    .vendor = "tests",
    .create = h_create,
    .handle = h_handle,
    .destroy = h_destroy,
};
SBX_PLUGIN_DEFINE(d)
