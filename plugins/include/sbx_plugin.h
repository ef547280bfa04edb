/* sbx_plugin.h - the sandboxd vendor plugin SDK (ABI 1, "sbx-plugin/1").
 *
 * A plugin is a shared library that sandboxd loads into a jailed helper
 * process, `sbx-plugin-host`, and drives with the cases of a scenario. This
 * header is the whole contract between the two: it is self-contained (C99
 * or later, C++ friendly, nothing but <stddef.h> and <stdint.h>), exposes no
 * sandboxd structure, and every rule a plugin must follow is written here.
 *
 * Build:
 *
 *   cc -shared -fPIC -O2 $(pkg-config --cflags sbx-plugin) \
 *      -o libmydetector.so mydetector.c
 *
 * Run:
 *
 *   sbx test --scenario sandbox-specs/sensor-anomaly \
 *            --plugin ./libmydetector.so [--plugin-config cfg.json]
 *
 * ---------------------------------------------------------------------------
 * A minimal complete plugin (it answers every request with its input, upper
 * cased; copy it, it compiles as is):
 *
 *   #include <ctype.h>
 *   #include <stdlib.h>
 *   #include <string.h>
 *   #include <sbx_plugin.h>
 *
 *   struct upper { unsigned long calls; };
 *
 *   static int upper_create(const uint8_t *config, size_t config_len,
 *                           const uint8_t *setup, size_t setup_len,
 *                           void **instance)
 *   {
 *     struct upper *u = calloc(1, sizeof *u);
 *     (void)config; (void)config_len; (void)setup; (void)setup_len;
 *     if (u == NULL)
 *       return SBX_PLUGIN_E_NOMEM;
 *     *instance = u;
 *     return SBX_PLUGIN_OK;
 *   }
 *
 *   static int upper_handle(void *instance, const uint8_t *in, size_t in_len,
 *                           sbx_plugin_output *out)
 *   {
 *     struct upper *u = instance;
 *     uint8_t buf[256];
 *     size_t done = 0;
 *     u->calls++;
 *     while (done < in_len) {
 *       size_t n = in_len - done < sizeof buf ? in_len - done : sizeof buf;
 *       for (size_t i = 0; i < n; i++)
 *         buf[i] = (uint8_t)toupper(in[done + i]);
 *       int rc = out->write(out, buf, n);
 *       if (rc != SBX_PLUGIN_OK)
 *         return rc;               // SBX_PLUGIN_E_TOO_LARGE: answer too big
 *       done += n;
 *     }
 *     return SBX_PLUGIN_OK;
 *   }
 *
 *   static void upper_destroy(void *instance) { free(instance); }
 *
 *   static const sbx_plugin_descriptor upper_descriptor = {
 *     .abi_version = SBX_PLUGIN_ABI_VERSION,
 *     .struct_size = sizeof(sbx_plugin_descriptor),
 *     .signature = SBX_PLUGIN_SIGNATURE,
 *     .name = "upper",
 *     .version = "1.0.0",
 *     .vendor = "Example Corp",
 *     .create = upper_create,
 *     .handle = upper_handle,
 *     .destroy = upper_destroy,
 *   };
 *
 *   SBX_PLUGIN_EXPORT const sbx_plugin_descriptor *sbx_plugin_entry(void)
 *   {
 *     return &upper_descriptor;
 *   }
 *
 * (Or, for the last five lines: SBX_PLUGIN_DEFINE(upper_descriptor).)
 * ---------------------------------------------------------------------------
 *
 * LIFE OF A PLUGIN
 *
 *   1. The host jails itself (its own uid, rlimits, no_new_privs, seccomp,
 *      namespaces, Landlock, cgroups: whatever the machine offers), THEN
 *      loads the library with dlopen(RTLD_NOW | RTLD_LOCAL). Constructors
 *      therefore run inside the jail; anything they try (fork, exec, sockets,
 *      opening host files) fails or kills the host.
 *   2. The host calls sbx_plugin_entry() once and checks the descriptor
 *      (ABI rules below). A mismatch is refused before any callback runs.
 *   3. create() once, with the vendor's configuration bytes (--plugin-config)
 *      and the scenario's setup bytes (e.g. a road graph).
 *   4. The host then installs a strict allowlist seccomp filter (see
 *      "AFTER CREATE" below) and starts serving: handle() once per request,
 *      or handle_batch() for several at a time when the plugin offers it.
 *   5. destroy() once, when the harness ends the run normally (SHUTDOWN or
 *      the harness closing its end). The process exits right after.
 *
 *   If the host dies (crash, timeout kill, protocol violation, memory cap),
 *   destroy() is NOT called: the process is gone. The harness starts a fresh
 *   host, which calls create() again with the same bytes, and carries on
 *   with the remaining cases; a plugin must therefore not rely on state
 *   surviving between instances. After repeated deaths (more than 5 within
 *   10 s, or 3 in a row before any answer) the run ends as ERROR.
 *
 * THREADING
 *
 *   Every callback and sbx_plugin_entry() are called from one thread, the
 *   host's main thread, never concurrently and never re-entrantly. A plugin
 *   needs no locking. It must not create threads or processes: the jail
 *   forbids it (pthread_create fails with EAGAIN/EPERM during create(), and
 *   afterwards too; fork/exec fail or end the host). Many requests may be in
 *   flight at the harness, but the host hands them to the plugin one by one
 *   (or one batch at a time), in arrival order.
 *
 * TIME
 *
 *   Each request has a deadline set by the scenario (load.timeout). A
 *   handle() (or handle_batch()) that overruns it is not interrupted: the
 *   harness kills the whole host with SIGKILL, records TIMEOUT for the late
 *   request and CRASH for the other requests the dead host still held, and
 *   restarts it. CPU time is also capped by RLIMIT_CPU as a backstop.
 *
 * MEMORY AND OTHER RESOURCES
 *
 *   The plugin may malloc/free freely within the memory cap (1 GiB unless
 *   configured; enforced by RLIMIT_AS and/or a memory cgroup). Past the cap
 *   malloc returns NULL (return SBX_PLUGIN_E_NOMEM, the run carries on) or
 *   the kernel kills the host (CRASH). Peak memory and CPU time of the host
 *   are measured and reported with the run, so they are part of the product
 *   being judged.
 *
 * AFTER CREATE (the strict filter)
 *
 *   create() runs under a permissive filter: it may read its declared files
 *   (the library's own directory is not visible unless declared; use the
 *   setup bytes), allocate, and compute. Once create() has returned, only
 *   computation is allowed: memory management (malloc, mmap, munmap, brk,
 *   mremap, madvise), clocks, getrandom, futex, nanosleep and writing to
 *   stderr. Opening files fails (EACCES), creating threads fails (EPERM),
 *   and any other system call (sockets, fork, exec, kill, ptrace, ...) kills
 *   the host on the spot: the requests it held fail as CRASH. Do all I/O
 *   and all initialisation in create().
 *
 * LOGGING
 *
 *   Write diagnostics to stderr (fd 2; stdout is redirected there too). The
 *   harness captures them into the run's log, truncated to a few kilobytes
 *   per host, so keep them short. Never write to any other descriptor: the
 *   host's descriptor to the harness carries the protocol, and bytes a
 *   plugin writes there are a protocol violation that kills the host.
 *
 * ABI VERSION RULES
 *
 *   - SBX_PLUGIN_ABI_VERSION (abi_version) is the major version. The host
 *     loads only plugins whose abi_version equals its own; a mismatch is
 *     refused with a message naming both versions ("plugin ABI 2, host ABI
 *     1"), the run fails with that message, and no callback is ever called.
 *   - signature must be the string SBX_PLUGIN_SIGNATURE ("sbx-plugin/1"):
 *     it guards against an unrelated symbol that happens to be called
 *     sbx_plugin_entry, and names the ABI in a readable way.
 *   - struct_size must be sizeof(sbx_plugin_descriptor) as the plugin was
 *     built. Within one ABI version, new optional fields are only ever
 *     taken from reserved[] (same size, same offsets); the host reads a
 *     field only when struct_size covers it, so an older plugin keeps
 *     working with a newer host. A struct_size smaller than ABI 1's
 *     descriptor is refused.
 *   - reserved[] must be all NULL (zero-initialise the descriptor, e.g.
 *     with designated initialisers as above). A non-NULL reserved slot is
 *     refused, because a future host would read it as a callback.
 *   - A change that breaks any of the above increments the ABI version and
 *     the signature together.
 *
 * RETURN CODES
 *
 *   Callbacks return SBX_PLUGIN_OK (0) on success, else a positive code:
 *   one of the SBX_PLUGIN_E_* below, or a vendor code in
 *   SBX_PLUGIN_E_VENDOR_MIN..SBX_PLUGIN_E_VENDOR_MAX that the report shows as
 *   "plugin returned error N". A code outside 0..65535 (e.g. -1) is reported
 *   as SBX_PLUGIN_E_INTERNAL. A non-zero handle() result is an error answer
 *   for that request (error class OTHER), not a crash: the run goes on.
 */
