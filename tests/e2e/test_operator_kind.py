"""Opt-in: the same operator scenarios on a real cluster (kind, k3d, ...). Run with

    KUBECONFIG=~/.kube/config pytest -m kind tests/e2e/test_operator_kind.py

The operator runs locally (`kopf run` subprocess, as in the kmock suite) against the cluster in KUBECONFIG; the
GRPOJob CRD is applied from crds/grpojob.yaml when missing. Each test uses a fresh namespace (deleted after).
Unlike the emulator, the real Job controller and kubelet act: the trainer image does not exist, so the pod ends
in ImagePullBackOff, which the status must report. Needs permissions to create namespaces and CRDs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml

from grpo_api.constants import KUEUE_QUEUE_LABEL
from tests.harness.cluster import BASE_SPEC, Cluster, grpojob, unique
from tests.harness.operator_process import OperatorProcess, wait_for

pytestmark = [
    pytest.mark.kind,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="set KUBECONFIG to a disposable cluster (kind)"),
]

REPO = Path(__file__).resolve().parents[2]
T = 90  # a real cluster schedules pods and pulls images: slower than the emulator
IMAGE = "registry.invalid/grpo-trainer:does-not-exist"


@pytest.fixture(scope="module")
def api_client():
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=os.environ["KUBECONFIG"])
    ext = client.ApiextensionsV1Api(api)
    crd = yaml.safe_load((REPO / "crds" / "grpojob.yaml").read_text())
    try:
        ext.read_custom_resource_definition(crd["metadata"]["name"])
    except client.ApiException as e:
        if e.status != 404:
            raise
        ext.create_custom_resource_definition(crd)
        wait_for(lambda: any(c.type == "Established" and c.status == "True" for c in
                             ext.read_custom_resource_definition(crd["metadata"]["name"]).status.conditions or []),
                 60, "the CRD established")
    return api


@pytest.fixture(scope="module")
def operator(api_client, tmp_path_factory):
    op = OperatorProcess(Path(os.environ["KUBECONFIG"]), tmp_path_factory.mktemp("operator"),
                         env={"GRPO_TRAINER_IMAGE": IMAGE})
    op.start()
    yield op
    op.stop()


@pytest.fixture
def cluster(api_client, operator):
    from kubernetes import client

    ns = unique("grpo-e2e")
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": ns}})
    if not operator.running:
        operator.start()
    yield Cluster(api_client, ns)
    core.delete_namespace(ns)


def until(fn, what, operator, timeout=T):
    return wait_for(fn, timeout, what, operator, interval=0.5)


def test_create_runs_a_real_job_and_reports_image_pull_backoff(cluster, operator):
    created = cluster.create(grpojob("e2e", {**BASE_SPEC, "image": IMAGE}))
    job = until(lambda: cluster.job("e2e"), "the trainer Job", operator)
    assert job["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    assert cluster.configmap("e2e-config")["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    until(lambda: (cluster.condition("e2e", "Running") or {}).get("reason") == "ImagePullBackOff",
          "ImagePullBackOff reported from the real kubelet", operator, timeout=180)
    assert cluster.phase("e2e") == "Initializing"


def test_suspend_and_resume(cluster, operator):
    cluster.create(grpojob("susp", {**BASE_SPEC, "image": IMAGE}))
    first = until(lambda: cluster.job("susp"), "the trainer Job", operator)
    cluster.patch_spec("susp", {"suspend": True})
    until(lambda: cluster.phase("susp") == "Suspended" and cluster.job("susp") is None, "Suspended, Job gone",
          operator)
    cluster.patch_spec("susp", {"suspend": False})
    second = until(lambda: cluster.job("susp"), "the Job recreated", operator)
    assert second["metadata"]["uid"] != first["metadata"]["uid"]


def test_kueue_label_leaves_the_child_suspended(cluster, operator):
    cluster.create(grpojob("queued", {**BASE_SPEC, "image": IMAGE}, labels={KUEUE_QUEUE_LABEL: "lq"}))
    job = until(lambda: cluster.job("queued"), "the trainer Job", operator)
    assert job["spec"]["suspend"] is True
    until(lambda: cluster.phase("queued") == "Queued", "phase Queued", operator)
    time.sleep(3)
    assert cluster.job("queued")["spec"]["suspend"] is True


def test_invalid_specs(cluster, operator):
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as err:  # the CRD's schema (generated from the same models) rejects it
        cluster.create(grpojob("bad", {**BASE_SPEC, "grpo": {"rolloutN": 1}}))
    assert err.value.status == 422 and "rolloutN" in err.value.body
    cluster.create(grpojob("noreward", {**BASE_SPEC, "reward": {"configMapRef": {"name": "nope", "key": "r.py"}}}))
    until(lambda: (cluster.condition("noreward", "Valid") or {}).get("reason") == "RewardConfigMapNotFound",
          "RewardConfigMapNotFound", operator)
    assert cluster.phase("noreward") == "Failed" and cluster.job("noreward") is None


def test_delete_garbage_collects_children(cluster, operator):
    cluster.create(grpojob("gone", {**BASE_SPEC, "image": IMAGE}))
    until(lambda: cluster.job("gone"), "the trainer Job", operator)
    operator.kill()  # deletion must not need the operator (no finalizer)
    cluster.delete("gone")
    until(lambda: cluster.get("gone") is None, "the GRPOJob deleted with the operator down", None, timeout=30)
    until(lambda: cluster.children("gone") == {"ConfigMap": [], "Job": []}, "children garbage-collected", None)


def test_restarts_do_not_duplicate_children(cluster, operator):
    names = [f"r{i}" for i in range(5)]
    for i, n in enumerate(names):
        cluster.create(grpojob(n, {**BASE_SPEC, "image": IMAGE}))
        if i % 2 == 0:
            operator.kill()
            operator.start(wait=False)
    operator.wait_healthy()
    until(lambda: all(cluster.job(n) for n in names), "a Job for every GRPOJob", operator)
    for n in names:
        kids = cluster.children(n)
        assert len(kids["Job"]) == 1 and len(kids["ConfigMap"]) == 1
