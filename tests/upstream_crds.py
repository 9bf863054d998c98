"""Validate objects against the real CRDs of the controllers that consume them (KubeRay, prometheus-operator).

The CRDs live in `../shared/upstream-crds` (relative to the repository root; see its README for the release
tags and checksums). A CRD's `openAPIV3Schema` is OpenAPI v3.0, which the API server reads with these rules;
`to_draft4` turns it into a JSON Schema Draft 4 document that `jsonschema` checks the same way:

- strict unknown fields (`kubectl`'s default `fieldValidation=Strict`): every object schema that lists
  `properties` gets `additionalProperties: false`, and an object schema with neither `properties` nor
  `additionalProperties` accepts no field at all (the API server prunes, and strict validation refuses, what a
  structural schema does not name), unless it says `x-kubernetes-preserve-unknown-fields: true`. The root
  `metadata` is ObjectMeta, which the API server validates itself; it is left open here;
- `nullable: true` also allows null;
- `x-kubernetes-int-or-string: true` allows an integer or a string (the CRDs also spell it as anyOf);
- `exclusiveMinimum`/`exclusiveMaximum` are booleans, as in Draft 4;
- `x-kubernetes-validations` (CEL) are evaluated with cel-python where the object has the field.

Formats (int32, date-time, ...) and defaults are not applied. `validate` returns readable errors
(`spec.rayClusterSpec.foo: unknown field`); an empty list means the object would be accepted.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
UPSTREAM_CRDS = REPO.parent / "shared" / "upstream-crds"

# kind -> CRD file (the README of the folder names the upstream tag of each).
CRD_FILES = {
    "RayJob": "ray.io_rayjobs.yaml",
    "ServiceMonitor": "monitoring.coreos.com_servicemonitors.yaml",
    "PodMonitor": "monitoring.coreos.com_podmonitors.yaml",
    "PrometheusRule": "monitoring.coreos.com_prometheusrules.yaml",
}


def require_upstream_crds() -> Path:
    """The folder of upstream CRDs; skips the calling test when it is absent (a checkout without ../shared)."""
    if not (UPSTREAM_CRDS / CRD_FILES["RayJob"]).is_file():
        pytest.skip(f"upstream CRDs not found at {UPSTREAM_CRDS} (the project's shared folder, "
                    "../shared/upstream-crds from the repository root); nothing to validate against")
    return UPSTREAM_CRDS


@functools.cache
def load_crd(kind: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the RayJob CRD is 1.4 MB
    return yaml.load((require_upstream_crds() / CRD_FILES[kind]).read_text(), Loader=loader)


def crd_schema(kind: str, version: str) -> dict[str, Any]:
    crd = load_crd(kind)
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            return v["schema"]["openAPIV3Schema"]
    raise KeyError(f"{kind}: the CRD serves no version {version!r} "
                   f"(it has {[v['name'] for v in crd['spec']['versions']]})")


def to_draft4(schema: dict[str, Any], *, root: bool = True) -> dict[str, Any]:
    """A Draft 4 JSON Schema with the API server's OpenAPI v3.0 semantics (see the module docstring)."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "default", "format", "description"):
            continue
        if key == "properties":
            out[key] = {name: to_draft4(sub, root=False) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = to_draft4(value, root=False)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [to_draft4(sub, root=False) for sub in value]
        else:
            out[key] = copy.deepcopy(value)
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") or schema.get("x-kubernetes-embedded-resource")
    is_object = schema.get("type") == "object"
    if is_object and not preserve and "additionalProperties" not in schema:
        out["additionalProperties"] = False  # named properties only (none when the schema lists none)
    if root:
        props = out.setdefault("properties", {})
        props["metadata"] = {"type": "object"}  # ObjectMeta: the API server's own validation
    return out


@functools.cache
def _validator(kind: str, version: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(to_draft4(crd_schema(kind, version)))


def _path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out.lstrip(".") or "<root>"


def _cel_errors(schema: dict[str, Any], obj: Any, path: list, env: celpy.Environment) -> list[str]:
    errors: list[str] = []
    for rule in schema.get("x-kubernetes-validations", []):
        try:
            ok = bool(env.program(env.compile(rule["rule"])).evaluate({"self": celpy.json_to_cel(obj)}))
        except celpy.CELEvalError as exc:
            ok, rule = False, {**rule, "message": f"{rule.get('message', rule['rule'])} (CEL error: {exc})"}
        if not ok:
            errors.append(f"{_path(path)}: {rule.get('message', rule['rule'])}")
    if isinstance(obj, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key in obj:
                errors += _cel_errors(sub, obj[key], [*path, key], env)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(obj):
            errors += _cel_errors(schema["items"], item, [*path, i], env)
    return errors


def validate(obj: dict[str, Any]) -> list[str]:
    """Errors the API server would report for `obj` (a RayJob, ServiceMonitor, PodMonitor or PrometheusRule)."""
    kind = obj.get("kind")
    if kind not in CRD_FILES:
        raise KeyError(f"kind: {kind!r} has no upstream CRD here (known: {sorted(CRD_FILES)})")
    version = str(obj.get("apiVersion", "")).rsplit("/", 1)[-1]
    errors = []
    for err in _validator(kind, version).iter_errors(obj):
        where = _path(err.absolute_path)
        if err.validator == "additionalProperties" and err.validator_value is False:
            known = set(err.schema.get("properties") or {})
            for key in sorted(set(err.instance) - known):
                errors.append(f"{_path([*err.absolute_path, key])}: unknown field")
        else:
            errors.append(f"{where}: {err.message}")
    errors += _cel_errors(crd_schema(kind, version), obj, [], celpy.Environment())
    return errors
