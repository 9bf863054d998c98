"""Check a reward function before verl starts, so a broken reward fails in seconds instead of after the model
loads (minutes on GPUs) or, worse, trains silently on a reward that is always 0.

The contract is verl 0.9.1's ``reward.custom_reward_function``: ``compute_score(data_source, solution_str,
ground_truth, extra_info=None, **kwargs)`` called with keywords, returning a number or a dict with ``score``.

Checks, in order: the file imports; the function exists and is callable; its signature binds the four keyword
arguments verl passes; for a sample of rows, scoring the row's own ground truth and a deliberately wrong answer
returns numbers in [0, 1] without raising. It then warns loudly (the seed FAQ "reward全是0或1?") when every
ground-truth score is 0 (usually a data_source the function does not know), when every wrong answer scores 1,
or when right and wrong answers score the same everywhere.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import numbers
import random
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer_entry.errors import RewardError

BUILTIN_MODULE = "trainer_entry.reward_func"
DEFAULT_FUNCTION = "compute_score"
WRONG_ANSWER = "grpo-preflight: deliberately wrong answer 7Q#x"
CALL_TIMEOUT_S = 10.0




@dataclass
class PreflightReport:
    function: str
    samples: int
    gt_scores: list[float]
    wrong_scores: list[float]
    data_sources: list[str]
    seconds_per_call: float
    warnings: list[str] = field(default_factory=list)


def _where(exc: BaseException, path: str | None) -> str:
    """'file:line' of the innermost frame in the user's file, if any."""
    frames = traceback.extract_tb(exc.__traceback__)
    if path:
        frames = [f for f in frames if Path(f.filename).resolve() == Path(path).resolve()] or frames
    if not frames:
        return ""
    f = frames[-1]
    return f" (at {f.filename}:{f.lineno}: {(f.line or '').strip()})"


def load_module(path: str | Path | None) -> tuple[Any, str]:
    """Import the reward file at ``path`` (or the builtin module when None). Returns (module, label)."""
    if path is None:
        try:
            return importlib.import_module(BUILTIN_MODULE), BUILTIN_MODULE
        except Exception as e:  # a broken install is still a reward error, with the reason
            raise RewardError(
                f"builtin reward module {BUILTIN_MODULE} failed to import: {type(e).__name__}: {e}"
            ) from e
    path = Path(path)
    if not path.is_file():
        raise RewardError(
            f"reward file {path} not found (mount the reward ConfigMap or use the builtin reward)"
        )
    if path.suffix != ".py":
        raise RewardError(f"reward file {path} must be a Python file ending in .py")
    module_name = f"grpo_user_reward_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        sys.modules.pop(module_name, None)
        raise RewardError(f"reward file {path} has a syntax error at line {e.lineno}: {e.msg}") from e
    except BaseException as e:  # ImportError, NameError, SystemExit at import time ...
        sys.modules.pop(module_name, None)
        raise RewardError(
            f"reward file {path} failed to import: {type(e).__name__}: {e}{_where(e, str(path))}"
        ) from e
    return module, str(path)


def load_reward_function(path: str | Path | None, name: str = DEFAULT_FUNCTION) -> tuple[Callable, str]:
    """Load and signature-check the reward function. Returns (function, label for messages)."""
    module, label = load_module(path)
    fn = getattr(module, name, None)
    if fn is None:
        found = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise RewardError(
            f"{label} defines no function '{name}'; callables found: {', '.join(found) or 'none'}"
            " (set spec.reward.functionName to the right one)"
        )
    if not callable(fn):
        raise RewardError(f"{label}: '{name}' is a {type(fn).__name__}, not a function")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as e:
        raise RewardError(f"{label}: cannot read the signature of '{name}': {e}") from e
    try:
        sig.bind(data_source="x", solution_str="x", ground_truth="x", extra_info={})
    except TypeError as e:
        raise RewardError(
            f"{label}: {name}{sig} cannot be called the way verl calls it "
            "(keywords data_source, solution_str, ground_truth, extra_info): "
            f"{e}. Use: def {name}(data_source, solution_str, ground_truth, extra_info=None, **kwargs)"
        ) from e
    return fn, f"{label}:{name}"


def as_score(result: Any, label: str) -> float:
    """The numeric score of a reward result (number or dict with 'score'); RewardError if it is neither."""
    value = result
    if isinstance(result, dict):
        if "score" not in result:
            raise RewardError(f"{label} returned a dict without a 'score' key (keys: {sorted(result)})")
        value = result["score"]
    if isinstance(value, numbers.Real) or (hasattr(value, "item") and hasattr(value, "dtype")):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None
        if number is not None:
            if math.isnan(number):
                raise RewardError(f"{label} returned NaN; scores must be numbers in [0, 1]")
            if not 0.0 <= number <= 1.0:
                raise RewardError(f"{label} returned {number}, outside [0, 1]")
            return number
    raise RewardError(
        f"{label} returned {type(value).__name__} {value!r}; it must return a float in [0, 1] "
        "or a dict with a 'score' key"
    )


class _CallTimeout(Exception):
    pass


