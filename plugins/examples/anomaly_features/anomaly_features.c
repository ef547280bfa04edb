/* anomaly_features.c - reference plugin for sensor-anomaly: signal features
 * and a small decision tree.
 *
 * For each channel of a VIB1 window (layout in
 * sandbox-specs/sensor-anomaly/README.md) it fits, by least squares,
 *
 *   x(t) = a + b*t + sum over k = 1..H of (c_k cos(k w t) + s_k sin(k w t))
 *
 * where w is the shaft speed from the header and H (at most 10) the shaft
 * harmonics below the band of interest's top. Fitting baseline, ramp and
 * harmonics together keeps them apart: a strong shaft tone over a non-whole
 * number of turns would otherwise look like a slope, and a gear-mesh tone
 * (a shaft harmonic) would look like resonance energy. The basis depends
 * only on the shaft speed, so its normal matrix is factorised (Cholesky)
 * once per window and shared by the channels.
 *
 * Features: the ramp across the window (drift), the 1x amplitude on the
 * radial channels (imbalance); from the residual its kurtosis, a robust
 * noise level (1.4826 x median absolute deviation), impulses that stand far
 * above it, told apart by whether they ring (bearing strike) or not
 * (glitch, spike), and the share of power in the 248-456 Hz band measured
 * by a Goertzel filter on every DFT bin there (housing resonance excited by
 * a worn bearing).
 *
 * The thresholds of the tree were chosen by hand on a training set that
 * the scenario's generator makes with seed 7 (the bundled dataset uses
 * seed 42); nothing is learnt at run time.
 *
 * Answer: the label as plain text. A malformed window gets
 * SBX_PLUGIN_E_INVALID. Cost: some tens of microseconds per window.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sbx_plugin.h>

#define VIB_HEADER 16
#define MAX_CHANNELS 8
#define MIN_SAMPLES 16
#define MAX_SAMPLES 4096
#define MAX_HARMONICS 10
#define MAX_BASIS (2 + 2 * MAX_HARMONICS)
#define PI 3.14159265358979323846

/* Band of the bearing resonance. */
#define BAND_LO_HZ 248.0
#define BAND_HI_HZ 456.0

/* Decision thresholds (tuned on seed 7; see the file comment). */
#define SPIKE_ROBUST_SIGMAS 7.0 /* an impulse stands this far above noise */
#define SPIKE_MIN_MG 200.0
#define SPIKE_MAX_HITS 3        /* samples over 4 sigma near an impulse */
#define DRIFT_MIN_MG 55.0       /* ramp across the window */
#define BEARING_BAND_SHARE 0.62 /* mean over the radial channels */
#define IMBALANCE_1X_MG 84.0

struct window {
  unsigned channels, samples, rate, rpm;
  double scale_mg; /* milli-g per count */
  const uint8_t *data;
};

struct features {
  double ramp_mg;    /* |b| * (n - 1): drift across the window */
  double a1_mg;      /* 1x amplitude */
  double rms;        /* residual rms */
  double robust;     /* residual noise level, 1.4826 * MAD */
  double kurtosis;   /* residual kurtosis (3 for Gaussian noise) */
  double peak;       /* max |residual| */
  unsigned isolated; /* impulses over the spike threshold with no ringing */
  unsigned ringing;  /* impulses over the threshold that ring */
  double band;       /* share of residual power in the band */
};

struct instance {
  double *x, *r, *tmp; /* one channel: samples, residual, scratch */
  double *basis;       /* nbasis x samples */
  double chol[MAX_BASIS * MAX_BASIS];
  int nbasis;
  unsigned cap;
};

