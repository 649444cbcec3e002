/* Explicit, seedable random numbers: xoshiro256** seeded through splitmix64. Every run owns
 * its generators; nothing here is global. */
#ifndef BNTRAIN_RNG_H
#define BNTRAIN_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} bn_rng;

/* splitmix64 step: also used to derive independent seeds from (seed, stream) pairs. */
uint64_t rng_mix(uint64_t x);
void rng_seed(bn_rng *rng, uint64_t seed);
uint64_t rng_next(bn_rng *rng);
/* Uniform double in [0, 1) with 53 random bits. */
double rng_uniform(bn_rng *rng);
/* Standard normal (Box-Muller, both draws computed, one kept: simple and reproducible). */
double rng_normal(bn_rng *rng);
/* Uniform integer in [0, n), unbiased (rejection). */
size_t rng_below(bn_rng *rng, size_t n);
/* Fisher-Yates shuffle of an index array. */
void rng_shuffle(bn_rng *rng, size_t *items, size_t n);

#endif
