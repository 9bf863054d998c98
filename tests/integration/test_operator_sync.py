"""The two reconcile steps (grpo_operator.reconciler) called directly against the API emulator over HTTP, with the
watch index lagging behind: a status derived right after `ensure_children` must already see the Job it created
(or not see the one it deleted), and a workload the watch showed gone must not be brought back by that memory."""

from __future__ import annotations

import asyncio
import functools

import pytest

from grpo_operator.kube import Kube, load_configuration
from grpo_operator.reconciler import Reconciler
from tests.harness.cluster import Cluster, grpojob
from tests.harness.server import EmulatorServer

NS = "sync"


@pytest.fixture()
def env(default_kubeconfig, tmp_path):
    with EmulatorServer(tmp_path) as api:
        default_kubeconfig(api.kubeconfig)
        yield api, Cluster(api.client(), NS)


def _steps(cluster: Cluster, name: str, scenario):
    tracked: list[str] = []

    def track(namespace, n, status, obs):
        tracked.append(status["phase"])

    def post(body, transitions):  # what kopf's event queue would post
        posted.extend(f"{e.type}/{e.reason}" for e in transitions)

    posted: list[str] = []

    async def main():
        kube = Kube(load_configuration(), timeout_s=10)
        reconciler = Reconciler(kube, track=track, post=post)
        try:
            return await scenario(reconciler, functools.partial(reconciler.sync_status, NS, name))
        finally:
            await kube.close()

    return asyncio.run(main()), tracked, posted


def test_status_right_after_create_sees_the_new_job_before_the_watch_does(env):
    api, cluster = env
    name = "lag"
    body = cluster.create(grpojob(name))

    async def scenario(r, sync_status):
        obs = await r.ensure_children(NS, name, workloads=[], known=body)
        assert obs.workload is not None and obs.workload["kind"] == "Job"
        # the index has no Job yet (workloads=[]): the status still names it and says Initializing
        status = await sync_status(workloads=[], pods=[], known=body)
        settled = r.already_derived(NS, name, body, [], [])
        # the watch then shows the Job: same uid, so nothing new to derive
        job = cluster.job(name)
        same = r.already_derived(NS, name, body, [job], [])
        # the Job is deleted and the watch says so: the memory of having created it must not revive it
        cluster.batch.delete_namespaced_job(name, NS)
        r.expectations.observed((NS, name), job["metadata"]["uid"], gone=True)
        after = await sync_status(workloads=[], pods=[], known=body)
        return status, settled, same, after

    (status, settled, same, after), tracked, posted = _steps(cluster, name, scenario)
    assert status["phase"] == "Initializing" and status["children"]["job"] == name
    assert settled and same, "the Job's own watch event costs no second status sync"
    assert after["phase"] == "Pending", "a Job the watch showed deleted is not kept alive by the overlay"
    assert tracked == ["Initializing", "Pending"]
    assert posted == ["Normal/Initializing", "Normal/Pending"], "one Event per transition"
    status_writes = [w for w in api.emulator.writes if w[1] == "update" and w[2] == "grpojobs" and w[4] == name]
    assert len(status_writes) == 2


def test_resume_right_after_suspend_recreates_the_job_before_the_watch_shows_the_old_one_gone(env):
    _, cluster = env
    name = "susp"
    body = cluster.create(grpojob(name))

    async def scenario(r, sync_status):
        await r.ensure_children(NS, name, workloads=[], known=body)
        old = cluster.job(name)
        suspended = cluster.patch_spec(name, {"suspend": True})
        gone = await r.ensure_children(NS, name, workloads=[old], known=suspended)
        status = await sync_status(workloads=[old], pods=[], known=suspended)
        # resumed before the old Job's DELETED event reached the index (it still lists the old Job)
        resumed = cluster.patch_spec(name, {"suspend": False})
        back = await r.ensure_children(NS, name, workloads=[old], known=resumed)
        return old, gone, status, back

    (old, gone, status, back), _, posted = _steps(cluster, name, scenario)
    assert gone.workload is None and status["phase"] == "Suspended" and posted == ["Normal/Suspended"]
    new = cluster.job(name)
    assert new is not None and new["metadata"]["uid"] != old["metadata"]["uid"], "recreated at once on resume"
    assert back.workload["metadata"]["uid"] == new["metadata"]["uid"]
