"""Invalid GRPOJobs: the models reject each with a message that names the field, and so does the CRD
(schema + CEL) wherever the API server can check it, so kubectl and the operator agree."""

import copy

import pytest

from grpo_api import GRPOJobInvalid, parse_grpojob
from grpo_api.crd import build_crd
from tests.apiserver_schema import validate_against_crd

BASE = {
    "apiVersion": "grpo.dev/v1alpha1",
    "kind": "GRPOJob",
    "metadata": {"name": "job"},
    "spec": {"model": {"path": "Qwen/Qwen2.5-7B"}, "data": {"train": {"path": "/data/train.json"}}},
}


def _set(obj, dotted, value):
    *parents, last = dotted.split(".")
    for p in parents:
        obj = obj.setdefault(p, {})
    if value is _DELETE:
        del obj[last]
    else:
        obj[last] = value


_DELETE = object()

# (id, {dotted path: value}, expected line prefix (field), expected words, API server rejects it too)
CASES = [
    ("rollout-n-too-small", {"spec.grpo.rolloutN": 1}, "spec.grpo.rolloutN", "greater than or equal to 2", True),
    ("rollout-n-not-int", {"spec.grpo.rolloutN": "five"}, "spec.grpo.rolloutN", "valid integer", True),
    ("rollout-n-float", {"spec.grpo.rolloutN": 2.5}, "spec.grpo.rolloutN", "integer", True),
    ("kl-coef-negative", {"spec.grpo.klLossCoef": -0.1}, "spec.grpo.klLossCoef", "greater than or equal to 0", True),
    ("kl-type-unknown", {"spec.grpo.klLossType": "reverse"}, "spec.grpo.klLossType", "'low_var_kl'", True),
    ("loss-agg-unknown", {"spec.grpo.lossAggMode": "drgrpo"}, "spec.grpo.lossAggMode",
     "'seq-mean-token-sum-norm'", True),
    ("use-kl-not-bool", {"spec.grpo.useKLLoss": "maybe"}, "spec.grpo.useKLLoss", "valid boolean", True),
    ("clip-ratio-one", {"spec.grpo.clipRatio": 1.0}, "spec.grpo.clipRatio", "less than 1", True),
    ("batch-zero", {"spec.training.batchSize": 0}, "spec.training.batchSize", "greater than or equal to 1", True),
    ("lr-zero", {"spec.training.learningRate": 0}, "spec.training.learningRate", "greater than 0", True),
    ("lr-huge", {"spec.training.learningRate": 3}, "spec.training.learningRate", "less than or equal to 1", True),
    ("epochs-negative", {"spec.training.epochs": -1}, "spec.training.epochs", "greater than or equal to 1", True),
    ("response-len-zero", {"spec.training.maxResponseLength": 0}, "spec.training.maxResponseLength",
     "greater than or equal to 1", True),
    ("mini-batch-not-divisor", {"spec.training.batchSize": 256, "spec.training.ppoMiniBatchSize": 100},
     "spec.training", "ppoMiniBatchSize must be <= batchSize and divide it (got ppoMiniBatchSize=100", True),
    ("save-freq-zero", {"spec.training.saveFreq": 0}, "spec.training", "saveFreq and testFreq", True),
    ("gpu-util-zero", {"spec.rollout.gpuMemoryUtilization": 0}, "spec.rollout.gpuMemoryUtilization",
     "greater than 0", True),
    ("gpu-util-over-one", {"spec.rollout.gpuMemoryUtilization": 1.5}, "spec.rollout.gpuMemoryUtilization",
     "less than or equal to 1", True),
    ("rollout-engine-hf", {"spec.rollout.name": "hf"}, "spec.rollout.name", "'vllm' or 'sglang'", True),
    ("tp-not-dividing-gpus", {"spec.resources.gpusPerNode": 8, "spec.rollout.tensorParallelSize": 3},
     "spec", "resources.gpusPerNode must be a multiple of rollout.tensorParallelSize (got gpusPerNode=8, "
     "tensorParallelSize=3)", True),
    ("verl-without-gpu", {"spec.resources.gpusPerNode": 0}, "spec", "engine verl needs resources.gpusPerNode >= 1",
     True),
    ("multinode-without-shared-volume", {"spec.resources.nodes": 2}, "spec",
     "resources.nodes > 1 needs checkpoint.claimName", True),
    ("nodes-zero", {"spec.resources.nodes": 0}, "spec.resources.nodes", "greater than or equal to 1", True),
    ("bad-memory-quantity", {"spec.resources.memory": "lots"}, "spec.resources.memory", "must be a Kubernetes quantity",
     True),
    ("bad-shm-quantity", {"spec.resources.shmSize": "16GB"}, "spec.resources.shmSize", "must be a Kubernetes quantity",
     True),
    ("trl-with-tp", {"spec.engine": "trl", "spec.resources.gpusPerNode": 0, "spec.rollout.tensorParallelSize": 2},
     "spec", "engine trl runs on one node", True),
    ("trl-with-offload", {"spec.engine": "trl", "spec.memory.refParamOffload": True},
     "spec", "engine trl has no FSDP offload", True),
    ("trl-with-overrides", {"spec.engine": "trl", "spec.overrides": ["actor_rollout_ref.actor.ppo_epochs=2"]},
     "spec", "overrides need engine verl", True),
    ("engine-unknown", {"spec.engine": "deepspeed"}, "spec.engine", "'verl' or 'trl'", True),
    ("data-two-sources", {"spec.data.train": {"path": "/a.json", "url": "https://x/a.json"}}, "spec.data.train",
     "set exactly one of configMap, pvc, url, path (got url, path)", True),
    ("data-no-source", {"spec.data.train": {}}, "spec.data.train", "set exactly one of configMap, pvc, url, path",
     True),
    ("data-missing", {"spec.data": _DELETE}, "spec.data", "required field is missing", True),
    ("model-missing", {"spec.model": _DELETE}, "spec.model", "required field is missing", True),
    ("model-path-empty", {"spec.model.path": ""}, "spec.model.path", "at least 1 character", True),
    ("url-scheme", {"spec.data.train": {"url": "ftp://host/a.json"}}, "spec.data.train.url", "only http(s) URLs",
     True),
    ("configmap-key-bad", {"spec.data.train": {"configMap": {"name": "d", "key": "a b.json"}}},
     "spec.data.train.configMap.key", "a valid config key", True),
    ("reward-two-sources", {"spec.reward": {"inline": "def compute_score(**k): return 1", "path": "/r.py"}},
     "spec.reward", "set at most one of configMapRef, inline, path", True),
    ("reward-function-name", {"spec.reward.functionName": "compute-score"}, "spec.reward.functionName",
     "should match pattern", True),
    ("unknown-field-typo", {"spec.grpo.rolloutn": 8}, "spec.grpo.rolloutn", "unknown field", True),
    ("unknown-top-level-field", {"spec.gpus": 8}, "spec.gpus", "unknown field", True),
    ("override-managed-key", {"spec.overrides": ["actor_rollout_ref.rollout.n=8"]}, "spec.overrides",
     "it is set from spec.grpo.rolloutN", True),
    ("override-legacy-reward", {"spec.overrides": ["+custom_reward_function.path=/r.py"]}, "spec.overrides",
     "silently ignores the legacy top-level key", True),
    ("override-not-key-value", {"spec.overrides": ["=3"]}, "spec.overrides[0]", "should match pattern", True),
    ("resume-path-without-from", {"spec.checkpoint.resumeMode": "resume_path"}, "spec.checkpoint",
     "resumeMode resume_path needs resumeFrom", True),
    ("resume-mode-unknown", {"spec.checkpoint.resumeMode": "latest"}, "spec.checkpoint.resumeMode",
     "'auto', 'disable' or 'resume_path'", True),
    ("pvc-name-uppercase", {"spec.checkpoint.claimName": "MyPVC"}, "spec.checkpoint.claimName",
     "should match pattern", True),
    ("backoff-negative", {"spec.backoffLimit": -1}, "spec.backoffLimit", "greater than or equal to 0", True),
    ("deadline-zero", {"spec.activeDeadlineSeconds": 0}, "spec.activeDeadlineSeconds", "greater than or equal to 1",
     True),
    ("toleration-operator", {"spec.pod.tolerations": [{"key": "k", "operator": "Maybe"}]},
     "spec.pod.tolerations[0].operator", "'Exists' or 'Equal'", True),
    ("env-without-name", {"spec.pod.env": [{"value": "x"}]}, "spec.pod.env[0].name", "required field is missing",
     True),
    ("run-as-root", {"spec.pod.securityContext": {"runAsUser": 0}}, "spec.pod.securityContext.runAsUser",
     "greater than or equal to 1", True),
    ("fs-group-root", {"spec.pod.securityContext": {"fsGroup": 0}}, "spec.pod.securityContext.fsGroup",
     "greater than or equal to 1", True),
    ("capability-not-allowed", {"spec.pod.securityContext": {"addCapabilities": ["SYS_ADMIN"]}},
     "spec.pod.securityContext.addCapabilities[0]", "'IPC_LOCK', 'SYS_NICE' or 'NET_BIND_SERVICE'", True),
    ("automount-not-bool", {"spec.pod.automountServiceAccountToken": "yes please"},
     "spec.pod.automountServiceAccountToken", "valid boolean", True),
    ("name-too-long", {"metadata.name": "a" * 48}, "metadata.name", "at most 47 characters", True),
    # Issue 14: what the API server would refuse in a child, or what would fail later in the pod.
    ("label-value-too-long", {"spec.pod.labels": {"team": "x" * 64}}, "spec.pod.labels.team",
     "at most 63 characters", True),
    ("label-key-invalid", {"spec.pod.labels": {"bad key!": "x"}}, "spec.pod.labels",
     "name part must consist of alphanumeric", False),
    ("kueue-queue-label-too-long", {"metadata.labels": {"kueue.x-k8s.io/queue-name": "q" * 64}},
     "metadata.labels.kueue.x-k8s.io/queue-name", "at most 63 characters", False),
    ("annotations-too-big", {"spec.pod.annotations": {f"a{i}": "x" * 1024 for i in range(300)}},
     "spec.pod.annotations", "may not be more than 262144 bytes", False),
    ("node-selector-key-space", {"spec.pod.nodeSelector": {"gpu type": "a100"}}, "spec.pod.nodeSelector",
     "name part must consist of alphanumeric", False),
    ("toleration-exists-with-value", {"spec.pod.tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]},
     "spec.pod.tolerations[0]", "value must be empty when operator is Exists", True),
    ("toleration-seconds-without-noexecute",
     {"spec.pod.tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}]},
     "spec.pod.tolerations[0]", "effect must be NoExecute when tolerationSeconds is set", True),
    ("toleration-no-key-equal", {"spec.pod.tolerations": [{"operator": "Equal", "value": "v"}]},
     "spec.pod.tolerations[0]", "operator must be Exists when key is empty", True),
    ("env-value-and-value-from",
     {"spec.pod.env": [{"name": "A", "value": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
     "spec.pod.env[0]", "set value or valueFrom, not both", True),
    ("env-empty-value-from", {"spec.pod.env": [{"name": "A", "valueFrom": {}}]}, "spec.pod.env[0].valueFrom",
     "set exactly one of secretKeyRef", True),
    ("env-field-ref-unknown", {"spec.pod.env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.x"}}}]},
     "spec.pod.env[0].valueFrom.fieldRef.fieldPath", "should match pattern", True),
    ("env-from-no-ref", {"spec.pod.envFrom": [{"prefix": "P_"}]}, "spec.pod.envFrom[0]",
     "set exactly one of secretRef, configMapRef", True),
    ("env-ray-address", {"spec.pod.env": [{"name": "RAY_ADDRESS", "value": "ray://x:10001"}]}, "spec.pod",
     "env may not set RAY_ADDRESS: the operator manages it", True),
    ("image-whitespace", {"spec.image": "repo/trainer :1"}, "spec.image", "must not contain whitespace", True),
    ("gpu-resource-native", {"spec.resources.gpuResourceName": "cpu"}, "spec.resources.gpuResourceName",
     "must be an extended resource name", True),
    ("gpu-resource-kubernetes-io", {"spec.resources.gpuResourceName": "kubernetes.io/gpu"},
     "spec.resources.gpuResourceName", "must be an extended resource name", True),
    ("ttl-int32-overflow", {"spec.ttlSecondsAfterFinished": 2**31}, "spec.ttlSecondsAfterFinished",
     "less than or equal to 2147483647", True),
    ("deadline-int32-overflow", {"spec.activeDeadlineSeconds": 2**31}, "spec.activeDeadlineSeconds",
     "less than or equal to 2147483647", True),
    ("affinity-not-core-v1", {"spec.pod.affinity": {"nodeAffinity": {"required": [{"key": "a"}]}}},
     "spec.pod.affinity.nodeAffinity.required", "unknown field", True),
    ("affinity-in-without-values", {"spec.pod.affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In"}]}]}}}},
     "spec.pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
     ".matchExpressions[0]", "values: must be non-empty for In/NotIn", True),
    # under the 262144-character limit, but 1 MiB in UTF-8 (and in the job.json of the config ConfigMap)
    ("inline-reward-over-1mib", {"spec.reward.inline": "# " + "\U0001F600" * 262000}, "spec",
     "must fit the 1 MiB config ConfigMap", False),
    ("config-over-1mib", {"spec.reward.inline": "# " + "\u00e9" * 262000,
                          "spec.pod.env": [{"name": f"E{i}", "value": "x" * 1000} for i in range(600)]},
     "spec", "must fit the 1 MiB config ConfigMap", False),
    ("url-s3", {"spec.data.train": {"url": "s3://bucket/a.json"}}, "spec.data.train.url", "use a PVC", True),
    ("url-gs", {"spec.data.train": {"url": "gs://bucket/a.json"}}, "spec.data.train.url",
     "for s3:// or gs:// data use a PVC", True),
    ("url-dot-dot", {"spec.data.train": {"url": "https://host/data/.."}}, "spec.data.train.url",
     "must name a file", True),
    ("url-space", {"spec.data.train": {"url": "https://host/my data.json"}}, "spec.data.train.url",
     "without whitespace", True),
    ("embedded-data-unknown", {"spec.data.train": {"path": "embedded:gsm8k"}}, "spec.data.train.path",
     "unknown embedded data set; known: embedded:math, embedded:parity", True),
    ("embedded-model-unknown", {"spec.model.path": "embedded:huge"}, "spec.model.path",
     "unknown embedded model; known: embedded:tiny", True),
    ("trl-with-gpus", {"spec.engine": "trl", "spec.resources.gpusPerNode": 1}, "spec",
     "engine trl trains on CPU without LoRA", True),
    ("trl-with-lora", {"spec.engine": "trl", "spec.resources.gpusPerNode": 0, "spec.model.loraRank": 8}, "spec",
     "(got gpusPerNode=0, loraRank=8)", True),
    ("pvc-path-dot-dot", {"spec.data.train": {"pvc": {"claimName": "d", "path": "sets/../../etc/passwd"}}},
     "spec.data.train.pvc.path", "must not contain a '..' path element", True),
    ("configmap-key-dot-dot", {"spec.data.train": {"configMap": {"name": "d", "key": "..data"}}},
     "spec.data.train.configMap.key", "must not start with '..'", True),
    ("name-with-dot", {"metadata.name": "my.job"}, "metadata.name", "DNS-1035 label", True),
    ("name-leading-digit", {"metadata.name": "1job"}, "metadata.name", "starting with a letter", True),
    ("memory-negative", {"spec.resources.memory": "-1Gi"}, "spec.resources.memory", "must be a Kubernetes quantity",
     True),
    ("wrong-api-version", {"apiVersion": "grpo.dev/v1"}, "apiVersion", "must be 'grpo.dev/v1alpha1'", False),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_invalid_manifest_is_rejected_with_its_field(case):
    _id, changes, field, words, api_server_rejects = case
    manifest = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        _set(manifest, dotted, value)
    with pytest.raises(GRPOJobInvalid) as exc:
        parse_grpojob(manifest)
    lines = exc.value.errors
    assert any(line.startswith(field + ":") and words in line for line in lines), lines
    if api_server_rejects:
        _, errors = validate_against_crd(build_crd(), manifest)
        assert errors, f"the CRD accepts what the models reject: {lines}"