def _call(fn: Callable, kwargs: dict, timeout_s: float) -> Any:
    """Call ``fn`` with a wall-clock limit (SIGALRM, main thread only; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return fn(**kwargs)

    def on_alarm(signum, frame):
        raise _CallTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        return fn(**kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def sample_rows(rows: list[dict], size: int, seed: int = 0) -> list[dict]:
    """Up to ``size`` rows: the first row of every data_source, then a seeded random fill."""
    firsts: dict[str, dict] = {}
    for r in rows:
        firsts.setdefault(r["data_source"], r)
    picked = list(firsts.values())[:size]
    taken = {id(r) for r in picked}
    rest = [r for r in rows if id(r) not in taken]
    random.Random(seed).shuffle(rest)
    return picked + rest[: max(0, size - len(picked))]


class _ExtraKeys:
    """The reward-extra-info keys verl 0.9.1 records per call: a dict's keys, or ``acc`` for a number
    (``experimental/reward_loop/reward_manager/naive.py``). verl gathers them by the FIRST sample's keys
    (``experimental/agent_loop/agent_loop.py`` and ``reward_loop.py``: ``[info[key] for info in infos]``), so a
    call whose keys differ is a KeyError (or silently dropped keys) after a whole rollout was generated."""

    def __init__(self, label: str):
        self.label = label
        self.first: tuple[frozenset, str] | None = None

    def add(self, result: Any, what: str) -> None:
        got = frozenset(result) if isinstance(result, dict) else frozenset({"acc"})
        if self.first is None:
            self.first = (got, what)
            return
        first, first_what = self.first
        if got != first:
            differing = sorted(first ^ got)
            raise RewardError(
                f"{self.label} returns different keys on different calls: {sorted(first)} for {first_what}, "
                f"{sorted(got)} for {what} (differing: {', '.join(differing)}). verl 0.9.1 needs the same keys "
                "on every call (it gathers the reward extra info by the first answer's keys and raises KeyError "
                "mid-training); return every key on every call (e.g. 0.0 when it does not apply), or a number"
            )


def preflight(
    fn: Callable,
    label: str,
    rows: list[dict],
    sample_size: int = 32,
    timeout_s: float = CALL_TIMEOUT_S,
    known_data_sources: list[str] | None = None,
) -> PreflightReport:
    """Score the ground truth (and a wrong answer) of sampled verl rows. Raises RewardError on any failure."""
    if not rows:
        raise RewardError("no data rows to check the reward function with")
    sample = sample_rows(rows, sample_size)
    gt_scores, wrong_scores = [], []
    keys = _ExtraKeys(label)
    started = time.perf_counter()
    for row in sample:
        gt = row["reward_model"]["ground_truth"]
        for answer, out in ((gt, gt_scores), (WRONG_ANSWER, wrong_scores)):
            kwargs = {
                "data_source": row["data_source"],
                "solution_str": answer,
                "ground_truth": gt,
                "extra_info": row.get("extra_info"),
            }
            what = (
                f"{label} on row index {row['extra_info'].get('index')} (data_source={row['data_source']!r})"
            )
            try:
                result = _call(fn, kwargs, timeout_s)
            except _CallTimeout:
                raise RewardError(f"{what} took longer than {timeout_s:g}s for one answer") from None
            except Exception as e:
                kind = "its ground truth" if answer is gt else "a wrong answer"
                raise RewardError(
                    f"{what} raised {type(e).__name__}: {e}{_where(e, None)} while scoring {kind}"
                ) from e
            out.append(as_score(result, what))
            keys.add(result, what)
    per_call = (time.perf_counter() - started) / (2 * len(sample))
    sources = sorted({r["data_source"] for r in sample})
    report = PreflightReport(label, len(sample), gt_scores, wrong_scores, sources, per_call)
    if all(s == 0.0 for s in gt_scores):
        hint = f"; it knows: {', '.join(known_data_sources)}" if known_data_sources else ""
        report.warnings.append(
            f"every ground-truth answer scored 0 for {label}: the reward is always 0 (seed FAQ). "
            f"Check that data_source ({', '.join(sources)}) matches the reward function{hint}, "
            "the answer extraction, and the ground_truth format."
        )
    if all(s == 1.0 for s in wrong_scores):
        report.warnings.append(
            f"a deliberately wrong answer scored 1 on every sampled row for {label}: the reward is always 1 "
            "(seed FAQ); GRPO gets no signal from it."
        )
    elif gt_scores == wrong_scores:
        report.warnings.append(
            f"{label} gives the same score to the ground truth and to a wrong answer on every sampled row; "
            "GRPO advantages will be zero."
        )
    if known_data_sources:
        unknown = [s for s in sources if s not in known_data_sources]
        if unknown:
            report.warnings.append(
                f"data_source {', '.join(unknown)} is not one the reward function knows "
                f"({', '.join(known_data_sources)})"
            )
    return report


def run_preflight(
    path: str | Path | None, name: str, rows: list[dict], sample_size: int = 32
) -> PreflightReport:
    """Load + check in one call (what the entrypoint uses)."""
    fn, label = load_reward_function(path, name)
    module = sys.modules.get(getattr(fn, "__module__", ""), None)
    known = getattr(module, "KNOWN_DATA_SOURCES", None)
    known = sorted(known) if known else None
    if path is None:
        check_code_sandbox(rows)
    return preflight(fn, label, rows, sample_size=sample_size, known_data_sources=known)


def check_code_sandbox(rows: list[dict]) -> None:
    """When the builtin reward will score code rows, run the sandbox self-check now; RewardError if it fails."""
    from trainer_entry import reward_func

    if not any(reward_func._SCORERS.get(r.get("data_source")) is reward_func._code for r in rows):
        return
    from trainer_entry.rewards import code_sandbox

    try:
        code_sandbox.self_check()
    except code_sandbox.SandboxUnavailable as e:
        raise RewardError(str(e)) from e
