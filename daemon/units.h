/* units.h - the quantities people write in specs and on the command line.
 *
 * Durations ("250us", "20ms", "1.5s", "1m"), sizes ("4MiB", "512kB"),
 * rates ("1000/s", "2.5k/s") and fractions ("0.001", "0.1%") are parsed
 * here, once, so that a spec file and a CLI flag accept exactly the same
 * spellings. The parsers are strict: the whole string must be consumed, no
 * leading or trailing blanks, no locale tricks, no "inf"/"nan"/hex floats.
 * Each returns 0 or SBX_EINVAL and never touches *out on error.
 *
 * A few helpers used to word error messages live here too: the closest
 * known word for a misspelling ("did you mean") and a safe, quoted,
 * truncated rendering of untrusted text.
 */
#ifndef SBX_UNITS_H
#define SBX_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Parses a duration into microseconds. A decimal number followed by one of
 * the units us (also µs), ms, s, m, h, optionally separated by blanks:
 * "250us", "20ms", "2s", "1.5s", "1m", "1h". "0" alone is accepted. The
 * result is rounded to the nearest microsecond and must fit in int64.
 * Returns 0 or SBX_EINVAL (no unit, negative, garbage, overflow). */
int sbx_parse_duration_us(const char *s, int64_t *out);

/* Parses a byte count: an integer, or a decimal number followed by one of
 * B, kB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024), e.g.
 * "65536", "4MiB", "1.5GiB". Fractions of a byte are dropped. Returns 0 or
 * SBX_EINVAL. */
int sbx_parse_size(const char *s, uint64_t *out);

/* Parses a rate in events per second: a non-negative decimal number with
 * an optional k (x1000) or M (x1000000) multiplier and an optional "/s":
 * "1000", "1000/s", "2.5k/s". Returns 0 or SBX_EINVAL. */
int sbx_parse_rate(const char *s, double *out);

/* Parses a fraction in [0, 1]: "0.001", or a percentage in [0%, 100%]:
 * "0.1%" (stored as 0.001). Returns 0 or SBX_EINVAL, also when the value
 * is out of range. */
int sbx_parse_fraction(const char *s, double *out);

/* Parses a finite decimal number with an optional sign and exponent:
 * "3", "-0.5", "1e-3". Returns 0 or SBX_EINVAL. */
int sbx_parse_number(const char *s, double *out);

/* Parses an unsigned decimal integer made of digits only, at most max.
 * Returns 0 or SBX_EINVAL (empty, sign, blanks, over max). */
int sbx_parse_uint64(const char *s, uint64_t max, uint64_t *out);

/* Writes us as a short human duration with three significant digits:
 * "842us", "12.3ms", "1.20s", "95.0s"; large values as whole seconds.
 * buf always ends up NUL-terminated (truncated if len is too small). */
void sbx_format_duration_us(int64_t us, char *buf, size_t len);

/* Writes s[0..n) into buf between double quotes, escaping quotes,
 * backslashes and bytes outside printable ASCII (\n, \t, \xNN), and
 * cutting it short with "..." after about 60 characters, so untrusted text
 * can go into a one-line message. buf always ends up NUL-terminated. */
void sbx_format_quoted(const char *s, size_t n, char *buf, size_t len);

/* Returns the entry of words[0..n) closest to word (edit distance,
 * adjacent swaps count as one edit) if it is close enough to be a likely
 * misspelling, else NULL. The returned pointer is words[i]. */
const char *sbx_suggest(const char *word, const char *const *words, size_t n);

#endif
