/* fuzz_sign.c - arbitrary bytes as a signed result, and as a public key
 * file.
 *
 * The first byte picks the parser (its low bit), the rest is the input:
 *  - 0: a packed SignedResult, verified with sbx_sign_verify against a
 *    fixed key (from a fixed seed). Whatever verifies must carry a
 *    signature that an independent check (PAE rebuilt here, libsodium
 *    directly) accepts, must parse as a Result when asked, and must never
 *    verify with a second, unrelated key: no input may forge a signature.
 *    On failure the message is set and *res_out is NULL.
 *  - 1: the contents of a public key file for sbx_sign_read_pubkey, through
 *    one memfd per process that is rewritten each time (the function takes
 *    a path: /proc/self/fd/N). Accepted text must be exactly one of the
 *    canonical encodings of the key it yields (hex in either case, base64
 *    in libsodium's four variants) once surrounding whitespace is trimmed;
 *    refused text leaves the key untouched and says why.
 * Seeds: tests/fuzz/corpus/sign (valid signed results by the fixed key,
 * tampered ones, key files in each encoding). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

#include "sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t pk[crypto_sign_PUBLICKEYBYTES];
static uint8_t other_pk[crypto_sign_PUBLICKEYBYTES];
static int key_fd = -1;
static char key_path[64];

static void init_once(void) {
  static int done;
  uint8_t seed[crypto_sign_SEEDBYTES], sk[crypto_sign_SECRETKEYBYTES];

  if (done)
    return;
  done = 1;
  if (sodium_init() < 0)
    abort();
  /* The seed corpus was signed with the key of seed 0x00 0x01 ... 0x1f. */
  for (size_t i = 0; i < sizeof(seed); i++)
    seed[i] = (uint8_t)i;
  crypto_sign_seed_keypair(pk, sk, seed);
  for (size_t i = 0; i < sizeof(seed); i++)
    seed[i] = (uint8_t)(0xa5 ^ i);
  crypto_sign_seed_keypair(other_pk, sk, seed);
  sodium_memzero(sk, sizeof(sk));
  key_fd = memfd_create("fuzz_sign_key", MFD_CLOEXEC);
  if (key_fd < 0)
    abort();
  snprintf(key_path, sizeof(key_path), "/proc/self/fd/%d", key_fd);
}

/* PAE(type, body), rebuilt here so that the check does not trust sign.c. */
static int pae_verifies(const Sbx__V1__Signature *sig, const char *type,
                        const ProtobufCBinaryData *body, const uint8_t *key) {
  char head[128];
  size_t tlen = strlen(type), hlen;
  uint8_t *msg;
  int ok;

  if (sig->sig.len != crypto_sign_BYTES)
    return 0;
  hlen = (size_t)snprintf(head, sizeof(head), "DSSEv1 %zu ", tlen);
  msg = malloc(hlen + tlen + 32 + body->len);
  if (msg == NULL)
    abort();
  memcpy(msg, head, hlen);
  memcpy(msg + hlen, type, tlen);
  hlen += tlen;
  hlen += (size_t)snprintf((char *)msg + hlen, 32, " %zu ", body->len);
  if (body->len > 0)
    memcpy(msg + hlen, body->data, body->len);
  ok = crypto_sign_verify_detached(sig->sig.data, msg, hlen + body->len, key) ==
       0;
  free(msg);
  return ok;
}

static void fuzz_signed(const uint8_t *data, size_t size) {
  Sbx__V1__SignedResult *sr = sbx__v1__signed_result__unpack(NULL, size, data);
  Sbx__V1__Result *res = (Sbx__V1__Result *)1;
  struct sbx_diag diag = {{0}};
  int rc, rc2, any = 0;

  if (sr == NULL)
    return;
  rc = sbx_sign_verify(sr, pk, &res, &diag);
  if (rc != 0) {
    if (res != NULL || diag.msg[0] == '\0')
      abort();
    if (rc != SBX_EVERIFY && rc != SBX_EINVAL && rc != SBX_ENOMEM)
      abort();
  } else {
    if (res == NULL)
      abort();
    if (strcmp(sr->payload_type, SBX_RESULT_PAYLOAD_TYPE) != 0)
      abort();
    for (size_t i = 0; i < sr->n_signatures && !any; i++)
      any = pae_verifies(sr->signatures[i], sr->payload_type, &sr->payload, pk);
    if (!any)
      abort();
    sbx__v1__result__free_unpacked(res, NULL);
  }
  /* Without res_out only the parse of the payload is skipped. */
  rc2 = sbx_sign_verify(sr, pk, NULL, NULL);
  if (rc2 != rc && !(rc == SBX_EINVAL && rc2 == 0))
    abort();
  /* Nothing here was signed by the other key. */
  res = (Sbx__V1__Result *)1;
  if (sbx_sign_verify(sr, other_pk, &res, NULL) == 0 || res != NULL)
    abort();
  sbx__v1__signed_result__free_unpacked(sr, NULL);
}

static int is_space(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

static void fuzz_pubkey(const uint8_t *data, size_t size) {
  static const int variants[] = {
      sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
      sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
  uint8_t got[SBX_SIGN_PUBLIC_KEY_BYTES];
  struct sbx_diag diag = {{0}};
  char enc[128];
  size_t off = 0, n = size;
  int rc, match = 0;

  if (ftruncate(key_fd, 0) != 0)
    abort();
  while (off < size) {
    ssize_t w = pwrite(key_fd, data + off, size - off, (off_t)off);
    if (w <= 0)
      abort();
    off += (size_t)w;
  }
  memset(got, 0x5a, sizeof(got));
  rc = sbx_sign_read_pubkey(key_path, got, &diag);
  if (rc != 0) {
    if (rc != SBX_EINVAL || diag.msg[0] == '\0')
      abort();
    for (size_t i = 0; i < sizeof(got); i++)
      if (got[i] != 0x5a)
        abort();
    return;
  }
  /* Trim as the reader does, then compare with every canonical form. */
  while (n > 0 && is_space(data[0])) {
    data++;
    n--;
  }
  while (n > 0 && is_space(data[n - 1]))
    n--;
  sodium_bin2hex(enc, sizeof(enc), got, sizeof(got));
  if (n == strlen(enc) && strncasecmp(enc, (const char *)data, n) == 0)
    match = 1;
  for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]) && !match;
       i++) {
    sodium_bin2base64(enc, sizeof(enc), got, sizeof(got), variants[i]);
    match = n == strlen(enc) && memcmp(enc, data, n) == 0;
  }
  if (!match)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_once();
  if (size == 0)
    return 0;
  if (data[0] & 1)
    fuzz_pubkey(data + 1, size - 1);
  else
    fuzz_signed(data + 1, size - 1);
  return 0;
}
