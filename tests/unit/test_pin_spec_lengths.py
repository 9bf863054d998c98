"""Pins the size limits of the GRPOJob spec (mutation testing found them unpinned): every string field with a
length limit accepts a value exactly at the limit and refuses one character more, naming the field and the limit;
fields that may not be empty refuse "" the same way; lists and maps refuse one item past their limit; the
toleration's tolerationSeconds spans exactly int64."""

import pytest

from .test_pin_spec import errors, ok

CM = {"name": "cm", "key": "k"}


def _fieldpath(n):  # metadata.labels['<key>'] of n characters in all
    return "metadata.labels['" + "k" * (n - 19) + "']"


def _gpu_resource(n):  # <domain>/<name>: the name part is at most 63 characters, so the domain makes up the rest
    if n < 64:
        return None  # no extended resource name is one character long
    domain = n - 64
    labels, rest = [], domain
    while rest > 0:
        take = min(63, rest)
        labels.append("a" * take)
        rest -= take + 1
    return ".".join(labels)[:domain] + "/" + "g" * 63


def _env_value_from(source):
    return {"pod": {"env": [{"name": "A", "valueFrom": source}]}}


# (error location, maximum length, value of a given length -> spec fields, minimum length or None)
STRINGS = [
    ("spec.data.train.configMap.name", 253, lambda v: {"data": {"train": {"configMap": {**CM, "name": v}}}}, 1,
     lambda n: "a" * n),
    ("spec.data.train.configMap.key", 253, lambda v: {"data": {"train": {"configMap": {**CM, "key": v}}}}, 1,
     lambda n: "k" * n),
    ("spec.resources.cpu", 64, lambda v: {"resources": {"cpu": v}}, None, lambda n: "1" * n),
    ("spec.pod.env[0].name", 256, lambda v: {"pod": {"env": [{"name": v, "value": "x"}]}}, 1, lambda n: "A" * n),
    ("spec.model.path", 1024, lambda v: {"model": {"path": v}}, 1, lambda n: "m" * n),
    ("spec.data.train.path", 1024, lambda v: {"data": {"train": {"path": v}}}, 1, lambda n: "p" * n),
    ("spec.data.train.pvc.path", 1024, lambda v: {"data": {"train": {"pvc": {"claimName": "c", "path": v}}}}, 1,
     lambda n: "p" * n),
    ("spec.data.train.pvc.claimName", 253, lambda v: {"data": {"train": {"pvc": {"claimName": v, "path": "/p"}}}},
     1, lambda n: "c" * n),
    ("spec.pod.env[0].valueFrom.fieldRef.fieldPath", 512,
     lambda v: _env_value_from({"fieldRef": {"fieldPath": v}}), None, _fieldpath),
    ("spec.pod.env[0].valueFrom.resourceFieldRef.containerName", 63,
     lambda v: _env_value_from({"resourceFieldRef": {"resource": "limits.cpu", "containerName": v}}), None,
     lambda n: "c" * n),
    ("spec.data.train.url", 2048, lambda v: {"data": {"train": {"url": v}}}, None,
     lambda n: "https://e.com/" + "u" * (n - 14)),
    ("spec.reward.inline", 262144, lambda v: {"reward": {"inline": v}}, 1, lambda n: "#" * n),
    ("spec.reward.path", 1024, lambda v: {"reward": {"path": v}}, 1, lambda n: "r" * n),
    ("spec.reward.functionName", 128, lambda v: {"reward": {"functionName": v}}, None, lambda n: "f" * n),
    ("spec.resources.gpuResourceName", 253, lambda v: {"resources": {"gpuResourceName": v}}, 1, _gpu_resource),
    ("spec.checkpoint.claimName", 253, lambda v: {"checkpoint": {"claimName": v}}, 1, lambda n: "c" * n),
    ("spec.checkpoint.resumeFrom", 1024, lambda v: {"checkpoint": {"resumeFrom": v}}, 1, lambda n: "s" * n),
    ("spec.pod.priorityClassName", 253, lambda v: {"pod": {"priorityClassName": v}}, None, lambda n: "p" * n),
    ("spec.pod.serviceAccountName", 253, lambda v: {"pod": {"serviceAccountName": v}}, None, lambda n: "s" * n),
    ("spec.tracking.project", 128, lambda v: {"tracking": {"project": v}}, 1, lambda n: "p" * n),
    ("spec.tracking.experiment", 128, lambda v: {"tracking": {"experiment": v}}, 1, lambda n: "e" * n),
    ("spec.image", 1024, lambda v: {"image": v}, 1, lambda n: "i" * n),
    ("spec.overrides[0]", 512, lambda v: {"overrides": [v]}, None, lambda n: "a.b=" + "x" * (n - 4)),
    ("spec.model.targetModules", None, lambda v: {"model": {"path": "m", "targetModules": v}}, 1, lambda n: "t" * n),
]