def test_there_are_at_least_30_cases():
    assert len(CASES) >= 30


def test_base_manifest_is_valid():
    parse_grpojob(BASE)
    assert validate_against_crd(build_crd(), BASE)[1] == []


def test_every_problem_is_reported_at_once():
    manifest = copy.deepcopy(BASE)
    manifest["spec"]["grpo"] = {"rolloutN": 0, "klLossCoef": -1}
    manifest["spec"]["training"] = {"batchSize": 0}
    with pytest.raises(GRPOJobInvalid) as exc:
        parse_grpojob(manifest, "job.yaml")
    assert len(exc.value.errors) == 3
    assert "invalid GRPOJob in job.yaml" in str(exc.value)


def test_non_mapping_is_rejected():
    with pytest.raises(GRPOJobInvalid, match="expected a mapping"):
        parse_grpojob(["not", "a", "manifest"])


@pytest.mark.parametrize("memory", ["64e9", "64E9", "1.5Gi", "500m", ".5", "1e-3", "+8", "100n", "12u", "2P"])
def test_every_valid_quantity_is_accepted(memory):
    manifest = copy.deepcopy(BASE)
    manifest["spec"]["resources"] = {"memory": memory, "cpu": memory, "shmSize": memory}
    parse_grpojob(manifest)
    assert validate_against_crd(build_crd(), manifest)[1] == []
