"""Generate the GRPOJob CustomResourceDefinition from the pydantic models.

`python -m grpo_api.crd --write` writes the checked-in CRD (and the Helm chart's copy); a test fails
when they differ from the models. The pydantic JSON schema is turned into a Kubernetes *structural* schema: $refs inlined, Optional[X]
collapsed to X (nulls are pruned by the API server), `title` dropped, numeric exclusive bounds in OpenAPI v3.0
form, free-form maps marked `x-kubernetes-preserve-unknown-fields`, and nested groups (default_factory) defaulted
to `{}` so their own defaults (and the CEL rules that read them) always apply.
"""

import sys
from typing import Any

import yaml

from .constants import GROUP, KIND, MAX_NAME_LENGTH, PLURAL, SHORT_NAMES, SINGULAR, VERSION
from .k8s_rules import DNS1035_LABEL_PATTERN
from .spec import GRPOJobSpec
from .status import GRPOJobStatus

_KEEP = {"type", "properties", "items", "required", "enum", "default", "description", "minimum", "maximum",
         "minLength", "maxLength", "pattern", "minItems", "maxItems", "additionalProperties", "format"}


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].split("/")[-1]]
        extra = {k: v for k, v in node.items() if k != "$ref"}
        return _structural({**target, **extra}, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express a union in a structural schema: {node}")
        merged = {**{k: v for k, v in node.items() if k != "anyOf"}, **options[0]}
        if merged.get("default", 0) is None:
            del merged["default"]
        return _structural(merged, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            out[key] = value
        elif key == "const":
            out["enum"] = [value]
        elif key == "exclusiveMinimum":
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key == "exclusiveMaximum":
            out["maximum"], out["exclusiveMaximum"] = value, True
        elif key == "properties":
            out["properties"] = {k: _property(v, defs) for k, v in value.items()}
        elif key == "items":
            out["items"] = _structural(value, defs)
        elif key == "additionalProperties":
            if value is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                out["additionalProperties"] = _structural(value, defs)
            # False: the structural default already prunes unknown fields
        elif key in _KEEP:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def _property(raw: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A nested group built by default_factory (a bare $ref, no default) defaults to {} so its own field
    defaults apply; an Optional group (default None) stays absent."""
    prop = _structural(raw, defs)
    is_group = "$ref" in raw and "default" not in raw
    if is_group and prop.get("type") == "object" and not prop.get("required"):
        prop["default"] = {}
    return prop


def _subschema(model: type, group_defaults: bool) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema = _structural(raw, raw.get("$defs", {}))
    if not group_defaults:
        _strip_defaults(schema)
    return schema


def _strip_defaults(schema: dict[str, Any]) -> None:
    schema.pop("default", None)
    for child in schema.get("properties", {}).values():
        _strip_defaults(child)
    if isinstance(schema.get("items"), dict):
        _strip_defaults(schema["items"])


def openapi_schema() -> dict[str, Any]:
    spec = _subschema(GRPOJobSpec, group_defaults=True)
    status = _subschema(GRPOJobStatus, group_defaults=False)
    return {
        "type": "object",
        "description": f"{KIND} runs GRPO reinforcement-learning training of an LLM (verl on GPUs, or TRL on CPU).",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
        "x-kubernetes-validations": [{
            "rule": f"self.metadata.name.size() <= {MAX_NAME_LENGTH}",
            "message": f"metadata.name must be at most {MAX_NAME_LENGTH} characters so child names "
                       "(RayJob, Job, ConfigMaps) fit",
        }, {
            "rule": f"self.metadata.name.matches('{DNS1035_LABEL_PATTERN}')",
            "message": "metadata.name must be a DNS-1035 label (it names Services and RayJobs): lower-case letters, "
                       "digits and '-', starting with a letter",
        }],
    }


PRINTER_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Reason", "type": "string", "jsonPath": ".status.reason"},
    {"name": "Model", "type": "string", "jsonPath": ".spec.model.path"},
    {"name": "RolloutN", "type": "integer", "jsonPath": ".spec.grpo.rolloutN"},
    {"name": "Step", "type": "integer", "jsonPath": ".status.progress.globalStep"},
    {"name": "Total", "type": "integer", "jsonPath": ".status.progress.totalSteps"},
    {"name": "Reward", "type": "number", "jsonPath": ".status.progress.rewardMean"},
    # `kubectl get grpo -o wide` only
    {"name": "Nodes", "type": "integer", "jsonPath": ".spec.resources.nodes", "priority": 1},
    {"name": "GPUs/Node", "type": "integer", "jsonPath": ".spec.resources.gpusPerNode", "priority": 1},
    {"name": "KL", "type": "number", "jsonPath": ".status.progress.klLoss", "priority": 1},
    {"name": "Queue", "type": "string", "jsonPath": ".metadata.labels.kueue\\.x-k8s\\.io/queue-name",
     "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def build_crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"kind": KIND, "listKind": f"{KIND}List", "plural": PLURAL, "singular": SINGULAR,
                      "shortNames": SHORT_NAMES, "categories": ["all", "ml"]},
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": PRINTER_COLUMNS,
                "schema": {"openAPIV3Schema": openapi_schema()},
            }],
        },
    }


HEADER = "# GENERATED by `python -m grpo_api.crd` from the pydantic models. Do not edit.\n"


def render_crd_yaml() -> str:
    return HEADER + yaml.safe_dump(build_crd(), sort_keys=False, width=120)


# Every checked-in copy of the CRD (the Helm chart templates its copy); tests keep them identical.
CRD_COPIES = ("crds/grpojob.yaml", "charts/grpo-operator/files/crd.yaml")


def main(argv: list[str] | None = None) -> None:
    """Print the CRD; `--write` updates every checked-in copy (run from the repository root)."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--write"]:
        from pathlib import Path

        for copy in CRD_COPIES:
            Path(copy).write_text(render_crd_yaml())
        return
    sys.stdout.write(render_crd_yaml())


if __name__ == "__main__":
    main()
