/* test_auth.c - bearer tokens against a real store in a mkdtemp() root:
 * creation and the secret's format, lookup of every header form, every
 * refusal with its message, revocation, listing, persistence, roles. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "auth.h"
#include "digest.h"
#include "testlib.h"

#define FIX "pass --token or set SBX_TOKEN"

static char root[64];

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw) {
  return remove(p);
}

static struct sbx_store *open_store(const char *name) {
  char dir[128];
  struct sbx_store *st = NULL;
  struct sbx_diag d = {""};
  int rc;

  snprintf(dir, sizeof(dir), "%s/%s", root, name);
  rc = sbx_store_open(dir, &st, &d);
  if (rc != 0)
    fprintf(stderr, "open %s: %s: %s\n", dir, sbx_err_name(rc), d.msg);
  CHECK_EQ_INT(rc, 0);
  return st;
}

/* Looks header up and checks the outcome; returns the token or NULL. */
static Sbx__V1__Token *lookup(struct sbx_store *st, const char *header,
                              int want, const char *msg_part,
                              const char *secret) {
  Sbx__V1__Token *t = (Sbx__V1__Token *)&t;
  struct sbx_diag d = {""};
  int rc = sbx_auth_lookup(st, header, &t, &d);

  if (rc != want)
    fprintf(stderr, "lookup: %s (%s)\n", sbx_err_name(rc), d.msg);
  CHECK_EQ_INT(rc, want);
  if (want != 0) {
    CHECK(t == NULL);
    if (msg_part != NULL && strstr(d.msg, msg_part) == NULL)
      fprintf(stderr, "message \"%s\" lacks \"%s\"\n", d.msg, msg_part);
    if (msg_part != NULL)
      CHECK(strstr(d.msg, msg_part) != NULL);
    /* The message never repeats what was sent. */
    if (secret != NULL)
      CHECK(strstr(d.msg, secret + 4) == NULL);
  }
  return rc == 0 ? t : NULL;
}

struct scan {
  const char *needle;
  int found;
  size_t n;
};

static int scan_one(const void *key, size_t klen, const void *val, size_t vlen,
                    void *arg) {
  struct scan *s = arg;
  size_t nl = strlen(s->needle);

  s->n++;
  if (memmem(key, klen, s->needle, nl) != NULL ||
      memmem(val, vlen, s->needle, nl) != NULL)
    s->found = 1;
  return 0;
}

