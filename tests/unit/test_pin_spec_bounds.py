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


# The seed's defaults (product spec) and the operator's: what a minimal GRPOJob resolves to.
MINIMAL_RESOLVED = {
    "engine": "verl",
    "model": {"path": "m", "loraRank": 0, "loraAlpha": 16, "targetModules": "all-linear",
              "gradientCheckpointing": True, "trustRemoteCode": False},
    "data": {"train": {"path": "p"}, "maxPromptLength": 512},
    "reward": {"functionName": "compute_score"},
    "grpo": {"rolloutN": 5, "normAdvByStd": True, "useKLLoss": True, "klLossCoef": 0.001, "klLossType": "low_var_kl",
             "lossAggMode": "token-mean", "clipRatio": 0.2, "entropyCoeff": 0.0},
    "training": {"batchSize": 256, "learningRate": 1e-06, "epochs": 15, "maxResponseLength": 1024,
                 "microBatchSizePerGPU": 4, "saveFreq": 20, "testFreq": 10},
    "rollout": {"name": "vllm", "tensorParallelSize": 1, "gpuMemoryUtilization": 0.6, "temperature": 1.0},
    "resources": {"nodes": 1, "gpusPerNode": 1, "gpuResourceName": "nvidia.com/gpu"},
    "memory": {"refParamOffload": False, "actorParamOffload": False, "actorOptimizerOffload": False},
    "checkpoint": {"resumeMode": "auto", "exportHF": False},
    "pod": {}, "tracking": {"loggers": []}, "overrides": [], "suspend": False, "backoffLimit": 3,
}


def test_minimal_job_resolves_to_the_seed_defaults():
    spec = parse_grpojob(job()).spec
    assert spec.to_wire() == MINIMAL_RESOLVED
    # unset securityContext: the trainer image's uid 10001, read-only root, no added capabilities
    assert spec.pod.security.to_wire() == {"runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
                                           "readOnlyRootFilesystem": True}


def test_log_prob_micro_batch_bounds():
    wide = {"batchSize": 1024, "microBatchSizePerGPU": 1}
    assert ok(training={**wide, "logProbMicroBatchSizePerGPU": 1})
    assert ok(training={**wide, "logProbMicroBatchSizePerGPU": 1024})
    for bad in (0, 1025):
        errs = errors(training={**wide, "logProbMicroBatchSizePerGPU": bad})
        assert len(errs) == 1 and errs[0].startswith("spec.training.logProbMicroBatchSizePerGPU: "), errs


ENV_SOURCES = {"secretKeyRef": {"name": "s", "key": "k"}, "configMapKeyRef": {"name": "c", "key": "k"},
               "fieldRef": {"fieldPath": "metadata.name"}, "resourceFieldRef": {"resource": "limits.cpu"}}


@pytest.mark.parametrize("count", [0, 1, 2, 4])
def test_env_value_from_takes_exactly_one_source(count):
    chosen = dict(list(ENV_SOURCES.items())[:count])
    errs = errors(pod={"env": [{"name": "A", "valueFrom": chosen}]})
    if count == 1:
        assert errs == []
    else:
        assert errs == ["spec.pod.env[0].valueFrom: set exactly one of secretKeyRef, configMapKeyRef, fieldRef, "
                        "resourceFieldRef"]


def test_each_logger_at_most_once():
    assert ok(tracking={"loggers": ["wandb", "tensorboard"]})
    assert errors(tracking={"loggers": ["wandb", "tensorboard", "wandb"]}) == [
        "spec.tracking.loggers: each logger at most once (got ['wandb', 'tensorboard', 'wandb'])"]


def test_tensor_parallel_up_to_64():
    assert ok(resources={"gpusPerNode": 64}, rollout={"tensorParallelSize": 64})
    errs = errors(resources={"gpusPerNode": 64}, rollout={"tensorParallelSize": 65})
    assert len(errs) == 1 and errs[0].startswith("spec.rollout.tensorParallelSize: ") and "64" in errs[0], errs


def test_resource_defaults_for_an_engine_name_read_at_run_time():
    """Callers pass the engine as read from JSON or a command line, not this module's literal: compare values."""
    trl, verl = json.loads('["trl", "verl"]')
    r = parse_grpojob(job(resources={"gpusPerNode": 2})).spec.resources
    assert (r.effective_cpu(trl), r.effective_memory(trl), r.effective_shm_size(trl)) == ("2", "4Gi", "1Gi")
    assert (r.effective_cpu(verl), r.effective_memory(verl), r.effective_shm_size(verl)) == ("15", "64Gi", "16Gi")


def test_trl_is_not_held_to_verl_gpu_divisibility():
    # TRL refuses GPUs and tensor parallelism with its own errors; verl's "gpusPerNode a multiple of
    # tensorParallelSize" does not speak for it
    assert errors(engine="trl", resources={"gpusPerNode": 3}, rollout={"tensorParallelSize": 2}) == [
        "spec: engine trl runs on one node without rollout tensor parallelism or sglang; these options need engine "
        "verl (got nodes=1, tensorParallelSize=2, rollout.name=vllm)",
        "spec: engine trl trains on CPU without LoRA: set resources.gpusPerNode 0 and model.loraRank 0 (GPUs and LoRA "
        "need engine verl) (got gpusPerNode=3, loraRank=0)"]
