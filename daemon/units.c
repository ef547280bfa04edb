/* units.c - durations, sizes, rates and fractions as people write them.
 *
 * Durations and sizes are parsed in fixed point (integer part plus nine
 * fraction digits) so that "1.1s" is exactly 1100000us, with no binary
 * floating-point surprises. Rates and fractions are doubles anyway, so they
 * go through strtod once the text has been checked to be a plain decimal.
 */
#include "units.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define FRAC_ONE 1000000000ULL /* fixed point: 9 fraction digits */

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* Scans "123" or "123.456" at *sp: integer part into *ip, fraction into
 * *fp as billionths (digits past the ninth are dropped). Advances *sp.
 * Returns 0, or SBX_EINVAL on no digits, "1." or integer overflow. */
static int scan_fixed(const char **sp, uint64_t *ip, uint64_t *fp) {
  const char *s = *sp;
  uint64_t i = 0, f = 0, scale = FRAC_ONE;

  if (!is_digit(*s))
    return SBX_EINVAL;
  while (is_digit(*s)) {
    unsigned d = (unsigned)(*s - '0');
    if (i > (UINT64_MAX - d) / 10)
      return SBX_EINVAL;
    i = i * 10 + d;
    s++;
  }
  if (*s == '.') {
    s++;
    if (!is_digit(*s))
      return SBX_EINVAL;
    while (is_digit(*s)) {
      if (scale > 1) {
        scale /= 10;
        f += (uint64_t)(*s - '0') * scale;
      }
      s++;
    }
  }
  *ip = i;
  *fp = f;
  *sp = s;
  return 0;
}

static const char *skip_blanks(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  return s;
}

/* ip + fp/1e9 times mult, rounded to nearest if round_half, else truncated.
 * mult must be <= 1e10 so that fp * mult fits. Returns 0 or SBX_EINVAL on
 * overflow. */
static int scale_fixed(uint64_t ip, uint64_t fp, uint64_t mult, int round_half,
                       uint64_t *out) {
  uint64_t whole, part;

  if (__builtin_mul_overflow(ip, mult, &whole))
    return SBX_EINVAL;
  part = (fp * mult + (round_half ? FRAC_ONE / 2 : 0)) / FRAC_ONE;
  if (__builtin_add_overflow(whole, part, &whole))
    return SBX_EINVAL;
  *out = whole;
  return 0;
}

struct unit {
  const char *name;
  uint64_t mult;
};

static const struct unit duration_units[] = {
    {"us", 1},        {"\xc2\xb5s", 1}, /* MICRO SIGN */
    {"\xce\xbcs", 1},                   /* GREEK SMALL LETTER MU */
    {"ms", 1000},     {"s", 1000000},   {"m", 60000000}, {"h", 3600000000ULL},
};

static const struct unit size_units[] = {
    {"", 1},
    {"B", 1},
    {"kB", 1000},
    {"MB", 1000000},
    {"GB", 1000000000},
    {"KiB", 1024},
    {"MiB", 1048576},
    {"GiB", 1073741824},
};

static const struct unit *find_unit(const struct unit *units, size_t n,
                                    const char *s) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(units[i].name, s) == 0)
      return &units[i];
  return NULL;
}

int sbx_parse_duration_us(const char *s, int64_t *out) {
  uint64_t ip, fp, v;
  const struct unit *u;

  if (s == NULL || scan_fixed(&s, &ip, &fp) != 0)
    return SBX_EINVAL;
  if (*s == '\0') {
    /* A bare number is ambiguous, except zero. */
    if (ip != 0 || fp != 0)
      return SBX_EINVAL;
    *out = 0;
    return 0;
  }
  s = skip_blanks(s);
  u = find_unit(duration_units,
                sizeof(duration_units) / sizeof(duration_units[0]), s);
  if (u == NULL || scale_fixed(ip, fp, u->mult, 1, &v) != 0 ||
      v > (uint64_t)INT64_MAX)
    return SBX_EINVAL;
  *out = (int64_t)v;
  return 0;
}

