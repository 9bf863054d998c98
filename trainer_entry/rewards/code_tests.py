"""Code answers (``code``, ``code_generation``, APPS/CodeContests/TACO names): extract the program, parse the
tests from ``ground_truth``, run them in the sandbox; score = fraction of tests passed.

``ground_truth`` is one of:
- JSON ``{"inputs": [stdin, ...], "outputs": [stdout, ...]}`` (a program reading stdin);
- JSON ``{"fn_name": "f", "inputs": [[args], ...], "outputs": [return, ...]}`` (a function or
  ``Solution().f``);
- a string of Python ``assert`` lines (other top-level statements, e.g. imports, run first as setup).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass

from trainer_entry.rewards import assert_split, code_sandbox

_FENCE_RE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"python", "py", "python3", "py3"}


def extract_code(response: str) -> str:
    """The last fenced python block; else the last untagged fenced block; else the whole response.

    An unterminated last fence (a response cut at the length limit) still yields its content.
    """
    blocks = _FENCE_RE.findall(response)
    python_blocks = [body for tag, body in blocks if tag.lower() in _PYTHON_TAGS]
    if python_blocks:
        return python_blocks[-1]
    untagged = [body for tag, body in blocks if not tag]
    if untagged:
        return untagged[-1]
    return response


@dataclass(frozen=True)
class TestSpec:
    mode: str  # "stdio" | "call" | "assert"
    tests: list
    fn_name: str | None = None
    setup: str = ""


def _as_text(x) -> str:
    return "\n".join(map(str, x)) if isinstance(x, list) else str(x)


def _json_or_raw(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _call_test(args, expected) -> list:
    """[args, expected, expected alternatives...] for one call test.

    ``args`` is a list of arguments, or (the PRIME/LiveCodeBench format verl's code data uses) a string with
    one JSON value per line; an expected string is also tried JSON-decoded ("[1, 2]" -> [1, 2]).
    """
    if isinstance(args, str):
        try:
            args = [json.loads(line) for line in args.split("\n")] if args else []
        except json.JSONDecodeError:
            args = [args]  # a plain string argument
    elif not isinstance(args, list):
        args = [args]
    test = [args, expected]
    if isinstance(expected, str):
        decoded = _json_or_raw(expected)
        if decoded != expected:
            test.append(decoded)
    return test


def _from_json(obj: dict) -> TestSpec:
    inputs, outputs = obj.get("inputs"), obj.get("outputs")
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise ValueError("code ground_truth JSON needs list fields 'inputs' and 'outputs'")
    if len(inputs) != len(outputs):
        raise ValueError(
            f"code ground_truth has {len(inputs)} inputs but {len(outputs)} outputs; they must pair up"
        )
    if not inputs:
        raise ValueError("code ground_truth has no test cases ('inputs' is empty)")
    fn_name = obj.get("fn_name")
    if fn_name:
        if not isinstance(fn_name, str) or not fn_name.isidentifier():
            raise ValueError(f"code ground_truth 'fn_name' must be a Python identifier, got {fn_name!r}")
        return TestSpec("call", [_call_test(i, o) for i, o in zip(inputs, outputs, strict=True)], fn_name)
    return TestSpec("stdio", [[_as_text(i), _as_text(o)] for i, o in zip(inputs, outputs, strict=True)])


def _from_asserts(source: str) -> TestSpec:
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise ValueError(
            f"code ground_truth is neither JSON test cases nor valid Python asserts: line {e.lineno}: {e.msg}"
        ) from e
    setup = "\n".join(ast.get_source_segment(source, n) for n in tree.body if not isinstance(n, ast.Assert))
    asserts = [
        assert_split.plan(node, ast.get_source_segment(source, node), setup)
        for node in tree.body
        if isinstance(node, ast.Assert)
    ]
    if not asserts:
        raise ValueError(
            "code ground_truth has no assert statements (expected lines like 'assert f(1) == 2')"
        )
    return TestSpec("assert", asserts, None, setup)


def _to_plain(value):
    """Lists/dicts/scalars only: parquet struct columns arrive as dicts of numpy arrays, tuples or scalars."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_plain(v) for k, v in value.items()}
    return value


def parse_tests(ground_truth) -> TestSpec:
    ground_truth = _to_plain(ground_truth)
    if isinstance(ground_truth, dict):
        return _from_json(ground_truth)
    if not isinstance(ground_truth, str):
        raise ValueError(
            f"code ground_truth must be a JSON string, a dict or assert lines, got {type(ground_truth).__name__}"
        )
    text = ground_truth.strip()
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"code ground_truth looks like JSON but does not parse: {e}") from e
        if not isinstance(obj, dict):
            raise ValueError("code ground_truth JSON must be an object with 'inputs' and 'outputs'")
        return _from_json(obj)
    return _from_asserts(text)


def score(
    solution_str: str,
    ground_truth,
    timeout_s: float = code_sandbox.DEFAULT_TEST_TIMEOUT_S,
    memory_mb: int = code_sandbox.DEFAULT_MEMORY_MB,
) -> float:
    spec = parse_tests(ground_truth)
    code = extract_code(solution_str)
    code_sandbox.self_check()  # once per process; raises SandboxUnavailable rather than scoring 0
    result = code_sandbox.run_tests(
        code, spec.mode, spec.tests, spec.fn_name, spec.setup, timeout_s, memory_mb
    )
    return result.fraction
