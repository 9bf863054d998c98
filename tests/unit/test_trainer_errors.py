"""One error type carries the trainer's exit code; the codes are the contract the Job's podFailurePolicy and the
operator's status derivation read (grpo_api.constants)."""

import pytest

from grpo_api import constants as c
from trainer_entry.data import DataError
from trainer_entry.errors import ConfigError, RayResourceError, RewardError, TrainerError
from trainer_entry.trl_engine.checkpoints import CheckpointError
from trainer_entry.trl_engine.config import TRLUnsupported
from trainer_entry.verl_engine.overrides import OverrideError


@pytest.mark.parametrize(("error", "code", "kind"), [
    (ConfigError("x"), c.EXIT_CONFIG_ERROR, "config"),
    (OverrideError("x"), c.EXIT_CONFIG_ERROR, "config"),
    (TRLUnsupported(["x"]), c.EXIT_CONFIG_ERROR, "config"),
    (CheckpointError("x"), c.EXIT_CONFIG_ERROR, "config"),
    (DataError("f.json", "bad", row=3, field="prompt"), c.EXIT_DATA_ERROR, "data"),
    (RewardError("x"), c.EXIT_REWARD_ERROR, "reward"),
    (RayResourceError("x"), c.EXIT_RAY_RESOURCES, "ray"),
])
def test_each_failure_carries_its_exit_code(error, code, kind):
    assert isinstance(error, TrainerError)
    assert (error.exit_code, error.kind) == (code, kind)


def test_exit_codes_are_distinct_and_not_a_crash_or_a_signal():
    codes = [c.EXIT_CONFIG_ERROR, c.EXIT_DATA_ERROR, c.EXIT_REWARD_ERROR, c.EXIT_RAY_RESOURCES]
    assert len(set(codes)) == len(codes)
    assert 1 not in codes and all(0 < code < 128 for code in codes)  # 1: an uncaught exception; >128: a signal


def test_the_operator_knows_every_code_the_trainer_exits_with():
    """Each trainer error's code fails the Job at once (podFailurePolicy) and has a status reason of its own."""
    from grpo_operator.builders import pod_failure_policy
    from grpo_operator.status_derive import EXIT_CODE_REASONS

    codes = {cls.exit_code for cls in (ConfigError, DataError, RewardError, RayResourceError)}
    fail_job = next(r for r in pod_failure_policy()["rules"] if r["action"] == "FailJob")
    assert codes == set(fail_job["onExitCodes"]["values"])
    assert codes == set(EXIT_CODE_REASONS) and len(set(EXIT_CODE_REASONS.values())) == len(codes)
