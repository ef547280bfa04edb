/* digest.c - SHA-256 through libcrypto. See digest.h. */
#include "digest.h"

#include <openssl/evp.h>
#include <sodium.h>
#include <string.h>
#include <uv.h>

#include "err.h"

/* OpenSSL 3 looks the algorithm up on every call given EVP_sha256(); an
 * explicitly fetched method is looked up once. It is immutable and
 * thread-safe once fetched, like curl's global init. */
static uv_once_t sha256_once = UV_ONCE_INIT;
static EVP_MD *sha256_md;

static void fetch_sha256(void) {
  sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* Below this size libsodium's portable code, which allocates nothing, is
 * cheaper than setting up a libcrypto context; above it the SHA extensions
 * win by far. */
#define SMALL_BODY 2048

int sbx_sha256(const void *data, size_t len, uint8_t out[SBX_SHA256_BYTES]) {
  unsigned int n = 0;
  if (len < SMALL_BODY) {
    crypto_hash_sha256(out, data, len);
    return 0;
  }
  uv_once(&sha256_once, fetch_sha256);
  if (sha256_md == NULL ||
      EVP_Digest(data, len, out, &n, sha256_md, NULL) != 1 ||
      n != SBX_SHA256_BYTES) {
    memset(out, 0, SBX_SHA256_BYTES);
    return SBX_ENOMEM;
  }
  return 0;
}
