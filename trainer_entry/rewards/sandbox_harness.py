"""Child-side harness of the code sandbox. Stdlib only: it runs as ``python -I -S -B sandbox_harness.py``.

Protocol (``marshal``, not ``json``: importing json costs the child more than the rest of its startup):
the parent compiles this file once and starts ``python -I -S -B -c <BOOTSTRAP>``, which reads one
marshalled ``(harness code object, payload dict)`` from stdin, runs this module's code and calls
``main(payload)`` (a script given by path would be recompiled by every child: ~10 ms). The payload::

    {"code": str, "mode": "stdio"|"call"|"assert", "tests": [...], "fn_name": str|null, "setup": str,
     "test_timeout_s": float, "memory_mb": int, "cpu_s": int, "drop_to_uid": int|null}

The harness keeps its original stdout as the result channel and writes one line per finished test,
``<index> <1|0>``, so a later test that hangs or kills the process cannot erase the
results of earlier ones. Before any user code runs it: points fds 1 and 2 at /dev/null, sets RLIMIT_AS,
RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_CORE and RLIMIT_NPROC (no new processes), and, when started as root, drops
to an unprivileged uid (so the code cannot signal the trainer or write its files).

Test kinds: ``stdio`` (tests are ``[stdin, expected_stdout]`` pairs; the program runs as ``__main__`` once per
test with that stdin on ``sys.stdin`` and fd 0), ``call`` (tests are ``[args, expected_return, alternatives...]``; the code is
run once, then ``fn_name`` or ``Solution().fn_name`` is called per test), ``assert`` (tests are Python
statements run after the code and ``setup``). Each test has its own ``test_timeout_s`` (an interval timer);
the first test that times out ends the run, the tests after it count as failed.
"""

# The C module behind ``signal``: the same functions without importing enum (a few ms of child startup).
import _signal as signal
import builtins
import io
import marshal
import math
import os
import resource
import sys

_OUTPUT_CAP_BYTES = 8 * 1024 * 1024
_FILE_CAP_BYTES = 64 * 1024 * 1024


class _TestTimeout(BaseException):
    """Raised by the interval timer when one test runs too long."""


class _CappedBytes(io.BytesIO):
    """A stdout buffer that refuses to grow past _OUTPUT_CAP_BYTES (a print loop cannot eat all memory)."""

    def write(self, b):
        if self.tell() + len(b) > _OUTPUT_CAP_BYTES:
            raise OSError("sandbox: output limit exceeded")
        return super().write(b)


def _on_alarm(signum, frame):
    raise _TestTimeout()