int sbx_parse_size(const char *s, uint64_t *out) {
  uint64_t ip, fp, v;
  const struct unit *u;

  if (s == NULL || scan_fixed(&s, &ip, &fp) != 0)
    return SBX_EINVAL;
  s = skip_blanks(s);
  u = find_unit(size_units, sizeof(size_units) / sizeof(size_units[0]), s);
  if (u == NULL || (u->mult == 1 && fp != 0))
    return SBX_EINVAL;
  if (scale_fixed(ip, fp, u->mult, 0, &v) != 0)
    return SBX_EINVAL;
  *out = v;
  return 0;
}

/* Checks that s starts with a plain decimal number ([sign] digits
 * [. digits] [e [sign] digits]) and returns the pointer past it, or NULL.
 */
static const char *scan_decimal(const char *s, int allow_sign) {
  if (allow_sign && (*s == '-' || *s == '+'))
    s++;
  if (!is_digit(*s))
    return NULL;
  while (is_digit(*s))
    s++;
  if (*s == '.') {
    s++;
    if (!is_digit(*s))
      return NULL;
    while (is_digit(*s))
      s++;
  }
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '-' || *s == '+')
      s++;
    if (!is_digit(*s))
      return NULL;
    while (is_digit(*s))
      s++;
  }
  return s;
}

/* Converts the already-validated decimal s[0..n) to a finite double. */
static int decimal_value(const char *s, size_t n, double *out) {
  char tmp[80];
  double v;

  if (n == 0 || n >= sizeof(tmp))
    return SBX_EINVAL;
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  v = strtod(tmp, NULL);
  if (!isfinite(v))
    return SBX_EINVAL;
  *out = v;
  return 0;
}

int sbx_parse_number(const char *s, double *out) {
  const char *end;

  if (s == NULL || (end = scan_decimal(s, 1)) == NULL || *end != '\0')
    return SBX_EINVAL;
  return decimal_value(s, (size_t)(end - s), out);
}

int sbx_parse_uint64(const char *s, uint64_t max, uint64_t *out) {
  uint64_t v = 0;

  if (s == NULL || !is_digit(*s))
    return SBX_EINVAL;
  for (; *s != '\0'; s++) {
    unsigned d;
    if (!is_digit(*s))
      return SBX_EINVAL;
    d = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - d) / 10)
      return SBX_EINVAL;
    v = v * 10 + d;
  }
  if (v > max)
    return SBX_EINVAL;
  *out = v;
  return 0;
}

int sbx_parse_rate(const char *s, double *out) {
  const char *end;
  double v, mult = 1;

  if (s == NULL || (end = scan_decimal(s, 0)) == NULL)
    return SBX_EINVAL;
  if (decimal_value(s, (size_t)(end - s), &v) != 0)
    return SBX_EINVAL;
  if (*end == 'k') {
    mult = 1e3;
    end++;
  } else if (*end == 'M') {
    mult = 1e6;
    end++;
  }
  if (end[0] == '/' && end[1] == 's')
    end += 2;
  if (*end != '\0')
    return SBX_EINVAL;
  v *= mult;
  if (!isfinite(v))
    return SBX_EINVAL;
  *out = v;
  return 0;
}

int sbx_parse_fraction(const char *s, double *out) {
  const char *end;
  double v;

  if (s == NULL || (end = scan_decimal(s, 0)) == NULL)
    return SBX_EINVAL;
  if (decimal_value(s, (size_t)(end - s), &v) != 0)
    return SBX_EINVAL;
  if (*end == '%') {
    end++;
    v /= 100.0;
  }
  if (*end != '\0' || v < 0 || v > 1)
    return SBX_EINVAL;
  *out = v;
  return 0;
}

