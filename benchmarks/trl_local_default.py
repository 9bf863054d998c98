"""The learning proof of the local CPU engine: train the embedded default (tiny model, toy parity data,
EMBEDDED_SPEC_DEFAULTS) with TRL and print the wall time and the reward mean over the first and last 10% of
steps. The issue's bar: under 5 minutes on 2 CPU cores, last 10% clearly above the first 10%.

    python benchmarks/trl_local_default.py [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", help="output folder (default: a fresh temporary folder)")
    args = p.parse_args(argv)

    from grpo_api import GRPOJob
    from trainer_entry.data import convert
    from trainer_entry.embedded.defaults import (
        EMBEDDED_DATA,
        EMBEDDED_MODEL,
        EMBEDDED_SPEC_DEFAULTS,
        TOY_SEED,
        TOY_TRAIN_ROWS,
        TOY_VAL_ROWS,
    )
    from trainer_entry.embedded.toy_data import write_toy_dataset
    from trainer_entry.trl_engine import train as trl_engine
    from trainer_entry.trl_engine.metrics import reward_rise

    out = Path(args.out or tempfile.mkdtemp(prefix="trl-default-"))
    t0 = time.monotonic()
    train_json, val_json = write_toy_dataset(out / "data", TOY_TRAIN_ROWS, TOY_VAL_ROWS, TOY_SEED)
    convert(train_json, out / "data" / "train.parquet", "train")
    convert(val_json, out / "data" / "val.parquet", "val")
    spec: dict = {"engine": "trl", "model": {"path": EMBEDDED_MODEL}, "data": {"train": {"path": EMBEDDED_DATA}},
                  "resources": {"gpusPerNode": 0}}
    for dotted, value in EMBEDDED_SPEC_DEFAULTS.items():
        *parents, last = dotted.split(".")
        tree = spec
        for part in parents:
            tree = tree.setdefault(part, {})
        tree[last] = value
    job = GRPOJob.model_validate({"metadata": {"name": "trl-default"}, "spec": spec})
    metrics = out / "metrics" / f"bench-{int(time.time())}.jsonl"
    code = trl_engine.run(job, out / "data" / "train.parquet", out / "data" / "val.parquet", None,
                          out / "checkpoints", metrics)
    wall = time.monotonic() - t0
    rise = reward_rise(metrics)
    if code != 0 or rise is None:
        print(f"FAILED: exit code {code}", file=sys.stderr)
        return code or 1
    print(f"trl local default: {rise.steps} steps in {wall:.1f}s wall (outputs: {out})")
    print(f"reward mean: first 10% of steps {rise.first:.3f}, last 10% {rise.last:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
