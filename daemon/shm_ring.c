/* shm_ring.c - the shared-memory rings of shm_ring.h.
 *
 * Indices are free-running uint64 byte counts; a ring position is the count
 * masked by the (power of two) ring size. Each side keeps a private copy of
 * the index it owns and only ever publishes it; the peer's index is loaded
 * once per operation and accepted only if it is consistent with what this
 * side knows (a consumer can never be ahead of what was produced, a
 * producer never more than a ring ahead of what was consumed, and neither
 * moves backwards). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shm_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define RING_MAGIC 0x52584253u /* "SBXR" little-endian */
#define RING_VERSION 1u
#define HDR_BYTES 4096u
#define LINE 64

/* The shared header. Every field the peer may scribble on is read through
 * an atomic load and validated. */
struct ring_hdr {
  uint32_t magic;
  uint32_t version;
  uint64_t ring_bytes;
  _Alignas(LINE) _Atomic uint64_t req_head;  /* daemon publishes */
  _Alignas(LINE) _Atomic uint64_t req_tail;  /* host publishes */
  _Alignas(LINE) _Atomic uint64_t resp_head; /* host publishes */
  _Alignas(LINE) _Atomic uint64_t resp_tail; /* daemon publishes */
  _Alignas(LINE) _Atomic uint32_t host_waiting;
  _Alignas(LINE) _Atomic uint32_t daemon_waiting;
};

_Static_assert(sizeof(struct ring_hdr) <= HDR_BYTES, "ring header too big");

struct sbx_ring {
  int is_host;
  int memfd;
  int bell_in;  /* this side sleeps on it */
  int bell_out; /* this side rings the peer with it */
  uint8_t *map;
  size_t map_len;
  uint64_t size; /* bytes per ring, power of two */
  uint64_t mask;

  uint8_t *out_data;
  _Atomic uint64_t *out_head_pub; /* ours, published */
  _Atomic uint64_t *out_tail_peer;
  uint64_t out_head;      /* private truth */
  uint64_t out_tail_seen; /* last accepted peer value */

  uint8_t *in_data;
  _Atomic uint64_t *in_head_peer;
  _Atomic uint64_t *in_tail_pub; /* ours, published */
  uint64_t in_tail;              /* private truth */

  _Atomic uint32_t *my_waiting;
  _Atomic uint32_t *peer_waiting;
};

static void bind_views(struct sbx_ring *r) {
  struct ring_hdr *h = (struct ring_hdr *)r->map;
  uint8_t *req = r->map + HDR_BYTES;
  uint8_t *resp = req + r->size;

  r->mask = r->size - 1;
  if (r->is_host) {
    r->out_data = resp;
    r->out_head_pub = &h->resp_head;
    r->out_tail_peer = &h->resp_tail;
    r->in_data = req;
    r->in_head_peer = &h->req_head;
    r->in_tail_pub = &h->req_tail;
    r->my_waiting = &h->host_waiting;
    r->peer_waiting = &h->daemon_waiting;
  } else {
    r->out_data = req;
    r->out_head_pub = &h->req_head;
    r->out_tail_peer = &h->req_tail;
    r->in_data = resp;
    r->in_head_peer = &h->resp_head;
    r->in_tail_pub = &h->resp_tail;
    r->my_waiting = &h->daemon_waiting;
    r->peer_waiting = &h->host_waiting;
  }
  r->out_head = 0;
  r->out_tail_seen = 0;
  r->in_tail = 0;
}

static struct sbx_ring *ring_new(void) {
  struct sbx_ring *r = calloc(1, sizeof(*r));
  if (r != NULL)
    r->memfd = r->bell_in = r->bell_out = -1;
  return r;
}

