/* sbx_freeport.c - print a free TCP port on 127.0.0.1.
 *
 * Binds a TCP socket to 127.0.0.1 port 0, prints the port the kernel chose
 * (decimal, one line) and exits. Tests and the demo use it to give a server
 * that cannot bind port 0 itself (nginx) a port of its own. The port is only
 * free at the moment of the call: callers that race other processes for it
 * should retry on "address in use".
 *
 * Exit status: 0 printed a port, 1 failure (message on stderr), 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  int fd = -1, status = 1;

  if (argc > 1) {
    int help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
    fprintf(help ? stdout : stderr,
            "usage: sbx_freeport\n"
            "Prints a TCP port on 127.0.0.1 that is free right now.\n");
    return help ? 0 : 2;
  }
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fprintf(stderr, "sbx_freeport: socket: %s\n", strerror(errno));
    goto out;
  }
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    fprintf(stderr, "sbx_freeport: bind 127.0.0.1:0: %s\n", strerror(errno));
    goto out;
  }
  if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
    fprintf(stderr, "sbx_freeport: getsockname: %s\n", strerror(errno));
    goto out;
  }
  if (printf("%u\n", (unsigned)ntohs(sa.sin_port)) < 0 || fflush(stdout) != 0) {
    fprintf(stderr, "sbx_freeport: cannot write to stdout: %s\n",
            strerror(errno));
    goto out;
  }
  status = 0;
out:
  if (fd >= 0)
    close(fd);
  return status;
}
