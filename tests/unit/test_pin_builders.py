"""Pins the trainer pod and Job builders where mutation testing found them unpinned: what a GRPOJob's fields
turn into in the Job manifest a user reads with `kubectl get job -o yaml` (volumes shared between data and
outputs, optional container fields, ports and probes, security and scheduling fields, the failure policy)."""

from __future__ import annotations

from grpo_api import constants as c
from grpo_api import parse_grpojob
from grpo_api.spec import PodSpec
from grpo_operator.builders.job import FATAL_EXIT_CODES, build_job, pod_failure_policy
from grpo_operator.builders.pod import (
    pod_template,
    trainer_container,
    trainer_resources,
    volumes_and_mounts,
    with_pod_defaults,
)

UID = "6f1c2a9e-1111-4c2b-9a51-0123456789ab"
IMAGE = "registry.example/grpo-trainer:test"


def job(**spec):
    body = {"model": {"path": "Qwen/Qwen2.5-0.5B-Instruct"}, "data": {"train": {"path": "embedded:math"}}}
    body.update(spec)
    return parse_grpojob({"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob",
                          "metadata": {"name": "pin", "namespace": "team-a"}, "spec": body})


def manifest(**spec):
    return build_job(job(**spec), uid=UID, image=IMAGE, namespace="team-a")


def pod_of(m):
    return m["spec"]["template"]["spec"]


def container_of(m):
    return pod_of(m)["containers"][0]


# --- the Job -----------------------------------------------------------------------------------------------


def test_job_spec_fields():
    m = manifest()
    s = m["spec"]
    assert (m["apiVersion"], m["kind"]) == ("batch/v1", "Job")
    assert (s["parallelism"], s["completions"], s["podReplacementPolicy"]) == (1, 1, "Failed")
    assert s["suspend"] is False
    assert "activeDeadlineSeconds" not in s and "ttlSecondsAfterFinished" not in s
    assert s["template"]["spec"]["restartPolicy"] == "Never"
    s = manifest(activeDeadlineSeconds=3600, ttlSecondsAfterFinished=0, backoffLimit=2)["spec"]
    assert (s["activeDeadlineSeconds"], s["ttlSecondsAfterFinished"], s["backoffLimit"]) == (3600, 0, 2)


def test_pod_failure_policy_fails_at_once_on_fatal_exit_codes():
    assert sorted({c.EXIT_CONFIG_ERROR, c.EXIT_DATA_ERROR, c.EXIT_REWARD_ERROR,
                                       c.EXIT_RAY_RESOURCES}) == FATAL_EXIT_CODES
    assert pod_failure_policy() == {"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {"action": "FailJob", "onExitCodes": {"containerName": "trainer", "operator": "In",
                                              "values": FATAL_EXIT_CODES}},
    ]}
    assert manifest()["spec"]["podFailurePolicy"] == pod_failure_policy()
    assert container_of(manifest())["name"] == "trainer"


# --- volumes: one per distinct ConfigMap / PVC -------------------------------------------------------------


def test_data_on_the_outputs_claim_reuses_its_volume_and_distinct_sources_get_their_own():
    j = job(checkpoint={"claimName": "shared"},
            data={"train": {"pvc": {"claimName": "shared", "path": "train.json"}},
                  "val": {"pvc": {"claimName": "other", "path": "val.json"}}})
    volumes, mounts = volumes_and_mounts(j)
    by_name = {v["name"]: v for v in volumes}
    assert by_name["outputs"] == {"name": "outputs", "persistentVolumeClaim": {"claimName": "shared"}}
    assert by_name["data-0"] == {"name": "data-0", "persistentVolumeClaim": {"claimName": "other"}}
    assert "data-1" not in by_name
    data_mounts = [m for m in mounts if m.get("readOnly") and m["name"] in ("outputs", "data-0")]
    assert sorted(m["name"] for m in data_mounts) == ["data-0", "outputs"]


