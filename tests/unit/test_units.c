/* test_units.c - durations, sizes, rates, fractions and message helpers. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "testlib.h"
#include "units.h"

static void test_duration(void) {
  static const struct {
    const char *s;
    int64_t us;
  } ok[] = {
      {"250us", 250},    {"20ms", 20000},
      {"2s", 2000000},   {"1.5s", 1500000},
      {"1m", 60000000},  {"1h", 3600000000LL},
      {"0", 0},          {"0s", 0},
      {"1.1s", 1100000}, {"10 ms", 10000},
      {"0.5ms", 500},    {"7\xce\xbcs", 7},
      {"7\xc2\xb5s", 7}, {"0.0004ms", 0},
      {"0.0006ms", 1},   {"2562047788h", 9223372036800000000LL},
  };
  static const char *const bad[] = {
      "",
      "5",
      "5sec",
      "-1s",
      "1.s",
      ".5s",
      "1e3ms",
      "s",
      " 1s",
      "1s ",
      "1.5",
      "inf",
      "nan",
      "0x10s",
      "1d",
      "1 s s",
      "99999999999999999999s",
      "2562047789h",
      "1,5s",
      "+1s",
      "\xc2\xb5s",
  };
  int64_t v;

  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    v = -42;
    CHECK_EQ_INT(sbx_parse_duration_us(ok[i].s, &v), 0);
    CHECK_EQ_INT(v, ok[i].us);
  }
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    v = -42;
    if (sbx_parse_duration_us(bad[i], &v) != SBX_EINVAL)
      fprintf(stderr, "accepted bad duration \"%s\"\n", bad[i]);
    CHECK_EQ_INT(sbx_parse_duration_us(bad[i], &v), SBX_EINVAL);
    CHECK_EQ_INT(v, -42); /* untouched on error */
  }
  CHECK_EQ_INT(sbx_parse_duration_us(NULL, &v), SBX_EINVAL);
}

static void test_size(void) {
  static const struct {
    const char *s;
    uint64_t n;
  } ok[] = {
      {"0", 0},
      {"65536", 65536},
      {"1B", 1},
      {"4MiB", 4194304},
      {"16MiB", 16777216},
      {"512KiB", 524288},
      {"1GiB", 1073741824},
      {"1.5KiB", 1536},
      {"2kB", 2000},
      {"3MB", 3000000},
      {"1GB", 1000000000},
      {"4 MiB", 4194304},
  };
  static const char *const bad[] = {
      "",     "4 megabytes", "-1",   "1.5",  "1.5B",
      "4mib", "KiB",         "1TiB", "0x10", "99999999999999999999GiB"};
  uint64_t v;

  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    v = 42;
    CHECK_EQ_INT(sbx_parse_size(ok[i].s, &v), 0);
    CHECK_EQ_INT(v, ok[i].n);
  }
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    v = 42;
    CHECK_EQ_INT(sbx_parse_size(bad[i], &v), SBX_EINVAL);
    CHECK_EQ_INT(v, 42);
  }
}

