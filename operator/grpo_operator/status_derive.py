"""Derive a GRPOJob's status from what the operator observed (pure: no API calls, no clock).

Level-based: the same observation always gives the same phase, so a restarted operator writes the same status.
Phase is decided explicitly (never "the last condition"):

    InvalidSpec / missing reference  -> Failed     (Valid=False)
    a child refused by the API (400/422) -> Failed (Valid=False, reason ChildRejected, the server's message)
    finished before, workload gone   -> unchanged  (e.g. the Job was removed by ttlSecondsAfterFinished)

`ttl_remaining` says when a finished GRPOJob is due for deletion (spec.ttlSecondsAfterFinished).
    spec.suspend                     -> Suspended
    no workload yet                  -> Pending
    Job/RayJob suspended by Kueue    -> Queued
    workload complete / failed       -> Succeeded / Failed (reason from the Job condition or the pod's exit code)
    a ready trainer pod              -> Running
    otherwise                        -> Initializing (reason: ImagePullBackOff, CrashLoopBackOff, Evicted,
                                        SecretNotFound, ...)

The operator reads no Secrets: a missing one is seen in the pod, as the kubelet's CreateContainerConfigError
(`secret "hf" not found`, `couldn't find key token in Secret ns/hf`), and reported as SecretNotFound naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from grpo_api.constants import EXIT_CONFIG_ERROR, EXIT_DATA_ERROR, EXIT_RAY_RESOURCES, EXIT_REWARD_ERROR
from grpo_api.status import TERMINAL_PHASES

# Trainer exit code -> condition reason (the Job's podFailurePolicy fails the Job at once on these).
EXIT_CODE_REASONS = {
    EXIT_CONFIG_ERROR: "ConfigError",
    EXIT_DATA_ERROR: "DataError",
    EXIT_REWARD_ERROR: "RewardError",
    EXIT_RAY_RESOURCES: "InsufficientRayResources",
}
# Container waiting reasons worth surfacing, most specific first.
WAITING_REASONS = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError",
                   "CreateContainerError", "CrashLoopBackOff")
SPEC_CHANGE_REJECTED = "SpecChangeRejected"
WARNINGS = "Warnings"  # condition type: settings verl accepts but that have no effect (never a refusal)
SETTING_HAS_NO_EFFECT = "SettingHasNoEffect"
CHILD_REJECTED = "ChildRejected"


@dataclass
class Observed:
    """Everything the status depends on, gathered by the handlers."""

    generation: int | None = None
    spec_errors: list[str] = field(default_factory=list)  # GRPOJobInvalid.errors
    missing_refs: list[tuple[str, str]] = field(default_factory=list)  # (reason, message)
    suspend: bool = False
    queue_name: str | None = None  # kueue.x-k8s.io/queue-name
    workload: dict[str, Any] | None = None  # the Job or RayJob
    pods: list[dict[str, Any]] = field(default_factory=list)
    rejected_fields: list[str] = field(default_factory=list)  # spec groups changed while running
    child_rejections: list[str] = field(default_factory=list)  # the API server's messages refusing a child
    warnings: list[str] = field(default_factory=list)  # "spec.<field>: why it has no effect" (verl_rules)


@dataclass(frozen=True)
class Verdict:
    phase: str
    reason: str
    message: str


# --- the verdict ----------------------------------------------------------------------------------------------


def _conditions_of(obj: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {c.get("type"): c for c in ((obj or {}).get("status") or {}).get("conditions") or []}


def _true(cond: dict[str, Any] | None) -> bool:
    return bool(cond) and cond.get("status") == "True"


def _pod_sort_key(pod: dict[str, Any]) -> str:
    return (pod.get("metadata") or {}).get("creationTimestamp") or ""


def _trainer_statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status") or {}
    return list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or [])


def pod_exit_code(pod: dict[str, Any]) -> int | None:
    for cs in _trainer_statuses(pod):
        term = (cs.get("state") or {}).get("terminated") or (cs.get("lastState") or {}).get("terminated")
        if term and term.get("exitCode") not in (None, 0):
            return int(term["exitCode"])
    return None


def termination_message(pods: list[dict[str, Any]]) -> str:
    """Why the trainer ended, from the newest pod whose container failed with a termination message.

    The trainer writes ``key=value`` lines to /dev/termination-log (trainer_entry.supervise.format_summary); its
    ``reason=`` line (a data error's file, row and field, the reward preflight error, verl's exception summary)
    is the answer. Without one (the container died before writing it; FallbackToLogsOnError then gives the log's
    tail) the last lines of the message are."""
    for pod in sorted(pods, key=_pod_sort_key, reverse=True):
        for cs in _trainer_statuses(pod):
            term = (cs.get("state") or {}).get("terminated") or (cs.get("lastState") or {}).get("terminated")
            text = (term or {}).get("message") or ""
            if term and term.get("exitCode") not in (None, 0) and text.strip():
                lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
                reason = next((i for i, ln in enumerate(lines) if ln.startswith("reason=")), None)
                if reason is not None:
                    return " ".join([lines[reason][len("reason="):].strip(), *lines[reason + 1:]])[:2000]
                return " | ".join(lines[-5:])[-2000:]
    return ""


def _with_termination(pods: list[dict[str, Any]], message: str) -> str:
    said = termination_message(pods)
    return f"{message}; trainer: {said}" if said else message


def pod_evicted(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("reason") == "Evicted" or _true(_conditions_of(pod).get("DisruptionTarget"))


# The kubelet's messages for a Secret that an env/envFrom entry names (pkg/kubelet/kuberuntime).
_SECRET_MISSING = re.compile(r'\bsecrets? "(?P<name>[^"]+)" not found')
_SECRET_KEY_MISSING = re.compile(r"couldn't find key (?P<key>\S+) in Secret (?:(?P<ns>[^/\s]+)/)?(?P<name>\S+)")


def missing_secret(message: str) -> tuple[str, str | None] | None:
    """(Secret name, missing key or None) when a CreateContainerConfigError message is about a Secret."""
    if m := _SECRET_KEY_MISSING.search(message or ""):
        return m.group("name"), m.group("key")
    if m := _SECRET_MISSING.search(message or ""):
        return m.group("name"), None
    return None


def _secret_verdict(pod_name: str, message: str) -> tuple[str, str] | None:
    found = missing_secret(message)
    if found is None:
        return None
    secret, key = found
    what = f"Secret {secret} has no key {key}" if key else f"Secret {secret} not found"
    return "SecretNotFound", (f"{what}: pod {pod_name} cannot start until it exists (referenced by spec.pod.env "
                              f"or spec.pod.envFrom; create it, or fix the name); kubelet: {message}")


def _pod_waiting(pod: dict[str, Any]) -> tuple[str, str] | None:
    found = {}
    for cs in _trainer_statuses(pod):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in WAITING_REASONS:
            found.setdefault(waiting["reason"], waiting.get("message") or "")
    for reason in WAITING_REASONS:
        if reason in found:
            name = (pod.get("metadata") or {}).get("name", "?")
            if reason == "CreateContainerConfigError" and (secret := _secret_verdict(name, found[reason])):
                return secret
            detail = f": {found[reason]}" if found[reason] else ""
            return ("ImagePullBackOff" if reason == "ErrImagePull" else reason), f"pod {name}: {reason}{detail}"
    return None


def _pod_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and _true(_conditions_of(pod).get("Ready"))


def _failure_from_exit_code(pods: list[dict[str, Any]], message: str) -> tuple[str, str] | None:
    for pod in sorted(pods, key=_pod_sort_key, reverse=True):
        code = pod_exit_code(pod)
        if code in EXIT_CODE_REASONS:
            return EXIT_CODE_REASONS[code], f"trainer exited with code {code} ({EXIT_CODE_REASONS[code]}): {message}"
    m = re.search(r"exit code (\d+)", message or "")
    if m and int(m.group(1)) in EXIT_CODE_REASONS:
        code = int(m.group(1))
        return EXIT_CODE_REASONS[code], f"trainer exited with code {code} ({EXIT_CODE_REASONS[code]}): {message}"
    return None


def _job_verdict(obs: Observed) -> Verdict:
    job = obs.workload or {}
    conds = _conditions_of(job)
    name = (job.get("metadata") or {}).get("name", "?")
    if _true(conds.get("Complete")) or _true(conds.get("SuccessCriteriaMet")):
        return Verdict("Succeeded", "Completed", f"Job {name} completed")
    failed = conds.get("Failed") if _true(conds.get("Failed")) else conds.get("FailureTarget")
    if _true(failed):
        reason = failed.get("reason") or "JobFailed"
        message = failed.get("message") or f"Job {name} failed"
        if reason == "PodFailurePolicy":
            reason, message = _failure_from_exit_code(obs.pods, message) or (reason, message)
        elif reason == "BackoffLimitExceeded":
            latest = sorted(obs.pods, key=_pod_sort_key)[-1:]
            if latest and pod_evicted(latest[0]):
                reason, message = "Evicted", f"{message}; the last pod was evicted"
            elif coded := _failure_from_exit_code(obs.pods, message):
                message = coded[1]
        return Verdict("Failed", reason, _with_termination(obs.pods, message))
    if (job.get("spec") or {}).get("suspend"):
        if obs.queue_name:
            return Verdict("Queued", "WaitingForKueue",
                           f"Job {name} is suspended until Kueue admits it (queue {obs.queue_name})")
        return Verdict("Queued", "JobSuspended", f"Job {name} is suspended")
    return _pods_verdict(obs, int((job.get("status") or {}).get("ready") or 0), f"Job {name}")


def _pods_verdict(obs: Observed, ready_count: int, what: str) -> Verdict:
    pods = sorted(obs.pods, key=_pod_sort_key)
    live = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    if any(_pod_ready(p) for p in live) or (ready_count > 0 and not obs.pods):
        return Verdict("Running", "TrainerRunning", f"{what}: the trainer is running")
    for pod in live:
        if waiting := _pod_waiting(pod):
            return Verdict("Initializing", *waiting)
    evicted = [p for p in pods if pod_evicted(p)]
    if evicted and not any(_pod_ready(p) for p in live):
        pod = evicted[-1]
        msg = ((pod.get("status") or {}).get("message")
               or _conditions_of(pod).get("DisruptionTarget", {}).get("message") or "")
        return Verdict("Initializing", "Evicted",
                       f"pod {pod['metadata'].get('name', '?')} was evicted{': ' + msg if msg else ''}; "
                       f"a new pod resumes from the last checkpoint")
    return Verdict("Initializing", "PodStarting", f"{what}: waiting for the trainer pod to start")


def _rayjob_verdict(obs: Observed) -> Verdict:
    rj = obs.workload or {}
    status = rj.get("status") or {}
    name = (rj.get("metadata") or {}).get("name", "?")
    deployment, job_status = status.get("jobDeploymentStatus"), status.get("jobStatus")
    message = status.get("message") or ""
    if job_status == "SUCCEEDED" or deployment == "Complete" and job_status != "FAILED":
        return Verdict("Succeeded", "Completed", f"RayJob {name} completed")
    if job_status in ("FAILED", "STOPPED") or deployment in ("Failed", "ValidationFailed"):
        reason = status.get("reason") or "RayJobFailed"
        if reason == "DeadlineExceeded":
            return Verdict("Failed", "DeadlineExceeded", message or f"RayJob {name} exceeded its deadline")
        reason, message = _failure_from_exit_code(obs.pods, message) or (reason, message or f"RayJob {name} failed")
        return Verdict("Failed", reason, _with_termination(obs.pods, message))
    if (rj.get("spec") or {}).get("suspend") or deployment in ("Suspended", "Suspending"):
        reason = "WaitingForKueue" if obs.queue_name else "RayJobSuspended"
        return Verdict("Queued", reason, f"RayJob {name} is suspended"
                       + (f" until Kueue admits it (queue {obs.queue_name})" if obs.queue_name else ""))
    if job_status == "RUNNING":
        return Verdict("Running", "TrainerRunning", f"RayJob {name}: the trainer is running")
    return _pods_verdict(obs, 0, f"RayJob {name}")


def verdict(obs: Observed, previous: dict[str, Any] | None = None) -> Verdict:
    previous = previous or {}
    if obs.spec_errors:
        return Verdict("Failed", "InvalidSpec", "; ".join(obs.spec_errors))
    if obs.missing_refs:
        return Verdict("Failed", obs.missing_refs[0][0], "; ".join(m for _, m in obs.missing_refs))
    if obs.child_rejections:
        return Verdict("Failed", CHILD_REJECTED, "; ".join(obs.child_rejections)
                       + "; fix the spec (the operator retries once it changes)")
    if obs.workload is None and previous.get("completionTime") and previous.get("phase") in TERMINAL_PHASES:
        return Verdict(previous["phase"], _previous_reason(previous), previous.get("message") or "")
    if obs.suspend:
        return Verdict("Suspended", "SuspendedByUser",
                       "spec.suspend is true: the trainer was stopped; checkpoints are kept on the outputs volume")
    if obs.workload is None:
        return Verdict("Pending", "CreatingWorkload", "creating the trainer workload")
    if obs.workload.get("kind") == "RayJob":
        return _rayjob_verdict(obs)
    return _job_verdict(obs)


def _previous_reason(previous: dict[str, Any]) -> str:
    for cond in previous.get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return cond.get("reason") or previous.get("phase")
    return previous.get("phase") or "Unknown"


# --- conditions and the status object -------------------------------------------------------------------------


def _condition_states(v: Verdict, obs: Observed) -> dict[str, tuple[str, str, str]]:
    """type -> (status, reason, message)."""
    invalid = v.reason == "InvalidSpec" or bool(obs.missing_refs or obs.child_rejections) and v.phase == "Failed"
    states = {
        "Valid": ("False", v.reason, v.message) if invalid else ("True", "SpecValid", "the spec is valid"),
        "Queued": ("True", v.reason, v.message) if v.phase == "Queued" else ("False", "NotQueued", ""),
        "Running": (("True", v.reason, v.message) if v.phase == "Running" else
                    ("False", v.reason, v.message) if v.phase == "Initializing" else ("False", "NotRunning", "")),
        "Suspended": ("True", v.reason, v.message) if v.phase == "Suspended" else ("False", "NotSuspended", ""),
        "Complete": ("True", v.reason, v.message) if v.phase == "Succeeded" else ("False", "NotComplete", ""),
        "Failed": ("True", v.reason, v.message) if v.phase == "Failed" else ("False", "NotFailed", ""),
    }
    return states


def build_conditions(v: Verdict, obs: Observed, previous: list[dict[str, Any]] | None,
                     now: str) -> list[dict[str, Any]]:
    prev = {c.get("type"): c for c in previous or []}
    states = _condition_states(v, obs)
    if obs.rejected_fields:
        states[SPEC_CHANGE_REJECTED] = (
            "True", SPEC_CHANGE_REJECTED,
            f"{', '.join('spec.' + f for f in obs.rejected_fields)} changed while the job has a running "
            f"workload; only spec.suspend and spec.ttlSecondsAfterFinished can change now. Suspend the job "
            f"(spec.suspend: true) to apply the change; it resumes from the last checkpoint.")
    if obs.warnings:
        states[WARNINGS] = ("True", SETTING_HAS_NO_EFFECT, "; ".join(obs.warnings))
    out = []
    for ctype, (status, reason, message) in states.items():
        # Keep the status small (kopf copies the whole object on every event): Valid always, the others
        # while they are True, and Running=False with its reason while the trainer is starting.
        if status != "True" and ctype != "Valid" and not (ctype == "Running" and v.phase == "Initializing"):
            continue
        old = prev.get(ctype)
        changed = old is None or old.get("status") != status
        out.append({
            "type": ctype, "status": status, "reason": reason, "message": message[:32000],
            "lastTransitionTime": now if changed else old.get("lastTransitionTime", now),
            **({"observedGeneration": obs.generation} if obs.generation is not None else {}),
        })
    return out


def derive_status(obs: Observed, previous: dict[str, Any] | None, now: str,
                  children: dict[str, str] | None = None) -> dict[str, Any]:
    """The operator-owned part of .status (progress and lastCheckpoint are written by the progress poller)."""
    previous = previous or {}
    v = verdict(obs, previous)
    status: dict[str, Any] = {
        "phase": v.phase,
        "message": v.message[:4000],
        "reason": v.reason,
        "conditions": build_conditions(v, obs, previous.get("conditions"), now),
        "observedGeneration": obs.generation,
        "startTime": previous.get("startTime"),
        "completionTime": previous.get("completionTime"),
        "children": children if children is not None else previous.get("children"),
    }
    if v.phase in ("Initializing", "Running") and not status["startTime"]:
        status["startTime"] = now
    run_ended = (v.phase in TERMINAL_PHASES and v.reason not in ("InvalidSpec",) and not obs.missing_refs
                 and not obs.child_rejections)
    if run_ended and not status["completionTime"]:
        status["completionTime"] = now
    if v.phase not in TERMINAL_PHASES:
        status["completionTime"] = None  # resumed or un-failed (e.g. a missing ConfigMap was created)
    return status


def status_changed(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether writing `new` changes anything (transition times alone don't count)."""
    old = old or {}

    def strip(s: dict[str, Any]) -> dict[str, Any]:
        conds = [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in s.get("conditions") or []]
        return {**{k: s.get(k) for k in new if k != "conditions"}, "conditions": conds}

    return strip(old) != strip(new)


def ttl_remaining(spec: dict[str, Any], status: dict[str, Any] | None, now: datetime) -> float | None:
    """Seconds until a finished GRPOJob is due for deletion under spec.ttlSecondsAfterFinished (<= 0: due now).

    The GRPOJob's TTL means the same for one node and N nodes, as a Job's TTL does for a Job: N s after the run
    ended (status.completionTime, set once Succeeded/Failed) the GRPOJob is deleted, and its children (Job or
    RayJob, ConfigMaps) go with it through their ownerReferences. None: no TTL, or the run has not ended
    (suspended, running, or an invalid spec that never ran). GPU pods do not wait for it: a Job pod stops with
    its trainer, and a RayJob's Ray cluster is deleted as soon as the job ends (RayJob TTL 0).
    """
    ttl = spec.get("ttlSecondsAfterFinished")
    status = status or {}
    done = status.get("completionTime")
    if ttl is None or not done or status.get("phase") not in TERMINAL_PHASES:
        return None
    ended = datetime.fromisoformat(str(done).replace("Z", "+00:00"))
    return (ended - now).total_seconds() + ttl