def test_two_config_maps_two_volumes_the_same_one_once():
    two = job(data={"train": {"configMap": {"name": "a", "key": "t.json"}},
                    "val": {"configMap": {"name": "b", "key": "v.json"}}})
    volumes, mounts = volumes_and_mounts(two)
    data = [v for v in volumes if v["name"].startswith("data-")]
    assert data == [{"name": "data-0", "configMap": {"name": "a"}}, {"name": "data-1", "configMap": {"name": "b"}}]
    same = job(data={"train": {"configMap": {"name": "a", "key": "t.json"}},
                     "val": {"configMap": {"name": "a", "key": "v.json"}}})
    volumes, mounts = volumes_and_mounts(same)
    assert [v["name"] for v in volumes if v["name"].startswith("data-")] == ["data-0"]
    assert [m["name"] for m in mounts if m["name"].startswith("data-")] == ["data-0"]


def test_pvc_then_config_map_numbering():
    j = job(data={"train": {"pvc": {"claimName": "p", "path": "t.json"}},
                  "val": {"configMap": {"name": "cm", "key": "v.json"}}})
    volumes, _ = volumes_and_mounts(j)
    assert [v for v in volumes if v["name"].startswith("data-")] == [
        {"name": "data-0", "persistentVolumeClaim": {"claimName": "p"}},
        {"name": "data-1", "configMap": {"name": "cm"}}]


def test_outputs_without_claim_is_an_empty_dir_and_writable():
    volumes, mounts = volumes_and_mounts(job())
    assert {"name": "outputs", "emptyDir": {}} in volumes
    out = next(m for m in mounts if m["name"] == "outputs")
    assert "readOnly" not in out


# --- the container -----------------------------------------------------------------------------------------


def test_optional_container_fields_appear_only_when_set():
    plain = container_of(manifest())
    assert "imagePullPolicy" not in plain and "envFrom" not in plain
    cont = container_of(manifest(imagePullPolicy="IfNotPresent",
                                 pod={"envFrom": [{"secretRef": {"name": "hf"}}]}))
    assert cont["imagePullPolicy"] == "IfNotPresent"
    assert cont["envFrom"] == [{"secretRef": {"name": "hf"}}]
    assert cont["command"][:3] == ["tini", "-s", "--"]


