/* test_sign.c - signing keys, DSSE envelopes of results, tampering.
 *
 * Every case works in its own directory under a mkdtemp() root that is
 * removed at the end. The tamper test flips every byte of a serialized
 * SignedResult and checks that no flip of signed or structural bytes ever
 * verifies; only the keyid (an unauthenticated hint) may change and still
 * verify. */
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cmd.h"
#include "pbjson.h"
#include "sign.h"
#include "sbx/v1/api.pb-c.h"
#include "testlib.h"

static char root[64];

static void path_in(char *buf, size_t len, const char *a, const char *b) {
  if (b != NULL)
    snprintf(buf, len, "%s/%s/%s", root, a, b);
  else
    snprintf(buf, len, "%s/%s", root, a);
}

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw) {
  return remove(p);
}

static void write_file(const char *path, const void *data, size_t len,
                       mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  CHECK(fd >= 0);
  if (fd < 0)
    return;
  CHECK(write(fd, data, len) == (ssize_t)len);
  fchmod(fd, mode);
  close(fd);
}

static size_t read_file(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY);
  ssize_t n;

  if (fd < 0)
    return 0;
  n = read(fd, buf, cap - 1);
  close(fd);
  buf[n > 0 ? n : 0] = '\0';
  return n > 0 ? (size_t)n : 0;
}

static mode_t mode_of(const char *path) {
  struct stat sb;
  if (stat(path, &sb) != 0)
    return (mode_t)-1;
  return sb.st_mode & 07777;
}

/* Creates root/name with a key pair and loads it. */
static struct sbx_signer *fresh_signer(const char *name) {
  char dir[128];
  struct sbx_signer *s = NULL;
  struct sbx_diag d = {""};
  int rc;

  path_in(dir, sizeof(dir), name, NULL);
  rc = sbx_sign_keygen(dir, &d);
  if (rc != 0)
    fprintf(stderr, "keygen %s: %s: %s\n", dir, sbx_err_name(rc), d.msg);
  CHECK_EQ_INT(rc, 0);
  rc = sbx_signer_load(dir, &s, &d);
  if (rc != 0)
    fprintf(stderr, "load %s: %s: %s\n", dir, sbx_err_name(rc), d.msg);
  CHECK_EQ_INT(rc, 0);
  return s;
}

/* The secret key in the text of a signing.key file, read the way an attacker
 * with the file would, to sign bytes that sbx_sign_result never would. */
static void secret_of(const char *buf, unsigned char sk[64]) {
  size_t got, magic = strlen("sbx-ed25519-secret-v1\n");

  CHECK(sodium_base642bin(sk, 64, buf + magic, strlen(buf + magic), "\n", &got,
                          NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
        got == 64);
}

/* ---- a realistic result ---- */

static int64_t hist_counts[] = {0, -3, 5, 120, 900, 40, -12, 3, 1};
static char *reasons[] = {"achieved rate 4790/s is 4.2% below the target"};
static char *layers[] = {"uid", "rlimits", "no_new_privs", "seccomp"};
static uint8_t digest_a[32] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4};
static uint8_t digest_b[32] = {0x5a, 0x5a, 9, 8, 7};

struct realistic {
  Sbx__V1__Result res;
  Sbx__V1__Metrics m;
  Sbx__V1__LatencySummary lat;
  Sbx__V1__Histogram hist;
  Sbx__V1__Criterion c1, c2;
  Sbx__V1__CriterionOutcome o1, o2;
  Sbx__V1__CriterionOutcome *outs[2];
  Sbx__V1__ValidityOutcome val;
};

static void realistic_init(struct realistic *r) {
  sbx__v1__result__init(&r->res);
  sbx__v1__metrics__init(&r->m);
  sbx__v1__latency_summary__init(&r->lat);
  sbx__v1__histogram__init(&r->hist);
  sbx__v1__criterion__init(&r->c1);
  sbx__v1__criterion__init(&r->c2);
  sbx__v1__criterion_outcome__init(&r->o1);
  sbx__v1__criterion_outcome__init(&r->o2);
  sbx__v1__validity_outcome__init(&r->val);

  r->lat = (Sbx__V1__LatencySummary)SBX__V1__LATENCY_SUMMARY__INIT;
  r->lat.min_us = 310;
  r->lat.p50_us = 820;
  r->lat.p90_us = 1400;
  r->lat.p99_us = 9800;
  r->lat.p999_us = 15000;
  r->lat.max_us = 31000;
  r->lat.mean_us = 1011.25;
  r->hist.lowest_discernible = 1;
  r->hist.highest_trackable = 60000000;
  r->hist.significant_figures = 3;
  r->hist.counts = hist_counts;
  r->hist.n_counts = sizeof(hist_counts) / sizeof(hist_counts[0]);
  r->hist.total_count = 1069;
  r->hist.min = 310;
  r->hist.max = 31000;
  r->hist.unit = "us";
  r->m.requests = 50000;
  r->m.completed = 49990;
  r->m.errors = 12;
  r->m.dropped = 10;
  r->m.duration_s = 10.002;
  r->m.throughput = 4997.8;
  r->m.error_rate = 0.00024;
  r->m.latency = &r->lat;
  r->m.latency_hist = &r->hist;
  r->m.target_rate = 5000;
  r->m.achieved_rate = 4790;
  r->m.accuracy = 0.9731;
  r->m.schedule_lag_p99_us = 41;

  r->c1.metric = "latency.p99";
  r->c1.op = SBX__V1__COMPARE_OP__COMPARE_OP_LE;
  r->c1.bound = 20000;
  r->c1.text = "latency.p99 <= 20ms";
  r->o1.criterion = &r->c1;
  r->o1.measured = 9800;
  r->o1.passed = 1;
  r->o1.measurable = 1;
  r->c2.metric = "accuracy";
  r->c2.op = SBX__V1__COMPARE_OP__COMPARE_OP_GE;
  r->c2.bound = 0.95;
  r->c2.text = "accuracy >= 0.95";
  r->o2.criterion = &r->c2;
  r->o2.measured = 0.9731;
  r->o2.passed = 1;
  r->o2.measurable = 1;
  r->outs[0] = &r->o1;
  r->outs[1] = &r->o2;
  r->val.valid = 1;
  r->val.reasons = reasons;
  r->val.n_reasons = 1;

  r->res.run_id = 4242;
  r->res.scenario = "fraud-check";
  r->res.scenario_version = "1.2.0";
  r->res.scenario_digest = (ProtobufCBinaryData){32, digest_a};
  r->res.product = "acme/scorer@2.0.1";
  r->res.verdict = SBX__V1__VERDICT__VERDICT_PASS;
  r->res.metrics = &r->m;
  r->res.criteria = r->outs;
  r->res.n_criteria = 2;
  r->res.validity = &r->val;
  r->res.score = 4997.8;
  r->res.harness_version = "0.4.0";
  r->res.client = "fast";
  r->res.started_unix_ms = 1767225600000;
  r->res.ended_unix_ms = 1767225612345;
  r->res.jail_layers = layers;
  r->res.n_jail_layers = 4;
  r->res.load_model = "open/poisson";
  r->res.seed = 0x9e3779b97f4a7c15ull;
  r->res.dataset = "private";
  r->res.product_digest = (ProtobufCBinaryData){32, digest_b};
}

