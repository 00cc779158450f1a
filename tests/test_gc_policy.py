"""The garbage-collection policy: long-lived objects are frozen out of full collections,
cyclic garbage among them is still collected now and then, and the process gets
CPython's own policy back when the app stops."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from voltlab.gc_policy import GcPolicy, gc_policy


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def _cycles(n: int) -> list[Node]:
    nodes = []
    for _ in range(n):
        a, b = Node(), Node()
        a.other, b.other = b, a
        nodes.append(a)
    return nodes


def test_freeze_moves_what_survives_out_of_the_collections() -> None:
    policy = GcPolicy()
    keep = _cycles(1_000)
    policy.freeze()
    assert gc.get_freeze_count() >= 2_000
    # A full collection no longer walks them: it only sees what came after.
    assert not any(n in gc.get_objects(generation=2) for n in keep[:10])
    assert len(gc.get_objects(generation=2)) < gc.get_freeze_count()


def test_the_full_collection_waits_for_its_interval_and_for_growth() -> None:
    policy = GcPolicy(full_every_s=0.0, full_growth=1.25)
    policy.freeze()
    assert policy.maybe_full() is None  # nothing grew since the policy started

    pairs = gc.get_freeze_count() // 2  # the frozen set at least doubles
    garbage = _cycles(pairs)
    policy.freeze()
    del garbage  # cyclic garbage, frozen: only a full collection over everything frees it
    collected = policy.maybe_full()
    assert collected is not None and collected >= 2 * pairs
    assert policy.maybe_full() is None


def test_the_interval_bounds_how_often_a_full_collection_runs() -> None:
    policy = GcPolicy(full_every_s=3600.0)
    _ = _cycles(20_000)
    policy.freeze()
    assert policy.maybe_full() is None


async def test_the_context_takes_over_full_collections_and_gives_them_back() -> None:
    thresholds = gc.get_threshold()
    async with gc_policy():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[2] > 1_000_000  # no automatic full collection
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds
