/* adapter.c - what every adapter shares: building a case's request target.
 *
 * The target is written on the wire by more than one adapter (curl, fast), so
 * it is built here once and made safe here: bytes that can never appear in an
 * HTTP request-target (controls, space, DEL, '#', non-ASCII) are
 * percent-encoded wherever they come from, so a hostile dataset path cannot
 * split the request line or inject headers. Every other byte of the template
 * and of the case's path is kept verbatim ('%' included, so pre-encoded paths
 * stay as they are); the case's id is fully percent-encoded because it is
 * data, not a path.
 */
#include "adapter.h"

#include <stdlib.h>
#include <string.h>

struct target_buf {
  char *p;
  size_t len;
  size_t cap;
};

static const char hex_digits[] = "0123456789ABCDEF";

static int buf_reserve(struct target_buf *b, size_t extra) {
  size_t need, cap;
  char *np;
  if (extra > SIZE_MAX - b->len - 1)
    return -1;
  need = b->len + extra + 1;
  if (need <= b->cap)
    return 0;
  cap = b->cap ? b->cap : 64;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  np = realloc(b->p, cap);
  if (np == NULL)
    return -1;
  b->p = np;
  b->cap = cap;
  return 0;
}

/* Bytes that may never appear raw in a request-target. */
static int is_illegal_in_target(unsigned char c) {
  return c <= 0x20 || c >= 0x7f || c == '#';
}

/* RFC 3986 unreserved characters: the only ones an encoded id keeps. */
static int is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

static int buf_put_byte(struct target_buf *b, unsigned char c, int encode) {
  if (encode) {
    if (buf_reserve(b, 3) != 0)
      return -1;
    b->p[b->len++] = '%';
    b->p[b->len++] = hex_digits[c >> 4];
    b->p[b->len++] = hex_digits[c & 15];
  } else {
    if (buf_reserve(b, 1) != 0)
      return -1;
    b->p[b->len++] = (char)c;
  }
  b->p[b->len] = '\0';
  return 0;
}

/* Appends s[0..n) keeping legal bytes verbatim. */
static int buf_put_path(struct target_buf *b, const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (buf_put_byte(b, c, is_illegal_in_target(c)) != 0)
      return -1;
  }
  return 0;
}

/* Appends s percent-encoding everything but unreserved characters. */
static int buf_put_encoded(struct target_buf *b, const char *s) {
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if (buf_put_byte(b, c, !is_unreserved(c)) != 0)
      return -1;
  }
  return 0;
}

char *sbx_adapter_target(const Sbx__V1__Interface *iface,
                         const Sbx__V1__Case *kase) {
  static const char k_path[] = "{path}";
  static const char k_id[] = "{id}";
  const char *tmpl = (iface != NULL && iface->path != NULL) ? iface->path : "";
  const char *cpath = (kase != NULL && kase->path != NULL) ? kase->path : "";
  const char *cid = (kase != NULL && kase->id != NULL) ? kase->id : "";
  struct target_buf b = {NULL, 0, 0};
  const char *s;

  if (buf_reserve(&b, 1) != 0)
    goto fail;
  b.p[0] = '\0';
  if (*tmpl == '\0') {
    if (buf_put_path(&b, cpath, strlen(cpath)) != 0)
      goto fail;
  } else {
    s = tmpl;
    while (*s != '\0') {
      if (strncmp(s, k_path, sizeof(k_path) - 1) == 0) {
        if (buf_put_path(&b, cpath, strlen(cpath)) != 0)
          goto fail;
        s += sizeof(k_path) - 1;
      } else if (strncmp(s, k_id, sizeof(k_id) - 1) == 0) {
        if (buf_put_encoded(&b, cid) != 0)
          goto fail;
        s += sizeof(k_id) - 1;
      } else {
        if (buf_put_path(&b, s, 1) != 0)
          goto fail;
        s++;
      }
    }
  }
  /* An origin-form target always starts with '/': "" becomes "/", and a
   * relative "items/1" becomes "/items/1" rather than gluing onto the port. */
  if (b.len == 0 || b.p[0] != '/') {
    if (buf_reserve(&b, 1) != 0)
      goto fail;
    memmove(b.p + 1, b.p, b.len + 1);
    b.p[0] = '/';
    b.len++;
  }
  return b.p;

fail:
  free(b.p);
  return NULL;
}

static int http_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') ||
         (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int sbx_http_is_token(const char *s) {
  if (s == NULL || *s == '\0')
    return 0;
  for (; *s != '\0'; s++)
    if (!http_tchar((unsigned char)*s))
      return 0;
  return 1;
}

int sbx_http_is_field_value(const char *s) {
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return 0;
  }
  return 1;
}

int sbx_http_method(const Sbx__V1__Interface *iface, char **out,
                    int *head_only, int *has_body, struct sbx_diag *diag) {
  const char *m = iface != NULL && iface->method != NULL &&
                          *iface->method != '\0'
                      ? iface->method
                      : "GET";
  size_t i, n = strlen(m);
  char *u;
  if (!sbx_http_is_token(m) || n > 32) {
    sbx_diag_set(diag,
                 "interface.method \"%.40s\": not an HTTP method; use GET, "
                 "POST, PUT, PATCH, DELETE, HEAD or another token",
                 m);
    return SBX_EINVAL;
  }
  u = malloc(n + 1);
  if (u == NULL)
    return SBX_ENOMEM;
  /* Methods are case-sensitive and the standard ones upper case: a spec's
   * "post" means POST. */
  for (i = 0; i <= n; i++)
    u[i] = (m[i] >= 'a' && m[i] <= 'z') ? (char)(m[i] - 'a' + 'A') : m[i];
  *head_only = strcmp(u, "HEAD") == 0;
  *has_body = strcmp(u, "POST") == 0 || strcmp(u, "PUT") == 0 ||
              strcmp(u, "PATCH") == 0;
  *out = u;
  return 0;
}
