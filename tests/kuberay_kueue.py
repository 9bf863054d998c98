"""What KubeRay (v1.7) and Kueue do with a RayJob beyond its CRD schema, written down from their source code.

Rules, each citing the upstream file and function it restates (ray-project/kuberay, kubernetes-sigs/kueue):

- `kuberay_errors`: KubeRay's admission checks, ray-operator/controllers/ray/utils/validation.go
  `ValidateRayJobSpec` and `ValidateRayClusterSpec` (the subset a RayJob of ours can reach).
- `kueue_errors`: Kueue's webhook for a RayJob with a queue label, pkg/controller/jobs/rayjob/rayjob_webhook.go
  `validateCreate` and pkg/controller/jobs/raycluster `ValidateCreate`, plus the suspended-at-creation rule
  (pkg/controller/jobframework, `ApplyDefaultForSuspend`: a queued job must start suspended, Kueue unsuspends
  it on admission) and `jobframework.MaxPodSets` (18, pkg/controller/jobframework/constants.go), counting
  PodSets as pkg/controller/jobs/rayjob/rayjob_controller.go `PodSets` does (head + one per worker group + a
  submitter PodSet in K8sJobMode only).
- `kuberay_pods`: the pods KubeRay creates from the templates, with the mutations that matter for monitoring and
  QoS: a port named `metrics` (8080) added to a Ray container that has none (ray-operator/controllers/ray/common/
  pod.go, `DefaultHeadPodTemplate`/`DefaultWorkerPodTemplate`), the `ray.io/node-type` label, and in SidecarMode
  the submitter container `ray-job-submitter` appended to the head pod (common/job.go
  `GetDefaultSubmitterContainer`: requests 500m CPU / 200Mi, limits 1 CPU / 1Gi).
- `qos_class`: Kubernetes' pod QoS class (pkg/apis/core/helper/qos `GetPodQOS`, cpu and memory only).
"""

from __future__ import annotations

import copy
from typing import Any

from kubernetes.utils import parse_quantity

