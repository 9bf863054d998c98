"""The real operator process (`kopf run ... -m grpo_operator.handlers`) against the kmock-based API emulator.

Everything crosses real HTTP: the tests drive the emulator with the kubernetes client (as kubectl would) and
simulate the Job controller and kubelet by patching Job/pod status; the operator reacts through its watches.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from grpo_api.constants import KUEUE_QUEUE_LABEL, LABEL_GRPOJOB
from tests.harness.cluster import (
    BASE_SPEC,
    Cluster,
    container_status,
    grpojob,
    now,
    running_pod_status,
    unique,
)
from tests.harness.operator_process import OperatorProcess, free_port, wait_for
from tests.harness.server import EmulatorServer

T = 20  # seconds for any single expected reaction (normally well under 1 s)


@pytest.fixture(scope="module")
def exporter(tmp_path_factory):
    """The trainer's real Prometheus exporter, fed a verl-format JSONL file and a checkpoint folder."""
    from trainer_entry.exporter import Exporter

    root = tmp_path_factory.mktemp("trainer")
    metrics = root / "metrics.jsonl"
    metrics.write_text("")
    (root / "checkpoints" / "global_step_5").mkdir(parents=True)
    (root / "checkpoints" / "latest_checkpointed_iteration.txt").write_text("5")
    exp = Exporter(metrics, engine="verl", model="Qwen/Qwen2.5-0.5B-Instruct", checkpoint_dir=root / "checkpoints",
                   total_steps=100, interval_s=0.2).start(port=free_port(), addr="127.0.0.1")
    exp.metrics_file = metrics
    yield exp
    exp.stop()


@pytest.fixture(scope="module")
def api():
    with EmulatorServer() as server:
        yield server


@pytest.fixture(scope="module")
def operator(api, exporter, tmp_path_factory):
    op = OperatorProcess(api.kubeconfig, tmp_path_factory.mktemp("operator"),
                         env={"GRPO_PROGRESS_URL": f"http://{{pod_ip}}:{exporter.port}/metrics"})
    op.start()
    yield op
    op.stop()


@pytest.fixture
def cluster(api, operator, request):
    if not operator.running:
        operator.start()
    return Cluster(api.client(), namespace=unique(re.sub(r"[^a-z0-9]+", "-", request.node.name[5:25].lower()).strip("-")))


def until(fn, what, operator, timeout=T):
    return wait_for(fn, timeout, what, operator)


def writes_to(api, plural, ns, name=None, action=None):
    return [w for w in api.emulator.writes if w[2] == plural and w[3] == ns and name in (None, w[4])
            and action in (None, w[1])]


# --- create, children, status ------------------------------------------------------------------------------


def test_create_makes_owned_children_and_status(cluster, operator, api):
    name = "math"
    spec = {**BASE_SPEC, "reward": {"inline": "def compute_score(data_source, solution_str, ground_truth, "
                                              "extra_info=None):\n    return 1.0\n"}}
    created = cluster.create(grpojob(name, spec))
    uid = created["metadata"]["uid"]

    job = until(lambda: cluster.job(name), "the trainer Job", operator)
    config = cluster.configmap(f"{name}-config")
    reward = cluster.configmap(f"{name}-reward")
    for child in (job, config, reward):
        refs = child["metadata"]["ownerReferences"]
        assert refs == [{"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob", "name": name, "uid": uid,
                         "controller": True, "blockOwnerDeletion": True}]
        assert child["metadata"]["labels"][LABEL_GRPOJOB] == name
    assert json.loads(config["data"]["job.json"])["spec"]["grpo"]["rolloutN"] == 5
    assert "compute_score" in reward["data"]["reward.py"]

    st = until(lambda: cluster.status(name).get("phase") == "Initializing" and cluster.status(name),
               "phase Initializing", operator)
    assert st["observedGeneration"] == 1
    assert st["children"] == {"configMap": f"{name}-config", "rewardConfigMap": f"{name}-reward", "job": name}
    assert {c["type"]: c["status"] for c in st["conditions"]}["Valid"] == "True"
    assert st["startTime"] and "completionTime" not in st
    assert not cluster.get(name)["metadata"].get("finalizers"), "no finalizer may block deletion"
    events = until(lambda: cluster.events(name), "an Event", operator)
    assert events[0]["reason"] == "Initializing" and events[0]["type"] == "Normal"


