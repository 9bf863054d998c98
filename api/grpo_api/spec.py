"""GRPOJob spec: the one source of truth for the API (the CRD schema is generated from these models).

Every parameter of the seed recipe is here with the seed's default (rollout_n 5, norm_adv_by_std true,
use_kl_loss true, kl_loss_coef 0.001, kl_loss_type low_var_kl, batch 256, lr 1e-6, epochs 15,
max_response_length 1024).
"""

import json
import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from . import k8s_rules
from .base import APIModel
from .constants import EMBEDDED_DATA_SETS, EMBEDDED_MODELS, EMBEDDED_PREFIX, RESERVED_ENV
from .core_v1 import Affinity, AnnotationMap, LabelMap, LabelValue, QualifiedName, checked
from .rules import Rule
from .verl_keys import managed_key_owner, managed_keys, managed_parent_keys, managed_prefix_keys
from .verl_rules import KL_TYPES, RESUME_PATH_RE, spec_errors

QUANTITY_PATTERN = k8s_rules.QUANTITY_PATTERN
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
CONFIGMAP_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
PY_IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
# Hydra override grammar, simplified: key=value, +key=value, ++key=value, ~key[=value]
OVERRIDE_PATTERN = r"^(~|\+{1,2})?[A-Za-z_][A-Za-z0-9_.\-/@\[\]]*(=.*)?$"

# Only the estimators verl 0.9.1 computes (verl_rules.KL_TYPES; "full" raises NotImplementedError in verl).
KLLossType = Literal[KL_TYPES]  # type: ignore[valid-type]
LossAggMode = Literal["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"]
DRGRPO_LOSS_AGG_MODE = "seq-mean-token-sum-norm"

ObjName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
# A key of a ConfigMap or Secret (IsConfigMapKey): also not '.', '..' or '..x' (which would leave the mount).
ConfigMapKey = checked(k8s_rules.is_configmap_key, pattern=CONFIGMAP_KEY_PATTERN, min_length=1, max_length=253,
                       cel="self != '.' && !self.startsWith('..')", message="must not be '.' or start with '..'")
Quantity = checked(k8s_rules.is_quantity, pattern=k8s_rules.QUANTITY_PATTERN, max_length=64)
EnvVarName = checked(k8s_rules.is_env_var_name, pattern=ENV_NAME_PATTERN, min_length=1, max_length=256)
INT32_MAX = k8s_rules.INT32_MAX


def _embedded_names(kind: str, known: tuple[str, ...]) -> Any:
    """A path that may name a data set or model built into the trainer (`embedded:<name>`)."""
    known_paths = [EMBEDDED_PREFIX + k for k in known]

    def check(value: str) -> list[str]:
        if value.startswith(EMBEDDED_PREFIX) and value not in known_paths:
            return [f"unknown embedded {kind}; known: {', '.join(known_paths)}"]
        return []

    cel_list = ", ".join(f"'{p}'" for p in known_paths)
    return checked(check, min_length=1, max_length=1024,
                   cel=f"!self.startsWith('{EMBEDDED_PREFIX}') || self in [{cel_list}]",
                   message=f"unknown embedded {kind}; known: {', '.join(known_paths)}")


def _http_url(value: str) -> list[str]:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        return ["only http(s) URLs without whitespace are downloaded by the trainer; for s3:// or gs:// data "
                "use a PVC (copy the file to a PersistentVolumeClaim and set data.*.pvc)"]
    if re.search(r"/\.\.?([?#].*)?$", value):
        return ["must name a file (it ends in '/.' or '/..')"]
    return []


def _no_dot_dot(value: str) -> list[str]:
    return ["must not contain a '..' path element"] if k8s_rules.has_path_dot_dot(value) else []


def _image(value: str) -> list[str]:
    return ["must not contain whitespace"] if re.search(r"\s", value) else []


EXTENDED_RESOURCE_PATTERN = (rf"^{k8s_rules.DNS1123_LABEL_FMT}(\.{k8s_rules.DNS1123_LABEL_FMT})*/"
                             r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
HTTP_URL_PATTERN = r"^https?://[^\s/]+(/\S*)?$"


# --- references -------------------------------------------------------------------------------------------


class ConfigMapKeyRef(APIModel):
    name: ObjName = Field(description="ConfigMap name (same namespace as the GRPOJob).")
    key: ConfigMapKey = Field(description="Key in the ConfigMap.")


class PVCPath(APIModel):
    claim_name: ObjName = Field(description="PersistentVolumeClaim name.")
    path: checked(_no_dot_dot, cel="!self.matches('(^|/)\\\\.\\\\.(/|$)')",
                  message="must not contain a '..' path element") = Field(
        min_length=1, max_length=1024, description="File path inside the volume.")


class SecretKeySelector(APIModel):
    name: ObjName
    key: ConfigMapKey
    optional: bool | None = None


# Downward API fields an env var may read (core/v1 validation: validEnvDownwardAPIFieldPathExpressions).
_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
                "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs")
