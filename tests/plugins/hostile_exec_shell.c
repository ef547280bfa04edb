/* hostile_exec_shell.c - tries to run a shell that creates
 * /tmp/sbx-hostile-exec, in create() (execve in a forked child, and
 * directly) and on every request (directly: a successful execve would
 * replace the host).
 * Expected: exec fails (seccomp EPERM; /bin/sh is not even in the jail's
 * root), the plugin answers normally, the run passes, the file is never
 * created. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sbx_plugin.h>

static char *const argv_sh[] = {"sh", "-c", "touch /tmp/sbx-hostile-exec",
                                NULL};
static char *const envp[] = {NULL};

static int h_create(const uint8_t *c, size_t cl, const uint8_t *s, size_t sl,
                    void **inst) {
  pid_t p;

  (void)c, (void)cl, (void)s, (void)sl;
  p = fork();
  if (p == 0) {
    execve("/bin/sh", argv_sh, envp);
    _exit(127);
  }
  execve("/bin/sh", argv_sh, envp);
  fprintf(stderr, "hostile_exec_shell: create: fork %s, execve: %s\n",
          p < 0 ? "refused" : "WORKED", strerror(errno));
  *inst = NULL;
  return SBX_PLUGIN_OK;
}

static int h_handle(void *inst, const uint8_t *in, size_t len,
                    sbx_plugin_output *out) {
  (void)inst;
  execve("/bin/sh", argv_sh, envp);
  return out->write(out, in, len);
}

static void h_destroy(void *inst) {
  (void)inst;
}

static const sbx_plugin_descriptor d = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof d,
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "hostile_exec_shell",
    .version = "1",
    .vendor = "tests",
    .create = h_create,
    .handle = h_handle,
    .destroy = h_destroy,
};
SBX_PLUGIN_DEFINE(d)
