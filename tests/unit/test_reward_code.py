"""Code answers: test formats, code extraction, and every sandbox attack scoring 0 without harming the caller."""

import json
import os
import time

import pytest

from trainer_entry.reward_func import compute_score, compute_score_batch
from trainer_entry.rewards.code_sandbox import run_tests
from trainer_entry.rewards.code_tests import extract_code, parse_tests

STDIO = json.dumps({"inputs": ["1 2\n", "3 4\n", "10 -2\n"], "outputs": ["3\n", "7\n", "8\n"]})
CALL = json.dumps({"fn_name": "add", "inputs": [[1, 2], [3, 4]], "outputs": [3, 7]})
ASSERTS = "from math import isclose\nassert add(1, 2) == 3\nassert add(2, 2) == 4\nassert add(0, 0) == 1"
FAST = {"timeout_s": 0.5}


@pytest.mark.parametrize(
    ("response", "truth", "expected"),
    [
        ("```python\na, b = map(int, input().split())\nprint(a + b)\n```", STDIO, 1.0),
        ("import sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b)", STDIO, 1.0),
        ("a, b = map(int, open(0).read().split())\nprint(a + b)", STDIO, 1.0),
        ("import sys\nsys.stdout.buffer.write(str(sum(map(int, input().split()))).encode())", STDIO, 1.0),
        ("a, b = map(int, input().split())\nprint(a + b if a < 5 else 0)", STDIO, 2 / 3),
        ("a, b = map(int, input().split())\nprint(a + b)\nimport sys\nsys.exit(0)", STDIO, 1.0),
        ("```py\ndef add(a, b):\n    return a + b\n```", CALL, 1.0),
        ("```python\nclass Solution:\n    def add(self, a, b):\n        return a + b\n```", CALL, 1.0),
        ("def add(a, b):\n    return a - b", CALL, 0.0),
        ("def plus(a, b):\n    return a + b", CALL, 0.0),  # wrong name
        ("def add(a, b):\n    return a + b", ASSERTS, 2 / 3),
        ("def add(a, b) return", ASSERTS, 0.0),  # syntax error
    ],
)
def test_formats(response, truth, expected):
    assert compute_score("code", response, truth, **FAST) == pytest.approx(expected)


def test_float_and_tuple_outputs():
    truth = json.dumps(
        {"fn_name": "f", "inputs": [[1], [2]], "outputs": [[0.3333333333, 2], [0.6666666667, 4]]}
    )
    assert compute_score("code_generation", "def f(x):\n    return (x / 3, 2 * x)", truth, **FAST) == 1.0
    stdio = json.dumps({"inputs": [""], "outputs": ["0.333333333\n"]})
    assert compute_score("code", "print(1/3)", stdio, **FAST) == 1.0


def test_extract_code_prefers_last_python_fence_and_handles_cut_off():
    assert extract_code("```python\nx = 1\n```\ntext\n```python\nx = 2\n```") == "x = 2\n"
    assert extract_code("```bash\nls\n```\n```\nprint(1)\n```") == "print(1)\n"
    assert extract_code("```python\nprint(3)\n") == "print(3)\n"
    assert extract_code("print(4)") == "print(4)"


@pytest.mark.parametrize(
    ("truth", "message"),
    [
        ('{"inputs": [1, 2], "outputs": [1]}', "2 inputs but 1 outputs"),
        ('{"inputs": [], "outputs": []}', "no test cases"),
        ('{"inputs": "x", "outputs": []}', "list fields"),
        ('{"inputs": [1], "outputs": [1], "fn_name": "not valid"}', "identifier"),
        ("{broken json", "does not parse"),
        ("x = 1", "no assert statements"),
        ("assert (", "neither JSON test cases nor valid Python"),
        (42, "must be a JSON string"),
    ],
)
def test_bad_ground_truth_is_a_clear_error(truth, message):
    with pytest.raises(ValueError, match=message):
        parse_tests(truth)


