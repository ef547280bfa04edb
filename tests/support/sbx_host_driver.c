/* sbx_host_driver.c - drives sbx-plugin-host directly, without sbx.
 *
 * A debugging tool and the harness of the host's own tests: it spawns the
 * host on a socketpair (fd 3), sends INIT and N requests with a window of
 * requests in flight, enforces a per-request deadline, and prints one line
 * per event, easy to grep:
 *
 *   hello status=0 ms=12.41 name=null layers=cgroups,uid,... message=...
 *   response id=1 status=0 len=5 body=hello
 *   timeout id=3 after_ms=500            (the host is then killed)
 *   protocol <what was wrong>             (the host is then killed)
 *   eof                                   (the host closed the socket)
 *   exit code=0 | exit signal=9 (Killed)
 *   done sent=N answered=K errors=E ms=... rate=...
 *
 * Usage: sbx_host_driver --library LIB [--host PATH] [--config TEXT]
 *          [--setup-file F] [--requests N] [--inflight W] [--payload TEXT]
 *          [--max-response BYTES] [--timeout-ms T] [--eof] [--quiet]
 *          [-- host args...]
 * Exit status: 0 when every request got status 0 and the host exited 0
 * after SHUTDOWN; 1 otherwise; 2 on usage or local errors. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc_frame.h"
#include "sbx/v1/plugin.pb-c.h"

struct opts {
  const char *library;
  const char *host;
  const char *config;
  const char *setup_file;
  unsigned long requests;
  unsigned long inflight;
  const char *payload;
  unsigned long max_response;
  long timeout_ms;
  int eof;
  int quiet;
  char **host_args;
  int n_host_args;
};

struct conn {
  int fd;
  pid_t pid;
  uint8_t *in;
  size_t in_len, in_cap;
  uint8_t *out;
  size_t out_len, out_cap;
};

static double now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what) {
  fprintf(stderr, "sbx_host_driver: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void reserve(uint8_t **b, size_t *cap, size_t need) {
  if (need <= *cap)
    return;
  *cap = need < 65536 ? 65536 : need * 2;
  *b = realloc(*b, *cap);
  if (*b == NULL)
    die("realloc");
}

static void queue(struct conn *c, uint8_t type, uint64_t id, const uint8_t *p,
                  size_t n) {
  reserve(&c->out, &c->out_cap, c->out_len + SBX_FRAME_HEADER + n);
  sbx_frame_header(c->out + c->out_len, type, 0, id, (uint32_t)n);
  if (n > 0)
    memcpy(c->out + c->out_len + SBX_FRAME_HEADER, p, n);
  c->out_len += SBX_FRAME_HEADER + n;
}

static void print_body(const uint8_t *p, size_t n) {
  size_t i;

  for (i = 0; i < n && i < 200; i++) {
    if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
      putchar(p[i]);
    else
      printf("\\x%02x", p[i]);
  }
  if (n > 200)
    printf("...");
}

static void kill_host(struct conn *c) {
  if (c->pid > 0) {
    kill(-c->pid, SIGKILL);
    kill(c->pid, SIGKILL);
  }
}

static int report_exit(struct conn *c, double wait_ms) {
  double end = now_ms() + wait_ms;
  int st = 0;
  pid_t r;

  for (;;) {
    r = waitpid(c->pid, &st, WNOHANG);
    if (r == c->pid || r < 0)
      break;
    if (now_ms() > end) {
      printf("exit-timeout (host still running after %.0f ms; killed)\n",
             wait_ms);
      kill_host(c);
      r = waitpid(c->pid, &st, 0);
      break;
    }
    usleep(1000);
  }
  if (r != c->pid)
    return -1;
  if (WIFSIGNALED(st)) {
    printf("exit signal=%d (%s)\n", WTERMSIG(st), strsignal(WTERMSIG(st)));
    return 128 + WTERMSIG(st);
  }
  printf("exit code=%d\n", WEXITSTATUS(st));
  return WEXITSTATUS(st);
}

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  uint8_t *b = NULL;
  size_t cap = 0;
  size_t n;

  *len = 0;
  if (f == NULL)
    die(path);
  for (;;) {
    reserve(&b, &cap, *len + 65536);
    n = fread(b + *len, 1, cap - *len, f);
    *len += n;
    if (n == 0)
      break;
  }
  fclose(f);
  return b;
}

static unsigned long num(const char *s) {
  char *end = NULL;
  unsigned long v;

  errno = 0;
  v = strtoul(s == NULL ? "" : s, &end, 10);
  if (s == NULL || errno != 0 || end == s || *end != '\0') {
    fprintf(stderr, "sbx_host_driver: expected a number, got \"%s\"\n",
            s == NULL ? "" : s);
    exit(2);
  }
  return v;
}

static void parse(int argc, char **argv, struct opts *o) {
  int i;

  memset(o, 0, sizeof *o);
  o->requests = 4;
  o->inflight = 4;
  o->payload = "hello";
  o->max_response = 1u << 20;
  o->timeout_ms = 2000;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;

    if (strcmp(a, "--") == 0) {
      o->host_args = argv + i + 1;
      o->n_host_args = argc - i - 1;
      break;
    } else if (strcmp(a, "--eof") == 0) {
      o->eof = 1;
      continue;
    } else if (strcmp(a, "--quiet") == 0) {
      o->quiet = 1;
      continue;
    }
    if (v == NULL) {
      fprintf(stderr, "sbx_host_driver: %s needs a value\n", a);
      exit(2);
    }
    i++;
    if (strcmp(a, "--library") == 0)
      o->library = v;
    else if (strcmp(a, "--host") == 0)
      o->host = v;
    else if (strcmp(a, "--config") == 0)
      o->config = v;
    else if (strcmp(a, "--setup-file") == 0)
      o->setup_file = v;
    else if (strcmp(a, "--requests") == 0)
      o->requests = num(v);
    else if (strcmp(a, "--inflight") == 0)
      o->inflight = num(v);
    else if (strcmp(a, "--payload") == 0)
      o->payload = v;
    else if (strcmp(a, "--max-response") == 0)
      o->max_response = num(v);
    else if (strcmp(a, "--timeout-ms") == 0)
      o->timeout_ms = (long)num(v);
    else {
      fprintf(stderr, "sbx_host_driver: unknown option %s\n", a);
      exit(2);
    }
  }
  if (o->library == NULL || o->inflight == 0) {
    fprintf(stderr, "usage: sbx_host_driver --library LIB [options] "
                    "[-- host args]\n");
    exit(2);
  }
}

static pid_t spawn(const struct opts *o, int fd) {
  char self[PATH_MAX - 32];
  char host[PATH_MAX];
  char **argv;
  int n = 0;
  int i;
  pid_t pid;

  if (o->host != NULL) {
    snprintf(host, sizeof host, "%s", o->host);
  } else {
    ssize_t r = readlink("/proc/self/exe", self, sizeof self - 1);
    char *slash;
    if (r <= 0)
      die("readlink /proc/self/exe");
    self[r] = '\0';
    slash = strrchr(self, '/');
    *slash = '\0';
    snprintf(host, sizeof host, "%s/sbx-plugin-host", self);
  }
  argv = calloc((size_t)o->n_host_args + 8, sizeof *argv);
  if (argv == NULL)
    die("calloc");
  argv[n++] = host;
  argv[n++] = "--library";
  argv[n++] = (char *)o->library;
  argv[n++] = "--ipc-fd";
  argv[n++] = "3";
  for (i = 0; i < o->n_host_args; i++)
    argv[n++] = o->host_args[i];
  argv[n] = NULL;
  pid = fork();
  if (pid < 0)
    die("fork");
  if (pid == 0) {
    setpgid(0, 0);
    if (dup2(fd, 3) < 0)
      _exit(127);
    execv(host, argv);
    fprintf(stderr, "sbx_host_driver: exec %s: %s\n", host, strerror(errno));
    _exit(127);
  }
  free(argv);
  return pid;
}

int main(int argc, char **argv) {
  struct opts o;
  struct conn c;
  int sv[2];
  uint8_t *init_buf;
  size_t init_len;
  Sbx__V1__PluginInit init = SBX__V1__PLUGIN_INIT__INIT;
  uint8_t *setup = NULL;
  size_t setup_len = 0;
  double t0, t_hello = 0, deadline_base = 0;
  unsigned long sent = 0, answered = 0, errors = 0;
  int hello_seen = 0;
  int shutdown_sent = 0;
  int failed = 0;
  unsigned char *answered_ids;
  int rc;

  parse(argc, argv, &o);
  signal(SIGPIPE, SIG_IGN);
  memset(&c, 0, sizeof c);
  answered_ids = calloc(o.requests + 1, 1);
  if (answered_ids == NULL)
    die("calloc");
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    die("socketpair");
  t0 = now_ms();
  c.pid = spawn(&o, sv[1]);
  close(sv[1]);
  c.fd = sv[0];
  fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);

  if (o.setup_file != NULL)
    setup = slurp(o.setup_file, &setup_len);
  if (o.config != NULL) {
    init.config.data = (uint8_t *)o.config;
    init.config.len = strlen(o.config);
  }
  init.scenario_setup.data = setup;
  init.scenario_setup.len = setup_len;
  init.max_in_flight = (uint32_t)o.inflight;
  init.max_response_bytes = o.max_response;
  init_len = sbx__v1__plugin_init__get_packed_size(&init);
  init_buf = malloc(init_len + 1);
  if (init_buf == NULL)
    die("malloc");
  sbx__v1__plugin_init__pack(&init, init_buf);
  queue(&c, SBX_FRAME_INIT, 0, init_buf, init_len);
  free(init_buf);

  for (;;) {
    struct pollfd p = {c.fd, POLLIN, 0};
    double now = now_ms();
    long wait;
    int pr;

    /* Top up the window once HELLO is in. */
    while (hello_seen && sent < o.requests && sent - answered < o.inflight) {
      sent++;
      queue(&c, SBX_FRAME_REQUEST, sent, (const uint8_t *)o.payload,
            strlen(o.payload));
      if (sent - answered == 1)
        deadline_base = now_ms();
    }
    if (hello_seen && answered == o.requests && !shutdown_sent) {
      shutdown_sent = 1;
      if (o.eof) {
        shutdown(c.fd, SHUT_WR);
      } else {
        queue(&c, SBX_FRAME_SHUTDOWN, 0, NULL, 0);
      }
    }
    if (c.out_len > 0)
      p.events |= POLLOUT;
    if (!hello_seen)
      wait = (long)(t0 + 10000 - now);
    else if (sent > answered)
      wait = (long)(deadline_base + (double)o.timeout_ms - now);
    else
      wait = 5000;
    if (wait < 0)
      wait = 0;
    pr = poll(&p, 1, (int)wait);
    if (pr < 0 && errno == EINTR)
      continue;
    if (pr == 0) {
      if (!hello_seen)
        printf("timeout waiting for HELLO\n");
      else if (sent > answered) {
        unsigned long id = 1;
        while (id <= sent && answered_ids[id])
          id++;
        printf("timeout id=%lu after_ms=%ld\n", id, o.timeout_ms);
      } else
        printf("timeout waiting for the host to exit\n");
      failed = 1;
      kill_host(&c);
      break;
    }
    if (p.revents & POLLOUT) {
      ssize_t w = write(c.fd, c.out, c.out_len);
      if (w > 0) {
        memmove(c.out, c.out + w, c.out_len - (size_t)w);
        c.out_len -= (size_t)w;
      } else if (w < 0 && errno != EAGAIN) {
        printf("write-error %s\n", strerror(errno));
        failed = 1;
        break;
      }
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r;
      size_t off = 0;

      reserve(&c.in, &c.in_cap, c.in_len + 65536);
      r = read(c.fd, c.in + c.in_len, c.in_cap - c.in_len);
      if (r == 0 || (r < 0 && errno != EAGAIN)) {
        printf("eof%s%s\n", r < 0 ? " " : "", r < 0 ? strerror(errno) : "");
        if (!shutdown_sent)
          failed = 1;
        break;
      }
      if (r > 0)
        c.in_len += (size_t)r;
      for (;;) {
        struct sbx_frame f;
        char diag[200];
        long n =
            sbx_frame_decode(c.in + off, c.in_len - off,
                             (uint32_t)o.max_response, &f, diag, sizeof diag);
        if (n == 0)
          break;
        if (n < 0) {
          printf("protocol %s\n", diag);
          failed = 1;
          kill_host(&c);
          goto end;
        }
        off += (size_t)n;
        if (f.type == SBX_FRAME_HELLO && !hello_seen) {
          Sbx__V1__PluginHello *h =
              sbx__v1__plugin_hello__unpack(NULL, f.payload_len, f.payload);
          size_t i;
          t_hello = now_ms();
          hello_seen = 1;
          printf("hello status=%u ms=%.2f", (unsigned)f.status, t_hello - t0);
          if (h == NULL) {
            printf(" (malformed PluginHello)\n");
            failed = 1;
            kill_host(&c);
            goto end;
          }
          printf(" name=%s version=%s abi=%u batch=%d layers=", h->name,
                 h->version, (unsigned)h->abi_version, (int)h->batch);
          for (i = 0; i < h->n_layers; i++)
            printf("%s%s", i ? "," : "", h->layers[i]);
          printf(" message=%s\n", h->message);
          sbx__v1__plugin_hello__free_unpacked(h, NULL);
          if (f.status != 0) {
            failed = 1;
            goto end;
          }
        } else if (f.type == SBX_FRAME_RESPONSE && hello_seen) {
          if (f.id == 0 || f.id > sent || answered_ids[f.id]) {
            printf("protocol unknown or duplicate id %llu\n",
                   (unsigned long long)f.id);
            failed = 1;
            kill_host(&c);
            goto end;
          }
          answered_ids[f.id] = 1;
          answered++;
          deadline_base = now_ms();
          if (f.status != 0)
            errors++;
          if (!o.quiet || f.status != 0) {
            printf("response id=%llu status=%u len=%u body=",
                   (unsigned long long)f.id, (unsigned)f.status,
                   (unsigned)f.payload_len);
            print_body(f.payload, f.payload_len);
            putchar('\n');
          }
        } else {
          printf("protocol unexpected frame type %u\n", (unsigned)f.type);
          failed = 1;
          kill_host(&c);
          goto end;
        }
      }
      memmove(c.in, c.in + off, c.in_len - off);
      c.in_len -= off;
    }
  }
end:
  fflush(stdout);
  {
    double ms = now_ms() - (t_hello > 0 ? t_hello : t0);
    rc = report_exit(&c, failed ? 2000 : 5000);
    printf("done sent=%lu answered=%lu errors=%lu ms=%.1f rate=%.0f\n", sent,
           answered, errors, ms, ms > 0 ? (double)answered * 1000.0 / ms : 0);
  }
  close(c.fd);
  free(c.in);
  free(c.out);
  free(setup);
  free(answered_ids);
  return failed || errors > 0 || rc != 0 ? 1 : 0;
}
