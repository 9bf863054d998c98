"""verl 0.9.1's own checks on the config this project composes: validate_config, the worker config dataclasses,
and one training step's batch split through verl's own helpers, for every case of the matrix."""

from __future__ import annotations

import pytest
import torch

from grpo_api.job import GRPOJobInvalid
from tests.integration.verl_cpu.harness import (
    ALL_PARAMS,
    POD,
    build_overrides_for,
    compose,
    composed,
    job_for,
    job_of,
)


def verl_validate(cfg) -> None:
    """What ``verl.trainer.main_ppo.main`` runs before anything starts (main_ppo.py, ``validate_config(...)``)."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))


def worker_configs(cfg):
    """The dataclasses verl's workers build from the composed config (omega_conf_to_dataclass)."""
    from verl.utils.config import omega_conf_to_dataclass
    from verl.workers.config import HFModelConfig

    arr = cfg.actor_rollout_ref
    actor = omega_conf_to_dataclass(arr.actor)
    ref = arr.ref  # verl builds the reference worker from the actor's dataclass plus these keys
    rollout = arr.rollout  # RolloutConfig needs the model's mtp section filled in by the worker
    return actor, ref, rollout, HFModelConfig


def split_one_step(cfg) -> dict[str, list[int]]:
    """One step's batch through verl's own split helpers; returns the micro-batch sizes of each pass.

    Driver: ``DataProto.chunk(dp)`` dispatches ``train_batch_size × n`` rows to the data-parallel ranks (it
    asserts an even split). Log-prob passes (old, ref): each rank's rows through ``prepare_micro_batches``
    (workers/engine/utils.py) with that pass's micro batch. Actor update: the trainer passes
    ``mini_batch_size = ppo_mini_batch_size × n`` (trainer/ppo/ray_trainer.py ``_update_actor``);
    ``train_mini_batch`` (workers/engine_workers.py) asserts ``mini_batch_size % dp == 0`` (restated here),
    iterates with ``tensordict_utils.make_iterator`` and each mini-batch goes through ``prepare_micro_batches``.
    FSDP's data-parallel size is the total GPU count (no Ulysses here).
    """
    from verl import DataProto
    from verl.trainer.ppo.utils import need_reference_policy
    from verl.utils import tensordict_utils as tu
    from verl.workers.engine.utils import prepare_micro_batches

    arr = cfg.actor_rollout_ref
    dp = cfg.trainer.n_gpus_per_node * cfg.trainer.nnodes // arr.actor.get("ulysses_sequence_parallel_size", 1)
    n = arr.rollout.n
    total = cfg.data.train_batch_size * n
    batch = DataProto.from_dict(tensors={"input_ids": torch.zeros(total, 2, dtype=torch.long)})
    ranks = batch.chunk(dp)

    def micro_sizes(td, micro: int, dyn: bool) -> list[int]:
        tu.assign_non_tensor(td, use_dynamic_bsz=dyn, micro_batch_size_per_gpu=micro)
        micro_batches, _ = prepare_micro_batches(td)
        return [len(m) for m in micro_batches]

    out: dict[str, list[int]] = {"old_log_prob": [], "ref_log_prob": [], "actor_update": []}
    passes = [("old_log_prob", arr.rollout.log_prob_micro_batch_size_per_gpu, arr.rollout.log_prob_use_dynamic_bsz)]
    if need_reference_policy(cfg):
        passes.append(("ref_log_prob", arr.ref.log_prob_micro_batch_size_per_gpu, arr.ref.log_prob_use_dynamic_bsz))
    mini_batch_size = arr.actor.ppo_mini_batch_size * n
    assert mini_batch_size % dp == 0, f"Got {mini_batch_size=} and dp={dp}"  # engine_workers.py train_mini_batch
    for rank in ranks[:2]:  # every rank gets the same shape; two show the split is per rank
        td = rank.to_tensordict() if hasattr(rank, "to_tensordict") else rank.batch
        for name, micro, dyn in passes:
            out[name] += micro_sizes(td.clone(), micro, dyn)
        for mini in tu.make_iterator(td.clone(), mini_batch_size=mini_batch_size // dp, epochs=arr.actor.ppo_epochs,
                                     seed=arr.actor.data_loader_seed):
            out["actor_update"] += micro_sizes(mini, arr.actor.ppo_micro_batch_size_per_gpu, arr.actor.use_dynamic_bsz)
    return out


