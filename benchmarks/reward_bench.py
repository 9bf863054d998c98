"""Accuracy and speed of the builtin rewards vs verl 0.9.1's scorers and math-verify, on labelled cases.

    python benchmarks/reward_bench.py [--cases benchmarks/data/reward_cases.jsonl] [--min-time 0.5]

For each data source it runs every applicable scorer over the same cases and prints a markdown table:
accuracy (share of cases whose score equals the label) and throughput (responses/s on one core: scoring is
serial, one response after another, in one thread). verl's scorers are loaded from their files in
site-packages (``verl/__init__`` needs ray and the full install; these files do not):
``gsm8k`` (strict and flexible), ``math_reward`` (verl's default for lighteval/MATH), ``math_dapo`` (its
default for ``math``), ``math_verify`` (its math-verify wrapper, a process pool), ``prime_code`` (its local
code runner) and ``search_r1_like_qa_em`` (exact match on ``<answer>`` tags). For code it also prints the
sandbox overhead: wall time of a case minus the time the same program takes to run its tests in-process.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from trainer_entry import reward_func
from trainer_entry.rewards import code_tests, latex_math, numeric, text_match

DEFAULT_CASES = Path(__file__).parent / "data" / "reward_cases.jsonl"
SLOW_SCORERS = {"verl math_verify (process pool)"}  # one timed pass (like every code scorer: subprocesses)


def _verl_dir() -> Path:
    spec = importlib.util.find_spec("verl")  # locates the package without running verl/__init__ (needs ray)
    return Path(spec.submodule_search_locations[0]) / "utils" / "reward_score"


_SHIM_DIR = Path(tempfile.mkdtemp(prefix="verl-reward-shims-"))
sys.path.insert(0, str(_SHIM_DIR))


def _load(name: str):
    """Import verl's ``reward_score/<name>`` as top-level ``verl_reward_<name>`` through a symlink.

    A real importable name (not just a module object) lets verl's math_verify process pool, which uses the
    "spawn" start method, import the worker function in its children (spawn passes sys.path along).
    """
    link = _SHIM_DIR / f"verl_reward_{name}{'' if (_verl_dir() / name).is_dir() else '.py'}"
    if not link.exists():
        link.symlink_to(_verl_dir() / (name if (_verl_dir() / name).is_dir() else f"{name}.py"))
    return importlib.import_module(f"verl_reward_{name}")


def _quiet(fn: Callable[[], float]) -> float:
    with contextlib.redirect_stdout(io.StringIO()):
        return fn()


def _mv_direct(response: str, gold: str) -> float:
    from math_verify import parse, verify

    g = parse(gold if "\\boxed" in gold or "$" in gold else "$" + gold + "$")
    p = parse(response)
    return 1.0 if g and p and verify(g, p) else 0.0


def baselines() -> dict[str, list[tuple[str, Callable[[str, str], float]]]]:
    gsm8k = _load("gsm8k")
    math_reward = _load("math_reward")
    math_dapo = _load("math_dapo")
    mv = _load("math_verify")
    qa_em = _load("search_r1_like_qa_em")
    prime = _load("prime_code")

    def aliases(gold: str) -> dict:
        return {"target": list(text_match.parse_aliases(gold)) if gold.strip().startswith("[") else [gold]}

    numeric_baselines = [
        ("verl gsm8k (strict)", lambda r, g: float(gsm8k.compute_score(r, g))),
        ("verl gsm8k (flexible)", lambda r, g: float(gsm8k.compute_score(r, g, method="flexible"))),
        ("math-verify", _mv_direct),
    ]
    text_baselines = [
        ("verl search_r1 EM", lambda r, g: _quiet(lambda: float(qa_em.compute_score(r, aliases(g)))))
    ]
    return {
        "math_reasoning": numeric_baselines,
        "gsm8k": numeric_baselines,
        "math": [
            ("verl math_reward", lambda r, g: _quiet(lambda: float(math_reward.compute_score(r, g)))),
            ("verl math_dapo", lambda r, g: 1.0 if math_dapo.compute_score(r, g)["acc"] else 0.0),
            ("verl math_verify (process pool)", lambda r, g: _quiet(lambda: float(mv.compute_score(r, g)))),
            ("math-verify", _mv_direct),
        ],
        "code": [
            (
                "verl prime_code",
                lambda r, g: _quiet(lambda: float(prime.compute_score(r, g, continuous=True)[0])),
            )
        ],
        "qa": text_baselines,
        "trivia": text_baselines,
        "classification": text_baselines,
    }


def _reset_caches() -> None:
    """Clear memoised parses so repeated timing passes cost what a first pass costs."""
    numeric.parse_ground_truth.cache_clear()
    latex_math._mv_parse.cache_clear()
    text_match.parse_aliases.cache_clear()
    with contextlib.suppress(ImportError, AttributeError):
        from math_verify import parser

        parser.parse_latex_cached.cache_clear()
        parser.parse_expr_cached.cache_clear()


def _run(fn, cases) -> tuple[list[float], float]:
    _reset_caches()
    start = time.perf_counter()
    scores = []
    for case in cases:
        try:
            scores.append(float(fn(case["response"], case["ground_truth"])))
        except Exception:  # a baseline that crashes on a case scores it 0
            scores.append(0.0)
    return scores, time.perf_counter() - start


def measure(name, fn, cases, min_time: float) -> dict:
    scores, elapsed = _run(fn, cases)  # first pass: warm-up and accuracy
    if name not in SLOW_SCORERS and cases[0]["data_source"] != "code":
        runs, total = 0, 0.0
        while total < min_time:
            _, t = _run(fn, cases)
            runs, total = runs + 1, total + t
        elapsed = total / runs
    correct = sum(abs(s - c["label"]) < 1e-6 for s, c in zip(scores, cases, strict=True))
    misses = [c["note"] for s, c in zip(scores, cases, strict=True) if abs(s - c["label"]) >= 1e-6]
    return {"accuracy": correct / len(cases), "rate": len(cases) / elapsed, "misses": misses}


def _inprocess_runtime(response: str, ground_truth: str) -> float:
    """Seconds the program's tests take when exec'ed directly in this process (no sandbox)."""
    spec = code_tests.parse_tests(ground_truth)
    try:
        code = compile(code_tests.extract_code(response), "<case>", "exec")
    except SyntaxError:
        return 0.0
    start = time.perf_counter()
    for test in spec.tests:
        old_in, old_out = sys.stdin, sys.stdout
        sys.stdin, sys.stdout = io.StringIO(test[0] if spec.mode == "stdio" else ""), io.StringIO()
        try:
            ns = {"__name__": "__main__" if spec.mode == "stdio" else "solution"}
            exec(code, ns)
            if spec.mode == "call":
                fn = ns.get(spec.fn_name) or getattr(ns["Solution"](), spec.fn_name)
                fn(*test[0])
            elif spec.mode == "assert":
                exec(spec.setup + "\n" + test, ns)
        except (Exception, SystemExit):
            pass
        finally:
            sys.stdin, sys.stdout = old_in, old_out
    return time.perf_counter() - start


def code_overhead(cases, repeats: int = 5) -> tuple[float, float]:
    """(median, max) over cases of: sandbox wall time minus the same tests' in-process runtime, in ms.

    Each side is the best of ``repeats`` runs (the machine is shared; the best run is the cost without
    interference). Cases that loop forever are left out: their cost is the timeout, by design.
    """
    overheads = []
    for case in cases:
        if "infinite loop" in case["note"]:
            continue
        runtime = min(_inprocess_runtime(case["response"], case["ground_truth"]) for _ in range(repeats))
        sandboxed = min(
            _wall(lambda c=case: reward_func.compute_score("code", c["response"], c["ground_truth"]))
            for _ in range(repeats)
        )
        overheads.append((sandboxed - runtime) * 1000)
    return statistics.median(overheads), max(overheads)


def _wall(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=Path, default=DEFAULT_CASES)
    ap.add_argument(
        "--min-time", type=float, default=0.5, help="seconds of timing per fast scorer and source"
    )
    ap.add_argument(
        "--show-misses", action="store_true", help="list the notes of cases each scorer gets wrong"
    )
    args = ap.parse_args(argv)

    by_source: dict[str, list[dict]] = defaultdict(list)
    for n, line in enumerate(args.cases.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            case = json.loads(line)
            missing = {"data_source", "response", "ground_truth", "label"} - set(case)
            if missing:
                raise SystemExit(f"{args.cases}:{n}: case lacks {sorted(missing)}")
            by_source[case["data_source"]].append(case)

    others = baselines()
    rows = []
    for source, cases in by_source.items():
        ours = ("ours", lambda r, g, s=source: reward_func.compute_score(s, r, g))
        for name, fn in [ours, *others.get(source, [])]:
            result = measure(name, fn, cases, args.min_time)
            rows.append((source, len(cases), name, result))
            print(f"  measured {source:15s} {name}", file=sys.stderr)

    load = os.getloadavg()
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min)\n"
    )
    print("| data source | cases | scorer | accuracy | responses/s (1 core) |")
    print("|---|---:|---|---:|---:|")
    for source, n, name, r in rows:
        print(f"| {source} | {n} | {name} | {r['accuracy']:.1%} | {r['rate']:,.0f} |")
    if "code" in by_source:
        median, worst = code_overhead(by_source["code"])
        print(
            f"\nCode sandbox overhead over the program's own runtime: median {median:.0f} ms, max {worst:.0f} ms"
        )
    if args.show_misses:
        print()
        for source, _, name, r in rows:
            if r["misses"]:
                print(f"- {source} / {name}: {'; '.join(r['misses'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
