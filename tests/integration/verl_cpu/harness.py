"""What this layer feeds verl 0.9.1's own code: the spec matrix, the override adapter, small builders.

``build_overrides_for`` is the ONE place that calls this project's override builder; retarget it here when the
builder moves (issue 12: into grpo_api).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from grpo_api import parse_grpojob

ROOT = Path(__file__).resolve().parents[3]
MODEL = "Qwen/Qwen2.5-0.5B-Instruct"  # composed only; never loaded


def build_overrides_for(spec, *, train: Path, val: Path, reward_file: Path, checkpoints: Path, rollouts=None,
                        name: str = "grpojob") -> list[str]:
    """The override list this project passes to ``python -m verl.trainer.main_ppo`` (the adapter)."""
    from trainer_entry.verl_engine.overrides import VerlPaths, build_overrides

    paths = VerlPaths(train_parquet=train, val_parquet=val, reward_file=reward_file,
                      checkpoint_dir=checkpoints, rollout_dir=rollouts)
    return build_overrides(spec, paths, experiment_name=name)


def compose(overrides: list[str]):
    """verl's ``ppo_trainer`` composed with the overrides exactly as main_ppo's Hydra would (a fresh copy each
    call; one composition per distinct list, since each takes ~0.5 s)."""
    return copy.deepcopy(_compose(tuple(overrides)))


@functools.cache
def _compose(overrides: tuple[str, ...]):
    # Hydra alone (grpo_api.verl_overrides.compose_config): this layer wants verl's own verdicts, not the
    # project's restatement of them that compose() adds on top.
    from grpo_api.verl_overrides import compose_config

    return compose_config(list(overrides))


POD = dict(train=Path("/outputs/data/train.parquet"), val=Path("/outputs/data/val.parquet"),
           reward_file=Path("/etc/grpo/reward/reward.py"), checkpoints=Path("/outputs/checkpoints"))


def composed(job, **paths):
    return compose(build_overrides_for(job.spec, **{**POD, **paths}, name=job.metadata.name))


def job_of(spec: dict, name: str = "case"):
    base = {"model": {"path": MODEL}, "data": {"train": {"path": "embedded:math"}}}
    merged = _merge(copy.deepcopy(base), spec)
    if not name[:1].isalpha():  # a GRPOJob name is a DNS-1035 label (case ids like "8gpu" start with a digit)
        name = f"case-{name}"
    return parse_grpojob({"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob", "metadata": {"name": name},
                          "spec": merged})


def _merge(a: dict, b: dict) -> dict:
    for k, v in b.items():
        a[k] = _merge(a.get(k, {}), v) if isinstance(v, dict) else v
    return a


@dataclass(frozen=True)
class Case:
    id: str
    spec: dict


# Jobs that this project accepts and verl 0.9.1 should run: every test of the layer runs each.
MATRIX = [
    Case("seed-1gpu", {}),
    Case("8gpu", {"resources": {"gpusPerNode": 8}}),
    Case("8gpu-tp2", {"resources": {"gpusPerNode": 8}, "rollout": {"tensorParallelSize": 2}}),
    Case("8gpu-tp4-sglang", {"resources": {"gpusPerNode": 8}, "rollout": {"tensorParallelSize": 4, "name": "sglang"}}),
    Case("2nodes-16gpu", {"resources": {"nodes": 2, "gpusPerNode": 8}, "training": {"batchSize": 64},
                          "checkpoint": {"claimName": "shared-outputs"}}),
    Case("lora", {"model": {"loraRank": 8, "loraAlpha": 16}}),
    Case("offload", {"memory": {"refParamOffload": True, "actorParamOffload": True, "actorOptimizerOffload": True}}),
    Case("drgrpo", {"grpo": {"lossAggMode": "seq-mean-token-sum-norm", "normAdvByStd": False}}),
    Case("small-batch", {"grpo": {"rolloutN": 3}, "training": {"batchSize": 8, "ppoMiniBatchSize": 4,
                                                               "microBatchSizePerGPU": 2}}),
    Case("mini-batches-4gpu", {"resources": {"gpusPerNode": 4}, "training": {"batchSize": 32, "ppoMiniBatchSize": 16}}),
    Case("no-kl", {"grpo": {"useKLLoss": False}}),
    Case("inline-reward", {"reward": {"inline": "def compute_score(data_source, solution_str, ground_truth, "
                                                "extra_info=None, **kw):\n    return float(solution_str == ground_truth)\n"}}),
    Case("dict-reward", {"reward": {"inline": "def compute_score(data_source, solution_str, ground_truth, "
                                              "extra_info=None, **kw):\n    s = float(solution_str == ground_truth)\n"
                                              "    return {'score': s, 'exact': s}\n"}}),
]


def example_cases() -> list[Case]:
    """Every examples/*.yaml GRPOJob with engine verl, as it is written."""
    out = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "GRPOJob" and doc["spec"].get("engine", "verl") == "verl":
                out.append(Case(f"example-{path.stem}", doc["spec"]))
    return out


def job_for(case: Case):
    if case.id.startswith("example-"):
        return parse_grpojob({"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob",
                              "metadata": {"name": case.id[len("example-"):]}, "spec": case.spec})
    return job_of(case.spec, case.id)


ALL = MATRIX + example_cases()
ALL_PARAMS = [pytest.param(c, id=c.id) for c in ALL]
