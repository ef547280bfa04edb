/* plugin.h - the "plugin" adapter: a vendor library in a jailed host.
 *
 * The adapter runs the vendor's shared library in a separate, jailed
 * process (`sbx-plugin-host`, see plugins/host/) started with uv_spawn,
 * and talks to it in frames (ipc_frame.h) over a stream socketpair passed
 * as the host's fd 3, or through shared-memory rings (shm_ring.h) with the
 * socket kept for crash detection. Many requests are in flight at once,
 * matched by id; frames queued during one loop turn leave in one write.
 *
 * Everything the host sends is hostile. The adapter supervises it:
 * - a host that dies (pidfd readable, socket EOF) fails every request it
 *   held with CRASH ("plugin host died: killed by signal 11 (SIGSEGV)");
 * - a request past its deadline (timeout_us) fails with TIMEOUT, the host
 *   is killed and the other requests it held fail with CRASH ("killed with
 *   the host after request N overran its deadline"); a request still
 *   waiting for a (re)starting host fails with TIMEOUT and kills nothing;
 * - a protocol violation (malformed frame, unknown or duplicate id,
 *   oversized answer, unexpected frame type) fails every request the host
 *   held with PROTOCOL and kills the host;
 * - a plugin error code N answers its request with OTHER, "plugin returned
 *   error N";
 * - after a death the host is restarted with backoff (10 ms doubling to
 *   1 s, reset by an answer); requests submitted meanwhile wait (they count
 *   against max_in_flight like any other);
 * - more than 5 deaths within 10 s, 3 deaths in a row without any answer,
 *   a setup failure (host exit status 70 and above before HELLO), a
 *   refusal in HELLO or a missing required jail layer end the run: the
 *   adapter calls a->on_fatal with the reason and fails new requests with
 *   OTHER.
 * Killing means SIGKILL to the host's process group and to every process
 * below it found in /proc. The host's stderr is kept (last 4 KiB) and
 * quoted in startup errors.
 *
 * Resource use (usage op): CPU time of the host and its descendants from
 * /proc/<pid>/stat (sampled every 250 ms and when a host is seen dying, so
 * up to 250 ms of a crashed host's last moments can be missed), peak RSS
 * (VmHWM), restarts, and the jail layers of the last HELLO.
 */
#ifndef SBX_PLUGIN_ADAPTER_H
#define SBX_PLUGIN_ADAPTER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "adapter.h"
#include "err.h"

#define SBX_PLUGIN_SOCKET 0 /* frames over the socketpair */
#define SBX_PLUGIN_RING 1   /* frames through shared-memory rings */

struct sbx_plugin_config {
  /* The sbx-plugin-host program. NULL: $SBX_PLUGIN_HOST if set, else
   * "sbx-plugin-host" in the directory of the running executable. */
  const char *host_path;
  const char *library; /* the vendor's .so */
  const uint8_t *config;
  size_t config_len; /* --plugin-config bytes */
  const uint8_t *setup;
  size_t setup_len; /* the scenario's setup bytes */
  uint32_t max_in_flight;
  int64_t timeout_us;          /* per request; <= 0: no deadline */
  uint64_t max_response_bytes; /* 0: 16 MiB */
  uint64_t memory_limit;       /* 0: 1 GiB */
  /* Jail layers the scenario requires (names as in PluginHello.layers). */
  const char *const *required_layers;
  size_t n_required_layers;
  int transport; /* SBX_PLUGIN_SOCKET or SBX_PLUGIN_RING */
  int no_jail;   /* benchmarks only: the host applies no layer */
};

/* Opens a plugin adapter on loop and starts the first host; returns at
 * once (the host's HELLO arrives later; requests submitted before it wait).
 * Every byte of cfg is copied, so cfg may go away after the call.
 *
 * Returns 0 and *out (release with (*out)->ops->close), or SBX_EINVAL (bad
 * max_in_flight or transport), SBX_ENOENT (library or host program missing,
 * not a regular file or not executable: diag says which path and how to
 * fix), SBX_EIO (socketpair, memfd or spawn failed, in diag), SBX_ENOMEM.
 * On failure *out is NULL and nothing is left on loop.
 *
 * submit() returns 0, SBX_EBUSY (max_in_flight requests already held),
 * SBX_ESTATE (closing), SBX_EINVAL (no case) or SBX_ENOMEM. */
int sbx_plugin_open(uv_loop_t *loop, const struct sbx_plugin_config *cfg,
                    sbx_adapter_done_cb on_done, void *data,
                    struct sbx_adapter **out, struct sbx_diag *diag);

/* The last bytes (at most 4 KiB) the current or last host wrote to stderr,
 * NUL-terminated; valid until the next loop callback. a must come from
 * sbx_plugin_open. */
const char *sbx_plugin_stderr(struct sbx_adapter *a);

/* The pid of the running host, or 0 when none is running (tests use it to
 * kill the host). */
int sbx_plugin_host_pid(struct sbx_adapter *a);

#endif