static uint8_t *pack_signed(const Sbx__V1__SignedResult *sr, size_t *len) {
  uint8_t *buf;
  *len = sbx__v1__signed_result__get_packed_size(sr);
  buf = malloc(*len);
  sbx__v1__signed_result__pack(sr, buf);
  return buf;
}

static uint8_t *pack_result(const Sbx__V1__Result *r, size_t *len) {
  uint8_t *buf;
  *len = sbx__v1__result__get_packed_size(r);
  buf = malloc(*len > 0 ? *len : 1);
  sbx__v1__result__pack(r, buf);
  return buf;
}

/* ---- keys ---- */

static void test_keygen_load(void) {
  char dir[128], kpath[160], ppath[160], buf[512], before[512];
  uint8_t pk[32];
  char keyid[17];
  struct sbx_signer *s = NULL;
  struct sbx_diag d = {""};
  struct stat sb;
  size_t i;

  path_in(dir, sizeof(dir), "keys", NULL);
  path_in(kpath, sizeof(kpath), "keys", "signing.key");
  path_in(ppath, sizeof(ppath), "keys", "signing.pub");
  CHECK_EQ_INT(sbx_sign_keygen(dir, &d), 0);
  CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode));
  CHECK_EQ_INT(mode_of(kpath), 0600);
  CHECK_EQ_INT(mode_of(ppath), 0644);
  read_file(kpath, buf, sizeof(buf));
  CHECK(strncmp(buf, "sbx-ed25519-secret-v1\n", 22) == 0);
  CHECK_EQ_INT(strlen(buf), 22 + 88 + 1);
  read_file(ppath, buf, sizeof(buf));
  CHECK_EQ_INT(strlen(buf), 44 + 1);
  CHECK(buf[44] == '\n');

  CHECK_EQ_INT(sbx_signer_load(dir, &s, &d), 0);
  CHECK(s != NULL);
  if (s == NULL)
    return;
  CHECK_EQ_INT(sbx_sign_read_pubkey(ppath, pk, &d), 0);
  CHECK(memcmp(pk, sbx_signer_public_key(s), 32) == 0);
  sbx_sign_keyid(pk, keyid);
  CHECK_EQ_STR(sbx_signer_keyid(s), keyid);
  CHECK_EQ_INT(strlen(keyid), 16);
  for (i = 0; i < 16; i++)
    CHECK((keyid[i] >= '0' && keyid[i] <= '9') ||
          (keyid[i] >= 'a' && keyid[i] <= 'f'));
  {
    /* keyid = hex of the first 8 bytes of SHA-256(pk) */
    unsigned char h[32];
    char hex[17];
    crypto_hash_sha256(h, pk, 32);
    sodium_bin2hex(hex, sizeof(hex), h, 8);
    CHECK_EQ_STR(keyid, hex);
  }
  CHECK(stat(kpath, &sb) == 0);
  CHECK_EQ_INT(sbx_signer_created_ms(s), (int64_t)sb.st_mtim.tv_sec * 1000 +
                                             sb.st_mtim.tv_nsec / 1000000);
  sbx_signer_free(s);
  sbx_signer_free(NULL);

  /* Never overwritten: the old key stays byte for byte. */
  read_file(kpath, before, sizeof(before));
  d.msg[0] = '\0';
  CHECK_EQ_INT(sbx_sign_keygen(dir, &d), SBX_EEXIST);
  CHECK(strstr(d.msg, "signing.key already exists") != NULL);
  read_file(kpath, buf, sizeof(buf));
  CHECK_EQ_STR(buf, before);

  /* A public key without its secret is not silently replaced either. */
  path_in(dir, sizeof(dir), "orphan", NULL);
  mkdir(dir, 0700);
  path_in(ppath, sizeof(ppath), "orphan", "signing.pub");
  path_in(kpath, sizeof(kpath), "orphan", "signing.key");
  write_file(ppath, "x\n", 2, 0644);
  CHECK_EQ_INT(sbx_sign_keygen(dir, &d), SBX_EEXIST);
  CHECK(strstr(d.msg, "signing.pub already exists") != NULL);
  CHECK(access(kpath, F_OK) != 0);

  CHECK_EQ_INT(sbx_sign_keygen(NULL, &d), SBX_EINVAL);
  CHECK_EQ_INT(sbx_sign_keygen("", &d), SBX_EINVAL);
  /* The parent must exist. */
  path_in(dir, sizeof(dir), "no/such/parent", NULL);
  CHECK_EQ_INT(sbx_sign_keygen(dir, &d), SBX_EIO);
}

