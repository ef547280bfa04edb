/* anomaly_threshold.c - reference plugin for sensor-anomaly: the fast, crude
 * detector.
 *
 * One pass over each channel of a VIB1 window (layout in
 * sandbox-specs/sensor-anomaly/README.md), in integers, gives its mean, its
 * RMS about the mean and its peak; a handful of thresholds on those three
 * numbers pick the label. This is what a PLC rule or a first prototype
 * does: cheap, and right about loud faults, but it cannot tell a stronger
 * shaft tone from a wandering baseline or a ringing bearing, since all of
 * them raise the RMS. The thresholds were chosen on the generator's seed-7
 * training set, like anomaly_features', so the comparison is fair.
 *
 * Answer: the label as plain text. A malformed window gets
 * SBX_PLUGIN_E_INVALID. Cost: well under a microsecond of arithmetic.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <sbx_plugin.h>

#define VIB_HEADER 16
#define MAX_CHANNELS 8
#define MAX_SAMPLES 4096

/* Thresholds, in milli-g or ratios (tuned on seed 7). */
#define SPIKE_CREST 5.0  /* peak / rms of a glitch */
#define DRIFT_MEAN_MG 50 /* |mean| of a wandering baseline */
#define LOUD_RMS_MG 120  /* rms of a channel that is "too loud" */
#define BEARING_CREST 3.3

static uint16_t le16(const uint8_t *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}

static int at_create(const uint8_t *config, size_t config_len,
                     const uint8_t *setup, size_t setup_len, void **instance) {
  (void)config;
  (void)config_len;
  (void)setup;
  (void)setup_len;
  *instance = NULL;
  return SBX_PLUGIN_OK;
}

static int at_handle(void *instance, const uint8_t *in, size_t in_len,
                     sbx_plugin_output *out) {
  (void)instance;
  if (in == NULL || in_len < VIB_HEADER || memcmp(in, "VIB1", 4) != 0 ||
      in[5] != 1)
    return SBX_PLUGIN_E_INVALID;
  unsigned nch = in[4], n = le16(in + 6);
  uint32_t ug = (uint32_t)in[12] | (uint32_t)in[13] << 8 |
                (uint32_t)in[14] << 16 | (uint32_t)in[15] << 24;
  if (nch == 0 || nch > MAX_CHANNELS || n == 0 || n > MAX_SAMPLES || ug == 0 ||
      in_len != VIB_HEADER + (size_t)nch * n * 2)
    return SBX_PLUGIN_E_INVALID;
  double scale = ug / 1000.0;

  double max_crest = 0, max_rms = 0, max_mean = 0;
  const uint8_t *p = in + VIB_HEADER;
  for (unsigned c = 0; c < nch; c++) {
    int64_t sum = 0, sumsq = 0;
    int32_t lo = INT32_MAX, hi = INT32_MIN;
    for (unsigned t = 0; t < n; t++, p += 2) {
      int32_t v = (int16_t)le16(p);
      sum += v;
      sumsq += (int64_t)v * v;
      if (v < lo)
        lo = v;
      if (v > hi)
        hi = v;
    }
    double mean = (double)sum / n;
    double var = (double)sumsq / n - mean * mean;
    double rms = var > 0 ? sqrt(var) : 0;
    double peak = fmax(hi - mean, mean - lo);
    double crest = rms > 0 ? peak / rms : 0;
    if (crest > max_crest)
      max_crest = crest;
    if (rms * scale > max_rms)
      max_rms = rms * scale;
    if (fabs(mean) * scale > max_mean)
      max_mean = fabs(mean) * scale;
  }

  const char *label = "normal";
  if (max_crest > SPIKE_CREST)
    label = "spike";
  else if (max_mean > DRIFT_MEAN_MG)
    label = "drift";
  else if (max_rms > LOUD_RMS_MG)
    label = "imbalance";
  else if (max_crest > BEARING_CREST)
    label = "bearing_wear";
  return out->write(out, label, strlen(label));
}

static void at_destroy(void *instance) {
  (void)instance;
}

static const sbx_plugin_descriptor at_descriptor = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(sbx_plugin_descriptor),
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "anomaly_threshold",
    .version = "1.0.0",
    .vendor = "sandboxd examples",
    .create = at_create,
    .handle = at_handle,
    .destroy = at_destroy,
};

SBX_PLUGIN_DEFINE(at_descriptor)