void sbx_format_duration_us(int64_t us, char *buf, size_t len) {
  const char *sign = us < 0 ? "-" : "";
  double a = us < 0 ? -(double)us : (double)us;

  if (buf == NULL || len == 0)
    return;
  /* Thresholds are on the value as it will be rounded, so that 9999us
   * prints "10.0ms", not "10.00ms". */
  if (a < 1000)
    snprintf(buf, len, "%s%.0fus", sign, a);
  else if (a < 9995)
    snprintf(buf, len, "%s%.2fms", sign, a / 1e3);
  else if (a < 99950)
    snprintf(buf, len, "%s%.1fms", sign, a / 1e3);
  else if (a < 999500)
    snprintf(buf, len, "%s%.0fms", sign, a / 1e3);
  else if (a < 9995000)
    snprintf(buf, len, "%s%.2fs", sign, a / 1e6);
  else if (a < 99950000)
    snprintf(buf, len, "%s%.1fs", sign, a / 1e6);
  else
    snprintf(buf, len, "%s%.0fs", sign, a / 1e6);
}

void sbx_format_quoted(const char *s, size_t n, char *buf, size_t len) {
  static const char hex[] = "0123456789abcdef";
  const size_t max_shown = 60;
  size_t o = 0, i;

  if (buf == NULL || len == 0)
    return;
    /* Worst case per input byte is 4 output bytes; stop while there is room
     * for the longest escape, the ellipsis, the quote and the NUL. */
#define PUT(c)                                                                 \
  do {                                                                         \
    if (o + 1 < len)                                                           \
      buf[o++] = (c);                                                          \
  } while (0)
  PUT('"');
  for (i = 0; s != NULL && i < n && i < max_shown && o + 9 < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      PUT('\\');
      PUT((char)c);
    } else if (c == '\n') {
      PUT('\\');
      PUT('n');
    } else if (c == '\t') {
      PUT('\\');
      PUT('t');
    } else if (c < 0x20 || c >= 0x7f) {
      PUT('\\');
      PUT('x');
      PUT(hex[c >> 4]);
      PUT(hex[c & 15]);
    } else {
      PUT((char)c);
    }
  }
  if (s != NULL && i < n) {
    PUT('.');
    PUT('.');
    PUT('.');
  }
  PUT('"');
#undef PUT
  buf[o] = '\0';
}

#define SUGGEST_MAX 64

/* Optimal string alignment distance (Levenshtein plus adjacent swaps). */
static size_t edit_distance(const char *a, size_t la, const char *b,
                            size_t lb) {
  size_t d[SUGGEST_MAX + 1][SUGGEST_MAX + 1];

  for (size_t i = 0; i <= la; i++)
    d[i][0] = i;
  for (size_t j = 0; j <= lb; j++)
    d[0][j] = j;
  for (size_t i = 1; i <= la; i++) {
    for (size_t j = 1; j <= lb; j++) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      size_t v = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < v)
        v = d[i][j - 1] + 1;
      if (d[i - 1][j - 1] + cost < v)
        v = d[i - 1][j - 1] + cost;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[i - 2][j - 2] + 1 < v)
        v = d[i - 2][j - 2] + 1;
      d[i][j] = v;
    }
  }
  return d[la][lb];
}

const char *sbx_suggest(const char *word, const char *const *words, size_t n) {
  const char *best = NULL;
  size_t best_d = SIZE_MAX, lw;

  if (word == NULL || words == NULL)
    return NULL;
  lw = strlen(word);
  if (lw == 0 || lw > SUGGEST_MAX)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    size_t lc = strlen(words[i]), dist;
    if (lc > SUGGEST_MAX)
      continue;
    dist = edit_distance(word, lw, words[i], lc);
    /* Close enough to be a slip of the finger, not another word. */
    if (dist <= 2 && dist * 3 <= lc && dist < best_d) {
      best = words[i];
      best_d = dist;
    }
  }
  return best;
}
