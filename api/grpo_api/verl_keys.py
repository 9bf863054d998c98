"""Which verl 0.9.1 Hydra key each GRPOJob field drives.

The trainer builds its verl override list from this map, the README's reference table shows it, and raw
`spec.overrides` may not set these keys (they would fight the typed field; the error names the field to use).
"""

# spec field path (camelCase, as users write it) -> verl Hydra key
FIELD_TO_VERL_KEY: dict[str, str] = {
    "model.path": "actor_rollout_ref.model.path",
    "model.loraRank": "actor_rollout_ref.model.lora_rank",
    "model.loraAlpha": "actor_rollout_ref.model.lora_alpha",
    "model.targetModules": "actor_rollout_ref.model.target_modules",
    "model.gradientCheckpointing": "actor_rollout_ref.model.enable_gradient_checkpointing",
    "model.trustRemoteCode": "actor_rollout_ref.model.trust_remote_code",
    "data.train": "data.train_files",
    "data.val": "data.val_files",
    "data.maxPromptLength": "data.max_prompt_length",
    "reward": "reward.custom_reward_function.path",
    "reward.functionName": "reward.custom_reward_function.name",
    "reward.kwargs": "+reward.custom_reward_function.reward_kwargs.NAME",
    "grpo.rolloutN": "actor_rollout_ref.rollout.n",
    "grpo.normAdvByStd": "algorithm.norm_adv_by_std_in_grpo",
    "grpo.useKLLoss": "actor_rollout_ref.actor.use_kl_loss",
    "grpo.klLossCoef": "actor_rollout_ref.actor.kl_loss_coef",
    "grpo.klLossType": "actor_rollout_ref.actor.kl_loss_type",
    "grpo.lossAggMode": "actor_rollout_ref.actor.loss_agg_mode",
    "grpo.clipRatio": "actor_rollout_ref.actor.clip_ratio",
    "grpo.clipRatioLow": "actor_rollout_ref.actor.clip_ratio_low",
    "grpo.clipRatioHigh": "actor_rollout_ref.actor.clip_ratio_high",
    "grpo.entropyCoeff": "actor_rollout_ref.actor.entropy_coeff",
    "training.batchSize": "data.train_batch_size",
    "training.learningRate": "actor_rollout_ref.actor.optim.lr",
    "training.epochs": "trainer.total_epochs",
    "training.maxResponseLength": "data.max_response_length",
    "training.ppoMiniBatchSize": "actor_rollout_ref.actor.ppo_mini_batch_size",
    "training.microBatchSizePerGPU": "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu",
    "training.logProbMicroBatchSizePerGPU": "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu",
    "training.saveFreq": "trainer.save_freq",
    "training.testFreq": "trainer.test_freq",
    "training.totalTrainingSteps": "trainer.total_training_steps",
    "rollout.name": "actor_rollout_ref.rollout.name",
    "rollout.tensorParallelSize": "actor_rollout_ref.rollout.tensor_model_parallel_size",
    "rollout.gpuMemoryUtilization": "actor_rollout_ref.rollout.gpu_memory_utilization",
    "rollout.temperature": "actor_rollout_ref.rollout.temperature",
    "resources.nodes": "trainer.nnodes",
    "resources.gpusPerNode": "trainer.n_gpus_per_node",
    "memory.refParamOffload": "actor_rollout_ref.ref.fsdp_config.param_offload",
    "memory.actorParamOffload": "actor_rollout_ref.actor.fsdp_config.param_offload",
    "memory.actorOptimizerOffload": "actor_rollout_ref.actor.fsdp_config.optimizer_offload",
    "checkpoint.resumeMode": "trainer.resume_mode",
    "checkpoint.resumeFrom": "trainer.resume_from_path",
    "checkpoint.maxToKeep": "trainer.max_actor_ckpt_to_keep",
    "tracking.loggers": "trainer.logger",
    "tracking.project": "trainer.project_name",
    "tracking.experiment": "trainer.experiment_name",
}

# Keys the trainer sets itself; an override would break checkpoint discovery, metrics or the reward hookup.
OPERATOR_OWNED_KEYS: dict[str, str] = {
    "algorithm.adv_estimator": "a GRPOJob always trains with adv_estimator=grpo",
    "trainer.default_local_dir": "checkpoints always go to the outputs volume (spec.checkpoint)",
    "custom_reward_function.path": "verl 0.9.1 silently ignores the legacy top-level key; use spec.reward",
    "custom_reward_function.name": "verl 0.9.1 silently ignores the legacy top-level key; use spec.reward.functionName",
    "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu":
        "it is set from spec.training.logProbMicroBatchSizePerGPU; set that field instead",
    "actor_rollout_ref.actor.loss_scale_factor":
        "it is set to training.maxResponseLength for grpo.lossAggMode seq-mean-token-sum-norm (DrGRPO's constant)",
    "actor_rollout_ref.rollout.agent.num_workers":
        "the trainer picks the largest count <= 8 that divides batchSize × rolloutN (verl chunks the batch evenly)",
    "ray_kwargs.ray_init.runtime_env.env_vars":
        "the trainer passes VERL_FILE_LOGGER_PATH to every Ray actor through it; use spec.pod.env for your own",
}
# Keys whose every sub-key is managed (spec.reward.kwargs writes them).
PREFIX_KEYS: dict[str, str] = {
    "reward.custom_reward_function.reward_kwargs": "it is set from spec.reward.kwargs; set that field instead",
    "custom_reward_function": "verl 0.9.1 silently ignores the legacy top-level group; use spec.reward",
}


def _plain(key: str) -> str:
    return key.lstrip("+").removesuffix(".NAME")


def managed_key_owner(key: str) -> str | None:
    """The reason a raw override may not set `key`, or None when it is free to set.

    Refused: a managed key, anything under one, and a parent group that contains one (`trainer={...}` would
    replace trainer.logger as surely as `trainer.logger=...`).
    """
    owners = {_plain(v): f"it is set from spec.{f}; set that field instead" for f, v in FIELD_TO_VERL_KEY.items()}
    owners.update(OPERATOR_OWNED_KEYS)
    owners.update(PREFIX_KEYS)
    for managed, reason in owners.items():
        if key == managed or key.startswith(managed + "."):
            return reason
        if managed.startswith(key + "."):
            return f"it is a parent group of {managed} ({reason})"
    return None


def managed_keys() -> list[str]:
    return sorted({_plain(v) for v in FIELD_TO_VERL_KEY.values()} | set(OPERATOR_OWNED_KEYS))


def managed_prefix_keys() -> list[str]:
    return sorted(PREFIX_KEYS)


def managed_parent_keys() -> list[str]:
    """Every group above a managed key (actor_rollout_ref, actor_rollout_ref.rollout, trainer, ...)."""
    out = set()
    for key in managed_keys() + managed_prefix_keys():
        parts = key.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return sorted(out)
