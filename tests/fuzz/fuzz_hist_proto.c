/* fuzz_hist_proto.c - libFuzzer target for sbx_hist_from_proto().
 *
 * Histograms arrive from outside (stored results, other hosts) as packed
 * sbx.v1.Histogram messages. Any bytes must either be refused with a
 * message, leaving the histogram empty, or give a histogram whose invariants
 * hold: it re-encodes, decodes again to the same thing, and answers every
 * query without tripping the sanitizers. Seeds: tests/fuzz/corpus/hist_proto.
 */
#include <stdint.h>
#include <stdlib.h>

#include "hist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_same(const struct sbx_hist *a, const struct sbx_hist *b) {
  int i;

  if (sbx_hist_count(a) != sbx_hist_count(b) ||
      sbx_hist_min(a) != sbx_hist_min(b) || sbx_hist_max(a) != sbx_hist_max(b))
    abort();
  for (i = 0; i <= 20; i++)
    if (sbx_hist_percentile(a, i * 5) != sbx_hist_percentile(b, i * 5))
      abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Kept across inputs: from_proto must discard whatever the last input
   * left, and 2 x 184 KiB of calloc per input would slow the fuzzer down. */
  static struct sbx_hist *h, *again;
  Sbx__V1__Histogram *m = NULL;
  Sbx__V1__Histogram out = SBX__V1__HISTOGRAM__INIT;
  struct sbx_diag diag = {{0}};
  int64_t p, prev = 0;
  int i;

  if (h == NULL)
    h = sbx_hist_new();
  if (again == NULL)
    again = sbx_hist_new();
  m = sbx__v1__histogram__unpack(NULL, size, data);
  if (m == NULL || h == NULL || again == NULL)
    goto out;

  if (sbx_hist_from_proto(h, m, &diag) != 0) {
    if (diag.msg[0] == '\0' || sbx_hist_count(h) != 0)
      abort();
    goto out;
  }

  /* percentiles are monotonic and within min..max */
  for (i = 0; i <= 200; i++) {
    p = sbx_hist_percentile(h, i / 2.0);
    if (p < prev || p > sbx_hist_max(h) ||
        (sbx_hist_count(h) > 0 && p < sbx_hist_min(h)))
      abort();
    prev = p;
  }
  (void)sbx_hist_mean(h);

  /* what was accepted re-encodes and decodes to the same histogram */
  if (sbx_hist_to_proto(h, &out) != 0)
    abort();
  if (sbx_hist_from_proto(again, &out, &diag) != 0)
    abort();
  check_same(h, again);

  /* merging into an empty histogram copies it */
  sbx_hist_reset(again);
  sbx_hist_merge(again, h);
  check_same(h, again);

out:
  sbx_hist_proto_clear(&out);
  if (m != NULL)
    sbx__v1__histogram__free_unpacked(m, NULL);
  return 0;
}
