"""The RayJob the operator builds, against what really consumes it: KubeRay v1.7.0's RayJob CRD (strict), KubeRay's
and Kueue's own rules (tests/kuberay_kueue.py, which cites the upstream functions), and the pods KubeRay makes
from it (ports for monitoring, QoS). Also the upstream-CRD validator itself (tests/upstream_crds.py), the GRPOJob
TTL, and the Kubernetes versions the Job is valid on."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from grpo_api import constants as c
from grpo_api import parse_grpojob
from grpo_api.job import GRPOJobInvalid
from grpo_operator.builders import build_children
from grpo_operator.builders.rayjob import RAY_CLUSTER_TTL_SECONDS
from tests import upstream_crds
from tests.kuberay_kueue import (
    KUEUE_MAX_POD_SETS,
    RAY_METRICS_PORT,
    RAY_METRICS_PORT_NAME,
    kuberay_errors,
    kuberay_pods,
    kueue_errors,
    kueue_pod_sets,
    qos_class,
)
from tests.tools import SUPPORTED_KUBE_MINORS as SUPPORTED_MINORS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
UID = "6f1c2a9e-1111-4c2b-9a51-0123456789ab"
IMAGE = "registry.example/grpo-trainer:test"


@pytest.fixture(autouse=True, scope="module")
def _crds():
    upstream_crds.require_upstream_crds()


def _body(path: Path) -> dict:
    return next(d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == c.KIND)


def rayjob_variants() -> list[tuple[str, dict]]:
    """Every example as a multi-node job (2, 3 and 8 nodes; queued in Kueue and not), built by the operator."""
    out = []
    for path in EXAMPLES:
        for nodes in (2, 3, 8):
            for queued in (False, True):
                body = copy.deepcopy(_body(path))
                spec = body["spec"]
                spec.setdefault("resources", {})["nodes"] = nodes
                spec.setdefault("checkpoint", {}).setdefault("claimName", "shared-rwx")
                labels = body["metadata"].setdefault("labels", {})
                labels.pop(c.KUEUE_QUEUE_LABEL, None)
                if queued:
                    labels[c.KUEUE_QUEUE_LABEL] = "gpu-queue"
                    spec["ttlSecondsAfterFinished"] = 3600
                try:
                    job = parse_grpojob(body)
                except GRPOJobInvalid:
                    continue  # e.g. the trl CPU example: single-node by design
                ray = build_children(job, uid=UID, image=IMAGE, namespace="team-a")[-1]
                out.append((f"{path.stem}-{nodes}n{'-kueue' if queued else ''}", ray))
    return out


RAYJOBS = rayjob_variants()
IDS = [name for name, _ in RAYJOBS]


def test_every_gpu_example_gives_rayjob_variants():
    assert len({name.split("-")[0] for name, _ in RAYJOBS}) >= 4
    assert all(ray["kind"] == "RayJob" for _, ray in RAYJOBS)


# --- the validator (tests/upstream_crds.py) ------------------------------------------------------------------


def _minimal_rayjob() -> dict:
    return copy.deepcopy(RAYJOBS[0][1])


def test_validator_rejects_an_unknown_field_and_a_wrong_type():
    ray = _minimal_rayjob()
    assert upstream_crds.validate(ray) == []
    ray["spec"]["shutdownAfterJobFinish"] = True  # misspelled
    ray["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replicas"] = "1"
    ray["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["ports"][0]["nmae"] = "x"
    errors = upstream_crds.validate(ray)
    assert "spec.shutdownAfterJobFinish: unknown field" in errors
    assert "spec.rayClusterSpec.workerGroupSpecs[0].replicas: '1' is not of type 'integer'" in errors
    assert "spec.rayClusterSpec.headGroupSpec.template.spec.containers[0].ports[0].nmae: unknown field" in errors


def test_validator_openapi_semantics_int_or_string_nullable_preserve_and_cel():
    """int-or-string and nullable accept both forms; CEL rules (x-kubernetes-validations) are evaluated."""
    ray = _minimal_rayjob()
    container = ray["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    for port in (8265, "dashboard"):
        container["readinessProbe"] = {"httpGet": {"port": port, "path": "/"}}
        assert upstream_crds.validate(ray) == [], port
    container["readinessProbe"] = {"httpGet": {"port": 1.5, "path": "/"}}
    assert upstream_crds.validate(ray)
    del container["readinessProbe"]
    ray["spec"]["deletionStrategy"] = {"onSuccess": {"policy": "DeleteCluster"}}  # CEL: needs onFailure too
    assert any("deletionStrategy" in e and "onSuccess and onFailure" in e for e in upstream_crds.validate(ray))
    schema = upstream_crds.to_draft4({"type": "object", "properties": {
        "a": {"type": "string", "nullable": True},
        "b": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "c": {"type": "object"},
        "n": {"type": "integer", "minimum": 0, "exclusiveMinimum": True}}}, root=False)
    import jsonschema
    v = jsonschema.Draft4Validator(schema)
    assert not list(v.iter_errors({"a": None, "b": {"anything": 1}, "n": 1}))
    assert list(v.iter_errors({"c": {"x": 1}}))  # an object with no properties keeps nothing
    assert list(v.iter_errors({"n": 0}))  # boolean exclusiveMinimum (Draft 4)


_KEY = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12)
_PLACES = [("spec",), ("spec", "rayClusterSpec"), ("spec", "rayClusterSpec", "headGroupSpec"),
           ("spec", "rayClusterSpec", "headGroupSpec", "template", "spec")]


@settings(max_examples=60, deadline=None)
@given(place=st.sampled_from(_PLACES), key=_KEY)
def test_validator_reports_any_unknown_key_anywhere_by_its_path(place, key):
    ray = _minimal_rayjob()
    node = ray
    for p in place:
        node = node[p]
    schema = upstream_crds.crd_schema("RayJob", "v1")
    for p in place:
        schema = schema["properties"][p] if "properties" in schema else schema
    known = set(schema.get("properties", {})) | set(node)
    if key in known:
        return
    node[key] = 1
    assert f"{'.'.join(place)}.{key}: unknown field" in upstream_crds.validate(ray)


@settings(max_examples=40, deadline=None)
@given(value=st.one_of(st.text(max_size=5), st.floats(allow_nan=False), st.booleans(), st.none()))
def test_validator_reports_a_non_integer_replica_count(value):
    ray = _minimal_rayjob()
    ray["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replicas"] = value
    if isinstance(value, float) and value.is_integer():
        return  # JSON has one number type: 2.0 is an integer to the API server too
    assert any(e.startswith("spec.rayClusterSpec.workerGroupSpecs[0].replicas:") for e in upstream_crds.validate(ray))


# --- every RayJob against KubeRay's CRD and rules, and Kueue's -------------------------------------------------


@pytest.mark.parametrize(("name", "ray"), RAYJOBS, ids=IDS)
def test_rayjob_is_valid_for_kuberay_and_kueue(name, ray):
    assert upstream_crds.validate(ray) == []
    assert kuberay_errors(ray) == []
    if c.KUEUE_QUEUE_LABEL in ray["metadata"]["labels"]:
        assert kueue_errors(ray) == []
        assert len(kueue_pod_sets(ray)) == 2  # head + one worker group; SidecarMode has no submitter PodSet


def _broken(change) -> dict:
    ray = _minimal_rayjob()
    change(ray["spec"], ray["spec"]["rayClusterSpec"])
    return ray


@pytest.mark.parametrize(("change", "message"), [
    (lambda s, cl: s.update(submitterPodTemplate={"spec": {"containers": []}}), "doesn't support SubmitterPodTemplate"),
    (lambda s, cl: cl["headGroupSpec"]["template"]["spec"].update(restartPolicy="Always"), "should be Never"),
    (lambda s, cl: s.update(shutdownAfterJobFinishes=False, suspend=True), "not allowed to be suspended"),
    (lambda s, cl: s.update(shutdownAfterJobFinishes=False, ttlSecondsAfterFinished=60), "cannot have TTL"),
    (lambda s, cl: cl["workerGroupSpecs"][0].pop("maxReplicas"), "must set both minReplicas and maxReplicas"),
    (lambda s, cl: cl["workerGroupSpecs"][0].update(resources={"GPU": "8"}), "both rayStartParams and Resources"),
])
def test_kuberay_rules_are_not_vacuous(change, message):
    assert any(message in e for e in kuberay_errors(_broken(change)))


@pytest.mark.parametrize(("change", "message"), [
    (lambda s, cl: s.update(suspend=False), "created suspended"),
    (lambda s, cl: s.update(shutdownAfterJobFinishes=False), "delete the cluster after finishing"),
    (lambda s, cl: cl["workerGroupSpecs"][0].update(groupName="head"), "reserved for the head group"),
    (lambda s, cl: cl.update(enableInTreeAutoscaling=True), "autoscaling"),
    (lambda s, cl: cl.update(workerGroupSpecs=[dict(cl["workerGroupSpecs"][0], groupName=f"g{i}")
                                               for i in range(KUEUE_MAX_POD_SETS)]), "too many PodSets"),
])
def test_kueue_rules_are_not_vacuous(change, message):
    ray = _broken(change)
    assert any(message in e for e in kueue_errors(ray)), kueue_errors(ray)


def test_kueue_pod_set_limit_counts_head_workers_and_the_k8sjobmode_submitter():
    ray = _minimal_rayjob()
    cl = ray["spec"]["rayClusterSpec"]
    cl["workerGroupSpecs"] = [dict(cl["workerGroupSpecs"][0], groupName=f"g{i}") for i in range(KUEUE_MAX_POD_SETS - 1)]
    assert len(kueue_pod_sets(ray)) == KUEUE_MAX_POD_SETS and not any("PodSets" in e for e in kueue_errors(ray))
    ray["spec"]["submissionMode"] = "K8sJobMode"
    assert any("too many PodSets" in e for e in kueue_errors(ray))


# --- TTL: GPUs are freed when training ends; the GRPOJob's TTL means the same for 1 and N nodes ---------------


@pytest.mark.parametrize("ttl", [None, 0, 600, 86400])
def test_ray_cluster_is_deleted_when_the_job_ends_whatever_the_grpojob_ttl(ttl):
    body = _body(ROOT / "examples" / "multi-node.yaml")
    body["spec"]["ttlSecondsAfterFinished"] = ttl
    ray = build_children(parse_grpojob(body), uid=UID, image=IMAGE, namespace="ns")[-1]["spec"]
    # KubeRay deletes the RayCluster ttlSecondsAfterFinished after the end (handleShutdownAfterJobFinishes) and
    # never the RayJob: anything but 0 keeps every GPU pod idle, outside Kueue's quota, that long.
    assert ray["shutdownAfterJobFinishes"] is True
    assert ray["ttlSecondsAfterFinished"] == RAY_CLUSTER_TTL_SECONDS == 0


# --- ports and monitoring as KubeRay mutates the pods; QoS ----------------------------------------------------


def _ports(container: dict) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container.get("ports", [])}


@pytest.mark.parametrize(("name", "ray"), RAYJOBS[:4], ids=IDS[:4])
def test_trainer_port_survives_kuberay_and_never_shares_rays_metrics_name(name, ray):
    assert c.TRAINER_METRICS_PORT_NAME != RAY_METRICS_PORT_NAME
    pods = kuberay_pods(ray)
    head = pods.pop("head")
    # the head runs the driver (and the exporter): our port by its own name, plus Ray's `metrics` on 8080
    assert _ports(head["spec"]["containers"][0]) == {
        "gcs-server": 6379, "dashboard": 8265, "client": 10001,
        c.TRAINER_METRICS_PORT_NAME: c.TRAINER_METRICS_PORT, RAY_METRICS_PORT_NAME: RAY_METRICS_PORT}
    for worker in pods.values():  # workers run no exporter: only Ray's metrics port
        assert _ports(worker["spec"]["containers"][0]) == {RAY_METRICS_PORT_NAME: RAY_METRICS_PORT}


def test_qos_job_pod_and_workers_guaranteed_head_burstable_as_the_readme_says():
    job = build_children(parse_grpojob(_body(ROOT / "examples" / "minimal.yaml")), uid=UID, image=IMAGE,
                         namespace="ns")[-1]
    assert qos_class({"spec": job["spec"]["template"]["spec"]}) == "Guaranteed"
    pods = kuberay_pods(RAYJOBS[0][1])
    assert qos_class(pods.pop("head")) == "Burstable"  # KubeRay's SidecarMode submitter: requests < limits
    assert {qos_class(p) for p in pods.values()} == {"Guaranteed"}
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "CPU/memory/GPU requests equal limits." not in readme  # the old, unqualified claim
    assert "head pod is Burstable" in readme


# --- Kubernetes versions ----------------------------------------------------------------------------------


def test_chart_kube_version_is_the_first_supported_minor():
    chart = yaml.safe_load((ROOT / "charts" / "grpo-operator" / "Chart.yaml").read_text())
    m = re.fullmatch(r">=(\d+)\.(\d+)\.0-0", chart["kubeVersion"])
    assert m and f"{m[1]}.{m[2]}.0" == SUPPORTED_MINORS[0]


@pytest.mark.parametrize("example", [p.stem for p in EXAMPLES])
def test_children_validate_strictly_on_every_supported_minor(example):
    objs = build_children(parse_grpojob(_body(ROOT / "examples" / f"{example}.yaml")), uid=UID, image=IMAGE,
                          namespace="ns")
    for obj in objs:
        if obj["kind"] == "RayJob":
            continue  # KubeRay's CRD: the tests above
        for version in SUPPORTED_MINORS:
            kubernetes_validate.validate(obj, version, strict=True)


def test_job_is_refused_before_the_supported_range():
    """1.27's strict validation refuses podReplacementPolicy (1.28 accepts the field but drops it: alpha, off).

    podFailurePolicy is set aside for 1.27: its published OpenAPI marks rules[].onPodConditions required, which
    the API server did not enforce, so the schema would fail first for a reason that is not real."""
    job = build_children(parse_grpojob(_body(ROOT / "examples" / "minimal.yaml")), uid=UID, image=IMAGE,
                         namespace="ns")[-1]
    assert job["spec"]["podReplacementPolicy"] == "Failed"
    without_pfp = copy.deepcopy(job)
    del without_pfp["spec"]["podFailurePolicy"]
    with pytest.raises(kubernetes_validate.ValidationError, match="podReplacementPolicy"):
        kubernetes_validate.validate(without_pfp, "1.27.0", strict=True)
    del without_pfp["spec"]["podReplacementPolicy"]
    kubernetes_validate.validate(without_pfp, "1.27.0", strict=True)  # that field alone is the reason