#ifndef SBX_PLUGIN_H
#define SBX_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes; see "ABI VERSION RULES" above. */
#define SBX_PLUGIN_ABI_VERSION 1u
#define SBX_PLUGIN_SIGNATURE "sbx-plugin/1"

/* The name of the one symbol a plugin exports. */
#define SBX_PLUGIN_ENTRY_SYMBOL "sbx_plugin_entry"

/* Result codes. Callbacks return these; the host also uses the ones marked
 * (host) as the status of its HELLO frame when it refuses to start. */
#define SBX_PLUGIN_OK 0
#define SBX_PLUGIN_E_INVALID 1     /* the input or configuration is malformed */
#define SBX_PLUGIN_E_TOO_LARGE 2   /* the answer would exceed out->limit */
#define SBX_PLUGIN_E_NOMEM 3       /* an allocation failed */
#define SBX_PLUGIN_E_CONFIG 4      /* create(): unusable config/setup bytes */
#define SBX_PLUGIN_E_UNSUPPORTED 5 /* the request asks for something absent */
#define SBX_PLUGIN_E_INTERNAL 6 /* anything else (also: codes out of range) */
#define SBX_PLUGIN_E_ABI 7      /* (host) ABI version/signature mismatch */
#define SBX_PLUGIN_E_LOAD 8     /* (host) dlopen or the entry lookup failed */
#define SBX_PLUGIN_E_JAIL 9     /* (host) a jail layer failed half-way */
#define SBX_PLUGIN_E_CREATE 10  /* (host) create() failed (code in message) */
#define SBX_PLUGIN_E_VENDOR_MIN 1000u /* vendor codes: passed through as is */
#define SBX_PLUGIN_E_VENDOR_MAX 65535u

