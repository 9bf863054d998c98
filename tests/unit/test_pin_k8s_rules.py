"""Pins Kubernetes' own field rules (grpo_api.k8s_rules) where mutation testing found them unpinned: the length
limits at their exact boundary, the qualified-name prefix/name split, the annotation size total, the ConfigMap
key's dot rules, extended resource names and their quota name, and the `..` path element. Each case is what a
user would type into a GRPOJob and the problem text the validator answers with (empty: accepted)."""

from __future__ import annotations

import pytest

from grpo_api import k8s_rules as k


def test_limits_are_kubernetes_own():
    assert (k.QUALIFIED_NAME_MAX_LENGTH, k.LABEL_VALUE_MAX_LENGTH, k.DNS1035_LABEL_MAX_LENGTH) == (63, 63, 63)
    assert k.DNS1123_SUBDOMAIN_MAX_LENGTH == 253
    assert k.TOTAL_ANNOTATION_SIZE_LIMIT == 262144
    assert k.CONFIGMAP_MAX_BYTES == 1048576
    assert (k.INT32_MAX, k.INT64_MAX) == (2147483647, 9223372036854775807)


def _subdomain(n: int) -> str:
    """A valid-looking DNS subdomain of exactly n characters (labels of 'a' joined by dots)."""
    labels, left = [], n
    while left > 0:
        take = min(63, left)
        labels.append("a" * take)
        left -= take + 1
    s = ".".join(labels)
    return s[:n] if len(s) >= n else s + "a" * (n - len(s))


@pytest.mark.parametrize(("fn", "limit", "make"), [
    (k.is_dns1123_subdomain, 253, _subdomain),
    (k.is_dns1035_label, 63, lambda n: "a" * n),
    (k.is_label_value, 63, lambda n: "a" * n),
    (k.is_configmap_key, 253, lambda n: "a" * n),
])
def test_length_limit_is_inclusive(fn, limit, make):
    assert fn(make(limit)) == []
    too_long = make(limit + 1)
    assert len(too_long) == limit + 1
    assert f"must be no more than {limit} characters" in fn(too_long)


def test_dns_names():
    assert k.is_dns1123_subdomain("team-a.example.com") == []
    assert len(k.is_dns1123_subdomain("Team")) == 1
    assert k.is_dns1035_label("trainer-1") == []
    assert k.is_dns1035_label("1trainer")[0].startswith("a DNS-1035 label must consist")


@pytest.mark.parametrize(("value", "errors"), [
    ("app", []),
    ("example.com/app", []),
    ("app.kubernetes.io/name", []),
    ("/app", ["prefix part must be non-empty"]),
    ("Example.com/app", ["prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                         "characters, '-' or '.', and must start and end with an alphanumeric character"]),
    ("example.com/", ["name part must be non-empty"]),
    ("", ["name part must be non-empty"]),
    ("a/b/c", ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS "
               "subdomain prefix and '/' (e.g. 'example.com/MyName')"]),
    ("a" * 63, []),
    ("a" * 64, ["name part must be no more than 63 characters"]),
    ("-a", ["name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character"]),
    ("/", ["prefix part must be non-empty", "name part must be non-empty"]),
])
def test_qualified_name(value, errors):
    assert k.is_qualified_name(value) == errors


def test_qualified_name_too_long_and_bad_reports_both():
    assert len(k.is_qualified_name("-" + "a" * 64)) == 2
    assert len(k.is_qualified_name(_subdomain(254) + "/x")) == 1


def test_label_value_may_be_empty():
    assert k.is_label_value("") == []
    assert k.is_label_value("v1.2_x") == []
    assert len(k.is_label_value("-v")) == 1


def test_validate_labels_names_key_and_value():
    assert k.validate_labels({"app": "x", "example.com/tier": ""}) == []
    errs = k.validate_labels({"bad key!": "ok", "ok": "bad value!"})
    assert len(errs) == 2
    assert errs[0].startswith("key 'bad key!': name part must consist")
    assert errs[1].startswith("value of 'ok' ('bad value!'): a valid label value")


def test_validate_annotations_keys_lower_cased_and_total_size():
    assert k.validate_annotations({"Example.COM/Note": "x"}) == []  # keys are checked lower-cased
    assert k.validate_annotations({"bad key": "x"})[0].startswith("key 'bad key': ")
    key = "a"
    exact = {key: "v" * (k.TOTAL_ANNOTATION_SIZE_LIMIT - len(key))}
    assert k.validate_annotations(exact) == []
    over = {key: "v" * (k.TOTAL_ANNOTATION_SIZE_LIMIT - len(key) + 1)}
    assert k.validate_annotations(over) == [f"may not be more than 262144 bytes in total (got {262144 + 1})"]
    # the total is over every annotation, keys included, counted in UTF-8 bytes
    split = {"a": "v" * 200000, "b": "é" * 40000}  # 1 + 200000 + 1 + 80000 bytes
    assert k.validate_annotations(split) == ["may not be more than 262144 bytes in total (got 280002)"]
    # key and value bytes add up (2 + 262143 = 262145: one byte over)
    assert k.validate_annotations({"ab": "v" * 262143}) == ["may not be more than 262144 bytes in total (got 262145)"]


@pytest.mark.parametrize(("value", "errors"), [
    ("reward.py", []),
    (".reward", []),
    ("a..b", []),
    (".", ["must not be '.'"]),
    ("..", ["must not be '..'"]),
    ("..data", ["must not start with '..'"]),
    ("a/b", ["a valid config key must consist of alphanumeric characters, '-', '_' or '.'"]),
])
def test_configmap_key(value, errors):
    assert k.is_configmap_key(value) == errors


@pytest.mark.parametrize(("value", "ok"), [
    ("HF_TOKEN", True), ("_x", True), ("a.b-c", True), ("x1", True), ("1x", False), ("a b", False), ("", False)])
def test_env_var_name(value, ok):
    assert (k.is_env_var_name(value) == []) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("8", True), ("500m", True), ("64Gi", True), ("1.5G", True), ("64e9", True), (".5", True), ("+1", True),
    ("-1", False), ("1.5Gb", False), ("Gi", False), ("", False)])
def test_quantity(value, ok):
    assert (k.is_quantity(value) == []) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("nvidia.com/gpu", True), ("amd.com/gpu", True), ("gpu", False), ("cpu", False),
    ("kubernetes.io/gpu", False), ("x.kubernetes.io/gpu", False), ("nvidia.com/-gpu", False),
])
def test_extended_resource_name(value, ok):
    assert (k.is_extended_resource_name(value) == []) is ok


def test_extended_resource_name_native_message_and_quota_name():
    assert k.is_extended_resource_name("cpu")[0].startswith("must be an extended resource name")
    # a prefix of 245 characters is a valid subdomain, but "requests." + it is not (254 > 253)
    long_prefix = _subdomain(245)
    assert k.is_qualified_name(long_prefix + "/gpu") == []
    errs = k.is_extended_resource_name(long_prefix + "/gpu")
    assert errs == [f"'requests.{long_prefix}/gpu' (its quota name) prefix part must be no more than 253 characters"]


@pytest.mark.parametrize(("path", "dot_dot"), [
    ("a/../b", True), ("..", True), ("../x", True), ("a/..", True), ("a..b", False), ("..a/b", False), ("a/b", False)])
def test_has_path_dot_dot(path, dot_dot):
    assert k.has_path_dot_dot(path) is dot_dot