static void test_load_refusals(void) {
  char dir[128], kpath[160], ppath[160], good[512], bad[512];
  struct sbx_signer *s = (struct sbx_signer *)&s;
  struct sbx_diag d = {""};
  static const mode_t open_modes[] = {0644, 0640, 0604, 0620, 0602, 0700};
  size_t i;

  path_in(dir, sizeof(dir), "missing", NULL);
  CHECK_EQ_INT(sbx_signer_load(dir, &s, &d), SBX_ENOENT);
  CHECK(s == NULL);
  CHECK(strstr(d.msg, "does not exist") != NULL);

  path_in(dir, sizeof(dir), "modes", NULL);
  path_in(kpath, sizeof(kpath), "modes", "signing.key");
  path_in(ppath, sizeof(ppath), "modes", "signing.pub");
  CHECK_EQ_INT(sbx_sign_keygen(dir, &d), 0);
  for (i = 0; i < sizeof(open_modes) / sizeof(open_modes[0]); i++) {
    int want = (open_modes[i] & 077) ? SBX_EPERM : 0;
    char hint[200];
    chmod(kpath, open_modes[i]);
    d.msg[0] = '\0';
    s = NULL;
    CHECK_EQ_INT(sbx_signer_load(dir, &s, &d), want);
    if (want != 0) {
      snprintf(hint, sizeof(hint), "chmod 600 %s", kpath);
      CHECK(strstr(d.msg, hint) != NULL);
      CHECK(s == NULL);
    }
    sbx_signer_free(s);
  }
  chmod(kpath, 0600);
  read_file(kpath, good, sizeof(good));

  /* Garbage, a wrong magic line, a truncated secret. */
  write_file(kpath, "hello\n", 6, 0600);
  CHECK_EQ_INT(sbx_signer_load(dir, &s, &d), SBX_EINVAL);
  CHECK(strstr(d.msg, "not an sbx signing key") != NULL);
  memcpy(bad, good, sizeof(bad));
  bad[4] = 'X';
  write_file(kpath, bad, strlen(bad), 0600);
  CHECK_EQ_INT(sbx_signer_load(dir, &s, &d), SBX_EINVAL);
  memcpy(bad, good, sizeof(bad));
  bad[40] = '\n';
  bad[41] = '\0';
  write_file(kpath, bad, strlen(bad), 0600);
  CHECK_EQ_INT(sbx_signer_load(dir, &s, &d), SBX_EINVAL);

  /* A secret whose public half does not belong to its seed. */
  {
    unsigned char sk[64];
    char text[200];
    size_t magic = strlen("sbx-ed25519-secret-v1\n");
    secret_of(good, sk);
    sk[40] ^= 0x01;
    memcpy(text, good, magic);
    sodium_bin2base64(text + magic, sizeof(text) - magic, sk, 64,
                      sodium_base64_VARIANT_ORIGINAL);
    memcpy(text + strlen(text), "\n", 2);
    write_file(kpath, text, strlen(text), 0600);
    CHECK_EQ_INT(sbx_signer_load(dir, &s, &d), SBX_EINVAL);
    sodium_memzero(sk, sizeof(sk));
  }

  /* A key file that is too big to be one. */
  {
    char big[2048];
    memset(big, 'A', sizeof(big));
    memcpy(big, good, strlen(good));
    write_file(kpath, big, sizeof(big), 0600);
    CHECK_EQ_INT(sbx_signer_load(dir, &s, &d), SBX_EINVAL);
  }

  /* The good secret again, but the public key file names another key. */
  write_file(kpath, good, strlen(good), 0600);
  {
    char other[128], opub[160], pubtext[128];
    path_in(other, sizeof(other), "other", NULL);
    CHECK_EQ_INT(sbx_sign_keygen(other, &d), 0);
    path_in(opub, sizeof(opub), "other", "signing.pub");
    read_file(opub, pubtext, sizeof(pubtext));
    write_file(ppath, pubtext, strlen(pubtext), 0644);
    CHECK_EQ_INT(sbx_signer_load(dir, &s, &d), SBX_EINVAL);
    CHECK(strstr(d.msg, "wrong key") != NULL);
    write_file(ppath, "not a key\n", 10, 0644);
    CHECK_EQ_INT(sbx_signer_load(dir, &s, &d), SBX_EINVAL);
  }
  /* Without signing.pub the secret alone is enough. */
  unlink(ppath);
  CHECK_EQ_INT(sbx_signer_load(dir, &s, &d), 0);
  sbx_signer_free(s);

  /* A symlink to the secret is not followed; a directory is refused. */
  {
    char ldir[128], lkey[160];
    path_in(ldir, sizeof(ldir), "link", NULL);
    mkdir(ldir, 0700);
    path_in(lkey, sizeof(lkey), "link", "signing.key");
    CHECK(symlink(kpath, lkey) == 0);
    s = NULL;
    CHECK(sbx_signer_load(ldir, &s, &d) != 0);
    CHECK(s == NULL);
    path_in(ldir, sizeof(ldir), "dirkey", NULL);
    mkdir(ldir, 0700);
    path_in(lkey, sizeof(lkey), "dirkey", "signing.key");
    mkdir(lkey, 0700);
    CHECK(sbx_signer_load(ldir, &s, &d) != 0);
    CHECK(s == NULL);
  }
  CHECK_EQ_INT(sbx_signer_load(NULL, &s, &d), SBX_EINVAL);
}