int sbx_ring_create(size_t ring_bytes, struct sbx_ring **out,
                    struct sbx_diag *diag) {
  struct sbx_ring *r = NULL;
  struct ring_hdr *h;
  uint64_t size = SBX_RING_MIN_BYTES;
  int rc = SBX_ENOMEM;

  *out = NULL;
  if (ring_bytes == 0)
    ring_bytes = SBX_RING_DEFAULT_BYTES;
  if (ring_bytes > SBX_RING_MAX_BYTES)
    ring_bytes = SBX_RING_MAX_BYTES;
  while (size < ring_bytes)
    size <<= 1;
  r = ring_new();
  if (r == NULL)
    goto out;
  r->size = size;
  r->map_len = HDR_BYTES + 2 * (size_t)size;
  rc = SBX_EIO;
  r->memfd = memfd_create("sbx-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (r->memfd < 0) {
    sbx_diag_set(diag, "shared-memory ring: memfd_create: %s", strerror(errno));
    goto out;
  }
  if (ftruncate(r->memfd, (off_t)r->map_len) != 0) {
    sbx_diag_set(diag, "shared-memory ring: ftruncate to %zu bytes: %s",
                 r->map_len, strerror(errno));
    goto out;
  }
  /* The host must not be able to shrink the file under our mapping (that
   * would turn our reads into SIGBUS). */
  if (fcntl(r->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) !=
      0) {
    sbx_diag_set(diag, "shared-memory ring: sealing the memfd: %s",
                 strerror(errno));
    goto out;
  }
  r->map =
      mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd, 0);
  if (r->map == MAP_FAILED) {
    r->map = NULL;
    sbx_diag_set(diag, "shared-memory ring: mmap of %zu bytes: %s", r->map_len,
                 strerror(errno));
    goto out;
  }
  r->bell_out = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  r->bell_in = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (r->bell_out < 0 || r->bell_in < 0) {
    sbx_diag_set(diag, "shared-memory ring: eventfd: %s", strerror(errno));
    goto out;
  }
  h = (struct ring_hdr *)r->map;
  h->magic = RING_MAGIC;
  h->version = RING_VERSION;
  h->ring_bytes = size;
  bind_views(r);
  *out = r;
  r = NULL;
  rc = 0;
out:
  sbx_ring_free(r);
  return rc;
}

