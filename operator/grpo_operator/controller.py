"""The operator's one stateful object: created by the startup handler and kept in kopf's `memo`.

`Controller` owns the API client, the `Reconciler` (per-GRPOJob locks, status cache, expectations), the
reconcile lane's concurrency limit and retry timers, the status lane's queue and workers, the phase metrics and
the progress poller. The kopf handlers (handlers.py) only translate watch events into its methods.

GRPOJobs are handled level-based from their watch events (no kopf create/update/resume handlers): kopf then keeps
no per-object state, so it writes no progress/diffbase annotations (one API write and one watch event less per
GRPOJob). The operator's restart re-lists every GRPOJob: each gets a full reconcile.

- The reconcile lane: a GRPOJob whose spec, labels or annotations changed (or that is new), or whose workload
  was deleted, gets `Reconciler.ensure_children` at once (at most `workers` at a time, in arrival order).
  Failures are retried by `_schedule`.
- The status lane: every GRPOJob that was reconciled or whose children changed is put on a deduplicating
  queue; `STATUS_WORKERS` consumers derive and write its status (`Reconciler.sync_status`). While the reconcile
  lane is busy the queue holds keys for up to `STATUS_HOLD_S`, so under a burst of new GRPOJobs the Jobs are
  created first and the status writes and Events follow (as a Kubernetes controller batches status updates).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any

from grpo_api.constants import API_VERSION, KIND
from grpo_api.status import TERMINAL_PHASES

from . import metrics, status_derive
from .children import ChildConflict
from .children import owned_by as children_owned_by
from .kube import Kube, retry_after_s
from .operator_config import OperatorConfig
from .progress import ProgressPoller
from .reconciler import Key, Reconciler, now, reconciled_state
from .workqueue import KeyQueue

log = logging.getLogger(__name__)

STATUS_WORKERS = 4
STATUS_HOLD_S = 1.0
CONFLICT_RETRY_S = 5.0  # a child's name is taken by an object of another owner: wait for it to go
INDEX_NAMES = ("grpojobs", "grpo_jobs", "grpo_rayjobs", "grpo_pods")


def _pod_ip(pods: list[dict[str, Any]]) -> str | None:
    for pod in sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True):
        status = pod.get("status") or {}
        if status.get("phase") == "Running" and status.get("podIP"):
            return status["podIP"]
    return None


class Controller:
    """Create it inside kopf's event loop (the startup handler); `close()` it in the cleanup handler.

    `indices` maps INDEX_NAMES to kopf's in-memory indices (GRPOJobs and their children by (namespace, GRPOJob)).
    """

    def __init__(self, config: OperatorConfig, kube: Kube, indices: Mapping[str, Any]):
        self.config, self.kube = config, kube
        self.indices = {name: indices[name] for name in INDEX_NAMES}
        self.loop = asyncio.get_running_loop()
        self.phases = metrics.PhaseGauge()
        self.reconciler = Reconciler(kube, track=self._track, network_policy=config.network_policy,
                                     pod_defaults=config.trainer_pod_defaults)
        self.reconcile_slots = asyncio.Semaphore(config.workers)  # like controller-runtime's MaxConcurrentReconciles
        self.reconciling = 0  # ensure_children calls queued or running
        self.synced: dict[Key, tuple] = {}  # what the last successful ensure_children reconciled, per GRPOJob
        # What a reconcile is running or waiting to be retried for, per GRPOJob: another event of the same state
        # (e.g. of the Pending status written meanwhile) adds no attempt; the retry timer owns the next one.
        self.attempting: dict[Key, tuple] = {}
        self.retries: dict[Key, asyncio.TimerHandle] = {}
        self.expiries: dict[Key, asyncio.TimerHandle] = {}  # spec.ttlSecondsAfterFinished of finished GRPOJobs
        self.tasks: set[asyncio.Task] = set()  # asyncio keeps only weak references to running tasks
        self.status_queue = KeyQueue(busy=lambda: self.reconciling > 0, max_hold_s=STATUS_HOLD_S)
        self.status_workers: list[asyncio.Task] = []  # started by the first `_queue_status`
        self.poller = ProgressPoller(url_for=config.metrics_url, now=now, interval_s=config.progress_interval_s,
                                     timeout_s=config.progress_timeout_s, write=self._write_progress).start()

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for handle in [*self.retries.values(), *self.expiries.values()]:
            handle.cancel()
        await asyncio.to_thread(self.poller.stop)
        await self.kube.close()

    # --- watch events ------------------------------------------------------------------------------------------

    async def grpojob_changed(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        """A GRPOJob was added or modified (`body`: as the watch shows it)."""
        if body["metadata"].get("deletionTimestamp"):
            return
        # Already reconciled (e.g. the event of our own status write): nothing to do. The status depends only on
        # what was reconciled and on the children, whose own events update it.
        state = reconciled_state(body)
        if state not in (self.synced.get((namespace, name)), self.attempting.get((namespace, name))):
            await self._reconcile(namespace, name, self._workloads((namespace, name)), body)

    def grpojob_deleted(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        self.phases.forget(namespace, name)
        self.reconciler.forget(key)
        self.synced.pop(key, None)
        self.attempting.pop(key, None)
        self.status_queue.discard(key)
        for timers in (self.retries, self.expiries):
            if (handle := timers.pop(key, None)) is not None:
                handle.cancel()
        self.poller.forget(namespace, name)

    async def workload_changed(self, namespace: str, owner: str, uid: str | None, *, deleted: bool,
                               terminating: bool) -> None:
        """A Job/RayJob of GRPOJob `owner` was added, modified or deleted."""
        key = (namespace, owner)
        self.reconciler.expectations.observed(key, uid, gone=deleted or terminating)
        if deleted:  # recreated unless the run finished or is suspended
            await self._reconcile(namespace, owner, self._workloads(key), self._grpojob(key))
            return
        self._queue_status(key)

    def pod_changed(self, namespace: str, owner: str) -> None:
        self._queue_status((namespace, owner))

    async def child_deleted(self, namespace: str, owner: str, child: dict[str, Any]) -> None:
        """A ConfigMap (or other non-workload child) of GRPOJob `owner` was deleted: recreate it unless the
        GRPOJob finished or is gone (a replacement pod would otherwise hang on the missing mount)."""
        key = (namespace, owner)
        body = self._grpojob(key)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return  # the GRPOJob itself was deleted: its children are being garbage-collected
        if not children_owned_by(child, body["metadata"]["uid"]):
            return  # a namesake's leftover
        status = body.get("status") or {}
        if status.get("completionTime") and status.get("phase") in TERMINAL_PHASES:
            return
        meta = child.get("metadata") or {}
        log.info("[%s/%s] %s %s was deleted: restoring it", namespace, owner, child.get("kind"), meta.get("name"))
        await self._reconcile(namespace, owner, self._workloads(key), body)

    # --- the reconcile lane ------------------------------------------------------------------------------------

    async def _reconcile(self, namespace: str, name: str, workloads: list[dict], known: dict[str, Any] | None) -> None:
        self.reconciling += 1
        if known is not None:
            self.attempting[(namespace, name)] = reconciled_state(known)
        try:
            async with self.reconcile_slots:
                delay = await self._ensure_children(namespace, name, workloads, known)
        finally:
            self.reconciling -= 1
            if self.reconciling == 0:
                self.status_queue.wake()
        self._queue_status((namespace, name))
        if delay is not None:
            self._schedule(namespace, name, delay)

    async def _ensure_children(self, namespace: str, name: str, workloads: list[dict],
                               known: dict[str, Any] | None) -> float | None:
        """One reconcile; returns the delay before a retry, or None when none is needed."""
        if known is not None and self._deleted_meanwhile((namespace, name), known):
            return None
        try:
            with metrics.observe("grpojob", retry=(ChildConflict,)):
                obs = await self.reconciler.ensure_children(namespace, name, workloads=workloads, known=known)
        except ChildConflict as e:  # a name conflict: nothing reconciled yet
            log.info("[%s/%s] reconcile will be retried in %.1fs: %s", namespace, name, CONFLICT_RETRY_S, e)
            return CONFLICT_RETRY_S
        except Exception as e:  # an API error: retried after the handler backoff (or the server's Retry-After)
            delay = self._backoff(e)
            log.warning("[%s/%s] reconcile failed, retrying in %.1fs: %r", namespace, name, delay, e)
            return delay
        if known is not None:
            self.synced[(namespace, name)] = reconciled_state(known)
            if self.attempting.get((namespace, name)) == self.synced[(namespace, name)]:
                del self.attempting[(namespace, name)]
        if obs is not None and obs.missing_refs:
            # The status lane reports it (Failed, one Event); re-check slowly in case the object appears.
            log.info("[%s/%s] re-checking in %.0fs: %s", namespace, name, self.config.missing_ref_retry_s,
                     "; ".join(message for _, message in obs.missing_refs))
            return self.config.missing_ref_retry_s
        return None

    def _schedule(self, namespace: str, name: str, delay: float) -> None:
        """Run a full reconcile again after `delay` seconds (one pending retry per GRPOJob; a newer one replaces it)."""
        key = (namespace, name)
        self._set_timer(self.retries, key, delay, lambda: self._retry(namespace, name))

    async def _retry(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        self.retries.pop(key, None)
        if (known := self._grpojob(key)) is None:  # deleted meanwhile
            return
        await self._reconcile(namespace, name, self._workloads(key), known)

    # --- the status lane ---------------------------------------------------------------------------------------

    def _queue_status(self, key: Key) -> None:
        if not self.status_workers:
            # Started from a watch event's handler, not at start-up: the workers' tasks then inherit kopf's
            # per-event context, which `kopf.event` (posting the transition Events) needs.
            self.status_workers = [self._spawn(self._status_worker()) for _ in range(STATUS_WORKERS)]
        self.status_queue.add(key)

    async def _status_worker(self) -> None:
        queue = self.status_queue
        while True:
            key = await queue.get()
            try:
                await self._sync_status(*key)
            except Exception as e:  # e.g. a failed status write
                delay = self._backoff(e)
                log.warning("[%s/%s] status sync failed, retrying in %.1fs: %r", *key, delay, e)
                self.loop.call_later(delay, queue.add, key)
            finally:
                queue.done(key)

    async def _sync_status(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        workloads, pods, known = self._workloads(key), self._pods(key), self._grpojob(key)
        # Most child events change nothing in the GRPOJob's status: decide that without an API call. A reconcile
        # running for this GRPOJob may change what exists: never skip behind it. The event of a child this operator
        # just created (or of any state a status was already derived from) is recognised by the objects' versions,
        # without parsing the spec.
        r = self.reconciler
        if known is not None and not r.busy(key) and (
                r.already_derived(namespace, name, known, workloads, pods)
                or await r.status_settled(namespace, name, known, workloads, pods)):
            status = known.get("status")
        else:
            with metrics.observe("status"):
                status = await r.sync_status(namespace, name, workloads=workloads, pods=pods, known=known)
        if status is not None and known is not None:
            self._schedule_expiry(key, known.get("spec") or {}, status)

    # --- ttlSecondsAfterFinished ---------------------------------------------------------------------------------

    def _schedule_expiry(self, key: Key, spec: dict[str, Any], status: dict[str, Any]) -> None:
        """A finished GRPOJob with a TTL is deleted that many seconds after its completionTime (its children go
        with it through their ownerReferences), for one node and N nodes alike. At start-up every GRPOJob's status
        is synced once, so finished ones get their timer again after an operator restart."""
        remaining = status_derive.ttl_remaining(spec, status, datetime.now(UTC))
        self._set_timer(self.expiries, key, None if remaining is None else max(remaining, 0.0),
                        lambda: self._expire(*key))

    async def _expire(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        self.expiries.pop(key, None)
        body = self._grpojob(key)
        if body is None:
            return
        remaining = status_derive.ttl_remaining(body.get("spec") or {}, body.get("status"), datetime.now(UTC))
        if remaining is None:  # e.g. the TTL was removed, or the status not written yet
            return
        if remaining > 0:
            self._schedule_expiry(key, body.get("spec") or {}, body.get("status") or {})
            return
        log.info("[%s/%s] ttlSecondsAfterFinished (%s s) has passed since completion: deleting the GRPOJob",
                 namespace, name, body["spec"].get("ttlSecondsAfterFinished"))
        try:
            await self.kube.delete(API_VERSION, KIND, namespace, name)
        except Exception as e:  # retried like a failed reconcile
            log.warning("[%s/%s] TTL deletion failed, retrying in %.1fs: %r", namespace, name,
                        self.config.retry_backoff_s, e)
            self._set_timer(self.expiries, key, self.config.retry_backoff_s, lambda: self._expire(namespace, name))

    def _track(self, namespace: str, name: str, status: dict[str, Any], obs: status_derive.Observed) -> None:
        self.phases.set(namespace, name, status["phase"])
        self.poller.track(namespace, name, _pod_ip(obs.pods) if status["phase"] == "Running" else None)

    def _write_progress(self, namespace: str, name: str, patch: dict[str, Any]) -> None:  # the poller's thread
        write = self.kube.patch(API_VERSION, KIND, namespace, name, {"status": patch}, "status")
        asyncio.run_coroutine_threadsafe(write, self.loop).result(self.config.api_timeout_s + 5)

    # --- helpers -----------------------------------------------------------------------------------------------

    def _deleted_meanwhile(self, key: Key, known: dict[str, Any]) -> bool:
        """Whether the watch showed the GRPOJob deleted (or replaced) since this reconcile was queued: a burst of
        create/delete must not write children for GRPOJobs that are already gone."""
        current = self._grpojob(key)
        return current is None or current["metadata"].get("uid") != known["metadata"].get("uid")

    def _backoff(self, error: BaseException) -> float:
        """The delay before retrying after `error`: the handler backoff, or longer when the server said so."""
        return max(self.config.retry_backoff_s, retry_after_s(error) or 0.0)

    def _set_timer(self, timers: dict[Key, asyncio.TimerHandle], key: Key, delay: float | None,
                   coro: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """One pending timer per GRPOJob in `timers`: a newer one replaces it; delay None only cancels."""
        if (old := timers.pop(key, None)) is not None:
            old.cancel()
        if delay is not None:
            timers[key] = self.loop.call_later(delay, lambda: self._spawn(coro()))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def _grpojob(self, key: Key) -> dict[str, Any] | None:
        return next(iter(self.indices["grpojobs"].get(key, [])), None)

    def _workloads(self, key: Key) -> list[dict]:
        return list(self.indices["grpo_jobs"].get(key, [])) + list(self.indices["grpo_rayjobs"].get(key, []))

    def _pods(self, key: Key) -> list[dict]:
        return list(self.indices["grpo_pods"].get(key, []))