static void test_read_pubkey(void) {
  char path[128], text[200];
  uint8_t pk[32], got[32];
  struct sbx_diag d = {""};
  size_t i;
  static const int variants[] = {
      sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
      sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};

  path_in(path, sizeof(path), "pub.txt", NULL);
  /* Bytes that make the standard and URL-safe alphabets differ. */
  for (i = 0; i < 32; i++)
    pk[i] = (uint8_t)(0xfb + i * 37);
  for (i = 0; i < 4; i++) {
    char b64[64];
    sodium_bin2base64(b64, sizeof(b64), pk, 32, variants[i]);
    snprintf(text, sizeof(text), " \n\t%s \r\n\n", b64);
    write_file(path, text, strlen(text), 0644);
    memset(got, 0, 32);
    CHECK_EQ_INT(sbx_sign_read_pubkey(path, got, &d), 0);
    CHECK(memcmp(got, pk, 32) == 0);
  }
  sodium_bin2hex(text, sizeof(text), pk, 32);
  write_file(path, text, 64, 0644);
  memset(got, 0, 32);
  CHECK_EQ_INT(sbx_sign_read_pubkey(path, got, &d), 0);
  CHECK(memcmp(got, pk, 32) == 0);
  for (i = 0; i < 64; i++)
    if (text[i] >= 'a' && text[i] <= 'f')
      text[i] = (char)(text[i] - 'a' + 'A');
  write_file(path, text, 64, 0644);
  memset(got, 0, 32);
  CHECK_EQ_INT(sbx_sign_read_pubkey(path, got, &d), 0);
  CHECK(memcmp(got, pk, 32) == 0);

  /* Wrong lengths, wrong characters, empty, a secret key file: refused,
   * pk untouched. */
  {
    static const char *const bad[] = {
        "",
        "   \n",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n", /* 31 bytes */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAA=\n",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd",
        "sbx-ed25519-secret-v1\nAAAA\n",
    };
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
      write_file(path, bad[i], strlen(bad[i]), 0644);
      memset(got, 0x77, 32);
      d.msg[0] = '\0';
      CHECK_EQ_INT(sbx_sign_read_pubkey(path, got, &d), SBX_EINVAL);
      CHECK(strstr(d.msg, "not an Ed25519 public key") != NULL);
      CHECK(got[0] == 0x77 && got[31] == 0x77);
    }
  }
  path_in(path, sizeof(path), "no-such.pub", NULL);
  CHECK_EQ_INT(sbx_sign_read_pubkey(path, got, &d), SBX_ENOENT);
  CHECK(strstr(d.msg, "no-such.pub") != NULL);
  CHECK_EQ_INT(sbx_sign_read_pubkey(root, got, &d), SBX_EIO);
}

/* ---- signing ---- */

