"""`grpo logs` and `./train.sh`'s follow mode stream the trainer's log through the real kubernetes client's
read_namespaced_pod_log against the API emulator, whose pods/log endpoint stands in for the kubelet."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client

from grpo_api.constants import LABEL_GRPOJOB
from tests.harness.server import EmulatorServer

REPO = Path(__file__).resolve().parents[2]
NS = "default"


@pytest.fixture(scope="module")
def api():
    with EmulatorServer() as server:
        yield server


def _grpo(api, *args, **kw):
    return subprocess.Popen([sys.executable, "-m", "grpo_cli.main", *args], env=api.cli_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _grpojob(api, name):
    body = {"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob", "metadata": {"name": name},
            "spec": {"model": {"path": "m"}}}
    client.CustomObjectsApi(api.client()).create_namespaced_custom_object("grpo.dev", "v1alpha1", NS, "grpojobs",
                                                                          body)


def _set_phase(api, name, phase, message=None):
    client.CustomObjectsApi(api.client()).patch_namespaced_custom_object_status(
        "grpo.dev", "v1alpha1", NS, "grpojobs", name, {"status": {"phase": phase, "message": message}})


def _pod(api, grpojob, pod, containers, node_type=None, created=None):
    labels = {LABEL_GRPOJOB: grpojob, **({"ray.io/node-type": node_type} if node_type else {})}
    client.CoreV1Api(api.client()).create_namespaced_pod(NS, {
        "metadata": {"name": pod, "labels": labels},
        "spec": {"containers": [{"name": c, "image": "i"} for c in containers]}})


def _wait(proc, text, timeout=20):
    """Read the process's stdout until `text` shows up; return what was read."""
    seen, deadline = "", time.monotonic() + timeout
    while text not in seen:
        assert time.monotonic() < deadline, f"timed out waiting for {text!r}; got {seen!r}"
        seen += proc.stdout.readline()
    return seen


def _logs_in_process(api, monkeypatch, capsys, *args):
    """`grpo logs NAME [-n NS]` in this process (its kube connection: the emulator's client)."""
    from grpo_cli import logs

    monkeypatch.setattr("grpo_cli.submit.connect", lambda: (api.client(), NS))
    code = logs.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_logs_prints_the_trainer_containers_log(api, monkeypatch, capsys):
    _grpojob(api, "once")
    _pod(api, "other", "other-pod", ["trainer"])
    api.emulator.set_pod_log(NS, "other-pod", "not this one\n", container="trainer")
    code, _, err = _logs_in_process(api, monkeypatch, capsys, "once")
    assert code == 2 and "GRPOJob once has no trainer pod" in err
    _pod(api, "once", "once-trainer-abc", ["trainer"])
    code, _, err = _logs_in_process(api, monkeypatch, capsys, "once", "-n", NS)
    assert code == 2 and "waiting to start" in err  # no log yet: the API's 400
    api.emulator.set_pod_log(NS, "once-trainer-abc", "step 1 reward 0.25\nstep 2 ✓ 0.5\n", container="trainer")
    code, out, err = _logs_in_process(api, monkeypatch, capsys, "once")
    assert code == 0, err
    assert out == "step 1 reward 0.25\nstep 2 ✓ 0.5\n"
    code, _, err = _logs_in_process(api, monkeypatch, capsys, "missing")
    assert code == 2 and "GRPOJob missing not found" in err
    # the `grpo` entry point lists and runs the command
    proc = _grpo(api, "logs", "once")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out == "step 1 reward 0.25\nstep 2 ✓ 0.5\n", err


def test_logs_follow_streams_the_rayjob_heads_driver_until_the_job_ends(api):
    _grpojob(api, "ray")
    proc = _grpo(api, "logs", "ray", "--follow")
    time.sleep(1.5)  # it waits for the pod
    _pod(api, "ray", "ray-worker-1", ["ray-worker"], node_type="worker")
    _pod(api, "ray", "ray-head-1", ["ray-head", "ray-job-submitter"], node_type="head")
    api.emulator.set_pod_log(NS, "ray-head-1", "ray runtime\n", container="ray-head")
    api.emulator.set_pod_log(NS, "ray-worker-1", "worker\n", container="ray-worker")
    api.emulator.set_pod_log(NS, "ray-head-1", "driver: step 1\n", container="ray-job-submitter")
    _wait(proc, "driver: step 1")
    api.emulator.set_pod_log(NS, "ray-head-1", "driver: step 2\nTraceback: boom\n", container="ray-job-submitter",
                             append=True)
    _wait(proc, "Traceback: boom")
    api.emulator.end_pod_log(NS, "ray-head-1", container="ray-job-submitter")
    _set_phase(api, "ray", "Failed", "boom")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "worker" not in out and "ray runtime" not in out


def test_train_sh_follow_streams_the_log_then_the_verdict(api, tmp_path):
    data = tmp_path / "train.json"
    data.write_text(json.dumps([{"prompt": "1+1?", "ground_truth": "2", "data_source": "math_reasoning"}]))
    proc = subprocess.Popen([str(REPO / "train.sh"), "--name", "tail-1", "--data", str(data)], env=api.cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait(proc, "created in namespace")
    _pod(api, "tail-1", "tail-1-trainer-x", ["trainer"])
    api.emulator.set_pod_log(NS, "tail-1-trainer-x", "converting data\n", container="trainer")
    _wait(proc, "converting data")
    api.emulator.set_pod_log(NS, "tail-1-trainer-x", "ERROR: data: train.json: row 1: field 'prompt'\n",
                             container="trainer", append=True)
    api.emulator.end_pod_log(NS, "tail-1-trainer-x", container="trainer")
    _set_phase(api, "tail-1", "Failed", "trainer exited with code 3 (DataError)")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert out.index("ERROR: data: train.json: row 1") < out.index("Failed: trainer exited with code 3")
