"""A flaky cluster, on the real operator process (`kopf run`) against the API emulator over HTTP.

Each scenario fails without its fix: deleted children are restored (ConfigMaps, Job, RayJob), a watch request
answered 410 Gone re-lists instead of stopping the operator, 429 Retry-After is obeyed, no children are created
for a GRPOJob that was already deleted, and a child the API server refuses (422) is reported, not retried.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict

import pytest

from tests.harness.cluster import BASE_SPEC, Cluster, grpojob, now, unique
from tests.harness.operator_process import OperatorProcess, wait_for
from tests.harness.server import EmulatorServer

T = 20
INLINE = {"inline": "def compute_score(*a, **k):\n    return 1.0\n"}


@pytest.fixture(scope="module")
def api():
    with EmulatorServer() as server:
        yield server


@pytest.fixture(scope="module")
def operator(api, tmp_path_factory):
    op = OperatorProcess(api.kubeconfig, tmp_path_factory.mktemp("operator"))
    op.start()
    yield op
    op.stop()


@pytest.fixture
def cluster(api, operator, request):
    assert operator.running, operator.log()[-4000:]
    return Cluster(api.client(), namespace=unique(re.sub(r"[^a-z0-9]+", "-", request.node.name[5:25].lower()).strip("-")))


def until(fn, what, operator, timeout=T):
    return wait_for(fn, timeout, what, operator)


def uid(obj):
    return obj["metadata"]["uid"]


# --- deleted children are restored ----------------------------------------------------------------------------


def test_deleted_configmaps_and_job_are_recreated(cluster, operator):
    name = "restore"
    cluster.create(grpojob(name, {**BASE_SPEC, "reward": INLINE}))
    job = until(lambda: cluster.job(name), "the trainer Job", operator)
    config = until(lambda: cluster.configmap(f"{name}-config"), "the config ConfigMap", operator)
    reward = cluster.configmap(f"{name}-reward")

    for cm in (config, reward):  # a replacement pod would hang on the missing mount
        cluster.core.delete_namespaced_config_map(cm["metadata"]["name"], cluster.ns)
    for cm in (config, reward):
        again = until(lambda n=cm["metadata"]["name"]: cluster.configmap(n), f"{cm['metadata']['name']} restored",
                      operator)
        assert uid(again) != uid(cm) and again["data"] == cm["data"]
        assert again["metadata"]["ownerReferences"] == cm["metadata"]["ownerReferences"]
    assert uid(cluster.job(name)) == uid(job), "the running Job is left alone"

    cluster.batch.delete_namespaced_job(name, cluster.ns)
    until(lambda: (cluster.job(name) or {}).get("metadata", {}).get("uid") not in (None, uid(job)),
          "the Job recreated", operator)


def test_deleted_rayjob_is_recreated(cluster, operator):
    name = "restore-ray"
    cluster.create(grpojob(name, {**BASE_SPEC, "resources": {"nodes": 2, "gpusPerNode": 8},
                                  "checkpoint": {"claimName": "shared"}}))
    first = until(lambda: cluster.rayjob(name), "the RayJob", operator)
    cluster.custom.delete_namespaced_custom_object("ray.io", "v1", cluster.ns, "rayjobs", name)
    until(lambda: (cluster.rayjob(name) or {}).get("metadata", {}).get("uid") not in (None, uid(first)),
          "the RayJob recreated", operator)


def test_a_finished_grpojobs_configmap_is_not_restored(cluster, operator):
    name = "restore-done"
    cluster.create(grpojob(name))
    until(lambda: cluster.job(name), "the trainer Job", operator)
    cluster.patch_job_status(name, {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1,
                                    "completionTime": now()})
    until(lambda: cluster.phase(name) == "Succeeded", "phase Succeeded", operator)
    cluster.core.delete_namespaced_config_map(f"{name}-config", cluster.ns)
    time.sleep(1.5)
    assert cluster.configmap(f"{name}-config") is None


# --- 410 Gone on a watch request --------------------------------------------------------------------------------


def test_watch_answered_410_relists_and_continues(cluster, operator, api):
    name = "before-410"
    cluster.create(grpojob(name))
    until(lambda: cluster.job(name), "the trainer Job", operator)
    gone = [api.emulator.inject_fault(410, action="watch", plural=plural, count=2)
            for plural in ("grpojobs", "jobs")]
    api.drop_watches()  # every stream reconnects with its resourceVersion and gets the 410
    until(lambda: all(f.hits == 2 for f in gone), "the watch reconnections answered 410", operator)

    after = "after-410"
    cluster.create(grpojob(after))
    until(lambda: cluster.job(after), "a Job for a GRPOJob created after the 410s (re-listed, watching)", operator)
    cluster.patch_job_status(name, {"active": 1, "ready": 1})
    until(lambda: cluster.phase(name) == "Running", "Job events still reach the operator", operator)
    assert operator.running, operator.log()[-4000:]
    assert "APIClientError" not in operator.log()


# --- 429 Too Many Requests with Retry-After ---------------------------------------------------------------------


def test_throttled_requests_wait_for_retry_after(cluster, operator, api):
    """5 GRPOJobs whose Job creates are answered 429 Retry-After: 1 for 4 s: each Job is retried at most once a
    second (before: 80-120 throttled requests in 4 s), and all are created once the server accepts them."""
    retry_after, window, names = 1.0, 4.0, [f"thr-{i}" for i in range(5)]
    throttle = api.emulator.inject_fault(429, action="create", plural="jobs", count=10_000, retry_after=retry_after)
    t0 = time.monotonic()
    for name in names:
        cluster.create(grpojob(name))
    time.sleep(window - (time.monotonic() - t0))
    throttle.count = 0  # the server accepts requests again
    hits = list(zip(throttle.hit_times, throttle.hit_names, strict=True))
    for name in names:
        until(lambda n=name: cluster.job(n), f"the Job of {name} once the throttling ended", operator)

    per_job = defaultdict(list)
    for t, name in hits:
        per_job[name].append(t)
    allowed = len(names) * (window / retry_after + 1)
    print(f"{len(hits)} throttled requests in {window:.0f} s for {len(names)} jobs (allowed {allowed:.0f})")
    assert set(per_job) == set(names), per_job.keys()
    assert len(hits) <= allowed, f"{len(hits)} throttled requests in {window} s"
    for name, times in per_job.items():
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert all(g >= retry_after * 0.95 for g in gaps), f"{name} retried after {min(gaps):.2f} s < Retry-After"


# --- create/delete churn ------------------------------------------------------------------------------------------


def test_churn_creates_no_children_for_deleted_grpojobs(cluster, operator, api):
    """GRPOJobs created and deleted right away, in a burst: the operator must not create a Job (GPU pods) for one
    that is already gone. The emulator, like a real API server, accepts such a child and garbage-collects it
    (`orphans_collected`); a real cluster's pods could start before that."""
    names = [f"churn-{i}" for i in range(40)]
    for name in names:
        cluster.create(grpojob(name, {**BASE_SPEC, "reward": INLINE}))
        cluster.delete(name)
    survivor = "churn-survivor"
    cluster.create(grpojob(survivor))
    until(lambda: cluster.job(survivor), "the Job of a GRPOJob created after the burst", operator)
    time.sleep(1.0)  # any late reconcile of the burst would land by now

    orphans = [o for o in api.emulator.orphans_collected if o[2] == cluster.ns]
    print(f"children created for deleted GRPOJobs: {len(orphans)} ({sorted({o[1] for o in orphans})})")
    jobs = sorted(o[3] for o in orphans if o[1] in ("jobs", "rayjobs"))
    assert not jobs, f"{len(jobs)} Jobs created for GRPOJobs already deleted: {jobs}"
    # ConfigMaps and the NetworkPolicy are written without the check (they start no pods and are collected at
    # once through their ownerReference, as here), so only the workload is guarded.
    for name in names:
        assert cluster.get(name) is None
        assert cluster.children(name) == {"ConfigMap": [], "Job": []}, name


