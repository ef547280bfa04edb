/* rng.c - xoshiro256** with splitmix64 seeding. See rng.h. */
#include "rng.h"

uint64_t sbx_splitmix64(uint64_t *x) {
  uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

void sbx_rng_seed(struct sbx_rng *r, uint64_t seed, uint64_t stream) {
  uint64_t x = seed;
  uint64_t k = sbx_splitmix64(&x);
  x = k ^ (stream * UINT64_C(0xD1B54A32D192ED03));
  for (int i = 0; i < 4; i++)
    r->s[i] = sbx_splitmix64(&x);
}

static uint64_t rotl(uint64_t v, int k) {
  return (v << k) | (v >> (64 - k));
}

uint64_t sbx_rng_next(struct sbx_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

uint64_t sbx_rng_below(struct sbx_rng *r, uint64_t n) {
  /* Drop the low outputs that would make some residues more likely. */
  uint64_t threshold = (0 - n) % n;
  for (;;) {
    uint64_t v = sbx_rng_next(r);
    if (v >= threshold)
      return v % n;
  }
}
