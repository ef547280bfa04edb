/* host_main.c - sbx-plugin-host: command line, loading, the frame loop.
 *
 *   sbx-plugin-host --library PATH --ipc-fd N [--memory BYTES]
 *                   [--cpu-seconds N] [--max-open-files N] [--read PATH]...
 *                   [--no-jail] [--cgroup-name NAME] [--uid UID] [--ring]
 *                   [--verbose]
 *
 * After the jail (jail.c), the host loads the library, reads INIT, checks
 * the descriptor, calls create(), installs the strict seccomp filter and
 * answers HELLO; then it serves REQUEST frames until SHUTDOWN or EOF, when
 * it calls destroy() and exits 0. All the complete frames that one read()
 * brings are handled before the answers leave in one write (coalescing);
 * consecutive requests go to handle_batch() when the plugin has it.
 *
 * With --ring the frames travel through the shared-memory ring of
 * daemon/shm_ring.h (memfd on fd 4, doorbells on fds 5 and 6), attached
 * right after the jail and before dlopen, INIT included; the ipc socket
 * then only tells that the harness has gone (EOF). One batch of answers is
 * still one ring write.
 *
 * The plugin runs in this process, so nothing here is protected from it:
 * the protection is that this process cannot harm anything else, and that
 * the harness trusts nothing it writes. Exit codes are in host.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "ipc_frame.h"
#include "sbx/v1/plugin.pb-c.h"
#include "sbx_plugin.h"
#include "shm_ring.h"

#define DEFAULT_MEMORY (1ull << 30)
#define DEFAULT_CPU_SECONDS 3600u
#define DEFAULT_MAX_OPEN_FILES 64u
#define DEFAULT_RESPONSE_CAP (16u << 20)
#define DEFAULT_BATCH 64u
#define READ_CHUNK (256u << 10)
#define FLUSH_AT (1u << 20)

/* ---- logging and the layer record */

void sbx_host_log(const char *fmt, ...) {
  char line[1024];
  va_list ap;
  int n;

  n = snprintf(line, sizeof line, "sbx-plugin-host: ");
  va_start(ap, fmt);
  vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  n = (int)strlen(line);
  if ((size_t)n < sizeof line - 1)
    line[n++] = '\n';
  if (write(2, line, (size_t)n) < 0) {
    /* nowhere else to say it */
  }
}

void sbx_host_layer_add(struct sbx_host_layers *l, const char *name) {
  if (l->n < SBX_HOST_MAX_LAYERS)
    l->names[l->n++] = name;
}

static void append(char *buf, size_t cap, const char *sep, const char *fmt,
                   va_list ap) {
  size_t len = strlen(buf);

  if (len > 0 && sep != NULL && len + strlen(sep) < cap) {
    memcpy(buf + len, sep, strlen(sep) + 1);
    len += strlen(sep);
  }
  if (len < cap - 1)
    vsnprintf(buf + len, cap - len, fmt, ap);
}

void sbx_host_note(struct sbx_host_layers *l, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  append(l->notes, sizeof l->notes, "; ", fmt, ap);
  va_end(ap);
}

void sbx_host_detail(struct sbx_host_layers *l, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  append(l->detail, sizeof l->detail, NULL, fmt, ap);
  va_end(ap);
}

/* ---- command line */

static void usage(const char *fmt, const char *arg) __attribute__((noreturn));

static void usage(const char *fmt, const char *arg) {
  char msg[512];

  snprintf(msg, sizeof msg, fmt, arg);
  sbx_host_log("%s; usage: sbx-plugin-host --library PATH --ipc-fd N "
               "[--memory BYTES] [--cpu-seconds N] [--max-open-files N] "
               "[--read PATH]... [--no-jail] [--cgroup-name NAME] [--uid UID] "
               "[--ring] [--verbose]",
               msg);
  _exit(SBX_HOST_EXIT_USAGE);
}

