/* shm_ring.h - two shared-memory byte rings between the daemon and a host.
 *
 * The plugin adapter can move its frames (ipc_frame.h) through a memfd
 * instead of the socketpair: one single-producer single-consumer ring per
 * direction (requests daemon -> host, responses host -> daemon), each a
 * plain byte stream carrying exactly the bytes the socket would carry, so
 * both sides keep their frame decoders. Each side has an eventfd doorbell
 * that the peer rings only when this side said it is going to sleep (its
 * "waiting" flag: set, full fence, re-check, then sleep), so with many
 * requests in flight almost no call costs a system call, and nobody spins.
 * The socketpair stays open for crash detection (EOF) and nothing else.
 *
 * The region is writable by the host, whose code is hostile: every index
 * read from it is read once, checked against the side's own private copy
 * and the ring size, and data is copied out before anyone parses it. A side
 * never trusts an index it owns back from shared memory. A corrupt index is
 * reported as SBX_EPROTO; nothing here can overread whatever the peer does.
 *
 * Layout of the memfd (sealed against shrinking and growing):
 *   page 0     header: magic "SBXR", version 1, ring size, then the four
 *              indices and two waiting flags, each on its own cache line
 *   page 1...  request ring data (ring_bytes), then response ring data
 *
 * Host side, in order (the file descriptors come from the daemon as fds 4,
 * 5 and 6 when the host is started with --ring):
 *   sbx_ring_attach(4, 5, 6, &r)           once, before the strict seccomp
 *   n = sbx_ring_host_read(r, ipc_fd, buf, cap)   instead of read(ipc_fd)
 *   sbx_ring_host_write(r, ipc_fd, iov, iovcnt)   instead of writev(ipc_fd)
 *   sbx_ring_free(r)                       at exit (optional)
 * The strict seccomp filter must then allow read/write on fds 5 and 6 and
 * poll/ppoll (the host sleeps in ppoll on fd 5 and on the ipc socket).
 */
#ifndef SBX_SHM_RING_H
#define SBX_SHM_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "err.h"

#define SBX_RING_DEFAULT_BYTES (1u << 20) /* per direction */
#define SBX_RING_MIN_BYTES 4096u
#define SBX_RING_MAX_BYTES (256u << 20)

/* The host's fixed descriptor numbers under --ring. */
#define SBX_RING_FD_MEM 4
#define SBX_RING_FD_TO_HOST 5   /* the host sleeps on this one */
#define SBX_RING_FD_TO_DAEMON 6 /* the daemon sleeps on this one */

struct sbx_ring;

/* Daemon side: creates the memfd (ring_bytes per direction, rounded up to
 * a power of two within SBX_RING_MIN_BYTES..SBX_RING_MAX_BYTES; 0 means the
 * default) and the two eventfds, all close-on-exec, the daemon's doorbell
 * non-blocking. Returns 0 and *out, or SBX_ENOMEM / SBX_EIO (diag says
 * which call failed); *out is NULL on failure. The ring owns the three
 * descriptors (see sbx_ring_fds) and closes them in sbx_ring_free(). */
int sbx_ring_create(size_t ring_bytes, struct sbx_ring **out,
                    struct sbx_diag *diag);

/* Host side: maps a region made by sbx_ring_create(), checking its header
 * and size. Takes ownership of the three descriptors on success only.
 * Returns 0 and *out, or SBX_EPROTO (not a valid region, diag says why),
 * SBX_EIO, SBX_ENOMEM. */
int sbx_ring_attach(int memfd, int doorbell_in, int doorbell_out,
                    struct sbx_ring **out, struct sbx_diag *diag);

/* The descriptors to hand to the host (daemon side): the memfd, the host's
 * doorbell and the daemon's doorbell. Still owned by the ring. */
void sbx_ring_fds(const struct sbx_ring *r, int *memfd, int *to_host,
                  int *to_daemon);

/* The eventfd this side sleeps on (for uv_poll on the daemon side). */
int sbx_ring_doorbell_fd(const struct sbx_ring *r);

/* Unmaps and closes everything. NULL is accepted. */
void sbx_ring_free(struct sbx_ring *r);

/* Copies up to len bytes into the outgoing ring and publishes them; rings
 * the peer's doorbell if the peer is waiting. Never blocks. Returns the
 * number of bytes taken (0 when the ring is full), or SBX_EPROTO if the
 * peer's index is corrupt (then nothing was written), SBX_EIO if the
 * doorbell could not be rung. */
long sbx_ring_send(struct sbx_ring *r, const void *data, size_t len);

/* Copies up to cap bytes out of the incoming ring into buf (private
 * memory) and frees their space, ringing the peer if it waits. Never
 * blocks. Returns bytes copied (0 when empty) or SBX_EPROTO / SBX_EIO. */
long sbx_ring_recv(struct sbx_ring *r, void *buf, size_t cap);

/* Bytes that could be sent right now (0: outgoing ring full); SBX_EPROTO
 * if the peer's index is corrupt. */
long sbx_ring_space(struct sbx_ring *r);

/* Before sleeping on the doorbell: announces the wait, fences, and checks
 * again. Returns 1 if the caller may sleep now (nothing to read and, when
 * want_space, still no room to send), 0 if it must not (the flag is then
 * withdrawn), or SBX_EPROTO. */
int sbx_ring_prepare_sleep(struct sbx_ring *r, int want_space);

/* After waking (or deciding not to sleep): withdraws the waiting flag and
 * empties the doorbell without blocking. */
void sbx_ring_woke(struct sbx_ring *r);

/* Host side, blocking: returns bytes read (> 0) as soon as some are in the
 * request ring, sleeping on the doorbell and sock_fd otherwise; 0 when the
 * daemon has closed sock_fd (shut down); SBX_EPROTO, SBX_EIO on errors. */
long sbx_ring_host_read(struct sbx_ring *r, int sock_fd, void *buf, size_t cap);

/* Host side, blocking: writes every byte of iov into the response ring,
 * sleeping while it is full. Returns 0, SBX_EIO when the daemon went away
 * (sock_fd closed) or a wait failed, SBX_EPROTO if the daemon's index is
 * corrupt. */
int sbx_ring_host_write(struct sbx_ring *r, int sock_fd,
                        const struct iovec *iov, int iovcnt);

#endif
