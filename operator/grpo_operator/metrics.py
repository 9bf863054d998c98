"""Operator metrics (prometheus-client), served on OPERATOR_METRICS_PORT.

grpo_operator_reconcile_total{controller,result}, grpo_operator_reconcile_errors_total{controller},
grpo_operator_reconcile_duration_seconds{controller} and grpo_operator_grpojob_phase{grpojob_namespace,grpojob,phase}
(1 for the current phase, 0 for the others; the series go away with the GRPOJob).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from grpo_api import PHASES

RECONCILE_TOTAL = Counter("grpo_operator_reconcile_total", "Reconcile runs by controller and result.",
                          ["controller", "result"])
RECONCILE_ERRORS = Counter("grpo_operator_reconcile_errors_total", "Reconcile runs that raised an error.",
                           ["controller"])
RECONCILE_DURATION = Histogram("grpo_operator_reconcile_duration_seconds", "Wall time of one reconcile run.",
                               ["controller"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
GRPOJOB_PHASE = Gauge("grpo_operator_grpojob_phase", "1 for the GRPOJob's current phase, 0 for the others.",
                      ["grpojob_namespace", "grpojob", "phase"])


@contextmanager
def observe(controller: str, *, retry: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Count and time one reconcile; an exception is re-raised and counts as an error, unless it is one of
    `retry` (a planned retry, e.g. a child name still taken by another owner's object)."""
    start = time.perf_counter()
    try:
        yield
    except Exception as e:
        result = "retry" if isinstance(e, retry) else "error"
        RECONCILE_TOTAL.labels(controller, result).inc()
        if result == "error":
            RECONCILE_ERRORS.labels(controller).inc()
        raise
    else:
        RECONCILE_TOTAL.labels(controller, "success").inc()
    finally:
        RECONCILE_DURATION.labels(controller).observe(time.perf_counter() - start)


class PhaseGauge:
    """Sets grpo_operator_grpojob_phase for each GRPOJob, touching the series only when the phase changed."""

    def __init__(self) -> None:
        self._current: dict[tuple[str, str], str] = {}

    def set(self, namespace: str, name: str, phase: str) -> None:
        if self._current.get((namespace, name)) == phase:
            return
        self._current[(namespace, name)] = phase
        for p in PHASES:
            GRPOJOB_PHASE.labels(namespace, name, p).set(1 if p == phase else 0)

    def forget(self, namespace: str, name: str) -> None:
        self._current.pop((namespace, name), None)
        for p in PHASES:
            with suppress(KeyError):
                GRPOJOB_PHASE.remove(namespace, name, p)


def serve(port: int) -> None:
    """Start the /metrics HTTP server (port 0 or negative: disabled)."""
    if port > 0:
        start_http_server(port)
