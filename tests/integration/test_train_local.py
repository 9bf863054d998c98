"""`./train.sh --local` end to end on CPU: the README's main command, shortened (2 epochs instead of 8)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _train(tmp_path, *args):
    env = {**os.environ, "PYTHON": sys.executable, "KUBECONFIG": "/nonexistent"}
    return subprocess.run([str(REPO / "train.sh"), "--local", "--output_dir", str(tmp_path / "outputs"), *args],
                          env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)


@pytest.mark.slow
def test_local_run_learns_and_resumes(tmp_path):
    first = _train(tmp_path, "--epochs", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    out = first.stdout
    assert "metrics: http://127.0.0.1:" in out
    early, late = map(float, re.search(r"first 10% of steps ([\d.]+), last 10% ([\d.]+)", out).groups())
    assert late > early + 0.2, out[-2000:]  # GRPO really learned parity, not noise
    ckpts = tmp_path / "outputs" / "checkpoints"
    assert (ckpts / "latest_checkpointed_iteration.txt").read_text().strip() == "64"
    assert "final_step=64" in out

    again = _train(tmp_path, "--epochs", "3")  # run again: continue from step 64, not from scratch
    assert again.returncode == 0, again.stderr[-3000:]
    steps = [int(s) for s in re.findall(r"\[trl\] step (\d+)/", again.stdout)]
    assert steps[0] == 65 and steps[-1] == 96
    assert (ckpts / "latest_checkpointed_iteration.txt").read_text().strip() == "96"
