"""LaTeX answers (``math``, MATH/MATH-500/DAPO/NuminaMath names): last ``\\boxed{}``, then equivalence.

Order, cheapest first: (1) normalised string equality (``\\dfrac``->``\\frac``, spaces, ``\\left``, ``x=`` ...);
(2) both plain numbers -> the numeric comparer; (3) math-verify (symbolic equivalence: ``1+x^2`` == ``x^2+1``,
``\\sqrt{8}`` == ``2\\sqrt{2}``, tuples, intervals, ``x=3`` vs ``3``); (4) if math-verify cannot parse a side,
sympy via latex2sympy: ``simplify(gold - pred) == 0``. Steps 3-4 run under a per-call deadline that works
off the main thread (see ``deadline``), and inputs that could make sympy compute a gigantic integer (power
towers, big exponents or factorials) never reach it: they only get the string comparison.
"""

from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache

from trainer_entry.rewards import numeric
from trainer_entry.rewards.boxed import last_boxed
from trainer_entry.rewards.deadline import DeadlineExceeded, call_with_deadline

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
_MAX_ANSWER_CHARS = 400

_FINAL_ANSWER_RE = re.compile(r"final answer is\s*[:：]?\s*\$(.+?)\$", re.IGNORECASE | re.DOTALL)
_ANSWER_LINE_RE = re.compile(
    r"(?:answer\s*(?:is)?\s*[:：]|最终答案\s*(?:是|为)?\s*[:：]?|答案\s*(?:是|为|[:：])\s*[:：]?)\s*(.+)",
    re.IGNORECASE,
)
_TEXT_RE = re.compile(r"\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}")
_VAR_PREFIX_RE = re.compile(r"^[a-zA-Z](?:_\{?\w+\}?)?\s*=\s*(?!.*=)")
# Big exponents (x^{1234}, x^1234), nested powers (a^{b^{c}}), big factorials: sympy would compute them in C.
_EXPENSIVE_RE = re.compile(r"\^\s*\{?\s*[-+]?\d{4,}|\^\s*\{[^{}]*\^|\^\s*\d+\s*\^|\d{3,}\s*!|\*\*\s*\d{4,}")
_PLAIN_NUMBER_RE = re.compile(r"^-?(?:\d+(?:\.\d*)?|\.\d+)$")
_PLAIN_FRAC_RE = re.compile(r"^-?\\frac\{-?\d+\}\{\d+\}$")


def extract_answer(response: str) -> str | None:
    """The last ``\\boxed{}``; else "The final answer is $X$"; else the text after "answer:"; else None."""
    boxed = last_boxed(response)
    if boxed is not None:
        return boxed
    found = _FINAL_ANSWER_RE.findall(response)
    if found:
        return found[-1]
    lines = _ANSWER_LINE_RE.findall(response)
    if lines:
        return lines[-1].strip().rstrip(".").strip("$ ")
    return None


def normalize(ans: str) -> str:
    """A canonical spelling for string comparison (not for display)."""
    s = _TEXT_RE.sub(r"\1", ans)
    for old, new in (
        ("\\dfrac", "\\frac"),
        ("\\tfrac", "\\frac"),
        ("\\left", ""),
        ("\\right", ""),
        ("\\!", ""),
        ("\\,", ""),
        ("\\;", ""),
        ("\\ ", ""),
        ("^\\circ", ""),
        ("^{\\circ}", ""),
        ("\\%", ""),
        ("%", ""),
        ("$", ""),
        ("{,}", ","),
    ):
        s = s.replace(old, new)
    s = "".join(s.split()).rstrip(".")
    s = _VAR_PREFIX_RE.sub("", s)
    if s.startswith("\\frac") and len(s) == 7 and s[5].isdigit() and s[6].isdigit():
        s = "\\frac{" + s[5] + "}{" + s[6] + "}"  # \frac12 -> \frac{1}{2}
    return s


def _too_expensive(s: str) -> bool:
    return len(s) > _MAX_ANSWER_CHARS or _EXPENSIVE_RE.search(s) is not None


