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