static uint64_t number(const char *opt, const char *s, uint64_t min,
                       uint64_t max) {
  char *end = NULL;
  unsigned long long v;

  if (s == NULL)
    usage("%s needs a value", opt);
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min ||
      v > max) {
    char msg[200];
    snprintf(msg, sizeof msg,
             "%s: expected a number in %llu..%llu, got \"%.40s\"", opt,
             (unsigned long long)min, (unsigned long long)max, s);
    usage("%s", msg);
  }
  return v;
}

static int valid_cgroup_name(const char *s) {
  size_t i;
  size_t n = strlen(s);

  if (n == 0 || n > 64 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
    return 0;
  for (i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
      return 0;
  }
  return 1;
}

static void parse_args(int argc, char **argv, struct sbx_host_opts *o) {
  int uid_set = 0;
  int i;

  memset(o, 0, sizeof *o);
  o->ipc_fd = -1;
  o->memory = DEFAULT_MEMORY;
  o->cpu_seconds = DEFAULT_CPU_SECONDS;
  o->max_open_files = DEFAULT_MAX_OPEN_FILES;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;

    if (strcmp(a, "--library") == 0) {
      if (v == NULL || v[0] == '\0')
        usage("%s needs a path", a);
      o->library = v;
      i++;
    } else if (strcmp(a, "--ipc-fd") == 0) {
      o->ipc_fd = (int)number(a, v, 3, 1 << 20);
      i++;
    } else if (strcmp(a, "--memory") == 0) {
      o->memory = number(a, v, 16u << 20, 1ull << 46);
      i++;
    } else if (strcmp(a, "--cpu-seconds") == 0) {
      o->cpu_seconds = number(a, v, 1, 1u << 30);
      i++;
    } else if (strcmp(a, "--max-open-files") == 0) {
      o->max_open_files = number(a, v, 8, 1u << 20);
      i++;
    } else if (strcmp(a, "--read") == 0) {
      if (v == NULL || v[0] == '\0')
        usage("%s needs a path", a);
      if (o->n_read >= SBX_HOST_MAX_READ)
        usage("too many --read paths (the limit is %s)", "32");
      o->read_paths[o->n_read++] = v;
      i++;
    } else if (strcmp(a, "--no-jail") == 0) {
      o->no_jail = 1;
    } else if (strcmp(a, "--cgroup-name") == 0) {
      if (v == NULL || !valid_cgroup_name(v))
        usage("--cgroup-name: expected 1-64 of [A-Za-z0-9._-], got \"%s\"",
              v == NULL ? "" : v);
      o->cgroup_name = v;
      i++;
    } else if (strcmp(a, "--uid") == 0) {
      o->uid = (uid_t)number(a, v, 1, 0xfffffffeu);
      uid_set = 1;
      i++;
    } else if (strcmp(a, "--verbose") == 0) {
      o->verbose = 1;
    } else if (strcmp(a, "--ring") == 0) {
      o->ring = 1;
    } else {
      usage("unknown argument \"%s\"", a);
    }
  }
  if (o->library == NULL)
    usage("%s is required", "--library");
  if (o->ipc_fd < 0)
    usage("%s is required", "--ipc-fd");
  if (o->ring && o->ipc_fd >= SBX_RING_FD_MEM &&
      o->ipc_fd <= SBX_RING_FD_TO_DAEMON)
    usage("--ipc-fd %s collides with the ring's fds 4-6 (--ring)",
          o->ipc_fd == 4 ? "4" : o->ipc_fd == 5 ? "5" : "6");
  if (!uid_set)
    o->uid = (uid_t)(60000 + getpid() % 5000);
}

/* ---- I/O on the ipc descriptor */

struct io {
  int fd;
  struct sbx_ring *ring; /* --ring: frames go through it, not fd */
  uint8_t *in;
  size_t in_len;
  size_t in_cap;
  uint8_t *out;
  size_t out_len;
  size_t out_cap;
};

static int grow(uint8_t **buf, size_t *cap, size_t need) {
  size_t c = *cap == 0 ? 4096 : *cap;
  uint8_t *p;

  if (need <= *cap)
    return 0;
  while (c < need)
    c *= 2;
  p = realloc(*buf, c);
  if (p == NULL)
    return -1;
  *buf = p;
  *cap = c;
  return 0;
}