static void test_rate_fraction_number(void) {
  double v;
  uint64_t u;

  CHECK(sbx_parse_rate("1000", &v) == 0 && v == 1000);
  CHECK(sbx_parse_rate("1000/s", &v) == 0 && v == 1000);
  CHECK(sbx_parse_rate("2.5k/s", &v) == 0 && v == 2500);
  CHECK(sbx_parse_rate("1M", &v) == 0 && v == 1e6);
  CHECK(sbx_parse_rate("0", &v) == 0 && v == 0);
  CHECK(sbx_parse_rate("1e3/s", &v) == 0 && v == 1000);
  v = 7;
  CHECK_EQ_INT(sbx_parse_rate("-5", &v), SBX_EINVAL);
  CHECK_EQ_INT(sbx_parse_rate("fast", &v), SBX_EINVAL);
  CHECK_EQ_INT(sbx_parse_rate("10/m", &v), SBX_EINVAL);
  CHECK_EQ_INT(sbx_parse_rate("1e999", &v), SBX_EINVAL);
  CHECK_EQ_INT(sbx_parse_rate("", &v), SBX_EINVAL);
  CHECK_EQ_INT(sbx_parse_rate("1000/s/s", &v), SBX_EINVAL);
  CHECK(v == 7);

  CHECK(sbx_parse_fraction("0.001", &v) == 0 && v == 0.001);
  CHECK(sbx_parse_fraction("0.1%", &v) == 0 && fabs(v - 0.001) < 1e-15);
  CHECK(sbx_parse_fraction("100%", &v) == 0 && v == 1);
  CHECK(sbx_parse_fraction("1", &v) == 0 && v == 1);
  CHECK(sbx_parse_fraction("0", &v) == 0 && v == 0);
  v = 7;
  CHECK_EQ_INT(sbx_parse_fraction("1.5", &v), SBX_EINVAL);
  CHECK_EQ_INT(sbx_parse_fraction("101%", &v), SBX_EINVAL);
  CHECK_EQ_INT(sbx_parse_fraction("-0.1", &v), SBX_EINVAL);
  CHECK_EQ_INT(sbx_parse_fraction("5%%", &v), SBX_EINVAL);
  CHECK_EQ_INT(sbx_parse_fraction("half", &v), SBX_EINVAL);
  CHECK(v == 7);

  CHECK(sbx_parse_number("-0.5", &v) == 0 && v == -0.5);
  CHECK(sbx_parse_number("1e-3", &v) == 0 && v == 1e-3);
  CHECK_EQ_INT(sbx_parse_number("nan", &v), SBX_EINVAL);
  CHECK_EQ_INT(sbx_parse_number("0x1p3", &v), SBX_EINVAL);
  CHECK_EQ_INT(sbx_parse_number(" 1", &v), SBX_EINVAL);

  CHECK(sbx_parse_uint64("18446744073709551615", UINT64_MAX, &u) == 0 &&
        u == UINT64_MAX);
  CHECK_EQ_INT(sbx_parse_uint64("18446744073709551616", UINT64_MAX, &u),
               SBX_EINVAL);
  CHECK_EQ_INT(sbx_parse_uint64("11", 10, &u), SBX_EINVAL);
  CHECK_EQ_INT(sbx_parse_uint64("+1", 10, &u), SBX_EINVAL);
  CHECK_EQ_INT(sbx_parse_uint64("", 10, &u), SBX_EINVAL);
}

static void test_format(void) {
  static const struct {
    int64_t us;
    const char *s;
  } cases[] = {
      {0, "0us"},          {842, "842us"},          {999, "999us"},
      {1000, "1.00ms"},    {1234, "1.23ms"},        {9994, "9.99ms"},
      {9999, "10.0ms"},    {12345, "12.3ms"},       {99960, "100ms"},
      {842000, "842ms"},   {999600, "1.00s"},       {1200000, "1.20s"},
      {95000000, "95.0s"}, {3600000000LL, "3600s"}, {-1500, "-1.50ms"},
  };
  char buf[32], tiny[4];

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    sbx_format_duration_us(cases[i].us, buf, sizeof(buf));
    CHECK_EQ_STR(buf, cases[i].s);
  }
  sbx_format_duration_us(INT64_MIN, buf, sizeof(buf));
  CHECK(buf[0] == '-');
  sbx_format_duration_us(123456, tiny, sizeof(tiny));
  CHECK_EQ_INT(strlen(tiny), 3);
}

static void test_quote_suggest(void) {
  static const char *const words[] = {"criteria", "concurrency", "title", "GET",
                                      "PATCH"};
  char buf[128], big[300];

  sbx_format_quoted("a\"b\\c\n\x01", 7, buf, sizeof(buf));
  CHECK_EQ_STR(buf, "\"a\\\"b\\\\c\\n\\x01\"");
  memset(big, 'x', sizeof(big));
  sbx_format_quoted(big, sizeof(big), buf, sizeof(buf));
  CHECK(strlen(buf) < 70 && strstr(buf, "...\"") != NULL);
  sbx_format_quoted(big, sizeof(big), buf, 8); /* truncated, terminated */
  CHECK(strlen(buf) < 8);

  CHECK_EQ_STR(sbx_suggest("criterias", words, 5), "criteria");
  CHECK_EQ_STR(sbx_suggest("concurency", words, 5), "concurrency");
  CHECK_EQ_STR(sbx_suggest("titel", words, 5), "title");
  CHECK(sbx_suggest("FETCH", words, 5) == NULL);
  CHECK(sbx_suggest("zzzzzz", words, 5) == NULL);
  CHECK(sbx_suggest("", words, 5) == NULL);
}

int main(void) {
  test_duration();
  test_size();
  test_rate_fraction_number();
  test_format();
  test_quote_suggest();
  return TEST_RESULT();
}
