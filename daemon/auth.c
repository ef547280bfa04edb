/* auth.c - bearer tokens kept as SHA-256(secret) -> Token in the store.
 *
 * Looking a token up by the hash of its secret needs no constant-time
 * comparison: an attacker who can time the lookup learns about hashes, not
 * secrets. The token id is a prefix of that hash, so revoking by id is a
 * prefix scan of the tokens database.
 */
#include "auth.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "digest.h"

#define SECRET_PREFIX "sbx_"
#define SECRET_RAW_BYTES 32
#define ID_BYTES (SBX_AUTH_ID_LEN / 2)
#define VENDOR_MAX 64
#define HOW_TO_FIX "pass --token or set SBX_TOKEN"

static const char *const role_names[] = {
    [SBX__V1__ROLE__ROLE_ADMIN] = "admin",
    [SBX__V1__ROLE__ROLE_PUBLISHER] = "publisher",
    [SBX__V1__ROLE__ROLE_EVALUATOR] = "evaluator",
    [SBX__V1__ROLE__ROLE_VIEWER] = "viewer",
    [SBX__V1__ROLE__ROLE_VENDOR] = "vendor",
};
#define N_ROLES (sizeof(role_names) / sizeof(role_names[0]))

const char *sbx_role_name(Sbx__V1__Role role) {
  if ((unsigned)role < N_ROLES && role_names[role] != NULL)
    return role_names[role];
  return "unspecified";
}

int sbx_role_parse(const char *s, Sbx__V1__Role *role) {
  size_t i;

  if (s == NULL || role == NULL)
    return SBX_EINVAL;
  for (i = 0; i < N_ROLES; i++) {
    if (role_names[i] != NULL && strcasecmp(s, role_names[i]) == 0) {
      *role = (Sbx__V1__Role)i;
      return 0;
    }
  }
  return SBX_EINVAL;
}

static int64_t now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool valid_vendor(const char *v) {
  size_t i;

  if (!((v[0] >= 'a' && v[0] <= 'z') || (v[0] >= '0' && v[0] <= '9')))
    return false;
  for (i = 1; v[i] != '\0'; i++) {
    char c = v[i];
    if (i >= VENDOR_MAX)
      return false;
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '.' || c == '-'))
      return false;
  }
  return true;
}

/* Valid UTF-8 without control characters: a name ends up in protobuf
 * strings (which other languages' parsers require to be UTF-8) and on
 * terminals. */