static void write_all(struct io *io, const uint8_t *p, size_t n) {
  if (io->ring != NULL) {
    struct iovec iov = {(void *)p, n};
    int rc = sbx_ring_host_write(io->ring, io->fd, &iov, 1);

    if (rc == SBX_EPROTO) {
      sbx_host_log("writing to the harness: the response ring's index is "
                   "corrupt");
      _exit(SBX_HOST_EXIT_PROTO);
    }
    if (rc != 0) {
      sbx_host_log("writing to the harness: it has gone (ring)");
      _exit(SBX_HOST_EXIT_IO);
    }
    return;
  }
  while (n > 0) {
    ssize_t w = write(io->fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      sbx_host_log("writing to the harness: %s",
                   w < 0 ? strerror(errno) : "short write");
      _exit(SBX_HOST_EXIT_IO);
    }
    p += w;
    n -= (size_t)w;
  }
}

static void flush(struct io *io) {
  if (io->out_len > 0)
    write_all(io, io->out, io->out_len);
  io->out_len = 0;
}

/* Reads more bytes; returns the count, 0 at EOF. Exits on errors. */
static size_t read_more(struct io *io, size_t want) {
  ssize_t r;

  if (grow(&io->in, &io->in_cap, io->in_len + want) != 0) {
    sbx_host_log("out of memory for a %zu-byte frame", io->in_len + want);
    _exit(SBX_HOST_EXIT_NOMEM);
  }
  if (io->ring != NULL) {
    long got = sbx_ring_host_read(io->ring, io->fd, io->in + io->in_len,
                                  io->in_cap - io->in_len);
    if (got < 0) {
      sbx_host_log("reading from the harness: %s",
                   got == SBX_EPROTO ? "the request ring's index is corrupt"
                                     : "waiting on the ring failed");
      _exit(got == SBX_EPROTO ? SBX_HOST_EXIT_PROTO : SBX_HOST_EXIT_IO);
    }
    io->in_len += (size_t)got;
    return (size_t)got;
  }
  for (;;) {
    r = read(io->fd, io->in + io->in_len, io->in_cap - io->in_len);
    if (r >= 0)
      break;
    if (errno != EINTR) {
      sbx_host_log("reading from the harness: %s", strerror(errno));
      _exit(SBX_HOST_EXIT_IO);
    }
  }
  io->in_len += (size_t)r;
  return (size_t)r;
}

/* Decodes the frame at in[off..]; returns its size, 0 if incomplete (and
 * *need says how many bytes the whole frame takes, when known). */
