"""`spec.tracking.loggers: [wandb]` on the CPU engine, in wandb's offline mode (no network): TRL's report_to
drives the real wandb client; its offline run file (what `wandb sync` uploads later) holds the training metrics,
read back here record by record."""

import json
import os
import struct
import subprocess
import sys

import pytest

from trainer_entry.data import convert
from trainer_entry.embedded.toy_data import write_toy_dataset

from .test_trl_engine import embedded_job

pytest.importorskip("wandb", reason="pip install -r requirements-dev.txt (wandb)")


def history(run_file) -> dict[str, list]:
    """Every logged value in a `.wandb` file: a 7-byte header (":W&B", magic, version), then LevelDB-log records
    in 32 KiB blocks (crc32, length, type: full/first/middle/last), each a wandb Record protobuf."""
    from wandb.proto import wandb_internal_pb2

    data, block, pos, pending, out = run_file.read_bytes(), 32768, 7, b"", {}
    assert data[:4] == b":W&B"
    records = []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack_from("<IHB", data, pos)
        if kind == 0:  # zero padding to the end of the block
            pos += left
            continue
        chunk, pos = data[pos + 7: pos + 7 + length], pos + 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            records.append(pending)
    for raw in records:
        record = wandb_internal_pb2.Record.FromString(raw)
        if record.WhichOneof("record_type") == "history":
            for item in record.history.item:
                out.setdefault(item.key or "/".join(item.nested_key), []).append(json.loads(item.value_json))
    return out


# The trainer runs in a process of its own, as in a pod: wandb keeps one run per process (wandb.run, its service
# and atexit hook), so a run started inside the pytest process would share that state with every test before it.
# The child does not call wandb.finish(): its exit does, through wandb's atexit hook, as the trainer's does.
CHILD = """
import json, sys
from pathlib import Path
from grpo_api.job import GRPOJob
from trainer_entry.trl_engine import train as trl_engine
job = GRPOJob.model_validate(json.loads(sys.argv[1]))
tmp = Path(sys.argv[2])
sys.exit(trl_engine.run(job, tmp / "train.parquet", None, None, tmp / "ckpt", tmp / "m.jsonl"))
"""


def test_wandb_offline_run_holds_the_training_metrics(tmp_path):
    train_json, _ = write_toy_dataset(tmp_path / "json", n_train=64, n_val=8)
    convert(train_json, tmp_path / "train.parquet", "train")
    job = embedded_job(**{"training.totalTrainingSteps": 4, "training.saveFreq": -1, "training.testFreq": -1})
    job = job.model_copy(update={"spec": job.spec.model_copy(update={
        "tracking": job.spec.tracking.model_copy(update={"loggers": ["wandb"], "project": "grpo-test"})})})
    (tmp_path / "wandb-dir").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(WANDB_MODE="offline", WANDB_DIR=str(tmp_path / "wandb-dir"), WANDB_SILENT="true")
    proc = subprocess.run([sys.executable, "-c", CHILD, job.model_dump_json(by_alias=True, exclude_none=True),
                           str(tmp_path)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted((tmp_path / "wandb-dir").rglob("offline-run-*"))
    assert len(runs) == 1, runs
    (run_file,) = runs[0].glob("run-*.wandb")
    logged = history(run_file)
    assert "train/reward" in logged, (sorted(logged), proc.stdout[-2000:], proc.stderr[-2000:])
    assert len(logged["train/reward"]) == 4, logged["train/reward"]  # one per step
    assert all(0.0 <= v <= 1.0 for v in logged["train/reward"])
    assert "train/loss" in logged or "train/reward_std" in logged
