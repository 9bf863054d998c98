"""Run untrusted Python against tests in a separate, locked-down process; compare its outputs here.

The child (``sandbox_harness``) gets only the test inputs and sends back plain data: stdout bytes, or the
``repr`` of a plain return value (exact builtin types), which this side reads with ``ast.literal_eval``.
Every comparison, and every expected value, stays in the trainer: the child cannot score itself.

One child per response, started as ``python -I -S -B``, with a minimal environment, no inherited fds, a fresh
working directory (removed afterwards), its own session (SIGKILLed as a group at the end or at the wall-clock
limit) and, before any user code: rlimits (memory, CPU, file size, no new processes); as root, a uid of its
own (``UID_BASE`` + a slot free for the duration of the run; files that uid left in /tmp, /var/tmp or /dev/shm
are removed afterwards); a seccomp filter (``seccomp_filter``: no sockets, no signals to other processes, no
ptrace, no exec); an audit hook (no writes outside the working directory). Importing this module makes the
trainer process non-dumpable (``PR_SET_DUMPABLE`` 0), so even a same-uid child cannot read its
``/proc/<pid>/environ`` or memory. A sandbox that cannot be set up raises ``SandboxUnavailable``: code is
never silently scored 0. ``self_check()`` runs a known-correct program that imports common stdlib modules.
"""

from __future__ import annotations

import ast
import contextlib
import ctypes
import json
import marshal
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from trainer_entry.rewards import assert_split, seccomp_filter

HARNESS = str(Path(__file__).with_name("sandbox_harness.py"))
_HARNESS_CODE = compile(Path(HARNESS).read_text(encoding="utf-8"), HARNESS, "exec")
_BOOTSTRAP = (
    "import marshal, sys\n"
    "code, payload = marshal.loads(sys.stdin.buffer.read())\n"
    "namespace = {'__name__': 'sandbox_harness'}\n"
    "exec(code, namespace)\n"
    "namespace['main'](payload)\n"
)
UID_BASE = 61000
UID_SLOTS = 1000
DEFAULT_TEST_TIMEOUT_S = 3.0
DEFAULT_MEMORY_MB = 1024
MAX_WALL_S = 120.0
_STARTUP_ALLOWANCE_S = 2.0
_RESULT_CAP_MIN = 4 * 1024 * 1024
_SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm")
SECCOMP_PROGRAM = seccomp_filter.build()


class SandboxUnavailable(RuntimeError):
    """The code sandbox cannot be set up here; code rewards refuse to score rather than return 0."""


