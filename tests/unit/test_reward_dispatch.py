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


def _verl_loader():
    """verl 0.9.1's own ``load_extern_object`` (stdlib-only file; ``import verl`` itself needs ray)."""
    spec = importlib.util.find_spec("verl")
    if spec is None:
        pytest.skip("verl is not installed")
    path = Path(spec.submodule_search_locations[0]) / "utils" / "import_utils.py"
    loader_spec = importlib.util.spec_from_file_location("verl_import_utils_for_test", path)
    module = importlib.util.module_from_spec(loader_spec)
    loader_spec.loader.exec_module(module)
    return module.load_extern_object


@pytest.mark.parametrize("name", ["compute_score", "compute_score_batch"])
def test_verl_loads_the_file_by_path(name):
    """reward.custom_reward_function.path imports the file standalone, not as trainer_entry.reward_func."""
    fn = _verl_loader()(module_path=reward_func.__file__, object_name=name)
    assert fn.__module__ != "trainer_entry.reward_func"
    if name == "compute_score":
        params = list(inspect.signature(fn).parameters)[:4]
        assert params == ["data_source", "solution_str", "ground_truth", "extra_info"]
        assert (
            fn(data_source="math", solution_str="\\boxed{\\frac{1}{2}}", ground_truth="0.5", extra_info={})
            == 1.0
        )
    else:
        scores = fn(
            data_sources=["gsm8k", "qa"], solution_strs=["#### 4", "Answer: x"], ground_truths=["4", "y"]
        )
        assert scores == [1.0, 0.0]


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
