"""Cluster-wide trainer pod defaults (the chart's trainer.podDefaults, env GRPO_TRAINER_POD_DEFAULTS): parsed by
operator_config, merged under a GRPOJob's own spec.pod by the pure builders; the GRPOJob wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from grpo_api import parse_grpojob
from grpo_api.spec import PodSpec
from grpo_operator.builders import build_children
from grpo_operator.operator_config import POD_DEFAULTS_ENV, OperatorConfig, parse_pod_defaults

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEFAULTS = {
    "nodeSelector": {"pool": "gpu", "zone": "a"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "priorityClassName": "training-default",
    "imagePullSecrets": [{"name": "registry"}],
    "env": [{"name": "NCCL_DEBUG", "value": "WARN"}, {"name": "HF_HUB_OFFLINE", "value": "1"}],
}


def job(example: str = "minimal.yaml", pod: dict | None = None):
    body = yaml.safe_load((EXAMPLES / example).read_text())
    if pod is not None:
        body["spec"]["pod"] = pod
    return parse_grpojob(body)


def pod_specs(children: list[dict]) -> list[dict]:
    """Every trainer pod spec of the workload (the Job pod, or the RayJob head and worker pods)."""
    workload = children[-1]
    if workload["kind"] == "Job":
        return [workload["spec"]["template"]["spec"]]
    ray = workload["spec"]["rayClusterSpec"]
    return [ray["headGroupSpec"]["template"]["spec"]] + [g["template"]["spec"] for g in ray["workerGroupSpecs"]]


def build(j, defaults: dict | None):
    return build_children(j, uid="u1", image="img", namespace="ml",
                          pod_defaults=parse_pod_defaults(json.dumps(defaults)) if defaults else None)


@pytest.mark.parametrize("example", ["minimal.yaml", "multi-node.yaml"])
def test_defaults_apply_to_every_trainer_pod_of_a_job_that_sets_nothing(example):
    for spec in pod_specs(build(job(example, pod={}), DEFAULTS)):
        assert spec["nodeSelector"] == DEFAULTS["nodeSelector"]
        assert spec["tolerations"] == DEFAULTS["tolerations"]
        assert spec["priorityClassName"] == "training-default"
        assert spec["imagePullSecrets"] == [{"name": "registry"}]
        env = {e["name"]: e.get("value") for c in spec["containers"] for e in c["env"]}
        assert env["NCCL_DEBUG"] == "WARN" and env["HF_HUB_OFFLINE"] == "1"


def test_the_grpojob_wins_over_the_defaults():
    own = {
        "nodeSelector": {"pool": "h100"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"}],
        "priorityClassName": "urgent",
        "imagePullSecrets": [{"name": "mine"}, {"name": "registry"}],
        "env": [{"name": "NCCL_DEBUG", "value": "INFO"}],
    }
    (spec,) = pod_specs(build(job(pod=own), DEFAULTS))
    assert spec["nodeSelector"] == {"pool": "h100", "zone": "a"}
    assert spec["tolerations"] == own["tolerations"] + DEFAULTS["tolerations"]
    assert spec["priorityClassName"] == "urgent"
    assert sorted(s["name"] for s in spec["imagePullSecrets"]) == ["mine", "registry"]
    env = [e for e in spec["containers"][0]["env"] if e["name"] == "NCCL_DEBUG"]
    assert env == [{"name": "NCCL_DEBUG", "value": "INFO"}]


def test_no_defaults_changes_nothing_and_the_config_map_keeps_the_jobs_own_spec():
    j = job()
    assert build(j, None) == build_children(j, uid="u1", image="img", namespace="ml")
    with_defaults = build(j, DEFAULTS)
    assert with_defaults[0] == build(j, None)[0]  # the resolved-config ConfigMap: the GRPOJob as written


def test_from_env(monkeypatch):
    monkeypatch.setenv(POD_DEFAULTS_ENV, json.dumps({"priorityClassName": "low"}))
    assert OperatorConfig.from_env().trainer_pod_defaults == PodSpec(priority_class_name="low")
    monkeypatch.delenv(POD_DEFAULTS_ENV)
    assert OperatorConfig.from_env().trainer_pod_defaults is None


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("{", "not JSON"),
        ("[]", "expected a JSON object"),
        ('{"affinity": {}}', "unknown field(s) affinity; allowed: nodeSelector"),
        ('{"tolerations": [{"effect": "Sometimes"}]}', "tolerations.0.effect"),
        ('{"env": [{"value": "x"}]}', "env.0.name"),
    ],
)
def test_bad_defaults_name_the_variable_and_field(raw, words):
    with pytest.raises(ValueError, match=POD_DEFAULTS_ENV) as e:
        parse_pod_defaults(raw)
    assert words in str(e.value)


labels = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["x", "y"]), max_size=4)
names = st.lists(st.sampled_from(["A", "B", "C", "D"]), unique=True, max_size=4)


@settings(max_examples=60, deadline=None)
@given(own_sel=labels, def_sel=labels, own_env=names, def_env=names, own_pc=st.sampled_from([None, "mine"]))
def test_merge_properties(own_sel, def_sel, own_env, def_env, own_pc):
    """Every default appears unless the GRPOJob sets the same key/name, and every GRPOJob value is kept."""
    own = {"nodeSelector": own_sel, "env": [{"name": n, "value": "own"} for n in own_env]}
    if own_pc:
        own["priorityClassName"] = own_pc
    defaults = {"nodeSelector": def_sel, "env": [{"name": n, "value": "default"} for n in def_env],
                "priorityClassName": "default"}
    (spec,) = pod_specs(build(job(pod=own), defaults))
    assert spec.get("nodeSelector", {}) == {**def_sel, **own_sel}
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    assert len([e for e in spec["containers"][0]["env"] if e["name"] in own_env + def_env]) == len(
        set(own_env) | set(def_env))
    assert all(env[n] == "own" for n in own_env)
    assert all(env[n] == "default" for n in set(def_env) - set(own_env))
    assert spec["priorityClassName"] == (own_pc or "default")
