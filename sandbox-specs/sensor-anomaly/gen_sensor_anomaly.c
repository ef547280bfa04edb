/* gen_sensor_anomaly.c - dataset of the sensor-anomaly scenario.
 *
 *   sbx-gen-sensor-anomaly --seed N --dataset FILE [--cases 800]
 *
 * Writes JSON lines, one vibration window per case, each labelled with the
 * machine condition it shows: normal, imbalance, bearing_wear, spike or
 * drift. A window is three accelerometer channels (X and Y radial, Z axial)
 * of 128 samples at 1024 Hz, about 125 ms of a rotating machine running at
 * 1200-2700 rpm, in the binary layout documented in README.md ("VIB1":
 * a 16-byte little-endian header, then the samples as int16 milli-g,
 * channel after channel), base64-encoded as the case's input.
 *
 * Everything is a pure function of the seed, byte for byte on any machine
 * and with any compiler: xoshiro256** seeded by splitmix64 with one stream
 * per purpose, integer arithmetic only (the sine table is built by a
 * fixed-point Taylor series, never libm), bytes stored by shifts, and never
 * two draws in one expression (C leaves argument evaluation order open).
 *
 * Exit status: 0 done, 2 usage error, 3 I/O error (message on stderr).
 */
#include "rng.h"
#include "units.h"
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define EXIT_IO 3

#define PROG "sbx-gen-sensor-anomaly"
#define DEFAULT_CASES 800
#define MAX_CASES 1000000

#define CHANNELS 3
#define SAMPLES 128
#define RATE_HZ 1024
#define HEADER_BYTES 16
#define WINDOW_BYTES (HEADER_BYTES + CHANNELS * SAMPLES * 2)
#define B64_BYTES (((WINDOW_BYTES + 2) / 3) * 4)

#define SIN_BITS 12 /* sine table of 4096 entries, Q15 */
#define SIN_N (1u << SIN_BITS)

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum { STREAM_LABELS = 1, STREAM_WINDOW_BASE = 0x10000 };

/* ---------------------------------------------------------------- PRNG */

/* Draws come from the project's generator (daemon/rng.h). */

/* Uniform in [lo, hi] (signed). */
static int64_t rng_range(struct sbx_rng *r, int64_t lo, int64_t hi) {
  return lo + (int64_t)sbx_rng_below(r, (uint64_t)(hi - lo) + 1);
}

/* Approximately normal noise with standard deviation sigma (any unit):
 * the sum of four uniforms (Irwin-Hall), scaled in integers. */
static int32_t rng_noise(struct sbx_rng *r, int32_t sigma) {
  int64_t sum = 0;
  for (int i = 0; i < 4; i++) {
    int64_t u = (int64_t)(sbx_rng_next(r) >> 48) - 32768; /* [-2^15, 2^15) */
    sum += u;
  }
  /* Var of the sum: 4 * 65536^2 / 12, so sd = 37837.2. */
  return (int32_t)(sum * sigma / 37837);
}

/* ---------------------------------------------------------------- sine */

static int16_t sin_q15[SIN_N];

/* sin(x) in Q30 for 0 <= x <= pi/2 (x in Q30), by the Taylor series to
 * x^13: the error is far below one Q15 step. Terms are kept positive and
 * the signs alternated by hand, so no negative number is ever shifted. */
static int64_t sin_q30_quarter(int64_t x) {
  int64_t x2 = (x * x) >> 30;
  int64_t term = x, sum = x;
  for (int k = 1; k <= 6; k++) {
    term = ((term * x2) >> 30) / ((2 * k) * (2 * k + 1));
    if (k & 1)
      sum -= term;
    else
      sum += term;
  }
  return sum;
}

