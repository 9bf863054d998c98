"""Build the ``python -m verl.trainer.main_ppo`` Hydra override list for verl 0.9.1 from a GRPOJob spec.

Pure functions: a spec and the pod paths in, a list of ``key=value`` strings out. Every seed parameter is passed
explicitly because verl's own defaults differ (n=1, use_kl_loss false, batch 1024, 30 epochs, 512 tokens).
Keys come from ``grpo_api.verl_keys.FIELD_TO_VERL_KEY`` so the API's reference table, the override
guard and this builder cannot drift apart. The user's raw ``spec.overrides`` go last, so they win.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from grpo_api import GRPOJobSpec
from grpo_api.verl_keys import FIELD_TO_VERL_KEY as K
from trainer_entry.errors import ConfigError, RayResourceError

PROJECT_NAME = "grpo-operator"
CPUS_PER_GPU = 3
EXTRA_CPUS = 9


@dataclass(frozen=True)
class VerlPaths:
    """Files and folders inside the trainer pod that the overrides point at."""

    train_parquet: Path
    val_parquet: Path
    reward_file: Path  # the user's file, or trainer_entry/reward_func.py for the builtin reward
    checkpoint_dir: Path  # /outputs/checkpoints
    rollout_dir: Path | None = None  # per-step rollout dumps, the source of the reward std metric


def hydra_value(value: object) -> str:
    """A Python value as a Hydra override value (strings always quoted, so '1e-6' or 'true' stay strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot pass non-finite number {value} to verl")
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def _set(key: str, value: object) -> str:
    return f"{key}={hydra_value(value)}"


def build_overrides(spec: GRPOJobSpec, paths: VerlPaths, experiment_name: str = "grpojob") -> list[str]:
    """The complete override list for verl 0.9.1's ``ppo_trainer`` config."""
    m, g, t, r, res, mem, ck = (
        spec.model,
        spec.grpo,
        spec.training,
        spec.rollout,
        spec.resources,
        spec.memory,
        spec.checkpoint,
    )
    micro = t.micro_batch_size_per_gpu
    out = [
        "algorithm.adv_estimator=grpo",
        "algorithm.use_kl_in_reward=false",  # GRPO puts KL in the loss, not in the reward
        _set(K["grpo.normAdvByStd"], g.norm_adv_by_std),
        # data
        _set(K["data.train"], str(paths.train_parquet)),
        _set(K["data.val"], str(paths.val_parquet)),
        _set(K["training.batchSize"], t.batch_size),
        _set(K["data.maxPromptLength"], spec.data.max_prompt_length),
        _set(K["training.maxResponseLength"], t.max_response_length),
        "data.filter_overlong_prompts=true",  # drop prompts longer than maxPromptLength instead of crashing
        # model
        _set(K["model.path"], m.path),
        _set(K["model.gradientCheckpointing"], m.gradient_checkpointing),
        _set(K["model.trustRemoteCode"], m.trust_remote_code),
        _set(K["model.loraRank"], m.lora_rank),
        _set(K["model.loraAlpha"], m.lora_alpha),
        _set(K["model.targetModules"], m.target_modules),
        # actor
        _set(K["training.learningRate"], t.learning_rate),
        _set(K["training.ppoMiniBatchSize"], t.ppo_mini_batch_size or t.batch_size),
        _set(K["training.microBatchSizePerGPU"], micro),
        _set(K["grpo.useKLLoss"], g.use_kl_loss),
        _set(K["grpo.klLossCoef"], g.kl_loss_coef),
        _set(K["grpo.klLossType"], g.kl_loss_type),
        _set(K["grpo.lossAggMode"], g.loss_agg_mode),
        _set(K["grpo.clipRatio"], g.clip_ratio),
        _set(K["grpo.entropyCoeff"], g.entropy_coeff),
        _set(K["memory.actorParamOffload"], mem.actor_param_offload),
        _set(K["memory.actorOptimizerOffload"], mem.actor_optimizer_offload),
        # rollout (verl 0.9.1: a name is required and only async mode runs)
        _set(K["rollout.name"], r.name),
        "actor_rollout_ref.rollout.mode=async",
        _set(K["grpo.rolloutN"], g.rollout_n),
        _set(K["rollout.tensorParallelSize"], r.tensor_parallel_size),
        _set(K["rollout.gpuMemoryUtilization"], r.gpu_memory_utilization),
        _set(K["rollout.temperature"], r.temperature),
        _set("actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu", micro),
        # reference model
        _set("actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu", micro),
        _set(K["memory.refParamOffload"], mem.ref_param_offload),
        # reward: the 0.9.1 key (the legacy top-level custom_reward_function.* is silently ignored)
        _set(K["reward"], str(paths.reward_file)),
        _set(K["reward.functionName"], spec.reward.function_name),
        # trainer
        "trainer.critic_warmup=0",
        "trainer.logger=[console,file]",
        _set("trainer.project_name", PROJECT_NAME),
        _set("trainer.experiment_name", experiment_name),
        _set(K["resources.nodes"], res.nodes),
        _set(K["resources.gpusPerNode"], res.gpus_per_node),
        _set(K["training.epochs"], t.epochs),
        _set(K["training.saveFreq"], t.save_freq),
        _set(K["training.testFreq"], t.test_freq),
        "trainer.default_local_dir=" + hydra_value(str(paths.checkpoint_dir)),
        _set(K["checkpoint.resumeMode"], ck.resume_mode),
    ]
    if t.total_training_steps is not None:
        out.append(_set(K["training.totalTrainingSteps"], t.total_training_steps))
    if ck.resume_from is not None:
        out.append(_set(K["checkpoint.resumeFrom"], ck.resume_from))
    if ck.max_to_keep is not None:
        out.append(_set(K["checkpoint.maxToKeep"], ck.max_to_keep))
    if paths.rollout_dir is not None:
        out.append(_set("trainer.rollout_data_dir", str(paths.rollout_dir)))
    out.extend(spec.overrides)
    return out


VERL_ENTRY = "verl.trainer.main_ppo"


def main_ppo_command(overrides: list[str], python: str, entry: str = VERL_ENTRY) -> list[str]:
    """The command the trainer runs (and prints, and `--dry-run` shows): one function, so they cannot differ."""
    return [python, "-m", entry, *overrides]


def planned_steps(train_rows: int, spec: GRPOJobSpec) -> int:
    """Steps verl will run: its train dataloader drops the last partial batch; totalTrainingSteps caps it."""
    steps = (train_rows // spec.training.batch_size) * spec.training.epochs
    if spec.training.total_training_steps is not None:
        steps = spec.training.total_training_steps
    return steps


def required_cpus(num_gpus: int) -> int:
    return CPUS_PER_GPU * num_gpus + EXTRA_CPUS


def ray_cpu_check(num_cpus: float, num_gpus: int) -> None:
    """Fail with a clear message when Ray has too few CPUs for verl (it then waits forever for placement)."""
    need = required_cpus(num_gpus)
    if num_cpus < need:
        raise RayResourceError(
            f"Ray sees {num_cpus:g} CPUs for {num_gpus} GPUs; verl needs at least {CPUS_PER_GPU} per GPU + "
            f"{EXTRA_CPUS} = {need} or it hangs without an error. Raise spec.resources.cpu (per node) or leave "
            "it unset for the default."
        )


def container_cpus() -> float:
    """CPUs this container may use (cgroup v2/v1 quota, else the affinity mask), as Ray would count them."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return float(len(os.sched_getaffinity(0)))


class OverrideError(ConfigError):
    """verl's Hydra config rejected the override list (message is Hydra's own)."""


def verl_config_dir() -> Path:
    """verl's packaged Hydra configs (site-packages/verl/trainer/config), found without importing verl."""
    import importlib.util

    spec = importlib.util.find_spec("verl")
    if spec is None or spec.origin is None:
        raise OverrideError("verl is not installed (pip install verl==0.9.1 --no-deps)")
    return Path(spec.origin).parent / "trainer" / "config"


def compose_verl_config(overrides: list[str]):
    """Compose ``ppo_trainer`` with the overrides exactly as main_ppo's Hydra would (about 0.5 s, no GPU)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(verl_config_dir()), version_base=None):
            return compose("ppo_trainer", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as e:
        cause = f" ({e.__cause__})" if e.__cause__ else ""
        raise OverrideError(f"verl rejected the overrides: {e}{cause}".replace("\n", " ")) from e
