"""verl's checkpoint layout for the TRL engine, and where a restarted run resumes from.

TRL (the HF Trainer) writes `<dir>/checkpoint-N/`. After each save this callback moves it to
`<dir>/global_step_N/actor/` and then writes `<dir>/latest_checkpointed_iteration.txt` (N) the way verl does,
so the exporter, the operator status and `trainer_entry.checkpoints` see one layout for both engines. The
`actor/` folder is a complete Hugging Face model (config, safetensors, tokenizer) plus the optimizer,
scheduler, RNG and trainer state that `Trainer.train(resume_from_checkpoint=...)` needs to continue at step N+1.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from trainer_entry.checkpoints import LATEST_FILE, step_dirs
from trainer_entry.errors import ConfigError

TRAINER_STATE_FILE = "trainer_state.json"


class CheckpointError(ConfigError):
    """A checkpoint to resume from is missing or incomplete."""


def _write_tracker(ckpt_dir: Path, step: int) -> None:
    tmp = ckpt_dir / f".{LATEST_FILE}.tmp"
    tmp.write_text(f"{step}\n")
    os.replace(tmp, ckpt_dir / LATEST_FILE)


class VerlCheckpointLayout(TrainerCallback):
    """Renames TRL checkpoints to `global_step_N/actor`, updates the tracker, keeps at most `max_to_keep`,
    and saves the last step too (as verl does), so a finished run always ends with a checkpoint."""

    def __init__(self, ckpt_dir: str | Path, max_to_keep: int | None = None):
        self.dir = Path(ckpt_dir)
        self.max_to_keep = max_to_keep
        self.saved: list[int] = []

    def on_step_end(self, args, state, control, **kwargs):
        if args.save_strategy != "no" and state.max_steps > 0 and state.global_step >= state.max_steps:
            control.should_save = True
        return control

    def on_save(self, args, state, control, **kwargs):
        step = state.global_step
        src = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{step}"
        if not src.is_dir():
            return control
        dst = self.dir / f"global_step_{step}" / "actor"
        if dst.exists():
            shutil.rmtree(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        _write_tracker(self.dir, step)
        self.saved.append(step)
        self._rotate()
        print(f"[trl] checkpoint saved: {dst.parent}", flush=True)
        return control

    def _rotate(self) -> None:
        if not self.max_to_keep:
            return
        dirs = step_dirs(self.dir)
        for _step, path in dirs[: max(0, len(dirs) - self.max_to_keep)]:
            shutil.rmtree(path, ignore_errors=True)


def checkpoint_step(resumable: str | Path) -> int:
    """The global step recorded in a checkpoint folder's trainer_state.json."""
    return int(json.loads((Path(resumable) / TRAINER_STATE_FILE).read_text())["global_step"])


def _resumable(path: Path) -> Path | None:
    """The folder holding trainer_state.json: `path` itself or its `actor/` subfolder."""
    for candidate in (path / "actor", path):
        if (candidate / TRAINER_STATE_FILE).is_file():
            return candidate
    return None


def resume_checkpoint(ckpt_dir: str | Path, mode: str = "auto", resume_from: str | None = None) -> str | None:
    """The folder to pass to `Trainer.train(resume_from_checkpoint=...)`, or None to start fresh.

    auto: the step in latest_checkpointed_iteration.txt (else the highest complete global_step_N);
    disable: never; resume_path: `resume_from` (a global_step_N folder or its actor/ folder), which must exist.
    """
    if mode == "disable":
        return None
    if mode == "resume_path":
        if not resume_from:
            raise CheckpointError("checkpoint.resumeMode resume_path needs checkpoint.resumeFrom")
        found = _resumable(Path(resume_from))
        if found is None:
            raise CheckpointError(
                f"checkpoint.resumeFrom {resume_from}: no {TRAINER_STATE_FILE} there or in its actor/ folder "
                "(expected a global_step_N folder written by the TRL engine)"
            )
        return str(found)
    if mode != "auto":
        raise CheckpointError(f"checkpoint.resumeMode {mode!r}: allowed auto, disable, resume_path")
    root = Path(ckpt_dir)
    tracker = root / LATEST_FILE
    text = tracker.read_text().strip() if tracker.is_file() else ""
    if text.isdigit():
        found = _resumable(root / f"global_step_{int(text)}")
        if found is not None:
            return str(found)
    # No (usable) tracker: the newest step folder that is complete.
    for _step, path in reversed(step_dirs(root)):
        found = _resumable(path)
        if found is not None:
            return str(found)
    return None
