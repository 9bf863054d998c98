"""The generated CRD: in sync with the models, structural, accepted by Kubernetes' own schemas."""

from pathlib import Path

import kubernetes_validate
import yaml

from grpo_api.crd import build_crd, render_crd_yaml

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / "grpojob.yaml"


def test_committed_crd_matches_the_models():
    assert CRD_FILE.read_text() == render_crd_yaml(), (
        "crds/grpojob.yaml is stale: run `python -m grpo_api.crd --write`")


def test_crd_object_is_valid_for_kubernetes():
    kubernetes_validate.validate(yaml.safe_load(CRD_FILE.read_text()), "1.35", strict=True)


def _walk(schema, path="openAPIV3Schema"):
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{}}")


def test_schema_is_structural():
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        forbidden = {"$ref", "anyOf", "oneOf", "allOf", "title", "$defs", "const"} & node.keys()
        assert not forbidden, f"{path} has {forbidden}"
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), f"{path} has no type"
        if "default" in node:
            assert node["default"] is not None, f"{path} defaults to null"
        if "exclusiveMinimum" in node:
            assert node["exclusiveMinimum"] is True and "minimum" in node, path


def test_crd_metadata_printer_columns_and_status():
    version = build_crd()["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    cols = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert cols == {"Phase": ".status.phase", "Reason": ".status.reason", "Model": ".spec.model.path",
                    "RolloutN": ".spec.grpo.rolloutN", "Step": ".status.progress.globalStep",
                    "Total": ".status.progress.totalSteps", "Reward": ".status.progress.rewardMean",
                    "Nodes": ".spec.resources.nodes", "GPUs/Node": ".spec.resources.gpusPerNode",
                    "KL": ".status.progress.klLoss", "Queue": r".metadata.labels.kueue\.x-k8s\.io/queue-name",
                    "Age": ".metadata.creationTimestamp"}
    wide = {c["name"] for c in version["additionalPrinterColumns"] if c.get("priority") == 1}
    assert wide == {"Nodes", "GPUs/Node", "KL", "Queue"}  # `kubectl get grpo -o wide` only
    crd = build_crd()
    assert crd["spec"]["names"]["shortNames"] == ["grpo"]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    grpo = spec["properties"]["grpo"]["properties"]
    assert grpo["rolloutN"]["default"] == 5
    # only the estimators verl 0.9.1 computes ("full" raises NotImplementedError inside verl)
    assert grpo["klLossType"]["enum"] == ["kl", "k1", "abs", "mse", "k2", "low_var_kl", "k3",
                                          "kl+", "k1+", "abs+", "low_var_kl+", "k3+"]
    assert spec["properties"]["grpo"]["default"] == {}
    assert "default" not in spec["properties"]["data"]["properties"]["val"]  # optional, not a defaulted group
    rules = [r["rule"] for r in spec["x-kubernetes-validations"]]
    assert any("tensorParallelSize" in r for r in rules)
    assert any("claimName" in r for r in rules)


def _resolve(obj, path):
    """A printer column's JSONPath (dotted, with `\\.` escaping a dot inside a key) against an object."""
    keys = [k.replace("\0", ".") for k in path.replace("\\.", "\0").lstrip(".").split(".")]
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def test_printer_columns_resolve_on_a_job_with_status():
    from grpo_api.job import GRPOJob
    from grpo_api.status import GRPOJobStatus

    job = {"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob",
           "metadata": {"name": "a", "creationTimestamp": "2024-01-01T00:00:00Z",
                        "labels": {"kueue.x-k8s.io/queue-name": "team-a"}},
           "spec": {"model": {"path": "m"}, "data": {"train": {"path": "/d/t.json"}},
                    "resources": {"nodes": 2, "gpusPerNode": 8}, "checkpoint": {"claimName": "c"}},
           "status": {"phase": "Failed", "reason": "DataError",
                      "progress": {"globalStep": 3, "totalSteps": 90, "rewardMean": 0.5, "klLoss": 0.01}}}
    GRPOJobStatus.model_validate(job["status"])  # status.reason is part of the schema
    job["spec"] = GRPOJob.model_validate(job).model_dump(by_alias=True, exclude_none=True)["spec"]
    version = build_crd()["spec"]["versions"][0]
    got = {c["name"]: _resolve(job, c["jsonPath"]) for c in version["additionalPrinterColumns"]}
    assert got == {"Phase": "Failed", "Reason": "DataError", "Model": "m", "RolloutN": 5, "Step": 3, "Total": 90,
                   "Reward": 0.5, "Nodes": 2, "GPUs/Node": 8, "KL": 0.01, "Queue": "team-a",
                   "Age": "2024-01-01T00:00:00Z"}