ATTACKS = {
    "infinite loop": "while True:\n    pass",
    "sleep": "import time\ntime.sleep(100)",
    "memory bomb": "x = bytearray(8 * 1024 ** 3)",
    "growing memory": "x = []\nwhile True:\n    x.append('a' * 10 ** 6)",
    "sys.exit": "import sys\nsys.exit(1)",
    "exception": "raise ValueError('no')",
    "os._exit": "import os\nos._exit(0)",
    "kill parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
    "kill parent group": "import os, signal\nos.killpg(os.getpgid(os.getppid()), signal.SIGKILL)",
    "fork bomb": "import os\nwhile True:\n    os.fork()",
    "subprocess": "import subprocess\nsubprocess.Popen(['sleep', '100'])\nwhile True:\n    pass",
    "huge printed output": "while True:\n    print('x' * 100000)",
    "huge raw output": "import os\nwhile True:\n    os.write(1, b'x' * 100000)",
    "swallows timeouts": "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except BaseException:\n        pass",
    "huge file": "with open('big', 'wb') as f:\n    while True:\n        f.write(b'x' * 10 ** 6)",
    "recursion": "def f(n):\n    return f(n + 1)\nf(0)",
    "read parent env": "import os\nassert 'SECRET_TOKEN' in os.environ\nprint(7)",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_scores_zero_and_caller_survives(attack, monkeypatch):
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")  # must not leak into the sandbox
    truth = json.dumps({"inputs": ["", ""], "outputs": ["7\n", "7\n"]})
    start = time.perf_counter()
    assert compute_score("code", ATTACKS[attack], truth, timeout_s=0.5, memory_mb=256) == 0.0
    assert time.perf_counter() - start < 6


@pytest.mark.skipif(os.geteuid() != 0, reason="uid drop (the real barrier) only happens when started as root")
def test_trainer_environment_is_unreadable_through_proc():
    # /proc/<pid>/environ shows the process's initial environment, which always has PATH.
    code = (
        "import os\n"
        "try:\n"
        "    leaked = b'PATH=' in open(f'/proc/{os.getppid()}/environ', 'rb').read()\n"
        "except OSError:\n"
        "    leaked = False\n"
        "print(7 if leaked else 0)"
    )
    truth = json.dumps({"inputs": [""], "outputs": ["0\n"]})
    assert compute_score("code", code, truth, **FAST) == 1.0  # ran, and found nothing


@pytest.mark.skipif(os.geteuid() != 0, reason="uid drop (the real barrier) only happens when started as root")
def test_kill_around_the_python_guard_is_refused_by_the_uid_drop():
    # posix.kill is the C function behind os.kill, so it bypasses the harness's os.kill guard.
    code = "import os, posix\ntry:\n    posix.kill(os.getppid(), 9)\nexcept PermissionError:\n    print(7)"
    assert compute_score("code", code, json.dumps({"inputs": [""], "outputs": ["7\n"]}), **FAST) == 1.0


def test_wall_clock_kill_keeps_earlier_results():
    code = "import time\nn = int(input())\nif n == 3:\n    while True:\n        try:\n            time.sleep(9)\n        except BaseException:\n            pass\nprint(n)"
    tests = [["1", "1"], ["2", "2"], ["3", "3"]]
    result = run_tests(code, "stdio", tests, test_timeout_s=0.3)
    assert (result.passed, result.total, result.timed_out) == (2, 3, True)


def test_working_directory_is_private_and_removed():
    code = "import os\nopen('f', 'w').write('x')\ndef ls():\n    return os.listdir('.')"
    result = run_tests(code, "assert", ["assert ls() == ['f']"], test_timeout_s=1)
    assert result.passed == 1


def test_batch_runs_in_parallel():
    sleeper = "import time\ntime.sleep(0.4)\nprint(int(input()) * 2)"
    truth = json.dumps({"inputs": ["2"], "outputs": ["4"]})
    start = time.perf_counter()
    scores = compute_score_batch(["code"] * 8, [sleeper] * 8, [truth] * 8, max_workers=8, timeout_s=2)
    elapsed = time.perf_counter() - start
    assert scores == [1.0] * 8
    assert elapsed < 8 * 0.4 * 0.75, f"8 x 0.4 s sleeps took {elapsed:.2f} s: not parallel"


def test_overhead_is_small():
    truth = json.dumps({"inputs": [str(i) for i in range(10)], "outputs": [str(2 * i) for i in range(10)]})
    run_tests("print(1)", "stdio", [["", "1"]])  # warm the page cache
    best = min(_timed(lambda: compute_score("code", "print(int(input()) * 2)", truth)) for _ in range(3))
    assert best < 0.25, f"a trivial 10-test case took {best * 1000:.0f} ms"


def _timed(fn):
    start = time.perf_counter()
    assert fn() == 1.0
    return time.perf_counter() - start


def test_prime_call_format_json_lines():
    """verl's PRIME/LiveCodeBench code data: args as one JSON value per line, outputs as JSON strings."""
    truth = json.dumps(
        {
            "fn_name": "pair",
            "inputs": ["1\n2", "3\n4", '"a"\n"b"'],
            "outputs": ["[1, 2]", "[3, 4]", '["a", "b"]'],
        }
    )
    assert compute_score("codecontests", "def pair(a, b):\n    return (a, b)", truth, **FAST) == 1.0
    assert compute_score("codecontests", "def pair(a, b):\n    return (b, a)", truth, **FAST) == 0.0


def test_first_timeout_ends_the_run():
    code = "n = int(input())\nwhile n == 1:\n    pass\nprint(n)"
    start = time.perf_counter()
    result = run_tests(code, "stdio", [["0", "0"], ["1", "1"], ["2", "2"], ["3", "3"]], test_timeout_s=0.5)
    elapsed = time.perf_counter() - start
    assert (result.passed, result.timed_out) == (1, False)
    assert elapsed < 1.5, f"took {elapsed:.2f} s: tests kept running after the first timeout"


def test_child_leads_its_own_session_and_drops_root():
    checks = ["assert os.getsid(0) == os.getpid() == os.getpgid(0)"]
    if os.geteuid() == 0:
        checks.append("assert os.geteuid() != 0 and os.getegid() != 0 and os.getgroups() == []")
    result = run_tests("import os", "assert", checks, test_timeout_s=1)
    assert result.passed == len(checks)


def test_ground_truth_dict_with_numpy_arrays_from_parquet():
    np = pytest.importorskip("numpy")
    truth = {
        "fn_name": "add",
        "inputs": np.array([np.array([1, 2]), np.array([3, 4])]),
        "outputs": np.array([3, 7]),
    }
    assert compute_score("code", "def add(a, b):\n    return a + b", truth, **FAST) == 1.0


# ---- reward hacks (issue 14): each scored 1.0 with the old in-process comparison; must score 0 now ----------
ONE_TEST = json.dumps({"inputs": ["1"], "outputs": ["2"]})
ADD_CALL = json.dumps({"fn_name": "add", "inputs": [[1, 2], [3, 4]], "outputs": [3, 7]})
FRAME_WALK = (
    "import sys\n"
    "def add(a, b):\n"
    "    f = sys._getframe(1)\n"
    "    while f is not None:\n"
    "        for v in list(f.f_locals.values()):\n"
    "            if isinstance(v, list) and len(v) >= 2 and v[0] == [a, b]:\n"
    "                return v[1]\n"
    "        f = f.f_back\n"
    "    return None\n"
)
HARNESS_GLOBALS = (
    "import sys\n"
    "f = sys._getframe(0)\n"
    "while f is not None:\n"
    "    g = f.f_globals\n"
    "    for k, v in list(g.items()):\n"
    "        if callable(v) and k.endswith(('matches', '_single', 'report', 'passed', '_judge')):\n"
    "            g[k] = lambda *a, **kw: True\n"
    "    f = f.f_back\n"
    "def add(a, b):\n"
    "    return 0\n"
)
HACKS = {
    "write result lines to the result fd": ("import os\nos.write(3, b'0 1\\n')", ONE_TEST),
    "result lines on every fd": ("import os\nfor fd in range(3, 20):\n    try:\n        os.write(fd, b'0 1\\n0 o 1\\n2')\n    except OSError:\n        pass", ONE_TEST),
    "read expected from harness frames": (FRAME_WALK, ADD_CALL),
    "__eq__ always true": ("class A:\n    def __eq__(self, o):\n        return True\n    __hash__ = None\ndef add(a, b):\n    return A()", ADD_CALL),
    "redefine any/all/len": ("import builtins\nbuiltins.any = builtins.all = lambda *a: True\nbuiltins.len = lambda x: 2\ndef add(a, b):\n    return [0]", ADD_CALL),
    "redefine len for an assert": ("import builtins\nbuiltins.len = lambda x: 3\ndef f(n):\n    return []", "assert len(f(3)) == 3\nassert len(f(1)) == 3"),
    "shadow len in module globals": ("len = lambda x: 3\ndef f(n):\n    return []", "assert len(f(3)) == 3"),
    "patch harness globals": (HARNESS_GLOBALS, ADD_CALL),
    "object with custom __sub__ in an assert": ("class X:\n    def __sub__(s, o):\n        return 0.0\ndef f():\n    return X()", "assert abs(f() - 0.5) < 1e-9"),
}  # fmt: skip


@pytest.mark.parametrize("hack", sorted(HACKS))
def test_reward_hack_scores_zero(hack):
    code, truth = HACKS[hack]
    assert compute_score("code", code, truth, **FAST) == 0.0


def test_sandbox_cannot_kill_its_neighbours():
    killer = "import os, posix\nfor pid in [-1] + [int(p) for p in os.listdir('/proc') if p.isdigit()]:\n    try:\n        posix.kill(pid, 9)\n    except OSError:\n        pass\nprint(0)"
    sleeper = "import time\ntime.sleep(0.8)\nprint(int(input()) * 2)"
    truth = json.dumps({"inputs": ["2"], "outputs": ["4"]})
    responses = [sleeper] * 3 + [killer] * 2 + [sleeper] * 3
    scores = compute_score_batch(["code"] * 8, responses, [truth] * 8, max_workers=8, timeout_s=3)
    assert scores == [1.0] * 3 + [0.0] * 2 + [1.0] * 3


@pytest.mark.parametrize("place", ["/tmp", "/dev/shm", "/var/tmp"])
def test_files_outside_the_sandbox_do_not_persist(place):
    name = f"{place}/grpo-leak-{os.getpid()}-{time.monotonic_ns()}"
    code = (
        f"import os\nfor how in range(3):\n    try:\n"
        f"        if how == 0: open({name!r}, 'w').write('x')\n"
        f"        elif how == 1: os.close(os.open({name!r}, os.O_CREAT | os.O_WRONLY))\n"
        f"        else: os.mkdir({name!r})\n"
        f"    except OSError:\n        pass\nprint(int(input()) * 2)"
    )
    assert compute_score("code", code, ONE_TEST, **FAST) == 1.0  # it ran...
    assert not os.path.exists(name)  # ...and left nothing behind


def test_no_tcp_to_localhost():
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.setblocking(False)
    port = server.getsockname()[1]
    code = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\ns.sendall(b'x')\nprint(2)"
    try:
        assert compute_score("code", code, ONE_TEST, **FAST) == 0.0
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()


def _in_child_as(uid: int, fn) -> int:
    """Run ``fn()`` in a forked child that first drops to ``uid``; its return value (0-255) is the exit status."""
    pid = os.fork()
    if pid == 0:
        status = 70
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            status = fn()
        finally:
            os._exit(status)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create an unprivileged test user")
def test_seccomp_filter_blocks_sockets_and_foreign_signals_for_a_same_uid_process():
    """The kernel layer alone (no audit hook): a uid-54321 process cannot signal its same-uid parent."""
    from trainer_entry.rewards import code_sandbox

    ns = {}
    exec(code_sandbox._HARNESS_CODE, ns)

    def parent():
        me = os.getpid()
        child = os.fork()
        if child == 0:
            ns["_install_seccomp"](code_sandbox.SECCOMP_PROGRAM)
            import _socket

            bad = 0
            for attempt in (lambda: _socket.socket(), lambda: os.kill(me, 0), lambda: os.kill(-1, 0)):
                try:
                    attempt()
                    bad += 1
                except PermissionError:
                    pass
            os.kill(os.getpid(), 0)  # itself: allowed
            os._exit(bad)
        return os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])

    assert _in_child_as(54321, parent) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create an unprivileged test user")
