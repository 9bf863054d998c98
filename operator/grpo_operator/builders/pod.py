"""The trainer pod template shared by the batch/v1 Job and every RayJob node (head and workers).

Every node gets the same volumes at the same paths (pod_paths), the same env and the same scheduling
fields, so data, reward file, model cache and checkpoints resolve identically on each of them.
"""

import posixpath
from typing import Any

from grpo_api import GRPOJob
from grpo_api import constants as c
from grpo_api.pod_paths import (
    INLINE_REWARD_KEY,
    config_map_name,
    configmap_mount_path,
    pvc_mount_path,
    reward_config_map_name,
    tracker_env,
)
from grpo_api.spec import DataSource, PodSpec

from .common import COMPONENT_TRAINER, job_name, labels

CONFIG_FILE = posixpath.join(c.CONFIG_DIR, c.CONFIG_KEY)
HF_HOME = posixpath.join(c.OUTPUTS_DIR, ".cache", "huggingface")
METRICS_PORT_NAME = c.TRAINER_METRICS_PORT_NAME

VOLUME_CONFIG = "config"
VOLUME_REWARD = "reward"
VOLUME_OUTPUTS = "outputs"
VOLUME_SHM = "dshm"
VOLUME_HOME = "home"
VOLUME_TMP = "tmp"

# Writable places on a read-only root filesystem: HOME (and the caches under it) and /tmp are emptyDirs.
HOME_DIR = "/home/trainer"
TMP_DIR = "/tmp"
CACHE_DIR = posixpath.join(HOME_DIR, ".cache")
# Where each library writes at run time, pointed at the emptyDirs (HF_HOME is on /outputs: models persist).
WRITABLE_ENV = {
    "HOME": HOME_DIR,
    "TMPDIR": TMP_DIR,
    "XDG_CACHE_HOME": CACHE_DIR,
    "TRITON_CACHE_DIR": posixpath.join(CACHE_DIR, "triton"),
    "VLLM_CACHE_ROOT": posixpath.join(CACHE_DIR, "vllm"),
    "TORCHINDUCTOR_CACHE_DIR": posixpath.join(CACHE_DIR, "torchinductor"),
    "RAY_TMPDIR": posixpath.join(TMP_DIR, "ray"),
}


# tini reaps the orphans Ray, vLLM and torch compile workers leave behind (a Python PID 1 does not), and forwards
# signals to the trainer. `-s` registers it as a child subreaper, so it also reaps where it is not PID 1 (the
# RayJob head runs the trainer as a Ray job entrypoint).
TRAINER_INIT = ["tini", "-s", "--"]


def with_pod_defaults(job: GRPOJob, defaults: PodSpec | None) -> GRPOJob:
    """The job with cluster-wide trainer pod defaults merged under its own spec.pod (the GRPOJob wins).

    nodeSelector: per key; tolerations: the job's, then the defaults' not already there; priorityClassName: the
    job's if set; imagePullSecrets and env: per name, the job's entries replacing the defaults' of that name.
    """
    if defaults is None:
        return job
    own = job.spec.pod

    def by_name(mine, theirs):
        if not mine and not theirs:
            return None
        names = {e.name for e in mine or []}
        return [e for e in theirs or [] if e.name not in names] + list(mine or [])

    tolerations = list(own.tolerations or [])
    tolerations += [t for t in defaults.tolerations or [] if t not in tolerations]
    merged = own.model_copy(update={
        "node_selector": {**(defaults.node_selector or {}), **(own.node_selector or {})} or None,
        "tolerations": tolerations or None,
        "priority_class_name": own.priority_class_name or defaults.priority_class_name,
        "image_pull_secrets": by_name(own.image_pull_secrets, defaults.image_pull_secrets),
        "env": by_name(own.env, defaults.env),
    })
    return job.model_copy(update={"spec": job.spec.model_copy(update={"pod": merged})})


def trainer_command() -> list[str]:
    """Exec form of the trainer entrypoint (no shell), under the image's init."""
    return [*TRAINER_INIT, "python", "-m", "trainer_entry", "--config", CONFIG_FILE]


def _data_sources(job: GRPOJob) -> list[DataSource]:
    return [s for s in (job.spec.data.train, job.spec.data.val) if s is not None]