static void test_sign_verify(void) {
  struct sbx_signer *s = fresh_signer("sv"), *other = fresh_signer("sv2");
  struct realistic r;
  Sbx__V1__SignedResult *sr = NULL;
  Sbx__V1__Result *back = NULL;
  struct sbx_diag d = {""};
  uint8_t *packed;
  size_t plen;

  if (s == NULL || other == NULL)
    goto out;
  realistic_init(&r);
  CHECK_EQ_INT(sbx_sign_result(s, &r.res, &sr), 0);
  if (sr == NULL)
    goto out;
  CHECK_EQ_STR(sr->payload_type, SBX_RESULT_PAYLOAD_TYPE);
  CHECK_EQ_INT(sr->n_signatures, 1);
  CHECK_EQ_STR(sr->signatures[0]->keyid, sbx_signer_keyid(s));
  CHECK_EQ_INT(sr->signatures[0]->sig.len, 64);

  /* The payload is the packed result, byte for byte. */
  packed = pack_result(&r.res, &plen);
  CHECK_EQ_INT(sr->payload.len, plen);
  CHECK(memcmp(sr->payload.data, packed, plen) == 0);
  free(packed);

  /* The signature is over the DSSE PAE, built here independently. */
  {
    char head[128];
    int h = snprintf(head, sizeof(head), "DSSEv1 %zu %s %zu ",
                     strlen(SBX_RESULT_PAYLOAD_TYPE), SBX_RESULT_PAYLOAD_TYPE,
                     sr->payload.len);
    uint8_t *m = malloc((size_t)h + sr->payload.len);
    memcpy(m, head, (size_t)h);
    memcpy(m + h, sr->payload.data, sr->payload.len);
    CHECK(strncmp(head, "DSSEv1 35 application/vnd.sbx.result.v1+proto ", 46) ==
          0);
    CHECK(crypto_sign_verify_detached(sr->signatures[0]->sig.data, m,
                                      (size_t)h + sr->payload.len,
                                      sbx_signer_public_key(s)) == 0);
    /* ... and not over the bare payload. */
    CHECK(crypto_sign_verify_detached(sr->signatures[0]->sig.data,
                                      sr->payload.data, sr->payload.len,
                                      sbx_signer_public_key(s)) != 0);
    free(m);
  }

  CHECK_EQ_INT(sbx_sign_verify(sr, sbx_signer_public_key(s), &back, &d), 0);
  CHECK(back != NULL);
  if (back != NULL) {
    CHECK_EQ_INT(back->run_id, 4242);
    CHECK_EQ_STR(back->product, "acme/scorer@2.0.1");
    CHECK_EQ_INT(back->metrics->latency_hist->n_counts, 9);
    CHECK_EQ_INT(back->n_criteria, 2);
    sbx__v1__result__free_unpacked(back, NULL);
  }
  CHECK_EQ_INT(sbx_sign_verify(sr, sbx_signer_public_key(s), NULL, &d), 0);

  /* The wrong key. */
  back = (Sbx__V1__Result *)&back;
  CHECK_EQ_INT(sbx_sign_verify(sr, sbx_signer_public_key(other), &back, &d),
               SBX_EVERIFY);
  CHECK(back == NULL);
  CHECK(strstr(d.msg, sbx_signer_keyid(other)) != NULL);

  /* An empty result signs and verifies too. */
  {
    Sbx__V1__Result empty = SBX__V1__RESULT__INIT;
    Sbx__V1__SignedResult *esr = NULL;
    CHECK_EQ_INT(sbx_sign_result(s, &empty, &esr), 0);
    CHECK(esr != NULL && esr->payload.len == 0);
    CHECK_EQ_INT(sbx_sign_verify(esr, sbx_signer_public_key(s), &back, &d), 0);
    if (back != NULL)
      sbx__v1__result__free_unpacked(back, NULL);
    if (esr != NULL)
      sbx__v1__signed_result__free_unpacked(esr, NULL);
  }

  {
    Sbx__V1__SignedResult *none = (Sbx__V1__SignedResult *)&none;
    CHECK_EQ_INT(sbx_sign_result(NULL, &r.res, &none), SBX_EINVAL);
    CHECK(none == NULL);
    CHECK_EQ_INT(sbx_sign_result(s, NULL, &none), SBX_EINVAL);
    CHECK_EQ_INT(sbx_sign_verify(NULL, sbx_signer_public_key(s), NULL, &d),
                 SBX_EINVAL);
  }
out:
  if (sr != NULL)
    sbx__v1__signed_result__free_unpacked(sr, NULL);
  sbx_signer_free(s);
  sbx_signer_free(other);
}

/* Byte ranges of one serialized SignedResult. */
struct layout {
  size_t keyid_start, keyid_end; /* the keyid field: tag, length, text */
};

static int read_varint(const uint8_t *b, size_t len, size_t *pos, uint64_t *v) {
  unsigned shift = 0;
  *v = 0;
  while (*pos < len && shift < 64) {
    uint8_t c = b[(*pos)++];
    *v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80))
      return 0;
    shift += 7;
  }
  return -1;
}

/* Finds the keyid field inside the only signature. */
static int find_layout(const uint8_t *b, size_t len, struct layout *l) {
  size_t pos = 0;
  uint64_t tag, n;

  memset(l, 0, sizeof(*l));
  while (pos < len) {
    if (read_varint(b, len, &pos, &tag) != 0 || (tag & 7) != 2 ||
        read_varint(b, len, &pos, &n) != 0 || n > len - pos)
      return -1;
    if ((tag >> 3) == 3) {
      size_t end = pos + n;
      while (pos < end) {
        size_t start = pos;
        uint64_t itag, in;
        if (read_varint(b, end, &pos, &itag) != 0 ||
            read_varint(b, end, &pos, &in) != 0 || in > end - pos)
          return -1;
        if ((itag >> 3) == 1) {
          l->keyid_start = start;
          l->keyid_end = pos + in;
        }
        pos += in;
      }
    } else {
      pos += n;
    }
  }
  return l->keyid_end > l->keyid_start ? 0 : -1;
}

