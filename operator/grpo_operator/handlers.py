"""kopf handlers: thin glue between kopf and the reconcile steps (sync.py) and the progress poller.

Run with: kopf run --standalone -A -m grpo_operator.handlers --liveness=http://0.0.0.0:8080/healthz

- GRPOJob watch events (level-based, no kopf create/update/resume handlers): a GRPOJob seen for the first time
  (including the re-listing after a restart) or with a changed spec/labels/annotations gets
  `sync.ensure_children` at once (the reconcile lane), then a status sync (the status lane, below).
  Events that change none of these (e.g. our own status write) cost nothing. Failures are retried on a timer.
- Job/RayJob/pod events (server-side filtered by the `grpo.dev/grpojob` label) queue a status sync; a deleted
  workload gets `ensure_children` (it is recreated unless the run finished or is suspended).
- In-memory kopf indices of the GRPOJobs and their children make lookups free; transitions (and their Events)
  are decided against the status the operator last wrote (after a restart: the stored one), once.
- kopf stores no per-object state (no progress/diffbase annotations: one API write and one watch event less
  per GRPOJob than with create/update handlers).
- No finalizer is ever added (no deletion handlers, no kopf timers or daemons): deleting a GRPOJob works while
  the operator is down and its children go through ownerReferences. The progress poller is a plain thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from grpo_api.constants import API_VERSION, GROUP, KIND, LABEL_GRPOJOB, MANAGED_BY, PLURAL, VERSION

from . import metrics, reconcile, status_derive, sync
from .kopf_storage import NoDiffBase
from .kube import Kube, load_configuration
from .operator_config import OperatorConfig
from .progress import ProgressPoller
from .workqueue import KeyQueue

CONFIG = OperatorConfig.from_env()
log = logging.getLogger(__name__)
_state: dict[str, Any] = {}
OWNED = {LABEL_GRPOJOB: kopf.PRESENT}


def _kube() -> Kube:
    """The API client (created in kopf's event loop by the startup handler)."""
    return _state["kube"]


# --- settings -------------------------------------------------------------------------------------------------


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, logger: logging.Logger, **_: Any) -> None:
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
    for selector in (("batch", "jobs"), ("ray.io", "rayjobs"), ("", "v1", "pods")):
        settings.watching.label_selectors[selector] = LABEL_GRPOJOB  # only our children, server-side
    _state["reconcilers"] = asyncio.Semaphore(CONFIG.workers)  # like controller-runtime's MaxConcurrentReconciles
    kube = _state["kube"] = Kube(load_configuration(), CONFIG.api_timeout_s, max_connections=CONFIG.workers)
    metrics.serve(CONFIG.metrics_port)
    loop = asyncio.get_running_loop()

    def write_progress(namespace: str, name: str, patch: dict[str, Any]) -> None:  # from the poller's thread
        status = kube.patch(API_VERSION, KIND, namespace, name, {"status": patch}, "status")
        asyncio.run_coroutine_threadsafe(status, loop).result(CONFIG.api_timeout_s + 5)

    _state["poller"] = ProgressPoller(
        url_for=CONFIG.metrics_url, now=sync.now, interval_s=CONFIG.progress_interval_s,
        timeout_s=CONFIG.progress_timeout_s, write=write_progress,
    ).start()
    logger.info("grpo-operator configured: %s", CONFIG)


@kopf.on.cleanup()
async def stop_background_work(**_: Any) -> None:
    for task in list(_tasks):
        task.cancel()
    if "poller" in _state:
        await asyncio.to_thread(_state["poller"].stop)
    if "kube" in _state:
        await _state["kube"].close()


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


# --- the two lanes ---------------------------------------------------------------------------------------------
#
# GRPOJobs are handled level-based from their watch events (no kopf create/update/resume handlers): kopf then keeps
# no per-object state, so it writes no progress/diffbase annotations (one API write and one watch event less per
# GRPOJob). The operator's restart re-lists every GRPOJob: each gets a full reconcile.
#
# - The reconcile lane: a GRPOJob whose spec, labels or annotations changed (or that is new), or whose workload
#   was deleted, gets `sync.ensure_children` at once (at most GRPO_OPERATOR_WORKERS at a time, in arrival
#   order). Failures are retried by `_schedule`.
# - The status lane: every GRPOJob that was reconciled or whose children changed is put on a deduplicating
#   queue; `STATUS_WORKERS` consumers derive and write its status (`sync.sync_status`). While the reconcile
#   lane is busy the queue holds keys for up to `STATUS_HOLD_S`, so under a burst of new GRPOJobs the Jobs are
#   created first and the status writes and Events follow (as a Kubernetes controller batches status updates).