def test_ports_and_readiness_probe():
    j = job()
    metrics = {"name": c.TRAINER_METRICS_PORT_NAME, "containerPort": c.TRAINER_METRICS_PORT, "protocol": "TCP"}
    full = trainer_container(j, image=IMAGE, namespace="ns")
    assert full["ports"] == [metrics]
    assert full["readinessProbe"] == {"tcpSocket": {"port": c.TRAINER_METRICS_PORT_NAME}, "periodSeconds": 10,
                                      "failureThreshold": 3}
    assert "command" not in full  # Ray containers: KubeRay runs `ray start`
    extra = {"name": "gcs", "containerPort": 6379}
    no_metrics = trainer_container(j, image=IMAGE, namespace="ns", metrics_port=False, extra_ports=[extra])
    assert no_metrics["ports"] == [extra] and "readinessProbe" not in no_metrics
    bare = trainer_container(j, image=IMAGE, namespace="ns", metrics_port=False)
    assert "ports" not in bare and "readinessProbe" not in bare
    unprobed = trainer_container(j, image=IMAGE, namespace="ns", readiness=False)
    assert unprobed["ports"] == [metrics] and "readinessProbe" not in unprobed
    assert full["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_cpu_job_asks_for_no_gpu_and_gpu_job_for_its_count():
    cpu = trainer_resources(job(engine="trl", resources={"gpusPerNode": 0}))
    assert set(cpu["requests"]) == {"cpu", "memory"} and cpu["requests"] == cpu["limits"]
    gpu = trainer_resources(job(resources={"gpusPerNode": 2}))
    assert gpu["limits"]["nvidia.com/gpu"] == "2" and gpu["requests"] == gpu["limits"]


def test_security_contexts_carry_the_jobs_ids_and_capabilities():
    m = manifest(pod={"securityContext": {"runAsUser": 2000, "runAsGroup": 3000, "fsGroup": 4000,
                                          "readOnlyRootFilesystem": False, "addCapabilities": ["IPC_LOCK"]}})
    sc = container_of(m)["securityContext"]
    assert sc == {"runAsNonRoot": True, "runAsUser": 2000, "runAsGroup": 3000, "allowPrivilegeEscalation": False,
                  "readOnlyRootFilesystem": False, "capabilities": {"drop": ["ALL"], "add": ["IPC_LOCK"]},
                  "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod_of(m)["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": 2000, "runAsGroup": 3000, "fsGroup": 4000,
        "fsGroupChangePolicy": "OnRootMismatch", "seccompProfile": {"type": "RuntimeDefault"}}
    assert container_of(manifest())["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_user_env_replaces_a_builtin_of_the_same_name_and_goes_last():
    env = container_of(manifest(pod={"env": [{"name": "HOME", "value": "/mine"}, {"name": "X", "value": "1"}]}))["env"]
    names = [e["name"] for e in env]
    assert names.count("HOME") == 1 and names[-2:] == ["HOME", "X"]
    assert env[-2] == {"name": "HOME", "value": "/mine"}
    assert env[0] == {"name": "GRPO_JOB_NAME", "value": "pin"}
    assert env[1] == {"name": "GRPO_NAMESPACE", "value": "team-a"}


# --- the pod template --------------------------------------------------------------------------------------


def test_scheduling_fields_only_when_set():
    plain = pod_of(manifest())
    for key in ("nodeSelector", "tolerations", "affinity", "priorityClassName", "serviceAccountName",
                "imagePullSecrets"):
        assert key not in plain
    assert plain["enableServiceLinks"] is False and plain["automountServiceAccountToken"] is False
    assert "annotations" not in manifest()["spec"]["template"]["metadata"]
    m = manifest(pod={
        "nodeSelector": {"pool": "gpu"}, "tolerations": [{"key": "gpu", "operator": "Exists"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
        "priorityClassName": "high", "serviceAccountName": "trainer", "imagePullSecrets": [{"name": "reg"}],
        "labels": {"team": "a"}, "annotations": {"note": "x"}})
    p = pod_of(m)
    assert p["nodeSelector"] == {"pool": "gpu"}
    assert p["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert p["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert (p["priorityClassName"], p["serviceAccountName"]) == ("high", "trainer")
    assert p["imagePullSecrets"] == [{"name": "reg"}]
    meta = m["spec"]["template"]["metadata"]
    assert meta["annotations"] == {"note": "x"} and meta["labels"]["team"] == "a"


def test_pod_template_without_restart_policy():
    t = pod_template(job(), containers=[])
    assert "restartPolicy" not in t["spec"]


# --- cluster-wide pod defaults -----------------------------------------------------------------------------


def test_defaults_none_and_empty_lists():
    j = job()
    assert with_pod_defaults(j, None) is j
    merged = with_pod_defaults(j, PodSpec()).spec.pod
    assert merged.env is None and merged.image_pull_secrets is None
    assert merged.tolerations is None and merged.node_selector is None


def test_defaults_merge_one_sided_lists_and_dedupe_tolerations():
    tol = {"key": "gpu", "operator": "Exists"}
    defaults = PodSpec.model_validate({"env": [{"name": "A", "value": "d"}], "tolerations": [tol],
                                       "imagePullSecrets": [{"name": "reg"}]})
    own = job(pod={"tolerations": [tol, {"key": "x", "operator": "Exists"}]})
    pod = with_pod_defaults(own, defaults).spec.pod
    assert [t.key for t in pod.tolerations] == ["gpu", "x"]
    assert [e.name for e in pod.env] == ["A"]
    assert [s.name for s in pod.image_pull_secrets] == ["reg"]
    only_own = with_pod_defaults(job(pod={"env": [{"name": "B", "value": "o"}]}), PodSpec()).spec.pod
    assert [e.name for e in only_own.env] == ["B"]
