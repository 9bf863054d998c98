"""Pins the survivors of a mutation sample of api/grpo_api/spec.py: bounds a user meets at their edge, a rule fed
strings as the API server delivers them (JSON, not interned literals), and which field each verl rule names."""

import json

import pytest

from grpo_api import GRPOJobInvalid, parse_grpojob

from .test_pin_spec import errors, job, ok


def test_clip_ratio_bounds_low_below_one_high_up_to_ten():
    assert ok(grpo={"clipRatioLow": 0.01}) and ok(grpo={"clipRatioLow": 0.99})
    assert not ok(grpo={"clipRatioLow": 0}) and not ok(grpo={"clipRatioLow": 1})
    assert ok(grpo={"clipRatioHigh": 0.01}) and ok(grpo={"clipRatioHigh": 10})  # DAPO clip-higher may exceed 1
    assert not ok(grpo={"clipRatioHigh": 0}) and not ok(grpo={"clipRatioHigh": -0.5})
    assert not ok(grpo={"clipRatioHigh": 10.5})


@pytest.mark.parametrize("field", ["runAsUser", "runAsGroup", "fsGroup"])
def test_pod_ids_are_positive_int32(field):
    assert ok(pod={"securityContext": {field: 2147483647}})
    assert not ok(pod={"securityContext": {field: 2147483648}})
    assert not ok(pod={"securityContext": {field: 0}})  # never root


def test_resume_path_rule_on_a_spec_parsed_from_json():
    """The API server hands the operator JSON: the rule compares values, not object identity."""
    text = json.dumps(job(checkpoint={"resumeMode": "resume_path"}))
    with pytest.raises(GRPOJobInvalid) as err:
        parse_grpojob(json.loads(text))
    assert err.value.errors == ["spec.checkpoint: resumeMode resume_path needs resumeFrom (a global_step_N folder)"]


def test_each_verl_batch_rule_names_only_its_own_field():
    # batch 8 × 5 rollouts = 40 per GPU: divisible by the actor's micro 4? 40/4 yes; by the log-prob micro 16? no
    errs = errors(training={"batchSize": 8, "microBatchSizePerGPU": 4, "logProbMicroBatchSizePerGPU": 16})
    assert len(errs) == 1 and errs[0].startswith("spec: training.logProbMicroBatchSizePerGPU: "), errs
    # only the actor's micro batch is wrong: one error, naming microBatchSizePerGPU (not batchSize as well)
    errs = errors(training={"batchSize": 8, "microBatchSizePerGPU": 3, "logProbMicroBatchSizePerGPU": 4})
    assert len(errs) == 1 and errs[0].startswith("spec: training.microBatchSizePerGPU: "), errs
