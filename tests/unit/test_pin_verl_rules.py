"""Pins verl's batch arithmetic and config checks (grpo_api.verl_rules) where mutation testing found them
unpinned: the data-parallel size with sequence parallelism, dynamic batch sizes, every refusal's field and
numbers, the composed-config reader (raw overrides can change what verl sees) and the warnings `grpo validate`
prints. Inputs are GRPOJob specs or verl config dicts; outputs are the (field, message) pairs a user reads."""

from __future__ import annotations

import copy

import pytest

from grpo_api import parse_grpojob
from grpo_api.job import GRPOJobInvalid
from grpo_api.verl_rules import (
    KL_TYPES,
    BatchShape,
    agent_workers,
    batch_errors,
    config_errors,
    job_warnings,
    shape_from_config,
    shape_from_spec,
    spec_errors,
)


def spec(engine="verl", **sections):
    body = {"engine": engine, "model": {"path": "Qwen/Qwen2.5-0.5B-Instruct"},
            "data": {"train": {"path": "embedded:math"}}}
    for name, value in sections.items():
        body[name] = {**body.get(name, {}), **value}
    return parse_grpojob({"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob", "metadata": {"name": "x"},
                          "spec": body}).spec


def shape(**kw):
    base = dict(batch_prompts=8, rollout_n=2, mini_prompts=8, actor_micro=1, old_logprob_micro=1,
                ref_logprob_micro=None, gpus_per_node=1, nodes=1, agent_workers=1)
    base.update(kw)
    return BatchShape(**base)


def test_gpu_count_and_data_parallel_size():
    s = shape(gpus_per_node=4, nodes=2, sp_size=2)
    assert (s.n_gpus, s.dp) == (8, 4)
    assert shape(gpus_per_node=4, nodes=2).dp == 8
    assert shape(gpus_per_node=1, sp_size=4).dp == 1  # never below 1
    assert shape(sp_size=0).dp == 1


def test_agent_workers():
    assert agent_workers(16) == 8
    assert agent_workers(12) == 6
    assert agent_workers(7) == 7
    assert agent_workers(11) == 1
    assert agent_workers(0) == 1
    assert agent_workers(16, most=5) == 4


def test_each_refusal_names_its_field_and_numbers():
    assert batch_errors(shape()) == []
    assert batch_errors(shape(gpus_per_node=3, batch_prompts=4, mini_prompts=4, rollout_n=1))[0] == (
        "training.batchSize", "batchSize × rolloutN (4×1=4) must be divisible by the GPU count gpusPerNode × nodes "
        "(3) (verl validate_config)")
    assert ("training.ppoMiniBatchSize", "ppoMiniBatchSize (9) must be <= batchSize (8) (verl ActorConfig.validate)"
            ) in batch_errors(shape(mini_prompts=9))
    assert batch_errors(shape(mini_prompts=8)) == []
    sp = batch_errors(shape(gpus_per_node=4, batch_prompts=8, mini_prompts=8, sp_size=3))
    assert ("overrides", "the GPU count (4) must be divisible by actor.ulysses_sequence_parallel_size (3)") in sp
    assert batch_errors(shape(gpus_per_node=4, sp_size=2)) == []


def test_mini_batch_and_micro_batch_rules():
    # 2 GPUs, mini 3 prompts × n 1 = 3 samples: not divisible by dp 2
    errs = batch_errors(shape(gpus_per_node=2, batch_prompts=4, mini_prompts=3, rollout_n=1))
    assert errs == [("training.ppoMiniBatchSize", "ppoMiniBatchSize × rolloutN (3×1=3) must be divisible by the "
                     "data-parallel size (2) (verl train_mini_batch)")]
    # mini 8×2=16 over dp 2 = 8 per GPU; micro 3 does not divide it
    errs = batch_errors(shape(gpus_per_node=2, actor_micro=3))
    assert errs == [("training.microBatchSizePerGPU", "the actor update's per-GPU mini batch (16/2=8) must be "
                     "divisible by microBatchSizePerGPU (3) (verl prepare_micro_batches)")]
    assert batch_errors(shape(gpus_per_node=2, actor_micro=8)) == []
    assert batch_errors(shape(gpus_per_node=2, actor_micro=3, dynamic_bsz=True)) == []