static void test_create_lookup(void) {
  struct sbx_store *st = open_store("create");
  Sbx__V1__Token *tok = NULL, *t;
  char *secret = NULL;
  uint8_t hash[32];
  char hex[17], header[128];
  size_t i;

  if (st == NULL)
    return;
  CHECK_EQ_INT(sbx_auth_create(st, SBX__V1__ROLE__ROLE_ADMIN, NULL,
                               "first admin", &secret, &tok),
               0);
  CHECK(secret != NULL && tok != NULL);
  if (secret == NULL || tok == NULL)
    goto out;
  CHECK_EQ_INT(strlen(secret), SBX_AUTH_SECRET_LEN);
  CHECK(strncmp(secret, "sbx_", 4) == 0);
  for (i = 4; secret[i] != '\0'; i++)
    CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                 "0123456789-_",
                 secret[i]) != NULL);
  sbx_sha256(secret, strlen(secret), hash);
  sodium_bin2hex(hex, sizeof(hex), hash, 8);
  CHECK_EQ_STR(tok->id, hex);
  CHECK_EQ_INT(tok->role, SBX__V1__ROLE__ROLE_ADMIN);
  CHECK_EQ_STR(tok->vendor, "");
  CHECK_EQ_STR(tok->name, "first admin");
  CHECK(tok->created_unix_ms > 1600000000000LL);
  CHECK(!tok->revoked);

  /* Only the hash is stored: neither the secret nor its random part
   * appears in any key or value. */
  {
    struct scan sc = {.needle = secret + 4};
    CHECK_EQ_INT(
        sbx_store_kv_foreach(st, SBX_STORE_TOKENS, NULL, 0, scan_one, &sc), 0);
    CHECK_EQ_INT(sc.n, 1);
    CHECK(!sc.found);
  }
  {
    void *val = NULL;
    size_t vlen;
    CHECK_EQ_INT(sbx_store_kv_get(st, SBX_STORE_TOKENS, hash, 32, &val, &vlen),
                 0);
    free(val);
  }

  /* Every accepted form of the header. */
  {
    static const char *const forms[] = {"Bearer %s", "bearer %s", "BEARER\t%s",
                                        "  Bearer   %s \r\n", "bEaReR %s\t"};
    for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
      snprintf(header, sizeof(header), forms[i], secret);
      t = lookup(st, header, 0, NULL, NULL);
      if (t != NULL) {
        CHECK_EQ_STR(t->id, tok->id);
        CHECK_EQ_INT(t->role, SBX__V1__ROLE__ROLE_ADMIN);
        sbx__v1__token__free_unpacked(t, NULL);
      }
    }
  }

  /* Every refusal says which and how to fix it. */
  lookup(st, NULL, SBX_EAUTH, "no token", NULL);
  lookup(st, NULL, SBX_EAUTH, FIX, NULL);
  lookup(st, "", SBX_EAUTH, "no token", NULL);
  lookup(st, "   ", SBX_EAUTH, "no token", NULL);
  snprintf(header, sizeof(header), "Basic %s", secret);
  lookup(st, header, SBX_EAUTH, "not \"Bearer <token>\"", secret);
  snprintf(header, sizeof(header), "Bearer%s", secret);
  lookup(st, header, SBX_EAUTH, "not \"Bearer <token>\"", secret);
  lookup(st, "Bearer", SBX_EAUTH, "not \"Bearer <token>\"", NULL);
  lookup(st, "Bearer ", SBX_EAUTH, "malformed", NULL);
  lookup(st, "Bearer sbx_short", SBX_EAUTH, "malformed", NULL);
  snprintf(header, sizeof(header), "Bearer %sA", secret);
  lookup(st, header, SBX_EAUTH, "malformed", secret);
  snprintf(header, sizeof(header), "Bearer %s %s", secret, secret);
  lookup(st, header, SBX_EAUTH, "malformed", secret);
  snprintf(header, sizeof(header), "Bearer xyz_%s", secret + 4);
  lookup(st, header, SBX_EAUTH, "malformed", secret);
  snprintf(header, sizeof(header), "Bearer %s", secret);
  header[7 + 10] = '+'; /* standard base64, not base64url */
  lookup(st, header, SBX_EAUTH, "malformed", secret);
  snprintf(header, sizeof(header), "Bearer %s", secret);
  header[7 + 10] = header[7 + 10] == 'A' ? 'B' : 'A';
  lookup(st, header, SBX_EAUTH, "unknown token", secret);
  lookup(st, header, SBX_EAUTH, FIX, secret);

  CHECK_EQ_INT(sbx_auth_lookup(NULL, "Bearer x", &t, NULL), SBX_EINVAL);
  {
    char *none = (char *)&none;
    CHECK_EQ_INT(sbx_auth_create(NULL, SBX__V1__ROLE__ROLE_ADMIN, NULL, NULL,
                                 &none, NULL),
                 SBX_EINVAL);
    CHECK(none == NULL);
  }
out:
  free(secret);
  if (tok != NULL)
    sbx__v1__token__free_unpacked(tok, NULL);
  CHECK_EQ_INT(sbx_store_close(st), 0);
}