static bool valid_name(const char *s) {
  const unsigned char *p = (const unsigned char *)s;

  while (*p != '\0') {
    unsigned c = *p, need, cp, i;
    if (c < 0x20 || c == 0x7f)
      return false;
    if (c < 0x80) {
      p++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (i = 1; i <= need; i++) {
      if ((p[i] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    /* Overlong forms, surrogates, beyond U+10FFFF, C1 controls. */
    if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
        (cp >= 0x80 && cp < 0xa0))
      return false;
    p += need + 1;
  }
  return true;
}

int sbx_auth_check(Sbx__V1__Role role, const char *vendor, const char *name,
                   struct sbx_diag *diag) {
  bool has_vendor = vendor != NULL && vendor[0] != '\0';

  if (role == SBX__V1__ROLE__ROLE_UNSPECIFIED || (unsigned)role >= N_ROLES) {
    sbx_diag_set(diag, "role: expected one of admin, publisher, evaluator, "
                       "viewer, vendor");
    return SBX_EINVAL;
  }
  if (role == SBX__V1__ROLE__ROLE_VENDOR && !has_vendor) {
    sbx_diag_set(diag, "vendor: a vendor token must name the vendor it acts "
                       "for, e.g. vendor \"acme\"");
    return SBX_EINVAL;
  }
  if (role != SBX__V1__ROLE__ROLE_VENDOR && has_vendor) {
    sbx_diag_set(diag, "vendor: only a vendor token names a vendor; drop "
                       "the vendor or use role vendor");
    return SBX_EINVAL;
  }
  if (has_vendor && !valid_vendor(vendor)) {
    sbx_diag_set(diag,
                 "vendor: expected a vendor id of 1 to 64 characters "
                 "a-z, 0-9, '_', '.', '-' starting with a letter or digit");
    return SBX_EINVAL;
  }
  if (name != NULL && (strlen(name) > SBX_AUTH_NAME_MAX || !valid_name(name))) {
    sbx_diag_set(diag,
                 "name: expected UTF-8 text of at most %d bytes "
                 "without control characters",
                 SBX_AUTH_NAME_MAX);
    return SBX_EINVAL;
  }
  return 0;
}

/* Returns a copy of t that the caller frees with
 * sbx__v1__token__free_unpacked, or NULL when out of memory. */
static Sbx__V1__Token *token_copy(const Sbx__V1__Token *t) {
  size_t len = sbx__v1__token__get_packed_size(t);
  uint8_t *buf = malloc(len > 0 ? len : 1);
  Sbx__V1__Token *c;

  if (buf == NULL)
    return NULL;
  sbx__v1__token__pack(t, buf);
  c = sbx__v1__token__unpack(NULL, len, buf);
  free(buf);
  return c;
}

static int put_token(struct sbx_store *st, const uint8_t *key,
                     const Sbx__V1__Token *t) {
  size_t len = sbx__v1__token__get_packed_size(t);
  uint8_t *buf = malloc(len > 0 ? len : 1);
  int rc;

  if (buf == NULL)
    return SBX_ENOMEM;
  sbx__v1__token__pack(t, buf);
  rc = sbx_store_kv_put(st, SBX_STORE_TOKENS, key, SBX_SHA256_BYTES, buf, len);
  free(buf);
  return rc;
}

int sbx_auth_create(struct sbx_store *st, Sbx__V1__Role role,
                    const char *vendor, const char *name, char **secret,
                    Sbx__V1__Token **tok) {
  Sbx__V1__Token t = SBX__V1__TOKEN__INIT;
  uint8_t raw[SECRET_RAW_BYTES], hash[SBX_SHA256_BYTES];
  char id[SBX_AUTH_ID_LEN + 1];
  char *sec = NULL;
  size_t plen = sizeof(SECRET_PREFIX) - 1;
  int rc;

  if (secret != NULL)
    *secret = NULL;
  if (tok != NULL)
    *tok = NULL;
  if (st == NULL || secret == NULL)
    return SBX_EINVAL;
  if ((rc = sbx_auth_check(role, vendor, name, NULL)) != 0)
    return rc;
  if (sodium_init() < 0)
    return SBX_ENOMEM;
  rc = SBX_ENOMEM;
  sec = malloc(SBX_AUTH_SECRET_LEN + 1);
  if (sec == NULL)
    goto out;
  memcpy(sec, SECRET_PREFIX, plen);
  randombytes_buf(raw, sizeof(raw));
  sodium_bin2base64(sec + plen, SBX_AUTH_SECRET_LEN + 1 - plen, raw,
                    sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof(raw));
  if ((rc = sbx_sha256(sec, SBX_AUTH_SECRET_LEN, hash)) != 0)
    goto out;
  sodium_bin2hex(id, sizeof(id), hash, ID_BYTES);

  t.id = id;
  t.role = role;
  t.vendor = (char *)(vendor != NULL ? vendor : "");
  t.name = (char *)(name != NULL ? name : "");
  t.created_unix_ms = now_ms();
  if ((rc = put_token(st, hash, &t)) != 0)
    goto out;
  if (tok != NULL && (*tok = token_copy(&t)) == NULL) {
    /* The caller cannot show a secret whose token it did not get, so the
     * token must not stay usable. */
    sbx_store_kv_del(st, SBX_STORE_TOKENS, hash, sizeof(hash));
    rc = SBX_ENOMEM;
    goto out;
  }
  *secret = sec;
  sec = NULL;
  rc = 0;

out:
  if (sec != NULL) {
    sodium_memzero(sec, SBX_AUTH_SECRET_LEN + 1);
    free(sec);
  }
  return rc;
}

static bool b64url_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

int sbx_auth_lookup(struct sbx_store *st, const char *authorization,
                    Sbx__V1__Token **tok, struct sbx_diag *diag) {
  uint8_t hash[SBX_SHA256_BYTES];
  const char *p = authorization;
  Sbx__V1__Token *t = NULL;
  void *val = NULL;
  size_t n, vlen, i;
  int rc;

  if (tok != NULL)
    *tok = NULL;
  if (st == NULL || tok == NULL) {
    sbx_diag_set(diag, "internal error: no store or output");
    return SBX_EINVAL;
  }
  if (p != NULL) {
    while (is_blank(*p) || *p == '\r' || *p == '\n')
      p++;
  }
  if (p == NULL || *p == '\0') {
    sbx_diag_set(diag, "no token: this call needs an Authorization: Bearer "
                       "header; " HOW_TO_FIX);
    return SBX_EAUTH;
  }
  if (strncasecmp(p, "bearer", 6) != 0 || !is_blank(p[6])) {
    sbx_diag_set(
        diag,
        "the Authorization header is not \"Bearer <token>\"; " HOW_TO_FIX);
    return SBX_EAUTH;
  }
  p += 6;
  while (is_blank(*p))
    p++;
  n = strlen(p);
  while (n > 0 && (is_blank(p[n - 1]) || p[n - 1] == '\r' || p[n - 1] == '\n'))
    n--;
  /* Never quote what was sent: it may be a real secret with a typo. */
  if (n != SBX_AUTH_SECRET_LEN ||
      strncmp(p, SECRET_PREFIX, sizeof(SECRET_PREFIX) - 1) != 0)
    goto malformed;
  for (i = sizeof(SECRET_PREFIX) - 1; i < n; i++) {
    if (!b64url_char(p[i]))
      goto malformed;
  }

  if ((rc = sbx_sha256(p, n, hash)) != 0) {
    sbx_diag_set(diag, "out of memory");
    return rc;
  }
  rc = sbx_store_kv_get(st, SBX_STORE_TOKENS, hash, sizeof(hash), &val, &vlen);
  if (rc == SBX_ENOENT) {
    sbx_diag_set(diag, "unknown token: it was not issued by this sandboxd "
                       "(or its store was replaced); " HOW_TO_FIX
                       " to a token that CreateToken printed");
    return SBX_EAUTH;
  }
  if (rc != 0) {
    sbx_diag_set(diag, "cannot read the tokens: %s", sbx_strerror(rc));
    return rc;
  }
  t = sbx__v1__token__unpack(NULL, vlen, val);
  free(val);
  if (t == NULL) {
    sbx_diag_set(diag, "the stored token record is damaged");
    return SBX_ESTORE;
  }
  if (t->revoked) {
    sbx_diag_set(
        diag,
        "token %s was revoked; ask an admin for a new one and " HOW_TO_FIX,
        t->id);
    sbx__v1__token__free_unpacked(t, NULL);
    return SBX_EAUTH;
  }
  *tok = t;
  return 0;

malformed:
  sbx_diag_set(diag, "malformed token: expected \"sbx_\" and 43 base64url "
                     "characters, as CreateToken printed it; " HOW_TO_FIX);
  return SBX_EAUTH;
}

struct found {
  uint8_t key[SBX_SHA256_BYTES];
  void *val;
  size_t vlen;
};

static int find_one(const void *key, size_t klen, const void *val, size_t vlen,
                    void *arg) {
  struct found *f = arg;

  if (klen != SBX_SHA256_BYTES)
    return 0; /* not a token record; nothing else lives here today */
  f->val = malloc(vlen > 0 ? vlen : 1);
  if (f->val == NULL)
    return SBX_ENOMEM;
  memcpy(f->key, key, klen);
  memcpy(f->val, val, vlen);
  f->vlen = vlen;
  return 1;
}

int sbx_auth_revoke(struct sbx_store *st, const char *token_id,
                    Sbx__V1__Token **tok) {
  uint8_t prefix[ID_BYTES];
  struct found f = {.val = NULL};
  Sbx__V1__Token *t = NULL;
  size_t got;
  const char *end;
  int rc;

  if (tok != NULL)
    *tok = NULL;
  if (st == NULL || token_id == NULL)
    return SBX_EINVAL;
  if (sodium_init() < 0)
    return SBX_ENOMEM;
  if (strlen(token_id) != SBX_AUTH_ID_LEN ||
      sodium_hex2bin(prefix, sizeof(prefix), token_id, SBX_AUTH_ID_LEN, NULL,
                     &got, &end) != 0 ||
      got != sizeof(prefix) || *end != '\0')
    return SBX_ENOENT;
  /* The walk copies the record out; writing happens after the read
   * snapshot is released. Two revocations racing both store revoked=true. */
  rc = sbx_store_kv_foreach(st, SBX_STORE_TOKENS, prefix, sizeof(prefix),
                            find_one, &f);
  if (rc == 0)
    return SBX_ENOENT;
  if (rc != 1)
    goto out;
  t = sbx__v1__token__unpack(NULL, f.vlen, f.val);
  if (t == NULL) {
    rc = SBX_ESTORE;
    goto out;
  }
  if (!t->revoked) {
    t->revoked = 1;
    t->revoked_unix_ms = now_ms();
    if ((rc = put_token(st, f.key, t)) != 0)
      goto out;
  }
  if (tok != NULL) {
    *tok = t;
    t = NULL;
  }
  rc = 0;

out:
  if (t != NULL)
    sbx__v1__token__free_unpacked(t, NULL);
  free(f.val);
  return rc;
}

struct list_ctx {
  int (*cb)(const Sbx__V1__Token *tok, void *arg);
  void *arg;
};

static int list_one(const void *key, size_t klen, const void *val, size_t vlen,
                    void *arg) {
  struct list_ctx *c = arg;
  Sbx__V1__Token *t;
  int rc;

  (void)key;
  if (klen != SBX_SHA256_BYTES)
    return 0;
  t = sbx__v1__token__unpack(NULL, vlen, val);
  if (t == NULL)
    return SBX_ESTORE;
  rc = c->cb(t, c->arg);
  sbx__v1__token__free_unpacked(t, NULL);
  return rc;
}

int sbx_auth_list(struct sbx_store *st,
                  int (*cb)(const Sbx__V1__Token *tok, void *arg), void *arg) {
  struct list_ctx c = {.cb = cb, .arg = arg};

  if (st == NULL || cb == NULL)
    return SBX_EINVAL;
  return sbx_store_kv_foreach(st, SBX_STORE_TOKENS, NULL, 0, list_one, &c);
}
