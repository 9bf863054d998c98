"""The pure child builders: focused checks on what each child must carry, and schema checks of every child of
every example against the real Kubernetes 1.35 schemas (kubernetes-validate) and the kubernetes client's
pydantic models. The full output is pinned by the golden files in test_cli_render.py."""

import copy
import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes import client

from grpo_api import constants as c
from grpo_api import parse_grpojob
from grpo_api.pod_paths import configmap_mount_path, data_file_path, pvc_mount_path, reward_file_path
from grpo_operator.builders import build_children, default_image
from grpo_operator.builders.pod import HF_HOME

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
UID = "6f1c2a9e-1111-4c2b-9a51-0123456789ab"
IMAGE = "registry.example/grpo-trainer:test"
K8S_VERSION = "1.35.0"


def load_job(example: str | Path, **changes):
    """The GRPOJob document of an example, with `changes` merged into its spec (dotted keys)."""
    path = ROOT / "examples" / example if isinstance(example, str) else example
    body = next(d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == c.KIND)
    body = copy.deepcopy(body)
    for dotted, value in changes.items():
        node = body
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return parse_grpojob(body)


def children(example, namespace="team-a", **changes):
    return build_children(load_job(example, **changes), uid=UID, image=IMAGE, namespace=namespace)


def by_kind(objs, kind):
    found = [o for o in objs if o["kind"] == kind]
    assert len(found) == 1, [o["kind"] for o in objs]
    return found[0]


def pod_specs(workload):
    if workload["kind"] == "Job":
        return [workload["spec"]["template"]["spec"]]
    cluster = workload["spec"]["rayClusterSpec"]
    return [cluster["headGroupSpec"]["template"]["spec"]] + [
        g["template"]["spec"] for g in cluster["workerGroupSpecs"]]


def mounts(pod_spec):
    return {m["mountPath"]: m for m in pod_spec["containers"][0]["volumeMounts"]}


def volume(pod_spec, name):
    return next(v for v in pod_spec["volumes"] if v["name"] == name)


# --- every child of every example: owner, labels, real schemas ------------------------------------------


ALL_CHILDREN = [(ex.stem, i, obj) for ex in EXAMPLES
                for i, obj in enumerate(build_children(load_job(ex), uid=UID, image=IMAGE, namespace="team-a"))]


@pytest.mark.parametrize(("example", "index", "obj"), ALL_CHILDREN,
                         ids=[f"{e}-{i}-{o['kind']}" for e, i, o in ALL_CHILDREN])
def test_child_is_owned_labelled_and_schema_valid(example, index, obj):
    name = load_job(ROOT / "examples" / f"{example}.yaml").metadata.name
    meta = obj["metadata"]
    assert meta["namespace"] == "team-a"
    assert meta["ownerReferences"] == [{"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob", "name": name,
                                        "uid": UID, "controller": True, "blockOwnerDeletion": True}]
    assert meta["labels"][c.LABEL_GRPOJOB] == name
    assert meta["labels"][c.LABEL_INSTANCE] == name
    assert meta["labels"][c.LABEL_MANAGED_BY] == "grpo-operator"
    assert meta["labels"][c.LABEL_NAME] == "grpo-trainer"
    assert meta["labels"][c.LABEL_COMPONENT] in ("config", "reward", "trainer")

    if obj["kind"] == "RayJob":
        # No published JSON schema for KubeRay: each pod template against core/v1, the rest structurally.
        for spec in pod_specs(obj):
            kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate",
                                          "metadata": {"name": meta["name"]},
                                          "template": {"spec": spec}}, K8S_VERSION, strict=True)
        assert_rayjob_structure(obj)
    else:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        model = {"ConfigMap": client.V1ConfigMap, "Job": client.V1Job,
                 "NetworkPolicy": client.V1NetworkPolicy}[obj["kind"]]
        assert_client_round_trip(model, obj)


def assert_client_round_trip(model, body):
    """The kubernetes client (pydantic models) accepts the body and serializes it back unchanged: a type error
    raises, and a misspelled field, which the client silently drops, shows up as a difference."""
    parsed = model.from_dict(copy.deepcopy(body))
    assert client.ApiClient().sanitize_for_serialization(parsed) == body


# KubeRay v1 field names (ray-operator/apis/ray/v1: RayJobSpec, RayClusterSpec, HeadGroupSpec, WorkerGroupSpec).
RAYJOB_SPEC_FIELDS = {"activeDeadlineSeconds", "backoffLimit", "rayClusterSpec", "submitterPodTemplate", "metadata",
                      "clusterSelector", "submitterConfig", "managedBy", "deletionStrategy", "entrypoint",
                      "runtimeEnvYAML", "jobId", "submissionMode", "entrypointResources", "entrypointNumCpus",
                      "entrypointNumGpus", "ttlSecondsAfterFinished", "shutdownAfterJobFinishes", "suspend"}