static void sin_table_init(void) {
  const int64_t half_pi_q30 = INT64_C(1686629713); /* pi/2 * 2^30 */
  const uint32_t quarter = SIN_N / 4;
  for (uint32_t i = 0; i <= quarter; i++) {
    int64_t x = half_pi_q30 * (int64_t)i / (int64_t)quarter;
    int64_t s = (sin_q30_quarter(x) + (1 << 14)) >> 15;
    if (s > 32767)
      s = 32767;
    int16_t v = (int16_t)s;
    sin_q15[i] = v;                       /* [0, pi/2] */
    sin_q15[SIN_N / 2 - i] = v;           /* [pi/2, pi] */
    sin_q15[SIN_N / 2 + i] = (int16_t)-v; /* [pi, 3pi/2] */
    if (i > 0)
      sin_q15[SIN_N - i] = (int16_t)-v; /* [3pi/2, 2pi) */
  }
}

/* amp * sin(phase), phase a 32-bit fraction of a turn. */
static int32_t sin_amp(uint32_t phase, int32_t amp) {
  return (int32_t)(((int64_t)sin_q15[phase >> (32 - SIN_BITS)] * amp) / 32768);
}

/* Phase step per sample for a frequency in milli-hertz. */
static uint32_t phase_step(uint64_t freq_mhz) {
  return (uint32_t)((freq_mhz << 32) / ((uint64_t)RATE_HZ * 1000));
}

/* -------------------------------------------------------------- window */

enum label { L_NORMAL, L_IMBALANCE, L_BEARING, L_SPIKE, L_DRIFT };

static const char *const label_names[] = {"normal", "imbalance", "bearing_wear",
                                          "spike", "drift"};

/* Class mix in percent; most windows show a healthy machine. */
static const unsigned label_weights[] = {72, 8, 7, 6, 7};

struct window {
  uint16_t rpm;
  int32_t x[CHANNELS][SAMPLES]; /* milli-g before clamping */
};

/* The healthy machine: shaft (1x) and twice-shaft (2x) components, a gear
 * or blade-pass tone, a DC offset and broadband noise. Radial channels see
 * the shaft more than the axial one. Returns the 1x amplitude on X, which a
 * fault may scale. */
static void gen_baseline(struct sbx_rng *r, struct window *w, int32_t *a1_out,
                         uint32_t *ph1_out) {
  int32_t a1 = (int32_t)rng_range(r, 20, 70);
  int32_t a2 = (int32_t)(a1 * rng_range(r, 10, 40) / 100);
  uint32_t kgear = (uint32_t)rng_range(r, 5, 9);
  int32_t agear = (int32_t)rng_range(r, 5, 30);
  int32_t sigma = (int32_t)rng_range(r, 15, 45);
  uint64_t f0 = (uint64_t)w->rpm * 1000 / 60; /* mHz */
  uint32_t ph1 = (uint32_t)sbx_rng_next(r);
  uint32_t ph2 = (uint32_t)sbx_rng_next(r);
  uint32_t phg = (uint32_t)sbx_rng_next(r);
  uint32_t st1 = phase_step(f0), st2 = phase_step(2 * f0);
  uint32_t stg = phase_step(kgear * f0);

  for (int c = 0; c < CHANNELS; c++) {
    /* Per-channel gains in percent: Y lags X by a quarter turn, Z is the
     * axial direction with less shaft motion. */
    int32_t g1 =
        c == 2 ? (int32_t)rng_range(r, 30, 60) : (int32_t)rng_range(r, 85, 115);
    int32_t g2 = (int32_t)rng_range(r, 60, 120);
    int32_t off = (int32_t)rng_range(r, -30, 30);
    int32_t sg = (int32_t)rng_range(r, 80, 120);
    uint32_t shift = c == 1 ? 0x40000000u : c == 2 ? 0x20000000u : 0;
    for (int t = 0; t < SAMPLES; t++) {
      uint32_t tt = (uint32_t)t;
      int32_t v = off;
      v += sin_amp(ph1 + shift + st1 * tt, a1 * g1 / 100);
      v += sin_amp(ph2 + shift + st2 * tt, a2 * g2 / 100);
      v += sin_amp(phg + stg * tt, agear);
      v += rng_noise(r, sigma * sg / 100);
      w->x[c][t] = v;
    }
  }
  *a1_out = a1;
  *ph1_out = ph1;
}

/* Imbalance: the 1x component grows on the radial channels, X and Y a
 * quarter turn apart, like a heavy spot going round. */
