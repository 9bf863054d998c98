"""Resource checks before verl starts Ray work (verl waits forever, silently, when Ray lacks CPUs).

Plain pod (one node): verl's main_ppo starts a local Ray that counts the container's CPUs, so the check uses
:func:`trainer_entry.verl_engine.overrides.container_cpus`. RayJob head (``RAY_ADDRESS`` set by the Ray job runtime): the
cluster already runs; wait until every worker node has joined (all GPUs visible), then check its CPU total.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from trainer_entry.verl_engine.overrides import RayResourceError, ray_cpu_check

Resources = Callable[[], dict[str, float]]


def connected_cluster_resources() -> Resources:
    """``ray.cluster_resources`` of the cluster named by RAY_ADDRESS (ray is in the trainer image)."""
    import ray

    if not ray.is_initialized():
        ray.init(address="auto", log_to_driver=False, logging_level="ERROR")
    return ray.cluster_resources


def disconnect() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


def wait_for_cluster(
    resources: Resources,
    gpus: int,
    timeout_s: float = 600.0,
    poll_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, float]:
    """Poll until the cluster shows ``gpus`` GPUs, then check CPUs. Raises RayResourceError on timeout/too few."""
    deadline = clock() + timeout_s
    while True:
        have = resources()
        if have.get("GPU", 0) >= gpus:
            ray_cpu_check(have.get("CPU", 0), gpus)
            return have
        if clock() >= deadline:
            raise RayResourceError(
                f"the Ray cluster shows {have.get('GPU', 0):g} of {gpus} GPUs after {timeout_s:g}s; "
                "worker nodes did not join (check the worker pods' events: GPU quota, node selector, taints)"
            )
        sleep(poll_s)
