"""Pins GRPOJob status derivation where mutation testing found it unpinned: the phase, reason and message a user
sees for each Job/RayJob/pod state (failed RayJobs, deadlines, exit codes, evictions, waiting containers),
the conditions each phase carries, lastTransitionTime, start/completion times and what counts as a change."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from grpo_operator.status_derive import Observed, derive_status, status_changed, ttl_remaining, verdict

T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"


def job(status=None, spec=None):
    return {"kind": "Job", "metadata": {"name": "j"}, "spec": spec or {}, "status": status or {}}


def cond(ctype, status="True", reason=None, message=None):
    c = {"type": ctype, "status": status}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def failed_job(reason=None, message=None, ctype="Failed"):
    return job({"conditions": [cond(ctype, "True", reason, message)]})


def rayjob(status=None, spec=None):
    return {"kind": "RayJob", "metadata": {"name": "r"}, "spec": spec or {}, "status": status or {}}


def pod(name="p", phase="Running", ready=False, created=T0, waiting=(), exit_code=None, last_exit=None,
        init_exit=None, evicted=None, message=None):
    """`waiting`: container waiting reasons, one container each; `evicted`: "reason" or "condition"."""
    statuses = [{"name": f"c{i}", "state": {"waiting": {"reason": r, **({"message": message} if message else {})}}}
                for i, r in enumerate(waiting)]
    if exit_code is not None:
        statuses.append({"name": "trainer", "state": {"terminated": {"exitCode": exit_code}}})
    if last_exit is not None:
        statuses.append({"name": "trainer", "state": {"running": {}},
                         "lastState": {"terminated": {"exitCode": last_exit}}})
    status = {"phase": phase, "conditions": [cond("Ready", "True" if ready else "False")],
              "containerStatuses": statuses}
    if init_exit is not None:
        status["initContainerStatuses"] = [{"name": "init", "state": {"terminated": {"exitCode": init_exit}}}]
    if evicted == "reason":
        status["reason"] = "Evicted"
        if message:
            status["message"] = message
    elif evicted == "condition":
        status["conditions"].append(cond("DisruptionTarget", "True", message=message))
    return {"metadata": {"name": name, "creationTimestamp": created}, "status": status}


def from_api(obj):
    """As the operator gets it: decoded from JSON (fresh strings, not the interned literals of this file)."""
    return json.loads(json.dumps(obj))


def v(workload=None, pods=(), **kw):
    r = verdict(Observed(workload=from_api(workload), pods=from_api(list(pods)), **kw))
    return r.phase, r.reason, r.message


# --- Jobs -------------------------------------------------------------------------------------------------------


def test_job_success():
    assert v(job({"conditions": [cond("Complete")]})) == ("Succeeded", "Completed", "Job j completed")
    assert v(job({"conditions": [cond("SuccessCriteriaMet")]}))[:2] == ("Succeeded", "Completed")
    assert v(job({"conditions": [cond("Complete", "False")]}))[0] == "Initializing"


def test_job_failure_reason_and_message():
    assert v(failed_job()) == ("Failed", "JobFailed", "Job j failed")
    assert v(failed_job("DeadlineExceeded", "too slow")) == ("Failed", "DeadlineExceeded", "too slow")
    # FailureTarget: the Job is failing (Failed=True comes once its pods are gone)
    assert v(failed_job("BackoffLimitExceeded", "boom", ctype="FailureTarget"))[:2] == ("Failed", "BackoffLimitExceeded")
    assert v(job({"conditions": [cond("Failed", "False", "X")]}))[0] == "Initializing"
    assert v(job({"conditions": [cond("FailureTarget", "False", "X")]}))[0] == "Initializing"


@pytest.mark.parametrize(("code", "reason"), [(2, "ConfigError"), (3, "DataError"), (4, "RewardError"),
                                              (5, "InsufficientRayResources")])
def test_trainer_exit_code_names_the_failure(code, reason):
    wl = failed_job("PodFailurePolicy", "container trainer failed")
    assert v(wl, [pod(phase="Failed", exit_code=code)]) == (
        "Failed", reason, f"trainer exited with code {code} ({reason}): container trainer failed")
    # no pod left: the code is read from the Job's message
    wl = failed_job("PodFailurePolicy", f"Container trainer for pod p failed with exit code {code} matching rule")
    assert v(wl)[:2] == ("Failed", reason)
    assert v(wl)[2].startswith(f"trainer exited with code {code} ({reason}): Container trainer")


def test_exit_code_from_the_newest_pod_the_last_state_or_an_init_container():
    wl = failed_job("PodFailurePolicy", "m")
    older, newer = pod("a", "Failed", created=T0, exit_code=2), pod("b", "Failed", created=T1, exit_code=4)
    assert v(wl, [older, newer])[1] == "RewardError"
    assert v(wl, [newer, older])[1] == "RewardError"
    assert v(wl, [pod(last_exit=3)])[1] == "DataError"
    assert v(wl, [pod(init_exit=2)])[1] == "ConfigError"
    # an init container that succeeded (exit 0, as they all do) does not hide the trainer's code
    assert v(wl, [pod(init_exit=0, exit_code=3)])[1] == "DataError"


def test_unknown_exit_codes_keep_the_jobs_reason():
    assert v(failed_job("PodFailurePolicy", "m"), [pod(exit_code=1)]) == ("Failed", "PodFailurePolicy", "m")
    assert v(failed_job("PodFailurePolicy", "m"), [pod(exit_code=0)]) == ("Failed", "PodFailurePolicy", "m")
    assert v(failed_job("PodFailurePolicy", "failed with exit code 7")) == (
        "Failed", "PodFailurePolicy", "failed with exit code 7")


def test_backoff_limit_after_an_eviction_or_with_an_exit_code():
    wl = failed_job("BackoffLimitExceeded", "Job has reached the specified backoff limit")
    assert v(wl, [pod(phase="Failed", evicted="reason")]) == (
        "Failed", "Evicted", "Job has reached the specified backoff limit; the last pod was evicted")
    assert v(wl, [pod(phase="Failed", evicted="condition")])[1] == "Evicted"
    # only the newest pod counts
    assert v(wl, [pod("a", "Failed", created=T0, evicted="reason"), pod("b", "Failed", created=T1, exit_code=1)]) == (
        "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    # an exit code with a name: the reason stays, the message says the code
    assert v(wl, [pod(phase="Failed", exit_code=3)]) == (
        "Failed", "BackoffLimitExceeded",
        "trainer exited with code 3 (DataError): Job has reached the specified backoff limit")
    assert v(wl) == ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")


@pytest.mark.parametrize("reason", ["DeadlineExceeded", "MaxFailedIndexesExceeded", "AdmissionFailed", "Backoff"])
def test_other_failure_reasons_ignore_exit_codes(reason):
    """Only BackoffLimitExceeded (evictions, exit codes) and PodFailurePolicy (exit codes) are read further; any
    other reason, including one a later Kubernetes adds, is reported as the Job gives it."""
    assert v(failed_job(reason, "late"), [pod(exit_code=3, evicted="reason")]) == ("Failed", reason, "late")


def test_suspended_job_is_queued():
    assert v(job(spec={"suspend": True})) == ("Queued", "JobSuspended", "Job j is suspended")
    assert v(job(spec={"suspend": True}), queue_name="q") == (
        "Queued", "WaitingForKueue", "Job j is suspended until Kueue admits it (queue q)")
    assert v(job(spec={"suspend": False}))[0] == "Initializing"


# --- pods of a running workload -----------------------------------------------------------------------------------


def test_running_needs_a_ready_live_pod():
    assert v(job(), [pod(ready=True)]) == ("Running", "TrainerRunning", "Job j: the trainer is running")
    assert v(job(), [pod(ready=False)]) == ("Initializing", "PodStarting", "Job j: waiting for the trainer pod to start")
    assert v(job(), [pod(phase="Pending", ready=True)])[0] == "Initializing"
    assert v(job(), [pod(phase="Succeeded", ready=True)])[0] == "Initializing"
    # the Job's ready count stands in only while no pod was observed
    assert v(job({"ready": 1}))[0] == "Running"
    assert v(job({"ready": 0}))[0] == "Initializing"
    assert v(job({"ready": 1}), [pod(ready=False)])[0] == "Initializing"


def test_waiting_container_reason_most_specific_first():
    assert v(job(), [pod(waiting=["CrashLoopBackOff", "ImagePullBackOff"])])[1] == "ImagePullBackOff"
    assert v(job(), [pod(waiting=["CreateContainerError", "CreateContainerConfigError"])])[1] == (
        "CreateContainerConfigError")
    assert v(job(), [pod(waiting=["ErrImagePull"], message="pull access denied")]) == (
        "Initializing", "ImagePullBackOff", "pod p: ErrImagePull: pull access denied")
    assert v(job(), [pod(waiting=["CrashLoopBackOff"])]) == ("Initializing", "CrashLoopBackOff", "pod p: CrashLoopBackOff")
    assert v(job(), [pod(waiting=["InvalidImageName"])])[1] == "InvalidImageName"
    assert v(job(), [pod(waiting=["ContainerCreating"])])[1] == "PodStarting"
    assert v(job(), [pod(phase="Failed", waiting=["CrashLoopBackOff"])])[1] == "PodStarting"  # not live
    assert v(job(), [pod(ready=True, waiting=["CrashLoopBackOff"])])[0] == "Running"


def test_evicted_pod_while_a_new_one_starts():
    assert v(job(), [pod(phase="Failed", evicted="reason", message="The node was low on memory.")]) == (
        "Initializing", "Evicted",
        "pod p was evicted: The node was low on memory.; a new pod resumes from the last checkpoint")
    assert v(job(), [pod(phase="Failed", evicted="condition", message="preempted")])[2] == (
        "pod p was evicted: preempted; a new pod resumes from the last checkpoint")
    assert v(job(), [pod(phase="Failed", evicted="reason")])[2] == (
        "pod p was evicted; a new pod resumes from the last checkpoint")
    # the newest evicted pod is named; a ready pod means the run goes on
    evicted = [pod("a", "Failed", created=T0, evicted="reason"), pod("b", "Failed", created=T1, evicted="reason")]
    assert v(job(), evicted)[2].startswith("pod b was evicted")
    assert v(job(), [*evicted, pod("c", ready=True, created=T2)])[0] == "Running"


# --- RayJobs ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "expected"), [
    ({"jobStatus": "SUCCEEDED"}, ("Succeeded", "Completed", "RayJob r completed")),
    ({"jobDeploymentStatus": "Complete"}, ("Succeeded", "Completed", "RayJob r completed")),
    ({"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}, ("Succeeded", "Completed", "RayJob r completed")),
    # completed, but the Ray job itself failed
    ({"jobDeploymentStatus": "Complete", "jobStatus": "FAILED"}, ("Failed", "RayJobFailed", "RayJob r failed")),
    ({"jobStatus": "STOPPED"}, ("Failed", "RayJobFailed", "RayJob r failed")),
    ({"jobDeploymentStatus": "Failed", "reason": "AppFailed", "message": "driver died"},
     ("Failed", "AppFailed", "driver died")),
    ({"jobDeploymentStatus": "ValidationFailed", "reason": "ValidationFailed"},
     ("Failed", "ValidationFailed", "RayJob r failed")),
    ({"jobDeploymentStatus": "Failed", "reason": "DeadlineExceeded"},
     ("Failed", "DeadlineExceeded", "RayJob r exceeded its deadline")),
    ({"jobStatus": "FAILED", "reason": "DeadlineExceeded", "message": "activeDeadlineSeconds passed"},
     ("Failed", "DeadlineExceeded", "activeDeadlineSeconds passed")),
    ({"jobStatus": "FAILED", "message": "Job failed with exit code 5"},
     ("Failed", "InsufficientRayResources",
      "trainer exited with code 5 (InsufficientRayResources): Job failed with exit code 5")),
    ({"jobStatus": "RUNNING"}, ("Running", "TrainerRunning", "RayJob r: the trainer is running")),
    ({"jobStatus": "PENDING"}, ("Initializing", "PodStarting", "RayJob r: waiting for the trainer pod to start")),
    ({"jobDeploymentStatus": "Initializing"}, ("Initializing", "PodStarting",
                                               "RayJob r: waiting for the trainer pod to start")),
    ({"jobDeploymentStatus": "Suspended"}, ("Queued", "RayJobSuspended", "RayJob r is suspended")),
    ({"jobDeploymentStatus": "Suspending"}, ("Queued", "RayJobSuspended", "RayJob r is suspended")),
])
def test_rayjob_verdicts(status, expected):
    assert v(rayjob(status)) == expected


def test_rayjob_failure_reads_the_exit_code_of_a_pod_but_not_for_a_deadline():
    assert v(rayjob({"jobStatus": "FAILED"}), [pod(phase="Failed", exit_code=2)]) == (
        "Failed", "ConfigError", "trainer exited with code 2 (ConfigError): ")
    assert v(rayjob({"jobStatus": "FAILED", "reason": "DeadlineExceeded"}), [pod(exit_code=2)])[1] == "DeadlineExceeded"


def test_rayjob_suspended_by_spec_and_kueue():
    assert v(rayjob({"jobStatus": "RUNNING"}, {"suspend": True}))[:2] == ("Queued", "RayJobSuspended")
    assert v(rayjob({}, {"suspend": True}), queue_name="q") == (
        "Queued", "WaitingForKueue", "RayJob r is suspended until Kueue admits it (queue q)")


def test_rayjob_pods_decide_before_ray_reports_running():
    assert v(rayjob({"jobStatus": "PENDING"}), [pod(ready=True)])[0] == "Running"
    assert v(rayjob({"jobStatus": "PENDING"}), [pod(waiting=["ImagePullBackOff"])])[1] == "ImagePullBackOff"


# --- the order of the rules -----------------------------------------------------------------------------------


def test_precedence_of_invalid_spec_missing_reference_and_suspend():
    refs = [("SecretNotFound", "Secret a not found"), ("ConfigMapNotFound", "ConfigMap b not found")]
    assert v(job(), spec_errors=["spec.a: bad", "spec.b: bad"], missing_refs=refs, suspend=True) == (
        "Failed", "InvalidSpec", "spec.a: bad; spec.b: bad")
    assert v(job(), missing_refs=refs, suspend=True) == (
        "Failed", "SecretNotFound", "Secret a not found; ConfigMap b not found")
    assert v(job({"conditions": [cond("Complete")]}), suspend=True)[0] == "Suspended"
    assert v(None, suspend=True) == (
        "Suspended", "SuspendedByUser",
        "spec.suspend is true: the trainer was stopped; checkpoints are kept on the outputs volume")
    assert v(None) == ("Pending", "CreatingWorkload", "creating the trainer workload")


@pytest.mark.parametrize(("previous", "expected"), [
    ({"phase": "Failed", "completionTime": T0, "message": "m",
      "conditions": [cond("Failed", "True", "DataError")]}, ("Failed", "DataError", "m")),
    ({"phase": "Failed", "completionTime": T0, "conditions": [cond("Failed", "False", "X"), cond("Valid")]},
     ("Failed", "Failed", "")),
    ({"phase": "Succeeded", "completionTime": T0, "conditions": [cond("Complete")]},
     ("Succeeded", "Succeeded", "")),
    ({"phase": "Succeeded", "completionTime": T0}, ("Succeeded", "Succeeded", "")),
    ({"phase": "Succeeded"}, ("Pending", "CreatingWorkload", "creating the trainer workload")),
    ({"phase": "Running", "completionTime": T0}, ("Pending", "CreatingWorkload", "creating the trainer workload")),
])
def test_a_finished_run_whose_workload_is_gone_keeps_its_verdict(previous, expected):
    r = verdict(Observed(), previous)
    assert (r.phase, r.reason, r.message) == expected


def test_a_finished_run_is_judged_again_while_its_workload_exists():
    previous = {"phase": "Failed", "completionTime": T0, "conditions": [cond("Failed", "True", "DataError")]}
    assert verdict(Observed(workload=job({"conditions": [cond("Complete")]})), previous).phase == "Succeeded"


# --- conditions ------------------------------------------------------------------------------------------------


def conditions(obs, previous=None, now=T0):
    return {c["type"]: (c["status"], c["reason"], c["message"])
            for c in derive_status(obs, previous, now)["conditions"]}


VALID = ("True", "SpecValid", "the spec is valid")


@pytest.mark.parametrize(("obs", "expected"), [
    (Observed(), {"Valid": VALID}),
    (Observed(workload=job(spec={"suspend": True})), {"Valid": VALID, "Queued": ("True", "JobSuspended",
                                                                                 "Job j is suspended")}),
    (Observed(workload=job()), {"Valid": VALID, "Running": ("False", "PodStarting",
                                                            "Job j: waiting for the trainer pod to start")}),
    (Observed(workload=job({"ready": 1})), {"Valid": VALID, "Running": ("True", "TrainerRunning",
                                                                        "Job j: the trainer is running")}),
    (Observed(suspend=True), {"Valid": VALID, "Suspended": (
        "True", "SuspendedByUser",
        "spec.suspend is true: the trainer was stopped; checkpoints are kept on the outputs volume")}),
    (Observed(workload=job({"conditions": [cond("Complete")]})), {"Valid": VALID, "Complete": (
        "True", "Completed", "Job j completed")}),
    (Observed(workload=failed_job("DeadlineExceeded", "late")), {"Valid": VALID, "Failed": (
        "True", "DeadlineExceeded", "late")}),
    (Observed(spec_errors=["spec.a: bad"]), {"Valid": ("False", "InvalidSpec", "spec.a: bad"),
                                             "Failed": ("True", "InvalidSpec", "spec.a: bad")}),
    (Observed(missing_refs=[("SecretNotFound", "no s")]), {"Valid": ("False", "SecretNotFound", "no s"),
                                                           "Failed": ("True", "SecretNotFound", "no s")}),
])
def test_the_conditions_each_phase_carries(obs, expected):
    assert conditions(obs) == expected


def test_a_finished_run_whose_workload_is_gone_keeps_its_conditions():
    previous = {"phase": "Succeeded", "completionTime": T0, "message": "Job j completed",
                "conditions": [cond("Complete", reason="Completed")]}
    assert conditions(Observed(), from_api(previous)) == {
        "Valid": VALID, "Complete": ("True", "Completed", "Job j completed")}
    failed = {"phase": "Failed", "completionTime": T0, "message": "m", "conditions": [cond("Failed", reason="DataError")]}
    assert conditions(Observed(), from_api(failed)) == {"Valid": VALID, "Failed": ("True", "DataError", "m")}


def test_a_previous_condition_of_unknown_status_gives_no_reason():
    previous = {"phase": "Failed", "completionTime": T0, "conditions": [cond("Failed", "Unknown", "DataError")]}
    assert verdict(Observed(), from_api(previous)).reason == "Failed"


def test_a_pod_that_has_not_terminated_has_no_exit_code():
    assert v(failed_job("PodFailurePolicy", "m"), [pod(waiting=["ContainerCreating"])]) == (
        "Failed", "PodFailurePolicy", "m")


def test_rejected_spec_change_condition_names_the_fields():
    c = conditions(Observed(workload=job({"ready": 1}), rejected_fields=["model", "grpo"]))
    assert c["SpecChangeRejected"] == (
        "True", "SpecChangeRejected",
        "spec.model, spec.grpo changed while the job has a running workload; only spec.suspend and "
        "spec.ttlSecondsAfterFinished can change now. Suspend the job (spec.suspend: true) to apply the change; "
        "it resumes from the last checkpoint.")
    assert "SpecChangeRejected" not in conditions(Observed(workload=job({"ready": 1})))


def test_observed_generation_on_each_condition_only_when_known():
    st = derive_status(Observed(generation=3, workload=job({"ready": 1})), None, T0)
    assert st["observedGeneration"] == 3
    assert all(c["observedGeneration"] == 3 for c in st["conditions"])
    st = derive_status(Observed(workload=job({"ready": 1})), None, T0)
    assert all("observedGeneration" not in c for c in st["conditions"])


def test_long_messages_are_cut():
    st = derive_status(Observed(spec_errors=["x" * 40000]), None, T0)
    assert len(st["message"]) == 4000
    assert all(len(c["message"]) == 32000 for c in st["conditions"])


def times(st):
    return {c["type"]: c["lastTransitionTime"] for c in st["conditions"]}


def test_last_transition_time_moves_only_when_the_status_flips():
    running = derive_status(Observed(workload=job({"ready": 1})), None, T0)
    assert times(running) == {"Valid": T0, "Running": T0}
    # Running True -> False (the pod restarts): a new time; Valid stays True: its time stays
    starting = derive_status(Observed(workload=job(), pods=[pod()]), running, T1)
    assert times(starting) == {"Valid": T0, "Running": T1}
    # Running stays False, only its reason changes: the time stays
    waiting = derive_status(Observed(workload=job(), pods=[pod(waiting=["CrashLoopBackOff"])]), starting, T2)
    assert times(waiting)["Running"] == T1
    # Valid True -> False
    invalid = derive_status(Observed(spec_errors=["spec.a: bad"]), waiting, T2)
    assert times(invalid) == {"Valid": T2, "Failed": T2}


def test_a_previous_condition_without_a_time_gets_now():
    previous = {"conditions": [{"type": "Valid", "status": "True", "reason": "SpecValid"}]}
    assert times(derive_status(Observed(), previous, T1)) == {"Valid": T1}


# --- start, completion, children -------------------------------------------------------------------------------


def test_start_time_is_set_once_the_trainer_starts():
    assert derive_status(Observed(), None, T0)["startTime"] is None
    assert derive_status(Observed(workload=job(spec={"suspend": True})), None, T0)["startTime"] is None
    assert derive_status(Observed(workload=job()), None, T0)["startTime"] == T0
    assert derive_status(Observed(workload=job({"ready": 1})), {"startTime": T0}, T1)["startTime"] == T0


def test_completion_time():
    done = derive_status(Observed(workload=failed_job("DeadlineExceeded")), {"startTime": T0}, T1)
    assert done["completionTime"] == T1 and done["startTime"] == T0
    assert derive_status(Observed(workload=failed_job()), done, T2)["completionTime"] == T1  # kept
    assert derive_status(Observed(spec_errors=["x"]), None, T1)["completionTime"] is None
    assert derive_status(Observed(missing_refs=[("SecretNotFound", "m")]), None, T1)["completionTime"] is None
    # resumed (a missing Secret was created, or the job was un-suspended): no completion time any more
    assert derive_status(Observed(workload=job({"ready": 1})), done, T2)["completionTime"] is None
    assert derive_status(Observed(workload=job(spec={"suspend": True})), done, T2)["completionTime"] is None
    # a finished run whose workload is gone stays finished, even if suspended afterwards
    assert derive_status(Observed(suspend=True), done, T2)["completionTime"] == T1


def test_children_given_or_kept():
    assert derive_status(Observed(), {"children": {"job": "a"}}, T0)["children"] == {"job": "a"}
    assert derive_status(Observed(), {"children": {"job": "a"}}, T0, {"job": "b"})["children"] == {"job": "b"}
    assert derive_status(Observed(), {"children": {"job": "a"}}, T0, {})["children"] == {}


def test_status_changed():
    st = derive_status(Observed(workload=job({"ready": 1})), None, T0)
    later = derive_status(Observed(workload=job({"ready": 1})), st, T1)
    assert not status_changed(st, later)
    assert not status_changed({**st, "conditions": [{**c, "lastTransitionTime": T2} for c in st["conditions"]]}, st)
    assert not status_changed({**st, "progress": {"globalStep": 3}}, st)  # not the operator's part
    moved = from_api({**st, "conditions": [{**c, "lastTransitionTime": T2} for c in st["conditions"]]})
    assert not status_changed(moved, st)  # as read back from the API
    assert status_changed(None, st)
    assert status_changed({**st, "phase": "Pending"}, st)
    assert status_changed({**st, "completionTime": T2}, st)
    assert status_changed({**st, "children": {"job": "a"}}, st)
    assert status_changed({**st, "startTime": T2}, st)
    assert status_changed({**st, "conditions": st["conditions"][:1]}, st)
    assert status_changed({**st, "conditions": [{**st["conditions"][0], "reason": "X"}, *st["conditions"][1:]]}, st)


def test_grpojob_ttl_counts_from_completion_for_one_and_many_nodes():
    done = "2026-01-01T00:00:00Z"
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    finished = {"phase": "Succeeded", "completionTime": done}
    assert ttl_remaining({"ttlSecondsAfterFinished": 600}, finished, t0 + timedelta(seconds=100)) == 500
    assert ttl_remaining({"ttlSecondsAfterFinished": 600}, {**finished, "phase": "Failed"},
                         t0 + timedelta(seconds=700)) == -100
    assert ttl_remaining({"ttlSecondsAfterFinished": 0}, finished, t0) == 0
    assert ttl_remaining({}, finished, t0) is None
    assert ttl_remaining({"ttlSecondsAfterFinished": 60}, {"phase": "Running"}, t0) is None
    assert ttl_remaining({"ttlSecondsAfterFinished": 60}, {"phase": "Failed"}, t0) is None  # invalid spec, never ran
    assert ttl_remaining({"ttlSecondsAfterFinished": 60}, None, t0) is None  # no status yet
    # a resumed run keeps no completionTime, but a stale one next to a live phase must not count either
    assert ttl_remaining({"ttlSecondsAfterFinished": 60}, {"phase": "Running", "completionTime": done}, t0) is None
    assert ttl_remaining({"ttlSecondsAfterFinished": 60}, {"phase": "Suspended", "completionTime": done}, t0) is None


def test_a_verdict_is_fixed_once_made():
    import dataclasses

    from grpo_operator.status_derive import Verdict

    v_ = verdict(Observed(workload=job({"conditions": [cond("Complete")]})))
    assert isinstance(v_, Verdict)
    with pytest.raises(dataclasses.FrozenInstanceError):
        v_.phase = "Failed"