def test_progression_running_to_succeeded_with_progress_and_metrics(cluster, operator, exporter):
    name = "prog"
    cluster.create(grpojob(name))
    job = until(lambda: cluster.job(name), "the trainer Job", operator)
    cluster.patch_job_status(name, {"active": 1, "ready": 0, "startTime": now()})
    cluster.create_pod(name, f"{name}-abcde", running_pod_status("127.0.0.1"), job["metadata"]["uid"])
    cluster.patch_job_status(name, {"active": 1, "ready": 1})
    until(lambda: cluster.phase(name) == "Running", "phase Running", operator)

    # the trainer writes a verl file-logger line; the real exporter serves it; the operator scrapes it
    exporter.metrics_file.write_text(json.dumps({"step": 7, "data": {
        "training/global_step": 7, "training/epoch": 1, "critic/rewards/mean": 0.42, "actor/kl_loss": 0.013}}) + "\n")
    st = until(lambda: (cluster.status(name).get("progress") or {}).get("globalStep") == 7 and cluster.status(name),
               "progress from the trainer's metrics endpoint", operator)
    assert st["progress"]["rewardMean"] == pytest.approx(0.42)
    assert st["progress"]["klLoss"] == pytest.approx(0.013)
    assert st["progress"]["totalSteps"] == 100
    assert st["lastCheckpoint"]["step"] == 5
    assert st["lastCheckpoint"]["path"].endswith("/checkpoints/global_step_5")

    metrics = operator.metrics_text()
    assert f'grpo_operator_grpojob_phase{{grpojob="{name}",grpojob_namespace="{cluster.ns}",phase="Running"}} 1.0' in metrics
    assert f'grpo_operator_grpojob_phase{{grpojob="{name}",grpojob_namespace="{cluster.ns}",phase="Pending"}} 0.0' in metrics
    assert 'grpo_operator_reconcile_total{controller="grpojob",result="success"}' in metrics

    cluster.patch_job_status(name, {"active": 0, "ready": 0, "succeeded": 1, "completionTime": now(), "conditions": [
        {"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]})
    st = until(lambda: cluster.phase(name) == "Succeeded" and cluster.status(name), "phase Succeeded", operator)
    assert st["completionTime"]
    reasons = [e["reason"] for e in cluster.events(name)]
    assert reasons == ["Initializing", "Running", "Succeeded"]


@pytest.mark.parametrize("condition, exit_code, reason", [
    ({"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}, 1, "BackoffLimitExceeded"),
    ({"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}, None, "DeadlineExceeded"),
    ({"type": "Failed", "status": "True", "reason": "PodFailurePolicy", "message": "Container trainer for pod x failed with exit code 4 matching FailJob rule at index 1"}, 4, "RewardError"),
    ({"type": "Failed", "status": "True", "reason": "PodFailurePolicy", "message": "Container trainer for pod x failed with exit code 2 matching FailJob rule at index 1"}, 2, "ConfigError"),
])
def test_failure_reasons(cluster, operator, condition, exit_code, reason):
    name = "fail"
    cluster.create(grpojob(name))
    job = until(lambda: cluster.job(name), "the trainer Job", operator)
    if exit_code is not None:
        cluster.create_pod(name, f"{name}-pod", {"phase": "Failed", "containerStatuses": [container_status({
            "terminated": {"exitCode": exit_code, "reason": "Error"}})]}, job["metadata"]["uid"])
    cluster.patch_job_status(name, {"active": 0, "failed": 1, "conditions": [condition]})
    until(lambda: cluster.phase(name) == "Failed", "phase Failed", operator)
    failed = cluster.condition(name, "Failed")
    assert failed["status"] == "True" and failed["reason"] == reason
    assert cluster.condition(name, "Valid")["status"] == "True"
    assert cluster.status(name)["completionTime"]
    warnings = until(lambda: [e for e in cluster.events(name) if e["type"] == "Warning"], "a Warning Event", operator)
    assert warnings[-1]["reason"] == reason


def test_data_error_says_file_row_and_field(cluster, operator):
    """The trainer's termination message (its pod's state.terminated.message) is the Failed condition's why."""
    name = "baddata"
    cluster.create(grpojob(name))
    job = until(lambda: cluster.job(name), "the trainer Job", operator)
    message = ("exit_code=3\nfinal_step=none\nlast_reward_mean=none\ncheckpoint=none\n"
               "reason=data: /data/train.json: row 3: field 'prompt': must be a string\n")
    cluster.create_pod(name, f"{name}-pod", {"phase": "Failed", "containerStatuses": [container_status({
        "terminated": {"exitCode": 3, "reason": "Error", "message": message}})]}, job["metadata"]["uid"])
    cluster.patch_job_status(name, {"active": 0, "failed": 1, "conditions": [{
        "type": "Failed", "status": "True", "reason": "PodFailurePolicy",
        "message": "Container trainer for pod x failed with exit code 3 matching FailJob rule at index 1"}]})
    until(lambda: cluster.phase(name) == "Failed", "phase Failed", operator)
    failed = cluster.condition(name, "Failed")
    why = "/data/train.json: row 3: field 'prompt': must be a string"
    assert failed["reason"] == "DataError" and why in failed["message"]
    assert cluster.status(name)["reason"] == "DataError"
    warnings = until(lambda: [e for e in cluster.events(name) if e["type"] == "Warning"], "a Warning Event", operator)
    assert warnings[-1]["reason"] == "DataError" and why in warnings[-1]["message"]


def test_evicted_pod_is_reported_and_replaced(cluster, operator):
    name = "evict"
    cluster.create(grpojob(name))
    job = until(lambda: cluster.job(name), "the trainer Job", operator)
    cluster.create_pod(name, f"{name}-1", running_pod_status(), job["metadata"]["uid"])
    cluster.patch_job_status(name, {"active": 1, "ready": 1})
    until(lambda: cluster.phase(name) == "Running", "phase Running", operator)

    cluster.patch_pod_status(f"{name}-1", {"phase": "Failed", "reason": "Evicted", "message": "node drained",
                                            "conditions": [{"type": "DisruptionTarget", "status": "True",
                                                            "reason": "EvictionByEvictionAPI"},
                                                           {"type": "Ready", "status": "False"}]})
    cluster.patch_job_status(name, {"active": 1, "ready": 0})
    until(lambda: cluster.phase(name) == "Initializing", "phase Initializing after the eviction", operator)
    running = cluster.condition(name, "Running")
    assert running["status"] == "False" and running["reason"] == "Evicted"
    assert "node drained" in running["message"]
    until(lambda: any(e["reason"] == "Evicted" and e["type"] == "Warning" for e in cluster.events(name)),
          "an Evicted Warning Event", operator)

    cluster.create_pod(name, f"{name}-2", running_pod_status(), job["metadata"]["uid"])  # the Job's new pod
    cluster.patch_job_status(name, {"active": 1, "ready": 1})
    until(lambda: cluster.phase(name) == "Running", "Running again with the replacement pod", operator)


def test_image_pull_backoff_is_a_reason(cluster, operator):
    name = "pull"
    cluster.create(grpojob(name, {**BASE_SPEC, "image": "registry.invalid/trainer:nope"}))
    job = until(lambda: cluster.job(name), "the trainer Job", operator)
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.invalid/trainer:nope"
    cluster.create_pod(name, f"{name}-p", {"phase": "Pending", "containerStatuses": [container_status({
        "waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}})]}, job["metadata"]["uid"])
    until(lambda: (cluster.condition(name, "Running") or {}).get("reason") == "ImagePullBackOff",
          "reason ImagePullBackOff", operator)
    assert cluster.phase(name) == "Initializing"


# --- suspend, spec changes, Kueue ---------------------------------------------------------------------------


def test_suspend_deletes_workload_and_resume_recreates_it(cluster, operator, api):
    name = "susp"
    cluster.create(grpojob(name, {**BASE_SPEC, "checkpoint": {"claimName": "outputs"}}))
    first = until(lambda: cluster.job(name), "the trainer Job", operator)
    cluster.patch_spec(name, {"suspend": True})
    until(lambda: cluster.phase(name) == "Suspended", "phase Suspended", operator)
    assert cluster.job(name) is None
    assert cluster.configmap(f"{name}-config") is not None, "the config stays; only the workload goes"
    assert cluster.condition(name, "Suspended")["status"] == "True"
    assert cluster.status(name)["observedGeneration"] == 2

    cluster.patch_spec(name, {"suspend": False})
    second = until(lambda: cluster.job(name), "the Job recreated on resume", operator)
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    vol = [v for v in second["spec"]["template"]["spec"]["volumes"] if v.get("persistentVolumeClaim")]
    assert vol and vol[0]["persistentVolumeClaim"]["claimName"] == "outputs", "same checkpoint volume"
    assert json.loads(cluster.configmap(f"{name}-config")["data"]["job.json"])["spec"]["suspend"] is False
    until(lambda: cluster.phase(name) == "Initializing", "phase Initializing after resume", operator)
    assert cluster.status(name)["observedGeneration"] == 3
    assert len(writes_to(api, "jobs", cluster.ns, name, "create")) == 2


def test_spec_change_while_running_is_rejected_but_ttl_is_applied(cluster, operator):
    name = "chg"
    cluster.create(grpojob(name))
    job = until(lambda: cluster.job(name), "the trainer Job", operator)
    cluster.patch_spec(name, {"training": {"epochs": 3}})
    cond = until(lambda: cluster.condition(name, "SpecChangeRejected"), "SpecChangeRejected", operator)
    assert cond["status"] == "True" and "spec.training" in cond["message"] and "suspend" in cond["message"]
    assert cluster.job(name)["metadata"]["uid"] == job["metadata"]["uid"], "the running Job is left alone"
    assert json.loads(cluster.configmap(f"{name}-config")["data"]["job.json"])["spec"]["training"]["epochs"] == 15
    until(lambda: any(e["reason"] == "SpecChangeRejected" for e in cluster.events(name)), "a Warning Event", operator)

    cluster.patch_spec(name, {"ttlSecondsAfterFinished": 600})
    until(lambda: cluster.job(name)["spec"].get("ttlSecondsAfterFinished") == 600, "ttl patched on the Job", operator)
    assert cluster.job(name)["metadata"]["uid"] == job["metadata"]["uid"]

    cluster.patch_spec(name, {"training": {"epochs": 15}})  # back to the accepted spec: nothing rejected
    until(lambda: cluster.condition(name, "SpecChangeRejected") is None, "the rejection cleared", operator)


def test_setting_without_effect_is_a_warnings_condition_and_one_event(cluster, operator):
    """memory.refParamOffload with LoRA: verl's reference is the actor with its adapter off; nothing to offload."""
    name = "noeffect"
    spec = {**BASE_SPEC, "model": {**BASE_SPEC.get("model", {}), "loraRank": 8, "loraAlpha": 16},
            "memory": {"refParamOffload": True}}
    cluster.create(grpojob(name, spec))
    until(lambda: cluster.job(name), "the trainer Job (a warning is never a refusal)", operator)
    cond = until(lambda: cluster.condition(name, "Warnings"), "the Warnings condition", operator)
    assert cond["status"] == "True" and cond["reason"] == "SettingHasNoEffect"
    assert "spec.memory.refParamOffload" in cond["message"] and "LoRA" in cond["message"]
    assert cluster.condition(name, "Valid")["status"] == "True"
    until(lambda: [e for e in cluster.events(name) if e["reason"] == "SettingHasNoEffect"], "a Warning Event",
          operator)
    cluster.patch_spec(name, {"suspend": True})  # another status write, the same settings
    until(lambda: cluster.phase(name) == "Suspended", "phase Suspended", operator)
    assert cluster.condition(name, "Warnings")["message"] == cond["message"]
    time.sleep(1)
    warned = [e for e in cluster.events(name) if e["reason"] == "SettingHasNoEffect"]
    assert len(warned) == 1 and warned[0]["type"] == "Warning", "one Event per distinct set, not per write"
    assert "spec.memory.refParamOffload" in warned[0]["message"]

    plain = "effective"
    cluster.create(grpojob(plain))
    until(lambda: cluster.phase(plain) == "Initializing", "phase Initializing", operator)
    assert cluster.condition(plain, "Warnings") is None
    assert not [e for e in cluster.events(plain) if e["reason"] == "SettingHasNoEffect"]


def test_kueue_queue_label_creates_a_suspended_child_left_for_kueue(cluster, operator):
    name = "queued"
    cluster.create(grpojob(name, labels={KUEUE_QUEUE_LABEL: "gpu-queue"}))
    job = until(lambda: cluster.job(name), "the trainer Job", operator)
    assert job["spec"]["suspend"] is True
    assert job["metadata"]["labels"][KUEUE_QUEUE_LABEL] == "gpu-queue"
    until(lambda: cluster.phase(name) == "Queued", "phase Queued", operator)
    assert "gpu-queue" in cluster.condition(name, "Queued")["message"]
    cluster.patch_job_status(name, {"conditions": [{"type": "Suspended", "status": "True"}]})  # an unrelated change
    time.sleep(0.5)
    assert cluster.job(name)["spec"]["suspend"] is True, "the operator never unsuspends a queued child"

    cluster.patch_job(name, {"spec": {"suspend": False}})  # Kueue admits it
    cluster.patch_job_status(name, {"active": 1, "ready": 1})
    until(lambda: cluster.phase(name) == "Running", "Running once Kueue admitted it", operator)
    assert cluster.job(name)["spec"]["suspend"] is False, "and never re-suspends an admitted one"


# --- invalid specs and missing references -------------------------------------------------------------------


def test_an_override_verl_does_not_know_is_refused_with_hydras_message(cluster, operator):
    """`trainer.foo=1` composes against verl 0.9.1's own Hydra config in the operator (off its event loop): the
    job is refused in seconds with Hydra's words, before any pod or image pull."""
    name = "typo"
    cluster.create(grpojob(name, {**BASE_SPEC, "overrides": ["trainer.foo=1"]}))
    until(lambda: cluster.phase(name) == "Failed", "phase Failed", operator, timeout=60)
    valid = cluster.condition(name, "Valid")
    assert valid["status"] == "False" and valid["reason"] == "InvalidSpec"
    assert "spec.overrides" in valid["message"] and "trainer.foo" in valid["message"]
    assert cluster.job(name) is None and cluster.configmap(f"{name}-config") is None
    until(lambda: any(e["reason"] == "InvalidSpec" for e in cluster.events(name)), "a Warning Event", operator)


def test_invalid_spec_fails_once_without_retry_storm(cluster, operator, api):
    name = "bad"
    spec = {**BASE_SPEC, "grpo": {"rolloutN": 1}, "trainig": {"epochs": 2}}  # passes no CRD here, fails the models
    cluster.create(grpojob(name, spec))
    until(lambda: cluster.phase(name) == "Failed", "phase Failed", operator)
    valid = cluster.condition(name, "Valid")
    assert valid["status"] == "False" and valid["reason"] == "InvalidSpec"
    assert "spec.grpo.rolloutN" in valid["message"] and "spec.trainig: unknown field" in valid["message"]
    assert cluster.job(name) is None and cluster.configmap(f"{name}-config") is None
    events = until(lambda: cluster.events(name), "an Event", operator)
    assert events[0]["type"] == "Warning" and events[0]["reason"] == "InvalidSpec"

    settled = len(writes_to(api, "grpojobs", cluster.ns, name))
    time.sleep(3)
    assert len(writes_to(api, "grpojobs", cluster.ns, name)) == settled, "no retries, no status churn"
    assert len(cluster.events(name)) == 1

    cluster.patch_spec(name, {"grpo": {"rolloutN": 4}, "trainig": None})  # fixing the spec runs it
    until(lambda: cluster.job(name), "the Job once the spec is fixed", operator)
    until(lambda: cluster.phase(name) == "Initializing", "phase Initializing", operator)


def test_missing_reward_configmap_fails_then_recovers(cluster, operator, api):
    name = "noreward"
    spec = {**BASE_SPEC, "reward": {"configMapRef": {"name": "my-reward", "key": "reward.py"}}}
    cluster.create(grpojob(name, spec))
    until(lambda: cluster.phase(name) == "Failed", "phase Failed", operator)
    valid = cluster.condition(name, "Valid")
    assert valid["reason"] == "RewardConfigMapNotFound"
    assert f"spec.reward.configMapRef: ConfigMap {cluster.ns}/my-reward not found" in valid["message"]
    assert cluster.job(name) is None
    time.sleep(3)  # slow retries (2 s in tests) re-check without new Events or status writes
    assert len(cluster.events(name)) == 1
    assert len(writes_to(api, "grpojobs", cluster.ns, name, "update")) <= 4  # status + kopf's progress marks

    cluster.create_configmap("my-reward", {"other.py": "x = 1"})
    until(lambda: "has no key 'reward.py' (keys: other.py)" in cluster.condition(name, "Valid")["message"],
          "the missing key named", operator)
    cluster.core.patch_namespaced_config_map("my-reward", cluster.ns, {"data": {"reward.py": "def compute_score(*a, **k):\n    return 0.0\n"}})
    until(lambda: cluster.job(name), "the Job once the ConfigMap exists", operator)
    until(lambda: cluster.phase(name) == "Initializing", "phase Initializing", operator)
    assert cluster.condition(name, "Valid")["status"] == "True"


def test_network_policy_is_created_owned_and_restored_after_drift(cluster, operator):
    from kubernetes import client

    name = "fenced"
    net = client.NetworkingV1Api(cluster.api)
    cluster.create(grpojob(name, BASE_SPEC))
    until(lambda: cluster.job(name), "the Job", operator)
    policy = net.read_namespaced_network_policy(f"{name}-trainer", cluster.ns).to_dict()
    assert policy["metadata"]["owner_references"][0]["uid"] == cluster.get(name)["metadata"]["uid"]
    assert policy["spec"]["pod_selector"]["match_labels"][LABEL_GRPOJOB] == name
    # Someone opens it up: the next reconcile (any spec change) puts the operator's spec back.
    net.patch_namespaced_network_policy(f"{name}-trainer", cluster.ns, {"spec": {"ingress": [{}]}})
    cluster.patch_spec(name, {"suspend": True})

    def restored():
        ingress = net.read_namespaced_network_policy(f"{name}-trainer", cluster.ns).to_dict()["spec"]["ingress"]
        return ingress and ingress[0].get("ports")

    until(restored, "the NetworkPolicy's ingress restored", operator)


def test_missing_secret_is_reported_from_the_pod_without_reading_secrets(cluster, operator):
    """The operator has no Secret permission: it creates the Job without looking for the Secret, and the
    kubelet's CreateContainerConfigError on the pod becomes reason SecretNotFound and a Warning Event naming it."""
    name = "nosecret"
    spec = {**BASE_SPEC, "pod": {"env": [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}]}}
    cluster.create(grpojob(name, spec))
    job = until(lambda: cluster.job(name), "the Job, though the Secret does not exist", operator)
    cluster.create_pod(name, f"{name}-p", {"phase": "Pending", "containerStatuses": [container_status({
        "waiting": {"reason": "CreateContainerConfigError", "message": 'secret "hf" not found'}})]},
        job["metadata"]["uid"])
    until(lambda: (cluster.condition(name, "Running") or {}).get("reason") == "SecretNotFound", "SecretNotFound",
          operator)
    assert cluster.phase(name) == "Initializing"  # the kubelet retries: creating the Secret starts the pod
    assert cluster.condition(name, "Running")["message"].startswith("Secret hf not found: pod nosecret-p")
    until(lambda: [e for e in cluster.events(name) if e["reason"] == "SecretNotFound"], "the Event", operator)
    event = next(e for e in cluster.events(name) if e["reason"] == "SecretNotFound")
    assert event["type"] == "Warning" and "Secret hf not found" in event["message"]
    cluster.patch_pod_status(f"{name}-p", running_pod_status())
    until(lambda: cluster.phase(name) == "Running", "Running once the Secret exists", operator)


# --- multi-node ----------------------------------------------------------------------------------------------


def test_multi_node_runs_a_rayjob(cluster, operator):
    name = "ray"
    cluster.create(grpojob(name, {**BASE_SPEC, "resources": {"nodes": 2, "gpusPerNode": 8},
                                      "checkpoint": {"claimName": "shared-outputs"}}))
    rj = until(lambda: cluster.rayjob(name), "the RayJob", operator)
    assert cluster.job(name) is None
    cluster.custom.patch_namespaced_custom_object_status("ray.io", "v1", cluster.ns, "rayjobs", name, {
        "status": {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"}})
    until(lambda: cluster.phase(name) == "Running", "Running from the RayJob status", operator)
    assert cluster.status(name)["children"]["rayJob"] == name
    cluster.custom.patch_namespaced_custom_object_status("ray.io", "v1", cluster.ns, "rayjobs", name, {
        "status": {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}})
    until(lambda: cluster.phase(name) == "Succeeded", "Succeeded from the RayJob status", operator)
    assert rj["metadata"]["ownerReferences"][0]["name"] == name


@pytest.mark.parametrize("nodes", [1, 2], ids=["job", "rayjob"])
def test_ttl_deletes_the_finished_grpojob_and_its_children(cluster, operator, nodes):
    """spec.ttlSecondsAfterFinished means the same for 1 and N nodes: the GRPOJob (and through its
    ownerReferences every child) is deleted that long after completion. A RayJob's own TTL is 0 (its Ray cluster
    goes at once), so without this a finished RayJob and its GRPOJob would stay forever."""
    name = f"ttl-{nodes}"
    spec = {**BASE_SPEC, "ttlSecondsAfterFinished": 2}
    if nodes > 1:
        spec.update({"resources": {"nodes": nodes, "gpusPerNode": 8}, "checkpoint": {"claimName": "shared"}})
    cluster.create(grpojob(name, spec))
    if nodes > 1:
        until(lambda: cluster.rayjob(name), "the RayJob", operator)
        cluster.custom.patch_namespaced_custom_object_status("ray.io", "v1", cluster.ns, "rayjobs", name, {
            "status": {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED", "endTime": now()}})
    else:
        until(lambda: cluster.job(name), "the trainer Job", operator)
        cluster.patch_job_status(name, {"conditions": [{"type": "Complete", "status": "True"}],
                                        "succeeded": 1, "completionTime": now()})
    until(lambda: cluster.phase(name) == "Succeeded", "phase Succeeded", operator)
    finished = time.monotonic()
    until(lambda: cluster.get(name) is None, "the GRPOJob deleted after its TTL", operator)
    assert time.monotonic() - finished > 0.5, "deleted before its TTL"
    until(lambda: not any(cluster.children(name).values()), "its children garbage-collected", operator)


def test_no_ttl_keeps_the_finished_grpojob(cluster, operator):
    name = "keep"
    cluster.create(grpojob(name))
    until(lambda: cluster.job(name), "the trainer Job", operator)
    cluster.patch_job_status(name, {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1,
                                    "completionTime": now()})
    until(lambda: cluster.phase(name) == "Succeeded", "phase Succeeded", operator)
    time.sleep(3)
    assert cluster.get(name) is not None


# --- delete --------------------------------------------------------------------------------------------------


def test_delete_garbage_collects_children(cluster, operator):
    name = "gone"
    cluster.create(grpojob(name, {**BASE_SPEC, "reward": {"inline": "def compute_score(*a, **k):\n    return 0\n"}}))
    until(lambda: cluster.job(name), "the trainer Job", operator)
    cluster.delete(name)
    until(lambda: cluster.get(name) is None, "the GRPOJob gone at once (no finalizer)", operator, timeout=2)
    kids = cluster.children(name)
    assert kids == {"ConfigMap": [], "Job": []}


# --- API faults ----------------------------------------------------------------------------------------------


def test_api_faults_are_survived(cluster, operator, api):
    api.emulator.inject_fault(500, action="create", plural="jobs", count=2)
    api.emulator.inject_fault(409, action="update", plural="grpojobs", subresource="status", count=2)
    name = "faulty"
    cluster.create(grpojob(name))
    until(lambda: cluster.job(name), "the Job despite two 500s", operator)
    until(lambda: cluster.phase(name) == "Initializing", "the status despite two 409s", operator)
    assert len(writes_to(api, "jobs", cluster.ns, name, "create")) == 1

    api.drop_watches()  # every watch stream ends; kopf must reconnect and resume from its resourceVersion
    after = "after-drop"
    cluster.create(grpojob(after))
    until(lambda: cluster.job(after), "a Job for a GRPOJob created right after the watches dropped", operator)
    cluster.patch_job_status(name, {"active": 1, "ready": 1})
    until(lambda: cluster.phase(name) == "Running", "status updates after the reconnect", operator)
    assert operator.running


# --- restarts ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_random_operator_restarts_never_duplicate_children(tmp_path):
    """20 SIGKILLs at random moments while GRPOJobs are being created and reconciled: 0 duplicates, 0 orphans."""
    rng = random.Random(5)
    with EmulatorServer() as server:
        op = OperatorProcess(server.kubeconfig, tmp_path)
        cl = Cluster(server.client(), "restarts")
        names = []
        try:
            op.start(wait=False)
            for i in range(20):
                for j in range(2):
                    names.append(f"r{i}-{j}")
                    cl.create(grpojob(names[-1]))
                time.sleep(rng.uniform(0.3, 3.0))  # sometimes before the operator is even up
                op.kill()
                op.start(wait=False)
            t0 = time.monotonic()
            op.wait_healthy()

            def phases():
                items = cl.custom.list_namespaced_custom_object("grpo.dev", "v1alpha1", cl.ns, "grpojobs")["items"]
                return Counter((i.get("status") or {}).get("phase") for i in items)

            wait_for(lambda: phases()["Initializing"] == len(names), 60, "every GRPOJob reconciled", op, interval=0.5)
            print(f"converged {time.monotonic() - t0:.1f}s after the last restart")
        finally:
            op.stop()
        creates = Counter((w[2], w[4]) for w in server.emulator.writes if w[1] == "create" and w[3] == "restarts")
        assert op.starts == 21
        for n in names:
            assert creates[("jobs", n)] == 1 and creates[("configmaps", f"{n}-config")] == 1
            kids = cl.children(n)
            assert len(kids["Job"]) == 1 and len(kids["ConfigMap"]) == 1, f"{n}: {kids}"
            uid = cl.get(n)["metadata"]["uid"]
            assert all(k["metadata"]["ownerReferences"][0]["uid"] == uid for k in kids["Job"] + kids["ConfigMap"])
        assert not [w for w in server.emulator.writes if w[1] == "delete" and w[2] in ("jobs", "configmaps")]
        assert len(names) == 40

        # deleting works while the operator is down: no finalizer waits for it
        cl.delete(names[0])
        assert cl.get(names[0]) is None and cl.job(names[0]) is None


def test_shared_operator_never_crashed(operator):
    """Runs last in this module: one operator process served every scenario above (faults included)."""
    assert operator.running and operator.starts == 1, operator.log()[-5000:]


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([str(Path(__file__)), "-v"]))