int sbx_ring_attach(int memfd, int doorbell_in, int doorbell_out,
                    struct sbx_ring **out, struct sbx_diag *diag) {
  struct sbx_ring *r = NULL;
  struct ring_hdr hdr;
  struct stat st;
  int rc = SBX_EIO;

  *out = NULL;
  if (fstat(memfd, &st) != 0) {
    sbx_diag_set(diag, "ring fd %d: fstat: %s", memfd, strerror(errno));
    goto out;
  }
  rc = SBX_EPROTO;
  if (st.st_size < (off_t)HDR_BYTES ||
      pread(memfd, &hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
    sbx_diag_set(diag, "ring fd %d: too small for a ring header", memfd);
    goto out;
  }
  if (hdr.magic != RING_MAGIC || hdr.version != RING_VERSION ||
      hdr.ring_bytes < SBX_RING_MIN_BYTES ||
      hdr.ring_bytes > SBX_RING_MAX_BYTES ||
      (hdr.ring_bytes & (hdr.ring_bytes - 1)) != 0 ||
      (uint64_t)st.st_size != HDR_BYTES + 2 * hdr.ring_bytes) {
    sbx_diag_set(diag,
                 "ring fd %d: bad header (magic 0x%08x, version %u, ring "
                 "size %llu, file size %lld)",
                 memfd, hdr.magic, hdr.version,
                 (unsigned long long)hdr.ring_bytes, (long long)st.st_size);
    goto out;
  }
  rc = SBX_ENOMEM;
  r = ring_new();
  if (r == NULL)
    goto out;
  r->is_host = 1;
  r->size = hdr.ring_bytes;
  r->map_len = (size_t)st.st_size;
  r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  if (r->map == MAP_FAILED) {
    r->map = NULL;
    rc = SBX_EIO;
    sbx_diag_set(diag, "ring fd %d: mmap: %s", memfd, strerror(errno));
    goto out;
  }
  bind_views(r);
  /* Start from whatever the daemon has already published (it may have
   * written INIT before we attached). */
  r->in_tail = atomic_load_explicit(r->in_tail_pub, memory_order_acquire);
  r->out_head = atomic_load_explicit(r->out_head_pub, memory_order_acquire);
  r->out_tail_seen = r->out_head;
  r->memfd = memfd;
  r->bell_in = doorbell_in;
  r->bell_out = doorbell_out;
  *out = r;
  r = NULL;
  rc = 0;
out:
  if (r != NULL) {
    if (r->map != NULL)
      munmap(r->map, r->map_len);
    free(r);
  }
  return rc;
}

void sbx_ring_fds(const struct sbx_ring *r, int *memfd, int *to_host,
                  int *to_daemon) {
  *memfd = r->memfd;
  *to_host = r->is_host ? r->bell_in : r->bell_out;
  *to_daemon = r->is_host ? r->bell_out : r->bell_in;
}

int sbx_ring_doorbell_fd(const struct sbx_ring *r) {
  return r->bell_in;
}

void sbx_ring_free(struct sbx_ring *r) {
  if (r == NULL)
    return;
  if (r->map != NULL)
    munmap(r->map, r->map_len);
  if (r->memfd >= 0)
    close(r->memfd);
  if (r->bell_in >= 0)
    close(r->bell_in);
  if (r->bell_out >= 0)
    close(r->bell_out);
  free(r);
}

static int ring_bell(struct sbx_ring *r) {
  uint64_t one = 1;

  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(r->peer_waiting, memory_order_relaxed) == 0)
    return 0;
  if (atomic_exchange_explicit(r->peer_waiting, 0, memory_order_seq_cst) == 0)
    return 0;
  for (;;) {
    if (write(r->bell_out, &one, sizeof(one)) == (ssize_t)sizeof(one))
      return 0;
    /* EAGAIN: the counter is saturated, so the peer has a wake-up pending
     * anyway. */
    if (errno == EAGAIN)
      return 0;
    if (errno != EINTR)
      return SBX_EIO;
  }
}

/* Loads and validates the consumer's tail of the outgoing ring; returns
 * the bytes in use or SBX_EPROTO. */
static long out_used(struct sbx_ring *r) {
  uint64_t t = atomic_load_explicit(r->out_tail_peer, memory_order_acquire);

  /* Must lie in [out_tail_seen, out_head]. */
  if (t - r->out_tail_seen > r->out_head - r->out_tail_seen)
    return SBX_EPROTO;
  r->out_tail_seen = t;
  return (long)(r->out_head - t);
}

static long in_avail(struct sbx_ring *r) {
  uint64_t h = atomic_load_explicit(r->in_head_peer, memory_order_acquire);
  uint64_t n = h - r->in_tail;

  if (n > r->size)
    return SBX_EPROTO;
  return (long)n;
}

long sbx_ring_space(struct sbx_ring *r) {
  long used = out_used(r);
  return used < 0 ? used : (long)(r->size - (uint64_t)used);
}

long sbx_ring_send(struct sbx_ring *r, const void *data, size_t len) {
  long space = sbx_ring_space(r);
  size_t n, off, first;
  int rc;

  if (space < 0)
    return space;
  n = len < (size_t)space ? len : (size_t)space;
  if (n == 0)
    return 0;
  off = (size_t)(r->out_head & r->mask);
  first = n < r->size - off ? n : (size_t)(r->size - off);
  memcpy(r->out_data + off, data, first);
  memcpy(r->out_data, (const uint8_t *)data + first, n - first);
  r->out_head += n;
  atomic_store_explicit(r->out_head_pub, r->out_head, memory_order_release);
  rc = ring_bell(r);
  return rc < 0 ? rc : (long)n;
}

