/* testlib.h - the few assertions the unit tests share.
 *
 * CHECK(cond) records a failure with file and line and goes on; the test's
 * main returns TEST_RESULT(), non-zero if any check failed. */
#ifndef SBX_TESTLIB_H
#define SBX_TESTLIB_H

#include <stdio.h>
#include <string.h>

static int test_failures;

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) {                                                            \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,        \
              #cond);                                                         \
      test_failures++;                                                        \
    }                                                                         \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                    \
  do {                                                                        \
    long long va_ = (long long)(a), vb_ = (long long)(b);                     \
    if (va_ != vb_) {                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n",       \
              __FILE__, __LINE__, #a, #b, va_, vb_);                          \
      test_failures++;                                                        \
    }                                                                         \
  } while (0)

#define CHECK_EQ_STR(a, b)                                                    \
  do {                                                                        \
    const char *sa_ = (a), *sb_ = (b);                                        \
    if (sa_ == NULL || sb_ == NULL || strcmp(sa_, sb_) != 0) {                \
      fprintf(stderr, "%s:%d: CHECK failed: %s == %s\n  got:      %s\n"     \
              "  expected: %s\n", __FILE__, __LINE__, #a, #b,                 \
              sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                    \
      test_failures++;                                                        \
    }                                                                         \
  } while (0)

#define TEST_RESULT()                                                         \
  (test_failures == 0 ? (printf("ok\n"), 0)                                   \
                      : (fprintf(stderr, "%d check(s) failed\n",              \
                                 test_failures), 1))

#endif