def test_non_dumpable_trainer_hides_its_environ_from_same_uid_children():
    import ctypes

    from trainer_entry.rewards import code_sandbox

    def trainer():
        ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # a plain non-root process is dumpable
        assert code_sandbox.make_non_dumpable()
        me = os.getpid()
        child = os.fork()
        if child == 0:
            try:
                open(f"/proc/{me}/environ", "rb").read()  # noqa: SIM115
                os._exit(1)
            except PermissionError:
                os._exit(0)
        return os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])

    assert _in_child_as(54321, trainer) == 0


def _same_version_system_python():
    import subprocess
    import sys

    exe = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    return exe if os.access(exe, os.X_OK) and subprocess.run([exe, "-c", ""]).returncode == 0 else None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create an unprivileged test user")
def test_non_root_trainer_survives_and_keeps_its_secrets():
    exe = _same_version_system_python()
    if exe is None:
        pytest.skip(
            "no same-version Python readable by an unprivileged user (needed to start sandboxes as one)"
        )
    os.environ["GRPO_TEST_SECRET"] = "hunter2"
    code = (
        "import os, posix\nppid = os.getppid()\nleak = 0\n"
        "try:\n    leak = b'hunter2' in open(f'/proc/{ppid}/environ', 'rb').read()\nexcept OSError:\n    pass\n"
        "for sig in (9, 15):\n    try:\n        posix.kill(ppid, sig)\n    except OSError:\n        pass\n"
        "print(7 if leak else 2)"
    )
    try:

        def trainer():
            from trainer_entry.rewards import code_sandbox

            code_sandbox.make_non_dumpable()
            result = code_sandbox.run_tests(code, "stdio", [["", "2"]], test_timeout_s=2, executable=exe)
            return 0 if result.passed == 1 else 3

        assert _in_child_as(54321, trainer) == 0
    finally:
        del os.environ["GRPO_TEST_SECRET"]


