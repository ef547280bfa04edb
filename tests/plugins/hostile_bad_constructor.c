/* hostile_bad_constructor.c - misbehaves at load time, in a constructor
 * (which runs inside dlopen, before create() and before any filter a
 * plugin could be asked to accept): forks a child that would create
 * /tmp/sbx-hostile-ctor-child, execs a shell, reads /etc/shadow, creates
 * /tmp/sbx-hostile-ctor, connects to 127.0.0.1:22 and :80, and starts a
 * thread. Then it behaves (echo) unless one of those worked, in which case
 * every answer is "ESCAPED: ..." (a failed check).
 * Expected: all refused (the jail is complete before dlopen); the run
 * passes; neither file exists afterwards. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sbx_plugin.h>

static char escaped[256];

static void note(const char *what) {
  size_t n = strlen(escaped);
  snprintf(escaped + n, sizeof escaped - n, "%s%s",
           n ? ", " : "ESCAPED: ", what);
}

static void *idle(void *arg) {
  (void)arg;
  return NULL;
}

static int can_connect(unsigned port) {
  struct sockaddr_in sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int ok;

  if (fd < 0)
    return 0;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
  close(fd);
  return ok;
}

__attribute__((constructor)) static void misbehave(void) {
  static char *const sh[] = {"sh", "-c", "touch /tmp/sbx-hostile-ctor-exec",
                             NULL};
  static char *const envp[] = {NULL};
  pthread_t t;
  pid_t p;
  int fd;

  p = fork();
  if (p == 0) {
    fd = open("/tmp/sbx-hostile-ctor-child", O_WRONLY | O_CREAT, 0644);
    _exit(fd >= 0 ? 0 : 1);
  }
  if (p > 0)
    note("fork");
  execve("/bin/sh", sh, envp);
  fd = open("/etc/shadow", O_RDONLY);
  if (fd >= 0) {
    note("read /etc/shadow");
    close(fd);
  }
  fd = open("/tmp/sbx-hostile-ctor", O_WRONLY | O_CREAT, 0644);
  if (fd >= 0) {
    note("created /tmp/sbx-hostile-ctor");
    close(fd);
  }
  if (can_connect(22) || can_connect(80))
    note("connect");
  if (pthread_create(&t, NULL, idle, NULL) == 0) {
    note("thread");
    pthread_join(t, NULL);
  }
  fprintf(stderr, "hostile_bad_constructor: %s\n",
          escaped[0] != '\0' ? escaped : "everything refused");
}

static int h_create(const uint8_t *c, size_t cl, const uint8_t *s, size_t sl,
                    void **inst) {
  (void)c, (void)cl, (void)s, (void)sl;
  *inst = NULL;
  return SBX_PLUGIN_OK;
}

static int h_handle(void *inst, const uint8_t *in, size_t len,
                    sbx_plugin_output *out) {
  (void)inst;
  if (escaped[0] != '\0')
    return out->write(out, escaped, strlen(escaped));
  return out->write(out, in, len);
}

static void h_destroy(void *inst) {
  (void)inst;
}

static const sbx_plugin_descriptor d = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof d,
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "hostile_bad_constructor",
    .version = "1",
    .vendor = "tests",
    .create = h_create,
    .handle = h_handle,
    .destroy = h_destroy,
};
SBX_PLUGIN_DEFINE(d)