STATUS_WORKERS = 4
STATUS_HOLD_S = 1.0
_synced: dict[tuple[str, str], tuple] = {}  # (ns, name) -> what the last successful ensure_children reconciled
_retries: dict[tuple[str, str], asyncio.TimerHandle] = {}
_tasks: set[asyncio.Task] = set()  # asyncio keeps only weak references to running tasks
_reconciling = [0]  # ensure_children calls queued or running
INDEX_NAMES = ("grpojobs", "grpo_jobs", "grpo_rayjobs", "grpo_pods")


def _quiet_event_handlers(objects_log: logging.Logger) -> None:
    """No "Handler 'x' succeeded." line for every GRPOJob/child event (kopf's only INFO line per object here).

    At kopf's default INFO level the per-object logger is raised to WARNING (errors and retries still show; the
    operator logs its own reconcile problems); `kopf run --verbose/--debug` keeps everything.
    """
    if objects_log.getEffectiveLevel() == logging.INFO:
        objects_log.setLevel(logging.WARNING)


def _track(namespace: str, name: str, status: dict[str, Any], obs: status_derive.Observed) -> None:
    metrics.set_phase(namespace, name, status["phase"])
    if "poller" in _state:
        _state["poller"].track(namespace, name, _pod_ip(obs.pods) if status["phase"] == "Running" else None)


def _pod_ip(pods: list[dict[str, Any]]) -> str | None:
    for pod in sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True):
        status = pod.get("status") or {}
        if status.get("phase") == "Running" and status.get("podIP"):
            return status["podIP"]
    return None


async def _ensure_children(namespace: str, name: str, workloads: list[dict],
                           known: dict[str, Any] | None) -> float | None:
    """One reconcile; returns the delay before a retry, or None when none is needed."""
    try:
        with metrics.observe("grpojob"):
            try:
                obs = await sync.ensure_children(_kube(), namespace, name, workloads=workloads, known=known,
                                                 network_policy=CONFIG.network_policy)
            except reconcile.ChildConflict as e:
                raise kopf.TemporaryError(str(e), delay=5) from None
    except kopf.TemporaryError as e:  # a name conflict: nothing reconciled yet
        log.info("[%s/%s] reconcile will be retried in %.1fs: %s", namespace, name, e.delay, e)
        return float(e.delay or CONFIG.retry_backoff_s)
    except Exception as e:  # an API error: retried after the handler backoff
        log.warning("[%s/%s] reconcile failed, retrying in %.1fs: %r", namespace, name, CONFIG.retry_backoff_s, e)
        return CONFIG.retry_backoff_s
    if known is not None:
        _synced[(namespace, name)] = sync.reconciled_state(known)
    if obs is not None and obs.missing_refs:
        # The status lane reports it (Failed, one Event); re-check slowly in case the object appears.
        log.info("[%s/%s] re-checking in %.0fs: %s", namespace, name, CONFIG.missing_ref_retry_s,
                 "; ".join(message for _, message in obs.missing_refs))
        return CONFIG.missing_ref_retry_s
    return None


def _snapshot(key: tuple[str, str], indices: dict[str, kopf.Index]):
    workloads, pods = _children(key, indices)
    return workloads, pods, _known(key, indices)


def _spawn(coro: Any) -> asyncio.Task:
    task = asyncio.get_running_loop().create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


def _schedule(namespace: str, name: str, delay: float) -> None:
    """Run a full reconcile again after `delay` seconds (one pending retry per GRPOJob; a newer one replaces it)."""
    key = (namespace, name)
    if (old := _retries.pop(key, None)) is not None:
        old.cancel()
    _retries[key] = asyncio.get_running_loop().call_later(delay, lambda: _spawn(_retry(namespace, name)))


async def _retry(namespace: str, name: str) -> None:
    key = (namespace, name)
    _retries.pop(key, None)
    if "indices" not in _state:
        return
    workloads, _, known = _snapshot(key, _state["indices"])
    if known is None:  # deleted meanwhile
        return
    await _run_full(namespace, name, workloads, known)


