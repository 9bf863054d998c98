"""The API writes and watch events one GRPOJob costs (the operator benchmark's budget), on the kmock emulator.

Per created GRPOJob the operator makes exactly: the ConfigMap, the NetworkPolicy, the Job, one status write,
one Event. kopf writes
nothing of its own (no progress/diff-base annotations: GRPOJobs are reconciled level-based from watch events),
the event of the operator's own status write and of the Job it just created cause no further writes, and a spec
change is still reconciled.
"""

from __future__ import annotations

import time

import kopf
import pytest

from grpo_operator.kopf_storage import NoDiffBase
from tests.harness.cluster import Cluster, grpojob
from tests.harness.operator_process import OperatorProcess, wait_for
from tests.harness.server import EmulatorServer

NS = "budget"


def test_no_diffbase_essence_is_empty_and_never_stored():
    storage = NoDiffBase()
    body = kopf.Body({"metadata": {"name": "x", "labels": {"a": "b"}}, "spec": {"k": 1}, "status": {"s": 2}})
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=storage.build(body=body))
    assert not patch


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    with EmulatorServer() as api:
        op = OperatorProcess(api.kubeconfig, tmp_path_factory.mktemp("operator"))
        op.start()
        try:
            yield api, op, Cluster(api.client(), NS)
        finally:
            op.stop()


def _writes(api, name):
    return sorted((w[1], w[2]) for w in list(api.emulator.writes)
                  if w[3] == NS and (w[4] in (name, f"{name}-config", f"{name}-trainer") or w[2] == "events"))


def test_one_grpojob_costs_five_writes_and_no_kopf_annotations(setup):
    api, op, cluster = setup
    names = [f"w{i}" for i in range(3)]
    for name in names:
        cluster.create(grpojob(name))
    for name in names:
        wait_for(lambda n=name: cluster.phase(n) == "Initializing", 20, f"{name} Initializing", op)
        wait_for(lambda n=name: cluster.events(n), 20, f"an Event for {name}", op)

    time.sleep(1.5)  # any follow-up write (a second status write, a kopf annotation patch) would land by now
    events = [w for w in api.emulator.writes if w[3] == NS and w[2] == "events"]
    assert len(events) == len(names)
    for name in names:
        mine = sorted((w[1], w[2]) for w in api.emulator.writes
                      if w[3] == NS and w[2] != "events" and w[4] in (name, f"{name}-config", f"{name}-trainer"))
        assert mine == [("create", "configmaps"), ("create", "grpojobs"), ("create", "jobs"),
                        ("create", "networkpolicies"), ("update", "grpojobs")], f"{name}: {mine}"
        annotations = cluster.get(name)["metadata"].get("annotations") or {}
        assert not [k for k in annotations if k.startswith(("grpo.dev/", "kopf.zalando.org/"))], annotations
        assert len(cluster.events(name)) == 1


def test_spec_change_is_still_reconciled(setup):
    api, op, cluster = setup
    name = "w-update"
    cluster.create(grpojob(name))
    wait_for(lambda: cluster.phase(name) == "Initializing", 20, "Initializing", op)
    cluster.patch_spec(name, {"suspend": True})
    wait_for(lambda: cluster.phase(name) == "Suspended", 20, "Suspended after a spec change", op)
    wait_for(lambda: cluster.job(name) is None, 20, "the Job deleted while suspended", op)
    assert cluster.status(name)["observedGeneration"] == 2
