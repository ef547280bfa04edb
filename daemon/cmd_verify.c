/* cmd_verify.c - `sbx verify`: check a signed result offline.
 *
 * Everything here works without a daemon or network: the signed result
 * comes from a file (what `sbx result get --out` wrote, or the proto3 JSON
 * of it), the key from the published public key file. The signature is
 * checked over the exact bytes of the file's payload before anything in
 * the payload is looked at.
 */
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "pbjson.h"
#include "sign.h"
#include "sbx/v1/api.pb-c.h"

#define EXIT_OK 0
#define EXIT_INVALID 1
#define EXIT_USAGE 2
#define EXIT_NORUN 3
/* A signed result with its histograms is a few hundred KiB; anything
 * beyond this is not one. */
#define RESULT_FILE_MAX (256u << 20)

static const char usage_verify[] =
    "Usage: sbx verify RESULT_FILE --key PUBKEY_FILE [--json]\n"
    "\n"
    "Checks offline that RESULT_FILE carries a valid signature of the\n"
    "sandbox whose public key is in PUBKEY_FILE, i.e. that the result was\n"
    "produced by that sandbox and that no byte of it changed since.\n"
    "\n"
    "  RESULT_FILE        a signed result: what 'sbx result get --out' writes\n"
    "                     (serialized sbx.v1.SignedResult), or its proto3\n"
    "                     JSON; '-' reads standard input\n"
    "  --key PUBKEY_FILE  the sandbox's Ed25519 public key, base64 or hex\n"
    "                     (its signing.pub, or 'sbx keys --out FILE')\n"
    "  --json             print a JSON object instead of a line:\n"
    "                     {\"signature\": \"OK\"|\"INVALID\", \"keyid\", "
    "\"result\"|\"error\"}\n"
    "  --help             print this help\n"
    "\n"
    "Exit status: 0 signature OK, 1 signature INVALID, 2 usage error or a\n"
    "file that cannot be read or is not a signed result.\n";

/* Reads all of path ("-": stdin) into a new buffer. Returns 0, or -1 with
 * a message on stderr. */
static int read_input(const char *path, uint8_t **out, size_t *out_len) {
  int fd =
      strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
  size_t cap = 64 * 1024, len = 0;
  uint8_t *buf = NULL;
  int rc = -1;

  if (fd < 0) {
    fprintf(stderr, "sbx verify: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  buf = malloc(cap);
  if (buf == NULL)
    goto nomem;
  for (;;) {
    ssize_t r;
    if (len == cap) {
      uint8_t *nb;
      if (cap >= RESULT_FILE_MAX) {
        fprintf(stderr,
                "sbx verify: %s: bigger than %u MiB, not a signed "
                "result\n",
                path, RESULT_FILE_MAX >> 20);
        goto out;
      }
      nb = realloc(buf, cap * 2);
      if (nb == NULL)
        goto nomem;
      buf = nb;
      cap *= 2;
    }
    r = read(fd, buf + len, cap - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      fprintf(stderr, "sbx verify: cannot read %s: %s\n", path,
              strerror(errno));
      goto out;
    }
    if (r == 0)
      break;
    len += (size_t)r;
  }
  *out = buf;
  *out_len = len;
  buf = NULL;
  rc = 0;
  goto out;

nomem:
  fprintf(stderr, "sbx verify: out of memory reading %s\n", path);
out:
  if (fd != STDIN_FILENO)
    close(fd);
  free(buf);
  return rc;
}

/* Decodes data as a SignedResult: proto3 JSON when its first non-space
 * byte is '{' (the SignedResult itself, or a GetResultResponse as the API
 * returns it, whose "signed" member is used), packed protobuf otherwise.
 * Returns the message or NULL with a message on stderr. */
static Sbx__V1__SignedResult *decode_input(const char *path,
                                           const uint8_t *data, size_t len) {
  Sbx__V1__SignedResult *sr = NULL;
  size_t i = 0;

  while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' ||
                     data[i] == '\r'))
    i++;
  if (i < len && data[i] == '{') {
    ProtobufCMessage *m = NULL;
    struct sbx_diag d = {""}, d2 = {""};
    if (sbx_pbjson_decode(&sbx__v1__signed_result__descriptor,
                          (const char *)data, len, &m, &d) == 0)
      return (Sbx__V1__SignedResult *)m;
    if (sbx_pbjson_decode(&sbx__v1__get_result_response__descriptor,
                          (const char *)data, len, &m, &d2) == 0) {
      Sbx__V1__GetResultResponse *gr = (Sbx__V1__GetResultResponse *)m;
      sr = gr->signed_;
      gr->signed_ = NULL; /* taken over; the rest goes */
      sbx__v1__get_result_response__free_unpacked(gr, NULL);
      if (sr != NULL)
        return sr;
    }
    fprintf(stderr, "sbx verify: %s: not the JSON of a signed result: %s\n",
            path, d.msg[0] ? d.msg : "cannot decode it");
    return NULL;
  }
  sr = sbx__v1__signed_result__unpack(NULL, len, data);
  if (sr == NULL)
    fprintf(stderr,
            "sbx verify: %s: not a signed result (neither a "
            "serialized sbx.v1.SignedResult nor its JSON); 'sbx result get "
            "RUN_ID --out FILE' writes one\n",
            path);
  return sr;
}