# --- a child the API server refuses ------------------------------------------------------------------------------


def test_a_refused_child_fails_the_grpojob_until_the_spec_changes(cluster, operator, api):
    name = "refused"
    message = 'Job.batch "refused" is invalid: spec.template.metadata.labels: Invalid value: "x": must be 63 characters or less'
    refusal = api.emulator.inject_fault(422, action="create", plural="jobs", count=1, message=message)
    cluster.create(grpojob(name))
    until(lambda: cluster.phase(name) == "Failed", "phase Failed", operator)
    failed, valid = cluster.condition(name, "Failed"), cluster.condition(name, "Valid")
    assert failed["reason"] == "ChildRejected" and message in failed["message"]
    assert valid["status"] == "False" and valid["reason"] == "ChildRejected"
    assert not cluster.status(name).get("completionTime"), "not a finished run: fixing the spec runs it"
    warning = until(lambda: [e for e in cluster.events(name) if e["reason"] == "ChildRejected"], "an Event", operator)
    assert warning[0]["type"] == "Warning" and message in warning[0]["message"]

    time.sleep(2)  # the retry backoff is 0.5 s in these tests: a retry would have created the Job by now
    assert refusal.hits == 1 and cluster.job(name) is None, "the same spec is not retried"
    assert cluster.phase(name) == "Failed"

    cluster.patch_spec(name, {"training": {"epochs": 3}})  # a new spec is tried again
    until(lambda: cluster.job(name), "the Job once the spec changed", operator)
    until(lambda: cluster.phase(name) == "Initializing", "phase Initializing", operator)
    assert cluster.condition(name, "Valid")["status"] == "True"


def test_operator_never_restarted(operator):
    """Runs last: one operator process lived through every fault above."""
    assert operator.running and operator.starts == 1, operator.log()[-5000:]
