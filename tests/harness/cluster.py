"""Test-side view of a cluster (the emulator or a real one) through the kubernetes python client.

Everything goes over HTTP like kubectl would; results are plain dicts.
"""

from __future__ import annotations

import copy
import datetime
import uuid
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from grpo_api.constants import GROUP, LABEL_GRPOJOB, PLURAL, VERSION

BASE_SPEC: dict[str, Any] = {
    "model": {"path": "Qwen/Qwen2.5-0.5B-Instruct"},
    "data": {"train": {"path": "/data/train.json"}},
}


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def grpojob(name: str, spec: dict[str, Any] | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "GRPOJob", "metadata": {"name": name},
            "spec": copy.deepcopy(spec if spec is not None else BASE_SPEC)}
    if labels:
        body["metadata"]["labels"] = labels
    return body


def _dict(api: client.ApiClient, obj: Any) -> dict[str, Any]:
    return api.sanitize_for_serialization(obj)


def _or_none(read: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """The object `read` returns, or None when the API answers 404 NotFound."""
    try:
        return read()
    except ApiException as e:
        if e.status == 404:
            return None
        raise


class Cluster:
    def __init__(self, api_client: client.ApiClient, namespace: str):
        self.api = api_client
        self.ns = namespace
        self.core = client.CoreV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)

    # --- GRPOJobs ---------------------------------------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, body)

    def get(self, name: str) -> dict[str, Any] | None:
        return _or_none(lambda: self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name))

    def status(self, name: str) -> dict[str, Any]:
        return (self.get(name) or {}).get("status") or {}

    def phase(self, name: str) -> str | None:
        return self.status(name).get("phase")

    def condition(self, name: str, ctype: str) -> dict[str, Any] | None:
        return next((c for c in self.status(name).get("conditions") or [] if c["type"] == ctype), None)

    def patch_spec(self, name: str, spec_patch: dict[str, Any]) -> dict[str, Any]:
        return self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name,
                                                          {"spec": spec_patch})

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name)

    # --- children ---------------------------------------------------------------------------------------------

    def job(self, name: str) -> dict[str, Any] | None:
        return _or_none(lambda: _dict(self.api, self.batch.read_namespaced_job(name, self.ns)))

    def rayjob(self, name: str) -> dict[str, Any] | None:
        return _or_none(lambda: self.custom.get_namespaced_custom_object("ray.io", "v1", self.ns, "rayjobs", name))

    def configmap(self, name: str) -> dict[str, Any] | None:
        return _or_none(lambda: _dict(self.api, self.core.read_namespaced_config_map(name, self.ns)))

    def children(self, owner: str) -> dict[str, list[dict[str, Any]]]:
        """Every object labelled as a child of `owner`, by kind."""
        sel = f"{LABEL_GRPOJOB}={owner}"
        return {
            "ConfigMap": [_dict(self.api, o) for o in self.core.list_namespaced_config_map(self.ns, label_selector=sel).items],
            "Job": [_dict(self.api, o) for o in self.batch.list_namespaced_job(self.ns, label_selector=sel).items],
        }

    def patch_job_status(self, name: str, status: dict[str, Any]) -> None:
        self.batch.patch_namespaced_job_status(name, self.ns, {"status": status})

    def patch_job(self, name: str, patch: dict[str, Any]) -> None:
        self.batch.patch_namespaced_job(name, self.ns, patch)

    def create_pod(self, owner: str, pod_name: str, status: dict[str, Any], job_uid: str | None = None) -> dict:
        """A trainer pod as the Job controller would create it (then its status, as the kubelet would)."""
        meta: dict[str, Any] = {"name": pod_name, "labels": {LABEL_GRPOJOB: owner, "batch.kubernetes.io/job-name": owner}}
        if job_uid:
            meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": owner, "uid": job_uid,
                                        "controller": True}]
        self.core.create_namespaced_pod(self.ns, {"metadata": meta, "spec": {
            "restartPolicy": "Never", "containers": [{"name": "trainer", "image": "trainer"}]}})
        return _dict(self.api, self.core.patch_namespaced_pod_status(pod_name, self.ns, {"status": status}))

    def patch_pod_status(self, pod_name: str, status: dict[str, Any]) -> None:
        self.core.patch_namespaced_pod_status(pod_name, self.ns, {"status": status})

    def events(self, name: str) -> list[dict[str, Any]]:
        items = self.core.list_namespaced_event(self.ns, field_selector=f"involvedObject.name={name}").items
        return [{"type": e.type, "reason": e.reason, "message": e.message} for e in items
                if e.involved_object.kind == "GRPOJob"]

    def create_configmap(self, name: str, data: dict[str, str]) -> None:
        self.core.create_namespaced_config_map(self.ns, {"metadata": {"name": name}, "data": data})

    def create_secret(self, name: str, data: dict[str, str]) -> None:
        self.core.create_namespaced_secret(self.ns, {"metadata": {"name": name}, "stringData": data})


def container_status(state: dict[str, Any], ready: bool = False) -> dict[str, Any]:
    """A complete containerStatuses item for the trainer container (as the kubelet reports it)."""
    return {"name": "trainer", "image": "trainer", "imageID": "", "restartCount": 0, "ready": ready,
            "state": state}


def running_pod_status(ip: str = "127.0.0.1") -> dict[str, Any]:
    return {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [container_status({"running": {"startedAt": now()}}, ready=True)]}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"