_FIELD_PATH_RE = r"^(" + "|".join(re.escape(p) for p in _FIELD_PATHS) + r"|metadata\.(labels|annotations)\['[^']+'\])$"
_RESOURCE_FIELDS = ("limits.cpu", "limits.memory", "limits.ephemeral-storage", "requests.cpu", "requests.memory",
                    "requests.ephemeral-storage")


class ObjectFieldSelector(APIModel):
    api_version: Literal["v1"] | None = None
    field_path: str = Field(max_length=512, pattern=_FIELD_PATH_RE,
                            description=f"One of {', '.join(_FIELD_PATHS)}, metadata.labels['k'], "
                                        "metadata.annotations['k'].")


class ResourceFieldSelector(APIModel):
    container_name: str | None = Field(None, max_length=63)
    resource: Literal[_RESOURCE_FIELDS]  # type: ignore[valid-type]
    divisor: Quantity | None = None


_ONE_ENV_SOURCE = Rule(
    cel="[has(self.secretKeyRef), has(self.configMapKeyRef), has(self.fieldRef), has(self.resourceFieldRef)]"
        ".filter(x, x).size() == 1",
    message="set exactly one of secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef",
    check=lambda s: sum(x is not None for x in (s.secret_key_ref, s.config_map_key_ref, s.field_ref,
                                                s.resource_field_ref)) == 1,
)


class EnvVarSource(APIModel):
    __rules__ = (_ONE_ENV_SOURCE,)

    secret_key_ref: SecretKeySelector | None = None
    config_map_key_ref: SecretKeySelector | None = None
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None


_VALUE_OR_VALUE_FROM = Rule(
    cel="!has(self.valueFrom) || !has(self.value) || self.value == ''",
    message="set value or valueFrom, not both",
    check=lambda e: e.value_from is None or not e.value,
)


class EnvVar(APIModel):
    __rules__ = (_VALUE_OR_VALUE_FROM,)

    name: EnvVarName
    value: str | None = None
    value_from: EnvVarSource | None = None


class NameRef(APIModel):
    name: ObjName
    optional: bool | None = None


_ONE_ENV_FROM = Rule(
    cel="[has(self.secretRef), has(self.configMapRef)].filter(x, x).size() == 1",
    message="set exactly one of secretRef, configMapRef",
    check=lambda s: (s.secret_ref is None) != (s.config_map_ref is None),
)


class EnvFromSource(APIModel):
    __rules__ = (_ONE_ENV_FROM,)

    prefix: EnvVarName | None = None
    secret_ref: NameRef | None = None
    config_map_ref: NameRef | None = None


class LocalObjectReference(APIModel):
    name: ObjName


_TOLERATION_RULES = (
    Rule(cel="has(self.key) && self.key != '' || (has(self.operator) && self.operator == 'Exists')",
         message="operator must be Exists when key is empty",
         check=lambda t: bool(t.key) or t.operator == "Exists"),
    Rule(cel="!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
         message="value must be empty when operator is Exists",
         check=lambda t: t.operator != "Exists" or not t.value),
    Rule(cel="!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
         message="effect must be NoExecute when tolerationSeconds is set",
         check=lambda t: t.toleration_seconds is None or t.effect == "NoExecute"),
)


class Toleration(APIModel):
    __rules__ = _TOLERATION_RULES

    key: QualifiedName | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: LabelValue | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(None, ge=-k8s_rules.INT64_MAX - 1, le=k8s_rules.INT64_MAX)


# --- spec groups ------------------------------------------------------------------------------------------


class ModelSpec(APIModel):
    path: _embedded_names("model", EMBEDDED_MODELS) = Field(
        description="Hugging Face model id (e.g. Qwen/Qwen2.5-7B) or a path inside the trainer pod "
                    "(embedded:tiny: a tiny random-weight model built on the spot, engine trl).",
    )
    lora_rank: int = Field(0, ge=0, le=1024, description="LoRA rank; 0 trains all weights (seed: 8 for LoRA).")
    lora_alpha: int = Field(16, ge=1, le=4096, description="LoRA alpha (seed: 16).")
    target_modules: str = Field("all-linear", min_length=1, description="LoRA target modules.")
    gradient_checkpointing: bool = Field(True, description="Gradient checkpointing for the actor.")
    trust_remote_code: bool = Field(False, description="Allow model code from the hub.")


_ONE_DATA_SOURCE = Rule(
    cel="[has(self.configMap), has(self.pvc), has(self.url), has(self.path)].filter(x, x).size() == 1",
    message="set exactly one of configMap, pvc, url, path",
    check=lambda d: sum(x is not None for x in (d.config_map, d.pvc, d.url, d.path)) == 1,
    detail=lambda d: ", ".join(k for k, v in (("configMap", d.config_map), ("pvc", d.pvc), ("url", d.url),
                                              ("path", d.path)) if v is not None) or "none",
)


