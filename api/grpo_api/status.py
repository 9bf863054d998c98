"""GRPOJob status: written only by the operator, derived from the children and the trainer's metrics."""

from typing import Literal

from pydantic import Field

from .base import APIModel

Phase = Literal["Pending", "Queued", "Initializing", "Running", "Succeeded", "Failed", "Suspended"]
PHASES: tuple[str, ...] = Phase.__args__  # type: ignore[attr-defined]
TERMINAL_PHASES = ("Succeeded", "Failed")


class Condition(APIModel):
    """metav1.Condition."""

    type: str = Field(min_length=1, max_length=316)
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = Field("", max_length=32768)
    last_transition_time: str
    observed_generation: int | None = Field(None, ge=0)


class Progress(APIModel):
    global_step: int | None = None
    total_steps: int | None = None
    epoch: int | None = None
    reward_mean: float | None = None
    kl_loss: float | None = Field(None, alias="klLoss")
    last_update_time: str | None = None


class CheckpointStatus(APIModel):
    step: int
    path: str
    time: str | None = None


class ChildrenStatus(APIModel):
    config_map: str | None = None
    reward_config_map: str | None = None
    job: str | None = None
    ray_job: str | None = None


class GRPOJobStatus(APIModel):
    phase: Phase | None = None
    message: str | None = Field(None, description="Why the job is in this phase, for humans.")
    reason: str | None = Field(None, description="Why the job is in this phase, in one CamelCase word (the reason "
                                                 "of the condition that matches the phase, e.g. DataError).")
    conditions: list[Condition] | None = Field(
        None, json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]})
    observed_generation: int | None = None
    start_time: str | None = None
    completion_time: str | None = None
    progress: Progress | None = None
    last_checkpoint: CheckpointStatus | None = None
    children: ChildrenStatus | None = None
