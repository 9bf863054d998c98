"""A deduplicating asyncio queue of object keys with a priority gate (the status lane of the operator).

Like client-go's workqueue: a key added while it already waits is not queued twice (ten events of one Job
cost one status sync), and a key added while it is being processed is handed out again after `done(key)`,
never to two consumers at once.

The gate: while `busy()` is true (children are being created), a key is handed out only once it has waited
`max_hold_s`. Status writes and Events then yield to the creation of Jobs under a burst of new GRPOJobs, and
still happen within `max_hold_s` under a steady stream. Call `wake()` when `busy()` may have turned false.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Hashable


class KeyQueue:
    def __init__(self, *, busy: Callable[[], bool] = lambda: False, max_hold_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.busy, self.max_hold_s, self.clock = busy, max_hold_s, clock
        self._waiting: dict[Hashable, float] = {}  # key -> when it was added (insertion order = age order)
        self._processing: set[Hashable] = set()
        self._again: set[Hashable] = set()  # added while being processed
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._waiting) + len(self._again)

    def add(self, key: Hashable) -> None:
        if key in self._processing:
            self._again.add(key)
            return
        if key not in self._waiting:
            self._waiting[key] = self.clock()
            self._changed.set()

    def discard(self, key: Hashable) -> None:
        """Forget a key that waits (e.g. its object was deleted); one being processed finishes normally."""
        self._waiting.pop(key, None)
        self._again.discard(key)

    def wake(self) -> None:
        self._changed.set()

    def done(self, key: Hashable) -> None:
        self._processing.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.add(key)

    def ready(self) -> tuple[Hashable | None, float | None]:
        """The key to hand out now, or (None, seconds until the oldest key may go; None: nothing waits)."""
        if not self._waiting:
            return None, None
        key, since = next(iter(self._waiting.items()))
        hold = since + self.max_hold_s - self.clock() if self.busy() else 0.0
        if hold > 0:
            return None, hold
        del self._waiting[key]
        self._processing.add(key)
        return key, None

    async def get(self) -> Hashable:
        while True:
            key, wait = self.ready()
            if key is not None:
                return key
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait)
