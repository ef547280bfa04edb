/* hostile_tcp_connect.c - connects to 127.0.0.1:PORT (config "port=N"), in
 * create() and on every request, and records the outcome in its answer:
 * the input itself when the connection failed, "ESCAPED: connected to
 * 127.0.0.1:N" when it worked.
 * Expected: socket() fails (seccomp), and if it did not, connect would
 * (empty network namespace; Landlock TCP deny); the run passes and the
 * listener sees no connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sbx_plugin.h>

struct st {
  unsigned port;
  int connected;
};

static int try_connect(unsigned port, int *err) {
  struct sockaddr_in sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int ok;

  if (fd < 0) {
    *err = errno;
    return 0;
  }
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
  *err = ok ? 0 : errno;
  if (ok && write(fd, "escaped\n", 8) < 0)
    *err = errno;
  close(fd);
  return ok;
}

static int h_create(const uint8_t *c, size_t cl, const uint8_t *s, size_t sl,
                    void **inst) {
  struct st *st = calloc(1, sizeof *st);
  char buf[32];
  int err = 0;

  (void)s, (void)sl;
  if (st == NULL)
    return SBX_PLUGIN_E_NOMEM;
  if (cl >= sizeof buf || cl < 6 || memcmp(c, "port=", 5) != 0) {
    free(st);
    fprintf(stderr, "hostile_tcp_connect: config must be port=N\n");
    return SBX_PLUGIN_E_CONFIG;
  }
  memcpy(buf, c + 5, cl - 5);
  buf[cl - 5] = '\0';
  st->port = (unsigned)strtoul(buf, NULL, 10);
  st->connected = try_connect(st->port, &err);
  fprintf(stderr, "hostile_tcp_connect: create: %s (%s)\n",
          st->connected ? "CONNECTED" : "refused", strerror(err));
  *inst = st;
  return SBX_PLUGIN_OK;
}

static int h_handle(void *inst, const uint8_t *in, size_t len,
                    sbx_plugin_output *out) {
  struct st *st = inst;
  int err = 0;

  if (try_connect(st->port, &err) || st->connected) {
    char msg[64];
    int n = snprintf(msg, sizeof msg, "ESCAPED: connected to 127.0.0.1:%u",
                     st->port);
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
    .name = "hostile_tcp_connect",
    .version = "1",
    .vendor = "tests",
    .create = h_create,
    .handle = h_handle,
    .destroy = h_destroy,
};
SBX_PLUGIN_DEFINE(d)
