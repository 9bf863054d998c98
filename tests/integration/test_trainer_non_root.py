"""The trainer runs as the pod runs it: a random non-root uid/gid, a read-only root filesystem, and writable
only HOME, /tmp (with the caches the pod's env names) and the outputs volume.

Each run is `python -m trainer_entry` in a private mount namespace (`unshare -m`; the tests run as root, as in
CI): the writable directories are bind-mounted onto themselves, then `/` is remounted read-only, then
`setpriv` drops to uid/gid 54321 with no supplementary groups. The environment is the pod's (`WRITABLE_ENV`
from the pod builder), with its paths moved into the test's directories. Covered: data conversion, reward
preflight, the metrics exporter, and both engines (TRL training the embedded tiny model for a few steps and
saving a checkpoint; verl as the stand-in main_ppo of test_trainer_main).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from grpo_api import constants as c
from grpo_operator.builders.pod import HOME_DIR, TMP_DIR, WRITABLE_ENV
from tests.integration.test_trainer_main import FAKE_MAIN_PPO, SEED_ROWS, free_port
from tests.integration.test_trl_engine import embedded_job

UID = GID = 54321
REPO = Path(__file__).resolve().parents[2]


def _why_not_possible() -> str | None:
    if os.geteuid() != 0:
        return "needs root to enter a mount namespace and drop to another uid (CI runs tests as root)"
    for tool in ("unshare", "setpriv", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is not installed: apt-get install util-linux mount"
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"unshare -m is not permitted here: {probe.stderr.strip()}"
    return None


@pytest.fixture(scope="module", autouse=True)
def _possible():
    reason = _why_not_possible()
    if reason and os.environ.get("CI"):
        pytest.fail(reason)
    if reason:
        pytest.skip(reason)


def _hidden_ancestors(paths: list[str]) -> list[tuple[str, str]]:
    """(closed dir, its child on the path) for each directory a non-root uid cannot traverse (e.g. /root 0700
    above a pyenv Python): the mount namespace lays a 0755 tmpfs over it with only that child bound back."""
    out = []
    for p in paths:
        parts = Path(p).resolve().parts
        for i in range(1, len(parts) - 1):
            d = Path(*parts[: i + 1])
            if not d.stat().st_mode & stat.S_IXOTH and (str(d), str(d / parts[i + 1])) not in out:
                out.append((str(d), str(d / parts[i + 1])))
                break
    return out


class Sandbox:
    """A directory tree like the pod's volumes: read-only inputs, writable home, tmp and outputs."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="grpo-nonroot-", dir="/tmp"))
        self.root.chmod(0o755)
        self.inputs = self.root / "inputs"  # config, data, stand-in verl: root-owned, read-only for the trainer
        self.inputs.mkdir()
        self.writable = {name: self.root / name for name in ("home", "tmp", "outputs")}
        for d in self.writable.values():
            d.mkdir()
            os.chown(d, UID, GID)
        self.tlog = self.writable["outputs"] / "termination-log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "XDG_", "TRITON", "VLLM", "RAY_"))}
        for name, path in WRITABLE_ENV.items():
            if path.startswith(HOME_DIR):
                env[name] = str(self.writable["home"]) + path[len(HOME_DIR):]
            else:
                assert path.startswith(TMP_DIR), f"{name}={path}: not on the pod's HOME or /tmp emptyDir"
                env[name] = str(self.writable["tmp"]) + path[len(TMP_DIR):]
        env["HF_HOME"] = str(self.writable["outputs"] / ".cache" / "huggingface")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("USER", None), env.pop("LOGNAME", None)  # uid 54321 has no passwd entry, as in the pod
        return env

    def command(self, argv: list[str]) -> list[str]:
        hidden = _hidden_ancestors([sys.base_prefix, sys.prefix, sys.executable, str(REPO)])
        steps = []
        for i, (closed, child) in enumerate(hidden):
            keep = self.root / f"keep{i}"
            keep.mkdir()
            steps += [f"mount --bind {child} {keep}", f"mount -t tmpfs -o mode=0755 tmpfs {closed}",
                      f"mkdir -p {child}", f"mount --bind {keep} {child}"]
        steps += [f"mount --bind {d} {d}" for d in self.writable.values()]
        steps += ["mount -o remount,bind,ro /",
                  f"exec setpriv --reuid {UID} --regid {UID} --clear-groups -- \"$@\""]
        return ["unshare", "-m", "--propagation", "private", "sh", "-ec", "; ".join(steps), "sh", *argv]

    def run(self, job: dict, extra_args: list[str] = (), timeout: float = 240) -> tuple[int, str]:
        config = self.inputs / "job.json"
        config.write_text(json.dumps(job))
        argv = [sys.executable, "-m", "trainer_entry", "--config", str(config),
                "--outputs", str(self.writable["outputs"]), "--metrics-port", str(free_port()),
                "--metrics-addr", "127.0.0.1", "--termination-log", str(self.tlog), *extra_args]
        env = self.env()
        env.update(getattr(self, "extra_env", {}))
        proc = subprocess.run(self.command(argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout)
        return proc.returncode, proc.stdout

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def sandbox():
    box = Sandbox()
    yield box
    box.close()


def _assert_owned_outputs(box: Sandbox):
    files = [p for p in box.writable["outputs"].rglob("*")]
    assert files
    assert {p.stat().st_uid for p in files} == {UID}, "a file on the outputs volume is not the trainer's"


def test_read_only_root_is_really_read_only(sandbox):
    probe = [sys.executable, "-c", textwrap.dedent(f"""
        import os, pathlib
        for target in ({str(REPO / 'x')!r}, "/etc/x", "/var/tmp/x"):
            try:
                pathlib.Path(target).write_text("x")
            except OSError as e:
                print("refused", target, e.errno)
        pathlib.Path(os.environ["HOME"], "ok").write_text("x")
        pathlib.Path(os.environ["TMPDIR"], "ok").write_text("x")
        print("uid", os.getuid(), os.getgid(), os.getgroups())
    """)]
    proc = subprocess.run(sandbox.command(probe), env=sandbox.env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("refused") == 3, proc.stdout
    assert f"uid {UID} {GID} []" in proc.stdout


def test_trl_engine_trains_as_non_root_on_a_read_only_root(sandbox):
    # The embedded tiny default (batch 16, 1-token answers), stopped after 4 steps with a checkpoint every 2.
    spec = embedded_job(**{"training.totalTrainingSteps": 4, "training.saveFreq": 2, "training.testFreq": 2}).spec
    job = {"apiVersion": c.API_VERSION, "kind": c.KIND, "metadata": {"name": "nonroot"}, "spec": spec.to_wire()}
    code, out = sandbox.run(job)
    assert code == 0, out[-4000:]
    assert "Read-only file system" not in out and "Permission denied" not in out, out[-4000:]
    ckpt = sandbox.writable["outputs"] / c.CHECKPOINTS_SUBDIR
    assert (ckpt / "latest_checkpointed_iteration.txt").read_text().strip() == "4"
    assert (sandbox.writable["outputs"] / "data" / "verl" / "train.parquet").is_file()  # data conversion
    _assert_owned_outputs(sandbox)


def test_verl_stand_in_runs_as_non_root_on_a_read_only_root(sandbox):
    fake = sandbox.inputs / "fakeverl"
    fake.mkdir()
    (fake / "fake_main_ppo.py").write_text(textwrap.dedent(FAKE_MAIN_PPO))
    data = sandbox.inputs / "train.json"
    data.write_text(json.dumps(SEED_ROWS, ensure_ascii=False))
    fake_out = sandbox.writable["outputs"] / "fake"
    fake_out.mkdir()
    (fake_out / "release").touch()  # the stand-in exits after its steps
    os.chown(fake_out, UID, GID)
    os.chown(fake_out / "release", UID, GID)
    sandbox.extra_env = {"FAKE_OUT": str(fake_out),
                         "PYTHONPATH": os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")])}
    job = {"apiVersion": c.API_VERSION, "kind": c.KIND, "metadata": {"name": "nonroot"}, "spec": {
        "model": {"path": "Qwen/Qwen2.5-0.5B-Instruct"}, "data": {"train": {"path": str(data)}},
        "training": {"batchSize": 2, "microBatchSizePerGPU": 2}}}  # 2 prompts × 5 rollouts: micro 2 divides 10
    code, out = sandbox.run(job, ["--cpus", "64", "--verl-entry", "fake_main_ppo"])
    assert code == 0, out[-4000:]
    assert "Read-only file system" not in out and "Permission denied" not in out, out[-4000:]
    assert (sandbox.writable["outputs"] / c.CHECKPOINTS_SUBDIR / "latest_checkpointed_iteration.txt").is_file()
    _assert_owned_outputs(sandbox)
