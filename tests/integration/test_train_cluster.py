"""./train.sh against a real HTTP Kubernetes API (the kmock emulator): submit, upload, follow, detach."""

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kubernetes import client

from tests.harness.server import EmulatorServer

REPO = Path(__file__).resolve().parents[2]
NS = "default"


@pytest.fixture(scope="module")
def api():
    with EmulatorServer() as server:
        yield server


def _train(api, *args, **popen):
    return subprocess.Popen([str(REPO / "train.sh"), *args], env=api.cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _grpojob(api, name):
    return client.CustomObjectsApi(api.client()).get_namespaced_custom_object(
        "grpo.dev", "v1alpha1", NS, "grpojobs", name)


def _set_status(api, name, status):
    client.CustomObjectsApi(api.client()).patch_namespaced_custom_object_status(
        "grpo.dev", "v1alpha1", NS, "grpojobs", name, {"status": status})


@pytest.fixture
def files(tmp_path):
    data = tmp_path / "train.json"
    data.write_text(json.dumps([{"prompt": "请解答：15 + 27 = ?", "ground_truth": "42",
                                 "data_source": "math_reasoning"}], ensure_ascii=False))
    reward = tmp_path / "my_reward.py"
    reward.write_text("def compute_score(data_source, solution_str, ground_truth, extra_info=None):\n"
                      "    return float(ground_truth in solution_str)\n")
    return data, reward


def _wait_for(fn, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except client.exceptions.ApiException:
            pass
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_submit_uploads_local_files_owned_by_the_job(api, files):
    data, reward = files
    proc = _train(api, "--name", "submit-1", "--data", str(data), "--reward_func", str(reward),
                  "--rollout_n", "8", "--no-follow")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "submit-1 created in namespace default" in out
    job = _grpojob(api, "submit-1")
    assert job["spec"]["grpo"]["rolloutN"] == 8
    assert job["spec"]["reward"]["inline"] == reward.read_text()
    assert job["spec"]["data"]["train"] == {"configMap": {"name": "submit-1-data", "key": "train.json"}}
    cm = client.CoreV1Api(api.client()).read_namespaced_config_map("submit-1-data", NS)
    assert json.loads(cm.data["train.json"])[0]["ground_truth"] == "42"
    assert [(r.kind, r.name, r.uid) for r in cm.metadata.owner_references] == [
        ("GRPOJob", "submit-1", job["metadata"]["uid"])]


def test_duplicate_name_is_a_clear_error(api, files):
    data, _ = files
    for expected in (0, 2):
        proc = _train(api, "--name", "dup-1", "--data", str(data), "--no-follow")
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == expected, err
    assert "GRPOJob dup-1 already exists in namespace default" in err


def test_follow_prints_progress_until_the_job_ends(api, files):
    data, _ = files
    proc = _train(api, "--name", "follow-1", "--data", str(data))
    _wait_for(lambda: _grpojob(api, "follow-1"))
    _set_status(api, "follow-1", {"phase": "Running", "progress": {"globalStep": 3, "totalSteps": 12,
                                                                   "rewardMean": 0.25}})
    time.sleep(2.5)
    _set_status(api, "follow-1", {"phase": "Succeeded", "message": "trained 12 steps",
                                  "progress": {"globalStep": 12, "totalSteps": 12, "rewardMean": 0.75}})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "step 3/12  reward 0.250  phase Running" in out
    assert "[##############################] step 12/12  reward 0.750  phase Succeeded" in out
    assert "Succeeded: trained 12 steps" in out


def test_failed_job_exits_nonzero(api, files):
    data, _ = files
    proc = _train(api, "--name", "fail-1", "--data", str(data))
    _wait_for(lambda: _grpojob(api, "fail-1"))
    _set_status(api, "fail-1", {"phase": "Failed", "message": "BackoffLimitExceeded"})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "Failed: BackoffLimitExceeded" in out


def test_ctrl_c_detaches_and_keeps_the_job(api, files):
    data, _ = files
    proc = _train(api, "--name", "detach-1", "--data", str(data))
    _wait_for(lambda: _grpojob(api, "detach-1"))
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "detached; GRPOJob detach-1 keeps running" in out
    assert _grpojob(api, "detach-1")["metadata"]["name"] == "detach-1"


class _NoGRPOJobAPI(http.server.BaseHTTPRequestHandler):
    """An API server without the GRPOJob CRD: every request is 404 NotFound, as kube-apiserver answers."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                           "code": 404, "message": "the server could not find the requested resource"}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _kubeconfig_for(tmp_path, server):
    from tests.harness.server import write_kubeconfig

    return write_kubeconfig(tmp_path / "kubeconfig", server)


def _run_with_kubeconfig(kubeconfig, *args):
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHON": sys.executable}
    return subprocess.run([str(REPO / "train.sh"), *args], env=env, capture_output=True, text=True, timeout=60)


def test_cluster_without_the_crd(tmp_path, files):
    data, _ = files
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoGRPOJobAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        kubeconfig = _kubeconfig_for(tmp_path, f"http://127.0.0.1:{server.server_address[1]}")
        out = _run_with_kubeconfig(kubeconfig, "--name", "x", "--data", str(data))
    finally:
        server.shutdown()
    assert out.returncode == 2
    assert "the cluster has no GRPOJob API (grpojobs.grpo.dev): install the operator first" in out.stderr


def test_unreachable_api_server(tmp_path, files):
    data, _ = files
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = _run_with_kubeconfig(_kubeconfig_for(tmp_path, f"http://127.0.0.1:{port}"), "--data", str(data))
    assert out.returncode == 2 and "no Kubernetes cluster is reachable" in out.stderr
