"""Training progress from the trainer pod's Prometheus endpoint (http://<podIP>:9400/metrics), on a timer.

`parse_metrics` and `progress_status` are pure; `scrape` does one HTTP GET with a short timeout; `ProgressPoller`
is a background thread that scrapes every registered running GRPOJob and merge-patches `.status.progress` and
`.status.lastCheckpoint` (a plain thread, not a kopf timer: kopf timers put a finalizer on the GRPOJob, and a
finalizer would block deleting it while the operator is down).
"""

from __future__ import annotations

import logging
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from grpo_api.constants import CHECKPOINTS_SUBDIR, OUTPUTS_DIR

log = logging.getLogger(__name__)

GAUGES = ("grpo_global_step", "grpo_total_steps", "grpo_epoch", "grpo_reward_mean", "grpo_kl_loss",
          "grpo_last_checkpoint_step", "grpo_last_checkpoint_timestamp_seconds", "grpo_last_step_timestamp_seconds")


def parse_metrics(text: str) -> dict[str, float]:
    """The unlabelled grpo_* gauges we report, from a Prometheus text exposition."""
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in GAUGES and not sample.labels:
                values[sample.name] = float(sample.value)
    return values


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    import datetime

    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int(v: float | None) -> int | None:
    return None if v is None or v != v else int(v)


def _num(v: float | None) -> float | None:
    return None if v is None or v != v else round(v, 6)


def progress_status(values: dict[str, float], now: str) -> dict[str, Any]:
    """The .status fields for the scraped values: progress {globalStep, totalSteps, epoch, rewardMean, klLoss}."""
    out: dict[str, Any] = {}
    if values:
        out["progress"] = {
            "globalStep": _int(values.get("grpo_global_step")),
            "totalSteps": _int(values.get("grpo_total_steps")),
            "epoch": _int(values.get("grpo_epoch")),
            "rewardMean": _num(values.get("grpo_reward_mean")),
            "klLoss": _num(values.get("grpo_kl_loss")),
            "lastUpdateTime": _iso(values.get("grpo_last_step_timestamp_seconds")) or now,
        }
    step = _int(values.get("grpo_last_checkpoint_step"))
    if step is not None and step > 0:
        out["lastCheckpoint"] = {
            "step": step,
            "path": f"{OUTPUTS_DIR}/{CHECKPOINTS_SUBDIR}/global_step_{step}",
            "time": _iso(values.get("grpo_last_checkpoint_timestamp_seconds")),
        }
    return out


def scrape(url: str, timeout_s: float) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - the pod IP is ours
        return parse_metrics(resp.read().decode("utf-8", "replace"))


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    def strip(d: dict[str, Any] | None) -> dict[str, Any]:
        return {k: v for k, v in (d or {}).items() if k != "lastUpdateTime"}

    return (strip(old.get("progress")) == strip(new.get("progress"))
            and old.get("lastCheckpoint") == new.get("lastCheckpoint"))


class ProgressPoller:
    """Scrapes registered trainer pods every `interval_s`; `write(namespace, name, status_patch)` persists."""

    def __init__(self, *, url_for: Callable[[str], str], write: Callable[[str, str, dict[str, Any]], None],
                 now: Callable[[], str], interval_s: float, timeout_s: float):
        self.url_for, self.write, self.now = url_for, write, now
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self._targets: dict[tuple[str, str], str] = {}
        self._last: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def track(self, namespace: str, name: str, pod_ip: str | None) -> None:
        with self._lock:
            if pod_ip:
                self._targets[(namespace, name)] = pod_ip
            else:
                self._targets.pop((namespace, name), None)

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._targets.pop((namespace, name), None)
            self._last.pop((namespace, name), None)

    def poll_once(self) -> int:
        """Scrape every target once; returns how many status patches were written."""
        with self._lock:
            targets = dict(self._targets)
        written = 0
        for (namespace, name), pod_ip in targets.items():
            try:
                patch = progress_status(scrape(self.url_for(pod_ip), self.timeout_s), self.now())
            except Exception as e:  # an unreachable exporter only delays progress
                log.debug("progress scrape of %s/%s at %s failed: %s", namespace, name, pod_ip, e)
                continue
            if not patch or _same(self._last.get((namespace, name), {}), patch):
                continue
            try:
                self.write(namespace, name, patch)
                written += 1
                self._last[(namespace, name)] = patch
            except Exception as e:
                log.warning("writing progress of %s/%s failed: %s", namespace, name, e)
        return written

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll_once()

    def start(self) -> ProgressPoller:
        self._thread = threading.Thread(target=self._loop, name="grpo-progress", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
