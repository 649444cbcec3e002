/* Steady-state timing: warm up until two windows agree, then time at least min_seconds
 * (steady_state.h). */
#include "steady_state.h"

#include <math.h>

void steady_defaults(steady_options *o) {
    o->window_steps = 50;
    o->min_warmup_steps = 200;
    o->max_warmup_steps = 1000;
    o->tolerance = 0.03;
    o->min_seconds = 5.0;
}

static int windows_agree(double earlier, double later, double tolerance) {
    return fabs(later - earlier) <= tolerance * later;
}

int steady_warm_up(const steady_options *o, steady_run_fn run, void *ctx, steady_result *r) {
    double previous = -1.0;
    r->warmup_steps = 0;
    r->steady = 0;
    while (r->warmup_steps < o->max_warmup_steps) {
        double seconds = run(ctx, o->window_steps);
        if (seconds < 0.0) return -1;
        r->warmup_steps += o->window_steps;
        r->steady = previous >= 0.0 && windows_agree(previous, seconds, o->tolerance);
        if (r->steady && r->warmup_steps >= o->min_warmup_steps) return 0;
        previous = seconds;
    }
    r->steady = 0; /* the last pair may have agreed before min_warmup_steps: not enough */
    return 0;
}

int steady_time(const steady_options *o, steady_run_fn run, void *ctx, steady_result *r) {
    r->timed_steps = 0;
    r->timed_seconds = 0.0;
    do {
        double seconds = run(ctx, o->window_steps);
        if (seconds < 0.0) return -1;
        r->timed_steps += o->window_steps;
        r->timed_seconds += seconds;
    } while (r->timed_seconds < o->min_seconds);
    return 0;
}
