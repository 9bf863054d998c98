"""Unit tests of the operator's pure logic: status derivation, transition Events, reconcile plans, progress
parsing, reference checks, and the emulator's selector/patch helpers (no processes, no HTTP)."""

from __future__ import annotations

import json

import pytest
from prometheus_client import REGISTRY

from grpo_api import parse_grpojob
from grpo_operator import children, metrics
from grpo_operator.builders import build_children
from grpo_operator.events import transition_events
from grpo_operator.progress import parse_metrics, progress_status
from grpo_operator.references import missing_references, objects_to_fetch
from grpo_operator.status_derive import Observed, derive_status, missing_secret, status_changed, verdict
from tests.harness.emulator import match_fields, match_labels, merge_patch

NOW = "2026-01-01T00:00:00Z"


def job_obj(status=None, spec=None, name="j"):
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec or {},
            "status": status or {}}


def pod(phase="Running", ready=True, waiting=None, exit_code=None, evicted=False, created="2026-01-01T00:00:00Z"):
    cs = {"name": "trainer", "state": {}}
    if waiting:
        cs["state"] = {"waiting": {"reason": waiting, "message": "details"}}
    if exit_code is not None:
        cs["state"] = {"terminated": {"exitCode": exit_code}}
    conds = [{"type": "Ready", "status": "True" if ready else "False"}]
    if evicted:
        conds.append({"type": "DisruptionTarget", "status": "True"})
    return {"metadata": {"name": "p", "creationTimestamp": created},
            "status": {"phase": phase, "conditions": conds, "containerStatuses": [cs]}}