static void test_tamper(void) {
  struct sbx_signer *s = fresh_signer("tamper"), *s2 = NULL;
  static const uint8_t masks[] = {0x01, 0xff};
  struct realistic r;
  Sbx__V1__SignedResult *sr = NULL;
  struct sbx_diag d = {""};
  struct layout l;
  uint8_t *orig = NULL, *buf = NULL;
  size_t len, pos, mi;
  unsigned hint_ok = 0, hint_fail = 0, must_fail = 0;

  if (s == NULL)
    return;
  realistic_init(&r);
  CHECK_EQ_INT(sbx_sign_result(s, &r.res, &sr), 0);
  if (sr == NULL)
    goto out;
  orig = pack_signed(sr, &len);
  buf = malloc(len);
  CHECK_EQ_INT(find_layout(orig, len, &l), 0);
  /* The keyid is the 16-char hint: tag, length byte, 16 characters. */
  CHECK_EQ_INT(l.keyid_end - l.keyid_start, 18);

  /* Positions and what a flip there must do:
   * - the keyid field (its tag, length and 16 characters) is a hint: a
   *   flip may verify (the right key is tried whatever the hint says) or
   *   break the envelope's structure; it must never yield another result;
   * - everything else must fail, whether the envelope no longer parses or
   *   the signature no longer verifies: the payload field (tag, length,
   *   every byte), the payload_type field (tag, length, text), the
   *   signatures field's tag and length, and the sig field (tag, length,
   *   all 64 bytes). */

  for (pos = 0; pos < len; pos++) {
    int hint = pos >= l.keyid_start && pos < l.keyid_end;
    for (mi = 0; mi < sizeof(masks); mi++) {
      Sbx__V1__SignedResult *t;
      Sbx__V1__Result *res = NULL;
      int rc;
      memcpy(buf, orig, len);
      buf[pos] ^= masks[mi];
      t = sbx__v1__signed_result__unpack(NULL, len, buf);
      rc = t == NULL ? SBX_EINVAL
                     : sbx_sign_verify(t, sbx_signer_public_key(s), &res, &d);
      if (hint) {
        /* A changed hint may still verify (the right key is tried anyway)
         * or break the envelope; if it verifies, the result is intact. */
        if (rc == 0) {
          hint_ok++;
          CHECK(res != NULL && res->run_id == 4242 && res->seed == r.res.seed);
        } else {
          hint_fail++;
        }
      } else {
        must_fail++;
        if (rc == 0)
          fprintf(stderr, "flip of byte %zu (mask 0x%02x) verified\n", pos,
                  masks[mi]);
        CHECK(rc != 0);
        CHECK(res == NULL);
      }
      if (res != NULL)
        sbx__v1__result__free_unpacked(res, NULL);
      if (t != NULL)
        sbx__v1__signed_result__free_unpacked(t, NULL);
    }
  }
  /* Flipping a character of the keyid text (not its tag or length) keeps
   * the envelope well-formed, so those 16 x 2 flips must verify. */
  CHECK(hint_ok >= 32);
  CHECK_EQ_INT(must_fail, (len - 18) * 2);
  printf("tamper: %zu bytes, %u flips failed as they must, keyid flips: %u "
         "verified, %u failed\n",
         len, must_fail, hint_ok, hint_fail);

  /* Every truncation fails. */
  for (pos = 0; pos < len; pos++) {
    Sbx__V1__SignedResult *t = sbx__v1__signed_result__unpack(NULL, pos, orig);
    if (t != NULL) {
      CHECK(sbx_sign_verify(t, sbx_signer_public_key(s), NULL, &d) != 0);
      sbx__v1__signed_result__free_unpacked(t, NULL);
    }
  }
  /* A byte appended to the payload fails. */
  {
    uint8_t *p = malloc(sr->payload.len + 1);
    uint8_t *saved = sr->payload.data;
    memcpy(p, saved, sr->payload.len);
    p[sr->payload.len] = 0;
    sr->payload.data = p;
    sr->payload.len++;
    CHECK_EQ_INT(sbx_sign_verify(sr, sbx_signer_public_key(s), NULL, &d),
                 SBX_EVERIFY);
    sr->payload.len--;
    sr->payload.data = saved;
    free(p);
  }
  /* Another key's keyid and signature beside a good one: the good one is
   * found whatever the hints say. */
  s2 = fresh_signer("tamper2");
  if (s2 != NULL) {
    Sbx__V1__SignedResult *sr2 = NULL;
    Sbx__V1__SignedResult e = SBX__V1__SIGNED_RESULT__INIT;
    Sbx__V1__Signature theirs, ours, *both[2] = {&theirs, &ours};
    CHECK_EQ_INT(sbx_sign_result(s2, &r.res, &sr2), 0);
    if (sr2 != NULL) {
      /* Borrowed fields: the other key's signature claims our keyid and
       * ours claims theirs. */
      theirs = *sr2->signatures[0];
      ours = *sr->signatures[0];
      theirs.keyid = sr->signatures[0]->keyid;
      ours.keyid = sr2->signatures[0]->keyid;
      e.payload = sr->payload;
      e.payload_type = sr->payload_type;
      e.signatures = both;
      e.n_signatures = 2;
      CHECK_EQ_INT(sbx_sign_verify(&e, sbx_signer_public_key(s), NULL, &d), 0);
      CHECK_EQ_INT(sbx_sign_verify(&e, sbx_signer_public_key(s2), NULL, &d), 0);
      /* Signatures of the wrong length are skipped, not read past. */
      ours.sig.len = 63;
      CHECK_EQ_INT(sbx_sign_verify(&e, sbx_signer_public_key(s), NULL, &d),
                   SBX_EVERIFY);
      ours.sig.len = 0;
      CHECK_EQ_INT(sbx_sign_verify(&e, sbx_signer_public_key(s), NULL, &d),
                   SBX_EVERIFY);
      /* No signature at all. */
      e.n_signatures = 0;
      CHECK_EQ_INT(sbx_sign_verify(&e, sbx_signer_public_key(s), NULL, &d),
                   SBX_EVERIFY);
      CHECK(strstr(d.msg, "no signature") != NULL);
      sbx__v1__signed_result__free_unpacked(sr2, NULL);
    }
  }
  /* Another payload type, even with a valid signature over it. */
  {
    char *saved = sr->payload_type;
    sr->payload_type = "application/vnd.in-toto+json";
    CHECK_EQ_INT(sbx_sign_verify(sr, sbx_signer_public_key(s), NULL, &d),
                 SBX_EVERIFY);
    CHECK(strstr(d.msg, "payload type") != NULL);
    sr->payload_type = saved;
  }
  /* An empty envelope is not a signed result at all. */
  {
    Sbx__V1__SignedResult e = SBX__V1__SIGNED_RESULT__INIT;
    CHECK_EQ_INT(sbx_sign_verify(&e, sbx_signer_public_key(s), NULL, &d),
                 SBX_EINVAL);
  }
  /* Signed bytes that are not a Result: valid signature, refused payload. */
  {
    unsigned char sk[64];
    uint8_t junk[] = {0x0f, 0xff, 0xff}; /* field 1 with wire type 7 */
    char head[128];
    int h = snprintf(head, sizeof(head), "DSSEv1 %zu %s %zu ",
                     strlen(SBX_RESULT_PAYLOAD_TYPE), SBX_RESULT_PAYLOAD_TYPE,
                     sizeof(junk));
    uint8_t m[sizeof(head) + sizeof(junk)], sig[64];
    Sbx__V1__Signature one = SBX__V1__SIGNATURE__INIT, *ones[] = {&one};
    Sbx__V1__SignedResult e = SBX__V1__SIGNED_RESULT__INIT;
    Sbx__V1__Result *res = (Sbx__V1__Result *)&sk;
    char path[128], text[512];
    path_in(path, sizeof(path), "tamper", "signing.key");
    read_file(path, text, sizeof(text));
    secret_of(text, sk);
    memcpy(m, head, (size_t)h);
    memcpy(m + h, junk, sizeof(junk));
    crypto_sign_detached(sig, NULL, m, (size_t)h + sizeof(junk), sk);
    sodium_memzero(sk, sizeof(sk));
    one.sig = (ProtobufCBinaryData){64, sig};
    e.payload = (ProtobufCBinaryData){sizeof(junk), junk};
    e.payload_type = SBX_RESULT_PAYLOAD_TYPE;
    e.signatures = ones;
    e.n_signatures = 1;
    CHECK_EQ_INT(sbx_sign_verify(&e, sbx_signer_public_key(s), NULL, &d), 0);
    CHECK_EQ_INT(sbx_sign_verify(&e, sbx_signer_public_key(s), &res, &d),
                 SBX_EINVAL);
    CHECK(res == NULL);
    CHECK(strstr(d.msg, "not a sbx.v1.Result") != NULL);
  }
out:
  free(orig);
  free(buf);
  if (sr != NULL)
    sbx__v1__signed_result__free_unpacked(sr, NULL);
  sbx_signer_free(s);
  sbx_signer_free(s2);
}

