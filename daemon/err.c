/* err.c - names and messages of the SBX_E* codes. */
#include "err.h"

const char *sbx_strerror(int code) {
  switch (code) {
  case SBX_OK:
    return "success";
#define XX(name, c, msg)                                                      \
  case SBX_##name:                                                            \
    return msg;
    SBX_ERRNO_MAP(XX)
#undef XX
  }
  return "unknown error";
}

const char *sbx_err_name(int code) {
  switch (code) {
  case SBX_OK:
    return "OK";
#define XX(name, c, msg)                                                      \
  case SBX_##name:                                                            \
    return #name;
    SBX_ERRNO_MAP(XX)
#undef XX
  }
  return "EUNKNOWN";
}

#include <stdarg.h>
#include <stdio.h>

void sbx_diag_set(struct sbx_diag *d, const char *fmt, ...) {
  va_list ap;
  if (d == NULL)
    return;
  va_start(ap, fmt);
  vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
  va_end(ap);
}