def test_log_prob_passes():
    errs = batch_errors(shape(old_logprob_micro=3, ref_logprob_micro=5))
    assert errs == [
        ("training.logProbMicroBatchSizePerGPU", "the old log-prob pass's per-GPU batch (16/1=16) must be "
         "divisible by its micro batch (3) (verl prepare_micro_batches)"),
        ("training.logProbMicroBatchSizePerGPU", "the reference log-prob pass's per-GPU batch (16/1=16) must be "
         "divisible by its micro batch (5) (verl prepare_micro_batches)")]
    assert batch_errors(shape(old_logprob_micro=16, ref_logprob_micro=16)) == []
    assert batch_errors(shape(old_logprob_micro=3, dynamic_bsz=True)) == []


def test_agent_worker_chunks():
    assert batch_errors(shape(agent_workers=3)) == [
        ("overrides", "batchSize × rolloutN (16) must be divisible by actor_rollout_ref.rollout.agent.num_workers "
         "(3) (verl DataProto.chunk)")]
    assert batch_errors(shape(agent_workers=16)) == []


def test_shape_from_spec():
    s = shape_from_spec(spec(training={"batchSize": 8, "microBatchSizePerGPU": 2, "logProbMicroBatchSizePerGPU": 4},
                             grpo={"rolloutN": 3}, resources={"gpusPerNode": 2}))
    assert s == BatchShape(batch_prompts=8, rollout_n=3, mini_prompts=8, actor_micro=2, old_logprob_micro=4,
                           ref_logprob_micro=4, gpus_per_node=2, nodes=1, agent_workers=8)
    s = shape_from_spec(spec(training={"batchSize": 8, "ppoMiniBatchSize": 4, "microBatchSizePerGPU": 2},
                             grpo={"useKLLoss": False}))
    assert (s.mini_prompts, s.old_logprob_micro, s.ref_logprob_micro) == (4, 2, None)
    lora = shape_from_spec(spec(model={"loraRank": 8}))
    assert lora.ref_logprob_micro is None


def cfg(**changes):
    base = {
        "data": {"train_batch_size": 8},
        "trainer": {"n_gpus_per_node": 1, "nnodes": 1},
        "actor_rollout_ref": {
            "actor": {"ppo_mini_batch_size": 8, "ppo_micro_batch_size_per_gpu": 2, "use_kl_loss": True,
                      "kl_loss_type": "low_var_kl", "ulysses_sequence_parallel_size": 1, "use_dynamic_bsz": False},
            "rollout": {"n": 2, "log_prob_micro_batch_size_per_gpu": 4, "agent": {"num_workers": 8},
                        "log_prob_use_dynamic_bsz": False},
            "ref": {"log_prob_micro_batch_size_per_gpu": 4},
            "model": {"lora_rank": 0},
        },
    }
    out = copy.deepcopy(base)
    for dotted, value in changes.items():
        node = out
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return out


def test_shape_from_config():
    assert shape_from_config(cfg()) == BatchShape(8, 2, 8, 2, 4, 4, 1, 1, 1, 8, False)
    assert shape_from_config(cfg(actor_rollout_ref__model__lora_rank=8)).ref_logprob_micro is None
    assert shape_from_config(cfg(actor_rollout_ref__model__lora_rank=None)).ref_logprob_micro == 4
    assert shape_from_config(cfg(actor_rollout_ref__actor__use_kl_loss=False)).ref_logprob_micro is None
    unset = shape_from_config(cfg(actor_rollout_ref__actor__ppo_micro_batch_size_per_gpu=None,
                                  actor_rollout_ref__rollout__log_prob_micro_batch_size_per_gpu=None,
                                  actor_rollout_ref__ref__log_prob_micro_batch_size_per_gpu=None,
                                  actor_rollout_ref__actor__ulysses_sequence_parallel_size=None,
                                  actor_rollout_ref__rollout__agent=None))
    assert (unset.actor_micro, unset.old_logprob_micro, unset.ref_logprob_micro, unset.sp_size,
            unset.agent_workers) == (1, 1, 1, 1, 8)
    assert shape_from_config(cfg(actor_rollout_ref__actor__use_dynamic_bsz=True)).dynamic_bsz is True