async def _run_full(namespace: str, name: str, workloads: list[dict], known: dict[str, Any] | None) -> None:
    _reconciling[0] += 1
    try:
        async with _state["reconcilers"]:
            delay = await _ensure_children(namespace, name, workloads, known)
    finally:
        _reconciling[0] -= 1
        if _reconciling[0] == 0:
            _status_queue().wake()
    _status_queue().add((namespace, name))
    if delay is not None:
        _schedule(namespace, name, delay)


def _status_queue() -> KeyQueue:
    if "status_queue" not in _state:
        _state["status_queue"] = KeyQueue(busy=lambda: _reconciling[0] > 0, max_hold_s=STATUS_HOLD_S)
        for _ in range(STATUS_WORKERS):
            _spawn(_status_worker(_state["status_queue"]))
    return _state["status_queue"]


async def _status_worker(queue: KeyQueue) -> None:
    while True:
        key = await queue.get()
        try:
            await _sync_status(*key)
        except Exception as e:  # e.g. a failed status write
            log.warning("[%s/%s] status sync failed, retrying in %.1fs: %r", *key, CONFIG.retry_backoff_s, e)
            asyncio.get_running_loop().call_later(CONFIG.retry_backoff_s, queue.add, key)
        finally:
            queue.done(key)


async def _sync_status(namespace: str, name: str) -> None:
    if "indices" not in _state:
        return
    workloads, pods, known = _snapshot((namespace, name), _state["indices"])
    # Most child events change nothing in the GRPOJob's status: decide that without an API call. A reconcile
    # running for this GRPOJob may change what exists: never skip behind it. The event of a child this operator
    # just created (or of any state a status was already derived from) is recognised by the objects' versions,
    # without parsing the spec.
    if known is not None and not sync.lock(namespace, name).locked():
        if sync.already_derived(namespace, name, known, workloads, pods):
            return
        if sync.status_settled(namespace, name, known, workloads, pods, _track):
            return
    with metrics.observe("status"):
        await sync.sync_status(_kube(), namespace, name, workloads=workloads, pods=pods, known=known, track=_track)


# --- handlers -------------------------------------------------------------------------------------------------


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
    # what was reconciled and on the children, whose own events update it.
    if _synced.get(key) != sync.reconciled_state(known):
        await _run_full(namespace, name, _children(key, kwargs)[0], known)


def _forget(namespace: str, name: str) -> None:
    metrics.forget(namespace, name)
    sync.forget(namespace, name)
    _synced.pop((namespace, name), None)
    if "status_queue" in _state:
        _state["status_queue"].discard((namespace, name))
    if (handle := _retries.pop((namespace, name), None)) is not None:
        handle.cancel()
    if "poller" in _state:
        _state["poller"].forget(namespace, name)


async def _child_event(type: str | None, namespace: str, labels: dict[str, str], body: kopf.Body,
                       kwargs: dict[str, Any], *, workload: bool) -> None:
    owner = labels.get(LABEL_GRPOJOB)
    if not owner:
        return
    _remember_indices(kwargs)
    key = (namespace, owner)
    if workload:
        meta = body.get("metadata", {})
        gone = type == "DELETED" or bool(meta.get("deletionTimestamp"))
        sync.workload_event(namespace, owner, meta.get("uid"), gone)
        if type == "DELETED":  # recreated unless the run finished or is suspended
            await _run_full(namespace, owner, _children(key, kwargs)[0], _known(key, kwargs))
            return
    _status_queue().add(key)


@kopf.on.event("batch", "v1", "jobs", labels=OWNED)
async def job_event(type: str | None, namespace: str, labels: dict[str, str], body: kopf.Body, **kwargs: Any) -> None:
    await _child_event(type, namespace, labels, body, kwargs, workload=True)


@kopf.on.event("ray.io", "v1", "rayjobs", labels=OWNED)
async def rayjob_event(type: str | None, namespace: str, labels: dict[str, str], body: kopf.Body,
                       **kwargs: Any) -> None:
    await _child_event(type, namespace, labels, body, kwargs, workload=True)


@kopf.on.event("", "v1", "pods", labels=OWNED)
async def pod_event(type: str | None, namespace: str, labels: dict[str, str], body: kopf.Body, **kwargs: Any) -> None:
    await _child_event(type, namespace, labels, body, kwargs, workload=False)