long sbx_ring_recv(struct sbx_ring *r, void *buf, size_t cap) {
  long avail = in_avail(r);
  size_t n, off, first;
  int rc;

  if (avail < 0)
    return avail;
  n = cap < (size_t)avail ? cap : (size_t)avail;
  if (n == 0)
    return 0;
  off = (size_t)(r->in_tail & r->mask);
  first = n < r->size - off ? n : (size_t)(r->size - off);
  memcpy(buf, r->in_data + off, first);
  memcpy((uint8_t *)buf + first, r->in_data, n - first);
  r->in_tail += n;
  atomic_store_explicit(r->in_tail_pub, r->in_tail, memory_order_release);
  rc = ring_bell(r);
  return rc < 0 ? rc : (long)n;
}

int sbx_ring_prepare_sleep(struct sbx_ring *r, int want_space) {
  long avail, space = 0;

  atomic_store_explicit(r->my_waiting, 1, memory_order_seq_cst);
  atomic_thread_fence(memory_order_seq_cst);
  avail = in_avail(r);
  if (avail >= 0 && want_space)
    space = sbx_ring_space(r);
  if (avail < 0 || space < 0) {
    atomic_store_explicit(r->my_waiting, 0, memory_order_relaxed);
    return SBX_EPROTO;
  }
  if (avail > 0 || space > 0) {
    atomic_store_explicit(r->my_waiting, 0, memory_order_relaxed);
    return 0;
  }
  return 1;
}

void sbx_ring_woke(struct sbx_ring *r) {
  uint64_t v;

  atomic_store_explicit(r->my_waiting, 0, memory_order_relaxed);
  while (read(r->bell_in, &v, sizeof(v)) < 0 && errno == EINTR)
    ;
}

/* Sleeps on the doorbell and the socket. Returns 0 when woken by the
 * doorbell, 1 when the socket says the daemon is gone, SBX_EIO. */
static int host_sleep(struct sbx_ring *r, int sock_fd) {
  struct pollfd p[2];

  p[0].fd = r->bell_in;
  p[0].events = POLLIN;
  p[1].fd = sock_fd;
  p[1].events = POLLIN;
  for (;;) {
    p[0].revents = p[1].revents = 0;
    if (poll(p, 2, -1) >= 0)
      break;
    if (errno != EINTR)
      return SBX_EIO;
  }
  sbx_ring_woke(r);
  /* In ring mode the daemon never writes to the socket: readable means
   * closed. */
  if (p[1].revents != 0)
    return 1;
  return 0;
}

long sbx_ring_host_read(struct sbx_ring *r, int sock_fd, void *buf,
                        size_t cap) {
  for (;;) {
    long n = sbx_ring_recv(r, buf, cap);
    int s;

    if (n != 0)
      return n;
    s = sbx_ring_prepare_sleep(r, 0);
    if (s < 0)
      return s;
    if (s == 0)
      continue;
    s = host_sleep(r, sock_fd);
    if (s < 0)
      return s;
    if (s == 1) {
      /* Take what the daemon wrote before it closed. */
      n = sbx_ring_recv(r, buf, cap);
      return n;
    }
  }
}

int sbx_ring_host_write(struct sbx_ring *r, int sock_fd,
                        const struct iovec *iov, int iovcnt) {
  for (int i = 0; i < iovcnt; i++) {
    const uint8_t *p = iov[i].iov_base;
    size_t left = iov[i].iov_len;

    while (left > 0) {
      long n = sbx_ring_send(r, p, left);
      int s;

      if (n < 0)
        return (int)n;
      p += n;
      left -= (size_t)n;
      if (left == 0)
        break;
      s = sbx_ring_prepare_sleep(r, 1);
      if (s < 0)
        return s;
      if (s == 0)
        continue;
      s = host_sleep(r, sock_fd);
      if (s != 0)
        return SBX_EIO;
    }
  }
  return 0;
}
