"""VERL_FILE_LOGGER_PATH reaches a Ray actor on a cluster started independently (as KubeRay starts a RayJob's).

Opt-in (`pytest -m ray`; needs `pip install "ray[default]"`): a real `ray start --head` on CPU, then a driver that
connects exactly as verl's main_ppo does: ray.init(address=auto, runtime_env=<ray_kwargs.ray_init.runtime_env
from our composed override list>), and a remote actor that reads the variable and writes to that path.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from grpo_api import parse_grpojob
from grpo_api.verl_overrides import VerlPaths, build_overrides, compose

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray", reason="pip install 'ray[default]' for the Ray runtime_env check")

DOC = {"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob", "metadata": {"name": "r"},
       "spec": {"model": {"path": "m"}, "data": {"train": {"path": "/d.json"}}}}

DRIVER = textwrap.dedent("""
    import json, sys, ray
    runtime_env = json.loads(sys.argv[1])
    ray.init(address="auto", runtime_env=runtime_env)  # RAY_ADDRESS names the head, as on a RayJob

    @ray.remote(num_cpus=0)
    class TaskRunner:
        def run(self):
            import os
            path = os.environ.get("VERL_FILE_LOGGER_PATH")
            if path:
                with open(path, "w") as f:
                    f.write('{"step": 1}\\n')
            return path

    print("SEEN=" + str(ray.get(TaskRunner.remote().run.remote())))
""")


def test_metrics_path_reaches_a_task_runner_on_an_independent_cluster(tmp_path):
    from omegaconf import OmegaConf

    metrics = tmp_path / "shared" / "metrics.jsonl"
    metrics.parent.mkdir()
    paths = VerlPaths("/o/t.parquet", "/o/v.parquet", "/r.py", "/o/ckpt", None, str(metrics))
    cfg = compose(build_overrides(parse_grpojob(DOC).spec, paths))
    runtime_env = OmegaConf.to_container(cfg.ray_kwargs.ray_init.runtime_env)
    runtime_env = {k: v for k, v in runtime_env.items() if v is not None}
    env = {k: v for k, v in os.environ.items() if k != "VERL_FILE_LOGGER_PATH"}
    ray_tmp = tempfile.mkdtemp(prefix="/tmp/rt")  # short: Ray's unix socket paths must fit 107 bytes
    port = "46379"
    env["RAY_ADDRESS"] = f"127.0.0.1:{port}"
    head = ["ray", "start", "--head", "--block", "--num-cpus", "2", "--include-dashboard=false",
            f"--port={port}", f"--temp-dir={ray_tmp}"]
    # --block and a session of its own: this test stops exactly the cluster it started (never `ray stop`)
    proc = subprocess.Popen(head, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        import json

        deadline = time.monotonic() + 120
        while subprocess.run(["ray", "status", f"--address=127.0.0.1:{port}"], env=env, capture_output=True,
                             timeout=60).returncode != 0:
            assert time.monotonic() < deadline and proc.poll() is None, "ray head did not start"
            time.sleep(1)

        # the driver's own env does NOT carry the variable: only the runtime_env does
        out = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(runtime_env)], env=env,
                             capture_output=True, text=True, timeout=180)
        assert f"SEEN={metrics}" in out.stdout, out.stdout + out.stderr
        assert metrics.read_text() == '{"step": 1}\n'
        # and without it the actor sees nothing (what happened before this fix)
        out = subprocess.run([sys.executable, "-c", DRIVER, "{}"], env=env, capture_output=True, text=True,
                             timeout=180)
        assert "SEEN=None" in out.stdout, out.stdout + out.stderr
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        shutil.rmtree(ray_tmp, ignore_errors=True)
