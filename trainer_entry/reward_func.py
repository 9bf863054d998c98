"""The default reward function: ``compute_score(data_source, solution_str, ground_truth, extra_info=None)``.

Usable three ways: imported (``trainer_entry.reward_func``), by the local TRL engine, and by verl as
``reward.custom_reward_function.path=<this file>`` with ``name=compute_score``, called once per response by
verl 0.9.1's default reward-loop manager (``reward.reward_manager.name=naive``; the registry holds dapo, gdpo,
naive, rate_limited, remote: the legacy ``batch`` manager is not reachable in 0.9.1). verl loads the file by path as a standalone module, so every import
here is absolute; that works because the trainer image installs the ``trainer_entry`` package.

Scorers per ``data_source`` (the seed's names, plus verl's dataset names mapped to the same scorers):

==============================================  ===========================================================
math_reasoning                                   final number, explicit markers first (``rewards.numeric``)
gsm8k, openai/gsm8k                              same, ``#### N`` first
math, lighteval/MATH, MATH-500, DAPO, Numina...  LaTeX equivalence (``rewards.latex_math``)
code, code_generation, apps, codecontests, ...   tests in a sandboxed process (``rewards.code_tests``)
qa, trivia, searchR1_*                           normalised answer match (``rewards.text_match``)
classification                                   normalised label match
==============================================  ===========================================================

Keyword arguments (verl's ``reward.custom_reward_function.reward_kwargs``): ``timeout_s`` (per code test or
per math comparison) and ``memory_mb`` (code sandbox). An unknown ``data_source`` raises ValueError naming
the known ones: a mismatch is the usual cause of "reward is always 0" (the seed's FAQ), so it is never
silently scored 0.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from trainer_entry.rewards import code_tests, latex_math, numeric, text_match


def _math_reasoning(solution_str, ground_truth, **kw) -> float:
    return numeric.score(solution_str, ground_truth, "math_reasoning")


def _gsm8k(solution_str, ground_truth, **kw) -> float:
    return numeric.score(solution_str, ground_truth, "gsm8k")


def _math(solution_str, ground_truth, **kw) -> float:
    return latex_math.score(solution_str, ground_truth, **_pick(kw, "timeout_s"))


def _code(solution_str, ground_truth, **kw) -> float:
    return code_tests.score(solution_str, ground_truth, **_pick(kw, "timeout_s", "memory_mb"))


def _qa(solution_str, ground_truth, **kw) -> float:
    return text_match.score(solution_str, ground_truth)


def _classification(solution_str, ground_truth, **kw) -> float:
    return text_match.score_label(solution_str, ground_truth)


def _pick(kw: dict, *names: str) -> dict:
    return {k: kw[k] for k in names if kw.get(k) is not None}


_SCORERS: dict[str, Callable[..., float]] = {
    "math_reasoning": _math_reasoning,
    "gsm8k": _gsm8k,
    "openai/gsm8k": _gsm8k,
    "math": _math,
    "lighteval/MATH": _math,
    "DigitalLearningGmbH/MATH-lighteval": _math,
    "HuggingFaceH4/MATH-500": _math,
    "math_dapo": _math,
    "math_dapo_reasoning": _math,
    "aime24": _math,
    "aime25": _math,
    "aime2024": _math,
    "aime2025": _math,
    "numina_aops_forum": _math,
    "numina_synthetic_math": _math,
    "numina_amc_aime": _math,
    "numina_synthetic_amc": _math,
    "numina_cn_k12": _math,
    "numina_olympiads": _math,
    "code": _code,
    "code_generation": _code,
    "codecontests": _code,
    "apps": _code,
    "codeforces": _code,
    "taco": _code,
    "qa": _qa,
    "trivia": _qa,
    "searchR1_nq": _qa,
    "searchR1_triviaqa": _qa,
    "searchR1_popqa": _qa,
    "searchR1_hotpotqa": _qa,
    "searchR1_2wikimultihopqa": _qa,
    "searchR1_musique": _qa,
    "searchR1_bamboogle": _qa,
    "classification": _classification,
}

KNOWN_DATA_SOURCES: tuple[str, ...] = tuple(_SCORERS)


def scorer_for(data_source: str) -> Callable[..., float]:
    """The scorer for ``data_source``; ValueError naming the known ones if there is none."""
    try:
        return _SCORERS[data_source]
    except (KeyError, TypeError):
        raise ValueError(
            f"no builtin reward for data_source {data_source!r}. Known data sources: "
            f"{', '.join(KNOWN_DATA_SOURCES)}. Set each row's data_source to one of these, or give a custom "
            "reward function (spec.reward.configMapRef / inline, or ./train.sh --reward_func my_reward.py)."
        ) from None


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> float:
    """Score one response in [0, 1] with the scorer for its ``data_source``."""
    score = scorer_for(data_source)(solution_str, ground_truth, **kwargs)
    return min(1.0, max(0.0, float(score)))


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence,
    extra_infos: Sequence | None = None,
    max_workers: int | None = None,
    **kwargs,
) -> list[float]:
    """Score many responses in parallel (code cases run their sandboxes concurrently); order is kept.

    A helper for callers that score many responses at once (the local TRL engine, tests). verl 0.9.1 never
    calls it: its reward loop calls ``compute_score`` per response (``naive`` manager).
    """
    n = len(solution_strs)
    if not (len(data_sources) == len(ground_truths) == n):
        raise ValueError(
            f"batch lengths differ: {len(data_sources)} data_sources, {n} solution_strs, "
            f"{len(ground_truths)} ground_truths"
        )
    for ds in set(data_sources):
        scorer_for(ds)  # fail before starting any work
    infos = list(extra_infos) if extra_infos is not None else [None] * n
    workers = max_workers or min(32, (os.cpu_count() or 1) * 2)

    def one(i: int) -> float:
        return compute_score(data_sources[i], solution_strs[i], ground_truths[i], infos[i], **kwargs)

    if workers <= 1 or n <= 1:
        return [one(i) for i in range(n)]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reward") as pool:
        return list(pool.map(one, range(n)))
