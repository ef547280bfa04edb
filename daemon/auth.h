/* auth.h - bearer tokens: creation, lookup, revocation, roles.
 *
 * A token's secret is "sbx_" followed by the unpadded base64url of 32 random
 * bytes. The store keeps only its SHA-256 (the key in the tokens database)
 * and the Token message (proto/sbx/v1/api.proto) as the value, so a copy of
 * the store grants nothing; the secret is shown once, when the token is
 * created. A token's id is the hex of the first 8 bytes of that hash: it
 * names the token in lists and revocations without revealing anything that
 * would let someone use it. The secret is never logged, never put in a
 * message, and never stored.
 *
 * Roles: admin (everything), publisher, evaluator, viewer, and vendor,
 * which acts for exactly one vendor id (Token.vendor). What each role may
 * do is decided by the API layer; this module only says who is calling.
 */
#ifndef SBX_AUTH_H
#define SBX_AUTH_H

#include "err.h"
#include "store.h"
#include "sbx/v1/api.pb-c.h"

/* Length of a secret: "sbx_" and 43 base64url characters. */
#define SBX_AUTH_SECRET_LEN 47
/* Length of a token id in hex digits. */
#define SBX_AUTH_ID_LEN 16
/* Longest Token.name accepted, in bytes. */
#define SBX_AUTH_NAME_MAX 200

/* Checks the arguments of sbx_auth_create without touching any store:
 * role must be one of the five roles; vendor must be given (a vendor id:
 * [a-z0-9][a-z0-9_.-]{0,63}) if role is VENDOR and must be NULL or ""
 * otherwise; name (may be NULL) is free text of at most SBX_AUTH_NAME_MAX
 * bytes without control characters. Returns 0 or SBX_EINVAL with diag (may
 * be NULL) saying what is wrong and how to fix it. */
int sbx_auth_check(Sbx__V1__Role role, const char *vendor, const char *name,
                   struct sbx_diag *diag);

/* Creates a token with role, vendor and name (checked as sbx_auth_check
 * does; call that first for a message) and stores it. On success returns
 * 0, sets *secret to the new secret (NUL-terminated, malloc'd: the caller
 * shows it once and frees it, ideally after sodium_memzero) and, if tok is
 * not NULL, *tok to the stored token (freed by the caller with
 * sbx__v1__token__free_unpacked(*tok, NULL)). Returns SBX_EINVAL (bad
 * arguments, secret NULL), SBX_ENOMEM or SBX_ESTORE (see sbx_store_errmsg);
 * nothing is stored and the out pointers are NULL on failure. */
int sbx_auth_create(struct sbx_store *st, Sbx__V1__Role role,
                    const char *vendor, const char *name, char **secret,
                    Sbx__V1__Token **tok);

/* Finds the token of an Authorization header value, "Bearer <secret>" (the
 * scheme in any case, spaces or tabs after it, surrounding whitespace
 * ignored). Returns 0 and sets *tok (freed by the caller with
 * sbx__v1__token__free_unpacked(*tok, NULL)); SBX_EAUTH when the header is
 * missing (NULL or empty), not a Bearer header, malformed, unknown or
 * revoked, with diag saying which of these and how to fix it (never quoting
 * the secret); SBX_ENOMEM or SBX_ESTORE. *tok is NULL on failure. */
int sbx_auth_lookup(struct sbx_store *st, const char *authorization,
                    Sbx__V1__Token **tok, struct sbx_diag *diag);

/* Revokes the token whose id is token_id (16 hex digits): sets revoked and
 * revoked_unix_ms and stores it. Revoking a revoked token changes nothing
 * and succeeds. If tok is not NULL, *tok gets the token as now stored
 * (freed by the caller with sbx__v1__token__free_unpacked). Returns 0;
 * SBX_ENOENT (no such token; also for a token_id that is not 16 hex
 * digits); SBX_ENOMEM or SBX_ESTORE (nothing changed). *tok is NULL on
 * failure. */
int sbx_auth_revoke(struct sbx_store *st, const char *token_id,
                    Sbx__V1__Token **tok);

/* Calls cb for every stored token, revoked ones included, in the order of
 * their ids; a token is valid only during the call. Returns 0 after the
 * last one, cb's non-zero return value if it stopped the walk, SBX_ENOMEM,
 * or SBX_ESTORE (a damaged record; the walk stops there). cb must not write
 * to the store (a read snapshot is held). */
int sbx_auth_list(struct sbx_store *st,
                  int (*cb)(const Sbx__V1__Token *tok, void *arg), void *arg);

/* Returns the lowercase name of role: "admin", "publisher", "evaluator",
 * "viewer", "vendor", or "unspecified" for anything else. Static. */
const char *sbx_role_name(Sbx__V1__Role role);

/* Parses a role name as sbx_role_name() writes it (any case) into *role.
 * Returns 0, or SBX_EINVAL (*role unchanged). */
int sbx_role_parse(const char *s, Sbx__V1__Role *role);

#endif