def make_non_dumpable() -> bool:
    """``prctl(PR_SET_DUMPABLE, 0)`` on this process; True when it took effect."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


NON_DUMPABLE = make_non_dumpable()


@dataclass(frozen=True)
class SandboxResult:
    passed: int
    total: int
    timed_out: bool  # the wall-clock limit killed the process
    returncode: int | None

    @property
    def fraction(self) -> float:
        return self.passed / self.total if self.total else 0.0


class _UidPool:
    """A distinct uid for each concurrently running sandbox (root only)."""

    def __init__(self, base: int, size: int):
        self._free = list(range(base + size - 1, base - 1, -1))
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def take(self):
        with self._cond:
            while not self._free:
                self._cond.wait()
            uid = self._free.pop()
        try:
            yield uid
        finally:
            _remove_files_of(uid)
            with self._cond:
                self._free.append(uid)
                self._cond.notify()


def _remove_files_of(uid: int) -> None:
    for d in _SHARED_WRITABLE:
        with contextlib.suppress(OSError), os.scandir(d) as it:
            for entry in it:
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_uid != uid:
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)


_UIDS = _UidPool(UID_BASE, UID_SLOTS)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    except PermissionError:
        pass


def _parse_frames(raw: bytes) -> tuple[str | None, dict[int, tuple[bytes, bytes]]]:
    """(setup error or None, {test index: (kind, data)}); the first frame per index counts."""
    frames: dict[int, tuple[bytes, bytes]] = {}
    pos, ready = 0, False
    while True:
        nl = raw.find(b"\n", pos)
        if nl < 0:
            break
        parts = raw[pos:nl].split(b" ")
        if len(parts) != 3 or not parts[2].isdigit():
            break
        start, end = nl + 1, nl + 1 + int(parts[2])
        if end > len(raw):
            break
        data, pos = raw[start:end], end
        if not ready:  # the harness's own first frame, written before any user code ran
            if parts[:2] == [b"-", b"S"]:
                return data.decode("utf-8", "replace"), {}
            if parts[:2] != [b"-", b"R"]:
                return "the sandbox sent no ready frame", {}
            ready = True
            continue
        if parts[0].isdigit():
            frames.setdefault(int(parts[0]), (parts[1], data))
    return (None if ready else "the sandbox exited before it was ready"), frames


def _execute(code, mode, inputs, fn_name, setup, test_timeout_s, memory_mb, cap, executable=None):
    if SECCOMP_PROGRAM is None:
        raise SandboxUnavailable(
            f"no seccomp filter for this architecture ({os.uname().machine}); refusing to run untrusted code"
        )
    wall_s = min(
        MAX_WALL_S, _STARTUP_ALLOWANCE_S + test_timeout_s * (len(inputs) + (0 if mode == "stdio" else 2))
    )
    as_root = os.geteuid() == 0
    with _UIDS.take() if as_root else contextlib.nullcontext() as uid:
        workdir = tempfile.mkdtemp(prefix="grpo-sandbox-")
        if as_root:
            os.chown(workdir, uid, uid)
        payload = marshal.dumps((_HARNESS_CODE, {
            "code": code, "mode": mode, "tests": inputs, "fn_name": fn_name, "setup": setup,
            "test_timeout_s": test_timeout_s, "memory_mb": memory_mb, "cpu_s": int(wall_s) + 1,
            "uid": uid, "workdir": workdir, "seccomp": SECCOMP_PROGRAM,
        }))  # fmt: skip
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir}
        deadline = time.monotonic() + wall_s
        raw, timed_out = bytearray(), False
        try:
            proc = subprocess.Popen(
                [executable or sys.executable, "-I", "-S", "-B", "-c", _BOOTSTRAP],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                cwd=workdir, env=env, close_fds=True,
            )  # fmt: skip
        except OSError as e:
            shutil.rmtree(workdir, ignore_errors=True)
            raise SandboxUnavailable(f"cannot start the sandbox interpreter: {e}") from e
        try:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(payload)
                proc.stdin.close()
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                while len(raw) <= cap:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        timed_out = True
                        break
                    if not sel.select(left):
                        continue
                    chunk = os.read(proc.stdout.fileno(), 1 << 20)
                    if not chunk:
                        break
                    raw += chunk
        finally:
            _kill_group(proc)
            proc.stdout.close()
            returncode = proc.wait()
            shutil.rmtree(workdir, ignore_errors=True)
    error, frames = _parse_frames(bytes(raw))
    if error is not None and not (timed_out and not raw):
        raise SandboxUnavailable(f"the code sandbox could not be set up: {error} (exit status {returncode})")
    return frames, timed_out, returncode


# ---- comparisons (trainer side) -------------------------------------------------------------------------


def _lines(text):
    out = [ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n")]
    while out and not out[-1]:
        out.pop()
    return out


def _close(a, b):
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6)


def stdout_matches(got: str, expected: str) -> bool:
    """Equal after trimming trailing spaces/lines; else token by token with a 1e-6 float tolerance."""
    g, e = _lines(got), _lines(expected)
    if g == e:
        return True
    gt, et = " ".join(g).split(), " ".join(e).split()
    return len(gt) == len(et) and all(a == b or _close(a, b) for a, b in zip(gt, et, strict=True))


def _plain(value):
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _plain(v) for k, v in value.items()}
    return value


def value_matches(got, expected) -> bool:
    if type(got) is type(expected) and got == expected:
        return True
    if isinstance(got, bool) != isinstance(expected, bool):
        return False
    if isinstance(got, int | float) and isinstance(expected, int | float):
        return math.isclose(float(got), float(expected), rel_tol=1e-6, abs_tol=1e-6)
    if isinstance(got, list) and isinstance(expected, list) and len(got) == len(expected):
        return all(value_matches(a, b) for a, b in zip(got, expected, strict=True))
    if isinstance(got, dict) and isinstance(expected, dict) and got.keys() == expected.keys():
        return all(value_matches(got[k], expected[k]) for k in got)
    return got == expected and type(got) in (str, type(None))


def _decode(data: bytes):
    """The child's ``repr`` of plain data, read without running anything; ValueError when it is not that."""
    try:
        return ast.literal_eval(data.decode("utf-8"))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, UnicodeDecodeError) as e:
        raise ValueError("not plain data") from e


