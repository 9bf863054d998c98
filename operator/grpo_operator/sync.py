"""One GRPOJob's reconcile, in two idempotent, level-based steps (coroutines in kopf's event loop).

- `ensure_children` (the reconcile lane): validate the spec, check the referenced ConfigMaps/Secrets, and
  create, adopt or delete the children (config ConfigMap, reward ConfigMap, Job or RayJob).
- `sync_status` (the status lane): derive the status from the GRPOJob and what exists, write it when it
  changed, and post one Event per transition.

The handlers run the first as soon as a GRPOJob changes and the second through a deduplicating queue that
yields to the first (see handlers.py and workqueue.py). Inputs are the GRPOJob and its children as the
watch streams last showed them (kopf indices, no API reads), plus what this process did meanwhile:

- the status it last wrote per GRPOJob (the freshest base for transitions; after a restart: the stored one),
- the missing references the last `ensure_children` found,
- the workload it just created or deleted, until the watch stream shows it (`_applied`).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from grpo_api import GRPOJobInvalid, parse_grpojob
from grpo_api.constants import API_VERSION, KIND

from . import events, reconcile, status_derive
from .builders import build_children, default_image, kueue_queue
from .kube import Kube
from .operator_config import trainer_pod_defaults
from .references import missing_references, objects_to_fetch

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (namespace, name)
Track = Callable[[str, str, dict[str, Any], status_derive.Observed], None]

_locks: dict[Key, asyncio.Lock] = {}
_written: dict[Key, dict[str, dict[str, Any]]] = {}  # key -> {uid: last status written}
_derived_from: dict[Key, tuple] = {}  # key -> `_basis` of the last status derived
_missing_refs: dict[Key, list[tuple[str, str]]] = {}  # what the last `ensure_children` found missing


@dataclass
class Applied:
    """The workload changes of the last `ensure_children`, overlaid on the (possibly lagging) index."""

    created: dict[str, Any] | None = None
    deleted_uids: set[str] = field(default_factory=set)


_applied: dict[Key, Applied] = {}


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def lock(namespace: str, name: str) -> asyncio.Lock:
    """One reconcile step at a time per GRPOJob."""
    return _locks.setdefault((namespace, name), asyncio.Lock())


def forget(namespace: str, name: str) -> None:
    key = (namespace, name)
    for memory in (_written, _derived_from, _missing_refs, _applied):
        memory.pop(key, None)
    if key in _locks and not _locks[key].locked():
        del _locks[key]


def _with_applied(key: Key, workloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    applied = _applied.get(key)
    if applied is None:
        return workloads
    out = [w for w in workloads if w["metadata"].get("uid") not in applied.deleted_uids]
    created = applied.created
    if created is not None and not any(w["metadata"].get("uid") == created["metadata"].get("uid") for w in out):
        out.append(created)
    return out


def workload_event(namespace: str, name: str, uid: str | None, gone: bool) -> None:
    """The watch showed a workload of this GRPOJob: once it is gone, no overlay may bring it back."""
    applied = _applied.get((namespace, name))
    if applied is None or not gone:
        return
    if applied.created is not None and applied.created["metadata"].get("uid") == uid:
        applied.created = None
    applied.deleted_uids.discard(uid)


def _children_names(name: str, spec: dict[str, Any], obs: status_derive.Observed) -> dict[str, str] | None:
    if obs.spec_errors or obs.missing_refs:
        return None  # nothing was created for this spec (earlier children, if any, are still listed)
    names = {"configMap": f"{name}-config"}
    if (spec.get("reward") or {}).get("inline"):
        names["rewardConfigMap"] = f"{name}-reward"
    if obs.workload is not None:
        names["rayJob" if obs.workload.get("kind") == "RayJob" else "job"] = obs.workload["metadata"]["name"]
    return names


def live_workload(body: dict[str, Any], workloads: list[dict]) -> dict[str, Any] | None:
    uid = body["metadata"]["uid"]
    return next((w for w in workloads if reconcile.owned_by(w, uid) and not w["metadata"].get("deletionTimestamp")),
                None)


def _observe(namespace: str, name: str, body: dict[str, Any], workloads: list[dict], pods: list[dict]):
    """What exists for this GRPOJob, without API calls: (Observed, parsed GRPOJob or None, wire spec or None)."""
    meta, spec = body["metadata"], body.get("spec") or {}
    obs = status_derive.Observed(generation=meta.get("generation"), suspend=bool(spec.get("suspend")),
                                 workload=live_workload(body, workloads))
    try:
        job = parse_grpojob({k: body.get(k) for k in ("apiVersion", "kind", "metadata", "spec")},
                            source=f"GRPOJob {namespace}/{name}")
    except GRPOJobInvalid as e:
        obs.spec_errors = e.errors
        return obs, None, None
    obs.queue_name, obs.suspend = kueue_queue(job), job.spec.suspend
    obs.missing_refs = list(_missing_refs.get((namespace, name), []))  # as the last ensure_children found them
    return obs, job, job.spec.to_wire()


def _previous(namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    # The operator is the only writer of these status fields: what it wrote last is the freshest base.
    return _written.get((namespace, name), {}).get(body["metadata"]["uid"]) or body.get("status") or {}


def _derive(name: str, body: dict[str, Any], obs: status_derive.Observed, wire_spec: dict[str, Any] | None,
            pods: list[dict], previous: dict[str, Any]) -> dict[str, Any]:
    if wire_spec is not None:
        obs.rejected_fields = reconcile.rejected_fields(obs.workload, wire_spec)
    obs.pods = pods if obs.workload is not None else []
    return status_derive.derive_status(obs, previous, now(), _children_names(name, body.get("spec") or {}, obs))


def _basis(key: Key, body: dict[str, Any], workload: dict[str, Any] | None, pods: list[dict]) -> tuple:
    """The exact inputs a status is derived from: the GRPOJob's reconciled state, the missing references,
    the workload and pod versions."""
    def version(obj: dict[str, Any]) -> tuple[str | None, str | None]:
        return obj["metadata"].get("uid"), obj["metadata"].get("resourceVersion")

    return (reconciled_state(body), tuple(_missing_refs.get(key, ())), version(workload) if workload is not None else None,
            tuple(sorted(version(p) for p in pods)) if workload is not None else ())


def reconciled_state(body: dict[str, Any]) -> tuple:
    """What `ensure_children` depends on besides the children: the spec (generation), labels and annotations."""
    meta = body["metadata"]
    return (meta.get("uid"), meta.get("generation"), repr(sorted((meta.get("labels") or {}).items())),
            repr(sorted((meta.get("annotations") or {}).items())))


def already_derived(namespace: str, name: str, body: dict[str, Any], workloads: list[dict], pods: list[dict]) -> bool:
    """Whether the last status was derived from exactly these versions (e.g. the event of a Job just created)."""
    key = (namespace, name)
    workload = live_workload(body, _with_applied(key, workloads))
    return _derived_from.get(key) == _basis(key, body, workload, pods)


def status_settled(namespace: str, name: str, body: dict[str, Any], workloads: list[dict], pods: list[dict],
                   track: Track) -> bool:
    """Whether `sync_status` would write nothing (pure and cheap: runs in kopf's event loop)."""
    obs, _, wire_spec = _observe(namespace, name, body, _with_applied((namespace, name), workloads), pods)
    previous = _previous(namespace, name, body)
    status = _derive(name, body, obs, wire_spec, pods, previous)
    if status_derive.status_changed(previous, status):
        return False
    track(namespace, name, status, obs)
    return True


async def _current(kube: Kube, namespace: str, name: str, known: dict[str, Any] | None) -> dict[str, Any] | None:
    """The GRPOJob as the watch last showed it (`known`), else from the API; None when gone or being deleted."""
    body = known if known is not None else await kube.get(API_VERSION, KIND, namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return None
    return body


async def ensure_children(kube: Kube, namespace: str, name: str, *, workloads: list[dict],
                          known: dict[str, Any] | None) -> status_derive.Observed | None:
    """Create, adopt or delete the children so they match the spec (idempotent); None when the GRPOJob is gone.

    `known` is the GRPOJob as the watch last showed it; without it the GRPOJob is fetched. The Observed that is
    returned has the spec errors, missing references and the workload that exists afterwards.
    """
    key = (namespace, name)
    async with lock(namespace, name):
        if (body := await _current(kube, namespace, name, known)) is None:
            return None
        uid = body["metadata"]["uid"]
        workloads = _with_applied(key, workloads)
        obs, job, wire_spec = _observe(namespace, name, body, workloads, [])
        if job is None:
            return obs
        wanted = objects_to_fetch(job)
        found = await asyncio.gather(*(kube.get("v1", kind, namespace, ref) for kind, ref in wanted))
        obs.missing_refs = missing_references(job, namespace, dict(zip(wanted, found, strict=True)))
        _missing_refs[key] = obs.missing_refs
        if obs.missing_refs:
            return obs
        previous = _previous(namespace, name, body)
        desired = build_children(job, uid=uid, image=default_image(), namespace=namespace,
                                 pod_defaults=trainer_pod_defaults())
        finished = bool(previous.get("completionTime")) and previous.get("phase") in ("Succeeded", "Failed")
        owned = [w for w in workloads if reconcile.owned_by(w, uid)]
        plan = reconcile.plan(desired, owned, spec=wire_spec, finished=finished)
        applied = _applied.setdefault(key, Applied())
        try:
            obs.workload = await reconcile.apply(kube, plan, uid=uid)
        finally:
            applied.deleted_uids |= {w["metadata"].get("uid") for w in plan.delete_workloads}
        if plan.create_workload is not None:
            applied.created = obs.workload
        elif applied.created is not None and applied.created["metadata"].get("uid") in applied.deleted_uids:
            applied.created = None  # e.g. suspended: a resume must not see it as still there
        return obs


async def sync_status(kube: Kube, namespace: str, name: str, *, workloads: list[dict], pods: list[dict],
                      known: dict[str, Any] | None, track: Track,
                      post: Callable[[dict[str, Any], list[events.Event]], None] = events.post) -> dict[str, Any] | None:
    """Derive the status from what exists and write it when it changed, posting one Event per transition
    (`post`: through kopf's event queue); returns the status."""
    key = (namespace, name)
    async with lock(namespace, name):
        if (body := await _current(kube, namespace, name, known)) is None:
            return None
        uid = body["metadata"]["uid"]
        previous = _previous(namespace, name, body)
        obs, _, wire_spec = _observe(namespace, name, body, _with_applied(key, workloads), pods)
        status = _derive(name, body, obs, wire_spec, pods, previous)
        if status_derive.status_changed(previous, status):
            try:
                await kube.patch(API_VERSION, KIND, namespace, name, {"status": status}, "status")
            except ApiException as e:
                if e.status == 404:  # deleted meanwhile
                    return None
                raise
            _written[key] = {uid: status}
            transitions = events.transition_events(previous, status)
            for event in transitions:
                log.info("[%s/%s] %s: %s", namespace, name, event.reason, event.message)
            post(body, transitions)
        _derived_from[key] = _basis(key, body, obs.workload, obs.pods)
        track(namespace, name, status, obs)
        return status
