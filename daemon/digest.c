/* digest.c - SHA-256 through libcrypto. See digest.h. */
#include "digest.h"

#include <openssl/evp.h>
#include <string.h>

#include "err.h"

int sbx_sha256(const void *data, size_t len, uint8_t out[SBX_SHA256_BYTES]) {
  unsigned int n = 0;
  if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 ||
      n != SBX_SHA256_BYTES) {
    memset(out, 0, SBX_SHA256_BYTES);
    return SBX_ENOMEM;
  }
  return 0;
}
