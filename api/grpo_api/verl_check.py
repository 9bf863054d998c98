"""What `grpo validate`, `grpo render`, `./train.sh` and the operator say about a job's verl side, in one call.

`verl_check(spec)` returns the warnings (settings without effect) and, where verl's Hydra config is importable,
the result of composing the full override list (Hydra's own message for an unknown key, then verl's
arithmetic on the composed config). Composition costs seconds of CPU, so the operator runs it only when
`spec.overrides` is non-empty (a list built from typed fields alone is covered by the models' rules and the
test suite) and caches the answer per spec (`check_cached`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from .spec import GRPOJobSpec
from .verl_overrides import VerlComposeError, VerlNotInstalled, check_job_overrides
from .verl_rules import JobWarning, job_warnings


@dataclass(frozen=True)
class VerlCheck:
    warnings: list[JobWarning] = field(default_factory=list)
    error: str | None = None  # verl/Hydra refused the override list
    composed: bool = False  # False: not composed (trl, no overrides when optional, or verl not installed)
    skipped_reason: str | None = None


def verl_check(spec: GRPOJobSpec, *, always_compose: bool = True) -> VerlCheck:
    warnings = job_warnings(spec)
    if spec.engine != "verl":
        return VerlCheck(warnings, skipped_reason="engine trl")
    if not always_compose and not spec.overrides:
        return VerlCheck(warnings, skipped_reason="no spec.overrides")
    try:
        check_job_overrides(spec)
    except VerlNotInstalled as e:
        return VerlCheck(warnings, skipped_reason=str(e))
    except VerlComposeError as e:
        return VerlCheck(warnings, error=str(e), composed=True)
    return VerlCheck(warnings, composed=True)


_CACHE: dict[str, VerlCheck] = {}
_CACHE_MAX = 512


def check_cached(spec: GRPOJobSpec) -> VerlCheck:
    """verl_check for the operator: compose only with raw overrides, once per distinct spec."""
    key = hashlib.sha256(json.dumps(spec.to_wire(), sort_keys=True).encode()).hexdigest()
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = verl_check(spec, always_compose=False)
    return _CACHE[key]
