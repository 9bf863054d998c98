"""Settings without effect (grpo_api.verl_rules.job_warnings) become a `Warnings` condition and one Event."""

from __future__ import annotations

from grpo_api import parse_grpojob
from grpo_api.verl_rules import job_warnings
from grpo_operator import events, status_derive

NOW = "2025-01-01T00:00:00Z"
WORKLOAD = {"kind": "Job", "metadata": {"name": "j"}, "status": {}}


def obs_with(warnings: list[str]) -> status_derive.Observed:
    return status_derive.Observed(generation=1, workload=WORKLOAD, warnings=warnings)


def warnings_of(spec: dict) -> list[str]:
    job = parse_grpojob({"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob", "metadata": {"name": "w"},
                         "spec": {"model": {"path": "Qwen/Qwen2.5-0.5B-Instruct"},
                                  "data": {"train": {"path": "embedded:math"}}, **spec}})
    return [str(w) for w in job_warnings(job.spec)]


def cond(status: dict, ctype: str):
    return next((c for c in status["conditions"] if c["type"] == ctype), None)


def test_lora_ref_offload_is_a_true_warnings_condition_naming_the_field():
    ws = warnings_of({"model": {"path": "Qwen/Qwen2.5-0.5B-Instruct", "loraRank": 8}, "memory": {"refParamOffload": True}})
    status = status_derive.derive_status(obs_with(ws), None, NOW)
    c = cond(status, "Warnings")
    assert c["status"] == "True" and c["reason"] == "SettingHasNoEffect"
    assert c["message"].startswith("spec.memory.refParamOffload: has no effect with LoRA")
    assert cond(status, "Valid")["status"] == "True"


def test_each_field_is_listed():
    ws = warnings_of({"grpo": {"useKLLoss": False, "klLossCoef": 0.01}, "memory": {"refParamOffload": True}})
    msg = cond(status_derive.derive_status(obs_with(ws), None, NOW), "Warnings")["message"]
    assert "spec.memory.refParamOffload: has no effect: grpo.useKLLoss is false" in msg
    assert "spec.grpo.klLossCoef: has no effect" in msg


def test_no_warnings_no_condition_and_no_extra_write():
    plain = status_derive.derive_status(obs_with([]), None, NOW)
    assert cond(plain, "Warnings") is None
    again = status_derive.derive_status(obs_with([]), plain, NOW)
    assert not status_derive.status_changed(plain, again)


def test_one_event_per_distinct_set():
    first = status_derive.derive_status(obs_with(["spec.a: x"]), None, NOW)
    evs = events.transition_events(None, first)
    assert [(e.type, e.reason, e.message) for e in evs if e.reason == "SettingHasNoEffect"] == [
        ("Warning", "SettingHasNoEffect", "spec.a: x")]
    same = status_derive.derive_status(obs_with(["spec.a: x"]), first, NOW)
    assert not [e for e in events.transition_events(first, same) if e.reason == "SettingHasNoEffect"]
    other = status_derive.derive_status(obs_with(["spec.a: x", "spec.b: y"]), same, NOW)
    assert [e.message for e in events.transition_events(same, other) if e.reason == "SettingHasNoEffect"] == [
        "spec.a: x; spec.b: y"]
    cleared = status_derive.derive_status(obs_with([]), other, NOW)
    assert cond(cleared, "Warnings") is None
    assert not [e for e in events.transition_events(other, cleared) if e.reason == "SettingHasNoEffect"]