def test_config_errors():
    assert config_errors(cfg()) == []
    mismatch = config_errors(cfg(actor_rollout_ref__actor__use_dynamic_bsz=True))
    assert mismatch == [("overrides", "actor_rollout_ref.actor.use_dynamic_bsz and "
                         "actor_rollout_ref.rollout.log_prob_use_dynamic_bsz must be equal (verl init_model asserts "
                         "it)")]
    both = cfg(actor_rollout_ref__actor__use_dynamic_bsz=True, actor_rollout_ref__rollout__log_prob_use_dynamic_bsz=True)
    assert config_errors(both) == []
    bad_kl = config_errors(cfg(actor_rollout_ref__actor__kl_loss_type="full"))
    assert bad_kl == [("overrides", f"kl_loss_type 'full' is not computed by verl; allowed: {', '.join(KL_TYPES)}")]
    assert config_errors(cfg(actor_rollout_ref__actor__kl_loss_type="full", actor_rollout_ref__actor__use_kl_loss=False)) == []
    assert config_errors(cfg(actor_rollout_ref__actor__kl_loss_type="k3+")) == []
    assert config_errors(cfg(actor_rollout_ref__rollout__agent={"num_workers": 3}))[0][0] == "overrides"


def test_spec_errors_only_for_verl_on_gpus():
    assert spec_errors(spec(engine="trl", resources={"gpusPerNode": 0}, training={"batchSize": 8})) == []
    assert spec_errors(spec(training={"batchSize": 8, "microBatchSizePerGPU": 4})) == []
    # the model runs spec_errors at parse time: a user sees the refusal naming the numbers
    with pytest.raises(GRPOJobInvalid, match=r"per-GPU mini batch \(16/1=16\) must be divisible by "
                                             r"microBatchSizePerGPU \(3\)"):
        spec(training={"batchSize": 8, "microBatchSizePerGPU": 3}, grpo={"rolloutN": 2})


def test_resume_path_only_checked_in_resume_path_mode():
    ok = spec(checkpoint={"resumeMode": "resume_path", "resumeFrom": "/outputs/checkpoints/global_step_10"})
    assert spec_errors(ok) == []
    assert spec_errors(spec(checkpoint={"resumeMode": "auto"})) == []


@pytest.mark.parametrize(("sections", "fields"), [
    ({}, set()),
    ({"memory": {"refParamOffload": True}}, set()),
    ({"memory": {"refParamOffload": True}, "grpo": {"useKLLoss": False}}, {"memory.refParamOffload"}),
    ({"memory": {"refParamOffload": True}, "model": {"loraRank": 8}}, {"memory.refParamOffload"}),
    ({"grpo": {"lossAggMode": "seq-mean-token-sum-norm", "useKLLoss": False, "normAdvByStd": False}}, set()),
    ({"grpo": {"lossAggMode": "seq-mean-token-sum-norm", "useKLLoss": True, "normAdvByStd": False}},
     {"grpo.useKLLoss"}),
    ({"grpo": {"lossAggMode": "seq-mean-token-sum-norm", "useKLLoss": False, "normAdvByStd": True}},
     {"grpo.normAdvByStd"}),
    ({"grpo": {"useKLLoss": False, "klLossCoef": 0.1}}, {"grpo.klLossCoef"}),
    ({"grpo": {"useKLLoss": True, "klLossCoef": 0.1}}, set()),
])
def test_job_warnings(sections, fields):
    assert {w.field for w in job_warnings(spec(**sections))} == fields


def test_job_warning_text_and_trl_has_none():
    w = job_warnings(spec(memory={"refParamOffload": True}, grpo={"useKLLoss": False}))
    assert [str(x) for x in w] == ["spec.memory.refParamOffload: has no effect: grpo.useKLLoss is false, so verl "
                                   "builds no reference model"]
    assert job_warnings(spec(engine="trl", resources={"gpusPerNode": 0}, grpo={"useKLLoss": False, "klLossCoef": 0.1})) == []


# --- found by the mutation run on grpo_api/verl_rules.py -------------------------------------------------------


def test_only_a_positive_lora_rank_drops_the_reference_worker():
    assert shape_from_config(cfg(actor_rollout_ref__model__lora_rank=-1)).ref_logprob_micro == 4


def test_dynamic_bsz_mismatch_either_way():
    one_way = cfg(actor_rollout_ref__rollout__log_prob_use_dynamic_bsz=True)
    assert [f for f, _ in config_errors(one_way)] == ["overrides"]


def test_resume_from_is_only_checked_in_resume_path_mode():
    s = spec(checkpoint={"resumeMode": "auto", "resumeFrom": "/outputs/elsewhere"})
    assert spec_errors(s) == []


def test_verl_without_gpus_gets_only_the_gpu_refusal():
    with pytest.raises(GRPOJobInvalid) as err:
        spec(resources={"gpusPerNode": 0}, training={"batchSize": 8, "microBatchSizePerGPU": 3}, grpo={"rolloutN": 2})
    assert "engine verl needs resources.gpusPerNode >= 1" in str(err.value)
    assert "prepare_micro_batches" not in str(err.value)


