import json
import os
import re
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from trainer_entry.exporter import Exporter, JsonlTailer, group_reward_std


def verl_line(step, **extra):
    """One line exactly as verl 0.9.1's FileLogger writes it (orjson: NaN becomes null)."""
    data = {
        "training/global_step": step,
        "training/epoch": step // 10,
        "critic/score/mean": 0.1 * step,
        "critic/rewards/mean": 0.1 * step,
        "critic/rewards/max": 1.0,
        "critic/rewards/min": 0.0,
        "actor/pg_loss": -0.02,
        "actor/kl_loss": 0.001 * step,
        "actor/entropy": 1.5,
        "actor/grad_norm": 0.7,
        "actor/lr": 1e-6,
        "actor/pg_clipfrac": 0.01,
        "response_length/mean": 100.0 + step,
        "response_length/max": 1024,
        "response_length/clip_ratio": 0.05,
        "timing_s/step": 42.5,
        "perf/total_num_tokens": 85000,
        "perf/time_per_step": 42.5,
        "perf/throughput": 250.0,
        "critic/advantages/mean": None,
        **extra,
    }
    return json.dumps({"step": step, "data": data}) + "\n"


def scrape(port):
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            key = s.name if not s.labels else (s.name, tuple(sorted(s.labels.items())))
            out[key] = s.value
    return out


@pytest.fixture
def exporter(tmp_path):
    ex = Exporter(
        tmp_path / "metrics.jsonl",
        engine="verl",
        model="Qwen/Qwen2.5-7B",
        checkpoint_dir=tmp_path / "ckpt",
        rollout_dir=tmp_path / "rollouts",
        total_steps=60,
        interval_s=0.05,
    )
    ex.start(port=0, addr="127.0.0.1")
    yield ex
    ex.stop()


