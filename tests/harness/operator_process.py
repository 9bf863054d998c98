"""Run the real operator (`kopf run --standalone -A -m <module> --liveness=...`) as a subprocess.

    op = OperatorProcess(kubeconfig, workdir).start()   # waits until /healthz answers
    op.kill()          # SIGKILL, as a crashed or evicted operator pod
    op.stop()          # SIGTERM and wait (kopf's graceful exit)
    op.log()           # everything it printed (attached to failing waits)

`wait_for(fn, timeout, what)` polls `fn()` until it returns something truthy and returns that, or fails with
`what`, the last value and the operator's log tail.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

# Tuned for a fast, deterministic test run (the production defaults are in grpo_operator.operator_config).
FAST_ENV = {
    "GRPO_PROGRESS_INTERVAL": "0.5",
    "GRPO_PROGRESS_TIMEOUT": "1",
    "GRPO_MISSING_REF_RETRY": "2",
    "GRPO_API_TIMEOUT": "10",
    "GRPO_RETRY_BACKOFF": "0.5",
    "GRPO_WATCH_SERVER_TIMEOUT": "60",
    "GRPO_WATCH_CLIENT_TIMEOUT": "70",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child, before exec: its own session (so kill() reaches only it), and SIGKILL when the test
    process dies, so a pytest killed mid-test (timeout, Ctrl-C) leaves no operator running."""
    import ctypes

    os.setsid()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class OperatorProcess:
    def __init__(self, kubeconfig: Path, workdir: Path, *, module: str = "grpo_operator.handlers",
                 env: dict[str, str] | None = None, verbose: bool = False):
        self.kubeconfig, self.workdir, self.module = Path(kubeconfig), Path(workdir), module
        self.extra_env = dict(env or {})
        self.verbose = verbose
        self.proc: subprocess.Popen | None = None
        self.health_port = free_port()
        self.metrics_port = free_port()
        self.starts = 0
        self.log_path = self.workdir / "operator.log"

    @property
    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "kopf", "run", "--standalone", "-A", "-m", self.module,
               f"--liveness=http://127.0.0.1:{self.health_port}/healthz"]
        return cmd + (["--verbose"] if self.verbose else [])

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(FAST_ENV)
        env.update({
            "KUBECONFIG": str(self.kubeconfig),
            "GRPO_OPERATOR_METRICS_PORT": str(self.metrics_port),
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def start(self, wait: bool = True, timeout: float = 60) -> OperatorProcess:
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(self.command)}\n".encode())
            self.proc = subprocess.Popen(self.command, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.workdir, preexec_fn=_die_with_parent)
        if wait:
            self.wait_healthy(timeout)
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    def wait_healthy(self, timeout: float = 60) -> None:
        wait_for(lambda: self.healthy() or self._died(), timeout, "operator liveness endpoint", self)
        if self._died():
            raise AssertionError(f"the operator exited with {self.proc.returncode}:\n{self.log()[-4000:]}")

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, as a crashed or OOM-killed operator."""
        if self.running:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15) -> int | None:
        if self.running:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode if self.proc else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as resp:
            return resp.read().decode()


def wait_for(fn: Callable[[], Any], timeout: float, what: str, operator: OperatorProcess | None = None,
             interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = fn()
        except Exception as e:  # e.g. a 404 before the object appears
            last = e
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            tail = operator.log()[-6000:] if operator else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}\n"
                                 f"--- operator log tail ---\n{tail}")
        time.sleep(interval)
