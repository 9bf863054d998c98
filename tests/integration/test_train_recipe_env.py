"""`ROLLOUT_N=8 TOTAL_EPOCHS=20 ./train.sh` as the recipe's shell users run it (the real script, a subprocess)."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_recipe_environment_reaches_the_grpojob():
    env = {**os.environ, "PYTHON": sys.executable, "ROLLOUT_N": "8", "TOTAL_EPOCHS": "20", "KUBECONFIG": "/none"}
    out = subprocess.run([str(REPO / "train.sh"), "--dry-run", "--lr", "3e-6"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    job = next(d for d in yaml.safe_load_all(out.stdout) if d and d.get("kind") == "GRPOJob")
    assert (job["spec"]["grpo"]["rolloutN"], job["spec"]["training"]["epochs"]) == (8, 20)
    assert job["spec"]["training"]["learningRate"] == 3e-6
