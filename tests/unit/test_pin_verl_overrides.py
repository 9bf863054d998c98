"""Pins the verl override builder where mutation testing found it unpinned: the optional fields that reach
verl only when set (totalTrainingSteps, resumeFrom, maxToKeep, the rollout dump folder), the mini-batch
default, the user's overrides going last, Hydra value quoting, planned steps, the Ray CPU check and the CPU
count read from the cgroup (it decides whether Ray gets enough CPUs for verl)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grpo_api import parse_grpojob
from grpo_api.constants import EXIT_RAY_RESOURCES
from trainer_entry.verl_engine import overrides as ov
from trainer_entry.verl_engine.overrides import (
    RayResourceError,
    VerlPaths,
    build_overrides,
    container_cpus,
    hydra_value,
    planned_steps,
    ray_cpu_check,
    required_cpus,
)

PATHS = VerlPaths(Path("/o/train.parquet"), Path("/o/val.parquet"), Path("/r/reward.py"), Path("/o/ckpt"))


def spec(**sections):
    body = {"model": {"path": "Qwen/Qwen2.5-0.5B-Instruct"}, "data": {"train": {"path": "embedded:math"}}}
    for name, value in sections.items():
        body[name] = {**body.get(name, {}), **value}
    return parse_grpojob({"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob", "metadata": {"name": "x"},
                          "spec": body}).spec


def as_dict(overrides):
    return dict(o.split("=", 1) for o in overrides)


def test_optional_fields_reach_verl_only_when_set():
    base = as_dict(build_overrides(spec(), PATHS))
    for key in ("trainer.total_training_steps", "trainer.resume_from_path", "trainer.max_actor_ckpt_to_keep",
                "trainer.rollout_data_dir"):
        assert key not in base
    s = spec(training={"totalTrainingSteps": 7, "ppoMiniBatchSize": 64},
             checkpoint={"resumeMode": "resume_path", "resumeFrom": "/outputs/checkpoints/global_step_10",
                         "maxToKeep": 2})
    paths = VerlPaths(PATHS.train_parquet, PATHS.val_parquet, PATHS.reward_file, PATHS.checkpoint_dir,
                      rollout_dir=Path("/o/rollouts"))
    got = as_dict(build_overrides(s, paths, experiment_name="exp"))
    assert got["trainer.total_training_steps"] == "7"
    assert got["trainer.resume_mode"] == "'resume_path'"
    assert got["trainer.resume_from_path"] == "'/outputs/checkpoints/global_step_10'"
    assert got["trainer.max_actor_ckpt_to_keep"] == "2"
    assert got["trainer.rollout_data_dir"] == "'/o/rollouts'"
    assert got["actor_rollout_ref.actor.ppo_mini_batch_size"] == "64"
    assert got["trainer.experiment_name"] == "'exp'"


def test_seed_defaults_and_fixed_keys():
    got = as_dict(build_overrides(spec(), PATHS))
    assert got["data.train_batch_size"] == got["actor_rollout_ref.actor.ppo_mini_batch_size"] == "256"
    assert got["algorithm.adv_estimator"] == "grpo"
    assert got["actor_rollout_ref.rollout.mode"] == "async"
    assert got["trainer.default_local_dir"] == "'/o/ckpt'"
    assert got["reward.custom_reward_function.path"] == "'/r/reward.py'"
    assert got["data.train_files"] == "'/o/train.parquet'" and got["data.val_files"] == "'/o/val.parquet'"
    assert got["trainer.project_name"] == "'grpo-operator'" and got["trainer.experiment_name"] == "'grpojob'"
    assert got["trainer.logger"] == "[console,file]"
    micro = got["actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu"]
    assert got["actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu"] == micro
    assert got["actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu"] == micro


def test_user_overrides_go_last():
    s = spec()
    s = s.model_copy(update={"overrides": ["trainer.val_before_train=false", "+foo.bar=1"]})
    out = build_overrides(s, PATHS)
    assert out[-2:] == ["trainer.val_before_train=false", "+foo.bar=1"]


@pytest.mark.parametrize(("value", "text"), [
    (True, "true"), (False, "false"), (None, "null"), (0, "0"), (-3, "-3"), (0.5, "0.5"), (1e-6, "1e-06"),
    ([1, "a", True], "[1,'a',true]"), ((), "[]"), ("true", "'true'"), ("1e-6", "'1e-6'"),
    ("it's", "'it\\'s'"), ("a\\b", "'a\\b'"), (Path("/x y"), "'/x y'"),
])
def test_hydra_value(value, text):
    assert hydra_value(value) == text


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_hydra_value_rejects_non_finite_numbers(bad):
    with pytest.raises(ValueError, match="cannot pass non-finite number"):
        hydra_value(bad)


def test_planned_steps_drop_the_last_partial_batch_and_honour_the_cap():
    s = spec(training={"batchSize": 4, "epochs": 3, "ppoMiniBatchSize": 4})
    assert planned_steps(11, s) == 2 * 3
    assert planned_steps(12, s) == 3 * 3
    assert planned_steps(3, s) == 0
    capped = spec(training={"batchSize": 4, "epochs": 3, "ppoMiniBatchSize": 4, "totalTrainingSteps": 100})
    assert planned_steps(12, capped) == 100


@pytest.mark.parametrize("gpus", [0, 1, 2, 8])
def test_ray_cpu_check_boundary(gpus):
    need = 3 * gpus + 9
    assert required_cpus(gpus) == need
    ray_cpu_check(need, gpus)
    ray_cpu_check(need + 0.5, gpus)
    with pytest.raises(RayResourceError) as err:
        ray_cpu_check(need - 0.5, gpus)
    assert str(err.value) == (
        f"Ray sees {need - 0.5:g} CPUs for {gpus} GPUs; verl needs at least 3 per GPU + 9 = {need} or it hangs "
        "without an error. Raise spec.resources.cpu (per node) or leave it unset for the default.")
    assert err.value.exit_code == EXIT_RAY_RESOURCES


# --- container_cpus: the cgroup's quota, read from a cgroup tree laid out in a temporary folder ---------------------


@pytest.fixture()
def cgroup(tmp_path, monkeypatch):
    """Point the module's /sys/fs/cgroup at tmp_path (everything else about Path is the real one)."""
    real = Path

    def rooted(p, *rest):
        p = str(p)
        if p.startswith("/sys/fs/cgroup"):
            return real(str(tmp_path) + p[len("/sys/fs/cgroup"):], *rest)
        return real(p, *rest)

    monkeypatch.setattr(ov, "Path", rooted)

    def write(rel, text):
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)

    return write


