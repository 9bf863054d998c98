"""kopf handlers: thin glue between kopf and the pure modules (builders, reconcile, status_derive, progress).

Run with: kopf run --standalone -A -m grpo_operator.handlers --liveness=http://0.0.0.0:8080/healthz

- GRPOJob watch events (level-based, no kopf create/update/resume handlers): a GRPOJob seen for the first time
  (including the re-listing after a restart) or with a changed spec/labels/annotations gets one `sync(full=True)`:
  validate, check references, reconcile children, derive and write the status, post Events for transitions.
  Events that change none of these (e.g. our own status write) cost nothing. Failures are retried on a timer.
- Job/RayJob/pod events (server-side filtered by the `grpo.dev/grpojob` label): `sync(full=False)`, i.e.
  status only; a deleted workload triggers a full sync (it is recreated unless the run finished or is suspended).
- In-memory kopf indices of the GRPOJobs and their children make lookups free; transitions (and their Events)
  are decided against the status the operator last wrote (after a restart: the stored one), once.
- kopf stores no per-object state (no progress/diffbase annotations: one API write and one watch event less
  per GRPOJob than with create/update handlers).
- No finalizer is ever added (no deletion handlers, no kopf timers or daemons): deleting a GRPOJob works while
  the operator is down and its children go through ownerReferences. The progress poller is a plain thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import datetime
import logging
import threading
from dataclasses import dataclass
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from . import events, metrics, reconcile, status_derive
from .api import GRPOJobInvalid, parse_grpojob
from .builders import build_children, default_image, kueue_queue
from .constants import API_VERSION, GROUP, KIND, LABEL_GRPOJOB, MANAGED_BY, PLURAL, VERSION
from .kopf_storage import NoDiffBase
from .kube import Kube, load_api_client
from .operator_config import OperatorConfig
from .progress import ProgressPoller
from .references import missing_references

CONFIG = OperatorConfig.from_env()
log = logging.getLogger(__name__)
_state: dict[str, Any] = {}
_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()
_written: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}  # (ns, name) -> {uid: last status written}
_derived_from: dict[tuple[str, str], tuple] = {}  # (ns, name) -> `_basis` of the last status derived by `sync`
_missing_refs: dict[tuple[str, str], list[tuple[str, str]]] = {}  # what the last full sync found missing
OWNED = {LABEL_GRPOJOB: kopf.PRESENT}


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _kube() -> Kube:
    if "kube" not in _state:
        _state["kube"] = Kube(load_api_client(), CONFIG.api_timeout_s)
    return _state["kube"]


def _lock(namespace: str, name: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault((namespace, name), threading.Lock())


# --- settings -------------------------------------------------------------------------------------------------


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, logger: logging.Logger, **_: Any) -> None:
    settings.persistence.finalizer = f"{GROUP}/finalizer"  # declared for clarity; no handler requires it
    # Only event handlers: kopf keeps no per-object state (no progress/diff-base annotations are ever written),
    # and needs no deep copy of every event's body to diff it against one.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = NoDiffBase()
    _quiet_event_handlers(logging.getLogger("kopf.objects"))
    settings.posting.level = logging.CRITICAL  # only the operator's explicit Events, not kopf's log lines
    settings.posting.reporting_component = MANAGED_BY
    settings.posting.event_name_prefix = "grpo-"
    settings.watching.server_timeout = int(CONFIG.watch_server_timeout_s)  # the API parses it as an integer
    settings.watching.client_timeout = CONFIG.watch_client_timeout_s
    settings.execution.max_workers = CONFIG.workers
    _state["executor"] = concurrent.futures.ThreadPoolExecutor(CONFIG.workers, thread_name_prefix="grpo-sync")
    for selector in (("batch", "jobs"), ("ray.io", "rayjobs"), ("", "v1", "pods")):
        settings.watching.label_selectors[selector] = LABEL_GRPOJOB  # only our children, server-side
    kube = _kube()
    metrics.serve(CONFIG.metrics_port)
    _state["poller"] = ProgressPoller(
        url_for=CONFIG.metrics_url, now=now, interval_s=CONFIG.progress_interval_s,
        timeout_s=CONFIG.progress_timeout_s,
        write=lambda ns, name, patch: kube.patch(API_VERSION, KIND, ns, name, {"status": patch}, "status"),
    ).start()
    logger.info("grpo-operator configured: %s", CONFIG)


@kopf.on.cleanup()
def stop_poller(**_: Any) -> None:
    if "poller" in _state:
        _state["poller"].stop()
    if "executor" in _state:
        _state["executor"].shutdown(wait=False)


# --- indices of our children (filled from the watch streams, free to read) ----------------------------------


def _plain(body: kopf.Body) -> dict[str, Any]:
    return {k: v if isinstance(v, str) else dict(v) for k, v in body.items()
            if k in ("apiVersion", "kind", "metadata", "spec", "status")}


def _slim(body: kopf.Body) -> dict[str, Any]:
    meta = body.get("metadata", {})
    keep = ("name", "namespace", "uid", "resourceVersion", "labels", "annotations", "ownerReferences",
            "creationTimestamp", "deletionTimestamp")
    return {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"),
            "metadata": {k: meta[k] for k in keep if k in meta},
            "spec": {k: v for k, v in dict(body.get("spec", {})).items()
                     if k in ("suspend", "ttlSecondsAfterFinished", "backoffLimit")},
            "status": dict(body.get("status", {}))}


@kopf.index(GROUP, VERSION, PLURAL)
async def grpojobs(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict:
    return {(namespace, name): _plain(body)}


@kopf.index("batch", "v1", "jobs", labels=OWNED)
async def grpo_jobs(namespace: str, labels: dict[str, str], body: kopf.Body, **_: Any) -> dict:
    return {(namespace, labels[LABEL_GRPOJOB]): _slim(body)}


@kopf.index("ray.io", "v1", "rayjobs", labels=OWNED)
async def grpo_rayjobs(namespace: str, labels: dict[str, str], body: kopf.Body, **_: Any) -> dict:
    return {(namespace, labels[LABEL_GRPOJOB]): _slim(body)}


@kopf.index("", "v1", "pods", labels=OWNED)
async def grpo_pods(namespace: str, labels: dict[str, str], body: kopf.Body, **_: Any) -> dict:
    return {(namespace, labels[LABEL_GRPOJOB]): _slim(body)}


def _known(key: tuple[str, str], indices: dict[str, kopf.Index]) -> dict[str, Any] | None:
    return next(iter(indices["grpojobs"].get(key, [])), None)


def _children(key: tuple[str, str], indices: dict[str, kopf.Index]) -> tuple[list[dict], list[dict]]:
    workloads = list(indices["grpo_jobs"].get(key, [])) + list(indices["grpo_rayjobs"].get(key, []))
    return workloads, list(indices["grpo_pods"].get(key, []))


# --- the one reconcile ----------------------------------------------------------------------------------------


@dataclass
class SyncResult:
    status: dict[str, Any]
    observed: status_derive.Observed


def _fetch_ref(kube: Kube, namespace: str):
    return lambda kind, name: kube.get("v1", kind, namespace, name)


def _pod_ip(pods: list[dict[str, Any]]) -> str | None:
    for pod in sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True):
        status = pod.get("status") or {}
        if status.get("phase") == "Running" and status.get("podIP"):
            return status["podIP"]
    return None


def _children_names(name: str, spec: dict[str, Any], obs: status_derive.Observed) -> dict[str, str] | None:
    if obs.spec_errors or obs.missing_refs:
        return None  # nothing was created for this spec (earlier children, if any, are still listed)
    names = {"configMap": f"{name}-config"}
    if (spec.get("reward") or {}).get("inline"):
        names["rewardConfigMap"] = f"{name}-reward"
    if obs.workload is not None:
        names["rayJob" if obs.workload.get("kind") == "RayJob" else "job"] = obs.workload["metadata"]["name"]
    return names


def _observe(namespace: str, name: str, body: dict[str, Any], workloads: list[dict], pods: list[dict]):
    """What exists for this GRPOJob, without API calls: (Observed, parsed GRPOJob or None, wire spec or None)."""
    meta, spec = body["metadata"], body.get("spec") or {}
    live = [w for w in workloads if reconcile.owned_by(w, meta["uid"]) and not w["metadata"].get("deletionTimestamp")]
    obs = status_derive.Observed(generation=meta.get("generation"), suspend=bool(spec.get("suspend")),
                                 workload=live[0] if live else None)
    try:
        job = parse_grpojob({k: body.get(k) for k in ("apiVersion", "kind", "metadata", "spec")},
                            source=f"GRPOJob {namespace}/{name}")
    except GRPOJobInvalid as e:
        obs.spec_errors = e.errors
        return obs, None, None
    obs.queue_name, obs.suspend = kueue_queue(job), job.spec.suspend
    obs.missing_refs = list(_missing_refs.get((namespace, name), []))  # as the last full sync found them
    return obs, job, job.spec.to_wire()


def _derive(name: str, body: dict[str, Any], obs: status_derive.Observed, wire_spec: dict[str, Any] | None,
            pods: list[dict], previous: dict[str, Any]) -> dict[str, Any]:
    if wire_spec is not None:
        obs.rejected_fields = reconcile.rejected_fields(obs.workload, wire_spec)
    obs.pods = pods if obs.workload is not None else []
    return status_derive.derive_status(obs, previous, now(), _children_names(name, body.get("spec") or {}, obs))


def _previous(namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    # The operator is the only writer of these status fields: what it wrote last is the freshest base.
    return _written.get((namespace, name), {}).get(body["metadata"]["uid"]) or body.get("status") or {}


def _track(namespace: str, name: str, status: dict[str, Any], obs: status_derive.Observed) -> None:
    metrics.set_phase(namespace, name, status["phase"])
    if "poller" in _state:
        _state["poller"].track(namespace, name, _pod_ip(obs.pods) if status["phase"] == "Running" else None)


def _basis(body: dict[str, Any], workload: dict[str, Any] | None, pods: list[dict]) -> tuple:
    """The exact inputs a status is derived from (the GRPOJob's reconciled state, workload and pod versions)."""
    def version(obj: dict[str, Any]) -> tuple[str | None, str | None]:
        return obj["metadata"].get("uid"), obj["metadata"].get("resourceVersion")

    return (_reconciled_state(body), version(workload) if workload is not None else None,
            tuple(sorted(version(p) for p in pods)) if workload is not None else ())


def _live_workload(body: dict[str, Any], workloads: list[dict]) -> dict[str, Any] | None:
    uid = body["metadata"]["uid"]
    return next((w for w in workloads if reconcile.owned_by(w, uid) and not w["metadata"].get("deletionTimestamp")),
                None)


def status_settled(namespace: str, name: str, body: dict[str, Any], workloads: list[dict], pods: list[dict]) -> bool:
    """Whether a status-only sync would write nothing (pure and cheap: runs in kopf's event loop)."""
    obs, _, wire_spec = _observe(namespace, name, body, workloads, pods)
    previous = _previous(namespace, name, body)
    status = _derive(name, body, obs, wire_spec, pods, previous)
    if status_derive.status_changed(previous, status):
        return False
    _track(namespace, name, status, obs)
    return True


def sync(namespace: str, name: str, *, workloads: list[dict], pods: list[dict], full: bool,
         known: dict[str, Any] | None = None) -> SyncResult | None:
    """Bring one GRPOJob's children (full=True) and status in line with what exists now. Idempotent.

    `known` is the GRPOJob as last seen by the watch (the index); without it the GRPOJob is fetched.
    """
    kube = _kube()
    with _lock(namespace, name):
        body = known if known is not None else kube.get(API_VERSION, KIND, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        uid = body["metadata"]["uid"]
        previous = _previous(namespace, name, body)
        obs, job, wire_spec = _observe(namespace, name, body, workloads, pods)
        if full and job is not None:
            obs.missing_refs = missing_references(job, namespace, _fetch_ref(kube, namespace))
            _missing_refs[(namespace, name)] = obs.missing_refs
            if not obs.missing_refs:
                desired = build_children(job, uid=uid, image=default_image(), namespace=namespace)
                finished = bool(previous.get("completionTime")) and previous.get("phase") in ("Succeeded", "Failed")
                owned = [w for w in workloads if reconcile.owned_by(w, uid)]
                plan = reconcile.plan(desired, owned, spec=wire_spec, finished=finished)
                obs.workload = reconcile.apply(kube, plan, uid=uid)
        status = _derive(name, body, obs, wire_spec, pods, previous)
        if status_derive.status_changed(previous, status):
            try:
                kube.patch(API_VERSION, KIND, namespace, name, {"status": status}, "status")
            except ApiException as e:
                if e.status == 404:  # deleted meanwhile
                    return None
                raise
            _written[(namespace, name)] = {uid: status}
            transitions = events.transition_events(previous, status)
            for event in transitions:
                log.info("[%s/%s] %s: %s", namespace, name, event.reason, event.message)
            events.post(body, transitions)
        _derived_from[(namespace, name)] = _basis(body, obs.workload, obs.pods)
        _track(namespace, name, status, obs)
        return SyncResult(status, obs)


# --- handlers -------------------------------------------------------------------------------------------------
#
# GRPOJobs are handled level-based from their watch events (no kopf create/update/resume handlers): kopf then keeps
# no per-object state, so it writes no progress/diffbase annotations (one API write and one watch event less per
# GRPOJob). An event of a GRPOJob whose spec, labels and annotations were already reconciled costs nothing; failed
# reconciles are retried by `_schedule`. The operator's restart re-lists every GRPOJob: each gets a full sync.

_synced: dict[tuple[str, str], tuple] = {}  # (ns, name) -> what the last successful full sync reconciled
_retries: dict[tuple[str, str], asyncio.TimerHandle] = {}
_retry_tasks: set[asyncio.Task] = set()
INDEX_NAMES = ("grpojobs", "grpo_jobs", "grpo_rayjobs", "grpo_pods")


def _quiet_event_handlers(objects_log: logging.Logger) -> None:
    """No "Handler 'x' succeeded." line for every GRPOJob/child event (kopf's only INFO line per object here).

    At kopf's default INFO level the per-object logger is raised to WARNING (errors and retries still show; the
    operator logs its own reconcile problems); `kopf run --verbose/--debug` keeps everything.
    """
    if objects_log.getEffectiveLevel() == logging.INFO:
        objects_log.setLevel(logging.WARNING)


def _reconciled_state(body: dict[str, Any]) -> tuple:
    """What a full sync depends on besides the children: the spec (generation), labels and annotations."""
    meta = body["metadata"]
    return (meta.get("uid"), meta.get("generation"), repr(sorted((meta.get("labels") or {}).items())),
            repr(sorted((meta.get("annotations") or {}).items())))


def _full_sync(namespace: str, name: str, workloads: list[dict], pods: list[dict],
               known: dict[str, Any] | None) -> float | None:
    """One reconcile in a worker thread; returns the delay before a retry, or None when none is needed."""
    retry: float | None = None
    try:
        with metrics.observe("grpojob"):
            try:
                result = sync(namespace, name, workloads=workloads, pods=pods, full=True, known=known)
            except reconcile.ChildConflict as e:
                raise kopf.TemporaryError(str(e), delay=5) from None
            if result is not None and result.observed.missing_refs:
                # The status already says Failed (with an Event, once); re-check slowly in case the object appears.
                retry = CONFIG.missing_ref_retry_s
                raise kopf.TemporaryError(result.status["message"], delay=retry)
    except kopf.TemporaryError as e:
        log.info("[%s/%s] reconcile will be retried in %.1fs: %s", namespace, name, e.delay, e)
        if retry is None:  # a name conflict: nothing reconciled yet
            return float(e.delay or CONFIG.retry_backoff_s)
    except Exception as e:  # an API error: retried after the handler backoff
        log.warning("[%s/%s] reconcile failed, retrying in %.1fs: %r", namespace, name, CONFIG.retry_backoff_s, e)
        return CONFIG.retry_backoff_s
    if known is not None:
        _synced[(namespace, name)] = _reconciled_state(known)
    return retry


async def _in_thread(fn: Any, *args: Any) -> Any:
    """Blocking API work on the operator's worker threads (GRPO_OPERATOR_WORKERS), with the caller's context
    (kopf.event finds its queue through context variables)."""
    ctx = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_state.get("executor"), ctx.run, fn, *args)


def _snapshot(key: tuple[str, str], indices: dict[str, kopf.Index]):
    workloads, pods = _children(key, indices)
    return workloads, pods, _known(key, indices)


def _schedule(namespace: str, name: str, delay: float) -> None:
    """Run a full sync again after `delay` seconds (one pending retry per GRPOJob; a newer one replaces it)."""
    key = (namespace, name)
    if (old := _retries.pop(key, None)) is not None:
        old.cancel()
    loop = asyncio.get_running_loop()
    def start() -> None:
        task = loop.create_task(_retry(namespace, name))
        _retry_tasks.add(task)  # asyncio keeps only weak references to running tasks
        task.add_done_callback(_retry_tasks.discard)

    _retries[key] = loop.call_later(delay, start)


async def _retry(namespace: str, name: str) -> None:
    key = (namespace, name)
    _retries.pop(key, None)
    if "indices" not in _state:
        return
    workloads, pods, known = _snapshot(key, _state["indices"])
    if known is None:  # deleted meanwhile
        return
    await _run_full(namespace, name, workloads, pods, known)


async def _run_full(namespace: str, name: str, workloads: list[dict], pods: list[dict],
                    known: dict[str, Any] | None) -> None:
    delay = await _in_thread(_full_sync, namespace, name, workloads, pods, known)
    if delay is not None:
        _schedule(namespace, name, delay)


def _remember_indices(kwargs: dict[str, Any]) -> None:
    if "indices" not in _state:
        _state["indices"] = {k: kwargs[k] for k in INDEX_NAMES}


@kopf.on.event(GROUP, VERSION, PLURAL)
async def grpojob_event(type: str | None, namespace: str, name: str, body: kopf.Body, **kwargs: Any) -> None:
    key = (namespace, name)
    _remember_indices(kwargs)
    if type == "DELETED":
        _forget(namespace, name)
        return
    known = _plain(body)
    if known["metadata"].get("deletionTimestamp"):
        return
    # Already reconciled (e.g. the event of our own status write): nothing to do. The status depends only on
    # what was reconciled and on the children, whose own events update it (the index of the children may even
    # lag behind this event: deriving the status here could flap it back to Pending).
    if _synced.get(key) != _reconciled_state(known):
        workloads, pods = _children(key, kwargs)
        await _run_full(namespace, name, workloads, pods, known)


def _forget(namespace: str, name: str) -> None:
    metrics.forget(namespace, name)
    _written.pop((namespace, name), None)
    _synced.pop((namespace, name), None)
    _missing_refs.pop((namespace, name), None)
    _derived_from.pop((namespace, name), None)
    if (handle := _retries.pop((namespace, name), None)) is not None:
        handle.cancel()
    if "poller" in _state:
        _state["poller"].forget(namespace, name)


def _child_sync(type: str | None, namespace: str, owner: str, workloads: list[dict], pods: list[dict],
                known: dict[str, Any] | None) -> None:
    with metrics.observe("workload"):
        sync(namespace, owner, workloads=workloads, pods=pods, full=False, known=known)


async def _child_event(type: str | None, namespace: str, labels: dict[str, str], kwargs: dict[str, Any]) -> None:
    owner = labels.get(LABEL_GRPOJOB)
    if not owner:
        return
    _remember_indices(kwargs)
    workloads, pods = _children((namespace, owner), kwargs)
    known = _known((namespace, owner), kwargs)
    if type == "DELETED":  # a deleted workload is recreated unless the run finished or is suspended
        await _run_full(namespace, owner, workloads, pods, known)
        return
    # Most child events change nothing in the GRPOJob's status: decide that in the event loop, and only go to a
    # worker thread (blocking API calls) when there is something to write.
    # A sync already running for this GRPOJob may be writing from older indices: never skip behind it.
    # The event of a child this operator just created (or of any state a status was already derived from) is
    # recognised by the objects' versions alone, without parsing the GRPOJob again.
    busy = _lock(namespace, owner).locked()
    if known is not None and not busy:
        if _derived_from.get((namespace, owner)) == _basis(known, _live_workload(known, workloads), pods):
            return
        if status_settled(namespace, owner, known, workloads, pods):
            return
    try:
        await _in_thread(_child_sync, type, namespace, owner, workloads, pods, known)
    except Exception as e:  # e.g. a failed status write: the full sync retries it
        log.warning("[%s/%s] status sync failed, retrying in %.1fs: %r", namespace, owner, CONFIG.retry_backoff_s, e)
        _schedule(namespace, owner, CONFIG.retry_backoff_s)


@kopf.on.event("batch", "v1", "jobs", labels=OWNED)
async def job_event(type: str | None, namespace: str, labels: dict[str, str], **kwargs: Any) -> None:
    await _child_event(type, namespace, labels, kwargs)


@kopf.on.event("ray.io", "v1", "rayjobs", labels=OWNED)
async def rayjob_event(type: str | None, namespace: str, labels: dict[str, str], **kwargs: Any) -> None:
    await _child_event(type, namespace, labels, kwargs)


@kopf.on.event("", "v1", "pods", labels=OWNED)
async def pod_event(type: str | None, namespace: str, labels: dict[str, str], **kwargs: Any) -> None:
    await _child_event(None if type == "DELETED" else type, namespace, labels, kwargs)
