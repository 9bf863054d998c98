"""What this process remembers of the statuses it wrote (the freshest base for transitions and Events).

The operator is the only writer of the GRPOJob's status fields (besides the progress poller's progress and
lastCheckpoint), so the status it wrote last is newer than what a lagging watch event carries. After a restart
the stored status is the base. Also kept per GRPOJob: the exact inputs the last status was derived from, so a
watch event that changes none of them costs no work.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any


class StatusCache:
    def __init__(self) -> None:
        self._written: dict[Hashable, tuple[str, dict[str, Any]]] = {}  # key -> (GRPOJob uid, status written)
        self._basis: dict[Hashable, tuple] = {}  # key -> the inputs of the last status derived

    def previous(self, key: Hashable, body: dict[str, Any]) -> dict[str, Any]:
        """The status to derive transitions from: the one last written to this GRPOJob (same uid), else the
        stored one."""
        uid, status = self._written.get(key, (None, None))
        if status and uid == body["metadata"]["uid"]:
            return status
        return body.get("status") or {}

    def wrote(self, key: Hashable, uid: str, status: dict[str, Any]) -> None:
        self._written[key] = (uid, status)

    def derived(self, key: Hashable, basis: tuple) -> None:
        self._basis[key] = basis

    def derived_from(self, key: Hashable) -> tuple | None:
        return self._basis.get(key)

    def forget(self, key: Hashable) -> None:
        self._written.pop(key, None)
        self._basis.pop(key, None)
