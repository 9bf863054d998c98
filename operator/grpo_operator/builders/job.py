"""The batch/v1 Job that runs a one-node GRPOJob: one pod, restartPolicy Never, retries resume from checkpoints."""

from typing import Any

from grpo_api import GRPOJob
from grpo_api import constants as c

from .common import COMPONENT_TRAINER, is_suspended, object_meta, workload_name
from .pod import pod_template, trainer_command, trainer_container

TRAINER_CONTAINER = "trainer"

# Exit codes after which a retry cannot help: the trainer found the config, the data or the reward function
# broken, or Ray cannot get the CPUs/GPUs verl asks for.
FATAL_EXIT_CODES = sorted({c.EXIT_CONFIG_ERROR, c.EXIT_DATA_ERROR, c.EXIT_REWARD_ERROR, c.EXIT_RAY_RESOURCES})


def pod_failure_policy() -> dict[str, Any]:
    """Evictions/preemptions don't count against backoffLimit; a fatal trainer exit code fails the Job at once."""
    return {"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {"action": "FailJob", "onExitCodes": {
            "containerName": TRAINER_CONTAINER, "operator": "In", "values": FATAL_EXIT_CODES}},
    ]}


def build_job(job: GRPOJob, *, uid: str, image: str, namespace: str) -> dict[str, Any]:
    spec = job.spec
    container = trainer_container(job, image=image, namespace=namespace, name=TRAINER_CONTAINER,
                                  command=trainer_command())
    job_spec: dict[str, Any] = {
        "suspend": is_suspended(job),
        "parallelism": 1,
        "completions": 1,
        "backoffLimit": spec.backoff_limit,
        # With a pod failure policy a replacement starts only once the old pod is gone (no double GPU claim).
        "podReplacementPolicy": "Failed",
        "podFailurePolicy": pod_failure_policy(),
    }
    if spec.active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = spec.active_deadline_seconds
    if spec.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = spec.ttl_seconds_after_finished
    job_spec["template"] = pod_template(job, containers=[container], restart_policy="Never")
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": object_meta(job, name=workload_name(job), namespace=namespace, uid=uid,
                                component=COMPONENT_TRAINER, queue_label=True),
        "spec": job_spec,
    }