# --- verdicts ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("obs, phase, reason", [
    (Observed(spec_errors=["spec.grpo.rolloutN: too small"]), "Failed", "InvalidSpec"),
    (Observed(missing_refs=[("DataConfigMapNotFound", "spec.data.train.configMap: ConfigMap x not found")]),
     "Failed", "DataConfigMapNotFound"),
    (Observed(suspend=True), "Suspended", "SuspendedByUser"),
    (Observed(), "Pending", "CreatingWorkload"),
    (Observed(workload=job_obj(spec={"suspend": True}), queue_name="q"), "Queued", "WaitingForKueue"),
    (Observed(workload=job_obj({"active": 1})), "Initializing", "PodStarting"),
    (Observed(workload=job_obj({"active": 1, "ready": 1})), "Running", "TrainerRunning"),
    (Observed(workload=job_obj({"active": 1}), pods=[pod()]), "Running", "TrainerRunning"),
    (Observed(workload=job_obj({"active": 1}), pods=[pod("Pending", False, waiting="ErrImagePull")]),
     "Initializing", "ImagePullBackOff"),
    (Observed(workload=job_obj({"active": 1}), pods=[pod("Running", False, waiting="CrashLoopBackOff")]),
     "Initializing", "CrashLoopBackOff"),
    (Observed(workload=job_obj({"active": 1}), pods=[pod("Failed", False, evicted=True)]), "Initializing", "Evicted"),
    (Observed(workload=job_obj({"conditions": [{"type": "Complete", "status": "True"}]})), "Succeeded", "Completed"),
    (Observed(workload=job_obj({"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]})),
     "Failed", "DeadlineExceeded"),
    (Observed(workload=job_obj({"conditions": [{"type": "Failed", "status": "True", "reason": "PodFailurePolicy",
                                                "message": "failed with exit code 3 matching FailJob"}]})),
     "Failed", "DataError"),
    (Observed(workload=job_obj({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}),
              pods=[pod("Failed", False, evicted=True)]), "Failed", "Evicted"),
    (Observed(workload={"kind": "RayJob", "metadata": {"name": "r"}, "spec": {},
                        "status": {"jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "reason": "DeadlineExceeded"}}),
     "Failed", "DeadlineExceeded"),
    (Observed(workload={"kind": "RayJob", "metadata": {"name": "r"}, "spec": {"suspend": True}, "status": {}},
              queue_name="q"), "Queued", "WaitingForKueue"),
])
def test_verdicts(obs, phase, reason):
    v = verdict(obs)
    assert (v.phase, v.reason) == (phase, reason), v.message


def _config_error_pod(message):
    p = pod("Pending", False, waiting="CreateContainerConfigError")
    p["status"]["containerStatuses"][0]["state"]["waiting"]["message"] = message
    return p


@pytest.mark.parametrize("message, secret, key", [
    ('secret "hf-token" not found', "hf-token", None),
    ('secrets "hf-token" not found', "hf-token", None),
    ("couldn't find key HF_TOKEN in Secret team-a/hf-token", "hf-token", "HF_TOKEN"),
])
def test_a_missing_secret_is_read_from_the_pod_state(message, secret, key):
    assert missing_secret(message) == (secret, key)
    obs = Observed(workload=job_obj({"active": 1}), pods=[_config_error_pod(message)])
    v = verdict(obs)
    assert (v.phase, v.reason) == ("Initializing", "SecretNotFound")
    assert v.message.startswith(f"Secret {secret} " + ("not found" if key is None else f"has no key {key}"))
    status = derive_status(obs, None, NOW)
    running = next(cond for cond in status["conditions"] if cond["type"] == "Running")
    assert (running["status"], running["reason"]) == ("False", "SecretNotFound")
    [event] = transition_events({}, status)
    assert event.type == "Warning" and event.reason == "SecretNotFound" and f"Secret {secret}" in event.message


def test_other_config_errors_keep_their_reason():
    for message in ('configmap "x" not found', "couldn't find key k in ConfigMap ns/x", ""):
        assert missing_secret(message) is None
        v = verdict(Observed(workload=job_obj({"active": 1}), pods=[_config_error_pod(message)]))
        assert v.reason == "CreateContainerConfigError"


def test_finished_run_stays_finished_when_the_job_is_gone():
    previous = {"phase": "Succeeded", "completionTime": NOW, "message": "done",
                "conditions": [{"type": "Complete", "status": "True", "reason": "Completed"}]}
    assert verdict(Observed(), previous).phase == "Succeeded"  # e.g. removed by ttlSecondsAfterFinished


def test_derive_status_keeps_transition_times_and_sets_start_and_completion():
    running = derive_status(Observed(generation=2, workload=job_obj({"ready": 1})), {}, NOW)
    assert running["phase"] == "Running" and running["startTime"] == NOW and running["observedGeneration"] == 2
    later = derive_status(Observed(generation=2, workload=job_obj({"ready": 1})), running, "2026-01-02T00:00:00Z")
    assert later["conditions"] == running["conditions"]  # no change, no new lastTransitionTime
    assert not status_changed(running, later)
    done = derive_status(Observed(generation=2, workload=job_obj({"conditions": [
        {"type": "Complete", "status": "True"}]})), later, "2026-01-03T00:00:00Z")
    assert done["completionTime"] == "2026-01-03T00:00:00Z" and done["startTime"] == NOW
    assert {c["type"] for c in done["conditions"]} == {"Valid", "Complete"}


def test_invalid_spec_has_no_completion_time_and_a_readable_condition():
    st = derive_status(Observed(spec_errors=["spec.a: bad", "spec.b: worse"]), {}, NOW)
    valid = next(c for c in st["conditions"] if c["type"] == "Valid")
    assert valid["status"] == "False" and valid["message"] == "spec.a: bad; spec.b: worse"
    assert st["completionTime"] is None


# --- events -----------------------------------------------------------------------------------------------------


def test_events_once_per_transition():
    pending = derive_status(Observed(), {}, NOW)
    running = derive_status(Observed(workload=job_obj({"ready": 1})), pending, NOW)
    assert [(e.type, e.reason) for e in transition_events({}, pending)] == [("Normal", "Pending")]
    assert [(e.type, e.reason) for e in transition_events(pending, running)] == [("Normal", "Running")]
    assert transition_events(running, running) == []
    failed = derive_status(Observed(workload=job_obj({"conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]})), running, NOW)
    assert [(e.type, e.reason) for e in transition_events(running, failed)] == [("Warning", "BackoffLimitExceeded")]
    pulling = derive_status(Observed(workload=job_obj({"active": 1}), pods=[pod("Pending", False,
                                                                                waiting="ImagePullBackOff")]), {}, NOW)
    assert [(e.type, e.reason) for e in transition_events(pending, pulling)] == [("Warning", "ImagePullBackOff")]


# --- reconcile plans ----------------------------------------------------------------------------------------------


def _job(spec_patch=None, labels=None):
    spec = {"model": {"path": "m"}, "data": {"train": {"path": "/d.json"}}, **(spec_patch or {})}
    meta = {"name": "g", "namespace": "ns", **({"labels": labels} if labels else {})}
    return parse_grpojob({"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob", "metadata": meta, "spec": spec})


def _desired(job):
    return build_children(job, uid="u1", image="img", namespace="ns")


def test_plan_creates_the_workload_with_a_fingerprint():
    job = _job()
    p = children.plan(_desired(job), [], spec=job.spec.to_wire(), finished=False)
    assert p.create_workload["kind"] == "Job"
    fp = json.loads(p.create_workload["metadata"]["annotations"][children.FINGERPRINT_ANNOTATION])
    assert "suspend" not in fp and "ttlSecondsAfterFinished" not in fp and "training" in fp
    assert [c["metadata"]["name"] for c in p.ensure_configmaps] == ["g-config"]


def test_plan_never_recreates_a_finished_run_and_deletes_on_suspend():
    job = _job()
    assert children.plan(_desired(job), [], spec=job.spec.to_wire(), finished=True).create_workload is None
    existing = children.plan(_desired(job), [], spec=job.spec.to_wire(), finished=False).create_workload
    suspended = _job({"suspend": True})
    p = children.plan(_desired(suspended), [existing], spec=suspended.spec.to_wire(), finished=False)
    assert p.delete_workloads == [existing] and p.create_workload is None


def test_plan_rejects_unsafe_changes_and_patches_ttl():
    job = _job()
    existing = children.plan(_desired(job), [], spec=job.spec.to_wire(), finished=False).create_workload
    changed = _job({"training": {"epochs": 3}, "ttlSecondsAfterFinished": 60, "suspend": False})
    p = children.plan(_desired(changed), [existing], spec=changed.spec.to_wire(), finished=False)
    assert p.rejected == ["training"]
    assert p.create_workload is None and p.keep_workload is existing and not p.configmaps_writable
    assert p.patch_ttl == (existing, 60)


def test_plan_for_kueue_creates_a_suspended_labelled_child():
    job = _job(labels={"kueue.x-k8s.io/queue-name": "q"})
    w = children.plan(_desired(job), [], spec=job.spec.to_wire(), finished=False).create_workload
    assert w["spec"]["suspend"] is True and w["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "q"


# --- progress -----------------------------------------------------------------------------------------------------


def test_progress_from_the_real_exporter_text(tmp_path):
    from prometheus_client import generate_latest

    from trainer_entry.exporter import Exporter

    (tmp_path / "m.jsonl").write_text(json.dumps({"step": 12, "data": {
        "training/global_step": 12, "training/epoch": 2, "critic/rewards/mean": 0.5, "actor/kl_loss": 0.02}}) + "\n")
    (tmp_path / "ck" / "global_step_10").mkdir(parents=True)
    exp = Exporter(tmp_path / "m.jsonl", engine="verl", model="m", checkpoint_dir=tmp_path / "ck", total_steps=40)
    exp.poll_once()
    values = parse_metrics(generate_latest(exp.registry).decode())
    st = progress_status(values, NOW)
    assert st["progress"]["globalStep"] == 12 and st["progress"]["totalSteps"] == 40
    assert st["progress"]["epoch"] == 2 and st["progress"]["rewardMean"] == 0.5 and st["progress"]["klLoss"] == 0.02
    assert st["lastCheckpoint"]["step"] == 10 and st["lastCheckpoint"]["path"] == "/outputs/checkpoints/global_step_10"


def test_progress_ignores_labelled_and_foreign_series():
    text = 'grpo_val_score{data_source="x"} 1\nother_metric 5\ngrpo_global_step 3\n'
    assert parse_metrics(text) == {"grpo_global_step": 3.0}
    assert progress_status({}, NOW) == {}


# --- references ---------------------------------------------------------------------------------------------------


def test_missing_references_name_the_field_object_and_key():
    job = _job({"data": {"train": {"configMap": {"name": "d", "key": "train.json"}}},
                "reward": {"configMapRef": {"name": "r", "key": "reward.py"}},
                "pod": {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}},
                                {"name": "B", "valueFrom": {"secretKeyRef": {"name": "o", "key": "t", "optional": True}}}],
                        "envFrom": [{"secretRef": {"name": "s"}}]}})
    store = {("ConfigMap", "d"): {"data": {"other.json": "[]"}}}
    needed = objects_to_fetch(job)
    assert needed == [("ConfigMap", "d"), ("ConfigMap", "r")], \
        "each required ConfigMap once; optional references are not required; Secrets are never read"

    problems = missing_references(job, "ns", {key: store.get(key) for key in needed})
    assert problems == [
        ("DataConfigMapNotFound", "spec.data.train.configMap: ConfigMap ns/d has no key 'train.json' (keys: other.json)"),
        ("RewardConfigMapNotFound", "spec.reward.configMapRef: ConfigMap ns/r not found (create it, or fix the name)"),
    ]


# --- emulator helpers ----------------------------------------------------------------------------------------------


def test_label_and_field_selectors():
    labels = {"app": "x", "tier": "gpu"}
    assert match_labels("app=x,tier in (gpu, cpu)", labels)
    assert match_labels("app,!missing,tier!=cpu", labels)
    assert not match_labels("app notin (x)", labels)
    assert not match_labels("missing", labels)
    obj = {"metadata": {"name": "a"}, "involvedObject": {"name": "g", "kind": "GRPOJob"}}
    assert match_fields("involvedObject.name=g,metadata.name!=b", obj)
    assert not match_fields("involvedObject.kind=Pod", obj)


def test_merge_patch_is_rfc7386():
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None, "d": 3}, "l": [2]}) == \
        {"a": {"c": 2, "d": 3}, "l": [2]}
    assert merge_patch({"a": 1}, {"a": {"b": 1}}) == {"a": {"b": 1}}


# --- reconcile metrics ------------------------------------------------------------------------------------------


def test_reconcile_metrics_count_a_planned_retry_by_exception_type_not_as_an_error():
    def count(result: str) -> float:
        return REGISTRY.get_sample_value("grpo_operator_reconcile_total",
                                         {"controller": "unit", "result": result}) or 0.0

    def errors() -> float:
        return REGISTRY.get_sample_value("grpo_operator_reconcile_errors_total", {"controller": "unit"}) or 0.0

    before = (count("success"), count("retry"), count("error"), errors())
    with metrics.observe("unit", retry=(children.ChildConflict,)):
        pass
    with pytest.raises(children.ChildConflict), metrics.observe("unit", retry=(children.ChildConflict,)):
        raise children.ChildConflict("name taken")
    with pytest.raises(ValueError), metrics.observe("unit", retry=(children.ChildConflict,)):
        raise ValueError("api error")
    after = (count("success"), count("retry"), count("error"), errors())
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1]