static void add_imbalance(struct sbx_rng *r, struct window *w, int32_t a1,
                          uint32_t ph1) {
  int32_t extra = (int32_t)(a1 * rng_range(r, 180, 450) / 100);
  uint32_t st1 = phase_step((uint64_t)w->rpm * 1000 / 60);
  int32_t gy = (int32_t)rng_range(r, 70, 110);
  for (int t = 0; t < SAMPLES; t++) {
    uint32_t p = ph1 + st1 * (uint32_t)t;
    w->x[0][t] += sin_amp(p, extra);
    w->x[1][t] += sin_amp(p + 0x40000000u, extra * gy / 100);
    w->x[2][t] += sin_amp(p + 0x20000000u, extra / 5);
  }
}

/* Bearing wear: an outer-race defect struck once per ball pass (about 3.3x
 * shaft speed), each strike ringing the housing's resonance at 260-420 Hz
 * for a few milliseconds. Short bursts, high frequency, raised kurtosis. */
static void add_bearing(struct sbx_rng *r, struct window *w) {
  uint64_t bpfo = (uint64_t)w->rpm * 1000 / 60 *
                  (uint64_t)rng_range(r, 305, 360) / 100; /* mHz */
  uint32_t fres = (uint32_t)rng_range(r, 260, 420);
  uint32_t stres = phase_step((uint64_t)fres * 1000);
  int32_t amp = (int32_t)rng_range(r, 100, 320);
  int32_t decay = (int32_t)rng_range(r, 25500, 29000); /* Q15 per sample */
  int32_t gain[CHANNELS];
  gain[0] = 100;
  gain[1] = (int32_t)rng_range(r, 50, 90);
  gain[2] = (int32_t)rng_range(r, 30, 60);
  /* Strike times in 1/1000 sample. */
  uint64_t period = (uint64_t)RATE_HZ * 1000 * 1000 / bpfo;
  uint64_t at = sbx_rng_below(r, period);
  while (at / 1000 < SAMPLES) {
    int start = (int)(at / 1000);
    int32_t a = (int32_t)(amp * rng_range(r, 70, 130) / 100);
    uint32_t ph = (uint32_t)sbx_rng_next(r);
    int32_t env = a;
    for (int t = start; t < SAMPLES && env > 2; t++) {
      int32_t v = sin_amp(ph + stres * (uint32_t)(t - start), env);
      for (int c = 0; c < CHANNELS; c++)
        w->x[c][t] += v * gain[c] / 100;
      env = (int32_t)((int64_t)env * decay / 32768);
    }
    int64_t jitter = rng_range(r, -800, 800);
    at = (uint64_t)((int64_t)(at + period) + jitter);
  }
}

/* Spike: one to three electrical glitches, each one or two samples on one
 * channel, with no ringing. */
static void add_spike(struct sbx_rng *r, struct window *w) {
  int n = (int)rng_range(r, 1, 3);
  for (int i = 0; i < n; i++) {
    int c = (int)sbx_rng_below(r, CHANNELS);
    int t = (int)sbx_rng_below(r, SAMPLES);
    int32_t a = (int32_t)rng_range(r, 350, 1500);
    if (sbx_rng_below(r, 2) == 0)
      a = -a;
    w->x[c][t] += a;
    if (sbx_rng_below(r, 3) == 0 && t + 1 < SAMPLES)
      w->x[c][t + 1] += a * 2 / 3;
  }
}

/* Drift: the sensor's baseline wanders (thermal drift, a loosening mount):
 * a ramp of 80-500 mg across the window on one channel or all of them, with
 * a slight bend. Where the ramp starts is random, so the mean may or may
 * not move. */
static void add_drift(struct sbx_rng *r, struct window *w) {
  int all = sbx_rng_below(r, 3) == 0;
  int only = (int)sbx_rng_below(r, CHANNELS);
  for (int c = 0; c < CHANNELS; c++) {
    if (!all && c != only)
      continue;
    int32_t d = (int32_t)rng_range(r, 80, 500);
    if (sbx_rng_below(r, 2) == 0)
      d = -d;
    int32_t start = (int32_t)(d * rng_range(r, -100, 0) / 100);
    int32_t bend = (int32_t)rng_range(r, -20, 20); /* percent of d */
    for (int t = 0; t < SAMPLES; t++) {
      int64_t lin = (int64_t)d * t / (SAMPLES - 1);
      int64_t u = (int64_t)t * (SAMPLES - 1 - t); /* 0 at ends */
      int64_t curve = (int64_t)d * bend * 4 * u /
                      (100 * (int64_t)(SAMPLES - 1) * (SAMPLES - 1));
      w->x[c][t] += (int32_t)(start + lin + curve);
    }
  }
}