/* Where an answer goes. The host owns this structure and the memory behind
 * it; the plugin only calls write(). */
typedef struct sbx_plugin_output sbx_plugin_output;
struct sbx_plugin_output {
  /* Appends len bytes from data to the answer (len 0 is a no-op; data may
   * then be NULL). The bytes are copied before write() returns, so data may
   * be a stack buffer. Returns SBX_PLUGIN_OK, or SBX_PLUGIN_E_TOO_LARGE if
   * the answer would exceed `limit` in total: nothing of this call is then
   * kept, and the plugin should return that code. Once a write has been
   * refused, the request is answered SBX_PLUGIN_E_TOO_LARGE whatever
   * handle() returns (a truncated answer is never sent). Returns
   * SBX_PLUGIN_E_NOMEM (and the request is answered so) if the host could
   * not grow its buffer; nothing else. Never blocks; valid only during
   * the handle() or handle_batch() call that received `out`. May be called
   * any number of times. */
  int (*write)(sbx_plugin_output *out, const void *data, size_t len);
  /* Read-only for the plugin: the most bytes one answer may hold (the
   * scenario's max_response_bytes), and how many have been written so far. */
  size_t limit;
  size_t len;
  /* The host's, do not touch. */
  void *host_private;
  void *reserved[4];
};

/* One request of a batch. */
typedef struct sbx_plugin_input {
  const uint8_t *data; /* read-only; valid during the call only */
  size_t len;
} sbx_plugin_input;