def _judge(mode, test, kind, data, plan=None) -> bool:
    if kind != b"o":
        return False
    if mode == "stdio":
        return stdout_matches(data.decode("utf-8", "replace"), test[1])
    try:
        got = _decode(data)
    except ValueError:
        return False
    if mode == "assert":
        return plan.passed(got)
    got = _plain(got)
    return any(
        value_matches(got, _plain(exp))
        or (isinstance(exp, list) and len(exp) == 1 and value_matches(got, _plain(exp[0])))
        for exp in test[1:]
    )


def run_tests(
    code: str,
    mode: str,
    tests: list,
    fn_name: str | None = None,
    setup: str = "",
    test_timeout_s: float = DEFAULT_TEST_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
    executable: str | None = None,
) -> SandboxResult:
    """Run ``code`` against ``tests`` and count the passed ones.

    stdio tests are ``[stdin, expected_stdout]``; call tests ``[args, expected, alternatives...]``; assert tests
    are ``assert`` statements (split by ``assert_split``; ``setup`` runs after the code, e.g. imports).
    """
    if mode not in ("stdio", "call", "assert"):
        raise ValueError(f"unknown test mode {mode!r}; allowed: stdio, call, assert")
    total = len(tests)
    if total == 0:
        return SandboxResult(0, 0, False, None)
    plans = None
    if mode == "stdio":
        inputs = [t[0] for t in tests]
        expected_size = sum(len(t[1]) for t in tests)
    elif mode == "call":
        inputs = [list(t[0]) for t in tests]
        expected_size = sum(len(json.dumps(t[1:], default=str)) for t in tests)
    else:
        plans = [
            t if isinstance(t, assert_split.AssertPlan) else assert_split.plan_source(t, setup) for t in tests
        ]
        inputs = [p.probes for p in plans]
        expected_size = 0
    cap = max(_RESULT_CAP_MIN, 2 * expected_size + 256 * total)
    frames, timed_out, returncode = _execute(
        code, mode, inputs, fn_name, setup, test_timeout_s, memory_mb, cap, executable
    )
    passed = sum(
        1
        for i, test in enumerate(tests)
        if i in frames and _judge(mode, test, *frames[i], plans[i] if plans else None)
    )
    return SandboxResult(passed, total, timed_out, returncode)


SELF_CHECK_PROGRAM = (
    "import bisect, collections, functools, heapq, itertools, json, math, re, string\n"
    "n = int(input())\n"
    "h = [3, 1, 2]\nheapq.heapify(h)\n"
    "c = collections.Counter('aab')\n"
    "print(json.dumps([n * 2, heapq.heappop(h), c['a'], bisect.bisect([1, 2, 3], 2), "
    "functools.reduce(max, [1, 5]), re.sub('a', 'b', 'aa'), len(list(itertools.permutations('ab')))]))\n"
)
SELF_CHECK_TESTS = [["21", '[42, 1, 2, 2, 5, "bb", 2]']]
_self_check_lock = threading.Lock()
_self_check_ok = False


def self_check(executable: str | None = None) -> None:
    """Raise SandboxUnavailable unless a known-correct program importing common stdlib modules scores 1.

    Catches, e.g., a Python installation the sandbox uid cannot read (every import would fail and every
    correct solution score 0) or a kernel that refuses the seccomp filter. Runs once per process.
    """
    global _self_check_ok
    if _self_check_ok and executable is None:
        return
    with _self_check_lock:
        if _self_check_ok and executable is None:
            return
        result = run_tests(
            SELF_CHECK_PROGRAM, "stdio", SELF_CHECK_TESTS, test_timeout_s=10, executable=executable
        )
        if result.passed != 1:
            raise SandboxUnavailable(
                "code sandbox self-check failed: a correct program importing bisect, collections, functools, "
                "heapq, itertools, json, math, re and string did not pass in the sandbox "
                f"(exit status {result.returncode}, timed out: {result.timed_out}). Check that the Python "
                f"installation ({sys.prefix}) is readable by an unprivileged user; refusing to score code."
            )
        if executable is None:
            _self_check_ok = True