def test_self_check_fails_loudly_when_the_interpreter_is_unusable(tmp_path):
    from trainer_entry.rewards import code_sandbox

    with pytest.raises(code_sandbox.SandboxUnavailable, match="sandbox"):
        code_sandbox.self_check(executable=str(tmp_path / "no-python-here"))
    code_sandbox.self_check()  # the real one passes (imports work even under a mode-700 /root)


def test_correct_solution_importing_stdlib_modules_scores_one():
    code = "import collections, re, json, heapq, functools, bisect\nprint(json.loads(input()) * 2)"
    assert compute_score("code", code, ONE_TEST, **FAST) == 1.0


def test_seccomp_syscall_numbers_match_libseccomp():
    import ctypes

    from trainer_entry.rewards import seccomp_filter

    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError:
        pytest.skip("libseccomp.so.2 not installed")
    lib.seccomp_syscall_resolve_name_arch.argtypes = (ctypes.c_uint32, ctypes.c_char_p)
    for arch, table in seccomp_filter.SYSCALLS.items():
        for name, nr in table.items():
            got = lib.seccomp_syscall_resolve_name_arch(seccomp_filter.AUDIT_ARCH[arch], name.encode())
            assert got == nr, f"{arch} {name}: {nr} here, {got} in libseccomp"


def test_preflight_runs_the_sandbox_self_check_for_code_rows(monkeypatch):
    from trainer_entry import preflight
    from trainer_entry.rewards import code_sandbox

    def broken():
        raise code_sandbox.SandboxUnavailable("self-check failed")

    monkeypatch.setattr(code_sandbox, "self_check", broken)
    preflight.check_code_sandbox([{"data_source": "gsm8k"}])  # no code rows: not needed
    with pytest.raises(preflight.RewardError, match="self-check failed"):
        preflight.check_code_sandbox([{"data_source": "code"}])