HEAD_GROUP_FIELDS = {"template", "headService", "enableIngress", "rayStartParams", "serviceType"}
WORKER_GROUP_FIELDS = {"suspend", "groupName", "replicas", "minReplicas", "maxReplicas", "idleTimeoutSeconds",
                       "rayStartParams", "template", "scaleStrategy", "numOfHosts"}


def assert_rayjob_structure(obj):
    assert obj["apiVersion"] == "ray.io/v1"
    spec = obj["spec"]
    assert set(spec) <= RAYJOB_SPEC_FIELDS, set(spec) - RAYJOB_SPEC_FIELDS
    cluster = spec["rayClusterSpec"]
    assert set(cluster["headGroupSpec"]) <= HEAD_GROUP_FIELDS
    for group in cluster["workerGroupSpecs"]:
        assert set(group) <= WORKER_GROUP_FIELDS
        assert all(isinstance(v, str) for v in group["rayStartParams"].values())  # map[string]string
    assert all(isinstance(v, str) for v in cluster["headGroupSpec"]["rayStartParams"].values())
    for template in [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]:
        assert_client_round_trip(client.V1PodTemplateSpec, template)


def test_creation_order_and_names():
    objs = children("custom-reward.yaml")
    assert [(o["kind"], o["metadata"]["name"]) for o in objs] == [
        ("ConfigMap", "custom-reward-config"), ("ConfigMap", "custom-reward-reward"),
        ("NetworkPolicy", "custom-reward-trainer"), ("Job", "custom-reward")]
    objs = children("multi-node.yaml")
    assert [(o["kind"], o["metadata"]["name"]) for o in objs] == [
        ("ConfigMap", "qwen-7b-2x8-config"), ("NetworkPolicy", "qwen-7b-2x8-trainer"), ("RayJob", "qwen-7b-2x8")]


def test_missing_uid_or_name_is_refused():
    job = load_job("minimal.yaml")
    with pytest.raises(ValueError, match="uid"):
        build_children(job, uid="", image=IMAGE, namespace="ns")
    nameless = load_job("minimal.yaml", **{"metadata.name": None, "metadata.generateName": "math-"})
    with pytest.raises(ValueError, match="metadata.name"):
        build_children(nameless, uid=UID, image=IMAGE, namespace="ns")


# --- config ConfigMap ------------------------------------------------------------------------------------


def test_config_configmap_is_the_resolved_job_the_trainer_parses():
    objs = children("drgrpo-lora-offload.yaml", namespace="ml")
    cm = by_kind(objs[:1], "ConfigMap")
    resolved = json.loads(cm["data"][c.CONFIG_KEY])
    assert resolved["metadata"] == {"name": "drgrpo-lora", "namespace": "ml", "uid": UID}
    assert "status" not in resolved
    # defaults filled in, user values kept; the trainer reads it back with the same models
    again = parse_grpojob(resolved)
    assert again.spec.grpo.loss_agg_mode == "seq-mean-token-sum-norm"
    assert again.spec.grpo.kl_loss_coef == 0.001 and again.spec.training.batch_size == 256
    assert resolved["spec"]["overrides"] == ["actor_rollout_ref.actor.ppo_epochs=1"]


# --- reward ----------------------------------------------------------------------------------------------


def test_inline_reward_gets_a_configmap_mounted_read_only_where_pod_paths_says():
    job = load_job("custom-reward.yaml")
    objs = build_children(job, uid=UID, image=IMAGE, namespace="ns")
    reward_cm = objs[1]
    assert reward_cm["data"] == {"reward.py": job.spec.reward.inline}
    pod = pod_specs(objs[-1])[0]
    m = mounts(pod)[c.REWARD_DIR]
    assert m["readOnly"] is True
    assert volume(pod, m["name"])["configMap"]["name"] == "custom-reward-reward"
    assert reward_file_path(job.spec.reward) == f"{c.REWARD_DIR}/reward.py"


def test_reward_configmap_ref_is_mounted_not_copied():
    objs = children("minimal.yaml", **{"spec.reward": {"configMapRef": {"name": "my-rewards", "key": "score.py"}}})
    assert [o["kind"] for o in objs] == ["ConfigMap", "NetworkPolicy", "Job"]
    pod = pod_specs(objs[-1])[0]
    m = mounts(pod)[c.REWARD_DIR]
    assert m["readOnly"] is True
    assert volume(pod, m["name"])["configMap"] == {"name": "my-rewards"}


