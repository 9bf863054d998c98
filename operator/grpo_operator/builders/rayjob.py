"""The KubeRay ray.io/v1 RayJob that runs a multi-node GRPOJob (nodes > 1).

KubeRay creates a RayCluster (one head + nodes-1 workers, a GPU node each), injects the submitter as a
sidecar of the head pod (SidecarMode) and runs the entrypoint as a Ray job driver on the head, where the
trainer's metrics exporter listens. Ray containers get no command: KubeRay starts `ray start` there with
`rayStartParams`. num-cpus is never passed: KubeRay derives it from the container's CPU limit (3 per GPU + 9
by default, what verl needs).

The Ray cluster (every GPU pod) is deleted as soon as the job ends: `shutdownAfterJobFinishes` with
`ttlSecondsAfterFinished: 0`. KubeRay's TTL only delays deleting the RayCluster and never deletes the RayJob
(rayjob_controller.go, handleShutdownAfterJobFinishes), so the GRPOJob's own TTL is not copied here: it
deletes the GRPOJob, and the RayJob with it, as for a one-node Job (status_derive.ttl_remaining).
"""

import shlex
from typing import Any

from grpo_api import GRPOJob

from .common import COMPONENT_TRAINER, is_suspended, object_meta, workload_name
from .pod import pod_template, trainer_command, trainer_container

RAY_API_VERSION = "ray.io/v1"
HEAD_CONTAINER = "ray-head"
WORKER_CONTAINER = "ray-worker"
WORKER_GROUP = "gpu-workers"  # Kueue reserves the PodSet name `head`
# Seconds KubeRay waits after the job ends before deleting the Ray cluster: none, the GPUs are free at once.
RAY_CLUSTER_TTL_SECONDS = 0
# The head's Ray ports (KubeRay's defaults, declared so the head Service exposes them by name).
HEAD_PORTS = [
    {"name": "gcs-server", "containerPort": 6379, "protocol": "TCP"},
    {"name": "dashboard", "containerPort": 8265, "protocol": "TCP"},
    {"name": "client", "containerPort": 10001, "protocol": "TCP"},
]


def ray_start_params(job: GRPOJob, *, head: bool) -> dict[str, str]:
    """`ray start` flags (string values). num-gpus is explicit so any GPU resource name is counted."""
    params = {"num-gpus": str(job.spec.resources.gpus_per_node)}
    if head:
        params["dashboard-host"] = "0.0.0.0"
    return params


def entrypoint() -> str:
    return shlex.join(trainer_command())


def build_rayjob(job: GRPOJob, *, uid: str, image: str, namespace: str) -> dict[str, Any]:
    spec = job.spec
    workers = spec.resources.nodes - 1
    head = trainer_container(job, image=image, namespace=namespace, name=HEAD_CONTAINER,
                             readiness=False, extra_ports=HEAD_PORTS)
    worker = trainer_container(job, image=image, namespace=namespace, name=WORKER_CONTAINER,
                               metrics_port=False, readiness=False)
    ray_spec: dict[str, Any] = {
        "entrypoint": entrypoint(),
        "submissionMode": "SidecarMode",
        "shutdownAfterJobFinishes": True,  # also required by Kueue and by KubeRay for suspend
        "suspend": is_suspended(job),
        "backoffLimit": spec.backoff_limit,
    }
    if spec.active_deadline_seconds is not None:
        ray_spec["activeDeadlineSeconds"] = spec.active_deadline_seconds
    ray_spec["ttlSecondsAfterFinished"] = RAY_CLUSTER_TTL_SECONDS
    ray_spec["rayClusterSpec"] = {
        "headGroupSpec": {
            "rayStartParams": ray_start_params(job, head=True),
            # SidecarMode needs the head pod's restartPolicy to be Never.
            "template": pod_template(job, containers=[head], restart_policy="Never"),
        },
        "workerGroupSpecs": [{
            "groupName": WORKER_GROUP,
            "replicas": workers,
            "minReplicas": workers,
            "maxReplicas": workers,
            "rayStartParams": ray_start_params(job, head=False),
            "template": pod_template(job, containers=[worker]),
        }],
    }
    return {
        "apiVersion": RAY_API_VERSION,
        "kind": "RayJob",
        "metadata": object_meta(job, name=workload_name(job), namespace=namespace, uid=uid,
                                component=COMPONENT_TRAINER, queue_label=True),
        "spec": ray_spec,
    }
