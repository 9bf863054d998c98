"""Pins the GRPOJob spec validators where mutation testing found them unpinned: the boundaries of the numeric
fields and of the cross-field rules (testFreq 0 vs 1, a mini-batch equal to the batch, 2 nodes of 1 GPU, TRL
with a non-vLLM rollout, ...), the defaults derived from resources, and the words of each error. Properties
(hypothesis) state each rule over its whole input range: spec in -> accepted, or rejected naming the field."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grpo_api import GRPOJobInvalid, parse_grpojob
from grpo_api.spec import ResourcesSpec


def job(**spec):
    body = {"model": {"path": "m"}, "data": {"train": {"path": "p"}}}
    body.update(spec)
    return {"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob", "metadata": {"name": "x"}, "spec": body}


def errors(**spec) -> list[str]:
    try:
        parse_grpojob(job(**spec))
    except GRPOJobInvalid as e:
        return e.errors
    return []


def ok(**spec) -> bool:
    return errors(**spec) == []


FEW = settings(max_examples=40, deadline=None)


# --- numeric fields: the lowest and highest accepted values ---------------------------------------------------------

BOUNDS = [  # (section, field, lowest accepted, highest accepted or None)
    ("grpo", "rolloutN", 2, 256),
    ("grpo", "klLossCoef", 0, 10),
    ("grpo", "entropyCoeff", 0, 1),
    ("training", "batchSize", 1, 65536),
    ("training", "epochs", 1, 10000),
    ("training", "maxResponseLength", 1, 131072),
    ("training", "microBatchSizePerGPU", 1, 1024),
    ("training", "saveFreq", -1, None),
    ("training", "testFreq", -1, None),
    ("training", "totalTrainingSteps", 1, None),
    ("data", "maxPromptLength", 1, 131072),
    ("rollout", "tensorParallelSize", 1, 1),  # more needs GPUs to divide: see test_tensor_parallel_divides_gpus
    ("resources", "nodes", 1, 1),  # more needs a shared volume: see test_multinode
    ("resources", "gpusPerNode", 1, 64),
    ("model", "loraRank", 0, 1024),
    ("model", "loraAlpha", 1, 4096),
    ("checkpoint", "maxToKeep", 1, None),
]


# Fields whose extremes are valid only with compatible neighbours (verl's batch arithmetic: the per-GPU split
# of rolloutN × batchSize must divide by the micro batches).
CONTEXT = {
    ("training", "batchSize"): {"microBatchSizePerGPU": 1},
    ("training", "microBatchSizePerGPU"): {"batchSize": 1024},
}


def _set(section, field, value):
    base = {"model": {"path": "m"}, "data": {"train": {"path": "p"}}}
    return {section: {**base.get(section, {}), **CONTEXT.get((section, field), {}), field: value}}


@pytest.mark.parametrize(("section", "field", "low", "high"), BOUNDS)
def test_numeric_bounds(section, field, low, high):
    assert ok(**_set(section, field, low)), errors(**_set(section, field, low))
    assert not ok(**_set(section, field, low - 1))
    if high is not None:
        assert ok(**_set(section, field, high)), errors(**_set(section, field, high))
        if high != low:
            assert not ok(**_set(section, field, high + 1))


@pytest.mark.parametrize(("section", "field", "bad", "good"), [
    ("grpo", "clipRatio", [0, 1, 1.5], [0.01, 0.2, 0.99]),  # open interval
    ("training", "learningRate", [0, 1.01], [1e-9, 1]),
    ("rollout", "gpuMemoryUtilization", [0, 1.01], [0.01, 1]),
    ("rollout", "temperature", [0, 5.01], [0.01, 5]),
])
def test_float_bounds(section, field, bad, good):
    for value in bad:
        assert not ok(**_set(section, field, value)), value
    for value in good:
        assert ok(**_set(section, field, value)), value


def test_job_level_bounds():
    assert ok(backoffLimit=0) and ok(backoffLimit=100) and not ok(backoffLimit=101) and not ok(backoffLimit=-1)
    assert ok(activeDeadlineSeconds=1) and not ok(activeDeadlineSeconds=0)
    assert ok(ttlSecondsAfterFinished=0) and not ok(ttlSecondsAfterFinished=-1)


# --- cross-field rules -----------------------------------------------------------------------------------------------


@FEW
@given(save=st.integers(-1, 50), test=st.integers(-1, 50))
def test_save_and_test_freq_are_positive_or_minus_one(save, test):
    errs = errors(training={"saveFreq": save, "testFreq": test})
    if save != 0 and test != 0:
        assert errs == []
    else:
        assert errs == ["spec.training: saveFreq and testFreq must be a positive number of steps, or -1 to disable "
                        f"(got saveFreq={save}, testFreq={test})"]


@FEW
@given(batch=st.integers(1, 300), mini=st.integers(1, 600))
def test_mini_batch_divides_the_batch(batch, mini):
    errs = errors(training={"batchSize": batch, "ppoMiniBatchSize": mini, "microBatchSizePerGPU": 1})
    if mini <= batch and batch % mini == 0:
        assert errs == []
    else:
        assert errs == ["spec.training: ppoMiniBatchSize must be <= batchSize and divide it "
                        f"(got ppoMiniBatchSize={mini}, batchSize={batch})"]


def test_mini_batch_equal_to_the_batch_or_unset():
    assert ok(training={"batchSize": 64, "ppoMiniBatchSize": 64})
    assert ok(training={"batchSize": 64})
    assert not ok(training={"batchSize": 64, "ppoMiniBatchSize": 128})


@FEW
@given(gpus=st.integers(1, 16), tp=st.integers(1, 16))
def test_tensor_parallel_divides_gpus(gpus, tp):
    errs = errors(resources={"gpusPerNode": gpus}, rollout={"tensorParallelSize": tp})
    tp_error = ("spec: resources.gpusPerNode must be a multiple of rollout.tensorParallelSize "
                f"(got gpusPerNode={gpus}, tensorParallelSize={tp})")
    assert (tp_error in errs) == (gpus % tp != 0)  # other errors: verl's batch arithmetic for odd GPU counts


def test_gpus_per_node_zero_only_for_trl():
    assert errors(resources={"gpusPerNode": 0}) == [
        "spec: engine verl needs resources.gpusPerNode >= 1 (use engine trl to train on CPU) (got gpusPerNode=0)"]
    assert ok(engine="trl", resources={"gpusPerNode": 0})
    assert not ok(engine="trl", resources={"gpusPerNode": 1})  # TRL trains on CPU only (issue 14)


@FEW
@given(nodes=st.integers(2, 64), gpus=st.integers(1, 8))
def test_multinode(nodes, gpus):
    shared = {"claimName": "outputs"}
    # one prompt per GPU (verl: batchSize × rolloutN divisible by all GPUs), micro batches of 1
    fits = {"batchSize": nodes * gpus, "ppoMiniBatchSize": nodes * gpus, "microBatchSizePerGPU": 1}
    assert ok(resources={"nodes": nodes, "gpusPerNode": gpus}, checkpoint=shared, training=fits)
    multinode_error = ("spec: resources.nodes > 1 needs checkpoint.claimName: a ReadWriteMany PVC shared by every "
                       f"node (got nodes={nodes})")
    assert multinode_error in errors(resources={"nodes": nodes, "gpusPerNode": gpus}, training=fits)
    assert multinode_error not in errors(resources={"nodes": nodes, "gpusPerNode": gpus}, checkpoint=shared)


def test_multinode_needs_gpus_on_every_node():
    assert ok(resources={"nodes": 2, "gpusPerNode": 1}, checkpoint={"claimName": "c"})  # 2 nodes of 1 GPU
    errs = errors(engine="trl", resources={"nodes": 2, "gpusPerNode": 0}, checkpoint={"claimName": "c"})
    assert "spec: resources.nodes > 1 needs GPUs on every node" in errs
    assert parse_grpojob(job(resources={"nodes": 2}, checkpoint={"claimName": "c"})).spec.is_multinode
    assert not parse_grpojob(job()).spec.is_multinode


TRL_ONE_NODE = ("spec: engine trl runs on one node without rollout tensor parallelism or sglang; these options "
                "need engine verl (got nodes={}, tensorParallelSize={}, rollout.name={})")


def test_trl_runs_on_one_node_with_the_vllm_rollout_setting():
    cpu = {"gpusPerNode": 0}  # TRL trains on CPU (GPUs need engine verl)
    assert ok(engine="trl", resources=cpu)
    assert ok(engine="trl", resources=cpu, rollout={"name": "vllm", "tensorParallelSize": 1})
    assert TRL_ONE_NODE.format(1, 1, "sglang") in errors(engine="trl", rollout={"name": "sglang"})
    assert TRL_ONE_NODE.format(1, 2, "vllm") in errors(engine="trl", resources={"gpusPerNode": 2},
                                                       rollout={"tensorParallelSize": 2})
    assert TRL_ONE_NODE.format(2, 1, "vllm") in errors(engine="trl", resources={"nodes": 2},
                                                       checkpoint={"claimName": "c"})
    assert ok(rollout={"name": "sglang"})  # verl may use sglang


def test_trl_has_no_offload_and_no_overrides():
    msg = ("spec: engine trl has no FSDP offload and no verl Hydra overrides; memory.* offload and overrides need "
           "engine verl (got offload={}, overrides={})")
    for key in ("refParamOffload", "actorParamOffload", "actorOptimizerOffload"):
        assert errors(engine="trl", resources={"gpusPerNode": 0}, memory={key: True}) == [msg.format(True, 0)]
        assert ok(memory={key: True})
    assert errors(engine="trl", resources={"gpusPerNode": 0},
                  overrides=["trainer.val_before_train=false"]) == [msg.format(False, 1)]
    assert ok(engine="trl", resources={"gpusPerNode": 0}, overrides=[])


def test_resume_path_needs_resume_from():
    assert errors(checkpoint={"resumeMode": "resume_path"}) == [
        "spec.checkpoint: resumeMode resume_path needs resumeFrom (a global_step_N folder)"]
    assert ok(checkpoint={"resumeMode": "resume_path", "resumeFrom": "/outputs/checkpoints/global_step_5"})
    assert ok(checkpoint={"resumeMode": "auto"}) and ok(checkpoint={"resumeMode": "disable"})


SOURCES = {"configMap": {"name": "cm", "key": "train.json"}, "pvc": {"claimName": "data", "path": "/t.json"},
           "url": "https://example.com/t.json", "path": "/data/t.json"}


@FEW
@given(chosen=st.sets(st.sampled_from(sorted(SOURCES))))
def test_exactly_one_data_source(chosen):
    errs = errors(data={"train": {k: SOURCES[k] for k in chosen}})
    if len(chosen) == 1:
        assert errs == []
    else:
        names = ", ".join(k for k in ("configMap", "pvc", "url", "path") if k in chosen) or "none"
        assert errs == [f"spec.data.train: set exactly one of configMap, pvc, url, path (got {names})"]


REWARDS = {"configMapRef": {"name": "cm", "key": "r.py"}, "inline": "def compute_score(*a): return 0",
           "path": "/r.py"}


@FEW
@given(chosen=st.sets(st.sampled_from(sorted(REWARDS))))
def test_at_most_one_reward_source(chosen):
    try:
        spec = parse_grpojob(job(reward={k: REWARDS[k] for k in chosen})).spec
    except GRPOJobInvalid as e:
        assert len(chosen) > 1
        assert e.errors == ["spec.reward: set at most one of configMapRef, inline, path (none selects the builtin "
                            "reward_func.py)"]
    else:
        assert len(chosen) <= 1
        assert spec.reward.source == {"configMapRef": "configMap"}.get(*chosen, *chosen) if chosen else "builtin"


def test_overrides_may_not_set_managed_keys():
    assert errors(overrides=["data.train_files=x", "+trainer.total_epochs=3", "~trainer.logger"]) == [
        "spec.overrides: spec.overrides[0] ('data.train_files=x'): data.train_files cannot be overridden: it is set "
        "from spec.data.train; set that field instead",
        "spec.overrides: spec.overrides[1] ('+trainer.total_epochs=3'): trainer.total_epochs cannot be overridden: "
        "it is set from spec.training.epochs; set that field instead",
        "spec.overrides: spec.overrides[2] ('~trainer.logger'): trainer.logger cannot be overridden: it is set "
        "from spec.tracking.loggers; set that field instead"]
    assert ok(overrides=["trainer.val_before_train=false", "+actor_rollout_ref.actor.ppo_epochs=2"])


# --- defaults derived from resources ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("gpus", "cpu", "memory"), [(0, "9", "32Gi"), (1, "12", "32Gi"), (2, "15", "64Gi"),
                                                      (8, "33", "256Gi")])
def test_resource_defaults_per_gpu(gpus, cpu, memory):
    r = ResourcesSpec(gpus_per_node=gpus)
    assert (r.effective_cpu("verl"), r.effective_memory("verl"), r.effective_shm_size("verl")) == (cpu, memory, "16Gi")
    assert (r.effective_cpu("trl"), r.effective_memory("trl"), r.effective_shm_size("trl")) == ("2", "4Gi", "1Gi")


def test_explicit_resources_win():
    r = ResourcesSpec(gpus_per_node=2, cpu="7", memory="10Gi", shm_size="2Gi")
    for engine in ("verl", "trl"):
        assert (r.effective_cpu(engine), r.effective_memory(engine), r.effective_shm_size(engine)) == (
            "7", "10Gi", "2Gi")
