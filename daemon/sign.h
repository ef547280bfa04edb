/* sign.h - signed results: Ed25519 (libsodium) inside a DSSE envelope.
 *
 * A result is packed once; those exact bytes become the payload of a
 * SignedResult{payload, payload_type, signatures} (proto/sbx/v1/result.proto)
 * and the signature covers the DSSE pre-authentication encoding
 *   PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body
 * (lengths in ASCII decimal), so that neither the bytes nor their declared
 * type can change without breaking it. Protobuf is not canonical, so a
 * verifier checks the bytes it received BEFORE it parses them and never
 * re-serializes anything (notes/api-conventions.md §5).
 *
 * A signature's keyid (lowercase hex of the first 8 bytes of SHA-256 of the
 * public key) is an unauthenticated hint for finding the key, nothing more.
 *
 * Keys live in the data directory: signing.key, the secret (mode 0600,
 * "sbx-ed25519-secret-v1\n" + base64 of the 64-byte libsodium secret key),
 * and signing.pub, the public key as base64 of its 32 bytes plus a newline,
 * the file that `sbx verify --key` takes and that anyone may read. The
 * loaded secret stays in sodium_malloc'd, mlock'd, read-only memory.
 *
 * Every function here calls sodium_init() itself; all are thread-safe, and a
 * loaded signer may be used from several threads at once.
 */
#ifndef SBX_SIGN_H
#define SBX_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "sbx/v1/result.pb-c.h"

/* The DSSE payload type of a packed sbx.v1.Result. */
#define SBX_RESULT_PAYLOAD_TYPE "application/vnd.sbx.result.v1+proto"

#define SBX_SIGN_PUBLIC_KEY_BYTES 32
#define SBX_SIGN_KEYID_LEN 16 /* hex digits, without the NUL */

struct sbx_signer;

/* Writes the keyid of the public key pk (16 lowercase hex digits and a NUL)
 * into out. Never fails. */
void sbx_sign_keyid(const uint8_t pk[SBX_SIGN_PUBLIC_KEY_BYTES],
                    char out[SBX_SIGN_KEYID_LEN + 1]);

/* Creates a new Ed25519 key pair in dir (created with mode 0700 if it does
 * not exist; its parent must): dir/signing.key with mode 0600, created
 * with O_EXCL and fsync'd before signing.pub (mode 0644) is written, then
 * the directory is fsync'd. Returns 0; SBX_EEXIST if either file already
 * exists (nothing is overwritten: a key that signed results must never be
 * lost by accident); SBX_EINVAL (dir NULL or empty); SBX_ENOMEM; or SBX_EIO.
 * diag (may be NULL) says what failed and how to fix it. On failure neither
 * file has been created by this call. */
int sbx_sign_keygen(const char *dir, struct sbx_diag *diag);

/* Loads dir/signing.key into a new signer. The file must be a regular file
 * that neither group nor others may access (else the message says
 * "chmod 600 FILE"), in the format sbx_sign_keygen writes; its secret must
 * belong to its embedded public key, and to dir/signing.pub if that file
 * exists. Returns 0 and sets *out (release with sbx_signer_free); or
 * SBX_ENOENT (no key: create one with sbx_sign_keygen), SBX_EPERM (mode too
 * open), SBX_EINVAL (malformed or mismatching files), SBX_EIO, SBX_ENOMEM;
 * *out is NULL on failure and diag says what, where and how to fix it. */
int sbx_signer_load(const char *dir, struct sbx_signer **out,
                    struct sbx_diag *diag);

/* Wipes and frees s. s may be NULL. */
void sbx_signer_free(struct sbx_signer *s);

/* The signer's keyid (16 hex digits), valid as long as s. */
const char *sbx_signer_keyid(const struct sbx_signer *s);

/* The signer's Ed25519 public key (SBX_SIGN_PUBLIC_KEY_BYTES bytes), valid
 * as long as s. */
const uint8_t *sbx_signer_public_key(const struct sbx_signer *s);

/* When the key was created: the modification time of signing.key in
 * milliseconds since the Unix epoch. */
int64_t sbx_signer_created_ms(const struct sbx_signer *s);

/* Packs res once and signs those bytes: *out gets payload = the packed
 * bytes, payload_type = SBX_RESULT_PAYLOAD_TYPE and one Signature {keyid,
 * sig} where sig = Ed25519(PAE(payload_type, payload)). The caller frees
 * *out with sbx__v1__signed_result__free_unpacked(*out, NULL). Returns 0,
 * SBX_EINVAL (NULL argument) or SBX_ENOMEM; *out is NULL on failure. res is
 * not modified. */
int sbx_sign_result(const struct sbx_signer *s, const Sbx__V1__Result *res,
                    Sbx__V1__SignedResult **out);

/* Verifies sr against the public key pk: the payload type must be
 * SBX_RESULT_PAYLOAD_TYPE, and one signature must verify over
 * PAE(payload_type, payload) with pk. Signatures whose keyid matches pk are
 * tried first, then all the others (a keyid is only a hint). Only after a
 * signature verifies are the payload bytes parsed, into *res_out if res_out
 * is not NULL (the caller frees it with sbx__v1__result__free_unpacked).
 * Returns 0; SBX_EVERIFY (wrong payload type, no signature, or none
 * verifies with pk); SBX_EINVAL (sr or pk NULL, an envelope with neither
 * payload type nor signatures, i.e. not a signed result at all, or a
 * verified payload that is not a Result); or SBX_ENOMEM. diag (may be NULL)
 * says what failed. *res_out is NULL on failure. */
int sbx_sign_verify(const Sbx__V1__SignedResult *sr,
                    const uint8_t pk[SBX_SIGN_PUBLIC_KEY_BYTES],
                    Sbx__V1__Result **res_out, struct sbx_diag *diag);

/* Reads an Ed25519 public key from path: base64 of the 32 bytes (standard
 * or URL-safe alphabet, padded or not) or 64 hex digits, surrounded by
 * optional whitespace. Returns 0 and fills pk; SBX_ENOENT or SBX_EIO (cannot
 * read path); SBX_EINVAL (not a key in either form). On failure pk is
 * unchanged and diag says what is wrong with which file. */
int sbx_sign_read_pubkey(const char *path,
                         uint8_t pk[SBX_SIGN_PUBLIC_KEY_BYTES],
                         struct sbx_diag *diag);

#endif
