"""The dispatcher: data_source routing, unknown names, loading by file path as verl does, batch scoring."""

import importlib.util
import inspect
import json
from pathlib import Path

import pytest

import trainer_entry.reward_func as reward_func
from trainer_entry.reward_func import KNOWN_DATA_SOURCES, compute_score, compute_score_batch

SEED_SOURCES = [
    "math_reasoning",
    "gsm8k",
    "math",
    "code",
    "code_generation",
    "qa",
    "trivia",
    "classification",
]
VERL_SOURCES = [
    "openai/gsm8k",
    "lighteval/MATH",
    "DigitalLearningGmbH/MATH-lighteval",
    "HuggingFaceH4/MATH-500",
]


def test_known_sources_cover_the_seed_and_verl_names():
    assert isinstance(KNOWN_DATA_SOURCES, tuple)
    for name in SEED_SOURCES + VERL_SOURCES:
        assert name in KNOWN_DATA_SOURCES


@pytest.mark.parametrize("bad", ["GSM8K", "math-reasoning", "", "unknown_source"])
def test_unknown_data_source_names_the_known_ones(bad):
    with pytest.raises(ValueError) as err:
        compute_score(bad, "#### 1", "1")
    message = str(err.value)
    assert repr(bad) in message
    for name in SEED_SOURCES:
        assert name in message


def test_verl_keyword_call_with_extra_info_and_unknown_kwargs():
    score = compute_score(
        data_source="openai/gsm8k",
        solution_str="#### 3",
        ground_truth="3",
        extra_info={"index": 0, "num_turns": 1},
        reward_router_address=None,
    )
    assert score == 1.0 and isinstance(score, float)


def test_load_by_file_path_as_a_standalone_module():
    """verl's reward.custom_reward_function.path imports the file by path, not as trainer_entry.reward_func."""
    path = Path(reward_func.__file__)
    spec = importlib.util.spec_from_file_location("custom_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert list(inspect.signature(module.compute_score).parameters)[:4] == [
        "data_source",
        "solution_str",
        "ground_truth",
        "extra_info",
    ]
    assert (
        module.compute_score(data_source="math", solution_str="\\boxed{\\frac{1}{2}}", ground_truth="0.5")
        == 1.0
    )


def test_batch_keeps_order_across_sources():
    code_truth = json.dumps({"inputs": ["2"], "outputs": ["4"]})
    rows = [
        ("gsm8k", "#### 5", "5", 1.0),
        ("math", "\\boxed{\\sqrt{8}}", "2\\sqrt{2}", 1.0),
        ("code", "print(int(input()) * 2)", code_truth, 1.0),
        ("qa", "Answer: Rome", "Paris", 0.0),
        ("classification", "negative", "negative", 1.0),
        ("code", "print(0)", code_truth, 0.0),
        ("math_reasoning", "The answer is 6", "5", 0.0),
    ]
    sources, responses, truths, expected = map(list, zip(*rows, strict=True))
    assert (
        compute_score_batch(data_sources=sources, solution_strs=responses, ground_truths=truths) == expected
    )


def test_batch_validates_before_work():
    with pytest.raises(ValueError, match="batch lengths differ"):
        compute_score_batch(["qa"], ["a", "b"], ["a"])
    with pytest.raises(ValueError, match="Known data sources"):
        compute_score_batch(["qa", "nope"], ["a", "b"], ["a", "b"])
