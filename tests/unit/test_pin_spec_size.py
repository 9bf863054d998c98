"""Pins the 1 MiB limit of the resolved spec (the operator stores it in the `<name>-config` ConfigMap). The measure,
as the error states it: the resolved spec as JSON (4-space indent, UTF-8: an upper bound of the operator's
2-space job.json) plus 2 KiB for apiVersion, kind and metadata. A spec measuring exactly 1 MiB is accepted, one
byte more is refused with its size, and the accepted one fits the ConfigMap the operator really builds."""

import json

from grpo_api import parse_grpojob
from grpo_operator.builders.configmaps import build_config_configmap

from .test_pin_spec import errors, job

MIB = 1024 * 1024
ALLOWANCE = 2048  # apiVersion, kind, metadata


def _padded(n: int, char: str = "x") -> dict:
    return {"pod": {"env": [{"name": "PAD", "value": char * n}]}}


def _measure(spec: dict) -> int:
    wire = {"spec": parse_grpojob(job(**spec)).spec.to_wire()}
    return len(json.dumps(wire, indent=4, sort_keys=True, ensure_ascii=False).encode()) + ALLOWANCE


def test_resolved_spec_of_exactly_1_mib_is_accepted_one_byte_more_refused():
    edge = MIB - _measure(_padded(0))  # each character of the env value adds one byte
    assert errors(**_padded(edge)) == []
    assert errors(**_padded(edge + 1)) == [
        f"spec: the resolved spec is {MIB + 1} bytes as JSON; it must fit the 1 MiB config ConfigMap (shrink "
        "reward.inline, pod.annotations or pod.env; a large reward goes in reward.configMapRef)"]
    configmap = build_config_configmap(parse_grpojob(job(**_padded(edge))), uid="u", namespace="ns")
    assert sum(len(v.encode()) for v in configmap["data"].values()) <= MIB


def test_size_counts_utf8_bytes_not_escapes():
    # 'é' is 2 bytes in UTF-8 (6 as a \u00e9 escape): half a MiB of them fits
    assert errors(reward={"inline": "# " + "\u00e9" * 262000}) == []
    base = _measure(_padded(0))
    edge = (MIB - base) // 2
    assert errors(**_padded(edge, "\u00e9")) == []
    assert errors(**_padded(edge + 1, "\u00e9"))[0].startswith(f"spec: the resolved spec is {base + 2 * edge + 2} ")
