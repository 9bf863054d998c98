"""The ``python -m verl.trainer.main_ppo`` command line for verl 0.9.1, built from a GRPOJob spec.

Pure functions: a spec and the pod paths in, a list of ``key=value`` strings out; the trainer runs exactly
``main_ppo_command(build_overrides(...))`` and ``grpo render`` / ``./train.sh --dry-run`` print the same.
Every seed parameter is passed explicitly because verl's own defaults differ (n=1, use_kl_loss false, batch
1024, 30 epochs, 512 tokens). Keys come from ``verl_keys.FIELD_TO_VERL_KEY`` so the README's reference table,
the override guard and this builder cannot drift apart. The user's raw ``spec.overrides`` go last.

``compose`` checks a list against verl's own Hydra config (unknown keys, bad types) and then verl's
arithmetic (``verl_rules.config_errors``). It needs ``verl`` (``--no-deps``), ``hydra-core`` and ``omegaconf``,
imported lazily so the contract itself stays light.
"""

from __future__ import annotations

import math
import posixpath
import re
import threading
from dataclasses import dataclass

from .spec import ALWAYS_LOGGERS, DRGRPO_LOSS_AGG_MODE, GRPOJobSpec
from .verl_keys import FIELD_TO_VERL_KEY as K
from .verl_rules import agent_workers, config_errors, spec_log_prob_micro

PROJECT_NAME = "grpo-operator"
VERL_ENTRY = "verl.trainer.main_ppo"
RAY_ENV_KEY = "+ray_kwargs.ray_init.runtime_env.env_vars"
METRICS_ENV = "VERL_FILE_LOGGER_PATH"


@dataclass(frozen=True)
class VerlPaths:
    """Files and folders inside the trainer pod that the overrides point at (str or Path)."""

    train_parquet: object
    val_parquet: object
    reward_file: object  # the user's file, or trainer_entry/reward_func.py for the builtin reward
    checkpoint_dir: object  # /outputs/checkpoints
    rollout_dir: object | None = None  # per-step rollout dumps, the source of the reward std metric
    metrics_path: object | None = None  # verl's FileLogger JSONL; on the shared volume for multi-node


def pod_paths(outputs: str, reward_file: str) -> VerlPaths:
    """The paths the trainer uses under the outputs volume (for printing the command before the pod exists)."""
    j = posixpath.join
    return VerlPaths(j(outputs, "data", "train.parquet"), j(outputs, "data", "val.parquet"), reward_file,
                     j(outputs, "checkpoints"), j(outputs, "rollouts"), j(outputs, "metrics", "ATTEMPT.jsonl"))


_BACKSLASHES_BEFORE_SPECIAL = re.compile(r"(\\+)(?=\$\{|'|$)")


def quote(text: str) -> str:
    """A Hydra quoted string that reads back as `text`: no interpolation (`${...}` stays literal), quotes and
    backslashes kept. Hydra unescapes backslashes only before a quote, before `${`, and at the end."""
    text = _BACKSLASHES_BEFORE_SPECIAL.sub(lambda m: m.group(1) * 2, text)
    return "'" + text.replace("'", "\\'").replace("${", "\\${") + "'"


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
    return quote(str(value))


def _set(key: str, value: object) -> str:
    return f"{key}={hydra_value(value)}"


