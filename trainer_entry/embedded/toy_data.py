"""The embedded default data set of the local run: "Is N odd or even?" in the seed's JSON format.

Rows are `{"prompt": "Is 37 odd or even?", "ground_truth": "odd", "data_source": "classification"}`, scored by
the product's builtin `classification` reward (label match), so the local run exercises the same data path
(seed JSON -> parquet) and the same reward code as a user's data. Parity depends only on the last digit, and
the tiny model's tokenizer reads numbers digit by digit, so a 2-layer model learns it within minutes on CPU.
Train and validation numbers are disjoint: the validation score measures generalisation, not memory.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from trainer_entry.embedded.defaults import TOY_SEED, TOY_TRAIN_ROWS, TOY_VAL_ROWS

DATA_SOURCE = "classification"
LABELS = ("odd", "even")
TRAIN_FILE = "train.json"
VAL_FILE = "val.json"


def parity_record(number: int) -> dict[str, str]:
    return {
        "prompt": f"Is {number} odd or even?",
        "ground_truth": LABELS[number % 2 == 0],
        "data_source": DATA_SOURCE,
    }


def make_records(n_train: int, n_val: int, seed: int = 0, max_number: int = 999) -> tuple[list[dict], list[dict]]:
    """Disjoint train/val rows over the numbers 0..max_number, shuffled by `seed`."""
    if n_train < 1 or n_val < 0:
        raise ValueError(f"n_train must be >= 1 and n_val >= 0 (got n_train={n_train}, n_val={n_val})")
    if n_train + n_val > max_number + 1:
        raise ValueError(
            f"n_train + n_val = {n_train + n_val} exceeds the {max_number + 1} distinct numbers 0..{max_number}"
        )
    numbers = random.Random(seed).sample(range(max_number + 1), n_train + n_val)
    return [parity_record(k) for k in numbers[:n_train]], [parity_record(k) for k in numbers[n_train:]]


def write_toy_dataset(out_dir: str | Path, n_train: int = TOY_TRAIN_ROWS, n_val: int = TOY_VAL_ROWS,
                      seed: int = TOY_SEED) -> tuple[Path, Path]:
    """Write train.json and val.json (JSON arrays, the seed's format) and return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, val = make_records(n_train, n_val, seed)
    paths = (out / TRAIN_FILE, out / VAL_FILE)
    for path, rows in zip(paths, (train, val), strict=True):
        path.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    return paths
