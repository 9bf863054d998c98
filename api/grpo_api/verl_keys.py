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
    "grpo.rolloutN": "actor_rollout_ref.rollout.n",
    "grpo.normAdvByStd": "algorithm.norm_adv_by_std_in_grpo",
    "grpo.useKLLoss": "actor_rollout_ref.actor.use_kl_loss",
    "grpo.klLossCoef": "actor_rollout_ref.actor.kl_loss_coef",
    "grpo.klLossType": "actor_rollout_ref.actor.kl_loss_type",
    "grpo.lossAggMode": "actor_rollout_ref.actor.loss_agg_mode",
    "grpo.clipRatio": "actor_rollout_ref.actor.clip_ratio",
    "grpo.entropyCoeff": "actor_rollout_ref.actor.entropy_coeff",
    "training.batchSize": "data.train_batch_size",
    "training.learningRate": "actor_rollout_ref.actor.optim.lr",
    "training.epochs": "trainer.total_epochs",
    "training.maxResponseLength": "data.max_response_length",
    "training.ppoMiniBatchSize": "actor_rollout_ref.actor.ppo_mini_batch_size",
    "training.microBatchSizePerGPU": "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu",
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
}

# Keys the trainer sets itself; an override would break checkpoint discovery, metrics or the reward hookup.
OPERATOR_OWNED_KEYS: dict[str, str] = {
    "algorithm.adv_estimator": "a GRPOJob always trains with adv_estimator=grpo",
    "trainer.default_local_dir": "checkpoints always go to the outputs volume (spec.checkpoint)",
    "trainer.logger": "the trainer needs its file logger for metrics",
    "custom_reward_function.path": "verl 0.9.1 silently ignores the legacy top-level key; use spec.reward",
    "custom_reward_function.name": "verl 0.9.1 silently ignores the legacy top-level key; use spec.reward.functionName",
}


def managed_key_owner(key: str) -> str | None:
    """The reason a raw override may not set `key`, or None when it is free to set."""
    for field, verl_key in FIELD_TO_VERL_KEY.items():
        if key == verl_key:
            return f"it is set from spec.{field}; set that field instead"
    return OPERATOR_OWNED_KEYS.get(key)


def managed_keys() -> list[str]:
    return sorted(set(FIELD_TO_VERL_KEY.values()) | set(OPERATOR_OWNED_KEYS))
