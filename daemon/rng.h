/* rng.h - the project's one deterministic pseudo-random generator.
 *
 * xoshiro256** seeded through splitmix64, with independent streams per
 * purpose: the same seed gives the same bytes on every machine and
 * compiler (no floating point, no libc rand()). The load engine draws case
 * orders and Poisson arrivals from it; the scenario generators draw their
 * datasets from it, so a committed dataset is reproducible from its seed.
 */
#ifndef SBX_RNG_H
#define SBX_RNG_H

#include <stdint.h>

struct sbx_rng {
  uint64_t s[4];
};

/* Advances *x and returns the next splitmix64 output. */
uint64_t sbx_splitmix64(uint64_t *x);

/* Seeds r for (seed, stream): different streams of one seed are
 * independent, so adding draws to one never changes another. */
void sbx_rng_seed(struct sbx_rng *r, uint64_t seed, uint64_t stream);

/* The next 64 random bits. */
uint64_t sbx_rng_next(struct sbx_rng *r);

/* Uniform in [0, n) without modulo bias; n must be > 0. */
uint64_t sbx_rng_below(struct sbx_rng *r, uint64_t n);

#endif