def test_builtin_reward_mounts_nothing():
    pod = pod_specs(children("minimal.yaml")[-1])[0]
    assert c.REWARD_DIR not in mounts(pod)


# --- the Job ---------------------------------------------------------------------------------------------


def test_job_runs_the_trainer_with_gpus_shm_and_read_only_inputs():
    job = children("custom-reward.yaml")[-1]
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["tini", "-s", "--", "python", "-m", "trainer_entry", "--config",
                                    "/etc/grpo/config/job.json"]
    assert container["image"] == IMAGE
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert container["resources"]["limits"]["cpu"] == str(3 * 8 + 9)
    assert container["resources"]["limits"]["memory"] == "256Gi"
    assert pod["restartPolicy"] == "Never"
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert {"name": "grpo-metrics", "containerPort": 9400, "protocol": "TCP"} in container["ports"]
    assert container["readinessProbe"]["tcpSocket"] == {"port": "grpo-metrics"}
    assert "livenessProbe" not in container

    ms = mounts(pod)
    assert volume(pod, ms["/dev/shm"]["name"])["emptyDir"] == {"medium": "Memory", "sizeLimit": "16Gi"}
    assert ms[c.CONFIG_DIR]["readOnly"] is True
    assert volume(pod, ms[c.CONFIG_DIR]["name"])["configMap"]["name"] == "custom-reward-config"
    # both data files are on the `datasets` claim: mounted once, read-only, where the trainer looks
    data_mount = ms[pvc_mount_path("datasets")]
    assert data_mount["readOnly"] is True
    assert volume(pod, data_mount["name"])["persistentVolumeClaim"] == {"claimName": "datasets"}
    spec = load_job("custom-reward.yaml").spec
    assert data_file_path(spec.data.train).startswith(pvc_mount_path("datasets") + "/")
    # no checkpoint claim: /outputs is an emptyDir and writable
    assert volume(pod, ms[c.OUTPUTS_DIR]["name"]) == {"name": "outputs", "emptyDir": {}}
    assert not ms[c.OUTPUTS_DIR].get("readOnly")
    assert len({v["name"] for v in pod["volumes"]}) == len(pod["volumes"])


def test_configmap_data_is_mounted_under_data_dir():
    pod = pod_specs(children("configmap-data.yaml")[-1])[0]
    m = mounts(pod)[configmap_mount_path("math-reasoning-data")]
    assert m["readOnly"] is True
    assert volume(pod, m["name"])["configMap"] == {"name": "math-reasoning-data"}
    assert data_file_path(load_job("configmap-data.yaml").spec.data.train) == \
        f"{c.DATA_DIR}/math-reasoning-data/train.json"


def test_checkpoint_claim_is_the_outputs_volume():
    pod = pod_specs(children("drgrpo-lora-offload.yaml")[-1])[0]
    assert volume(pod, mounts(pod)[c.OUTPUTS_DIR]["name"])["persistentVolumeClaim"] == {"claimName": "grpo-outputs"}