class DataSource(APIModel):
    """Where a data file (seed JSON, JSONL or parquet) comes from. Exactly one field is set."""

    __rules__ = (_ONE_DATA_SOURCE,)

    config_map: ConfigMapKeyRef | None = Field(None, description="A small data file stored in a ConfigMap.")
    pvc: PVCPath | None = Field(None, description="A file on a PersistentVolumeClaim.")
    url: checked(_http_url, pattern=HTTP_URL_PATTERN, cel="!self.matches('/\\\\.\\\\.?([?#].*)?$')",
                 message="must name a file (it ends in '/.' or '/..')") | None = Field(
        None, max_length=2048, description="An http(s) URL, downloaded by the trainer at start (s3/gs: use a PVC).")
    path: _embedded_names("data set", EMBEDDED_DATA_SETS) | None = Field(
        None, description="A path inside the trainer image (or on this machine for --local); "
                          "embedded:parity or embedded:math: a data set generated by the trainer.")



class DataSpec(APIModel):
    train: DataSource = Field(description="Training data in the seed format (prompt, ground_truth, data_source).")
    val: DataSource | None = Field(None, description="Validation data; defaults to a sample of the training data.")
    max_prompt_length: int = Field(512, ge=1, le=131072, description="Longest prompt in tokens.")


_ONE_REWARD_SOURCE = Rule(
    cel="[has(self.configMapRef), has(self.inline), has(self.path)].filter(x, x).size() <= 1",
    message="set at most one of configMapRef, inline, path (none selects the builtin reward_func.py)",
    check=lambda r: sum(x is not None for x in (r.config_map_ref, r.inline, r.path)) <= 1,
)


class RewardSpec(APIModel):
    """The reward function. None of configMapRef/inline/path set: the builtin scorer per data_source."""

    __rules__ = (_ONE_REWARD_SOURCE,)

    config_map_ref: ConfigMapKeyRef | None = Field(None, description="A Python file in an existing ConfigMap.")
    inline: str | None = Field(None, min_length=1, max_length=262144,
                               description="Python source; the operator stores it in a ConfigMap.")
    path: str | None = Field(None, min_length=1, max_length=1024,
                             description="A Python file inside the trainer image (or on this machine for --local).")
    function_name: str = Field("compute_score", pattern=PY_IDENTIFIER_PATTERN, max_length=128,
                               description="Function called as f(data_source, solution_str, ground_truth, extra_info).")
    kwargs: dict[Annotated[str, Field(pattern=PY_IDENTIFIER_PATTERN, max_length=128)],
                 str | int | float | bool] | None = Field(
        None, max_length=64,
        description="Extra keyword arguments passed to the reward function on every call "
                    "(verl: +reward.custom_reward_function.reward_kwargs.NAME).")


    @property
    def source(self) -> Literal["builtin", "configMap", "inline", "path"]:
        if self.config_map_ref is not None:
            return "configMap"
        if self.inline is not None:
            return "inline"
        if self.path is not None:
            return "path"
        return "builtin"


class GRPOSpec(APIModel):
    rollout_n: int = Field(5, ge=2, le=256, description="Responses sampled per prompt (seed: 3 fast, 5 standard, 8 quality).")
    norm_adv_by_std: bool = Field(True, description="Divide group-relative advantages by the group's std.")
    use_kl_loss: bool = Field(True, alias="useKLLoss", description="Add a KL loss against the reference model.")
    kl_loss_coef: float = Field(0.001, ge=0, le=10, alias="klLossCoef", description="KL loss coefficient (beta).")
    kl_loss_type: KLLossType = Field("low_var_kl", alias="klLossType", description="How the KL term is estimated.")
    loss_agg_mode: LossAggMode = Field(
        "token-mean", description="Loss aggregation; seq-mean-token-sum-norm is DrGRPO (removes the length bias).")
    clip_ratio: float = Field(0.2, gt=0, lt=1, description="PPO clip epsilon; the default of clipRatioLow and clipRatioHigh.")
    clip_ratio_low: float | None = Field(
        None, gt=0, lt=1, description="Lower clip epsilon (ratio >= 1 - low); unset: clipRatio.")
    clip_ratio_high: float | None = Field(
        None, gt=0, le=10, description="Upper clip epsilon (ratio <= 1 + high; DAPO clip-higher); unset: clipRatio.")
    entropy_coeff: float = Field(0.0, ge=0, le=1, description="Entropy bonus coefficient.")


_MINI_DIVIDES_BATCH = Rule(
    cel="!has(self.ppoMiniBatchSize) || (self.ppoMiniBatchSize <= self.batchSize && self.batchSize % self.ppoMiniBatchSize == 0)",
    message="ppoMiniBatchSize must be <= batchSize and divide it",
    check=lambda t: t.ppo_mini_batch_size is None or (
        t.ppo_mini_batch_size <= t.batch_size and t.batch_size % t.ppo_mini_batch_size == 0),
    detail=lambda t: f"ppoMiniBatchSize={t.ppo_mini_batch_size}, batchSize={t.batch_size}",
)
_FREQ_NOT_ZERO = Rule(
    cel="self.saveFreq != 0 && self.testFreq != 0",
    message="saveFreq and testFreq must be a positive number of steps, or -1 to disable",
    check=lambda t: t.save_freq != 0 and t.test_freq != 0,
    detail=lambda t: f"saveFreq={t.save_freq}, testFreq={t.test_freq}",
)


