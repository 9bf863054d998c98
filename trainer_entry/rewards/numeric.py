"""Final-number answers (``math_reasoning``, ``gsm8k``): extract the answer, compare numerically.

Pure regex and ``fractions.Fraction``: no sympy here, so scoring stays at tens of microseconds a response.

Extraction: an explicit marker wins over "the last number in the text". Markers, in priority order for
``math_reasoning``: the last ``\\boxed{}``, the last ``#### N``, the last "answer is/answer:/答案是/最终答案";
``gsm8k`` puts ``####`` first. Numbers may carry thousands separators, currency, units, a trailing ``.0``,
a fraction (``3/4``, ``\\frac{3}{4}``), a percent sign or scientific notation (``1.5e3``, ``1.5 \\times 10^{3}``).
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from trainer_entry.rewards.boxed import last_boxed

# Only the end of a long response is searched for the "last number" fallback and the answer phrases.
_TAIL_CHARS = 600

_MINUS = "-−–"  # ASCII hyphen, Unicode minus, en dash
# Starts with a digit or ".digit" so the regex engine can skip quickly to candidate positions; the sign is
# read from the characters before the match (see _sign_before).
_NUMBER_RE = re.compile(
    r"(?:(?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?P<frac>\.\d+)?|(?P<frac_only>\.\d+))"
    r"(?:[eE](?P<exp>[-+]?\d+)(?![\w])|\s*(?:\\times|×|\\cdot|\*)\s*10\s*\^\s*\{?\s*(?P<exp10>[-+]?\d+)\s*\}?)?"
    r"(?:\s*/\s*(?P<den>\d+)(?![\d.]))?"
    r"(?P<pct>\s*(?:%|percent\b))?"
)
_LATEX_FRAC_RE = re.compile(r"(-?)\\[dt]?frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(\d+)\s*\}")
_LATEX_FRAC_SHORT_RE = re.compile(r"\\[dt]?frac\s*(\d)(\d)")
_TEXT_RE = re.compile(r"\\(?:text|mathrm|textbf|mbox)\s*\{([^{}]*)\}")
_ANSWER_PHRASE_RE = re.compile(
    # "answer" alone is not a marker ("To answer this, we need 3 boxes ..."): it needs is/was/:/=.
    r"(?:answer\s*(?:is|was|would be|will be|should be)\s*[:：=]?|answer\s*[:：=]|"
    r"最终答案\s*(?:是|为)?\s*[:：]?|答案\s*(?:是|为|[:：])\s*[:：]?)",
    re.IGNORECASE,
)
_LAST_DIGIT_RE = re.compile(r".*\d", re.DOTALL)
_WINDOW_CHARS = 80


class Number(NamedTuple):
    value: Fraction
    percent: bool
    decimals: int  # digits after the decimal point as written (0 for integers and fractions)


def _clean(s: str) -> str:
    """Drop LaTeX/markdown noise around a number: $, \\$, \\, thin spaces, {,} separators, \\text{}, **bold**."""
    if "\\" in s:
        s = _TEXT_RE.sub(r" \1 ", s)
        s = _LATEX_FRAC_SHORT_RE.sub(r"\\frac{\1}{\2}", s)
        s = _LATEX_FRAC_RE.sub(r"\1\2/\3", s)
        s = (
            s.replace("\\$", " ")
            .replace("\\%", "%")
            .replace("\\,", "")
            .replace("\\!", "")
            .replace("\\left", "")
            .replace("\\right", "")
            .replace("\\ ", " ")
        )
    return s.replace("{,}", ",").replace("$", " ").replace("**", " ").replace("\u00a0", " ")


def _sign_before(s: str, start: int) -> int:
    """-1 when a minus sign (optionally followed by one space) precedes ``start`` and is not a subtraction."""
    i = start - 1
    if i >= 0 and s[i] == " ":
        i -= 1
    if i < 0 or s[i] not in _MINUS:
        return 1
    if i > 0 and (s[i - 1].isalnum() or s[i - 1] in "_.)]}"):
        return 1  # "10-5": a subtraction, not a negative number
    return -1


def _to_number(s: str, m: re.Match) -> Number:
    int_part, frac_part = m.group("int"), m.group("frac") or m.group("frac_only")
    text = (int_part or "0").replace(",", "") + (frac_part or "")
    value = Fraction(text)
    exp = m.group("exp") or m.group("exp10")
    if exp is not None:
        value *= Fraction(10) ** int(exp)
    den = m.group("den")
    if den is not None:
        if int(den) == 0:
            return Number(value, False, 0)
        value /= int(den)
    if _sign_before(s, m.start()) < 0:
        value = -value
    decimals = len(frac_part) - 1 if frac_part and exp is None and den is None else 0
    return Number(value, m.group("pct") is not None, decimals)


def first_number(s: str) -> Number | None:
    s = _clean(s)
    m = _NUMBER_RE.search(s)
    return _to_number(s, m) if m else None


def last_number(s: str) -> Number | None:
    """The last number in ``s``: parse only a window around the last digit (fast on long responses)."""
    m = _LAST_DIGIT_RE.match(s, max(0, len(s) - _TAIL_CHARS))
    if m is None:
        return None
    end = m.end()
    window = _clean(s[max(0, end - _WINDOW_CHARS) : end + 16])
    last = None
    for last in _NUMBER_RE.finditer(window):  # noqa: B007 - only the last match is wanted
        pass
    return _to_number(window, last) if last else None


def _after_hashes(text: str) -> Number | None:
    idx = text.rfind("####")
    if idx < 0:
        return None
    rest = text[idx + 4 :]
    line = rest.lstrip().split("\n", 1)[0]
    return first_number(line)


def _after_answer_phrase(text: str) -> Number | None:
    tail = text[-_TAIL_CHARS:]
    if "nswer" not in tail and "答案" not in tail and "NSWER" not in tail:
        return None
    last = None
    for m in _ANSWER_PHRASE_RE.finditer(tail):
        last = m
    if last is None:
        return None
    line = tail[last.end() :].split("\n", 1)[0]
    return first_number(line)


def _in_boxed(text: str) -> Number | None:
    content = last_boxed(text)
    return first_number(content) if content is not None else None


_MATH_ORDER = (_in_boxed, _after_hashes, _after_answer_phrase)
_GSM8K_ORDER = (_after_hashes, _in_boxed, _after_answer_phrase)


def extract_answer(text: str, style: str = "math_reasoning") -> Number | None:
    """The response's final numeric answer: first marker that yields a number, else the last number."""
    for find in _GSM8K_ORDER if style == "gsm8k" else _MATH_ORDER:
        num = find(text)
        if num is not None:
            return num
    return last_number(text)


