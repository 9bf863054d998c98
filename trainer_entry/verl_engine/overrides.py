"""The trainer's side of the verl command line: the override builder itself lives in the contract
(``grpo_api.verl_overrides``) so ``grpo validate``, ``./train.sh`` and the operator compose the same list; this
module adds what only the pod knows (Ray CPUs, steps) and maps verl's refusals to the trainer's exit codes.
"""

from __future__ import annotations

import os
from pathlib import Path

from grpo_api import GRPOJobSpec
from grpo_api.verl_overrides import (  # noqa: F401  (re-exported for the trainer and its tests)
    PROJECT_NAME,
    VERL_ENTRY,
    VerlComposeError,
    VerlPaths,
    build_overrides,
    hydra_value,
    main_ppo_command,
)
from grpo_api.verl_overrides import compose as _compose
from grpo_api.verl_overrides import verl_config_dir as _verl_config_dir
from trainer_entry.errors import ConfigError, RayResourceError

CPUS_PER_GPU = 3
EXTRA_CPUS = 9


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
    """verl's Hydra config or its batch arithmetic rejected the override list (message is verl's/Hydra's own)."""


def verl_config_dir() -> Path:
    try:
        return Path(_verl_config_dir())
    except VerlComposeError as e:
        raise OverrideError(str(e)) from e


def compose_verl_config(overrides: list[str]):
    """Compose ``ppo_trainer`` with the overrides exactly as main_ppo's Hydra would, then verl's arithmetic."""
    try:
        return _compose(overrides)
    except VerlComposeError as e:
        raise OverrideError(str(e)) from e
