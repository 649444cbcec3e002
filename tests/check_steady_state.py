"""Tests for bench/steady_state.py on a synthetic slow start, as tests/test_bench_steady.c
tests its C twin: a fake step of 3 ms that drops to 1 ms; the timer must not start before the
drop. Run by tests/test_bench_steady_py.sh."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import steady_state  # noqa: E402

SLOW, FAST = 3e-3, 1e-3


class FakeStep:
    def __init__(self, slow_steps, jitter=0.0):
        self.steps_run, self.slow_steps, self.jitter = 0, slow_steps, jitter

    def __call__(self, steps):
        seconds = 0.0
        for _ in range(steps):
            seconds += SLOW if self.steps_run < self.slow_steps else FAST
            self.steps_run += 1
        sign = 1.0 if (self.steps_run // steps) % 2 else -1.0
        return seconds * (1.0 + sign * self.jitter)


class SteadyStateTest(unittest.TestCase):
    options = steady_state.SteadyOptions(min_seconds=0.5)

    def test_defaults_are_the_issues(self):
        o = steady_state.SteadyOptions()
        self.assertEqual((o.window_steps, o.min_warmup_steps, o.tolerance, o.min_seconds),
                         (50, 200, 0.03, 5.0))

    def test_timer_starts_after_the_drop(self):
        for drop in (150, 160, 175, 190):
            step = FakeStep(drop)
            steps, steady = steady_state.warm_up(self.options, step)
            self.assertTrue(steady)
            self.assertGreaterEqual(steps, drop + self.options.window_steps, "drop at %d" % drop)
            timed, seconds = steady_state.time_windows(self.options, step)
            self.assertGreaterEqual(seconds, self.options.min_seconds)
            self.assertAlmostEqual(seconds / timed, FAST, places=12)

    def test_no_slow_start_takes_the_minimum(self):
        self.assertEqual(steady_state.warm_up(self.options, FakeStep(0)), (200, True))

    def test_noise(self):
        steps, steady = steady_state.warm_up(self.options, FakeStep(0, jitter=0.05))
        self.assertEqual((steps, steady), (self.options.max_warmup_steps, False))
        self.assertEqual(steady_state.warm_up(self.options, FakeStep(0, jitter=0.01)),
                         (200, True))


if __name__ == "__main__":
    unittest.main()