def test_mini_batch_divisible_by_dp_is_accepted_and_not_divisible_refused():
    ok = shape(gpus_per_node=2, batch_prompts=6, mini_prompts=6, rollout_n=1)  # 6 % 2 == 0 (6 & 2 != 0)
    assert batch_errors(ok) == []
    bad = shape(gpus_per_node=2, batch_prompts=6, mini_prompts=5, rollout_n=1)  # 5 % 2 == 1 (5 & 2 == 0)
    assert [f for f, _ in batch_errors(bad)] == ["training.ppoMiniBatchSize"]


def test_lora_rank_one_is_lora():
    assert shape_from_config(cfg(actor_rollout_ref__model__lora_rank=1)).ref_logprob_micro is None
    assert {w.field for w in job_warnings(spec(memory={"refParamOffload": True}, model={"loraRank": 1}))} == {
        "memory.refParamOffload"}


# --- found by the mutation run on grpo_api/verl_rules.py (--sample 100 --seed 11) -----------------------------


def test_actor_micro_batch_divides_the_per_gpu_share_not_the_whole_mini_batch():
    # mini 4 samples over dp 2 = 2 per GPU: micro 4 does not divide it (4 × 2 and 4 ** 2 would)
    errs = batch_errors(shape(gpus_per_node=2, batch_prompts=4, mini_prompts=4, rollout_n=1, actor_micro=4))
    assert errs == [("training.microBatchSizePerGPU", "the actor update's per-GPU mini batch (4/2=2) must be "
                     "divisible by microBatchSizePerGPU (4) (verl prepare_micro_batches)")]
    assert batch_errors(shape(gpus_per_node=2, batch_prompts=4, mini_prompts=4, rollout_n=1, actor_micro=2)) == []


def test_log_prob_micro_with_an_odd_step_on_one_gpu():
    # 3 samples on one GPU: the old log-prob pass splits 3 by micro 2 (3 % 1 == 0, though 3 & 1 == 1)
    errs = batch_errors(shape(batch_prompts=3, mini_prompts=3, rollout_n=1, old_logprob_micro=2))
    assert errs == [("training.logProbMicroBatchSizePerGPU", "the old log-prob pass's per-GPU batch (3/1=3) must be "
                     "divisible by its micro batch (2) (verl prepare_micro_batches)")]
    assert batch_errors(shape(batch_prompts=3, mini_prompts=3, rollout_n=1, old_logprob_micro=3)) == []


def test_log_prob_micro_divides_the_per_gpu_share_of_the_step():
    # 16 samples over dp 2 = 8 per GPU: micro 16 does not divide it (16 ** 2 = 256 would be)
    errs = batch_errors(shape(gpus_per_node=2, old_logprob_micro=16))
    assert errs == [("training.logProbMicroBatchSizePerGPU", "the old log-prob pass's per-GPU batch (16/2=8) must "
                     "be divisible by its micro batch (16) (verl prepare_micro_batches)")]
    assert batch_errors(shape(gpus_per_node=2, old_logprob_micro=8)) == []


def test_a_cpu_spec_counts_one_device_so_the_arithmetic_never_divides_by_zero():
    cpu = spec(engine="trl", resources={"gpusPerNode": 0}, training={"batchSize": 8})
    s = shape_from_spec(cpu)
    assert (s.gpus_per_node, s.n_gpus, s.dp) == (1, 1, 1)
    assert batch_errors(s) == []


def test_spec_errors_refuses_a_resume_path_that_is_no_step_folder_on_its_own():
    # the model refuses it first (spec.checkpoint's rule); spec_errors restates verl's assert for a spec that
    # skipped validation (model_copy), with the mode given as a string built at run time
    ok = spec(checkpoint={"resumeMode": "resume_path", "resumeFrom": "/outputs/checkpoints/global_step_10"})
    mode = "".join(["resume", "_", "path"])
    unvalidated = ok.model_copy(update={"checkpoint": ok.checkpoint.model_copy(
        update={"resume_mode": mode, "resume_from": "/outputs/checkpoints/latest"})})
    assert spec_errors(unvalidated) == [
        ("checkpoint.resumeFrom", "must name a global_step_N folder (got '/outputs/checkpoints/latest')")]
    auto = ok.model_copy(update={"checkpoint": ok.checkpoint.model_copy(
        update={"resume_mode": "auto", "resume_from": "/outputs/checkpoints/latest"})})
    assert spec_errors(auto) == []