class TrainingSpec(APIModel):
    __rules__ = (_MINI_DIVIDES_BATCH, _FREQ_NOT_ZERO)

    batch_size: int = Field(256, ge=1, le=65536, description="Global batch size in prompts.")
    learning_rate: float = Field(1e-6, gt=0, le=1, description="Actor learning rate.")
    epochs: int = Field(15, ge=1, le=10000, description="Total training epochs.")
    max_response_length: int = Field(1024, ge=1, le=131072, description="Longest generated response in tokens.")
    ppo_mini_batch_size: int | None = Field(
        None, ge=1, le=65536, description="Prompts per actor update; unset: equal to batchSize (one update per step).")
    micro_batch_size_per_gpu: int = Field(
        4, ge=1, le=1024, alias="microBatchSizePerGPU",
        description="Responses per GPU per forward/backward of the actor update.")
    log_prob_micro_batch_size_per_gpu: int | None = Field(
        None, ge=1, le=1024, alias="logProbMicroBatchSizePerGPU",
        description="Responses per GPU per forward of the old and reference log-prob passes (no gradients, so "
                    "larger fits); unset: microBatchSizePerGPU.")
    save_freq: int = Field(20, ge=-1, le=INT32_MAX, description="Save a checkpoint every N steps (-1: never; verl still saves nothing then).")
    test_freq: int = Field(10, ge=-1, le=INT32_MAX, description="Validate every N steps (-1: never).")
    total_training_steps: int | None = Field(None, ge=1, le=INT32_MAX, description="Stop after N steps (overrides epochs).")


class RolloutSpec(APIModel):
    name: Literal["vllm", "sglang"] = Field("vllm", description="Inference engine for rollouts.")
    tensor_parallel_size: int = Field(1, ge=1, le=64, description="Tensor parallel size of the rollout engine.")
    gpu_memory_utilization: float = Field(0.6, gt=0, le=1, description="Fraction of GPU memory for the vLLM cache.")
    temperature: float = Field(1.0, gt=0, le=5, description="Sampling temperature.")


class ResourcesSpec(APIModel):
    nodes: int = Field(1, ge=1, le=512, description="Nodes; more than 1 runs a KubeRay RayJob.")
    gpus_per_node: int = Field(1, ge=0, le=64, description="GPUs per node (0 only for the trl CPU engine).")
    gpu_resource_name: checked(k8s_rules.is_extended_resource_name, pattern=EXTENDED_RESOURCE_PATTERN,
                               cel="!self.contains('kubernetes.io/')",
                               message="must be an extended resource name outside kubernetes.io") = Field(
        "nvidia.com/gpu", min_length=1, max_length=253,
        description="Extended resource name of the GPU (a domain-prefixed name such as nvidia.com/gpu).")
    cpu: Quantity | None = Field(
        None, description="CPU per node (a Kubernetes quantity); unset: 3 per GPU + 9 (what Ray needs for verl), "
                          "2 for trl.")
    memory: Quantity | None = Field(
        None, description="Memory per node (a Kubernetes quantity, e.g. 64Gi or 64e9); unset: 32Gi per GPU "
                          "(min 32Gi), 4Gi for trl.")
    shm_size: Quantity | None = Field(
        None, description="Size of the /dev/shm memory volume; unset: 16Gi, 1Gi for trl.")

    def effective_cpu(self, engine: str) -> str:
        if self.cpu:
            return self.cpu
        return "2" if engine == "trl" else str(3 * self.gpus_per_node + 9)

    def effective_memory(self, engine: str) -> str:
        if self.memory:
            return self.memory
        return "4Gi" if engine == "trl" else f"{32 * max(1, self.gpus_per_node)}Gi"

    def effective_shm_size(self, engine: str) -> str:
        """NCCL and vLLM use /dev/shm heavily; the CPU engine barely (and its pod memory is only 4Gi)."""
        if self.shm_size:
            return self.shm_size
        return "1Gi" if engine == "trl" else "16Gi"


class MemorySpec(APIModel):
    ref_param_offload: bool = Field(False, description="Offload the reference model's parameters to CPU.")
    actor_param_offload: bool = Field(False, description="Offload the actor's parameters to CPU.")
    actor_optimizer_offload: bool = Field(False, description="Offload the actor's optimizer state to CPU.")

    @property
    def any(self) -> bool:
        return self.ref_param_offload or self.actor_param_offload or self.actor_optimizer_offload