def build_overrides(spec: GRPOJobSpec, paths: VerlPaths, experiment_name: str = "grpojob") -> list[str]:
    """The complete override list for verl 0.9.1's ``ppo_trainer`` config."""
    m, g, t, r, res, mem, ck = (
        spec.model, spec.grpo, spec.training, spec.rollout, spec.resources, spec.memory, spec.checkpoint)
    log_prob_micro = spec_log_prob_micro(spec)
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
        _set(K["training.microBatchSizePerGPU"], t.micro_batch_size_per_gpu),
        _set(K["grpo.useKLLoss"], g.use_kl_loss),
        _set(K["grpo.klLossCoef"], g.kl_loss_coef),
        _set(K["grpo.klLossType"], g.kl_loss_type),
        _set(K["grpo.lossAggMode"], g.loss_agg_mode),
        # verl's vanilla policy loss clips at clip_ratio_low/high (core_algos.compute_policy_loss_vanilla)
        _set(K["grpo.clipRatio"], g.clip_ratio),
        _set(K["grpo.clipRatioLow"], g.clip_ratio_low if g.clip_ratio_low is not None else g.clip_ratio),
        _set(K["grpo.clipRatioHigh"], g.clip_ratio_high if g.clip_ratio_high is not None else g.clip_ratio),
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
        _set(K["training.logProbMicroBatchSizePerGPU"], log_prob_micro),
        # the agent loop chunks the step's samples evenly over its workers (DataProto.chunk)
        _set("actor_rollout_ref.rollout.agent.num_workers", agent_workers(t.batch_size * g.rollout_n)),
        # reference model
        _set("actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu", log_prob_micro),
        _set(K["memory.refParamOffload"], mem.ref_param_offload),
        # reward: the 0.9.1 key (the legacy top-level custom_reward_function.* is silently ignored)
        _set(K["reward"], str(paths.reward_file)),
        _set(K["reward.functionName"], spec.reward.function_name),
        # trainer
        "trainer.critic_warmup=0",
        # console and the file logger the metrics exporter reads, then the user's trackers
        K["tracking.loggers"] + "=[" + ",".join([*ALWAYS_LOGGERS, *spec.tracking.loggers]) + "]",
        _set(K["tracking.project"], spec.tracking.project or PROJECT_NAME),
        _set(K["tracking.experiment"], spec.tracking.experiment or experiment_name),
        _set(K["resources.nodes"], res.nodes),
        _set(K["resources.gpusPerNode"], res.gpus_per_node),
        _set(K["training.epochs"], t.epochs),
        _set(K["training.saveFreq"], t.save_freq),
        _set(K["training.testFreq"], t.test_freq),
        "trainer.default_local_dir=" + hydra_value(str(paths.checkpoint_dir)),
        _set(K["checkpoint.resumeMode"], ck.resume_mode),
    ]
    if g.loss_agg_mode == DRGRPO_LOSS_AGG_MODE:
        # DrGRPO divides by a constant; unset, verl divides by each micro-batch's padded width (core_algos.agg_loss)
        out.append(_set("actor_rollout_ref.actor.loss_scale_factor", t.max_response_length))
    for name, value in sorted((spec.reward.kwargs or {}).items()):
        out.append(_set(f"+reward.custom_reward_function.reward_kwargs.{name}", value))
    if t.total_training_steps is not None:
        out.append(_set(K["training.totalTrainingSteps"], t.total_training_steps))
    if ck.resume_from is not None:
        out.append(_set(K["checkpoint.resumeFrom"], ck.resume_from))
    if ck.max_to_keep is not None:
        out.append(_set(K["checkpoint.maxToKeep"], ck.max_to_keep))
    if paths.rollout_dir is not None:
        out.append(_set("trainer.rollout_data_dir", str(paths.rollout_dir)))
    if paths.metrics_path is not None:
        # verl's TaskRunner is a Ray actor: on a RayJob's independently started cluster it sees only the env the
        # job's runtime_env carries, which main_ppo merges from ray_kwargs.ray_init.runtime_env.
        out.append(_set(f"{RAY_ENV_KEY}.{METRICS_ENV}", str(paths.metrics_path)))
    out.extend(spec.overrides)
    return out


def main_ppo_command(overrides: list[str], python: str = "python", entry: str = VERL_ENTRY) -> list[str]:
    """The command the trainer runs (and prints, and `--dry-run` shows): one function, so they cannot differ."""
    return [python, "-m", entry, *overrides]


class VerlComposeError(ValueError):
    """verl's Hydra config or verl's own arithmetic rejected the override list."""


class VerlNotInstalled(VerlComposeError):
    pass


def verl_config_dir() -> str:
    """verl's packaged Hydra configs (site-packages/verl/trainer/config), found without importing verl."""
    import importlib.util

    found = importlib.util.find_spec("verl")
    if found is None or found.origin is None:
        raise VerlNotInstalled("verl is not installed here, so overrides cannot be checked against its Hydra "
                               "config (pip install verl==0.9.1 --no-deps hydra-core omegaconf)")
    return posixpath.join(posixpath.dirname(found.origin), "trainer", "config")


def verl_available() -> bool:
    try:
        verl_config_dir()
        import hydra  # noqa: F401
    except (VerlNotInstalled, ImportError):
        return False
    return True


_HYDRA_LOCK = threading.Lock()


def compose_config(overrides: list[str]):
    """Compose ``ppo_trainer`` with the overrides exactly as main_ppo's Hydra would (no GPU, no verl import)."""
    try:
        from hydra import compose, initialize_config_dir
        from hydra.core.global_hydra import GlobalHydra
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException
    except ImportError as e:
        raise VerlNotInstalled(f"hydra-core is not installed ({e}); pip install hydra-core omegaconf") from e

    with _HYDRA_LOCK:  # Hydra's GlobalHydra is process-wide: one composition at a time (the operator uses threads)
        if GlobalHydra.instance().is_initialized():
            GlobalHydra.instance().clear()
        try:
            with initialize_config_dir(config_dir=verl_config_dir(), version_base=None):
                return compose("ppo_trainer", overrides=overrides)
        except (HydraException, OmegaConfBaseException) as e:
            cause = f" ({e.__cause__})" if e.__cause__ else ""
            raise VerlComposeError(f"verl rejected the overrides: {e}{cause}".replace("\n", " ")) from e
        finally:
            GlobalHydra.instance().clear()


def compose(overrides: list[str]):
    """Compose, then apply verl's own arithmetic to the result (raw overrides may change micro batches)."""
    cfg = compose_config(overrides)
    errors = config_errors(cfg)
    if errors:
        raise VerlComposeError("verl would reject the composed config: "
                               + "; ".join(f"spec.{f}: {m}" for f, m in errors))
    return cfg


def check_job_overrides(spec: GRPOJobSpec, outputs: str = "/outputs", reward_file: str = "/reward.py") -> None:
    """Compose the job's full override list (raise VerlComposeError / VerlNotInstalled)."""
    compose(build_overrides(spec, pod_paths(outputs, reward_file)))
