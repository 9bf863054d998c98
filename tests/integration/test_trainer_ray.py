"""The multi-node wait: poll the cluster's resources until every GPU node joined, then check CPUs.

Ray itself is not installed here (it ships in the trainer image), so the resources come from a plain function
with the shape of ``ray.cluster_resources()``; the clock is a counter so the test takes no wall time.
"""

import pytest

from trainer_entry.verl_engine.overrides import RayResourceError
from trainer_entry.verl_engine.ray_cluster import wait_for_cluster


class Cluster:
    """Workers join one per poll: 8 GPUs and 33 CPUs per node."""

    def __init__(self, nodes_at_start=1, max_nodes=2, cpus_per_node=33):
        self.nodes = nodes_at_start
        self.max_nodes = max_nodes
        self.cpus = cpus_per_node
        self.now = 0.0

    def resources(self):
        return {"GPU": 8.0 * self.nodes, "CPU": float(self.cpus * self.nodes), "memory": 1e12}

    def sleep(self, s):
        self.now += s
        self.nodes = min(self.max_nodes, self.nodes + 1)

    def clock(self):
        return self.now


def test_waits_until_workers_join():
    cl = Cluster(nodes_at_start=1, max_nodes=2)
    have = wait_for_cluster(cl.resources, gpus=16, timeout_s=60, poll_s=5, sleep=cl.sleep, clock=cl.clock)
    assert have["GPU"] == 16 and cl.now == 5


def test_times_out_when_workers_never_join():
    cl = Cluster(nodes_at_start=1, max_nodes=1)
    with pytest.raises(RayResourceError, match="shows 8 of 16 GPUs after 60s; worker nodes did not join"):
        wait_for_cluster(cl.resources, gpus=16, timeout_s=60, poll_s=5, sleep=cl.sleep, clock=cl.clock)


def test_too_few_cluster_cpus():
    cl = Cluster(nodes_at_start=2, cpus_per_node=10)
    with pytest.raises(RayResourceError, match="Ray sees 20 CPUs for 16 GPUs"):
        wait_for_cluster(cl.resources, gpus=16, sleep=cl.sleep, clock=cl.clock)
