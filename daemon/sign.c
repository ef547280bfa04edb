/* sign.c - Ed25519 signatures over DSSE envelopes of packed results.
 *
 * The secret key is only ever held in sodium_malloc'd memory (guard pages,
 * mlock'd, wiped on free) and is made read-only once loaded; every buffer
 * on the stack that saw secret bytes is wiped with sodium_memzero before
 * the function returns.
 */
#include "sign.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "digest.h"

#define KEY_FILE "signing.key"
#define PUB_FILE "signing.pub"
#define KEY_MAGIC "sbx-ed25519-secret-v1\n"
/* The magic line, base64 of the 64-byte secret (88 chars), a newline and
 * room for stray whitespace: a bigger file is not one of ours. */
#define KEY_FILE_MAX 512
#define PUB_FILE_MAX 4096
#define SIG_BYTES crypto_sign_BYTES

struct sbx_signer {
  unsigned char *sk; /* crypto_sign_SECRETKEYBYTES, sodium_malloc'd */
  uint8_t pk[SBX_SIGN_PUBLIC_KEY_BYTES];
  char keyid[SBX_SIGN_KEYID_LEN + 1];
  int64_t created_ms;
};

static int sodium_ready(struct sbx_diag *diag) {
  if (sodium_init() < 0) {
    sbx_diag_set(diag, "libsodium failed to initialise");
    return SBX_EIO;
  }
  return 0;
}

void sbx_sign_keyid(const uint8_t pk[SBX_SIGN_PUBLIC_KEY_BYTES],
                    char out[SBX_SIGN_KEYID_LEN + 1]) {
  uint8_t h[SBX_SHA256_BYTES];

  /* libsodium's SHA-256 cannot fail; digest.c would only go to libcrypto
   * for big inputs. */
  crypto_hash_sha256(h, pk, SBX_SIGN_PUBLIC_KEY_BYTES);
  sodium_bin2hex(out, SBX_SIGN_KEYID_LEN + 1, h, SBX_SIGN_KEYID_LEN / 2);
}

