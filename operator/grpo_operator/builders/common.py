"""Metadata every child object shares: names, labels, the owner reference, the Kueue queue label."""

import os
from typing import Any

from grpo_api import GRPOJob
from grpo_api import constants as c

# app.kubernetes.io/component of each child.
COMPONENT_CONFIG = "config"
COMPONENT_REWARD = "reward"
COMPONENT_TRAINER = "trainer"
APP_NAME = "grpo-trainer"


def default_image() -> str:
    """The trainer image for GRPOJobs without spec.image: $GRPO_TRAINER_IMAGE or the release default."""
    return os.environ.get(c.TRAINER_IMAGE_ENV) or c.DEFAULT_TRAINER_IMAGE


def job_name(job: GRPOJob) -> str:
    name = job.metadata.name
    if not name:
        raise ValueError("metadata.name: required to build the children of a GRPOJob (generateName is not enough)")
    return name


def workload_name(job: GRPOJob) -> str:
    """Name of the batch/v1 Job or ray.io/v1 RayJob (the GRPOJob's own name; at most 47 chars for KubeRay)."""
    return job_name(job)


def labels(name: str, component: str) -> dict[str, str]:
    """Labels on every child object and pod; `grpo.dev/grpojob` selects everything of one GRPOJob."""
    return {
        c.LABEL_NAME: APP_NAME,
        c.LABEL_INSTANCE: name,
        c.LABEL_COMPONENT: component,
        c.LABEL_MANAGED_BY: c.MANAGED_BY,
        c.LABEL_PART_OF: c.MANAGED_BY,
        c.LABEL_GRPOJOB: name,
    }


def owner_reference(name: str, uid: str) -> dict[str, Any]:
    """The GRPOJob as controller owner: deleting it garbage-collects the child."""
    if not uid:
        raise ValueError("uid: the GRPOJob's metadata.uid is required for the owner reference")
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def kueue_queue(job: GRPOJob) -> str | None:
    """The Kueue LocalQueue named on the GRPOJob, if any."""
    return (job.metadata.labels or {}).get(c.KUEUE_QUEUE_LABEL)


def is_suspended(job: GRPOJob) -> bool:
    """A child starts suspended when the user asks for it or when Kueue must admit it first."""
    return job.spec.suspend or kueue_queue(job) is not None


def object_meta(job: GRPOJob, *, name: str, namespace: str, uid: str, component: str,
                queue_label: bool = False) -> dict[str, Any]:
    meta_labels = labels(job_name(job), component)
    queue = kueue_queue(job)
    if queue_label and queue is not None:
        meta_labels[c.KUEUE_QUEUE_LABEL] = queue
    return {
        "name": name,
        "namespace": namespace,
        "labels": meta_labels,
        "ownerReferences": [owner_reference(job_name(job), uid)],
    }
