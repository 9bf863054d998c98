"""The trainer's failures, each with the exit code the pod ends with.

The exit codes are a contract: the Job's podFailurePolicy fails the Job at once on them (no retry of a bad
config or data set), and the operator's status derivation turns each into a reason (grpo_api.constants). Every
error that should end the trainer with one of them derives from ``TrainerError``; main() maps any of them to
``exit_code`` and a one-line ``kind: message`` reason for the termination log.
"""

from __future__ import annotations

from typing import ClassVar

from grpo_api.constants import EXIT_CONFIG_ERROR, EXIT_DATA_ERROR, EXIT_RAY_RESOURCES, EXIT_REWARD_ERROR


class TrainerError(Exception):
    exit_code: ClassVar[int]
    kind: ClassVar[str]  # the reason's prefix: "config: ...", "data: ..."


class ConfigError(TrainerError, ValueError):
    """The job's configuration cannot run (unreadable config, verl override rejected, engine can't do it)."""

    exit_code = EXIT_CONFIG_ERROR
    kind = "config"


class DataErrorBase(TrainerError, ValueError):
    exit_code = EXIT_DATA_ERROR
    kind = "data"


class RewardError(TrainerError, RuntimeError):
    """The reward function cannot be used."""

    exit_code = EXIT_REWARD_ERROR
    kind = "reward"


class RayResourceError(TrainerError, RuntimeError):
    """Ray has too few CPUs or nodes for verl (which would otherwise hang without an error)."""

    exit_code = EXIT_RAY_RESOURCES
    kind = "ray"
