"""The reconnect policy: exponential, capped, jittered."""

from __future__ import annotations

import random
import statistics

import pytest

from voltlab.simulator.backoff import Backoff


class FixedRandom(random.Random):
    """A generator whose ``random()`` always returns ``value``."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize("attempt", range(8))
def test_each_delay_lies_between_half_the_ceiling_and_the_ceiling(attempt: int):
    backoff = Backoff(initial_s=1.0, maximum_s=60.0, factor=2.0)
    ceiling = min(60.0, 2.0**attempt)
    assert backoff.delay(attempt, FixedRandom(0.0)) == pytest.approx(ceiling / 2)
    assert backoff.delay(attempt, FixedRandom(0.999999)) == pytest.approx(ceiling, rel=1e-5)
    rng = random.Random(attempt)
    for _ in range(200):
        assert ceiling / 2 <= backoff.delay(attempt, rng) <= ceiling


def test_the_ceiling_doubles_per_attempt_until_the_cap():
    backoff = Backoff(initial_s=0.5, maximum_s=10.0)
    tops = [backoff.delay(n, FixedRandom(0.999999)) for n in range(8)]
    assert tops[:5] == pytest.approx([0.5, 1.0, 2.0, 4.0, 8.0], rel=1e-5)
    assert tops[5:] == pytest.approx([10.0, 10.0, 10.0], rel=1e-5)


@pytest.mark.parametrize("attempt", [10, 32, 33, 1_000, 10**9])
def test_late_attempts_stay_at_the_cap_without_overflow(attempt: int):
    backoff = Backoff(initial_s=1.0, maximum_s=60.0)
    assert 30.0 <= backoff.delay(attempt, random.Random(attempt)) <= 60.0


def test_a_cap_below_the_initial_delay_wins():
    backoff = Backoff(initial_s=5.0, maximum_s=2.0)
    assert 1.0 <= backoff.delay(0) <= 2.0


def test_jitter_spreads_a_fleet_over_the_whole_window():
    backoff = Backoff(initial_s=1.0, maximum_s=60.0)
    rng = random.Random(42)
    delays = [backoff.delay(4, rng) for _ in range(2_000)]  # ceiling 16 s
    assert min(delays) < 8.2
    assert max(delays) > 15.8
    assert len({round(d, 6) for d in delays}) > 1_900
    # Uniform over [8, 16]: mean 12, standard deviation 8 / sqrt(12) ~ 2.31.
    assert statistics.fmean(delays) == pytest.approx(12.0, abs=0.3)
    assert statistics.pstdev(delays) == pytest.approx(2.31, abs=0.2)


def test_without_a_generator_the_module_random_is_used():
    backoff = Backoff(initial_s=1.0, maximum_s=60.0)
    delays = {backoff.delay(3) for _ in range(50)}
    assert len(delays) > 1
    assert all(4.0 <= d <= 8.0 for d in delays)
