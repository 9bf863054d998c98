"""Kubernetes Events for GRPOJob status transitions (one per phase or reason change, never per retry)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Reasons that describe a problem even when the phase is not Failed.
WARNING_REASONS = frozenset({
    "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError",
    "CrashLoopBackOff", "Evicted", "SpecChangeRejected", "SecretNotFound",
})


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


def transition_events(old: dict[str, Any] | None, new: dict[str, Any]) -> list[Event]:
    """The Events to post when the status moves from `old` to `new` (both .status dicts)."""
    old = old or {}
    events = []
    old_phase, new_phase = old.get("phase"), new.get("phase")
    old_reason, new_reason = _main_reason(old), _main_reason(new)
    if old_phase != new_phase or old_reason != new_reason:
        warning = new_phase == "Failed" or new_reason in WARNING_REASONS
        reason = new_reason if warning else new_phase
        prefix = f"{old_phase or 'New'} -> {new_phase}" if old_phase != new_phase else new_phase
        events.append(Event("Warning" if warning else "Normal", reason or new_phase,
                            f"{prefix}: {new.get('message') or new_reason}"))
    if _rejected(new) and not _rejected(old):
        events.append(Event("Warning", "SpecChangeRejected", _rejected(new)))
    no_effect = _condition_message(new, "Warnings")
    if no_effect and no_effect != _condition_message(old, "Warnings"):
        # once per distinct set of settings without effect (not per status write)
        events.append(Event("Warning", "SettingHasNoEffect", no_effect))
    return events


def _main_reason(status: dict[str, Any]) -> str | None:
    phase = status.get("phase")
    wanted = {"Failed": "Failed", "Succeeded": "Complete", "Running": "Running", "Initializing": "Running",
              "Queued": "Queued", "Suspended": "Suspended"}.get(phase)
    for cond in status.get("conditions") or []:
        if cond.get("type") == wanted:
            return cond.get("reason")
    return phase


def _rejected(status: dict[str, Any]) -> str | None:
    return _condition_message(status, "SpecChangeRejected")


def _condition_message(status: dict[str, Any], ctype: str) -> str | None:
    """The message of condition `ctype` while it is True."""
    for cond in status.get("conditions") or []:
        if cond.get("type") == ctype and cond.get("status") == "True":
            return cond.get("message")
    return None


def post(body: dict[str, Any], events: list[Event]) -> None:
    """Post through kopf's event queue (asynchronous, retried, never fails the handler)."""
    import kopf

    for event in events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