static void test_arguments(void) {
  struct sbx_store *st = open_store("args");
  Sbx__V1__Token *tok = NULL;
  char *secret = NULL;
  char long_vendor[80], long_name[SBX_AUTH_NAME_MAX + 2];
  struct sbx_diag d = {""};
  struct {
    Sbx__V1__Role role;
    const char *vendor, *name, *msg; /* msg NULL: accepted */
  } cases[] = {
      {SBX__V1__ROLE__ROLE_VENDOR, "acme", "acme CI", NULL},
      {SBX__V1__ROLE__ROLE_VENDOR, "a", NULL, NULL},
      {SBX__V1__ROLE__ROLE_VENDOR, "0day.labs_x-1", "", NULL},
      {SBX__V1__ROLE__ROLE_PUBLISHER, NULL, "gov", NULL},
      {SBX__V1__ROLE__ROLE_EVALUATOR, "", "eval", NULL},
      {SBX__V1__ROLE__ROLE_VIEWER, NULL, "Z\xc3\xbcrich \xe2\x82\xac", NULL},
      {SBX__V1__ROLE__ROLE_VENDOR, NULL, "x", "must name the vendor"},
      {SBX__V1__ROLE__ROLE_VENDOR, "", "x", "must name the vendor"},
      {SBX__V1__ROLE__ROLE_VENDOR, "Acme", "x", "expected a vendor id"},
      {SBX__V1__ROLE__ROLE_VENDOR, "-acme", "x", "expected a vendor id"},
      {SBX__V1__ROLE__ROLE_VENDOR, "ac me", "x", "expected a vendor id"},
      {SBX__V1__ROLE__ROLE_VENDOR, "acme/x", "x", "expected a vendor id"},
      {SBX__V1__ROLE__ROLE_VENDOR, long_vendor, "x", "expected a vendor id"},
      {SBX__V1__ROLE__ROLE_ADMIN, "acme", "x", "only a vendor token"},
      {SBX__V1__ROLE__ROLE_VIEWER, "acme", "x", "only a vendor token"},
      {SBX__V1__ROLE__ROLE_UNSPECIFIED, NULL, "x", "role: expected"},
      {(Sbx__V1__Role)99, NULL, "x", "role: expected"},
      {SBX__V1__ROLE__ROLE_ADMIN, NULL, "line\nbreak", "name: expected"},
      {SBX__V1__ROLE__ROLE_ADMIN, NULL, "esc\x1b[2J", "name: expected"},
      {SBX__V1__ROLE__ROLE_ADMIN, NULL, "bad \xff utf8", "name: expected"},
      {SBX__V1__ROLE__ROLE_ADMIN, NULL, "overlong \xc0\xaf", "name: expected"},
      {SBX__V1__ROLE__ROLE_ADMIN, NULL, "cut \xe2\x82", "name: expected"},
      {SBX__V1__ROLE__ROLE_ADMIN, NULL, long_name, "name: expected"},
  };
  size_t i;

  if (st == NULL)
    return;
  memset(long_vendor, 'a', 65);
  long_vendor[65] = '\0';
  memset(long_name, 'n', SBX_AUTH_NAME_MAX + 1);
  long_name[SBX_AUTH_NAME_MAX + 1] = '\0';
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int want = cases[i].msg == NULL ? 0 : SBX_EINVAL;
    int rc;
    d.msg[0] = '\0';
    CHECK_EQ_INT(
        sbx_auth_check(cases[i].role, cases[i].vendor, cases[i].name, &d),
        want);
    if (cases[i].msg != NULL && strstr(d.msg, cases[i].msg) == NULL) {
      fprintf(stderr, "case %zu: \"%s\" lacks \"%s\"\n", i, d.msg,
              cases[i].msg);
      CHECK(0);
    }
    rc = sbx_auth_create(st, cases[i].role, cases[i].vendor, cases[i].name,
                         &secret, &tok);
    CHECK_EQ_INT(rc, want);
    if (rc == 0) {
      CHECK_EQ_INT(tok->role, cases[i].role);
      CHECK_EQ_STR(tok->vendor, cases[i].vendor ? cases[i].vendor : "");
      CHECK_EQ_STR(tok->name, cases[i].name ? cases[i].name : "");
      sbx__v1__token__free_unpacked(tok, NULL);
      free(secret);
    } else {
      CHECK(secret == NULL && tok == NULL);
    }
    secret = NULL;
    tok = NULL;
  }
  /* Exactly 64 characters is still a vendor id. */
  long_vendor[64] = '\0';
  CHECK_EQ_INT(
      sbx_auth_check(SBX__V1__ROLE__ROLE_VENDOR, long_vendor, NULL, NULL), 0);
  long_name[SBX_AUTH_NAME_MAX] = '\0';
  CHECK_EQ_INT(sbx_auth_check(SBX__V1__ROLE__ROLE_ADMIN, NULL, long_name, NULL),
               0);
  /* Nothing refused was stored: six accepted tokens. */
  {
    struct scan sc = {.needle = "\x01\x02never"};
    sbx_store_kv_foreach(st, SBX_STORE_TOKENS, NULL, 0, scan_one, &sc);
    CHECK_EQ_INT(sc.n, 6);
  }
  /* The secret is required; the token is optional. */
  CHECK_EQ_INT(
      sbx_auth_create(st, SBX__V1__ROLE__ROLE_ADMIN, NULL, NULL, NULL, &tok),
      SBX_EINVAL);
  CHECK(tok == NULL);
  CHECK_EQ_INT(
      sbx_auth_create(st, SBX__V1__ROLE__ROLE_ADMIN, NULL, NULL, &secret, NULL),
      0);
  free(secret);
  CHECK_EQ_INT(sbx_store_close(st), 0);
}

struct count {
  int n, revoked, vendors, stop_after;
};