_RESUME_PATH_NEEDS_FROM = Rule(
    cel="self.resumeMode != 'resume_path' || has(self.resumeFrom)",
    message="resumeMode resume_path needs resumeFrom (a global_step_N folder)",
    check=lambda c: c.resume_mode != "resume_path" or c.resume_from is not None,
)
# verl trainer/ppo/ray_trainer.py _load_checkpoint asserts "global_step_" in resume_from_path.
_RESUME_FROM_IS_STEP = Rule(
    cel="self.resumeMode != 'resume_path' || !has(self.resumeFrom) || self.resumeFrom.matches('global_step_[0-9]+')",
    message="resumeFrom must name a global_step_N checkpoint folder (verl asserts it for resumeMode resume_path)",
    check=lambda c: c.resume_mode != "resume_path" or c.resume_from is None or bool(RESUME_PATH_RE.search(c.resume_from)),
    detail=lambda c: f"resumeFrom={c.resume_from!r}",
)


class CheckpointSpec(APIModel):
    __rules__ = (_RESUME_PATH_NEEDS_FROM, _RESUME_FROM_IS_STEP)

    claim_name: str | None = Field(
        None, min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN,
        description="Existing PVC for /outputs (checkpoints survive the pod; ReadWriteMany for nodes > 1). "
                    "Unset: an emptyDir, lost with the pod.")
    resume_mode: Literal["auto", "disable", "resume_path"] = Field(
        "auto", description="auto: continue from the latest checkpoint in /outputs/checkpoints.")
    resume_from: str | None = Field(None, min_length=1, max_length=1024,
                                    description="Checkpoint folder (global_step_N) for resumeMode resume_path.")
    max_to_keep: int | None = Field(None, ge=1, le=INT32_MAX, description="Keep at most N checkpoints.")
    export_hf: bool = Field(False, alias="exportHF",
                            description="After training, merge the last checkpoint into a Hugging Face model.")


# Capabilities a GRPOJob may add to the trainer containers (everything else stays dropped). IPC_LOCK: pinned
# memory for InfiniBand/RDMA; SYS_NICE: NUMA/CPU affinity of NCCL and Ray workers. Either one takes the pod
# out of the Pod Security Standards "restricted" profile (only NET_BIND_SERVICE is allowed there).
ALLOWED_ADD_CAPABILITIES = ("IPC_LOCK", "SYS_NICE", "NET_BIND_SERVICE")
TRAINER_UID = 10001  # the trainer image's numeric user (images/trainer/Dockerfile)


class PodSecurity(APIModel):
    """Identity and extra privileges of the trainer containers (Pod Security Standards "restricted" by default:
    non-root, no privilege escalation, every capability dropped, seccomp RuntimeDefault, read-only root)."""

    run_as_user: int = Field(TRAINER_UID, ge=1, le=2147483647,
                             description="Numeric uid of every trainer container (never 0).")
    run_as_group: int = Field(TRAINER_UID, ge=1, le=2147483647, description="Numeric primary gid (never 0).")
    fs_group: int = Field(TRAINER_UID, ge=1, le=2147483647,
                          description="Group that owns the volumes (outputs/checkpoint PVC) so the trainer can write them.")
    read_only_root_filesystem: bool = Field(
        True, description="Read-only image filesystem; HOME, caches and /tmp are emptyDirs.")
    add_capabilities: list[Literal[ALLOWED_ADD_CAPABILITIES]] | None = Field(  # type: ignore[valid-type]
        None, max_length=3,
        description="Capabilities to add back, e.g. IPC_LOCK for InfiniBand/RDMA (allowed: IPC_LOCK, SYS_NICE, "
                    "NET_BIND_SERVICE; IPC_LOCK and SYS_NICE leave the \"restricted\" profile).")


_NO_RESERVED_ENV = Rule(
    cel="!has(self.env) || self.env.all(e, !(e.name in [" + ", ".join(f"'{n}'" for n in RESERVED_ENV) + "]))",
    message=f"env may not set {', '.join(RESERVED_ENV)}: the operator manages it",
    check=lambda p: not any(e.name in RESERVED_ENV for e in p.env or []),
)


class PodSpec(APIModel):
    """Scheduling and environment of the trainer pods."""

    __rules__ = (_NO_RESERVED_ENV,)

    node_selector: LabelMap | None = None
    tolerations: list[Toleration] | None = None
    affinity: Affinity | None = Field(None, description="A core/v1 Affinity.")
    priority_class_name: str | None = Field(None, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)
    service_account_name: str | None = Field(None, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)
    env: list[EnvVar] | None = Field(None, description="Extra env, e.g. HF_TOKEN from a Secret.")
    env_from: list[EnvFromSource] | None = None
    image_pull_secrets: list[LocalObjectReference] | None = None
    labels: LabelMap | None = None
    annotations: AnnotationMap | None = None
    # Both unset by default (the builders apply the defaults), so adding them changed no stored spec.
    automount_service_account_token: bool | None = Field(
        None, description="true: mount the service account's API token (default false: nothing in the trainer "
                          "uses the Kubernetes API).")
    security_context: PodSecurity | None = Field(
        None, description="uid/gid/fsGroup (default 10001), read-only root (default true) and added capabilities "
                          "of the trainer containers.")

    @property
    def security(self) -> PodSecurity:
        return self.security_context or PodSecurity()


