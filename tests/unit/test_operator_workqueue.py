"""The status lane's deduplicating key queue (grpo_operator.workqueue), driven on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from grpo_operator.workqueue import KeyQueue


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_waiting_key_is_queued_once_in_age_order():
    q = KeyQueue()
    for key in ("a", "b", "a", "c", "b"):
        q.add(key)
    assert len(q) == 3
    out = [q.ready()[0] for _ in range(3)]
    assert out == ["a", "b", "c"]
    assert q.ready() == (None, None)


def test_a_key_added_while_processing_comes_back_only_after_done():
    q = KeyQueue()
    q.add("a")
    key, _ = q.ready()
    assert key == "a"
    q.add("a")  # e.g. a pod event while its status is being written
    q.add("a")
    assert q.ready() == (None, None), "never handed to a second consumer while being processed"
    q.done("a")
    assert q.ready()[0] == "a"
    q.done("a")
    assert q.ready() == (None, None), "the two adds during processing collapse into one"


def test_busy_holds_keys_up_to_max_hold():
    clock, busy = Clock(), [True]
    q = KeyQueue(busy=lambda: busy[0], max_hold_s=1.0, clock=clock)
    q.add("a")
    clock.t += 0.25
    q.add("b")
    assert q.ready() == (None, pytest.approx(0.75)), "held while the reconcile lane is busy"
    clock.t += 0.75
    assert q.ready()[0] == "a", "the oldest key goes once it waited max_hold_s"
    assert q.ready() == (None, pytest.approx(0.25))
    busy[0] = False
    assert q.ready()[0] == "b", "everything goes once the reconcile lane is idle"


def test_discard_forgets_waiting_and_pending_keys():
    q = KeyQueue()
    q.add("gone")
    q.add("kept")
    q.discard("gone")
    key, _ = q.ready()
    assert key == "kept"
    q.add("kept")
    q.discard("kept")
    q.done("kept")
    assert q.ready() == (None, None)


def test_get_wakes_on_add_and_on_wake():
    async def scenario() -> list[str]:
        busy = [True]
        q = KeyQueue(busy=lambda: busy[0], max_hold_s=30.0)
        got: list[str] = []

        async def consume() -> None:
            while True:
                key = await q.get()
                got.append(key)
                q.done(key)

        task = asyncio.create_task(consume())
        q.add("x")
        await asyncio.sleep(0.05)
        assert got == [], "held: the reconcile lane is busy"
        busy[0] = False
        q.wake()
        await asyncio.sleep(0.05)
        q.add("y")
        await asyncio.sleep(0.05)
        task.cancel()
        return got

    assert asyncio.run(scenario()) == ["x", "y"]