static int count_one(const Sbx__V1__Token *t, void *arg) {
  struct count *c = arg;

  c->n++;
  c->revoked += t->revoked != 0;
  c->vendors += t->role == SBX__V1__ROLE__ROLE_VENDOR;
  CHECK_EQ_INT(strlen(t->id), 16);
  return c->stop_after > 0 && c->n >= c->stop_after ? 7 : 0;
}

static void test_revoke_list_persist(void) {
  struct sbx_store *st = open_store("revoke");
  char *secrets[20] = {NULL};
  char ids[20][17], header[128], upper[17];
  Sbx__V1__Token *tok = NULL, *t2 = NULL;
  struct count c = {0};
  int64_t when;
  size_t i, j;

  if (st == NULL)
    return;
  for (i = 0; i < 20; i++) {
    Sbx__V1__Role role =
        i % 2 ? SBX__V1__ROLE__ROLE_VENDOR : SBX__V1__ROLE__ROLE_EVALUATOR;
    CHECK_EQ_INT(sbx_auth_create(st, role, i % 2 ? "acme" : NULL, "t",
                                 &secrets[i], &tok),
                 0);
    if (tok == NULL)
      goto out;
    snprintf(ids[i], sizeof(ids[i]), "%s", tok->id);
    sbx__v1__token__free_unpacked(tok, NULL);
    tok = NULL;
  }
  for (i = 0; i < 20; i++)
    for (j = i + 1; j < 20; j++) {
      CHECK(strcmp(secrets[i], secrets[j]) != 0);
      CHECK(strcmp(ids[i], ids[j]) != 0);
    }

  CHECK_EQ_INT(sbx_auth_list(st, count_one, &c), 0);
  CHECK_EQ_INT(c.n, 20);
  CHECK_EQ_INT(c.vendors, 10);
  CHECK_EQ_INT(c.revoked, 0);
  c = (struct count){.stop_after = 3};
  CHECK_EQ_INT(sbx_auth_list(st, count_one, &c), 7);
  CHECK_EQ_INT(c.n, 3);
  CHECK_EQ_INT(sbx_auth_list(st, NULL, NULL), SBX_EINVAL);

  /* Revoke token 3: the lookup now says so, the others still work. */
  CHECK_EQ_INT(sbx_auth_revoke(st, ids[3], &tok), 0);
  CHECK(tok != NULL && tok->revoked && tok->revoked_unix_ms > 0);
  if (tok == NULL)
    goto out;
  CHECK_EQ_STR(tok->id, ids[3]);
  CHECK_EQ_STR(tok->vendor, "acme");
  when = tok->revoked_unix_ms;
  snprintf(header, sizeof(header), "Bearer %s", secrets[3]);
  lookup(st, header, SBX_EAUTH, "was revoked", secrets[3]);
  lookup(st, header, SBX_EAUTH, ids[3], secrets[3]);
  snprintf(header, sizeof(header), "Bearer %s", secrets[4]);
  t2 = lookup(st, header, 0, NULL, NULL);
  if (t2 != NULL)
    sbx__v1__token__free_unpacked(t2, NULL);

  /* Revoking again changes nothing, in any case of hex digits. */
  for (i = 0; i < 16; i++)
    upper[i] = (char)(ids[3][i] >= 'a' ? ids[3][i] - 'a' + 'A' : ids[3][i]);
  upper[16] = '\0';
  CHECK_EQ_INT(sbx_auth_revoke(st, upper, &t2), 0);
  CHECK(t2 != NULL && t2->revoked_unix_ms == when);
  if (t2 != NULL)
    sbx__v1__token__free_unpacked(t2, NULL);
  CHECK_EQ_INT(sbx_auth_revoke(st, ids[5], NULL), 0);

  /* Unknown and malformed ids. */
  t2 = (Sbx__V1__Token *)&t2;
  CHECK_EQ_INT(sbx_auth_revoke(st, "0000000000000000", &t2), SBX_ENOENT);
  CHECK(t2 == NULL);
  CHECK_EQ_INT(sbx_auth_revoke(st, "xyz", &t2), SBX_ENOENT);
  CHECK_EQ_INT(sbx_auth_revoke(st, "", &t2), SBX_ENOENT);
  CHECK_EQ_INT(sbx_auth_revoke(st, "0123456789abcdefg", &t2), SBX_ENOENT);
  CHECK_EQ_INT(sbx_auth_revoke(st, "0123456789abcdeg", &t2), SBX_ENOENT);
  CHECK_EQ_INT(sbx_auth_revoke(st, NULL, &t2), SBX_EINVAL);

  /* Everything survives a reopen. */
  CHECK_EQ_INT(sbx_store_close(st), 0);
  st = open_store("revoke");
  if (st == NULL)
    goto out;
  c = (struct count){0};
  CHECK_EQ_INT(sbx_auth_list(st, count_one, &c), 0);
  CHECK_EQ_INT(c.n, 20);
  CHECK_EQ_INT(c.revoked, 2);
  snprintf(header, sizeof(header), "Bearer %s", secrets[3]);
  lookup(st, header, SBX_EAUTH, "was revoked", secrets[3]);
  snprintf(header, sizeof(header), "Bearer %s", secrets[19]);
  t2 = lookup(st, header, 0, NULL, NULL);
  CHECK(t2 != NULL && strcmp(t2->id, ids[19]) == 0 &&
        strcmp(t2->vendor, "acme") == 0);
  if (t2 != NULL)
    sbx__v1__token__free_unpacked(t2, NULL);

  /* A damaged record is reported, not trusted. */
  {
    uint8_t hash[32];
    Sbx__V1__Token *bad = (Sbx__V1__Token *)&bad;
    struct sbx_diag d = {""};
    sbx_sha256(secrets[0], strlen(secrets[0]), hash);
    CHECK_EQ_INT(
        sbx_store_kv_put(st, SBX_STORE_TOKENS, hash, 32, "\xff\xff", 2), 0);
    snprintf(header, sizeof(header), "Bearer %s", secrets[0]);
    CHECK_EQ_INT(sbx_auth_lookup(st, header, &bad, &d), SBX_ESTORE);
    CHECK(bad == NULL);
    CHECK_EQ_INT(sbx_auth_revoke(st, ids[0], &bad), SBX_ESTORE);
    c = (struct count){0};
    CHECK_EQ_INT(sbx_auth_list(st, count_one, &c), SBX_ESTORE);
  }
out:
  if (tok != NULL)
    sbx__v1__token__free_unpacked(tok, NULL);
  for (i = 0; i < 20; i++)
    free(secrets[i]);
  if (st != NULL)
    CHECK_EQ_INT(sbx_store_close(st), 0);
}

