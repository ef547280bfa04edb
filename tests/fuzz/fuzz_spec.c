/* fuzz_spec.c - arbitrary bytes as a scenario spec.
 *
 * Whatever the input, sbx_spec_parse must return 0 with a scenario that
 * serialises, or an error with a positioned message and no scenario; never
 * crash, leak or read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Sbx__V1__Scenario *sc = (Sbx__V1__Scenario *)1;
  struct sbx_diag diag = {{0}};
  int rc = sbx_spec_parse("fuzz.yaml", data, size, &sc, &diag);

  if (rc != 0) {
    /* A failure leaves nothing behind and always says why, and where. */
    if (sc != NULL || diag.msg[0] == '\0' ||
        (rc == SBX_ESPEC && strncmp(diag.msg, "fuzz.yaml:", 10) != 0))
      abort();
    return 0;
  }
  {
    size_t n = sbx__v1__scenario__get_packed_size(sc);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf != NULL) {
      Sbx__V1__Scenario *back;
      sbx__v1__scenario__pack(sc, buf);
      back = sbx__v1__scenario__unpack(NULL, n, buf);
      if (back == NULL)
        abort();
      sbx__v1__scenario__free_unpacked(back, NULL);
      free(buf);
    }
  }
  sbx_scenario_free(sc);
  return 0;
}
