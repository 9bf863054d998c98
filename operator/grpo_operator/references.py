"""Check that the ConfigMaps a GRPOJob names exist (and hold the named keys) before running it.

Without this, a typo in a ConfigMap name shows up much later as a pod stuck in ContainerCreating; with it,
the GRPOJob fails at once with a condition that names the field, the object and the missing key.

Secrets are never read: the operator has no permission on them (`get` would return their data). A missing
Secret shows up in the trainer pod's own state (CreateContainerConfigError), which status_derive reports as
SecretNotFound naming the Secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grpo_api import GRPOJob


@dataclass(frozen=True)
class Ref:
    kind: str  # ConfigMap
    name: str
    key: str | None
    field: str  # where the spec names it
    reason: str  # condition reason when it is missing


def referenced_objects(job: GRPOJob) -> list[Ref]:
    """Every required ConfigMap the trainer pod needs (optional refs and Secrets are left out)."""
    spec = job.spec
    refs: list[Ref] = []
    for part in ("train", "val"):
        source = getattr(spec.data, part)
        if source is not None and source.config_map is not None:
            refs.append(Ref("ConfigMap", source.config_map.name, source.config_map.key,
                            f"spec.data.{part}.configMap", "DataConfigMapNotFound"))
    if spec.reward.config_map_ref is not None:
        ref = spec.reward.config_map_ref
        refs.append(Ref("ConfigMap", ref.name, ref.key, "spec.reward.configMapRef", "RewardConfigMapNotFound"))
    for i, env in enumerate(spec.pod.env or []):
        source = env.value_from
        if source is None:
            continue
        if source.config_map_key_ref is not None and not source.config_map_key_ref.optional:
            sel = source.config_map_key_ref
            refs.append(Ref("ConfigMap", sel.name, sel.key, f"spec.pod.env[{i}].valueFrom.configMapKeyRef",
                            "ConfigMapNotFound"))
    for i, env_from in enumerate(spec.pod.env_from or []):
        if env_from.config_map_ref is not None and not env_from.config_map_ref.optional:
            refs.append(Ref("ConfigMap", env_from.config_map_ref.name, None, f"spec.pod.envFrom[{i}].configMapRef",
                            "ConfigMapNotFound"))
    return refs


def objects_to_fetch(job: GRPOJob) -> list[tuple[str, str]]:
    """(kind, name) of each required ConfigMap, once each, in the order the spec names them."""
    return list(dict.fromkeys((ref.kind, ref.name) for ref in referenced_objects(job)))


def missing_references(job: GRPOJob, namespace: str,
                       objects: Mapping[tuple[str, str], dict[str, Any] | None]) -> list[tuple[str, str]]:
    """(reason, message) for each reference that does not resolve; `objects` maps each of `objects_to_fetch`
    to the object as read from the API (None: not found)."""
    problems = []
    for ref in referenced_objects(job):
        obj = objects[(ref.kind, ref.name)]
        if obj is None:
            problems.append((ref.reason, f"{ref.field}: {ref.kind} {namespace}/{ref.name} not found "
                                         f"(create it, or fix the name)"))
            continue
        keys = set(obj.get("data") or {}) | set(obj.get("binaryData") or {}) | set(obj.get("stringData") or {})
        if ref.key is not None and ref.key not in keys:
            problems.append((ref.reason, f"{ref.field}: {ref.kind} {namespace}/{ref.name} has no key {ref.key!r} "
                                         f"(keys: {', '.join(sorted(keys)) or 'none'})"))
    return problems
