"""The NetworkPolicy that fences a GRPOJob's trainer pods (pure: settings in, manifest out).

Ingress to the trainer pods is closed except:
- the trainer's metrics port, from the configured scrapers (Prometheus, the operator's progress poller);
- for a RayJob: everything from the pods of the same GRPOJob (GCS 6379, the dashboard/job API 8265, the
  client port 10001, and the raylet, object-manager, worker and NCCL ports Ray and torch pick at run time),
  and the dashboard port from the KubeRay operator (it polls the job's status there).
Ray's ports are unauthenticated: any pod that reaches a head can run code as the trainer ("ShadowRay"), so
no other pod may. Egress stays open (model and data downloads) unless `egress_to` is configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grpo_api import GRPOJob
from grpo_api import constants as c

from .common import COMPONENT_TRAINER, job_name, object_meta

NETWORK_POLICY_API_VERSION = "networking.k8s.io/v1"
RAY_DASHBOARD_PORT = 8265

Peer = dict[str, Any]  # a networking.k8s.io/v1 NetworkPolicyPeer


def _pods_named(name: str) -> Peer:
    return {"podSelector": {"matchLabels": {"app.kubernetes.io/name": name}}, "namespaceSelector": {}}


@dataclass(frozen=True)
class NetworkPolicySettings:
    """What the operator's config says about trainer pod networking (chart values `networkPolicy.*`)."""

    enabled: bool = True
    # Who may scrape the metrics port: by default pods named prometheus (kube-prometheus-stack) and
    # grpo-operator (the progress poller), in any namespace.
    metrics_from: tuple[Peer, ...] = (_pods_named("prometheus"), _pods_named("grpo-operator"))
    # Who may reach a RayJob head's dashboard besides the job's own pods: the KubeRay operator.
    ray_dashboard_from: tuple[Peer, ...] = (_pods_named("kuberay-operator"),)
    # None: egress open. A list of NetworkPolicyEgressRules: only those (plus the job's own pods and DNS).
    egress_to: tuple[dict[str, Any], ...] | None = None


DEFAULT_NETWORK_POLICY = NetworkPolicySettings()


def network_policy_name(job: GRPOJob) -> str:
    return f"{job_name(job)}-trainer"


def trainer_pod_selector(job: GRPOJob) -> dict[str, str]:
    """Labels that exactly the trainer pods of this GRPOJob carry (Job pod, Ray head and workers)."""
    return {c.LABEL_GRPOJOB: job_name(job), c.LABEL_COMPONENT: COMPONENT_TRAINER, c.LABEL_MANAGED_BY: c.MANAGED_BY}


DNS_EGRESS = {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}


def build_network_policy(job: GRPOJob, *, uid: str, namespace: str,
                         settings: NetworkPolicySettings) -> dict[str, Any] | None:
    """The GRPOJob's NetworkPolicy, or None when the operator is configured without one."""
    if not settings.enabled:
        return None
    selector = trainer_pod_selector(job)
    same_job = {"podSelector": {"matchLabels": dict(selector)}}
    ingress: list[dict[str, Any]] = [{
        "from": [dict(p) for p in settings.metrics_from],
        "ports": [{"port": c.TRAINER_METRICS_PORT, "protocol": "TCP"}],
    }]
    if job.spec.is_multinode:
        ingress.append({"from": [same_job]})
        if settings.ray_dashboard_from:
            ingress.append({"from": [dict(p) for p in settings.ray_dashboard_from],
                            "ports": [{"port": RAY_DASHBOARD_PORT, "protocol": "TCP"}]})
    spec: dict[str, Any] = {"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress"],
                            "ingress": ingress}
    if settings.egress_to is not None:
        spec["policyTypes"].append("Egress")
        spec["egress"] = [DNS_EGRESS, {"to": [same_job]}, *(dict(r) for r in settings.egress_to)]
    return {
        "apiVersion": NETWORK_POLICY_API_VERSION,
        "kind": "NetworkPolicy",
        "metadata": object_meta(job, name=network_policy_name(job), namespace=namespace, uid=uid,
                                component=COMPONENT_TRAINER),
        "spec": spec,
    }