static void gen_window(struct sbx_rng *r, enum label lab, struct window *w) {
  int32_t a1;
  uint32_t ph1;
  w->rpm = (uint16_t)rng_range(r, 1200, 2700);
  gen_baseline(r, w, &a1, &ph1);
  switch (lab) {
  case L_IMBALANCE:
    add_imbalance(r, w, a1, ph1);
    break;
  case L_BEARING:
    add_bearing(r, w);
    break;
  case L_SPIKE:
    add_spike(r, w);
    break;
  case L_DRIFT:
    add_drift(r, w);
    break;
  default:
    break;
  }
}

static void put_le16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v & 0xff);
  p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* Serialises w in the VIB1 layout (see README.md). */
static void encode_window(const struct window *w, uint8_t *out) {
  memcpy(out, "VIB1", 4);
  out[4] = CHANNELS;
  out[5] = 1; /* sample format: int16 */
  put_le16(out + 6, SAMPLES);
  put_le16(out + 8, RATE_HZ);
  put_le16(out + 10, w->rpm);
  put_le32(out + 12, 1000); /* micro-g per count: one count is 1 mg */
  uint8_t *p = out + HEADER_BYTES;
  for (int c = 0; c < CHANNELS; c++)
    for (int t = 0; t < SAMPLES; t++) {
      int32_t v = w->x[c][t];
      if (v > 32767)
        v = 32767;
      if (v < -32768)
        v = -32768;
      /* Two's complement bits of v, without a signed-to-unsigned cast of
       * a negative int16 that some readers find surprising. */
      uint16_t u = v < 0 ? (uint16_t)(65536 + v) : (uint16_t)v;
      put_le16(p, u);
      p += 2;
    }
}

