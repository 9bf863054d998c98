"""kopf handlers: thin glue between kopf's watch events and the operator's `Controller` (controller.py).

Run with: kopf run --standalone -A -m grpo_operator.handlers --liveness=http://0.0.0.0:8080/healthz

- The startup handler configures kopf and creates the one `Controller` (API client, per-GRPOJob locks, status
  cache, expectations, retries, status queue, progress poller), kept in kopf's operator-wide `memo`; every
  handler below reaches it as `memo.controller`. The cleanup handler closes it.
- GRPOJob watch events (level-based, no kopf create/update/resume handlers): a GRPOJob seen for the first time
  (including the re-listing after a restart) or with a changed spec/labels/annotations is reconciled at once
  (the reconcile lane), then its status is synced (the status lane). Events that change none of these (e.g. our
  own status write) cost nothing. Failures are retried on a timer.
- Job/RayJob/pod events (server-side filtered by the `grpo.dev/grpojob` label) queue a status sync; a deleted
  workload is reconciled (it is recreated unless the run finished or is suspended). A deleted ConfigMap child
  (same label) is reconciled too, i.e. recreated, unless the run finished; its other events are ignored.
- In-memory kopf indices of the GRPOJobs and their children make lookups free; transitions (and their Events)
  are decided against the status the operator last wrote (after a restart: the stored one), once.
- kopf stores no per-object state (no progress/diffbase annotations: one API write and one watch event less
  per GRPOJob than with create/update handlers).
- A watch request answered 410 Gone re-lists and continues (kopf_watch.py); API calls answered 429 wait for the
  server's Retry-After (kube.py).
- No finalizer is ever added (no deletion handlers, no kopf timers or daemons): deleting a GRPOJob works while
  the operator is down and its children go through ownerReferences. The progress poller is a plain thread.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from grpo_api.constants import GROUP, LABEL_GRPOJOB, MANAGED_BY, PLURAL, VERSION

from . import kopf_watch, metrics
from .controller import INDEX_NAMES, Controller
from .kopf_storage import NoDiffBase
from .kube import Kube, load_configuration
from .operator_config import OperatorConfig

OWNED = {LABEL_GRPOJOB: kopf.PRESENT}
kopf_watch.install()  # an HTTP 410 on a watch request re-lists instead of stopping the operator


# --- start-up and clean-up ------------------------------------------------------------------------------------


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: logging.Logger,
                    **kwargs: Any) -> None:
    config = OperatorConfig.from_env()
    # Only event and index handlers: kopf keeps no per-object state (no progress/diff-base annotations, no
    # finalizer), and needs no deep copy of every event's body to diff it against one.
    settings.persistence.diffbase_storage = NoDiffBase()
    _quiet_event_handlers(logging.getLogger("kopf.objects"))
    settings.posting.level = logging.CRITICAL  # only the operator's explicit Events, not kopf's log lines
    settings.posting.reporting_component = MANAGED_BY
    settings.posting.event_name_prefix = "grpo-"
    settings.watching.server_timeout = int(config.watch_server_timeout_s)  # the API parses it as an integer
    settings.watching.client_timeout = config.watch_client_timeout_s
    for selector in (("batch", "jobs"), ("ray.io", "rayjobs"), ("", "v1", "pods"), ("", "v1", "configmaps")):
        settings.watching.label_selectors[selector] = LABEL_GRPOJOB  # only our children, server-side
    kube = Kube(load_configuration(), config.api_timeout_s, max_connections=config.workers)
    metrics.serve(config.metrics_port)
    # kopf passes its indices (still empty here, filled by the watch streams) to every handler, this one too.
    memo.controller = Controller(config, kube, {name: kwargs[name] for name in INDEX_NAMES})
    logger.info("grpo-operator configured: %s", config)


@kopf.on.cleanup()
async def stop_background_work(memo: kopf.Memo, **_: Any) -> None:
    if (controller := memo.get("controller")) is not None:
        await controller.close()


def _quiet_event_handlers(objects_log: logging.Logger) -> None:
    """No "Handler 'x' succeeded." line for every GRPOJob/child event (kopf's only INFO line per object here).

    At kopf's default INFO level the per-object logger is raised to WARNING (errors and retries still show; the
    operator logs its own reconcile problems); `kopf run --verbose/--debug` keeps everything.
    """
    if objects_log.getEffectiveLevel() == logging.INFO:
        objects_log.setLevel(logging.WARNING)


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


# --- watch events ---------------------------------------------------------------------------------------------


@kopf.on.event(GROUP, VERSION, PLURAL)
async def grpojob_event(type: str | None, namespace: str, name: str, body: kopf.Body, memo: kopf.Memo,
                        **_: Any) -> None:
    if type == "DELETED":
        memo.controller.grpojob_deleted(namespace, name)
    else:
        await memo.controller.grpojob_changed(namespace, name, _plain(body))


async def _workload_event(type: str | None, namespace: str, labels: dict[str, str], body: kopf.Body,
                          controller: Controller) -> None:
    if owner := labels.get(LABEL_GRPOJOB):
        meta = body.get("metadata", {})
        await controller.workload_changed(namespace, owner, meta.get("uid"), deleted=type == "DELETED",
                                          terminating=bool(meta.get("deletionTimestamp")))


@kopf.on.event("batch", "v1", "jobs", labels=OWNED)
async def job_event(type: str | None, namespace: str, labels: dict[str, str], body: kopf.Body, memo: kopf.Memo,
                    **_: Any) -> None:
    await _workload_event(type, namespace, labels, body, memo.controller)


@kopf.on.event("ray.io", "v1", "rayjobs", labels=OWNED)
async def rayjob_event(type: str | None, namespace: str, labels: dict[str, str], body: kopf.Body, memo: kopf.Memo,
                       **_: Any) -> None:
    await _workload_event(type, namespace, labels, body, memo.controller)


@kopf.on.event("", "v1", "configmaps", labels=OWNED)
async def configmap_event(type: str | None, namespace: str, labels: dict[str, str], body: kopf.Body,
                          memo: kopf.Memo, **_: Any) -> None:
    if type == "DELETED" and (owner := labels.get(LABEL_GRPOJOB)):
        await memo.controller.child_deleted(namespace, owner, _slim(body))


@kopf.on.event("", "v1", "pods", labels=OWNED)
async def pod_event(namespace: str, labels: dict[str, str], memo: kopf.Memo, **_: Any) -> None:
    if owner := labels.get(LABEL_GRPOJOB):
        memo.controller.pod_changed(namespace, owner)
