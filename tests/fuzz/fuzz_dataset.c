/* fuzz_dataset.c - arbitrary bytes as a JSON Lines dataset.
 *
 * sbx_dataset_parse must either return cases that serialise, or fail with
 * a positioned message and no dataset; never crash, leak or overread. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct sbx_dataset *ds = (struct sbx_dataset *)1;
  struct sbx_diag diag = {{0}};
  int rc =
      sbx_dataset_parse("fuzz.jsonl", (const char *)data, size, &ds, &diag);

  if (rc != 0) {
    if (ds != NULL || diag.msg[0] == '\0' ||
        (rc == SBX_EDATASET && strncmp(diag.msg, "fuzz.jsonl:", 11) != 0))
      abort();
    return 0;
  }
  if (ds->n_cases == 0)
    abort();
  for (size_t i = 0; i < ds->n_cases; i++) {
    size_t n = sbx__v1__case__get_packed_size(ds->cases[i]);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL)
      continue;
    sbx__v1__case__pack(ds->cases[i], buf);
    {
      Sbx__V1__Case *back = sbx__v1__case__unpack(NULL, n, buf);
      if (back == NULL)
        abort();
      sbx__v1__case__free_unpacked(back, NULL);
    }
    free(buf);
  }
  sbx_dataset_free(ds);
  return 0;
}
