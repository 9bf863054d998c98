"""Trainer-side numbers: data conversion speed and the metrics exporter's CPU cost.

    python benchmarks/trainer_bench.py [--rows 100000] [--seconds 20]

1. Convert ``--rows`` seed-format rows (JSON list) to verl parquet; target < 5 s for 100k rows.
2. Run the real exporter (HTTP server + tail thread) in a subprocess while this process appends verl-format
   lines (about 80 keys each, like a real verl step) at 10 steps/s and scrapes /metrics every 5 s; the
   subprocess reports its own CPU time (``time.process_time``) over the window. Target < 1% of one core.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

EXPORTER_CHILD = r"""
import sys, time
from trainer_entry.exporter import Exporter
path, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ex = Exporter(path, engine="verl", model="bench", interval_s=1.0).start(port=port, addr="127.0.0.1")
print("ready", flush=True)
sys.stdin.readline()  # the writer starts
cpu0, wall0 = time.process_time(), time.monotonic()
time.sleep(seconds)
cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
ex.stop()
print(f"{cpu} {wall} {ex.state.global_step}", flush=True)
"""


def step_line(step: int) -> bytes:
    data = {
        "training/global_step": step,
        "training/epoch": 0,
        **{
            f"critic/{g}/{s}": 0.5
            for g in ("score", "rewards", "advantages", "returns")
            for s in ("mean", "max", "min")
        },
        **{
            f"actor/{k}": 0.01
            for k in ("pg_loss", "kl_loss", "entropy", "grad_norm", "lr", "pg_clipfrac", "ppo_kl")
        },
        **{f"response_length/{s}": 300.0 for s in ("mean", "max", "min", "clip_ratio")},
        **{f"prompt_length/{s}": 80.0 for s in ("mean", "max", "min", "clip_ratio")},
        **{
            f"timing_s/{k}": 12.5
            for k in ("gen", "ref", "adv", "update_actor", "step", "testing", "save_checkpoint")
        },
        **{f"timing_per_token_ms/{k}": 0.02 for k in ("gen", "ref", "adv", "update_actor")},
        **{
            f"perf/{k}": 1000.0
            for k in ("total_num_tokens", "time_per_step", "throughput", "max_memory_allocated_gb")
        },
        **{f"val-aux/ds/reward/{m}@{n}": 0.4 for m in ("mean", "std", "best", "worst") for n in (1, 2, 4, 8)},
    }
    return (json.dumps({"step": step, "data": data}) + "\n").encode()


def bench_conversion(rows: int) -> float:
    from trainer_entry.data import convert

    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "train.json"
        src.write_text(
            json.dumps(
                [
                    {
                        "prompt": f"请解答：{i} + 27 = ?",
                        "ground_truth": str(i + 27),
                        "data_source": "math_reasoning",
                        "extra_info": {"id": f"q{i}"},
                    }
                    for i in range(rows)
                ],
                ensure_ascii=False,
            )
        )
        start = time.perf_counter()
        result = convert(src, Path(d) / "train.parquet")
        elapsed = time.perf_counter() - start
        assert result.rows == rows
    return elapsed


def bench_exporter(seconds: float, rate: float = 10.0) -> tuple[float, float, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "metrics.jsonl"
        child = subprocess.Popen(
            [sys.executable, "-c", EXPORTER_CHILD, str(path), str(port), str(seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert child.stdout.readline().strip() == "ready"
        child.stdin.write("go\n")
        child.stdin.flush()
        start = time.monotonic()
        step, next_scrape = 0, start + 5
        with open(path, "ab", buffering=0) as fh:
            while time.monotonic() - start < seconds:
                step += 1
                fh.write(step_line(step))
                if time.monotonic() >= next_scrape:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
                    next_scrape += 5
                time.sleep(max(0.0, start + step / rate - time.monotonic()))
        cpu, wall, seen = child.stdout.readline().split()
        child.wait(timeout=30)
    return float(cpu), float(wall), int(float(seen)) if seen != "None" else 0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args()
    conv = bench_conversion(args.rows)
    print(f"data conversion: {args.rows} rows in {conv:.2f} s ({args.rows / conv:,.0f} rows/s; target < 5 s)")
    cpu, wall, seen = bench_exporter(args.seconds)
    print(
        f"exporter: {cpu:.3f} s CPU over {wall:.1f} s tailing 10 steps/s ({seen} steps ingested) "
        f"= {100 * cpu / wall:.2f}% of one core (target < 1%)"
    )


if __name__ == "__main__":
    main()
