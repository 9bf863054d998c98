"""Pins the metadata every child shares (grpo_operator.builders.common) and the choice of children
(grpo_operator.builders.build_children/build_workload) where mutation testing found them unpinned: the labels,
owner reference and queue label a user sees on every child, when a child starts suspended, and which image runs."""

from __future__ import annotations

import pytest

from grpo_api import constants as c
from grpo_api import parse_grpojob
from grpo_api.spec import PodSpec
from grpo_operator.builders import (
    build_children,
    build_workload,
    default_image,
    is_suspended,
    kueue_queue,
    labels,
    owner_reference,
)

UID = "6f1c2a9e-1111-4c2b-9a51-0123456789ab"
IMAGE = "registry.example/grpo-trainer:test"
LABELS = {"app.kubernetes.io/name": "grpo-trainer", "app.kubernetes.io/instance": "pin",
          "app.kubernetes.io/component": "trainer", "app.kubernetes.io/managed-by": "grpo-operator",
          "app.kubernetes.io/part-of": "grpo-operator", "grpo.dev/grpojob": "pin"}


def job(labels_: dict | None = None, nodes: int = 1, **spec):
    body = {"model": {"path": "Qwen/Qwen2.5-0.5B-Instruct"}, "data": {"train": {"path": "embedded:math"}},
            "checkpoint": {"claimName": "shared"}, "resources": {"nodes": nodes, "gpusPerNode": 1}}
    body.update(spec)
    meta = {"name": "pin", "namespace": "team-a"}
    if labels_ is not None:
        meta["labels"] = labels_
    return parse_grpojob({"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob", "metadata": meta, "spec": body})


def test_labels_and_owner_reference_of_every_child():
    assert labels("pin", "trainer") == LABELS
    assert owner_reference("pin", UID) == {"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob", "name": "pin",
                                           "uid": UID, "controller": True, "blockOwnerDeletion": True}
    with pytest.raises(ValueError, match="uid"):
        owner_reference("pin", "")
    for obj in build_children(job(), uid=UID, image=IMAGE, namespace="team-a"):
        assert obj["metadata"]["ownerReferences"] == [owner_reference("pin", UID)]
        assert obj["metadata"]["labels"] == {**LABELS, "app.kubernetes.io/component":
                                             obj["metadata"]["labels"]["app.kubernetes.io/component"]}


@pytest.mark.parametrize("meta_labels", [None, {}, {"team": "ml"}])
def test_no_queue_label_no_queue_and_not_suspended(meta_labels):
    j = job(meta_labels)
    assert kueue_queue(j) is None and is_suspended(j) is False
    for obj in build_children(j, uid=UID, image=IMAGE, namespace="team-a"):
        assert c.KUEUE_QUEUE_LABEL not in obj["metadata"]["labels"]


@pytest.mark.parametrize("nodes", [1, 2])
def test_suspend_comes_from_spec_or_from_a_queue(nodes):
    assert is_suspended(job(nodes=nodes, suspend=True)) is True
    queued = job({c.KUEUE_QUEUE_LABEL: "q"}, nodes=nodes)
    assert kueue_queue(queued) == "q" and is_suspended(queued) is True
    objs = build_children(queued, uid=UID, image=IMAGE, namespace="team-a")
    assert [o["metadata"]["labels"].get(c.KUEUE_QUEUE_LABEL) for o in objs] == [None] * (len(objs) - 1) + ["q"]
    assert objs[-1]["spec"]["suspend"] is True
    assert build_children(job(nodes=nodes), uid=UID, image=IMAGE, namespace="team-a")[-1]["spec"]["suspend"] is False


def test_default_image_ignores_an_empty_variable(monkeypatch):
    monkeypatch.setenv(c.TRAINER_IMAGE_ENV, "")
    assert default_image() == c.DEFAULT_TRAINER_IMAGE


def test_one_node_runs_a_job_more_nodes_a_rayjob_with_the_spec_image_winning():
    def image_of(workload):
        if workload["kind"] == "Job":
            return workload["spec"]["template"]["spec"]["containers"][0]["image"]
        return workload["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]

    one = build_workload(job(), uid=UID, image=IMAGE, namespace="team-a")
    two = build_workload(job(nodes=2), uid=UID, image=IMAGE, namespace="team-a")
    assert (one["kind"], two["kind"]) == ("Job", "RayJob")
    assert image_of(one) == image_of(two) == IMAGE
    assert image_of(build_workload(job(image="mine:1"), uid=UID, image=IMAGE, namespace="team-a")) == "mine:1"


def test_pod_defaults_apply_under_the_jobs_own_pod_fields():
    defaults = PodSpec.model_validate({"priorityClassName": "low", "nodeSelector": {"pool": "gpu"}})
    j = job(pod={"priorityClassName": "high"})
    pod = build_workload(j, uid=UID, image=IMAGE, namespace="team-a", pod_defaults=defaults)["spec"]["template"]["spec"]
    assert (pod["priorityClassName"], pod["nodeSelector"]) == ("high", {"pool": "gpu"})
    pod = build_children(j, uid=UID, image=IMAGE, namespace="team-a", pod_defaults=defaults)[-1]["spec"]["template"]["spec"]
    assert (pod["priorityClassName"], pod["nodeSelector"]) == ("high", {"pool": "gpu"})