static size_t next_frame(struct io *io, size_t off, struct sbx_frame *f,
                         size_t *need) {
  char diag[160];
  long n = sbx_frame_decode(io->in + off, io->in_len - off,
                            SBX_FRAME_MAX_PAYLOAD, f, diag, sizeof diag);

  if (n < 0) {
    sbx_host_log("bad frame from the harness: %s", diag);
    _exit(SBX_HOST_EXIT_PROTO);
  }
  *need = 0;
  if (n == 0 && io->in_len - off >= 4) {
    const uint8_t *p = io->in + off;
    *need = ((size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 |
             (size_t)p[3] << 24) +
            4;
  }
  return (size_t)n;
}

static void send_frame(struct io *io, uint8_t type, uint16_t status,
                       uint64_t id, const uint8_t *payload, size_t len) {
  uint8_t hdr[SBX_FRAME_HEADER];

  sbx_frame_header(hdr, type, status, id, (uint32_t)len);
  if (grow(&io->out, &io->out_cap, io->out_len + sizeof hdr + len) != 0) {
    sbx_host_log("out of memory for a %zu-byte answer", len);
    _exit(SBX_HOST_EXIT_NOMEM);
  }
  memcpy(io->out + io->out_len, hdr, sizeof hdr);
  if (len > 0)
    memcpy(io->out + io->out_len + sizeof hdr, payload, len);
  io->out_len += sizeof hdr + len;
}

/* ---- the plugin's output */

struct reply {
  sbx_plugin_output out; /* what the plugin sees */
  uint8_t *buf;
  size_t len;
  size_t cap;
  size_t limit;
  int refused; /* a write went over the limit */
  int nomem;
};

static int reply_write(sbx_plugin_output *out, const void *data, size_t len) {
  struct reply *r = out->host_private;

  if (len == 0)
    return SBX_PLUGIN_OK;
  if (data == NULL || len > r->limit - r->len) {
    r->refused = 1;
    return SBX_PLUGIN_E_TOO_LARGE;
  }
  if (grow(&r->buf, &r->cap, r->len + len) != 0) {
    r->nomem = 1;
    return SBX_PLUGIN_E_NOMEM;
  }
  memcpy(r->buf + r->len, data, len);
  r->len += len;
  out->len = r->len;
  return SBX_PLUGIN_OK;
}

static void reply_reset(struct reply *r) {
  memset(&r->out, 0, sizeof r->out);
  r->out.write = reply_write;
  r->out.limit = r->limit;
  r->out.host_private = r;
  r->len = 0;
  r->refused = 0;
  r->nomem = 0;
}

static uint16_t result_code(const struct reply *r, int rc) {
  if (r->refused)
    return SBX_PLUGIN_E_TOO_LARGE;
  if (r->nomem)
    return SBX_PLUGIN_E_NOMEM;
  if (rc < 0 || rc > 65535)
    return SBX_PLUGIN_E_INTERNAL;
  return (uint16_t)rc;
}

static void reply_send(struct io *io, uint64_t id, const struct reply *r,
                       int rc) {
  uint16_t code = result_code(r, rc);

  send_frame(io, SBX_FRAME_RESPONSE, code, id, code == 0 ? r->buf : NULL,
             code == 0 ? r->len : 0);
}

/* ---- HELLO */

static void printable(char *dst, size_t cap, const char *src) {
  size_t i = 0;

  if (src != NULL) {
    for (; src[i] != '\0' && i < cap - 1; i++)
      dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
  }
  dst[i] = '\0';
}

static void send_hello(struct io *io, uint16_t status,
                       const sbx_plugin_descriptor *d,
                       const struct sbx_host_layers *l, const char *message) {
  Sbx__V1__PluginHello h = SBX__V1__PLUGIN_HELLO__INIT;
  char name[128], version[128], vendor[128];
  char *cgroups[SBX_HOST_CG_MAX];
  uint8_t *buf;
  size_t len;
  size_t i;

  h.abi_version = SBX_PLUGIN_ABI_VERSION;
  if (d != NULL) {
    printable(name, sizeof name, d->name);
    printable(version, sizeof version, d->version);
    printable(vendor, sizeof vendor, d->vendor);
    h.name = name;
    h.version = version;
    h.vendor = vendor;
    h.batch = status == 0 && d->handle_batch != NULL;
  }
  h.n_layers = l->n;
  h.layers = (char **)l->names;
  h.message = (char *)message;
  for (i = 0; i < l->n_cgroups && i < SBX_HOST_CG_MAX; i++)
    cgroups[i] = (char *)l->cgroups[i];
  h.n_cgroups = i;
  h.cgroups = cgroups;
  len = sbx__v1__plugin_hello__get_packed_size(&h);
  buf = malloc(len + 1);
  if (buf == NULL) {
    sbx_host_log("out of memory for HELLO");
    _exit(SBX_HOST_EXIT_NOMEM);
  }
  sbx__v1__plugin_hello__pack(&h, buf);
  send_frame(io, SBX_FRAME_HELLO, status, 0, buf, len);
  free(buf);
  flush(io);
}

static void refuse(struct io *io, uint16_t code, int exit_code,
                   const sbx_plugin_descriptor *d,
                   const struct sbx_host_layers *l, const char *fmt, ...)
    __attribute__((format(printf, 6, 7), noreturn));

static void refuse(struct io *io, uint16_t code, int exit_code,
                   const sbx_plugin_descriptor *d,
                   const struct sbx_host_layers *l, const char *fmt, ...) {
  char msg[768];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sbx_host_log("%s", msg);
  send_hello(io, code, d, l, msg);
  _exit(exit_code);
}

/* Checks the descriptor; returns NULL or what is wrong with it. */
static const char *check_descriptor(const sbx_plugin_descriptor *d, char *buf,
                                    size_t cap) {
  size_t i;

  if (d == NULL)
    return "sbx_plugin_entry() returned NULL";
  if (d->abi_version != SBX_PLUGIN_ABI_VERSION) {
    snprintf(buf, cap,
             "plugin ABI %u, host ABI %u: rebuild the plugin against the "
             "sbx_plugin.h of this sandboxd",
             (unsigned)d->abi_version, (unsigned)SBX_PLUGIN_ABI_VERSION);
    return buf;
  }
  if (d->signature == NULL || strncmp(d->signature, SBX_PLUGIN_SIGNATURE,
                                      sizeof SBX_PLUGIN_SIGNATURE) != 0) {
    char sig[32];
    printable(sig, sizeof sig, d->signature);
    snprintf(buf, cap, "plugin signature \"%s\", host \"%s\"", sig,
             SBX_PLUGIN_SIGNATURE);
    return buf;
  }
  if (d->struct_size < sizeof *d) {
    snprintf(buf, cap,
             "plugin descriptor of %u bytes, host ABI %u needs %zu "
             "(struct_size must be sizeof(sbx_plugin_descriptor))",
             (unsigned)d->struct_size, (unsigned)SBX_PLUGIN_ABI_VERSION,
             sizeof *d);
    return buf;
  }
  if (d->name == NULL || d->name[0] == '\0')
    return "the descriptor has no name";
  if (d->create == NULL || d->handle == NULL || d->destroy == NULL)
    return "the descriptor lacks create, handle or destroy";
  if (d->flags != 0)
    return "descriptor flags must be 0 in ABI 1";
  for (i = 0; i < sizeof d->reserved / sizeof d->reserved[0]; i++) {
    if (d->reserved[i] != NULL)
      return "descriptor reserved slots must be NULL in ABI 1";
  }
  return NULL;
}

/* ---- serving */

struct server {
  struct io io;
  const sbx_plugin_descriptor *d;
  void *instance;
  size_t batch_max;
  struct reply *replies; /* batch_max of them */
  sbx_plugin_input *inputs;
  int *results;
  uint64_t *ids;
};

static void serve_one(struct server *s, const struct sbx_frame *f) {
  struct reply *r = &s->replies[0];
  int rc;

  reply_reset(r);
  rc = s->d->handle(s->instance, f->payload, f->payload_len, &r->out);
  reply_send(&s->io, f->id, r, rc);
}

static void serve_batch(struct server *s, size_t n) {
  size_t i;
  int rc;

  for (i = 0; i < n; i++) {
    reply_reset(&s->replies[i]);
    s->results[i] = SBX_PLUGIN_OK;
  }
  /* The outputs are handed over as an array of sbx_plugin_output; each
   * reply keeps its own, so they are gathered into a contiguous array. */
  {
    sbx_plugin_output outs[DEFAULT_BATCH];
    for (i = 0; i < n; i++)
      outs[i] = s->replies[i].out;
    rc = s->d->handle_batch(s->instance, s->inputs, n, outs, s->results);
  }
  for (i = 0; i < n; i++)
    reply_send(&s->io, s->ids[i], &s->replies[i], rc != 0 ? rc : s->results[i]);
}

static void finish(struct server *s) __attribute__((noreturn));

static void finish(struct server *s) {
  flush(&s->io);
  s->d->destroy(s->instance);
  /* _exit: no atexit handlers (LeakSanitizer cannot work in the jail). */
  _exit(SBX_HOST_EXIT_OK);
}

static void serve(struct server *s) {
  for (;;) {
    size_t off = 0;
    size_t need = 0;
    struct sbx_frame f;
    size_t n;

    /* Handle every complete frame we have. */
    while ((n = next_frame(&s->io, off, &f, &need)) > 0) {
      if (f.type == SBX_FRAME_SHUTDOWN)
        finish(s);
      if (f.type != SBX_FRAME_REQUEST) {
        sbx_host_log("unexpected frame type %u from the harness after INIT",
                     (unsigned)f.type);
        flush(&s->io);
        _exit(SBX_HOST_EXIT_PROTO);
      }
      if (s->d->handle_batch == NULL || s->batch_max < 2) {
        serve_one(s, &f);
        off += n;
      } else {
        /* Gather consecutive requests. */
        size_t k = 0;
        size_t next = off;
        struct sbx_frame g;
        size_t m;

        while (k < s->batch_max &&
               (m = next_frame(&s->io, next, &g, &need)) > 0 &&
               g.type == SBX_FRAME_REQUEST) {
          s->inputs[k].data = g.payload;
          s->inputs[k].len = g.payload_len;
          s->ids[k] = g.id;
          k++;
          next += m;
        }
        if (k == 1)
          serve_one(s, &f);
        else
          serve_batch(s, k);
        off = next;
      }
      if (s->io.out_len >= FLUSH_AT)
        flush(&s->io);
    }
    flush(&s->io);
    /* Keep the incomplete tail, then read more. */
    if (off > 0) {
      memmove(s->io.in, s->io.in + off, s->io.in_len - off);
      s->io.in_len -= off;
    }
    if (read_more(&s->io,
                  need > s->io.in_len ? need - s->io.in_len : READ_CHUNK) == 0)
      finish(s); /* EOF: the harness is gone or done */
  }
}

static Sbx__V1__PluginInit *read_init(struct io *io, size_t *consumed) {
  struct sbx_frame f;
  size_t need = 0;
  size_t n;
  Sbx__V1__PluginInit *init;

  while ((n = next_frame(io, 0, &f, &need)) == 0) {
    if (read_more(io, need > io->in_len ? need - io->in_len : READ_CHUNK) ==
        0) {
      sbx_host_log("the harness closed the connection before INIT");
      _exit(SBX_HOST_EXIT_PROTO);
    }
  }
  if (f.type != SBX_FRAME_INIT) {
    sbx_host_log("expected INIT from the harness, got frame type %u",
                 (unsigned)f.type);
    _exit(SBX_HOST_EXIT_PROTO);
  }
  init = sbx__v1__plugin_init__unpack(NULL, f.payload_len, f.payload);
  if (init == NULL) {
    sbx_host_log("INIT: malformed PluginInit (%u bytes)",
                 (unsigned)f.payload_len);
    _exit(SBX_HOST_EXIT_PROTO);
  }
  *consumed = n;
  return init;
}

static double now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  static const uint8_t empty[1];
  struct sbx_host_opts o;
  struct sbx_host_layers l;
  struct server s;
  char lib[PATH_MAX];
  char why[512];
  const char *bad;
  const sbx_plugin_descriptor *(*entry)(void);
  Sbx__V1__PluginInit *init;
  void *dl;
  size_t consumed = 0;
  uint64_t cap;
  double t0 = now_ms();
  int rc;
  size_t i;

  parse_args(argc, argv, &o);
  memset(&l, 0, sizeof l);
  memset(&s, 0, sizeof s);
  sbx_host_jail(&o, &l, lib, sizeof lib);
  s.io.fd = o.ipc_fd;
  if (o.ring) {
    /* Before the library: INIT is already waiting in the ring. */
    struct sbx_diag diag;

    memset(&diag, 0, sizeof diag);
    rc = sbx_ring_attach(SBX_RING_FD_MEM, SBX_RING_FD_TO_HOST,
                         SBX_RING_FD_TO_DAEMON, &s.io.ring, &diag);
    if (rc != 0) {
      sbx_host_log("--ring: attaching the shared-memory ring on fds 4-6: %s "
                   "(the harness must pass the memfd and both eventfds)",
                   diag.msg[0] != '\0' ? diag.msg : "failed");
      _exit(SBX_HOST_EXIT_IO);
    }
    sbx_host_detail(&l, "ring transport; ");
  }

  /* The library's constructors run here, inside the jail. */
  dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  snprintf(why, sizeof why, "%s", dl == NULL ? dlerror() : "");
  init = read_init(&s.io, &consumed);
  if (dl == NULL)
    refuse(&s.io, SBX_PLUGIN_E_LOAD, SBX_HOST_EXIT_LOAD, NULL, &l,
           "cannot load %s: %s", o.library, why);
  *(void **)&entry = dlsym(dl, SBX_PLUGIN_ENTRY_SYMBOL);
  if (entry == NULL)
    refuse(&s.io, SBX_PLUGIN_E_LOAD, SBX_HOST_EXIT_LOAD, NULL, &l,
           "%s does not export %s(): is it an sbx plugin, built with "
           "SBX_PLUGIN_EXPORT?",
           o.library, SBX_PLUGIN_ENTRY_SYMBOL);
  s.d = entry();
  bad = check_descriptor(s.d, why, sizeof why);
  if (bad != NULL)
    refuse(&s.io, SBX_PLUGIN_E_ABI, SBX_HOST_EXIT_ABI, NULL, &l,
           "%s refused: %s", o.library, bad);

  cap = init->max_response_bytes == 0 ? DEFAULT_RESPONSE_CAP
                                      : init->max_response_bytes;
  if (cap > SBX_FRAME_MAX_PAYLOAD)
    cap = SBX_FRAME_MAX_PAYLOAD;
  s.batch_max = 1;
  if (s.d->handle_batch != NULL)
    s.batch_max = s.d->max_batch == 0 || s.d->max_batch > DEFAULT_BATCH
                      ? DEFAULT_BATCH
                      : s.d->max_batch;
  s.replies = calloc(s.batch_max, sizeof *s.replies);
  s.inputs = calloc(s.batch_max, sizeof *s.inputs);
  s.results = calloc(s.batch_max, sizeof *s.results);
  s.ids = calloc(s.batch_max, sizeof *s.ids);
  if (s.replies == NULL || s.inputs == NULL || s.results == NULL ||
      s.ids == NULL) {
    sbx_host_log("out of memory");
    _exit(SBX_HOST_EXIT_NOMEM);
  }
  for (i = 0; i < s.batch_max; i++) {
    s.replies[i].limit = (size_t)cap;
    if (grow(&s.replies[i].buf, &s.replies[i].cap, 4096) != 0)
      _exit(SBX_HOST_EXIT_NOMEM);
  }

  rc = s.d->create(
      init->config.len > 0 ? init->config.data : empty, init->config.len,
      init->scenario_setup.len > 0 ? init->scenario_setup.data : empty,
      init->scenario_setup.len, &s.instance);
  sbx__v1__plugin_init__free_unpacked(init, NULL);
  if (rc != 0)
    refuse(&s.io, SBX_PLUGIN_E_CREATE, SBX_HOST_EXIT_CREATE, s.d, &l,
           "plugin %s: create() returned %d", o.library, rc);
  /* Requests that came with INIT stay in the buffer. */
  memmove(s.io.in, s.io.in + consumed, s.io.in_len - consumed);
  s.io.in_len -= consumed;

  if (!o.no_jail) {
    rc = sbx_host_seccomp_strict(o.ipc_fd, o.ring);
    if (rc != 0) {
      sbx_host_log("strict seccomp filter: %s", strerror(-rc));
      _exit(SBX_HOST_EXIT_JAIL);
    }
    sbx_host_layer_add(&l, "seccomp_strict");
  }
  {
    char msg[sizeof l.detail + sizeof l.notes + 32];
    snprintf(msg, sizeof msg, "%s%s%s", l.detail,
             l.notes[0] != '\0' ? "not engaged: " : "", l.notes);
    if (l.notes[0] != '\0')
      sbx_host_log("not engaged: %s", l.notes);
    if (o.verbose) {
      char names[256] = "";
      for (i = 0; i < l.n; i++) {
        size_t len = strlen(names);
        snprintf(names + len, sizeof names - len, "%s%s", i ? "," : "",
                 l.names[i]);
      }
      sbx_host_log("ready in %.2f ms; layers %s; %s", now_ms() - t0, names,
                   l.detail);
    }
    send_hello(&s.io, 0, s.d, &l, msg);
  }
  serve(&s);
  return 0;
}