static char *path_join(const char *dir, const char *name) {
  size_t n = strlen(dir) + 1 + strlen(name) + 1;
  char *p = malloc(n);

  if (p != NULL)
    snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static int write_all(int fd, const void *buf, size_t len) {
  const unsigned char *p = buf;

  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return w < 0 ? errno : EIO;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

/* Reads all of fd into buf (at most cap bytes). Returns 0, EFBIG when the
 * file holds more than cap bytes, or an errno value. */
static int read_all(int fd, unsigned char *buf, size_t cap, size_t *len) {
  size_t off = 0;

  for (;;) {
    ssize_t r = read(fd, buf + off, cap - off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return errno;
    if (r == 0)
      break;
    off += (size_t)r;
    if (off == cap) {
      unsigned char extra;
      do
        r = read(fd, &extra, 1);
      while (r < 0 && errno == EINTR);
      if (r != 0)
        return r < 0 ? errno : EFBIG;
      break;
    }
  }
  *len = off;
  return 0;
}

static int is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

/* Trims whitespace around p[0..*n) in place of the bounds. */
static const unsigned char *trim(const unsigned char *p, size_t *n) {
  while (*n > 0 && is_space(p[0])) {
    p++;
    (*n)--;
  }
  while (*n > 0 && is_space(p[*n - 1]))
    (*n)--;
  return p;
}

/* Decodes exactly out_len bytes from text[0..n): 2*out_len hex digits, or
 * base64 in any of libsodium's four variants. Returns 0 or -1. */
static int decode_key_text(const unsigned char *text, size_t n, uint8_t *out,
                           size_t out_len) {
  static const int variants[] = {
      sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
      sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
  const char *end;
  size_t got, i;

  if (n == 2 * out_len &&
      sodium_hex2bin(out, out_len, (const char *)text, n, NULL, &got, &end) ==
          0 &&
      got == out_len && end == (const char *)text + n)
    return 0;
  /* libsodium 1.0.18 takes any byte >= 0x80 for a base64 digit: only
   * the two alphabets (and padding) may reach it. */
  for (i = 0; i < n; i++) {
    unsigned char c = text[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
          (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '-' ||
          c == '_' || c == '='))
      return -1;
  }
  for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
    if (sodium_base642bin(out, out_len, (const char *)text, n, NULL, &got, &end,
                          variants[i]) == 0 &&
        got == out_len && end == (const char *)text + n)
      return 0;
  }
  return -1;
}

/* ---- keygen ---- */

/* Sets fd's mode to exactly mode (umask can only take bits away), writes
 * data, fsyncs and closes fd (in every case). Returns 0 or an errno value. */
static int finish_file(int fd, mode_t mode, const void *data, size_t len) {
  int err = 0;

  if (fchmod(fd, mode) != 0)
    err = errno;
  if (err == 0 && (err = write_all(fd, data, len)) == 0 && fsync(fd) != 0)
    err = errno;
  if (close(fd) != 0 && err == 0)
    err = errno;
  return err;
}

static void key_exists(struct sbx_diag *diag, const char *kpath) {
  sbx_diag_set(diag,
               "%s already exists; a signing key is never overwritten "
               "(results signed with it could no longer be verified); move "
               "it away first if you really want a new key",
               kpath);
}

int sbx_sign_keygen(const char *dir, struct sbx_diag *diag) {
  char *kpath = NULL, *ppath = NULL;
  unsigned char *sk = NULL;
  char *text = NULL;
  size_t magic = sizeof(KEY_MAGIC) - 1, b64;
  uint8_t pk[SBX_SIGN_PUBLIC_KEY_BYTES];
  char pubtext[sodium_base64_ENCODED_LEN(SBX_SIGN_PUBLIC_KEY_BYTES,
                                         sodium_base64_VARIANT_ORIGINAL) +
               1];
  struct stat sb;
  bool kmade = false, pmade = false;
  int kfd = -1, pfd = -1, dfd = -1, err;
  int rc;

  if (dir == NULL || dir[0] == '\0') {
    sbx_diag_set(diag, "no directory given for the signing key");
    return SBX_EINVAL;
  }
  if ((rc = sodium_ready(diag)) != 0)
    return rc;
  rc = SBX_ENOMEM;
  kpath = path_join(dir, KEY_FILE);
  ppath = path_join(dir, PUB_FILE);
  sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
  text = sodium_malloc(KEY_FILE_MAX);
  if (kpath == NULL || ppath == NULL || sk == NULL || text == NULL) {
    sbx_diag_set(diag, "out of memory");
    goto out;
  }

  rc = SBX_EIO;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    err = errno;
    sbx_diag_set(diag, "cannot create %s: %s%s", dir, strerror(err),
                 err == ENOENT ? "; create its parent first" : "");
    goto out;
  }
  /* Checked before the secret is created so that a stray public key is
   * reported without creating and removing anything; O_EXCL below still
   * decides a race. */
  if (lstat(kpath, &sb) == 0) {
    key_exists(diag, kpath);
    rc = SBX_EEXIST;
    goto out;
  }
  if (lstat(ppath, &sb) == 0) {
    sbx_diag_set(diag,
                 "%s already exists without %s; remove it (it names a key "
                 "that is gone) before creating a new key",
                 ppath, KEY_FILE);
    rc = SBX_EEXIST;
    goto out;
  }

  kfd = open(kpath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (kfd < 0) {
    err = errno;
    if (err == EEXIST) {
      key_exists(diag, kpath);
      rc = SBX_EEXIST;
    } else {
      sbx_diag_set(diag,
                   "cannot create %s: %s; check that %s is a "
                   "writable directory",
                   kpath, strerror(err), dir);
    }
    goto out;
  }
  kmade = true;

  crypto_sign_keypair(pk, sk);
  memcpy(text, KEY_MAGIC, magic);
  sodium_bin2base64(text + magic, KEY_FILE_MAX - magic, sk,
                    crypto_sign_SECRETKEYBYTES, sodium_base64_VARIANT_ORIGINAL);
  b64 = strlen(text + magic);
  text[magic + b64] = '\n';
  err = finish_file(kfd, 0600, text, magic + b64 + 1);
  kfd = -1;
  if (err != 0) {
    sbx_diag_set(diag, "cannot write %s: %s", kpath, strerror(err));
    goto out;
  }

  pfd = open(ppath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (pfd < 0) {
    err = errno;
    sbx_diag_set(diag, "cannot create %s: %s", ppath, strerror(err));
    if (err == EEXIST)
      rc = SBX_EEXIST;
    goto out;
  }
  pmade = true;
  sodium_bin2base64(pubtext, sizeof(pubtext) - 1, pk, sizeof(pk),
                    sodium_base64_VARIANT_ORIGINAL);
  b64 = strlen(pubtext);
  pubtext[b64] = '\n';
  err = finish_file(pfd, 0644, pubtext, b64 + 1);
  pfd = -1;
  if (err != 0) {
    sbx_diag_set(diag, "cannot write %s: %s", ppath, strerror(err));
    goto out;
  }

  /* The new names must survive a crash, not only the contents. */
  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fsync(dfd) != 0) {
    sbx_diag_set(diag, "cannot sync directory %s: %s", dir, strerror(errno));
    goto out;
  }
  rc = 0;

out:
  if (kfd >= 0)
    close(kfd);
  if (pfd >= 0)
    close(pfd);
  if (dfd >= 0)
    close(dfd);
  if (rc != 0 && pmade)
    unlink(ppath);
  if (rc != 0 && kmade)
    unlink(kpath);
  sodium_free(sk);
  sodium_free(text);
  free(kpath);
  free(ppath);
  return rc;
}

/* ---- loading ---- */

void sbx_signer_free(struct sbx_signer *s) {
  if (s == NULL)
    return;
  sodium_free(s->sk); /* wipes, unlocks and unmaps, read-only or not */
  free(s);
}

const char *sbx_signer_keyid(const struct sbx_signer *s) {
  return s->keyid;
}

const uint8_t *sbx_signer_public_key(const struct sbx_signer *s) {
  return s->pk;
}

int64_t sbx_signer_created_ms(const struct sbx_signer *s) {
  return s->created_ms;
}

/* Parses the key file text[0..n) into sk. Returns 0 or -1. */
static int parse_key_file(const unsigned char *text, size_t n,
                          unsigned char *sk) {
  size_t magic = sizeof(KEY_MAGIC) - 1;
  const unsigned char *b;
  size_t blen;

  if (n < magic || memcmp(text, KEY_MAGIC, magic) != 0)
    return -1;
  blen = n - magic;
  b = trim(text + magic, &blen);
  return decode_key_text(b, blen, sk, crypto_sign_SECRETKEYBYTES);
}

/* Checks that sk is a well-formed libsodium secret key: its second half is
 * the public key that its seed derives. Returns 0 or -1. */
static int check_secret(const unsigned char *sk) {
  unsigned char seed[crypto_sign_SEEDBYTES];
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk2[crypto_sign_SECRETKEYBYTES];
  int ok;

  crypto_sign_ed25519_sk_to_seed(seed, sk);
  crypto_sign_seed_keypair(pk, sk2, seed);
  ok = sodium_memcmp(sk, sk2, sizeof(sk2)) == 0;
  sodium_memzero(seed, sizeof(seed));
  sodium_memzero(sk2, sizeof(sk2));
  return ok ? 0 : -1;
}

int sbx_signer_load(const char *dir, struct sbx_signer **out,
                    struct sbx_diag *diag) {
  struct sbx_signer *s = NULL;
  char *kpath = NULL, *ppath = NULL;
  unsigned char *text = NULL;
  uint8_t pub[SBX_SIGN_PUBLIC_KEY_BYTES];
  struct sbx_diag pd;
  struct stat sb;
  size_t n;
  int fd = -1, err, rc;

  if (out != NULL)
    *out = NULL;
  if (dir == NULL || out == NULL) {
    sbx_diag_set(diag, "no directory given for the signing key");
    return SBX_EINVAL;
  }
  if ((rc = sodium_ready(diag)) != 0)
    return rc;
  rc = SBX_ENOMEM;
  kpath = path_join(dir, KEY_FILE);
  ppath = path_join(dir, PUB_FILE);
  text = sodium_malloc(KEY_FILE_MAX);
  s = calloc(1, sizeof(*s));
  if (kpath == NULL || ppath == NULL || text == NULL || s == NULL)
    goto nomem;
  s->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
  if (s->sk == NULL)
    goto nomem;

  fd = open(kpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    err = errno;
    if (err == ENOENT) {
      sbx_diag_set(diag,
                   "%s does not exist: %s has no signing key yet; "
                   "initialise it first (sandboxd init creates the key "
                   "pair)",
                   kpath, dir);
      rc = SBX_ENOENT;
    } else {
      sbx_diag_set(diag, "cannot open %s: %s", kpath, strerror(err));
      rc = SBX_EIO;
    }
    goto out;
  }
  if (fstat(fd, &sb) != 0) {
    sbx_diag_set(diag, "cannot stat %s: %s", kpath, strerror(errno));
    rc = SBX_EIO;
    goto out;
  }
  if (!S_ISREG(sb.st_mode)) {
    sbx_diag_set(diag, "%s is not a regular file", kpath);
    rc = SBX_EINVAL;
    goto out;
  }
  /* Like ssh: a secret that others may read (or replace) is refused, not
   * used with a warning, so the mistake gets fixed. */
  if ((sb.st_mode & 077) != 0) {
    sbx_diag_set(diag,
                 "%s: permissions %04o are too open: the secret key "
                 "must be private to its owner; run: chmod 600 %s",
                 kpath, (unsigned)(sb.st_mode & 07777), kpath);
    rc = SBX_EPERM;
    goto out;
  }
  if ((err = read_all(fd, text, KEY_FILE_MAX, &n)) != 0) {
    if (err == EFBIG) {
      sbx_diag_set(diag, "%s: too big for a signing key (%u bytes at most)",
                   kpath, (unsigned)KEY_FILE_MAX);
      rc = SBX_EINVAL;
    } else {
      sbx_diag_set(diag, "cannot read %s: %s", kpath, strerror(err));
      rc = SBX_EIO;
    }
    goto out;
  }
  if (parse_key_file(text, n, s->sk) != 0 || check_secret(s->sk) != 0) {
    sbx_diag_set(diag,
                 "%s: not an sbx signing key (expected the line "
                 "\"sbx-ed25519-secret-v1\" and the base64 of a 64-byte "
                 "Ed25519 secret key); restore it from a backup",
                 kpath);
    rc = SBX_EINVAL;
    goto out;
  }
  crypto_sign_ed25519_sk_to_pk(s->pk, s->sk);
  sbx_sign_keyid(s->pk, s->keyid);
  s->created_ms =
      (int64_t)sb.st_mtim.tv_sec * 1000 + (int64_t)sb.st_mtim.tv_nsec / 1000000;

  memset(&pd, 0, sizeof(pd));
  rc = sbx_sign_read_pubkey(ppath, pub, &pd);
  if (rc == 0 && sodium_memcmp(pub, s->pk, sizeof(pub)) != 0) {
    char other[SBX_SIGN_KEYID_LEN + 1];
    sbx_sign_keyid(pub, other);
    sbx_diag_set(diag,
                 "%s holds key %s but %s holds key %s; results "
                 "would be checked against the wrong key: put back the "
                 "matching pair (or remove %s if %s holds the key you "
                 "mean to sign with)",
                 ppath, other, kpath, s->keyid, ppath, KEY_FILE);
    rc = SBX_EINVAL;
    goto out;
  }
  if (rc != 0 && rc != SBX_ENOENT) {
    sbx_diag_set(diag, "%s", pd.msg);
    goto out;
  }
  /* A signer only ever reads its secret from now on. */
  sodium_mprotect_readonly(s->sk);
  *out = s;
  s = NULL;
  rc = 0;
  goto out;

nomem:
  sbx_diag_set(diag, "out of memory");
  rc = SBX_ENOMEM;
out:
  if (fd >= 0)
    close(fd);
  sbx_signer_free(s);
  sodium_free(text);
  free(kpath);
  free(ppath);
  return rc;
}

/* ---- signing and verifying ---- */

/* Builds PAE(type, body) into a new buffer. Returns NULL when out of
 * memory. */
static unsigned char *pae(const char *type, const uint8_t *body,
                          size_t body_len, size_t *out_len) {
  size_t tlen = strlen(type), hlen;
  unsigned char *buf;
  char head[64];
  int h;

  h = snprintf(head, sizeof(head), "DSSEv1 %zu ", tlen);
  if (h < 0 || (size_t)h >= sizeof(head))
    return NULL;
  hlen = (size_t)h;
  /* The second length goes after the type; 20 digits fit any size_t. */
  buf = malloc(hlen + tlen + 1 + 21 + 1 + body_len + 1);
  if (buf == NULL)
    return NULL;
  memcpy(buf, head, hlen);
  memcpy(buf + hlen, type, tlen);
  hlen += tlen;
  h = snprintf((char *)buf + hlen, 24, " %zu ", body_len);
  hlen += (size_t)h;
  if (body_len > 0)
    memcpy(buf + hlen, body, body_len);
  *out_len = hlen + body_len;
  return buf;
}

int sbx_sign_result(const struct sbx_signer *s, const Sbx__V1__Result *res,
                    Sbx__V1__SignedResult **out) {
  Sbx__V1__SignedResult *sr = NULL;
  Sbx__V1__Signature *sig;
  unsigned char *msg = NULL;
  size_t len, msg_len;
  int rc;

  if (out != NULL)
    *out = NULL;
  if (s == NULL || res == NULL || out == NULL)
    return SBX_EINVAL;
  rc = SBX_ENOMEM;
  sr = malloc(sizeof(*sr));
  if (sr == NULL)
    goto out;
  sbx__v1__signed_result__init(sr);

  /* Packed exactly once: these bytes are what is signed and what travels. */
  len = sbx__v1__result__get_packed_size(res);
  sr->payload.data = malloc(len > 0 ? len : 1);
  if (sr->payload.data == NULL)
    goto out;
  sr->payload.len = sbx__v1__result__pack(res, sr->payload.data);

  sr->payload_type = strdup(SBX_RESULT_PAYLOAD_TYPE);
  if (sr->payload_type == NULL) {
    sr->payload_type = (char *)protobuf_c_empty_string;
    goto out;
  }
  sr->signatures = calloc(1, sizeof(*sr->signatures));
  if (sr->signatures == NULL)
    goto out;
  sig = malloc(sizeof(*sig));
  if (sig == NULL)
    goto out;
  sbx__v1__signature__init(sig);
  sr->signatures[0] = sig;
  sr->n_signatures = 1;
  sig->keyid = strdup(s->keyid);
  if (sig->keyid == NULL) {
    sig->keyid = (char *)protobuf_c_empty_string;
    goto out;
  }
  sig->sig.data = malloc(SIG_BYTES);
  if (sig->sig.data == NULL)
    goto out;
  sig->sig.len = SIG_BYTES;

  msg = pae(sr->payload_type, sr->payload.data, sr->payload.len, &msg_len);
  if (msg == NULL)
    goto out;
  crypto_sign_detached(sig->sig.data, NULL, msg, msg_len, s->sk);
  *out = sr;
  sr = NULL;
  rc = 0;

out:
  free(msg);
  if (sr != NULL)
    sbx__v1__signed_result__free_unpacked(sr, NULL);
  return rc;
}

/* Copies an untrusted string for a message: printable ASCII only, at most
 * 40 characters. */
static void printable(char *dst, size_t cap, const char *src) {
  size_t i = 0;

  for (; *src != '\0' && i + 1 < cap && i < 40; src++)
    dst[i++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
  dst[i] = '\0';
}

static int sig_verifies(const Sbx__V1__Signature *sig, const unsigned char *msg,
                        size_t msg_len, const uint8_t *pk) {
  return sig != NULL && sig->sig.len == SIG_BYTES &&
         crypto_sign_verify_detached(sig->sig.data, msg, msg_len, pk) == 0;
}

int sbx_sign_verify(const Sbx__V1__SignedResult *sr,
                    const uint8_t pk[SBX_SIGN_PUBLIC_KEY_BYTES],
                    Sbx__V1__Result **res_out, struct sbx_diag *diag) {
  char keyid[SBX_SIGN_KEYID_LEN + 1], shown[48];
  unsigned char *msg = NULL;
  size_t msg_len, i;
  bool ok = false;
  int rc;

  if (res_out != NULL)
    *res_out = NULL;
  if (sr == NULL || pk == NULL) {
    sbx_diag_set(diag, "nothing to verify");
    return SBX_EINVAL;
  }
  if ((rc = sodium_ready(diag)) != 0)
    return rc;
  if ((sr->payload_type == NULL || sr->payload_type[0] == '\0') &&
      sr->n_signatures == 0) {
    sbx_diag_set(diag, "not a signed result: no payload type and no "
                       "signature");
    return SBX_EINVAL;
  }
  if (sr->payload_type == NULL ||
      strcmp(sr->payload_type, SBX_RESULT_PAYLOAD_TYPE) != 0) {
    printable(shown, sizeof(shown), sr->payload_type ? sr->payload_type : "");
    sbx_diag_set(diag, "payload type is \"%s\", expected \"%s\"", shown,
                 SBX_RESULT_PAYLOAD_TYPE);
    return SBX_EVERIFY;
  }
  if (sr->n_signatures == 0) {
    sbx_diag_set(diag, "the result carries no signature");
    return SBX_EVERIFY;
  }
  msg = pae(sr->payload_type, sr->payload.data, sr->payload.len, &msg_len);
  if (msg == NULL) {
    sbx_diag_set(diag, "out of memory");
    return SBX_ENOMEM;
  }
  sbx_sign_keyid(pk, keyid);
  /* The keyid is unauthenticated: it only orders the attempts. */
  for (i = 0; i < sr->n_signatures && !ok; i++) {
    const Sbx__V1__Signature *sig = sr->signatures[i];
    if (sig != NULL && sig->keyid != NULL && strcmp(sig->keyid, keyid) == 0)
      ok = sig_verifies(sig, msg, msg_len, pk);
  }
  for (i = 0; i < sr->n_signatures && !ok; i++) {
    const Sbx__V1__Signature *sig = sr->signatures[i];
    if (sig == NULL || sig->keyid == NULL || strcmp(sig->keyid, keyid) != 0)
      ok = sig_verifies(sig, msg, msg_len, pk);
  }
  free(msg);
  if (!ok) {
    const Sbx__V1__Signature *first = sr->signatures[0];
    printable(shown, sizeof(shown),
              first != NULL && first->keyid != NULL ? first->keyid : "");
    sbx_diag_set(diag,
                 "no signature verifies with key %s (%zu signature%s, the "
                 "first says key \"%s\"): the result was changed after "
                 "signing, or it was signed by another key",
                 keyid, sr->n_signatures, sr->n_signatures == 1 ? "" : "s",
                 shown);
    return SBX_EVERIFY;
  }
  if (res_out != NULL) {
    *res_out = sbx__v1__result__unpack(NULL, sr->payload.len, sr->payload.data);
    if (*res_out == NULL) {
      sbx_diag_set(diag,
                   "the signature is valid but the payload is not a "
                   "sbx.v1.Result (%zu bytes)",
                   sr->payload.len);
      return SBX_EINVAL;
    }
  }
  return 0;
}

int sbx_sign_read_pubkey(const char *path,
                         uint8_t pk[SBX_SIGN_PUBLIC_KEY_BYTES],
                         struct sbx_diag *diag) {
  unsigned char buf[PUB_FILE_MAX];
  uint8_t key[SBX_SIGN_PUBLIC_KEY_BYTES];
  const unsigned char *t;
  size_t n = 0;
  int fd, err, rc;

  if (path == NULL || pk == NULL) {
    sbx_diag_set(diag, "no public key file given");
    return SBX_EINVAL;
  }
  if ((rc = sodium_ready(diag)) != 0)
    return rc;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err = errno;
    sbx_diag_set(diag, "cannot open public key %s: %s", path, strerror(err));
    return err == ENOENT ? SBX_ENOENT : SBX_EIO;
  }
  err = read_all(fd, buf, sizeof(buf), &n);
  close(fd);
  if (err != 0 && err != EFBIG) {
    sbx_diag_set(diag, "cannot read public key %s: %s", path, strerror(err));
    return SBX_EIO;
  }
  t = trim(buf, &n);
  if (err == EFBIG ||
      decode_key_text(t, n, key, SBX_SIGN_PUBLIC_KEY_BYTES) != 0) {
    sbx_diag_set(diag,
                 "%s: not an Ed25519 public key: expected the base64 of 32 "
                 "bytes or 64 hex digits (the signing.pub of sandboxd, or "
                 "what 'sbx keys --out FILE' writes)",
                 path);
    return SBX_EINVAL;
  }
  memcpy(pk, key, sizeof(key));
  return 0;
}