def test_env_has_job_identity_hf_home_and_the_users_secret_env():
    pod = pod_specs(children("custom-reward.yaml", namespace="research")[-1])[0]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["GRPO_JOB_NAME"]["value"] == "custom-reward"
    assert env["GRPO_NAMESPACE"]["value"] == "research"
    assert env["HF_HOME"]["value"] == HF_HOME == "/outputs/.cache/huggingface"
    assert env["HF_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "hf-token", "key": "token"}}


def test_user_env_replaces_a_builtin_of_the_same_name():
    pod = pod_specs(children("minimal.yaml", **{"spec.pod": {"env": [{"name": "HF_HOME", "value": "/cache"}]}})[-1])[0]
    hf = [e for e in pod["containers"][0]["env"] if e["name"] == "HF_HOME"]
    assert hf == [{"name": "HF_HOME", "value": "/cache"}]


def test_zero_gpus_requests_no_gpu_and_trl_sizes():
    pod = pod_specs(children("local-cpu.yaml")[-1])[0]
    container = pod["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert volume(pod, "dshm")["emptyDir"]["sizeLimit"] == "1Gi"  # within the 4Gi the pod may use


def test_custom_gpu_resource_name_and_explicit_sizes():
    container = pod_specs(children("minimal.yaml", **{"spec.resources": {
        "gpusPerNode": 2, "gpuResourceName": "amd.com/gpu", "cpu": "16", "memory": "100Gi", "shmSize": "8Gi"}})[-1])[0]
    assert container["containers"][0]["resources"]["requests"] == {"cpu": "16", "memory": "100Gi", "amd.com/gpu": "2"}
    assert volume(container, "dshm")["emptyDir"]["sizeLimit"] == "8Gi"


def test_scheduling_fields_and_pod_metadata_are_copied():
    pod_overrides = {
        "nodeSelector": {"gpu": "h100"},
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
        "priorityClassName": "high",
        "serviceAccountName": "trainer",
        "imagePullSecrets": [{"name": "regcred"}],
        "envFrom": [{"secretRef": {"name": "s3-creds"}}],
        "labels": {"team": "ml", c.LABEL_GRPOJOB: "spoofed"},
        "annotations": {"note": "x"},
    }
    job = children("minimal.yaml", **{"spec.pod": pod_overrides, "spec.imagePullPolicy": "Always"})[-1]
    template = job["spec"]["template"]
    pod = template["spec"]
    assert pod["nodeSelector"] == {"gpu": "h100"}
    assert pod["tolerations"] == pod_overrides["tolerations"]
    assert pod["affinity"] == pod_overrides["affinity"]
    assert pod["priorityClassName"] == "high"
    assert pod["serviceAccountName"] == "trainer"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
    assert pod["containers"][0]["imagePullPolicy"] == "Always"
    assert template["metadata"]["annotations"] == {"note": "x"}
    assert template["metadata"]["labels"]["team"] == "ml"
    assert template["metadata"]["labels"][c.LABEL_GRPOJOB] == "math-reasoning"  # the operator's label wins
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)
    assert_client_round_trip(client.V1Job, job)


def test_job_limits_and_pod_failure_policy():
    job = children("minimal.yaml", **{"spec.backoffLimit": 5, "spec.activeDeadlineSeconds": 3600,
                                      "spec.ttlSecondsAfterFinished": 600})[-1]
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (5, 3600, 600)
    assert spec["parallelism"] == spec["completions"] == 1
    assert spec["podReplacementPolicy"] == "Failed"
    ignore, fail = spec["podFailurePolicy"]["rules"]
    assert ignore == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
    assert fail["action"] == "FailJob"
    assert fail["onExitCodes"]["containerName"] == spec["template"]["spec"]["containers"][0]["name"]
    assert fail["onExitCodes"]["operator"] == "In"
    assert {c.EXIT_CONFIG_ERROR, c.EXIT_DATA_ERROR, c.EXIT_REWARD_ERROR} <= set(fail["onExitCodes"]["values"])
    assert c.EXIT_TERMINATED not in fail["onExitCodes"]["values"]  # SIGTERM is retried (resumes)
    assert "activeDeadlineSeconds" not in children("minimal.yaml")[-1]["spec"]


def test_image_from_spec_wins_over_the_operator_default(monkeypatch):
    assert pod_specs(children("minimal.yaml", **{"spec.image": "mine:1"})[-1])[0]["containers"][0]["image"] == "mine:1"
    monkeypatch.delenv(c.TRAINER_IMAGE_ENV, raising=False)
    assert default_image() == c.DEFAULT_TRAINER_IMAGE == "ghcr.io/grpo-operator/trainer:0.1.0"
    monkeypatch.setenv(c.TRAINER_IMAGE_ENV, "mirror.local/trainer:9")
    assert default_image() == "mirror.local/trainer:9"


# --- suspend and Kueue -----------------------------------------------------------------------------------


def test_plain_job_is_not_suspended_and_carries_no_queue_label():
    job = children("minimal.yaml")[-1]
    assert job["spec"]["suspend"] is False
    assert c.KUEUE_QUEUE_LABEL not in job["metadata"]["labels"]


def test_spec_suspend_suspends_the_job():
    assert children("minimal.yaml", **{"spec.suspend": True})[-1]["spec"]["suspend"] is True


@pytest.mark.parametrize("example", ["minimal.yaml", "multi-node.yaml"])
def test_kueue_queue_label_is_copied_and_child_starts_suspended(example):
    objs = children(example, **{"metadata.labels": {c.KUEUE_QUEUE_LABEL: "team-queue"}})
    workload = objs[-1]
    assert workload["metadata"]["labels"][c.KUEUE_QUEUE_LABEL] == "team-queue"
    assert workload["spec"]["suspend"] is True
    for cm in objs[:-1]:  # only the workload is queued
        assert c.KUEUE_QUEUE_LABEL not in cm["metadata"]["labels"]


# --- the RayJob ------------------------------------------------------------------------------------------


def test_rayjob_shape():
    objs = children("multi-node.yaml", **{"spec.resources.nodes": 4})
    ray = objs[-1]
    spec = ray["spec"]
    assert spec["submissionMode"] == "SidecarMode"
    assert spec["shutdownAfterJobFinishes"] is True
    assert spec["entrypoint"] == "tini -s -- python -m trainer_entry --config /etc/grpo/config/job.json"
    # the GRPOJob's TTL (86400) is not KubeRay's: that one only delays deleting the Ray cluster (its GPUs)
    assert spec["activeDeadlineSeconds"] == 172800 and spec["ttlSecondsAfterFinished"] == 0
    assert spec["suspend"] is True  # the example is queued in Kueue
    assert len(ray["metadata"]["name"]) <= c.MAX_NAME_LENGTH
    (workers,) = spec["rayClusterSpec"]["workerGroupSpecs"]
    assert workers["replicas"] == workers["minReplicas"] == workers["maxReplicas"] == 3
    head = spec["rayClusterSpec"]["headGroupSpec"]
    assert head["template"]["spec"]["restartPolicy"] == "Never"  # SidecarMode requires it
    assert head["rayStartParams"]["num-gpus"] == workers["rayStartParams"]["num-gpus"] == "8"
    assert "num-cpus" not in workers["rayStartParams"] and "num-cpus" not in head["rayStartParams"]


def test_rayjob_nodes_get_gpus_and_the_same_mounts_env_and_scheduling():
    ray = children("multi-node.yaml")[-1]
    head, worker = pod_specs(ray)
    for pod in (head, worker):
        container = pod["containers"][0]
        assert "command" not in container  # KubeRay runs `ray start` in Ray containers
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "8"
        assert pod["priorityClassName"] == "training-high"
        assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        ms = mounts(pod)
        # the shared RWX claim is /outputs on every node (checkpoints) and the data under /data/<claim>
        assert volume(pod, ms[c.OUTPUTS_DIR]["name"])["persistentVolumeClaim"] == {"claimName": "grpo-shared"}
        assert ms[pvc_mount_path("grpo-shared")]["readOnly"] is True
        assert ms[c.CONFIG_DIR]["readOnly"] is True
        assert "/dev/shm" in ms
    assert head["containers"][0]["volumeMounts"] == worker["containers"][0]["volumeMounts"]
    assert head["volumes"] == worker["volumes"]
    assert head["containers"][0]["env"] == worker["containers"][0]["env"]
    # the driver (and its metrics exporter) runs on the head: only the head declares the metrics port
    assert any(p["name"] == "grpo-metrics" and p["containerPort"] == 9400 for p in head["containers"][0]["ports"])
    assert "ports" not in worker["containers"][0]


def test_rayjob_without_kueue_follows_spec_suspend():
    unqueued = {"metadata.labels": {}}
    assert children("multi-node.yaml", **unqueued)[-1]["spec"]["suspend"] is False
    assert children("multi-node.yaml", **unqueued, **{"spec.suspend": True})[-1]["spec"]["suspend"] is True


def test_data_volumes_are_shared_per_configmap_and_per_claim():
    same_cm = {"spec.data": {"train": {"configMap": {"name": "qa", "key": "train.json"}},
                             "val": {"configMap": {"name": "qa", "key": "val.json"}}}}
    pod = pod_specs(children("minimal.yaml", **same_cm)[-1])[0]
    assert [v for v in pod["volumes"] if "configMap" in v and v["configMap"]["name"] == "qa"] == [
        {"name": "data-0", "configMap": {"name": "qa"}}]
    # val on the checkpoint claim: the /outputs volume is mounted a second time, read-only, under /data/<claim>
    mixed = {"spec.data": {"train": {"configMap": {"name": "qa", "key": "train.json"}},
                           "val": {"pvc": {"claimName": "ckpt", "path": "val.json"}}},
             "spec.checkpoint": {"claimName": "ckpt"}}
    pod = pod_specs(children("minimal.yaml", **mixed)[-1])[0]
    ms = mounts(pod)
    assert ms[pvc_mount_path("ckpt")] == {"name": "outputs", "mountPath": "/data/ckpt", "readOnly": True}
    assert [v["name"] for v in pod["volumes"]] == ["config", "outputs", "data-0", "dshm", "home", "tmp"]
    # two different claims: two data volumes with distinct names
    two = {"spec.data": {"train": {"pvc": {"claimName": "a", "path": "t.json"}},
                         "val": {"pvc": {"claimName": "b", "path": "v.json"}}}}
    pod = pod_specs(children("minimal.yaml", **two)[-1])[0]
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {"data-0": "a", "data-1": "b"}
