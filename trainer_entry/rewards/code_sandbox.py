"""Run untrusted Python against tests in a separate, locked-down process; never hang or crash the caller.

One child process per response (all its tests inside it, see ``sandbox_harness``), started as
``python -I -S -B`` (isolated: no site-packages, no PYTHON* variables, no user site), with:
- a fresh empty temporary working directory, removed afterwards;
- a minimal environment (no tokens or other secrets from the trainer's environment), no inherited fds;
- its own session and process group (made by the harness), SIGKILLed as a whole when done or when the
  wall-clock limit passes;
- RLIMIT_AS / RLIMIT_CPU / RLIMIT_FSIZE / RLIMIT_NPROC=0 set by the harness before the code runs, and, when
  the trainer runs as root (the default in GPU images), a drop to uid/gid 65534 (nobody), so the code
  cannot signal the trainer or touch its files.
The parent reads at most ``_RESULT_CAP_BYTES`` of results, so output floods cannot exhaust its memory.
This protects training from accidents and reward-hacking attempts of a policy model; it is not a hardened
boundary against a determined attacker (use gVisor/a sandbox service for that).
"""

from __future__ import annotations

import contextlib
import marshal
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HARNESS = str(Path(__file__).with_name("sandbox_harness.py"))
# Compiled once here; each child gets the code object on stdin instead of recompiling the file.
_HARNESS_CODE = compile(Path(HARNESS).read_text(encoding="utf-8"), HARNESS, "exec")
_BOOTSTRAP = (
    "import marshal, sys\n"
    "code, payload = marshal.loads(sys.stdin.buffer.read())\n"
    "namespace = {'__name__': 'sandbox_harness'}\n"
    "exec(code, namespace)\n"
    "namespace['main'](payload)\n"
)
NOBODY_UID = 65534
DEFAULT_TEST_TIMEOUT_S = 3.0
DEFAULT_MEMORY_MB = 1024
MAX_WALL_S = 120.0
_STARTUP_ALLOWANCE_S = 2.0
_RESULT_CAP_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SandboxResult:
    passed: int
    total: int
    timed_out: bool  # the wall-clock limit killed the process
    returncode: int | None

    @property
    def fraction(self) -> float:
        return self.passed / self.total if self.total else 0.0


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's process group (the harness calls setsid first thing), or the child if it has none yet.

    Called before wait(): the leader is at worst a zombie, so its pid (= the group id) cannot be reused yet.
    """
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # no group with that id: the child has not reached setsid
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    except PermissionError:
        pass


def _parse_results(raw: bytes, total: int) -> int:
    passed = set()
    for line in raw.split(b"\n"):
        parts = line.split()
        if len(parts) == 2 and parts[1] == b"1" and parts[0].isdigit() and int(parts[0]) < total:
            passed.add(int(parts[0]))
    return len(passed)


def run_tests(
    code: str,
    mode: str,
    tests: list,
    fn_name: str | None = None,
    setup: str = "",
    test_timeout_s: float = DEFAULT_TEST_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
) -> SandboxResult:
    """Run ``code`` against ``tests`` (see ``sandbox_harness`` for modes) and count the passed ones."""
    if mode not in ("stdio", "call", "assert"):
        raise ValueError(f"unknown test mode {mode!r}; allowed: stdio, call, assert")
    total = len(tests)
    if total == 0:
        return SandboxResult(0, 0, False, None)
    wall_s = min(MAX_WALL_S, _STARTUP_ALLOWANCE_S + test_timeout_s * (total + (0 if mode == "stdio" else 2)))
    as_root = os.geteuid() == 0
    payload = marshal.dumps(
        (
            _HARNESS_CODE,
            {
                "code": code,
                "mode": mode,
                "tests": tests,
                "fn_name": fn_name,
                "setup": setup,
                "test_timeout_s": test_timeout_s,
                "memory_mb": memory_mb,
                "cpu_s": int(wall_s) + 1,
                "drop_to_uid": NOBODY_UID if as_root else None,
            },
        )
    )
    workdir = tempfile.mkdtemp(prefix="grpo-sandbox-")
    if as_root:
        os.chown(workdir, NOBODY_UID, NOBODY_UID)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir}
    deadline = time.monotonic() + wall_s
    raw = bytearray()
    timed_out = False
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-B", "-c", _BOOTSTRAP],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
        env=env,
        close_fds=True,
    )
    try:
        try:
            proc.stdin.write(payload)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                if not sel.select(left):
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                raw += chunk
                if len(raw) > _RESULT_CAP_BYTES:
                    break
    finally:
        _kill_group(proc)
        proc.stdout.close()
        returncode = proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    return SandboxResult(_parse_results(bytes(raw), total), total, timed_out, returncode)