AFFINITY = float(len(os.sched_getaffinity(0)))


@pytest.mark.parametrize(("files", "cpus"), [
    ({"cpu.max": "200000 100000\n"}, 2.0),  # cgroup v2
    ({"cpu.max": "150000 100000"}, 1.5),
    ({"cpu.max": "50000 100000"}, 0.5),
    ({"cpu.max": "max 100000\n"}, AFFINITY),  # no limit: the CPUs the process may run on
    ({"cpu.max": "max 100000", "cpu/cpu.cfs_quota_us": "300000", "cpu/cpu.cfs_period_us": "100000"}, 3.0),
    ({"cpu.max": "garbage"}, AFFINITY),
    ({"cpu/cpu.cfs_quota_us": "400000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 4.0),  # cgroup v1
    ({"cpu/cpu.cfs_quota_us": "250000", "cpu/cpu.cfs_period_us": "100000"}, 2.5),
    ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, AFFINITY),  # v1: no limit
    ({"cpu/cpu.cfs_quota_us": "0", "cpu/cpu.cfs_period_us": "100000"}, AFFINITY),
    ({"cpu/cpu.cfs_quota_us": "100000"}, AFFINITY),  # period missing
    ({"cpu/cpu.cfs_quota_us": "x", "cpu/cpu.cfs_period_us": "100000"}, AFFINITY),
    ({}, AFFINITY),
])
def test_container_cpus_from_the_cgroup(cgroup, files, cpus):
    for rel, text in files.items():
        cgroup(rel, text)
    assert container_cpus() == cpus
    assert isinstance(container_cpus(), float)


def test_container_cpus_here_is_positive():
    assert container_cpus() > 0


# --- found by the mutation run on grpo_api/verl_overrides.py ----------------------------------------------------


@pytest.mark.parametrize(("text", "token"), [
    ("a\\", "'a\\\\'"),  # a trailing backslash is doubled, or it would escape the closing quote
    ("a\\'b", "'a\\\\\\'b'"),  # before a quote: doubled, then the quote escaped
    ("a\\${x}", "'a\\\\\\${x}'"),  # before ${: doubled, then the interpolation escaped
    ("${x}", "'\\${x}'"),
])
def test_backslashes_before_hydra_specials_are_doubled(text, token):
    assert hydra_value(text) == token


def test_agent_workers_divide_the_steps_samples():
    # batchSize 4 × rolloutN 3 = 12 samples: 6 workers (the largest divisor <= 8)
    got = as_dict(build_overrides(spec(training={"batchSize": 4, "ppoMiniBatchSize": 4, "microBatchSizePerGPU": 2},
                                       grpo={"rolloutN": 3}), PATHS))
    assert got["actor_rollout_ref.rollout.agent.num_workers"] == "6"


@pytest.mark.parametrize(("mode", "scaled"), [
    ("seq-mean-token-sum-norm", True), ("seq-mean-token-mean", False), ("token-mean", False)])
def test_only_drgrpo_gets_a_constant_loss_scale(mode, scaled):
    got = as_dict(build_overrides(spec(grpo={"lossAggMode": mode, "useKLLoss": False},
                                       training={"maxResponseLength": 512}), PATHS))
    assert got.get("actor_rollout_ref.actor.loss_scale_factor") == ("512" if scaled else None)


def test_verl_not_installed_is_a_clear_error(monkeypatch):
    import importlib.util
    import types

    from grpo_api import verl_overrides as vo

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(vo.VerlNotInstalled, match="verl is not installed here"):
        vo.verl_config_dir()
    assert vo.verl_available() is False
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: types.SimpleNamespace(origin=None))
    with pytest.raises(vo.VerlNotInstalled):
        vo.verl_config_dir()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: types.SimpleNamespace(origin="/sp/verl/__init__.py"))
    assert vo.verl_config_dir() == "/sp/verl/trainer/config"


