"""The embedded `math_reasoning` data set (`data.train.path: embedded:math`): the seed's sample rows, generated.

Rows look like the seed's example, `{"prompt": "请解答：15 + 27 = ?", "ground_truth": "42",
"data_source": "math_reasoning"}`, and are scored by the builtin `math_reasoning` reward. Deterministic for a
seed; train and validation prompts are disjoint. Enough rows (2,048) to fill the seed's batch of 256 for
8 steps per epoch.
"""

import json
import random
from pathlib import Path

DATA_SOURCE = "math_reasoning"
_OPS = (("+", lambda a, b: a + b), ("-", lambda a, b: a - b), ("×", lambda a, b: a * b))


def math_records(n: int, seed: int = 0) -> list[dict[str, str]]:
    rng = random.Random(seed)
    seen: set[str] = set()
    rows = []
    while len(rows) < n:
        symbol, fn = rng.choice(_OPS)
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        prompt = f"请解答：{a} {symbol} {b} = ?"
        if prompt in seen:
            continue
        seen.add(prompt)
        rows.append({"prompt": prompt, "ground_truth": str(fn(a, b)), "data_source": DATA_SOURCE})
    return rows


def write_math_dataset(out_dir: str | Path, n_train: int = 2048, n_val: int = 256, seed: int = 0
                       ) -> tuple[Path, Path]:
    """Write train.json and val.json (JSON arrays, the seed's format); return their paths."""
    rows = math_records(n_train + n_val, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = (out / "train.json", out / "val.json")
    for path, part in zip(paths, (rows[:n_train], rows[n_train:]), strict=True):
        path.write_text(json.dumps(part, ensure_ascii=False, indent=1) + "\n")
    return paths