static uint16_t le16(const uint8_t *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

/* Validates a VIB1 window. Returns 0 or SBX_PLUGIN_E_INVALID. */
static int parse_window(const uint8_t *in, size_t len, struct window *w) {
  if (in == NULL || len < VIB_HEADER || memcmp(in, "VIB1", 4) != 0)
    return SBX_PLUGIN_E_INVALID;
  w->channels = in[4];
  w->samples = le16(in + 6);
  w->rate = le16(in + 8);
  w->rpm = le16(in + 10);
  uint32_t ug = le32(in + 12);
  if (in[5] != 1 || w->channels == 0 || w->channels > MAX_CHANNELS ||
      w->samples < MIN_SAMPLES || w->samples > MAX_SAMPLES || w->rate == 0 ||
      w->rpm == 0 || ug == 0)
    return SBX_PLUGIN_E_INVALID;
  /* The 1x tone must sit well inside the window and below Nyquist for the
   * fit to mean anything: at least one turn, at most rate/4. */
  double f0 = w->rpm / 60.0;
  if (f0 * w->samples < w->rate || f0 * 4 > w->rate)
    return SBX_PLUGIN_E_INVALID;
  if (len != VIB_HEADER + (size_t)w->channels * w->samples * 2)
    return SBX_PLUGIN_E_INVALID;
  w->scale_mg = ug / 1000.0;
  w->data = in + VIB_HEADER;
  return 0;
}

static double sample(const struct window *w, unsigned c, unsigned t) {
  const uint8_t *p = w->data + ((size_t)c * w->samples + t) * 2;
  return (int16_t)le16(p) * w->scale_mg;
}

/* Cholesky factorisation of the symmetric positive definite n x n matrix
 * a, in place (lower triangle). Returns 0, or -1 if it is not positive
 * definite (a degenerate basis). */
static int cholesky(double *a, int n) {
  for (int j = 0; j < n; j++) {
    double d = a[j * n + j];
    for (int k = 0; k < j; k++)
      d -= a[j * n + k] * a[j * n + k];
    if (!(d > 1e-9))
      return -1;
    d = sqrt(d);
    a[j * n + j] = d;
    for (int i = j + 1; i < n; i++) {
      double v = a[i * n + j];
      for (int k = 0; k < j; k++)
        v -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = v / d;
    }
  }
  return 0;
}

/* Solves (L L^T) x = y in place with the factor from cholesky(). */
static void chol_solve(const double *l, double *y, int n) {
  for (int i = 0; i < n; i++) {
    double v = y[i];
    for (int k = 0; k < i; k++)
      v -= l[i * n + k] * y[k];
    y[i] = v / l[i * n + i];
  }
  for (int i = n - 1; i >= 0; i--) {
    double v = y[i];
    for (int k = i + 1; k < n; k++)
      v -= l[k * n + i] * y[k];
    y[i] = v / l[i * n + i];
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Mean square of the component of x[0..n) at frequency f (Hz), by the
 * Goertzel recurrence. */
static double goertzel(const double *x, unsigned n, double f, double rate) {
  double coef = 2 * cos(2 * PI * f / rate);
  double s1 = 0, s2 = 0;
  for (unsigned t = 0; t < n; t++) {
    double s = x[t] + coef * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  double pw = s1 * s1 + s2 * s2 - coef * s1 * s2;
  return 2 * pw / ((double)n * n);
}

static int ensure(struct instance *st, unsigned n) {
  if (n <= st->cap)
    return 0;
  double *x = realloc(st->x, n * sizeof(double));
  if (x != NULL)
    st->x = x;
  double *r = realloc(st->r, n * sizeof(double));
  if (r != NULL)
    st->r = r;
  double *tmp = realloc(st->tmp, n * sizeof(double));
  if (tmp != NULL)
    st->tmp = tmp;
  double *b = realloc(st->basis, (size_t)MAX_BASIS * n * sizeof(double));
  if (b != NULL)
    st->basis = b;
  if (x == NULL || r == NULL || tmp == NULL || b == NULL)
    return SBX_PLUGIN_E_NOMEM;
  st->cap = n;
  return 0;
}

/* Fills the basis for this window's shaft speed and factorises its normal
 * matrix. t is centred so that the constant and the ramp are orthogonal.
 * Returns 0 or SBX_PLUGIN_E_INVALID (degenerate basis). */
static int make_basis(struct instance *st, const struct window *w) {
  unsigned n = w->samples;
  double f0 = w->rpm / 60.0;
  double omega = 2 * PI * f0 / w->rate;
  double tc = (n - 1) / 2.0;
  int h = 0;
  /* Harmonics up to the band's top, well clear of Nyquist and resolvable
   * from their neighbours in this window. */
  while (h < MAX_HARMONICS && (h + 1) * f0 <= BAND_HI_HZ &&
         (h + 1) * f0 < w->rate * 0.45)
    h++;
  int nb = 2 + 2 * h;
  double *b = st->basis;
  for (unsigned t = 0; t < n; t++) {
    b[0 * n + t] = 1;
    b[1 * n + t] = t - tc;
    /* cos/sin of k*x from those of x by angle addition: two libm calls
     * per sample instead of two per harmonic. */
    double c1 = cos(omega * t), s1 = sin(omega * t), ck = c1, sk = s1;
    for (int k = 1; k <= h; k++) {
      b[(2 * k) * n + t] = ck;
      b[(2 * k + 1) * n + t] = sk;
      double cn = ck * c1 - sk * s1;
      sk = sk * c1 + ck * s1;
      ck = cn;
    }
  }
  for (int i = 0; i < nb; i++)
    for (int j = 0; j <= i; j++) {
      double q = 0;
      for (unsigned t = 0; t < n; t++)
        q += b[i * n + t] * b[j * n + t];
      st->chol[i * nb + j] = st->chol[j * nb + i] = q;
    }
  st->nbasis = nb;
  return cholesky(st->chol, nb) == 0 ? 0 : SBX_PLUGIN_E_INVALID;
}

static void channel_features(struct instance *st, const struct window *w,
                             unsigned c, struct features *f) {
  unsigned n = w->samples;
  int nb = st->nbasis;
  double coef[MAX_BASIS] = {0};
  const double *b = st->basis;

  for (unsigned t = 0; t < n; t++)
    st->x[t] = sample(w, c, t);
  for (int i = 0; i < nb; i++) {
    double s = 0;
    for (unsigned t = 0; t < n; t++)
      s += b[i * n + t] * st->x[t];
    coef[i] = s;
  }
  chol_solve(st->chol, coef, nb);
  f->ramp_mg = fabs(coef[1]) * (n - 1);
  f->a1_mg = nb > 2 ? sqrt(coef[2] * coef[2] + coef[3] * coef[3]) : 0;

  double s2 = 0, s4 = 0, peak = 0;
  for (unsigned t = 0; t < n; t++) {
    double fit = 0;
    for (int i = 0; i < nb; i++)
      fit += coef[i] * b[i * n + t];
    double r = st->x[t] - fit;
    st->r[t] = r;
    st->tmp[t] = fabs(r);
    s2 += r * r;
    s4 += r * r * r * r;
    if (fabs(r) > peak)
      peak = fabs(r);
  }
  f->rms = sqrt(s2 / n);
  f->kurtosis = s2 > 0 ? n * s4 / (s2 * s2) : 0;
  f->peak = peak;
  qsort(st->tmp, n, sizeof(double), cmp_double);
  f->robust = 1.4826 * st->tmp[n / 2];
  if (f->robust < 1)
    f->robust = 1;

  /* Impulses: local maxima far above the noise. A glitch is one or two
   * samples with quiet neighbours; a bearing strike rings for several. */
  double thr = SPIKE_ROBUST_SIGMAS * f->robust;
  if (thr < SPIKE_MIN_MG)
    thr = SPIKE_MIN_MG;
  f->isolated = f->ringing = 0;
  for (unsigned t = 0; t < n; t++) {
    double a = fabs(st->r[t]);
    if (a < thr)
      continue;
    int local_max = (t == 0 || a >= fabs(st->r[t - 1])) &&
                    (t + 1 == n || a > fabs(st->r[t + 1]));
    if (!local_max)
      continue;
    unsigned hits = 0;
    unsigned lo = t >= 4 ? t - 4 : 0, hi = t + 4 < n ? t + 4 : n - 1;
    for (unsigned k = lo; k <= hi; k++)
      if (k != t && fabs(st->r[k]) > 4 * f->robust)
        hits++;
    if (hits <= SPIKE_MAX_HITS)
      f->isolated++;
    else
      f->ringing++;
  }

  /* Share of the residual's power in the resonance band, one Goertzel per
   * DFT bin. White noise puts about (bins in band) / (n / 2) there. */
  double band = 0, bin_hz = (double)w->rate / n;
  for (unsigned k = (unsigned)ceil(BAND_LO_HZ / bin_hz);
       k * bin_hz <= BAND_HI_HZ && 2 * k < n; k++)
    band += goertzel(st->r, n, k * bin_hz, w->rate);
  f->band = s2 > 0 ? band / (s2 / n) : 0;
}

static const char *classify(const struct features *f, unsigned nch) {
  unsigned spikes = 0, ringing = 0;
  unsigned radial = nch < 2 ? nch : 2;
  double ramp = 0, a1 = 0, band = 0;
  for (unsigned c = 0; c < nch; c++) {
    spikes += f[c].isolated;
    ringing += f[c].ringing;
    if (f[c].ramp_mg > ramp)
      ramp = f[c].ramp_mg;
  }
  /* The radial channels are the first two (X, Y): they see the shaft and
   * the bearing best. Averaging the band share over both halves the
   * chance that noise alone pushes it up. */
  for (unsigned c = 0; c < radial; c++) {
    if (f[c].a1_mg > a1)
      a1 = f[c].a1_mg;
    band += f[c].band / radial;
  }

  if (spikes > 0 && ringing == 0)
    return "spike";
  if (ramp > DRIFT_MIN_MG)
    return "drift";
  if (band > BEARING_BAND_SHARE || ringing > 0)
    return "bearing_wear";
  if (a1 > IMBALANCE_1X_MG)
    return "imbalance";
  return "normal";
}

static void instance_free(struct instance *st) {
  if (st == NULL)
    return;
  free(st->x);
  free(st->r);
  free(st->tmp);
  free(st->basis);
  free(st);
}

static int af_create(const uint8_t *config, size_t config_len,
                     const uint8_t *setup, size_t setup_len, void **instance) {
  (void)config;
  (void)config_len;
  (void)setup;
  (void)setup_len;
  struct instance *st = calloc(1, sizeof(*st));
  if (st == NULL)
    return SBX_PLUGIN_E_NOMEM;
  /* Room for the bundled window size now, so that handle() normally never
   * allocates. */
  if (ensure(st, 128) != 0) {
    instance_free(st);
    return SBX_PLUGIN_E_NOMEM;
  }
  *instance = st;
  return SBX_PLUGIN_OK;
}

static int af_handle(void *instance, const uint8_t *in, size_t in_len,
                     sbx_plugin_output *out) {
  struct instance *st = instance;
  struct features f[MAX_CHANNELS];
  struct window w;
  int rc;

  if ((rc = parse_window(in, in_len, &w)) != 0)
    return rc;
  if ((rc = ensure(st, w.samples)) != 0)
    return rc;
  if ((rc = make_basis(st, &w)) != 0)
    return rc;
  for (unsigned c = 0; c < w.channels; c++)
    channel_features(st, &w, c, &f[c]);
  const char *label = classify(f, w.channels);
  return out->write(out, label, strlen(label));
}

static void af_destroy(void *instance) {
  instance_free(instance);
}

static const sbx_plugin_descriptor af_descriptor = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(sbx_plugin_descriptor),
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "anomaly_features",
    .version = "1.0.0",
    .vendor = "sandboxd examples",
    .create = af_create,
    .handle = af_handle,
    .destroy = af_destroy,
};

SBX_PLUGIN_DEFINE(af_descriptor)
