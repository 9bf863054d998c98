"""Compose the built overrides with verl 0.9.1's real Hydra config for every example GRPOJob."""

import importlib.util
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from grpo_api import parse_grpojob
from grpo_api.constants import EXIT_RAY_RESOURCES
from trainer_entry.verl_engine.overrides import (
    OverrideError,
    RayResourceError,
    VerlPaths,
    build_overrides,
    compose_verl_config,
    hydra_value,
    planned_steps,
    ray_cpu_check,
    verl_config_dir,
)

ROOT = Path(__file__).resolve().parents[2]
VERL_CONFIG = Path(importlib.util.find_spec("verl").origin).parent / "trainer" / "config"
PATHS = VerlPaths(
    train_parquet=Path("/outputs/data/train.parquet"),
    val_parquet=Path("/outputs/data/val.parquet"),
    reward_file=Path("/etc/grpo/reward/reward.py"),
    checkpoint_dir=Path("/outputs/checkpoints"),
    rollout_dir=Path("/outputs/rollouts"),
)


def example_jobs():
    jobs = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "GRPOJob":
                jobs.append(pytest.param(parse_grpojob(doc, str(path)), id=path.stem))
    return jobs


VERL_JOBS = [p for p in example_jobs() if p.values[0].spec.engine == "verl"]


@pytest.fixture(scope="module")
def verl_compose():
    return compose_verl_config


def test_compose_is_verls_own_hydra_config():
    assert verl_config_dir() == VERL_CONFIG and (VERL_CONFIG / "ppo_trainer.yaml").is_file()
    # The same result as Hydra's own compose of verl's config directory.
    with initialize_config_dir(config_dir=str(VERL_CONFIG), version_base=None):
        direct = compose("ppo_trainer", overrides=["actor_rollout_ref.rollout.n=7"])
    assert OmegaConf.to_container(direct) == OmegaConf.to_container(
        compose_verl_config(["actor_rollout_ref.rollout.n=7"])
    )


def test_there_are_verl_examples():
    assert len(VERL_JOBS) >= 3


@pytest.mark.parametrize("job", VERL_JOBS)
def test_example_composes_with_verl_config(job, verl_compose):
    spec = job.spec
    cfg = verl_compose(build_overrides(spec, PATHS, job.metadata.name))
    sel = lambda key: OmegaConf.select(cfg, key)  # noqa: E731
    expected = {
        # GRPO core (seed parameters)
        "algorithm.adv_estimator": "grpo",
        "algorithm.norm_adv_by_std_in_grpo": spec.grpo.norm_adv_by_std,
        "actor_rollout_ref.rollout.n": spec.grpo.rollout_n,
        "actor_rollout_ref.actor.use_kl_loss": spec.grpo.use_kl_loss,
        "actor_rollout_ref.actor.kl_loss_coef": spec.grpo.kl_loss_coef,
        "actor_rollout_ref.actor.kl_loss_type": spec.grpo.kl_loss_type,
        "actor_rollout_ref.actor.loss_agg_mode": spec.grpo.loss_agg_mode,
        "data.train_batch_size": spec.training.batch_size,
        "actor_rollout_ref.actor.optim.lr": spec.training.learning_rate,
        "trainer.total_epochs": spec.training.epochs,
        "data.max_response_length": spec.training.max_response_length,
        # data and reward
        "data.train_files": "/outputs/data/train.parquet",
        "data.val_files": "/outputs/data/val.parquet",
        "reward.custom_reward_function.path": "/etc/grpo/reward/reward.py",
        "reward.custom_reward_function.name": spec.reward.function_name,
        # model / LoRA / offload / rollout
        "actor_rollout_ref.model.path": spec.model.path,
        "actor_rollout_ref.model.lora_rank": spec.model.lora_rank,
        "actor_rollout_ref.model.lora_alpha": spec.model.lora_alpha,
        "actor_rollout_ref.ref.fsdp_config.param_offload": spec.memory.ref_param_offload,
        "actor_rollout_ref.actor.fsdp_config.param_offload": spec.memory.actor_param_offload,
        "actor_rollout_ref.actor.fsdp_config.optimizer_offload": spec.memory.actor_optimizer_offload,
        "actor_rollout_ref.rollout.name": spec.rollout.name,
        "actor_rollout_ref.rollout.mode": "async",
        "actor_rollout_ref.rollout.tensor_model_parallel_size": spec.rollout.tensor_parallel_size,
        "actor_rollout_ref.rollout.gpu_memory_utilization": spec.rollout.gpu_memory_utilization,
        # required micro batch sizes
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu": spec.training.micro_batch_size_per_gpu,
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu": spec.training.micro_batch_size_per_gpu,
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu": spec.training.micro_batch_size_per_gpu,
        "actor_rollout_ref.actor.ppo_mini_batch_size": spec.training.ppo_mini_batch_size
        or spec.training.batch_size,
        # trainer
        "trainer.nnodes": spec.resources.nodes,
        "trainer.n_gpus_per_node": spec.resources.gpus_per_node,
        "trainer.save_freq": spec.training.save_freq,
        "trainer.test_freq": spec.training.test_freq,
        "trainer.default_local_dir": "/outputs/checkpoints",
        "trainer.resume_mode": spec.checkpoint.resume_mode,
        "trainer.rollout_data_dir": "/outputs/rollouts",
        "trainer.experiment_name": job.metadata.name,
    }
    for key, value in expected.items():
        assert sel(key) == value, key
    assert list(cfg.trainer.logger) == ["console", "file"]
    # The legacy top-level key stays unset: verl 0.9.1 would silently ignore it anyway.
    assert sel("custom_reward_function.path") is None
    # The user's raw overrides are applied (last).
    for item in spec.overrides:
        key, value = item.lstrip("+").split("=", 1)
        assert str(sel(key)) == value