@pytest.mark.parametrize("case", ALL_PARAMS)
def test_validate_config_passes(case):
    job = job_for(case)
    cfg = composed(job)
    verl_validate(cfg)
    gpus = job.spec.resources.nodes * job.spec.resources.gpus_per_node
    assert cfg.trainer.n_gpus_per_node * cfg.trainer.nnodes == gpus


@pytest.mark.parametrize("case", ALL_PARAMS)
def test_worker_dataclasses_carry_the_spec(case):
    job = job_for(case)
    s = job.spec
    actor, ref, rollout, _ = worker_configs(composed(job))
    assert type(actor).__name__ == "FSDPActorConfig"
    got = {
        "use_kl_loss": actor.use_kl_loss, "kl_loss_coef": actor.kl_loss_coef, "kl_loss_type": actor.kl_loss_type,
        "loss_agg_mode": actor.loss_agg_mode, "entropy_coeff": actor.entropy_coeff,
        "ppo_mini_batch_size": actor.ppo_mini_batch_size,
        "ppo_micro_batch_size_per_gpu": actor.ppo_micro_batch_size_per_gpu,
        "rollout_n": actor.rollout_n, "lr": actor.optim.lr,
        "actor_param_offload": actor.fsdp_config.param_offload,
        "actor_optimizer_offload": actor.fsdp_config.optimizer_offload,
        "ref_param_offload": ref.fsdp_config.param_offload,
        "rollout.n": rollout.n, "rollout.name": rollout.name, "rollout.tp": rollout.tensor_model_parallel_size,
        "rollout.temperature": rollout.temperature, "rollout.gpu_memory_utilization": rollout.gpu_memory_utilization,
        "rollout.response_length": rollout.response_length, "rollout.prompt_length": rollout.prompt_length,
    }
    want = {
        "use_kl_loss": s.grpo.use_kl_loss, "kl_loss_coef": s.grpo.kl_loss_coef, "kl_loss_type": s.grpo.kl_loss_type,
        "loss_agg_mode": s.grpo.loss_agg_mode, "entropy_coeff": s.grpo.entropy_coeff,
        "ppo_mini_batch_size": s.training.ppo_mini_batch_size or s.training.batch_size,
        "ppo_micro_batch_size_per_gpu": s.training.micro_batch_size_per_gpu,
        "rollout_n": s.grpo.rollout_n, "lr": s.training.learning_rate,
        "actor_param_offload": s.memory.actor_param_offload,
        "actor_optimizer_offload": s.memory.actor_optimizer_offload,
        "ref_param_offload": s.memory.ref_param_offload,
        "rollout.n": s.grpo.rollout_n, "rollout.name": s.rollout.name, "rollout.tp": s.rollout.tensor_parallel_size,
        "rollout.temperature": s.rollout.temperature,
        "rollout.gpu_memory_utilization": s.rollout.gpu_memory_utilization,
        "rollout.response_length": s.training.max_response_length, "rollout.prompt_length": s.data.max_prompt_length,
    }
    assert got == want


@pytest.mark.parametrize("case", ALL_PARAMS)
def test_one_step_splits_into_whole_micro_batches(case):
    job = job_for(case)
    t = job.spec.training
    sizes = split_one_step(composed(job))
    assert sizes["actor_update"] and set(sizes["actor_update"]) == {t.micro_batch_size_per_gpu}
    assert set(sizes["old_log_prob"]) == {t.micro_batch_size_per_gpu}
    if job.spec.grpo.use_kl_loss and not job.spec.model.lora_rank:
        assert set(sizes["ref_log_prob"]) == {t.micro_batch_size_per_gpu}