# --- cross-field rules on the whole spec ------------------------------------------------------------------

_TP_DIVIDES_GPUS = Rule(
    cel="self.engine != 'verl' || self.resources.gpusPerNode % self.rollout.tensorParallelSize == 0",
    message="resources.gpusPerNode must be a multiple of rollout.tensorParallelSize",
    check=lambda s: s.engine != "verl" or s.resources.gpus_per_node % s.rollout.tensor_parallel_size == 0,
    detail=lambda s: f"gpusPerNode={s.resources.gpus_per_node}, tensorParallelSize={s.rollout.tensor_parallel_size}",
)
_VERL_NEEDS_GPU = Rule(
    cel="self.engine != 'verl' || self.resources.gpusPerNode >= 1",
    message="engine verl needs resources.gpusPerNode >= 1 (use engine trl to train on CPU)",
    check=lambda s: s.engine != "verl" or s.resources.gpus_per_node >= 1,
    detail=lambda s: f"gpusPerNode={s.resources.gpus_per_node}",
)
_MULTINODE_NEEDS_SHARED_VOLUME = Rule(
    cel="self.resources.nodes == 1 || has(self.checkpoint.claimName)",
    message="resources.nodes > 1 needs checkpoint.claimName: a ReadWriteMany PVC shared by every node",
    check=lambda s: s.resources.nodes == 1 or s.checkpoint.claim_name is not None,
    detail=lambda s: f"nodes={s.resources.nodes}",
)
_TRL_SINGLE_NODE = Rule(
    cel="self.engine != 'trl' || (self.resources.nodes == 1 && self.rollout.tensorParallelSize == 1"
        " && self.rollout.name == 'vllm')",
    message="engine trl runs on one node without rollout tensor parallelism or sglang; these options need engine verl",
    check=lambda s: s.engine != "trl" or (
        s.resources.nodes == 1 and s.rollout.tensor_parallel_size == 1 and s.rollout.name == "vllm"),
    detail=lambda s: f"nodes={s.resources.nodes}, tensorParallelSize={s.rollout.tensor_parallel_size}, "
                     f"rollout.name={s.rollout.name}",
)
_TRL_NO_OFFLOAD_OR_OVERRIDES = Rule(
    cel="self.engine != 'trl' || (!self.memory.refParamOffload && !self.memory.actorParamOffload"
        " && !self.memory.actorOptimizerOffload && (!has(self.overrides) || size(self.overrides) == 0))",
    message="engine trl has no FSDP offload and no verl Hydra overrides; memory.* offload and overrides need engine verl",
    check=lambda s: s.engine != "trl" or (not s.memory.any and not s.overrides),
    detail=lambda s: f"offload={s.memory.any}, overrides={len(s.overrides)}",
)
_TRL_CPU_FULL_WEIGHTS = Rule(
    cel="self.engine != 'trl' || (self.resources.gpusPerNode == 0 && self.model.loraRank == 0)",
    message="engine trl trains on CPU without LoRA: set resources.gpusPerNode 0 and model.loraRank 0 "
            "(GPUs and LoRA need engine verl)",
    check=lambda s: s.engine != "trl" or (s.resources.gpus_per_node == 0 and s.model.lora_rank == 0),
    detail=lambda s: f"gpusPerNode={s.resources.gpus_per_node}, loraRank={s.model.lora_rank}",
)
_GPUS_PER_NODE_MULTINODE = Rule(
    cel="self.resources.nodes == 1 || self.resources.gpusPerNode >= 1",
    message="resources.nodes > 1 needs GPUs on every node",
    check=lambda s: s.resources.nodes == 1 or s.resources.gpus_per_node >= 1,
)


# --- verl 0.9.1 batch arithmetic (verl_rules.batch_errors restates it from verl's code) ---------------------
# CEL: b prompts, n rollouts, m mini-batch prompts, G GPUs (= the FSDP data-parallel size), u / l micro batches.
_B, _N, _G = "self.training.batchSize", "self.grpo.rolloutN", "(self.resources.gpusPerNode * self.resources.nodes)"
_M = f"(has(self.training.ppoMiniBatchSize) ? self.training.ppoMiniBatchSize : {_B})"
_U = "self.training.microBatchSizePerGPU"
_L = f"(has(self.training.logProbMicroBatchSizePerGPU) ? self.training.logProbMicroBatchSizePerGPU : {_U})"
_VERL_ONLY = "self.engine != 'verl' || self.resources.gpusPerNode < 1 || "


_last_checked: list = [None, []]  # (spec, its spec_errors): the four rules below check the same spec in a row


