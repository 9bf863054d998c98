"""kopf's diff-base storage for an operator that has only event, index and activity handlers.

kopf computes an object's "essence" (a deep copy of the whole body, status included, minus system fields) and
the stored last-handled essence for every watch event, to diff them for create/update/delete handlers. This
operator has none (GRPOJobs and their children are reconciled level-based from watch events, see handlers.py),
so that copy is pure overhead on every GRPOJob, Job, RayJob and pod event: `NoDiffBase` makes the essence empty
and stores nothing. Do not use it together with kopf.on.create/update/delete/field/resume or daemons/timers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import kopf


class NoDiffBase(kopf.DiffBaseStorage):
    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None