_warm = threading.Event()
_warm_lock = threading.Lock()


def _warm_up() -> None:
    """Import math-verify and sympy and run one comparison (seconds on a cold start) before any deadline
    ticks: the first real comparison must not time out on imports, and an import interrupted half-way
    (sympy imports some modules lazily) would leave broken modules behind."""
    if _warm.is_set():
        return
    with _warm_lock:
        if not _warm.is_set():
            _mv_equal("(x-1)(x+1)", "x^2-1")
            _mv_equal("[0, \\frac{1}{2})", "\\{1, 2\\}")
            # sympy imports its trigonometric and logarithm simplification lazily: seconds, the first time
            _mv_equal("1", "\\sin^2 x + \\cos^2 x")
            _mv_equal("3", "\\log_2 8")
            _sympy_equal("\\sqrt{8}", "2\\sqrt{2}")
            _mv_parse.cache_clear()
            _warm.set()


@lru_cache(maxsize=4096)
def _mv_parse(latex: str) -> tuple:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    # parsing_timeout=None: math-verify's signal-based timeout raises off the main thread; the caller holds
    # a deadline instead.
    return tuple(
        parse(
            "\\boxed{" + latex + "}", (LatexExtractionConfig(), ExprExtractionConfig()), parsing_timeout=None
        )
    )


def _mv_equal(gold: str, pred: str) -> bool | None:
    """math-verify's verdict; None when it cannot parse one side."""
    from math_verify import verify

    g, p = _mv_parse(gold), _mv_parse(pred)
    if not g or not p:
        return None
    return bool(verify(list(g), list(p), timeout_seconds=None))


def _sympy_equal(gold: str, pred: str) -> bool:
    """Fallback: both sides through latex2sympy (a sympy front-end), equal when the difference simplifies to 0."""
    import sympy
    from latex2sympy2_extended import latex2sympy

    a, b = latex2sympy(gold), latex2sympy(pred)
    if not (isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr)):
        return False
    return bool(sympy.simplify(a - b) == 0)


def _plain_number(s: str) -> numeric.Number | None:
    """The value of a normalised answer that is just a number or a numeric \\frac; None otherwise."""
    if _PLAIN_NUMBER_RE.match(s) or _PLAIN_FRAC_RE.match(s):
        return numeric.first_number(s)
    return None


def answers_equal(gold: str, pred: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    ng, np_ = normalize(gold), normalize(pred)
    if ng == np_:
        return True
    if not np_:
        return False
    gnum, pnum = _plain_number(ng), _plain_number(np_)
    if gnum is not None and pnum is not None:
        return gnum.value == pnum.value
    if _too_expensive(pred) or _too_expensive(gold):
        return False
    _warm_up()
    try:
        verdict = call_with_deadline(lambda: _mv_equal(gold, pred), timeout_s)
        if verdict is None:
            verdict = call_with_deadline(lambda: _sympy_equal(gold, pred), timeout_s)
        return verdict
    except DeadlineExceeded:
        log.warning("math answer comparison gave up after %.1f s: gold=%r pred=%r", timeout_s, gold, pred)
        return False
    except Exception as e:  # a parser error on a malformed answer means "not equal", never a crash
        log.debug("math answer comparison failed (%s: %s): gold=%r pred=%r", type(e).__name__, e, gold, pred)
        return False


def gold_answer(ground_truth) -> str:
    text = str(ground_truth).strip()
    boxed = last_boxed(text) if "\\boxed" in text or "\\fbox" in text else None
    answer = boxed if boxed is not None else text
    if not answer.strip():
        raise ValueError(
            "ground_truth is empty; the math data source needs a LaTeX answer such as '\\frac{1}{2}'"
        )
    return answer


def score(solution_str: str, ground_truth, timeout_s: float = DEFAULT_TIMEOUT_S) -> float:
    gold = gold_answer(ground_truth)
    pred = extract_answer(solution_str)
    if pred is None:
        return 0.0
    return 1.0 if answers_equal(gold, pred, timeout_s) else 0.0