@pytest.mark.parametrize(("where", "limit", "spec", "low", "fill"), STRINGS, ids=[s[0] for s in STRINGS])
def test_string_length_limits(where, limit, spec, low, fill):
    if limit is not None:
        assert ok(**spec(fill(limit))), errors(**spec(fill(limit)))
        errs = errors(**spec(fill(limit + 1)))
        # (pydantic words the limit of an optional string "at most N items": still the field and its limit)
        assert len(errs) == 1 and errs[0].startswith(f"{where}: ") and f"at most {limit} " in errs[0], errs
    if low is not None:
        if fill(low) is not None:
            assert ok(**spec(fill(low))), errors(**spec(fill(low)))
        errs = errors(**spec(""))
        assert len(errs) == 1 and errs[0].startswith(f"{where}: ") and f"at least {low} character" in errs[0], errs


def test_reward_kwargs_names_and_count():
    assert ok(reward={"kwargs": {"k" * 128: 1}})
    errs = errors(reward={"kwargs": {"k" * 129: 1}})
    assert len(errs) == 1 and errs[0].startswith("spec.reward.kwargs.") and "at most 128 characters" in errs[0], errs
    assert ok(reward={"kwargs": {f"k{i}": i for i in range(64)}})
    errs = errors(reward={"kwargs": {f"k{i}": i for i in range(65)}})
    assert len(errs) == 1 and errs[0].startswith("spec.reward.kwargs: ") and "at most 64 items" in errs[0], errs


def test_list_limits():
    assert ok(pod={"securityContext": {"addCapabilities": ["IPC_LOCK", "SYS_NICE", "NET_BIND_SERVICE"]}})
    errs = errors(pod={"securityContext": {"addCapabilities": ["IPC_LOCK", "SYS_NICE", "NET_BIND_SERVICE",
                                                                 "IPC_LOCK"]}})
    assert len(errs) == 1 and errs[0].startswith("spec.pod.securityContext.addCapabilities: ") and (
        "at most 3 items" in errs[0]), errs
    assert ok(overrides=[f"a.k{i}=1" for i in range(100)])
    errs = errors(overrides=[f"a.k{i}=1" for i in range(101)])
    assert len(errs) == 1 and errs[0].startswith("spec.overrides: ") and "at most 100 items" in errs[0], errs


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@pytest.mark.parametrize(("seconds", "accepted"), [(INT64_MIN, True), (INT64_MIN - 1, False), (INT64_MAX, True),
                                                   (INT64_MAX + 1, False), (0, True), (-1, True)])
def test_toleration_seconds_is_any_int64(seconds, accepted):
    errs = errors(pod={"tolerations": [{"key": "k", "effect": "NoExecute", "tolerationSeconds": seconds}]})
    if accepted:
        assert errs == []
    else:
        assert len(errs) == 1 and errs[0].startswith("spec.pod.tolerations[0].tolerationSeconds: "), errs
        assert str(INT64_MIN if seconds < 0 else INT64_MAX) in errs[0], errs
