"""Prometheus exporter for the trainer pod (port 9400, /metrics), fed by tailing verl's ``file`` logger JSONL.

verl 0.9.1's FileLogger writes one ``{"step": N, "data": {"critic/rewards/mean": ..., ...}}`` line per step to
``$VERL_FILE_LOGGER_PATH`` (opened with "wb": a restart truncates the file). The TRL engine writes the same
format. :class:`JsonlTailer` follows such a file across truncation, replacement and partial last lines;
:class:`TrainerCollector` turns the latest values into ``grpo_*`` gauges on a dedicated registry.

Reward std: verl logs reward mean/max/min only (``compute_data_metrics`` in verl/trainer/ppo/metric_utils.py),
and a standard deviation cannot be recovered from those. The seed's ``reward_std`` is the within-group
(per-prompt) std, so it is computed from the per-sample scores instead: when verl dumps rollouts
(``trainer.rollout_data_dir``, one ``<step>.jsonl`` per step with ``input`` and ``score`` per sample),
:class:`RolloutStd` groups the samples by prompt, takes each group's sample std and averages them. An engine that
computes it itself (TRL) logs it under ``critic/rewards/std``; a logged value wins over the derived one.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from grpo_api.constants import TRAINER_METRICS_PORT
from trainer_entry.checkpoints import latest_checkpoint

log = logging.getLogger(__name__)

REWARD_STD_KEY = "critic/rewards/std"  # mean within-group reward std, logged by engines that compute it
TOTAL_STEPS_KEY = "training/total_steps"  # optional; otherwise the entrypoint sets it

# Prometheus name -> (verl metric key, help). All gauges; names follow Prometheus conventions: base units as
# suffixes (`_seconds`, `_tokens`), `_ratio` for fractions. README "Monitoring" lists the renames.
GAUGES: dict[str, tuple[str, str]] = {
    "grpo_epoch": ("training/epoch", "Current epoch (0-based, as verl logs it)."),
    "grpo_reward_mean": ("critic/rewards/mean", "Mean sequence reward of the last step's rollouts."),
    "grpo_reward_std": (REWARD_STD_KEY, "Mean within-group (per-prompt) reward standard deviation."),
    "grpo_reward_max": ("critic/rewards/max", "Max sequence reward of the last step."),
    "grpo_reward_min": ("critic/rewards/min", "Min sequence reward of the last step."),
    "grpo_score_mean": ("critic/score/mean", "Mean reward-function score of the last step."),
    "grpo_policy_loss": ("actor/pg_loss", "Policy-gradient loss."),
    "grpo_kl_loss": ("actor/kl_loss", "KL loss against the reference policy."),
    "grpo_entropy": ("actor/entropy", "Policy entropy."),
    "grpo_grad_norm": ("actor/grad_norm", "Actor gradient norm."),
    "grpo_learning_rate": ("actor/lr", "Actor learning rate."),
    "grpo_pg_clip_ratio": ("actor/pg_clipfrac", "Fraction of tokens where the PPO ratio was clipped."),
    "grpo_response_length_mean_tokens": ("response_length/mean", "Mean response length in tokens."),
    "grpo_response_length_max_tokens": ("response_length/max", "Max response length in tokens."),
    "grpo_response_clip_ratio": (
        "response_length/clip_ratio",
        "Fraction of responses cut at the max response length.",
    ),
    "grpo_step_duration_seconds": ("timing_s/step", "Wall time of the last training step."),
}
VAL_PREFIX = "val-core/"


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _gauge_value(value) -> float | None:
    """A logged metric as a gauge value. verl writes a NaN/Inf loss as null (or NaN): that is exported as
    NaN, not dropped, so a diverged run shows NaN (and the GRPOLossNaN alert fires) instead of the last good
    value. Non-numbers (strings, booleans) are skipped."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class JsonlTailer:
    """Incrementally read complete JSON lines appended to a file.

    Handles: the file not existing yet; a partial last line (kept until its newline arrives); truncation or
    rewrite in place (size below the read offset, or the first bytes changed); replacement by a new file at the
    same path (inode changed); and switching to another path with :meth:`follow`.
    """

    HEAD = 256

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._ident: tuple[int, int] | None = None
        self._pos = 0
        self._head = b""
        self._buf = b""
        self.restarts = 0
        self.bad_lines = 0

    def follow(self, path: str | Path) -> None:
        self.path = Path(path)
        self._reset()

    def _reset(self) -> None:
        self._ident, self._pos, self._head, self._buf = None, 0, b"", b""

    def poll(self) -> list[dict]:
        try:
            st = os.stat(self.path)
        except OSError:
            return []
        ident = (st.st_dev, st.st_ino)
        if self._ident is not None and (ident != self._ident or st.st_size < self._pos):
            self.restarts += 1
            self._reset()
        if st.st_size == self._pos and self._ident is not None:
            return []
        try:
            with open(self.path, "rb") as fh:
                # Rewritten in place past our offset: the first bytes are no longer the ones we read.
                if self._pos and self._head and fh.read(len(self._head)) != self._head:
                    self.restarts += 1
                    self._reset()
                fh.seek(self._pos)
                chunk = fh.read()
                if len(self._head) < self.HEAD:
                    fh.seek(0)
                    self._head = fh.read(self.HEAD)
        except OSError:
            return []
        self._ident = ident
        self._pos += len(chunk)
        data = self._buf + chunk
        lines = data.split(b"\n")
        self._buf = lines.pop()
        out = []
        for line in lines:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                self.bad_lines += 1
                continue
            if isinstance(rec, dict):
                out.append(rec)
            else:
                self.bad_lines += 1
        return out


