"""Short text answers (``qa``, ``trivia``, ``classification``): extract the answer, normalised exact match.

The answer is the last ``<answer>X</answer>``, else the last ``\\boxed{X}``, else the text after the last
"Answer:"/"The answer is"/"Final answer:"/"答案是", else the last non-empty line. Normalisation (the SQuAD/
TriviaQA convention): Unicode NFKC, case-folded, punctuation and the articles a/an/the dropped, whitespace
collapsed. The ground truth is one answer or a list of aliases (a JSON list string or a Python list).
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from functools import lru_cache

from trainer_entry.rewards.boxed import last_boxed

_ANSWER_TAG_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_ANSWER_PHRASE_RE = re.compile(
    r"(?:final\s+answer\s*(?:is)?\s*[:：]?|the\s+answer\s+is\s*[:：]?|\banswer\s*[:：]|最终答案\s*(?:是|为)?\s*[:：]?|答案\s*(?:是|为|[:：])\s*[:：]?)",
    re.IGNORECASE,
)
_ARTICLES_RE = re.compile(r"\b(?:a|an|the)\b")
_PUNCT = set(string.punctuation) | {
    "“",
    "”",
    "‘",
    "’",
    "。",
    "，",
    "！",
    "？",
    "：",
    "；",
    "、",
    "《",
    "》",
    "（",
    "）",
}
_PUNCT_TABLE = {ord(c): " " for c in _PUNCT}
_TEX_TEXT_RE = re.compile(r"\\(?:text|textbf|mathrm)\s*\{([^{}]*)\}")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.translate(_PUNCT_TABLE)
    text = _ARTICLES_RE.sub(" ", text)
    return " ".join(text.split())


def extract_answer(response: str) -> str:
    """The answer part of a response (see the module docstring for the order); the response itself if short."""
    tags = _ANSWER_TAG_RE.findall(response)
    if tags:
        return tags[-1]
    boxed = last_boxed(response)
    if boxed is not None:
        return _TEX_TEXT_RE.sub(r"\1", boxed)
    last = None
    for last in _ANSWER_PHRASE_RE.finditer(response):  # noqa: B007 - only the last match is wanted
        pass
    if last is not None:
        rest = response[last.end() :].strip()
        if rest:
            line = rest.split("\n", 1)[0]
            # "The answer is Paris. It is the capital ..." -> "Paris"
            return re.split(r"(?<=[^\s.])\.(?:\s|$)", line, maxsplit=1)[0]
    lines = [ln for ln in response.strip().split("\n") if ln.strip()]
    return lines[-1] if lines else ""


@lru_cache(maxsize=4096)
def parse_aliases(ground_truth: str) -> tuple[str, ...]:
    """Normalised accepted answers from a ground truth: a plain string or a JSON list of aliases."""
    text = ground_truth.strip()
    aliases: list = [text]
    if text.startswith("["):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError:
            loaded = None
        if isinstance(loaded, list):
            aliases = loaded
    out = tuple(a for a in (normalize(str(x)) for x in aliases) if a)
    if not out:
        raise ValueError(
            f"ground_truth {ground_truth!r} has no usable answer after normalisation; text data sources "
            "(qa, trivia, classification) need a non-empty answer or a JSON list of aliases"
        )
    return out


def _aliases(ground_truth) -> tuple[str, ...]:
    if isinstance(ground_truth, list | tuple):
        return parse_aliases(json.dumps([str(x) for x in ground_truth]))
    if hasattr(ground_truth, "tolist"):  # numpy arrays from a parquet list column
        return _aliases(ground_truth.tolist())
    return parse_aliases(str(ground_truth))


def score(solution_str: str, ground_truth) -> float:
    """1.0 when the extracted, normalised answer equals one normalised alias."""
    aliases = _aliases(ground_truth)
    answer = normalize(extract_answer(solution_str))
    return 1.0 if answer in aliases else 0.0


def score_label(solution_str: str, ground_truth) -> float:
    """Classification: like ``score``; a bare response that is "Label: X" or "X." also counts."""
    aliases = _aliases(ground_truth)
    answer = normalize(extract_answer(solution_str))
    if answer in aliases:
        return 1.0
    # "Sentiment: positive" on the last line: the part after the last colon.
    tail = extract_answer(solution_str).rsplit(":", 1)[-1]
    return 1.0 if normalize(tail) in aliases else 0.0
