/* err.h - the project's error codes.
 *
 * Every function that can fail returns int: 0 on success or one of the
 * negative SBX_E* codes below. The list is an X-macro so that the enum,
 * sbx_strerror() and sbx_err_name() can never drift apart.
 */
#ifndef SBX_ERR_H
#define SBX_ERR_H

#define SBX_ERRNO_MAP(XX)                                                     \
  XX(ENOMEM, -1, "out of memory")                                             \
  XX(EINVAL, -2, "invalid argument")                                          \
  XX(EIO, -3, "input/output error")                                           \
  XX(ENOENT, -4, "no such file or record")                                    \
  XX(ESPEC, -5, "invalid scenario spec")                                      \
  XX(EDATASET, -6, "invalid dataset")                                         \
  XX(ESTORE, -7, "store error")                                               \
  XX(ECONNECT, -8, "could not connect to the product")                        \
  XX(ECANCELED, -9, "canceled")                                               \
  XX(ERANGE, -10, "value out of range")                                       \
  XX(EPROTO, -11, "protocol error")                                           \
  XX(EBUSY, -12, "resource busy")                                             \
  XX(EEXIST, -13, "already exists")                                           \
  XX(ESTATE, -14, "wrong state for this operation")                         \
  XX(EPRODUCT, -15, "the product failed and cannot be measured")            \
  XX(EVERIFY, -16, "signature verification failed")                          \
  XX(EAUTH, -17, "not authenticated")                                         \
  XX(EPERM, -18, "permission denied")

enum sbx_err {
  SBX_OK = 0,
#define XX(name, code, msg) SBX_##name = (code),
  SBX_ERRNO_MAP(XX)
#undef XX
};

/* Returns a static, human-readable description of code (never NULL). */
const char *sbx_strerror(int code);

/* Returns the static symbolic name of code, e.g. "ESPEC" (never NULL). */
const char *sbx_err_name(int code);

/* A user-facing error message for input from outside (spec files, datasets,
 * responses). Parsers fill it as "file:line:col: field.path: what; fix" so
 * that the message alone tells where the problem is and how to mend it. */
struct sbx_diag {
  char msg[1024];
};

/* Formats into d->msg (printf-style, truncating). d may be NULL. */
void sbx_diag_set(struct sbx_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