def group_reward_std(samples: Iterable[tuple[str, float]]) -> float | None:
    """Mean over prompts of the sample std of that prompt's rewards (groups of one are skipped)."""
    groups: dict[str, list[float]] = {}
    for prompt, score in samples:
        groups.setdefault(prompt, []).append(score)
    stds = [statistics.stdev(v) for v in groups.values() if len(v) > 1]
    return sum(stds) / len(stds) if stds else None


class RolloutStd:
    """Derive the within-group reward std from verl's rollout dumps (``<dir>/<step>.jsonl``).

    verl writes every sample's prompt, response and score there each step (megabytes per step for a real
    batch), so dumps more than ``keep`` steps older than the newest one read are deleted.
    """

    def __init__(self, rollout_dir: str | Path, keep: int | None = 20):
        self.dir = Path(rollout_dir)
        self.keep = keep
        self._pending: int | None = None
        self._last_size: int | None = None

    def prune(self, newest: int) -> int:
        """Delete dumps of steps <= newest - keep; returns how many were removed."""
        if self.keep is None:
            return 0
        removed = 0
        try:
            entries = list(os.scandir(self.dir))
        except OSError:
            return 0
        for entry in entries:
            stem, dot, ext = entry.name.partition(".")
            if dot and ext == "jsonl" and stem.isdigit() and int(stem) <= newest - self.keep:
                try:
                    os.unlink(entry.path)
                    removed += 1
                except OSError:
                    pass
        return removed

    def request(self, step: int) -> None:
        self._pending, self._last_size = step, None

    def poll(self) -> tuple[int, float] | None:
        """(step, std) once the pending step's dump is complete (size stable across two polls)."""
        if self._pending is None:
            return None
        path = self.dir / f"{self._pending}.jsonl"
        try:
            size = path.stat().st_size
        except OSError:
            return None
        if size != self._last_size:
            self._last_size = size
            return None
        samples = []
        with open(path, "rb") as fh:
            for line in fh:
                if not line.endswith(b"\n"):
                    break
                try:
                    rec = json.loads(line)
                    score = _number(rec.get("score"))
                except (ValueError, AttributeError):
                    continue
                if score is not None:
                    samples.append((str(rec.get("input")), score))
        step, self._pending = self._pending, None
        self.prune(step)
        std = group_reward_std(samples)
        return None if std is None else (step, std)


@dataclass
class TrainerState:
    engine: str
    model: str
    total_steps: float | None = None
    values: dict[str, float] = field(default_factory=dict)  # verl key -> latest value
    val_scores: dict[str, float] = field(default_factory=dict)  # data_source -> latest val score
    global_step: float | None = None
    tokens_total: float = 0.0  # tokens processed by this process's steps (a counter)
    tokens_seen: bool = False  # some step logged its token count
    start_ts: float | None = None  # when the trainer process started (before data, model or Ray start-up)
    last_step_ts: float | None = None
    ckpt_step: float | None = None
    ckpt_ts: float | None = None
    std_logged: bool = False  # the engine logs REWARD_STD_KEY itself
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ingest(self, record: dict, now: float | None = None) -> int | None:
        """Apply one logger line; returns its step (or None if the line is not a metrics record)."""
        data = record.get("data")
        if not isinstance(data, dict):
            return None
        step = _number(record.get("step"))
        with self.lock:
            for key, value in data.items():
                number = _gauge_value(value)
                if number is None:
                    continue
                if key.startswith(VAL_PREFIX):
                    self._val(key[len(VAL_PREFIX) :], number)
                else:
                    self.values[key] = number
            if REWARD_STD_KEY in data:
                self.std_logged = True
            if _number(data.get(TOTAL_STEPS_KEY)) is not None:
                self.total_steps = _number(data[TOTAL_STEPS_KEY])
            gs = _number(data.get("training/global_step"))
            self.global_step = gs if gs is not None else step
            # verl logs the step's prompt + response tokens of the whole job (its perf/throughput is per GPU);
            # the TRL engine logs the same key. Counted once per step record.
            tokens = _number(data.get("perf/total_num_tokens"))
            if tokens is not None and tokens >= 0:
                self.tokens_total += tokens
                self.tokens_seen = True
            self.last_step_ts = time.time() if now is None else now
        return None if self.global_step is None else int(self.global_step)

    def _val(self, rest: str, number: float) -> None:
        # rest = "<data_source>/<var>/mean@N"; data_source may itself contain '/' (e.g. openai/gsm8k).
        parts = rest.rsplit("/", 2)
        if len(parts) == 3 and parts[2].startswith("mean@") and parts[2][5:].isdigit():
            self.val_scores[parts[0]] = number

    def set_derived_std(self, value: float) -> None:
        with self.lock:
            if not self.std_logged:
                self.values[REWARD_STD_KEY] = value


