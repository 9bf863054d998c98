"""The config ConfigMap (the resolved GRPOJob the trainer reads) and the inline reward ConfigMap."""

import json
from typing import Any

from grpo_api import GRPOJob
from grpo_api.constants import CONFIG_KEY
from grpo_api.pod_paths import INLINE_REWARD_KEY, config_map_name, reward_config_map_name

from .common import COMPONENT_CONFIG, COMPONENT_REWARD, job_name, object_meta


def resolved_job(job: GRPOJob, *, uid: str, namespace: str) -> dict[str, Any]:
    """The GRPOJob with every default filled in, as the trainer reads it (`parse_grpojob` accepts it)."""
    wire = job.to_wire()
    wire.pop("status", None)
    wire["metadata"] = {"name": job_name(job), "namespace": namespace, "uid": uid}
    return wire


def render_config_json(job: GRPOJob, *, uid: str, namespace: str) -> str:
    return json.dumps(resolved_job(job, uid=uid, namespace=namespace), indent=2, sort_keys=True,
                      ensure_ascii=False) + "\n"


def build_config_configmap(job: GRPOJob, *, uid: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(job, name=config_map_name(job_name(job)), namespace=namespace, uid=uid,
                                component=COMPONENT_CONFIG),
        "data": {CONFIG_KEY: render_config_json(job, uid=uid, namespace=namespace)},
    }


def build_reward_configmap(job: GRPOJob, *, uid: str, namespace: str) -> dict[str, Any] | None:
    """Only for `spec.reward.inline`; a configMapRef is mounted as it is and a path is in the image."""
    inline = job.spec.reward.inline
    if inline is None:
        return None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(job, name=reward_config_map_name(job_name(job)), namespace=namespace, uid=uid,
                                component=COMPONENT_REWARD),
        "data": {INLINE_REWARD_KEY: inline},
    }
