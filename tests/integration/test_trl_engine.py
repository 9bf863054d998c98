"""The local CPU engine (TRL): real GRPO training of the embedded tiny model on the toy parity data.

Everything here runs for real on CPU: the tiny model is built on the spot, the toy data goes through the same
seed-JSON -> parquet conversion as user data, and rewards come from the product's builtin compute_score.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from grpo_api import GRPOJob
from grpo_api.constants import EXIT_CONFIG_ERROR, EXIT_DATA_ERROR
from trainer_entry.checkpoints import LATEST_FILE, latest_checkpoint
from trainer_entry.data import convert
from trainer_entry.embedded.defaults import EMBEDDED_DATA, EMBEDDED_MODEL, EMBEDDED_SPEC_DEFAULTS
from trainer_entry.embedded.toy_data import write_toy_dataset
from trainer_entry.trl_engine import train as trl_engine
from trainer_entry.trl_engine.metrics import reward_rise

# The shortened run: the embedded defaults (batch 16, lr 1e-3, 1-token answers) stopped after 96 of their 256
# steps. By then the tiny model has learned parity itself, not just to answer with a label (~10 s idle, 2 cores).
SHORT_STEPS = 96
SHORT = {"training.totalTrainingSteps": SHORT_STEPS, "training.saveFreq": SHORT_STEPS // 2,
         "training.testFreq": SHORT_STEPS // 2}

TRAIN_KEYS = {
    "critic/rewards/mean", "critic/rewards/std", "critic/rewards/max", "critic/rewards/min", "critic/score/mean",
    "actor/pg_loss", "actor/kl_loss", "actor/entropy", "actor/grad_norm", "actor/lr", "response_length/mean",
    "response_length/max", "response_length/clip_ratio", "training/global_step", "training/epoch",
    "timing_s/step", "perf/throughput", "perf/total_num_tokens", "perf/time_per_step",
}


def _set(tree: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        tree = tree.setdefault(p, {})
    tree[last] = value


def embedded_job(**overrides) -> GRPOJob:
    spec: dict = {"engine": "trl", "model": {"path": EMBEDDED_MODEL}, "data": {"train": {"path": EMBEDDED_DATA}},
                  "resources": {"gpusPerNode": 0}}
    for dotted, value in {**EMBEDDED_SPEC_DEFAULTS, **overrides}.items():
        _set(spec, dotted, value)
    return GRPOJob.model_validate({"metadata": {"name": "trl-test"}, "spec": spec})


@pytest.fixture(scope="module")
def parquet(tmp_path_factory) -> tuple[Path, Path]:
    """The toy data set through the product's own seed-JSON -> verl-parquet conversion."""
    d = tmp_path_factory.mktemp("data")
    train_json, val_json = write_toy_dataset(d / "json")
    convert(train_json, d / "train.parquet", "train")
    convert(val_json, d / "val.parquet", "val")
    return d / "train.parquet", d / "val.parquet"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, parquet):
    out = tmp_path_factory.mktemp("run")
    metrics = out / "metrics" / "attempt-1.jsonl"
    code = trl_engine.run(embedded_job(**SHORT), *parquet, None, out / "checkpoints", metrics)
    return code, out, metrics


@pytest.mark.slow
def test_short_run_learns(short_run):
    code, _out, metrics = short_run
    assert code == 0
    rise = reward_rise(metrics)
    assert rise.steps == SHORT_STEPS
    print(f"short run: reward first 10% {rise.first:.3f} -> last 10% {rise.last:.3f}")
    assert rise.last >= rise.first + 0.3, rise
    # validation numbers were never trained on: answering one label for everything scores ~0.5 there
    val = [r["data"] for r in read_jsonl(metrics) if "val-core/classification/reward/mean@5" in r["data"]]
    assert val[-1]["val-core/classification/reward/mean@5"] >= 0.75, val