static void base64(const uint8_t *in, size_t n, char *out) {
  static const char tab[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0, o = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = tab[v >> 18];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = tab[(v >> 6) & 63];
    out[o++] = tab[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < n)
      v |= (uint32_t)in[i + 1] << 8;
    out[o++] = tab[v >> 18];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
}

/* ------------------------------------------------------------- dataset */

static int write_dataset(const char *path, uint64_t seed, uint64_t ncases) {
  char tmp[PATH_MAX];
  uint8_t bin[WINDOW_BYTES];
  char b64[B64_BYTES + 1];
  struct window *w = NULL;
  struct sbx_rng lr;
  FILE *f = NULL;
  int fd = -1, rc = -1;
  unsigned total = 0;

  tmp[0] = '\0';
  int len = snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
  if (len < 0 || (size_t)len >= sizeof(tmp)) {
    fprintf(stderr, PROG ": %s: path too long\n", path);
    tmp[0] = '\0';
    goto out;
  }
  fd = mkstemp(tmp);
  if (fd < 0) {
    fprintf(stderr, PROG ": cannot create %s.tmp-*: %s\n", path,
            strerror(errno));
    tmp[0] = '\0';
    goto out;
  }
  if (fchmod(fd, 0644) != 0 || (f = fdopen(fd, "w")) == NULL) {
    fprintf(stderr, PROG ": %s: %s\n", tmp, strerror(errno));
    goto out;
  }
  fd = -1;
  w = malloc(sizeof(*w));
  if (w == NULL) {
    fprintf(stderr, PROG ": out of memory\n");
    goto out;
  }
  for (size_t i = 0; i < NELEM(label_weights); i++)
    total += label_weights[i];
  sbx_rng_seed(&lr, seed, STREAM_LABELS);
  for (uint64_t q = 1; q <= ncases; q++) {
    uint64_t u = sbx_rng_below(&lr, total);
    size_t k = 0;
    while (u >= label_weights[k]) {
      u -= label_weights[k];
      k++;
    }
    /* One stream per window: changing --cases never changes a window. */
    struct sbx_rng wr;
    sbx_rng_seed(&wr, seed, STREAM_WINDOW_BASE + q);
    gen_window(&wr, (enum label)k, w);
    encode_window(w, bin);
    base64(bin, sizeof(bin), b64);
    fprintf(f,
            "{\"id\":\"w%05" PRIu64 "\",\"input_base64\":\"%s\","
            "\"expect\":{\"label\":\"%s\"}}\n",
            q, b64, label_names[k]);
  }
  if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
    fprintf(stderr, PROG ": write %s: %s\n", tmp, strerror(errno));
    goto out;
  }
  int cerr = fclose(f);
  f = NULL;
  if (cerr != 0) {
    fprintf(stderr, PROG ": close %s: %s\n", tmp, strerror(errno));
    goto out;
  }
  if (rename(tmp, path) != 0) {
    fprintf(stderr, PROG ": rename %s -> %s: %s\n", tmp, path, strerror(errno));
    goto out;
  }
  tmp[0] = '\0';
  rc = 0;
out:
  if (f != NULL)
    fclose(f);
  if (fd >= 0)
    close(fd);
  if (rc != 0 && tmp[0] != '\0')
    unlink(tmp);
  free(w);
  return rc;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *to) {
  fprintf(to,
          "usage: " PROG " --seed N --dataset FILE [--cases N]\n"
          "\n"
          "Writes the sensor-anomaly scenario's dataset (JSON lines, one\n"
          "labelled 3-channel vibration window per case) to FILE; the\n"
          "output depends only on N and --cases.\n"
          "\n"
          "  --seed N       unsigned 64-bit seed (the bundled data uses 42)\n"
          "  --dataset FILE dataset output, replaced atomically\n"
          "  --cases N      number of windows, 1..%d (default %d)\n"
          "  --help         this text\n"
          "\n"
          "Exit status: 0 done, 2 usage error, 3 I/O error.\n",
          MAX_CASES, DEFAULT_CASES);
}

static int usage_error(void) {
  fprintf(stderr, "run " PROG " --help for usage\n");
  return EXIT_USAGE;
}

/* Parses a decimal unsigned integer in [lo, hi]. Returns 0 or -1. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
  uint64_t v;
  if (sbx_parse_uint64(s, hi, &v) != 0 || v < lo)
    return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  static const char *const opts[] = {"--seed", "--dataset", "--cases"};
  const char *dataset = NULL;
  uint64_t seed = 0, ncases = DEFAULT_CASES;
  int have_seed = 0;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    }
    const char *val = NULL;
    size_t which = NELEM(opts);
    for (size_t k = 0; k < NELEM(opts); k++) {
      size_t ol = strlen(opts[k]);
      if (strcmp(a, opts[k]) == 0) {
        if (i + 1 >= argc) {
          fprintf(stderr, PROG ": %s needs a value\n", a);
          return usage_error();
        }
        val = argv[++i];
        which = k;
        break;
      }
      if (strncmp(a, opts[k], ol) == 0 && a[ol] == '=') {
        val = a + ol + 1;
        which = k;
        break;
      }
    }
    int bad = 0;
    switch (which) {
    case 0:
      bad = parse_u64(val, 0, UINT64_MAX, &seed) != 0;
      have_seed = !bad;
      break;
    case 1:
      dataset = val;
      bad = *val == '\0';
      break;
    case 2:
      bad = parse_u64(val, 1, MAX_CASES, &ncases) != 0;
      break;
    default:
      fprintf(stderr, PROG ": unknown argument \"%s\"\n", a);
      return usage_error();
    }
    if (bad) {
      fprintf(stderr, PROG ": %s: invalid value \"%s\"\n", opts[which], val);
      return usage_error();
    }
  }
  if (!have_seed || dataset == NULL) {
    fprintf(stderr, PROG ": --seed and --dataset are required\n");
    return usage_error();
  }
  sin_table_init();
  return write_dataset(dataset, seed, ncases) == 0 ? 0 : EXIT_IO;
}
