"""`spec.tracking.loggers: [wandb]` on the CPU engine, in wandb's offline mode (no network): TRL's report_to
drives the real wandb client; its offline run file (what `wandb sync` uploads later) holds the training metrics,
read back here record by record."""

import json
import struct

import pytest

from trainer_entry.data import convert
from trainer_entry.embedded.toy_data import write_toy_dataset
from trainer_entry.trl_engine import train as trl_engine

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


def test_wandb_offline_run_holds_the_training_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-dir"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    (tmp_path / "wandb-dir").mkdir()
    train_json, _ = write_toy_dataset(tmp_path / "json", n_train=64, n_val=8)
    convert(train_json, tmp_path / "train.parquet", "train")
    job = embedded_job(**{"training.totalTrainingSteps": 4, "training.saveFreq": -1, "training.testFreq": -1})
    job = job.model_copy(update={"spec": job.spec.model_copy(update={
        "tracking": job.spec.tracking.model_copy(update={"loggers": ["wandb"], "project": "grpo-test"})})})
    code = trl_engine.run(job, tmp_path / "train.parquet", None, None, tmp_path / "ckpt", tmp_path / "m.jsonl")
    assert code == 0
    import wandb

    wandb.finish()  # what the trainer process's exit does (wandb's atexit hook) in a pod
    runs = list((tmp_path / "wandb-dir").rglob("offline-run-*"))
    assert runs, "no offline wandb run written"
    (run_file,) = runs[0].glob("run-*.wandb")
    logged = history(run_file)
    assert len(logged["train/reward"]) == 4, sorted(logged)  # one per step
    assert all(0.0 <= v <= 1.0 for v in logged["train/reward"])
    assert "train/loss" in logged or "train/reward_std" in logged