def _set_limits(payload):
    mem = int(payload["memory_mb"]) * 1024 * 1024
    cpu = int(payload["cpu_s"])
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (_FILE_CAP_BYTES, _FILE_CAP_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    uid = payload.get("drop_to_uid")
    if uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def _guard_signals():
    """Best effort for non-root runs (as root the uid drop is the real barrier): signal only yourself."""
    own = os.getpid()
    real_kill, real_killpg = os.kill, os.killpg

    def kill(pid, sig):
        if pid not in (own, 0):
            raise PermissionError("sandbox: signalling other processes is not allowed")
        return real_kill(pid, sig)

    def killpg(pgid, sig):
        raise PermissionError("sandbox: signalling process groups is not allowed")

    os.kill, os.killpg = kill, killpg
    del real_killpg


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


def stdout_matches(got, expected):
    """Equal after trimming trailing spaces/lines; else token by token with a 1e-6 float tolerance."""
    g, e = _lines(got), _lines(expected)
    if g == e:
        return True
    gt, et = " ".join(g).split(), " ".join(e).split()
    return len(gt) == len(et) and all(a == b or _close(a, b) for a, b in zip(gt, et, strict=True))


def _plain(value):
    """JSON-shaped copy of a return value: tuples become lists, so (1, 2) equals the expected [1, 2]."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _plain(v) for k, v in value.items()}
    return value


def value_matches(got, expected):
    if got == expected:
        return True
    if isinstance(got, float) or isinstance(expected, float):
        try:
            return math.isclose(float(got), float(expected), rel_tol=1e-6, abs_tol=1e-6)
        except (TypeError, ValueError):
            return False
    if isinstance(got, list) and isinstance(expected, list) and len(got) == len(expected):
        return all(value_matches(a, b) for a, b in zip(got, expected, strict=True))
    return False


def _single(got, expected):
    """APPS wraps call results in a list: expected [x] accepts x."""
    return isinstance(expected, list) and len(expected) == 1 and value_matches(got, expected[0])


def _feed_stdin(text):
    fd = os.memfd_create("stdin")
    os.write(fd, text.encode("utf-8"))
    os.lseek(fd, 0, os.SEEK_SET)
    if fd != 0:  # fd 0 is free when the previous test's code closed it (open(0) closes it when collected)
        os.dup2(fd, 0)
        os.close(fd)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - lives for one test


def _run_stdio(code, stdin_text, expected):
    _feed_stdin(stdin_text)
    buf = _CappedBytes()
    out = io.TextIOWrapper(buf, encoding="utf-8", write_through=True)
    sys.stdout = out
    try:
        exec(code, {"__name__": "__main__", "__builtins__": builtins})
    except SystemExit as e:
        if e.code not in (None, 0):
            return False
    finally:
        sys.stdout = sys.__stdout__
    out.flush()
    return stdout_matches(buf.getvalue().decode("utf-8", "replace"), expected)


def _function(namespace, name):
    if name in namespace and callable(namespace[name]):
        return namespace[name]
    cls = namespace.get("Solution")
    if isinstance(cls, type) and hasattr(cls, name):
        return getattr(cls(), name)
    raise NameError(f"no function {name!r} (or Solution.{name}) defined")


def _timed(fn, seconds):
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def main(payload):
    # Own session and process group first, so the parent can kill everything the code starts with one
    # killpg. (The parent does not ask Popen for start_new_session: that turns off vfork, and forking a
    # multi-GB trainer process costs more than this whole sandbox run.)
    os.setsid()
    results = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    _set_limits(payload)
    _guard_signals()
    signal.signal(signal.SIGALRM, _on_alarm)
    sys.setrecursionlimit(10000)
    timeout = float(payload["test_timeout_s"])
    mode, tests = payload["mode"], payload["tests"]

    def report(i, ok):
        results.write(f"{i} {1 if ok else 0}\n")

    try:
        code = compile(payload["code"], "<solution>", "exec")
    except (SyntaxError, ValueError):
        for i in range(len(tests)):
            report(i, False)
        return

    namespace = {"__name__": "solution", "__builtins__": builtins}
    if mode != "stdio":
        sys.stdin = io.StringIO("")
        sys.stdout = io.TextIOWrapper(_CappedBytes(), encoding="utf-8", write_through=True)
        try:
            _timed(lambda: exec(code, namespace), timeout)
            if payload.get("setup"):
                _timed(lambda: exec(payload["setup"], namespace), timeout)
            fn = _function(namespace, payload["fn_name"]) if mode == "call" else None
        except BaseException:  # noqa: BLE001 - whatever the code raises (SystemExit too), its tests fail
            for i in range(len(tests)):
                report(i, False)
            return

    for i, test in enumerate(tests):
        try:
            if mode == "stdio":
                ok = _timed(lambda t=test: _run_stdio(code, t[0], t[1]), timeout)
            elif mode == "call":
                got = _plain(_timed(lambda a=test[0]: fn(*a), timeout))
                ok = any(value_matches(got, exp) or _single(got, exp) for exp in test[1:])
            else:
                _timed(lambda t=test: exec(t, namespace), timeout)
                ok = True
        except _TestTimeout:
            # The first test that runs out of time ends the run: a program that loops on one input almost
            # always loops on the next, and each would cost a full timeout. Unreported tests count as failed.
            report(i, False)
            return
        except BaseException:  # noqa: BLE001 - a failing or exiting test is a failed test
            ok = False
        report(i, ok)


if __name__ == "__main__":
    main(marshal.loads(sys.stdin.buffer.read()))
