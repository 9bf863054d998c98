"""What the API server does with a GRPOJob before storing it, for tests that have no API server:

strict field validation (kubectl's default: unknown fields are errors), structural defaulting, OpenAPI
schema validation (jsonschema, Draft 4 semantics as Kubernetes uses: boolean exclusiveMinimum) and the
CRD's CEL rules (`x-kubernetes-validations`, evaluated with cel-python).
"""

import copy
from typing import Any

import celpy
import jsonschema


def _walk(schema: dict[str, Any], obj: Any, path: str, errors: list[str], env: celpy.Environment) -> Any:
    """Default, check unknown fields and run CEL rules top-down; returns the defaulted object."""
    if isinstance(obj, dict) and schema.get("type") == "object":
        props = schema.get("properties")
        if props is not None and not schema.get("x-kubernetes-preserve-unknown-fields"):
            errors.extend(f"{path}.{key}: unknown field".lstrip(".") for key in obj if key not in props)
        for key, sub in (props or {}).items():
            if key not in obj and "default" in sub:
                obj[key] = copy.deepcopy(sub["default"])
            if key in obj:
                obj[key] = _walk(sub, obj[key], f"{path}.{key}".lstrip("."), errors, env)
        if isinstance(schema.get("additionalProperties"), dict):
            for key in obj:
                obj[key] = _walk(schema["additionalProperties"], obj[key], f"{path}.{key}", errors, env)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        obj = [_walk(schema["items"], item, f"{path}[{i}]", errors, env) for i, item in enumerate(obj)]
    for rule in schema.get("x-kubernetes-validations", []):
        program = env.program(env.compile(rule["rule"]))
        try:
            ok = program.evaluate({"self": celpy.json_to_cel(obj)})
        except celpy.CELEvalError as exc:  # e.g. no such key: the API server reports it too
            ok = False
            rule = {**rule, "message": f"{rule['message']} (CEL error: {exc})"}
        if not bool(ok):
            errors.append(f"{path or '<root>'}: {rule['message']}")
    return obj


def validate_against_crd(crd: dict[str, Any], manifest: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Return (defaulted object, errors) the way the API server would see them."""
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    obj = copy.deepcopy(manifest)
    errors: list[str] = []
    obj = _walk(schema, obj, "", errors, celpy.Environment())
    validator = jsonschema.Draft4Validator(schema)
    for err in validator.iter_errors(obj):
        errors.append(f"{'.'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}")
    return obj, errors
