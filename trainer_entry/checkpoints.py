"""Find verl checkpoints under ``trainer.default_local_dir``.

verl 0.9.1 layout: ``<dir>/global_step_N/actor/...`` per saved step, and ``<dir>/latest_checkpointed_iteration.txt``
holding N of the last complete save (written after the step's files, so it is the one to trust).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

LATEST_FILE = "latest_checkpointed_iteration.txt"
_STEP_DIR = re.compile(r"^global_step_(\d+)$")


@dataclass(frozen=True)
class Checkpoint:
    step: int
    path: Path  # <dir>/global_step_N
    timestamp: float  # when it was recorded (mtime of the tracker file, else of the step dir)

    @property
    def actor_path(self) -> Path:
        return self.path / "actor"


def step_dirs(ckpt_dir: str | Path) -> list[tuple[int, Path]]:
    """All ``global_step_N`` directories, sorted by N."""
    root = Path(ckpt_dir)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = _STEP_DIR.match(child.name)
        if m and child.is_dir():
            found.append((int(m.group(1)), child))
    return sorted(found)


def latest_checkpoint(ckpt_dir: str | Path) -> Checkpoint | None:
    """The last complete checkpoint: the tracker file's step when readable, else the highest step dir."""
    root = Path(ckpt_dir)
    tracker = root / LATEST_FILE
    try:
        text = tracker.read_text().strip()
        mtime = tracker.stat().st_mtime
    except OSError:
        text, mtime = "", None
    if text.isdigit():
        step = int(text)
        return Checkpoint(step, root / f"global_step_{step}", mtime)
    dirs = step_dirs(root)
    if not dirs:
        return None
    step, path = dirs[-1]
    return Checkpoint(step, path, path.stat().st_mtime)
