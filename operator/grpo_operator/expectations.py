"""Workload changes this operator made that the watch has not shown yet (as KubeRay's `expectations` package).

The reconcile reads the GRPOJob's workloads from the watch index, which lags behind the operator's own writes:
right after creating a Job the index does not list it yet, and right after deleting one (spec.suspend) it still
lists the old one. Per GRPOJob this module remembers

- the workload it created, until the watch shows that uid (alive or gone), and
- the uids it deleted, until the watch shows each of them gone,

and `overlay` lays them over the index's list. Once the watch caught up the GRPOJob's expectations are
satisfied and the index alone is the truth.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any


def _uid(obj: dict[str, Any]) -> str | None:
    return obj["metadata"].get("uid")


@dataclass
class _Pending:
    created: dict[str, Any] | None = None
    deleted_uids: set[str | None] = field(default_factory=set)

    def empty(self) -> bool:
        return self.created is None and not self.deleted_uids


class Expectations:
    """expect_created / expect_deleted, observed (from the watch), is_satisfied, overlay, delete; per key."""

    def __init__(self) -> None:
        self._pending: dict[Hashable, _Pending] = {}

    def expect_created(self, key: Hashable, workload: dict[str, Any]) -> None:
        """This operator created `workload` (as the API returned it)."""
        self._pending.setdefault(key, _Pending()).created = workload

    def expect_deleted(self, key: Hashable, workloads: Iterable[dict[str, Any]]) -> None:
        """This operator deleted these workloads; a created one among them is no longer expected to exist."""
        uids = {_uid(w) for w in workloads}
        if not uids:
            return
        pending = self._pending.setdefault(key, _Pending())
        pending.deleted_uids |= uids
        if pending.created is not None and _uid(pending.created) in uids:
            pending.created = None  # e.g. suspended: a resume must not see it as still there

    def observed(self, key: Hashable, uid: str | None, *, gone: bool) -> None:
        """The watch showed a workload of this GRPOJob (`gone`: deleted or being deleted)."""
        pending = self._pending.get(key)
        if pending is None:
            return
        if pending.created is not None and _uid(pending.created) == uid:
            pending.created = None  # the index lists it now (alive), or it must not come back (gone)
        if gone:
            pending.deleted_uids.discard(uid)
        if pending.empty():
            del self._pending[key]

    def is_satisfied(self, key: Hashable) -> bool:
        """Whether the watch has shown every change expected for this key (the index alone is the truth)."""
        return key not in self._pending

    def overlay(self, key: Hashable, workloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The index's workloads without the deleted ones, plus the created one it does not list yet."""
        pending = self._pending.get(key)
        if pending is None:
            return workloads
        out = [w for w in workloads if _uid(w) not in pending.deleted_uids]
        created = pending.created
        if created is not None and not any(_uid(w) == _uid(created) for w in out):
            out.append(created)
        return out

    def delete(self, key: Hashable) -> None:
        """Forget the key (its GRPOJob was deleted)."""
        self._pending.pop(key, None)