def wait_for(fn, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_scrape_over_http_has_every_contract_metric(tmp_path, exporter):
    (tmp_path / "metrics.jsonl").write_text(
        verl_line(1)
        + verl_line(
            2, **{"val-core/openai/gsm8k/reward/mean@1": 0.75, "val-aux/openai/gsm8k/reward/std@1": 0.1}
        )
    )
    ckpt = tmp_path / "ckpt"
    (ckpt / "global_step_2" / "actor").mkdir(parents=True)
    (ckpt / "latest_checkpointed_iteration.txt").write_text("2")
    m = wait_for(lambda: (r := scrape(exporter.port)).get("grpo_global_step") == 2 and r)
    assert m["grpo_total_steps"] == 60
    assert m["grpo_epoch"] == 0
    assert m["grpo_reward_mean"] == pytest.approx(0.2)
    assert m["grpo_reward_max"] == 1.0 and m["grpo_reward_min"] == 0.0
    assert m["grpo_score_mean"] == pytest.approx(0.2)
    assert m["grpo_policy_loss"] == -0.02
    assert m["grpo_kl_loss"] == pytest.approx(0.002)
    assert m["grpo_entropy"] == 1.5 and m["grpo_grad_norm"] == 0.7
    assert m["grpo_learning_rate"] == 1e-6 and m["grpo_pg_clip_ratio"] == 0.01
    assert m["grpo_response_length_mean_tokens"] == 102.0 and m["grpo_response_length_max_tokens"] == 1024
    assert m["grpo_response_clip_ratio"] == 0.05
    assert m["grpo_step_duration_seconds"] == 42.5
    # A counter of the tokens of every step (verl's perf/total_num_tokens), not a tokens/s gauge.
    assert m["grpo_tokens_total"] == 2 * 85000
    assert "grpo_throughput_tokens_per_second" not in m
    assert 0 < time.time() - m["grpo_trainer_start_timestamp_seconds"] < 60
    assert time.time() - m["grpo_last_step_timestamp_seconds"] < 30
    assert m["grpo_last_checkpoint_step"] == 2
    assert m["grpo_last_checkpoint_timestamp_seconds"] > 0
    assert m[("grpo_val_score", (("data_source", "openai/gsm8k"),))] == 0.75
    assert m[("grpo_trainer_info", (("engine", "verl"), ("model", "Qwen/Qwen2.5-7B")))] == 1.0
    # No job/namespace labels from the app; every series is a grpo_* gauge except the tokens counter, and
    # names carry their unit (Prometheus naming conventions).
    body = urllib.request.urlopen(f"http://127.0.0.1:{exporter.port}/metrics").read().decode()
    assert "# TYPE grpo_tokens_total counter" in body
    for fam in text_string_to_metric_families(body):
        assert fam.name.startswith("grpo_")
        assert fam.type == ("counter" if fam.name == "grpo_tokens" else "gauge"), fam.name
        assert not re.search(r"_per_second|length_(mean|max)$|clipfrac", fam.name), fam.name
        for s in fam.samples:
            assert not {"job", "namespace"} & set(s.labels)


def test_reward_std_derived_from_rollout_dump(tmp_path, exporter):
    dump = tmp_path / "rollouts"
    dump.mkdir()
    samples = [("p1", 1.0), ("p1", 0.0), ("p1", 1.0), ("p2", 0.0), ("p2", 0.0), ("p2", 0.0)]
    (dump / "3.jsonl").write_text(
        "".join(
            json.dumps({"input": p, "output": "o", "gts": "g", "score": s, "step": 3}) + "\n"
            for p, s in samples
        )
    )
    (tmp_path / "metrics.jsonl").write_text(verl_line(3))
    # p1 = [1,0,1]: sample std 0.57735; p2 = [0,0,0]: 0 -> mean 0.288675
    m = wait_for(lambda: (r := scrape(exporter.port)).get("grpo_reward_std") is not None and r)
    assert m["grpo_reward_std"] == pytest.approx(0.288675, abs=1e-5)


def test_logged_reward_std_wins(tmp_path, exporter):
    (tmp_path / "metrics.jsonl").write_text(verl_line(1, **{"critic/rewards/std": 0.33}))
    m = wait_for(lambda: (r := scrape(exporter.port)).get("grpo_reward_std") is not None and r)
    assert m["grpo_reward_std"] == 0.33


def test_partial_lines_truncation_and_replacement(tmp_path):
    path = tmp_path / "m.jsonl"
    tail = JsonlTailer(path)
    assert tail.poll() == []  # not there yet
    line1, line2 = verl_line(1), verl_line(2)
    with open(path, "w") as fh:
        fh.write(line1 + line2[:30])
    assert [r["step"] for r in tail.poll()] == [1]
    with open(path, "a") as fh:
        fh.write(line2[30:])
    assert [r["step"] for r in tail.poll()] == [2]
    # verl restart: the file is reopened with "wb" (truncated) and written again from the resumed step.
    with open(path, "wb") as fh:
        fh.write(verl_line(5).encode())
    assert [r["step"] for r in tail.poll()] == [5]
    assert tail.restarts == 1
    # Rewritten in place past the old offset before we polled: detected by the changed head.
    with open(path, "wb") as fh:
        fh.write((verl_line(6, pad="x" * 50) + verl_line(7) + verl_line(8)).encode())
    assert [r["step"] for r in tail.poll()] == [6, 7, 8]
    # Replaced by a new file (new inode) at the same path.
    new = tmp_path / "new.jsonl"
    new.write_text(verl_line(9))
    os.replace(new, path)
    assert [r["step"] for r in tail.poll()] == [9]
    # A garbage line is counted and skipped; following a new path starts from its beginning.
    with open(path, "a") as fh:
        fh.write("{not json\n" + verl_line(10))
    assert [r["step"] for r in tail.poll()] == [10]
    assert tail.bad_lines == 1
    other = tmp_path / "attempt-2.jsonl"
    other.write_text(verl_line(11))
    tail.follow(other)
    assert [r["step"] for r in tail.poll()] == [11]


def test_exporter_survives_truncation_end_to_end(tmp_path, exporter):
    path = tmp_path / "metrics.jsonl"
    path.write_text(verl_line(1) + verl_line(2))
    wait_for(lambda: scrape(exporter.port).get("grpo_global_step") == 2)
    path.write_text(verl_line(1, **{"critic/rewards/mean": 0.9}))
    m = wait_for(lambda: (r := scrape(exporter.port)).get("grpo_reward_mean") == 0.9 and r)
    assert m["grpo_global_step"] == 1


def test_group_reward_std():
    assert group_reward_std([("a", 1.0)]) is None
    assert group_reward_std([("a", 1.0), ("a", 1.0), ("b", 0.0), ("b", 1.0)]) == pytest.approx(
        0.35355, abs=1e-5
    )


def test_rollout_dumps_are_pruned(tmp_path):
    from trainer_entry.exporter import RolloutStd

    dump = tmp_path / "rollouts"
    dump.mkdir()
    for step in range(1, 31):
        (dump / f"{step}.jsonl").write_text(json.dumps({"input": "p", "score": 1.0}) + "\n")
    (dump / "notes.txt").write_text("kept")
    reader = RolloutStd(dump, keep=20)
    reader.request(30)
    assert reader.poll() is None  # first look: size not yet known to be stable
    assert reader.poll() is None  # one sample per prompt: no std, but the dump was read
    assert sorted(int(p.stem) for p in dump.glob("*.jsonl")) == list(range(11, 31))
    assert (dump / "notes.txt").exists()


def test_nan_loss_is_exported_as_nan_not_the_last_good_value(tmp_path, exporter):
    import math

    path = tmp_path / "metrics.jsonl"
    path.write_text(verl_line(1))
    wait_for(lambda: scrape(exporter.port).get("grpo_global_step") == 1)
    assert scrape(exporter.port)["grpo_policy_loss"] == -0.02
    with open(path, "a") as fh:  # the run diverges: verl logs the loss as null (orjson's NaN)
        fh.write(verl_line(2, **{"actor/pg_loss": None, "actor/kl_loss": float("nan")}))
    wait_for(lambda: scrape(exporter.port).get("grpo_global_step") == 2)
    metrics = scrape(exporter.port)
    assert math.isnan(metrics["grpo_policy_loss"]) and math.isnan(metrics["grpo_kl_loss"])
    assert metrics["grpo_entropy"] == 1.5  # numbers logged beside it are unaffected


def test_start_time_is_exported_before_any_step(tmp_path):
    """A trainer stuck in start-up (vLLM, NCCL, Ray) has a start time but no step: the no-first-step alert
    (GRPOTrainerNoFirstStep) reads exactly this."""
    ex = Exporter(tmp_path / "metrics.jsonl", engine="verl", model="m", start_ts=1_700_000_000.0, interval_s=0.05)
    ex.start(port=0, addr="127.0.0.1")
    try:
        m = scrape(ex.port)
        assert m["grpo_trainer_start_timestamp_seconds"] == 1_700_000_000.0
        assert "grpo_last_step_timestamp_seconds" not in m and "grpo_global_step" not in m
        assert "grpo_tokens_total" not in m  # no step yet: no counter rather than a misleading 0
    finally:
        ex.stop()


def test_tokens_counter_adds_every_step_once(tmp_path, exporter):
    path = tmp_path / "metrics.jsonl"
    path.write_text(verl_line(1, **{"perf/total_num_tokens": 1000}))
    wait_for(lambda: scrape(exporter.port).get("grpo_tokens_total") == 1000)
    with open(path, "a") as fh:
        fh.write(verl_line(2, **{"perf/total_num_tokens": 500}))
    assert wait_for(lambda: scrape(exporter.port).get("grpo_tokens_total") == 1500)
    time.sleep(0.2)  # polls with nothing new add nothing
    assert scrape(exporter.port)["grpo_tokens_total"] == 1500
