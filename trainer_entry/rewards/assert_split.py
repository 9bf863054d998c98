"""Split an ``assert`` test so the sandbox only computes data and the trainer does the comparing.

``assert f(3) == [1, 2]`` becomes one probe, ``f(3)``, evaluated in the sandbox and sent back as plain data;
the literal ``[1, 2]``, the ``==`` and the truth test stay in the trainer. The trainer also evaluates, on the
returned data, comparisons (chained too), ``and``/``or``/``not``, arithmetic on numbers, indexing, and calls
of a few builtins (``len``, ``sorted``, ``set``, ``abs``, ``round``, ``min``, ``max``, ``sum``, ``any``, ``all``,
...) and ``math.isclose`` when the test's setup imports it, so a program that redefines ``len`` or returns an
object whose ``__eq__`` is always true gains nothing. Every other sub-expression (a call of the program's
function, a name, an attribute) is a probe: its value is computed by the untrusted program, as it must be.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

_CMP = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}  # fmt: skip
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
          ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}  # fmt: skip
_SAFE_CALLS = {"len": len, "sorted": sorted, "set": set, "list": list, "tuple": tuple, "abs": abs,
               "round": round, "min": min, "max": max, "sum": sum, "any": any, "all": all, "bool": bool,
               "int": int, "float": float, "str": str, "frozenset": frozenset}  # fmt: skip
_NUMBER = (int, float)
Evaluator = Callable[[list], object]


@dataclass(frozen=True)
class AssertPlan:
    source: str
    probes: list[str]  # expressions the sandbox evaluates, in order
    evaluate: Evaluator  # probe values -> the assert's truth value

    def passed(self, values) -> bool:
        if not isinstance(values, list) or len(values) != len(self.probes):
            return False
        try:
            return bool(self.evaluate(values))
        except Exception:  # noqa: BLE001 - a comparison that fails on the returned data is a failed test
            return False


def isclose_names(setup: str) -> set[str]:
    """Names under which ``setup`` makes ``math.isclose`` available (``isclose``, ``math.isclose``)."""
    names: set[str] = set()
    try:
        tree = ast.parse(setup)
    except SyntaxError:
        return names
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "math":
            names |= {a.asname or a.name for a in node.names if a.name == "isclose"}
        elif isinstance(node, ast.Import):
            names |= {f"{a.asname or a.name}.isclose" for a in node.names if a.name == "math"}
    return names


def _arith(op):
    def apply(a, b):
        if op is operator.add and type(a) is type(b) and isinstance(a, str | list | tuple):
            return a + b
        if not (isinstance(a, _NUMBER) and isinstance(b, _NUMBER)):
            raise TypeError("arithmetic on non-numbers in the trainer")
        return op(a, b)

    return apply


def _compile(node: ast.expr, probes: list[str], isclose: set[str]) -> Evaluator:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    else:
        return lambda v: value

    def sub(n):
        return _compile(n, probes, isclose)

    if isinstance(node, ast.Compare) and all(type(op) in _CMP for op in node.ops):
        parts = [sub(node.left)] + [sub(c) for c in node.comparators]
        ops = [_CMP[type(op)] for op in node.ops]

        def compare(v):
            left = parts[0](v)
            for op, part in zip(ops, parts[1:], strict=True):
                right = part(v)
                if not op(left, right):
                    return False
                left = right
            return True

        return compare
    if isinstance(node, ast.BoolOp):
        parts = [sub(x) for x in node.values]
        if isinstance(node.op, ast.And):
            return lambda v: all(p(v) for p in parts)
        return lambda v: any(p(v) for p in parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = sub(node.operand)
        return lambda v: not inner(v)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner, sign = sub(node.operand), (-1 if isinstance(node.op, ast.USub) else 1)
        return lambda v: sign * _number(inner(v))
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        left, right, op = sub(node.left), sub(node.right), _arith(_ARITH[type(node.op)])
        return lambda v: op(left(v), right(v))
    if isinstance(node, ast.Subscript):
        value = sub(node.value)
        if isinstance(node.slice, ast.Slice):
            lo, hi, st = (sub(x) if x is not None else (lambda v: None) for x in
                          (node.slice.lower, node.slice.upper, node.slice.step))  # fmt: skip
            return lambda v: value(v)[slice(lo(v), hi(v), st(v))]
        index = sub(node.slice)
        return lambda v: value(v)[index(v)]
    if isinstance(node, ast.Call) and not any(isinstance(a, ast.Starred) for a in node.args):
        name = ast.unparse(node.func)
        if name in _SAFE_CALLS and not node.keywords:
            fn, args = _SAFE_CALLS[name], [sub(a) for a in node.args]
            return lambda v: fn(*(a(v) for a in args))
        if name in isclose and all(k.arg in ("rel_tol", "abs_tol") for k in node.keywords):
            args = [sub(a) for a in node.args]
            kws = {k.arg: sub(k.value) for k in node.keywords}
            return lambda v: math.isclose(*(_number(a(v)) for a in args), **{k: f(v) for k, f in kws.items()})
    index = len(probes)
    probes.append(ast.unparse(node))
    return lambda v: v[index]


def _number(x):
    if not isinstance(x, _NUMBER):
        raise TypeError("not a number")
    return x


def plan(node: ast.Assert, source: str, setup: str = "") -> AssertPlan:
    probes: list[str] = []
    evaluate = _compile(node.test, probes, isclose_names(setup))
    return AssertPlan(source, probes, evaluate)


def plan_source(statement: str, setup: str = "") -> AssertPlan:
    """The plan for one ``assert ...`` statement given as source; ValueError for anything else."""
    try:
        tree = ast.parse(statement.strip())
    except SyntaxError as e:
        raise ValueError(f"assert test does not parse: {statement!r}: {e.msg}") from e
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        raise ValueError(f"assert tests must be single assert statements, got {statement!r}")
    return plan(tree.body[0], statement, setup)
