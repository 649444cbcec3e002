/* Tests for the random numbers (bntrain/rng.h): splitmix64 and xoshiro256** against the
 * published reference values, the seeding chain of rng_seed, and the derived draws (uniform,
 * below n, shuffle, normal) by their ranges and, loosely, their distributions. Every grid cell's
 * result depends on these bits, so a change here must show. */
#include "bntrain/rng.h"
#include "check.h"

#include <string.h>

#define DRAWS 100000

/* splitmix64 from state 0 gives 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f
 * (Vigna's splitmix64.c); rng_mix(x) is the step from state x, which first adds the constant. */
static void test_splitmix64(void) {
    const uint64_t gamma = 0x9e3779b97f4a7c15ULL;
    CHECK(rng_mix(0) == 0xe220a8397b1dcdafULL);
    CHECK(rng_mix(gamma) == 0x6e789e6aa1b965f4ULL);
    CHECK(rng_mix(2 * gamma) == 0x06c45d188009454fULL);
}

/* xoshiro256** from the state {1, 2, 3, 4}, as the reference xoshiro256starstar.c computes. */
static void test_xoshiro256(void) {
    const uint64_t expected[6] = {11520ULL,
                                  0ULL,
                                  1509978240ULL,
                                  1215971899390074240ULL,
                                  1216172134540287360ULL,
                                  607988272756665600ULL};
    bn_rng rng = {{1, 2, 3, 4}};
    for (size_t i = 0; i < 6; i++) {
        uint64_t got = rng_next(&rng);
        CHECK_MSG(got == expected[i], "output %zu: %llu, expected %llu", i, (unsigned long long)got,
                  (unsigned long long)expected[i]);
    }
}

/* rng_seed chains splitmix64 through its own outputs: s[0] = mix(seed), s[i] = mix(s[i-1]).
 * The values pin down the seeding, on which every saved run's seed relies. */
static void test_seed(void) {
    bn_rng rng, again;
    rng_seed(&rng, 42);
    CHECK(rng.s[0] == 0xbdd732262feb6e95ULL && rng.s[1] == 0x57e1faba65107204ULL);
    CHECK(rng.s[2] == 0x6310bf04d8207f46ULL && rng.s[3] == 0xc16129ecd0dc5b93ULL);
    CHECK(rng_next(&rng) == 0x5c8961e1f2055d33ULL);
    CHECK(rng_next(&rng) == 0xe182e8e848466886ULL);
    rng_seed(&rng, 42);
    rng_seed(&again, 42);
    CHECK(memcmp(&rng, &again, sizeof rng) == 0);
    rng_seed(&again, 43);
    CHECK(rng_next(&rng) != rng_next(&again));
}

static void test_uniform(void) {
    /* the top 53 bits of 11520 are 5: the first draw from {1, 2, 3, 4} is 5 / 2^53 */
    bn_rng rng = {{1, 2, 3, 4}};
    CHECK(rng_uniform(&rng) == 5.0 * 0x1.0p-53);
    rng_seed(&rng, 7);
    size_t outside = 0, below_half = 0;
    double sum = 0.0;
    for (size_t i = 0; i < DRAWS; i++) {
        double u = rng_uniform(&rng);
        outside += !(u >= 0.0 && u < 1.0);
        below_half += u < 0.5;
        sum += u;
    }
    CHECK_MSG(outside == 0, "%zu draws outside [0, 1)", outside);
    CHECK_CLOSE(sum / DRAWS, 0.5, 0.01);
    CHECK_CLOSE((double)below_half / DRAWS, 0.5, 0.01);
}

/* For n = 2^64 * 2/3, x % n without the rejection would give the lower half of [0, n) twice
 * as often as the upper half (2/3 of the draws instead of 1/2). */
static void test_below(void) {
    bn_rng rng;
    rng_seed(&rng, 11);
    const size_t sizes[] = {1, 2, 3, 7, 1000, (size_t)1 << 40, SIZE_MAX / 2 + 2, SIZE_MAX};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k], too_big = 0;
        for (size_t i = 0; i < DRAWS / 10; i++)
            too_big += rng_below(&rng, n) >= n;
        CHECK_MSG(too_big == 0, "n %zu: %zu draws >= n", n, too_big);
    }

    const size_t skewed = (size_t)0xaaaaaaaaaaaaaaabULL;
    size_t lower_half = 0;
    for (size_t i = 0; i < DRAWS; i++)
        lower_half += rng_below(&rng, skewed) < skewed / 2;
    CHECK_CLOSE((double)lower_half / DRAWS, 0.5, 0.01);

    size_t counts[6] = {0};
    for (size_t i = 0; i < 6 * 10000; i++)
        counts[rng_below(&rng, 6)]++;
    for (size_t v = 0; v < 6; v++)
        CHECK_MSG(counts[v] > 9500 && counts[v] < 10500, "value %zu drawn %zu of 60000 times", v,
                  counts[v]);
}

static int is_permutation(const size_t *items, size_t n) {
    char seen[100] = {0};
    for (size_t i = 0; i < n; i++) {
        if (items[i] >= n || seen[items[i]]) return 0;
        seen[items[i]] = 1;
    }
    return 1;
}

static void shuffled(uint64_t seed, size_t *items, size_t n) {
    bn_rng rng;
    rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        items[i] = i;
    rng_shuffle(&rng, items, n);
}

static void test_shuffle(void) {
    size_t a[100], b[100], c[100];
    shuffled(5, a, 100);
    shuffled(5, b, 100);
    shuffled(6, c, 100);
    CHECK(is_permutation(a, 100));
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    bn_rng rng;
    rng_seed(&rng, 5);
    rng_shuffle(&rng, a, 0);
    rng_shuffle(&rng, a, 1);

    /* all 6 orders of 3 items, about equally often */
    size_t counts[6] = {0}, broken = 0;
    rng_seed(&rng, 9);
    for (size_t i = 0; i < 60000; i++) {
        size_t items[3] = {0, 1, 2};
        rng_shuffle(&rng, items, 3);
        broken += !is_permutation(items, 3);
        counts[items[0] * 2 + (items[1] > items[2])]++;
    }
    CHECK(broken == 0);
    for (size_t k = 0; k < 6; k++)
        CHECK_MSG(counts[k] > 9500 && counts[k] < 10500, "order %zu: %zu of 60000", k, counts[k]);
}

/* Mean 0, variance 1, and 5% beyond 1.96, within bounds some ten standard errors wide. */
static void test_normal(void) {
    bn_rng rng;
    rng_seed(&rng, 3);
    double sum = 0.0, squares = 0.0;
    size_t not_finite = 0, tails = 0;
    for (size_t i = 0; i < DRAWS; i++) {
        double x = rng_normal(&rng);
        not_finite += !isfinite(x);
        tails += fabs(x) > 1.959964;
        sum += x;
        squares += x * x;
    }
    double mean = sum / DRAWS, variance = squares / DRAWS - mean * mean;
    CHECK(not_finite == 0);
    CHECK_MSG(fabs(mean) < 0.03, "mean %g", mean);
    CHECK_MSG(fabs(variance - 1.0) < 0.05, "variance %g", variance);
    CHECK_MSG(fabs((double)tails / DRAWS - 0.05) < 0.007, "%zu of %d beyond 1.96", tails, DRAWS);
}

int main(void) {
    test_splitmix64();
    test_xoshiro256();
    test_seed();
    test_uniform();
    test_below();
    test_shuffle();
    test_normal();
    return check_summary("test_rng");
}
