"""GRPOJob spec -> TRL GRPOConfig: the seed's parameters map to TRL's, verl-only ones are refused by name."""

from __future__ import annotations

import pytest
from trl import GRPOConfig

from grpo_api import GRPOJob
from trainer_entry.trl_engine.config import TRLUnsupported, grpo_config_kwargs, unsupported_settings


def spec(**groups):
    body = {"engine": "trl", "model": {"path": "m"}, "data": {"train": {"path": "d.json"}},
            "resources": {"gpusPerNode": 0}}
    for key, value in groups.items():
        body[key] = {**body.get(key, {}), **value}
    return GRPOJob.model_validate({"metadata": {"name": "x"}, "spec": body}).spec


def config(s, **kw) -> GRPOConfig:
    return GRPOConfig(**grpo_config_kwargs(s, "/tmp/ckpt-unused", has_val=kw.pop("has_val", True), **kw))


def test_seed_defaults_map_to_trl():
    cfg = config(spec())
    assert cfg.num_generations == 5  # rollout_n
    assert cfg.beta == pytest.approx(0.001)  # use_kl_loss true, kl_loss_coef 0.001
    assert cfg.scale_rewards == "group"  # norm_adv_by_std true
    assert cfg.loss_type == "dapo"  # verl token-mean
    assert cfg.per_device_train_batch_size == 256 * 5  # batch 256 prompts x 5 responses
    assert cfg.steps_per_generation == 1
    assert cfg.learning_rate == pytest.approx(1e-6)
    assert cfg.num_train_epochs == 15
    assert cfg.max_completion_length == 1024
    assert cfg.save_steps == 20 and cfg.eval_steps == 10
    assert cfg.epsilon == pytest.approx(0.2)


def test_drgrpo_no_std_no_kl():
    cfg = config(spec(grpo={"lossAggMode": "seq-mean-token-sum-norm", "normAdvByStd": False,
                            "useKLLoss": False}))
    assert cfg.loss_type == "dr_grpo"
    assert cfg.scale_rewards == "none"
    assert cfg.beta == 0.0  # TRL then builds no reference model


def test_mini_batch_becomes_steps_per_generation():
    cfg = config(spec(training={"batchSize": 64, "ppoMiniBatchSize": 16}, grpo={"rolloutN": 8}))
    assert cfg.per_device_train_batch_size == 16 * 8
    assert cfg.steps_per_generation == 4
    assert cfg.generation_batch_size == 64 * 8


def test_freq_minus_one_disables_save_and_eval():
    cfg = config(spec(training={"saveFreq": -1, "testFreq": -1}))
    assert cfg.save_strategy == "no" and cfg.eval_strategy == "no"
    assert config(spec(), has_val=False).eval_strategy == "no"


def test_total_training_steps_and_temperature():
    cfg = config(spec(training={"totalTrainingSteps": 7}, rollout={"temperature": 0.7}, grpo={"entropyCoeff": 0.01}))
    assert cfg.max_steps == 7
    assert cfg.temperature == pytest.approx(0.7)
    assert cfg.entropy_coef == pytest.approx(0.01)


@pytest.mark.parametrize(("groups", "needle"), [
    ({"grpo": {"lossAggMode": "seq-mean-token-sum"}}, "grpo.lossAggMode=seq-mean-token-sum"),
    ({"grpo": {"klLossType": "mse"}}, "grpo.klLossType=mse: TRL estimates the KL with k3 only"),
])
def test_settings_without_trl_equivalent_are_refused(groups, needle):
    with pytest.raises(TRLUnsupported) as err:
        grpo_config_kwargs(spec(**groups), "/tmp/x", has_val=False)
    assert needle in str(err.value)
    assert "run it with engine verl" in str(err.value)


def test_kl_type_is_irrelevant_without_kl_loss():
    assert unsupported_settings(spec(grpo={"klLossType": "mse", "useKLLoss": False})) == []


def test_verl_job_lists_every_verl_only_setting():
    job = GRPOJob.model_validate({"metadata": {"name": "x"}, "spec": {
        "engine": "verl", "model": {"path": "m", "loraRank": 8}, "data": {"train": {"path": "d.json"}},
        "resources": {"gpusPerNode": 8, "nodes": 2}, "rollout": {"tensorParallelSize": 4, "name": "sglang"},
        "checkpoint": {"claimName": "shared"}, "memory": {"actorOptimizerOffload": True},
        "overrides": ["trainer.val_before_train=false"]}})
    problems = "\n".join(unsupported_settings(job.spec))
    for needle in ("rollout.tensorParallelSize=4", "rollout.name=sglang", "resources.nodes=2",
                   "resources.gpusPerNode=8", "memory.actorOptimizerOffload=true", "model.loraRank=8",
                   "overrides=['trainer.val_before_train=false']"):
        assert needle in problems
