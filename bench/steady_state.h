/* Steady-state timing for the benchmarks (issue 24): a measurement starts only once the code
 * under test runs at a steady speed. PyTorch 1.13 ran its first ~150 training steps here at a
 * third of its later speed, so a fixed short warm-up flatters whichever side warms up slower.
 *
 * The rule, the same in bench/steady_state.py: run windows of window_steps steps; warm-up ends
 * when two consecutive windows' times agree within `tolerance` (relative to the later one) and
 * at least min_warmup_steps have run, or gives up after max_warmup_steps (steady = 0, to be
 * reported). Then windows are timed until at least min_seconds have passed.
 *
 * The steps themselves are the caller's: a function that runs `steps` steps and returns their
 * wall-clock seconds (negative if they failed). Warm-up and timing are two calls, so that
 * concurrent runs can wait for each other in between. */
#ifndef BNTRAIN_BENCH_STEADY_STATE_H
#define BNTRAIN_BENCH_STEADY_STATE_H

#include <stddef.h>

typedef struct {
    size_t window_steps;     /* steps per window (default 50) */
    size_t min_warmup_steps; /* warm-up runs at least this many steps (default 200) */
    size_t max_warmup_steps; /* and gives up waiting after this many (default 1000) */
    double tolerance;        /* two windows agree if they differ by at most this (0.03) */
    double min_seconds;      /* the timed windows last at least this long (default 5 s) */
} steady_options;

typedef struct {
    size_t warmup_steps; /* untimed steps run */
    int steady;          /* 1 if warm-up ended with two agreeing windows */
    size_t timed_steps;
    double timed_seconds;
} steady_result;

/* Runs `steps` steps of the code under test; returns their seconds, or < 0 on failure. */
typedef double (*steady_run_fn)(void *ctx, size_t steps);

void steady_defaults(steady_options *o);

/* Warms up by the rule above; fills r's warm-up fields. Returns -1 if a window failed. */
int steady_warm_up(const steady_options *o, steady_run_fn run, void *ctx, steady_result *r);

/* Times whole windows until min_seconds have passed; fills r's timed fields. -1 on failure. */
int steady_time(const steady_options *o, steady_run_fn run, void *ctx, steady_result *r);

#endif