def _spec_errors_once(s) -> list[tuple[str, str]]:
    if _last_checked[0] is not s:
        _last_checked[:] = [s, spec_errors(s)]
    return _last_checked[1]


def _verl_rule(field: str, cel: str, message: str) -> Rule:
    def broken(s) -> list[str]:
        return [m for f, m in _spec_errors_once(s) if f == field]

    return Rule(cel=_VERL_ONLY + cel, message=message, check=lambda s: not broken(s),
                detail=lambda s: f"{field}: " + "; ".join(broken(s)), detail_is_message=True)


_VERL_BATCH_PER_GPU = _verl_rule(
    "training.batchSize", f"({_B} * {_N}) % {_G} == 0",
    "training.batchSize × grpo.rolloutN must be divisible by resources.gpusPerNode × resources.nodes "
    "(verl validate_config)")
_VERL_MINI_PER_DP = _verl_rule(
    "training.ppoMiniBatchSize", f"{_M} <= {_B} && ({_M} * {_N}) % {_G} == 0",
    "training.ppoMiniBatchSize × grpo.rolloutN must be divisible by the data-parallel size (gpusPerNode × nodes) "
    "(verl train_mini_batch)")
_VERL_ACTOR_MICRO = _verl_rule(
    "training.microBatchSizePerGPU", f"({_M} * {_N}) % {_G} != 0 || (({_M} * {_N}) / {_G}) % {_U} == 0",
    "the actor update's per-GPU mini batch (ppoMiniBatchSize × rolloutN / GPUs) must be divisible by "
    "training.microBatchSizePerGPU (verl prepare_micro_batches)")
_VERL_LOGPROB_MICRO = _verl_rule(
    "training.logProbMicroBatchSizePerGPU", f"({_B} * {_N}) % {_G} != 0 || (({_B} * {_N}) / {_G}) % {_L} == 0",
    "the log-prob passes' per-GPU batch (batchSize × rolloutN / GPUs) must be divisible by "
    "training.logProbMicroBatchSizePerGPU (default microBatchSizePerGPU) (verl prepare_micro_batches)")

SPEC_RULES = (_TP_DIVIDES_GPUS, _VERL_NEEDS_GPU, _MULTINODE_NEEDS_SHARED_VOLUME, _TRL_SINGLE_NODE,
              _TRL_NO_OFFLOAD_OR_OVERRIDES, _GPUS_PER_NODE_MULTINODE, _TRL_CPU_FULL_WEIGHTS, _VERL_BATCH_PER_GPU,
              _VERL_MINI_PER_DP, _VERL_ACTOR_MICRO, _VERL_LOGPROB_MICRO)

# CEL string literals need the regex's backslashes escaped once more.
def _cel_alternation(keys) -> str:
    return "|".join(re.escape(k) for k in keys).replace("\\", "\\\\")


# A managed key, any key under it, or a parent group holding one (`trainer={logger:[console]}`) is refused.
_MANAGED_KEYS_RE = _cel_alternation(managed_keys())
_PREFIX_KEYS_RE = _cel_alternation(managed_prefix_keys())
_PARENT_KEYS_RE = _cel_alternation(managed_parent_keys())
_OVERRIDES_RULE = {
    "rule": f"self.all(o, !o.matches('^[+~]{{0,2}}({_MANAGED_KEYS_RE})(=|$|[.])')"
            f" && !o.matches('^[+~]{{0,2}}({_PREFIX_KEYS_RE})(=|$|[.])')"
            f" && !o.matches('^[+~]{{0,2}}({_PARENT_KEYS_RE})(=|$)'))",
    "message": "spec.overrides may not set a key that a GRPOJob field manages (see README: GRPOJob reference)",
}


# verl 0.9.1's Tracking.supported_backend (verl/utils/tracking.py) without console and file, which the trainer
# always keeps (the console log, and the JSON-lines file its metrics exporter reads).
TRACKERS = ("wandb", "mlflow", "swanlab", "vemlp_wandb", "tensorboard", "clearml", "trackio", "rl_insight")
ALWAYS_LOGGERS = ("console", "file")
# TRL/transformers' report_to names for the trackers the CPU engine can report to.
TRL_REPORT_TO = {"wandb": "wandb", "mlflow": "mlflow", "swanlab": "swanlab", "tensorboard": "tensorboard",
                 "clearml": "clearml", "trackio": "trackio"}


class TrackingSpec(APIModel):
    loggers: list[Literal[TRACKERS]] = Field(  # type: ignore[valid-type]
        default=[], max_length=len(TRACKERS), json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Experiment trackers besides console and file (verl's trainer.logger; TRL's report_to): "
                    + ", ".join(TRACKERS) + ". tensorboard writes to /outputs/tensorboard.")
    project: str | None = Field(None, min_length=1, max_length=128, pattern=r"^\S+$",
                                description="Tracker project (trainer.project_name); default grpo-operator.")
    experiment: str | None = Field(None, min_length=1, max_length=128, pattern=r"^\S+$",
                                   description="Run name (trainer.experiment_name); default the GRPOJob's name.")
    secret_ref: NameRef | None = Field(None, description="Secret whose keys become the trainer's environment "
                                       "(WANDB_API_KEY, MLFLOW_TRACKING_URI, SWANLAB_API_KEY, ...): envFrom.")

    @field_validator("loggers")
    @classmethod
    def _unique(cls, loggers: list[str]) -> list[str]:
        if len(set(loggers)) != len(loggers):
            raise ValueError(f"each logger at most once (got {loggers})")
        return loggers


