"""The operator's own settings, read once from its environment (the Helm chart sets them; tests tune them)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from grpo_api.constants import OPERATOR_METRICS_PORT, TRAINER_METRICS_PORT
from grpo_api.spec import PodSpec

from .builders import NetworkPolicySettings

POD_DEFAULTS_ENV = "GRPO_TRAINER_POD_DEFAULTS"
# The spec.pod fields a cluster-wide default may set (the chart's trainer.podDefaults), as KubeRay's operator
# configuration offers for Ray pods.
POD_DEFAULT_FIELDS = ("nodeSelector", "tolerations", "priorityClassName", "imagePullSecrets", "env")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _float(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r}: expected a number of seconds") from None


def _bool(name: str, default: bool) -> bool:
    raw = _env(name, "true" if default else "false").strip().lower()
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise ValueError(f"environment variable {name}={raw!r}: expected true or false")


def _json_list(name: str, default: tuple[dict[str, Any], ...] | None) -> tuple[dict[str, Any], ...] | None:
    """A JSON list of objects (NetworkPolicy peers or egress rules); unset or empty text: the default."""
    raw = _env(name, "").strip()
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise ValueError(f"environment variable {name}: not JSON ({e})") from None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"environment variable {name}: expected a JSON list of objects, got {raw[:200]!r}")
    return tuple(value)


def network_policy_from_env() -> NetworkPolicySettings:
    """The chart's `networkPolicy.*` values, as the Deployment passes them."""
    default = NetworkPolicySettings()
    return NetworkPolicySettings(
        enabled=_bool("GRPO_NETWORK_POLICY", default.enabled),
        metrics_from=_json_list("GRPO_NETWORK_POLICY_METRICS_FROM", default.metrics_from) or (),
        ray_dashboard_from=_json_list("GRPO_NETWORK_POLICY_RAY_DASHBOARD_FROM", default.ray_dashboard_from) or (),
        egress_to=_json_list("GRPO_NETWORK_POLICY_EGRESS_TO", None),
    )


@dataclass(frozen=True)
class OperatorConfig:
    metrics_port: int = OPERATOR_METRICS_PORT
    # Where the progress poller reads a trainer pod's metrics; {pod_ip} and {port} are filled in.
    progress_url: str = "http://{pod_ip}:{port}/metrics"
    progress_interval_s: float = 30.0
    progress_timeout_s: float = 2.0
    missing_ref_retry_s: float = 60.0  # slow, idempotent retry while a referenced ConfigMap/Secret is missing
    api_timeout_s: float = 30.0
    retry_backoff_s: float = 10.0  # delay before retrying a reconcile that hit an API error
    workers: int = 16  # concurrent API requests (connection pool size) of the reconcile and status lanes
    watch_server_timeout_s: float = 600.0
    watch_client_timeout_s: float = 660.0
    network_policy: NetworkPolicySettings = field(default_factory=NetworkPolicySettings)
    trainer_pod_defaults: PodSpec | None = None  # merged under every GRPOJob's spec.pod (builders/pod.py)

    @classmethod
    def from_env(cls) -> OperatorConfig:
        return cls(
            metrics_port=int(_env("GRPO_OPERATOR_METRICS_PORT", str(OPERATOR_METRICS_PORT))),
            progress_url=_env("GRPO_PROGRESS_URL", cls.progress_url),
            progress_interval_s=_float("GRPO_PROGRESS_INTERVAL", cls.progress_interval_s),
            progress_timeout_s=_float("GRPO_PROGRESS_TIMEOUT", cls.progress_timeout_s),
            missing_ref_retry_s=_float("GRPO_MISSING_REF_RETRY", cls.missing_ref_retry_s),
            api_timeout_s=_float("GRPO_API_TIMEOUT", cls.api_timeout_s),
            retry_backoff_s=_float("GRPO_RETRY_BACKOFF", cls.retry_backoff_s),
            workers=int(_env("GRPO_OPERATOR_WORKERS", str(cls.workers))),
            watch_server_timeout_s=_float("GRPO_WATCH_SERVER_TIMEOUT", cls.watch_server_timeout_s),
            watch_client_timeout_s=_float("GRPO_WATCH_CLIENT_TIMEOUT", cls.watch_client_timeout_s),
            network_policy=network_policy_from_env(),
            trainer_pod_defaults=parse_pod_defaults(os.environ.get(POD_DEFAULTS_ENV, "")),
        )

    def metrics_url(self, pod_ip: str) -> str:
        return self.progress_url.format(pod_ip=pod_ip, port=TRAINER_METRICS_PORT)


def parse_pod_defaults(raw: str) -> PodSpec | None:
    """The chart's trainer.podDefaults (JSON, GRPOJob spec.pod field names); empty: none. Errors name the field."""
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise ValueError(f"environment variable {POD_DEFAULTS_ENV}: not JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"environment variable {POD_DEFAULTS_ENV}: expected a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(POD_DEFAULT_FIELDS))
    if unknown:
        raise ValueError(f"environment variable {POD_DEFAULTS_ENV}: unknown field(s) {', '.join(unknown)}; "
                         f"allowed: {', '.join(POD_DEFAULT_FIELDS)}")
    try:
        return PodSpec.model_validate(data)
    except ValidationError as e:
        where = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
        raise ValueError(f"environment variable {POD_DEFAULTS_ENV}: {where}") from None


