"""Resume: verl 0.9.1's default (v1) trainer ``_load_checkpoint`` run on the composed config.

The function is verl's own source (``verl/trainer/ppo/v1/trainer_base.py``, ``_load_checkpoint``), compiled
from the installed file: importing its module needs ``transfer_queue`` (a GPU-image extra). It asserts
``"global_step_" in trainer.resume_from_path`` for ``resume_mode=resume_path`` and reads the step from it.
"""

from __future__ import annotations

import ast
import importlib.util
import logging
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.integration.verl_cpu.harness import composed, job_of


class _Loaded(Exception):
    """Raised by the fake worker group: verl got as far as loading the actor checkpoint."""


def _verl_function(relpath: str, cls: str, name: str, namespace: dict):
    path = Path(importlib.util.find_spec("verl").origin).parent / relpath
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for fn in node.body:
                if isinstance(fn, ast.FunctionDef) and fn.name == name:
                    code = compile(ast.Module(body=[fn], type_ignores=[]), str(path), "exec")
                    exec(code, namespace)
                    return namespace[name]
    raise LookupError(f"{cls}.{name} not in {path}")


def run_verl_load_checkpoint(cfg) -> int | None:
    """verl's ``_load_checkpoint`` with a recording worker group; the global step it resumes at."""
    from verl.utils.checkpoint.checkpoint_manager import find_latest_ckpt_path

    ns = {"os": os, "find_latest_ckpt_path": find_latest_ckpt_path, "logger": logging.getLogger("verl-cpu")}
    fn = _verl_function("trainer/ppo/v1/trainer_base.py", "PPOTrainer", "_load_checkpoint", ns)

    def load_checkpoint(local_path, del_local_after_load=False):
        raise _Loaded(local_path)

    me = SimpleNamespace(config=cfg, actor_rollout_wg=SimpleNamespace(load_checkpoint=load_checkpoint))
    try:
        fn(me)
    except _Loaded:
        return me.global_steps
    return None


def test_resume_path_with_global_step_resumes_at_that_step():
    job = job_of({"checkpoint": {"resumeMode": "resume_path", "resumeFrom": "/outputs/checkpoints/global_step_40"}})
    assert run_verl_load_checkpoint(composed(job)) == 40


def test_resume_auto_with_no_checkpoint_starts_from_scratch(tmp_path):
    job = job_of({"checkpoint": {"resumeMode": "auto"}})
    assert run_verl_load_checkpoint(composed(job, checkpoints=tmp_path)) is None


def test_resume_path_without_global_step_is_an_assertion_in_verl():
    job = job_of({"checkpoint": {"resumeMode": "resume_path", "resumeFrom": "/outputs/checkpoints/global_step_40"}})
    cfg = composed(job)
    cfg.trainer.resume_from_path = "/outputs/checkpoints/best"
    with pytest.raises(AssertionError, match="global_steps"):
        run_verl_load_checkpoint(cfg)