class GRPOJobSpec(APIModel):
    __rules__ = SPEC_RULES

    engine: Literal["verl", "trl"] = Field(
        "verl", description="verl: GPUs + vLLM (production). trl: TRL GRPOTrainer on CPU (laptops, CI, kind).")
    image: checked(_image, pattern=r"^\S+$", min_length=1) | None = Field(
        None, max_length=1024, description="Trainer image; unset: the operator's default.")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(None, description="Pull policy of the trainer image.")
    model: ModelSpec = Field(description="The policy model to train.")
    data: DataSpec = Field(description="Training/validation data in the seed format (JSON, JSONL or parquet).")
    reward: RewardSpec = Field(default_factory=RewardSpec, description="Reward function; default: builtin per data_source.")
    grpo: GRPOSpec = Field(default_factory=GRPOSpec, description="GRPO core parameters (seed defaults).")
    training: TrainingSpec = Field(default_factory=TrainingSpec, description="Training loop (seed defaults).")
    rollout: RolloutSpec = Field(default_factory=RolloutSpec, description="Rollout (generation) engine.")
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec, description="Nodes, GPUs, CPU, memory, shm.")
    memory: MemorySpec = Field(default_factory=MemorySpec, description="Memory options: FSDP CPU offload.")
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec, description="Outputs volume, resume, HF export.")
    pod: PodSpec = Field(default_factory=PodSpec, description="Trainer pod: nodeSelector, tolerations, affinity, priorityClassName, serviceAccountName, env, envFrom, imagePullSecrets, labels, annotations (core/v1 shapes); automountServiceAccountToken, securityContext.")
    tracking: TrackingSpec = Field(default_factory=TrackingSpec, description="Experiment trackers (wandb, mlflow, tensorboard, ...), project, run name and the Secret with their credentials.")
    overrides: list[Annotated[str, Field(max_length=512, pattern=OVERRIDE_PATTERN)]] = Field(
        default=[], max_length=100,
        json_schema_extra={"x-kubernetes-validations": [_OVERRIDES_RULE]},
        description="Raw verl Hydra overrides (key=value), applied last.")
    suspend: bool = Field(False, description="true: delete the running pods, keep checkpoints; false: resume.")
    backoff_limit: int = Field(3, ge=0, le=100, description="Pod restarts before the job fails (each resumes).")
    active_deadline_seconds: int | None = Field(None, ge=1, le=INT32_MAX, description="Wall-clock limit for the whole run.")
    ttl_seconds_after_finished: int | None = Field(None, ge=0, le=INT32_MAX, description="Delete the GRPOJob and its children N s after it finishes (1 node or N nodes alike); GPU pods stop when training ends either way.")

    @field_validator("overrides")
    @classmethod
    def _free_keys_only(cls, overrides: list[str]) -> list[str]:
        errors = []
        for i, item in enumerate(overrides):
            key = item.lstrip("+~").split("=", 1)[0]
            reason = managed_key_owner(key)
            if reason:
                errors.append(f"spec.overrides[{i}] ({item!r}): {key} cannot be overridden: {reason}")
        if errors:
            raise ValueError("\n".join(errors))
        return overrides

    @model_validator(mode="after")
    def _config_fits_configmap(self):
        """The operator stores the resolved spec as JSON in the `<name>-config` ConfigMap (1 MiB at most)."""
        wire = {"spec": self.to_wire()}
        # Fast path (C encoder): indentation adds at most ~(2 + 4·depth) characters per item, ≤ 22x for the
        # spec's depth, so a compact form under 32 KiB cannot reach 1 MiB indented. Every parse (the operator
        # parses each GRPOJob on its events) takes this path unless the spec carries large strings.
        if len(json.dumps(wire, ensure_ascii=False)) < 32 * 1024:
            return self
        text = json.dumps(wire, indent=4, sort_keys=True, ensure_ascii=False)
        size = len(text.encode("utf-8", "surrogatepass")) + 2048  # + apiVersion, kind, metadata
        if size > k8s_rules.CONFIGMAP_MAX_BYTES:
            raise ValueError(f"the resolved spec is {size} bytes as JSON; it must fit the 1 MiB config ConfigMap "
                             "(shrink reward.inline, pod.annotations or pod.env; a large reward goes in "
                             "reward.configMapRef)")
        return self


    @property
    def is_multinode(self) -> bool:
        return self.resources.nodes > 1