static void test_roles(void) {
  static const struct {
    Sbx__V1__Role role;
    const char *name;
  } roles[] = {
      {SBX__V1__ROLE__ROLE_ADMIN, "admin"},
      {SBX__V1__ROLE__ROLE_PUBLISHER, "publisher"},
      {SBX__V1__ROLE__ROLE_EVALUATOR, "evaluator"},
      {SBX__V1__ROLE__ROLE_VIEWER, "viewer"},
      {SBX__V1__ROLE__ROLE_VENDOR, "vendor"},
  };
  Sbx__V1__Role r;
  size_t i;

  for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
    CHECK_EQ_STR(sbx_role_name(roles[i].role), roles[i].name);
    r = SBX__V1__ROLE__ROLE_UNSPECIFIED;
    CHECK_EQ_INT(sbx_role_parse(roles[i].name, &r), 0);
    CHECK_EQ_INT(r, roles[i].role);
  }
  CHECK_EQ_INT(sbx_role_parse("ADMIN", &r), 0);
  CHECK_EQ_INT(r, SBX__V1__ROLE__ROLE_ADMIN);
  r = SBX__V1__ROLE__ROLE_VIEWER;
  CHECK_EQ_INT(sbx_role_parse("root", &r), SBX_EINVAL);
  CHECK_EQ_INT(sbx_role_parse("", &r), SBX_EINVAL);
  CHECK_EQ_INT(sbx_role_parse("unspecified", &r), SBX_EINVAL);
  CHECK_EQ_INT(sbx_role_parse(NULL, &r), SBX_EINVAL);
  CHECK_EQ_INT(r, SBX__V1__ROLE__ROLE_VIEWER);
  CHECK_EQ_STR(sbx_role_name(SBX__V1__ROLE__ROLE_UNSPECIFIED), "unspecified");
  CHECK_EQ_STR(sbx_role_name((Sbx__V1__Role)99), "unspecified");
  CHECK_EQ_STR(sbx_role_name((Sbx__V1__Role)-1), "unspecified");
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  snprintf(root, sizeof(root), "/tmp/sbx-test-auth.XXXXXX");
  if (mkdtemp(root) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  test_create_lookup();
  test_arguments();
  test_revoke_list_persist();
  test_roles();
  nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return TEST_RESULT();
}
