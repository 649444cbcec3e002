/* Tests for the benchmarks' steady-state timing (bench/steady_state.h) on a synthetic slow
 * start: a fake step that takes 3 ms for its first steps and 1 ms after, as PyTorch 1.13's
 * first ~150 steps ran at a third of its later speed. The timer must not start before the
 * drop, and the timed rate must be the fast one. No sleeping: the fake step returns the
 * seconds it would have taken. */
#include "check.h"
#include "steady_state.h"

#define SLOW_SECONDS 3e-3
#define FAST_SECONDS 1e-3

typedef struct {
    size_t steps_run, slow_steps; /* steps before the drop */
    size_t fail_at;               /* a window starting at or after this step fails (0: never) */
    double jitter;                /* relative alternating noise per window */
} fake_step;

static double fake_run(void *ctx, size_t steps) {
    fake_step *f = ctx;
    if (f->fail_at && f->steps_run >= f->fail_at) return -1.0;
    double seconds = 0.0;
    for (size_t i = 0; i < steps; i++, f->steps_run++)
        seconds += f->steps_run < f->slow_steps ? SLOW_SECONDS : FAST_SECONDS;
    double sign = (f->steps_run / steps) % 2 ? 1.0 : -1.0;
    return seconds * (1.0 + sign * f->jitter);
}

static steady_options quick_options(void) {
    steady_options o;
    steady_defaults(&o);
    o.min_seconds = 0.5; /* 500 fake fast steps */
    return o;
}

/* The brief's case: the drop after 150 steps, inside the 200-step minimum warm-up. */
static void test_drop_after_150(void) {
    steady_options o = quick_options();
    fake_step f = {.slow_steps = 150};
    steady_result r;
    CHECK(steady_warm_up(&o, fake_run, &f, &r) == 0);
    CHECK(r.steady == 1);
    CHECK_MSG(r.warmup_steps >= 150 + 2 * o.window_steps, "timer started after %zu steps",
              r.warmup_steps);
    CHECK(steady_time(&o, fake_run, &f, &r) == 0);
    CHECK(r.timed_seconds >= o.min_seconds);
    CHECK_CLOSE(r.timed_seconds / (double)r.timed_steps, FAST_SECONDS, 1e-9);
}

/* Drops in the middle of a window and just before the minimum warm-up ends: two fast windows
 * in a row are still needed after it. (A drop after the minimum warm-up, when the slow windows
 * already agreed, cannot be foreseen by any rule: the minimum exists to outlast it.) */
static void test_mid_window_drops(void) {
    steady_options o = quick_options();
    size_t drops[] = {160, 175, 190};
    for (size_t i = 0; i < sizeof drops / sizeof *drops; i++) {
        fake_step f = {.slow_steps = drops[i]};
        steady_result r;
        CHECK(steady_warm_up(&o, fake_run, &f, &r) == 0);
        CHECK(r.steady == 1);
        CHECK_MSG(r.warmup_steps >= drops[i] + o.window_steps, "drop at %zu: started at %zu",
                  drops[i], r.warmup_steps);
        CHECK(steady_time(&o, fake_run, &f, &r) == 0);
        CHECK_CLOSE(r.timed_seconds / (double)r.timed_steps, FAST_SECONDS, 1e-9);
    }
}

/* No slow start: warm-up is exactly the minimum; the defaults are the issue's. */
static void test_defaults_and_minimum(void) {
    steady_options o;
    steady_defaults(&o);
    CHECK(o.window_steps == 50 && o.min_warmup_steps == 200 && o.tolerance == 0.03);
    CHECK(o.min_seconds == 5.0);
    fake_step f = {0};
    steady_result r;
    CHECK(steady_warm_up(&o, fake_run, &f, &r) == 0);
    CHECK(r.steady == 1 && r.warmup_steps == 200);
}

/* Windows that never agree (10 % noise): warm-up gives up at the maximum and says so;
 * 2 % noise is within tolerance. */
static void test_noise(void) {
    steady_options o = quick_options();
    fake_step noisy = {.jitter = 0.05};
    steady_result r;
    CHECK(steady_warm_up(&o, fake_run, &noisy, &r) == 0);
    CHECK(r.steady == 0 && r.warmup_steps == o.max_warmup_steps);
    fake_step calm = {.jitter = 0.01};
    CHECK(steady_warm_up(&o, fake_run, &calm, &r) == 0);
    CHECK(r.steady == 1 && r.warmup_steps == 200);
}

/* A failing step is reported, in warm-up and in timing. */
static void test_failure(void) {
    steady_options o = quick_options();
    fake_step f = {.fail_at = 100};
    steady_result r;
    CHECK(steady_warm_up(&o, fake_run, &f, &r) == -1);
    fake_step g = {.fail_at = 300};
    CHECK(steady_warm_up(&o, fake_run, &g, &r) == 0);
    CHECK(steady_time(&o, fake_run, &g, &r) == -1);
}

int main(void) {
    test_drop_after_150();
    test_mid_window_drops();
    test_defaults_and_minimum();
    test_noise();
    test_failure();
    return check_summary("test_bench_steady");
}