def volumes_and_mounts(job: GRPOJob) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Volumes of the pod and mounts of the trainer container; inputs read-only, /outputs writable."""
    name = job_name(job)
    spec = job.spec
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []

    volumes.append({"name": VOLUME_CONFIG, "configMap": {"name": config_map_name(name)}})
    mounts.append({"name": VOLUME_CONFIG, "mountPath": c.CONFIG_DIR, "readOnly": True})

    reward = spec.reward
    if reward.config_map_ref is not None:
        volumes.append({"name": VOLUME_REWARD, "configMap": {"name": reward.config_map_ref.name}})
    elif reward.inline is not None:
        volumes.append({"name": VOLUME_REWARD, "configMap": {
            "name": reward_config_map_name(name), "items": [{"key": INLINE_REWARD_KEY, "path": INLINE_REWARD_KEY}]}})
    if reward.config_map_ref is not None or reward.inline is not None:
        mounts.append({"name": VOLUME_REWARD, "mountPath": c.REWARD_DIR, "readOnly": True})

    # /outputs: checkpoints, the model cache (HF_HOME) and downloaded data.
    claim_volume: dict[str, str] = {}  # PVC claim name -> volume name (one volume per claim)
    out_claim = spec.checkpoint.claim_name
    if out_claim is not None:
        volumes.append({"name": VOLUME_OUTPUTS, "persistentVolumeClaim": {"claimName": out_claim}})
        claim_volume[out_claim] = VOLUME_OUTPUTS
    else:
        volumes.append({"name": VOLUME_OUTPUTS, "emptyDir": {}})
    mounts.append({"name": VOLUME_OUTPUTS, "mountPath": c.OUTPUTS_DIR})

    # Data: one volume per distinct ConfigMap / PVC (a PVC already at /outputs is reused), read-only at the
    # path pod_paths gives the trainer.
    mounted: set[str] = set()
    n_data = 0
    for source in _data_sources(job):
        if source.config_map is not None:
            ref, path = source.config_map.name, configmap_mount_path(source.config_map.name)
        elif source.pvc is not None:
            ref, path = source.pvc.claim_name, pvc_mount_path(source.pvc.claim_name)
        else:
            continue  # a URL is downloaded into /outputs/data, a path is inside the image
        if path in mounted:
            continue
        mounted.add(path)
        if source.config_map is not None:
            vol = f"data-{n_data}"
            n_data += 1
            volumes.append({"name": vol, "configMap": {"name": ref}})
        elif ref in claim_volume:
            vol = claim_volume[ref]
        else:
            vol = claim_volume[ref] = f"data-{n_data}"
            n_data += 1
            volumes.append({"name": vol, "persistentVolumeClaim": {"claimName": ref}})
        mounts.append({"name": vol, "mountPath": path, "readOnly": True})

    volumes.append({"name": VOLUME_SHM, "emptyDir": {"medium": "Memory", "sizeLimit": spec.resources.effective_shm_size(spec.engine)}})
    mounts.append({"name": VOLUME_SHM, "mountPath": "/dev/shm"})
    # The root filesystem is read-only: HOME (caches) and /tmp (Ray's session dir) are node-disk emptyDirs.
    for vol, path in ((VOLUME_HOME, HOME_DIR), (VOLUME_TMP, TMP_DIR)):
        volumes.append({"name": vol, "emptyDir": {}})
        mounts.append({"name": vol, "mountPath": path})
    return volumes, mounts


def container_security_context(job: GRPOJob) -> dict[str, Any]:
    """Pod Security Standards "restricted" for a trainer container, plus the capabilities the job adds back."""
    sec = job.spec.pod.security
    capabilities: dict[str, Any] = {"drop": ["ALL"]}
    if sec.add_capabilities:
        capabilities["add"] = list(sec.add_capabilities)
    return {
        "runAsNonRoot": True,
        "runAsUser": sec.run_as_user,
        "runAsGroup": sec.run_as_group,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": sec.read_only_root_filesystem,
        "capabilities": capabilities,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context(job: GRPOJob) -> dict[str, Any]:
    """Pod-level defaults (also for containers KubeRay injects, e.g. the SidecarMode submitter)."""
    sec = job.spec.pod.security
    return {
        "runAsNonRoot": True,
        "runAsUser": sec.run_as_user,
        "runAsGroup": sec.run_as_group,
        "fsGroup": sec.fs_group,
        "fsGroupChangePolicy": "OnRootMismatch",  # chown a big checkpoint PVC once, not on every start
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def trainer_env(job: GRPOJob, *, namespace: str) -> list[dict[str, Any]]:
    """Operator-set variables first (a user entry of the same name replaces one), then spec.pod.env."""
    user = [e.to_wire() for e in job.spec.pod.env or []]
    user_names = {e["name"] for e in user}
    builtin = [
        {"name": "GRPO_JOB_NAME", "value": job_name(job)},
        {"name": "GRPO_NAMESPACE", "value": namespace},
        {"name": "HF_HOME", "value": HF_HOME},
        *({"name": k, "value": v} for k, v in WRITABLE_ENV.items()),
        *({"name": k, "value": v} for k, v in tracker_env(job.spec.tracking.loggers).items()),
    ]
    return [e for e in builtin if e["name"] not in user_names] + user


def trainer_resources(job: GRPOJob) -> dict[str, Any]:
    """Requests equal limits for the trainer container (KubeRay reads the CPU/GPU count Ray advertises from them).

    The Job pod and Ray worker pods are therefore Guaranteed QoS. A RayJob head pod is Burstable: in SidecarMode
    KubeRay adds its submitter container (`ray-job-submitter`, requests 500m/200Mi, limits 1/1Gi; common/job.go
    GetDefaultSubmitterContainer) and SidecarMode allows no submitter template to change that.
    """
    res = job.spec.resources
    amounts: dict[str, Any] = {
        "cpu": res.effective_cpu(job.spec.engine),
        "memory": res.effective_memory(job.spec.engine),
    }
    if res.gpus_per_node > 0:
        amounts[res.gpu_resource_name] = str(res.gpus_per_node)
    return {"requests": dict(amounts), "limits": dict(amounts)}


def trainer_container(job: GRPOJob, *, image: str, namespace: str, name: str = "trainer",
                      command: list[str] | None = None, metrics_port: bool = True,
                      readiness: bool = True, extra_ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The trainer container. Ray containers pass command=None (KubeRay runs `ray start` there)."""
    _, mounts = volumes_and_mounts(job)
    container: dict[str, Any] = {"name": name, "image": image}
    if job.spec.image_pull_policy:
        container["imagePullPolicy"] = job.spec.image_pull_policy
    if command is not None:
        container["command"] = command
    container["env"] = trainer_env(job, namespace=namespace)
    env_from = [e.to_wire() for e in job.spec.pod.env_from or []]
    if job.spec.tracking.secret_ref is not None:  # the trackers' credentials: the kubelet reads the Secret
        env_from.append({"secretRef": job.spec.tracking.secret_ref.to_wire()})
    if env_from:
        container["envFrom"] = env_from
    ports = list(extra_ports or [])
    if metrics_port:
        ports.append({"name": METRICS_PORT_NAME, "containerPort": c.TRAINER_METRICS_PORT, "protocol": "TCP"})
    if ports:
        container["ports"] = ports
    if metrics_port and readiness:
        # Ready once the exporter listens: a TCP connect, nothing that loads the training process.
        container["readinessProbe"] = {"tcpSocket": {"port": METRICS_PORT_NAME}, "periodSeconds": 10,
                                       "failureThreshold": 3}
    container["resources"] = trainer_resources(job)
    container["volumeMounts"] = mounts
    container["securityContext"] = container_security_context(job)
    container["terminationMessagePolicy"] = "FallbackToLogsOnError"
    return container


