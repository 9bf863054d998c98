"""Pure builders: a validated GRPOJob in, the Kubernetes objects the operator creates out (plain dicts).

No cluster access here; the kopf handlers and `grpo render` call the same functions.
"""

from typing import Any

from grpo_api import GRPOJob
from grpo_api.spec import PodSpec

from .common import (
    COMPONENT_CONFIG,
    COMPONENT_REWARD,
    COMPONENT_TRAINER,
    default_image,
    is_suspended,
    kueue_queue,
    labels,
    owner_reference,
    workload_name,
)
from .configmaps import build_config_configmap, build_reward_configmap, resolved_job
from .job import build_job, pod_failure_policy
from .network_policy import DEFAULT_NETWORK_POLICY, NetworkPolicySettings, build_network_policy
from .pod import with_pod_defaults
from .rayjob import build_rayjob


def build_workload(job: GRPOJob, *, uid: str, image: str, namespace: str,
                   pod_defaults: PodSpec | None = None) -> dict[str, Any]:
    """The batch/v1 Job (one node) or ray.io/v1 RayJob (nodes > 1) that runs the trainer.

    `pod_defaults` (the chart's trainer.podDefaults) are merged under the GRPOJob's spec.pod.
    """
    image = job.spec.image or image
    job = with_pod_defaults(job, pod_defaults)
    if job.spec.is_multinode:
        return build_rayjob(job, uid=uid, image=image, namespace=namespace)
    return build_job(job, uid=uid, image=image, namespace=namespace)


def build_children(job: GRPOJob, *, uid: str, image: str, namespace: str,
                   network_policy: NetworkPolicySettings = DEFAULT_NETWORK_POLICY,
                   pod_defaults: PodSpec | None = None) -> list[dict[str, Any]]:
    """Every child object, in creation order: config ConfigMap, inline reward ConfigMap, the NetworkPolicy
    (unless disabled), Job or RayJob (last, so the pods start fenced). `pod_defaults`: the cluster-wide trainer
    pod defaults (chart trainer.podDefaults), merged under the GRPOJob's own spec.pod.

    `image` is the operator's default trainer image; `spec.image` wins when set.
    """
    children = [build_config_configmap(job, uid=uid, namespace=namespace)]
    reward = build_reward_configmap(job, uid=uid, namespace=namespace)
    if reward is not None:
        children.append(reward)
    policy = build_network_policy(job, uid=uid, namespace=namespace, settings=network_policy)
    if policy is not None:
        children.append(policy)
    children.append(build_workload(job, uid=uid, image=image, namespace=namespace, pod_defaults=pod_defaults))
    return children


__all__ = [
    "COMPONENT_CONFIG", "COMPONENT_REWARD", "COMPONENT_TRAINER", "DEFAULT_NETWORK_POLICY", "NetworkPolicySettings",
    "build_children", "build_config_configmap", "build_job", "build_network_policy", "build_rayjob",
    "build_reward_configmap", "build_workload", "default_image", "is_suspended", "kueue_queue", "labels",
    "owner_reference", "pod_failure_policy", "resolved_job", "with_pod_defaults", "workload_name",
]
