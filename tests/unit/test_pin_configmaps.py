"""Pins the config and inline-reward ConfigMaps where mutation testing found them unpinned: the text a user
reads with `kubectl get configmap <name>-config -o yaml` (the resolved GRPOJob as JSON: readable, indented,
independent of the order the user wrote fields in, so the operator never sees a spurious change) and the
reward ConfigMap's presence and content."""

from __future__ import annotations

import json

import kubernetes_validate

from grpo_api import constants as c
from grpo_api import parse_grpojob
from grpo_operator.builders import build_config_configmap, build_reward_configmap, resolved_job

UID = "6f1c2a9e-1111-4c2b-9a51-0123456789ab"
K8S_VERSION = "1.35.0"
REWARD = "def compute_score(completion, answer, **kw):\n    return 1.0  # 满分\n"


def job(annotations: dict | None = None, reward: dict | None = None, status: dict | None = None):
    spec = {"model": {"path": "Qwen/Qwen2.5-0.5B-Instruct"}, "data": {"train": {"path": "embedded:math"}}}
    if annotations is not None:
        spec["pod"] = {"annotations": annotations}
    if reward is not None:
        spec["reward"] = reward
    body = {"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob",
            "metadata": {"name": "pin", "namespace": "team-a", "labels": {"team": "ml"}}, "spec": spec}
    if status is not None:
        body["status"] = status
    return parse_grpojob(body)


def config_text(j) -> str:
    cm = build_config_configmap(j, uid=UID, namespace="team-a")
    kubernetes_validate.validate(cm, K8S_VERSION, strict=True)
    assert list(cm["data"]) == [c.CONFIG_KEY]
    return cm["data"][c.CONFIG_KEY]


def test_config_is_two_space_indented_json_ending_in_a_newline():
    text = config_text(job())
    assert text.startswith('{\n  "apiVersion": "grpo.dev/v1alpha1",\n  "kind": "GRPOJob",\n  "metadata": {\n'
                           '    "name": "pin",\n    "namespace": "team-a",\n    "uid": "' + UID + '"\n  },\n')
    assert text.endswith("\n}\n")


def test_config_text_does_not_depend_on_the_order_fields_were_written_in():
    one = config_text(job(annotations={"b": "1", "a": "2"}))
    other = config_text(job(annotations={"a": "2", "b": "1"}))
    assert one == other
    assert one.index('"a": "2"') < one.index('"b": "1"')


def test_non_ascii_text_stays_readable():
    text = config_text(job(annotations={"note": "训练 ü"}))
    assert '"note": "训练 ü"' in text and "\\u" not in text


def test_the_resolved_job_carries_only_name_namespace_uid_and_no_status():
    j = job(status={"phase": "Running"})
    wire = resolved_job(j, uid=UID, namespace="elsewhere")
    assert wire["metadata"] == {"name": "pin", "namespace": "elsewhere", "uid": UID}
    assert "status" not in wire and "status" not in json.loads(config_text(j))
    assert parse_grpojob(wire).spec == j.spec


def test_inline_reward_gets_its_own_configmap_and_other_rewards_none():
    cm = build_reward_configmap(job(reward={"inline": REWARD}), uid=UID, namespace="team-a")
    kubernetes_validate.validate(cm, K8S_VERSION, strict=True)
    assert (cm["metadata"]["name"], cm["data"]) == ("pin-reward", {"reward.py": REWARD})
    assert cm["metadata"]["labels"][c.LABEL_COMPONENT] == "reward"
    assert build_reward_configmap(job(), uid=UID, namespace="team-a") is None
    ref = job(reward={"configMapRef": {"name": "r", "key": "score.py"}})
    assert build_reward_configmap(ref, uid=UID, namespace="team-a") is None
