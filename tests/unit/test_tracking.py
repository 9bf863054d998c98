"""spec.tracking: verl's trainer.logger (console and file always kept), the Secret as envFrom, the trackers'
folders on the outputs volume, the CLI's lift of trainer.logger=[...] and --logger, TRL's report_to."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grpo_api import GRPOJob
from grpo_api.spec import TRACKERS
from grpo_api.verl_overrides import VerlPaths, build_overrides
from grpo_cli.train_args import UsageError, build_request
from grpo_operator.builders.pod import trainer_container
from trainer_entry.trl_engine.config import TRLUnsupported, grpo_config_kwargs


def job(tracking=None, **spec):
    return GRPOJob.model_validate({"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob", "metadata": {"name": "run1"},
                                   "spec": {"model": {"path": "m"}, "data": {"train": {"path": "/d.json"}},
                                            "tracking": tracking or {}, **spec}})


def overrides(j):
    return build_overrides(j.spec, VerlPaths("t", "v", "r", "c"), experiment_name="run1")


def test_default_keeps_console_and_file_only():
    o = overrides(job())
    assert "trainer.logger=[console,file]" in o
    assert "trainer.project_name='grpo-operator'" in o and "trainer.experiment_name='run1'" in o


def test_trackers_project_experiment_and_secret():
    j = job({"loggers": ["wandb", "tensorboard"], "project": "math", "experiment": "lr-1e-6",
             "secretRef": {"name": "wandb-key"}})
    o = overrides(j)
    assert "trainer.logger=[console,file,wandb,tensorboard]" in o
    assert "trainer.project_name='math'" in o and "trainer.experiment_name='lr-1e-6'" in o
    c = trainer_container(j, image="i", namespace="ns")
    assert {"secretRef": {"name": "wandb-key"}} in c["envFrom"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["TENSORBOARD_DIR"] == "/outputs/tensorboard" and env["WANDB_DIR"] == "/outputs"
    assert "envFrom" not in trainer_container(job(), image="i", namespace="ns")


@given(st.lists(st.sampled_from(TRACKERS), unique=True))
def test_every_verl_tracker_is_accepted(loggers):
    assert overrides(job({"loggers": loggers}))[0:0] == []
    assert f"trainer.logger=[{','.join(['console', 'file', *loggers])}]" in overrides(job({"loggers": loggers}))


@pytest.mark.parametrize("loggers", [["wandb", "wandb"], ["console"], ["file"], ["neptune"]])
def test_bad_loggers_are_refused(loggers):
    with pytest.raises(ValueError, match="loggers"):
        job({"loggers": loggers})


def test_cli_lifts_trainer_logger_and_the_flag_wins():
    r = build_request(["--name", "x", "trainer.logger=[console,wandb]"], env={})
    assert r.manifest["spec"]["tracking"] == {"loggers": ["wandb"]} and "overrides" not in r.manifest["spec"]
    r = build_request(["--name", "x", "--logger", "tensorboard,mlflow", "trainer.logger=['console','wandb']"], env={})
    assert r.manifest["spec"]["tracking"]["loggers"] == ["tensorboard", "mlflow"]
    with pytest.raises(UsageError, match="unknown logger 'neptune'"):
        build_request(["--name", "x", "--logger", "neptune"], env={})


def test_trl_report_to():
    cpu = {"engine": "trl", "resources": {"gpusPerNode": 0}}
    assert grpo_config_kwargs(job(**cpu).spec, "/c", has_val=False)["report_to"] == "none"
    kw = grpo_config_kwargs(job({"loggers": ["tensorboard", "wandb"], "experiment": "e"}, **cpu).spec, "/c",
                            has_val=False)
    assert kw["report_to"] == ["tensorboard", "wandb"] and kw["run_name"] == "e"
    with pytest.raises(TRLUnsupported, match="rl_insight"):
        grpo_config_kwargs(job({"loggers": ["rl_insight"]}, **cpu).spec, "/c", has_val=False)