def test_seed_defaults_are_explicit_and_differ_from_verl(verl_compose):
    minimal = next(p.values[0] for p in VERL_JOBS if p.id == "minimal")
    defaults = verl_compose([])
    cfg = verl_compose(build_overrides(minimal.spec, PATHS))
    seed = {
        "actor_rollout_ref.rollout.n": 5,
        "algorithm.norm_adv_by_std_in_grpo": True,
        "actor_rollout_ref.actor.use_kl_loss": True,
        "actor_rollout_ref.actor.kl_loss_coef": 0.001,
        "actor_rollout_ref.actor.kl_loss_type": "low_var_kl",
        "data.train_batch_size": 256,
        "actor_rollout_ref.actor.optim.lr": 1e-6,
        "trainer.total_epochs": 15,
        "data.max_response_length": 1024,
    }
    for key, value in seed.items():
        assert OmegaConf.select(cfg, key) == value, key
    differing = [k for k, v in seed.items() if OmegaConf.select(defaults, k) != v]
    assert {
        "actor_rollout_ref.rollout.n",
        "actor_rollout_ref.actor.use_kl_loss",
        "trainer.total_epochs",
    } <= set(differing)


def test_drgrpo_lora_offload_example(verl_compose):
    job = next(p.values[0] for p in VERL_JOBS if p.id == "drgrpo-lora-offload")
    cfg = verl_compose(build_overrides(job.spec, PATHS))
    assert cfg.actor_rollout_ref.actor.loss_agg_mode == "seq-mean-token-sum-norm"
    assert cfg.actor_rollout_ref.model.lora_rank == 8 and cfg.actor_rollout_ref.model.lora_alpha == 16
    assert cfg.actor_rollout_ref.actor.fsdp_config.param_offload is True  # with LoRA the reference is the actor
    assert cfg.actor_rollout_ref.actor.ppo_epochs == 1


def test_unknown_override_fails_with_verl_message(verl_compose):
    spec = (
        VERL_JOBS[0]
        .values[0]
        .spec.model_copy(update={"overrides": ["actor_rollout_ref.actor.no_such_key=1"]})
    )
    with pytest.raises(OverrideError) as err:
        verl_compose(build_overrides(spec, PATHS))
    assert isinstance(err.value.__cause__.__cause__, ConfigCompositionException)
    assert "Could not override 'actor_rollout_ref.actor.no_such_key'" in str(err.value)
    assert "is not in struct" in str(err.value)


def test_string_values_survive_hydra_parsing(verl_compose):
    spec = VERL_JOBS[0].values[0].spec
    odd = spec.model_copy(
        update={"model": spec.model.model_copy(update={"path": "/models/it's a,model=[x]"})}
    )
    cfg = verl_compose(build_overrides(odd, PATHS))
    assert cfg.actor_rollout_ref.model.path == "/models/it's a,model=[x]"


def test_string_values_are_never_interpolated_or_unescaped(verl_compose, monkeypatch):
    """`${oc.env:X}`, quotes and backslashes in a field reach verl exactly as written."""
    monkeypatch.setenv("GRPO_SECRET_X", "LEAKED")
    texts = ["${oc.env:GRPO_SECRET_X}", "a\\${oc.env:GRPO_SECRET_X}", "back\\slash", "end\\", "q\\'x",
             "${data.train_files}", "\\\\n", "it's"]
    spec = VERL_JOBS[0].values[0].spec
    overrides = [*build_overrides(spec, PATHS), *(f"+data.grpo_probe_{i}={hydra_value(t)}" for i, t in enumerate(texts))]
    cfg = verl_compose(overrides)
    assert [cfg.data[f"grpo_probe_{i}"] for i in range(len(texts))] == texts


def test_hydra_value():
    assert hydra_value(True) == "true" and hydra_value(None) == "null"
    assert hydra_value(1e-6) == "1e-06" and hydra_value(3) == "3"
    assert hydra_value("true") == "'true'"
    with pytest.raises(ValueError, match="non-finite"):
        hydra_value(float("inf"))


def test_planned_steps():
    spec = next(p.values[0] for p in VERL_JOBS if p.values[0].metadata.name == "math-reasoning").spec
    assert spec.training.batch_size == 256
    # 1000 rows / batch 256 -> 3 full batches (verl drops the last partial one) x epochs
    assert planned_steps(1000, spec) == 3 * spec.training.epochs
    capped = spec.model_copy(
        update={"training": spec.training.model_copy(update={"total_training_steps": 7})}
    )
    assert planned_steps(1000, capped) == 7


def test_ray_cpu_check():
    ray_cpu_check(num_cpus=33, num_gpus=8)  # 3*8 + 9
    with pytest.raises(
        RayResourceError, match=r"Ray sees 32 CPUs for 8 GPUs; verl needs at least 3 per GPU \+ 9 = 33"
    ):
        ray_cpu_check(num_cpus=32, num_gpus=8)
    with pytest.raises(RayResourceError) as err:
        ray_cpu_check(num_cpus=4, num_gpus=1)
    assert err.value.exit_code == EXIT_RAY_RESOURCES
