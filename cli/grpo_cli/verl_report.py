"""The verl side of a job for the CLI: warnings, the composed-override verdict, and the exact command line."""

from __future__ import annotations

import importlib.util
import shlex
import sys

from grpo_api import GRPOJob
from grpo_api.constants import OUTPUTS_DIR
from grpo_api.pod_paths import reward_file_path
from grpo_api.verl_check import VerlCheck, verl_check
from grpo_api.verl_overrides import build_overrides, main_ppo_command, pod_paths

BUILTIN_REWARD = "<site-packages>/trainer_entry/reward_func.py"


def builtin_reward_path() -> str:
    found = importlib.util.find_spec("trainer_entry.reward_func")
    return BUILTIN_REWARD if found is None or found.origin is None else found.origin


def verl_command(job: GRPOJob) -> list[str]:
    """The command the trainer pod runs (paths under the outputs volume; ATTEMPT is the pod's attempt id)."""
    reward = reward_file_path(job.spec.reward) or BUILTIN_REWARD
    overrides = build_overrides(job.spec, pod_paths(OUTPUTS_DIR, reward), job.metadata.name or "grpojob")
    return main_ppo_command(overrides, "python")


def command_comment(job: GRPOJob) -> str:
    """`# verl: python -m verl.trainer.main_ppo ...` for a YAML stream (empty for engine trl)."""
    if job.spec.engine != "verl":
        return ""
    return f"# {job.metadata.name or 'grpojob'}: the trainer runs\n# " + shlex.join(verl_command(job)) + "\n"


def report(job: GRPOJob, label: str) -> VerlCheck:
    """Print warnings and a skipped-compose note to stderr; return the check (error set when verl refuses)."""
    check = verl_check(job.spec)
    for w in check.warnings:
        print(f"warning: {label}: {w}", file=sys.stderr)
    if check.skipped_reason and job.spec.engine == "verl":
        print(f"note: {label}: overrides not composed against verl's config: {check.skipped_reason}",
              file=sys.stderr)
    return check