@lru_cache(maxsize=4096)
def parse_ground_truth(ground_truth: str) -> Number:
    """The reference number; a GSM8K-style full solution ("... #### 72") gives the number after ``####``."""
    num = _after_hashes(ground_truth) if "####" in ground_truth else None
    if num is None:
        num = _in_boxed(ground_truth) if "\\boxed" in ground_truth else None
    if num is None:
        num = first_number(ground_truth)
    if num is None:
        raise ValueError(
            f"ground_truth {ground_truth!r} contains no number; numeric data sources (math_reasoning, gsm8k) "
            "need a number such as '72', '-3.5', '3/4' or '1,200'"
        )
    return num


def _rounds_to(exact: Fraction, shown: Number) -> bool:
    """True when ``shown`` (written with >= 2 decimals) is ``exact`` rounded to that many decimals."""
    if shown.decimals < 2:
        return False
    scale = 10**shown.decimals
    return abs(exact * scale - shown.value * scale) <= Fraction(1, 2)


def numbers_match(pred: Number, gold: Number) -> bool:
    """Equal values; or a percent vs its fraction (50% vs 0.5); or a decimal rounded from the exact value."""
    if pred.value == gold.value:
        return True
    if pred.percent != gold.percent:
        if pred.percent and pred.value / 100 == gold.value:
            return True
        if gold.percent and gold.value / 100 == pred.value:
            return True
    return _rounds_to(gold.value, pred) or _rounds_to(pred.value, gold)


def score(solution_str: str, ground_truth, style: str = "math_reasoning") -> float:
    gold = parse_ground_truth(str(ground_truth))
    pred = extract_answer(solution_str, style)
    return 1.0 if pred is not None and numbers_match(pred, gold) else 0.0
