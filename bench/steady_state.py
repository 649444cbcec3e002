"""Steady-state timing for bench/pytorch_bench.py, the rule of bench/steady_state.h.

Run windows of `window_steps` steps; warm-up ends when two consecutive windows' times agree
within `tolerance` (relative to the later one) and at least `min_warmup_steps` have run, or
gives up after `max_warmup_steps` (steady False, to be reported). Then whole windows are timed
until at least `min_seconds` have passed. PyTorch 1.13 ran its first ~150 training steps here
at a third of its later speed, so a fixed short warm-up flattered the other side.

`run(steps)` runs the code under test and returns the seconds it took. Warm-up and timing are
two calls, so that concurrent processes can wait for each other in between.
"""

from dataclasses import dataclass


@dataclass
class SteadyOptions:
    window_steps: int = 50
    min_warmup_steps: int = 200
    max_warmup_steps: int = 1000
    tolerance: float = 0.03
    min_seconds: float = 5.0


def warm_up(options, run):
    """Returns (warm-up steps run, steady)."""
    previous, steps, steady = None, 0, False
    while steps < options.max_warmup_steps:
        seconds = run(options.window_steps)
        steps += options.window_steps
        steady = previous is not None and abs(seconds - previous) <= options.tolerance * seconds
        if steady and steps >= options.min_warmup_steps:
            return steps, True
        previous = seconds
    return steps, False


def time_windows(options, run):
    """Returns (timed steps, their seconds): whole windows until min_seconds have passed."""
    steps, total = 0, 0.0
    while True:
        total += run(options.window_steps)
        steps += options.window_steps
        if total >= options.min_seconds:
            return steps, total