/* Prints an untrusted string with control characters replaced, so that a
 * result cannot move the terminal's cursor or forge lines. */
static void put_clean(FILE *f, const char *s) {
  for (; s != NULL && *s != '\0'; s++)
    fputc(((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s, f);
}

static const char *verdict_name(Sbx__V1__Verdict v) {
  const ProtobufCEnumValue *ev =
      protobuf_c_enum_descriptor_get_value(&sbx__v1__verdict__descriptor, v);
  size_t plen = strlen("VERDICT_");

  if (ev == NULL || strncmp(ev->name, "VERDICT_", plen) != 0)
    return "UNKNOWN";
  return ev->name + plen;
}

static int print_json(const char *keyid, const Sbx__V1__Result *res,
                      const char *error) {
  json_t *o = json_object(), *r = NULL;
  char *s = NULL;
  int rc = -1;

  if (o == NULL)
    goto out;
  if (res != NULL && (r = sbx_pbjson_encode(&res->base, 0)) == NULL)
    goto out;
  if (json_object_set_new(o, "signature",
                          json_string(res != NULL ? "OK" : "INVALID")) != 0 ||
      json_object_set_new(o, "keyid", json_string(keyid)) != 0)
    goto out;
  if (res != NULL) {
    if (json_object_set_new(o, "result", r) != 0) {
      r = NULL;
      goto out;
    }
    r = NULL;
  } else if (json_object_set_new(o, "error", json_string(error)) != 0) {
    goto out;
  }
  s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (s == NULL)
    goto out;
  printf("%s\n", s);
  rc = 0;
out:
  if (rc != 0)
    fputs("sbx verify: out of memory writing JSON\n", stderr);
  free(s);
  json_decref(r);
  json_decref(o);
  return rc;
}

int sbx_cmd_verify(int argc, char **argv) {
  enum { O_KEY = 256, O_JSON, O_HELP };
  static const struct option opts[] = {{"key", required_argument, NULL, O_KEY},
                                       {"json", no_argument, NULL, O_JSON},
                                       {"help", no_argument, NULL, O_HELP},
                                       {NULL, 0, NULL, 0}};
  const char *keyfile = NULL, *path;
  uint8_t pk[SBX_SIGN_PUBLIC_KEY_BYTES];
  char keyid[SBX_SIGN_KEYID_LEN + 1];
  Sbx__V1__SignedResult *sr = NULL;
  Sbx__V1__Result *res = NULL;
  struct sbx_diag diag = {""};
  uint8_t *data = NULL;
  size_t len = 0;
  int json = 0, c, rc, code = EXIT_USAGE;

  /* 0, not 1: glibc then starts afresh, so the command can run more than
   * once in one process (tests do). */
  optind = 0;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case O_KEY:
      keyfile = optarg;
      break;
    case O_JSON:
      json = 1;
      break;
    case O_HELP:
      return sbx_cmd_help(usage_verify);
    default:
      return sbx_cmd_try_help("verify");
    }
  }
  if (optind + 1 != argc) {
    fputs(optind >= argc ? "sbx verify: expected RESULT_FILE\n\n"
                         : "sbx verify: expected one RESULT_FILE\n\n",
          stderr);
    fputs(usage_verify, stderr);
    return EXIT_USAGE;
  }
  path = argv[optind];
  if (keyfile == NULL) {
    fputs("sbx verify: --key PUBKEY_FILE is required: the sandbox's public "
          "key (its signing.pub, or what 'sbx keys --out FILE' writes)\n",
          stderr);
    return EXIT_USAGE;
  }
  if (sbx_sign_read_pubkey(keyfile, pk, &diag) != 0) {
    fprintf(stderr, "sbx verify: %s\n", diag.msg);
    return EXIT_USAGE;
  }
  sbx_sign_keyid(pk, keyid);
  if (read_input(path, &data, &len) != 0)
    goto out;
  if ((sr = decode_input(path, data, len)) == NULL)
    goto out;

  rc = sbx_sign_verify(sr, pk, &res, &diag);
  if (rc == SBX_EVERIFY) {
    if (json)
      print_json(keyid, NULL, diag.msg);
    else
      printf("signature INVALID: %s\n", diag.msg);
    code = EXIT_INVALID;
    goto out;
  }
  if (rc != 0) {
    fprintf(stderr, "sbx verify: %s: %s\n", path,
            diag.msg[0] ? diag.msg : sbx_strerror(rc));
    code = rc == SBX_ENOMEM ? EXIT_NORUN : EXIT_USAGE;
    goto out;
  }
  if (json) {
    code = print_json(keyid, res, NULL) == 0 ? EXIT_OK : EXIT_NORUN;
    goto out;
  }
  printf("signature OK: key %s, run %llu, ", keyid,
         (unsigned long long)res->run_id);
  put_clean(stdout, res->scenario);
  fputc('@', stdout);
  put_clean(stdout, res->scenario_version);
  fputs(", ", stdout);
  put_clean(stdout, res->product);
  printf(", verdict %s\n", verdict_name(res->verdict));
  code = EXIT_OK;

out:
  if (fflush(stdout) != 0 && code == EXIT_OK)
    code = EXIT_NORUN;
  if (res != NULL)
    sbx__v1__result__free_unpacked(res, NULL);
  if (sr != NULL)
    sbx__v1__signed_result__free_unpacked(sr, NULL);
  free(data);
  return code;
}