def _verl_and_hydra_here() -> bool:  # independent of verl_available(), which the tests below check
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("verl", "hydra"))


verl_only = pytest.mark.skipif(not _verl_and_hydra_here(), reason="verl/hydra-core not installed: cannot compose")


@verl_only
def test_compose_refuses_what_verl_would_and_accepts_the_rest():
    from grpo_api import verl_overrides as vo

    overrides = build_overrides(spec(), vo.pod_paths("/outputs", "/r.py"))
    assert vo.verl_available() is True
    cfg = vo.compose(overrides)
    assert cfg.data.train_batch_size == 256
    with pytest.raises(vo.VerlComposeError) as err:
        vo.compose([*overrides, "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=3"])
    assert str(err.value).startswith("verl would reject the composed config: spec.training.microBatchSizePerGPU: ")


@verl_only
def test_compose_works_when_hydra_was_left_initialised():
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from grpo_api import verl_overrides as vo

    initialize_config_dir(config_dir=vo.verl_config_dir(), version_base=None).__enter__()
    assert GlobalHydra.instance().is_initialized()
    cfg = vo.compose_config(build_overrides(spec(), vo.pod_paths("/outputs", "/r.py")))
    assert cfg.trainer.project_name == "grpo-operator"
    assert not GlobalHydra.instance().is_initialized()


def test_container_cpus_without_a_quota_is_this_process_s_affinity(cgroup):
    """The CPUs this process may run on, not those of another process (pid 1 may have more)."""
    before = os.sched_getaffinity(0)
    if len(before) < 2:
        pytest.skip("needs 2 CPUs to restrict the affinity to one")
    try:
        os.sched_setaffinity(0, {min(before)})
        assert container_cpus() == 1.0
    finally:
        os.sched_setaffinity(0, before)


@verl_only
def test_verl_rejections_reach_the_trainer_as_a_config_error_with_verl_s_words():
    from grpo_api.constants import EXIT_CONFIG_ERROR

    with pytest.raises(ov.OverrideError) as err:
        ov.compose_verl_config(["trainer.nonexistent=1"])
    assert err.value.exit_code == EXIT_CONFIG_ERROR
    # Hydra's own cause (the struct key) is kept; a rejection without a cause does not say "(None)"
    assert "Could not override 'trainer.nonexistent'" in str(err.value)
    assert "Key 'nonexistent' is not in struct" in str(err.value)
    with pytest.raises(ov.OverrideError) as err:
        ov.compose_verl_config(["data.train_batch_size=[1"])
    assert "no viable alternative" in str(err.value) and "(None)" not in str(err.value)


def test_verl_missing_is_a_config_error_naming_the_install(monkeypatch):
    """Stand-in for a machine without verl: the package lookup finds nothing (what an uninstalled verl gives)."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "verl" else real(name, *a))
    with pytest.raises(ov.OverrideError, match="verl is not installed here.*pip install verl==0.9.1"):
        ov.verl_config_dir()


def test_verl_paths_are_fixed_once_made():
    import dataclasses

    from grpo_api import verl_overrides as vo

    paths = vo.pod_paths("/outputs", "/r.py")
    with pytest.raises(dataclasses.FrozenInstanceError):
        paths.train_parquet = "/elsewhere"
