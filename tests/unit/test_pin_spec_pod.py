"""Pins the core/v1 shapes in spec.pod both ways (mutation testing found only the refusals pinned): each
toleration, env var and envFrom form Kubernetes accepts is accepted, each one it refuses is refused naming the
rule, and an env var the operator manages is refused."""

import pytest

from .test_pin_spec import errors

KEY_EMPTY = "operator must be Exists when key is empty"
EXISTS_VALUE = "value must be empty when operator is Exists"
SECONDS_EFFECT = "effect must be NoExecute when tolerationSeconds is set"


@pytest.mark.parametrize(("toleration", "error"), [
    ({"key": "k"}, None),  # operator unset: Kubernetes' default Equal
    ({"key": "k", "value": "v"}, None),
    ({"key": "k", "operator": "Equal", "value": "v"}, None),
    ({"operator": "Exists"}, None),  # no key: tolerate every taint
    ({"key": "k", "operator": "Exists", "value": ""}, None),
    ({"key": "k", "effect": "NoSchedule"}, None),
    ({"key": "k", "effect": "PreferNoSchedule"}, None),
    ({"key": "k", "effect": "NoExecute", "tolerationSeconds": 5}, None),
    ({}, KEY_EMPTY),
    ({"operator": "Equal"}, KEY_EMPTY),
    ({"value": "v"}, KEY_EMPTY),
    ({"key": "k", "operator": "Exists", "value": "v"}, EXISTS_VALUE),
    ({"key": "k", "tolerationSeconds": 5}, SECONDS_EFFECT),  # effect unset
    ({"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}, SECONDS_EFFECT),
    ({"key": "k", "effect": "PreferNoSchedule", "tolerationSeconds": 5}, SECONDS_EFFECT),
])
def test_tolerations(toleration, error):
    errs = errors(pod={"tolerations": [toleration]})
    assert errs == ([] if error is None else [f"spec.pod.tolerations[0]: {error}"])


SECRET = {"secretKeyRef": {"name": "s", "key": "k"}}


@pytest.mark.parametrize(("env", "accepted"), [
    ({"name": "A", "value": "x"}, True),
    ({"name": "A"}, True),  # an empty variable
    ({"name": "A", "valueFrom": SECRET}, True),
    ({"name": "A", "value": "", "valueFrom": SECRET}, True),  # Kubernetes treats "" as unset
    ({"name": "A", "value": "x", "valueFrom": SECRET}, False),
])
def test_env_value_or_value_from(env, accepted):
    errs = errors(pod={"env": [env]})
    assert errs == ([] if accepted else ["spec.pod.env[0]: set value or valueFrom, not both"])


@pytest.mark.parametrize(("refs", "accepted"), [
    ({"secretRef": {"name": "s"}}, True),
    ({"configMapRef": {"name": "c"}}, True),
    ({"secretRef": {"name": "s"}, "configMapRef": {"name": "c"}}, False),
    ({}, False),
])
def test_env_from_takes_exactly_one_source(refs, accepted):
    errs = errors(pod={"envFrom": [{"prefix": "P_", **refs}]})
    assert errs == ([] if accepted else ["spec.pod.envFrom[0]: set exactly one of secretRef, configMapRef"])


def test_env_may_not_set_what_the_operator_manages():
    assert errors(pod={"env": [{"name": "A", "value": "1"}, {"name": "RAY_ADDRESS", "value": "x"}]}) == [
        "spec.pod: env may not set RAY_ADDRESS: the operator manages it"]
    assert errors(pod={"env": [{"name": "RAY_ADDRESS_X", "value": "x"}]}) == []