typedef struct sbx_plugin_descriptor {
  uint32_t abi_version;  /* SBX_PLUGIN_ABI_VERSION */
  uint32_t struct_size;  /* sizeof(sbx_plugin_descriptor) */
  const char *signature; /* SBX_PLUGIN_SIGNATURE */
  /* Shown in reports: printable ASCII, at most 127 bytes each (longer is
   * truncated); name is required, version and vendor may be NULL. The
   * strings must stay valid while the library is loaded (use literals). */
  const char *name;
  const char *version;
  const char *vendor;

  /* create (required). Builds one instance.
   *   config, config_len: the bytes of --plugin-config (config_len 0 and
   *     config a valid pointer when absent); setup, setup_len: the
   *     scenario's setup file (same convention). Both are owned by the host
   *     and valid only during this call: copy what you keep. They are
   *     untrusted input like any other: validate them.
   *   *instance: set it to your state (any pointer, NULL allowed); the host
   *     passes it back to handle/handle_batch/destroy and never looks at it.
   * Returns SBX_PLUGIN_OK, or a code: the host then sends a refusal with
   * that code to the harness, does not call destroy(), and exits; the run
   * fails with "plugin create() returned N". Files and any set-up I/O must
   * happen here (see "AFTER CREATE"). */
  int (*create)(const uint8_t *config, size_t config_len, const uint8_t *setup,
                size_t setup_len, void **instance);

  /* handle (required). Answers one request.
   *   in, in_len: the request payload (the case's input bytes), owned by
   *     the host, read-only, valid only during this call; may be
   *     in_len 0.
   *   out: where the answer goes (out->write); starts empty each call.
   * Returns SBX_PLUGIN_OK: the bytes written are the answer; or a code: the
   * request is recorded as an error (class OTHER, "plugin returned error
   * N") and whatever was written is discarded. Never call exit(), abort(),
   * or longjmp out: the host would die and every request in flight with it
   * is recorded as CRASH. */
  int (*handle)(void *instance, const uint8_t *in, size_t in_len,
                sbx_plugin_output *out);

  /* destroy (required). Releases the instance. Called once after a normal
   * end, never after a failed create() and never after a crash or a kill.
   * Must not fail; the process exits right after it returns. */
  void (*destroy)(void *instance);

  /* handle_batch (optional, NULL if absent). Answers n >= 1 requests at
   * once, for plugins that gain from vectorising. in[i] is request i,
   * out[i] its output (each with its own limit), results[i] receives
   * request i's code (initialised to SBX_PLUGIN_OK). Same ownership and
   * lifetime as handle(). Returns SBX_PLUGIN_OK when results[] holds the
   * verdicts, or a code that fails the whole batch with it. max_batch
   * bounds n (0 means the host's choice, currently 64). When present, the
   * host may still call handle() for single requests. */
  int (*handle_batch)(void *instance, const sbx_plugin_input *in, size_t n,
                      sbx_plugin_output *out, int *results);
  uint32_t max_batch;
  uint32_t flags; /* must be 0 in ABI 1 */

  /* Growth room: must be NULL (see "ABI VERSION RULES"). */
  void *reserved[8];
} sbx_plugin_descriptor;

/* Marks the entry function exported even under -fvisibility=hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define SBX_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define SBX_PLUGIN_EXPORT
#endif

/* The entry every plugin exports (declared here so that a plugin's
 * definition is checked against it). Called once, right after dlopen and
 * before create(); returns a pointer to a descriptor that stays valid while
 * the library is loaded (a static const object). Must not do anything but
 * return it. */
SBX_PLUGIN_EXPORT const sbx_plugin_descriptor *sbx_plugin_entry(void);

/* Defines sbx_plugin_entry() returning &desc (a static descriptor). */
#define SBX_PLUGIN_DEFINE(desc)                                                \
  SBX_PLUGIN_EXPORT const sbx_plugin_descriptor *sbx_plugin_entry(void) {      \
    return &(desc);                                                            \
  }

#ifdef __cplusplus
}
#endif

#endif