/* ---- sbx verify ---- */

/* Runs sbx_cmd_verify with the given arguments, its stdout and stderr
 * captured into out and err (NUL-terminated). Returns its exit code. */
static int run_verify(char *out, char *err, size_t cap, int argc,
                      const char *a0, const char *a1, const char *a2,
                      const char *a3, const char *a4) {
  char *argv[] = {(char *)"verify", (char *)a0, (char *)a1, (char *)a2,
                  (char *)a3,       (char *)a4, NULL};
  char opath[128], epath[128];
  int so, se, fo, fe, code;

  path_in(opath, sizeof(opath), "verify.out", NULL);
  path_in(epath, sizeof(epath), "verify.err", NULL);
  fflush(stdout);
  fflush(stderr);
  so = dup(1);
  se = dup(2);
  fo = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  fe = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(fo, 1);
  dup2(fe, 2);
  code = sbx_cmd_verify(argc + 1, argv);
  fflush(stdout);
  fflush(stderr);
  dup2(so, 1);
  dup2(se, 2);
  close(so);
  close(se);
  close(fo);
  close(fe);
  read_file(opath, out, cap);
  read_file(epath, err, cap);
  return code;
}

static void test_cmd_verify(void) {
  struct sbx_signer *s = fresh_signer("cmd"), *other = fresh_signer("cmd2");
  char pub[128], opub[128], packed[128], jsonf[128], bad[128], wrapf[128],
      resf[128], badkey[128], missing[128];
  char out[8192], err[8192], want[256];
  struct realistic r;
  Sbx__V1__SignedResult *sr = NULL;
  uint8_t *bytes = NULL;
  size_t len;
  char *js = NULL;

  if (s == NULL || other == NULL)
    goto out;
  realistic_init(&r);
  CHECK_EQ_INT(sbx_sign_result(s, &r.res, &sr), 0);
  if (sr == NULL)
    goto out;
  path_in(pub, sizeof(pub), "cmd", "signing.pub");
  path_in(opub, sizeof(opub), "cmd2", "signing.pub");
  path_in(packed, sizeof(packed), "result.sbxr", NULL);
  path_in(jsonf, sizeof(jsonf), "result.json", NULL);
  path_in(bad, sizeof(bad), "tampered.sbxr", NULL);
  path_in(wrapf, sizeof(wrapf), "response.json", NULL);
  path_in(resf, sizeof(resf), "plain-result.pb", NULL);
  path_in(badkey, sizeof(badkey), "bad.pub", NULL);
  path_in(missing, sizeof(missing), "no-such-file", NULL);

  bytes = pack_signed(sr, &len);
  write_file(packed, bytes, len, 0644);
  bytes[len / 2] ^= 0x01; /* inside the payload */
  write_file(bad, bytes, len, 0644);
  free(bytes);
  js = sbx_pbjson_dumps(&sr->base, 0, 1);
  CHECK(js != NULL);
  if (js != NULL)
    write_file(jsonf, js, strlen(js), 0644);
  free(js);
  {
    /* What GetResult returns as JSON: {"signed": ..., "result": ...}. */
    Sbx__V1__GetResultResponse gr = SBX__V1__GET_RESULT_RESPONSE__INIT;
    gr.signed_ = sr;
    gr.result = &r.res;
    js = sbx_pbjson_dumps(&gr.base, 0, 0);
    CHECK(js != NULL);
    if (js != NULL)
      write_file(wrapf, js, strlen(js), 0644);
    free(js);
  }
  bytes = pack_result(&r.res, &len);
  write_file(resf, bytes, len, 0644);
  free(bytes);
  write_file(badkey, "not a key\n", 10, 0644);

  snprintf(want, sizeof(want),
           "signature OK: key %s, run 4242, fraud-check@1.2.0, "
           "acme/scorer@2.0.1, verdict PASS\n",
           sbx_signer_keyid(s));
  CHECK_EQ_INT(
      run_verify(out, err, sizeof(out), 3, packed, "--key", pub, NULL, NULL),
      0);
  CHECK_EQ_STR(out, want);
  CHECK_EQ_INT(
      run_verify(out, err, sizeof(out), 3, "--key", pub, jsonf, NULL, NULL), 0);
  CHECK_EQ_STR(out, want);
  CHECK_EQ_INT(
      run_verify(out, err, sizeof(out), 3, wrapf, "--key", pub, NULL, NULL), 0);
  CHECK_EQ_STR(out, want);

  /* Changed bytes and the wrong key: exit 1. */
  CHECK_EQ_INT(
      run_verify(out, err, sizeof(out), 3, bad, "--key", pub, NULL, NULL), 1);
  CHECK(strncmp(out, "signature INVALID: ", 19) == 0);
  CHECK_EQ_INT(
      run_verify(out, err, sizeof(out), 3, packed, "--key", opub, NULL, NULL),
      1);
  CHECK(strncmp(out, "signature INVALID: ", 19) == 0);
  CHECK(strstr(out, sbx_signer_keyid(other)) != NULL);

  /* --json, both outcomes. */
  CHECK_EQ_INT(run_verify(out, err, sizeof(out), 4, packed, "--key", pub,
                          "--json", NULL),
               0);
  {
    json_error_t je;
    json_t *o = json_loads(out, 0, &je);
    CHECK(o != NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(o, "signature")), "OK");
    CHECK_EQ_STR(json_string_value(json_object_get(o, "keyid")),
                 sbx_signer_keyid(s));
    CHECK_EQ_STR(json_string_value(
                     json_object_get(json_object_get(o, "result"), "runId")),
                 "4242");
    CHECK_EQ_STR(json_string_value(
                     json_object_get(json_object_get(o, "result"), "verdict")),
                 "VERDICT_PASS");
    json_decref(o);
  }
  CHECK_EQ_INT(
      run_verify(out, err, sizeof(out), 4, bad, "--key", pub, "--json", NULL),
      1);
  {
    json_error_t je;
    json_t *o = json_loads(out, 0, &je);
    CHECK(o != NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(o, "signature")), "INVALID");
    CHECK(json_string_value(json_object_get(o, "error")) != NULL);
    CHECK(json_object_get(o, "result") == NULL);
    json_decref(o);
  }

  /* Usage and input errors: exit 2, a message on stderr, nothing on
   * stdout. */
  CHECK_EQ_INT(
      run_verify(out, err, sizeof(out), 1, packed, NULL, NULL, NULL, NULL), 2);
  CHECK(strstr(err, "--key PUBKEY_FILE is required") != NULL);
  CHECK_EQ_INT(
      run_verify(out, err, sizeof(out), 2, "--key", pub, NULL, NULL, NULL), 2);
  CHECK(strstr(err, "expected RESULT_FILE") != NULL);
  CHECK_EQ_INT(
      run_verify(out, err, sizeof(out), 4, packed, packed, "--key", pub, NULL),
      2);
  CHECK_EQ_INT(
      run_verify(out, err, sizeof(out), 3, missing, "--key", pub, NULL, NULL),
      2);
  CHECK(strstr(err, "cannot open") != NULL);
  CHECK_EQ_STR(out, "");
  CHECK_EQ_INT(
      run_verify(out, err, sizeof(out), 3, packed, "--key", badkey, NULL, NULL),
      2);
  CHECK(strstr(err, "not an Ed25519 public key") != NULL);
  CHECK_EQ_INT(run_verify(out, err, sizeof(out), 3, packed, "--key", missing,
                          NULL, NULL),
               2);
  CHECK_EQ_INT(
      run_verify(out, err, sizeof(out), 3, resf, "--key", pub, NULL, NULL), 2);
  CHECK(strstr(err, "not a signed result") != NULL);
  CHECK_EQ_STR(out, "");
  write_file(bad, "  { \"payload\": 12 ", 19, 0644);
  CHECK_EQ_INT(
      run_verify(out, err, sizeof(out), 3, bad, "--key", pub, NULL, NULL), 2);
  CHECK(strstr(err, "not the JSON of a signed result") != NULL);
  write_file(bad, "{\"unknownField\": 1}", 20, 0644);
  CHECK_EQ_INT(
      run_verify(out, err, sizeof(out), 3, bad, "--key", pub, NULL, NULL), 2);
  write_file(bad, "", 0, 0644);
  CHECK_EQ_INT(
      run_verify(out, err, sizeof(out), 3, bad, "--key", pub, NULL, NULL), 2);
  CHECK_EQ_INT(run_verify(out, err, sizeof(out), 4, packed, "--key", pub,
                          "--bogus", NULL),
               2);
  CHECK_EQ_INT(
      run_verify(out, err, sizeof(out), 1, "--help", NULL, NULL, NULL, NULL),
      0);
  CHECK(strncmp(out, "Usage: sbx verify", 17) == 0);
out:
  if (sr != NULL)
    sbx__v1__signed_result__free_unpacked(sr, NULL);
  sbx_signer_free(s);
  sbx_signer_free(other);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  umask(022);
  snprintf(root, sizeof(root), "/tmp/sbx-test-sign.XXXXXX");
  if (mkdtemp(root) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  test_keygen_load();
  test_load_refusals();
  test_read_pubkey();
  test_sign_verify();
  test_tamper();
  test_cmd_verify();
  nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return TEST_RESULT();
}