RAY_METRICS_PORT_NAME = "metrics"  # utils.MetricsPortName
RAY_METRICS_PORT = 8080  # utils.DefaultMetricsPort
SUBMITTER_CONTAINER = "ray-job-submitter"  # utils.SubmitterContainerName
SUBMITTER_RESOURCES = {"requests": {"cpu": "500m", "memory": "200Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
KUEUE_MAX_POD_SETS = 18
KUEUE_HEAD_POD_SET = "head"
RAY_START_RESOURCE_PARAMS = ("num-cpus", "num-gpus", "memory", "resources")


def kuberay_errors(rayjob: dict[str, Any]) -> list[str]:
    spec = rayjob["spec"]
    errors = []
    shutdown = spec.get("shutdownAfterJobFinishes", False)
    # ValidateRayJobSpec
    if spec.get("suspend") and not shutdown:
        errors.append("a RayJob with shutdownAfterJobFinishes set to false is not allowed to be suspended")
    ttl = spec.get("ttlSecondsAfterFinished", 0)
    if ttl < 0:
        errors.append("TTLSecondsAfterFinished must be a non-negative integer")
    if not shutdown and ttl > 0:  # validateDeletionConfiguration
        errors.append("a RayJob with shutdownAfterJobFinishes set to false cannot have TTLSecondsAfterFinished")
    if spec.get("deletionStrategy") is not None:
        errors.append("DeletionStrategy needs the RayJobDeletionPolicy feature gate (alpha, off by default)")
    cluster = spec.get("rayClusterSpec")
    if cluster is None and not spec.get("clusterSelector"):
        errors.append("one of RayClusterSpec or ClusterSelector must be set")
    if spec.get("submissionMode") == "SidecarMode":
        if spec.get("submitterPodTemplate") is not None:
            errors.append("Currently, SidecarMode doesn't support SubmitterPodTemplate")
        if spec.get("submitterConfig") is not None:
            errors.append("Currently, SidecarMode doesn't support SubmitterConfig")
        if spec.get("clusterSelector"):
            errors.append("ClusterSelector is not supported in SidecarMode")
        policy = (cluster or {}).get("headGroupSpec", {}).get("template", {}).get("spec", {}).get("restartPolicy")
        if policy not in (None, "", "Never"):
            errors.append("restartPolicy for head Pod should be Never or unset when using SidecarMode")
    if spec.get("activeDeadlineSeconds") is not None and spec["activeDeadlineSeconds"] <= 0:
        errors.append("activeDeadlineSeconds must be a positive integer")
    if spec.get("backoffLimit") is not None and spec["backoffLimit"] < 0:
        errors.append("backoffLimit must be a positive integer")
    # ValidateRayClusterSpec
    if cluster is not None:
        head = cluster["headGroupSpec"]
        if not head["template"]["spec"].get("containers"):
            errors.append("headGroupSpec should have at least one container")
        errors += _group_resource_errors("Head", head)
        autoscaling = cluster.get("enableInTreeAutoscaling", False)
        for group in cluster.get("workerGroupSpecs", []):
            name = group.get("groupName")
            if not group["template"]["spec"].get("containers"):
                errors.append("workerGroupSpec should have at least one container")
            lo, hi = group.get("minReplicas"), group.get("maxReplicas")
            if not autoscaling and (lo is None or hi is None):
                errors.append(f"worker group {name} must set both minReplicas and maxReplicas when autoscaling "
                              "is disabled")
            if lo is not None and hi is not None and lo > hi:
                errors.append(f"worker group {name} has minReplicas {lo} greater than maxReplicas {hi}")
            errors += _group_resource_errors(name, group)
            if "labels" in group.get("rayStartParams", {}):
                errors.append(f"rayStartParams['labels'] is not supported for {name} group")
    return errors


def _group_resource_errors(name: str, group: dict[str, Any]) -> list[str]:
    """validateRayGroupResources: Ray resources in rayStartParams or in the group's `resources`, not both."""
    params = group.get("rayStartParams", {})
    if any(params.get(k) for k in RAY_START_RESOURCE_PARAMS) and group.get("resources"):
        return [f"resource fields should not be set in both rayStartParams and Resources for {name} group"]
    return []


def kueue_pod_sets(rayjob: dict[str, Any]) -> list[str]:
    """PodSet names Kueue builds for a RayJob (rayjob_controller.go, PodSets)."""
    cluster = rayjob["spec"]["rayClusterSpec"]
    names = [KUEUE_HEAD_POD_SET] + [g["groupName"].lower() for g in cluster.get("workerGroupSpecs", [])]
    if rayjob["spec"].get("submissionMode", "K8sJobMode") == "K8sJobMode":
        names.append("submitter")
    return names


def kueue_errors(rayjob: dict[str, Any]) -> list[str]:
    """Kueue's checks of a RayJob that names a LocalQueue (kueue.x-k8s.io/queue-name)."""
    spec = rayjob["spec"]
    errors = []
    if spec.get("clusterSelector") and spec.get("rayClusterSpec") is not None:
        errors.append("a kueue managed job should not use an existing cluster")
    if spec.get("rayClusterSpec") is None:
        return errors + ["rayClusterSpec is required for Kueue-managed jobs that don't use clusterSelector"]
    if not spec.get("shutdownAfterJobFinishes", False):
        errors.append("a kueue managed job should delete the cluster after finishing")
    cluster = spec["rayClusterSpec"]
    if cluster.get("enableInTreeAutoscaling"):
        errors.append("a kueue managed job should only use autoscaling when workload slicing is enabled")
    pod_sets = kueue_pod_sets(rayjob)
    if len(pod_sets) > KUEUE_MAX_POD_SETS:
        errors.append(f"too many PodSets: {len(pod_sets)} > {KUEUE_MAX_POD_SETS}")
    for i, group in enumerate(cluster.get("workerGroupSpecs", [])):
        if group.get("groupName") == KUEUE_HEAD_POD_SET:
            errors.append(f"workerGroupSpecs[{i}].groupName: \"head\" is reserved for the head group")
    if not spec.get("suspend"):
        errors.append("a queued job must be created suspended (Kueue unsuspends it on admission)")
    return errors


def _with_ray_metrics_port(container: dict[str, Any]) -> dict[str, Any]:
    ports = container.setdefault("ports", [])
    if not any(p.get("name") == RAY_METRICS_PORT_NAME for p in ports):
        ports.append({"name": RAY_METRICS_PORT_NAME, "containerPort": RAY_METRICS_PORT})
    return container


def kuberay_pods(rayjob: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The head pod and one worker pod per group as KubeRay creates them ({"head": pod, "<group>": pod})."""
    cluster = rayjob["spec"]["rayClusterSpec"]
    head_template = copy.deepcopy(cluster["headGroupSpec"]["template"])
    pods = {"head": _pod(head_template, "head")}
    if rayjob["spec"].get("submissionMode") == "SidecarMode":
        head_image = head_template["spec"]["containers"][0]["image"]
        pods["head"]["spec"]["containers"].append(
            {"name": SUBMITTER_CONTAINER, "image": head_image, "resources": copy.deepcopy(SUBMITTER_RESOURCES)})
    for group in cluster.get("workerGroupSpecs", []):
        pods[group["groupName"]] = _pod(copy.deepcopy(group["template"]), "worker")
    return pods


def _pod(template: dict[str, Any], node_type: str) -> dict[str, Any]:
    metadata = template.get("metadata", {})
    metadata.setdefault("labels", {})["ray.io/node-type"] = node_type
    spec = template["spec"]
    _with_ray_metrics_port(spec["containers"][0])  # utils.RayContainerIndex = 0
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def qos_class(pod: dict[str, Any]) -> str:
    """Guaranteed: every container limits cpu and memory and requests equal limits; BestEffort: nothing set."""
    containers = pod["spec"]["containers"] + pod["spec"].get("initContainers", [])
    any_set = False
    guaranteed = True
    for container in containers:
        res = container.get("resources") or {}
        limits = {k: parse_quantity(v) for k, v in (res.get("limits") or {}).items() if k in ("cpu", "memory")}
        requests = {k: parse_quantity(v) for k, v in (res.get("requests") or {}).items() if k in ("cpu", "memory")}
        requests = {**limits, **requests}  # an unset request defaults to the limit
        any_set = any_set or bool(limits) or bool(requests)
        if set(limits) != {"cpu", "memory"} or requests != limits:
            guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
