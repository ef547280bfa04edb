/* faultd.h - the unit tests' fault server: starts build/bin/sbx_faultd on
 * an ephemeral loopback port and stops it, for the HTTP client tests; plus
 * short names of the error classes they assert. Include after testlib.h. */
#ifndef SBX_TEST_FAULTD_H
#define SBX_TEST_FAULTD_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "sbx/v1/common.pb-c.h"

#define NONE SBX__V1__ERROR_CLASS__ERROR_CLASS_NONE
#define REFUSED SBX__V1__ERROR_CLASS__ERROR_CLASS_REFUSED
#define TIMEOUT SBX__V1__ERROR_CLASS__ERROR_CLASS_TIMEOUT
#define RESET SBX__V1__ERROR_CLASS__ERROR_CLASS_RESET
#define TOO_LARGE SBX__V1__ERROR_CLASS__ERROR_CLASS_BODY_TOO_LARGE
#define PROTOCOL SBX__V1__ERROR_CLASS__ERROR_CLASS_PROTOCOL
#define OTHER SBX__V1__ERROR_CLASS__ERROR_CLASS_OTHER

static pid_t faultd_pid = -1;
static int faultd_port;
static char base_url[64];

static int faultd_start(void) {
  const char *dir = getenv("SBX_BUILD_DIR");
  char path[4096], line[64];
  int fds[2];
  FILE *f;
  pid_t pid;
  snprintf(path, sizeof(path), "%s/bin/sbx_faultd", dir ? dir : "build");
  if (pipe(fds) != 0)
    return -1;
  pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    /* The server dies with the test, even a test killed mid-way. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execl(path, path, "--port", "0", (char *)NULL);
    perror(path);
    _exit(127);
  }
  close(fds[1]);
  faultd_pid = pid;
  f = fdopen(fds[0], "r");
  if (f == NULL)
    return -1;
  if (fgets(line, sizeof(line), f) == NULL ||
      sscanf(line, "port=%d", &faultd_port) != 1 || faultd_port <= 0) {
    fprintf(stderr, "no port line from %s\n", path);
    fclose(f);
    return -1;
  }
  fclose(f);
  snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", faultd_port);
  return 0;
}

static void faultd_stop(void) {
  int status = 0;
  if (faultd_pid <= 0)
    return;
  kill(faultd_pid, SIGTERM);
  CHECK(waitpid(faultd_pid, &status, 0) == faultd_pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  faultd_pid = -1;
}

#endif
