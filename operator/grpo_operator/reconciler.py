"""One GRPOJob's reconcile, in two idempotent, level-based steps (coroutines in kopf's event loop).

- `ensure_children` (the reconcile lane): get the GRPOJob, validate it, check its referenced ConfigMaps/Secrets,
  build the desired children, apply the plan (create, adopt or delete: config ConfigMap, reward ConfigMap, Job
  or RayJob), and note the workload changes in the expectations.
- `sync_status` (the status lane): get the GRPOJob, observe what exists, derive the status, patch it only if it
  changed, and post one Event per transition.

The controller runs the first as soon as a GRPOJob changes and the second through a deduplicating queue that
yields to the first (see controller.py and workqueue.py). Inputs are the GRPOJob and its children as the watch
streams last showed them (kopf indices, no API reads), plus what this process did meanwhile, all held by the
`Reconciler`: the statuses it wrote (`StatusCache`), the missing references the last `ensure_children` found,
and the workloads it created or deleted until the watch shows them (`Expectations`).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException

from grpo_api import GRPOJob, GRPOJobInvalid, parse_grpojob
from grpo_api.constants import API_VERSION, KIND
from grpo_api.pod_paths import config_map_name, reward_config_map_name
from grpo_api.spec import PodSpec
from grpo_api.verl_check import check_cached

from . import children, events, status_derive
from .builders import (
    DEFAULT_NETWORK_POLICY,
    NetworkPolicySettings,
    build_children,
    default_image,
    kueue_queue,
)
from .expectations import Expectations
from .kube import Kube
from .references import missing_references, objects_to_fetch
from .status_cache import StatusCache

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (namespace, name)
Track = Callable[[str, str, dict[str, Any], status_derive.Observed], None]
Post = Callable[[dict[str, Any], list[events.Event]], None]


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def live_workload(body: dict[str, Any], workloads: list[dict]) -> dict[str, Any] | None:
    uid = body["metadata"]["uid"]
    return next((w for w in workloads if children.owned_by(w, uid) and not w["metadata"].get("deletionTimestamp")),
                None)


def reconciled_state(body: dict[str, Any]) -> tuple:
    """What `ensure_children` depends on besides the children: the spec (generation), labels and annotations."""
    meta = body["metadata"]
    return (meta.get("uid"), meta.get("generation"), repr(sorted((meta.get("labels") or {}).items())),
            repr(sorted((meta.get("annotations") or {}).items())))


def _children_names(name: str, spec: dict[str, Any], obs: status_derive.Observed) -> dict[str, str] | None:
    if obs.spec_errors or obs.missing_refs or obs.child_rejections:
        return None  # nothing was created for this spec (earlier children, if any, are still listed)
    names = {"configMap": config_map_name(name)}
    if (spec.get("reward") or {}).get("inline"):
        names["rewardConfigMap"] = reward_config_map_name(name)
    if obs.workload is not None:
        names["rayJob" if obs.workload.get("kind") == "RayJob" else "job"] = obs.workload["metadata"]["name"]
    return names


def _version(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    return obj["metadata"].get("uid"), obj["metadata"].get("resourceVersion")


def _finished(previous: dict[str, Any]) -> bool:
    return bool(previous.get("completionTime")) and previous.get("phase") in ("Succeeded", "Failed")


class Reconciler:
    """The two steps, and what they remember between runs (per GRPOJob key)."""

    def __init__(self, kube: Kube, *, track: Track, post: Post = events.post,
                 network_policy: NetworkPolicySettings = DEFAULT_NETWORK_POLICY, pod_defaults: PodSpec | None = None):
        self.kube = kube
        self.network_policy = network_policy  # the operator's settings for each GRPOJob's NetworkPolicy child
        self.pod_defaults = pod_defaults  # cluster-wide trainer pod defaults, under each GRPOJob's own spec.pod
        self.track = track  # told every status derived (metrics, progress poller)
        self.post = post  # posts the transition Events (kopf's event queue)
        self.expectations = Expectations()
        self.statuses = StatusCache()
        self.missing_refs: dict[Key, list[tuple[str, str]]] = {}  # what the last `ensure_children` found missing
        self.rejections: dict[Key, list[str]] = {}  # children the API server refused (400/422) for this spec
        self._locks: dict[Key, asyncio.Lock] = {}

    def lock(self, key: Key) -> asyncio.Lock:
        """One reconcile step at a time per GRPOJob."""
        return self._locks.setdefault(key, asyncio.Lock())

    def busy(self, key: Key) -> bool:
        return key in self._locks and self._locks[key].locked()

    def forget(self, key: Key) -> None:
        self.statuses.forget(key)
        self.expectations.delete(key)
        self.missing_refs.pop(key, None)
        self.rejections.pop(key, None)
        if not self.busy(key):
            self._locks.pop(key, None)

    # --- the reconcile lane ------------------------------------------------------------------------------------

    async def ensure_children(self, namespace: str, name: str, *, workloads: list[dict],
                              known: dict[str, Any] | None) -> status_derive.Observed | None:
        """Create, adopt or delete the children so they match the spec (idempotent); None when the GRPOJob is gone.

        `known` is the GRPOJob as the watch last showed it; without it the GRPOJob is fetched. The Observed that
        is returned has the spec errors, missing references and the workload that exists afterwards.
        """
        key = (namespace, name)
        async with self.lock(key):
            if (body := await self._get(namespace, name, known)) is None:
                return None
            uid = body["metadata"]["uid"]
            workloads = self.expectations.overlay(key, workloads)
            obs, job, wire_spec = await self._observe(key, body, workloads, [])
            if job is None:  # an invalid spec: the status lane reports it
                return obs
            obs.missing_refs = self.missing_refs[key] = await self._missing_references(job, namespace)
            if obs.missing_refs:
                return obs
            desired = build_children(job, uid=uid, image=default_image(), namespace=namespace,
                                     network_policy=self.network_policy, pod_defaults=self.pod_defaults)
            owned = [w for w in workloads if children.owned_by(w, uid)]
            plan = children.plan(desired, owned, spec=wire_spec, finished=_finished(self.statuses.previous(key, body)))
            # Right before the workload (the GPU pods) is created, the GRPOJob is read again: one deleted meanwhile
            # gets no Job. Its ConfigMaps/NetworkPolicy, written without that check (one GET less per GRPOJob),
            # start no pods and are garbage-collected at once through their ownerReference.
            alive = lambda: self.still_exists(namespace, name, uid)  # noqa: E731
            self.rejections.pop(key, None)
            try:
                obs.workload = await children.apply(self.kube, plan, uid=uid,
                                                    confirm=alive)
            except children.ChildRejected as e:
                # The same spec gets the same answer: report it (Failed, ChildRejected, one Event) and wait for a
                # spec change instead of retrying.
                log.warning("[%s/%s] %s", namespace, name, e)
                obs.child_rejections = self.rejections[key] = [str(e)]
                return obs
            finally:
                self.expectations.expect_deleted(key, plan.delete_workloads)
            if plan.create_workload is not None:
                self.expectations.expect_created(key, obs.workload)
            return obs

    async def still_exists(self, namespace: str, name: str, uid: str) -> bool:
        """Whether the GRPOJob still exists, as this uid and not being deleted, asked of the API right before its
        children are written, and again right before its workload is created. The watch shows a deletion late, and a reconcile may have waited behind others
        since its event: a Job created for a GRPOJob that is already gone would start GPU pods that run until
        the garbage collector removes the orphan (a real API server accepts children whose owner is gone and
        only collects them afterwards). The window left is one request long. (The controller also skips a reconcile
        whose GRPOJob the watch index no longer lists, for free.)"""
        current = await self.kube.get(API_VERSION, KIND, namespace, name)
        if current is None or current["metadata"].get("uid") != uid or current["metadata"].get("deletionTimestamp"):
            log.info("[%s/%s] the GRPOJob (uid %s) is gone or being deleted: no children written", namespace, name,
                     uid)
            return False
        return True

    async def _missing_references(self, job: GRPOJob, namespace: str) -> list[tuple[str, str]]:
        wanted = objects_to_fetch(job)
        found = await asyncio.gather(*(self.kube.get("v1", kind, namespace, ref) for kind, ref in wanted))
        return missing_references(job, namespace, dict(zip(wanted, found, strict=True)))

    # --- the status lane ---------------------------------------------------------------------------------------

    async def sync_status(self, namespace: str, name: str, *, workloads: list[dict], pods: list[dict],
                          known: dict[str, Any] | None) -> dict[str, Any] | None:
        """Derive the status from what exists and write it when it changed, posting one Event per transition;
        returns the status (None when the GRPOJob is gone)."""
        key = (namespace, name)
        async with self.lock(key):
            if (body := await self._get(namespace, name, known)) is None:
                return None
            previous = self.statuses.previous(key, body)
            obs, status = await self._derive(key, body, self.expectations.overlay(key, workloads), pods, previous)
            if status_derive.status_changed(previous, status):
                try:
                    await self.kube.patch(API_VERSION, KIND, namespace, name, {"status": status}, "status")
                except ApiException as e:
                    if e.status == 404:  # deleted meanwhile
                        return None
                    raise
                self.statuses.wrote(key, body["metadata"]["uid"], status)
                self._post_transitions(key, body, previous, status)
            self.statuses.derived(key, self._basis(key, body, obs.workload, obs.pods))
            self.track(namespace, name, status, obs)
            return status

    def already_derived(self, namespace: str, name: str, body: dict[str, Any], workloads: list[dict],
                        pods: list[dict]) -> bool:
        """Whether the last status was derived from exactly these versions (e.g. the event of a Job just created)."""
        key = (namespace, name)
        workload = live_workload(body, self.expectations.overlay(key, workloads))
        return self.statuses.derived_from(key) == self._basis(key, body, workload, pods)

    async def status_settled(self, namespace: str, name: str, body: dict[str, Any], workloads: list[dict],
                             pods: list[dict]) -> bool:
        """Whether `sync_status` would write nothing (no API call; cheap unless a spec's raw overrides are being
        composed for the first time, which runs off the event loop)."""
        key = (namespace, name)
        previous = self.statuses.previous(key, body)
        obs, status = await self._derive(key, body, self.expectations.overlay(key, workloads), pods, previous)
        if status_derive.status_changed(previous, status):
            return False
        self.track(namespace, name, status, obs)
        return True

    def _post_transitions(self, key: Key, body: dict[str, Any], previous: dict[str, Any],
                          status: dict[str, Any]) -> None:
        transitions = events.transition_events(previous, status)
        for event in transitions:
            log.info("[%s/%s] %s: %s", *key, event.reason, event.message)
        self.post(body, transitions)

    # --- observing and deriving (no API calls) -----------------------------------------------------------------

    async def _get(self, namespace: str, name: str, known: dict[str, Any] | None) -> dict[str, Any] | None:
        """The GRPOJob as the watch last showed it (`known`), else from the API; None when gone or being deleted."""
        body = known if known is not None else await self.kube.get(API_VERSION, KIND, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        return body

    async def _observe(self, key: Key, body: dict[str, Any], workloads: list[dict], pods: list[dict]):
        """What exists for this GRPOJob: (Observed, parsed GRPOJob or None, wire spec or None)."""
        meta, spec = body["metadata"], body.get("spec") or {}
        obs = status_derive.Observed(generation=meta.get("generation"), suspend=bool(spec.get("suspend")),
                                     workload=live_workload(body, workloads))
        try:
            job = parse_grpojob({k: body.get(k) for k in ("apiVersion", "kind", "metadata", "spec")},
                                source=f"GRPOJob {key[0]}/{key[1]}")
        except GRPOJobInvalid as e:
            obs.spec_errors = e.errors
            return obs, None, None
        # verl's own Hydra config refuses unknown override keys: composed (seconds of CPU, off the event loop)
        # only for a spec with raw overrides, once per distinct spec.
        verl = check_cached(job.spec) if not job.spec.overrides else await asyncio.to_thread(check_cached, job.spec)
        if verl.error:
            obs.spec_errors = [f"spec.overrides: {verl.error}"]
            return obs, None, None
        obs.warnings = [str(w) for w in verl.warnings]  # settings without effect: the Warnings condition + Event
        obs.queue_name, obs.suspend = kueue_queue(job), job.spec.suspend
        obs.missing_refs = list(self.missing_refs.get(key, []))  # as the last ensure_children found them
        obs.child_rejections = list(self.rejections.get(key, []))
        return obs, job, job.spec.to_wire()

    async def _derive(self, key: Key, body: dict[str, Any], workloads: list[dict], pods: list[dict],
                      previous: dict[str, Any]) -> tuple[status_derive.Observed, dict[str, Any]]:
        obs, _, wire_spec = await self._observe(key, body, workloads, pods)
        if wire_spec is not None:
            obs.rejected_fields = children.rejected_fields(obs.workload, wire_spec)
        obs.pods = pods if obs.workload is not None else []
        names = _children_names(key[1], body.get("spec") or {}, obs)
        return obs, status_derive.derive_status(obs, previous, now(), names)

    def _basis(self, key: Key, body: dict[str, Any], workload: dict[str, Any] | None, pods: list[dict]) -> tuple:
        """The exact inputs a status is derived from: the GRPOJob's reconciled state, the missing references,
        the workload and pod versions."""
        return (reconciled_state(body), tuple(self.missing_refs.get(key, ())), tuple(self.rejections.get(key, ())),
                _version(workload) if workload is not None else None,
                tuple(sorted(_version(p) for p in pods)) if workload is not None else ())
