"""Pins the KubeRay RayJob builder where mutation testing found it unpinned: what a multi-node GRPOJob's fields
turn into in the RayJob a user reads with `kubectl get rayjob -o yaml` (the job-level limits, the worker group's
size, `ray start` flags, the head's ports and probes). Every variant also passes KubeRay's and Kueue's checks
(tests/kuberay_kueue.py) and, where ../shared/upstream-crds exists, the published RayJob CRD."""

from __future__ import annotations

import pytest

from grpo_api import constants as c
from grpo_api import parse_grpojob
from grpo_operator.builders import build_children
from tests import upstream_crds
from tests.kuberay_kueue import kuberay_errors, kueue_errors

UID = "6f1c2a9e-1111-4c2b-9a51-0123456789ab"
IMAGE = "registry.example/grpo-trainer:test"


def rayjob(nodes: int = 2, gpus: int = 1, labels: dict | None = None, **spec):
    body = {"model": {"path": "Qwen/Qwen2.5-0.5B-Instruct"}, "data": {"train": {"path": "embedded:math"}},
            "checkpoint": {"claimName": "shared"}, "resources": {"nodes": nodes, "gpusPerNode": gpus}}
    body.update(spec)
    meta = {"name": "pin", "namespace": "team-a", **({"labels": labels} if labels else {})}
    job = parse_grpojob({"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob", "metadata": meta, "spec": body})
    ray = build_children(job, uid=UID, image=IMAGE, namespace="team-a")[-1]
    assert ray["kind"] == "RayJob"
    assert kuberay_errors(ray) == []  # KubeRay's webhook/controller checks, restated in tests/kuberay_kueue.py
    if labels:
        assert kueue_errors(ray) == []
    if (upstream_crds.UPSTREAM_CRDS / upstream_crds.CRD_FILES["RayJob"]).is_file():
        assert upstream_crds.validate(ray) == []  # the published RayJob CRD's schema and CEL rules
    return ray


def head_of(ray):
    return ray["spec"]["rayClusterSpec"]["headGroupSpec"]


def workers_of(ray):
    (group,) = ray["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    return group


@pytest.mark.parametrize("nodes", [2, 4])
def test_one_head_and_nodes_minus_one_fixed_size_workers(nodes):
    w = workers_of(rayjob(nodes))
    assert w["groupName"] == "gpu-workers"
    assert (w["replicas"], w["minReplicas"], w["maxReplicas"]) == (nodes - 1,) * 3


@pytest.mark.parametrize("gpus", [1, 2])
def test_ray_start_flags_count_the_gpus_and_only_the_head_serves_the_dashboard(gpus):
    ray = rayjob(gpus=gpus)
    assert head_of(ray)["rayStartParams"] == {"num-gpus": str(gpus), "dashboard-host": "0.0.0.0"}
    assert workers_of(ray)["rayStartParams"] == {"num-gpus": str(gpus)}


def test_head_declares_rays_ports_and_the_metrics_port_without_a_readiness_probe():
    ray = rayjob()
    (head,) = head_of(ray)["template"]["spec"]["containers"]
    assert head["name"] == "ray-head"
    assert head["ports"] == [
        {"name": "gcs-server", "containerPort": 6379, "protocol": "TCP"},
        {"name": "dashboard", "containerPort": 8265, "protocol": "TCP"},
        {"name": "client", "containerPort": 10001, "protocol": "TCP"},
        {"name": c.TRAINER_METRICS_PORT_NAME, "containerPort": c.TRAINER_METRICS_PORT, "protocol": "TCP"},
    ]
    # the exporter listens only once the driver runs: a probe on it would hold the head unready before that
    assert "readinessProbe" not in head and "livenessProbe" not in head
    (worker,) = workers_of(ray)["template"]["spec"]["containers"]
    assert worker["name"] == "ray-worker"
    assert "ports" not in worker and "readinessProbe" not in worker


def test_job_level_fields():
    s = rayjob()["spec"]
    assert s["submissionMode"] == "SidecarMode" and s["shutdownAfterJobFinishes"] is True
    assert s["suspend"] is False
    assert "activeDeadlineSeconds" not in s
    assert s["ttlSecondsAfterFinished"] == 0
    assert s["entrypoint"] == "tini -s -- python -m trainer_entry --config /etc/grpo/config/job.json"
    s = rayjob(activeDeadlineSeconds=1, backoffLimit=0, ttlSecondsAfterFinished=7)["spec"]
    assert (s["activeDeadlineSeconds"], s["backoffLimit"], s["ttlSecondsAfterFinished"]) == (1, 0, 0)
    assert rayjob(backoffLimit=5)["spec"]["backoffLimit"] == 5


def test_suspend_and_the_kueue_queue_label():
    plain = rayjob()
    assert plain["spec"]["suspend"] is False and c.KUEUE_QUEUE_LABEL not in plain["metadata"]["labels"]
    assert rayjob(suspend=True)["spec"]["suspend"] is True
    queued = rayjob(labels={c.KUEUE_QUEUE_LABEL: "q"})
    assert queued["spec"]["suspend"] is True and queued["metadata"]["labels"][c.KUEUE_QUEUE_LABEL] == "q"
    assert queued["metadata"]["name"] == "pin" and queued["apiVersion"] == "ray.io/v1"
