/* digest.h - SHA-256 of response bodies on the hot path.
 *
 * Checking every answer byte for byte means hashing every body the product
 * sends. Big bodies go through OpenSSL's libcrypto, whose SHA extensions
 * run several times faster than a portable implementation (that kept the
 * harness from being the bottleneck on content-heavy scenarios); small ones
 * through libsodium, which needs no context to be set up per call.
 */
#ifndef SBX_DIGEST_H
#define SBX_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define SBX_SHA256_BYTES 32

/* Writes the SHA-256 of data[0..len) into out. Returns 0, or SBX_ENOMEM if
 * libcrypto could not allocate (out is then zeroed). */
int sbx_sha256(const void *data, size_t len, uint8_t out[SBX_SHA256_BYTES]);

#endif