def pod_template(job: GRPOJob, *, containers: list[dict[str, Any]],
                 restart_policy: str | None = None) -> dict[str, Any]:
    """A core/v1 PodTemplateSpec with the GRPOJob's scheduling fields and pod labels/annotations."""
    pod = job.spec.pod
    pod_labels = {**(pod.labels or {}), **labels(job_name(job), COMPONENT_TRAINER)}
    metadata: dict[str, Any] = {"labels": pod_labels}
    if pod.annotations:
        metadata["annotations"] = dict(pod.annotations)
    volumes, _ = volumes_and_mounts(job)
    spec: dict[str, Any] = {}
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    spec["enableServiceLinks"] = False
    spec["automountServiceAccountToken"] = bool(pod.automount_service_account_token)
    spec["securityContext"] = pod_security_context(job)
    spec["containers"] = containers
    spec["volumes"] = volumes
    if pod.node_selector:
        spec["nodeSelector"] = dict(pod.node_selector)
    if pod.tolerations:
        spec["tolerations"] = [t.to_wire() for t in pod.tolerations]
    if pod.affinity:
        spec["affinity"] = pod.affinity.to_wire()
    if pod.priority_class_name:
        spec["priorityClassName"] = pod.priority_class_name
    if pod.service_account_name:
        spec["serviceAccountName"] = pod.service_account_name
    if pod.image_pull_secrets:
        spec["imagePullSecrets"] = [s.to_wire() for s in pod.image_pull_secrets]
    return {"metadata": metadata, "spec": spec}
