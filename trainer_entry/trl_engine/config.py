"""GRPOJob spec -> TRL `GRPOConfig` keyword arguments (pure; the local CPU engine's twin of verl_args).

Mapping (seed / verl name -> TRL 1.16 name):

    grpo.rolloutN            -> num_generations
    grpo.useKLLoss, klLossCoef -> beta (klLossCoef when useKLLoss, else 0: TRL then loads no reference model)
    grpo.klLossType          -> TRL's KL estimator is k3, which is verl's low_var_kl (k3) without the clamp;
                                only low_var_kl / k3 are accepted
    grpo.normAdvByStd        -> scale_rewards "group" (true) / "none" (false)
    grpo.lossAggMode         -> loss_type: token-mean -> "dapo" (token mean over the batch),
                                seq-mean-token-mean -> "grpo", seq-mean-token-sum-norm (DrGRPO) -> "dr_grpo";
                                seq-mean-token-sum has no TRL equivalent
    grpo.clipRatio           -> epsilon;  grpo.entropyCoeff -> entropy_coef
    training.batchSize       -> prompts per step: per_device_train_batch_size = prompts x rolloutN
    training.ppoMiniBatchSize -> a step updates on mini-batches: steps_per_generation = batchSize / mini
    training.learningRate    -> learning_rate (constant schedule, as verl's default)
    training.epochs / totalTrainingSteps -> num_train_epochs / max_steps
    training.maxResponseLength -> max_completion_length
    training.saveFreq / testFreq -> save_steps / eval_steps (-1: off)
    rollout.temperature      -> temperature;  model.gradientCheckpointing -> activation_checkpointing

Not used by TRL on one CPU/GPU process and therefore ignored: training.microBatchSizePerGPU (verl memory knob),
rollout.gpuMemoryUtilization, resources.cpu/memory/shmSize. verl-only options are rejected with
:class:`TRLUnsupported`, which names every offending field.
"""

from __future__ import annotations

from typing import Any

from grpo_api.spec import TRL_REPORT_TO
from trainer_entry.errors import ConfigError

LOSS_TYPES = {
    "token-mean": "dapo",
    "seq-mean-token-mean": "grpo",
    "seq-mean-token-sum-norm": "dr_grpo",
}
KL_TYPES_K3 = ("low_var_kl", "k3")
EVAL_PROMPTS_PER_BATCH = 16


class TRLUnsupported(ConfigError):
    """The job asks for something only the verl engine does. The message lists each field and the way out."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "this GRPOJob cannot run on the TRL (CPU) engine:\n"
            + "\n".join(f"  - {p}" for p in problems)
            + "\nrun it with engine verl on CUDA GPUs, or drop these settings"
        )


def unsupported_settings(spec: Any) -> list[str]:
    """Every setting of `spec` that the TRL engine cannot honour, as 'field=value: why' lines."""
    out = []
    if spec.rollout.tensor_parallel_size != 1:
        out.append(f"rollout.tensorParallelSize={spec.rollout.tensor_parallel_size}: rollout tensor parallelism "
                   "is a vLLM feature (verl only); TRL generates with the training model")
    if spec.rollout.name != "vllm":
        out.append(f"rollout.name={spec.rollout.name}: the TRL engine has no separate rollout engine")
    if spec.resources.nodes != 1:
        out.append(f"resources.nodes={spec.resources.nodes}: multi-node training needs verl on a Ray cluster")
    if spec.resources.gpus_per_node > 1:
        out.append(f"resources.gpusPerNode={spec.resources.gpus_per_node}: the TRL engine runs one process "
                   "(at most one GPU)")
    for name, on in (("refParamOffload", spec.memory.ref_param_offload),
                     ("actorParamOffload", spec.memory.actor_param_offload),
                     ("actorOptimizerOffload", spec.memory.actor_optimizer_offload)):
        if on:
            out.append(f"memory.{name}=true: FSDP CPU offload is verl only")
    if others := [n for n in spec.tracking.loggers if n not in TRL_REPORT_TO]:
        out.append(f"tracking.loggers={others}: verl-only trackers (TRL reports to {', '.join(TRL_REPORT_TO)})")
    if spec.overrides:
        out.append(f"overrides={list(spec.overrides)}: raw verl Hydra overrides mean nothing to TRL")
    if spec.model.lora_rank:
        out.append(f"model.loraRank={spec.model.lora_rank}: LoRA is not wired into the TRL engine "
                   "(it needs the peft package); use loraRank 0")
    g = spec.grpo
    if g.use_kl_loss and g.kl_loss_type not in KL_TYPES_K3:
        out.append(f"grpo.klLossType={g.kl_loss_type}: TRL estimates the KL with k3 only "
                   f"(allowed: {', '.join(KL_TYPES_K3)})")
    if g.loss_agg_mode not in LOSS_TYPES:
        out.append(f"grpo.lossAggMode={g.loss_agg_mode}: no TRL loss_type equivalent "
                   f"(allowed: {', '.join(LOSS_TYPES)})")
    return out


def grpo_config_kwargs(spec: Any, checkpoint_dir: str, *, has_val: bool, use_cpu: bool = True,
                       seed: int = 0) -> dict[str, Any]:
    """Keyword arguments for `trl.GRPOConfig` from a GRPOJob spec. Raises TRLUnsupported."""
    problems = unsupported_settings(spec)
    if problems:
        raise TRLUnsupported(problems)
    g, t = spec.grpo, spec.training
    n = g.rollout_n
    mini = t.ppo_mini_batch_size or t.batch_size
    kwargs: dict[str, Any] = {
        "output_dir": checkpoint_dir,
        "num_generations": n,
        "per_device_train_batch_size": mini * n,
        "steps_per_generation": t.batch_size // mini,
        "gradient_accumulation_steps": 1,
        "learning_rate": t.learning_rate,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "num_train_epochs": t.epochs,
        "max_steps": t.total_training_steps or -1,
        "max_completion_length": t.max_response_length,
        "beta": g.kl_loss_coef if g.use_kl_loss else 0.0,
        "scale_rewards": "group" if g.norm_adv_by_std else "none",
        "loss_type": LOSS_TYPES[g.loss_agg_mode],
        "epsilon": g.clip_ratio,
        "entropy_coef": g.entropy_coeff,
        "temperature": spec.rollout.temperature,
        "activation_checkpointing": spec.model.gradient_checkpointing,
        "save_strategy": "steps" if t.save_freq > 0 else "no",
        "save_steps": max(t.save_freq, 1),
        "save_only_model": False,  # optimizer + RNG state too, so a restart resumes exactly
        "logging_steps": 1,
        "report_to": [TRL_REPORT_TO[n] for n in spec.tracking.loggers if n in TRL_REPORT_TO] or "none",
        "run_name": spec.tracking.experiment,
        "disable_tqdm": True,
        "use_cpu": use_cpu,
        "seed": seed,
        "bf16": False,
        "fp16": False,
    }
    if has_val and t.test_freq > 0:
        kwargs.update(eval_strategy="steps", eval_steps=t.test_freq,
                      per_device_eval_batch_size=n * min(t.batch_size, EVAL_PROMPTS_PER_BATCH))
    else:
        kwargs["eval_strategy"] = "no"
    return kwargs
