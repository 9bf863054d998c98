"""A failed GRPOJob says why: the trainer's termination message (/dev/termination-log, written by
trainer_entry.supervise) reaches the Failed condition, status.message/status.reason and the Failed Event."""

from __future__ import annotations

from dataclasses import astuple

from grpo_operator.events import transition_events
from grpo_operator.status_derive import Observed, derive_status, termination_message, verdict
from trainer_entry.data import DataError
from trainer_entry.supervise import format_summary

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
DATA_ERROR = DataError("/data/train.json", "must be a string", row=3, field="prompt")
SUMMARY = format_summary(3, None, None, None, f"{DATA_ERROR.kind}: {DATA_ERROR}")
WHY = "data: /data/train.json: row 3: field 'prompt': must be a string"


def trainer_pod(code, message, name="p", created=T0, container="trainer", last=False):
    term = {"exitCode": code, "reason": "Error", **({"message": message} if message is not None else {})}
    cs = {"name": container, **({"state": {"running": {}}, "lastState": {"terminated": term}} if last
                                else {"state": {"terminated": term}})}
    return {"metadata": {"name": name, "creationTimestamp": created},
            "status": {"phase": "Failed", "containerStatuses": [cs]}}


def failed_job(reason, message):
    return {"kind": "Job", "metadata": {"name": "j"}, "spec": {},
            "status": {"conditions": [{"type": "Failed", "status": "True", "reason": reason, "message": message}]}}


def test_data_error_file_row_and_field_reach_the_failed_condition_and_event():
    obs = Observed(generation=1, workload=failed_job("PodFailurePolicy", "container trainer failed"),
                   pods=[trainer_pod(3, SUMMARY)])
    status = derive_status(obs, {"phase": "Running"}, T1)
    assert status["phase"] == "Failed" and status["reason"] == "DataError"
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "DataError"
    assert failed["message"] == f"trainer exited with code 3 (DataError): container trainer failed; trainer: {WHY}"
    assert status["message"] == failed["message"]
    [event] = transition_events({"phase": "Running"}, status)
    assert event.type == "Warning" and event.reason == "DataError" and WHY in event.message


def test_termination_message_sources():
    # the reason= line, and whatever follows it (a multi-line reason)
    assert termination_message([trainer_pod(4, "exit_code=4\nreason=reward: line 1\nline 2\n")]) == \
        "reward: line 1 line 2"
    # no reason= line (FallbackToLogsOnError: the log's tail): the last lines
    log = "\n".join(f"log {i}" for i in range(10)) + "\nRuntimeError: CUDA out of memory\n"
    assert termination_message([trainer_pod(1, log)]) == "log 6 | log 7 | log 8 | log 9 | RuntimeError: CUDA out of memory"
    # the newest pod wins; a restarted container's last state counts; exit 0 and empty messages don't
    older, newer = trainer_pod(3, "reason=old", created=T0), trainer_pod(4, "reason=new", name="q", created=T1)
    assert termination_message([newer, older]) == termination_message([older, newer]) == "new"
    assert termination_message([trainer_pod(3, "reason=restarted", last=True)]) == "restarted"
    assert termination_message([trainer_pod(0, "reason=fine"), trainer_pod(3, "  \n")]) == ""
    assert termination_message([trainer_pod(3, None)]) == ""
    assert len(termination_message([trainer_pod(1, "reason=" + "x" * 5000)])) == 2000
    # a long log tail keeps its end (where the error is), cut to 2000 characters
    tail = termination_message([trainer_pod(1, "\n".join(f"{i}" * 900 + "!" for i in range(1, 7)))])
    assert len(tail) == 2000 and tail.endswith("6" * 900 + "!") and tail.startswith("4")


def test_unknown_exit_code_and_rayjob_head_also_say_why():
    obs = Observed(workload=failed_job("BackoffLimitExceeded", "Job has reached the specified backoff limit"),
                   pods=[trainer_pod(1, "exit_code=1\nreason=verl exited with 1")])
    assert astuple(verdict(obs)) == ("Failed", "BackoffLimitExceeded",
                            "Job has reached the specified backoff limit; trainer: verl exited with 1")
    rayjob = {"kind": "RayJob", "metadata": {"name": "r"}, "spec": {},
              "status": {"jobStatus": "FAILED", "jobDeploymentStatus": "Failed", "message": "job failed"}}
    obs = Observed(workload=rayjob, pods=[trainer_pod(3, SUMMARY, container="ray-head")])
    assert astuple(verdict(obs)) == ("Failed", "DataError",
                            f"trainer exited with code 3 (DataError): job failed; trainer: {WHY}")
    # without a message nothing is added
    obs = Observed(workload=failed_job("PodFailurePolicy", "m"), pods=[trainer_pod(3, None)])
    assert astuple(verdict(obs)) == ("Failed", "DataError", "trainer exited with code 3 (DataError): m")