class TrainerCollector(Collector):
    """Exposes a TrainerState as grpo_* gauges (built at scrape time from one consistent snapshot)."""

    def __init__(self, state: TrainerState):
        self.state = state

    def collect(self):
        s = self.state
        with s.lock:
            values = dict(s.values)
            vals = dict(s.val_scores)
            tokens_seen, tokens_total = s.tokens_seen, s.tokens_total
            scalars = {
                "grpo_global_step": (s.global_step, "Last completed training step."),
                "grpo_total_steps": (s.total_steps, "Planned number of training steps."),
                "grpo_trainer_start_timestamp_seconds": (
                    s.start_ts,
                    "Unix time the trainer process started (exported before data, model, vLLM, NCCL or Ray start-up).",
                ),
                "grpo_last_step_timestamp_seconds": (s.last_step_ts, "Unix time the last step was logged."),
                "grpo_last_checkpoint_step": (s.ckpt_step, "Step of the last complete checkpoint."),
                "grpo_last_checkpoint_timestamp_seconds": (s.ckpt_ts, "Unix time of the last checkpoint."),
            }
        info = GaugeMetricFamily(
            "grpo_trainer_info", "Trainer engine and model (always 1).", labels=["engine", "model"]
        )
        info.add_metric([s.engine, s.model], 1.0)
        yield info
        if tokens_seen:
            yield CounterMetricFamily(
                "grpo_tokens",  # exposed as grpo_tokens_total
                "Prompt and response tokens processed by the whole job since the trainer started "
                "(verl's perf/total_num_tokens summed over steps); rate() gives tokens per second.",
                value=tokens_total,
            )
        for name, (value, doc) in scalars.items():
            if value is not None:
                yield GaugeMetricFamily(name, doc, value=value)
        for name, (key, doc) in GAUGES.items():
            if key in values:
                yield GaugeMetricFamily(name, doc, value=values[key])
        if vals:
            fam = GaugeMetricFamily(
                "grpo_val_score",
                "Validation score (mean@N of the core metric) per data_source.",
                labels=["data_source"],
            )
            for source, value in sorted(vals.items()):
                fam.add_metric([source], value)
            yield fam


class Exporter:
    """Tails the metrics file in a background thread and serves /metrics on a dedicated registry."""

    def __init__(
        self,
        metrics_path: str | Path,
        engine: str,
        model: str,
        checkpoint_dir: str | Path | None = None,
        rollout_dir: str | Path | None = None,
        total_steps: int | None = None,
        interval_s: float = 1.0,
        start_ts: float | None = None,
    ):
        self.state = TrainerState(
            engine=engine, model=model, total_steps=total_steps, start_ts=time.time() if start_ts is None else start_ts
        )
        self.tailer = JsonlTailer(metrics_path)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.rollout_std = RolloutStd(rollout_dir) if rollout_dir else None
        self.interval_s = interval_s
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(TrainerCollector(self.state))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._server = None
        self.port: int | None = None

    def poll_once(self) -> int:
        """Read new lines, checkpoints and rollout dumps once; returns the number of records ingested."""
        records = self.tailer.poll()
        step = None
        for rec in records:
            logged = self.state.ingest(rec)
            if logged is not None:
                step = logged
        if step is not None and self.rollout_std is not None and not self.state.std_logged:
            self.rollout_std.request(step)
        if self.rollout_std is not None:
            derived = self.rollout_std.poll()
            if derived is not None:
                self.state.set_derived_std(derived[1])
        if self.checkpoint_dir is not None:
            ckpt = latest_checkpoint(self.checkpoint_dir)
            if ckpt is not None:
                with self.state.lock:
                    self.state.ckpt_step, self.state.ckpt_ts = float(ckpt.step), ckpt.timestamp
        return len(records)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # keep serving the last values; a bad poll must not kill the exporter
                log.exception("metrics poll failed")
            self._stop.wait(self.interval_s)

    def start(self, port: int = TRAINER_METRICS_PORT, addr: str = "0.0.0.0") -> Exporter:
        self._server, _ = start_http_server(port, addr=addr, registry=self.registry)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._loop, name="grpo-metrics-tail", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        try:
            self.poll_once()  # final values for anything still reading the state
        except Exception:
            log.exception("final metrics poll failed")
