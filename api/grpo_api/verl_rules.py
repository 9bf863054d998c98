"""verl 0.9.1's own refusals, restated once so every entry point refuses the same jobs before a pod exists.

Pure functions over a few integers (`BatchShape`), built either from a GRPOJob spec (the models, `grpo
validate`, `./train.sh`, the operator) or from a composed verl config (after raw overrides changed a micro
batch). Each check cites the verl 0.9.1 source it restates. `job_warnings` lists settings that verl accepts
but that have no effect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# trainer/ppo/core_algos.py kl_penalty / kl_penalty_forward: these names compute a value; "full" raises
# NotImplementedError; a trailing "+" selects the straight-through k2 gradient.
KL_TYPES_COMPUTED = ("kl", "k1", "abs", "mse", "k2", "low_var_kl", "k3")
KL_TYPES = KL_TYPES_COMPUTED + tuple(f"{k}+" for k in ("kl", "k1", "abs", "low_var_kl", "k3"))

# rollout/rollout.yaml agent.num_workers default; the trainer sets its own value (agent_workers()).
VERL_AGENT_WORKERS = 8
RESUME_PATH_RE = re.compile(r"global_step_\d+")


@dataclass(frozen=True)
class BatchShape:
    """The numbers verl's batch arithmetic reads (all in samples unless named *_prompts)."""

    batch_prompts: int  # data.train_batch_size
    rollout_n: int  # actor_rollout_ref.rollout.n
    mini_prompts: int  # actor.ppo_mini_batch_size
    actor_micro: int  # actor.ppo_micro_batch_size_per_gpu
    old_logprob_micro: int  # rollout.log_prob_micro_batch_size_per_gpu
    ref_logprob_micro: int | None  # ref.log_prob_micro_batch_size_per_gpu; None: no separate ref worker
    gpus_per_node: int  # trainer.n_gpus_per_node
    nodes: int  # trainer.nnodes
    sp_size: int = 1  # actor.ulysses_sequence_parallel_size
    agent_workers: int = VERL_AGENT_WORKERS  # rollout.agent.num_workers
    dynamic_bsz: bool = False  # actor.use_dynamic_bsz (micro batches by token budget, not count)

    @property
    def n_gpus(self) -> int:
        return self.gpus_per_node * self.nodes

    @property
    def dp(self) -> int:
        return max(1, self.n_gpus // max(1, self.sp_size))


def agent_workers(samples: int, most: int = VERL_AGENT_WORKERS) -> int:
    """The largest agent-loop worker count <= `most` that divides the step's samples (always >= 1)."""
    return next(w for w in range(min(most, max(1, samples)), 0, -1) if samples % w == 0)


def batch_errors(s: BatchShape) -> list[tuple[str, str]]:
    """(field, message) for every verl 0.9.1 batch rule the shape breaks; empty when verl accepts it."""
    out: list[tuple[str, str]] = []
    samples = s.batch_prompts * s.rollout_n
    mini = s.mini_prompts * s.rollout_n
    # utils/config.py validate_config: real_train_batch_size % minimal_bsz (n_gpus for FSDP), unless dynamic bsz
    if not s.dynamic_bsz and samples % s.n_gpus:
        out.append(("training.batchSize", f"batchSize × rolloutN ({s.batch_prompts}×{s.rollout_n}={samples}) must "
                    f"be divisible by the GPU count gpusPerNode × nodes ({s.n_gpus}) (verl validate_config)"))
    # workers/config/actor.py ActorConfig.validate: train_batch_size >= ppo_mini_batch_size
    if s.mini_prompts > s.batch_prompts:
        out.append(("training.ppoMiniBatchSize", f"ppoMiniBatchSize ({s.mini_prompts}) must be <= batchSize "
                    f"({s.batch_prompts}) (verl ActorConfig.validate)"))
    if s.n_gpus % max(1, s.sp_size):
        out.append(("overrides", f"the GPU count ({s.n_gpus}) must be divisible by "
                    f"actor.ulysses_sequence_parallel_size ({s.sp_size})"))
    # workers/engine_workers.py train_mini_batch: mini_batch_size (ppo_mini × n) % data-parallel size
    if mini % s.dp:
        out.append(("training.ppoMiniBatchSize", f"ppoMiniBatchSize × rolloutN ({s.mini_prompts}×{s.rollout_n}="
                    f"{mini}) must be divisible by the data-parallel size ({s.dp}) (verl train_mini_batch)"))
    elif not s.dynamic_bsz and (mini // s.dp) % s.actor_micro:
        # workers/engine/utils.py prepare_micro_batches: per-GPU mini batch % micro_batch_size_per_gpu
        out.append(("training.microBatchSizePerGPU", f"the actor update's per-GPU mini batch ({mini}/{s.dp}="
                    f"{mini // s.dp}) must be divisible by microBatchSizePerGPU ({s.actor_micro}) "
                    "(verl prepare_micro_batches)"))
    if not s.dynamic_bsz and samples % s.dp == 0:
        per_gpu = samples // s.dp
        # compute_log_prob / compute_ref_log_prob: the whole step's per-GPU share, split by the pass's micro
        passes = [("training.logProbMicroBatchSizePerGPU", "old log-prob", s.old_logprob_micro)]
        if s.ref_logprob_micro is not None:
            passes.append(("training.logProbMicroBatchSizePerGPU", "reference log-prob", s.ref_logprob_micro))
        for field, name, micro in passes:
            if per_gpu % micro:
                out.append((field, f"the {name} pass's per-GPU batch ({samples}/{s.dp}={per_gpu}) must be "
                            f"divisible by its micro batch ({micro}) (verl prepare_micro_batches)"))
    # experimental/agent_loop/agent_loop.py generate_sequences: DataProto.chunk(num_workers) needs equal chunks
    if samples % s.agent_workers:
        out.append(("overrides", f"batchSize × rolloutN ({samples}) must be divisible by "
                    f"actor_rollout_ref.rollout.agent.num_workers ({s.agent_workers}) (verl DataProto.chunk)"))
    return out


def spec_log_prob_micro(spec: Any) -> int:
    t = spec.training
    return t.log_prob_micro_batch_size_per_gpu or t.micro_batch_size_per_gpu


def uses_ref_worker(spec: Any) -> bool:
    """verl builds a separate reference worker only for the KL loss without LoRA (LoRA: adapter disabled)."""
    return spec.grpo.use_kl_loss and spec.model.lora_rank == 0


def shape_from_spec(spec: Any) -> BatchShape:
    t, res = spec.training, spec.resources
    micro = spec_log_prob_micro(spec)
    return BatchShape(
        batch_prompts=t.batch_size, rollout_n=spec.grpo.rollout_n, mini_prompts=t.ppo_mini_batch_size or t.batch_size,
        actor_micro=t.micro_batch_size_per_gpu, old_logprob_micro=micro,
        ref_logprob_micro=micro if uses_ref_worker(spec) else None,
        gpus_per_node=max(1, res.gpus_per_node), nodes=res.nodes,
        agent_workers=agent_workers(t.batch_size * spec.grpo.rollout_n))


def shape_from_config(cfg: Any) -> BatchShape:
    """The same numbers read from a composed verl config (an OmegaConf DictConfig or plain dicts)."""
    arr = cfg["actor_rollout_ref"]
    actor, rollout, ref, model = arr["actor"], arr["rollout"], arr["ref"], arr["model"]
    lora = (model.get("lora_rank") or 0) > 0
    ref_used = bool(actor["use_kl_loss"]) and not lora
    return BatchShape(
        batch_prompts=cfg["data"]["train_batch_size"], rollout_n=rollout["n"], mini_prompts=actor["ppo_mini_batch_size"],
        actor_micro=actor.get("ppo_micro_batch_size_per_gpu") or 1,
        old_logprob_micro=rollout.get("log_prob_micro_batch_size_per_gpu") or 1,
        ref_logprob_micro=(ref.get("log_prob_micro_batch_size_per_gpu") or 1) if ref_used else None,
        gpus_per_node=cfg["trainer"]["n_gpus_per_node"], nodes=cfg["trainer"]["nnodes"],
        sp_size=actor.get("ulysses_sequence_parallel_size") or 1,
        agent_workers=(rollout.get("agent") or {}).get("num_workers") or VERL_AGENT_WORKERS,
        dynamic_bsz=bool(actor.get("use_dynamic_bsz")))


def config_errors(cfg: Any) -> list[tuple[str, str]]:
    """verl's checks on a composed config that raw overrides can break (beyond the batch arithmetic)."""
    out = batch_errors(shape_from_config(cfg))
    arr = cfg["actor_rollout_ref"]
    # workers/engine_workers.py init_model: assert actor.use_dynamic_bsz == rollout.log_prob_use_dynamic_bsz
    if bool(arr["actor"].get("use_dynamic_bsz")) != bool(arr["rollout"].get("log_prob_use_dynamic_bsz")):
        out.append(("overrides", "actor_rollout_ref.actor.use_dynamic_bsz and "
                    "actor_rollout_ref.rollout.log_prob_use_dynamic_bsz must be equal (verl init_model asserts it)"))
    kl = arr["actor"].get("kl_loss_type")
    if arr["actor"].get("use_kl_loss") and kl not in KL_TYPES:
        out.append(("overrides", f"kl_loss_type {kl!r} is not computed by verl; allowed: {', '.join(KL_TYPES)}"))
    return out


def spec_errors(spec: Any) -> list[tuple[str, str]]:
    """Every verl rule a GRPOJob spec breaks (engine verl only)."""
    if spec.engine != "verl" or spec.resources.gpus_per_node < 1:
        return []
    out = batch_errors(shape_from_spec(spec))
    ck = spec.checkpoint
    # trainer/ppo/ray_trainer.py _load_checkpoint: assert "global_step_" in resume_from_path
    if ck.resume_mode == "resume_path" and ck.resume_from and not RESUME_PATH_RE.search(ck.resume_from):
        out.append(("checkpoint.resumeFrom", f"must name a global_step_N folder (got {ck.resume_from!r})"))
    return out


@dataclass(frozen=True)
class JobWarning:
    field: str
    message: str

    def __str__(self) -> str:
        return f"spec.{self.field}: {self.message}"


def job_warnings(spec: Any) -> list[JobWarning]:
    """Settings verl accepts but ignores, or that differ from verl's documented recipe. Never a refusal."""
    out: list[JobWarning] = []
    if spec.engine != "verl":
        return out
    g, mem = spec.grpo, spec.memory
    if mem.ref_param_offload and not g.use_kl_loss:
        out.append(JobWarning("memory.refParamOffload", "has no effect: grpo.useKLLoss is false, so verl "
                              "builds no reference model"))
    elif mem.ref_param_offload and spec.model.lora_rank > 0:
        out.append(JobWarning("memory.refParamOffload", "has no effect with LoRA: the reference is the actor "
                              "with its adapter disabled, there is no separate reference model to offload"))
    if g.loss_agg_mode == "seq-mean-token-sum-norm":
        if g.use_kl_loss:
            out.append(JobWarning("grpo.useKLLoss", "verl's DrGRPO recipe (docs/algo/grpo.md) sets "
                                  "use_kl_loss false; this job keeps the KL loss on"))
        if g.norm_adv_by_std:
            out.append(JobWarning("grpo.normAdvByStd", "verl's DrGRPO recipe sets norm_adv_by_std_in_grpo "
                                  "false; this job keeps the std normalisation"))
    if not g.use_kl_loss and "kl_loss_coef" in g.model_fields_set:
        out.append(JobWarning("grpo.klLossCoef", "has no effect: grpo.useKLLoss is false"))
    return out
