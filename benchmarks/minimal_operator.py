"""The baseline for operator_bench.py: the smallest kopf operator that creates one batch/v1 Job per GRPOJob.

Same kopf, same kubernetes client, same standalone/cluster-wide mode as the real operator; no validation,
no ConfigMaps, no status, no Events. Run: kopf run --standalone -A -m benchmarks.minimal_operator
"""

from typing import Any

import kopf
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

_api: dict[str, client.BatchV1Api] = {}


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.level = 50  # no log-to-Event posting, like the real operator
    config.load_kube_config()
    _api["batch"] = client.BatchV1Api()


@kopf.on.create("grpo.dev", "v1alpha1", "grpojobs")
def create_job(name: str, namespace: str, uid: str, **_: Any) -> None:
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "ownerReferences": [{"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob",
                                                        "name": name, "uid": uid, "controller": True}]},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
                                       "containers": [{"name": "trainer", "image": "busybox"}]}}},
    }
    try:
        _api["batch"].create_namespaced_job(namespace, job)
    except ApiException as e:
        if e.status != 409:
            raise
