"""`spec.tracking.loggers: [tensorboard]` on the CPU engine: TRL's report_to writes a real TensorBoard event file
holding the training metrics, read back here record by record (TFRecord framing + the Event protobuf)."""

import struct

import pytest

from trainer_entry.data import convert
from trainer_entry.embedded.toy_data import write_toy_dataset
from trainer_entry.trl_engine import train as trl_engine

from .test_trl_engine import embedded_job

tensorboardX = pytest.importorskip("tensorboardX", reason="pip install -r requirements-dev.txt (tensorboardX)")


def scalars(event_file) -> dict[str, list[float]]:
    """Every scalar summary in a TensorBoard event file: TFRecords of (u64 length, u32 crc, data, u32 crc)."""
    from tensorboardX.proto.event_pb2 import Event

    out: dict[str, list[float]] = {}
    data = event_file.read_bytes()
    pos = 0
    while pos < len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        record = data[pos + 12: pos + 12 + length]
        pos += 12 + length + 4
        event = Event.FromString(record)
        for value in event.summary.value:
            out.setdefault(value.tag, []).append(value.simple_value)
    return out


def test_tensorboard_event_file_holds_the_training_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "tensorboard"))
    train_json, val_json = write_toy_dataset(tmp_path / "json", n_train=64, n_val=8)
    convert(train_json, tmp_path / "train.parquet", "train")
    job = embedded_job(**{"training.totalTrainingSteps": 4, "training.saveFreq": -1, "training.testFreq": -1})
    job = job.model_copy(update={"spec": job.spec.model_copy(update={
        "tracking": job.spec.tracking.model_copy(update={"loggers": ["tensorboard"]})})})
    code = trl_engine.run(job, tmp_path / "train.parquet", None, None, tmp_path / "ckpt", tmp_path / "m.jsonl")
    assert code == 0
    files = list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
    assert files, "no TensorBoard event file written"
    tags = {}
    for f in files:
        tags.update(scalars(f))
    assert "train/reward" in tags and len(tags["train/reward"]) >= 1, sorted(tags)
    assert all(0.0 <= v <= 1.0 for v in tags["train/reward"])
    assert "train/loss" in tags