# Jobs verl 0.9.1 rejects (its own code raises on them); the project must refuse each at apply time.
REJECTED = [
    pytest.param({"resources": {"gpusPerNode": 8}, "grpo": {"rolloutN": 5}, "training": {"batchSize": 3}},
                 "validate", id="batch-x-n-not-divisible-by-gpus"),
    pytest.param({"resources": {"gpusPerNode": 4}, "grpo": {"rolloutN": 5},
                  "training": {"batchSize": 32, "ppoMiniBatchSize": 8}},
                 "split", id="mini-per-gpu-not-divisible-by-micro"),
    pytest.param({"resources": {"gpusPerNode": 4}, "grpo": {"rolloutN": 3},
                  "training": {"batchSize": 8, "ppoMiniBatchSize": 2, "microBatchSizePerGPU": 1}},
                 "split", id="mini-x-n-not-divisible-by-dp"),
    pytest.param({"grpo": {"rolloutN": 3}, "training": {"batchSize": 4, "microBatchSizePerGPU": 8}},
                 "split", id="per-gpu-split-not-divisible-by-micro"),
    pytest.param({"grpo": {"klLossType": "full"}}, "kl", id="kl-loss-type-full"),
    pytest.param({"checkpoint": {"resumeMode": "resume_path", "resumeFrom": "/outputs/checkpoints/latest"}},
                 "resume", id="resume-path-without-global-step"),
]


def compose_as_verl_would_see(spec: dict):
    """The seed job's overrides plus the case's fields as raw verl keys (grpo_api.verl_keys), so verl's side
    runs even once the project refuses the case."""
    from grpo_api.verl_keys import FIELD_TO_VERL_KEY
    from trainer_entry.verl_engine.overrides import hydra_value

    extra = []
    for section, fields in spec.items():
        for field, value in fields.items():
            extra.append(f"{FIELD_TO_VERL_KEY[f'{section}.{field}']}={hydra_value(value)}")
    base = job_of({}, "rejected")
    return compose(build_overrides_for(base.spec, **POD, name="rejected") + extra)


def verl_rejects(spec: dict, where: str) -> BaseException | None:
    """Run the verl code that decides ``where``; the exception it raises, or None."""
    from tests.integration.verl_cpu.test_loss import kl_of
    from tests.integration.verl_cpu.test_resume import run_verl_load_checkpoint

    cfg = compose_as_verl_would_see(spec)
    try:
        if where == "validate":
            verl_validate(cfg)
        elif where == "split":
            verl_validate(cfg)
            split_one_step(cfg)
        elif where == "kl":
            kl_of(cfg, torch.zeros(2, 3), torch.full((2, 3), -0.1))
        elif where == "resume":
            run_verl_load_checkpoint(cfg)
    except (AssertionError, ValueError, NotImplementedError) as e:
        return e
    return None


def _unchecked(spec: dict, where: str):
    """verl raises for the job ...; the project must not accept it."""
    assert verl_rejects(spec, where) is not None, f"verl accepts {spec}: the case is wrong, not the project"
    with pytest.raises(GRPOJobInvalid):
        job_of(spec, "rejected")


@pytest.mark.parametrize(("spec", "where"), REJECTED)
def test_project_refuses_what_verl_rejects(spec, where):
    _unchecked(spec, where)


@pytest.mark.parametrize(("spec", "where"), [p.values for p in REJECTED], ids=[p.id for p in REJECTED])
def test_verl_does_reject_each_refused_case(spec, where):
    """The other half, never xfail: verl 0.9.1 itself raises on every case above (so they stay meaningful)."""
    err = verl_rejects(spec, where)
    assert err is not None
