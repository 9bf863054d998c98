"""A GRPOJob's children: the desired ones vs those that exist, what to create, update or delete (`plan`, pure),
and carrying that out (`apply`, idempotent).

Rules:
- children have fixed names, so a repeated or restarted reconcile can never duplicate one: existing children
  are looked up first (the operator's in-memory index of its Jobs/RayJobs, or a GET), and a 409 AlreadyExists
  on create counts as success once the object is confirmed to belong to this GRPOJob (same owner uid);
- ConfigMaps are (re)written only while no workload runs; a running Job/RayJob is never patched except for
  spec.ttlSecondsAfterFinished (spec changes while running are reported, see `rejected_fields`);
- spec.suspend deletes the workload (the outputs PVC with the checkpoints stays); clearing it recreates the
  workload, whose trainer resumes from the last checkpoint (resumeMode auto);
- a finished run (Succeeded/Failed with a completionTime) never gets a new workload, even after
  ttlSecondsAfterFinished removed the old one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from grpo_api.constants import GROUP

from .kube import Kube

FINGERPRINT_ANNOTATION = f"{GROUP}/spec-fingerprint"
# Spec fields that may change while the workload runs (everything else is refused until suspended).
SAFE_FIELDS = frozenset({"suspend", "ttlSecondsAfterFinished"})
WORKLOAD_KINDS = ("Job", "RayJob")


class ChildConflict(Exception):
    """A child's name is taken by an object this GRPOJob does not own (e.g. a deleted namesake's leftovers)."""


class ChildRejected(Exception):
    """The API server refused a child (400 Bad Request or 422 Invalid): retrying the same spec cannot succeed."""

    def __init__(self, kind: str, namespace: str, name: str, status: int, message: str):
        self.kind, self.namespace, self.name, self.status, self.server_message = kind, namespace, name, status, message
        super().__init__(f"the API server refused {kind} {namespace}/{name} ({status}): {message}")


REJECTED_STATUSES = (400, 422)


def server_message(e: ApiException) -> str:
    """The `message` of the API server's Status answer (else the raw body or reason)."""
    body = getattr(e, "body", None) or ""
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or body or e.reason or e.status)


@contextlib.contextmanager
def _rejections(obj: dict[str, Any]):
    """Turn a 400/422 answer to a write of `obj` into ChildRejected."""
    try:
        yield
    except ApiException as e:
        if e.status in REJECTED_STATUSES:
            meta = obj.get("metadata") or {}
            raise ChildRejected(obj.get("kind", "?"), meta.get("namespace", "?"), meta.get("name", "?"),
                                e.status, server_message(e)) from e
        raise


def spec_fingerprint(spec: dict[str, Any]) -> dict[str, str]:
    """A short hash per top-level spec field (defaults filled in), without the fields that are safe to change."""
    return dict(_fingerprint(json.dumps(spec, sort_keys=True)))


@functools.lru_cache(maxsize=1024)
def _fingerprint(spec_json: str) -> tuple[tuple[str, str], ...]:
    spec = json.loads(spec_json)
    return tuple((key, hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12])
                 for key, value in sorted(spec.items()) if key not in SAFE_FIELDS)


def rejected_fields(workload: dict[str, Any] | None, spec: dict[str, Any]) -> list[str]:
    """Top-level spec fields that differ from the spec the running workload was built from."""
    if workload is None:
        return []
    raw = ((workload.get("metadata") or {}).get("annotations") or {}).get(FINGERPRINT_ANNOTATION)
    if not raw:
        return []
    try:
        accepted = json.loads(raw)
    except ValueError:
        return []
    current = spec_fingerprint(spec)
    return sorted(k for k in set(accepted) | set(current) if accepted.get(k) != current.get(k))