@pytest.mark.slow
def test_metrics_jsonl_has_verl_keys(short_run):
    _code, _out, metrics = short_run
    records = read_jsonl(metrics)
    train = [r for r in records if "critic/rewards/mean" in r["data"]]
    assert [r["step"] for r in train] == list(range(1, SHORT_STEPS + 1))
    for r in train:
        assert set(r["data"]) >= TRAIN_KEYS, TRAIN_KEYS - set(r["data"])
    last = train[-1]["data"]
    assert last["training/global_step"] == SHORT_STEPS
    assert last["actor/lr"] == pytest.approx(EMBEDDED_SPEC_DEFAULTS["training.learningRate"])
    assert 0.0 <= last["critic/rewards/min"] <= last["critic/rewards/mean"] <= last["critic/rewards/max"] <= 1.0
    assert last["response_length/mean"] == 1.0
    val = [r for r in records if any(k.startswith("val-core/") for k in r["data"])]
    assert [r["step"] for r in val] == [SHORT_STEPS // 2, SHORT_STEPS]
    assert set(val[0]["data"]) == {"val-core/classification/reward/mean@5", "training/global_step"}


@pytest.mark.slow
def test_checkpoints_use_verl_layout(short_run):
    _code, out, _metrics = short_run
    ckpt = out / "checkpoints"
    assert (ckpt / LATEST_FILE).read_text().strip() == str(SHORT_STEPS)
    assert latest_checkpoint(ckpt).step == SHORT_STEPS
    for step in (SHORT_STEPS // 2, SHORT_STEPS):
        actor = ckpt / f"global_step_{step}" / "actor"
        assert (actor / "model.safetensors").is_file() and (actor / "optimizer.pt").is_file()
        assert json.loads((actor / "trainer_state.json").read_text())["global_step"] == step
    assert not list(ckpt.glob("checkpoint-*"))
    # the checkpoint is a loadable Hugging Face model with its tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    actor = ckpt / f"global_step_{SHORT_STEPS}" / "actor"
    tok = AutoTokenizer.from_pretrained(actor)
    assert AutoModelForCausalLM.from_pretrained(actor).config.vocab_size == len(tok)


@pytest.mark.slow
def test_resume_continues_at_next_step(short_run, parquet, tmp_path):
    """A run that died after the middle checkpoint: a restart continues at the next step, not at 1."""
    _code, out, _metrics = short_run
    ckpt = tmp_path / "checkpoints"
    mid = SHORT_STEPS // 2
    ckpt.mkdir()
    shutil.copytree(out / "checkpoints" / f"global_step_{mid}", ckpt / f"global_step_{mid}")
    (ckpt / LATEST_FILE).write_text(f"{mid}\n")
    metrics = tmp_path / "metrics" / "attempt-2.jsonl"
    code = trl_engine.run(embedded_job(**SHORT), *parquet, None, ckpt, metrics)
    assert code == 0
    steps = [r["step"] for r in read_jsonl(metrics) if "critic/rewards/mean" in r["data"]]
    assert steps == list(range(mid + 1, SHORT_STEPS + 1))
    assert (ckpt / LATEST_FILE).read_text().strip() == str(SHORT_STEPS)
    # and once finished, running again trains nothing more
    again = tmp_path / "metrics" / "attempt-3.jsonl"
    assert trl_engine.run(embedded_job(**SHORT), *parquet, None, ckpt, again) == 0
    assert not [r for r in read_jsonl(again) if "critic/rewards/mean" in r["data"]]


def test_verl_only_options_rejected(parquet, tmp_path, capsys):
    job = GRPOJob.model_validate({"metadata": {"name": "tp"}, "spec": {
        "engine": "verl", "model": {"path": EMBEDDED_MODEL}, "data": {"train": {"path": EMBEDDED_DATA}},
        "resources": {"gpusPerNode": 8}, "rollout": {"tensorParallelSize": 4},
        "memory": {"refParamOffload": True}}})
    code = trl_engine.run(job, *parquet, None, tmp_path / "checkpoints", tmp_path / "m.jsonl")
    assert code == EXIT_CONFIG_ERROR
    err = capsys.readouterr().err
    assert "cannot run on the TRL (CPU) engine" in err
    assert "rollout.tensorParallelSize=4" in err
    assert "resources.gpusPerNode=8" in err
    assert "memory.refParamOffload=true" in err
    assert not (tmp_path / "checkpoints").exists()


def test_prompt_longer_than_max_prompt_length_is_a_data_error(parquet, tmp_path, capsys):
    job = embedded_job(**{"data.maxPromptLength": 8})
    code = trl_engine.run(job, *parquet, None, tmp_path / "checkpoints", tmp_path / "m.jsonl")
    assert code == EXIT_DATA_ERROR
    err = capsys.readouterr().err
    assert "train.parquet: row 1: field 'prompt'" in err and "longer than data.maxPromptLength 8" in err


def test_user_reward_that_raises_names_the_sample(parquet, tmp_path, capsys):
    reward = tmp_path / "my_reward.py"
    reward.write_text("def compute_score(data_source, solution_str, ground_truth, extra_info=None):\n"
                      "    return {'odd': 1.0}[solution_str]\n")
    job = embedded_job(**{**SHORT, "training.totalTrainingSteps": 1})
    code = trl_engine.run(job, *parquet, reward, tmp_path / "checkpoints", tmp_path / "m.jsonl")
    err = capsys.readouterr().err
    assert code == 4, err  # constants.EXIT_REWARD_ERROR
    assert f"{reward}:compute_score raised KeyError" in err and "data_source='classification'" in err


@pytest.mark.slow
def test_shared_exporter_serves_the_trl_metrics(short_run):
    """The trainer's Prometheus exporter, unchanged, turns the TRL engine's JSONL into the grpo_* gauges."""
    from prometheus_client import generate_latest

    from trainer_entry.exporter import Exporter

    _code, out, metrics = short_run
    exporter = Exporter(metrics, "trl", EMBEDDED_MODEL, out / "checkpoints", None)
    assert exporter.poll_once() > 0
    text = generate_latest(exporter.registry).decode()
    samples = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
               if line and not line.startswith("#")}
    last = [r["data"] for r in read_jsonl(metrics) if "critic/rewards/mean" in r["data"]][-1]
    assert samples["grpo_global_step"] == SHORT_STEPS
    assert samples["grpo_total_steps"] == SHORT_STEPS
    assert samples["grpo_reward_mean"] == pytest.approx(last["critic/rewards/mean"])
    assert samples["grpo_reward_std"] == pytest.approx(last["critic/rewards/std"])
    assert samples["grpo_kl_loss"] == pytest.approx(last["actor/kl_loss"])
    assert samples["grpo_last_checkpoint_step"] == SHORT_STEPS
    steps = [r["data"] for r in read_jsonl(metrics) if "perf/total_num_tokens" in r["data"]]
    assert samples["grpo_tokens_total"] == sum(d["perf/total_num_tokens"] for d in steps) > 0
    assert samples['grpo_val_score{data_source="classification"}'] >= 0.75
    assert samples['grpo_trainer_info{engine="trl",model="embedded:tiny"}'] == 1.0


def test_fewer_rows_than_a_batch_is_a_data_error(tmp_path, capsys):
    from trainer_entry.embedded.toy_data import make_records

    train, _ = make_records(4, 0)
    (tmp_path / "few.json").write_text(json.dumps(train))
    convert(tmp_path / "few.json", tmp_path / "few.parquet")
    code = trl_engine.run(embedded_job(), tmp_path / "few.parquet", None, None, tmp_path / "ckpt", tmp_path / "m.jsonl")
    assert code == EXIT_DATA_ERROR
    assert "few.parquet: has 4 rows, fewer than spec.training.batchSize=16" in capsys.readouterr().err
