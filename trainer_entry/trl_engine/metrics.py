"""TRL engine metrics in verl's file-logger format, so one exporter serves both engines.

Each training step appends `{"step": N, "data": {"critic/rewards/mean": ..., ...}}` to the metrics JSONL (the
keys verl 0.9.1 logs, listed in DESIGN.md); a validation adds a line with `val-core/<data_source>/reward/mean@n`.
Reward statistics come from the scores the reward wrapper recorded for this step's rollouts (TRL itself logs
only a mean and a batch-wide std): mean/max/min over all responses, and `critic/rewards/std` as the mean
within-group (per-prompt) std, the seed's `reward_std`. Each step also prints one progress line.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from transformers import TrainerCallback

from trainer_entry.exporter import group_reward_std
from trainer_entry.trl_engine.progress import BarReporter, LineReporter, make_reporter

# TRL 1.16 log key -> verl metric key
TRL_TO_VERL = {
    "policy_loss": "actor/pg_loss",
    "kl": "actor/kl_loss",
    "entropy": "actor/entropy",
    "grad_norm": "actor/grad_norm",
    "learning_rate": "actor/lr",
    "clip_ratio/region_mean": "actor/pg_clipfrac",
    "completions/mean_length": "response_length/mean",
    "completions/max_length": "response_length/max",
    "completions/clipped_ratio": "response_length/clip_ratio",
}
REWARD_MEAN_KEY = "critic/rewards/mean"


@dataclass
class Sample:
    prompt: str
    data_source: str
    score: float


@dataclass
class RewardRecorder:
    """Scores of the rollouts since the last log, kept apart for training and validation."""

    samples: dict[str, list[Sample]] = field(default_factory=lambda: {"train": [], "eval": []})

    def record(self, mode: str, samples: list[Sample]) -> None:
        self.samples[mode].extend(samples)

    def drain(self, mode: str) -> list[Sample]:
        out, self.samples[mode] = self.samples[mode], []
        return out


def reward_stats(samples: list[Sample]) -> dict[str, float]:
    if not samples:
        return {}
    scores = [s.score for s in samples]
    mean = sum(scores) / len(scores)
    out = {
        REWARD_MEAN_KEY: mean,
        "critic/rewards/max": max(scores),
        "critic/rewards/min": min(scores),
        "critic/score/mean": mean,
    }
    std = group_reward_std((s.prompt, s.score) for s in samples)
    if std is not None:
        out["critic/rewards/std"] = std
    return out


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class VerlMetricsLogger(TrainerCallback):
    """Writes verl-format JSONL metrics (file opened with "w": one file per attempt) and progress lines."""

    def __init__(self, path: str | Path, recorder: RewardRecorder, num_generations_eval: int,
                 reporter: LineReporter | BarReporter | None = None):
        self.path = Path(path)
        self.reporter = reporter if reporter is not None else make_reporter()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = self.path.open("w")
        self.recorder = recorder
        self.n_eval = num_generations_eval
        self._step_t0: float | None = None
        self._last_tokens: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._last_tokens = float(state.num_input_tokens_seen or 0)  # restored on resume

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_t0 = time.monotonic()

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if any(k.startswith("eval_") for k in logs):
            self._write_val(state, logs)
        elif "loss" in logs:
            self._write_train(state, logs)
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self.close()

    def close(self) -> None:
        self.reporter.close()
        if not self.fh.closed:
            self.fh.close()

    def _emit(self, step: int, data: dict) -> None:
        self.fh.write(json.dumps({"step": step, "data": data}) + "\n")
        self.fh.flush()

    def _write_train(self, state, logs: dict) -> None:
        step = state.global_step
        now = time.monotonic()
        seconds = now - self._step_t0 if self._step_t0 is not None else None
        data = {verl: float(logs[trl]) for trl, verl in TRL_TO_VERL.items() if _finite(logs.get(trl))}
        stats = reward_stats(self.recorder.drain("train"))
        if not stats and _finite(logs.get("reward")):  # a step that reused an earlier generation batch
            stats = {REWARD_MEAN_KEY: float(logs["reward"]), "critic/score/mean": float(logs["reward"])}
        data.update(stats)
        epoch = state.epoch or 0.0
        data["training/global_step"] = step
        data["training/epoch"] = max(0, math.ceil(epoch) - 1)  # 0-based epoch index, as verl logs it
        data["training/total_steps"] = state.max_steps
        if seconds:
            data["timing_s/step"] = seconds
            tokens = logs.get("num_tokens")
            if _finite(tokens) and self._last_tokens is not None:
                data["perf/total_num_tokens"] = tokens - self._last_tokens  # as verl: this step's tokens
                data["perf/time_per_step"] = seconds
                data["perf/throughput"] = (tokens - self._last_tokens) / seconds
            self._last_tokens = tokens if _finite(tokens) else self._last_tokens
        self._emit(step, data)
        shown = {"epoch": str(data["training/epoch"])}
        if REWARD_MEAN_KEY in data:
            shown["reward_mean"] = f"{data[REWARD_MEAN_KEY]:.3f}"
        if "actor/kl_loss" in data:
            shown["kl"] = f"{data['actor/kl_loss']:.4f}"
        if "response_length/mean" in data:
            shown["resp_len"] = f"{data['response_length/mean']:.1f}"
        if seconds:
            shown["s/step"] = f"{seconds:.2f}"
        self.reporter.step(step, state.max_steps, shown)

    def _write_val(self, state, logs: dict) -> None:
        by_source: dict[str, list[float]] = {}
        for s in self.recorder.drain("eval"):
            by_source.setdefault(s.data_source, []).append(s.score)
        data = {f"val-core/{ds}/reward/mean@{self.n_eval}": sum(v) / len(v) for ds, v in sorted(by_source.items())}
        if not data:
            return
        data["training/global_step"] = state.global_step
        self._emit(state.global_step, data)
        shown = ", ".join(f"{k.split('/')[1]} {v:.3f}" for k, v in data.items() if k.startswith("val-core/"))
        self.reporter.note(f"[trl] validation at step {state.global_step}: {shown}")


@dataclass(frozen=True)
class RewardRise:
    steps: int
    first: float  # mean reward over the first 10% of logged steps
    last: float  # mean reward over the last 10%


def reward_rise(metrics_path: str | Path, fraction: float = 0.1) -> RewardRise | None:
    """First-10% vs last-10% mean of critic/rewards/mean in a metrics JSONL (None when no step has one)."""
    rewards = []
    for line in Path(metrics_path).read_text().splitlines():
        if not line.strip():
            continue
        data = json.loads(line).get("data", {})
        if REWARD_MEAN_KEY in data:
            rewards.append(float(data[REWARD_MEAN_KEY]))
    if not rewards:
        return None
    k = max(1, int(len(rewards) * fraction))
    return RewardRise(len(rewards), sum(rewards[:k]) / k, sum(rewards[-k:]) / k)