def owned_by(obj: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def _live(obj: dict[str, Any]) -> bool:
    return not (obj.get("metadata") or {}).get("deletionTimestamp")


@dataclass
class Plan:
    ensure_configmaps: list[dict[str, Any]] = field(default_factory=list)
    ensure_others: list[dict[str, Any]] = field(default_factory=list)  # e.g. the NetworkPolicy: kept in sync
    configmaps_writable: bool = True  # False while a workload runs
    create_workload: dict[str, Any] | None = None
    delete_workloads: list[dict[str, Any]] = field(default_factory=list)
    patch_ttl: tuple[dict[str, Any], int | None] | None = None
    keep_workload: dict[str, Any] | None = None
    rejected: list[str] = field(default_factory=list)


def plan(desired: list[dict[str, Any]], existing_workloads: list[dict[str, Any]], *, spec: dict[str, Any],
         finished: bool) -> Plan:
    """What to do, from the builders' desired children and the workloads that exist now (pure)."""
    out = Plan()
    wanted = next(c for c in desired if c["kind"] in WORKLOAD_KINDS)
    live = [w for w in existing_workloads if _live(w)]
    out.ensure_configmaps = [c for c in desired if c["kind"] == "ConfigMap"]
    out.ensure_others = [c for c in desired if c["kind"] not in (*WORKLOAD_KINDS, "ConfigMap")]
    if spec.get("suspend"):
        out.delete_workloads = live
        return out
    current = next((w for w in live if w.get("kind") == wanted["kind"]
                    and w["metadata"]["name"] == wanted["metadata"]["name"]), None) or (live[0] if live else None)
    if current is None:
        if not finished:
            wanted = json.loads(json.dumps(wanted))
            annotations = wanted["metadata"].setdefault("annotations", {})
            annotations[FINGERPRINT_ANNOTATION] = json.dumps(spec_fingerprint(spec), sort_keys=True)
            out.create_workload = wanted
        return out
    out.keep_workload = current
    out.configmaps_writable = False
    out.rejected = rejected_fields(current, spec)
    if current.get("kind") == "Job":
        want_ttl = spec.get("ttlSecondsAfterFinished")
        if (current.get("spec") or {}).get("ttlSecondsAfterFinished") != want_ttl:
            out.patch_ttl = (current, want_ttl)
    return out


async def apply(kube: Kube, p: Plan, *, uid: str,
                confirm: Callable[[], Awaitable[bool]] | None = None) -> dict[str, Any] | None:
    """Carry out a plan; returns the workload that exists afterwards (None while suspended or finished).

    `confirm` is awaited right before a workload is created: False (the GRPOJob is gone) creates none."""
    for cm in p.ensure_configmaps:
        await _ensure_configmap(kube, cm, uid=uid, writable=p.configmaps_writable)
    for obj in p.ensure_others:
        await _ensure_spec(kube, obj, uid=uid)
    for w in p.delete_workloads:
        await kube.delete(w["apiVersion"], w["kind"], w["metadata"]["namespace"], w["metadata"]["name"])
    if p.delete_workloads:
        return None
    if p.patch_ttl is not None:
        w, ttl = p.patch_ttl
        with _rejections(w):
            await kube.patch(w["apiVersion"], w["kind"], w["metadata"]["namespace"], w["metadata"]["name"],
                             {"spec": {"ttlSecondsAfterFinished": ttl}})
    if p.create_workload is not None:
        if confirm is not None and not await confirm():
            return None
        return await _create_or_adopt(kube, p.create_workload, uid=uid)
    return p.keep_workload


async def _create_or_adopt(kube: Kube, obj: dict[str, Any], *, uid: str) -> dict[str, Any]:
    meta = obj["metadata"]
    try:
        with _rejections(obj):
            return await kube.create(obj)
    except ApiException as e:
        if e.status != 409:
            raise
    existing = await kube.get(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
    if existing is None:  # deleted in between: the next reconcile creates it
        raise ChildConflict(f"{obj['kind']} {meta['namespace']}/{meta['name']} was deleted while being created")
    if not owned_by(existing, uid):
        raise ChildConflict(f"{obj['kind']} {meta['namespace']}/{meta['name']} exists but is not owned by this "
                            f"GRPOJob (uid {uid}); waiting for it to be deleted")
    return existing


async def _ensure_configmap(kube: Kube, cm: dict[str, Any], *, uid: str, writable: bool) -> None:
    existing = await _create_or_adopt(kube, cm, uid=uid)
    if writable and existing.get("data") != cm.get("data"):
        meta = cm["metadata"]
        # merge patch: keys the builder no longer produces are removed with null
        data = {k: None for k in existing.get("data") or {}} | dict(cm.get("data") or {})
        with _rejections(cm):
            await kube.patch("v1", "ConfigMap", meta["namespace"], meta["name"], {"data": data})


async def _ensure_spec(kube: Kube, obj: dict[str, Any], *, uid: str) -> None:
    """Create or adopt a child whose whole state is its spec (a NetworkPolicy); rewrite a spec that drifted."""
    existing = await _create_or_adopt(kube, obj, uid=uid)
    if existing.get("spec") != obj.get("spec"):
        meta = obj["metadata"]
        spec = {k: None for k in existing.get("spec") or {}} | dict(obj.get("spec") or {})
        with _rejections(obj):
            await kube.patch(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"], {"spec": spec})
